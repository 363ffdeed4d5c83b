/*
 * internal.h - helpers shared by the signer/ files only (not a public API).
 *
 * Text checks for C2SP signed notes (c2sp.org/signed-note §Format): valid
 * UTF-8, no ASCII control characters but newline, key names without Unicode
 * spaces or '+'; and canonical ASCII decimals (no leading zeros).
 */
#ifndef TL_SIGNER_INTERNAL_H
#define TL_SIGNER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* 1 if s[0..len) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF)
 * and holds no control character below U+0020 other than '\n'. */
int tl_text_valid(const char *s, size_t len);
/* 1 if s[0..len) is a valid key name: non-empty, at most max bytes, valid
 * UTF-8 without control characters, Unicode white space or '+'. */
int tl_name_valid(const char *s, size_t len, size_t max);
/* Parses a canonical ASCII decimal ("0" or [1-9][0-9]*) that fits in
 * uint64_t: 1 on success, 0 otherwise. */
int tl_parse_u64(const char *s, size_t len, uint64_t *out);

/* Creates path (never over an existing file or through a symlink) with the
 * given mode, writes data, fsyncs: TL_OK or TL_ERR_IO (the file removed). */
int tl_file_write_new(const char *path, const void *data, size_t len, unsigned mode);
/* Reads a whole file of at most max bytes into a malloc'd, NUL-terminated
 * *buf (caller cleanses if secret, then frees): TL_OK, TL_ERR_IO,
 * TL_ERR_TOOBIG or TL_ERR_NOMEM. */
int tl_file_read_small(const char *path, size_t max, char **buf, size_t *len);

/* Longest key name accepted in keys and signature lines. */
#define TL_NAME_MAX 1024

#endif
