/*
 * store_leveldb.c - the LevelDB tl_store: the only file that includes
 * leveldb/c.h. Opened with paranoid_checks; every read verifies block
 * checksums (but get_unverified: entry bundles, whose entries the log
 * hashes instead); every synced write is durable (fsync) before it returns.
 * LevelDB's own file lock keeps a second process out (TL_ERR_LOCKED).
 * LevelDB error strings are translated to tl_err here and never leak out
 * except as the one-line reason of tl_store_open_leveldb.
 *
 * Tuning (see docs/LOG.md): no compression (entries are usually
 * incompressible hashes/certificates and the CPU is better spent hashing),
 * a 16-bit bloom filter so the dedup lookups of new entries (almost all
 * misses) rarely touch a data block (table files are read through mmap and
 * those blocks are not cached: a false positive costs a 16 KiB read and its
 * CRC32C check; 10 bits made that ~3% of all CPU at 10^7 entries), a
 * 32 MiB memtable (LevelDB's single compaction thread is what bounds the
 * sequencer at 10^7 entries: a bigger memtable means fewer, larger level-0
 * files and fewer bytes rewritten; 2 x 32 MiB with the immutable one still
 * leaves the process's own (anonymous) memory under 100 MiB), 16 MiB table
 * files (fewer compaction rounds), an 8 MiB block cache, and 8 KiB blocks:
 * a level-0 hash tile (8 KiB) then closes its block, where with 16 KiB it
 * shared one with the next 66 KB entry bundle, so every tile read checked
 * the CRC32C of ~74 KB (10% of tlogd's CPU under an audit). Those clean
 * page-cache pages of the mmap'ed tables count in RSS too.
 */
#include "store/store.h"

#include <leveldb/c.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LDB_WRITE_BUFFER (32u << 20)
#define LDB_MAX_FILE (16u << 20)
#define LDB_BLOCK_CACHE (8u << 20)
#define LDB_OPEN_FILES 512
#define LDB_BLOOM_BITS 16
#define LDB_BLOCK_SIZE (8u << 10)

typedef struct ldb_store {
    tl_store base;
    leveldb_t *db;
    leveldb_options_t *opt;
    leveldb_cache_t *cache;
    leveldb_filterpolicy_t *bloom;
    leveldb_readoptions_t *ropt;
    leveldb_readoptions_t *ropt_unverified; /* no block checksum: see store.h */
    leveldb_writeoptions_t *wopt_sync;
    leveldb_writeoptions_t *wopt_nosync;
    /* one write batch kept for reuse: it keeps its buffer (~1.3 MB for a
     * 4096-entry commit) instead of growing a new one by doubling each time */
    pthread_mutex_t wbmu;
    leveldb_writebatch_t *wb;
} ldb_store;

static int ldb_read(leveldb_t *db, const leveldb_readoptions_t *ro, const void *key, size_t klen,
                    tl_buf *val)
{
    char *err = NULL, *v;
    size_t vlen = 0;
    int rc;
    tl_buf_reset(val);
    v = leveldb_get(db, ro, key, klen, &vlen, &err);
    if (err) {
        rc = strstr(err, "Corruption") ? TL_ERR_CORRUPT : TL_ERR_IO;
        leveldb_free(err);
        return rc;
    }
    if (!v)
        return TL_ERR_NOTFOUND;
    rc = tl_buf_add(val, v, vlen);
    leveldb_free(v);
    return rc;
}

static int ldb_get(tl_store *s, const void *key, size_t klen, tl_buf *val)
{
    ldb_store *l = (ldb_store *)s;
    return ldb_read(l->db, l->ropt, key, klen, val);
}

/* LevelDB's CRC32C here is software (the Debian build has no hardware
 * path): ~45 us for a 66 KB entry bundle, a fifth of tlogd's CPU when an
 * auditor reads the log; the caller's SHA-256 check replaces it. */
static int ldb_get_unverified(tl_store *s, const void *key, size_t klen, tl_buf *val)
{
    ldb_store *l = (ldb_store *)s;
    return ldb_read(l->db, l->ropt_unverified, key, klen, val);
}

#define LDB_WB_KEEP (16u << 20) /* a cached batch that grew past this is freed */

typedef struct ldb_staging {
    leveldb_writebatch_t *wb;
    size_t bytes;
} ldb_staging;

static int ldb_stage(void *ctx, int is_put, const void *key, size_t klen, const void *val,
                     size_t vlen)
{
    ldb_staging *st = ctx;
    if (is_put)
        leveldb_writebatch_put(st->wb, key, klen, val, vlen);
    else
        leveldb_writebatch_delete(st->wb, key, klen);
    st->bytes += klen + vlen;
    return TL_OK;
}

