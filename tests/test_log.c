/*
 * test_log.c - CUnit tests of log/: the stores (memory, LevelDB, fault
 * wrapper) and tl_log (add, dedup, batching, pushback, tiles and bundles
 * against a brute-force recomputation, proofs against merkle's verifiers,
 * publication, recovery refusal on tampering, clock going back, a second
 * opener, failed and failed-but-applied commits), and the audit kind's
 * time index and packed member index against a brute force over the
 * bodies, in both index forms and without the time index.
 *
 * The reference tree here is computed from the entries with the RFC 6962
 * recursive definition (MTH), independent of the frontier and tiles code.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log/log.h"
#include "log/reader.h"
#include "log/dedup_filter.h"
#include "log/kind_audit.h"
#include "log/layout.h" /* tl_layout_dedup_prefix: short dedup keys force shared keys */
#include "store/store.h"
#include "merkle/merkle.h"
#include "signer/checkpoint.h"
#include "signer/note.h"
#include "tests/unit.h"

#define ORIGIN "example.com/log-test"

/* Proofs through the log's read side (a fresh reader each time: the tests
 * check what the log stores, not the caches). */
static int prove_inclusion(tl_log *log, uint64_t index, uint64_t size, tl_hash *proof, size_t *len)
{
    tl_log_reader *r;
    int rc = tl_log_reader_new(log, TL_LOG_READER_SMALL, &r);
    if (rc == TL_OK)
        rc = tl_log_reader_inclusion(r, size, index, size, proof, len);
    tl_log_reader_free(r);
    return rc;
}

static int prove_consistency(tl_log *log, uint64_t size1, uint64_t size2, tl_hash *proof,
                             size_t *len)
{
    tl_log_reader *r;
    int rc = tl_log_reader_new(log, TL_LOG_READER_SMALL, &r);
    if (rc == TL_OK)
        rc = tl_log_reader_consistency(r, size2, size1, size2, proof, len);
    tl_log_reader_free(r);
    return rc;
}

static int tree_root(tl_log *log, uint64_t size, tl_hash *root)
{
    tl_log_reader *r;
    int rc = tl_log_reader_new(log, TL_LOG_READER_SMALL, &r);
    if (rc == TL_OK)
        rc = tl_log_reader_root(r, size, size, root);
    tl_log_reader_free(r);
    return rc;
}

static tl_hasher *H;
static char self_exe[4096];

/* ---- helpers ---- */

static uint64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static volatile uint64_t fake_now;
/* When early_set: the clock reads early_now on early_thread (a submitter),
 * fake_now on every other thread (the sequencer). */
static int early_set;
static pthread_t early_thread;
static uint64_t early_now;
static uint64_t fake_clock(void)
{
    if (__atomic_load_n(&early_set, __ATOMIC_SEQ_CST) &&
        pthread_equal(pthread_self(), early_thread))
        return early_now;
    return __atomic_load_n(&fake_now, __ATOMIC_SEQ_CST);
}

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t cap, done;
    uint64_t *idx;
    int *err;
    int *seen;
} waiter;

typedef struct slot {
    waiter *w;
    size_t i;
} slot;

static void waiter_init(waiter *w, size_t cap)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->cap = cap;
    w->done = 0;
    w->idx = calloc(cap, sizeof(*w->idx));
    w->err = calloc(cap, sizeof(*w->err));
    w->seen = calloc(cap, sizeof(*w->seen));
}

static void waiter_free(waiter *w)
{
    free(w->idx);
    free(w->err);
    free(w->seen);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

static void on_add(void *ctx, int err, uint64_t index, const tl_hash *leaf)
{
    slot *s = ctx;
    waiter *w = s->w;
    (void)leaf;
    pthread_mutex_lock(&w->mu);
    w->idx[s->i] = index;
    w->err[s->i] = err;
    w->seen[s->i]++;
    w->done++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Waits until n callbacks arrived (10 s at most). */
static int waiter_wait(waiter *w, size_t n)
{
    struct timespec ts;
    int ok = 1;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 20;
    pthread_mutex_lock(&w->mu);
    while (w->done < n)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) == ETIMEDOUT) {
            ok = 0;
            break;
        }
    pthread_mutex_unlock(&w->mu);
    return ok;
}

/* Marsaglia's xorshift64: the tests' deterministic pseudo-random numbers. */
static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Entry i of a test: deterministic, distinct, variable length (9..300 bytes). */
static size_t make_entry(uint64_t seed, uint64_t i, uint8_t *buf)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ULL + i * 0xbf58476d1ce4e5b9ULL + 1;
    size_t len = 9 + (size_t)((x >> 7) % 292);
    for (size_t k = 0; k < len; k++)
        buf[k] = (uint8_t)xorshift(&x);
    memcpy(buf, &i, 8); /* distinct entries */
    buf[8] = (uint8_t)seed;
    return len;
}

/* RFC 6962 §2.1 MTH over leaf hashes [lo, hi). */
static void mth(const tl_hash *leaves, uint64_t lo, uint64_t hi, tl_hash *out)
{
    uint64_t n = hi - lo, k = 1;
    tl_hash l, r;
    if (n == 0) {
        tl_hash_empty(out);
        return;
    }
    if (n == 1) {
        *out = leaves[lo];
        return;
    }
    while (k * 2 < n)
        k *= 2;
    mth(leaves, lo, lo + k, &l);
    mth(leaves, lo + k, hi, &r);
    tl_hash_node(H, &l, &r, out);
}

/* Submits entries [from, to) of seed; records leaves; waits for all. */
static void add_range(tl_log *log, uint64_t seed, uint64_t from, uint64_t to, tl_hash *leaves,
                      int expect_err)
{
    waiter w;
    slot *s;
    uint8_t buf[400];
    size_t n = to - from;
    waiter_init(&w, n);
    s = calloc(n, sizeof(*s));
    for (size_t i = 0; i < n; i++) {
        size_t len = make_entry(seed, from + i, buf);
        int rc;
        s[i].w = &w;
        s[i].i = i;
        if (leaves)
            tl_hash_leaf(H, buf, len, &leaves[from + i]);
        while ((rc = tl_log_add(log, buf, len, on_add, &s[i])) == TL_ERR_BUSY)
            usleep(1000);
        CU_ASSERT_EQUAL_FATAL(rc, TL_OK);
    }
    CU_ASSERT_FATAL(waiter_wait(&w, n));
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(w.err[i], expect_err);
        CU_ASSERT_EQUAL(w.seen[i], 1);
        if (expect_err == TL_OK)
            CU_ASSERT_EQUAL(w.idx[i], from + i);
    }
    free(s);
    waiter_free(&w);
}

typedef struct group_wait {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, err;
} group_wait;

static void on_group(void *ctx, int err, const tl_sub_result *res, size_t n, size_t bad)
{
    group_wait *g = ctx;
    (void)res;
    (void)n;
    (void)bad;
    pthread_mutex_lock(&g->mu);
    g->err = err;
    g->done = 1;
    pthread_cond_signal(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

/* Submits entries [from, to) of seed as one group (one batch); waits. */
static void add_group(tl_log *log, uint64_t seed, uint64_t from, uint64_t to, int expect_err)
{
    uint8_t bufs[16][400];
    tl_sub subs[16];
    group_wait g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    CU_ASSERT_FATAL(to - from <= 16);
    for (uint64_t i = from; i < to; i++) {
        subs[i - from].data = bufs[i - from];
        subs[i - from].len = make_entry(seed, i, bufs[i - from]);
        subs[i - from].own = 0;
    }
    CU_ASSERT_EQUAL_FATAL(tl_log_submit(log, subs, (size_t)(to - from), on_group, &g), TL_OK);
    pthread_mutex_lock(&g.mu);
    while (!g.done)
        pthread_cond_wait(&g.cv, &g.mu);
    pthread_mutex_unlock(&g.mu);
    CU_ASSERT_EQUAL(g.err, expect_err);
}

static tl_log *open_log(const char *dir, tl_store *store, int publish, size_t batch_max,
                        unsigned interval, size_t pool_max)
{
    tl_log_config cfg;
    tl_log *log = NULL;
    char err[512];
    int rc;
    memset(&cfg, 0, sizeof(cfg));
    cfg.dir = dir;
    cfg.store = store;
    cfg.publish_on_sign = publish;
    cfg.batch_max = batch_max;
    cfg.batch_interval_ms = interval;
    cfg.pool_max = pool_max;
    cfg.clock_ms = fake_clock;
    rc = tl_log_open(&cfg, &log, err, sizeof(err));
    if (rc != TL_OK)
        fprintf(stderr, "open: %s\n", err);
    CU_ASSERT_EQUAL_FATAL(rc, TL_OK);
    return log;
}

/* The latest signed head verifies with the log's key and matches root. */
static void check_head(tl_log *log, uint64_t size, const tl_hash *root)
{
    tl_log_head h;
    tl_note n;
    tl_checkpoint cp;
    tl_verifier *v = NULL;
    CU_ASSERT_EQUAL_FATAL(tl_log_signed_at(log, size, &h), TL_OK);
    CU_ASSERT_EQUAL(h.size, size);
    CU_ASSERT(memcmp(h.root.b, root->b, 32) == 0);
    CU_ASSERT_EQUAL_FATAL(tl_verifier_parse(tl_log_vkey(log), &v), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_note_parse(h.note, h.note_len, &n), TL_OK);
    CU_ASSERT_EQUAL(tl_note_verify(&n, v), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_checkpoint_parse(n.text, n.text_len, &cp), TL_OK);
    CU_ASSERT_STRING_EQUAL(cp.origin, ORIGIN);
    CU_ASSERT_EQUAL(cp.size, size);
    CU_ASSERT(memcmp(cp.root.b, root->b, 32) == 0);
    tl_note_release(&n);
    tl_verifier_free(v);
    tl_log_head_release(&h);
}

/* ---- store tests ---- */

typedef struct range_seen {
    size_t n;
    char last[32];
    int bad_order;
    size_t stop_after;
} range_seen;

/* Checks ascending order and that each value is the one stored for its key. */
static int range_collect(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    range_seen *r = ctx;
    char k[32], want[64];
    snprintf(k, sizeof(k), "%.*s", (int)klen, (const char *)key);
    if (r->n && strcmp(k, r->last) <= 0)
        r->bad_order = 1;
    if (strcmp(k, "k1") == 0)
        snprintf(want, sizeof(want), "new");
    else
        snprintf(want, sizeof(want), "value-%d", atoi(k + 1) * 7);
    if (vlen != strlen(want) || memcmp(val, want, vlen) != 0)
        r->bad_order = 1;
    snprintf(r->last, sizeof(r->last), "%s", k);
    r->n++;
    return r->stop_after && r->n == r->stop_after ? 7 : 0;
}

static void store_roundtrip(tl_store *s)
{
    tl_batch *b = tl_batch_new();
    tl_buf v = TL_BUF_INIT;
    char key[32], val[64];
    CU_ASSERT_EQUAL(tl_store_get(s, "nope", 4, &v), TL_ERR_NOTFOUND);
    for (int i = 0; i < 3000; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        snprintf(val, sizeof(val), "value-%d", i * 7);
        CU_ASSERT_EQUAL(tl_batch_put(b, key, strlen(key), val, strlen(val)), TL_OK);
    }
    CU_ASSERT_EQUAL(tl_batch_del(b, "k5", 2), TL_OK);
    CU_ASSERT_EQUAL(tl_batch_count(b), 3001);
    CU_ASSERT_EQUAL(tl_store_write(s, b, 1), TL_OK);
    CU_ASSERT_EQUAL(tl_store_get(s, "k5", 2, &v), TL_ERR_NOTFOUND);
    CU_ASSERT_EQUAL(tl_store_get(s, "k2999", 5, &v), TL_OK);
    CU_ASSERT(v.len == strlen("value-20993") && memcmp(v.data, "value-20993", v.len) == 0);
    tl_batch_clear(b);
    CU_ASSERT_EQUAL(tl_batch_count(b), 0);
    CU_ASSERT_EQUAL(tl_batch_put(b, "k1", 2, "new", 3), TL_OK);
    CU_ASSERT_EQUAL(tl_batch_put(b, "", 0, "empty-key", 9), TL_OK);
    CU_ASSERT_EQUAL(tl_store_write(s, b, 0), TL_OK);
    CU_ASSERT_EQUAL(tl_store_get(s, "k1", 2, &v), TL_OK);
    CU_ASSERT(v.len == 3 && memcmp(v.data, "new", 3) == 0);
    CU_ASSERT_EQUAL(tl_store_get(s, "", 0, &v), TL_OK);
    CU_ASSERT_EQUAL(v.len, 9);
    /* an ordered range: k10 <= k < k13, with values; early stop */
    {
        range_seen r = {0, "", 0, 0};
        CU_ASSERT_EQUAL(tl_store_range(s, "k10", 3, "k13", 3, range_collect, &r), TL_OK);
        /* k10, k100..k109, k1000..k1099, and the same for k11 and k12 */
        CU_ASSERT_EQUAL(r.n, 3 * (1 + 10 + 100));
        CU_ASSERT_STRING_EQUAL(r.last, "k1299");
        CU_ASSERT_EQUAL(r.bad_order, 0);
        r.n = 0;
        r.stop_after = 3;
        CU_ASSERT_EQUAL(tl_store_range(s, "k1", 2, "k2", 2, range_collect, &r), 7);
        CU_ASSERT_EQUAL(r.n, 3);
        CU_ASSERT_STRING_EQUAL(r.last, "k100"); /* k1 ("new"), k10, k100 */
    }
    tl_batch_free(b);
    tl_buf_release(&v);
}

static void test_store_mem(void)
{
    tl_store *s = NULL;
    CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&s), TL_OK);
    store_roundtrip(s);
    tl_store_close(s);
}

