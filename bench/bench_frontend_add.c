/*
 * bench_frontend_add.c - a POST /add load generator for tlogd over HTTP/2
 * cleartext (prior knowledge): C connections, up to S concurrent streams
 * each, every entry distinct ("<prefix> <n>" padded to --size bytes, so the
 * log's deduplication cannot collapse them). Either as fast as possible or at
 * a fixed rate (--rate adds/s, paced by a 1 ms timer). Reports adds/s (answers
 * with 200), and add-to-proof latency percentiles (from the request being
 * submitted to its last response byte), and any non-200 answers.
 *
 *   bench_frontend_add --port P [--host 127.0.0.1] [--conns 8] [--streams 100]
 *                      [--total 100000] [--rate 0] [--size 64] [--prefix STR]
 *                      [--size-max B] [--duration SECONDS] [--json]
 *
 * With --size-max, entries are from --size to --size-max bytes long.
 * With --duration, streams keep posting for that many seconds (then the
 * adds in flight are awaited) and --total is only an upper bound.
 *
 * Audit mode: --audit-event FILE posts the event in FILE (one JSON object)
 * to POST /audit/v1/events, as application/json with the writer token read
 * from --token-file FILE; every post is a new event (give it no "id"), and
 * the latency is until its receipt. With --rate this is an open-loop
 * generator: streams are not tied to answers (a connection keeps up to
 * --streams posts in flight), so the rate asked is the rate sent as long
 * as the streams suffice.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "common/clock.h"
#include "common/dec.h"
#include "common/err.h"

typedef struct stream {
    double t0;
    char body[1024];
    const char *src; /* body, or the audit event */
    size_t len, off;
    int status;
} stream;

typedef struct client {
    struct bufferevent *bev;
    nghttp2_session *ng;
    unsigned open;
    int dead;
} client;

static struct event_base *base;
static client *clients;
static unsigned nconns = 8, nstreams = 100, size = 64, size_max = 0;
static uint64_t total = 100000, rate = 0, submitted, done, ok, non200, failed;
static const char *host = "127.0.0.1", *prefix = NULL;
static int port = 0, json = 0;
static double start, *lat;
static uint64_t nlat, duration;
static double tokens;
static char *audit_body, auth_header[512];
static size_t audit_len;
static double last_tick;

static ssize_t send_cb(nghttp2_session *s, const uint8_t *d, size_t len, int flags, void *u)
{
    (void)s;
    (void)flags;
    client *c = u;
    bufferevent_write(c->bev, d, len);
    return (ssize_t)len;
}

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *u)
{
    (void)s;
    (void)id;
    (void)u;
    stream *st = src->ptr;
    size_t n = st->len - st->off;
    if (n > len)
        n = len;
    memcpy(buf, st->src + st->off, n);
    st->off += n;
    if (st->off == st->len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl,
                     const uint8_t *value, size_t vl, uint8_t flags, void *u)
{
    (void)flags;
    (void)u;
    if (f->hd.type == NGHTTP2_HEADERS && nl == 7 && memcmp(name, ":status", 7) == 0) {
        stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
        uint64_t v = 0; /* 0 when the value is not a status */
        tl_dec_parse_u64((const char *)value, vl, 999, &v);
        if (st)
            st->status = (int)v;
    }
    return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *d, size_t len,
                   void *u)
{
    (void)s;
    (void)flags;
    (void)id;
    (void)d;
    (void)len;
    (void)u;
    return 0;
}

static void pump(void);

static int on_close(nghttp2_session *s, int32_t id, uint32_t code, void *u)
{
    client *c = u;
    stream *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st)
        return 0;
    c->open--;
    done++;
    if (code == 0 && st->status == 200) {
        ok++;
        lat[nlat++] = tl_mono_s() - st->t0;
    } else if (st->status) {
        non200++;
    } else {
        failed++;
    }
    free(st);
    if (done == total)
        event_base_loopbreak(base);
    return 0;
}

