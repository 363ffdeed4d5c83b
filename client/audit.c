/*
 * audit.c - `tlog audit`: verifies a whole C2SP tlog-tiles log (or what is
 * new since the last run) without trusting its operator.
 *
 * Order of trust (tlog-tiles §Merkle Tree, RFC 6962 §2.1):
 *  1. the checkpoint is verified (log signature, cosignatures, quorum);
 *  2. the right-edge partial tiles of every level are fetched and must fold
 *     to the checkpoint's root (they hold exactly the tree's decomposition);
 *  3. full tiles are fetched top-down; each must hash to the entry for it in
 *     the (already verified) tile above;
 *  4. the old tree of the state file is recomputed from those verified tiles
 *     and must give the saved root: otherwise the log has forked, and both
 *     signed checkpoints are returned as evidence;
 *  5. entry bundles are streamed (many requests in flight); every entry is
 *     hashed (SHA-256(0x00 || entry)) and must equal the verified level-0
 *     tile, whose hash must equal its parent's entry.
 * Thus every served hash and every entry is recomputed and checked before it
 * is used, and every mismatch names the index, the tile, and the expected
 * and actual hashes. Memory: O(N/256) hashes for levels >= 1, plus a window
 * of level-0 tiles and bundles in flight.
 */
#include "audit/event.h"
#include "audit/jcs.h"
#include "audit/record.h"
#include "client/client.h"
#include "common/b64.h"
#include "common/clock.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TILE_BYTES (TL_TILE_WIDTH * TL_HASH_SIZE)
#define B64H (TL_B64_LEN(TL_HASH_SIZE) + 1)
#define MAX_LEVELS 8 /* tile levels of a 2^64 tree */
#define UPPER_BATCH 256

/* A fetch of one tile or bundle, with its fallback to the full tile. */
typedef struct afetch {
    tl_fetch f;
    tl_tile tile;
    int fallback; /* partial answered 404: fetching the full one */
    int bodies;   /* GET /audit/v1/bodies/: no fallback, a reader token needed */
} afetch;

typedef struct tlevel {
    uint64_t lo;  /* first hash index held (a multiple of 256) */
    uint64_t cnt; /* hashes at this level in the new tree: N >> 8L */
    uint8_t *h;   /* hashes [lo, cnt), 32 bytes each (levels >= 1) */
} tlevel;

typedef struct audit {
    tl_http *http;
    const tl_audit_opts *o;
    tl_hasher *hs;
    uint64_t M, N;
    tl_hash root;
    int T; /* tile levels */
    tlevel lv[MAX_LEVELS];
    uint8_t edge0[TILE_BYTES];  /* level-0 partial tile (N % 256 hashes) */
    uint8_t first0[TILE_BYTES]; /* level-0 full tile M >> 8 (consistency) */
    int have_first0;
    int audit_log;      /* check records and log times */
    uint64_t prev_time; /* the time of the last entry taken in order */
    int bodies;         /* fetch and check the event bodies */
    size_t max_event;   /* the log's --max-event: bounds a bodies answer */
    tl_audit_result *res;
    char *err;
    size_t cap;
} audit;

static void b64h(const uint8_t *h, char out[B64H])
{
    tl_b64_encode(h, TL_HASH_SIZE, out);
}

static void tile_name(int level, uint64_t n, unsigned w, char *buf, size_t cap)
{
    tl_tile t = {level, n, w};
    if (tl_tile_path(&t, buf, cap) != TL_OK)
        snprintf(buf, cap, "tile(%d,%llu,%u)", level, (unsigned long long)n, w);
}

/* ---- fetching ----------------------------------------------------------- */

static int afetch_start(audit *a, afetch *f, int level, uint64_t n, unsigned w)
{
    f->tile.level = level;
    f->tile.n = n;
    f->tile.width = w;
    f->fallback = 0;
    f->bodies = 0;
    if (tl_tile_path(&f->tile, f->f.path, sizeof(f->f.path)) != TL_OK) {
        snprintf(a->err, a->cap, "cannot name tile (%d, %llu)", level, (unsigned long long)n);
        return TL_ERR_INVALID;
    }
    f->f.max = level == TL_TILE_ENTRIES ? (size_t)w * (2 + 65535) : (size_t)w * TL_HASH_SIZE;
    return tl_http_fetch_start(a->http, &f->f);
}

/* GET /audit/v1/bodies/<N>[.p/<W>]: the events of entry bundle n. */
static int bodies_start(audit *a, afetch *f, uint64_t n, unsigned w)
{
    char tp[TL_TILE_PATH_MAX];
    f->tile.level = TL_TILE_ENTRIES;
    f->tile.n = n;
    f->tile.width = w;
    f->fallback = 0;
    f->bodies = 1;
    if (tl_tile_path(&f->tile, tp, sizeof(tp)) != TL_OK) {
        snprintf(a->err, a->cap, "cannot name bundle %llu", (unsigned long long)n);
        return TL_ERR_INVALID;
    }
    snprintf(f->f.path, sizeof(f->f.path), "audit/v1/bodies/%s", tp + strlen("tile/entries/"));
    /* One line: {"index":<20>,"event":<canonical>,"salt":"<44>"} and LF. */
    f->f.max = (size_t)w * (a->max_event + 128);
    return tl_http_fetch_start(a->http, &f->f);
}

/* The first line of an error answer, printable ASCII only, for a message. */
static void reason_of(const tl_buf *b, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < b->len && b->data[i] != '\n' && n + 1 < cap && n < 200; i++)
        out[n++] = (b->data[i] >= 0x20 && b->data[i] < 0x7f) ? (char)b->data[i] : '?';
    out[n] = 0;
}

/*
 * Checks a finished fetch. Returns 1 when it was restarted (fallback from a
 * missing partial tile to the full one), TL_OK when its body is ready, or an
 * error with a message.
 */
static int afetch_check(audit *a, afetch *f)
{
    a->res->fetches++;
    if (f->f.err != TL_OK) {
        snprintf(a->err, a->cap, "%s", f->f.errmsg);
        return f->f.err;
    }
    if (f->bodies && f->f.status != 200) {
        char why[256];
        reason_of(&f->f.body, why, sizeof(why));
        int refused = f->f.status == 401 || f->f.status == 403;
        snprintf(a->err, a->cap, "GET %s/%s: HTTP status %ld%s%s%s", tl_http_base(a->http),
                 f->f.path, f->f.status, why[0] ? ": " : "", why,
                 refused ? " (checking event bodies needs a valid reader token: --token-file "
                           "FILE or $TLOG_TOKEN)"
                         : "");
        a->res->fatal = refused;
        return TL_ERR_NETWORK;
    }
    if (f->f.status == 404 && f->tile.width < TL_TILE_WIDTH && !f->fallback) {
        /* tlog-tiles §Partial Tiles: the partial tile may be gone once the
         * full one exists; its first W hashes are the same. */
        tl_tile full = f->tile;
        full.width = TL_TILE_WIDTH;
        if (tl_tile_path(&full, f->f.path, sizeof(f->f.path)) != TL_OK)
            return TL_ERR_INVALID;
        f->f.max = f->tile.level == TL_TILE_ENTRIES ? (size_t)TL_TILE_WIDTH * (2 + 65535)
                                                    : (size_t)TILE_BYTES;
        f->fallback = 1;
        int rc = tl_http_fetch_start(a->http, &f->f);
        return rc == TL_OK ? 1 : rc;
    }
    if (f->f.status != 200) {
        snprintf(a->err, a->cap, "GET %s/%s: HTTP status %ld", tl_http_base(a->http), f->f.path,
                 f->f.status);
        return TL_ERR_NETWORK;
    }
    a->res->bytes += f->f.body.len;
    if (f->tile.level != TL_TILE_ENTRIES) {
        size_t want = (size_t)f->tile.width * TL_HASH_SIZE;
        size_t got = f->f.body.len;
        if (f->fallback ? got != TILE_BYTES : got != want) {
            snprintf(a->err, a->cap, "%s: %zu bytes, expected %zu (%u hashes)", f->f.path, got,
                     f->fallback ? (size_t)TILE_BYTES : want,
                     f->fallback ? TL_TILE_WIDTH : f->tile.width);
            return TL_ERR_PROOF;
        }
        f->f.body.len = want;
    }
    return TL_OK;
}

