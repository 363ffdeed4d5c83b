/*
 * test_publish.c - tile stores (log/tilestore.h) and the publisher
 * (log/publish.h):
 *   - the key-value and the folder tile stores: write-once objects (same
 *     bytes fine, other bytes a conflict) and the checkpoint's
 *     compare-and-swap; for the folder, the files at their tlog-tiles
 *     paths, no temporary file left, and two handles on one folder
 *     swapping the checkpoint from two threads never losing an update;
 *   - the object paths and --publish URLs taken and refused;
 *   - after publications, a tile store holds exactly what the log serves:
 *     every hash tile and entry bundle of each published tree (the partial
 *     ones of intermediate trees under their own paths too) and the
 *     checkpoint, which never names a tree the store lacks;
 *   - a restarted publisher catches up from the store's checkpoint;
 *   - other bytes at a path the log publishes stop the log's signing (a
 *     fork alarm), and a store whose checkpoint is not one of the log's
 *     published ones is refused at start.
 */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/log.h"
#include "log/publish.h"
#include "log/tilestore.h"
#include "store/store.h"
#include "tests/unit.h"

#define ORIGIN "example.com/publish-test"

/* A store the log does not close (so the test can hand it on). */
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
    free(s);
}
static const struct tl_store_ops keep_ops = {keep_get, keep_write, keep_close, NULL, NULL, NULL};

static tl_store *keep_of(tl_store *inner)
{
    keep *k = malloc(sizeof(*k));
    k->base.ops = &keep_ops;
    k->inner = inner;
    return &k->base;
}

static tl_log *open_log(const char *dir, tl_store *store)
{
    tl_log_config cfg;
    tl_log *log = NULL;
    char err[256];
    memset(&cfg, 0, sizeof(cfg));
    cfg.dir = dir;
    cfg.store = store;
    cfg.publish_on_sign = 1;
    cfg.batch_max = 1000;
    cfg.batch_interval_ms = 1;
    CU_ASSERT_EQUAL_FATAL(tl_log_open(&cfg, &log, err, sizeof(err)), TL_OK);
    return log;
}

static volatile int acked;
static void on_add(void *ctx, int err, uint64_t index, const tl_hash *leaf)
{
    (void)ctx;
    (void)index;
    (void)leaf;
    CU_ASSERT_EQUAL(err, TL_OK);
    __atomic_add_fetch(&acked, 1, __ATOMIC_SEQ_CST);
}

/* Adds entries [from, to) and waits for them. */
static void add(tl_log *log, uint64_t from, uint64_t to)
{
    int want = __atomic_load_n(&acked, __ATOMIC_SEQ_CST) + (int)(to - from);
    for (uint64_t i = from; i < to; i++) {
        char e[64];
        int n = snprintf(e, sizeof(e), "entry %llu of the publish test", (unsigned long long)i);
        while (tl_log_add(log, e, (size_t)n, on_add, NULL) == TL_ERR_BUSY)
            usleep(1000);
    }
    while (__atomic_load_n(&acked, __ATOMIC_SEQ_CST) < want)
        usleep(1000);
}

/* Every object of the tree of `size` is in ts with the bytes the log serves. */
static void check_store(tl_log *log, tl_tilestore *ts, uint64_t size)
{
    tl_buf want = TL_BUF_INIT, got = TL_BUF_INIT;
    size_t objects = 0;
    for (int level = TL_TILE_ENTRIES; level < 8; level++) {
        uint64_t c = level < 0 ? size : tl_tile_level_hashes(level, size);
        for (uint64_t n = 0; c && n <= (c - 1) / 256; n++) {
            uint64_t left = c - n * 256;
            tl_tile t = {level, n, left > 256 ? 256 : (unsigned)left};
            char path[TL_TILE_PATH_MAX];
            CU_ASSERT_EQUAL_FATAL(tl_tile_path(&t, path, sizeof(path)), TL_OK);
            tl_buf_reset(&want);
            CU_ASSERT_EQUAL_FATAL(tl_log_tile(log, &t, size, &want), TL_OK);
            if (tl_tilestore_get(ts, path, &got) != TL_OK) {
                fprintf(stderr, "missing %s\n", path);
                CU_FAIL("an object of the published tree is missing");
                continue;
            }
            CU_ASSERT(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);
            objects++;
        }
    }
    CU_ASSERT(objects > 0);
    tl_buf_release(&want);
    tl_buf_release(&got);
}

