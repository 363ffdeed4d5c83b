/*
 * event.c - `tlog event add | verify | search`: the client side of an audit
 * log's events (CONTRACT.md "Audit logs": receipts, POST /audit/v1/events,
 * GET /audit/v1/events?filters).
 *
 * Guarantees: a receipt or a search result is reported as holding only when
 * its record is a record, the record's commitment is SHA-256(salt ||
 * JCS(event)) of the event as given (canonicalized again here), and the
 * record is in a checkpoint the trust accepts (log signature, cosignature
 * quorum, inclusion). A search also checks that every result matches the
 * filters asked for and that results come newest first without a repeat: a
 * server cannot slip in an event the query did not ask for. What a search
 * cannot prove is that no matching event was left out (docs/AUDIT.md).
 * Nothing of an event goes to stderr: reasons name indexes, files and lines.
 */
#include "client/client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/event.h"
#include "audit/jcs.h"
#include "audit/record.h"
#include "common/b64.h"
#include "common/err.h"
#include "signer/tlogproof.h"

#define EVENTS_FILE_MAX ((size_t)1 << 30) /* tlog event add: the whole input */
#define RECEIPTS_FILE_MAX ((size_t)256 << 20)
#define BODY_MAX ((size_t)16 << 20)    /* the log's limit on one POST */
#define ANSWER_MAX ((size_t)512 << 20) /* receipts of one batch, one page */
#define PAGE_MAX 1000                  /* the log's most results a page */

/* ---- checks --------------------------------------------------------------- */

int tl_event_check(tl_hasher *h, const json_t *event, const char *salt_b64, const char *record,
                   size_t record_len, uint64_t *time_ms, char *err, size_t cap)
{
    uint64_t t;
    tl_hash want, got;
    if (tl_audit_record_parse(record, record_len, &t, &want) != TL_OK) {
        snprintf(err, cap, "record: not an audit record {\"v\":1,\"time\":...,\"commitment\":...}");
        return TL_ERR_INVALID;
    }
    uint8_t salt[TL_AUDIT_SALT + 3];
    size_t saltlen = 0;
    if (tl_b64_decode(salt_b64, strlen(salt_b64), salt, sizeof(salt), &saltlen) != TL_OK ||
        saltlen != TL_AUDIT_SALT) {
        snprintf(err, cap, "salt: not %d bytes of standard base64", TL_AUDIT_SALT);
        return TL_ERR_INVALID;
    }
    if (!json_is_object(event)) {
        snprintf(err, cap, "event: not a JSON object");
        return TL_ERR_INVALID;
    }
    tl_buf canon = TL_BUF_INIT;
    int rc = tl_jcs_append(event, &canon);
    if (rc != TL_OK) {
        tl_buf_release(&canon);
        snprintf(err, cap,
                 "event: has no canonical form (a number that is not an integer "
                 "of magnitude below 2^53, or invalid UTF-8)");
        return rc == TL_ERR_NOMEM ? TL_ERR_NOMEM : TL_ERR_INVALID;
    }
    tl_audit_commitment(h, salt, canon.data, canon.len, &got);
    tl_buf_release(&canon);
    if (memcmp(want.b, got.b, TL_HASH_SIZE) != 0) {
        char w[TL_B64_LEN(TL_HASH_SIZE) + 1], g[TL_B64_LEN(TL_HASH_SIZE) + 1];
        tl_b64_encode(want.b, TL_HASH_SIZE, w);
        tl_b64_encode(got.b, TL_HASH_SIZE, g);
        snprintf(err, cap, "commitment: the record says %s, SHA-256(salt || canonical event) is %s",
                 w, g);
        return TL_ERR_PROOF;
    }
    if (time_ms)
        *time_ms = t;
    return TL_OK;
}

/* The string member name of o, or NULL. */
static const char *str_member(const json_t *o, const char *name)
{
    return json_string_value(json_object_get(o, name));
}

