/*
 * test_audit.c - audit/: RFC 8785 canonicalization (the RFC's own examples
 * and vectors of ours for name ordering by UTF-16 code units, string
 * escaping and integers), event validation (every rule of the contract
 * broken once, each naming its member), records and receipts.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/event.h"
#include "audit/jcs.h"
#include "audit/record.h"
#include "common/b64.h"

/* Canonical form of JSON text (as an event store re-reads it). */
static char *canon(const char *json)
{
    static char out[4096];
    char why[256];
    tl_buf b = TL_BUF_INIT;
    int rc = tl_audit_canonicalize(json, strlen(json), &b, why, sizeof(why));
    if (rc != TL_OK) {
        snprintf(out, sizeof(out), "ERROR %s", why);
    } else {
        memcpy(out, b.data, b.len);
        out[b.len] = 0;
    }
    tl_buf_release(&b);
    return out;
}

static void test_jcs_rfc_examples(void)
{
    /* RFC 8785 §3.2.3: member names sorted by UTF-16 code units */
    CU_ASSERT_STRING_EQUAL(
        canon("{\"\\u20ac\": \"Euro Sign\", \"\\r\": \"Carriage Return\", "
              "\"\\ufb33\": \"Hebrew Letter Dalet With Dagesh\", \"1\": \"One\", "
              "\"\\ud83d\\ude00\": \"Emoji: Grinning Face\", \"\\u0080\": "
              "\"Control\", \"\\u00f6\": \"Latin Small Letter O With "
              "Diaeresis\"}"),
        "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\","
        "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\",\"\xe2\x82\xac\":"
        "\"Euro Sign\",\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
        "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}");
    /* RFC 8785 §3.2.2 (its string and literals; we write no reals) */
    CU_ASSERT_STRING_EQUAL(canon("{\n  \"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022"
                                 "\\u005c\\\\\\\"\\/\",\n  \"literals\": [null, true, false]\n}"),
                           "{\"literals\":[null,true,false],\"string\":\"\xe2\x82\xac$\\u000f\\nA'B"
                           "\\\"\\\\\\\\\\\"/\"}");
}

/* Member-name order: bytes decide where both names are ASCII at the first
 * difference; UTF-16 code units otherwise (an astral character sorts below
 * U+E000..U+FFFF although its UTF-8 lead byte is higher). */
static void test_jcs_name_order(void)
{
    static const char *const sorted[] = {
        "",
        "1",
        "A",
        "a",
        "ab",
        "actor",
        "actor1",
        "a\xc3\xa9",         /* a + U+00E9 */
        "a\xf0\x9f\x98\x80", /* a + U+1F600: D83D DE00 */
        "a\xef\xbf\xbd",     /* a + U+FFFD */
        "b",
        "\xc2\x80",
        "\xf0\x9f\x98\x80",
        "\xf0\x9f\x98\x80x",
        "\xef\xac\xb3",
        "\xef\xbf\xbd",
    };
    size_t n = sizeof(sorted) / sizeof(sorted[0]);
    char members[2048];
    size_t off = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            int c = tl_jcs_name_cmp(sorted[i], strlen(sorted[i]), sorted[j], strlen(sorted[j]));
            CU_ASSERT_EQUAL(c < 0 ? -1 : c > 0, i < j ? -1 : i > j);
        }
    /* and an object with them in reverse comes out sorted */
    off += (size_t)snprintf(members + off, sizeof members - off, "{");
    for (size_t i = n; i-- > 0;)
        off += (size_t)snprintf(members + off, sizeof members - off, "%s\"%s\":%zu",
                                i + 1 < n ? "," : "", sorted[i], i);
    snprintf(members + off, sizeof members - off, "}");
    {
        char want[2048];
        size_t w = 0;
        char *got = canon(members);
        w += (size_t)snprintf(want + w, sizeof want - w, "{");
        for (size_t i = 0; i < n; i++)
            w += (size_t)snprintf(want + w, sizeof want - w, "%s\"%s\":%zu", i ? "," : "",
                                  sorted[i], i);
        snprintf(want + w, sizeof want - w, "}");
        CU_ASSERT_STRING_EQUAL(got, want);
    }
    {
        /* 20 members: past the stack's 16, sorted by qsort */
        char obj[512], want[512];
        size_t o = 0, w = 0;
        o += (size_t)snprintf(obj + o, sizeof obj - o, "{");
        for (int i = 19; i >= 0; i--)
            o += (size_t)snprintf(obj + o, sizeof obj - o, "%s\"m%02d\":%d", i < 19 ? "," : "", i,
                                  i);
        snprintf(obj + o, sizeof obj - o, "}");
        w += (size_t)snprintf(want + w, sizeof want - w, "{");
        for (int i = 0; i < 20; i++)
            w += (size_t)snprintf(want + w, sizeof want - w, "%s\"m%02d\":%d", i ? "," : "", i, i);
        snprintf(want + w, sizeof want - w, "}");
        CU_ASSERT_STRING_EQUAL(canon(obj), want);
    }
    CU_ASSERT_STRING_EQUAL(
        canon("{\"b\":-9007199254740991,\"a\":0,\"c\":[-1,10,9007199254740991]}"),
        "{\"a\":0,\"b\":-9007199254740991,\"c\":[-1,10,9007199254740991]}");
}

