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
 * keeps a text jansson accepts acceptable, and maps offsets back within it;
 * the list mapped in parts (tl_k8s_parse, then tl_k8s_map_items over ranges,
 * as the mapping workers do, the lowest failing range reported) gives the
 * same answer, reason and canonical events as tl_k8s_map; and so does the
 * list with its items parsed apart (tl_k8s_split, tl_k8s_piece,
 * tl_k8s_join).
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

/* The same list in ranges of 3 items, each range's failure kept, the lowest
 * one reported: what tl_k8s_map said (rc, why, l). */
static void in_parts(const char *text, size_t len, size_t max_event, size_t max_items, int rc,
                     const char *why, const tl_k8s_list *l)
{
    char pwhy[TL_AUDIT_REASON_MAX + 96], rwhy[TL_AUDIT_REASON_MAX + 96];
    tl_k8s_parsed p;
    int prc = tl_k8s_parse(text, len, max_items, &p, pwhy, sizeof pwhy);
    if (prc == TL_OK && p.n > 0) {
        tl_audit_event *ev = calloc(p.n, sizeof *ev);
        if (!ev) {
            tl_k8s_parsed_release(&p);
            return;
        }
        for (size_t from = 0; from < p.n; from += 3) {
            size_t to = from + 3 < p.n ? from + 3 : p.n, bad;
            int r = tl_k8s_map_items(&p, from, to, "fuzz-writer", max_event, ev, &bad, rwhy,
                                     sizeof rwhy);
            if (r != TL_OK && prc == TL_OK) {
                prc = r;
                memcpy(pwhy, rwhy, sizeof pwhy);
                if (bad < from || bad >= to)
                    FUZZ_FAIL("fuzz_k8s: range %zu..%zu failed at item %zu\n", from, to, bad);
            }
        }
        for (size_t i = 0; prc == TL_OK && rc == TL_OK && i < p.n; i++)
            if (ev[i].canon.len != l->ev[i].canon.len ||
                memcmp(ev[i].canon.data, l->ev[i].canon.data, ev[i].canon.len) != 0)
                FUZZ_FAIL("fuzz_k8s: item %zu mapped in parts differs\n", i);
        for (size_t i = 0; i < p.n; i++)
            tl_audit_event_release(&ev[i]);
        free(ev);
    }
    tl_k8s_parsed_release(&p);
    if (rc == TL_ERR_NOMEM || prc == TL_ERR_NOMEM)
        return;
    if (prc != rc || (rc != TL_OK && strcmp(pwhy, why) != 0))
        FUZZ_FAIL("fuzz_k8s: in parts %d \"%s\", whole %d \"%s\"\n", prc, prc != TL_OK ? pwhy : "",
                  rc, rc != TL_OK ? why : "");
}

/* The list's items parsed apart (tl_k8s_split, as the mapping workers parse
 * a large list): the same answer, reason and items as tl_k8s_parse. */
static void split_parse(const char *text, size_t len, size_t max_items)
{
    char why[TL_AUDIT_REASON_MAX + 96], swhy[TL_AUDIT_REASON_MAX + 96];
    tl_k8s_parsed whole, split;
    tl_k8s_pieces pc;
    if (!tl_k8s_split(text, len, max_items, &pc))
        return;
    json_t **items = calloc(pc.n, sizeof *items);
    if (!items) {
        tl_k8s_pieces_release(&pc);
        return;
    }
    for (size_t i = 0; i < pc.n; i++)
        items[i] = tl_k8s_piece(&pc, i);
    int src = tl_k8s_join(&pc, items, &split, swhy, sizeof swhy);
    free(items);
    int wrc = tl_k8s_parse(text, len, max_items, &whole, why, sizeof why);
    if (src != TL_ERR_NOMEM && wrc != TL_ERR_NOMEM &&
        (src != wrc || (wrc != TL_OK && strcmp(swhy, why) != 0) ||
         (wrc == TL_OK && (split.n != whole.n || !json_equal(split.items, whole.items)))))
        FUZZ_FAIL("fuzz_k8s: parsed apart %d \"%s\", whole %d \"%s\"\n", src,
                  src != TL_OK ? swhy : "", wrc, wrc != TL_OK ? why : "");
    tl_k8s_parsed_release(&split);
    tl_k8s_parsed_release(&whole);
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
    in_parts(text, len, max_event, max_items, rc, why, &l);
    split_parse(text, len, max_items);
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
