/*
 * h2.c - the HTTP/2 fetcher of `tlog audit` (see h2.h): nghttp2's client
 * session over a non-blocking TCP socket (h2c) or an OpenSSL connection
 * (ALPN "h2"), one connection at a time, driven by poll(2) in the caller's
 * thread. nghttp2 does the framing, HPACK, flow control and the response
 * checks (content-length against the DATA received, RFC 9113 §8.1.1); this
 * file moves bytes, keeps the requests' queues and timers, and says what
 * went wrong.
 */
#include "client/h2.h"
#include "common/clock.h"
#include "common/dec.h"
#include "common/err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define RBUF_SIZE (256 * 1024)
#define READ_BUDGET (2 * 1024 * 1024) /* bytes read before the queues are looked at */
#define OUT_BATCH 65536               /* frames gathered into one write */
#define PEER_STREAMS 100              /* assumed until the server's SETTINGS */
#define STREAM_WINDOW (1 << 24)       /* bodies are bounded by max, not by this */
#define CONN_WINDOW (1 << 30)

enum { R_IDLE, R_QUEUED, R_FLIGHT, R_DONE };

typedef struct rlist {
    tl_h2_req *head, *tail;
    size_t n;
} rlist;

typedef struct conn {
    int fd;
    SSL *ssl;
    nghttp2_session *ng;
    int got_settings; /* the server's first SETTINGS arrived */
    int goaway;       /* GOAWAY received: no new streams on this one */
    int want_out;     /* a write would block: poll for POLLOUT */
    int more;         /* stopped reading at the budget: read again before polling */
    double opened;
    uint8_t *out;
    size_t outlen, outoff, outcap;
    rlist flight; /* submitted to nghttp2 */
} conn;

struct tl_h2 {
    tl_h2_opts o;
    int tls;
    char host[256]; /* for getaddrinfo and the certificate check: no brackets */
    char port[8];
    char authority[300];
    char prefix[512]; /* the base URL's path, without its trailing slashes */
    char *auth;       /* "Bearer TOKEN", or NULL */
    SSL_CTX *ctx;
    nghttp2_session_callbacks *cb;
    conn *c;
    rlist queue, done;
    int speaks; /* -1 unknown, 0 no, 1 yes */
    int wake[2];
    int woken;
    uint8_t *rbuf;
};

/* ---- lists --------------------------------------------------------------- */

static void list_push(rlist *l, tl_h2_req *r)
{
    r->next = NULL;
    r->prev = l->tail;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
    l->n++;
}

static void list_remove(rlist *l, tl_h2_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        l->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        l->tail = r->prev;
    r->next = r->prev = NULL;
    l->n--;
}

