/*
 * publish.c - copies the log's published form to tile stores (publish.h).
 *
 * One thread. The log's listener only records the published size and wakes
 * it. For each store the thread knows the checkpoint it put there last (or
 * found there at start); for a newer published head it writes, level by
 * level, every hash tile and entry bundle that the new tree has and the old
 * one did not (the widened partial tile of each level under its own path,
 * and the tiles that filled up), then swaps the checkpoint.
 */
#include "log/publish.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/err.h"
#include "log/reader.h"
#include "signer/checkpoint.h"
#include "signer/note.h"

#define BACKOFF_BASE_MS 200
#define BACKOFF_MAX_MS 5000

typedef struct target {
    tl_tilestore *ts;
    uint64_t size; /* of the checkpoint it holds */
    tl_buf note;   /* that checkpoint (empty: none) */
    int failed;    /* for good: a fork alarm */
    unsigned fails;
    uint64_t next_try_ms;
    /* metrics (under p->mu) */
    uint64_t m_objects, m_bytes, m_failures;
} target;

struct tl_publisher {
    tl_log *log;
    tl_log_reader *rd;
    target *t;
    size_t n;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t published; /* the latest published size the listener saw */
    int stop;
    uint64_t queue_max;
    int shared; /* other nodes of the log publish to the same stores (tl_publisher_start_shared) */
    tl_publisher_listener_fn *listener; /* under mu */
    void *listener_ctx;
};

/* Tells the listener (publisher thread, without mu held). */
static void notify(tl_publisher *p)
{
    pthread_mutex_lock(&p->mu);
    tl_publisher_listener_fn *fn = p->listener;
    void *ctx = p->listener_ctx;
    pthread_mutex_unlock(&p->mu);
    if (fn)
        fn(ctx);
}

