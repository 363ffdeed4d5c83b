/*
 * log.c - the durable log: tlogd init (tl_log_create), open with recovery
 * checks, signed and published heads, and the read side (tiles, bundles,
 * entries, lookups, proofs). The batch commit lives in sequencer.c.
 *
 * Guarantees kept here: open refuses, naming the difference, a store whose
 * state root is not reproduced by its stored frontier and by its stored
 * tiles, or whose latest signed checkpoint does not verify with our key or
 * names another size/root/origin. Reads never go beyond the signed size;
 * tiles and bundles served at a size are prefixes of the stored latest
 * version (hashes and entries never change once written). Nothing of the tree
 * is kept in memory but the frontier and the current partial tiles/bundle.
 */
#include "log/log_int.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define LOG_KEYFILE_MAX 8192

/* ---- small helpers ------------------------------------------------------ */

void log_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

uint64_t log_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

const uint8_t log_key_state[2] = {1, 's'};
const uint8_t log_key_pub[2] = {1, 'P'};
const uint8_t log_key_origin[2] = {1, 'o'};
const uint8_t log_key_bpart[2] = {1, 'e'};

/* Stream key: 0x03 | ~p | kind. */
static size_t stream_key(uint8_t *k, uint64_t p, uint8_t kind)
{
    k[0] = 3;
    log_put_u64(k + 1, ~p);
    k[9] = kind;
    return 10;
}

size_t log_key_tile(uint8_t *k, int level, uint64_t n)
{
    unsigned shift = 8u * ((unsigned)level + 1);
    uint64_t p = UINT64_MAX;
    if (shift < 64 && n + 1 <= (UINT64_MAX >> shift))
        p = (n + 1) << shift;
    stream_key(k, p, 't');
    k[10] = (uint8_t)level;
    return 11;
}

size_t log_key_tpart(uint8_t *k, int level)
{
    k[0] = 1;
    k[1] = 't';
    k[2] = (uint8_t)level;
    return 3;
}

size_t log_key_bundle(uint8_t *k, uint64_t n)
{
    return stream_key(k, (n + 1) << 8, 'e');
}

unsigned log_dedup_prefix = LOG_DEDUP_PREFIX;

size_t log_key_leaf(uint8_t *k, const tl_hash *leaf)
{
    k[0] = 2;
    memcpy(k + 1, leaf->b, log_dedup_prefix);
    return 1 + log_dedup_prefix;
}

size_t log_key_head(uint8_t *k, uint64_t size)
{
    return stream_key(k, size, 'H');
}

#define key_state log_key_state
#define key_pub log_key_pub
#define key_origin log_key_origin

/*
 * Reads the latest stored version of hash tile (level, n), or of entry
 * bundle n for level TL_TILE_ENTRIES, into v; the data starts at v->data +
 * *off. A full tile lives in the stream, the current partial one under its
 * level's partial key (which names its n). how: 0 - partial key first (the
 * caller knows the tile was partial at its size; it may have filled since),
 * 1 - full only, 2 - full first. TL_ERR_NOTFOUND when neither holds it.
 * With unverified, a bundle is read without the store's checksum: only for
 * callers that hash every entry they use (bundle_check); hash tiles are
 * always read with it.
 */
static int read_tile_rec(tl_store *s, int level, uint64_t n, int how, tl_buf *v, size_t *off,
                         int unverified)
{
    uint8_t k[LOG_KEY_MAX];
    int rc;
    int bundle = level == TL_TILE_ENTRIES;
    int (*get)(tl_store *, const void *, size_t, tl_buf *) =
        unverified ? tl_store_get_unverified : tl_store_get;
    if (how != 0) {
        rc = bundle ? get(s, k, log_key_bundle(k, n), v)
                    : tl_store_get(s, k, log_key_tile(k, level, n), v);
        *off = 0;
        if (rc != TL_ERR_NOTFOUND || how == 1)
            return rc;
    }
    rc = bundle ? get(s, log_key_bpart, 2, v) : tl_store_get(s, k, log_key_tpart(k, level), v);
    if (rc != TL_OK)
        return rc;
    if (v->len < 8)
        return TL_ERR_CORRUPT;
    if (log_get_u64(v->data) == n) {
        *off = 8;
        return TL_OK;
    }
    if (log_get_u64(v->data) < n)
        return TL_ERR_NOTFOUND;
    /* filled up since (the caller's size, or our first look): in the stream now */
    *off = 0;
    return bundle ? get(s, k, log_key_bundle(k, n), v)
                  : tl_store_get(s, k, log_key_tile(k, level, n), v);
}

static uint64_t real_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void hex_hash(const tl_hash *h, char out[65])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < TL_HASH_SIZE; i++) {
        out[2 * i] = hx[h->b[i] >> 4];
        out[2 * i + 1] = hx[h->b[i] & 15];
    }
    out[64] = 0;
}

void tl_log_head_release(tl_log_head *h)
{
    if (!h)
        return;
    free(h->note);
    free(h->sth_sig);
    memset(h, 0, sizeof(*h));
}

int log_head_copy(tl_log_head *dst, const tl_log_head *src)
{
    *dst = *src;
    dst->note = malloc(src->note_len + 1);
    dst->sth_sig = malloc(src->sth_sig_len ? src->sth_sig_len : 1);
    if (!dst->note || !dst->sth_sig) {
        free(dst->note);
        free(dst->sth_sig);
        memset(dst, 0, sizeof(*dst));
        return TL_ERR_NOMEM;
    }
    memcpy(dst->note, src->note, src->note_len);
    dst->note[src->note_len] = 0;
    memcpy(dst->sth_sig, src->sth_sig, src->sth_sig_len);
    return TL_OK;
}

int log_head_encode(const tl_log_head *h, tl_buf *out)
{
    uint8_t hdr[8 + TL_HASH_SIZE + 2];
    tl_buf_reset(out);
    if (h->sth_sig_len > 0xffff)
        return TL_ERR_INVALID;
    log_put_u64(hdr, h->timestamp_ms);
    memcpy(hdr + 8, h->root.b, TL_HASH_SIZE);
    hdr[40] = (uint8_t)(h->sth_sig_len >> 8);
    hdr[41] = (uint8_t)h->sth_sig_len;
    if (tl_buf_add(out, hdr, sizeof(hdr)) || tl_buf_add(out, h->sth_sig, h->sth_sig_len) ||
        tl_buf_add(out, h->note, h->note_len))
        return TL_ERR_NOMEM;
    return TL_OK;
}

static int head_decode(const tl_buf *v, uint64_t size, tl_log_head *h)
{
    size_t sl;
    memset(h, 0, sizeof(*h));
    if (v->len < 42)
        return TL_ERR_CORRUPT;
    sl = ((size_t)v->data[40] << 8) | v->data[41];
    if (v->len < 42 + sl + 1)
        return TL_ERR_CORRUPT;
    h->size = size;
    h->timestamp_ms = log_get_u64(v->data);
    memcpy(h->root.b, v->data + 8, TL_HASH_SIZE);
    h->sth_sig_len = sl;
    h->note_len = v->len - 42 - sl;
    h->sth_sig = malloc(sl ? sl : 1);
    h->note = malloc(h->note_len + 1);
    if (!h->sth_sig || !h->note) {
        tl_log_head_release(h);
        return TL_ERR_NOMEM;
    }
    memcpy(h->sth_sig, v->data + 42, sl);
    memcpy(h->note, v->data + 42 + sl, h->note_len);
    h->note[h->note_len] = 0;
    return TL_OK;
}

