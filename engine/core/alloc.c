// Kinora engine: the allocation wrappers behind core/alloc.h (fault injection for tests).
#define KE_ALLOC_NO_MACROS 1
#undef malloc
#undef calloc
#undef realloc
#undef posix_memalign
#undef strdup
#undef strndup

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static long g_fail_at;                 // KINORA_FAIL_ALLOC (0: none)
static FILE * g_log;                   // KINORA_ALLOC_LOG
static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_long g_count;
static _Atomic(ke_alloc_fail_fn) g_hook;
static void * _Atomic g_hook_user;

static void read_env(void)
{
    const char * s = getenv("KINORA_FAIL_ALLOC");
    if (s && *s) {
        char * end = NULL;
        long k = strtol(s, &end, 10);
        g_fail_at = (end && *end == 0 && k > 0) ? k : 0;
    }
    const char * path = getenv("KINORA_ALLOC_LOG");
    if (path && *path) {
        g_log = fopen(path, "a");
    }
}

void ke_set_alloc_hook(ke_alloc_fail_fn fail, void * user)
{
    atomic_store(&g_hook_user, user);
    atomic_store(&g_hook, fail);
}

// Nonzero when this allocation (n bytes) is to fail.
static int should_fail(size_t n, const void * caller)
{
    ke_alloc_fail_fn hook = atomic_load(&g_hook);
    if (hook) {
        return hook(n, atomic_load(&g_hook_user));
    }
    pthread_once(&g_once, read_env);
    if (!g_fail_at && !g_log) {
        return 0;
    }
    const long i = atomic_fetch_add(&g_count, 1) + 1;
    if (g_log) {
        pthread_mutex_lock(&g_log_mu);
        fprintf(g_log, "%ld %zu %p\n", i, n, caller);
        fflush(g_log);
        pthread_mutex_unlock(&g_log_mu);
    }
    return i == g_fail_at;
}

void * ke_malloc(size_t n)
{
    if (should_fail(n, __builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return malloc(n);
}

void * ke_calloc(size_t n, size_t size)
{
    if (should_fail(n * size, __builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return calloc(n, size);
}

void * ke_realloc(void * p, size_t n)
{
    if (should_fail(n, __builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc(p, n);
}

int ke_posix_memalign(void ** p, size_t align, size_t n)
{
    if (should_fail(n, __builtin_return_address(0))) {
        return ENOMEM;
    }
    return posix_memalign(p, align, n);
}

char * ke_strdup(const char * s)
{
    if (should_fail(strlen(s) + 1, __builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return strdup(s);
}

char * ke_strndup(const char * s, size_t n)
{
    if (should_fail(strnlen(s, n) + 1, __builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return strndup(s, n);
}
