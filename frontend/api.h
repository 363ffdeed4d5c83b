/*
 * api.h - tlogd's HTTP handlers (the API of the contract, docs/USAGE.md): C2SP
 * tlog-tiles reads, POST /add with C2SP tlog-proof answers, the RFC 6962 JSON
 * endpoints, /metrics and /healthz. Serves only what the PUBLISHED checkpoint
 * covers. Runs on the tl_httpd loop thread; the log's callbacks hop onto it
 * with tl_httpd_run_in_loop.
 */
#ifndef TL_FRONTEND_API_H
#define TL_FRONTEND_API_H

#include <stddef.h>

#include "log/cosigner.h"
#include "http/httpd.h"
#include "log/log.h"

typedef struct tl_api tl_api;

typedef struct tl_api_config {
    tl_log *log;              /* borrowed; must outlive the api */
    tl_cosigner *cosigner;    /* borrowed, may be NULL (metrics only) */
    size_t max_entry;         /* bytes (default 65535) */
    unsigned add_timeout_ms;  /* POST /add wait for publication (default 30 s) */
    unsigned get_entries_max; /* entries per get-entries call (default 1000) */
} tl_api_config;

/* Creates the api and registers its log listener (call before traffic). */
int tl_api_new(const tl_api_config *cfg, struct event_base *base, tl_api **out);
/* The server the api answers through (for tl_httpd_run_in_loop). */
void tl_api_set_httpd(tl_api *a, tl_httpd *h);
/* The tl_http_handler_fn; ctx is the tl_api. */
void tl_api_handle(void *ctx, tl_http_req *req);
/* Answers every waiting POST /add with 503 (used when the log stopped). */
void tl_api_fail_waiters(tl_api *a);
/* Frees; the log must be closed first (no more callbacks). */
void tl_api_free(tl_api *a);

#endif