/* Runs fetches[0..n) to completion (with fallbacks). */
static int afetch_all(audit *a, afetch *fs, size_t n)
{
    size_t left = n;
    int rc = TL_OK;
    while (left > 0) {
        int restarted = 0;
        int p = tl_http_fetch_wait(a->http);
        if (p < 0) {
            snprintf(a->err, a->cap, "%s: transfer failed", tl_http_base(a->http));
            return TL_ERR_NETWORK;
        }
        for (size_t i = 0; i < n; i++) {
            if (!fs[i].f.done || fs[i].f.done == 2)
                continue;
            int c = afetch_check(a, &fs[i]);
            if (c == 1) {
                restarted = 1;
                continue;
            }
            fs[i].f.done = 2; /* checked */
            left--;
            if (c != TL_OK) {
                rc = c;
                goto out;
            }
        }
        if (p == 0 && left > 0 && !restarted) {
            snprintf(a->err, a->cap, "internal error: fetches lost");
            rc = TL_ERR_STOPPED;
            break;
        }
    }
out:
    if (rc != TL_OK)
        tl_http_fetch_cancel_all(a->http);
    return rc;
}

/* ---- tiles as a hash source for the Merkle core -------------------------- */

static int tile_get(void *ctx, int level, uint64_t n, unsigned min_width, const uint8_t **data,
                    unsigned *width)
{
    audit *a = ctx;
    if (level < 0 || level >= a->T)
        return TL_ERR_NOTFOUND;
    if (level == 0) {
        if (n == (a->N >> 8) && (a->N & 255) != 0) {
            *data = a->edge0;
            *width = (unsigned)(a->N & 255);
        } else if (a->have_first0 && n == (a->M >> 8)) {
            *data = a->first0;
            *width = TL_TILE_WIDTH;
        } else {
            return TL_ERR_NOTFOUND;
        }
    } else {
        tlevel *l = &a->lv[level];
        uint64_t start = n << 8;
        if (start < l->lo || start >= l->cnt)
            return TL_ERR_NOTFOUND;
        uint64_t w = l->cnt - start;
        *data = l->h + (start - l->lo) * TL_HASH_SIZE;
        *width = w > TL_TILE_WIDTH ? TL_TILE_WIDTH : (unsigned)w;
    }
    return *width >= min_width ? TL_OK : TL_ERR_NOTFOUND;
}

static int tiles_read(void *ctx, const tl_node *nodes, size_t n, tl_hash *out)
{
    audit *a = ctx;
    return tl_tile_read_nodes(tile_get, a, a->hs, nodes, n, out);
}

/* ---- audit logs: records, log times, event bodies ------------------------ */

/* Quotes at most max bytes of s for a message: printable ASCII as itself,
 * anything else as \xNN. (Records are public; event bodies are never
 * quoted.) */
static void quote_bytes(const uint8_t *s, size_t len, size_t max, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len && i < max && o + 5 < cap; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\')
            out[o++] = (char)s[i];
        else
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", s[i]);
    }
    if (len > max && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o < cap ? o : cap - 1] = 0;
}

static void time_back(char *err, size_t cap, uint64_t index, const char *path, unsigned i,
                      uint64_t want, uint64_t got, const char *whose)
{
    snprintf(err, cap,
             "entry %llu (%s, entry %u): log time expected at least %llu (%s) got %llu: the log's "
             "times go back",
             (unsigned long long)index, path, i, (unsigned long long)want, whose,
             (unsigned long long)got);
}

int tl_audit_check_records(const uint8_t *bundle, size_t len, uint64_t base, unsigned w,
                           const char *path, uint64_t *prev, uint64_t *first, tl_hash *commitments,
                           char *err, size_t cap)
{
    tl_buf fmt = TL_BUF_INIT;
    size_t off = 0;
    int rc = TL_OK;
    for (unsigned i = 0; i < w && rc == TL_OK; i++) {
        uint64_t index = base + i;
        if (len - off < 2 || len - off - 2 < (((size_t)bundle[off] << 8) | bundle[off + 1])) {
            snprintf(err, cap, "%s: bundle ends before entry %llu", path,
                     (unsigned long long)index);
            rc = TL_ERR_INVALID;
            break;
        }
        size_t el = ((size_t)bundle[off] << 8) | bundle[off + 1];
        const uint8_t *e = bundle + off + 2;
        off += 2 + el;
        uint64_t t = 0;
        int ok = tl_audit_record_parse(e, el, &t, &commitments[i]) == TL_OK;
        if (ok) {
            /* The exact byte form: what parses must format back the same. */
            tl_buf_reset(&fmt);
            ok = tl_audit_record_format(t, &commitments[i], &fmt) == TL_OK && fmt.len == el &&
                 memcmp(fmt.data, e, el) == 0;
        }
        if (!ok) {
            char q[200];
            quote_bytes(e, el, 120, q, sizeof(q));
            snprintf(err, cap,
                     "entry %llu (%s, entry %u): not an audit record: expected "
                     "{\"v\":1,\"time\":<ms>,\"commitment\":\"<base64 of 32 bytes>\"} got %s (%zu "
                     "bytes)",
                     (unsigned long long)index, path, i, q, el);
            rc = TL_ERR_INVALID;
            break;
        }
        if (t < *prev) {
            char whose[64];
            snprintf(whose, sizeof(whose), "the time of entry %llu", (unsigned long long)index - 1);
            time_back(err, cap, index, path, i, *prev, t, whose);
            rc = TL_ERR_PROOF;
            break;
        }
        if (i == 0 && first != NULL)
            *first = t;
        *prev = t;
    }
    tl_buf_release(&fmt);
    return rc;
}

/* A one-line reason for a malformed bodies line, naming the entry. */
static int bad_line(char *err, size_t cap, const char *path, uint64_t index, const char *what)
{
    snprintf(err, cap, "%s: the line of entry %llu %s", path, (unsigned long long)index, what);
    return TL_ERR_INVALID;
}

