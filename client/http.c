/*
 * http.c - the HTTP client of `tlog`: single requests with bounded retries
 * (libcurl), and many GETs in flight on one HTTP/2 connection: the fetcher
 * of client/h2.h (nghttp2) for https:// and for http:// with --h2c, libcurl's
 * multi handle (a few HTTP/1.1 connections) for plain http:// and for a
 * server that turns out not to speak HTTP/2. The retry policy below is the
 * same for both.
 *
 * Guarantees: TLS peers are always verified (a CA file may replace the system
 * store, nothing disables the check); every response body is bounded by the
 * caller's limit; a 503 or a transient network error is retried at most
 * opts.retries times, waiting for Retry-After (capped) or an exponential
 * backoff; every failure comes back as a one-line reason naming the URL.
 */
#include "client/client.h"
#include "client/h2.h"
#include "common/clock.h"
#include "common/curl.h"
#include "common/version.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_AFTER_MAX 30.0 /* seconds: longest Retry-After honoured */
#define POOL_MAX 256
#define STALL_SECONDS 15
#define REFUSALS_MAX 8 /* immediate resends of a request the server did not process */

struct tl_http {
    char *base;
    tl_http_opts o;
    CURL *easy; /* for tl_http_request: keeps its connection */
    CURLM *multi;
    tl_fetch *delayed; /* fetches waiting for their retry time */
    tl_fetch *active;  /* fetches with a transfer in the multi handle */
    int pending;       /* fetches started and not done */
    int warm;          /* a first transfer has finished on the multi handle */
    int woken;         /* set by tl_http_wakeup (atomic) */
    CURL *pool[POOL_MAX];
    int npool;
    tl_h2 *h2; /* the bulk GETs, unless the server does not speak HTTP/2 */
    int said_fallback;
    int h2c_fresh; /* h2c with libcurl 7.88: no connection reuse */
};

void tl_http_opts_default(tl_http_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->connect_timeout = 10;
    o->timeout = 120;
    o->retries = 5;
    o->max_conns = 4;
}

static int stopped(const tl_http *h)
{
    return h->o.stop != NULL && *h->o.stop != 0;
}

/* Sleeps s seconds in short steps; returns early when asked to stop. */
static void sleep_seconds(const tl_http *h, double s)
{
    double end = tl_mono_s() + s;
    while (!stopped(h)) {
        double left = end - tl_mono_s();
        if (left <= 0)
            return;
        if (left > 0.1)
            left = 0.1;
        struct timespec ts = {0, (long)(left * 1e9)};
        nanosleep(&ts, NULL);
    }
}

int tl_http_new(const tl_http_opts *o, const char *base_url, tl_http **out, char *err, size_t cap)
{
    if (strncmp(base_url, "http://", 7) != 0 && strncmp(base_url, "https://", 8) != 0) {
        snprintf(err, cap, "URL %s: only http:// and https:// are supported", base_url);
        return TL_ERR_INVALID;
    }
    tl_http *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return TL_ERR_NOMEM;
    h->o = *o;
    int https = strncmp(base_url, "https://", 8) == 0, h2c = o->h2c && !https;
    const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
    /* curl issue #10634: libcurl 7.88 breaks every reuse of an HTTP/2
     * prior-knowledge connection (fixed in 8.0), so there each of libcurl's
     * few single requests takes a fresh one; the bulk GETs are the
     * fetcher's. */
    h->h2c_fresh = h2c && vi->version_num >= 0x075800 && vi->version_num < 0x080000;
    h->base = strdup(base_url);
    if (h->base == NULL) {
        free(h);
        return TL_ERR_NOMEM;
    }
    size_t n = strlen(h->base);
    while (n > 0 && h->base[n - 1] == '/')
        h->base[--n] = 0;
    h->easy = curl_easy_init();
    h->multi = curl_multi_init();
    if (h->easy == NULL || h->multi == NULL) {
        tl_http_free(h);
        snprintf(err, cap, "cannot initialise libcurl");
        return TL_ERR_NOMEM;
    }
    curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)o->max_conns);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, 100L);
    if (https || h2c) {
        tl_h2_opts ho = {.base_url = h->base,
                         .ca_file = o->ca_file,
                         .connect_timeout_ms = o->connect_timeout * 1000,
                         .timeout_ms = o->timeout * 1000,
                         .stall_ms = STALL_SECONDS * 1000,
                         .user_agent = "tlog/" TL_VERSION,
                         .token = o->token,
                         .verbose = getenv("TLOG_H2_VERBOSE") != NULL};
        int rc = tl_h2_new(&ho, &h->h2, err, cap);
        if (rc != TL_OK) {
            tl_http_free(h);
            return rc;
        }
    }
    *out = h;
    return TL_OK;
}

