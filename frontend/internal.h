/*
 * internal.h - what the frontend's files share: the tl_frontend struct, the
 * route type and the endpoint ids (routes.c), the replies (respond.c), the
 * waiting machinery of write endpoints (write.c) and the handlers each file
 * serves. Only frontend/ (and its tests) include it; cmd/ uses frontend.h.
 *
 * Files: routes.c (the route table, dispatch, 404/405/OPTIONS), respond.c
 * (replies, error answers, the answer cache, tl_err -> HTTP status),
 * write.c (POST /add and the waiters), tiles.c (checkpoint, tiles, entry
 * bundles), ct.c (RFC 6962 JSON), ops.c (/metrics, /healthz), console.c (the
 * web console: its files and GET /console/v1/status), audit.c (the
 * /audit/v1/ endpoints of audit logs), query.c (the strict query-string
 * parser, query.h), audit_query.c (an audit search's query string,
 * audit_query.h), tokens.c (audit logs' bearer tokens, tokens.h),
 * k8s.c (the Kubernetes audit webhook of audit logs), syslog.c (the
 * syslog listeners of audit logs), pool.c (their mapping workers), frontend.c
 * (lifecycle and the published head).
 *
 * Threads: everything runs on the loop thread, except the fields marked
 * cross-thread (write.c's queue from the log's committer thread) and the
 * mapping workers' run functions (pool.c).
 */
#ifndef TL_FRONTEND_INTERNAL_H
#define TL_FRONTEND_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/util.h>
#include <jansson.h>

#include "common/buf.h"
#include "frontend/frontend.h"
#include "audit/event.h"
#include "frontend/tokens.h"
#include "log/reader.h"

#define FE_RETRY_AFTER "1"
#define FE_CC_CHECKPOINT "public, max-age=2"
#define FE_CC_IMMUTABLE "public, max-age=31536000, immutable"
#define FE_CC_PARTIAL "public, max-age=60"

/* ---- routes (routes.c) ---------------------------------------------------
 *
 * One line of the route table: {methods, path, match, kinds, endpoint,
 * handler}. The dispatcher (tl_frontend_handle) picks, among the lines
 * served for the log's kind whose path matches, the one whose methods
 * include the request's, preferring an exact path over a prefix and a
 * longer prefix over a shorter one, so the order of lines does not matter
 * for dispatch (it is the order of /metrics). No line: 404 with a one-line
 * reason; lines for the path but not the method: 405 with Allow listing
 * their methods. OPTIONS on any path is the CORS preflight; HEAD is served
 * as GET (tl_httpd sends no body).
 *
 * kinds: which log kinds serve the line, a mask of FE_KIND_* bits (one bit
 * per kind name the frontend knows, fe_kind_of) or FE_KINDS_ALL for what
 * every log serves (its checkpoint, tiles, RFC 6962 reads, operations). A
 * log of a kind the line does not name answers 404 for it ("no such
 * endpoint on a log of kind ..."); a kind name the frontend has no bit for
 * gets FE_KIND_OTHER, so only FE_KINDS_ALL lines. Today only blob exists
 * and POST /add is its write. A new kind is one bit here, its name in
 * routes.c's kinds[], and its lines (an audit kind: FE_KIND_AUDIT, lines
 * under /audit/v1/ marked FE_KIND_AUDIT; POST /add stays FE_KIND_BLOB).
 *
 * endpoint: the label of tlogd_http_requests_total{endpoint=...}, unique
 * per line. The line's index in the table is its endpoint id (fe_ep), the
 * slot its requests are counted in; FE_EP_OTHER counts what no line serves.
 */
enum {
    FE_GET = 1u << 0, /* GET, and HEAD */
    FE_POST = 1u << 1,
};
enum fe_match { FE_EXACT, FE_PREFIX };
#define FE_KIND_BLOB (1u << 0)   /* entries are opaque bytes */
#define FE_KIND_AUDIT (1u << 1)  /* audit records of structured events */
#define FE_KIND_OTHER (1u << 31) /* a kind name the frontend does not know */
#define FE_KINDS_ALL 0xffffffffu