static int read_head(tl_store *s, uint64_t size, tl_log_head *h)
{
    uint8_t k[LOG_KEY_MAX];
    tl_buf v = TL_BUF_INIT;
    int rc = tl_store_get(s, k, log_key_head(k, size), &v);
    if (rc == TL_OK)
        rc = head_decode(&v, size, h);
    tl_buf_release(&v);
    return rc;
}

int log_state_encode(const tl_frontier *f, const tl_hash *root, tl_buf *out)
{
    uint8_t sz[8];
    tl_buf_reset(out);
    log_put_u64(sz, f->size);
    if (tl_buf_add(out, sz, 8) || tl_buf_add(out, root->b, TL_HASH_SIZE) ||
        tl_buf_add(out, f->hashes, (size_t)f->n * TL_HASH_SIZE))
        return TL_ERR_NOMEM;
    return TL_OK;
}

/* Decodes "s" into frontier + root. */
static int state_decode(const tl_buf *v, tl_frontier *f, tl_hash *root)
{
    uint64_t size;
    unsigned n;
    if (v->len < 40)
        return TL_ERR_CORRUPT;
    size = log_get_u64(v->data);
    n = (unsigned)__builtin_popcountll(size);
    if (v->len != 40 + (size_t)n * TL_HASH_SIZE)
        return TL_ERR_CORRUPT;
    tl_frontier_init(f);
    f->size = size;
    f->n = n;
    memcpy(root->b, v->data + 8, TL_HASH_SIZE);
    memcpy(f->hashes, v->data + 40, (size_t)n * TL_HASH_SIZE);
    return TL_OK;
}

/* ---- reading hashes from stored tiles ------------------------------------ */

typedef struct tile_src {
    tl_store *store;
    tl_buf buf;
    tl_hasher *h;
} tile_src;

static int tile_src_get(void *ctx, int level, uint64_t n, unsigned min_width, const uint8_t **data,
                        unsigned *width)
{
    tile_src *ts = ctx;
    size_t off = 0, len;
    int rc;
    if (level < 0 || level >= LOG_TILE_LEVELS)
        return TL_ERR_RANGE;
    rc = read_tile_rec(ts->store, level, n, min_width == TL_TILE_WIDTH ? 1 : 2, &ts->buf, &off, 0);
    if (rc != TL_OK)
        return rc;
    len = ts->buf.len - off;
    if (len == 0 || len % TL_HASH_SIZE || len > (size_t)TL_TILE_WIDTH * TL_HASH_SIZE)
        return TL_ERR_CORRUPT;
    *width = (unsigned)(len / TL_HASH_SIZE);
    if (*width < min_width)
        return TL_ERR_CORRUPT;
    *data = ts->buf.data + off;
    return TL_OK;
}

static int tile_src_read(void *ctx, const tl_node *nodes, size_t n, tl_hash *out)
{
    tile_src *ts = ctx;
    return tl_tile_read_nodes(tile_src_get, ts, ts->h, nodes, n, out);
}

static int tile_src_init(tile_src *ts, tl_store *s, tl_hash_reader *r)
{
    ts->store = s;
    tl_buf_init(&ts->buf);
    ts->h = tl_hasher_new();
    if (!ts->h)
        return TL_ERR_NOMEM;
    r->read = tile_src_read;
    r->ctx = ts;
    return TL_OK;
}

static void tile_src_release(tile_src *ts)
{
    tl_buf_release(&ts->buf);
    tl_hasher_free(ts->h);
}

/* ---- signing ------------------------------------------------------------ */

int log_sign_head(tl_log *log, uint64_t size, const tl_hash *root, uint64_t ts, tl_log_head *h)
{
    char *body = NULL;
    size_t blen = 0;
    int rc;
    memset(h, 0, sizeof(*h));
    rc = tl_checkpoint_format(log->origin, size, root, &body, &blen);
    if (rc != TL_OK)
        return rc;
    rc = tl_note_sign(log->signer, body, blen, &h->note, &h->note_len);
    free(body);
    if (rc != TL_OK)
        return rc;
    rc = tl_sth_sign(log->sth, ts, size, root, &h->sth_sig, &h->sth_sig_len);
    if (rc != TL_OK) {
        tl_log_head_release(h);
        return rc;
    }
    h->size = size;
    h->root = *root;
    h->timestamp_ms = ts;
    return TL_OK;
}

void log_stop_locked(tl_log *log, const char *fmt, ...)
{
    va_list ap;
    if (log->stopped)
        return;
    log->stopped = 1;
    va_start(ap, fmt);
    vsnprintf(log->stop_reason, sizeof(log->stop_reason), fmt, ap);
    va_end(ap);
    fprintf(stderr, "tlogd: log stopped signing: %s\n", log->stop_reason);
}

void tl_log_corrupt(tl_log *log, const char *what)
{
    pthread_mutex_lock(&log->mu);
    log_stop_locked(log, "stored data is corrupt: %s", what);
    pthread_mutex_unlock(&log->mu);
}

/* Passes rc through; TL_ERR_CORRUPT from a read also stops signing. */
static int read_checked(tl_log *log, int rc, const char *what, uint64_t a, uint64_t b)
{
    char msg[120];
    if (rc == TL_ERR_CORRUPT) {
        snprintf(msg, sizeof msg, "%s %llu (size %llu)", what, (unsigned long long)a,
                 (unsigned long long)b);
        tl_log_corrupt(log, msg);
    }
    return rc;
}

void log_fire_listeners(tl_log *log)
{
    uint64_t s, p;
    pthread_mutex_lock(&log->mu);
    s = log->latest.size;
    p = log->have_pub ? log->published.size : 0;
    pthread_mutex_unlock(&log->mu);
    for (int i = 0; i < log->nlisteners; i++)
        log->lfn[i](log->lctx[i], s, p);
}

/* ---- key files ---------------------------------------------------------- */

static int read_small_file(const char *path, char *buf, size_t cap, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t n = 0;
    if (fd < 0)
        return errno == ENOENT ? TL_ERR_NOTFOUND : TL_ERR_IO;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            close(fd);
            return TL_ERR_IO;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap - 1) {
            close(fd);
            return TL_ERR_TOOBIG;
        }
    }
    close(fd);
    buf[n] = 0;
    *len = n;
    return TL_OK;
}

static int write_new_file(const char *path, const char *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    size_t off = 0;
    if (fd < 0)
        return errno == EEXIST ? TL_ERR_CONFLICT : TL_ERR_IO;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            unlink(path);
            return TL_ERR_IO;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        close(fd);
        unlink(path);
        return TL_ERR_IO;
    }
    close(fd);
    return TL_OK;
}

