/*
 * k8s.c - an audit.k8s.io/v1 EventList mapped into audit events (k8s.h).
 *
 * The Event type (k8s.io/apiserver/pkg/apis/audit/v1): level, auditID, stage
 * (RequestReceived, ResponseStarted, ResponseComplete, Panic), requestURI,
 * verb, user {username, uid, groups, extra}, impersonatedUser, sourceIPs,
 * userAgent, objectRef {resource, namespace, name, uid, apiGroup,
 * apiVersion, resourceVersion, subresource}, responseStatus (a
 * metav1.Status: code), requestObject, responseObject,
 * requestReceivedTimestamp, stageTimestamp (MicroTime: RFC 3339 in UTC),
 * annotations. What the mapping reads must have its type (a string, an
 * object, an integer code) and auditID, stage and verb must be there (and
 * requestURI when there is no objectRef); anything else is only carried in
 * details. A stage this file does not know is still mapped (the id keeps
 * it), so that a newer API server's list is not refused whole.
 */
#include "audit/k8s.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

/* ---- numbers kept as their text --------------------------------------- */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_num_char(char c)
{
    return is_digit(c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* RFC 8259 §6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? is s[0..n)
 * exactly; *integer: it has neither fraction nor exponent. */
static int number_ok(const char *s, size_t n, int *integer)
{
    size_t i = 0, d;
    *integer = 1;
    if (i < n && s[i] == '-')
        i++;
    if (i < n && s[i] == '0') {
        i++;
    } else {
        for (d = i; i < n && is_digit(s[i]); i++)
            ;
        if (i == d)
            return 0;
    }
    if (i < n && s[i] == '.') {
        *integer = 0;
        for (d = ++i; i < n && is_digit(s[i]); i++)
            ;
        if (i == d)
            return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        *integer = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        for (d = i; i < n && is_digit(s[i]); i++)
            ;
        if (i == d)
            return 0;
    }
    return i == n;
}

/* An integer token (number_ok, integer) of magnitude below 2^53. */
static int small_integer(const char *s, size_t n)
{
    static const char limit[] = "9007199254740992"; /* 2^53 */
    size_t l = sizeof limit - 1;
    if (s[0] == '-')
        s++, n--;
    return n < l || (n == l && memcmp(s, limit, l) < 0);
}

int tl_k8s_quote_numbers(const char *text, size_t len, tl_buf *out, size_t **shifts,
                         size_t *nshifts)
{
    size_t i = 0, last = 0, n = 0, cap = 0;
    size_t *sh = NULL;
    int in_string = 0, rc = TL_OK;
    *shifts = NULL;
    *nshifts = 0;
    if (memchr(text, 0, len) != NULL)
        return TL_ERR_INVALID;
    if (tl_buf_grow(out, len + 1) != TL_OK)
        return TL_ERR_NOMEM;
    while (i < len && rc == TL_OK) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
            i++;
            continue;
        }
        if (c == '"') {
            in_string = 1;
            i++;
            continue;
        }
        if (!(c == '-' || is_digit(c))) {
            i++;
            continue;
        }
        size_t start = i, next;
        int integer;
        while (i < len && is_num_char(text[i]))
            i++;
        for (next = i; next < len && is_ws(text[next]); next++)
            ;
        if (!number_ok(text + start, i - start, &integer) || (next < len && text[next] == ':') ||
            (integer && small_integer(text + start, i - start)))
            continue;
        /* quote it: "<the token>" */
        if (n == cap) {
            size_t *t = realloc(sh, (cap ? cap * 2 : 16) * sizeof *sh);
            if (!t) {
                rc = TL_ERR_NOMEM;
                break;
            }
            sh = t;
            cap = cap ? cap * 2 : 16;
        }
        if (tl_buf_add(out, text + last, start - last) != TL_OK)
            rc = TL_ERR_NOMEM;
        if (rc == TL_OK &&
            (tl_buf_adds(out, "\"") != TL_OK || tl_buf_add(out, text + start, i - start) != TL_OK ||
             tl_buf_adds(out, "\"") != TL_OK))
            rc = TL_ERR_NOMEM;
        sh[n++] = out->len;
        last = i;
    }
    if (rc == TL_OK && tl_buf_add(out, text + last, len - last) != TL_OK)
        rc = TL_ERR_NOMEM;
    if (rc == TL_OK && !out->data && tl_buf_adds(out, "") != TL_OK)
        rc = TL_ERR_NOMEM;
    if (rc != TL_OK) {
        free(sh);
        return rc;
    }
    *shifts = sh;
    *nshifts = n;
    return TL_OK;
}

