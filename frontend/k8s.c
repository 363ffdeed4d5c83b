/*
 * k8s.c - POST /audit/v1/k8s, the Kubernetes API server's audit webhook
 * (CONTRACT.md "Audit logs", docs/SOURCES.md): the body is an
 * audit.k8s.io/v1 EventList, each item one event (audit/k8s.h maps them).
 *
 * Guarantees: writer token (bearer) as for POST /audit/v1/events; the whole
 * list is mapped and validated before anything is submitted, then submitted
 * as one group, committed whole or refused whole; 200 {"accepted": N} only
 * after the commit point (the log's callback), publication may follow (with
 * --publish-before-answer: once a checkpoint covering the list is at every
 * origin, as for the other writes). The
 * events' ids (<auditID>/<stage>) make a webhook's retry of the same list
 * the same occurrences: the log's idempotency (submitter, source, id) gives
 * them their first indexes, and the retry is answered as the first was.
 * A malformed item is a 400 "item <i>: <reason>", a list of more than
 * --max-batch items or an event over --max-event a 413, an id already taken
 * by another occurrence a 409 "item <i>: ...", and then nothing is recorded.
 *
 * Threads: the loop checks the token and the content type, then hands a
 * copy of the body to the mapping workers (pool.c): there it is parsed, its
 * items mapped, validated and encoded (with their salts and commitments),
 * spread over the idle workers in parts of K8S_PART items (a list from
 * K8S_SPLIT_BYTES on has its items parsed apart over them too, tl_k8s_split);
 * back on the loop
 * the list is submitted and answered as before. A full queue of lists is a
 * 503 + Retry-After; a client that goes away while its list is mapped is
 * forgotten and nothing of the list is submitted (a webhook retries it, and
 * the retry is the same occurrences). Without workers the same steps run on
 * the loop.
 */
#include "frontend/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/k8s.h"
#include "common/err.h"

#define K8S_PART 50                 /* items a part of one list's mapping holds */
#define K8S_PARTS_MAX 64            /* parts of one list at most */
#define K8S_SPLIT_BYTES (64u << 10) /* lists from this size are parsed in parts */
#define WHY_CAP (TL_AUDIT_REASON_MAX + 96)

typedef struct k8s_waiter {
    fe_waiter w; /* first: the machinery frees through it */
    fe_who who;
    size_t n;
    size_t bad;         /* a conflict: the item */
    uint64_t bad_index; /* ... and the earlier event's index */
} k8s_waiter;

/* One part of a list: its items' events encoded one after another. */
typedef struct k8s_part {
    int rc;
    size_t bad;
    tl_buf enc;
    char why[WHY_CAP];
} k8s_part;

/* What a worker throws away once the list is handed back. */
typedef struct k8s_trash {
    tl_k8s_parsed parsed;
    tl_audit_event *ev;
    size_t n;
} k8s_trash;

/* A list being mapped. The loop owns req, ep and the job outside run; a
 * worker owns the rest between fe_map_job and done. */
typedef struct k8s_job {
    fe_job j; /* first */
    tl_frontend *f;
    tl_http_req *req; /* NULL once the client went away (loop thread) */
    fe_ep ep;
    fe_who who;
    char *body; /* a copy of the request's body (the request may go) */
    size_t len;
    size_t max_event, max_batch;
    /* the result */
    int map_rc; /* the mapping's error (why says it) */
    int enc_rc; /* ... or the encoding's */
    char why[WHY_CAP];
    size_t n;
    tl_sub *subs;    /* n, pointing into parts[].enc */
    k8s_part *parts; /* nparts */
    size_t nparts;
    /* during run */
    k8s_trash *trash;
    tl_k8s_pieces pieces; /* a large list's items, parsed apart */
    json_t **items;       /* ... pieces.n of them */
} k8s_job;

static void reply_accepted(tl_frontend *f, tl_http_req *r, fe_ep ep, size_t n)
{
    char out[48];
    int len = snprintf(out, sizeof out, "{\"accepted\":%zu}", n);
    fe_reply(f, r, ep, 200, "application/json", "no-store", out, (size_t)len);
}

