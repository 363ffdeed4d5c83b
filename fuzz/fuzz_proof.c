/*
 * fuzz_proof.c - differential fuzzing of the Merkle core (merkle/merkle.h)
 * against a brute-force reference tree written from RFC 6962 §2.1 (MTH,
 * PATH, PROOF) and RFC 9162 §2.1.3.2 / §2.1.4.2 (verification).
 *
 * The input picks a tree size, leaf data, an index, two sizes, a reader
 * (direct node reads or C2SP tiles) and proof mutations. Checked:
 *  - tree hash, frontier (append and load) roots == MTH;
 *  - readers are only asked for complete subtrees inside the given size;
 *  - built inclusion/consistency proofs == PATH/PROOF and verify;
 *  - verification of mutated and raw fuzz-supplied proofs agrees with the
 *    reference verifier, and a flipped bit never verifies.
 */
#include "fuzz/fuzz.h"
#include "merkle/merkle.h"

#define MAX_LEAVES 700

static tl_hasher *g_h;
static tl_hash g_leaf[MAX_LEAVES];
static uint64_t g_n;     /* leaves in the reference tree */
static uint64_t g_bound; /* size the code under test was given */

#define CHECK(c, ...)                                                                              \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_proof: " __VA_ARGS__);                                           \
            fprintf(stderr, " [n=%llu]\n", (unsigned long long)g_n);                               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* ---- input reader ------------------------------------------------------- */

typedef struct in {
    const uint8_t *p;
    size_t n;
} in;

static uint64_t in_u(in *s, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v = (v << 8) | (s->n ? *s->p : 0);
        if (s->n) {
            s->p++;
            s->n--;
        }
    }
    return v;
}

/* ---- reference (RFC 6962 §2.1) ----------------------------------------- */

static int largest_pow2_below(uint64_t n, uint64_t *k)
{
    uint64_t v = 1;
    while (v * 2 < n)
        v *= 2;
    *k = v;
    return 0;
}

static void ref_mth(uint64_t a, uint64_t n, tl_hash *out)
{
    if (n == 0) {
        tl_hash_empty(out);
        return;
    }
    if (n == 1) {
        *out = g_leaf[a];
        return;
    }
    uint64_t k;
    largest_pow2_below(n, &k);
    tl_hash l, r;
    ref_mth(a, k, &l);
    ref_mth(a + k, n - k, &r);
    tl_hash_node(g_h, &l, &r, out);
}

static void ref_path(uint64_t m, uint64_t a, uint64_t n, tl_hash *out, size_t *len)
{
    if (n <= 1)
        return;
    uint64_t k;
    largest_pow2_below(n, &k);
    if (m < k) {
        ref_path(m, a, k, out, len);
        ref_mth(a + k, n - k, &out[(*len)++]);
    } else {
        ref_path(m - k, a + k, n - k, out, len);
        ref_mth(a, k, &out[(*len)++]);
    }
}

static void ref_subproof(uint64_t m, uint64_t a, uint64_t n, int b, tl_hash *out, size_t *len)
{
    if (m == n) {
        if (!b)
            ref_mth(a, n, &out[(*len)++]);
        return;
    }
    uint64_t k;
    largest_pow2_below(n, &k);
    if (m <= k) {
        ref_subproof(m, a, k, b, out, len);
        ref_mth(a + k, n - k, &out[(*len)++]);
    } else {
        ref_subproof(m - k, a + k, n - k, 0, out, len);
        ref_mth(a, k, &out[(*len)++]);
    }
}

/* ---- reference verifiers (RFC 9162) ------------------------------------- */