static void path_join(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* Writes the initial state of an empty log (size 0, signed) into s. */
static int init_store(tl_log *log, uint64_t ts)
{
    tl_batch *b = tl_batch_new();
    tl_buf v = TL_BUF_INIT;
    tl_log_head h;
    tl_frontier f;
    tl_hash root;
    uint8_t k[LOG_KEY_MAX];
    int rc;
    if (!b)
        return TL_ERR_NOMEM;
    tl_frontier_init(&f);
    tl_hash_empty(&root);
    rc = log_sign_head(log, 0, &root, ts, &h);
    if (rc == TL_OK) {
        if (log_state_encode(&f, &root, &v) || tl_batch_put(b, key_state, 2, v.data, v.len) ||
            log_head_encode(&h, &v) || tl_batch_put(b, k, log_key_head(k, 0), v.data, v.len) ||
            tl_batch_put(b, key_origin, 2, log->origin, strlen(log->origin)))
            rc = TL_ERR_NOMEM;
        else
            rc = tl_store_write(log->store, b, 1);
        tl_log_head_release(&h);
    }
    tl_buf_release(&v);
    tl_batch_free(b);
    return rc;
}

static int origin_ok(const char *o)
{
    size_t n = strlen(o);
    if (n == 0 || n > TL_ORIGIN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)o[i];
        if (c <= 0x20 || c >= 0x7f || c == '+')
            return 0;
    }
    return 1;
}

static void log_free(tl_log *log)
{
    log_item *it, *next;
    if (!log)
        return;
    log_dfilter_free(log->dfilter); /* its scan reads the store */
    tl_store_close(log->store);
    tl_signer_free(log->signer);
    tl_verifier_free(log->verifier);
    tl_sth_key_free(log->sth);
    free(log->vkey);
    tl_log_head_release(&log->latest);
    tl_log_head_release(&log->published);
    for (it = log->qhead; it; it = next) {
        next = it->next;
        free(it);
    }
    tl_hasher_free(log->hasher);
    tl_buf_release(&log->bundle);
    for (int i = 0; i < LOG_STAGES; i++) {
        tl_batch_free(log->stage[i].wb);
        free(log->stage[i].items);
    }
    pthread_cond_destroy(&log->cv_stage);
    if (log->recent)
        for (size_t i = 0; i < log->nrecent; i++)
            free(log->recent[i].e);
    free(log->recent);
    free(log->rtab);
    free(log->sorted);
    free(log->dedup);
    pthread_mutex_destroy(&log->mu);
    pthread_mutex_destroy(&log->pubmu);
    pthread_cond_destroy(&log->cv);
    free(log);
}

static tl_log *log_alloc(void)
{
    tl_log *log = calloc(1, sizeof(*log));
    if (!log)
        return NULL;
    pthread_mutex_init(&log->mu, NULL);
    pthread_mutex_init(&log->pubmu, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&log->cv, &ca);
        pthread_condattr_destroy(&ca);
        pthread_cond_init(&log->cv_stage, NULL);
    }
    tl_buf_init(&log->bundle);
    return log;
}

int tl_log_create(const char *dir, const char *origin, char **vkey, char *err, size_t cap)
{
    static const char *const names[] = {"db", "log.key", "log.vkey", "rfc6962.key", "rfc6962.pub"};
    char p[4096], pk[4096], pp[4096];
    char *skey = NULL;
    tl_log *log = NULL;
    struct stat stb;
    int rc;

    if (!dir || !*dir || strlen(dir) > 3000) {
        snprintf(err, cap, "invalid data folder name");
        return TL_ERR_INVALID;
    }
    if (!origin || !origin_ok(origin)) {
        snprintf(err, cap,
                 "invalid origin: it must be 1..%d printable characters without "
                 "spaces or '+'",
                 TL_ORIGIN_MAX);
        return TL_ERR_INVALID;
    }
    if (stat(dir, &stb) == 0) {
        if (!S_ISDIR(stb.st_mode)) {
            snprintf(err, cap, "%s exists and is not a folder", dir);
            return TL_ERR_CONFLICT;
        }
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            path_join(p, sizeof(p), dir, names[i]);
            if (lstat(p, &stb) == 0) {
                snprintf(err, cap, "%s already holds a log (%s exists); refusing to touch it", dir,
                         p);
                return TL_ERR_CONFLICT;
            }
        }
    } else if (mkdir(dir, 0700) != 0) {
        snprintf(err, cap, "cannot create %s: %s", dir, strerror(errno));
        return TL_ERR_IO;
    }

    log = log_alloc();
    if (!log) {
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    snprintf(log->origin, sizeof(log->origin), "%s", origin);
    rc = tl_signer_generate(origin, TL_KEY_ED25519, &log->signer);
    if (rc == TL_OK)
        rc = tl_signer_format(log->signer, &skey);
    if (rc == TL_OK)
        rc = tl_signer_vkey(log->signer, &log->vkey);
    if (rc == TL_OK)
        rc = tl_sth_key_generate(&log->sth);
    if (rc != TL_OK) {
        snprintf(err, cap, "cannot generate keys: %s", tl_strerror(rc));
        goto out;
    }
    /* Keys first (O_EXCL), then the database; undo the keys on failure. */
    path_join(pk, sizeof(pk), dir, "log.key");
    {
        size_t sl = strlen(skey);
        char *line = malloc(sl + 2);
        if (!line) {
            rc = TL_ERR_NOMEM;
            snprintf(err, cap, "out of memory");
            goto out;
        }
        memcpy(line, skey, sl);
        line[sl] = '\n';
        line[sl + 1] = 0;
        rc = write_new_file(pk, line, sl + 1, 0600);
        OPENSSL_cleanse(line, sl + 1);
        free(line);
    }
    if (rc != TL_OK) {
        snprintf(err, cap, "cannot write %s: %s", pk, tl_strerror(rc));
        goto out;
    }
    path_join(p, sizeof(p), dir, "log.vkey");
    {
        tl_buf vl = TL_BUF_INIT;
        rc = tl_buf_addf(&vl, "%s\n", log->vkey);
        if (rc == TL_OK)
            rc = write_new_file(p, (const char *)vl.data, vl.len, 0644);
        tl_buf_release(&vl);
    }
    if (rc != TL_OK) {
        snprintf(err, cap, "cannot write %s: %s", p, tl_strerror(rc));
        unlink(pk);
        goto out;
    }
    path_join(pp, sizeof(pp), dir, "rfc6962.key");
    {
        char pub[4096];
        path_join(pub, sizeof(pub), dir, "rfc6962.pub");
        rc = tl_sth_key_write(log->sth, pp, pub);
        if (rc != TL_OK) {
            snprintf(err, cap, "cannot write %s / %s: %s", pp, pub, tl_strerror(rc));
            unlink(pk);
            unlink(p);
            goto out;
        }
    }
    {
        char db[4096];
        path_join(db, sizeof(db), dir, "db");
        rc = tl_store_open_leveldb(db, 1, &log->store, err, cap);
        if (rc == TL_OK) {
            rc = init_store(log, real_clock_ms());
            if (rc != TL_OK)
                snprintf(err, cap, "cannot initialise the database %s: %s", db, tl_strerror(rc));
        }
        if (rc != TL_OK) {
            char pub[4096];
            path_join(pub, sizeof(pub), dir, "rfc6962.pub");
            unlink(pk);
            unlink(p);
            unlink(pp);
            unlink(pub);
            goto out;
        }
    }
    if (vkey) {
        *vkey = strdup(log->vkey);
        if (!*vkey) {
            rc = TL_ERR_NOMEM;
            snprintf(err, cap, "out of memory");
        }
    }
out:
    if (skey) {
        OPENSSL_cleanse(skey, strlen(skey));
        free(skey);
    }
    log_free(log);
    return rc;
}