static void submit(client *c)
{
    stream *st = calloc(1, sizeof *st);
    if (audit_body) {
        st->src = audit_body;
        st->len = audit_len;
    } else {
        int n =
            snprintf(st->body, sizeof st->body, "%s %llu ", prefix, (unsigned long long)submitted);
        unsigned want = size;
        if (size_max > size) /* spread over size..size_max, the same for the same n */
            want += (unsigned)((submitted * 0x9e3779b97f4a7c15ULL) >> 40) % (size_max - size + 1);
        while ((unsigned)n < want && (size_t)n < sizeof st->body)
            st->body[n++] = 'x';
        st->src = st->body;
        st->len = (size_t)n;
    }
    st->t0 = tl_mono_s();
    char cl[16];
    snprintf(cl, sizeof cl, "%zu", st->len);
    char auth[64];
    snprintf(auth, sizeof auth, "%s:%d", host, port);
    nghttp2_nv nv[] = {
        {(uint8_t *)":method", (uint8_t *)"POST", 7, 4, 0},
        {(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
        {(uint8_t *)":authority", (uint8_t *)auth, 10, strlen(auth), 0},
        {(uint8_t *)":path", (uint8_t *)"/add", 5, 4, 0},
        {(uint8_t *)"content-length", (uint8_t *)cl, 14, strlen(cl), 0},
        {(uint8_t *)"accept", (uint8_t *)(json ? "application/json" : "text/plain"), 6,
         json ? 16 : 10, 0},
        {(uint8_t *)"authorization", (uint8_t *)auth_header, 13, strlen(auth_header), 0},
    };
    size_t nnv = 6;
    if (audit_body) {
        nv[3].value = (uint8_t *)"/audit/v1/events";
        nv[3].valuelen = 16;
        nv[5].name = (uint8_t *)"content-type";
        nv[5].namelen = 12;
        nv[5].value = (uint8_t *)"application/json";
        nv[5].valuelen = 16;
        nnv = auth_header[0] ? 7 : 6;
    }
    nghttp2_data_provider dp = {.source = {.ptr = st}, .read_callback = read_body};
    int32_t id = nghttp2_submit_request(c->ng, NULL, nv, nnv, &dp, st);
    if (id < 0) {
        free(st);
        failed++;
        done++;
        return;
    }
    c->open++;
    submitted++;
}

static void pump(void)
{
    for (unsigned i = 0; i < nconns; i++) {
        client *c = &clients[i];
        if (c->dead)
            continue;
        while (submitted < total && c->open < nstreams && (rate == 0 || tokens >= 1)) {
            submit(c);
            if (rate)
                tokens -= 1;
        }
        nghttp2_session_send(c->ng);
    }
}

static void readcb(struct bufferevent *bev, void *arg)
{
    client *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t len = evbuffer_get_length(in);
    ssize_t rv = nghttp2_session_mem_recv(c->ng, evbuffer_pullup(in, -1), len);
    if (rv < 0) {
        fprintf(stderr, "bench: nghttp2: %s\n", nghttp2_strerror((int)rv));
        c->dead = 1;
        return;
    }
    evbuffer_drain(in, (size_t)rv);
    pump();
}

static void eventcb(struct bufferevent *bev, short ev, void *arg)
{
    (void)bev;
    client *c = arg;
    if (ev & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return;
    }
    if (ev & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        fprintf(stderr, "bench: connection lost\n");
        c->dead = 1;
        failed += c->open;
        done += c->open;
        c->open = 0;
        unsigned alive = 0;
        for (unsigned i = 0; i < nconns; i++)
            alive += !clients[i].dead;
        if (!alive)
            event_base_loopbreak(base);
    }
}

static void tick(evutil_socket_t fd, short w, void *arg)
{
    (void)fd;
    (void)w;
    (void)arg;
    double t = tl_mono_s();
    if (duration && t - start >= (double)duration && total > submitted) {
        total = submitted; /* time is up: no more submissions */
        if (done == total) {
            event_base_loopbreak(base);
            return;
        }
    }
    tokens += (t - last_tick) * (double)rate;
    if (tokens > (double)rate / 100 + 1)
        tokens = (double)rate / 100 + 1; /* at most 10 ms of burst */
    last_tick = t;
    pump();
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The contents of path (malloc'd, *len bytes), trailing newlines cut; NULL
 * when it cannot be read. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p = NULL;
    size_t n = 0, cap = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (n + 4096 > cap) {
            char *q = realloc(p, cap = n + 8192);
            if (!q) {
                free(p);
                fclose(f);
                return NULL;
            }
            p = q;
        }
        size_t r = fread(p + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    while (n && (p[n - 1] == '\n' || p[n - 1] == '\r'))
        n--;
    p[n] = 0;
    *len = n;
    return p;
}

int main(int argc, char **argv)
{
    const char *event_file = NULL, *token_file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(k, "--json")) {
            json = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "bench: %s needs a value\n", k);
            return 2;
        }
        i++;
        uint64_t n = 0;
        if (!strcmp(k, "--audit-event")) {
            event_file = v;
            continue;
        }
        if (!strcmp(k, "--token-file")) {
            token_file = v;
            continue;
        }
        if (strcmp(k, "--host") != 0 && strcmp(k, "--prefix") != 0 &&
            tl_dec_parse_range(v, 0, UINT32_MAX, &n) != TL_OK) {
            fprintf(stderr, "bench: %s %s: not a decimal number\n", k, v);
            return 2;
        }
        if (!strcmp(k, "--port") && n <= 65535)
            port = (int)n;
        else if (!strcmp(k, "--host"))
            host = v;
        else if (!strcmp(k, "--conns"))
            nconns = (unsigned)n;
        else if (!strcmp(k, "--streams"))
            nstreams = (unsigned)n;
        else if (!strcmp(k, "--total"))
            total = n;
        else if (!strcmp(k, "--rate"))
            rate = n;
        else if (!strcmp(k, "--duration"))
            duration = n;
        else if (!strcmp(k, "--size-max"))
            size_max = (unsigned)n;
        else if (!strcmp(k, "--size"))
            size = (unsigned)n;
        else if (!strcmp(k, "--prefix"))
            prefix = v;
        else {
            fprintf(stderr, "bench: unknown option %s\n", k);
            return 2;
        }
    }
    if (!port || !nconns || !nstreams || !total) {
        fprintf(stderr,
                "usage: bench_frontend_add --port P [--conns C] [--streams S] "
                "[--total N] [--rate R] [--size B] [--size-max B] [--prefix STR] [--duration S] "
                "[--json] [--audit-event FILE [--token-file FILE]]\n");
        return 2;
    }
    if (event_file) {
        audit_body = slurp(event_file, &audit_len);
        if (!audit_body || audit_len == 0) {
            fprintf(stderr, "bench: cannot read the event in %s\n", event_file);
            return 2;
        }
        size = (unsigned)audit_len;
    }
    if (token_file) {
        size_t tl = 0;
        char *tok = slurp(token_file, &tl);
        if (!tok || tl == 0 || tl > 400) {
            fprintf(stderr, "bench: cannot read the token in %s\n", token_file);
            free(tok);
            return 2;
        }
        snprintf(auth_header, sizeof auth_header, "Bearer %s", tok);
        free(tok);
    }
    char pfx[64];
    if (!prefix) {
        snprintf(pfx, sizeof pfx, "bench-%ld-%d", (long)time(NULL), (int)getpid());
        prefix = pfx;
    }
    lat = malloc(sizeof(double) * total);
    clients = calloc(nconns, sizeof *clients);
    base = event_base_new();
    nghttp2_session_callbacks *cbs;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_send_callback(cbs, send_cb);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_close);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &sin.sin_addr);
    for (unsigned i = 0; i < nconns; i++) {
        client *c = &clients[i];
        c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
        bufferevent_setcb(c->bev, readcb, NULL, eventcb, c);
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
        if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&sin, sizeof sin) != 0) {
            fprintf(stderr, "bench: cannot connect to %s:%d\n", host, port);
            return 1;
        }
        nghttp2_session_client_new(&c->ng, cbs, c);
        nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000}};
        nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, 1);
    }
    nghttp2_session_callbacks_del(cbs);
    struct event *t = event_new(base, -1, EV_PERSIST, tick, NULL);
    struct timeval ms = {0, 1000};
    start = last_tick = tl_mono_s();
    if (rate || duration)
        event_add(t, &ms);
    pump();
    event_base_dispatch(base);
    double el = tl_mono_s() - start;
    qsort(lat, nlat, sizeof *lat, cmp);
#define PCT(p) (nlat ? lat[(size_t)((double)(nlat - 1) * (p))] * 1000 : 0)
    printf("adds: %llu ok, %llu non-200, %llu failed in %.2f s = %.0f adds/s "
           "(conns %u x streams %u, rate %s%llu, %u-byte entries)\n",
           (unsigned long long)ok, (unsigned long long)non200, (unsigned long long)failed, el,
           (double)ok / el, nconns, nstreams, rate ? "" : "max ", (unsigned long long)rate, size);
    printf("add-to-proof latency ms: p50 %.1f  p90 %.1f  p99 %.1f  max %.1f\n", PCT(0.50),
           PCT(0.90), PCT(0.99), PCT(1.0));
    for (unsigned i = 0; i < nconns; i++) {
        nghttp2_session_del(clients[i].ng);
        bufferevent_free(clients[i].bev);
    }
    event_free(t);
    event_base_free(base);
    free(clients);
    free(lat);
    return failed || non200 ? 1 : 0;
}
