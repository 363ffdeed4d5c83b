/*
 * syslog.c - syslog messages mapped into audit events (sources/syslog.h,
 * CONTRACT.md "Audit logs", docs/SOURCES.md "Syslog").
 *
 * RFC 5424 (§6) is parsed strictly and within its own bounds: PRI 0..191
 * without leading zeros, VERSION 1, TIMESTAMP as §6.2.3 restricts RFC 3339
 * (uppercase T and Z, at most 6 fraction digits, no leap second),
 * HOSTNAME, APP-NAME, PROCID and MSGID of PRINTUSASCII within 255, 48, 128
 * and 32 bytes, STRUCTURED-DATA of SD-ELEMENTs whose SD-IDs and PARAM-NAMEs
 * are 1 to 32 SD-NAME characters (an SD-ID at most once a message, §6.3.2),
 * PARAM-VALUEs with '"', '\' and ']' escaped by '\' (§6.3.3: a '\' before
 * any other character stays a '\'), then nothing or SP and MSG (a leading
 * UTF-8 BOM removed). Invalid UTF-8 in values becomes U+FFFD.
 *
 * RFC 3164 (§4.1) messages, "<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG",
 * are read as docs/SOURCES.md says: no year, so no `time`; rsyslog's
 * forwarding format, the same with an RFC 3339 TIMESTAMP, has one.
 *
 * Anything else is syslog.unparsed with the frame in base64.
 */
#include "sources/syslog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "audit/jcs.h"
#include "common/b64.h"
#include "common/err.h"
#include "common/hex.h"

#define HOST_MAX 255
#define APP_MAX 48
#define PROCID_MAX 128
#define MSGID_MAX 32
#define SDNAME_MAX 32
#define TAG_MAX 48

typedef struct span {
    const char *s; /* NULL: the NILVALUE '-' (or absent) */
    size_t len;
} span;

typedef struct msg {
    int pri;
    int has_time;
    int64_t time_ms;
    span ts3164; /* RFC 3164: the timestamp as written */
    span host, app, procid, msgid;
    json_t *sd;        /* {SD-ID: {PARAM: value | [values]}} (owned) */
    char audit_id[40]; /* the first complete audit@<number> element, or "" */
    int has_msg;
    span text;
} msg;

/* ---- small readers ------------------------------------------------------ */

typedef struct rd {
    const char *s;
    size_t len, i;
} rd;

static int at_end(const rd *r)
{
    return r->i >= r->len;
}

static int peek(const rd *r)
{
    return r->i < r->len ? (unsigned char)r->s[r->i] : -1;
}

static int eat(rd *r, char c)
{
    if (peek(r) != (unsigned char)c)
        return 0;
    r->i++;
    return 1;
}

static int is_print(int c)
{
    return c >= 33 && c <= 126;
}

static int is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* "<PRIVAL>": 0..191, no leading zero. */
static int read_pri(rd *r, int *pri)
{
    int v = 0;
    size_t start;
    if (!eat(r, '<'))
        return 0;
    start = r->i;
    while (is_digit(peek(r)) && r->i - start < 3)
        v = v * 10 + (r->s[r->i++] - '0');
    if (r->i == start || (r->i - start > 1 && r->s[start] == '0') || v > 191 || !eat(r, '>'))
        return 0;
    *pri = v;
    return 1;
}

/* A header field: NILVALUE or 1..max PRINTUSASCII, then SP. */
static int read_field(rd *r, size_t max, span *out)
{
    size_t start = r->i;
    while (is_print(peek(r)))
        r->i++;
    size_t n = r->i - start;
    if (n == 0 || n > max || !eat(r, ' '))
        return 0;
    if (n == 1 && r->s[start] == '-') {
        out->s = NULL;
        out->len = 0;
    } else {
        out->s = r->s + start;
        out->len = n;
    }
    return 1;
}

static int ndigits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit((unsigned char)s[i]))
            return 0;
    return 1;
}