int tl_receipt_verify(const tl_trust *t, tl_hasher *h, const json_t *receipt, uint64_t *index,
                      tl_checkpoint *cp, char *err, size_t cap)
{
    if (!json_is_object(receipt)) {
        snprintf(err, cap, "not a receipt: not a JSON object");
        return TL_ERR_INVALID;
    }
    static const char *const members[] = {"salt", "record", "proof"};
    for (size_t i = 0; i < 3; i++)
        if (!json_is_string(json_object_get(receipt, members[i]))) {
            snprintf(err, cap, "not a receipt: no string member \"%s\"", members[i]);
            return TL_ERR_INVALID;
        }
    const json_t *rec = json_object_get(receipt, "record");
    int rc = tl_event_check(h, json_object_get(receipt, "event"), str_member(receipt, "salt"),
                            json_string_value(rec), json_string_length(rec), NULL, err, cap);
    if (rc != TL_OK)
        return rc;
    const json_t *proof = json_object_get(receipt, "proof");
    return tl_verify_proof(t, json_string_value(proof), json_string_length(proof),
                           (const uint8_t *)json_string_value(rec), json_string_length(rec), index,
                           cp, err, cap);
}

/* ---- shared ---------------------------------------------------------------- */

/* The first line of an error answer, at most 300 bytes, for a message. */
static int reason_len(const tl_buf *b)
{
    if (b->data == NULL)
        return 0;
    const char *nl = memchr(b->data, '\n', b->len);
    size_t n = nl ? (size_t)(nl - (const char *)b->data) : b->len;
    return (int)(n > 300 ? 300 : n);
}

/* The exit status for an answer that is not 200: the log refused what it
 * was given (2) or could not or would not serve (3). */
static int exit_for_status(long status)
{
    return status == 400 || status == 409 || status == 413 ? TL_EXIT_USAGE : TL_EXIT_IO;
}

static int exit_for_check(int rc)
{
    return rc == TL_ERR_NOMEM || rc == TL_ERR_IO ? TL_EXIT_IO : TL_EXIT_VERIFY;
}

/* Writes s and a newline to out; 0 or -1 (errno). */
static int put_line(tl_buf *out, FILE *f, const char *s)
{
    if (out)
        return tl_buf_adds(out, s) == TL_OK && tl_buf_add(out, "\n", 1) == TL_OK ? 0 : -1;
    return fputs(s, f) < 0 || fputc('\n', f) == EOF ? -1 : 0;
}

/* One line of NDJSON input: [start, end) without its LF. */
typedef struct line {
    size_t start, end;
} line;

/* The next line of s[0..len) from *p that is not blank (spaces, tabs, CR),
 * as *l; *ln counts lines from 1 (blank ones too). 0 at the end. */
static int next_line(const char *s, size_t len, size_t *p, size_t *ln, line *l)
{
    while (*p < len) {
        const char *nl = memchr(s + *p, '\n', len - *p);
        size_t start = *p, e = nl ? (size_t)(nl - s) : len, q = start;
        *p = e + 1;
        (*ln)++;
        while (q < e && (s[q] == ' ' || s[q] == '\t' || s[q] == '\r'))
            q++;
        if (q < e) {
            *l = (line){start, e};
            return 1;
        }
    }
    return 0;
}

/* ---- add ------------------------------------------------------------------- */

/* The log's max_batch from GET /audit/v1/log (default when absent). */
static int log_limits(tl_http *h, uint64_t *max_batch, char *err, size_t cap)
{
    tl_buf b = TL_BUF_INIT;
    long status = 0;
    int rc = tl_http_request(h, "audit/v1/log", NULL, 0, "application/json", 1 << 20, &b, &status,
                             err, cap);
    if (rc != TL_OK) {
        tl_buf_release(&b);
        return TL_EXIT_IO;
    }
    int ex = TL_EXIT_OK;
    json_t *j = status == 200 ? json_loadb((const char *)b.data, b.len, 0, NULL) : NULL;
    const char *kind = str_member(j, "kind");
    if (kind == NULL || strcmp(kind, "audit") != 0) {
        if (status == 404)
            snprintf(err, cap, "%s is not an audit log (GET /audit/v1/log: 404)", tl_http_base(h));
        else
            snprintf(err, cap, "%s: GET /audit/v1/log: HTTP status %ld, not an audit log's answer",
                     tl_http_base(h), status);
        ex = TL_EXIT_IO;
    }
    json_int_t mb = json_integer_value(json_object_get(j, "max_batch"));
    *max_batch = mb > 0 && mb <= 1000000 ? (uint64_t)mb : 1000;
    json_decref(j);
    tl_buf_release(&b);
    return ex;
}