int tl_audit_check_bodies(tl_hasher *h, const uint8_t *nd, size_t len, uint64_t base, unsigned w,
                          const char *path, const tl_hash *commitments, uint64_t from,
                          uint64_t *erased, unsigned *nerased, char *err, size_t cap)
{
    tl_buf canon = TL_BUF_INIT;
    size_t off = 0;
    int rc = TL_OK;
    for (unsigned i = 0; i < w && rc == TL_OK; i++) {
        uint64_t index = base + i;
        const uint8_t *nl = off < len ? memchr(nd + off, '\n', len - off) : NULL;
        if (nl == NULL) {
            snprintf(err, cap, "%s: %u lines, expected %u (entry %llu missing)", path, i, w,
                     (unsigned long long)index);
            rc = TL_ERR_INVALID;
            break;
        }
        size_t ll = (size_t)(nl - (nd + off));
        json_error_t je;
        json_t *j = json_loadb((const char *)nd + off, ll, TL_AUDIT_JSON_FLAGS, &je);
        off += ll + 1;
        if (j == NULL || !json_is_object(j)) {
            char why[TL_AUDIT_REASON_MAX + 64];
            if (j == NULL)
                tl_audit_json_error(&je, why, sizeof(why));
            else
                snprintf(why, sizeof(why), "not an object");
            json_decref(j);
            char what[TL_AUDIT_REASON_MAX + 96];
            snprintf(what, sizeof(what), "is not a JSON object: %s", why);
            rc = bad_line(err, cap, path, index, what);
            break;
        }
        json_t *ji = json_object_get(j, "index"), *jev = json_object_get(j, "event");
        json_t *js = json_object_get(j, "salt"), *jb = json_object_get(j, "erased_by");
        size_t members = json_object_size(j);
        if (!json_is_integer(ji) || json_integer_value(ji) < 0 ||
            (uint64_t)json_integer_value(ji) != index) {
            char what[96];
            if (json_is_integer(ji))
                snprintf(what, sizeof(what), "has index %lld, expected %llu",
                         (long long)json_integer_value(ji), (unsigned long long)index);
            else
                snprintf(what, sizeof(what), "has no integer \"index\"");
            rc = bad_line(err, cap, path, index, what);
        } else if (jb != NULL) {
            /* {"index":I,"erased_by":J}: the erasure is a later event. */
            if (members != 2 || !json_is_integer(jb) || json_integer_value(jb) < 0 ||
                (uint64_t)json_integer_value(jb) <= index)
                rc = bad_line(err, cap, path, index,
                              "is not {\"index\":I,\"erased_by\":J} with J > I");
            else if (index >= from)
                erased[(*nerased)++] = index;
        } else if (members != 3 || !json_is_object(jev) || !json_is_string(js)) {
            rc = bad_line(err, cap, path, index,
                          "is not {\"index\":I,\"event\":{...},\"salt\":\"...\"}");
        } else {
            uint8_t salt[TL_AUDIT_SALT];
            size_t sl = 0;
            tl_hash got;
            tl_buf_reset(&canon);
            if (tl_b64_decode(json_string_value(js), json_string_length(js), salt, sizeof(salt),
                              &sl) != TL_OK ||
                sl != TL_AUDIT_SALT) {
                rc = bad_line(err, cap, path, index, "has a salt that is not base64 of 32 bytes");
            } else if ((rc = tl_jcs_append(jev, &canon)) != TL_OK) {
                rc = bad_line(err, cap, path, index,
                              rc == TL_ERR_NOMEM ? "cannot be canonicalized: out of memory"
                                                 : "has an event with no RFC 8785 form (a "
                                                   "number that is not an integer below 2^53)");
            } else {
                tl_audit_commitment(h, salt, canon.data, canon.len, &got);
                if (memcmp(got.b, commitments[i].b, TL_HASH_SIZE) != 0) {
                    char wb[B64H], gb[B64H];
                    b64h(commitments[i].b, wb);
                    b64h(got.b, gb);
                    snprintf(err, cap,
                             "entry %llu (%s, line %u): commitment expected %s (the record's, "
                             "verified against the checkpoint) got %s (SHA-256 of the served "
                             "salt and canonical event)",
                             (unsigned long long)index, path, i, wb, gb);
                    rc = TL_ERR_PROOF;
                }
            }
            OPENSSL_cleanse(salt, sizeof(salt));
        }
        json_decref(j);
    }
    if (rc == TL_OK && off != len) {
        snprintf(err, cap, "%s: %zu bytes after the last of its %u lines", path, len - off, w);
        rc = TL_ERR_INVALID;
    }
    tl_buf_release(&canon);
    return rc;
}

void tl_audit_report(FILE *f, const char *cmd, const tl_audit_result *r, int *said_public)
{
    if (!r->audit_log)
        return;
    if (r->erased > 0) {
        char list[TL_AUDIT_ERASED_LIST * 22 + 16] = "";
        size_t n = r->erased < TL_AUDIT_ERASED_LIST ? (size_t)r->erased : TL_AUDIT_ERASED_LIST;
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(list);
            snprintf(list + l, sizeof(list) - l, "%s%llu", i ? ", " : "",
                     (unsigned long long)r->erased_idx[i]);
        }
        fprintf(f, "tlog: %s: erased: %llu event%s (index%s %s%s)\n", cmd,
                (unsigned long long)r->erased, r->erased == 1 ? "" : "s",
                r->erased == 1 ? "" : "es", list, r->erased > n ? ", ..." : "");
    }
    if (!*said_public && !r->bodies) {
        fprintf(f, "tlog: %s: public part only: event bodies not checked (no reader token)\n", cmd);
        *said_public = 1;
    }
}

/* ---- the edge ----------------------------------------------------------- */

/* What hashing code needs: a hasher and an error buffer, one per thread. */
typedef struct hctx {
    tl_hasher *hs;
    char *err;
    size_t cap;
} hctx;

/* Parses a bundle of w entries into leaf hashes (w*32 bytes into leaves).
 * With trailing_ok, bytes after the w-th entry are ignored (a full bundle
 * standing in for a partial one). */
static int bundle_hash(hctx *c, const afetch *f, unsigned w, int trailing_ok, uint8_t *leaves)
{
    const uint8_t *p = f->f.body.data;
    size_t len = f->f.body.len, off = 0;
    uint64_t base = f->tile.n << 8;
    for (unsigned i = 0; i < w; i++) {
        if (len - off < 2) {
            snprintf(c->err, c->cap, "%s: bundle ends after %u of %u entries (entry %llu missing)",
                     f->f.path, i, w, (unsigned long long)(base + i));
            return TL_ERR_PROOF;
        }
        size_t el = ((size_t)p[off] << 8) | p[off + 1];
        off += 2;
        if (len - off < el) {
            snprintf(c->err, c->cap, "%s: entry %llu truncated (%zu of %zu bytes)", f->f.path,
                     (unsigned long long)(base + i), len - off, el);
            return TL_ERR_PROOF;
        }
        tl_hash_leaf(c->hs, p + off, el, (tl_hash *)(void *)(leaves + (size_t)i * TL_HASH_SIZE));
        off += el;
    }
    if (off != len && !trailing_ok) {
        snprintf(c->err, c->cap, "%s: %zu bytes after the last of its %u entries", f->f.path,
                 len - off, w);
        return TL_ERR_PROOF;
    }
    return TL_OK;
}

/* Names the first hash where a served level-0 tile differs from the leaf
 * hashes computed from the entries, which are known to be right. */
static void blame_tile(hctx *c, const char *tpath, uint64_t n, const uint8_t *tile,
                       const uint8_t *leaves, unsigned w, const char *why)
{
    for (unsigned i = 0; i < w; i++) {
        if (memcmp(tile + (size_t)i * 32, leaves + (size_t)i * 32, 32) != 0) {
            char want[B64H], got[B64H];
            b64h(leaves + (size_t)i * 32, want);
            b64h(tile + (size_t)i * 32, got);
            snprintf(c->err, c->cap,
                     "%s: hash %u (entry %llu) is wrong: expected %s (the entry's leaf hash, "
                     "which %s) got %s",
                     tpath, i, (unsigned long long)((n << 8) + i), want, why, got);
            return;
        }
    }
}

