/*
 * fuzz_policy.c - libFuzzer target for tl_policy_parse (C2SP tlog-policy).
 * Checks: no crash, leak or over-read; a rejection comes with a one-line,
 * NUL-terminated reason; an accepted policy answers its accessors and the
 * quorum functions (all witnesses / none cosigning) without crashing.
 */
#include "fuzz/fuzz.h"
#include "signer/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = fuzz_copy(data, size);
    if (!p)
        return 0;
    char err[256];
    memset(err, 'x', sizeof(err));
    tl_policy *pol = NULL;
    int rc = tl_policy_parse(p, size, &pol, err, sizeof(err));
    if (rc != TL_OK) {
        size_t el = strnlen(err, sizeof(err));
        if (el == 0 || el == sizeof(err) || memchr(err, '\n', el)) {
            FUZZ_FAIL("policy rejected without a one-line reason\n");
        }
    } else {
        size_t nw = tl_policy_nwitnesses(pol), nl = tl_policy_nlogs(pol);
        if (nw > TL_POLICY_MAX || nl > TL_POLICY_MAX) {
            FUZZ_FAIL("policy with %zu witnesses, %zu logs\n", nw, nl);
        }
        for (size_t i = 0; i < nl; i++) {
            const tl_policy_log *l = tl_policy_log_at(pol, i);
            if (!l || !l->key || tl_policy_find_log(pol, tl_verifier_name(l->key)) == NULL)
                abort();
        }
        unsigned char none[TL_POLICY_MAX + 1], all[TL_POLICY_MAX + 1];
        memset(none, 0, sizeof(none));
        memset(all, 1, sizeof(all));
        for (size_t i = 0; i < nw; i++) {
            const tl_policy_witness *w = tl_policy_witness_at(pol, i);
            if (!w || !w->key || !w->name || tl_verifier_type(w->key) != TL_KEY_COSIG_V1)
                abort();
        }
        (void)tl_policy_quorum_met(pol, none);
        (void)tl_policy_quorum_met(pol, all);
        (void)tl_policy_quorum_reachable_with_urls(pol);
        (void)tl_policy_quorum_none(pol);
        tl_policy_free(pol);
    }
    free(p);
    return 0;
}
