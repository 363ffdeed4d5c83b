/*
 * httpd.c - tl_httpd: one listening socket serving HTTP/2 over TLS (ALPN h2,
 * falling back to http/1.1), HTTP/2 cleartext with prior knowledge and
 * HTTP/1.1 cleartext, all handed to one request handler (see httpd.h).
 *
 * How a connection is classified:
 *  - TLS: the handshake is driven by hand on the accepted fd (so that an
 *    http/1.1 connection can be handed on afterwards), under an absolute
 *    handshake deadline; ALPN "h2" gives an HTTP/2 session, anything else
 *    HTTP/1.1.
 *  - cleartext: the first bytes are peeked (MSG_PEEK, nothing consumed) under
 *    the preface deadline; the 24-byte HTTP/2 client preface (RFC 9113 §3.4)
 *    gives an HTTP/2 session, anything else HTTP/1.1.
 *
 * HTTP/2 is nghttp2 (server session, no I/O of its own) over a bufferevent.
 * HTTP/1.1 is libevent's evhttp. libevent 2.1 has no public way to give evhttp
 * an already accepted socket, so evhttp listens on a private loopback port and
 * each HTTP/1.1 client connection is relayed to it byte for byte; requests that
 * do not come through a relay are refused (403). No HTTP is parsed here:
 * only the 9-byte HTTP/2 frame headers and the blank line that ends an
 * HTTP/1.1 head are looked for, to time them (below).
 *
 * Limits and deadlines (absolute, event timers that are not reset by traffic):
 *  - connections: at max_conns, the connection idle longest (no request in
 *    flight: waiting for its handshake or preface, an HTTP/2 connection
 *    with no stream and no frame half-received, an HTTP/1.1 relay between
 *    requests) is closed to admit the new one (HTTP/2: GOAWAY first), as
 *    nginx reuses its keep-alive connections; with none idle, the new
 *    socket is closed at once;
 *  - TLS handshake, preface: from accept;
 *  - request head: header_timeout_ms from its first byte to its end. On
 *    HTTP/2 the frame headers are followed (h2_walk: lengths, types and
 *    flags only; nghttp2 parses), so the clock starts at the first byte of
 *    the HEADERS frame and stops at END_HEADERS; any other frame but DATA
 *    must arrive whole within the same time. On expiry the connection gets
 *    GOAWAY and is closed (no other frame may interleave with a header
 *    block). On HTTP/1.1 the relay looks for the blank line that ends the
 *    head (nothing else of it; evhttp parses) and closes on expiry;
 *  - request body: from the end of the head, body_timeout_ms in all, and at
 *    least body_min_rate bytes/s on average after a BODY_GRACE_MS allowance;
 *    HTTP/2: a 408 with a one-line reason, then RST_STREAM(NO_ERROR);
 *    HTTP/1.1: the relay is closed;
 *  - idle: a connection with no request in flight is closed after
 *    idle_timeout_ms.
 *  - header bytes are counted in the header callback (names + values + 32 per
 *    field, as RFC 9113 §6.5.2 counts); over max_header_bytes the stream gets
 *    431; bodies over max_body get 413; streams beyond max_streams
 *    (advertised in SETTINGS) are refused with REFUSED_STREAM.
 *
 * Everything runs on the event loop thread except tl_httpd_run_in_loop, which
 * queues under a mutex and wakes the loop with event_active (the caller must
 * have called evthread_use_pthreads() before creating the base).
 */
#include "http/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/dec.h"
#include "common/err.h"

#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24
#define OUT_HIGH_WATER (64 * 1024) /* stop producing HTTP/2 frames above this */
#define RELAY_HIGH_WATER (256 * 1024)
#define MAX_HEADER_FIELDS 128
#define BODY_GRACE_MS 5000  /* a body may start this late before its rate counts */
#define CLOSE_GRACE_MS 1000 /* after GOAWAY, for the peer to read it */

enum conn_kind { CONN_PENDING, CONN_H2, CONN_RELAY };

/* What a connection's one timer is armed for (conn_timer_set). Connections
 * in T_PENDING and T_IDLE are on the idle list, and may be evicted. */
enum conn_timer {
    T_NONE,    /* a request in flight: no connection deadline */
    T_PENDING, /* handshake or preface deadline */
    T_IDLE,    /* idle deadline */
    T_HEAD,    /* a request head (or another frame) under way */
    T_BODY,    /* HTTP/1.1: a request body under way */
    T_CLOSING  /* GOAWAY sent: the hard stop */
};

typedef struct conn conn;

typedef struct hdr {
    char *name;
    char *value;
} hdr;

/* A request's strings (method, path, query, header fields) live in its
 * inline arena; what does not fit goes to malloc'd overflow blocks. */
#define REQ_ARENA 768
#define REQ_INLINE_HDRS 8

typedef struct ovf {
    struct ovf *next;
    char s[];
} ovf;

struct tl_http_req {
    tl_httpd *h;
    conn *c;                     /* NULL once the connection is gone */
    tl_http_req *prev, *next;    /* in c's list */
    int32_t stream_id;           /* HTTP/2 */
    struct evhttp_request *ereq; /* HTTP/1.1 */
    char *method, *path, *query;
    hdr *hdrs; /* hdrs_inline or malloc'd */
    size_t nhdrs, hdrs_cap;
    size_t hdr_bytes;
    hdr hdrs_inline[REQ_INLINE_HDRS];
    ovf *overflow;
    size_t arena_used;
    tl_buf body;
    const char *proto;
    int handed;      /* the handler has it (counted in h->inflight) */
    int responded;   /* tl_http_respond was called */
    int failed;      /* a limit was hit; an error response was or will be sent */
    int rst_after;   /* RST_STREAM(NO_ERROR) once the answer is sent (body cut off) */
    uint64_t t_body; /* ms: end of the head, start of the body clock */
    size_t body_rx;  /* body bytes received */
    void (*abort_fn)(void *);
    void *abort_ctx;
    struct event *deadline;
    uint8_t *resp;         /* owned, or a shared body's */
    struct shared *shared; /* the shared body resp points into, or NULL */
    size_t resp_len, resp_off;
    char arena[REQ_ARENA]; /* last: req_new zeroes everything before it */
};

struct conn {
    tl_httpd *h;
    conn *prev, *next;   /* all connections */
    conn *iprev, *inext; /* the idle list, longest idle first */
    uint8_t kind;
    uint8_t tstate; /* enum conn_timer */
    uint8_t on_idle_list;
    uint8_t closing;
    uint8_t in_recv; /* inside nghttp2_session_mem_recv: no send, no close */
    evutil_socket_t fd;
    uint64_t tdeadline;  /* ms (tl_mono_ms) the timer is armed for */
    uint64_t idle_since; /* ms: no request in flight since */
    SSL *ssl;
    struct event *io;    /* handshake / peek readiness */
    struct event *timer; /* the connection's deadline: enum conn_timer */
    struct bufferevent *bev;
    uint64_t t_listed; /* ms: put on the idle list */
    uint8_t released;  /* on the idle list, its idle pages given back (pool_sweep) */
    /* HTTP/2 */
    nghttp2_session *ng;
    nghttp2_mem mem;      /* nghttp2's allocator for this session (the pool) */
    void *ng_map, *ng_fb; /* its stream table and frame buffer, in the pool */
    tl_http_req *reqs;
    unsigned nstreams;
    unsigned nrst_after; /* requests with rst_after set */
    size_t block_bytes;  /* header bytes of the header block being received */
    /* HTTP/2 frame walker (h2_walk): where the received bytes are */
    uint32_t f_left;  /* payload bytes still to come of the current frame */
    uint8_t f_have;   /* bytes of the next frame header seen (0..8) */
    uint8_t f_type;   /* the current frame's type */
    uint8_t in_block; /* a header block is open (HEADERS until END_HEADERS) */
    uint8_t f_hdr[9]; /* the frame header being received */
    uint64_t t_frame; /* ms: first byte of the current frame */
    uint64_t t_block; /* ms: first byte of the open header block */
    /* relay to evhttp */
    struct bufferevent *ibev;
    int iport;
    uint8_t h1_nodelay; /* TCP_NODELAY set on evhttp's side of this relay */
    uint8_t in_request; /* client bytes seen since the last request was handed */
    uint8_t in_body;    /* ... and the blank line that ends its head */
    uint8_t eol;        /* head scanner: 0 in a line, 1 after LF, 2 after LF CR */
    uint8_t client_eof, inner_eof;
    size_t inflight;
    uint64_t t_req;  /* ms: the request's first byte */
    uint64_t t_body; /* ms: the end of its head */
    size_t body_rx;  /* bytes since the end of its head */
    const char *proto;
};

typedef struct job {
    void (*fn)(void *);
    void *ctx;
    struct job *next;
} job;

struct tl_httpd {
    struct event_base *base;
    tl_httpd_config cfg;
    tl_http_handler_fn fn;
    void *ctx;
    struct evconnlistener *lis;
    int port;
    SSL_CTX *ssl_ctx;
    struct evhttp *h1;
    int h1_port;
    nghttp2_session_callbacks *ng_cbs; /* shared by every session */
    nghttp2_option *ng_opt;
    struct pool *pool;
    conn *rel_cursor; /* the newest released connection on the idle list */
    struct event *sweep_ev;
    conn **portmap; /* relay local port -> relay */
    conn *conns;
    conn *idle_head, *idle_tail; /* longest idle first */
    unsigned nconns;
    unsigned nclosing;    /* of nconns: HTTP/2 connections after GOAWAY */
    unsigned nconns_peak; /* most open connections since the last trim check */
    struct event *trim_ev;
    size_t inflight;
    int draining;
    void (*drain_cb)(void *);
    void *drain_ctx;
    struct event *drain_ev;
    struct event *accept_pause;
    pthread_mutex_t qlock;
    job *qhead, *qtail;
    struct event *qev;
    int freeing;
};

