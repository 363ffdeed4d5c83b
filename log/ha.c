/*
 * ha.c - the high-availability controller of one log (ha.h, docs/HA.md).
 *
 * Keys, under the configured prefix P (etcd):
 *   P"leader"  the leading node's name, put with its lease; its mod revision
 *              is the term (the fencing token)
 *   P"head"    the last committed head: "<size> <root hex> <ts ms> <term>"
 *   P"terms"   one line "<term> <first size>" per takeover, oldest first: the
 *              batch that follows size s was sequenced in the last term
 *              whose first size is <= s
 * Journal objects, in the journal tile store, at journal/<term>/<size before>:
 *   "tlogd-journal/1\n", then big-endian: prev size u64, size u64, prev ts
 *   u64, ts u64, prev root 32, root 32, term u64, entries length u32 and the
 *   entries (bundle encoding), the dedup keys (33 bytes per entry), the
 *   records' length u32 and the records (tl_head_batch's encodings).
 *
 * The controller's thread: as leader, renews the lease every third of its
 * TTL and steps down when renewal fails past the lease's end, or when the
 * guard refused a head; as standby, follows the journal up to the head and
 * campaigns when no node holds the leader key. The guard (sequencer thread)
 * writes the journal object, then commits the head with one transaction.
 */
#include "log/ha.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/dec.h"
#include "common/err.h"
#include "common/hex.h"
#include "log/kind_audit.h"
#include "log/layout.h"

#define MAGIC "tlogd-journal/1\n"
#define MAGIC_LEN 16
#define KEY_MAX 320
/* the guard refuses this long before the lease's end by our clock, for the
 * drift between our clock and the cluster's */
#define LEASE_MARGIN_MS 150

typedef struct head {
    int have;
    uint64_t size, ts;
    int64_t term;
    tl_hash root;
} head;

struct tl_ha {
    tl_ha_config cfg;
    char k_leader[KEY_MAX], k_head[KEY_MAX], k_terms[KEY_MAX];
    tl_log *log;
    pthread_t th;
    int started;

    pthread_mutex_t mu; /* guards stop and the condition; the rest is atomics or below */
    pthread_cond_t cv;
    int stop;

    int leader;           /* atomic: 1 while sequencing */
    int lost;             /* atomic: the guard refused a head (step down) */
    int64_t term;         /* atomic: the leader key's revision while leading */
    int64_t lease;        /* controller thread */
    uint64_t deadline_ms; /* atomic: the lease's end by our clock */
    uint64_t takeovers;   /* atomic */
    uint64_t imports;     /* atomic */
    uint64_t guard_txns;  /* atomic */
    uint64_t guard_us;    /* atomic: time in the guard (journal + txn), us */

    /* the guard's: the head value it committed last (set at takeover) */
    pthread_mutex_t gmu;
    tl_buf gval;
    head ghead;
    tl_buf gobj;
    tl_buf gterms; /* the terms value of our takeover (the guard's erasures) */
    int said_gap;  /* controller: the journal's gap below its first term was told */

    /* import waits */
    pthread_mutex_t imu;
    pthread_cond_t icv;
    int idone, ierr;
};

/* ---- encodings ----------------------------------------------------------------- */

static void head_format(const head *h, tl_buf *out)
{
    char hex[TL_HEX_LEN(TL_HASH_SIZE) + 1];
    tl_hex_encode(h->root.b, TL_HASH_SIZE, hex);
    tl_buf_reset(out);
    tl_buf_addf(out, "%" PRIu64 " %s %" PRIu64 " %" PRId64, h->size, hex, h->ts, h->term);
}

/* Splits s[0..len) at spaces into at most max fields. */
static size_t fields(const char *s, size_t len, const char **f, size_t *fl, size_t max)
{
    size_t n = 0, i = 0;
    while (i <= len && n < max) {
        size_t j = i;
        while (j < len && s[j] != ' ')
            j++;
        f[n] = s + i;
        fl[n++] = j - i;
        i = j + 1;
    }
    return i <= len ? max + 1 : n; /* more fields than max: refused */
}

static int head_parse(const tl_buf *v, head *h)
{
    const char *f[4];
    size_t fl[4];
    uint64_t term;
    memset(h, 0, sizeof(*h));
    if (fields((const char *)v->data, v->len, f, fl, 4) != 4 ||
        tl_dec_parse_u64(f[0], fl[0], UINT64_MAX, &h->size) != TL_OK ||
        tl_hex_decode(f[1], fl[1], h->root.b, TL_HASH_SIZE) != TL_OK ||
        tl_dec_parse_u64(f[2], fl[2], UINT64_MAX, &h->ts) != TL_OK ||
        tl_dec_parse_u64(f[3], fl[3], INT64_MAX, &term) != TL_OK)
        return TL_ERR_INVALID;
    h->term = (int64_t)term;
    h->have = 1;
    return TL_OK;
}

