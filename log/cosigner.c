/*
 * cosigner.c - the log's side of witnessing (C2SP tlog-witness client):
 * sends each new signed checkpoint to every policy witness with a URL,
 * collects cosignature/v1 lines, and publishes the checkpoint through
 * tl_log_publish once the policy's quorum is met.
 *
 * Guarantees:
 *  - Only cosignatures that verify (tl_cosig_verify with the witness key from
 *    the policy, over the exact checkpoint sent) count toward the quorum, and
 *    only for the size they were made for.
 *  - Rounds: one target checkpoint at a time, one request per witness per
 *    target. A newer signed head replaces the target once the current one is
 *    published, or once no request for it is in flight (so intermediate
 *    heads are skipped when witnesses are slower than the sequencer, and
 *    witnesses are never chasing different sizes forever).
 *  - A 409 teaches the witness's size (text/x.tlog.size) and the request is
 *    retried at once with a proof from there (at most 3 times per round);
 *    every other failure (403/404/422/429/5xx, network, timeout) backs off
 *    exponentially (200 ms doubling, capped at 5 s).
 *  - One thread with a libcurl multi handle (HTTP/2 when offered, keep-alive
 *    connections); the log's listener only sets a flag and wakes it.
 *  - https:// witnesses are always verified (peer certificate and host name),
 *    against the system store or, when given, only the CA file's certificates.
 */
#include "log/cosigner.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/b64.h"
#include "common/clock.h"
#include "common/curl.h"
#include "common/dec.h"
#include "common/err.h"
#include "log/reader.h"
#include "signer/note.h"

#define BACKOFF_BASE_MS 200.0
#define BACKOFF_MAX_MS 5000.0
#define REQUEST_TIMEOUT_MS 10000L
#define CONNECT_TIMEOUT_MS 3000L
#define MAX_409_RETRIES 3
#define RESP_MAX (64 * 1024)
#define MAX_HOOKS 64

struct wit {
    const tl_policy_witness *pw;
    char *url; /* <prefix>/add-checkpoint, or NULL when the witness has no URL */
    CURL *easy;
    char curl_err[CURL_ERROR_SIZE]; /* curl's detail of the last failed transfer */
    struct curl_slist *hdrs;
    tl_buf body, resp;
    tl_curl_sink sink; /* into resp, at most RESP_MAX bytes */
    int busy;
    uint64_t req_size;
    char *req_note; /* the checkpoint note sent (for verifying the answer) */
    size_t req_note_len;
    double t_start;
    uint64_t known;     /* the size this witness last cosigned, as far as we know */
    unsigned fails;     /* consecutive failures */
    unsigned conflicts; /* 409 retries in this round */
    double next_try;
    uint64_t cosig_size;
    char *cosig_line; /* for cosig_size */
    /* metrics (under c->mu) */
    uint64_t m_requests, m_failures, m_conflicts, m_cosigs;
    double m_latency_last, m_latency_sum;
    uint64_t m_cosigned_size;
    long m_last_status;
};

struct hook {
    int used;
    tl_cosigner *c;
};

struct tl_cosigner {
    tl_log *log;
    tl_log_reader *rd; /* the cosigner thread's: consistency proofs */
    const tl_policy *policy;
    pthread_t th;
    int started;
    pthread_mutex_t mu;
    int stop;
    uint64_t signed_hint; /* latest signed size the listener saw */
    int kicked;
    CURLM *multi;
    struct wit *w;
    size_t nw;
    unsigned char *cosigned;
    tl_log_head target;
    int have_target, target_published;
    struct hook *hook;
    uint64_t m_published, m_rounds;
    double m_publish_wait_last; /* seconds from round start to publication */
    double round_start;
};

/* The log keeps listener pointers for its lifetime, which may outlast the
 * cosigner: listeners point at static hooks, never at freed memory. */
static struct hook hooks[MAX_HOOKS];
static pthread_mutex_t hooks_mu = PTHREAD_MUTEX_INITIALIZER;

