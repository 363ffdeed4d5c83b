/*
 * event.h - audit events as the contract defines them ("Audit logs" →
 * "Events"): strict parsing (RFC 8259 / I-JSON, RFC 7493: UTF-8, no
 * duplicate member names), validation of every member, the log's own
 * `submitter` member, and the canonical event (RFC 8785, audit/jcs.h).
 *
 * Every violation is TL_ERR_INVALID with a one-line reason that names the
 * member ("actor.id: ...") or, for what the JSON parser refuses, the byte
 * offset; a canonical event over max_event bytes is TL_ERR_TOOBIG.
 *
 * Pure: no I/O.
 */
#ifndef TL_AUDIT_EVENT_H
#define TL_AUDIT_EVENT_H

#include <jansson.h>
#include <stddef.h>

#include "common/buf.h"

#define TL_AUDIT_MAX_EVENT_DEFAULT 131072
#define TL_AUDIT_STRING_MAX 1024 /* strings outside details */
#define TL_AUDIT_ACTION_MAX 128
#define TL_AUDIT_ID_MAX 128
#define TL_AUDIT_REASON_MAX 200 /* longest reason text written */

/* A member's value, borrowed from the event's JSON (NULL/0 when absent). */
typedef struct tl_audit_str {
    const char *s;
    size_t len;
} tl_audit_str;

typedef struct tl_audit_event {
    json_t *obj;  /* the event with submitter (owned) */
    tl_buf canon; /* its canonical form */
    /* for indexes and idempotency (borrowed from obj) */
    tl_audit_str actor_id, action, resource_type, resource_id, outcome, source, id, submitter;
} tl_audit_event;

/* JSON parser flags for events: duplicate names refused, \u0000 allowed in
 * strings (canonicalized as \u0000). */
#define TL_AUDIT_JSON_FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)

/* The JSON parser's error as a one-line reason with the byte offset, and
 * without the input's text (jansson's "near '...'" quotes the event). */
void tl_audit_json_error(const json_error_t *e, char *why, size_t cap);

/* Parses one event from text[0..len) (one JSON object, nothing after it but
 * white space) and validates it as tl_audit_event_take does. */
int tl_audit_event_parse(const char *text, size_t len, const char *submitter, size_t max_event,
                         tl_audit_event *ev, char *why, size_t cap);
/* Validates obj (a reference is taken on success; on failure obj is
 * untouched), adds `submitter`, makes the canonical event. */
int tl_audit_event_take(json_t *obj, const char *submitter, size_t max_event, tl_audit_event *ev,
                        char *why, size_t cap);
void tl_audit_event_release(tl_audit_event *ev);

/* Re-reads a canonical event (as stored, or as a receipt carries it, maybe
 * reformatted): parses text strictly and writes its canonical form to out.
 * No validation beyond JSON and the number rule. */
int tl_audit_canonicalize(const char *text, size_t len, tl_buf *out, char *why, size_t cap);

/* RFC 3339 UTC with 'Z' and an optional fraction (the contract's `time`):
 * 1 when s[0..len) is one. */
int tl_audit_time_valid(const char *s, size_t len);
/* Parses an RFC 3339 time (any offset) into milliseconds since the epoch:
 * TL_OK or TL_ERR_INVALID. (Queries' since/until; syslog timestamps.) */
int tl_audit_time_ms(const char *s, size_t len, int64_t *ms);
/* Formats ms as RFC 3339 UTC with milliseconds, "2026-12-02T06:00:00.123Z"
 * (25 bytes with the NUL). */
void tl_audit_time_format(int64_t ms, char out[25]);

/*
 * Mapping values from other formats (Kubernetes audit events, syslog) into
 * event members, as the contract says: a value over its limit is cut at a
 * UTF-8 boundary to fit, and invalid UTF-8 becomes U+FFFD first.
 *
 * tl_audit_fit_string returns a new jansson string of at most max bytes,
 * or NULL when nothing is left (an empty value: members outside details
 * may not be empty, so the caller picks what stands in its place) or on
 * allocation failure. tl_audit_fit_action does the same for an action:
 * each character an action may not hold becomes '_', then at most
 * TL_AUDIT_ACTION_MAX bytes.
 */
json_t *tl_audit_fit_string(const char *s, size_t len, size_t max);
json_t *tl_audit_fit_action(const char *s, size_t len);

#endif
