/*
 * reader.h - the log's read side, for one thread: hash tiles, entry bundles
 * and entries, leaf lookups, and inclusion and consistency proofs, all within
 * a tree size the caller names (the published size, for answers to clients).
 *
 * This is the one prover of tlogd: the frontend's answers, the publication
 * stage's consistency proofs for witnesses and the tests all build proofs
 * here. A reader keeps caches of what never changes once the log holds it:
 * node hashes of complete subtrees, full hash tiles, and leaf hash -> index
 * (the log gives a leaf one index, forever). Reads that find stored data
 * failing its checks return TL_ERR_CORRUPT and stop the log's signing, as
 * tl_log_tile does.
 *
 * Threads: a reader is used by one thread at a time; make one per thread.
 * The log must outlive its readers.
 */
#ifndef TL_LOG_READER_H
#define TL_LOG_READER_H

#include <stddef.h>
#include <stdint.h>

#include "log/log.h"
#include "merkle/merkle.h"

typedef struct tl_log_reader tl_log_reader;

/* How much a reader caches. */
enum tl_log_reader_size {
    TL_LOG_READER_SMALL, /* a few proofs now and then: about 200 KiB */
    TL_LOG_READER_LARGE, /* answers at load: about 31 MiB, and up to 64 MiB of entry bundles as
                            they are asked (see docs/LOG.md) */
};

int tl_log_reader_new(tl_log *log, enum tl_log_reader_size size, tl_log_reader **out);
void tl_log_reader_free(tl_log_reader *r);

/* Tile t (hash tile or entry bundle) of the tree of `size` (at most the
 * signed size): *data (borrowed, valid until the next call on r) and *len.
 * Full hash tiles and (large reader) full entry bundles are served from the
 * cache. TL_ERR_NOTFOUND when the tree
 * of that size has no such tile; other errors as tl_log_tile. */
int tl_log_reader_tile(tl_log_reader *r, const tl_tile *t, uint64_t size, const uint8_t **data,
                       size_t *len);
/* The same; when the bytes are a cached full entry bundle, *pin is set and
 * they stay valid (unchanged) until tl_log_reader_unpin(*pin), from any
 * thread, even after r is freed; else *pin is NULL and they are borrowed as
 * above. tl_log_reader_unpin(NULL) does nothing. */
int tl_log_reader_tile_pinned(tl_log_reader *r, const tl_tile *t, uint64_t size,
                              const uint8_t **data, size_t *len, void **pin);
void tl_log_reader_unpin(void *pin);

/* Inclusion proof of index in the tree of `size`, and consistency proof from
 * size1 to size2, reading tiles as of the tree `within` (>= the proof's
 * sizes, at most the signed size; the published size for answers, so that
 * the caches fill with tiles of the widest tree anyone asks about). proof
 * holds TL_MAX_PROOF hashes. TL_ERR_RANGE for sizes outside the tree. */
int tl_log_reader_inclusion(tl_log_reader *r, uint64_t within, uint64_t index, uint64_t size,
                            tl_hash *proof, size_t *len);
int tl_log_reader_consistency(tl_log_reader *r, uint64_t within, uint64_t size1, uint64_t size2,
                              tl_hash *proof, size_t *len);
/* Root of the tree of `size` (<= within). */
int tl_log_reader_root(tl_log_reader *r, uint64_t within, uint64_t size, tl_hash *root);

/* Index of a leaf hash (TL_ERR_NOTFOUND if never sequenced), through the
 * leaf cache; tl_log_reader_learn tells the cache what a caller already
 * knows (the indexes its own submissions got). */
int tl_log_reader_lookup(tl_log_reader *r, const tl_hash *leaf, uint64_t *index);
void tl_log_reader_learn(tl_log_reader *r, const tl_hash *leaf, uint64_t index);

#endif
