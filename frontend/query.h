/*
 * query.h - the strict query-string parser of the RFC 6962 endpoints
 * (RFC 6962 §4: every parameter of an endpoint is required).
 *
 * A query is name=value pairs joined by '&' (one trailing '&' is allowed);
 * a pair with no '=' or an empty name, an empty pair ("a=1&&b=2") or a
 * leading '&' make the whole query malformed. Names are compared as they
 * are sent (not percent-decoded); values are percent-decoded with libevent's
 * evhttp_uridecode, '+' as a space, as libevent's form parsing does (a '%'
 * not followed by two hex digits stays a '%'; a decoded NUL ends the value).
 * Then every parameter of the endpoint must appear exactly once (at most
 * once if optional) and no other one: numbers are canonical decimals
 * (digits only, no sign, no leading zero, below 2^63), hashes canonical
 * base64 of 32 bytes, strings 1..1024 bytes without a NUL (a string
 * parameter's %00 is refused rather than cut).
 *
 * Pure and thread-safe; allocates one short-lived copy per value.
 */
#ifndef TL_FRONTEND_QUERY_H
#define TL_FRONTEND_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "merkle/merkle.h"

/* One parameter of an endpoint: name and is_hash set by the caller, the rest
 * zero before the call and filled by it. */
typedef struct tl_query_param {
    const char *name;
    int is_hash;  /* a base64 SHA-256 hash (else a decimal number) */
    int is_str;   /* a string of 1..1024 bytes, no NUL (else as is_hash says) */
    int optional; /* may be left out */
    uint64_t num; /* the number, if neither */
    tl_hash hash; /* the hash, if is_hash */
    char *str;    /* the decoded string, if is_str (malloc'd: tl_query_release) */
    size_t str_len;
    int seen; /* times given (1 after a successful parse) */
} tl_query_param;

/* Fills ps[0..n) from the query q (after the '?', NUL-terminated).
 * TL_OK, or TL_ERR_INVALID with a one-line reason in why (cap bytes; the
 * first problem in the order of the query, after its shape), or
 * TL_ERR_NOMEM. */
int tl_query_parse(const char *q, tl_query_param *ps, size_t n, char *why, size_t cap);
/* Frees the strings of ps[0..n). */
void tl_query_release(tl_query_param *ps, size_t n);

#endif