/* RFC 5424 §6.2.3: FULL-DATE "T" PARTIAL-TIME [.1*6DIGIT] TIME-OFFSET. */
static int ts5424(const char *s, size_t len, int64_t *ms)
{
    size_t i = 19;
    if (len < 20 || !ndigits(s, 4) || s[4] != '-' || !ndigits(s + 5, 2) || s[7] != '-' ||
        !ndigits(s + 8, 2) || s[10] != 'T' || !ndigits(s + 11, 2) || s[13] != ':' ||
        !ndigits(s + 14, 2) || s[16] != ':' || !ndigits(s + 17, 2))
        return 0;
    if (s[17] == '6') /* "MUST NOT use leap seconds" (§6.2.3.1) */
        return 0;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < len && is_digit((unsigned char)s[i]))
            i++;
        if (i == start || i - start > 6)
            return 0;
    }
    if (i < len && s[i] == 'Z') {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && ndigits(s + i + 1, 2) &&
               s[i + 3] == ':' && ndigits(s + i + 4, 2)) {
        i += 6;
    } else {
        return 0;
    }
    return i == len && tl_audit_time_ms(s, len, ms) == TL_OK;
}

/* A string member value: valid UTF-8 (U+FFFD for what is not), at most max
 * bytes; "" stays "" (details only). NULL on allocation failure. */
static json_t *str_value(const char *s, size_t len, size_t max)
{
    if (len == 0)
        return json_string("");
    return tl_audit_fit_string(s, len, max);
}

static json_t *span_value(span sp)
{
    return sp.s ? str_value(sp.s, sp.len, SIZE_MAX) : json_null();
}

/* ---- RFC 5424 structured data (§6.3) ------------------------------------ */

static int sd_name_char(int c)
{
    return is_print(c) && c != '=' && c != ']' && c != '"';
}

static int read_sd_name(rd *r, span *out)
{
    size_t start = r->i;
    while (sd_name_char(peek(r)) && r->i - start <= SDNAME_MAX)
        r->i++;
    out->s = r->s + start;
    out->len = r->i - start;
    return out->len >= 1 && out->len <= SDNAME_MAX;
}

/* Adds value under name to elem: a repeated name collects an array. */
static int add_param(json_t *elem, const char *name, json_t *value)
{
    json_t *old = json_object_get(elem, name);
    if (!old)
        return json_object_set_new(elem, name, value);
    if (json_is_array(old))
        return json_array_append_new(old, value);
    json_t *arr = json_array();
    if (!arr || json_array_append(arr, old) || json_array_append_new(arr, value)) {
        json_decref(arr);
        if (!arr)
            json_decref(value);
        return -1;
    }
    return json_object_set_new(elem, name, arr);
}

/* The first value of a param of elem: a string, or NULL. */
static const char *param1(json_t *elem, const char *name, size_t *len)
{
    json_t *v = json_object_get(elem, name);
    *len = 0;
    if (json_is_array(v))
        v = json_array_get(v, 0);
    if (!json_is_string(v))
        return NULL;
    *len = json_string_length(v);
    return *len ? json_string_value(v) : NULL;
}

static int is_audit_id(const char *id)
{
    if (strncmp(id, "audit@", 6) != 0 || !id[6])
        return 0;
    for (const char *p = id + 6; *p; p++)
        if (!is_digit((unsigned char)*p))
            return 0;
    return 1;
}

/* One SD-ELEMENT into m->sd; 0 when malformed. -1: out of memory. */
static int read_element(rd *r, msg *m, char *scratch)
{
    span id, name;
    char key[SDNAME_MAX + 1], pname[SDNAME_MAX + 1];
    if (!eat(r, '[') || !read_sd_name(r, &id))
        return 0;
    memcpy(key, id.s, id.len);
    key[id.len] = 0;
    if (json_object_get(m->sd, key))
        return 0; /* an SD-ID at most once (§6.3.2) */
    json_t *elem = json_object();
    if (!elem || json_object_set_new(m->sd, key, elem))
        return -1;
    while (!eat(r, ']')) {
        if (!eat(r, ' ') || !read_sd_name(r, &name) || !eat(r, '=') || !eat(r, '"'))
            return 0;
        memcpy(pname, name.s, name.len);
        pname[name.len] = 0;
        size_t n = 0;
        for (;;) {
            int c = peek(r);
            if (c < 0)
                return 0;
            r->i++;
            if (c == '"')
                break;
            if (c == '\\') {
                int d = peek(r);
                if (d == '"' || d == '\\' || d == ']') {
                    c = d;
                    r->i++;
                }
            }
            scratch[n++] = (char)c;
        }
        json_t *v = str_value(scratch, n, SIZE_MAX);
        if (!v || add_param(elem, pname, v))
            return -1;
    }
    if (!m->audit_id[0] && is_audit_id(key)) {
        size_t l;
        if (param1(elem, "actor", &l) && param1(elem, "action", &l) &&
            param1(elem, "resource_type", &l) && param1(elem, "resource_id", &l))
            snprintf(m->audit_id, sizeof m->audit_id, "%s", key);
    }
    return 1;
}

