/*
 * pull.c - tlog-witness pull mode: for every log in the logs file that has a
 * URL, fetch <url>/checkpoint, build the consistency proof from the size the
 * witness last cosigned out of the log's own hash tiles (C2SP tlog-tiles,
 * <url>/tile/<L>/<N>[.p/<W>]), and submit it through the same atomic
 * add-checkpoint path as a pushed request.
 *
 * Guarantees: nothing fetched is trusted. The checkpoint must carry a valid
 * signature by the log's key (checked by tl_witness_add_checkpoint), and the
 * proof built from the fetched tiles must verify against the stored root and
 * the checkpoint's root, so a tile inconsistent with the checkpoints is
 * rejected (422) instead of cosigned. Responses are bounded in size; every
 * transfer has a deadline. https:// logs are always verified (peer
 * certificate and host name), against the system store or, when given, only
 * the certificates of the CA file (tlog-witness --log-ca).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/b64.h"
#include "common/curl.h"
#include "common/err.h"
#include "signer/checkpoint.h"
#include "witness/witness.h"

#define TILE_CACHE 48
#define CHECKPOINT_MAX (256 * 1024)

/* One poll's HTTP client: a reused easy handle (its connections are kept
 * alive between the checkpoint and the tiles), the TLS trust and the detail
 * of the last failed transfer. */
struct fetcher {
    CURL *c;
    const char *ca_file; /* borrowed; NULL: the system store */
    char err[CURL_ERROR_SIZE];
};

/* GET url into out (at most max bytes). Returns TL_OK and *status; on a
 * failed transfer f->err says why. */
static int http_get(struct fetcher *f, const char *url, size_t max, unsigned timeout_ms,
                    tl_buf *out, long *status)
{
    tl_curl_sink sink = {out, max, 0};
    tl_curl_opts o = {.user_agent = "tlog-witness",
                      .ca_file = f->ca_file,
                      .connect_timeout_ms = (long)timeout_ms,
                      .timeout_ms = (long)timeout_ms,
                      .errbuf = f->err};
    CURL *c = f->c;
    tl_buf_reset(out);
    curl_easy_reset(c);
    if (tl_curl_setup(c, &o, &sink) != TL_OK) {
        snprintf(f->err, sizeof(f->err), "cannot set up libcurl");
        return TL_ERR_NETWORK;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK)
        return cc == CURLE_OPERATION_TIMEDOUT ? TL_ERR_TIMEOUT : TL_ERR_NETWORK;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    return TL_OK;
}

/* ---- a hash-tile source over HTTP for tl_tile_read_nodes ----------------- */

struct tile_src {
    struct fetcher *f;
    const char *base;
    uint64_t size; /* tree size the tiles are read at */
    unsigned timeout_ms;
    struct {
        int level;
        uint64_t n;
        unsigned width;
        uint8_t *data;
    } cache[TILE_CACHE];
    size_t ncache;
    tl_buf tmp;
    char err[448];
};

static int tile_get(void *ctx, int level, uint64_t n, unsigned min_width, const uint8_t **data,
                    unsigned *width)
{
    struct tile_src *s = ctx;
    for (size_t i = 0; i < s->ncache; i++) {
        if (s->cache[i].level == level && s->cache[i].n == n && s->cache[i].width >= min_width) {
            *data = s->cache[i].data;
            *width = s->cache[i].width;
            return TL_OK;
        }
    }
    uint64_t hashes = tl_tile_level_hashes(level, s->size);
    if (n > hashes / TL_TILE_WIDTH || hashes - n * TL_TILE_WIDTH < min_width)
        return TL_ERR_RANGE;
    uint64_t avail = hashes - n * TL_TILE_WIDTH;
    tl_tile t = {level, n, (unsigned)(avail > TL_TILE_WIDTH ? TL_TILE_WIDTH : avail)};
    char path[TL_TILE_PATH_MAX];
    if (tl_tile_path(&t, path, sizeof(path)) != TL_OK || s->ncache == TILE_CACHE)
        return TL_ERR_RANGE;
    char url[2048];
    snprintf(url, sizeof(url), "%s/%s", s->base, path);
    long status = 0;
    int rc = http_get(s->f, url, (size_t)t.width * TL_HASH_SIZE, s->timeout_ms, &s->tmp, &status);
    if (rc != TL_OK || status != 200) {
        snprintf(s->err, sizeof(s->err), "GET %.150s: %.250s", url,
                 rc != TL_OK ? (s->f->err[0] ? s->f->err : tl_strerror(rc)) : "unexpected status");
        return rc != TL_OK ? rc : TL_ERR_NETWORK;
    }
    if (s->tmp.len != (size_t)t.width * TL_HASH_SIZE) {
        snprintf(s->err, sizeof(s->err), "GET %.150s: %zu bytes, want %u", url, s->tmp.len,
                 t.width * TL_HASH_SIZE);
        return TL_ERR_INVALID;
    }
    uint8_t *copy = malloc(s->tmp.len);
    if (!copy)
        return TL_ERR_NOMEM;
    memcpy(copy, s->tmp.data, s->tmp.len);
    s->cache[s->ncache].level = level;
    s->cache[s->ncache].n = n;
    s->cache[s->ncache].width = t.width;
    s->cache[s->ncache].data = copy;
    s->ncache++;
    *data = copy;
    *width = t.width;
    return TL_OK;
}

