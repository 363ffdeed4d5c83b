/*
 * layout.h - the log's storage layout: every key it writes to its tl_store
 * and every value encoding, in one place (rationale in docs/LOG.md). The
 * sequencer writes through these, recovery and the read side read through
 * them; no other file knows a key byte.
 *
 * Keys (integers big-endian):
 *   01 'o'                 origin (written once, by init)
 *   01 'k'                 entry kind name, e.g. "blob" (written once, by
 *                          init; absent in logs made before kinds: blob)
 *   01 'c'                 closing time: u64 ms since the epoch; no entry
 *                          gets this log time or a later one (absent: the
 *                          log never closes)
 *   01 's'                 tree state: size u64 | root 32 | frontier
 *                          popcount(size)*32
 *   01 'P'                 published head: size u64 | note (+ cosignatures)
 *   01 't' L(u8)           the current partial hash tile of level L:
 *                            n u64 | width*32 bytes (width 0..255)
 *   01 'e'                 the current partial entry bundle: n u64 | (u16 len | entry)*
 *   02 key[0..8)           dedup index: u64 index of every submission whose
 *                          dedup key (the leaf hash, for blob) starts with
 *                          these 8 bytes (almost always one); a hit is
 *                          confirmed against the whole key of the stored
 *                          submission (the kind's key_at), so strong dedup
 *                          does not rest on the short key
 *   03 ~p(u64) kind [L]    the append-only stream, newest first: p is the
 *                          tree size at which the record came to be, so
 *                          every commit writes keys below all older ones
 *                          and LevelDB compactions never rewrite old data:
 *        kind 'H'            signed head of size p:
 *                              ts_ms u64 | root 32 | u16 sthlen | sth | note
 *        kind 'e'            full entry bundle (p >> 8) - 1
 *        kind 't' L          full hash tile ((p >> 8(L+1)) - 1) of level L
 *   10 ...                 owned by the entry kind (log/kind.h): records a
 *                          kind keeps beside the tree (e.g. audit event
 *                          bodies), laid out in the kind's own file
 */
#ifndef TL_LOG_LAYOUT_H
#define TL_LOG_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "merkle/merkle.h"
#include "store/store.h"

#define TL_LAYOUT_TILE_LEVELS 8  /* 8 tile levels of height 8 cover 64-bit sizes */
#define TL_LAYOUT_DEDUP_PREFIX 8 /* dedup-key bytes in a dedup index key */
#define TL_LAYOUT_KEY_MAX 33
#define TL_LAYOUT_KIND_PREFIX 0x10 /* first byte of every key an entry kind owns */

extern const uint8_t tl_layout_key_state[2], tl_layout_key_pub[2], tl_layout_key_origin[2],
    tl_layout_key_kind[2], tl_layout_key_bpart[2], tl_layout_key_closes[2];
/* The range of dedup index keys [lo, hi), for a scan. */
extern const uint8_t tl_layout_dedup_lo[1], tl_layout_dedup_hi[1];

void tl_layout_put_u64(uint8_t *p, uint64_t v);
uint64_t tl_layout_get_u64(const uint8_t *p);

size_t tl_layout_key_tile(uint8_t *k, int level, uint64_t n); /* full hash tile */
size_t tl_layout_key_tpart(uint8_t *k, int level);            /* partial hash tile */
size_t tl_layout_key_bundle(uint8_t *k, uint64_t n);          /* full entry bundle */
size_t tl_layout_key_head(uint8_t *k, uint64_t size);         /* signed head */
size_t tl_layout_key_dedup(uint8_t *k, const tl_hash *key);   /* dedup index */
/* Dedup-key bytes in a dedup index key: TL_LAYOUT_DEDUP_PREFIX; tests lower
 * it (before creating a log) to exercise index keys shared by several
 * submissions. */
extern unsigned tl_layout_dedup_prefix;

/* ---- heads and tree state ------------------------------------------------ */

/* A signed tree head as the log keeps it. */
typedef struct tl_log_head {
    uint64_t size;
    tl_hash root;
    uint64_t timestamp_ms;
    char *note; /* signed checkpoint (log signature [+ cosignatures]), malloc'd */
    size_t note_len;
    uint8_t *sth_sig; /* RFC 6962 digitally-signed TreeHeadSignature, malloc'd */
    size_t sth_sig_len;
} tl_log_head;

void tl_log_head_release(tl_log_head *h);
/* Deep copy (dst is overwritten). */
int tl_log_head_copy(tl_log_head *dst, const tl_log_head *src);

/* Signed head record (value of tl_layout_key_head) into out (reset first). */
int tl_layout_head_encode(const tl_log_head *h, tl_buf *out);
int tl_layout_head_decode(const tl_buf *v, uint64_t size, tl_log_head *h);
/* Reads the signed head of exactly `size`. */
int tl_layout_head_read(tl_store *s, uint64_t size, tl_log_head *h);
/* Tree state record (value of tl_layout_key_state). */
int tl_layout_state_encode(const tl_frontier *f, const tl_hash *root, tl_buf *out);
int tl_layout_state_decode(const tl_buf *v, tl_frontier *f, tl_hash *root);
/* Published head record (value of tl_layout_key_pub). */
int tl_layout_pub_encode(uint64_t size, const char *note, size_t len, tl_buf *out);

/* ---- tiles, bundles, dedup ------------------------------------------------ */

/* How tl_layout_tile_read looks for a tile. */
enum tl_layout_how {
    TL_LAYOUT_PARTIAL_FIRST, /* the caller knows it was partial; it may have filled since */
    TL_LAYOUT_FULL_ONLY,
    TL_LAYOUT_FULL_FIRST,
};

/*
 * Reads the latest stored version of hash tile (level, n), or of entry
 * bundle n for level TL_TILE_ENTRIES, into v; the tile's bytes start at
 * v->data + *off. A full tile lives in the stream, the current partial one
 * under its level's partial key (which names its n). TL_ERR_NOTFOUND when
 * neither holds it. With unverified, a bundle is read without the store's
 * checksum: only for callers that hash every entry they use; hash tiles are
 * always read with it.
 */
int tl_layout_tile_read(tl_store *s, int level, uint64_t n, enum tl_layout_how how, tl_buf *v,
                        size_t *off, int unverified);
/* The stored leaf hash at index (level-0 tile); v is scratch. */
int tl_layout_leaf_at(tl_store *s, uint64_t index, tl_hash *out, tl_buf *v);
/* Byte length of the first `count` entries of a bundle (u16 length |
 * bytes)*, or 0 if malformed; *last_off (if not NULL) gets the offset of
 * the last of them. */
size_t tl_layout_bundle_prefix(const uint8_t *data, size_t len, unsigned count, size_t *last_off);

/* A tl_hash_reader over the stored tiles (recovery: no size bound, the
 * latest version of each tile). tl_layout_tiles_init sets r to read through
 * ts; release with tl_layout_tiles_release. */
typedef struct tl_layout_tiles {
    tl_store *store;
    tl_buf buf;
    tl_hasher *h;
} tl_layout_tiles;
int tl_layout_tiles_init(tl_layout_tiles *ts, tl_store *s, tl_hash_reader *r);
void tl_layout_tiles_release(tl_layout_tiles *ts);
/* The hashes of tile (level, n), at least min_width of them (a
 * tl_tile_get_fn over ts). */
int tl_layout_tiles_get(void *ts, int level, uint64_t n, unsigned min_width, const uint8_t **data,
                        unsigned *width);

#endif
