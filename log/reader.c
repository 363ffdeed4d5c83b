/*
 * reader.c - the log's read side for one thread (reader.h): proofs through a
 * cache of node hashes, full hash tiles and leaf indexes.
 *
 * A complete subtree's hash never changes, so node hashes are cached for the
 * life of the reader (direct mapped). Level 8L hashes come from the log's
 * hash tiles (a run of consecutive tiles is cached too); the levels in
 * between are folded from their two children, each cached, so the proofs of
 * a batch of consecutive entries share nearly all their work instead of
 * refolding up to 255 hashes per tile level each.
 *
 * Full entry bundles are cached too (a large reader: 1024 slots, direct
 * mapped by bundle number, at most 64 MiB in all): tl_log_tile checks every
 * entry of a bundle against the leaf hashes of its level-0 tile, and a full
 * bundle never changes, so a checked one is served again as it is.
 */
#include "log/reader.h"

#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"

typedef struct tile_slot {
    int level; /* -2: empty */
    uint64_t n;
    unsigned width;
    uint8_t data[TL_TILE_WIDTH * TL_HASH_SIZE];
} tile_slot;

/* A full entry bundle, checked against its level-0 tile once; the slot and
 * each pin hold a reference. */
typedef struct bundle_blob {
    unsigned refs; /* atomic */
    size_t len;
    uint8_t data[];
} bundle_blob;

typedef struct bundle_slot {
    uint64_t n1; /* bundle number + 1; 0 = empty */
    bundle_blob *b;
} bundle_slot;

