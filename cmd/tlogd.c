/*
 * tlogd.c - the log program (CONTRACT.md "tlogd"):
 *   tlogd init --dir DIR --origin ORIGIN [--kind blob] [--keys SRCDIR]
 *   tlogd serve --dir DIR [--listen HOST:PORT] [--tls-cert F --tls-key F]
 *               [--policy FILE [--witness-ca FILE]] [--batch-max N] [--batch-interval MS]
 *               [--max-entry BYTES] [--publish URL ... [--s3-endpoint URL]
 *               [--publish-before-answer]] [limits, see --help]
 *   tlogd token add --dir DIR --name NAME --role writer|reader|admin
 *   tlogd token list --dir DIR
 *   tlogd token revoke --dir DIR --name NAME
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
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/crypto.h>

#include "audit/event.h"
#include "common/cafile.h"
#include "common/dec.h"
#include "common/err.h"
#include "common/version.h"
#include "frontend/frontend.h"
#include "frontend/tokens.h"
#include "log/consensus.h"
#include "log/cosigner.h"
#include "http/httpd.h"
#include "log/kind_audit.h"
#include "log/log.h"
#include "log/ha.h"
#include "log/publish.h"
#include "log/tilestore.h"
#include "signer/checkpoint.h"
#include "signer/policy.h"

static const char usage_text[] =
    "usage: tlogd init --dir DIR --origin ORIGIN [--kind KIND] [--closes-at TIME]\n"
    "                  [--keys SRCDIR]\n"
    "       tlogd close --dir DIR [--at TIME]\n"
    "       tlogd serve --dir DIR [--dir DIR ...] [options]\n"
    "       tlogd token add --dir DIR --name NAME --role writer|reader|admin\n"
    "       tlogd token list --dir DIR\n"
    "       tlogd token revoke --dir DIR --name NAME\n"
    "\n"
    "init creates DIR with the log's database and keys and prints the verifier key;\n"
    "  --kind fixes what the entries are, for good (blob: opaque bytes, the default);\n"
    "  --closes-at makes it a temporal shard: from TIME (RFC 3339) on it takes no\n"
    "  entries and its last checkpoint is final (reads go on);\n"
    "  --keys SRCDIR copies the keys of an existing log (log.key, log.vkey,\n"
    "  rfc6962.key, rfc6962.pub) instead of making new ones: a new node of that\n"
    "  log, which serve --etcd rebuilds from the journal (docs/HA.md).\n"
    "close closes a log that is not being served: now, or at --at TIME.\n"
    "serve runs the log and its HTTP API (HTTP/2 + TLS, h2c, HTTP/1.1); with several\n"
    "  --dir, each log is served under the URL prefix of its origin's path.\n"
    "token manages DIR/tokens, the bearer tokens of an audit log: add prints a new\n"
    "  token once (only its SHA-256 is kept), list prints names and roles, revoke\n"
    "  removes one; a running serve picks changes up within a second.\n"
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
    "audit logs (--kind audit):\n"
    "  --max-event BYTES           largest canonical event (default 131072)\n"
    "  --max-batch N               events per POST /audit/v1/events (default 1000)\n"
    "  --anonymous-writes          anyone may submit events\n"
    "  --public-events             anyone may read and query events\n"
    "  --syslog-listen HOST:PORT   syslog over TCP (RFC 6587), one event a message\n"
    "  --syslog-tls-listen HOST:PORT  syslog over TLS (RFC 5425)\n"
    "  --syslog-tls-cert FILE --syslog-tls-key FILE  its certificate (default:\n"
    "                              --tls-cert and --tls-key)\n"
    "  --syslog-client-ca FILE     require client certificates these CAs verify;\n"
    "                              the submitter is then @tls:<subject CN>\n"
    "  --relp-listen HOST:PORT     RELP (rsyslog omrelp), acknowledged after commit\n"
    "  --syslog-frame-timeout MS   a half frame's deadline (default 10000)\n"
    "  --syslog-max-conns N        open syslog connections (default 1000)\n"
    "  --map-workers N             threads mapping EventLists and syslog frames\n"
    "                              (default 2; 0: on the event loop)\n"
    "  --pool-max N                pending entries before 503 (default 16384)\n"
    "  --add-timeout MS            POST /add wait for publication (default 30000)\n"
    "  --publish URL               copy the tiles and checkpoint to file:///DIR or\n"
    "                              s3://BUCKET[/PREFIX] (repeatable; docs/PUBLISH.md)\n"
    "  --s3-endpoint URL           the S3-compatible server of s3:// (default AWS)\n"
    "  --publish-before-answer     POST /add answers once every --publish origin holds\n"
    "                              a checkpoint covering the entry\n"
    "  --publish-queue-max N       entries a --publish origin may lag before POST /add\n"
    "                              answers 503 (default 65536)\n"
    "  --etcd URL[,URL...]         high availability through etcd v3 (docs/HA.md): one\n"
    "                              node sequences, the others stand by; needs --node,\n"
    "                              --publish, and implies --publish-before-answer\n"
    "  --node NAME                 this node's name in etcd\n"
    "  --private-store URL         file:///DIR or s3://BUCKET[/PREFIX], never public: the\n"
    "                              journal of batches (audit event bodies and salts);\n"
    "                              required for audit logs with --etcd\n"
    "  --lease MS                  the leader's lease (default 1000)\n"
    "  --standby                   follow the leader, never lead\n"
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
    O_NAME,
    O_ROLE,
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
    O_MAX_EVENT,
    O_MAX_BATCH,
    O_ANON_WRITES,
    O_PUBLIC_EVENTS,
    O_PUBLISH,
    O_S3_ENDPOINT,
    O_PUBLISH_BEFORE,
    O_PUBLISH_QMAX,
    O_ETCD,
    O_NODE,
    O_PRIVATE,
    O_LEASE,
    O_STANDBY,
    O_CLOSES_AT,
    O_AT,
    O_KEYS,
    O_SYSLOG_LISTEN,
    O_SYSLOG_TLS_LISTEN,
    O_SYSLOG_CERT,
    O_SYSLOG_KEY,
    O_SYSLOG_CA,
    O_SYSLOG_FRAME_TO,
    O_SYSLOG_MAX_CONNS,
    O_MAP_WORKERS,
    O_RELP_LISTEN,
    O_HELP,
    O_VERSION
};

static const struct option longopts[] = {
    {"dir", required_argument, 0, O_DIR},
    {"origin", required_argument, 0, O_ORIGIN},
    {"kind", required_argument, 0, O_KIND},
    {"name", required_argument, 0, O_NAME},
    {"role", required_argument, 0, O_ROLE},
    {"listen", required_argument, 0, O_LISTEN},
    {"tls-cert", required_argument, 0, O_CERT},
    {"tls-key", required_argument, 0, O_KEY},
    {"policy", required_argument, 0, O_POLICY},
    {"witness-ca", required_argument, 0, O_WITNESS_CA},
    {"max-event", required_argument, 0, O_MAX_EVENT},
    {"max-batch", required_argument, 0, O_MAX_BATCH},
    {"anonymous-writes", no_argument, 0, O_ANON_WRITES},
    {"public-events", no_argument, 0, O_PUBLIC_EVENTS},
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
    {"publish", required_argument, 0, O_PUBLISH},
    {"s3-endpoint", required_argument, 0, O_S3_ENDPOINT},
    {"publish-before-answer", no_argument, 0, O_PUBLISH_BEFORE},
    {"publish-queue-max", required_argument, 0, O_PUBLISH_QMAX},
    {"etcd", required_argument, 0, O_ETCD},
    {"node", required_argument, 0, O_NODE},
    {"private-store", required_argument, 0, O_PRIVATE},
    {"lease", required_argument, 0, O_LEASE},
    {"standby", no_argument, 0, O_STANDBY},
    {"body-min-rate", required_argument, 0, O_BODY_RATE},
    {"closes-at", required_argument, 0, O_CLOSES_AT},
    {"at", required_argument, 0, O_AT},
    {"keys", required_argument, 0, O_KEYS},
    {"syslog-listen", required_argument, 0, O_SYSLOG_LISTEN},
    {"syslog-tls-listen", required_argument, 0, O_SYSLOG_TLS_LISTEN},
    {"syslog-tls-cert", required_argument, 0, O_SYSLOG_CERT},
    {"syslog-tls-key", required_argument, 0, O_SYSLOG_KEY},
    {"syslog-client-ca", required_argument, 0, O_SYSLOG_CA},
    {"syslog-frame-timeout", required_argument, 0, O_SYSLOG_FRAME_TO},
    {"syslog-max-conns", required_argument, 0, O_SYSLOG_MAX_CONNS},
    {"map-workers", required_argument, 0, O_MAP_WORKERS},
    {"relp-listen", required_argument, 0, O_RELP_LISTEN},
    {"help", no_argument, 0, O_HELP},
    {"version", no_argument, 0, O_VERSION},
    {0, 0, 0, 0},
};

#define MAX_LOGS 64
typedef struct opts {
    const char *dir, *origin, *policy;
    const char *dirs[MAX_LOGS]; /* serve: every --dir */
    size_t ndirs;
    /* token: --name (add, revoke), --role (add) */
    const char *name, *role;
    const char *kind;       /* init --kind, or NULL for blob */
    const char *closes_at;  /* init --closes-at, close --at: RFC 3339, or NULL */
    const char *at_opt;     /* which of the two was given (for the usage checks) */
    const char *keys;       /* init --keys: the folder whose keys the new log takes */
    const char *witness_ca; /* --witness-ca, or NULL for the system store */