static void test_jcs_vectors(void)
{
    /* every control character: the short escapes or \u00xx, lowercase */
    CU_ASSERT_STRING_EQUAL(canon("[\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\\u007f\"]"),
                           "[\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\x7f\"]");
    /* U+2028/U+2029 and non-ASCII are written as themselves */
    CU_ASSERT_STRING_EQUAL(canon("[\"\\u2028\\u2029\\u00e9\"]"),
                           "[\"\xe2\x80\xa8\xe2\x80\xa9\xc3\xa9\"]");
    /* U+10000 (surrogates D800 DC00) sorts before U+E000 in UTF-16, after it
     * in code points and UTF-8 */
    CU_ASSERT_STRING_EQUAL(canon("{\"\\ue000\":1,\"\\ud800\\udc00\":2}"),
                           "{\"\xf0\x90\x80\x80\":2,\"\xee\x80\x80\":1}");
    /* prefixes first, nested objects sorted too, arrays keep their order */
    CU_ASSERT_STRING_EQUAL(
        canon("{\"ab\":[3,1,{\"z\":0,\"a\":-0}],\"a\":{\"y\":1,\"x\":2},\"\":0}"),
        "{\"\":0,\"a\":{\"x\":2,\"y\":1},\"ab\":[3,1,{\"a\":0,\"z\":0}]}");
    /* integers in the ECMAScript form; the limits of a double */
    CU_ASSERT_STRING_EQUAL(canon("[0,-1,9007199254740991,-9007199254740991]"),
                           "[0,-1,9007199254740991,-9007199254740991]");
    CU_ASSERT(strncmp(canon("[9007199254740992]"), "ERROR", 5) == 0);
    CU_ASSERT(strncmp(canon("[1.5]"), "ERROR", 5) == 0);
    CU_ASSERT(strncmp(canon("[1.0]"), "ERROR", 5) == 0);
    CU_ASSERT(strncmp(canon("[1e2]"), "ERROR", 5) == 0);
    CU_ASSERT(strncmp(canon("[123456789012345678901234567890]"), "ERROR", 5) == 0);
    /* I-JSON: duplicate names, invalid UTF-8, lone surrogates */
    CU_ASSERT(strncmp(canon("{\"a\":1,\"a\":2}"), "ERROR", 5) == 0);
    CU_ASSERT(strncmp(canon("[\"\xc3\x28\"]"), "ERROR", 5) == 0);
    CU_ASSERT(strncmp(canon("[\"\xed\xa0\x80\"]"), "ERROR", 5) == 0); /* UTF-8 surrogate */
    CU_ASSERT(strncmp(canon("[\"\\ud800\"]"), "ERROR", 5) == 0);
    CU_ASSERT(strncmp(canon("[\"\\udc00x\"]"), "ERROR", 5) == 0);
    /* reformatting does not change it */
    CU_ASSERT_STRING_EQUAL(canon(" { \"b\" : true ,\n\t\"a\" : null } "),
                           "{\"a\":null,\"b\":true}");
    CU_ASSERT_EQUAL(tl_jcs_name_cmp("a", 1, "a", 1), 0);
    CU_ASSERT(tl_jcs_name_cmp("a", 1, "ab", 2) < 0);
    CU_ASSERT(tl_jcs_name_cmp("b", 1, "ab", 2) > 0);
}

