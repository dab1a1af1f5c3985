// Kinora engine: the CUDA backend table. One stream; activations from a caching allocator; linears
// through cuBLASLt (bf16 operands, fp32 accumulation and output, bias in the epilogue) on weights
// converted and uploaded once; attention through cuDNN's fused SDPA or the own flash kernel.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/cuda-backend.h"
#include "backends/cuda/cuda.h"
#include "core/error.h"

#define LT_WORKSPACE (64u << 20)

int kc_fail(struct kc_state * s, const char * what, const char * detail)
{
    if (!s->failed) {
        ke_log(0, "cuda backend: %s failed: %s", what, detail ? detail : "");
    }
    s->failed = 1;
    return -1;
}

#define CU(s, call)                                                             \
    do {                                                                        \
        cudaError_t e_ = (call);                                                \
        if (e_ != cudaSuccess) {                                                \
            kc_fail((s), #call, cudaGetErrorString(e_));                        \
        }                                                                       \
    } while (0)

#define KC(s, call)                                                             \
    do {                                                                        \
        if ((call) != 0) {                                                      \
            kc_fail((s), #call, cudaGetErrorString(cudaGetLastError()));        \
        }                                                                       \
    } while (0)

// --- profiling ---------------------------------------------------------------------------------

static void prof_mark(struct kc_state * s, int cls, const char * name)
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
static void prof_collect(struct kc_state * s)
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
#define PROF_BEGIN(s, cls) prof_mark((s), (cls), __func__)
#define PROF_END(s) prof_mark((s), -1, NULL)

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

static void release_free_blocks(struct kc_state * s)
{
    cudaStreamSynchronize(s->stream);
    struct kc_block * b = s->free_list;
    while (b) {
        struct kc_block * n = b->next;
        cudaFree(b->p);
        free(b);
        b = n;
    }
    s->free_list = NULL;
}

void * kc_alloc(struct kc_state * s, size_t n)
{
    const size_t want = round_size(n);
    pthread_mutex_lock(&s->mu);
    struct kc_block ** best = NULL;
    for (struct kc_block ** pp = &s->free_list; *pp; pp = &(*pp)->next) {
        const size_t sz = (*pp)->size;
        if (sz >= want && sz <= want + want / 4 && (!best || sz < (*best)->size)) {
            best = pp;
        }
    }
    struct kc_block * b = NULL;
    if (best) {
        b = *best;
        *best = b->next;
    } else {
        void * p = NULL;
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
    pthread_mutex_lock(&s->mu);
    for (struct kc_block ** pp = &s->live; *pp; pp = &(*pp)->next) {
        if ((*pp)->p == p) {
            struct kc_block * b = *pp;
            *pp = b->next;
            s->in_use -= b->size;
            b->next = s->free_list;
            s->free_list = b;
            // copies of the freed data are dropped, never expanded
            for (int i = 0; i < KC_SHADOWS; i++) {
                const char * c = (const char *) s->sh[i].src;
                if (c && c >= (const char *) p && c < (const char *) p + b->size) {
                    s->sh[i].src = NULL;
                    s->sh[i].stale = 0;
                }
            }
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

// --- shadows -----------------------------------------------------------------------------------
// A shadow is a bf16 copy of an f32 activation [src, src + n), made for the linears and attention
// that read it (several may read one copy). Fused producers may write only the bf16 copy: the entry
// is then "stale" (the f32 memory is out of date) and is expanded to f32 before anything else reads
// that memory. Nothing observable changes except that such values are rounded to bf16, which the
// consumers did anyway.

static bool overlaps(const void * a, size_t na, const void * b, size_t nb)
{
    const char * x = a, * y = b;
    return x < y + nb && y < x + na;
}

static void sh_expand(struct kc_state * s, struct kc_shadow * e)
{
    if (e->stale) {
        e->stale = 0;
        KC(s, kc_bf16_to_f32((float *) e->src, e->bf, (int64_t) e->n, s->stream));
    }
}

static void recipe_run(struct kc_state * s);
static void recipe_check_read(struct kc_state * s, const void * p, size_t n);
static void recipe_check_write(struct kc_state * s, const void * p, size_t n);

void kc_read(struct kc_state * s, const void * p, size_t n)
{
    if (!p) {
        return;
    }
    recipe_check_read(s, p, n);
    for (int i = 0; i < KC_SHADOWS; i++) {
        struct kc_shadow * e = &s->sh[i];
        if (e->stale && overlaps(e->src, e->n * 4, p, n ? n : 1)) {
            sh_expand(s, e);
        }
    }
}

void kc_wrote(struct kc_state * s, const void * p, size_t n)
{
    recipe_check_write(s, p, n);
    for (int i = 0; i < KC_SHADOWS; i++) {
        struct kc_shadow * e = &s->sh[i];
        if (e->src && overlaps(e->src, e->n * 4, p, n ? n : 1)) {
            const bool covered = (const char *) p <= (const char *) e->src &&
                                 (const char *) e->src + e->n * 4 <= (const char *) p + n;
            if (!covered) {
                sh_expand(s, e);   // the part not overwritten must keep its value
            }
            e->src = NULL;
            e->stale = 0;
        }
    }
}

static struct kc_shadow * sh_find(struct kc_state * s, const float * x, size_t n)
{
    for (int i = 0; i < KC_SHADOWS; i++) {
        if (s->sh[i].src == x && s->sh[i].n == n) {
            s->sh[i].use = ++s->tick;
            return &s->sh[i];
        }
    }
    return NULL;
}

// Whether a queued linear still reads this entry's buffer.
static bool sh_busy(const struct kc_state * s, const struct kc_shadow * e)
{
    for (int i = 0; i < s->n_pend; i++) {
        if (s->pend[i].kind == KC_PEND_LINEAR && e->bf && s->pend[i].xb == e->bf) {
            return true;
        }
    }
    return false;
}

// An entry for x[n] (contents to be written by the caller); NULL when out of memory.
static struct kc_shadow * sh_claim(struct kc_state * s, const float * x, size_t n)
{
    struct kc_shadow * e = NULL;
    for (int i = 0; i < KC_SHADOWS && !e; i++) {
        if (s->sh[i].src == x && !sh_busy(s, &s->sh[i])) {
            e = &s->sh[i];
        }
    }
    for (int i = 0; i < KC_SHADOWS && !e; i++) {
        if (!s->sh[i].src && s->sh[i].cap >= n && !sh_busy(s, &s->sh[i])) {
            e = &s->sh[i];
        }
    }
    for (int i = 0; i < KC_SHADOWS && !e; i++) {
        if (!s->sh[i].src && !sh_busy(s, &s->sh[i])) {
            e = &s->sh[i];
        }
    }
    if (!e) {
        // the least recently used entry no queued linear reads
        for (int i = 0; i < KC_SHADOWS; i++) {
            if (!sh_busy(s, &s->sh[i]) && (!e || s->sh[i].use < e->use)) {
                e = &s->sh[i];
            }
        }
        if (!e) {
            return NULL;
        }
    }
    sh_expand(s, e);
    e->src = NULL;
    if (e->cap < n) {
        kc_free(s, e->bf);
        e->bf = kc_alloc(s, n * 2);
        e->cap = e->bf ? n : 0;
        if (!e->bf) {
            return NULL;
        }
    }
    e->src = x;
    e->n = n;
    e->stale = 0;
    e->use = ++s->tick;
    return e;
}

// bf16 copy of the f32 activation x[n] (made when there is none).
static const uint16_t * bf16_of(struct kc_state * s, const float * x, size_t n)
{
    struct kc_shadow * e = sh_find(s, x, n);
    if (e) {
        return e->bf;
    }
    kc_read(s, x, n * 4);
    e = sh_claim(s, x, n);
    if (!e) {
        return NULL;
    }
    KC(s, kc_f32_to_bf16(e->bf, x, (int64_t) n, s->stream));
    return e->bf;
}

static void flush_pending(struct kc_state * s);

static void * cu_alloc(struct ke_backend * be, size_t n)
{
    return kc_alloc(kc_st(be), n ? n : 1);
}

static void cu_free(struct ke_backend * be, void * p)
{
    struct kc_state * s = kc_st(be);
    flush_pending(s);
    if (s->rec_live && p && (const char *) s->rec_x >= (const char *) p &&
        (const char *) s->rec_x < (const char *) p + 1) {
        recipe_run(s);   // the input of a pending recomputation goes away
    }
    if (s->rec_live && p && (const void *) s->rec_y == p) {
        s->rec_live = 0;
    }
    kc_free(s, p);
}

static void cu_upload(struct ke_backend * be, void * dst, const void * src, size_t n)
{
    struct kc_state * s = kc_st(be);
    flush_pending(s);
    kc_wrote(s, dst, n);
    // the host buffer may be reused as soon as this returns
    CU(s, cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, s->stream));
    CU(s, cudaStreamSynchronize(s->stream));
}

static void cu_download(struct ke_backend * be, void * dst, const void * src, size_t n)
{
    struct kc_state * s = kc_st(be);
    flush_pending(s);
    kc_read(s, src, n);
    CU(s, cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, s->stream));
    CU(s, cudaStreamSynchronize(s->stream));
}

static void cu_copy(struct ke_backend * be, void * dst, const void * src, size_t n)
{
    struct kc_state * s = kc_st(be);
    flush_pending(s);
    kc_read(s, src, n);
    kc_wrote(s, dst, n);
    if (n) {
        PROF_BEGIN(s, KC_CLASS_OTHER);
        CU(s, cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, s->stream));
        PROF_END(s);
    }
}

static void cu_memset0(struct ke_backend * be, void * dst, size_t n)
{
    struct kc_state * s = kc_st(be);
    flush_pending(s);
    kc_wrote(s, dst, n);
    CU(s, cudaMemsetAsync(dst, 0, n, s->stream));
}

static void cu_sync(struct ke_backend * be)
{
    struct kc_state * s = kc_st(be);
    flush_pending(s);
    CU(s, cudaStreamSynchronize(s->stream));
}

// --- linear (cuBLASLt) -------------------------------------------------------------------------

struct kc_linear {
    uint16_t * w;    // [N, K] bf16
    float * b;       // [N] or NULL
    uint16_t * bb;   // bf16 copy of b (for bf16 outputs)
    size_t bytes;
};

enum {
    GEMM_F32 = 0,        // y = x W^T + b
    GEMM_BF16_GELU,      // y = GELU(x W^T + b) as bf16
    GEMM_RESID,          // r += x W^T + b (C = D = r)
    GEMM_RESID_VEC,      // r += g * (x W^T) + g * b, g a per-feature device vector (alpha vector)
};

struct kc_gemm_plan {
    int64_t M, N, K;
    int bias, kind, bias_bf16;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t algo;
    struct kc_gemm_plan * next;
};

static struct kc_gemm_plan * gemm_plan_try(struct kc_state * s, int64_t M, int64_t N, int64_t K, int bias, int kind,
                                           int bias_bf16)
{
    struct kc_gemm_plan * p = calloc(1, sizeof(*p));
    if (!p) {
        return NULL;
    }
    p->M = M;
    p->N = N;
    p->K = K;
    p->bias = bias;
    p->kind = kind;
    p->bias_bf16 = bias_bf16;
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    const cudaDataType_t bias_type = bias_bf16 ? CUDA_R_16BF : CUDA_R_32F;
    const cudaDataType_t out_type = kind == GEMM_BF16_GELU ? CUDA_R_16BF : CUDA_R_32F;
    const cublasLtPointerMode_t pm = CUBLASLT_POINTER_MODE_ALPHA_DEVICE_VECTOR_BETA_HOST;
    cublasLtEpilogue_t epi = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    if (kind == GEMM_BF16_GELU) {
        epi = bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
    }
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t res;
    int n_res = 0;
    const size_t ws = s->lt_ws_size;
    // y[M, N] row-major = D[N, M] column-major = W[N, K] (A^T of a [K, N] column-major view) x X^T
    if (cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F) != CUBLAS_STATUS_SUCCESS ||
        cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)) ||
        cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)) ||
        cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)) ||
        (bias && cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type,
                                                sizeof(bias_type))) ||
        (kind == GEMM_RESID_VEC && cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_POINTER_MODE, &pm,
                                                                  sizeof(pm))) ||
        cublasLtMatrixLayoutCreate(&p->a, CUDA_R_16BF, (uint64_t) K, (uint64_t) N, K) ||
        cublasLtMatrixLayoutCreate(&p->b, CUDA_R_16BF, (uint64_t) K, (uint64_t) M, K) ||
        cublasLtMatrixLayoutCreate(&p->c, out_type, (uint64_t) N, (uint64_t) M, N) ||
        cublasLtMatmulPreferenceCreate(&pref) ||
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)) ||
        cublasLtMatmulAlgoGetHeuristic(s->lt, p->op, p->a, p->b, p->c, p->c, pref, 1, &res, &n_res) ||
        n_res < 1) {
        if (pref) {
            cublasLtMatmulPreferenceDestroy(pref);
        }
        free(p);
        return NULL;
    }
    cublasLtMatmulPreferenceDestroy(pref);
    p->algo = res.algo;
    p->next = s->gemm_plans;
    s->gemm_plans = p;
    return p;
}

