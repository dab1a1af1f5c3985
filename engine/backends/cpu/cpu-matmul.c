// Kinora engine: CPU Linear layers. Two paths behind one op:
//  - exact: fp32 OpenBLAS sgemm (weights converted to f32 block by block when stored narrower);
//  - fast: bf16 inputs/weights with fp32 accumulation through oneDNN's matmul (what the reference GPU
//    pipeline does under autocast). Without oneDNN the fast path falls back to the exact one.
// Weights stay in their stored form: bf16 is used in place; f16, fp8 (with its scale) and the
// block-quantized types (GGUF) are dequantized just in time, a tile of rows at a time, into bf16 in the
// backend's bounded scratch (fast path) or into f32 (exact path): never a whole-model copy. Only f32
// weights (small test models) get a private bf16 copy on the fast path.
#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "backends/cpu/cpu-impl.h"
#include "backends/cpu/cpu-simd.h"
#include "core/error.h"
#include "core/pages.h"
#include "core/threadpool.h"

#ifdef KE_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

// --- OpenBLAS guard -----------------------------------------------------------------------------
// OpenBLAS (0.3.21, driver/others/memory.c blas_memory_alloc) gives every concurrent caller a work
// buffer of 128 MiB of address space, mapped the first time that many callers are inside it at once and
// kept for reuse; when that mmap fails (RLIMIT_AS, strict overcommit) it retries forever at 100 % CPU.
// (Measured: VmSize grows by exactly 128 MiB at a process's first sgemm.) Its threaded driver also
// mallocs a job table per call (MAX_THREADS^2 * 128 bytes: 512 KiB for Debian's MAX_THREADS=64) and
// exit()s when that fails ("OpenBLAS: malloc failed in gemm_driver").
// So before each call, map that much ourselves (the buffer only when a new one may be needed, plus
// headroom for the job table): when that fails the op records KE_STATUS_NOMEM instead of entering a
// loop it would never leave. An mmap/munmap of untouched pages costs microseconds, a GEMM milliseconds.
#define BLAS_BUFFER_BYTES ((size_t) 128 << 20)
#define BLAS_HEADROOM_BYTES ((size_t) 4 << 20)

static atomic_int g_blas_in_flight;   // callers inside OpenBLAS now
static atomic_int g_blas_buffers;     // the most that were inside at once (buffers OpenBLAS holds)

int ke_cpu_blas_enter(struct ke_backend * be)
{
    const int n = atomic_fetch_add(&g_blas_in_flight, 1) + 1;
    const size_t need = BLAS_HEADROOM_BYTES + (n > atomic_load(&g_blas_buffers) ? BLAS_BUFFER_BYTES : 0);
    void * p = mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        atomic_fetch_sub(&g_blas_in_flight, 1);
        ke_be_fail(be, KE_STATUS_NOMEM, "out of memory for OpenBLAS's work buffers (%zu bytes of address space)",
                   need);
        return -1;
    }
    munmap(p, need);
    return 0;
}

void ke_cpu_blas_leave(void)
{
    const int n = atomic_fetch_sub(&g_blas_in_flight, 1);
    int seen = atomic_load(&g_blas_buffers);
    while (n > seen && !atomic_compare_exchange_weak(&g_blas_buffers, &seen, n)) {
    }
}

void ke_cpu_sgemm_nt(float * C, const float * A, const float * B, int64_t M, int64_t N, int64_t K, int accumulate)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint) M, (blasint) N, (blasint) K, 1.0f, A,
                (blasint) K, B, (blasint) K, accumulate ? 1.0f : 0.0f, C, (blasint) N);
}

// y[M, N] += bias (f32 bf, or the stored tensor b converted into tmp[N] when it is not f32).
static void add_bias(float * y, int64_t M, int64_t N, const struct ke_tensor * b, float * tmp)
{
    if (!b) {
        return;
    }
    const float * bias = b->data;
    if (b->type != KE_DTYPE_F32) {
        ke_convert_to_f32(tmp, b->data, b->type, b->scale, (size_t) N);
        bias = tmp;
    }
    for (int64_t i = 0; i < M; i++) {
        float * r = y + i * N;
        for (int64_t j = 0; j < N; j++) {
            r[j] += bias[j];
        }
    }
}

