/*
 * test_merkle.c - CUnit tests for the Merkle core (merkle/merkle.h).
 *
 * Everything is cross-checked against a brute-force reference written
 * plainly here from RFC 9162 §2.1.1 (MTH), §2.1.3.1 (PATH) and §2.1.4.1
 * (SUBPROOF): every inclusion and consistency proof of every tree up to
 * REF_N leaves, random ones in a tree of BIG_N leaves, the RFC 6962 test
 * tree and its published roots and proofs (as shipped with the
 * certificate-transparency / Trillian test data), and the C2SP tlog-tiles
 * examples. Every valid proof is also mutated (bit flipped, hash dropped,
 * hash added, wrong index / size / root) and each mutation must be rejected.
 *
 * TL_SANITIZED=1 scales the random counts down (never to zero); TL_SEED
 * overrides the fixed random seed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "common/hex.h"
#include "merkle/merkle.h"

#define REF_N 300
#define BIG_N 1000000

static tl_hasher *H;
static int sanitized;
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static uint64_t rnd_below(uint64_t n)
{
    return n == 0 ? 0 : rnd() % n;
}

/* A hash from its 64 lowercase hex digits (a test vector). */
static tl_hash hx(const char *s)
{
    tl_hash h;
    CU_ASSERT_FATAL(tl_hex_decode(s, strlen(s), h.b, TL_HASH_SIZE) == TL_OK);
    return h;
}

static int heq(const tl_hash *a, const tl_hash *b)
{
    return memcmp(a->b, b->b, TL_HASH_SIZE) == 0;
}

static void leaf_for(uint64_t i, tl_hash *out)
{
    uint8_t d[8];
    for (int k = 0; k < 8; k++)
        d[k] = (uint8_t)(i >> (56 - 8 * k));
    tl_hash_leaf(H, d, sizeof(d), out);
}

/* ---- an in-memory store of level hashes, filled by the frontier's emit -- */

struct store {
    uint64_t size;
    tl_hash *lv[64];
    uint64_t count[64];
    uint64_t limit;      /* reads must lie inside a tree of this size */
    unsigned calls;      /* reader calls */
    unsigned violations; /* reads outside limit, or out-of-order emits */
    int fail;            /* error the reader returns, or TL_OK */
};

static void store_emit(void *ctx, const tl_node *n, const tl_hash *h)
{
    struct store *s = ctx;
    if (n->index != s->count[n->level]) {
        s->violations++;
        return;
    }
    s->lv[n->level][n->index] = *h;
    s->count[n->level]++;
}

static int store_read(void *ctx, const tl_node *nodes, size_t n, tl_hash *out)
{
    struct store *s = ctx;
    s->calls++;
    if (s->fail != TL_OK)
        return s->fail;
    for (size_t i = 0; i < n; i++) {
        unsigned l = nodes[i].level;
        uint64_t idx = nodes[i].index;
        if (l >= 64 || idx >= s->count[l] || ((idx + 1) << l) > s->limit ||
            ((idx + 1) << l) >> l != idx + 1) {
            s->violations++;
            return TL_ERR_NOTFOUND;
        }
        out[i] = s->lv[l][idx];
    }
    return TL_OK;
}

static void store_build(struct store *s, uint64_t n)
{
    memset(s, 0, sizeof(*s));
    for (int l = 0; l < 64 && (n >> l) > 0; l++)
        s->lv[l] = malloc(sizeof(tl_hash) * (n >> l));
    tl_frontier f;
    tl_frontier_init(&f);
    for (uint64_t i = 0; i < n; i++) {
        tl_hash leaf;
        leaf_for(i, &leaf);
        tl_frontier_append(&f, H, &leaf, store_emit, s);
    }
    s->size = n;
    s->limit = n;
}

static void store_free(struct store *s)
{
    for (int l = 0; l < 64; l++)
        free(s->lv[l]);
    memset(s, 0, sizeof(*s));
}

static struct store small; /* REF_N leaves */
static struct store big;   /* BIG_N leaves */

static tl_hash_reader reader_of(struct store *s, uint64_t limit)
{
    s->limit = limit;
    tl_hash_reader r = {store_read, s};
    return r;
}

/* ---- brute-force reference (RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1) -------- */

static uint64_t largest_pow2_below(uint64_t n)
{
    uint64_t k = 1;
    while (k * 2 < n)
        k *= 2;
    return k;
}

/* Small tree: plain recursion over the leaves, memoised per (lo, hi). */
static tl_hash *memo;
static uint8_t *memo_have;

static void ref_mth_small(uint64_t lo, uint64_t hi, tl_hash *out)
{
    size_t key = (size_t)lo * (REF_N + 1) + (size_t)hi;
    if (memo_have[key]) {
        *out = memo[key];
        return;
    }
    uint64_t n = hi - lo;
    if (n == 0) {
        tl_sha256(H, "", 0, out);
    } else if (n == 1) {
        leaf_for(lo, out);
    } else {
        tl_hash a, b;
        uint64_t k = largest_pow2_below(n);
        ref_mth_small(lo, lo + k, &a);
        ref_mth_small(lo + k, hi, &b);
        uint8_t buf[65];
        buf[0] = 1;
        memcpy(buf + 1, a.b, 32);
        memcpy(buf + 33, b.b, 32);
        tl_sha256(H, buf, sizeof(buf), out); /* independent of tl_hash_node */
    }
    memo[key] = *out;
    memo_have[key] = 1;
}

/* Big tree: recursion down to complete subtrees, which come from the store
 * (its levels are checked against plain hashing in test_store_levels). */
static void ref_mth_big(uint64_t lo, uint64_t hi, tl_hash *out)
{
    uint64_t n = hi - lo;
    if (n == 0) {
        tl_hash_empty(out);
        return;
    }
    if ((n & (n - 1)) == 0) {
        int l = __builtin_ctzll(n);
        *out = big.lv[l][lo >> l];
        return;
    }
    tl_hash a, b;
    uint64_t k = largest_pow2_below(n);
    ref_mth_big(lo, lo + k, &a);
    ref_mth_big(lo + k, hi, &b);
    tl_hash_node(H, &a, &b, out);
}

typedef void (*mth_fn)(uint64_t lo, uint64_t hi, tl_hash *out);

static void ref_path(mth_fn mth, uint64_t m, uint64_t lo, uint64_t hi, tl_hash *p, size_t *k)
{
    uint64_t n = hi - lo;
    if (n <= 1)
        return;
    uint64_t s = largest_pow2_below(n);
    if (m < s) {
        ref_path(mth, m, lo, lo + s, p, k);
        mth(lo + s, hi, &p[(*k)++]);
    } else {
        ref_path(mth, m - s, lo + s, hi, p, k);
        mth(lo, lo + s, &p[(*k)++]);
    }
}

static void ref_subproof(mth_fn mth, uint64_t m, uint64_t lo, uint64_t hi, int b, tl_hash *p,
                         size_t *k)
{
    uint64_t n = hi - lo;
    if (m == n) {
        if (!b)
            mth(lo, hi, &p[(*k)++]);
        return;
    }
    uint64_t s = largest_pow2_below(n);
    if (m <= s) {
        ref_subproof(mth, m, lo, lo + s, b, p, k);
        mth(lo + s, hi, &p[(*k)++]);
    } else {
        ref_subproof(mth, m - s, lo + s, hi, 0, p, k);
        mth(lo, lo + s, &p[(*k)++]);
    }
}

static void ref_consistency(mth_fn mth, uint64_t m, uint64_t n, tl_hash *p, size_t *k)
{
    *k = 0;
    if (m > 0 && m < n)
        ref_subproof(mth, m, 0, n, 1, p, k);
}

/* ---- mutation checks ----------------------------------------------------- */

static unsigned failures_seen;

/* Like CU_ASSERT, with a message; after 40 failures it only counts them
 * (CUnit's failure list is quadratic), and main fails if any were seen. */
#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if (failures_seen++ < 40) {                                                            \
                fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                    \
                fprintf(stderr, __VA_ARGS__);                                                      \
                fprintf(stderr, "\n");                                                             \
                CU_FAIL(#cond);                                                                    \
            }                                                                                      \
        }                                                                                          \
    } while (0)

