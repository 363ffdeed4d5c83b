/*
 * log.h - the durable log: the tree in a tl_store, the sequencer that batches
 * submissions into it, and the signed heads.
 *
 * Guarantees (see docs/ARCHITECTURE.md):
 *  - One synced write batch per sequenced batch holds the entries, changed
 *    tiles, dedup index, the entry kind's records, tree state and the signed
 *    checkpoint + STH. That write is the commit point; no submission's
 *    callback fires before it returns.
 *  - Never signs a head its stored data does not reproduce, never two roots
 *    for one size, never a smaller size, never an earlier timestamp.
 *  - Open recomputes the root from the stored frontier and tiles and refuses
 *    (with a precise message) when it differs from the signed checkpoint.
 *  - On a failed commit the sequencer stops signing (TL_ERR_STOPPED to new
 *    submissions) rather than guess; restart recovers from the store.
 *
 * What the entries are is the log's kind (log/kind.h), fixed at create.
 * Proofs and tiles for answers: the read side, log/reader.h.
 *
 * Threads: submissions may come from any thread; their callbacks and the
 * listeners run on the committer thread (or the publisher's, for
 * tl_log_publish) and must not block. Read functions are thread-safe.
 */
#ifndef TL_LOG_LOG_H
#define TL_LOG_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "log/kind.h"
#include "log/layout.h"
#include "merkle/merkle.h"
#include "signer/logsigner.h"
#include "store/store.h"

typedef struct tl_log tl_log;

/* ---- the head guard: a say over each head before it is signed ---------- */

/* A batch as the sequencer has integrated it, before its head is signed:
 * the head before and after it, and what it adds (enough to replay it
 * elsewhere: tl_log_import). Borrowed for the call. */
typedef struct tl_head_batch {
    uint64_t prev_size, prev_ts;
    tl_hash prev_root;
    uint64_t size, ts; /* the head about to be signed: size, log time */
    tl_hash root;
    const uint8_t *entries; /* the new entries in index order, each as in an entry bundle */
    size_t entries_len;     /* (big-endian u16 length, bytes) */
    const uint8_t *keys;    /* per new entry: has_key u8 | dedup key 32 */
    const uint8_t *recs;    /* the kind's records of the batch (keys 0x10...): */
    size_t recs_len;        /* per record u16 klen | key | u32 vlen | value */
} tl_head_batch;

/* Called on the sequencer thread after a batch is integrated and before its
 * head is signed (docs/HA.md uses it to commit the head in etcd). TL_OK lets
 * the head be signed; anything else refuses the batch (its submissions get
 * TL_ERR_STOPPED, nothing of it is signed or written) and the log stops
 * signing, with why as the reason. Never called for imports. */
typedef struct tl_head_guard {
    int (*check)(void *ctx, const tl_head_batch *b, char *why, size_t cap);
    void *ctx;
} tl_head_guard;

typedef struct tl_log_config {
    const char *dir;            /* data folder made by tl_log_create */
    tl_store *store;            /* if not NULL, used instead of dir/db (tests; log takes it) */
    tl_logsigner *signer;       /* if not NULL, used instead of dir's key files (log takes it) */
    const tl_kind *kind;        /* if not NULL, the log's kind must be this one (by name), and a
                                   fresh store handed in is made for it; NULL: tl_kinds */
    size_t pool_max;            /* pending submissions before TL_ERR_BUSY (default 16384) */
    size_t batch_max;           /* submissions per batch (default 4096) */
    unsigned batch_interval_ms; /* max wait to fill a batch (default 25) */
    size_t max_entry;           /* bytes of an entry, 1..65535 (default 65535), when the
                                   entry is the submission (blob); a kind that seals its
                                   entries takes submissions up to TL_KIND_MAX_SUB */
    int publish_on_sign;        /* 1: every signed checkpoint is published at once (no witnesses) */
    uint64_t (*clock_ms)(void); /* wall clock in ms; NULL = real clock (tests override) */
    tl_head_guard guard;        /* check NULL: every head is signed (no guard) */
    int standby;                /* 1: open as a standby (tl_log_set_standby) */
} tl_log_config;

