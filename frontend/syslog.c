/*
 * syslog.c - the syslog listeners of an audit log (CONTRACT.md "Audit logs",
 * docs/SOURCES.md "Syslog over TCP and TLS"): `--syslog-listen` (TCP, RFC
 * 6587) and `--syslog-tls-listen` (RFC 5425), each frame one event
 * (sources/syslog.h maps them), submitter @syslog or, with a verified
 * client certificate, @tls:<its subject CN>.
 *
 * Guarantees:
 *   - nothing that arrives is dropped: every frame becomes an event, what
 *     does not parse a syslog.unparsed one; an oversize frame its first
 *     bytes (the rest of it skipped, said in the log); a half frame left
 *     when the peer closes, or stalled past the deadline, an unparsed one;
 *   - back-pressure, not loss: when the log cannot take a group now
 *     (TL_ERR_BUSY: its pool is full, or publication lags), the connection
 *     stops reading (TCP flow control then holds the sender) and retries
 *     on a timer; the bytes stay in its buffer, which is bounded by the
 *     frame limit (the input's high watermark);
 *   - the frames of one read are submitted as one group, committed whole;
 *     the group keeps its frames until the log's callback, so that a frame
 *     whose id another occurrence already has (a 409 over HTTP) is
 *     submitted again without the id (details.conflicting_id) and still
 *     recorded, once;
 *   - at most max_conns connections; one log line per connection event,
 *     never a message's contents.
 * Loop thread, except on_commit (the log's committer thread), which only
 * queues and wakes the loop.
 */
#include "frontend/internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/clock.h"
#include "common/dec.h"
#include "common/err.h"
#include "sources/syslog.h"

#define GROUP_MAX 256     /* frames submitted together */
#define RETRY_MIN_MS 5    /* first retry after the log said busy */
#define RETRY_MAX_MS 1000 /* ... doubling up to this */
#define SUBMITTER_CAP (5 + 3 * TL_SYSLOG_CN_MAX + 1)
#define PEER_CAP 64
#define FLIGHT_MAX 4 /* a connection's groups with the mapping workers or waiting to go */

typedef struct sl_conn sl_conn;

/* Frames in flight: with the mapping workers, then submitted and waiting
 * for the log's callback. */
typedef struct sl_group {
    fe_job j; /* first: the mapping workers' job */
    fe_syslog *s;
    size_t n, cap;  /* frames, and room for them */
    tl_buf raw;     /* the frames, one after another */
    size_t *off;    /* n + 1 offsets into raw */
    uint8_t *trunc; /* per frame: cut at the limit */
    uint8_t *noid;  /* per frame: submit without its id (a conflict) */
    char peer[PEER_CAP];
    char submitter[SUBMITTER_CAP];
    int err; /* the log's answer */
    size_t bad;
    struct sl_group *qnext;
    /* mapped by a worker (workers touch only these and the frames) */
    struct sl_conn *c;      /* whose groups, in order, it is one of */
    struct sl_group *fnext; /* ... the next of them */
    int mapped;             /* the worker is done (loop thread) */
    size_t max_event;
    int map_rc;
    size_t k;      /* events encoded (frames --max-event cannot hold left out) */
    size_t toobig; /* ... those left out */
    tl_buf enc;    /* the k submissions, one after another */
    size_t *eoff;  /* k + 1 offsets into enc */
    tl_sub *subs;  /* k, pointing into enc */
} sl_group;

struct sl_conn {
    fe_syslog *s;
    struct bufferevent *bev;
    tl_syslog_framer fr;
    char peer[PEER_CAP];
    char submitter[SUBMITTER_CAP];
    int tls, ready;    /* ready: TCP, or the TLS handshake done */
    int paused;        /* the log was busy: waiting for the retry timer */
    int eof;           /* the peer closed (or the deadline passed): flush, then free */
    char why_end[160]; /* what the close line says */
    unsigned backoff_ms;
    uint64_t half_since; /* mono ms a half frame has been waiting since (0: none) */
    uint64_t frames, pauses;
    struct event *retry;
    sl_conn *prev, *next;
    /* groups with the mapping workers or waiting to be submitted, in order */
    sl_group *fhead, *ftail;
    size_t nflight;
    int flight_wait; /* reading stopped at FLIGHT_MAX groups */
};

struct fe_syslog {
    tl_frontend *f;
    tl_syslog_config cfg;
    size_t max_frame;
    size_t group_max;
    struct evconnlistener *lis, *tls_lis;
    int port, tls_port;
    SSL_CTX *ssl;
    fe_relp *relp; /* --relp-listen (relp.c) */
    sl_conn *conns;
    size_t nconns;
    int stopping;
    /* the log's answers (cross-thread, under qlock) */
    pthread_mutex_t qlock;
    sl_group *qhead, *qtail;
    struct event *qev;
    /* groups to submit again (loop thread) */
    sl_group *again;
    struct event *again_ev;
    unsigned again_ms;
    /* loop thread */
    uint64_t recorded, unrecorded;
    uint64_t conns_total, pauses_total, refused_conns;
};