static double now_ms(void)
{
    return tl_mono_s() * 1e3;
}

static void on_event(void *ctx, uint64_t signed_size, uint64_t published_size)
{
    struct hook *h = ctx;
    (void)published_size;
    pthread_mutex_lock(&hooks_mu);
    tl_cosigner *c = h->c;
    if (c) {
        pthread_mutex_lock(&c->mu);
        if (signed_size > c->signed_hint)
            c->signed_hint = signed_size;
        c->kicked = 1;
        pthread_mutex_unlock(&c->mu);
        curl_multi_wakeup(c->multi);
    }
    pthread_mutex_unlock(&hooks_mu);
}

/* ---- one request ------------------------------------------------------------ */

static void fail(tl_cosigner *c, struct wit *w, const char *why, long status)
{
    w->fails++;
    double d = BACKOFF_BASE_MS;
    for (unsigned i = 1; i < w->fails && d < BACKOFF_MAX_MS; i++)
        d *= 2;
    if (d > BACKOFF_MAX_MS)
        d = BACKOFF_MAX_MS;
    d *= 0.75 + 0.5 * ((double)rand() / RAND_MAX); /* jitter */
    w->next_try = now_ms() + d;
    pthread_mutex_lock(&c->mu);
    w->m_failures++;
    pthread_mutex_unlock(&c->mu);
    if (w->fails <= 3 || w->fails % 50 == 0)
        fprintf(stderr,
                "tlogd: witness %s: size %" PRIu64 " not cosigned: %s%s%.0ld (failure %u, "
                "retry in %.0f ms)\n",
                w->pw->name, w->req_size, why, status ? " " : "", status, w->fails, d);
}

static int start_request(tl_cosigner *c, struct wit *w)
{
    tl_hash proof[TL_MAX_PROOF];
    size_t plen = 0;
    uint64_t old = w->known;
    w->req_size = c->target.size;
    if (old > c->target.size) {
        fail(c, w, "witness is ahead of this log", 0);
        return -1;
    }
    if (old > 0 && old < c->target.size) {
        int rc =
            tl_log_reader_consistency(c->rd, c->target.size, old, c->target.size, proof, &plen);
        if (rc != TL_OK) {
            fail(c, w, "cannot build the consistency proof", 0);
            return -1;
        }
    }
    tl_buf_reset(&w->body);
    tl_buf_reset(&w->resp);
    w->sink.over = 0;
    tl_buf_addf(&w->body, "old %" PRIu64 "\n", old);
    for (size_t i = 0; i < plen; i++) {
        char b64[TL_B64_LEN(TL_HASH_SIZE) + 1];
        tl_b64_encode(proof[i].b, TL_HASH_SIZE, b64);
        tl_buf_addf(&w->body, "%s\n", b64);
    }
    tl_buf_adds(&w->body, "\n");
    if (tl_buf_add(&w->body, c->target.note, c->target.note_len) != TL_OK) {
        fail(c, w, "out of memory", 0);
        return -1;
    }
    free(w->req_note);
    w->req_note = malloc(c->target.note_len + 1);
    if (!w->req_note) {
        fail(c, w, "out of memory", 0);
        return -1;
    }
    memcpy(w->req_note, c->target.note, c->target.note_len);
    w->req_note[c->target.note_len] = 0;
    w->req_note_len = c->target.note_len;

    CURL *e = w->easy;
    curl_easy_setopt(e, CURLOPT_URL, w->url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, (const char *)w->body.data);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)w->body.len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, w->hdrs);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)w);
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        fail(c, w, "curl_multi_add_handle failed", 0);
        return -1;
    }
    w->busy = 1;
    w->t_start = now_ms();
    pthread_mutex_lock(&c->mu);
    w->m_requests++;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

/* Finds the response line that is a valid cosignature by w's key on the
 * checkpoint that was sent; returns it malloc'd (with its newline). */
