/*
 * kind.h - entry kinds: what a log's entries are. A kind is fixed when the
 * log is made (tlogd init --kind), stored in it (layout.h, 01 'k'), and
 * implemented by one tl_kind, which the sequencer calls at fixed points of a
 * batch without knowing anything else about the kind:
 *
 *   submit thread   prepare   the submission's dedup key (if it has one) and,
 *                             when the entry is the submission itself, its
 *                             leaf hash
 *   sequencer       seal      for kinds whose entry depends on where and when
 *                             it is sequenced: the entry bytes from the
 *                             submission, its index and the log time, plus
 *                             any records the kind keeps beside the tree,
 *                             into the batch's one write (the same commit
 *                             point as the tree)
 *   sequencer       seal_end  after a batch's seals: records for the batch as
 *                             a whole (in the same write)
 *   sequencer       key_at    the dedup key of the submission stored at an
 *                             index (confirms a hit of the short dedup index)
 *   sequencer       same_*    whether a submission with the same key is the
 *                             same occurrence (then it gets the earlier
 *                             index) or a conflict (its whole group is
 *                             refused with TL_ERR_CONFLICT)
 *
 * A kind's HTTP endpoints are the frontend's (frontend/routes.c marks each
 * route with the kinds that serve it). Kinds: blob (kind_blob.c: opaque
 * bytes, POST /add); later audit (structured events) and Certificate
 * Transparency. Adding one is one file implementing this struct, and its
 * line in tl_kinds (kind.c).
 *
 * Every function may be called from several threads at once (a kind holds
 * no mutable state, or guards its own).
 */
#ifndef TL_LOG_KIND_H
#define TL_LOG_KIND_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "merkle/merkle.h"
#include "store/store.h"

#define TL_KIND_NAME_MAX 32
/* Largest submission of a kind that seals its entries (its submitter
 * checks its own, smaller, limits). */
#define TL_KIND_MAX_SUB (1u << 20)

typedef struct tl_kind tl_kind;

struct tl_kind {
    const char *name; /* as stored and as given to tlogd init --kind */
    /* The log's time in the records never decreases: when the clock reads
     * earlier than the last batch, the batch takes the last time again.
     * Without it (blob), a clock that steps back stops signing instead. */
    int repeat_time_on_clock_step;

    /* Submitting thread: *key gets the submission's dedup key; returns 1
     * (key set), 0 (none: never merged with another submission) or a
     * negative tl_err (the submission is refused with it). When seal is
     * NULL the entry is the submission and *leaf gets its leaf hash. */
    int (*prepare)(const tl_kind *k, tl_hasher *h, const uint8_t *sub, size_t len, tl_hash *key,
                   tl_hash *leaf);

    /* Sequencer thread, NULL when the entry is the submission: appends the
     * entry of the submission sequenced at index at time_ms to entry (at
     * most 65535 bytes), and may add the kind's own records to wb (keys
     * starting with TL_LAYOUT_KIND_PREFIX); h is the sequencer's hasher. */
    int (*seal)(const tl_kind *k, tl_hasher *h, const uint8_t *sub, size_t len, uint64_t index,
                uint64_t time_ms, tl_buf *entry, tl_batch *wb);

    /* Sequencer thread, NULL when not needed: after the seals of a batch
     * (not of an import), whose new entries are [first, end), all at the
     * log time time_ms: the kind's records for the batch as a whole, into
     * the same wb (so a kind can write one key a batch where seal would
     * write one an entry). */
    int (*seal_end)(const tl_kind *k, tl_hasher *h, uint64_t first, uint64_t end, uint64_t time_ms,
                    tl_batch *wb);

    /* Sequencer thread: the dedup key of the submission stored at index
     * (scratch may be used). TL_ERR_CORRUPT when it cannot be found. */
    int (*key_at)(const tl_kind *k, tl_store *s, uint64_t index, tl_hash *key, tl_buf *scratch);

    /* Sequencer thread, NULL when equal keys always mean the same
     * occurrence (blob: the key is the leaf hash). TL_OK when sub is the
     * same occurrence as the one stored at index / as the earlier pending
     * submission other, TL_ERR_CONFLICT when it is not, or a read error. */
    int (*same_stored)(const tl_kind *k, tl_store *s, uint64_t index, const uint8_t *sub,
                       size_t len);
    int (*same_pending)(const tl_kind *k, const uint8_t *sub, size_t len, const uint8_t *other,
                        size_t olen);

    /* Any thread, NULL when the dedup key is the leaf hash (blob): the
     * index of the entry with this leaf hash (the kind keeps an index of
     * its own), TL_ERR_NOTFOUND, or a read error. */
    int (*leaf_index)(const tl_kind *k, tl_store *s, const tl_hash *leaf, uint64_t *index);

    void *ctx; /* the kind's own, for its functions */
};

/* The kind that stores opaque bytes: the entry is the submission, its dedup
 * key its leaf hash (RFC 6962: SHA-256(0x00 || entry)). */
extern const tl_kind tl_kind_blob;

/* The kinds this build knows, NULL-terminated; tl_kind_find by name. */
extern const tl_kind *const tl_kinds[];
const tl_kind *tl_kind_find(const char *name);

#endif
