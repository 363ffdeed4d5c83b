/*
 * tilestore_s3.c - a tile store (tilestore.h) in an S3-compatible bucket:
 * s3://BUCKET[/PREFIX] as tlogd serve --publish takes it, with
 * --s3-endpoint URL for a server other than AWS (docs/PUBLISH.md).
 *
 * Requests: libcurl (common/curl.h's setup: HTTP/2 over TLS where the
 * server offers it) signed by libcurl's own AWS Signature Version 4
 * (CURLOPT_AWS_SIGV4, service s3), with x-amz-content-sha256 the SHA-256 of
 * the body and x-amz-security-token for temporary credentials. A custom
 * endpoint gets path-style URLs (ENDPOINT/BUCKET/KEY); AWS gets
 * virtual-hosted ones (https://BUCKET.s3.REGION.amazonaws.com/KEY). One easy
 * handle, reused, so the connection stays open between objects.
 *
 * Guarantees:
 *  - Objects: PUT with If-None-Match: * (write-once on the server); a 412
 *    means the key exists: it is read back and compared, the same bytes are
 *    TL_OK, other bytes TL_ERR_CONFLICT (a fork alarm in the publisher).
 *    Full tiles and bundles carry Cache-Control "public, max-age=31536000,
 *    immutable", partial ones "public, max-age=60"; Content-Type
 *    application/octet-stream, as tlogd serves them.
 *  - The checkpoint: PUT with If-Match: <ETag of the version this store
 *    read or wrote last> (If-None-Match: * when there is none), after every
 *    object it covers (the publisher's order); Cache-Control no-cache,
 *    Content-Type text/plain; charset=utf-8. A 412 is read back: our own
 *    bytes (an earlier try that landed) are TL_OK, others TL_ERR_CONFLICT.
 *  - At open, a probe PUTs ".tlogd/conditional-write-probe" under the prefix
 *    twice with If-None-Match: *. A server that answers the second with 200
 *    does not enforce conditional writes (s3rver, older MinIO and S3
 *    gateways): tlogd says so on stderr at start, and then reads every
 *    object before writing it and the checkpoint before replacing it, so
 *    damage is still found where the publisher writes, but two tlogd on one
 *    bucket could interleave between the read and the write.
 *  - Any other answer (network errors, 5xx, 403) is TL_ERR_NETWORK: the
 *    publisher retries with backoff; the first few and every 50th are logged
 *    with the status.
 *
 * Credentials and region (when tl_s3_config leaves them NULL): AWS_REGION
 * or AWS_DEFAULT_REGION, else the profile's region in the config file, else
 * us-east-1; AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN),
 * else the profile (AWS_PROFILE, default "default") in the shared
 * credentials file (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials),
 * else in the config file (AWS_CONFIG_FILE, default ~/.aws/config).
 *
 * Threads: one publisher thread at a time (tilestore.h).
 */
#include "log/tilestore.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "common/curl.h"
#include "common/err.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/version.h"

#define CC_IMMUTABLE "public, max-age=31536000, immutable"
#define CC_PARTIAL "public, max-age=60"
#define CC_CHECKPOINT "no-cache"
#define CT_TILE "application/octet-stream"
#define CT_CHECKPOINT "text/plain; charset=utf-8"
#define PROBE_KEY ".tlogd/conditional-write-probe"
#define ETAG_MAX 256

typedef struct s3 {
    tl_tilestore pub;
    char *name;    /* "s3://bucket/prefix" */
    char *base;    /* URL up to and including the '/' before the key */
    char *prefix;  /* "" or "prefix/" */
    char *sigv4;   /* "aws:amz:REGION:s3" */
    char *ak, *sk; /* credentials (sk wiped at close) */
    char *token;   /* "x-amz-security-token: ..." or NULL */
    char *ca_file; /* or NULL */
    int enforcing; /* the server enforces If-None-Match / If-Match */
    CURL *e;
    tl_buf body;            /* the last response body */
    char etag[ETAG_MAX];    /* of the last response, "" when none */
    tl_buf cp;              /* the checkpoint as last read or written */
    char cp_etag[ETAG_MAX]; /* its ETag, "" when unknown */
    int have_cp;
    unsigned long complaints; /* unexpected answers logged */
    char errbuf[CURL_ERROR_SIZE];
} s3;

