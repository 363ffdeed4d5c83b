/*
 * test_k8s.c - audit/k8s.h: audit.k8s.io/v1 EventLists mapped into events,
 * for every stage, with and without objectRef, responseStatus, sourceIPs,
 * subresources, nonResourceURLs and impersonation; huge objects, numbers the
 * events may not hold (kept as their text), over-long values, bad items and
 * bad lists, each refused with the item and the member named.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/k8s.h"
#include "common/err.h"

#define LIST_HEAD                                                                                  \
    "{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"metadata\":{},\"items\":["
#define LIST_TAIL "]}"

static char why[512];

/* Maps one list; the rc. */
static int map(const char *text, tl_k8s_list *l)
{
    why[0] = 0;
    return tl_k8s_map(text, strlen(text), "kube", TL_AUDIT_MAX_EVENT_DEFAULT, 400, l, why,
                      sizeof why);
}

/* A list of the given items (comma-separated JSON), malloc'd. */
static char *list_of(const char *items)
{
    size_t n = strlen(LIST_HEAD) + strlen(items) + strlen(LIST_TAIL) + 1;
    char *s = malloc(n);
    snprintf(s, n, "%s%s%s", LIST_HEAD, items, LIST_TAIL);
    return s;
}

/* Maps a one-item list and returns event 0's member path ("a.b") as JSON
 * text (static), or "ERROR <why>". */
static json_t *one(const char *item, tl_k8s_list *l)
{
    char *s = list_of(item);
    int rc = map(s, l);
    free(s);
    if (rc != TL_OK) {
        fprintf(stderr, "map failed: %s\n", why);
        return NULL;
    }
    CU_ASSERT_EQUAL(l->n, 1);
    return l->ev[0].obj;
}

static const char *str_at(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (b)
        v = json_object_get(v, b);
    return json_is_string(v) ? json_string_value(v) : "(absent)";
}

#define BASE                                                                                       \
    "\"level\":\"Metadata\",\"auditID\":\"1b2c\",\"requestURI\":\"/api/v1/namespaces/ns1/"         \
    "pods/p1\",\"verb\":\"get\",\"user\":{\"username\":\"alice\",\"groups\":[\"dev\"]},"           \
    "\"userAgent\":\"kubectl/v1.30\",\"requestReceivedTimestamp\":\"2026-12-02T06:00:00."          \
    "123456Z\""

static void test_stages(void)
{
    static const char *const stages[] = {"RequestReceived", "ResponseStarted", "ResponseComplete",
                                         "Panic"};
    for (size_t i = 0; i < 4; i++) {
        char item[1024], id[64];
        tl_k8s_list l;
        snprintf(item, sizeof item,
                 "{" BASE ",\"stage\":\"%s\",\"sourceIPs\":[\"10.0.0.1\",\"10.0.0.2\"],"
                 "\"objectRef\":{\"resource\":\"pods\",\"namespace\":\"ns1\",\"name\":\"p1\","
                 "\"apiVersion\":\"v1\"}%s,\"stageTimestamp\":\"2026-12-02T06:00:01.5Z\"}",
                 stages[i],
                 i == 2   ? ",\"responseStatus\":{\"metadata\":{},\"code\":200}"
                 : i == 3 ? ",\"responseStatus\":{\"code\":500,\"status\":\"Failure\"}"
                          : "");
        json_t *e = one(item, &l);
        CU_ASSERT_PTR_NOT_NULL_FATAL(e);
        snprintf(id, sizeof id, "1b2c/%s", stages[i]);
        CU_ASSERT_STRING_EQUAL(str_at(e, "id", NULL), id);
        CU_ASSERT_STRING_EQUAL(str_at(e, "request_id", NULL), "1b2c");
        CU_ASSERT_STRING_EQUAL(str_at(e, "source", NULL), "kubernetes");
        CU_ASSERT_STRING_EQUAL(str_at(e, "submitter", NULL), "kube");
        CU_ASSERT_STRING_EQUAL(str_at(e, "action", NULL), "pods.get");
        CU_ASSERT_STRING_EQUAL(str_at(e, "actor", "id"), "alice");
        CU_ASSERT_STRING_EQUAL(str_at(e, "actor", "type"), "kubernetes");
        CU_ASSERT_STRING_EQUAL(str_at(e, "actor", "ip"), "10.0.0.1");
        CU_ASSERT_STRING_EQUAL(str_at(e, "actor", "user_agent"), "kubectl/v1.30");
        CU_ASSERT_STRING_EQUAL(str_at(e, "resource", "type"), "pods");
        CU_ASSERT_STRING_EQUAL(str_at(e, "resource", "id"), "ns1/p1");
        CU_ASSERT_STRING_EQUAL(str_at(e, "outcome", NULL), i == 2   ? "success"
                                                           : i == 3 ? "failure"
                                                                    : "unknown");
        /* stageTimestamp first */
        CU_ASSERT_STRING_EQUAL(str_at(e, "time", NULL), "2026-12-02T06:00:01.5Z");
        /* details: the whole item */
        CU_ASSERT_STRING_EQUAL(str_at(e, "details", "stage"), stages[i]);
        CU_ASSERT_STRING_EQUAL(str_at(e, "details", "level"), "Metadata");
        CU_ASSERT_EQUAL(
            json_array_size(json_object_get(json_object_get(e, "details"), "sourceIPs")), 2);
        tl_k8s_list_release(&l);
    }
}

