/*
 * jcs.c - RFC 8785 canonical JSON (jcs.h).
 */
#include "audit/jcs.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

/* Decodes one UTF-8 character at s[0..len): its code point and length, or
 * length 0 when the bytes are not valid UTF-8 (overlongs, surrogates and
 * values above U+10FFFF are invalid). */
static size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
    uint32_t c;
    size_t n, i;
    if (len == 0)
        return 0;
    c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        c &= 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        c &= 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        c &= 0x07;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
        (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

/* The UTF-16 code units of cp: 1 or 2 into u. */
static int utf16_units(uint32_t cp, uint16_t u[2])
{
    if (cp < 0x10000) {
        u[0] = (uint16_t)cp;
        return 1;
    }
    cp -= 0x10000;
    u[0] = (uint16_t)(0xd800 | (cp >> 10));
    u[1] = (uint16_t)(0xdc00 | (cp & 0x3ff));
    return 2;
}

/* The order of names by their UTF-16 code units, decoded from the start. */
static int name_cmp_utf16(const char *a, size_t alen, const char *b, size_t blen)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    uint16_t ux[2], uy[2];
    int nx = 0, ny = 0, ix = 0, iy = 0;
    for (;;) {
        uint32_t c;
        size_t k;
        if (ix == nx) {
            if (alen == 0) {
                nx = 0;
            } else {
                k = utf8_next(x, alen, &c);
                if (k == 0) { /* not UTF-8: compare the rest bytewise */
                    c = *x;
                    k = 1;
                }
                nx = utf16_units(c, ux);
                x += k;
                alen -= k;
            }
            ix = 0;
        }
        if (iy == ny) {
            if (blen == 0) {
                ny = 0;
            } else {
                k = utf8_next(y, blen, &c);
                if (k == 0) {
                    c = *y;
                    k = 1;
                }
                ny = utf16_units(c, uy);
                y += k;
                blen -= k;
            }
            iy = 0;
        }
        if (nx == 0 || ny == 0)
            return (nx != 0) - (ny != 0);
        if (ux[ix] != uy[iy])
            return ux[ix] < uy[iy] ? -1 : 1;
        ix++;
        iy++;
    }
}

int tl_jcs_string(const char *s, size_t len, tl_buf *out)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0;
    if (tl_buf_grow(out, len + 2) != TL_OK || tl_buf_add(out, "\"", 1) != TL_OK)
        return TL_ERR_NOMEM;
    while (i < len) {
        uint32_t cp;
        size_t k;
        char esc[6];
        size_t elen = 0;
        if (p[i] >= 0x20 && p[i] != '"' && p[i] != '\\' && p[i] < 0x80) {
            i++;
            run++;
            continue;
        }
        if (p[i] >= 0x80) {
            k = utf8_next(p + i, len - i, &cp);
            if (k == 0)
                return TL_ERR_INVALID;
            i += k;
            run += k;
            continue;
        }
        /* flush the run of characters written as themselves */
        if (run && tl_buf_add(out, p + i - run, run) != TL_OK)
            return TL_ERR_NOMEM;
        run = 0;
        esc[0] = '\\';
        switch (p[i]) {
        case '"':
            esc[1] = '"';
            elen = 2;
            break;
        case '\\':
            esc[1] = '\\';
            elen = 2;
            break;
        case '\b':
            esc[1] = 'b';
            elen = 2;
            break;
        case '\t':
            esc[1] = 't';
            elen = 2;
            break;
        case '\n':
            esc[1] = 'n';
            elen = 2;
            break;
        case '\f':
            esc[1] = 'f';
            elen = 2;
            break;
        case '\r':
            esc[1] = 'r';
            elen = 2;
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[p[i] >> 4];
            esc[5] = hex[p[i] & 15];
            elen = 6;
            break;
        }
        if (tl_buf_add(out, esc, elen) != TL_OK)
            return TL_ERR_NOMEM;
        i++;
    }
    if (run && tl_buf_add(out, p + i - run, run) != TL_OK)
        return TL_ERR_NOMEM;
    return tl_buf_add(out, "\"", 1) == TL_OK ? TL_OK : TL_ERR_NOMEM;
}

/* The common case first: at the first byte where the names differ (or
 * where the shorter ends), when neither name has a byte of 0x80 or more,
 * every character before it is the same in both (an ASCII byte ends any
 * sequence before it, valid or not, in both alike), so that byte (or the
 * length) decides, as the code units would. Otherwise the code units. */