size_t tl_k8s_offset(size_t pos, const size_t *shifts, size_t nshifts)
{
    /* each quoted token before pos added its two quotes */
    size_t k = 0;
    while (k < nshifts && shifts[k] <= pos)
        k++;
    return pos >= 2 * k ? pos - 2 * k : 0;
}

/* ---- the mapping ------------------------------------------------------ */

static int bad(char *why, size_t cap, size_t item, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int bad(char *why, size_t cap, size_t item, const char *fmt, ...)
{
    int n = snprintf(why, cap, "item %zu: ", item);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < cap)
        vsnprintf(why + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
    return TL_ERR_INVALID;
}

/* A member that must be a string when present: 1 with *s (maybe empty), 0
 * when absent or null, -1 (why set) when of another type. */
static int opt_str(json_t *obj, const char *name, const char *path, size_t item, const char **s,
                   size_t *len, char *why, size_t cap)
{
    json_t *v = obj ? json_object_get(obj, name) : NULL;
    *s = NULL;
    *len = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        bad(why, cap, item, "%s: must be a string", path);
        return -1;
    }
    *s = json_string_value(v);
    *len = json_string_length(v);
    return 1;
}

/* An object member (absent or null: NULL, 0; another type: -1). */
static int opt_obj(json_t *obj, const char *name, size_t item, json_t **out, char *why, size_t cap)
{
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v)) {
        bad(why, cap, item, "%s: must be an object", name);
        return -1;
    }
    *out = v;
    return 1;
}

/* Sets obj.name to s[0..len) fitted to max bytes; an empty value becomes
 * dflt (or is left out when dflt is NULL). */
static int set_fit(json_t *obj, const char *name, const char *s, size_t len, size_t max,
                   const char *dflt)
{
    json_t *v = s && len ? tl_audit_fit_string(s, len, max) : NULL;
    if (!v && s && len)
        return TL_ERR_NOMEM; /* a non-empty value always keeps a character */
    if (!v && dflt)
        v = json_string(dflt);
    if (!v)
        return TL_OK;
    return json_object_set_new(obj, name, v) == 0 ? TL_OK : TL_ERR_NOMEM;
}

/* a/b (or b alone when a is empty) in buf. */
static int join(tl_buf *buf, const char *a, size_t alen, const char *b, size_t blen)
{
    tl_buf_reset(buf);
    if (alen && (tl_buf_add(buf, a, alen) != TL_OK || tl_buf_adds(buf, "/") != TL_OK))
        return TL_ERR_NOMEM;
    return tl_buf_add(buf, b, blen) == TL_OK && tl_buf_adds(buf, "") == TL_OK ? TL_OK
                                                                              : TL_ERR_NOMEM;
}

/* The event's time from a Kubernetes timestamp: as it is when already RFC
 * 3339 in UTC with Z (microseconds kept), else converted to UTC. */
static int set_time(json_t *e, const char *s, size_t len)
{
    char t[25];
    int64_t ms;
    if (tl_audit_time_valid(s, len))
        return json_object_set_new(e, "time", json_stringn(s, len)) == 0 ? TL_OK : TL_ERR_NOMEM;
    if (tl_audit_time_ms(s, len, &ms) != TL_OK)
        return TL_ERR_INVALID;
    tl_audit_time_format(ms, t);
    return json_object_set_new(e, "time", json_string(t)) == 0 ? TL_OK : TL_ERR_NOMEM;
}