static void test_shapes(void)
{
    tl_k8s_list l;
    json_t *e;
    /* no objectRef, a non-resource URL: the verb alone, resource url */
    e = one("{\"auditID\":\"a\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/healthz?verbose\","
            "\"verb\":\"get\",\"user\":{\"username\":\"system:anonymous\"},"
            "\"responseStatus\":{\"code\":403}}",
            &l);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(str_at(e, "action", NULL), "get");
    CU_ASSERT_STRING_EQUAL(str_at(e, "resource", "type"), "url");
    CU_ASSERT_STRING_EQUAL(str_at(e, "resource", "id"), "/healthz?verbose");
    CU_ASSERT_STRING_EQUAL(str_at(e, "outcome", NULL), "denied");
    CU_ASSERT_STRING_EQUAL(str_at(e, "actor", "id"), "system:anonymous");
    /* no sourceIPs, no userAgent, no timestamps: left out */
    CU_ASSERT_PTR_NULL(json_object_get(json_object_get(e, "actor"), "ip"));
    CU_ASSERT_PTR_NULL(json_object_get(json_object_get(e, "actor"), "user_agent"));
    CU_ASSERT_PTR_NULL(json_object_get(e, "time"));
    tl_k8s_list_release(&l);

    /* a failed authentication: user {}, 401 */
    e = one("{\"auditID\":\"b\",\"stage\":\"ResponseStarted\",\"requestURI\":\"/api\",\"verb\":"
            "\"list\",\"user\":{},\"sourceIPs\":[],\"responseStatus\":{\"code\":401}}",
            &l);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(str_at(e, "actor", "id"), "-");
    CU_ASSERT_STRING_EQUAL(str_at(e, "outcome", NULL), "denied");
    CU_ASSERT_PTR_NULL(json_object_get(json_object_get(e, "actor"), "ip"));
    tl_k8s_list_release(&l);

    /* a group, a namespace without a name, a subresource, impersonation */
    e = one("{\"auditID\":\"c\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/apis/apps/v1/"
            "namespaces/kube-system/deployments\",\"verb\":\"create\",\"user\":{\"username\":"
            "\"admin\"},\"impersonatedUser\":{\"username\":\"bob\",\"groups\":[\"g\"]},"
            "\"objectRef\":{\"resource\":\"deployments\",\"namespace\":\"kube-system\","
            "\"apiGroup\":\"apps\",\"apiVersion\":\"v1\",\"subresource\":\"scale\"},"
            "\"responseStatus\":{\"code\":409},\"stageTimestamp\":\"2026-12-02T07:00:00+01:00\"}",
            &l);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(str_at(e, "action", NULL), "deployments.create");
    CU_ASSERT_STRING_EQUAL(str_at(e, "resource", "type"), "apps/deployments");
    CU_ASSERT_STRING_EQUAL(str_at(e, "resource", "id"), "kube-system/-");
    CU_ASSERT_STRING_EQUAL(str_at(e, "outcome", NULL), "failure");
    CU_ASSERT_STRING_EQUAL(str_at(e, "actor", "id"), "admin");
    /* an offset converted to UTC */
    CU_ASSERT_STRING_EQUAL(str_at(e, "time", NULL), "2026-12-02T06:00:00.000Z");
    CU_ASSERT_STRING_EQUAL(
        json_string_value(json_object_get(
            json_object_get(json_object_get(e, "details"), "impersonatedUser"), "username")),
        "bob");
    CU_ASSERT_STRING_EQUAL(
        json_string_value(json_object_get(
            json_object_get(json_object_get(e, "details"), "objectRef"), "subresource")),
        "scale");
    tl_k8s_list_release(&l);

    /* cluster-scoped: a name without a namespace; no responseStatus code */
    e = one("{\"auditID\":\"d\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/api/v1/nodes/n1\","
            "\"verb\":\"delete\",\"user\":{\"username\":\"u\"},\"objectRef\":{\"resource\":"
            "\"nodes\",\"name\":\"n1\"},\"responseStatus\":{\"metadata\":{}}}",
            &l);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_STRING_EQUAL(str_at(e, "resource", "id"), "n1");
    CU_ASSERT_STRING_EQUAL(str_at(e, "resource", "type"), "nodes");
    CU_ASSERT_STRING_EQUAL(str_at(e, "outcome", NULL), "unknown");
    tl_k8s_list_release(&l);

    /* an empty list and items null: nothing */
    CU_ASSERT_EQUAL(map(LIST_HEAD LIST_TAIL, &l), TL_OK);
    CU_ASSERT_EQUAL(l.n, 0);
    CU_ASSERT_EQUAL(
        map("{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"items\":null}", &l),
        TL_OK);
    CU_ASSERT_EQUAL(l.n, 0);
}

