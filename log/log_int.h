/*
 * log_int.h - internals shared by log.c (open, recovery, reads, heads) and
 * sequencer.c (the pool and the batch commit). Not a public header.
 *
 * Key layout in the store (integers big-endian; rationale in docs/LOG.md):
 *   0x01 'o'                 origin (written once, by init)
 *   0x01 's'                 tree state: size u64 | root 32 | frontier popcount(size)*32
 *   0x01 'P'                 published head: size u64 | note (+ cosignatures)
 *   0x01 't' L(u8)           the current partial hash tile of level L:
 *                              n u64 | width*32 bytes (width 0..255)
 *   0x01 'e'                 the current partial entry bundle: n u64 | (u16 len | entry)*
 *   0x02 leafhash[0..8)      dedup index: u64 index of every leaf whose hash
 *                            starts with these 8 bytes (almost always one);
 *                            a hit is verified against the stored leaf hash
 *                            in the level-0 tile, so strong dedup does not
 *                            rest on the short key
 *   0x03 ~p(u64) kind [L]    the append-only stream, newest first: p is the
 *                            tree size at which the record came to be, so
 *                            every commit writes keys below all older ones
 *                            and LevelDB compactions never rewrite old data:
 *        kind 'H'            signed head of size p:
 *                              ts_ms u64 | root 32 | u16 sthlen | sth | note
 *        kind 'e'            full entry bundle (p >> 8) - 1
 *        kind 't' L          full hash tile ((p >> 8(L+1)) - 1) of level L
 */
#ifndef TL_LOG_LOG_INT_H
#define TL_LOG_LOG_INT_H

#include <pthread.h>

#include "log/log.h"
#include "signer/checkpoint.h"
#include "signer/note.h"
#include "signer/sth.h"

#define LOG_TILE_LEVELS 8 /* 8 tile levels of height 8 cover 64-bit sizes */
#define LOG_MAX_LISTENERS 8
#define LOG_DEDUP_PREFIX 8 /* leaf-hash bytes in a dedup key */
/* Staged batches: while the committer writes batch k, the sequencer may
 * stage k+1 .. k+LOG_STAGES-1 (absorbs slow fsyncs and stalls of LevelDB
 * writes). The dedup of a batch sees the store up to k-1 and the recent
 * commits' leaves in memory: nrecent must be >= LOG_STAGES. */
#define LOG_STAGES 3

/* One pending submission; owned by the pool, then by the sequencer. */
typedef struct log_item {
    struct log_item *next;
    tl_add_fn cb;
    void *ctx;
    tl_hash leaf;
    uint64_t index;
    struct log_item *dup_of; /* earlier new item of the same batch with this leaf */
    int is_new;
    uint8_t *coll;   /* first occurrence: the store's dedup value for this */
    size_t coll_len; /* leaf's key when it named only other leaves (rare) */
    uint64_t t_enq;  /* CLOCK_MONOTONIC ms at submission */
    size_t len;
    uint8_t data[];
} log_item;

/* The new leaves of one recent commit: the store cannot show the commit in
 * flight to the sequencer's dedup lookups, this can. */
typedef struct log_recent_leaf {
    tl_hash leaf;
    uint64_t index;
} log_recent_leaf;

typedef struct log_recent {
    uint64_t gen; /* commit generation this holds; UINT64_MAX = empty */
    size_t n;
    log_recent_leaf *e; /* batch_max slots */
} log_recent;

/* Slot of the hash index over the recent leaves (linear probing). */
typedef struct log_rslot {
    uint64_t tag;       /* first 8 bytes of the leaf hash */
    log_recent_leaf *p; /* NULL = empty */
} log_rslot;

typedef struct log_tile_buf {
    uint64_t n;     /* tile index at this level */
    unsigned width; /* hashes held, 0..255 (a full tile is flushed at once) */
    int dirty;      /* changed in the current batch */
    uint8_t hashes[TL_TILE_WIDTH * TL_HASH_SIZE];
} log_tile_buf;

/* A staged batch, handed from the sequencer to the committer thread. */
typedef struct log_dfilter log_dfilter;

typedef struct log_stage {
    log_item **items; /* batch_max slots */
    size_t n;
    tl_batch *wb; /* the batch's one write */
    int commit;   /* 1: wb and head hold a commit; 0: duplicates only */
    int fail;     /* 1: staging failed (the log is stopped) */
    tl_log_head head, pubcopy;
    size_t fresh, dups;
    uint64_t dedup_reads, dedup_skips; /* store lookups made and skipped */
    double t0;
} log_stage;

struct tl_log {
    /* configuration and identity (immutable after open) */
    tl_store *store;
    size_t pool_max, batch_max, max_entry;
    unsigned interval_ms;
    int publish_on_sign;
    uint64_t (*clock_ms)(void);
    tl_signer *signer;
    tl_verifier *verifier;
    tl_sth_key *sth;
    char *vkey;
    char origin[TL_ORIGIN_MAX + 1];