static void vsay(const tl_h2 *h, const char *fmt, va_list ap)
{
    (void)h;
    fprintf(stderr, "tlog: h2: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

static void say(const tl_h2 *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const tl_h2 *h, const char *fmt, ...)
{
    if (!h->o.verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsay(h, fmt, ap);
    va_end(ap);
}

/* Records a failure on r (the first one counts). */
static void fail(tl_h2_req *r, int err, int transient, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fail(tl_h2_req *r, int err, int transient, const char *fmt, ...)
{
    if (r->err != TL_OK)
        return;
    r->err = err;
    r->transient = transient;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->errmsg, sizeof(r->errmsg), fmt, ap);
    va_end(ap);
}

/* Moves r from where it is to the done list. */
static void finish(tl_h2 *h, rlist *from, tl_h2_req *r)
{
    if (from)
        list_remove(from, r);
    r->state = R_DONE;
    list_push(&h->done, r);
}

static tl_h2_req *flight_find(conn *c, int32_t id)
{
    for (tl_h2_req *r = c->flight.head; r; r = r->next)
        if (r->stream_id == id)
            return r;
    return NULL;
}

/* ---- nghttp2 callbacks ------------------------------------------------------ */

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                     const uint8_t *value, size_t vl, uint8_t flags, void *ud)
{
    (void)flags;
    (void)ud;
    if (f->hd.type != NGHTTP2_HEADERS)
        return 0;
    tl_h2_req *r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (r == NULL || r->err != TL_OK)
        return 0;
    uint64_t v = 0;
    if (nl == 7 && memcmp(name, ":status", 7) == 0) {
        if (tl_dec_parse_u64((const char *)value, vl, 999, &v) == TL_OK)
            r->status = (long)v;
    } else if (nl == 14 && memcmp(name, "content-length", 14) == 0 && r->status >= 200) {
        if (tl_dec_parse_u64((const char *)value, vl, UINT64_MAX, &v) != TL_OK)
            return 0; /* nghttp2 refuses a malformed one itself */
        if (v > r->max) {
            fail(r, TL_ERR_TOOBIG, 0, "response larger than %zu bytes", r->max);
            nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_CANCEL);
        } else if (tl_buf_grow(r->body, (size_t)v) != TL_OK) {
            fail(r, TL_ERR_NOMEM, 0, "out of memory");
            nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_CANCEL);
        }
    } else if (nl == 11 && memcmp(name, "retry-after", 11) == 0) {
        if (tl_dec_parse_u64((const char *)value, vl, 86400, &v) == TL_OK)
            r->retry_after = (long)v;
    } else if (nl == 16 && memcmp(name, "content-encoding", 16) == 0 && r->status >= 200) {
        /* None was asked for (no accept-encoding is sent). */
        if (!(vl == 8 && strncasecmp((const char *)value, "identity", 8) == 0)) {
            fail(r, TL_ERR_NETWORK, 0, "content-encoding %.*s, which was not asked for",
                 (int)(vl > 40 ? 40 : vl), (const char *)value);
            nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_CANCEL);
        }
    }
    return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                   void *ud)
{
    (void)flags;
    (void)ud;
    tl_h2_req *r = nghttp2_session_get_stream_user_data(s, id);
    if (r == NULL || r->err != TL_OK)
        return 0;
    r->last_byte = tl_mono_s();
    if (r->body->len > r->max || len > r->max - r->body->len) {
        fail(r, TL_ERR_TOOBIG, 0, "response larger than %zu bytes", r->max);
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    } else if (tl_buf_add(r->body, data, len) != TL_OK) {
        fail(r, TL_ERR_NOMEM, 0, "out of memory");
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    tl_h2 *h = ud;
    conn *c = h->c;
    switch (f->hd.type) {
    case NGHTTP2_SETTINGS:
        if (!(f->hd.flags & NGHTTP2_FLAG_ACK) && !c->got_settings) {
            c->got_settings = 1;
            h->speaks = 1;
            say(h, "the server allows %u concurrent streams",
                nghttp2_session_get_remote_settings(s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS));
        }
        break;
    case NGHTTP2_GOAWAY:
        c->goaway = 1;
        say(h, "GOAWAY (last stream %d, %s)", f->goaway.last_stream_id,
            nghttp2_http2_strerror(f->goaway.error_code));
        break;
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA:
        if (f->hd.flags & NGHTTP2_FLAG_END_STREAM) {
            tl_h2_req *r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
            if (r)
                r->complete = 1;
        }
        if (f->hd.type == NGHTTP2_HEADERS) {
            tl_h2_req *r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
            if (r)
                r->last_byte = tl_mono_s();
        }
        break;
    default:
        break;
    }
    return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
    (void)ud;
    if (f->hd.type == NGHTTP2_HEADERS) {
        /* The stall timer starts when the request leaves, not while it
         * waits for a free stream. */
        tl_h2_req *r = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
        if (r)
            r->last_byte = tl_mono_s();
    }
    return 0;
}

static int on_frame_not_send(nghttp2_session *s, const nghttp2_frame *f, int lib_error, void *ud)
{
    (void)s;
    tl_h2 *h = ud;
    if (f->hd.type != NGHTTP2_HEADERS)
        return 0;
    tl_h2_req *r = flight_find(h->c, f->hd.stream_id);
    if (r == NULL)
        return 0;
    /* Never sent (GOAWAY came first): the server has not seen it. */
    fail(r, TL_ERR_NETWORK, 1, "request not sent: %s", nghttp2_strerror(lib_error));
    r->refused = 1;
    finish(h, &h->c->flight, r);
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
    tl_h2 *h = ud;
    tl_h2_req *r = nghttp2_session_get_stream_user_data(s, id);
    if (r == NULL || r->state != R_FLIGHT)
        return 0;
    if (code == NGHTTP2_REFUSED_STREAM) {
        fail(r, TL_ERR_NETWORK, 1, "HTTP/2 stream %d refused by the server", id);
        r->refused = 1;
    } else if (code != NGHTTP2_NO_ERROR) {
        fail(r, TL_ERR_NETWORK, 1, "HTTP/2 stream %d was not closed cleanly: %s (err %u)", id,
             nghttp2_http2_strerror(code), code);
    } else if (!r->complete) {
        fail(r, TL_ERR_NETWORK, 1,
             "HTTP/2 stream %d closed before the response was complete (%zu bytes received)", id,
             r->body->len);
    }
    finish(h, &h->c->flight, r);
    return 0;
}

/* ---- the connection --------------------------------------------------------- */

/* Closes c; what is still in flight is handed back failed (transient),
 * refused when the server cannot have answered it, no_h2 when the server
 * never spoke HTTP/2. */
static void conn_close(tl_h2 *h, const char *why)
{
    conn *c = h->c;
    if (c == NULL)
        return;
    int no_h2 = !c->got_settings && h->speaks == -1;
    if (no_h2) {
        h->speaks = 0;
        say(h, "the server does not speak HTTP/2 (%s): HTTP/1.1 through libcurl",
            why ? why : "no SETTINGS");
    } else if (why) {
        say(h, "connection closed: %s", why);
    }
    while (c->flight.head) {
        tl_h2_req *r = c->flight.head;
        fail(r, TL_ERR_NETWORK, 1, "%s", why ? why : "connection closed");
        if (no_h2)
            r->refused = r->no_h2 = 1;
        finish(h, &c->flight, r);
    }
    if (no_h2) {
        while (h->queue.head) {
            tl_h2_req *r = h->queue.head;
            fail(r, TL_ERR_NETWORK, 1, "the server does not speak HTTP/2");
            r->refused = r->no_h2 = 1;
            finish(h, &h->queue, r);
        }
    }
    nghttp2_session_del(c->ng); /* frees only: no callbacks */
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    if (c->fd >= 0)
        close(c->fd);
    free(c->out);
    free(c);
    h->c = NULL;
}

/* Hands every queued request back failed. */
static void fail_queue(tl_h2 *h, int err, int transient, int no_h2, const char *why)
{
    while (h->queue.head) {
        tl_h2_req *r = h->queue.head;
        fail(r, err, transient, "%s", why);
        if (no_h2)
            r->refused = r->no_h2 = 1;
        finish(h, &h->queue, r);
    }
}

static int wait_fd(int fd, short ev, double deadline)
{
    for (;;) {
        double left = deadline - tl_mono_s();
        if (left <= 0)
            return 0;
        struct pollfd p = {fd, ev, 0};
        int n = poll(&p, 1, (int)(left * 1000) + 1);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
        if (n < 0)
            return -2; /* a signal: let the caller look at its stop flag */
    }
}

static int is_ip(const char *host)
{
    unsigned char b[16];
    return inet_pton(AF_INET, host, b) == 1 || inet_pton(AF_INET6, host, b) == 1;
}

/* TCP, then TLS; returns the socket, or -1 with the queue failed. */
static int dial(tl_h2 *h, double deadline, SSL **sslp)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char why[200];
    int gai = getaddrinfo(h->host, h->port, &hints, &res);
    if (gai != 0) {
        snprintf(why, sizeof(why), "Could not resolve host: %.150s", h->host);
        fail_queue(h, TL_ERR_NETWORK, gai == EAI_AGAIN, 0, why);
        return -1;
    }
    int fd = -1, timed_out = 0, eno = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            eno = errno;
            continue;
        }
        int ok = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
        if (!ok && errno == EINPROGRESS) {
            int w = wait_fd(fd, POLLOUT, deadline);
            int se = 0;
            socklen_t sl = sizeof(se);
            if (w == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &se, &sl) == 0 && se == 0)
                ok = 1;
            else if (w == 0)
                timed_out = 1;
            else
                eno = w == 1 ? se : (w == -2 ? EINTR : errno);
        } else if (!ok) {
            eno = errno;
        }
        if (!ok) {
            close(fd);
            fd = -1;
            if (timed_out)
                break;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        if (timed_out) {
            snprintf(why, sizeof(why), "Connection timed out after %ld milliseconds",
                     h->o.connect_timeout_ms);
            fail_queue(h, TL_ERR_TIMEOUT, 1, 0, why);
        } else {
            snprintf(why, sizeof(why), "Failed to connect to %.100s port %s: %s", h->host, h->port,
                     strerror(eno));
            fail_queue(h, TL_ERR_NETWORK, 1, 0, why);
        }
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (!h->tls)
        return fd;
    SSL *ssl = SSL_new(h->ctx);
    if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_set1_host(ssl, h->host) != 1 ||
        (!is_ip(h->host) && SSL_set_tlsext_host_name(ssl, h->host) != 1)) {
        SSL_free(ssl);
        close(fd);
        fail_queue(h, TL_ERR_NETWORK, 0, 0, "cannot set up TLS");
        return -1;
    }
    for (;;) {
        ERR_clear_error();
        int rc = SSL_connect(ssl);
        if (rc == 1)
            break;
        int e = SSL_get_error(ssl, rc);
        int w = -1;
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            w = wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
        if (w == 1)
            continue;
        long vr = SSL_get_verify_result(ssl);
        int err = TL_ERR_NETWORK, transient = 0;
        if (w == 0) {
            snprintf(why, sizeof(why), "Connection timed out after %ld milliseconds",
                     h->o.connect_timeout_ms);
            err = TL_ERR_TIMEOUT;
            transient = 1;
        } else if (vr != X509_V_OK) {
            snprintf(why, sizeof(why), "SSL certificate problem: %s",
                     X509_verify_cert_error_string(vr));
        } else {
            char ebuf[160] = "";
            unsigned long oe = ERR_peek_last_error();
            if (oe)
                ERR_error_string_n(oe, ebuf, sizeof(ebuf));
            snprintf(why, sizeof(why), "TLS handshake failed: %s",
                     ebuf[0] ? ebuf : "the connection closed");
            transient = oe == 0; /* closed, not refused */
        }
        SSL_free(ssl);
        close(fd);
        fail_queue(h, err, transient, 0, why);
        return -1;
    }
    const unsigned char *alpn = NULL;
    unsigned alen = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alen);
    if (!(alen == 2 && memcmp(alpn, "h2", 2) == 0)) {
        h->speaks = 0;
        say(h, "the server did not choose h2 by ALPN: HTTP/1.1 through libcurl");
        SSL_shutdown(ssl);
        SSL_free(ssl);
        close(fd);
        fail_queue(h, TL_ERR_NETWORK, 1, 1, "the server does not speak HTTP/2");
        return -1;
    }
    *sslp = ssl;
    return fd;
}

