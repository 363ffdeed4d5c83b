/*
 * internal.h - helpers shared by the Merkle core's files (not a public API).
 *
 * The RFC 6962 tree hash of a range [lo, hi) whose lo is aligned to the
 * range's enclosing power of two (every range RFC 6962 recursion produces)
 * is the right-to-left fold of its binary decomposition into complete
 * subtrees, largest first.
 */
#ifndef TL_MERKLE_INTERNAL_H
#define TL_MERKLE_INTERNAL_H

#include "merkle/merkle.h"

/* Decomposes [lo, hi) into complete subtrees, left to right, greedily
 * taking the largest aligned subtree that fits. Returns the count, or
 * (size_t)-1 if more than cap would be needed. lo < hi or the result is 0. */
size_t tl_merkle_range_nodes(uint64_t lo, uint64_t hi, tl_node *out, size_t cap);

/* Right-to-left fold: out = H(n[0], H(n[1], ... H(n[k-2], n[k-1]))).
 * k >= 1; out may alias any input. */
void tl_merkle_fold(tl_hasher *h, const tl_hash *nodes, size_t k, tl_hash *out);

/* RFC 6962 MTH of count >= 1 consecutive 32-byte hashes taken as the
 * leaves of the range (for tiles); count <= 2^16. */
void tl_merkle_hash_run(tl_hasher *h, const uint8_t *hashes, size_t count, tl_hash *out);

#endif
