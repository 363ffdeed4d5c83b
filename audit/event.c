/*
 * event.c - parsing, validation and canonicalization of audit events
 * (event.h). The rules are the contract's, each checked once here:
 *   - one JSON object, members from a fixed set, `actor`, `action`,
 *     `resource`, `outcome` required, `submitter` set by the log only;
 *   - actor {id, [type, ip, user_agent]}, resource {type, id}: strings, no
 *     other members;
 *   - action: 1..128 of A-Za-z0-9._:/-; outcome: success|failure|denied|unknown;
 *     time: RFC 3339 UTC with Z; id: 1..128 bytes;
 *   - strings outside details: 1..1024 bytes;
 *   - numbers anywhere: integers of magnitude below 2^53 (jansson parses
 *     "1.0" and "1e2" as reals: they are refused; integers that do not fit
 *     jansson's 64 bits are refused by the parser, naming the offset).
 */
#include "audit/event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/jcs.h"
#include "common/err.h"

static int fail(char *why, size_t cap, const char *fmt, const char *a, const char *b)
{
    snprintf(why, cap, fmt, a, b);
    return TL_ERR_INVALID;
}

void tl_audit_json_error(const json_error_t *e, char *why, size_t cap)
{
    char text[121];
    size_t n = 0;
    const char *near = strstr(e->text, " near ");
    size_t len = near ? (size_t)(near - e->text) : strlen(e->text);
    for (; n < len && n < sizeof text - 1; n++) {
        unsigned char c = (unsigned char)e->text[n];
        text[n] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
    }
    text[n] = 0;
    snprintf(why, cap, "invalid JSON at byte %d: %s", e->position, text);
}

/* A member name for a reason: at most 40 bytes, cut at a UTF-8 character's
 * start, control characters as '?' (so that a reason is one line). */
static void reason_name(const char *key, char out[48])
{
    size_t n = strnlen(key, 41);
    if (n > 40) {
        n = 40;
        while (n > 0 && ((unsigned char)key[n] & 0xc0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    out[n] = 0;
}

/* 1 when every number in v is an integer of magnitude below 2^53: the
 * common case, checked without building member paths (numbers_ok builds
 * them to name the first violation). Recursion is bounded by jansson's
 * parsing depth, 2048. */
static int numbers_fine(const json_t *v)
{
    const char *key;
    json_t *x;
    size_t i;
    switch (json_typeof(v)) {
    case JSON_REAL:
        return 0;
    case JSON_INTEGER: {
        json_int_t n = json_integer_value(v);
        return n <= TL_JCS_INT_MAX && n >= -TL_JCS_INT_MAX;
    }
    case JSON_ARRAY:
        json_array_foreach(v, i, x)
        {
            if (!numbers_fine(x))
                return 0;
        }
        return 1;
    case JSON_OBJECT:
        json_object_foreach((json_t *)v, key, x)
        {
            if (!numbers_fine(x))
                return 0;
        }
        return 1;
    default:
        return 1;
    }
}

/* Every number in v is an integer of magnitude below 2^53; path names v. */
/* (Recursion is bounded by jansson's parsing depth, 2048.) */
static int numbers_ok(const json_t *v, const char *path, char *why, size_t cap)
{
    if (numbers_fine(v))
        return TL_OK;
    char sub[160];
    const char *key;
    json_t *x;
    size_t i;
    switch (json_typeof(v)) {
    case JSON_REAL:
        return fail(why, cap,
                    "%s: numbers must be integers of magnitude below 2^53 (send others as "
                    "strings)%s",
                    path, "");
    case JSON_INTEGER: {
        json_int_t n = json_integer_value(v);
        if (n > TL_JCS_INT_MAX || n < -TL_JCS_INT_MAX)
            return fail(why, cap, "%s: integer of magnitude 2^53 or more (send it as a string)%s",
                        path, "");
        return TL_OK;
    }
    case JSON_ARRAY:
        json_array_foreach(v, i, x)
        {
            if (strlen(path) > 100) /* deep: named by the first levels */
                snprintf(sub, sizeof(sub), "%s", path);
            else
                snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            if (numbers_ok(x, sub, why, cap) != TL_OK)
                return TL_ERR_INVALID;
        }
        return TL_OK;
    case JSON_OBJECT:
        json_object_foreach((json_t *)v, key, x)
        {
            char name[48];
            reason_name(key, name);
            if (strlen(path) > 100)
                snprintf(sub, sizeof(sub), "%s", path);
            else
                snprintf(sub, sizeof(sub), "%s.%s", path, name);
            if (numbers_ok(x, sub, why, cap) != TL_OK)
                return TL_ERR_INVALID;
        }
        return TL_OK;
    default:
        return TL_OK;
    }
}

/* A string member outside details: present when required, a string of
 * 1..max bytes. *out gets it (NULL when absent and optional). */
static int str_member(json_t *obj, const char *name, const char *path, int required, size_t max,
                      tl_audit_str *out, char *why, size_t cap)
{
    json_t *v = json_object_get(obj, name);
    out->s = NULL;
    out->len = 0;
    if (!v) {
        if (required)
            return fail(why, cap, "%s: missing (it is required)%s", path, "");
        return TL_OK;
    }
    if (!json_is_string(v))
        return fail(why, cap, "%s: must be a string%s", path, "");
    out->s = json_string_value(v);
    out->len = json_string_length(v);
    if (out->len == 0)
        return fail(why, cap, "%s: must not be empty%s", path, "");
    if (out->len > max) {
        char m[24];
        snprintf(m, sizeof(m), "%zu", max);
        return fail(why, cap, "%s: longer than %s bytes", path, m);
    }
    return TL_OK;
}

/* obj holds only members named in allowed (NULL-terminated). */
static int only_members(json_t *obj, const char *const *allowed, const char *path, char *why,
                        size_t cap)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        size_t i;
        char name[48];
        for (i = 0; allowed[i]; i++)
            if (strcmp(key, allowed[i]) == 0)
                break;
        if (allowed[i])
            continue;
        reason_name(key, name);
        if (path)
            return fail(why, cap, "%s: unknown member \"%s\"", path, name);
        return fail(why, cap, "%s: unknown member%s", name, "");
    }
    return TL_OK;
}

static int action_ok(const tl_audit_str *a)
{
    for (size_t i = 0; i < a->len; i++) {
        char c = a->s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '/' || c == '-'))
            return 0;
    }
    return 1;
}