typedef unsigned fe_ep;  /* a route's index in the table, or FE_EP_OTHER */
#define FE_MAX_ROUTES 32 /* table capacity (checked at compile time) */
#define FE_EP_OTHER FE_MAX_ROUTES

typedef struct tl_frontend tl_frontend;
/* A handler: answers r now (fe_reply, fe_fail, ...) or later (write.c). */
typedef void fe_handler(tl_frontend *f, tl_http_req *r, fe_ep ep);

typedef struct fe_route {
    unsigned methods;    /* FE_GET | FE_POST */
    const char *path;    /* starts with '/' */
    enum fe_match match; /* FE_EXACT or FE_PREFIX */
    unsigned kinds;      /* FE_KIND_* bits, or FE_KINDS_ALL */
    const char *ep;      /* endpoint label (metrics) */
    fe_handler *fn;
} fe_route;

/* The table, and its number of lines. */
const fe_route *fe_routes(size_t *n);
/* The FE_KIND_* bit of a kind name (NULL = "blob"); FE_KIND_OTHER if unknown. */
unsigned fe_kind_of(const char *name);
/* The label of endpoint ep ("other" for FE_EP_OTHER). */
const char *fe_ep_name(fe_ep ep);

/* What the table says about a request. */
typedef struct fe_lookup {
    const fe_route *route; /* the line that serves it, or NULL */
    fe_ep ep;              /* where it is counted: the route, the path's route (405), or other */
    int status;            /* 0 (route set), 404 or 405 */
    int other_kind;        /* 404 because only lines of other kinds match the path */
    char allow[32];        /* 405: the Allow header ("GET, HEAD", "POST", ...) */
} fe_lookup;
/* What serves method (as received) and path on a log of kind (its FE_KIND_*
 * bit); never fails, allocates nothing. */
void fe_route_find(unsigned kind, const char *method, const char *path, fe_lookup *out);

/* ---- replies (respond.c) ------------------------------------------------- */

/* Status slots of tlogd_http_requests_total (the last counts any other). */
#define FE_NSTATUS 7
extern const int fe_statuses[FE_NSTATUS];

/* Counts a request of endpoint ep answered with status. */
void fe_count(tl_frontend *f, fe_ep ep, int status);
/* Answers with CORS, optional Cache-Control, Retry-After on 503; counts it. */
void fe_reply(tl_frontend *f, tl_http_req *r, fe_ep ep, int status, const char *ctype,
              const char *cache, const void *body, size_t len);
/* An error answer: the status of err (the one tl_err -> HTTP mapping) and a
 * one-line text/plain reason (control bytes replaced). */
