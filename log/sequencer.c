/*
 * sequencer.c - the bounded submission pool, the sequencer thread (stages
 * batches) and the committer thread (writes them, then answers).
 *
 * tl_log_add hashes the entry on the caller's thread and queues it; a full
 * pool fails fast with TL_ERR_BUSY. The sequencer thread closes a batch when
 * batch_max entries wait or batch_interval_ms after the batch's first entry
 * arrived, then, in this order (Sunlight's stage-sign-commit-answer):
 *   1. dedup: within the batch, against the leaves of the last few commits
 *      (an in-memory index; it covers the commits still in flight, which the
 *      store cannot show yet), and against the leaf-hash index in the store;
 *   2. integrate: append the new leaves to the frontier, collect the changed
 *      hash tiles (levels 0, 8, 16, ...) and entry bundles;
 *   3. sign: checkpoint note (Ed25519) and RFC 6962 STH, refusing a clock
 *      earlier than the last signed timestamp (equal is allowed: timestamps
 *      never decrease) and a size already signed;
 * and hands the staged batch to the committer thread, which, in order:
 *   4. commit: ONE synced write batch with entries, tiles, dedup index,
 *      state, signed head (and the published head with publish_on_sign);
 *   5. answer: add callbacks, then listeners.
 * LOG_STAGES (3) stages rotate, so batches k+1 and k+2 are staged while
 * batch k is written (a slow fsync or a LevelDB write stall does not stop
 * the sequencer at once).
 * A failed commit stops signing for good (until reopen): every pending,
 * staged and later add gets TL_ERR_STOPPED; staged heads after a failure are
 * discarded unseen; nothing unacknowledged is reported as done.
 */
#include "log/log_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"

static pthread_key_t hasher_key;
static pthread_once_t hasher_once = PTHREAD_ONCE_INIT;

static void hasher_destroy(void *p)
{
    tl_hasher_free(p);
}

static void hasher_key_init(void)
{
    pthread_key_create(&hasher_key, hasher_destroy);
}

tl_hasher *log_thread_hasher(void)
{
    tl_hasher *h;
    pthread_once(&hasher_once, hasher_key_init);
    h = pthread_getspecific(hasher_key);
    if (!h) {
        h = tl_hasher_new();
        if (h && pthread_setspecific(hasher_key, h) != 0) {
            tl_hasher_free(h);
            h = NULL;
        }
    }
    return h;
}

int tl_log_add(tl_log *log, const void *entry, size_t len, tl_add_fn cb, void *ctx)
{
    log_item *it;
    tl_hasher *h;
    int rc = TL_OK;

    if (!entry || len == 0)
        return TL_ERR_INVALID;
    if (len > log->max_entry)
        return TL_ERR_TOOBIG;
    /* push back before doing any work (checked again under the lock) */
    if (__atomic_load_n(&log->qlen, __ATOMIC_RELAXED) >= log->pool_max)
        return TL_ERR_BUSY;
    h = log_thread_hasher();
    it = malloc(sizeof(*it) + len);
    if (!h || !it) {
        free(it);
        return TL_ERR_NOMEM;
    }
    it->next = NULL;
    it->cb = cb;
    it->ctx = ctx;
    it->dup_of = NULL;
    it->is_new = 0;
    it->coll = NULL;
    it->coll_len = 0;
    it->index = 0;
    it->len = len;
    memcpy(it->data, entry, len);
    tl_hash_leaf(h, entry, len, &it->leaf);
    it->t_enq = tl_mono_ms();
    pthread_mutex_lock(&log->mu);
    if (log->stopped || log->closing) {
        rc = TL_ERR_STOPPED;
    } else if (log->qlen >= log->pool_max) {
        rc = TL_ERR_BUSY;
    } else {
        if (log->qtail)
            log->qtail->next = it;
        else
            log->qhead = it;
        log->qtail = it;
        __atomic_store_n(&log->qlen, log->qlen + 1, __ATOMIC_RELAXED);
        if (log->qlen == 1 || log->qlen == log->batch_max)
            pthread_cond_signal(&log->cv);
    }
    pthread_mutex_unlock(&log->mu);
    if (rc != TL_OK)
        free(it);
    return rc;
}

