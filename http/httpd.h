/*
 * httpd.h - the HTTP server under tlogd and tlog-witness: HTTP/2 over TLS
 * (ALPN h2, falling back to http/1.1), HTTP/2 cleartext with prior
 * knowledge (h2c) and HTTP/1.1 cleartext on one listening socket (the
 * connection preface decides), all handed to one request handler.
 *
 * Built on libevent (+ libevent_openssl) and nghttp2. Single-threaded: the
 * handler and every tl_http_* call run on the event loop's thread, except
 * tl_httpd_run_in_loop, which any thread may call.
 *
 * Limits (all in tl_httpd_config, with safe defaults when 0): concurrent
 * streams per connection (advertised in SETTINGS), header list size (counted
 * per request), request body size, connections (at the limit the longest-idle
 * connection is closed to admit a new one), absolute deadlines for the TLS
 * handshake, the preface, each request head (from its first byte) and body,
 * a minimum body rate, and idle connections.
 */
#ifndef TL_HTTP_HTTPD_H
#define TL_HTTP_HTTPD_H

#include <stddef.h>
#include <stdint.h>

struct event_base;

typedef struct tl_httpd tl_httpd;
typedef struct tl_http_req tl_http_req; /* owned by the server; valid until responded or aborted */

typedef struct tl_httpd_config {
    const char *listen;   /* "HOST:PORT" */
    const char *tls_cert; /* PEM files; both NULL = cleartext */
    const char *tls_key;
    size_t max_body;               /* request body bytes (default 1 MiB) */
    unsigned max_streams;          /* per connection (default 100) */
    size_t max_header_bytes;       /* per request (default 16 KiB) */
    unsigned max_conns;            /* default 10000; at the limit the longest-idle goes */
    unsigned handshake_timeout_ms; /* TLS handshake deadline (default 10 s) */
    unsigned preface_timeout_ms;   /* first request bytes (default 10 s) */
    unsigned header_timeout_ms;    /* request head, from its first byte (default 10 s) */
    unsigned idle_timeout_ms;      /* no open stream (default 120 s) */
    unsigned body_timeout_ms;      /* whole request body (default 30 s) */
    unsigned body_min_rate;        /* body bytes/s after a 5 s allowance (default 1024) */
} tl_httpd_config;

/* Called once per complete request (headers + body read). The handler
 * responds now or later (from the loop thread) with tl_http_respond. */
typedef void (*tl_http_handler_fn)(void *ctx, tl_http_req *req);

int tl_httpd_new(struct event_base *base, const tl_httpd_config *cfg, tl_http_handler_fn fn,
                 void *ctx, tl_httpd **out, char *err, size_t cap);
/* The port actually bound (useful with port 0). */
int tl_httpd_port(const tl_httpd *h);
/* Stops accepting; in-flight requests still get their responses. cb is
 * called (on the loop) once no request is in flight. */
void tl_httpd_drain(tl_httpd *h, void (*cb)(void *ctx), void *ctx);
void tl_httpd_free(tl_httpd *h);
/* Runs fn(ctx) on the loop thread soon; thread-safe. */
int tl_httpd_run_in_loop(tl_httpd *h, void (*fn)(void *ctx), void *ctx);

/* Request accessors (borrowed strings, valid while req is). */
const char *tl_http_req_method(const tl_http_req *r);
const char *tl_http_req_path(const tl_http_req *r);  /* without the query */
const char *tl_http_req_query(const tl_http_req *r); /* after '?', or "" */
/* Drops the first n bytes of the path, a URL prefix the caller matched and
 * handles for the rest; what remains must start with '/'. */
void tl_http_req_strip_path(tl_http_req *r, size_t n);
/* First header with this lowercase name, or NULL. */
const char *tl_http_req_header(const tl_http_req *r, const char *name);
const uint8_t *tl_http_req_body(const tl_http_req *r, size_t *len);
/* "h2", "h2c" or "http/1.1". */
const char *tl_http_req_proto(const tl_http_req *r);

typedef struct tl_http_header {
    const char *name; /* lowercase */
    const char *value;
} tl_http_header;

/* Sends the response (body copied). After this, req is gone. */
void tl_http_respond(tl_http_req *r, int status, const char *content_type,
                     const tl_http_header *hdrs, size_t nhdrs, const void *body, size_t len);
/* The same with a body that is not copied (HTTP/2): its bytes must stay as
 * they are until release(ctx), which runs on the loop thread once the
 * response has sent them or is gone (at once over HTTP/1.1, which copies).
 * For large bodies many responses share. */
void tl_http_respond_shared(tl_http_req *r, int status, const char *content_type,
                            const tl_http_header *hdrs, size_t nhdrs, const void *body, size_t len,
                            void (*release)(void *ctx), void *ctx);
/* When the client goes away before a response, fn(ctx) runs and req is gone
 * afterwards (the handler must forget it). */
void tl_http_req_on_abort(tl_http_req *r, void (*fn)(void *ctx), void *ctx);

#endif
