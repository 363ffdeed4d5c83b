/*
 * tlogd.c - the log program (CONTRACT.md "tlogd"):
 *   tlogd init --dir DIR --origin ORIGIN [--kind blob]
 *   tlogd serve --dir DIR [--listen HOST:PORT] [--tls-cert F --tls-key F]
 *               [--policy FILE [--witness-ca FILE]] [--batch-max N] [--batch-interval MS]
 *               [--max-entry BYTES] [limits, see --help]
 * Options may come before or after the command. Bad usage: exit 2 with one
 * line on stderr. serve logs one line per event to stderr; SIGTERM/SIGINT
 * stop accepting, finish in-flight requests and the current batch, exit 0.
 */
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "common/cafile.h"
#include "common/dec.h"
#include "common/err.h"
#include "common/version.h"
#include "frontend/frontend.h"
#include "log/cosigner.h"
#include "http/httpd.h"
#include "log/log.h"
#include "signer/policy.h"

static const char usage_text[] =
    "usage: tlogd init --dir DIR --origin ORIGIN [--kind KIND]\n"
    "       tlogd serve --dir DIR [options]\n"
    "\n"
    "init creates DIR with the log's database and keys and prints the verifier key;\n"
    "  --kind fixes what the entries are, for good (blob: opaque bytes, the default).\n"
    "serve runs the log and its HTTP API (HTTP/2 + TLS, h2c, HTTP/1.1).\n"
    "\n"
    "serve options:\n"
    "  --listen HOST:PORT          listen address (default 127.0.0.1:8080)\n"
    "  --tls-cert FILE --tls-key FILE  serve TLS (ALPN h2, http/1.1)\n"
    "  --policy FILE               C2SP tlog-policy: witnesses and quorum\n"
    "  --witness-ca FILE           PEM CA certificates that verify https:// witnesses\n"
    "                              (default: the system store)\n"
    "  --batch-max N               entries per sequenced batch (default 4096)\n"
    "  --batch-interval MS         max wait to fill a batch (default 25)\n"
    "  --max-entry BYTES           largest entry, 1..65535 (default 65535)\n"
    "  --pool-max N                pending entries before 503 (default 16384)\n"
    "  --add-timeout MS            POST /add wait for publication (default 30000)\n"
    "  --get-entries-max N         entries per get-entries call (default 1000)\n"
    "  --max-conns N               open connections (default 10000)\n"
    "  --max-streams N             HTTP/2 streams per connection (default 100)\n"
    "  --max-header-bytes N        request header bytes (default 16384)\n"
    "  --handshake-timeout MS      TLS handshake deadline (default 10000)\n"
    "  --preface-timeout MS        first bytes deadline (default 10000)\n"
    "  --header-timeout MS         request head deadline (default 10000)\n"
    "  --body-timeout MS           request body deadline (default 30000)\n"
    "  --body-min-rate BYTES/S     slowest request body after 5 s (default 1024)\n"
    "  --idle-timeout MS           idle connection deadline (default 120000)\n"
    "  --help, --version\n";

enum {
    O_DIR = 1,
    O_ORIGIN,
    O_KIND,
    O_LISTEN,
    O_CERT,
    O_KEY,
    O_POLICY,
    O_BATCH_MAX,
    O_BATCH_INT,
    O_MAX_ENTRY,
    O_POOL_MAX,
    O_ADD_TIMEOUT,
    O_GE_MAX,
    O_MAX_CONNS,
    O_MAX_STREAMS,
    O_MAX_HDR,
    O_HS_TO,
    O_PREFACE_TO,
    O_HDR_TO,
    O_BODY_TO,
    O_IDLE_TO,
    O_BODY_RATE,
    O_WITNESS_CA,
    O_HELP,
    O_VERSION
};

