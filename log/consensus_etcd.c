/*
 * consensus_etcd.c - tl_consensus (consensus.h) on etcd v3's JSON gateway:
 * POST /v3/lease/grant, /v3/lease/keepalive, /v3/lease/revoke,
 * /v3/kv/range and /v3/kv/txn, keys and values in base64, 64-bit numbers as
 * JSON strings (the gateway's proto3 JSON mapping; members at their default
 * value, such as "succeeded": false, are left out of answers).
 *
 * One libcurl easy handle (common/curl.h's setup), reused across requests
 * and endpoints. A request that gets no HTTP answer, or a 5xx, goes to the
 * next endpoint (at most one round over the list); the last error is
 * returned. etcd answers a request it refused with a JSON error and 4xx/5xx.
 * One thread at a time (consensus.h).
 */
#include "log/consensus.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/b64.h"
#include "common/curl.h"
#include "common/dec.h"
#include "common/err.h"
#include "common/version.h"

#define MAX_URLS 8
#define ANSWER_MAX (4u << 20)

typedef struct etcd {
    tl_consensus base;
    char *urls[MAX_URLS];
    size_t nurls, cur;
    unsigned timeout_ms;
    CURL *e;
    struct curl_slist *hdrs;
    tl_buf body;
    tl_curl_sink sink;
    char errbuf[CURL_ERROR_SIZE];
} etcd;

void tl_cons_kv_init(tl_cons_kv *kv)
{
    memset(kv, 0, sizeof(*kv));
    tl_buf_init(&kv->value);
}

void tl_cons_kv_release(tl_cons_kv *kv)
{
    tl_buf_release(&kv->value);
}