/* ---- open and recovery --------------------------------------------------- */

static int load_keys(tl_log *log, const char *dir, char *err, size_t cap)
{
    char p[4096], buf[LOG_KEYFILE_MAX];
    size_t len;
    int rc;

    path_join(p, sizeof(p), dir, "log.key");
    rc = read_small_file(p, buf, sizeof(buf), &len);
    if (rc != TL_OK) {
        snprintf(err, cap, "cannot read %s: %s", p, tl_strerror(rc));
        return rc;
    }
    rc = tl_signer_parse(buf, &log->signer);
    OPENSSL_cleanse(buf, sizeof(buf));
    if (rc != TL_OK) {
        snprintf(err, cap, "%s is not a signer key: %s", p, tl_strerror(rc));
        return rc;
    }
    if (tl_signer_type(log->signer) != TL_KEY_ED25519) {
        snprintf(err, cap, "%s is not an Ed25519 signed-note key", p);
        return TL_ERR_INVALID;
    }
    if (strlen(tl_signer_name(log->signer)) > TL_ORIGIN_MAX) {
        snprintf(err, cap, "%s: key name too long", p);
        return TL_ERR_INVALID;
    }
    snprintf(log->origin, sizeof(log->origin), "%s", tl_signer_name(log->signer));
    rc = tl_signer_vkey(log->signer, &log->vkey);
    if (rc == TL_OK)
        rc = tl_verifier_parse(log->vkey, &log->verifier);
    if (rc != TL_OK) {
        snprintf(err, cap, "cannot derive the verifier key: %s", tl_strerror(rc));
        return rc;
    }
    path_join(p, sizeof(p), dir, "log.vkey");
    rc = read_small_file(p, buf, sizeof(buf), &len);
    if (rc != TL_OK) {
        snprintf(err, cap, "cannot read %s: %s", p, tl_strerror(rc));
        return rc;
    }
    while (len && (buf[len - 1] == '\n'))
        buf[--len] = 0;
    if (strcmp(buf, log->vkey) != 0) {
        snprintf(err, cap, "%s does not match the key in log.key", p);
        return TL_ERR_CONFLICT;
    }
    path_join(p, sizeof(p), dir, "rfc6962.key");
    rc = tl_sth_key_load_private(p, &log->sth);
    if (rc != TL_OK) {
        snprintf(err, cap, "cannot load %s: %s", p, tl_strerror(rc));
        return rc;
    }
    return TL_OK;
}

/* Verifies that note is a checkpoint signed by us for (size, root). */
static int check_note(tl_log *log, const char *what, const char *note, size_t len, uint64_t size,
                      const tl_hash *root, char *err, size_t cap)
{
    tl_note n;
    tl_checkpoint cp;
    char a[65], b[65];
    int rc = tl_note_parse(note, len, &n);
    if (rc != TL_OK) {
        snprintf(err, cap, "%s of size %llu is not a valid signed note: %s", what,
                 (unsigned long long)size, tl_strerror(rc));
        return TL_ERR_CORRUPT;
    }
    rc = tl_note_verify(&n, log->verifier);
    if (rc != TL_OK) {
        snprintf(err, cap, "%s of size %llu does not carry a valid signature by %s: %s", what,
                 (unsigned long long)size, log->origin, tl_strerror(rc));
        tl_note_release(&n);
        return TL_ERR_SIG;
    }
    rc = tl_checkpoint_parse(n.text, n.text_len, &cp);
    if (rc != TL_OK) {
        snprintf(err, cap, "%s of size %llu has an invalid checkpoint body", what,
                 (unsigned long long)size);
        tl_note_release(&n);
        return TL_ERR_CORRUPT;
    }
    rc = TL_OK;
    if (strcmp(cp.origin, log->origin) != 0) {
        snprintf(err, cap, "%s names origin \"%s\", the key is for \"%s\"", what, cp.origin,
                 log->origin);
        rc = TL_ERR_CORRUPT;
    } else if (cp.size != size) {
        snprintf(err, cap, "%s has size %llu, the tree state has size %llu", what,
                 (unsigned long long)cp.size, (unsigned long long)size);
        rc = TL_ERR_CORRUPT;
    } else if (memcmp(cp.root.b, root->b, TL_HASH_SIZE) != 0) {
        hex_hash(&cp.root, a);
        hex_hash(root, b);
        snprintf(err, cap, "%s of size %llu has root %s, the tree state has root %s", what,
                 (unsigned long long)size, a, b);
        rc = TL_ERR_CORRUPT;
    }
    tl_note_release(&n);
    return rc;
}

/* Loads the partial tiles and bundle the sequencer keeps in memory. */
static int load_partials(tl_log *log, char *err, size_t cap)
{
    uint64_t size = log->fr.size;
    uint8_t k[LOG_KEY_MAX];
    tl_buf v = TL_BUF_INIT;
    int rc = TL_OK;

    for (int L = 0; L < LOG_TILE_LEVELS; L++) {
        uint64_t cnt = L == 0 ? size : size >> (8 * L);
        log_tile_buf *t = &log->tiles[L];
        t->n = cnt >> 8;
        t->width = (unsigned)(cnt & 255);
        t->dirty = 0;
        rc = tl_store_get(log->store, k, log_key_tpart(k, L), &v);
        if (rc == TL_ERR_NOTFOUND && t->width == 0) {
            rc = TL_OK;
            continue;
        }
        if (rc != TL_OK || v.len < 8 || log_get_u64(v.data) != t->n ||
            v.len != 8 + (size_t)t->width * TL_HASH_SIZE) {
            snprintf(err, cap,
                     "partial hash tile of level %d: %s (the tree state of size %llu needs "
                     "tile %llu of width %u; stored: tile %llu, %zu bytes)",
                     L, rc == TL_OK ? "wrong tile or width" : tl_strerror(rc),
                     (unsigned long long)size, (unsigned long long)t->n, t->width,
                     (unsigned long long)(rc == TL_OK && v.len >= 8 ? log_get_u64(v.data) : 0),
                     rc == TL_OK && v.len >= 8 ? v.len - 8 : 0);
            rc = rc == TL_OK || rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc;
            goto out;
        }
        memcpy(t->hashes, v.data + 8, v.len - 8);
    }
    log->bundle_n = size >> 8;
    log->bundle_count = (unsigned)(size & 255);
    log->bundle_dirty = 0;
    tl_buf_reset(&log->bundle);
    rc = tl_store_get(log->store, log_key_bpart, 2, &v);
    if (rc == TL_ERR_NOTFOUND && log->bundle_count == 0) {
        rc = TL_OK;
    } else if (rc != TL_OK || v.len < 8 || log_get_u64(v.data) != log->bundle_n) {
        snprintf(err, cap,
                 "partial entry bundle: %s (the tree state of size %llu needs "
                 "bundle %llu)",
                 rc == TL_OK ? "holds another bundle" : tl_strerror(rc), (unsigned long long)size,
                 (unsigned long long)log->bundle_n);
        rc = rc == TL_OK || rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc;
        goto out;
    } else {
        const uint8_t *d = v.data + 8;
        size_t dl = v.len - 8, off = 0, last = 0;
        unsigned c = 0;
        while (off + 2 <= dl) {
            size_t l = ((size_t)d[off] << 8) | d[off + 1];
            if (l == 0 || off + 2 + l > dl)
                break;
            last = off;
            off += 2 + l;
            c++;
        }
        if (off != dl || c != log->bundle_count) {
            snprintf(err, cap,
                     "entry bundle %llu holds %u entries (%zu of %zu bytes parse), the tree "
                     "state of size %llu needs %u",
                     (unsigned long long)log->bundle_n, c, off, dl, (unsigned long long)size,
                     log->bundle_count);
            rc = TL_ERR_CORRUPT;
            goto out;
        }
        if (c) {
            /* the last entry's leaf hash must be the last level-0 tile hash */
            tl_hash leaf;
            tl_hash_leaf(log->hasher, d + last + 2, off - last - 2, &leaf);
            if (memcmp(leaf.b, log->tiles[0].hashes + (size_t)(c - 1) * TL_HASH_SIZE,
                       TL_HASH_SIZE) != 0) {
                snprintf(err, cap,
                         "entry %llu in bundle %llu does not hash to its leaf hash in tile "
                         "0/%llu",
                         (unsigned long long)(size - 1), (unsigned long long)log->bundle_n,
                         (unsigned long long)log->tiles[0].n);
                rc = TL_ERR_CORRUPT;
                goto out;
            }
        }
        if (tl_buf_add(&log->bundle, d, dl)) {
            rc = TL_ERR_NOMEM;
            snprintf(err, cap, "out of memory");
        }
    }
out:
    tl_buf_release(&v);
    return rc;
}

