/*
 * fuzz_k8s.c - libFuzzer target for the Kubernetes webhook's mapping
 * (audit/k8s.h): what POST /audit/v1/k8s hands to tl_k8s_map, and its
 * lexical number step.
 *
 * The first input byte picks max_event (small, so that the size limit is
 * reached, or the default) and max_items; the rest is the body. Checked: no
 * crash, leak or over-read; every accepted item is an event whose canonical
 * form fits max_event and carries the submitter and source "kubernetes";
 * every refusal has a one-line, non-empty UTF-8 reason; the number step
 * keeps a text jansson accepts acceptable, and maps offsets back within it.
 */
#include <jansson.h>

#include "audit/k8s.h"
#include "common/buf.h"
#include "common/err.h"
#include "fuzz/fuzz.h"

static void one_line(const char *why, size_t cap)
{
    size_t n = strnlen(why, cap);
    if (n == 0 || n == cap || memchr(why, '\n', n))
        FUZZ_FAIL("fuzz_k8s: the reason is not one line: \"%.*s\"\n", (int)n, why);
    json_t *s = json_stringn(why, n); /* NULL when not UTF-8 */
    if (!s)
        FUZZ_FAIL("fuzz_k8s: the reason is not UTF-8: \"%.*s\"\n", (int)n, why);
    json_decref(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max_event = data[0] & 1 ? 512 : TL_AUDIT_MAX_EVENT_DEFAULT;
    size_t max_items = data[0] & 2 ? 2 : 400;
    size_t len = size - 1;
    char *text = fuzz_copy(data + 1, len);
    if (!text)
        return 0;
    char why[TL_AUDIT_REASON_MAX + 96];
    tl_k8s_list l;

    memset(why, 'x', sizeof why);
    int rc = tl_k8s_map(text, len, "fuzz-writer", max_event, max_items, &l, why, sizeof why);
    if (rc == TL_OK) {
        if (l.n > max_items)
            FUZZ_FAIL("fuzz_k8s: %zu items passed a limit of %zu\n", l.n, max_items);
        for (size_t i = 0; i < l.n; i++) {
            const tl_audit_event *e = &l.ev[i];
            if (e->canon.len > max_event)
                FUZZ_FAIL("fuzz_k8s: a %zu-byte event passed a %zu-byte limit\n", e->canon.len,
                          max_event);
            if (!e->submitter.s || strcmp(e->submitter.s, "fuzz-writer") != 0 || !e->source.s ||
                strcmp(e->source.s, TL_K8S_SOURCE) != 0 || !e->id.s)
                FUZZ_FAIL("fuzz_k8s: event %zu lacks its submitter, source or id\n", i);
        }
        tl_k8s_list_release(&l);
    } else if (rc != TL_ERR_NOMEM) {
        if (l.n != 0 || l.ev)
            FUZZ_FAIL("fuzz_k8s: a refused list kept events\n");
        one_line(why, sizeof why);
    }

    /* the number step: what jansson takes stays takeable */
    tl_buf q = TL_BUF_INIT;
    size_t *sh = NULL, nsh = 0;
    if (tl_k8s_quote_numbers(text, len, &q, &sh, &nsh) == TL_OK) {
        json_error_t je;
        json_t *a = json_loadb(text, len, TL_AUDIT_JSON_FLAGS | JSON_DECODE_ANY, &je);
        json_t *b =
            json_loadb((const char *)q.data, q.len, TL_AUDIT_JSON_FLAGS | JSON_DECODE_ANY, &je);
        if (a && !b)
            FUZZ_FAIL("fuzz_k8s: quoting numbers broke a valid text: %s\n", je.text);
        if (q.len != len + 2 * nsh)
            FUZZ_FAIL("fuzz_k8s: %zu quoted tokens but %zu bytes more\n", nsh, q.len - len);
        if (tl_k8s_offset(q.len, sh, nsh) != len)
            FUZZ_FAIL("fuzz_k8s: the end does not map back to the end\n");
        json_decref(a);
        json_decref(b);
    }
    free(sh);
    tl_buf_release(&q);
    free(text);
    return 0;
}