static int digits(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        *v = *v * 10 + (s[i] - '0');
    }
    return 1;
}

static int days_in(int y, int m)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : d[m - 1];
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int y, int m, int d)
{
    int64_t yy = y - (m <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm).
 * utc_only: only 'Z'. Returns 1 and *ms when valid. */
static int rfc3339(const char *s, size_t len, int utc_only, int64_t *ms)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    size_t i = 19;
    int64_t frac_ms = 0;
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':')
        return 0;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec))
        return 0;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in(y, mo) || h > 23 || mi > 59 || sec > 60)
        return 0;
    if (i < len && s[i] == '.') {
        size_t start = ++i;
        int scale = 100;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            frac_ms += (s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start || i - start > 9)
            return 0;
    }
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        if (s[i] == 'z' && utc_only)
            return 0;
        i++;
    } else if (!utc_only && i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        sign = s[i] == '+' ? 1 : -1;
        if (!digits(s + i + 1, 2, &oh) || !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return 0;
        i += 6;
    } else {
        return 0;
    }
    if (i != len)
        return 0;
    if (sec == 60)
        sec = 59; /* a leap second: the same millisecond range as :59 */
    *ms = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000 + (int64_t)sec * 1000 + frac_ms -
          (int64_t)sign * (oh * 60 + om) * 60000;
    return 1;
}

int tl_audit_time_valid(const char *s, size_t len)
{
    int64_t ms;
    return rfc3339(s, len, 1, &ms);
}

int tl_audit_time_ms(const char *s, size_t len, int64_t *ms)
{
    return rfc3339(s, len, 0, ms) ? TL_OK : TL_ERR_INVALID;
}

void tl_audit_time_format(int64_t ms, char out[25])
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    char s[64];
    gmtime_r(&t, &tm);
    snprintf(s, sizeof(s), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(((ms % 1000) + 1000) % 1000));
    memcpy(out, s, 24);
    out[24] = 0;
}