void tl_http_free(tl_http *h)
{
    if (h == NULL)
        return;
    tl_http_fetch_cancel_all(h);
    tl_h2_free(h->h2);
    for (int i = 0; i < h->npool; i++)
        curl_easy_cleanup(h->pool[i]);
    if (h->multi)
        curl_multi_cleanup(h->multi);
    if (h->easy)
        curl_easy_cleanup(h->easy);
    free(h->base);
    free(h);
}

const char *tl_http_base(const tl_http *h)
{
    return h->base;
}

void tl_http_set_content_type(tl_http *h, const char *content_type)
{
    h->o.content_type = content_type;
}

/* The common setup (common/curl.h: protocols, TLS trust, timeouts, the body
 * sink, the error buffer), then what only tlog wants. */
static int setup_easy(tl_http *h, CURL *e, const char *url, tl_curl_sink *s, char *ebuf,
                      int multiplex)
{
    tl_curl_opts co = {.user_agent = "tlog/" TL_VERSION,
                       .ca_file = h->o.ca_file,
                       .connect_timeout_ms = h->o.connect_timeout * 1000,
                       .timeout_ms = h->o.timeout * 1000,
                       .h2c = h->o.h2c,
                       .errbuf = ebuf};
    if (tl_curl_setup(e, &co, s) != TL_OK)
        return TL_ERR_NETWORK;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* gzip etc. (tlog-tiles) */
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    if (h->o.token != NULL) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        curl_easy_setopt(e, CURLOPT_XOAUTH2_BEARER, h->o.token);
    }
    if (h->h2c_fresh && h->o.h2c) {
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    }
    if (multiplex) {
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
        /* A stream that stalls (no byte for STALL_SECONDS) is abandoned and
         * retried rather than holding the whole window for the timeout. */
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)STALL_SECONDS);
    }
    if (getenv("TLOG_CURL_VERBOSE"))
        curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
    return TL_OK;
}

/* Whether a curl result is worth retrying. */
static int transient(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

/* Delay before retry number `attempt` (1-based); retry_after is the
 * answer's Retry-After in seconds, or -1. */
static double delay_for(long status, long retry_after, int attempt)
{
    double d = 0.25 * (double)(1 << (attempt < 6 ? attempt : 6));
    if (status == 503 || status == 429)
        d = retry_after >= 0 ? (double)retry_after : 1.0;
    return d > RETRY_AFTER_MAX ? RETRY_AFTER_MAX : d;
}

static double retry_delay(CURL *e, long status, int attempt)
{
    curl_off_t ra = -1;
    if ((status == 503 || status == 429) &&
        curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &ra) != CURLE_OK)
        ra = -1;
    return delay_for(status, ra > 0x7fffffff ? 0x7fffffff : (long)ra, attempt);
}

static int curl_err(CURLcode rc, const char *url, const tl_curl_sink *s, const char *ebuf,
                    char *err, size_t cap)
{
    /* The URL and curl's reason are cut to fit one line of an error buffer
     * of 256 bytes or more. */
    if (s->over) {
        snprintf(err, cap, "%.200s: response larger than %zu bytes", url, s->max);
        return TL_ERR_TOOBIG;
    }
    snprintf(err, cap, "%.120s: %.128s", url, ebuf[0] ? ebuf : curl_easy_strerror(rc));
    return rc == CURLE_OPERATION_TIMEDOUT ? TL_ERR_TIMEOUT : TL_ERR_NETWORK;
}