#define GOOD                                                                                       \
    "\"actor\":{\"id\":\"alice\",\"type\":\"user\"},\"action\":\"order.cancel\","                  \
    "\"resource\":{\"type\":\"order\",\"id\":\"42\"},\"outcome\":\"success\""

/* Parses {GOOD<extra>} (or text itself when raw); returns the reason, or
 * "" when valid (canonical form into canon_out if given). */
static const char *check(const char *text, tl_buf *canon_out)
{
    static char why[256];
    tl_audit_event ev;
    int rc = tl_audit_event_parse(text, strlen(text), "writer1", 4096, &ev, why, sizeof(why));
    if (rc == TL_OK) {
        if (canon_out)
            tl_buf_add(canon_out, ev.canon.data, ev.canon.len);
        tl_audit_event_release(&ev);
        why[0] = 0;
    }
    return why;
}

static void expect_bad(const char *text, const char *member)
{
    const char *why = check(text, NULL);
    if (!*why || strstr(why, member) != why) {
        fprintf(stderr, "\n  for %s\n  got \"%s\", wanted it to start with \"%s\"\n", text, why,
                member);
        CU_FAIL("a bad event's reason names its member");
    }
}

static void test_event_validation(void)
{
    tl_buf c = TL_BUF_INIT;
    char big[1100], text[4200];
    CU_ASSERT_STRING_EQUAL(check("{" GOOD "}", &c), "");
    CU_ASSERT(c.len && strcmp((char *)c.data,
                              "{\"action\":\"order.cancel\",\"actor\":{\"id\":\"alice\",\"type\":"
                              "\"user\"},\"outcome\":\"success\",\"resource\":{\"id\":\"42\","
                              "\"type\":\"order\"},\"submitter\":\"writer1\"}") == 0);
    tl_buf_reset(&c);
    CU_ASSERT_STRING_EQUAL(check("{" GOOD ",\"time\":\"2026-12-02T06:00:00.123Z\",\"source\":"
                                 "\"shop\",\"id\":\"e-1\",\"request_id\":\"r\",\"details\":{\"n\":"
                                 "-5,\"x\":[1,{\"y\":null}]}}",
                                 NULL),
                           "");
    CU_ASSERT_STRING_EQUAL(check("{" GOOD ",\"time\":\"2024-02-29T23:59:60Z\"}", NULL), "");
    /* every member's rules */
    expect_bad("[]", "an event must be");
    expect_bad("{" GOOD ",\"submitter\":\"x\"}", "submitter");
    expect_bad("{" GOOD ",\"extra\":1}", "extra");
    expect_bad("{\"action\":\"a\",\"resource\":{\"type\":\"t\",\"id\":\"i\"},\"outcome\":"
               "\"success\"}",
               "actor");
    expect_bad("{" GOOD ",\"actor\":{\"id\":\"a\"},\"actor\":{\"id\":\"b\"}}", "invalid JSON");
    expect_bad("{\"actor\":\"alice\",\"action\":\"a\",\"resource\":{\"type\":\"t\",\"id\":"
               "\"i\"},\"outcome\":\"success\"}",
               "actor");
    expect_bad("{\"actor\":{\"type\":\"u\"},\"action\":\"a\",\"resource\":{\"type\":\"t\","
               "\"id\":\"i\"},\"outcome\":\"success\"}",
               "actor.id");
    expect_bad("{\"actor\":{\"id\":\"\"},\"action\":\"a\",\"resource\":{\"type\":\"t\","
               "\"id\":\"i\"},\"outcome\":\"success\"}",
               "actor.id");
    expect_bad("{\"actor\":{\"id\":7},\"action\":\"a\",\"resource\":{\"type\":\"t\","
               "\"id\":\"i\"},\"outcome\":\"success\"}",
               "actor.id");
    expect_bad("{\"actor\":{\"id\":\"a\",\"role\":\"x\"},\"action\":\"a\",\"resource\":"
               "{\"type\":\"t\",\"id\":\"i\"},\"outcome\":\"success\"}",
               "actor");
    expect_bad("{\"actor\":{\"id\":\"a\",\"ip\":1},\"action\":\"a\",\"resource\":"
               "{\"type\":\"t\",\"id\":\"i\"},\"outcome\":\"success\"}",
               "actor.ip");
    expect_bad("{\"actor\":{\"id\":\"a\"},\"action\":\"order cancel\",\"resource\":"
               "{\"type\":\"t\",\"id\":\"i\"},\"outcome\":\"success\"}",
               "action");
    expect_bad("{\"actor\":{\"id\":\"a\"},\"action\":\"\",\"resource\":{\"type\":\"t\","
               "\"id\":\"i\"},\"outcome\":\"success\"}",
               "action");
    memset(big, 'a', 129);
    big[129] = 0;
    snprintf(text, sizeof(text),
             "{\"actor\":{\"id\":\"a\"},\"action\":\"%s\",\"resource\":{\"type\":\"t\","
             "\"id\":\"i\"},\"outcome\":\"success\"}",
             big);
    expect_bad(text, "action");
    big[128] = 0;
    snprintf(text, sizeof(text),
             "{\"actor\":{\"id\":\"a\"},\"action\":\"%s\",\"resource\":{\"type\":\"t\","
             "\"id\":\"i\"},\"outcome\":\"success\"}",
             big);
    CU_ASSERT_STRING_EQUAL(check(text, NULL), "");
    expect_bad("{\"actor\":{\"id\":\"a\"},\"action\":\"a\",\"resource\":{\"type\":\"t\"},"
               "\"outcome\":\"success\"}",
               "resource.id");
    expect_bad("{\"actor\":{\"id\":\"a\"},\"action\":\"a\",\"resource\":{\"type\":\"t\","
               "\"id\":\"i\",\"x\":\"y\"},\"outcome\":\"success\"}",
               "resource");
    expect_bad("{\"actor\":{\"id\":\"a\"},\"action\":\"a\",\"resource\":{\"type\":\"t\","
               "\"id\":\"i\"},\"outcome\":\"ok\"}",
               "outcome");
    expect_bad("{\"actor\":{\"id\":\"a\"},\"action\":\"a\",\"resource\":{\"type\":\"t\","
               "\"id\":\"i\"}}",
               "outcome");
    expect_bad("{" GOOD ",\"time\":\"2026-12-02T06:00:00+01:00\"}", "time");
    expect_bad("{" GOOD ",\"time\":\"2026-12-02 06:00:00Z\"}", "time");
    expect_bad("{" GOOD ",\"time\":\"2026-02-30T06:00:00Z\"}", "time");
    expect_bad("{" GOOD ",\"time\":\"2026-12-02T24:00:00Z\"}", "time");
    expect_bad("{" GOOD ",\"time\":\"2026-12-02T06:00:00.Z\"}", "time");
    expect_bad("{" GOOD ",\"time\":1764655200}", "time");
    expect_bad("{" GOOD ",\"source\":\"\"}", "source");
    memset(big, 'i', 129);
    big[129] = 0;
    snprintf(text, sizeof(text), "{" GOOD ",\"id\":\"%s\"}", big);
    expect_bad(text, "id");
    memset(big, 'r', 1025);
    big[1025] = 0;
    snprintf(text, sizeof(text), "{" GOOD ",\"request_id\":\"%s\"}", big);
    expect_bad(text, "request_id");
    expect_bad("{" GOOD ",\"details\":[1]}", "details");
    /* numbers anywhere: integers below 2^53 only; the path is named */
    expect_bad("{" GOOD ",\"details\":{\"price\":1.5}}", "details.price");
    expect_bad("{" GOOD ",\"details\":{\"a\":[0,{\"b\":1e3}]}}", "details.a[1].b");
    expect_bad("{" GOOD ",\"details\":{\"n\":9007199254740992}}", "details.n");
    expect_bad("{" GOOD ",\"details\":{\"n\":99999999999999999999999}}", "invalid JSON at byte");
    /* strings inside details are free; long ones too */
    memset(big, 'd', 1099);
    big[1099] = 0;
    snprintf(text, sizeof(text), "{" GOOD ",\"details\":{\"blob\":\"%s\",\"e\":\"\"}}", big);
    CU_ASSERT_STRING_EQUAL(check(text, NULL), "");
    /* not JSON, truncated, trailing garbage, invalid UTF-8, lone surrogates */
    expect_bad("{" GOOD, "invalid JSON at byte");
    expect_bad("{" GOOD "} x", "invalid JSON at byte");
    expect_bad("{" GOOD ",\"source\":\"\xff\"}", "invalid JSON at byte");
    expect_bad("{" GOOD ",\"source\":\"\\udfff\"}", "invalid JSON at byte");
    tl_buf_release(&c);
}