// --- exact fp32 path ----------------------------------------------------------------------------

// Weight rows converted to f32 per block (no full f32 copy of the model), in the backend's scratch.
#define W_BLOCK 256

static void linear_exact(struct ke_backend * be, float * y, const float * x, int64_t M, const struct ke_linear * l)
{
    const int64_t N = l->n_out, K = l->n_in;
    const struct ke_tensor * w = l->w;
    const int64_t blk = N < W_BLOCK ? N : W_BLOCK;
    // scratch: [blk, K] converted weights (narrow weights only), then [N] converted bias (narrow bias only)
    const size_t w_floats = w->type == KE_DTYPE_F32 ? 0 : (size_t) (blk * K);
    const size_t b_floats = l->b && l->b->type != KE_DTYPE_F32 ? (size_t) N : 0;
    float * tmp = NULL;
    if (w_floats + b_floats > 0) {
        tmp = ke_cpu_scratch(be, (w_floats + b_floats) * sizeof(float), "Linear weight conversion block");
        if (!tmp) {
            return;
        }
    }
    if (ke_cpu_blas_enter(be) != 0) {
        if (tmp) {
            ke_cpu_scratch_done(be);
        }
        return;
    }
    if (w->type == KE_DTYPE_F32) {
        ke_cpu_sgemm_nt(y, x, w->data, M, N, K, 0);
    } else {
        float * wf = tmp;
        const size_t row_bytes = ke_dtype_row_bytes(w->type, K);   // block-quantized rows too
        for (int64_t n0 = 0; n0 < N; n0 += blk) {
            const int64_t nb = N - n0 < blk ? N - n0 : blk;
            ke_convert_to_f32(wf, (const char *) w->data + (size_t) n0 * row_bytes, w->type, w->scale, (size_t) (nb * K));
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint) M, (blasint) nb, (blasint) K, 1.0f, x,
                        (blasint) K, wf, (blasint) K, 0.0f, y + n0, (blasint) N);
        }
    }
    ke_cpu_blas_leave();
    add_bias(y, M, N, l->b, tmp ? tmp + w_floats : NULL);
    if (tmp) {
        ke_cpu_scratch_done(be);
    }
}

// --- fast bf16 path (oneDNN) --------------------------------------------------------------------

#ifdef KE_HAVE_DNNL

struct dnnl_prim {
    int64_t M;
    int64_t nt;              // weight rows per call: N, or the tile height of a just-in-time weight
    dnnl_primitive_t prim;
    dnnl_memory_desc_t src_md, wei_md, dst_md, bias_md;
};

#define KE_DNNL_PRIMS 8

struct dnnl_linear {
    uint16_t * w_bf16;       // [N, K] bf16 (NULL when the stored weight is bf16: used in place)
    const uint16_t * w;      // plain [K, N] view (strides 1, K) of the bf16 weight
    void * w_blocked;        // the weight reordered once into the layout oneDNN prefers (or NULL)
    dnnl_memory_desc_t wb_md;
    int layout;              // 0 undecided, 1 plain, 2 blocked
    float * bias;            // [N] f32 or NULL
    struct dnnl_prim prims[KE_DNNL_PRIMS];
    int n_prims;
    pthread_mutex_t mu;
    int jit;                 // weights dequantized per tile of `tile` rows (prims keyed by M and tile rows)
    int64_t tile;
};

static dnnl_engine_t g_eng;
static dnnl_stream_t g_stream;
static pthread_once_t g_dnnl_once = PTHREAD_ONCE_INIT;
static int g_dnnl_ok;
static int g_bf16_ok;     // oneDNN has a bf16 matmul for this CPU (AVX-512 and newer; not AVX2-only CPUs)

