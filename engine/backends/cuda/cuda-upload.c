// Kinora engine: large host-to-device copies (the resident weights at prepare) through pinned staging
// buffers that several host threads fill at once.
//
// A cudaMemcpy from pageable memory is staged by the driver through its own pinned buffer, one thread
// copying: about 10-12 GB/s on the test machines' H100 hosts, so uploading one A14B expert (26.6 GiB)
// took 2.5-3 s of a Lightning clip and T5 (9.3 GiB) most of its second. Here the copy is split over up
// to KC_UP_WORKERS threads; each owns two pinned buffers and a non-blocking stream, and alternates:
// memcpy a chunk into one buffer (touching the mapped file's pages, in parallel with the others) while
// the DMA of the other buffer runs. Host memory bandwidth and the PCIe link are both kept busy.
//
// The staging buffers (2 x KC_UP_CHUNK bytes of pinned host memory a worker, 64 MiB for 8) are made
// at the first large copy and given back when the backend holds no weight any more (kc_upload_free).
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backends/cuda/cuda-backend.h"

#define KC_UP_WORKERS 16   // at most (KINORA_CUDA_UPLOAD_THREADS)
#define KC_UP_DEFAULT 8    // by default, at most
#define KC_UP_CHUNK ((size_t) 4 << 20)
#define KC_UP_MIN ((size_t) 4 << 20)   // below this one plain copy (kc_h2d)

struct kc_up_worker {
    struct kc_uploader * up;
    cudaStream_t stream;
    void * buf[2];
    cudaEvent_t done[2];   // recorded after the DMA out of buf[k]
    int used[2];
    // the job: bytes [lo, hi) of src to dst
    char * dst;
    const char * src;
    size_t lo, hi;
    int rc;
};

struct kc_uploader {
    int device;
    int n;   // workers made (their buffers, streams and events)
    struct kc_up_worker w[KC_UP_WORKERS];
};

static int workers_wanted(void)
{
    const char * e = getenv("KINORA_CUDA_UPLOAD_THREADS");
    long n = e ? atol(e) : sysconf(_SC_NPROCESSORS_ONLN);
    if (!e && n > KC_UP_DEFAULT) {
        n = KC_UP_DEFAULT;
    }
    return n < 1 ? 1 : n > KC_UP_WORKERS ? KC_UP_WORKERS : (int) n;
}

static void worker_free(struct kc_up_worker * w)
{
    if (w->stream) {
        cudaStreamSynchronize(w->stream);
        cudaStreamDestroy(w->stream);
    }
    for (int k = 0; k < 2; k++) {
        if (w->done[k]) {
            cudaEventDestroy(w->done[k]);
        }
        cudaFreeHost(w->buf[k]);
    }
    memset(w, 0, sizeof(*w));
}

void kc_upload_free(struct kc_state * s)
{
    pthread_mutex_lock(&s->up_mu);   // not while a preparing thread's copy uses them
    struct kc_uploader * up = s->up;
    for (int i = 0; up && i < up->n; i++) {
        worker_free(&up->w[i]);
    }
    free(up);
    s->up = NULL;
    pthread_mutex_unlock(&s->up_mu);
}

// Make the uploader with up to `want` workers; the number made (0: none, plain copies instead).
static int uploader_make(struct kc_state * s, int want)
{
    if (!s->up) {
        s->up = calloc(1, sizeof(*s->up));
        if (!s->up) {
            return 0;
        }
        s->up->device = s->device;
    }
    struct kc_uploader * up = s->up;
    while (up->n < want) {
        struct kc_up_worker * w = &up->w[up->n];
        w->up = up;
        if (cudaStreamCreateWithFlags(&w->stream, cudaStreamNonBlocking) != cudaSuccess ||
            cudaHostAlloc(&w->buf[0], KC_UP_CHUNK, cudaHostAllocDefault) != cudaSuccess ||
            cudaHostAlloc(&w->buf[1], KC_UP_CHUNK, cudaHostAllocDefault) != cudaSuccess ||
            cudaEventCreateWithFlags(&w->done[0], cudaEventDisableTiming) != cudaSuccess ||
            cudaEventCreateWithFlags(&w->done[1], cudaEventDisableTiming) != cudaSuccess) {
            cudaGetLastError();
            worker_free(w);   // pinned memory short: do with the workers made so far
            break;
        }
        up->n++;
    }
    return up->n;
}

