/*
 * main.c - the tlog-witness program: `init` creates a witness folder (state
 * database and cosignature/v1 key), `serve` runs the C2SP tlog-witness HTTP
 * API (POST /add-checkpoint, GET /<hex sha256(origin)>/checkpoint and
 * /evidence, /metrics, /healthz) on tl_httpd, plus pull mode for logs with
 * a URL.
 *
 * The event loop never blocks on storage: add-checkpoint requests go to a
 * small worker pool, whose threads meet in the witness's group commit; each
 * answer is sent from the loop after its group's synced write. Only main()
 * exits; bad usage exits 2 with a one-line reason.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/crypto.h>

#include "common/cafile.h"
#include "common/dec.h"
#include "common/err.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/version.h"
#include "http/httpd.h"
#include "store/store.h"
#include "signer/note.h"
#include "witness/witness.h"

#define WORKERS 32
#define QUEUE_MAX 4096 /* queued add-checkpoint requests before 503 */
#define KEY_FILE_MAX 4096

static const char usage_text[] =
    "usage: tlog-witness init --dir DIR --name NAME\n"
    "       tlog-witness serve --dir DIR --logs FILE [--listen HOST:PORT]\n"
    "                          [--tls-cert FILE --tls-key FILE] [--poll-interval S]\n"
    "                          [--log-ca FILE]\n"
    "       tlog-witness --help | --version\n"
    "\n"
    "init   creates DIR with the witness state database and an Ed25519 key;\n"
    "       writes DIR/witness.key (0600) and DIR/witness.vkey (cosignature/v1)\n"
    "       and prints the verifier key.\n"
    "serve  serves C2SP tlog-witness (default listen 127.0.0.1:8090). FILE lists\n"
    "       one log a line: <origin> <log verifier key> [<log base URL>]; logs\n"
    "       with a URL are also polled every S seconds (default 10); https:// URLs\n"
    "       are verified with the PEM CA certificates of --log-ca FILE (default:\n"
    "       the system store).\n"
    "Endpoints: POST /add-checkpoint, GET /<hex sha256(origin)>/checkpoint,\n"
    "           GET /<hex sha256(origin)>/evidence, GET /metrics, GET /healthz\n";

static int bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "tlog-witness: ");
    fprintf(stderr, fmt, arg ? arg : "");
    fprintf(stderr, " (see tlog-witness --help)\n");
    return 2;
}

/* ---- init ------------------------------------------------------------------ */

/* mkdir -p: creates dir and its missing parents. */
static int make_dirs(const char *dir)
{
    char p[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(p)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0)
            continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return -1;
        p[i] = c;
    }
    return 0;
}

static int cmd_init(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    snprintf(path, sizeof(path), "%s/witness.key", dir);
    if (stat(path, &st) == 0) {
        fprintf(stderr, "tlog-witness: %s already holds a witness; refusing to touch it\n", dir);
        return 1;
    }
    snprintf(path, sizeof(path), "%s/db", dir);
    if (stat(path, &st) == 0) {
        fprintf(stderr, "tlog-witness: %s already holds a database; refusing to touch it\n", dir);
        return 1;
    }
    if (make_dirs(dir) != 0) {
        fprintf(stderr, "tlog-witness: mkdir %s: %s\n", dir, strerror(errno));
        return 1;
    }
    tl_signer *s = NULL;
    char *skey = NULL, *vkey = NULL;
    int ret = 1;
    if (tl_signer_generate(name, TL_KEY_COSIG_V1, &s) != TL_OK ||
        tl_signer_format(s, &skey) != TL_OK || tl_signer_vkey(s, &vkey) != TL_OK) {
        fprintf(stderr, "tlog-witness: cannot make a key named \"%s\"\n", name);
        goto out;
    }
    char line[KEY_FILE_MAX];
    snprintf(path, sizeof(path), "%s/witness.key", dir);
    snprintf(line, sizeof(line), "%s\n", skey);
    int wr = tl_file_write_new(path, line, strlen(line), 0600);
    OPENSSL_cleanse(line, sizeof(line));
    if (wr != TL_OK) {
        fprintf(stderr, "tlog-witness: writing %s: %s\n", path, strerror(errno));
        goto out;
    }
    snprintf(path, sizeof(path), "%s/witness.vkey", dir);
    snprintf(line, sizeof(line), "%s\n", vkey);
    if (tl_file_write_new(path, line, strlen(line), 0644) != TL_OK) {
        fprintf(stderr, "tlog-witness: writing %s: %s\n", path, strerror(errno));
        goto out;
    }
    snprintf(path, sizeof(path), "%s/db", dir);
    tl_store *store = NULL;
    char err[256];
    if (tl_store_open_leveldb(path, 1, &store, err, sizeof(err)) != TL_OK) {
        fprintf(stderr, "tlog-witness: creating %s: %s\n", path, err);
        goto out;
    }
    tl_store_close(store);
    printf("%s\n", vkey);
    ret = 0;
out:
    if (skey) {
        OPENSSL_cleanse(skey, strlen(skey));
        free(skey);
    }
    free(vkey);
    tl_signer_free(s);
    return ret;
}