/* Builds item i's event (a new object, to *out) or says why not. */
static int map_item(json_t *item, size_t i, json_t **out, char *why, size_t cap)
{
    const char *audit_id, *stage, *verb, *uri, *user, *ua, *ip = NULL;
    const char *res = NULL, *group = NULL, *ns = NULL, *name = NULL, *ts;
    size_t audit_id_len, stage_len, verb_len, uri_len, user_len, ua_len, ip_len = 0;
    size_t res_len = 0, group_len = 0, ns_len = 0, name_len = 0, ts_len;
    json_t *oref, *status, *uobj, *ips, *code = NULL, *e = NULL, *actor = NULL, *resource = NULL;
    const char *outcome = "unknown";
    tl_buf b = TL_BUF_INIT;
    int rc = TL_ERR_NOMEM, have_ts;

    *out = NULL;
    if (!json_is_object(item))
        return bad(why, cap, i, "must be an object (an audit.k8s.io/v1 Event)");
    /* what the mapping reads, each of its type */
    if (opt_str(item, "auditID", "auditID", i, &audit_id, &audit_id_len, why, cap) < 0 ||
        opt_str(item, "stage", "stage", i, &stage, &stage_len, why, cap) < 0 ||
        opt_str(item, "verb", "verb", i, &verb, &verb_len, why, cap) < 0 ||
        opt_str(item, "requestURI", "requestURI", i, &uri, &uri_len, why, cap) < 0 ||
        opt_str(item, "userAgent", "userAgent", i, &ua, &ua_len, why, cap) < 0 ||
        opt_obj(item, "user", i, &uobj, why, cap) < 0 ||
        opt_str(uobj, "username", "user.username", i, &user, &user_len, why, cap) < 0 ||
        opt_obj(item, "objectRef", i, &oref, why, cap) < 0 ||
        opt_obj(item, "responseStatus", i, &status, why, cap) < 0)
        return TL_ERR_INVALID;
    if (!audit_id_len)
        return bad(why, cap, i, "auditID: missing or empty (it is required)");
    if (!stage_len)
        return bad(why, cap, i, "stage: missing or empty (it is required)");
    if (!verb_len)
        return bad(why, cap, i, "verb: missing or empty (it is required)");
    ips = json_object_get(item, "sourceIPs");
    if (ips && !json_is_null(ips)) {
        if (!json_is_array(ips))
            return bad(why, cap, i, "sourceIPs: must be an array of strings");
        if (json_array_size(ips) > 0) {
            json_t *first = json_array_get(ips, 0);
            if (!json_is_string(first))
                return bad(why, cap, i, "sourceIPs[0]: must be a string");
            ip = json_string_value(first);
            ip_len = json_string_length(first);
        }
    }
    if (oref) {
        if (opt_str(oref, "resource", "objectRef.resource", i, &res, &res_len, why, cap) < 0 ||
            opt_str(oref, "apiGroup", "objectRef.apiGroup", i, &group, &group_len, why, cap) < 0 ||
            opt_str(oref, "namespace", "objectRef.namespace", i, &ns, &ns_len, why, cap) < 0 ||
            opt_str(oref, "name", "objectRef.name", i, &name, &name_len, why, cap) < 0)
            return TL_ERR_INVALID;
        if (!res_len)
            return bad(why, cap, i, "objectRef.resource: missing or empty (it is required)");
    } else if (!uri_len) {
        return bad(why, cap, i, "requestURI: missing or empty (it is required without objectRef)");
    }
    if (status) {
        code = json_object_get(status, "code");
        if (code && !json_is_null(code) && !json_is_integer(code))
            return bad(why, cap, i, "responseStatus.code: must be an integer");
        if (code && json_is_integer(code)) {
            json_int_t c = json_integer_value(code);
            outcome = c < 400 ? "success" : c == 401 || c == 403 ? "denied" : "failure";
        }
    }
    have_ts = opt_str(item, "stageTimestamp", "stageTimestamp", i, &ts, &ts_len, why, cap);
    if (have_ts < 0)
        return TL_ERR_INVALID;
    if (!have_ts) {
        have_ts = opt_str(item, "requestReceivedTimestamp", "requestReceivedTimestamp", i, &ts,
                          &ts_len, why, cap);
        if (have_ts < 0)
            return TL_ERR_INVALID;
    }

    /* the event */
    e = json_object();
    actor = json_object();
    resource = json_object();
    if (!e || !actor || !resource)
        goto out;
    if (set_fit(actor, "id", user, user_len, TL_AUDIT_STRING_MAX, "-") != TL_OK ||
        json_object_set_new(actor, "type", json_string("kubernetes")) != 0 ||
        set_fit(actor, "ip", ip, ip_len, TL_AUDIT_STRING_MAX, NULL) != TL_OK ||
        set_fit(actor, "user_agent", ua, ua_len, TL_AUDIT_STRING_MAX, NULL) != TL_OK)
        goto out;
    /* action */
    tl_buf_reset(&b);
    if ((res_len && (tl_buf_add(&b, res, res_len) != TL_OK || tl_buf_adds(&b, ".") != TL_OK)) ||
        tl_buf_add(&b, verb, verb_len) != TL_OK)
        goto out;
    {
        json_t *a = tl_audit_fit_action((const char *)b.data, b.len);
        if (!a || json_object_set_new(e, "action", a) != 0)
            goto out;
    }
    /* resource */
    if (oref) {
        if (join(&b, group, group_len, res, res_len) != TL_OK ||
            set_fit(resource, "type", (const char *)b.data, b.len, TL_AUDIT_STRING_MAX, "-") ||
            join(&b, ns, ns_len, name_len ? name : "-", name_len ? name_len : 1) != TL_OK ||
            set_fit(resource, "id", (const char *)b.data, b.len, TL_AUDIT_STRING_MAX, "-"))
            goto out;
    } else if (json_object_set_new(resource, "type", json_string("url")) != 0 ||
               set_fit(resource, "id", uri, uri_len, TL_AUDIT_STRING_MAX, "-") != TL_OK) {
        goto out;
    }
    if (json_object_set(e, "actor", actor) != 0 || json_object_set(e, "resource", resource) != 0 ||
        json_object_set_new(e, "outcome", json_string(outcome)) != 0)
        goto out;
    /* time */
    if (have_ts && ts_len) {
        rc = set_time(e, ts, ts_len);
        if (rc == TL_ERR_INVALID) {
            bad(why, cap, i, "%s: not an RFC 3339 time",
                json_object_get(item, "stageTimestamp") &&
                        !json_is_null(json_object_get(item, "stageTimestamp"))
                    ? "stageTimestamp"
                    : "requestReceivedTimestamp");
            goto out;
        }
        if (rc != TL_OK)
            goto out;
        rc = TL_ERR_NOMEM;
    }
    /* source, id, request_id, details */
    tl_buf_reset(&b);
    if (json_object_set_new(e, "source", json_string(TL_K8S_SOURCE)) != 0 ||
        tl_buf_add(&b, audit_id, audit_id_len) != TL_OK || tl_buf_adds(&b, "/") != TL_OK ||
        tl_buf_add(&b, stage, stage_len) != TL_OK ||
        set_fit(e, "id", (const char *)b.data, b.len, TL_AUDIT_ID_MAX, NULL) != TL_OK ||
        set_fit(e, "request_id", audit_id, audit_id_len, TL_AUDIT_STRING_MAX, NULL) != TL_OK ||
        json_object_set(e, "details", item) != 0)
        goto out;
    *out = e;
    e = NULL;
    rc = TL_OK;
out:
    if (rc == TL_ERR_NOMEM)
        snprintf(why, cap, "out of memory");
    json_decref(e);
    json_decref(actor);
    json_decref(resource);
    tl_buf_release(&b);
    return rc;
}