size_t tl_log_pool_depth(tl_log *log)
{
    size_t n;
    pthread_mutex_lock(&log->mu);
    n = log->qlen;
    pthread_mutex_unlock(&log->mu);
    return n;
}

/* ---- integration -------------------------------------------------------- */

static int put_tile(tl_log *log, int level, const log_tile_buf *t, unsigned width)
{
    uint8_t k[LOG_KEY_MAX];
    return tl_batch_put(log->wb, k, log_key_tile(k, level, t->n), t->hashes,
                        (size_t)width * TL_HASH_SIZE);
}

/* The current partial tile of level L, under its level's key. */
static int put_partial(tl_log *log, int L)
{
    uint8_t k[LOG_KEY_MAX], val[8 + TL_TILE_WIDTH * TL_HASH_SIZE];
    const log_tile_buf *t = &log->tiles[L];
    log_put_u64(val, t->n);
    memcpy(val + 8, t->hashes, (size_t)t->width * TL_HASH_SIZE);
    return tl_batch_put(log->wb, k, log_key_tpart(k, L), val, 8 + (size_t)t->width * TL_HASH_SIZE);
}

/* Frontier emit callback: collects level 8L hashes into tile buffers. */
static void emit_node(void *ctx, const tl_node *node, const tl_hash *hash)
{
    tl_log *log = ctx;
    log_tile_buf *t;
    int L;
    if (node->level % TL_TILE_HEIGHT)
        return;
    L = node->level / TL_TILE_HEIGHT;
    if (L >= LOG_TILE_LEVELS)
        return;
    t = &log->tiles[L];
    if (node->index != (t->n << 8) + t->width) {
        log->emit_err = TL_ERR_CORRUPT;
        return;
    }
    memcpy(t->hashes + (size_t)t->width * TL_HASH_SIZE, hash->b, TL_HASH_SIZE);
    t->width++;
    t->dirty = 1;
    if (t->width == TL_TILE_WIDTH) {
        if (put_tile(log, L, t, TL_TILE_WIDTH) != TL_OK)
            log->emit_err = TL_ERR_NOMEM;
        t->n++;
        t->width = 0; /* stays dirty: the partial key must name the next tile */
    }
}

static int bundle_append(tl_log *log, const log_item *it)
{
    uint8_t l[2] = {(uint8_t)(it->len >> 8), (uint8_t)it->len};
    uint8_t k[LOG_KEY_MAX];
    if (tl_buf_add(&log->bundle, l, 2) || tl_buf_add(&log->bundle, it->data, it->len))
        return TL_ERR_NOMEM;
    log->bundle_count++;
    log->bundle_dirty = 1;
    if (log->bundle_count == TL_TILE_WIDTH) {
        if (tl_batch_put(log->wb, k, log_key_bundle(k, log->bundle_n), log->bundle.data,
                         log->bundle.len))
            return TL_ERR_NOMEM;
        tl_buf_reset(&log->bundle);
        log->bundle_n++;
        log->bundle_count = 0; /* stays dirty: see emit_node */
    }
    return TL_OK;
}

static int item_cmp(const void *a, const void *b)
{
    const log_item *x = *(log_item *const *)a, *y = *(log_item *const *)b;
    return memcmp(x->leaf.b, y->leaf.b, TL_HASH_SIZE);
}

static uint64_t leaf_tag(const tl_hash *leaf)
{
    uint64_t t;
    memcpy(&t, leaf->b, 8);
    return t;
}

static const log_recent_leaf *recent_find(const tl_log *log, const tl_hash *leaf)
{
    uint64_t tag = leaf_tag(leaf);
    size_t i = (size_t)tag & log->rmask;
    for (; log->rtab[i].p; i = (i + 1) & log->rmask)
        if (log->rtab[i].tag == tag && memcmp(log->rtab[i].p->leaf.b, leaf->b, TL_HASH_SIZE) == 0)
            return log->rtab[i].p;
    return NULL;
}