/* ---- serve ----------------------------------------------------------------- */

struct server;

struct job {
    struct server *srv;
    tl_http_req *req; /* NULL once aborted */
    uint8_t *body;
    size_t len;
    tl_witness_resp resp;
    struct job *next;
};

struct server {
    struct event_base *base;
    tl_httpd *httpd;
    tl_witness *w;
    tl_witness_puller *puller;
    pthread_t workers[WORKERS];
    size_t nworkers;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct job *qhead, *qtail;
    size_t qlen;
    int stop;
    unsigned long requests;
};

static void finish_job(void *ctx)
{
    struct job *j = ctx;
    if (j->req) {
        size_t n = 0;
        tl_http_header hdrs[1];
        if (j->resp.status == 500)
            hdrs[n++] = (tl_http_header){"retry-after", "1"};
        tl_http_respond(j->req, j->resp.status, j->resp.ctype, hdrs, n, j->resp.body.data,
                        j->resp.body.len);
    }
    tl_buf_release(&j->resp.body);
    free(j->body);
    free(j);
}

static void abort_job(void *ctx)
{
    struct job *j = ctx;
    j->req = NULL; /* the loop thread owns req; finish_job runs there too */
}

static void *worker_main(void *arg)
{
    struct server *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->stop && !s->qhead)
            pthread_cond_wait(&s->cv, &s->mu);
        if (!s->qhead)
            break;
        struct job *j = s->qhead;
        s->qhead = j->next;
        if (!s->qhead)
            s->qtail = NULL;
        s->qlen--;
        pthread_mutex_unlock(&s->mu);
        if (tl_witness_add_checkpoint(s->w, j->body, j->len, 0, &j->resp) != TL_OK) {
            j->resp.status = 500;
            j->resp.ctype = "text/plain; charset=utf-8";
            tl_buf_reset(&j->resp.body);
            tl_buf_adds(&j->resp.body, "out of memory\n");
        }
        if (tl_httpd_run_in_loop(s->httpd, finish_job, j) != 0)
            fprintf(stderr, "tlog-witness: cannot hand a response to the event loop\n");
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void respond_text(tl_http_req *r, int status, const char *text)
{
    tl_http_respond(r, status, "text/plain; charset=utf-8", NULL, 0, text, strlen(text));
}

static void handle(void *ctx, tl_http_req *req)
{
    struct server *s = ctx;
    const char *method = tl_http_req_method(req);
    const char *path = tl_http_req_path(req);
    int is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    s->requests++;

    if (strcmp(path, "/add-checkpoint") == 0) {
        if (strcmp(method, "POST") != 0) {
            tl_http_header allow = {"allow", "POST"};
            tl_http_respond(req, 405, "text/plain; charset=utf-8", &allow, 1, "use POST\n", 9);
            return;
        }
        size_t len = 0;
        const uint8_t *body = tl_http_req_body(req, &len);
        if (len > TL_WITNESS_MAX_BODY) {
            respond_text(req, 413, "request body too large\n");
            return;
        }
        pthread_mutex_lock(&s->mu);
        size_t qlen = s->qlen;
        pthread_mutex_unlock(&s->mu);
        if (qlen >= QUEUE_MAX) {
            tl_http_header ra = {"retry-after", "1"};
            tl_http_respond(req, 503, "text/plain; charset=utf-8", &ra, 1,
                            "too many requests in flight\n", 28);
            return;
        }
        struct job *j = calloc(1, sizeof(*j));
        if (!j || !(j->body = malloc(len ? len : 1))) {
            free(j);
            respond_text(req, 503, "out of memory\n");
            return;
        }
        memcpy(j->body, body, len);
        j->len = len;
        j->srv = s;
        j->req = req;
        tl_buf_init(&j->resp.body);
        tl_http_req_on_abort(req, abort_job, j);
        pthread_mutex_lock(&s->mu);
        if (s->qtail)
            s->qtail->next = j;
        else
            s->qhead = j;
        s->qtail = j;
        s->qlen++;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        return;
    }
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/metrics") == 0) {
        if (!is_get) {
            tl_http_header allow = {"allow", "GET"};
            tl_http_respond(req, 405, "text/plain; charset=utf-8", &allow, 1, "use GET\n", 8);
            return;
        }
        if (path[1] == 'h') {
            respond_text(req, 200, "ok\n");
            return;
        }
        tl_buf out = TL_BUF_INIT;
        tl_witness_metrics(s->w, &out);
        tl_witness_puller_metrics(s->puller, &out);
        tl_buf_addf(&out,
                    "# TYPE tlog_witness_http_requests_total counter\n"
                    "tlog_witness_http_requests_total %lu\n",
                    s->requests);
        tl_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, 0, out.data,
                        out.len);
        tl_buf_release(&out);
        return;
    }
    /* /<64 hex>/checkpoint and /<64 hex>/evidence */
    size_t plen = strlen(path);
    uint8_t ohash[32];
    if (plen > 66 && path[0] == '/' && path[65] == '/' &&
        tl_hex_decode(path + 1, 64, ohash, sizeof(ohash)) == TL_OK &&
        (strcmp(path + 66, "checkpoint") == 0 || strcmp(path + 66, "evidence") == 0)) {
        if (!is_get) {
            tl_http_header allow = {"allow", "GET"};
            tl_http_respond(req, 405, "text/plain; charset=utf-8", &allow, 1, "use GET\n", 8);
            return;
        }
        char hex[65];
        memcpy(hex, path + 1, 64);
        hex[64] = 0;
        tl_buf out = TL_BUF_INIT;
        tl_http_header nc = {"cache-control", "no-cache"};
        if (path[66] == 'c') {
            if (tl_witness_checkpoint_by_hash(s->w, hex, &out) != TL_OK)
                respond_text(req, 404, "unknown log, or no checkpoint cosigned yet\n");
            else
                tl_http_respond(req, 200, "text/plain; charset=utf-8", &nc, 1, out.data, out.len);
        } else {
            int rc = tl_witness_evidence_by_hash(s->w, hex, &out);
            if (rc == TL_ERR_NOTFOUND)
                respond_text(req, 404, "unknown log\n");
            else if (rc != TL_OK)
                respond_text(req, 500, "reading evidence failed\n");
            else
                tl_http_respond(req, 200, "application/json", &nc, 1, out.data, out.len);
        }
        tl_buf_release(&out);
        return;
    }
    respond_text(req, 404, "not found\n");
}