/* Posts body (n events, the first of them event first) and writes their
 * receipts, verified when t holds trust. */
static int post_batch(tl_http *h, const tl_trust *t, tl_hasher *hs, const char *ctype,
                      const void *body, size_t len, size_t n, size_t first, tl_buf *out,
                      size_t *written)
{
    char err[TL_ERRMSG];
    tl_buf resp = TL_BUF_INIT;
    long status = 0;
    tl_http_set_content_type(h, ctype);
    int rc = tl_http_request(h, "audit/v1/events", body, len, "application/json", ANSWER_MAX, &resp,
                             &status, err, sizeof(err));
    int ex = TL_EXIT_OK;
    json_t *j = NULL;
    if (rc != TL_OK) {
        fprintf(stderr, "tlog: event add: events %zu..%zu: %s\n", first, first + n - 1, err);
        ex = TL_EXIT_IO;
        goto out;
    }
    if (status != 200) {
        /* "event <i>: why" counts from this batch's first event: say it
         * as the input's index. */
        int rl = reason_len(&resp);
        const char *r = (const char *)resp.data;
        char *end = NULL;
        unsigned long long i = 0;
        if (rl > 6 && strncmp(r, "event ", 6) == 0) {
            errno = 0;
            i = strtoull(r + 6, &end, 10);
            if (errno || end == r + 6 || end >= r + rl || *end != ':')
                end = NULL;
        }
        if (end)
            fprintf(stderr, "tlog: event add: HTTP status %ld: event %llu%.*s\n", status,
                    (unsigned long long)first + i, (int)(rl - (end - r)), end);
        else
            fprintf(stderr, "tlog: event add: events %zu..%zu: HTTP status %ld: %.*s\n", first,
                    first + n - 1, status, rl, r ? r : "");
        ex = exit_for_status(status);
        goto out;
    }
    json_error_t je;
    j = json_loadb((const char *)resp.data, resp.len, JSON_REJECT_DUPLICATES, &je);
    json_t *rs = json_object_get(j, "receipts");
    if (!json_is_array(rs) || json_array_size(rs) != n) {
        fprintf(stderr, "tlog: event add: events %zu..%zu: the answer is not %zu receipts\n", first,
                first + n - 1, n);
        ex = TL_EXIT_IO;
        goto out;
    }
    for (size_t k = 0; k < n; k++) {
        json_t *r = json_array_get(rs, k);
        uint64_t index = 0;
        if (t->key || t->policy) {
            rc = tl_receipt_verify(t, hs, r, &index, NULL, err, sizeof(err));
            if (rc != TL_OK) {
                fprintf(stderr, "tlog: event add: event %zu: the log's receipt does not hold: %s\n",
                        first + k, err);
                ex = exit_for_check(rc);
                goto out;
            }
        }
        char *s = json_dumps(r, JSON_COMPACT);
        if (s == NULL || put_line(out, stdout, s) != 0) {
            free(s);
            fprintf(stderr, "tlog: event add: writing receipts: %s\n", strerror(errno));
            ex = TL_EXIT_IO;
            goto out;
        }
        free(s);
        (*written)++;
    }
    if (!out && fflush(stdout) != 0) {
        fprintf(stderr, "tlog: event add: writing receipts: %s\n", strerror(errno));
        ex = TL_EXIT_IO;
    }
out:
    json_decref(j);
    tl_buf_release(&resp);
    return ex;
}