static void conn_process(sl_conn *c);
static void conn_kick(sl_conn *c);
static void conn_pause(sl_conn *c, int rc);
static int group_add(sl_group *g, const uint8_t *p, size_t len, int truncated);

/* ---- groups ------------------------------------------------------------ */

/* The encoded submissions (once the log holds its copy). */
static void group_unencode(sl_group *g)
{
    tl_buf_release(&g->enc);
    free(g->eoff);
    free(g->subs);
    g->eoff = NULL;
    g->subs = NULL;
    g->k = 0;
}

static void group_free(sl_group *g)
{
    if (!g)
        return;
    group_unencode(g);
    tl_buf_release(&g->raw);
    free(g->off);
    free(g->trunc);
    free(g->noid);
    free(g);
}

/* A group of up to cap frames from peer, by submitter. */
static sl_group *group_alloc(fe_syslog *s, size_t cap, const char *peer, const char *submitter)
{
    sl_group *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->s = s;
    g->cap = cap;
    tl_buf_init(&g->raw);
    tl_buf_init(&g->enc);
    g->off = calloc(cap + 1, sizeof *g->off);
    g->trunc = calloc(cap, 1);
    g->noid = calloc(cap, 1);
    if (!g->off || !g->trunc || !g->noid) {
        group_free(g);
        return NULL;
    }
    memcpy(g->peer, peer, sizeof g->peer);
    memcpy(g->submitter, submitter, sizeof g->submitter);
    return g;
}

static sl_group *group_new(fe_syslog *s, const sl_conn *c)
{
    return group_alloc(s, s->group_max, c->peer, c->submitter);
}

/* The log's callback (committer thread): queue it for the loop. */
static void on_commit(void *ctx, int err, const tl_sub_result *res, size_t n, size_t bad)
{
    (void)res;
    (void)n;
    sl_group *g = ctx;
    fe_syslog *s = g->s;
    g->err = err;
    g->bad = bad;
    g->qnext = NULL;
    pthread_mutex_lock(&s->qlock);
    if (s->qtail)
        s->qtail->qnext = g;
    else
        s->qhead = g;
    s->qtail = g;
    pthread_mutex_unlock(&s->qlock);
    event_active(s->qev, EV_READ, 0);
}

/* Maps frame i of g into ev. TL_OK, TL_ERR_NOMEM, or TL_ERR_TOOBIG when
 * max_event cannot hold even its unparsed event. Any thread. */
static int frame_event(const sl_group *g, size_t i, size_t max_event, tl_audit_event *ev)
{
    char why[TL_AUDIT_REASON_MAX + 64];
    const uint8_t *p = g->raw.data + g->off[i];
    size_t len = g->off[i + 1] - g->off[i];
    if (g->noid[i])
        return tl_syslog_event_without_id(p, len, g->trunc[i], g->peer, g->submitter, max_event, ev,
                                          why, sizeof why);
    return tl_syslog_event(p, len, g->trunc[i], g->peer, g->submitter, max_event, ev, NULL, why,
                           sizeof why);
}

static int group_event(fe_syslog *s, const sl_group *g, size_t i, tl_audit_event *ev)
{
    return frame_event(g, i, s->f->cfg.max_event, ev);
}

/* Submits g: TL_OK (the log owns g until on_commit), or the log's refusal
 * (TL_ERR_BUSY and the like: g is still the caller's). Frames --max-event
 * cannot hold are left out, said in the log. */
static int group_submit(fe_syslog *s, sl_group *g)
{
    tl_audit_event *evs = calloc(g->n ? g->n : 1, sizeof *evs);
    size_t k = 0;
    int rc = evs ? TL_OK : TL_ERR_NOMEM;
    for (size_t i = 0; i < g->n && rc == TL_OK; i++) {
        rc = group_event(s, g, i, &evs[k]);
        if (rc == TL_OK) {
            k++;
        } else if (rc == TL_ERR_TOOBIG) {
            fprintf(stderr,
                    "tlogd: syslog: %s: a frame not recorded: --max-event %zu cannot "
                    "hold its event\n",
                    g->peer, s->f->cfg.max_event);
            s->unrecorded++;
            rc = TL_OK;
        }
    }
    if (rc == TL_OK && k > 0)
        rc = fe_audit_submit(s->f, evs, k, on_commit, g);
    else if (rc == TL_OK)
        rc = TL_ERR_NOTFOUND; /* nothing left to submit */
    for (size_t i = 0; i < k; i++)
        tl_audit_event_release(&evs[i]);
    free(evs);
    return rc;
}

static void again_arm(fe_syslog *s)
{
    struct timeval tv = {0, (suseconds_t)s->again_ms * 1000};
    if (!evtimer_pending(s->again_ev, NULL))
        evtimer_add(s->again_ev, &tv);
}

