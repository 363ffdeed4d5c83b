/*
 * wt_tree.h - test helpers for the witness tests: a synthetic Merkle tree
 * (leaf i = the bytes "<seed>-<i>") with every complete node kept, checkpoint
 * notes signed with a given key, and add-checkpoint request bodies.
 */
#ifndef TL_TESTS_WITNESS_WT_TREE_H
#define TL_TESTS_WITNESS_WT_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "merkle/merkle.h"
#include "signer/note.h"

typedef struct wt_tree wt_tree;

/* Builds a tree of max_size leaves named "<seed>-<i>". NULL on failure. */
wt_tree *wt_tree_new(const char *seed, uint64_t max_size);
void wt_tree_free(wt_tree *t);
int wt_tree_root(wt_tree *t, uint64_t size, tl_hash *root);
int wt_tree_proof(wt_tree *t, uint64_t old, uint64_t size, tl_hash *proof, size_t *len);
/* The reader over t's nodes (for any size <= max_size). */
tl_hash_reader wt_tree_reader(wt_tree *t);

/* A signed checkpoint note for (origin, size, root); malloc'd. */
char *wt_checkpoint(const tl_signer *s, const char *origin, uint64_t size, const tl_hash *root);
/* "old N\n" + proof lines + "\n" + note into out. */
int wt_request(tl_buf *out, uint64_t old, const tl_hash *proof, size_t len, const char *note);
/* The whole request from tree t: old -> size, signed by s. */
int wt_tree_request(wt_tree *t, const tl_signer *s, const char *origin, uint64_t old, uint64_t size,
                    tl_buf *out);

/* The same with the caller's hasher: safe for threads sharing t (the tree
 * is read-only once built; wt_tree_root/proof/request use t's own hasher). */
int wt_tree_request_h(wt_tree *t, tl_hasher *h, const tl_signer *s, const char *origin,
                      uint64_t old, uint64_t size, tl_buf *out);

#endif
