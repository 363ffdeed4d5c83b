/*
 * audit.c - the HTTP API of audit logs (CONTRACT.md "Audit logs", docs/AUDIT.md):
 *   GET  /audit/v1/log                     the log's description (public)
 *   POST /audit/v1/events                  one event, a JSON array or NDJSON (writer);
 *                                          receipts once published
 *   GET  /audit/v1/events/<index>          one receipt (reader)
 *   GET  /audit/v1/events?<filters>        a query, newest first, with proofs (reader)
 *   GET  /audit/v1/bodies/<N>[.p/<W>]      the events of entry bundle N, NDJSON (reader)
 *   POST /audit/v1/events/<index>/erase    erases an event's body and salt (admin)
 *
 * Guarantees: a batch is validated whole before anything is submitted and
 * committed whole or refused whole; receipts are given only for events in a
 * published checkpoint, built from what the log committed (a repeat gets the
 * original's salt and record, read back from the log); every answer that
 * carries an event is for a reader (or --public-events); every request with
 * a valid token other than a successful write, and every 403, is recorded
 * as one event of the log itself (submitter @log). Tokens never reach a log
 * line or an answer. Loop thread.
 */
#include "frontend/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "audit/jcs.h"
#include "audit/record.h"
#include "common/b64.h"
#include "common/clock.h"
#include "common/dec.h"
#include "common/err.h"
#include "frontend/audit_query.h"
#include "frontend/tokens.h"
#include "log/kind_audit.h"
#include "signer/tlogproof.h"

#define BATCH_BYTES_MAX (16u << 20)
#define REASON_MAX 1024

/* ---- who asks ------------------------------------------------------------- */

/* Checks the request's token for need: 1 with *who filled when it may go
 * on; 0 when it was answered (401, or 403, which is recorded). */
static int authorize(tl_frontend *f, tl_http_req *r, fe_ep ep, tl_token_op need, const char *action,
                     fe_who *who);

/* ---- the log's own events (access records) -------------------------------- */

/* The resource of an access record: one event, or the log. */
typedef struct fe_res {
    const char *type;
    char id[32];
} fe_res;

static void res_log(tl_frontend *f, fe_res *res)
{
    res->type = "audit.log";
    res->id[0] = 0;
    (void)f;
}

static void res_event(fe_res *res, uint64_t index)
{
    res->type = "audit.event";
    snprintf(res->id, sizeof(res->id), "%llu", (unsigned long long)index);
}

/* The event recording a request: actor the token, action, resource, the
 * outcome of status, details {method, path, query, status[, reason]}.
 * ev is released by the caller. */
static int access_event(tl_frontend *f, tl_http_req *r, const fe_who *who, const char *action,
                        const fe_res *res, int status, const char *reason, tl_audit_event *ev)
{
    char why[TL_AUDIT_REASON_MAX + 32];
    const char *outcome = status < 300 ? "success" : status == 403 ? "denied" : "failure";
    json_t *details =
        json_pack("{s:s, s:s, s:s, s:i}", "method", tl_http_req_method(r), "path",
                  tl_http_req_path(r), "query", tl_http_req_query(r), "status", status);
    json_t *e;
    int rc;
    if (details && reason)
        json_object_set_new(details, "reason", json_string(reason));
    e = json_pack("{s:{s:s, s:s}, s:s, s:{s:s, s:s}, s:s, s:o}", "actor", "id", who->name, "type",
                  "token", "action", action, "resource", "type", res->type, "id",
                  res->id[0] ? res->id : tl_log_origin(f->cfg.log), "outcome", outcome, "details",
                  details);
    if (!e)
        return TL_ERR_NOMEM;
    rc = tl_audit_event_take(e, "@log", SIZE_MAX, ev, why, sizeof why);
    json_decref(e);
    return rc;
}

/* Submits ev (an event of the log's own) without waiting for it. */
static int submit_own(tl_frontend *f, const tl_audit_event *ev, tl_submit_fn cb, void *ctx,
                      const tl_audit_sub *tmpl)
{
    tl_audit_sub s;
    tl_buf b = TL_BUF_INIT;
    tl_sub sub;
    int rc;
    if (tmpl)
        s = *tmpl;
    else
        memset(&s, 0, sizeof s);
    s.ev = ev;
    if (RAND_bytes(s.salt, TL_AUDIT_SALT) != 1)
        return TL_ERR_CRYPTO;
    rc = tl_audit_sub_encode(f->hasher, &s, &b);
    if (rc == TL_OK) {
        sub.data = b.data;
        sub.len = b.len;
        sub.own = 1; /* a closed log still records who reads it */
        rc = tl_log_submit(f->cfg.log, &sub, 1, cb, ctx);
    }
    tl_buf_release(&b);
    return rc;
}

/* Records a request, when the contract says to: a valid token's request
 * (other than a successful write), or a 403. Called before the answer (the
 * request is freed by it); the record is submitted, not waited for.
 * TL_OK, or why the record could not be submitted (counted as lost). */
