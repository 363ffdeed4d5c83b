/*
 * api.c - tlogd's HTTP API (CONTRACT.md "HTTP API of tlogd"):
 *   GET  /checkpoint                      C2SP tlog-checkpoint (published only)
 *   GET  /tile/<L>/<N>[.p/<W>]            C2SP tlog-tiles hash tiles
 *   GET  /tile/entries/<N>[.p/<W>]        C2SP tlog-tiles entry bundles
 *   POST /add                             C2SP tlog-proof (or JSON) once published
 *   GET  /ct/v1/get-sth, get-sth-consistency, get-proof-by-hash, get-entries,
 *        get-entry-and-proof              RFC 6962 §4 JSON
 *   GET  /metrics, /healthz
 *
 * Guarantees: every read is bounded by the published checkpoint (never the
 * merely signed one), so a client never sees a tile or proof for a tree no
 * published checkpoint commits to. Bad input gets a 4xx with a one-line
 * reason; errors become statuses in one place (status_of). POST /add never
 * blocks the loop: the log's callback queues the result under a mutex and
 * wakes the loop; waiting requests are answered on each publication or after
 * add_timeout_ms with 503 + Retry-After (the entry stays sequenced).
 */
#include "frontend/api.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/b64.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/err.h"
#include "frontend/query.h"
#include "log/reader.h"
#include "signer/tlogproof.h"

#define RETRY_AFTER "1"
#define CHECKPOINT_MAX_AGE "public, max-age=2"
#define IMMUTABLE "public, max-age=31536000, immutable"
#define PARTIAL_MAX_AGE "public, max-age=60"
#define SWEEP_MS 200
/* get-entries stops after this many entry bytes (RFC 6962 §4.6 lets a log
 * return fewer entries than asked), bounding one answer's memory. */
#define GET_ENTRIES_BYTES (2u << 20)

/* Endpoints, for metrics. */
enum ep {
    EP_CHECKPOINT,
    EP_TILE,
    EP_ENTRIES,
    EP_ADD,
    EP_STH,
    EP_CONSISTENCY,
    EP_PROOF_BY_HASH,
    EP_GET_ENTRIES,
    EP_ENTRY_AND_PROOF,
    EP_METRICS,
    EP_HEALTHZ,
    EP_OTHER,
    EP_N
};
static const char *const ep_names[EP_N] = {"checkpoint",
                                           "tile",
                                           "tile_entries",
                                           "add",
                                           "get-sth",
                                           "get-sth-consistency",
                                           "get-proof-by-hash",
                                           "get-entries",
                                           "get-entry-and-proof",
                                           "metrics",
                                           "healthz",
                                           "other"};
static const int statuses[] = {200, 400, 404, 405, 413, 500, 503};
#define NSTATUS (sizeof statuses / sizeof statuses[0])

/* Add-to-answer latency buckets (seconds). */
static const double lat_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
#define NLAT (sizeof lat_bounds / sizeof lat_bounds[0])

enum { W_ADDING, W_PENDING };

typedef struct waiter {
    tl_api *a;
    tl_http_req *req; /* NULL once the client went away */
    int json;
    int state;
    int err;
    int have_leaf;
    uint64_t index;
    tl_hash leaf;
    uint64_t start_ms, deadline_ms;
    struct waiter *prev, *next; /* pending list (loop thread) */
    struct waiter *qnext;       /* done queue (under qlock) */
} waiter;

/* ---- immutable answers, cached -------------------------------------------
 *
 * A 200 answer of get-sth-consistency or get-proof-by-hash depends only on
 * its query: its sizes are within a published tree, published trees only
 * grow, and leaf indexes never change. So the JSON text jansson made is kept,
 * keyed by endpoint and raw query string (two-way set associative,
 * ANSWER_CACHE slots, answers up to 4 KiB; a proof at 10^7 entries is ~1.2 KiB,
 * so ~20 MiB when full, and never more than 64 MiB). Errors are never cached. */

#define ANSWER_CACHE (1u << 14)
#define ANSWER_MAX 4096

typedef struct answer {
    uint64_t key; /* 0 = empty */
    int e;
    size_t qlen, blen;
    char *mem; /* query then body */
} answer;

static uint64_t answer_key(int e, const char *q, size_t qlen)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)e; /* FNV-1a */
    for (size_t i = 0; i < qlen; i++)
        h = (h ^ (uint8_t)q[i]) * 1099511628211ULL;
    return (h ^ (h >> 29)) | 1;
}

static const answer *answer_get(answer *c, int e, const char *q)
{
    size_t qlen = strlen(q);
    uint64_t k = answer_key(e, q, qlen);
    answer *s = &c[k & (ANSWER_CACHE - 2)];
    for (int i = 0; i < 2; i++)
        if (s[i].key == k && s[i].e == e && s[i].qlen == qlen && memcmp(s[i].mem, q, qlen) == 0)
            return &s[i];
    return NULL;
}

static void answer_put(answer *c, int e, const char *q, const char *body, size_t blen)
{
    size_t qlen = strlen(q);
    uint64_t k = answer_key(e, q, qlen);
    char *mem = malloc(qlen + blen);
    if (!mem)
        return;
    memcpy(mem, q, qlen);
    memcpy(mem + qlen, body, blen);
    answer *s = &c[k & (ANSWER_CACHE - 2)];
    free(s[1].mem);
    s[1] = s[0];
    s[0] = (answer){k, e, qlen, blen, mem};
}

