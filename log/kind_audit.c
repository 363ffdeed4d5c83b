/*
 * kind_audit.c - the audit kind (kind_audit.h).
 *
 * A submission's bytes (little more than the canonical event, so the
 * sequencer thread only formats the record and writes keys):
 *   'A' | flags u8 (1: has a key, 2: an erasure)
 *   | salt 32 | commitment 32 | key 32 (zeros without one)
 *   | erasure: target u64 | target key 32 | target time u64 (zeros otherwise)
 *   | 5 x (u16 length | value): actor.id, action, resource.type, resource.id, outcome
 *   | u32 length | canonical event
 */
#include "log/kind_audit.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "log/layout.h"

#define MAGIC 'A'
#define F_KEY 1
#define F_ERASE 2
#define HEAD (2 + TL_AUDIT_SALT + 32 + 32 + 8 + 32 + 8)
#define NFIELDS 5

static const char field_tag[NFIELDS] = {'a', 'c', 't', 'r', 'o'};

/* A submission, decoded (borrowing its bytes). */
typedef struct dsub {
    int flags;
    const uint8_t *salt;
    tl_hash commitment, key, target_key;
    uint64_t target, target_time;
    tl_audit_str field[NFIELDS];
    const uint8_t *canon;
    size_t canon_len;
} dsub;

static void put_u16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static int decode(const uint8_t *p, size_t len, dsub *d)
{
    size_t off = HEAD;
    if (len < HEAD || p[0] != MAGIC)
        return TL_ERR_INVALID;
    d->flags = p[1];
    d->salt = p + 2;
    memcpy(d->commitment.b, p + 2 + TL_AUDIT_SALT, 32);
    memcpy(d->key.b, p + 2 + TL_AUDIT_SALT + 32, 32);
    d->target = tl_layout_get_u64(p + 2 + TL_AUDIT_SALT + 64);
    memcpy(d->target_key.b, p + 2 + TL_AUDIT_SALT + 72, 32);
    d->target_time = tl_layout_get_u64(p + 2 + TL_AUDIT_SALT + 104);
    for (int i = 0; i < NFIELDS; i++) {
        size_t n;
        if (off + 2 > len)
            return TL_ERR_INVALID;
        n = ((size_t)p[off] << 8) | p[off + 1];
        off += 2;
        if (off + n > len)
            return TL_ERR_INVALID;
        d->field[i].s = (const char *)p + off;
        d->field[i].len = n;
        off += n;
    }
    if (off + 4 > len)
        return TL_ERR_INVALID;
    d->canon_len = ((size_t)p[off] << 24) | ((size_t)p[off + 1] << 16) | ((size_t)p[off + 2] << 8) |
                   p[off + 3];
    off += 4;
    if (off + d->canon_len != len)
        return TL_ERR_INVALID;
    d->canon = p + off;
    return TL_OK;
}

static void key_part(tl_buf *b, const tl_audit_str *s)
{
    uint8_t l[4];
    put_u32(l, s->s ? s->len : 0xffffffffu);
    tl_buf_add(b, l, 4);
    if (s->s)
        tl_buf_add(b, s->s, s->len);
}

int tl_audit_key(tl_hasher *h, const tl_audit_sub *s, tl_hash *key)
{
    tl_buf b = TL_BUF_INIT;
    if (s->erase) {
        uint8_t t[8];
        tl_layout_put_u64(t, s->target);
        tl_buf_adds(&b, "tlogd audit erasure of ");
        tl_buf_add(&b, t, 8);
    } else {
        if (!s->ev->id.s)
            return 0;
        tl_buf_adds(&b, "tlogd audit event ");
        key_part(&b, &s->ev->submitter);
        key_part(&b, &s->ev->source);
        key_part(&b, &s->ev->id);
    }
    if (!b.data) {
        tl_buf_release(&b);
        return TL_ERR_NOMEM;
    }
    tl_sha256(h, b.data, b.len, key);
    tl_buf_release(&b);
    return 1;
}

