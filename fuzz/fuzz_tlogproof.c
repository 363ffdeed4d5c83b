/*
 * fuzz_tlogproof.c - libFuzzer target for tl_tlogproof_parse (C2SP
 * tlog-proof@v1). Checks: no crash, leak or over-read; accepted proofs have
 * sane fields and format back to exactly the input (the parser is canonical).
 */
#include "fuzz/fuzz.h"
#include "signer/tlogproof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = fuzz_copy(data, size);
    if (!p)
        return 0;
    tl_tlogproof tp;
    memset(&tp, 0, sizeof(tp));
    if (tl_tlogproof_parse(p, size, &tp) == TL_OK) {
        if (tp.proof_len > TL_MAX_PROOF || !tp.checkpoint || tp.checkpoint_len == 0 ||
            tp.checkpoint_len >= size) {
            FUZZ_FAIL("accepted proof with bad fields (proof_len %zu)\n", tp.proof_len);
        }
        char *out = NULL;
        size_t olen = 0;
        if (tl_tlogproof_format(&tp, &out, &olen) != TL_OK) {
            FUZZ_FAIL("accepted tlog-proof does not format\n");
        }
        if (olen != size || memcmp(out, p, size) != 0) {
            FUZZ_FAIL("non-canonical tlog-proof accepted (%zu bytes -> %zu)\n", size, olen);
        }
        free(out);
        tl_tlogproof_release(&tp);
    }
    free(p);
    return 0;
}