static void answers_free(answer *c)
{
    for (size_t i = 0; c && i < ANSWER_CACHE; i++)
        free(c[i].mem);
    free(c);
}

struct tl_api {
    tl_api_config cfg;
    struct event_base *base;
    tl_httpd *httpd;
    /* cross-thread */
    pthread_mutex_t qlock;
    waiter *done_head, *done_tail;
    atomic_int kicked;
    atomic_int pub_changed;
    /* loop thread only */
    waiter *pending;
    size_t npending;
    struct event *sweep;
    tl_log_reader *rd; /* the log's read side for this thread: proofs, tiles, leaves */
    answer *answers;   /* ANSWER_CACHE slots */
    int have_pub;
    tl_log_head pub;
    tl_buf proof_text; /* answer_proof's tlog-proof, reused */
    char *sth_json;
    size_t sth_json_len;
    uint64_t req_count[EP_N][NSTATUS + 1];
    uint64_t lat_count[NLAT + 1];
    double lat_sum;
    uint64_t lat_n;
};

/* ---- responding ---------------------------------------------------------- */

/* The one place errors become HTTP statuses. */
static int status_of(int err)
{
    switch (err) {
    case TL_OK:
        return 200;
    case TL_ERR_INVALID:
    case TL_ERR_RANGE:
        return 400;
    case TL_ERR_NOTFOUND:
        return 404;
    case TL_ERR_TOOBIG:
        return 413;
    case TL_ERR_BUSY:
    case TL_ERR_STOPPED:
    case TL_ERR_TIMEOUT:
        return 503;
    default:
        return 500;
    }
}

static void count(tl_api *a, enum ep e, int status)
{
    size_t i;
    for (i = 0; i < NSTATUS; i++)
        if (statuses[i] == status)
            break;
    a->req_count[e][i]++;
}

static void reply(tl_api *a, tl_http_req *r, enum ep e, int status, const char *ctype,
                  const char *cache, const void *body, size_t len)
{
    tl_http_header h[3];
    size_t n = 0;
    h[n++] = (tl_http_header){"access-control-allow-origin", "*"};
    if (cache)
        h[n++] = (tl_http_header){"cache-control", cache};
    if (status == 503)
        h[n++] = (tl_http_header){"retry-after", RETRY_AFTER};
    count(a, e, status);
    tl_http_respond(r, status, ctype, h, n, body, len);
}

/* An error answer: the status from status_of (or forced), a one-line reason. */
static void fail(tl_api *a, tl_http_req *r, enum ep e, int err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void fail(tl_api *a, tl_http_req *r, enum ep e, int err, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n > sizeof msg - 2)
        n = sizeof msg - 2;
    for (int i = 0; i < n; i++)
        if ((unsigned char)msg[i] < 0x20 || msg[i] == 0x7f)
            msg[i] = '?';
    msg[n++] = '\n';
    msg[n] = 0;
    reply(a, r, e, status_of(err), "text/plain; charset=utf-8", "no-store", msg, (size_t)n);
}

/* akey: the query to cache the answer under (immutable answers), or NULL. */
static void reply_json_(tl_api *a, tl_http_req *r, enum ep e, json_t *j, const char *cache,
                        const char *akey)
{
    /* Most answers (proofs) fit the stack buffer: no malloc, no strlen. */
    char stackbuf[ANSWER_MAX];
    size_t n = j ? json_dumpb(j, stackbuf, sizeof stackbuf, JSON_COMPACT) : 0;
    if (n > 0 && n <= sizeof stackbuf) {
        json_decref(j);
        if (akey)
            answer_put(a->answers, e, akey, stackbuf, n);
        reply(a, r, e, 200, "application/json", cache, stackbuf, n);
        return;
    }
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) {
        fail(a, r, e, TL_ERR_NOMEM, "out of memory");
        return;
    }
    reply(a, r, e, 200, "application/json", cache, s, strlen(s));
    free(s);
}

static void reply_json(tl_api *a, tl_http_req *r, enum ep e, json_t *j, const char *cache)
{
    reply_json_(a, r, e, j, cache, NULL);
}

/* Answers r from the answer cache if it holds its query. */
static int reply_cached(tl_api *a, tl_http_req *r, enum ep e)
{
    const answer *c = answer_get(a->answers, e, tl_http_req_query(r));
    if (!c)
        return 0;
    reply(a, r, e, 200, "application/json", IMMUTABLE, c->mem + c->qlen, c->blen);
    return 1;
}

/* ---- the published head (cached on the loop thread) ---------------------- */

static void refresh_published(tl_api *a)
{
    tl_log_head h;
    memset(&h, 0, sizeof h);
    if (tl_log_published(a->cfg.log, &h) != TL_OK)
        return;
    if (a->have_pub && h.size == a->pub.size && h.note_len == a->pub.note_len &&
        memcmp(h.note, a->pub.note, h.note_len) == 0) {
        tl_log_head_release(&h);
        return;
    }
    char root[TL_B64_LEN(TL_HASH_SIZE) + 1];
    tl_b64_encode(h.root.b, TL_HASH_SIZE, root);
    char *sig = tl_b64_encode_alloc(h.sth_sig, h.sth_sig_len);
    json_t *j = json_pack("{s:I, s:I, s:s, s:s}", "tree_size", (json_int_t)h.size, "timestamp",
                          (json_int_t)h.timestamp_ms, "sha256_root_hash", root,
                          "tree_head_signature", sig ? sig : "");
    free(sig);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) {
        tl_log_head_release(&h);
        return;
    }
    free(a->sth_json);
    a->sth_json = s;
    a->sth_json_len = strlen(s);
    if (a->have_pub)
        tl_log_head_release(&a->pub);
    a->pub = h;
    a->have_pub = 1;
}

