/*
 * tlog.c - the `tlog` command line: add, verify, audit, monitor and, for
 * audit logs, event add | verify | search (CONTRACT.md "tlog", "`tlog` with
 * audit logs"; C2SP tlog-proof, tlog-policy, tlog-tiles).
 *
 * Guarantees: options may come before or after operands; bad usage exits 2
 * with a one-line reason; `add` writes nothing but the proof on stdout;
 * `verify` never touches the network; `audit` and `monitor` exit non-zero on
 * any verification failure and, on a fork, print both signed checkpoints
 * verbatim on stdout. Exit statuses: see client.h.
 */
#include "client/client.h"
#include "common/b64.h"
#include "common/clock.h"
#include "common/dec.h"
#include "common/version.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ENTRY_MAX 65535             /* tlog-tiles bundles: uint16 lengths */
#define VERIFY_ENTRY_MAX (64 << 20) /* verify: any file a proof may be about */
#define PROOF_MAX (1 << 20)

typedef struct opts {
    const char *cmd;
    const char *sub; /* event: add, verify or search */
    const char *const *operands;
    int nops;
    tl_event_opts ev; /* event: what the subcommand was given */
    const char *key, *policy, *state, *out;
    const char *token_file; /* --token-file, or NULL: $TLOG_TOKEN */
    double interval;
    int quiet, json;
    int window;
    tl_log_kind kind; /* --kind: audit and monitor */
    tl_http_opts http;
    const char *used[24]; /* options given, to reject the ones a command ignores */
    int nused;
} opts;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tlog add URL [FILE|-] [-o OUT] [--key VKEY | --policy FILE]\n"
            "       tlog verify (--key VKEY | --policy FILE) PROOF ENTRY-FILE\n"
            "       tlog audit URL (--key VKEY | --policy FILE) [--state FILE] [--kind K]\n"
            "       tlog monitor URL (--key VKEY | --policy FILE) [--state FILE] [--interval S]\n"
            "                    [--kind K]\n"
            "       tlog event add URL [FILE|-] [-o OUT] [--key VKEY | --policy FILE]\n"
            "       tlog event verify (--key VKEY | --policy FILE) RECEIPT...\n"
            "       tlog event search URL (--key VKEY | --policy FILE) [--actor ID]\n"
            "                    [--action A] [--resource-type T] [--resource-id I]\n"
            "                    [--outcome O] [--since T] [--until T] [--limit N] [--json]\n"
            "\n"
            "  add      submit an entry (FILE, or stdin) to the log at URL; write its\n"
            "           c2sp.org/tlog-proof@v1 proof to OUT (default stdout), verified first\n"
            "           when a trust flag is given\n"
            "  verify   check a proof offline: log signature, cosignature quorum, inclusion\n"
            "  audit    fetch and verify every tile and entry (only what is new since the\n"
            "           checkpoint saved in --state), check consistency, save the checkpoint\n"
            "  monitor  audit, then follow the log, one line per newly verified checkpoint\n"
            "  event add     submit the audit event(s) in FILE (one JSON event, or NDJSON)\n"
            "                to an audit log; write their receipts, NDJSON, to OUT\n"
            "                (default stdout), each verified first when trust is given\n"
            "  event verify  check receipts offline (files of one receipt or NDJSON)\n"
            "  event search  query an audit log (newest first), verify every result's\n"
            "                checkpoint, commitment and inclusion; print a table (or the\n"
            "                results' receipts, NDJSON, with --json)\n"
            "\n"
            "options:\n"
            "  --key VKEY       the log's verifier key, or a file holding it\n"
            "  --policy FILE    a C2SP tlog-policy file (logs, witnesses, quorum)\n"
            "  --state FILE     audit state (last verified checkpoint); created if missing\n"
            "  --interval S     monitor polling interval in seconds (default 5)\n"
            "  -o, --output OUT where add writes the proof\n"
            "  --ca FILE        CA certificates for TLS (default: the system store)\n"
            "  --timeout S      per-request timeout in seconds (default 120)\n"
            "  --retries N      retries on 503 and network errors (default 5)\n"
            "  --h2c            HTTP/2 with prior knowledge on http:// URLs\n"
            "  --token-file F   an audit log's bearer token (default: $TLOG_TOKEN)\n"
            "  --window N       audit: level-0 tiles in flight (default 40)\n"
            "  --kind K         audit: blob or audit (default: as GET /audit/v1/log says);\n"
            "                   an audit log's records, times and, with a reader token,\n"
            "                   event bodies are checked too\n"
            "  --actor, --action, --resource-type, --resource-id, --outcome V\n"
            "                   event search: the filters (exact values)\n"
            "  --since T, --until T  event search: log time, RFC 3339 or milliseconds\n"
            "                   (since inclusive, until exclusive)\n"
            "  --limit N        event search: at most N results (default 100)\n"
            "  -q, --quiet      no progress, no summary\n"
            "  --json           machine-readable results on stdout\n"
            "  -h, --help       this help;  -V, --version  the version\n"
            "\n"
            "exit status: 0 ok, 1 verification failed (or fork), 2 bad usage,\n"
            "3 network, server or file error\n");
}