int tl_event_add(tl_http *h, const tl_trust *t, const char *file, const tl_event_opts *o)
{
    char err[TL_ERRMSG];
    tl_buf in = TL_BUF_INIT, body = TL_BUF_INIT, outb = TL_BUF_INIT;
    tl_hasher *hs = tl_hasher_new();
    line *lines = NULL;
    size_t nlines = 0, written = 0;
    int ex = TL_EXIT_IO;
    if (hs == NULL)
        goto out;
    int rc = tl_read_file(file, EVENTS_FILE_MAX, &in, err, sizeof(err));
    if (rc != TL_OK) {
        fprintf(stderr, "tlog: event add: %s\n", err);
        goto out;
    }
    uint64_t max_batch = 1000;
    ex = log_limits(h, &max_batch, err, sizeof(err));
    if (ex != TL_EXIT_OK) {
        fprintf(stderr, "tlog: event add: %s\n", err);
        goto out;
    }
    tl_buf *out = o->out ? &outb : NULL;
    /* One event (a JSON object, however it is laid out), or NDJSON. */
    json_t *one = json_loadb((const char *)in.data, in.len, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(one)) {
        json_decref(one);
        ex = post_batch(h, t, hs, "application/json", in.data, in.len, 1, 0, out, &written);
        goto done;
    }
    json_decref(one);
    /* NDJSON: the lines that are not blank, posted in batches of at most
     * the log's max_batch events and 16 MiB. */
    size_t cap_lines = 0, p = 0, ln = 0;
    const char *s = (const char *)in.data;
    line l;
    while (next_line(s, in.len, &p, &ln, &l)) {
        if (l.end - l.start + 1 > BODY_MAX) {
            fprintf(stderr, "tlog: event add: %s:%zu: a line over 16 MiB (the log's limit)\n", file,
                    ln);
            ex = TL_EXIT_USAGE;
            goto out;
        }
        if (nlines == cap_lines) {
            cap_lines = cap_lines ? cap_lines * 2 : 1024;
            line *nl2 = realloc(lines, cap_lines * sizeof(*lines));
            if (nl2 == NULL)
                goto out;
            lines = nl2;
        }
        lines[nlines++] = l;
    }
    if (nlines == 0) {
        fprintf(stderr, "tlog: event add: %s holds no event\n", file);
        ex = TL_EXIT_USAGE;
        goto out;
    }
    ex = TL_EXIT_OK;
    for (size_t i = 0; i < nlines && ex == TL_EXIT_OK;) {
        size_t first = i;
        tl_buf_reset(&body);
        while (i < nlines && i - first < max_batch &&
               body.len + (lines[i].end - lines[i].start) + 1 <= BODY_MAX) {
            if (tl_buf_add(&body, s + lines[i].start, lines[i].end - lines[i].start) != TL_OK ||
                tl_buf_add(&body, "\n", 1) != TL_OK) {
                ex = TL_EXIT_IO;
                goto out;
            }
            i++;
        }
        ex = post_batch(h, t, hs, "application/x-ndjson", body.data, body.len, i - first, first,
                        out, &written);
    }
done:
    if (ex != TL_EXIT_OK && written > 0)
        fprintf(stderr, "tlog: event add: the first %zu events were recorded (their receipts %s)\n",
                written, o->out ? "are below" : "are on stdout");
    if (o->out && written > 0) {
        rc = tl_write_file_atomic(o->out, outb.data, outb.len, err, sizeof(err));
        if (rc != TL_OK) {
            /* the events are recorded: their receipts must not be lost */
            fprintf(stderr, "tlog: event add: %s; the receipts are on stdout instead\n", err);
            if (fwrite(outb.data, 1, outb.len, stdout) != outb.len || fflush(stdout) != 0)
                fprintf(stderr, "tlog: event add: writing receipts: %s\n", strerror(errno));
            ex = TL_EXIT_IO;
        }
    } else if (o->out && ex == TL_EXIT_OK) {
        rc = tl_write_file_atomic(o->out, "", 0, err, sizeof(err));
    }
    if (ex == TL_EXIT_OK && !o->quiet)
        fprintf(stderr, "tlog: %zu event%s recorded%s\n", written, written == 1 ? "" : "s",
                t->key || t->policy ? ", every receipt verified" : "");
out:
    free(lines);
    tl_buf_release(&in);
    tl_buf_release(&body);
    tl_buf_release(&outb);
    tl_hasher_free(hs);
    return ex;
}

/* ---- verify ------------------------------------------------------------------ */

