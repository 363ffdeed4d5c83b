/*
 * test_kind.c - the entry-kind seam of the sequencer (log/kind.h), with a
 * kind of the test's own whose entries depend on their index and the log
 * time (like audit records) and whose submissions carry an idempotency key:
 *   - a group is committed whole, its new entries at consecutive indexes,
 *     the kind's records in the same commit as the tree;
 *   - the same key and the same content is the earlier occurrence (within a
 *     batch, against the commits in flight, against the store, across a
 *     restart); the same key and other content refuses the whole group with
 *     TL_ERR_CONFLICT and records nothing of it;
 *   - submissions without a key are never merged;
 *   - the log time never decreases: a clock stepped back repeats it;
 *   - a group larger than a batch, or than the pool has room for, is refused.
 *
 * Test-kind submissions: "K<key>|<content>" (key = the bytes up to '|') or
 * "-<content>" (no key). Entry: "<time>:<index>:<submission>". Record beside
 * the tree: 10 'T' <index u64> -> the submission.
 */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log/kind.h"
#include "log/layout.h"
#include "log/log.h"
#include "store/store.h"
#include "tests/unit.h"

#define ORIGIN "example.com/kind-test"

/* ---- the test kind -------------------------------------------------------- */

static size_t rec_key(uint8_t *k, uint64_t index)
{
    k[0] = TL_LAYOUT_KIND_PREFIX;
    k[1] = 'T';
    tl_layout_put_u64(k + 2, index);
    return 10;
}

static int tk_prepare(const tl_kind *k, tl_hasher *h, const uint8_t *sub, size_t len, tl_hash *key,
                      tl_hash *leaf)
{
    const uint8_t *bar;
    (void)k;
    (void)leaf;
    if (sub[0] == '-')
        return 0;
    bar = memchr(sub, '|', len);
    if (sub[0] != 'K' || !bar)
        return TL_ERR_INVALID;
    tl_sha256(h, sub, (size_t)(bar - sub), key);
    return 1;
}

static int tk_seal(const tl_kind *k, tl_hasher *h, const uint8_t *sub, size_t len, uint64_t index,
                   uint64_t time_ms, tl_buf *entry, tl_batch *wb)
{
    uint8_t key[16];
    (void)k;
    (void)h;
    if (tl_buf_addf(entry, "%llu:%llu:", (unsigned long long)time_ms, (unsigned long long)index) ||
        tl_buf_add(entry, sub, len))
        return TL_ERR_NOMEM;
    return tl_batch_put(wb, key, rec_key(key, index), sub, len);
}

static int tk_key_at(const tl_kind *k, tl_store *s, uint64_t index, tl_hash *key, tl_buf *scratch)
{
    uint8_t rk[16];
    const uint8_t *bar;
    tl_hasher *h;
    int rc = tl_store_get(s, rk, rec_key(rk, index), scratch);
    (void)k;
    if (rc != TL_OK)
        return rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc;
    bar = memchr(scratch->data, '|', scratch->len);
    if (!bar)
        return TL_ERR_CORRUPT;
    h = tl_hasher_new();
    tl_sha256(h, scratch->data, (size_t)(bar - scratch->data), key);
    tl_hasher_free(h);
    return TL_OK;
}

static int tk_same_stored(const tl_kind *k, tl_store *s, uint64_t index, const uint8_t *sub,
                          size_t len)
{
    uint8_t rk[16];
    tl_buf v = TL_BUF_INIT;
    int rc = tl_store_get(s, rk, rec_key(rk, index), &v);
    (void)k;
    if (rc == TL_OK)
        rc = v.len == len && memcmp(v.data, sub, len) == 0 ? TL_OK : TL_ERR_CONFLICT;
    tl_buf_release(&v);
    return rc;
}

static int tk_same_pending(const tl_kind *k, const uint8_t *sub, size_t len, const uint8_t *other,
                           size_t olen)
{
    (void)k;
    return len == olen && memcmp(sub, other, len) == 0 ? TL_OK : TL_ERR_CONFLICT;
}

static const tl_kind test_kind = {
    .name = "kindtest",
    .repeat_time_on_clock_step = 1,
    .prepare = tk_prepare,
    .seal = tk_seal,
    .key_at = tk_key_at,
    .same_stored = tk_same_stored,
    .same_pending = tk_same_pending,
};

