/*
 * fuzz_ct_query.c - libFuzzer target for the strict query-string parser of
 * tlogd's RFC 6962 endpoints (tl_query_parse, frontend/query.h, with
 * libevent's evhttp_uridecode under it), through the tl_frontend library.
 *
 * The first input byte picks an endpoint's parameter set, the rest is the
 * query string. Checked: no crash, leak or over-read; on success every
 * parameter was seen once and numbers are below 2^63; on failure the reason
 * is one non-empty, NUL-terminated line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "frontend/query.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    tl_query_param sets[4][2] = {
        {{.name = "first", .is_hash = 0}, {.name = "second", .is_hash = 0}},
        {{.name = "hash", .is_hash = 1}, {.name = "tree_size", .is_hash = 0}},
        {{.name = "start", .is_hash = 0}, {.name = "end", .is_hash = 0}},
        {{.name = "leaf_index", .is_hash = 0}, {.name = "tree_size", .is_hash = 0}},
    };
    tl_query_param *ps = sets[data[0] % 4];
    size_t n = 2;
    char *q = malloc(size);
    if (!q)
        return 0;
    memcpy(q, data + 1, size - 1);
    q[size - 1] = 0;
    char why[160];
    memset(why, 'x', sizeof(why));
    int rc = tl_query_parse(q, ps, n, why, sizeof(why));
    if (rc == TL_OK) {
        for (size_t i = 0; i < n; i++)
            if (ps[i].seen != 1 || (!ps[i].is_hash && ps[i].num >= ((uint64_t)1 << 63)))
                abort();
    } else {
        size_t wl = strnlen(why, sizeof(why));
        if (wl == 0 || wl == sizeof(why) || memchr(why, '\n', wl)) {
            fprintf(stderr, "fuzz_ct_query: the 400 reason is not one line: \"%.*s\"\n",
                    (int)strnlen(why, sizeof(why)), why);
            abort();
        }
    }
    free(q);
    return 0;
}