void tl_k8s_list_release(tl_k8s_list *list)
{
    for (size_t i = 0; list->ev && i < list->n; i++)
        tl_audit_event_release(&list->ev[i]);
    free(list->ev);
    list->ev = NULL;
    list->n = 0;
}

/* The top level: {"kind": "EventList", "apiVersion": "audit.k8s.io/v1",
 * "metadata": {...}, "items": [...]}; *items NULL for no items. */
static int list_items(json_t *top, json_t **items, char *why, size_t cap)
{
    json_t *kind = json_object_get(top, "kind"), *api = json_object_get(top, "apiVersion");
    *items = NULL;
    if (!json_is_object(top)) {
        snprintf(why, cap, "the body must be an audit.k8s.io/v1 EventList (a JSON object)");
        return TL_ERR_INVALID;
    }
    if (!json_is_string(kind) || strcmp(json_string_value(kind), "EventList") != 0) {
        snprintf(why, cap, "kind: must be \"EventList\"");
        return TL_ERR_INVALID;
    }
    if (!json_is_string(api) || strcmp(json_string_value(api), "audit.k8s.io/v1") != 0) {
        snprintf(why, cap, "apiVersion: must be \"audit.k8s.io/v1\"");
        return TL_ERR_INVALID;
    }
    *items = json_object_get(top, "items");
    if (*items && json_is_null(*items))
        *items = NULL;
    if (*items && !json_is_array(*items)) {
        snprintf(why, cap, "items: must be an array of audit.k8s.io/v1 Events");
        return TL_ERR_INVALID;
    }
    return TL_OK;
}