/* ---- configuration --------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

static void trim(char **a, char **b)
{
    while (*a < *b && isspace((unsigned char)**a))
        (*a)++;
    while (*b > *a && isspace((unsigned char)(*b)[-1]))
        (*b)--;
}

/* The value of key in [section] of the INI file at path (malloc'd), or NULL. */
static char *ini_get(const char *path, const char *section, const char *key)
{
    char *text = NULL, *found = NULL;
    size_t len = 0;
    if (!path || tl_file_read(path, 1 << 20, &text, &len) != TL_OK)
        return NULL;
    int in = 0;
    for (char *line = text; line && *line && !found;) {
        char *nl = strchr(line, '\n');
        char *end = nl ? nl : line + strlen(line);
        char *a = line, *b = end;
        trim(&a, &b);
        if (a < b && *a == '[' && b[-1] == ']') {
            char *sa = a + 1, *sb = b - 1;
            trim(&sa, &sb);
            in =
                (size_t)(sb - sa) == strlen(section) && memcmp(sa, section, (size_t)(sb - sa)) == 0;
        } else if (in && a < b && *a != '#' && *a != ';') {
            char *eq = memchr(a, '=', (size_t)(b - a));
            if (eq) {
                char *ka = a, *kb = eq, *va = eq + 1, *vb = b;
                trim(&ka, &kb);
                trim(&va, &vb);
                if ((size_t)(kb - ka) == strlen(key) && memcmp(ka, key, (size_t)(kb - ka)) == 0)
                    found = strndup(va, (size_t)(vb - va));
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    OPENSSL_cleanse(text, len);
    free(text);
    return found;
}

static char *home_file(const char *env, const char *rel)
{
    const char *p = getenv(env);
    if (p && *p)
        return strdup(p);
    const char *home = getenv("HOME");
    if (!home || !*home)
        return NULL;
    size_t n = strlen(home) + strlen(rel) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", home, rel);
    return s;
}

static void free_secret(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

/* Fills region and credentials; err on none. */
static int resolve(s3 *s, const tl_s3_config *c, char **region, char *err, size_t cap)
{
    const char *profile = getenv("AWS_PROFILE");
    if (!profile || !*profile)
        profile = "default";
    char section[160];
    snprintf(section, sizeof section, "%s%s", strcmp(profile, "default") ? "profile " : "",
             profile);
    char *cfgfile = home_file("AWS_CONFIG_FILE", ".aws/config");
    char *credfile = home_file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
    char *tok = NULL;
    *region = dup_or_null(c->region);
    if (!*region)
        *region = dup_or_null(getenv("AWS_REGION"));
    if (!*region)
        *region = dup_or_null(getenv("AWS_DEFAULT_REGION"));
    if (!*region)
        *region = ini_get(cfgfile, section, "region");
    if (!*region)
        *region = strdup("us-east-1");
    if (c->access_key && c->secret_key) {
        s->ak = strdup(c->access_key);
        s->sk = strdup(c->secret_key);
        tok = dup_or_null(c->session_token);
    } else if (getenv("AWS_ACCESS_KEY_ID") && *getenv("AWS_ACCESS_KEY_ID") &&
               getenv("AWS_SECRET_ACCESS_KEY") && *getenv("AWS_SECRET_ACCESS_KEY")) {
        s->ak = strdup(getenv("AWS_ACCESS_KEY_ID"));
        s->sk = strdup(getenv("AWS_SECRET_ACCESS_KEY"));
        tok = dup_or_null(getenv("AWS_SESSION_TOKEN"));
    } else {
        const char *files[2] = {credfile, cfgfile};
        const char *sections[2] = {profile, section};
        for (int i = 0; i < 2 && !s->ak; i++) {
            char *ak = ini_get(files[i], sections[i], "aws_access_key_id");
            char *sk = ak ? ini_get(files[i], sections[i], "aws_secret_access_key") : NULL;
            if (ak && sk) {
                s->ak = ak;
                s->sk = sk;
                tok = ini_get(files[i], sections[i], "aws_session_token");
            } else {
                free_secret(ak);
                free_secret(sk);
            }
        }
    }
    free(cfgfile);
    free(credfile);
    if (tok) {
        size_t n = strlen(tok) + 32;
        s->token = malloc(n);
        if (s->token)
            snprintf(s->token, n, "x-amz-security-token: %s", tok);
        free_secret(tok);
    }
    if (!*region || !s->ak || !s->sk) {
        snprintf(err, cap,
                 "%s: no AWS credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                 "profile '%s' in ~/.aws/credentials or ~/.aws/config)",
                 s->name, profile);
        return TL_ERR_INVALID;
    }
    return TL_OK;
}

/* ---- requests -------------------------------------------------------------- */

/* Appends line to *h; on failure frees the list (and NULLs *h). */
static int append(struct curl_slist **h, const char *line)
{
    struct curl_slist *n = curl_slist_append(*h, line);
    if (!n) {
        curl_slist_free_all(*h);
        *h = NULL;
        return TL_ERR_NOMEM;
    }
    *h = n;
    return TL_OK;
}

/* One request: method on key (under the prefix) with body (PUT) and extra
 * headers. *status gets the HTTP status (0 when none came); the body goes
 * to s->body, the ETag to s->etag. TL_OK or TL_ERR_NETWORK. */
static int request(s3 *s, const char *method, const char *key, const void *body, size_t len,
                   const char *const *extra, long *status)
{
    char url[4096], sha[2 * SHA256_DIGEST_LENGTH + 1], hsha[128];
    uint8_t d[SHA256_DIGEST_LENGTH];
    struct curl_slist *h = NULL;
    int n = snprintf(url, sizeof url, "%s%s%s", s->base, s->prefix, key);
    *status = 0;
    if (n <= 0 || (size_t)n >= sizeof url)
        return TL_ERR_INVALID;
    SHA256(body ? body : (const void *)"", body ? len : 0, d);
    tl_hex_encode(d, sizeof d, sha);
    snprintf(hsha, sizeof hsha, "x-amz-content-sha256: %s", sha);
    curl_easy_reset(s->e);
    tl_buf_reset(&s->body);
    s->etag[0] = '\0';
    tl_curl_sink sink = {&s->body, TL_TILESTORE_OBJECT_MAX, 0};
    tl_curl_opts o = {"tlogd/" TL_VERSION, s->ca_file, 10000, 60000, 0, s->errbuf};
    s->errbuf[0] = '\0';
    if (tl_curl_setup(s->e, &o, &sink) != TL_OK)
        return TL_ERR_NETWORK;
    const char *fixed[] = {hsha, "Expect:", s->token};
    for (size_t i = 0; i < 3; i++)
        if (fixed[i] && append(&h, fixed[i]) != TL_OK)
            return TL_ERR_NOMEM;
    for (size_t i = 0; extra && extra[i]; i++)
        if (append(&h, extra[i]) != TL_OK)
            return TL_ERR_NOMEM;
    int ok = curl_easy_setopt(s->e, CURLOPT_URL, url) == CURLE_OK &&
             curl_easy_setopt(s->e, CURLOPT_AWS_SIGV4, s->sigv4) == CURLE_OK &&
             curl_easy_setopt(s->e, CURLOPT_USERNAME, s->ak) == CURLE_OK &&
             curl_easy_setopt(s->e, CURLOPT_PASSWORD, s->sk) == CURLE_OK &&
             curl_easy_setopt(s->e, CURLOPT_HTTPHEADER, h) == CURLE_OK;
    if (ok && strcmp(method, "PUT") == 0)
        ok = curl_easy_setopt(s->e, CURLOPT_CUSTOMREQUEST, "PUT") == CURLE_OK &&
             curl_easy_setopt(s->e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) == CURLE_OK &&
             curl_easy_setopt(s->e, CURLOPT_POSTFIELDS, body ? body : "") == CURLE_OK;
    else if (ok)
        ok = curl_easy_setopt(s->e, CURLOPT_HTTPGET, 1L) == CURLE_OK;
    CURLcode cc = ok ? curl_easy_perform(s->e) : CURLE_FAILED_INIT;
    curl_slist_free_all(h);
    if (cc != CURLE_OK) {
        if (s->complaints++ < 3 || s->complaints % 50 == 0)
            fprintf(stderr, "tlogd: %s: %s %s: %s\n", s->pub.name, method, key,
                    s->errbuf[0] ? s->errbuf : curl_easy_strerror(cc));
        return TL_ERR_NETWORK;
    }
    curl_easy_getinfo(s->e, CURLINFO_RESPONSE_CODE, status);
    struct curl_header *eh = NULL;
    if (curl_easy_header(s->e, "etag", 0, CURLH_HEADER, -1, &eh) == CURLHE_OK && eh->value &&
        strlen(eh->value) < sizeof s->etag)
        snprintf(s->etag, sizeof s->etag, "%s", eh->value);
    return TL_OK;
}

/* An answer that is not one the caller handles: logged, TL_ERR_NETWORK. */
static int unexpected(s3 *s, const char *method, const char *key, long status)
{
    if (s->complaints++ < 3 || s->complaints % 50 == 0) {
        int n = (int)(s->body.len > 200 ? 200 : s->body.len);
        char snippet[201];
        for (int i = 0; i < n; i++) {
            char c = (char)s->body.data[i];
            snippet[i] = c >= 0x20 && c < 0x7f ? c : ' ';
        }
        snippet[n] = '\0';
        fprintf(stderr, "tlogd: %s: %s %s: HTTP %ld %s\n", s->pub.name, method, key, status,
                snippet);
    }
    return TL_ERR_NETWORK;
}

/* GET key: TL_OK (s->body, s->etag), TL_ERR_NOTFOUND, or an error. */
static int get_key(s3 *s, const char *key)
{
    long st;
    int rc = request(s, "GET", key, NULL, 0, NULL, &st);
    if (rc != TL_OK)
        return rc;
    if (st == 200)
        return TL_OK;
    if (st == 404)
        return TL_ERR_NOTFOUND;
    return unexpected(s, "GET", key, st);
}

static int same(const tl_buf *b, const void *data, size_t len)
{
    return b->len == len && (len == 0 || memcmp(b->data, data, len) == 0);
}

/* What key holds compared with data: TL_OK, TL_ERR_CONFLICT, TL_ERR_NOTFOUND. */
static int compare_key(s3 *s, const char *key, const void *data, size_t len)
{
    int rc = get_key(s, key);
    if (rc != TL_OK)
        return rc;
    return same(&s->body, data, len) ? TL_OK : TL_ERR_CONFLICT;
}

static int s3_put(tl_tilestore *ts, const char *path, const void *data, size_t len)
{
    s3 *s = (s3 *)ts;
    if (!tl_tilestore_path_ok(path))
        return TL_ERR_INVALID;
    if (!s->enforcing) {
        int rc = compare_key(s, path, data, len);
        if (rc != TL_ERR_NOTFOUND)
            return rc;
    }
    const char *hdr[] = {strstr(path, ".p/") ? "Cache-Control: " CC_PARTIAL
                                             : "Cache-Control: " CC_IMMUTABLE,
                         "Content-Type: " CT_TILE, "If-None-Match: *", NULL};
    long st;
    int rc = request(s, "PUT", path, data, len, hdr, &st);
    if (rc != TL_OK)
        return rc;
    if (st == 200 || st == 201 || st == 204)
        return TL_OK;
    if (st == 412) {
        rc = compare_key(s, path, data, len);
        return rc == TL_ERR_NOTFOUND ? TL_ERR_NETWORK : rc;
    }
    return unexpected(s, "PUT", path, st);
}

static int s3_get(tl_tilestore *ts, const char *path, tl_buf *out)
{
    s3 *s = (s3 *)ts;
    if (!tl_tilestore_path_ok(path))
        return TL_ERR_INVALID;
    int rc = get_key(s, path);
    if (rc == TL_OK) {
        tl_buf_reset(out);
        rc = tl_buf_add(out, s->body.data ? s->body.data : (const uint8_t *)"", s->body.len);
    }
    return rc;
}

/* Reads the checkpoint into s->cp / s->cp_etag. */
static int read_checkpoint(s3 *s)
{
    int rc = get_key(s, "checkpoint");
    s->have_cp = 0;
    s->cp_etag[0] = '\0';
    if (rc != TL_OK)
        return rc;
    tl_buf_reset(&s->cp);
    rc = tl_buf_add(&s->cp, s->body.data ? s->body.data : (const uint8_t *)"", s->body.len);
    if (rc == TL_OK) {
        s->have_cp = 1;
        memcpy(s->cp_etag, s->etag, sizeof s->etag);
    }
    return rc;
}

static int s3_cas_checkpoint(tl_tilestore *ts, const char *old, size_t oldlen, const char *note,
                             size_t len)
{
    s3 *s = (s3 *)ts;
    char cond[ETAG_MAX + 16];
    /* Know the ETag of old: what this store last read or wrote, if it is
     * old, else read it now (and always when the server does not enforce). */
    if (old && (!s->enforcing || !s->have_cp || !s->cp_etag[0] || !same(&s->cp, old, oldlen))) {
        int rc = read_checkpoint(s);
        if (rc == TL_ERR_NOTFOUND)
            return TL_ERR_CONFLICT;
        if (rc != TL_OK)
            return rc;
        if (!same(&s->cp, old, oldlen))
            return TL_ERR_CONFLICT;
    } else if (!old && !s->enforcing) {
        int rc = read_checkpoint(s);
        if (rc == TL_OK)
            return TL_ERR_CONFLICT;
        if (rc != TL_ERR_NOTFOUND)
            return rc;
    }
    if (old && s->cp_etag[0])
        snprintf(cond, sizeof cond, "If-Match: %s", s->cp_etag);
    else if (old)
        return TL_ERR_NETWORK; /* the server gave no ETag: nothing to swap against */
    else
        snprintf(cond, sizeof cond, "If-None-Match: *");
    const char *hdr[] = {"Cache-Control: " CC_CHECKPOINT, "Content-Type: " CT_CHECKPOINT, cond,
                         NULL};
    long st;
    int rc = request(s, "PUT", "checkpoint", note, len, hdr, &st);
    if (rc != TL_OK)
        return rc;
    if (st == 200 || st == 201 || st == 204) {
        tl_buf_reset(&s->cp);
        rc = tl_buf_add(&s->cp, note, len);
        s->have_cp = rc == TL_OK;
        memcpy(s->cp_etag, s->etag, sizeof s->etag);
        return TL_OK;
    }
    if (st == 412) {
        rc = read_checkpoint(s);
        if (rc == TL_OK)
            return same(&s->cp, note, len) ? TL_OK : TL_ERR_CONFLICT;
        return rc == TL_ERR_NOTFOUND ? TL_ERR_CONFLICT : rc;
    }
    return unexpected(s, "PUT", "checkpoint", st);
}

static int s3_get_checkpoint(tl_tilestore *ts, tl_buf *out)
{
    s3 *s = (s3 *)ts;
    int rc = read_checkpoint(s);
    if (rc == TL_OK) {
        tl_buf_reset(out);
        rc = tl_buf_add(out, s->cp.data ? s->cp.data : (const uint8_t *)"", s->cp.len);
    }
    return rc;
}

static void s3_close(tl_tilestore *ts)
{
    s3 *s = (s3 *)ts;
    if (s->e)
        curl_easy_cleanup(s->e);
    tl_buf_release(&s->body);
    tl_buf_release(&s->cp);
    free(s->name);
    free(s->base);
    free(s->prefix);
    free(s->sigv4);
    free(s->ak);
    free_secret(s->sk);
    free_secret(s->token);
    free(s->ca_file);
    free(s);
}

/* An unconditional PUT: the object is replaced. */
static int s3_replace(tl_tilestore *ts, const char *path, const void *data, size_t len)
{
    s3 *s = (s3 *)ts;
    const char *hdr[] = {"Cache-Control: no-store", "Content-Type: " CT_TILE, NULL};
    long st;
    int rc;
    if (!tl_tilestore_path_ok(path))
        return TL_ERR_INVALID;
    rc = request(s, "PUT", path, data, len, hdr, &st);
    if (rc != TL_OK)
        return rc;
    return st == 200 || st == 201 || st == 204 ? TL_OK : unexpected(s, "PUT", path, st);
}

static const struct tl_tilestore_ops s3_ops = {
    s3_put, s3_get, s3_cas_checkpoint, s3_get_checkpoint, s3_close, NULL, s3_replace};

/* The probe of conditional writes (see the top of the file). */
static int probe(s3 *s, char *err, size_t cap)
{
    static const char body[] = "tlogd checks here whether PUT honours If-None-Match: *\n";
    const char *hdr[] = {"Content-Type: text/plain; charset=utf-8", "If-None-Match: *", NULL};
    long st[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        int rc = request(s, "PUT", PROBE_KEY, body, sizeof body - 1, hdr, &st[i]);
        if (rc != TL_OK || (st[i] != 200 && st[i] != 201 && st[i] != 204 && st[i] != 412)) {
            if (rc == TL_OK)
                snprintf(err, cap, "%s: PUT %s%s: HTTP %ld", s->name, s->prefix, PROBE_KEY, st[i]);
            else
                snprintf(err, cap, "%s: PUT %s%s: %s", s->name, s->prefix, PROBE_KEY,
                         s->errbuf[0] ? s->errbuf : "request failed");
            return TL_ERR_NETWORK;
        }
    }
    s->enforcing = st[1] == 412;
    if (s->enforcing)
        fprintf(stderr,
                "tlogd: %s: the server enforces conditional writes (If-None-Match, "
                "If-Match)\n",
                s->name);
    else
        fprintf(stderr,
                "tlogd: %s: the server does NOT enforce conditional writes (a second PUT with "
                "If-None-Match: * succeeded): objects and the checkpoint are read and compared "
                "before each write, which is not safe against a second writer on this bucket\n",
                s->name);
    return TL_OK;
}

int tl_tilestore_open_s3(const tl_s3_config *c, tl_tilestore **out, char *err, size_t cap)
{
    *out = NULL;
    s3 *s = calloc(1, sizeof *s);
    char *region = NULL;
    if (!s) {
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    s->pub.ops = &s3_ops;
    tl_buf_init(&s->body);
    tl_buf_init(&s->cp);
    size_t pn = c->prefix ? strlen(c->prefix) : 0;
    size_t n = strlen(c->bucket) + pn + 8;
    s->name = malloc(n);
    s->prefix = malloc(pn + 2);
    if (!s->name || !s->prefix) {
        s3_close(&s->pub);
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    snprintf(s->name, n, "s3://%s%s%s", c->bucket, pn ? "/" : "", pn ? c->prefix : "");
    snprintf(s->prefix, pn + 2, "%s%s", pn ? c->prefix : "", pn ? "/" : "");
    s->pub.name = s->name;
    int rc = resolve(s, c, &region, err, cap);
    if (rc != TL_OK) {
        free(region);
        s3_close(&s->pub);
        return rc;
    }
    size_t bn = strlen(c->bucket) + strlen(region) + (c->endpoint ? strlen(c->endpoint) : 0) + 64;
    s->base = malloc(bn);
    s->sigv4 = malloc(strlen(region) + 16);
    s->ca_file = c->ca_file ? strdup(c->ca_file) : NULL;
    s->e = curl_easy_init();
    if (!s->base || !s->sigv4 || !s->e || (c->ca_file && !s->ca_file)) {
        free(region);
        s3_close(&s->pub);
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    if (c->endpoint) {
        size_t el = strlen(c->endpoint);
        while (el && c->endpoint[el - 1] == '/')
            el--;
        snprintf(s->base, bn, "%.*s/%s/", (int)el, c->endpoint, c->bucket);
    } else {
        snprintf(s->base, bn, "https://%s.s3.%s.amazonaws.com/", c->bucket, region);
    }
    snprintf(s->sigv4, strlen(region) + 16, "aws:amz:%s:s3", region);
    free(region);
    rc = probe(s, err, cap);
    if (rc != TL_OK) {
        s3_close(&s->pub);
        return rc;
    }
    *out = &s->pub;
    return TL_OK;
}