static struct kc_gemm_plan * gemm_plan(struct kc_state * s, int64_t M, int64_t N, int64_t K, int bias, int kind)
{
    for (struct kc_gemm_plan * p = s->gemm_plans; p; p = p->next) {
        if (p->M == M && p->N == N && p->K == K && p->bias == bias && p->kind == kind) {
            return p;
        }
    }
    struct kc_gemm_plan * p = gemm_plan_try(s, M, N, K, bias, kind, 0);
    if (!p && bias && kind == GEMM_BF16_GELU) {
        p = gemm_plan_try(s, M, N, K, bias, kind, 1);   // some bf16-output epilogues take a bf16 bias only
    }
    return p;
}

static int cu_linear_prepare(struct ke_backend * be, struct ke_linear * l)
{
    struct kc_state * s = kc_st(be);
    const struct ke_tensor * w = l->w;
    const int64_t N = l->n_out, K = l->n_in;
    if (!w || N <= 0 || K <= 0 || ke_tensor_nelements(w) != N * K) {
        ke_log(0, "cuda backend: linear weight %s does not hold [%lld, %lld]", w && w->name ? w->name : "?",
               (long long) N, (long long) K);
        return -1;
    }
    struct kc_linear * p = calloc(1, sizeof(*p));
    if (!p) {
        return -1;
    }
    const size_t n = (size_t) (N * K);
    p->bytes = n * 2 + (l->b ? (size_t) N * 6 : 0);
    if (cudaMalloc((void **) &p->w, n * 2) != cudaSuccess) {
        cudaGetLastError();
        free(p);
        ke_log(0, "cuda backend: out of device memory for weight %s", w->name ? w->name : "?");
        return -1;
    }
    int rc = 0;
    if (w->type == KE_DTYPE_BF16) {
        rc = cudaMemcpy(p->w, w->data, n * 2, cudaMemcpyHostToDevice) == cudaSuccess ? 0 : -1;
    } else {
        // stage f32 (converted on the host for other dtypes) in chunks, convert on the device
        const size_t chunk = (size_t) 1 << 24;
        float * dtmp = NULL;
        float * htmp = w->type == KE_DTYPE_F32 ? NULL : malloc(chunk * sizeof(float));
        if (cudaMalloc((void **) &dtmp, chunk * sizeof(float)) != cudaSuccess || (w->type != KE_DTYPE_F32 && !htmp)) {
            rc = -1;
        }
        const size_t es = ke_dtype_size(w->type);
        for (size_t off = 0; rc == 0 && off < n; off += chunk) {
            const size_t m = n - off < chunk ? n - off : chunk;
            const float * src = (const float *) w->data + off;
            if (htmp) {
                ke_convert_to_f32(htmp, (const char *) w->data + off * es, w->type, w->scale, m);
                src = htmp;
            }
            if (cudaMemcpy(dtmp, src, m * sizeof(float), cudaMemcpyHostToDevice) != cudaSuccess ||
                kc_f32_to_bf16(p->w + off, dtmp, (int64_t) m, 0) != 0 || cudaDeviceSynchronize() != cudaSuccess) {
                rc = -1;
            }
        }
        free(htmp);
        cudaFree(dtmp);
    }
    if (rc == 0 && l->b) {
        float * hb = ke_tensor_to_f32_alloc(l->b);
        if (!hb || ke_tensor_nelements(l->b) != N || cudaMalloc((void **) &p->b, (size_t) N * 4) != cudaSuccess ||
            cudaMalloc((void **) &p->bb, (size_t) N * 2) != cudaSuccess ||
            cudaMemcpy(p->b, hb, (size_t) N * 4, cudaMemcpyHostToDevice) != cudaSuccess ||
            kc_f32_to_bf16(p->bb, p->b, N, 0) != 0 || cudaDeviceSynchronize() != cudaSuccess) {
            rc = -1;
        }
        free(hb);
    }
    if (rc != 0) {
        cudaGetLastError();
        cudaFree(p->w);
        cudaFree(p->b);
        cudaFree(p->bb);
        free(p);
        ke_log(0, "cuda backend: uploading weight %s failed", w->name ? w->name : "?");
        return -1;
    }
    l->prepared = p;
    l->owner = be;
    s->weights += p->bytes;
    s->in_use += p->bytes;
    if (s->in_use > s->peak) {
        s->peak = s->in_use;
    }
    return 0;
}