int tl_audit_sub_encode(tl_hasher *h, const tl_audit_sub *s, tl_buf *out)
{
    const tl_audit_event *ev = s->ev;
    const tl_audit_str *fields[NFIELDS] = {&ev->actor_id, &ev->action, &ev->resource_type,
                                           &ev->resource_id, &ev->outcome};
    uint8_t head[HEAD], l[4];
    tl_hash c, key;
    int haskey = tl_audit_key(h, s, &key);
    if (haskey < 0)
        return haskey;
    memset(head, 0, sizeof(head));
    head[0] = MAGIC;
    head[1] = (uint8_t)((haskey ? F_KEY : 0) | (s->erase ? F_ERASE : 0));
    memcpy(head + 2, s->salt, TL_AUDIT_SALT);
    tl_audit_commitment(h, s->salt, ev->canon.data, ev->canon.len, &c);
    memcpy(head + 2 + TL_AUDIT_SALT, c.b, 32);
    if (haskey)
        memcpy(head + 2 + TL_AUDIT_SALT + 32, key.b, 32);
    if (s->erase) {
        tl_layout_put_u64(head + 2 + TL_AUDIT_SALT + 64, s->target);
        memcpy(head + 2 + TL_AUDIT_SALT + 72, s->target_key.b, 32);
        tl_layout_put_u64(head + 2 + TL_AUDIT_SALT + 104, s->target_time);
    }
    {
        size_t total = sizeof(head) + 4 + ev->canon.len; /* one allocation */
        for (int i = 0; i < NFIELDS; i++)
            total += 2 + (fields[i]->s ? fields[i]->len : 0);
        if (tl_buf_grow(out, total) != TL_OK)
            return TL_ERR_NOMEM;
    }
    if (tl_buf_add(out, head, sizeof(head)) != TL_OK)
        return TL_ERR_NOMEM;
    for (int i = 0; i < NFIELDS; i++) {
        size_t n = fields[i]->s ? fields[i]->len : 0;
        if (n > 0xffff)
            return TL_ERR_INVALID;
        put_u16(l, n);
        if (tl_buf_add(out, l, 2) || (n && tl_buf_add(out, fields[i]->s, n)))
            return TL_ERR_NOMEM;
    }
    put_u32(l, ev->canon.len);
    if (tl_buf_add(out, l, 4) || tl_buf_add(out, ev->canon.data, ev->canon.len))
        return TL_ERR_NOMEM;
    return TL_OK;
}

/* ---- keys ------------------------------------------------------------------ */

static size_t body_key(uint8_t *k, uint64_t index)
{
    k[0] = TL_LAYOUT_KIND_PREFIX;
    k[1] = 'b';
    tl_layout_put_u64(k + 2, index);
    return 10;
}

/* 10 'i' f H8(value) ~index (empty value): the index of logs written
 * before the packed index (10 'p', below), one key an event; still read. */

/* 10 'l' leaf[0..16): the index of the entry with that leaf hash. */
static size_t leaf_key(uint8_t *k, const tl_hash *leaf)
{
    k[0] = TL_LAYOUT_KIND_PREFIX;
    k[1] = 'l';
    memcpy(k + 2, leaf->b, 16);
    return 18;
}

/* 10 'm' time(u64) first(u64): the first index of a batch, at the batch's
 * log time (empty value; written by seal_end). Log times never decrease, so
 * the smallest key at or above (t, 0) names the first index with a log
 * time >= t. */
static size_t time_key(uint8_t *k, uint64_t time_ms, uint64_t index)
{
    k[0] = TL_LAYOUT_KIND_PREFIX;
    k[1] = 'm';
    tl_layout_put_u64(k + 2, time_ms);
    tl_layout_put_u64(k + 10, index);
    return 18;
}

/* 10 'p' f H8(value) ~first(u64): the packed index, one key a batch for
 * each member value its events hold: the value is the indexes of the
 * batch's events with that value (first, the lowest, among them), highest
 * first, each as a LEB128 varint of index - first. Batches cover disjoint
 * ranges, so a scan in key order yields every index of the value, newest
 * first, as the one-key-an-event 10 'i' index of older logs does. */
static size_t packed_key(uint8_t *k, char f, const uint8_t h8[8], uint64_t first)
{
    k[0] = TL_LAYOUT_KIND_PREFIX;
    k[1] = 'p';
    k[2] = (uint8_t)f;
    memcpy(k + 3, h8, 8);
    tl_layout_put_u64(k + 11, ~first);
    return 19;
}

/* 10 'v': the log's member index is packed only (no 10 'i' key): written
 * with the log's first batch by a tlogd that writes the packed index, so
 * a query of such a log seeks one form, not two. */
static const uint8_t packed_only_key[2] = {TL_LAYOUT_KIND_PREFIX, 'v'};

/* The postings of the batch being sealed, kept per (sequencer) thread
 * between seal and seal_end: one per indexed member of each event. */
typedef struct posting {
    uint8_t f;
    uint8_t h8[8];
    uint64_t index;
} posting;

typedef struct postings {
    posting *p;
    size_t n, cap;
    uint64_t first, next; /* the indexes they cover: [first, next) */
} postings;

#define POSTINGS_KEEP 65536 /* a buffer grown past this is freed after its batch */

static pthread_key_t postings_key;
static pthread_once_t postings_once = PTHREAD_ONCE_INIT;
static int postings_key_ok;

