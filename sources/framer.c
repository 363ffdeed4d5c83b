/*
 * framer.c - RFC 6587 framing of a syslog stream (TCP, and TLS as RFC 5425
 * frames it), sources/syslog.h.
 *
 * A frame whose first byte is a digit is octet counted, "LEN SP MSG" (§3.4.1:
 * LEN = NONZERO-DIGIT *DIGIT, at most 10 digits here); any other is
 * LF-terminated (§3.4.2, "non-transparent framing"), a trailing CR removed.
 * A digit that does not start a valid "LEN SP" is read as an LF frame, so
 * that it is still recorded (as unparsed). Empty lines carry no message and
 * are skipped. A frame over max bytes is given as its first max bytes,
 * marked truncated; then the rest of it is skipped: LEN - max bytes for an
 * octet-counted one, up to and with the next LF for the other kind.
 */
#include "sources/syslog.h"

#include <string.h>

#define LEN_DIGITS_MAX 10

void tl_syslog_framer_init(tl_syslog_framer *fr)
{
    memset(fr, 0, sizeof *fr);
}

size_t tl_syslog_max_frame(size_t max_event)
{
    /* an unparsed event is its members (some 200 bytes, the peer and the
     * submitter) and the frame's base64: 4 bytes for each 3 */
    size_t room = max_event > 1024 ? (max_event - 1024) / 4 * 3 : 0;
    if (room < 1)
        room = 1;
    return room < TL_SYSLOG_FRAME_MAX ? room : TL_SYSLOG_FRAME_MAX;
}

/* An LF-terminated frame at buf[0..len). */
static size_t lf_frame(tl_syslog_framer *fr, const uint8_t *buf, size_t len, size_t max,
                       tl_syslog_frame *fm, int *got)
{
    size_t look = len < max + 1 ? len : max + 1;
    const uint8_t *lf = memchr(buf, '\n', look);
    if (!lf) {
        if (len <= max)
            return 0; /* more to come */
        /* over the limit: its first max bytes, then skip to the LF */
        fm->msg = buf;
        fm->len = max;
        fm->truncated = 1;
        fm->octets = 0;
        fm->declared = 0;
        *got = 1;
        fr->skip_lf = 1;
        return max;
    }
    size_t n = (size_t)(lf - buf);
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    if (n == 0)
        return (size_t)(lf - buf) + 1; /* an empty line */
    fm->msg = buf;
    fm->len = n;
    fm->truncated = 0;
    fm->octets = 0;
    fm->declared = 0;
    *got = 1;
    return (size_t)(lf - buf) + 1;
}

size_t tl_syslog_frame_next(tl_syslog_framer *fr, const uint8_t *buf, size_t len, size_t max,
                            tl_syslog_frame *fm, int *got)
{
    *got = 0;
    if (max < 1)
        max = 1;
    if (len == 0)
        return 0;
    if (fr->skip) {
        size_t n = fr->skip < len ? (size_t)fr->skip : len;
        fr->skip -= n;
        return n;
    }
    if (fr->skip_lf) {
        const uint8_t *lf = memchr(buf, '\n', len);
        if (!lf)
            return len;
        fr->skip_lf = 0;
        return (size_t)(lf - buf) + 1;
    }
    if (buf[0] < '1' || buf[0] > '9')
        return lf_frame(fr, buf, len, max, fm, got);
    /* octet counting: LEN SP */
    uint64_t declared = 0;
    size_t i = 0;
    while (i < len && i < LEN_DIGITS_MAX && buf[i] >= '0' && buf[i] <= '9') {
        declared = declared * 10 + (uint64_t)(buf[i] - '0');
        i++;
    }
    if (i == len)
        return 0; /* the length is not complete yet */
    if (buf[i] != ' ')
        return lf_frame(fr, buf, len, max, fm, got); /* not "LEN SP": a line */
    size_t head = i + 1;
    size_t take = declared <= max ? (size_t)declared : max;
    if (len - head < take)
        return 0;
    fm->msg = buf + head;
    fm->len = take;
    fm->truncated = declared > max;
    fm->octets = 1;
    fm->declared = declared;
    *got = 1;
    fr->skip = declared - take;
    return head + take;
}