// Whether oneDNN implements a bf16 x bf16 -> f32 matmul on this CPU: without one the fast path would copy
// weights for nothing and fall back to the exact path at every call, so it is not prepared at all.
static int probe_bf16_matmul(void)
{
    dnnl_dims_t sd = { 32, 32 }, wd = { 32, 32 }, dd = { 32, 32 };
    dnnl_memory_desc_t s_md, w_md, d_md;
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_memory_desc_init_by_tag(&s_md, 2, sd, dnnl_bf16, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&w_md, 2, wd, dnnl_bf16, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&d_md, 2, dd, dnnl_f32, dnnl_ab);
    if (dnnl_matmul_desc_init(&md, &s_md, &w_md, NULL, &d_md) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &md, NULL, g_eng, NULL) != dnnl_success) {
        return 0;
    }
    dnnl_primitive_desc_destroy(pd);
    return 1;
}

static void dnnl_init_once(void)
{
    if (dnnl_engine_create(&g_eng, dnnl_cpu, 0) != dnnl_success) {
        return;
    }
    if (dnnl_stream_create(&g_stream, g_eng, dnnl_stream_default_flags) != dnnl_success) {
        return;
    }
    g_dnnl_ok = 1;
    g_bf16_ok = probe_bf16_matmul();
    if (!g_bf16_ok) {
        ke_log(1, "cpu backend: oneDNN has no bf16 matmul for this CPU; the fast path computes in fp32");
    }
}

struct cvt_ctx {
    uint16_t * dst;
    const float * src;
};

// f32 -> bf16 with round-to-nearest-even, branch-free so it vectorises (activations are finite; a
// NaN may come out as another NaN or as infinity, which is as wrong as the input already was).
KE_MULTIVERSION
static void f32_to_bf16_rows(uint16_t * restrict d, const float * restrict s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t x;
        memcpy(&x, s + i, sizeof(x));
        d[i] = (uint16_t) ((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
    }
}

static void cvt_range(void * p, int64_t i0, int64_t i1, int tid)
{
    (void) tid;
    struct cvt_ctx * c = p;
    f32_to_bf16_rows(c->dst + i0, c->src + i0, i1 - i0);
}

static void decide_layout(struct dnnl_linear * d, const dnnl_memory_desc_t * src, const dnnl_memory_desc_t * plain,
                          const dnnl_memory_desc_t * bias, const dnnl_memory_desc_t * dst, int64_t K, int64_t N)
{
    d->layout = 1;
    dnnl_memory_desc_t any;
    dnnl_dims_t wd = { K, N };
    dnnl_memory_desc_init_by_tag(&any, 2, wd, dnnl_bf16, dnnl_format_tag_any);
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd = NULL, rpd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_memory_t from = NULL, to = NULL;
    void * buf = NULL;
    if (dnnl_matmul_desc_init(&md, src, &any, d->bias ? bias : NULL, dst) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &md, NULL, g_eng, NULL) != dnnl_success) {
        goto out;
    }
    const dnnl_memory_desc_t * want = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    if (!want || dnnl_memory_desc_equal(want, plain)) {
        goto out;
    }
    d->wb_md = *want;
    size_t sz = dnnl_memory_desc_get_size(&d->wb_md);
    if (posix_memalign(&buf, 64, sz) != 0) {
        buf = NULL;
        goto out;
    }
    if (dnnl_reorder_primitive_desc_create(&rpd, plain, g_eng, &d->wb_md, g_eng, NULL) != dnnl_success ||
        dnnl_primitive_create(&reorder, rpd) != dnnl_success ||
        dnnl_memory_create(&from, plain, g_eng, (void *) d->w) != dnnl_success ||
        dnnl_memory_create(&to, &d->wb_md, g_eng, buf) != dnnl_success) {
        goto out;
    }
    dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, from }, { DNNL_ARG_TO, to } };
    if (dnnl_primitive_execute(reorder, g_stream, 2, args) != dnnl_success || dnnl_stream_wait(g_stream) != dnnl_success) {
        goto out;
    }
    d->w_blocked = buf;
    buf = NULL;
    d->layout = 2;
    // the plain bf16 copy (if ours) is no longer needed; the exact path reads the original tensor
    free(d->w_bf16);
    d->w_bf16 = NULL;
    d->w = NULL;