static void postings_free(void *p)
{
    postings *a = p;
    if (a) {
        free(a->p);
        free(a);
    }
}

static void postings_key_init(void)
{
    postings_key_ok = pthread_key_create(&postings_key, postings_free) == 0;
}

/* This thread's postings (NULL: out of memory). */
static postings *postings_get(void)
{
    postings *a;
    pthread_once(&postings_once, postings_key_init);
    if (!postings_key_ok)
        return NULL;
    a = pthread_getspecific(postings_key);
    if (!a) {
        a = calloc(1, sizeof(*a));
        if (a && pthread_setspecific(postings_key, a) != 0) {
            free(a);
            a = NULL;
        }
    }
    return a;
}

static int posting_add(postings *a, char f, const uint8_t h8[8], uint64_t index)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 1024;
        posting *p = realloc(a->p, cap * sizeof(*p));
        if (!p)
            return TL_ERR_NOMEM;
        a->p = p;
        a->cap = cap;
    }
    a->p[a->n].f = (uint8_t)f;
    memcpy(a->p[a->n].h8, h8, 8);
    a->p[a->n].index = index;
    a->n++;
    return TL_OK;
}

static int posting_cmp(const void *x, const void *y)
{
    const posting *a = x, *b = y;
    int c = a->f != b->f ? (a->f < b->f ? -1 : 1) : memcmp(a->h8, b->h8, 8);
    if (c)
        return c;
    return a->index < b->index ? 1 : a->index > b->index ? -1 : 0; /* highest first */
}

/* ---- the kind -------------------------------------------------------------- */

static int audit_prepare(const tl_kind *k, tl_hasher *h, const uint8_t *sub, size_t len,
                         tl_hash *key, tl_hash *leaf)
{
    dsub d;
    (void)k;
    (void)h;
    (void)leaf;
    if (decode(sub, len, &d) != TL_OK)
        return TL_ERR_INVALID;
    if (!(d.flags & F_KEY))
        return 0;
    *key = d.key;
    return 1;
}

static int audit_seal(const tl_kind *k, tl_hasher *h, const uint8_t *sub, size_t len,
                      uint64_t index, uint64_t time_ms, tl_buf *entry, tl_batch *wb)
{
    uint8_t key[24], hdr[1 + 32 + 8];
    tl_buf v = TL_BUF_INIT;
    postings *a = postings_get();
    dsub d;
    int rc;
    (void)k;
    if (!a)
        return TL_ERR_NOMEM;
    if (decode(sub, len, &d) != TL_OK)
        return TL_ERR_INVALID;
    if (a->n == 0 || a->next != index || tl_batch_count(wb) == 0) {
        a->n = 0; /* a new batch (or what an unfinished one left) */
        a->first = index;
    }
    a->next = index + 1;
    rc = tl_audit_record_format(time_ms, &d.commitment, entry);
    /* the body */
    if (rc == TL_OK && tl_buf_grow(&v, sizeof(hdr) + TL_AUDIT_SALT + d.canon_len) != TL_OK)
        rc = TL_ERR_NOMEM;
    hdr[0] = 0;
    memcpy(hdr + 1, d.key.b, 32);
    tl_layout_put_u64(hdr + 33, time_ms);
    if (rc == TL_OK && (tl_buf_add(&v, hdr, sizeof(hdr)) || tl_buf_add(&v, d.salt, TL_AUDIT_SALT) ||
                        tl_buf_add(&v, d.canon, d.canon_len)))
        rc = TL_ERR_NOMEM;
    if (rc == TL_OK)
        rc = tl_batch_put(wb, key, body_key(key, index), v.data, v.len);
    /* the indexes: postings, written by seal_end */
    for (int i = 0; i < NFIELDS && rc == TL_OK; i++)
        if (d.field[i].len) {
            tl_hash hv;
            tl_sha256(h, d.field[i].s, d.field[i].len, &hv);
            rc = posting_add(a, field_tag[i], hv.b, index);
        }
    /* the leaf hash -> index (get-proof-by-hash) */
    if (rc == TL_OK) {
        tl_hash leaf;
        uint8_t idx[8];
        tl_hash_leaf(h, entry->data, entry->len, &leaf);
        tl_layout_put_u64(idx, index);
        rc = tl_batch_put(wb, key, leaf_key(key, &leaf), idx, 8);
    }
    /* an erasure: the erased event's tombstone, in the same commit */
    if (rc == TL_OK && (d.flags & F_ERASE)) {
        uint8_t tomb[1 + 32 + 8 + 8];
        tomb[0] = 1;
        memcpy(tomb + 1, d.target_key.b, 32);
        tl_layout_put_u64(tomb + 33, d.target_time);
        tl_layout_put_u64(tomb + 41, index);
        rc = tl_batch_put(wb, key, body_key(key, d.target), tomb, sizeof(tomb));
    }
    tl_buf_release(&v);
    return rc;
}

