/*
 * store.c - write batches for the tl_store interface.
 *
 * A batch is one contiguous buffer of records, each
 *   op (1 byte: 1 put, 0 delete) | klen (u32) | vlen (u32) | key | value
 * in the order they were added. Implementations replay it with
 * tl_batch_iterate and must apply it atomically. Keys and values are copied.
 */
#include "store/store.h"

#include <stdlib.h>
#include <string.h>

struct tl_batch {
    tl_buf buf;
    size_t count;
};

tl_batch *tl_batch_new(void)
{
    tl_batch *b = calloc(1, sizeof(*b));
    if (b)
        tl_buf_init(&b->buf);
    return b;
}

static int batch_add(tl_batch *b, int op, const void *key, size_t klen, const void *val,
                     size_t vlen)
{
    uint8_t hdr[9];
    uint32_t k = (uint32_t)klen, v = (uint32_t)vlen;
    if (klen > UINT32_MAX || vlen > UINT32_MAX)
        return TL_ERR_TOOBIG;
    hdr[0] = (uint8_t)op;
    memcpy(hdr + 1, &k, 4);
    memcpy(hdr + 5, &v, 4);
    if (tl_buf_grow(&b->buf, sizeof(hdr) + klen + vlen) != TL_OK)
        return TL_ERR_NOMEM;
    tl_buf_add(&b->buf, hdr, sizeof(hdr));
    tl_buf_add(&b->buf, key, klen);
    tl_buf_add(&b->buf, val, vlen);
    b->count++;
    return TL_OK;
}

int tl_batch_put(tl_batch *b, const void *key, size_t klen, const void *val, size_t vlen)
{
    return batch_add(b, 1, key, klen, val, vlen);
}

int tl_batch_del(tl_batch *b, const void *key, size_t klen)
{
    return batch_add(b, 0, key, klen, NULL, 0);
}

size_t tl_batch_count(const tl_batch *b)
{
    return b->count;
}

size_t tl_batch_bytes(const tl_batch *b)
{
    return b->buf.len;
}

void tl_batch_clear(tl_batch *b)
{
    tl_buf_reset(&b->buf);
    b->count = 0;
}

void tl_batch_free(tl_batch *b)
{
    if (!b)
        return;
    tl_buf_release(&b->buf);
    free(b);
}

int tl_batch_iterate(const tl_batch *b, tl_batch_fn fn, void *ctx)
{
    size_t off = 0;
    while (off < b->buf.len) {
        uint32_t k, v;
        const uint8_t *p = b->buf.data + off;
        int rc;
        memcpy(&k, p + 1, 4);
        memcpy(&v, p + 5, 4);
        rc = fn(ctx, p[0], p + 9, k, p + 9 + k, v);
        if (rc != TL_OK)
            return rc;
        off += 9 + (size_t)k + v;
    }
    return TL_OK;
}
