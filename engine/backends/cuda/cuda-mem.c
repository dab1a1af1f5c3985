// Kinora engine: CUDA backend memory: the failure record, op-class profiling, the caching allocator
// and the memory ops of the table (alloc, free, upload, download, copy, memset0, sync).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/cuda-backend.h"
#include "core/error.h"

_Thread_local cudaStream_t kc_tl_stream;
static _Thread_local struct kc_block * tl_free;   // blocks a preparing thread freed, for it alone
static _Thread_local size_t tl_cached;           // their bytes (counted in s->cached too)

int kc_fail(struct kc_state * s, const char * what, const char * detail)
{
    ke_be_fail(s->be, KE_STATUS_ERROR, "%s failed: %s", what, detail ? detail : "");
    return -1;
}

int kc_fail_nomem(struct kc_state * s, const char * what, size_t bytes)
{
    const double g = 1073741824.0;
    ke_be_fail(s->be, KE_STATUS_NOMEM,
               "out of device memory for %s (%.1f MiB; %.2f GiB in use, device budget %.2f GiB; a larger --vram "
               "or a smaller size may help)",
               what, (double) bytes / 1048576.0, (double) s->in_use / g, (double) s->budget / g);
    return -1;
}

void kc_status(struct ke_backend * be)
{
    struct kc_state * s = kc_st(be);
    cudaError_t e = cudaStreamSynchronize(s->stream);
    if (e == cudaSuccess) {
        e = cudaGetLastError();
    } else {
        cudaGetLastError();
    }
    if (e != cudaSuccess) {
        ke_be_fail(be, KE_STATUS_ERROR, "a queued kernel failed: %s", cudaGetErrorString(e));
    }
}

// --- profiling ---------------------------------------------------------------------------------

void kc_prof_mark(struct kc_state * s, int cls, const char * name)
{
    if (!s->profiling) {
        return;
    }
    if (s->n_ev + 1 >= s->cap_ev) {
        int cap = s->cap_ev ? s->cap_ev * 2 : 1024;
        cudaEvent_t * ev = realloc(s->ev, sizeof(cudaEvent_t) * (size_t) cap);
        int * cl = realloc(s->ev_class, sizeof(int) * (size_t) cap);
        const char ** nm = realloc(s->ev_name, sizeof(char *) * (size_t) cap);
        if (ev) {
            s->ev = ev;
        }
        if (cl) {
            s->ev_class = cl;
        }
        if (nm) {
            s->ev_name = nm;
        }
        if (!ev || !cl || !nm) {
            return;
        }
        for (int i = s->cap_ev; i < cap; i++) {
            cudaEventCreate(&ev[i]);
        }
        s->ev = ev;
        s->ev_class = cl;
        s->cap_ev = cap;
    }
    s->ev_class[s->n_ev] = cls;
    s->ev_name[s->n_ev] = name;
    cudaEventRecord(s->ev[s->n_ev++], s->stream);
}

// Fold recorded marks into per-class times: the interval after a mark belongs to its class.
void kc_prof_collect(struct kc_state * s)
{
    if (s->n_ev < 2) {
        s->n_ev = 0;
        return;
    }
    cudaEventSynchronize(s->ev[s->n_ev - 1]);
    for (int i = 0; i + 1 < s->n_ev; i++) {
        float ms = 0.0f;
        if (cudaEventElapsedTime(&ms, s->ev[i], s->ev[i + 1]) == cudaSuccess && s->ev_class[i] >= 0) {
            s->ms[s->ev_class[i]] += ms;
            int j = 0;
            while (j < KC_PROF_OPS && s->op_name[j] && strcmp(s->op_name[j], s->ev_name[i]) != 0) {
                j++;
            }
            if (j < KC_PROF_OPS) {
                s->op_name[j] = s->ev_name[i];
                s->op_ms[j] += ms;
            }
        }
    }
    s->n_ev = 0;
}

// Each op marks its start with its class and its end as an idle gap (-1: host time between ops).

// --- memory ------------------------------------------------------------------------------------

static size_t round_size(size_t n)
{
    if (n < 4096) {
        return 4096;
    }
    // four size classes per power of two (at most 25% slack)
    size_t p = 1;
    while ((p << 1) <= n) {
        p <<= 1;
    }
    const size_t q = p / 4 < 4096 ? 4096 : p / 4;
    return (n + q - 1) / q * q;
}

// Give the shared cache's blocks back to the device. cudaFree waits for all queued work, so this is for
// the compute thread (a preparing thread's blocks, on tl_free, stay and stay counted).
static void release_free_blocks(struct kc_state * s)
{
    cudaStreamSynchronize(s->stream);
    struct kc_block * b = s->free_list;
    while (b) {
        struct kc_block * n = b->next;
        s->cached -= b->size;
        cudaFree(b->p);
        free(b);
        b = n;
    }
    s->free_list = NULL;
}

void kc_trim(struct kc_state * s)
{
    pthread_mutex_lock(&s->mu);
    release_free_blocks(s);
    pthread_mutex_unlock(&s->mu);
}

void kc_budget_note_peak(struct kc_state * s)
{
    if (s->in_use > s->peak) {
        s->peak = s->in_use;
    }
}

// Caller holds s->mu (or is single-threaded: prepare).
static int budget_fit_locked(struct kc_state * s, size_t n)
{
    if (!s->budget) {
        return 0;
    }
    if (kc_tl_stream) {
        // a preparing thread frees nothing to stay within the budget: cudaFree would wait for the
        // compute queued on the other thread (a whole forward). It counts the blocks in use and its own
        // cached ones; the shared cache holds the forwards' activations, which the room asked for the
        // thread counted (generate.c room_beside, after ops.trim emptied that cache). Only a cudaMalloc
        // the device itself refuses makes it release the shared cache (kc_alloc), waiting as it must.
        return s->in_use + tl_cached + n > s->budget ? -1 : 0;
    }
    if (s->in_use + s->cached + n > s->budget && s->free_list) {
        release_free_blocks(s);
    }
    if (s->in_use + n > s->budget) {
        return -1;
    }
    return 0;
}

