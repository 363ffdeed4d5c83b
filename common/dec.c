/* dec.c - strict canonical decimals; see dec.h. */
#include "common/dec.h"
#include "common/err.h"

#include <string.h>

int tl_dec_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || (len > 1 && s[0] == '0'))
        return TL_ERR_INVALID;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return TL_ERR_INVALID;
        unsigned d = (unsigned)(s[i] - '0');
        /* v * 10 + d <= max, without computing v * 10 */
        if (v > max / 10 || (v == max / 10 && d > max % 10))
            return TL_ERR_INVALID;
        v = v * 10 + d;
    }
    *out = v;
    return TL_OK;
}

int tl_dec_parse_range(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    uint64_t v;

    if (tl_dec_parse_u64(s, strlen(s), hi, &v) != TL_OK || v < lo)
        return TL_ERR_INVALID;
    *out = v;
    return TL_OK;
}
