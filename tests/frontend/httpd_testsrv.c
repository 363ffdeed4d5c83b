/*
 * httpd_testsrv.c - a tiny server on tl_httpd for the frontend tests: it
 * exercises the library alone (protocols, limits, deadlines, async answers,
 * run_in_loop from another thread, graceful drain), without the log.
 *
 *   GET  /hello          200 "hello <proto>\n"
 *   GET  /hdr?NAME       200 value of request header NAME (404 if absent)
 *   POST /echo           200 the body back
 *   GET  /slow?MS        200 "slow\n" after MS milliseconds (async)
 *   GET  /thread         200 "thread\n", answered via tl_httpd_run_in_loop
 *   GET  /stats          200 "aborts N\n"
 * Prints "port N" on stdout when listening; SIGTERM drains and exits 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "common/dec.h"
#include "common/err.h"
#include "http/httpd.h"

static tl_httpd *g_h;
static struct event_base *g_base;
static unsigned long g_aborts;

typedef struct slow {
    tl_http_req *req;
    struct event *ev;
} slow;

static void text(tl_http_req *r, int st, const char *s)
{
    tl_http_respond(r, st, "text/plain", NULL, 0, s, strlen(s));
}

static void slow_abort(void *arg)
{
    slow *s = arg;
    g_aborts++;
    event_free(s->ev); /* its answer will not be sent */
    free(s);
}

static void slow_fire(evutil_socket_t fd, short w, void *arg)
{
    (void)fd;
    (void)w;
    slow *s = arg;
    text(s->req, 200, "slow\n");
    event_free(s->ev);
    free(s);
}

static void thread_answer(void *arg)
{
    text(arg, 200, "thread\n");
}

static void *thread_main(void *arg)
{
    tl_httpd_run_in_loop(g_h, thread_answer, arg);
    return NULL;
}

static void handler(void *ctx, tl_http_req *r)
{
    (void)ctx;
    const char *p = tl_http_req_path(r), *m = tl_http_req_method(r);
    char buf[256];
    if (strcmp(p, "/hello") == 0) {
        snprintf(buf, sizeof buf, "hello %s\n", tl_http_req_proto(r));
        text(r, 200, buf);
    } else if (strcmp(p, "/hdr") == 0) {
        const char *v = tl_http_req_header(r, tl_http_req_query(r));
        if (!v)
            text(r, 404, "no such header\n");
        else
            text(r, 200, v);
    } else if (strcmp(p, "/echo") == 0 && strcmp(m, "POST") == 0) {
        size_t n;
        const uint8_t *b = tl_http_req_body(r, &n);
        tl_http_respond(r, 200, "application/octet-stream", NULL, 0, b, n);
    } else if (strcmp(p, "/slow") == 0) {
        slow *s = calloc(1, sizeof *s);
        s->req = r;
        s->ev = evtimer_new(g_base, slow_fire, s);
        uint64_t ms = 0; /* the query, or 0 */
        tl_dec_parse_range(tl_http_req_query(r), 0, 3600000, &ms);
        struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
        tl_http_req_on_abort(r, slow_abort, s);
        evtimer_add(s->ev, &tv);
    } else if (strcmp(p, "/thread") == 0) {
        pthread_t t;
        pthread_create(&t, NULL, thread_main, r);
        pthread_detach(t);
    } else if (strcmp(p, "/stats") == 0) {
        snprintf(buf, sizeof buf, "aborts %lu\n", g_aborts);
        text(r, 200, buf);
    } else {
        text(r, 404, "not found\n");
    }
}

static void drained(void *ctx)
{
    (void)ctx;
    fprintf(stderr, "testsrv: drained\n");
    event_base_loopexit(g_base, NULL);
}

static void on_signal(evutil_socket_t fd, short w, void *arg)
{
    (void)fd;
    (void)w;
    (void)arg;
    fprintf(stderr, "testsrv: draining\n");
    tl_httpd_drain(g_h, drained, NULL);
}

int main(int argc, char **argv)
{
    tl_httpd_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.listen = "127.0.0.1:0";
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        uint64_t n = 0;
        int num = tl_dec_parse_range(v, 0, UINT32_MAX, &n) == TL_OK;
        if (!strcmp(k, "--listen"))
            cfg.listen = v;
        else if (!strcmp(k, "--tls-cert"))
            cfg.tls_cert = v;
        else if (!strcmp(k, "--tls-key"))
            cfg.tls_key = v;
        else if (!strcmp(k, "--max-body") && num)
            cfg.max_body = (size_t)n;
        else if (!strcmp(k, "--max-streams") && num)
            cfg.max_streams = (unsigned)n;
        else if (!strcmp(k, "--max-header") && num)
            cfg.max_header_bytes = (size_t)n;
        else if (!strcmp(k, "--max-conns") && num)
            cfg.max_conns = (unsigned)n;
        else if (!strcmp(k, "--handshake-ms") && num)
            cfg.handshake_timeout_ms = (unsigned)n;
        else if (!strcmp(k, "--preface-ms") && num)
            cfg.preface_timeout_ms = (unsigned)n;
        else if (!strcmp(k, "--header-ms") && num)
            cfg.header_timeout_ms = (unsigned)n;
        else if (!strcmp(k, "--body-ms") && num)
            cfg.body_timeout_ms = (unsigned)n;
        else if (!strcmp(k, "--idle-ms") && num)
            cfg.idle_timeout_ms = (unsigned)n;
        else if (!strcmp(k, "--body-min-rate") && num)
            cfg.body_min_rate = (unsigned)n;
        else {
            fprintf(stderr, "testsrv: unknown flag or bad value: %s %s\n", k, v);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    evthread_use_pthreads();
    g_base = event_base_new();
    char err[256];
    if (tl_httpd_new(g_base, &cfg, handler, NULL, &g_h, err, sizeof err) != 0) {
        fprintf(stderr, "testsrv: %s\n", err);
        return 1;
    }
    printf("port %d\n", tl_httpd_port(g_h));
    fflush(stdout);
    struct event *s1 = evsignal_new(g_base, SIGTERM, on_signal, NULL);
    struct event *s2 = evsignal_new(g_base, SIGINT, on_signal, NULL);
    evsignal_add(s1, NULL);
    evsignal_add(s2, NULL);
    event_base_dispatch(g_base);
    event_free(s1);
    event_free(s2);
    tl_httpd_free(g_h);
    event_base_free(g_base);
    return 0;
}