static int ldb_write(tl_store *s, tl_batch *b, int sync)
{
    ldb_store *l = (ldb_store *)s;
    leveldb_writebatch_t *wb = NULL;
    ldb_staging st;
    char *err = NULL;
    int rc = TL_OK, cached = 0;
    if (pthread_mutex_trylock(&l->wbmu) == 0) {
        wb = l->wb; /* the committer's; another writer makes its own */
        cached = 1;
        leveldb_writebatch_clear(wb);
    } else {
        wb = leveldb_writebatch_create();
        if (!wb)
            return TL_ERR_NOMEM;
    }
    st.wb = wb;
    st.bytes = 0;
    tl_batch_iterate(b, ldb_stage, &st);
    leveldb_write(l->db, sync ? l->wopt_sync : l->wopt_nosync, wb, &err);
    if (err) {
        rc = TL_ERR_IO;
        leveldb_free(err);
    }
    if (cached) {
        leveldb_writebatch_clear(wb);
        if (st.bytes > LDB_WB_KEEP) { /* do not keep a huge buffer for good */
            leveldb_writebatch_t *fresh = leveldb_writebatch_create();
            if (fresh) {
                leveldb_writebatch_destroy(wb);
                l->wb = fresh;
            }
        }
        pthread_mutex_unlock(&l->wbmu);
    } else {
        leveldb_writebatch_destroy(wb);
    }
    return rc;
}

static void ldb_free_parts(ldb_store *l)
{
    if (l->db)
        leveldb_close(l->db);
    if (l->opt)
        leveldb_options_destroy(l->opt);
    if (l->cache)
        leveldb_cache_destroy(l->cache);
    if (l->bloom)
        leveldb_filterpolicy_destroy(l->bloom);
    if (l->ropt)
        leveldb_readoptions_destroy(l->ropt);
    if (l->ropt_unverified)
        leveldb_readoptions_destroy(l->ropt_unverified);
    if (l->wopt_sync)
        leveldb_writeoptions_destroy(l->wopt_sync);
    if (l->wopt_nosync)
        leveldb_writeoptions_destroy(l->wopt_nosync);
    if (l->wb) {
        leveldb_writebatch_destroy(l->wb);
        pthread_mutex_destroy(&l->wbmu);
    }
    free(l);
}

static void ldb_close(tl_store *s)
{
    ldb_free_parts((ldb_store *)s);
}

/* In key order, from the iterator's implicit snapshot; blocks are checked
 * and not added to the block cache. */
static int ldb_scan(tl_store *s, const void *lo, size_t lolen, const void *hi, size_t hilen,
                    tl_store_scan_fn fn, void *ctx)
{
    ldb_store *l = (ldb_store *)s;
    leveldb_readoptions_t *ro = leveldb_readoptions_create();
    leveldb_iterator_t *it;
    char *err = NULL;
    int rc = TL_OK;
    if (!ro)
        return TL_ERR_NOMEM;
    leveldb_readoptions_set_verify_checksums(ro, 1);
    leveldb_readoptions_set_fill_cache(ro, 0);
    it = leveldb_create_iterator(l->db, ro);
    for (leveldb_iter_seek(it, lo, lolen); rc == TL_OK && leveldb_iter_valid(it);
         leveldb_iter_next(it)) {
        size_t klen;
        const char *k = leveldb_iter_key(it, &klen);
        int c = memcmp(k, hi, klen < hilen ? klen : hilen);
        if (c > 0 || (c == 0 && klen >= hilen))
            break;
        rc = fn(ctx, k, klen);
    }
    leveldb_iter_get_error(it, &err);
    if (err) {
        rc = strstr(err, "Corruption") ? TL_ERR_CORRUPT : TL_ERR_IO;
        leveldb_free(err);
    }
    leveldb_iter_destroy(it);
    leveldb_readoptions_destroy(ro);
    return rc;
}

/* In key order, from the iterator's implicit snapshot, with checksums;
 * blocks go to the block cache (request-time reads of hot index ranges). */
