/*
 * test_frontend.c - CUnit tests for frontend/ below HTTP: the route table
 * (its lines are well formed and unambiguous, the endpoint labels are the
 * metrics labels tlogd always had) and its lookup (exact and prefix paths,
 * the most specific line wins, 404, 405 with Allow, HEAD as GET, and the
 * kinds column: a log of a kind a line does not name gets 404 for it, which
 * tlogd's HTTP tests cannot reach while blob is the only kind), and the
 * strict query parser (frontend/query.h) on what the HTTP tests do not
 * cover: the values it fills in, and values longer than its stack copy.
 * Runs end to end in tests/frontend/test_tlogd.py.
 */
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <string.h>

#include "common/b64.h"
#include "common/err.h"
#include "frontend/internal.h"
#include "frontend/query.h"

/* ---- the route table ----------------------------------------------------- */

static void test_table(void)
{
    /* tlogd_http_requests_total's endpoint labels, in /metrics order. */
    static const char *const labels[] = {"checkpoint",
                                         "tile",
                                         "tile_entries",
                                         "add",
                                         "get-sth",
                                         "get-sth-consistency",
                                         "get-proof-by-hash",
                                         "get-entries",
                                         "get-entry-and-proof",
                                         "audit_log",
                                         "audit_write",
                                         "audit_query",
                                         "audit_read",
                                         "audit_erase",
                                         "audit_bodies",
                                         "audit_k8s",
                                         "metrics",
                                         "healthz",
                                         "console_status",
                                         "console",
                                         "console_file"};
    size_t n;
    const fe_route *rt = fe_routes(&n);
    CU_ASSERT_EQUAL(n, sizeof labels / sizeof labels[0]);
    CU_ASSERT(n <= FE_MAX_ROUTES);
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT_STRING_EQUAL(fe_ep_name((fe_ep)i),
                               i < sizeof labels / sizeof labels[0] ? labels[i] : "?");
        CU_ASSERT_EQUAL(rt[i].path[0], '/');
        CU_ASSERT(rt[i].methods != 0 && (rt[i].methods & ~(unsigned)(FE_GET | FE_POST)) == 0);
        CU_ASSERT(rt[i].match == FE_EXACT || rt[i].match == FE_PREFIX);
        CU_ASSERT(rt[i].kinds != 0);
        CU_ASSERT_PTR_NOT_NULL(rt[i].fn);
        CU_ASSERT_STRING_NOT_EQUAL(rt[i].ep, "other");
        for (size_t j = 0; j < i; j++) {
            CU_ASSERT_STRING_NOT_EQUAL(rt[i].ep, rt[j].ep);
            /* two lines for one request would be ambiguous */
            CU_ASSERT(!(strcmp(rt[i].path, rt[j].path) == 0 && rt[i].match == rt[j].match &&
                        (rt[i].methods & rt[j].methods) && (rt[i].kinds & rt[j].kinds)));
        }
    }
    CU_ASSERT_STRING_EQUAL(fe_ep_name(FE_EP_OTHER), "other");
}

/* Looks method and path up on a log of kind; returns the endpoint label. */
static const char *find(unsigned kind, const char *method, const char *path, fe_lookup *lk)
{
    memset(lk, 0x5a, sizeof *lk);
    fe_route_find(kind, method, path, lk);
    return fe_ep_name(lk->ep);
}