/* The term whose journal holds the batch after size, from the terms value:
 * the last line whose first size is <= size. TL_ERR_NOTFOUND if none. */
static int term_for(const tl_buf *terms, uint64_t size, int64_t *term)
{
    const char *p = (const char *)terms->data, *end = p + terms->len;
    int found = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *f[2];
        size_t fl[2];
        uint64_t t, first;
        if (!nl || fields(p, (size_t)(nl - p), f, fl, 2) != 2 ||
            tl_dec_parse_u64(f[0], fl[0], INT64_MAX, &t) != TL_OK ||
            tl_dec_parse_u64(f[1], fl[1], UINT64_MAX, &first) != TL_OK)
            return TL_ERR_INVALID;
        if (first <= size) {
            *term = (int64_t)t;
            found = 1;
        }
        p = nl + 1;
    }
    return found ? TL_OK : TL_ERR_NOTFOUND;
}

static void journal_path(char *out, size_t cap, int64_t term, uint64_t size)
{
    snprintf(out, cap, "journal/%" PRId64 "/%" PRIu64, term, size);
}

static void put_u32(tl_buf *b, size_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    tl_buf_add(b, x, 4);
}

static void put_u64(tl_buf *b, uint64_t v)
{
    uint8_t x[8];
    tl_layout_put_u64(x, v);
    tl_buf_add(b, x, 8);
}

static int journal_encode(const tl_head_batch *hb, int64_t term, tl_buf *out)
{
    size_t n = 0;
    for (size_t off = 0; off + 2 <= hb->entries_len; n++)
        off += 2 + (((size_t)hb->entries[off] << 8) | hb->entries[off + 1]);
    tl_buf_reset(out);
    tl_buf_add(out, MAGIC, MAGIC_LEN);
    put_u64(out, hb->prev_size);
    put_u64(out, hb->size);
    put_u64(out, hb->prev_ts);
    put_u64(out, hb->ts);
    tl_buf_add(out, hb->prev_root.b, TL_HASH_SIZE);
    tl_buf_add(out, hb->root.b, TL_HASH_SIZE);
    put_u64(out, (uint64_t)term);
    put_u32(out, hb->entries_len);
    tl_buf_add(out, hb->entries, hb->entries_len);
    tl_buf_add(out, hb->keys, n * 33);
    put_u32(out, hb->recs_len);
    if (hb->recs_len)
        tl_buf_add(out, hb->recs, hb->recs_len);
    return n == hb->size - hb->prev_size && out->data ? TL_OK : TL_ERR_NOMEM;
}

typedef struct journal {
    uint64_t prev_size, size, prev_ts, ts;
    tl_hash prev_root, root;
    int64_t term;
    tl_import imp;
} journal;

static uint32_t get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Parses a journal object (j borrows from v). Every length is checked. */
static int journal_parse(const tl_buf *v, journal *j)
{
    const uint8_t *p = v->data;
    size_t len = v->len, off = MAGIC_LEN + 4 * 8 + 2 * TL_HASH_SIZE + 8;
    size_t elen, n = 0, rlen;
    if (len < off + 4 || memcmp(p, MAGIC, MAGIC_LEN) != 0)
        return TL_ERR_INVALID;
    j->prev_size = tl_layout_get_u64(p + MAGIC_LEN);
    j->size = tl_layout_get_u64(p + MAGIC_LEN + 8);
    j->prev_ts = tl_layout_get_u64(p + MAGIC_LEN + 16);
    j->ts = tl_layout_get_u64(p + MAGIC_LEN + 24);
    memcpy(j->prev_root.b, p + MAGIC_LEN + 32, TL_HASH_SIZE);
    memcpy(j->root.b, p + MAGIC_LEN + 64, TL_HASH_SIZE);
    j->term = (int64_t)tl_layout_get_u64(p + MAGIC_LEN + 96);
    elen = get_u32(p + off);
    off += 4;
    if (len - off < elen || j->size <= j->prev_size)
        return TL_ERR_INVALID;
    for (size_t e = 0; e < elen; n++) {
        size_t l;
        if (elen - e < 2)
            return TL_ERR_INVALID;
        l = ((size_t)p[off + e] << 8) | p[off + e + 1];
        if (l == 0 || elen - e - 2 < l)
            return TL_ERR_INVALID;
        e += 2 + l;
    }
    if (n != j->size - j->prev_size)
        return TL_ERR_INVALID;
    j->imp.entries = p + off;
    j->imp.entries_len = elen;
    off += elen;
    if (len - off < n * 33 + 4)
        return TL_ERR_INVALID;
    j->imp.keys = p + off;
    off += n * 33;
    rlen = get_u32(p + off);
    off += 4;
    if (len - off != rlen)
        return TL_ERR_INVALID;
    j->imp.recs = p + off;
    j->imp.recs_len = rlen;
    j->imp.size = j->size;
    j->imp.time_ms = j->ts;
    j->imp.root = j->root;
    return TL_OK;
}