#define MAX_PUBLISH 8
    const char *publish[MAX_PUBLISH]; /* --publish URLs */
    size_t npublish;
    const char *s3_endpoint;
    uint64_t publish_qmax;                   /* 0: the default */
    const char *etcd, *node, *private_store; /* high availability (docs/HA.md) */
    uint64_t lease_ms;
    int standby;
    tl_httpd_config http;
    tl_log_config log;
    tl_frontend_config api;
    tl_syslog_config syslog; /* --syslog-* (frontend/syslog.c) */
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

/* One log of a serve: its parts, opened and closed together. */
typedef struct served {
    const char *dir;
    tl_log_config log_cfg;
    tl_frontend_config api_cfg;
    char *policy_path; /* DIR/policy when present, else --policy (borrowed) */
    int own_policy;    /* policy_path is DIR/policy (malloc'd) */
    tl_policy *policy;
    tl_log *log;
    tl_cosigner *cos;
    tl_tilestore *stores[MAX_PUBLISH];
    size_t nstores;
    tl_publisher *pub;
    tl_frontend *api;
    char prefix[TL_ORIGIN_MAX + 2]; /* "/path" of the origin; "" when serving one log */
    size_t prefix_len;
} served;

typedef struct server {
    struct event_base *base;
    tl_httpd *httpd;
    served logs[MAX_LOGS];
    size_t nlogs;
    int signals;
    struct event *hard_stop;
    unsigned add_timeout_ms;
} server;