/* After a batch's seals: its time index key and its packed index keys. */
static int audit_seal_end(const tl_kind *k, tl_hasher *h, uint64_t first, uint64_t end,
                          uint64_t time_ms, tl_batch *wb)
{
    postings *a = postings_get();
    tl_buf v = TL_BUF_INIT;
    uint8_t key[24];
    int rc;
    (void)k;
    (void)h;
    if (!a)
        return TL_ERR_NOMEM;
    if (a->n > 0 && (a->first != first || a->next != end))
        return TL_ERR_INVALID; /* not this batch's postings: cannot happen */
    rc = tl_batch_put(wb, key, time_key(key, time_ms, first), "", 0);
    if (rc == TL_OK && first == 0)
        rc = tl_batch_put(wb, packed_only_key, sizeof(packed_only_key), "\x01", 1);
    if (a->n > 1)
        qsort(a->p, a->n, sizeof(*a->p), posting_cmp);
    for (size_t i = 0; i < a->n && rc == TL_OK;) {
        size_t j = i;
        uint64_t low;
        tl_buf_reset(&v);
        while (j < a->n && a->p[j].f == a->p[i].f && memcmp(a->p[j].h8, a->p[i].h8, 8) == 0)
            j++;
        low = a->p[j - 1].index;
        for (size_t m = i; m < j && rc == TL_OK; m++) {
            uint8_t var[10];
            size_t n = 0;
            uint64_t off = a->p[m].index - low;
            do {
                var[n] = (uint8_t)(off & 0x7f);
                off >>= 7;
                if (off)
                    var[n] |= 0x80;
                n++;
            } while (off);
            rc = tl_buf_add(&v, var, n);
        }
        if (rc == TL_OK)
            rc = tl_batch_put(wb, key, packed_key(key, (char)a->p[i].f, a->p[i].h8, low), v.data,
                              v.len);
        i = j;
    }
    a->n = 0;
    if (a->cap > POSTINGS_KEEP) {
        free(a->p);
        a->p = NULL;
        a->cap = 0;
    }
    tl_buf_release(&v);
    return rc;
}

static int body_parse(const tl_buf *v, tl_audit_body *b)
{
    memset(b, 0, sizeof(*b));
    if (v->len < 41)
        return TL_ERR_CORRUPT;
    memcpy(b->key.b, v->data + 1, 32);
    b->time_ms = tl_layout_get_u64(v->data + 33);
    if (v->data[0] == 1) {
        if (v->len != 49)
            return TL_ERR_CORRUPT;
        b->erased = 1;
        b->erased_by = tl_layout_get_u64(v->data + 41);
        return TL_OK;
    }
    if (v->data[0] != 0 || v->len < 41 + TL_AUDIT_SALT + 2)
        return TL_ERR_CORRUPT;
    memcpy(b->salt, v->data + 41, TL_AUDIT_SALT);
    b->canon = v->data + 41 + TL_AUDIT_SALT;
    b->canon_len = v->len - 41 - TL_AUDIT_SALT;
    return TL_OK;
}

static int read_body(tl_store *s, uint64_t index, tl_buf *v, tl_audit_body *b)
{
    uint8_t k[16];
    int rc = tl_store_get(s, k, body_key(k, index), v);
    return rc == TL_OK ? body_parse(v, b) : rc;
}

static int audit_key_at(const tl_kind *k, tl_store *s, uint64_t index, tl_hash *key,
                        tl_buf *scratch)
{
    tl_audit_body b;
    int rc = read_body(s, index, scratch, &b);
    (void)k;
    if (rc != TL_OK)
        return rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc;
    *key = b.key;
    return TL_OK;
}

static int audit_same_stored(const tl_kind *k, tl_store *s, uint64_t index, const uint8_t *sub,
                             size_t len)
{
    tl_buf v = TL_BUF_INIT;
    tl_audit_body b;
    dsub d;
    int rc = decode(sub, len, &d);
    (void)k;
    if (rc == TL_OK)
        rc = read_body(s, index, &v, &b);
    if (rc == TL_OK)
        rc = !b.erased && b.canon_len == d.canon_len && memcmp(b.canon, d.canon, d.canon_len) == 0
                 ? TL_OK
                 : TL_ERR_CONFLICT;
    tl_buf_release(&v);
    return rc;
}

