/*
 * audit_query.c - the query string of an audit log's searches
 * (audit_query.h). Pure; any thread.
 */
#include "frontend/audit_query.h"

#include <stdio.h>
#include <string.h>

#include "audit/event.h"
#include "common/dec.h"
#include "common/err.h"

enum { P_ACTOR, P_ACTION, P_RTYPE, P_RID, P_OUTCOME, P_SINCE, P_UNTIL, P_LIMIT, P_CURSOR };

/* A log time of a query: milliseconds since the epoch, or RFC 3339. */
static int query_time(const tl_query_param *p, int64_t *ms)
{
    uint64_t v;
    if (tl_dec_parse_u64(p->str, p->str_len, INT64_MAX, &v) == TL_OK) {
        *ms = (int64_t)v;
        return TL_OK;
    }
    return tl_audit_time_ms(p->str, p->str_len, ms);
}

static int invalid(char *why, size_t cap, const char *reason)
{
    snprintf(why, cap, "%s", reason);
    return TL_ERR_INVALID;
}

int tl_audit_query_args_parse(const char *qs, uint64_t size, tl_audit_query_args *a, char *why,
                              size_t cap)
{
    static const char *const names[TL_AUDIT_QUERY_NPARAMS] = {
        "actor", "action", "resource_type", "resource_id", "outcome",
        "since", "until",  "limit",         "cursor",
    };
    tl_query_param *ps = a->ps;
    tl_audit_query *q = &a->q;
    tl_audit_str *strs[] = {&q->actor, &q->action, &q->resource_type, &q->resource_id, &q->outcome};
    int rc;

    memset(a, 0, sizeof *a);
    for (int i = 0; i < TL_AUDIT_QUERY_NPARAMS; i++) {
        ps[i].name = names[i];
        ps[i].is_str = i != P_LIMIT;
        ps[i].optional = 1;
    }
    rc = tl_query_parse(qs, ps, TL_AUDIT_QUERY_NPARAMS, why, cap);
    if (rc != TL_OK)
        return rc;
    for (int i = P_ACTOR; i <= P_OUTCOME; i++)
        if (ps[i].seen) {
            strs[i]->s = ps[i].str;
            strs[i]->len = ps[i].str_len;
        }
    q->limit = ps[P_LIMIT].seen ? ps[P_LIMIT].num : TL_AUDIT_QUERY_LIMIT_DEFAULT;
    if (q->limit < 1 || q->limit > TL_AUDIT_QUERY_LIMIT_MAX) {
        snprintf(why, cap, "limit must be 1 to %d", TL_AUDIT_QUERY_LIMIT_MAX);
        return TL_ERR_INVALID;
    }
    q->has_since = ps[P_SINCE].seen;
    if (q->has_since && query_time(&ps[P_SINCE], &q->since) != TL_OK)
        return invalid(why, cap, "since must be RFC 3339 or milliseconds");
    q->has_until = ps[P_UNTIL].seen;
    if (q->has_until && query_time(&ps[P_UNTIL], &q->until) != TL_OK)
        return invalid(why, cap, "until must be RFC 3339 or milliseconds");
    q->below = size;
    if (ps[P_CURSOR].seen) {
        uint64_t c;
        if (tl_dec_parse_u64(ps[P_CURSOR].str, ps[P_CURSOR].str_len, INT64_MAX, &c) != TL_OK)
            return invalid(why, cap, "cursor must be one that a page gave");
        if (c < q->below)
            q->below = c;
    }
    return TL_OK;
}

void tl_audit_query_args_release(tl_audit_query_args *a)
{
    tl_query_release(a->ps, TL_AUDIT_QUERY_NPARAMS);
    memset(&a->q, 0, sizeof a->q);
}