    /* mu guards everything in this block */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* wakes the sequencer */
    log_item *qhead, *qtail;
    size_t qlen;
    int closing;
    int stopped;
    char stop_reason[160];
    tl_log_head latest;    /* latest signed head (cache of "H"+size) */
    tl_log_head published; /* latest published head; size valid if have_pub */
    int have_pub;
    tl_log_stats st;

    pthread_mutex_t pubmu; /* serializes publications (0x01 'P' writes) */

    tl_log_event_fn lfn[LOG_MAX_LISTENERS];
    void *lctx[LOG_MAX_LISTENERS];
    int nlisteners;

    /* pipeline: the sequencer stages batch k+1 while the committer writes
     * batch k. stage_full and a_done are guarded by mu. */
    log_stage stage[LOG_STAGES];
    int stage_full[LOG_STAGES];
    int a_done;
    pthread_cond_t cv_stage;
    pthread_t committer;

    /* sequencer-thread state */
    pthread_t thread;
    int thread_started;
    uint64_t staged_gen; /* commits staged so far */
    uint64_t last_ts;    /* timestamp of the last staged head */
    tl_hasher *hasher;
    tl_frontier fr;
    log_tile_buf tiles[LOG_TILE_LEVELS];
    uint64_t bundle_n;
    unsigned bundle_count;
    int bundle_dirty;
    tl_buf bundle;
    tl_batch *wb; /* the write batch being staged (a stage's wb) */
    int emit_err;
    log_recent *recent; /* ring of nrecent, indexed by gen % nrecent */
    size_t nrecent;
    log_rslot *rtab; /* hash index over every leaf in recent[] */
    size_t rmask;
    log_item **sorted; /* batch_max slots: first occurrences, by leaf hash */
    log_item **dedup;  /* open-addressing table, dedup_cap slots */
    size_t dedup_cap;
    log_dfilter *dfilter; /* NULL: every dedup lookup reads the store */
};

/* ---- the dedup filter (dedup_filter.c) ---- */
#define LOG_DF_BYTES (4u << 20)
/* NULL when out of memory (then every lookup goes to the store). */
log_dfilter *log_dfilter_new(size_t bytes);
/* key: a whole dedup key (log_key_leaf). f may be NULL. */
void log_dfilter_add(log_dfilter *f, const uint8_t *key, size_t klen);
/* 0 only if the store certainly lacks key: the filter is ready and the key
 * was never added. */
int log_dfilter_may_have(const log_dfilter *f, const uint8_t *key, size_t klen);
int log_dfilter_ready(const log_dfilter *f);
/* Starts the thread that adds every dedup key in store, then marks ready. */
int log_dfilter_start(log_dfilter *f, tl_store *store);
/* Stops the scan (if running) and frees f. */
void log_dfilter_free(log_dfilter *f);

/* The calling thread's hasher (created on first use, freed at thread exit);
 * NULL when out of memory. */
tl_hasher *log_thread_hasher(void);

/* ---- keys ---- */
#define LOG_KEY_MAX 33
extern const uint8_t log_key_state[2], log_key_pub[2], log_key_origin[2], log_key_bpart[2];
size_t log_key_tile(uint8_t *k, int level, uint64_t n); /* full tile */
size_t log_key_tpart(uint8_t *k, int level);            /* partial tile */
size_t log_key_bundle(uint8_t *k, uint64_t n);          /* full bundle */
size_t log_key_leaf(uint8_t *k, const tl_hash *leaf);
/* Leaf-hash bytes in a dedup key: LOG_DEDUP_PREFIX; tests lower it (before
 * creating a log) to exercise keys shared by several leaves. */
extern unsigned log_dedup_prefix;
/* The stored leaf hash at index (level-0 tile), v is scratch. */
int log_leaf_at(tl_store *s, uint64_t index, tl_hash *out, tl_buf *v);
/* Which of the indexes of a dedup value (u64s) holds leaf: TL_OK and
 * *index, TL_ERR_NOTFOUND if none, or a read error. */
int log_dedup_verify(tl_store *s, const tl_buf *list, const tl_hash *leaf, uint64_t *index,
                     tl_buf *scratch);
size_t log_key_head(uint8_t *k, uint64_t size);
void log_put_u64(uint8_t *p, uint64_t v);
uint64_t log_get_u64(const uint8_t *p);

/* Encodes a signed head record into out (reset first). */
int log_head_encode(const tl_log_head *h, tl_buf *out);
/* Encodes the tree state record. */
int log_state_encode(const tl_frontier *f, const tl_hash *root, tl_buf *out);
/* Copies a head (deep). */
int log_head_copy(tl_log_head *dst, const tl_log_head *src);

/* Signs the head of (size, root) at ts: fills h (note, sth). */
int log_sign_head(tl_log *log, uint64_t size, const tl_hash *root, uint64_t ts, tl_log_head *h);
/* Sets stopped (first reason wins) and logs it to stderr. Caller holds mu. */
void log_stop_locked(tl_log *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_fire_listeners(tl_log *log);

/* sequencer.c */
int log_seq_start(tl_log *log);
void log_seq_stop(tl_log *log);

#endif