static void fail_waiters(server *s)
{
    for (size_t i = 0; i < s->nlogs; i++)
        if (s->logs[i].api)
            tl_frontend_fail_waiters(s->logs[i].api);
}

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
    fail_waiters(s);
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
        for (size_t i = 0; i < s->nlogs; i++)
            tl_frontend_syslog_stop(s->logs[i].api);
        tl_httpd_drain(s->httpd, drained, s);
    } else {
        fprintf(stderr, "tlogd: second signal: stopping now\n");
        fail_waiters(s);
        event_base_loopexit(s->base, NULL);
    }
}

/*
 * Requests go to the log whose URL prefix starts their path (the longest
 * one; docs/USAGE.md, "Several logs in one process"); the prefix is cut
 * off, so each log answers exactly as it does alone. One log: no prefix.
 */
static void route_request(void *ctx, tl_http_req *r)
{
    server *s = ctx;
    if (s->nlogs == 1) {
        tl_frontend_handle(s->logs[0].api, r);
        return;
    }
    const char *p = tl_http_req_path(r);
    served *best = NULL;
    for (size_t i = 0; i < s->nlogs; i++) {
        served *l = &s->logs[i];
        if (strncmp(p, l->prefix, l->prefix_len) == 0 && p[l->prefix_len] == '/' &&
            (!best || l->prefix_len > best->prefix_len))
            best = l;
    }
    if (best) {
        tl_http_req_strip_path(r, best->prefix_len);
        tl_frontend_handle(best->api, r);
        return;
    }
    char msg[160 + MAX_LOGS * 48];
    size_t n = (size_t)snprintf(msg, 160, "no log at %.100s; this server's logs are under:", p);
    for (size_t i = 0; i < s->nlogs && n < sizeof msg; i++)
        n += (size_t)snprintf(msg + n, sizeof msg - n, " %.40s/", s->logs[i].prefix);
    if (n >= sizeof msg - 1)
        n = sizeof msg - 2;
    msg[n++] = '\n';
    tl_http_respond(r, 404, "text/plain; charset=utf-8", NULL, 0, msg, n);
}

/* The journal store and the controller of --etcd; the guard goes into the
 * log's config (docs/HA.md). */
static int open_ha(opts *o, tl_log_config *lc, tl_tilestore **journal, tl_ha **ha)
{
    char err[256];
    tl_consensus *c1 = NULL, *c2 = NULL;
    unsigned lease = o->lease_ms ? (unsigned)o->lease_ms : 1000;
    const char *url = o->private_store ? o->private_store : o->publish[0];
    if (tl_tilestore_open_url(url, o->s3_endpoint, journal, err, sizeof err) != TL_OK) {
        fprintf(stderr, "tlogd: %s %s: %s\n", o->private_store ? "--private-store" : "--publish",
                url, err);
        return 1;
    }
    /* a request waits at most half a lease: a leader that cannot reach etcd
     * stands by before its lease can have passed to another node */
    if (tl_cons_open_etcd(o->etcd, lease / 2, &c1, err, sizeof err) != TL_OK ||
        tl_cons_open_etcd(o->etcd, lease / 2, &c2, err, sizeof err) != TL_OK) {
        tl_cons_close(c1);
        fprintf(stderr, "tlogd: --etcd: %s\n", err);
        return 1;
    }
    tl_ha_config hc = {o->node, NULL, lease, c1, c2, *journal, o->standby};
    if (tl_ha_new(&hc, ha, err, sizeof err) != TL_OK) {
        fprintf(stderr, "tlogd: --etcd: %s\n", err);
        return 1;
    }
    lc->guard = tl_ha_guard(*ha);
    lc->standby = 1;
    return 0;
}

/* The URL prefix of a log served beside others: its origin's path after
 * the host ("example.com/audit-2027h1" → "/audit-2027h1"). */
static int origin_prefix(served *l, char *err, size_t cap)
{
    const char *origin = tl_log_origin(l->log);
    const char *slash = strchr(origin, '/');
    size_t n = slash ? strlen(slash) : 0;
    while (n > 0 && slash[n - 1] == '/')
        n--;
    if (n == 0) {
        snprintf(err, cap,
                 "%s: origin %.100s has no path after its host, so it has no URL prefix "
                 "beside other logs",
                 l->dir, origin);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)slash[i];
        if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#' || c == '%') {
            snprintf(err, cap, "%s: origin %.100s: its path is not usable as a URL prefix", l->dir,
                     origin);
            return -1;
        }
    }
    memcpy(l->prefix, slash, n);
    l->prefix[n] = 0;
    l->prefix_len = n;
    return 0;
}