static void cu_linear_release(struct ke_backend * be, struct ke_linear * l)
{
    struct kc_state * s = kc_st(be);
    struct kc_linear * p = l->prepared;
    if (!p || l->owner != be) {
        return;
    }
    flush_pending(s);
    cudaStreamSynchronize(s->stream);
    cudaFree(p->w);
    cudaFree(p->b);
    cudaFree(p->bb);
    s->weights -= p->bytes;
    s->in_use -= p->bytes;
    free(p);
    l->prepared = NULL;
}

// out = xb W^T + b as f32 (GEMM_F32) or GELU(.) as bf16 (GEMM_BF16_GELU); for the residual kinds
// out += (gate *) (xb W^T + b), with `bias` the bias to add (b, or gate * b) and `gate` the alpha vector.
static int run_gemm_ex(struct kc_state * s, void * out, const uint16_t * xb, int64_t M, const struct ke_linear * l,
                       int kind, const float * gate, const float * bias, const uint16_t * w)
{
    const struct kc_linear * p = l->prepared;
    struct kc_gemm_plan * g = gemm_plan(s, M, l->n_out, l->n_in, p->b != NULL, kind);
    if (!g) {
        if (kind == GEMM_F32) {
            char msg[128];
            snprintf(msg, sizeof(msg), "no cuBLASLt algorithm for M=%lld N=%lld K=%lld", (long long) M,
                     (long long) l->n_out, (long long) l->n_in);
            kc_fail(s, "cublasLt heuristic", msg);
        }
        return -1;
    }
    if (p->b) {
        const void * bp = bias ? (const void *) bias : g->bias_bf16 ? (const void *) p->bb : (const void *) p->b;
        cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof(bp));
    }
    const float one = 1.0f, zero = 0.0f;
    const bool resid = kind == GEMM_RESID || kind == GEMM_RESID_VEC;
    const void * alpha = kind == GEMM_RESID_VEC ? (const void *) gate : (const void *) &one;
    PROF_BEGIN(s, KC_CLASS_GEMM);
    cublasStatus_t st = cublasLtMatmul(s->lt, g->op, alpha, w ? w : p->w, g->a, xb, g->b, resid ? &one : &zero, out, g->c,
                                       out, g->c, &g->algo, s->lt_ws, s->lt_ws_size, s->stream);
    PROF_END(s);
    if (st != CUBLAS_STATUS_SUCCESS) {
        char msg[96];
        snprintf(msg, sizeof(msg), "status %d at M=%lld N=%lld K=%lld", (int) st, (long long) M,
                 (long long) l->n_out, (long long) l->n_in);
        kc_fail(s, "cublasLtMatmul", msg);
        return -1;
    }
    return 0;
}

static int run_gemm(struct kc_state * s, void * out, const uint16_t * xb, int64_t M, const struct ke_linear * l,
                    int kind)
{
    return run_gemm_ex(s, out, xb, M, l, kind, NULL, NULL, NULL);
}

// --- deferred linear outputs -------------------------------------------------------------------
// When a linear's output is only added into the residual stream (gated_add), the GEMM adds into the
// stream directly and the output itself is not written; it is recomputed from the same input if
// anything reads it before it is overwritten (the "recipe").

static void recipe_run(struct kc_state * s)
{
    if (!s->rec_live) {
        return;
    }
    s->rec_live = 0;
    const uint16_t * xb = bf16_of(s, s->rec_x, (size_t) (s->rec_M * s->rec_l->n_in));
    if (!xb || run_gemm(s, s->rec_y, xb, s->rec_M, s->rec_l, GEMM_F32) != 0) {
        kc_fail(s, "linear", "recomputing a fused linear output");
    }
}

static void recipe_check_read(struct kc_state * s, const void * p, size_t n)
{
    if (s->rec_live && overlaps(s->rec_y, (size_t) (s->rec_M * s->rec_l->n_out) * 4, p, n ? n : 1)) {
        recipe_run(s);
    }
}

static void recipe_check_write(struct kc_state * s, const void * p, size_t n)
{
    if (!s->rec_live) {
        return;
    }
    const size_t ny = (size_t) (s->rec_M * s->rec_l->n_out) * 4;
    if (overlaps(s->rec_x, (size_t) (s->rec_M * s->rec_l->n_in) * 4, p, n ? n : 1)) {
        recipe_run(s);   // its input is about to change
    } else if (overlaps(s->rec_y, ny, p, n ? n : 1)) {
        const bool covered = (const char *) p <= (const char *) s->rec_y &&
                             (const char *) s->rec_y + ny <= (const char *) p + n;
        if (covered) {
            s->rec_live = 0;
        } else {
            recipe_run(s);
        }
    }
}

// --- deferred ops ------------------------------------------------------------------------------
// A LayerNorm (then a modulate of its output), an RMS norm, and a linear are queued rather than run,
// so that what follows can take them in one pass: LayerNorm(+modulate) -> linear writes only the
// bf16 input of the GEMM; RMS norm -> RoPE writes only the bf16 q/k of the attention; linear ->
// GELU runs the GELU in the GEMM epilogue with a bf16 output. Any other op runs them as queued.

static void run_pending(struct kc_state * s, struct kc_pending * q)
{
    switch (q->kind) {
    case KC_PEND_LN:
        PROF_BEGIN(s, KC_CLASS_OTHER);
        if (kc_norm_modulate(q->y, NULL, q->x, q->M, q->D, q->eps, q->w, q->b, q->shift, q->scale, q->stride, q->sel,
                             s->stream) != 0) {
            KC(s, kc_layer_norm(q->y, q->x, q->M, q->D, q->w, q->b, q->eps, s->stream));
            if (q->shift) {
                KC(s, kc_modulate(q->y, q->y, q->M, q->D, q->shift, q->scale, q->stride, q->sel, s->stream));
            }
        }
        PROF_END(s);
        break;
    case KC_PEND_RMS:
        PROF_BEGIN(s, KC_CLASS_OTHER);
        KC(s, kc_rms_norm(q->y, q->x, q->M, q->D, q->w, q->eps, s->stream));
        PROF_END(s);
        break;
    case KC_PEND_LINEAR:
        run_gemm(s, q->y, q->xb, q->M, q->l, GEMM_F32);
        break;
    case KC_PEND_L2:
        PROF_BEGIN(s, KC_CLASS_OTHER);
        KC(s, kc_channel_l2norm(q->y, q->x, (int) q->D, q->M, q->w, 0, s->stream));
        PROF_END(s);
        break;
    default:
        break;
    }
    q->kind = 0;
}

