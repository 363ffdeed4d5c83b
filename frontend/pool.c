/*
 * pool.c - the mapping workers of an audit log (internal.h "mapping
 * workers", docs/FRONTEND.md): a few threads that turn what a source
 * received (a Kubernetes EventList, a group of syslog frames) into encoded
 * submissions, so that the event loop only frames, submits and answers.
 *
 * Guarantees:
 *   - bounded: at most FE_POOL_QUEUE_MAX jobs, and FE_POOL_QUEUE_BYTES of
 *     their input, wait for a worker; a job beyond that is refused at once
 *     (TL_ERR_BUSY: the caller pushes back, a 503 or a paused socket);
 *   - a job's done function runs on the loop thread, after its run
 *     function returned on a worker (the mutex orders the two), in the order
 *     the jobs finished; what a run leaves to throw away (j->trash) is
 *     freed on the worker after the job is handed back, off the answer's path;
 *   - fe_pool_parallel lets a running job spread its parts over the idle
 *     workers (parts first, queued jobs after): the caller runs parts too,
 *     so it finishes even when no other worker is free;
 *   - fe_pool_free stops and joins the workers; the jobs still queued or
 *     not yet handed to the loop are dropped (their drop function).
 * Workers touch nothing of the loop's: no request, no connection, no
 * libevent object but the one event they activate.
 */
#include "frontend/internal.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "common/err.h"

/* A job's parts (fe_pool_parallel), listed while some are still to hand out. */
typedef struct fe_par {
    fe_par_fn *fn;
    void *ctx;
    size_t n, next, left; /* parts; the next to hand out; those not finished */
    struct fe_par *pnext;
} fe_par;

typedef struct fe_worker {
    fe_pool *p;
    pthread_t th;
    tl_hasher *hasher;
    int started;
} fe_worker;

struct fe_pool {
    tl_frontend *f;
    size_t n, cap; /* workers started; allocated */
    fe_worker *w;
    pthread_mutex_t mu;
    pthread_cond_t work;   /* a job, a part, or stop */
    pthread_cond_t idle;   /* a job or a part finished */
    fe_job *qhead, *qtail; /* waiting for a worker */
    size_t qlen, qbytes;
    size_t running;
    fe_par *pars;
    int stop;
    fe_job *dhead, *dtail; /* finished, for the loop */
    struct event *ev;
    /* loop thread */
    uint64_t done_total, refused_total;
};

/* Runs the parts of par the caller can take (mu held on entry and exit). */
static void par_help(fe_pool *p, fe_par *par, tl_hasher *h)
{
    while (par->next < par->n) {
        size_t k = par->next++;
        if (par->next == par->n) {
            /* nothing more to hand out: unlist it */
            fe_par **pp = &p->pars;
            while (*pp != par)
                pp = &(*pp)->pnext;
            *pp = par->pnext;
        }
        pthread_mutex_unlock(&p->mu);
        par->fn(par->ctx, k, h);
        pthread_mutex_lock(&p->mu);
        if (--par->left == 0)
            pthread_cond_broadcast(&p->idle);
    }
}

static void *worker_main(void *arg)
{
    fe_worker *w = arg;
    fe_pool *p = w->p;
    pthread_setname_np(pthread_self(), "tl-map");
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && !p->pars && !p->qhead)
            pthread_cond_wait(&p->work, &p->mu);
        if (p->pars) {
            par_help(p, p->pars, w->hasher);
            continue;
        }
        if (p->stop)
            break;
        fe_job *j = p->qhead;
        p->qhead = j->next;
        if (!p->qhead)
            p->qtail = NULL;
        p->qlen--;
        p->qbytes -= j->bytes;
        p->running++;
        pthread_mutex_unlock(&p->mu);
        j->trash_fn = NULL;
        j->trash = NULL;
        j->run(j, w->hasher);
        void (*trash_fn)(void *) = j->trash_fn;
        void *trash = j->trash;
        pthread_mutex_lock(&p->mu);
        p->running--;
        j->next = NULL;
        if (p->dtail)
            p->dtail->next = j;
        else
            p->dhead = j;
        p->dtail = j;
        pthread_cond_broadcast(&p->idle);
        pthread_mutex_unlock(&p->mu);
        event_active(p->ev, EV_READ, 0);
        /* j belongs to the loop now */
        if (trash_fn)
            trash_fn(trash);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* The finished jobs, on the loop. */
static void done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fe_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    fe_job *j = p->dhead;
    p->dhead = p->dtail = NULL;
    pthread_mutex_unlock(&p->mu);
    while (j) {
        fe_job *next = j->next;
        p->done_total++;
        j->done(p->f, j);
        j = next;
    }
}

