/*
 * respond.c - how the frontend answers: replies (CORS on every answer,
 * Cache-Control, Retry-After on 503) counted per endpoint and status, error
 * answers with a one-line reason, JSON replies, and the cache of immutable
 * JSON answers.
 *
 * Guarantees: errors become HTTP statuses in one function (status_of);
 * reasons are one line of printable text; errors are never cached. A JSON
 * answer up to ANSWER_MAX bytes is made in a stack buffer (no allocation),
 * and cached answers are sent without parsing or JSON. Loop thread.
 */
#include "frontend/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

const int fe_statuses[FE_NSTATUS] = {200, 400, 404, 405, 413, 500, 503};

/* The one place errors become HTTP statuses. */
static int status_of(int err)
{
    switch (err) {
    case TL_OK:
        return 200;
    case TL_ERR_INVALID:
    case TL_ERR_RANGE:
        return 400;
    case TL_ERR_NOTFOUND:
        return 404;
    case TL_ERR_TOOBIG:
        return 413;
    case TL_ERR_CLOSED:
        return 410;
    case TL_ERR_BUSY:
    case TL_ERR_STOPPED:
    case TL_ERR_TIMEOUT:
        return 503;
    default:
        return 500;
    }
}

void fe_count(tl_frontend *f, fe_ep ep, int status)
{
    size_t i;
    for (i = 0; i < FE_NSTATUS; i++)
        if (fe_statuses[i] == status)
            break;
    f->req_count[ep][i]++;
}

void fe_reply(tl_frontend *f, tl_http_req *r, fe_ep ep, int status, const char *ctype,
              const char *cache, const void *body, size_t len)
{
    tl_http_header h[3];
    size_t n = 0;
    h[n++] = (tl_http_header){"access-control-allow-origin", "*"};
    if (cache)
        h[n++] = (tl_http_header){"cache-control", cache};
    if (status == 503)
        h[n++] = (tl_http_header){"retry-after", FE_RETRY_AFTER};
    fe_count(f, ep, status);
    tl_http_respond(r, status, ctype, h, n, body, len);
}

/* Answers status with the one-line text/plain reason msg (control bytes
 * replaced, a newline added), and the extra header x if any. */
static void reply_line(tl_frontend *f, tl_http_req *r, fe_ep ep, int status,
                       const tl_http_header *x, const char *msg)
{
    char line[320];
    size_t n = strlen(msg);
    if (n > sizeof line - 2)
        n = sizeof line - 2;
    memcpy(line, msg, n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    line[n++] = '\n';
    if (!x) {
        fe_reply(f, r, ep, status, "text/plain; charset=utf-8", "no-store", line, n);
        return;
    }
    tl_http_header h[] = {{"access-control-allow-origin", "*"}, {"cache-control", "no-store"}, *x};
    fe_count(f, ep, status);
    tl_http_respond(r, status, "text/plain; charset=utf-8", h, 3, line, n);
}

void fe_fail(tl_frontend *f, tl_http_req *r, fe_ep ep, int err, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reply_line(f, r, ep, status_of(err), NULL, msg);
}

void fe_fail_status(tl_frontend *f, tl_http_req *r, fe_ep ep, int status, const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reply_line(f, r, ep, status, NULL, msg);
}

void fe_unauthorized(tl_frontend *f, tl_http_req *r, fe_ep ep, const char *why)
{
    static const tl_http_header www = {"www-authenticate", "Bearer"};
    reply_line(f, r, ep, 401, &www, why);
}

int fe_need_pub(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    if (f->have_pub)
        return 1;
    fe_fail(f, r, ep, TL_ERR_BUSY, "no checkpoint published yet");
    return 0;
}

/* ---- immutable answers, cached -------------------------------------------
 *
 * A 200 answer of get-sth-consistency or get-proof-by-hash depends only on
 * its query: its sizes are within a published tree, published trees only
 * grow, and leaf indexes never change. So the JSON text jansson made is kept,
 * keyed by endpoint and raw query string (two-way set associative,
 * ANSWER_CACHE slots, answers up to 4 KiB; a proof at 10^7 entries is ~1.2 KiB,
 * so ~20 MiB when full, and never more than 64 MiB). Errors are never cached. */

#define ANSWER_CACHE (1u << 14)
#define ANSWER_MAX 4096

struct fe_answer {
    uint64_t key; /* 0 = empty */
    fe_ep ep;
    size_t qlen, blen;
    char *mem; /* query then body */
};

static uint64_t answer_key(fe_ep ep, const char *q, size_t qlen)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)ep; /* FNV-1a */
    for (size_t i = 0; i < qlen; i++)
        h = (h ^ (uint8_t)q[i]) * 1099511628211ULL;
    return (h ^ (h >> 29)) | 1;
}