static int audit_same_pending(const tl_kind *k, const uint8_t *sub, size_t len,
                              const uint8_t *other, size_t olen)
{
    dsub a, b;
    (void)k;
    if (decode(sub, len, &a) != TL_OK || decode(other, olen, &b) != TL_OK)
        return TL_ERR_INVALID;
    return a.canon_len == b.canon_len && memcmp(a.canon, b.canon, a.canon_len) == 0
               ? TL_OK
               : TL_ERR_CONFLICT;
}

/* The leaf-hash index, confirmed against the stored leaf hash (level-0 tile). */
static int audit_leaf_index(const tl_kind *k, tl_store *s, const tl_hash *leaf, uint64_t *index)
{
    uint8_t key[24];
    tl_buf v = TL_BUF_INIT;
    tl_hash got;
    int rc = tl_store_get(s, key, leaf_key(key, leaf), &v);
    (void)k;
    if (rc == TL_OK && v.len != 8)
        rc = TL_ERR_CORRUPT;
    if (rc == TL_OK) {
        *index = tl_layout_get_u64(v.data);
        rc = tl_layout_leaf_at(s, *index, &got, &v);
        if (rc == TL_OK && memcmp(got.b, leaf->b, TL_HASH_SIZE) != 0)
            rc = TL_ERR_NOTFOUND; /* another leaf with those 16 bytes: not this one */
    }
    tl_buf_release(&v);
    return rc;
}

const tl_kind tl_kind_audit = {
    .name = "audit",
    .repeat_time_on_clock_step = 1,
    .prepare = audit_prepare,
    .seal = audit_seal,
    .seal_end = audit_seal_end,
    .key_at = audit_key_at,
    .same_stored = audit_same_stored,
    .same_pending = audit_same_pending,
    .leaf_index = audit_leaf_index,
    .ctx = NULL,
};

/* ---- reading ---------------------------------------------------------------- */

int tl_audit_rec_tombstone(const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
                           uint64_t *target)
{
    if (klen != 10 || key[0] != TL_LAYOUT_KIND_PREFIX || key[1] != 'b' || vlen != 49 || val[0] != 1)
        return 0;
    *target = tl_layout_get_u64(key + 2);
    return 1;
}

int tl_audit_compact_body(tl_log *log, uint64_t index)
{
    uint8_t k[16];
    return tl_log_compact_later(log, k, body_key(k, index));
}

int tl_audit_body_read(tl_log *log, uint64_t index, tl_buf *buf, tl_audit_body *b)
{
    uint8_t k[16];
    int rc = tl_log_kind_get(log, k, body_key(k, index), buf);
    if (rc != TL_OK)
        return rc;
    rc = body_parse(buf, b);
    if (rc == TL_ERR_CORRUPT)
        tl_log_corrupt(log, "an audit event's body is malformed");
    return rc;
}

typedef struct bodies_run {
    tl_log *log;
    uint64_t next, end;
    tl_audit_body_fn fn;
    void *ctx;
    int rc;
} bodies_run;

static int on_body(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    bodies_run *r = ctx;
    tl_buf v = {(uint8_t *)val, vlen, vlen};
    tl_audit_body b;
    int c;
    if (klen != 10 || tl_layout_get_u64((const uint8_t *)key + 2) != r->next) {
        r->rc = TL_ERR_NOTFOUND;
        return 1;
    }
    if (body_parse(&v, &b) != TL_OK) {
        tl_log_corrupt(r->log, "an audit event's body is malformed");
        r->rc = TL_ERR_CORRUPT;
        return 1;
    }
    c = r->fn(r->ctx, r->next, &b);
    if (c) {
        r->rc = c;
        return 1;
    }
    r->next++;
    return r->next == r->end;
}

int tl_audit_bodies_each(tl_log *log, uint64_t first, uint64_t n, tl_audit_body_fn fn, void *ctx)
{
    bodies_run r = {log, first, first + n, fn, ctx, TL_OK};
    uint8_t lo[16], hi[16];
    int rc;
    if (n == 0)
        return TL_OK;
    if (first + n < first)
        return TL_ERR_NOTFOUND;
    /* [first, first+n-1] as keys: up to just past that of first+n-1 */
    body_key(lo, first);
    body_key(hi, first + n - 1);
    hi[10] = 0;
    rc = tl_log_kind_range(log, lo, 10, hi, 11, on_body, &r);
    if (rc == TL_ERR_CORRUPT)
        tl_log_corrupt(log, "an audit event's body cannot be read");
    if (rc == 1 || rc == TL_OK)
        rc = r.rc;
    if (rc == TL_OK && r.next != r.end)
        rc = TL_ERR_NOTFOUND;
    return rc;
}

/* The first index in [lo, hi) whose log time is >= t (hi if none): log
 * times never decrease, so a binary search over the bodies. */
