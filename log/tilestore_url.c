/*
 * tilestore_url.c - the URL forms of tlogd serve --publish (docs/PUBLISH.md)
 * and the object paths every tile store takes (tilestore.h):
 *   file:///DIR               a folder (tilestore_dir.c); DIR absolute
 *   s3://BUCKET[/PREFIX]      a bucket (tilestore_s3.c), with --s3-endpoint
 *                             URL for a server other than AWS
 * The checks are strict: a URL is taken only in one of these forms, so that
 * a typo stops tlogd at start instead of publishing somewhere else.
 */
#include "log/tilestore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/err.h"

static int seg_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
}

/* [A-Za-z0-9._-] segments joined by '/', none empty or starting with '.'. */
static int segments_ok(const char *p, size_t n)
{
    if (n == 0)
        return 0;
    size_t seg = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || p[i] == '/') {
            if (seg == 0 || p[i - seg] == '.')
                return 0;
            seg = 0;
        } else if (!seg_char(p[i])) {
            return 0;
        } else {
            seg++;
        }
    }
    return 1;
}

int tl_tilestore_path_ok(const char *path)
{
    size_t n = strnlen(path, TL_TILESTORE_PATH_MAX + 1);
    return n <= TL_TILESTORE_PATH_MAX && segments_ok(path, n);
}

/* A DNS-compatible bucket name (the rules of S3's virtual-hosted style). */
static int bucket_ok(const char *b, size_t n)
{
    if (n < 3 || n > 63)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '-' && c != '.')
            return 0;
        if (!alnum && (i == 0 || i == n - 1))
            return 0;
        if (c == '.' && b[i - 1] == '.')
            return 0;
    }
    return 1;
}

/* http(s)://HOST[:PORT][/], nothing more (libcurl's URL parser). */
static int endpoint_ok(const char *url, char *err, size_t cap)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *path = NULL, *query = NULL, *frag = NULL, *user = NULL;
    int ok = 0;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK) {
        ok = (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) &&
             (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) &&
             strcmp(path, "/") == 0 &&
             curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_NO_QUERY &&
             curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_NO_FRAGMENT &&
             curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_NO_USER;
    }
    curl_free(scheme);
    curl_free(path);
    curl_free(query);
    curl_free(frag);
    curl_free(user);
    curl_url_cleanup(u);
    if (!ok)
        snprintf(err, cap, "--s3-endpoint wants http(s)://HOST[:PORT], not '%s'", url);
    return ok ? TL_OK : TL_ERR_INVALID;
}

/* Splits s3://BUCKET[/PREFIX[/]]: bucket at *b (*bn bytes), prefix at *p
 * (*pn bytes, 0 for none). */
static int split_s3(const char *url, const char **b, size_t *bn, const char **p, size_t *pn)
{
    const char *s = url + 5;
    const char *slash = strchr(s, '/');
    *b = s;
    *bn = slash ? (size_t)(slash - s) : strlen(s);
    *p = slash ? slash + 1 : s + *bn;
    *pn = strlen(*p);
    if (*pn && (*p)[*pn - 1] == '/')
        (*pn)--;
    if (!bucket_ok(*b, *bn))
        return 0;
    return *pn == 0 || (*pn <= 256 && segments_ok(*p, *pn));
}

int tl_tilestore_url_check(const char *url, const char *s3_endpoint, char *err, size_t cap)
{
    if (s3_endpoint && endpoint_ok(s3_endpoint, err, cap) != TL_OK)
        return TL_ERR_INVALID;
    if (strncmp(url, "file://", 7) == 0) {
        const char *d = url + 7;
        if (d[0] != '/' || d[1] == '\0') {
            snprintf(err, cap, "--publish %s: want file:///DIR with DIR an absolute path", url);
            return TL_ERR_INVALID;
        }
        if (strlen(d) > 3000 || strstr(d, "/../") || strstr(d, "/./") ||
            (strlen(d) >= 3 && strcmp(d + strlen(d) - 3, "/..") == 0)) {
            snprintf(err, cap, "--publish %s: DIR must be a plain absolute path", url);
            return TL_ERR_INVALID;
        }
        return TL_OK;
    }
    if (strncmp(url, "s3://", 5) == 0) {
        const char *b, *p;
        size_t bn, pn;
        if (!split_s3(url, &b, &bn, &p, &pn)) {
            snprintf(err, cap,
                     "--publish %s: want s3://BUCKET[/PREFIX] (a DNS-style bucket name, a prefix "
                     "of [A-Za-z0-9._-] segments)",
                     url);
            return TL_ERR_INVALID;
        }
        if (!s3_endpoint && memchr(b, '.', bn)) {
            snprintf(err, cap, "--publish %s: a bucket name with dots needs --s3-endpoint", url);
            return TL_ERR_INVALID;
        }
        return TL_OK;
    }
    snprintf(err, cap, "--publish %s: want file:///DIR or s3://BUCKET[/PREFIX]", url);
    return TL_ERR_INVALID;
}

int tl_tilestore_open_url(const char *url, const char *s3_endpoint, tl_tilestore **out, char *err,
                          size_t cap)
{
    *out = NULL;
    int rc = tl_tilestore_url_check(url, s3_endpoint, err, cap);
    if (rc != TL_OK)
        return rc;
    if (strncmp(url, "file://", 7) == 0)
        return tl_tilestore_open_dir(url + 7, out, err, cap);
    const char *b, *p;
    size_t bn, pn;
    split_s3(url, &b, &bn, &p, &pn);
    char *bucket = strndup(b, bn), *prefix = pn ? strndup(p, pn) : NULL;
    if (!bucket || (pn && !prefix)) {
        free(bucket);
        free(prefix);
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    tl_s3_config c;
    memset(&c, 0, sizeof c);
    c.bucket = bucket;
    c.prefix = prefix;
    c.endpoint = s3_endpoint;
    rc = tl_tilestore_open_s3(&c, out, err, cap);
    free(bucket);
    free(prefix);
    return rc;
}