static void test_store_leveldb(void)
{
    char *p = tl_test_tmpdir("tlog-logtest"), db[4200], err[512];
    tl_store *s = NULL, *s2 = NULL;
    tl_buf v = TL_BUF_INIT;
    snprintf(db, sizeof(db), "%s/db", p);
    CU_ASSERT_EQUAL(tl_store_open_leveldb(db, 0, &s, err, sizeof(err)), TL_ERR_NOTFOUND);
    CU_ASSERT_EQUAL_FATAL(tl_store_open_leveldb(db, 1, &s, err, sizeof(err)), TL_OK);
    store_roundtrip(s);
    /* same process, second handle: LevelDB's lock refuses it */
    CU_ASSERT_EQUAL(tl_store_open_leveldb(db, 0, &s2, err, sizeof(err)), TL_ERR_LOCKED);
    CU_ASSERT(strstr(err, "in use") != NULL);
    tl_store_close(s);
    CU_ASSERT_EQUAL(tl_store_open_leveldb(db, 1, &s, err, sizeof(err)), TL_ERR_CONFLICT);
    CU_ASSERT_EQUAL_FATAL(tl_store_open_leveldb(db, 0, &s, err, sizeof(err)), TL_OK);
    CU_ASSERT_EQUAL(tl_store_get(s, "k1", 2, &v), TL_OK);
    CU_ASSERT(v.len == 3 && memcmp(v.data, "new", 3) == 0);
    tl_store_close(s);
    tl_buf_release(&v);
    tl_test_rmtree(p);
    free(p);
}

static void test_store_fault(void)
{
    tl_store *m = NULL, *f = NULL;
    tl_batch *b = tl_batch_new();
    tl_buf v = TL_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&m), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_store_fault_wrap(m, &f), TL_OK);
    tl_store_fault_arm(f, 2, 0);
    tl_batch_put(b, "a", 1, "1", 1);
    CU_ASSERT_EQUAL(tl_store_write(f, b, 1), TL_OK); /* 1st passes */
    tl_batch_clear(b);
    tl_batch_put(b, "b", 1, "2", 1);
    CU_ASSERT_EQUAL(tl_store_write(f, b, 1), TL_ERR_IO); /* 2nd fails, not applied */
    CU_ASSERT_EQUAL(tl_store_get(f, "b", 1, &v), TL_ERR_NOTFOUND);
    CU_ASSERT_EQUAL(tl_store_write(f, b, 1), TL_OK); /* one-shot */
    CU_ASSERT_EQUAL(tl_store_get(f, "b", 1, &v), TL_OK);
    tl_store_fault_arm(f, 1, 1);
    tl_batch_clear(b);
    tl_batch_put(b, "c", 1, "3", 1);
    CU_ASSERT_EQUAL(tl_store_write(f, b, 1), TL_ERR_IO); /* fails but applied */
    CU_ASSERT_EQUAL(tl_store_get(f, "c", 1, &v), TL_OK);
    tl_batch_free(b);
    tl_buf_release(&v);
    tl_store_close(f);
}

/* ---- log tests ---- */

static void test_create(void)
{
    char *p = tl_test_tmpdir("tlog-logtest"), d[4200], f[4300], err[512], line[512], *vkey = NULL;
    struct stat st;
    FILE *fp;
    snprintf(d, sizeof(d), "%s/log", p);
    CU_ASSERT_EQUAL(tl_log_create(d, "bad origin", NULL, &vkey, err, sizeof(err)), TL_ERR_INVALID);
    CU_ASSERT_EQUAL(tl_log_create(d, "", NULL, &vkey, err, sizeof(err)), TL_ERR_INVALID);
    CU_ASSERT_EQUAL_FATAL(tl_log_create(d, ORIGIN, NULL, &vkey, err, sizeof(err)), TL_OK);
    CU_ASSERT(strncmp(vkey, ORIGIN "+", strlen(ORIGIN) + 1) == 0);
    snprintf(f, sizeof(f), "%s/log.key", d);
    CU_ASSERT(stat(f, &st) == 0 && (st.st_mode & 0777) == 0600);
    snprintf(f, sizeof(f), "%s/rfc6962.key", d);
    CU_ASSERT(stat(f, &st) == 0 && (st.st_mode & 0777) == 0600);
    snprintf(f, sizeof(f), "%s/rfc6962.pub", d);
    CU_ASSERT(stat(f, &st) == 0);
    snprintf(f, sizeof(f), "%s/log.vkey", d);
    fp = fopen(f, "r");
    CU_ASSERT_FATAL(fp != NULL);
    CU_ASSERT(fgets(line, sizeof(line), fp) != NULL);
    fclose(fp);
    line[strcspn(line, "\n")] = 0;
    CU_ASSERT_STRING_EQUAL(line, vkey);
    free(vkey);
    vkey = NULL;
    /* refuses a folder that holds a log */
    CU_ASSERT_EQUAL(tl_log_create(d, ORIGIN, NULL, &vkey, err, sizeof(err)), TL_ERR_CONFLICT);
    CU_ASSERT(strstr(err, "already holds a log") != NULL);
    CU_ASSERT(vkey == NULL);
    /* the fresh log has a signed empty head */
    fake_now = real_ms() + 1000;
    {
        tl_log *log = open_log(d, NULL, 1, 0, 0, 0);
        tl_hash e;
        tl_log_head h;
        tl_hash_empty(&e);
        check_head(log, 0, &e);
        CU_ASSERT_EQUAL(tl_log_published(log, &h), TL_OK);
        CU_ASSERT_EQUAL(h.size, 0);
        tl_log_head_release(&h);
        CU_ASSERT_STRING_EQUAL(tl_log_origin(log), ORIGIN);
        tl_log_close(log);
    }
    tl_test_rmtree(p);
    free(p);
}

/* Checks every tile and bundle at `size` against the reference. */
static void check_tiles(tl_log *log, const tl_hash *leaves, uint64_t seed, uint64_t size)
{
    tl_buf out = TL_BUF_INIT, ref = TL_BUF_INIT;
    uint8_t buf[400];
    for (int L = 0; L < 3; L++) {
        uint64_t cnt = size >> (8 * L);
        for (uint64_t n = 0; n * 256 < cnt; n++) {
            tl_tile t = {L, n, (unsigned)(cnt - n * 256 > 256 ? 256 : cnt - n * 256)};
            tl_buf_reset(&out);
            tl_buf_reset(&ref);
            CU_ASSERT_EQUAL_FATAL(tl_log_tile(log, &t, size, &out), TL_OK);
            for (unsigned i = 0; i < t.width; i++) {
                uint64_t idx = (n * 256 + i) << (8 * L);
                tl_hash h;
                mth(leaves, idx, idx + (1ULL << (8 * L)), &h);
                tl_buf_add(&ref, h.b, 32);
            }
            CU_ASSERT_EQUAL(out.len, ref.len);
            CU_ASSERT(memcmp(out.data, ref.data, ref.len) == 0);
            /* a wider tile than the size has is not served */
            if (t.width < 256) {
                t.width++;
                CU_ASSERT_EQUAL(tl_log_tile(log, &t, size, &out), TL_ERR_NOTFOUND);
            }
        }
    }
    for (uint64_t n = 0; n * 256 < size; n++) {
        tl_tile t = {TL_TILE_ENTRIES, n, (unsigned)(size - n * 256 > 256 ? 256 : size - n * 256)};
        tl_buf_reset(&out);
        tl_buf_reset(&ref);
        CU_ASSERT_EQUAL_FATAL(tl_log_tile(log, &t, size, &out), TL_OK);
        for (unsigned i = 0; i < t.width; i++) {
            size_t len = make_entry(seed, n * 256 + i, buf);
            uint8_t l2[2] = {(uint8_t)(len >> 8), (uint8_t)len};
            tl_buf_add(&ref, l2, 2);
            tl_buf_add(&ref, buf, len);
        }
        CU_ASSERT_EQUAL(out.len, ref.len);
        CU_ASSERT(memcmp(out.data, ref.data, ref.len) == 0);
    }
    {
        tl_tile t = {0, size / 256 + 1, 1};
        CU_ASSERT_EQUAL(tl_log_tile(log, &t, size, &out), TL_ERR_NOTFOUND);
    }
    tl_buf_release(&out);
    tl_buf_release(&ref);
}

