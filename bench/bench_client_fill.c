/*
 * bench_client_fill.c - makes the large log that `tlog audit` is benchmarked
 * on: creates a tlogd data folder (tl_log_create, as `tlogd init` does) and
 * sequences N distinct entries of 256 pseudo-random bytes into it through
 * tl_log_add with publish-on-sign (no witnesses), then closes it so that
 * `tlogd serve --dir DIR` serves the whole tree. Used only by
 * bench/client_audit.sh.
 *
 *   bench_client_fill DIR N [ORIGIN]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/dec.h"
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
        fprintf(stderr, "usage: bench_client_fill DIR N [ORIGIN]\n");
        return 2;
    }
    const char *dir = argv[1];
    uint64_t n;
    if (tl_dec_parse_range(argv[2], 0, UINT64_MAX, &n) != TL_OK) {
        fprintf(stderr, "usage: bench_client_fill DIR N [ORIGIN]\n");
        return 2;
    }
    const char *origin = argc > 3 ? argv[3] : "bench.example/client";
    char err[512], *vkey = NULL;
    if (tl_log_create(dir, origin, NULL, &vkey, err, sizeof(err)) != TL_OK) {
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
    uint64_t e[32], x = 0x9e3779b97f4a7c15ULL;
    for (uint64_t i = 0; i < n; i++) {
        for (int k = 0; k < 32; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            e[k] = x;
        }
        e[0] = i; /* distinct */
        int rc;
        while ((rc = tl_log_add(log, e, sizeof(e), on_add, NULL)) == TL_ERR_BUSY)
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
