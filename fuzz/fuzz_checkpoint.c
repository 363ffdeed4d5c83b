/*
 * fuzz_checkpoint.c - libFuzzer target for tl_checkpoint_parse (C2SP
 * tlog-checkpoint bodies). Checks: no crash or over-read on any input;
 * an accepted body is canonical: formatting origin/size/root back and
 * appending the extension lines reproduces the input byte for byte.
 */
#include "fuzz/fuzz.h"
#include "signer/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = fuzz_copy(data, size);
    if (!p)
        return 0;
    tl_checkpoint cp;
    memset(&cp, 0, sizeof(cp));
    if (tl_checkpoint_parse(p, size, &cp) == TL_OK) {
        size_t olen = strnlen(cp.origin, sizeof(cp.origin));
        if (olen == 0 || olen > TL_ORIGIN_MAX) {
            FUZZ_FAIL("accepted checkpoint with bad origin length %zu\n", olen);
        }
        if (cp.ext_len > 0 && (cp.ext < p || cp.ext + cp.ext_len > p + size)) {
            FUZZ_FAIL("extension lines point outside the input\n");
        }
        char *body = NULL;
        size_t blen = 0;
        if (tl_checkpoint_format(cp.origin, cp.size, &cp.root, &body, &blen) != TL_OK) {
            FUZZ_FAIL("accepted checkpoint does not format\n");
        }
        if (blen + cp.ext_len != size || memcmp(body, p, blen) != 0 ||
            (cp.ext_len && memcmp(cp.ext, p + blen, cp.ext_len) != 0)) {
            FUZZ_FAIL("non-canonical checkpoint accepted\n");
        }
        free(body);
    }
    free(p);
    return 0;
}
