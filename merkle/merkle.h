/*
 * merkle.h - the pure Merkle core of tlogd: RFC 6962 / RFC 9162 hashing,
 * tree hashes, compact ranges, inclusion and consistency proofs, and the
 * C2SP tlog-tiles coordinates and paths.
 *
 * No I/O, no storage, no event loop: only libcrypto for SHA-256. Stored
 * hashes are read through tl_hash_reader, so the same code serves the
 * LevelDB store, the in-memory store and a tile fetcher. The proof builders
 * work as Go's sumdb/tlog does: compute every node needed, read them in one
 * batch, then fold.
 *
 * Node coordinates: (level, index) names the root of the complete subtree
 * over leaves [index << level, (index + 1) << level). Level 0 nodes are the
 * leaf hashes. A reader is only ever asked for complete subtrees that lie
 * inside the tree size the caller gave.
 *
 * All functions return TL_OK or a negative tl_err (common/err.h).
 */
#ifndef TL_MERKLE_H
#define TL_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define TL_HASH_SIZE 32
/* A proof for a tree of at most 2^63 leaves has at most 63 (inclusion) or
 * 64 (consistency) hashes. */
#define TL_MAX_PROOF 64

typedef struct tl_hash {
    uint8_t b[TL_HASH_SIZE];
} tl_hash;

typedef struct tl_node {
    uint8_t level;  /* 0..63 */
    uint64_t index; /* node index at that level */
} tl_node;

/* ---- hashing ------------------------------------------------------------ */

/* A reusable SHA-256 context (fetched once; not thread-safe: one per thread). */
typedef struct tl_hasher tl_hasher;

tl_hasher *tl_hasher_new(void);
void tl_hasher_free(tl_hasher *h);
/* The calling thread's own hasher: made on its first use, freed when the
 * thread exits; NULL when out of memory. Never pass it to another thread. */
tl_hasher *tl_hasher_thread(void);
/* Leaf hash: SHA-256(0x00 || data) (RFC 6962 §2.1). */
void tl_hash_leaf(tl_hasher *h, const void *data, size_t len, tl_hash *out);
/* Node hash: SHA-256(0x01 || left || right). out may alias left or right. */
void tl_hash_node(tl_hasher *h, const tl_hash *left, const tl_hash *right, tl_hash *out);
/* Plain SHA-256 of data (for key IDs, origins, ...). */
void tl_sha256(tl_hasher *h, const void *data, size_t len, tl_hash *out);
/* SHA-256(a || b), without copying them together. */
void tl_sha256_2(tl_hasher *h, const void *a, size_t alen, const void *b, size_t blen,
                 tl_hash *out);
/* Hash of the empty tree: SHA-256(""). */
void tl_hash_empty(tl_hash *out);

/* ---- reading stored hashes ---------------------------------------------- */

/*
 * Reads n node hashes into out[0..n). The nodes are complete subtrees of a
 * tree the caller knows exists. Returns TL_OK, or an error that the caller
 * passes on unchanged (TL_ERR_IO, TL_ERR_NOTFOUND, TL_ERR_CORRUPT, ...).
 */
typedef struct tl_hash_reader {
    int (*read)(void *ctx, const tl_node *nodes, size_t n, tl_hash *out);
    void *ctx;
} tl_hash_reader;

/* The root of the tree of the given size (empty-tree hash for size 0). */
int tl_tree_hash(const tl_hash_reader *r, tl_hasher *h, uint64_t size, tl_hash *root);

/* Nodes (complete subtrees) whose hashes determine the tree hash of `size`,
 * left to right; returns how many (at most 64) into out[64]. */
size_t tl_tree_nodes(uint64_t size, tl_node out[64]);

/* ---- compact range (right frontier) ------------------------------------ */

/*
 * The right frontier of a tree: the roots of its maximal complete subtrees,
 * left to right (the binary decomposition of size). O(log n) memory.
 */
typedef struct tl_frontier {
    uint64_t size;
    unsigned n;         /* number of hashes = popcount(size) */
    tl_hash hashes[64]; /* hashes[0] is the largest (leftmost) subtree */
} tl_frontier;