/* Fetches the right-edge partial tiles and checks they fold to the root. */
static int verify_edge(audit *a)
{
    afetch fs[MAX_LEVELS];
    size_t n = 0;
    for (int L = 0; L < a->T; L++) {
        uint64_t cnt = a->N >> (8 * L);
        unsigned w = (unsigned)(cnt & 255);
        if (w == 0)
            continue;
        memset(&fs[n], 0, sizeof(fs[n]));
        int rc = afetch_start(a, &fs[n], L, cnt >> 8, w);
        if (rc != TL_OK)
            return rc;
        n++;
    }
    int rc = afetch_all(a, fs, n);
    char names[1024] = "";
    for (size_t i = 0; rc == TL_OK && i < n; i++) {
        const afetch *f = &fs[i];
        size_t nl = strlen(names);
        snprintf(names + nl, sizeof(names) - nl, "%s%.120s", nl ? ", " : "", f->f.path);
        if (f->tile.level == 0) {
            memcpy(a->edge0, f->f.body.data, f->f.body.len);
        } else {
            tlevel *l = &a->lv[f->tile.level];
            memcpy(l->h + ((f->tile.n << 8) - l->lo) * TL_HASH_SIZE, f->f.body.data, f->f.body.len);
        }
    }
    for (size_t i = 0; i < n; i++)
        tl_buf_release(&fs[i].f.body);
    if (rc != TL_OK)
        return rc;
    tl_hash_reader r = {tiles_read, a};
    tl_hash got;
    rc = tl_tree_hash(&r, a->hs, a->N, &got);
    if (rc != TL_OK) {
        snprintf(a->err, a->cap, "cannot fold the right-edge tiles (%s): %s", names,
                 tl_strerror(rc));
        return rc;
    }
    if (memcmp(got.b, a->root.b, TL_HASH_SIZE) == 0)
        return TL_OK;
    char want[B64H], gotb[B64H];
    b64h(a->root.b, want);
    b64h(got.b, gotb);
    snprintf(a->err, a->cap,
             "right-edge tiles %s do not hash to the checkpoint's root: expected %s got %s", names,
             want, gotb);
    /* Localise: if the entries of the level-0 edge fix it, that tile lied. */
    unsigned w0 = (unsigned)(a->N & 255);
    if (w0 == 0)
        return TL_ERR_PROOF;
    afetch b;
    memset(&b, 0, sizeof(b));
    if (afetch_start(a, &b, TL_TILE_ENTRIES, a->N >> 8, w0) != TL_OK)
        return TL_ERR_PROOF;
    char keep[TL_ERRMSG];
    snprintf(keep, sizeof(keep), "%s", a->err);
    uint8_t leaves[TILE_BYTES], served[TILE_BYTES];
    hctx mc = {a->hs, a->err, a->cap};
    if (afetch_all(a, &b, 1) == TL_OK && bundle_hash(&mc, &b, w0, b.fallback, leaves) == TL_OK) {
        memcpy(served, a->edge0, sizeof(served));
        memcpy(a->edge0, leaves, (size_t)w0 * 32);
        if (tl_tree_hash(&r, a->hs, a->N, &got) == TL_OK &&
            memcmp(got.b, a->root.b, TL_HASH_SIZE) == 0) {
            char p[TL_TILE_PATH_MAX];
            tile_name(0, a->N >> 8, w0, p, sizeof(p));
            blame_tile(&mc, p, a->N >> 8, served, leaves, w0,
                       "with the other tiles gives the checkpoint's root");
            tl_buf_release(&b.f.body);
            return TL_ERR_PROOF;
        }
    }
    snprintf(a->err, a->cap, "%s", keep);
    tl_buf_release(&b.f.body);
    return TL_ERR_PROOF;
}

/* Fetches the full tiles of level L (>= 1) in [lo, cnt) top-down-verified
 * against level L+1. */
static int verify_upper(audit *a, int L)
{
    tlevel *l = &a->lv[L], *up = &a->lv[L + 1];
    uint64_t first = l->lo >> 8, end = l->cnt >> 8; /* full tiles [first, end) */
    afetch *fs = calloc(UPPER_BATCH, sizeof(*fs));
    if (fs == NULL)
        return TL_ERR_NOMEM;
    int rc = TL_OK;
    for (uint64_t k = first; k < end && rc == TL_OK;) {
        size_t n = 0;
        for (; n < UPPER_BATCH && k + n < end; n++) {
            rc = afetch_start(a, &fs[n], L, k + n, TL_TILE_WIDTH);
            if (rc != TL_OK)
                break;
        }
        if (rc == TL_OK)
            rc = afetch_all(a, fs, n);
        for (size_t i = 0; rc == TL_OK && i < n; i++) {
            uint64_t t = k + i;
            tl_hash got;
            tl_tile_hash(a->hs, fs[i].f.body.data, TL_TILE_WIDTH, &got);
            const uint8_t *want = up->h + (t - up->lo) * TL_HASH_SIZE;
            if (memcmp(got.b, want, TL_HASH_SIZE) != 0) {
                char wb[B64H], gb[B64H], pp[TL_TILE_PATH_MAX];
                b64h(want, wb);
                b64h(got.b, gb);
                tile_name(L + 1, t >> 8, 0, pp, sizeof(pp));
                snprintf(a->err, a->cap,
                         "%s: tile hash expected %s (hash %llu of level-%d tile %s) got %s "
                         "(covers entries %llu..%llu)",
                         fs[i].f.path, wb, (unsigned long long)(t & 255), L + 1, pp, gb,
                         (unsigned long long)(t << (8 * (L + 1))),
                         (unsigned long long)(((t + 1) << (8 * (L + 1))) - 1));
                rc = TL_ERR_PROOF;
                break;
            }
            memcpy(l->h + ((t << 8) - l->lo) * TL_HASH_SIZE, fs[i].f.body.data, TILE_BYTES);
        }
        k += n;
    }
    for (size_t i = 0; i < UPPER_BATCH; i++)
        tl_buf_release(&fs[i].f.body);
    free(fs);
    return rc;
}

/* ---- consistency with the last run --------------------------------------- */