static void test_lookup(void)
{
    fe_lookup lk;
    static const struct {
        const char *method, *path, *ep;
    } served[] = {
        {"GET", "/checkpoint", "checkpoint"},
        {"HEAD", "/checkpoint", "checkpoint"},
        {"GET", "/tile/0/000", "tile"},
        {"GET", "/tile/", "tile"},
        {"GET", "/tile/entries", "tile"}, /* not the /tile/entries/ prefix */
        {"GET", "/tile/entries/000", "tile_entries"},
        {"HEAD", "/tile/entries/x001/234.p/5", "tile_entries"},
        {"POST", "/add", "add"},
        {"GET", "/ct/v1/get-sth", "get-sth"},
        {"GET", "/ct/v1/get-sth-consistency", "get-sth-consistency"},
        {"GET", "/ct/v1/get-proof-by-hash", "get-proof-by-hash"},
        {"GET", "/ct/v1/get-entries", "get-entries"},
        {"GET", "/ct/v1/get-entry-and-proof", "get-entry-and-proof"},
        {"GET", "/metrics", "metrics"},
        {"HEAD", "/healthz", "healthz"},
        {"GET", "/", "console"},
        {"GET", "/console/v1/status", "console_status"},
        {"GET", "/console/console.js", "console_file"},
        {"GET", "/console/nope", "console_file"}, /* its handler answers 404 */
    };
    for (size_t i = 0; i < sizeof served / sizeof served[0]; i++) {
        CU_ASSERT_STRING_EQUAL(find(FE_KIND_BLOB, served[i].method, served[i].path, &lk),
                               served[i].ep);
        CU_ASSERT_PTR_NOT_NULL(lk.route);
        CU_ASSERT_EQUAL(lk.status, 0);
        CU_ASSERT_EQUAL(lk.other_kind, 0);
    }

    static const struct {
        const char *method, *path, *ep, *allow;
    } not_allowed[] = {
        {"POST", "/checkpoint", "checkpoint", "GET, HEAD"},
        {"PUT", "/tile/0/000", "tile", "GET, HEAD"},
        {"POST", "/tile/entries/000", "tile_entries", "GET, HEAD"},
        {"GET", "/add", "add", "POST"},
        {"HEAD", "/add", "add", "POST"},
        {"OPTIONS", "/add", "add", "POST"}, /* tl_frontend_handle answers OPTIONS first */
        {"DELETE", "/metrics", "metrics", "GET, HEAD"},
        {"get", "/healthz", "healthz", "GET, HEAD"}, /* methods are case-sensitive */
    };
    for (size_t i = 0; i < sizeof not_allowed / sizeof not_allowed[0]; i++) {
        CU_ASSERT_STRING_EQUAL(find(FE_KIND_BLOB, not_allowed[i].method, not_allowed[i].path, &lk),
                               not_allowed[i].ep);
        CU_ASSERT_PTR_NULL(lk.route);
        CU_ASSERT_EQUAL(lk.status, 405);
        CU_ASSERT_STRING_EQUAL(lk.allow, not_allowed[i].allow);
    }

    static const char *const unknown[] = {
        "",        "//",          "/nope",    "/tile", "/checkpoint/", "/add/", "/ct/v1/get-sth/",
        "/ct/v1/", "/CHECKPOINT", "/metricsx"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        CU_ASSERT_STRING_EQUAL(find(FE_KIND_BLOB, "GET", unknown[i], &lk), "other");
        CU_ASSERT_PTR_NULL(lk.route);
        CU_ASSERT_EQUAL(lk.status, 404);
        CU_ASSERT_EQUAL(lk.other_kind, 0);
    }
}

