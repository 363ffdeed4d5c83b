/*
 * frontend.h - tlogd's HTTP API (docs/FRONTEND.md, docs/USAGE.md): C2SP
 * tlog-tiles reads, POST /add with C2SP tlog-proof answers, the RFC 6962
 * JSON endpoints, /metrics and /healthz, dispatched through one route table
 * (frontend/routes.c).
 *
 * Guarantees: serves only what the PUBLISHED checkpoint covers (never the
 * merely signed one); bad input gets a 4xx with a one-line reason.
 *
 * Threads: everything runs on the tl_httpd loop thread. The log's callbacks
 * run on its committer thread (add results, after the commit) and on the
 * committer or the publishing thread (listener events); they only queue and
 * wake the loop with tl_httpd_run_in_loop.
 */
#ifndef TL_FRONTEND_FRONTEND_H
#define TL_FRONTEND_FRONTEND_H

#include <stddef.h>

#include "http/httpd.h"
#include "log/cosigner.h"
#include "log/ha.h"
#include "log/log.h"
#include "log/publish.h"

struct event_base;

typedef struct tl_frontend tl_frontend;

typedef struct tl_frontend_config {
    tl_log *log;               /* borrowed; must outlive the frontend */
    tl_cosigner *cosigner;     /* borrowed, may be NULL (metrics only) */
    tl_publisher *publisher;   /* borrowed, may be NULL: no tile stores. Its metrics, the
                                * pushback of writes when it lags (tl_publisher_lagging), and
                                * with publish_before_answer the size writes wait for. It
                                * must be stopped before the frontend is freed. */
    tl_ha *ha;                 /* borrowed, may be NULL: high availability (metrics only) */
    int publish_before_answer; /* writes answer once every tile store holds a checkpoint
                                * covering them (tlogd serve --publish-before-answer) */
    const char *kind;          /* the log's entry kind name, borrowed (NULL = "blob");
                                * routes not served for it get 404 (internal.h) */
    size_t max_entry;          /* bytes (default 65535) */
    unsigned add_timeout_ms;   /* POST /add wait for publication (default 30 s) */
    unsigned get_entries_max;  /* entries per get-entries call (default 1000) */
    /* audit logs */
    const char *dir;      /* the log folder (its tokens file), borrowed */
    size_t max_event;     /* canonical event bytes (default 131072) */
    size_t max_batch;     /* events per POST (default 1000) */
    int anonymous_writes; /* anyone may submit */
    int public_events;    /* anyone may read and query */
    int map_workers;      /* threads that map what the audit sources receive (default
                           * 2; -1: none, they map on the loop thread) */
} tl_frontend_config;

/* Creates the frontend and registers its log listener (call before traffic).
 * For an audit log it opens the tokens of cfg->dir: err (cap bytes) gets a
 * one-line reason when they cannot be read. */
int tl_frontend_new(const tl_frontend_config *cfg, struct event_base *base, tl_frontend **out,
                    char *err, size_t cap);
/* The server the frontend answers through (for tl_httpd_run_in_loop). */
void tl_frontend_set_httpd(tl_frontend *f, tl_httpd *h);
/* The tl_http_handler_fn; ctx is the tl_frontend. */
void tl_frontend_handle(void *ctx, tl_http_req *req);
/* Answers every waiting write (POST /add) with 503 (used when the log stopped). */
void tl_frontend_fail_waiters(tl_frontend *f);
/* Syslog listeners of an audit log (frontend/syslog.c, docs/SOURCES.md). */
typedef struct tl_syslog_config {
    const char *listen;             /* --syslog-listen HOST:PORT (TCP, RFC 6587), or NULL */
    const char *tls_listen;         /* --syslog-tls-listen HOST:PORT (RFC 5425), or NULL */
    const char *tls_cert, *tls_key; /* the TLS listener's certificate and key */
    const char *relp_listen;        /* --relp-listen HOST:PORT (RELP, librelp), or NULL */
    const char *client_ca;          /* --syslog-client-ca: client certificates required,
                                     * verified by these CAs; NULL: none asked for */
    unsigned frame_timeout_ms;      /* a half frame's deadline (default 10000) */
    unsigned max_conns;             /* open syslog connections (default 1000) */
} tl_syslog_config;
/* Starts the listeners on the frontend's loop (an audit log only): err gets
 * a one-line reason when it cannot. */
int tl_frontend_syslog_start(tl_frontend *f, const tl_syslog_config *cfg, char *err, size_t cap);
/* Stops accepting; what the connections hold is submitted, then they close. */
void tl_frontend_syslog_stop(tl_frontend *f);
/* Frees; the log must be closed first (no more callbacks). */
void tl_frontend_free(tl_frontend *f);

#endif
