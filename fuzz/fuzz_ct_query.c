/*
 * fuzz_ct_query.c - libFuzzer target for the RFC 6962 query-parameter parser
 * of tlogd (parse_query/parse_dec in frontend/api.c, with libevent's
 * evhttp_parse_query_str under it). Those functions are file-local, so this
 * target includes api.c itself (and links the libraries api.c needs; only
 * the parser runs).
 *
 * The first input byte picks an endpoint's parameter set, the rest is the
 * query string. Checked: no crash, leak or over-read; on success every
 * parameter was seen once and numbers are below 2^63; on failure the reason
 * is one non-empty, NUL-terminated line.
 */
#include "frontend/api.c"
#include "fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    param sets[4][2] = {
        {{"first", 0, 0, {{0}}, 0}, {"second", 0, 0, {{0}}, 0}},
        {{"hash", 1, 0, {{0}}, 0}, {"tree_size", 0, 0, {{0}}, 0}},
        {{"start", 0, 0, {{0}}, 0}, {"end", 0, 0, {{0}}, 0}},
        {{"leaf_index", 0, 0, {{0}}, 0}, {"tree_size", 0, 0, {{0}}, 0}},
    };
    param *ps = sets[data[0] % 4];
    size_t n = 2;
    char *q = malloc(size);
    if (!q)
        return 0;
    memcpy(q, data + 1, size - 1);
    q[size - 1] = 0;
    char why[160];
    memset(why, 'x', sizeof(why));
    int rc = parse_query(q, ps, n, why, sizeof(why));
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