out:
    free(buf);
    dnnl_memory_destroy(from);
    dnnl_memory_destroy(to);
    if (reorder) {
        dnnl_primitive_destroy(reorder);
    }
    if (rpd) {
        dnnl_primitive_desc_destroy(rpd);
    }
    if (pd) {
        dnnl_primitive_desc_destroy(pd);
    }
}

// The primitive for M rows and N weight rows (all of them, or one just-in-time tile), output row stride
// ld_dst.
static struct dnnl_prim * get_prim(struct dnnl_linear * d, int64_t M, int64_t N, int64_t K, int64_t ld_dst)
{
    for (int i = 0; i < d->n_prims; i++) {
        if (d->prims[i].M == M && d->prims[i].nt == N) {
            return &d->prims[i];
        }
    }
    struct dnnl_prim * p;
    if (d->n_prims < KE_DNNL_PRIMS) {
        p = &d->prims[d->n_prims++];
    } else {
        p = &d->prims[KE_DNNL_PRIMS - 1];
        dnnl_primitive_destroy(p->prim);
    }
    memset(p, 0, sizeof(*p));
    p->M = M;
    p->nt = N;
    dnnl_dims_t sd = { M, K }, wd = { K, N }, dd = { M, N }, bd = { 1, N };
    dnnl_dims_t ws = { 1, K };    // [K, N] view of the [N, K] row-major weight
    dnnl_dims_t ds = { ld_dst, 1 };   // a tile writes N of the output's ld_dst columns
    dnnl_memory_desc_init_by_tag(&p->src_md, 2, sd, dnnl_bf16, dnnl_ab);
    dnnl_memory_desc_init_by_strides(&p->wei_md, 2, wd, dnnl_bf16, ws);
    dnnl_memory_desc_init_by_strides(&p->dst_md, 2, dd, dnnl_f32, ds);
    dnnl_memory_desc_init_by_tag(&p->bias_md, 2, bd, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd = NULL;
    if (d->layout == 0) {
        // First use: let oneDNN pick the weight layout, and reorder the weight into it once.
        decide_layout(d, &p->src_md, &p->wei_md, &p->bias_md, &p->dst_md, K, N);
    }
    if (d->layout == 2) {
        p->wei_md = d->wb_md;
    }
    if (dnnl_matmul_desc_init(&md, &p->src_md, &p->wei_md, d->bias ? &p->bias_md : NULL, &p->dst_md) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &md, NULL, g_eng, NULL) != dnnl_success ||
        dnnl_primitive_create(&p->prim, pd) != dnnl_success) {
        if (pd) {
            dnnl_primitive_desc_destroy(pd);
        }
        d->n_prims--;
        return NULL;
    }
    dnnl_primitive_desc_destroy(pd);
    return p;
}

// y = xb w^T (+ bias) through primitive p (weights `w` in p's weight layout).
static int exec_prim(const struct dnnl_prim * p, const uint16_t * xb, const void * w, float * y, const float * bias)
{
    dnnl_memory_t ms = NULL, mw = NULL, mdst = NULL, mb = NULL;
    int rc = -1;
    if (dnnl_memory_create(&ms, &p->src_md, g_eng, (void *) xb) == dnnl_success &&
        dnnl_memory_create(&mw, &p->wei_md, g_eng, (void *) w) == dnnl_success &&
        dnnl_memory_create(&mdst, &p->dst_md, g_eng, y) == dnnl_success &&
        (!bias || dnnl_memory_create(&mb, &p->bias_md, g_eng, (void *) bias) == dnnl_success)) {
        dnnl_exec_arg_t args[4] = {
            { DNNL_ARG_SRC, ms },
            { DNNL_ARG_WEIGHTS, mw },
            { DNNL_ARG_DST, mdst },
            { DNNL_ARG_BIAS, mb },
        };
        if (dnnl_primitive_execute(p->prim, g_stream, bias ? 4 : 3, args) == dnnl_success &&
            dnnl_stream_wait(g_stream) == dnnl_success) {
            rc = 0;
        }
    }
    dnnl_memory_destroy(ms);
    dnnl_memory_destroy(mw);
    dnnl_memory_destroy(mdst);
    dnnl_memory_destroy(mb);
    return rc;
}