static void conn_close(conn *c);
static void idle_remove(conn *c);
static void h2_flush(conn *c);
static void h2_error(conn *c, tl_http_req *r, int status, const char *reason);
static void h2_goaway(conn *c, uint32_t code, const char *reason);
/* A shared body (tl_http_respond_shared): one reference for the response
 * and one for each of its DATA payloads still in an output buffer. */
struct shared {
    unsigned refs;
    void (*release)(void *);
    void *ctx;
};

static void shared_unref(struct shared *sh)
{
    if (--sh->refs == 0) {
        sh->release(sh->ctx);
        free(sh);
    }
}

static void shared_chunk_done(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    shared_unref(arg);
}

static void req_free(tl_http_req *r);
static void maybe_drained(tl_httpd *h);

/* ---- small helpers ------------------------------------------------------- */

static struct timeval ms_tv(unsigned ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

static void arm(struct event *ev, unsigned ms)
{
    struct timeval tv = ms_tv(ms);
    evtimer_add(ev, &tv);
}

static void conn_link(tl_httpd *h, conn *c)
{
    c->next = h->conns;
    if (h->conns)
        h->conns->prev = c;
    h->conns = c;
    h->nconns++;
    if (h->nconns > h->nconns_peak)
        h->nconns_peak = h->nconns;
}

static void conn_unlink(conn *c)
{
    tl_httpd *h = c->h;
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->nconns--;
    idle_remove(c);
}

/* ---- the idle list and the connection timer ----------------------------- */

static void idle_remove(conn *c)
{
    tl_httpd *h = c->h;
    if (!c->on_idle_list)
        return;
    if (h->rel_cursor == c)
        h->rel_cursor = c->iprev; /* released ones are a prefix of the list */
    c->released = 0;
    if (c->iprev)
        c->iprev->inext = c->inext;
    else
        h->idle_head = c->inext;
    if (c->inext)
        c->inext->iprev = c->iprev;
    else
        h->idle_tail = c->iprev;
    c->iprev = c->inext = NULL;
    c->on_idle_list = 0;
}

static void idle_append(conn *c, uint64_t now)
{
    tl_httpd *h = c->h;
    if (c->on_idle_list)
        return;
    c->iprev = h->idle_tail;
    c->inext = NULL;
    if (h->idle_tail)
        h->idle_tail->inext = c;
    else
        h->idle_head = c;
    h->idle_tail = c;
    c->on_idle_list = 1;
    c->t_listed = now;
}

/* Arms c's one timer for state st at deadline (ms, tl_mono_ms; ignored for
 * T_NONE), and keeps c on the idle list exactly while st is T_PENDING or
 * T_IDLE. Nothing is touched when neither changes, so calling this on every
 * read costs nothing. */
static void conn_timer_set(conn *c, int st, uint64_t deadline, uint64_t now)
{
    if (c->tstate == st && (st == T_NONE || c->tdeadline == deadline))
        return;
    c->tstate = (uint8_t)st;
    c->tdeadline = deadline;
    if (st == T_NONE) {
        idle_remove(c);
        evtimer_del(c->timer);
        return;
    }
    if (!now)
        now = tl_mono_ms();
    if (st == T_PENDING || st == T_IDLE)
        idle_append(c, now);
    else
        idle_remove(c);
    arm(c->timer, deadline > now ? (unsigned)(deadline - now) : 0);
}

/* The deadline of a body that started at t0 and has brought rx bytes: its
 * absolute deadline, or earlier when it falls below the minimum rate (rx
 * bytes buy rx / rate seconds beyond the allowance). */
static uint64_t body_deadline(const tl_httpd *h, uint64_t t0, size_t rx)
{
    uint64_t abs = t0 + h->cfg.body_timeout_ms;
    uint64_t bought = (uint64_t)rx * 1000 / h->cfg.body_min_rate;
    uint64_t rate = t0 + BODY_GRACE_MS + (bought < abs ? bought : abs);
    return rate < abs ? rate : abs;
}

static void req_link(conn *c, tl_http_req *r)
{
    r->c = c;
    r->next = c->reqs;
    if (c->reqs)
        c->reqs->prev = r;
    c->reqs = r;
}

static void req_unlink(tl_http_req *r)
{
    conn *c = r->c;
    if (!c)
        return;
    if (r->prev)
        r->prev->next = r->next;
    else
        c->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    r->c = NULL;
}

/* ---- request objects ----------------------------------------------------- */

/* One allocation per request: the request, its deadline event (assigned
 * in place) and its string arena. */
static tl_http_req *req_new(tl_httpd *h)
{
    tl_http_req *r = malloc(sizeof *r + event_get_struct_event_size());
    if (!r)
        return NULL;
    memset(r, 0, offsetof(tl_http_req, arena));
    r->h = h;
    r->hdrs = r->hdrs_inline;
    r->hdrs_cap = REQ_INLINE_HDRS;
    tl_buf_init(&r->body);
    return r;
}

/* The request's embedded event (sizeof *r is a multiple of its alignment). */
static struct event *req_event(tl_http_req *r)
{
    return (struct event *)(void *)(r + 1);
}

static void req_free(tl_http_req *r)
{
    if (!r)
        return;
    req_unlink(r);
    if (r->deadline)
        event_del(r->deadline);
    for (ovf *o = r->overflow, *n; o; o = n) {
        n = o->next;
        free(o);
    }
    if (r->hdrs != r->hdrs_inline)
        free(r->hdrs);
    tl_buf_release(&r->body);
    if (r->shared)
        shared_unref(r->shared);
    else
        free(r->resp);
    free(r);
}

/* A NUL-terminated copy of p[0..n) owned by r. */
static char *req_strdup(tl_http_req *r, const void *p, size_t n)
{
    char *s;
    if (n < REQ_ARENA - r->arena_used) {
        s = r->arena + r->arena_used;
        r->arena_used += n + 1;
    } else {
        ovf *o = malloc(sizeof *o + n + 1);
        if (!o)
            return NULL;
        o->next = r->overflow;
        r->overflow = o;
        s = o->s;
    }
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

static int req_add_header(tl_http_req *r, const char *n, size_t nl, const char *v, size_t vl)
{
    if (r->nhdrs >= MAX_HEADER_FIELDS)
        return TL_ERR_TOOBIG;
    if (r->nhdrs == r->hdrs_cap) {
        size_t cap = r->hdrs_cap * 2;
        hdr *nh = r->hdrs == r->hdrs_inline ? malloc(cap * sizeof *nh)
                                            : realloc(r->hdrs, cap * sizeof *nh);
        if (!nh)
            return TL_ERR_NOMEM;
        if (r->hdrs == r->hdrs_inline)
            memcpy(nh, r->hdrs_inline, sizeof r->hdrs_inline);
        r->hdrs = nh;
        r->hdrs_cap = cap;
    }
    hdr *e = &r->hdrs[r->nhdrs];
    e->name = req_strdup(r, n, nl);
    e->value = req_strdup(r, v, vl);
    if (!e->name || !e->value)
        return TL_ERR_NOMEM;
    r->nhdrs++;
    return TL_OK;
}

/* Splits "path?query" into r->path and r->query. */
static int req_set_target(tl_http_req *r, const char *t, size_t len)
{
    const char *q = memchr(t, '?', len);
    size_t pl = q ? (size_t)(q - t) : len;
    r->path = req_strdup(r, t, pl);
    r->query = q ? req_strdup(r, q + 1, len - pl - 1) : req_strdup(r, "", 0);
    return r->path && r->query ? TL_OK : TL_ERR_NOMEM;
}

static void drain_fire(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tl_httpd *h = arg;
    if (h->drain_cb) {
        void (*cb)(void *) = h->drain_cb;
        h->drain_cb = NULL;
        cb(h->drain_ctx);
    }
}

/* Drained: no request in flight and every connection closed after writing
 * its last response (or, as a backstop, 2 s after the last answer). */
static void maybe_drained(tl_httpd *h)
{
    if (!h->draining || h->inflight != 0 || !h->drain_cb || h->freeing)
        return;
    if (h->nconns == 0)
        event_active(h->drain_ev, EV_TIMEOUT, 0);
    else if (!evtimer_pending(h->drain_ev, NULL))
        arm(h->drain_ev, 2000);
}

/* The handler gives up on a request (client gone before the response). */
static void req_abort_handed(tl_http_req *r)
{
    if (r->handed && !r->responded) {
        r->responded = 1;
        r->h->inflight--;
        if (r->abort_fn)
            r->abort_fn(r->abort_ctx);
        maybe_drained(r->h);
    }
}

static void req_hand(tl_http_req *r)
{
    tl_httpd *h = r->h;
    r->handed = 1;
    h->inflight++;
    h->fn(h->ctx, r);
}

/* ---- nghttp2's big blocks: a pool of untouched pages ---------------------- */

/* Each nghttp2 session allocates two blocks that an idle connection barely
 * uses: its stream table (4,096 bytes, calloc'd: 256 buckets) and its frame
 * buffer (16,394 bytes, of which a frame header or a SETTINGS frame is
 * written). From the heap they are resident (calloc zeroes the table; the
 * heap's pages are shared and reused). Here they come from one reserved
 * range of page-aligned slots, so only pages written are resident, and an
 * idle connection gives its pages back (pool_release: the frame buffer when
 * nghttp2 has nothing to send, the table when it is all zeros), as does a
 * freed slot. bench/frontend_bench.sh idle: docs/PERFORMANCE.md. Sessions
 * beyond the range's slots, and every other allocation, use malloc. */
#define POOL_A 4096       /* the stream table, and its slot */
#define POOL_B_SIZE 16394 /* the frame buffer: 9 + 1 + 16,384 (nghttp2_session.h) */
#define POOL_B 20480      /* its slot (5 pages) */
#define POOL_SWEEP_MS 500
#define POOL_IDLE_MS 1000 /* idle this long before its pages go back */
#define POOL_SWEEP_MAX 4096

typedef struct pool {
    uint8_t *base; /* na slots of POOL_A, then nb of POOL_B */
    size_t na, nb, len;
    uint32_t *fa, *fb; /* free slot stacks */
    size_t nfa, nfb;
} pool;

static pool *pool_new(size_t slots)
{
    if (slots > UINT32_MAX || slots > SIZE_MAX / (POOL_A + POOL_B))
        return NULL; /* everything from malloc then */
    pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->na = p->nb = slots;
    p->len = slots * (POOL_A + POOL_B);
    p->fa = malloc(slots * sizeof *p->fa);
    p->fb = malloc(slots * sizeof *p->fb);
    void *m = mmap(NULL, p->len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (!p->fa || !p->fb || m == MAP_FAILED) {
        free(p->fa);
        free(p->fb);
        free(p);
        return NULL; /* everything from malloc then */
    }
    p->base = m;
    for (size_t i = 0; i < slots; i++) { /* lowest slots first */
        p->fa[i] = (uint32_t)(slots - 1 - i);
        p->fb[i] = (uint32_t)(slots - 1 - i);
    }
    p->nfa = p->nfb = slots;
    return p;
}

static void pool_free_all(pool *p)
{
    if (!p)
        return;
    munmap(p->base, p->len);
    free(p->fa);
    free(p->fb);
    free(p);
}

static int pool_has(const pool *p, const void *ptr)
{
    return p && (const uint8_t *)ptr >= p->base && (const uint8_t *)ptr < p->base + p->len;
}

/* A slot for n bytes, or NULL (not a pool size, or no slot left). Slots are
 * all zeros (never used, or given back). */
static void *pool_get(pool *p, size_t n)
{
    if (!p)
        return NULL;
    if (n == POOL_A && p->nfa)
        return p->base + (size_t)p->fa[--p->nfa] * POOL_A;
    if (n == POOL_B_SIZE && p->nfb)
        return p->base + p->na * POOL_A + (size_t)p->fb[--p->nfb] * POOL_B;
    return NULL;
}

static size_t pool_size(const pool *p, const void *ptr)
{
    return (const uint8_t *)ptr < p->base + p->na * POOL_A ? POOL_A : POOL_B;
}

static int all_zero(const uint8_t *b, size_t n)
{
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        acc |= w;
    }
    return acc == 0;
}

static void pool_put(pool *p, void *ptr)
{
    uint8_t *b = ptr;
    if (pool_size(p, ptr) == POOL_A) {
        if (!all_zero(b, POOL_A))
            madvise(b, POOL_A, MADV_DONTNEED);
        p->fa[p->nfa++] = (uint32_t)((size_t)(b - p->base) / POOL_A);
    } else {
        madvise(b, POOL_B, MADV_DONTNEED);
        p->fb[p->nfb++] = (uint32_t)((size_t)(b - p->base - p->na * POOL_A) / POOL_B);
    }
}

/* nghttp2_mem for a session: mem_user_data is its connection. */
static void *ng_malloc(size_t n, void *u)
{
    conn *c = u;
    void *q = pool_get(c->h->pool, n);
    if (!q)
        return malloc(n);
    if (n == POOL_A)
        c->ng_map = q;
    else
        c->ng_fb = q;
    return q;
}

static void ng_free(void *ptr, void *u)
{
    conn *c = u;
    if (!pool_has(c->h->pool, ptr)) {
        free(ptr);
        return;
    }
    if (ptr == c->ng_map)
        c->ng_map = NULL;
    if (ptr == c->ng_fb)
        c->ng_fb = NULL;
    pool_put(c->h->pool, ptr);
}

static void *ng_calloc(size_t k, size_t n, void *u)
{
    if (n && k > SIZE_MAX / n)
        return NULL;
    conn *c = u;
    if (k * n == POOL_A || k * n == POOL_B_SIZE) {
        void *q = ng_malloc(k * n, u);
        if (q && !pool_has(c->h->pool, q))
            memset(q, 0, k * n);
        return q;
    }
    return calloc(k, n);
}

static void *ng_realloc(void *ptr, size_t n, void *u)
{
    conn *c = u;
    if (ptr && !pool_has(c->h->pool, ptr))
        return realloc(ptr, n);
    if (!ptr)
        return ng_malloc(n, u);
    size_t old = pool_size(c->h->pool, ptr);
    if (n <= old)
        return ptr;
    void *q = ng_malloc(n, u);
    if (!q)
        return NULL;
    memcpy(q, ptr, n < old ? n : old);
    ng_free(ptr, u);
    return q;
}

/* An idle HTTP/2 connection gives its pool pages back. The frame buffer
 * holds nothing between frames once nghttp2 has nothing to send (its
 * outbound item is gone: nghttp2_session_want_write is 0); the stream table
 * is given back only when it is all zeros, which reads the same. */
static void pool_release(conn *c)
{
    if (c->kind != CONN_H2 || !c->ng)
        return;
    if (c->ng_fb && !nghttp2_session_want_write(c->ng) &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        madvise(c->ng_fb, POOL_B, MADV_DONTNEED);
    if (c->ng_map && !all_zero(c->ng_map, POOL_A))
        return;
    if (c->ng_map)
        madvise(c->ng_map, POOL_A, MADV_DONTNEED);
}

/* Every POOL_SWEEP_MS: connections idle for POOL_IDLE_MS give their pages
 * back, oldest first. The released ones are a prefix of the idle list (it is
 * in the order they became idle), which ends at h->rel_cursor. */
static void pool_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tl_httpd *h = arg;
    uint64_t now = tl_mono_ms();
    conn *c = h->rel_cursor ? h->rel_cursor->inext : h->idle_head;
    for (int n = 0; c && n < POOL_SWEEP_MAX && c->t_listed + POOL_IDLE_MS <= now;
         n++, c = c->inext) {
        pool_release(c);
        c->released = 1;
        h->rel_cursor = c;
    }
}

/* ---- HTTP/2 -------------------------------------------------------------- */

/* nghttp2's output goes straight into the bufferevent's output buffer. */
static int out_full(conn *c)
{
    return evbuffer_get_length(bufferevent_get_output(c->bev)) >= OUT_HIGH_WATER;
}

static ssize_t h2_send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags,
                          void *user)
{
    (void)s;
    (void)flags;
    conn *c = user;
    if (out_full(c))
        return NGHTTP2_ERR_WOULDBLOCK;
    if (evbuffer_add(bufferevent_get_output(c->bev), data, len) != 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    return (ssize_t)len;
}

/* A DATA frame: its 9-byte header, then its payload straight from the
 * answer (h2_read_body asked for NGHTTP2_DATA_FLAG_NO_COPY), so a body is
 * copied once, not first into nghttp2's frame buffer. Room for the whole
 * frame is made first: the bufferevent hands each buffer chain to TLS as its
 * own records, and a frame split over a nearly full chain would cost a short
 * record (and a write) of its own. */
static int h2_send_data_cb(nghttp2_session *s, nghttp2_frame *frame, const uint8_t *framehd,
                           size_t length, nghttp2_data_source *src, void *user)
{
    (void)s;
    conn *c = user;
    tl_http_req *r = src->ptr;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (frame->data.padlen != 0 || length > r->resp_len - r->resp_off)
        return NGHTTP2_ERR_CALLBACK_FAILURE; /* no padding is ever chosen */
    if (out_full(c))
        return NGHTTP2_ERR_WOULDBLOCK;
    if (r->shared && !c->h->ssl_ctx) {
        /* the payload by reference, one more until the buffer drains it
         * (under TLS it is copied: a chain per frame header would be a TLS
         * record and a write of its own) */
        if (evbuffer_add(out, framehd, 9) != 0)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        r->shared->refs++;
        if (evbuffer_add_reference(out, r->resp + r->resp_off, length, shared_chunk_done,
                                   r->shared) != 0) {
            r->shared->refs--;
            return NGHTTP2_ERR_CALLBACK_FAILURE;
        }
    } else if (evbuffer_expand(out, 9 + length) != 0 || evbuffer_add(out, framehd, 9) != 0 ||
               evbuffer_add(out, r->resp + r->resp_off, length) != 0) {
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    r->resp_off += length;
    return 0;
}

static tl_http_req *h2_req(conn *c, int32_t id)
{
    return nghttp2_session_get_stream_user_data(c->ng, id);
}

/* The connection's deadline from where its bytes are (h2_walk): a header
 * block open or a frame other than DATA half-received: the head deadline
 * from its first byte; else, with no stream, the idle deadline. */
static void h2_timer_update(conn *c, uint64_t now)
{
    if (c->closing)
        return; /* the hard stop stays armed */
    const tl_httpd_config *cfg = &c->h->cfg;
    if (c->in_block)
        conn_timer_set(c, T_HEAD, c->t_block + cfg->header_timeout_ms, now);
    else if (c->f_have > 0 || (c->f_left > 0 && c->f_type != NGHTTP2_DATA))
        conn_timer_set(c, T_HEAD, c->t_frame + cfg->header_timeout_ms, now);
    else if (c->nstreams == 0)
        conn_timer_set(c, T_IDLE, c->idle_since + cfg->idle_timeout_ms, now);
    else
        conn_timer_set(c, T_NONE, 0, now);
}

/* Follows the frames in the bytes about to be given to nghttp2: only their
 * 9-byte headers (length, type, flags; RFC 9113 §4.1) are looked at, to
 * know when a frame or a header block started and whether it is complete.
 * nghttp2 parses and checks everything. */
static void h2_walk(conn *c, const uint8_t *p, size_t n, uint64_t now)
{
    while (n > 0) {
        if (c->f_left > 0) {
            size_t k = n < c->f_left ? n : c->f_left;
            p += k;
            n -= k;
            c->f_left -= (uint32_t)k;
        } else {
            if (c->f_have == 0)
                c->t_frame = now;
            while (n > 0 && c->f_have < 9) {
                c->f_hdr[c->f_have++] = *p++;
                n--;
            }
            if (c->f_have < 9)
                break;
            c->f_have = 0;
            c->f_left = (uint32_t)c->f_hdr[0] << 16 | (uint32_t)c->f_hdr[1] << 8 | c->f_hdr[2];
            c->f_type = c->f_hdr[3];
            if (c->f_type == NGHTTP2_HEADERS && !c->in_block) {
                c->in_block = 1;
                c->t_block = c->t_frame;
            }
        }
        if (c->f_left == 0 && c->in_block &&
            (c->f_type == NGHTTP2_HEADERS || c->f_type == NGHTTP2_CONTINUATION) &&
            (c->f_hdr[4] & NGHTTP2_FLAG_END_HEADERS))
            c->in_block = 0; /* the block's last frame is complete */
    }
}

/* A stream's body deadline (absolute, or the minimum rate): re-armed while
 * the bytes received keep it in the future, else the request is answered
 * 408 and the stream reset once the answer is out. */
static void h2_stream_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tl_http_req *r = arg;
    conn *c = r->c;
    if (!c || r->handed)
        return;
    uint64_t now = tl_mono_ms(), d = body_deadline(c->h, r->t_body, r->body_rx);
    if (d > now) {
        arm(r->deadline, (unsigned)(d - now));
        return;
    }
    int slow = now < r->t_body + c->h->cfg.body_timeout_ms;
    r->rst_after = 1;
    c->nrst_after++;
    tl_buf_release(&r->body);
    h2_error(c, r, 408, slow ? "request body too slow" : "request body timeout");
}

static int h2_on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    conn *c = user;
    c->block_bytes = 0;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    if (c->nstreams >= c->h->cfg.max_streams || c->h->draining) {
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_REFUSED_STREAM);
        return 0; /* no user data: its headers and data are ignored */
    }
    tl_http_req *r = req_new(c->h);
    if (!r)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    r->stream_id = f->hd.stream_id;
    r->proto = c->proto;
    if (evtimer_assign(req_event(r), c->h->base, h2_stream_deadline, r) != 0) {
        req_free(r);
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    r->deadline = req_event(r); /* armed for the body (the head is timed by h2_walk) */
    req_link(c, r);
    c->nstreams++;
    h2_timer_update(c, 0);
    nghttp2_session_set_stream_user_data(s, f->hd.stream_id, r);
    return 0;
}

static int h2_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                        size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                        void *user)
{
    (void)flags;
    conn *c = user;
    /* Every header block (requests, trailers, refused streams) is bounded:
     * far over the limit is a flood, and the connection is dropped. */
    c->block_bytes += namelen + valuelen + 32;
    if (c->block_bytes > 4 * c->h->cfg.max_header_bytes)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    tl_http_req *r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!r || r->failed)
        return 0;
    r->hdr_bytes += namelen + valuelen + 32;
    if (r->hdr_bytes > r->h->cfg.max_header_bytes) {
        r->failed = 431;
        return 0;
    }
    if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
        if (r->method)
            r->failed = 400;
        else if (!(r->method = req_strdup(r, value, valuelen)))
            return NGHTTP2_ERR_CALLBACK_FAILURE;
    } else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
        if (r->path)
            r->failed = 400;
        else if (req_set_target(r, (const char *)value, valuelen) != TL_OK)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
    } else if (namelen > 0 && name[0] == ':') {
        /* :scheme, :authority: accepted and ignored. */
    } else {
        int rc = req_add_header(r, (const char *)name, namelen, (const char *)value, valuelen);
        if (rc == TL_ERR_TOOBIG)
            r->failed = 431;
        else if (rc != TL_OK)
            return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return 0;
}