/* Opens one log and everything it runs with; messages on stderr. */
static int open_served(opts *o, served *l, tl_ha *ha, int several, struct event_base *base)
{
    char err[256];
    if (l->policy_path && tl_policy_load(l->policy_path, &l->policy, err, sizeof err) != TL_OK) {
        fprintf(stderr, "tlogd: policy %s: %s\n", l->policy_path, err);
        return 1;
    }
    l->log_cfg.dir = l->dir;
    l->log_cfg.publish_on_sign = l->policy == NULL;
    if (tl_log_open(&l->log_cfg, &l->log, err, sizeof err) != TL_OK) {
        fprintf(stderr, "tlogd: %s\n", err);
        return 1;
    }
    int audit = tl_log_kind(l->log) == &tl_kind_audit;
    if (ha && audit && !o->private_store) {
        fprintf(stderr, "tlogd: an audit log with --etcd needs --private-store: its journal "
                        "holds event bodies and salts, which must not be public\n");
        return 1;
    }
    fprintf(stderr, "tlogd: opened log %s (%s) in %s\n", tl_log_origin(l->log),
            tl_log_kind(l->log)->name, l->dir);
    if (tl_log_closes_at(l->log)) {
        char t[25];
        tl_audit_time_format((int64_t)tl_log_closes_at(l->log), t);
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int closed = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000 >=
                     tl_log_closes_at(l->log);
        fprintf(stderr, "tlogd: %s: %s at %s%s\n", tl_log_origin(l->log),
                closed ? "closed" : "closes", t,
                closed ? ": read-only, its last checkpoint is final" : "");
    }
    if (audit) {
        /* a batch of events is up to 16 MiB; a blob log keeps --max-entry */
        o->http.max_body = 16u << 20;
    } else if ((o->api.max_event || o->api.max_batch || o->api.anonymous_writes ||
                o->api.public_events) &&
               !several) {
        fprintf(stderr,
                "tlogd: --max-event, --max-batch, --anonymous-writes and "
                "--public-events are for audit logs; this one is %s\n",
                tl_log_kind(l->log)->name);
        return 1;
    }
    if (several && origin_prefix(l, err, sizeof err) != 0) {
        fprintf(stderr, "tlogd: %s\n", err);
        return 1;
    }
    if (l->policy) {
        if (tl_cosigner_start(l->log, l->policy, o->witness_ca, &l->cos, err, sizeof err) !=
            TL_OK) {
            fprintf(stderr, "tlogd: policy %s: %s\n", l->policy_path, err);
            return 1;
        }
        fprintf(stderr, "tlogd: %s: witnessing per policy %s (%zu witnesses; TLS trust: %s)\n",
                tl_log_origin(l->log), l->policy_path, tl_policy_nwitnesses(l->policy),
                o->witness_ca ? o->witness_ca : "the system store");
    }
    for (size_t i = 0; i < o->npublish; i++) {
        /* beside other logs, each publishes under its URL prefix, so the
         * origin serves the same paths as this server */
        char url[4096];
        size_t n = strlen(o->publish[i]);
        while (n > 0 && o->publish[i][n - 1] == '/')
            n--;
        snprintf(url, sizeof url, "%.*s%s", (int)n, o->publish[i], l->prefix);
        if (tl_tilestore_open_url(url, o->s3_endpoint, &l->stores[i], err, sizeof err) != TL_OK) {
            fprintf(stderr, "tlogd: --publish %s: %s\n", url, err);
            return 1;
        }
        l->nstores++;
    }
    if (l->nstores) {
        if ((ha ? tl_publisher_start_shared : tl_publisher_start)(
                l->log, l->stores, l->nstores, &l->pub, err, sizeof err) != TL_OK) {
            fprintf(stderr, "tlogd: --publish: %s\n", err);
            return 1;
        }
        if (o->publish_qmax)
            tl_publisher_set_queue_max(l->pub, o->publish_qmax);
        for (size_t i = 0; i < l->nstores; i++)
            fprintf(stderr, "tlogd: %s: publishing to %s%s\n", tl_log_origin(l->log),
                    l->stores[i]->name,
                    o->api.publish_before_answer ? " (writes answer once it holds them)" : "");
    }
    l->api_cfg.log = l->log;
    l->api_cfg.cosigner = l->cos;
    l->api_cfg.publisher = l->pub;
    l->api_cfg.ha = ha;
    l->api_cfg.kind = tl_log_kind(l->log)->name;
    l->api_cfg.dir = l->dir;
    if (tl_frontend_new(&l->api_cfg, base, &l->api, err, sizeof err) != TL_OK) {
        fprintf(stderr, "tlogd: %s: cannot set up the API: %s\n", l->dir, err);
        return 1;
    }
    return 0;
}

/* Stops what open_served started, in the order that keeps readers before
 * what they read. The frontend goes after the HTTP server (close_served_api). */
static void close_served(served *l)
{
    tl_publisher_stop(l->pub); /* before the log closes: it reads the log */
    for (size_t i = 0; i < l->nstores; i++)
        tl_tilestore_close(l->stores[i]);
    if (l->cos)
        tl_cosigner_stop(l->cos);
    if (l->log) {
        tl_log_close(l->log); /* finishes the current batch */
        fprintf(stderr, "tlogd: log %s closed\n", l->dir);
    }
}

