/*
 * test_sources.c - sources/syslog.h: the RFC 6587 framer (octet counting and
 * LF frames, several per buffer, split across reads, oversize frames cut and
 * the rest skipped) and syslog messages mapped into events: RFC 5424's own
 * examples (§6.5), structured data with escapes and repeated params, the
 * audit@<number> mapping, every header bound, RFC 3164 messages, and what
 * does not parse (syslog.unparsed with the frame in base64).
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/b64.h"
#include "common/err.h"
#include "sources/syslog.h"

#define PEER "192.0.2.7:51514"

static char why[512];
static char got[8192];

/* The event of frame s (as one frame), member path ("a.b", "" for all) as
 * sorted compact JSON text in got, "ABSENT" when not there, or "ERROR ...". */
static const char *ev_max(const char *s, size_t len, const char *path, size_t max_event)
{
    tl_audit_event ev;
    int rc = tl_syslog_event((const uint8_t *)s, len, 0, PEER, TL_SYSLOG_SUBMITTER, max_event, &ev,
                             NULL, why, sizeof why);
    if (rc != TL_OK) {
        snprintf(got, sizeof got, "ERROR %s", why);
        return got;
    }
    CU_ASSERT(ev.canon.len <= max_event);
    json_t *v = ev.obj;
    char part[64];
    const char *p = path;
    while (v && *p) {
        size_t n = strcspn(p, ".");
        snprintf(part, sizeof part, "%.*s", (int)n, p);
        v = json_object_get(v, part);
        p += n;
        if (*p == '.')
            p++;
    }
    if (!v) {
        snprintf(got, sizeof got, "ABSENT");
    } else {
        char *t = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        snprintf(got, sizeof got, "%s", t ? t : "?");
        free(t);
    }
    tl_audit_event_release(&ev);
    return got;
}

static const char *ev(const char *s, const char *path)
{
    return ev_max(s, strlen(s), path, TL_AUDIT_MAX_EVENT_DEFAULT);
}

static int format_of(const char *s)
{
    json_t *o;
    int f = tl_syslog_map((const uint8_t *)s, strlen(s), 0, PEER, &o);
    json_decref(o);
    return f;
}

#define EQ(frame, path, want) CU_ASSERT_STRING_EQUAL(ev(frame, path), want)

/* ---- framing ------------------------------------------------------------- */

typedef struct frames {
    char out[16][256];
    int trunc[16];
    size_t n;
} frames;

/* Feeds buf in pieces of step bytes (the rest of the buffer kept as a
 * connection would), collecting frames. */
static void feed(const char *buf, size_t len, size_t step, size_t max, frames *fs)
{
    tl_syslog_framer fr;
    char pend[4096];
    size_t have = 0, off = 0;
    tl_syslog_framer_init(&fr);
    memset(fs, 0, sizeof *fs);
    while (off < len || have) {
        size_t n = len - off < step ? len - off : step;
        memcpy(pend + have, buf + off, n);
        have += n;
        off += n;
        size_t used = 0;
        for (;;) {
            tl_syslog_frame fm;
            int g;
            size_t c = tl_syslog_frame_next(&fr, (uint8_t *)pend + used, have - used, max, &fm, &g);
            if (g && fs->n < 16) {
                snprintf(fs->out[fs->n], 256, "%.*s", (int)fm.len, (const char *)fm.msg);
                fs->trunc[fs->n++] = fm.truncated;
            }
            if (c == 0 && !g)
                break;
            used += c;
        }
        memmove(pend, pend + used, have - used);
        have -= used;
        if (n == 0)
            break; /* no more input: what is left is a half frame */
    }
}