static void test_numbers(void)
{
    tl_k8s_list l;
    json_t *e, *d;
    e = one("{\"auditID\":\"n\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/x\",\"verb\":"
            "\"get\",\"requestObject\":{\"small\":9007199254740991,\"neg\":-9007199254740991,"
            "\"two53\":9007199254740992,\"huge\":123456789012345678901234567890,\"f\":0.5,"
            "\"e\":1E+400,\"z\":-0.0,\"arr\":[1, 2.50 ,-3e-2],\"s\":\"12.5 in a string\","
            "\"esc\":\"\\\"1.5\\\\\",\"k1.5\":7}}",
            &l);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    d = json_object_get(json_object_get(e, "details"), "requestObject");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(d, "small")), 9007199254740991LL);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(d, "neg")), -9007199254740991LL);
    CU_ASSERT_STRING_EQUAL(str_at(d, "two53", NULL), "9007199254740992");
    CU_ASSERT_STRING_EQUAL(str_at(d, "huge", NULL), "123456789012345678901234567890");
    CU_ASSERT_STRING_EQUAL(str_at(d, "f", NULL), "0.5");
    CU_ASSERT_STRING_EQUAL(str_at(d, "e", NULL), "1E+400");
    CU_ASSERT_STRING_EQUAL(str_at(d, "z", NULL), "-0.0");
    CU_ASSERT_EQUAL(json_integer_value(json_array_get(json_object_get(d, "arr"), 0)), 1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_object_get(d, "arr"), 1)), "2.50");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_array_get(json_object_get(d, "arr"), 2)),
                           "-3e-2");
    CU_ASSERT_STRING_EQUAL(str_at(d, "s", NULL), "12.5 in a string");
    CU_ASSERT_STRING_EQUAL(str_at(d, "esc", NULL), "\"1.5\\");
    tl_k8s_list_release(&l);

    /* the lexical step itself: valid exactly when the input was */
    {
        tl_buf out = TL_BUF_INIT;
        size_t *sh, nsh;
        const char *in = "{\"a\":1.5,\"b\":[2e3],\"c\":\"3.5\"}";
        CU_ASSERT_EQUAL(tl_k8s_quote_numbers(in, strlen(in), &out, &sh, &nsh), TL_OK);
        CU_ASSERT_STRING_EQUAL((char *)out.data, "{\"a\":\"1.5\",\"b\":[\"2e3\"],\"c\":\"3.5\"}");
        CU_ASSERT_EQUAL(nsh, 2);
        /* offsets in the quoted text map back to the input's */
        CU_ASSERT_EQUAL(tl_k8s_offset(3, sh, nsh), 3);
        CU_ASSERT_EQUAL(tl_k8s_offset(strlen((char *)out.data), sh, nsh), strlen(in));
        free(sh);
        tl_buf_release(&out);
        /* a number in a name's place, and malformed numbers, stay as they are */
        static const char *const same[] = {"{1.5:2}", "[1.5.3]", "[01]", "[-]", "[1e]", "[.5]"};
        for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
            tl_buf o = TL_BUF_INIT;
            CU_ASSERT_EQUAL(tl_k8s_quote_numbers(same[i], strlen(same[i]), &o, &sh, &nsh), TL_OK);
            CU_ASSERT_STRING_EQUAL((char *)o.data, same[i]);
            CU_ASSERT_EQUAL(nsh, 0);
            free(sh);
            tl_buf_release(&o);
        }
    }
    /* and so the list is still refused, naming the byte of the original */
    CU_ASSERT_EQUAL(map(LIST_HEAD "{\"auditID\":1.5,\"x\":01}" LIST_TAIL, &l), TL_ERR_INVALID);
    CU_ASSERT(strstr(why, "invalid JSON at byte 94:") != NULL);
    CU_ASSERT_EQUAL(map(LIST_HEAD "{1.5:2}" LIST_TAIL, &l), TL_ERR_INVALID);
}

