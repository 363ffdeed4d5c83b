/*
 * tile.c - C2SP tlog-tiles arithmetic and paths (tlog-tiles.md, "Merkle
 * Tree" and "Log entries").
 *
 * A hash tile at level L holds level-(8L) node hashes: the n-th tile holds
 * hashes n*256 .. n*256+255 of that level, i.e. it spans leaves
 * [n * 256^(L+1), (n+1) * 256^(L+1)). A tree of size s has
 * floor(s / 256^L) level-(8L) hashes; the rightmost tile of a level is
 * partial when that count is not a multiple of 256.
 *
 * Paths are canonical: tl_tile_path writes exactly one spelling per tile
 * and tl_tile_parse_path accepts exactly that spelling (plus an optional
 * leading '/'), so the two round-trip and a cache keyed on the path sees
 * each tile once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/dec.h"
#include "merkle/internal.h"

/* ---- counting ----------------------------------------------------------- */

uint64_t tl_tile_level_hashes(int level, uint64_t size)
{
    if (level < 0 || level >= 8) /* 8L >= 64: no hash of that level fits */
        return 0;
    return size >> (TL_TILE_HEIGHT * level);
}

int tl_tile_levels(uint64_t size)
{
    int l = 0;
    while (tl_tile_level_hashes(l, size) > 0)
        l++;
    return l;
}

int tl_tile_for_hash(int level, uint64_t index, uint64_t size, tl_tile *t)
{
    if (level < 0 || level > 63)
        return TL_ERR_INVALID;
    uint64_t count = tl_tile_level_hashes(level, size);
    if (index >= count)
        return TL_ERR_RANGE;
    uint64_t n = index / TL_TILE_WIDTH;
    uint64_t left = count - n * TL_TILE_WIDTH;
    t->level = level;
    t->n = n;
    t->width = left >= TL_TILE_WIDTH ? TL_TILE_WIDTH : (unsigned)left;
    return TL_OK;
}

void tl_tile_hash(tl_hasher *h, const uint8_t *hashes, unsigned width, tl_hash *out)
{
    if (width == 0)
        tl_hash_empty(out);
    else
        tl_merkle_hash_run(h, hashes, width, out);
}

/* ---- paths -------------------------------------------------------------- */

