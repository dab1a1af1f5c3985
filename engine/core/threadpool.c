// Kinora engine: a small persistent pthread pool for data-parallel loops.
// Workers sleep on a condition variable between jobs (no spinning: oneDNN's and OpenBLAS's own
// threads share the same cores between our loops).
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "ke.h"
#include "threadpool.h"

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int) n : 1;
}

#ifdef KE_HAVE_OPENMP
// With oneDNN (which runs on OpenMP) the engine's loops use the same OpenMP team: a second pool of
// threads would compete on the same cores with OpenMP's workers while they spin after each matmul
// (about 6 % of a DiT forward on 2 cores, kinora-bench dit).
#include <omp.h>

static int g_threads;

void ke_set_threads(int n_threads)
{
    g_threads = n_threads > 0 ? n_threads : 0;
    omp_set_num_threads(g_threads > 0 ? g_threads : online_cpus());
}

int ke_get_threads(void)
{
    return g_threads > 0 ? g_threads : online_cpus();
}

void ke_parallel_for(int64_t n, int64_t grain, ke_range_fn fn, void * ctx)
{
    if (n <= 0) {
        return;
    }
    if (grain < 1) {
        grain = 1;
    }
    int parts = ke_get_threads();
    if (n / grain < parts) {
        parts = (int) (n / grain);
    }
    if (parts <= 1 || omp_in_parallel()) {
        fn(ctx, 0, n, 0);
        return;
    }
#pragma omp parallel num_threads(parts)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        const int64_t b = n * t / nt, e = n * (t + 1) / nt;
        if (b < e) {
            fn(ctx, b, e, t);
        }
    }
}

#else // a pthread pool

#define KE_POOL_MAX 256

struct ke_pool {
    pthread_t threads[KE_POOL_MAX];
    int n_threads;          // including the caller
    pthread_mutex_t mu;
    pthread_cond_t cv_work;
    pthread_cond_t cv_done;
    uint64_t generation;
    int pending;
    int quit;
    // current job
    ke_range_fn fn;
    void * ctx;
    int64_t n;
    int n_parts;
};

static struct ke_pool g_pool = {
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .cv_work = PTHREAD_COND_INITIALIZER,
    .cv_done = PTHREAD_COND_INITIALIZER,
};
static int g_want_threads;
static pthread_mutex_t g_init_mu = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local int t_in_pool;

static void run_part(struct ke_pool * p, int part)
{
    int64_t b = p->n * part / p->n_parts;
    int64_t e = p->n * (part + 1) / p->n_parts;
    if (b < e) {
        p->fn(p->ctx, b, e, part);
    }
}

static void * worker(void * arg)
{
    struct ke_pool * p = &g_pool;
    int id = (int) (intptr_t) arg;
    uint64_t seen = 0;
    t_in_pool = 1;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen) {
            pthread_cond_wait(&p->cv_work, &p->mu);
        }
        if (p->quit) {
            break;
        }
        seen = p->generation;
        int active = id < p->n_parts;
        pthread_mutex_unlock(&p->mu);
        if (active) {
            run_part(p, id);
        }
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) {
            pthread_cond_signal(&p->cv_done);
        }
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void pool_start(int n)
{
    if (n < 1) {
        n = online_cpus();
    }
    if (n > KE_POOL_MAX) {
        n = KE_POOL_MAX;
    }
    g_pool.quit = 0;
    g_pool.n_threads = 1;
    for (int i = 1; i < n; i++) {
        if (pthread_create(&g_pool.threads[i], NULL, worker, (void *) (intptr_t) i) != 0) {
            break;
        }
        g_pool.n_threads++;
    }
}

// Stop the workers (ke_set_threads starts a pool of the new size on next use).
static void pool_shutdown(void)
{
    pthread_mutex_lock(&g_init_mu);
    if (g_pool.n_threads > 0) {
        pthread_mutex_lock(&g_pool.mu);
        g_pool.quit = 1;
        pthread_cond_broadcast(&g_pool.cv_work);
        pthread_mutex_unlock(&g_pool.mu);
        for (int i = 1; i < g_pool.n_threads; i++) {
            pthread_join(g_pool.threads[i], NULL);
        }
        g_pool.n_threads = 0;
    }
    pthread_mutex_unlock(&g_init_mu);
}

static void ensure_pool(void)
{
    if (g_pool.n_threads > 0) {
        return;
    }
    pthread_mutex_lock(&g_init_mu);
    if (g_pool.n_threads == 0) {
        pool_start(g_want_threads);
    }
    pthread_mutex_unlock(&g_init_mu);
}

void ke_set_threads(int n_threads)
{
    pool_shutdown();
    g_want_threads = n_threads;
}

int ke_get_threads(void)
{
    ensure_pool();
    return g_pool.n_threads;
}

void ke_parallel_for(int64_t n, int64_t grain, ke_range_fn fn, void * ctx)
{
    if (n <= 0) {
        return;
    }
    ensure_pool();
    if (grain < 1) {
        grain = 1;
    }
    int parts = g_pool.n_threads;
    if (n / grain < parts) {
        parts = (int) (n / grain);
    }
    if (parts <= 1 || t_in_pool) {
        fn(ctx, 0, n, 0);
        return;
    }
    struct ke_pool * p = &g_pool;
    pthread_mutex_lock(&g_init_mu);   // one job at a time (several engine threads may call in)
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->n_parts = parts;
    p->pending = p->n_threads - 1;
    p->generation++;
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);

    t_in_pool = 1;
    run_part(p, 0);
    t_in_pool = 0;

    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) {
        pthread_cond_wait(&p->cv_done, &p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&g_init_mu);
}

#endif // KE_HAVE_OPENMP