static void test_limits(void)
{
    tl_k8s_list l;
    size_t big = 200000;
    char *name = malloc(big + 1), *item = malloc(big * 2 + 1024), *obj = malloc(big + 64);
    memset(name, 'n', big);
    name[big] = 0;
    /* over-long values cut to their limit; the action's characters replaced */
    snprintf(item, big * 2 + 1024,
             "{\"auditID\":\"%.300s\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/x\","
             "\"verb\":\"get it\",\"user\":{\"username\":\"%.2000s\"},\"objectRef\":{\"resource\":"
             "\"p\\u00e9ds\",\"namespace\":\"ns\",\"name\":\"%.2000s\"},\"userAgent\":\"\\u00e9%."
             "1100s\"}",
             name, name, name, name);
    json_t *e = one(item, &l);
    CU_ASSERT_PTR_NOT_NULL_FATAL(e);
    CU_ASSERT_EQUAL(strlen(str_at(e, "actor", "id")), TL_AUDIT_STRING_MAX);
    CU_ASSERT_EQUAL(strlen(str_at(e, "resource", "id")), TL_AUDIT_STRING_MAX);
    CU_ASSERT_EQUAL(strlen(str_at(e, "id", NULL)), TL_AUDIT_ID_MAX);
    CU_ASSERT_EQUAL(strlen(str_at(e, "request_id", NULL)), 300);
    /* cut at a UTF-8 boundary: 2 + 1021 fits, the next 'n' too: 1024 */
    CU_ASSERT_EQUAL(strlen(str_at(e, "actor", "user_agent")), TL_AUDIT_STRING_MAX);
    CU_ASSERT_STRING_EQUAL(str_at(e, "action", NULL), "p_ds.get_it");
    /* the whole values stay in details */
    CU_ASSERT_EQUAL(strlen(json_string_value(json_object_get(
                        json_object_get(json_object_get(e, "details"), "user"), "username"))),
                    2000);
    tl_k8s_list_release(&l);

    /* a huge requestObject: over max_event is a 413 naming the item */
    snprintf(obj, big + 64, "{\"data\":\"%s\"}", name);
    snprintf(item, big * 2 + 1024,
             "{\"auditID\":\"a\",\"stage\":\"RequestReceived\",\"requestURI\":\"/x\",\"verb\":"
             "\"get\"},{\"auditID\":\"h\",\"stage\":\"ResponseComplete\",\"requestURI\":\"/x\","
             "\"verb\":\"update\",\"requestObject\":%s,\"responseObject\":%s}",
             obj, obj);
    char *s = list_of(item);
    CU_ASSERT_EQUAL(map(s, &l), TL_ERR_TOOBIG);
    CU_ASSERT(strncmp(why, "item 1: the canonical event is ", 31) == 0);
    CU_ASSERT_EQUAL(l.n, 0);
    /* ... and taken with a limit that holds it */
    CU_ASSERT_EQUAL(tl_k8s_map(s, strlen(s), "kube", 1u << 20, 400, &l, why, sizeof why), TL_OK);
    CU_ASSERT_EQUAL(l.n, 2);
    tl_k8s_list_release(&l);
    /* more items than allowed: 413 */
    CU_ASSERT_EQUAL(tl_k8s_map(s, strlen(s), "kube", 1u << 20, 1, &l, why, sizeof why),
                    TL_ERR_TOOBIG);
    CU_ASSERT_STRING_EQUAL(why, "2 items: a list is at most 1");
    free(s);
    free(name);
    free(item);
    free(obj);
}