// The activation as bf16 (malloc'd; NULL when out of memory).
static uint16_t * x_to_bf16(const float * x, int64_t M, int64_t K)
{
    uint16_t * xb = malloc((size_t) (M * K) * sizeof(uint16_t));
    if (xb) {
        struct cvt_ctx cc = { xb, x };
        ke_parallel_for(M * K, 1 << 16, cvt_range, &cc);
    }
    return xb;
}

static int linear_fast(float * y, const float * x, int64_t M, const struct ke_linear * l)
{
    struct dnnl_linear * d = l->prepared;
    const int64_t N = l->n_out, K = l->n_in;
    pthread_mutex_lock(&d->mu);
    struct dnnl_prim * p = get_prim(d, M, N, K, N);
    pthread_mutex_unlock(&d->mu);
    if (!p) {
        return -1;
    }
    uint16_t * xb = x_to_bf16(x, M, K);
    if (!xb) {
        return -1;   // the exact path runs instead (it needs no activation-sized copy)
    }
    int rc = exec_prim(p, xb, d->layout == 2 ? d->w_blocked : (const void *) d->w, y, d->bias);
    free(xb);
    return rc;
}

// --- just-in-time weights: a tile of rows dequantized to bf16, then the GEMM of that tile ---------

// At most this much bf16 per tile (the backend's bounded scratch). Each tile costs two parallel regions
// (dequantize, GEMM): few large tiles keep the synchronisation small next to the work, which matters on
// loaded machines; the GEMM streams the tile once per call at the DiT's token counts anyway.
#define JIT_TILE_BYTES ((size_t) 16 << 20)

struct jit_ctx {
    const struct ke_tensor * w;
    size_t row_bytes;
    int64_t K, r0;
    uint16_t * dst;
    uint16_t f8_lut[256];    // fp8 code -> bf16 of (value * scale)
};

// f16 -> bf16 (through f32, nearest even) for every f16 bit pattern: one table load per weight.
static uint16_t g_f16_bf16[1 << 16];
static pthread_once_t g_f16_once = PTHREAD_ONCE_INIT;

static void f16_table_init(void)
{
    for (uint32_t h = 0; h < (1u << 16); h++) {
        g_f16_bf16[h] = ke_f32_to_bf16(ke_f16_to_f32((uint16_t) h));
    }
}

// Rows [r0 + i0, r0 + i1) of w to bf16 (nearest even), into dst rows [i0, i1).
static void jit_rows(void * p, int64_t i0, int64_t i1, int tid)
{
    (void) tid;
    const struct jit_ctx * c = p;
    const struct ke_tensor * w = c->w;
    for (int64_t i = i0; i < i1; i++) {
        const char * src = (const char *) w->data + (size_t) (c->r0 + i) * c->row_bytes;
        uint16_t * dst = c->dst + i * c->K;
        if (ke_dtype_is_quantized(w->type)) {
            ke_dequant_row_bf16(w->type, src, dst, c->K);
            continue;
        }
        if (w->type == KE_DTYPE_F8_E4M3 || w->type == KE_DTYPE_F16) {
            if (w->type == KE_DTYPE_F8_E4M3) {
                const uint8_t * q = (const uint8_t *) src;
                for (int64_t k = 0; k < c->K; k++) {
                    dst[k] = c->f8_lut[q[k]];
                }
            } else {
                const uint16_t * h = (const uint16_t *) src;
                for (int64_t k = 0; k < c->K; k++) {
                    dst[k] = g_f16_bf16[h[k]];
                }
            }
            continue;
        }
        float tmp[256];
        const size_t es = ke_dtype_size(w->type);
        for (int64_t k0 = 0; k0 < c->K; k0 += 256) {
            const int64_t nk = c->K - k0 < 256 ? c->K - k0 : 256;
            ke_convert_to_f32(tmp, src + (size_t) k0 * es, w->type, w->scale, (size_t) nk);
            f32_to_bf16_rows(dst + k0, tmp, nk);
        }
    }
}