static void test_add_tiles_proofs(void)
{
    char *parent, *d = tl_test_logdir("tlog-logtest", ORIGIN, &parent);
    tl_store *m = NULL;
    tl_log *log;
    const uint64_t N = 66000, seed = 7;
    tl_hash *leaves = calloc(N, sizeof(tl_hash)), root;
    static const uint64_t sizes[] = {1, 2, 255, 256, 257, 1000, 4096, 65535, 65536, 66000};
    tl_buf e = TL_BUF_INIT;
    uint8_t buf[400];

    fake_now = real_ms() + 1000;
    CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&m), TL_OK);
    log = open_log(d, m, 1, 0, 2, 0);
    /* stepwise, so that heads exist at the interesting sizes */
    {
        uint64_t from = 0;
        for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
            add_range(log, seed, from, sizes[k], leaves, TL_OK);
            fake_now += 5;
            from = sizes[k];
            mth(leaves, 0, from, &root);
            check_head(log, from, &root);
        }
    }
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        tl_hash r;
        mth(leaves, 0, sizes[k], &root);
        CU_ASSERT_EQUAL(tree_root(log, sizes[k], &r), TL_OK);
        CU_ASSERT(memcmp(r.b, root.b, 32) == 0);
        check_head(log, sizes[k], &root);
    }
    check_tiles(log, leaves, seed, 66000);
    check_tiles(log, leaves, seed, 1000);
    check_tiles(log, leaves, seed, 257);
    /* entries and lookups */
    for (uint64_t i = 0; i < N; i += 997) {
        size_t len = make_entry(seed, i, buf);
        uint64_t idx = 0;
        tl_buf_reset(&e);
        CU_ASSERT_EQUAL(tl_log_entry(log, i, &e), TL_OK);
        CU_ASSERT(e.len == len && memcmp(e.data, buf, len) == 0);
        CU_ASSERT_EQUAL(tl_log_lookup(log, &leaves[i], &idx), TL_OK);
        CU_ASSERT_EQUAL(idx, i);
    }
    CU_ASSERT_EQUAL(tl_log_entry(log, N, &e), TL_ERR_RANGE);
    /* proofs */
    for (size_t a = 0; a < sizeof(sizes) / sizeof(sizes[0]); a++) {
        uint64_t s2 = sizes[a];
        tl_hash r2, proof[TL_MAX_PROOF];
        size_t len;
        mth(leaves, 0, s2, &r2);
        for (uint64_t i = 0; i < s2; i += 1 + s2 / 7) {
            CU_ASSERT_EQUAL_FATAL(prove_inclusion(log, i, s2, proof, &len), TL_OK);
            CU_ASSERT_EQUAL(tl_verify_inclusion(H, &leaves[i], i, s2, proof, len, &r2), TL_OK);
            if (i + 1 < s2)
                CU_ASSERT_EQUAL(tl_verify_inclusion(H, &leaves[i + 1], i, s2, proof, len, &r2),
                                TL_ERR_PROOF);
        }
        for (size_t b = 0; b <= a; b++) {
            uint64_t s1 = sizes[b];
            tl_hash r1;
            mth(leaves, 0, s1, &r1);
            CU_ASSERT_EQUAL_FATAL(prove_consistency(log, s1, s2, proof, &len), TL_OK);
            CU_ASSERT_EQUAL(tl_verify_consistency(H, s1, s2, proof, len, &r1, &r2), TL_OK);
        }
    }
    {
        tl_hash proof[TL_MAX_PROOF];
        size_t len;
        CU_ASSERT_EQUAL(prove_inclusion(log, 0, N + 1, proof, &len), TL_ERR_RANGE);
        CU_ASSERT_EQUAL(prove_consistency(log, 5, N + 1, proof, &len), TL_ERR_RANGE);
    }
    /* duplicates: the original index, at any size, within a batch too */
    {
        waiter w;
        slot s[6];
        tl_log_stats st;
        waiter_init(&w, 6);
        for (int i = 0; i < 6; i++) {
            uint64_t which = i < 3 ? 5 : 65999;
            size_t len = make_entry(seed, which, buf);
            s[i].w = &w;
            s[i].i = (size_t)i;
            CU_ASSERT_EQUAL(tl_log_add(log, buf, len, on_add, &s[i]), TL_OK);
        }
        CU_ASSERT_FATAL(waiter_wait(&w, 6));
        for (int i = 0; i < 6; i++) {
            CU_ASSERT_EQUAL(w.err[i], TL_OK);
            CU_ASSERT_EQUAL(w.idx[i], i < 3 ? 5 : 65999);
        }
        tl_log_get_stats(log, &st);
        CU_ASSERT(st.duplicates >= 6);
        CU_ASSERT_EQUAL(st.signed_size, N);
        CU_ASSERT_EQUAL(st.entries_added, N);
        waiter_free(&w);
    }
    /* a new entry repeated within one batch gets one index */
    {
        waiter w;
        slot s[3];
        const char *x = "a brand new entry";
        waiter_init(&w, 3);
        for (int i = 0; i < 3; i++) {
            s[i].w = &w;
            s[i].i = (size_t)i;
            CU_ASSERT_EQUAL(tl_log_add(log, x, strlen(x), on_add, &s[i]), TL_OK);
        }
        CU_ASSERT_FATAL(waiter_wait(&w, 3));
        for (int i = 0; i < 3; i++) {
            CU_ASSERT_EQUAL(w.err[i], TL_OK);
            CU_ASSERT_EQUAL(w.idx[i], N);
        }
        waiter_free(&w);
    }
    /* bad sizes */
    CU_ASSERT_EQUAL(tl_log_add(log, buf, 0, on_add, NULL), TL_ERR_INVALID);
    {
        uint8_t *big = calloc(70000, 1);
        CU_ASSERT_EQUAL(tl_log_add(log, big, 65536, on_add, NULL), TL_ERR_TOOBIG);
        free(big);
    }
    tl_log_close(log);
    tl_buf_release(&e);
    free(leaves);
    tl_test_rmtree(parent);
    free(parent);
    free(d);
}

/* Several threads adding at once: unique indexes, entries where claimed. */
typedef struct adder {
    tl_log *log;
    int t;
    size_t n;
    waiter w;
    slot *s;
} adder;

static void *adder_main(void *arg)
{
    adder *a = arg;
    uint8_t buf[400];
    for (size_t i = 0; i < a->n; i++) {
        size_t len = make_entry(1000 + (uint64_t)a->t, i, buf);
        a->s[i].w = &a->w;
        a->s[i].i = i;
        while (tl_log_add(a->log, buf, len, on_add, &a->s[i]) == TL_ERR_BUSY)
            usleep(500);
    }
    return NULL;
}

static void test_concurrent_leveldb_reopen(void)
{
    char *parent, *d = tl_test_logdir("tlog-logtest", ORIGIN, &parent);
    tl_log *log;
    adder a[4];
    pthread_t th[4];
    const size_t per = 3000;
    uint64_t total = 4 * per;
    uint8_t *hit = calloc(total, 1);
    tl_buf e = TL_BUF_INIT;
    uint8_t buf[400];
    tl_log_stats st;

    fake_now = real_ms() + 1000;
    log = open_log(d, NULL, 1, 512, 5, 1000);
    for (int t = 0; t < 4; t++) {
        a[t].log = log;
        a[t].t = t;
        a[t].n = per;
        a[t].s = calloc(per, sizeof(slot));
        waiter_init(&a[t].w, per);
        pthread_create(&th[t], NULL, adder_main, &a[t]);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        CU_ASSERT_FATAL(waiter_wait(&a[t].w, per));
    }
    for (int t = 0; t < 4; t++)
        for (size_t i = 0; i < per; i++) {
            uint64_t idx = a[t].w.idx[i];
            size_t len = make_entry(1000 + (uint64_t)t, i, buf);
            CU_ASSERT_EQUAL(a[t].w.err[i], TL_OK);
            CU_ASSERT_FATAL(idx < total);
            CU_ASSERT_EQUAL(hit[idx], 0);
            hit[idx] = 1;
            if (i % 101 == 0) {
                tl_buf_reset(&e);
                CU_ASSERT_EQUAL(tl_log_entry(log, idx, &e), TL_OK);
                CU_ASSERT(e.len == len && memcmp(e.data, buf, len) == 0);
            }
        }
    tl_log_get_stats(log, &st);
    CU_ASSERT_EQUAL(st.signed_size, total);
    CU_ASSERT_EQUAL(st.published_size, total);
    CU_ASSERT(st.batches >= total / 512);
    tl_log_close(log);
    /* reopen: everything is there, and it goes on from there */
    fake_now += 10;
    log = open_log(d, NULL, 1, 512, 5, 1000);
    tl_log_get_stats(log, &st);
    CU_ASSERT_EQUAL(st.signed_size, total);
    for (int t = 0; t < 4; t++)
        for (size_t i = 0; i < per; i += 37) {
            tl_buf_reset(&e);
            CU_ASSERT_EQUAL(tl_log_entry(log, a[t].w.idx[i], &e), TL_OK);
            CU_ASSERT(e.len == make_entry(1000 + (uint64_t)t, i, buf) &&
                      memcmp(e.data, buf, e.len) == 0);
        }
    add_range(log, 99, total, total + 300, NULL, TL_OK);
    tl_log_close(log);
    for (int t = 0; t < 4; t++) {
        free(a[t].s);
        waiter_free(&a[t].w);
    }
    free(hit);
    tl_buf_release(&e);
    tl_test_rmtree(parent);
    free(parent);
    free(d);
}

/* Threads submitting the same entries in different orders, small batches:
 * every copy of an entry gets one index (pre-check, recent commits, batch). */
typedef struct dupper {
    tl_log *log;
    int t;
    size_t n;
    waiter w;
    slot *s;
} dupper;

static void *dupper_main(void *arg)
{
    dupper *a = arg;
    uint8_t buf[400];
    for (size_t j = 0; j < a->n; j++) {
        size_t i = a->t % 2 ? a->n - 1 - j : (j * 7) % a->n; /* n is prime to 7 */
        size_t len = make_entry(77, i, buf);
        a->s[i].w = &a->w;
        a->s[i].i = i;
        while (tl_log_add(a->log, buf, len, on_add, &a->s[i]) == TL_ERR_BUSY)
            usleep(200);
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* prefix: leaf-hash bytes per dedup key (8 normally; 1 puts ~8 leaves on
 * every key, so lookups must verify and values must keep every index) */
static void dedup_concurrent(unsigned prefix)
{
    char *parent, *d = tl_test_logdir("tlog-logtest", ORIGIN, &parent);
    tl_store *m = NULL;
    tl_log *log;
    dupper a[3];
    pthread_t th[3];
    const size_t n = 2000;
    tl_log_stats st;
    tl_buf e = TL_BUF_INIT;
    uint8_t buf[400];

    fake_now = real_ms() + 1000;
    tl_layout_dedup_prefix = prefix;
    CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&m), TL_OK);
    log = open_log(d, m, 1, 7, 1, 50);
    for (int t = 0; t < 3; t++) {
        a[t].log = log;
        a[t].t = t;
        a[t].n = n;
        a[t].s = calloc(n, sizeof(slot));
        waiter_init(&a[t].w, n);
        pthread_create(&th[t], NULL, dupper_main, &a[t]);
    }
    for (int t = 0; t < 3; t++) {
        pthread_join(th[t], NULL);
        CU_ASSERT_FATAL(waiter_wait(&a[t].w, n));
    }
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(a[0].w.err[i], TL_OK);
        CU_ASSERT_EQUAL(a[0].w.idx[i], a[1].w.idx[i]);
        CU_ASSERT_EQUAL(a[0].w.idx[i], a[2].w.idx[i]);
        if (i % 97 == 0) {
            size_t len = make_entry(77, i, buf);
            tl_buf_reset(&e);
            CU_ASSERT_EQUAL(tl_log_entry(log, a[0].w.idx[i], &e), TL_OK);
            CU_ASSERT(e.len == len && memcmp(e.data, buf, len) == 0);
        }
    }
    tl_log_get_stats(log, &st);
    CU_ASSERT_EQUAL(st.signed_size, n);
    CU_ASSERT_EQUAL(st.entries_added, n);
    CU_ASSERT_EQUAL(st.duplicates, 2 * n);
    {
        /* one index each, every leaf found by lookup */
        uint64_t *ix = malloc(n * sizeof(*ix));
        for (size_t i = 0; i < n; i++) {
            tl_hash leaf;
            uint64_t got = UINT64_MAX;
            size_t len = make_entry(77, i, buf);
            ix[i] = a[0].w.idx[i];
            tl_hash_leaf(H, buf, len, &leaf);
            CU_ASSERT_EQUAL(tl_log_lookup(log, &leaf, &got), TL_OK);
            CU_ASSERT_EQUAL(got, a[0].w.idx[i]);
        }
        qsort(ix, n, sizeof(*ix), cmp_u64);
        for (size_t i = 0; i < n; i++)
            CU_ASSERT_EQUAL(ix[i], i);
        free(ix);
    }
    /* resubmitted long after: found through the store's index alone */
    free(a[0].s);
    waiter_free(&a[0].w);
    a[0].s = calloc(n, sizeof(slot));
    a[0].t = 1;
    waiter_init(&a[0].w, n);
    dupper_main(&a[0]);
    CU_ASSERT_FATAL(waiter_wait(&a[0].w, n));
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(a[0].w.err[i], TL_OK);
        CU_ASSERT_EQUAL(a[0].w.idx[i], a[1].w.idx[i]);
    }
    tl_log_get_stats(log, &st);
    CU_ASSERT_EQUAL(st.signed_size, n);
    CU_ASSERT_EQUAL(st.duplicates, 3 * n);
    tl_log_close(log);
    tl_layout_dedup_prefix = TL_LAYOUT_DEDUP_PREFIX;
    for (int t = 0; t < 3; t++) {
        free(a[t].s);
        waiter_free(&a[t].w);
    }
    tl_buf_release(&e);
    tl_test_rmtree(parent);
    free(parent);
    free(d);
}