/* ---- POST /add ----------------------------------------------------------- */

static void waiter_unlink(tl_api *a, waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        a->pending = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    a->npending--;
}

static void observe_latency(tl_api *a, waiter *w)
{
    double s = (double)(tl_mono_ms() - w->start_ms) / 1000.0;
    size_t i = 0;
    while (i < NLAT && s > lat_bounds[i])
        i++;
    a->lat_count[i]++;
    a->lat_sum += s;
    a->lat_n++;
}

/* Answers w with its proof in the published tree; frees w. */
static void answer_proof(tl_api *a, waiter *w)
{
    tl_http_req *r = w->req;
    tl_hash proof[TL_MAX_PROOF];
    size_t plen = 0;
    int rc = tl_log_reader_inclusion(a->rd, a->pub.size, w->index, a->pub.size, proof, &plen);
    observe_latency(a, w);
    if (rc != TL_OK) {
        fail(a, r, EP_ADD, rc == TL_ERR_NOTFOUND ? TL_ERR_IO : rc, "cannot build the proof: %s",
             tl_strerror(rc));
    } else if (w->json) {
        char lh[TL_B64_LEN(TL_HASH_SIZE) + 1];
        tl_b64_encode(w->leaf.b, TL_HASH_SIZE, lh);
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < plen; i++) {
            char p[TL_B64_LEN(TL_HASH_SIZE) + 1];
            tl_b64_encode(proof[i].b, TL_HASH_SIZE, p);
            json_array_append_new(arr, json_string(p));
        }
        json_t *j =
            json_pack("{s:I, s:s, s:s%, s:o}", "index", (json_int_t)w->index, "leaf_hash", lh,
                      "checkpoint", a->pub.note, a->pub.note_len, "inclusion_proof", arr);
        reply_json(a, r, EP_ADD, j, "no-store");
    } else {
        tl_tlogproof p;
        memset(&p, 0, sizeof p);
        p.index = w->index;
        memcpy(p.proof, proof, plen * sizeof proof[0]);
        p.proof_len = plen;
        p.checkpoint = a->pub.note; /* borrowed; p is not released */
        p.checkpoint_len = a->pub.note_len;
        /* our own published checkpoint, and index < its size: no re-parse */
        tl_buf_reset(&a->proof_text);
        rc = tl_tlogproof_append(&p, &a->proof_text);
        if (rc != TL_OK)
            fail(a, r, EP_ADD, rc, "cannot format the proof: %s", tl_strerror(rc));
        else
            reply(a, r, EP_ADD, 200, "text/plain; charset=utf-8", "no-store", a->proof_text.data,
                  a->proof_text.len);
    }
    free(w);
}

static void waiter_abort(void *ctx)
{
    waiter *w = ctx;
    w->req = NULL;
    if (w->state == W_PENDING) {
        waiter_unlink(w->a, w);
        free(w);
    }
    /* W_ADDING: freed when the log's callback arrives. */
}

/* Answers every pending waiter the published tree now covers. */
static void answer_published(tl_api *a)
{
    if (!a->have_pub)
        return;
    for (waiter *w = a->pending, *n; w; w = n) {
        n = w->next;
        if (w->index < a->pub.size) {
            waiter_unlink(a, w);
            answer_proof(a, w);
        }
    }
}

static void api_loop(void *ctx)
{
    tl_api *a = ctx;
    atomic_store(&a->kicked, 0);
    if (atomic_exchange(&a->pub_changed, 0))
        refresh_published(a);
    pthread_mutex_lock(&a->qlock);
    waiter *w = a->done_head;
    a->done_head = a->done_tail = NULL;
    pthread_mutex_unlock(&a->qlock);
    while (w) {
        waiter *n = w->qnext;
        w->qnext = NULL;
        if (!w->req) {
            free(w);
        } else if (w->err != TL_OK) {
            observe_latency(a, w);
            fail(a, w->req, EP_ADD, w->err, "not sequenced: %s", tl_strerror(w->err));
            free(w);
        } else if (a->have_pub && w->index < a->pub.size) {
            if (w->have_leaf)
                tl_log_reader_learn(a->rd, &w->leaf, w->index);
            answer_proof(a, w);
        } else {
            if (w->have_leaf)
                tl_log_reader_learn(a->rd, &w->leaf, w->index);
            w->state = W_PENDING;
            w->next = a->pending;
            if (a->pending)
                a->pending->prev = w;
            a->pending = w;
            a->npending++;
        }
        w = n;
    }
    answer_published(a);
}

static void kick(tl_api *a)
{
    if (!a->httpd)
        return;
    if (atomic_exchange(&a->kicked, 1) == 0)
        tl_httpd_run_in_loop(a->httpd, api_loop, a);
}