static int record_access(tl_frontend *f, tl_http_req *r, const fe_who *who, const char *action,
                         const fe_res *res, int status)
{
    tl_audit_event ev;
    int rc;
    if (!who->token && status != 403)
        return TL_OK;
    rc = access_event(f, r, who, action, res, status, NULL, &ev);
    if (rc == TL_OK) {
        rc = submit_own(f, &ev, NULL, NULL, NULL);
        tl_audit_event_release(&ev);
    }
    if (rc != TL_OK)
        f->audit_access_lost++;
    return rc;
}

/* A 200 answer to a read that the access trail records: no event leaves
 * the log unless its record is submitted (else 503 + Retry-After). */
static void reply_recorded(tl_frontend *f, tl_http_req *r, fe_ep ep, const fe_who *who,
                           const char *action, const fe_res *res, const char *ctype,
                           const tl_buf *out)
{
    if (record_access(f, r, who, action, res, 200) != TL_OK) {
        fe_fail(f, r, ep, TL_ERR_BUSY, "cannot record this read in the access trail now");
        return;
    }
    fe_reply(f, r, ep, 200, ctype, "no-store", out->data, out->len);
}

/* An error answer that is recorded too. */
static void fail_rec(tl_frontend *f, tl_http_req *r, fe_ep ep, const fe_who *who,
                     const char *action, const fe_res *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
static void fail_rec(tl_frontend *f, tl_http_req *r, fe_ep ep, const fe_who *who,
                     const char *action, const fe_res *res, int status, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    record_access(f, r, who, action, res, status);
    fe_fail_status(f, r, ep, status, "%s", msg);
}

/* ---- authorization -------------------------------------------------------- */

static int authorize(tl_frontend *f, tl_http_req *r, fe_ep ep, tl_token_op need, const char *action,
                     fe_who *who)
{
    const char *h = tl_http_req_header(r, "authorization"), *tok, *name;
    size_t toklen;
    tl_token_role role;
    fe_res res;
    int open = need == TL_TOKEN_OP_WRITE ? f->cfg.anonymous_writes
                                         : (need == TL_TOKEN_OP_READ && f->cfg.public_events);
    memset(who, 0, sizeof *who);
    snprintf(who->name, sizeof who->name, "@anonymous");
    if (!h) {
        if (open)
            return 1;
        fe_unauthorized(f, r, ep, "a token is required (Authorization: Bearer <token>)");
        return 0;
    }
    tl_tokens_refresh(f->tokens, tl_mono_ms());
    if (tl_token_bearer(h, strlen(h), &tok, &toklen) != TL_OK ||
        tl_tokens_lookup(f->tokens, tok, toklen, &name, &role) != TL_OK) {
        fe_unauthorized(f, r, ep, "unknown or revoked token");
        return 0;
    }
    snprintf(who->name, sizeof who->name, "%s", name);
    who->token = 1;
    who->role = (int)role;
    if (!tl_token_may(role, need)) {
        res_log(f, &res);
        fail_rec(f, r, ep, who, action, &res, 403, "the token %s may not %s", who->name,
                 need == TL_TOKEN_OP_WRITE   ? "submit events"
                 : need == TL_TOKEN_OP_ERASE ? "erase events"
                                             : "read events");
        return 0;
    }
    return 1;
}

/* ---- receipts ------------------------------------------------------------- */

/* Appends the C2SP tlog-proof of index in the checkpoint h to out. */
static int proof_text(tl_frontend *f, const fe_head *h, uint64_t index, tl_buf *out)
{
    tl_tlogproof p;
    int rc;
    memset(&p, 0, sizeof p);
    p.index = index;
    rc = tl_log_reader_inclusion(f->rd, f->pub.size, index, h->size, p.proof, &p.proof_len);
    if (rc != TL_OK)
        return rc;
    p.checkpoint = h->note; /* ours, published, index below its size: no re-parse */
    p.checkpoint_len = h->note_len;
    return tl_tlogproof_append(&p, out);
}

/* The checkpoint a read is answered in: the published one. */
static fe_head read_head(const tl_frontend *f)
{
    fe_head h = {f->pub.size, f->pub.note, f->pub.note_len};
    return h;
}

/* Appends the receipt of index: the canonical event, salt, record (its log
 * time and commitment) and proof in the checkpoint h. */
static int receipt(tl_frontend *f, const fe_head *h, uint64_t index, const uint8_t *canon,
                   size_t canon_len, const uint8_t salt[TL_AUDIT_SALT], uint64_t time_ms,
                   tl_buf *out)
{
    tl_buf rec = TL_BUF_INIT, pt = TL_BUF_INIT;
    tl_hash c;
    int rc;
    tl_audit_commitment(f->hasher, salt, canon, canon_len, &c);
    rc = tl_audit_record_format(time_ms, &c, &rec);
    if (rc == TL_OK)
        rc = proof_text(f, h, index, &pt);
    if (rc == TL_OK)
        rc = tl_audit_receipt_format(canon, canon_len, salt, rec.data, rec.len,
                                     (const char *)pt.data, pt.len, out);
    tl_buf_release(&rec);
    tl_buf_release(&pt);
    return rc;
}

/* ---- POST /audit/v1/events ------------------------------------------------ */

typedef struct audit_waiter {
    fe_waiter w; /* first: the machinery frees through it */
    fe_who who;
    size_t n;
    tl_audit_event *ev; /* n, validated */
    uint8_t (*salt)[TL_AUDIT_SALT];
    tl_sub_result *res; /* n, from the log */
    size_t bad;
    /* an erasure */
    int erase;
    uint64_t target;
} audit_waiter;

/* Frees what aw holds beyond itself (idempotent). */
static void waiter_release(audit_waiter *aw)
{
    for (size_t i = 0; aw->ev && i < aw->n; i++)
        tl_audit_event_release(&aw->ev[i]);
    free(aw->ev);
    free(aw->salt);
    free(aw->res);
    aw->ev = NULL;
    aw->salt = NULL;
    aw->res = NULL;
    aw->n = 0;
}

/* The waiting machinery's forget. */
static void waiter_forget(fe_waiter *w)
{
    waiter_release((audit_waiter *)w);
}

/* The receipts of a published batch: new events from what was submitted,
 * repeats from the log's stored bodies. */
static void events_answer(tl_frontend *f, fe_waiter *w)
{
    audit_waiter *aw = (audit_waiter *)w;
    tl_buf out = TL_BUF_INIT, body = TL_BUF_INIT;
    fe_head head = fe_answer_head(f); /* published, or at every origin too */
    int rc = tl_buf_adds(&out, aw->erase ? "" : "{\"receipts\":[");
    for (size_t i = 0; i < aw->n && rc == TL_OK; i++) {
        const tl_sub_result *x = &aw->res[i];
        if (i)
            rc = tl_buf_adds(&out, ",");
        if (rc != TL_OK)
            break;
        if (!x->dup) {
            rc = receipt(f, &head, x->index, aw->ev[i].canon.data, aw->ev[i].canon.len, aw->salt[i],
                         x->time_ms, &out);
        } else {
            tl_audit_body b;
            rc = tl_audit_body_read(f->cfg.log, x->index, &body, &b);
            if (rc == TL_OK && b.erased)
                rc = TL_ERR_NOTFOUND; /* cannot happen: a repeat of an erased one conflicts */
            if (rc == TL_OK)
                rc = receipt(f, &head, x->index, b.canon, b.canon_len, b.salt, b.time_ms, &out);
        }
    }
    if (rc == TL_OK && !aw->erase)
        rc = tl_buf_adds(&out, "]}");
    if (aw->erase && tl_audit_compact_body(f->cfg.log, aw->target) != TL_OK)
        fprintf(stderr,
                "tlogd: erasure of event %llu: its old bytes stay in the database files "
                "until LevelDB compacts them (the compaction could not be queued)\n",
                (unsigned long long)aw->target);
    if (rc == TL_OK)
        fe_reply(f, w->req, w->ep, 200, "application/json", "no-store", out.data, out.len);
    else
        fe_fail(f, w->req, w->ep, rc, "cannot build the receipts: %s", tl_strerror(rc));
    tl_buf_release(&out);
    tl_buf_release(&body);
}

/* The log refused the batch (committer thread's answer, on the loop). */
static void events_refused(tl_frontend *f, fe_waiter *w)
{
    audit_waiter *aw = (audit_waiter *)w;
    fe_res res;
    res_log(f, &res);
    if (w->err == TL_ERR_CONFLICT && aw->erase) {
        res_event(&res, aw->target);
        /* another erasure of the same event got there first */
        fe_fail_status(f, w->req, w->ep, 410, "event %llu was erased already",
                       (unsigned long long)aw->target);
    } else if (w->err == TL_ERR_CONFLICT) {
        const tl_sub_result *x = &aw->res[aw->bad];
        fail_rec(f, w->req, w->ep, &aw->who, "audit.write", &res, 409,
                 "event %zu: an earlier event (index %llu) has the same submitter, source and id "
                 "but is another occurrence",
                 aw->bad, (unsigned long long)x->index);
    } else {
        fe_fail(f, w->req, w->ep, w->err, "not sequenced: %s", tl_strerror(w->err));
    }
}

/* Reads the body of r into events: one object, an array of them, or
 * NDJSON. On failure answers (and records) and returns 0. */
static int parse_batch(tl_frontend *f, tl_http_req *r, fe_ep ep, audit_waiter *aw)
{
    size_t len, max = f->cfg.max_batch;
    const uint8_t *body = tl_http_req_body(r, &len);
    const char *ct = tl_http_req_header(r, "content-type");
    int ndjson;
    char why[TL_AUDIT_REASON_MAX + 64];
    fe_res res;
    json_error_t je;
    json_t *top = NULL;
    size_t n = 0;

    res_log(f, &res);
    if (!ct)
        ct = "";
    ndjson = strncmp(ct, "application/x-ndjson", 20) == 0 && (ct[20] == 0 || ct[20] == ';');
    if (!ndjson && !(strncmp(ct, "application/json", 16) == 0 && (ct[16] == 0 || ct[16] == ';'))) {
        fail_rec(f, r, ep, &aw->who, "audit.write", &res, 415,
                 "events are application/json (one, or an array) or application/x-ndjson");
        return 0;
    }
    if (len > BATCH_BYTES_MAX) {
        fail_rec(f, r, ep, &aw->who, "audit.write", &res, 413,
                 "a batch is at most 16 MiB (this one is %zu bytes)", len);
        return 0;
    }
    if (len == 0) {
        fail_rec(f, r, ep, &aw->who, "audit.write", &res, 400, "empty body: no event");
        return 0;
    }
    /* count, so that the arrays are allocated once */
    if (ndjson) {
        for (size_t i = 0; i < len; i++)
            n += body[i] == '\n';
        if (body[len - 1] != '\n')
            n++;
    } else {
        top = json_loadb((const char *)body, len, TL_AUDIT_JSON_FLAGS, &je);
        if (!top) {
            char why[200];
            tl_audit_json_error(&je, why, sizeof why);
            fail_rec(f, r, ep, &aw->who, "audit.write", &res, 400, "%s", why);
            return 0;
        }
        n = json_is_array(top) ? json_array_size(top) : 1;
    }
    if (n == 0 || n > max) {
        json_decref(top);
        fail_rec(f, r, ep, &aw->who, "audit.write", &res, n ? 413 : 400,
                 n ? "%zu events: a batch is at most %zu" : "%zu events: an empty batch%.0zu", n,
                 max);
        return 0;
    }
    aw->ev = calloc(n, sizeof *aw->ev);
    aw->salt = malloc(n * TL_AUDIT_SALT);
    aw->res = calloc(n, sizeof *aw->res);
    if (!aw->ev || !aw->salt || !aw->res) {
        json_decref(top);
        fe_fail(f, r, ep, TL_ERR_BUSY, "out of memory");
        return 0;
    }
    for (size_t i = 0, off = 0; i < n; i++) {
        int rc;
        if (ndjson) {
            const uint8_t *nl = memchr(body + off, '\n', len - off);
            size_t l = nl ? (size_t)(nl - (body + off)) : len - off;
            if (l == 0 || (l == 1 && body[off] == '\r')) {
                fail_rec(f, r, ep, &aw->who, "audit.write", &res, 400, "event %zu: an empty line",
                         i);
                return 0;
            }
            rc = tl_audit_event_parse((const char *)body + off, l, aw->who.name, f->cfg.max_event,
                                      &aw->ev[i], why, sizeof why);
            off += l + 1;
        } else {
            json_t *e = json_is_array(top) ? json_array_get(top, i) : top;
            rc =
                tl_audit_event_take(e, aw->who.name, f->cfg.max_event, &aw->ev[i], why, sizeof why);
        }
        aw->n = i + (rc == TL_OK);
        if (rc != TL_OK) {
            json_decref(top);
            fail_rec(f, r, ep, &aw->who, "audit.write", &res, rc == TL_ERR_TOOBIG ? 413 : 400,
                     "event %zu: %s", i, why);
            return 0;
        }
    }
    json_decref(top);
    return 1;
}

/* The log's answer to a group (committer thread): kept for the loop. */
static void on_group(void *ctx, int err, const tl_sub_result *res, size_t n, size_t bad)
{
    audit_waiter *aw = ctx;
    uint64_t top = 0;
    if (err == TL_OK || err == TL_ERR_CONFLICT)
        memcpy(aw->res, res, n * sizeof *res);
    for (size_t i = 0; err == TL_OK && i < n; i++)
        if (res[i].index > top)
            top = res[i].index;
    aw->bad = bad;
    fe_waiter_done(&aw->w, err, top);
}

/* Encodes and submits aw's events as one group. */
static int submit_batch(tl_frontend *f, tl_http_req *r, fe_ep ep, audit_waiter *aw,
                        const tl_audit_sub *tmpl)
{
    tl_sub *subs = calloc(aw->n, sizeof *subs);
    tl_buf *enc = calloc(aw->n, sizeof *enc);
    int rc = subs && enc ? TL_OK : TL_ERR_NOMEM;
    if (rc == TL_OK && RAND_bytes((unsigned char *)aw->salt, (int)(aw->n * TL_AUDIT_SALT)) != 1)
        rc = TL_ERR_CRYPTO;
    for (size_t i = 0; i < aw->n && rc == TL_OK; i++) {
        tl_audit_sub s;
        if (tmpl)
            s = *tmpl;
        else
            memset(&s, 0, sizeof s);
        s.ev = &aw->ev[i];
        memcpy(s.salt, aw->salt[i], TL_AUDIT_SALT);
        rc = tl_audit_sub_encode(f->hasher, &s, &enc[i]);
        subs[i].data = enc[i].data;
        subs[i].len = enc[i].len;
        subs[i].own = s.erase; /* a closed log can still erase (and records it) */
    }
    if (rc == TL_OK)
        rc = fe_waiter_submit_group(f, &aw->w, r, ep, events_answer, events_refused, waiter_forget,
                                    &f->audit_lat, subs, aw->n, on_group, aw);
    for (size_t i = 0; enc && i < aw->n; i++)
        tl_buf_release(&enc[i]);
    free(enc);
    free(subs);
    return rc;
}

/* Encodes n events as submissions, each with a fresh salt: subs[i] points
 * into enc[i]; both arrays (n each) are the caller's to free (encoded_free). */
static int encode_group(tl_frontend *f, const tl_audit_event *ev, size_t n, tl_sub **subs,
                        tl_buf **enc)
{
    int rc;
    *subs = calloc(n ? n : 1, sizeof **subs);
    *enc = calloc(n ? n : 1, sizeof **enc);
    rc = *subs && *enc ? TL_OK : TL_ERR_NOMEM;
    for (size_t i = 0; i < n && rc == TL_OK; i++) {
        rc = fe_audit_encode(f->hasher, &ev[i], &(*enc)[i]);
        (*subs)[i].data = (*enc)[i].data;
        (*subs)[i].len = (*enc)[i].len;
    }
    return rc;
}

int fe_audit_encode(tl_hasher *h, const tl_audit_event *ev, tl_buf *out)
{
    tl_audit_sub s;
    memset(&s, 0, sizeof s);
    s.ev = ev;
    if (RAND_bytes(s.salt, TL_AUDIT_SALT) != 1)
        return TL_ERR_CRYPTO;
    return tl_audit_sub_encode(h, &s, out);
}

static void encoded_free(tl_sub *subs, tl_buf *enc, size_t n)
{
    for (size_t i = 0; enc && i < n; i++)
        tl_buf_release(&enc[i]);
    free(enc);
    free(subs);
}

int fe_audit_submit(tl_frontend *f, const tl_audit_event *ev, size_t n, tl_submit_fn cb, void *ctx)
{
    tl_sub *subs;
    tl_buf *enc;
    int rc = encode_group(f, ev, n, &subs, &enc);
    if (rc == TL_OK)
        rc = fe_audit_submit_encoded(f, subs, n, cb, ctx);
    encoded_free(subs, enc, n);
    return rc;
}

int fe_audit_submit_encoded(tl_frontend *f, const tl_sub *subs, size_t n, tl_submit_fn cb,
                            void *ctx)
{
    return f->cfg.publisher && tl_publisher_lagging(f->cfg.publisher)
               ? TL_ERR_BUSY
               : tl_log_submit(f->cfg.log, subs, n, cb, ctx);
}

int fe_audit_submit_wait(tl_frontend *f, fe_waiter *w, tl_http_req *r, fe_ep ep,
                         fe_answer_fn *answer, fe_answer_fn *refused, void (*forget)(fe_waiter *),
                         const tl_audit_event *ev, size_t n, tl_submit_fn cb, void *ctx)
{
    tl_sub *subs;
    tl_buf *enc;
    int rc = encode_group(f, ev, n, &subs, &enc);
    if (rc == TL_OK)
        rc = fe_waiter_submit_group(f, w, r, ep, answer, refused, forget, &f->audit_lat, subs, n,
                                    cb, ctx);
    encoded_free(subs, enc, n);
    return rc;
}

int fe_audit_authorize_write(tl_frontend *f, tl_http_req *r, fe_ep ep, fe_who *who)
{
    return authorize(f, r, ep, TL_TOKEN_OP_WRITE, "audit.write", who);
}

void fe_audit_write_refused(tl_frontend *f, tl_http_req *r, fe_ep ep, const fe_who *who, int status,
                            const char *fmt, ...)
{
    char msg[320];
    fe_res res;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    res_log(f, &res);
    fail_rec(f, r, ep, who, "audit.write", &res, status, "%s", msg);
}

void fe_audit_events_post(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    audit_waiter *aw = calloc(1, sizeof *aw);
    int rc;
    if (!aw) {
        fe_fail(f, r, ep, TL_ERR_BUSY, "out of memory");
        return;
    }
    if (fe_write_pushback(f, r, ep) ||
        !authorize(f, r, ep, TL_TOKEN_OP_WRITE, "audit.write", &aw->who) ||
        !parse_batch(f, r, ep, aw)) {
        waiter_release(aw);
        free(aw);
        return;
    }
    rc = submit_batch(f, r, ep, aw, NULL);
    if (rc != TL_OK) {
        fe_who who = aw->who;
        fe_res res;
        res_log(f, &res);
        waiter_release(aw);
        free(aw);
        if (rc == TL_ERR_BUSY)
            fe_fail(f, r, ep, rc, "the log cannot take this batch now; retry");
        else if (rc == TL_ERR_TOOBIG)
            fail_rec(f, r, ep, &who, "audit.write", &res, 413, "the batch is too large");
        else
            fe_fail(f, r, ep, rc, "cannot submit: %s", tl_strerror(rc));
    }
}

/* ---- GET /audit/v1/events/<index>, erase ---------------------------------- */

/* The index in path after prefix (canonical decimal), and the rest. */
static int path_index(const char *path, const char *prefix, uint64_t *index, const char **rest)
{
    size_t pl = strlen(prefix), n = 0;
    const char *p = path + pl;
    if (strncmp(path, prefix, pl) != 0)
        return TL_ERR_INVALID;
    while (p[n] >= '0' && p[n] <= '9')
        n++;
    if (n == 0 || tl_dec_parse_u64(p, n, INT64_MAX, index) != TL_OK)
        return TL_ERR_INVALID;
    *rest = p + n;
    return TL_OK;
}

/* 1 when the event is one of the log's erasures. */
static int is_erasure(const tl_audit_body *b)
{
    json_t *e = json_loadb((const char *)b->canon, b->canon_len, JSON_ALLOW_NUL, NULL);
    int yes = e && json_is_string(json_object_get(e, "submitter")) &&
              strcmp(json_string_value(json_object_get(e, "submitter")), "@log") == 0 &&
              json_is_string(json_object_get(e, "action")) &&
              strcmp(json_string_value(json_object_get(e, "action")), "audit.erase") == 0;
    json_decref(e);
    return yes;
}

static void event_get(tl_frontend *f, tl_http_req *r, fe_ep ep, uint64_t index)
{
    fe_who who;
    fe_res res;
    tl_audit_body b;
    tl_buf body = TL_BUF_INIT, out = TL_BUF_INIT;
    fe_head rh;
    int rc;
    if (!authorize(f, r, ep, TL_TOKEN_OP_READ, "audit.read", &who))
        return;
    res_event(&res, index);
    if (!fe_need_pub(f, r, ep))
        return;
    rh = read_head(f);
    if (index >= f->pub.size) {
        fail_rec(f, r, ep, &who, "audit.read", &res, 404,
                 "no event %llu in the published tree of size %llu", (unsigned long long)index,
                 (unsigned long long)f->pub.size);
        return;
    }
    rc = tl_audit_body_read(f->cfg.log, index, &body, &b);
    if (rc == TL_OK && b.erased) {
        fail_rec(f, r, ep, &who, "audit.read", &res, 410, "event %llu was erased by event %llu",
                 (unsigned long long)index, (unsigned long long)b.erased_by);
    } else if (rc == TL_OK && (rc = receipt(f, &rh, index, b.canon, b.canon_len, b.salt, b.time_ms,
                                            &out)) == TL_OK) {
        reply_recorded(f, r, ep, &who, "audit.read", &res, "application/json", &out);
    } else {
        fe_fail(f, r, ep, rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc, "cannot read event %llu: %s",
                (unsigned long long)index, tl_strerror(rc));
    }
    tl_buf_release(&body);
    tl_buf_release(&out);
}

static void event_erase(tl_frontend *f, tl_http_req *r, fe_ep ep, uint64_t index)
{
    audit_waiter *aw;
    fe_who who;
    fe_res res;
    tl_audit_body b;
    tl_buf body = TL_BUF_INIT;
    tl_audit_sub tmpl;
    size_t rlen;
    const uint8_t *reason = tl_http_req_body(r, &rlen);
    char rs[REASON_MAX + 1];
    int rc;
    if (fe_write_pushback(f, r, ep) || !authorize(f, r, ep, TL_TOKEN_OP_ERASE, "audit.erase", &who))
        return;
    res_event(&res, index);
    if (!fe_need_pub(f, r, ep))
        return;
    while (rlen && (reason[rlen - 1] == '\n' || reason[rlen - 1] == '\r'))
        rlen--;
    if (rlen == 0 || rlen > REASON_MAX || memchr(reason, '\n', rlen) || memchr(reason, 0, rlen)) {
        fail_rec(f, r, ep, &who, "audit.erase", &res, 400,
                 "the body must be a one-line reason of 1 to %d bytes", REASON_MAX);
        return;
    }
    memcpy(rs, reason, rlen);
    rs[rlen] = 0;
    if (index >= f->pub.size) {
        fail_rec(f, r, ep, &who, "audit.erase", &res, 404,
                 "no event %llu in the published tree of size %llu", (unsigned long long)index,
                 (unsigned long long)f->pub.size);
        return;
    }
    rc = tl_audit_body_read(f->cfg.log, index, &body, &b);
    if (rc != TL_OK) {
        tl_buf_release(&body);
        fe_fail(f, r, ep, rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc, "cannot read event %llu: %s",
                (unsigned long long)index, tl_strerror(rc));
        return;
    }
    if (b.erased) {
        tl_buf_release(&body);
        fail_rec(f, r, ep, &who, "audit.erase", &res, 410, "event %llu was erased by event %llu",
                 (unsigned long long)index, (unsigned long long)b.erased_by);
        return;
    }
    if (is_erasure(&b)) {
        tl_buf_release(&body);
        fail_rec(f, r, ep, &who, "audit.erase", &res, 400,
                 "event %llu is an erasure: erasures cannot be erased", (unsigned long long)index);
        return;
    }
    memset(&tmpl, 0, sizeof tmpl);
    tmpl.erase = 1;
    tmpl.target = index;
    tmpl.target_key = b.key;
    tmpl.target_time = b.time_ms;
    tl_buf_release(&body);
    /* the erasure is its own access record, with the reason */
    aw = calloc(1, sizeof *aw);
    if (aw) {
        aw->who = who;
        aw->erase = 1;
        aw->target = index;
        aw->n = 1;
        aw->ev = calloc(1, sizeof *aw->ev);
        aw->salt = malloc(TL_AUDIT_SALT);
        aw->res = calloc(1, sizeof *aw->res);
    }
    if (!aw || !aw->ev || !aw->salt || !aw->res ||
        access_event(f, r, &who, "audit.erase", &res, 200, rs, &aw->ev[0]) != TL_OK) {
        if (aw) {
            waiter_release(aw);
            free(aw);
        }
        fe_fail(f, r, ep, TL_ERR_BUSY, "out of memory");
        return;
    }
    rc = submit_batch(f, r, ep, aw, &tmpl);
    if (rc != TL_OK) {
        waiter_release(aw);
        free(aw);
        fe_fail(f, r, ep, rc, "cannot erase now: %s", tl_strerror(rc));
    }
}

void fe_audit_event(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    uint64_t index;
    const char *rest;
    int post = strcmp(tl_http_req_method(r), "POST") == 0;
    if (path_index(tl_http_req_path(r), "/audit/v1/events/", &index, &rest) != TL_OK ||
        (post ? strcmp(rest, "/erase") != 0 : *rest != 0)) {
        fe_fail_status(f, r, ep, 404, "no such endpoint: want /audit/v1/events/<index>%s",
                       post ? "/erase" : "");
        return;
    }
    if (post)
        event_erase(f, r, ep, index);
    else
        event_get(f, r, ep, index);
}

/* ---- GET /audit/v1/events?<filters> ---------------------------------------- */

typedef struct qctx {
    tl_frontend *f;
    tl_buf *out;
    size_t n;
    uint64_t last;
    int rc;
} qctx;

static int on_hit(void *ctx, uint64_t index, const tl_audit_body *b)
{
    qctx *q = ctx;
    tl_frontend *f = q->f;
    tl_buf rec = TL_BUF_INIT;
    tl_hash c, proof[TL_MAX_PROOF];
    size_t plen = 0;
    char salt[TL_B64_LEN(TL_AUDIT_SALT) + 1];
    int rc;
    tl_audit_commitment(f->hasher, b->salt, b->canon, b->canon_len, &c);
    rc = tl_audit_record_format(b->time_ms, &c, &rec);
    if (rc == TL_OK)
        rc = tl_log_reader_inclusion(f->rd, f->pub.size, index, f->pub.size, proof, &plen);
    tl_b64_encode(b->salt, TL_AUDIT_SALT, salt);
    /* {"index":N,"event":...,"salt":"...","record":"...","inclusion_proof":["...",...]},
     * appended piece by piece (no printf: ~20 proof hashes a result) */
    if (rc == TL_OK) {
        char num[24];
        size_t k = sizeof(num);
        uint64_t v = index;
        do {
            num[--k] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        if (tl_buf_grow(q->out, 96 + b->canon_len + rec.len + plen * (TL_B64_LEN(32) + 3)) ||
            (q->n && tl_buf_add(q->out, ",", 1)) || tl_buf_adds(q->out, "{\"index\":") ||
            tl_buf_add(q->out, num + k, sizeof(num) - k) || tl_buf_adds(q->out, ",\"event\":") ||
            tl_buf_add(q->out, b->canon, b->canon_len) || tl_buf_adds(q->out, ",\"salt\":\"") ||
            tl_buf_add(q->out, salt, TL_B64_LEN(TL_AUDIT_SALT)) ||
            tl_buf_adds(q->out, "\",\"record\":"))
            rc = TL_ERR_NOMEM;
    }
    if (rc == TL_OK)
        rc = tl_jcs_string((const char *)rec.data, rec.len, q->out);
    if (rc == TL_OK && tl_buf_adds(q->out, ",\"inclusion_proof\":["))
        rc = TL_ERR_NOMEM;
    for (size_t i = 0; i < plen && rc == TL_OK; i++) {
        char h[TL_B64_LEN(TL_HASH_SIZE) + 3];
        h[0] = '"';
        tl_b64_encode(proof[i].b, TL_HASH_SIZE, h + 1);
        h[1 + TL_B64_LEN(TL_HASH_SIZE)] = '"';
        if ((i && tl_buf_add(q->out, ",", 1)) || tl_buf_add(q->out, h, sizeof(h) - 1))
            rc = TL_ERR_NOMEM;
    }
    if (rc == TL_OK && tl_buf_adds(q->out, "]}"))
        rc = TL_ERR_NOMEM;
    tl_buf_release(&rec);
    q->n++;
    q->last = index;
    q->rc = rc;
    return rc != TL_OK;
}

static void events_query(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    tl_audit_query_args qa;
    fe_who who;
    fe_res res;
    char why[200];
    tl_buf out = TL_BUF_INIT;
    qctx qc = {f, &out, 0, 0, TL_OK};
    int more = 0, rc;

    if (!authorize(f, r, ep, TL_TOKEN_OP_READ, "audit.query", &who))
        return;
    res_log(f, &res);
    if (!fe_need_pub(f, r, ep))
        return;
    rc = tl_audit_query_args_parse(tl_http_req_query(r), f->pub.size, &qa, why, sizeof why);
    if (rc != TL_OK) {
        tl_audit_query_args_release(&qa);
        fail_rec(f, r, ep, &who, "audit.query", &res, rc == TL_ERR_NOMEM ? 503 : 400, "%s", why);
        return;
    }
    rc = tl_buf_adds(&out, "{\"checkpoint\":") ? TL_ERR_NOMEM : TL_OK;
    if (rc == TL_OK)
        rc = tl_jcs_string(f->pub.note, f->pub.note_len, &out);
    if (rc == TL_OK && tl_buf_adds(&out, ",\"events\":["))
        rc = TL_ERR_NOMEM;
    if (rc == TL_OK)
        rc = tl_audit_query_run(f->cfg.log, f->pub.size, &qa.q, on_hit, &qc, &more);
    if (rc == TL_OK)
        rc = qc.rc;
    tl_audit_query_args_release(&qa);
    if (rc == TL_OK) {
        if (more && qc.n)
            rc = tl_buf_addf(&out, "],\"next\":\"%llu\"}", (unsigned long long)qc.last)
                     ? TL_ERR_NOMEM
                     : TL_OK;
        else
            rc = tl_buf_adds(&out, "],\"next\":null}") ? TL_ERR_NOMEM : TL_OK;
    }
    if (rc == TL_OK) {
        reply_recorded(f, r, ep, &who, "audit.query", &res, "application/json", &out);
    } else {
        fe_fail(f, r, ep, rc, "cannot run the query: %s", tl_strerror(rc));
    }
    tl_buf_release(&out);
}

void fe_audit_events(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    if (strcmp(tl_http_req_method(r), "POST") == 0)
        fe_audit_events_post(f, r, ep);
    else
        events_query(f, r, ep);
}

/* ---- GET /audit/v1/bodies/<N>[.p/<W>] --------------------------------------- */

/* One line of a bundle's bodies (tl_audit_bodies_each). */
static int add_body_line(void *ctx, uint64_t i, const tl_audit_body *b)
{
    tl_buf *out = ctx;
    if (b->erased)
        return tl_buf_addf(out, "{\"index\":%llu,\"erased_by\":%llu}\n", (unsigned long long)i,
                           (unsigned long long)b->erased_by)
                   ? TL_ERR_NOMEM
                   : 0;
    char salt[TL_B64_LEN(TL_AUDIT_SALT) + 1];
    tl_b64_encode(b->salt, TL_AUDIT_SALT, salt);
    if (tl_buf_addf(out, "{\"index\":%llu,\"event\":", (unsigned long long)i) ||
        tl_buf_add(out, b->canon, b->canon_len) || tl_buf_addf(out, ",\"salt\":\"%s\"}\n", salt))
        return TL_ERR_NOMEM;
    return 0;
}

void fe_audit_bodies(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    const char *path = tl_http_req_path(r) + strlen("/audit/v1/bodies/");
    char tp[TL_TILE_PATH_MAX + 16];
    tl_tile t;
    fe_who who;
    fe_res res;
    tl_buf out = TL_BUF_INIT;
    int rc = TL_OK;
    if (!authorize(f, r, ep, TL_TOKEN_OP_READ, "audit.read", &who))
        return;
    res_log(f, &res);
    if (!fe_need_pub(f, r, ep))
        return;
    snprintf(tp, sizeof tp, "tile/entries/%.64s", path);
    if (strlen(path) > 64 || tl_tile_parse_path(tp, strlen(tp), &t) != TL_OK) {
        fail_rec(f, r, ep, &who, "audit.read", &res, 404,
                 "no such bundle: want /audit/v1/bodies/<N>[.p/<W>] as tlog-tiles names it");
        return;
    }
    if (t.n > (UINT64_MAX >> 8) || t.n * TL_TILE_WIDTH + t.width > f->pub.size) {
        fail_rec(f, r, ep, &who, "audit.read", &res, 404,
                 "no such bundle in the published tree of size %llu",
                 (unsigned long long)f->pub.size);
        return;
    }
    rc = tl_audit_bodies_each(f->cfg.log, t.n * TL_TILE_WIDTH, t.width, add_body_line, &out);
    if (rc == TL_OK) {
        reply_recorded(f, r, ep, &who, "audit.read", &res, "application/x-ndjson", &out);
    } else {
        fe_fail(f, r, ep, rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc, "cannot read the bodies: %s",
                tl_strerror(rc));
    }
    tl_buf_release(&out);
}

/* ---- GET /audit/v1/log ------------------------------------------------------ */

void fe_audit_log(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    json_t *j =
        json_pack("{s:s, s:s, s:s, s:i, s:I, s:I}", "origin", tl_log_origin(f->cfg.log), "kind",
                  "audit", "vkey", tl_log_vkey(f->cfg.log), "record", 1, "max_event",
                  (json_int_t)f->cfg.max_event, "max_batch", (json_int_t)f->cfg.max_batch);
    fe_reply_json(f, r, ep, j, "public, max-age=60");
}