/* Submits the groups to do again (a conflict's, or the log was busy). */
static void again_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fe_syslog *s = arg;
    while (s->again) {
        sl_group *g = s->again;
        int rc = group_submit(s, g);
        if (rc == TL_ERR_BUSY) {
            s->again_ms = s->again_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : s->again_ms * 2;
            again_arm(s);
            return;
        }
        s->again = g->qnext;
        if (rc != TL_OK) {
            if (rc != TL_ERR_NOTFOUND) {
                fprintf(stderr, "tlogd: syslog: %s: %zu messages not recorded: %s\n", g->peer, g->n,
                        tl_strerror(rc));
                s->unrecorded += g->n;
            }
            group_free(g);
        }
    }
    s->again_ms = RETRY_MIN_MS;
}

static void queue_again(fe_syslog *s, sl_group *g)
{
    g->qnext = s->again;
    s->again = g;
    again_arm(s);
}

/* The log's answers, on the loop. */
static void queue_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fe_syslog *s = arg;
    pthread_mutex_lock(&s->qlock);
    sl_group *g = s->qhead;
    s->qhead = s->qtail = NULL;
    pthread_mutex_unlock(&s->qlock);
    while (g) {
        sl_group *next = g->qnext;
        if (g->err == TL_OK) {
            s->recorded += g->n;
            group_free(g);
        } else if (g->err == TL_ERR_CONFLICT && g->bad < g->n && !g->noid[g->bad]) {
            /* another occurrence has this message's id: record it without */
            fprintf(stderr,
                    "tlogd: syslog: %s: a message's id is an earlier, different "
                    "event's; recorded without it (details.conflicting_id)\n",
                    g->peer);
            g->noid[g->bad] = 1;
            queue_again(s, g);
        } else {
            fprintf(stderr, "tlogd: syslog: %s: %zu messages not recorded: %s\n", g->peer, g->n,
                    tl_strerror(g->err));
            s->unrecorded += g->n;
            group_free(g);
        }
        g = next;
    }
}

/* ---- mapped by the workers ---------------------------------------------- */

/* A worker (or the loop, splitting a group): maps g's frames and encodes
 * them as submissions, leaving out those max_event cannot hold. */
static void group_run(fe_job *j, tl_hasher *h)
{
    sl_group *g = (sl_group *)j;
    int rc = TL_OK;
    group_unencode(g);
    g->toobig = 0;
    g->eoff = malloc((g->n + 1) * sizeof *g->eoff);
    g->subs = calloc(g->n ? g->n : 1, sizeof *g->subs);
    if (!g->eoff || !g->subs)
        rc = TL_ERR_NOMEM;
    for (size_t i = 0; i < g->n && rc == TL_OK; i++) {
        tl_audit_event ev;
        rc = frame_event(g, i, g->max_event, &ev);
        if (rc == TL_ERR_TOOBIG) {
            g->toobig++;
            rc = TL_OK;
            continue;
        }
        if (rc != TL_OK)
            break;
        g->eoff[g->k] = g->enc.len;
        rc = fe_audit_encode(h, &ev, &g->enc);
        tl_audit_event_release(&ev);
        if (rc == TL_OK)
            g->k++;
    }
    if (rc == TL_OK) {
        g->eoff[g->k] = g->enc.len;
        for (size_t i = 0; i < g->k; i++) {
            g->subs[i].data = g->enc.data + g->eoff[i];
            g->subs[i].len = g->eoff[i + 1] - g->eoff[i];
        }
    }
    g->map_rc = rc;
}

/* The loop: g is mapped; its connection submits it when its turn comes. */
static void group_done(tl_frontend *f, fe_job *j)
{
    (void)f;
    sl_group *g = (sl_group *)j;
    fe_syslog *s = g->s;
    g->mapped = 1;
    for (size_t i = 0; i < g->toobig; i++)
        fprintf(stderr,
                "tlogd: syslog: %s: a frame not recorded: --max-event %zu cannot "
                "hold its event\n",
                g->peer, g->max_event);
    s->unrecorded += g->toobig;
    g->toobig = 0;
    if (!g->c->paused)
        conn_kick(g->c);
}

/* The pool is freed: the group stays its connection's (freed with it). */
static void group_drop(fe_job *j)
{
    (void)j;
}

/* Hands g (the frames read) to the workers and queues it behind the
 * connection's other groups: TL_OK, or TL_ERR_BUSY (their queue is full). */
static int group_start(fe_syslog *s, sl_conn *c, sl_group *g)
{
    g->j.run = group_run;
    g->j.done = group_done;
    g->j.drop = group_drop;
    g->j.bytes = g->raw.len;
    g->max_event = s->f->cfg.max_event;
    g->c = c;
    g->mapped = 0;
    if (fe_pool_push(s->f->pool, &g->j) != TL_OK)
        return TL_ERR_BUSY;
    g->fnext = NULL;
    if (c->ftail)
        c->ftail->fnext = g;
    else
        c->fhead = g;
    c->ftail = g;
    c->nflight++;
    return TL_OK;
}

