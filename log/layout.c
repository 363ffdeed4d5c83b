/*
 * layout.c - the log's keys and value encodings (layout.h), and the reads
 * that know them: tiles and bundles (full in the stream, partial under their
 * level's key), leaf hashes, signed heads.
 */
#include "log/layout.h"

#include <stdlib.h>
#include <string.h>

const uint8_t tl_layout_key_state[2] = {1, 's'};
const uint8_t tl_layout_key_pub[2] = {1, 'P'};
const uint8_t tl_layout_key_origin[2] = {1, 'o'};
const uint8_t tl_layout_key_kind[2] = {1, 'k'};
const uint8_t tl_layout_key_closes[2] = {1, 'c'};
const uint8_t tl_layout_key_bpart[2] = {1, 'e'};
const uint8_t tl_layout_dedup_lo[1] = {2}, tl_layout_dedup_hi[1] = {3};

unsigned tl_layout_dedup_prefix = TL_LAYOUT_DEDUP_PREFIX;

void tl_layout_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint64_t tl_layout_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Stream key: 03 | ~p | kind. */
static size_t stream_key(uint8_t *k, uint64_t p, uint8_t kind)
{
    k[0] = 3;
    tl_layout_put_u64(k + 1, ~p);
    k[9] = kind;
    return 10;
}

size_t tl_layout_key_tile(uint8_t *k, int level, uint64_t n)
{
    unsigned shift = 8u * ((unsigned)level + 1);
    uint64_t p = UINT64_MAX;
    if (shift < 64 && n + 1 <= (UINT64_MAX >> shift))
        p = (n + 1) << shift;
    stream_key(k, p, 't');
    k[10] = (uint8_t)level;
    return 11;
}

size_t tl_layout_key_tpart(uint8_t *k, int level)
{
    k[0] = 1;
    k[1] = 't';
    k[2] = (uint8_t)level;
    return 3;
}

size_t tl_layout_key_bundle(uint8_t *k, uint64_t n)
{
    return stream_key(k, (n + 1) << 8, 'e');
}

size_t tl_layout_key_head(uint8_t *k, uint64_t size)
{
    return stream_key(k, size, 'H');
}

size_t tl_layout_key_dedup(uint8_t *k, const tl_hash *key)
{
    k[0] = 2;
    memcpy(k + 1, key->b, tl_layout_dedup_prefix);
    return 1 + tl_layout_dedup_prefix;
}

/* ---- heads and tree state ------------------------------------------------ */

void tl_log_head_release(tl_log_head *h)
{
    if (!h)
        return;
    free(h->note);
    free(h->sth_sig);
    memset(h, 0, sizeof(*h));
}

int tl_log_head_copy(tl_log_head *dst, const tl_log_head *src)
{
    *dst = *src;
    dst->note = malloc(src->note_len + 1);
    dst->sth_sig = malloc(src->sth_sig_len ? src->sth_sig_len : 1);
    if (!dst->note || !dst->sth_sig) {
        free(dst->note);
        free(dst->sth_sig);
        memset(dst, 0, sizeof(*dst));
        return TL_ERR_NOMEM;
    }
    memcpy(dst->note, src->note, src->note_len);
    dst->note[src->note_len] = 0;
    memcpy(dst->sth_sig, src->sth_sig, src->sth_sig_len);
    return TL_OK;
}

int tl_layout_head_encode(const tl_log_head *h, tl_buf *out)
{
    uint8_t hdr[8 + TL_HASH_SIZE + 2];
    tl_buf_reset(out);
    if (h->sth_sig_len > 0xffff)
        return TL_ERR_INVALID;
    tl_layout_put_u64(hdr, h->timestamp_ms);
    memcpy(hdr + 8, h->root.b, TL_HASH_SIZE);
    hdr[40] = (uint8_t)(h->sth_sig_len >> 8);
    hdr[41] = (uint8_t)h->sth_sig_len;
    if (tl_buf_add(out, hdr, sizeof(hdr)) || tl_buf_add(out, h->sth_sig, h->sth_sig_len) ||
        tl_buf_add(out, h->note, h->note_len))
        return TL_ERR_NOMEM;
    return TL_OK;
}