static const struct option longopts[] = {
    {"dir", required_argument, 0, O_DIR},
    {"origin", required_argument, 0, O_ORIGIN},
    {"kind", required_argument, 0, O_KIND},
    {"listen", required_argument, 0, O_LISTEN},
    {"tls-cert", required_argument, 0, O_CERT},
    {"tls-key", required_argument, 0, O_KEY},
    {"policy", required_argument, 0, O_POLICY},
    {"witness-ca", required_argument, 0, O_WITNESS_CA},
    {"batch-max", required_argument, 0, O_BATCH_MAX},
    {"batch-interval", required_argument, 0, O_BATCH_INT},
    {"max-entry", required_argument, 0, O_MAX_ENTRY},
    {"pool-max", required_argument, 0, O_POOL_MAX},
    {"add-timeout", required_argument, 0, O_ADD_TIMEOUT},
    {"get-entries-max", required_argument, 0, O_GE_MAX},
    {"max-conns", required_argument, 0, O_MAX_CONNS},
    {"max-streams", required_argument, 0, O_MAX_STREAMS},
    {"max-header-bytes", required_argument, 0, O_MAX_HDR},
    {"handshake-timeout", required_argument, 0, O_HS_TO},
    {"preface-timeout", required_argument, 0, O_PREFACE_TO},
    {"header-timeout", required_argument, 0, O_HDR_TO},
    {"body-timeout", required_argument, 0, O_BODY_TO},
    {"idle-timeout", required_argument, 0, O_IDLE_TO},
    {"body-min-rate", required_argument, 0, O_BODY_RATE},
    {"help", no_argument, 0, O_HELP},
    {"version", no_argument, 0, O_VERSION},
    {0, 0, 0, 0},
};

typedef struct opts {
    const char *dir, *origin, *policy;
    const char *kind;       /* init --kind, or NULL for blob */
    const char *witness_ca; /* --witness-ca, or NULL for the system store */
    tl_httpd_config http;
    tl_log_config log;
    tl_frontend_config api;
} opts;

static int bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "tlogd: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see tlogd --help)\n");
    return 2;
}

/* The kinds this tlogd knows, "a|b|c" (static). */
static const char *kind_names(void)
{
    static char names[128];
    size_t n = 0;
    for (size_t i = 0; tl_kinds[i] && n + TL_KIND_NAME_MAX + 2 < sizeof names; i++)
        n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? "|" : "", tl_kinds[i]->name);
    return names;
}

/* ---- serve --------------------------------------------------------------- */

typedef struct server {
    struct event_base *base;
    tl_httpd *httpd;
    tl_frontend *api;
    int signals;
    struct event *hard_stop;
    unsigned add_timeout_ms;
} server;

static void drained(void *ctx)
{
    server *s = ctx;
    fprintf(stderr, "tlogd: all in-flight requests answered\n");
    event_base_loopexit(s->base, NULL);
}

static void hard_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    server *s = arg;
    fprintf(stderr, "tlogd: drain deadline passed; answering waiting adds with 503\n");
    tl_frontend_fail_waiters(s->api);
    event_base_loopexit(s->base, NULL);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    server *s = arg;
    if (s->signals++ == 0) {
        fprintf(stderr, "tlogd: %s: no longer accepting; finishing in-flight requests\n",
                sig == SIGTERM ? "SIGTERM" : "SIGINT");
        /* Waiting adds time out by themselves; this is only a backstop. */
        s->hard_stop = evtimer_new(s->base, hard_stop_cb, s);
        if (s->hard_stop) {
            struct timeval tv = {(time_t)(s->add_timeout_ms / 1000) + 5, 0};
            evtimer_add(s->hard_stop, &tv);
        }
        tl_httpd_drain(s->httpd, drained, s);
    } else {
        fprintf(stderr, "tlogd: second signal: stopping now\n");
        tl_frontend_fail_waiters(s->api);
        event_base_loopexit(s->base, NULL);
    }
}

