/*
 * b64.h - strict standard base64 (RFC 4648 §4, with padding) through OpenSSL.
 *
 * Decoding is canonical: the length must be a multiple of 4, padding only at
 * the end, no whitespace, and re-encoding the result must give the input back
 * (so non-zero trailing bits are rejected).
 */
#ifndef TL_COMMON_B64_H
#define TL_COMMON_B64_H

#include <stddef.h>
#include <stdint.h>

/* Encoded length for n input bytes, without the NUL. */
#define TL_B64_LEN(n) ((((n) + 2) / 3) * 4)

/* Writes TL_B64_LEN(n)+1 bytes (NUL-terminated) to out. */
void tl_b64_encode(const uint8_t *in, size_t n, char *out);
/* Returns a malloc'd NUL-terminated string, or NULL on allocation failure. */
char *tl_b64_encode_alloc(const uint8_t *in, size_t n);
/* Decodes s[0..slen) into out (capacity cap). Returns TL_OK and sets *outlen,
 * or TL_ERR_INVALID for anything non-canonical, TL_ERR_TOOBIG if cap is short. */
int tl_b64_decode(const char *s, size_t slen, uint8_t *out, size_t cap, size_t *outlen);

#endif