/* ---- helpers -------------------------------------------------------------- */

static volatile uint64_t fake_now = 1800000000000ULL;
static uint64_t fake_clock(void)
{
    return __atomic_load_n(&fake_now, __ATOMIC_SEQ_CST);
}

typedef struct result {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, err;
    size_t n, bad;
    tl_sub_result res[64];
} result;

static void result_init(result *r)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
}

static void on_done(void *ctx, int err, const tl_sub_result *res, size_t n, size_t bad)
{
    result *r = ctx;
    pthread_mutex_lock(&r->mu);
    r->err = err;
    r->n = n;
    r->bad = bad;
    memcpy(r->res, res, n * sizeof(*res));
    r->done++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void result_wait(result *r)
{
    pthread_mutex_lock(&r->mu);
    while (!r->done)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
}

/* Submits the strings as one group. */
static int submit(tl_log *log, result *r, const char *const *subs, size_t n)
{
    tl_sub s[64];
    result_init(r);
    for (size_t i = 0; i < n; i++) {
        s[i].data = subs[i];
        s[i].len = strlen(subs[i]);
        s[i].own = 0;
    }
    return tl_log_submit(log, s, n, on_done, r);
}

/* Submits and waits; returns the callback's err. */
static int submit_wait(tl_log *log, result *r, const char *const *subs, size_t n)
{
    int rc = submit(log, r, subs, n);
    CU_ASSERT_EQUAL_FATAL(rc, TL_OK);
    result_wait(r);
    return r->err;
}

/* A store that survives the log (so the test can reopen it). */
typedef struct keep {
    tl_store base;
    tl_store *inner;
} keep;

static int keep_get(tl_store *s, const void *k, size_t kl, tl_buf *v)
{
    return tl_store_get(((keep *)s)->inner, k, kl, v);
}
static int keep_write(tl_store *s, tl_batch *b, int sync)
{
    return tl_store_write(((keep *)s)->inner, b, sync);
}
static void keep_close(tl_store *s)
{
    (void)s;
}
static int keep_scan(tl_store *s, const void *lo, size_t lol, const void *hi, size_t hil,
                     int (*fn)(void *, const void *, size_t), void *ctx)
{
    return tl_store_scan(((keep *)s)->inner, lo, lol, hi, hil, fn, ctx);
}
static const struct tl_store_ops keep_ops = {keep_get, keep_write, keep_close,
                                             NULL,     keep_scan,  NULL};

static tl_log *open_kind(const char *dir, tl_store *store, const tl_kind *kind, size_t batch_max,
                         unsigned interval, size_t pool_max, char *err, size_t cap, int *rc)
{
    tl_log_config cfg;
    tl_log *log = NULL;
    memset(&cfg, 0, sizeof(cfg));
    cfg.dir = dir;
    cfg.store = store;
    cfg.kind = kind;
    cfg.publish_on_sign = 1;
    cfg.batch_max = batch_max;
    cfg.batch_interval_ms = interval;
    cfg.pool_max = pool_max;
    cfg.clock_ms = fake_clock;
    *rc = tl_log_open(&cfg, &log, err, cap);
    return log;
}

/* The entry at index, NUL-terminated, as a string (static buffer). */
static const char *entry_at(tl_log *log, uint64_t index)
{
    static char s[512];
    tl_buf b = TL_BUF_INIT;
    s[0] = 0;
    if (tl_log_entry(log, index, &b) == TL_OK && b.len < sizeof(s)) {
        memcpy(s, b.data, b.len);
        s[b.len] = 0;
    }
    tl_buf_release(&b);
    return s;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_groups_and_records(void)
{
    char *parent, *d = tl_test_logdir("tlog-kindtest", ORIGIN, &parent), err[256], want[128];
    tl_store *mem = NULL;
    keep k;
    tl_log *log;
    result r;
    int rc;
    static const char *const g1[] = {"Ka|one", "-two", "Kb|three", "-four", "Kc|five"};
    tl_buf v = TL_BUF_INIT;
    uint8_t rk[16];

    CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&mem), TL_OK);
    k.base.ops = &keep_ops;
    k.inner = mem;
    log = open_kind(d, &k.base, &test_kind, 64, 1, 1000, err, sizeof(err), &rc);
    CU_ASSERT_EQUAL_FATAL(rc, TL_OK);
    CU_ASSERT_STRING_EQUAL(tl_log_kind(log)->name, "kindtest");
    CU_ASSERT_EQUAL(submit_wait(log, &r, g1, 5), TL_OK);
    CU_ASSERT_EQUAL(r.n, 5);
    for (size_t i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(r.res[i].index, i); /* a group's new entries are consecutive */
        CU_ASSERT_EQUAL(r.res[i].dup, 0);
        snprintf(want, sizeof(want), "%llu:%llu:%s", (unsigned long long)fake_now,
                 (unsigned long long)i, g1[i]);
        CU_ASSERT_STRING_EQUAL(entry_at(log, i), want); /* sealed with index and time */
        CU_ASSERT_EQUAL(tl_store_get(mem, rk, rec_key(rk, i), &v), TL_OK);
        CU_ASSERT(v.len == strlen(g1[i]) && memcmp(v.data, g1[i], v.len) == 0);
        /* the leaf hash given is the sealed entry's */
        {
            tl_hasher *h = tl_hasher_new();
            tl_hash leaf;
            tl_hash_leaf(h, want, strlen(want), &leaf);
            CU_ASSERT(memcmp(leaf.b, r.res[i].leaf.b, 32) == 0);
            tl_hasher_free(h);
        }
    }
    CU_ASSERT_EQUAL(tl_log_signed_size(log), 5);

    /* the same key and content: the earlier occurrence; without a key: new */
    {
        static const char *const g2[] = {"Kb|three", "-two", "Ka|one"};
        CU_ASSERT_EQUAL(submit_wait(log, &r, g2, 3), TL_OK);
        CU_ASSERT(r.res[0].index == 2 && r.res[0].dup == 1);
        CU_ASSERT(r.res[1].index == 5 && r.res[1].dup == 0);
        CU_ASSERT(r.res[2].index == 0 && r.res[2].dup == 1);
        CU_ASSERT_EQUAL(tl_log_signed_size(log), 6);
    }
    /* the same key, other content: the whole group is refused */
    {
        static const char *const g3[] = {"-new", "Kc|FIVE"};
        CU_ASSERT_EQUAL(submit_wait(log, &r, g3, 2), TL_ERR_CONFLICT);
        CU_ASSERT_EQUAL(r.bad, 1);
        CU_ASSERT_EQUAL(r.res[1].index, 4);          /* names the earlier occurrence */
        CU_ASSERT_EQUAL(tl_log_signed_size(log), 6); /* nothing of it recorded */
    }
    /* within one group: the second of two with one key and other contents */
    {
        static const char *const g4[] = {"Kd|x", "-y", "Kd|z"};
        CU_ASSERT_EQUAL(submit_wait(log, &r, g4, 3), TL_ERR_CONFLICT);
        CU_ASSERT_EQUAL(r.bad, 2);
        CU_ASSERT_EQUAL(tl_log_signed_size(log), 6);
    }
    /* a kind's refusal at submission, sizes */
    {
        static const char *const bad[] = {"no key marker"};
        CU_ASSERT_EQUAL(submit(log, &r, bad, 1), TL_ERR_INVALID);
        CU_ASSERT_EQUAL(tl_log_submit(log, NULL, 0, on_done, &r), TL_ERR_INVALID);
    }

    /* the log time never decreases: the clock steps back, the time repeats */
    {
        static const char *const g5[] = {"-late"};
        uint64_t before = fake_now;
        __atomic_store_n(&fake_now, before - 60000, __ATOMIC_SEQ_CST);
        CU_ASSERT_EQUAL(submit_wait(log, &r, g5, 1), TL_OK);
        snprintf(want, sizeof(want), "%llu:6:-late", (unsigned long long)before);
        CU_ASSERT_STRING_EQUAL(entry_at(log, 6), want);
        {
            tl_log_stats st;
            tl_log_get_stats(log, &st);
            CU_ASSERT_EQUAL(st.stopped, 0);
            CU_ASSERT_EQUAL(st.conflicts, 2);
        }
        __atomic_store_n(&fake_now, before + 10, __ATOMIC_SEQ_CST);
    }
    tl_log_close(log);

    /* across a restart: the store answers; another kind is refused */
    log = open_kind(d, &k.base, &tl_kind_blob, 64, 1, 1000, err, sizeof(err), &rc);
    CU_ASSERT_EQUAL(rc, TL_ERR_INVALID);
    CU_ASSERT(strstr(err, "kindtest") != NULL);
    log = open_kind(d, &k.base, &test_kind, 64, 1, 1000, err, sizeof(err), &rc);
    CU_ASSERT_EQUAL_FATAL(rc, TL_OK);
    {
        static const char *const g6[] = {"Kc|five", "-after"};
        static const char *const g7[] = {"Ka|ONE"};
        CU_ASSERT_EQUAL(submit_wait(log, &r, g6, 2), TL_OK);
        CU_ASSERT(r.res[0].index == 4 && r.res[0].dup == 1);
        CU_ASSERT(r.res[1].index == 7 && r.res[1].dup == 0);
        CU_ASSERT_EQUAL(submit_wait(log, &r, g7, 1), TL_ERR_CONFLICT);
        CU_ASSERT_EQUAL(r.res[0].index, 0);
    }
    tl_log_close(log);
    tl_buf_release(&v);
    tl_store_close(mem);
    tl_test_logdir_free(parent, d);
}