static void test_dedup_concurrent(void)
{
    dedup_concurrent(TL_LAYOUT_DEDUP_PREFIX);
}

static void test_dedup_shared_keys(void)
{
    dedup_concurrent(1);
}

static void dedup_key(uint64_t *x, uint8_t k[9])
{
    uint64_t r = xorshift(x);
    k[0] = 2;
    memcpy(k + 1, &r, 8);
}

/* The dedup filter: "maybe" until its scan of the store is done; then no
 * false negatives (stored keys, and keys added before the scan as the
 * sequencer does) and few false positives. */
static void test_dedup_filter(void)
{
    tl_store *m = NULL;
    tl_batch *b = tl_batch_new();
    tl_dfilter *f;
    uint8_t k[9], early[9];
    uint64_t x = 12345, fp = 0;
    const int n = 5000;
    int waited = 0;

    CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&m), TL_OK);
    for (int i = 0; i < n; i++) {
        dedup_key(&x, k);
        tl_batch_put(b, k, sizeof k, "v", 1);
    }
    tl_batch_put(b, "\x01s", 2, "state", 5);
    tl_batch_put(b, "\x03zz", 3, "stream", 6);
    CU_ASSERT_EQUAL_FATAL(tl_store_write(m, b, 1), TL_OK);

    f = tl_dfilter_new(64u << 10);
    CU_ASSERT_FATAL(f != NULL);
    dedup_key(&x, early);
    CU_ASSERT_EQUAL(tl_dfilter_ready(f), 0);
    CU_ASSERT_EQUAL(tl_dfilter_may_have(f, early, sizeof early), 1); /* not ready: maybe */
    tl_dfilter_add(f, early, sizeof early);
    CU_ASSERT_EQUAL_FATAL(tl_dfilter_start(f, m), TL_OK);
    while (!tl_dfilter_ready(f) && waited++ < 5000)
        usleep(1000);
    CU_ASSERT_FATAL(tl_dfilter_ready(f));
    x = 12345;
    for (int i = 0; i < n; i++) {
        dedup_key(&x, k);
        CU_ASSERT_EQUAL(tl_dfilter_may_have(f, k, sizeof k), 1);
    }
    CU_ASSERT_EQUAL(tl_dfilter_may_have(f, early, sizeof early), 1);
    x = 999;
    for (int i = 0; i < 10000; i++) {
        dedup_key(&x, k);
        fp += (uint64_t)tl_dfilter_may_have(f, k, sizeof k);
    }
    CU_ASSERT(fp < 100); /* 5001 keys in 2^19 bits: about 0.01% expected */
    tl_dfilter_free(f);

    /* freed while its scan may still run: stops it */
    f = tl_dfilter_new(64u << 10);
    CU_ASSERT_EQUAL(tl_dfilter_start(f, m), TL_OK);
    tl_dfilter_free(f);
    tl_batch_free(b);
    tl_store_close(m);
}

/* Strong dedup across a restart with the filter: entries of the earlier run
 * come back with their indexes (the filter's scan found their keys); new
 * entries skip the store lookup. */
static void test_dedup_filter_reopen(void)
{
    char *parent, *d = tl_test_logdir("tlog-logtest", ORIGIN, &parent);
    tl_log *log;
    tl_log_stats st;
    int waited = 0;

    fake_now = real_ms() + 1000;
    log = open_log(d, NULL, 1, 0, 2, 0);
    add_range(log, 51, 0, 3000, NULL, TL_OK);
    tl_log_close(log);

    log = open_log(d, NULL, 1, 0, 2, 0);
    do {
        tl_log_get_stats(log, &st);
    } while (!st.dedup_filter_ready && waited++ < 10000 && usleep(1000) == 0);
    CU_ASSERT_FATAL(st.dedup_filter_ready);
    add_range(log, 51, 0, 3000, NULL, TL_OK); /* asserts the original indexes */
    tl_log_get_stats(log, &st);
    CU_ASSERT_EQUAL(st.duplicates, 3000);
    CU_ASSERT_EQUAL(st.entries_added, 0);
    CU_ASSERT(st.dedup_store_reads >= 3000);
    add_range(log, 52, 3000, 4000, NULL, TL_OK);
    tl_log_get_stats(log, &st);
    CU_ASSERT_EQUAL(st.entries_added, 1000);
    CU_ASSERT(st.dedup_filter_skips >= 990);
    CU_ASSERT_EQUAL(st.signed_size, 4000);
    tl_log_close(log);
    tl_test_rmtree(parent);
    free(parent);
    free(d);
}

/* Readers racing the sequencer: every signed head's root, proofs and tiles
 * are readable and consistent while tiles fill up and move to the stream. */
typedef struct reader {
    tl_log *log;
    volatile int stop;
    int errors;
    unsigned long checks;
} reader;

static void *reader_main(void *arg)
{
    reader *r = arg;
    tl_hasher *h = tl_hasher_new();
    tl_buf out = TL_BUF_INIT;
    uint64_t x = 88172645463325252ULL;
    while (!r->stop) {
        tl_log_head head;
        tl_hash root, proof[TL_MAX_PROOF], leaf;
        size_t len;
        uint64_t i;
        if (tl_log_latest_signed(r->log, &head) != TL_OK) {
            r->errors++;
            break;
        }
        if (head.size == 0) {
            tl_log_head_release(&head);
            continue;
        }
        i = xorshift(&x) % head.size;
        if (tree_root(r->log, head.size, &root) != TL_OK || memcmp(root.b, head.root.b, 32) != 0)
            r->errors++;
        tl_buf_reset(&out);
        if (tl_log_entry(r->log, i, &out) != TL_OK) {
            r->errors++;
        } else {
            tl_hash_leaf(h, out.data, out.len, &leaf);
            if (prove_inclusion(r->log, i, head.size, proof, &len) != TL_OK ||
                tl_verify_inclusion(h, &leaf, i, head.size, proof, len, &head.root) != TL_OK)
                r->errors++;
        }
        {
            uint64_t cnt = head.size, n = cnt >> 8;
            tl_tile t = {0, n, (unsigned)(cnt & 255)};
            if (t.width == 0) {
                t.n = n - 1;
                t.width = 256;
            }
            tl_buf_reset(&out);
            if (tl_log_tile(r->log, &t, head.size, &out) != TL_OK ||
                out.len != (size_t)t.width * 32)
                r->errors++;
            t.level = TL_TILE_ENTRIES;
            tl_buf_reset(&out);
            if (tl_log_tile(r->log, &t, head.size, &out) != TL_OK)
                r->errors++;
        }
        r->checks++;
        tl_log_head_release(&head);
    }
    tl_buf_release(&out);
    tl_hasher_free(h);
    return NULL;
}

static void test_read_while_writing(void)
{
    char *parent, *d = tl_test_logdir("tlog-logtest", ORIGIN, &parent);
    tl_log *log;
    reader r[2];
    pthread_t th[2];
    const char *san = getenv("TL_SANITIZED");
    uint64_t n = san && *san && strcmp(san, "0") ? 20000 : 60000;

    fake_now = real_ms() + 1000;
    log = open_log(d, NULL, 1, 97, 1, 4096);
    for (int t = 0; t < 2; t++) {
        r[t].log = log;
        r[t].stop = 0;
        r[t].errors = 0;
        r[t].checks = 0;
        pthread_create(&th[t], NULL, reader_main, &r[t]);
    }
    add_range(log, 61, 0, n, NULL, TL_OK);
    for (int t = 0; t < 2; t++) {
        r[t].stop = 1;
        pthread_join(th[t], NULL);
        CU_ASSERT_EQUAL(r[t].errors, 0);
        CU_ASSERT(r[t].checks > 10);
    }
    tl_log_close(log);
    tl_test_rmtree(parent);
    free(parent);
    free(d);
}

/* A store whose writes take ms milliseconds (a slow disk); the log closes
 * it, and with it the inner store. */
typedef struct slow {
    tl_store base;
    tl_store *inner;
    unsigned ms;
} slow;

static int slow_get(tl_store *s, const void *k, size_t kl, tl_buf *v)
{
    return tl_store_get(((slow *)s)->inner, k, kl, v);
}
static int slow_write(tl_store *s, tl_batch *b, int sync)
{
    usleep(((slow *)s)->ms * 1000);
    return tl_store_write(((slow *)s)->inner, b, sync);
}
static void slow_close(tl_store *s)
{
    tl_store_close(((slow *)s)->inner);
    free(s);
}
static const struct tl_store_ops slow_ops = {slow_get, slow_write, slow_close, NULL, NULL, NULL};

static tl_store *slow_of(tl_store *inner, unsigned ms)
{
    slow *s = malloc(sizeof(*s));
    s->base.ops = &slow_ops;
    s->inner = inner;
    s->ms = ms;
    return &s->base;
}

