/*
 * query.c - the strict query-string parser of the RFC 6962 endpoints
 * (query.h). It splits the query itself and decodes values with libevent's
 * public evhttp_uridecode, accepting exactly what evhttp_parse_query_str of
 * libevent 2.1 accepts (the shape first, for the whole query; names as sent;
 * values with '+' as a space) and then what the endpoint asks for.
 * Pure; any thread.
 */
#include "frontend/query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "common/b64.h"
#include "common/dec.h"
#include "common/err.h"

/* A pair of the query: name and raw value, by position. */
typedef struct pair {
    const char *name;
    size_t nlen;
    const char *value; /* ends at '&' or at the query's end */
    size_t vlen;
} pair;

/* The pair starting at *s, or 0 at the end of the query (including after one
 * trailing '&'); advances *s past it. -1 for a pair evhttp_parse_query_str
 * refuses: empty, no '=', or an empty name. */
static int next_pair(const char **s, pair *p)
{
    const char *a = *s;
    if (!*a)
        return 0;
    const char *amp = strchr(a, '&');
    size_t len = amp ? (size_t)(amp - a) : strlen(a);
    const char *eq = memchr(a, '=', len);
    *s = amp ? amp + 1 : a + len;
    if (!eq || eq == a)
        return -1;
    p->name = a;
    p->nlen = (size_t)(eq - a);
    p->value = eq + 1;
    p->vlen = len - p->nlen - 1;
    return 1;
}

/* Copies s[0..n) into out (cap bytes, truncated), with every byte that is not
 * printable ASCII replaced by '?', so echoed input keeps a reason one line. */
static void printable(const char *s, size_t n, char *out, size_t cap)
{
    size_t i = 0;
    for (; i < n && i + 1 < cap; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    out[i] = 0;
}

/* The decoded value of p (malloc'd, NUL-terminated, *len bytes before a
 * NUL it may hold), or NULL. */
static char *decode_value(const pair *p, size_t *len)
{
    if (p->value[p->vlen] == 0) /* the last pair: terminated in place */
        return evhttp_uridecode(p->value, 1, len);
    char small[256], *raw = p->vlen < sizeof small ? small : malloc(p->vlen + 1);
    if (!raw)
        return NULL;
    memcpy(raw, p->value, p->vlen);
    raw[p->vlen] = 0;
    char *v = evhttp_uridecode(raw, 1, len);
    if (raw != small)
        free(raw);
    return v;
}

/* Fills the parameter of pair p; on failure writes the reason. */
static int take(const pair *p, tl_query_param *ps, size_t n, char *why, size_t cap)
{
    size_t i;
    for (i = 0; i < n; i++)
        if (strlen(ps[i].name) == p->nlen && memcmp(p->name, ps[i].name, p->nlen) == 0)
            break;
    if (i == n) {
        char k[65];
        printable(p->name, p->nlen, k, sizeof k);
        snprintf(why, cap, "unknown parameter %s", k);
        return TL_ERR_INVALID;
    }
    if (ps[i].seen++) {
        snprintf(why, cap, "parameter %s given twice", ps[i].name);
        return TL_ERR_INVALID;
    }
    size_t vlen = 0;
    char *v = decode_value(p, &vlen);
    if (!v) {
        snprintf(why, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    int rc = TL_OK;
    if (ps[i].is_str) {
        if (vlen == 0 || vlen > 1024 || strlen(v) != vlen) {
            snprintf(why, cap, "%s must be 1 to 1024 bytes without NUL", ps[i].name);
            rc = TL_ERR_INVALID;
        } else {
            ps[i].str = v;
            ps[i].str_len = vlen;
            return TL_OK;
        }
    } else if (ps[i].is_hash) {
        size_t hl;
        if (tl_b64_decode(v, strlen(v), ps[i].hash.b, TL_HASH_SIZE, &hl) != TL_OK ||
            hl != TL_HASH_SIZE) {
            snprintf(why, cap, "%s must be a base64 SHA-256 hash (URL-encoded)", ps[i].name);
            rc = TL_ERR_INVALID;
        }
    } else if (tl_dec_parse_range(v, 0, INT64_MAX, &ps[i].num) != TL_OK) {
        snprintf(why, cap, "%s must be a decimal number without leading zeros", ps[i].name);
        rc = TL_ERR_INVALID;
    }
    free(v);
    return rc;
}

void tl_query_release(tl_query_param *ps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(ps[i].str);
        ps[i].str = NULL;
    }
}

int tl_query_parse(const char *q, tl_query_param *ps, size_t n, char *why, size_t cap)
{
    if (*q == 0 && n > 0 && !ps[0].optional) {
        snprintf(why, cap, "missing parameter %s", ps[0].name);
        return TL_ERR_INVALID;
    }
    /* The shape of the whole query first, as evhttp_parse_query_str did. */
    pair p;
    int k;
    for (const char *s = q; (k = next_pair(&s, &p)) != 0;)
        if (k < 0) {
            snprintf(why, cap, "malformed query string");
            return TL_ERR_INVALID;
        }
    int rc = TL_OK;
    for (const char *s = q; rc == TL_OK && next_pair(&s, &p) > 0;)
        rc = take(&p, ps, n, why, cap);
    for (size_t i = 0; i < n && rc == TL_OK; i++)
        if (!ps[i].seen && !ps[i].optional) {
            snprintf(why, cap, "missing parameter %s", ps[i].name);
            rc = TL_ERR_INVALID;
        }
    return rc;
}
