/*
 * consensus_mem.c - tl_consensus (consensus.h) in memory, for tests: one
 * store of keys with etcd's revisions and leases, shared by any number of
 * handles (each a "node"), with a clock that only the test moves
 * (tl_cons_mem_advance) so that lease ends are exact. A cut handle fails
 * every call with TL_ERR_NETWORK, as a node partitioned from the cluster.
 * Thread-safe: one mutex over the whole store.
 */
#include "log/consensus.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"

#define MAX_KEYS 64
#define MAX_LEASES 64

typedef struct mkey {
    char *key;
    tl_buf value;
    int64_t create_rev, mod_rev, lease;
} mkey;

typedef struct mlease {
    int64_t id;
    uint64_t deadline_ms;
    unsigned ttl_ms;
} mlease;

struct tl_cons_mem {
    pthread_mutex_t mu;
    int64_t rev, next_lease;
    uint64_t now_ms;
    mkey keys[MAX_KEYS];
    size_t nkeys;
    mlease leases[MAX_LEASES];
    size_t nleases;
};

typedef struct mhandle {
    tl_consensus base;
    tl_cons_mem *m;
    int cut;
} mhandle;

static mkey *find(tl_cons_mem *m, const char *key)
{
    for (size_t i = 0; i < m->nkeys; i++)
        if (strcmp(m->keys[i].key, key) == 0)
            return &m->keys[i];
    return NULL;
}

static void drop_key(tl_cons_mem *m, mkey *k)
{
    free(k->key);
    tl_buf_release(&k->value);
    *k = m->keys[--m->nkeys];
}

/* Ends the leases whose deadline has passed, with their keys (one revision
 * per deleted key, as etcd counts them). */
static void expire(tl_cons_mem *m)
{
    for (size_t i = 0; i < m->nleases;) {
        if (m->leases[i].deadline_ms > m->now_ms) {
            i++;
            continue;
        }
        int64_t id = m->leases[i].id;
        for (size_t k = 0; k < m->nkeys;)
            if (m->keys[k].lease == id) {
                drop_key(m, &m->keys[k]);
                m->rev++;
            } else {
                k++;
            }
        m->leases[i] = m->leases[--m->nleases];
    }
}

static mlease *find_lease(tl_cons_mem *m, int64_t id)
{
    for (size_t i = 0; i < m->nleases; i++)
        if (m->leases[i].id == id)
            return &m->leases[i];
    return NULL;
}

/* Locks the store for handle h: TL_ERR_NETWORK when h is cut (not locked). */
static int enter(tl_consensus *c, tl_cons_mem **mp)
{
    mhandle *h = (mhandle *)c;
    if (__atomic_load_n(&h->cut, __ATOMIC_SEQ_CST))
        return TL_ERR_NETWORK;
    *mp = h->m;
    pthread_mutex_lock(&h->m->mu);
    expire(h->m);
    return TL_OK;
}