static void flush_pending(struct kc_state * s)
{
    for (int i = 0; i < s->n_pend; i++) {
        run_pending(s, &s->pend[i]);
    }
    s->n_pend = 0;
}

static void drop_pending(struct kc_state * s, int i)
{
    for (int j = i; j + 1 < s->n_pend; j++) {
        s->pend[j] = s->pend[j + 1];
    }
    s->n_pend--;
}

static struct kc_pending * push_pending(struct kc_state * s)
{
    if (s->n_pend == KC_PENDING) {
        flush_pending(s);
    }
    struct kc_pending * q = &s->pend[s->n_pend++];
    memset(q, 0, sizeof(*q));
    return q;
}

// The single queued op of `kind` writing y (NULL when the queue holds anything else).
static struct kc_pending * pending_only(struct kc_state * s, int kind, const float * y)
{
    return s->n_pend == 1 && s->pend[0].kind == kind && s->pend[0].y == y ? &s->pend[0] : NULL;
}

static void cu_linear(struct ke_backend * be, float * y, const float * x, int64_t M, const struct ke_linear * l)
{
    struct kc_state * s = kc_st(be);
    const struct kc_linear * p = l->prepared;
    if (!p || l->owner != be) {
        flush_pending(s);
        kc_fail(s, "linear", "weight not prepared by this backend");
        return;
    }
    if (M <= 0) {
        flush_pending(s);
        return;
    }
    const size_t nx = (size_t) (M * l->n_in);
    const uint16_t * xb = NULL;
    struct kc_pending * q = pending_only(s, KC_PEND_LN, x);
    if (q && q->M == M && q->D == l->n_in) {
        // LayerNorm(+modulate) straight to the GEMM's bf16 input; the f32 result stays unwritten
        struct kc_shadow * e = sh_claim(s, x, nx);
        PROF_BEGIN(s, KC_CLASS_OTHER);
        if (e && kc_norm_modulate(NULL, e->bf, q->x, q->M, q->D, q->eps, q->w, q->b, q->shift, q->scale, q->stride,
                                  q->sel, s->stream) == 0) {
            e->stale = 1;
            xb = e->bf;
            s->n_pend = 0;
        } else if (e) {
            e->src = NULL;
        }
        PROF_END(s);
    }
    flush_pending(s);
    if (!xb) {
        PROF_BEGIN(s, KC_CLASS_OTHER);
        xb = bf16_of(s, x, nx);
        PROF_END(s);
    }
    kc_wrote(s, y, (size_t) (M * l->n_out) * sizeof(float));
    if (!xb) {
        kc_fail(s, "linear", "out of device memory for the bf16 input");
        return;
    }
    struct kc_pending * d = push_pending(s);
    d->kind = KC_PEND_LINEAR;
    d->y = y;
    d->x = x;
    d->M = M;
    d->l = l;
    d->xb = xb;
}

// --- row-wise ----------------------------------------------------------------------------------

static void cu_layer_norm(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D, const float * w,
                          const float * b, float eps)
{
    struct kc_state * s = kc_st(be);
    flush_pending(s);
    kc_read(s, x, (size_t) (M * D) * 4);
    kc_read(s, w, (size_t) D * 4);
    kc_read(s, b, (size_t) D * 4);
    kc_wrote(s, y, (size_t) (M * D) * sizeof(float));
    struct kc_pending * q = push_pending(s);
    q->kind = KC_PEND_LN;
    q->y = y;
    q->x = x;
    q->M = M;
    q->D = D;
    q->w = w;
    q->b = b;
    q->eps = eps;
}

static void cu_rms_norm(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D, const float * w,
                        float eps)
{
    struct kc_state * s = kc_st(be);
    // queue behind other RMS norms (q and k come in pairs) unless the ranges touch
    bool keep = true;
    for (int i = 0; i < s->n_pend; i++) {
        const struct kc_pending * q = &s->pend[i];
        keep = keep && q->kind == KC_PEND_RMS && !overlaps(q->y, (size_t) (q->M * q->D) * 4, x, (size_t) (M * D) * 4) &&
               !overlaps(q->y, (size_t) (q->M * q->D) * 4, y, (size_t) (M * D) * 4) &&
               !overlaps(q->x, (size_t) (q->M * q->D) * 4, y, (size_t) (M * D) * 4);
    }
    if (!keep) {
        flush_pending(s);
    }
    kc_read(s, x, (size_t) (M * D) * 4);
    kc_read(s, w, (size_t) D * 4);
    kc_wrote(s, y, (size_t) (M * D) * sizeof(float));
    struct kc_pending * q = push_pending(s);
    q->kind = KC_PEND_RMS;
    q->y = y;
    q->x = x;
    q->M = M;
    q->D = D;
    q->w = w;
    q->eps = eps;
}

static void cu_modulate(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D,
                        const float * shift, const float * scale, int64_t stride, const int32_t * sel)
{
    struct kc_state * s = kc_st(be);
    struct kc_pending * q = pending_only(s, KC_PEND_LN, y);
    if (q && y == x && M == q->M && D == q->D && !q->shift) {
        kc_read(s, shift, 4);
        kc_read(s, scale, 4);
        kc_read(s, sel, 4);
        q->shift = shift;
        q->scale = scale;
        q->stride = stride;
        q->sel = sel;
        return;
    }
    flush_pending(s);
    kc_read(s, x, (size_t) (M * D) * 4);
    kc_read(s, shift, 4);
    kc_read(s, scale, 4);
    kc_read(s, sel, (size_t) M * 4);
    kc_wrote(s, y, (size_t) (M * D) * sizeof(float));
    PROF_BEGIN(s, KC_CLASS_OTHER);
    KC(s, kc_modulate(y, x, M, D, shift, scale, stride, sel, s->stream));
    PROF_END(s);
}

// x += (gate *) linear output, in the GEMM of the queued linear that makes y. A gate (one row: no
// per-token selector) is folded into a scaled bf16 copy of the weight and bias for this one GEMM
// (cuBLASLt has no bf16 kernels with a per-feature alpha vector).
static bool fuse_residual(struct kc_state * s, float * x, const float * y, int64_t M, int64_t D, const float * gate,
                          const int32_t * sel)
{
    struct kc_pending * q = pending_only(s, KC_PEND_LINEAR, y);
    if (!q || s->no_resid || q->M != M || q->l->n_out != D || (gate && sel) || (gate && q->l->n_in % 8 != 0) ||
        overlaps(x, (size_t) (M * D) * 4, y, (size_t) (M * D) * 4) ||
        overlaps(x, (size_t) (M * D) * 4, q->x, (size_t) (M * q->l->n_in) * 4)) {
        return false;
    }
    const struct kc_linear * p = q->l->prepared;
    const int64_t K = q->l->n_in;
    if (!gemm_plan(s, M, D, K, p->b != NULL, GEMM_RESID)) {
        static int logged;
        if (!logged) {
            logged = 1;
            ke_log(2, "cuda backend: no cuBLASLt algorithm for a residual GEMM; adding separately");
        }
        return false;
    }
    kc_read(s, x, (size_t) (M * D) * 4);
    kc_read(s, gate, (size_t) D * 4);
    if (s->rec_live) {
        recipe_run(s);   // one recomputable output at a time
    }
    float * gb = NULL;
    uint16_t * gw = NULL;
    if (gate) {
        gw = kc_alloc(s, (size_t) (D * K) * 2);
        gb = p->b ? kc_alloc(s, (size_t) D * 4) : NULL;
        if (!gw || (p->b && !gb) || kc_scale_rows_bf16(gw, p->w, gate, D, K, s->stream) != 0) {
            kc_free(s, gw);
            kc_free(s, gb);
            return false;
        }
        if (gb) {
            KC(s, kc_mul(gb, p->b, gate, D, s->stream));
        }
    }
    kc_wrote(s, x, (size_t) (M * D) * 4);
    const struct kc_pending d = *q;
    s->n_pend = 0;
    const int rc = run_gemm_ex(s, x, d.xb, M, d.l, GEMM_RESID, NULL, gb, gw);
    kc_free(s, gb);
    kc_free(s, gw);
    if (rc != 0) {
        return false;
    }
    s->rec_live = 1;
    s->rec_y = d.y;
    s->rec_x = d.x;
    s->rec_M = d.M;
    s->rec_l = d.l;
    return true;
}