static int h2_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                      size_t len, void *user)
{
    (void)s;
    (void)flags;
    conn *c = user;
    tl_http_req *r = h2_req(c, id);
    if (!r)
        return 0;
    r->body_rx += len;
    if (r->failed)
        return 0;
    if (r->body.len + len > c->h->cfg.max_body) {
        r->failed = 413;
        tl_buf_release(&r->body);
        return 0;
    }
    if (tl_buf_add(&r->body, data, len) != TL_OK)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    return 0;
}

static ssize_t h2_read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
                            uint32_t *flags, nghttp2_data_source *src, void *user)
{
    (void)s;
    (void)id;
    (void)user;
    (void)buf;
    tl_http_req *r = src->ptr;
    size_t n = r->resp_len - r->resp_off;
    if (n > len)
        n = len;
    /* h2_send_data_cb writes the n bytes and moves resp_off */
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    if (r->resp_off + n == r->resp_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* Sends an error response directly (limits hit before the handler saw it). */
static void h2_error(conn *c, tl_http_req *r, int status, const char *reason)
{
    char body[128];
    int n = snprintf(body, sizeof body, "%s\n", reason);
    r->failed = status;
    r->handed = 1;
    r->h->inflight++;
    tl_http_respond(r, status, "text/plain; charset=utf-8", NULL, 0, body, (size_t)n);
    (void)c;
}

static void h2_request_done(conn *c, tl_http_req *r)
{
    evtimer_del(r->deadline);
    if (r->failed == 431) {
        h2_error(c, r, 431, "request header fields too large");
    } else if (r->failed == 413) {
        h2_error(c, r, 413, "request body too large");
    } else if (r->failed || !r->method || !r->path || r->path[0] != '/') {
        h2_error(c, r, 400, "malformed request");
    } else {
        req_hand(r);
    }
}

static int h2_on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    (void)s;
    conn *c = user;
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA)
        return 0;
    tl_http_req *r = h2_req(c, f->hd.stream_id);
    if (!r || r->handed)
        return 0;
    if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
        h2_request_done(c, r);
    } else if (f->hd.type == NGHTTP2_HEADERS) {
        if (r->failed == 431 || r->failed == 400) {
            h2_request_done(c, r); /* answer now; the rest of the body is discarded */
        } else {
            r->t_body = tl_mono_ms();
            uint64_t d = body_deadline(c->h, r->t_body, 0);
            arm(r->deadline, (unsigned)(d - r->t_body));
        }
    } else if (r->failed == 413) {
        h2_request_done(c, r);
    }
    return 0;
}