static int serve(opts *o)
{
    char err[256];
    tl_policy *policy = NULL;
    tl_log *log = NULL;
    tl_cosigner *cos = NULL;
    server s;
    memset(&s, 0, sizeof s);
    s.add_timeout_ms = o->api.add_timeout_ms ? o->api.add_timeout_ms : 30000;
    int rc = 1;
    struct event *sigs[2] = {NULL, NULL};

    signal(SIGPIPE, SIG_IGN);
    /* The epoll changelist folds the EPOLLOUT that a TLS bufferevent drops
     * after a write and takes back for the next answer in the same loop
     * pass into no epoll_ctl at all (two per connection and pass without).
     * Its caveat, dup()ed descriptors in one base, does not apply here. */
    struct event_config *ecfg = event_config_new();
    if (ecfg)
        event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    if (evthread_use_pthreads() != 0 || !ecfg || !(s.base = event_base_new_with_config(ecfg))) {
        if (ecfg)
            event_config_free(ecfg);
        fprintf(stderr, "tlogd: cannot set up the event loop\n");
        return 1;
    }
    event_config_free(ecfg);
    if (o->policy && tl_policy_load(o->policy, &policy, err, sizeof err) != TL_OK) {
        fprintf(stderr, "tlogd: policy %s: %s\n", o->policy, err);
        goto out;
    }
    o->log.dir = o->dir;
    o->log.publish_on_sign = policy == NULL;
    if (tl_log_open(&o->log, &log, err, sizeof err) != TL_OK) {
        fprintf(stderr, "tlogd: %s\n", err);
        goto out;
    }
    fprintf(stderr, "tlogd: opened log %s in %s\n", tl_log_origin(log), o->dir);
    if (policy) {
        if (tl_cosigner_start(log, policy, o->witness_ca, &cos, err, sizeof err) != TL_OK) {
            fprintf(stderr, "tlogd: policy %s: %s\n", o->policy, err);
            goto out;
        }
        fprintf(stderr, "tlogd: witnessing per policy %s (%zu witnesses; TLS trust: %s)\n",
                o->policy, tl_policy_nwitnesses(policy),
                o->witness_ca ? o->witness_ca : "the system store");
    }
    o->api.log = log;
    o->api.cosigner = cos;
    o->api.kind = tl_log_kind(log)->name;
    if (tl_frontend_new(&o->api, s.base, &s.api) != TL_OK) {
        fprintf(stderr, "tlogd: cannot set up the API\n");
        goto out;
    }
    if (tl_httpd_new(s.base, &o->http, tl_frontend_handle, s.api, &s.httpd, err, sizeof err) !=
        TL_OK) {
        fprintf(stderr, "tlogd: %s\n", err);
        goto out;
    }
    tl_frontend_set_httpd(s.api, s.httpd);
    sigs[0] = evsignal_new(s.base, SIGTERM, on_signal, &s);
    sigs[1] = evsignal_new(s.base, SIGINT, on_signal, &s);
    if (!sigs[0] || !sigs[1] || evsignal_add(sigs[0], NULL) || evsignal_add(sigs[1], NULL)) {
        fprintf(stderr, "tlogd: cannot install signal handlers\n");
        goto out;
    }
    fprintf(stderr, "tlogd: serving %s on %s://%s (port %d)\n", tl_log_origin(log),
            o->http.tls_cert ? "https" : "http", o->http.listen, tl_httpd_port(s.httpd));
    event_base_dispatch(s.base);
    rc = 0;
out:
    if (s.hard_stop)
        event_free(s.hard_stop);
    for (int i = 0; i < 2; i++)
        if (sigs[i])
            event_free(sigs[i]);
    if (cos)
        tl_cosigner_stop(cos);
    if (log) {
        tl_log_close(log); /* finishes the current batch */
        fprintf(stderr, "tlogd: log closed\n");
    }
    tl_httpd_free(s.httpd);
    tl_frontend_free(s.api);
    if (policy)
        tl_policy_free(policy);
    event_base_free(s.base);
    if (rc == 0)
        fprintf(stderr, "tlogd: stopped\n");
    return rc;
}

/* ---- main ---------------------------------------------------------------- */

