/*
 * fuzz_tile_path.c - libFuzzer target for tl_tile_parse_path (C2SP
 * tlog-tiles paths). Guarantees checked: no crash or over-read on any input,
 * and the parser is canonical: every accepted path formats back to exactly
 * the same bytes (less an optional leading '/'), with sane fields.
 */
#include "fuzz/fuzz.h"
#include "merkle/merkle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = fuzz_copy(data, size);
    if (!p)
        return 0;
    tl_tile t;
    memset(&t, 0xa5, sizeof(t));
    if (tl_tile_parse_path(p, size, &t) == TL_OK) {
        if (t.width < 1 || t.width > TL_TILE_WIDTH ||
            (t.level != TL_TILE_ENTRIES && (t.level < 0 || t.level > 63))) {
            FUZZ_FAIL("accepted path with bad fields: level %d width %u\n", t.level, t.width);
        }
        char out[TL_TILE_PATH_MAX];
        if (tl_tile_path(&t, out, sizeof(out)) != TL_OK) {
            FUZZ_FAIL("accepted path does not format\n");
        }
        const char *in = p;
        size_t inlen = size;
        if (inlen > 0 && in[0] == '/') {
            in++;
            inlen--;
        }
        if (strlen(out) != inlen || memcmp(out, in, inlen) != 0) {
            FUZZ_FAIL("non-canonical path accepted: '%.*s' formats as '%s'\n", (int)inlen, in, out);
        }
    }
    free(p);
    return 0;
}