static void close_served_api(served *l)
{
    tl_frontend_free(l->api);
    if (l->policy)
        tl_policy_free(l->policy);
    if (l->own_policy)
        free(l->policy_path);
}

static int serve(opts *o)
{
    char err[256];
    tl_tilestore *journal = NULL;
    tl_ha *ha = NULL;
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
    int several = o->ndirs > 1;
    if (o->etcd && open_ha(o, &o->log, &journal, &ha) != 0)
        goto out;
    for (size_t i = 0; i < o->ndirs; i++) {
        served *l = &s.logs[s.nlogs++];
        l->dir = o->dirs[i];
        l->log_cfg = o->log;
        l->api_cfg = o->api;
        l->policy_path = (char *)o->policy;
        if (several) {
            /* each log's own DIR/policy, when it has one, else --policy */
            size_t n = strlen(l->dir) + sizeof "/policy";
            char *own = malloc(n);
            if (own == NULL)
                goto out;
            snprintf(own, n, "%s/policy", l->dir);
            if (access(own, F_OK) == 0) {
                l->policy_path = own;
                l->own_policy = 1;
            } else {
                free(own);
            }
        }
        if (open_served(o, l, ha, several, s.base) != 0)
            goto out;
        for (size_t j = 0; j < i; j++)
            if (strcmp(s.logs[j].prefix, l->prefix) == 0) {
                fprintf(stderr, "tlogd: %s and %s have the same URL prefix %s\n", s.logs[j].dir,
                        l->dir, l->prefix);
                goto out;
            }
    }
    if (tl_httpd_new(s.base, &o->http, route_request, &s, &s.httpd, err, sizeof err) != TL_OK) {
        fprintf(stderr, "tlogd: %s\n", err);
        goto out;
    }
    for (size_t i = 0; i < s.nlogs; i++)
        tl_frontend_set_httpd(s.logs[i].api, s.httpd);
    if (o->syslog.listen || o->syslog.tls_listen || o->syslog.relp_listen) {
        if (tl_log_kind(s.logs[0].log) != &tl_kind_audit) {
            fprintf(stderr,
                    "tlogd: --syslog-listen, --syslog-tls-listen and --relp-listen are for "
                    "audit logs; "
                    "this one is %s\n",
                    tl_log_kind(s.logs[0].log)->name);
            rc = 2;
            goto out;
        }
        if (tl_frontend_syslog_start(s.logs[0].api, &o->syslog, err, sizeof err) != TL_OK) {
            fprintf(stderr, "tlogd: %s\n", err);
            goto out;
        }
    }
    if (ha && tl_ha_start(ha, s.logs[0].log, err, sizeof err) != TL_OK) {
        fprintf(stderr, "tlogd: %s\n", err);
        goto out;
    }
    if (ha)
        fprintf(stderr, "tlogd: high availability through etcd %s as node %s%s (journal %s)\n",
                o->etcd, o->node, o->standby ? ", standby only" : "", journal->name);
    sigs[0] = evsignal_new(s.base, SIGTERM, on_signal, &s);
    sigs[1] = evsignal_new(s.base, SIGINT, on_signal, &s);
    if (!sigs[0] || !sigs[1] || evsignal_add(sigs[0], NULL) || evsignal_add(sigs[1], NULL)) {
        fprintf(stderr, "tlogd: cannot install signal handlers\n");
        goto out;
    }
    for (size_t i = 0; i < s.nlogs; i++)
        fprintf(stderr, "tlogd: serving %s on %s://%s%s/ (port %d)\n", tl_log_origin(s.logs[i].log),
                o->http.tls_cert ? "https" : "http", o->http.listen, s.logs[i].prefix,
                tl_httpd_port(s.httpd));
    event_base_dispatch(s.base);
    rc = 0;
out:
    if (s.hard_stop)
        event_free(s.hard_stop);
    for (int i = 0; i < 2; i++)
        if (sigs[i])
            event_free(sigs[i]);
    /* the loop is done: closing the logs finishes their batches, which a
     * late signal (one sent to the process group and forwarded again, say)
     * must not cut short */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    tl_ha_stop(ha); /* no longer renews the lease nor follows */
    for (size_t i = 0; i < s.nlogs; i++)
        close_served(&s.logs[i]);
    tl_ha_free(ha); /* after the log: its guard ran on the sequencer */
    tl_tilestore_close(journal);
    tl_httpd_free(s.httpd);
    for (size_t i = 0; i < s.nlogs; i++)
        close_served_api(&s.logs[i]);
    event_base_free(s.base);
    if (rc == 0)
        fprintf(stderr, "tlogd: stopped\n");
    return rc;
}

/* ---- token --------------------------------------------------------------- */

/* tlogd close --dir DIR [--at TIME]: the log's period ends (now, or at
 * TIME); exit 0, 1 when it cannot (served, closed already), 2 bad usage. */
