/*
 * fuzz_checkpoint.c - libFuzzer target for tl_checkpoint_parse (C2SP
 * tlog-checkpoint bodies). Checks: no crash or over-read on any input;
 * an accepted body is canonical: formatting origin/size/root back and
 * appending the extension lines reproduces the input byte for byte.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signer/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    if (!p)
        return 0;
    memcpy(p, data, size);
    tl_checkpoint cp;
    memset(&cp, 0, sizeof(cp));
    if (tl_checkpoint_parse(p, size, &cp) == TL_OK) {
        size_t olen = strnlen(cp.origin, sizeof(cp.origin));
        if (olen == 0 || olen > TL_ORIGIN_MAX) {
            fprintf(stderr, "accepted checkpoint with bad origin length %zu\n", olen);
            abort();
        }
        if (cp.ext_len > 0 && (cp.ext < p || cp.ext + cp.ext_len > p + size)) {
            fprintf(stderr, "extension lines point outside the input\n");
            abort();
        }
        char *body = NULL;
        size_t blen = 0;
        if (tl_checkpoint_format(cp.origin, cp.size, &cp.root, &body, &blen) != TL_OK) {
            fprintf(stderr, "accepted checkpoint does not format\n");
            abort();
        }
        if (blen + cp.ext_len != size || memcmp(body, p, blen) != 0 ||
            (cp.ext_len && memcmp(cp.ext, p + blen, cp.ext_len) != 0)) {
            fprintf(stderr, "non-canonical checkpoint accepted\n");
            abort();
        }
        free(body);
    }
    free(p);
    return 0;
}