int fe_pool_new(tl_frontend *f, size_t workers, fe_pool **out)
{
    fe_pool *p = calloc(1, sizeof *p);
    *out = NULL;
    if (!p)
        return TL_ERR_NOMEM;
    p->f = f;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->idle, NULL);
    /* jansson seeds its hash tables once; do it before any thread does */
    json_object_seed(0);
    if (evthread_make_base_notifiable(f->base) != 0 ||
        !(p->ev = event_new(f->base, -1, 0, done_cb, p)) ||
        !(p->w = calloc(workers, sizeof *p->w))) {
        fe_pool_free(p);
        return TL_ERR_NOMEM;
    }
    p->cap = workers;
    for (size_t i = 0; i < workers; i++) {
        fe_worker *w = &p->w[i];
        w->p = p;
        if (!(w->hasher = tl_hasher_new()) || pthread_create(&w->th, NULL, worker_main, w) != 0) {
            fe_pool_free(p);
            return TL_ERR_NOMEM;
        }
        w->started = 1;
        p->n = i + 1;
    }
    *out = p;
    return TL_OK;
}

int fe_pool_push(fe_pool *p, fe_job *j)
{
    pthread_mutex_lock(&p->mu);
    if (p->qlen >= FE_POOL_QUEUE_MAX ||
        (p->qlen > 0 && p->qbytes + j->bytes > FE_POOL_QUEUE_BYTES)) {
        pthread_mutex_unlock(&p->mu);
        p->refused_total++;
        return TL_ERR_BUSY;
    }
    j->next = NULL;
    if (p->qtail)
        p->qtail->next = j;
    else
        p->qhead = j;
    p->qtail = j;
    p->qlen++;
    p->qbytes += j->bytes;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    return TL_OK;
}

void fe_pool_parallel(fe_pool *p, size_t n, fe_par_fn *fn, void *ctx, tl_hasher *h)
{
    if (!p || n < 2) {
        for (size_t k = 0; k < n; k++)
            fn(ctx, k, h);
        return;
    }
    fe_par par = {fn, ctx, n, 0, n, NULL};
    pthread_mutex_lock(&p->mu);
    par.pnext = p->pars;
    p->pars = &par;
    pthread_cond_broadcast(&p->work);
    par_help(p, &par, h);
    while (par.left > 0)
        pthread_cond_wait(&p->idle, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void fe_pool_wait(fe_pool *p)
{
    if (!p)
        return;
    for (;;) {
        int more;
        pthread_mutex_lock(&p->mu);
        while (p->qhead || p->running)
            pthread_cond_wait(&p->idle, &p->mu);
        more = p->dhead != NULL;
        pthread_mutex_unlock(&p->mu);
        if (!more)
            return;
        done_cb(-1, 0, p); /* which may queue more */
    }
}

size_t fe_pool_workers(const fe_pool *p)
{
    return p ? p->n : 0;
}

void fe_pool_metrics(tl_frontend *f, tl_buf *b)
{
    fe_pool *p = f->pool;
    size_t qlen, running;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    qlen = p->qlen;
    running = p->running;
    pthread_mutex_unlock(&p->mu);
    tl_buf_addf(b,
                "# HELP tlogd_map_workers Threads that map what the audit sources receive.\n"
                "# TYPE tlogd_map_workers gauge\n"
                "tlogd_map_workers %zu\n"
                "# HELP tlogd_map_running Jobs a mapping worker is running.\n"
                "# TYPE tlogd_map_running gauge\n"
                "tlogd_map_running %zu\n"
                "# HELP tlogd_map_queue Jobs waiting for a mapping worker (at most %d).\n"
                "# TYPE tlogd_map_queue gauge\n"
                "tlogd_map_queue %zu\n"
                "# HELP tlogd_map_jobs_total Jobs mapped (of them, lists whose client went away "
                "meanwhile: forgotten), and those refused with the queue full.\n"
                "# TYPE tlogd_map_jobs_total counter\n"
                "tlogd_map_jobs_total{result=\"mapped\"} %llu\n"
                "tlogd_map_jobs_total{result=\"forgotten\"} %llu\n"
                "tlogd_map_jobs_total{result=\"refused\"} %llu\n",
                p->n, running, FE_POOL_QUEUE_MAX, qlen, (unsigned long long)p->done_total,
                (unsigned long long)f->map_forgotten, (unsigned long long)p->refused_total);
}

void fe_pool_free(fe_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; p->w && i < p->cap; i++) {
        if (p->w[i].started)
            pthread_join(p->w[i].th, NULL);
        tl_hasher_free(p->w[i].hasher);
    }
    for (fe_job *j = p->qhead, *next; j; j = next) {
        next = j->next;
        j->drop(j);
    }
    for (fe_job *j = p->dhead, *next; j; j = next) {
        next = j->next;
        j->drop(j);
    }
    if (p->ev)
        event_free(p->ev);
    free(p->w);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->idle);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int fe_map_job(tl_frontend *f, fe_job *j)
{
    if (f->pool)
        return fe_pool_push(f->pool, j);
    j->trash_fn = NULL;
    j->trash = NULL;
    j->run(j, f->hasher);
    if (j->trash_fn)
        j->trash_fn(j->trash);
    j->done(f, j);
    return TL_OK;
}