/* A store whose writes take 200 ms, so that what is submitted meanwhile
 * gathers in the next batch. The log closes it, and the inner store. */
typedef struct slow {
    tl_store base;
    tl_store *inner;
} slow;

static int slow_get(tl_store *s, const void *k, size_t kl, tl_buf *v)
{
    return tl_store_get(((slow *)s)->inner, k, kl, v);
}
static int slow_write(tl_store *s, tl_batch *b, int sync)
{
    usleep(200 * 1000);
    return tl_store_write(((slow *)s)->inner, b, sync);
}
static void slow_close(tl_store *s)
{
    tl_store_close(((slow *)s)->inner);
    free(s);
}
static const struct tl_store_ops slow_ops = {slow_get, slow_write, slow_close, NULL, NULL, NULL};

/* Groups in one batch, and a key in a commit just written. */
static void test_one_batch_and_in_flight(void)
{
    char *parent, *d = tl_test_logdir("tlog-kindtest", ORIGIN, &parent), err[256];
    tl_store *mem = NULL;
    slow *sl = malloc(sizeof(*sl));
    tl_log *log;
    result a, b, c, e, f, g;
    int rc;
    static const char *const ga[] = {"Kq|same", "-a"};
    static const char *const gb[] = {"-b", "Kq|other"};
    static const char *const gc[] = {"Kq|same"};
    static const char *const gd[] = {"-d"};
    static const char *const ge[] = {"Kz|one"};
    static const char *const gf[] = {"-f", "Kz|two"};
    static const char *const gg[] = {"Kz|one", "-g"};

    log = open_kind(d, NULL, &test_kind, 64, 1000, 1000, err, sizeof(err), &rc);
    CU_ASSERT_EQUAL_FATAL(rc, TL_ERR_INVALID); /* the LevelDB log is a blob log */
    CU_ASSERT(strstr(err, "blob") != NULL);
    CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&mem), TL_OK);
    sl->base.ops = &slow_ops;
    sl->inner = mem;
    log = open_kind(d, &sl->base, &test_kind, 64, 1000, 1000, err, sizeof(err), &rc);
    CU_ASSERT_EQUAL_FATAL(rc, TL_OK);
    CU_ASSERT_EQUAL(submit_wait(log, &a, ga, 2), TL_OK);
    /* d's commit is slow: b, c, e, f and g gather in one batch behind it */
    CU_ASSERT_EQUAL(submit(log, &e, gd, 1), TL_OK);
    usleep(50 * 1000);
    CU_ASSERT_EQUAL(submit(log, &b, gb, 2), TL_OK);
    CU_ASSERT_EQUAL(submit(log, &c, gc, 1), TL_OK);
    CU_ASSERT_EQUAL(submit(log, &f, ge, 1), TL_OK);
    CU_ASSERT_EQUAL(submit(log, &g, gf, 2), TL_OK);
    result_wait(&e);
    result_wait(&b);
    result_wait(&c);
    result_wait(&f);
    result_wait(&g);
    {
        tl_log_stats st;
        tl_log_get_stats(log, &st);
        CU_ASSERT_EQUAL(st.batches, 3); /* a; d; b c e f g */
    }
    /* b's q is another occurrence than the stored one: b goes; c, which came
     * after b with the stored content, is that occurrence */
    CU_ASSERT_EQUAL(b.err, TL_ERR_CONFLICT);
    CU_ASSERT_EQUAL(b.bad, 1);
    CU_ASSERT_EQUAL(b.res[1].index, a.res[0].index);
    CU_ASSERT_EQUAL(c.err, TL_OK);
    CU_ASSERT(c.res[0].index == a.res[0].index && c.res[0].dup == 1);
    /* z is new: the first in the batch stands, the later other one goes */
    CU_ASSERT_EQUAL(f.err, TL_OK);
    CU_ASSERT_EQUAL(f.res[0].dup, 0);
    CU_ASSERT_EQUAL(g.err, TL_ERR_CONFLICT);
    CU_ASSERT_EQUAL(g.bad, 1);
    CU_ASSERT_EQUAL(tl_log_signed_size(log), 4); /* q, a, d, z */
    /* right after a commit: the key is among the recent commits, and checked
     * against the store once the commits in flight are written */
    CU_ASSERT_EQUAL(submit_wait(log, &c, gg, 2), TL_OK);
    CU_ASSERT(c.res[0].index == f.res[0].index && c.res[0].dup == 1);
    {
        static const char *const gh[] = {"Kz|three"};
        CU_ASSERT_EQUAL(submit_wait(log, &c, gh, 1), TL_ERR_CONFLICT);
        CU_ASSERT_EQUAL(c.res[0].index, f.res[0].index);
    }
    tl_log_close(log);
    tl_test_logdir_free(parent, d);
}