/* Frames [from, to) of g as a new group, mapped here (a group the log
 * would not take whole). NULL when out of memory. */
static sl_group *group_piece(fe_syslog *s, const sl_group *g, size_t from, size_t to)
{
    sl_group *p = group_alloc(s, to - from, g->peer, g->submitter);
    if (!p)
        return NULL;
    for (size_t i = from; i < to; i++) {
        if (group_add(p, g->raw.data + g->off[i], g->off[i + 1] - g->off[i], g->trunc[i]) !=
            TL_OK) {
            group_free(p);
            return NULL;
        }
        p->noid[i - from] = g->noid[i];
    }
    p->max_event = g->max_event;
    p->c = g->c;
    group_run(&p->j, s->f->hasher);
    p->mapped = 1;
    return p;
}

/* Submits the connection's mapped groups, in order, while the log takes
 * them; on TL_ERR_BUSY the connection pauses (the first group is halved:
 * a pool smaller than a group could never take it). Never frees c. */
static void conn_flush(sl_conn *c)
{
    fe_syslog *s = c->s;
    while (c->fhead && c->fhead->mapped) {
        sl_group *g = c->fhead;
        size_t ng = g->n;
        int rc = g->map_rc;
        if (rc == TL_OK && g->k > 0)
            rc = fe_audit_submit_encoded(s->f, g->subs, g->k, on_commit, g);
        else if (rc == TL_OK)
            rc = TL_ERR_NOTFOUND; /* nothing left to submit */
        if ((rc == TL_ERR_BUSY || rc == TL_ERR_TOOBIG) && ng > 1) {
            /* smaller groups from now on, and this one in two */
            sl_group *a = group_piece(s, g, 0, ng / 2),
                     *b = a ? group_piece(s, g, ng / 2, ng) : NULL;
            s->group_max = ng / 2;
            if (a && b) {
                a->fnext = b;
                b->fnext = g->fnext;
                c->fhead = a;
                if (c->ftail == g)
                    c->ftail = b;
                c->nflight++;
                group_free(g);
                if (rc == TL_ERR_TOOBIG)
                    continue;
            } else {
                group_free(a);
            }
        }
        if (rc == TL_ERR_BUSY) {
            conn_pause(c, rc);
            return;
        }
        c->fhead = g->fnext;
        if (!c->fhead)
            c->ftail = NULL;
        c->nflight--;
        g->fnext = NULL;
        g->c = NULL;
        if (rc == TL_OK) {
            group_unencode(g); /* the log copied them; g is its until on_commit */
            c->frames += ng;
            c->backoff_ms = RETRY_MIN_MS;
            if (s->group_max < GROUP_MAX)
                s->group_max = s->group_max * 2 < GROUP_MAX ? s->group_max * 2 : GROUP_MAX;
        } else if (rc == TL_ERR_NOTFOUND) {
            c->frames += ng;
            group_free(g);
        } else {
            fprintf(stderr, "tlogd: syslog: %s: %zu messages not recorded: %s\n", g->peer, ng,
                    tl_strerror(rc));
            s->unrecorded += ng;
            group_free(g);
        }
    }
}

/* A group mapped, or the retry timer: submit what can be, then read on. */
static void conn_kick(sl_conn *c)
{
    conn_flush(c);
    if (c->paused)
        return;
    if (c->flight_wait && c->nflight < FLIGHT_MAX) {
        c->flight_wait = 0;
        if (!c->eof && !c->s->stopping)
            bufferevent_enable(c->bev, EV_READ);
    }
    if (!c->flight_wait)
        conn_process(c); /* frees c after the peer closed, once nothing is left */
}

/* ---- connections ------------------------------------------------------- */

static void conn_free(sl_conn *c, const char *why)
{
    fe_syslog *s = c->s;
    fprintf(stderr, "tlogd: syslog: %s: closed (%s) after %llu frames%s\n", c->peer, why,
            (unsigned long long)c->frames,
            c->pauses ? ", reading paused while the log was busy" : "");
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    while (c->fhead) {
        /* only when tlogd stops: the workers are gone */
        sl_group *g = c->fhead;
        c->fhead = g->fnext;
        fprintf(stderr, "tlogd: syslog: %s: %zu messages not recorded: tlogd stopped\n", c->peer,
                g->n);
        s->unrecorded += g->n;
        group_free(g);
    }
    if (c->retry)
        event_free(c->retry);
    if (c->bev)
        bufferevent_free(c->bev);
    free(c);
}

static void conn_pause(sl_conn *c, int rc)
{
    c->s->pauses_total++;
    if (!c->pauses++)
        fprintf(stderr,
                "tlogd: syslog: %s: the log cannot take messages now (%s): reading "
                "paused, retrying\n",
                c->peer, tl_strerror(rc));
    c->paused = 1;
    c->half_since = 0; /* the deadline is the peer's, not the log's */
    bufferevent_disable(c->bev, EV_READ);
    struct timeval tv = {(time_t)(c->backoff_ms / 1000),
                         (suseconds_t)(c->backoff_ms % 1000) * 1000};
    evtimer_add(c->retry, &tv);
    c->backoff_ms = c->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : c->backoff_ms * 2;
}

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sl_conn *c = arg;
    c->paused = 0;
    if (!c->eof && !c->s->stopping && !c->flight_wait)
        bufferevent_enable(c->bev, EV_READ);
    conn_kick(c);
}