static int mem_lease_grant(tl_consensus *c, unsigned ttl_ms, int64_t *lease, unsigned *granted_ms)
{
    tl_cons_mem *m;
    int rc = enter(c, &m);
    if (rc != TL_OK)
        return rc;
    if (m->nleases == MAX_LEASES) {
        rc = TL_ERR_BUSY;
    } else {
        mlease *l = &m->leases[m->nleases++];
        l->id = ++m->next_lease;
        l->ttl_ms = ttl_ms;
        l->deadline_ms = m->now_ms + ttl_ms;
        *lease = l->id;
        if (granted_ms)
            *granted_ms = ttl_ms;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int mem_lease_keepalive(tl_consensus *c, int64_t lease)
{
    tl_cons_mem *m;
    int rc = enter(c, &m);
    if (rc != TL_OK)
        return rc;
    mlease *l = find_lease(m, lease);
    if (l)
        l->deadline_ms = m->now_ms + l->ttl_ms;
    else
        rc = TL_ERR_NOTFOUND;
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int mem_lease_revoke(tl_consensus *c, int64_t lease)
{
    tl_cons_mem *m;
    int rc = enter(c, &m);
    if (rc != TL_OK)
        return rc;
    mlease *l = find_lease(m, lease);
    if (l) {
        l->deadline_ms = 0;
        expire(m);
    } else {
        rc = TL_ERR_NOTFOUND;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int mem_get(tl_consensus *c, const char *key, tl_cons_kv *out)
{
    tl_cons_mem *m;
    int rc = enter(c, &m);
    if (rc != TL_OK)
        return rc;
    mkey *k = find(m, key);
    if (!k) {
        rc = TL_ERR_NOTFOUND;
    } else {
        tl_buf_reset(&out->value);
        if (tl_buf_add(&out->value, k->value.data, k->value.len) != TL_OK)
            rc = TL_ERR_NOMEM;
        out->create_rev = k->create_rev;
        out->mod_rev = k->mod_rev;
        out->lease = k->lease;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int cmp_holds(tl_cons_mem *m, const tl_cons_cmp *c)
{
    mkey *k = find(m, c->key);
    switch (c->target) {
    case TL_CONS_MOD:
        return (k ? k->mod_rev : 0) == c->rev;
    case TL_CONS_CREATE:
        return (k ? k->create_rev : 0) == c->rev;
    case TL_CONS_VALUE:
        return k && k->value.len == c->vlen &&
               (c->vlen == 0 || memcmp(k->value.data, c->value, c->vlen) == 0);
    }
    return 0;
}

static int mem_txn(tl_consensus *c, const tl_cons_cmp *cmps, size_t ncmps, const tl_cons_put *puts,
                   size_t nputs, int64_t *rev)
{
    tl_cons_mem *m;
    int rc = enter(c, &m);
    if (rc != TL_OK)
        return rc;
    for (size_t i = 0; i < ncmps && rc == TL_OK; i++)
        if (!cmp_holds(m, &cmps[i]))
            rc = TL_ERR_CONFLICT;
    for (size_t i = 0; i < nputs && rc == TL_OK; i++)
        if ((puts[i].lease && !find_lease(m, puts[i].lease)) ||
            (!find(m, puts[i].key) && m->nkeys + nputs > MAX_KEYS))
            rc = puts[i].lease ? TL_ERR_NOTFOUND : TL_ERR_BUSY;
    if (rc == TL_OK && nputs) {
        m->rev++; /* one revision per transaction, as etcd */
        for (size_t i = 0; i < nputs; i++) {
            mkey *k = find(m, puts[i].key);
            if (!k) {
                k = &m->keys[m->nkeys++];
                memset(k, 0, sizeof(*k));
                k->key = strdup(puts[i].key);
                k->create_rev = m->rev;
            }
            tl_buf_reset(&k->value);
            tl_buf_add(&k->value, puts[i].value, puts[i].vlen);
            k->mod_rev = m->rev;
            k->lease = puts[i].lease;
        }
    }
    if (rc == TL_OK && rev)
        *rev = m->rev;
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static void mem_close(tl_consensus *c)
{
    free(c);
}

static const struct tl_consensus_ops mem_ops = {
    mem_lease_grant, mem_lease_keepalive, mem_lease_revoke, mem_get, mem_txn, mem_close,
};

tl_cons_mem *tl_cons_mem_new(void)
{
    tl_cons_mem *m = calloc(1, sizeof(*m));
    if (m) {
        pthread_mutex_init(&m->mu, NULL);
        m->rev = 1;
        m->next_lease = 7000;
    }
    return m;
}

void tl_cons_mem_free(tl_cons_mem *m)
{
    if (!m)
        return;
    while (m->nkeys)
        drop_key(m, &m->keys[0]);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

int tl_cons_mem_handle(tl_cons_mem *m, tl_consensus **out)
{
    mhandle *h = calloc(1, sizeof(*h));
    if (!h)
        return TL_ERR_NOMEM;
    h->base.ops = &mem_ops;
    h->m = m;
    *out = &h->base;
    return TL_OK;
}

void tl_cons_mem_advance(tl_cons_mem *m, unsigned ms)
{
    pthread_mutex_lock(&m->mu);
    m->now_ms += ms;
    expire(m);
    pthread_mutex_unlock(&m->mu);
}

void tl_cons_mem_cut(tl_consensus *c, int cut)
{
    __atomic_store_n(&((mhandle *)c)->cut, cut, __ATOMIC_SEQ_CST);
}
