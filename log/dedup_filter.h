/*
 * dedup_filter.h - a fixed-size in-memory filter over the dedup index keys
 * in the store (dedup_filter.c): "certainly not stored" for most new keys,
 * so the sequencer skips their store lookup. No false negatives once ready.
 */
#ifndef TL_LOG_DEDUP_FILTER_H
#define TL_LOG_DEDUP_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define TL_DFILTER_BYTES (4u << 20)

typedef struct tl_dfilter tl_dfilter;

/* NULL when out of memory (then every lookup goes to the store). */
tl_dfilter *tl_dfilter_new(size_t bytes);
/* key: a whole dedup index key (tl_layout_key_dedup). f may be NULL. */
void tl_dfilter_add(tl_dfilter *f, const uint8_t *key, size_t klen);
/* 0 only if the store certainly lacks key: the filter is ready and the key
 * was never added. */
int tl_dfilter_may_have(const tl_dfilter *f, const uint8_t *key, size_t klen);
int tl_dfilter_ready(const tl_dfilter *f);
/* Starts the thread that adds every dedup index key in store, then marks
 * the filter ready. */
int tl_dfilter_start(tl_dfilter *f, tl_store *store);
/* Stops the scan (if running) and frees f. */
void tl_dfilter_free(tl_dfilter *f);

#endif
