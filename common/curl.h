/*
 * curl.h - the one setup of a libcurl easy handle for tlogd's HTTP clients:
 * `tlog` (client/http.c), tlogd's witness client (log/cosigner.c) and
 * tlog-witness's log poller (witness/pull.c). Each keeps its own request
 * logic (easy or multi handle, retries, backoff) and sets the request (URL,
 * method, body, headers) after this.
 *
 * What every transfer gets:
 *  - http:// and https:// only (redirects, never followed, likewise);
 *  - TLS peer and host name verification, always; a CA file, when given,
 *    replaces the system store, both its bundle and its folder;
 *  - a connect timeout and a whole-transfer timeout;
 *  - no signals (CURLOPT_NOSIGNAL: the callers are threaded);
 *  - HTTP/2 over TLS when the server offers it (ALPN), HTTP/1.1 on
 *    http://, or HTTP/2 with prior knowledge on http:// (h2c) when asked;
 *  - the response body into a tl_buf with a limit: a body that would pass
 *    it fails the transfer (CURLE_WRITE_ERROR) and sets the sink's over;
 *  - the caller's user agent and, if given, its error buffer.
 *
 * Built as its own library (tl_curl) so that tl_common, under the Merkle
 * code, does not link libcurl.
 */
#ifndef TL_COMMON_CURL_H
#define TL_COMMON_CURL_H

#include <stddef.h>

#include <curl/curl.h>

#include "common/buf.h"

/* Where a response body goes: appended to buf (borrowed), at most max bytes
 * in all. over is set when a body was cut off for passing max; the caller
 * clears it (and resets buf) before each transfer. */
typedef struct tl_curl_sink {
    tl_buf *buf;
    size_t max;
    int over;
} tl_curl_sink;

typedef struct tl_curl_opts {
    const char *user_agent;  /* required */
    const char *ca_file;     /* PEM CA certificates, the only trust anchors; NULL: system store */
    long connect_timeout_ms; /* > 0 */
    long timeout_ms;         /* > 0: the whole transfer */
    int h2c;                 /* HTTP/2 with prior knowledge on http:// */
    char *errbuf;            /* CURL_ERROR_SIZE bytes for curl's detail of a failure, or NULL */
} tl_curl_opts;

/* Sets o and the body sink on e (sink and the strings of o are borrowed
 * until the transfers end). Returns TL_OK, or TL_ERR_INVALID when libcurl
 * refuses one of the options that keep transfers safe (out of memory, or a
 * libcurl without TLS or older than 7.85): e must then not be used. A
 * libcurl without HTTP/2 is not an error: it speaks HTTP/1.1. */
int tl_curl_setup(CURL *e, const tl_curl_opts *o, tl_curl_sink *sink);

#endif