static int bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "tlog: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see tlog --help)\n");
    return TL_EXIT_USAGE;
}

static int exit_for(int rc)
{
    switch (rc) {
    case TL_OK:
        return TL_EXIT_OK;
    case TL_ERR_SIG:
    case TL_ERR_PROOF:
    case TL_ERR_CONFLICT:
    case TL_ERR_INVALID:
    case TL_ERR_RANGE:
        return TL_EXIT_VERIFY;
    default:
        return TL_EXIT_IO;
    }
}

/* A number of seconds, fractions allowed (--interval, --timeout); whole
 * numbers are common/dec.h's. */
static int parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, opts *o)
{
    enum {
        O_KEY = 256,
        O_POLICY,
        O_STATE,
        O_INTERVAL,
        O_CA,
        O_TIMEOUT,
        O_RETRIES,
        O_JSON,
        O_H2C,
        O_WINDOW,
        O_TOKEN_FILE,
        O_KIND,
        O_ACTOR,
        O_ACTION,
        O_RTYPE,
        O_RID,
        O_OUTCOME,
        O_SINCE,
        O_UNTIL,
        O_LIMIT
    };
    static const struct option lo[] = {{"key", required_argument, 0, O_KEY},
                                       {"policy", required_argument, 0, O_POLICY},
                                       {"state", required_argument, 0, O_STATE},
                                       {"interval", required_argument, 0, O_INTERVAL},
                                       {"ca", required_argument, 0, O_CA},
                                       {"timeout", required_argument, 0, O_TIMEOUT},
                                       {"retries", required_argument, 0, O_RETRIES},
                                       {"json", no_argument, 0, O_JSON},
                                       {"h2c", no_argument, 0, O_H2C},
                                       {"window", required_argument, 0, O_WINDOW},
                                       {"token-file", required_argument, 0, O_TOKEN_FILE},
                                       {"kind", required_argument, 0, O_KIND},
                                       {"actor", required_argument, 0, O_ACTOR},
                                       {"action", required_argument, 0, O_ACTION},
                                       {"resource-type", required_argument, 0, O_RTYPE},
                                       {"resource-id", required_argument, 0, O_RID},
                                       {"outcome", required_argument, 0, O_OUTCOME},
                                       {"since", required_argument, 0, O_SINCE},
                                       {"until", required_argument, 0, O_UNTIL},
                                       {"limit", required_argument, 0, O_LIMIT},
                                       {"output", required_argument, 0, 'o'},
                                       {"quiet", no_argument, 0, 'q'},
                                       {"help", no_argument, 0, 'h'},
                                       {"version", no_argument, 0, 'V'},
                                       {0, 0, 0, 0}};
    /* The options that keep their argument as given (name NULL: any command
     * takes it; once: a second one is an error). */
    const struct {
        int code;
        const char **to;
        const char *name;
        int once;
    } str[] = {
        {O_KEY, &o->key, "--key", 1},
        {O_POLICY, &o->policy, "--policy", 1},
        {O_STATE, &o->state, "--state", 0},
        {O_CA, &o->http.ca_file, NULL, 0},
        {O_TOKEN_FILE, &o->token_file, "--token-file", 0},
        {O_ACTOR, &o->ev.actor, "--actor", 0},
        {O_ACTION, &o->ev.action, "--action", 0},
        {O_RTYPE, &o->ev.resource_type, "--resource-type", 0},
        {O_RID, &o->ev.resource_id, "--resource-id", 0},
        {O_OUTCOME, &o->ev.outcome, "--outcome", 0},
        {O_SINCE, &o->ev.since, "--since", 0},
        {O_UNTIL, &o->ev.until, "--until", 0},
        {'o', &o->out, "--output", 0},
    };
    memset(o, 0, sizeof(*o));
    tl_http_opts_default(&o->http);
    o->interval = 5;
    o->ev.limit = 100;
    opterr = 0;
    int c, idx;
    double v;
    uint64_t n;
    while ((c = getopt_long(argc, argv, ":o:qhV", lo, &idx)) != -1) {
        const char *name = NULL;
        switch (c) {
        case 'h':
            usage(stdout);
            return -1;
        case 'V':
            printf("tlog %s\n", TL_VERSION);
            return -1;
        case ':':
            return bad_usage("option %s needs an argument", argv[optind - 1]);
        case '?':
            return bad_usage("unknown option %s", argv[optind - 1]);
        case O_INTERVAL:
            if (parse_num(optarg, 0.01, 86400, &o->interval))
                return bad_usage("--interval %s: not a number of seconds (0.01..86400)", optarg);
            name = "--interval";
            break;
        case O_TIMEOUT:
            if (parse_num(optarg, 1, 86400, &v))
                return bad_usage("--timeout %s: not a number of seconds (1..86400)", optarg);
            o->http.timeout = (long)v;
            break;
        case O_RETRIES:
            if (tl_dec_parse_range(optarg, 0, 100, &n) != TL_OK)
                return bad_usage("--retries %s: not an integer 0..100", optarg);
            o->http.retries = (int)n;
            break;
        case O_WINDOW:
            if (tl_dec_parse_range(optarg, 1, 4096, &n) != TL_OK)
                return bad_usage("--window %s: not an integer 1..4096", optarg);
            o->window = (int)n;
            name = "--window";
            break;
        case O_KIND:
            if (strcmp(optarg, "blob") == 0)
                o->kind = TL_KIND_BLOB;
            else if (strcmp(optarg, "audit") == 0)
                o->kind = TL_KIND_AUDIT;
            else
                return bad_usage("--kind %s: not blob or audit", optarg);
            name = "--kind";
            break;
        case O_LIMIT:
            if (tl_dec_parse_range(optarg, 1, 1000000000, &n) != TL_OK)
                return bad_usage("--limit %s: not an integer 1..1000000000", optarg);
            o->ev.limit = n;
            name = "--limit";
            break;
        case O_JSON:
            o->json = 1;
            break;
        case O_H2C:
            o->http.h2c = 1;
            break;
        case 'q':
            o->quiet = 1;
            break;
        default: {
            size_t i = 0;
            while (i < sizeof(str) / sizeof(str[0]) && str[i].code != c)
                i++;
            if (i == sizeof(str) / sizeof(str[0]))
                return bad_usage("unknown option %s", argv[optind - 1]);
            if (str[i].once && *str[i].to)
                return bad_usage("%s given twice", str[i].name);
            *str[i].to = optarg;
            name = str[i].name;
        }
        }
        if (name && o->nused < (int)(sizeof(o->used) / sizeof(o->used[0])))
            o->used[o->nused++] = name;
    }
    if (optind >= argc)
        return bad_usage("%s", "no command (add, verify, audit, monitor, event)");
    o->cmd = argv[optind++];
    if (strcmp(o->cmd, "event") == 0) {
        if (optind >= argc)
            return bad_usage("%s", "event: no subcommand (add, verify, search)");
        o->sub = argv[optind++];
    }
    /* getopt_long has moved every operand behind the options */
    o->operands = (const char *const *)argv + optind;
    o->nops = argc - optind;
    if (o->key && o->policy)
        return bad_usage("%s", "--key and --policy are exclusive: give one");
    /* Which command takes which options and operands. */
    static const struct {
        const char *cmd;
        const char *sub;
        int minops, maxops, trust; /* trust: 0 optional, 1 required */
        const char *allowed;
    } cmds[] = {
        {"add", NULL, 1, 2, 0, "--key --policy --output"},
        {"verify", NULL, 2, 2, 1, "--key --policy"},
        {"audit", NULL, 1, 1, 1, "--key --policy --state --window --token-file --kind"},
        {"monitor", NULL, 1, 1, 1,
         "--key --policy --state --interval --window --token-file --kind"},
        {"event", "add", 1, 2, 0, "--key --policy --output --token-file"},
        {"event", "verify", 1, 1 << 20, 1, "--key --policy"},
        {"event", "search", 1, 1, 1,
         "--key --policy --token-file --actor --action --resource-type --resource-id --outcome "
         "--since --until --limit"},
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(cmds[i].cmd, o->cmd) != 0)
            continue;
        if (o->sub && strcmp(cmds[i].sub, o->sub) != 0)
            continue;
        char what[32];
        snprintf(what, sizeof(what), "%s%s%s", o->cmd, o->sub ? " " : "", o->sub ? o->sub : "");
        if (o->nops < cmds[i].minops)
            return bad_usage("%s: missing operand", what);
        if (o->nops > cmds[i].maxops)
            return bad_usage("%s: too many operands", what);
        if (cmds[i].trust && !o->key && !o->policy)
            return bad_usage("%s: needs --key VKEY or --policy FILE", what);
        for (int j = 0; j < o->nused; j++)
            if (!strstr(cmds[i].allowed, o->used[j])) {
                fprintf(stderr, "tlog: %s does not take %s (see tlog --help)\n", what, o->used[j]);
                return TL_EXIT_USAGE;
            }
        return 0;
    }
    if (o->sub)
        return bad_usage("unknown subcommand \"event %s\" (add, verify, search)", o->sub);
    return bad_usage("unknown command \"%s\" (add, verify, audit, monitor, event)", o->cmd);
}

