/*
 * fuzz_audit_event.c - libFuzzer target for an audit log's event parser and
 * canonicalizer (audit/event.h, audit/jcs.h): what POST /audit/v1/events and
 * the sources hand to tl_audit_event_parse, and what a verifier re-reads
 * with tl_audit_canonicalize.
 *
 * The first input byte picks max_event (small, so that the size limit is
 * reached, or the default); the rest is the event. Checked: no crash, leak
 * or over-read; an accepted event's canonical form is valid JSON that
 * canonicalizes to itself, carries the submitter and fits max_event; the
 * canonicalizer is idempotent on anything it accepts; every refusal has a
 * one-line, non-empty UTF-8 reason.
 */
#include <jansson.h>

#include "audit/event.h"
#include "common/buf.h"
#include "common/err.h"
#include "fuzz/fuzz.h"

static void one_line(const char *what, const char *why, size_t cap)
{
    size_t n = strnlen(why, cap);
    if (n == 0 || n == cap || memchr(why, '\n', n))
        FUZZ_FAIL("fuzz_audit_event: %s's reason is not one line: \"%.*s\"\n", what, (int)n, why);
    json_t *s = json_stringn(why, n); /* NULL when not UTF-8 */
    if (!s)
        FUZZ_FAIL("fuzz_audit_event: %s's reason is not UTF-8: \"%.*s\"\n", what, (int)n, why);
    json_decref(s);
}

/* canon canonicalizes to itself. */
static void fixed_point(const tl_buf *canon)
{
    tl_buf again = TL_BUF_INIT;
    char why[TL_AUDIT_REASON_MAX + 56];
    int rc = tl_audit_canonicalize((const char *)canon->data, canon->len, &again, why, sizeof why);
    if (rc == TL_ERR_NOMEM) {
        tl_buf_release(&again);
        return;
    }
    if (rc != TL_OK)
        FUZZ_FAIL("fuzz_audit_event: a canonical form does not re-read: %s\n", why);
    if (again.len != canon->len || memcmp(again.data, canon->data, canon->len) != 0)
        FUZZ_FAIL("fuzz_audit_event: canonicalizing is not idempotent: \"%.*s\" -> \"%.*s\"\n",
                  (int)canon->len, (const char *)canon->data, (int)again.len,
                  (const char *)again.data);
    tl_buf_release(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max_event = data[0] & 1 ? 256 : TL_AUDIT_MAX_EVENT_DEFAULT;
    char *text = fuzz_copy(data + 1, size - 1);
    if (!text)
        return 0;
    char why[TL_AUDIT_REASON_MAX + 56];
    tl_audit_event ev;

    memset(why, 'x', sizeof why);
    int rc = tl_audit_event_parse(text, size - 1, "fuzz-writer", max_event, &ev, why, sizeof why);
    if (rc == TL_OK) {
        if (ev.canon.len > max_event)
            FUZZ_FAIL("fuzz_audit_event: a %zu-byte canonical event passed a %zu-byte limit\n",
                      ev.canon.len, max_event);
        if (!ev.submitter.s || ev.submitter.len != 11 ||
            memcmp(ev.submitter.s, "fuzz-writer", 11) != 0)
            FUZZ_FAIL("fuzz_audit_event: the accepted event lacks its submitter\n");
        json_error_t jerr;
        json_t *back =
            json_loadb((const char *)ev.canon.data, ev.canon.len, TL_AUDIT_JSON_FLAGS, &jerr);
        if (!back || !json_is_object(back))
            FUZZ_FAIL("fuzz_audit_event: the canonical event is not a JSON object: %s\n",
                      jerr.text);
        json_decref(back);
        fixed_point(&ev.canon);
        tl_audit_event_release(&ev);
    } else if (rc != TL_ERR_NOMEM) {
        one_line("the parser", why, sizeof why);
    }

    tl_buf canon = TL_BUF_INIT;
    memset(why, 'x', sizeof why);
    rc = tl_audit_canonicalize(text, size - 1, &canon, why, sizeof why);
    if (rc == TL_OK)
        fixed_point(&canon);
    else if (rc != TL_ERR_NOMEM)
        one_line("the canonicalizer", why, sizeof why);
    tl_buf_release(&canon);
    free(text);
    return 0;
}