static void cu_gated_add(struct ke_backend * be, float * x, const float * y, int64_t M, int64_t D,
                         const float * gate, int64_t stride, const int32_t * sel)
{
    struct kc_state * s = kc_st(be);
    if (fuse_residual(s, x, y, M, D, gate, sel)) {
        return;
    }
    flush_pending(s);
    kc_read(s, x, (size_t) (M * D) * 4);
    kc_read(s, y, (size_t) (M * D) * 4);
    kc_read(s, gate, 4);
    kc_read(s, sel, (size_t) M * 4);
    kc_wrote(s, x, (size_t) (M * D) * sizeof(float));
    PROF_BEGIN(s, KC_CLASS_OTHER);
    KC(s, kc_gated_add(x, y, M, D, gate, stride, sel, s->stream));
    PROF_END(s);
}

// --- element-wise ------------------------------------------------------------------------------

// in: (pointer, bytes) read, out: (pointer, bytes) written
#define EW_OP(call, in1, n1, in2, n2, out, nout)                 \
    do {                                                         \
        struct kc_state * s = kc_st(be);                         \
        flush_pending(s);                                        \
        kc_read(s, (in1), (size_t) (n1));                        \
        kc_read(s, (in2), (size_t) (n2));                        \
        kc_wrote(s, (out), (size_t) (nout));                     \
        PROF_BEGIN(s, KC_CLASS_OTHER);                           \
        KC(s, call);                                             \
        PROF_END(s);                                             \
    } while (0)

static void cu_gelu_tanh(struct ke_backend * be, float * x, int64_t n)
{
    struct kc_state * s = kc_st(be);
    struct kc_pending * q = pending_only(s, KC_PEND_LINEAR, x);
    if (q && q->M * q->l->n_out == n) {
        // GELU in the GEMM epilogue, bf16 output for the linear that reads it next
        struct kc_shadow * e = sh_claim(s, x, (size_t) n);
        if (e && run_gemm(s, e->bf, q->xb, q->M, q->l, GEMM_BF16_GELU) == 0) {
            e->stale = 1;
            s->n_pend = 0;
            return;
        }
        if (e) {
            e->src = NULL;
        }
    }
    EW_OP(kc_gelu_tanh(x, n, s->stream), x, n * 4, NULL, 0, x, n * 4);
}

static void cu_silu(struct ke_backend * be, float * x, int64_t n)
{
    struct kc_state * s = kc_st(be);
    struct kc_pending * q = pending_only(s, KC_PEND_L2, x);
    if (q && q->M * q->D == n) {
        // the VAE's channel L2 norm and the SiLU after it in one pass
        PROF_BEGIN(s, KC_CLASS_OTHER);
        KC(s, kc_channel_l2norm(q->y, q->x, (int) q->D, q->M, q->w, 1, s->stream));
        PROF_END(s);
        s->n_pend = 0;
        return;
    }
    EW_OP(kc_silu(x, n, s->stream), x, n * 4, NULL, 0, x, n * 4);
}

static void cu_mul(struct ke_backend * be, float * y, const float * a, const float * b, int64_t n)
{
    EW_OP(kc_mul(y, a, b, n, s->stream), a, n * 4, b, n * 4, y, n * 4);
}

static void cu_add(struct ke_backend * be, float * y, const float * a, const float * b, int64_t n)
{
    EW_OP(kc_add(y, a, b, n, s->stream), a, n * 4, b, n * 4, y, n * 4);
}

static void cu_scale(struct ke_backend * be, float * y, const float * x, float a, int64_t n)
{
    EW_OP(kc_scale(y, x, a, n, s->stream), x, n * 4, NULL, 0, y, n * 4);
}

// --- attention ---------------------------------------------------------------------------------

static void cu_rope(struct ke_backend * be, float * x, int64_t L, int n_heads, int head_dim, const float * cs)
{
    struct kc_state * s = kc_st(be);
    const int64_t D = (int64_t) n_heads * head_dim;
    for (int i = 0; i < s->n_pend; i++) {
        struct kc_pending * q = &s->pend[i];
        if (q->kind == KC_PEND_RMS && q->y == x && q->M == L && q->D == D) {
            // RMS norm + RoPE in one pass, bf16 output for the attention (queued RMS norms of
            // other tensors stay queued: their ranges do not touch this one)
            kc_read(s, cs, (size_t) (L * head_dim) * 4);
            struct kc_shadow * e = sh_claim(s, x, (size_t) (L * D));
            PROF_BEGIN(s, KC_CLASS_OTHER);
            int rc = e ? kc_rms_rope(NULL, e->bf, q->x, L, D, q->w, q->eps, head_dim, cs, s->stream) : -1;
            PROF_END(s);
            if (rc == 0) {
                e->stale = 1;
                drop_pending(s, i);
                return;
            }
            if (e) {
                e->src = NULL;
            }
            break;
        }
    }
    EW_OP(kc_rope(x, L, n_heads, head_dim, cs, s->stream), x, L * D * 4, cs, L * head_dim * 4, x, L * D * 4);
}

// --- attention for other head dims: blocks of queries through two cuBLASLt GEMMs ----------------
// S = Q K^T (f32) for a block of queries, a row softmax to bf16 P, O = P V straight into o. Used for
// head dims the fused kernels lack (the VAE's single 384/1024-wide head); at most 4M scores at once.

struct kc_mm_plan {
    int ta, tb;
    int64_t m, n, k, lda, ldb, ldd;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, d;
    cublasLtMatmulAlgo_t algo;
    struct kc_mm_plan * next;
};

static struct kc_mm_plan * g_mm_plans;

// D[m, n] (f32, column-major, ld ldd) = op(A)[m, k] op(B)[k, n], A and B bf16 column-major.
static struct kc_mm_plan * mm_plan(struct kc_state * s, int ta, int tb, int64_t m, int64_t n, int64_t k, int64_t lda,
                                   int64_t ldb, int64_t ldd)
{
    for (struct kc_mm_plan * p = g_mm_plans; p; p = p->next) {
        if (p->ta == ta && p->tb == tb && p->m == m && p->n == n && p->k == k && p->lda == lda && p->ldb == ldb &&
            p->ldd == ldd) {
            return p;
        }
    }
    struct kc_mm_plan * p = calloc(1, sizeof(*p));
    if (!p) {
        return NULL;
    }
    *p = (struct kc_mm_plan) { .ta = ta, .tb = tb, .m = m, .n = n, .k = k, .lda = lda, .ldb = ldb, .ldd = ldd };
    const cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t res;
    int n_res = 0;
    const size_t ws = s->lt_ws_size;
    if (cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F) != CUBLAS_STATUS_SUCCESS ||
        cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &oa, sizeof(oa)) ||
        cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &ob, sizeof(ob)) ||
        cublasLtMatrixLayoutCreate(&p->a, CUDA_R_16BF, (uint64_t) (ta ? k : m), (uint64_t) (ta ? m : k), lda) ||
        cublasLtMatrixLayoutCreate(&p->b, CUDA_R_16BF, (uint64_t) (tb ? n : k), (uint64_t) (tb ? k : n), ldb) ||
        cublasLtMatrixLayoutCreate(&p->d, CUDA_R_32F, (uint64_t) m, (uint64_t) n, ldd) ||
        cublasLtMatmulPreferenceCreate(&pref) ||
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)) ||
        cublasLtMatmulAlgoGetHeuristic(s->lt, p->op, p->a, p->b, p->d, p->d, pref, 1, &res, &n_res) || n_res < 1) {
        if (pref) {
            cublasLtMatmulPreferenceDestroy(pref);
        }
        free(p);
        return NULL;
    }
    cublasLtMatmulPreferenceDestroy(pref);
    p->algo = res.algo;
    p->next = g_mm_plans;
    g_mm_plans = p;
    return p;
}