static void on_drained(void *ctx)
{
    struct server *s = ctx;
    event_base_loopbreak(s->base);
}

static void on_signal(evutil_socket_t sig, short what, void *ctx)
{
    struct server *s = ctx;
    (void)what;
    fprintf(stderr, "tlog-witness: signal %d, finishing in-flight requests\n", (int)sig);
    tl_httpd_drain(s->httpd, on_drained, s);
}

static int cmd_serve(const char *dir, const char *listen, const char *cert, const char *keyf,
                     const char *logs, const char *log_ca, unsigned poll_s)
{
    char path[PATH_MAX], err[512];
    struct server s;
    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cv, NULL);
    tl_signer *key = NULL;
    tl_store *store = NULL;
    struct event *sigs[2] = {NULL, NULL};
    int ret = 1;

    snprintf(path, sizeof(path), "%s/witness.key", dir);
    char *skey = NULL;
    size_t sklen = 0;
    if (tl_file_read(path, KEY_FILE_MAX - 1, &skey, &sklen) != TL_OK) {
        fprintf(stderr, "tlog-witness: cannot read %s (run tlog-witness init first)\n", path);
        goto out;
    }
    int rc = tl_signer_parse(skey, &key);
    OPENSSL_cleanse(skey, sklen);
    free(skey);
    if (rc != TL_OK || tl_signer_type(key) != TL_KEY_COSIG_V1) {
        fprintf(stderr, "tlog-witness: %s is not a cosignature/v1 signer key\n", path);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/db", dir);
    if (tl_store_open_leveldb(path, 0, &store, err, sizeof(err)) != TL_OK) {
        fprintf(stderr, "tlog-witness: opening %s: %s\n", path, err);
        goto out;
    }
    if (tl_witness_new(store, key, &s.w) != TL_OK) {
        fprintf(stderr, "tlog-witness: out of memory\n");
        goto out;
    }
    if (tl_witness_load_logs(s.w, logs, err, sizeof(err)) != TL_OK) {
        fprintf(stderr, "tlog-witness: %s\n", err);
        ret = 2;
        goto out;
    }
    signal(SIGPIPE, SIG_IGN); /* a peer that goes away is an error code, not a death */
    evthread_use_pthreads();
    s.base = event_base_new();
    if (!s.base)
        goto out;
    tl_httpd_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.listen = listen;
    cfg.tls_cert = cert;
    cfg.tls_key = keyf;
    cfg.max_body = TL_WITNESS_MAX_BODY + 1;
    if (tl_httpd_new(s.base, &cfg, handle, &s, &s.httpd, err, sizeof(err)) != 0) {
        fprintf(stderr, "tlog-witness: %s\n", err);
        goto out;
    }
    for (size_t i = 0; i < WORKERS; i++) {
        if (pthread_create(&s.workers[i], NULL, worker_main, &s) != 0)
            break;
        s.nworkers++;
    }
    if (s.nworkers == 0)
        goto out;
    int npull = 0;
    for (size_t i = 0; i < tl_witness_nlogs(s.w); i++) {
        const char *o, *u;
        if (tl_witness_log_at(s.w, i, &o, &u) == TL_OK && u)
            npull++;
    }
    if (npull && tl_witness_puller_start(s.w, log_ca, poll_s * 1000, &s.puller) != TL_OK)
        goto out;
    sigs[0] = evsignal_new(s.base, SIGTERM, on_signal, &s);
    sigs[1] = evsignal_new(s.base, SIGINT, on_signal, &s);
    if (!sigs[0] || !sigs[1] || event_add(sigs[0], NULL) || event_add(sigs[1], NULL))
        goto out;
    char *vk = NULL;
    tl_signer_vkey(key, &vk);
    fprintf(stderr,
            "tlog-witness %s: serving %zu log(s) on %s%s port %d as %s (%d polled; TLS trust: "
            "%s)\n",
            TL_VERSION, tl_witness_nlogs(s.w), cert ? "https://" : "http://", listen,
            tl_httpd_port(s.httpd), vk ? vk : "?", npull, log_ca ? log_ca : "the system store");
    free(vk);
    event_base_dispatch(s.base);
    ret = 0;
out:
    tl_witness_puller_stop(s.puller);
    pthread_mutex_lock(&s.mu);
    s.stop = 1;
    pthread_cond_broadcast(&s.cv);
    pthread_mutex_unlock(&s.mu);
    for (size_t i = 0; i < s.nworkers; i++)
        pthread_join(s.workers[i], NULL);
    if (s.base)
        event_base_loop(s.base, EVLOOP_NONBLOCK); /* run pending finish_job calls */
    for (int i = 0; i < 2; i++)
        if (sigs[i])
            event_free(sigs[i]);
    tl_httpd_free(s.httpd);
    if (s.base)
        event_base_free(s.base);
    tl_witness_free(s.w);
    tl_store_close(store);
    tl_signer_free(key);
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.cv);
    return ret;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"name", required_argument, NULL, 'n'},
        {"listen", required_argument, NULL, 'l'},
        {"tls-cert", required_argument, NULL, 'c'},
        {"tls-key", required_argument, NULL, 'k'},
        {"logs", required_argument, NULL, 'L'},
        {"poll-interval", required_argument, NULL, 'p'},
        {"log-ca", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL, *name = NULL, *listen = "127.0.0.1:8090", *cert = NULL, *keyf = NULL,
               *logs = NULL, *log_ca = NULL;
    uint64_t poll_s = 10;
    const char *cmd = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1 || optind < argc) {
        if (c == -1) {
            /* an operand: the command (options may come after it) */
            if (cmd)
                return bad_usage("unexpected argument \"%s\"", argv[optind]);
            cmd = argv[optind++];
            continue;
        }
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'n':
            name = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 'c':
            cert = optarg;
            break;
        case 'k':
            keyf = optarg;
            break;
        case 'L':
            logs = optarg;
            break;
        case 'C':
            log_ca = optarg;
            break;
        case 'p':
            if (tl_dec_parse_range(optarg, 1, 86400, &poll_s) != TL_OK)
                return bad_usage("--poll-interval wants seconds in 1..86400, got \"%s\"", optarg);
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case 'V':
            printf("tlog-witness %s\n", TL_VERSION);
            return 0;
        case ':':
            return bad_usage("option %s needs a value", argv[optind - 1]);
        default:
            return bad_usage("unknown option %s", argv[optind - 1]);
        }
    }
    if (!cmd)
        return bad_usage("missing command (init or serve)%s", NULL);
    if (strcmp(cmd, "init") == 0) {
        if (!dir || !name)
            return bad_usage("init needs --dir and --name%s", NULL);
        if (logs || cert || keyf || log_ca)
            return bad_usage("init takes only --dir and --name%s", NULL);
        return cmd_init(dir, name);
    }
    if (strcmp(cmd, "serve") == 0) {
        if (!dir || !logs)
            return bad_usage("serve needs --dir and --logs%s", NULL);
        if (name)
            return bad_usage("serve does not take --name%s", NULL);
        if (!cert != !keyf)
            return bad_usage("--tls-cert and --tls-key go together%s", NULL);
        char err[256];
        if (log_ca && tl_cafile_check(log_ca, err, sizeof(err)) != TL_OK)
            return bad_usage("--log-ca %s", err);
        curl_global_init(CURL_GLOBAL_DEFAULT);
        int rc = cmd_serve(dir, listen, cert, keyf, logs, log_ca, (unsigned)poll_s);
        curl_global_cleanup();
        return rc;
    }
    return bad_usage("unknown command \"%s\"", cmd);
}