static int conn_open(tl_h2 *h)
{
    double now = tl_mono_s();
    SSL *ssl = NULL;
    int fd = dial(h, now + (double)h->o.connect_timeout_ms / 1000.0, &ssl);
    if (fd < 0)
        return -1;
    conn *c = calloc(1, sizeof(*c));
    nghttp2_option *opt = NULL;
    if (c == NULL || nghttp2_option_new(&opt) != 0)
        goto nomem;
    c->fd = fd;
    c->ssl = ssl;
    c->opened = tl_mono_s();
    nghttp2_option_set_peer_max_concurrent_streams(opt, PEER_STREAMS);
    int rc = nghttp2_session_client_new2(&c->ng, h->cb, h, opt);
    nghttp2_option_del(opt);
    if (rc != 0)
        goto nomem;
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW}};
    if (nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, 2) != 0 ||
        nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW) != 0)
        goto nomem;
    h->c = c;
    say(h, "connected to %s port %s (%s)", h->host, h->port,
        h->tls ? "h2 by ALPN" : "h2c, prior knowledge");
    return 0;
nomem:
    if (c && c->ng)
        nghttp2_session_del(c->ng);
    free(c);
    SSL_free(ssl);
    close(fd);
    fail_queue(h, TL_ERR_NOMEM, 0, 0, "out of memory");
    return -1;
}