static int close_cmd(const opts *o, int64_t at)
{
    if (!o->dir)
        return bad_usage("%s", "close needs --dir DIR");
    if (o->origin || o->kind || o->name || o->role)
        return bad_usage("%s", "close takes --dir and --at only");
    if (at == 0) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        at = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    }
    char err[256] = "", t[25];
    uint64_t was = 0;
    int rc = tl_log_set_closes_at(o->dir, (uint64_t)at, &was, err, sizeof err);
    if (rc == TL_ERR_CONFLICT) { /* closed already: nothing to do */
        fprintf(stderr, "tlogd: close: %s: %s\n", o->dir, err);
        return 0;
    }
    if (rc != TL_OK) {
        fprintf(stderr, "tlogd: close: %s\n", err);
        return rc == TL_ERR_INVALID ? 2 : 1;
    }
    tl_audit_time_format(at, t);
    if (was) {
        char w[25];
        tl_audit_time_format((int64_t)was, w);
        fprintf(stderr, "tlogd: close: %s closes at %s (was %s)\n", o->dir, t, w);
    } else {
        fprintf(stderr, "tlogd: close: %s closes at %s\n", o->dir, t);
    }
    return 0;
}

/* tlogd token add|list|revoke: exit 0, 2 for bad usage (a bad or taken
 * name, an unknown one, not a log folder), 1 when the folder could not be
 * read or written. The token goes to stdout alone and nowhere else. */
static int token_cmd(const opts *o, const char *sub)
{
    char err[512] = "";
    int rc;
    if (!sub)
        return bad_usage("%s", "token needs add, list or revoke");
    if (strcmp(sub, "add") != 0 && strcmp(sub, "list") != 0 && strcmp(sub, "revoke") != 0)
        return bad_usage("unknown token command '%s' (want add, list or revoke)", sub);
    if (!o->dir)
        return bad_usage("token %s needs --dir DIR", sub);
    if (o->origin || o->kind || o->policy || o->witness_ca || o->http.tls_cert || o->http.tls_key)
        return bad_usage("%s", "token takes --dir, --name and --role only");
    if (strcmp(sub, "list") == 0) {
        tl_tokens *t;
        if (o->name || o->role)
            return bad_usage("%s", "token list takes --dir only");
        rc = tl_tokens_open(o->dir, &t, err, sizeof err);
        if (rc != TL_OK) {
            fprintf(stderr, "tlogd: token list: %s\n", err);
            return rc == TL_ERR_INVALID ? 2 : 1;
        }
        for (size_t i = 0; i < tl_tokens_count(t); i++) {
            tl_token_role role;
            const char *name = tl_tokens_get(t, i, &role);
            printf("%s %s\n", name, tl_token_role_name(role));
        }
        tl_tokens_free(t);
        return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
    }
    if (!o->name)
        return bad_usage("token %s needs --name NAME", sub);
    if (!tl_token_name_valid(o->name))
        return bad_usage("%s", "--name must be 1 to 64 of A-Za-z0-9._-");
    if (strcmp(sub, "revoke") == 0) {
        if (o->role)
            return bad_usage("%s", "token revoke takes --dir and --name only");
        rc = tl_tokens_revoke(o->dir, o->name, err, sizeof err);
        if (rc != TL_OK) {
            fprintf(stderr, "tlogd: token revoke: %s\n", err);
            return rc == TL_ERR_INVALID || rc == TL_ERR_NOTFOUND ? 2 : 1;
        }
        return 0;
    }
    tl_token_role role;
    if (!o->role)
        return bad_usage("%s", "token add needs --role writer|reader|admin");
    if (tl_token_role_parse(o->role, &role) != TL_OK)
        return bad_usage("--role must be writer, reader or admin, not '%s'", o->role);
    char token[TL_TOKEN_LEN + 1];
    rc = tl_tokens_add(o->dir, o->name, role, token, err, sizeof err);
    if (rc != TL_OK) {
        fprintf(stderr, "tlogd: token add: %s\n", err);
        return rc == TL_ERR_INVALID || rc == TL_ERR_CONFLICT ? 2 : 1;
    }
    int shown = printf("%s\n", token) > 0 && fflush(stdout) == 0 && !ferror(stdout);
    OPENSSL_cleanse(token, sizeof token);
    if (!shown) {
        /* a token nobody saw is one nobody can use: take it back */
        rc = tl_tokens_revoke(o->dir, o->name, err, sizeof err);
        fprintf(stderr, "tlogd: token add: cannot write the token to stdout; %s\n",
                rc == TL_OK ? "it was revoked" : "revoke it");
        return 1;
    }
    return 0;
}

/* ---- main ---------------------------------------------------------------- */

/* ---- syslog (--syslog-*) ------------------------------------------------- */

static int hostport_ok(const char *s)
{
    uint64_t v;
    const char *colon = strrchr(s, ':');
    return colon && colon != s && tl_dec_parse_range(colon + 1, 0, 65535, &v) == TL_OK;
}