static void test_framing(void)
{
    const char *s = "11 <13>1 - - x5 <1>ab\n<2>cd\r\n\n3 xyz<9>last\n";
    size_t steps[] = {1, 2, 3, 7, 64};
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        frames fs;
        feed(s, strlen(s), steps[k], 1000, &fs);
        CU_ASSERT_EQUAL_FATAL(fs.n, 5);
        CU_ASSERT_STRING_EQUAL(fs.out[0], "<13>1 - - x");
        CU_ASSERT_STRING_EQUAL(fs.out[1], "<1>ab");
        CU_ASSERT_STRING_EQUAL(fs.out[2], "<2>cd");
        CU_ASSERT_STRING_EQUAL(fs.out[3], "xyz");
        CU_ASSERT_STRING_EQUAL(fs.out[4], "<9>last");
        for (size_t i = 0; i < fs.n; i++)
            CU_ASSERT_EQUAL(fs.trunc[i], 0);
    }
    /* octet counting keeps LFs inside a frame */
    frames fs;
    feed("6 a\nb\nc\n8 <1>x\ny\nz", 18, 5, 1000, &fs);
    CU_ASSERT_EQUAL_FATAL(fs.n, 2);
    CU_ASSERT_STRING_EQUAL(fs.out[0], "a\nb\nc\n");
    CU_ASSERT_STRING_EQUAL(fs.out[1], "<1>x\ny\nz");
    /* a digit that does not start "LEN SP" is a line */
    feed("12abc\n0 x\n", 10, 100, 1000, &fs);
    CU_ASSERT_EQUAL_FATAL(fs.n, 2);
    CU_ASSERT_STRING_EQUAL(fs.out[0], "12abc");
    CU_ASSERT_STRING_EQUAL(fs.out[1], "0 x");
    /* a half frame gives nothing */
    feed("20 <13>1 - -", 12, 3, 1000, &fs);
    CU_ASSERT_EQUAL(fs.n, 0);
    feed("<13>1 no newline", 16, 3, 1000, &fs);
    CU_ASSERT_EQUAL(fs.n, 0);
}

static void test_oversize(void)
{
    frames fs;
    /* octet counted: the first max bytes, the rest skipped, then in step */
    const char *a = "12 abcdefghijkl3 xyz";
    for (size_t step = 1; step <= 20; step += 19) {
        feed(a, strlen(a), step, 5, &fs);
        CU_ASSERT_EQUAL_FATAL(fs.n, 2);
        CU_ASSERT_STRING_EQUAL(fs.out[0], "abcde");
        CU_ASSERT_EQUAL(fs.trunc[0], 1);
        CU_ASSERT_STRING_EQUAL(fs.out[1], "xyz");
        CU_ASSERT_EQUAL(fs.trunc[1], 0);
    }
    /* LF frames: up to max, then skipped to the LF */
    const char *b = "<1>0123456789\n<2>ok\n<3>exactly\n";
    feed(b, strlen(b), 4, 10, &fs);
    CU_ASSERT_EQUAL_FATAL(fs.n, 3);
    CU_ASSERT_STRING_EQUAL(fs.out[0], "<1>0123456");
    CU_ASSERT_EQUAL(fs.trunc[0], 1);
    CU_ASSERT_STRING_EQUAL(fs.out[1], "<2>ok");
    CU_ASSERT_STRING_EQUAL(fs.out[2], "<3>exactly");
    CU_ASSERT_EQUAL(fs.trunc[2], 0);
    /* a huge declared length is skipped as it comes */
    tl_syslog_framer fr;
    tl_syslog_frame fm;
    int g;
    tl_syslog_framer_init(&fr);
    CU_ASSERT_EQUAL(tl_syslog_frame_next(&fr, (const uint8_t *)"9999999999 abc", 14, 3, &fm, &g),
                    14);
    CU_ASSERT_EQUAL(g, 1);
    CU_ASSERT_EQUAL(fm.declared, 9999999999ull);
    CU_ASSERT_EQUAL(fr.skip, 9999999999ull - 3);
    /* the frame limit follows --max-event */
    CU_ASSERT_EQUAL(tl_syslog_max_frame(TL_AUDIT_MAX_EVENT_DEFAULT), TL_SYSLOG_FRAME_MAX);
    CU_ASSERT(tl_syslog_max_frame(4096) < 4096 * 3 / 4);
    /* a truncated frame is recorded unparsed, marked, within max_event */
    tl_audit_event e;
    CU_ASSERT_EQUAL_FATAL(tl_syslog_event((const uint8_t *)"<13>1 - - - - - - hi", 20, 1, PEER,
                                          "@syslog", 4096, &e, NULL, why, sizeof why),
                          TL_OK);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(e.obj, "action")), "syslog.unparsed");
    CU_ASSERT(json_is_true(json_object_get(json_object_get(e.obj, "details"), "truncated")));
    tl_audit_event_release(&e);
}

/* ---- RFC 5424 ------------------------------------------------------------ */

