/*
 * proof.c - inclusion and consistency proofs (RFC 9162 §2.1.3, §2.1.4).
 *
 * Builders follow RFC 9162's PATH and SUBPROOF recursions, but only to
 * collect the ranges [lo, hi) whose tree hashes form the proof. Each range
 * is decomposed into complete subtrees; all of them are read in ONE reader
 * call, then each range is folded (as Go's sumdb/tlog does). At most one
 * range per proof is not itself a complete subtree, so a proof needs at
 * most 64 + 63 nodes.
 *
 * Verifiers implement RFC 9162 §2.1.3.2 and §2.1.4.2 exactly, after first
 * checking the proof length, which is a function of (index, size) or
 * (size1, size2) alone: a proof with a hash missing or extra is
 * TL_ERR_INVALID before any hashing; a proof of the right length that does
 * not hash to the roots is TL_ERR_PROOF. Root comparison is constant-time.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "merkle/internal.h"

/* Trees above 2^63 leaves may need one or two more than TL_MAX_PROOF;
 * the plan has room for them and plan_run refuses them with TL_ERR_RANGE. */
#define MAX_RANGES (TL_MAX_PROOF + 2)
#define MAX_NODES (2 * MAX_RANGES)

struct plan {
    size_t n;
    uint64_t lo[MAX_RANGES], hi[MAX_RANGES];
};

static void plan_add(struct plan *p, uint64_t lo, uint64_t hi)
{
    /* Cannot overflow: each recursion level adds one range and halves. */
    p->lo[p->n] = lo;
    p->hi[p->n] = hi;
    p->n++;
}

/* Largest power of two strictly below n (n >= 2). */
static uint64_t split_point(uint64_t n)
{
    return (uint64_t)1 << (63 - __builtin_clzll(n - 1));
}

/* RFC 9162 §2.1.3.1 PATH(m, D[lo:hi]), m relative to lo. */
static void plan_path(struct plan *p, uint64_t m, uint64_t lo, uint64_t hi)
{
    uint64_t n = hi - lo;
    if (n <= 1)
        return;
    uint64_t k = split_point(n);
    if (m < k) {
        plan_path(p, m, lo, lo + k);
        plan_add(p, lo + k, hi);
    } else {
        plan_path(p, m - k, lo + k, hi);
        plan_add(p, lo, lo + k);
    }
}

/* RFC 9162 §2.1.4.1 SUBPROOF(m, D[lo:hi], b), m relative to lo. */
static void plan_subproof(struct plan *p, uint64_t m, uint64_t lo, uint64_t hi, int b)
{
    uint64_t n = hi - lo;
    if (m == n) {
        if (!b)
            plan_add(p, lo, hi);
        return;
    }
    uint64_t k = split_point(n);
    if (m <= k) {
        plan_subproof(p, m, lo, lo + k, b);
        plan_add(p, lo + k, hi);
    } else {
        plan_subproof(p, m - k, lo + k, hi, 0);
        plan_add(p, lo, lo + k);
    }
}

/* Reads every node of the plan in one call and folds each range. */
static int plan_run(const struct plan *p, const tl_hash_reader *r, tl_hasher *h, tl_hash *proof,
                    size_t *len)
{
    tl_node nodes[MAX_NODES];
    tl_hash hashes[MAX_NODES];
    size_t start[MAX_RANGES + 1];
    size_t total = 0;
    if (p->n > TL_MAX_PROOF)
        return TL_ERR_RANGE;
    for (size_t i = 0; i < p->n; i++) {
        start[i] = total;
        size_t k = tl_merkle_range_nodes(p->lo[i], p->hi[i], nodes + total, MAX_NODES - total);
        if (k == (size_t)-1 || k == 0)
            return TL_ERR_RANGE; /* unreachable for valid plans */
        total += k;
    }
    start[p->n] = total;
    if (total > 0) {
        int rc = r->read(r->ctx, nodes, total, hashes);
        if (rc != TL_OK)
            return rc;
    }
    for (size_t i = 0; i < p->n; i++)
        tl_merkle_fold(h, hashes + start[i], start[i + 1] - start[i], &proof[i]);
    *len = p->n;
    return TL_OK;
}

int tl_prove_inclusion(const tl_hash_reader *r, tl_hasher *h, uint64_t index, uint64_t size,
                       tl_hash *proof, size_t *len)
{
    struct plan p = {0};
    if (index >= size)
        return TL_ERR_RANGE;
    plan_path(&p, index, 0, size);
    return plan_run(&p, r, h, proof, len);
}