/* proof is a valid inclusion proof of leaf (index) in a tree of size with
 * root; checks that it verifies and that every mutation is rejected.
 * mth gives roots of other sizes (may be NULL); distinct says the tree's
 * leaves differ (so a wrong index must fail). */
static void check_inclusion(mth_fn mth, int distinct, const tl_hash *leaf, uint64_t index,
                            uint64_t size, const tl_hash *proof, size_t len, const tl_hash *root)
{
    tl_hash buf[TL_MAX_PROOF + 2], got, bad;
    int rc;
    EXPECT(tl_verify_inclusion(H, leaf, index, size, proof, len, root) == TL_OK,
           "inclusion %llu/%llu does not verify", (unsigned long long)index,
           (unsigned long long)size);
    rc = tl_root_from_inclusion(H, leaf, index, size, proof, len, &got);
    EXPECT(rc == TL_OK && heq(&got, root), "root_from_inclusion %llu/%llu",
           (unsigned long long)index, (unsigned long long)size);
    /* Wrong leaf, wrong root. */
    bad = *leaf;
    bad.b[rnd_below(32)] ^= (uint8_t)(1u << rnd_below(8));
    EXPECT(tl_verify_inclusion(H, &bad, index, size, proof, len, root) == TL_ERR_PROOF,
           "wrong leaf accepted %llu/%llu", (unsigned long long)index, (unsigned long long)size);
    bad = *root;
    bad.b[31] ^= 0x80;
    EXPECT(tl_verify_inclusion(H, leaf, index, size, proof, len, &bad) == TL_ERR_PROOF,
           "wrong root accepted");
    /* One bit flipped in each hash. */
    for (size_t i = 0; i < len; i++) {
        memcpy(buf, proof, len * sizeof(tl_hash));
        buf[i].b[rnd_below(32)] ^= (uint8_t)(1u << rnd_below(8));
        EXPECT(tl_verify_inclusion(H, leaf, index, size, buf, len, root) == TL_ERR_PROOF,
               "flipped proof[%zu] accepted %llu/%llu", i, (unsigned long long)index,
               (unsigned long long)size);
    }
    /* A hash dropped (last, first) or added (end, front). */
    if (len > 0) {
        EXPECT(tl_verify_inclusion(H, leaf, index, size, proof, len - 1, root) == TL_ERR_INVALID,
               "truncated proof accepted");
        EXPECT(tl_verify_inclusion(H, leaf, index, size, proof + 1, len - 1, root) ==
                   TL_ERR_INVALID,
               "proof without first accepted");
    }
    if (len < TL_MAX_PROOF) {
        memcpy(buf, proof, len * sizeof(tl_hash));
        buf[len] = *root;
        EXPECT(tl_verify_inclusion(H, leaf, index, size, buf, len + 1, root) == TL_ERR_INVALID,
               "extended proof accepted");
        buf[0] = *leaf;
        memcpy(buf + 1, proof, len * sizeof(tl_hash));
        EXPECT(tl_verify_inclusion(H, leaf, index, size, buf, len + 1, root) == TL_ERR_INVALID,
               "prepended proof accepted");
    }
    /* Wrong index. */
    if (!distinct)
        return; /* a tree of identical leaves: every index fits */
    if (index + 1 < size)
        EXPECT(tl_verify_inclusion(H, leaf, index + 1, size, proof, len, root) != TL_OK,
               "index+1 accepted %llu/%llu", (unsigned long long)index, (unsigned long long)size);
    if (index > 0)
        EXPECT(tl_verify_inclusion(H, leaf, index - 1, size, proof, len, root) != TL_OK,
               "index-1 accepted");
    if ((index ^ 2) < size)
        EXPECT(tl_verify_inclusion(H, leaf, index ^ 2, size, proof, len, root) != TL_OK,
               "index^2 accepted");
    EXPECT(tl_verify_inclusion(H, leaf, size, size, proof, len, root) == TL_ERR_RANGE,
           "index == size accepted");
    /* Wrong size, same root. */
    EXPECT(tl_verify_inclusion(H, leaf, index, size * 2, proof, len, root) != TL_OK,
           "size*2 accepted %llu/%llu", (unsigned long long)index, (unsigned long long)size);
    EXPECT(tl_verify_inclusion(H, leaf, index, size / 2, proof, len, root) != TL_OK,
           "size/2 accepted");
    /* Wrong size with that size's own root. */
    if (mth != NULL) {
        tl_hash r2;
        mth(0, size + 1, &r2);
        EXPECT(tl_verify_inclusion(H, leaf, index, size + 1, proof, len, &r2) != TL_OK,
               "size+1 accepted %llu/%llu", (unsigned long long)index, (unsigned long long)size);
        if (index + 1 < size) {
            mth(0, size - 1, &r2);
            EXPECT(tl_verify_inclusion(H, leaf, index, size - 1, proof, len, &r2) != TL_OK,
                   "size-1 accepted");
        }
    }
}

static void check_consistency(mth_fn mth, uint64_t s1, uint64_t s2, const tl_hash *proof,
                              size_t len, const tl_hash *r1, const tl_hash *r2)
{
    tl_hash buf[TL_MAX_PROOF + 2], bad;
    EXPECT(tl_verify_consistency(H, s1, s2, proof, len, r1, r2) == TL_OK,
           "consistency %llu..%llu does not verify", (unsigned long long)s1,
           (unsigned long long)s2);
    if (len < TL_MAX_PROOF) {
        /* Added hashes: end, front, a duplicate of the first. */
        memcpy(buf, proof, len * sizeof(tl_hash));
        buf[len] = *r2;
        EXPECT(tl_verify_consistency(H, s1, s2, buf, len + 1, r1, r2) == TL_ERR_INVALID,
               "extended consistency proof accepted %llu..%llu", (unsigned long long)s1,
               (unsigned long long)s2);
        buf[0] = *r1;
        memcpy(buf + 1, proof, len * sizeof(tl_hash));
        EXPECT(tl_verify_consistency(H, s1, s2, buf, len + 1, r1, r2) == TL_ERR_INVALID,
               "prepended consistency proof accepted");
    }
    if (len == 0)
        return; /* s1 == 0 or s1 == s2: the rest needs a non-trivial proof */
    EXPECT(tl_verify_consistency(H, s1, s2, proof, 0, r1, r2) == TL_ERR_INVALID,
           "empty proof accepted");
    EXPECT(tl_verify_consistency(H, s1, s2, proof, len - 1, r1, r2) == TL_ERR_INVALID,
           "truncated proof accepted");
    EXPECT(tl_verify_consistency(H, s1, s2, proof + 1, len - 1, r1, r2) == TL_ERR_INVALID,
           "proof without first accepted");
    for (size_t i = 0; i < len; i++) {
        memcpy(buf, proof, len * sizeof(tl_hash));
        buf[i].b[rnd_below(32)] ^= (uint8_t)(1u << rnd_below(8));
        EXPECT(tl_verify_consistency(H, s1, s2, buf, len, r1, r2) == TL_ERR_PROOF,
               "flipped proof[%zu] accepted %llu..%llu", i, (unsigned long long)s1,
               (unsigned long long)s2);
    }
    bad = *r1;
    bad.b[0] ^= 1;
    EXPECT(tl_verify_consistency(H, s1, s2, proof, len, &bad, r2) == TL_ERR_PROOF,
           "wrong root1 accepted");
    bad = *r2;
    bad.b[0] ^= 1;
    EXPECT(tl_verify_consistency(H, s1, s2, proof, len, r1, &bad) == TL_ERR_PROOF,
           "wrong root2 accepted");
    EXPECT(tl_verify_consistency(H, s1, s2, proof, len, r2, r1) != TL_OK, "swapped roots accepted");
    /* Wrong sizes with the same roots. */
    EXPECT(tl_verify_consistency(H, s1 - 1, s2, proof, len, r1, r2) != TL_OK, "s1-1 accepted");
    EXPECT(tl_verify_consistency(H, s1 + 1, s2, proof, len, r1, r2) != TL_OK,
           "s1+1 accepted %llu..%llu", (unsigned long long)s1, (unsigned long long)s2);
    EXPECT(tl_verify_consistency(H, s1 ^ 2, s2, proof, len, r1, r2) != TL_OK, "s1^2 accepted");
    EXPECT(tl_verify_consistency(H, s1, s2 * 2, proof, len, r1, r2) != TL_OK,
           "s2*2 accepted %llu..%llu", (unsigned long long)s1, (unsigned long long)s2);
    EXPECT(tl_verify_consistency(H, s1, s2 / 2, proof, len, r1, r2) != TL_OK, "s2/2 accepted");
    /* s2 + 1 with that tree's own root. (With the SAME root2, sizes whose
     * trees have the same shape on the proof's path cannot be told apart by
     * RFC 9162 §2.1.4.2 - e.g. 2..5 and 2..6 - the size is authenticated by
     * the signed tree head, not by the proof.) */
    if (mth != NULL) {
        tl_hash r3;
        mth(0, s2 + 1, &r3);
        EXPECT(tl_verify_consistency(H, s1, s2 + 1, proof, len, r1, &r3) != TL_OK,
               "s2+1 accepted %llu..%llu", (unsigned long long)s1, (unsigned long long)s2);
    }
    EXPECT(tl_verify_consistency(H, s2, s1, proof, len, r2, r1) == TL_ERR_RANGE,
           "s1 > s2 accepted");
}

