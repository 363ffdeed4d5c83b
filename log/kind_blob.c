/*
 * kind_blob.c - the blob kind (kind.h): entries are opaque bytes, submitted
 * with POST /add. The entry is the submission; its dedup key is its leaf
 * hash SHA-256(0x00 || entry) (RFC 6962 §2.1), so a duplicate gets the
 * original's index, and a hit of the short dedup index is confirmed against
 * the leaf hash stored in the level-0 tile.
 */
#include "log/kind.h"

#include "log/layout.h"

static int blob_prepare(const tl_kind *k, tl_hasher *h, const uint8_t *sub, size_t len,
                        tl_hash *key, tl_hash *leaf)
{
    (void)k;
    tl_hash_leaf(h, sub, len, leaf);
    *key = *leaf;
    return 1;
}

static int blob_key_at(const tl_kind *k, tl_store *s, uint64_t index, tl_hash *key, tl_buf *scratch)
{
    (void)k;
    return tl_layout_leaf_at(s, index, key, scratch);
}

const tl_kind tl_kind_blob = {
    .name = "blob",
    .repeat_time_on_clock_step = 0,
    .prepare = blob_prepare,
    .seal = NULL,
    .key_at = blob_key_at,
    .same_stored = NULL,
    .same_pending = NULL,
    .leaf_index = NULL,
    .ctx = NULL,
};
