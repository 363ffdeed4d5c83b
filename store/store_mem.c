/*
 * store_mem.c - an in-memory tl_store for tests: a chained hash table under
 * one mutex. Writes are atomic: every allocation a batch needs is made before
 * the table is touched, so a batch is either wholly applied or not at all.
 * Thread-safe. Not ordered: a scan visits the keys in bucket order, under the
 * mutex (so as of one moment); a range copies and sorts its keys.
 */
#include "store/store.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct mem_node {
    struct mem_node *next;
    uint64_t hash;
    int is_put;
    size_t klen, vlen;
    uint8_t *key; /* key and value live in one allocation after the node */
    uint8_t *val;
} mem_node;

typedef struct mem_store {
    tl_store base;
    pthread_mutex_t mu;
    mem_node **slots;
    size_t nslots, count;
} mem_store;

static uint64_t mem_hash(const void *key, size_t len)
{
    /* FNV-1a, 64 bit: only for bucket choice, not security. */
    const uint8_t *p = key;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static mem_node **mem_find(mem_store *m, uint64_t h, const void *key, size_t klen)
{
    mem_node **pp = &m->slots[h & (m->nslots - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->key, key, klen) == 0)
            return pp;
    return pp;
}

static int mem_get(tl_store *s, const void *key, size_t klen, tl_buf *val)
{
    mem_store *m = (mem_store *)s;
    int rc = TL_ERR_NOTFOUND;
    mem_node **pp;
    tl_buf_reset(val);
    pthread_mutex_lock(&m->mu);
    pp = mem_find(m, mem_hash(key, klen), key, klen);
    if (*pp)
        rc = tl_buf_add(val, (*pp)->val, (*pp)->vlen);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static void mem_grow(mem_store *m)
{
    size_t n = m->nslots * 2;
    mem_node **slots = calloc(n, sizeof(*slots));
    if (!slots)
        return; /* stays correct, only slower */
    for (size_t i = 0; i < m->nslots; i++) {
        mem_node *e = m->slots[i], *next;
        for (; e; e = next) {
            next = e->next;
            e->next = slots[e->hash & (n - 1)];
            slots[e->hash & (n - 1)] = e;
        }
    }
    free(m->slots);
    m->slots = slots;
    m->nslots = n;
}

struct mem_stage {
    mem_node *head, *tail;
};

static int mem_stage_one(void *ctx, int is_put, const void *key, size_t klen, const void *val,
                         size_t vlen)
{
    struct mem_stage *st = ctx;
    mem_node *n = malloc(sizeof(*n) + klen + vlen + 1);
    if (!n)
        return TL_ERR_NOMEM;
    n->next = NULL;
    n->hash = mem_hash(key, klen);
    n->is_put = is_put;
    n->klen = klen;
    n->vlen = vlen;
    n->key = (uint8_t *)(n + 1);
    n->val = n->key + klen;
    memcpy(n->key, key, klen);
    if (vlen)
        memcpy(n->val, val, vlen);
    if (st->tail)
        st->tail->next = n;
    else
        st->head = n;
    st->tail = n;
    return TL_OK;
}

static int mem_write(tl_store *s, tl_batch *b, int sync)
{
    mem_store *m = (mem_store *)s;
    struct mem_stage st = {NULL, NULL};
    mem_node *n, *next;
    int rc;
    (void)sync;
    rc = tl_batch_iterate(b, mem_stage_one, &st);
    if (rc != TL_OK) {
        for (n = st.head; n; n = next) {
            next = n->next;
            free(n);
        }
        return rc;
    }
    pthread_mutex_lock(&m->mu);
    for (n = st.head; n; n = next) {
        mem_node **pp = mem_find(m, n->hash, n->key, n->klen);
        next = n->next;
        if (*pp) {
            mem_node *old = *pp;
            *pp = old->next;
            free(old);
            m->count--;
        }
        if (n->is_put) {
            n->next = m->slots[n->hash & (m->nslots - 1)];
            m->slots[n->hash & (m->nslots - 1)] = n;
            m->count++;
        } else {
            free(n);
        }
    }
    if (m->count > m->nslots)
        mem_grow(m);
    pthread_mutex_unlock(&m->mu);
    return TL_OK;
}

static void mem_close(tl_store *s)
{
    mem_store *m = (mem_store *)s;
    for (size_t i = 0; i < m->nslots; i++) {
        mem_node *e = m->slots[i], *next;
        for (; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    free(m->slots);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static int key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

static int mem_scan(tl_store *s, const void *lo, size_t lolen, const void *hi, size_t hilen,
                    tl_store_scan_fn fn, void *ctx)
{
    mem_store *m = (mem_store *)s;
    int rc = TL_OK;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->nslots && rc == TL_OK; i++)
        for (mem_node *e = m->slots[i]; e && rc == TL_OK; e = e->next)
            if (e->is_put && key_cmp(e->key, e->klen, lo, lolen) >= 0 &&
                key_cmp(e->key, e->klen, hi, hilen) < 0)
                rc = fn(ctx, e->key, e->klen);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

typedef struct mem_kv {
    uint8_t *key, *val; /* one allocation: key then value */
    size_t klen, vlen;
} mem_kv;

static int kv_cmp(const void *a, const void *b)
{
    const mem_kv *x = a, *y = b;
    return key_cmp(x->key, x->klen, y->key, y->klen);
}

/* Copies the range under the mutex, then sorts it and calls fn without the
 * lock held (fn may read the store). */
static int mem_range(tl_store *s, const void *lo, size_t lolen, const void *hi, size_t hilen,
                     tl_store_range_fn fn, void *ctx)
{
    mem_store *m = (mem_store *)s;
    mem_kv *v = NULL;
    size_t n = 0, cap = 0;
    int rc = TL_OK;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->nslots && rc == TL_OK; i++)
        for (mem_node *e = m->slots[i]; e && rc == TL_OK; e = e->next) {
            if (!e->is_put || key_cmp(e->key, e->klen, lo, lolen) < 0 ||
                key_cmp(e->key, e->klen, hi, hilen) >= 0)
                continue;
            if (n == cap) {
                mem_kv *nv = realloc(v, (cap ? 2 * cap : 16) * sizeof(*v));
                if (!nv) {
                    rc = TL_ERR_NOMEM;
                    break;
                }
                v = nv;
                cap = cap ? 2 * cap : 16;
            }
            v[n].key = malloc(e->klen + e->vlen + 1);
            if (!v[n].key) {
                rc = TL_ERR_NOMEM;
                break;
            }
            memcpy(v[n].key, e->key, e->klen);
            v[n].val = v[n].key + e->klen;
            if (e->vlen)
                memcpy(v[n].val, e->val, e->vlen);
            v[n].klen = e->klen;
            v[n].vlen = e->vlen;
            n++;
        }
    pthread_mutex_unlock(&m->mu);
    if (rc == TL_OK && n)
        qsort(v, n, sizeof(*v), kv_cmp);
    for (size_t i = 0; i < n && rc == TL_OK; i++)
        rc = fn(ctx, v[i].key, v[i].klen, v[i].val, v[i].vlen);
    for (size_t i = 0; i < n; i++)
        free(v[i].key);
    free(v);
    return rc;
}

static const struct tl_store_ops mem_ops = {mem_get, mem_write, mem_close,
                                            NULL,    mem_scan,  mem_range};

int tl_store_open_mem(tl_store **out)
{
    mem_store *m = calloc(1, sizeof(*m));
    if (!m)
        return TL_ERR_NOMEM;
    m->nslots = 1024;
    m->slots = calloc(m->nslots, sizeof(*m->slots));
    if (!m->slots) {
        free(m);
        return TL_ERR_NOMEM;
    }
    pthread_mutex_init(&m->mu, NULL);
    m->base.ops = &mem_ops;
    *out = &m->base;
    return TL_OK;
}