static void test_kv_tilestore(void)
{
    tl_store *m = NULL;
    tl_tilestore *ts = NULL;
    tl_buf b = TL_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&m), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_tilestore_open_kv(m, &ts), TL_OK);
    CU_ASSERT_EQUAL(tl_tilestore_get(ts, "tile/0/000", &b), TL_ERR_NOTFOUND);
    CU_ASSERT_EQUAL(tl_tilestore_put(ts, "tile/0/000", "abc", 3), TL_OK);
    CU_ASSERT_EQUAL(tl_tilestore_put(ts, "tile/0/000", "abc", 3), TL_OK); /* same bytes */
    CU_ASSERT_EQUAL(tl_tilestore_put(ts, "tile/0/000", "abd", 3), TL_ERR_CONFLICT);
    CU_ASSERT_EQUAL(tl_tilestore_put(ts, "tile/0/000", "ab", 2), TL_ERR_CONFLICT);
    CU_ASSERT_EQUAL(tl_tilestore_get(ts, "tile/0/000", &b), TL_OK);
    CU_ASSERT(b.len == 3 && memcmp(b.data, "abc", 3) == 0);
    CU_ASSERT_EQUAL(tl_tilestore_get_checkpoint(ts, &b), TL_ERR_NOTFOUND);
    CU_ASSERT_EQUAL(tl_tilestore_cas_checkpoint(ts, "x", 1, "one", 3), TL_ERR_CONFLICT);
    CU_ASSERT_EQUAL(tl_tilestore_cas_checkpoint(ts, NULL, 0, "one", 3), TL_OK);
    CU_ASSERT_EQUAL(tl_tilestore_cas_checkpoint(ts, NULL, 0, "two", 3), TL_ERR_CONFLICT);
    CU_ASSERT_EQUAL(tl_tilestore_cas_checkpoint(ts, "two", 3, "three", 5), TL_ERR_CONFLICT);
    CU_ASSERT_EQUAL(tl_tilestore_cas_checkpoint(ts, "one", 3, "two", 3), TL_OK);
    CU_ASSERT_EQUAL(tl_tilestore_get_checkpoint(ts, &b), TL_OK);
    CU_ASSERT(b.len == 3 && memcmp(b.data, "two", 3) == 0);
    tl_buf_release(&b);
    tl_tilestore_close(ts);
}

/* The same sequence as test_kv_tilestore, on any tile store. */
static void exercise(tl_tilestore *ts)
{
    tl_buf b = TL_BUF_INIT;
    CU_ASSERT_EQUAL(tl_tilestore_get(ts, "tile/0/000", &b), TL_ERR_NOTFOUND);
    CU_ASSERT_EQUAL(tl_tilestore_put(ts, "tile/0/000", "abc", 3), TL_OK);
    CU_ASSERT_EQUAL(tl_tilestore_put(ts, "tile/0/000", "abc", 3), TL_OK);
    CU_ASSERT_EQUAL(tl_tilestore_put(ts, "tile/0/000", "abd", 3), TL_ERR_CONFLICT);
    CU_ASSERT_EQUAL(tl_tilestore_put(ts, "tile/0/000", "abcd", 4), TL_ERR_CONFLICT);
    CU_ASSERT_EQUAL(tl_tilestore_put(ts, "tile/0/x001/234.p/7", "", 0), TL_OK);
    CU_ASSERT_EQUAL(tl_tilestore_get(ts, "tile/0/000", &b), TL_OK);
    CU_ASSERT(b.len == 3 && memcmp(b.data, "abc", 3) == 0);
    CU_ASSERT_EQUAL(tl_tilestore_get(ts, "tile/0/x001/234.p/7", &b), TL_OK);
    CU_ASSERT_EQUAL(b.len, 0);
    const char *bad[] = {"",
                         "/tile/0/000",
                         "tile//000",
                         "tile/../x",
                         "tile/.p",
                         ".tlogd.lock",
                         "tile/0/000/",
                         "tile/0/0 0",
                         "tile/0/\xc3\xa9"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CU_ASSERT_EQUAL(tl_tilestore_put(ts, bad[i], "x", 1), TL_ERR_INVALID);
        CU_ASSERT_EQUAL(tl_tilestore_get(ts, bad[i], &b), TL_ERR_INVALID);
    }
    CU_ASSERT_EQUAL(tl_tilestore_get_checkpoint(ts, &b), TL_ERR_NOTFOUND);
    CU_ASSERT_EQUAL(tl_tilestore_cas_checkpoint(ts, "x", 1, "one", 3), TL_ERR_CONFLICT);
    CU_ASSERT_EQUAL(tl_tilestore_cas_checkpoint(ts, NULL, 0, "one", 3), TL_OK);
    CU_ASSERT_EQUAL(tl_tilestore_cas_checkpoint(ts, NULL, 0, "two", 3), TL_ERR_CONFLICT);
    CU_ASSERT_EQUAL(tl_tilestore_cas_checkpoint(ts, "two", 3, "three", 5), TL_ERR_CONFLICT);
    CU_ASSERT_EQUAL(tl_tilestore_cas_checkpoint(ts, "one", 3, "two", 3), TL_OK);
    CU_ASSERT_EQUAL(tl_tilestore_get_checkpoint(ts, &b), TL_OK);
    CU_ASSERT(b.len == 3 && memcmp(b.data, "two", 3) == 0);
    tl_buf_release(&b);
}