int tl_k8s_parse(const char *text, size_t len, size_t max_items, tl_k8s_parsed *p, char *why,
                 size_t cap)
{
    tl_buf q = TL_BUF_INIT;
    size_t *shifts = NULL, nshifts = 0;
    json_error_t je;
    json_t *items;
    int rc;

    p->top = NULL;
    p->items = NULL;
    p->n = 0;
    rc = tl_k8s_quote_numbers(text, len, &q, &shifts, &nshifts);
    if (rc == TL_ERR_INVALID) {
        snprintf(why, cap, "invalid JSON at byte %zu: a NUL byte",
                 (size_t)((const char *)memchr(text, 0, len) - text));
        goto out;
    }
    if (rc != TL_OK) {
        snprintf(why, cap, "out of memory");
        goto out;
    }
    p->top = json_loadb((const char *)q.data, q.len, TL_AUDIT_JSON_FLAGS, &je);
    if (!p->top) {
        je.position = (int)tl_k8s_offset((size_t)je.position, shifts, nshifts);
        tl_audit_json_error(&je, why, cap);
        rc = TL_ERR_INVALID;
        goto out;
    }
    tl_buf_release(&q); /* the tree holds what it needs */
    rc = list_items(p->top, &items, why, cap);
    if (rc != TL_OK)
        goto out;
    p->n = items ? json_array_size(items) : 0;
    if (p->n > max_items) {
        snprintf(why, cap, "%zu items: a list is at most %zu", p->n, max_items);
        rc = TL_ERR_TOOBIG;
        goto out;
    }
    p->items = p->n ? items : NULL;
out:
    if (rc != TL_OK)
        tl_k8s_parsed_release(p);
    tl_buf_release(&q);
    free(shifts);
    return rc;
}

/* ---- a list's items parsed apart ------------------------------------- */

#define SPLIT_DEPTH_MAX 512 /* deeper lists are parsed whole (jansson's depth limit) */