static void test_group_limits(void)
{
    char *parent, *d = tl_test_logdir("tlog-kindtest", ORIGIN, &parent), err[256];
    const char *subs[17];
    char bufs[17][8];
    tl_store *mem = NULL;
    slow *sl = malloc(sizeof(*sl));
    tl_log *log;
    result r0, r, r2;
    int rc;

    for (int i = 0; i < 17; i++) {
        snprintf(bufs[i], sizeof(bufs[i]), "-%d", i);
        subs[i] = bufs[i];
    }
    CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&mem), TL_OK);
    sl->base.ops = &slow_ops;
    sl->inner = mem;
    /* batches of 16, a pool of 12; a first entry's slow commit holds the
     * rest in the pool */
    log = open_kind(d, &sl->base, &test_kind, 16, 1000, 12, err, sizeof(err), &rc);
    CU_ASSERT_EQUAL_FATAL(rc, TL_OK);
    CU_ASSERT_EQUAL(submit(log, &r0, subs + 16, 1), TL_OK);
    usleep(50 * 1000);
    CU_ASSERT_EQUAL(submit(log, &r, subs, 17), TL_ERR_TOOBIG); /* over a batch */
    CU_ASSERT_EQUAL(submit(log, &r, subs, 8), TL_OK);
    CU_ASSERT_EQUAL(submit(log, &r2, subs, 8), TL_ERR_BUSY); /* 8 + 8 > 12: not a part */
    CU_ASSERT_EQUAL(tl_log_pool_depth(log), 8);
    CU_ASSERT_EQUAL(submit(log, &r2, subs + 8, 4), TL_OK);
    result_wait(&r0);
    result_wait(&r);
    result_wait(&r2);
    CU_ASSERT_EQUAL(r.err, TL_OK);
    CU_ASSERT_EQUAL(r2.err, TL_OK);
    CU_ASSERT_EQUAL(tl_log_signed_size(log), 13);
    CU_ASSERT_EQUAL(r.res[0].index, 1);
    CU_ASSERT_EQUAL(r.res[7].index, 8);
    CU_ASSERT_EQUAL(r2.res[0].index, 9); /* both groups in the batch after the first */
    tl_log_close(log);
    tl_test_logdir_free(parent, d);
}

int main(void)
{
    static const tl_unit_test tests[] = {
        {"groups_and_records", test_groups_and_records},
        {"one_batch_and_in_flight", test_one_batch_and_in_flight},
        {"group_limits", test_group_limits},
    };
    return tl_unit_run("kind", tests, sizeof(tests) / sizeof(tests[0]));
}