int tl_jcs_name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    size_t n = alen < blen ? alen : blen, i = 0;
    while (i < n && x[i] == y[i])
        i++;
    if ((i == alen || x[i] < 0x80) && (i == blen || y[i] < 0x80)) {
        if (i == alen || i == blen)
            return (i != alen) - (i != blen);
        return x[i] < y[i] ? -1 : 1;
    }
    return name_cmp_utf16(a, alen, b, blen);
}

/* Objects of up to this many members are sorted on the stack. */
#define MEMBERS_SMALL 16

typedef struct member {
    const char *name;
    size_t len;
    json_t *value;
} member;

static int member_cmp(const void *a, const void *b)
{
    const member *x = a, *y = b;
    return tl_jcs_name_cmp(x->name, x->len, y->name, y->len);
}

int tl_jcs_append(const json_t *v, tl_buf *out)
{
    char num[32];
    int rc = TL_OK;
    switch (json_typeof(v)) {
    case JSON_NULL:
        return tl_buf_adds(out, "null") == TL_OK ? TL_OK : TL_ERR_NOMEM;
    case JSON_TRUE:
        return tl_buf_adds(out, "true") == TL_OK ? TL_OK : TL_ERR_NOMEM;
    case JSON_FALSE:
        return tl_buf_adds(out, "false") == TL_OK ? TL_OK : TL_ERR_NOMEM;
    case JSON_INTEGER: {
        json_int_t n = json_integer_value(v);
        if (n > TL_JCS_INT_MAX || n < -TL_JCS_INT_MAX)
            return TL_ERR_INVALID;
        {
            /* decimal, as %lld: |n| < 2^53 */
            uint64_t u = n < 0 ? (uint64_t)(-n) : (uint64_t)n;
            size_t k = sizeof(num);
            do {
                num[--k] = (char)('0' + u % 10);
                u /= 10;
            } while (u);
            if (n < 0)
                num[--k] = '-';
            return tl_buf_add(out, num + k, sizeof(num) - k) == TL_OK ? TL_OK : TL_ERR_NOMEM;
        }
    }
    case JSON_REAL:
        return TL_ERR_INVALID;
    case JSON_STRING:
        return tl_jcs_string(json_string_value(v), json_string_length(v), out);
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (tl_buf_add(out, "[", 1) != TL_OK)
            return TL_ERR_NOMEM;
        for (size_t i = 0; i < n && rc == TL_OK; i++) {
            if (i && tl_buf_add(out, ",", 1) != TL_OK)
                return TL_ERR_NOMEM;
            rc = tl_jcs_append(json_array_get(v, i), out);
        }
        if (rc == TL_OK && tl_buf_add(out, "]", 1) != TL_OK)
            rc = TL_ERR_NOMEM;
        return rc;
    }
    case JSON_OBJECT: {
        member small[MEMBERS_SMALL];
        size_t n = json_object_size(v), i = 0;
        member *m = n <= MEMBERS_SMALL ? small : malloc(n * sizeof(*m));
        const char *key;
        size_t klen;
        json_t *val;
        if (!m)
            return TL_ERR_NOMEM;
        json_object_keylen_foreach((json_t *)v, key, klen, val)
        {
            if (i == n)
                break; /* cannot happen: size is the count */
            m[i].name = key;
            m[i].len = klen;
            m[i].value = val;
            i++;
        }
        n = i;
        if (n <= MEMBERS_SMALL) {
            /* insertion sort: a few members, no calls through qsort */
            for (size_t j = 1; j < n; j++) {
                member t = m[j];
                size_t k = j;
                for (; k > 0 && tl_jcs_name_cmp(m[k - 1].name, m[k - 1].len, t.name, t.len) > 0;
                     k--)
                    m[k] = m[k - 1];
                m[k] = t;
            }
        } else {
            qsort(m, n, sizeof(*m), member_cmp);
        }
        if (tl_buf_add(out, "{", 1) != TL_OK)
            rc = TL_ERR_NOMEM;
        for (i = 0; i < n && rc == TL_OK; i++) {
            if (i && tl_buf_add(out, ",", 1) != TL_OK) {
                rc = TL_ERR_NOMEM;
                break;
            }
            rc = tl_jcs_string(m[i].name, m[i].len, out);
            if (rc == TL_OK && tl_buf_add(out, ":", 1) != TL_OK)
                rc = TL_ERR_NOMEM;
            if (rc == TL_OK)
                rc = tl_jcs_append(m[i].value, out);
        }
        if (rc == TL_OK && tl_buf_add(out, "}", 1) != TL_OK)
            rc = TL_ERR_NOMEM;
        if (m != small)
            free(m);
        return rc;
    }
    }
    return TL_ERR_INVALID;
}