static int h2_on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *user)
{
    (void)code;
    conn *c = user;
    tl_http_req *r = h2_req(c, id);
    if (!r)
        return 0;
    nghttp2_session_set_stream_user_data(s, id, NULL);
    if (r->rst_after)
        c->nrst_after--;
    req_abort_handed(r);
    req_free(r);
    uint64_t now = 0;
    if (--c->nstreams == 0)
        c->idle_since = now = tl_mono_ms();
    h2_timer_update(c, now);
    return 0;
}

/* A request cut off (body too slow) was answered in full: ask the client to
 * stop sending it (RFC 9113 §8.1: RST_STREAM with NO_ERROR). */
static int h2_on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    conn *c = user;
    if (c->nrst_after == 0 || !(f->hd.flags & NGHTTP2_FLAG_END_STREAM) ||
        (f->hd.type != NGHTTP2_DATA && f->hd.type != NGHTTP2_HEADERS))
        return 0;
    tl_http_req *r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (r && r->rst_after) {
        r->rst_after = 0;
        c->nrst_after--;
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_NO_ERROR);
    }
    return 0;
}

static void h2_flush(conn *c)
{
    if (!c->ng || c->in_recv)
        return; /* h2_readcb flushes once nghttp2 returns */
    if (nghttp2_session_send(c->ng) != 0) {
        conn_close(c);
        return;
    }
    if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng) &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        conn_close(c);
}

static void h2_readcb(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    unsigned char *data = evbuffer_pullup(in, -1);
    uint64_t now = tl_mono_ms();
    h2_walk(c, data, len, now);
    c->in_recv = 1;
    ssize_t rv = nghttp2_session_mem_recv(c->ng, data, len);
    c->in_recv = 0;
    if (rv < 0) {
        conn_close(c);
        return;
    }
    evbuffer_drain(in, (size_t)rv);
    h2_timer_update(c, now);
    h2_flush(c);
}

static void h2_writecb(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    (void)bev;
    if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng) &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
        conn_close(c);
        return;
    }
    h2_flush(c);
}

static void h2_eventcb(struct bufferevent *bev, short events, void *arg)
{
    (void)bev;
    conn *c = arg;
    if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
        conn_close(c);
}