int tl_layout_head_decode(const tl_buf *v, uint64_t size, tl_log_head *h)
{
    size_t sl;
    memset(h, 0, sizeof(*h));
    if (v->len < 42)
        return TL_ERR_CORRUPT;
    sl = ((size_t)v->data[40] << 8) | v->data[41];
    if (v->len < 42 + sl + 1)
        return TL_ERR_CORRUPT;
    h->size = size;
    h->timestamp_ms = tl_layout_get_u64(v->data);
    memcpy(h->root.b, v->data + 8, TL_HASH_SIZE);
    h->sth_sig_len = sl;
    h->note_len = v->len - 42 - sl;
    h->sth_sig = malloc(sl ? sl : 1);
    h->note = malloc(h->note_len + 1);
    if (!h->sth_sig || !h->note) {
        tl_log_head_release(h);
        return TL_ERR_NOMEM;
    }
    memcpy(h->sth_sig, v->data + 42, sl);
    memcpy(h->note, v->data + 42 + sl, h->note_len);
    h->note[h->note_len] = 0;
    return TL_OK;
}

int tl_layout_head_read(tl_store *s, uint64_t size, tl_log_head *h)
{
    uint8_t k[TL_LAYOUT_KEY_MAX];
    tl_buf v = TL_BUF_INIT;
    int rc = tl_store_get(s, k, tl_layout_key_head(k, size), &v);
    if (rc == TL_OK)
        rc = tl_layout_head_decode(&v, size, h);
    tl_buf_release(&v);
    return rc;
}

int tl_layout_state_encode(const tl_frontier *f, const tl_hash *root, tl_buf *out)
{
    uint8_t sz[8];
    tl_buf_reset(out);
    tl_layout_put_u64(sz, f->size);
    if (tl_buf_add(out, sz, 8) || tl_buf_add(out, root->b, TL_HASH_SIZE) ||
        tl_buf_add(out, f->hashes, (size_t)f->n * TL_HASH_SIZE))
        return TL_ERR_NOMEM;
    return TL_OK;
}

int tl_layout_state_decode(const tl_buf *v, tl_frontier *f, tl_hash *root)
{
    uint64_t size;
    unsigned n;
    if (v->len < 40)
        return TL_ERR_CORRUPT;
    size = tl_layout_get_u64(v->data);
    n = (unsigned)__builtin_popcountll(size);
    if (v->len != 40 + (size_t)n * TL_HASH_SIZE)
        return TL_ERR_CORRUPT;
    tl_frontier_init(f);
    f->size = size;
    f->n = n;
    memcpy(root->b, v->data + 8, TL_HASH_SIZE);
    memcpy(f->hashes, v->data + 40, (size_t)n * TL_HASH_SIZE);
    return TL_OK;
}

int tl_layout_pub_encode(uint64_t size, const char *note, size_t len, tl_buf *out)
{
    uint8_t sz[8];
    tl_buf_reset(out);
    tl_layout_put_u64(sz, size);
    if (tl_buf_add(out, sz, 8) || tl_buf_add(out, note, len))
        return TL_ERR_NOMEM;
    return TL_OK;
}

/* ---- tiles, bundles, leaves ------------------------------------------------ */