int main(int argc, char **argv)
{
    opts o;
    tl_log_process_setup();
    memset(&o, 0, sizeof o);
    o.http.listen = "127.0.0.1:8080";
    o.log.max_entry = 65535;
    const char *cmd = NULL;
    uint64_t v;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, ":", longopts, NULL);
        if (c == -1)
            break;
        const char *a = optarg;
        switch (c) {
        case O_HELP:
            fputs(usage_text, stdout);
            return 0;
        case O_VERSION:
            printf("tlogd %s\n", TL_VERSION);
            return 0;
        case O_DIR:
            o.dir = a;
            break;
        case O_ORIGIN:
            o.origin = a;
            break;
        case O_KIND:
            o.kind = a;
            break;
        case O_LISTEN:
            o.http.listen = a;
            break;
        case O_CERT:
            o.http.tls_cert = a;
            break;
        case O_KEY:
            o.http.tls_key = a;
            break;
        case O_POLICY:
            o.policy = a;
            break;
        case O_WITNESS_CA:
            o.witness_ca = a;
            break;
#define NUMOPT(code, name, lo, hi, dst)                                                            \
    case code:                                                                                     \
        if (tl_dec_parse_range(a, lo, hi, &v) != TL_OK)                                            \
            return bad_usage("--" name " must be a number in " #lo ".." #hi ", not '%s'", a);      \
        dst = v;                                                                                   \
        break;
            NUMOPT(O_BATCH_MAX, "batch-max", 1, 1000000, o.log.batch_max)
            NUMOPT(O_BATCH_INT, "batch-interval", 1, 60000, o.log.batch_interval_ms)
            NUMOPT(O_MAX_ENTRY, "max-entry", 1, 65535, o.log.max_entry)
            NUMOPT(O_POOL_MAX, "pool-max", 1, 100000000, o.log.pool_max)
            NUMOPT(O_ADD_TIMEOUT, "add-timeout", 1, 3600000, o.api.add_timeout_ms)
            NUMOPT(O_GE_MAX, "get-entries-max", 1, 100000, o.api.get_entries_max)
            NUMOPT(O_MAX_CONNS, "max-conns", 1, 1000000, o.http.max_conns)
            NUMOPT(O_MAX_STREAMS, "max-streams", 1, 10000, o.http.max_streams)
            NUMOPT(O_MAX_HDR, "max-header-bytes", 1024, 1048576, o.http.max_header_bytes)
            NUMOPT(O_HS_TO, "handshake-timeout", 1, 3600000, o.http.handshake_timeout_ms)
            NUMOPT(O_PREFACE_TO, "preface-timeout", 1, 3600000, o.http.preface_timeout_ms)
            NUMOPT(O_HDR_TO, "header-timeout", 1, 3600000, o.http.header_timeout_ms)
            NUMOPT(O_BODY_TO, "body-timeout", 1, 3600000, o.http.body_timeout_ms)
            NUMOPT(O_IDLE_TO, "idle-timeout", 1, 86400000, o.http.idle_timeout_ms)
            NUMOPT(O_BODY_RATE, "body-min-rate", 1, 1000000000, o.http.body_min_rate)
#undef NUMOPT
        case ':':
            return bad_usage("option %s needs a value", argv[optind - 1]);
        default:
            return bad_usage("unknown option %s", argv[optind - 1]);
        }
    }
    for (int i = optind; i < argc; i++) {
        if (cmd)
            return bad_usage("unexpected argument '%s'", argv[i]);
        cmd = argv[i];
    }
    if (!cmd)
        return bad_usage("%s", "missing command (init or serve)");
    if (strcmp(cmd, "init") == 0) {
        if (!o.dir)
            return bad_usage("%s", "init needs --dir DIR");
        if (!o.origin || !*o.origin)
            return bad_usage("%s", "init needs --origin ORIGIN");
        if (o.kind && !tl_kind_find(o.kind))
            return bad_usage("--kind must be one of the kinds this tlogd knows (%s)", kind_names());
        char err[256] = "";
        char *vkey = NULL;
        if (tl_log_create(o.dir, o.origin, o.kind, &vkey, err, sizeof err) != TL_OK) {
            fprintf(stderr, "tlogd: init: %s\n", err);
            return 1;
        }
        printf("%s\n", vkey);
        free(vkey);
        return 0;
    }
    if (strcmp(cmd, "serve") == 0) {
        if (!o.dir)
            return bad_usage("%s", "serve needs --dir DIR");
        if (o.origin)
            return bad_usage("%s", "--origin is only for init");
        if (o.kind)
            return bad_usage("%s", "--kind is only for init (serve reads it from the log)");
        const char *colon = strrchr(o.http.listen, ':');
        if (!colon || colon == o.http.listen ||
            tl_dec_parse_range(colon + 1, 0, 65535, &v) != TL_OK)
            return bad_usage("--listen wants HOST:PORT, not '%s'", o.http.listen);
        if ((o.http.tls_cert == NULL) != (o.http.tls_key == NULL))
            return bad_usage("%s", "--tls-cert and --tls-key go together");
        if (o.witness_ca && !o.policy)
            return bad_usage("%s", "--witness-ca is only for --policy (the witnesses' URLs)");
        char err[256];
        if (o.witness_ca && tl_cafile_check(o.witness_ca, err, sizeof err) != TL_OK)
            return bad_usage("--witness-ca %s", err);
        o.http.max_body = o.log.max_entry;
        o.api.max_entry = o.log.max_entry;
        return serve(&o);
    }
    return bad_usage("unknown command '%s' (want init or serve)", cmd);
}