static void k8s_answer(tl_frontend *f, fe_waiter *w)
{
    reply_accepted(f, w->req, w->ep, ((k8s_waiter *)w)->n);
}

static void k8s_refused(tl_frontend *f, fe_waiter *w)
{
    k8s_waiter *kw = (k8s_waiter *)w;
    if (w->err == TL_ERR_CONFLICT)
        fe_audit_write_refused(f, w->req, w->ep, &kw->who, 409,
                               "item %zu: an earlier event (index %llu) has the same submitter, "
                               "source and id (auditID/stage) but is another occurrence",
                               kw->bad, (unsigned long long)kw->bad_index);
    else
        fe_fail(f, w->req, w->ep, w->err, "not sequenced: %s", tl_strerror(w->err));
}

/* The log's answer (committer thread, after the commit point). */
static void on_group(void *ctx, int err, const tl_sub_result *res, size_t n, size_t bad)
{
    k8s_waiter *kw = ctx;
    uint64_t top = 0;
    if (err == TL_ERR_CONFLICT && bad < n) {
        kw->bad = bad;
        kw->bad_index = res[bad].index;
    }
    /* the highest index: what a checkpoint must cover when the answer waits
     * for publication */
    for (size_t i = 0; err == TL_OK && i < n; i++)
        if (res[i].index > top)
            top = res[i].index;
    fe_waiter_done(&kw->w, err, top);
}

static int is_json(const char *ct)
{
    return ct && strncmp(ct, "application/json", 16) == 0 && (ct[16] == 0 || ct[16] == ';');
}

/* ---- on a worker ---------------------------------------------------------- */

static void trash_free(void *arg)
{
    k8s_trash *t = arg;
    for (size_t i = 0; t->ev && i < t->n; i++)
        tl_audit_event_release(&t->ev[i]);
    free(t->ev);
    tl_k8s_parsed_release(&t->parsed);
    free(t);
}

/* Part k: its items mapped, then encoded in its buffer. */
static void map_part(void *ctx, size_t k, tl_hasher *h)
{
    k8s_job *kj = ctx;
    k8s_part *pt = &kj->parts[k];
    size_t from = k * kj->n / kj->nparts, to = (k + 1) * kj->n / kj->nparts;
    size_t *off;
    pt->rc = tl_k8s_map_items(&kj->trash->parsed, from, to, kj->who.name, kj->max_event,
                              kj->trash->ev, &pt->bad, pt->why, sizeof pt->why);
    if (pt->rc != TL_OK)
        return;
    off = malloc((to - from + 1) * sizeof *off);
    if (!off) {
        pt->rc = TL_ERR_NOMEM;
        pt->bad = SIZE_MAX; /* not the mapping's */
        return;
    }
    for (size_t i = from; i < to && pt->rc == TL_OK; i++) {
        off[i - from] = pt->enc.len;
        pt->rc = fe_audit_encode(h, &kj->trash->ev[i], &pt->enc);
        if (pt->rc != TL_OK)
            pt->bad = SIZE_MAX;
    }
    off[to - from] = pt->enc.len;
    for (size_t i = from; i < to && pt->rc == TL_OK; i++) {
        kj->subs[i].data = pt->enc.data + off[i - from];
        kj->subs[i].len = off[i - from + 1] - off[i - from];
    }
    free(off);
}

/* Part k of a list's parse: its share of the items' texts. */
static void parse_part(void *ctx, size_t k, tl_hasher *h)
{
    k8s_job *kj = ctx;
    size_t n = kj->pieces.n, from = k * n / kj->nparts, to = (k + 1) * n / kj->nparts;
    (void)h;
    for (size_t i = from; i < to; i++)
        kj->items[i] = tl_k8s_piece(&kj->pieces, i);
}

/* The list parsed (t->parsed): a large one's items apart, over the
 * workers (audit/k8s.h: the same answer as parsing it whole). */
