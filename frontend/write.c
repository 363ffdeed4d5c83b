/*
 * write.c - POST /add, and the waiting machinery any write endpoint uses:
 * a write is answered only once a PUBLISHED checkpoint covers its entry.
 *
 * Guarantees: the loop never blocks on the log. fe_waiter_submit queues the
 * entry with tl_log_add; the log's callback (committer thread, after the
 * commit) puts the result on a mutex-protected queue and wakes the loop
 * once (tl_httpd_run_in_loop, coalesced); the log's listener does the same
 * on each publication. On the loop, a waiter whose index is below the
 * published size (with publish_before_answer: below the size of the
 * checkpoint every tile store holds, tl_publisher_head, which the
 * publisher's listener reports the same way) is answered by its own answer
 * function; the rest wait,
 * swept every FE_SWEEP_MS for their deadline (503 + Retry-After: the entry
 * stays sequenced, a resubmission gets the same index). A full pool or a
 * stopped log is 503 at once, and so is any write while the tile stores lag
 * more than the publisher's queue limit (fe_write_pushback). A client that
 * goes away is forgotten.
 * One allocation per write (its waiter).
 */
#include "frontend/internal.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "audit/jcs.h"
#include "common/b64.h"
#include "common/clock.h"
#include "common/err.h"
#include "signer/tlogproof.h"

const double fe_lat_bounds[FE_NLAT] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

enum { W_ADDING, W_PENDING };

/* ---- the waiting machinery ----------------------------------------------- */

static void waiter_unlink(tl_frontend *f, fe_waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        f->pending = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    f->npending--;
}

static void observe_latency(fe_waiter *w)
{
    fe_latency *l = w->lat;
    double s = (double)(tl_mono_ms() - w->start_ms) / 1000.0;
    size_t i = 0;
    while (i < FE_NLAT && s > fe_lat_bounds[i])
        i++;
    l->count[i]++;
    l->sum += s;
    l->n++;
}

/* Frees w and what it holds. */
static void waiter_free(fe_waiter *w)
{
    if (w->forget)
        w->forget(w);
    free(w);
}

/* Answers w (covered by the published tree) and frees it. */
static void answer(tl_frontend *f, fe_waiter *w)
{
    observe_latency(w);
    w->answer(f, w);
    waiter_free(w);
}

static void waiter_abort(void *ctx)
{
    fe_waiter *w = ctx;
    w->req = NULL;
    if (w->state == W_PENDING) {
        waiter_unlink(w->f, w);
        waiter_free(w);
    }
    /* W_ADDING: freed when the log's callback arrives. */
}

fe_head fe_answer_head(const tl_frontend *f)
{
    fe_head h = {0, NULL, 0};
    if (f->cfg.publish_before_answer) {
        h.size = f->origin_size;
        h.note = (char *)f->origin_note.data;
        h.note_len = f->origin_note.len;
    } else if (f->have_pub) {
        h.size = f->pub.size;
        h.note = f->pub.note;
        h.note_len = f->pub.note_len;
    }
    return h;
}

/* 1 if w can be answered: the head writes are answered with covers it (or
 * w is answered at the commit point, and the log has answered it). */
static int covered(const tl_frontend *f, const fe_waiter *w)
{
    if (w->at_commit)
        return 1; /* its group is committed: nothing more to wait for */
    if (!f->have_pub)
        return 0;
    return w->index < f->pub.size && w->index < fe_answer_head(f).size;
}

/* Answers every pending waiter the published tree now covers. */
static void answer_published(tl_frontend *f)
{
    if (!f->have_pub)
        return;
    for (fe_waiter *w = f->pending, *n; w; w = n) {
        n = w->next;
        if (covered(f, w)) {
            waiter_unlink(f, w);
            answer(f, w);
        }
    }
}

/* Loop thread, once per wake-up: the new published head, the log's answers
 * to adds, then every waiter that head covers. */