/* Sequencer thread. */
static void on_added(void *ctx, int err, uint64_t index, const tl_hash *leaf)
{
    waiter *w = ctx;
    tl_api *a = w->a;
    w->err = err;
    w->index = index;
    if (leaf) {
        w->leaf = *leaf;
        w->have_leaf = 1;
    }
    pthread_mutex_lock(&a->qlock);
    if (a->done_tail)
        a->done_tail->qnext = w;
    else
        a->done_head = w;
    a->done_tail = w;
    pthread_mutex_unlock(&a->qlock);
    kick(a);
}

/* Sequencer / publisher thread. */
static void on_log_event(void *ctx, uint64_t signed_size, uint64_t published_size)
{
    (void)signed_size;
    (void)published_size;
    tl_api *a = ctx;
    atomic_store(&a->pub_changed, 1);
    kick(a);
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tl_api *a = arg;
    uint64_t now = tl_mono_ms();
    for (waiter *w = a->pending, *n; w; w = n) {
        n = w->next;
        if (now >= w->deadline_ms) {
            waiter_unlink(a, w);
            observe_latency(a, w);
            fail(a, w->req, EP_ADD, TL_ERR_TIMEOUT,
                 "entry %llu is sequenced but not yet in a published checkpoint; retry",
                 (unsigned long long)w->index);
            free(w);
        }
    }
}

static int wants_json(tl_http_req *r)
{
    const char *acc = tl_http_req_header(r, "accept");
    return acc && strstr(acc, "application/json") != NULL;
}

static void handle_add(tl_api *a, tl_http_req *r)
{
    size_t len;
    const uint8_t *body = tl_http_req_body(r, &len);
    if (len == 0) {
        fail(a, r, EP_ADD, TL_ERR_INVALID, "empty entry");
        return;
    }
    if (len > a->cfg.max_entry) {
        fail(a, r, EP_ADD, TL_ERR_TOOBIG, "entry of %zu bytes is over the limit of %zu", len,
             a->cfg.max_entry);
        return;
    }
    waiter *w = calloc(1, sizeof *w);
    if (!w) {
        fail(a, r, EP_ADD, TL_ERR_BUSY, "out of memory");
        return;
    }
    w->a = a;
    w->req = r;
    w->json = wants_json(r);
    w->state = W_ADDING;
    w->start_ms = tl_mono_ms();
    w->deadline_ms = w->start_ms + a->cfg.add_timeout_ms;
    tl_http_req_on_abort(r, waiter_abort, w);
    int rc = tl_log_add(a->cfg.log, body, len, on_added, w);
    if (rc != TL_OK) {
        free(w);
        if (rc == TL_ERR_BUSY)
            fail(a, r, EP_ADD, rc, "too many pending entries; retry later");
        else
            fail(a, r, EP_ADD, rc, "cannot add: %s", tl_strerror(rc));
    }
}

/* ---- JSON helpers ------------------------------------------------------ */

