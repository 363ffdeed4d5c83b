/*
 * consensus.h - the little of etcd v3 that high availability needs (log/ha.c,
 * docs/HA.md): leases, keys with revisions, and one atomic compare-then-put
 * transaction. Implementations: consensus_etcd.c (etcd's JSON gateway over
 * libcurl) and consensus_mem.c (in memory, with a clock the tests move).
 *
 * Semantics are etcd's: every change raises the store's revision by one; a
 * key remembers the revision that created it and the one that last changed
 * it; a key put with a lease is deleted when the lease ends (not renewed
 * within its TTL). A transaction applies all of its puts if every compare
 * holds, nothing otherwise, as one step of the store's linear history.
 *
 * Errors: TL_ERR_CONFLICT only when the store answered that a compare did not
 * hold; TL_ERR_NOTFOUND for a missing key or an ended lease; TL_ERR_NETWORK or
 * TL_ERR_TIMEOUT when no answer came (a transaction may then have been
 * applied or not: the caller must find out, never assume).
 *
 * Threads: a handle is used by one thread at a time (log/ha.c gives each of
 * its threads a handle of its own).
 */
#ifndef TL_LOG_CONSENSUS_H
#define TL_LOG_CONSENSUS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

typedef struct tl_consensus tl_consensus;

/* What a compare looks at: the revision that last changed the key (0 for a
 * missing key), the one that created it (0 for a missing key), or its value
 * (a missing key equals nothing). */
enum tl_cons_target { TL_CONS_MOD, TL_CONS_CREATE, TL_CONS_VALUE };

typedef struct tl_cons_cmp {
    const char *key;
    enum tl_cons_target target;
    int64_t rev;       /* TL_CONS_MOD, TL_CONS_CREATE: must equal */
    const void *value; /* TL_CONS_VALUE: must equal value[0..vlen) */
    size_t vlen;
} tl_cons_cmp;

typedef struct tl_cons_put {
    const char *key;
    const void *value;
    size_t vlen;
    int64_t lease; /* 0: none */
} tl_cons_put;

/* A key as read: value, create and mod revisions, and its lease (0: none). */
typedef struct tl_cons_kv {
    tl_buf value;
    int64_t create_rev, mod_rev, lease;
} tl_cons_kv;

struct tl_consensus_ops {
    /* A new lease of ttl_ms (the store may round it up: *granted_ms). */
    int (*lease_grant)(tl_consensus *c, unsigned ttl_ms, int64_t *lease, unsigned *granted_ms);
    /* Renews it: TL_OK, TL_ERR_NOTFOUND when it has ended. */
    int (*lease_keepalive)(tl_consensus *c, int64_t lease);
    /* Ends it now (its keys go). */
    int (*lease_revoke)(tl_consensus *c, int64_t lease);
    /* Reads key: TL_OK, or TL_ERR_NOTFOUND. */
    int (*get)(tl_consensus *c, const char *key, tl_cons_kv *out);
    /* If every compare holds, applies every put: TL_OK, *rev (if not NULL)
     * the store's revision after it; TL_ERR_CONFLICT when a compare failed
     * (nothing was put). */
    int (*txn)(tl_consensus *c, const tl_cons_cmp *cmps, size_t ncmps, const tl_cons_put *puts,
               size_t nputs, int64_t *rev);
    void (*close)(tl_consensus *c);
};

struct tl_consensus {
    const struct tl_consensus_ops *ops;
};

static inline int tl_cons_lease_grant(tl_consensus *c, unsigned ttl_ms, int64_t *lease,
                                      unsigned *granted_ms)
{
    return c->ops->lease_grant(c, ttl_ms, lease, granted_ms);
}
static inline int tl_cons_lease_keepalive(tl_consensus *c, int64_t lease)
{
    return c->ops->lease_keepalive(c, lease);
}
static inline int tl_cons_lease_revoke(tl_consensus *c, int64_t lease)
{
    return c->ops->lease_revoke(c, lease);
}
static inline int tl_cons_get(tl_consensus *c, const char *key, tl_cons_kv *out)
{
    return c->ops->get(c, key, out);
}
static inline int tl_cons_txn(tl_consensus *c, const tl_cons_cmp *cmps, size_t ncmps,
                              const tl_cons_put *puts, size_t nputs, int64_t *rev)
{
    return c->ops->txn(c, cmps, ncmps, puts, nputs, rev);
}
static inline void tl_cons_close(tl_consensus *c)
{
    if (c)
        c->ops->close(c);
}

void tl_cons_kv_init(tl_cons_kv *kv);
void tl_cons_kv_release(tl_cons_kv *kv);

/* etcd v3 through its JSON gateway (consensus_etcd.c): urls is a
 * comma-separated list of http(s)://HOST:PORT endpoints of one cluster; a
 * request that gets no answer from one goes to the next. timeout_ms bounds
 * each request (connect and transfer). err gets a one-line reason. */
int tl_cons_open_etcd(const char *urls, unsigned timeout_ms, tl_consensus **out, char *err,
                      size_t cap);
/* Checks a --etcd list: 1..8 http:// or https:// URLs of host and port. */
int tl_cons_etcd_urls_check(const char *urls, char *err, size_t cap);

/* In memory (consensus_mem.c): one store that any number of handles share
 * (tl_cons_mem_handle), whose leases end when the clock passes their
 * deadline. The clock is the test's: tl_cons_mem_advance moves it. A handle
 * can be cut off (every call then fails with TL_ERR_NETWORK), as a
 * partitioned node would be. */
typedef struct tl_cons_mem tl_cons_mem;
tl_cons_mem *tl_cons_mem_new(void);
void tl_cons_mem_free(tl_cons_mem *m);
int tl_cons_mem_handle(tl_cons_mem *m, tl_consensus **out);
void tl_cons_mem_advance(tl_cons_mem *m, unsigned ms);
void tl_cons_mem_cut(tl_consensus *c, int cut);

#endif
