/*
 * hex.h - lowercase hexadecimal: encoding, and a strict decoder of exactly
 * the form the encoder writes.
 *
 * Decoding accepts only [0-9a-f]: uppercase digits are refused, because
 * every hex string tlogd reads has one canonical spelling (key ids in
 * signed-note keys, c2sp.org/signed-note; the SHA-256 of an origin in
 * tlog-witness URLs), and accepting a second spelling would let two strings
 * name one thing.
 */
#ifndef TL_COMMON_HEX_H
#define TL_COMMON_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Encoded length of n bytes, without the NUL. */
#define TL_HEX_LEN(n) (2 * (n))

/* Writes TL_HEX_LEN(n) lowercase digits and a NUL to out. */
void tl_hex_encode(const uint8_t *in, size_t n, char *out);
/* Decodes s[0..len) into out[0..n). Returns TL_OK, or TL_ERR_INVALID when
 * len is not exactly 2n or a character is not one of [0-9a-f]; out is left
 * untouched on failure. */
int tl_hex_decode(const char *s, size_t len, uint8_t *out, size_t n);

#endif