static int load_trust(const opts *o, tl_trust *t)
{
    char err[TL_ERRMSG];
    memset(t, 0, sizeof(*t));
    int rc = TL_OK;
    if (o->key)
        rc = tl_trust_load_key(t, o->key, err, sizeof(err));
    else if (o->policy)
        rc = tl_trust_load_policy(t, o->policy, err, sizeof(err));
    if (rc != TL_OK) {
        fprintf(stderr, "tlog: %s\n", err);
        return rc == TL_ERR_IO ? TL_EXIT_IO : TL_EXIT_USAGE;
    }
    return TL_EXIT_OK;
}

static void b64hash(const tl_hash *h, char out[TL_B64_LEN(TL_HASH_SIZE) + 1])
{
    tl_b64_encode(h->b, TL_HASH_SIZE, out);
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (s) {
        printf("%s\n", s);
        free(s);
    }
    fflush(stdout);
    json_decref(j);
}

/* ---- add ----------------------------------------------------------------- */

static int cmd_add(const opts *o)
{
    tl_trust t;
    int ex = load_trust(o, &t);
    if (ex)
        return ex;
    char err[TL_ERRMSG];
    tl_buf entry = TL_BUF_INIT, resp = TL_BUF_INIT;
    tl_http *h = NULL;
    const char *file = o->nops > 1 ? o->operands[1] : "-";
    int rc = tl_read_file(file, ENTRY_MAX, &entry, err, sizeof(err));
    if (rc == TL_ERR_TOOBIG || (rc == TL_OK && entry.len == 0)) {
        fprintf(stderr, "tlog: add: entry %s is %s (1..%d bytes)\n", file,
                rc == TL_OK ? "empty" : "too large", ENTRY_MAX);
        ex = TL_EXIT_USAGE;
        goto out;
    }
    if (rc != TL_OK) {
        fprintf(stderr, "tlog: add: %s\n", err);
        ex = TL_EXIT_IO;
        goto out;
    }
    long status = 0;
    rc = tl_http_new(&o->http, o->operands[0], &h, err, sizeof(err));
    if (rc == TL_ERR_INVALID) {
        fprintf(stderr, "tlog: %s\n", err);
        ex = TL_EXIT_USAGE;
        goto out;
    }
    if (rc == TL_OK)
        rc = tl_http_request(h, "add", entry.data, entry.len, "text/plain", PROOF_MAX, &resp,
                             &status, err, sizeof(err));
    if (rc != TL_OK) {
        fprintf(stderr, "tlog: add: %s\n", err);
        ex = TL_EXIT_IO;
        goto out;
    }
    if (status != 200) {
        char *nl = resp.data ? memchr(resp.data, '\n', resp.len) : NULL;
        int n = nl ? (int)((uint8_t *)nl - resp.data) : (int)(resp.len > 200 ? 200 : resp.len);
        fprintf(stderr, "tlog: add: POST %s/add: HTTP status %ld: %.*s\n", tl_http_base(h), status,
                n, resp.data ? (const char *)resp.data : "");
        ex = TL_EXIT_IO;
        goto out;
    }
    uint64_t index = 0;
    tl_checkpoint cp;
    if (t.key || t.policy) {
        rc = tl_verify_proof(&t, (const char *)resp.data, resp.len, entry.data, entry.len, &index,
                             &cp, err, sizeof(err));
        if (rc != TL_OK) {
            fprintf(stderr, "tlog: add: the log's proof does not verify: %s\n", err);
            ex = exit_for(rc) == TL_EXIT_IO ? TL_EXIT_IO : TL_EXIT_VERIFY;
            goto out;
        }
    }
    if (o->out) {
        rc = tl_write_file_atomic(o->out, resp.data, resp.len, err, sizeof(err));
        if (rc != TL_OK) {
            fprintf(stderr, "tlog: add: %s\n", err);
            ex = TL_EXIT_IO;
            goto out;
        }
    } else if (fwrite(resp.data, 1, resp.len, stdout) != resp.len || fflush(stdout) != 0) {
        fprintf(stderr, "tlog: add: writing the proof: %s\n", strerror(errno));
        ex = TL_EXIT_IO;
        goto out;
    }
    if (!o->quiet && (t.key || t.policy))
        fprintf(stderr, "tlog: entry logged at index %llu of %s (tree size %llu), proof verified\n",
                (unsigned long long)index, cp.origin, (unsigned long long)cp.size);
    ex = TL_EXIT_OK;
out:
    tl_http_free(h);
    tl_buf_release(&entry);
    tl_buf_release(&resp);
    tl_trust_release(&t);
    return ex;
}