static int check_consistency(audit *a, const tl_audit_state *st)
{
    if (a->M == 0)
        return TL_OK;
    uint64_t k = a->M >> 8;
    if ((a->M & 255) != 0 && k != (a->N >> 8)) {
        /* The level-0 tile that held the old edge is full now. */
        afetch f;
        memset(&f, 0, sizeof(f));
        int rc = afetch_start(a, &f, 0, k, TL_TILE_WIDTH);
        if (rc == TL_OK)
            rc = afetch_all(a, &f, 1);
        if (rc == TL_OK) {
            tl_hash got;
            tl_tile_hash(a->hs, f.f.body.data, TL_TILE_WIDTH, &got);
            const tlevel *up = &a->lv[1];
            const uint8_t *want = up->h + (k - up->lo) * TL_HASH_SIZE;
            if (memcmp(got.b, want, TL_HASH_SIZE) != 0) {
                char wb[B64H], gb[B64H];
                b64h(want, wb);
                b64h(got.b, gb);
                snprintf(a->err, a->cap, "%s: tile hash expected %s got %s", f.f.path, wb, gb);
                rc = TL_ERR_PROOF;
            } else {
                memcpy(a->first0, f.f.body.data, TILE_BYTES);
                a->have_first0 = 1;
            }
        }
        tl_buf_release(&f.f.body);
        if (rc != TL_OK)
            return rc;
    }
    tl_hash_reader r = {tiles_read, a};
    tl_hash old;
    int rc = tl_tree_hash(&r, a->hs, a->M, &old);
    if (rc != TL_OK) {
        snprintf(a->err, a->cap, "cannot compute the root of size %llu from tiles: %s",
                 (unsigned long long)a->M, tl_strerror(rc));
        return rc;
    }
    if (memcmp(old.b, st->root.b, TL_HASH_SIZE) != 0) {
        char wb[B64H], gb[B64H];
        b64h(st->root.b, wb);
        b64h(old.b, gb);
        snprintf(a->err, a->cap,
                 "fork: the log's tree of size %llu (verified against its checkpoint of size "
                 "%llu) has root %s, but the checkpoint of size %llu saved by the last run has "
                 "root %s",
                 (unsigned long long)a->M, (unsigned long long)a->N, gb, (unsigned long long)a->M,
                 wb);
        return TL_ERR_CONFLICT;
    }
    return TL_OK;
}

/* ---- the entries ----------------------------------------------------------- */

typedef struct slot {
    afetch tile, bundle, bodies;
    uint64_t k;
    int need_tile;
    int rc;      /* the hashing thread's verdict */
    int verdict; /* rc and what follows are set (the slot's hashing is over) */
    char err[TL_ERRMSG];
    uint8_t leaves[TILE_BYTES];
    /* audit logs */
    uint64_t first_time, last_time; /* log times of the bundle's first and last entry */
    tl_hash commits[TL_TILE_WIDTH];
    uint64_t erased[TL_TILE_WIDTH]; /* erased indexes >= M */
    unsigned nerased;
} slot;

static int slot_ready(audit *a, slot *s)
{
    afetch *fs[3] = {&s->bundle, s->need_tile ? &s->tile : NULL, a->bodies ? &s->bodies : NULL};
    for (int i = 0; i < 3; i++) {
        afetch *f = fs[i];
        if (f == NULL || f->f.done == 2)
            continue;
        if (!f->f.done)
            return 0;
        int c = afetch_check(a, f);
        if (c == 1)
            return 0;
        if (c != TL_OK)
            return c;
        f->f.done = 2;
    }
    return 1;
}

static int verify_level0(const audit *a, hctx *c, slot *s, uint8_t *leaves)
{
    uint64_t k = s->k;
    unsigned w = (k == (a->N >> 8)) ? (unsigned)(a->N & 255) : TL_TILE_WIDTH;
    int rc = bundle_hash(c, &s->bundle, w, s->bundle.fallback, leaves);
    if (rc != TL_OK)
        return rc;
    const uint8_t *tile;
    char tpath[TL_TILE_PATH_MAX];
    tile_name(0, k, w, tpath, sizeof(tpath));
    if (w < TL_TILE_WIDTH) {
        tile = a->edge0; /* verified against the root in verify_edge */
    } else {
        tile = s->tile.f.body.data;
        tl_hash got;
        tl_tile_hash(c->hs, tile, TL_TILE_WIDTH, &got);
        const tlevel *up = &a->lv[1];
        const uint8_t *want = up->h + (k - up->lo) * TL_HASH_SIZE;
        if (memcmp(got.b, want, TL_HASH_SIZE) != 0) {
            tl_hash fromleaves;
            tl_tile_hash(c->hs, leaves, TL_TILE_WIDTH, &fromleaves);
            char wb[B64H], gb[B64H], pp[TL_TILE_PATH_MAX];
            b64h(want, wb);
            b64h(got.b, gb);
            tile_name(1, k >> 8, 0, pp, sizeof(pp));
            if (memcmp(fromleaves.b, want, TL_HASH_SIZE) == 0) {
                blame_tile(c, tpath, k, tile, leaves, TL_TILE_WIDTH,
                           "agrees with the verified level-1 tile");
            } else {
                snprintf(c->err, c->cap,
                         "%s: tile hash expected %s (hash %llu of %s) got %s; entries %llu..%llu "
                         "do not match it either",
                         tpath, wb, (unsigned long long)(k & 255), pp, gb,
                         (unsigned long long)(k << 8), (unsigned long long)((k << 8) + 255));
            }
            return TL_ERR_PROOF;
        }
    }
    for (unsigned i = 0; i < w; i++) {
        if (memcmp(tile + (size_t)i * 32, leaves + (size_t)i * 32, 32) != 0) {
            char wb[B64H], gb[B64H];
            b64h(tile + (size_t)i * 32, wb);
            b64h(leaves + (size_t)i * 32, gb);
            char bpath[TL_TILE_PATH_MAX];
            tile_name(TL_TILE_ENTRIES, k, w, bpath, sizeof(bpath));
            snprintf(c->err, c->cap,
                     "entry %llu (%s, entry %u): leaf hash expected %s (hash %u of %s, verified "
                     "against the checkpoint) got %s",
                     (unsigned long long)((k << 8) + i), bpath, i, wb, i, tpath, gb);
            return TL_ERR_PROOF;
        }
    }
    if (!a->audit_log)
        return TL_OK;
    /* An audit log: every entry a record, times in order within the bundle
     * (across bundles: the fetching thread, which takes verdicts in order). */
    char bpath[TL_TILE_PATH_MAX];
    tile_name(TL_TILE_ENTRIES, k, w, bpath, sizeof(bpath));
    uint64_t prev = 0;
    rc = tl_audit_check_records(s->bundle.f.body.data, s->bundle.f.body.len, k << 8, w, bpath,
                                &prev, &s->first_time, s->commits, c->err, c->cap);
    s->last_time = prev;
    s->nerased = 0;
    if (rc == TL_OK && a->bodies)
        rc = tl_audit_check_bodies(c->hs, s->bodies.f.body.data, s->bodies.f.body.len, k << 8, w,
                                   s->bodies.f.path, s->commits, a->M, s->erased, &s->nerased,
                                   c->err, c->cap);
    return rc;
}

/* The hashing threads: each verifies one slot at a time as the fetching
 * (main) thread marks them ready, so that SHA-256 (and, for event bodies,
 * RFC 8785) runs beside the I/O, on several cores when there are; the main
 * thread takes the verdicts in index order. */
typedef struct hashing {
    const audit *a;
    tl_http *http;
    slot *slots;
    size_t win;
    pthread_mutex_t mu;
    pthread_cond_t work;  /* ready_upto moved, or stop */
    pthread_cond_t done;  /* hashed_upto moved */
    uint64_t ready_upto;  /* slots k < ready_upto are fetched and checked */
    uint64_t claimed;     /* slots k < claimed are taken by a thread */
    uint64_t hashed_upto; /* slots k < hashed_upto carry their verdict */
    int stop;
} hashing;

