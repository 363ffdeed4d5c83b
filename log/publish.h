/*
 * publish.h - the publisher: after each publication of the log (a
 * checkpoint that met its quorum), copies the new hash tiles and entry
 * bundles, then the checkpoint, to every tile store (tilestore.h), so that
 * each tile store is a read replica that any static web server or CDN can
 * serve to clients, witnesses and auditors.
 *
 * Guarantees:
 *  - Order: a tile store gets a checkpoint only after every tile and bundle
 *    of its tree is in place there, and only by compare-and-swap with the
 *    checkpoint the publisher put there before (so two publishers cannot
 *    interleave, and a store never goes back).
 *  - A store holding other bytes at a path the log publishes, or a
 *    checkpoint that is not one of this log's own (by signature and by root),
 *    is a fork alarm: the log stops signing and the reason names the path.
 *  - Start-up catches up from the checkpoint a store holds; a store ahead of
 *    the log's published tree is refused (it is not this log's past).
 *  - Publication never blocks sequencing: it runs on its own thread, after
 *    the commits; I/O errors are retried with backoff (200 ms doubling to
 *    5 s), and the stores' lag is in the metrics.
 *  - The queue is the log itself: each round takes the latest published
 *    head, so what waits is at most the published tree beyond a store's
 *    checkpoint (tl_publisher_lag, in entries), never a list of heads. Its
 *    limit is TL_PUBLISH_LAG_MAX or what tl_publisher_set_queue_max sets: past it the frontend
 * refuses new writes with 503 + Retry-After until the stores catch up (tl_publisher_lagging).
 */
#ifndef TL_LOG_PUBLISH_H
#define TL_LOG_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "log/log.h"
#include "log/tilestore.h"

typedef struct tl_publisher tl_publisher;

/* Entries a store may lag behind the published tree before writes get
 * 503, by default (tlogd serve --publish-queue-max): 65536, 256 full tiles
 * and bundles, a few seconds of publication at tens of thousands of adds a
 * second. */
#define TL_PUBLISH_LAG_MAX 65536

/* Starts publishing log to stores[0..n) (borrowed; they must outlive the
 * publisher). err gets a one-line reason when a store cannot be caught up
 * (ahead of the log, or not this log's). */
int tl_publisher_start(tl_log *log, tl_tilestore *const *stores, size_t n, tl_publisher **out,
                       char *err, size_t cap);
/* The same for a log whose other nodes (docs/HA.md) publish to the same
 * stores: a store's checkpoint that this log signed is taken as it is, even
 * ahead of this node, and a swap that finds another node's checkpoint there
 * (signed by the log, with this node's root at its size) adopts it instead
 * of raising a fork alarm. Every other check stays. */
int tl_publisher_start_shared(tl_log *log, tl_tilestore *const *stores, size_t n,
                              tl_publisher **out, char *err, size_t cap);
/* Stops the thread (an upload in progress finishes) and frees. */
void tl_publisher_stop(tl_publisher *p);
/* The size of the checkpoint every store holds (the smallest of them). */
uint64_t tl_publisher_size(tl_publisher *p);
/* Waits until every store holds a checkpoint of at least size, or
 * timeout_ms: TL_OK, TL_ERR_TIMEOUT, or TL_ERR_STOPPED (a store failed for
 * good). Any thread. */
int tl_publisher_wait(tl_publisher *p, uint64_t size, unsigned timeout_ms);
/* The published size minus the smallest size a store holds (0 when every
 * store is up to date). Thread-safe. */
uint64_t tl_publisher_lag(tl_publisher *p);
/* The queue's limit in entries (TL_PUBLISH_LAG_MAX until set). */
void tl_publisher_set_queue_max(tl_publisher *p, uint64_t max);
/* 1 when a store lags more than the queue's limit, or stopped for good (a
 * fork alarm). Thread-safe. */
int tl_publisher_lagging(tl_publisher *p);
/* The checkpoint of the store that holds the smallest one: every store
 * holds it or a later one. *size gets its size (0 and an empty note when
 * some store holds none yet). Thread-safe. */
int tl_publisher_head(tl_publisher *p, tl_buf *note, uint64_t *size);
/* Called on the publisher's thread each time a store's checkpoint advanced
 * or a store failed for good (fn must only queue or wake). One listener;
 * NULL removes it. Thread-safe. */
typedef void tl_publisher_listener_fn(void *ctx);
void tl_publisher_set_listener(tl_publisher *p, tl_publisher_listener_fn *fn, void *ctx);
/* Appends Prometheus text lines (per store: the size it holds, its lag,
 * objects, bytes, failures, whether it failed for good; the lag of the
 * slowest store and its limit). Thread-safe. */
void tl_publisher_metrics(tl_publisher *p, tl_buf *out);

#endif