static void test_kinds(void)
{
    fe_lookup lk;
    CU_ASSERT_EQUAL(fe_kind_of(NULL), FE_KIND_BLOB);
    CU_ASSERT_EQUAL(fe_kind_of("blob"), FE_KIND_BLOB);
    CU_ASSERT_EQUAL(fe_kind_of("audit"), FE_KIND_AUDIT);
    CU_ASSERT_EQUAL(fe_kind_of("Blob"), FE_KIND_OTHER);
    CU_ASSERT_EQUAL(fe_kind_of(""), FE_KIND_OTHER);
    unsigned other = fe_kind_of("audit");
    /* an audit log's own lines, and a blob log has none of them */
    find(other, "POST", "/audit/v1/events", &lk);
    CU_ASSERT(lk.route && lk.route->fn == fe_audit_events);
    find(other, "GET", "/audit/v1/events/12", &lk);
    CU_ASSERT(lk.route && lk.route->fn == fe_audit_event);
    find(FE_KIND_BLOB, "GET", "/audit/v1/log", &lk);
    CU_ASSERT_EQUAL(lk.status, 404);
    CU_ASSERT_EQUAL(lk.other_kind, 1);
    /* the Kubernetes webhook: POST only, audit logs only */
    find(other, "POST", "/audit/v1/k8s", &lk);
    CU_ASSERT(lk.route && lk.route->fn == fe_k8s_post);
    find(other, "GET", "/audit/v1/k8s", &lk);
    CU_ASSERT_EQUAL(lk.status, 405);
    CU_ASSERT_STRING_EQUAL(lk.allow, "POST");
    find(FE_KIND_BLOB, "POST", "/audit/v1/k8s", &lk);
    CU_ASSERT_EQUAL(lk.status, 404);
    CU_ASSERT_EQUAL(lk.other_kind, 1);
    /* POST /add is blob's write: another kind's log has no such endpoint,
     * whatever the method (no 405 for a line it does not serve). */
    static const char *const methods[] = {"POST", "GET", "HEAD"};
    for (size_t i = 0; i < 3; i++) {
        CU_ASSERT_STRING_EQUAL(find(other, methods[i], "/add", &lk), "other");
        CU_ASSERT_PTR_NULL(lk.route);
        CU_ASSERT_EQUAL(lk.status, 404);
        CU_ASSERT_EQUAL(lk.other_kind, 1);
    }
    /* The reads every log has are served for it. */
    static const char *const reads[] = {"/checkpoint",    "/tile/0/000", "/tile/entries/000",
                                        "/ct/v1/get-sth", "/metrics",    "/healthz"};
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        find(other, "GET", reads[i], &lk);
        CU_ASSERT_PTR_NOT_NULL(lk.route);
        CU_ASSERT_EQUAL(lk.status, 0);
    }
    find(other, "POST", "/checkpoint", &lk);
    CU_ASSERT_EQUAL(lk.status, 405);
    CU_ASSERT_EQUAL(lk.other_kind, 0);
    find(other, "GET", "/nope", &lk);
    CU_ASSERT_EQUAL(lk.status, 404);
    CU_ASSERT_EQUAL(lk.other_kind, 0);
}

/* ---- the query parser ---------------------------------------------------- */

static int parse(const char *q, tl_query_param *ps, char *why)
{
    memset(why, 0, 160);
    ps[0].seen = ps[1].seen = 0;
    return tl_query_parse(q, ps, 2, why, 160);
}

