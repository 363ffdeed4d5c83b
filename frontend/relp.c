/*
 * relp.c - `--relp-listen` of an audit log (CONTRACT.md "Audit logs",
 * docs/SOURCES.md "RELP"): RELP with librelp, each message one event
 * (sources/syslog.h maps it, as for syslog over TCP), acknowledged only
 * after the commit point.
 *
 * librelp runs its own engine on a thread of ours and calls on_msg for each
 * syslog command; the "rsp 200" goes out when on_msg returns. So on_msg
 * hands the message to the loop thread and waits until the log's callback
 * says the group holding it is committed: a message is acknowledged only
 * once durable, and what tlogd did not take stays in the sender's queue
 * (rsyslog resends the unacknowledged ones on its next session). A full
 * pool delays the answer (back-pressure through the RELP window), never
 * drops the message. The engine serves its sessions on one thread, one
 * message at a time, so RELP throughput is one commit per message (see
 * docs/PERFORMANCE.md).
 *
 * Threads: the RELP thread (on_msg waits there), the loop thread (mapping,
 * submission, retries), the log's committer (on_commit: marks the requests
 * done under the lock and wakes their waiters).
 */
#include "frontend/internal.h"

#include <errno.h>
#include <librelp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "common/dec.h"
#include "common/err.h"
#include "sources/syslog.h"

#define RETRY_MS 10

/* One message waiting for its acknowledgement (on the RELP thread's stack). */
typedef struct relp_req {
    const uint8_t *msg;
    size_t len;
    char peer[64];
    int noid; /* submit without its id (a conflict) */
    int done, err;
    struct relp_req *next;
} relp_req;

struct fe_relp {
    tl_frontend *f;
    relpEngine_t *eng;
    pthread_t thr;
    int running;
    int port;
    char host[64];
    pthread_mutex_t mu;
    pthread_cond_t cv;
    relp_req *todo;      /* to submit (under mu) */
    relp_req *inflight;  /* submitted, not committed (under mu): a group at a time */
    int stopping;        /* under mu */
    int shutdown_now;    /* librelp's shutdown flag */
    struct event *wake;  /* the loop takes todo */
    struct event *retry; /* ... again, after the log was busy */
    uint64_t acked;
};

/* Marks every request of list done with err and wakes their waiters (mu held). */
static void finish(fe_relp *r, relp_req *list, int err)
{
    for (relp_req *q = list, *next; q; q = next) {
        next = q->next;
        q->err = err;
        q->done = 1;
        if (err == TL_OK)
            r->acked++;
    }
    pthread_cond_broadcast(&r->cv);
}

static void on_commit(void *ctx, int err, const tl_sub_result *res, size_t n, size_t bad)
{
    (void)res;
    fe_relp *r = ctx;
    pthread_mutex_lock(&r->mu);
    relp_req *list = r->inflight;
    r->inflight = NULL;
    if (err == TL_ERR_CONFLICT && bad < n) {
        /* another occurrence has one message's id: submit them again, that one without */
        relp_req *q = list;
        for (size_t i = 0; q && i < bad; i++)
            q = q->next;
        if (q && !q->noid) {
            q->noid = 1;
            relp_req *tail = list;
            while (tail->next)
                tail = tail->next;
            tail->next = r->todo;
            r->todo = list;
            pthread_mutex_unlock(&r->mu);
            event_active(r->wake, EV_READ, 0);
            return;
        }
    }
    finish(r, list, err);
    pthread_mutex_unlock(&r->mu);
    if (err == TL_OK)
        event_active(r->wake, EV_READ, 0); /* the next ones may wait */
}