static void test_event_limits(void)
{
    char why[256];
    tl_audit_event ev;
    const char *t = "{" GOOD "}";
    /* the canonical event with submitter is 142 bytes */
    CU_ASSERT_EQUAL(tl_audit_event_parse(t, strlen(t), "writer1", 141, &ev, why, sizeof(why)),
                    TL_ERR_TOOBIG);
    CU_ASSERT(strstr(why, "142 bytes, over the limit of 141") != NULL);
    CU_ASSERT_EQUAL(tl_audit_event_parse(t, strlen(t), "writer1", 142, &ev, why, sizeof(why)),
                    TL_OK);
    CU_ASSERT_STRING_EQUAL(ev.actor_id.s, "alice");
    CU_ASSERT_STRING_EQUAL(ev.submitter.s, "writer1");
    CU_ASSERT_EQUAL(ev.id.s, NULL);
    tl_audit_event_release(&ev);
    /* deep nesting inside details: refused by the parser, no crash */
    {
        size_t n = 5000;
        char *deep = malloc(n * 2 + 200);
        size_t k = (size_t)sprintf(deep, "{" GOOD ",\"details\":{\"d\":");
        for (size_t i = 0; i < n; i++)
            deep[k++] = '[';
        for (size_t i = 0; i < n; i++)
            deep[k++] = ']';
        strcpy(deep + k, "}}");
        CU_ASSERT_EQUAL(
            tl_audit_event_parse(deep, strlen(deep), "w", 1 << 20, &ev, why, sizeof(why)),
            TL_ERR_INVALID);
        free(deep);
    }
}