/* ---- erasure: the journal's copy of an erased body ------------------------------- */

/* One record of a records block at *off: key and value (borrowed). 0 at
 * the end, -1 when malformed. */
static int next_rec(const uint8_t *p, size_t len, size_t *off, const uint8_t **k, size_t *kl,
                    const uint8_t **v, size_t *vl)
{
    size_t o = *off;
    if (o >= len)
        return 0;
    if (len - o < 2)
        return -1;
    *kl = ((size_t)p[o] << 8) | p[o + 1];
    o += 2;
    if (len - o < *kl + 4)
        return -1;
    *k = p + o;
    *vl = get_u32(p + o + *kl);
    o += *kl + 4;
    if (len - o < *vl)
        return -1;
    *v = p + o;
    *off = o + *vl;
    return 1;
}

/* Puts the tombstone (tomb, its key) over the erased body of target in the
 * journal object of the batch that added target (terms: the terms value).
 * The object keeps everything else, so a replay still takes it: the entry
 * (the record with its commitment) stays, the body is the tombstone. */
static void scrub_one(tl_ha *ha, const tl_buf *terms, uint64_t target, const uint8_t *key,
                      size_t klen, const uint8_t *tomb, size_t tlen)
{
    char path[96];
    uint64_t start;
    int64_t term;
    tl_buf obj = TL_BUF_INIT, out = TL_BUF_INIT;
    journal j;
    const char *what = NULL;
    int rc = tl_log_batch_start(ha->log, target, &start);
    if (rc == TL_OK)
        rc = term_for(terms, start, &term);
    if (rc != TL_OK) {
        fprintf(stderr, "tlogd: ha: erasure of %" PRIu64 ": its batch is not in the journal (%s)\n",
                target, tl_strerror(rc));
        return;
    }
    journal_path(path, sizeof path, term, start);
    rc = tl_tilestore_get(ha->cfg.journal, path, &obj);
    if (rc == TL_OK)
        rc = journal_parse(&obj, &j);
    if (rc == TL_OK && (j.prev_size != start || target >= j.size))
        rc = TL_ERR_CORRUPT;
    if (rc == TL_OK) {
        size_t roff = (size_t)(j.imp.recs - obj.data), off = 0;
        const uint8_t *k, *v;
        size_t kl, vl;
        int n, changed = 0;
        tl_buf_add(&out, obj.data, roff);
        while ((n = next_rec(j.imp.recs, j.imp.recs_len, &off, &k, &kl, &v, &vl)) == 1) {
            int hit = kl == klen && memcmp(k, key, klen) == 0;
            uint8_t h[6] = {(uint8_t)(kl >> 8), (uint8_t)kl};
            size_t l = hit ? tlen : vl;
            h[2] = (uint8_t)(l >> 24);
            h[3] = (uint8_t)(l >> 16);
            h[4] = (uint8_t)(l >> 8);
            h[5] = (uint8_t)l;
            changed |= hit && (vl != tlen || memcmp(v, tomb, tlen) != 0);
            tl_buf_add(&out, h, 2);
            tl_buf_add(&out, k, kl);
            tl_buf_add(&out, h + 2, 4);
            tl_buf_add(&out, hit ? tomb : v, l);
        }
        if (n < 0)
            rc = TL_ERR_CORRUPT;
        else if (!out.data)
            rc = TL_ERR_NOMEM;
        else if (changed) {
            size_t rl = out.len - roff;
            uint8_t *p = (uint8_t *)out.data + roff - 4;
            p[0] = (uint8_t)(rl >> 24);
            p[1] = (uint8_t)(rl >> 16);
            p[2] = (uint8_t)(rl >> 8);
            p[3] = (uint8_t)rl;
            rc = tl_tilestore_replace(ha->cfg.journal, path, out.data, out.len);
            if (rc == TL_OK)
                rc = tl_tilestore_sync(ha->cfg.journal);
            what = "rewritten";
        }
    }
    if (rc != TL_OK)
        fprintf(stderr, "tlogd: ha: erasure of %" PRIu64 ": rewriting %s in %s: %s\n", target, path,
                ha->cfg.journal->name, tl_strerror(rc));
    else if (what)
        fprintf(stderr, "tlogd: ha: erasure of %" PRIu64 ": %s in %s %s\n", target, path,
                ha->cfg.journal->name, what);
    tl_buf_release(&obj);
    tl_buf_release(&out);
}

