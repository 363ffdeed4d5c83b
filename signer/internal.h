/*
 * internal.h - helpers shared by the signer/ files only (not a public API).
 *
 * Text checks for C2SP signed notes (c2sp.org/signed-note §Format): valid
 * UTF-8, no ASCII control characters but newline, key names without Unicode
 * spaces or '+'. Decimals are common/dec.h's, key files common/file.h's.
 */
#ifndef TL_SIGNER_INTERNAL_H
#define TL_SIGNER_INTERNAL_H

#include <stddef.h>

/* 1 if s[0..len) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF)
 * and holds no control character below U+0020 other than '\n'. */
int tl_text_valid(const char *s, size_t len);
/* 1 if s[0..len) is a valid key name: non-empty, at most max bytes, valid
 * UTF-8 without control characters, Unicode white space or '+'. */
int tl_name_valid(const char *s, size_t len, size_t max);

/* Longest key name accepted in keys and signature lines. */
#define TL_NAME_MAX 1024

#endif
