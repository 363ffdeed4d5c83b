/*
 * k8s.h - the Kubernetes API server's audit webhook (CONTRACT.md "Audit
 * logs", POST /audit/v1/k8s): an audit.k8s.io/v1 EventList mapped into
 * audit events, one per item, as the contract says (docs/SOURCES.md has the
 * table):
 *
 *   actor    {"id": user.username, "type": "kubernetes", "ip": sourceIPs[0],
 *            "user_agent": userAgent}        (no username: "-")
 *   action   <objectRef.resource>.<verb>, or the verb alone without objectRef
 *   resource {"type": [<apiGroup>/]<resource>, "id": [<namespace>/]<name|->}
 *            or, without objectRef, {"type": "url", "id": requestURI}
 *   outcome  responseStatus.code: < 400 success, 401/403 denied, else
 *            failure; no responseStatus (or no code): unknown
 *   time     stageTimestamp, else requestReceivedTimestamp (in UTC)
 *   source   "kubernetes"; id "<auditID>/<stage>"; request_id auditID
 *   details  the whole item as received
 *
 * Values over their limit are cut at a UTF-8 boundary (tl_audit_fit_string),
 * actions get '_' for characters they may not hold (tl_audit_fit_action).
 *
 * Numbers: the contract allows only integers of magnitude below 2^53, and
 * says that in details any other number becomes a string holding its literal
 * text. jansson 2.14 cannot keep a number's text (JSON_DECODE_INT_AS_REAL
 * turns every integer into a double, losing digits, and both modes refuse
 * what overflows a double or an int64), so before jansson parses the body,
 * tl_k8s_quote_numbers writes every number token that is not such an integer
 * as a JSON string of the same characters. It is a lexical step only (jansson
 * still parses and validates the result): a token is quoted only when it is a
 * complete RFC 8259 number outside any string and is not followed by ':'
 * (where a string would be a member name), so a text is valid after the step
 * exactly when it was valid before.
 *
 * Pure: no I/O.
 */
#ifndef TL_AUDIT_K8S_H
#define TL_AUDIT_K8S_H

#include <stddef.h>

#include "audit/event.h"
#include "common/buf.h"

#define TL_K8S_SOURCE "kubernetes"

/* Appends text[0..len) to out with the number tokens the contract does not
 * allow quoted (above). *shifts gets the offsets in out just past each quoted
 * token (*nshifts of them, ascending, malloc'd: the caller frees), so that a
 * parser's error offset can be given in the caller's text (tl_k8s_offset).
 * TL_OK, TL_ERR_NOMEM, or TL_ERR_INVALID for a text with a NUL byte (never
 * valid JSON, and jansson ends a top-level number at one: the step could not
 * keep its promise). */
int tl_k8s_quote_numbers(const char *text, size_t len, tl_buf *out, size_t **shifts,
                         size_t *nshifts);
/* The offset in the original text of offset pos of the quoted text. */
size_t tl_k8s_offset(size_t pos, const size_t *shifts, size_t nshifts);

/* A mapped EventList: n events, in the order of the items. */
typedef struct tl_k8s_list {
    tl_audit_event *ev; /* n of them (owned) */
    size_t n;
} tl_k8s_list;

/* Maps the EventList in text[0..len) into events with submitter, each
 * validated as tl_audit_event_take does with max_event. At most max_items
 * items. Returns TL_OK (list filled; release it), TL_ERR_INVALID (a
 * malformed body or item: why says "item <i>: <reason>" for an item, i
 * counted from 0), TL_ERR_TOOBIG (more than max_items items, or an item
 * whose event is over max_event: why says which) or TL_ERR_NOMEM; on error
 * list is empty. */
int tl_k8s_map(const char *text, size_t len, const char *submitter, size_t max_event,
               size_t max_items, tl_k8s_list *list, char *why, size_t cap);
void tl_k8s_list_release(tl_k8s_list *list);

/*
 * tl_k8s_map in two steps, so that the items of one list can be mapped by
 * several threads: tl_k8s_parse reads the list (the number step, jansson's
 * parse, the top level, the item limit), then tl_k8s_map_items maps a
 * range of its items. Ranges that do not overlap may be mapped at the same
 * time from different threads (they only read the shared tree and take
 * references on its items, which jansson counts atomically). The first
 * item that fails, in the list's order, is what tl_k8s_map reports: the
 * caller of several ranges reports the failure of the lowest one.
 */
typedef struct tl_k8s_parsed {
    json_t *top;   /* the parsed list (owned) */
    json_t *items; /* its items (borrowed from top), NULL when none */
    size_t n;
} tl_k8s_parsed;

/* Parses text[0..len) as tl_k8s_map does, up to its items. TL_OK (release
 * p), or the errors of tl_k8s_map that are not an item's (p is then empty). */
int tl_k8s_parse(const char *text, size_t len, size_t max_items, tl_k8s_parsed *p, char *why,
                 size_t cap);
/* Maps items from..to-1 of p into ev[from..to) (zeroed by the caller) as
 * tl_k8s_map does. On failure returns as tl_k8s_map, *bad is the item and
 * why says "item <i>: <reason>"; the events of the range are released. */
int tl_k8s_map_items(const tl_k8s_parsed *p, size_t from, size_t to, const char *submitter,
                     size_t max_event, tl_audit_event *ev, size_t *bad, char *why, size_t cap);
void tl_k8s_parsed_release(tl_k8s_parsed *p);

/*
 * tl_k8s_parse with its items parsed apart, so that several threads can
 * parse one large list. tl_k8s_split runs the number step and a lexical
 * scan of its result (like the number step's: strings and nesting only)
 * that finds the top-level member "items" (its name written plainly) and
 * the text of each of its elements; jansson then parses the list with
 * "items": [] (every other member, duplicates refused as always) and each
 * element on its own (tl_k8s_piece). tl_k8s_join puts them together. Every
 * byte is still parsed by jansson; whenever the scan, the list or an
 * element is not as expected (and so for every malformed body), tl_k8s_join
 * parses the whole text with tl_k8s_parse instead, so that the answer and
 * its reason are exactly tl_k8s_parse's.
 */
typedef struct tl_k8s_pieces {
    const char *text; /* the caller's, until tl_k8s_join */
    size_t len, max_items;
    tl_buf q;   /* the text with its numbers quoted */
    size_t *at; /* item i is q[at[2i] .. at[2i+1]) */
    size_t n;
    json_t *top; /* the list without its items */
} tl_k8s_pieces;

/* 1 with pc filled (n items to parse, then tl_k8s_join), or 0: parse the
 * text whole (tl_k8s_parse); nothing to release then. */
int tl_k8s_split(const char *text, size_t len, size_t max_items, tl_k8s_pieces *pc);
/* Item i of pc parsed (a new reference), or NULL when it does not parse on
 * its own. Any thread; pieces may be parsed at the same time. */
json_t *tl_k8s_piece(const tl_k8s_pieces *pc, size_t i);
/* The list from pc and its pn parsed items (items[i] taken, NULL for one
 * that did not parse): as tl_k8s_parse(text, ...) answers. Releases pc. */
int tl_k8s_join(tl_k8s_pieces *pc, json_t **items, tl_k8s_parsed *p, char *why, size_t cap);
/* Releases pc without joining it. */
void tl_k8s_pieces_release(tl_k8s_pieces *pc);

#endif