static int ref_verify_incl(const tl_hash *leaf, uint64_t index, uint64_t size, const tl_hash *proof,
                           size_t len, const tl_hash *root)
{
    if (index >= size)
        return 0;
    uint64_t fn = index, sn = size - 1;
    tl_hash r = *leaf;
    for (size_t i = 0; i < len; i++) {
        if (sn == 0)
            return 0;
        if ((fn & 1) || fn == sn) {
            tl_hash_node(g_h, &proof[i], &r, &r);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            tl_hash_node(g_h, &r, &proof[i], &r);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return sn == 0 && memcmp(&r, root, sizeof(r)) == 0;
}

static int ref_verify_cons(uint64_t s1, uint64_t s2, const tl_hash *proof, size_t len,
                           const tl_hash *r1, const tl_hash *r2)
{
    if (s1 > s2)
        return 0;
    /* Equal sizes: the roots must agree (this covers 0 == 0). */
    if (s1 == s2)
        return len == 0 && memcmp(r1, r2, sizeof(*r1)) == 0;
    /* Every tree extends the empty one (as Go's sumdb/tlog verifies). */
    if (s1 == 0)
        return len == 0;
    if (len == 0)
        return 0;
    tl_hash path[TL_MAX_PROOF + 1];
    size_t pl = 0;
    if ((s1 & (s1 - 1)) == 0)
        path[pl++] = *r1;
    if (len > TL_MAX_PROOF)
        return 0;
    memcpy(&path[pl], proof, len * sizeof(tl_hash));
    pl += len;
    uint64_t fn = s1 - 1, sn = s2 - 1;
    while (fn & 1) {
        fn >>= 1;
        sn >>= 1;
    }
    tl_hash fr = path[0], sr = path[0];
    for (size_t i = 1; i < pl; i++) {
        if (sn == 0)
            return 0;
        if ((fn & 1) || fn == sn) {
            tl_hash_node(g_h, &path[i], &fr, &fr);
            tl_hash_node(g_h, &path[i], &sr, &sr);
            if (!(fn & 1))
                while (!(fn & 1) && fn != 0) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            tl_hash_node(g_h, &sr, &path[i], &sr);
        }
        fn >>= 1;
        sn >>= 1;
    }
    return memcmp(&fr, r1, sizeof(fr)) == 0 && memcmp(&sr, r2, sizeof(sr)) == 0 && sn == 0;
}

/* ---- readers over the reference tree ----------------------------------- */

static int node_read(void *ctx, const tl_node *nodes, size_t n, tl_hash *out)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        CHECK(nodes[i].level < 64, "reader asked for level %u", nodes[i].level);
        uint64_t w = (uint64_t)1 << nodes[i].level;
        CHECK(nodes[i].index < (g_bound >> nodes[i].level) && (nodes[i].index + 1) * w <= g_bound,
              "reader asked for node (%u,%llu) outside size %llu", nodes[i].level,
              (unsigned long long)nodes[i].index, (unsigned long long)g_bound);
        ref_mth(nodes[i].index * w, w, &out[i]);
    }
    return TL_OK;
}

static uint8_t g_tile[TL_TILE_WIDTH * TL_HASH_SIZE];

static int tile_get(void *ctx, int level, uint64_t n, unsigned min_width, const uint8_t **data,
                    unsigned *width)
{
    (void)ctx;
    CHECK(level >= 0 && level < 8, "tile level %d", level);
    uint64_t have = tl_tile_level_hashes(level, g_bound);
    CHECK(n * TL_TILE_WIDTH < have, "tile (%d,%llu) beyond size %llu", level, (unsigned long long)n,
          (unsigned long long)g_bound);
    uint64_t w = have - n * TL_TILE_WIDTH;
    if (w > TL_TILE_WIDTH)
        w = TL_TILE_WIDTH;
    CHECK(min_width >= 1 && min_width <= w, "tile (%d,%llu) min_width %u > %llu", level,
          (unsigned long long)n, min_width, (unsigned long long)w);
    uint64_t span = (uint64_t)1 << (8 * level);
    for (uint64_t i = 0; i < w; i++) {
        tl_hash hh;
        ref_mth((n * TL_TILE_WIDTH + i) * span, span, &hh);
        memcpy(g_tile + i * TL_HASH_SIZE, hh.b, TL_HASH_SIZE);
    }
    *data = g_tile;
    *width = (unsigned)w;
    return TL_OK;
}

static int tile_read(void *ctx, const tl_node *nodes, size_t n, tl_hash *out)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t w = (uint64_t)1 << nodes[i].level;
        CHECK((nodes[i].index + 1) * w <= g_bound, "tile reader: node outside size");
    }
    return tl_tile_read_nodes(tile_get, ctx, g_h, nodes, n, out);
}

/* ---- the checks --------------------------------------------------------- */