int tl_layout_tile_read(tl_store *s, int level, uint64_t n, enum tl_layout_how how, tl_buf *v,
                        size_t *off, int unverified)
{
    uint8_t k[TL_LAYOUT_KEY_MAX];
    int rc;
    int bundle = level == TL_TILE_ENTRIES;
    int (*get)(tl_store *, const void *, size_t, tl_buf *) =
        unverified ? tl_store_get_unverified : tl_store_get;
    if (how != TL_LAYOUT_PARTIAL_FIRST) {
        rc = bundle ? get(s, k, tl_layout_key_bundle(k, n), v)
                    : tl_store_get(s, k, tl_layout_key_tile(k, level, n), v);
        *off = 0;
        if (rc != TL_ERR_NOTFOUND || how == TL_LAYOUT_FULL_ONLY)
            return rc;
    }
    rc = bundle ? get(s, tl_layout_key_bpart, 2, v)
                : tl_store_get(s, k, tl_layout_key_tpart(k, level), v);
    if (rc != TL_OK)
        return rc;
    if (v->len < 8)
        return TL_ERR_CORRUPT;
    if (tl_layout_get_u64(v->data) == n) {
        *off = 8;
        return TL_OK;
    }
    if (tl_layout_get_u64(v->data) < n)
        return TL_ERR_NOTFOUND;
    /* filled up since (the caller's size, or our first look): in the stream now */
    *off = 0;
    return bundle ? get(s, k, tl_layout_key_bundle(k, n), v)
                  : tl_store_get(s, k, tl_layout_key_tile(k, level, n), v);
}

int tl_layout_leaf_at(tl_store *s, uint64_t index, tl_hash *out, tl_buf *v)
{
    size_t off = 0, at;
    int rc = tl_layout_tile_read(s, 0, index >> 8, TL_LAYOUT_FULL_FIRST, v, &off, 0);
    if (rc == TL_ERR_NOTFOUND)
        return TL_ERR_CORRUPT; /* asked for by index: must exist */
    if (rc != TL_OK)
        return rc;
    at = off + (size_t)(index & 255) * TL_HASH_SIZE;
    if ((v->len - off) % TL_HASH_SIZE || v->len < at + TL_HASH_SIZE)
        return TL_ERR_CORRUPT;
    memcpy(out->b, v->data + at, TL_HASH_SIZE);
    return TL_OK;
}

size_t tl_layout_bundle_prefix(const uint8_t *data, size_t len, unsigned count, size_t *last_off)
{
    size_t off = 0;
    for (unsigned i = 0; i < count; i++) {
        size_t l;
        if (off + 2 > len)
            return 0;
        l = ((size_t)data[off] << 8) | data[off + 1];
        if (l == 0 || off + 2 + l > len)
            return 0;
        if (last_off)
            *last_off = off;
        off += 2 + l;
    }
    return off;
}

int tl_layout_tiles_get(void *ctx, int level, uint64_t n, unsigned min_width, const uint8_t **data,
                        unsigned *width)
{
    tl_layout_tiles *ts = ctx;
    size_t off = 0, len;
    int rc;
    if (level < 0 || level >= TL_LAYOUT_TILE_LEVELS)
        return TL_ERR_RANGE;
    rc = tl_layout_tile_read(
        ts->store, level, n,
        min_width == TL_TILE_WIDTH ? TL_LAYOUT_FULL_ONLY : TL_LAYOUT_FULL_FIRST, &ts->buf, &off, 0);
    if (rc != TL_OK)
        return rc;
    len = ts->buf.len - off;
    if (len == 0 || len % TL_HASH_SIZE || len > (size_t)TL_TILE_WIDTH * TL_HASH_SIZE)
        return TL_ERR_CORRUPT;
    *width = (unsigned)(len / TL_HASH_SIZE);
    if (*width < min_width)
        return TL_ERR_CORRUPT;
    *data = ts->buf.data + off;
    return TL_OK;
}

static int tiles_read(void *ctx, const tl_node *nodes, size_t n, tl_hash *out)
{
    tl_layout_tiles *ts = ctx;
    return tl_tile_read_nodes(tl_layout_tiles_get, ts, ts->h, nodes, n, out);
}

int tl_layout_tiles_init(tl_layout_tiles *ts, tl_store *s, tl_hash_reader *r)
{
    ts->store = s;
    tl_buf_init(&ts->buf);
    ts->h = tl_hasher_new();
    if (!ts->h)
        return TL_ERR_NOMEM;
    r->read = tiles_read;
    r->ctx = ts;
    return TL_OK;
}

void tl_layout_tiles_release(tl_layout_tiles *ts)
{
    tl_buf_release(&ts->buf);
    tl_hasher_free(ts->h);
}