/* Removes p from the linear-probing table (backward-shift deletion). */
static void recent_remove(tl_log *log, const log_recent_leaf *p)
{
    size_t i = (size_t)leaf_tag(&p->leaf) & log->rmask, j;
    while (log->rtab[i].p && log->rtab[i].p != p)
        i = (i + 1) & log->rmask;
    if (!log->rtab[i].p)
        return;
    j = i;
    for (;;) {
        size_t home;
        j = (j + 1) & log->rmask;
        if (!log->rtab[j].p)
            break;
        home = (size_t)log->rtab[j].tag & log->rmask;
        /* leave it if its home lies cyclically in (i, j] */
        if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
            continue;
        log->rtab[i] = log->rtab[j];
        i = j;
    }
    log->rtab[i].p = NULL;
    log->rtab[i].tag = 0;
}

/* After the commit of generation gen: its new leaves replace those of
 * generation gen - nrecent in the ring and the index. */
static void recent_record(tl_log *log, size_t nsorted, uint64_t gen)
{
    log_recent *r = &log->recent[gen % log->nrecent];
    if (r->gen != UINT64_MAX)
        for (size_t i = 0; i < r->n; i++)
            recent_remove(log, &r->e[i]);
    r->n = 0;
    for (size_t i = 0; i < nsorted; i++) {
        const log_item *it = log->sorted[i];
        log_recent_leaf *e;
        size_t j;
        if (!it->is_new)
            continue;
        e = &r->e[r->n++];
        e->leaf = it->leaf;
        e->index = it->index;
        j = (size_t)leaf_tag(&e->leaf) & log->rmask;
        while (log->rtab[j].p)
            j = (j + 1) & log->rmask;
        log->rtab[j].tag = leaf_tag(&e->leaf);
        log->rtab[j].p = e;
    }
    r->gen = gen;
}

/* Whether a leaf of the recent commits (maybe not yet in the store) has a
 * dedup key equal to leaf's. */
static int recent_shares_key(const tl_log *log, const tl_hash *leaf)
{
    if (log_dedup_prefix >= 8) {
        uint64_t tag = leaf_tag(leaf);
        for (size_t i = (size_t)tag & log->rmask; log->rtab[i].p; i = (i + 1) & log->rmask)
            if (log->rtab[i].tag == tag &&
                memcmp(log->rtab[i].p->leaf.b, leaf->b, log_dedup_prefix) == 0)
                return 1;
        return 0;
    }
    for (size_t r = 0; r < log->nrecent; r++)
        for (size_t i = 0; i < log->recent[r].n; i++)
            if (memcmp(log->recent[r].e[i].leaf.b, leaf->b, log_dedup_prefix) == 0)
                return 1;
    return 0;
}

static int list_has(const tl_buf *v, uint64_t idx)
{
    for (size_t i = 0; i < v->len; i += 8)
        if (log_get_u64(v->data + i) == idx)
            return 1;
    return 0;
}

static int list_add(tl_buf *v, uint64_t idx)
{
    uint8_t b[8];
    if (list_has(v, idx))
        return TL_OK;
    log_put_u64(b, idx);
    return tl_buf_add(v, b, 8) ? TL_ERR_NOMEM : TL_OK;
}

/* The dedup value of the key shared by the new leaves sorted[i..j): what
 * the store held (the other leaves it named), the leaves of the recent
 * commits with that key (the one in flight is not in the store yet, and a
 * plain put would drop it), then the new ones. v is scratch. */
static int put_shared_key(tl_log *log, size_t i, size_t j, tl_buf *v)
{
    uint8_t k[LOG_KEY_MAX];
    const tl_hash *leaf = &log->sorted[i]->leaf;
    int rc = TL_OK;
    tl_buf_reset(v);
    for (size_t x = i; x < j && rc == TL_OK; x++)
        for (size_t y = 0; y + 8 <= log->sorted[x]->coll_len && rc == TL_OK; y += 8)
            rc = list_add(v, log_get_u64(log->sorted[x]->coll + y));
    for (size_t r = 0; r < log->nrecent && rc == TL_OK; r++) {
        if (log->recent[r].gen == UINT64_MAX)
            continue;
        for (size_t y = 0; y < log->recent[r].n && rc == TL_OK; y++)
            if (memcmp(log->recent[r].e[y].leaf.b, leaf->b, log_dedup_prefix) == 0)
                rc = list_add(v, log->recent[r].e[y].index);
    }
    for (size_t x = i; x < j && rc == TL_OK; x++)
        if (log->sorted[x]->is_new)
            rc = list_add(v, log->sorted[x]->index);
    if (rc == TL_OK)
        rc = tl_batch_put(log->wb, k, log_key_leaf(k, leaf), v->data, v->len);
    return rc;
}