static void test_bad(void)
{
    {
        /* a NUL byte is never JSON: refused with its offset, before any parse */
        static const char nul[] = "{\"kind\":\"EventList\",\"items\":[]}\0";
        tl_k8s_list l;
        char why[256];
        CU_ASSERT_EQUAL(tl_k8s_map(nul, sizeof nul - 1, "kube", TL_AUDIT_MAX_EVENT_DEFAULT, 400, &l,
                                   why, sizeof why),
                        TL_ERR_INVALID);
        CU_ASSERT_STRING_EQUAL(why, "invalid JSON at byte 31: a NUL byte");
        CU_ASSERT(l.n == 0 && l.ev == NULL);
    }
    static const struct {
        const char *items, *why;
    } cases[] = {
        {"1", "item 0: must be an object (an audit.k8s.io/v1 Event)"},
        {"{\"stage\":\"Panic\",\"verb\":\"get\",\"requestURI\":\"/\"}",
         "item 0: auditID: missing or empty (it is required)"},
        {"{\"auditID\":\"a\",\"verb\":\"get\",\"requestURI\":\"/\"}",
         "item 0: stage: missing or empty (it is required)"},
        {"{\"auditID\":\"a\",\"stage\":\"Panic\",\"requestURI\":\"/\"}",
         "item 0: verb: missing or empty (it is required)"},
        {"{\"auditID\":\"a\",\"stage\":\"Panic\",\"verb\":\"get\"}",
         "item 0: requestURI: missing or empty (it is required without objectRef)"},
        {"{\"auditID\":\"a\",\"stage\":7,\"verb\":\"get\",\"requestURI\":\"/\"}",
         "item 0: stage: must be a string"},
        {"{\"auditID\":\"a\",\"stage\":\"Panic\",\"verb\":\"get\",\"requestURI\":\"/\","
         "\"user\":\"x\"}",
         "item 0: user: must be an object"},
        {"{\"auditID\":\"a\",\"stage\":\"Panic\",\"verb\":\"get\",\"requestURI\":\"/\","
         "\"user\":{\"username\":5}}",
         "item 0: user.username: must be a string"},
        {"{\"auditID\":\"a\",\"stage\":\"Panic\",\"verb\":\"get\",\"requestURI\":\"/\","
         "\"sourceIPs\":\"1.2.3.4\"}",
         "item 0: sourceIPs: must be an array of strings"},
        {"{\"auditID\":\"a\",\"stage\":\"Panic\",\"verb\":\"get\",\"requestURI\":\"/\","
         "\"sourceIPs\":[4]}",
         "item 0: sourceIPs[0]: must be a string"},
        {"{\"auditID\":\"a\",\"stage\":\"Panic\",\"verb\":\"get\",\"objectRef\":{}}",
         "item 0: objectRef.resource: missing or empty (it is required)"},
        {"{\"auditID\":\"a\",\"stage\":\"Panic\",\"verb\":\"get\",\"requestURI\":\"/\","
         "\"responseStatus\":{\"code\":\"200\"}}",
         "item 0: responseStatus.code: must be an integer"},
        {"{\"auditID\":\"a\",\"stage\":\"Panic\",\"verb\":\"get\",\"requestURI\":\"/\","
         "\"responseStatus\":{\"code\":200.0}}",
         "item 0: responseStatus.code: must be an integer"},
        {"{\"auditID\":\"a\",\"stage\":\"Panic\",\"verb\":\"get\",\"requestURI\":\"/\","
         "\"stageTimestamp\":\"yesterday\"}",
         "item 0: stageTimestamp: not an RFC 3339 time"},
        /* the second item of a good first one */
        {"{\"auditID\":\"a\",\"stage\":\"Panic\",\"verb\":\"get\",\"requestURI\":\"/\"},"
         "{\"auditID\":\"b\",\"stage\":\"Panic\",\"verb\":\"get\",\"requestURI\":\"/\","
         "\"objectRef\":[]}",
         "item 1: objectRef: must be an object"},
    };
    tl_k8s_list l;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = list_of(cases[i].items);
        CU_ASSERT_EQUAL(map(s, &l), TL_ERR_INVALID);
        CU_ASSERT_STRING_EQUAL(why, cases[i].why);
        CU_ASSERT_EQUAL(l.n, 0);
        CU_ASSERT_PTR_NULL(l.ev);
        free(s);
    }
    /* bad lists */
    static const struct {
        const char *text, *why;
    } lists[] = {
        {"[]", "the body must be an audit.k8s.io/v1 EventList (a JSON object)"},
        {"{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"items\":[]}",
         "kind: must be \"EventList\""},
        {"{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1beta1\",\"items\":[]}",
         "apiVersion: must be \"audit.k8s.io/v1\""},
        {"{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"items\":{}}",
         "items: must be an array of audit.k8s.io/v1 Events"},
    };
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        CU_ASSERT_EQUAL(map(lists[i].text, &l), TL_ERR_INVALID);
        CU_ASSERT_STRING_EQUAL(why, lists[i].why);
    }
    /* not JSON, duplicate names, invalid UTF-8: the parser's byte offset */
    CU_ASSERT_EQUAL(map("{\"kind\":", &l), TL_ERR_INVALID);
    CU_ASSERT(strncmp(why, "invalid JSON at byte ", 21) == 0);
    CU_ASSERT_EQUAL(map(LIST_HEAD "{\"a\":1,\"a\":2}" LIST_TAIL, &l), TL_ERR_INVALID);
    CU_ASSERT(strncmp(why, "invalid JSON at byte ", 21) == 0);
    CU_ASSERT_EQUAL(map(LIST_HEAD "{\"a\":\"\xc3\x28\"}" LIST_TAIL, &l), TL_ERR_INVALID);
}