int tl_http_request(tl_http *h, const char *path, const void *body, size_t bodylen,
                    const char *accept, size_t max, tl_buf *resp, long *status, char *err,
                    size_t cap)
{
    char url[4096];
    if ((size_t)snprintf(url, sizeof(url), "%s/%s", h->base, path) >= sizeof(url)) {
        snprintf(err, cap, "URL too long");
        return TL_ERR_INVALID;
    }
    for (int attempt = 0;; attempt++) {
        CURL *e = h->easy;
        tl_curl_sink s = {resp, max, 0};
        char ebuf[CURL_ERROR_SIZE] = "";
        struct curl_slist *hdrs = NULL;
        tl_buf_reset(resp);
        curl_easy_reset(e);
        if (setup_easy(h, e, url, &s, ebuf, 0) != TL_OK) {
            snprintf(err, cap, "%.200s: cannot set up libcurl", url);
            return TL_ERR_NETWORK;
        }
        if (accept) {
            char a[256];
            snprintf(a, sizeof(a), "Accept: %s", accept);
            hdrs = curl_slist_append(hdrs, a);
        }
        if (body) {
            char ct[160];
            snprintf(ct, sizeof(ct), "Content-Type: %s",
                     h->o.content_type ? h->o.content_type : "application/octet-stream");
            hdrs = curl_slist_append(hdrs, ct);
            curl_easy_setopt(e, CURLOPT_POST, 1L);
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bodylen);
        }
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
        CURLcode rc = curl_easy_perform(e);
        curl_slist_free_all(hdrs);
        long st = 0;
        if (rc == CURLE_OK)
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &st);
        int again = (rc == CURLE_OK) ? (st == 503 || st == 429) : (transient(rc) && !s.over);
        if (again && attempt < h->o.retries) {
            double d = retry_delay(e, st, attempt + 1);
            fprintf(stderr, "tlog: %s: %s, retrying in %.1f s\n", url,
                    rc == CURLE_OK ? "server busy (503)" : curl_easy_strerror(rc), d);
            sleep_seconds(h, d);
            if (stopped(h)) {
                snprintf(err, cap, "%s: interrupted", url);
                return TL_ERR_STOPPED;
            }
            continue;
        }
        if (rc != CURLE_OK)
            return curl_err(rc, url, &s, ebuf, err, cap);
        *status = st;
        return TL_OK;
    }
}

/* ---- asynchronous fetches -------------------------------------------- */

typedef struct fetch_priv {
    tl_curl_sink s;
    char url[4096 + 128];
    char ebuf[CURL_ERROR_SIZE];
    tl_h2_req r; /* with the fetcher */
} fetch_priv;

/* Whether the bulk GETs go to the fetcher (not yet known counts as yes). */
static int use_h2(const tl_http *h)
{
    return h->h2 != NULL && tl_h2_speaks_h2(h->h2) != 0;
}

static void link_active(tl_http *h, tl_fetch *f)
{
    f->aprev = NULL;
    f->anext = h->active;
    if (h->active)
        h->active->aprev = f;
    h->active = f;
}

static int start_h2(tl_http *h, tl_fetch *f)
{
    fetch_priv *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return TL_ERR_NOMEM;
    snprintf(p->url, sizeof(p->url), "%s/%s", h->base, f->path);
    p->r.path = f->path;
    p->r.max = f->max;
    p->r.body = &f->body;
    p->r.user = f;
    int rc = tl_h2_submit(h->h2, &p->r);
    if (rc != TL_OK) {
        free(p);
        return rc;
    }
    f->easy = NULL;
    f->priv = p;
    link_active(h, f);
    return TL_OK;
}

static int start_now(tl_http *h, tl_fetch *f)
{
    if (use_h2(h))
        return start_h2(h, f);
    CURL *e = h->npool > 0 ? h->pool[--h->npool] : curl_easy_init();
    if (e == NULL)
        return TL_ERR_NOMEM;
    fetch_priv *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        curl_easy_cleanup(e);
        return TL_ERR_NOMEM;
    }
    snprintf(p->url, sizeof(p->url), "%s/%s", h->base, f->path);
    p->s.buf = &f->body;
    p->s.max = f->max;
    tl_buf_reset(&f->body);
    curl_easy_reset(e);
    int rc = setup_easy(h, e, p->url, &p->s, p->ebuf, 1);
    if (rc != TL_OK) {
        free(p);
        curl_easy_cleanup(e);
        return rc;
    }
    curl_easy_setopt(e, CURLOPT_PRIVATE, f);
    f->easy = e;
    f->priv = p;
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        free(p);
        curl_easy_cleanup(e);
        f->easy = NULL;
        f->priv = NULL;
        return TL_ERR_NOMEM;
    }
    link_active(h, f);
    return TL_OK;
}