static void * worker_run(void * arg)
{
    struct kc_up_worker * w = arg;
    w->rc = 0;
    if (cudaSetDevice(w->up->device) != cudaSuccess) {
        w->rc = -1;
        return NULL;
    }
    int k = 0;
    for (size_t off = w->lo; off < w->hi; off += KC_UP_CHUNK, k ^= 1) {
        const size_t m = w->hi - off < KC_UP_CHUNK ? w->hi - off : KC_UP_CHUNK;
        // the buffer's previous DMA must be done before it is overwritten
        if (w->used[k] && cudaEventSynchronize(w->done[k]) != cudaSuccess) {
            w->rc = -1;
            break;
        }
        memcpy(w->buf[k], w->src + off, m);
        if (cudaMemcpyAsync(w->dst + off, w->buf[k], m, cudaMemcpyHostToDevice, w->stream) != cudaSuccess ||
            cudaEventRecord(w->done[k], w->stream) != cudaSuccess) {
            w->rc = -1;
            break;
        }
        w->used[k] = 1;
    }
    if (cudaStreamSynchronize(w->stream) != cudaSuccess) {
        w->rc = -1;
    }
    w->used[0] = w->used[1] = 0;
    return NULL;
}

double kc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static int upload(struct kc_state * s, void * dst, const void * src, size_t bytes);

int kc_upload(struct kc_state * s, void * dst, const void * src, size_t bytes)
{
    pthread_mutex_lock(&s->up_mu);   // the staging buffers serve one copy at a time
    const double t0 = kc_now();
    const int rc = upload(s, dst, src, bytes);
    s->prep_upload_s += kc_now() - t0;
    s->prep_upload_bytes += bytes;
    pthread_mutex_unlock(&s->up_mu);
    return rc;
}

static int upload(struct kc_state * s, void * dst, const void * src, size_t bytes)
{
    int n = bytes < KC_UP_MIN ? 0 : workers_wanted();
    if (n > 1 && (size_t) n * 2 * KC_UP_CHUNK > bytes) {
        n = (int) (bytes / (2 * KC_UP_CHUNK));   // at least two chunks a worker
        n = n < 1 ? 1 : n;
    }
    if (n > 0) {
        const int made = uploader_make(s, n);
        n = made < n ? made : n;
    }
    if (n == 0) {
        return kc_h2d(s, dst, src, bytes) == cudaSuccess ? 0 : -1;
    }
    // slices of whole chunks, as even as they come
    const size_t chunks = (bytes + KC_UP_CHUNK - 1) / KC_UP_CHUNK;
    pthread_t th[KC_UP_WORKERS];
    int started[KC_UP_WORKERS] = { 0 };
    size_t c0 = 0;
    for (int i = 0; i < n; i++) {
        struct kc_up_worker * w = &s->up->w[i];
        const size_t c1 = chunks * (size_t) (i + 1) / (size_t) n;
        w->dst = dst;
        w->src = src;
        w->lo = c0 * KC_UP_CHUNK;
        w->hi = c1 * KC_UP_CHUNK < bytes ? c1 * KC_UP_CHUNK : bytes;
        w->rc = 0;
        c0 = c1;
        // worker 0 runs on this thread; a thread that cannot start leaves its slice to this thread too
        if (i > 0 && pthread_create(&th[i], NULL, worker_run, w) == 0) {
            started[i] = 1;
        }
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (!started[i]) {
            worker_run(&s->up->w[i]);
        }
    }
    for (int i = 0; i < n; i++) {
        if (started[i]) {
            pthread_join(th[i], NULL);
        }
        rc |= s->up->w[i].rc;
    }
    cudaSetDevice(s->device);
    return rc == 0 ? 0 : -1;
}