static void answer(tl_log *log, log_item **items, size_t n, int err)
{
    (void)log;
    for (size_t i = 0; i < n; i++) {
        log_item *it = items[i];
        uint64_t idx = it->dup_of ? it->dup_of->index : it->index;
        if (it->cb)
            it->cb(it->ctx, err, err == TL_OK ? idx : 0, &it->leaf);
    }
    for (size_t i = 0; i < n; i++) {
        free(items[i]->coll);
        free(items[i]);
    }
}

/* Stops signing (first reason wins); the stage's adds will get
 * TL_ERR_STOPPED from the committer, in order. */
static void stage_fail(tl_log *log, log_stage *st, const char *fmt, int rc, uint64_t a, uint64_t b)
{
    pthread_mutex_lock(&log->mu);
    log_stop_locked(log, fmt, tl_strerror(rc), (unsigned long long)a, (unsigned long long)b);
    pthread_mutex_unlock(&log->mu);
    st->fail = 1;
}

/* Sequencer thread: dedup, integrate and sign a batch into st (steps 1-3). */
static void stage_batch(tl_log *log, log_stage *st)
{
    uint8_t k[LOG_KEY_MAX];
    size_t klen;
    tl_buf v = TL_BUF_INIT, scratch = TL_BUF_INIT;
    tl_hash root;
    log_item **items = st->items;
    size_t n = st->n, nsorted = 0;
    uint64_t size0 = log->fr.size, now, gen = log->staged_gen;
    int rc, stopped;

    st->commit = 0;
    st->fail = 0;
    st->fresh = 0;
    st->dups = 0;
    st->dedup_reads = st->dedup_skips = 0;
    st->t0 = tl_mono_s();
    pthread_mutex_lock(&log->mu);
    stopped = log->stopped;
    pthread_mutex_unlock(&log->mu);
    if (stopped) {
        st->fail = 1;
        return;
    }

    /* 1. dedup: within the batch by hash table, then each first occurrence
     * against the recent commits and the store, in leaf-hash order: that
     * keeps LevelDB's memtable skiplist and blocks in the CPU cache and
     * costs about half of the same lookups in submission order (or spread
     * over the submitting threads) */
    memset(log->dedup, 0, log->dedup_cap * sizeof(*log->dedup));
    for (size_t i = 0; i < n; i++) {
        log_item *it = items[i];
        uint64_t hv;
        size_t slot;
        memcpy(&hv, it->leaf.b, 8);
        slot = (size_t)hv & (log->dedup_cap - 1);
        while (log->dedup[slot] && memcmp(log->dedup[slot]->leaf.b, it->leaf.b, TL_HASH_SIZE) != 0)
            slot = (slot + 1) & (log->dedup_cap - 1);
        if (log->dedup[slot]) {
            it->dup_of = log->dedup[slot];
            st->dups++;
            continue;
        }
        log->dedup[slot] = it;
        log->sorted[nsorted++] = it;
    }
    qsort(log->sorted, nsorted, sizeof(*log->sorted), item_cmp);
    for (size_t i = 0; i < nsorted; i++) {
        log_item *it = log->sorted[i];
        /* the store has every commit but the (up to LOG_STAGES - 1) in
         * flight: the recent index has those (and the one before) */
        const log_recent_leaf *r = recent_find(log, &it->leaf);
        if (r) {
            it->index = r->index;
            st->dups++;
            continue;
        }
        klen = log_key_leaf(k, &it->leaf);
        if (log_dfilter_may_have(log->dfilter, k, klen)) {
            st->dedup_reads++;
            rc = tl_store_get(log->store, k, klen, &v);
        } else {
            st->dedup_skips++; /* certainly not in the store */
            rc = TL_ERR_NOTFOUND;
        }
        if (rc == TL_OK) {
            /* the key is a prefix of the leaf hash: the index it names
             * counts only if the stored leaf hash there is this one */
            rc = log_dedup_verify(log->store, &v, &it->leaf, &it->index, &scratch);
            if (rc == TL_ERR_NOTFOUND) {
                it->coll = malloc(v.len);
                if (!it->coll)
                    rc = TL_ERR_NOMEM;
                else
                    memcpy(it->coll, v.data, v.len);
                it->coll_len = v.len;
            }
            if (rc == TL_OK) {
                st->dups++;
                continue;
            }
        }
        if (rc == TL_ERR_NOTFOUND) {
            it->is_new = 1;
            st->fresh++;
        } else {
            tl_buf_release(&v);
            tl_buf_release(&scratch);
            stage_fail(log, st, "dedup index lookup failed (%s) at size %llu%.0llu",
                       rc == TL_OK ? TL_ERR_CORRUPT : rc, size0, 0);
            return;
        }
    }
    tl_buf_release(&v);
    tl_buf_release(&scratch);
    if (st->fresh == 0)
        return; /* duplicates only: answered after the commits in flight */

    /* 2. integrate */
    log->wb = st->wb;
    tl_batch_clear(log->wb);
    log->emit_err = TL_OK;
    rc = TL_OK;
    for (size_t i = 0; i < n && rc == TL_OK; i++) {
        log_item *it = items[i];
        if (!it->is_new)
            continue;
        it->index = log->fr.size;
        rc = bundle_append(log, it);
        tl_frontier_append(&log->fr, log->hasher, &it->leaf, emit_node, log);
        if (rc == TL_OK)
            rc = log->emit_err;
    }
    for (size_t i = 0; i < nsorted && rc == TL_OK;) {
        size_t j = i + 1;
        if (!log->sorted[i]->is_new) {
            i++;
            continue;
        }
        /* new leaves sharing a key (sorted: adjacent) go into one value */
        while (j < nsorted &&
               memcmp(log->sorted[j]->leaf.b, log->sorted[i]->leaf.b, log_dedup_prefix) == 0)
            j++;
        if (j == i + 1 && !log->sorted[i]->coll && !recent_shares_key(log, &log->sorted[i]->leaf)) {
            uint8_t idx[8];
            log_put_u64(idx, log->sorted[i]->index);
            rc = tl_batch_put(log->wb, k, log_key_leaf(k, &log->sorted[i]->leaf), idx, 8);
        } else {
            rc = put_shared_key(log, i, j, &v);
        }
        /* before the commit: the filter may only claim more than the store */
        klen = log_key_leaf(k, &log->sorted[i]->leaf);
        log_dfilter_add(log->dfilter, k, klen);
        i = j;
    }
    for (int L = 0; L < LOG_TILE_LEVELS && rc == TL_OK; L++)
        if (log->tiles[L].dirty)
            rc = put_partial(log, L);
    if (rc == TL_OK && log->bundle_dirty) {
        uint8_t nb[8];
        tl_buf_reset(&v);
        log_put_u64(nb, log->bundle_n);
        if (tl_buf_add(&v, nb, 8) || tl_buf_add(&v, log->bundle.data, log->bundle.len) ||
            tl_batch_put(log->wb, log_key_bpart, 2, v.data, v.len))
            rc = TL_ERR_NOMEM;
    }
    tl_buf_release(&v);
    if (rc != TL_OK) {
        stage_fail(log, st, "integrating a batch failed (%s) at size %llu -> %llu", rc, size0,
                   log->fr.size);
        return;
    }

    /* 3. sign */
    now = log->clock_ms();
    if (now < log->last_ts) {
        stage_fail(log, st, "%s: the clock reads %llu ms, before the last signed timestamp %llu ms",
                   TL_ERR_CLOCK, now, log->last_ts);
        return;
    }
    tl_frontier_root(&log->fr, log->hasher, &root);
    rc = tl_store_get(log->store, k, log_key_head(k, log->fr.size), &v);
    tl_buf_release(&v);
    if (rc != TL_ERR_NOTFOUND) {
        stage_fail(log, st,
                   "refusing to sign (%s): a head for size %llu exists already (from %llu)",
                   rc == TL_OK ? TL_ERR_CONFLICT : rc, log->fr.size, size0);
        return;
    }
    rc = log_sign_head(log, log->fr.size, &root, now, &st->head);
    if (rc != TL_OK) {
        stage_fail(log, st, "signing failed (%s) at size %llu -> %llu", rc, size0, log->fr.size);
        return;
    }
    rc = log_state_encode(&log->fr, &root, &v);
    if (rc == TL_OK)
        rc = tl_batch_put(log->wb, log_key_state, 2, v.data, v.len);
    if (rc == TL_OK)
        rc = log_head_encode(&st->head, &v);
    if (rc == TL_OK)
        rc = tl_batch_put(log->wb, k, log_key_head(k, st->head.size), v.data, v.len);
    if (rc == TL_OK && log->publish_on_sign) {
        uint8_t sz[8];
        log_put_u64(sz, st->head.size);
        tl_buf_reset(&v);
        if (tl_buf_add(&v, sz, 8) || tl_buf_add(&v, st->head.note, st->head.note_len) ||
            tl_batch_put(log->wb, log_key_pub, 2, v.data, v.len))
            rc = TL_ERR_NOMEM;
    }
    tl_buf_release(&v);
    memset(&st->pubcopy, 0, sizeof(st->pubcopy));
    if (rc == TL_OK && log->publish_on_sign)
        rc = log_head_copy(&st->pubcopy, &st->head);
    if (rc != TL_OK) {
        tl_log_head_release(&st->head);
        stage_fail(log, st, "staging the commit failed (%s) at size %llu -> %llu", rc, size0,
                   log->fr.size);
        return;
    }
    log->last_ts = now;
    recent_record(log, nsorted, gen);
    log->staged_gen = gen + 1;
    for (int L = 0; L < LOG_TILE_LEVELS; L++)
        log->tiles[L].dirty = 0;
    log->bundle_dirty = 0;
    st->commit = 1;
}