static int mm_run(struct kc_state * s, const struct kc_mm_plan * p, const void * A, const void * B, float * D)
{
    const float one = 1.0f, zero = 0.0f;
    return cublasLtMatmul(s->lt, p->op, &one, A, p->a, B, p->b, &zero, D, p->d, D, p->d, &p->algo, s->lt_ws,
                          s->lt_ws_size, s->stream) == CUBLAS_STATUS_SUCCESS ? 0 : -1;
}

static int attention_gemm(struct kc_state * s, float * o, const uint16_t * qb, const uint16_t * kb, const uint16_t * vb,
                          int64_t Lq, int64_t Lk, int H, int hd, float scale)
{
    const int64_t ld = (int64_t) H * hd;
    int64_t bq = ((int64_t) 4 << 20) / Lk;
    bq = bq < 64 ? 64 : bq > Lq ? Lq : bq;
    float * sc = kc_alloc(s, (size_t) (bq * Lk) * 4);
    uint16_t * pb = kc_alloc(s, (size_t) (bq * Lk) * 2);
    int rc = sc && pb ? 0 : -1;
    for (int h = 0; h < H && rc == 0; h++) {
        for (int64_t q0 = 0; q0 < Lq && rc == 0; q0 += bq) {
            const int64_t nb = Lq - q0 < bq ? Lq - q0 : bq;
            struct kc_mm_plan * p1 = mm_plan(s, 1, 0, Lk, nb, hd, ld, ld, Lk);
            struct kc_mm_plan * p2 = mm_plan(s, 0, 0, hd, nb, Lk, ld, Lk, ld);
            rc = p1 && p2 && mm_run(s, p1, kb + h * hd, qb + q0 * ld + h * hd, sc) == 0 &&
                         kc_softmax_bf16(pb, sc, nb, Lk, scale, s->stream) == 0 &&
                         mm_run(s, p2, vb + h * hd, pb, o + q0 * ld + h * hd) == 0
                     ? 0
                     : -1;
        }
    }
    kc_free(s, sc);
    kc_free(s, pb);
    return rc;
}

// Auto mode: on the first call of a shape, time cuDNN's fused SDPA (when it has an engine) against
// the own flash kernel once and keep the faster (both write the same result).
struct kc_attn_choice {
    int64_t Lq, Lk;
    int H, hd, cudnn;
    struct kc_attn_choice * next;
};

static struct kc_attn_choice * g_attn_choices;

static int attn_choose(struct kc_state * s, uint16_t * ob, const uint16_t * qb, const uint16_t * kb,
                       const uint16_t * vb, int64_t Lq, int64_t Lk, int H, int hd, int64_t ld, float scale)
{
    for (struct kc_attn_choice * c = g_attn_choices; c; c = c->next) {
        if (c->Lq == Lq && c->Lk == Lk && c->H == H && c->hd == hd) {
            return c->cudnn;
        }
    }
    struct kc_attn_choice * c = calloc(1, sizeof(*c));
    if (!c) {
        return 1;
    }
    c->Lq = Lq, c->Lk = Lk, c->H = H, c->hd = hd;
    cudaEvent_t ev[4];
    for (int i = 0; i < 4; i++) {
        cudaEventCreate(&ev[i]);
    }
    float t_dnn = -1.0f, t_own = -1.0f;
    // warm run of each (plan build, module load), then one timed run of each
    if (kc_sdpa_run(s, ob, qb, kb, vb, Lq, Lk, H, hd, ld, scale) == 0) {
        cudaEventRecord(ev[0], s->stream);
        kc_sdpa_run(s, ob, qb, kb, vb, Lq, Lk, H, hd, ld, scale);
        cudaEventRecord(ev[1], s->stream);
        cudaEventSynchronize(ev[1]);
        cudaEventElapsedTime(&t_dnn, ev[0], ev[1]);
    }
    if (kc_flash_attention_bf16(ob, qb, kb, vb, Lq, Lk, H, hd, ld, scale, s->stream) == 0) {
        cudaEventRecord(ev[2], s->stream);
        kc_flash_attention_bf16(ob, qb, kb, vb, Lq, Lk, H, hd, ld, scale, s->stream);
        cudaEventRecord(ev[3], s->stream);
        cudaEventSynchronize(ev[3]);
        cudaEventElapsedTime(&t_own, ev[2], ev[3]);
    }
    for (int i = 0; i < 4; i++) {
        cudaEventDestroy(ev[i]);
    }
    c->cudnn = t_dnn >= 0.0f && (t_own < 0.0f || t_dnn <= t_own);
    ke_log(2, "cuda backend: attention H=%d Lq=%lld Lk=%lld hd=%d: cuDNN SDPA %.3f ms, own flash %.3f ms -> %s", H,
           (long long) Lq, (long long) Lk, hd, t_dnn, t_own, c->cudnn ? "cuDNN" : "own flash");
    c->next = g_attn_choices;
    g_attn_choices = c;
    return c->cudnn;
}

