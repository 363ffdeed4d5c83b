/*
 * bench_audit_check.c - the auditor's per-event cost on an audit log, without
 * the network or the server: builds one bodies answer of 256 events (the
 * events bench_client_fill makes, canonical, random salts) and its records,
 * then runs tl_audit_check_records and tl_audit_check_bodies (parse the
 * NDJSON line, RFC 8785 again, SHA-256(salt || canonical), compare) on it
 * ROUNDS times on one thread. Prints events per second for one core: the
 * ceiling of `tlog audit` with a reader token per hashing thread.
 *
 *   bench_audit_check [ROUNDS]
 */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/event.h"
#include "audit/record.h"
#include "client/client.h"
#include "common/b64.h"
#include "common/clock.h"
#include "common/dec.h"

#define W 256

int main(int argc, char **argv)
{
    uint64_t rounds = 2000;
    if (argc > 1 && tl_dec_parse_range(argv[1], 1, 1000000, &rounds) != TL_OK) {
        fprintf(stderr, "usage: bench_audit_check [ROUNDS]\n");
        return 2;
    }
    tl_hasher *h = tl_hasher_new();
    tl_buf nd = TL_BUF_INIT, bundle = TL_BUF_INIT, rec = TL_BUF_INIT;
    static tl_hash commits[W];
    for (uint64_t i = 0; i < W; i++) {
        char text[512], why[256];
        int len = snprintf(
            text, sizeof(text),
            "{\"actor\":{\"id\":\"user-%llu\",\"type\":\"user\",\"ip\":\"192.0.2.%llu\"},"
            "\"action\":\"order.cancel\",\"resource\":{\"type\":\"order\",\"id\":\"%llu\"},"
            "\"outcome\":\"success\",\"source\":\"shop\",\"request_id\":\"req-%llu\","
            "\"details\":{\"reason\":\"customer "
            "request\",\"items\":%llu,\"total\":\"%llu.%02llu\"}}",
            (unsigned long long)(i % 1000), (unsigned long long)(i % 250), (unsigned long long)i,
            (unsigned long long)i, (unsigned long long)(i % 7 + 1), (unsigned long long)(i % 500),
            (unsigned long long)(i % 100));
        tl_audit_event ev;
        uint8_t salt[TL_AUDIT_SALT];
        char sb[TL_B64_LEN(TL_AUDIT_SALT) + 1];
        if (tl_audit_event_parse(text, (size_t)len, "bench", TL_AUDIT_MAX_EVENT_DEFAULT, &ev, why,
                                 sizeof(why)) != TL_OK ||
            RAND_bytes(salt, sizeof(salt)) != 1) {
            fprintf(stderr, "event: %s\n", why);
            return 1;
        }
        tl_audit_commitment(h, salt, ev.canon.data, ev.canon.len, &commits[i]);
        tl_b64_encode(salt, sizeof(salt), sb);
        tl_buf_addf(&nd, "{\"index\":%llu,\"event\":", (unsigned long long)i);
        tl_buf_add(&nd, ev.canon.data, ev.canon.len);
        tl_buf_addf(&nd, ",\"salt\":\"%s\"}\n", sb);
        tl_buf_reset(&rec);
        tl_audit_record_format(1764745200000ULL + i, &commits[i], &rec);
        uint8_t l[2] = {(uint8_t)(rec.len >> 8), (uint8_t)rec.len};
        tl_buf_add(&bundle, l, 2);
        tl_buf_add(&bundle, rec.data, rec.len);
        tl_audit_event_release(&ev);
    }
    static tl_hash got[W];
    uint64_t erased[W];
    char err[TL_ERRMSG];
    double t0 = tl_mono_s(), trec = 0;
    for (uint64_t r = 0; r < rounds; r++) {
        uint64_t prev = 0;
        unsigned ne = 0;
        double a = tl_mono_s();
        if (tl_audit_check_records(bundle.data, bundle.len, 0, W, "bench", &prev, NULL, got, err,
                                   sizeof(err)) != TL_OK) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        trec += tl_mono_s() - a;
        if (tl_audit_check_bodies(h, nd.data, nd.len, 0, W, "bench", got, 0, erased, &ne, err,
                                  sizeof(err)) != TL_OK) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
    }
    double s = tl_mono_s() - t0, n = (double)rounds * W;
    printf("%.0f events checked in %.2f s on one thread: %.0f events/s (%.2f us/event: records "
           "%.2f us, bodies %.2f us; %zu bytes of NDJSON a bundle)\n",
           n, s, n / s, s / n * 1e6, trec / n * 1e6, (s - trec) / n * 1e6, nd.len);
    tl_buf_release(&nd);
    tl_buf_release(&bundle);
    tl_buf_release(&rec);
    tl_hasher_free(h);
    return 0;
}