/* Committer thread: the one synced write (step 4), then the answers and
 * the listeners (step 5). Stages arrive in order. */
static void commit_stage(tl_log *log, log_stage *st)
{
    int rc, stopped;
    pthread_mutex_lock(&log->mu);
    stopped = log->stopped;
    pthread_mutex_unlock(&log->mu);
    if (st->fail || stopped) {
        /* after a failure nothing staged later is trusted or written */
        if (st->commit) {
            tl_log_head_release(&st->head);
            tl_log_head_release(&st->pubcopy);
        }
        answer(log, st->items, st->n, TL_ERR_STOPPED);
        return;
    }
    if (!st->commit) {
        pthread_mutex_lock(&log->mu);
        log->st.duplicates += st->dups;
        log->st.dedup_store_reads += st->dedup_reads;
        log->st.dedup_filter_skips += st->dedup_skips;
        log->st.batch_entries_last = st->n;
        pthread_mutex_unlock(&log->mu);
        answer(log, st->items, st->n, TL_OK);
        return;
    }
    if (log->publish_on_sign)
        pthread_mutex_lock(&log->pubmu);
    rc = tl_store_write(log->store, st->wb, 1);
    if (rc != TL_OK) {
        uint64_t to = st->head.size;
        if (log->publish_on_sign)
            pthread_mutex_unlock(&log->pubmu);
        tl_log_head_release(&st->head);
        tl_log_head_release(&st->pubcopy);
        pthread_mutex_lock(&log->mu);
        log_stop_locked(log, "the commit write failed (%s) at size %llu -> %llu", tl_strerror(rc),
                        (unsigned long long)log->latest.size, (unsigned long long)to);
        pthread_mutex_unlock(&log->mu);
        answer(log, st->items, st->n, TL_ERR_STOPPED);
        return;
    }
    pthread_mutex_lock(&log->mu);
    tl_log_head_release(&log->latest);
    log->latest = st->head;
    if (log->publish_on_sign) {
        tl_log_head_release(&log->published);
        log->published = st->pubcopy;
        log->have_pub = 1;
        log->st.published_size = st->pubcopy.size;
    }
    log->st.entries_added += st->fresh;
    log->st.dedup_store_reads += st->dedup_reads;
    log->st.dedup_filter_skips += st->dedup_skips;
    log->st.duplicates += st->dups;
    log->st.batches++;
    log->st.batch_entries_last = st->n;
    log->st.commit_seconds_last = tl_mono_s() - st->t0;
    log->st.commit_seconds_total += log->st.commit_seconds_last;
    log->st.signed_size = st->head.size;
    pthread_mutex_unlock(&log->mu);
    if (log->publish_on_sign)
        pthread_mutex_unlock(&log->pubmu);
    memset(&st->head, 0, sizeof(st->head));
    memset(&st->pubcopy, 0, sizeof(st->pubcopy));

    answer(log, st->items, st->n, TL_OK);
    log_fire_listeners(log);
}

