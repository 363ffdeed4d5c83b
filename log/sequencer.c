/*
 * sequencer.c - the bounded submission pool, the sequencer thread (stages
 * batches) and the committer thread (writes them, then answers).
 *
 * tl_seq_submit runs the kind's prepare (dedup key, leaf hash) on the
 * caller's thread and queues the group; a full pool fails fast with
 * TL_ERR_BUSY. The sequencer thread closes a batch (whole groups only) at
 * once while the committer has no batch to write, else when that batch is
 * written, batch_max submissions wait or batch_interval_ms after the oldest
 * arrived (group commit), then, in this order (Sunlight's
 * stage-sign-commit-answer):
 *   1. dedup: within the batch, against the keys of the last few commits (an
 *      in-memory index; it covers the commits still in flight, which the
 *      store cannot show yet), and against the dedup index in the store; a
 *      submission with an earlier one's key but another occurrence (the
 *      kind's same_*) refuses its whole group, and the batch is deduplicated
 *      again without it;
 *   2. integrate: the log time (never earlier than the last batch's: the
 *      kind says whether a clock that steps back repeats it or stops
 *      signing), each new entry (the kind's seal, for kinds whose entry
 *      depends on index and time), the frontier, the changed hash tiles and
 *      entry bundles, the dedup index;
 *   3. sign: checkpoint note (Ed25519) and RFC 6962 STH through the log's
 *      signer, refusing a size already signed; with a head guard
 *      (tl_head_guard, log.h) only once the guard allowed the head: a
 *      refusal stops signing as a failed commit does (the batch and every
 *      later one get TL_ERR_STOPPED; batches staged before it commit);
 * and hands the staged batch to the committer thread, which, in order:
 *   4. commit: ONE synced write batch with entries, tiles, dedup index, the
 *      kind's records, state, signed head (and the published head with
 *      publish_on_sign);
 *   5. answer: the log's committed event, the groups' callbacks, then the
 *      after event.
 * STAGES (3) stages rotate, so batches k+1 and k+2 are staged while batch k
 * is written (a slow fsync or a LevelDB write stall does not stop the
 * sequencer at once).
 * An import (tl_seq_import: a batch another node sequenced) is a batch of
 * its own: dedup only to fill the index (a hit is an error), integration
 * without seal, the kind's records as given, then its head is signed only
 * if the tree is the one it names; the guard is not asked. A standby takes
 * imports and refuses submissions.
 * A failed commit stops signing for good (until reopen): every pending,
 * staged and later submission gets TL_ERR_STOPPED; staged heads after a
 * failure are discarded unseen; nothing unacknowledged is reported as done.
 */
#include "log/sequencer.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "signer/checkpoint.h"

#define STAGES 3
#define MAX_SUB 65535

typedef struct seq_group seq_group;

/* One submission; lives in its group's allocation. */
typedef struct seq_item {
    seq_group *g;
    const uint8_t *data;
    size_t len;
    int has_key;
    tl_hash key;  /* dedup key (has_key) */
    tl_hash leaf; /* from prepare (kinds without seal) or integration */
    uint64_t index;
    struct seq_item *dup_of; /* earlier pending item of the batch with this key */
    int is_new;
    int dup;         /* a duplicate of a stored or recent submission */
    uint8_t *coll;   /* first occurrence: the store's dedup value for this */
    size_t coll_len; /* key when it named only other submissions (rare) */
} seq_item;

/* A group: submitted together, committed in one batch or not at all. One
 * allocation: the struct, n items, n results, then the submissions' bytes. */
struct seq_group {
    seq_group *next;
    tl_submit_fn cb;
    tl_add_fn add_cb; /* instead of cb, for a group of one (tl_seq_add) */
    void *ctx;
    uint64_t t_enq; /* CLOCK_MONOTONIC ms at submission */
    size_t n;
    int rejected;   /* refused: TL_ERR_CONFLICT for item `bad`, or refuse_err */
    int refuse_err; /* 0, or the error of a whole refused group (TL_ERR_CLOSED) */
    int own;        /* the log's own access trail: taken after the closing time too */
    size_t bad;
    int import; /* a tl_import: the fields below */
    uint64_t imp_size, imp_ts;
    tl_hash imp_root;
    const uint8_t *imp_recs;
    size_t imp_recs_len;
    tl_sub_result *res;
    seq_item items[];
};

/* The keys of one recent commit: the store cannot show the commit in flight
 * to the sequencer's dedup lookups, this can. */
typedef struct recent_key {
    tl_hash key;
    uint64_t index;
} recent_key;

typedef struct recent {
    uint64_t gen; /* commit generation this holds; UINT64_MAX = empty */
    size_t n;
    recent_key *e; /* batch_max slots */
} recent;

/* Slot of the hash index over the recent keys (linear probing). */
typedef struct rslot {
    uint64_t tag;  /* first 8 bytes of the key */
    recent_key *p; /* NULL = empty */
} rslot;

typedef struct tile_buf {
    uint64_t n;     /* tile index at this level */
    unsigned width; /* hashes held, 0..255 (a full tile is flushed at once) */
    int dirty;      /* changed in the current batch */
    uint8_t hashes[TL_TILE_WIDTH * TL_HASH_SIZE];
} tile_buf;

/* A staged batch, handed from the sequencer to the committer thread. */
typedef struct stage {
    seq_group **groups; /* batch_max slots */
    size_t ngroups;
    size_t n;     /* submissions in the batch */
    tl_batch *wb; /* the batch's one write */
    int commit;   /* 1: wb and head hold a commit; 0: duplicates or refusals only */
    int fail;     /* 1: staging failed (the log is stopped) */
    tl_log_head head, pubcopy;
    size_t fresh, dups, conflicts;
    uint64_t time_ms;                  /* the batch's log time (when it commits entries) */
    uint64_t dedup_reads, dedup_skips; /* store lookups made and skipped */
    double t0;
    tl_buf jent, jkeys, jrecs; /* what the guard sees (only with a guard) */
} stage;

struct tl_seq {
    tl_seq_config cfg; /* borrowed pointers; immutable */

    /* mu guards everything in this block */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* wakes the sequencer */
    seq_group *qhead, *qtail;
    size_t qlen; /* submissions in the pool */
    int closing;
    int stopped;
    int standby;
    char stop_reason[160];
    tl_seq_stats st;

    /* pipeline: the sequencer stages batch k+1 while the committer writes
     * batch k. stage_full and a_done are guarded by mu. */
    stage stage[STAGES];
    int stage_full[STAGES];
    int a_done;
    pthread_cond_t cv_stage;
    pthread_t committer, thread;
    int threads;

    /* sequencer-thread state */
    uint64_t staged_gen; /* commits staged so far */
    uint64_t last_ts;    /* log time of the last staged head */
    tl_hasher *hasher;
    tl_frontier fr;
    tile_buf tiles[TL_LAYOUT_TILE_LEVELS];
    uint64_t bundle_n;
    unsigned bundle_count;
    int bundle_dirty;
    tl_buf bundle;
    tl_buf entry; /* a sealed entry */
    tl_batch *wb; /* the write batch being staged (a stage's wb) */
    int emit_err;
    recent *recent; /* ring of nrecent, indexed by gen % nrecent */
    size_t nrecent;
    rslot *rtab; /* hash index over every key in recent[] */
    size_t rmask;
    seq_item **sorted; /* batch_max slots: first occurrences, by key */
    seq_item **dedup;  /* open-addressing table, dedup_cap slots */
    size_t dedup_cap;
};

/* ---- stopping --------------------------------------------------------------- */