static void test_time(void)
{
    int64_t ms;
    char s[25];
    CU_ASSERT_EQUAL(tl_audit_time_ms("1970-01-01T00:00:00Z", 20, &ms), TL_OK);
    CU_ASSERT_EQUAL(ms, 0);
    CU_ASSERT_EQUAL(tl_audit_time_ms("2026-12-02T06:00:00.123Z", 24, &ms), TL_OK);
    CU_ASSERT_EQUAL(ms, 1796191200123LL);
    CU_ASSERT_EQUAL(tl_audit_time_ms("2026-12-02T07:30:00.123+01:30", 29, &ms), TL_OK);
    CU_ASSERT_EQUAL(ms, 1796191200123LL);
    CU_ASSERT_EQUAL(tl_audit_time_ms("2026-12-02T06:00:00.1239999Z", 28, &ms), TL_OK);
    CU_ASSERT_EQUAL(ms, 1796191200123LL); /* cut to the millisecond */
    CU_ASSERT_EQUAL(tl_audit_time_ms("1969-12-31T23:59:59.999Z", 24, &ms), TL_OK);
    CU_ASSERT_EQUAL(ms, -1);
    tl_audit_time_format(1796191200123LL, s);
    CU_ASSERT_STRING_EQUAL(s, "2026-12-02T06:00:00.123Z");
    tl_audit_time_format(-1, s);
    CU_ASSERT_STRING_EQUAL(s, "1969-12-31T23:59:59.999Z");
    CU_ASSERT_EQUAL(tl_audit_time_ms("2026-13-02T06:00:00Z", 20, &ms), TL_ERR_INVALID);
    CU_ASSERT_EQUAL(tl_audit_time_ms("2026-12-02T06:00:00", 19, &ms), TL_ERR_INVALID);
}

