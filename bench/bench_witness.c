/*
 * bench_witness.c - witness benchmarks (docs/PERFORMANCE.md, "witness"):
 *   bench_witness core DIR NLOGS SECONDS
 *       in-process add-checkpoint rate of tl_witness on LevelDB (DIR/db),
 *       one thread per log, each pushing its own chain (synced group commit)
 *   bench_witness keys DIR NLOGS
 *       writes DIR/logI.key and the logs file DIR/logs for `push`
 *   bench_witness push URL DIR NLOGS COUNT
 *       POSTs COUNT checkpoints per log to a running tlog-witness at URL, one
 *       request in flight per log (HTTP/1.1 keep-alive); requests/s, latency
 *   bench_witness adds URL N CONC
 *       POSTs N distinct entries to tlogd's /add with CONC in flight;
 *       adds/s and add-to-proof latency (p50, p99)
 * Request bodies are made before the clock starts.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/clock.h"
#include "common/curl.h"
#include "common/dec.h"
#include "common/err.h"
#include "common/file.h"
#include "store/store.h"
#include "signer/note.h"
#include "tests/witness/wt_tree.h"
#include "witness/witness.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, size_t n, double secs, double *lat, size_t nlat)
{
    printf("%s: %zu requests in %.2f s = %.0f/s", what, n, secs, (double)n / secs);
    if (nlat) {
        qsort(lat, nlat, sizeof(double), cmp_double);
        printf(", latency p50 %.2f ms p99 %.2f ms max %.2f ms", lat[nlat / 2] * 1e3,
               lat[(size_t)((double)nlat * 0.99)] * 1e3, lat[nlat - 1] * 1e3);
    }
    printf("\n");
}

static char *origin_of(int i)
{
    static __thread char buf[64];
    snprintf(buf, sizeof(buf), "bench.example/log%d", i);
    return buf;
}

/* ---- core ---------------------------------------------------------------- */

struct core_thr {
    tl_witness *w;
    tl_signer *key;
    int idx;
    wt_tree *tree;
    double until;
    size_t done, bad;
};

static void *core_main(void *arg)
{
    struct core_thr *t = arg;
    tl_buf body = TL_BUF_INIT;
    uint64_t size = 0;
    tl_hasher *h = tl_hasher_new();
    while (h && tl_mono_s() < t->until && size < 200000) {
        if (wt_tree_request_h(t->tree, h, t->key, origin_of(t->idx), size, size + 1, &body) !=
            TL_OK)
            break;
        tl_witness_resp r = {0, NULL, TL_BUF_INIT};
        tl_witness_add_checkpoint(t->w, body.data, body.len, 0, &r);
        if (r.status == 200)
            t->done++;
        else
            t->bad++;
        tl_buf_release(&r.body);
        size++;
    }
    tl_hasher_free(h);
    tl_buf_release(&body);
    return NULL;
}

static int cmd_core(const char *dir, int nlogs, double secs)
{
    char path[1024], err[256];
    snprintf(path, sizeof(path), "%s/db", dir);
    mkdir(dir, 0700);
    tl_store *store = NULL;
    tl_signer *wkey = NULL;
    tl_witness *w = NULL;
    if (tl_store_open_leveldb(path, 1, &store, err, sizeof(err)) != TL_OK ||
        tl_signer_generate("bench.example/witness", TL_KEY_COSIG_V1, &wkey) != TL_OK ||
        tl_witness_new(store, wkey, &w) != TL_OK) {
        fprintf(stderr, "setup failed: %s\n", err);
        return 1;
    }
    wt_tree *tree = wt_tree_new("bench", 200001);
    struct core_thr *t = calloc((size_t)nlogs, sizeof(*t));
    pthread_t *th = calloc((size_t)nlogs, sizeof(*th));
    for (int i = 0; i < nlogs; i++) {
        char *vk = NULL;
        tl_signer_generate(origin_of(i), TL_KEY_ED25519, &t[i].key);
        tl_signer_vkey(t[i].key, &vk);
        if (tl_witness_add_log(w, origin_of(i), vk, NULL, err, sizeof(err)) != TL_OK)
            return 1;
        free(vk);
        t[i].w = w;
        t[i].idx = i;
        t[i].tree = tree;
    }
    double t0 = tl_mono_s();
    for (int i = 0; i < nlogs; i++) {
        t[i].until = t0 + secs;
        pthread_create(&th[i], NULL, core_main, &t[i]);
    }
    size_t done = 0, bad = 0;
    for (int i = 0; i < nlogs; i++) {
        pthread_join(th[i], NULL);
        done += t[i].done;
        bad += t[i].bad;
        tl_signer_free(t[i].key);
    }
    double el = tl_mono_s() - t0;
    char what[128];
    snprintf(what, sizeof(what), "core add-checkpoint, %d log(s), LevelDB synced", nlogs);
    report(what, done, el, NULL, 0);
    tl_buf m = TL_BUF_INIT;
    tl_witness_metrics(w, &m);
    const char *g = strstr((char *)m.data, "\ntlog_witness_syncs_total ");
    if (g)
        printf("  syncs: %.*s\n", (int)strcspn(g + 1, "\n"), g + 1);
    if (bad)
        printf("  non-200 answers: %zu\n", bad);
    tl_buf_release(&m);
    tl_witness_free(w);
    tl_store_close(store);
    tl_signer_free(wkey);
    wt_tree_free(tree);
    free(t);
    free(th);
    return bad ? 1 : 0;
}