static int ldb_range(tl_store *s, const void *lo, size_t lolen, const void *hi, size_t hilen,
                     tl_store_range_fn fn, void *ctx)
{
    ldb_store *l = (ldb_store *)s;
    leveldb_iterator_t *it = leveldb_create_iterator(l->db, l->ropt);
    char *err = NULL;
    int rc = TL_OK;
    if (!it)
        return TL_ERR_NOMEM;
    for (leveldb_iter_seek(it, lo, lolen); rc == TL_OK && leveldb_iter_valid(it);
         leveldb_iter_next(it)) {
        size_t klen, vlen;
        const char *k = leveldb_iter_key(it, &klen);
        const char *v;
        int c = memcmp(k, hi, klen < hilen ? klen : hilen);
        if (c > 0 || (c == 0 && klen >= hilen))
            break;
        v = leveldb_iter_value(it, &vlen);
        rc = fn(ctx, k, klen, v, vlen);
    }
    leveldb_iter_get_error(it, &err);
    if (err) {
        rc = strstr(err, "Corruption") ? TL_ERR_CORRUPT : TL_ERR_IO;
        leveldb_free(err);
    }
    leveldb_iter_destroy(it);
    return rc;
}

static const struct tl_store_ops ldb_ops = {ldb_get,  ldb_write, ldb_close, ldb_get_unverified,
                                            ldb_scan, ldb_range};

int tl_store_leveldb_compact(tl_store *s, const void *key, size_t klen)
{
    if (!s || s->ops != &ldb_ops)
        return TL_ERR_INVALID;
    if (!key)
        klen = 0; /* the C API reads a NULL bound as the end of the keys */
    leveldb_compact_range(((ldb_store *)s)->db, key, klen, key, klen);
    return TL_OK;
}

int tl_store_open_leveldb(const char *path, int create, tl_store **out, char *errbuf, size_t cap)
{
    ldb_store *l = calloc(1, sizeof(*l));
    char *err = NULL;
    int rc;
    if (!l) {
        snprintf(errbuf, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    l->base.ops = &ldb_ops;
    l->opt = leveldb_options_create();
    l->cache = leveldb_cache_create_lru(LDB_BLOCK_CACHE);
    l->bloom = leveldb_filterpolicy_create_bloom(LDB_BLOOM_BITS);
    l->ropt = leveldb_readoptions_create();
    l->ropt_unverified = leveldb_readoptions_create();
    l->wopt_sync = leveldb_writeoptions_create();
    l->wopt_nosync = leveldb_writeoptions_create();
    l->wb = leveldb_writebatch_create();
    if (l->wb)
        pthread_mutex_init(&l->wbmu, NULL);
    if (!l->opt || !l->cache || !l->bloom || !l->ropt || !l->ropt_unverified || !l->wopt_sync ||
        !l->wopt_nosync || !l->wb) {
        ldb_free_parts(l);
        snprintf(errbuf, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    leveldb_options_set_create_if_missing(l->opt, create ? 1 : 0);
    leveldb_options_set_error_if_exists(l->opt, create ? 1 : 0);
    leveldb_options_set_paranoid_checks(l->opt, 1);
    leveldb_options_set_compression(l->opt, leveldb_no_compression);
    leveldb_options_set_write_buffer_size(l->opt, LDB_WRITE_BUFFER);
    leveldb_options_set_max_file_size(l->opt, LDB_MAX_FILE);
    leveldb_options_set_max_open_files(l->opt, LDB_OPEN_FILES);
    leveldb_options_set_block_size(l->opt, LDB_BLOCK_SIZE);
    leveldb_options_set_cache(l->opt, l->cache);
    leveldb_options_set_filter_policy(l->opt, l->bloom);
    leveldb_readoptions_set_verify_checksums(l->ropt, 1);
    leveldb_readoptions_set_fill_cache(l->ropt, 1);
    leveldb_readoptions_set_verify_checksums(l->ropt_unverified, 0);
    leveldb_readoptions_set_fill_cache(l->ropt_unverified, 0);
    leveldb_writeoptions_set_sync(l->wopt_sync, 1);
    leveldb_writeoptions_set_sync(l->wopt_nosync, 0);

    l->db = leveldb_open(l->opt, path, &err);
    if (err) {
        if (strstr(err, "IO error: lock ")) {
            rc = TL_ERR_LOCKED;
            snprintf(errbuf, cap, "database %s is in use by another process (%s)", path, err);
        } else if (strstr(err, "does not exist")) {
            rc = TL_ERR_NOTFOUND;
            snprintf(errbuf, cap, "no database at %s", path);
        } else if (strstr(err, "exists")) {
            rc = TL_ERR_CONFLICT;
            snprintf(errbuf, cap, "a database already exists at %s", path);
        } else if (strstr(err, "Corruption")) {
            rc = TL_ERR_CORRUPT;
            snprintf(errbuf, cap, "database %s is corrupt: %s", path, err);
        } else {
            rc = TL_ERR_IO;
            snprintf(errbuf, cap, "cannot open database %s: %s", path, err);
        }
        leveldb_free(err);
        l->db = NULL;
        ldb_free_parts(l);
        return rc;
    }
    *out = &l->base;
    return TL_OK;
}