struct tile_reader_ctx {
    struct tile_src *src;
    tl_hasher *h;
};

static int tile_read(void *ctx, const tl_node *nodes, size_t n, tl_hash *out)
{
    struct tile_reader_ctx *r = ctx;
    return tl_tile_read_nodes(tile_get, r->src, r->h, nodes, n, out);
}

/* ---- one poll of one log -------------------------------------------------- */

enum { PULL_SKIP = 0, PULL_COSIGNED = 1, PULL_FAILED = 2 };

static int pull_log(tl_witness *w, struct fetcher *f, tl_hasher *h, const char *origin,
                    const char *base, unsigned timeout_ms)
{
    char url[2048];
    tl_buf body = TL_BUF_INIT, req = TL_BUF_INIT;
    tl_witness_resp resp = {0, NULL, TL_BUF_INIT};
    tl_note note = {0};
    struct tile_src src = {0};
    int result = PULL_FAILED, have_note = 0;
    long status = 0;
    snprintf(url, sizeof(url), "%s/checkpoint", base);
    int rc = http_get(f, url, CHECKPOINT_MAX, timeout_ms, &body, &status);
    if (rc != TL_OK || status != 200) {
        if (rc == TL_OK && status == 503)
            result = PULL_SKIP; /* nothing published yet */
        else if (rc != TL_OK)
            fprintf(stderr, "tlog-witness: pull %s: GET %s: %s\n", origin, url,
                    f->err[0] ? f->err : tl_strerror(rc));
        else
            fprintf(stderr, "tlog-witness: pull %s: GET %s: status %ld\n", origin, url, status);
        goto out;
    }
    tl_checkpoint cp;
    if (tl_note_parse((const char *)body.data, body.len, &note) != TL_OK) {
        fprintf(stderr, "tlog-witness: pull %s: malformed checkpoint note\n", origin);
        goto out;
    }
    have_note = 1;
    if (tl_checkpoint_parse(note.text, note.text_len, &cp) != TL_OK ||
        strcmp(cp.origin, origin) != 0) {
        fprintf(stderr, "tlog-witness: pull %s: checkpoint malformed or for another origin\n",
                origin);
        goto out;
    }
    uint64_t size;
    tl_hash root;
    if (tl_witness_state(w, origin, &size, &root, NULL) != TL_OK)
        goto out;
    if (cp.size < size || (cp.size == size && memcmp(cp.root.b, root.b, 32) == 0)) {
        result = PULL_SKIP;
        goto out;
    }
    tl_hash proof[TL_MAX_PROOF];
    size_t plen = 0;
    if (size > 0 && cp.size > size) {
        src.f = f;
        src.base = base;
        src.size = cp.size;
        src.timeout_ms = timeout_ms;
        struct tile_reader_ctx rctx = {&src, h};
        tl_hash_reader reader = {tile_read, &rctx};
        rc = tl_prove_consistency(&reader, h, size, cp.size, proof, &plen);
        if (rc != TL_OK) {
            fprintf(stderr,
                    "tlog-witness: pull %s: building the proof %" PRIu64 "->%" PRIu64
                    " from tiles: %s%s%s\n",
                    origin, size, cp.size, tl_strerror(rc), src.err[0] ? ": " : "", src.err);
            goto out;
        }
    }
    if (plen > TL_WITNESS_MAX_PROOF)
        goto out;
    tl_buf_addf(&req, "old %" PRIu64 "\n", size);
    for (size_t i = 0; i < plen; i++) {
        char b64[TL_B64_LEN(32) + 1];
        tl_b64_encode(proof[i].b, 32, b64);
        tl_buf_addf(&req, "%s\n", b64);
    }
    tl_buf_adds(&req, "\n");
    if (tl_buf_add(&req, body.data, body.len) != TL_OK)
        goto out;
    if (tl_witness_add_checkpoint(w, req.data, req.len, 0, &resp) != TL_OK)
        goto out;
    if (resp.status == 200) {
        result = PULL_COSIGNED;
        fprintf(stderr, "tlog-witness: pull %s: cosigned size %" PRIu64 "\n", origin, cp.size);
    } else {
        fprintf(stderr, "tlog-witness: pull %s: size %" PRIu64 " refused: %d %.*s", origin, cp.size,
                resp.status, (int)resp.body.len, (const char *)resp.body.data);
    }
out:
    for (size_t i = 0; i < src.ncache; i++)
        free(src.cache[i].data);
    tl_buf_release(&src.tmp);
    if (have_note)
        tl_note_release(&note);
    tl_buf_release(&body);
    tl_buf_release(&req);
    tl_buf_release(&resp.body);
    return result;
}