/* Writes what can be written: >= 0 bytes, or -1 (the connection failed,
 * reason in why). */
static ssize_t conn_write(conn *c, const uint8_t *p, size_t n, char *why, size_t cap)
{
    if (c->ssl) {
        ERR_clear_error();
        int w = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
        if (w > 0)
            return w;
        int e = SSL_get_error(c->ssl, w);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
            c->want_out = e == SSL_ERROR_WANT_WRITE;
            return 0;
        }
        snprintf(why, cap, "TLS write failed");
        return -1;
    }
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
    if (w >= 0)
        return w;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        c->want_out = 1;
        return 0;
    }
    snprintf(why, cap, "Send failure: %s", strerror(errno));
    return -1;
}

/* Sends what nghttp2 has; 0, or -1 with a reason. */
static int conn_flush(conn *c, char *why, size_t cap)
{
    for (;;) {
        while (c->outoff < c->outlen) {
            ssize_t w = conn_write(c, c->out + c->outoff, c->outlen - c->outoff, why, cap);
            if (w < 0)
                return -1;
            if (w == 0)
                return 0;
            c->outoff += (size_t)w;
        }
        c->outoff = c->outlen = 0;
        while (c->outlen < OUT_BATCH) {
            const uint8_t *d = NULL;
            ssize_t n = nghttp2_session_mem_send(c->ng, &d);
            if (n < 0) {
                snprintf(why, cap, "HTTP/2 error: %s", nghttp2_strerror((int)n));
                return -1;
            }
            if (n == 0)
                break;
            if (c->outlen + (size_t)n > c->outcap) {
                size_t nc = c->outcap ? c->outcap : OUT_BATCH;
                while (nc < c->outlen + (size_t)n)
                    nc *= 2;
                uint8_t *nb = realloc(c->out, nc);
                if (nb == NULL) {
                    snprintf(why, cap, "out of memory");
                    return -1;
                }
                c->out = nb;
                c->outcap = nc;
            }
            memcpy(c->out + c->outlen, d, (size_t)n);
            c->outlen += (size_t)n;
        }
        if (c->outlen == 0)
            return 0;
    }
}