static void test_batching_pushback(void)
{
    char *parent, *d = tl_test_logdir("tlog-logtest", ORIGIN, &parent);
    tl_store *m = NULL;
    tl_log *log;
    waiter w;
    slot s[20];
    struct timespec t0, t1;
    double el;
    uint8_t buf[400];
    tl_log_stats st;

    fake_now = real_ms() + 1000;
    /* batch_max 10, interval 4 s, a store whose writes take 300 ms: a lone
     * entry closes its batch at once (the committer is idle), the next ones
     * gather while its commit is in flight and go in one batch as soon as it
     * is done, long before the interval */
    CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&m), TL_OK);
    log = open_log(d, slow_of(m, 300), 1, 10, 4000, 12);
    waiter_init(&w, 20);
    for (int i = 0; i < 20; i++) {
        s[i].w = &w;
        s[i].i = (size_t)i;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 10; i++) {
        size_t len = make_entry(3, (uint64_t)i, buf);
        CU_ASSERT_EQUAL(tl_log_add(log, buf, len, on_add, &s[i]), TL_OK);
        if (i == 0)
            usleep(100 * 1000); /* the first batch is being written */
    }
    CU_ASSERT_FATAL(waiter_wait(&w, 10));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    el = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    CU_ASSERT(el < 2.0);
    tl_log_get_stats(log, &st);
    CU_ASSERT_EQUAL(st.batches, 2);
    CU_ASSERT_EQUAL(st.batch_entries_last, 9);
    tl_log_close(log);
    /* a full batch closes at once even while a commit is in flight: the
     * third batch does not wait for the second's write */
    CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&m), TL_OK);
    log = open_log(d, slow_of(m, 300), 1, 4, 4000, 12);
    for (int i = 10; i < 19; i++) {
        size_t len = make_entry(3, (uint64_t)i, buf);
        CU_ASSERT_EQUAL(tl_log_add(log, buf, len, on_add, &s[i]), TL_OK);
        if (i == 10)
            usleep(100 * 1000);
    }
    CU_ASSERT_FATAL(waiter_wait(&w, 19));
    tl_log_get_stats(log, &st);
    CU_ASSERT_EQUAL(st.batches, 3); /* 1, then 4 (full), then 4 (full) */
    CU_ASSERT_EQUAL(st.batch_entries_last, 4);
    tl_log_close(log);
    waiter_free(&w);

    /* pushback: while the first entry's commit is slow, the pool of 4 fills */
    CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&m), TL_OK);
    log = open_log(d, slow_of(m, 300), 1, 100, 2000, 4);
    waiter_init(&w, 6);
    for (int i = 0; i < 6; i++) {
        size_t len = make_entry(4, (uint64_t)i, buf);
        s[i].w = &w;
        s[i].i = (size_t)i;
        CU_ASSERT_EQUAL(tl_log_add(log, buf, len, on_add, &s[i]), i < 5 ? TL_OK : TL_ERR_BUSY);
        if (i == 0)
            usleep(100 * 1000); /* the first is taken, its commit in flight */
    }
    CU_ASSERT_EQUAL(tl_log_pool_depth(log), 4);
    tl_log_close(log); /* finishes the pending batch */
    CU_ASSERT_EQUAL(w.done, 5);
    for (int i = 0; i < 5; i++)
        CU_ASSERT_EQUAL(w.err[i], TL_OK);
    CU_ASSERT_EQUAL(w.seen[5], 0);
    waiter_free(&w);
    tl_test_rmtree(parent);
    free(parent);
    free(d);
}

typedef struct lis {
    int calls;
    uint64_t s, p;
} lis;
static void on_event(void *ctx, uint64_t s, uint64_t p)
{
    lis *l = ctx;
    __atomic_add_fetch(&l->calls, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&l->p, p, __ATOMIC_SEQ_CST);
    __atomic_store_n(&l->s, s, __ATOMIC_SEQ_CST);
}

static void test_publish(void)
{
    char *parent, *d = tl_test_logdir("tlog-logtest", ORIGIN, &parent);
    tl_store *m = NULL;
    tl_log *log;
    tl_log_head h, h2, p;
    tl_hash leaves[50];
    tl_signer *cos = NULL;
    char *line = NULL, *bad;
    lis l = {0, 0, 0};

    fake_now = real_ms() + 1000;
    CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&m), TL_OK);
    log = open_log(d, m, 0, 0, 2, 0);
    CU_ASSERT_EQUAL(tl_log_add_listener(log, on_event, &l), TL_OK);
    CU_ASSERT_EQUAL(tl_log_published(log, &p), TL_ERR_NOTFOUND);
    add_range(log, 11, 0, 20, leaves, TL_OK);
    fake_now += 3;
    add_range(log, 11, 20, 50, leaves, TL_OK);
    /* listeners run just after the callbacks */
    for (int i = 0; i < 2000 && __atomic_load_n(&l.s, __ATOMIC_SEQ_CST) != 50; i++)
        usleep(1000);
    CU_ASSERT(l.calls >= 2);
    CU_ASSERT_EQUAL(l.s, 50);
    CU_ASSERT_EQUAL(l.p, 0);
    CU_ASSERT_EQUAL(tl_log_published(log, &p), TL_ERR_NOTFOUND);
    CU_ASSERT_EQUAL_FATAL(tl_log_signed_at(log, 20, &h), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_log_latest_signed(log, &h2), TL_OK);
    CU_ASSERT_EQUAL(h2.size, 50);
    CU_ASSERT(h2.timestamp_ms > h.timestamp_ms);
    /* with a cosignature line appended */
    CU_ASSERT_EQUAL_FATAL(tl_signer_generate("witness.example", TL_KEY_COSIG_V1, &cos), TL_OK);
    {
        tl_note n;
        char *full;
        size_t flen;
        CU_ASSERT_EQUAL_FATAL(tl_note_parse(h.note, h.note_len, &n), TL_OK);
        CU_ASSERT_EQUAL_FATAL(tl_cosig_sign(cos, n.text, n.text_len, 1700000000, &line), TL_OK);
        flen = h.note_len + strlen(line);
        full = malloc(flen + 1);
        memcpy(full, h.note, h.note_len);
        memcpy(full + h.note_len, line, strlen(line) + 1);
        tl_note_release(&n);
        CU_ASSERT_EQUAL(tl_log_publish(log, 20, full, flen), TL_OK); /* listeners: this thread */
        CU_ASSERT_EQUAL_FATAL(tl_log_published(log, &p), TL_OK);
        CU_ASSERT_EQUAL(p.size, 20);
        CU_ASSERT(p.note_len == flen && memcmp(p.note, full, flen) == 0);
        CU_ASSERT(memcmp(p.root.b, h.root.b, 32) == 0);
        CU_ASSERT_EQUAL(l.p, 20);
        tl_log_head_release(&p);
        free(full);
    }
    /* the wrong size's note, a forged body, going back: refused */
    CU_ASSERT_NOT_EQUAL(tl_log_publish(log, 50, h.note, h.note_len), TL_OK);
    bad = malloc(h.note_len + 1);
    memcpy(bad, h.note, h.note_len);
    bad[strlen(ORIGIN) + 2] ^= 1; /* a size digit */
    CU_ASSERT_NOT_EQUAL(tl_log_publish(log, 20, bad, h.note_len), TL_OK);
    free(bad);
    CU_ASSERT_EQUAL(tl_log_publish(log, 50, h2.note, h2.note_len), TL_OK);
    CU_ASSERT_EQUAL(tl_log_publish(log, 20, h.note, h.note_len), TL_ERR_CONFLICT);
    CU_ASSERT_EQUAL(tl_log_publish(log, 51, h2.note, h2.note_len), TL_ERR_NOTFOUND);
    CU_ASSERT_EQUAL_FATAL(tl_log_published(log, &p), TL_OK);
    CU_ASSERT_EQUAL(p.size, 50);
    tl_log_head_release(&p);
    tl_log_close(log);
    tl_log_head_release(&h);
    tl_log_head_release(&h2);
    tl_signer_free(cos);
    free(line);
    tl_test_rmtree(parent);
    free(parent);
    free(d);
}

static void test_clock_back(void)
{
    char *parent, *d = tl_test_logdir("tlog-logtest", ORIGIN, &parent);
    tl_store *m = NULL;
    tl_log *log;
    tl_log_head h;
    tl_log_stats st;
    uint64_t t1;

    fake_now = real_ms() + 1000;
    CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&m), TL_OK);
    log = open_log(d, m, 1, 0, 2, 0);
    add_range(log, 21, 0, 10, NULL, TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_log_latest_signed(log, &h), TL_OK);
    t1 = h.timestamp_ms;
    tl_log_head_release(&h);
    CU_ASSERT(t1 >= fake_now);
    /* same millisecond: allowed, never earlier */
    add_range(log, 21, 10, 12, NULL, TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_log_latest_signed(log, &h), TL_OK);
    CU_ASSERT(h.timestamp_ms >= t1);
    t1 = h.timestamp_ms;
    tl_log_head_release(&h);
    /* clock steps back: no head, the add fails, the log stops */
    fake_now = t1 - 5000;
    add_range(log, 21, 12, 13, NULL, TL_ERR_STOPPED);
    CU_ASSERT_EQUAL_FATAL(tl_log_latest_signed(log, &h), TL_OK);
    CU_ASSERT_EQUAL(h.size, 12);
    CU_ASSERT_EQUAL(h.timestamp_ms, t1);
    tl_log_head_release(&h);
    tl_log_get_stats(log, &st);
    CU_ASSERT_EQUAL(st.stopped, 1);
    CU_ASSERT(strstr(st.stop_reason, "clock") != NULL);
    CU_ASSERT_EQUAL(tl_log_add(log, "x", 1, on_add, NULL), TL_ERR_STOPPED);
    tl_log_close(log);
    tl_test_rmtree(parent);
    free(parent);
    free(d);
}

/* Waits for a group_wait's callback; returns its err. */
static int group_result(group_wait *g)
{
    pthread_mutex_lock(&g->mu);
    while (!g->done)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
    return g->err;
}

/* A temporal shard: its closing time is kept in the log; before it entries
 * are taken and get log times below it, from it on every new entry is
 * refused (at submission, and at the batch's own time for one submitted
 * just before), but the log's own access trail; it survives a reopen; a
 * closed log stays closed and no closing time goes into the past. */
static void test_closes_at(void)
{
    char *parent, *d = tl_test_logdir("tlog-logtest", ORIGIN, &parent), err[256];
    uint64_t was = 1, now = real_ms(), closes = now + 60000;
    tl_log_head h;
    CU_ASSERT_EQUAL(tl_log_set_closes_at(d, now - 60000, NULL, err, sizeof err), TL_ERR_INVALID);
    CU_ASSERT_EQUAL(tl_log_set_closes_at(d, closes + 5000, &was, err, sizeof err), TL_OK);
    CU_ASSERT_EQUAL(was, 0);
    CU_ASSERT_EQUAL(tl_log_set_closes_at(d, closes, &was, err, sizeof err), TL_OK);
    CU_ASSERT_EQUAL(was, closes + 5000);

    fake_now = closes - 3000;
    tl_log *log = open_log(d, NULL, 1, 0, 200, 0);
    CU_ASSERT_EQUAL(tl_log_closes_at(log), closes);
    add_range(log, 31, 0, 10, NULL, TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_log_latest_signed(log, &h), TL_OK);
    CU_ASSERT_EQUAL(h.size, 10);
    CU_ASSERT(h.timestamp_ms < closes);
    tl_log_head_release(&h);
    /* admitted a millisecond before (the submitter's clock), sealed at the
     * closing time (the sequencer's): refused whole */
    fake_now = closes;
    early_thread = pthread_self();
    early_now = closes - 1;
    __atomic_store_n(&early_set, 1, __ATOMIC_SEQ_CST);
    group_wait g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    tl_sub subs[2] = {{"late one", 8, 0}, {"late two", 8, 0}};
    CU_ASSERT_EQUAL_FATAL(tl_log_submit(log, subs, 2, on_group, &g), TL_OK);
    __atomic_store_n(&early_set, 0, __ATOMIC_SEQ_CST);
    CU_ASSERT_EQUAL(group_result(&g), TL_ERR_CLOSED);
    /* from then on: refused at once */
    CU_ASSERT_EQUAL(tl_log_add(log, "later", 5, on_add, NULL), TL_ERR_CLOSED);
    CU_ASSERT_EQUAL(tl_log_submit(log, subs, 2, on_group, &g), TL_ERR_CLOSED);
    /* the access trail goes on */
    group_wait g2 = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
    tl_sub own = {"who read it", 11, 1};
    CU_ASSERT_EQUAL_FATAL(tl_log_submit(log, &own, 1, on_group, &g2), TL_OK);
    CU_ASSERT_EQUAL(group_result(&g2), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_log_latest_signed(log, &h), TL_OK);
    CU_ASSERT_EQUAL(h.size, 11);
    tl_log_head_release(&h);
    /* the log is served: it cannot be changed under it */
    CU_ASSERT_EQUAL(tl_log_set_closes_at(d, closes + 1, NULL, err, sizeof err), TL_ERR_LOCKED);
    tl_log_close(log);

    log = open_log(d, NULL, 1, 0, 2, 0);
    CU_ASSERT_EQUAL(tl_log_closes_at(log), closes);
    CU_ASSERT_EQUAL(tl_log_add(log, "again", 5, on_add, NULL), TL_ERR_CLOSED);
    tl_log_close(log);
    /* closed by the real clock: it stays closed */
    CU_ASSERT_EQUAL(tl_log_set_closes_at(d, real_ms(), NULL, err, sizeof err), TL_OK);
    CU_ASSERT_EQUAL(tl_log_set_closes_at(d, real_ms() + 60000, &was, err, sizeof err),
                    TL_ERR_CONFLICT);
    CU_ASSERT(strstr(err, "stays closed") != NULL);
    CU_ASSERT_EQUAL(tl_log_set_closes_at(parent, real_ms() + 1000, NULL, err, sizeof err),
                    TL_ERR_NOTFOUND);
    tl_test_rmtree(parent);
    free(parent);
    free(d);
}