/* Sends GOAWAY (the streams already started finish), then the connection
 * closes once everything is written and no stream is left, or at the hard
 * stop. */
static void h2_goaway(conn *c, uint32_t code, const char *reason)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->h->nclosing++;
    nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->ng),
                          code, (const uint8_t *)reason, reason ? strlen(reason) : 0);
    if (c->nstreams == 0 || code != NGHTTP2_NO_ERROR)
        conn_timer_set(c, T_CLOSING, tl_mono_ms() + CLOSE_GRACE_MS, 0);
    else
        conn_timer_set(c, T_NONE, 0, 0); /* streams in flight finish first */
    h2_flush(c);
}

static void conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn *c = arg;
    switch (c->tstate) {
    case T_IDLE:
        if (c->kind == CONN_H2) {
            h2_goaway(c, NGHTTP2_NO_ERROR, NULL); /* politely, then close once written */
            return;
        }
        break;
    case T_HEAD:
        if (c->kind == CONN_H2) {
            /* No other frame may come before the block ends: the connection goes. */
            nghttp2_session_terminate_session(c->ng, NGHTTP2_ENHANCE_YOUR_CALM);
            c->closing = 1;
            c->h->nclosing++;
            conn_timer_set(c, T_CLOSING, tl_mono_ms() + CLOSE_GRACE_MS, 0);
            h2_flush(c);
            return;
        }
        break;
    case T_BODY: {
        uint64_t now = tl_mono_ms(), d = body_deadline(c->h, c->t_body, c->body_rx);
        if (d > now) {
            c->tdeadline = d;
            arm(c->timer, (unsigned)(d - now));
            return;
        }
        break;
    }
    default:
        break;
    }
    conn_close(c);
}

/* nghttp2's callbacks and options, made once for every session. */
static int h2_setup(tl_httpd *h)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        return TL_ERR_NOMEM;
    nghttp2_session_callbacks_set_send_callback(cbs, h2_send_cb);
    nghttp2_session_callbacks_set_send_data_callback(cbs, h2_send_data_cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, h2_on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, h2_on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, h2_on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, h2_on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, h2_on_frame_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, h2_on_stream_close);
    h->ng_cbs = cbs;
    if (nghttp2_option_new(&h->ng_opt) != 0)
        return TL_ERR_NOMEM;
    /* nghttp2 itself refuses streams beyond our advertised limit once acked;
     * h2_on_begin_headers refuses before the ack too. No RFC 7540
     * priorities are used, so closed streams need not be kept for them. */
    nghttp2_option_set_max_deflate_dynamic_table_size(h->ng_opt, 4096);
    nghttp2_option_set_no_closed_streams(h->ng_opt, 1);
    return TL_OK;
}

static int h2_start(conn *c)
{
    tl_httpd *h = c->h;
    c->mem = (nghttp2_mem){c, ng_malloc, ng_free, ng_calloc, ng_realloc};
    if (nghttp2_session_server_new3(&c->ng, h->ng_cbs, c, h->ng_opt, &c->mem) != 0)
        return TL_ERR_NOMEM;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, h->cfg.max_streams},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)h->cfg.max_header_bytes},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE,
         h->cfg.max_body < 1048576 ? (uint32_t)h->cfg.max_body + 1 : 1048576},
    };
    if (nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, 3) != 0)
        return TL_ERR_NOMEM;
    c->kind = CONN_H2;
    /* The walker starts with the client's 24-byte preface, as one frame. */
    c->f_left = H2_PREFACE_LEN;
    c->f_type = 0xff;
    c->t_frame = c->idle_since = tl_mono_ms();
    bufferevent_setcb(c->bev, h2_readcb, h2_writecb, h2_eventcb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    h2_timer_update(c, 0);
    if (h->draining)
        h2_goaway(c, NGHTTP2_NO_ERROR, NULL);
    h2_flush(c);
    return TL_OK;
}

/* ---- HTTP/1.1 relay to the private evhttp ------------------------------- */

/* A request in flight: no deadline; its body under way: the body deadline;
 * its head under way: the head deadline from its first byte; else idle. */
static void relay_timer_update(conn *c)
{
    const tl_httpd_config *cfg = &c->h->cfg;
    if (c->inflight > 0)
        conn_timer_set(c, T_NONE, 0, 0);
    else if (c->in_body)
        conn_timer_set(c, T_BODY, body_deadline(c->h, c->t_body, c->body_rx), 0);
    else if (c->in_request)
        conn_timer_set(c, T_HEAD, c->t_req + cfg->header_timeout_ms, 0);
    else
        conn_timer_set(c, T_IDLE, c->idle_since + cfg->idle_timeout_ms, 0);
}

/* Looks for the blank line that ends a request head (RFC 9112 §2.1: CRLF
 * CRLF, or bare LFs, which evhttp accepts too) in n bytes; returns how many
 * bytes follow it, or -1 when the head goes on. Nothing else of the head is
 * looked at: evhttp parses it. */
static ssize_t relay_head_end(conn *c, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t b = p[i];
        if (b == '\n') {
            if (c->eol) {
                c->eol = 0;
                return (ssize_t)(n - i - 1);
            }
            c->eol = 1;
        } else if (b == '\r' && c->eol == 1) {
            c->eol = 2;
        } else if (b != '\r') {
            c->eol = 0;
            const void *nl = memchr(p + i, '\n', n - i);
            if (!nl)
                return -1;
            i = (size_t)((const uint8_t *)nl - p) - 1;
        }
    }
    return -1;
}

/* Times the client's bytes: the first byte of a request starts its head
 * clock, the blank line after its head its body clock. */
static void relay_time(conn *c, struct evbuffer *in)
{
    size_t len = evbuffer_get_length(in);
    if (len == 0)
        return;
    uint64_t now = 0;
    if (!c->in_request) {
        c->in_request = 1;
        c->eol = 0;
        c->t_req = now = tl_mono_ms();
    }
    if (c->in_body) {
        c->body_rx += len; /* the timer reads it when it fires */
        return;
    }
    struct evbuffer_iovec v[8];
    int nv = evbuffer_peek(in, -1, NULL, v, 8);
    size_t seen = 0;
    for (int i = 0; i < nv && i < 8; i++) {
        ssize_t rest = relay_head_end(c, v[i].iov_base, v[i].iov_len);
        seen += v[i].iov_len;
        if (rest >= 0) {
            c->in_body = 1;
            c->t_body = now ? now : tl_mono_ms();
            c->body_rx = (size_t)rest + (len - seen);
            break;
        }
    }
    relay_timer_update(c);
}

static void relay_maybe_close(conn *c)
{
    /* Close once one side ended and everything it sent was passed on. */
    if (c->inner_eof && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        conn_close(c);
    else if (c->client_eof && evbuffer_get_length(bufferevent_get_output(c->ibev)) == 0 &&
             c->inflight == 0)
        conn_close(c);
}

static void relay_client_read(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    relay_time(c, bufferevent_get_input(bev));
    bufferevent_write_buffer(c->ibev, bufferevent_get_input(bev));
    if (evbuffer_get_length(bufferevent_get_output(c->ibev)) > RELAY_HIGH_WATER)
        bufferevent_disable(c->bev, EV_READ);
}

static void relay_inner_read(struct bufferevent *bev, void *arg)
{
    conn *c = arg;
    bufferevent_write_buffer(c->bev, bufferevent_get_input(bev));
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) > RELAY_HIGH_WATER)
        bufferevent_disable(c->ibev, EV_READ);
}

static void relay_client_write(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn *c = arg;
    if (!c->inner_eof)
        bufferevent_enable(c->ibev, EV_READ);
    relay_maybe_close(c);
}

static void relay_inner_write(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn *c = arg;
    if (!c->client_eof)
        bufferevent_enable(c->bev, EV_READ);
    relay_maybe_close(c);
}

static void relay_client_event(struct bufferevent *bev, short ev, void *arg)
{
    (void)bev;
    conn *c = arg;
    if (ev & BEV_EVENT_EOF) {
        c->client_eof = 1;
        relay_maybe_close(c);
    } else if (ev & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        conn_close(c);
    }
}

static void relay_inner_event(struct bufferevent *bev, short ev, void *arg)
{
    (void)bev;
    conn *c = arg;
    if (ev & BEV_EVENT_CONNECTED)
        return;
    if (ev & BEV_EVENT_EOF) {
        c->inner_eof = 1;
        relay_maybe_close(c);
    } else if (ev & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        conn_close(c);
    }
}