static char *verified_cosig(struct wit *w)
{
    const char *p = (const char *)w->resp.data, *end = p + w->resp.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            break;
        size_t ll = (size_t)(nl - p) + 1;
        size_t tl = w->req_note_len + ll;
        char *tmp = malloc(tl + 1);
        if (!tmp)
            return NULL;
        memcpy(tmp, w->req_note, w->req_note_len);
        memcpy(tmp + w->req_note_len, p, ll);
        tmp[tl] = 0;
        tl_note n;
        int ok = 0;
        if (tl_note_parse(tmp, tl, &n) == TL_OK) {
            uint64_t ts;
            ok = tl_cosig_verify(&n, w->pw->key, &ts) == TL_OK;
            tl_note_release(&n);
        }
        free(tmp);
        if (ok) {
            char *line = malloc(ll + 1);
            if (line) {
                memcpy(line, p, ll);
                line[ll] = 0;
            }
            return line;
        }
        p = nl + 1;
    }
    return NULL;
}

/* A text/x.tlog.size body: "<canonical decimal>\n". */
static int parse_size(const tl_buf *b, uint64_t *out)
{
    if (b->len < 2 || b->data[b->len - 1] != '\n')
        return TL_ERR_INVALID;
    return tl_dec_parse_u64((const char *)b->data, b->len - 1, UINT64_MAX, out);
}

static void request_done(tl_cosigner *c, struct wit *w, CURLcode cc)
{
    long status = 0;
    curl_multi_remove_handle(c->multi, w->easy);
    w->busy = 0;
    double lat = (now_ms() - w->t_start) / 1e3;
    pthread_mutex_lock(&c->mu);
    w->m_latency_last = lat;
    w->m_latency_sum += lat;
    pthread_mutex_unlock(&c->mu);
    if (cc != CURLE_OK) {
        fail(c, w, w->curl_err[0] ? w->curl_err : curl_easy_strerror(cc), 0);
        return;
    }
    curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &status);
    pthread_mutex_lock(&c->mu);
    w->m_last_status = status;
    pthread_mutex_unlock(&c->mu);
    if (status == 200) {
        char *line = verified_cosig(w);
        if (!line) {
            fail(c, w, "no valid cosignature in the response", status);
            return;
        }
        w->fails = 0;
        w->known = w->req_size;
        pthread_mutex_lock(&c->mu);
        w->m_cosigs++;
        w->m_cosigned_size = w->req_size;
        pthread_mutex_unlock(&c->mu);
        if (c->have_target && w->req_size == c->target.size) {
            free(w->cosig_line);
            w->cosig_line = line;
            w->cosig_size = w->req_size;
        } else {
            free(line);
        }
        return;
    }
    if (status == 409) {
        uint64_t size;
        pthread_mutex_lock(&c->mu);
        w->m_conflicts++;
        pthread_mutex_unlock(&c->mu);
        if (parse_size(&w->resp, &size) != TL_OK) {
            fail(c, w, "409 without a valid text/x.tlog.size body", status);
            return;
        }
        if (size == w->known || w->conflicts >= MAX_409_RETRIES) {
            /* No progress: the witness holds another root for this size, or
             * keeps moving. Do not hammer it. */
            w->known = size;
            fail(c, w, "conflict: witness state does not match this log", status);
            return;
        }
        w->known = size;
        w->conflicts++;
        w->next_try = 0; /* retry at once with a proof from its size */
        return;
    }
    fail(c, w, "HTTP status", status);
}

/* ---- rounds -------------------------------------------------------------------- */

