/*
 * jcs.h - RFC 8785 JSON Canonicalization Scheme over jansson values.
 *
 * The canonical form of a JSON value: no white space; object members sorted
 * by their names as arrays of UTF-16 code units (RFC 8785 §3.2.3); strings
 * as ECMAScript's JSON.stringify writes them (§3.2.2.2: only '"', '\\' and
 * the control characters below U+0020 are escaped, as \b \t \n \f \r or
 * \u00xx with lowercase hex; everything else is the character itself, in
 * UTF-8); numbers in the ECMAScript form (§3.2.2.3). This implementation
 * writes integers only (tlogd's audit events allow no other numbers): a
 * real is TL_ERR_INVALID, as is an integer of magnitude 2^53 or more, which
 * an IEEE 754 double, and so a JCS verifier, cannot hold exactly.
 *
 * Pure: no I/O, no allocation beyond the output buffer.
 */
#ifndef TL_AUDIT_JCS_H
#define TL_AUDIT_JCS_H

#include <jansson.h>
#include <stddef.h>

#include "common/buf.h"

/* Largest integer magnitude written: 2^53 - 1. */
#define TL_JCS_INT_MAX 9007199254740991LL

/* Appends the canonical form of v to out. TL_OK, TL_ERR_INVALID (a real,
 * an integer out of range, invalid UTF-8 in a string), TL_ERR_NOMEM. */
int tl_jcs_append(const json_t *v, tl_buf *out);
/* Appends s[0..len) (UTF-8, checked) as a canonical JSON string, quotes
 * included: the escaper JCS uses, also for building JSON text by hand. */
int tl_jcs_string(const char *s, size_t len, tl_buf *out);
/* Compares two member names (UTF-8) as RFC 8785 orders them: by UTF-16
 * code units. */
int tl_jcs_name_cmp(const char *a, size_t alen, const char *b, size_t blen);

#endif
