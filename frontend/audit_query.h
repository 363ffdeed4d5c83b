/*
 * audit_query.h - the query string of GET /audit/v1/events (docs/AUDIT.md,
 * "Queries"): the filters actor, action, resource_type, resource_id and
 * outcome (exact matches), since/until (RFC 3339 or milliseconds since the
 * epoch, log time), limit (1..1000, 100 when left out) and cursor (the
 * `next` of an earlier page), each at most once, under frontend/query.h's
 * strict rules.
 *
 * Pure and thread-safe.
 */
#ifndef TL_FRONTEND_AUDIT_QUERY_H
#define TL_FRONTEND_AUDIT_QUERY_H

#include <stdint.h>

#include "frontend/query.h"
#include "log/kind_audit.h"

#define TL_AUDIT_QUERY_LIMIT_DEFAULT 100
#define TL_AUDIT_QUERY_LIMIT_MAX 1000
#define TL_AUDIT_QUERY_NPARAMS 9

typedef struct tl_audit_query_args {
    tl_audit_query q; /* its strings borrow from ps */
    tl_query_param ps[TL_AUDIT_QUERY_NPARAMS];
} tl_audit_query_args;

/* Parses qs (after the '?', NUL-terminated) into a->q for a search of the
 * first `size` entries (q.below is size, or the cursor when lower).
 * TL_OK, TL_ERR_INVALID with a one-line reason in why (cap bytes), or
 * TL_ERR_NOMEM. Call tl_audit_query_args_release whatever it returns. */
int tl_audit_query_args_parse(const char *qs, uint64_t size, tl_audit_query_args *a, char *why,
                              size_t cap);
void tl_audit_query_args_release(tl_audit_query_args *a);

#endif