/* ---- verify --------------------------------------------------------------- */

static int cmd_verify(const opts *o)
{
    tl_trust t;
    int ex = load_trust(o, &t);
    if (ex)
        return ex;
    char err[TL_ERRMSG];
    tl_buf proof = TL_BUF_INIT, entry = TL_BUF_INIT;
    int rc = tl_read_file(o->operands[0], PROOF_MAX, &proof, err, sizeof(err));
    if (rc == TL_OK)
        rc = tl_read_file(o->operands[1], VERIFY_ENTRY_MAX, &entry, err, sizeof(err));
    if (rc != TL_OK) {
        fprintf(stderr, "tlog: verify: %s\n", err);
        ex = TL_EXIT_IO;
        goto out;
    }
    uint64_t index = 0;
    tl_checkpoint cp;
    rc = tl_verify_proof(&t, (const char *)proof.data, proof.len, entry.data, entry.len, &index,
                         &cp, err, sizeof(err));
    if (rc != TL_OK) {
        ex = exit_for(rc) == TL_EXIT_IO ? TL_EXIT_IO : TL_EXIT_VERIFY;
        if (o->json)
            print_json(json_pack("{s:b, s:s}", "ok", 0, "error", err));
        fprintf(stderr, "tlog: verify: %s: %s\n", o->operands[0], err);
        goto out;
    }
    char rb[TL_B64_LEN(TL_HASH_SIZE) + 1];
    b64hash(&cp.root, rb);
    if (o->json)
        print_json(json_pack("{s:b, s:s, s:I, s:I, s:s}", "ok", 1, "origin", cp.origin, "index",
                             (json_int_t)index, "size", (json_int_t)cp.size, "root", rb));
    else if (!o->quiet)
        printf("OK: %s is entry %llu of %s (checkpoint size %llu, root %s)\n", o->operands[1],
               (unsigned long long)index, cp.origin, (unsigned long long)cp.size, rb);
    ex = TL_EXIT_OK;
out:
    tl_buf_release(&proof);
    tl_buf_release(&entry);
    tl_trust_release(&t);
    return ex;
}