/* RFC 5424 whole; 1 parsed, 0 not a 5424 message, -1 out of memory. */
static int parse5424(const char *s, size_t len, msg *m)
{
    rd r = {s, len, 0};
    span ts;
    if (!read_pri(&r, &m->pri) || !eat(&r, '1') || !eat(&r, ' '))
        return 0;
    if (!read_field(&r, 64, &ts))
        return 0;
    if (ts.s) {
        if (!ts5424(ts.s, ts.len, &m->time_ms))
            return 0;
        m->has_time = 1;
    }
    if (!read_field(&r, HOST_MAX, &m->host) || !read_field(&r, APP_MAX, &m->app) ||
        !read_field(&r, PROCID_MAX, &m->procid))
        return 0;
    /* MSGID, then SP and STRUCTURED-DATA */
    if (!read_field(&r, MSGID_MAX, &m->msgid))
        return 0;
    m->sd = json_object();
    if (!m->sd)
        return -1;
    if (eat(&r, '-')) {
        /* NILVALUE */
    } else {
        char *scratch = malloc(len + 1);
        int rc = 1;
        if (!scratch)
            return -1;
        if (peek(&r) != '[')
            rc = 0;
        while (rc == 1 && peek(&r) == '[')
            rc = read_element(&r, m, scratch);
        free(scratch);
        if (rc != 1)
            return rc;
    }
    if (at_end(&r))
        return 1;
    if (!eat(&r, ' '))
        return 0;
    m->has_msg = 1;
    m->text.s = s + r.i;
    m->text.len = len - r.i;
    if (m->text.len >= 3 && memcmp(m->text.s, "\xef\xbb\xbf", 3) == 0) {
        m->text.s += 3;
        m->text.len -= 3;
    }
    return 1;
}

/* ---- RFC 3164 (§4.1) ----------------------------------------------------- */

