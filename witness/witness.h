/*
 * witness.h - the state machine of tlog-witness (C2SP tlog-witness,
 * "add-checkpoint"), independent of HTTP.
 *
 * Guarantees:
 *  - The compare with the stored state and the durable write of the new state
 *    are one atomic step: requests are serialized through one commit queue
 *    (group commit: the first waiting request becomes the leader, checks every
 *    queued request in arrival order against the state, writes one synced
 *    batch, then wakes the others). No answer precedes the sync that made it
 *    true, so the stored size never decreases and a size is never cosigned
 *    with two roots.
 *  - A conflicting checkpoint that carries a valid log signature (same size
 *    as the cosigned one with another root, or a failed consistency proof) is
 *    stored as evidence together with the cosigned checkpoint it conflicts
 *    with, in the same synced batch, and reported on stderr.
 *
 * Store layout (tl_store, keys binary, O = SHA-256(origin)):
 *   "ws" O          state: size (u64 BE) | root (32) | checkpoint note as served
 *   "wc" O          evidence count (u64 BE)
 *   "we" O seq      evidence record seq (u64 BE, from 0): JSON object
 *   "wd" O H        evidence dedup marker, H = SHA-256(submitted note)
 *
 * Threads: every function is thread-safe.
 */
#ifndef TL_WITNESS_H
#define TL_WITNESS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "store/store.h"
#include "merkle/merkle.h"
#include "signer/note.h"

/* C2SP tlog-witness: "The client MUST NOT send more than 63 consistency
 * proof lines." */
#define TL_WITNESS_MAX_PROOF 63
/* Largest add-checkpoint body accepted (old line + 63 proof lines + note). */
#define TL_WITNESS_MAX_BODY (64 * 1024)
/* Keys trusted for one origin (lines of the logs file with that origin). */
#define TL_WITNESS_MAX_KEYS 8
/* Evidence records served per log (the most recent ones). */
#define TL_WITNESS_MAX_EVIDENCE_SERVED 256

typedef struct tl_witness tl_witness;

/* Creates a witness over store (borrowed; must outlive the witness) signing
 * with key (borrowed; TL_KEY_COSIG_V1). */
int tl_witness_new(tl_store *store, const tl_signer *key, tl_witness **out);
void tl_witness_free(tl_witness *w);

/* Adds a trusted log key (TL_KEY_ED25519) for origin, with an optional URL
 * (the log's base URL, polled by pull mode). Loads the stored state. */
int tl_witness_add_log(tl_witness *w, const char *origin, const char *vkey, const char *url,
                       char *err, size_t cap);
/* Reads a logs file: one log a line, "<origin> <vkey> [<url>]"; blank lines
 * and lines starting with '#' are skipped. err names the line on failure. */
int tl_witness_load_logs(tl_witness *w, const char *path, char *err, size_t cap);

/* The answer to one add-checkpoint request. */
typedef struct tl_witness_resp {
    int status;        /* HTTP status: 200, 400, 403, 404, 409, 422, 500 */
    const char *ctype; /* static content type */
    tl_buf body;       /* response body (caller releases) */
} tl_witness_resp;

/* Handles one POST add-checkpoint body (C2SP tlog-witness): parses strictly,
 * verifies, commits durably and fills resp. now is the cosignature time in
 * seconds since the epoch (0 = the real clock). Blocks until its group's
 * sync. resp->body must be initialised (TL_BUF_INIT); the caller releases it.
 * Returns TL_OK when resp is filled (whatever the status), or TL_ERR_NOMEM. */
int tl_witness_add_checkpoint(tl_witness *w, const uint8_t *body, size_t len, uint64_t now,
                              tl_witness_resp *resp);

/* Latest cosigned state of origin: TL_OK, or TL_ERR_NOTFOUND for an unknown
 * origin (size 0 and the empty root when it never cosigned). note (may be
 * NULL) receives the served checkpoint (empty when none). */
int tl_witness_state(tl_witness *w, const char *origin, uint64_t *size, tl_hash *root,
                     tl_buf *note);
/* The same by the lowercase hex SHA-256 of the origin (64 characters), as in
 * GET /<hex>/checkpoint. TL_ERR_NOTFOUND when unknown or never cosigned. */
int tl_witness_checkpoint_by_hash(tl_witness *w, const char *hex, tl_buf *note);
/* Appends the evidence of origin <hex> as a JSON array (oldest first, at
 * most TL_WITNESS_MAX_EVIDENCE_SERVED). TL_ERR_NOTFOUND for an unknown log. */
int tl_witness_evidence_by_hash(tl_witness *w, const char *hex, tl_buf *out);
/* Total evidence records for origin (0 if none; -1 if unknown). */
long tl_witness_evidence_count(tl_witness *w, const char *origin);

/* Logs with a URL, for pull mode: returns the count, and fills origin/url of
 * log i (borrowed; valid while w lives). */
size_t tl_witness_nlogs(const tl_witness *w);
int tl_witness_log_at(const tl_witness *w, size_t i, const char **origin, const char **url);

/* Appends Prometheus text (requests by status, cosignatures, evidence, sizes). */
void tl_witness_metrics(tl_witness *w, tl_buf *out);

/* ---- pull mode (pull.c) ------------------------------------------------- */

typedef struct tl_witness_puller tl_witness_puller;

/* Starts a thread that polls every log with a URL every interval_ms: fetches
 * <url>/checkpoint, builds the consistency proof from the stored size out of
 * the log's tiles (<url>/tile/...), and submits it through
 * tl_witness_add_checkpoint. ca_file, if not NULL, is a PEM file of CA
 * certificates that alone verify https:// logs (tlog-witness --log-ca;
 * borrowed, must outlive the puller); NULL means the system store. Peer and
 * host verification are always on. */
int tl_witness_puller_start(tl_witness *w, const char *ca_file, unsigned interval_ms,
                            tl_witness_puller **out);
void tl_witness_puller_stop(tl_witness_puller *p);
void tl_witness_puller_metrics(tl_witness_puller *p, tl_buf *out);

#endif