/* tlogd init: creates dir (must not hold a log), its database and keys
 * (log.key, log.vkey, rfc6962.key, rfc6962.pub), for entries of the named
 * kind (NULL: "blob"). *vkey receives the verifier key line (malloc'd). err
 * gets a one-line reason on failure. */
int tl_log_create(const char *dir, const char *origin, const char *kind, char **vkey, char *err,
                  size_t cap);

/* tlogd init --keys SRC: the same, with the keys of an existing log copied
 * from SRC (log.key, log.vkey, rfc6962.key, rfc6962.pub; refused unless
 * they are valid and name origin) instead of fresh ones, and the empty
 * head stamped 0: a node of that log that replays its batches from the
 * journal (docs/HA.md, "Rebuilding a node"). keys NULL: tl_log_create. */
int tl_log_create_keys(const char *dir, const char *origin, const char *kind, const char *keys,
                       char **vkey, char *err, size_t cap);

/* Opens the log, runs the recovery checks and starts the sequencer. The
 * entry kind is the one stored in the log (found in tl_kinds, or
 * cfg->kind). */
int tl_log_open(const tl_log_config *cfg, tl_log **out, char *err, size_t cap);
/* A temporal shard's end (tlogd init --closes-at, tlogd close): from ms on
 * (ms since the epoch) the log takes no new entry, every entry's log time
 * stays below ms, and its last signed checkpoint is its final one; reads go
 * on. Offline: TL_ERR_LOCKED while the log is served. A closing time that
 * has passed cannot be moved (TL_ERR_CONFLICT: a closed log stays closed);
 * one still ahead can be moved either way, but not into the past
 * (TL_ERR_INVALID; a time less than a second past means now). *was (when
 * not NULL) gets the previous closing time, 0 for none. */
int tl_log_set_closes_at(const char *dir, uint64_t ms, uint64_t *was, char *err, size_t cap);
/* The closing time read at open (ms), 0: the log never closes. */
uint64_t tl_log_closes_at(tl_log *log);

/* Finishes the current batch, stops the sequencer, closes the store. */
void tl_log_close(tl_log *log);
/* The log's entry kind (borrowed, static). */
const tl_kind *tl_log_kind(tl_log *log);

/* ---- writing ------------------------------------------------------------ */

/* One submission: the kind's bytes (for blob, the entry). */
typedef struct tl_sub {
    const void *data;
    size_t len;
    int own; /* 1: an event of the log's own access trail, which a closed log
                still records (a group is one when all of its are) */
} tl_sub;

/* What a submission's callback learns, per submission of its group. */
typedef struct tl_sub_result {
    uint64_t index;   /* its index (a duplicate: the earlier one's) */
    tl_hash leaf;     /* its leaf hash: for new entries, and for kinds without seal */
    int dup;          /* 1: the same occurrence as an earlier submission */
    uint64_t time_ms; /* the log time it was sealed at (new entries; 0 for duplicates) */
} tl_sub_result;

/* Called once per group, after the commit point: err is TL_OK (res[0..n)
 * filled), TL_ERR_CONFLICT (submission `bad` of the group has the key of an
 * earlier one but is not the same occurrence; res[bad].index names the
 * earlier one when it is stored; nothing of the group was recorded) or
 * TL_ERR_STOPPED (nothing of it recorded: the log stopped signing). res is
 * valid during the call. */
typedef void (*tl_submit_fn)(void *ctx, int err, const tl_sub_result *res, size_t n, size_t bad);

/* Queues a group of n (1..batch_max) submissions (copied), committed in one
 * batch or not at all. TL_OK (cb will be called once), TL_ERR_BUSY when the
 * pool cannot take all of them now, TL_ERR_INVALID / TL_ERR_TOOBIG for a
 * size (of a submission, or n), the kind's own refusal, or TL_ERR_STOPPED;
 * on error cb is never called. */
int tl_log_submit(tl_log *log, const tl_sub *subs, size_t n, tl_submit_fn cb, void *ctx);

/* One submission, with a callback of its own: err is TL_OK with the
 * entry's index (a duplicate gets its original index), or an error
 * (TL_ERR_STOPPED if the commit failed). Returns as tl_log_submit. */