/* Adds one frame to g (copied). */
static int group_add(sl_group *g, const uint8_t *p, size_t len, int truncated)
{
    if (tl_buf_add(&g->raw, p, len) != TL_OK)
        return TL_ERR_NOMEM;
    g->trunc[g->n] = (uint8_t)truncated;
    g->n++;
    g->off[g->n] = g->raw.len;
    return TL_OK;
}

/*
 * Frames what the connection holds and submits them, a group at a time;
 * bytes leave the input buffer only once their group is with the log. On a
 * refusal the connection pauses and comes back here from its timer. After
 * the peer closed, what is left of a half frame is the last frame; then the
 * connection is freed.
 */
static void conn_process(sl_conn *c)
{
    fe_syslog *s = c->s;
    if (c->paused || !c->ready || c->flight_wait)
        return;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t len = evbuffer_get_length(in);
    const uint8_t *data = len ? evbuffer_pullup(in, (ev_ssize_t)len) : NULL;
    tl_syslog_framer fr = c->fr;
    size_t used = 0, done = 0;
    int rc = TL_OK;
    sl_group *g = NULL;
    for (;;) {
        tl_syslog_frame fm;
        int got = 0;
        size_t n = used < len
                       ? tl_syslog_frame_next(&fr, data + used, len - used, s->max_frame, &fm, &got)
                       : 0;
        int last = 0;
        if (n == 0 && !got && c->eof && used < len) {
            /* the peer is gone: the half frame is the last one */
            fm.msg = data + used;
            fm.len = len - used < s->max_frame ? len - used : s->max_frame;
            fm.truncated = data[used] >= '0' && data[used] <= '9';
            fprintf(stderr,
                    "tlogd: syslog: %s: %zu bytes of a frame left at the end: recorded "
                    "as one frame\n",
                    c->peer, len - used);
            n = len - used;
            got = last = 1;
        }
        if (got) {
            if (fm.truncated && !last)
                fprintf(stderr,
                        "tlogd: syslog: %s: a frame over %zu bytes: its first %zu recorded as "
                        "syslog.unparsed, the rest of it skipped\n",
                        c->peer, s->max_frame, s->max_frame);
            if (!g && !(g = group_new(s, c))) {
                rc = TL_ERR_NOMEM;
                break;
            }
            if (group_add(g, fm.msg, fm.len, fm.truncated) != TL_OK) {
                rc = TL_ERR_NOMEM;
                break;
            }
        }
        used += n;
        if (!g && n) {
            /* skipped bytes with no frame waiting: gone for good */
            done = used;
            c->fr = fr;
        }
        int more = n != 0 || got;
        if (g && (g->n == g->cap || !more) && s->f->pool) {
            /* to the workers; the frames are the group's now */
            rc = group_start(s, c, g);
            if (rc != TL_OK)
                break;
            done = used;
            c->fr = fr;
            g = NULL;
            if (more && c->nflight >= FLIGHT_MAX) {
                c->flight_wait = 1; /* on when one of them is submitted */
                bufferevent_disable(c->bev, EV_READ);
                break;
            }
        } else if (g && (g->n == g->cap || !more)) {
            size_t ng = g->n;
            rc = group_submit(s, g);
            if (rc == TL_OK || rc == TL_ERR_NOTFOUND) {
                if (rc == TL_ERR_NOTFOUND)
                    group_free(g);
                c->frames += ng;
                if (s->group_max < GROUP_MAX)
                    s->group_max = s->group_max * 2 < GROUP_MAX ? s->group_max * 2 : GROUP_MAX;
                done = used;
                c->fr = fr;
                g = NULL;
                rc = TL_OK;
            } else if (rc == TL_ERR_TOOBIG && s->group_max > 1) {
                s->group_max /= 2; /* the log's --batch-max is smaller */
                group_free(g);
                g = NULL;
                fr = c->fr;
                used = done;
                continue;
            } else {
                /* busy: smaller groups next time, in case this one can never fit
                 * (a pool smaller than a group) */
                if (rc == TL_ERR_BUSY && ng > 1)
                    s->group_max = ng / 2;
                break;
            }
        }
        if (!more)
            break;
    }
    group_free(g);
    if (done)
        evbuffer_drain(in, done);
    if (rc != TL_OK) {
        conn_pause(c, rc);
        return;
    }
    c->backoff_ms = RETRY_MIN_MS;
    if (c->flight_wait) {
        c->half_since = 0; /* not the peer's stall: ours */
        return;
    }
    if (c->eof) {
        if (!c->fhead)
            conn_free(c, c->why_end);
        return;
    }
    /* the deadline of a half frame: from when what is left stopped moving */
    if (evbuffer_get_length(in) == 0)
        c->half_since = 0;
    else if (!c->half_since || done)
        c->half_since = tl_mono_ms();
}