/* Replaces one stored value's byte; returns the old value in saved. */
static void tamper(const char *dbdir, const void *key, size_t klen, size_t off, tl_buf *saved)
{
    tl_store *s = NULL;
    tl_batch *b = tl_batch_new();
    tl_buf v = TL_BUF_INIT;
    char err[512];
    CU_ASSERT_EQUAL_FATAL(tl_store_open_leveldb(dbdir, 0, &s, err, sizeof(err)), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_store_get(s, key, klen, &v), TL_OK);
    tl_buf_reset(saved);
    tl_buf_add(saved, v.data, v.len);
    CU_ASSERT_FATAL(off < v.len);
    v.data[off] ^= 0x40;
    tl_batch_put(b, key, klen, v.data, v.len);
    CU_ASSERT_EQUAL(tl_store_write(s, b, 1), TL_OK);
    tl_store_close(s);
    tl_batch_free(b);
    tl_buf_release(&v);
}

static void restore(const char *dbdir, const void *key, size_t klen, const tl_buf *saved)
{
    tl_store *s = NULL;
    tl_batch *b = tl_batch_new();
    char err[512];
    CU_ASSERT_EQUAL_FATAL(tl_store_open_leveldb(dbdir, 0, &s, err, sizeof(err)), TL_OK);
    tl_batch_put(b, key, klen, saved->data, saved->len);
    CU_ASSERT_EQUAL(tl_store_write(s, b, 1), TL_OK);
    tl_store_close(s);
    tl_batch_free(b);
}

static int try_open(const char *dir, char *err, size_t cap)
{
    tl_log_config cfg;
    tl_log *log = NULL;
    int rc;
    memset(&cfg, 0, sizeof(cfg));
    cfg.dir = dir;
    cfg.clock_ms = fake_clock;
    rc = tl_log_open(&cfg, &log, err, cap);
    if (rc == TL_OK)
        tl_log_close(log);
    return rc;
}

static void test_recovery_refusal(void)
{
    char *parent, *d = tl_test_logdir("tlog-logtest", ORIGIN, &parent), db[4300], err[512];
    tl_log *log;
    tl_buf saved = TL_BUF_INIT;
    uint8_t k[16];
    int rc;

    fake_now = real_ms() + 1000;
    snprintf(db, sizeof(db), "%s/db", d);
    log = open_log(d, NULL, 1, 0, 2, 0);
    add_range(log, 31, 0, 300, NULL, TL_OK);
    tl_log_close(log);
    CU_ASSERT_EQUAL(try_open(d, err, sizeof(err)), TL_OK);

    /* keys as laid out in docs/LOG.md */
    /* the state's root */
    tamper(db, "\x01s", 2, 8 + 3, &saved);
    rc = try_open(d, err, sizeof(err));
    CU_ASSERT_EQUAL(rc, TL_ERR_CORRUPT);
    CU_ASSERT(strstr(err, "stored root") != NULL && strstr(err, "frontier") != NULL);
    restore(db, "\x01s", 2, &saved);
    /* a frontier hash */
    tamper(db, "\x01s", 2, 40 + 5, &saved);
    rc = try_open(d, err, sizeof(err));
    CU_ASSERT_EQUAL(rc, TL_ERR_CORRUPT);
    CU_ASSERT(strstr(err, "frontier") != NULL);
    restore(db, "\x01s", 2, &saved);
    /* the partial level-0 tile (tile 1, width 44): n u64 | hashes */
    k[0] = 1;
    k[1] = 't';
    k[2] = 0;
    tamper(db, k, 3, 8 + 32 * 43 + 1, &saved);
    rc = try_open(d, err, sizeof(err));
    CU_ASSERT_EQUAL(rc, TL_ERR_CORRUPT);
    CU_ASSERT(strstr(err, "hash tiles") != NULL);
    fprintf(stderr, "\n  [refusal message: %s]\n", err);
    restore(db, k, 3, &saved);
    /* the full level-0 tile 0 (stream key 3 | ~256 | 't' | 0): not on the
     * frontier at 300, caught by the newest-full-tile check */
    k[0] = 3;
    memset(k + 1, 0xff, 8);
    k[7] = (uint8_t)~1;
    k[8] = 0xff;
    k[9] = 't';
    k[10] = 0;
    tamper(db, k, 11, 32 * 255 + 7, &saved);
    rc = try_open(d, err, sizeof(err));
    CU_ASSERT_EQUAL(rc, TL_ERR_CORRUPT);
    CU_ASSERT(strstr(err, "full hash tile 0/0") != NULL);
    fprintf(stderr, "  [refusal message: %s]\n", err);
    restore(db, k, 11, &saved);
    /* the signed checkpoint (stream key 3 | ~300 | 'H') */
    k[0] = 3;
    memset(k + 1, 0xff, 8);
    k[7] = (uint8_t) ~(300 >> 8);
    k[8] = (uint8_t) ~(300 & 255);
    k[9] = 'H';
    tamper(db, k, 10, 0 + 60, &saved);
    rc = try_open(d, err, sizeof(err));
    CU_ASSERT(rc == TL_ERR_CORRUPT || rc == TL_ERR_SIG);
    CU_ASSERT(strstr(err, "signed") != NULL || strstr(err, "STH") != NULL);
    restore(db, k, 10, &saved);
    /* the last entry of the partial bundle */
    k[0] = 1;
    k[1] = 'e';
    {
        tl_store *s = NULL;
        tl_buf v = TL_BUF_INIT;
        CU_ASSERT_EQUAL_FATAL(tl_store_open_leveldb(db, 0, &s, err, sizeof(err)), TL_OK);
        CU_ASSERT_EQUAL_FATAL(tl_store_get(s, k, 2, &v), TL_OK);
        tl_store_close(s);
        tamper(db, k, 2, v.len - 1, &saved);
        tl_buf_release(&v);
    }
    rc = try_open(d, err, sizeof(err));
    CU_ASSERT_EQUAL(rc, TL_ERR_CORRUPT);
    CU_ASSERT(strstr(err, "entry") != NULL);
    restore(db, k, 2, &saved);
    /* all restored: opens */
    CU_ASSERT_EQUAL(try_open(d, err, sizeof(err)), TL_OK);
    tl_buf_release(&saved);
    tl_test_rmtree(parent);
    free(parent);
    free(d);
}

/* Corruption found by a read after open (a full bundle's entry length, an
 * entry's byte) is reported and stops signing; so does a mismatch reported
 * by a caller. */
static void test_read_corruption_stops(void)
{
    char *parent, *d = tl_test_logdir("tlog-logtest", ORIGIN, &parent), db[4300], err[512];
    tl_log *log;
    tl_log_stats st;
    tl_buf saved = TL_BUF_INIT, out = TL_BUF_INIT;
    uint8_t k[TL_LAYOUT_KEY_MAX];
    size_t kl;

    fake_now = real_ms() + 1000;
    snprintf(db, sizeof(db), "%s/db", d);
    log = open_log(d, NULL, 1, 0, 2, 0);
    add_range(log, 41, 0, 300, NULL, TL_OK);
    tl_log_close(log);

    kl = tl_layout_key_bundle(k, 0);
    tamper(db, k, kl, 0, &saved); /* high byte of entry 0's length */
    log = open_log(d, NULL, 1, 0, 2, 0);
    CU_ASSERT_EQUAL(tl_log_entry(log, 300 - 1, &out), TL_OK); /* other bundle: fine */
    tl_log_get_stats(log, &st);
    CU_ASSERT_EQUAL(st.stopped, 0);
    CU_ASSERT_EQUAL(tl_log_entry(log, 0, &out), TL_ERR_CORRUPT);
    tl_log_get_stats(log, &st);
    CU_ASSERT_EQUAL(st.stopped, 1);
    CU_ASSERT(strstr(st.stop_reason, "corrupt") != NULL && strstr(st.stop_reason, "entry") != NULL);
    CU_ASSERT_EQUAL(tl_log_add(log, "x", 1, NULL, NULL), TL_ERR_STOPPED);
    tl_log_close(log);
    restore(db, k, kl, &saved);

    /* A flipped byte inside entry 0 under a valid store checksum: the bundle
     * and the entry are refused (bundles are read without the store's CRC and
     * every entry is hashed), naming the entry. */
    {
        tl_tile t = {TL_TILE_ENTRIES, 0, TL_TILE_WIDTH};
        tamper(db, k, kl, 3, &saved);
        log = open_log(d, NULL, 1, 0, 2, 0);
        tl_buf_reset(&out);
        CU_ASSERT_EQUAL(tl_log_tile(log, &t, 300, &out), TL_ERR_CORRUPT);
        CU_ASSERT_EQUAL(out.len, 0);
        tl_log_get_stats(log, &st);
        CU_ASSERT_EQUAL(st.stopped, 1);
        CU_ASSERT(strstr(st.stop_reason, "entry 0 does not hash") != NULL);
        tl_log_close(log);
        restore(db, k, kl, &saved);
        log = open_log(d, NULL, 1, 0, 2, 0);
        CU_ASSERT_EQUAL(tl_log_tile(log, &t, 300, &out), TL_OK);
        CU_ASSERT_EQUAL(tl_log_entry(log, 0, &out), TL_OK);
        tl_log_close(log);
        tamper(db, k, kl, 3, &saved);
        log = open_log(d, NULL, 1, 0, 2, 0);
        CU_ASSERT_EQUAL(tl_log_entry(log, 1, &out), TL_OK); /* only entry 0 is hashed */
        CU_ASSERT_EQUAL(tl_log_entry(log, 0, &out), TL_ERR_CORRUPT);
        tl_log_get_stats(log, &st);
        CU_ASSERT(strstr(st.stop_reason, "entry 0 does not hash") != NULL);
        tl_log_close(log);
        restore(db, k, kl, &saved);
    }

    log = open_log(d, NULL, 1, 0, 2, 0);
    tl_log_get_stats(log, &st);
    CU_ASSERT_EQUAL(st.stopped, 0);
    tl_log_corrupt(log, "entry 7 does not match its leaf hash");
    tl_log_get_stats(log, &st);
    CU_ASSERT_EQUAL(st.stopped, 1);
    CU_ASSERT(strstr(st.stop_reason, "entry 7") != NULL);
    CU_ASSERT_EQUAL(tl_log_add(log, "y", 1, NULL, NULL), TL_ERR_STOPPED);
    tl_log_close(log);
    (void)err;
    tl_buf_release(&saved);
    tl_buf_release(&out);
    tl_test_rmtree(parent);
    free(parent);
    free(d);
}

/* ---- the audit kind's time index and packed index ---- */

typedef struct hits {
    uint64_t idx[256];
    size_t n;
} hits;