// 0 done; -1 oneDNN could not run it (the exact path runs instead); -2 out of memory (recorded on be).
static int linear_fast_jit(struct ke_backend * be, float * y, const float * x, int64_t M, const struct ke_linear * l)
{
    struct dnnl_linear * d = l->prepared;
    const int64_t N = l->n_out, K = l->n_in, T = d->tile;
    uint16_t * xb = x_to_bf16(x, M, K);
    if (!xb) {
        return -1;
    }
    uint16_t * wt = ke_cpu_scratch(be, (size_t) (T * K) * sizeof(uint16_t), "a dequantized weight tile");
    if (!wt) {
        free(xb);
        return -2;
    }
    struct jit_ctx jc = { l->w, ke_dtype_row_bytes(l->w->type, K), K, 0, wt, { 0 } };
    if (l->w->type == KE_DTYPE_F8_E4M3) {
        for (int v = 0; v < 256; v++) {
            jc.f8_lut[v] = ke_f32_to_bf16(ke_f8e4m3_to_f32((uint8_t) v) * l->w->scale);
        }
    } else if (l->w->type == KE_DTYPE_F16) {
        pthread_once(&g_f16_once, f16_table_init);
    }
    int rc = 0;
    for (int64_t n0 = 0; n0 < N && rc == 0; n0 += T) {
        const int64_t nt = N - n0 < T ? N - n0 : T;
        pthread_mutex_lock(&d->mu);
        struct dnnl_prim * p = get_prim(d, M, nt, K, N);
        pthread_mutex_unlock(&d->mu);
        if (!p) {
            rc = -1;
            break;
        }
        jc.r0 = n0;
        ke_parallel_for(nt, 1, jit_rows, &jc);
        rc = exec_prim(p, xb, wt, y + n0, d->bias ? d->bias + n0 : NULL);
    }
    ke_cpu_scratch_done(be);
    free(xb);
    return rc;
}

static int prepare_fast(struct ke_linear * l)
{
    pthread_once(&g_dnnl_once, dnnl_init_once);
    if (!g_dnnl_ok) {
        return -1;
    }
    if (!g_bf16_ok) {
        return 0;   // not prepared: the exact path reads the stored weight (no copy)
    }
    struct dnnl_linear * d = calloc(1, sizeof(*d));
    if (!d) {
        return -1;
    }
    pthread_mutex_init(&d->mu, NULL);
    const size_t n = (size_t) (l->n_out * l->n_in);
    if (l->w->type == KE_DTYPE_BF16) {
        d->w = l->w->data;
    } else if (l->w->type != KE_DTYPE_F32) {
        // f16, fp8 and block-quantized weights stay as stored: dequantized per tile at each call
        d->jit = 1;
        d->layout = 1;
        const char * tb = getenv("KE_JIT_TILE_MB");   // measurement override
        const size_t tile_bytes = tb && atoi(tb) > 0 ? (size_t) atoi(tb) << 20 : JIT_TILE_BYTES;
        // balanced tiles: as few as fit the bound, of equal height (a multiple of 32 rows)
        const size_t total = (size_t) l->n_out * (size_t) l->n_in * sizeof(uint16_t);
        const int64_t n_tiles = (int64_t) ((total + tile_bytes - 1) / tile_bytes);
        int64_t t = (l->n_out + n_tiles - 1) / n_tiles;
        t = (t + 31) / 32 * 32;
        d->tile = t > l->n_out ? l->n_out : t;
    } else {
        d->w_bf16 = malloc(n * sizeof(uint16_t));
        float * tmp = malloc((size_t) l->n_in * sizeof(float));
        if (!d->w_bf16 || !tmp) {
            free(tmp);
            free(d->w_bf16);
            free(d);
            return -1;
        }
        const size_t es = ke_dtype_size(l->w->type);
        for (int64_t r = 0; r < l->n_out; r++) {
            ke_convert_to_f32(tmp, (const char *) l->w->data + (size_t) (r * l->n_in) * es, l->w->type, l->w->scale,
                              (size_t) l->n_in);
            for (int64_t c = 0; c < l->n_in; c++) {
                d->w_bf16[r * l->n_in + c] = ke_f32_to_bf16(tmp[c]);
            }
        }
        free(tmp);
        d->w = d->w_bf16;
        // Only the copy is read from now on: the stored (f32, f16, fp8) weight's mapped pages leave the
        // resident set, so a checkpoint in f32 costs its bf16 copy, not the copy plus twice as much file.
        ke_pages_release(l->w->data, n * es);
    }
    if (l->b) {
        d->bias = malloc((size_t) l->n_out * sizeof(float));
        if (!d->bias) {
            free(d->w_bf16);
            free(d);
            return -1;
        }
        ke_convert_to_f32(d->bias, l->b->data, l->b->type, l->b->scale, (size_t) l->n_out);
    }
    l->prepared = d;
    if (d->w_bf16 && !getenv("KE_DNNL_PLAIN_WEIGHTS")) {
        // Weights we converted ourselves go straight into oneDNN's preferred layout (decided now, so
        // the cost does not land in a step). Weights stored in bf16 are used in place, zero-copy: the
        // reordered layout gains 0-10 % (kinora-bench gemm) but would double their memory.
        dnnl_memory_desc_t src_md, plain_md, dst_md, bias_md;
        const int64_t M = 256, K = l->n_in, N = l->n_out;
        dnnl_dims_t sd = { M, K }, wd = { K, N }, dd = { M, N }, bd = { 1, N }, ws = { 1, K };
        dnnl_memory_desc_init_by_tag(&src_md, 2, sd, dnnl_bf16, dnnl_ab);
        dnnl_memory_desc_init_by_strides(&plain_md, 2, wd, dnnl_bf16, ws);
        dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dnnl_f32, dnnl_ab);
        dnnl_memory_desc_init_by_tag(&bias_md, 2, bd, dnnl_f32, dnnl_ab);
        decide_layout(d, &src_md, &plain_md, &bias_md, &dst_md, K, N);
    } else {
        d->layout = 1;
    }
    return 0;
}