static const fe_answer *answer_get(fe_answer *c, fe_ep ep, const char *q)
{
    size_t qlen = strlen(q);
    uint64_t k = answer_key(ep, q, qlen);
    fe_answer *s = &c[k & (ANSWER_CACHE - 2)];
    for (int i = 0; i < 2; i++)
        if (s[i].key == k && s[i].ep == ep && s[i].qlen == qlen && memcmp(s[i].mem, q, qlen) == 0)
            return &s[i];
    return NULL;
}

static void answer_put(fe_answer *c, fe_ep ep, const char *q, const char *body, size_t blen)
{
    size_t qlen = strlen(q);
    uint64_t k = answer_key(ep, q, qlen);
    char *mem = malloc(qlen + blen);
    if (!mem)
        return;
    memcpy(mem, q, qlen);
    memcpy(mem + qlen, body, blen);
    fe_answer *s = &c[k & (ANSWER_CACHE - 2)];
    free(s[1].mem);
    s[1] = s[0];
    s[0] = (fe_answer){k, ep, qlen, blen, mem};
}

fe_answer *fe_answers_new(void)
{
    return calloc(ANSWER_CACHE, sizeof(fe_answer));
}

void fe_answers_free(fe_answer *c)
{
    for (size_t i = 0; c && i < ANSWER_CACHE; i++)
        free(c[i].mem);
    free(c);
}

/* akey: the query to cache the answer under (immutable answers), or NULL. */
static void reply_json(tl_frontend *f, tl_http_req *r, fe_ep ep, json_t *j, const char *cache,
                       const char *akey)
{
    /* Most answers (proofs) fit the stack buffer: no malloc, no strlen. */
    char stackbuf[ANSWER_MAX];
    size_t n = j ? json_dumpb(j, stackbuf, sizeof stackbuf, JSON_COMPACT) : 0;
    if (n > 0 && n <= sizeof stackbuf) {
        json_decref(j);
        if (akey)
            answer_put(f->answers, ep, akey, stackbuf, n);
        fe_reply(f, r, ep, 200, "application/json", cache, stackbuf, n);
        return;
    }
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) {
        fe_fail(f, r, ep, TL_ERR_NOMEM, "out of memory");
        return;
    }
    fe_reply(f, r, ep, 200, "application/json", cache, s, strlen(s));
    free(s);
}

void fe_reply_json(tl_frontend *f, tl_http_req *r, fe_ep ep, json_t *j, const char *cache)
{
    reply_json(f, r, ep, j, cache, NULL);
}

void fe_reply_json_immutable(tl_frontend *f, tl_http_req *r, fe_ep ep, json_t *j)
{
    reply_json(f, r, ep, j, FE_CC_IMMUTABLE, tl_http_req_query(r));
}

int fe_reply_cached(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    const fe_answer *c = answer_get(f->answers, ep, tl_http_req_query(r));
    if (!c)
        return 0;
    fe_reply(f, r, ep, 200, "application/json", FE_CC_IMMUTABLE, c->mem + c->qlen, c->blen);
    return 1;
}