struct pull_stats {
    uint64_t polls, cosigned, failures;
};

/* One poll of every log with a URL, counted into st. Out of memory: no poll. */
static void pull_all(tl_witness *w, const char *ca_file, unsigned timeout_ms, struct pull_stats *st)
{
    struct fetcher f = {curl_easy_init(), ca_file, {0}};
    tl_hasher *h = tl_hasher_new();
    for (size_t i = 0; f.c && h && i < tl_witness_nlogs(w); i++) {
        const char *origin, *url;
        if (tl_witness_log_at(w, i, &origin, &url) != TL_OK || !url)
            continue;
        int r = pull_log(w, &f, h, origin, url, timeout_ms);
        st->polls++;
        st->cosigned += r == PULL_COSIGNED;
        st->failures += r == PULL_FAILED;
    }
    curl_easy_cleanup(f.c);
    tl_hasher_free(h);
}

/* ---- the polling thread --------------------------------------------------- */

struct tl_witness_puller {
    tl_witness *w;
    const char *ca_file; /* borrowed; NULL: the system store */
    unsigned interval_ms;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    struct pull_stats st;
};

static void *puller_main(void *arg)
{
    tl_witness_puller *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        pthread_mutex_unlock(&p->mu);
        struct pull_stats st = {0};
        pull_all(p->w, p->ca_file, p->interval_ms < 10000 ? 10000 : p->interval_ms, &st);
        pthread_mutex_lock(&p->mu);
        p->st.polls += st.polls;
        p->st.cosigned += st.cosigned;
        p->st.failures += st.failures;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += p->interval_ms / 1000;
        ts.tv_nsec += (long)(p->interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!p->stop && pthread_cond_timedwait(&p->cv, &p->mu, &ts) == 0)
            ;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int tl_witness_puller_start(tl_witness *w, const char *ca_file, unsigned interval_ms,
                            tl_witness_puller **out)
{
    tl_witness_puller *p = calloc(1, sizeof(*p));
    if (!p)
        return TL_ERR_NOMEM;
    p->w = w;
    p->ca_file = ca_file;
    p->interval_ms = interval_ms ? interval_ms : 10000;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&p->th, NULL, puller_main, p) != 0) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        free(p);
        return TL_ERR_NOMEM;
    }
    *out = p;
    return TL_OK;
}

void tl_witness_puller_stop(tl_witness_puller *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->th, NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

void tl_witness_puller_metrics(tl_witness_puller *p, tl_buf *out)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    tl_buf_addf(out,
                "# TYPE tlog_witness_pull_polls_total counter\n"
                "tlog_witness_pull_polls_total %" PRIu64 "\n"
                "# TYPE tlog_witness_pull_cosigned_total counter\n"
                "tlog_witness_pull_cosigned_total %" PRIu64 "\n"
                "# TYPE tlog_witness_pull_failures_total counter\n"
                "tlog_witness_pull_failures_total %" PRIu64 "\n",
                p->st.polls, p->st.cosigned, p->st.failures);
    pthread_mutex_unlock(&p->mu);
}