static void *seq_main(void *arg)
{
    tl_log *log = arg;
    int i = 0;
    pthread_setname_np(pthread_self(), "tl-sequencer");
    pthread_mutex_lock(&log->mu);
    for (;;) {
        log_stage *st = &log->stage[i];
        size_t n = 0;
        while (log->qlen == 0 && !log->closing)
            pthread_cond_wait(&log->cv, &log->mu);
        if (log->qlen == 0)
            break;
        if (!log->closing && !log->stopped && log->qlen < log->batch_max) {
            uint64_t dl = log->qhead->t_enq + log->interval_ms;
            struct timespec ts = {(time_t)(dl / 1000), (long)(dl % 1000) * 1000000L};
            while (log->qlen < log->batch_max && !log->closing)
                if (pthread_cond_timedwait(&log->cv, &log->mu, &ts) == ETIMEDOUT)
                    break;
        }
        while (log->stage_full[i])
            pthread_cond_wait(&log->cv_stage, &log->mu);
        while (n < log->batch_max && log->qhead) {
            st->items[n++] = log->qhead;
            log->qhead = log->qhead->next;
        }
        if (!log->qhead)
            log->qtail = NULL;
        __atomic_store_n(&log->qlen, log->qlen - n, __ATOMIC_RELAXED);
        st->n = n;
        pthread_mutex_unlock(&log->mu);
        stage_batch(log, st);
        pthread_mutex_lock(&log->mu);
        log->stage_full[i] = 1;
        pthread_cond_broadcast(&log->cv_stage);
        i = (i + 1) % LOG_STAGES;
    }
    log->a_done = 1;
    pthread_cond_broadcast(&log->cv_stage);
    pthread_mutex_unlock(&log->mu);
    return NULL;
}

