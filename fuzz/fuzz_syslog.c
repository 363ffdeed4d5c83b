/*
 * fuzz_syslog.c - libFuzzer target for what a syslog listener does with the
 * bytes of a stream (sources/syslog.h): the RFC 6587 framer, fed in pieces,
 * and every frame mapped into an event (RFC 5424, RFC 3164 or unparsed).
 *
 * The first input byte picks the frame limit (tiny, so that frames are cut
 * and skipped, or the default), max_event (small or the default) and the
 * size of the pieces the rest is fed in. Checked: no crash, leak or
 * over-read; the framer consumes no more than it is given, its frames lie
 * within the buffer and within the limit, and it always moves once it has
 * more than a frame's worth; every frame becomes an event whose canonical
 * form fits max_event and that has an action and the submitter, or (only
 * for a tiny max_event) a refusal with a one-line reason.
 */
#include <jansson.h>

#include "common/err.h"
#include "fuzz/fuzz.h"
#include "sources/syslog.h"

static void one_frame(const tl_syslog_frame *fm, size_t max_event)
{
    tl_audit_event ev;
    char why[256];
    int format;
    int rc = tl_syslog_event(fm->msg, fm->len, fm->truncated, "192.0.2.1:514", "@syslog", max_event,
                             &ev, &format, why, sizeof why);
    if (rc == TL_ERR_NOMEM)
        return;
    if (rc != TL_OK) {
        size_t n = strnlen(why, sizeof why);
        if (rc != TL_ERR_TOOBIG || max_event >= 1024 || n == 0 || memchr(why, '\n', n))
            FUZZ_FAIL("fuzz_syslog: refused (%d): %s\n", rc, why);
        return;
    }
    if (ev.canon.len > max_event || !ev.action.s || !ev.submitter.s ||
        strcmp(ev.submitter.s, "@syslog") != 0)
        FUZZ_FAIL("fuzz_syslog: a bad event (%zu bytes)\n", ev.canon.len);
    if (format == TL_SYSLOG_UNPARSED && strcmp(ev.action.s, "syslog.unparsed") != 0)
        FUZZ_FAIL("fuzz_syslog: unparsed but action %s\n", ev.action.s);
    tl_audit_event_release(&ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max = data[0] & 1 ? 16 : TL_SYSLOG_FRAME_MAX;
    size_t max_event = data[0] & 2 ? 300 : TL_AUDIT_MAX_EVENT_DEFAULT;
    size_t step = (size_t)(data[0] >> 2) + 1;
    size_t len = size - 1;
    uint8_t *in = (uint8_t *)fuzz_copy(data + 1, len);
    uint8_t *pend = malloc(len + 1);
    tl_syslog_framer fr;
    size_t have = 0, off = 0;
    if (!in || !pend) {
        free(in);
        free(pend);
        return 0;
    }
    tl_syslog_framer_init(&fr);
    while (off < len) {
        size_t n = len - off < step ? len - off : step;
        memcpy(pend + have, in + off, n);
        have += n;
        off += n;
        size_t used = 0;
        for (;;) {
            tl_syslog_frame fm;
            int got;
            size_t c = tl_syslog_frame_next(&fr, pend + used, have - used, max, &fm, &got);
            if (c > have - used)
                FUZZ_FAIL("fuzz_syslog: consumed %zu of %zu\n", c, have - used);
            if (got) {
                if (fm.msg < pend + used || fm.msg + fm.len > pend + used + c || fm.len > max)
                    FUZZ_FAIL("fuzz_syslog: a frame outside its bytes or over the limit\n");
                one_frame(&fm, max_event);
            }
            if (c == 0 && !got)
                break;
            used += c;
        }
        /* a frame needs at most its limit and "LEN SP" */
        if (have - used > max + 12)
            FUZZ_FAIL("fuzz_syslog: %zu bytes held without a frame\n", have - used);
        memmove(pend, pend + used, have - used);
        have -= used;
    }
    free(in);
    free(pend);
    return 0;
}