int tl_prove_consistency(const tl_hash_reader *r, tl_hasher *h, uint64_t size1, uint64_t size2,
                         tl_hash *proof, size_t *len)
{
    struct plan p = {0};
    if (size1 > size2)
        return TL_ERR_RANGE;
    if (size1 > 0 && size1 < size2)
        plan_subproof(&p, size1, 0, size2, 1);
    return plan_run(&p, r, h, proof, len);
}

/* ---- verification -------------------------------------------------------- */

/* Right-shifts fn and sn until LSB(fn) is set or fn is 0. */
static void shift_to_odd(uint64_t *fn, uint64_t *sn)
{
    while (*fn != 0 && !(*fn & 1)) {
        *fn >>= 1;
        *sn >>= 1;
    }
}

/* Number of hashes the §2.1.3.2 loop consumes from (fn, sn) until sn == 0. */
static size_t walk_len(uint64_t fn, uint64_t sn)
{
    size_t c = 0;
    while (sn != 0) {
        if ((fn & 1) || fn == sn)
            shift_to_odd(&fn, &sn); /* no-op when LSB(fn) is set */
        fn >>= 1;
        sn >>= 1;
        c++;
    }
    return c;
}

static int is_pow2(uint64_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

int tl_root_from_inclusion(tl_hasher *h, const tl_hash *leaf, uint64_t index, uint64_t size,
                           const tl_hash *proof, size_t len, tl_hash *root)
{
    if (index >= size)
        return TL_ERR_RANGE;
    uint64_t fn = index, sn = size - 1;
    if (len > TL_MAX_PROOF || len != walk_len(fn, sn))
        return TL_ERR_INVALID;
    /* RFC 9162 §2.1.3.2 step 3; the length check makes sn reach 0 exactly
     * at the last element (step 4). */
    tl_hash r = *leaf;
    for (size_t i = 0; i < len; i++) {
        if ((fn & 1) || fn == sn) {
            tl_hash_node(h, &proof[i], &r, &r);
            shift_to_odd(&fn, &sn);
        } else {
            tl_hash_node(h, &r, &proof[i], &r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    *root = r;
    return TL_OK;
}

int tl_verify_inclusion(tl_hasher *h, const tl_hash *leaf, uint64_t index, uint64_t size,
                        const tl_hash *proof, size_t len, const tl_hash *root)
{
    tl_hash got;
    int rc = tl_root_from_inclusion(h, leaf, index, size, proof, len, &got);
    if (rc != TL_OK)
        return rc;
    return CRYPTO_memcmp(got.b, root->b, TL_HASH_SIZE) == 0 ? TL_OK : TL_ERR_PROOF;
}

int tl_verify_consistency(tl_hasher *h, uint64_t size1, uint64_t size2, const tl_hash *proof,
                          size_t len, const tl_hash *root1, const tl_hash *root2)
{
    if (size1 > size2)
        return TL_ERR_RANGE;
    if (size1 == size2) {
        /* Same tree: nothing to prove, the roots must simply agree. */
        if (len != 0)
            return TL_ERR_INVALID;
        return CRYPTO_memcmp(root1->b, root2->b, TL_HASH_SIZE) == 0 ? TL_OK : TL_ERR_PROOF;
    }
    if (size1 == 0) {
        /* Every tree extends the empty tree; root1 is not consulted (it may
         * be NULL), as in Go's sumdb/tlog and Trillian's verifier. */
        return len == 0 ? TL_OK : TL_ERR_INVALID;
    }
    /* RFC 9162 §2.1.4.2 steps 2-4. */
    int pow2 = is_pow2(size1);
    uint64_t fn = size1 - 1, sn = size2 - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    size_t want = walk_len(fn, sn) + (pow2 ? 0 : 1);
    if (len == 0 || len > TL_MAX_PROOF || len != want)
        return TL_ERR_INVALID; /* step 1: an empty proof fails */
    /* Step 5; with the first hash prepended when size1 is a power of 2. */
    size_t i = 0;
    tl_hash fr = pow2 ? *root1 : proof[i++];
    tl_hash sr = fr;
    /* Step 6. */
    for (; i < len; i++) {
        if ((fn & 1) || fn == sn) {
            tl_hash_node(h, &proof[i], &fr, &fr);
            tl_hash_node(h, &proof[i], &sr, &sr);
            shift_to_odd(&fn, &sn);
        } else {
            tl_hash_node(h, &sr, &proof[i], &sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    /* Step 7 (sn == 0 holds by the length check). */
    int ok1 = CRYPTO_memcmp(fr.b, root1->b, TL_HASH_SIZE) == 0;
    int ok2 = CRYPTO_memcmp(sr.b, root2->b, TL_HASH_SIZE) == 0;
    return ok1 && ok2 ? TL_OK : TL_ERR_PROOF;
}
