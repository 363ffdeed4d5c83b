/*
 * test_ha.c - the seams of high availability (docs/HA.md), CUnit:
 *  - the head guard (log.h): it sees each batch's heads before and after and
 *    its entries; a refusal refuses the batch, signs nothing, stops signing;
 *  - imports: a standby replays another log's batches (what the guard saw)
 *    into the same signed heads; an import that names another root is
 *    refused and stops the standby; a standby refuses submissions;
 *  - tl_log_restart: a log stopped by its guard starts again, a standby, from
 *    its store;
 *  - tl_log_create_keys (tlogd init --keys): a log made from another's keys
 *    replays its batches from size 0; tl_log_batch_start finds each index's
 *    batch;
 *  - the in-memory consensus store (consensus.h): revisions, leases that end
 *    with their keys, compare-then-put transactions, cut handles.
 * The etcd client and the controller run against a real etcd cluster in
 * tests/ha/test_ha.py.
 */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "log/consensus.h"
#include "log/log.h"
#include "signer/logsigner.h"
#include "store/store.h"

/* ---- a guard that records what it saw and refuses on demand ---------------- */

#define MAX_SEEN 64

typedef struct seen {
    tl_import imp;
    uint8_t *entries, *keys, *recs;
    uint64_t prev_size;
    tl_hash prev_root;
} seen;

typedef struct rec_guard {
    pthread_mutex_t mu;
    int refuse;
    int calls;
    seen s[MAX_SEEN];
    int n;
} rec_guard;