static void mutate_check_incl(in *s, const tl_hash *leaf, uint64_t idx, uint64_t size,
                              const tl_hash *proof, size_t len, const tl_hash *root)
{
    tl_hash mp[TL_MAX_PROOF + 2];
    memcpy(mp, proof, len * sizeof(tl_hash));
    size_t ml = len;
    uint64_t mi = idx, ms = size;
    unsigned op = (unsigned)in_u(s, 1) % 6;
    switch (op) {
    case 0: /* flip one bit: must fail */
        if (len == 0)
            return;
        {
            size_t k = in_u(s, 1) % len;
            mp[k].b[in_u(s, 1) % 32] ^= (uint8_t)(1u << (in_u(s, 1) % 8));
            CHECK(tl_verify_inclusion(g_h, leaf, mi, ms, mp, ml, root) != TL_OK,
                  "inclusion proof with a flipped bit verified");
        }
        break;
    case 1:
        if (ml > 0)
            ml--;
        break;
    case 2:
        if (ml < TL_MAX_PROOF)
            mp[ml++] = *root;
        break;
    case 3:
        mi = in_u(s, 8);
        break;
    case 4:
        ms = in_u(s, 8);
        break;
    case 5:
        mi ^= 1;
        break;
    }
    int got = tl_verify_inclusion(g_h, leaf, mi, ms, mp, ml, root) == TL_OK;
    int want = ref_verify_incl(leaf, mi, ms, mp, ml, root);
    CHECK(got == want, "inclusion verify disagrees (op %u): got %d want %d", op, got, want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_h)
        g_h = tl_hasher_new();
    if (!g_h)
        return 0;
    in s = {data, size};
    g_n = 1 + in_u(&s, 2) % MAX_LEAVES;
    uint8_t salt = (uint8_t)in_u(&s, 1);
    for (uint64_t i = 0; i < g_n; i++) {
        uint8_t d[9] = {salt};
        memcpy(d + 1, &i, 8); /* unique leaves */
        tl_hash_leaf(g_h, d, sizeof(d), &g_leaf[i]);
    }
    int use_tiles = (int)(in_u(&s, 1) & 1);
    tl_hash_reader rd = {use_tiles ? tile_read : node_read, NULL};

    /* Tree hash and frontier, at g_n and at a second size. */
    uint64_t s1 = in_u(&s, 2) % (g_n + 1);
    tl_hash want, got;
    ref_mth(0, g_n, &want);
    g_bound = g_n;
    CHECK(tl_tree_hash(&rd, g_h, g_n, &got) == TL_OK, "tree_hash failed");
    CHECK(memcmp(&got, &want, 32) == 0, "tree_hash != MTH");
    tl_frontier f;
    tl_frontier_init(&f);
    for (uint64_t i = 0; i < g_n; i++) {
        tl_frontier_append(&f, g_h, &g_leaf[i], NULL, NULL);
        if (i + 1 == s1) {
            tl_hash a, b;
            tl_frontier_root(&f, g_h, &a);
            ref_mth(0, s1, &b);
            CHECK(memcmp(&a, &b, 32) == 0, "frontier root at %llu != MTH", (unsigned long long)s1);
        }
    }
    tl_frontier_root(&f, g_h, &got);
    CHECK(f.size == g_n && memcmp(&got, &want, 32) == 0, "frontier root != MTH");
    tl_frontier lf;
    g_bound = s1;
    CHECK(tl_frontier_load(&lf, &rd, s1) == TL_OK, "frontier_load failed");
    tl_frontier_root(&lf, g_h, &got);
    tl_hash r1;
    ref_mth(0, s1, &r1);
    CHECK(lf.size == s1 && memcmp(&got, &r1, 32) == 0, "loaded frontier root != MTH");

    /* Inclusion. */
    uint64_t idx = in_u(&s, 2) % g_n;
    tl_hash proof[TL_MAX_PROOF], rp[TL_MAX_PROOF];
    size_t len = 0, rl = 0;
    g_bound = g_n;
    CHECK(tl_prove_inclusion(&rd, g_h, idx, g_n, proof, &len) == TL_OK, "prove_inclusion");
    ref_path(idx, 0, g_n, rp, &rl);
    CHECK(len == rl && memcmp(proof, rp, len * 32) == 0, "inclusion proof != PATH (idx %llu)",
          (unsigned long long)idx);
    CHECK(tl_verify_inclusion(g_h, &g_leaf[idx], idx, g_n, proof, len, &want) == TL_OK,
          "valid inclusion proof rejected");
    CHECK(tl_root_from_inclusion(g_h, &g_leaf[idx], idx, g_n, proof, len, &got) == TL_OK &&
              memcmp(&got, &want, 32) == 0,
          "root_from_inclusion != MTH");
    CHECK(tl_prove_inclusion(&rd, g_h, g_n, g_n, proof, &len) != TL_OK,
          "inclusion proof for index == size");
    mutate_check_incl(&s, &g_leaf[idx], idx, g_n, rp, rl, &want);

    /* Consistency s1 -> g_n. */
    g_bound = g_n;
    CHECK(tl_prove_consistency(&rd, g_h, s1, g_n, proof, &len) == TL_OK, "prove_consistency");
    rl = 0;
    if (s1 > 0 && s1 < g_n)
        ref_subproof(s1, 0, g_n, 1, rp, &rl);
    CHECK(len == rl && memcmp(proof, rp, len * 32) == 0, "consistency proof != PROOF (%llu)",
          (unsigned long long)s1);
    CHECK(tl_verify_consistency(g_h, s1, g_n, proof, len, &r1, &want) == TL_OK,
          "valid consistency proof rejected");
    if (g_n > 1)
        CHECK(tl_prove_consistency(&rd, g_h, g_n, g_n - 1, proof, &len) != TL_OK,
              "consistency proof for size1 > size2");
    {
        tl_hash mp[TL_MAX_PROOF + 1];
        memcpy(mp, rp, rl * sizeof(tl_hash));
        size_t ml = rl;
        uint64_t m1 = s1, m2 = g_n;
        unsigned op = (unsigned)in_u(&s, 1) % 5;
        if (op == 0 && rl > 0) {
            mp[in_u(&s, 1) % rl].b[in_u(&s, 1) % 32] ^= 0x80;
            CHECK(tl_verify_consistency(g_h, m1, m2, mp, ml, &r1, &want) != TL_OK,
                  "consistency proof with a flipped bit verified");
        } else if (op == 1 && ml > 0) {
            ml--;
        } else if (op == 2 && ml < TL_MAX_PROOF) {
            mp[ml++] = want;
        } else if (op == 3) {
            m1 = in_u(&s, 8);
        } else if (op == 4) {
            m2 = in_u(&s, 8);
        }
        int g = tl_verify_consistency(g_h, m1, m2, mp, ml, &r1, &want) == TL_OK;
        int w = ref_verify_cons(m1, m2, mp, ml, &r1, &want);
        CHECK(g == w, "consistency verify disagrees (op %u): got %d want %d", op, g, w);
    }

    /* Raw fuzz-supplied proofs and sizes: both verifiers must agree. */
    {
        uint64_t a = in_u(&s, 8), b = in_u(&s, 8);
        size_t n = (size_t)(in_u(&s, 1) % (TL_MAX_PROOF + 2));
        tl_hash raw[TL_MAX_PROOF + 2], ra, rb;
        for (size_t i = 0; i < n; i++)
            for (int j = 0; j < 32; j++)
                raw[i].b[j] = (uint8_t)in_u(&s, 1);
        for (int j = 0; j < 32; j++) {
            ra.b[j] = (uint8_t)in_u(&s, 1);
            rb.b[j] = (uint8_t)in_u(&s, 1);
        }
        int g = tl_verify_inclusion(g_h, &ra, a, b, raw, n, &rb) == TL_OK;
        int w = ref_verify_incl(&ra, a, b, raw, n, &rb);
        CHECK(g == w, "raw inclusion verify disagrees: got %d want %d", g, w);
        g = tl_verify_consistency(g_h, a, b, raw, n, &ra, &rb) == TL_OK;
        w = ref_verify_cons(a, b, raw, n, &ra, &rb);
        CHECK(g == w, "raw consistency verify disagrees: got %d want %d", g, w);
    }
    return 0;
}