static void loop_pass(void *ctx)
{
    tl_frontend *f = ctx;
    atomic_store(&f->kicked, 0);
    if (f->cfg.publisher && atomic_exchange(&f->origin_changed, 0)) {
        /* the stores hold only what the log published before: read the
         * log's head after theirs, so the tree answered in holds theirs */
        tl_publisher_head(f->cfg.publisher, &f->origin_note, &f->origin_size);
        atomic_store(&f->pub_changed, 1);
    }
    if (atomic_exchange(&f->pub_changed, 0))
        fe_refresh_published(f);
    pthread_mutex_lock(&f->qlock);
    fe_waiter *w = f->done_head;
    f->done_head = f->done_tail = NULL;
    pthread_mutex_unlock(&f->qlock);
    while (w) {
        fe_waiter *n = w->qnext;
        w->qnext = NULL;
        if (!w->req) {
            waiter_free(w);
        } else if (w->err != TL_OK) {
            observe_latency(w);
            if (w->refused)
                w->refused(f, w);
            else
                fe_fail(f, w->req, w->ep, w->err, "not sequenced: %s", tl_strerror(w->err));
            waiter_free(w);
        } else if (covered(f, w)) {
            if (w->have_leaf)
                tl_log_reader_learn(f->rd, &w->leaf, w->index);
            answer(f, w);
        } else {
            if (w->have_leaf)
                tl_log_reader_learn(f->rd, &w->leaf, w->index);
            w->state = W_PENDING;
            w->next = f->pending;
            if (f->pending)
                f->pending->prev = w;
            f->pending = w;
            f->npending++;
        }
        w = n;
    }
    answer_published(f);
}

void fe_kick(tl_frontend *f)
{
    if (!f->httpd)
        return;
    if (atomic_exchange(&f->kicked, 1) == 0)
        tl_httpd_run_in_loop(f->httpd, loop_pass, f);
}

/* Committer thread: queues w's answer for the loop. */
void fe_waiter_done(fe_waiter *w, int err, uint64_t index)
{
    tl_frontend *f = w->f;
    w->err = err;
    w->index = index;
    pthread_mutex_lock(&f->qlock);
    if (f->done_tail)
        f->done_tail->qnext = w;
    else
        f->done_head = w;
    f->done_tail = w;
    pthread_mutex_unlock(&f->qlock);
    fe_kick(f);
}

/* Committer thread: the log committed (or refused) the entry. */
static void on_added(void *ctx, int err, uint64_t index, const tl_hash *leaf)
{
    fe_waiter *w = ctx;
    if (leaf) {
        w->leaf = *leaf;
        w->have_leaf = 1;
    }
    fe_waiter_done(w, err, index);
}

/* Committer thread (a new signed head, published at once without a policy),
 * or the cosigner's thread (a publication). */
void fe_on_log_event(void *ctx, uint64_t signed_size, uint64_t published_size)
{
    (void)signed_size;
    (void)published_size;
    tl_frontend *f = ctx;
    atomic_store(&f->pub_changed, 1);
    fe_kick(f);
}

/* The publisher's thread: a store's checkpoint advanced (or it failed). */
void fe_on_publisher_event(void *ctx)
{
    tl_frontend *f = ctx;
    atomic_store(&f->origin_changed, 1);
    fe_kick(f);
}

int fe_write_pushback(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    if (tl_log_standby(f->cfg.log)) {
        /* high availability (docs/HA.md): only the leader sequences */
        fe_fail(f, r, ep, TL_ERR_STOPPED, "this node stands by; write to the leading node");
        return 1;
    }
    if (!f->cfg.publisher || !tl_publisher_lagging(f->cfg.publisher))
        return 0;
    fe_fail(f, r, ep, TL_ERR_BUSY,
            "publication to the tile stores lags %llu entries behind (over the limit); retry later",
            (unsigned long long)tl_publisher_lag(f->cfg.publisher));
    return 1;
}

void fe_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tl_frontend *f = arg;
    uint64_t now = tl_mono_ms();
    fe_console_sample(f);
    for (fe_waiter *w = f->pending, *n; w; w = n) {
        n = w->next;
        if (now >= w->deadline_ms) {
            waiter_unlink(f, w);
            observe_latency(w);
            fe_fail(f, w->req, w->ep, TL_ERR_TIMEOUT,
                    f->cfg.publish_before_answer
                        ? "entry %llu is sequenced but not yet in a checkpoint at every tile "
                          "store; retry"
                        : "entry %llu is sequenced but not yet in a published checkpoint; retry",
                    (unsigned long long)w->index);
            waiter_free(w);
        }
    }
}

