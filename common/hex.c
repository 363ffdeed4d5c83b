/* hex.c - lowercase hex encoding and strict decoding; see hex.h. */
#include "common/hex.h"
#include "common/err.h"

static const char digits[] = "0123456789abcdef";

void tl_hex_encode(const uint8_t *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The value of a lowercase hex digit, or -1. */
static int digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int tl_hex_decode(const char *s, size_t len, uint8_t *out, size_t n)
{
    if (n > SIZE_MAX / 2 || len != 2 * n)
        return TL_ERR_INVALID;
    for (size_t i = 0; i < len; i++)
        if (digit(s[i]) < 0)
            return TL_ERR_INVALID;
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(digit(s[2 * i]) << 4 | digit(s[2 * i + 1]));
    return TL_OK;
}