static int parse(k8s_job *kj, k8s_trash *t, tl_hasher *h)
{
    int rc;
    if (!kj->f->pool || kj->len < K8S_SPLIT_BYTES ||
        !tl_k8s_split(kj->body, kj->len, kj->max_batch, &kj->pieces))
        return tl_k8s_parse(kj->body, kj->len, kj->max_batch, &t->parsed, kj->why, sizeof kj->why);
    kj->items = calloc(kj->pieces.n, sizeof *kj->items);
    if (!kj->items) {
        tl_k8s_pieces_release(&kj->pieces);
        return tl_k8s_parse(kj->body, kj->len, kj->max_batch, &t->parsed, kj->why, sizeof kj->why);
    }
    kj->nparts = (kj->pieces.n + K8S_PART - 1) / K8S_PART;
    if (kj->nparts > K8S_PARTS_MAX)
        kj->nparts = K8S_PARTS_MAX;
    fe_pool_parallel(kj->f->pool, kj->nparts, parse_part, kj, h);
    rc = tl_k8s_join(&kj->pieces, kj->items, &t->parsed, kj->why, sizeof kj->why);
    free(kj->items);
    kj->items = NULL;
    kj->nparts = 0;
    return rc;
}

static void k8s_run(fe_job *j, tl_hasher *h)
{
    k8s_job *kj = (k8s_job *)j;
    k8s_trash *t = calloc(1, sizeof *t);
    kj->map_rc = kj->enc_rc = TL_OK;
    if (!t) {
        kj->map_rc = TL_ERR_NOMEM;
        goto out;
    }
    kj->map_rc = parse(kj, t, h);
    free(kj->body);
    kj->body = NULL;
    if (kj->map_rc != TL_OK || t->parsed.n == 0)
        goto out;
    kj->n = t->n = t->parsed.n;
    kj->nparts = (kj->n + K8S_PART - 1) / K8S_PART;
    if (kj->nparts > K8S_PARTS_MAX)
        kj->nparts = K8S_PARTS_MAX;
    t->ev = calloc(kj->n, sizeof *t->ev);
    kj->subs = calloc(kj->n, sizeof *kj->subs);
    kj->parts = calloc(kj->nparts, sizeof *kj->parts);
    if (!t->ev || !kj->subs || !kj->parts) {
        snprintf(kj->why, sizeof kj->why, "out of memory");
        kj->map_rc = TL_ERR_NOMEM;
        goto out;
    }
    for (size_t k = 0; k < kj->nparts; k++)
        tl_buf_init(&kj->parts[k].enc);
    kj->trash = t;
    fe_pool_parallel(kj->f->pool, kj->nparts, map_part, kj, h);
    /* the first item that fails, in the list's order; an encoding's error
     * only when every item mapped (the whole list is mapped first) */
    for (size_t k = 0; k < kj->nparts && kj->map_rc == TL_OK; k++) {
        k8s_part *pt = &kj->parts[k];
        if (pt->rc != TL_OK && pt->bad != SIZE_MAX) {
            kj->map_rc = pt->rc;
            memcpy(kj->why, pt->why, sizeof kj->why);
        }
    }
    for (size_t k = 0; k < kj->nparts && kj->map_rc == TL_OK && kj->enc_rc == TL_OK; k++)
        kj->enc_rc = kj->parts[k].rc;
out:
    j->trash_fn = t ? trash_free : NULL;
    j->trash = t;
}

/* ---- back on the loop ----------------------------------------------------- */

static void job_free(k8s_job *kj)
{
    for (size_t k = 0; kj->parts && k < kj->nparts; k++)
        tl_buf_release(&kj->parts[k].enc);
    free(kj->parts);
    free(kj->subs);
    free(kj->body);
    free(kj);
}

static void job_drop(fe_job *j)
{
    job_free((k8s_job *)j);
}

/* The client went away while its list was mapped. */
static void job_abort(void *ctx)
{
    ((k8s_job *)ctx)->req = NULL;
}