static int on_audit_hit(void *ctx, uint64_t index, const tl_audit_body *b)
{
    hits *h = ctx;
    (void)b;
    if (h->n < 256)
        h->idx[h->n++] = index;
    return 0;
}

static int count_time_key(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    size_t *n = ctx;
    (void)key;
    (void)klen;
    (void)val;
    (void)vlen;
    (*n)++;
    return 0;
}

static size_t time_keys(tl_log *log)
{
    const uint8_t lo[2] = {TL_LAYOUT_KIND_PREFIX, 'm'}, hi[2] = {TL_LAYOUT_KIND_PREFIX, 'n'};
    size_t n = 0;
    CU_ASSERT_EQUAL(tl_log_kind_range(log, lo, 2, hi, 2, count_time_key, &n), TL_OK);
    return n;
}

typedef struct time_key_del {
    tl_batch *b;
    uint64_t from, to; /* keys of indexes in [from, to) go */
} time_key_del;

static int del_time_key(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    time_key_del *d = ctx;
    uint64_t index;
    (void)val;
    (void)vlen;
    CU_ASSERT_EQUAL_FATAL(klen, 18);
    index = tl_layout_get_u64((const uint8_t *)key + 10);
    if (index >= d->from && index < d->to)
        CU_ASSERT_EQUAL(tl_batch_del(d->b, key, klen), TL_OK);
    return 0;
}

/* Drops the time index keys of the runs starting in [from, to), as in a log
 * written before the index (or one whose index lost a key). */
static void drop_time_keys(tl_log *log, tl_store *st, uint64_t from, uint64_t to)
{
    const uint8_t lo[2] = {TL_LAYOUT_KIND_PREFIX, 'm'}, hi[2] = {TL_LAYOUT_KIND_PREFIX, 'n'};
    time_key_del d = {tl_batch_new(), from, to};
    CU_ASSERT_FATAL(d.b != NULL);
    CU_ASSERT_EQUAL(tl_log_kind_range(log, lo, 2, hi, 2, del_time_key, &d), TL_OK);
    CU_ASSERT_EQUAL(tl_store_write(st, d.b, 1), TL_OK);
    tl_batch_free(d.b);
}

typedef struct unpack {
    tl_batch *b;
    uint64_t below; /* packed keys of batches starting below this go */
    size_t keys, postings;
} unpack;

/* 10 'p' f H8 ~first -> varints of index - first, highest first: each
 * becomes 10 'i' f H8 ~index, as a log written before the packed index
 * holds it. */
static int unpack_key(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    unpack *u = ctx;
    const uint8_t *k = key, *p = val, *end = p + vlen;
    uint64_t first;
    CU_ASSERT_EQUAL_FATAL(klen, 19);
    first = ~tl_layout_get_u64(k + 11);
    u->keys++;
    if (first >= u->below)
        return 0;
    while (p < end) {
        uint64_t off = 0;
        unsigned shift = 0;
        uint8_t ik[19];
        do {
            off |= (uint64_t)(*p & 0x7f) << shift;
            shift += 7;
        } while (*p++ & 0x80);
        memcpy(ik, k, 11);
        ik[1] = 'i';
        tl_layout_put_u64(ik + 11, ~(first + off));
        CU_ASSERT_EQUAL(tl_batch_put(u->b, ik, 19, "", 0), TL_OK);
        u->postings++;
    }
    CU_ASSERT_EQUAL(tl_batch_del(u->b, key, klen), TL_OK);
    return 0;
}

/* Rewrites the packed index of the batches starting below `below` one key
 * an event (10 'i'); returns the number of packed keys there were. */
static size_t unpack_below(tl_log *log, tl_store *st, uint64_t below, size_t *postings)
{
    const uint8_t lo[2] = {TL_LAYOUT_KIND_PREFIX, 'p'}, hi[2] = {TL_LAYOUT_KIND_PREFIX, 'q'};
    unpack u = {tl_batch_new(), below, 0, 0};
    CU_ASSERT_FATAL(u.b != NULL);
    CU_ASSERT_EQUAL(tl_log_kind_range(log, lo, 2, hi, 2, unpack_key, &u), TL_OK);
    CU_ASSERT_EQUAL(tl_store_write(st, u.b, 1), TL_OK);
    tl_batch_free(u.b);
    if (postings)
        *postings = u.postings;
    return u.keys;
}

/* Which entries a query should give beyond its time bounds. */
typedef int (*hit_pred)(const void *ctx, uint64_t index);

static int any_entry(const void *ctx, uint64_t index)
{
    (void)ctx;
    (void)index;
    return 1;
}

/* ctx: unused; actor u<index % 3>, as test_audit_time_index writes them */
static int actor_u1(const void *ctx, uint64_t index)
{
    (void)ctx;
    return index % 3 == 1;
}

/* ctx: the batch of each entry; actor u1 and resource r9 */
static int actor_u1_in_batch9(const void *ctx, uint64_t index)
{
    const int *batch_of = ctx;
    return index % 3 == 1 && batch_of[index] == 9;
}

/* Runs q and checks it gives the entries a brute force over the times gives,
 * newest first: those within q's since/until that keep(ctx, index) takes, at
 * most q->limit of them. */
static void check_hits(tl_log *log, uint64_t size, const tl_audit_query *q, const uint64_t *times,
                       hit_pred keep, const void *ctx)
{
    hits h = {{0}, 0};
    int more = 0;
    size_t n = 0;
    CU_ASSERT_EQUAL_FATAL(tl_audit_query_run(log, size, q, on_audit_hit, &h, &more), TL_OK);
    for (uint64_t i = size; i-- > 0 && n < q->limit;)
        if (keep(ctx, i) && (int64_t)times[i] >= q->since &&
            (!q->has_until || (int64_t)times[i] < q->until)) {
            CU_ASSERT_FATAL(n < h.n);
            CU_ASSERT_EQUAL(h.idx[n], i);
            n++;
        }
    CU_ASSERT_EQUAL(n, h.n);
}

/* Every since/until over the log's times (and between and beyond them)
 * gives the entries a brute force over the bodies gives, newest first. */
static void check_time_queries(tl_log *log, uint64_t size, const uint64_t *times,
                               const int *batch_of)
{
    int64_t probes[64];
    size_t np = 0;
    probes[np++] = 0;
    probes[np++] = (int64_t)times[0] - 1;
    for (uint64_t i = 0; i < size && np + 3 <= 64; i++)
        if (i == 0 || times[i] != times[i - 1]) {
            probes[np++] = (int64_t)times[i];
            probes[np++] = (int64_t)times[i] + 1;
        }
    probes[np++] = (int64_t)times[size - 1] + 1000;
    for (size_t a = 0; a < np; a++)
        for (size_t b = 0; b <= np; b++) {
            tl_audit_query q;
            memset(&q, 0, sizeof q);
            q.has_since = 1;
            q.since = probes[a];
            q.has_until = b < np;
            q.until = b < np ? probes[b] : 0;
            q.below = size;
            q.limit = 1000;
            check_hits(log, size, &q, times, any_entry, NULL);
            /* the actor filter over the same bounds: a member index and the time bounds */
            q.actor.s = "u1";
            q.actor.len = 2;
            check_hits(log, size, &q, times, actor_u1, NULL);
            /* two filters (intersected): actor u1 and the resource of batch 9 */
            q.resource_id.s = "r9";
            q.resource_id.len = 2;
            check_hits(log, size, &q, times, actor_u1_in_batch9, batch_of);
            /* a page of 2 (every event is a success) */
            q.resource_id.s = NULL;
            q.resource_id.len = 0;
            q.actor.s = NULL;
            q.actor.len = 0;
            q.outcome.s = "success";
            q.outcome.len = 7;
            q.limit = 2;
            check_hits(log, size, &q, times, any_entry, NULL);
        }
}

static void test_audit_time_index(void)
{
    char *parent, *dir = tl_test_logdir("tlog-logtest", ORIGIN, &parent);
    tl_store *st;
    tl_log_config cfg;
    tl_log *log = NULL;
    tl_buf body = TL_BUF_INIT;
    uint64_t times[128], size = 0, t0;
    int batch_of[128];
    size_t postings = 0;
    char err[256];
    CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&st), TL_OK);
    memset(&cfg, 0, sizeof(cfg));
    cfg.dir = dir;
    cfg.store = st;
    cfg.kind = &tl_kind_audit;
    cfg.publish_on_sign = 1;
    cfg.clock_ms = fake_clock;
    t0 = fake_now = real_ms() + 1000;
    CU_ASSERT_EQUAL_FATAL(tl_log_open(&cfg, &log, err, sizeof err), TL_OK);
    /* 30 batches of 1 to 4 events; every third batch at the time of the one before */
    for (int b = 0; b < 30; b++) {
        size_t n = (size_t)(b % 4) + 1;
        tl_audit_event ev[4];
        tl_sub subs[4];
        tl_buf enc[4];
        group_wait g = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
        if (b % 3 != 2)
            fake_now += (uint64_t)(b % 5) + 1;
        for (size_t i = 0; i < n; i++) {
            char text[200], why[200];
            tl_audit_sub sub;
            int len = snprintf(text, sizeof text,
                               "{\"actor\":{\"id\":\"u%d\"},\"action\":\"a.b\",\"resource\":"
                               "{\"type\":\"t\",\"id\":\"r%d\"},\"outcome\":\"success\"}",
                               (int)((size + i) % 3), b);
            CU_ASSERT_EQUAL_FATAL(tl_audit_event_parse(text, (size_t)len, "test",
                                                       TL_AUDIT_MAX_EVENT_DEFAULT, &ev[i], why,
                                                       sizeof why),
                                  TL_OK);
            memset(&sub, 0, sizeof sub);
            sub.ev = &ev[i];
            memset(sub.salt, (int)(size + i), TL_AUDIT_SALT);
            tl_buf_init(&enc[i]);
            CU_ASSERT_EQUAL_FATAL(tl_audit_sub_encode(H, &sub, &enc[i]), TL_OK);
            subs[i].data = enc[i].data;
            subs[i].len = enc[i].len;
            subs[i].own = 0;
        }
        CU_ASSERT_EQUAL_FATAL(tl_log_submit(log, subs, n, on_group, &g), TL_OK);
        pthread_mutex_lock(&g.mu);
        while (!g.done)
            pthread_cond_wait(&g.cv, &g.mu);
        pthread_mutex_unlock(&g.mu);
        CU_ASSERT_EQUAL_FATAL(g.err, TL_OK);
        for (size_t i = 0; i < n; i++) {
            tl_audit_event_release(&ev[i]);
            tl_buf_release(&enc[i]);
            batch_of[size + i] = b;
        }
        size += n;
    }
    CU_ASSERT_EQUAL_FATAL(size, 73);
    for (uint64_t i = 0; i < size; i++) {
        tl_audit_body b;
        CU_ASSERT_EQUAL_FATAL(tl_audit_body_read(log, i, &body, &b), TL_OK);
        times[i] = b.time_ms;
        CU_ASSERT(b.time_ms > t0 && (i == 0 || b.time_ms >= times[i - 1]));
    }
    CU_ASSERT(times[size - 1] > times[0]);
    /* one time key a batch, and one packed index key a batch for each
     * value: a batch's 1-4 events hold 1-3 actors, one action, resource
     * type, resource and outcome */
    CU_ASSERT_EQUAL(time_keys(log), 30);
    CU_ASSERT_EQUAL(unpack_below(log, st, 0, NULL), 30 * 4 + 8 * 1 + 8 * 2 + 7 * 3 + 7 * 3);
    check_time_queries(log, size, times, batch_of);
    /* a key of the middle gone: the check falls back to the bodies */
    drop_time_keys(log, st, 30, 40);
    check_time_queries(log, size, times, batch_of);
    /* a log written before the time index, then with it from index 50 on */
    drop_time_keys(log, st, 0, 50);
    check_time_queries(log, size, times, batch_of);
    /* none at all */
    drop_time_keys(log, st, 0, size);
    CU_ASSERT_EQUAL(time_keys(log), 0);
    check_time_queries(log, size, times, batch_of);
    /* made packed: it says so (10 'v'), and queries read that form only */
    {
        const uint8_t vk[2] = {TL_LAYOUT_KIND_PREFIX, 'v'};
        tl_batch *b = tl_batch_new();
        CU_ASSERT_EQUAL(tl_log_kind_get(log, vk, 2, &body), TL_OK);
        CU_ASSERT(body.len == 1 && body.data[0] == 1);
        /* a log written one index key an event below index 40, packed
         * above (the two forms merged), then one whose whole index is so */
        CU_ASSERT_EQUAL(tl_batch_del(b, vk, 2), TL_OK);
        CU_ASSERT_EQUAL(tl_store_write(st, b, 1), TL_OK);
        tl_batch_free(b);
    }
    unpack_below(log, st, 40, &postings);
    CU_ASSERT_EQUAL(postings, 5 * 40); /* batch 16 starts at index 40 */
    check_time_queries(log, size, times, batch_of);
    unpack_below(log, st, size, &postings);
    CU_ASSERT_EQUAL(unpack_below(log, st, size, NULL), 0);
    check_time_queries(log, size, times, batch_of);
    tl_buf_release(&body);
    tl_log_close(log);
    tl_test_rmtree(parent);
    free(parent);
    free(dir);
}