/* Verifies one receipt and reports it; returns its exit status. */
static int verify_one(const tl_trust *t, tl_hasher *h, const json_t *r, const char *file, size_t ln,
                      const tl_event_opts *o)
{
    char err[TL_ERRMSG], where[600];
    if (ln)
        snprintf(where, sizeof(where), "%s:%zu", file, ln);
    else
        snprintf(where, sizeof(where), "%s", file);
    uint64_t index = 0;
    tl_checkpoint cp;
    int rc = tl_receipt_verify(t, h, r, &index, &cp, err, sizeof(err));
    if (o->json) {
        json_t *j =
            rc == TL_OK
                ? json_pack("{s:s, s:b, s:s, s:I, s:I}", "receipt", where, "ok", 1, "origin",
                            cp.origin, "index", (json_int_t)index, "size", (json_int_t)cp.size)
                : json_pack("{s:s, s:b, s:s}", "receipt", where, "ok", 0, "error", err);
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(j);
    }
    if (rc != TL_OK) {
        fprintf(stderr, "tlog: event verify: %s: %s\n", where, err);
        return exit_for_check(rc);
    }
    if (!o->json && !o->quiet)
        printf("OK: %s: event %llu of %s (checkpoint size %llu)\n", where,
               (unsigned long long)index, cp.origin, (unsigned long long)cp.size);
    return TL_EXIT_OK;
}

int tl_event_verify(const tl_trust *t, const char *const *files, int n, const tl_event_opts *o)
{
    int worst = TL_EXIT_OK;
    tl_hasher *h = tl_hasher_new();
    if (h == NULL)
        return TL_EXIT_IO;
    for (int f = 0; f < n; f++) {
        char err[TL_ERRMSG];
        tl_buf b = TL_BUF_INIT;
        int ex = TL_EXIT_OK;
        if (tl_read_file(files[f], RECEIPTS_FILE_MAX, &b, err, sizeof(err)) != TL_OK) {
            fprintf(stderr, "tlog: event verify: %s\n", err);
            ex = TL_EXIT_IO;
        } else {
            /* One receipt (however laid out), or NDJSON, one a line. */
            json_t *one = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, NULL);
            if (one) {
                ex = verify_one(t, h, one, files[f], 0, o);
                json_decref(one);
            } else {
                const char *s = (const char *)b.data;
                size_t seen = 0, p = 0, ln = 0;
                line l;
                while (next_line(s, b.len, &p, &ln, &l)) {
                    json_error_t je;
                    json_t *r =
                        json_loadb(s + l.start, l.end - l.start, JSON_REJECT_DUPLICATES, &je);
                    int x;
                    if (r == NULL) {
                        fprintf(stderr, "tlog: event verify: %s:%zu: not JSON (at column %d)\n",
                                files[f], ln, je.column);
                        x = TL_EXIT_VERIFY;
                    } else {
                        x = verify_one(t, h, r, files[f], ln, o);
                    }
                    json_decref(r);
                    seen++;
                    if (x > ex)
                        ex = x;
                }
                if (seen == 0) {
                    fprintf(stderr, "tlog: event verify: %s: no receipt in it\n", files[f]);
                    ex = TL_EXIT_VERIFY;
                }
            }
        }
        tl_buf_release(&b);
        /* a verification failure outranks an unreadable file in the exit */
        if (worst == TL_EXIT_OK || ex == TL_EXIT_VERIFY)
            worst = ex;
    }
    tl_hasher_free(h);
    return worst;
}

/* ---- search -------------------------------------------------------------------- */

/* Appends "&name=<escaped value>" (no '&' first) to q. */
static int add_param(CURL *c, tl_buf *q, const char *name, const char *value)
{
    if (value == NULL)
        return TL_OK;
    char *e = curl_easy_escape(c, value, 0);
    if (e == NULL)
        return TL_ERR_NOMEM;
    int rc = tl_buf_addf(q, "%s%s=%s", q->len ? "&" : "", name, e);
    curl_free(e);
    return rc;
}

/* The query's time bound as milliseconds, when this side can read it:
 * RFC 3339 or a decimal count. 0 when it cannot (the log then refuses it). */