static int recover(tl_log *log, char *err, size_t cap)
{
    tl_buf v = TL_BUF_INIT;
    tl_hash root, r1, r2;
    tl_frontier f2;
    tl_hash_reader rd;
    tile_src ts;
    char a[65], b[65];
    tl_log_head h;
    int rc;

    rc = tl_store_get(log->store, key_state, 2, &v);
    if (rc == TL_OK)
        rc = state_decode(&v, &log->fr, &root);
    if (rc != TL_OK) {
        snprintf(err, cap, "cannot load the tree state: %s", tl_strerror(rc));
        tl_buf_release(&v);
        return rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc;
    }
    rc = tl_store_get(log->store, key_origin, 2, &v);
    if (rc != TL_OK) {
        snprintf(err, cap, "cannot read the database's origin record: %s", tl_strerror(rc));
        tl_buf_release(&v);
        return rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc;
    }
    if (v.len != strlen(log->origin) || memcmp(v.data, log->origin, v.len) != 0) {
        snprintf(err, cap, "the database belongs to origin \"%.*s\", log.key to \"%s\"",
                 (int)(v.len > 256 ? 256 : v.len), (const char *)v.data, log->origin);
        tl_buf_release(&v);
        return TL_ERR_CORRUPT;
    }
    tl_buf_release(&v);

    /* 1. root from the stored frontier */
    tl_frontier_root(&log->fr, log->hasher, &r1);
    if (memcmp(r1.b, root.b, TL_HASH_SIZE) != 0) {
        hex_hash(&root, a);
        hex_hash(&r1, b);
        snprintf(err, cap,
                 "tree state of size %llu: stored root %s, root recomputed from "
                 "the stored frontier %s",
                 (unsigned long long)log->fr.size, a, b);
        return TL_ERR_CORRUPT;
    }
    /* 2. root and frontier from the stored tiles */
    rc = tile_src_init(&ts, log->store, &rd);
    if (rc == TL_OK)
        rc = tl_tree_hash(&rd, ts.h, log->fr.size, &r2);
    if (rc == TL_OK)
        rc = tl_frontier_load(&f2, &rd, log->fr.size);
    tile_src_release(&ts);
    if (rc != TL_OK) {
        snprintf(err, cap, "cannot read the hash tiles of size %llu: %s",
                 (unsigned long long)log->fr.size, tl_strerror(rc));
        return rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc;
    }
    if (memcmp(r2.b, root.b, TL_HASH_SIZE) != 0) {
        hex_hash(&root, a);
        hex_hash(&r2, b);
        snprintf(err, cap,
                 "tree state of size %llu: stored root %s, root recomputed from "
                 "the stored hash tiles %s",
                 (unsigned long long)log->fr.size, a, b);
        return TL_ERR_CORRUPT;
    }
    if (f2.n != log->fr.n || memcmp(f2.hashes, log->fr.hashes, (size_t)f2.n * TL_HASH_SIZE)) {
        snprintf(err, cap,
                 "tree state of size %llu: the stored frontier differs from the "
                 "one read from the stored hash tiles",
                 (unsigned long long)log->fr.size);
        return TL_ERR_CORRUPT;
    }
    /* 2b. the newest full tile of each level hashes to its parent hash */
    rc = tile_src_init(&ts, log->store, &rd);
    for (int L = 0; rc == TL_OK && L + 1 < LOG_TILE_LEVELS; L++) {
        uint64_t cnt = log->fr.size >> (8 * L);
        const uint8_t *data;
        unsigned w;
        tl_node parent;
        tl_hash want, got;
        if (cnt < TL_TILE_WIDTH)
            break;
        parent.level = (uint8_t)(8 * (L + 1));
        parent.index = (cnt >> 8) - 1;
        rc = tile_src_read(&ts, &parent, 1, &want);
        if (rc == TL_OK)
            rc = tile_src_get(&ts, L, parent.index, TL_TILE_WIDTH, &data, &w);
        if (rc != TL_OK) {
            snprintf(err, cap, "cannot read full hash tile %d/%llu: %s", L,
                     (unsigned long long)parent.index, tl_strerror(rc));
            break;
        }
        tl_tile_hash(ts.h, data, TL_TILE_WIDTH, &got);
        if (memcmp(want.b, got.b, TL_HASH_SIZE) != 0) {
            hex_hash(&want, a);
            hex_hash(&got, b);
            snprintf(err, cap,
                     "full hash tile %d/%llu hashes to %s, its parent hash in tile "
                     "level %d is %s",
                     L, (unsigned long long)parent.index, b, L + 1, a);
            rc = TL_ERR_CORRUPT;
        }
    }
    tile_src_release(&ts);
    if (rc != TL_OK)
        return rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc;
    /* 3. the latest signed head: ours, and for exactly this state */
    rc = read_head(log->store, log->fr.size, &h);
    if (rc != TL_OK) {
        snprintf(err, cap, "no signed head for the tree state of size %llu: %s",
                 (unsigned long long)log->fr.size, tl_strerror(rc));
        return rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc;
    }
    if (memcmp(h.root.b, root.b, TL_HASH_SIZE) != 0) {
        hex_hash(&h.root, a);
        hex_hash(&root, b);
        snprintf(err, cap, "signed head of size %llu records root %s, the tree state has %s",
                 (unsigned long long)h.size, a, b);
        tl_log_head_release(&h);
        return TL_ERR_CORRUPT;
    }
    rc =
        check_note(log, "the signed checkpoint", h.note, h.note_len, log->fr.size, &root, err, cap);
    if (rc == TL_OK && tl_sth_verify(log->sth, h.timestamp_ms, h.size, &h.root, h.sth_sig,
                                     h.sth_sig_len) != TL_OK) {
        snprintf(err, cap, "the RFC 6962 STH of size %llu does not verify with rfc6962.key",
                 (unsigned long long)h.size);
        rc = TL_ERR_SIG;
    }
    if (rc != TL_OK) {
        tl_log_head_release(&h);
        return rc;
    }
    log->latest = h;

    /* 4. the published head: ours, same body as the signed head of its size */
    rc = tl_store_get(log->store, key_pub, 2, &v);
    if (rc == TL_OK) {
        tl_log_head ph;
        uint64_t psize;
        if (v.len < 9) {
            snprintf(err, cap, "the published checkpoint record is truncated");
            tl_buf_release(&v);
            return TL_ERR_CORRUPT;
        }
        psize = log_get_u64(v.data);
        if (psize > log->fr.size) {
            snprintf(err, cap,
                     "the published checkpoint has size %llu, beyond the tree state "
                     "of size %llu",
                     (unsigned long long)psize, (unsigned long long)log->fr.size);
            tl_buf_release(&v);
            return TL_ERR_CORRUPT;
        }
        rc = read_head(log->store, psize, &ph);
        if (rc != TL_OK) {
            snprintf(err, cap, "no signed head for the published size %llu: %s",
                     (unsigned long long)psize, tl_strerror(rc));
            tl_buf_release(&v);
            return TL_ERR_CORRUPT;
        }
        rc = check_note(log, "the published checkpoint", (const char *)v.data + 8, v.len - 8, psize,
                        &ph.root, err, cap);
        if (rc != TL_OK) {
            tl_log_head_release(&ph);
            tl_buf_release(&v);
            return rc;
        }
        free(ph.note);
        ph.note_len = v.len - 8;
        ph.note = malloc(ph.note_len + 1);
        if (!ph.note) {
            tl_log_head_release(&ph);
            tl_buf_release(&v);
            return TL_ERR_NOMEM;
        }
        memcpy(ph.note, v.data + 8, ph.note_len);
        ph.note[ph.note_len] = 0;
        log->published = ph;
        log->have_pub = 1;
    } else if (rc != TL_ERR_NOTFOUND) {
        snprintf(err, cap, "cannot read the published checkpoint: %s", tl_strerror(rc));
        tl_buf_release(&v);
        return rc;
    }
    tl_buf_release(&v);
    return load_partials(log, err, cap);
}

