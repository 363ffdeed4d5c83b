/*
 * fuzz_note.c - libFuzzer target for tl_note_parse (C2SP signed-note) and
 * the signature checks that run on parsed notes. Checks: no crash, leak or
 * over-read; an accepted note formats back to the same bytes; verification
 * with a fixed key never crashes and never succeeds on fuzzed signatures.
 */
#include "fuzz/fuzz.h"
#include "signer/note.h"

/* Tessera's test log key (../shared/testdata/tessera-testdata/SOURCE); the
 * seeds carry its real signatures, so mutations exercise the verify path. */
static const char *const k_vkey =
    "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tl_verifier *v;
    if (!v && tl_verifier_parse(k_vkey, &v) != TL_OK)
        v = NULL;
    char *p = fuzz_copy(data, size);
    if (!p)
        return 0;
    tl_note n;
    memset(&n, 0, sizeof(n));
    if (tl_note_parse(p, size, &n) == TL_OK) {
        if (n.nsigs == 0 || n.nsigs > TL_NOTE_MAX_SIGS || n.text_len == 0 ||
            n.text[n.text_len - 1] != '\n') {
            FUZZ_FAIL("accepted note with %zu sigs, text_len %zu\n", n.nsigs, n.text_len);
        }
        char *out = NULL;
        size_t olen = 0;
        if (tl_note_format(&n, &out, &olen) != TL_OK) {
            FUZZ_FAIL("accepted note does not format\n");
        }
        if (olen != size || memcmp(out, p, size) != 0) {
            FUZZ_FAIL("non-canonical note accepted (%zu bytes formats as %zu)\n", size, olen);
        }
        free(out);
        if (v) {
            int rc = tl_note_verify(&n, v);
            /* A valid signature is only possible for the seeds' exact texts. */
            if (rc == TL_OK && memcmp(n.text, "example.com/log/testdata\n", 25) != 0) {
                FUZZ_FAIL("signature verified over foreign text\n");
            }
            uint64_t ts = 0;
            (void)tl_cosig_verify(&n, v, &ts);
        }
        tl_note_release(&n);
    }
    free(p);
    return 0;
}