static void waiter_start(tl_frontend *f, fe_waiter *w, tl_http_req *r, fe_ep ep,
                         fe_answer_fn *answer, fe_latency *lat)
{
    w->f = f;
    w->req = r;
    w->ep = ep;
    w->answer = answer;
    w->lat = lat;
    w->state = W_ADDING;
    w->start_ms = tl_mono_ms();
    w->deadline_ms = w->start_ms + f->cfg.add_timeout_ms;
}

int fe_waiter_submit(tl_frontend *f, fe_waiter *w, tl_http_req *r, fe_ep ep, fe_answer_fn *answer,
                     fe_latency *lat, const uint8_t *entry, size_t len)
{
    int rc;
    waiter_start(f, w, r, ep, answer, lat);
    rc = tl_log_add(f->cfg.log, entry, len, on_added, w);
    if (rc == TL_OK)
        tl_http_req_on_abort(r, waiter_abort, w);
    return rc;
}

int fe_waiter_submit_group(tl_frontend *f, fe_waiter *w, tl_http_req *r, fe_ep ep,
                           fe_answer_fn *answer, fe_answer_fn *refused, void (*forget)(fe_waiter *),
                           fe_latency *lat, const tl_sub *subs, size_t n, tl_submit_fn cb,
                           void *ctx)
{
    int rc;
    waiter_start(f, w, r, ep, answer, lat);
    w->refused = refused;
    w->forget = forget;
    rc = tl_log_submit(f->cfg.log, subs, n, cb, ctx);
    if (rc == TL_OK)
        tl_http_req_on_abort(r, waiter_abort, w);
    return rc;
}

void tl_frontend_fail_waiters(tl_frontend *f)
{
    while (f->pending) {
        fe_waiter *w = f->pending;
        waiter_unlink(f, w);
        fe_fail(f, w->req, w->ep, TL_ERR_STOPPED, "the log is shutting down; retry");
        waiter_free(w);
    }
}

void fe_waiters_free(tl_frontend *f)
{
    while (f->pending) {
        fe_waiter *w = f->pending;
        waiter_unlink(f, w);
        waiter_free(w);
    }
    fe_waiter *w = f->done_head;
    while (w) {
        fe_waiter *n = w->qnext;
        waiter_free(w);
        w = n;
    }
    f->done_head = f->done_tail = NULL;
}

/* ---- POST /add ----------------------------------------------------------- */

typedef struct add_waiter {
    fe_waiter w; /* first: the machinery frees the add_waiter through it */
    int json;    /* Accept: application/json */
} add_waiter;

/* The JSON answer of an add, {"index", "leaf_hash", "checkpoint",
 * "inclusion_proof"}, into out (reset first). Written directly: at tens of
 * thousands of answers a second, building and dumping a jansson tree was a
 * quarter of tlogd's CPU. The checkpoint's JSON string is made once per
 * head. */
static int add_json(tl_frontend *f, const fe_waiter *w, const fe_head *head, const tl_hash *proof,
                    size_t plen, tl_buf *out)
{
    char b64[TL_B64_LEN(TL_HASH_SIZE) + 3]; /* room for '"', '"' and ',' */
    int rc = TL_OK;
    if (f->note_src.len != head->note_len || memcmp(f->note_src.data, head->note, head->note_len)) {
        tl_buf_reset(&f->note_src);
        tl_buf_reset(&f->note_json);
        if (tl_buf_add(&f->note_src, head->note, head->note_len) != TL_OK ||
            tl_jcs_string(head->note, head->note_len, &f->note_json) != TL_OK) {
            tl_buf_reset(&f->note_src); /* made again next time */
            return TL_ERR_NOMEM;
        }
    }
    tl_buf_reset(out);
    tl_b64_encode(w->leaf.b, TL_HASH_SIZE, b64);
    if (tl_buf_addf(out, "{\"index\":%llu,\"leaf_hash\":\"%s\",\"checkpoint\":",
                    (unsigned long long)w->index, b64) != TL_OK ||
        tl_buf_add(out, f->note_json.data, f->note_json.len) != TL_OK ||
        tl_buf_adds(out, ",\"inclusion_proof\":[") != TL_OK)
        rc = TL_ERR_NOMEM;
    for (size_t i = 0; rc == TL_OK && i < plen; i++) {
        b64[0] = '"';
        tl_b64_encode(proof[i].b, TL_HASH_SIZE, b64 + 1);
        b64[TL_B64_LEN(TL_HASH_SIZE) + 1] = '"';
        b64[TL_B64_LEN(TL_HASH_SIZE) + 2] = ',';
        if (tl_buf_add(out, b64, TL_B64_LEN(TL_HASH_SIZE) + (i + 1 < plen ? 3 : 2)) != TL_OK)
            rc = TL_ERR_NOMEM;
    }
    if (rc == TL_OK && tl_buf_adds(out, "]}") != TL_OK)
        rc = TL_ERR_NOMEM;
    return rc;
}