typedef void (*tl_add_fn)(void *ctx, int err, uint64_t index, const tl_hash *leaf);
int tl_log_add(tl_log *log, const void *entry, size_t len, tl_add_fn cb, void *ctx);
/* Submissions waiting to be sequenced. */
size_t tl_log_pool_depth(tl_log *log);

/* ---- standing by: taking another node's batches ------------------------- */

/* A standby refuses submissions (TL_ERR_STOPPED: the frontend answers 503)
 * and takes imports; 0 makes it sequence again. Any thread. */
void tl_log_set_standby(tl_log *log, int standby);
int tl_log_standby(tl_log *log);

/* A batch sequenced elsewhere, to replay here (what a guard saw, as
 * tl_head_batch says): entries at the log's size onwards, their dedup keys,
 * the kind's records; the log integrates them with its own code and signs
 * the head only if the tree it gets is (size, root); time_ms must not be
 * before the last head's. */
typedef struct tl_import {
    uint64_t size, time_ms;
    tl_hash root;
    const uint8_t *entries; /* bundle encoding, as in tl_head_batch */
    size_t entries_len;
    const uint8_t *keys; /* per entry 1 + 32 bytes */
    const uint8_t *recs; /* as in tl_head_batch */
    size_t recs_len;
} tl_import;
/* Queues an import (copied); cb gets TL_OK after its commit, or an error
 * (the log then stops signing: TL_ERR_CONFLICT for another root or a size
 * that does not follow, TL_ERR_INVALID for a malformed import). Returns as
 * tl_log_submit. */
int tl_log_import(tl_log *log, const tl_import *imp, tl_submit_fn cb, void *ctx);

/* The size of the latest signed head at or below index: where the batch
 * that added entry index began (for index < the signed size).
 * TL_ERR_NOTFOUND when the log holds no such head. */
int tl_log_batch_start(tl_log *log, uint64_t index, uint64_t *start);
/* Asks the store to rewrite the files that hold key[0..klen), so that the
 * bytes of values it replaced leave them (an erasure's body; LevelDB:
 * leveldb_compact_range). TL_OK, or TL_ERR_INVALID when the store cannot. */
int tl_log_compact_key(tl_log *log, const void *key, size_t klen);
/* The same, later, on the log's compaction thread (started on first use):
 * for a caller that must not wait, such as the event loop after an
 * erasure's commit. At most TL_LOG_COMPACT_QUEUE keys wait; beyond that the
 * whole database is compacted once instead, so no key is forgotten. The
 * keys still waiting when the log closes are compacted by tl_log_close.
 * TL_OK, TL_ERR_INVALID (klen > TL_LOG_COMPACT_KEY_MAX), TL_ERR_NOMEM. */
#define TL_LOG_COMPACT_QUEUE 1024
#define TL_LOG_COMPACT_KEY_MAX 32
int tl_log_compact_later(tl_log *log, const void *key, size_t klen);
/* How many compactions the compaction thread has finished (tests). */
uint64_t tl_log_compactions(tl_log *log);

/* Throws away the sequencer's state and recovers it from the store, as an
 * open does (every check of tl_log_open), leaving the log a standby: what a
 * node does after its guard refused a head, before it follows or leads
 * again. Waits for the batches in hand. err gets a one-line reason (the log
 * then stays stopped). Not from a callback or listener. */
int tl_log_restart(tl_log *log, char *err, size_t cap);

/* ---- heads (tl_log_head: log/layout.h) ---------------------------------- */

/* The latest checkpoint that was published (met the quorum).
 * TL_ERR_NOTFOUND before the first. */
int tl_log_published(tl_log *log, tl_log_head *out);
/* The latest signed head (may not be published yet). */
int tl_log_latest_signed(tl_log *log, tl_log_head *out);
/* Size of the latest signed head. */
uint64_t tl_log_signed_size(tl_log *log);
/* The signed head for exactly this size, if one was signed. */
int tl_log_signed_at(tl_log *log, uint64_t size, tl_log_head *out);

/* Publishes the signed head of `size` with note = the log's signed note plus
 * cosignature lines. size must have been signed with the same body and be
 * >= the published size. Durable before it returns. Only for logs opened
 * without publish_on_sign (TL_ERR_INVALID otherwise). */
int tl_log_publish(tl_log *log, uint64_t size, const char *note, size_t len);