static void *hashing_main(void *arg)
{
    hashing *w = arg;
    tl_hasher *hs = tl_hasher_new();
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->stop && w->claimed == w->ready_upto)
            pthread_cond_wait(&w->work, &w->mu);
        if (w->stop)
            break;
        uint64_t k = w->claimed++;
        pthread_mutex_unlock(&w->mu);
        slot *s = &w->slots[k % w->win];
        hctx c = {hs, s->err, sizeof(s->err)};
        s->err[0] = 0;
        s->rc = hs ? verify_level0(w->a, &c, s, s->leaves) : TL_ERR_NOMEM;
        pthread_mutex_lock(&w->mu);
        s->verdict = 1;
        uint64_t h0 = w->hashed_upto;
        while (w->hashed_upto < w->claimed && w->slots[w->hashed_upto % w->win].verdict)
            w->hashed_upto++;
        if (w->hashed_upto != h0) {
            pthread_cond_signal(&w->done);
            tl_http_wakeup(w->http);
        }
    }
    pthread_mutex_unlock(&w->mu);
    tl_hasher_free(hs);
    return NULL;
}

/* How many hashing threads: one for a blob log (SHA-256 keeps up with the
 * network), one a core (at most eight) for event bodies (RFC 8785 per event). */
static int hashing_threads(const audit *a)
{
    if (a->o->threads > 0)
        return a->o->threads;
    if (!a->bodies)
        return 1;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > 8 ? 8 : (int)n);
}

/* Takes the verdict of slot s (in index order): the audit log's checks
 * across bundles (times), the erased events, the counts. */
static int take_verdict(audit *a, const slot *s)
{
    if (s->rc != TL_OK) {
        snprintf(a->err, a->cap, "%s", s->err[0] ? s->err : tl_strerror(s->rc));
        return s->rc;
    }
    uint64_t lo = s->k << 8, hi = (s->k << 8) + 256;
    if (hi > a->N)
        hi = a->N;
    if (a->audit_log) {
        if (s->first_time < a->prev_time) {
            char whose[96], bpath[TL_TILE_PATH_MAX];
            if (lo == a->M)
                snprintf(whose, sizeof(whose),
                         "the time of entry %llu, saved in the state by the last run",
                         (unsigned long long)lo - 1);
            else
                snprintf(whose, sizeof(whose), "the time of entry %llu",
                         (unsigned long long)lo - 1);
            tile_name(TL_TILE_ENTRIES, s->k, (unsigned)(hi - lo), bpath, sizeof(bpath));
            time_back(a->err, a->cap, lo, bpath, 0, a->prev_time, s->first_time, whose);
            return TL_ERR_PROOF;
        }
        a->prev_time = s->last_time;
        for (unsigned i = 0; i < s->nerased; i++) {
            if (a->res->erased < TL_AUDIT_ERASED_LIST)
                a->res->erased_idx[a->res->erased] = s->erased[i];
            a->res->erased++;
        }
    }
    if (lo < a->M)
        lo = a->M;
    a->res->entries += hi - lo;
    if (a->bodies)
        a->res->events += hi - lo - s->nerased;
    return TL_OK;
}

static int verify_entries(audit *a, tl_progress *pg)
{
    uint64_t k0 = a->M >> 8, kend = (a->N + 255) >> 8;
    size_t win =
        a->o->window > 0 ? (size_t)a->o->window : 40; /* 80 requests: one HTTP/2 connection */
    hashing w;
    memset(&w, 0, sizeof(w));
    w.a = a;
    w.http = a->http;
    w.win = win;
    w.slots = calloc(win, sizeof(*w.slots));
    w.ready_upto = w.claimed = w.hashed_upto = k0;
    if (w.slots == NULL)
        return TL_ERR_NOMEM;
    pthread_mutex_init(&w.mu, NULL);
    pthread_cond_init(&w.work, NULL);
    pthread_cond_init(&w.done, NULL);
    pthread_t th[8];
    int nth = hashing_threads(a), started = 0;
    if (nth > 8)
        nth = 8;
    for (; started < nth; started++)
        if (pthread_create(&th[started], NULL, hashing_main, &w) != 0)
            break;
    int rc = TL_OK;
    if (started == 0) {
        snprintf(a->err, a->cap, "cannot start the hashing thread");
        rc = TL_ERR_NOMEM;
    }
    uint64_t next = k0, ready = k0, done_k = k0;
    while (rc == TL_OK && done_k < kend) {
        int moved = 0;
        /* Keep the window full of requests. */
        while (next < kend && next < done_k + win && rc == TL_OK) {
            slot *s = &w.slots[next % win];
            unsigned wd = (next == (a->N >> 8)) ? (unsigned)(a->N & 255) : TL_TILE_WIDTH;
            s->k = next;
            s->need_tile = (wd == TL_TILE_WIDTH);
            s->verdict = 0;
            rc = afetch_start(a, &s->bundle, TL_TILE_ENTRIES, next, wd);
            if (rc == TL_OK && s->need_tile)
                rc = afetch_start(a, &s->tile, 0, next, wd);
            if (rc == TL_OK && a->bodies)
                rc = bodies_start(a, &s->bodies, next, wd);
            next++;
            moved = 1;
        }
        /* Hand the fetched slots, in order, to the hashing threads. */
        uint64_t r = ready;
        while (rc == TL_OK && r < next) {
            int x = slot_ready(a, &w.slots[r % win]);
            if (x < 0)
                rc = x;
            if (x <= 0)
                break;
            r++;
        }
        if (rc != TL_OK)
            break;
        pthread_mutex_lock(&w.mu);
        if (r != ready) {
            w.ready_upto = ready = r;
            pthread_cond_broadcast(&w.work);
            moved = 1;
        }
        uint64_t hashed = w.hashed_upto;
        pthread_mutex_unlock(&w.mu);
        /* Take the verdicts, in order. */
        for (; done_k < hashed; done_k++) {
            rc = take_verdict(a, &w.slots[done_k % win]);
            if (rc != TL_OK)
                break;
            moved = 1;
        }
        if (rc != TL_OK || done_k == kend)
            break;
        tl_progress_update(pg, a->res->entries);
        if (moved)
            continue;
        if (tl_http_pending(a->http) > 0) {
            /* Returns on a finished transfer or a wake-up from a hasher. */
            if (tl_http_fetch_wait(a->http) < 0) {
                snprintf(a->err, a->cap, "%s: transfer failed", tl_http_base(a->http));
                rc = TL_ERR_NETWORK;
            }
        } else {
            pthread_mutex_lock(&w.mu);
            while (w.hashed_upto == done_k)
                pthread_cond_wait(&w.done, &w.mu);
            pthread_mutex_unlock(&w.mu);
        }
    }
    pthread_mutex_lock(&w.mu);
    w.stop = 1;
    pthread_cond_broadcast(&w.work);
    pthread_mutex_unlock(&w.mu);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_cond_destroy(&w.work);
    pthread_cond_destroy(&w.done);
    pthread_mutex_destroy(&w.mu);
    if (rc != TL_OK)
        tl_http_fetch_cancel_all(a->http);
    for (size_t i = 0; i < win; i++) {
        tl_buf_release(&w.slots[i].tile.f.body);
        tl_buf_release(&w.slots[i].bundle.f.body);
        tl_buf_release(&w.slots[i].bodies.f.body);
    }
    free(w.slots);
    return rc;
}

/* ---- the run ------------------------------------------------------------- */

/* Whether the log is an audit log: GET /audit/v1/log says "kind":"audit" (a
 * 404 there is a blob log), unless --kind decides; and its --max-event. */
