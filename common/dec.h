/*
 * dec.h - strict canonical ASCII decimals, the one parser of unsigned
 * numbers in tlogd: sizes and indices in checkpoints, proofs and witness
 * requests, thresholds in policies, command-line options.
 *
 * Canonical means "0" or [1-9][0-9]*: ASCII digits only, no sign, no white
 * space, no leading zero, nothing after the digits. Values are checked
 * against the caller's bound digit by digit, so nothing overflows.
 */
#ifndef TL_COMMON_DEC_H
#define TL_COMMON_DEC_H

#include <stddef.h>
#include <stdint.h>

/* Parses s[0..len) (not NUL-terminated; a NUL inside is refused) as a
 * canonical decimal of at most max. Returns TL_OK and sets *out, or
 * TL_ERR_INVALID (*out untouched). */
int tl_dec_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out);

/* The same for a NUL-terminated s whose value must lie in lo..hi (an option
 * value, a query parameter). */
int tl_dec_parse_range(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

#endif
