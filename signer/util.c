/*
 * util.c - text checks shared by the signer/ parsers (see internal.h).
 * Everything is bounded by the length passed in; nothing reads past it.
 */
#include "signer/internal.h"

#include <stdint.h>

/* Decodes one UTF-8 sequence at s (at most rem bytes). Returns its length,
 * or 0 if it is not the shortest well-formed encoding of a scalar value. */
static size_t utf8_decode(const unsigned char *s, size_t rem, uint32_t *cp)
{
    uint32_t c;
    size_t n, i;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        n = 2;
        c = s[0] & 0x1F;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        n = 3;
        c = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        n = 4;
        c = s[0] & 0x07;
    } else {
        return 0;
    }
    if (rem < n)
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10FFFF ||
        (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

/* Unicode White_Space (what Go's unicode.IsSpace reports). */
static int is_unicode_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

int tl_text_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, n;
    uint32_t c;

    while (i < len) {
        n = utf8_decode(p + i, len - i, &c);
        if (n == 0 || (c < 0x20 && c != '\n'))
            return 0;
        i += n;
    }
    return 1;
}

int tl_name_valid(const char *s, size_t len, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, n;
    uint32_t c;

    if (len == 0 || len > max)
        return 0;
    while (i < len) {
        n = utf8_decode(p + i, len - i, &c);
        if (n == 0 || c < 0x20 || c == '+' || is_unicode_space(c))
            return 0;
        i += n;
    }
    return 1;
}