static int relay_start(conn *c)
{
    tl_httpd *h = c->h;
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons((uint16_t)h->h1_port);
    c->ibev = bufferevent_socket_new(h->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!c->ibev)
        return TL_ERR_NOMEM;
    if (bufferevent_socket_connect(c->ibev, (struct sockaddr *)&sin, sizeof sin) != 0)
        return TL_ERR_NETWORK;
    struct sockaddr_in local;
    socklen_t ll = sizeof local;
    if (getsockname(bufferevent_getfd(c->ibev), (struct sockaddr *)&local, &ll) != 0)
        return TL_ERR_NETWORK;
    c->iport = ntohs(local.sin_port);
    h->portmap[c->iport] = c;
    /* Both hops of the relay carry small request/response writes: without
     * TCP_NODELAY, Nagle + delayed ACKs add ~40 ms per keep-alive request. */
    int one = 1;
    setsockopt(bufferevent_getfd(c->ibev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->kind = CONN_RELAY;
    c->idle_since = tl_mono_ms();
    bufferevent_setcb(c->bev, relay_client_read, relay_client_write, relay_client_event, c);
    bufferevent_setcb(c->ibev, relay_inner_read, relay_inner_write, relay_inner_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    bufferevent_enable(c->ibev, EV_READ | EV_WRITE);
    relay_timer_update(c);
    return TL_OK;
}

/* evhttp's handler: every HTTP/1.1 request, complete (evhttp enforces the
 * header and body limits itself with 400/413). */
static void h1_send_text(struct evhttp_request *er, int status, const char *line);

/* A request on relay c was answered without the handler: c is idle again,
 * unless another is in flight behind it. */
static void h1_answered_here(conn *c)
{
    if (c->inflight == 0)
        c->idle_since = c->t_req = tl_mono_ms();
    relay_timer_update(c);
}

static void h1_gencb(struct evhttp_request *er, void *arg)
{
    tl_httpd *h = arg;
    struct evhttp_connection *ec = evhttp_request_get_connection(er);
    char *addr = NULL;
    ev_uint16_t port = 0;
    if (ec)
        evhttp_connection_get_peer(ec, &addr, &port);
    conn *c = h->portmap[port];
    if (!c || c->kind != CONN_RELAY || !addr || strcmp(addr, "127.0.0.1") != 0) {
        evhttp_send_error(er, 403, "not through the public listener");
        return;
    }
    if (!c->h1_nodelay) {
        int one = 1;
        setsockopt(bufferevent_getfd(evhttp_connection_get_bufferevent(ec)), IPPROTO_TCP,
                   TCP_NODELAY, &one, sizeof one);
        c->h1_nodelay = 1;
    }
    /* The request is in: its clocks stop, answered here (h1_answered_here)
     * or handed over. */
    c->in_request = c->in_body = 0;
    tl_http_req *r = req_new(h);
    const char *uri = evhttp_request_get_uri(er);
    const char *m;
    switch (evhttp_request_get_command(er)) {
    case EVHTTP_REQ_GET:
        m = "GET";
        break;
    case EVHTTP_REQ_POST:
        m = "POST";
        break;
    case EVHTTP_REQ_HEAD:
        m = "HEAD";
        break;
    case EVHTTP_REQ_PUT:
        m = "PUT";
        break;
    case EVHTTP_REQ_DELETE:
        m = "DELETE";
        break;
    case EVHTTP_REQ_OPTIONS:
        m = "OPTIONS";
        break;
    case EVHTTP_REQ_TRACE:
        m = "TRACE";
        break;
    case EVHTTP_REQ_CONNECT:
        m = "CONNECT";
        break;
    case EVHTTP_REQ_PATCH:
        m = "PATCH";
        break;
    default:
        m = "UNKNOWN";
        break;
    }
    if (!r || !uri || !(r->method = req_strdup(r, m, strlen(m))) ||
        req_set_target(r, uri, strlen(uri)) != TL_OK) {
        req_free(r);
        evhttp_send_error(er, 503, "out of memory");
        h1_answered_here(c);
        return;
    }
    if (r->path[0] != '/') {
        req_free(r);
        evhttp_send_error(er, 400, "malformed request target");
        h1_answered_here(c);
        return;
    }
    struct evkeyvalq *in = evhttp_request_get_input_headers(er);
    for (struct evkeyval *kv = in->tqh_first; kv; kv = kv->next.tqe_next) {
        size_t nl = strlen(kv->key);
        char lower[256];
        if (nl >= sizeof lower)
            continue;
        for (size_t i = 0; i < nl; i++)
            lower[i] =
                (char)((kv->key[i] >= 'A' && kv->key[i] <= 'Z') ? kv->key[i] + 32 : kv->key[i]);
        if (req_add_header(r, lower, nl, kv->value, strlen(kv->value)) != TL_OK)
            break;
    }
    struct evbuffer *body = evhttp_request_get_input_buffer(er);
    size_t bl = evbuffer_get_length(body);
    if (bl > h->cfg.max_body) {
        /* evhttp's own limit has slack above max_body so that this, not its
         * HTML page and a reset, answers most oversized bodies. */
        req_free(r);
        h1_send_text(er, 413, "request body too large");
        h1_answered_here(c);
        return;
    }
    if (bl && tl_buf_add(&r->body, evbuffer_pullup(body, -1), bl) != TL_OK) {
        req_free(r);
        evhttp_send_error(er, 503, "out of memory");
        h1_answered_here(c);
        return;
    }
    r->ereq = er;
    r->proto = "http/1.1";
    req_link(c, r);
    c->inflight++;
    relay_timer_update(c);
    req_hand(r);
}

/* ---- accepting and classifying ------------------------------------------ */

static void conn_close(conn *c)
{
    tl_httpd *h = c->h;
    /* Requests on this connection: the handler forgets them. */
    while (c->reqs) {
        tl_http_req *r = c->reqs;
        req_unlink(r);
        if (r->ereq) {
            /* evhttp still owns its side; the response, when it comes, goes
             * to evhttp and is dropped there. Only the link is cut. */
            continue;
        }
        req_abort_handed(r);
        req_free(r);
    }
    if (c->ng)
        nghttp2_session_del(c->ng);
    if (c->io)
        event_free(c->io);
    if (c->timer)
        event_free(c->timer);
    if (c->bev) {
        bufferevent_free(c->bev); /* frees the SSL and closes the fd */
    } else {
        if (c->ssl)
            SSL_free(c->ssl);
        if (c->fd >= 0)
            evutil_closesocket(c->fd);
    }
    if (c->ibev) {
        if (h->portmap[c->iport] == c)
            h->portmap[c->iport] = NULL;
        bufferevent_free(c->ibev);
    }
    if (c->closing)
        h->nclosing--;
    conn_unlink(c);
    free(c);
    maybe_drained(h);
}

/* Makes room for a new connection at max_conns: the connection idle longest
 * goes (HTTP/2 with GOAWAY, unless too many are already saying goodbye; the
 * others at once). Returns 0 when none is idle. */
#define MAX_CLOSING(h) (64 + (h)->cfg.max_conns / 64)
static int conn_evict(tl_httpd *h)
{
    conn *c = h->idle_head;
    if (!c)
        return 0;
    if (c->kind == CONN_H2 && h->nclosing < MAX_CLOSING(h))
        h2_goaway(c, NGHTTP2_NO_ERROR, NULL);
    else
        conn_close(c);
    return 1;
}

/* The connection is classified: wrap the fd in a bufferevent and start. */
static void conn_classified(conn *c, int h2)
{
    tl_httpd *h = c->h;
    event_free(c->io);
    c->io = NULL;
    conn_timer_set(c, T_NONE, 0, 0);
    if (c->ssl) {
        /* (A libevent openssl *filter* over a socket bufferevent wrote fewer
         * syscalls, but stalled multiplexed streams for seconds under an
         * audit's load; h2_send_data_cb keeps records large instead.) */
        c->bev = bufferevent_openssl_socket_new(h->base, c->fd, c->ssl, BUFFEREVENT_SSL_OPEN,
                                                BEV_OPT_CLOSE_ON_FREE);
        if (c->bev)
            bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    } else {
        c->bev = bufferevent_socket_new(h->base, c->fd, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!c->bev) {
        conn_close(c);
        return;
    }
    /* libevent writes at most 16 KiB per write event by default: three or
     * more writev (or passes of SSL_write) for one 74 KB bundle; let one
     * pass take what the output holds (OUT_HIGH_WATER and a frame more) */
    bufferevent_set_max_single_write(c->bev, 4 * OUT_HIGH_WATER);
    c->fd = -1;
    c->ssl = NULL;
    c->proto = h2 ? (h->ssl_ctx ? "h2" : "h2c") : "http/1.1";
    int rc = h2 ? h2_start(c) : relay_start(c);
    if (rc != TL_OK)
        conn_close(c);
}

static void peek_cb(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    (void)what;
    char buf[H2_PREFACE_LEN];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_PEEK);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        conn_close(c);
        return;
    }
    if (n < 0)
        return;
    if (memcmp(buf, H2_PREFACE, (size_t)n) != 0) {
        conn_classified(c, 0);
    } else if (n == H2_PREFACE_LEN) {
        conn_classified(c, 1);
    }
    /* else: a prefix of the preface; wait for more (the deadline runs). */
}

static void handshake_cb(evutil_socket_t fd, short what, void *arg)
{
    conn *c = arg;
    (void)what;
    ERR_clear_error();
    int rv = SSL_do_handshake(c->ssl);
    if (rv == 1) {
        const unsigned char *alpn = NULL;
        unsigned alen = 0;
        SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
        conn_classified(c, alen == 2 && memcmp(alpn, "h2", 2) == 0);
        return;
    }
    int e = SSL_get_error(c->ssl, rv);
    short want;
    if (e == SSL_ERROR_WANT_READ)
        want = EV_READ;
    else if (e == SSL_ERROR_WANT_WRITE)
        want = EV_WRITE;
    else {
        ERR_clear_error();
        conn_close(c);
        return;
    }
    event_del(c->io);
    event_assign(c->io, c->h->base, fd, want, handshake_cb, c);
    event_add(c->io, NULL);
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    (void)l;
    (void)sa;
    (void)salen;
    tl_httpd *h = arg;
    /* Connections saying goodbye (GOAWAY sent) do not count, but there are
     * never more than MAX_CLOSING of them. */
    if (h->draining || (h->nconns - h->nclosing >= h->cfg.max_conns && !conn_evict(h)) ||
        h->nconns >= h->cfg.max_conns + MAX_CLOSING(h)) {
        evutil_closesocket(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn *c = calloc(1, sizeof *c);
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    c->h = h;
    c->fd = fd;
    c->kind = CONN_PENDING;
    conn_link(h, c);
    c->timer = evtimer_new(h->base, conn_timer_cb, c);
    if (h->ssl_ctx) {
        c->ssl = SSL_new(h->ssl_ctx);
        if (c->ssl && SSL_set_fd(c->ssl, fd) == 1) {
            SSL_set_accept_state(c->ssl);
            c->io = event_new(h->base, fd, EV_READ, handshake_cb, c);
        }
    } else {
        c->io = event_new(h->base, fd, EV_READ | EV_PERSIST, peek_cb, c);
    }
    if (!c->timer || !c->io) {
        conn_close(c);
        return;
    }
    event_add(c->io, NULL);
    conn_timer_set(
        c, T_PENDING,
        tl_mono_ms() + (h->ssl_ctx ? h->cfg.handshake_timeout_ms : h->cfg.preface_timeout_ms), 0);
}

/* After a burst of connections has gone, the memory they held goes back to
 * the system: glibc keeps freed heap pages resident, and the next burst,
 * reusing them unevenly, would raise the peak again (`frontend_bench.sh
 * busy`, 5 bursts of 10,000 busy connections: without this, peaks 587 ->
 * 765 MiB and 585-739 MiB kept between bursts; with it, peaks 604-605 MiB
 * and 61 MiB between bursts). malloc_trim can take tens of milliseconds
 * after such a burst, so it runs only when the connections have at least
 * halved from a peak of TRIM_MIN_CONNS or more; checked every TRIM_CHECK_MS. */
#define TRIM_MIN_CONNS 1000
#define TRIM_CHECK_MS 10000

static void trim_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tl_httpd *h = arg;
    if (h->nconns_peak >= TRIM_MIN_CONNS && h->nconns <= h->nconns_peak / 2)
        malloc_trim(0);
    h->nconns_peak = h->nconns;
}

/* accept() failed (EMFILE, ENFILE, ENOBUFS...): pause accepting for 100 ms
 * instead of spinning on a listening socket that stays readable. */
static void accept_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tl_httpd *h = arg;
    if (!h->draining)
        evconnlistener_enable(h->lis);
}

static void accept_error_cb(struct evconnlistener *l, void *arg)
{
    tl_httpd *h = arg;
    evconnlistener_disable(l);
    arm(h->accept_pause, 100);
}

/* ---- TLS ----------------------------------------------------------------- */

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    /* Prefer h2, else http/1.1 (RFC 7301 §3.2). */
    static const unsigned char prefs[][9] = {{2, 'h', '2'},
                                             {8, 'h', 't', 't', 'p', '/', '1', '.', '1'}};
    for (size_t p = 0; p < 2; p++) {
        for (unsigned i = 0; i < inlen;) {
            unsigned l = in[i];
            if (i + 1 + l > inlen)
                break;
            if (l == prefs[p][0] && memcmp(in + i + 1, prefs[p] + 1, l) == 0) {
                *out = in + i + 1;
                *outlen = (unsigned char)l;
                return SSL_TLSEXT_ERR_OK;
            }
            i += 1 + l;
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *tls_ctx(const char *cert, const char *key, char *err, size_t cap)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        snprintf(err, cap, "TLS: cannot create context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        snprintf(err, cap, "TLS: cannot load certificate %s", cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        snprintf(err, cap, "TLS: cannot load private key %s", key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, cap, "TLS: key %s does not match certificate %s", key, cert);
        goto fail;
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    return ctx;
fail:
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return NULL;
}

/* ---- run in loop --------------------------------------------------------- */

static void queue_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tl_httpd *h = arg;
    pthread_mutex_lock(&h->qlock);
    job *j = h->qhead;
    h->qhead = h->qtail = NULL;
    pthread_mutex_unlock(&h->qlock);
    while (j) {
        job *n = j->next;
        j->fn(j->ctx);
        free(j);
        j = n;
    }
}

int tl_httpd_run_in_loop(tl_httpd *h, void (*fn)(void *ctx), void *ctx)
{
    job *j = malloc(sizeof *j);
    if (!j)
        return TL_ERR_NOMEM;
    j->fn = fn;
    j->ctx = ctx;
    j->next = NULL;
    pthread_mutex_lock(&h->qlock);
    int was_empty = h->qhead == NULL;
    if (h->qtail)
        h->qtail->next = j;
    else
        h->qhead = j;
    h->qtail = j;
    pthread_mutex_unlock(&h->qlock);
    if (was_empty)
        event_active(h->qev, EV_READ, 0);
    return TL_OK;
}

/* ---- public -------------------------------------------------------------- */

static int parse_listen(const char *s, struct sockaddr_storage *ss, int *sl)
{
    char host[256];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof host)
        return TL_ERR_INVALID;
    uint64_t port;
    if (tl_dec_parse_range(colon + 1, 0, 65535, &port) != TL_OK)
        return TL_ERR_INVALID;
    size_t hl = (size_t)(colon - s);
    memcpy(host, s, hl);
    host[hl] = 0;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (host[0] == 0 || strcmp(host, "0.0.0.0") == 0 ||
        inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        if (host[0] == 0)
            sin->sin_addr.s_addr = htonl(INADDR_ANY);
        else if (strcmp(host, "0.0.0.0") == 0)
            sin->sin_addr.s_addr = htonl(INADDR_ANY);
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        *sl = sizeof *sin;
        return TL_OK;
    }
    if (strcmp(host, "localhost") == 0) {
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sin->sin_port = htons((uint16_t)port);
        *sl = sizeof *sin;
        return TL_OK;
    }
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        *sl = sizeof *sin6;
        return TL_OK;
    }
    return TL_ERR_INVALID;
}

int tl_httpd_new(struct event_base *base, const tl_httpd_config *cfg, tl_http_handler_fn fn,
                 void *ctx, tl_httpd **out, char *err, size_t cap)
{
    *out = NULL;
    tl_httpd *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    h->base = base;
    h->cfg = *cfg;
    h->fn = fn;
    h->ctx = ctx;
    h->port = -1;
    pthread_mutex_init(&h->qlock, NULL);
    tl_httpd_config *c = &h->cfg;
    if (!c->listen)
        c->listen = "127.0.0.1:8080";
    if (!c->max_body)
        c->max_body = 1 << 20;
    if (!c->max_streams)
        c->max_streams = 100;
    if (!c->max_header_bytes)
        c->max_header_bytes = 16 * 1024;
    if (!c->max_conns)
        c->max_conns = 10000;
    if (!c->handshake_timeout_ms)
        c->handshake_timeout_ms = 10000;
    if (!c->preface_timeout_ms)
        c->preface_timeout_ms = 10000;
    if (!c->header_timeout_ms)
        c->header_timeout_ms = 10000;
    if (!c->idle_timeout_ms)
        c->idle_timeout_ms = 120000;
    if (!c->body_timeout_ms)
        c->body_timeout_ms = 30000;
    if (!c->body_min_rate)
        c->body_min_rate = 1024;
    int rc = TL_ERR_INVALID;
    if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
        snprintf(err, cap, "TLS needs both a certificate and a key");
        goto fail;
    }
    if (c->tls_cert && !(h->ssl_ctx = tls_ctx(c->tls_cert, c->tls_key, err, cap)))
        goto fail;
    struct sockaddr_storage ss;
    int sl;
    if (parse_listen(c->listen, &ss, &sl) != TL_OK) {
        snprintf(err, cap, "bad listen address %s (want HOST:PORT)", c->listen);
        goto fail;
    }
    evthread_make_base_notifiable(base);
    h->qev = event_new(base, -1, 0, queue_cb, h);
    h->drain_ev = event_new(base, -1, 0, drain_fire, h);
    h->accept_pause = evtimer_new(base, accept_resume, h);
    h->trim_ev = event_new(base, -1, EV_PERSIST, trim_check, h);
    h->sweep_ev = event_new(base, -1, EV_PERSIST, pool_sweep, h);
    /* One pool slot pair per connection that can be open (+ those closing). */
    h->pool = pool_new(c->max_conns + MAX_CLOSING(h) + 16);
    h->portmap = calloc(65536, sizeof *h->portmap);
    h->h1 = evhttp_new(base);
    rc = TL_ERR_NOMEM;
    if (!h->qev || !h->drain_ev || !h->accept_pause || !h->trim_ev || !h->sweep_ev || !h->portmap ||
        !h->h1 || h2_setup(h) != TL_OK) {
        snprintf(err, cap, "out of memory");
        goto fail;
    }
    evhttp_set_gencb(h->h1, h1_gencb, h);
    evhttp_set_max_headers_size(h->h1, (ev_ssize_t)c->max_header_bytes);
    evhttp_set_max_body_size(h->h1, (ev_ssize_t)(c->max_body + 65536));
    evhttp_set_allowed_methods(h->h1, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                          EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS);
    /* The relay enforces the real deadlines; this only reaps leftovers. */
    evhttp_set_timeout(h->h1, (int)(c->idle_timeout_ms / 1000) + 60);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(h->h1, "127.0.0.1", 0);
    rc = TL_ERR_NETWORK;
    if (!bs) {
        snprintf(err, cap, "cannot bind the internal HTTP/1.1 socket");
        goto fail;
    }
    {
        struct sockaddr_in in;
        socklen_t il = sizeof in;
        if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&in, &il) != 0) {
            snprintf(err, cap, "getsockname: %s", strerror(errno));
            goto fail;
        }
        h->h1_port = ntohs(in.sin_port);
    }
    h->lis = evconnlistener_new_bind(base, accept_cb, h, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                     1024, (struct sockaddr *)&ss, sl);
    if (!h->lis) {
        snprintf(err, cap, "cannot listen on %s: %s", c->listen, strerror(errno));
        goto fail;
    }
    evconnlistener_set_error_cb(h->lis, accept_error_cb);
    {
        struct sockaddr_storage b;
        socklen_t bl = sizeof b;
        if (getsockname(evconnlistener_get_fd(h->lis), (struct sockaddr *)&b, &bl) == 0)
            h->port = ntohs(b.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&b)->sin6_port
                                                    : ((struct sockaddr_in *)&b)->sin_port);
    }
    arm(h->trim_ev, TRIM_CHECK_MS);
    arm(h->sweep_ev, POOL_SWEEP_MS);
    *out = h;
    return TL_OK;
