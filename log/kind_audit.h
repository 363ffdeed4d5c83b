/*
 * kind_audit.h - the audit kind (log/kind.h): entries are the records of
 * structured events ({"v":1,"time":...,"commitment":...}, audit/record.h);
 * the events themselves, with their salts, are kept beside the tree in the
 * same store and the same commits, with indexes for queries.
 *
 * A submission is encoded by tl_audit_sub_encode on the submitting side
 * (the frontend): the canonical event, its salt and commitment, its
 * idempotency key (SHA-256 over submitter, source and id; none without an
 * id), the values of the indexed members, and for an erasure the event it
 * erases. The sequencer seals it at its index and the log time: the record
 * becomes the entry, and the kind writes, in the same batch,
 *
 *   10 'b' index(u64)              the body: state u8 (0 event, 1 erased) | key 32 |
 *                                  log time u64 | event: salt 32 | canonical event
 *                                              | erased: index of the erasure u64
 *   10 'l' leaf[0..16)             the index with that leaf hash (get-proof-by-hash)
 *   10 'p' f H8(value) ~first(u64) the index, one key a batch for each value of an
 *                                  indexed member f its events hold: 'a' actor.id,
 *                                  'c' action, 't' resource.type, 'r' resource.id,
 *                                  'o' outcome; H8 = the first 8 bytes of
 *                                  SHA-256(value); the value lists the indexes of
 *                                  the batch's events with that value, highest
 *                                  first, as LEB128 varints of index - first (first,
 *                                  the lowest, ends the list); ~first so that a scan
 *                                  in key order yields the newest first
 *   10 'i' f H8(value) ~index(u64)  (empty) the same index one key an event, as
 *                                  logs written before the packed one hold it (read,
 *                                  merged with 10 'p'; no longer written)
 *   10 'm' time(u64) first(u64)    (empty) the time index: the first index of each
 *                                  batch, at its log time (a batch's entries share one)
 *
 * and for an erasure, the erased event's body replaced by its tombstone
 * (same key and time, the erasure's index). The log time of index i is in
 * its body; "since T" is one seek in the time index, confirmed by the
 * bodies on either side of the index it names (logs written before the
 * time index, or a run whose key is missing, fall back to a binary search
 * over the bodies, so every log answers alike). Idempotency keys
 * go through the sequencer's dedup index; a repeat is the same occurrence
 * when its canonical event is byte for byte the stored one.
 */
#ifndef TL_LOG_KIND_AUDIT_H
#define TL_LOG_KIND_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "audit/event.h"
#include "audit/record.h"
#include "common/buf.h"
#include "log/kind.h"
#include "log/log.h"

extern const tl_kind tl_kind_audit;

/* What a submission carries (the submitting side fills it). */
typedef struct tl_audit_sub {
    const tl_audit_event *ev;    /* validated, canonical (borrowed) */
    uint8_t salt[TL_AUDIT_SALT]; /* random, drawn by the submitter */
    int erase;                   /* 1: ev is an erasure of `target` */
    uint64_t target;             /* the erased event's index */
    tl_hash target_key;          /* ... its idempotency key and log time (from its body) */
    uint64_t target_time;
} tl_audit_sub;

/* The idempotency key of an event: SHA-256 over its submitter, source and
 * id (length-prefixed); 0 when it has no id (then it has no key). An
 * erasure's key is fixed by its target, so one event is erased once. */
int tl_audit_key(tl_hasher *h, const tl_audit_sub *s, tl_hash *key);
/* Appends the submission's bytes (what tl_log_submit takes) to out. */
int tl_audit_sub_encode(tl_hasher *h, const tl_audit_sub *s, tl_buf *out);

/* A stored body, read back. */
typedef struct tl_audit_body {
    int erased;
    uint64_t erased_by; /* when erased */
    uint64_t time_ms;
    tl_hash key;
    uint8_t salt[TL_AUDIT_SALT];
    const uint8_t *canon; /* borrowed from the buffer it was read into */
    size_t canon_len;
} tl_audit_body;

/* The body of index (read into buf, which the body borrows). TL_ERR_NOTFOUND
 * when the log has no body there (beyond the tree, or not an audit log). */
int tl_audit_body_read(tl_log *log, uint64_t index, tl_buf *buf, tl_audit_body *b);
/* After an erasure of index is committed: has the log's compaction thread
 * rewrite the files that still hold the erased body and salt
 * (tl_log_compact_later), so that their bytes leave the log's folder. */
int tl_audit_compact_body(tl_log *log, uint64_t index);

/* The bodies of indexes first .. first+n-1 in order, in one scan of the
 * store: fn gets each (the body borrows bytes valid during the call only);
 * non-zero from fn stops with that value. TL_ERR_NOTFOUND when one is
 * missing, TL_ERR_CORRUPT when one is malformed, as tl_audit_body_read. */
typedef int (*tl_audit_body_fn)(void *ctx, uint64_t index, const tl_audit_body *b);
int tl_audit_bodies_each(tl_log *log, uint64_t first, uint64_t n, tl_audit_body_fn fn, void *ctx);

/* 1 when the record (key, value; as in tl_head_batch's records) is the
 * tombstone an erasure puts over the body of *target, else 0: the
 * journal's copy of that body is to be erased too (docs/HA.md). */
int tl_audit_rec_tombstone(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                           uint64_t *target);

/* A query: every member given must match; since/until are log times in
 * ms (since inclusive, until exclusive); results come newest first, below
 * the index `below` (the cursor; the tree size for a first page). */
typedef struct tl_audit_query {
    tl_audit_str actor, action, resource_type, resource_id, outcome;
    int has_since, has_until;
    int64_t since, until;
    uint64_t below;
    size_t limit;
} tl_audit_query;

/* Called per result (the body valid during the call); non-zero stops. */
typedef int (*tl_audit_hit_fn)(void *ctx, uint64_t index, const tl_audit_body *b);

/* Runs q over the first `size` entries (the published tree). *more is set
 * when results beyond the last one given may exist. Erased events are left
 * out. */
int tl_audit_query_run(tl_log *log, uint64_t size, const tl_audit_query *q, tl_audit_hit_fn fn,
                       void *ctx, int *more);

#endif