static void test_rfc5424_examples(void)
{
    /* §6.5 example 1 (with a BOM before the message) */
    const char *e1 = "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
                     "\xef\xbb\xbf'su root' failed for lonvick on /dev/pts/8";
    CU_ASSERT_EQUAL(format_of(e1), TL_SYSLOG_5424);
    EQ(e1, "actor", "{\"id\":\"su\",\"type\":\"process\"}");
    EQ(e1, "action", "\"syslog.ID47\"");
    EQ(e1, "resource", "{\"id\":\"mymachine.example.com\",\"type\":\"host\"}");
    EQ(e1, "outcome", "\"unknown\"");
    EQ(e1, "time", "\"2003-10-11T22:14:15.003Z\"");
    EQ(e1, "source", "\"mymachine.example.com\"");
    EQ(e1, "submitter", "\"@syslog\"");
    EQ(e1, "details",
       "{\"app_name\":\"su\",\"facility\":4,\"msg\":\"'su root' failed for lonvick on "
       "/dev/pts/8\",\"msgid\":\"ID47\",\"procid\":null,\"sd\":{},\"severity\":2}");
    CU_ASSERT(strncmp(ev(e1, "id"), "\"sha256:", 8) == 0);
    CU_ASSERT_EQUAL(strlen(got), 2 + 7 + 64);
    /* example 2: an offset, micro-seconds */
    const char *e2 = "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - "
                     "%% It's time to make the do-nuts.";
    EQ(e2, "time", "\"2003-08-24T12:14:15.000Z\"");
    EQ(e2, "action", "\"syslog.message\"");
    EQ(e2, "details.facility", "20");
    EQ(e2, "details.severity", "5");
    EQ(e2, "details.procid", "\"8710\"");
    EQ(e2, "details.msgid", "null");
    /* example 3: structured data */
    const char *e3 = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
                     "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" "
                     "eventID=\"1011\"] \xef\xbb\xbf"
                     "An application event log entry...";
    EQ(e3, "details.sd",
       "{\"exampleSDID@32473\":{\"eventID\":\"1011\",\"eventSource\":\"Application\",\"iut\":"
       "\"3\"}}");
    EQ(e3, "details.msg", "\"An application event log entry...\"");
    /* example 4: two elements, no message */
    const char *e4 = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
                     "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]"
                     "[examplePriority@32473 class=\"high\"]";
    EQ(e4, "details.sd.examplePriority@32473", "{\"class\":\"high\"}");
    EQ(e4, "details.msg", "null");
    /* all NILVALUEs: no time, no source, no id (never merged) */
    const char *nil = "<0>1 - - - - - -";
    EQ(nil, "actor", "{\"id\":\"-\",\"type\":\"process\"}");
    EQ(nil, "resource", "{\"id\":\"-\",\"type\":\"host\"}");
    EQ(nil, "time", "ABSENT");
    EQ(nil, "source", "ABSENT");
    EQ(nil, "id", "ABSENT");
    EQ(nil, "details.app_name", "null");
    /* an empty MSG after SP is "" */
    EQ("<0>1 - - - - - - ", "details.msg", "\"\"");
}

static void test_sd(void)
{
    /* escapes: \" \\ \] are the character; \x stays "\x" */
    const char *s = "<13>1 - h a - - [x@1 p=\"q\\\"uo\\\\te\\]d\" r=\"a\\nb\" e=\"\"] m";
    EQ(s, "details.sd", "{\"x@1\":{\"e\":\"\",\"p\":\"q\\\"uo\\\\te]d\",\"r\":\"a\\\\nb\"}}");
    /* an unescaped ']' inside a quoted value is still within it */
    EQ("<13>1 - h a - - [x@1 p=\"a]b\"]", "details.sd", "{\"x@1\":{\"p\":\"a]b\"}}");
    /* a repeated PARAM-NAME: an array, in order */
    EQ("<13>1 - h a - - [x@1 ip=\"1\" ip=\"2\" ip=\"3\" o=\"x\"]", "details.sd.x@1",
       "{\"ip\":[\"1\",\"2\",\"3\"],\"o\":\"x\"}");
    /* invalid UTF-8 in a value becomes U+FFFD */
    EQ("<13>1 - h a - - [x@1 p=\"\xff\"]", "details.sd.x@1.p", "\"\xef\xbf\xbd\"");
    /* malformed structured data: unparsed */
    const char *bad[] = {
        "<13>1 - h a - - [x@1 p=\"unterminated]",
        "<13>1 - h a - - [x@1 p=unquoted]",
        "<13>1 - h a - - [x@1  p=\"double space\"]",
        "<13>1 - h a - - [x@1 p=\"v\"",
        "<13>1 - h a - - [x@1][x@1]",
        "<13>1 - h a - - [123456789012345678901234567890123 p=\"long id\"]",
        "<13>1 - h a - - [x@1 123456789012345678901234567890123=\"long name\"]",
        "<13>1 - h a - - []",
        "<13>1 - h a - - [x@1]junk",
        "<13>1 - h a - - x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CU_ASSERT_EQUAL(format_of(bad[i]), TL_SYSLOG_UNPARSED);
        if (format_of(bad[i]) != TL_SYSLOG_UNPARSED)
            fprintf(stderr, "parsed: %s\n", bad[i]);
    }
}