static void release_fast(struct ke_linear * l)
{
    struct dnnl_linear * d = l->prepared;
    if (!d) {
        return;
    }
    for (int i = 0; i < d->n_prims; i++) {
        dnnl_primitive_destroy(d->prims[i].prim);
    }
    pthread_mutex_destroy(&d->mu);
    free(d->w_blocked);
    free(d->w_bf16);
    free(d->bias);
    free(d);
    l->prepared = NULL;
}

#endif // KE_HAVE_DNNL

// --- backend entry points -----------------------------------------------------------------------

int ke_cpu_linear_takes(struct ke_backend * be, enum ke_dtype type)
{
    (void) be;
    return type != KE_DTYPE_COUNT;   // every float and block-quantized type (converted per tile)
}

bool ke_cpu_bf16_matmul(void)
{
#ifdef KE_HAVE_DNNL
    pthread_once(&g_dnnl_once, dnnl_init_once);
    return g_dnnl_ok && g_bf16_ok;
#else
    return false;
#endif
}

int ke_cpu_linear_prepare(struct ke_backend * be, struct ke_linear * l)
{
    l->owner = be;
    l->prepared = NULL;
#ifdef KE_HAVE_DNNL
    if (be->precision == KE_PRECISION_BF16) {
        return prepare_fast(l);
    }
#endif
    return 0;
}

void ke_cpu_linear_release(struct ke_backend * be, struct ke_linear * l)
{
    (void) be;
#ifdef KE_HAVE_DNNL
    release_fast(l);
#endif
    l->prepared = NULL;
}

void ke_cpu_linear(struct ke_backend * be, float * y, const float * x, int64_t M, const struct ke_linear * l)
{
    if (M <= 0) {
        return;
    }
#ifdef KE_HAVE_DNNL
    const struct dnnl_linear * d = l->prepared;
    if (d) {
        const int rc = d->jit ? linear_fast_jit(be, y, x, M, l) : linear_fast(y, x, M, l);
        if (rc == 0 || rc == -2) {
            return;
        }
    }
#endif
    linear_exact(be, y, x, M, l);
}