static int rec_check(void *ctx, const tl_head_batch *b, char *why, size_t cap)
{
    rec_guard *g = ctx;
    size_t nent = (size_t)(b->size - b->prev_size);
    int rc = TL_OK;
    pthread_mutex_lock(&g->mu);
    g->calls++;
    if (g->refuse) {
        snprintf(why, cap, "refused by the test");
        rc = TL_ERR_CONFLICT;
    } else if (g->n < MAX_SEEN) {
        seen *s = &g->s[g->n++];
        s->prev_size = b->prev_size;
        s->prev_root = b->prev_root;
        s->entries = malloc(b->entries_len);
        s->keys = malloc(nent * 33);
        s->recs = malloc(b->recs_len + 1);
        memcpy(s->entries, b->entries, b->entries_len);
        memcpy(s->keys, b->keys, nent * 33);
        if (b->recs_len)
            memcpy(s->recs, b->recs, b->recs_len);
        s->imp = (tl_import){b->size,        b->ts,   b->root, s->entries,
                             b->entries_len, s->keys, s->recs, b->recs_len};
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

static void rec_free(rec_guard *g)
{
    for (int i = 0; i < g->n; i++) {
        free(g->s[i].entries);
        free(g->s[i].keys);
        free(g->s[i].recs);
    }
}

/* ---- helpers --------------------------------------------------------------- */

typedef struct waitres {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, err;
    uint64_t index;
} waitres;

static void add_cb(void *ctx, int err, uint64_t index, const tl_hash *leaf)
{
    waitres *w = ctx;
    (void)leaf;
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    w->err = err;
    w->index = index;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void sub_cb(void *ctx, int err, const tl_sub_result *res, size_t n, size_t bad)
{
    (void)n;
    (void)bad;
    add_cb(ctx, err, err == TL_OK && res ? res[0].index : 0, NULL);
}

static int wait_done(waitres *w)
{
    pthread_mutex_lock(&w->mu);
    while (!w->done)
        pthread_cond_wait(&w->cv, &w->mu);
    int e = w->err;
    w->done = 0;
    pthread_mutex_unlock(&w->mu);
    return e;
}

/* Adds entry and waits: the callback's error, or the submission's. */
static int add_wait(tl_log *log, const char *entry, uint64_t *index)
{
    waitres w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
    int rc = tl_log_add(log, entry, strlen(entry), add_cb, &w);
    if (rc != TL_OK)
        return rc;
    rc = wait_done(&w);
    if (index)
        *index = w.index;
    return rc;
}

static int import_wait(tl_log *log, const tl_import *imp)
{
    waitres w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
    int rc = tl_log_import(log, imp, sub_cb, &w);
    return rc != TL_OK ? rc : wait_done(&w);
}

static char keydir[] = "/tmp/tlogd-test-ha-XXXXXX";

/* A log on a fresh memory store with the test's keys. */
static tl_log *open_mem(tl_head_guard guard, int standby)
{
    char err[256], dir[600];
    tl_log_config cfg;
    tl_log *log = NULL;
    tl_store *mem = NULL;
    tl_logsigner *signer = NULL;
    snprintf(dir, sizeof dir, "%s/log", keydir);
    CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&mem), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_logsigner_open_local(dir, &signer, err, sizeof err), TL_OK);
    memset(&cfg, 0, sizeof cfg);
    cfg.dir = dir;
    cfg.store = mem;
    cfg.signer = signer;
    cfg.publish_on_sign = 1;
    cfg.batch_max = 16;
    cfg.batch_interval_ms = 1;
    cfg.guard = guard;
    cfg.standby = standby;
    CU_ASSERT_EQUAL_FATAL(tl_log_open(&cfg, &log, err, sizeof err), TL_OK);
    return log;
}

/* ---- tests ------------------------------------------------------------------- */

static void test_guard_sees_and_refuses(void)
{
    rec_guard g;
    memset(&g, 0, sizeof g);
    pthread_mutex_init(&g.mu, NULL);
    tl_head_guard hg = {rec_check, &g};
    tl_log *log = open_mem(hg, 0);
    tl_log_head h;
    tl_log_stats st;
    uint64_t idx;

    CU_ASSERT_EQUAL(add_wait(log, "one", &idx), TL_OK);
    CU_ASSERT_EQUAL(idx, 0);
    CU_ASSERT_EQUAL(add_wait(log, "two", &idx), TL_OK);
    CU_ASSERT_EQUAL(idx, 1);
    CU_ASSERT_EQUAL(g.n, 2);
    /* what the guard saw is what got signed */
    CU_ASSERT_EQUAL(g.s[1].prev_size, 1);
    CU_ASSERT_EQUAL(g.s[1].imp.size, 2);
    CU_ASSERT_EQUAL_FATAL(tl_log_signed_at(log, 1, &h), TL_OK);
    CU_ASSERT(memcmp(h.root.b, g.s[1].prev_root.b, 32) == 0);
    tl_log_head_release(&h);
    CU_ASSERT_EQUAL_FATAL(tl_log_latest_signed(log, &h), TL_OK);
    CU_ASSERT(memcmp(h.root.b, g.s[1].imp.root.b, 32) == 0);
    CU_ASSERT_EQUAL(h.timestamp_ms, g.s[1].imp.time_ms);
    tl_log_head_release(&h);
    CU_ASSERT(g.s[1].imp.entries_len == 5 && memcmp(g.s[1].imp.entries, "\0\3two", 5) == 0);
    /* a duplicate commits nothing: the guard is not asked */
    CU_ASSERT_EQUAL(add_wait(log, "one", &idx), TL_OK);
    CU_ASSERT_EQUAL(idx, 0);
    CU_ASSERT_EQUAL(g.calls, 2);

    /* refused: the batch is refused, nothing is signed, signing stops */
    g.refuse = 1;
    CU_ASSERT_EQUAL(add_wait(log, "three", NULL), TL_ERR_STOPPED);
    CU_ASSERT_EQUAL(tl_log_signed_size(log), 2);
    CU_ASSERT_EQUAL(tl_log_signed_at(log, 3, &h), TL_ERR_NOTFOUND);
    tl_log_get_stats(log, &st);
    CU_ASSERT_EQUAL(st.stopped, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(st.stop_reason, "refused by the test"));
    g.refuse = 0;
    CU_ASSERT_EQUAL(add_wait(log, "four", NULL), TL_ERR_STOPPED); /* stays stopped */
    CU_ASSERT_EQUAL(g.calls, 3);
    CU_ASSERT_EQUAL(tl_log_signed_size(log), 2);

    /* restart: a standby again, from the store, at the last signed head */
    char err[256];
    CU_ASSERT_EQUAL_FATAL(tl_log_restart(log, err, sizeof err), TL_OK);
    tl_log_get_stats(log, &st);
    CU_ASSERT_EQUAL(st.stopped, 0);
    CU_ASSERT_EQUAL(st.standby, 1);
    CU_ASSERT_EQUAL(add_wait(log, "five", NULL), TL_ERR_STOPPED);
    tl_log_set_standby(log, 0);
    CU_ASSERT_EQUAL(add_wait(log, "five", &idx), TL_OK);
    CU_ASSERT_EQUAL(idx, 2); /* "three" and "four" were never sequenced */
    tl_log_close(log);
    rec_free(&g);
}

static void test_import_replays(void)
{
    rec_guard g;
    memset(&g, 0, sizeof g);
    pthread_mutex_init(&g.mu, NULL);
    tl_head_guard hg = {rec_check, &g}, none = {NULL, NULL};
    tl_log *a = open_mem(hg, 0), *b = open_mem(none, 1);
    tl_log_head ha, hb;
    char e[32];
    /* batches of a few entries on a */
    for (int i = 0; i < 40; i++) {
        snprintf(e, sizeof e, "entry-%d", i);
        CU_ASSERT_EQUAL(add_wait(a, e, NULL), TL_OK);
    }
    CU_ASSERT_EQUAL_FATAL(g.n, 40);
    /* a standby refuses submissions */
    CU_ASSERT_EQUAL(add_wait(b, "x", NULL), TL_ERR_STOPPED);
    /* an import that does not follow b's size is refused before anything */
    CU_ASSERT_EQUAL(import_wait(b, &g.s[0].imp), TL_OK);
    for (int i = 1; i < 40; i++)
        CU_ASSERT_EQUAL(import_wait(b, &g.s[i].imp), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_log_latest_signed(a, &ha), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_log_latest_signed(b, &hb), TL_OK);
    CU_ASSERT_EQUAL(ha.size, 40);
    CU_ASSERT_EQUAL(hb.size, 40);
    /* the same checkpoint note, byte for byte (Ed25519 is deterministic) */
    CU_ASSERT(ha.note_len == hb.note_len && memcmp(ha.note, hb.note, ha.note_len) == 0);
    CU_ASSERT_EQUAL(ha.timestamp_ms, hb.timestamp_ms);
    tl_log_head_release(&ha);
    tl_log_head_release(&hb);
    /* entries and dedup on the standby, once it leads */
    tl_buf v = TL_BUF_INIT;
    CU_ASSERT_EQUAL(tl_log_entry(b, 7, &v), TL_OK);
    CU_ASSERT(v.len == 7 && memcmp(v.data, "entry-7", 7) == 0);
    tl_buf_release(&v);
    tl_log_set_standby(b, 0);
    uint64_t idx;
    CU_ASSERT_EQUAL(add_wait(b, "entry-9", &idx), TL_OK);
    CU_ASSERT_EQUAL(idx, 9);
    CU_ASSERT_EQUAL(add_wait(b, "new on b", &idx), TL_OK);
    CU_ASSERT_EQUAL(idx, 40);
    tl_log_close(a);
    tl_log_close(b);
    rec_free(&g);
}

static void test_import_refuses_another_root(void)
{
    rec_guard g;
    memset(&g, 0, sizeof g);
    pthread_mutex_init(&g.mu, NULL);
    tl_head_guard hg = {rec_check, &g}, none = {NULL, NULL};
    tl_log *a = open_mem(hg, 0), *b = open_mem(none, 1);
    tl_log_stats st;
    CU_ASSERT_EQUAL(add_wait(a, "alpha", NULL), TL_OK);
    CU_ASSERT_EQUAL(add_wait(a, "beta", NULL), TL_OK);
    CU_ASSERT_EQUAL_FATAL(g.n, 2);
    CU_ASSERT_EQUAL(import_wait(b, &g.s[0].imp), TL_OK);
    tl_import bad = g.s[1].imp;
    bad.root.b[0] ^= 1;
    CU_ASSERT_EQUAL(import_wait(b, &bad), TL_ERR_STOPPED);
    CU_ASSERT_EQUAL(tl_log_signed_size(b), 1);
    tl_log_get_stats(b, &st);
    CU_ASSERT_EQUAL(st.stopped, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(st.stop_reason, "another root"));
    /* a batch that skips sizes is refused too (on a fresh standby) */
    tl_log *c = open_mem(none, 1);
    CU_ASSERT_EQUAL(import_wait(c, &g.s[1].imp), TL_ERR_STOPPED);
    CU_ASSERT_EQUAL(tl_log_signed_size(c), 0);
    tl_log_close(a);
    tl_log_close(b);
    tl_log_close(c);
    rec_free(&g);
}

/* tlogd init --keys: a log made from the keys of another replays its batches
 * from size 0 into the same heads; the batch of each index is found from the
 * heads (the journal object an erasure rewrites). */
static void test_create_keys_rebuild(void)
{
    rec_guard g;
    memset(&g, 0, sizeof g);
    pthread_mutex_init(&g.mu, NULL);
    tl_head_guard hg = {rec_check, &g};
    tl_log *a = open_mem(hg, 0), *b = NULL;
    char err[256], src[600], dst[600], bad[600], *vkey = NULL, *vkey2 = NULL, e[5][16];
    tl_log_config cfg;
    tl_log_head h, ha, hb;
    tl_sub subs[5];
    snprintf(src, sizeof src, "%s/log", keydir);
    snprintf(dst, sizeof dst, "%s/rebuilt", keydir);
    snprintf(bad, sizeof bad, "%s/other", keydir);
    /* batches of 5 entries on a (a group is one batch) */
    for (int i = 0; i < 6; i++) {
        waitres w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
        for (int k = 0; k < 5; k++) {
            snprintf(e[k], sizeof e[k], "b%d-e%d", i, k);
            subs[k] = (tl_sub){e[k], strlen(e[k]), 0};
        }
        CU_ASSERT_EQUAL_FATAL(tl_log_submit(a, subs, 5, sub_cb, &w), TL_OK);
        CU_ASSERT_EQUAL(wait_done(&w), TL_OK);
    }
    CU_ASSERT_EQUAL_FATAL(g.n, 6);

    /* the keys must name the origin, and a log is never overwritten */
    CU_ASSERT_EQUAL(tl_log_create_keys(bad, "other.test/unit", NULL, src, NULL, err, sizeof err),
                    TL_ERR_INVALID);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "ha.test/unit"));
    CU_ASSERT_EQUAL(tl_log_create_keys(src, "ha.test/unit", NULL, src, NULL, err, sizeof err),
                    TL_ERR_CONFLICT);
    CU_ASSERT_EQUAL_FATAL(
        tl_log_create_keys(dst, "ha.test/unit", "blob", src, &vkey, err, sizeof err), TL_OK);
    CU_ASSERT_EQUAL_FATAL(
        tl_log_create_keys(bad, "ha.test/unit", NULL, NULL, &vkey2, err, sizeof err), TL_OK);
    CU_ASSERT_STRING_NOT_EQUAL(vkey, vkey2); /* without --keys: fresh keys */
    CU_ASSERT_STRING_EQUAL(vkey, tl_log_vkey(a));
    free(vkey);
    free(vkey2);

    memset(&cfg, 0, sizeof cfg);
    cfg.dir = dst;
    cfg.publish_on_sign = 1;
    cfg.standby = 1;
    CU_ASSERT_EQUAL_FATAL(tl_log_open(&cfg, &b, err, sizeof err), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_log_latest_signed(b, &h), TL_OK);
    CU_ASSERT_EQUAL(h.size, 0);
    CU_ASSERT_EQUAL(h.timestamp_ms, 0); /* before every batch of a */
    tl_log_head_release(&h);
    for (int i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(import_wait(b, &g.s[i].imp), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_log_latest_signed(a, &ha), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_log_latest_signed(b, &hb), TL_OK);
    CU_ASSERT_EQUAL(hb.size, 30);
    CU_ASSERT(ha.note_len == hb.note_len && memcmp(ha.note, hb.note, ha.note_len) == 0);
    tl_log_head_release(&ha);
    tl_log_head_release(&hb);

    /* every index's batch begins at the head before it, on both */
    for (uint64_t i = 0; i < 30; i++) {
        uint64_t sa = 99, sb = 99;
        CU_ASSERT_EQUAL(tl_log_batch_start(a, i, &sa), TL_OK);
        CU_ASSERT_EQUAL(tl_log_batch_start(b, i, &sb), TL_OK);
        CU_ASSERT_EQUAL(sa, i / 5 * 5);
        CU_ASSERT_EQUAL(sb, i / 5 * 5);
    }
    uint8_t key[2] = {0x10, 'b'};
    CU_ASSERT_EQUAL(tl_log_compact_key(b, key, 2), TL_OK);
    CU_ASSERT_EQUAL(tl_log_compact_key(a, key, 2), TL_ERR_INVALID); /* a memory store */
    /* later, on the log's thread: bad keys refused; a full queue becomes
     * one compaction of everything; what waits at close is done by it */
    uint8_t big[TL_LOG_COMPACT_KEY_MAX + 1] = {0};
    CU_ASSERT_EQUAL(tl_log_compact_later(b, key, 0), TL_ERR_INVALID);
    CU_ASSERT_EQUAL(tl_log_compact_later(b, big, sizeof big), TL_ERR_INVALID);
    CU_ASSERT_EQUAL(tl_log_compactions(b), 0);
    CU_ASSERT_EQUAL(tl_log_compact_later(b, key, 2), TL_OK);
    for (int i = 0; i < 200 && tl_log_compactions(b) < 1; i++)
        usleep(10000);
    CU_ASSERT_EQUAL(tl_log_compactions(b), 1);
    for (int i = 0; i < TL_LOG_COMPACT_QUEUE + 10; i++)
        CU_ASSERT_EQUAL(tl_log_compact_later(b, key, 2), TL_OK);
    uint64_t seen = 0;
    for (int i = 0, still = 0; i < 200 && still < 4; i++) { /* until it settles */
        usleep(50000);
        uint64_t now = tl_log_compactions(b);
        still = now == seen ? still + 1 : 0;
        seen = now;
    }
    /* the keys taken before the queue filled, then everything at once: far
     * fewer compactions than asked for */
    CU_ASSERT(seen >= 2);
    CU_ASSERT(seen < 100);
    tl_log_close(a);
    tl_log_close(b);
    rec_free(&g);
}

