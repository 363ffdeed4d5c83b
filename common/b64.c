/* b64.c - strict base64 on top of OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock. */
#include "common/b64.h"
#include "common/err.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

void tl_b64_encode(const uint8_t *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

char *tl_b64_encode_alloc(const uint8_t *in, size_t n)
{
    char *s = malloc(TL_B64_LEN(n) + 1);
    if (s)
        tl_b64_encode(in, n, s);
    return s;
}

static int b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int tl_b64_decode(const char *s, size_t slen, uint8_t *out, size_t cap, size_t *outlen)
{
    size_t pad = 0, i, n;
    unsigned char *tmp;
    char *re;
    int r;

    if (slen == 0) {
        *outlen = 0;
        return TL_OK;
    }
    if (slen % 4 != 0 || slen > (size_t)1 << 30)
        return TL_ERR_INVALID;
    if (s[slen - 1] == '=')
        pad++;
    if (s[slen - 2] == '=')
        pad++;
    for (i = 0; i < slen - pad; i++)
        if (!b64_char((unsigned char)s[i]))
            return TL_ERR_INVALID;
    n = slen / 4 * 3 - pad;
    if (n > cap)
        return TL_ERR_TOOBIG;
    tmp = malloc(slen / 4 * 3 + 1);
    if (tmp == NULL)
        return TL_ERR_NOMEM;
    r = EVP_DecodeBlock(tmp, (const unsigned char *)s, (int)slen);
    if (r < 0 || (size_t)r != slen / 4 * 3) {
        free(tmp);
        return TL_ERR_INVALID;
    }
    /* Canonical check: re-encode and compare (rejects stray trailing bits). */
    re = malloc(slen + 1);
    if (re == NULL) {
        free(tmp);
        return TL_ERR_NOMEM;
    }
    EVP_EncodeBlock((unsigned char *)re, tmp, (int)n);
    r = memcmp(re, s, slen) == 0;
    free(re);
    if (!r) {
        free(tmp);
        return TL_ERR_INVALID;
    }
    memcpy(out, tmp, n);
    free(tmp);
    *outlen = n;
    return TL_OK;
}