static void test_audit_sd(void)
{
    const char *s = "<86>1 2026-12-02T06:00:00.123456+01:00 web1 shop 42 ORD [audit@32473 "
                    "actor=\"alice\" actor_type=\"user\" action=\"order.cancel\" "
                    "resource_type=\"order\" resource_id=\"o-17\" outcome=\"success\" "
                    "id=\"evt-1\" request_id=\"req-9\"][meta x=\"1\"] cancelled";
    EQ(s, "actor", "{\"id\":\"alice\",\"type\":\"user\"}");
    EQ(s, "action", "\"order.cancel\"");
    EQ(s, "resource", "{\"id\":\"o-17\",\"type\":\"order\"}");
    EQ(s, "outcome", "\"success\"");
    EQ(s, "id", "\"evt-1\"");
    EQ(s, "request_id", "\"req-9\"");
    EQ(s, "time", "\"2026-12-02T05:00:00.123Z\"");
    EQ(s, "source", "\"web1\"");
    EQ(s, "details.sd.meta", "{\"x\":\"1\"}");
    EQ(s, "details.sd.audit@32473.actor", "\"alice\"");
    EQ(s, "details.msg", "\"cancelled\"");
    /* outcome defaults to unknown, and a bad one is unknown too; no id: the
     * frame's hash; no actor_type: none */
    const char *d = "<86>1 2026-12-02T06:00:00Z h a - - [audit@1 actor=\"b\" action=\"x y!\" "
                    "resource_type=\"t\" resource_id=\"i\" outcome=\"ok\"]";
    EQ(d, "outcome", "\"unknown\"");
    EQ(d, "action", "\"x_y_\"");
    EQ(d, "actor", "{\"id\":\"b\"}");
    CU_ASSERT(strncmp(ev(d, "id"), "\"sha256:", 8) == 0);
    /* missing resource_id: the generic mapping */
    const char *m = "<86>1 - h app - MID [audit@1 actor=\"b\" action=\"x\" resource_type=\"t\"]";
    EQ(m, "actor", "{\"id\":\"app\",\"type\":\"process\"}");
    EQ(m, "action", "\"syslog.MID\"");
    /* not audit@<number>: generic */
    EQ("<86>1 - h app - - [audit@x actor=\"b\" action=\"x\" resource_type=\"t\" "
       "resource_id=\"i\"]",
       "action", "\"syslog.message\"");
    /* the first complete audit element counts */
    EQ("<86>1 - h app - - [audit@1 actor=\"a\"][audit@2 actor=\"b\" action=\"y\" "
       "resource_type=\"t\" resource_id=\"i\"]",
       "actor", "{\"id\":\"b\"}");
    /* an over-long actor is cut to 1024 bytes; the whole value stays in sd */
    char big[3000];
    int n = snprintf(big, sizeof big, "<86>1 - h a - - [audit@1 actor=\"");
    memset(big + n, 'a', 1500);
    snprintf(big + n + 1500, sizeof big - (size_t)n - 1500,
             "\" action=\"a\" resource_type=\"t\" resource_id=\"i\" id=\"%0200d\"]", 7);
    CU_ASSERT_EQUAL(strlen(ev(big, "actor.id")), 1026);
    CU_ASSERT_EQUAL(strlen(ev(big, "details.sd.audit@1.actor")), 1502);
    CU_ASSERT_EQUAL(strlen(ev(big, "id")), 128 + 2);
    /* MSGID with characters an action may not hold */
    EQ("<86>1 - h a - a#b - x", "action", "\"syslog.a_b\"");
}