static int bound_ms(const char *s, int64_t *ms)
{
    if (s == NULL)
        return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno == 0 && end != s && *end == 0 && v >= 0) {
        *ms = v;
        return 1;
    }
    return tl_audit_time_ms(s, strlen(s), ms) == TL_OK;
}

/* Checks that a result matches what was asked; err says which filter not. */
static int matches(const tl_event_opts *o, const json_t *ev, uint64_t t, char *err, size_t cap)
{
    const json_t *actor = json_object_get(ev, "actor"), *res = json_object_get(ev, "resource");
    const struct {
        const char *want, *got, *name;
    } f[] = {{o->actor, str_member(actor, "id"), "actor"},
             {o->action, str_member(ev, "action"), "action"},
             {o->resource_type, str_member(res, "type"), "resource_type"},
             {o->resource_id, str_member(res, "id"), "resource_id"},
             {o->outcome, str_member(ev, "outcome"), "outcome"}};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        if (f[i].want && (f[i].got == NULL || strcmp(f[i].want, f[i].got) != 0)) {
            snprintf(err, cap, "does not match the filter %s", f[i].name);
            return 0;
        }
    int64_t b;
    if (bound_ms(o->since, &b) && (int64_t)t < b) {
        snprintf(err, cap, "its log time is before since");
        return 0;
    }
    if (bound_ms(o->until, &b) && (int64_t)t >= b) {
        snprintf(err, cap, "its log time is not before until");
        return 0;
    }
    return 1;
}

/* A value for the table: at most w bytes (cut at a UTF-8 boundary), no
 * control characters (a terminal must not be steered by an event). */
static void cell(const char *s, size_t w, char *out)
{
    size_t n = 0;
    if (s == NULL)
        s = "-";
    for (size_t i = 0; s[i] && n < w; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c & 0xC0) == 0x80 && n == 0)
            continue;
        if (c < 0x20 || c == 0x7f)
            c = '?';
        out[n++] = (char)c;
    }
    /* do not end inside a UTF-8 sequence */
    size_t k = n;
    while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80)
        k--;
    if (k > 0 && ((unsigned char)out[k - 1] & 0x80)) {
        unsigned char lead = (unsigned char)out[k - 1];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
        if (n - (k - 1) < need)
            n = k - 1;
    }
    out[n] = 0;
}

static void table_header(void)
{
    printf("%10s  %-24s  %-20s  %-24s  %-30s  %s\n", "INDEX", "LOG TIME", "ACTOR", "ACTION",
           "RESOURCE", "OUTCOME");
}

/* The tlog-proof text of a search result, for its receipt. */
static char *result_proof(uint64_t index, const tl_hash *proof, size_t n, const char *note,
                          size_t note_len)
{
    tl_tlogproof p;
    memset(&p, 0, sizeof(p));
    p.index = index;
    memcpy(p.proof, proof, n * sizeof(*proof));
    p.proof_len = n;
    p.checkpoint = (char *)note;
    p.checkpoint_len = note_len;
    char *out = NULL;
    size_t len = 0;
    if (tl_tlogproof_format(&p, &out, &len) != TL_OK)
        return NULL;
    return out;
}

/* Verifies one page and prints its results; *more gets its cursor, *shown
 * the results printed, *last the lowest index so far. */
