/*
 * ha.h - high availability of one log through a consensus store (etcd v3:
 * consensus.h): election, fencing, the journal that makes each batch durable
 * off the node before its head is committed, and standing by (docs/HA.md).
 *
 * Guarantees:
 *  - One sequencer at a time: a node sequences only while it holds the
 *    leader key (put with its lease, TTL lease_ms, renewed every third of
 *    it); the key's revision is its fencing token (the "term").
 *  - Each batch's head is committed by ONE transaction that compares the
 *    leader key's revision (still ours) and the head key's value (the head
 *    we committed last: nobody else advanced it), and only then signed
 *    (tl_head_guard). Before that transaction the batch (entries, dedup keys,
 *    the kind's records) is written to the journal store at
 *    journal/<term>/<size before it>, so every head in etcd can be replayed
 *    by any node from the stores. A refused or unanswered transaction
 *    stops the node's sequencing at once; it stands by.
 *  - A node leads only once its log holds exactly the head in etcd (it
 *    follows the journal up to it), and its takeover transaction records the
 *    term's first size ("terms" key), which tells followers which term's
 *    journal holds the batch after any size.
 *  - A standby follows every committed batch from the journal, replaying it
 *    through the log's own code and checking the root it reproduces.
 *
 * Threads: the controller's own thread (keepalive, campaign, follow); the
 * guard runs on the log's sequencer thread with a consensus handle of its
 * own.
 */
#ifndef TL_LOG_HA_H
#define TL_LOG_HA_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "log/consensus.h"
#include "log/log.h"
#include "log/tilestore.h"

typedef struct tl_ha tl_ha;

typedef struct tl_ha_config {
    const char *node;      /* this node's name (the leader key's value) */
    const char *prefix;    /* the log's keys: prefix "leader", "head", "terms";
                              NULL: "tlogd/<origin>/" */
    unsigned lease_ms;     /* default 1000 */
    tl_consensus *cons;    /* the controller's handle (taken) */
    tl_consensus *gcons;   /* the guard's handle (taken) */
    tl_tilestore *journal; /* borrowed: must outlive the controller */
    int never_lead;        /* 1: follow only (tlogd serve --standby) */
} tl_ha_config;

/* Makes the controller (nothing runs yet): its guard goes into the log's
 * config before the log opens. */
int tl_ha_new(const tl_ha_config *cfg, tl_ha **out, char *err, size_t cap);
tl_head_guard tl_ha_guard(tl_ha *ha);
/* Starts the controller's thread on the opened log (which must have been
 * opened with the guard and standby = 1). */
int tl_ha_start(tl_ha *ha, tl_log *log, char *err, size_t cap);
/* Stops the thread: it no longer renews the lease nor touches the log, and
 * the guard refuses heads once the lease's end is near. Before the log
 * closes (the guard must outlive the log's sequencer: free after it). */
void tl_ha_stop(tl_ha *ha);
/* Stops (if not yet), revokes the lease so that another node takes over at
 * once, and frees. */
void tl_ha_free(tl_ha *ha);
/* 1 while this node sequences. Any thread. */
int tl_ha_leader(tl_ha *ha);
/* Prometheus lines: leader, term, followed size, takeovers. */
void tl_ha_metrics(tl_ha *ha, tl_buf *out);

#endif