static void on_event(void *ctx, uint64_t signed_size, uint64_t published_size)
{
    tl_publisher *p = ctx;
    (void)signed_size;
    pthread_mutex_lock(&p->mu);
    if (published_size > p->published)
        p->published = published_size;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Parses note as a checkpoint signed by the log: *size and *root. */
static int parse_ours(tl_publisher *p, const tl_buf *note, uint64_t *size, tl_hash *root)
{
    tl_verifier *v = NULL;
    tl_note n;
    tl_checkpoint cp;
    int rc = tl_verifier_parse(tl_log_vkey(p->log), &v);
    if (rc != TL_OK)
        return rc;
    rc = tl_note_parse((const char *)note->data, note->len, &n);
    if (rc == TL_OK) {
        rc = tl_note_verify(&n, v);
        if (rc == TL_OK)
            rc = tl_checkpoint_parse(n.text, n.text_len, &cp);
        if (rc == TL_OK && strcmp(cp.origin, tl_log_origin(p->log)) != 0)
            rc = TL_ERR_SIG;
        if (rc == TL_OK) {
            *size = cp.size;
            *root = cp.root;
        }
        tl_note_release(&n);
    }
    tl_verifier_free(v);
    return rc;
}

/* What a store holds at start: nothing, or one of the log's published
 * checkpoints (its root ours at its size, and not beyond what is published). */
static int catch_up(tl_publisher *p, target *t, uint64_t published, char *err, size_t cap)
{
    tl_hash root;
    tl_log_head h;
    int rc = tl_tilestore_get_checkpoint(t->ts, &t->note);
    if (rc == TL_ERR_NOTFOUND) {
        tl_buf_reset(&t->note);
        t->size = 0;
        return TL_OK;
    }
    if (rc != TL_OK) {
        snprintf(err, cap, "%s: cannot read its checkpoint: %s", t->ts->name, tl_strerror(rc));
        return rc;
    }
    if (parse_ours(p, &t->note, &t->size, &root) != TL_OK) {
        snprintf(err, cap, "%s holds a checkpoint that is not this log's", t->ts->name);
        return TL_ERR_CONFLICT;
    }
    if (t->size > published && p->shared)
        return TL_OK; /* signed by the log: another node of it is ahead */
    if (t->size > published) {
        snprintf(err, cap,
                 "%s holds a checkpoint of size %" PRIu64 ", beyond this log's published "
                 "size %" PRIu64,
                 t->ts->name, t->size, published);
        return TL_ERR_CONFLICT;
    }
    rc = tl_log_signed_at(p->log, t->size, &h);
    if (rc == TL_OK && memcmp(h.root.b, root.b, TL_HASH_SIZE) != 0)
        rc = TL_ERR_CONFLICT;
    if (rc == TL_OK)
        tl_log_head_release(&h);
    if (rc != TL_OK) {
        snprintf(err, cap, "%s holds a checkpoint of size %" PRIu64 " with another root",
                 t->ts->name, t->size);
        return TL_ERR_CONFLICT;
    }
    return TL_OK;
}

/* Puts every tile and bundle of the tree of size b that the tree of size a
 * lacks. *path gets the failing path. */
static int put_range(tl_publisher *p, target *t, uint64_t a, uint64_t b, char *path)
{
    /* the bundles (level TL_TILE_ENTRIES, -1) first, then hash tiles from 0 */
    for (int level = TL_TILE_ENTRIES; level < TL_LAYOUT_TILE_LEVELS; level++) {
        uint64_t ca = level < 0 ? a : tl_tile_level_hashes(level, a);
        uint64_t cb = level < 0 ? b : tl_tile_level_hashes(level, b);
        if (cb == ca)
            continue;
        for (uint64_t n = ca / TL_TILE_WIDTH; n <= (cb - 1) / TL_TILE_WIDTH; n++) {
            uint64_t left = cb - n * TL_TILE_WIDTH;
            tl_tile tile = {level, n, left > TL_TILE_WIDTH ? TL_TILE_WIDTH : (unsigned)left};
            const uint8_t *data;
            size_t len;
            int rc = tl_tile_path(&tile, path, TL_TILE_PATH_MAX);
            if (rc == TL_OK)
                rc = tl_log_reader_tile(p->rd, &tile, b, &data, &len);
            if (rc == TL_OK)
                rc = tl_tilestore_put(t->ts, path, data, len);
            if (rc != TL_OK)
                return rc;
            pthread_mutex_lock(&p->mu);
            t->m_objects++;
            t->m_bytes += len;
            pthread_mutex_unlock(&p->mu);
        }
    }
    return TL_OK;
}

/* With other nodes publishing (shared): takes the checkpoint the store holds
 * as t's, if it is one of this log's (its signature, and its root where this
 * node has a head of its size). 1 when adopted. */
static int adopt(tl_publisher *p, target *t)
{
    tl_buf note = TL_BUF_INIT;
    uint64_t size;
    tl_hash root;
    tl_log_head h;
    int ok = tl_tilestore_get_checkpoint(t->ts, &note) == TL_OK &&
             parse_ours(p, &note, &size, &root) == TL_OK;
    if (ok && tl_log_signed_at(p->log, size, &h) == TL_OK) {
        ok = memcmp(h.root.b, root.b, TL_HASH_SIZE) == 0;
        tl_log_head_release(&h);
    }
    if (ok) {
        pthread_mutex_lock(&p->mu);
        tl_buf tmp = t->note;
        t->note = note;
        note = tmp;
        t->size = size;
        t->fails = 0;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    tl_buf_release(&note);
    return ok;
}

/* One round for store t towards the published head h. */
static void publish_to(tl_publisher *p, target *t, const tl_log_head *h)
{
    char path[TL_TILE_PATH_MAX] = "checkpoint", why[256];
    int rc = put_range(p, t, t->size, h->size, path);
    if (rc == TL_OK) {
        snprintf(path, sizeof(path), "(sync)");
        rc = tl_tilestore_sync(t->ts);
    }
    tl_buf note = TL_BUF_INIT;
    if (rc == TL_OK)
        rc = tl_buf_add(&note, h->note, h->note_len); /* before the swap: no OOM after it */
    if (rc == TL_OK) {
        snprintf(path, sizeof(path), "checkpoint");
        rc = tl_tilestore_cas_checkpoint(t->ts, t->note.len ? (const char *)t->note.data : NULL,
                                         t->note.len, h->note, h->note_len);
    }
    if (rc == TL_OK) {
        pthread_mutex_lock(&p->mu);
        tl_buf tmp = t->note;
        t->note = note;
        note = tmp;
        t->size = h->size;
        t->fails = 0;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        tl_buf_release(&note);
        notify(p);
        return;
    }
    tl_buf_release(&note);
    if (rc == TL_ERR_CONFLICT && p->shared && strcmp(path, "checkpoint") == 0 && adopt(p, t)) {
        notify(p);
        return; /* another node of the log published: its checkpoint is the store's now */
    }
    if (rc == TL_ERR_CONFLICT) {
        snprintf(why, sizeof(why), "fork alarm: %s holds other bytes at %s than this log publishes",
                 t->ts->name, path);
        /* the log stops before a waiter hears of the failure */
        tl_log_stop_signing(p->log, why);
        pthread_mutex_lock(&p->mu);
        t->failed = 1;
        t->m_failures++;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        notify(p);
        return;
    }
    {
        uint64_t d = BACKOFF_BASE_MS;
        for (unsigned i = 0; i < t->fails && d < BACKOFF_MAX_MS; i++)
            d *= 2;
        t->fails++;
        t->next_try_ms = tl_mono_ms() + (d > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d);
        pthread_mutex_lock(&p->mu);
        t->m_failures++;
        pthread_mutex_unlock(&p->mu);
        if (t->fails <= 3 || t->fails % 50 == 0)
            fprintf(stderr, "tlogd: publishing to %s: %s: %s (failure %u, retrying)\n", t->ts->name,
                    path, tl_strerror(rc), t->fails);
    }
}

static void *publish_main(void *arg)
{
    tl_publisher *p = arg;
    pthread_setname_np(pthread_self(), "tl-publisher");
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        uint64_t now = tl_mono_ms(), wake = 0;
        target *due = NULL;
        for (size_t i = 0; i < p->n && !due; i++) {
            target *t = &p->t[i];
            if (t->failed || t->size >= p->published)
                continue;
            if (t->next_try_ms <= now)
                due = t;
            else if (!wake || t->next_try_ms < wake)
                wake = t->next_try_ms;
        }
        if (due) {
            tl_log_head h;
            pthread_mutex_unlock(&p->mu);
            if (tl_log_published(p->log, &h) == TL_OK) {
                if (h.size > due->size)
                    publish_to(p, due, &h);
                tl_log_head_release(&h);
            }
            pthread_mutex_lock(&p->mu);
            continue;
        }
        if (wake) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += (time_t)((wake - now) / 1000);
            ts.tv_nsec += (long)((wake - now) % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        } else {
            pthread_cond_wait(&p->cv, &p->mu);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void free_publisher(tl_publisher *p)
{
    for (size_t i = 0; i < p->n; i++)
        tl_buf_release(&p->t[i].note);
    free(p->t);
    tl_log_reader_free(p->rd);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static int start(tl_log *log, tl_tilestore *const *stores, size_t n, int shared, tl_publisher **out,
                 char *err, size_t cap);

int tl_publisher_start(tl_log *log, tl_tilestore *const *stores, size_t n, tl_publisher **out,
                       char *err, size_t cap)
{
    return start(log, stores, n, 0, out, err, cap);
}

int tl_publisher_start_shared(tl_log *log, tl_tilestore *const *stores, size_t n,
                              tl_publisher **out, char *err, size_t cap)
{
    return start(log, stores, n, 1, out, err, cap);
}

static int start(tl_log *log, tl_tilestore *const *stores, size_t n, int shared, tl_publisher **out,
                 char *err, size_t cap)
{
    tl_publisher *p = calloc(1, sizeof(*p));
    pthread_condattr_t ca;
    tl_log_head h;
    int rc;
    *out = NULL;
    if (!p) {
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    p->log = log;
    p->n = n;
    p->shared = shared;
    p->queue_max = TL_PUBLISH_LAG_MAX;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    p->t = calloc(n ? n : 1, sizeof(*p->t));
    if (!p->t || tl_log_reader_new(log, TL_LOG_READER_SMALL, &p->rd) != TL_OK) {
        free_publisher(p);
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    if (tl_log_published(log, &h) == TL_OK) {
        p->published = h.size;
        tl_log_head_release(&h);
    }
    for (size_t i = 0; i < n; i++) {
        p->t[i].ts = stores[i];
        tl_buf_init(&p->t[i].note);
        rc = catch_up(p, &p->t[i], p->published, err, cap);
        if (rc != TL_OK) {
            free_publisher(p);
            return rc;
        }
    }
    rc = tl_log_add_listener(log, on_event, p);
    if (rc != TL_OK) {
        free_publisher(p);
        snprintf(err, cap, "cannot register with the log (too many listeners)");
        return rc;
    }
    if (pthread_create(&p->th, NULL, publish_main, p) != 0) {
        tl_log_remove_listener(log, on_event, p);
        free_publisher(p);
        snprintf(err, cap, "cannot start the publisher thread");
        return TL_ERR_NOMEM;
    }
    *out = p;
    return TL_OK;
}

void tl_publisher_stop(tl_publisher *p)
{
    if (!p)
        return;
    tl_log_remove_listener(p->log, on_event, p);
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->th, NULL);
    free_publisher(p);
}

/* Caller holds mu. */
static uint64_t min_size(const tl_publisher *p, int *failed)
{
    uint64_t m = UINT64_MAX;
    *failed = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (p->t[i].failed)
            *failed = 1;
        if (p->t[i].size < m)
            m = p->t[i].size;
    }
    return p->n ? m : 0;
}

uint64_t tl_publisher_size(tl_publisher *p)
{
    int failed;
    uint64_t s;
    pthread_mutex_lock(&p->mu);
    s = min_size(p, &failed);
    pthread_mutex_unlock(&p->mu);
    return s;
}

int tl_publisher_wait(tl_publisher *p, uint64_t size, unsigned timeout_ms)
{
    struct timespec ts;
    int failed, rc = TL_OK;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(timeout_ms / 1000);
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    while (min_size(p, &failed) < size && !failed && rc == TL_OK)
        if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) != 0)
            rc = TL_ERR_TIMEOUT;
    if (min_size(p, &failed) < size)
        rc = failed ? TL_ERR_STOPPED : TL_ERR_TIMEOUT;
    else
        rc = TL_OK;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

uint64_t tl_publisher_lag(tl_publisher *p)
{
    int failed;
    pthread_mutex_lock(&p->mu);
    uint64_t m = min_size(p, &failed);
    uint64_t lag = p->published > m ? p->published - m : 0;
    pthread_mutex_unlock(&p->mu);
    return lag;
}

int tl_publisher_lagging(tl_publisher *p)
{
    int failed;
    pthread_mutex_lock(&p->mu);
    uint64_t m = min_size(p, &failed);
    int r = failed || (p->published > m && p->published - m > p->queue_max);
    pthread_mutex_unlock(&p->mu);
    return r;
}

void tl_publisher_set_queue_max(tl_publisher *p, uint64_t max)
{
    pthread_mutex_lock(&p->mu);
    p->queue_max = max;
    pthread_mutex_unlock(&p->mu);
}

int tl_publisher_head(tl_publisher *p, tl_buf *note, uint64_t *size)
{
    int rc = TL_OK;
    tl_buf_reset(note);
    *size = 0;
    pthread_mutex_lock(&p->mu);
    const target *lo = NULL;
    for (size_t i = 0; i < p->n; i++)
        if (!lo || p->t[i].size < lo->size)
            lo = &p->t[i];
    /* t->note is written by the publisher thread only after t->size under
     * mu, and read here under mu: a consistent pair */
    if (lo && lo->size > 0 && lo->note.len) {
        rc = tl_buf_add(note, lo->note.data, lo->note.len);
        if (rc == TL_OK)
            *size = lo->size;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void tl_publisher_set_listener(tl_publisher *p, tl_publisher_listener_fn *fn, void *ctx)
{
    pthread_mutex_lock(&p->mu);
    p->listener = fn;
    p->listener_ctx = ctx;
    pthread_mutex_unlock(&p->mu);
}

void tl_publisher_metrics(tl_publisher *p, tl_buf *out)
{
    static const char *const names[] = {"tlogd_publish_size",           "tlogd_publish_lag_entries",
                                        "tlogd_publish_objects_total",  "tlogd_publish_bytes_total",
                                        "tlogd_publish_failures_total", "tlogd_publish_failed"};
    static const char *const help[] = {
        "Size of the checkpoint the tile store holds",
        "Published entries the tile store does not hold yet",
        "Tiles and bundles written",
        "Bytes of tiles and bundles written",
        "Failed publication rounds",
        "1 when publication to the store stopped for good (fork alarm)"};
    int failed;
    pthread_mutex_lock(&p->mu);
    uint64_t m = min_size(p, &failed);
    tl_buf_addf(out,
                "# HELP tlogd_publish_queue_entries Published entries the slowest tile store "
                "does not hold yet.\n# TYPE tlogd_publish_queue_entries gauge\n"
                "tlogd_publish_queue_entries %" PRIu64 "\n"
                "# HELP tlogd_publish_queue_limit Queue depth past which POST /add answers 503.\n"
                "# TYPE tlogd_publish_queue_limit gauge\ntlogd_publish_queue_limit %" PRIu64 "\n",
                p->published > m ? p->published - m : 0, p->queue_max);
    for (size_t k = 0; k < 6; k++) {
        tl_buf_addf(out, "# HELP %s %s.\n# TYPE %s %s\n", names[k], help[k], names[k],
                    k >= 2 && k <= 4 ? "counter" : "gauge");
        for (size_t i = 0; i < p->n; i++) {
            const target *t = &p->t[i];
            uint64_t v = k == 0   ? t->size
                         : k == 1 ? (p->published > t->size ? p->published - t->size : 0)
                         : k == 2 ? t->m_objects
                         : k == 3 ? t->m_bytes
                         : k == 4 ? t->m_failures
                                  : (uint64_t)t->failed;
            tl_buf_addf(out, "%s{store=\"", names[k]);
            tl_buf_add_label(out, t->ts->name);
            tl_buf_addf(out, "\"} %" PRIu64 "\n", v);
        }
    }
    pthread_mutex_unlock(&p->mu);
}