static void test_header_bounds(void)
{
    const char *ok[] = {
        "<0>1 - - - - - -",
        "<191>1 - - - - - -",
        "<13>1 2026-01-01T00:00:00Z - - - - -",
        "<13>1 2026-01-01T00:00:00.1Z - - - - -",
        "<13>1 2026-01-01T00:00:00.123456Z - - - - -",
        "<13>1 2026-01-01T00:00:00-23:59 - - - - -",
    };
    const char *bad[] = {
        "<192>1 - - - - - -",                                                /* PRI range */
        "<013>1 - - - - - -",                                                /* leading zero */
        "<>1 - - - - - -",                                                   /* no PRIVAL */
        "<13>2 - - - - - -",                                                 /* VERSION */
        "<13>1 2026-01-01t00:00:00Z - - - - -",                              /* lowercase t */
        "<13>1 2026-01-01T00:00:00z - - - - -",                              /* lowercase z */
        "<13>1 2026-01-01T00:00:00.1234567Z - - - - -",                      /* 7 fraction digits */
        "<13>1 2026-01-01T00:00:60Z - - - - -",                              /* leap second */
        "<13>1 2026-02-30T00:00:00Z - - - - -",                              /* no such day */
        "<13>1 2026-01-01T00:00:00 - - - - -",                               /* no offset */
        "<13>1 2026-01-01 - - - - -",                                        /* no time */
        "<13>1 -  - - - -",                                                  /* empty HOSTNAME */
        "<13>1 - - - - -",                                                   /* a field missing */
        "<13>1 - - 123456789012345678901234567890123456789012345678x - - -", /* APP-NAME 49 */
        "<13>1 - - - - 123456789012345678901234567890123 -",                 /* MSGID 33 */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        CU_ASSERT_EQUAL(format_of(ok[i]), TL_SYSLOG_5424);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int f = format_of(bad[i]);
        CU_ASSERT_NOT_EQUAL(f, TL_SYSLOG_5424);
        if (f == TL_SYSLOG_5424)
            fprintf(stderr, "parsed as 5424: %s\n", bad[i]);
    }
    /* HOSTNAME of 255 bytes is fine, 256 is not */
    char h[400];
    int n = snprintf(h, sizeof h, "<13>1 - ");
    memset(h + n, 'h', 255);
    snprintf(h + n + 255, sizeof h - (size_t)n - 255, " - - - -");
    CU_ASSERT_EQUAL(format_of(h), TL_SYSLOG_5424);
    memset(h + n, 'h', 256);
    snprintf(h + n + 256, sizeof h - (size_t)n - 256, " - - - -");
    CU_ASSERT_NOT_EQUAL(format_of(h), TL_SYSLOG_5424);
}

static void test_rfc3164(void)
{
    const char *a = "<34>Oct 11 22:14:15 mymachine su[230]: 'su root' failed for lonvick";
    CU_ASSERT_EQUAL(format_of(a), TL_SYSLOG_3164);
    EQ(a, "actor", "{\"id\":\"su\",\"type\":\"process\"}");
    EQ(a, "action", "\"syslog.message\"");
    EQ(a, "resource", "{\"id\":\"mymachine\",\"type\":\"host\"}");
    EQ(a, "source", "\"mymachine\"");
    EQ(a, "time", "ABSENT");
    EQ(a, "id", "ABSENT");
    EQ(a, "details",
       "{\"app_name\":\"su\",\"facility\":4,\"msg\":\"'su root' failed for lonvick\","
       "\"msgid\":null,\"procid\":\"230\",\"sd\":{},\"severity\":2,\"timestamp\":\"Oct 11 "
       "22:14:15\"}");
    /* a one-digit day is space-padded; a tag without pid */
    const char *b = "<13>Feb  5 01:02:03 host cron: job done";
    EQ(b, "details.app_name", "\"cron\"");
    EQ(b, "details.procid", "null");
    EQ(b, "details.msg", "\"job done\"");
    EQ(b, "details.timestamp", "\"Feb  5 01:02:03\"");
    /* no host: the first word is the tag */
    const char *c = "<13>Feb  5 01:02:03 sshd[9]: hi";
    EQ(c, "details.app_name", "\"sshd\"");
    EQ(c, "resource.id", "\"-\"");
    EQ(c, "source", "ABSENT");
    /* no tag: all of it is the message */
    const char *d = "<13>Feb  5 01:02:03 host just words here";
    EQ(d, "details.app_name", "null");
    EQ(d, "details.msg", "\"just words here\"");
    const char *e = "<13>Feb  5 01:02:03 host (no tag)";
    EQ(e, "details.app_name", "null");
    EQ(e, "details.msg", "\"(no tag)\"");
    CU_ASSERT_EQUAL(format_of("<13>Fob  5 01:02:03 host x: y"), TL_SYSLOG_UNPARSED);
    /* rsyslog's forwarding format: an RFC 3339 timestamp, so a time */
    const char *f = "<13>2026-12-03T11:00:00.123456+01:00 h1 app[7]: forwarded";
    CU_ASSERT_EQUAL(format_of(f), TL_SYSLOG_3164);
    EQ(f, "time", "\"2026-12-03T10:00:00.123Z\"");
    EQ(f, "details.timestamp", "\"2026-12-03T11:00:00.123456+01:00\"");
    EQ(f, "details.procid", "\"7\"");
    EQ(f, "id", "ABSENT");
    CU_ASSERT_EQUAL(format_of("<13>2026-13-03T11:00:00Z h1 app: x"), TL_SYSLOG_UNPARSED);
}