/* The erasures among a batch's records (recs): each erased body's journal
 * copy gets the tombstone (scrub_one); with compact, this node's own store
 * also drops the body's bytes from its files (the import committed the
 * tombstone already). Best effort: every node that replays the erasure
 * does it again, so a failure here is mended by the next one. */
static void scrub(tl_ha *ha, const tl_buf *terms, const uint8_t *recs, size_t len, int compact)
{
    size_t off = 0;
    const uint8_t *k, *v;
    size_t kl, vl;
    uint64_t target;
    while (next_rec(recs, len, &off, &k, &kl, &v, &vl) == 1) {
        if (!tl_audit_rec_tombstone(k, kl, v, vl, &target))
            continue;
        scrub_one(ha, terms, target, k, kl, v, vl);
        if (compact)
            tl_log_compact_key(ha->log, k, kl);
    }
}

/* ---- the guard (sequencer thread) ------------------------------------------------ */

static int guard_check(void *ctx, const tl_head_batch *b, char *why, size_t cap)
{
    tl_ha *ha = ctx;
    char path[96];
    head nh;
    tl_buf nv = TL_BUF_INIT;
    int rc;
    double t0 = tl_mono_s();
    if (!__atomic_load_n(&ha->leader, __ATOMIC_SEQ_CST)) {
        snprintf(why, cap, "this node is not the leader");
        return TL_ERR_STOPPED;
    }
    if (tl_mono_ms() + LEASE_MARGIN_MS >= __atomic_load_n(&ha->deadline_ms, __ATOMIC_SEQ_CST)) {
        snprintf(why, cap, "the lease may have ended (no renewal answered in time)");
        __atomic_store_n(&ha->lost, 1, __ATOMIC_SEQ_CST);
        return TL_ERR_STOPPED;
    }
    pthread_mutex_lock(&ha->gmu);
    int64_t term = __atomic_load_n(&ha->term, __ATOMIC_SEQ_CST);
    if (b->prev_size != ha->ghead.size ||
        memcmp(b->prev_root.b, ha->ghead.root.b, TL_HASH_SIZE) != 0) {
        snprintf(why, cap, "the batch follows size %" PRIu64 ", the committed head is %" PRIu64,
                 b->prev_size, ha->ghead.size);
        rc = TL_ERR_CONFLICT;
        goto out;
    }
    /* 1. the batch, durable off this node */
    rc = journal_encode(b, term, &ha->gobj);
    journal_path(path, sizeof path, term, b->prev_size);
    if (rc == TL_OK)
        rc = tl_tilestore_put(ha->cfg.journal, path, ha->gobj.data, ha->gobj.len);
    if (rc == TL_OK)
        rc = tl_tilestore_sync(ha->cfg.journal);
    if (rc != TL_OK) {
        snprintf(why, cap, "writing %s to %s: %s", path, ha->cfg.journal->name, tl_strerror(rc));
        goto out;
    }
    /* 2. the head, if the term and the previous head are still what we hold */
    nh.have = 1;
    nh.size = b->size;
    nh.ts = b->ts;
    nh.root = b->root;
    nh.term = term;
    head_format(&nh, &nv);
    tl_cons_cmp cmps[2] = {
        {ha->k_leader, TL_CONS_MOD, term, NULL, 0},
        {ha->k_head, TL_CONS_VALUE, 0, ha->gval.data, ha->gval.len},
    };
    tl_cons_put put = {ha->k_head, nv.data, nv.len, 0};
    rc = tl_cons_txn(ha->cfg.gcons, cmps, 2, &put, 1, NULL);
    if (rc == TL_OK) {
        tl_buf tmp = ha->gval;
        ha->gval = nv;
        nv = tmp;
        ha->ghead = nh;
        __atomic_add_fetch(&ha->guard_txns, 1, __ATOMIC_RELAXED);
        if (b->recs_len)
            scrub(ha, &ha->gterms, b->recs, b->recs_len, 0);
    } else {
        snprintf(why, cap, "%s",
                 rc == TL_ERR_CONFLICT
                     ? "fenced: the leader key or the head in etcd is no longer ours"
                     : "etcd did not answer the head's transaction (it may or may not have "
                       "applied): stepping down");
    }
out:
    pthread_mutex_unlock(&ha->gmu);
    tl_buf_release(&nv);
    if (rc != TL_OK) {
        __atomic_store_n(&ha->leader, 0, __ATOMIC_SEQ_CST);
        __atomic_store_n(&ha->lost, 1, __ATOMIC_SEQ_CST);
    }
    __atomic_add_fetch(&ha->guard_us, (uint64_t)((tl_mono_s() - t0) * 1e6), __ATOMIC_RELAXED);
    return rc;
}