/* Publishes the head in log->latest (used at open with publish_on_sign). */
static int publish_latest(tl_log *log)
{
    tl_log_head h;
    int rc;
    pthread_mutex_lock(&log->mu);
    rc = log_head_copy(&h, &log->latest);
    pthread_mutex_unlock(&log->mu);
    if (rc != TL_OK)
        return rc;
    rc = tl_log_publish(log, h.size, h.note, h.note_len);
    tl_log_head_release(&h);
    return rc;
}

int tl_log_open(const tl_log_config *cfg, tl_log **out, char *err, size_t cap)
{
    tl_log *log;
    int rc;
    tl_buf v = TL_BUF_INIT;

    *out = NULL;
    if (!cfg || !cfg->dir) {
        snprintf(err, cap, "no data folder given");
        if (cfg && cfg->store)
            tl_store_close(cfg->store);
        return TL_ERR_INVALID;
    }
    log = log_alloc();
    if (!log) {
        snprintf(err, cap, "out of memory");
        if (cfg->store)
            tl_store_close(cfg->store);
        return TL_ERR_NOMEM;
    }
    log->store = cfg->store;
    log->pool_max = cfg->pool_max ? cfg->pool_max : 16384;
    log->batch_max = cfg->batch_max ? cfg->batch_max : 4096;
    if (log->batch_max > ((size_t)1 << 20))
        log->batch_max = (size_t)1 << 20;
    log->interval_ms = cfg->batch_interval_ms ? cfg->batch_interval_ms : 25;
    log->max_entry = cfg->max_entry ? cfg->max_entry : 65535;
    if (log->max_entry > 65535)
        log->max_entry = 65535;
    log->publish_on_sign = cfg->publish_on_sign;
    log->clock_ms = cfg->clock_ms ? cfg->clock_ms : real_clock_ms;
    log->hasher = tl_hasher_new();
    for (int i = 0; i < LOG_STAGES; i++) {
        log->stage[i].wb = tl_batch_new();
        log->stage[i].items = calloc(log->batch_max, sizeof(log_item *));
        if (!log->stage[i].wb || !log->stage[i].items) {
            snprintf(err, cap, "out of memory");
            rc = TL_ERR_NOMEM;
            goto fail;
        }
    }
    log->sorted = calloc(log->batch_max, sizeof(*log->sorted));
    /* remember the leaves of the last 4 commits (LOG_STAGES - 1 may be in
     * flight) */
    log->nrecent = LOG_STAGES + 1 > 4 ? LOG_STAGES + 1 : 4;
    log->rmask = 1;
    while (log->rmask < 2 * log->nrecent * log->batch_max)
        log->rmask <<= 1;
    log->rtab = calloc(log->rmask, sizeof(*log->rtab));
    log->rmask--;
    log->recent = calloc(log->nrecent, sizeof(*log->recent));
    for (size_t i = 0; log->recent && i < log->nrecent; i++) {
        log->recent[i].gen = UINT64_MAX;
        log->recent[i].e = malloc(log->batch_max * sizeof(log_recent_leaf));
        if (!log->recent[i].e) {
            snprintf(err, cap, "out of memory");
            rc = TL_ERR_NOMEM;
            goto fail;
        }
    }
    log->dedup_cap = 16;
    while (log->dedup_cap < 2 * log->batch_max)
        log->dedup_cap *= 2;
    log->dedup = calloc(log->dedup_cap, sizeof(*log->dedup));
    if (!log->hasher || !log->sorted || !log->dedup || !log->recent || !log->rtab) {
        snprintf(err, cap, "out of memory");
        rc = TL_ERR_NOMEM;
        goto fail;
    }
    rc = load_keys(log, cfg->dir, err, cap);
    if (rc != TL_OK)
        goto fail;
    if (!log->store) {
        char db[4096];
        path_join(db, sizeof(db), cfg->dir, "db");
        rc = tl_store_open_leveldb(db, 0, &log->store, err, cap);
        if (rc != TL_OK)
            goto fail;
    } else if (tl_store_get(log->store, key_state, 2, &v) == TL_ERR_NOTFOUND) {
        /* A fresh store handed in by a test: initialise it like init does. */
        rc = init_store(log, log->clock_ms());
        if (rc != TL_OK) {
            snprintf(err, cap, "cannot initialise the store: %s", tl_strerror(rc));
            goto fail;
        }
    }
    tl_buf_release(&v);
    rc = recover(log, err, cap);
    if (rc != TL_OK)
        goto fail;
    log->st.signed_size = log->latest.size;
    log->last_ts = log->latest.timestamp_ms;
    log->st.published_size = log->have_pub ? log->published.size : 0;
    if (log->publish_on_sign && (!log->have_pub || log->published.size < log->latest.size)) {
        rc = publish_latest(log);
        if (rc != TL_OK) {
            snprintf(err, cap, "cannot publish the latest signed checkpoint: %s", tl_strerror(rc));
            goto fail;
        }
    }
    /* the dedup filter fills in the background; until then lookups read the store */
    log->dfilter = log_dfilter_new(LOG_DF_BYTES);
    if (log->dfilter && log_dfilter_start(log->dfilter, log->store) != TL_OK) {
        log_dfilter_free(log->dfilter);
        log->dfilter = NULL;
    }
    rc = log_seq_start(log);
    if (rc != TL_OK) {
        snprintf(err, cap, "cannot start the sequencer thread");
        goto fail;
    }
    *out = log;
    return TL_OK;
fail:
    tl_buf_release(&v);
    log_free(log);
    return rc;
}

