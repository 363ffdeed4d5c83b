/*
 * dedup_filter.c - a fixed-size in-memory filter over the dedup keys in the
 * store, so that the sequencer skips the store lookup of a new leaf whose
 * key the store certainly lacks. Almost every submitted entry is new, and a
 * LevelDB miss walks both memtables, every level-0 file and one file per
 * level: at 10^7 entries those lookups were half of the sequencer's CPU.
 *
 * A blocked Bloom filter: 512-bit blocks (one cache line), DF_K bits of
 * one block per key. It has no false negatives once ready:
 *   - the sequencer adds every dedup key it writes, from the moment the
 *     filter exists (before the scan starts);
 *   - a thread started at open adds every key the store holds (one scan of
 *     the dedup key range, as of one moment), then marks the filter ready.
 * A key committed before the scan's moment is in the scan; one committed
 * after it was added by the sequencer. Until ready (and for good if the scan
 * fails or the store cannot scan) every answer is "maybe", so every lookup
 * goes to the store as before; start-up does not wait for the scan.
 *
 * Memory is fixed (no copy of the tree that grows with the log); the
 * false-positive rate grows with the log instead, and a false positive
 * costs only the store lookup that would have been made anyway.
 */
#include "log/dedup_filter.h"
#include "log/layout.h"

#include <pthread.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DF_K 4
#define BLOCK_WORDS 8 /* 512 bits */

struct tl_dfilter {
    uint64_t *w;
    size_t nblocks; /* a power of two */
    tl_store *store;
    pthread_t th;
    int started;
    int ready; /* atomic: every stored key is in */
    int stop;  /* atomic: the scan should end */
};

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* The key's block and its DF_K bit numbers (0..511) in it. */
static uint64_t *key_block(const tl_dfilter *f, const uint8_t *key, size_t klen, unsigned bit[])
{
    uint64_t x = klen, h;
    for (size_t i = 0; i < klen; i++)
        x = (x << 8 | (x >> 56)) ^ key[i];
    h = mix64(x);
    for (int j = 0; j < DF_K; j++)
        bit[j] = (unsigned)(h >> (9 * j)) & 511;
    return f->w + (size_t)((h >> 40) & (f->nblocks - 1)) * BLOCK_WORDS;
}

tl_dfilter *tl_dfilter_new(size_t bytes)
{
    tl_dfilter *f = calloc(1, sizeof(*f));
    size_t nb = 1;
    if (!f)
        return NULL;
    while (nb * 2 * BLOCK_WORDS * 8 <= bytes)
        nb *= 2;
    /* calloc of this size maps zero pages: memory is touched as keys come */
    f->w = calloc(nb * BLOCK_WORDS, sizeof(uint64_t));
    if (!f->w) {
        free(f);
        return NULL;
    }
    f->nblocks = nb;
    return f;
}

void tl_dfilter_add(tl_dfilter *f, const uint8_t *key, size_t klen)
{
    unsigned bit[DF_K];
    uint64_t *b;
    if (!f)
        return;
    b = key_block(f, key, klen, bit);
    /* the scan thread and the sequencer may set bits of one word at once */
    for (int j = 0; j < DF_K; j++)
        __atomic_fetch_or(&b[bit[j] >> 6], 1ULL << (bit[j] & 63), __ATOMIC_RELAXED);
}

int tl_dfilter_may_have(const tl_dfilter *f, const uint8_t *key, size_t klen)
{
    unsigned bit[DF_K];
    const uint64_t *b;
    if (!f || !__atomic_load_n(&f->ready, __ATOMIC_ACQUIRE))
        return 1;
    b = key_block(f, key, klen, bit);
    for (int j = 0; j < DF_K; j++)
        if (!(__atomic_load_n(&b[bit[j] >> 6], __ATOMIC_RELAXED) & (1ULL << (bit[j] & 63))))
            return 0;
    return 1;
}

int tl_dfilter_ready(const tl_dfilter *f)
{
    return f && __atomic_load_n(&f->ready, __ATOMIC_ACQUIRE);
}

static int scan_one(void *ctx, const void *key, size_t klen)
{
    tl_dfilter *f = ctx;
    if (__atomic_load_n(&f->stop, __ATOMIC_RELAXED))
        return 1;
    tl_dfilter_add(f, key, klen);
    return 0;
}

static void *scan_main(void *arg)
{
    tl_dfilter *f = arg;
    int rc = tl_store_scan(f->store, tl_layout_dedup_lo, 1, tl_layout_dedup_hi, 1, scan_one, f);
    if (rc == TL_OK)
        __atomic_store_n(&f->ready, 1, __ATOMIC_RELEASE);
    else if (rc != 1 && rc != TL_ERR_INVALID)
        fprintf(stderr,
                "tlogd: dedup filter not built (%s); every dedup lookup reads the "
                "store\n",
                tl_strerror(rc));
    return NULL;
}

int tl_dfilter_start(tl_dfilter *f, tl_store *store)
{
    if (!f || f->started)
        return TL_ERR_INVALID;
    f->store = store;
    if (pthread_create(&f->th, NULL, scan_main, f) != 0)
        return TL_ERR_NOMEM;
    f->started = 1;
    return TL_OK;
}

void tl_dfilter_free(tl_dfilter *f)
{
    if (!f)
        return;
    if (f->started) {
        __atomic_store_n(&f->stop, 1, __ATOMIC_RELAXED);
        pthread_join(f->th, NULL);
    }
    free(f->w);
    free(f);
}