/* ---- keys ------------------------------------------------------------------ */

static int cmd_keys(const char *dir, int nlogs)
{
    char path[1024];
    tl_buf logs = TL_BUF_INIT;
    mkdir(dir, 0700);
    for (int i = 0; i < nlogs; i++) {
        tl_signer *s = NULL;
        char *vk = NULL;
        snprintf(path, sizeof(path), "%s/log%d.key", dir, i);
        if (tl_signer_generate(origin_of(i), TL_KEY_ED25519, &s) != TL_OK ||
            tl_signer_vkey(s, &vk) != TL_OK || tl_signer_write(s, path, NULL) != TL_OK)
            return 1;
        tl_buf_addf(&logs, "%s %s\n", origin_of(i), vk);
        free(vk);
        tl_signer_free(s);
    }
    snprintf(path, sizeof(path), "%s/logs", dir);
    int rc = tl_file_write_atomic(path, logs.data, logs.len, 0644);
    tl_buf_release(&logs);
    return rc == TL_OK ? 0 : 1;
}

/* ---- a curl multi driver: one chain of requests per slot ------------------ */

#define RESP_MAX (1 << 20) /* a tlog-proof from /add, a cosignature from a witness */

struct slot {
    CURL *e;
    tl_buf resp;
    tl_curl_sink sink; /* into resp */
    size_t next;       /* next request index in this slot's chain */
    size_t count;      /* requests in the chain */
    tl_buf *bodies;
    double t0;
};

/* The slot's easy handle, set up once for all its requests (common/curl.h). */
static int slot_init(struct slot *s)
{
    tl_curl_opts o = {
        .user_agent = "bench_witness", .connect_timeout_ms = 10000, .timeout_ms = 60000};
    s->sink = (tl_curl_sink){&s->resp, RESP_MAX, 0};
    s->e = curl_easy_init();
    return s->e && tl_curl_setup(s->e, &o, &s->sink) == TL_OK ? TL_OK : TL_ERR_NOMEM;
}

static void slot_start(CURLM *m, struct slot *s, const char *url, struct curl_slist *hdrs)
{
    tl_buf *b = &s->bodies[s->next];
    tl_buf_reset(&s->resp);
    s->sink.over = 0;
    curl_easy_setopt(s->e, CURLOPT_URL, url);
    curl_easy_setopt(s->e, CURLOPT_POSTFIELDS, (const char *)b->data);
    curl_easy_setopt(s->e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->len);
    curl_easy_setopt(s->e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(s->e, CURLOPT_PRIVATE, (void *)s);
    s->t0 = tl_mono_s();
    curl_multi_add_handle(m, s->e);
}

/* Runs every slot's chain to the end; fills lat; returns non-200 count. */
static size_t drive(struct slot *slots, size_t nslots, const char *url, double *lat, size_t *nlat,
                    double *elapsed)
{
    CURLM *m = curl_multi_init();
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: text/plain");
    hdrs = curl_slist_append(hdrs, "Expect:");
    size_t bad = 0;
    double t0 = tl_mono_s();
    for (size_t i = 0; i < nslots; i++)
        if (slots[i].count)
            slot_start(m, &slots[i], url, hdrs);
    int running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            char *priv;
            long code = 0;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            struct slot *s = (struct slot *)(void *)priv;
            lat[(*nlat)++] = tl_mono_s() - s->t0;
            if (msg->data.result != CURLE_OK || code != 200) {
                if (bad < 5)
                    fprintf(stderr, "request failed: %s %ld %.*s\n",
                            curl_easy_strerror(msg->data.result), code, (int)s->resp.len,
                            (char *)s->resp.data);
                bad++;
            }
            curl_multi_remove_handle(m, s->e);
            if (++s->next < s->count) {
                slot_start(m, s, url, hdrs);
                running = 1;
            }
        }
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    *elapsed = tl_mono_s() - t0;
    curl_slist_free_all(hdrs);
    curl_multi_cleanup(m);
    return bad;
}