/* The end of the string that starts at s[i] (a '"'): the index past its
 * closing quote, or len. */
static size_t string_end(const char *s, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return len;
}

static size_t skip_ws(const char *s, size_t len, size_t i)
{
    while (i < len && is_ws(s[i]))
        i++;
    return i;
}

/* Finds "items": [ at depth 1 of s and its elements' texts: 1 with *a0
 * and *a1 the array's brackets and at/n the elements, 0 when not found or
 * not regular. */
static int scan_items(const char *s, size_t len, size_t *a0, size_t *a1, size_t **at, size_t *n)
{
    size_t i = 0, depth = 0, cap = 0, k = 0, start = 0, *v = NULL;
    int found = 0;
    while (i < len && !found) {
        char c = s[i];
        if (c == '"') {
            size_t e = string_end(s, len, i), j;
            if (depth == 1 && e - i == 7 && memcmp(s + i, "\"items\"", 7) == 0 &&
                (j = skip_ws(s, len, e)) < len && s[j] == ':' &&
                (j = skip_ws(s, len, j + 1)) < len && s[j] == '[') {
                *a0 = j;
                found = 1;
            }
            i = e;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && depth-- == 0)
            return 0;
        i++;
    }
    if (!found)
        return 0;
    /* the elements: between the brackets, split at the commas of depth 0 */
    depth = 0;
    start = *a0 + 1;
    for (i = start; i < len; i++) {
        char c = s[i];
        if (c == '"') {
            i = string_end(s, len, i) - 1;
            continue;
        }
        if (c == '{' || c == '[') {
            if (++depth > SPLIT_DEPTH_MAX)
                break;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        } else if (depth == 0 && (c == ',' || c == ']')) {
            if (c == ']' && k == 0 && skip_ws(s, len, start) == i)
                break; /* no items: nothing to gain */
            if (k + 2 > cap) {
                size_t *t = realloc(v, (cap ? cap * 2 : 64) * sizeof *v);
                if (!t)
                    break;
                v = t;
                cap = cap ? cap * 2 : 64;
            }
            v[k++] = start;
            v[k++] = i;
            start = i + 1;
            if (c == ']') {
                *a1 = i;
                *at = v;
                *n = k / 2;
                return 1;
            }
        }
    }
    free(v);
    return 0;
}

int tl_k8s_split(const char *text, size_t len, size_t max_items, tl_k8s_pieces *pc)
{
    size_t *shifts = NULL, nshifts = 0, a0 = 0, a1 = 0;
    tl_buf t = TL_BUF_INIT;
    json_t *items;
    char why[8];
    memset(pc, 0, sizeof *pc);
    pc->text = text;
    pc->len = len;
    pc->max_items = max_items;
    tl_buf_init(&pc->q);
    if (tl_k8s_quote_numbers(text, len, &pc->q, &shifts, &nshifts) != TL_OK)
        goto no;
    free(shifts);
    if (!scan_items((const char *)pc->q.data, pc->q.len, &a0, &a1, &pc->at, &pc->n) ||
        pc->n > max_items)
        goto no;
    /* the list without its items: every other member parsed and checked */
    if (tl_buf_add(&t, pc->q.data, a0) != TL_OK || tl_buf_adds(&t, "[]") != TL_OK ||
        tl_buf_add(&t, pc->q.data + a1 + 1, pc->q.len - a1 - 1) != TL_OK)
        goto no;
    pc->top = json_loadb((const char *)t.data, t.len, TL_AUDIT_JSON_FLAGS, NULL);
    tl_buf_release(&t);
    if (!pc->top || list_items(pc->top, &items, why, sizeof why) != TL_OK || !items ||
        json_array_size(items) != 0)
        goto no;
    return 1;
no:
    tl_buf_release(&t);
    json_decref(pc->top);
    tl_buf_release(&pc->q);
    free(pc->at);
    memset(pc, 0, sizeof *pc);
    return 0;
}