static void conn_end(sl_conn *c, const char *why)
{
    c->eof = 1;
    snprintf(c->why_end, sizeof c->why_end, "%s", why);
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    if (!c->ready) {
        conn_free(c, why);
        return;
    }
    conn_process(c);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    sl_conn *c = arg;
    conn_process(c);
    if (!c->eof && c->half_since && tl_mono_ms() - c->half_since > c->s->cfg.frame_timeout_ms)
        conn_end(c, "a half frame stalled past the deadline");
}

/* The subject CN of the peer's verified certificate, as a submitter. */
static void tls_submitter(sl_conn *c)
{
    SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
    X509 *cert = ssl ? SSL_get1_peer_certificate(ssl) : NULL;
    if (!cert)
        return;
    char cn[256];
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    X509_free(cert);
    tl_syslog_tls_submitter(cn, n > 0 ? (size_t)n : 0, c->submitter, sizeof c->submitter);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    sl_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        c->ready = 1;
        if (c->s->cfg.client_ca)
            tls_submitter(c);
        fprintf(stderr, "tlogd: syslog: %s: TLS established, submitter %s\n", c->peer,
                c->submitter);
        conn_process(c);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        if (!c->ready) {
            conn_end(c, "the TLS handshake passed the deadline");
        } else if (evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
            conn_end(c, "a half frame stalled past the deadline");
        } else {
            bufferevent_enable(bev, EV_READ); /* idle is fine */
        }
        return;
    }
    if (what & BEV_EVENT_ERROR) {
        unsigned long e = c->tls ? bufferevent_get_openssl_error(bev) : 0;
        if (e) {
            char msg[160];
            const char *r = ERR_reason_error_string(e);
            snprintf(msg, sizeof msg, "%s: %s", c->ready ? "TLS" : "TLS handshake failed",
                     r ? r : "an error");
            ERR_clear_error();
            conn_end(c, msg);
        } else {
            conn_end(c, errno ? strerror(errno) : "a connection error");
        }
        return;
    }
    if (what & BEV_EVENT_EOF)
        conn_end(c, "by the peer");
}

static void peer_name(const struct sockaddr *sa, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(out, cap, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    } else {
        snprintf(out, cap, "unknown");
    }
}

static void accept_any(fe_syslog *s, evutil_socket_t fd, struct sockaddr *sa, int tls)
{
    char peer[PEER_CAP];
    peer_name(sa, peer, sizeof peer);
    if (s->stopping || s->nconns >= s->cfg.max_conns) {
        s->refused_conns++;
        fprintf(stderr, "tlogd: syslog: %s: refused: %zu connections open (the limit)\n", peer,
                s->nconns);
        evutil_closesocket(fd);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    evutil_make_socket_nonblocking(fd);
    sl_conn *c = calloc(1, sizeof *c);
    SSL *ssl = NULL;
    if (c && tls)
        ssl = SSL_new(s->ssl);
    if (!c || (tls && !ssl)) {
        fprintf(stderr, "tlogd: syslog: %s: refused: out of memory\n", peer);
        free(c);
        evutil_closesocket(fd);
        return;
    }
    c->s = s;
    c->tls = tls;
    c->ready = !tls;
    c->backoff_ms = RETRY_MIN_MS;
    memcpy(c->peer, peer, sizeof c->peer);
    snprintf(c->submitter, sizeof c->submitter, "%s", TL_SYSLOG_SUBMITTER);
    tl_syslog_framer_init(&c->fr);
    c->bev = tls ? bufferevent_openssl_socket_new(s->f->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                  BEV_OPT_CLOSE_ON_FREE)
                 : bufferevent_socket_new(s->f->base, fd, BEV_OPT_CLOSE_ON_FREE);
    c->retry = evtimer_new(s->f->base, retry_cb, c);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    s->conns_total++;
    if (!c->bev || !c->retry) {
        if (!c->bev) {
            if (ssl)
                SSL_free(ssl);
            evutil_closesocket(fd);
        }
        conn_free(c, "out of memory");
        return;
    }
    if (tls)
        bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    fprintf(stderr, "tlogd: syslog: %s: connected (%s)\n", peer, tls ? "tls" : "tcp");
    struct timeval to = {(time_t)(s->cfg.frame_timeout_ms / 1000),
                         (suseconds_t)(s->cfg.frame_timeout_ms % 1000) * 1000};
    bufferevent_setcb(c->bev, read_cb, NULL, event_cb, c);
    /* the buffer holds at most a frame and its length */
    bufferevent_setwatermark(c->bev, EV_READ, 0, s->max_frame + 64);
    bufferevent_set_timeouts(c->bev, &to, NULL);
    bufferevent_enable(c->bev, EV_READ);
}

static void accept_tcp(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                       void *arg)
{
    (void)l;
    (void)len;
    accept_any(arg, fd, sa, 0);
}

static void accept_tls(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
                       void *arg)
{
    (void)l;
    (void)len;
    accept_any(arg, fd, sa, 1);
}

static void accept_error(struct evconnlistener *l, void *arg)
{
    (void)l;
    (void)arg;
    fprintf(stderr, "tlogd: syslog: accept: %s\n", strerror(errno));
}

/* ---- set up ------------------------------------------------------------ */

static int parse_addr(const char *s, struct sockaddr_storage *ss, int *sl)
{
    char host[256];
    const char *colon = strrchr(s, ':');
    uint64_t port;
    if (!colon || (size_t)(colon - s) >= sizeof host ||
        tl_dec_parse_range(colon + 1, 0, 65535, &port) != TL_OK)
        return TL_ERR_INVALID;
    size_t hl = (size_t)(colon - s);
    memcpy(host, s, hl);
    host[hl] = 0;
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (host[0] == 0 || inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        if (host[0] == 0)
            in->sin_addr.s_addr = htonl(INADDR_ANY);
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        *sl = sizeof *in;
        return TL_OK;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *sl = sizeof *in6;
        return TL_OK;
    }
    return TL_ERR_INVALID;
}

static struct evconnlistener *listen_on(fe_syslog *s, const char *addr, evconnlistener_cb cb,
                                        int *port, char *err, size_t cap)
{
    struct sockaddr_storage ss, b;
    int sl;
    socklen_t bl = sizeof b;
    if (parse_addr(addr, &ss, &sl) != TL_OK) {
        snprintf(err, cap, "bad listen address %s (want IP:PORT)", addr);
        return NULL;
    }
    struct evconnlistener *l =
        evconnlistener_new_bind(s->f->base, cb, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
                                (struct sockaddr *)&ss, sl);
    if (!l) {
        snprintf(err, cap, "cannot listen on %s: %s", addr, strerror(errno));
        return NULL;
    }
    evconnlistener_set_error_cb(l, accept_error);
    if (getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&b, &bl) == 0)
        *port = ntohs(b.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&b)->sin6_port
                                              : ((struct sockaddr_in *)&b)->sin_port);
    return l;
}