static int parse3164(const char *s, size_t len, msg *m)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    rd r = {s, len, 0};
    int month_ok = 0;
    if (!read_pri(&r, &m->pri) || len - r.i < 16)
        return 0;
    const char *t = s + r.i;
    if (is_digit((unsigned char)t[0])) {
        /* rsyslog's forwarding format: an RFC 3339 TIMESTAMP in its place */
        span ts;
        if (!read_field(&r, 64, &ts) || !ts.s || !ts5424(ts.s, ts.len, &m->time_ms))
            return 0;
        m->has_time = 1;
        m->ts3164 = ts;
    } else {
        for (int i = 0; i < 12; i++)
            if (memcmp(t, months + 3 * i, 3) == 0)
                month_ok = 1;
        if (!month_ok || t[3] != ' ' || !(t[4] == ' ' || (t[4] >= '0' && t[4] <= '3')) ||
            !is_digit((unsigned char)t[5]) || t[6] != ' ' || !ndigits(t + 7, 2) || t[9] != ':' ||
            !ndigits(t + 10, 2) || t[12] != ':' || !ndigits(t + 13, 2) || t[15] != ' ')
            return 0;
        m->ts3164.s = t;
        m->ts3164.len = 15;
        r.i += 16;
    }
    /* HOSTNAME SP, unless the first word is already the tag ("tag:" or
     * "tag[pid]:"), as senders that leave the host out write it */
    size_t start = r.i;
    while (is_print(peek(&r)))
        r.i++;
    span word = {s + start, r.i - start};
    int is_tag = word.len > 0 && (word.s[word.len - 1] == ':' || memchr(word.s, '[', word.len));
    if (word.len == 0 || word.len > HOST_MAX || is_tag) {
        r.i = start;
    } else {
        m->host = word;
        if (!eat(&r, ' '))
            r.i = r.len;
    }
    /* TAG[PID]: */
    size_t ts = r.i;
    while (is_print(peek(&r)) && peek(&r) != '[' && peek(&r) != ':' && r.i - ts <= TAG_MAX)
        r.i++;
    span tag = {s + ts, r.i - ts}, pid = {NULL, 0};
    int ok = tag.len >= 1 && tag.len <= TAG_MAX;
    if (ok && eat(&r, '[')) {
        size_t ps = r.i;
        while (is_print(peek(&r)) && peek(&r) != ']' && r.i - ps <= PROCID_MAX)
            r.i++;
        pid.s = s + ps;
        pid.len = r.i - ps;
        ok = pid.len >= 1 && pid.len <= PROCID_MAX && eat(&r, ']');
    }
    if (ok && eat(&r, ':')) {
        m->app = tag;
        m->procid = pid;
        eat(&r, ' ');
    } else {
        r.i = ts; /* no tag: all of it is the message */
    }
    m->sd = json_object();
    if (!m->sd)
        return -1;
    m->has_msg = 1;
    m->text.s = s + r.i;
    m->text.len = len - r.i;
    return 1;
}

/* ---- the events ---------------------------------------------------------- */

static int set(json_t *o, const char *k, json_t *v)
{
    return v ? json_object_set_new(o, k, v) : -1;
}

