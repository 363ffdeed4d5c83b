/* curl.c - the libcurl easy-handle setup of tlogd's HTTP clients; see curl.h. */
#include "common/curl.h"
#include "common/err.h"

static size_t sink_write(char *p, size_t size, size_t nmemb, void *ctx)
{
    tl_curl_sink *s = ctx;
    size_t n = size * nmemb;
    if (s->buf->len > s->max || n > s->max - s->buf->len) {
        s->over = 1;
        return 0; /* fails the transfer */
    }
    if (tl_buf_add(s->buf, p, n) != TL_OK)
        return 0;
    return n;
}

int tl_curl_setup(CURL *e, const tl_curl_opts *o, tl_curl_sink *sink)
{
    if (o->errbuf) {
        o->errbuf[0] = '\0';
        if (curl_easy_setopt(e, CURLOPT_ERRORBUFFER, o->errbuf) != CURLE_OK)
            return TL_ERR_INVALID;
    }
    if (curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->timeout_ms) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_USERAGENT, o->user_agent) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink_write) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_WRITEDATA, sink) != CURLE_OK)
        return TL_ERR_INVALID;
    if (o->ca_file) {
        CURLcode rc = curl_easy_setopt(e, CURLOPT_CAPATH, (const char *)NULL);
        /* CURLE_NOT_BUILT_IN: this TLS backend has no CA folder to drop */
        if (curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file) != CURLE_OK ||
            (rc != CURLE_OK && rc != CURLE_NOT_BUILT_IN))
            return TL_ERR_INVALID;
    }
    /* Refused only by a libcurl without HTTP/2, which then speaks HTTP/1.1. */
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                     o->h2c ? (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
                            : (long)CURL_HTTP_VERSION_2TLS);
    return TL_OK;
}
