/* buf.c - growable byte buffer; see buf.h. */
#include "common/buf.h"
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tl_buf_init(tl_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void tl_buf_release(tl_buf *b)
{
    free(b->data);
    tl_buf_init(b);
}

char *tl_buf_detach(tl_buf *b, size_t *len)
{
    char *p;
    if (b->data == NULL && tl_buf_grow(b, 0) != TL_OK)
        return NULL;
    p = (char *)b->data;
    if (len)
        *len = b->len;
    tl_buf_init(b);
    return p;
}

void tl_buf_attach(tl_buf *b, char *data, size_t len)
{
    free(b->data);
    b->data = (uint8_t *)data;
    b->len = len;
    b->cap = len + 1;
}

int tl_buf_grow(tl_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1, cap;
    uint8_t *p;
    if (need < b->len)
        return TL_ERR_NOMEM;
    if (need <= b->cap)
        return TL_OK;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    p = realloc(b->data, cap);
    if (p == NULL)
        return TL_ERR_NOMEM;
    b->data = p;
    b->cap = cap;
    b->data[b->len] = 0;
    return TL_OK;
}

int tl_buf_add(tl_buf *b, const void *p, size_t n)
{
    if (tl_buf_grow(b, n) != TL_OK)
        return TL_ERR_NOMEM;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return TL_OK;
}

int tl_buf_adds(tl_buf *b, const char *s)
{
    return tl_buf_add(b, s, strlen(s));
}

int tl_buf_addf(tl_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || tl_buf_grow(b, (size_t)n) != TL_OK)
        return TL_ERR_NOMEM;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return TL_OK;
}

void tl_buf_reset(tl_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = 0;
}

int tl_buf_add_label(tl_buf *b, const char *s)
{
    int rc = TL_OK;
    for (; *s && rc == TL_OK; s++) {
        if (*s == '\\' || *s == '"')
            rc = tl_buf_addf(b, "\\%c", *s);
        else if (*s == '\n')
            rc = tl_buf_adds(b, "\\n");
        else
            rc = tl_buf_add(b, s, 1);
    }
    return rc;
}