int kc_budget_fit(struct kc_state * s, size_t n)
{
    pthread_mutex_lock(&s->mu);
    const int rc = budget_fit_locked(s, n);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void * kc_alloc(struct kc_state * s, size_t n)
{
    const size_t want = round_size(n);
    pthread_mutex_lock(&s->mu);
    struct kc_block ** best = NULL;
    // a preparing thread (kc_tl_stream) takes no block of the shared cache (compute queued before its free
    // may still read it, and this thread's stream is not ordered after that compute), only its own
    for (struct kc_block ** pp = kc_tl_stream ? &tl_free : &s->free_list; *pp; pp = &(*pp)->next) {
        const size_t sz = (*pp)->size;
        if (sz >= want && sz <= want + want / 4 && (!best || sz < (*best)->size)) {
            best = pp;
        }
    }
    struct kc_block * b = NULL;
    if (best) {
        b = *best;
        *best = b->next;
        s->cached -= b->size;
        if (kc_tl_stream) {
            tl_cached -= b->size;
        }
    } else {
        void * p = NULL;
        if (budget_fit_locked(s, want) != 0) {
            pthread_mutex_unlock(&s->mu);
            ke_log(1, "cuda backend: %zu bytes would pass the device budget (%zu of %zu in use)", n, s->in_use,
                   s->budget);
            return NULL;
        }
        if (cudaMalloc(&p, want) != cudaSuccess) {
            cudaGetLastError();
            release_free_blocks(s);
            if (cudaMalloc(&p, want) != cudaSuccess) {
                cudaGetLastError();
                pthread_mutex_unlock(&s->mu);
                ke_log(1, "cuda backend: out of device memory for %zu bytes (%zu in use)", n, s->in_use);
                return NULL;
            }
        }
        b = malloc(sizeof(*b));
        if (!b) {
            cudaFree(p);
            pthread_mutex_unlock(&s->mu);
            return NULL;
        }
        b->p = p;
        b->size = want;
    }
    b->next = s->live;
    s->live = b;
    s->in_use += b->size;
    if (s->in_use > s->peak) {
        s->peak = s->in_use;
    }
    pthread_mutex_unlock(&s->mu);
    return b->p;
}

void kc_free(struct kc_state * s, void * p)
{
    if (!p) {
        return;
    }
    if (kc_tl_stream) {
        cudaStreamSynchronize(kc_tl_stream);   // idle before anyone takes the block again
    }
    pthread_mutex_lock(&s->mu);
    // a preparing thread keeps what it frees for itself (its scratch, reused weight after weight: a block
    // given to the shared cache it could not take back, and the cache would grow until the budget made
    // the allocator free blocks, a device-wide synchronization behind the compute)
    struct kc_block ** list = kc_tl_stream ? &tl_free : &s->free_list;
    for (struct kc_block ** pp = &s->live; *pp; pp = &(*pp)->next) {
        if ((*pp)->p == p) {
            struct kc_block * b = *pp;
            *pp = b->next;
            s->in_use -= b->size;
            s->cached += b->size;
            if (kc_tl_stream) {
                tl_cached += b->size;
            }
            b->next = *list;
            *list = b;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

void kc_prepare_thread_end(struct kc_state * s)
{
    if (kc_tl_stream) {
        cudaStreamSynchronize(kc_tl_stream);
    }
    pthread_mutex_lock(&s->mu);
    while (tl_free) {   // idle now: the shared cache takes them
        struct kc_block * b = tl_free;
        tl_free = b->next;
        b->next = s->free_list;
        s->free_list = b;
    }
    tl_cached = 0;
    pthread_mutex_unlock(&s->mu);
}

void * cu_alloc(struct ke_backend * be, size_t n)
{
    return kc_alloc(kc_st(be), n ? n : 1);
}

void cu_free(struct ke_backend * be, void * p)
{
    kc_free(kc_st(be), p);
}

cudaError_t kc_h2d(struct kc_state * s, void * dst, const void * src, size_t n)
{
    const cudaStream_t st = kc_prep_stream(s);
    cudaError_t e = cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, st);
    if (e == cudaSuccess) {
        e = cudaStreamSynchronize(st);
    }
    cudaGetLastError();
    return e;
}

void cu_upload(struct ke_backend * be, void * dst, const void * src, size_t n)
{
    struct kc_state * s = kc_st(be);
    // the host buffer may be reused as soon as this returns
    CU(s, kc_h2d(s, dst, src, n));
}

void cu_download(struct ke_backend * be, void * dst, const void * src, size_t n)
{
    struct kc_state * s = kc_st(be);
    CU(s, cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, s->stream));
    CU(s, cudaStreamSynchronize(s->stream));
}

void cu_copy(struct ke_backend * be, void * dst, const void * src, size_t n)
{
    struct kc_state * s = kc_st(be);
    if (n) {
        PROF_BEGIN(s, KC_CLASS_OTHER);
        CU(s, cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, s->stream));
        PROF_END(s);
    }
}

void cu_memset0(struct ke_backend * be, void * dst, size_t n)
{
    struct kc_state * s = kc_st(be);
    CU(s, cudaMemsetAsync(dst, 0, n, s->stream));
}

void cu_sync(struct ke_backend * be)
{
    struct kc_state * s = kc_st(be);
    CU(s, cudaStreamSynchronize(s->stream));
}
