// Kinora engine: resident pages of mapped weight files: a registry of the read-only file mappings and
// madvise(MADV_DONTNEED) on ranges inside them (see pages.h).
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/pages.h"

struct mapping {
    uintptr_t a, e;     // [a, e)
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct mapping * g_maps;
static int g_n, g_cap;

void ke_pages_register(const void * addr, size_t len)
{
    pthread_mutex_lock(&g_mu);
    if (g_n == g_cap) {
        const int cap = g_cap ? 2 * g_cap : 16;
        struct mapping * m = realloc(g_maps, (size_t) cap * sizeof(*m));
        if (!m) {
            // unregistered: its pages are simply never released early
            pthread_mutex_unlock(&g_mu);
            return;
        }
        g_maps = m;
        g_cap = cap;
    }
    g_maps[g_n].a = (uintptr_t) addr;
    g_maps[g_n].e = (uintptr_t) addr + len;
    g_n++;
    pthread_mutex_unlock(&g_mu);
}

void ke_pages_unregister(const void * addr)
{
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < g_n; i++) {
        if (g_maps[i].a == (uintptr_t) addr) {
            g_maps[i] = g_maps[--g_n];
            break;
        }
    }
    pthread_mutex_unlock(&g_mu);
}

size_t ke_pages_release(const void * p, size_t n)
{
    const uintptr_t pg = (uintptr_t) sysconf(_SC_PAGESIZE);
    const uintptr_t a = ((uintptr_t) p + pg - 1) & ~(pg - 1), e = ((uintptr_t) p + n) & ~(pg - 1);
    size_t done = 0;
    if (!p || e <= a) {
        return 0;
    }
    pthread_mutex_lock(&g_mu);
    for (int i = 0; i < g_n; i++) {
        if (a >= g_maps[i].a && e <= g_maps[i].e) {
            // held under the lock so that the mapping cannot be unmapped (and reused) meanwhile
            if (madvise((void *) a, e - a, MADV_DONTNEED) == 0) {
                done = e - a;
            }
            break;
        }
    }
    pthread_mutex_unlock(&g_mu);
    return done;
}

static size_t status_kib(const char * key)
{
    FILE * f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kib = 0;
    const size_t kl = strlen(key);
    if (!f) {
        return 0;
    }
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, kl) == 0) {
            kib = (size_t) strtoull(line + kl, NULL, 10);
        }
    }
    fclose(f);
    return kib * 1024;
}

size_t ke_pages_rss(void)
{
    return status_kib("VmRSS:");
}

size_t ke_pages_peak_rss(void)
{
    return status_kib("VmHWM:");
}