/* The large reader keeps full entry bundles it checked: the same bytes as
 * tl_log_tile, pinned past the reader's end; a damaged bundle is refused
 * and not kept; partial bundles are never kept. */
static void test_reader_bundle_cache(void)
{
    char *parent, *d = tl_test_logdir("tlog-logtest", ORIGIN, &parent), db[4300];
    tl_log *log;
    tl_log_reader *r;
    tl_buf saved = TL_BUF_INIT, want = TL_BUF_INIT;
    uint8_t k[TL_LAYOUT_KEY_MAX];
    size_t kl = tl_layout_key_bundle(k, 0), len = 0, len2 = 0;
    const uint8_t *data = NULL, *data2 = NULL;
    void *pin = NULL, *pin2 = NULL;
    tl_tile full = {TL_TILE_ENTRIES, 0, TL_TILE_WIDTH}, part = {TL_TILE_ENTRIES, 1, 44};

    fake_now = real_ms() + 1000;
    snprintf(db, sizeof(db), "%s/db", d);
    log = open_log(d, NULL, 1, 0, 2, 0);
    add_range(log, 43, 0, 300, NULL, TL_OK);
    tl_log_close(log);

    tamper(db, k, kl, 3, &saved); /* a byte of entry 0, under a valid store checksum */
    log = open_log(d, NULL, 1, 0, 2, 0);
    CU_ASSERT_EQUAL_FATAL(tl_log_reader_new(log, TL_LOG_READER_LARGE, &r), TL_OK);
    pin = &pin;
    CU_ASSERT_EQUAL(tl_log_reader_tile_pinned(r, &full, 300, &data, &len, &pin), TL_ERR_CORRUPT);
    CU_ASSERT_PTR_NULL(pin);
    tl_log_reader_free(r);
    tl_log_close(log);
    restore(db, k, kl, &saved);

    log = open_log(d, NULL, 1, 0, 2, 0);
    CU_ASSERT_EQUAL(tl_log_tile(log, &full, 300, &want), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_log_reader_new(log, TL_LOG_READER_LARGE, &r), TL_OK);
    CU_ASSERT_EQUAL(tl_log_reader_tile_pinned(r, &full, 300, &data, &len, &pin), TL_OK);
    CU_ASSERT_PTR_NOT_NULL(pin);
    CU_ASSERT(len == want.len && memcmp(data, want.data, len) == 0);
    /* again: from the cache, the same bytes */
    CU_ASSERT_EQUAL(tl_log_reader_tile_pinned(r, &full, 300, &data2, &len2, &pin2), TL_OK);
    CU_ASSERT_PTR_EQUAL(pin2, pin);
    CU_ASSERT_PTR_EQUAL(data2, data);
    tl_log_reader_unpin(pin2);
    /* a partial bundle, and bundle 0 in a tree where it is partial: not kept */
    CU_ASSERT_EQUAL(tl_log_reader_tile_pinned(r, &part, 300, &data2, &len2, &pin2), TL_OK);
    CU_ASSERT_PTR_NULL(pin2);
    {
        tl_tile t = {TL_TILE_ENTRIES, 0, 200};
        CU_ASSERT_EQUAL(tl_log_reader_tile_pinned(r, &t, 200, &data2, &len2, &pin2), TL_OK);
        CU_ASSERT_PTR_NULL(pin2);
    }
    tl_log_reader_free(r);
    CU_ASSERT(memcmp(data, want.data, want.len) == 0); /* pinned past the reader */
    tl_log_reader_unpin(pin);
    tl_log_reader_unpin(NULL);
    tl_log_close(log);
    tl_buf_release(&saved);
    tl_buf_release(&want);
    tl_test_rmtree(parent);
    free(parent);
    free(d);
}

static void test_second_opener(void)
{
    char *parent, *d = tl_test_logdir("tlog-logtest", ORIGIN, &parent);
    tl_log *log;
    pid_t pid;
    int status = -1;

    fake_now = real_ms() + 1000;
    log = open_log(d, NULL, 1, 0, 2, 0);
    add_range(log, 41, 0, 5, NULL, TL_OK);
    pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        execl(self_exe, self_exe, "--try-open", d, (char *)NULL);
        _exit(99);
    }
    CU_ASSERT(waitpid(pid, &status, 0) == pid);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    tl_log_close(log);
    tl_test_rmtree(parent);
    free(parent);
    free(d);
}

/* Child side of test_second_opener: exit 0 iff refused with TL_ERR_LOCKED. */
static int child_try_open(const char *dir)
{
    char err[512];
    int rc;
    fake_now = real_ms() + 1000;
    rc = try_open(dir, err, sizeof(err));
    fprintf(stderr, "  [second opener: %s: %s]\n", tl_strerror(rc), err);
    return rc == TL_ERR_LOCKED && strstr(err, "in use by another process") ? 0 : 1;
}

static void fault_case(int mode)
{
    char *parent, *d = tl_test_logdir("tlog-logtest", ORIGIN, &parent), db[4300], err[512];
    tl_store *s = NULL, *f = NULL;
    tl_log *log;
    tl_log_head h10, h;
    tl_log_stats st;
    tl_hash leaves[20], root, proof[TL_MAX_PROOF];
    size_t len;

    fake_now = real_ms() + 1000;
    snprintf(db, sizeof(db), "%s/db", d);
    CU_ASSERT_EQUAL_FATAL(tl_store_open_leveldb(db, 0, &s, err, sizeof(err)), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_store_fault_wrap(s, &f), TL_OK);
    log = open_log(d, f, 1, 0, 2, 0);
    add_range(log, 51, 0, 10, leaves, TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_log_latest_signed(log, &h10), TL_OK);
    tl_store_fault_arm(f, 1, mode);
    fake_now += 10;
    add_group(log, 51, 10, 15, TL_ERR_STOPPED); /* one batch, its write fails */
    tl_log_get_stats(log, &st);
    CU_ASSERT_EQUAL(st.stopped, 1);
    CU_ASSERT(strstr(st.stop_reason, "commit") != NULL);
    CU_ASSERT_EQUAL(st.signed_size, 10);
    CU_ASSERT_EQUAL(tl_log_add(log, "y", 1, on_add, NULL), TL_ERR_STOPPED);
    /* nothing beyond the acknowledged state is visible */
    CU_ASSERT_EQUAL(tl_log_published(log, &h), TL_OK);
    CU_ASSERT_EQUAL(h.size, 10);
    tl_log_head_release(&h);
    tl_log_close(log);

    /* reopen: recovers from what is on disk */
    fake_now += 10;
    log = open_log(d, NULL, 1, 0, 2, 0);
    tl_log_get_stats(log, &st);
    CU_ASSERT_EQUAL(st.signed_size, mode == 0 ? 10 : 15);
    CU_ASSERT_EQUAL(st.stopped, 0);
    /* the acknowledged head is unchanged (no fork) */
    CU_ASSERT_EQUAL_FATAL(tl_log_signed_at(log, 10, &h), TL_OK);
    CU_ASSERT(memcmp(h.root.b, h10.root.b, 32) == 0);
    CU_ASSERT(h.note_len == h10.note_len && memcmp(h.note, h10.note, h.note_len) == 0);
    tl_log_head_release(&h);
    /* resubmitting: same indexes 10..14 either way */
    add_range(log, 51, 10, 15, leaves, TL_OK);
    mth(leaves, 0, 15, &root);
    check_head(log, 15, &root);
    CU_ASSERT_EQUAL(prove_consistency(log, 10, 15, proof, &len), TL_OK);
    CU_ASSERT_EQUAL(tl_verify_consistency(H, 10, 15, proof, len, &h10.root, &root), TL_OK);
    tl_log_close(log);
    tl_log_head_release(&h10);
    tl_test_rmtree(parent);
    free(parent);
    free(d);
}

static void test_fault_not_applied(void)
{
    fault_case(0);
}

static void test_fault_applied(void)
{
    fault_case(1);
}

int main(int argc, char **argv)
{
    CU_pSuite s;
    unsigned fails;
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
    if (n > 0)
        self_exe[n] = 0;
    H = tl_hasher_new();
    if (argc == 3 && strcmp(argv[1], "--try-open") == 0) {
        int rc = child_try_open(argv[2]);
        tl_hasher_free(H);
        return rc;
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    s = CU_add_suite("log", NULL, NULL);
    CU_add_test(s, "store_mem", test_store_mem);
    CU_add_test(s, "store_leveldb", test_store_leveldb);
    CU_add_test(s, "store_fault", test_store_fault);
    CU_add_test(s, "create", test_create);
    CU_add_test(s, "add_tiles_proofs", test_add_tiles_proofs);
    CU_add_test(s, "concurrent_leveldb_reopen", test_concurrent_leveldb_reopen);
    CU_add_test(s, "dedup_concurrent", test_dedup_concurrent);
    CU_add_test(s, "dedup_shared_keys", test_dedup_shared_keys);
    CU_add_test(s, "dedup_filter", test_dedup_filter);
    CU_add_test(s, "dedup_filter_reopen", test_dedup_filter_reopen);
    CU_add_test(s, "read_while_writing", test_read_while_writing);
    CU_add_test(s, "batching_pushback", test_batching_pushback);
    CU_add_test(s, "publish", test_publish);
    CU_add_test(s, "clock_back", test_clock_back);
    CU_add_test(s, "closes_at", test_closes_at);
    CU_add_test(s, "recovery_refusal", test_recovery_refusal);
    CU_add_test(s, "read_corruption_stops", test_read_corruption_stops);
    CU_add_test(s, "reader_bundle_cache", test_reader_bundle_cache);
    CU_add_test(s, "audit_time_index", test_audit_time_index);
    CU_add_test(s, "second_opener", test_second_opener);
    CU_add_test(s, "fault_not_applied", test_fault_not_applied);
    CU_add_test(s, "fault_applied", test_fault_applied);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    tl_hasher_free(H);
    return fails ? 1 : 0;
}
