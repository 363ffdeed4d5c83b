/*
 * cosigner.h - the log's side of witnessing (C2SP tlog-witness client).
 *
 * After each new signed checkpoint, sends it to every witness of the policy
 * that has a URL, concurrently, with a consistency proof from the size that
 * witness last cosigned; collects cosignature/v1 lines; when the cosigning
 * witnesses satisfy the policy's quorum, publishes the checkpoint (with the
 * cosignatures appended) through tl_log_publish. Runs on its own thread;
 * one request per witness per checkpoint (intermediate checkpoints are
 * skipped when witnesses are slower than the sequencer).
 */
#ifndef TL_LOG_COSIGNER_H
#define TL_LOG_COSIGNER_H

#include <stddef.h>

#include "common/buf.h"
#include "log/log.h"
#include "signer/policy.h"

typedef struct tl_cosigner tl_cosigner;

/* Validates the policy for this log (a `log` line, if any, must be this log's
 * key; witness keys must be cosignature/v1; the quorum must be reachable with
 * the witnesses that have URLs) and starts. The policy is borrowed and must
 * outlive the cosigner. ca_file, if not NULL, is a PEM file of CA
 * certificates that alone verify https:// witnesses (tlogd --witness-ca;
 * the caller checks it is readable, see common/cafile.h); NULL means the
 * system store. Peer and host verification are always on. err receives a
 * one-line reason on failure. */
int tl_cosigner_start(tl_log *log, const tl_policy *policy, const char *ca_file, tl_cosigner **out,
                      char *err, size_t cap);
/* Stops the thread and frees. */
void tl_cosigner_stop(tl_cosigner *c);
/* Appends Prometheus text lines (per witness: latency, failures, last
 * cosigned size). Thread-safe. */
void tl_cosigner_metrics(tl_cosigner *c, tl_buf *out);

/* One witness of the policy and the figures tl_cosigner_metrics prints. */
typedef struct tl_cosigner_witness {
    const char *name;       /* the policy's, borrowed (outlives the cosigner) */
    const tl_verifier *key; /* cosignature/v1, borrowed likewise */
    int has_url;            /* 0: the cosigner never asks it */
    uint64_t requests, failures, conflicts, cosignatures;
    uint64_t cosigned_size;           /* last size it cosigned */
    double latency_last, latency_sum; /* seconds */
    long last_status;                 /* HTTP status of the last answer (0: none yet) */
} tl_cosigner_witness;
/* Copies the figures of at most cap witnesses, in policy order, into out;
 * returns how many witnesses the policy has. Thread-safe. */
size_t tl_cosigner_witnesses(tl_cosigner *c, tl_cosigner_witness *out, size_t cap);
/* The policy the cosigner was started with. */
const tl_policy *tl_cosigner_policy(const tl_cosigner *c);

#endif
