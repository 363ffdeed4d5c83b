/*
 * ct.c - the RFC 6962 §4 JSON endpoints: get-sth (§4.3), get-sth-consistency
 * (§4.4), get-proof-by-hash (§4.5), get-entries (§4.6) and
 * get-entry-and-proof (§4.8), over the published tree.
 *
 * Guarantees: queries are parsed strictly (query.h); sizes beyond the
 * published tree, first > second and the like are 400 with a one-line
 * reason, an unknown leaf hash 404. Proofs come from the frontend's log
 * reader. A 200 of get-sth-consistency or get-proof-by-hash depends only on
 * its query, so it is answered from the answer cache when it is there
 * (respond.c), before any parsing. Served entries are checked against their
 * leaf hashes by the log (tl_log_entry). Loop thread.
 */
#include "frontend/internal.h"

#include <stdlib.h>

#include "common/b64.h"
#include "common/err.h"
#include "frontend/query.h"

/* get-entries stops after this many entry bytes (RFC 6962 §4.6 lets a log
 * return fewer entries than asked), bounding one answer's memory. */
#define GET_ENTRIES_BYTES (2u << 20)

static json_t *hashes_json(const tl_hash *h, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        char p[TL_B64_LEN(TL_HASH_SIZE) + 1];
        tl_b64_encode(h[i].b, TL_HASH_SIZE, p);
        /* base64 is ASCII: skip jansson's UTF-8 check. */
        if (json_array_append_new(arr, json_stringn_nocheck(p, TL_B64_LEN(TL_HASH_SIZE))) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* {k1: v1[, k2: v2]} taking the values (NULL if any is NULL); cheaper than
 * json_pack's format parsing on the proof paths. */
static json_t *obj2(const char *k1, json_t *v1, const char *k2, json_t *v2)
{
    json_t *o = json_object();
    if (!o) {
        json_decref(v1);
        json_decref(v2);
        return NULL;
    }
    if (json_object_set_new_nocheck(o, k1, v1) != 0) {
        json_decref(v2);
        json_decref(o);
        return NULL;
    }
    if (k2 && json_object_set_new_nocheck(o, k2, v2) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *obj1(const char *k, json_t *v)
{
    return obj2(k, v, NULL, NULL);
}

/* Parses r's query into ps; on failure answers 400 (500 out of memory). */
static int query(tl_frontend *f, tl_http_req *r, fe_ep ep, tl_query_param *ps, size_t n)
{
    char why[160];
    int rc = tl_query_parse(tl_http_req_query(r), ps, n, why, sizeof why);
    if (rc != TL_OK)
        fe_fail(f, r, ep, rc, "%s", why);
    return rc == TL_OK;
}

void fe_ct_sth(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    if (!fe_need_pub(f, r, ep))
        return;
    fe_reply(f, r, ep, 200, "application/json", FE_CC_CHECKPOINT, f->sth_json, f->sth_json_len);
}

void fe_ct_consistency(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    if (!fe_need_pub(f, r, ep) || fe_reply_cached(f, r, ep))
        return;
    tl_query_param ps[] = {{.name = "first", .is_hash = 0}, {.name = "second", .is_hash = 0}};
    if (!query(f, r, ep, ps, 2))
        return;
    uint64_t m = ps[0].num, n = ps[1].num;
    if (m > n) {
        fe_fail(f, r, ep, TL_ERR_INVALID, "first (%llu) is greater than second (%llu)",
                (unsigned long long)m, (unsigned long long)n);
        return;
    }
    if (n > f->pub.size) {
        fe_fail(f, r, ep, TL_ERR_RANGE, "second (%llu) is beyond the tree size %llu",
                (unsigned long long)n, (unsigned long long)f->pub.size);
        return;
    }
    tl_hash proof[TL_MAX_PROOF];
    size_t len = 0;
    int rc = TL_OK;
    if (m > 0 && m < n)
        rc = tl_log_reader_consistency(f->rd, f->pub.size, m, n, proof, &len);
    if (rc != TL_OK) {
        fe_fail(f, r, ep, rc == TL_ERR_NOTFOUND ? TL_ERR_IO : rc, "cannot build the proof: %s",
                tl_strerror(rc));
        return;
    }
    fe_reply_json_immutable(f, r, ep, obj1("consistency", hashes_json(proof, len)));
}

void fe_ct_proof_by_hash(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    if (!fe_need_pub(f, r, ep) || fe_reply_cached(f, r, ep))
        return;
    tl_query_param ps[] = {{.name = "hash", .is_hash = 1}, {.name = "tree_size", .is_hash = 0}};
    if (!query(f, r, ep, ps, 2))
        return;
    uint64_t n = ps[1].num;
    if (n == 0 || n > f->pub.size) {
        fe_fail(f, r, ep, TL_ERR_RANGE, "tree_size %llu is not in 1..%llu", (unsigned long long)n,
                (unsigned long long)f->pub.size);
        return;
    }
    uint64_t idx;
    int rc = tl_log_reader_lookup(f->rd, &ps[0].hash, &idx);
    if (rc == TL_ERR_NOTFOUND || (rc == TL_OK && idx >= f->pub.size)) {
        fe_fail(f, r, ep, TL_ERR_NOTFOUND, "no entry with that leaf hash");
        return;
    }
    if (rc == TL_OK && idx >= n) {
        fe_fail(f, r, ep, TL_ERR_RANGE, "the leaf (index %llu) is not in the tree of size %llu",
                (unsigned long long)idx, (unsigned long long)n);
        return;
    }
    tl_hash proof[TL_MAX_PROOF];
    size_t len = 0;
    if (rc == TL_OK)
        rc = tl_log_reader_inclusion(f->rd, f->pub.size, idx, n, proof, &len);
    if (rc != TL_OK) {
        fe_fail(f, r, ep, rc == TL_ERR_NOTFOUND ? TL_ERR_IO : rc, "cannot build the proof: %s",
                tl_strerror(rc));
        return;
    }
    fe_reply_json_immutable(
        f, r, ep,
        obj2("leaf_index", json_integer((json_int_t)idx), "audit_path", hashes_json(proof, len)));
}

void fe_ct_entries(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    if (!fe_need_pub(f, r, ep))
        return;
    tl_query_param ps[] = {{.name = "start", .is_hash = 0}, {.name = "end", .is_hash = 0}};
    if (!query(f, r, ep, ps, 2))
        return;
    uint64_t s = ps[0].num, e = ps[1].num;
    if (s > e) {
        fe_fail(f, r, ep, TL_ERR_INVALID, "start (%llu) is greater than end (%llu)",
                (unsigned long long)s, (unsigned long long)e);
        return;
    }
    if (s >= f->pub.size) {
        fe_fail(f, r, ep, TL_ERR_RANGE, "start (%llu) is beyond the tree size %llu",
                (unsigned long long)s, (unsigned long long)f->pub.size);
        return;
    }
    if (e >= f->pub.size)
        e = f->pub.size - 1;
    if (e - s >= f->cfg.get_entries_max)
        e = s + f->cfg.get_entries_max - 1;
    json_t *arr = json_array();
    tl_buf b = TL_BUF_INIT;
    int rc = arr ? TL_OK : TL_ERR_NOMEM;
    size_t bytes = 0;
    for (uint64_t i = s; i <= e && rc == TL_OK && bytes < GET_ENTRIES_BYTES; i++) {
        tl_buf_reset(&b);
        rc = tl_log_entry(f->cfg.log, i, &b); /* checked against its leaf hash */
        if (rc != TL_OK)
            break;
        bytes += b.len;
        char *li = tl_b64_encode_alloc(b.data, b.len);
        json_t *o = li ? json_pack("{s:s, s:s}", "leaf_input", li, "extra_data", "") : NULL;
        free(li);
        if (!o || json_array_append_new(arr, o) != 0)
            rc = TL_ERR_NOMEM;
    }
    tl_buf_release(&b);
    if (rc != TL_OK) {
        json_decref(arr);
        fe_fail(f, r, ep, rc == TL_ERR_NOTFOUND ? TL_ERR_IO : rc, "cannot read entries: %s",
                tl_strerror(rc));
        return;
    }
    /* a range clipped at the tree size may return more later: short max-age */
    fe_reply_json(f, r, ep, json_pack("{s:o}", "entries", arr), FE_CC_PARTIAL);
}

void fe_ct_entry_and_proof(tl_frontend *f, tl_http_req *r, fe_ep ep)
{
    if (!fe_need_pub(f, r, ep))
        return;
    tl_query_param ps[] = {{.name = "leaf_index", .is_hash = 0},
                           {.name = "tree_size", .is_hash = 0}};
    if (!query(f, r, ep, ps, 2))
        return;
    uint64_t i = ps[0].num, n = ps[1].num;
    if (n > f->pub.size) {
        fe_fail(f, r, ep, TL_ERR_RANGE, "tree_size (%llu) is beyond the tree size %llu",
                (unsigned long long)n, (unsigned long long)f->pub.size);
        return;
    }
    if (i >= n) {
        fe_fail(f, r, ep, TL_ERR_RANGE, "leaf_index (%llu) is not below tree_size (%llu)",
                (unsigned long long)i, (unsigned long long)n);
        return;
    }
    tl_hash proof[TL_MAX_PROOF];
    size_t len = 0;
    tl_buf b = TL_BUF_INIT;
    int rc = tl_log_entry(f->cfg.log, i, &b); /* checked against its leaf hash */
    if (rc == TL_OK)
        rc = tl_log_reader_inclusion(f->rd, f->pub.size, i, n, proof, &len);
    char *li = rc == TL_OK ? tl_b64_encode_alloc(b.data, b.len) : NULL;
    tl_buf_release(&b);
    if (rc != TL_OK || !li) {
        fe_fail(f, r, ep,
                rc == TL_ERR_NOTFOUND ? TL_ERR_IO
                : rc                  ? rc
                                      : TL_ERR_NOMEM,
                "cannot read the entry: %s", tl_strerror(rc));
        return;
    }
    json_t *j = json_pack("{s:s, s:s, s:o}", "leaf_input", li, "extra_data", "", "audit_path",
                          hashes_json(proof, len));
    free(li);
    fe_reply_json(f, r, ep, j, FE_CC_IMMUTABLE);
}
