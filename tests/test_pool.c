/*
 * test_pool.c - CUnit tests for the mapping workers (frontend/pool.c): the
 * queue's limits (FE_POOL_QUEUE_MAX jobs, FE_POOL_QUEUE_BYTES of input; one
 * more is TL_ERR_BUSY and stays the caller's), every job's done function on
 * the loop thread after its run on a worker, its trash freed on the worker,
 * fe_pool_parallel running each part exactly once (spread over the workers,
 * and in order without a pool), fe_pool_wait, and fe_pool_free dropping
 * what was never run. The sources that use the pool are tested end to end
 * in tests/frontend/test_k8s.py and tests/sources/test_syslog.py.
 */
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "common/err.h"
#include "frontend/internal.h"

/* A job that blocks on a gate until the test opens it. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open;
static atomic_int runs, trashed, dropped;
static int dones; /* the loop thread only */
static pthread_t loop_thread;

typedef struct test_job {
    fe_job j;
    int gated;
    int had_hasher;
    pthread_t ran_on;
} test_job;

static void gate_wait(void)
{
    pthread_mutex_lock(&gate_mu);
    while (!gate_open)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
}

static void gate_set(int open)
{
    pthread_mutex_lock(&gate_mu);
    gate_open = open;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

static void trash_free(void *t)
{
    free(t);
    atomic_fetch_add(&trashed, 1);
}

static void job_run(fe_job *j, tl_hasher *h)
{
    test_job *t = (test_job *)j;
    t->had_hasher = h != NULL; /* CUnit is not for other threads: checked in done */
    t->ran_on = pthread_self();
    if (t->gated)
        gate_wait();
    atomic_fetch_add(&runs, 1);
    j->trash = malloc(64);
    j->trash_fn = trash_free;
}

static void job_done(tl_frontend *f, fe_job *j)
{
    test_job *t = (test_job *)j;
    (void)f;
    CU_ASSERT(pthread_equal(pthread_self(), loop_thread));
    CU_ASSERT(!pthread_equal(t->ran_on, loop_thread));
    CU_ASSERT(t->had_hasher);
    dones++;
    free(t);
}

static void job_drop(fe_job *j)
{
    atomic_fetch_add(&dropped, 1);
    free(j);
}

static test_job *job_new(int gated, size_t bytes)
{
    test_job *t = calloc(1, sizeof *t);
    t->j.run = job_run;
    t->j.done = job_done;
    t->j.drop = job_drop;
    t->j.bytes = bytes;
    t->gated = gated;
    return t;
}

/* Runs the loop until n jobs are done (or a few seconds). */
static void loop_until(struct event_base *base, int n)
{
    for (int i = 0; i < 5000 && dones < n; i++) {
        struct timeval tv = {0, 1000};
        event_base_loopexit(base, &tv);
        event_base_dispatch(base);
    }
}

/* Waits until a worker has taken a job: it ran, or it is held at the gate
 * (the metrics say one is running). */
static void wait_running(tl_frontend *f)
{
    while (atomic_load(&runs) == 0) {
        tl_buf b = TL_BUF_INIT;
        fe_pool_metrics(f, &b);
        int running = b.data && strstr((char *)b.data, "tlogd_map_running 1\n") != NULL;
        tl_buf_release(&b);
        if (running)
            break;
    }
}

static void reset(void)
{
    atomic_store(&runs, 0);
    atomic_store(&trashed, 0);
    atomic_store(&dropped, 0);
    dones = 0;
    gate_set(0);
}

static void test_limits(void)
{
    struct event_base *base = event_base_new();
    tl_frontend f;
    test_job *extra;
    memset(&f, 0, sizeof f);
    f.base = base;
    reset();
    CU_ASSERT_EQUAL_FATAL(fe_pool_new(&f, 1, &f.pool), TL_OK);
    CU_ASSERT_EQUAL(fe_pool_workers(f.pool), 1);
    /* one running (held at the gate), then the queue fills */
    CU_ASSERT_EQUAL(fe_pool_push(f.pool, &job_new(1, 10)->j), TL_OK);
    wait_running(&f);
    for (int i = 0; i < FE_POOL_QUEUE_MAX; i++)
        CU_ASSERT_EQUAL(fe_pool_push(f.pool, &job_new(1, 10)->j), TL_OK);
    extra = job_new(1, 10);
    CU_ASSERT_EQUAL(fe_pool_push(f.pool, &extra->j), TL_ERR_BUSY); /* still ours */
    gate_set(1);
    loop_until(base, FE_POOL_QUEUE_MAX + 1);
    CU_ASSERT_EQUAL(dones, FE_POOL_QUEUE_MAX + 1);
    CU_ASSERT_EQUAL(atomic_load(&runs), FE_POOL_QUEUE_MAX + 1);
    /* the extra one goes now */
    CU_ASSERT_EQUAL(fe_pool_push(f.pool, &extra->j), TL_OK);
    fe_pool_wait(f.pool);
    CU_ASSERT_EQUAL(dones, FE_POOL_QUEUE_MAX + 2);
    /* the worker frees the last one's trash after handing it back */
    while (atomic_load(&trashed) != atomic_load(&runs))
        sched_yield();

    /* the bytes: one job always fits, then at most FE_POOL_QUEUE_BYTES wait */
    reset();
    CU_ASSERT_EQUAL(fe_pool_push(f.pool, &job_new(1, 1)->j), TL_OK);
    wait_running(&f);
    CU_ASSERT_EQUAL(fe_pool_push(f.pool, &job_new(1, FE_POOL_QUEUE_BYTES + 1)->j), TL_OK);
    extra = job_new(1, 1);
    CU_ASSERT_EQUAL(fe_pool_push(f.pool, &extra->j), TL_ERR_BUSY);
    free(extra);
    /* freed with jobs queued: they are dropped, the running one finishes */
    gate_set(1);
    fe_pool_free(f.pool);
    /* the queued one, and the one run but never handed to the loop */
    CU_ASSERT_EQUAL(atomic_load(&dropped), 2);
    CU_ASSERT(atomic_load(&runs) >= 1);
    CU_ASSERT_EQUAL(atomic_load(&trashed), atomic_load(&runs));
    event_base_free(base);
}

/* ---- parts ------------------------------------------------------------- */

#define NPARTS 200
typedef struct par_ctx {
    fe_pool *p;
    atomic_int count[NPARTS];
    int order[NPARTS];
    atomic_int next;
    atomic_int no_hasher;
} par_ctx;

static void part(void *ctx, size_t k, tl_hasher *h)
{
    par_ctx *c = ctx;
    if (!h)
        atomic_fetch_add(&c->no_hasher, 1);
    atomic_fetch_add(&c->count[k], 1);
    c->order[atomic_fetch_add(&c->next, 1)] = (int)k;
    for (volatile int i = 0; i < 20000; i++)
        ;
}

static par_ctx *par;

static void par_run(fe_job *j, tl_hasher *h)
{
    ((test_job *)j)->had_hasher = h != NULL;
    ((test_job *)j)->ran_on = pthread_self();
    fe_pool_parallel(par->p, NPARTS, part, par, h);
    atomic_fetch_add(&runs, 1);
}

static void test_parallel(void)
{
    struct event_base *base = event_base_new();
    tl_frontend f;
    tl_hasher *h = tl_hasher_new();
    memset(&f, 0, sizeof f);
    f.base = base;
    reset();
    par = calloc(1, sizeof *par);
    /* without a pool: in order, here */
    fe_pool_parallel(NULL, NPARTS, part, par, h);
    for (int k = 0; k < NPARTS; k++) {
        CU_ASSERT_EQUAL(atomic_load(&par->count[k]), 1);
        CU_ASSERT_EQUAL(par->order[k], k);
    }
    /* with three workers: each part once, all done when it returns */
    memset(par, 0, sizeof *par);
    CU_ASSERT_EQUAL_FATAL(fe_pool_new(&f, 3, &f.pool), TL_OK);
    par->p = f.pool;
    test_job *t = job_new(0, 0);
    t->j.run = par_run;
    CU_ASSERT_EQUAL(fe_pool_push(f.pool, &t->j), TL_OK);
    loop_until(base, 1);
    CU_ASSERT_EQUAL(dones, 1);
    for (int k = 0; k < NPARTS; k++)
        CU_ASSERT_EQUAL(atomic_load(&par->count[k]), 1);
    CU_ASSERT_EQUAL(atomic_load(&par->next), NPARTS);
    CU_ASSERT_EQUAL(atomic_load(&par->no_hasher), 0);
    fe_pool_free(f.pool);
    free(par);
    tl_hasher_free(h);
    event_base_free(base);
}

int main(void)
{
    if (evthread_use_pthreads() != 0)
        return 1;
    loop_thread = pthread_self();
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite("pool", NULL, NULL);
    CU_add_test(s, "queue limits, done on the loop, free", test_limits);
    CU_add_test(s, "parts of a job", test_parallel);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    return failed ? 1 : 0;
}