static void test_query(void)
{
    char why[160];
    tl_query_param d[2] = {{.name = "first", .is_hash = 0}, {.name = "second", .is_hash = 0}};
    CU_ASSERT_EQUAL(parse("first=3&second=9223372036854775807", d, why), TL_OK);
    CU_ASSERT_EQUAL(d[0].num, 3);
    CU_ASSERT_EQUAL(d[1].num, 9223372036854775807ULL);
    CU_ASSERT(d[0].seen == 1 && d[1].seen == 1);
    CU_ASSERT_EQUAL(parse("second=0&first=%31%32&", d, why), TL_OK);
    CU_ASSERT(d[0].num == 12 && d[1].num == 0);
    CU_ASSERT_EQUAL(parse("first=1&second=9223372036854775808", d, why), TL_ERR_INVALID);
    CU_ASSERT_STRING_EQUAL(why, "second must be a decimal number without leading zeros");
    /* as libevent's decoder: a decoded NUL ends the value */
    CU_ASSERT_EQUAL(parse("first=7%00x&second=8", d, why), TL_OK);
    CU_ASSERT_EQUAL(d[0].num, 7);
    /* an unknown name is echoed printable, at most 64 bytes */
    CU_ASSERT_EQUAL(parse("a\x01\xff=1&first=1&second=2", d, why), TL_ERR_INVALID);
    CU_ASSERT_STRING_EQUAL(why, "unknown parameter a??");
    char q[400];
    memset(q, 'n', 200);
    strcpy(q + 200, "=1");
    CU_ASSERT_EQUAL(parse(q, d, why), TL_ERR_INVALID);
    CU_ASSERT_EQUAL(strlen(why), strlen("unknown parameter ") + 64);
    /* values longer than the parser's stack copy, not last and last */
    strcpy(q, "first=");
    memset(q + 6, '1', 300);
    strcpy(q + 306, "&second=2");
    CU_ASSERT_EQUAL(parse(q, d, why), TL_ERR_INVALID);
    CU_ASSERT_STRING_EQUAL(why, "first must be a decimal number without leading zeros");
    strcpy(q, "second=2&first=");
    memset(q + 15, '0', 300);
    q[315] = 0;
    CU_ASSERT_EQUAL(parse(q, d, why), TL_ERR_INVALID);
    CU_ASSERT_STRING_EQUAL(why, "first must be a decimal number without leading zeros");
    strcpy(q, "first=1%00");
    memset(q + 10, 'x', 300);
    strcpy(q + 310, "&second=2");
    CU_ASSERT_EQUAL(parse(q, d, why), TL_OK);

    /* hashes: canonical base64 of 32 bytes, '+' '/' '=' percent-encoded */
    tl_query_param h[2] = {{.name = "hash", .is_hash = 1}, {.name = "tree_size", .is_hash = 0}};
    uint8_t want[TL_HASH_SIZE];
    for (size_t i = 0; i < sizeof want; i++)
        want[i] = (uint8_t)(0xf8 + i * 7);
    char b64[TL_B64_LEN(TL_HASH_SIZE) + 1];
    tl_b64_encode(want, sizeof want, b64);
    CU_ASSERT_PTR_NOT_NULL(strpbrk(b64, "+/"));
    char enc[3 * sizeof b64], *e = enc;
    for (const char *s = b64; *s; s++)
        e += strchr("+/=", *s) ? sprintf(e, "%%%02x", *s) : sprintf(e, "%c", *s);
    snprintf(q, sizeof q, "hash=%s&tree_size=5", enc);
    CU_ASSERT_EQUAL(parse(q, h, why), TL_OK);
    CU_ASSERT_EQUAL(memcmp(h[0].hash.b, want, sizeof want), 0);
    CU_ASSERT_EQUAL(h[1].num, 5);
    snprintf(q, sizeof q, "tree_size=5&hash=%s", b64); /* raw '+' is a space */
    CU_ASSERT_EQUAL(parse(q, h, why), TL_ERR_INVALID);
    CU_ASSERT_STRING_EQUAL(why, "hash must be a base64 SHA-256 hash (URL-encoded)");

    /* no parameters asked: only the empty query (or a lone trailing '&'
     * after nothing, which is malformed) */
    CU_ASSERT_EQUAL(tl_query_parse("", d, 0, why, sizeof why), TL_OK);
    CU_ASSERT_EQUAL(tl_query_parse("&", d, 0, why, sizeof why), TL_ERR_INVALID);
    CU_ASSERT_STRING_EQUAL(why, "malformed query string");
    /* a short why buffer stays a terminated string */
    char small[8];
    CU_ASSERT_EQUAL(tl_query_parse("first=1&first=2", d, 2, small, sizeof small), TL_ERR_INVALID);
    CU_ASSERT_EQUAL(strlen(small), sizeof small - 1);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("frontend", NULL, NULL);
    CU_add_test(s, "route table", test_table);
    CU_add_test(s, "route lookup", test_lookup);
    CU_add_test(s, "route kinds", test_kinds);
    CU_add_test(s, "query parser", test_query);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails == 0 ? 0 : 1;
}