fail:
    tl_httpd_free(h);
    return rc;
}

int tl_httpd_port(const tl_httpd *h)
{
    return h->port;
}

void tl_httpd_drain(tl_httpd *h, void (*cb)(void *ctx), void *ctx)
{
    h->draining = 1;
    h->drain_cb = cb;
    h->drain_ctx = ctx;
    event_del(h->trim_ev);
    event_del(h->sweep_ev);
    if (h->lis)
        evconnlistener_disable(h->lis);
    for (conn *c = h->conns, *n; c; c = n) {
        n = c->next;
        if (c->kind == CONN_PENDING) {
            conn_close(c);
        } else if (c->kind == CONN_H2) {
            h2_goaway(c, NGHTTP2_NO_ERROR, NULL);
        } else if (c->kind == CONN_RELAY && c->inflight == 0) {
            conn_close(c);
        }
    }
    maybe_drained(h);
}

void tl_httpd_free(tl_httpd *h)
{
    if (!h)
        return;
    h->freeing = 1;
    while (h->conns)
        conn_close(h->conns);
    if (h->lis)
        evconnlistener_free(h->lis);
    if (h->h1)
        evhttp_free(h->h1);
    if (h->ssl_ctx)
        SSL_CTX_free(h->ssl_ctx);
    if (h->ng_cbs)
        nghttp2_session_callbacks_del(h->ng_cbs);
    if (h->ng_opt)
        nghttp2_option_del(h->ng_opt);
    if (h->qev)
        event_free(h->qev);
    if (h->drain_ev)
        event_free(h->drain_ev);
    if (h->accept_pause)
        event_free(h->accept_pause);
    if (h->trim_ev)
        event_free(h->trim_ev);
    if (h->sweep_ev)
        event_free(h->sweep_ev);
    pool_free_all(h->pool);
    job *j = h->qhead;
    while (j) {
        job *n = j->next;
        free(j);
        j = n;
    }
    pthread_mutex_destroy(&h->qlock);
    free(h->portmap);
    free(h);
}