/* Called after each new signed head (on the committer thread) and each
 * publication (on the publisher's); must not block. At most 8 listeners
 * (the frontend's waiters, the cosigner, ...); register before traffic. */
typedef void (*tl_log_event_fn)(void *ctx, uint64_t signed_size, uint64_t published_size);
int tl_log_add_listener(tl_log *log, tl_log_event_fn fn, void *ctx);
/* Removes a listener; once it returns, fn is not running and never runs
 * again for ctx. Not from inside a listener. */
void tl_log_remove_listener(tl_log *log, tl_log_event_fn fn, void *ctx);

/* ---- reading (bounded by what the caller allows: pass the published size) */

/* Hash tile or entry bundle t as of tree size `size` (t->width must match
 * what that size has for a partial tile; a full tile needs 256). Appends the
 * bytes to out. TL_ERR_NOTFOUND if the tile is beyond size. An entry bundle
 * is served only if each of its entries hashes to its leaf hash in the
 * level-0 tile; one that does not gives TL_ERR_CORRUPT and stops signing
 * (as does any damage a read finds). */
int tl_log_tile(tl_log *log, const tl_tile *t, uint64_t size, tl_buf *out);
/* Entry at index (< size), checked against its leaf hash; appended to out. */
int tl_log_entry(tl_log *log, uint64_t index, tl_buf *out);
/* Index of an entry by its leaf hash: TL_ERR_NOTFOUND if never sequenced
 * (the kind's leaf_index, or for blob the dedup index, whose key is the
 * leaf hash). */
int tl_log_lookup(tl_log *log, const tl_hash *leaf, uint64_t *index);

/* The records an entry kind keeps beside the tree (keys starting with
 * TL_LAYOUT_KIND_PREFIX; TL_ERR_INVALID for any other key): one, or a range
 * in key order (log/kind_audit.c reads its bodies and indexes so). */
int tl_log_kind_get(tl_log *log, const void *key, size_t klen, tl_buf *out);
int tl_log_kind_range(tl_log *log, const void *lo, size_t lolen, const void *hi, size_t hilen,
                      tl_store_range_fn fn, void *ctx);

/* Every read above that finds stored data failing its own checks returns
 * TL_ERR_CORRUPT and stops signing (stats.stopped, stop_reason): a log must
 * not extend a tree it can no longer reproduce. Callers that check what they
 * read against hashes (e.g. entries against their leaf hashes) report a
 * mismatch here, with a one-line description, to the same effect. */
void tl_log_corrupt(tl_log *log, const char *what);
/* Stops signing for another reason found outside the log (a published copy
 * that differs from the log: a fork alarm), logged with why. */
void tl_log_stop_signing(tl_log *log, const char *why);

/* ---- identity and metrics ----------------------------------------------- */

const char *tl_log_origin(tl_log *log);
/* The log's verifier key line (borrowed, lives as long as log). */
const char *tl_log_vkey(tl_log *log);

typedef struct tl_log_stats {
    uint64_t entries_added; /* new entries sequenced since open */
    uint64_t duplicates;
    uint64_t conflicts; /* groups refused: a key of an earlier, different occurrence */
    uint64_t batches;
    uint64_t batch_entries_last;
    double commit_seconds_total;
    double commit_seconds_last;
    uint64_t signed_size;
    uint64_t published_size;
    size_t pool_depth;
    uint64_t dedup_store_reads;  /* dedup lookups that read the store */
    uint64_t dedup_filter_skips; /* ... that the dedup filter answered (certainly new) */
    int dedup_filter_ready;      /* the filter holds every stored key */
    int stopped;                 /* 1 when signing stopped after a failure */
    int standby;                 /* 1: a standby (tl_log_set_standby) */
    char stop_reason[160];
} tl_log_stats;
void tl_log_get_stats(tl_log *log, tl_log_stats *st);

/* Process-wide settings for a process that runs a log, made once before it
 * starts threads: glibc malloc limited to two arenas. Otherwise the
 * sequencer, committer, LevelDB compaction and network threads each get an
 * arena and keep freed memtable and batch blocks mapped in it (about 10 MiB
 * more anonymous memory in bench_log at 10^7 entries). */
void tl_log_process_setup(void);

#endif