void fe_fail(tl_frontend *f, tl_http_req *r, fe_ep ep, int err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* The same with an explicit status (409, 410, 415, ...). */
void fe_fail_status(tl_frontend *f, tl_http_req *r, fe_ep ep, int status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* 401 with WWW-Authenticate: Bearer and the reason. */
void fe_unauthorized(tl_frontend *f, tl_http_req *r, fe_ep ep, const char *why);
/* 200 with j's compact JSON (takes j; NULL j answers 500). */
void fe_reply_json(tl_frontend *f, tl_http_req *r, fe_ep ep, json_t *j, const char *cache);
/* As fe_reply_json with FE_CC_IMMUTABLE, and keeps the answer in the answer
 * cache under (ep, r's raw query): for answers that depend on nothing else. */
void fe_reply_json_immutable(tl_frontend *f, tl_http_req *r, fe_ep ep, json_t *j);
/* Answers r from the answer cache if it holds (ep, r's query); 1 if it did. */
int fe_reply_cached(tl_frontend *f, tl_http_req *r, fe_ep ep);
/* 1 if a checkpoint is published; else answers 503 and returns 0. */
int fe_need_pub(tl_frontend *f, tl_http_req *r, fe_ep ep);

typedef struct fe_answer fe_answer;
fe_answer *fe_answers_new(void);
void fe_answers_free(fe_answer *c);

/* ---- write endpoints (write.c) -------------------------------------------
 *
 * A write handler submits its entry with fe_waiter_submit; the log's
 * callback (committer thread) queues the result and wakes the loop. On the
 * loop, a waiter whose index is below the published size is answered by its
 * own answer function (then freed); the rest wait for a publication, or get
 * 503 + Retry-After at their deadline (cfg.add_timeout_ms). Every sequenced
 * leaf is taught to the reader's leaf cache. A second write endpoint (say,
 * audit events answered with receipts) calls fe_write_pushback first, embeds
 * fe_waiter first in its own struct, as write.c's add_waiter does, and
 * passes its answer function; with publish_before_answer the machinery
 * then waits for the origins for it too. */
#define FE_NLAT 12
extern const double fe_lat_bounds[FE_NLAT]; /* seconds, the histogram's buckets */
typedef struct fe_latency {
    uint64_t count[FE_NLAT + 1]; /* per bucket of fe_lat_bounds, then +Inf */
    double sum;
    uint64_t n;
} fe_latency;

typedef struct fe_waiter fe_waiter;
/* Answers w->req (live) now that the published tree (f->pub) holds w->index,
 * with its proof against fe_answer_head(f) (which, with
 * publish_before_answer, is the checkpoint every origin holds, not f->pub);
 * the machinery frees w afterwards. */
typedef void fe_answer_fn(tl_frontend *f, fe_waiter *w);

struct fe_waiter {
    /* set by fe_waiter_submit */
    tl_frontend *f;
    tl_http_req *req; /* NULL once the client went away */
    fe_ep ep;
    fe_answer_fn *answer;
    fe_answer_fn *refused;        /* answers w->err != TL_OK (NULL: a generic 503/4xx) */
    void (*forget)(fe_waiter *w); /* frees what w holds beyond itself (NULL: nothing) */
    fe_latency *lat;              /* the histogram its submit-to-answer time goes to */
    int at_commit;                /* 1: answered at the commit point, not once published
                                     (the caller sets it before submitting) */
    int state;
    uint64_t start_ms, deadline_ms;
    /* the log's answer */
    int err;
    int have_leaf;
    uint64_t index;
    tl_hash leaf;
    struct fe_waiter *prev, *next; /* pending list (loop thread) */
    struct fe_waiter *qnext;       /* done queue (under qlock) */
};

/* Submits entry (copied) for w, the first member of a malloc'd struct that
 * the machinery frees with free() once answered or forgotten. On TL_OK the
 * log holds it and w is answered later; on an error nothing was submitted:
 * the caller answers r and frees w. */
int fe_waiter_submit(tl_frontend *f, fe_waiter *w, tl_http_req *r, fe_ep ep, fe_answer_fn *answer,
                     fe_latency *lat, const uint8_t *entry, size_t len);
/* The same for a group of submissions committed together (tl_log_submit):
 * cb is the log's callback, which keeps what it needs of the results and
 * calls fe_waiter_done with the group's highest index. refused answers an
 * error of the log (w->err) and forget frees what w holds beyond itself
 * (also when the client went away). */
int fe_waiter_submit_group(tl_frontend *f, fe_waiter *w, tl_http_req *r, fe_ep ep,
                           fe_answer_fn *answer, fe_answer_fn *refused, void (*forget)(fe_waiter *),
                           fe_latency *lat, const tl_sub *subs, size_t n, tl_submit_fn cb,
                           void *ctx);
/* The log's answer for w (committer thread): err, and the index the
 * published tree must pass before w is answered. */
void fe_waiter_done(fe_waiter *w, int err, uint64_t index);
/* Answers r with 503 + Retry-After and returns 1 when a tile store lags
 * past the publisher's queue limit (tl_publisher_lagging): every write endpoint calls it
 * before submitting, so publication lag never blocks sequencing but does
 * stop new writes. 0: go on. */
int fe_write_pushback(tl_frontend *f, tl_http_req *r, fe_ep ep);
/* What writes are answered with: the published head, or with
 * publish_before_answer the checkpoint every tile store holds (0 size when
 * none is yet). */
typedef struct fe_head {
    uint64_t size;
    char *note; /* borrowed from the frontend until the next loop pass */
    size_t note_len;
} fe_head;
fe_head fe_answer_head(const tl_frontend *f);
/* Asks for a loop pass (a publication to look at); any thread. */
void fe_kick(tl_frontend *f);
/* The publisher's listener (its thread). */
void fe_on_publisher_event(void *ctx);
/* The log's listener (committer or publishing thread). */
void fe_on_log_event(void *ctx, uint64_t signed_size, uint64_t published_size);
/* The deadline sweep (loop thread, every FE_SWEEP_MS). */
#define FE_SWEEP_MS 200
void fe_sweep_cb(evutil_socket_t fd, short what, void *arg);
/* Forgets every waiter without answering (tl_frontend_free). */
void fe_waiters_free(tl_frontend *f);

/* ---- the published head (frontend.c) ------------------------------------- */

/* Reloads f->pub and f->sth_json if the log published a new head. */
void fe_refresh_published(tl_frontend *f);

/* ---- handlers ------------------------------------------------------------ */

/* Each answers the request of endpoint ep (its line in the table). */
fe_handler fe_add;                                            /* write.c */
fe_handler fe_checkpoint, fe_tile;                            /* tiles.c */
fe_handler fe_ct_sth, fe_ct_consistency, fe_ct_proof_by_hash; /* ct.c */
fe_handler fe_ct_entries, fe_ct_entry_and_proof;              /* ct.c */
fe_handler fe_metrics, fe_healthz;                            /* ops.c */
fe_handler fe_console_status;                                 /* console.c */
fe_handler fe_audit_log, fe_audit_events, fe_audit_event;     /* audit.c */
fe_handler fe_audit_bodies;                                   /* audit.c */
fe_handler fe_k8s_post;                                       /* k8s.c */
/* For the sources of an audit log that are not its HTTP writes (syslog,
 * RELP, the Kubernetes webhook): submits n validated events (tl_audit_event
 * with their submitter) as one group, committed whole or not at all, each
 * with a fresh salt; cb (the log's committer thread, after the commit point)
 * gets the results as tl_log_submit's callback does. The events are copied:
 * the caller may release them on return. TL_ERR_BUSY when the log cannot take
 * them now (a full pool, or publication lagging). Loop thread. */
int fe_audit_submit(tl_frontend *f, const tl_audit_event *ev, size_t n, tl_submit_fn cb, void *ctx);

/* Who asks an audit log (audit.c): a token's name and role, or @anonymous. */
typedef struct fe_who {
    char name[72]; /* the token's name, or @anonymous */
    int token;     /* 1: a valid token (its requests are recorded) */
    int role;      /* TL_ROLE_* of the token */
} fe_who;
/* For the other write endpoints of an audit log (the Kubernetes webhook):
 * checks r's token for a write as POST /audit/v1/events does: 1 with *who
 * filled when it may go on; 0 when it was answered (401, or 403, which the
 * access trail records). */
int fe_audit_authorize_write(tl_frontend *f, tl_http_req *r, fe_ep ep, fe_who *who);
/* Answers a refused write with status and a one-line reason, recorded in
 * the access trail (action audit.write) when a valid token made it. */
void fe_audit_write_refused(tl_frontend *f, tl_http_req *r, fe_ep ep, const fe_who *who, int status,
                            const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* fe_audit_submit for a waiter (fe_waiter_submit_group, tlogd_audit_write
 * latency): the n events are encoded with fresh salts and submitted as one
 * group for w; set w->at_commit first to have it answered at the commit
 * point rather than once published. Returns as fe_waiter_submit_group. */
int fe_audit_submit_wait(tl_frontend *f, fe_waiter *w, tl_http_req *r, fe_ep ep,
                         fe_answer_fn *answer, fe_answer_fn *refused, void (*forget)(fe_waiter *),
                         const tl_audit_event *ev, size_t n, tl_submit_fn cb, void *ctx);

/* ---- the console's history (console.c) ----------------------------------
 *
 * One point every FE_HIST_STEP_MS for the last FE_HIST_POINTS of them (an
 * hour), kept in a ring in the frontend: what GET /console/v1/status plots. */
#define FE_HIST_STEP_MS 10000
#define FE_HIST_POINTS 360
typedef struct fe_hist_point {
    int64_t t_ms;    /* wall clock, ms since the epoch */
    uint64_t size;   /* published tree size */
    double rate;     /* entries sequenced per second since the point before */
    double p50, p99; /* write -> answer latency (s) of that interval; -1: none */
} fe_hist_point;
typedef struct fe_console {
    fe_hist_point pt[FE_HIST_POINTS];
    size_t n, head;      /* points held; index of the next one */
    uint64_t last_ms;    /* monotonic time of the last point (0: none yet) */
    uint64_t last_added; /* entries_added then */
    fe_latency last_lat; /* add_lat + audit_lat then */
    uint64_t seen_size;  /* published size last seen */
    int64_t seen_at_ms;  /* wall clock when that size was first seen */
} fe_console;
/* Takes a point when one is due, notes when the published size changed
 * (the sweep, every FE_SWEEP_MS). */
void fe_console_sample(tl_frontend *f);
/* The console's files: index.html at /, the others under /console/. */
fe_handler fe_console_file;

/* ---- syslog listeners (syslog.c) ----------------------------------------- */

typedef struct fe_syslog fe_syslog;
typedef struct fe_relp fe_relp;
/* RELP (relp.c): starts librelp's engine on its own thread, listening on
 * HOST:PORT; err gets a reason when it cannot (*out is then still to be
 * freed). fe_relp_free with log_closed 0 stops taking messages (SIGTERM);
 * with 1, once the log is closed, stops the engine and frees. */
int fe_relp_start(tl_frontend *f, const char *listen, fe_relp **out, char *err, size_t cap);
void fe_relp_free(fe_relp *r, int log_closed);
/* Closes the listeners and connections, and takes the log's last answers
 * (tl_frontend_free: the log is closed). */
void fe_syslog_free(tl_frontend *f);
/* Appends the syslog listeners' counters (Prometheus text) to b; nothing
 * when there are none. Loop thread. */
void fe_syslog_metrics(tl_frontend *f, tl_buf *b);
/* Appends RELP's counter of acknowledged messages (any thread). */
void fe_relp_metrics(fe_relp *r, tl_buf *b);

/* ---- mapping workers (pool.c) -------------------------------------------
 *
 * An audit log's sources hand what they received to a few worker threads
 * (tlogd serve --map-workers, default FE_MAP_WORKERS_DEFAULT): a job's run
 * function parses, maps, validates and encodes on a worker, its done
 * function submits and answers on the loop. At most FE_POOL_QUEUE_MAX jobs
 * (and FE_POOL_QUEUE_BYTES of their input) wait for a worker; fe_pool_push
 * refuses one more with TL_ERR_BUSY, and the source pushes back (the
 * webhook answers 503 + Retry-After, a syslog connection stops reading).
 * Without workers (--map-workers 0) the sources map on the loop thread. */
#define FE_MAP_WORKERS_DEFAULT 2
#define FE_MAP_WORKERS_MAX 64
#define FE_POOL_QUEUE_MAX 16
#define FE_POOL_QUEUE_BYTES (64u << 20)

typedef struct fe_pool fe_pool;
typedef struct fe_job fe_job;
struct fe_job {
    /* a worker thread (or the loop, without workers); h is its hasher.
     * It may set trash_fn/trash: freed after the job is handed back */
    void (*run)(fe_job *j, tl_hasher *h);
    void (*done)(tl_frontend *f, fe_job *j); /* the loop: uses the result, frees j */
    void (*drop)(fe_job *j);                 /* frees j unused (the pool is freed) */
    size_t bytes;                            /* input it holds (the queue's byte limit) */
    void (*trash_fn)(void *trash);
    void *trash;
    fe_job *next; /* the pool's */
};
/* Starts workers threads on f->base (made notifiable). */
int fe_pool_new(tl_frontend *f, size_t workers, fe_pool **out);
/* Queues j (loop thread): TL_OK, the pool owns j until its done or drop;
 * TL_ERR_BUSY when the queue is full (j is still the caller's). */
int fe_pool_push(fe_pool *p, fe_job *j);
/* Runs fn(ctx, k, h) for k in 0..n-1, spread over the idle workers, and
 * returns once every part has run (from a job's run; p NULL: here, in
 * order). The parts must be independent of each other. */
typedef void fe_par_fn(void *ctx, size_t k, tl_hasher *h);
void fe_pool_parallel(fe_pool *p, size_t n, fe_par_fn *fn, void *ctx, tl_hasher *h);
/* Blocks the loop until every queued job has run, then runs their done
 * functions (stopping the syslog listeners: what was read is submitted). */
void fe_pool_wait(fe_pool *p);
/* The number of workers (0: no pool). */
size_t fe_pool_workers(const fe_pool *p);
/* Appends the pool's gauges and counters (Prometheus text); loop thread. */
void fe_pool_metrics(tl_frontend *f, tl_buf *b);
/* Stops and joins the workers, drops the jobs not answered. */
void fe_pool_free(fe_pool *p);
/* Runs j: on the pool (TL_OK, or TL_ERR_BUSY as fe_pool_push), or, without
 * one, at once on the loop (run, trash, then done). */
int fe_map_job(tl_frontend *f, fe_job *j);

/* Encodes one validated event as a submission with a fresh salt, appended
 * to out (audit.c); any thread, with its own hasher. */
int fe_audit_encode(tl_hasher *h, const tl_audit_event *ev, tl_buf *out);
/* fe_audit_submit for submissions already encoded (fe_audit_encode). */
int fe_audit_submit_encoded(tl_frontend *f, const tl_sub *subs, size_t n, tl_submit_fn cb,
                            void *ctx);

/* ---- the frontend -------------------------------------------------------- */

struct tl_frontend {
    tl_frontend_config cfg;
    unsigned kind; /* the log's FE_KIND_* bit */
    struct event_base *base;
    tl_httpd *httpd;
    /* cross-thread (write.c) */
    pthread_mutex_t qlock;
    fe_waiter *done_head, *done_tail;
    atomic_int kicked;
    atomic_int pub_changed;
    atomic_int origin_changed; /* the publisher moved a store's checkpoint */
    /* loop thread only */
    fe_waiter *pending;
    size_t npending;
    struct event *sweep;
    tl_log_reader *rd;  /* the log's read side for this thread: proofs, tiles, leaves */
    fe_answer *answers; /* the answer cache (respond.c) */
    int have_pub;
    tl_log_head pub;
    tl_buf proof_text;  /* POST /add's tlog-proof, reused */
    tl_buf note_src;    /* the checkpoint note_json was made of */
    tl_buf note_json;   /* ... as a JSON string, for JSON answers of POST /add */
    tl_buf origin_note; /* with publish_before_answer: the checkpoint at every store */
    uint64_t origin_size;
    char *sth_json; /* get-sth's answer for pub */
    size_t sth_json_len;
    uint64_t req_count[FE_MAX_ROUTES + 1][FE_NSTATUS + 1];
    fe_latency add_lat; /* tlogd_add_seconds */
    /* audit logs (audit.c) */
    tl_hasher *hasher;          /* the loop thread's */
    tl_tokens *tokens;          /* DIR/tokens, reread as it changes */
    fe_latency audit_lat;       /* tlogd_audit_write_seconds */
    uint64_t audit_access_lost; /* access records the log could not take */
    fe_console console;         /* the status history (console.c) */
    fe_syslog *syslog;          /* syslog listeners (syslog.c), or NULL */
    fe_pool *pool;              /* mapping workers (pool.c), or NULL: map on the loop */
    uint64_t map_forgotten;     /* lists whose client went away while mapped (k8s.c) */
};

#endif
