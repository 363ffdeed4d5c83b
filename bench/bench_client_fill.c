/*
 * bench_client_fill.c - makes the large log that `tlog audit` is benchmarked
 * on: creates a tlogd data folder (tl_log_create, as `tlogd init` does) and
 * sequences N distinct entries of 256 pseudo-random bytes into it through
 * tl_log_add with publish-on-sign (no witnesses), then closes it so that
 * `tlogd serve --dir DIR` serves the whole tree. With KIND `audit` it makes
 * an audit log instead (tl_log_create with kind "audit"): N events of about
 * 300 canonical bytes (an order cancelled by one of 1000 users, with a few
 * details), each with a random salt, encoded as the frontend does
 * (tl_audit_sub_encode), so that the log holds records, bodies and indexes.
 * With KIND `audit400` the events are those of bench/audit_bench.sh instead
 * (about 400 canonical bytes: actors drawn from 10^5, resources from 10^6,
 * 16 actions, outcomes mostly `success`), for its queries.
 * Used by bench/client_audit.sh, bench/client_audit_log.sh and
 * bench/audit_bench.sh.
 *
 *   bench_client_fill DIR N [ORIGIN [KIND]]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "audit/event.h"
#include "common/clock.h"
#include "common/dec.h"
#include "log/kind_audit.h"
#include "log/log.h"

static volatile uint64_t acked, failed;

static void on_add(void *ctx, int err, uint64_t index, const tl_hash *leaf)
{
    (void)ctx;
    (void)index;
    (void)leaf;
    if (err != TL_OK)
        __atomic_add_fetch(&failed, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&acked, 1, __ATOMIC_RELAXED);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_client_fill DIR N [ORIGIN [KIND]]\n");
        return 2;
    }
    const char *dir = argv[1];
    uint64_t n;
    if (tl_dec_parse_range(argv[2], 0, UINT64_MAX, &n) != TL_OK) {
        fprintf(stderr, "usage: bench_client_fill DIR N [ORIGIN [KIND]]\n");
        return 2;
    }
    const char *origin = argc > 3 ? argv[3] : "bench.example/client";
    int real = argc > 4 && strcmp(argv[4], "audit400") == 0;
    int audit = real || (argc > 4 && strcmp(argv[4], "audit") == 0);
    if (argc > 4 && !audit && strcmp(argv[4], "blob") != 0) {
        fprintf(stderr, "bench_client_fill: KIND is blob, audit or audit400\n");
        return 2;
    }
    char err[512], *vkey = NULL;
    if (tl_log_create(dir, origin, audit ? "audit" : NULL, &vkey, err, sizeof(err)) != TL_OK) {
        fprintf(stderr, "create: %s\n", err);
        return 1;
    }
    free(vkey);
    tl_log_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.dir = dir;
    cfg.batch_max = 65536;
    cfg.pool_max = 262144;
    cfg.batch_interval_ms = 10;
    cfg.publish_on_sign = 1;
    tl_log *log;
    if (tl_log_open(&cfg, &log, err, sizeof(err)) != TL_OK) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    double t0 = tl_mono_s();
    uint64_t e[64], x = 0x9e3779b97f4a7c15ULL;
    tl_hasher *hs = tl_hasher_new();
    tl_buf enc = TL_BUF_INIT;
    for (uint64_t i = 0; audit && i < n; i++) {
        char text[1024], why[256];
        int len;
        if (real) {
            static const char *const actions[16] = {
                "order.create", "order.cancel",   "order.read",     "order.update",
                "user.login",   "user.logout",    "user.update",    "invoice.create",
                "invoice.read", "invoice.void",   "payment.create", "payment.refund",
                "cart.update",  "address.update", "session.renew",  "export.create"};
            static const char *const outcomes[4] = {"success", "failure", "denied", "unknown"};
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            uint64_t r = x, o = (r >> 40) % 100;
            len = snprintf(
                text, sizeof(text),
                "{\"actor\":{\"id\":\"user-%06llu\",\"type\":\"user\",\"ip\":\"10.%llu.%llu.%llu\","
                "\"user_agent\":\"Mozilla/5.0 (X11; Linux x86_64) "
                "shop-app/4.2\"},\"action\":\"%s\","
                "\"resource\":{\"type\":\"order\",\"id\":\"ord-%07llu\"},\"outcome\":\"%s\","
                "\"time\":\"2026-12-03T12:00:00.000Z\",\"source\":\"shop-api\",\"request_id\":"
                "\"req-%016llx\",\"details\":{\"reason\":\"customer request\",\"items\":%llu,"
                "\"total\":\"%llu.%02llu\",\"channel\":\"web\",\"region\":\"eu-west-1\"}}",
                (unsigned long long)(r % 100000), (unsigned long long)((r >> 17) & 255),
                (unsigned long long)((r >> 25) & 255), (unsigned long long)((r >> 33) & 255),
                actions[(r >> 48) & 15], (unsigned long long)((r >> 20) % 1000000),
                outcomes[o < 90   ? 0
                         : o < 95 ? 1
                         : o < 99 ? 2
                                  : 3],
                (unsigned long long)i, (unsigned long long)(i % 7 + 1),
                (unsigned long long)(i % 500), (unsigned long long)(i % 100));
        } else
            len = snprintf(
                text, sizeof(text),
                "{\"actor\":{\"id\":\"user-%llu\",\"type\":\"user\",\"ip\":\"192.0.2.%llu\"},"
                "\"action\":\"order.cancel\",\"resource\":{\"type\":\"order\",\"id\":"
                "\"%llu\"},\"outcome\":\"success\",\"source\":\"shop\",\"request_id\":"
                "\"req-%llu\",\"details\":{\"reason\":\"customer request\",\"items\":%llu,"
                "\"total\":\"%llu.%02llu\"}}",
                (unsigned long long)(i % 1000), (unsigned long long)(i % 250),
                (unsigned long long)i, (unsigned long long)i, (unsigned long long)(i % 7 + 1),
                (unsigned long long)(i % 500), (unsigned long long)(i % 100));
        tl_audit_event ev;
        tl_audit_sub sub;
        memset(&sub, 0, sizeof(sub));
        if (tl_audit_event_parse(text, (size_t)len, "bench", TL_AUDIT_MAX_EVENT_DEFAULT, &ev, why,
                                 sizeof(why)) != TL_OK) {
            fprintf(stderr, "event: %s\n", why);
            return 1;
        }
        sub.ev = &ev;
        if (RAND_bytes(sub.salt, TL_AUDIT_SALT) != 1)
            return 1;
        tl_buf_reset(&enc);
        int rc = tl_audit_sub_encode(hs, &sub, &enc);
        if (rc == TL_OK) /* a full pool: wait for the batches to drain it */
            while ((rc = tl_log_add(log, enc.data, enc.len, on_add, NULL)) == TL_ERR_BUSY)
                usleep(200);
        tl_audit_event_release(&ev);
        if (rc != TL_OK) {
            fprintf(stderr, "add: %s\n", tl_strerror(rc));
            return 1;
        }
    }
    tl_buf_release(&enc);
    tl_hasher_free(hs);
    /* A blob log's entries are 256 bytes; with a fifth argument MIN-MAX
     * (e.g. 64-512, at most 512) each entry's length is drawn in [MIN, MAX]. */
    uint64_t lmin = sizeof(e) / 2, lmax = sizeof(e) / 2;
    if (!audit && argc > 5 &&
        (sscanf(argv[5], "%" SCNu64 "-%" SCNu64, &lmin, &lmax) != 2 || lmin < 8 || lmax < lmin ||
         lmax > sizeof(e))) {
        fprintf(stderr, "bench_client_fill: entry lengths MIN-MAX within 8-%zu\n", sizeof(e));
        return 2;
    }
    for (uint64_t i = 0; !audit && i < n; i++) {
        for (uint64_t k = 0; k < (lmax + 7) / 8; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            e[k] = x;
        }
        size_t len = (size_t)(lmin + x % (lmax - lmin + 1));
        e[0] = i; /* distinct */
        int rc;
        while ((rc = tl_log_add(log, e, len, on_add, NULL)) == TL_ERR_BUSY)
            usleep(200);
        if (rc != TL_OK) {
            fprintf(stderr, "add: %s\n", tl_strerror(rc));
            return 1;
        }
    }
    while (__atomic_load_n(&acked, __ATOMIC_RELAXED) < n)
        usleep(1000);
    tl_log_stats st;
    do {
        usleep(1000);
        tl_log_get_stats(log, &st);
    } while (st.published_size < n);
    tl_log_close(log);
    fprintf(stderr, "filled %llu entries in %.1f s (%llu failed)\n", (unsigned long long)n,
            tl_mono_s() - t0, (unsigned long long)failed);
    return failed ? 1 : 0;
}