static void new_round(tl_cosigner *c)
{
    tl_log_head h;
    memset(&h, 0, sizeof(h));
    if (tl_log_latest_signed(c->log, &h) != TL_OK)
        return;
    tl_log_head pub;
    memset(&pub, 0, sizeof(pub));
    int have_pub = tl_log_published(c->log, &pub) == TL_OK;
    uint64_t pub_size = have_pub ? pub.size : 0;
    if (have_pub)
        tl_log_head_release(&pub);
    if ((have_pub && h.size <= pub_size) || (c->have_target && h.size <= c->target.size)) {
        tl_log_head_release(&h);
        return;
    }
    if (c->have_target)
        tl_log_head_release(&c->target);
    c->target = h;
    c->have_target = 1;
    c->target_published = 0;
    c->round_start = now_ms();
    pthread_mutex_lock(&c->mu);
    c->m_rounds++;
    pthread_mutex_unlock(&c->mu);
    for (size_t i = 0; i < c->nw; i++) {
        c->w[i].conflicts = 0;
        free(c->w[i].cosig_line);
        c->w[i].cosig_line = NULL;
        c->w[i].cosig_size = 0;
    }
}

static int any_busy(const tl_cosigner *c)
{
    for (size_t i = 0; i < c->nw; i++)
        if (c->w[i].busy)
            return 1;
    return 0;
}

static void maybe_publish(tl_cosigner *c)
{
    if (!c->have_target || c->target_published)
        return;
    size_t k = 0;
    for (size_t i = 0; i < c->nw; i++) {
        c->cosigned[i] = c->w[i].cosig_line && c->w[i].cosig_size == c->target.size;
        k += c->cosigned[i];
    }
    if (!tl_policy_quorum_met(c->policy, c->cosigned))
        return;
    tl_buf note = TL_BUF_INIT;
    int rc = tl_buf_add(&note, c->target.note, c->target.note_len);
    for (size_t i = 0; i < c->nw && rc == TL_OK; i++)
        if (c->cosigned[i])
            rc = tl_buf_adds(&note, c->w[i].cosig_line);
    if (rc == TL_OK)
        rc = tl_log_publish(c->log, c->target.size, (const char *)note.data, note.len);
    tl_buf_release(&note);
    c->target_published = 1; /* on failure too: the next head gets a new round */
    if (rc != TL_OK) {
        fprintf(stderr, "tlogd: cosigner: publishing size %" PRIu64 " failed: %s\n", c->target.size,
                tl_strerror(rc));
        return;
    }
    pthread_mutex_lock(&c->mu);
    c->m_published++;
    c->m_publish_wait_last = (now_ms() - c->round_start) / 1e3;
    pthread_mutex_unlock(&c->mu);
    (void)k;
}