int tl_audit_event_take(json_t *obj, const char *submitter, size_t max_event, tl_audit_event *ev,
                        char *why, size_t cap)
{
    static const char *const top[] = {"actor",  "action", "resource",   "outcome", "time",
                                      "source", "id",     "request_id", "details", NULL};
    static const char *const actor_m[] = {"id", "type", "ip", "user_agent", NULL};
    static const char *const resource_m[] = {"type", "id", NULL};
    tl_audit_str tmp;
    json_t *actor, *resource, *details, *outcome;
    int rc;

    memset(ev, 0, sizeof(*ev));
    tl_buf_init(&ev->canon);
    if (!json_is_object(obj))
        return fail(why, cap, "an event must be a JSON object%s%s", "", "");
    if (json_object_get(obj, "submitter"))
        return fail(why, cap, "submitter: set by the log, not by the event%s%s", "", "");
    if (only_members(obj, top, NULL, why, cap) != TL_OK)
        return TL_ERR_INVALID;
    /* actor */
    actor = json_object_get(obj, "actor");
    if (!actor)
        return fail(why, cap, "actor: missing (it is required)%s%s", "", "");
    if (!json_is_object(actor))
        return fail(why, cap, "actor: must be an object%s%s", "", "");
    if (only_members(actor, actor_m, "actor", why, cap) != TL_OK ||
        str_member(actor, "id", "actor.id", 1, TL_AUDIT_STRING_MAX, &ev->actor_id, why, cap) ||
        str_member(actor, "type", "actor.type", 0, TL_AUDIT_STRING_MAX, &tmp, why, cap) ||
        str_member(actor, "ip", "actor.ip", 0, TL_AUDIT_STRING_MAX, &tmp, why, cap) ||
        str_member(actor, "user_agent", "actor.user_agent", 0, TL_AUDIT_STRING_MAX, &tmp, why, cap))
        return TL_ERR_INVALID;
    /* action */
    if (str_member(obj, "action", "action", 1, TL_AUDIT_ACTION_MAX, &ev->action, why, cap))
        return TL_ERR_INVALID;
    if (!action_ok(&ev->action))
        return fail(why, cap, "action: only the characters A-Za-z0-9._:/- are allowed%s%s", "", "");
    /* resource */
    resource = json_object_get(obj, "resource");
    if (!resource)
        return fail(why, cap, "resource: missing (it is required)%s%s", "", "");
    if (!json_is_object(resource))
        return fail(why, cap, "resource: must be an object%s%s", "", "");
    if (only_members(resource, resource_m, "resource", why, cap) != TL_OK ||
        str_member(resource, "type", "resource.type", 1, TL_AUDIT_STRING_MAX, &ev->resource_type,
                   why, cap) ||
        str_member(resource, "id", "resource.id", 1, TL_AUDIT_STRING_MAX, &ev->resource_id, why,
                   cap))
        return TL_ERR_INVALID;
    /* outcome */
    outcome = json_object_get(obj, "outcome");
    if (!outcome)
        return fail(why, cap, "outcome: missing (it is required)%s%s", "", "");
    if (str_member(obj, "outcome", "outcome", 1, TL_AUDIT_STRING_MAX, &ev->outcome, why, cap))
        return TL_ERR_INVALID;
    if (strcmp(ev->outcome.s, "success") && strcmp(ev->outcome.s, "failure") &&
        strcmp(ev->outcome.s, "denied") && strcmp(ev->outcome.s, "unknown"))
        return fail(why, cap,
                    "outcome: must be \"success\", \"failure\", \"denied\" or \"unknown\"%s%s", "",
                    "");
    /* the optional ones */
    if (str_member(obj, "time", "time", 0, TL_AUDIT_STRING_MAX, &tmp, why, cap))
        return TL_ERR_INVALID;
    if (tmp.s && !tl_audit_time_valid(tmp.s, tmp.len))
        return fail(why, cap,
                    "time: must be RFC 3339 in UTC with Z, e.g. 2026-12-02T06:00:00.123Z%s%s", "",
                    "");
    if (str_member(obj, "source", "source", 0, TL_AUDIT_STRING_MAX, &ev->source, why, cap) ||
        str_member(obj, "id", "id", 0, TL_AUDIT_ID_MAX, &ev->id, why, cap) ||
        str_member(obj, "request_id", "request_id", 0, TL_AUDIT_STRING_MAX, &tmp, why, cap))
        return TL_ERR_INVALID;
    details = json_object_get(obj, "details");
    if (details && !json_is_object(details))
        return fail(why, cap, "details: must be an object%s%s", "", "");
    rc = numbers_ok(obj, "event", why, cap);
    if (rc != TL_OK) {
        /* name the member, not "event.": drop the prefix */
        size_t n = strlen("event.");
        if (strncmp(why, "event.", n) == 0)
            memmove(why, why + n, strlen(why + n) + 1);
        return rc;
    }
    /* the log's member, then the canonical form */
    json_incref(obj);
    ev->obj = obj;
    if (json_object_set_new(obj, "submitter", json_string(submitter)) != 0) {
        tl_audit_event_release(ev);
        snprintf(why, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    str_member(obj, "submitter", "submitter", 1, SIZE_MAX, &ev->submitter, why, cap);
    /* most events fit: one allocation instead of doubling from 64 bytes */
    rc = tl_buf_grow(&ev->canon, 511) == TL_OK ? tl_jcs_append(obj, &ev->canon) : TL_ERR_NOMEM;
    if (rc != TL_OK) {
        json_object_del(obj, "submitter");
        tl_audit_event_release(ev);
        snprintf(why, cap, rc == TL_ERR_NOMEM ? "out of memory" : "cannot canonicalize the event");
        return rc;
    }
    if (ev->canon.len > max_event) {
        size_t n = ev->canon.len;
        json_object_del(obj, "submitter");
        tl_audit_event_release(ev);
        snprintf(why, cap, "the canonical event is %zu bytes, over the limit of %zu", n, max_event);
        return TL_ERR_TOOBIG;
    }
    return TL_OK;
}

int tl_audit_event_parse(const char *text, size_t len, const char *submitter, size_t max_event,
                         tl_audit_event *ev, char *why, size_t cap)
{
    json_error_t e;
    json_t *obj = json_loadb(text, len, TL_AUDIT_JSON_FLAGS, &e);
    int rc;
    memset(ev, 0, sizeof(*ev));
    tl_buf_init(&ev->canon);
    if (!obj) {
        tl_audit_json_error(&e, why, cap);
        return TL_ERR_INVALID;
    }
    rc = tl_audit_event_take(obj, submitter, max_event, ev, why, cap);
    json_decref(obj);
    return rc;
}

void tl_audit_event_release(tl_audit_event *ev)
{
    if (!ev)
        return;
    json_decref(ev->obj);
    tl_buf_release(&ev->canon);
    memset(ev, 0, sizeof(*ev));
}

int tl_audit_canonicalize(const char *text, size_t len, tl_buf *out, char *why, size_t cap)
{
    json_error_t e;
    json_t *v = json_loadb(text, len, TL_AUDIT_JSON_FLAGS | JSON_DECODE_ANY, &e);
    int rc;
    if (!v) {
        tl_audit_json_error(&e, why, cap);
        return TL_ERR_INVALID;
    }
    rc = numbers_ok(v, "event", why, cap);
    if (rc == TL_OK) {
        rc = tl_jcs_append(v, out);
        if (rc != TL_OK)
            snprintf(why, cap, "cannot canonicalize the event");
    }
    json_decref(v);
    return rc;
}

/* ---- mapping values from other formats -------------------------------- */

/* Length of the valid UTF-8 sequence at s[0..len), or 0 when invalid
 * (overlong forms, surrogates and values past U+10FFFF are invalid). */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    unsigned c = s[0];
    size_t n;
    unsigned min, cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2, min = 0x80, cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3, min = 0x800, cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4, min = 0x10000, cp = c & 0x07;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* Copies s into out as valid UTF-8 of at most max bytes; with action set,
 * every character outside the action alphabet becomes '_'. */
static size_t fit(const char *s, size_t len, size_t max, int action, char *out)
{
    static const char repl[] = "\xef\xbf\xbd"; /* U+FFFD */
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq(u + i, len - i);
        const char *src = s + i;
        size_t w = n;
        if (action) {
            tl_audit_str one = {src, n ? n : 1};
            if (n != 1 || !action_ok(&one))
                src = "_", w = 1;
        } else if (n == 0) {
            src = repl, w = 3;
        }
        if (o + w > max)
            break;
        memcpy(out + o, src, w);
        o += w;
        i += n ? n : 1;
    }
    return o;
}

static json_t *fit_json(const char *s, size_t len, size_t max, int action)
{
    /* Each input byte yields at most 3 output bytes (U+FFFD). */
    size_t cap = len * 3 < max ? len * 3 : max;
    char *out = malloc(cap + 1);
    if (out == NULL)
        return NULL;
    size_t n = fit(s, len, cap, action, out);
    json_t *j = n ? json_stringn_nocheck(out, n) : NULL;
    free(out);
    return j;
}

json_t *tl_audit_fit_string(const char *s, size_t len, size_t max)
{
    return fit_json(s, len, max, 0);
}

json_t *tl_audit_fit_action(const char *s, size_t len)
{
    return fit_json(s, len, TL_AUDIT_ACTION_MAX, 1);
}