/* Called for every complete subtree hash the append creates, lowest level
 * first: the leaf itself (level 0) and each new parent. */
typedef void (*tl_emit_fn)(void *ctx, const tl_node *node, const tl_hash *hash);

void tl_frontier_init(tl_frontier *f);
/* Appends one leaf hash; emit may be NULL. */
void tl_frontier_append(tl_frontier *f, tl_hasher *h, const tl_hash *leaf, tl_emit_fn emit,
                        void *ctx);
/* The root of the tree the frontier describes. */
void tl_frontier_root(const tl_frontier *f, tl_hasher *h, tl_hash *root);
/* Loads the frontier of `size` from stored hashes (one reader call; on error
 * f is left unchanged). */
int tl_frontier_load(tl_frontier *f, const tl_hash_reader *r, uint64_t size);

/* ---- proofs ------------------------------------------------------------ */

/* RFC 9162 §2.1.3.1 inclusion proof of leaf `index` in tree `size`.
 * proof must hold TL_MAX_PROOF hashes; *len receives the count. Makes at
 * most one reader call (none for an empty proof). TL_ERR_RANGE if index >=
 * size (or for a proof longer than TL_MAX_PROOF, possible only above 2^63
 * leaves); reader errors are passed on unchanged. */
int tl_prove_inclusion(const tl_hash_reader *r, tl_hasher *h, uint64_t index, uint64_t size,
                       tl_hash *proof, size_t *len);
/* RFC 9162 §2.1.4.1 consistency proof between sizes size1 <= size2 (empty
 * when size1 == 0 or size1 == size2). One reader call at most; TL_ERR_RANGE
 * if size1 > size2. */
int tl_prove_consistency(const tl_hash_reader *r, tl_hasher *h, uint64_t size1, uint64_t size2,
                         tl_hash *proof, size_t *len);

/* RFC 9162 §2.1.3.2. TL_OK, TL_ERR_PROOF if it does not verify, TL_ERR_RANGE
 * if index >= size, TL_ERR_INVALID for a proof of the wrong length (the
 * length is a function of index and size; it is checked before hashing).
 * Note: like any RFC 9162 verifier, this authenticates the leaf against the
 * root, not the size: the size must come from the same signed tree head. */
int tl_verify_inclusion(tl_hasher *h, const tl_hash *leaf, uint64_t index, uint64_t size,
                        const tl_hash *proof, size_t len, const tl_hash *root);
/* RFC 9162 §2.1.4.2. TL_OK; TL_ERR_RANGE if size1 > size2; TL_ERR_INVALID
 * for a proof of the wrong length (including an empty proof when
 * 0 < size1 < size2); TL_ERR_PROOF if the roots do not match.
 * size1 == size2 needs an empty proof and equal roots (even at size 0);
 * size1 == 0 < size2 needs an empty proof, and root1 is then not read (it
 * may be NULL), as in Go's sumdb/tlog and Trillian. */
int tl_verify_consistency(tl_hasher *h, uint64_t size1, uint64_t size2, const tl_hash *proof,
                          size_t len, const tl_hash *root1, const tl_hash *root2);
/* Root of `size` computed from an inclusion proof (for chaining checks).
 * Errors as tl_verify_inclusion, never TL_ERR_PROOF. */
int tl_root_from_inclusion(tl_hasher *h, const tl_hash *leaf, uint64_t index, uint64_t size,
                           const tl_hash *proof, size_t len, tl_hash *root);

/* ---- C2SP tlog-tiles ---------------------------------------------------- */

#define TL_TILE_HEIGHT 8
#define TL_TILE_WIDTH 256
#define TL_TILE_ENTRIES (-1) /* level value naming an entry bundle */
/* Longest path tl_tile_path can produce, with NUL. */
#define TL_TILE_PATH_MAX 96

typedef struct tl_tile {
    int level;      /* 0..63 for hash tiles, TL_TILE_ENTRIES for entry bundles */
    uint64_t n;     /* tile index at that level */
    unsigned width; /* 1..256; 256 is a full tile */
} tl_tile;