const char *tl_http_req_method(const tl_http_req *r)
{
    return r->method;
}
const char *tl_http_req_path(const tl_http_req *r)
{
    return r->path;
}
void tl_http_req_strip_path(tl_http_req *r, size_t n)
{
    if (n < strlen(r->path) && r->path[n] == '/')
        r->path += n;
}
const char *tl_http_req_query(const tl_http_req *r)
{
    return r->query;
}
const char *tl_http_req_proto(const tl_http_req *r)
{
    return r->proto;
}

const char *tl_http_req_header(const tl_http_req *r, const char *name)
{
    for (size_t i = 0; i < r->nhdrs; i++)
        if (strcmp(r->hdrs[i].name, name) == 0)
            return r->hdrs[i].value;
    return NULL;
}

const uint8_t *tl_http_req_body(const tl_http_req *r, size_t *len)
{
    *len = r->body.len;
    return r->body.data ? r->body.data : (const uint8_t *)"";
}

void tl_http_req_on_abort(tl_http_req *r, void (*fn)(void *ctx), void *ctx)
{
    r->abort_fn = fn;
    r->abort_ctx = ctx;
}

/* Reason phrases libevent does not know (it would say "Client Error"). */
static const char *h1_reason(int status)
{
    switch (status) {
    case 413:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    default:
        return NULL; /* libevent's own */
    }
}

/* A one-line text/plain answer on an HTTP/1.1 request no handler saw. */
static void h1_send_text(struct evhttp_request *er, int status, const char *line)
{
    struct evbuffer *b = evbuffer_new();
    evhttp_add_header(evhttp_request_get_output_headers(er), "Content-Type",
                      "text/plain; charset=utf-8");
    if (b)
        evbuffer_add_printf(b, "%s\n", line);
    evhttp_send_reply(er, status, h1_reason(status), b);
    if (b)
        evbuffer_free(b);
}

static void respond_h1(tl_http_req *r, int status, const char *ctype, const tl_http_header *hdrs,
                       size_t nhdrs, const void *body, size_t len)
{
    struct evhttp_request *er = r->ereq;
    struct evkeyvalq *oh = evhttp_request_get_output_headers(er);
    if (ctype)
        evhttp_add_header(oh, "Content-Type", ctype);
    for (size_t i = 0; i < nhdrs; i++)
        evhttp_add_header(oh, hdrs[i].name, hdrs[i].value);
    if (r->h->draining)
        evhttp_add_header(oh, "Connection", "close");
    struct evbuffer *b = evbuffer_new();
    if (b && len)
        evbuffer_add(b, body, len);
    evhttp_send_reply(er, status, h1_reason(status), b);
    if (b)
        evbuffer_free(b);
    conn *c = r->c;
    if (c) {
        if (--c->inflight == 0) {
            /* A request pipelined behind this one is served from now on:
             * its clocks start now. */
            c->idle_since = c->t_req = tl_mono_ms();
            if (c->in_body)
                c->t_body = c->t_req;
        }
        relay_timer_update(c);
    }
    req_free(r);
}

static void respond_h2(tl_http_req *r, int status, const char *ctype, const tl_http_header *hdrs,
                       size_t nhdrs, const void *body, size_t len, struct shared *sh)
{
    conn *c = r->c;
    if (sh)
        r->shared = sh; /* the response's reference, dropped by req_free */
    if (!c) {
        req_free(r);
        return;
    }
    char st[8], cl[24];
    snprintf(st, sizeof st, "%d", status);
    snprintf(cl, sizeof cl, "%zu", len);
    nghttp2_nv nv[3 + 32];
    size_t n = 0;
#define NV(nm, val)                                                                                \
    do {                                                                                           \
        nv[n].name = (uint8_t *)(nm);                                                              \
        nv[n].namelen = strlen(nm);                                                                \
        nv[n].value = (uint8_t *)(val);                                                            \
        nv[n].valuelen = strlen(val);                                                              \
        nv[n].flags = NGHTTP2_NV_FLAG_NONE;                                                        \
        n++;                                                                                       \
    } while (0)
    NV(":status", st);
    if (ctype)
        NV("content-type", ctype);
    NV("content-length", cl);
    for (size_t i = 0; i < nhdrs && n < sizeof nv / sizeof nv[0]; i++)
        NV(hdrs[i].name, hdrs[i].value);
#undef NV
    int head = r->method && strcmp(r->method, "HEAD") == 0;
    if (len && !head && sh) {
        r->resp = (uint8_t *)(uintptr_t)body; /* never written through */
        r->resp_len = len;
    } else if (len && !head) {
        r->resp = malloc(len);
        if (!r->resp) {
            nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, r->stream_id,
                                      NGHTTP2_INTERNAL_ERROR);
            h2_flush(c);
            return;
        }
        memcpy(r->resp, body, len);
        r->resp_len = len;
    }
    nghttp2_data_provider dp = {.source = {.ptr = r}, .read_callback = h2_read_body};
    int rv = nghttp2_submit_response(c->ng, r->stream_id, nv, n, r->resp ? &dp : NULL);
    if (rv != 0)
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, r->stream_id, NGHTTP2_INTERNAL_ERROR);
    h2_flush(c);
}

void tl_http_respond(tl_http_req *r, int status, const char *content_type,
                     const tl_http_header *hdrs, size_t nhdrs, const void *body, size_t len)
{
    tl_httpd *h = r->h;
    if (r->responded)
        return;
    r->responded = 1;
    if (r->handed)
        h->inflight--;
    if (r->ereq)
        respond_h1(r, status, content_type, hdrs, nhdrs, body, len);
    else
        respond_h2(r, status, content_type, hdrs, nhdrs, body, len, NULL); /* r lives until close */
    maybe_drained(h);
}

void tl_http_respond_shared(tl_http_req *r, int status, const char *content_type,
                            const tl_http_header *hdrs, size_t nhdrs, const void *body, size_t len,
                            void (*release)(void *ctx), void *ctx)
{
    tl_httpd *h = r->h;
    struct shared *sh = NULL;
    if (r->responded || r->ereq || !(sh = malloc(sizeof(*sh)))) {
        tl_http_respond(r, status, content_type, hdrs, nhdrs, body, len); /* copies */
        release(ctx);
        return;
    }
    *sh = (struct shared){1, release, ctx};
    r->responded = 1;
    if (r->handed)
        h->inflight--;
    respond_h2(r, status, content_type, hdrs, nhdrs, body, len, sh);
    maybe_drained(h);
}