/* Reads and feeds nghttp2 until the socket is dry (or the budget is spent);
 * 0, or -1 with a reason (closed or failed). */
static int conn_read(tl_h2 *h, conn *c, char *why, size_t cap)
{
    size_t total = 0;
    c->more = 0;
    while (total < READ_BUDGET) {
        ssize_t n;
        if (c->ssl) {
            ERR_clear_error();
            errno = 0;
            int r = SSL_read(c->ssl, h->rbuf, RBUF_SIZE);
            if (r > 0) {
                n = r;
            } else {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ)
                    return 0;
                if (e == SSL_ERROR_WANT_WRITE) {
                    c->want_out = 1;
                    return 0;
                }
                if (e == SSL_ERROR_ZERO_RETURN ||
                    (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0)) {
                    snprintf(why, cap, "the server closed the connection");
                } else {
                    char eb[160] = "";
                    unsigned long oe = ERR_peek_last_error();
                    if (oe)
                        ERR_error_string_n(oe, eb, sizeof(eb));
                    snprintf(why, cap, "Recv failure: %s", eb[0] ? eb : strerror(errno));
                }
                return -1;
            }
        } else {
            n = recv(c->fd, h->rbuf, RBUF_SIZE, 0);
            if (n == 0) {
                snprintf(why, cap, "the server closed the connection");
                return -1;
            }
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                    return 0;
                snprintf(why, cap, "Recv failure: %s", strerror(errno));
                return -1;
            }
        }
        ssize_t rv = nghttp2_session_mem_recv(c->ng, h->rbuf, (size_t)n);
        if (rv < 0) {
            snprintf(why, cap, "HTTP/2 error: %s", nghttp2_strerror((int)rv));
            return -1;
        }
        total += (size_t)n;
    }
    c->more = 1;
    return 0;
}

/* Gives the queued requests to nghttp2 (which holds those beyond the
 * server's stream limit until streams free up). */