/* The --syslog-* flags hold together: 0, or 1 with a reason in err. */
static int syslog_usage(opts *o, char *err, size_t cap)
{
    tl_syslog_config *c = &o->syslog;
    int any = c->listen || c->tls_listen || c->relp_listen;
    err[0] = 0;
    if (!any && (c->tls_cert || c->tls_key || c->client_ca || c->frame_timeout_ms || c->max_conns))
        snprintf(err, cap,
                 "the --syslog-* options need --syslog-listen, --syslog-tls-listen or "
                 "--relp-listen");
    else if (any && o->ndirs > 1)
        snprintf(err, cap, "syslog listeners serve one log: give one --dir");
    else if (c->listen && !hostport_ok(c->listen))
        snprintf(err, cap, "--syslog-listen wants HOST:PORT, not '%.100s'", c->listen);
    else if (c->relp_listen && !hostport_ok(c->relp_listen))
        snprintf(err, cap, "--relp-listen wants HOST:PORT, not '%.100s'", c->relp_listen);
    else if (c->tls_listen && !hostport_ok(c->tls_listen))
        snprintf(err, cap, "--syslog-tls-listen wants HOST:PORT, not '%.100s'", c->tls_listen);
    else if ((c->tls_cert == NULL) != (c->tls_key == NULL))
        snprintf(err, cap, "--syslog-tls-cert and --syslog-tls-key go together");
    else if ((c->tls_cert || c->client_ca) && !c->tls_listen)
        snprintf(err, cap,
                 "--syslog-tls-cert, --syslog-tls-key and --syslog-client-ca are for "
                 "--syslog-tls-listen");
    else if (c->tls_listen && !c->tls_cert && !o->http.tls_cert)
        snprintf(err, cap,
                 "--syslog-tls-listen needs --syslog-tls-cert and --syslog-tls-key "
                 "(or --tls-cert and --tls-key)");
    else if (c->client_ca && tl_cafile_check(c->client_ca, err, cap) != TL_OK) {
        char why[200];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, cap, "--syslog-client-ca %s", why);
    }
    if (err[0])
        return 1;
    if (c->tls_listen && !c->tls_cert) {
        c->tls_cert = o->http.tls_cert;
        c->tls_key = o->http.tls_key;
    }
    return 0;
}

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
            if (o.ndirs == MAX_LOGS)
                return bad_usage("more than %s --dir", "64");
            if (!o.dir)
                o.dir = a;
            o.dirs[o.ndirs++] = a;
            break;
        case O_ORIGIN:
            o.origin = a;
            break;
        case O_KIND:
            o.kind = a;
            break;
        case O_ANON_WRITES:
            o.api.anonymous_writes = 1;
            break;
        case O_PUBLIC_EVENTS:
            o.api.public_events = 1;
            break;
        case O_NAME:
            o.name = a;
            break;
        case O_ROLE:
            o.role = a;
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
        case O_PUBLISH:
            if (o.npublish == MAX_PUBLISH)
                return bad_usage("--publish may be given at most %s times", "8");
            o.publish[o.npublish++] = a;
            break;
        case O_S3_ENDPOINT:
            o.s3_endpoint = a;
            break;
        case O_PUBLISH_BEFORE:
            o.api.publish_before_answer = 1;
            break;
        case O_ETCD:
            o.etcd = a;
            break;
        case O_NODE:
            o.node = a;
            break;
        case O_PRIVATE:
            o.private_store = a;
            break;
        case O_STANDBY:
            o.standby = 1;
            break;
        case O_CLOSES_AT:
        case O_AT:
            o.closes_at = a;
            o.at_opt = c == O_AT ? "--at" : "--closes-at";
            break;
        case O_KEYS:
            o.keys = a;
            break;
        case O_SYSLOG_LISTEN:
            o.syslog.listen = a;
            break;
        case O_SYSLOG_TLS_LISTEN:
            o.syslog.tls_listen = a;
            break;
        case O_SYSLOG_CERT:
            o.syslog.tls_cert = a;
            break;
        case O_SYSLOG_KEY:
            o.syslog.tls_key = a;
            break;
        case O_SYSLOG_CA:
            o.syslog.client_ca = a;
            break;
        case O_RELP_LISTEN:
            o.syslog.relp_listen = a;
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
            NUMOPT(O_MAX_EVENT, "max-event", 256, 1000000, o.api.max_event)
            NUMOPT(O_MAX_BATCH, "max-batch", 1, 4096, o.api.max_batch)
            NUMOPT(O_POOL_MAX, "pool-max", 1, 100000000, o.log.pool_max)
            NUMOPT(O_ADD_TIMEOUT, "add-timeout", 1, 3600000, o.api.add_timeout_ms)
            NUMOPT(O_PUBLISH_QMAX, "publish-queue-max", 1, 1000000000, o.publish_qmax)
            NUMOPT(O_LEASE, "lease", 1000, 600000, o.lease_ms)
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
            NUMOPT(O_SYSLOG_FRAME_TO, "syslog-frame-timeout", 1, 3600000, o.syslog.frame_timeout_ms)
            NUMOPT(O_SYSLOG_MAX_CONNS, "syslog-max-conns", 1, 1000000, o.syslog.max_conns)