static void cu_attention(struct ke_backend * be, float * o, const float * q, const float * k, const float * v,
                         int64_t Lq, int64_t Lk, int n_heads, int head_dim, float scale, const float * bias)
{
    struct kc_state * s = kc_st(be);
    const int64_t ld = (int64_t) n_heads * head_dim;
    const size_t nq = (size_t) (Lq * ld), nk = (size_t) (Lk * ld);
    for (int i = 0; i < s->n_pend && s->attn != KC_ATTN_F32 && !bias; i++) {
        struct kc_pending * r = &s->pend[i];
        if (r->kind == KC_PEND_RMS && r->y == q && r->M == Lq && r->D == ld) {
            // the RMS norm of q writes only the attention's bf16 q
            struct kc_shadow * e = sh_claim(s, q, nq);
            PROF_BEGIN(s, KC_CLASS_OTHER);
            int rc = e ? kc_rms_rope(NULL, e->bf, r->x, Lq, ld, r->w, r->eps, head_dim, NULL, s->stream) : -1;
            PROF_END(s);
            if (rc == 0) {
                e->stale = 1;
                drop_pending(s, i);
            } else if (e) {
                e->src = NULL;
            }
            break;
        }
    }
    flush_pending(s);
    if (Lq <= 0) {
        return;
    }
    const bool tc_ok = !bias && (head_dim == 64 || head_dim == 128) && Lk > 0 && ld % 8 == 0;
    if (!bias && !tc_ok && s->attn != KC_ATTN_F32 && head_dim % 8 == 0 && Lk > 0 && scale > 0.0f) {
        // other head dims on the tensor cores through GEMMs
        PROF_BEGIN(s, KC_CLASS_OTHER);
        const uint16_t * qb = bf16_of(s, q, nq);
        const uint16_t * kb = qb ? bf16_of(s, k, nk) : NULL;
        const uint16_t * vb = kb ? bf16_of(s, v, nk) : NULL;
        kc_wrote(s, o, nq * 4);
        PROF_BEGIN(s, KC_CLASS_ATTN);
        int rc = vb && sh_find(s, q, nq) && sh_find(s, k, nk) ? attention_gemm(s, o, qb, kb, vb, Lq, Lk, n_heads,
                                                                                head_dim, scale)
                                                              : -1;
        PROF_END(s);
        if (rc == 0) {
            return;
        }
    }
    if (s->attn == KC_ATTN_F32 || !tc_ok) {
        kc_read(s, q, nq * 4);
        kc_read(s, k, nk * 4);
        kc_read(s, v, nk * 4);
        kc_read(s, bias, (size_t) n_heads * Lq * Lk * 4);
        kc_wrote(s, o, nq * 4);
        PROF_BEGIN(s, KC_CLASS_ATTN);
        KC(s, kc_attention_f32(o, q, k, v, Lq, Lk, n_heads, head_dim, scale, bias, s->stream));
        PROF_END(s);
        return;
    }
    PROF_BEGIN(s, KC_CLASS_OTHER);
    const uint16_t * qb = bf16_of(s, q, nq);
    const uint16_t * kb = qb ? bf16_of(s, k, nk) : NULL;
    const uint16_t * vb = kb ? bf16_of(s, v, nk) : NULL;
    // the result goes to a bf16 copy of o only (the next linear reads it); f32 o is made on demand
    kc_wrote(s, o, nq * 4);
    struct kc_shadow * e = vb ? sh_claim(s, o, nq) : NULL;
    if (!e || !sh_find(s, q, nq) || !sh_find(s, k, nk) || !sh_find(s, v, nk)) {
        // out of memory, or a copy was evicted: use plain buffers
        if (e) {
            e->src = NULL;
        }
        kc_fail(s, "attention", "out of device memory for bf16 q/k/v/o");
        return;
    }
    uint16_t * ob = e->bf;
    int use_cudnn = s->attn == KC_ATTN_CUDNN;
    if (s->attn == KC_ATTN_AUTO) {
        use_cudnn = attn_choose(s, ob, qb, kb, vb, Lq, Lk, n_heads, head_dim, ld, scale);
    }
    PROF_BEGIN(s, KC_CLASS_ATTN);
    int done = -1;
    if (use_cudnn) {
        done = kc_sdpa_run(s, ob, qb, kb, vb, Lq, Lk, n_heads, head_dim, ld, scale);
        if (done != 0) {
            ke_log(1, "cuda backend: cuDNN SDPA failed for Lq=%lld Lk=%lld; using the own flash kernel",
                   (long long) Lq, (long long) Lk);
        }
    }
    if (done != 0) {
        KC(s, kc_flash_attention_bf16(ob, qb, kb, vb, Lq, Lk, n_heads, head_dim, ld, scale, s->stream));
    }
    PROF_END(s);
    e->stale = 1;
}

// --- DiT layout --------------------------------------------------------------------------------

static void cu_patchify(struct ke_backend * be, float * out, const float * x, int C, int F, int H, int W, int ph,
                        int pw)
{
    const int64_t n = (int64_t) C * F * H * W;
    EW_OP(kc_patchify(out, x, C, F, H, W, ph, pw, s->stream), x, n * 4, NULL, 0, out, n * 4);
}

static void cu_unpatchify(struct ke_backend * be, float * out, const float * tok, int C, int F, int H, int W, int ph,
                          int pw)
{
    const int64_t n = (int64_t) C * F * H * W;
    EW_OP(kc_unpatchify(out, tok, C, F, H, W, ph, pw, s->stream), tok, n * 4, NULL, 0, out, n * 4);
}

// --- VAE ops -----------------------------------------------------------------------------------

static void cu_channel_l2norm(struct ke_backend * be, float * y, const float * x, int C, int64_t N, const float * gamma)
{
    // queued: a SiLU of y usually follows (one pass for both)
    struct kc_state * s = kc_st(be);
    flush_pending(s);
    kc_read(s, x, (size_t) (C * N) * 4);
    kc_read(s, gamma, (size_t) C * 4);
    kc_wrote(s, y, (size_t) (C * N) * 4);
    struct kc_pending * q = push_pending(s);
    q->kind = KC_PEND_L2;
    q->y = y;
    q->x = x;
    q->M = N;   // positions
    q->D = C;   // channels
    q->w = gamma;
}

static void cu_frame_copy(struct ke_backend * be, void * dst, int dst_bf16, int dst_T, int dst_t0, const void * src,
                              int src_bf16, int src_T, int src_t0, int n, int C, int64_t hw)
{
    EW_OP(kc_frame_copy(dst, dst_bf16, dst_T, dst_t0, src, src_bf16, src_T, src_t0, n, C, hw, s->stream), src,
          (int64_t) C * src_T * hw * 4, NULL, 0, dst, (int64_t) C * dst_T * hw * 4);
}

static void cu_upsample_nearest2x(struct ke_backend * be, float * y, const float * x, int64_t P, int H, int W)
{
    EW_OP(kc_upsample_nearest2x(y, x, P, H, W, s->stream), x, P * H * W * 4, NULL, 0, y, P * 4 * H * W * 4);
}

static void cu_pad2d(struct ke_backend * be, float * y, const float * x, int64_t P, int H, int W, int pt, int pb,
                         int pl, int pr)
{
    EW_OP(kc_pad2d(y, x, P, H, W, pt, pb, pl, pr, s->stream), x, P * H * W * 4, NULL, 0, y,
          P * (H + pt + pb) * (W + pl + pr) * 4);
}

static void cu_pixel_unshuffle(struct ke_backend * be, float * dst, const float * src, int C, int T, int H, int W, int p,
                            int inverse)
{
    const int64_t n = (int64_t) C * T * H * W;
    EW_OP(kc_pixel_unshuffle(dst, src, C, T, H, W, p, inverse, s->stream), src, n * 4, NULL, 0, dst, n * 4);
}

static void cu_avg_pool3d(struct ke_backend * be, float * y, const float * x, int c_in, int c_out, int T, int H,
                            int W, int ft, int fs, int pad_front)
{
    EW_OP(kc_avg_pool3d(y, x, c_in, c_out, T, H, W, ft, fs, pad_front, s->stream), x, (int64_t) c_in * T * H * W * 4,
          NULL, 0, y, (int64_t) c_out * ((T + pad_front) / ft) * (H / fs) * (W / fs) * 4);
}

static void cu_nearest_up3d(struct ke_backend * be, float * y, const float * x, int c_in, int c_out, int T, int H, int W,
                          int ft, int fs, int drop)
{
    EW_OP(kc_nearest_up3d(y, x, c_in, c_out, T, H, W, ft, fs, drop, s->stream), x, (int64_t) c_in * T * H * W * 4, NULL,
          0, y, (int64_t) c_out * (T * ft - drop) * H * fs * W * fs * 4);
}

static void cu_transpose2d(struct ke_backend * be, float * y, const float * x, int64_t R, int64_t C2)
{
    EW_OP(kc_transpose2d(y, x, R, C2, s->stream), x, R * C2 * 4, NULL, 0, y, R * C2 * 4);
}

// --- conv3d wrappers (cuda-conv.c) -------------------------------------------------------------

static void cu_conv3d(struct ke_backend * be, float * y, const float * x, const struct ke_conv3d * c, int T, int H,
                      int W, int pt0, int pt1, int ph, int pw, int st, int sh, int sw)
{
    struct kc_state * s = kc_st(be);
    flush_pending(s);
    const int To = (T + pt0 + pt1 - c->kt) / st + 1, Ho = (H + 2 * ph - c->kh) / sh + 1;
    const int Wo = (W + 2 * pw - c->kw) / sw + 1;
    kc_read(s, x, (size_t) ((int64_t) c->c_in * T * H * W) * 4);
    kc_wrote(s, y, (size_t) ((int64_t) c->c_out * To * Ho * Wo) * 4);
    PROF_BEGIN(s, KC_CLASS_GEMM);
    kc_conv3d(be, y, x, c, T, H, W, pt0, pt1, ph, pw, st, sh, sw);
    PROF_END(s);
}