static int detect_kind(audit *a, const tl_checkpoint *cp)
{
    a->max_event = TL_AUDIT_MAX_EVENT_DEFAULT;
    a->audit_log = a->o->kind == TL_KIND_AUDIT;
    if (a->o->kind == TL_KIND_BLOB)
        return TL_OK;
    tl_buf b = TL_BUF_INIT;
    long status = 0;
    json_t *j = NULL;
    const char *base = tl_http_base(a->http);
    int rc = tl_http_request(a->http, "audit/v1/log", NULL, 0, "application/json", 65536, &b,
                             &status, a->err, a->cap);
    /* With --kind audit the description only gives max_event: a log that
     * does not serve it is still audited as one. */
    if (rc != TL_OK || status == 404 || (status != 200 && a->o->kind == TL_KIND_AUDIT))
        goto out;
    if (status != 200) {
        snprintf(a->err, a->cap,
                 "GET %s/audit/v1/log: HTTP status %ld (--kind audit or --kind blob says what the "
                 "log is without asking)",
                 base, status);
        rc = TL_ERR_NETWORK;
        goto out;
    }
    json_error_t je;
    j = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, &je);
    const char *kind = json_string_value(json_object_get(j, "kind"));
    if (kind == NULL && a->o->kind == TL_KIND_AUDIT)
        goto out;
    if (kind == NULL) {
        snprintf(a->err, a->cap, "GET %s/audit/v1/log: not a JSON object with a \"kind\"", base);
        rc = TL_ERR_INVALID;
        goto out;
    }
    if (strcmp(kind, "audit") != 0)
        goto out; /* another kind: the generic checks (or what --kind says) */
    a->audit_log = 1;
    json_t *origin = json_object_get(j, "origin"), *record = json_object_get(j, "record");
    json_t *max = json_object_get(j, "max_event");
    if (origin != NULL &&
        (!json_is_string(origin) || strcmp(json_string_value(origin), cp->origin))) {
        snprintf(a->err, a->cap,
                 "GET %s/audit/v1/log: origin \"%.200s\", but the checkpoint's is \"%s\"", base,
                 json_is_string(origin) ? json_string_value(origin) : "?", cp->origin);
        rc = TL_ERR_INVALID;
    } else if (record != NULL && json_integer_value(record) != 1) {
        snprintf(a->err, a->cap,
                 "GET %s/audit/v1/log: records of version %lld, this tlog knows version 1", base,
                 (long long)json_integer_value(record));
        rc = TL_ERR_INVALID;
    } else if (json_is_integer(max) && json_integer_value(max) > 0 &&
               json_integer_value(max) <= (1 << 20)) {
        a->max_event = (size_t)json_integer_value(max);
    }
out:
    json_decref(j);
    tl_buf_release(&b);
    return rc;
}

int tl_audit_run(tl_http *http, const tl_trust *t, const tl_audit_opts *o, tl_audit_state *state,
                 tl_audit_result *res, char *err, size_t cap)
{
    double t0 = tl_mono_s();
    memset(res, 0, sizeof(*res));
    audit *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return TL_ERR_NOMEM;
    a->http = http;
    a->o = o;
    a->res = res;
    a->err = err;
    a->cap = cap;
    a->hs = tl_hasher_new();
    tl_buf note = TL_BUF_INIT;
    long status = 0;
    tl_checkpoint cp;
    int rc;
    if (a->hs == NULL) {
        rc = TL_ERR_NOMEM;
        goto out;
    }
    rc = tl_http_request(http, "checkpoint", NULL, 0, "text/plain", TL_NOTE_MAX_SIZE, &note,
                         &status, err, cap);
    if (rc != TL_OK)
        goto out;
    if (status != 200) {
        snprintf(err, cap, "GET %s/checkpoint: HTTP status %ld", tl_http_base(http), status);
        rc = TL_ERR_NETWORK;
        goto out;
    }
    rc = tl_trust_verify_checkpoint(t, (const char *)note.data, note.len, &cp, err, cap);
    if (rc != TL_OK)
        goto out;
    a->N = cp.size;
    a->root = cp.root;
    res->new_size = cp.size;
    if (state->have) {
        tl_checkpoint old;
        char verr[TL_ERRMSG];
        if (strcmp(state->origin, cp.origin) != 0) {
            snprintf(err, cap, "state file is for log \"%s\", this log is \"%s\"", state->origin,
                     cp.origin);
            rc = TL_ERR_INVALID;
            goto out;
        }
        if (tl_trust_verify_checkpoint(t, state->note, state->note_len, &old, verr, sizeof(verr)) !=
            TL_OK) {
            snprintf(err, cap, "state file: the saved %s", verr);
            rc = TL_ERR_INVALID;
            goto out;
        }
        a->M = state->size;
        res->old_size = a->M;
        if (a->N < a->M || (a->N == a->M && memcmp(a->root.b, state->root.b, 32) != 0)) {
            char wb[B64H], gb[B64H];
            b64h(state->root.b, wb);
            b64h(a->root.b, gb);
            snprintf(err, cap,
                     a->N < a->M ? "fork: the log's checkpoint has size %llu (root %s), smaller "
                                   "than the size %llu (root %s) saved by the last run"
                                 : "fork: the log's checkpoint of size %llu has root %s, the "
                                   "checkpoint of size %llu saved by the last run has root %s",
                     (unsigned long long)a->N, gb, (unsigned long long)a->M, wb);
            rc = TL_ERR_CONFLICT;
            goto out;
        }
    }
    if (a->N == a->M) {
        if (a->N == 0) {
            tl_hash e;
            tl_hash_empty(&e);
            if (memcmp(e.b, a->root.b, 32) != 0) {
                snprintf(err, cap, "checkpoint of size 0 does not have the empty-tree root");
                rc = TL_ERR_PROOF;
                goto out;
            }
        }
        goto save; /* nothing new */
    }
    /* Something new: what kind of log (one small request) says what to check. */
    if ((rc = detect_kind(a, &cp)) != TL_OK)
        goto out;
    a->bodies = a->audit_log && o->have_token;
    res->audit_log = a->audit_log;
    res->bodies = a->bodies;
    a->T = tl_tile_levels(a->N);
    if (a->T < 1 || a->T > MAX_LEVELS) {
        snprintf(err, cap, "checkpoint size %llu: no tile levels", (unsigned long long)a->N);
        rc = TL_ERR_RANGE;
        goto out;
    }
    for (int L = 1; L < a->T; L++) {
        tlevel *l = &a->lv[L];
        l->cnt = a->N >> (8 * L);
        l->lo = ((a->M >> (8 * L)) >> 8) << 8;
        l->h = malloc((size_t)(l->cnt - l->lo) * TL_HASH_SIZE + 1);
        if (l->h == NULL) {
            rc = TL_ERR_NOMEM;
            goto out;
        }
    }
    tl_progress pg;
    tl_progress_start(&pg, o->quiet || o->json, a->N - a->M);
    if ((rc = verify_edge(a)) != TL_OK)
        goto out;
    for (int L = a->T - 2; L >= 1; L--)
        if ((rc = verify_upper(a, L)) != TL_OK)
            goto out;
    if ((rc = check_consistency(a, state)) != TL_OK)
        goto out;
    /* Log times continue from the last run's when it ended on a bundle
     * boundary (otherwise its last bundle is read again and holds it). */
    if ((a->M & 255) == 0 && state->have && state->have_time)
        a->prev_time = state->last_time;
    rc = verify_entries(a, &pg);
    tl_progress_end(&pg, res->entries);
    if (rc != TL_OK)
        goto out;
save:;
    /* The new state: this checkpoint and the frontier of its tree. */
    tl_frontier f;
    tl_frontier_init(&f);
    if (a->N == a->M && state->have) {
        f = state->frontier;
    } else if (a->N > 0) {
        tl_hash_reader r = {tiles_read, a};
        rc = tl_frontier_load(&f, &r, a->N);
        if (rc != TL_OK) {
            snprintf(err, cap, "cannot load the frontier of size %llu: %s",
                     (unsigned long long)a->N, tl_strerror(rc));
            goto out;
        }
    }
    char *copy = malloc(note.len + 1);
    if (copy == NULL) {
        rc = TL_ERR_NOMEM;
        goto out;
    }
    memcpy(copy, note.data, note.len);
    copy[note.len] = 0;
    free(state->note);
    state->have = 1;
    state->note = copy;
    state->note_len = note.len;
    snprintf(state->origin, sizeof(state->origin), "%s", cp.origin);
    state->size = a->N;
    state->root = a->root;
    state->frontier = f;
    if (a->audit_log && a->N > a->M) {
        state->have_time = 1;
        state->last_time = a->prev_time;
    }
    rc = TL_OK;
out:
    if (rc == TL_ERR_CONFLICT && state->have) {
        res->fork = 1;
        res->evidence_old = strdup(state->note);
        res->evidence_new = malloc(note.len + 1);
        if (res->evidence_new) {
            memcpy(res->evidence_new, note.data, note.len);
            res->evidence_new[note.len] = 0;
        }
    }
    res->seconds = tl_mono_s() - t0;
    for (int L = 0; L < MAX_LEVELS; L++)
        free(a->lv[L].h);
    tl_hasher_free(a->hs);
    tl_buf_release(&note);
    free(a);
    return rc;
}