static void test_unparsed(void)
{
    const char *s = "hello \x01 world";
    char b64[64];
    tl_b64_encode((const uint8_t *)s, strlen(s), b64);
    char want[128];
    snprintf(want, sizeof want, "{\"raw\":\"%s\"}", b64);
    EQ(s, "details", want);
    EQ(s, "action", "\"syslog.unparsed\"");
    EQ(s, "actor", "{\"id\":\"unknown\"}");
    EQ(s, "resource", "{\"id\":\"" PEER "\",\"type\":\"syslog\"}");
    EQ(s, "outcome", "\"unknown\"");
    EQ(s, "time", "ABSENT");
    EQ(s, "id", "ABSENT");
    /* a parsed message too large for max_event is kept unparsed and cut */
    char big[6000];
    int n = snprintf(big, sizeof big, "<13>1 - h a - - - ");
    memset(big + n, 1, 5000); /* \u0001 six times over in JSON */
    CU_ASSERT_STRING_EQUAL(ev_max(big, (size_t)n + 5000, "action", 20000), "\"syslog.unparsed\"");
    CU_ASSERT_STRING_EQUAL(ev_max(big, (size_t)n + 5000, "details.truncated", 20000), "ABSENT");
    CU_ASSERT_STRING_EQUAL(ev_max(big, (size_t)n + 5000, "details.truncated", 3000), "true");
    CU_ASSERT(strncmp(ev_max(big, (size_t)n + 5000, "", 100), "ERROR", 5) == 0);
}

static void test_conflict_and_cn(void)
{
    const char *s = "<86>1 - h a - - [audit@1 actor=\"b\" action=\"x\" resource_type=\"t\" "
                    "resource_id=\"i\" id=\"e1\"]";
    tl_audit_event e;
    CU_ASSERT_EQUAL_FATAL(tl_syslog_event_without_id((const uint8_t *)s, strlen(s), 0, PEER,
                                                     "@syslog", TL_AUDIT_MAX_EVENT_DEFAULT, &e, why,
                                                     sizeof why),
                          TL_OK);
    CU_ASSERT_PTR_NULL(json_object_get(e.obj, "id"));
    CU_ASSERT_STRING_EQUAL(
        json_string_value(json_object_get(json_object_get(e.obj, "details"), "conflicting_id")),
        "e1");
    tl_audit_event_release(&e);
    char sub[5 + 3 * TL_SYSLOG_CN_MAX + 1];
    tl_syslog_tls_submitter("client.example", 14, sub, sizeof sub);
    CU_ASSERT_STRING_EQUAL(sub, "@tls:client.example");
    tl_syslog_tls_submitter("a\nb\xff", 4, sub, sizeof sub);
    CU_ASSERT_STRING_EQUAL(sub, "@tls:a_b\xef\xbf\xbd");
    tl_syslog_tls_submitter("", 0, sub, sizeof sub);
    CU_ASSERT_STRING_EQUAL(sub, "@tls:-");
    char longcn[200];
    memset(longcn, 'c', sizeof longcn);
    tl_syslog_tls_submitter(longcn, sizeof longcn, sub, sizeof sub);
    CU_ASSERT_EQUAL(strlen(sub), 5 + TL_SYSLOG_CN_MAX);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("sources", NULL, NULL);
    CU_add_test(s, "framing", test_framing);
    CU_add_test(s, "oversize frames", test_oversize);
    CU_add_test(s, "RFC 5424 examples", test_rfc5424_examples);
    CU_add_test(s, "structured data", test_sd);
    CU_add_test(s, "audit@ elements", test_audit_sd);
    CU_add_test(s, "header bounds", test_header_bounds);
    CU_add_test(s, "RFC 3164", test_rfc3164);
    CU_add_test(s, "unparsed", test_unparsed);
    CU_add_test(s, "conflicts and CNs", test_conflict_and_cn);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