void tl_log_close(tl_log *log)
{
    if (!log)
        return;
    log_seq_stop(log);
    log_free(log);
}

/* ---- heads -------------------------------------------------------------- */

int tl_log_published(tl_log *log, tl_log_head *out)
{
    int rc = TL_ERR_NOTFOUND;
    pthread_mutex_lock(&log->mu);
    if (log->have_pub)
        rc = log_head_copy(out, &log->published);
    pthread_mutex_unlock(&log->mu);
    return rc;
}

int tl_log_latest_signed(tl_log *log, tl_log_head *out)
{
    int rc;
    pthread_mutex_lock(&log->mu);
    rc = log_head_copy(out, &log->latest);
    pthread_mutex_unlock(&log->mu);
    return rc;
}

int tl_log_signed_at(tl_log *log, uint64_t size, tl_log_head *out)
{
    int rc;
    pthread_mutex_lock(&log->mu);
    if (size > log->latest.size) {
        pthread_mutex_unlock(&log->mu);
        return TL_ERR_NOTFOUND;
    }
    if (size == log->latest.size) {
        rc = log_head_copy(out, &log->latest);
        pthread_mutex_unlock(&log->mu);
        return rc;
    }
    pthread_mutex_unlock(&log->mu);
    return read_head(log->store, size, out);
}

int tl_log_publish(tl_log *log, uint64_t size, const char *note, size_t len)
{
    tl_log_head h;
    tl_note n;
    tl_batch *b;
    tl_buf v = TL_BUF_INIT;
    char *body = NULL;
    size_t blen = 0;
    uint8_t sz[8];
    int rc;

    if (!note || len == 0 || len > TL_NOTE_MAX_SIZE)
        return TL_ERR_INVALID;
    rc = tl_log_signed_at(log, size, &h);
    if (rc != TL_OK)
        return rc;
    rc = tl_note_parse(note, len, &n);
    if (rc != TL_OK) {
        tl_log_head_release(&h);
        return TL_ERR_INVALID;
    }
    rc = tl_checkpoint_format(log->origin, size, &h.root, &body, &blen);
    if (rc == TL_OK && (n.text_len != blen || memcmp(n.text, body, blen) != 0))
        rc = TL_ERR_CONFLICT;
    if (rc == TL_OK)
        rc = tl_note_verify(&n, log->verifier) == TL_OK ? TL_OK : TL_ERR_SIG;
    free(body);
    tl_note_release(&n);
    if (rc != TL_OK) {
        tl_log_head_release(&h);
        return rc;
    }
    b = tl_batch_new();
    if (!b) {
        tl_log_head_release(&h);
        return TL_ERR_NOMEM;
    }
    pthread_mutex_lock(&log->pubmu);
    pthread_mutex_lock(&log->mu);
    if (log->have_pub && size < log->published.size)
        rc = TL_ERR_CONFLICT;
    pthread_mutex_unlock(&log->mu);
    log_put_u64(sz, size);
    if (rc == TL_OK && (tl_buf_add(&v, sz, 8) || tl_buf_add(&v, note, len) ||
                        tl_batch_put(b, key_pub, 2, v.data, v.len)))
        rc = TL_ERR_NOMEM;
    if (rc == TL_OK)
        rc = tl_store_write(log->store, b, 1);
    if (rc == TL_OK) {
        char *copy = malloc(len + 1);
        if (!copy) {
            rc = TL_ERR_NOMEM;
        } else {
            memcpy(copy, note, len);
            copy[len] = 0;
            free(h.note);
            h.note = copy;
            h.note_len = len;
            pthread_mutex_lock(&log->mu);
            tl_log_head_release(&log->published);
            log->published = h;
            log->have_pub = 1;
            log->st.published_size = size;
            pthread_mutex_unlock(&log->mu);
            memset(&h, 0, sizeof(h));
        }
    }
    pthread_mutex_unlock(&log->pubmu);
    tl_batch_free(b);
    tl_buf_release(&v);
    tl_log_head_release(&h);
    if (rc == TL_OK)
        log_fire_listeners(log);
    return rc;
}

int tl_log_add_listener(tl_log *log, tl_log_event_fn fn, void *ctx)
{
    int rc = TL_OK;
    pthread_mutex_lock(&log->mu);
    if (log->nlisteners >= LOG_MAX_LISTENERS) {
        rc = TL_ERR_TOOBIG;
    } else {
        log->lfn[log->nlisteners] = fn;
        log->lctx[log->nlisteners] = ctx;
        log->nlisteners++;
    }
    pthread_mutex_unlock(&log->mu);
    return rc;
}

/* ---- reading ------------------------------------------------------------ */

uint64_t tl_log_signed_size(tl_log *log)
{
    uint64_t s;
    pthread_mutex_lock(&log->mu);
    s = log->latest.size;
    pthread_mutex_unlock(&log->mu);
    return s;
}

/* Byte length of the first `count` entries of a bundle, or 0 if malformed. */
static size_t bundle_prefix(const tl_buf *v, unsigned count, size_t *last_off)
{
    size_t off = 0;
    for (unsigned i = 0; i < count; i++) {
        size_t l;
        if (off + 2 > v->len)
            return 0;
        l = ((size_t)v->data[off] << 8) | v->data[off + 1];
        if (l == 0 || off + 2 + l > v->len)
            return 0;
        if (last_off)
            *last_off = off;
        off += 2 + l;
    }
    return off;
}

/* Checks entries first..width-1 of bundle n (data: its bytes, lengths already
 * parsed by bundle_prefix) against the leaf hashes of level-0 tile n (read
 * with the store's checksum), so a damaged entry is refused rather than
 * served; the bundle itself was read without the checksum, which this
 * replaces. how: as read_tile_rec. */