/* Answers an add with its inclusion proof in the published tree: a C2SP
 * tlog-proof, or JSON. */
static void add_answer(tl_frontend *f, fe_waiter *w)
{
    tl_http_req *r = w->req;
    tl_hash proof[TL_MAX_PROOF];
    size_t plen = 0;
    fe_head head = fe_answer_head(f);
    int rc = tl_log_reader_inclusion(f->rd, f->pub.size, w->index, head.size, proof, &plen);
    if (rc != TL_OK) {
        fe_fail(f, r, w->ep, rc == TL_ERR_NOTFOUND ? TL_ERR_IO : rc, "cannot build the proof: %s",
                tl_strerror(rc));
    } else if (((add_waiter *)w)->json) {
        rc = add_json(f, w, &head, proof, plen, &f->proof_text);
        if (rc != TL_OK)
            fe_fail(f, r, w->ep, rc, "cannot format the proof: %s", tl_strerror(rc));
        else
            fe_reply(f, r, w->ep, 200, "application/json", "no-store", f->proof_text.data,
                     f->proof_text.len);
    } else {
        tl_tlogproof p;
        memset(&p, 0, sizeof p);
        p.index = w->index;
        memcpy(p.proof, proof, plen * sizeof proof[0]);
        p.proof_len = plen;
        p.checkpoint = head.note; /* borrowed; p is not released */
        p.checkpoint_len = head.note_len;
        /* our own published checkpoint, and index < its size: no re-parse */
        tl_buf_reset(&f->proof_text);
        rc = tl_tlogproof_append(&p, &f->proof_text);
        if (rc != TL_OK)
            fe_fail(f, r, w->ep, rc, "cannot format the proof: %s", tl_strerror(rc));
        else
            fe_reply(f, r, w->ep, 200, "text/plain; charset=utf-8", "no-store", f->proof_text.data,
                     f->proof_text.len);
    }
}

static int wants_json(tl_http_req *r)
{
    const char *acc = tl_http_req_header(r, "accept");
    return acc && strstr(acc, "application/json") != NULL;
}

void fe_add(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    size_t len;
    const uint8_t *body = tl_http_req_body(r, &len);
    if (len == 0) {
        fe_fail(f, r, ep, TL_ERR_INVALID, "empty entry");
        return;
    }
    if (len > f->cfg.max_entry) {
        fe_fail(f, r, ep, TL_ERR_TOOBIG, "entry of %zu bytes is over the limit of %zu", len,
                f->cfg.max_entry);
        return;
    }
    if (fe_write_pushback(f, r, ep))
        return;
    add_waiter *aw = calloc(1, sizeof *aw);
    if (!aw) {
        fe_fail(f, r, ep, TL_ERR_BUSY, "out of memory");
        return;
    }
    aw->json = wants_json(r);
    int rc = fe_waiter_submit(f, &aw->w, r, ep, add_answer, &f->add_lat, body, len);
    if (rc != TL_OK) {
        free(aw);
        if (rc == TL_ERR_BUSY)
            fe_fail(f, r, ep, rc, "too many pending entries; retry later");
        else
            fe_fail(f, r, ep, rc, "cannot add: %s", tl_strerror(rc));
    }
}