static void test_consensus_mem(void)
{
    tl_cons_mem *m = tl_cons_mem_new();
    tl_consensus *x = NULL, *y = NULL;
    tl_cons_kv kv;
    int64_t lease = 0, rev = 0, rev2 = 0;
    unsigned granted = 0;
    tl_cons_kv_init(&kv);
    CU_ASSERT_EQUAL_FATAL(tl_cons_mem_handle(m, &x), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_cons_mem_handle(m, &y), TL_OK);
    CU_ASSERT_EQUAL(tl_cons_lease_grant(x, 1000, &lease, &granted), TL_OK);
    CU_ASSERT_EQUAL(granted, 1000);
    /* create-if-absent: one winner */
    tl_cons_cmp absent = {"L", TL_CONS_CREATE, 0, NULL, 0};
    tl_cons_put px = {"L", "x", 1, lease};
    CU_ASSERT_EQUAL(tl_cons_txn(x, &absent, 1, &px, 1, &rev), TL_OK);
    tl_cons_put py = {"L", "y", 1, 0};
    CU_ASSERT_EQUAL(tl_cons_txn(y, &absent, 1, &py, 1, NULL), TL_ERR_CONFLICT);
    CU_ASSERT_EQUAL(tl_cons_get(y, "L", &kv), TL_OK);
    CU_ASSERT(kv.value.len == 1 && kv.value.data[0] == 'x' && kv.mod_rev == rev);
    /* fencing: a put compared on the leader key's revision */
    tl_cons_cmp mine = {"L", TL_CONS_MOD, rev, NULL, 0};
    tl_cons_put head = {"H", "1", 1, 0};
    CU_ASSERT_EQUAL(tl_cons_txn(x, &mine, 1, &head, 1, NULL), TL_OK);
    tl_cons_cmp hv[2] = {{"L", TL_CONS_MOD, rev, NULL, 0}, {"H", TL_CONS_VALUE, 0, "1", 1}};
    tl_cons_put head2 = {"H", "2", 1, 0};
    CU_ASSERT_EQUAL(tl_cons_txn(x, hv, 2, &head2, 1, NULL), TL_OK);
    CU_ASSERT_EQUAL(tl_cons_txn(x, hv, 2, &head2, 1, NULL), TL_ERR_CONFLICT); /* H is "2" */
    /* kept alive, the lease holds; past its TTL it ends with its key */
    tl_cons_mem_advance(m, 900);
    CU_ASSERT_EQUAL(tl_cons_lease_keepalive(x, lease), TL_OK);
    tl_cons_mem_advance(m, 900);
    CU_ASSERT_EQUAL(tl_cons_get(y, "L", &kv), TL_OK);
    tl_cons_mem_advance(m, 200);
    CU_ASSERT_EQUAL(tl_cons_get(y, "L", &kv), TL_ERR_NOTFOUND);
    CU_ASSERT_EQUAL(tl_cons_lease_keepalive(x, lease), TL_ERR_NOTFOUND);
    /* the old term's transaction fails once another node holds the key */
    CU_ASSERT_EQUAL(tl_cons_txn(y, &absent, 1, &py, 1, &rev2), TL_OK);
    CU_ASSERT(rev2 > rev);
    tl_cons_cmp old[2] = {{"L", TL_CONS_MOD, rev, NULL, 0}, {"H", TL_CONS_VALUE, 0, "2", 1}};
    CU_ASSERT_EQUAL(tl_cons_txn(x, old, 2, &head, 1, NULL), TL_ERR_CONFLICT);
    CU_ASSERT_EQUAL(tl_cons_get(x, "H", &kv), TL_OK);
    CU_ASSERT(kv.value.len == 1 && kv.value.data[0] == '2');
    /* a cut handle gets no answer */
    tl_cons_mem_cut(x, 1);
    CU_ASSERT_EQUAL(tl_cons_get(x, "H", &kv), TL_ERR_NETWORK);
    tl_cons_mem_cut(x, 0);
    CU_ASSERT_EQUAL(tl_cons_get(x, "H", &kv), TL_OK);
    tl_cons_kv_release(&kv);
    tl_cons_close(x);
    tl_cons_close(y);
    tl_cons_mem_free(m);
}