typedef struct racer {
    tl_tilestore *ts;
    int won;
} racer;

/* Reads the counter in the checkpoint and swaps in the next one, 200 times. */
static void *race(void *arg)
{
    racer *r = arg;
    tl_buf cur = TL_BUF_INIT;
    for (int i = 0; i < 200; i++) {
        char next[32];
        if (tl_tilestore_get_checkpoint(r->ts, &cur) != TL_OK)
            continue;
        int n = snprintf(next, sizeof next, "%ld", strtol((const char *)cur.data, NULL, 10) + 1);
        if (tl_tilestore_cas_checkpoint(r->ts, (const char *)cur.data, cur.len, next, (size_t)n) ==
            TL_OK)
            r->won++;
    }
    tl_buf_release(&cur);
    return NULL;
}

static void test_dir_tilestore(void)
{
    char *parent, *d = tl_test_logdir("tlog-publishtest", ORIGIN, &parent), root[4300], f[4400],
                  err[256];
    tl_tilestore *ts = NULL, *t2 = NULL;
    struct stat st;
    snprintf(root, sizeof root, "%s/www/sub", parent);
    CU_ASSERT_EQUAL_FATAL(tl_tilestore_open_dir(root, &ts, err, sizeof err), TL_OK);
    CU_ASSERT(strncmp(ts->name, "file:///", 8) == 0 && strstr(ts->name, "/www/sub") != NULL);
    exercise(ts);
    /* the files are where a web server looks, readable by it, no leftovers */
    snprintf(f, sizeof f, "%s/tile/0/000", root);
    CU_ASSERT(stat(f, &st) == 0 && (st.st_mode & 0777) == 0644 && st.st_size == 3);
    snprintf(f, sizeof f, "%s/tile/0/x001", root);
    CU_ASSERT(stat(f, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0755);
    snprintf(f, sizeof f, "%s/checkpoint", root);
    CU_ASSERT(stat(f, &st) == 0 && (st.st_mode & 0777) == 0644 && st.st_size == 3);
    char cmd[4500];
    snprintf(cmd, sizeof cmd, "test -z \"$(find '%s' -name '*tmp*')\"", root);
    CU_ASSERT(system(cmd) == 0);
    /* a second handle on the folder sees the same objects and checkpoint */
    CU_ASSERT_EQUAL_FATAL(tl_tilestore_open_dir(root, &t2, err, sizeof err), TL_OK);
    CU_ASSERT_EQUAL(tl_tilestore_put(t2, "tile/0/000", "abd", 3), TL_ERR_CONFLICT);
    CU_ASSERT_EQUAL(tl_tilestore_cas_checkpoint(t2, "one", 3, "x", 1), TL_ERR_CONFLICT);
    CU_ASSERT_EQUAL(tl_tilestore_cas_checkpoint(t2, "two", 3, "0", 1), TL_OK);
    /* two writers swapping at once: every swap that succeeded counts */
    racer r[2] = {{ts, 0}, {t2, 0}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, race, &r[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    tl_buf b = TL_BUF_INIT;
    CU_ASSERT_EQUAL(tl_tilestore_get_checkpoint(ts, &b), TL_OK);
    CU_ASSERT_EQUAL(strtol((const char *)b.data, NULL, 10), r[0].won + r[1].won);
    CU_ASSERT(r[0].won > 0 && r[1].won > 0);
    tl_buf_release(&b);
    tl_tilestore_close(t2);
    tl_tilestore_close(ts);
    tl_test_logdir_free(parent, d);
}

static void test_urls(void)
{
    char err[256];
    const char *good[] = {"file:///srv/log",       "file:///srv/log/",       "s3://my-bucket",
                          "s3://my-bucket/logs/a", "s3://my-bucket/logs/a/", "s3://a.b.c/x"};
    const char *bad[] = {"",
                         "file://",
                         "file:///",
                         "file://host/srv",
                         "file:srv",
                         "file:///srv/../etc",
                         "file:///srv/./x",
                         "http://example.com/",
                         "s3://",
                         "s3://ab",
                         "s3://Upper",
                         "s3://-bucket",
                         "s3://bucket-",
                         "s3://a..b",
                         "s3://bucket//x",
                         "s3://bucket/.x",
                         "s3://bucket/a b"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        CU_ASSERT_EQUAL(tl_tilestore_url_check(good[i], "http://127.0.0.1:9000", err, sizeof err),
                        TL_OK);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CU_ASSERT_EQUAL(tl_tilestore_url_check(bad[i], "http://127.0.0.1:9000", err, sizeof err),
                        TL_ERR_INVALID);
        CU_ASSERT(err[0] != '\0' && strchr(err, '\n') == NULL);
    }
    /* dots in a bucket name do not fit AWS's virtual-hosted TLS names */
    CU_ASSERT_EQUAL(tl_tilestore_url_check("s3://a.b.c/x", NULL, err, sizeof err), TL_ERR_INVALID);
    CU_ASSERT_EQUAL(tl_tilestore_url_check("s3://bucket", NULL, err, sizeof err), TL_OK);
    const char *endpoints[] = {"ftp://h",       "http://", "http://h/path", "http://h/?q=1",
                               "http://user@h", "h:9000",  "http://h#f"};
    for (size_t i = 0; i < sizeof endpoints / sizeof endpoints[0]; i++)
        CU_ASSERT_EQUAL(tl_tilestore_url_check("s3://bucket", endpoints[i], err, sizeof err),
                        TL_ERR_INVALID);
    CU_ASSERT_EQUAL(tl_tilestore_url_check("s3://bucket", "https://h:9000/", err, sizeof err),
                    TL_OK);
}

static void test_publish_and_catch_up(void)
{
    char *parent, *d = tl_test_logdir("tlog-publishtest", ORIGIN, &parent), err[256];
    tl_store *m = NULL, *tm = NULL;
    tl_tilestore *ts = NULL;
    tl_publisher *p = NULL;
    tl_log *log;
    tl_log_head h;
    tl_buf cp = TL_BUF_INIT;

    CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&m), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&tm), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_tilestore_open_kv(keep_of(tm), &ts), TL_OK);
    log = open_log(d, keep_of(m));
    CU_ASSERT_EQUAL_FATAL(tl_publisher_start(log, &ts, 1, &p, err, sizeof(err)), TL_OK);
    add(log, 0, 300);
    CU_ASSERT_EQUAL(tl_publisher_wait(p, 300, 10000), TL_OK);
    check_store(log, ts, 300);
    add(log, 300, 70000); /* a full level-1 tile and a partial level-2 one */
    CU_ASSERT_EQUAL(tl_publisher_wait(p, 70000, 30000), TL_OK);
    check_store(log, ts, 70000);
    check_store(log, ts, 300); /* the partials of an earlier tree stay */
    CU_ASSERT_EQUAL_FATAL(tl_log_published(log, &h), TL_OK);
    CU_ASSERT_EQUAL(tl_tilestore_get_checkpoint(ts, &cp), TL_OK);
    CU_ASSERT(cp.len == h.note_len && memcmp(cp.data, h.note, h.note_len) == 0);
    CU_ASSERT_EQUAL(tl_publisher_size(p), h.size);
    tl_log_head_release(&h);
    {
        tl_buf met = TL_BUF_INIT;
        tl_publisher_metrics(p, &met);
        CU_ASSERT(strstr((char *)met.data, "tlogd_publish_size{store=\"kv\"} 70000") != NULL);
        tl_buf_release(&met);
    }
    tl_publisher_stop(p);

    /* more entries while nothing publishes, then a new publisher catches up */
    add(log, 70000, 70500);
    CU_ASSERT_EQUAL_FATAL(tl_publisher_start(log, &ts, 1, &p, err, sizeof(err)), TL_OK);
    /* it starts from what the store holds; it may have caught up already
     * if the last batch's signing woke it */
    uint64_t at_start = tl_publisher_size(p);
    CU_ASSERT(at_start == 70000 || at_start == 70500);
    add(log, 70500, 70501); /* a publication wakes it */
    CU_ASSERT_EQUAL(tl_publisher_wait(p, 70501, 30000), TL_OK);
    check_store(log, ts, 70501);
    tl_publisher_stop(p);
    tl_log_close(log);

    /* the same keys with an empty tree: the store is ahead of it */
    {
        tl_store *m2 = NULL;
        CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&m2), TL_OK);
        log = open_log(d, m2);
        CU_ASSERT_EQUAL(tl_publisher_start(log, &ts, 1, &p, err, sizeof(err)), TL_ERR_CONFLICT);
        CU_ASSERT(strstr(err, "beyond this log's published size") != NULL);
        tl_log_close(log);
    }
    tl_buf_release(&cp);
    tl_tilestore_close(ts);
    tl_store_close(tm);
    tl_store_close(m);
    tl_test_logdir_free(parent, d);
}