/* Submits what waits (loop thread): one group at a time, in order. */
static void take_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fe_relp *r = arg;
    pthread_mutex_lock(&r->mu);
    if (r->inflight || !r->todo) {
        pthread_mutex_unlock(&r->mu);
        return;
    }
    relp_req *list = r->todo;
    r->todo = NULL;
    size_t n = 0;
    for (relp_req *q = list; q; q = q->next)
        n++;
    pthread_mutex_unlock(&r->mu);

    tl_audit_event *evs = calloc(n, sizeof *evs);
    relp_req **order = calloc(n, sizeof *order);
    size_t k = 0;
    int rc = evs && order ? TL_OK : TL_ERR_NOMEM;
    relp_req *keep = NULL, *ktail = NULL, *lost = NULL;
    char why[TL_AUDIT_REASON_MAX + 64];
    for (relp_req *q = list, *next; q && rc == TL_OK; q = next) {
        next = q->next;
        q->next = NULL;
        int e = q->noid
                    ? tl_syslog_event_without_id(q->msg, q->len, 0, q->peer, TL_SYSLOG_SUBMITTER,
                                                 r->f->cfg.max_event, &evs[k], why, sizeof why)
                    : tl_syslog_event(q->msg, q->len, 0, q->peer, TL_SYSLOG_SUBMITTER,
                                      r->f->cfg.max_event, &evs[k], NULL, why, sizeof why);
        if (e == TL_OK) {
            order[k++] = q;
            if (ktail)
                ktail->next = q;
            else
                keep = q;
            ktail = q;
        } else if (e == TL_ERR_TOOBIG) {
            fprintf(stderr, "tlogd: relp: %s: a message refused: %s\n", q->peer, why);
            q->next = lost;
            lost = q;
        } else {
            rc = e;
            /* put it and the rest back */
            q->next = next;
            if (ktail)
                ktail->next = q;
            else
                keep = q;
            break;
        }
    }
    if (rc == TL_OK && k > 0) {
        pthread_mutex_lock(&r->mu);
        r->inflight = keep;
        pthread_mutex_unlock(&r->mu);
        rc = fe_audit_submit(r->f, evs, k, on_commit, r);
    }
    for (size_t i = 0; i < k; i++)
        tl_audit_event_release(&evs[i]);
    free(evs);
    free(order);
    pthread_mutex_lock(&r->mu);
    if (lost)
        finish(r, lost, TL_ERR_TOOBIG);
    if (rc != TL_OK) {
        /* not taken now: back to the front, tried again soon */
        r->inflight = NULL;
        if (keep) {
            relp_req *t = keep;
            while (t->next)
                t = t->next;
            t->next = r->todo;
            r->todo = keep;
        }
    }
    pthread_mutex_unlock(&r->mu);
    if (rc != TL_OK) {
        struct timeval tv = {0, RETRY_MS * 1000};
        evtimer_add(r->retry, &tv);
    }
}

/* librelp's callback (RELP thread): returns once the message is committed. */
static relpRetVal on_msg(void *usr, unsigned char *host, unsigned char *ip, unsigned char *msg,
                         size_t len)
{
    (void)host;
    fe_relp *r = usr;
    relp_req q;
    memset(&q, 0, sizeof q);
    q.msg = msg;
    q.len = len;
    snprintf(q.peer, sizeof q.peer, "%s", ip ? (const char *)ip : "unknown");
    pthread_mutex_lock(&r->mu);
    if (r->stopping) {
        pthread_mutex_unlock(&r->mu);
        return RELP_RET_SESSION_BROKEN;
    }
    /* in order: at the end of what waits */
    relp_req **p = &r->todo;
    while (*p)
        p = &(*p)->next;
    *p = &q;
    pthread_mutex_unlock(&r->mu);
    event_active(r->wake, EV_READ, 0);
    pthread_mutex_lock(&r->mu);
    while (!q.done)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    return q.err == TL_OK ? RELP_RET_OK : RELP_RET_SESSION_BROKEN;
}

static void on_err(void *usr, char *objinfo, char *errmsg, relpRetVal code)
{
    (void)usr;
    (void)code;
    fprintf(stderr, "tlogd: relp: %.100s: %.200s\n", objinfo ? objinfo : "-",
            errmsg ? errmsg : "an error");
}

static void on_generic_err(char *objinfo, char *errmsg, relpRetVal code)
{
    on_err(NULL, objinfo, errmsg, code);
}

/* librelp calls its debug printer unconditionally: a quiet one. */
static void dbg_quiet(char *fmt, ...)
{
    (void)fmt;
}

static void *relp_thread(void *arg)
{
    fe_relp *r = arg;
    relpEngineRun(r->eng);
    return NULL;
}

/* A free port is not known before the engine binds; --relp-listen with
 * port 0 takes one here and gives it to librelp. */