void tl_log_reader_unpin(void *pin)
{
    bundle_blob *b = pin;
    if (b && __atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
        free(b);
}

typedef struct leaf_slot {
    tl_hash leaf;
    uint64_t index1; /* index + 1; 0 = empty */
} leaf_slot;

struct tl_log_reader {
    tl_log *log;
    uint64_t within; /* the tree size tiles are read at */
    tl_hasher *h;
    size_t nnodes;  /* node cache slots: a power of two, two halves */
    uint64_t *keys; /* key + 1; 0 = empty */
    tl_hash *vals;
    size_t ntiles; /* tile cache slots */
    tile_slot *tiles;
    size_t nbundles; /* bundle cache slots (0: none) */
    bundle_slot *bundles;
    size_t bundle_bytes, bundle_budget;
    size_t nleaves; /* leaf cache slots: a power of two, sets of two */
    leaf_slot *leaves;
    tl_buf tmp;
};

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

int tl_log_reader_new(tl_log *log, enum tl_log_reader_size size, tl_log_reader **out)
{
    tl_log_reader *r = calloc(1, sizeof(*r));
    *out = NULL;
    if (!r)
        return TL_ERR_NOMEM;
    r->log = log;
    if (size == TL_LOG_READER_LARGE) {
        r->nnodes = (size_t)1 << 19;  /* 20 MiB */
        r->ntiles = 1024;             /* 8 MiB: a run of 1024 tiles of one level fits */
        r->nleaves = (size_t)1 << 16; /* 2.5 MiB */
        r->nbundles = 1024;
        r->bundle_budget = (size_t)64 << 20; /* bundles' bytes, filled as they are asked */
    } else {
        r->nnodes = (size_t)1 << 12;
        r->ntiles = 8;
        r->nleaves = 16;
    }
    r->h = tl_hasher_new();
    r->keys = calloc(r->nnodes, sizeof(*r->keys));
    r->vals = malloc(r->nnodes * sizeof(*r->vals));
    r->tiles = calloc(r->ntiles, sizeof(*r->tiles));
    r->leaves = calloc(r->nleaves, sizeof(*r->leaves));
    r->bundles = r->nbundles ? calloc(r->nbundles, sizeof(*r->bundles)) : NULL;
    tl_buf_init(&r->tmp);
    if (!r->h || !r->keys || !r->vals || !r->tiles || !r->leaves || (r->nbundles && !r->bundles)) {
        tl_log_reader_free(r);
        return TL_ERR_NOMEM;
    }
    for (size_t i = 0; i < r->ntiles; i++)
        r->tiles[i].level = -2;
    *out = r;
    return TL_OK;
}

void tl_log_reader_free(tl_log_reader *r)
{
    if (!r)
        return;
    tl_hasher_free(r->h);
    free(r->keys);
    free(r->vals);
    free(r->tiles);
    free(r->leaves);
    for (size_t i = 0; i < r->nbundles; i++)
        tl_log_reader_unpin(r->bundles[i].b);
    free(r->bundles);
    tl_buf_release(&r->tmp);
    free(r);
}

/* ---- tiles ----------------------------------------------------------------- */

/* Direct-mapped by tile number, so any run of ntiles consecutive tiles of
 * one level (what auditors and monitors fetch) fits without two tiles of the
 * run evicting each other; levels are offset from each other. */
static tile_slot *tile_slot_of(tl_log_reader *r, int level, uint64_t n)
{
    return &r->tiles[((uint64_t)level * 0x9e3779b97f4a7c15ULL + n) % r->ntiles];
}

int tl_log_reader_tile_pinned(tl_log_reader *r, const tl_tile *t, uint64_t size,
                              const uint8_t **data, size_t *len, void **pin)
{
    tile_slot *ts = NULL;
    int rc;
    if (pin)
        *pin = NULL;
    if (t->level != TL_TILE_ENTRIES && t->width == TL_TILE_WIDTH) {
        ts = tile_slot_of(r, t->level, t->n);
        /* a full tile is the same in every tree that has it */
        if (ts->level == t->level && ts->n == t->n && ts->width == TL_TILE_WIDTH &&
            tl_tile_level_hashes(t->level, size) >= (t->n + 1) * TL_TILE_WIDTH) {
            *data = ts->data;
            *len = sizeof(ts->data);
            return TL_OK;
        }
    }
    bundle_slot *bs = NULL;
    if (t->level == TL_TILE_ENTRIES && t->width == TL_TILE_WIDTH && r->nbundles &&
        size >= (t->n + 1) * TL_TILE_WIDTH) {
        /* a full bundle never changes once tl_log_tile checked it */
        bs = &r->bundles[t->n % r->nbundles];
        if (bs->n1 == t->n + 1)
            goto hit;
    }
    tl_buf_reset(&r->tmp);
    rc = tl_log_tile(r->log, t, size, &r->tmp);
    if (rc != TL_OK)
        return rc;
    if (bs) {
        /* the slot's bundle gives way; beyond the budget nothing more is kept */
        bundle_blob *b = NULL;
        if (bs->b)
            r->bundle_bytes -= bs->b->len;
        tl_log_reader_unpin(bs->b);
        *bs = (bundle_slot){0};
        if (r->bundle_bytes + r->tmp.len <= r->bundle_budget &&
            (b = malloc(sizeof(*b) + r->tmp.len)) != NULL) {
            b->refs = 1;
            b->len = r->tmp.len;
            memcpy(b->data, r->tmp.data, r->tmp.len);
            bs->b = b;
            bs->n1 = t->n + 1;
            r->bundle_bytes += b->len;
            goto hit;
        }
    }
    if (ts && r->tmp.len == sizeof(ts->data)) {
        ts->level = t->level;
        ts->n = t->n;
        ts->width = TL_TILE_WIDTH;
        memcpy(ts->data, r->tmp.data, r->tmp.len);
    }
    *data = r->tmp.data;
    *len = r->tmp.len;
    return TL_OK;
hit:
    *data = bs->b->data;
    *len = bs->b->len;
    if (pin) {
        __atomic_add_fetch(&bs->b->refs, 1, __ATOMIC_RELAXED);
        *pin = bs->b;
    }
    return TL_OK;
}

int tl_log_reader_tile(tl_log_reader *r, const tl_tile *t, uint64_t size, const uint8_t **data,
                       size_t *len)
{
    return tl_log_reader_tile_pinned(r, t, size, data, len, NULL);
}

/* ---- proofs ---------------------------------------------------------------- */

/* Hash number `index` of level 8*tl (tile level tl), from a hash tile of the
 * tree r->within. */
static int node_base(tl_log_reader *r, int tl, uint64_t index, tl_hash *out)
{
    uint64_t n = index / TL_TILE_WIDTH;
    unsigned pos = (unsigned)(index % TL_TILE_WIDTH);
    tile_slot *ts = tile_slot_of(r, tl, n);
    if (ts->level != tl || ts->n != n || ts->width <= pos) {
        tl_tile t;
        int rc = tl_tile_for_hash(tl, index, r->within, &t);
        if (rc != TL_OK)
            return rc == TL_ERR_RANGE ? TL_ERR_CORRUPT : rc;
        tl_buf_reset(&r->tmp);
        rc = tl_log_tile(r->log, &t, r->within, &r->tmp);
        if (rc != TL_OK)
            return rc;
        if (r->tmp.len != (size_t)t.width * TL_HASH_SIZE)
            return TL_ERR_CORRUPT;
        ts->level = tl;
        ts->n = n;
        ts->width = t.width;
        memcpy(ts->data, r->tmp.data, r->tmp.len);
    }
    memcpy(out->b, ts->data + (size_t)pos * TL_HASH_SIZE, TL_HASH_SIZE);
    return TL_OK;
}

/* Node (level, index). The cache has two halves: nodes a proof asked for
 * (`asked`, two-way set associative, so two hot nodes sharing a slot do not
 * evict each other on every request) and the intermediate nodes of folds
 * (direct mapped), so folds for random proofs do not flush the nodes repeated
 * proofs need, and batches of consecutive proofs still share their folds. */
static int node(tl_log_reader *r, unsigned level, uint64_t index, tl_hash *out, int asked)
{
    uint64_t key = ((index << 6) | level) + 1;
    size_t h = mix64(key) & (r->nnodes / 2 - 1);
    size_t sa = h, sb = h ^ 1, si = r->nnodes / 2 + h;
    int rc;
    if (r->keys[sa] == key) {
        *out = r->vals[sa];
        return TL_OK;
    }
    if (r->keys[sb] == key) {
        *out = r->vals[sb];
        return TL_OK;
    }
    if (r->keys[si] == key) {
        *out = r->vals[si];
        return TL_OK;
    }
    if (level % TL_TILE_HEIGHT == 0) {
        rc = node_base(r, (int)(level / TL_TILE_HEIGHT), index, out);
    } else {
        tl_hash left, right;
        rc = node(r, level - 1, 2 * index, &left, 0);
        if (rc == TL_OK)
            rc = node(r, level - 1, 2 * index + 1, &right, 0);
        if (rc == TL_OK)
            tl_hash_node(r->h, &left, &right, out);
    }
    if (rc == TL_OK) {
        size_t slot = si;
        if (asked) {
            /* Two ways: the newest in sa, the one it displaces in sb. */
            r->keys[sb] = r->keys[sa];
            r->vals[sb] = r->vals[sa];
            slot = sa;
        }
        r->keys[slot] = key;
        r->vals[slot] = *out;
    }
    return rc;
}

static int read_nodes(void *ctx, const tl_node *nodes, size_t n, tl_hash *out)
{
    tl_log_reader *r = ctx;
    for (size_t i = 0; i < n; i++) {
        int rc = node(r, nodes[i].level, nodes[i].index, &out[i], 1);
        if (rc != TL_OK)
            return rc;
    }
    return TL_OK;
}

/* Points the reader at the tree `within`: tiles are read as of that size
 * (at most the signed size). Cached nodes and tiles
 * of a wider tree stay valid: hashes never change once written. */
static int reader_at(tl_log_reader *r, uint64_t within, uint64_t size, tl_hash_reader *hr)
{
    /* the caches may hold the answer: check the bounds before them */
    if (size > within || within > tl_log_signed_size(r->log))
        return TL_ERR_RANGE;
    r->within = within;
    hr->read = read_nodes;
    hr->ctx = r;
    return TL_OK;
}

int tl_log_reader_inclusion(tl_log_reader *r, uint64_t within, uint64_t index, uint64_t size,
                            tl_hash *proof, size_t *len)
{
    tl_hash_reader hr;
    int rc = reader_at(r, within, size, &hr);
    return rc != TL_OK ? rc : tl_prove_inclusion(&hr, r->h, index, size, proof, len);
}

int tl_log_reader_consistency(tl_log_reader *r, uint64_t within, uint64_t size1, uint64_t size2,
                              tl_hash *proof, size_t *len)
{
    tl_hash_reader hr;
    int rc = reader_at(r, within, size2, &hr);
    return rc != TL_OK ? rc : tl_prove_consistency(&hr, r->h, size1, size2, proof, len);
}

int tl_log_reader_root(tl_log_reader *r, uint64_t within, uint64_t size, tl_hash *root)
{
    tl_hash_reader hr;
    int rc = reader_at(r, within, size, &hr);
    return rc != TL_OK ? rc : tl_tree_hash(&hr, r->h, size, root);
}

/* ---- leaf hash -> index ------------------------------------------------------
 *
 * Direct mapped (two ways) by the hash's first bytes; filled by lookups and
 * by what callers learn from their own submissions (clients commonly ask for
 * their new entries). */

static leaf_slot *leaf_set(tl_log_reader *r, const tl_hash *leaf)
{
    uint64_t k;
    memcpy(&k, leaf->b, sizeof k);
    return &r->leaves[mix64(k) & (r->nleaves - 2)];
}

void tl_log_reader_learn(tl_log_reader *r, const tl_hash *leaf, uint64_t index)
{
    leaf_slot *s = leaf_set(r, leaf);
    s[1] = s[0]; /* the newest first, the one it displaces second */
    s[0].leaf = *leaf;
    s[0].index1 = index + 1;
}

int tl_log_reader_lookup(tl_log_reader *r, const tl_hash *leaf, uint64_t *index)
{
    leaf_slot *s = leaf_set(r, leaf);
    int rc;
    for (int i = 0; i < 2; i++) {
        if (s[i].index1 && memcmp(s[i].leaf.b, leaf->b, TL_HASH_SIZE) == 0) {
            *index = s[i].index1 - 1;
            return TL_OK;
        }
    }
    rc = tl_log_lookup(r->log, leaf, index);
    if (rc == TL_OK)
        tl_log_reader_learn(r, leaf, *index);
    return rc;
}
