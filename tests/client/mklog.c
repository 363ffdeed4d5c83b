/*
 * mklog.c - a test tool that writes static C2SP tlog-tiles logs, built
 * only from the specs with merkle/ and signer/ (no tlogd involved), so that
 * `tlog audit` and `tlog verify` can be tested against a plain web server.
 *
 *   mklog keygen NAME log|witness PREFIX      writes PREFIX.key, PREFIX.vkey
 *   mklog build --key LOG.key --dir DIR --count N [--seed S] [--entry-size B]
 *               [--cosign W.key]... [--proof-index I --proof-out F --entry-out F]
 *
 * build writes DIR/checkpoint (signed by LOG.key, cosigned by each W.key),
 * every full and partial hash tile and entry bundle of a tree of N entries
 * (tlog-tiles §Merkle Tree, §Log entries), and optionally a tlog-proof for
 * entry I. Entries are deterministic in (seed, index): the same seed gives
 * the same log, so building a larger N over an old DIR grows it, and a
 * different seed gives a fork. Only tests use it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "common/dec.h"
#include "common/file.h"
#include "merkle/merkle.h"
#include "signer/checkpoint.h"
#include "signer/note.h"
#include "signer/tlogproof.h"

#define MAXCOSIG 8

static void die(const char *what)
{
    fprintf(stderr, "mklog: %s\n", what);
    exit(1);
}

static char *slurp(const char *path)
{
    char *b = NULL;
    size_t n;
    if (tl_file_read(path, 65535, &b, &n) != TL_OK) {
        fprintf(stderr, "mklog: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    return b;
}

static void spew(const char *path, const void *data, size_t len)
{
    /* Create parent directories. */
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0755);
            *p = '/';
        }
    }
    if (tl_file_write_atomic(path, data, len, 0644) != TL_OK) {
        fprintf(stderr, "mklog: cannot write %s\n", path);
        exit(1);
    }
}

/* An option's whole number (common/dec.h), or exit. */
static uint64_t number(const char *v)
{
    uint64_t n;
    if (tl_dec_parse_range(v, 0, UINT64_MAX, &n) != TL_OK)
        die("option value is not a decimal number");
    return n;
}

/* Deterministic entry i of a log with seed s: text, or B pseudo-random bytes. */
static size_t make_entry(unsigned long long seed, uint64_t i, size_t size, uint8_t *out)
{
    if (size == 0)
        return (size_t)snprintf((char *)out, 128, "seed %llu entry %llu\n", seed,
                                (unsigned long long)i);
    uint64_t x = seed * 0x9E3779B97F4A7C15ull ^ (i + 1) * 0xBF58476D1CE4E5B9ull;
    for (size_t k = 0; k < size; k++) {
        x ^= x >> 31;
        x *= 0x94D049BB133111EBull;
        x ^= x >> 29;
        out[k] = (uint8_t)x;
    }
    return size;
}

typedef struct tiles {
    uint64_t size;
    int levels;
    uint8_t *h[8]; /* level L hashes: size >> 8L of them */
} tiles;

static int get_tile(void *ctx, int level, uint64_t n, unsigned min_width, const uint8_t **data,
                    unsigned *width)
{
    tiles *t = ctx;
    uint64_t cnt = t->size >> (8 * level);
    if (level >= t->levels || (n << 8) >= cnt)
        return TL_ERR_NOTFOUND;
    uint64_t w = cnt - (n << 8);
    *width = w > 256 ? 256 : (unsigned)w;
    *data = t->h[level] + (n << 8) * 32;
    return *width >= min_width ? TL_OK : TL_ERR_NOTFOUND;
}

static tl_hasher *g_h;

static int read_nodes(void *ctx, const tl_node *nodes, size_t n, tl_hash *out)
{
    return tl_tile_read_nodes(get_tile, ctx, g_h, nodes, n, out);
}

static int cmd_keygen(int argc, char **argv)
{
    if (argc != 5)
        die("usage: mklog keygen NAME log|witness PREFIX");
    uint8_t type = strcmp(argv[3], "witness") == 0 ? TL_KEY_COSIG_V1 : TL_KEY_ED25519;
    tl_signer *s;
    char *sk, *vk, path[4096];
    if (tl_signer_generate(argv[2], type, &s) != TL_OK || tl_signer_format(s, &sk) != TL_OK ||
        tl_signer_vkey(s, &vk) != TL_OK)
        die("keygen failed");
    snprintf(path, sizeof(path), "%s.key", argv[4]);
    spew(path, sk, strlen(sk));
    snprintf(path, sizeof(path), "%s.vkey", argv[4]);
    spew(path, vk, strlen(vk));
    printf("%s\n", vk);
    free(sk);
    free(vk);
    tl_signer_free(s);
    return 0;
}

