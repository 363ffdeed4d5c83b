/*
 * buf.h - a growable byte buffer (in the manner of git's strbuf).
 *
 * tl_buf_init sets up an empty buffer without allocating; tl_buf_release
 * frees the contents; tl_buf_detach hands the (NUL-terminated) contents to
 * the caller, who frees them with free(). The data is always NUL-terminated
 * once anything has been appended, so text can be used as a C string.
 */
#ifndef TL_COMMON_BUF_H
#define TL_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct tl_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
} tl_buf;

#define TL_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void tl_buf_init(tl_buf *b);
void tl_buf_release(tl_buf *b);
/* Returns the contents (NUL-terminated, never NULL) and resets b. */
char *tl_buf_detach(tl_buf *b, size_t *len);
/* Frees b's contents and hands it data: len bytes, malloc'd, with a NUL at
 * data[len] (what tl_file_read gives); b owns data from now on. */
void tl_buf_attach(tl_buf *b, char *data, size_t len);
int tl_buf_grow(tl_buf *b, size_t extra);
int tl_buf_add(tl_buf *b, const void *p, size_t n);
int tl_buf_adds(tl_buf *b, const char *s);
int tl_buf_addf(tl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tl_buf_reset(tl_buf *b);
/* Appends s escaped as a Prometheus label value (backslash, double quote and
 * newline escaped; the surrounding quotes are the caller's). */
int tl_buf_add_label(tl_buf *b, const char *s);

#endif
