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
 * Loop thread.
 */
#include "frontend/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/k8s.h"
#include "common/err.h"

typedef struct k8s_waiter {
    fe_waiter w; /* first: the machinery frees through it */
    fe_who who;
    tl_k8s_list list;
    size_t n;
    size_t bad;         /* a conflict: the item */
    uint64_t bad_index; /* ... and the earlier event's index */
} k8s_waiter;

static void k8s_forget(fe_waiter *w)
{
    tl_k8s_list_release(&((k8s_waiter *)w)->list);
}

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

void fe_k8s_post(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    k8s_waiter *kw = calloc(1, sizeof *kw);
    char why[TL_AUDIT_REASON_MAX + 96];
    size_t len;
    const uint8_t *body;
    int rc;
    if (!kw) {
        fe_fail(f, r, ep, TL_ERR_BUSY, "out of memory");
        return;
    }
    if (fe_write_pushback(f, r, ep) || !fe_audit_authorize_write(f, r, ep, &kw->who)) {
        free(kw);
        return;
    }
    if (!is_json(tl_http_req_header(r, "content-type"))) {
        fe_audit_write_refused(f, r, ep, &kw->who, 415,
                               "an EventList is application/json (audit.k8s.io/v1)");
        free(kw);
        return;
    }
    body = tl_http_req_body(r, &len);
    rc = tl_k8s_map((const char *)body, len, kw->who.name, f->cfg.max_event, f->cfg.max_batch,
                    &kw->list, why, sizeof why);
    if (rc != TL_OK) {
        if (rc == TL_ERR_NOMEM)
            fe_fail(f, r, ep, TL_ERR_BUSY, "out of memory; retry");
        else
            fe_audit_write_refused(f, r, ep, &kw->who, rc == TL_ERR_TOOBIG ? 413 : 400, "%s", why);
        free(kw);
        return;
    }
    kw->n = kw->list.n;
    if (kw->n == 0) {
        /* nothing to record, nothing to wait for */
        free(kw);
        reply_accepted(f, r, ep, 0);
        return;
    }
    /* the commit point; with --publish-before-answer (and so with --etcd,
     * where what is acknowledged must be off this node) the checkpoint at
     * every origin, as for POST /audit/v1/events */
    kw->w.at_commit = !f->cfg.publish_before_answer;
    rc = fe_audit_submit_wait(f, &kw->w, r, ep, k8s_answer, k8s_refused, k8s_forget, kw->list.ev,
                              kw->n, on_group, kw);
    if (rc != TL_OK) {
        fe_who who = kw->who;
        tl_k8s_list_release(&kw->list);
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