static int cmd_build(int argc, char **argv)
{
    const char *key = NULL, *dir = NULL, *cosign[MAXCOSIG], *proof_out = NULL, *entry_out = NULL;
    int ncosign = 0;
    unsigned long long seed = 1, count = 0, proof_index = ~0ull;
    size_t esize = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            die("option without value");
        if (!strcmp(a, "--key"))
            key = v;
        else if (!strcmp(a, "--dir"))
            dir = v;
        else if (!strcmp(a, "--count"))
            count = number(v);
        else if (!strcmp(a, "--seed"))
            seed = number(v);
        else if (!strcmp(a, "--entry-size"))
            esize = number(v);
        else if (!strcmp(a, "--cosign") && ncosign < MAXCOSIG)
            cosign[ncosign++] = v;
        else if (!strcmp(a, "--proof-index"))
            proof_index = number(v);
        else if (!strcmp(a, "--proof-out"))
            proof_out = v;
        else if (!strcmp(a, "--entry-out"))
            entry_out = v;
        else
            die("unknown option");
        i++;
    }
    if (key == NULL || dir == NULL || esize > 65535)
        die("usage: mklog build --key K --dir D --count N [...]");
    tl_signer *ls;
    char *ktext = slurp(key);
    if (tl_signer_parse(ktext, &ls) != TL_OK)
        die("bad log key");
    free(ktext);
    g_h = tl_hasher_new();
    tiles t;
    memset(&t, 0, sizeof(t));
    t.size = count;
    t.levels = count ? tl_tile_levels(count) : 0;
    for (int L = 0; L < t.levels; L++)
        t.h[L] = malloc((size_t)(count >> (8 * L)) * 32 + 32);
    uint8_t *e = malloc(65536);
    char path[4096];
    tl_buf bundle = TL_BUF_INIT;
    for (uint64_t i = 0; i < count; i++) {
        size_t n = make_entry(seed, i, esize, e);
        tl_hash_leaf(g_h, e, n, (tl_hash *)(void *)(t.h[0] + i * 32));
        uint8_t len[2] = {(uint8_t)(n >> 8), (uint8_t)n};
        tl_buf_add(&bundle, len, 2);
        tl_buf_add(&bundle, e, n);
        if ((i & 255) == 255 || i + 1 == count) {
            tl_tile bt = {TL_TILE_ENTRIES, i >> 8, (unsigned)((i & 255) + 1)};
            char p[TL_TILE_PATH_MAX];
            tl_tile_path(&bt, p, sizeof(p));
            snprintf(path, sizeof(path), "%s/%s", dir, p);
            spew(path, bundle.data, bundle.len);
            tl_buf_reset(&bundle);
        }
        if (entry_out && i == proof_index)
            spew(entry_out, e, n);
    }
    /* Upper levels: hash L+1 number j is the tile hash of full tile (L, j). */
    for (int L = 0; L + 1 < t.levels; L++) {
        uint64_t up = count >> (8 * (L + 1));
        for (uint64_t j = 0; j < up; j++)
            tl_tile_hash(g_h, t.h[L] + j * 256 * 32, 256, (tl_hash *)(void *)(t.h[L + 1] + j * 32));
    }
    for (int L = 0; L < t.levels; L++) {
        uint64_t cnt = count >> (8 * L);
        for (uint64_t k = 0; (k << 8) < cnt; k++) {
            uint64_t w = cnt - (k << 8);
            tl_tile tt = {L, k, w > 256 ? 256 : (unsigned)w};
            char p[TL_TILE_PATH_MAX];
            tl_tile_path(&tt, p, sizeof(p));
            snprintf(path, sizeof(path), "%s/%s", dir, p);
            spew(path, t.h[L] + (k << 8) * 32, (size_t)tt.width * 32);
        }
    }
    tl_hash root;
    tl_hash_reader r = {read_nodes, &t};
    if (tl_tree_hash(&r, g_h, count, &root) != TL_OK)
        die("tree hash failed");
    char *body, *note;
    size_t bl, nl;
    if (tl_checkpoint_format(tl_signer_name(ls), count, &root, &body, &bl) != TL_OK ||
        tl_note_sign(ls, body, bl, &note, &nl) != TL_OK)
        die("signing failed");
    tl_buf cp = TL_BUF_INIT;
    tl_buf_add(&cp, note, nl);
    for (int c = 0; c < ncosign; c++) {
        tl_signer *ws;
        char *wk = slurp(cosign[c]), *line;
        if (tl_signer_parse(wk, &ws) != TL_OK ||
            tl_cosig_sign(ws, body, bl, 1700000000 + (uint64_t)c, &line) != TL_OK)
            die("cosigning failed");
        tl_buf_adds(&cp, line);
        free(line);
        free(wk);
        tl_signer_free(ws);
    }
    snprintf(path, sizeof(path), "%s/checkpoint", dir);
    spew(path, cp.data, cp.len);
    if (proof_out && proof_index < count) {
        tl_tlogproof p;
        memset(&p, 0, sizeof(p));
        p.index = proof_index;
        if (tl_prove_inclusion(&r, g_h, proof_index, count, p.proof, &p.proof_len) != TL_OK)
            die("proof failed");
        p.checkpoint = (char *)cp.data;
        p.checkpoint_len = cp.len;
        char *txt;
        size_t tl;
        if (tl_tlogproof_format(&p, &txt, &tl) != TL_OK)
            die("proof format failed");
        spew(proof_out, txt, tl);
        free(txt);
    }
    printf("%s", (char *)cp.data);
    tl_buf_release(&cp);
    tl_buf_release(&bundle);
    free(body);
    free(note);
    free(e);
    for (int L = 0; L < t.levels; L++)
        free(t.h[L]);
    tl_hasher_free(g_h);
    tl_signer_free(ls);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "keygen"))
        return cmd_keygen(argc, argv);
    if (argc >= 2 && !strcmp(argv[1], "build"))
        return cmd_build(argc, argv);
    die("usage: mklog keygen|build ...");
    return 1;
}