static int pick_port(const char *host, int *port)
{
    struct sockaddr_in in;
    socklen_t l = sizeof in;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    if (fd < 0 || inet_pton(AF_INET, host, &in.sin_addr) != 1 ||
        bind(fd, (struct sockaddr *)&in, sizeof in) != 0 ||
        getsockname(fd, (struct sockaddr *)&in, &l) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(in.sin_port);
    close(fd);
    return 0;
}

int fe_relp_start(tl_frontend *f, const char *listen, fe_relp **out, char *err, size_t cap)
{
    const char *colon = strrchr(listen, ':');
    uint64_t port;
    *out = NULL;
    if (!colon || (size_t)(colon - listen) >= 64 ||
        tl_dec_parse_range(colon + 1, 0, 65535, &port) != TL_OK) {
        snprintf(err, cap, "bad --relp-listen address %s (want IP:PORT)", listen);
        return TL_ERR_INVALID;
    }
    fe_relp *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    *out = r;
    r->f = f;
    snprintf(r->host, sizeof r->host, "%.*s", (int)(colon - listen), listen);
    if (strcmp(r->host, "localhost") == 0 || r->host[0] == 0)
        snprintf(r->host, sizeof r->host, "%s", r->host[0] ? "127.0.0.1" : "0.0.0.0");
    r->port = (int)port;
    if (r->port == 0 && pick_port(r->host, &r->port) != 0) {
        snprintf(err, cap, "--relp-listen %s: cannot find a free port", listen);
        return TL_ERR_NETWORK;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    evthread_make_base_notifiable(f->base);
    r->wake = event_new(f->base, -1, 0, take_cb, r);
    r->retry = evtimer_new(f->base, take_cb, r);
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", r->port);
    relpSrv_t *srv = NULL;
    if (!r->wake || !r->retry || relpEngineConstruct(&r->eng) != RELP_RET_OK) {
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    relpEngineSetDbgprint(r->eng, dbg_quiet);
    relpEngineSetShutdownImmdtPtr(r->eng, &r->shutdown_now);
    relpEngineSetDnsLookupMode(r->eng, 0);
    relpEngineSetEnableCmd(r->eng, (unsigned char *)"syslog", eRelpCmdState_Required);
    relpEngineSetSyslogRcv2(r->eng, on_msg);
    relpEngineSetOnErr(r->eng, on_err);
    relpEngineSetOnGenericErr(r->eng, on_generic_err);
    if (relpEngineListnerConstruct(r->eng, &srv) != RELP_RET_OK ||
        relpSrvSetLstnPort(srv, (unsigned char *)portstr) != RELP_RET_OK ||
        relpSrvSetLstnAddr(srv, (unsigned char *)r->host) != RELP_RET_OK ||
        relpSrvSetUsrPtr(srv, r) != RELP_RET_OK ||
        relpSrvSetMaxDataSize(srv, tl_syslog_max_frame(f->cfg.max_event)) != RELP_RET_OK ||
        relpEngineListnerConstructFinalize(r->eng, srv) != RELP_RET_OK) {
        snprintf(err, cap, "--relp-listen %s: cannot listen (librelp)", listen);
        return TL_ERR_NETWORK;
    }
    if (pthread_create(&r->thr, NULL, relp_thread, r) != 0) {
        snprintf(err, cap, "cannot start the RELP thread");
        return TL_ERR_NOMEM;
    }
    r->running = 1;
    fprintf(stderr, "tlogd: relp: listening on %s:%d (port %d), acknowledging after commit\n",
            r->host, r->port, r->port);
    return TL_OK;
}

/* Wakes the engine out of its epoll_wait: a connection to its own port. */
static void poke(fe_relp *r)
{
    struct sockaddr_in in;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    in.sin_port = htons((uint16_t)r->port);
    if (strcmp(r->host, "0.0.0.0") == 0 || inet_pton(AF_INET, r->host, &in.sin_addr) != 1)
        inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
    if (fd >= 0) {
        if (connect(fd, (struct sockaddr *)&in, sizeof in) != 0 && errno != EINPROGRESS)
            (void)0;
        close(fd);
    }
}

void fe_relp_free(fe_relp *r, int log_closed)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stopping = 1;
    /* what waits now is not acknowledged: the sender keeps it */
    finish(r, r->todo, TL_ERR_STOPPED);
    r->todo = NULL;
    if (log_closed) {
        finish(r, r->inflight, TL_ERR_STOPPED);
        r->inflight = NULL;
    }
    pthread_mutex_unlock(&r->mu);
    if (!log_closed)
        return; /* the rest once the log is closed */
    if (r->running) {
        r->shutdown_now = 1;
        relpEngineSetStop(r->eng);
        struct timespec ts;
        int joined = 0;
        for (int i = 0; i < 50 && !joined; i++) {
            poke(r);
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            joined = pthread_timedjoin_np(r->thr, NULL, &ts) == 0;
        }
        if (!joined) {
            fprintf(stderr, "tlogd: relp: the engine did not stop; leaving it\n");
            return;
        }
    }
    fprintf(stderr, "tlogd: relp: stopped after %llu messages acknowledged\n",
            (unsigned long long)r->acked);
    if (r->eng)
        relpEngineDestruct(&r->eng);
    if (r->wake)
        event_free(r->wake);
    if (r->retry)
        event_free(r->retry);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

void fe_relp_metrics(fe_relp *r, tl_buf *b)
{
    pthread_mutex_lock(&r->mu);
    uint64_t acked = r->acked;
    pthread_mutex_unlock(&r->mu);
    tl_buf_addf(b,
                "# HELP tlogd_relp_messages_acked_total RELP messages acknowledged, each after "
                "the commit point.\n"
                "# TYPE tlogd_relp_messages_acked_total counter\n"
                "tlogd_relp_messages_acked_total %llu\n",
                (unsigned long long)acked);
}
