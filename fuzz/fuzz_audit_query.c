/*
 * fuzz_audit_query.c - libFuzzer target for the query string of an audit
 * log's searches (tl_audit_query_args_parse, frontend/audit_query.h, over
 * frontend/query.h and the RFC 3339 parser of audit/event.h).
 *
 * The first eight input bytes are the searched size (the published tree),
 * the rest the query string. Checked: no crash, leak or over-read; on
 * success the limit is 1..1000, the search stays below the size, and every
 * filter given is a non-empty string without a NUL; on failure the reason
 * is one non-empty line.
 */
#include "common/err.h"
#include "frontend/audit_query.h"
#include "fuzz/fuzz.h"

static void check_str(const char *name, const tl_audit_str *s)
{
    if (s->s && (s->len == 0 || s->len > 1024 || memchr(s->s, 0, s->len)))
        FUZZ_FAIL("fuzz_audit_query: filter %s is empty, too long or holds a NUL\n", name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint64_t tree = 0;
    for (int i = 0; i < 8; i++)
        tree = tree << 8 | data[i];
    char *qs = malloc(size - 7);
    if (!qs)
        return 0;
    memcpy(qs, data + 8, size - 8);
    qs[size - 8] = 0;
    tl_audit_query_args a;
    char why[200];
    memset(why, 'x', sizeof why);
    int rc = tl_audit_query_args_parse(qs, tree, &a, why, sizeof why);
    if (rc == TL_OK) {
        if (a.q.limit < 1 || a.q.limit > TL_AUDIT_QUERY_LIMIT_MAX)
            FUZZ_FAIL("fuzz_audit_query: limit %zu accepted\n", a.q.limit);
        if (a.q.below > tree)
            FUZZ_FAIL("fuzz_audit_query: the search reaches past the tree\n");
        check_str("actor", &a.q.actor);
        check_str("action", &a.q.action);
        check_str("resource_type", &a.q.resource_type);
        check_str("resource_id", &a.q.resource_id);
        check_str("outcome", &a.q.outcome);
    } else if (rc != TL_ERR_NOMEM) {
        size_t n = strnlen(why, sizeof why);
        if (n == 0 || n == sizeof why || memchr(why, '\n', n))
            FUZZ_FAIL("fuzz_audit_query: the 400 reason is not one line: \"%.*s\"\n", (int)n, why);
    }
    tl_audit_query_args_release(&a);
    free(qs);
    return 0;
}