/* "tile/<L>/<N>[.p/<W>]" or "tile/entries/<N>[.p/<W>]" (no leading slash),
 * N in 3-digit groups with 'x' on all but the last ("x001/x234/067"); the
 * .p/<W> suffix only when width < 256. TL_ERR_INVALID for a level outside
 * 0..63 (and not TL_TILE_ENTRIES) or a width outside 1..256; TL_ERR_TOOBIG
 * if cap is too small (TL_TILE_PATH_MAX always suffices). */
int tl_tile_path(const tl_tile *t, char *buf, size_t cap);
/* Strict parser (tlog-tiles "Merkle Tree"): accepts exactly what
 * tl_tile_path writes, plus an optional leading '/'; path need not be NUL-
 * terminated (len bytes are read). Rejects with TL_ERR_INVALID: L with a
 * leading zero, sign or > 63; N groups not exactly 3 digits, 'x' missing on
 * a non-last group or present on the last, an all-zero leading group
 * ("x000/001"), a value above 2^64-1; W outside 1..255 or with a leading
 * zero; empty components, trailing slashes or any trailing byte. Whether
 * the tile exists in a given tree is the caller's check (tl_tile_for_hash).
 * *t is written only on success. */
int tl_tile_parse_path(const char *path, size_t len, tl_tile *t);

/* The hash tile holding a stored hash, for a tree of `size` leaves.
 * `level` is the TILE level L (0..63) and `index` numbers the level-(8L)
 * Merkle nodes, i.e. the node (8L, index), the hash of leaves
 * [index * 256^L, (index + 1) * 256^L). Sets t->level = L,
 * t->n = index / 256 and t->width = min(256, H - 256 * t->n) where
 * H = tl_tile_level_hashes(L, size): the widest tile of that index the tree
 * has (256 = full). The hash is at offset (index % 256) * 32 in the tile.
 * TL_ERR_INVALID if L is outside 0..63; TL_ERR_RANGE if index >= H (the
 * node is not complete in this tree). For a node (l, i) with l not a
 * multiple of 8, use tile level l / 8 and index i << (l % 8) (its first
 * level-(8L) hash), as tl_tile_read_nodes does. */
int tl_tile_for_hash(int level, uint64_t index, uint64_t size, tl_tile *t);
/* Number of level-(8L) hashes in a tree of `size` leaves: size >> (8L);
 * 0 for L < 0 or L >= 8 (no such node fits in 64 bits). */
uint64_t tl_tile_level_hashes(int level, uint64_t size);
/* Number of tile levels a tree of `size` has (levels with at least one hash):
 * 0 for size 0, 1 up to 255, 2 for 256..65535, ..., 8 at most. */
int tl_tile_levels(uint64_t size);
/* The hash of the subtree that a tile of hashes summarises: a full tile at
 * level L is the level-(8L+8) node; hashes is width*32 bytes. For a partial
 * tile this is the tree hash of its width hashes. */
void tl_tile_hash(tl_hasher *h, const uint8_t *hashes, unsigned width, tl_hash *out);

/*
 * A source of hash tiles, for readers built on tiles (the LevelDB store, a
 * tile fetcher over HTTP): returns in *data (borrowed, valid until the next
 * call) the hashes of tile (level, n), *width of them, with *width >=
 * min_width, or an error.
 */
typedef int (*tl_tile_get_fn)(void *ctx, int level, uint64_t n, unsigned min_width,
                              const uint8_t **data, unsigned *width);
/* Reads node hashes from tiles: node (l, i) comes from the hash tile at
 * level l/8 by folding its 2^(l%8) level-(8*(l/8)) hashes. Nodes are grouped
 * by tile: get is called once per distinct tile, with min_width the widest
 * prefix any of its nodes needs. TL_ERR_INVALID for a node outside 64-bit
 * coordinates; TL_ERR_CORRUPT if get returns fewer than min_width hashes
 * (or more than 256); get's errors are passed on unchanged; TL_ERR_NOMEM if
 * n > 160 and the grouping array cannot be allocated. */
int tl_tile_read_nodes(tl_tile_get_fn get, void *ctx, tl_hasher *h, const tl_node *nodes, size_t n,
                       tl_hash *out);

#endif