static void *commit_main(void *arg)
{
    tl_log *log = arg;
    int i = 0;
    pthread_setname_np(pthread_self(), "tl-committer");
    pthread_mutex_lock(&log->mu);
    for (;;) {
        while (!log->stage_full[i] && !log->a_done)
            pthread_cond_wait(&log->cv_stage, &log->mu);
        if (!log->stage_full[i])
            break;
        pthread_mutex_unlock(&log->mu);
        commit_stage(log, &log->stage[i]);
        pthread_mutex_lock(&log->mu);
        log->stage_full[i] = 0;
        pthread_cond_broadcast(&log->cv_stage);
        i = (i + 1) % LOG_STAGES;
    }
    pthread_mutex_unlock(&log->mu);
    return NULL;
}

int log_seq_start(tl_log *log)
{
    if (pthread_create(&log->committer, NULL, commit_main, log) != 0)
        return TL_ERR_NOMEM;
    if (pthread_create(&log->thread, NULL, seq_main, log) != 0) {
        pthread_mutex_lock(&log->mu);
        log->a_done = 1;
        pthread_cond_broadcast(&log->cv_stage);
        pthread_mutex_unlock(&log->mu);
        pthread_join(log->committer, NULL);
        return TL_ERR_NOMEM;
    }
    log->thread_started = 1;
    return TL_OK;
}

void log_seq_stop(tl_log *log)
{
    if (!log->thread_started)
        return;
    pthread_mutex_lock(&log->mu);
    log->closing = 1;
    pthread_cond_signal(&log->cv);
    pthread_mutex_unlock(&log->mu);
    pthread_join(log->thread, NULL);
    pthread_join(log->committer, NULL);
    log->thread_started = 0;
}