static void test_fork_alarm(void)
{
    char *parent, *d = tl_test_logdir("tlog-publishtest", ORIGIN, &parent), err[256];
    tl_store *tm = NULL;
    tl_tilestore *ts = NULL;
    tl_publisher *p = NULL;
    tl_log *log;
    tl_log_stats st;

    CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&tm), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_tilestore_open_kv(tm, &ts), TL_OK);
    /* not this log's checkpoint */
    CU_ASSERT_EQUAL(tl_tilestore_cas_checkpoint(ts, NULL, 0, "not a note\n", 11), TL_OK);
    {
        tl_store *m = NULL;
        CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&m), TL_OK);
        log = open_log(d, m);
    }
    CU_ASSERT_EQUAL(tl_publisher_start(log, &ts, 1, &p, err, sizeof(err)), TL_ERR_CONFLICT);
    CU_ASSERT(strstr(err, "not this log's") != NULL);
    tl_tilestore_close(ts);

    /* other bytes where the first bundle goes */
    CU_ASSERT_EQUAL_FATAL(tl_store_open_mem(&tm), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_tilestore_open_kv(tm, &ts), TL_OK);
    CU_ASSERT_EQUAL(tl_tilestore_put(ts, "tile/entries/000.p/5", "forged", 6), TL_OK);
    CU_ASSERT_EQUAL_FATAL(tl_publisher_start(log, &ts, 1, &p, err, sizeof(err)), TL_OK);
    add(log, 0, 5);
    CU_ASSERT_EQUAL(tl_publisher_wait(p, 5, 10000), TL_ERR_STOPPED);
    tl_log_get_stats(log, &st);
    CU_ASSERT_EQUAL(st.stopped, 1);
    CU_ASSERT(strstr(st.stop_reason, "fork alarm") &&
              strstr(st.stop_reason, "tile/entries/000.p/5"));
    {
        tl_buf cp = TL_BUF_INIT;
        /* no checkpoint covering the forged bundle went up (the entries
         * may have been sequenced in several batches, so one at a smaller
         * size, with its partial bundle, may have) */
        int got = tl_tilestore_get_checkpoint(ts, &cp);
        CU_ASSERT(got == TL_ERR_NOTFOUND || got == TL_OK);
        if (got == TL_OK) {
            const char *nl = memchr(cp.data, '\n', cp.len);
            CU_ASSERT_FATAL(nl != NULL);
            CU_ASSERT(strtoull(nl + 1, NULL, 10) < 5);
        }
        tl_buf_release(&cp);
    }
    CU_ASSERT_EQUAL(tl_log_add(log, "more", 4, NULL, NULL), TL_ERR_STOPPED);
    tl_publisher_stop(p);
    tl_log_close(log);
    tl_tilestore_close(ts);
    tl_test_logdir_free(parent, d);
}

int main(void)
{
    static const tl_unit_test tests[] = {
        {"kv_tilestore", test_kv_tilestore},
        {"dir_tilestore", test_dir_tilestore},
        {"urls", test_urls},
        {"publish_and_catch_up", test_publish_and_catch_up},
        {"fork_alarm", test_fork_alarm},
    };
    return tl_unit_run("publish", tests, sizeof(tests) / sizeof(tests[0]));
}
