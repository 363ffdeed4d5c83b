/*
 * tilestore_kv.c - a tile store (tilestore.h) in a key-value store: object
 * at path under key 'T' path, the checkpoint under key 'C'. Write-once and
 * compare-and-swap are a read and a synced write under one mutex.
 */
#include "log/tilestore.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#define PATH_MAX_LEN 512

typedef struct kv {
    tl_tilestore pub;
    tl_store *store;
    pthread_mutex_t mu;
} kv;

static size_t object_key(char *k, const char *path)
{
    size_t n = strlen(path);
    if (n == 0 || n > PATH_MAX_LEN)
        return 0;
    k[0] = 'T';
    memcpy(k + 1, path, n);
    return n + 1;
}

static int write_one(kv *s, const void *key, size_t klen, const void *data, size_t len)
{
    tl_batch *b = tl_batch_new();
    int rc = b ? tl_batch_put(b, key, klen, data, len) : TL_ERR_NOMEM;
    if (rc == TL_OK)
        rc = tl_store_write(s->store, b, 1);
    tl_batch_free(b);
    return rc;
}

static int kv_put(tl_tilestore *ts, const char *path, const void *data, size_t len)
{
    kv *s = (kv *)ts;
    char k[PATH_MAX_LEN + 1];
    size_t kl = object_key(k, path);
    tl_buf v = TL_BUF_INIT;
    int rc;
    if (!kl)
        return TL_ERR_INVALID;
    pthread_mutex_lock(&s->mu);
    rc = tl_store_get(s->store, k, kl, &v);
    if (rc == TL_OK)
        rc = v.len == len && memcmp(v.data, data, len) == 0 ? TL_OK : TL_ERR_CONFLICT;
    else if (rc == TL_ERR_NOTFOUND)
        rc = write_one(s, k, kl, data, len);
    pthread_mutex_unlock(&s->mu);
    tl_buf_release(&v);
    return rc;
}

static int kv_get(tl_tilestore *ts, const char *path, tl_buf *out)
{
    kv *s = (kv *)ts;
    char k[PATH_MAX_LEN + 1];
    size_t kl = object_key(k, path);
    if (!kl)
        return TL_ERR_INVALID;
    return tl_store_get(s->store, k, kl, out);
}

static int kv_cas_checkpoint(tl_tilestore *ts, const char *old, size_t oldlen, const char *note,
                             size_t len)
{
    kv *s = (kv *)ts;
    tl_buf v = TL_BUF_INIT;
    int rc;
    pthread_mutex_lock(&s->mu);
    rc = tl_store_get(s->store, "C", 1, &v);
    if (rc == TL_ERR_NOTFOUND)
        rc = old ? TL_ERR_CONFLICT : TL_OK;
    else if (rc == TL_OK)
        rc = old && v.len == oldlen && memcmp(v.data, old, oldlen) == 0 ? TL_OK : TL_ERR_CONFLICT;
    if (rc == TL_OK)
        rc = write_one(s, "C", 1, note, len);
    pthread_mutex_unlock(&s->mu);
    tl_buf_release(&v);
    return rc;
}

static int kv_get_checkpoint(tl_tilestore *ts, tl_buf *out)
{
    return tl_store_get(((kv *)ts)->store, "C", 1, out);
}

static void kv_close(tl_tilestore *ts)
{
    kv *s = (kv *)ts;
    tl_store_close(s->store);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int kv_replace(tl_tilestore *ts, const char *path, const void *data, size_t len)
{
    kv *s = (kv *)ts;
    char k[PATH_MAX_LEN + 1];
    size_t kl = object_key(k, path);
    int rc;
    if (!kl)
        return TL_ERR_INVALID;
    pthread_mutex_lock(&s->mu);
    rc = write_one(s, k, kl, data, len);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static const struct tl_tilestore_ops kv_ops = {
    kv_put, kv_get, kv_cas_checkpoint, kv_get_checkpoint, kv_close, NULL, kv_replace};

int tl_tilestore_open_kv(tl_store *store, tl_tilestore **out)
{
    kv *s = calloc(1, sizeof(*s));
    *out = NULL;
    if (!s) {
        tl_store_close(store);
        return TL_ERR_NOMEM;
    }
    s->pub.ops = &kv_ops;
    s->pub.name = "kv";
    s->store = store;
    pthread_mutex_init(&s->mu, NULL);
    *out = &s->pub;
    return TL_OK;
}