static int search_page(const tl_trust *t, tl_hasher *h, const tl_event_opts *o, json_t *page,
                       uint64_t *shown, uint64_t *last, char **next)
{
    char err[TL_ERRMSG];
    const json_t *jn = json_object_get(page, "checkpoint");
    const json_t *evs = json_object_get(page, "events");
    if (!json_is_string(jn) || !json_is_array(evs)) {
        fprintf(stderr, "tlog: event search: the answer has no checkpoint or no events\n");
        return TL_EXIT_IO;
    }
    tl_checkpoint cp;
    int rc = tl_trust_verify_checkpoint(t, json_string_value(jn), json_string_length(jn), &cp, err,
                                        sizeof(err));
    if (rc != TL_OK) {
        fprintf(stderr, "tlog: event search: %s\n", err);
        return exit_for_check(rc);
    }
    size_t i;
    json_t *r;
    json_array_foreach(evs, i, r)
    {
        json_int_t ji = json_integer_value(json_object_get(r, "index"));
        const json_t *rec = json_object_get(r, "record"), *ev = json_object_get(r, "event");
        const json_t *ip = json_object_get(r, "inclusion_proof");
        if (!json_is_integer(json_object_get(r, "index")) || ji < 0 || !json_is_string(rec) ||
            !json_is_string(json_object_get(r, "salt")) || !json_is_array(ip)) {
            fprintf(stderr,
                    "tlog: event search: result %zu of a page is not a result "
                    "(index, event, salt, record, inclusion_proof)\n",
                    i);
            return TL_EXIT_VERIFY;
        }
        uint64_t index = (uint64_t)ji, tms = 0;
        if (*shown > 0 && index >= *last) {
            fprintf(stderr,
                    "tlog: event search: index %llu after index %llu: results are not "
                    "newest first without repeats\n",
                    (unsigned long long)index, (unsigned long long)*last);
            return TL_EXIT_VERIFY;
        }
        rc = tl_event_check(h, ev, str_member(r, "salt"), json_string_value(rec),
                            json_string_length(rec), &tms, err, sizeof(err));
        if (rc == TL_OK && !matches(o, ev, tms, err, sizeof(err)))
            rc = TL_ERR_INVALID;
        tl_hash proof[TL_MAX_PROOF], leaf;
        size_t np = json_array_size(ip);
        if (rc == TL_OK && np > TL_MAX_PROOF) {
            snprintf(err, sizeof(err), "inclusion proof: %zu hashes", np);
            rc = TL_ERR_INVALID;
        }
        for (size_t k = 0; rc == TL_OK && k < np; k++) {
            const char *b = json_string_value(json_array_get(ip, k));
            size_t got = 0;
            uint8_t tmp[TL_HASH_SIZE + 3];
            if (b == NULL || tl_b64_decode(b, strlen(b), tmp, sizeof(tmp), &got) != TL_OK ||
                got != TL_HASH_SIZE) {
                snprintf(err, sizeof(err), "inclusion proof: hash %zu is not base64 of 32 bytes",
                         k);
                rc = TL_ERR_INVALID;
            } else {
                memcpy(proof[k].b, tmp, TL_HASH_SIZE);
            }
        }
        if (rc == TL_OK) {
            tl_hash_leaf(h, json_string_value(rec), json_string_length(rec), &leaf);
            rc = tl_verify_inclusion(h, &leaf, index, cp.size, proof, np, &cp.root);
            if (rc != TL_OK)
                snprintf(err, sizeof(err),
                         "inclusion: the record is not at this index of the checkpoint's tree "
                         "(size %llu)",
                         (unsigned long long)cp.size);
        }
        if (rc != TL_OK) {
            fprintf(stderr, "tlog: event search: index %llu: %s\n", (unsigned long long)index, err);
            return exit_for_check(rc);
        }
        if (o->json) {
            char *p = result_proof(index, proof, np, json_string_value(jn), json_string_length(jn));
            json_t *rc2 = p ? json_pack("{s:O, s:O, s:O, s:s}", "event", ev, "salt",
                                        json_object_get(r, "salt"), "record", rec, "proof", p)
                            : NULL;
            char *line = rc2 ? json_dumps(rc2, JSON_COMPACT) : NULL;
            free(p);
            json_decref(rc2);
            if (line == NULL) {
                fprintf(stderr, "tlog: event search: out of memory\n");
                return TL_EXIT_IO;
            }
            printf("%s\n", line);
            free(line);
        } else if (!o->quiet) {
            if (*shown == 0)
                table_header();
            char ts[25], actor[41], action[41], rtype[33], rid[41], outcome[9];
            tl_audit_time_format((int64_t)tms, ts);
            const json_t *res = json_object_get(ev, "resource");
            cell(str_member(json_object_get(ev, "actor"), "id"), 40, actor);
            cell(str_member(ev, "action"), 40, action);
            cell(str_member(res, "type"), 32, rtype);
            cell(str_member(res, "id"), 40, rid);
            cell(str_member(ev, "outcome"), 8, outcome);
            char resource[80];
            snprintf(resource, sizeof(resource), "%s/%s", rtype, rid);
            printf("%10llu  %s  %-20s  %-24s  %-30s  %s\n", (unsigned long long)index, ts, actor,
                   action, resource, outcome);
        }
        *last = index;
        (*shown)++;
        if (*shown >= o->limit)
            return TL_EXIT_OK;
    }
    const json_t *jnext = json_object_get(page, "next");
    if (json_is_string(jnext) && json_array_size(evs) > 0)
        *next = strdup(json_string_value(jnext));
    else if (json_is_string(jnext))
        fprintf(stderr, "tlog: event search: an empty page with a cursor; stopping here\n");
    return TL_EXIT_OK;
}

