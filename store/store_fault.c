/*
 * store_fault.c - a fault-injecting tl_store wrapper for tests. After
 * tl_store_fault_arm(s, n, mode) the nth write from then on fails once:
 * mode 0 - not applied, returns TL_ERR_IO (a write that failed);
 * mode 1 - applied to the inner store, yet returns TL_ERR_IO (a write whose
 *          acknowledgement was lost: the caller cannot tell it happened).
 * Reads and scans pass through. Thread-safe.
 */
#include "store/store.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct fault_store {
    tl_store base;
    tl_store *inner;
    pthread_mutex_t mu;
    unsigned long countdown; /* 0 = disarmed */
    int mode;
} fault_store;

static int fault_get(tl_store *s, const void *key, size_t klen, tl_buf *val)
{
    fault_store *f = (fault_store *)s;
    return tl_store_get(f->inner, key, klen, val);
}

static int fault_write(tl_store *s, tl_batch *b, int sync)
{
    fault_store *f = (fault_store *)s;
    int fire = 0, mode, rc;
    pthread_mutex_lock(&f->mu);
    if (f->countdown && --f->countdown == 0)
        fire = 1;
    mode = f->mode;
    pthread_mutex_unlock(&f->mu);
    if (!fire)
        return tl_store_write(f->inner, b, sync);
    if (mode == 1) {
        rc = tl_store_write(f->inner, b, sync);
        (void)rc;
    }
    return TL_ERR_IO;
}

static void fault_close(tl_store *s)
{
    fault_store *f = (fault_store *)s;
    tl_store_close(f->inner);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

static int fault_scan(tl_store *s, const void *lo, size_t lolen, const void *hi, size_t hilen,
                      tl_store_scan_fn fn, void *ctx)
{
    fault_store *f = (fault_store *)s;
    return tl_store_scan(f->inner, lo, lolen, hi, hilen, fn, ctx);
}

static int fault_range(tl_store *s, const void *lo, size_t lolen, const void *hi, size_t hilen,
                       tl_store_range_fn fn, void *ctx)
{
    fault_store *f = (fault_store *)s;
    return tl_store_range(f->inner, lo, lolen, hi, hilen, fn, ctx);
}

static const struct tl_store_ops fault_ops = {fault_get, fault_write, fault_close,
                                              NULL,      fault_scan,  fault_range};

int tl_store_fault_wrap(tl_store *inner, tl_store **out)
{
    fault_store *f = calloc(1, sizeof(*f));
    if (!f) {
        tl_store_close(inner);
        return TL_ERR_NOMEM;
    }
    f->base.ops = &fault_ops;
    f->inner = inner;
    pthread_mutex_init(&f->mu, NULL);
    *out = &f->base;
    return TL_OK;
}

void tl_store_fault_arm(tl_store *s, unsigned long n, int mode)
{
    fault_store *f = (fault_store *)s;
    pthread_mutex_lock(&f->mu);
    f->countdown = n;
    f->mode = mode;
    pthread_mutex_unlock(&f->mu);
}