int tl_tile_path(const tl_tile *t, char *buf, size_t cap)
{
    char tmp[TL_TILE_PATH_MAX];
    size_t o = 0;
    if (t->width < 1 || t->width > TL_TILE_WIDTH)
        return TL_ERR_INVALID;
    if (t->level == TL_TILE_ENTRIES)
        o += (size_t)snprintf(tmp, sizeof(tmp), "tile/entries/");
    else if (t->level >= 0 && t->level <= 63)
        o += (size_t)snprintf(tmp, sizeof(tmp), "tile/%d/", t->level);
    else
        return TL_ERR_INVALID;
    /* N in 3-digit groups, most significant first; 'x' on all but the last. */
    unsigned groups[7];
    int ng = 0;
    uint64_t n = t->n;
    do {
        groups[ng++] = (unsigned)(n % 1000);
        n /= 1000;
    } while (n > 0);
    while (ng-- > 0)
        o += (size_t)snprintf(tmp + o, sizeof(tmp) - o, ng > 0 ? "x%03u/" : "%03u", groups[ng]);
    if (t->width < TL_TILE_WIDTH)
        o += (size_t)snprintf(tmp + o, sizeof(tmp) - o, ".p/%u", t->width);
    if (o + 1 > cap)
        return TL_ERR_TOOBIG;
    memcpy(buf, tmp, o + 1);
    return TL_OK;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The digits at *p as a canonical decimal in [lo, hi] (common/dec.h: no
 * leading zero, no sign); consumes them. */
static int parse_small(const char **p, const char *end, unsigned lo, unsigned hi, unsigned *out)
{
    size_t n = 0;
    uint64_t v;
    while (*p + n < end && is_digit((*p)[n]))
        n++;
    if (tl_dec_parse_u64(*p, n, hi, &v) != TL_OK || v < lo)
        return TL_ERR_INVALID;
    *p += n;
    *out = (unsigned)v;
    return TL_OK;
}

static int eat(const char **p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
        return 0;
    *p += n;
    return 1;
}

/* Exactly three digits. */
static int parse_group(const char **p, const char *end, unsigned *out)
{
    const char *s = *p;
    if (end - s < 3 || !is_digit(s[0]) || !is_digit(s[1]) || !is_digit(s[2]))
        return TL_ERR_INVALID;
    *out = (unsigned)(s[0] - '0') * 100 + (unsigned)(s[1] - '0') * 10 + (unsigned)(s[2] - '0');
    *p = s + 3;
    return TL_OK;
}

int tl_tile_parse_path(const char *path, size_t len, tl_tile *t)
{
    const char *p = path, *end = path + len;
    tl_tile r;
    unsigned v;
    if (path == NULL)
        return TL_ERR_INVALID;
    if (p < end && *p == '/')
        p++;
    if (!eat(&p, end, "tile/"))
        return TL_ERR_INVALID;
    if (eat(&p, end, "entries/")) {
        r.level = TL_TILE_ENTRIES;
    } else {
        if (parse_small(&p, end, 0, 63, &v) != TL_OK || !eat(&p, end, "/"))
            return TL_ERR_INVALID;
        r.level = (int)v;
    }
    /* N: ("x" DDD "/")* DDD, no all-zero leading group, fits in 64 bits. */
    uint64_t n = 0;
    int ng = 0;
    for (;;) {
        int more = eat(&p, end, "x");
        if (parse_group(&p, end, &v) != TL_OK)
            return TL_ERR_INVALID;
        if (ng == 0 && more && v == 0)
            return TL_ERR_INVALID; /* "x000/..." is a non-canonical zero pad */
        if (n > (UINT64_MAX - v) / 1000)
            return TL_ERR_INVALID;
        n = n * 1000 + v;
        ng++;
        if (!more)
            break;
        if (!eat(&p, end, "/"))
            return TL_ERR_INVALID;
    }
    r.n = n;
    r.width = TL_TILE_WIDTH;
    if (p < end) {
        if (!eat(&p, end, ".p/") || parse_small(&p, end, 1, TL_TILE_WIDTH - 1, &v) != TL_OK)
            return TL_ERR_INVALID;
        r.width = v;
    }
    if (p != end)
        return TL_ERR_INVALID;
    *t = r;
    return TL_OK;
}

/* ---- reading nodes from tiles ------------------------------------------ */

struct want {
    uint64_t tile; /* tile index at level L */
    size_t idx;    /* position in the caller's nodes/out */
    uint8_t level; /* tile level L = node level / 8 */
    uint8_t sub;   /* node level % 8 */
    uint16_t off;  /* first level-(8L) hash of the node within the tile */
};

static int want_cmp(const void *a, const void *b)
{
    const struct want *x = a, *y = b;
    if (x->level != y->level)
        return x->level < y->level ? -1 : 1;
    if (x->tile != y->tile)
        return x->tile < y->tile ? -1 : 1;
    return 0;
}

int tl_tile_read_nodes(tl_tile_get_fn get, void *ctx, tl_hasher *h, const tl_node *nodes, size_t n,
                       tl_hash *out)
{
    struct want stackbuf[160];
    struct want *w = stackbuf;
    int rc = TL_OK;
    if (n == 0)
        return TL_OK;
    if (n > sizeof(stackbuf) / sizeof(stackbuf[0])) {
        w = calloc(n, sizeof(*w));
        if (w == NULL)
            return TL_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned l = nodes[i].level, sub = l % TL_TILE_HEIGHT;
        uint64_t idx = nodes[i].index;
        if (l > 63 || (l > 0 && (idx >> (64 - l)) != 0)) {
            rc = TL_ERR_INVALID; /* not a node of any 64-bit tree */
            goto out;
        }
        uint64_t first = idx << sub; /* first level-(8L) hash under the node */
        w[i].tile = first / TL_TILE_WIDTH;
        w[i].idx = i;
        w[i].level = (uint8_t)(l / TL_TILE_HEIGHT);
        w[i].sub = (uint8_t)sub;
        w[i].off = (uint16_t)(first % TL_TILE_WIDTH);
    }
    qsort(w, n, sizeof(*w), want_cmp);
    /* One get per distinct tile, asking for the widest prefix any node needs. */
    for (size_t a = 0, b; a < n; a = b) {
        unsigned need = 0;
        for (b = a; b < n && want_cmp(&w[a], &w[b]) == 0; b++) {
            unsigned end = (unsigned)w[b].off + (1u << w[b].sub);
            if (end > need)
                need = end;
        }
        const uint8_t *data = NULL;
        unsigned width = 0;
        rc = get(ctx, w[a].level, w[a].tile, need, &data, &width);
        if (rc != TL_OK)
            goto out;
        if (data == NULL || width < need || width > TL_TILE_WIDTH) {
            rc = TL_ERR_CORRUPT;
            goto out;
        }
        for (size_t j = a; j < b; j++)
            tl_merkle_hash_run(h, data + (size_t)w[j].off * TL_HASH_SIZE, (size_t)1 << w[j].sub,
                               &out[w[j].idx]);
    }
out:
    if (w != stackbuf)
        free(w);
    return rc;
}