/* ---- event add | verify | search ------------------------------------------------ */

static int cmd_event(opts *o)
{
    tl_trust t;
    int ex = load_trust(o, &t);
    if (ex)
        return ex;
    o->ev.out = o->out;
    o->ev.quiet = o->quiet;
    o->ev.json = o->json;
    if (strcmp(o->sub, "verify") == 0) {
        ex = tl_event_verify(&t, o->operands, o->nops, &o->ev);
        tl_trust_release(&t);
        return ex;
    }
    char err[TL_ERRMSG];
    tl_http *h = NULL;
    int rc = tl_http_new(&o->http, o->operands[0], &h, err, sizeof(err));
    if (rc != TL_OK) {
        fprintf(stderr, "tlog: %s\n", err);
        ex = rc == TL_ERR_INVALID ? TL_EXIT_USAGE : TL_EXIT_IO;
    } else if (strcmp(o->sub, "add") == 0) {
        ex = tl_event_add(h, &t, o->nops > 1 ? o->operands[1] : "-", &o->ev);
    } else {
        ex = tl_event_search(h, &t, &o->ev);
    }
    tl_http_free(h);
    tl_trust_release(&t);
    return ex;
}

/* ---- audit and monitor ------------------------------------------------------- */

/* Reports a failed audit run; returns the exit status. */
static int report_failure(const opts *o, int rc, const char *err, tl_audit_result *res)
{
    if (err[0] == 0)
        err = tl_strerror(rc);
    if (o->json) {
        json_t *j = json_pack("{s:b, s:s, s:b}", "ok", 0, "error", err, "fork", res->fork);
        if (res->fork && j)
            json_object_set_new(j, "evidence",
                                json_pack("[s,s]", res->evidence_old ? res->evidence_old : "",
                                          res->evidence_new ? res->evidence_new : ""));
        print_json(j);
    } else if (res->fork) {
        /* The evidence: both signed checkpoints, verbatim, a blank line apart. */
        fputs(res->evidence_old ? res->evidence_old : "", stdout);
        fputs("\n", stdout);
        fputs(res->evidence_new ? res->evidence_new : "", stdout);
        fflush(stdout);
    }
    fprintf(stderr, "tlog: %s: %s\n", o->cmd, err);
    if (res->fork)
        fprintf(stderr, "tlog: %s: both signed checkpoints are on stdout as evidence\n", o->cmd);
    return exit_for(rc);
}