static int bundle_check(tl_log *log, uint64_t n, unsigned first, unsigned width, int how,
                        const uint8_t *data)
{
    tl_buf tile = TL_BUF_INIT;
    size_t off = 0, at = 0;
    tl_hasher *h = log_thread_hasher();
    int rc = h ? read_tile_rec(log->store, 0, n, how, &tile, &off, 0) : TL_ERR_NOMEM;
    if (rc == TL_OK && tile.len - off < (size_t)width * TL_HASH_SIZE)
        rc = TL_ERR_CORRUPT;
    for (unsigned k = 0; rc == TL_OK && k < width; k++) {
        size_t len = ((size_t)data[at] << 8) | data[at + 1];
        tl_hash got;
        if (k >= first) {
            tl_hash_leaf(h, data + at + 2, len, &got);
            if (memcmp(got.b, tile.data + off + (size_t)k * TL_HASH_SIZE, TL_HASH_SIZE) != 0) {
                char what[96];
                snprintf(what, sizeof what, "entry %llu does not hash to its leaf hash",
                         (unsigned long long)(n * TL_TILE_WIDTH + k));
                tl_log_corrupt(log, what);
                rc = TL_ERR_CORRUPT;
            }
        }
        at += 2 + len;
    }
    tl_buf_release(&tile);
    return rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc;
}

int tl_log_tile(tl_log *log, const tl_tile *t, uint64_t size, tl_buf *out)
{
    uint64_t count, avail;
    tl_buf v = TL_BUF_INIT;
    int rc;

    if (!t || t->width < 1 || t->width > TL_TILE_WIDTH)
        return TL_ERR_INVALID;
    if (size > tl_log_signed_size(log))
        return TL_ERR_RANGE;
    if (t->level == TL_TILE_ENTRIES)
        count = size;
    else if (t->level >= 0 && t->level < LOG_TILE_LEVELS)
        count = size >> (8 * t->level);
    else
        return TL_ERR_NOTFOUND;
    if (count == 0 || t->n > (count - 1) >> 8)
        return TL_ERR_NOTFOUND;
    avail = count - (t->n << 8);
    if (avail > TL_TILE_WIDTH)
        avail = TL_TILE_WIDTH;
    if (t->width > avail)
        return TL_ERR_NOTFOUND;
    {
        size_t off = 0;
        int how = avail == TL_TILE_WIDTH ? 1 : 0;
        rc = read_tile_rec(log->store, t->level, t->n, how, &v, &off, t->level == TL_TILE_ENTRIES);
        if (rc == TL_OK && t->level == TL_TILE_ENTRIES) {
            /* read without the store's checksum: every entry is hashed */
            tl_buf view = {v.data + off, v.len - off, v.len - off};
            size_t n = bundle_prefix(&view, t->width, NULL);
            rc = n ? bundle_check(log, t->n, 0, t->width, how, view.data) : TL_ERR_CORRUPT;
            if (rc == TL_OK)
                rc = tl_buf_add(out, view.data, n);
        } else if (rc == TL_OK) {
            size_t len = v.len - off;
            if (len % TL_HASH_SIZE || len < (size_t)t->width * TL_HASH_SIZE)
                rc = TL_ERR_CORRUPT;
            else
                rc = tl_buf_add(out, v.data + off, (size_t)t->width * TL_HASH_SIZE);
        }
    }
    if (rc == TL_ERR_NOTFOUND)
        rc = TL_ERR_CORRUPT; /* within the signed size it must exist */
    tl_buf_release(&v);
    return read_checked(log, rc, t->level == TL_TILE_ENTRIES ? "entry bundle" : "hash tile", t->n,
                        size);
}

int tl_log_entry(tl_log *log, uint64_t index, tl_buf *out)
{
    tl_buf v = TL_BUF_INIT;
    size_t last = 0, end, off = 0;
    uint64_t size = tl_log_signed_size(log);
    unsigned k = (unsigned)(index & 255);
    int how, rc;
    if (index >= size)
        return TL_ERR_RANGE;
    how = ((index >> 8) + 1) << 8 <= size ? 1 : 0;
    rc = read_tile_rec(log->store, TL_TILE_ENTRIES, index >> 8, how, &v, &off, 1);
    if (rc == TL_OK) {
        tl_buf view = {v.data + off, v.len - off, v.len - off};
        end = bundle_prefix(&view, k + 1, &last);
        rc = end ? bundle_check(log, index >> 8, k, k + 1, how, view.data) : TL_ERR_CORRUPT;
        if (rc == TL_OK)
            rc = tl_buf_add(out, view.data + last + 2, end - last - 2);
    } else if (rc == TL_ERR_NOTFOUND) {
        rc = TL_ERR_CORRUPT;
    }
    tl_buf_release(&v);
    return read_checked(log, rc, "entry", index, size);
}

int log_leaf_at(tl_store *s, uint64_t index, tl_hash *out, tl_buf *v)
{
    size_t off = 0, at;
    int rc = read_tile_rec(s, 0, index >> 8, 2, v, &off, 0);
    if (rc == TL_ERR_NOTFOUND)
        return TL_ERR_CORRUPT; /* named by the dedup index: must exist */
    if (rc != TL_OK)
        return rc;
    at = off + (size_t)(index & 255) * TL_HASH_SIZE;
    if ((v->len - off) % TL_HASH_SIZE || v->len < at + TL_HASH_SIZE)
        return TL_ERR_CORRUPT;
    memcpy(out->b, v->data + at, TL_HASH_SIZE);
    return TL_OK;
}

int log_dedup_verify(tl_store *s, const tl_buf *list, const tl_hash *leaf, uint64_t *index,
                     tl_buf *scratch)
{
    if (list->len == 0 || list->len % 8)
        return TL_ERR_CORRUPT;
    for (size_t i = 0; i < list->len; i += 8) {
        uint64_t idx = log_get_u64(list->data + i);
        tl_hash h;
        int rc = log_leaf_at(s, idx, &h, scratch);
        if (rc != TL_OK)
            return rc;
        if (memcmp(h.b, leaf->b, TL_HASH_SIZE) == 0) {
            *index = idx;
            return TL_OK;
        }
    }
    return TL_ERR_NOTFOUND; /* only other leaves share this key's prefix */
}

int tl_log_lookup(tl_log *log, const tl_hash *leaf, uint64_t *index)
{
    uint8_t k[LOG_KEY_MAX];
    tl_buf v = TL_BUF_INIT, scratch = TL_BUF_INIT;
    int rc = tl_store_get(log->store, k, log_key_leaf(k, leaf), &v);
    if (rc == TL_OK)
        rc = log_dedup_verify(log->store, &v, leaf, index, &scratch);
    tl_buf_release(&v);
    tl_buf_release(&scratch);
    return read_checked(log, rc, "dedup index entry for a leaf of", 0, tl_log_signed_size(log));
}

const char *tl_log_origin(tl_log *log)
{
    return log->origin;
}

const char *tl_log_vkey(tl_log *log)
{
    return log->vkey;
}

void tl_log_get_stats(tl_log *log, tl_log_stats *st)
{
    pthread_mutex_lock(&log->mu);
    *st = log->st;
    st->pool_depth = log->qlen;
    st->stopped = log->stopped;
    memcpy(st->stop_reason, log->stop_reason, sizeof(st->stop_reason));
    st->signed_size = log->latest.size;
    st->published_size = log->have_pub ? log->published.size : 0;
    pthread_mutex_unlock(&log->mu);
    st->dedup_filter_ready = log_dfilter_ready(log->dfilter);
}

void tl_log_process_setup(void)
{
    mallopt(M_ARENA_MAX, 2);
}