static void submit_queued(tl_h2 *h, conn *c)
{
    const char *scheme = h->tls ? "https" : "http";
    double now = tl_mono_s();
#define NV(n, v, f)                                                                                \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), (f)                              \
    }
    while (h->queue.head) {
        tl_h2_req *r = h->queue.head;
        const uint8_t nc = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
        nghttp2_nv nv[6] = {
            NV(":method", "GET", nc),
            NV(":scheme", scheme, nc),
            NV(":authority", h->authority, nc),
            NV(":path", r->hpath, NGHTTP2_NV_FLAG_NO_COPY_NAME), /* copied: r may go */
            NV("user-agent", h->o.user_agent, nc),
            NV("authorization", h->auth ? h->auth : "", nc),
        };
        list_remove(&h->queue, r);
        int32_t id = nghttp2_submit_request(c->ng, NULL, nv, h->auth ? 6 : 5, NULL, r);
        if (id < 0) {
            fail(r, id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE ? TL_ERR_NETWORK : TL_ERR_NOMEM,
                 id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE, "cannot start a stream: %s",
                 nghttp2_strerror(id));
            r->refused = 1;
            finish(h, NULL, r);
            if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE)
                c->goaway = 1; /* out of stream ids: the next connection */
            continue;
        }
        r->stream_id = id;
        r->state = R_FLIGHT;
        r->deadline = now + (double)h->o.timeout_ms / 1000.0;
        r->last_byte = now;
        list_push(&c->flight, r);
        say(h, "stream %d: GET %s", id, r->hpath);
    }
#undef NV
}

/* Fails the requests past their deadline or stalled; returns -1 when the
 * connection must go (a request to withdraw has not left yet). */
static int check_timers(tl_h2 *h, conn *c, double now)
{
    if (!c->got_settings && now - c->opened > (double)h->o.connect_timeout_ms / 1000.0)
        return -1;
    tl_h2_req *next;
    for (tl_h2_req *r = c->flight.head; r; r = next) {
        next = r->next;
        size_t got = r->body->len;
        /* Not opened yet: waiting in nghttp2 for a free stream, not stalled. */
        int opened = nghttp2_session_find_stream(c->ng, r->stream_id) != NULL;
        if (now > r->deadline)
            fail(r, TL_ERR_TIMEOUT, 1,
                 "Operation timed out after %ld milliseconds with %zu bytes received",
                 h->o.timeout_ms, got);
        else if (opened && h->o.stall_ms > 0 && now - r->last_byte > (double)h->o.stall_ms / 1000.0)
            fail(r, TL_ERR_TIMEOUT, 1,
                 "Operation too slow. Less than 1 bytes/sec transferred the last %ld seconds",
                 h->o.stall_ms / 1000);
        else
            continue;
        if (!opened)
            return -1;
        nghttp2_session_set_stream_user_data(c->ng, r->stream_id, NULL);
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, r->stream_id, NGHTTP2_CANCEL);
        finish(h, &c->flight, r);
    }
    return 0;
}

/* ---- the interface ---------------------------------------------------------- */

static int url_part(CURLU *u, CURLUPart part, unsigned flags, char *out, size_t cap)
{
    char *v = NULL;
    if (curl_url_get(u, part, &v, flags) != CURLUE_OK)
        return -1;
    int ok = strlen(v) < cap;
    if (ok)
        memcpy(out, v, strlen(v) + 1);
    curl_free(v);
    return ok ? 0 : -1;
}