#undef NUMOPT
        case O_MAP_WORKERS:
            if (tl_dec_parse_range(a, 0, 64, &v) != TL_OK)
                return bad_usage("--map-workers must be a number in 0..64, not '%s'", a);
            o.api.map_workers = v ? (int)v : -1;
            break;
        case ':':
            return bad_usage("option %s needs a value", argv[optind - 1]);
        default:
            return bad_usage("unknown option %s", argv[optind - 1]);
        }
    }
    const char *sub = NULL; /* token's add, list or revoke */
    for (int i = optind; i < argc; i++) {
        if (cmd && (sub || strcmp(cmd, "token") != 0))
            return bad_usage("unexpected argument '%s'", argv[i]);
        *(cmd ? &sub : &cmd) = argv[i];
    }
    if (!cmd)
        return bad_usage("%s", "missing command (init, serve, token or close)");
    if (o.ndirs > 1 && strcmp(cmd, "serve") != 0)
        return bad_usage("%s", "only serve takes more than one --dir");
    if (o.keys && strcmp(cmd, "init") != 0)
        return bad_usage("%s", "--keys is only for init");
    if (strcmp(cmd, "token") == 0)
        return token_cmd(&o, sub);
    int64_t closes = 0;
    if (o.closes_at) {
        const char *want = strcmp(cmd, "close") == 0 ? "--at" : "--closes-at";
        if (strcmp(cmd, "init") != 0 && strcmp(cmd, "close") != 0)
            return bad_usage("%s is only for init (--closes-at) and close (--at)", o.at_opt);
        if (strcmp(o.at_opt, want) != 0)
            return bad_usage("%s is not an option of this command", o.at_opt);
        if (tl_audit_time_ms(o.closes_at, strlen(o.closes_at), &closes) != TL_OK || closes <= 0)
            return bad_usage("%s wants an RFC 3339 time, e.g. 2027-07-01T00:00:00Z", o.at_opt);
    }
    if (strcmp(cmd, "close") == 0)
        return close_cmd(&o, closes);
    if (o.name || o.role)
        return bad_usage("%s", "--name and --role are only for token");
    if (strcmp(cmd, "init") == 0) {
        if (!o.dir)
            return bad_usage("%s", "init needs --dir DIR");
        if (!o.origin || !*o.origin)
            return bad_usage("%s", "init needs --origin ORIGIN");
        if (o.kind && !tl_kind_find(o.kind))
            return bad_usage("--kind must be one of the kinds this tlogd knows (%s)", kind_names());
        char err[256] = "";
        char *vkey = NULL;
        if (o.keys && !*o.keys)
            return bad_usage("%s", "--keys needs the folder of the log's key files");
        int crc = tl_log_create_keys(o.dir, o.origin, o.kind, o.keys, &vkey, err, sizeof err);
        if (crc != TL_OK) {
            fprintf(stderr, "tlogd: init: %s\n", err);
            return crc == TL_ERR_INVALID && o.keys ? 2 : 1;
        }
        if (closes && tl_log_set_closes_at(o.dir, (uint64_t)closes, NULL, err, sizeof err)) {
            fprintf(stderr, "tlogd: init: %s\n", err);
            free(vkey);
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
        if (o.ndirs > 1 && o.etcd)
            return bad_usage("%s", "--etcd serves one log: give one --dir");
        for (size_t i = 0; i < o.ndirs; i++)
            for (size_t j = 0; j < i; j++)
                if (strcmp(o.dirs[i], o.dirs[j]) == 0)
                    return bad_usage("--dir %s is given twice", o.dirs[i]);
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
        int any_s3 = 0;
        for (size_t i = 0; i < o.npublish; i++) {
            if (tl_tilestore_url_check(o.publish[i], o.s3_endpoint, err, sizeof err) != TL_OK)
                return bad_usage("%s", err);
            any_s3 |= strncmp(o.publish[i], "s3://", 5) == 0;
            for (size_t j = 0; j < i; j++) {
                size_t a = strlen(o.publish[i]), b = strlen(o.publish[j]);
                while (a > 1 && o.publish[i][a - 1] == '/')
                    a--;
                while (b > 1 && o.publish[j][b - 1] == '/')
                    b--;
                if (a == b && memcmp(o.publish[i], o.publish[j], a) == 0)
                    return bad_usage("--publish %s is given twice", o.publish[i]);
            }
        }
        if (o.s3_endpoint && !any_s3)
            return bad_usage("%s", "--s3-endpoint is only for --publish s3://...");
        if (o.publish_qmax && !o.npublish)
            return bad_usage("%s", "--publish-queue-max needs --publish URL");
        if (o.api.publish_before_answer && !o.npublish)
            return bad_usage("%s", "--publish-before-answer needs --publish URL");
        if (o.etcd) {
            if (tl_cons_etcd_urls_check(o.etcd, err, sizeof err) != TL_OK)
                return bad_usage("%s", err);
            if (!o.node || !*o.node || strlen(o.node) > 128 || strchr(o.node, '\n'))
                return bad_usage("%s", "--etcd needs --node NAME (1 to 128 bytes)");
            if (!o.npublish)
                return bad_usage("%s", "--etcd needs --publish URL: what is acknowledged must be "
                                       "at an origin off this node");
            if (o.private_store &&
                tl_tilestore_url_check(o.private_store, o.s3_endpoint, err, sizeof err) != TL_OK)
                return bad_usage("--private-store: %s", err);
            o.api.publish_before_answer = 1;
        } else if (o.node || o.private_store || o.lease_ms || o.standby) {
            return bad_usage("%s", "--node, --private-store, --lease and --standby need --etcd");
        }
        if (syslog_usage(&o, err, sizeof err) != 0)
            return bad_usage("%s", err);
        o.http.max_body = o.log.max_entry;
        o.api.max_entry = o.log.max_entry;
        return serve(&o);
    }
    return bad_usage("unknown command '%s' (want init, serve or token)", cmd);
}