/* ---- state file ------------------------------------------------------------- */

void tl_audit_result_release(tl_audit_result *r)
{
    free(r->evidence_old);
    free(r->evidence_new);
    r->evidence_old = r->evidence_new = NULL;
}

void tl_audit_state_release(tl_audit_state *s)
{
    free(s->note);
    memset(s, 0, sizeof(*s));
}

int tl_audit_state_load(const char *path, tl_hasher *h, tl_audit_state *s, char *err, size_t cap)
{
    memset(s, 0, sizeof(*s));
    tl_buf b = TL_BUF_INIT;
    char ferr[TL_ERRMSG];
    FILE *probe = fopen(path, "r");
    if (probe == NULL)
        return TL_OK; /* no previous run */
    fclose(probe);
    int rc = tl_read_file(path, 4 * 1024 * 1024, &b, ferr, sizeof(ferr));
    if (rc != TL_OK) {
        snprintf(err, cap, "state %s", ferr);
        tl_buf_release(&b);
        return TL_ERR_IO;
    }
    json_error_t je;
    json_t *j = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, &je);
    tl_buf_release(&b);
    const char *note = NULL, *root = NULL;
    json_int_t size = -1;
    json_t *front = NULL;
    if (j == NULL ||
        json_unpack(j, "{s:s, s:I, s:s, s:o}", "checkpoint", &note, "size", &size, "root", &root,
                    "frontier", &front) != 0 ||
        size < 0 || !json_is_array(front)) {
        snprintf(err, cap, "state %s: not a tlog audit state file", path);
        json_decref(j);
        return TL_ERR_INVALID;
    }
    rc = TL_ERR_INVALID;
    size_t rl = 0;
    tl_checkpoint cp;
    if (tl_b64_decode(root, strlen(root), s->root.b, TL_HASH_SIZE, &rl) != TL_OK ||
        rl != TL_HASH_SIZE) {
        snprintf(err, cap, "state %s: bad root", path);
        goto out;
    }
    s->size = (uint64_t)size;
    /* "last_time" (audit logs) is optional: older state files lack it. */
    json_t *lt = json_object_get(j, "last_time");
    if (lt != NULL) {
        if (!json_is_integer(lt) || json_integer_value(lt) < 0) {
            snprintf(err, cap, "state %s: bad last_time", path);
            goto out;
        }
        s->have_time = 1;
        s->last_time = (uint64_t)json_integer_value(lt);
    }
    s->frontier.size = s->size;
    s->frontier.n = (unsigned)__builtin_popcountll(s->size);
    if (json_array_size(front) != s->frontier.n) {
        snprintf(err, cap, "state %s: frontier has %zu hashes, size %llu needs %u", path,
                 json_array_size(front), (unsigned long long)s->size, s->frontier.n);
        goto out;
    }
    for (unsigned i = 0; i < s->frontier.n; i++) {
        const char *hb = json_string_value(json_array_get(front, i));
        if (hb == NULL ||
            tl_b64_decode(hb, strlen(hb), s->frontier.hashes[i].b, TL_HASH_SIZE, &rl) != TL_OK ||
            rl != TL_HASH_SIZE) {
            snprintf(err, cap, "state %s: bad frontier hash %u", path, i);
            goto out;
        }
    }
    tl_hash fr;
    if (s->size == 0)
        tl_hash_empty(&fr);
    else
        tl_frontier_root(&s->frontier, h, &fr);
    if (memcmp(fr.b, s->root.b, TL_HASH_SIZE) != 0) {
        snprintf(err, cap, "state %s: frontier does not give the saved root", path);
        goto out;
    }
    /* The note's body must say the same (its signature is checked by the
     * audit, with the trust given then). */
    tl_note n;
    if (tl_note_parse(note, strlen(note), &n) != TL_OK) {
        snprintf(err, cap, "state %s: saved checkpoint is not a signed note", path);
        goto out;
    }
    int ok = tl_checkpoint_parse(n.text, n.text_len, &cp) == TL_OK && cp.size == s->size &&
             memcmp(cp.root.b, s->root.b, TL_HASH_SIZE) == 0;
    if (ok)
        snprintf(s->origin, sizeof(s->origin), "%s", cp.origin);
    tl_note_release(&n);
    if (!ok) {
        snprintf(err, cap, "state %s: saved checkpoint does not match its size and root", path);
        goto out;
    }
    s->note = strdup(note);
    if (s->note == NULL) {
        rc = TL_ERR_NOMEM;
        goto out;
    }
    s->note_len = strlen(note);
    s->have = 1;
    rc = TL_OK;
out:
    json_decref(j);
    return rc;
}

int tl_audit_state_save(const char *path, const tl_audit_state *s, char *err, size_t cap)
{
    char rb[B64H];
    b64h(s->root.b, rb);
    json_t *front = json_array();
    for (unsigned i = 0; front && i < s->frontier.n; i++) {
        char hb[B64H];
        b64h(s->frontier.hashes[i].b, hb);
        json_array_append_new(front, json_string(hb));
    }
    json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:o}", "origin", s->origin, "checkpoint", s->note,
                          "size", (json_int_t)s->size, "root", rb, "frontier", front);
    if (j != NULL && s->have_time)
        json_object_set_new(j, "last_time", json_integer((json_int_t)s->last_time));
    char *text = j ? json_dumps(j, JSON_INDENT(1)) : NULL;
    json_decref(j);
    if (text == NULL) {
        snprintf(err, cap, "cannot encode the state");
        return TL_ERR_NOMEM;
    }
    size_t len = strlen(text);
    text[len] = 0;
    tl_buf out = TL_BUF_INIT;
    int rc = tl_buf_add(&out, text, len);
    if (rc == TL_OK)
        rc = tl_buf_adds(&out, "\n");
    free(text);
    if (rc == TL_OK)
        rc = tl_write_file_atomic(path, out.data, out.len, err, cap);
    tl_buf_release(&out);
    return rc;
}