int tl_h2_new(const tl_h2_opts *o, tl_h2 **out, char *err, size_t cap)
{
    tl_h2 *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return TL_ERR_NOMEM;
    h->o = *o;
    h->speaks = -1;
    h->wake[0] = h->wake[1] = -1;
    CURLU *u = curl_url();
    char scheme[8], path[sizeof(h->prefix)], hostb[sizeof(h->host)];
    int rc = TL_ERR_INVALID;
    if (u == NULL) {
        rc = TL_ERR_NOMEM;
        goto fail;
    }
    if (curl_url_set(u, CURLUPART_URL, o->base_url, 0) != CURLUE_OK ||
        url_part(u, CURLUPART_SCHEME, 0, scheme, sizeof(scheme)) != 0 ||
        url_part(u, CURLUPART_HOST, 0, hostb, sizeof(hostb)) != 0 ||
        url_part(u, CURLUPART_PORT, CURLU_DEFAULT_PORT, h->port, sizeof(h->port)) != 0 ||
        url_part(u, CURLUPART_PATH, 0, path, sizeof(path)) != 0) {
        snprintf(err, cap, "URL %.200s: cannot be parsed", o->base_url);
        goto fail;
    }
    h->tls = strcmp(scheme, "https") == 0;
    if (!h->tls && strcmp(scheme, "http") != 0) {
        snprintf(err, cap, "URL %.200s: only http:// and https:// are supported", o->base_url);
        goto fail;
    }
    char given_port[8];
    int has_port = url_part(u, CURLUPART_PORT, 0, given_port, sizeof(given_port)) == 0;
    snprintf(h->authority, sizeof(h->authority), "%s%s%s", hostb, has_port ? ":" : "",
             has_port ? given_port : "");
    size_t hl = strlen(hostb);
    if (hl >= 2 && hostb[0] == '[' && hostb[hl - 1] == ']') {
        memcpy(h->host, hostb + 1, hl - 2); /* an IPv6 literal */
        h->host[hl - 2] = 0;
    } else {
        memcpy(h->host, hostb, hl + 1);
    }
    size_t pl = strlen(path);
    while (pl > 0 && path[pl - 1] == '/')
        path[--pl] = 0;
    memcpy(h->prefix, path, pl + 1);
    if (o->token) {
        size_t tl = strlen(o->token);
        h->auth = malloc(tl + 8);
        if (h->auth == NULL) {
            rc = TL_ERR_NOMEM;
            goto fail;
        }
        memcpy(h->auth, "Bearer ", 7);
        memcpy(h->auth + 7, o->token, tl + 1);
    }
    h->rbuf = malloc(RBUF_SIZE);
    if (h->rbuf == NULL || pipe2(h->wake, O_NONBLOCK | O_CLOEXEC) != 0 ||
        nghttp2_session_callbacks_new(&h->cb) != 0) {
        rc = TL_ERR_NOMEM;
        snprintf(err, cap, "cannot set up the HTTP/2 fetcher");
        goto fail;
    }
    nghttp2_session_callbacks_set_on_header_callback(h->cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(h->cb, on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(h->cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(h->cb, on_frame_send);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(h->cb, on_frame_not_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(h->cb, on_stream_close);
    if (h->tls) {
        static const unsigned char alpn[] = "\x02h2\x08http/1.1";
        h->ctx = SSL_CTX_new(TLS_client_method());
        if (h->ctx == NULL || SSL_CTX_set_min_proto_version(h->ctx, TLS1_2_VERSION) != 1 ||
            SSL_CTX_set_alpn_protos(h->ctx, alpn, sizeof(alpn) - 1) != 0) {
            snprintf(err, cap, "cannot set up TLS");
            rc = TL_ERR_CRYPTO;
            goto fail;
        }
        SSL_CTX_set_verify(h->ctx, SSL_VERIFY_PEER, NULL);
        SSL_CTX_set_mode(h->ctx,
                         SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        /* --ca replaces the system store, as it does for libcurl. */
        int ok = o->ca_file ? SSL_CTX_load_verify_locations(h->ctx, o->ca_file, NULL)
                            : SSL_CTX_set_default_verify_paths(h->ctx);
        if (ok != 1) {
            snprintf(err, cap, "%.200s: cannot load the CA certificates",
                     o->ca_file ? o->ca_file : "the system store");
            rc = TL_ERR_CRYPTO;
            goto fail;
        }
    }
    curl_url_cleanup(u);
    *out = h;
    return TL_OK;
fail:
    curl_url_cleanup(u);
    tl_h2_free(h);
    return rc;
}

void tl_h2_free(tl_h2 *h)
{
    if (h == NULL)
        return;
    if (h->c) {
        /* Nothing is handed back any more. */
        h->c->flight.head = h->c->flight.tail = NULL;
        h->c->flight.n = 0;
        conn_close(h, NULL);
    }
    if (h->cb)
        nghttp2_session_callbacks_del(h->cb);
    SSL_CTX_free(h->ctx);
    if (h->wake[0] >= 0)
        close(h->wake[0]);
    if (h->wake[1] >= 0)
        close(h->wake[1]);
    if (h->auth)
        OPENSSL_cleanse(h->auth, strlen(h->auth));
    free(h->auth);
    free(h->rbuf);
    free(h);
}

int tl_h2_submit(tl_h2 *h, tl_h2_req *r)
{
    if ((size_t)snprintf(r->hpath, sizeof(r->hpath), "%s/%s", h->prefix, r->path) >=
        sizeof(r->hpath))
        return TL_ERR_INVALID;
    r->status = 0;
    r->err = TL_OK;
    r->transient = r->refused = r->no_h2 = 0;
    r->retry_after = -1;
    r->errmsg[0] = 0;
    r->complete = 0;
    r->stream_id = 0;
    tl_buf_reset(r->body);
    r->state = R_QUEUED;
    list_push(&h->queue, r);
    return TL_OK;
}

tl_h2_req *tl_h2_done(tl_h2 *h)
{
    tl_h2_req *r = h->done.head;
    if (r) {
        list_remove(&h->done, r);
        r->state = R_IDLE;
    }
    return r;
}

void tl_h2_cancel(tl_h2 *h, tl_h2_req *r)
{
    switch (r->state) {
    case R_QUEUED:
        list_remove(&h->queue, r);
        break;
    case R_DONE:
        list_remove(&h->done, r);
        break;
    case R_FLIGHT:
        /* nghttp2 may still hold the stream: the connection goes with it;
         * the other requests on it come back as refused. */
        list_remove(&h->c->flight, r);
        conn_close(h, "request withdrawn");
        break;
    default:
        break;
    }
    r->state = R_IDLE;
}

void tl_h2_wakeup(tl_h2 *h)
{
    __atomic_store_n(&h->woken, 1, __ATOMIC_RELEASE);
    char b = 1;
    ssize_t n = write(h->wake[1], &b, 1); /* full: a wake-up is pending anyway */
    (void)n;
}

int tl_h2_speaks_h2(const tl_h2 *h)
{
    return h->speaks;
}

int tl_h2_run(tl_h2 *h, int timeout_ms)
{
    double end = tl_mono_s() + (timeout_ms > 0 ? timeout_ms : 0) / 1000.0;
    char why[200];
    for (;;) {
        if (h->done.n > 0)
            return (int)h->done.n;
        if (__atomic_exchange_n(&h->woken, 0, __ATOMIC_ACQ_REL))
            return 0;
        conn *c = h->c;
        if (c && c->flight.n == 0 && h->queue.n > 0 && !c->goaway) {
            /* An idle connection (a monitor's, between runs) that the
             * server may have closed or said GOAWAY on meanwhile. */
            struct pollfd ip = {c->fd, POLLIN, 0};
            if (poll(&ip, 1, 0) > 0 && conn_read(h, c, why, sizeof(why)) != 0) {
                conn_close(h, NULL);
                continue;
            }
        }
        if (c && c->goaway && c->flight.n == 0) {
            conn_close(h, NULL); /* what it accepted is done */
            c = NULL;
        }
        if (c && !nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng) &&
            c->outoff == c->outlen) {
            conn_close(h, "the HTTP/2 session ended");
            continue;
        }
        if (c == NULL && h->queue.n > 0) {
            if (conn_open(h) != 0)
                continue; /* the queue came back failed */
            c = h->c;
        }
        if (c && !c->goaway && h->queue.n > 0)
            submit_queued(h, c);
        double now = tl_mono_s();
        if (c && check_timers(h, c, now) != 0) {
            conn_close(h, c->got_settings ? "a request to withdraw had not left"
                                          : "no SETTINGS from the server in time");
            continue;
        }
        if (c && conn_flush(c, why, sizeof(why)) != 0) {
            conn_close(h, why);
            continue;
        }
        if (h->done.n > 0)
            return (int)h->done.n;
        if (now >= end)
            return 0;
        int ms = (int)((end - now) * 1000.0) + 1;
        if (ms > 1000)
            ms = 1000; /* the timers' resolution */
        struct pollfd p[2] = {{h->wake[0], POLLIN, 0}, {c ? c->fd : -1, POLLIN, 0}};
        if (c && c->want_out)
            p[1].events |= POLLOUT;
        if (c && c->more)
            ms = 0;
        int n = poll(p, 2, ms);
        if (n < 0 && errno == EINTR)
            return 0; /* a signal: the caller looks at its stop flag */
        if (p[0].revents & POLLIN) {
            char b[64];
            while (read(h->wake[0], b, sizeof(b)) > 0) {
            }
        }
        if (c == NULL)
            continue;
        if (p[1].revents & POLLOUT)
            c->want_out = 0;
        if ((p[1].revents & (POLLIN | POLLERR | POLLHUP)) || c->more) {
            if (conn_read(h, c, why, sizeof(why)) != 0) {
                conn_close(h, why);
                continue;
            }
            if (c->want_out == 0 && conn_flush(c, why, sizeof(why)) != 0) {
                conn_close(h, why);
                continue;
            }
        }
    }
}