int tl_event_search(tl_http *h, const tl_trust *t, const tl_event_opts *o)
{
    char err[TL_ERRMSG];
    tl_hasher *hs = tl_hasher_new();
    CURL *c = curl_easy_init();
    tl_buf q = TL_BUF_INIT, path = TL_BUF_INIT, resp = TL_BUF_INIT;
    char *cursor = NULL;
    int ex = TL_EXIT_IO;
    if (hs == NULL || c == NULL)
        goto out;
    if (add_param(c, &q, "actor", o->actor) || add_param(c, &q, "action", o->action) ||
        add_param(c, &q, "resource_type", o->resource_type) ||
        add_param(c, &q, "resource_id", o->resource_id) ||
        add_param(c, &q, "outcome", o->outcome) || add_param(c, &q, "since", o->since) ||
        add_param(c, &q, "until", o->until))
        goto out;
    uint64_t shown = 0, last = 0, pages = 0;
    ex = TL_EXIT_OK;
    while (ex == TL_EXIT_OK && shown < o->limit) {
        uint64_t want = o->limit - shown;
        tl_buf_reset(&path);
        if (tl_buf_addf(&path, "audit/v1/events?%s%slimit=%llu", q.len ? (char *)q.data : "",
                        q.len ? "&" : "",
                        (unsigned long long)(want > PAGE_MAX ? PAGE_MAX : want)) != TL_OK ||
            (cursor && add_param(c, &path, "cursor", cursor))) {
            ex = TL_EXIT_IO;
            break;
        }
        free(cursor);
        cursor = NULL;
        long status = 0;
        tl_buf_reset(&resp);
        int rc = tl_http_request(h, (const char *)path.data, NULL, 0, "application/json",
                                 ANSWER_MAX, &resp, &status, err, sizeof(err));
        if (rc != TL_OK) {
            fprintf(stderr, "tlog: event search: %s\n", err);
            ex = TL_EXIT_IO;
            break;
        }
        if (status != 200) {
            fprintf(stderr, "tlog: event search: GET %s/audit/v1/events: HTTP status %ld: %.*s\n",
                    tl_http_base(h), status, reason_len(&resp),
                    resp.data ? (const char *)resp.data : "");
            ex = exit_for_status(status);
            break;
        }
        json_error_t je;
        json_t *page = json_loadb((const char *)resp.data, resp.len, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(page)) {
            fprintf(stderr, "tlog: event search: the answer is not JSON (%s)\n", je.text);
            json_decref(page);
            ex = TL_EXIT_IO;
            break;
        }
        ex = search_page(t, hs, o, page, &shown, &last, &cursor);
        json_decref(page);
        pages++;
        if (cursor == NULL)
            break;
    }
    if (ex == TL_EXIT_OK && shown == 0 && !o->json && !o->quiet)
        table_header();
    fflush(stdout);
    if (ex == TL_EXIT_OK && !o->quiet)
        fprintf(stderr,
                "tlog: %llu event%s found, each verified (record, commitment, inclusion "
                "in a signed checkpoint)\n",
                (unsigned long long)shown, shown == 1 ? "" : "s");
out:
    free(cursor);
    if (c)
        curl_easy_cleanup(c);
    tl_buf_release(&q);
    tl_buf_release(&path);
    tl_buf_release(&resp);
    tl_hasher_free(hs);
    return ex;
}