static void halt_locked(tl_seq *s, const char *fmt, va_list ap)
{
    if (s->stopped)
        return;
    s->stopped = 1;
    vsnprintf(s->stop_reason, sizeof(s->stop_reason), fmt, ap);
    fprintf(stderr, "tlogd: log stopped signing: %s\n", s->stop_reason);
}

void tl_seq_halt(tl_seq *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&s->mu);
    halt_locked(s, fmt, ap);
    pthread_mutex_unlock(&s->mu);
    va_end(ap);
}

int tl_seq_stopped(tl_seq *s, char *reason, size_t cap)
{
    int st;
    pthread_mutex_lock(&s->mu);
    st = s->stopped;
    if (reason && cap)
        snprintf(reason, cap, "%s", s->stop_reason);
    pthread_mutex_unlock(&s->mu);
    return st;
}

static int is_stopped(tl_seq *s)
{
    return tl_seq_stopped(s, NULL, 0);
}

void tl_seq_get_stats(tl_seq *s, tl_seq_stats *st)
{
    pthread_mutex_lock(&s->mu);
    *st = s->st;
    pthread_mutex_unlock(&s->mu);
}

size_t tl_seq_pool_depth(tl_seq *s)
{
    size_t n;
    pthread_mutex_lock(&s->mu);
    n = s->qlen;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ---- submitting ------------------------------------------------------------- */

static int enqueue(tl_seq *s, seq_group *g);

static int submit(tl_seq *s, const tl_sub *subs, size_t n, tl_submit_fn cb, tl_add_fn add_cb,
                  void *ctx)
{
    const tl_kind *k = s->cfg.kind;
    size_t bytes = 0;
    seq_group *g;
    uint8_t *p;
    tl_hasher *h;
    int rc = TL_OK;

    if (n == 0 || n > s->cfg.batch_max)
        return n == 0 ? TL_ERR_INVALID : TL_ERR_TOOBIG;
    int own = 1;
    for (size_t i = 0; i < n; i++)
        own &= subs[i].own != 0;
    if (!own && s->cfg.closes_at && s->cfg.clock_ms() >= s->cfg.closes_at)
        return TL_ERR_CLOSED; /* early: stage_batch decides at the batch's time */
    for (size_t i = 0; i < n; i++) {
        if (!subs[i].data || subs[i].len == 0)
            return TL_ERR_INVALID;
        if (subs[i].len > s->cfg.max_sub)
            return TL_ERR_TOOBIG;
        bytes += subs[i].len;
    }
    /* push back before doing any work (checked again under the lock) */
    if (__atomic_load_n(&s->qlen, __ATOMIC_RELAXED) + n > s->cfg.pool_max)
        return TL_ERR_BUSY;
    h = tl_hasher_thread();
    g = malloc(sizeof(*g) + n * (sizeof(seq_item) + sizeof(tl_sub_result)) + bytes);
    if (!h || !g) {
        free(g);
        return TL_ERR_NOMEM;
    }
    g->next = NULL;
    g->cb = cb;
    g->add_cb = add_cb;
    g->ctx = ctx;
    g->n = n;
    g->rejected = 0;
    g->refuse_err = 0;
    g->own = own;
    g->bad = 0;
    g->import = 0;
    g->res = (tl_sub_result *)(void *)(g->items + n);
    p = (uint8_t *)(g->res + n);
    for (size_t i = 0; i < n && rc == TL_OK; i++) {
        seq_item *it = &g->items[i];
        memset(it, 0, sizeof(*it));
        it->g = g;
        it->len = subs[i].len;
        memcpy(p, subs[i].data, it->len);
        it->data = p;
        p += it->len;
        rc = k->prepare(k, h, it->data, it->len, &it->key, &it->leaf);
        if (rc >= 0) {
            it->has_key = rc;
            rc = TL_OK;
        }
    }
    if (rc != TL_OK) {
        free(g);
        return rc;
    }
    return enqueue(s, g);
}

/* Queues group g (taken: freed on error). */
static int enqueue(tl_seq *s, seq_group *g)
{
    size_t n = g->n;
    int rc = TL_OK;
    g->t_enq = tl_mono_ms();
    pthread_mutex_lock(&s->mu);
    if (s->stopped || s->closing || (s->standby && !g->import)) {
        rc = TL_ERR_STOPPED;
    } else if (s->qlen + n > s->cfg.pool_max && !g->import) {
        rc = TL_ERR_BUSY;
    } else {
        size_t before = s->qlen;
        if (s->qtail)
            s->qtail->next = g;
        else
            s->qhead = g;
        s->qtail = g;
        __atomic_store_n(&s->qlen, s->qlen + n, __ATOMIC_RELAXED);
        if (before == 0 || (before < s->cfg.batch_max && s->qlen >= s->cfg.batch_max))
            pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc != TL_OK)
        free(g);
    return rc;
}

int tl_seq_submit(tl_seq *s, const tl_sub *subs, size_t n, tl_submit_fn cb, void *ctx)
{
    return submit(s, subs, n, cb, NULL, ctx);
}

int tl_seq_add(tl_seq *s, const void *data, size_t len, tl_add_fn cb, void *ctx)
{
    tl_sub sub = {data, len, 0};
    return submit(s, &sub, 1, NULL, cb, ctx);
}

int tl_seq_import(tl_seq *s, const tl_import *imp, tl_submit_fn cb, void *ctx)
{
    size_t n = 0, off = 0;
    seq_group *g;
    tl_hasher *h = tl_hasher_thread();
    /* count and check the entries (bundle encoding) */
    while (off < imp->entries_len) {
        size_t l;
        if (imp->entries_len - off < 2)
            return TL_ERR_INVALID;
        l = ((size_t)imp->entries[off] << 8) | imp->entries[off + 1];
        if (l == 0 || imp->entries_len - off - 2 < l)
            return TL_ERR_INVALID;
        off += 2 + l;
        n++;
    }
    if (n == 0 || !h)
        return n == 0 ? TL_ERR_INVALID : TL_ERR_NOMEM;
    if (n > s->cfg.batch_max)
        return TL_ERR_TOOBIG; /* every node of a log has the same batch_max */
    g = malloc(sizeof(*g) + n * (sizeof(seq_item) + sizeof(tl_sub_result)) + imp->entries_len +
               imp->recs_len);
    if (!g)
        return TL_ERR_NOMEM;
    memset(g, 0, sizeof(*g));
    g->cb = cb;
    g->ctx = ctx;
    g->n = n;
    g->import = 1;
    g->imp_size = imp->size;
    g->imp_ts = imp->time_ms;
    g->imp_root = imp->root;
    g->res = (tl_sub_result *)(void *)(g->items + n);
    uint8_t *p = (uint8_t *)(g->res + n);
    memcpy(p, imp->entries, imp->entries_len);
    g->imp_recs = p + imp->entries_len;
    g->imp_recs_len = imp->recs_len;
    if (imp->recs_len)
        memcpy(p + imp->entries_len, imp->recs, imp->recs_len);
    off = 0;
    for (size_t i = 0; i < n; i++) {
        seq_item *it = &g->items[i];
        memset(it, 0, sizeof(*it));
        it->g = g;
        it->len = ((size_t)p[off] << 8) | p[off + 1];
        it->data = p + off + 2;
        off += 2 + it->len;
        it->has_key = imp->keys[i * 33] != 0;
        memcpy(it->key.b, imp->keys + i * 33 + 1, TL_HASH_SIZE);
        tl_hash_leaf(h, it->data, it->len, &it->leaf);
    }
    return enqueue(s, g);
}

void tl_seq_set_standby(tl_seq *s, int standby)
{
    pthread_mutex_lock(&s->mu);
    s->standby = standby;
    pthread_mutex_unlock(&s->mu);
}

int tl_seq_standby(tl_seq *s)
{
    pthread_mutex_lock(&s->mu);
    int v = s->standby;
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* ---- integration ------------------------------------------------------------ */

static int put_tile(tl_seq *s, int level, const tile_buf *t, unsigned width)
{
    uint8_t k[TL_LAYOUT_KEY_MAX];
    return tl_batch_put(s->wb, k, tl_layout_key_tile(k, level, t->n), t->hashes,
                        (size_t)width * TL_HASH_SIZE);
}

/* The current partial tile of level L, under its level's key. */
static int put_partial(tl_seq *s, int L)
{
    uint8_t k[TL_LAYOUT_KEY_MAX], val[8 + TL_TILE_WIDTH * TL_HASH_SIZE];
    const tile_buf *t = &s->tiles[L];
    tl_layout_put_u64(val, t->n);
    memcpy(val + 8, t->hashes, (size_t)t->width * TL_HASH_SIZE);
    return tl_batch_put(s->wb, k, tl_layout_key_tpart(k, L), val,
                        8 + (size_t)t->width * TL_HASH_SIZE);
}

/* Frontier emit callback: collects level 8L hashes into tile buffers. */
static void emit_node(void *ctx, const tl_node *node, const tl_hash *hash)
{
    tl_seq *s = ctx;
    tile_buf *t;
    int L;
    if (node->level % TL_TILE_HEIGHT)
        return;
    L = node->level / TL_TILE_HEIGHT;
    if (L >= TL_LAYOUT_TILE_LEVELS)
        return;
    t = &s->tiles[L];
    if (node->index != (t->n << 8) + t->width) {
        s->emit_err = TL_ERR_CORRUPT;
        return;
    }
    memcpy(t->hashes + (size_t)t->width * TL_HASH_SIZE, hash->b, TL_HASH_SIZE);
    t->width++;
    t->dirty = 1;
    if (t->width == TL_TILE_WIDTH) {
        if (put_tile(s, L, t, TL_TILE_WIDTH) != TL_OK)
            s->emit_err = TL_ERR_NOMEM;
        t->n++;
        t->width = 0; /* stays dirty: the partial key must name the next tile */
    }
}

static int bundle_append(tl_seq *s, const uint8_t *entry, size_t len)
{
    uint8_t l[2] = {(uint8_t)(len >> 8), (uint8_t)len};
    uint8_t k[TL_LAYOUT_KEY_MAX];
    if (tl_buf_add(&s->bundle, l, 2) || tl_buf_add(&s->bundle, entry, len))
        return TL_ERR_NOMEM;
    s->bundle_count++;
    s->bundle_dirty = 1;
    if (s->bundle_count == TL_TILE_WIDTH) {
        if (tl_batch_put(s->wb, k, tl_layout_key_bundle(k, s->bundle_n), s->bundle.data,
                         s->bundle.len))
            return TL_ERR_NOMEM;
        tl_buf_reset(&s->bundle);
        s->bundle_n++;
        s->bundle_count = 0; /* stays dirty: see emit_node */
    }
    return TL_OK;
}

/* ---- dedup -------------------------------------------------------------------- */

int tl_seq_dedup_find(const tl_kind *kind, tl_store *s, const tl_buf *list, const tl_hash *key,
                      uint64_t *index, tl_buf *scratch)
{
    if (list->len == 0 || list->len % 8)
        return TL_ERR_CORRUPT;
    for (size_t i = 0; i < list->len; i += 8) {
        uint64_t idx = tl_layout_get_u64(list->data + i);
        tl_hash h;
        int rc = kind->key_at(kind, s, idx, &h, scratch);
        if (rc != TL_OK)
            return rc;
        if (memcmp(h.b, key->b, TL_HASH_SIZE) == 0) {
            *index = idx;
            return TL_OK;
        }
    }
    return TL_ERR_NOTFOUND; /* only other submissions share this key's prefix */
}

static int item_cmp(const void *a, const void *b)
{
    const seq_item *x = *(seq_item *const *)a, *y = *(seq_item *const *)b;
    return memcmp(x->key.b, y->key.b, TL_HASH_SIZE);
}

static uint64_t key_tag(const tl_hash *key)
{
    uint64_t t;
    memcpy(&t, key->b, 8);
    return t;
}

static const recent_key *recent_find(const tl_seq *s, const tl_hash *key)
{
    uint64_t tag = key_tag(key);
    size_t i = (size_t)tag & s->rmask;
    for (; s->rtab[i].p; i = (i + 1) & s->rmask)
        if (s->rtab[i].tag == tag && memcmp(s->rtab[i].p->key.b, key->b, TL_HASH_SIZE) == 0)
            return s->rtab[i].p;
    return NULL;
}

/* Removes p from the linear-probing table (backward-shift deletion). */
static void recent_remove(tl_seq *s, const recent_key *p)
{
    size_t i = (size_t)key_tag(&p->key) & s->rmask, j;
    while (s->rtab[i].p && s->rtab[i].p != p)
        i = (i + 1) & s->rmask;
    if (!s->rtab[i].p)
        return;
    j = i;
    for (;;) {
        size_t home;
        j = (j + 1) & s->rmask;
        if (!s->rtab[j].p)
            break;
        home = (size_t)s->rtab[j].tag & s->rmask;
        /* leave it if its home lies cyclically in (i, j] */
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
            continue;
        s->rtab[i] = s->rtab[j];
        i = j;
    }
    s->rtab[i].p = NULL;
    s->rtab[i].tag = 0;
}

/* After the commit of generation gen: its new keys replace those of
 * generation gen - nrecent in the ring and the index. */
static void recent_record(tl_seq *s, size_t nsorted, uint64_t gen)
{
    recent *r = &s->recent[gen % s->nrecent];
    if (r->gen != UINT64_MAX)
        for (size_t i = 0; i < r->n; i++)
            recent_remove(s, &r->e[i]);
    r->n = 0;
    for (size_t i = 0; i < nsorted; i++) {
        const seq_item *it = s->sorted[i];
        recent_key *e;
        size_t j;
        if (!it->is_new)
            continue;
        e = &r->e[r->n++];
        e->key = it->key;
        e->index = it->index;
        j = (size_t)key_tag(&e->key) & s->rmask;
        while (s->rtab[j].p)
            j = (j + 1) & s->rmask;
        s->rtab[j].tag = key_tag(&e->key);
        s->rtab[j].p = e;
    }
    r->gen = gen;
}

/* Whether a key of the recent commits (maybe not yet in the store) has a
 * dedup index key equal to key's. */
static int recent_shares_key(const tl_seq *s, const tl_hash *key)
{
    if (tl_layout_dedup_prefix >= 8) {
        uint64_t tag = key_tag(key);
        for (size_t i = (size_t)tag & s->rmask; s->rtab[i].p; i = (i + 1) & s->rmask)
            if (s->rtab[i].tag == tag &&
                memcmp(s->rtab[i].p->key.b, key->b, tl_layout_dedup_prefix) == 0)
                return 1;
        return 0;
    }
    for (size_t r = 0; r < s->nrecent; r++)
        for (size_t i = 0; i < s->recent[r].n; i++)
            if (memcmp(s->recent[r].e[i].key.b, key->b, tl_layout_dedup_prefix) == 0)
                return 1;
    return 0;
}

static int list_has(const tl_buf *v, uint64_t idx)
{
    for (size_t i = 0; i < v->len; i += 8)
        if (tl_layout_get_u64(v->data + i) == idx)
            return 1;
    return 0;
}

static int list_add(tl_buf *v, uint64_t idx)
{
    uint8_t b[8];
    if (list_has(v, idx))
        return TL_OK;
    tl_layout_put_u64(b, idx);
    return tl_buf_add(v, b, 8) ? TL_ERR_NOMEM : TL_OK;
}

/* The dedup value of the index key shared by the new submissions
 * sorted[i..j): what the store held (the other submissions it named), the
 * keys of the recent commits with that index key (the one in flight is not
 * in the store yet, and a plain put would drop it), then the new ones. v is
 * scratch. */
static int put_shared_key(tl_seq *s, size_t i, size_t j, tl_buf *v)
{
    uint8_t k[TL_LAYOUT_KEY_MAX];
    const tl_hash *key = &s->sorted[i]->key;
    int rc = TL_OK;
    tl_buf_reset(v);
    for (size_t x = i; x < j && rc == TL_OK; x++)
        for (size_t y = 0; y + 8 <= s->sorted[x]->coll_len && rc == TL_OK; y += 8)
            rc = list_add(v, tl_layout_get_u64(s->sorted[x]->coll + y));
    for (size_t r = 0; r < s->nrecent && rc == TL_OK; r++) {
        if (s->recent[r].gen == UINT64_MAX)
            continue;
        for (size_t y = 0; y < s->recent[r].n && rc == TL_OK; y++)
            if (memcmp(s->recent[r].e[y].key.b, key->b, tl_layout_dedup_prefix) == 0)
                rc = list_add(v, s->recent[r].e[y].index);
    }
    for (size_t x = i; x < j && rc == TL_OK; x++)
        if (s->sorted[x]->is_new)
            rc = list_add(v, s->sorted[x]->index);
    if (rc == TL_OK)
        rc = tl_batch_put(s->wb, k, tl_layout_key_dedup(k, key), v->data, v->len);
    return rc;
}

/* Waits until every stage but `mine` is committed, so that the store shows
 * every earlier commit (for the kind's same_stored of a recent key). */
static void wait_committed(tl_seq *s, const stage *mine)
{
    pthread_mutex_lock(&s->mu);
    for (int busy = 1; busy;) {
        busy = 0;
        for (int i = 0; i < STAGES; i++)
            if (&s->stage[i] != mine && s->stage_full[i])
                busy = 1;
        if (busy)
            pthread_cond_wait(&s->cv_stage, &s->mu);
    }
    pthread_mutex_unlock(&s->mu);
}

/* Refuses item it's group: nothing of it is recorded. */
static void reject(seq_item *it, uint64_t earlier)
{
    seq_group *g = it->g;
    g->rejected = 1;
    g->bad = (size_t)(it - g->items);
    g->res[g->bad].index = earlier;
}

/* Step 1 over the groups not refused. Returns TL_OK, TL_ERR_CONFLICT when it
 * refused a group (the caller runs it again without it), or a read error.
 * *nsorted gets the number of first occurrences. */
static int dedup_pass(tl_seq *s, stage *st, size_t *nsorted, int *waited)
{
    const tl_kind *k = s->cfg.kind;
    uint8_t key[TL_LAYOUT_KEY_MAX];
    tl_buf v = TL_BUF_INIT, scratch = TL_BUF_INIT;
    size_t ns = 0;
    int rc = TL_OK;

    st->dups = 0;
    st->fresh = 0;
    memset(s->dedup, 0, s->dedup_cap * sizeof(*s->dedup));
    /* within the batch, by hash table */
    for (size_t gi = 0; gi < st->ngroups; gi++) {
        seq_group *g = st->groups[gi];
        if (g->rejected)
            continue;
        for (size_t i = 0; i < g->n; i++) {
            seq_item *it = &g->items[i];
            size_t slot;
            if (it->coll) {
                free(it->coll);
                it->coll = NULL;
                it->coll_len = 0;
            }
            it->dup_of = NULL;
            it->is_new = 0;
            it->dup = 0;
            if (!it->has_key) {
                it->is_new = 1;
                st->fresh++;
                continue;
            }
            slot = (size_t)key_tag(&it->key) & (s->dedup_cap - 1);
            while (s->dedup[slot] && memcmp(s->dedup[slot]->key.b, it->key.b, TL_HASH_SIZE) != 0)
                slot = (slot + 1) & (s->dedup_cap - 1);
            if (s->dedup[slot]) {
                /* whether it is the same occurrence as the first is decided
                 * once the first is known to stand (below) */
                it->dup_of = s->dedup[slot];
                st->dups++;
                continue;
            }
            s->dedup[slot] = it;
            s->sorted[ns++] = it;
        }
    }
    /* each first occurrence against the recent commits and the store, in key
     * order: that keeps LevelDB's memtable skiplist and blocks in the CPU
     * cache and costs about half of the same lookups in submission order */
    qsort(s->sorted, ns, sizeof(*s->sorted), item_cmp);
    for (size_t i = 0; i < ns && rc == TL_OK; i++) {
        seq_item *it = s->sorted[i];
        /* the store has every commit but the (up to STAGES - 1) in flight:
         * the recent index has those (and the one before) */
        const recent_key *r = recent_find(s, &it->key);
        size_t klen;
        if (r) {
            it->index = r->index;
            if (k->same_stored) {
                if (!*waited) {
                    wait_committed(s, st);
                    *waited = 1;
                }
                rc = k->same_stored(k, s->cfg.store, it->index, it->data, it->len);
                if (rc == TL_ERR_CONFLICT)
                    reject(it, it->index);
                if (rc != TL_OK)
                    break;
            }
            it->dup = 1;
            st->dups++;
            continue;
        }
        klen = tl_layout_key_dedup(key, &it->key);
        if (tl_dfilter_may_have(s->cfg.dfilter, key, klen)) {
            st->dedup_reads++;
            rc = tl_store_get(s->cfg.store, key, klen, &v);
        } else {
            st->dedup_skips++; /* certainly not in the store */
            rc = TL_ERR_NOTFOUND;
        }
        if (rc == TL_OK) {
            /* the index key is a prefix of the key: the index it names
             * counts only if the stored submission there has this key */
            rc = tl_seq_dedup_find(k, s->cfg.store, &v, &it->key, &it->index, &scratch);
            if (rc == TL_ERR_NOTFOUND) {
                it->coll = malloc(v.len);
                if (!it->coll)
                    rc = TL_ERR_NOMEM;
                else
                    memcpy(it->coll, v.data, v.len);
                it->coll_len = v.len;
            } else if (rc == TL_OK && k->same_stored) {
                rc = k->same_stored(k, s->cfg.store, it->index, it->data, it->len);
                if (rc == TL_ERR_CONFLICT) {
                    reject(it, it->index);
                    break;
                }
            }
            if (rc == TL_OK) {
                it->dup = 1;
                st->dups++;
                continue;
            }
        }
        if (rc == TL_ERR_NOTFOUND) {
            it->is_new = 1;
            st->fresh++;
            rc = TL_OK;
        } else if (rc == TL_OK) {
            rc = TL_ERR_CORRUPT;
        }
    }
    tl_buf_release(&v);
    tl_buf_release(&scratch);
    *nsorted = ns;
    /* every first occurrence stands against the store: now a later one
     * with its key must be the same occurrence, or its group goes (in
     * submission order; the pass runs again without it) */
    for (size_t gi = 0; gi < st->ngroups && rc == TL_OK && k->same_pending; gi++) {
        seq_group *g = st->groups[gi];
        if (g->rejected)
            continue;
        for (size_t i = 0; i < g->n; i++) {
            seq_item *it = &g->items[i];
            if (it->dup_of &&
                k->same_pending(k, it->data, it->len, it->dup_of->data, it->dup_of->len) != TL_OK) {
                reject(it, it->dup_of->dup ? it->dup_of->index : 0);
                rc = TL_ERR_CONFLICT;
                break;
            }
        }
    }
    return rc;
}

/* ---- staging and committing -------------------------------------------------- */

static void answer(stage *st, int err)
{
    /* every callback first: a duplicate's result may come from an item of
     * an earlier group of the batch */
    for (size_t gi = 0; gi < st->ngroups; gi++) {
        seq_group *g = st->groups[gi];
        int e =
            err == TL_OK && g->rejected ? (g->refuse_err ? g->refuse_err : TL_ERR_CONFLICT) : err;
        if (e == TL_OK) {
            for (size_t i = 0; i < g->n; i++) {
                const seq_item *it = &g->items[i];
                const seq_item *src = it->dup_of ? it->dup_of : it;
                g->res[i].index = src->index;
                g->res[i].leaf = src->leaf;
                g->res[i].dup = it->dup_of != NULL || it->dup;
                g->res[i].time_ms = src->is_new ? st->time_ms : 0;
            }
        }
        if (g->cb)
            g->cb(g->ctx, e, g->res, g->n, g->bad);
        else if (g->add_cb)
            g->add_cb(g->ctx, e, e == TL_OK ? g->res[0].index : 0,
                      e == TL_OK ? &g->res[0].leaf : NULL);
    }
    for (size_t gi = 0; gi < st->ngroups; gi++) {
        seq_group *g = st->groups[gi];
        for (size_t i = 0; i < g->n; i++)
            if (g->items[i].coll)
                free(g->items[i].coll);
        free(g);
    }
}

/* Stops signing (first reason wins); the stage's groups will get
 * TL_ERR_STOPPED from the committer, in order. */
static void stage_fail(tl_seq *s, stage *st, const char *fmt, int rc, uint64_t a, uint64_t b)
{
    tl_seq_halt(s, fmt, tl_strerror(rc), (unsigned long long)a, (unsigned long long)b);
    st->fail = 1;
}

static int sign_head(tl_seq *s, uint64_t size, const tl_hash *root, uint64_t ts, tl_log_head *h)
{
    char *body = NULL;
    size_t blen = 0;
    int rc;
    memset(h, 0, sizeof(*h));
    rc = tl_checkpoint_format(s->cfg.origin, size, root, &body, &blen);
    if (rc != TL_OK)
        return rc;
    rc = tl_logsigner_sign_note(s->cfg.signer, body, blen, &h->note, &h->note_len);
    free(body);
    if (rc != TL_OK)
        return rc;
    rc = tl_logsigner_sign_sth(s->cfg.signer, ts, size, root, &h->sth_sig, &h->sth_sig_len);
    if (rc != TL_OK) {
        tl_log_head_release(h);
        return rc;
    }
    h->size = size;
    h->root = *root;
    h->timestamp_ms = ts;
    return TL_OK;
}

/* The kind's records of a batch, for its guard: u16 klen | key | u32 vlen |
 * value each (tl_head_batch). */
static int collect_record(void *ctx, int is_put, const void *key, size_t klen, const void *val,
                          size_t vlen)
{
    tl_buf *out = ctx;
    uint8_t h[6];
    if (klen == 0 || ((const uint8_t *)key)[0] != TL_LAYOUT_KIND_PREFIX)
        return TL_OK;
    if (!is_put || klen > 0xffff || vlen > 0xffffffffu)
        return TL_ERR_INVALID; /* kinds only put records */
    h[0] = (uint8_t)(klen >> 8);
    h[1] = (uint8_t)klen;
    h[2] = (uint8_t)(vlen >> 24);
    h[3] = (uint8_t)(vlen >> 16);
    h[4] = (uint8_t)(vlen >> 8);
    h[5] = (uint8_t)vlen;
    if (tl_buf_add(out, h, 2) || tl_buf_add(out, key, klen) || tl_buf_add(out, h + 2, 4) ||
        tl_buf_add(out, val, vlen))
        return TL_ERR_NOMEM;
    return TL_OK;
}

/* An import's records into wb: only the kind's keys. */
static int put_records(tl_batch *wb, const uint8_t *p, size_t len)
{
    size_t off = 0;
    while (off < len) {
        size_t kl, vl;
        if (len - off < 2)
            return TL_ERR_INVALID;
        kl = ((size_t)p[off] << 8) | p[off + 1];
        off += 2;
        if (kl == 0 || len - off < kl + 4 || p[off] != TL_LAYOUT_KIND_PREFIX)
            return TL_ERR_INVALID;
        vl = ((size_t)p[off + kl] << 24) | ((size_t)p[off + kl + 1] << 16) |
             ((size_t)p[off + kl + 2] << 8) | p[off + kl + 3];
        if (len - off - kl - 4 < vl)
            return TL_ERR_INVALID;
        if (tl_batch_put(wb, p + off, kl, p + off + kl + 4, vl) != TL_OK)
            return TL_ERR_NOMEM;
        off += kl + 4 + vl;
    }
    return TL_OK;
}

/* Sequencer thread: dedup, integrate and sign a batch into st (steps 1-3). */
static void stage_batch(tl_seq *s, stage *st)
{
    const tl_kind *kind = s->cfg.kind;
    uint8_t k[TL_LAYOUT_KEY_MAX];
    size_t klen;
    tl_buf v = TL_BUF_INIT;
    tl_hash root;
    size_t nsorted = 0;
    uint64_t size0 = s->fr.size, now, gen = s->staged_gen;
    int rc, waited = 0;
    const int import = st->ngroups == 1 && st->groups[0]->import;
    const int guarded = s->cfg.guard.check && !import;
    tl_hash root0;

    st->commit = 0;
    st->fail = 0;
    st->conflicts = 0;
    st->dedup_reads = st->dedup_skips = 0;
    st->t0 = tl_mono_s();
    if (is_stopped(s)) {
        st->fail = 1;
        return;
    }

    /* 1. dedup, again without each group that turns out to conflict */
    while ((rc = dedup_pass(s, st, &nsorted, &waited)) == TL_ERR_CONFLICT)
        st->conflicts++;
    if (rc != TL_OK) {
        stage_fail(s, st, "dedup index lookup failed (%s) at size %llu%.0llu", rc, size0, 0);
        return;
    }
    if (import && (st->fresh != st->n || st->groups[0]->imp_size != size0 + st->n)) {
        tl_seq_halt(s,
                    "refusing an import: its %zu entries for size %llu -> %llu hold duplicates "
                    "or do not follow",
                    st->n, (unsigned long long)size0, (unsigned long long)st->groups[0]->imp_size);
        st->fail = 1;
        return;
    }
    /* the batch's log time, and the closing time: a closed log refuses
     * every group that would add an entry (repeats of entries it holds are
     * still answered) */
    now = import ? st->groups[0]->imp_ts : s->cfg.clock_ms();
    if (!import && s->cfg.closes_at && st->fresh > 0 &&
        (now > s->last_ts ? now : s->last_ts) >= s->cfg.closes_at) {
        for (size_t gi = 0; gi < st->ngroups; gi++) {
            seq_group *g = st->groups[gi];
            for (size_t i = 0; i < g->n && !g->rejected && !g->own; i++) {
                const seq_item *src = g->items[i].dup_of ? g->items[i].dup_of : &g->items[i];
                if (src->is_new) {
                    g->rejected = 1;
                    g->refuse_err = TL_ERR_CLOSED;
                }
            }
        }
        st->fresh = 0;
        for (size_t gi = 0; gi < st->ngroups; gi++)
            for (size_t i = 0; i < st->groups[gi]->n; i++)
                if (!st->groups[gi]->rejected && st->groups[gi]->items[i].is_new)
                    st->fresh++; /* the access trail's own events */
    }
    if (st->fresh == 0)
        return; /* duplicates and refusals only: answered after the commits in flight */
    if (guarded) {
        tl_frontier_root(&s->fr, s->hasher, &root0);
        tl_buf_reset(&st->jent);
        tl_buf_reset(&st->jkeys);
        tl_buf_reset(&st->jrecs);
    }

    /* 2. integrate, at the log time of this batch (an import's: its own) */
    if (import && now < s->last_ts) {
        stage_fail(s, st, "refusing an import (%s): its time %llu ms is before the last %llu ms",
                   TL_ERR_CLOCK, now, s->last_ts);
        return;
    }
    if (now < s->last_ts) {
        if (!kind->repeat_time_on_clock_step) {
            stage_fail(s, st,
                       "%s: the clock reads %llu ms, before the last signed timestamp %llu ms",
                       TL_ERR_CLOCK, now, s->last_ts);
            return;
        }
        now = s->last_ts;
    }
    st->time_ms = now;
    s->wb = st->wb;
    tl_batch_clear(s->wb);
    s->emit_err = TL_OK;
    rc = TL_OK;
    for (size_t gi = 0; gi < st->ngroups && rc == TL_OK; gi++) {
        seq_group *g = st->groups[gi];
        if (g->rejected)
            continue;
        for (size_t i = 0; i < g->n && rc == TL_OK; i++) {
            seq_item *it = &g->items[i];
            const uint8_t *entry = it->data;
            size_t len = it->len;
            if (!it->is_new)
                continue;
            it->index = s->fr.size;
            if (kind->seal && !import) {
                tl_buf_reset(&s->entry);
                rc = kind->seal(kind, s->hasher, it->data, it->len, it->index, now, &s->entry,
                                s->wb);
                if (rc == TL_OK && (s->entry.len == 0 || s->entry.len > MAX_SUB))
                    rc = TL_ERR_INVALID;
                if (rc != TL_OK)
                    break;
                entry = s->entry.data;
                len = s->entry.len;
                tl_hash_leaf(s->hasher, entry, len, &it->leaf);
            }
            rc = bundle_append(s, entry, len);
            tl_frontier_append(&s->fr, s->hasher, &it->leaf, emit_node, s);
            if (rc == TL_OK)
                rc = s->emit_err;
            if (rc == TL_OK && guarded) {
                uint8_t l[2] = {(uint8_t)(len >> 8), (uint8_t)len}, hk = (uint8_t)it->has_key;
                if (tl_buf_add(&st->jent, l, 2) || tl_buf_add(&st->jent, entry, len) ||
                    tl_buf_add(&st->jkeys, &hk, 1) ||
                    tl_buf_add(&st->jkeys, it->key.b, TL_HASH_SIZE))
                    rc = TL_ERR_NOMEM;
            }
        }
    }
    if (rc == TL_OK && kind->seal && kind->seal_end && !import && s->fr.size > size0)
        rc = kind->seal_end(kind, s->hasher, size0, s->fr.size, now, s->wb);
    if (rc == TL_OK && import)
        rc = put_records(s->wb, st->groups[0]->imp_recs, st->groups[0]->imp_recs_len);
    if (rc == TL_OK && guarded)
        rc = tl_batch_iterate(s->wb, collect_record, &st->jrecs);
    for (size_t i = 0; i < nsorted && rc == TL_OK;) {
        size_t j = i + 1;
        if (!s->sorted[i]->is_new) {
            i++;
            continue;
        }
        /* new keys sharing an index key (sorted: adjacent) go into one value */
        while (j < nsorted &&
               memcmp(s->sorted[j]->key.b, s->sorted[i]->key.b, tl_layout_dedup_prefix) == 0)
            j++;
        if (j == i + 1 && !s->sorted[i]->coll && !recent_shares_key(s, &s->sorted[i]->key)) {
            uint8_t idx[8];
            tl_layout_put_u64(idx, s->sorted[i]->index);
            rc = tl_batch_put(s->wb, k, tl_layout_key_dedup(k, &s->sorted[i]->key), idx, 8);
        } else {
            rc = put_shared_key(s, i, j, &v);
        }
        /* before the commit: the filter may only claim more than the store */
        klen = tl_layout_key_dedup(k, &s->sorted[i]->key);
        tl_dfilter_add(s->cfg.dfilter, k, klen);
        i = j;
    }
    for (int L = 0; L < TL_LAYOUT_TILE_LEVELS && rc == TL_OK; L++)
        if (s->tiles[L].dirty)
            rc = put_partial(s, L);
    if (rc == TL_OK && s->bundle_dirty) {
        uint8_t nb[8];
        tl_buf_reset(&v);
        tl_layout_put_u64(nb, s->bundle_n);
        if (tl_buf_add(&v, nb, 8) || tl_buf_add(&v, s->bundle.data, s->bundle.len) ||
            tl_batch_put(s->wb, tl_layout_key_bpart, 2, v.data, v.len))
            rc = TL_ERR_NOMEM;
    }
    if (rc != TL_OK) {
        tl_buf_release(&v);
        stage_fail(s, st, "integrating a batch failed (%s) at size %llu -> %llu", rc, size0,
                   s->fr.size);
        return;
    }

    /* 3. sign */
    tl_frontier_root(&s->fr, s->hasher, &root);
    rc = tl_store_get(s->cfg.store, k, tl_layout_key_head(k, s->fr.size), &v);
    tl_buf_release(&v);
    if (rc != TL_ERR_NOTFOUND) {
        stage_fail(s, st, "refusing to sign (%s): a head for size %llu exists already (from %llu)",
                   rc == TL_OK ? TL_ERR_CONFLICT : rc, s->fr.size, size0);
        return;
    }
    if (import && memcmp(root.b, st->groups[0]->imp_root.b, TL_HASH_SIZE) != 0) {
        stage_fail(s, st,
                   "refusing an import (%s): its entries give another root at size %llu "
                   "(from %llu) than the head it names",
                   TL_ERR_CONFLICT, s->fr.size, size0);
        return;
    }
    if (guarded) {
        char why[160] = "";
        tl_head_batch hb = {
            size0,         s->last_ts,   root0,          s->fr.size,     now,          root,
            st->jent.data, st->jent.len, st->jkeys.data, st->jrecs.data, st->jrecs.len};
        rc = s->cfg.guard.check(s->cfg.guard.ctx, &hb, why, sizeof why);
        if (rc != TL_OK) {
            tl_seq_halt(s, "the head guard refused size %llu (from %llu): %s",
                        (unsigned long long)s->fr.size, (unsigned long long)size0,
                        why[0] ? why : tl_strerror(rc));
            st->fail = 1;
            return;
        }
    }
    rc = sign_head(s, s->fr.size, &root, now, &st->head);
    if (rc != TL_OK) {
        stage_fail(s, st, "signing failed (%s) at size %llu -> %llu", rc, size0, s->fr.size);
        return;
    }
    rc = tl_layout_state_encode(&s->fr, &root, &v);
    if (rc == TL_OK)
        rc = tl_batch_put(s->wb, tl_layout_key_state, 2, v.data, v.len);
    if (rc == TL_OK)
        rc = tl_layout_head_encode(&st->head, &v);
    if (rc == TL_OK)
        rc = tl_batch_put(s->wb, k, tl_layout_key_head(k, st->head.size), v.data, v.len);
    if (rc == TL_OK && s->cfg.publish_on_sign) {
        rc = tl_layout_pub_encode(st->head.size, st->head.note, st->head.note_len, &v);
        if (rc == TL_OK)
            rc = tl_batch_put(s->wb, tl_layout_key_pub, 2, v.data, v.len);
    }
    tl_buf_release(&v);
    memset(&st->pubcopy, 0, sizeof(st->pubcopy));
    if (rc == TL_OK && s->cfg.publish_on_sign)
        rc = tl_log_head_copy(&st->pubcopy, &st->head);
    if (rc != TL_OK) {
        tl_log_head_release(&st->head);
        stage_fail(s, st, "staging the commit failed (%s) at size %llu -> %llu", rc, size0,
                   s->fr.size);
        return;
    }
    s->last_ts = now;
    recent_record(s, nsorted, gen);
    s->staged_gen = gen + 1;
    for (int L = 0; L < TL_LAYOUT_TILE_LEVELS; L++)
        s->tiles[L].dirty = 0;
    s->bundle_dirty = 0;
    st->commit = 1;
}

static void count_stage(tl_seq *s, const stage *st)
{
    pthread_mutex_lock(&s->mu);
    s->st.duplicates += st->dups;
    s->st.conflicts += st->conflicts;
    s->st.dedup_store_reads += st->dedup_reads;
    s->st.dedup_filter_skips += st->dedup_skips;
    s->st.batch_entries_last = st->n;
    if (st->commit) {
        s->st.entries_added += st->fresh;
        s->st.batches++;
        s->st.commit_seconds_last = tl_mono_s() - st->t0;
        s->st.commit_seconds_total += s->st.commit_seconds_last;
    }
    pthread_mutex_unlock(&s->mu);
}

/* Committer thread: the one synced write (step 4), then the answers (step
 * 5). Stages arrive in order. */
static void commit_stage(tl_seq *s, stage *st)
{
    int rc;
    if (st->fail || is_stopped(s)) {
        /* after a failure nothing staged later is trusted or written */
        if (st->commit) {
            tl_log_head_release(&st->head);
            tl_log_head_release(&st->pubcopy);
        }
        answer(st, TL_ERR_STOPPED);
        return;
    }
    if (!st->commit) {
        count_stage(s, st);
        answer(st, TL_OK);
        return;
    }
    rc = tl_store_write(s->cfg.store, st->wb, 1);
    if (rc != TL_OK) {
        tl_seq_halt(s, "the commit write failed (%s) at size %llu -> %llu", tl_strerror(rc),
                    (unsigned long long)(st->head.size - st->fresh),
                    (unsigned long long)st->head.size);
        tl_log_head_release(&st->head);
        tl_log_head_release(&st->pubcopy);
        answer(st, TL_ERR_STOPPED);
        return;
    }
    count_stage(s, st);
    s->cfg.events.committed(s->cfg.events.ctx, &st->head,
                            s->cfg.publish_on_sign ? &st->pubcopy : NULL);
    memset(&st->head, 0, sizeof(st->head));
    memset(&st->pubcopy, 0, sizeof(st->pubcopy));
    answer(st, TL_OK);
    s->cfg.events.after(s->cfg.events.ctx);
}

/* Stages handed to the committer and not yet written. Caller holds mu. */
static int stages_full(const tl_seq *s)
{
    int n = 0;
    for (int i = 0; i < STAGES; i++)
        n += s->stage_full[i];
    return n;
}

static void *seq_main(void *arg)
{
    tl_seq *s = arg;
    int i = 0;
    pthread_setname_np(pthread_self(), "tl-sequencer");
    pthread_mutex_lock(&s->mu);
    for (;;) {
        stage *st = &s->stage[i];
        while (s->qlen == 0 && !s->closing)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->qlen == 0)
            break;
        /* Group commit: a batch closes at once while the committer has no
         * batch to write (none staged, none being written); while it has,
         * submissions gather until it is done, batch_max of them wait, or
         * the oldest has waited batch_interval_ms. So batches grow with the
         * load and the time a commit takes, and a lone submission is not
         * held back by the timer. */
        if (!s->closing && !s->stopped && s->qlen < s->cfg.batch_max && stages_full(s) > 0) {
            uint64_t dl = s->qhead->t_enq + s->cfg.interval_ms;
            struct timespec ts = {(time_t)(dl / 1000), (long)(dl % 1000) * 1000000L};
            while (s->qlen < s->cfg.batch_max && !s->closing && stages_full(s) > 0)
                if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT)
                    break;
        }
        while (s->stage_full[i])
            pthread_cond_wait(&s->cv_stage, &s->mu);
        /* whole groups only: a group is committed in one batch */
        st->n = 0;
        st->ngroups = 0;
        while (s->qhead && st->n + s->qhead->n <= s->cfg.batch_max) {
            seq_group *g = s->qhead;
            if (st->ngroups && (g->import || st->groups[0]->import))
                break; /* an import is a batch of its own */
            s->qhead = g->next;
            st->groups[st->ngroups++] = g;
            st->n += g->n;
        }
        if (!s->qhead)
            s->qtail = NULL;
        __atomic_store_n(&s->qlen, s->qlen - st->n, __ATOMIC_RELAXED);
        pthread_mutex_unlock(&s->mu);
        stage_batch(s, st);
        pthread_mutex_lock(&s->mu);
        s->stage_full[i] = 1;
        pthread_cond_broadcast(&s->cv_stage);
        i = (i + 1) % STAGES;
    }
    s->a_done = 1;
    pthread_cond_broadcast(&s->cv_stage);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void *commit_main(void *arg)
{
    tl_seq *s = arg;
    int i = 0;
    pthread_setname_np(pthread_self(), "tl-committer");
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stage_full[i] && !s->a_done)
            pthread_cond_wait(&s->cv_stage, &s->mu);
        if (!s->stage_full[i])
            break;
        pthread_mutex_unlock(&s->mu);
        commit_stage(s, &s->stage[i]);
        pthread_mutex_lock(&s->mu);
        s->stage_full[i] = 0;
        pthread_cond_broadcast(&s->cv_stage);
        pthread_cond_signal(&s->cv); /* a batch may close now */
        i = (i + 1) % STAGES;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- start and stop ------------------------------------------------------------ */

/* Loads the partial tiles and bundle the sequencer keeps in memory, checked
 * against the recovered tree state. */
static int load_partials(tl_seq *s, char *err, size_t cap)
{
    uint64_t size = s->fr.size;
    uint8_t k[TL_LAYOUT_KEY_MAX];
    tl_buf v = TL_BUF_INIT;
    int rc = TL_OK;

    for (int L = 0; L < TL_LAYOUT_TILE_LEVELS; L++) {
        uint64_t cnt = L == 0 ? size : size >> (8 * L);
        tile_buf *t = &s->tiles[L];
        t->n = cnt >> 8;
        t->width = (unsigned)(cnt & 255);
        t->dirty = 0;
        rc = tl_store_get(s->cfg.store, k, tl_layout_key_tpart(k, L), &v);
        if (rc == TL_ERR_NOTFOUND && t->width == 0) {
            rc = TL_OK;
            continue;
        }
        if (rc != TL_OK || v.len < 8 || tl_layout_get_u64(v.data) != t->n ||
            v.len != 8 + (size_t)t->width * TL_HASH_SIZE) {
            snprintf(
                err, cap,
                "partial hash tile of level %d: %s (the tree state of size %llu needs "
                "tile %llu of width %u; stored: tile %llu, %zu bytes)",
                L, rc == TL_OK ? "wrong tile or width" : tl_strerror(rc), (unsigned long long)size,
                (unsigned long long)t->n, t->width,
                (unsigned long long)(rc == TL_OK && v.len >= 8 ? tl_layout_get_u64(v.data) : 0),
                rc == TL_OK && v.len >= 8 ? v.len - 8 : 0);
            rc = rc == TL_OK || rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc;
            goto out;
        }
        memcpy(t->hashes, v.data + 8, v.len - 8);
    }
    s->bundle_n = size >> 8;
    s->bundle_count = (unsigned)(size & 255);
    s->bundle_dirty = 0;
    tl_buf_reset(&s->bundle);
    rc = tl_store_get(s->cfg.store, tl_layout_key_bpart, 2, &v);
    if (rc == TL_ERR_NOTFOUND && s->bundle_count == 0) {
        rc = TL_OK;
    } else if (rc != TL_OK || v.len < 8 || tl_layout_get_u64(v.data) != s->bundle_n) {
        snprintf(err, cap,
                 "partial entry bundle: %s (the tree state of size %llu needs "
                 "bundle %llu)",
                 rc == TL_OK ? "holds another bundle" : tl_strerror(rc), (unsigned long long)size,
                 (unsigned long long)s->bundle_n);
        rc = rc == TL_OK || rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc;
        goto out;
    } else {
        const uint8_t *d = v.data + 8;
        size_t dl = v.len - 8, off = 0, last = 0;
        unsigned c = 0;
        while (off + 2 <= dl) {
            size_t l = ((size_t)d[off] << 8) | d[off + 1];
            if (l == 0 || off + 2 + l > dl)
                break;
            last = off;
            off += 2 + l;
            c++;
        }
        if (off != dl || c != s->bundle_count) {
            snprintf(err, cap,
                     "entry bundle %llu holds %u entries (%zu of %zu bytes parse), the tree "
                     "state of size %llu needs %u",
                     (unsigned long long)s->bundle_n, c, off, dl, (unsigned long long)size,
                     s->bundle_count);
            rc = TL_ERR_CORRUPT;
            goto out;
        }
        if (c) {
            /* the last entry's leaf hash must be the last level-0 tile hash */
            tl_hash leaf;
            tl_hash_leaf(s->hasher, d + last + 2, off - last - 2, &leaf);
            if (memcmp(leaf.b, s->tiles[0].hashes + (size_t)(c - 1) * TL_HASH_SIZE, TL_HASH_SIZE) !=
                0) {
                snprintf(err, cap,
                         "entry %llu in bundle %llu does not hash to its leaf hash in tile "
                         "0/%llu",
                         (unsigned long long)(size - 1), (unsigned long long)s->bundle_n,
                         (unsigned long long)s->tiles[0].n);
                rc = TL_ERR_CORRUPT;
                goto out;
            }
        }
        if (tl_buf_add(&s->bundle, d, dl)) {
            rc = TL_ERR_NOMEM;
            snprintf(err, cap, "out of memory");
        }
    }
out:
    tl_buf_release(&v);
    return rc;
}

static void seq_free(tl_seq *s)
{
    seq_group *g, *next;
    for (g = s->qhead; g; g = next) {
        next = g->next;
        free(g);
    }
    tl_hasher_free(s->hasher);
    tl_buf_release(&s->bundle);
    tl_buf_release(&s->entry);
    for (int i = 0; i < STAGES; i++) {
        tl_batch_free(s->stage[i].wb);
        free(s->stage[i].groups);
        tl_buf_release(&s->stage[i].jent);
        tl_buf_release(&s->stage[i].jkeys);
        tl_buf_release(&s->stage[i].jrecs);
    }
    if (s->recent)
        for (size_t i = 0; i < s->nrecent; i++)
            free(s->recent[i].e);
    free(s->recent);
    free(s->rtab);
    free(s->sorted);
    free(s->dedup);
    pthread_cond_destroy(&s->cv_stage);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int tl_seq_start(const tl_seq_config *cfg, tl_seq **out, char *err, size_t cap)
{
    tl_seq *s = calloc(1, sizeof(*s));
    pthread_condattr_t ca;
    int rc;

    *out = NULL;
    if (!s) {
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    s->cfg = *cfg;
    /* a submission is the entry itself unless the kind seals entries */
    if (s->cfg.max_sub == 0)
        s->cfg.max_sub = MAX_SUB;
    if (!s->cfg.kind->seal && s->cfg.max_sub > MAX_SUB)
        s->cfg.max_sub = MAX_SUB;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&s->cv_stage, NULL);
    tl_buf_init(&s->bundle);
    tl_buf_init(&s->entry);
    s->fr = *cfg->frontier;
    s->last_ts = cfg->last_ts;
    s->standby = cfg->standby;
    s->hasher = tl_hasher_new();
    for (int i = 0; i < STAGES; i++) {
        s->stage[i].wb = tl_batch_new();
        s->stage[i].groups = calloc(s->cfg.batch_max, sizeof(seq_group *));
        if (!s->stage[i].wb || !s->stage[i].groups)
            goto nomem;
    }
    s->sorted = calloc(s->cfg.batch_max, sizeof(*s->sorted));
    /* remember the keys of the last 4 commits (STAGES - 1 may be in flight) */
    s->nrecent = STAGES + 1 > 4 ? STAGES + 1 : 4;
    s->rmask = 1;
    while (s->rmask < 2 * s->nrecent * s->cfg.batch_max)
        s->rmask <<= 1;
    s->rtab = calloc(s->rmask, sizeof(*s->rtab));
    s->rmask--;
    s->recent = calloc(s->nrecent, sizeof(*s->recent));
    for (size_t i = 0; s->recent && i < s->nrecent; i++) {
        s->recent[i].gen = UINT64_MAX;
        s->recent[i].e = malloc(s->cfg.batch_max * sizeof(recent_key));
        if (!s->recent[i].e)
            goto nomem;
    }
    s->dedup_cap = 16;
    while (s->dedup_cap < 2 * s->cfg.batch_max)
        s->dedup_cap *= 2;
    s->dedup = calloc(s->dedup_cap, sizeof(*s->dedup));
    if (!s->hasher || !s->sorted || !s->dedup || !s->recent || !s->rtab)
        goto nomem;
    rc = load_partials(s, err, cap);
    if (rc != TL_OK) {
        seq_free(s);
        return rc;
    }
    if (pthread_create(&s->committer, NULL, commit_main, s) != 0)
        goto nothread;
    if (pthread_create(&s->thread, NULL, seq_main, s) != 0) {
        pthread_mutex_lock(&s->mu);
        s->a_done = 1;
        pthread_cond_broadcast(&s->cv_stage);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->committer, NULL);
        goto nothread;
    }
    s->threads = 1;
    *out = s;
    return TL_OK;
nothread:
    snprintf(err, cap, "cannot start the sequencer threads");
    seq_free(s);
    return TL_ERR_NOMEM;
nomem:
    snprintf(err, cap, "out of memory");
    seq_free(s);
    return TL_ERR_NOMEM;
}

void tl_seq_stop(tl_seq *s)
{
    if (!s)
        return;
    if (s->threads) {
        pthread_mutex_lock(&s->mu);
        s->closing = 1;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
        pthread_join(s->committer, NULL);
    }
    seq_free(s);
}