static json_t *unparsed(const uint8_t *frame, size_t len, int truncated, const char *peer)
{
    char *raw = tl_b64_encode_alloc(frame, len);
    json_t *o = raw ? json_object() : NULL;
    json_t *actor = json_object(), *res = json_object(), *det = json_object();
    int bad = !o || !actor || !res || !det;
    bad = bad || set(actor, "id", json_string("unknown"));
    bad = bad || set(res, "type", json_string("syslog")) ||
          set(res, "id", tl_audit_fit_string(peer, strlen(peer), TL_AUDIT_STRING_MAX));
    bad = bad || set(det, "raw", json_string(raw));
    if (truncated)
        bad = bad || set(det, "truncated", json_true());
    free(raw);
    if (!bad) {
        bad = set(o, "actor", actor) || set(o, "action", json_string("syslog.unparsed")) ||
              set(o, "resource", res) || set(o, "outcome", json_string("unknown")) ||
              set(o, "details", det);
        actor = res = det = NULL;
    }
    json_decref(actor);
    json_decref(res);
    json_decref(det);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* A member of at most max bytes from s (NULL: fallback instead). */
static json_t *member(const char *s, size_t len, size_t max, const char *fallback)
{
    json_t *v = s && len ? tl_audit_fit_string(s, len, max) : NULL;
    return v ? v : json_string(fallback);
}

static json_t *mapped(const msg *m, int format, const uint8_t *frame, size_t flen)
{
    json_t *o = json_object(), *actor = json_object(), *res = json_object();
    json_t *det = json_object();
    json_t *audit = m->audit_id[0] ? json_object_get(m->sd, m->audit_id) : NULL;
    int bad = !o || !actor || !res || !det;
    const char *v;
    size_t l = 0;
    if (!bad && audit) {
        v = param1(audit, "actor", &l);
        bad = set(actor, "id", member(v, l, TL_AUDIT_STRING_MAX, "-"));
        if (!bad && (v = param1(audit, "actor_type", &l)))
            bad = set(actor, "type", tl_audit_fit_string(v, l, TL_AUDIT_STRING_MAX));
        v = param1(audit, "action", &l);
        json_t *a = tl_audit_fit_action(v, l);
        bad = bad || set(o, "action", a ? a : json_string("syslog.message"));
        v = param1(audit, "resource_type", &l);
        bad = bad || set(res, "type", member(v, l, TL_AUDIT_STRING_MAX, "-"));
        v = param1(audit, "resource_id", &l);
        bad = bad || set(res, "id", member(v, l, TL_AUDIT_STRING_MAX, "-"));
        v = param1(audit, "outcome", &l);
        const char *out = "unknown";
        if (v &&
            (strcmp(v, "success") == 0 || strcmp(v, "failure") == 0 || strcmp(v, "denied") == 0))
            out = v;
        bad = bad || set(o, "outcome", json_string(out));
        if (!bad && (v = param1(audit, "id", &l)))
            bad = set(o, "id", tl_audit_fit_string(v, l, TL_AUDIT_ID_MAX));
        if (!bad && (v = param1(audit, "request_id", &l)))
            bad = set(o, "request_id", tl_audit_fit_string(v, l, TL_AUDIT_STRING_MAX));
    } else if (!bad) {
        bad = set(actor, "id", member(m->app.s, m->app.len, TL_AUDIT_STRING_MAX, "-")) ||
              set(actor, "type", json_string("process"));
        json_t *a = NULL;
        if (m->msgid.s) {
            char act[8 + MSGID_MAX + 1];
            int n = snprintf(act, sizeof act, "syslog.%.*s", (int)m->msgid.len, m->msgid.s);
            a = tl_audit_fit_action(act, (size_t)n);
        }
        bad = bad || set(o, "action", a ? a : json_string("syslog.message"));
        bad = bad || set(res, "type", json_string("host")) ||
              set(res, "id", member(m->host.s, m->host.len, TL_AUDIT_STRING_MAX, "-")) ||
              set(o, "outcome", json_string("unknown"));
    }
    if (!bad && m->has_time) {
        char t[25];
        tl_audit_time_format(m->time_ms, t);
        bad = set(o, "time", json_string(t));
    }
    if (!bad && m->host.s)
        bad = set(o, "source", tl_audit_fit_string(m->host.s, m->host.len, TL_AUDIT_STRING_MAX));
    /* no id of its own: a 5424 message with a TIMESTAMP is known by its bytes */
    if (!bad && !json_object_get(o, "id") && format == TL_SYSLOG_5424 && m->has_time) {
        uint8_t h[SHA256_DIGEST_LENGTH];
        char id[8 + TL_HEX_LEN(SHA256_DIGEST_LENGTH) + 1];
        SHA256(frame, flen, h);
        memcpy(id, "sha256:", 7);
        tl_hex_encode(h, sizeof h, id + 7);
        bad = set(o, "id", json_string(id));
    }
    bad = bad || set(det, "facility", json_integer(m->pri >> 3)) ||
          set(det, "severity", json_integer(m->pri & 7)) ||
          set(det, "app_name", span_value(m->app)) || set(det, "procid", span_value(m->procid)) ||
          set(det, "msgid", span_value(m->msgid)) ||
          set(det, "msg", m->has_msg ? str_value(m->text.s, m->text.len, SIZE_MAX) : json_null());
    bad = bad || json_object_set(det, "sd", m->sd);
    if (!bad && format == TL_SYSLOG_3164)
        bad = set(det, "timestamp", json_stringn(m->ts3164.s, m->ts3164.len));
    if (!bad) {
        bad = set(o, "actor", actor) || set(o, "resource", res) || set(o, "details", det);
        actor = res = det = NULL;
    }
    json_decref(actor);
    json_decref(res);
    json_decref(det);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int tl_syslog_map(const uint8_t *frame, size_t len, int truncated, const char *peer, json_t **out)
{
    msg m;
    int rc = 0, format = TL_SYSLOG_UNPARSED;
    *out = NULL;
    if (!truncated) {
        memset(&m, 0, sizeof m);
        rc = parse5424((const char *)frame, len, &m);
        if (rc == 1) {
            format = TL_SYSLOG_5424;
        } else if (rc == 0) {
            json_decref(m.sd);
            memset(&m, 0, sizeof m);
            rc = parse3164((const char *)frame, len, &m);
            if (rc == 1)
                format = TL_SYSLOG_3164;
        }
        if (rc == 1)
            *out = mapped(&m, format, frame, len);
        json_decref(m.sd);
        if (rc < 0)
            return 0;
    }
    if (format == TL_SYSLOG_UNPARSED)
        *out = unparsed(frame, len, truncated, peer);
    return *out ? format : 0;
}

/* An unparsed event whose raw frame is cut until the event fits. */
static int take_unparsed(const uint8_t *frame, size_t len, int truncated, const char *peer,
                         const char *submitter, size_t max_event, tl_audit_event *ev, char *why,
                         size_t cap)
{
    size_t n = len;
    for (int tries = 0; tries < 8; tries++) {
        json_t *o = unparsed(frame, n, truncated || n < len, peer);
        if (!o) {
            snprintf(why, cap, "out of memory");
            return TL_ERR_NOMEM;
        }
        int rc = tl_audit_event_take(o, submitter, max_event, ev, why, cap);
        size_t over = 0;
        if (rc == TL_ERR_TOOBIG) {
            /* how much over: the canonical size less the limit */
            tl_buf c;
            tl_buf_init(&c);
            json_object_set_new(o, "submitter", json_string(submitter));
            if (tl_jcs_append(o, &c) == TL_OK && c.len > max_event)
                over = c.len - max_event;
            tl_buf_release(&c);
        }
        json_decref(o);
        if (rc != TL_ERR_TOOBIG)
            return rc;
        if (n == 0)
            break;
        size_t cut = (over + 3) / 4 * 3 + 3;
        n = n > cut ? n - cut : 0;
    }
    snprintf(why, cap, "--max-event %zu cannot hold even an unparsed frame's event", max_event);
    return TL_ERR_TOOBIG;
}

int tl_syslog_event(const uint8_t *frame, size_t len, int truncated, const char *peer,
                    const char *submitter, size_t max_event, tl_audit_event *ev, int *format,
                    char *why, size_t cap)
{
    json_t *o;
    int f = tl_syslog_map(frame, len, truncated, peer, &o);
    if (format)
        *format = f ? f : TL_SYSLOG_UNPARSED;
    if (!f) {
        snprintf(why, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    int rc = tl_audit_event_take(o, submitter, max_event, ev, why, cap);
    json_decref(o);
    if (rc == TL_OK || rc == TL_ERR_NOMEM)
        return rc;
    /* over max_event (or, never expected, refused): the frame as unparsed */
    if (format)
        *format = TL_SYSLOG_UNPARSED;
    return take_unparsed(frame, len, truncated, peer, submitter, max_event, ev, why, cap);
}

int tl_syslog_event_without_id(const uint8_t *frame, size_t len, int truncated, const char *peer,
                               const char *submitter, size_t max_event, tl_audit_event *ev,
                               char *why, size_t cap)
{
    json_t *o;
    if (!tl_syslog_map(frame, len, truncated, peer, &o)) {
        snprintf(why, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    json_t *id = json_object_get(o, "id");
    json_t *det = json_object_get(o, "details");
    if (id && det) {
        json_object_set(det, "conflicting_id", id);
        json_object_del(o, "id");
    }
    int rc = tl_audit_event_take(o, submitter, max_event, ev, why, cap);
    json_decref(o);
    if (rc == TL_OK || rc == TL_ERR_NOMEM)
        return rc;
    return take_unparsed(frame, len, truncated, peer, submitter, max_event, ev, why, cap);
}

void tl_syslog_tls_submitter(const char *cn, size_t len, char *out, size_t cap)
{
    json_t *v = len ? tl_audit_fit_string(cn, len, TL_SYSLOG_CN_MAX) : NULL;
    const char *s = v ? json_string_value(v) : "";
    size_t n = v ? json_string_length(v) : 0;
    size_t o = (size_t)snprintf(out, cap, "@tls:");
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = c < 0x20 || c == 0x7f ? '_' : (char)c;
    }
    if (o < cap)
        out[o] = 0;
    if (n == 0 && o + 1 < cap) {
        out[o++] = '-';
        out[o] = 0;
    }
    json_decref(v);
}