/* ---- following (controller thread) ------------------------------------------------ */

static void import_done(void *ctx, int err, const tl_sub_result *res, size_t n, size_t bad)
{
    tl_ha *ha = ctx;
    (void)res;
    (void)n;
    (void)bad;
    pthread_mutex_lock(&ha->imu);
    ha->idone = 1;
    ha->ierr = err;
    pthread_cond_broadcast(&ha->icv);
    pthread_mutex_unlock(&ha->imu);
}

static int stopping(tl_ha *ha)
{
    pthread_mutex_lock(&ha->mu);
    int s = ha->stop;
    pthread_mutex_unlock(&ha->mu);
    return s;
}

/* Replays the journal from the log's size up to the head in etcd (*hd gets
 * it; hd->have 0 when there is none). TL_OK once the log holds it; an error
 * when a batch is missing (retry later) or does not replay (the log stops). */
static int follow(tl_ha *ha, head *hd, tl_buf *hval)
{
    tl_cons_kv kv;
    tl_buf terms = TL_BUF_INIT, obj = TL_BUF_INIT;
    tl_log_head local;
    int rc;
    tl_cons_kv_init(&kv);
    memset(hd, 0, sizeof(*hd));
    rc = tl_cons_get(ha->cfg.cons, ha->k_head, &kv);
    if (rc == TL_ERR_NOTFOUND) {
        tl_buf_reset(hval);
        rc = TL_OK;
        goto out;
    }
    if (rc == TL_OK) {
        tl_buf_reset(hval);
        tl_buf_add(hval, kv.value.data, kv.value.len);
        rc = head_parse(&kv.value, hd);
        if (rc != TL_OK)
            fprintf(stderr, "tlogd: ha: the head in etcd (%s) does not parse\n", ha->k_head);
    }
    while (rc == TL_OK && !stopping(ha)) {
        rc = tl_log_latest_signed(ha->log, &local);
        if (rc != TL_OK)
            break;
        uint64_t size = local.size;
        tl_hash root = local.root;
        tl_log_head_release(&local);
        if (size >= hd->size) {
            if (size > hd->size || memcmp(root.b, hd->root.b, TL_HASH_SIZE) != 0) {
                char why[256];
                snprintf(why, sizeof why,
                         "this node's log (size %" PRIu64 ") is not the one in etcd (size %" PRIu64
                         "): it cannot follow; rebuild its folder (tlogd init --keys, docs/HA.md)",
                         size, hd->size);
                tl_log_stop_signing(ha->log, why);
                rc = TL_ERR_CONFLICT;
            }
            break;
        }
        int64_t term = 0;
        char path[96];
        journal j;
        if (terms.len == 0) {
            rc = tl_cons_get(ha->cfg.cons, ha->k_terms, &kv);
            if (rc == TL_OK)
                rc = tl_buf_add(&terms, kv.value.data, kv.value.len);
            if (rc != TL_OK)
                break;
        }
        rc = term_for(&terms, size, &term);
        if (rc == TL_ERR_NOTFOUND && !ha->said_gap) {
            fprintf(stderr,
                    "tlogd: ha: the journal begins after size %" PRIu64
                    " (the first term in %s starts later): this node cannot replay the log "
                    "from it; start it from a copy of another node's folder\n",
                    size, ha->k_terms);
            ha->said_gap = 1;
        }
        if (rc != TL_OK)
            break;
        journal_path(path, sizeof path, term, size);
        rc = tl_tilestore_get(ha->cfg.journal, path, &obj);
        if (rc == TL_OK)
            rc = journal_parse(&obj, &j);
        if (rc == TL_OK &&
            (j.prev_size != size || j.term != term || memcmp(j.prev_root.b, root.b, TL_HASH_SIZE)))
            rc = TL_ERR_CONFLICT;
        if (rc != TL_OK) {
            fprintf(stderr, "tlogd: ha: following: %s in %s: %s\n", path, ha->cfg.journal->name,
                    rc == TL_ERR_CONFLICT ? "does not follow this node's head" : tl_strerror(rc));
            break;
        }
        pthread_mutex_lock(&ha->imu);
        ha->idone = 0;
        pthread_mutex_unlock(&ha->imu);
        rc = tl_log_import(ha->log, &j.imp, import_done, ha);
        if (rc != TL_OK)
            break;
        pthread_mutex_lock(&ha->imu);
        while (!ha->idone)
            pthread_cond_wait(&ha->icv, &ha->imu);
        rc = ha->ierr;
        pthread_mutex_unlock(&ha->imu);
        if (rc != TL_OK)
            break;
        __atomic_add_fetch(&ha->imports, 1, __ATOMIC_RELAXED);
        if (j.imp.recs_len)
            scrub(ha, &terms, j.imp.recs, j.imp.recs_len, 1);
        if (ha->lease && __atomic_load_n(&ha->imports, __ATOMIC_RELAXED) % 16 == 0)
            tl_cons_lease_keepalive(ha->cfg.cons, ha->lease); /* a long catch-up at takeover */
    }
out:
    tl_cons_kv_release(&kv);
    tl_buf_release(&terms);
    tl_buf_release(&obj);
    return rc;
}