static int proofs_equal(const tl_hash *a, size_t alen, const tl_hash *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen * sizeof(tl_hash)) == 0;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_hashing(void)
{
    tl_hash out, e;
    tl_sha256(H, "abc", 3, &out); /* FIPS 180-2 B.1 */
    EXPECT(heq(&out, &(tl_hash){0}) == 0, "check failed");
    tl_hash want = hx("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT(heq(&out, &want), "check failed");
    tl_hash_empty(&e);
    tl_sha256(H, "", 0, &out);
    EXPECT(heq(&out, &e), "check failed");
    want = hx("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT(heq(&e, &want), "check failed");
    /* Leaf hash of "" is SHA-256(0x00); node hash prefixes 0x01. */
    tl_hash_leaf(H, "", 0, &out);
    want = hx("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    EXPECT(heq(&out, &want), "check failed");
    uint8_t z = 0;
    tl_sha256(H, &z, 1, &want);
    EXPECT(heq(&out, &want), "check failed");
    /* Long leaves (over the one-buffer fast path) hash the same way. */
    uint8_t big_leaf[1001];
    memset(big_leaf, 0xab, sizeof(big_leaf));
    big_leaf[0] = 0;
    tl_hash_leaf(H, big_leaf + 1, 1000, &out);
    tl_sha256(H, big_leaf, sizeof(big_leaf), &want);
    EXPECT(heq(&out, &want), "check failed");
    /* Node hash, with output aliasing an input. */
    tl_hash a = hx("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    tl_hash b = a;
    uint8_t buf[65];
    buf[0] = 1;
    memcpy(buf + 1, a.b, 32);
    memcpy(buf + 33, b.b, 32);
    tl_sha256(H, buf, 65, &want);
    tl_hash_node(H, &a, &b, &a);
    EXPECT(heq(&a, &want), "check failed");
}

/* RFC 6962 test tree and published values (certificate-transparency's
 * merkle_tree_test, also shipped in Trillian's and other ports). */
static const char *const rfc_leaves[8] = {
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};
static const char *const rfc_roots[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

struct rfc_proof {
    uint64_t a, b; /* inclusion: index, size; consistency: size1, size2 */
    const char *h[3];
};

static const struct rfc_proof rfc_incl[] = {
    {0,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5,
     8,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1,
     5,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

static const struct rfc_proof rfc_cons[] = {
    {1,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6,
     8,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2,
     5,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

/* An RFC-test-tree store. */
static struct store rfc;

static void rfc_build(void)
{
    memset(&rfc, 0, sizeof(rfc));
    for (int l = 0; l < 4; l++)
        rfc.lv[l] = calloc(8, sizeof(tl_hash));
    tl_frontier f;
    tl_frontier_init(&f);
    for (int i = 0; i < 8; i++) {
        uint8_t d[16];
        size_t n = strlen(rfc_leaves[i]) / 2;
        CU_ASSERT_FATAL(tl_hex_decode(rfc_leaves[i], 2 * n, d, n) == TL_OK);
        tl_hash leaf;
        tl_hash_leaf(H, d, n, &leaf);
        tl_frontier_append(&f, H, &leaf, store_emit, &rfc);
        tl_hash root, want = hx(rfc_roots[i + 1]);
        tl_frontier_root(&f, H, &root);
        EXPECT(heq(&root, &want), "check failed");
    }
    rfc.size = 8;
}

static void test_rfc6962_vectors(void)
{
    rfc_build();
    for (uint64_t n = 0; n <= 8; n++) {
        tl_hash root, want = hx(rfc_roots[n]);
        tl_hash_reader r = reader_of(&rfc, n);
        EXPECT((tl_tree_hash(&r, H, n, &root)) == (TL_OK), "not equal");
        EXPECT(heq(&root, &want), "check failed");
    }
    for (size_t t = 0; t < sizeof(rfc_incl) / sizeof(rfc_incl[0]); t++) {
        const struct rfc_proof *v = &rfc_incl[t];
        tl_hash want[3], got[TL_MAX_PROOF], root = hx(rfc_roots[v->b]);
        size_t wl = 0, gl = 0;
        while (wl < 3 && v->h[wl] != NULL) {
            want[wl] = hx(v->h[wl]);
            wl++;
        }
        tl_hash_reader r = reader_of(&rfc, v->b);
        EXPECT((tl_prove_inclusion(&r, H, v->a, v->b, got, &gl)) == (TL_OK), "not equal");
        EXPECT(proofs_equal(got, gl, want, wl), "check failed");
        check_inclusion(NULL, 1, &rfc.lv[0][v->a], v->a, v->b, want, wl, &root);
    }
    for (size_t t = 0; t < sizeof(rfc_cons) / sizeof(rfc_cons[0]); t++) {
        const struct rfc_proof *v = &rfc_cons[t];
        tl_hash want[3], got[TL_MAX_PROOF];
        tl_hash r1 = hx(rfc_roots[v->a]), r2 = hx(rfc_roots[v->b]);
        size_t wl = 0, gl = 0;
        while (wl < 3 && v->h[wl] != NULL) {
            want[wl] = hx(v->h[wl]);
            wl++;
        }
        tl_hash_reader r = reader_of(&rfc, v->b);
        EXPECT((tl_prove_consistency(&r, H, v->a, v->b, got, &gl)) == (TL_OK), "not equal");
        EXPECT(proofs_equal(got, gl, want, wl), "check failed");
        check_consistency(NULL, v->a, v->b, want, wl, &r1, &r2);
    }
    EXPECT((rfc.violations) == (0), "not equal");
    store_free(&rfc);
}

static void test_store_levels(void)
{
    /* The reference for big trees trusts the store's complete subtrees:
     * check every one of them against plain hashing here. */
    struct store *stores[2] = {&small, &big};
    for (int s = 0; s < 2; s++) {
        struct store *st = stores[s];
        EXPECT((st->violations) == (0), "not equal");
        for (uint64_t i = 0; i < st->size; i++) {
            tl_hash leaf;
            leaf_for(i, &leaf);
            EXPECT(heq(&leaf, &st->lv[0][i]), "leaf %llu", (unsigned long long)i);
        }
        for (int l = 1; l < 64 && (st->size >> l) > 0; l++) {
            EXPECT((st->count[l]) == (st->size >> l), "not equal");
            for (uint64_t i = 0; i < (st->size >> l); i++) {
                uint8_t buf[65];
                tl_hash want;
                buf[0] = 1;
                memcpy(buf + 1, st->lv[l - 1][2 * i].b, 32);
                memcpy(buf + 33, st->lv[l - 1][2 * i + 1].b, 32);
                tl_sha256(H, buf, 65, &want);
                EXPECT(heq(&want, &st->lv[l][i]), "node %d/%llu", l, (unsigned long long)i);
            }
        }
    }
}

static void test_tree_hash_and_frontier(void)
{
    tl_frontier f;
    tl_frontier_init(&f);
    for (uint64_t n = 0; n <= REF_N; n++) {
        tl_hash want, got;
        ref_mth_small(0, n, &want);
        tl_hash_reader r = reader_of(&small, n);
        small.calls = 0;
        EXPECT((tl_tree_hash(&r, H, n, &got)) == (TL_OK), "not equal");
        EXPECT(heq(&got, &want), "tree hash %llu", (unsigned long long)n);
        EXPECT(small.calls == (n > 0 ? 1u : 0u), "check failed");
        tl_frontier_root(&f, H, &got);
        EXPECT(heq(&got, &want), "frontier root %llu", (unsigned long long)n);
        EXPECT((f.size) == (n), "not equal");
        EXPECT((f.n) == ((unsigned)__builtin_popcountll(n)), "not equal");
        /* Loading the frontier of n gives the same frontier. */
        tl_frontier g;
        EXPECT((tl_frontier_load(&g, &r, n)) == (TL_OK), "not equal");
        EXPECT(g.size == f.size && g.n == f.n &&
                   memcmp(g.hashes, f.hashes, f.n * sizeof(tl_hash)) == 0,
               "check failed");
        /* tl_tree_nodes: disjoint complete subtrees covering [0, n), largest first. */
        tl_node nodes[64];
        size_t k = tl_tree_nodes(n, nodes);
        uint64_t at = 0;
        for (size_t i = 0; i < k; i++) {
            EXPECT((nodes[i].index << nodes[i].level) == (at), "not equal");
            at += (uint64_t)1 << nodes[i].level;
            if (i > 0)
                EXPECT(nodes[i].level < nodes[i - 1].level, "check failed");
        }
        EXPECT((at) == (n), "not equal");
        if (n < REF_N)
            tl_frontier_append(&f, H, &small.lv[0][n], NULL, NULL);
    }
    EXPECT((small.violations) == (0), "not equal");
    /* A loaded frontier keeps appending correctly. */
    for (uint64_t start = 0; start <= REF_N; start += 37) {
        tl_frontier g;
        tl_hash_reader r = reader_of(&small, start);
        EXPECT((tl_frontier_load(&g, &r, start)) == (TL_OK), "not equal");
        for (uint64_t i = start; i < REF_N; i++)
            tl_frontier_append(&g, H, &small.lv[0][i], NULL, NULL);
        tl_hash got, want;
        tl_frontier_root(&g, H, &got);
        ref_mth_small(0, REF_N, &want);
        EXPECT(heq(&got, &want), "check failed");
    }
    /* Reader errors pass through unchanged and leave the frontier alone. */
    tl_frontier g = f;
    tl_hash_reader r = reader_of(&small, 100);
    small.fail = TL_ERR_IO;
    EXPECT((tl_frontier_load(&g, &r, 100)) == (TL_ERR_IO), "not equal");
    EXPECT(memcmp(&g, &f, sizeof(f)) == 0, "check failed");
    tl_hash root;
    EXPECT((tl_tree_hash(&r, H, 100, &root)) == (TL_ERR_IO), "not equal");
    small.fail = TL_OK;
}

static void test_inclusion_exhaustive(void)
{
    unsigned proofs = 0;
    for (uint64_t n = 1; n <= REF_N; n++) {
        tl_hash root;
        ref_mth_small(0, n, &root);
        for (uint64_t i = 0; i < n; i++) {
            tl_hash want[TL_MAX_PROOF], got[TL_MAX_PROOF];
            size_t wl = 0, gl = 0;
            ref_path(ref_mth_small, i, 0, n, want, &wl);
            tl_hash_reader r = reader_of(&small, n);
            small.calls = 0;
            int rc = tl_prove_inclusion(&r, H, i, n, got, &gl);
            EXPECT(rc == TL_OK && proofs_equal(got, gl, want, wl), "inclusion %llu/%llu",
                   (unsigned long long)i, (unsigned long long)n);
            EXPECT(small.calls == (wl > 0 ? 1u : 0u), "check failed");
            check_inclusion(n < REF_N ? ref_mth_small : NULL, 1, &small.lv[0][i], i, n, want, wl,
                            &root);
            proofs++;
        }
        tl_hash_reader r = reader_of(&small, n);
        tl_hash got[TL_MAX_PROOF];
        size_t gl;
        EXPECT((tl_prove_inclusion(&r, H, n, n, got, &gl)) == (TL_ERR_RANGE), "not equal");
    }
    EXPECT((proofs) == (REF_N * (REF_N + 1) / 2), "not equal");
    EXPECT((small.violations) == (0), "not equal");
}

static void test_consistency_exhaustive(void)
{
    unsigned proofs = 0;
    for (uint64_t n = 0; n <= REF_N; n++) {
        tl_hash r2;
        ref_mth_small(0, n, &r2);
        for (uint64_t m = 0; m <= n; m++) {
            tl_hash r1, want[TL_MAX_PROOF], got[TL_MAX_PROOF];
            size_t wl = 0, gl = 0;
            ref_mth_small(0, m, &r1);
            ref_consistency(ref_mth_small, m, n, want, &wl);
            tl_hash_reader r = reader_of(&small, n);
            small.calls = 0;
            int rc = tl_prove_consistency(&r, H, m, n, got, &gl);
            EXPECT(rc == TL_OK && proofs_equal(got, gl, want, wl), "consistency %llu..%llu",
                   (unsigned long long)m, (unsigned long long)n);
            EXPECT(small.calls == (wl > 0 ? 1u : 0u), "check failed");
            check_consistency(n < REF_N ? ref_mth_small : NULL, m, n, want, wl, &r1, &r2);
            proofs++;
        }
        tl_hash_reader r = reader_of(&small, n);
        tl_hash got[TL_MAX_PROOF];
        size_t gl;
        EXPECT((tl_prove_consistency(&r, H, n + 1, n, got, &gl)) == (TL_ERR_RANGE), "not equal");
    }
    EXPECT((proofs) == ((REF_N + 1) * (REF_N + 2) / 2), "not equal");
    EXPECT((small.violations) == (0), "not equal");
}

/* Sizes worth testing in the big tree besides random ones. */
static uint64_t big_size(unsigned k)
{
    static const uint64_t edges[] = {1,         2,
                                     3,         255,
                                     256,       257,
                                     65535,     65536,
                                     65537,     (1u << 19) - 1,
                                     1u << 19,  (1u << 19) + 1,
                                     BIG_N - 1, BIG_N};
    if (k < sizeof(edges) / sizeof(edges[0]))
        return edges[k];
    return 1 + rnd_below(BIG_N);
}

static void test_random_big(void)
{
    unsigned count = sanitized ? 400 : 3000;
    for (unsigned k = 0; k < count; k++) {
        uint64_t n = big_size(k);
        uint64_t i;
        switch (k % 4) {
        case 0:
            i = n - 1;
            break; /* the last leaf */
        case 1:
            i = 0;
            break;
        default:
            i = rnd_below(n);
            break;
        }
        tl_hash root, want[TL_MAX_PROOF], got[TL_MAX_PROOF];
        size_t wl = 0, gl = 0;
        ref_mth_big(0, n, &root);
        ref_path(ref_mth_big, i, 0, n, want, &wl);
        tl_hash_reader r = reader_of(&big, n);
        big.calls = 0;
        int rc = tl_prove_inclusion(&r, H, i, n, got, &gl);
        EXPECT(rc == TL_OK && proofs_equal(got, gl, want, wl), "big inclusion %llu/%llu",
               (unsigned long long)i, (unsigned long long)n);
        EXPECT(big.calls == (wl > 0 ? 1u : 0u), "check failed");
        tl_hash tr;
        EXPECT((tl_tree_hash(&r, H, n, &tr)) == (TL_OK), "not equal");
        EXPECT(heq(&tr, &root), "check failed");
        check_inclusion(n < BIG_N ? ref_mth_big : NULL, 1, &big.lv[0][i], i, n, want, wl, &root);

        /* Consistency from a random (or edge) smaller size. */
        uint64_t m;
        switch (k % 5) {
        case 0:
            m = n;
            break;
        case 1:
            m = n - 1;
            break;
        case 2:
            m = (uint64_t)1 << (63 - __builtin_clzll(n));
            break; /* a power of 2 */
        default:
            m = rnd_below(n + 1);
            break;
        }
        tl_hash r1;
        ref_mth_big(0, m, &r1);
        ref_consistency(ref_mth_big, m, n, want, &wl);
        big.calls = 0;
        rc = tl_prove_consistency(&r, H, m, n, got, &gl);
        EXPECT(rc == TL_OK && proofs_equal(got, gl, want, wl), "big consistency %llu..%llu",
               (unsigned long long)m, (unsigned long long)n);
        EXPECT(big.calls == (wl > 0 ? 1u : 0u), "check failed");
        check_consistency(n < BIG_N ? ref_mth_big : NULL, m, n, want, wl, &r1, &root);
    }
    EXPECT((big.violations) == (0), "not equal");
}

/* A virtual tree of up to 2^64-1 identical leaves: node (l, i) = Z[l]. */
static tl_hash zlev[64];

static int uniform_read(void *ctx, const tl_node *nodes, size_t n, tl_hash *out)
{
    uint64_t size = *(const uint64_t *)ctx;
    for (size_t i = 0; i < n; i++) {
        unsigned l = nodes[i].level;
        uint64_t end = (nodes[i].index + 1) << l;
        if (l >= 64 || (end >> l) != nodes[i].index + 1 || end > size || end == 0)
            return TL_ERR_NOTFOUND;
        out[i] = zlev[l];
    }
    return TL_OK;
}

static void test_huge_sizes(void)
{
    tl_hash_leaf(H, "x", 1, &zlev[0]);
    for (int l = 1; l < 64; l++)
        tl_hash_node(H, &zlev[l - 1], &zlev[l - 1], &zlev[l]);
    unsigned count = sanitized ? 100 : 500;
    for (unsigned k = 0; k < count; k++) {
        uint64_t n2 = k == 0 ? ((uint64_t)1 << 63) : (rnd() >> (1 + k % 40)) + 1;
        uint64_t n1 = k == 0 ? n2 - 1 : 1 + rnd_below(n2);
        uint64_t i = k % 3 == 0 ? n2 - 1 : rnd_below(n2);
        uint64_t lim = n2;
        tl_hash_reader r = {uniform_read, &lim};
        tl_hash root2, root1, proof[TL_MAX_PROOF];
        size_t len = 0;
        CU_ASSERT_EQUAL_FATAL(tl_tree_hash(&r, H, n2, &root2), TL_OK);
        int rc = tl_prove_inclusion(&r, H, i, n2, proof, &len);
        EXPECT(rc == TL_OK, "huge inclusion %llu/%llu: %d", (unsigned long long)i,
               (unsigned long long)n2, rc);
        EXPECT(len <= 63, "check failed");
        check_inclusion(NULL, 0, &zlev[0], i, n2, proof, len, &root2);
        lim = n1;
        CU_ASSERT_EQUAL_FATAL(tl_tree_hash(&r, H, n1, &root1), TL_OK);
        lim = n2;
        rc = tl_prove_consistency(&r, H, n1, n2, proof, &len);
        EXPECT(rc == TL_OK, "huge consistency %llu..%llu: %d", (unsigned long long)n1,
               (unsigned long long)n2, rc);
        EXPECT(len <= TL_MAX_PROOF, "check failed");
        if (n1 < n2)
            EXPECT(tl_verify_consistency(H, n1, n2, proof, len, &root1, &root2) == TL_OK,
                   "check failed");
    }
    /* The largest tree: 2^64-1 leaves. */
    uint64_t lim = UINT64_MAX;
    tl_hash_reader r = {uniform_read, &lim};
    tl_hash root, proof[TL_MAX_PROOF];
    size_t len;
    EXPECT((tl_tree_hash(&r, H, UINT64_MAX, &root)) == (TL_OK), "not equal");
    EXPECT((tl_prove_inclusion(&r, H, UINT64_MAX - 1, UINT64_MAX, proof, &len)) == (TL_OK),
           "not equal");
    EXPECT((tl_verify_inclusion(H, &zlev[0], UINT64_MAX - 1, UINT64_MAX, proof, len, &root)) ==
               (TL_OK),
           "not equal");
}

static void test_malformed(void)
{
    tl_hash h, p[TL_MAX_PROOF + 1];
    size_t len;
    memset(p, 0, sizeof(p));
    tl_hash_empty(&h);
    tl_hash_reader r = reader_of(&small, REF_N);
    /* Size 0: nothing is in it. */
    EXPECT((tl_prove_inclusion(&r, H, 0, 0, p, &len)) == (TL_ERR_RANGE), "not equal");
    EXPECT((tl_verify_inclusion(H, &h, 0, 0, p, 0, &h)) == (TL_ERR_RANGE), "not equal");
    EXPECT((tl_root_from_inclusion(H, &h, 5, 5, p, 0, &h)) == (TL_ERR_RANGE), "not equal");
    /* Size 1: the leaf is the root, the proof is empty. */
    tl_hash leaf = small.lv[0][0];
    EXPECT((tl_prove_inclusion(&r, H, 0, 1, p, &len)) == (TL_OK), "not equal");
    EXPECT((len) == (0), "not equal");
    EXPECT((tl_verify_inclusion(H, &leaf, 0, 1, p, 0, &leaf)) == (TL_OK), "not equal");
    EXPECT((tl_verify_inclusion(H, &leaf, 0, 1, p, 1, &leaf)) == (TL_ERR_INVALID), "not equal");
    EXPECT((tl_verify_inclusion(H, &leaf, 0, 1, p, 0, &h)) == (TL_ERR_PROOF), "not equal");
    EXPECT((tl_verify_inclusion(H, &leaf, 1, 1, p, 0, &leaf)) == (TL_ERR_RANGE), "not equal");
    /* Over-long proofs. */
    EXPECT((tl_verify_inclusion(H, &leaf, 0, 8, p, TL_MAX_PROOF + 1, &h)) == (TL_ERR_INVALID),
           "not equal");
    EXPECT((tl_verify_consistency(H, 3, 8, p, TL_MAX_PROOF + 1, &h, &h)) == (TL_ERR_INVALID),
           "not equal");
    /* Consistency edge cases (as in Trillian's verifier tests). */
    tl_hash r1 = small.lv[0][1], r2 = small.lv[0][2];
    EXPECT((tl_prove_consistency(&r, H, 0, 0, p, &len)) == (TL_OK), "not equal");
    EXPECT((len) == (0), "not equal");
    EXPECT((tl_prove_consistency(&r, H, 0, 7, p, &len)) == (TL_OK), "not equal");
    EXPECT((len) == (0), "not equal");
    EXPECT((tl_prove_consistency(&r, H, 7, 7, p, &len)) == (TL_OK), "not equal");
    EXPECT((len) == (0), "not equal");
    EXPECT((tl_prove_consistency(&r, H, 8, 7, p, &len)) == (TL_ERR_RANGE), "not equal");
    EXPECT((tl_verify_consistency(H, 0, 0, p, 0, &r1, &r2)) == (TL_ERR_PROOF), "not equal");
    EXPECT((tl_verify_consistency(H, 1, 1, p, 0, &r1, &r2)) == (TL_ERR_PROOF), "not equal");
    EXPECT((tl_verify_consistency(H, 0, 0, p, 0, &r1, &r1)) == (TL_OK), "not equal");
    EXPECT((tl_verify_consistency(H, 0, 1, p, 0, &r1, &r2)) == (TL_OK), "not equal");
    EXPECT((tl_verify_consistency(H, 0, 1, p, 0, NULL, &r2)) == (TL_OK), "not equal");
    EXPECT((tl_verify_consistency(H, 1, 1, p, 0, &r2, &r2)) == (TL_OK), "not equal");
    EXPECT((tl_verify_consistency(H, 1, 0, p, 0, &r1, &r2)) == (TL_ERR_RANGE), "not equal");
    EXPECT((tl_verify_consistency(H, 2, 1, p, 0, &r1, &r2)) == (TL_ERR_RANGE), "not equal");
    EXPECT((tl_verify_consistency(H, 1, 2, p, 0, &r1, &r2)) == (TL_ERR_INVALID), "not equal");
    EXPECT((tl_verify_consistency(H, 0, 0, p, 1, &h, &h)) == (TL_ERR_INVALID), "not equal");
    EXPECT((tl_verify_consistency(H, 0, 1, p, 1, &h, &h)) == (TL_ERR_INVALID), "not equal");
    EXPECT((tl_verify_consistency(H, 1, 1, p, 1, &h, &h)) == (TL_ERR_INVALID), "not equal");
    /* Reader errors pass through; one reader call per proof. */
    small.fail = TL_ERR_CORRUPT;
    small.calls = 0;
    EXPECT((tl_prove_inclusion(&r, H, 3, 200, p, &len)) == (TL_ERR_CORRUPT), "not equal");
    EXPECT((tl_prove_consistency(&r, H, 3, 200, p, &len)) == (TL_ERR_CORRUPT), "not equal");
    EXPECT((small.calls) == (2), "not equal");
    small.fail = TL_OK;
}

/* ---- tiles ---------------------------------------------------------------- */

static void test_tiles_spec_examples(void)
{
    tl_tile t;
    /* tlog-tiles "Partial Tiles": size 70,000 has 273 full level-0 tiles,
     * one partial level-0 tile of width 112, one full level-1 tile, one
     * partial level-1 tile of width 17 and one partial level-2 tile of width 1. */
    uint64_t s = 70000;
    EXPECT((tl_tile_levels(s)) == (3), "not equal");
    EXPECT((tl_tile_level_hashes(0, s)) == (70000), "not equal");
    EXPECT((tl_tile_level_hashes(1, s)) == (273), "not equal");
    EXPECT((tl_tile_level_hashes(2, s)) == (1), "not equal");
    EXPECT((tl_tile_level_hashes(3, s)) == (0), "not equal");
    unsigned full = 0, partial = 0;
    for (uint64_t i = 0; i < tl_tile_level_hashes(0, s); i += 256) {
        CU_ASSERT_EQUAL_FATAL(tl_tile_for_hash(0, i, s, &t), TL_OK);
        EXPECT((t.n) == (i / 256), "not equal");
        if (t.width == 256)
            full++;
        else {
            partial++;
            EXPECT((t.width) == (112), "not equal");
            EXPECT((t.n) == (273), "not equal");
        }
    }
    EXPECT((full) == (273), "not equal");
    EXPECT((partial) == (1), "not equal");
    EXPECT((tl_tile_for_hash(0, 69999, s, &t)) == (TL_OK), "not equal");
    EXPECT(t.level == 0 && t.n == 273 && t.width == 112, "check failed");
    EXPECT((tl_tile_for_hash(0, 69887, s, &t)) == (TL_OK), "not equal");
    EXPECT(t.n == 272 && t.width == 256, "check failed");
    EXPECT((tl_tile_for_hash(0, 70000, s, &t)) == (TL_ERR_RANGE), "not equal");
    EXPECT((tl_tile_for_hash(1, 0, s, &t)) == (TL_OK), "not equal");
    EXPECT(t.level == 1 && t.n == 0 && t.width == 256, "check failed");
    EXPECT((tl_tile_for_hash(1, 272, s, &t)) == (TL_OK), "not equal");
    EXPECT(t.n == 1 && t.width == 17, "check failed");
    EXPECT((tl_tile_for_hash(1, 273, s, &t)) == (TL_ERR_RANGE), "not equal");
    EXPECT((tl_tile_for_hash(2, 0, s, &t)) == (TL_OK), "not equal");
    EXPECT(t.level == 2 && t.n == 0 && t.width == 1, "check failed");
    EXPECT((tl_tile_for_hash(3, 0, s, &t)) == (TL_ERR_RANGE), "not equal");
    /* "a tree of size 256 will be represented by a full level 0 tile and a
     * partial level 1 tile of width 1". */
    EXPECT((tl_tile_levels(256)) == (2), "not equal");
    EXPECT((tl_tile_for_hash(0, 255, 256, &t)) == (TL_OK), "not equal");
    EXPECT(t.n == 0 && t.width == 256, "check failed");
    EXPECT((tl_tile_for_hash(1, 0, 256, &t)) == (TL_OK), "not equal");
    EXPECT(t.n == 0 && t.width == 1, "check failed");
    /* Edges: empty tree, size 1, size 255, the largest tree, bad levels. */
    EXPECT((tl_tile_levels(0)) == (0), "not equal");
    EXPECT((tl_tile_for_hash(0, 0, 0, &t)) == (TL_ERR_RANGE), "not equal");
    EXPECT((tl_tile_levels(1)) == (1), "not equal");
    EXPECT((tl_tile_levels(255)) == (1), "not equal");
    EXPECT((tl_tile_for_hash(0, 0, 1, &t)) == (TL_OK), "not equal");
    EXPECT(t.width == 1, "check failed");
    EXPECT((tl_tile_levels(UINT64_MAX)) == (8), "not equal");
    EXPECT((tl_tile_level_hashes(7, UINT64_MAX)) == (255), "not equal");
    EXPECT((tl_tile_level_hashes(8, UINT64_MAX)) == (0), "not equal");
    EXPECT((tl_tile_level_hashes(-1, 5)) == (0), "not equal");
    EXPECT((tl_tile_for_hash(7, 0, UINT64_MAX, &t)) == (TL_OK), "not equal");
    EXPECT(t.width == 255, "check failed");
    EXPECT((tl_tile_for_hash(0, UINT64_MAX - 1, UINT64_MAX, &t)) == (TL_OK), "not equal");
    EXPECT(t.n == (UINT64_MAX - 1) / 256 && t.width == 255, "check failed");
    EXPECT((tl_tile_for_hash(64, 0, 5, &t)) == (TL_ERR_INVALID), "not equal");
    EXPECT((tl_tile_for_hash(-1, 0, 5, &t)) == (TL_ERR_INVALID), "not equal");
}

/* A tile source over the big store, for a tree of tile_size leaves. */
struct tiles {
    uint64_t size;
    unsigned gets, violations;
};

static int tiles_get(void *ctx, int level, uint64_t n, unsigned min_width, const uint8_t **data,
                     unsigned *width)
{
    struct tiles *ts = ctx;
    ts->gets++;
    uint64_t count = tl_tile_level_hashes(level, ts->size);
    if (n * 256 >= count) {
        ts->violations++;
        return TL_ERR_NOTFOUND;
    }
    uint64_t w = count - n * 256;
    if (w > 256)
        w = 256;
    if (min_width < 1 || min_width > w) {
        ts->violations++;
        return TL_ERR_NOTFOUND;
    }
    *data = big.lv[8 * level][n * 256].b; /* tl_hash arrays are contiguous */
    *width = (unsigned)w;
    return TL_OK;
}

static int tile_reader(void *ctx, const tl_node *nodes, size_t n, tl_hash *out)
{
    return tl_tile_read_nodes(tiles_get, ctx, H, nodes, n, out);
}

static void test_tile_hash_and_read(void)
{
    struct tiles ts = {70000, 0, 0};
    tl_hash got, want;
    /* Full tiles hash to the level-(8L+8) node; partial ones to their MTH. */
    for (uint64_t n = 0; n < 273; n++) {
        tl_tile_hash(H, big.lv[0][n * 256].b, 256, &got);
        EXPECT(heq(&got, &big.lv[8][n]), "level-0 tile %llu", (unsigned long long)n);
    }
    tl_tile_hash(H, big.lv[8][0].b, 256, &got);
    EXPECT(heq(&got, &big.lv[16][0]), "check failed");
    for (unsigned w = 1; w <= 256; w++) {
        tl_tile_hash(H, big.lv[0][256 * 5].b, w, &got);
        ref_mth_big(256 * 5, 256 * 5 + w, &want);
        EXPECT(heq(&got, &want), "partial tile width %u", w);
    }
    /* tl_tile_read_nodes against the store, one get per distinct tile. */
    for (unsigned round = 0; round < (sanitized ? 50u : 300u); round++) {
        tl_node nodes[40];
        tl_hash out[40];
        size_t k = 1 + rnd_below(40);
        ts.size = 1 + rnd_below(BIG_N);
        for (size_t i = 0; i < k; i++) {
            unsigned maxl = 63 - (unsigned)__builtin_clzll(ts.size);
            unsigned l = (unsigned)rnd_below(maxl + 1);
            nodes[i].level = (uint8_t)l;
            nodes[i].index = rnd_below(ts.size >> l);
        }
        unsigned distinct = 0;
        for (size_t i = 0; i < k; i++) {
            size_t j;
            for (j = 0; j < i; j++)
                if (nodes[j].level / 8 == nodes[i].level / 8 &&
                    ((nodes[j].index << (nodes[j].level % 8)) >> 8) ==
                        ((nodes[i].index << (nodes[i].level % 8)) >> 8))
                    break;
            if (j == i)
                distinct++;
        }
        ts.gets = 0;
        EXPECT((tl_tile_read_nodes(tiles_get, &ts, H, nodes, k, out)) == (TL_OK), "not equal");
        EXPECT((ts.gets) == (distinct), "not equal");
        for (size_t i = 0; i < k; i++)
            EXPECT(heq(&out[i], &big.lv[nodes[i].level][nodes[i].index]), "tile read %u/%llu",
                   nodes[i].level, (unsigned long long)nodes[i].index);
    }
    EXPECT((ts.violations) == (0), "not equal");
    /* Proofs through tiles equal proofs through the store. */
    for (unsigned round = 0; round < (sanitized ? 50u : 300u); round++) {
        uint64_t n = 1 + rnd_below(BIG_N), i = rnd_below(n), m = rnd_below(n + 1);
        tl_hash a[TL_MAX_PROOF], b[TL_MAX_PROOF];
        size_t al, bl;
        ts.size = n;
        tl_hash_reader tr = {tile_reader, &ts};
        tl_hash_reader sr = reader_of(&big, n);
        EXPECT((tl_prove_inclusion(&tr, H, i, n, a, &al)) == (TL_OK), "not equal");
        EXPECT((tl_prove_inclusion(&sr, H, i, n, b, &bl)) == (TL_OK), "not equal");
        EXPECT(proofs_equal(a, al, b, bl), "check failed");
        EXPECT((tl_prove_consistency(&tr, H, m, n, a, &al)) == (TL_OK), "not equal");
        EXPECT((tl_prove_consistency(&sr, H, m, n, b, &bl)) == (TL_OK), "not equal");
        EXPECT(proofs_equal(a, al, b, bl), "check failed");
        tl_hash ra, rb;
        EXPECT((tl_tree_hash(&tr, H, n, &ra)) == (TL_OK), "not equal");
        EXPECT((tl_tree_hash(&sr, H, n, &rb)) == (TL_OK), "not equal");
        EXPECT(heq(&ra, &rb), "check failed");
    }
    EXPECT((ts.violations) == (0), "not equal");
    /* More nodes than the reader's on-stack grouping array (heap path). */
    {
        enum { K = 500 };
        static tl_node many[K];
        static tl_hash out[K];
        ts.size = BIG_N;
        for (size_t i = 0; i < K; i++) {
            many[i].level = (uint8_t)(i % 20);
            many[i].index = rnd_below(BIG_N >> (i % 20));
        }
        EXPECT(tl_tile_read_nodes(tiles_get, &ts, H, many, K, out) == TL_OK, "500 nodes");
        for (size_t i = 0; i < K; i++)
            EXPECT(heq(&out[i], &big.lv[many[i].level][many[i].index]), "node %zu", i);
    }
    /* A tile narrower than needed is corrupt; get errors pass through. */
    tl_node nd = {3, 30}; /* needs level-0 hashes 240..247 of tile 0 */
    ts.size = 100;        /* tile 0 is only 100 wide */
    ts.violations = 0;
    EXPECT((tl_tile_read_nodes(tiles_get, &ts, H, &nd, 1, &got)) == (TL_ERR_NOTFOUND), "not equal");
    EXPECT((ts.violations) == (1), "not equal");
    nd.level = 64;
    EXPECT((tl_tile_read_nodes(tiles_get, &ts, H, &nd, 1, &got)) == (TL_ERR_INVALID), "not equal");
    nd.level = 10;
    nd.index = (uint64_t)1 << 60; /* its leaves would start at 2^70 */
    EXPECT((tl_tile_read_nodes(tiles_get, &ts, H, &nd, 1, &got)) == (TL_ERR_INVALID), "not equal");
    EXPECT((tl_tile_read_nodes(tiles_get, &ts, H, &nd, 0, &got)) == (TL_OK), "not equal");
}

struct path_case {
    const char *path;
    int level;
    uint64_t n;
    unsigned width;
};

static const struct path_case good_paths[] = {
    {"tile/0/000", 0, 0, 256},
    {"tile/0/001", 0, 1, 256},
    {"tile/0/999", 0, 999, 256},
    {"tile/0/x001/000", 0, 1000, 256},
    {"tile/0/x001/x234/067", 0, 1234067, 256},
    {"tile/0/x001/x234/067.p/8", 0, 1234067, 8},
    {"tile/1/x123/456.p/255", 1, 123456, 255},
    {"tile/63/000.p/1", 63, 0, 1},
    {"tile/10/042", 10, 42, 256},
    {"tile/entries/000", TL_TILE_ENTRIES, 0, 256},
    {"tile/entries/x001/x234/067.p/112", TL_TILE_ENTRIES, 1234067, 112},
    {"tile/2/x018/x446/x744/x073/x709/x551/615", 2, UINT64_MAX, 256},
    {"tile/entries/x018/x446/x744/x073/x709/x551/615.p/255", TL_TILE_ENTRIES, UINT64_MAX, 255},
};

static const char *const bad_paths[] = {
    "",
    "tile",
    "tile/",
    "tile/0",
    "tile/0/",
    "tile/00/000",                                   /* leading zero in L */
    "tile/01/000",                                   /* leading zero in L */
    "tile/64/000",                                   /* L > 63 */
    "tile/100/000",                                  /* L > 63 */
    "tile/-1/000",                                   /* sign */
    "tile/+1/000",                                   /* sign */
    "tile/ 1/000",                                   /* space */
    "tile//000",                                     /* empty L */
    "tile/a/000",                                    /* not a number */
    "tile/0/0",                                      /* N groups are exactly 3 digits */
    "tile/0/00",                                     /* N groups are exactly 3 digits */
    "tile/0/0000",                                   /* N groups are exactly 3 digits */
    "tile/0/x001",                                   /* 'x' on the last group */
    "tile/0/001/234",                                /* missing 'x' on a non-last group */
    "tile/0/x001/x234",                              /* 'x' on the last group */
    "tile/0/x000/001",                               /* non-canonical zero group */
    "tile/0/x000/x001/002",                          /* non-canonical zero group */
    "tile/0/x01/234",                                /* short group */
    "tile/0/X001/234",                               /* capital X */
    "tile/0/x001//234",                              /* empty component */
    "tile/0/x018/x446/x744/x073/x709/x551/616",      /* 2^64 */
    "tile/0/x999/x999/x999/x999/x999/x999/999",      /* overflow */
    "tile/0/x001/x000/x000/x000/x000/x000/x000/000", /* overflow */
    "tile/0/000.p/0",                                /* W out of 1..255 */
    "tile/0/000.p/256",                              /* W out of 1..255 */
    "tile/0/000.p/1000",                             /* W out of 1..255 */
    "tile/0/000.p/012",                              /* leading zero in W */
    "tile/0/000.p/",                                 /* empty W */
    "tile/0/000.p",                                  /* no W */
    "tile/0/000.p/12x",                              /* trailing junk */
    "tile/0/000.p/-1",                               /* sign */
    "tile/0/000.q/12",                               /* not .p */
    "tile/0/000/",                                   /* trailing slash */
    "tile/0/000 ",                                   /* trailing space */
    "tile/0/000?x=1",                                /* query */
    "tile/0/000.p/12/",                              /* trailing slash */
    "//tile/0/000",                                  /* two leading slashes */
    "tiles/0/000",                                   /* wrong prefix */
    "Tile/0/000",                                    /* wrong prefix */
    "tile/entry/000",                                /* wrong word */
    "tile/entries/",                                 /* no N */
    "tile/entries/00",                               /* short N */
    "tile/entries/000.p/256",                        /* W out of range */
    "tile/entries/000.p/0",                          /* W out of range */
    "tile/entries/x000/001",                         /* non-canonical zero group */
    "tile/entries/1/000",                            /* extra component */
    "/tile/0/x001/x234/067/",                        /* trailing slash */
    "tile/0/x001/x234/067x",                         /* trailing junk */
};

static void test_tile_paths(void)
{
    char buf[TL_TILE_PATH_MAX];
    tl_tile t;
    for (size_t i = 0; i < sizeof(good_paths) / sizeof(good_paths[0]); i++) {
        const struct path_case *c = &good_paths[i];
        tl_tile want = {c->level, c->n, c->width};
        int rc = tl_tile_parse_path(c->path, strlen(c->path), &t);
        EXPECT(rc == TL_OK && t.level == want.level && t.n == want.n && t.width == want.width,
               "parse %s", c->path);
        EXPECT(tl_tile_path(&want, buf, sizeof(buf)) == TL_OK && strcmp(buf, c->path) == 0,
               "format %s", c->path);
        /* A leading '/' is accepted. */
        char slash[TL_TILE_PATH_MAX + 1];
        snprintf(slash, sizeof(slash), "/%s", c->path);
        rc = tl_tile_parse_path(slash, strlen(slash), &t);
        EXPECT(rc == TL_OK && t.n == want.n && t.width == want.width, "parse %s", slash);
        /* Every proper prefix that is not itself valid is rejected; the
         * length argument, not a NUL, ends the path. */
        for (size_t cut = 0; cut < strlen(c->path); cut++) {
            tl_tile u;
            int ok = tl_tile_parse_path(c->path, cut, &u) == TL_OK;
            /* Cutting "x001/x234/067.p/8" can leave "…/067" (valid, full). */
            if (ok)
                EXPECT(strncmp(c->path + cut, ".p/", 3) == 0 ||
                           (c->path[cut] >= '0' && c->path[cut] <= '9'),
                       "prefix %zu of %s accepted", cut, c->path);
        }
    }
    for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
        t.level = 99;
        EXPECT(tl_tile_parse_path(bad_paths[i], strlen(bad_paths[i]), &t) == TL_ERR_INVALID,
               "accepted bad path \"%s\"", bad_paths[i]);
        EXPECT((t.level) == (99), "not equal"); /* untouched on error */
    }
    /* Embedded NUL. */
    EXPECT((tl_tile_parse_path("tile/0/000\0", 11, &t)) == (TL_ERR_INVALID), "not equal");
    EXPECT((tl_tile_parse_path("tile/0\0/000", 11, &t)) == (TL_ERR_INVALID), "not equal");
    /* Formatting rejects what cannot be encoded, and short buffers. */
    tl_tile bad = {0, 0, 0};
    EXPECT((tl_tile_path(&bad, buf, sizeof(buf))) == (TL_ERR_INVALID), "not equal");
    bad.width = 257;
    EXPECT((tl_tile_path(&bad, buf, sizeof(buf))) == (TL_ERR_INVALID), "not equal");
    bad.width = 256;
    bad.level = 64;
    EXPECT((tl_tile_path(&bad, buf, sizeof(buf))) == (TL_ERR_INVALID), "not equal");
    bad.level = -2;
    EXPECT((tl_tile_path(&bad, buf, sizeof(buf))) == (TL_ERR_INVALID), "not equal");
    tl_tile ok = {0, 1234067, 8};
    EXPECT((tl_tile_path(&ok, buf, strlen("tile/0/x001/x234/067.p/8"))) == (TL_ERR_TOOBIG),
           "not equal");
    EXPECT((tl_tile_path(&ok, buf, strlen("tile/0/x001/x234/067.p/8") + 1)) == (TL_OK),
           "not equal");
    /* The longest path fits TL_TILE_PATH_MAX. */
    tl_tile longest = {TL_TILE_ENTRIES, UINT64_MAX, 255};
    EXPECT((tl_tile_path(&longest, buf, sizeof(buf))) == (TL_OK), "not equal");
    tl_tile longest2 = {63, UINT64_MAX, 255};
    EXPECT((tl_tile_path(&longest2, buf, sizeof(buf))) == (TL_OK), "not equal");
    /* Random round trips. */
    for (unsigned k = 0; k < 20000; k++) {
        tl_tile a, b;
        a.level = (int)rnd_below(65) - 1;
        a.n = rnd() >> rnd_below(64);
        a.width = 1 + (unsigned)rnd_below(256);
        if (k % 2)
            a.width = 256;
        CU_ASSERT_EQUAL_FATAL(tl_tile_path(&a, buf, sizeof(buf)), TL_OK);
        CU_ASSERT_EQUAL_FATAL(tl_tile_parse_path(buf, strlen(buf), &b), TL_OK);
        EXPECT(a.level == b.level && a.n == b.n && a.width == b.width, "check failed");
    }
}

/* ---- main ------------------------------------------------------------------ */

static int suite_init(void)
{
    H = tl_hasher_new();
    if (H == NULL)
        return -1;
    memo = calloc((size_t)(REF_N + 1) * (REF_N + 1), sizeof(tl_hash));
    memo_have = calloc((size_t)(REF_N + 1) * (REF_N + 1), 1);
    if (memo == NULL || memo_have == NULL)
        return -1;
    store_build(&small, REF_N);
    store_build(&big, BIG_N);
    return 0;
}

static int suite_clean(void)
{
    store_free(&small);
    store_free(&big);
    free(memo);
    free(memo_have);
    tl_hasher_free(H);
    return 0;
}

int main(void)
{
    const char *e = getenv("TL_SANITIZED");
    sanitized = e != NULL && strcmp(e, "1") == 0;
    e = getenv("TL_SEED");
    if (e != NULL && *e != '\0')
        rng_state = strtoull(e, NULL, 0) | 1;
    fprintf(stderr, "test_merkle: seed 0x%llx%s\n", (unsigned long long)rng_state,
            sanitized ? " (sanitized: reduced counts)" : "");
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite("merkle", suite_init, suite_clean);
    if (s == NULL || !CU_add_test(s, "hashing", test_hashing) ||
        !CU_add_test(s, "rfc6962 test vectors", test_rfc6962_vectors) ||
        !CU_add_test(s, "store levels (reference check)", test_store_levels) ||
        !CU_add_test(s, "tree hash and frontier", test_tree_hash_and_frontier) ||
        !CU_add_test(s, "inclusion, all (index,size) <= 300", test_inclusion_exhaustive) ||
        !CU_add_test(s, "consistency, all (size1,size2) <= 300", test_consistency_exhaustive) ||
        !CU_add_test(s, "random proofs up to 10^6", test_random_big) ||
        !CU_add_test(s, "huge sizes up to 2^64-1", test_huge_sizes) ||
        !CU_add_test(s, "malformed proofs and edges", test_malformed) ||
        !CU_add_test(s, "tlog-tiles spec examples", test_tiles_spec_examples) ||
        !CU_add_test(s, "tile hash and tile reads", test_tile_hash_and_read) ||
        !CU_add_test(s, "tile paths", test_tile_paths)) {
        CU_cleanup_registry();
        return 2;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    if (failures_seen > 0)
        fprintf(stderr, "test_merkle: %u failed expectations\n", failures_seen);
    failed += failures_seen;
    CU_cleanup_registry();
    return failed == 0 ? 0 : 1;
}