static int cmd_push(const char *url, const char *dir, int nlogs, size_t count)
{
    char path[1024], full[1024];
    wt_tree *tree = wt_tree_new("bench", count + 1);
    struct slot *slots = calloc((size_t)nlogs, sizeof(*slots));
    double *lat = calloc((size_t)nlogs * count, sizeof(double));
    size_t nlat = 0;
    for (int i = 0; i < nlogs; i++) {
        snprintf(path, sizeof(path), "%s/log%d.key", dir, i);
        tl_signer *s = NULL;
        if (tl_signer_load(path, &s) != TL_OK || slot_init(&slots[i]) != TL_OK)
            return 1;
        slots[i].count = count;
        slots[i].bodies = calloc(count, sizeof(tl_buf));
        for (size_t k = 0; k < count; k++)
            if (wt_tree_request(tree, s, origin_of(i), k, k + 1, &slots[i].bodies[k]) != TL_OK)
                return 1;
        tl_signer_free(s);
    }
    snprintf(full, sizeof(full), "%s/add-checkpoint", url);
    double el;
    size_t bad = drive(slots, (size_t)nlogs, full, lat, &nlat, &el);
    char what[128];
    snprintf(what, sizeof(what), "HTTP add-checkpoint, %d log(s) in parallel", nlogs);
    report(what, nlat - bad, el, lat, nlat);
    for (int i = 0; i < nlogs; i++) {
        for (size_t k = 0; k < count; k++)
            tl_buf_release(&slots[i].bodies[k]);
        free(slots[i].bodies);
        tl_buf_release(&slots[i].resp);
        curl_easy_cleanup(slots[i].e);
    }
    free(slots);
    free(lat);
    wt_tree_free(tree);
    return bad ? 1 : 0;
}

static int cmd_adds(const char *url, size_t n, size_t conc)
{
    struct slot *slots = calloc(conc, sizeof(*slots));
    double *lat = calloc(n, sizeof(double));
    size_t nlat = 0;
    unsigned long long salt = (unsigned long long)time(NULL) * 1000003ULL + (unsigned)clock();
    for (size_t i = 0; i < conc; i++) {
        if (slot_init(&slots[i]) != TL_OK)
            return 1;
        slots[i].count = n / conc + (i < n % conc);
        slots[i].bodies = calloc(slots[i].count ? slots[i].count : 1, sizeof(tl_buf));
        for (size_t k = 0; k < slots[i].count; k++)
            tl_buf_addf(&slots[i].bodies[k], "bench entry %llu-%zu-%zu", salt, i, k);
    }
    char full[1024];
    snprintf(full, sizeof(full), "%s/add", url);
    double el;
    size_t bad = drive(slots, conc, full, lat, &nlat, &el);
    char what[128];
    snprintf(what, sizeof(what), "POST /add to proof, %zu in flight", conc);
    report(what, nlat - bad, el, lat, nlat);
    for (size_t i = 0; i < conc; i++) {
        for (size_t k = 0; k < slots[i].count; k++)
            tl_buf_release(&slots[i].bodies[k]);
        free(slots[i].bodies);
        tl_buf_release(&slots[i].resp);
        curl_easy_cleanup(slots[i].e);
    }
    free(slots);
    free(lat);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = 2;
    uint64_t a = 0, b = 0;
    /* The whole numbers of each command: NLOGS (1..4096), COUNT, N, CONC. */
#define NUM(i, lo, hi, out) (tl_dec_parse_range(argv[i], lo, hi, &out) == TL_OK)
    if (argc == 5 && strcmp(argv[1], "core") == 0 && NUM(3, 1, 4096, a))
        rc = cmd_core(argv[2], (int)a, atof(argv[4]));
    else if (argc == 4 && strcmp(argv[1], "keys") == 0 && NUM(3, 1, 4096, a))
        rc = cmd_keys(argv[2], (int)a);
    else if (argc == 6 && strcmp(argv[1], "push") == 0 && NUM(4, 1, 4096, a) &&
             NUM(5, 1, UINT32_MAX, b))
        rc = cmd_push(argv[2], argv[3], (int)a, (size_t)b);
    else if (argc == 5 && strcmp(argv[1], "adds") == 0 && NUM(3, 1, UINT32_MAX, a) &&
             NUM(4, 1, 4096, b))
        rc = cmd_adds(argv[2], (size_t)a, (size_t)b);
    else
        fprintf(stderr, "usage: bench_witness core DIR NLOGS SECONDS | keys DIR NLOGS |"
                        " push URL DIR NLOGS COUNT | adds URL N CONC\n");
#undef NUM
    curl_global_cleanup();
    return rc;
}