/* ---- leading (controller thread) ----------------------------------------------------- */

static void step_down(tl_ha *ha, const char *why)
{
    char err[256];
    int was = __atomic_exchange_n(&ha->leader, 0, __ATOMIC_SEQ_CST);
    if (ha->lease) {
        tl_cons_lease_revoke(ha->cfg.cons, ha->lease);
        ha->lease = 0;
    }
    __atomic_store_n(&ha->term, 0, __ATOMIC_SEQ_CST);
    tl_log_set_standby(ha->log, 1);
    if (was || __atomic_load_n(&ha->lost, __ATOMIC_SEQ_CST))
        fprintf(stderr, "tlogd: ha: %s stands by: %s\n", ha->cfg.node, why);
    /* the sequencer's state may hold batches no head covers: start it again
     * from the store (a standby) */
    if (tl_log_restart(ha->log, err, sizeof err) != TL_OK)
        fprintf(stderr, "tlogd: ha: %s\n", err);
    __atomic_store_n(&ha->lost, 0, __ATOMIC_SEQ_CST);
}

/* Takes the leader key if nobody holds it, catches up, then leads. */
static void campaign(tl_ha *ha)
{
    tl_cons_kv kv;
    tl_buf hval = TL_BUF_INIT, nv = TL_BUF_INIT, tval = TL_BUF_INIT;
    head hd, mine;
    int64_t lease = 0, term = 0;
    unsigned granted = 0;
    uint64_t t0;
    tl_log_head local;
    int rc, have_terms;
    tl_cons_kv_init(&kv);
    rc = tl_cons_get(ha->cfg.cons, ha->k_leader, &kv);
    if (rc != TL_ERR_NOTFOUND)
        goto out; /* someone leads (or etcd is away) */
    t0 = tl_mono_ms();
    rc = tl_cons_lease_grant(ha->cfg.cons, ha->cfg.lease_ms, &lease, &granted);
    if (rc != TL_OK)
        goto out;
    tl_cons_cmp c0 = {ha->k_leader, TL_CONS_CREATE, 0, NULL, 0};
    tl_cons_put p0 = {ha->k_leader, ha->cfg.node, strlen(ha->cfg.node), lease};
    rc = tl_cons_txn(ha->cfg.cons, &c0, 1, &p0, 1, &term);
    if (rc != TL_OK) {
        tl_cons_lease_revoke(ha->cfg.cons, lease);
        goto out;
    }
    ha->lease = lease;
    __atomic_store_n(&ha->deadline_ms, t0 + granted, __ATOMIC_SEQ_CST);
    /* catch up to the head in etcd before signing anything */
    rc = follow(ha, &hd, &hval);
    if (rc == TL_OK)
        rc = tl_log_latest_signed(ha->log, &local);
    if (rc != TL_OK) {
        fprintf(stderr, "tlogd: ha: %s won term %" PRId64 " but cannot catch up: %s\n",
                ha->cfg.node, term, tl_strerror(rc));
        step_down(ha, "catching up failed");
        goto out;
    }
    mine.have = 1;
    mine.size = local.size;
    mine.root = local.root;
    mine.ts = local.timestamp_ms;
    mine.term = term;
    tl_log_head_release(&local);
    head_format(&mine, &nv);
    rc = tl_cons_get(ha->cfg.cons, ha->k_terms, &kv);
    have_terms = rc == TL_OK;
    if (rc == TL_OK || rc == TL_ERR_NOTFOUND)
        rc = TL_OK;
    if (have_terms)
        tl_buf_add(&tval, kv.value.data, kv.value.len);
    tl_buf_addf(&tval, "%" PRId64 " %" PRIu64 "\n", term, mine.size);
    {
        tl_cons_cmp c[3] = {
            {ha->k_leader, TL_CONS_MOD, term, NULL, 0},
            hd.have ? (tl_cons_cmp){ha->k_head, TL_CONS_VALUE, 0, hval.data, hval.len}
                    : (tl_cons_cmp){ha->k_head, TL_CONS_CREATE, 0, NULL, 0},
            have_terms ? (tl_cons_cmp){ha->k_terms, TL_CONS_VALUE, 0, kv.value.data, kv.value.len}
                       : (tl_cons_cmp){ha->k_terms, TL_CONS_CREATE, 0, NULL, 0},
        };
        tl_cons_put p[2] = {{ha->k_head, nv.data, nv.len, 0},
                            {ha->k_terms, tval.data, tval.len, 0}};
        if (rc == TL_OK)
            rc = tl_cons_txn(ha->cfg.cons, c, 3, p, 2, NULL);
    }
    if (rc != TL_OK) {
        step_down(ha, "the takeover transaction did not apply");
        goto out;
    }
    pthread_mutex_lock(&ha->gmu);
    tl_buf_reset(&ha->gval);
    tl_buf_add(&ha->gval, nv.data, nv.len);
    tl_buf_reset(&ha->gterms);
    tl_buf_add(&ha->gterms, tval.data, tval.len);
    ha->ghead = mine;
    pthread_mutex_unlock(&ha->gmu);
    __atomic_store_n(&ha->term, term, __ATOMIC_SEQ_CST);
    __atomic_store_n(&ha->lost, 0, __ATOMIC_SEQ_CST);
    __atomic_store_n(&ha->leader, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&ha->takeovers, 1, __ATOMIC_RELAXED);
    tl_log_set_standby(ha->log, 0);
    fprintf(stderr, "tlogd: ha: %s leads (term %" PRId64 ", lease %u ms) from size %" PRIu64 "\n",
            ha->cfg.node, term, granted, mine.size);
out:
    tl_cons_kv_release(&kv);
    tl_buf_release(&hval);
    tl_buf_release(&nv);
    tl_buf_release(&tval);
}

