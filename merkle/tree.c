/*
 * tree.c - tree hashes and the compact range (right frontier).
 *
 * RFC 9162 §2.1.1: the tree hash of n leaves splits at the largest power of
 * two below n. Equivalently it is the right-to-left fold of the roots of the
 * maximal complete subtrees (the binary decomposition of n), which is what
 * tl_tree_nodes lists and what the frontier keeps. Appending a leaf merges
 * equal-sized subtrees exactly as binary addition carries, so building n
 * leaves costs n - 1 node hashes in total, O(log n) memory.
 */
#include <string.h>

#include "merkle/internal.h"

size_t tl_merkle_range_nodes(uint64_t lo, uint64_t hi, tl_node *out, size_t cap)
{
    size_t k = 0;
    while (lo < hi) {
        uint64_t span = hi - lo;
        unsigned fit = 63 - (unsigned)__builtin_clzll(span); /* 2^fit <= span */
        unsigned align = lo == 0 ? 63 : (unsigned)__builtin_ctzll(lo);
        unsigned l = fit < align ? fit : align;
        if (k == cap)
            return (size_t)-1;
        out[k].level = (uint8_t)l;
        out[k].index = lo >> l;
        k++;
        lo += (uint64_t)1 << l;
    }
    return k;
}

void tl_merkle_fold(tl_hasher *h, const tl_hash *nodes, size_t k, tl_hash *out)
{
    tl_hash acc = nodes[k - 1];
    for (size_t j = k - 1; j-- > 0;)
        tl_hash_node(h, &nodes[j], &acc, &acc);
    *out = acc;
}

void tl_merkle_hash_run(tl_hasher *h, const uint8_t *hashes, size_t count, tl_hash *out)
{
    /* A frontier over the run: stack[i] is a complete subtree, largest first. */
    tl_hash stack[20];
    unsigned depth = 0;
    for (size_t i = 0; i < count; i++) {
        tl_hash cur;
        memcpy(cur.b, hashes + i * TL_HASH_SIZE, TL_HASH_SIZE);
        for (size_t s = i; s & 1; s >>= 1)
            tl_hash_node(h, &stack[--depth], &cur, &cur);
        stack[depth++] = cur;
    }
    tl_merkle_fold(h, stack, depth, out);
}

size_t tl_tree_nodes(uint64_t size, tl_node out[64])
{
    size_t k = tl_merkle_range_nodes(0, size, out, 64);
    return k; /* at most popcount(size) <= 64 */
}

int tl_tree_hash(const tl_hash_reader *r, tl_hasher *h, uint64_t size, tl_hash *root)
{
    tl_node nodes[64];
    tl_hash hashes[64];
    if (size == 0) {
        tl_hash_empty(root);
        return TL_OK;
    }
    size_t k = tl_tree_nodes(size, nodes);
    int rc = r->read(r->ctx, nodes, k, hashes);
    if (rc != TL_OK)
        return rc;
    tl_merkle_fold(h, hashes, k, root);
    return TL_OK;
}

void tl_frontier_init(tl_frontier *f)
{
    f->size = 0;
    f->n = 0;
}

void tl_frontier_append(tl_frontier *f, tl_hasher *h, const tl_hash *leaf, tl_emit_fn emit,
                        void *ctx)
{
    uint64_t idx = f->size; /* the new leaf's index */
    tl_hash cur = *leaf;
    tl_node node = {0, idx};
    if (emit != NULL)
        emit(ctx, &node, &cur);
    /* Each set low bit of idx is a complete left sibling on the frontier. */
    for (unsigned l = 0; l < 64 && ((idx >> l) & 1); l++) {
        tl_hash_node(h, &f->hashes[--f->n], &cur, &cur);
        if (emit != NULL) {
            node.level = (uint8_t)(l + 1);
            node.index = idx >> (l + 1);
            emit(ctx, &node, &cur);
        }
    }
    f->hashes[f->n++] = cur;
    f->size = idx + 1;
}

void tl_frontier_root(const tl_frontier *f, tl_hasher *h, tl_hash *root)
{
    if (f->n == 0)
        tl_hash_empty(root);
    else
        tl_merkle_fold(h, f->hashes, f->n, root);
}

int tl_frontier_load(tl_frontier *f, const tl_hash_reader *r, uint64_t size)
{
    tl_node nodes[64];
    tl_hash hashes[64];
    size_t k = tl_tree_nodes(size, nodes);
    if (k > 0) {
        int rc = r->read(r->ctx, nodes, k, hashes);
        if (rc != TL_OK)
            return rc; /* f is left unchanged */
        memcpy(f->hashes, hashes, k * sizeof(hashes[0]));
    }
    f->size = size;
    f->n = (unsigned)k;
    return TL_OK;
}