static void test_etcd_urls(void)
{
    char err[200];
    CU_ASSERT_EQUAL(tl_cons_etcd_urls_check("http://127.0.0.1:2379", err, sizeof err), TL_OK);
    CU_ASSERT_EQUAL(tl_cons_etcd_urls_check("http://a:1,https://b.example:2379", err, sizeof err),
                    TL_OK);
    CU_ASSERT_EQUAL(tl_cons_etcd_urls_check("http://a", err, sizeof err), TL_ERR_INVALID);
    CU_ASSERT_EQUAL(tl_cons_etcd_urls_check("ftp://a:1", err, sizeof err), TL_ERR_INVALID);
    CU_ASSERT_EQUAL(tl_cons_etcd_urls_check("http://a:1/x", err, sizeof err), TL_ERR_INVALID);
    CU_ASSERT_EQUAL(tl_cons_etcd_urls_check("http://a:1,", err, sizeof err), TL_ERR_INVALID);
}

int main(void)
{
    CU_pSuite s;
    int failures;
    char err[256], dir[600], *vkey = NULL;
    if (!mkdtemp(keydir))
        return 1;
    snprintf(dir, sizeof dir, "%s/log", keydir);
    if (tl_log_create(dir, "ha.test/unit", NULL, &vkey, err, sizeof err) != TL_OK) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    free(vkey);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("ha", NULL, NULL);
    CU_add_test(s, "guard_sees_and_refuses", test_guard_sees_and_refuses);
    CU_add_test(s, "import_replays", test_import_replays);
    CU_add_test(s, "import_refuses_another_root", test_import_refuses_another_root);
    CU_add_test(s, "create_keys_rebuild", test_create_keys_rebuild);
    CU_add_test(s, "consensus_mem", test_consensus_mem);
    CU_add_test(s, "etcd_urls", test_etcd_urls);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", keydir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", keydir);
    return failures ? 1 : 0;
}
