/*
 * tilestore.h - where a log's public form goes: the C2SP tlog-tiles objects
 * (hash tiles, entry bundles, at their tlog-tiles paths, e.g.
 * "tile/0/x001/234", "tile/entries/005.p/17") and the checkpoint. Every
 * object but the checkpoint is written once and never changes (a partial
 * tile has its own path, so it too is written once); the checkpoint is only
 * ever replaced by a compare-and-swap, as Sunlight's and Tessera's object
 * store backends do. The log's state (sequencing, dedup, the tree) stays in
 * its tl_store; a tile store receives what the publisher (publish.h) copies
 * out of it after each publication, tiles and bundles first, the checkpoint
 * last, so a tile store never holds a checkpoint whose tree it lacks.
 *
 * Implementations: tilestore_kv.c (objects in any tl_store: a second
 * LevelDB, or memory for tests). A directory served by any web server and
 * an S3-compatible bucket implement the same operations.
 *
 * Threads: one publisher thread uses a tile store at a time.
 */
#ifndef TL_LOG_TILESTORE_H
#define TL_LOG_TILESTORE_H

#include <stddef.h>

#include "common/buf.h"
#include "store/store.h"

typedef struct tl_tilestore tl_tilestore;

struct tl_tilestore_ops {
    /* Stores data at path unless the path holds it already: TL_OK (stored,
     * or already there with these very bytes), TL_ERR_CONFLICT (already
     * there with other bytes: the published log forked, or the store is
     * damaged), or an I/O error (the publisher retries). */
    int (*put)(tl_tilestore *ts, const char *path, const void *data, size_t len);
    /* Reads the object at path into out (reset first); TL_ERR_NOTFOUND. */
    int (*get)(tl_tilestore *ts, const char *path, tl_buf *out);
    /* Replaces the checkpoint if the stored one is exactly old[0..oldlen)
     * (old NULL: none is stored). TL_ERR_CONFLICT when the stored one is
     * something else. */
    int (*cas_checkpoint)(tl_tilestore *ts, const char *old, size_t oldlen, const char *note,
                          size_t len);
    /* The stored checkpoint into out; TL_ERR_NOTFOUND when none is. */
    int (*get_checkpoint)(tl_tilestore *ts, tl_buf *out);
    void (*close)(tl_tilestore *ts);
};

struct tl_tilestore {
    const struct tl_tilestore_ops *ops;
    const char *name; /* for log lines and metrics, e.g. "kv", "file:///srv/log" */
};

static inline int tl_tilestore_put(tl_tilestore *ts, const char *path, const void *data, size_t len)
{
    return ts->ops->put(ts, path, data, len);
}
static inline int tl_tilestore_get(tl_tilestore *ts, const char *path, tl_buf *out)
{
    return ts->ops->get(ts, path, out);
}
static inline int tl_tilestore_cas_checkpoint(tl_tilestore *ts, const char *old, size_t oldlen,
                                              const char *note, size_t len)
{
    return ts->ops->cas_checkpoint(ts, old, oldlen, note, len);
}
static inline int tl_tilestore_get_checkpoint(tl_tilestore *ts, tl_buf *out)
{
    return ts->ops->get_checkpoint(ts, out);
}
static inline void tl_tilestore_close(tl_tilestore *ts)
{
    if (ts)
        ts->ops->close(ts);
}

/* Objects in a key-value store (tilestore_kv.c): key "T" path for objects,
 * "C" for the checkpoint. Takes the store. */
int tl_tilestore_open_kv(tl_store *store, tl_tilestore **out);

#endif