static int first_at_search(tl_log *log, uint64_t lo, uint64_t hi, int64_t t, uint64_t *out,
                           tl_buf *v)
{
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        tl_audit_body b;
        int rc = tl_audit_body_read(log, mid, v, &b);
        if (rc != TL_OK)
            return rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc;
        if ((int64_t)b.time_ms >= t)
            hi = mid;
        else
            lo = mid + 1;
    }
    *out = lo;
    return TL_OK;
}

static int on_time_key(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    uint64_t *index = ctx;
    (void)val;
    (void)vlen;
    if (klen != 18)
        return 0;
    *index = tl_layout_get_u64((const uint8_t *)key + 10);
    return 1;
}

/* The log time of index into *t. */
static int time_of(tl_log *log, uint64_t index, int64_t *t, tl_buf *v)
{
    tl_audit_body b;
    int rc = tl_audit_body_read(log, index, v, &b);
    if (rc != TL_OK)
        return rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc;
    *t = (int64_t)b.time_ms;
    return TL_OK;
}

/* The same through the time index: one seek gives the candidate c, and the
 * bodies at c - 1 and c confirm it (time(c-1) < t <= time(c), so c is the
 * first); a log written before the time index, or a key missing, fails
 * the check and the binary search finds the answer on the side the check
 * points to. */
static int first_at(tl_log *log, uint64_t lo, uint64_t hi, int64_t t, uint64_t *out, tl_buf *v)
{
    uint8_t from[18], to[2];
    uint64_t c = UINT64_MAX;
    int64_t tc;
    int rc;
    if (lo >= hi) {
        *out = lo;
        return TL_OK;
    }
    if (t <= 0) {
        *out = lo;
        return TL_OK;
    }
    time_key(from, (uint64_t)t, 0);
    to[0] = TL_LAYOUT_KIND_PREFIX;
    to[1] = 'm' + 1;
    rc = tl_log_kind_range(log, from, sizeof(from), to, 2, on_time_key, &c);
    if (rc != TL_OK && rc != 1)
        return rc;
    c = c < lo ? lo : c > hi ? hi : c;
    if (c > lo) {
        rc = time_of(log, c - 1, &tc, v);
        if (rc != TL_OK)
            return rc;
        if (tc >= t) /* the first is below c */
            return first_at_search(log, lo, c - 1, t, out, v);
    }
    if (c < hi) {
        rc = time_of(log, c, &tc, v);
        if (rc != TL_OK)
            return rc;
        if (tc < t) /* the first is above c */
            return first_at_search(log, c + 1, hi, t, out, v);
    }
    *out = c;
    return TL_OK;
}

typedef struct qrun {
    tl_log *log;
    const tl_audit_query *q;
    tl_audit_hit_fn fn;
    void *ctx;
    uint64_t lo;
    size_t given;
    int more, rc;
    tl_buf v;
} qrun;

static int str_eq(const json_t *v, const tl_audit_str *want)
{
    return json_is_string(v) && json_string_length(v) == want->len &&
           memcmp(json_string_value(v), want->s, want->len) == 0;
}

/* Whether the event matches every member filter given. */
static int matches(const tl_audit_query *q, const tl_audit_body *b)
{
    json_t *e, *actor, *resource;
    int ok;
    if (!q->actor.s && !q->action.s && !q->resource_type.s && !q->resource_id.s && !q->outcome.s)
        return 1;
    e = json_loadb((const char *)b->canon, b->canon_len, JSON_ALLOW_NUL, NULL);
    if (!e)
        return 0;
    actor = json_object_get(e, "actor");
    resource = json_object_get(e, "resource");
    ok = (!q->actor.s || str_eq(json_object_get(actor, "id"), &q->actor)) &&
         (!q->action.s || str_eq(json_object_get(e, "action"), &q->action)) &&
         (!q->resource_type.s || str_eq(json_object_get(resource, "type"), &q->resource_type)) &&
         (!q->resource_id.s || str_eq(json_object_get(resource, "id"), &q->resource_id)) &&
         (!q->outcome.s || str_eq(json_object_get(e, "outcome"), &q->outcome));
    json_decref(e);
    return ok;
}

/* One candidate index: read, filter, give. Non-zero stops. */
static int candidate(qrun *r, uint64_t index)
{
    tl_audit_body b;
    int rc = tl_audit_body_read(r->log, index, &r->v, &b);
    if (rc != TL_OK) {
        r->rc = rc == TL_ERR_NOTFOUND ? TL_ERR_CORRUPT : rc;
        return 1;
    }
    if (b.erased || !matches(r->q, &b))
        return 0;
    if (r->given == r->q->limit) {
        r->more = 1; /* one more exists */
        return 1;
    }
    r->given++;
    return r->fn(r->ctx, index, &b) ? 1 : 0;
}