/* One http(s)://HOST:PORT with nothing after it. */
static int url_ok(const char *u, size_t len)
{
    size_t i = 0;
    if (len > 7 && memcmp(u, "http://", 7) == 0)
        i = 7;
    else if (len > 8 && memcmp(u, "https://", 8) == 0)
        i = 8;
    else
        return 0;
    const char *colon = memchr(u + i, ':', len - i);
    if (!colon || colon == u + i || (size_t)(colon - u) + 1 >= len)
        return 0;
    for (const char *p = u + i; p < colon; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-'))
            return 0;
    for (const char *p = colon + 1; p < u + len; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return len - (size_t)(colon + 1 - u) <= 5;
}

int tl_cons_etcd_urls_check(const char *urls, char *err, size_t cap)
{
    size_t n = 0;
    const char *p = urls;
    for (;;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (!url_ok(p, len)) {
            snprintf(err, cap, "--etcd wants http(s)://HOST:PORT[,...], not '%.*s'", (int)len, p);
            return TL_ERR_INVALID;
        }
        if (++n > MAX_URLS) {
            snprintf(err, cap, "--etcd takes at most %d URLs", MAX_URLS);
            return TL_ERR_INVALID;
        }
        if (!c)
            return TL_OK;
        p = c + 1;
    }
}

/* ---- JSON helpers ---------------------------------------------------------- */

static json_t *b64_str(const void *data, size_t len)
{
    char *s = tl_b64_encode_alloc(data, len);
    json_t *j = s ? json_string(s) : NULL;
    free(s);
    return j;
}

static json_t *i64_str(int64_t v)
{
    char s[24];
    snprintf(s, sizeof s, "%" PRId64, v);
    return json_string(s);
}

/* An int64 member as the gateway writes it (a string; absent = 0). */
static int get_i64(const json_t *o, const char *name, int64_t *out)
{
    const json_t *j = json_object_get(o, name);
    uint64_t v;
    *out = 0;
    if (!j)
        return TL_OK;
    if (json_is_integer(j)) {
        *out = (int64_t)json_integer_value(j);
        return TL_OK;
    }
    if (!json_is_string(j))
        return TL_ERR_INVALID;
    const char *s = json_string_value(j);
    int neg = s[0] == '-';
    if (tl_dec_parse_u64(s + neg, strlen(s + neg), INT64_MAX, &v) != TL_OK)
        return TL_ERR_INVALID;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return TL_OK;
}

/* A base64 member into out (absent: empty). */
static int get_b64(const json_t *o, const char *name, tl_buf *out)
{
    const json_t *j = json_object_get(o, name);
    tl_buf_reset(out);
    if (!j)
        return TL_OK;
    if (!json_is_string(j))
        return TL_ERR_INVALID;
    size_t slen = json_string_length(j), n = 0;
    if (tl_buf_grow(out, slen / 4 * 3 + 3) != TL_OK)
        return TL_ERR_NOMEM;
    int rc = tl_b64_decode(json_string_value(j), slen, out->data, slen / 4 * 3 + 3, &n);
    if (rc == TL_OK)
        out->len = n;
    return rc;
}

/* ---- requests ---------------------------------------------------------------- */

/* POSTs req to path at the endpoints until one answers; *ans gets the
 * parsed answer of a 2xx. */
static int call(etcd *c, const char *path, json_t *req, json_t **ans)
{
    char *text = json_dumps(req, JSON_COMPACT);
    int rc = TL_ERR_NETWORK;
    *ans = NULL;
    if (!text)
        return TL_ERR_NOMEM;
    for (size_t tries = 0; tries < c->nurls; tries++) {
        char url[320];
        long status = 0;
        snprintf(url, sizeof url, "%s%s", c->urls[c->cur], path);
        tl_buf_reset(&c->body);
        c->sink.over = 0;
        curl_easy_setopt(c->e, CURLOPT_URL, url);
        curl_easy_setopt(c->e, CURLOPT_POSTFIELDS, text);
        CURLcode cc = curl_easy_perform(c->e);
        if (cc == CURLE_OK)
            curl_easy_getinfo(c->e, CURLINFO_RESPONSE_CODE, &status);
        if (cc == CURLE_OK && status >= 200 && status < 300) {
            json_error_t je;
            *ans = json_loadb((const char *)c->body.data, c->body.len, 0, &je);
            rc = *ans && json_is_object(*ans) ? TL_OK : TL_ERR_INVALID;
            if (rc != TL_OK) {
                json_decref(*ans);
                *ans = NULL;
            }
            break;
        }
        if (cc == CURLE_OK && status < 500) {
            /* the cluster refused it (bad request, unknown lease, ...) */
            fprintf(stderr, "tlogd: etcd %s%s: HTTP %ld: %.*s\n", c->urls[c->cur], path, status,
                    (int)(c->body.len > 200 ? 200 : c->body.len), (const char *)c->body.data);
            rc = status == 404 ? TL_ERR_NOTFOUND : TL_ERR_INVALID;
            break;
        }
        rc = cc == CURLE_OPERATION_TIMEDOUT ? TL_ERR_TIMEOUT : TL_ERR_NETWORK;
        c->cur = (c->cur + 1) % c->nurls;
    }
    free(text);
    return rc;
}

static int etcd_lease_grant(tl_consensus *base, unsigned ttl_ms, int64_t *lease,
                            unsigned *granted_ms)
{
    etcd *c = (etcd *)base;
    json_t *req = json_object(), *ans = NULL;
    int64_t ttl;
    /* etcd counts leases in whole seconds */
    json_object_set_new(req, "TTL", i64_str((ttl_ms + 999) / 1000));
    int rc = call(c, "/v3/lease/grant", req, &ans);
    json_decref(req);
    if (rc == TL_OK && (get_i64(ans, "ID", lease) != TL_OK || get_i64(ans, "TTL", &ttl) != TL_OK ||
                        *lease == 0 || ttl <= 0))
        rc = TL_ERR_INVALID;
    if (rc == TL_OK && granted_ms)
        *granted_ms = (unsigned)ttl * 1000;
    json_decref(ans);
    return rc;
}

static int etcd_lease_keepalive(tl_consensus *base, int64_t lease)
{
    etcd *c = (etcd *)base;
    json_t *req = json_object(), *ans = NULL;
    int64_t ttl = 0;
    json_object_set_new(req, "ID", i64_str(lease));
    /* a streaming call: the gateway answers the one message with
     * {"result": {"ID", "TTL"}}; TTL absent or 0: the lease has ended */
    int rc = call(c, "/v3/lease/keepalive", req, &ans);
    json_decref(req);
    if (rc == TL_OK) {
        const json_t *res = json_object_get(ans, "result");
        if (!json_is_object(res) || get_i64(res, "TTL", &ttl) != TL_OK)
            rc = json_object_get(ans, "error") ? TL_ERR_NOTFOUND : TL_ERR_INVALID;
        else if (ttl <= 0)
            rc = TL_ERR_NOTFOUND;
    }
    json_decref(ans);
    return rc;
}

static int etcd_lease_revoke(tl_consensus *base, int64_t lease)
{
    etcd *c = (etcd *)base;
    json_t *req = json_object(), *ans = NULL;
    json_object_set_new(req, "ID", i64_str(lease));
    int rc = call(c, "/v3/lease/revoke", req, &ans);
    json_decref(req);
    json_decref(ans);
    return rc;
}

static int kv_from(const json_t *kv, tl_cons_kv *out)
{
    if (!json_is_object(kv))
        return TL_ERR_INVALID;
    int rc = get_b64(kv, "value", &out->value);
    if (rc == TL_OK)
        rc = get_i64(kv, "create_revision", &out->create_rev);
    if (rc == TL_OK)
        rc = get_i64(kv, "mod_revision", &out->mod_rev);
    if (rc == TL_OK)
        rc = get_i64(kv, "lease", &out->lease);
    return rc;
}

static int etcd_get(tl_consensus *base, const char *key, tl_cons_kv *out)
{
    etcd *c = (etcd *)base;
    json_t *req = json_object(), *ans = NULL;
    json_object_set_new(req, "key", b64_str(key, strlen(key)));
    int rc = call(c, "/v3/kv/range", req, &ans);
    json_decref(req);
    if (rc == TL_OK) {
        const json_t *kvs = json_object_get(ans, "kvs");
        if (!kvs || json_array_size(kvs) == 0)
            rc = TL_ERR_NOTFOUND;
        else
            rc = kv_from(json_array_get(kvs, 0), out);
    }
    json_decref(ans);
    return rc;
}

static int etcd_txn(tl_consensus *base, const tl_cons_cmp *cmps, size_t ncmps,
                    const tl_cons_put *puts, size_t nputs, int64_t *rev)
{
    static const char *const targets[] = {"MOD", "CREATE", "VALUE"};
    etcd *c = (etcd *)base;
    json_t *req = json_object(), *cmp = json_array(), *succ = json_array(), *ans = NULL;
    for (size_t i = 0; i < ncmps; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "key", b64_str(cmps[i].key, strlen(cmps[i].key)));
        json_object_set_new(o, "result", json_string("EQUAL"));
        json_object_set_new(o, "target", json_string(targets[cmps[i].target]));
        if (cmps[i].target == TL_CONS_MOD)
            json_object_set_new(o, "mod_revision", i64_str(cmps[i].rev));
        else if (cmps[i].target == TL_CONS_CREATE)
            json_object_set_new(o, "create_revision", i64_str(cmps[i].rev));
        else
            json_object_set_new(o, "value", b64_str(cmps[i].value, cmps[i].vlen));
        json_array_append_new(cmp, o);
    }
    for (size_t i = 0; i < nputs; i++) {
        json_t *p = json_object(), *o = json_object();
        json_object_set_new(p, "key", b64_str(puts[i].key, strlen(puts[i].key)));
        json_object_set_new(p, "value", b64_str(puts[i].value, puts[i].vlen));
        if (puts[i].lease)
            json_object_set_new(p, "lease", i64_str(puts[i].lease));
        json_object_set_new(o, "request_put", p);
        json_array_append_new(succ, o);
    }
    json_object_set_new(req, "compare", cmp);
    json_object_set_new(req, "success", succ);
    int rc = call(c, "/v3/kv/txn", req, &ans);
    json_decref(req);
    if (rc == TL_OK) {
        const json_t *ok = json_object_get(ans, "succeeded");
        if (ok && !json_is_boolean(ok))
            rc = TL_ERR_INVALID;
        else if (!json_is_true(ok))
            rc = TL_ERR_CONFLICT;
        else if (rev && get_i64(json_object_get(ans, "header"), "revision", rev) != TL_OK)
            rc = TL_ERR_INVALID;
    }
    json_decref(ans);
    return rc;
}

static void etcd_close(tl_consensus *base)
{
    etcd *c = (etcd *)base;
    for (size_t i = 0; i < c->nurls; i++)
        free(c->urls[i]);
    if (c->e)
        curl_easy_cleanup(c->e);
    curl_slist_free_all(c->hdrs);
    tl_buf_release(&c->body);
    free(c);
}

static const struct tl_consensus_ops etcd_ops = {
    etcd_lease_grant, etcd_lease_keepalive, etcd_lease_revoke, etcd_get, etcd_txn, etcd_close,
};

int tl_cons_open_etcd(const char *urls, unsigned timeout_ms, tl_consensus **out, char *err,
                      size_t cap)
{
    etcd *c;
    *out = NULL;
    if (tl_cons_etcd_urls_check(urls, err, cap) != TL_OK)
        return TL_ERR_INVALID;
    c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    c->base.ops = &etcd_ops;
    c->timeout_ms = timeout_ms;
    tl_buf_init(&c->body);
    for (const char *p = urls; p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        c->urls[c->nurls] = strndup(p, len);
        if (!c->urls[c->nurls++])
            goto nomem;
        p = comma ? comma + 1 : NULL;
    }
    c->e = curl_easy_init();
    c->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (!c->e || !c->hdrs)
        goto nomem;
    c->sink.buf = &c->body;
    c->sink.max = ANSWER_MAX;
    tl_curl_opts o = {"tlogd/" TL_VERSION, NULL, (long)timeout_ms, (long)timeout_ms, 0, c->errbuf};
    if (tl_curl_setup(c->e, &o, &c->sink) != TL_OK ||
        curl_easy_setopt(c->e, CURLOPT_HTTPHEADER, c->hdrs) != CURLE_OK) {
        snprintf(err, cap, "cannot set up libcurl for etcd");
        etcd_close(&c->base);
        return TL_ERR_INVALID;
    }
    *out = &c->base;
    return TL_OK;
nomem:
    snprintf(err, cap, "out of memory");
    etcd_close(&c->base);
    return TL_ERR_NOMEM;
}
