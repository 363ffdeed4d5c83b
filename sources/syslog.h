/*
 * syslog.h - syslog messages as an audit log receives them (CONTRACT.md
 * "Audit logs", the Syslog bullet; docs/SOURCES.md has the tables):
 *
 *   - the RFC 6587 framer of a TCP or TLS (RFC 5425) stream: octet counting
 *     ("LEN SP MSG") and LF-terminated frames, told apart per frame by its
 *     first byte (a digit: octet counting); a frame over the limit is handed
 *     on cut to the limit and marked truncated, and the rest of it is skipped
 *     (the stream resynchronises at the next frame);
 *   - a strict, bounded RFC 5424 parser, an RFC 3164 reader for what
 *     traditional senders emit, and the mapping of a frame into one audit
 *     event (tl_syslog_event). A frame that is neither is still an event:
 *     action syslog.unparsed with the frame in base64. Nothing is dropped.
 *
 * Pure: no I/O, no clock. The framer keeps a few bytes of state across
 * calls (what remains to be skipped of an oversize frame).
 */
#ifndef TL_SOURCES_SYSLOG_H
#define TL_SOURCES_SYSLOG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "audit/event.h"

/* The largest frame kept whole (bytes of MSG for octet counting, of the line
 * without its LF otherwise), when --max-event allows it (tl_syslog_max_frame). */
#define TL_SYSLOG_FRAME_MAX 65536
#define TL_SYSLOG_SUBMITTER "@syslog"
/* What "@tls:<CN>" may take of a CN (bytes). */
#define TL_SYSLOG_CN_MAX 64

/* ---- framing (RFC 6587 §3.4) ------------------------------------------------ */

typedef struct tl_syslog_framer {
    uint64_t skip; /* bytes of an oversize octet-counted frame still to skip */
    int skip_lf;   /* 1: skipping an oversize LF frame up to its LF */
} tl_syslog_framer;

typedef struct tl_syslog_frame {
    const uint8_t *msg; /* borrowed from the caller's buffer */
    size_t len;
    int truncated;     /* 1: the frame was longer than max; msg holds its first max bytes */
    int octets;        /* 1: octet counted, 0: LF-terminated */
    uint64_t declared; /* octet counting: the frame's LEN */
} tl_syslog_frame;

/* Zeroes the state (a new connection). */
void tl_syslog_framer_init(tl_syslog_framer *fr);
/* Looks at buf[0..len), the stream's next bytes, with frames of at most
 * max bytes (1 or more). Returns how many bytes it consumed; *got is 1 when
 * fm was filled with a frame (pointing into buf). Consumed bytes with *got
 * 0 were skipped (an empty line, the rest of an oversize frame). 0 consumed
 * and no frame: more bytes are needed. Never reads past buf[len). The state
 * changes only through fr: a caller that may have to look at the same bytes
 * again keeps a copy. */
size_t tl_syslog_frame_next(tl_syslog_framer *fr, const uint8_t *buf, size_t len, size_t max,
                            tl_syslog_frame *fm, int *got);
/* The frame limit for events of at most max_event bytes: TL_SYSLOG_FRAME_MAX,
 * or less when the frame's base64 (an unparsed frame) must fit. */
size_t tl_syslog_max_frame(size_t max_event);

/* ---- messages --------------------------------------------------------------- */

enum tl_syslog_format {
    TL_SYSLOG_5424 = 1,     /* RFC 5424 */
    TL_SYSLOG_3164 = 2,     /* RFC 3164 (BSD) */
    TL_SYSLOG_UNPARSED = 3, /* neither: syslog.unparsed */
};

/* Maps one frame into the members of an event (without submitter), as the
 * contract says: a new object in *out. peer ("<IP>:<port>", "[<IPv6>]:<port>")
 * is the resource of an unparsed frame; truncated frames are unparsed.
 * Returns the format it was read as, or 0 on allocation failure. */
int tl_syslog_map(const uint8_t *frame, size_t len, int truncated, const char *peer, json_t **out);

/* The event of one frame: tl_syslog_map, then tl_audit_event_take with
 * submitter and max_event. A message whose event would be over max_event
 * (its MSG and structured data may be large) is recorded as unparsed, its
 * raw frame cut (details.truncated) if even that is too large. Returns
 * TL_OK (*format set when not NULL), TL_ERR_NOMEM, or TL_ERR_TOOBIG when
 * max_event cannot hold even an unparsed event (why says so). */
int tl_syslog_event(const uint8_t *frame, size_t len, int truncated, const char *peer,
                    const char *submitter, size_t max_event, tl_audit_event *ev, int *format,
                    char *why, size_t cap);

/* The event of a frame whose first mapping the log refused as another
 * occurrence of an earlier event's (submitter, source, id): the same
 * mapping without `id`, and details.conflicting_id holding it, so that the
 * message is still recorded (once: it has no id). Returns as tl_syslog_event. */
int tl_syslog_event_without_id(const uint8_t *frame, size_t len, int truncated, const char *peer,
                               const char *submitter, size_t max_event, tl_audit_event *ev,
                               char *why, size_t cap);

/* "@tls:<CN>" for a client certificate's subject CN (cn[0..len), any bytes):
 * invalid UTF-8 becomes U+FFFD and control characters '_', cut to
 * TL_SYSLOG_CN_MAX bytes; out holds at least 5 + 3 * TL_SYSLOG_CN_MAX + 1. */
void tl_syslog_tls_submitter(const char *cn, size_t len, char *out, size_t cap);

#endif