/* One member filter's index: the tag and value hash of its keys, and the
 * indexes of the last seek, highest first: every index of the filter in
 * [idx[n-1], seek_at] (down to the end of the index if done). The index is
 * read from both forms, the packed one (10 'p', one key a batch) and the
 * one key an event of older logs (10 'i'), merged. */
#define QIDX_AHEAD 64         /* indexes read ahead a seek, one key an event */
#define QIDX_AHEAD_PACKED 256 /* ... in the packed form (a few keys) */
typedef struct qidx {
    char f;
    uint8_t h8[8];
    int valid, done, packed_only;
    size_t n, pos;
    uint64_t seek_at;
    uint64_t idx[QIDX_AHEAD_PACKED + QIDX_AHEAD];
} qidx;

/* One form's indexes <= at, highest first, up to cap. */
typedef struct qfill {
    uint64_t at;
    size_t n, cap;
    int corrupt;
    uint64_t idx[QIDX_AHEAD_PACKED];
} qfill;

static int on_index_ahead(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    qfill *x = ctx;
    (void)val;
    (void)vlen;
    if (klen != 19)
        return 0;
    x->idx[x->n++] = ~tl_layout_get_u64((const uint8_t *)key + 11);
    return x->n == x->cap;
}

/* A packed key's indexes (value: varints of index - first, highest first,
 * the last 0), those <= at. */
static int on_packed_ahead(void *ctx, const void *key, size_t klen, const void *val, size_t vlen)
{
    qfill *x = ctx;
    const uint8_t *p = val, *end = p + vlen;
    uint64_t first, prev = UINT64_MAX;
    if (klen != 19)
        return 0;
    first = ~tl_layout_get_u64((const uint8_t *)key + 11);
    while (p < end) {
        uint64_t off = 0, idx;
        unsigned shift = 0;
        for (;;) {
            if (p == end || shift > 63) {
                x->corrupt = 1;
                return 1;
            }
            off |= (uint64_t)(*p & 0x7f) << shift;
            shift += 7;
            if (!(*p++ & 0x80))
                break;
        }
        idx = first + off;
        if (idx < first || (prev != UINT64_MAX && idx >= prev)) {
            x->corrupt = 1; /* not descending */
            return 1;
        }
        prev = idx;
        if (idx > x->at)
            continue;
        x->idx[x->n++] = idx;
        if (x->n == x->cap)
            return 1;
    }
    if (prev != first) {
        x->corrupt = 1; /* the last is first itself */
        return 1;
    }
    return 0;
}

/* Reads one form (tag 'p' or 'i') of x's index from at down into q. */
static int fill_form(tl_log *log, const qidx *x, uint8_t form, uint64_t at, size_t cap, qfill *q,
                     tl_store_range_fn fn)
{
    uint8_t lo[19], hi[20];
    int rc;
    lo[0] = TL_LAYOUT_KIND_PREFIX;
    lo[1] = form;
    lo[2] = (uint8_t)x->f;
    memcpy(lo + 3, x->h8, 8);
    memcpy(hi, lo, 11);
    tl_layout_put_u64(lo + 11, ~at);
    memset(hi + 11, 0xff, 8);
    hi[19] = 0;
    q->at = at;
    q->n = 0;
    q->cap = cap;
    q->corrupt = 0;
    if (cap == 0)
        return TL_OK;
    rc = tl_log_kind_range(log, lo, sizeof(lo), hi, sizeof(hi), fn, q);
    if (rc == 1)
        rc = TL_OK;
    if (rc == TL_OK && q->corrupt) {
        tl_log_corrupt(log, "an audit log's packed index key is malformed");
        rc = TL_ERR_CORRUPT;
    }
    return rc;
}

/* The highest index <= at in the index x (*have 0 if none); at never grows
 * from one call to the next. */