static void k8s_done(tl_frontend *f, fe_job *j)
{
    k8s_job *kj = (k8s_job *)j;
    tl_http_req *r = kj->req;
    fe_ep ep = kj->ep;
    k8s_waiter *kw;
    int rc;
    if (!r) {
        f->map_forgotten++;
        job_free(kj);
        return;
    }
    tl_http_req_on_abort(r, NULL, NULL);
    if (kj->map_rc != TL_OK) {
        if (kj->map_rc == TL_ERR_NOMEM)
            fe_fail(f, r, ep, TL_ERR_BUSY, "out of memory; retry");
        else
            fe_audit_write_refused(f, r, ep, &kj->who, kj->map_rc == TL_ERR_TOOBIG ? 413 : 400,
                                   "%s", kj->why);
        job_free(kj);
        return;
    }
    if (kj->enc_rc != TL_OK) {
        fe_fail(f, r, ep, kj->enc_rc, "cannot submit: %s", tl_strerror(kj->enc_rc));
        job_free(kj);
        return;
    }
    if (kj->n == 0) {
        /* nothing to record, nothing to wait for */
        job_free(kj);
        reply_accepted(f, r, ep, 0);
        return;
    }
    kw = calloc(1, sizeof *kw);
    if (!kw) {
        job_free(kj);
        fe_fail(f, r, ep, TL_ERR_BUSY, "out of memory");
        return;
    }
    kw->who = kj->who;
    kw->n = kj->n;
    /* the commit point; with --publish-before-answer (and so with --etcd,
     * where what is acknowledged must be off this node) the checkpoint at
     * every origin, as for POST /audit/v1/events */
    kw->w.at_commit = !f->cfg.publish_before_answer;
    rc = fe_waiter_submit_group(f, &kw->w, r, ep, k8s_answer, k8s_refused, NULL, &f->audit_lat,
                                kj->subs, kj->n, on_group, kw);
    job_free(kj);
    if (rc != TL_OK) {
        fe_who who = kw->who;
        free(kw);
        if (rc == TL_ERR_BUSY)
            fe_fail(f, r, ep, rc, "the log cannot take this list now; retry");
        else if (rc == TL_ERR_TOOBIG)
            fe_audit_write_refused(f, r, ep, &who, 413,
                                   "the list is too large for one batch of the log (--batch-max)");
        else
            fe_fail(f, r, ep, rc, "cannot submit: %s", tl_strerror(rc));
    }
}

void fe_k8s_post(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    k8s_job *kj = calloc(1, sizeof *kj);
    size_t len;
    const uint8_t *body;
    if (!kj) {
        fe_fail(f, r, ep, TL_ERR_BUSY, "out of memory");
        return;
    }
    if (fe_write_pushback(f, r, ep) || !fe_audit_authorize_write(f, r, ep, &kj->who)) {
        free(kj);
        return;
    }
    if (!is_json(tl_http_req_header(r, "content-type"))) {
        fe_audit_write_refused(f, r, ep, &kj->who, 415,
                               "an EventList is application/json (audit.k8s.io/v1)");
        free(kj);
        return;
    }
    body = tl_http_req_body(r, &len);
    kj->body = malloc(len ? len : 1);
    if (!kj->body) {
        free(kj);
        fe_fail(f, r, ep, TL_ERR_BUSY, "out of memory; retry");
        return;
    }
    if (len)
        memcpy(kj->body, body, len);
    kj->len = len;
    kj->j.run = k8s_run;
    kj->j.done = k8s_done;
    kj->j.drop = job_drop;
    kj->j.bytes = len;
    kj->f = f;
    kj->req = r;
    kj->ep = ep;
    kj->max_event = f->cfg.max_event;
    kj->max_batch = f->cfg.max_batch;
    /* before fe_map_job: without workers done answers r at once */
    tl_http_req_on_abort(r, job_abort, kj);
    if (fe_map_job(f, &kj->j) != TL_OK) {
        tl_http_req_on_abort(r, NULL, NULL);
        job_free(kj);
        fe_fail(f, r, ep, TL_ERR_BUSY, "the mapping workers' queue is full (%d lists); retry",
                FE_POOL_QUEUE_MAX);
    }
}