static void report_success(const opts *o, const tl_audit_state *st, const tl_audit_result *res,
                           int monitor)
{
    char rb[TL_B64_LEN(TL_HASH_SIZE) + 1];
    b64hash(&st->root, rb);
    double rate = res->seconds > 0 ? (double)res->entries / res->seconds : 0;
    if (o->json) {
        json_t *j =
            json_pack("{s:b, s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:f, s:f}", "ok", 1, "origin",
                      st->origin, "size", (json_int_t)st->size, "root", rb, "previous_size",
                      (json_int_t)res->old_size, "entries_verified", (json_int_t)res->entries,
                      "bytes", (json_int_t)res->bytes, "requests", (json_int_t)res->fetches,
                      "seconds", res->seconds, "entries_per_second", rate);
        if (j && res->audit_log) {
            json_t *idx = json_array();
            for (uint64_t i = 0; idx && i < res->erased && i < TL_AUDIT_ERASED_LIST; i++)
                json_array_append_new(idx, json_integer((json_int_t)res->erased_idx[i]));
            json_object_set_new(j, "audit",
                                json_pack("{s:b, s:I, s:I, s:o}", "bodies_checked", res->bodies,
                                          "events_checked", (json_int_t)res->events, "erased",
                                          (json_int_t)res->erased, "erased_indexes", idx));
        }
        print_json(j);
        return;
    }
    if (monitor) {
        char ts[32];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("%s %s size %llu root %s (%llu new entries verified)\n", ts, st->origin,
               (unsigned long long)st->size, rb, (unsigned long long)res->entries);
        fflush(stdout);
        return;
    }
    if (!o->quiet) {
        printf("OK: %s size %llu root %s: %llu entries verified (from size %llu) in %.2f s, "
               "%.0f entries/s\n",
               st->origin, (unsigned long long)st->size, rb, (unsigned long long)res->entries,
               (unsigned long long)res->old_size, res->seconds, rate);
        fflush(stdout);
    }
}

