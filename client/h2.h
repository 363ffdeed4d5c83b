/*
 * h2.h - the HTTP/2 fetcher of `tlog audit` and `tlog monitor`: many GETs in
 * flight on one HTTP/2 connection, with nghttp2's client session doing the
 * framing, HPACK, flow control and the response checks (RFC 9113), over a
 * plain TCP socket with prior knowledge (h2c, http:// URLs) or over OpenSSL
 * with ALPN "h2" (https:// URLs).
 *
 * It carries only the bulk GETs of an audit (tiles, entry bundles, event
 * bodies); client/http.c keeps libcurl for everything else, and hands the
 * bulk GETs to libcurl too when the server turns out not to speak HTTP/2
 * (tl_h2_req.no_h2). The retry policy (which failures, how often, how long
 * to wait) is http.c's: this file only says what happened and whether a
 * retry could help.
 *
 * Guarantees:
 *  - TLS peers are verified as libcurl does for the rest of tlog: the chain
 *    against --ca FILE (which then replaces the system store) or the system
 *    store, and the host name (or IP address) of the URL; nothing turns the
 *    check off;
 *  - a body never passes its request's max (the request fails with
 *    TL_ERR_TOOBIG, its stream is reset); a body is preallocated from its
 *    content-length when that is within max;
 *  - a body that ends before its content-length, a reset stream, a
 *    connection that closes or fails while a response is under way, a
 *    request refused by GOAWAY or REFUSED_STREAM: the request fails with a
 *    one-line reason and transient set (refused too when the server did not
 *    process it, so that sending it again at once is safe);
 *  - the connect timeout covers TCP and TLS set-up; the request timeout each
 *    request from its submission; a request that gets no byte for stall_ms
 *    fails (transient) rather than holding its place;
 *  - at most one connection at a time; a connection that got GOAWAY finishes
 *    the streams the server accepted, then a new one carries the rest;
 *  - at most the server's SETTINGS_MAX_CONCURRENT_STREAMS streams are open
 *    (100 assumed until its SETTINGS arrive); more are queued by nghttp2;
 *  - the bearer token goes only into the authorization header, never into a
 *    message.
 *
 * Threads: a tl_h2 belongs to one thread, except tl_h2_wakeup, which any
 * thread may call.
 */
#ifndef TL_CLIENT_H2_H
#define TL_CLIENT_H2_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define TL_H2_PATH_MAX 1024 /* :path, the base URL's path included */

typedef struct tl_h2_opts {
    const char *base_url;    /* http:// (h2c with prior knowledge) or https:// */
    const char *ca_file;     /* trust anchors for https://, or NULL: the system store */
    long connect_timeout_ms; /* > 0: TCP connect and TLS handshake */
    long timeout_ms;         /* > 0: each request, from submission */
    long stall_ms;           /* > 0: longest wait for a byte of a request's response */
    const char *user_agent;  /* borrowed */
    const char *token;       /* bearer token, or NULL (borrowed, never logged) */
    int verbose;             /* connections, SETTINGS, GOAWAY and streams to stderr */
} tl_h2_opts;

typedef struct tl_h2 tl_h2; /* opaque: the base URL, the connection, the queues */

/* One GET. Owned by the caller; borrowed by the fetcher from tl_h2_submit
 * until tl_h2_done hands it back (or tl_h2_cancel). */
typedef struct tl_h2_req {
    /* set by the caller */
    const char *path; /* appended to the base URL's path and "/" (borrowed) */
    size_t max;       /* body limit */
    tl_buf *body;     /* receives the body (borrowed; reset at submission) */
    void *user;       /* the caller's */
    /* results, valid once handed back */
    long status;      /* the final HTTP status, when err is TL_OK */
    int err;          /* TL_OK, TL_ERR_NETWORK, TL_ERR_TIMEOUT, TL_ERR_TOOBIG, TL_ERR_NOMEM */
    int transient;    /* err: a retry could succeed */
    int refused;      /* err: the server did not process it; safe to send again at once */
    int no_h2;        /* err: the server does not speak HTTP/2 (use HTTP/1.1) */
    long retry_after; /* seconds from a Retry-After header, or -1 */
    char errmsg[256]; /* err: one line, without the URL */
    /* private to h2.c */
    struct tl_h2_req *next, *prev;
    int32_t stream_id;
    int state;
    int complete; /* END_STREAM seen */
    double deadline, last_byte;
    char hpath[TL_H2_PATH_MAX];
} tl_h2_req;

/* Parses o->base_url (http:// or https://; a path is kept as a prefix) and
 * sets up TLS; connects nothing yet. Returns TL_OK, TL_ERR_INVALID (a URL
 * it cannot use) or TL_ERR_CRYPTO / TL_ERR_NOMEM, with a reason in err.
 * The strings of o are borrowed for the life of the fetcher. */
int tl_h2_new(const tl_h2_opts *o, tl_h2 **out, char *err, size_t cap);
/* Closes the connection; requests still held are dropped (not handed back). */
void tl_h2_free(tl_h2 *h);

/* Queues r (path, max and body set); r->body is reset. Connects when
 * tl_h2_run next runs. Returns TL_OK, or TL_ERR_INVALID (a path too long). */
int tl_h2_submit(tl_h2 *h, tl_h2_req *r);

/* Does the I/O: connects when requests wait and no connection is up, sends,
 * receives, and checks the timers, for at most timeout_ms, returning earlier
 * once some request is done or tl_h2_wakeup was called. Returns the number
 * of finished requests waiting for tl_h2_done (0 on time-out or wake-up). */
int tl_h2_run(tl_h2 *h, int timeout_ms);

/* Hands back a finished request (its results set), or NULL. */
tl_h2_req *tl_h2_done(tl_h2 *h);

/* Withdraws r, wherever it is (its stream, if any, is reset); it is not
 * handed back. */
void tl_h2_cancel(tl_h2 *h, tl_h2_req *r);

/* Makes a tl_h2_run in the owner's thread return soon (thread-safe). */
void tl_h2_wakeup(tl_h2 *h);

/* Whether the server speaks HTTP/2: -1 unknown yet, 0 no, 1 yes. */
int tl_h2_speaks_h2(const tl_h2 *h);

#endif