// --- stats -------------------------------------------------------------------------------------

static void cu_stats(struct ke_backend * be, struct ke_backend_stats * st)
{
    struct kc_state * s = kc_st(be);
    flush_pending(s);
    cudaStreamSynchronize(s->stream);
    prof_collect(s);
    memset(st, 0, sizeof(*st));
    st->bytes_in_use = s->in_use;
    st->bytes_peak = s->peak;
    st->bytes_weights = s->weights;
    st->ms_gemm = s->ms[KC_CLASS_GEMM];
    st->ms_attention = s->ms[KC_CLASS_ATTN];
    st->ms_other = s->ms[KC_CLASS_OTHER];
    memset(s->ms, 0, sizeof(s->ms));
    // per-op times (profiling only) to the log, by the function that ran them
    for (int j = 0; j < KC_PROF_OPS && s->op_name[j]; j++) {
        ke_log(2, "cuda backend: profile %-20s %9.3f ms", s->op_name[j], s->op_ms[j]);
        s->op_name[j] = NULL;
        s->op_ms[j] = 0.0;
    }
    s->peak = s->in_use;
}

static void cu_profile(struct ke_backend * be, int on)
{
    struct kc_state * s = kc_st(be);
    flush_pending(s);
    cudaStreamSynchronize(s->stream);
    prof_collect(s);
    s->profiling = on;
    memset(s->ms, 0, sizeof(s->ms));
}

static const struct ke_backend_ops g_cuda_ops = {
    .name = "cuda",
    .alloc = cu_alloc,
    .free = cu_free,
    .upload = cu_upload,
    .download = cu_download,
    .copy = cu_copy,
    .memset0 = cu_memset0,
    .sync = cu_sync,
    .linear_prepare = cu_linear_prepare,
    .linear_release = cu_linear_release,
    .linear = cu_linear,
    .layer_norm = cu_layer_norm,
    .rms_norm = cu_rms_norm,
    .modulate = cu_modulate,
    .gated_add = cu_gated_add,
    .gelu_tanh = cu_gelu_tanh,
    .silu = cu_silu,
    .mul = cu_mul,
    .add = cu_add,
    .scale = cu_scale,
    .rope = cu_rope,
    .attention = cu_attention,
    .patchify = cu_patchify,
    .unpatchify = cu_unpatchify,
    .conv3d_prepare = kc_conv3d_prepare,
    .conv3d_release = kc_conv3d_release,
    .conv3d = cu_conv3d,
    .channel_l2norm = cu_channel_l2norm,
    .frame_copy = cu_frame_copy,
    .upsample_nearest2x = cu_upsample_nearest2x,
    .pad2d = cu_pad2d,
    .pixel_unshuffle = cu_pixel_unshuffle,
    .avg_pool3d = cu_avg_pool3d,
    .nearest_up3d = cu_nearest_up3d,
    .transpose2d = cu_transpose2d,
    .stats = cu_stats,
    .profile = cu_profile,
};

// --- creation ----------------------------------------------------------------------------------

static struct ke_backend g_cuda_be;
static struct kc_state g_cuda_state;
static pthread_mutex_t g_cuda_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_cuda_ready;

struct ke_backend * ke_backend_cuda(struct ke_error * err)
{
    pthread_mutex_lock(&g_cuda_mu);
    if (g_cuda_ready) {
        pthread_mutex_unlock(&g_cuda_mu);
        return &g_cuda_be;
    }
    struct kc_state * s = &g_cuda_state;
    memset(s, 0, sizeof(*s));
    int n_dev = 0;
    cudaError_t e = cudaGetDeviceCount(&n_dev);
    if (e != cudaSuccess || n_dev < 1) {
        pthread_mutex_unlock(&g_cuda_mu);
        ke_err(err, KE_STATUS_UNSUPPORTED, "backend 'cuda': no usable GPU (%s)",
               e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device found");
        cudaGetLastError();
        return NULL;
    }
    const char * dev_env = getenv("KINORA_CUDA_DEVICE");
    s->device = dev_env ? atoi(dev_env) : 0;
    if (s->device < 0 || s->device >= n_dev || cudaSetDevice(s->device) != cudaSuccess ||
        cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking) != cudaSuccess) {
        pthread_mutex_unlock(&g_cuda_mu);
        return ke_err(err, KE_STATUS_UNSUPPORTED, "backend 'cuda': cannot use device %d", s->device), NULL;
    }
    if (cublasLtCreate(&s->lt) != CUBLAS_STATUS_SUCCESS) {
        pthread_mutex_unlock(&g_cuda_mu);
        return ke_err(err, KE_STATUS_UNSUPPORTED, "backend 'cuda': cuBLASLt initialisation failed"), NULL;
    }
    cudnnStatus_t ds = cudnnCreate(&s->dnn);
    if (ds != CUDNN_STATUS_SUCCESS || cudnnSetStream(s->dnn, s->stream) != CUDNN_STATUS_SUCCESS) {
        pthread_mutex_unlock(&g_cuda_mu);
        return ke_err(err, KE_STATUS_UNSUPPORTED, "backend 'cuda': cuDNN initialisation failed (%s)",
                      cudnnGetErrorString(ds)), NULL;
    }
    s->lt_ws_size = LT_WORKSPACE;
    if (cudaMalloc(&s->lt_ws, s->lt_ws_size) != cudaSuccess) {
        pthread_mutex_unlock(&g_cuda_mu);
        return ke_err(err, KE_STATUS_NOMEM, "backend 'cuda': no device memory for the GEMM workspace"), NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    const char * a = getenv("KINORA_CUDA_ATTN");
    s->attn = !a ? KC_ATTN_AUTO
              : strcmp(a, "cudnn") == 0 ? KC_ATTN_CUDNN
              : strcmp(a, "flash") == 0 ? KC_ATTN_FLASH
              : strcmp(a, "f32") == 0   ? KC_ATTN_F32
                                        : KC_ATTN_AUTO;
    const char * nr = getenv("KINORA_CUDA_NO_RESID_FUSION");
    s->no_resid = nr && atoi(nr) != 0;
    const char * cv = getenv("KINORA_CUDA_CONV");
    s->conv_mode = !cv ? 0 : strcmp(cv, "bf16") == 0 ? 1 : strcmp(cv, "f32") == 0 ? 2 : 0;
    const char * prof = getenv("KINORA_CUDA_PROFILE");
    s->profiling = prof && atoi(prof) != 0;
    g_cuda_be.ops = &g_cuda_ops;
    g_cuda_be.precision = KE_PRECISION_BF16;
    g_cuda_be.impl = s;
    g_cuda_ready = 1;
    struct cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, s->device) == cudaSuccess) {
        ke_log(2, "cuda backend: %s, %d SMs, %.1f GiB, cuDNN %zu", prop.name, prop.multiProcessorCount,
               (double) prop.totalGlobalMem / (1 << 30), cudnnGetVersion());
    }
    pthread_mutex_unlock(&g_cuda_mu);
    return &g_cuda_be;
}

void ke_backend_cuda_set_attention(struct ke_backend * be, int impl)
{
    struct kc_state * s = kc_st(be);
    flush_pending(s);
    s->attn = (enum kc_attn_impl) impl;
    s->sdpa_broken = 0;
}

int ke_backend_cuda_failed(struct ke_backend * be)
{
    struct kc_state * s = kc_st(be);
    cu_sync(be);
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) {
        kc_fail(s, "a queued kernel", cudaGetErrorString(e));
    }
    return s->failed;
}