static int tls_setup(fe_syslog *s, char *err, size_t cap)
{
    const tl_syslog_config *c = &s->cfg;
    if (!c->tls_cert || !c->tls_key) {
        snprintf(err, cap,
                 "--syslog-tls-listen needs a certificate: --syslog-tls-cert and "
                 "--syslog-tls-key, or --tls-cert and --tls-key");
        return TL_ERR_INVALID;
    }
    s->ssl = SSL_CTX_new(TLS_server_method());
    if (!s->ssl) {
        snprintf(err, cap, "TLS: cannot create context");
        return TL_ERR_CRYPTO;
    }
    SSL_CTX_set_min_proto_version(s->ssl, TLS1_2_VERSION);
    SSL_CTX_set_options(s->ssl, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(s->ssl, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(s->ssl, c->tls_cert) != 1)
        snprintf(err, cap, "syslog TLS: cannot load certificate %s", c->tls_cert);
    else if (SSL_CTX_use_PrivateKey_file(s->ssl, c->tls_key, SSL_FILETYPE_PEM) != 1)
        snprintf(err, cap, "syslog TLS: cannot load private key %s", c->tls_key);
    else if (SSL_CTX_check_private_key(s->ssl) != 1)
        snprintf(err, cap, "syslog TLS: key %s does not match certificate %s", c->tls_key,
                 c->tls_cert);
    else if (c->client_ca && SSL_CTX_load_verify_locations(s->ssl, c->client_ca, NULL) != 1)
        snprintf(err, cap, "--syslog-client-ca: cannot load CA certificates from %s", c->client_ca);
    else
        err = NULL;
    ERR_clear_error();
    if (err)
        return TL_ERR_CRYPTO;
    if (c->client_ca)
        SSL_CTX_set_verify(s->ssl, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return TL_OK;
}

int tl_frontend_syslog_start(tl_frontend *f, const tl_syslog_config *cfg, char *err, size_t cap)
{
    fe_syslog *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    f->syslog = s;
    s->f = f;
    s->cfg = *cfg;
    if (!s->cfg.frame_timeout_ms)
        s->cfg.frame_timeout_ms = 10000;
    if (!s->cfg.max_conns)
        s->cfg.max_conns = 1000;
    s->max_frame = tl_syslog_max_frame(f->cfg.max_event);
    s->group_max = GROUP_MAX;
    s->again_ms = RETRY_MIN_MS;
    pthread_mutex_init(&s->qlock, NULL);
    if (f->kind != FE_KIND_AUDIT) {
        snprintf(err, cap, "syslog listeners are for audit logs; this one is %s", f->cfg.kind);
        return TL_ERR_INVALID;
    }
    evthread_make_base_notifiable(f->base);
    s->qev = event_new(f->base, -1, 0, queue_cb, s);
    s->again_ev = evtimer_new(f->base, again_cb, s);
    if (!s->qev || !s->again_ev) {
        snprintf(err, cap, "out of memory");
        return TL_ERR_NOMEM;
    }
    if (cfg->listen && !(s->lis = listen_on(s, cfg->listen, accept_tcp, &s->port, err, cap)))
        return TL_ERR_NETWORK;
    if (cfg->tls_listen) {
        int rc = tls_setup(s, err, cap);
        if (rc != TL_OK)
            return rc;
        if (!(s->tls_lis = listen_on(s, cfg->tls_listen, accept_tls, &s->tls_port, err, cap)))
            return TL_ERR_NETWORK;
    }
    if (cfg->relp_listen) {
        int rc = fe_relp_start(f, cfg->relp_listen, &s->relp, err, cap);
        if (rc != TL_OK)
            return rc;
    }
    if (s->lis)
        fprintf(stderr, "tlogd: syslog: listening on tcp %s (port %d), frames up to %zu bytes\n",
                cfg->listen, s->port, s->max_frame);
    if (s->tls_lis)
        fprintf(stderr, "tlogd: syslog: listening on tls %s (port %d)%s\n", cfg->tls_listen,
                s->tls_port, cfg->client_ca ? ", client certificates required" : "");
    return TL_OK;
}

void tl_frontend_syslog_stop(tl_frontend *f)
{
    fe_syslog *s = f->syslog;
    if (!s || s->stopping)
        return;
    s->stopping = 1;
    if (s->lis)
        evconnlistener_free(s->lis);
    if (s->tls_lis)
        evconnlistener_free(s->tls_lis);
    s->lis = s->tls_lis = NULL;
    fe_relp_free(s->relp, 0);
    /* what was read is submitted; the connections go */
    for (sl_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (!c->eof)
            conn_end(c, "tlogd is stopping");
    }
    fe_pool_wait(f->pool); /* ... through the workers, before the log closes */
}

void fe_syslog_free(tl_frontend *f)
{
    fe_syslog *s = f->syslog;
    if (!s)
        return;
    if (s->lis)
        evconnlistener_free(s->lis);
    if (s->tls_lis)
        evconnlistener_free(s->tls_lis);
    while (s->conns) {
        sl_conn *c = s->conns;
        if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
            fprintf(stderr, "tlogd: syslog: %s: %zu bytes read but not recorded at exit\n", c->peer,
                    evbuffer_get_length(bufferevent_get_input(c->bev)));
        conn_free(c, "tlogd stopped");
    }
    queue_cb(-1, 0, s); /* the log is closed: these are the last answers */
    fe_relp_free(s->relp, 1);
    s->relp = NULL;
    while (s->again) {
        sl_group *g = s->again;
        s->again = g->qnext;
        fprintf(stderr, "tlogd: syslog: %s: %zu messages not recorded: tlogd stopped\n", g->peer,
                g->n);
        group_free(g);
    }
    if (s->qev)
        event_free(s->qev);
    if (s->again_ev)
        event_free(s->again_ev);
    if (s->ssl)
        SSL_CTX_free(s->ssl);
    pthread_mutex_destroy(&s->qlock);
    free(s);
    f->syslog = NULL;
}

void fe_syslog_metrics(tl_frontend *f, tl_buf *b)
{
    const fe_syslog *s = f->syslog;
    if (s == NULL)
        return;
    tl_buf_addf(b,
                "# HELP tlogd_syslog_connections Syslog connections open (TCP and TLS).\n"
                "# TYPE tlogd_syslog_connections gauge\n"
                "tlogd_syslog_connections %zu\n"
                "# HELP tlogd_syslog_connections_total Syslog connections accepted, and refused "
                "at --syslog-max-conns or while stopping.\n"
                "# TYPE tlogd_syslog_connections_total counter\n"
                "tlogd_syslog_connections_total{result=\"accepted\"} %llu\n"
                "tlogd_syslog_connections_total{result=\"refused\"} %llu\n"
                "# HELP tlogd_syslog_messages_total Syslog messages committed to the log, and "
                "those that could not be (each said in the log).\n"
                "# TYPE tlogd_syslog_messages_total counter\n"
                "tlogd_syslog_messages_total{result=\"recorded\"} %llu\n"
                "tlogd_syslog_messages_total{result=\"unrecorded\"} %llu\n"
                "# HELP tlogd_syslog_read_pauses_total Times a connection stopped reading "
                "because the log could not take its messages (back-pressure).\n"
                "# TYPE tlogd_syslog_read_pauses_total counter\n"
                "tlogd_syslog_read_pauses_total %llu\n",
                s->nconns, (unsigned long long)s->conns_total, (unsigned long long)s->refused_conns,
                (unsigned long long)s->recorded, (unsigned long long)s->unrecorded,
                (unsigned long long)s->pauses_total);
    if (s->relp)
        fe_relp_metrics(s->relp, b);
}