static void *ha_main(void *arg)
{
    tl_ha *ha = arg;
    unsigned tick = ha->cfg.lease_ms / 3 ? ha->cfg.lease_ms / 3 : 1;
    tl_buf hval = TL_BUF_INIT;
    pthread_setname_np(pthread_self(), "tl-ha");
    while (!stopping(ha)) {
        uint64_t t0 = tl_mono_ms();
        if (__atomic_load_n(&ha->leader, __ATOMIC_SEQ_CST)) {
            tl_log_stats st;
            tl_log_get_stats(ha->log, &st);
            int rc = tl_cons_lease_keepalive(ha->cfg.cons, ha->lease);
            if (rc == TL_OK)
                __atomic_store_n(&ha->deadline_ms, t0 + ha->cfg.lease_ms, __ATOMIC_SEQ_CST);
            if (rc == TL_ERR_NOTFOUND)
                step_down(ha, "the lease ended");
            else if (tl_mono_ms() >= __atomic_load_n(&ha->deadline_ms, __ATOMIC_SEQ_CST))
                step_down(ha, "no lease renewal answered before its end");
            else if (__atomic_load_n(&ha->lost, __ATOMIC_SEQ_CST) || st.stopped)
                step_down(ha, st.stopped ? st.stop_reason : "the guard refused a head");
        } else {
            tl_log_stats st;
            head hd;
            tl_log_get_stats(ha->log, &st);
            if (st.stopped && __atomic_load_n(&ha->lost, __ATOMIC_SEQ_CST))
                step_down(ha, st.stop_reason);
            else if (!st.stopped && follow(ha, &hd, &hval) == TL_OK && !ha->cfg.never_lead)
                campaign(ha);
        }
        pthread_mutex_lock(&ha->mu);
        uint64_t dl = t0 + tick;
        struct timespec ts = {(time_t)(dl / 1000), (long)(dl % 1000) * 1000000L};
        if (!ha->stop && tl_mono_ms() < dl)
            pthread_cond_timedwait(&ha->cv, &ha->mu, &ts);
        pthread_mutex_unlock(&ha->mu);
    }
    tl_buf_release(&hval);
    return NULL;
}

/* ---- life ----------------------------------------------------------------------------- */