static int index_at_or_below(tl_log *log, qidx *x, uint64_t at, int *have, uint64_t *index)
{
    if (!x->valid || at > x->seek_at || (!x->done && at < x->idx[x->n - 1])) {
        qfill p, o;
        uint64_t bound = 0;
        size_t i = 0, j = 0;
        int rc;
        x->n = x->pos = 0;
        x->valid = 0;
        rc = fill_form(log, x, 'p', at, QIDX_AHEAD_PACKED, &p, on_packed_ahead);
        if (rc == TL_OK)
            rc = fill_form(log, x, 'i', at, x->packed_only ? 0 : QIDX_AHEAD, &o, on_index_ahead);
        if (rc != TL_OK)
            return rc;
        /* complete down to the lowest index of a form read in full */
        if (p.n == p.cap)
            bound = p.idx[p.n - 1];
        if (o.cap && o.n == o.cap && o.idx[o.n - 1] > bound)
            bound = o.idx[o.n - 1];
        while (i < p.n || j < o.n) {
            uint64_t v;
            if (j == o.n || (i < p.n && p.idx[i] > o.idx[j]))
                v = p.idx[i++];
            else if (i == p.n || o.idx[j] > p.idx[i])
                v = o.idx[j++];
            else
                v = (i++, o.idx[j++]); /* in both forms: once */
            if (v < bound)
                break;
            x->idx[x->n++] = v;
        }
        x->valid = 1;
        x->done = p.n < p.cap && (o.cap == 0 || o.n < o.cap);
        x->seek_at = at;
    }
    while (x->pos < x->n && x->idx[x->pos] > at)
        x->pos++;
    *have = x->pos < x->n;
    *index = *have ? x->idx[x->pos] : 0;
    return TL_OK;
}

/* The indexes below hi (and >= r->lo) that are in every filter's index,
 * from the highest down. One filter: its index, read ahead. Several: by
 * leapfrogging from one index to the next (each step is a seek to the
 * highest key at or below the current index, from a few read ahead), so
 * that the cost is in the indexes the rarest filters hold, not in those of
 * the most selective one alone. Each index found is a candidate like any
 * other: its body is read and checked. */
static int intersect(qrun *r, qidx *x, int nx, uint64_t hi)
{
    uint64_t cur = hi - 1;
    for (;;) {
        int agree = 0;
        for (int j = 0; agree < nx; j = (j + 1) % nx) {
            int have;
            uint64_t at;
            int rc = index_at_or_below(r->log, &x[j], cur, &have, &at);
            if (rc != TL_OK)
                return rc;
            if (!have || at < r->lo)
                return TL_OK;
            if (at == cur) {
                agree++;
            } else {
                cur = at;
                agree = 1;
            }
        }
        if (candidate(r, cur) || cur == r->lo)
            return TL_OK;
        cur--;
    }
}

int tl_audit_query_run(tl_log *log, uint64_t size, const tl_audit_query *q, tl_audit_hit_fn fn,
                       void *ctx, int *more)
{
    qrun r = {log, q, fn, ctx, 0, 0, 0, TL_OK, TL_BUF_INIT};
    uint64_t hi = q->below < size ? q->below : size;
    int rc = TL_OK;

    *more = 0;
    if (q->has_since && hi > 0)
        rc = first_at(log, 0, hi, q->since, &r.lo, &r.v);
    if (rc == TL_OK && q->has_until && hi > r.lo)
        rc = first_at(log, r.lo, hi, q->until, &hi, &r.v);
    if (rc == TL_OK && hi > r.lo && q->limit > 0) {
        /* the most selective first: it leads the leapfrogging */
        const struct {
            const tl_audit_str *v;
            char tag;
        } given[NFIELDS] = {{&q->resource_id, 'r'},
                            {&q->actor, 'a'},
                            {&q->action, 'c'},
                            {&q->resource_type, 't'},
                            {&q->outcome, 'o'}};
        qidx x[NFIELDS];
        int nx = 0;
        for (int i = 0; i < NFIELDS; i++)
            nx += given[i].v->s != NULL;
        if (nx > 0) {
            tl_hasher *h = tl_hasher_new();
            int packed_only = 0;
            rc = tl_log_kind_get(log, packed_only_key, sizeof(packed_only_key), &r.v);
            if (rc == TL_OK)
                packed_only = r.v.len == 1 && r.v.data[0] == 1;
            if (rc == TL_ERR_NOTFOUND)
                rc = TL_OK;
            if (rc != TL_OK) {
                tl_hasher_free(h);
            } else if (!h) {
                rc = TL_ERR_NOMEM;
            } else {
                nx = 0;
                for (int i = 0; i < NFIELDS; i++)
                    if (given[i].v->s) {
                        tl_hash d;
                        tl_sha256(h, given[i].v->s, given[i].v->len, &d);
                        x[nx].f = given[i].tag;
                        memcpy(x[nx].h8, d.b, 8);
                        x[nx].packed_only = packed_only;
                        x[nx++].valid = 0;
                    }
                tl_hasher_free(h);
                rc = intersect(&r, x, nx, hi);
            }
        } else {
            for (uint64_t i = hi; i > r.lo && rc == TL_OK; i--)
                if (candidate(&r, i - 1))
                    break;
        }
    }
    if (rc == TL_OK)
        rc = r.rc;
    *more = r.more;
    tl_buf_release(&r.v);
    return rc;
}