/* Retries map to the same canonical events: what idempotency relies on. */
static void test_deterministic(void)
{
    tl_k8s_list a, b;
    const char *s = LIST_HEAD "{\"auditID\":\"r\",\"stage\":\"ResponseComplete\",\"requestURI\":"
                              "\"/x\",\"verb\":\"get\",\"n\":1.25}" LIST_TAIL;
    CU_ASSERT_EQUAL_FATAL(map(s, &a), TL_OK);
    CU_ASSERT_EQUAL_FATAL(map(s, &b), TL_OK);
    CU_ASSERT_EQUAL(a.ev[0].canon.len, b.ev[0].canon.len);
    CU_ASSERT(memcmp(a.ev[0].canon.data, b.ev[0].canon.data, a.ev[0].canon.len) == 0);
    CU_ASSERT(strstr((char *)a.ev[0].canon.data, "\"n\":\"1.25\"") != NULL);
    tl_k8s_list_release(&a);
    tl_k8s_list_release(&b);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("k8s", NULL, NULL);
    CU_add_test(s, "stages", test_stages);
    CU_add_test(s, "shapes", test_shapes);
    CU_add_test(s, "numbers", test_numbers);
    CU_add_test(s, "limits", test_limits);
    CU_add_test(s, "bad items and lists", test_bad);
    CU_add_test(s, "deterministic", test_deterministic);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
