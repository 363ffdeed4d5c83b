/*
 * sequencer.h - the sequencer as log.c starts it: the bounded submission
 * pool, the thread that stages batches and the thread that commits them.
 * Internal to log/; the public face is tl_log_submit / tl_log_add (log.h).
 *
 * The sequencer owns everything it changes: the frontier, the partial tiles
 * and bundle, the recent commits' dedup keys, and whether the log still
 * signs. It learns the recovered state once, at start, and tells the log
 * each committed head through the events below; it never calls into log.c.
 */
#ifndef TL_LOG_SEQUENCER_H
#define TL_LOG_SEQUENCER_H

#include <stddef.h>
#include <stdint.h>

#include "log/dedup_filter.h"
#include "log/kind.h"
#include "log/layout.h"
#include "log/log.h"
#include "signer/logsigner.h"
#include "store/store.h"

typedef struct tl_seq tl_seq;

typedef struct tl_seq_stats {
    uint64_t entries_added, duplicates, conflicts, batches, batch_entries_last;
    double commit_seconds_total, commit_seconds_last;
    uint64_t dedup_store_reads, dedup_filter_skips;
} tl_seq_stats;

typedef struct tl_seq_events {
    /* After each commit, before the groups' callbacks: the new signed head
     * (the callee takes it) and, with publish_on_sign, its published copy
     * (taken too; NULL otherwise). */
    void (*committed)(void *ctx, tl_log_head *head, tl_log_head *published);
    /* After the callbacks of a commit. */
    void (*after)(void *ctx);
    void *ctx;
} tl_seq_events;

typedef struct tl_seq_config {
    tl_store *store;      /* borrowed */
    const tl_kind *kind;  /* borrowed */
    tl_logsigner *signer; /* borrowed */
    tl_dfilter *dfilter;  /* borrowed; NULL: every dedup lookup reads the store */
    const char *origin;   /* borrowed */
    size_t pool_max, batch_max, max_sub;
    unsigned interval_ms;
    int publish_on_sign;
    uint64_t (*clock_ms)(void);
    /* the recovered state: tree state and the latest signed timestamp */
    const tl_frontier *frontier;
    uint64_t last_ts;
    tl_seq_events events;
    tl_head_guard guard; /* check NULL: none */
    int standby;         /* start as a standby (tl_seq_set_standby) */
    uint64_t closes_at;  /* ms; 0: never. From then on every new entry is refused
                            (TL_ERR_CLOSED) but the log's own access trail (tl_sub.own):
                            no other entry gets this log time or later */
} tl_seq_config;

/* Loads the partial tiles and bundle of the recovered state (checking them
 * against it) and starts the threads. err gets a one-line reason. */
int tl_seq_start(const tl_seq_config *cfg, tl_seq **out, char *err, size_t cap);
/* Finishes the batches in hand (the pool is answered TL_ERR_STOPPED if the
 * log stopped) and frees. */
void tl_seq_stop(tl_seq *s);

/* Queues a group of n (1..batch_max) submissions, committed in one batch or
 * not at all. TL_OK (cb will be called once), TL_ERR_BUSY when the pool
 * cannot take all of them now, TL_ERR_INVALID / TL_ERR_TOOBIG for a
 * submission's size, the kind's prepare error, or TL_ERR_STOPPED; on error
 * cb is never called. */
int tl_seq_submit(tl_seq *s, const tl_sub *subs, size_t n, tl_submit_fn cb, void *ctx);
/* The same for one submission, with a callback of its own (tl_log_add). */
int tl_seq_add(tl_seq *s, const void *data, size_t len, tl_add_fn cb, void *ctx);
size_t tl_seq_pool_depth(tl_seq *s);
/* A batch of another node to replay (tl_log_import): queued alone, integrated
 * without the kind's seal and the guard, signed only if it reproduces its
 * head. Returns as tl_seq_submit. */
int tl_seq_import(tl_seq *s, const tl_import *imp, tl_submit_fn cb, void *ctx);
/* Standby: submissions are refused with TL_ERR_STOPPED, imports taken. */
void tl_seq_set_standby(tl_seq *s, int standby);
int tl_seq_standby(tl_seq *s);

/* Stops signing for good (the first reason wins; logged to stderr). */
void tl_seq_halt(tl_seq *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* 1 (and the reason) when signing stopped. */
int tl_seq_stopped(tl_seq *s, char *reason, size_t cap);
void tl_seq_get_stats(tl_seq *s, tl_seq_stats *st);

/* Which of the indexes of a dedup index value (u64s) holds a submission
 * with this key (kind->key_at): TL_OK and *index, TL_ERR_NOTFOUND if none,
 * or a read error. */
int tl_seq_dedup_find(const tl_kind *kind, tl_store *s, const tl_buf *list, const tl_hash *key,
                      uint64_t *index, tl_buf *scratch);

#endif