static json_t *hashes_json(const tl_hash *h, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        char p[TL_B64_LEN(TL_HASH_SIZE) + 1];
        tl_b64_encode(h[i].b, TL_HASH_SIZE, p);
        /* base64 is ASCII: skip jansson's UTF-8 check. */
        if (json_array_append_new(arr, json_stringn_nocheck(p, TL_B64_LEN(TL_HASH_SIZE))) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* {k1: v1[, k2: v2]} taking the values (NULL if any is NULL); cheaper than
 * json_pack's format parsing on the proof paths. */
static json_t *obj2(const char *k1, json_t *v1, const char *k2, json_t *v2)
{
    json_t *o = json_object();
    if (!o) {
        json_decref(v1);
        json_decref(v2);
        return NULL;
    }
    if (json_object_set_new_nocheck(o, k1, v1) != 0) {
        json_decref(v2);
        json_decref(o);
        return NULL;
    }
    if (k2 && json_object_set_new_nocheck(o, k2, v2) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *obj1(const char *k, json_t *v)
{
    return obj2(k, v, NULL, NULL);
}

/* ---- RFC 6962 §4 --------------------------------------------------------- */

static int need_pub(tl_api *a, tl_http_req *r, enum ep e)
{
    if (a->have_pub)
        return 1;
    fail(a, r, e, TL_ERR_BUSY, "no checkpoint published yet");
    return 0;
}

static void handle_consistency(tl_api *a, tl_http_req *r)
{
    if (reply_cached(a, r, EP_CONSISTENCY))
        return;
    tl_query_param ps[] = {{"first", 0, 0, {{0}}, 0}, {"second", 0, 0, {{0}}, 0}};
    char why[160];
    if (tl_query_parse(tl_http_req_query(r), ps, 2, why, sizeof why) != TL_OK) {
        fail(a, r, EP_CONSISTENCY, TL_ERR_INVALID, "%s", why);
        return;
    }
    uint64_t m = ps[0].num, n = ps[1].num;
    if (m > n) {
        fail(a, r, EP_CONSISTENCY, TL_ERR_INVALID, "first (%llu) is greater than second (%llu)",
             (unsigned long long)m, (unsigned long long)n);
        return;
    }
    if (n > a->pub.size) {
        fail(a, r, EP_CONSISTENCY, TL_ERR_RANGE, "second (%llu) is beyond the tree size %llu",
             (unsigned long long)n, (unsigned long long)a->pub.size);
        return;
    }
    tl_hash proof[TL_MAX_PROOF];
    size_t len = 0;
    int rc = TL_OK;
    if (m > 0 && m < n)
        rc = tl_log_reader_consistency(a->rd, a->pub.size, m, n, proof, &len);
    if (rc != TL_OK) {
        fail(a, r, EP_CONSISTENCY, rc == TL_ERR_NOTFOUND ? TL_ERR_IO : rc,
             "cannot build the proof: %s", tl_strerror(rc));
        return;
    }
    reply_json_(a, r, EP_CONSISTENCY, obj1("consistency", hashes_json(proof, len)), IMMUTABLE,
                tl_http_req_query(r));
}

static void handle_proof_by_hash(tl_api *a, tl_http_req *r)
{
    if (reply_cached(a, r, EP_PROOF_BY_HASH))
        return;
    tl_query_param ps[] = {{"hash", 1, 0, {{0}}, 0}, {"tree_size", 0, 0, {{0}}, 0}};
    char why[160];
    if (tl_query_parse(tl_http_req_query(r), ps, 2, why, sizeof why) != TL_OK) {
        fail(a, r, EP_PROOF_BY_HASH, TL_ERR_INVALID, "%s", why);
        return;
    }
    uint64_t n = ps[1].num;
    if (n == 0 || n > a->pub.size) {
        fail(a, r, EP_PROOF_BY_HASH, TL_ERR_RANGE, "tree_size %llu is not in 1..%llu",
             (unsigned long long)n, (unsigned long long)a->pub.size);
        return;
    }
    uint64_t idx;
    int rc = tl_log_reader_lookup(a->rd, &ps[0].hash, &idx);
    if (rc == TL_ERR_NOTFOUND || (rc == TL_OK && idx >= a->pub.size)) {
        fail(a, r, EP_PROOF_BY_HASH, TL_ERR_NOTFOUND, "no entry with that leaf hash");
        return;
    }
    if (rc == TL_OK && idx >= n) {
        fail(a, r, EP_PROOF_BY_HASH, TL_ERR_RANGE,
             "the leaf (index %llu) is not in the tree of size %llu", (unsigned long long)idx,
             (unsigned long long)n);
        return;
    }
    tl_hash proof[TL_MAX_PROOF];
    size_t len = 0;
    if (rc == TL_OK)
        rc = tl_log_reader_inclusion(a->rd, a->pub.size, idx, n, proof, &len);
    if (rc != TL_OK) {
        fail(a, r, EP_PROOF_BY_HASH, rc == TL_ERR_NOTFOUND ? TL_ERR_IO : rc,
             "cannot build the proof: %s", tl_strerror(rc));
        return;
    }
    reply_json_(
        a, r, EP_PROOF_BY_HASH,
        obj2("leaf_index", json_integer((json_int_t)idx), "audit_path", hashes_json(proof, len)),
        IMMUTABLE, tl_http_req_query(r));
}

static void handle_get_entries(tl_api *a, tl_http_req *r)
{
    tl_query_param ps[] = {{"start", 0, 0, {{0}}, 0}, {"end", 0, 0, {{0}}, 0}};
    char why[160];
    if (tl_query_parse(tl_http_req_query(r), ps, 2, why, sizeof why) != TL_OK) {
        fail(a, r, EP_GET_ENTRIES, TL_ERR_INVALID, "%s", why);
        return;
    }
    uint64_t s = ps[0].num, e = ps[1].num;
    if (s > e) {
        fail(a, r, EP_GET_ENTRIES, TL_ERR_INVALID, "start (%llu) is greater than end (%llu)",
             (unsigned long long)s, (unsigned long long)e);
        return;
    }
    if (s >= a->pub.size) {
        fail(a, r, EP_GET_ENTRIES, TL_ERR_RANGE, "start (%llu) is beyond the tree size %llu",
             (unsigned long long)s, (unsigned long long)a->pub.size);
        return;
    }
    if (e >= a->pub.size)
        e = a->pub.size - 1;
    if (e - s >= a->cfg.get_entries_max)
        e = s + a->cfg.get_entries_max - 1;
    json_t *arr = json_array();
    tl_buf b = TL_BUF_INIT;
    int rc = arr ? TL_OK : TL_ERR_NOMEM;
    size_t bytes = 0;
    for (uint64_t i = s; i <= e && rc == TL_OK && bytes < GET_ENTRIES_BYTES; i++) {
        tl_buf_reset(&b);
        rc = tl_log_entry(a->cfg.log, i, &b); /* checked against its leaf hash */
        if (rc != TL_OK)
            break;
        bytes += b.len;
        char *li = tl_b64_encode_alloc(b.data, b.len);
        json_t *o = li ? json_pack("{s:s, s:s}", "leaf_input", li, "extra_data", "") : NULL;
        free(li);
        if (!o || json_array_append_new(arr, o) != 0)
            rc = TL_ERR_NOMEM;
    }
    tl_buf_release(&b);
    if (rc != TL_OK) {
        json_decref(arr);
        fail(a, r, EP_GET_ENTRIES, rc == TL_ERR_NOTFOUND ? TL_ERR_IO : rc,
             "cannot read entries: %s", tl_strerror(rc));
        return;
    }
    /* a range clipped at the tree size may return more later: short max-age */
    reply_json(a, r, EP_GET_ENTRIES, json_pack("{s:o}", "entries", arr), PARTIAL_MAX_AGE);
}

static void handle_entry_and_proof(tl_api *a, tl_http_req *r)
{
    tl_query_param ps[] = {{"leaf_index", 0, 0, {{0}}, 0}, {"tree_size", 0, 0, {{0}}, 0}};
    char why[160];
    if (tl_query_parse(tl_http_req_query(r), ps, 2, why, sizeof why) != TL_OK) {
        fail(a, r, EP_ENTRY_AND_PROOF, TL_ERR_INVALID, "%s", why);
        return;
    }
    uint64_t i = ps[0].num, n = ps[1].num;
    if (n > a->pub.size) {
        fail(a, r, EP_ENTRY_AND_PROOF, TL_ERR_RANGE,
             "tree_size (%llu) is beyond the tree size %llu", (unsigned long long)n,
             (unsigned long long)a->pub.size);
        return;
    }
    if (i >= n) {
        fail(a, r, EP_ENTRY_AND_PROOF, TL_ERR_RANGE,
             "leaf_index (%llu) is not below tree_size (%llu)", (unsigned long long)i,
             (unsigned long long)n);
        return;
    }
    tl_hash proof[TL_MAX_PROOF];
    size_t len = 0;
    tl_buf b = TL_BUF_INIT;
    int rc = tl_log_entry(a->cfg.log, i, &b); /* checked against its leaf hash */
    if (rc == TL_OK)
        rc = tl_log_reader_inclusion(a->rd, a->pub.size, i, n, proof, &len);
    char *li = rc == TL_OK ? tl_b64_encode_alloc(b.data, b.len) : NULL;
    tl_buf_release(&b);
    if (rc != TL_OK || !li) {
        fail(a, r, EP_ENTRY_AND_PROOF,
             rc == TL_ERR_NOTFOUND ? TL_ERR_IO
             : rc                  ? rc
                                   : TL_ERR_NOMEM,
             "cannot read the entry: %s", tl_strerror(rc));
        return;
    }
    json_t *j = json_pack("{s:s, s:s, s:o}", "leaf_input", li, "extra_data", "", "audit_path",
                          hashes_json(proof, len));
    free(li);
    reply_json(a, r, EP_ENTRY_AND_PROOF, j, IMMUTABLE);
}

/* ---- tiles, checkpoint, operations -------------------------------------- */

static void handle_tile(tl_api *a, tl_http_req *r, const char *path)
{
    tl_tile t;
    enum ep e = strncmp(path, "/tile/entries/", 14) == 0 ? EP_ENTRIES : EP_TILE;
    if (tl_tile_parse_path(path, strlen(path), &t) != TL_OK) {
        fail(a, r, e, TL_ERR_NOTFOUND, "no such tile: malformed tile path");
        return;
    }
    if (!need_pub(a, r, e))
        return;
    const uint8_t *data;
    size_t len;
    int rc = tl_log_reader_tile(a->rd, &t, a->pub.size, &data, &len);
    if (rc == TL_ERR_NOTFOUND || rc == TL_ERR_RANGE || rc == TL_ERR_INVALID) {
        fail(a, r, e, TL_ERR_NOTFOUND, "no such tile in the published tree of size %llu",
             (unsigned long long)a->pub.size);
    } else if (rc != TL_OK) {
        /* a damaged bundle (an entry that does not hash to its leaf hash)
         * is refused here, and the log has stopped signing */
        fail(a, r, e, rc, "cannot read the tile: %s", tl_strerror(rc));
    } else {
        reply(a, r, e, 200, "application/octet-stream",
              t.width == TL_TILE_WIDTH ? IMMUTABLE : PARTIAL_MAX_AGE, data, len);
    }
}

static void handle_metrics(tl_api *a, tl_http_req *r)
{
    tl_log_stats st;
    tl_log_get_stats(a->cfg.log, &st);
    tl_buf b = TL_BUF_INIT;
    tl_buf_addf(&b,
                "# HELP tlogd_entries_added_total New entries sequenced since start.\n"
                "# TYPE tlogd_entries_added_total counter\n"
                "tlogd_entries_added_total %llu\n"
                "# TYPE tlogd_duplicates_total counter\n"
                "tlogd_duplicates_total %llu\n"
                "# HELP tlogd_tree_size_signed Size of the latest signed checkpoint.\n"
                "# TYPE tlogd_tree_size_signed gauge\n"
                "tlogd_tree_size_signed %llu\n"
                "# HELP tlogd_tree_size_published Size of the latest published checkpoint.\n"
                "# TYPE tlogd_tree_size_published gauge\n"
                "tlogd_tree_size_published %llu\n"
                "# TYPE tlogd_batches_total counter\n"
                "tlogd_batches_total %llu\n"
                "# HELP tlogd_batch_entries_last Entries in the last sequenced batch.\n"
                "# TYPE tlogd_batch_entries_last gauge\n"
                "tlogd_batch_entries_last %llu\n"
                "# HELP tlogd_commit_seconds Time spent committing batches.\n"
                "# TYPE tlogd_commit_seconds summary\n"
                "tlogd_commit_seconds_sum %.6f\n"
                "tlogd_commit_seconds_count %llu\n"
                "# TYPE tlogd_commit_seconds_last gauge\n"
                "tlogd_commit_seconds_last %.6f\n"
                "# HELP tlogd_pool_depth Entries waiting to be sequenced.\n"
                "# TYPE tlogd_pool_depth gauge\n"
                "tlogd_pool_depth %zu\n"
                "# HELP tlogd_add_waiting POST /add requests waiting for publication.\n"
                "# TYPE tlogd_add_waiting gauge\n"
                "tlogd_add_waiting %zu\n"
                "# TYPE tlogd_sequencer_stopped gauge\n"
                "tlogd_sequencer_stopped %d\n",
                (unsigned long long)st.entries_added, (unsigned long long)st.duplicates,
                (unsigned long long)st.signed_size, (unsigned long long)st.published_size,
                (unsigned long long)st.batches, (unsigned long long)st.batch_entries_last,
                st.commit_seconds_total, (unsigned long long)st.batches, st.commit_seconds_last,
                st.pool_depth, a->npending, st.stopped);
    tl_buf_addf(&b,
                "# HELP tlogd_dedup_filter_ready 1 once the dedup filter holds every stored key.\n"
                "# TYPE tlogd_dedup_filter_ready gauge\n"
                "tlogd_dedup_filter_ready %d\n"
                "# HELP tlogd_dedup_lookups_total Dedup lookups of new leaves, by who answered.\n"
                "# TYPE tlogd_dedup_lookups_total counter\n"
                "tlogd_dedup_lookups_total{by=\"store\"} %llu\n"
                "tlogd_dedup_lookups_total{by=\"filter\"} %llu\n",
                st.dedup_filter_ready, (unsigned long long)st.dedup_store_reads,
                (unsigned long long)st.dedup_filter_skips);
    tl_buf_adds(&b, "# HELP tlogd_add_seconds Time from POST /add to its answer.\n"
                    "# TYPE tlogd_add_seconds histogram\n");
    uint64_t cum = 0;
    for (size_t i = 0; i < NLAT; i++) {
        cum += a->lat_count[i];
        tl_buf_addf(&b, "tlogd_add_seconds_bucket{le=\"%g\"} %llu\n", lat_bounds[i],
                    (unsigned long long)cum);
    }
    cum += a->lat_count[NLAT];
    tl_buf_addf(&b, "tlogd_add_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
    tl_buf_addf(&b, "tlogd_add_seconds_sum %.6f\ntlogd_add_seconds_count %llu\n", a->lat_sum,
                (unsigned long long)a->lat_n);
    /* Count this request before printing, so it shows up in its own answer. */
    count(a, EP_METRICS, 200);
    tl_buf_adds(&b, "# HELP tlogd_http_requests_total Requests by endpoint and status.\n"
                    "# TYPE tlogd_http_requests_total counter\n");
    for (size_t e = 0; e < EP_N; e++)
        for (size_t s = 0; s <= NSTATUS; s++)
            if (a->req_count[e][s]) {
                char code[8];
                if (s < NSTATUS)
                    snprintf(code, sizeof code, "%d", statuses[s]);
                else
                    snprintf(code, sizeof code, "other");
                tl_buf_addf(&b, "tlogd_http_requests_total{endpoint=\"%s\",code=\"%s\"} %llu\n",
                            ep_names[e], code, (unsigned long long)a->req_count[e][s]);
            }
    if (a->cfg.cosigner)
        tl_cosigner_metrics(a->cfg.cosigner, &b);
    a->req_count[EP_METRICS][0]--; /* reply() counts it again */
    reply(a, r, EP_METRICS, 200, "text/plain; version=0.0.4; charset=utf-8", "no-store",
          b.data ? (const char *)b.data : "", b.len);
    tl_buf_release(&b);
}

static void handle_healthz(tl_api *a, tl_http_req *r)
{
    tl_log_stats st;
    tl_log_get_stats(a->cfg.log, &st);
    if (st.stopped)
        fail(a, r, EP_HEALTHZ, TL_ERR_STOPPED, "sequencer stopped: %s", st.stop_reason);
    else
        reply(a, r, EP_HEALTHZ, 200, "text/plain; charset=utf-8", "no-store", "ok\n", 3);
}

static void method_not_allowed(tl_api *a, tl_http_req *r, enum ep e, const char *allow)
{
    tl_http_header h[] = {{"allow", allow}, {"access-control-allow-origin", "*"}};
    const char *msg = "method not allowed\n";
    count(a, e, 405);
    tl_http_respond(r, 405, "text/plain; charset=utf-8", h, 2, msg, strlen(msg));
}

/* CORS preflight: browsers ask before a cross-origin POST /add. */
static void cors_preflight(tl_api *a, tl_http_req *r)
{
    tl_http_header h[] = {{"access-control-allow-origin", "*"},
                          {"access-control-allow-methods", "GET, HEAD, POST"},
                          {"access-control-allow-headers", "Content-Type, Accept"},
                          {"access-control-max-age", "86400"}};
    count(a, EP_OTHER, 204);
    tl_http_respond(r, 204, NULL, h, 4, "", 0);
}

void tl_api_handle(void *ctx, tl_http_req *r)
{
    tl_api *a = ctx;
    const char *p = tl_http_req_path(r), *m = tl_http_req_method(r);
    int get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
    enum ep e;
    if (strcmp(m, "OPTIONS") == 0) {
        cors_preflight(a, r);
        return;
    }
    if (strcmp(p, "/add") == 0) {
        if (strcmp(m, "POST") != 0)
            method_not_allowed(a, r, EP_ADD, "POST");
        else
            handle_add(a, r);
        return;
    }
    if (strcmp(p, "/checkpoint") == 0)
        e = EP_CHECKPOINT;
    else if (strncmp(p, "/tile/", 6) == 0)
        e = strncmp(p, "/tile/entries/", 14) == 0 ? EP_ENTRIES : EP_TILE;
    else if (strcmp(p, "/ct/v1/get-sth") == 0)
        e = EP_STH;
    else if (strcmp(p, "/ct/v1/get-sth-consistency") == 0)
        e = EP_CONSISTENCY;
    else if (strcmp(p, "/ct/v1/get-proof-by-hash") == 0)
        e = EP_PROOF_BY_HASH;
    else if (strcmp(p, "/ct/v1/get-entries") == 0)
        e = EP_GET_ENTRIES;
    else if (strcmp(p, "/ct/v1/get-entry-and-proof") == 0)
        e = EP_ENTRY_AND_PROOF;
    else if (strcmp(p, "/metrics") == 0)
        e = EP_METRICS;
    else if (strcmp(p, "/healthz") == 0)
        e = EP_HEALTHZ;
    else {
        fail(a, r, EP_OTHER, TL_ERR_NOTFOUND, "no such endpoint: %.100s", p);
        return;
    }
    if (!get) {
        method_not_allowed(a, r, e, "GET, HEAD");
        return;
    }
    switch (e) {
    case EP_TILE:
    case EP_ENTRIES:
        handle_tile(a, r, p);
        return;
    case EP_METRICS:
        handle_metrics(a, r);
        return;
    case EP_HEALTHZ:
        handle_healthz(a, r);
        return;
    default:
        break;
    }
    if (!need_pub(a, r, e))
        return;
    switch (e) {
    case EP_CHECKPOINT:
        reply(a, r, e, 200, "text/plain; charset=utf-8", CHECKPOINT_MAX_AGE, a->pub.note,
              a->pub.note_len);
        break;
    case EP_STH:
        reply(a, r, e, 200, "application/json", CHECKPOINT_MAX_AGE, a->sth_json, a->sth_json_len);
        break;
    case EP_CONSISTENCY:
        handle_consistency(a, r);
        break;
    case EP_PROOF_BY_HASH:
        handle_proof_by_hash(a, r);
        break;
    case EP_GET_ENTRIES:
        handle_get_entries(a, r);
        break;
    case EP_ENTRY_AND_PROOF:
        handle_entry_and_proof(a, r);
        break;
    default:
        fail(a, r, EP_OTHER, TL_ERR_NOTFOUND, "no such endpoint");
        break;
    }
}

/* ---- lifecycle ----------------------------------------------------------- */

int tl_api_new(const tl_api_config *cfg, struct event_base *base, tl_api **out)
{
    *out = NULL;
    tl_api *a = calloc(1, sizeof *a);
    if (!a)
        return TL_ERR_NOMEM;
    a->cfg = *cfg;
    if (!a->cfg.max_entry)
        a->cfg.max_entry = 65535;
    if (!a->cfg.add_timeout_ms)
        a->cfg.add_timeout_ms = 30000;
    if (!a->cfg.get_entries_max)
        a->cfg.get_entries_max = 1000;
    a->base = base;
    pthread_mutex_init(&a->qlock, NULL);
    a->answers = calloc(ANSWER_CACHE, sizeof *a->answers);
    if (tl_log_reader_new(cfg->log, TL_LOG_READER_LARGE, &a->rd) != TL_OK || !a->answers) {
        tl_api_free(a);
        return TL_ERR_NOMEM;
    }
    atomic_init(&a->kicked, 0);
    atomic_init(&a->pub_changed, 1);
    a->sweep = event_new(base, -1, EV_PERSIST, sweep_cb, a);
    if (!a->sweep) {
        tl_api_free(a);
        return TL_ERR_NOMEM;
    }
    struct timeval tv = {0, SWEEP_MS * 1000};
    event_add(a->sweep, &tv);
    int rc = tl_log_add_listener(a->cfg.log, on_log_event, a);
    if (rc != TL_OK) {
        tl_api_free(a);
        return rc;
    }
    refresh_published(a);
    *out = a;
    return TL_OK;
}

void tl_api_set_httpd(tl_api *a, tl_httpd *h)
{
    a->httpd = h;
    atomic_store(&a->pub_changed, 1);
    kick(a);
}

void tl_api_fail_waiters(tl_api *a)
{
    while (a->pending) {
        waiter *w = a->pending;
        waiter_unlink(a, w);
        fail(a, w->req, EP_ADD, TL_ERR_STOPPED, "the log is shutting down; retry");
        free(w);
    }
}

void tl_api_free(tl_api *a)
{
    if (!a)
        return;
    while (a->pending) {
        waiter *w = a->pending;
        waiter_unlink(a, w);
        free(w);
    }
    waiter *w = a->done_head;
    while (w) {
        waiter *n = w->qnext;
        free(w);
        w = n;
    }
    if (a->sweep)
        event_free(a->sweep);
    if (a->have_pub)
        tl_log_head_release(&a->pub);
    free(a->sth_json);
    tl_buf_release(&a->proof_text);
    tl_log_reader_free(a->rd);
    answers_free(a->answers);
    pthread_mutex_destroy(&a->qlock);
    free(a);
}