int tl_http_fetch_start(tl_http *h, tl_fetch *f)
{
    f->done = 0;
    f->err = TL_OK;
    f->status = 0;
    f->errmsg[0] = 0;
    f->attempts = 0;
    f->refusals = 0;
    f->not_before = 0;
    /* Until one transfer has finished, start one at a time: it makes the
     * connection and tells curl that it multiplexes; then the others share
     * it. (libcurl 7.88 fails transfers queued behind an HTTP/2
     * prior-knowledge connection that is still being set up.) */
    if (!use_h2(h) && !h->warm && h->pending > 0) {
        f->next = h->delayed;
        h->delayed = f;
        h->pending++;
        return TL_OK;
    }
    int rc = start_now(h, f);
    if (rc == TL_OK)
        h->pending++;
    return rc;
}

static void unlink_active(tl_http *h, tl_fetch *f)
{
    if (f->aprev)
        f->aprev->anext = f->anext;
    else
        h->active = f->anext;
    if (f->anext)
        f->anext->aprev = f->aprev;
    f->anext = f->aprev = NULL;
}

static void release_easy(tl_http *h, CURL *e)
{
    curl_multi_remove_handle(h->multi, e);
    if (h->npool < POOL_MAX)
        h->pool[h->npool++] = e;
    else
        curl_easy_cleanup(e);
}

/* Handles one finished transfer; returns 1 when the fetch is done. */
static int finish(tl_http *h, tl_fetch *f, CURLcode rc)
{
    CURL *e = f->easy;
    fetch_priv *p = f->priv;
    long st = 0;
    unlink_active(h, f);
    if (rc == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &st);
    int again = (rc == CURLE_OK) ? (st == 503 || st == 429) : (transient(rc) && !p->s.over);
    if (again && f->attempts < h->o.retries) {
        f->attempts++;
        f->not_before = tl_mono_s() + retry_delay(e, st, f->attempts);
        release_easy(h, e);
        free(p);
        f->easy = NULL;
        f->priv = NULL;
        f->next = h->delayed;
        h->delayed = f;
        return 0;
    }
    if (rc != CURLE_OK) {
        f->err = curl_err(rc, p->url, &p->s, p->ebuf, f->errmsg, sizeof(f->errmsg));
    } else {
        f->status = st;
    }
    release_easy(h, e);
    free(p);
    f->easy = NULL;
    f->priv = NULL;
    f->done = 1;
    h->warm = 1;
    h->pending--;
    return 1;
}

/* Handles one request the fetcher handed back, as finish() does for
 * libcurl's; returns 1 when the fetch is done. */
static int finish_h2(tl_http *h, tl_fetch *f)
{
    fetch_priv *p = f->priv;
    const tl_h2_req *r = &p->r;
    unlink_active(h, f);
    if (r->no_h2) {
        /* The server does not speak HTTP/2: libcurl takes over (HTTP/1.1
         * on http://), one transfer first as always. */
        if (strncmp(h->base, "http://", 7) == 0 && !h->said_fallback) {
            h->said_fallback = 1;
            fprintf(stderr,
                    "tlog: --h2c: %s does not speak HTTP/2 with prior knowledge; using "
                    "HTTP/1.1\n",
                    h->base);
        }
        h->o.h2c = 0;
        h->warm = 0;
        free(p);
        f->priv = NULL;
        f->not_before = 0;
        f->next = h->delayed;
        h->delayed = f;
        return 0;
    }
    int again = r->err == TL_OK ? (r->status == 503 || r->status == 429)
                                : (r->transient && r->err != TL_ERR_TOOBIG);
    if (again && r->refused && f->refusals < REFUSALS_MAX) {
        /* Not processed (GOAWAY, REFUSED_STREAM): at once, on the next
         * connection; not an attempt. */
        f->refusals++;
        if (tl_h2_submit(h->h2, &p->r) == TL_OK) {
            link_active(h, f);
            return 0;
        }
    }
    if (again && f->attempts < h->o.retries) {
        f->attempts++;
        f->not_before = tl_mono_s() + delay_for(r->status, r->retry_after, f->attempts);
        free(p);
        f->priv = NULL;
        f->next = h->delayed;
        h->delayed = f;
        return 0;
    }
    if (r->err == TL_ERR_TOOBIG) {
        f->err = r->err;
        snprintf(f->errmsg, sizeof(f->errmsg), "%.200s: response larger than %zu bytes", p->url,
                 f->max);
    } else if (r->err != TL_OK) {
        f->err = r->err;
        snprintf(f->errmsg, sizeof(f->errmsg), "%.120s: %.128s", p->url, r->errmsg);
    } else {
        f->status = r->status;
    }
    free(p);
    f->priv = NULL;
    f->done = 1;
    h->pending--;
    return 1;
}