json_t *tl_k8s_piece(const tl_k8s_pieces *pc, size_t i)
{
    size_t a = pc->at[2 * i], b = pc->at[2 * i + 1];
    return json_loadb((const char *)pc->q.data + a, b - a, TL_AUDIT_JSON_FLAGS | JSON_DECODE_ANY,
                      NULL);
}

void tl_k8s_pieces_release(tl_k8s_pieces *pc)
{
    json_decref(pc->top);
    tl_buf_release(&pc->q);
    free(pc->at);
    memset(pc, 0, sizeof *pc);
}

int tl_k8s_join(tl_k8s_pieces *pc, json_t **items, tl_k8s_parsed *p, char *why, size_t cap)
{
    json_t *arr = json_array();
    int whole = !arr;
    for (size_t i = 0; i < pc->n; i++) {
        if (!whole && items[i] && json_array_append_new(arr, items[i]) == 0) {
            items[i] = NULL;
            continue;
        }
        whole = 1;
        json_decref(items[i]);
        items[i] = NULL;
    }
    if (!whole) {
        /* the reference is the object's, also when setting it fails */
        json_t *a = arr;
        arr = NULL;
        if (json_object_set_new(pc->top, "items", a) == 0) {
            p->top = pc->top;
            p->items = a;
            p->n = pc->n;
            pc->top = NULL;
        } else {
            whole = 1;
        }
    }
    json_decref(arr);
    json_decref(pc->top);
    tl_buf_release(&pc->q);
    free(pc->at);
    if (whole) {
        const char *text = pc->text;
        size_t len = pc->len, max = pc->max_items;
        memset(pc, 0, sizeof *pc);
        return tl_k8s_parse(text, len, max, p, why, cap);
    }
    memset(pc, 0, sizeof *pc);
    return TL_OK;
}

int tl_k8s_map_items(const tl_k8s_parsed *p, size_t from, size_t to, const char *submitter,
                     size_t max_event, tl_audit_event *ev, size_t *bad, char *why, size_t cap)
{
    int rc = TL_OK;
    size_t i;
    for (i = from; i < to; i++) {
        char r[TL_AUDIT_REASON_MAX + 64];
        json_t *e;
        rc = map_item(json_array_get(p->items, i), i, &e, why, cap);
        if (rc != TL_OK)
            break;
        rc = tl_audit_event_take(e, submitter, max_event, &ev[i], r, sizeof r);
        json_decref(e);
        if (rc != TL_OK) {
            snprintf(why, cap, "item %zu: %s", i, r);
            break;
        }
    }
    if (rc != TL_OK) {
        *bad = i;
        for (size_t k = from; k < i; k++)
            tl_audit_event_release(&ev[k]);
    }
    return rc;
}

void tl_k8s_parsed_release(tl_k8s_parsed *p)
{
    json_decref(p->top);
    p->top = NULL;
    p->items = NULL;
    p->n = 0;
}

int tl_k8s_map(const char *text, size_t len, const char *submitter, size_t max_event,
               size_t max_items, tl_k8s_list *list, char *why, size_t cap)
{
    tl_k8s_parsed p;
    size_t bad;
    int rc;

    list->ev = NULL;
    list->n = 0;
    rc = tl_k8s_parse(text, len, max_items, &p, why, cap);
    if (rc != TL_OK || p.n == 0)
        goto out;
    list->ev = calloc(p.n, sizeof *list->ev);
    if (!list->ev) {
        snprintf(why, cap, "out of memory");
        rc = TL_ERR_NOMEM;
        goto out;
    }
    rc = tl_k8s_map_items(&p, 0, p.n, submitter, max_event, list->ev, &bad, why, cap);
    if (rc == TL_OK)
        list->n = p.n;
out:
    if (rc != TL_OK)
        tl_k8s_list_release(list);
    tl_k8s_parsed_release(&p);
    return rc;
}