int tl_ha_new(const tl_ha_config *cfg, tl_ha **out, char *err, size_t cap)
{
    tl_ha *ha = calloc(1, sizeof(*ha));
    pthread_condattr_t ca;
    *out = NULL;
    if (!ha) {
        tl_cons_close(cfg->cons);
        tl_cons_close(cfg->gcons);
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    ha->cfg = *cfg;
    if (!ha->cfg.lease_ms)
        ha->cfg.lease_ms = 1000;
    pthread_mutex_init(&ha->mu, NULL);
    pthread_mutex_init(&ha->gmu, NULL);
    pthread_mutex_init(&ha->imu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ha->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&ha->icv, NULL);
    tl_buf_init(&ha->gval);
    tl_buf_init(&ha->gobj);
    tl_buf_init(&ha->gterms);
    *out = ha;
    return TL_OK;
}

tl_head_guard tl_ha_guard(tl_ha *ha)
{
    tl_head_guard g = {guard_check, ha};
    return g;
}

int tl_ha_start(tl_ha *ha, tl_log *log, char *err, size_t cap)
{
    char pre[KEY_MAX - 8];
    ha->log = log;
    if (ha->cfg.prefix)
        snprintf(pre, sizeof pre, "%s", ha->cfg.prefix);
    else
        snprintf(pre, sizeof pre, "tlogd/%s/", tl_log_origin(log));
    snprintf(ha->k_leader, KEY_MAX, "%sleader", pre);
    snprintf(ha->k_head, KEY_MAX, "%shead", pre);
    snprintf(ha->k_terms, KEY_MAX, "%sterms", pre);
    if (pthread_create(&ha->th, NULL, ha_main, ha) != 0) {
        snprintf(err, cap, "cannot start the high-availability thread");
        return TL_ERR_NOMEM;
    }
    ha->started = 1;
    return TL_OK;
}

void tl_ha_stop(tl_ha *ha)
{
    if (!ha || !ha->started)
        return;
    pthread_mutex_lock(&ha->mu);
    ha->stop = 1;
    pthread_cond_broadcast(&ha->cv);
    pthread_mutex_unlock(&ha->mu);
    pthread_join(ha->th, NULL);
    ha->started = 0;
}

void tl_ha_free(tl_ha *ha)
{
    if (!ha)
        return;
    tl_ha_stop(ha);
    __atomic_store_n(&ha->leader, 0, __ATOMIC_SEQ_CST);
    if (ha->lease) /* hand over now rather than at the lease's end */
        tl_cons_lease_revoke(ha->cfg.cons, ha->lease);
    tl_cons_close(ha->cfg.cons);
    tl_cons_close(ha->cfg.gcons);
    tl_buf_release(&ha->gval);
    tl_buf_release(&ha->gobj);
    tl_buf_release(&ha->gterms);
    pthread_cond_destroy(&ha->cv);
    pthread_cond_destroy(&ha->icv);
    pthread_mutex_destroy(&ha->mu);
    pthread_mutex_destroy(&ha->gmu);
    pthread_mutex_destroy(&ha->imu);
    free(ha);
}

int tl_ha_leader(tl_ha *ha)
{
    return __atomic_load_n(&ha->leader, __ATOMIC_SEQ_CST);
}

void tl_ha_metrics(tl_ha *ha, tl_buf *out)
{
    uint64_t n = __atomic_load_n(&ha->guard_txns, __ATOMIC_RELAXED);
    tl_buf_addf(out,
                "# HELP tlogd_ha_leader 1 while this node sequences the log.\n"
                "# TYPE tlogd_ha_leader gauge\ntlogd_ha_leader %d\n"
                "# HELP tlogd_ha_term The leader key's revision while this node leads.\n"
                "# TYPE tlogd_ha_term gauge\ntlogd_ha_term %" PRId64 "\n"
                "# TYPE tlogd_ha_takeovers_total counter\ntlogd_ha_takeovers_total %" PRIu64 "\n"
                "# HELP tlogd_ha_imported_batches_total Batches replayed from the journal.\n"
                "# TYPE tlogd_ha_imported_batches_total counter\n"
                "tlogd_ha_imported_batches_total %" PRIu64 "\n"
                "# HELP tlogd_ha_guard_seconds Journal write and head transaction per batch.\n"
                "# TYPE tlogd_ha_guard_seconds summary\n"
                "tlogd_ha_guard_seconds_sum %.6f\ntlogd_ha_guard_seconds_count %" PRIu64 "\n",
                tl_ha_leader(ha), __atomic_load_n(&ha->term, __ATOMIC_SEQ_CST),
                __atomic_load_n(&ha->takeovers, __ATOMIC_RELAXED),
                __atomic_load_n(&ha->imports, __ATOMIC_RELAXED),
                (double)__atomic_load_n(&ha->guard_us, __ATOMIC_RELAXED) / 1e6, n);
}