static void sleep_interruptible(double s)
{
    double end = tl_mono_s() + s;
    while (!stop_flag) {
        double left = end - tl_mono_s();
        if (left <= 0)
            break;
        if (left > 0.2)
            left = 0.2;
        struct timespec ts = {0, (long)(left * 1e9)};
        nanosleep(&ts, NULL);
    }
}

static int cmd_audit(const opts *o, int monitor)
{
    tl_trust t;
    int ex = load_trust(o, &t);
    if (ex)
        return ex;
    char err[TL_ERRMSG] = "";
    tl_http *h = NULL;
    tl_audit_state st;
    memset(&st, 0, sizeof(st));
    tl_hasher *hs = tl_hasher_new();
    if (hs == NULL) {
        ex = TL_EXIT_IO;
        goto out;
    }
    tl_http_opts ho = o->http;
    if (monitor) {
        ho.stop = &stop_flag;
        ho.retries = ho.retries > 2 ? 2 : ho.retries; /* monitor retries itself */
    }
    int rc = tl_http_new(&ho, o->operands[0], &h, err, sizeof(err));
    if (rc != TL_OK) {
        fprintf(stderr, "tlog: %s\n", err);
        ex = rc == TL_ERR_INVALID ? TL_EXIT_USAGE : TL_EXIT_IO;
        goto out;
    }
    if (o->state) {
        rc = tl_audit_state_load(o->state, hs, &st, err, sizeof(err));
        if (rc != TL_OK) {
            fprintf(stderr, "tlog: %s\n", err);
            ex = TL_EXIT_IO;
            goto out;
        }
    }
    tl_audit_opts ao = {o->quiet || monitor, o->json, o->window, o->kind, o->http.token != NULL, 0};
    int fails = 0;
    uint64_t last_reported = 0;
    int reported = 0, said_public = 0;
    for (;;) {
        tl_audit_result res;
        err[0] = 0;
        rc = tl_audit_run(h, &t, &ao, &st, &res, err, sizeof(err));
        if (rc != TL_OK && monitor && stop_flag) {
            tl_audit_result_release(&res);
            break; /* interrupted by SIGINT/SIGTERM */
        }
        if (rc == TL_OK) {
            fails = 0;
            if (o->state) {
                char serr[TL_ERRMSG];
                int src = tl_audit_state_save(o->state, &st, serr, sizeof(serr));
                if (src != TL_OK) {
                    fprintf(stderr, "tlog: %s: cannot save the state: %s\n", o->cmd, serr);
                    ex = TL_EXIT_IO;
                    tl_audit_result_release(&res);
                    goto out;
                }
            }
            if (!monitor || !reported || st.size != last_reported)
                report_success(o, &st, &res, monitor);
            if (!o->quiet)
                tl_audit_report(stderr, o->cmd, &res, &said_public);
            reported = 1;
            last_reported = st.size;
        } else if (monitor && exit_for(rc) == TL_EXIT_IO && !res.fatal) {
            /* Network trouble: back off and try again. */
            double d = o->interval * (double)(1u << (fails < 6 ? fails : 6));
            if (d > 300)
                d = 300;
            fails++;
            fprintf(stderr, "tlog: monitor: %s; retrying in %.1f s\n", err, d);
            tl_audit_result_release(&res);
            sleep_interruptible(d);
            if (stop_flag)
                break;
            continue;
        } else {
            ex = report_failure(o, rc, err, &res);
            tl_audit_result_release(&res);
            goto out;
        }
        tl_audit_result_release(&res);
        if (!monitor || stop_flag)
            break;
        sleep_interruptible(o->interval);
        if (stop_flag)
            break;
    }
    ex = TL_EXIT_OK;
out:
    tl_audit_state_release(&st);
    tl_hasher_free(hs);
    tl_http_free(h);
    tl_trust_release(&t);
    return ex;
}