static void *cosigner_main(void *arg)
{
    tl_cosigner *c = arg;
    new_round(c);
    maybe_publish(c);
    for (;;) {
        pthread_mutex_lock(&c->mu);
        int stop = c->stop;
        uint64_t hint = c->signed_hint;
        c->kicked = 0;
        pthread_mutex_unlock(&c->mu);
        if (stop)
            break;
        /* Move to a newer head once this round is published or idle. */
        if (!c->have_target || c->target_published || (hint > c->target.size && !any_busy(c)))
            new_round(c);
        maybe_publish(c);
        double now = now_ms(), wait = 1000;
        if (c->have_target && !c->target_published) {
            for (size_t i = 0; i < c->nw; i++) {
                struct wit *w = &c->w[i];
                if (!w->url || w->busy || (w->cosig_line && w->cosig_size == c->target.size))
                    continue;
                if (w->next_try > now) {
                    if (w->next_try - now < wait)
                        wait = w->next_try - now;
                    continue;
                }
                start_request(c, w);
            }
        }
        int running = 0;
        curl_multi_perform(c->multi, &running);
        CURLMsg *m;
        int left;
        int finished = 0;
        while ((m = curl_multi_info_read(c->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            char *priv = NULL;
            CURL *e = m->easy_handle;
            CURLcode res = m->data.result;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
            struct wit *w = (struct wit *)(void *)priv;
            if (w) {
                request_done(c, w, res);
                finished = 1;
            }
        }
        if (finished) {
            maybe_publish(c);
            continue; /* start retries / the next round at once */
        }
        pthread_mutex_lock(&c->mu);
        int kicked = c->kicked || c->stop;
        pthread_mutex_unlock(&c->mu);
        if (kicked)
            continue;
        curl_multi_poll(c->multi, NULL, 0, (int)(wait < 1 ? 1 : wait), NULL);
    }
    for (size_t i = 0; i < c->nw; i++)
        if (c->w[i].busy) {
            curl_multi_remove_handle(c->multi, c->w[i].easy);
            c->w[i].busy = 0;
        }
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------- */

static char *trimmed(const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    char *r = malloc(n + 1);
    if (r) {
        memcpy(r, s, n);
        r[n] = 0;
    }
    return r;
}

static int validate(tl_log *log, const tl_policy *p, char *err, size_t cap)
{
    const char *origin = tl_log_origin(log);
    char *mine = trimmed(tl_log_vkey(log));
    if (!mine) {
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    int rc = TL_OK, found = 0;
    for (size_t i = 0; i < tl_policy_nlogs(p) && rc == TL_OK; i++) {
        const tl_policy_log *l = tl_policy_log_at(p, i);
        char *s = NULL;
        if (tl_verifier_format(l->key, &s) != TL_OK) {
            rc = TL_ERR_NOMEM;
            snprintf(err, cap, "out of memory");
            break;
        }
        char *t = trimmed(s);
        free(s);
        if (!t) {
            rc = TL_ERR_NOMEM;
            snprintf(err, cap, "out of memory");
            break;
        }
        if (strcmp(t, mine) == 0) {
            found = 1;
        } else if (strcmp(tl_verifier_name(l->key), origin) == 0) {
            snprintf(err, cap, "policy: the log line for %s has another key than this log's (%s)",
                     origin, mine);
            rc = TL_ERR_INVALID;
        }
        free(t);
    }
    if (rc == TL_OK && tl_policy_nlogs(p) > 0 && !found) {
        snprintf(err, cap, "policy: no log line has this log's key (%s)", mine);
        rc = TL_ERR_INVALID;
    }
    free(mine);
    for (size_t i = 0; i < tl_policy_nwitnesses(p) && rc == TL_OK; i++) {
        const tl_policy_witness *w = tl_policy_witness_at(p, i);
        if (tl_verifier_type(w->key) != TL_KEY_COSIG_V1) {
            snprintf(err, cap, "policy: witness %s: key is not a cosignature/v1 (0x04) key",
                     w->name);
            rc = TL_ERR_INVALID;
        } else if (w->url && strncmp(w->url, "http://", 7) != 0 &&
                   strncmp(w->url, "https://", 8) != 0) {
            snprintf(err, cap, "policy: witness %s: URL must be http:// or https://", w->name);
            rc = TL_ERR_INVALID;
        }
    }
    if (rc == TL_OK && !tl_policy_quorum_none(p) && !tl_policy_quorum_reachable_with_urls(p)) {
        snprintf(err, cap, "policy: the quorum can never be met by the witnesses that have URLs");
        rc = TL_ERR_INVALID;
    }
    return rc;
}

static void free_cosigner(tl_cosigner *c)
{
    for (size_t i = 0; i < c->nw; i++) {
        struct wit *w = &c->w[i];
        if (w->easy)
            curl_easy_cleanup(w->easy);
        curl_slist_free_all(w->hdrs);
        tl_buf_release(&w->body);
        tl_buf_release(&w->resp);
        free(w->req_note);
        free(w->cosig_line);
        free(w->url);
    }
    if (c->multi)
        curl_multi_cleanup(c->multi);
    tl_log_reader_free(c->rd);
    if (c->have_target)
        tl_log_head_release(&c->target);
    free(c->w);
    free(c->cosigned);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int tl_cosigner_start(tl_log *log, const tl_policy *policy, const char *ca_file, tl_cosigner **out,
                      char *err, size_t cap)
{
    int rc = validate(log, policy, err, cap);
    if (rc != TL_OK)
        return rc;
    tl_cosigner *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    pthread_mutex_init(&c->mu, NULL);
    c->log = log;
    c->policy = policy;
    c->nw = tl_policy_nwitnesses(policy);
    c->w = calloc(c->nw ? c->nw : 1, sizeof(*c->w));
    c->cosigned = calloc(c->nw ? c->nw : 1, 1);
    c->multi = curl_multi_init();
    if (!c->w || !c->cosigned || !c->multi ||
        tl_log_reader_new(log, TL_LOG_READER_SMALL, &c->rd) != TL_OK) {
        free_cosigner(c);
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    for (size_t i = 0; i < c->nw; i++) {
        struct wit *w = &c->w[i];
        w->pw = tl_policy_witness_at(policy, i);
        tl_buf_init(&w->body);
        tl_buf_init(&w->resp);
        if (!w->pw->url)
            continue;
        size_t ul = strlen(w->pw->url);
        while (ul > 0 && w->pw->url[ul - 1] == '/')
            ul--;
        w->url = malloc(ul + sizeof("/add-checkpoint"));
        w->easy = curl_easy_init();
        w->hdrs = curl_slist_append(NULL, "Content-Type: text/plain; charset=utf-8");
        if (!w->url || !w->easy || !w->hdrs) {
            free_cosigner(c);
            snprintf(err, cap, "out of memory");
            return TL_ERR_NOMEM;
        }
        memcpy(w->url, w->pw->url, ul);
        memcpy(w->url + ul, "/add-checkpoint", sizeof("/add-checkpoint"));
        /* Options that stay on a witness's easy handle for all its requests
         * (common/curl.h: TLS verification always on, ca_file replacing the
         * system store, timeouts, the bounded response body, the error
         * detail buffer); start_request sets each request. */
        tl_curl_opts co = {.user_agent = "tlogd-cosigner",
                           .ca_file = ca_file,
                           .connect_timeout_ms = CONNECT_TIMEOUT_MS,
                           .timeout_ms = REQUEST_TIMEOUT_MS,
                           .errbuf = w->curl_err};
        w->sink = (tl_curl_sink){&w->resp, RESP_MAX, 0};
        if (tl_curl_setup(w->easy, &co, &w->sink) != TL_OK) {
            free_cosigner(c);
            snprintf(err, cap, "cannot set up libcurl");
            return TL_ERR_INVALID;
        }
    }
    pthread_mutex_lock(&hooks_mu);
    for (size_t i = 0; i < MAX_HOOKS; i++)
        if (!hooks[i].used) {
            hooks[i].used = 1;
            hooks[i].c = c;
            c->hook = &hooks[i];
            break;
        }
    pthread_mutex_unlock(&hooks_mu);
    if (!c->hook || tl_log_add_listener(log, on_event, c->hook) != TL_OK) {
        if (c->hook) {
            pthread_mutex_lock(&hooks_mu);
            c->hook->c = NULL; /* stays claimed: the log may hold it */
            pthread_mutex_unlock(&hooks_mu);
        }
        free_cosigner(c);
        snprintf(err, cap, "cannot register with the log (too many listeners)");
        return TL_ERR_BUSY;
    }
    if (pthread_create(&c->th, NULL, cosigner_main, c) != 0) {
        pthread_mutex_lock(&hooks_mu);
        c->hook->c = NULL;
        pthread_mutex_unlock(&hooks_mu);
        free_cosigner(c);
        snprintf(err, cap, "cannot start the cosigner thread");
        return TL_ERR_NOMEM;
    }
    c->started = 1;
    *out = c;
    return TL_OK;
}

void tl_cosigner_stop(tl_cosigner *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&hooks_mu);
    c->hook->c = NULL;
    pthread_mutex_unlock(&hooks_mu);
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_mutex_unlock(&c->mu);
    curl_multi_wakeup(c->multi);
    if (c->started)
        pthread_join(c->th, NULL);
    free_cosigner(c);
}

void tl_cosigner_metrics(tl_cosigner *c, tl_buf *out)
{
    if (!c)
        return;
    static const struct {
        const char *name, *type, *help;
    } m[] = {
        {"tlogd_witness_requests_total", "counter", "add-checkpoint requests sent"},
        {"tlogd_witness_failures_total", "counter", "failed add-checkpoint requests"},
        {"tlogd_witness_conflicts_total", "counter", "409 answers"},
        {"tlogd_witness_cosignatures_total", "counter", "valid cosignatures received"},
        {"tlogd_witness_latency_seconds_last", "gauge", "latency of the last request"},
        {"tlogd_witness_latency_seconds_sum", "counter", "total request latency"},
        {"tlogd_witness_cosigned_size", "gauge", "last size this witness cosigned"},
        {"tlogd_witness_last_status", "gauge", "HTTP status of the last answer"},
    };
    pthread_mutex_lock(&c->mu);
    for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
        tl_buf_addf(out, "# HELP %s %s.\n# TYPE %s %s\n", m[k].name, m[k].help, m[k].name,
                    m[k].type);
        for (size_t i = 0; i < c->nw; i++) {
            struct wit *w = &c->w[i];
            if (!w->url)
                continue;
            tl_buf_addf(out, "%s{witness=\"", m[k].name);
            tl_buf_add_label(out, w->pw->name);
            tl_buf_adds(out, "\"} ");
            switch (k) {
            case 0:
                tl_buf_addf(out, "%" PRIu64 "\n", w->m_requests);
                break;
            case 1:
                tl_buf_addf(out, "%" PRIu64 "\n", w->m_failures);
                break;
            case 2:
                tl_buf_addf(out, "%" PRIu64 "\n", w->m_conflicts);
                break;
            case 3:
                tl_buf_addf(out, "%" PRIu64 "\n", w->m_cosigs);
                break;
            case 4:
                tl_buf_addf(out, "%.6f\n", w->m_latency_last);
                break;
            case 5:
                tl_buf_addf(out, "%.6f\n", w->m_latency_sum);
                break;
            case 6:
                tl_buf_addf(out, "%" PRIu64 "\n", w->m_cosigned_size);
                break;
            default:
                tl_buf_addf(out, "%ld\n", w->m_last_status);
                break;
            }
        }
    }
    tl_buf_addf(out,
                "# TYPE tlogd_cosigner_rounds_total counter\ntlogd_cosigner_rounds_total %" PRIu64
                "\n# TYPE tlogd_cosigner_published_total counter\n"
                "tlogd_cosigner_published_total %" PRIu64
                "\n# TYPE tlogd_cosigner_publish_wait_seconds_last gauge\n"
                "tlogd_cosigner_publish_wait_seconds_last %.6f\n",
                c->m_rounds, c->m_published, c->m_publish_wait_last);
    pthread_mutex_unlock(&c->mu);
}

size_t tl_cosigner_witnesses(tl_cosigner *c, tl_cosigner_witness *out, size_t cap)
{
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->nw && i < cap; i++) {
        const struct wit *w = &c->w[i];
        out[i] = (tl_cosigner_witness){.name = w->pw->name,
                                       .key = w->pw->key,
                                       .has_url = w->url != NULL,
                                       .requests = w->m_requests,
                                       .failures = w->m_failures,
                                       .conflicts = w->m_conflicts,
                                       .cosignatures = w->m_cosigs,
                                       .cosigned_size = w->m_cosigned_size,
                                       .latency_last = w->m_latency_last,
                                       .latency_sum = w->m_latency_sum,
                                       .last_status = w->m_last_status};
    }
    size_t n = c->nw;
    pthread_mutex_unlock(&c->mu);
    return n;
}

const tl_policy *tl_cosigner_policy(const tl_cosigner *c)
{
    return c->policy;
}