int tl_http_fetch_wait(tl_http *h)
{
    for (;;) {
        /* Start the delayed retries that are due. */
        double now = tl_mono_s(), next_due = 0;
        tl_fetch **pp = &h->delayed;
        while (*pp) {
            tl_fetch *f = *pp;
            if (!use_h2(h) && !h->warm && h->active != NULL) {
                pp = &f->next; /* held until the first transfer ends */
            } else if (f->not_before <= now) {
                *pp = f->next;
                f->next = NULL;
                int rc = start_now(h, f);
                if (rc != TL_OK) {
                    f->err = rc;
                    snprintf(f->errmsg, sizeof(f->errmsg), "%s",
                             rc == TL_ERR_NOMEM ? "out of memory" : "cannot set up libcurl");
                    f->done = 1;
                    h->pending--;
                    return h->pending;
                }
            } else {
                if (next_due == 0 || f->not_before < next_due)
                    next_due = f->not_before;
                pp = &f->next;
            }
        }
        if (h->pending == 0)
            return 0;
        if (stopped(h))
            return TL_ERR_STOPPED;
        int ms = 1000;
        if (next_due > 0) {
            double wait = (next_due - tl_mono_s()) * 1000.0;
            ms = wait < 0 ? 0 : (wait < 1000 ? (int)wait + 1 : 1000);
        }
        if (use_h2(h)) {
            /* Returns on a finished request, a wake-up or after ms. */
            tl_h2_run(h->h2, ms);
            int finished = 0;
            tl_h2_req *r;
            while ((r = tl_h2_done(h->h2)) != NULL)
                finished += finish_h2(h, r->user);
            if (finished)
                return h->pending;
            if (__atomic_exchange_n(&h->woken, 0, __ATOMIC_ACQ_REL))
                return h->pending;
            continue;
        }
        int running = 0;
        if (curl_multi_perform(h->multi, &running) != CURLM_OK)
            return TL_ERR_NETWORK;
        int finished = 0, left = 0;
        CURLMsg *m;
        while ((m = curl_multi_info_read(h->multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE)
                continue;
            tl_fetch *f = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&f);
            finished += finish(h, f, m->data.result);
        }
        if (finished)
            return h->pending;
        curl_multi_poll(h->multi, NULL, 0, ms, NULL);
        if (__atomic_exchange_n(&h->woken, 0, __ATOMIC_ACQ_REL))
            return h->pending;
    }
}

int tl_http_pending(const tl_http *h)
{
    return h->pending;
}

void tl_http_wakeup(tl_http *h)
{
    __atomic_store_n(&h->woken, 1, __ATOMIC_RELEASE);
    curl_multi_wakeup(h->multi);
    if (h->h2)
        tl_h2_wakeup(h->h2);
}

void tl_http_fetch_cancel_all(tl_http *h)
{
    while (h->active) {
        tl_fetch *f = h->active;
        unlink_active(h, f);
        if (f->easy)
            release_easy(h, f->easy);
        else if (f->priv)
            tl_h2_cancel(h->h2, &((fetch_priv *)f->priv)->r);
        free(f->priv);
        f->priv = NULL;
        f->easy = NULL;
        f->done = 1;
        f->err = TL_ERR_STOPPED;
    }
    while (h->delayed) {
        tl_fetch *f = h->delayed;
        h->delayed = f->next;
        f->next = NULL;
        f->done = 1;
        f->err = TL_ERR_STOPPED;
    }
    h->pending = 0;
}