int main(int argc, char **argv)
{
    opts o;
    int ex = parse_args(argc, argv, &o);
    if (ex == -1)
        return TL_EXIT_OK;
    if (ex)
        return ex;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "tlog: cannot initialise libcurl\n");
        return TL_EXIT_IO;
    }
    signal(SIGPIPE, SIG_IGN);
    char *token = NULL;
    if (strcmp(o.cmd, "audit") == 0 || strcmp(o.cmd, "monitor") == 0 ||
        (o.sub && strcmp(o.sub, "verify") != 0)) {
        char err[TL_ERRMSG];
        int rc = tl_token_load(o.token_file, &token, err, sizeof(err));
        if (rc != TL_OK) {
            fprintf(stderr, "tlog: %s\n", err);
            curl_global_cleanup();
            return rc == TL_ERR_INVALID ? TL_EXIT_USAGE : TL_EXIT_IO;
        }
        o.http.token = token;
    }
    if (strcmp(o.cmd, "monitor") == 0) {
        /* The first SIGINT/SIGTERM stops monitor between runs; a second
         * one (SA_RESETHAND) ends it at once. */
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESETHAND;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }
    if (strcmp(o.cmd, "add") == 0)
        ex = cmd_add(&o);
    else if (strcmp(o.cmd, "verify") == 0)
        ex = cmd_verify(&o);
    else if (strcmp(o.cmd, "audit") == 0)
        ex = cmd_audit(&o, 0);
    else if (o.sub)
        ex = cmd_event(&o);
    else
        ex = cmd_audit(&o, 1);
    free(token);
    curl_global_cleanup();
    return ex;
}
