/*
 * store.h - the small storage interface under the log: an ordered key-value
 * store with atomic, optionally synced, write batches.
 *
 * Two implementations: LevelDB (store_leveldb.c, the only file that includes
 * leveldb/c.h) and memory (store_mem.c, for tests). A fault-injecting wrapper
 * (store_fault.c) lets tests fail the Nth write, or apply it and then report
 * failure.
 *
 * Keys and values are opaque bytes; the key layout belongs to log.c.
 */
#ifndef TL_STORE_STORE_H
#define TL_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

typedef struct tl_store tl_store;
typedef struct tl_batch tl_batch; /* a write batch: puts and deletes, applied atomically */

struct tl_store_ops {
    /* Reads key into val (val is reset first). TL_ERR_NOTFOUND if absent. */
    int (*get)(tl_store *s, const void *key, size_t klen, tl_buf *val);
    /* Applies the batch atomically; with sync, durable before returning. */
    int (*write)(tl_store *s, tl_batch *b, int sync);
    void (*close)(tl_store *s);
    /* Optional: reads like get but skips the store's own checksum of the
     * value. Only for values the caller checks by SHA-256 against data read
     * with get (an entry bundle: every entry must hash to its leaf hash in
     * the level-0 hash tile); NULL means get. */
    int (*get_unverified)(tl_store *s, const void *key, size_t klen, tl_buf *val);
    /* Optional: calls fn for every key k with lo <= k < hi (bytewise), in no
     * particular order, as of one moment (writes after it may or may not be
     * seen). Stops early when fn returns non-zero and returns that value;
     * TL_OK at the end, or a store error. NULL: the store cannot scan. */
    int (*scan)(tl_store *s, const void *lo, size_t lolen, const void *hi, size_t hilen,
                int (*fn)(void *ctx, const void *key, size_t klen), void *ctx);
    /* Optional: calls fn for every key k with lo <= k < hi (bytewise), in
     * ascending key order, with its value, as of one moment. Stops early
     * when fn returns non-zero and returns that value; TL_OK at the end, or
     * a store error. For short ranges read at request time (an index seek
     * and a page of results); NULL: the store cannot. */
    int (*range)(tl_store *s, const void *lo, size_t lolen, const void *hi, size_t hilen,
                 int (*fn)(void *ctx, const void *key, size_t klen, const void *val, size_t vlen),
                 void *ctx);
};

struct tl_store {
    const struct tl_store_ops *ops;
};

tl_batch *tl_batch_new(void);
int tl_batch_put(tl_batch *b, const void *key, size_t klen, const void *val, size_t vlen);
int tl_batch_del(tl_batch *b, const void *key, size_t klen);
size_t tl_batch_count(const tl_batch *b);
size_t tl_batch_bytes(const tl_batch *b);
void tl_batch_clear(tl_batch *b);
void tl_batch_free(tl_batch *b);
/* Iterates the batch in order (for implementations). */
typedef int (*tl_batch_fn)(void *ctx, int is_put, const void *key, size_t klen, const void *val,
                           size_t vlen);
int tl_batch_iterate(const tl_batch *b, tl_batch_fn fn, void *ctx);

static inline int tl_store_get(tl_store *s, const void *key, size_t klen, tl_buf *val)
{
    return s->ops->get(s, key, klen, val);
}
static inline int tl_store_get_unverified(tl_store *s, const void *key, size_t klen, tl_buf *val)
{
    return s->ops->get_unverified ? s->ops->get_unverified(s, key, klen, val)
                                  : s->ops->get(s, key, klen, val);
}
typedef int (*tl_store_scan_fn)(void *ctx, const void *key, size_t klen);
/* TL_ERR_INVALID when the store has no scan. */
static inline int tl_store_scan(tl_store *s, const void *lo, size_t lolen, const void *hi,
                                size_t hilen, tl_store_scan_fn fn, void *ctx)
{
    return s->ops->scan ? s->ops->scan(s, lo, lolen, hi, hilen, fn, ctx) : TL_ERR_INVALID;
}
typedef int (*tl_store_range_fn)(void *ctx, const void *key, size_t klen, const void *val,
                                 size_t vlen);
/* TL_ERR_INVALID when the store has no range. */
static inline int tl_store_range(tl_store *s, const void *lo, size_t lolen, const void *hi,
                                 size_t hilen, tl_store_range_fn fn, void *ctx)
{
    return s->ops->range ? s->ops->range(s, lo, lolen, hi, hilen, fn, ctx) : TL_ERR_INVALID;
}
static inline int tl_store_write(tl_store *s, tl_batch *b, int sync)
{
    return s->ops->write(s, b, sync);
}
static inline void tl_store_close(tl_store *s)
{
    if (s)
        s->ops->close(s);
}

/* Opens (create=1: creates; create=0: must exist) a LevelDB store at path
 * with paranoid checks and checksum verification. TL_ERR_LOCKED when another
 * process holds it. err receives a one-line reason. */
int tl_store_open_leveldb(const char *path, int create, tl_store **out, char *err, size_t cap);
/* Compacts the LevelDB files that hold key[0..klen) down to the last
 * level, so that the bytes of older values of that key leave the folder
 * (leveldb_compact_range); key NULL: the whole database. TL_ERR_INVALID
 * when s is not a LevelDB store. */
int tl_store_leveldb_compact(tl_store *s, const void *key, size_t klen);
/* An empty in-memory store. */
int tl_store_open_mem(tl_store **out);

/* Fault injection: wraps inner (taking ownership). The Nth write from now
 * (1-based) fails: mode 0 = not applied, returns TL_ERR_IO; mode 1 = applied,
 * yet returns TL_ERR_IO. n = 0 disables. */
int tl_store_fault_wrap(tl_store *inner, tl_store **out);
void tl_store_fault_arm(tl_store *fault, unsigned long n, int mode);

#endif
