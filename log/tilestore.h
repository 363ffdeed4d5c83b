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
 * LevelDB, or memory for tests), tilestore_dir.c (file:///DIR: files at
 * the tlog-tiles paths, for any static web server) and tilestore_s3.c
 * (s3://BUCKET[/PREFIX]: an S3-compatible bucket). tilestore_url.c opens
 * one from the URL tlogd serve --publish takes (docs/PUBLISH.md).
 *
 * Paths: the tlog-tiles paths, and any other relative path of
 * [A-Za-z0-9._-] segments, none empty or starting with '.', at most
 * TL_TILESTORE_PATH_MAX bytes (tl_tilestore_path_ok): room for objects a
 * frontend names beside the tiles. Every implementation refuses the rest
 * with TL_ERR_INVALID.
 *
 * Threads: one publisher thread uses a tile store at a time.
 */
#ifndef TL_LOG_TILESTORE_H
#define TL_LOG_TILESTORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
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
    /* Makes every object put so far durable (NULL: put already does). The
     * publisher calls it before each cas_checkpoint, so a store may defer
     * work that many objects share (the folder store fsyncs each folder
     * once a round instead of once an object). */
    int (*sync)(tl_tilestore *ts);
    /* Replaces the object at path with data, whatever it held (stored
     * when it was not there): only for a private store's objects that an
     * erasure rewrites (docs/HA.md, "Erasure and the journal"), never for
     * the public ones, which are written once. NULL: the store cannot. */
    int (*replace)(tl_tilestore *ts, const char *path, const void *data, size_t len);
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
static inline int tl_tilestore_sync(tl_tilestore *ts)
{
    return ts->ops->sync ? ts->ops->sync(ts) : 0;
}
static inline int tl_tilestore_replace(tl_tilestore *ts, const char *path, const void *data,
                                       size_t len)
{
    return ts->ops->replace ? ts->ops->replace(ts, path, data, len) : TL_ERR_INVALID;
}
static inline void tl_tilestore_close(tl_tilestore *ts)
{
    if (ts)
        ts->ops->close(ts);
}

/* Objects in a key-value store (tilestore_kv.c): key "T" path for objects,
 * "C" for the checkpoint. Takes the store. */
int tl_tilestore_open_kv(tl_store *store, tl_tilestore **out);

#define TL_TILESTORE_PATH_MAX 512
/* 1 if path is one a tile store takes (see "Paths" above). */
int tl_tilestore_path_ok(const char *path);

/* The largest object any tile store reads back: an entry bundle of 256
 * entries of 65535 bytes, each with its 2-byte length, and then some. */
#define TL_TILESTORE_OBJECT_MAX ((size_t)17 << 20)

/* Files under dir (tilestore_dir.c), created if missing: each object at
 * dir/<path>, written to a temporary file, fsynced, moved into place
 * without replacing anything there (renameat2 RENAME_NOREPLACE, or link),
 * its folder fsynced by sync (once a round for all objects); the checkpoint at dir/checkpoint,
 * replaced by rename under an flock(2) of dir/.tlogd.lock held across the comparison, so two
 * processes on one folder cannot interleave. Files are 0644, folders 0755 (any web server can read
 * them). err gets a one-line reason. */
int tl_tilestore_open_dir(const char *dir, tl_tilestore **out, char *err, size_t cap);

/* An S3-compatible bucket (tilestore_s3.c). */
typedef struct tl_s3_config {
    const char *bucket;   /* required */
    const char *prefix;   /* key prefix without slashes at its ends, or NULL */
    const char *endpoint; /* http(s)://HOST[:PORT] (path-style requests), or NULL for
                           * AWS (https://BUCKET.s3.REGION.amazonaws.com) */
    const char *ca_file;  /* PEM trust anchors for https, or NULL: the system store */
    /* From the environment and the AWS files when NULL (tl_s3_config_from_env). */
    const char *region, *access_key, *secret_key, *session_token;
} tl_s3_config;
/* Opens the bucket: no request is sent but the probe of whether the server
 * enforces conditional writes (If-None-Match: * on a PUT of the object
 * ".tlogd/conditional-write-probe"), whose result is logged on stderr and
 * decides how write-once is done (docs/PUBLISH.md). err gets a reason. */
int tl_tilestore_open_s3(const tl_s3_config *cfg, tl_tilestore **out, char *err, size_t cap);

/* Checks a --publish URL: file:///DIR (an absolute path) or
 * s3://BUCKET[/PREFIX] (BUCKET a DNS-style bucket name; s3_endpoint, if not
 * NULL, an http:// or https:// URL of scheme, host and optional port).
 * TL_OK or TL_ERR_INVALID with a one-line reason. */
int tl_tilestore_url_check(const char *url, const char *s3_endpoint, char *err, size_t cap);
/* Opens the tile store a checked URL names; credentials and region of s3://
 * from the environment and the AWS files. err gets a one-line reason. */
int tl_tilestore_open_url(const char *url, const char *s3_endpoint, tl_tilestore **out, char *err,
                          size_t cap);

#endif