/* A mapped value is cut at a UTF-8 boundary; invalid bytes become U+FFFD;
 * an action keeps only its alphabet. */
static void check_fit(json_t *j, const char *want)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL(j);
    CU_ASSERT_EQUAL(json_string_length(j), strlen(want));
    CU_ASSERT_STRING_EQUAL(json_string_value(j), want);
    json_decref(j);
}

static void test_fit(void)
{
    check_fit(tl_audit_fit_string("abc", 3, 10), "abc");
    check_fit(tl_audit_fit_string("abcdef", 6, 4), "abcd");
    /* "é" is two bytes: a limit of 2 after "a" leaves only "a". */
    check_fit(tl_audit_fit_string("a\xc3\xa9", 3, 2), "a");
    check_fit(tl_audit_fit_string("a\xc3\xa9", 3, 3), "a\xc3\xa9");
    /* Invalid bytes: a lone continuation, a truncated sequence, an overlong
     * form, a surrogate. */
    check_fit(tl_audit_fit_string("\x80x", 2, 100), "\xef\xbf\xbdx");
    check_fit(tl_audit_fit_string("x\xe2\x82", 3, 100), "x\xef\xbf\xbd\xef\xbf\xbd");
    check_fit(tl_audit_fit_string("\xc0\xaf", 2, 100), "\xef\xbf\xbd\xef\xbf\xbd");
    check_fit(tl_audit_fit_string("\xed\xa0\x80", 3, 100), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    /* A replacement that would not fit is cut whole. */
    check_fit(tl_audit_fit_string("ab\x80", 3, 4), "ab");
    CU_ASSERT_PTR_NULL(tl_audit_fit_string("", 0, 10));
    CU_ASSERT_PTR_NULL(tl_audit_fit_string("\x80", 1, 2));
    check_fit(tl_audit_fit_action("pods.get", 8), "pods.get");
    check_fit(tl_audit_fit_action("a b\xc3\xa9!c", 7), "a_b__c");
    char longer[300];
    memset(longer, 'x', sizeof(longer));
    json_t *j = tl_audit_fit_action(longer, sizeof(longer));
    CU_ASSERT_EQUAL(json_string_length(j), TL_AUDIT_ACTION_MAX);
    json_decref(j);
}

static void test_records_and_receipts(void)
{
    tl_hasher *h = tl_hasher_new();
    uint8_t salt[32];
    tl_hash c, c2;
    uint64_t t;
    tl_buf r = TL_BUF_INIT, rec = TL_BUF_INIT;
    const char *ev = "{\"a\":\"x\"}";
    char want[200], b64[45];
    for (int i = 0; i < 32; i++)
        salt[i] = (uint8_t)i;
    tl_audit_commitment(h, salt, ev, strlen(ev), &c);
    {
        uint8_t both[64];
        memcpy(both, salt, 32);
        memcpy(both + 32, ev, strlen(ev));
        tl_sha256(h, both, 32 + strlen(ev), &c2);
        CU_ASSERT(memcmp(c.b, c2.b, 32) == 0); /* SHA-256(salt || canonical event) */
    }
    CU_ASSERT_EQUAL(tl_audit_record_format(1796191200123ULL, &c, &rec), TL_OK);
    tl_b64_encode(c.b, 32, b64);
    snprintf(want, sizeof(want), "{\"v\":1,\"time\":1796191200123,\"commitment\":\"%s\"}", b64);
    CU_ASSERT(rec.len == strlen(want) && memcmp(rec.data, want, rec.len) == 0);
    CU_ASSERT_EQUAL(tl_audit_record_parse(rec.data, rec.len, &t, &c2), TL_OK);
    CU_ASSERT_EQUAL(t, 1796191200123ULL);
    CU_ASSERT(memcmp(c.b, c2.b, 32) == 0);
    {
        /* the decimal time at its ends, as printf writes it */
        static const uint64_t ts[] = {0, 9, 10, 18446744073709551615ULL};
        for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
            tl_buf r2 = TL_BUF_INIT;
            CU_ASSERT_EQUAL(tl_audit_record_format(ts[i], &c, &r2), TL_OK);
            snprintf(want, sizeof(want), "{\"v\":1,\"time\":%llu,\"commitment\":\"%s\"}",
                     (unsigned long long)ts[i], b64);
            CU_ASSERT(r2.len == strlen(want) && memcmp(r2.data, want, r2.len) == 0);
            tl_buf_release(&r2);
        }
    }
    /* only the exact form */
    {
        const char *bad[] = {
            "{\"v\":1,\"time\":01,\"commitment\":\"%s\"}",
            "{\"v\":1, \"time\":1,\"commitment\":\"%s\"}",
            "{\"v\":2,\"time\":1,\"commitment\":\"%s\"}",
            "{\"v\":1,\"time\":-1,\"commitment\":\"%s\"}",
            "{\"v\":1,\"time\":1,\"commitment\":\"%s\"} ",
            "{\"v\":1,\"time\":1,\"commitment\":\"%s=\"}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            snprintf(want, sizeof(want), bad[i], b64);
            CU_ASSERT_EQUAL(tl_audit_record_parse(want, strlen(want), &t, &c2), TL_ERR_INVALID);
        }
        CU_ASSERT_EQUAL(
            tl_audit_record_parse("{\"v\":1,\"time\":1,\"commitment\":\"AAAA\"}", 37, &t, &c2),
            TL_ERR_INVALID);
    }
    CU_ASSERT_EQUAL(tl_audit_receipt_format(ev, strlen(ev), salt, rec.data, rec.len,
                                            "c2sp.org/tlog-proof@v1\nindex 0\n", 31, &r),
                    TL_OK);
    {
        tl_buf_add(&r, "", 1);
        json_error_t e;
        json_t *j = json_loads((char *)r.data, 0, &e);
        CU_ASSERT_FATAL(j != NULL);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(json_object_get(j, "event"), "a")),
                               "x");
        CU_ASSERT(strncmp(json_string_value(json_object_get(j, "record")), "{\"v\":1,", 7) == 0);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "proof")),
                               "c2sp.org/tlog-proof@v1\nindex 0\n");
        CU_ASSERT_EQUAL(strlen(json_string_value(json_object_get(j, "salt"))), 44);
        json_decref(j);
    }
    tl_buf_release(&r);
    tl_buf_release(&rec);
    tl_hasher_free(h);
}

int main(void)
{
    CU_pSuite s;
    int failures;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    s = CU_add_suite("audit", NULL, NULL);
    CU_add_test(s, "jcs_rfc_examples", test_jcs_rfc_examples);
    CU_add_test(s, "jcs_vectors", test_jcs_vectors);
    CU_add_test(s, "jcs_name_order", test_jcs_name_order);
    CU_add_test(s, "event_validation", test_event_validation);
    CU_add_test(s, "event_limits", test_event_limits);
    CU_add_test(s, "time", test_time);
    CU_add_test(s, "fit", test_fit);
    CU_add_test(s, "records_and_receipts", test_records_and_receipts);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = (int)CU_get_number_of_failures();
    CU_cleanup_registry();
    return failures ? 1 : 0;
}
