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

static void prof_mark(struct kc_state * s, int cls)
{
    if (!s->profiling) {
        return;
    }
    if (s->n_ev + 1 >= s->cap_ev) {
        int cap = s->cap_ev ? s->cap_ev * 2 : 1024;
        cudaEvent_t * ev = realloc(s->ev, sizeof(cudaEvent_t) * (size_t) cap);
        int * cl = realloc(s->ev_class, sizeof(int) * (size_t) cap);
        if (!ev || !cl) {
            if (ev) {
                s->ev = ev;
            }
            if (cl) {
                s->ev_class = cl;
            }
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
        }
    }
    s->n_ev = 0;
}

// Each op marks its start with its class and its end as an idle gap (-1: host time between ops).
#define PROF_BEGIN(s, cls) prof_mark((s), (cls))
#define PROF_END(s) prof_mark((s), -1)

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
            kc_wrote(s, p, b->size);
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
}

void kc_wrote(struct kc_state * s, const void * p, size_t n)
{
    if (!s->shadow_src) {
        return;
    }
    const char * a = (const char *) s->shadow_src, * b = a + s->shadow_n * sizeof(float);
    const char * c = (const char *) p, * d = c + n;
    if (c < b && a < d) {
        s->shadow_src = NULL;
    }
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
    CU(s, cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, s->stream));
    CU(s, cudaStreamSynchronize(s->stream));
}

static void cu_copy(struct ke_backend * be, void * dst, const void * src, size_t n)
{
    struct kc_state * s = kc_st(be);
    flush_pending(s);
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
    uint16_t * w;   // [N, K] bf16
    float * b;      // [N] or NULL
    size_t bytes;
};

struct kc_gemm_plan {
    int64_t M, N, K;
    int bias;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t algo;
    struct kc_gemm_plan * next;
};

static struct kc_gemm_plan * gemm_plan(struct kc_state * s, int64_t M, int64_t N, int64_t K, int bias)
{
    for (struct kc_gemm_plan * p = s->gemm_plans; p; p = p->next) {
        if (p->M == M && p->N == N && p->K == K && p->bias == bias) {
            return p;
        }
    }
    struct kc_gemm_plan * p = calloc(1, sizeof(*p));
    if (!p) {
        return NULL;
    }
    p->M = M;
    p->N = N;
    p->K = K;
    p->bias = bias;
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    const cudaDataType_t bias_type = CUDA_R_32F;
    const cublasLtEpilogue_t epi = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
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
        cublasLtMatrixLayoutCreate(&p->a, CUDA_R_16BF, (uint64_t) K, (uint64_t) N, K) ||
        cublasLtMatrixLayoutCreate(&p->b, CUDA_R_16BF, (uint64_t) K, (uint64_t) M, K) ||
        cublasLtMatrixLayoutCreate(&p->c, CUDA_R_32F, (uint64_t) N, (uint64_t) M, N) ||
        cublasLtMatmulPreferenceCreate(&pref) ||
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)) ||
        cublasLtMatmulAlgoGetHeuristic(s->lt, p->op, p->a, p->b, p->c, p->c, pref, 1, &res, &n_res) ||
        n_res < 1) {
        char msg[128];
        snprintf(msg, sizeof(msg), "no cuBLASLt algorithm for M=%lld N=%lld K=%lld", (long long) M, (long long) N,
                 (long long) K);
        kc_fail(s, "cublasLt heuristic", msg);
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
    p->bytes = n * 2 + (l->b ? (size_t) N * 4 : 0);
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
            cudaMemcpy(p->b, hb, (size_t) N * 4, cudaMemcpyHostToDevice) != cudaSuccess) {
            rc = -1;
        }
        free(hb);
    }
    if (rc != 0) {
        cudaGetLastError();
        cudaFree(p->w);
        cudaFree(p->b);
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
    cudaStreamSynchronize(s->stream);
    cudaFree(p->w);
    cudaFree(p->b);
    s->weights -= p->bytes;
    s->in_use -= p->bytes;
    free(p);
    l->prepared = NULL;
}

// The shadow buffer with room for n bf16 values (its old contents invalidated); NULL when out of memory.
static uint16_t * shadow_reserve(struct kc_state * s, size_t n)
{
    s->shadow_src = NULL;
    if (s->shadow_cap < n) {
        kc_free(s, s->shadow);
        s->shadow = kc_alloc(s, n * 2);
        s->shadow_cap = s->shadow ? n : 0;
    }
    return s->shadow;
}

// bf16 copy of an f32 activation [n] (cached until something writes the source).
static const uint16_t * bf16_of(struct kc_state * s, const float * x, size_t n)
{
    if (s->shadow_src == x && s->shadow_n == n) {
        return s->shadow;
    }
    if (!shadow_reserve(s, n)) {
        return NULL;
    }
    KC(s, kc_f32_to_bf16(s->shadow, x, (int64_t) n, s->stream));
    s->shadow_src = x;
    s->shadow_n = n;
    return s->shadow;
}

static void cu_linear(struct ke_backend * be, float * y, const float * x, int64_t M, const struct ke_linear * l)
{
    struct kc_state * s = kc_st(be);
    flush_pending(s);
    const struct kc_linear * p = l->prepared;
    if (!p || l->owner != be) {
        kc_fail(s, "linear", "weight not prepared by this backend");
        return;
    }
    if (M <= 0) {
        return;
    }
    PROF_BEGIN(s, KC_CLASS_OTHER);
    const uint16_t * xb = bf16_of(s, x, (size_t) (M * l->n_in));
    kc_wrote(s, y, (size_t) (M * l->n_out) * sizeof(float));
    if (!xb) {
        kc_fail(s, "linear", "out of device memory for the bf16 input");
        return;
    }
    struct kc_gemm_plan * g = gemm_plan(s, M, l->n_out, l->n_in, p->b != NULL);
    if (!g) {
        return;
    }
    if (p->b) {
        cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &p->b, sizeof(p->b));
    }
    const float one = 1.0f, zero = 0.0f;
    PROF_BEGIN(s, KC_CLASS_GEMM);
    cublasStatus_t st = cublasLtMatmul(s->lt, g->op, &one, p->w, g->a, xb, g->b, &zero, y, g->c, y, g->c, &g->algo,
                                       s->lt_ws, s->lt_ws_size, s->stream);
    PROF_END(s);
    if (st != CUBLAS_STATUS_SUCCESS) {
        char msg[96];
        snprintf(msg, sizeof(msg), "status %d at M=%lld N=%lld K=%lld", (int) st, (long long) M,
                 (long long) l->n_out, (long long) l->n_in);
        kc_fail(s, "cublasLtMatmul", msg);
    }
}

// --- row-wise ----------------------------------------------------------------------------------

static void run_layer_norm(struct kc_state * s, float * y, const float * x, int64_t M, int64_t D, const float * w,
                           const float * b, float eps)
{
    kc_wrote(s, y, (size_t) (M * D) * sizeof(float));
    PROF_BEGIN(s, KC_CLASS_OTHER);
    KC(s, kc_layer_norm(y, x, M, D, w, b, eps, s->stream));
    PROF_END(s);
}

static void flush_pending(struct kc_state * s)
{
    if (s->ln_pending) {
        s->ln_pending = false;
        run_layer_norm(s, s->ln_y, s->ln_x, s->ln_M, s->ln_D, NULL, NULL, s->ln_eps);
    }
}

static void cu_layer_norm(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D, const float * w,
                          const float * b, float eps)
{
    struct kc_state * s = kc_st(be);
    flush_pending(s);
    if (!w && !b && D % 4 == 0) {
        // wait: a modulate of y in place may follow (then both run as one pass)
        s->ln_pending = true;
        s->ln_y = y;
        s->ln_x = x;
        s->ln_M = M;
        s->ln_D = D;
        s->ln_eps = eps;
        kc_wrote(s, y, (size_t) (M * D) * sizeof(float));
        return;
    }
    run_layer_norm(s, y, x, M, D, w, b, eps);
}

static void cu_rms_norm(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D, const float * w,
                        float eps)
{
    struct kc_state * s = kc_st(be);
    flush_pending(s);
    kc_wrote(s, y, (size_t) (M * D) * sizeof(float));
    PROF_BEGIN(s, KC_CLASS_OTHER);
    KC(s, kc_rms_norm(y, x, M, D, w, eps, s->stream));
    PROF_END(s);
}

static void cu_modulate(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D,
                        const float * shift, const float * scale, int64_t stride, const int32_t * sel)
{
    struct kc_state * s = kc_st(be);
    if (s->ln_pending && y == x && x == s->ln_y && M == s->ln_M && D == s->ln_D) {
        s->ln_pending = false;
        const size_t n = (size_t) (M * D);
        // write the f32 result and its bf16 copy for the linears that read it next
        uint16_t * sh = shadow_reserve(s, n);
        PROF_BEGIN(s, KC_CLASS_OTHER);
        int rc = kc_norm_modulate(y, sh, s->ln_x, M, D, s->ln_eps, shift, scale, stride, sel, s->stream);
        PROF_END(s);
        if (rc == 0) {
            if (sh) {
                s->shadow_src = y;
                s->shadow_n = n;
            }
            return;
        }
        run_layer_norm(s, y, s->ln_x, M, D, NULL, NULL, s->ln_eps);
    }
    flush_pending(s);
    kc_wrote(s, y, (size_t) (M * D) * sizeof(float));
    PROF_BEGIN(s, KC_CLASS_OTHER);
    KC(s, kc_modulate(y, x, M, D, shift, scale, stride, sel, s->stream));
    PROF_END(s);
}

static void cu_gated_add(struct ke_backend * be, float * x, const float * y, int64_t M, int64_t D,
                         const float * gate, int64_t stride, const int32_t * sel)
{
    struct kc_state * s = kc_st(be);
    flush_pending(s);
    kc_wrote(s, x, (size_t) (M * D) * sizeof(float));
    PROF_BEGIN(s, KC_CLASS_OTHER);
    KC(s, kc_gated_add(x, y, M, D, gate, stride, sel, s->stream));
    PROF_END(s);
}

// --- element-wise ------------------------------------------------------------------------------

#define EW_OP(name, call, out, n)                   \
    do {                                            \
        struct kc_state * s = kc_st(be);            \
        flush_pending(s);                           \
        kc_wrote(s, (out), (size_t) (n) * 4);       \
        PROF_BEGIN(s, KC_CLASS_OTHER);              \
        KC(s, call);                                \
        PROF_END(s);                                \
    } while (0)

static void cu_gelu_tanh(struct ke_backend * be, float * x, int64_t n)
{
    EW_OP(gelu, kc_gelu_tanh(x, n, s->stream), x, n);
}

static void cu_silu(struct ke_backend * be, float * x, int64_t n)
{
    EW_OP(silu, kc_silu(x, n, s->stream), x, n);
}

static void cu_mul(struct ke_backend * be, float * y, const float * a, const float * b, int64_t n)
{
    EW_OP(mul, kc_mul(y, a, b, n, s->stream), y, n);
}

static void cu_add(struct ke_backend * be, float * y, const float * a, const float * b, int64_t n)
{
    EW_OP(add, kc_add(y, a, b, n, s->stream), y, n);
}

static void cu_scale(struct ke_backend * be, float * y, const float * x, float a, int64_t n)
{
    EW_OP(scale, kc_scale(y, x, a, n, s->stream), y, n);
}

// --- attention ---------------------------------------------------------------------------------

static void cu_rope(struct ke_backend * be, float * x, int64_t L, int n_heads, int head_dim, const float * cs)
{
    EW_OP(rope, kc_rope(x, L, n_heads, head_dim, cs, s->stream), x, L * n_heads * head_dim);
}

static void cu_attention(struct ke_backend * be, float * o, const float * q, const float * k, const float * v,
                         int64_t Lq, int64_t Lk, int n_heads, int head_dim, float scale, const float * bias)
{
    struct kc_state * s = kc_st(be);
    flush_pending(s);
    const int64_t ld = (int64_t) n_heads * head_dim;
    kc_wrote(s, o, (size_t) (Lq * ld) * sizeof(float));
    if (Lq <= 0) {
        return;
    }
    const bool tc_ok = !bias && (head_dim == 64 || head_dim == 128) && Lk > 0;
    if (s->attn == KC_ATTN_F32 || !tc_ok) {
        PROF_BEGIN(s, KC_CLASS_ATTN);
        KC(s, kc_attention_f32(o, q, k, v, Lq, Lk, n_heads, head_dim, scale, bias, s->stream));
        PROF_END(s);
        return;
    }
    uint16_t * buf = kc_alloc(s, (size_t) ((2 * Lq + 2 * Lk) * ld) * 2);
    if (!buf) {
        kc_fail(s, "attention", "out of device memory for bf16 q/k/v");
        return;
    }
    uint16_t * qb = buf, * ob = qb + Lq * ld, * kb = ob + Lq * ld, * vb = kb + Lk * ld;
    PROF_BEGIN(s, KC_CLASS_OTHER);
    KC(s, kc_f32_to_bf16(qb, q, Lq * ld, s->stream));
    KC(s, kc_f32_to_bf16(kb, k, Lk * ld, s->stream));
    KC(s, kc_f32_to_bf16(vb, v, Lk * ld, s->stream));
    PROF_BEGIN(s, KC_CLASS_ATTN);
    int done = -1;
    if ((s->attn == KC_ATTN_AUTO || s->attn == KC_ATTN_CUDNN) && !s->sdpa_broken) {
        done = kc_sdpa_run(s, ob, qb, kb, vb, Lq, Lk, n_heads, head_dim, ld, scale);
        if (done != 0 && s->attn == KC_ATTN_AUTO) {
            s->sdpa_broken = 1;
            ke_log(1, "cuda backend: cuDNN SDPA unavailable for this shape; using the own flash kernel");
        }
    }
    if (done != 0) {
        KC(s, kc_flash_attention_bf16(ob, qb, kb, vb, Lq, Lk, n_heads, head_dim, ld, scale, s->stream));
    }
    PROF_BEGIN(s, KC_CLASS_OTHER);
    KC(s, kc_bf16_to_f32(o, ob, Lq * ld, s->stream));
    PROF_END(s);
    kc_free(s, buf);
}

// --- DiT layout --------------------------------------------------------------------------------

static void cu_patchify(struct ke_backend * be, float * out, const float * x, int C, int F, int H, int W, int ph,
                        int pw)
{
    EW_OP(patchify, kc_patchify(out, x, C, F, H, W, ph, pw, s->stream), out,
          (int64_t) F * (H / ph) * (W / pw) * C * ph * pw);
}

static void cu_unpatchify(struct ke_backend * be, float * out, const float * tok, int C, int F, int H, int W, int ph,
                          int pw)
{
    EW_OP(unpatchify, kc_unpatchify(out, tok, C, F, H, W, ph, pw, s->stream), out, (int64_t) C * F * H * W);
}

// --- VAE ops -----------------------------------------------------------------------------------

static void cu_vae_l2norm(struct ke_backend * be, float * y, const float * x, int C, int64_t N, const float * gamma)
{
    EW_OP(l2norm, kc_vae_l2norm(y, x, C, N, gamma, s->stream), y, (int64_t) C * N);
}

static void cu_vae_frame_copy(struct ke_backend * be, void * dst, int dst_bf16, int dst_T, int dst_t0, const void * src,
                              int src_bf16, int src_T, int src_t0, int n, int C, int64_t hw)
{
    struct kc_state * s = kc_st(be);
    flush_pending(s);
    kc_wrote(s, dst, (size_t) ((int64_t) C * dst_T * hw) * 4);
    PROF_BEGIN(s, KC_CLASS_OTHER);
    KC(s, kc_vae_frame_copy(dst, dst_bf16, dst_T, dst_t0, src, src_bf16, src_T, src_t0, n, C, hw, s->stream));
    PROF_END(s);
}

static void cu_vae_upsample2x(struct ke_backend * be, float * y, const float * x, int64_t P, int H, int W)
{
    EW_OP(up2, kc_vae_upsample2x(y, x, P, H, W, s->stream), y, P * 4 * H * W);
}

static void cu_vae_pad2d(struct ke_backend * be, float * y, const float * x, int64_t P, int H, int W, int pt, int pb,
                         int pl, int pr)
{
    EW_OP(pad2d, kc_vae_pad2d(y, x, P, H, W, pt, pb, pl, pr, s->stream), y, P * (H + pt + pb) * (W + pl + pr));
}

static void cu_vae_patchify(struct ke_backend * be, float * dst, const float * src, int C, int T, int H, int W, int p,
                            int inverse)
{
    EW_OP(vpatch, kc_vae_patchify(dst, src, C, T, H, W, p, inverse, s->stream), dst, (int64_t) C * T * H * W);
}

static void cu_vae_avg_down(struct ke_backend * be, float * y, const float * x, int c_in, int c_out, int T, int H,
                            int W, int ft, int fs, int pad_front)
{
    EW_OP(avgdown, kc_vae_avg_down(y, x, c_in, c_out, T, H, W, ft, fs, pad_front, s->stream), y,
          (int64_t) c_out * ((T + pad_front) / ft) * (H / fs) * (W / fs));
}

static void cu_vae_dup_up(struct ke_backend * be, float * y, const float * x, int c_in, int c_out, int T, int H, int W,
                          int ft, int fs, int drop)
{
    EW_OP(dupup, kc_vae_dup_up(y, x, c_in, c_out, T, H, W, ft, fs, drop, s->stream), y,
          (int64_t) c_out * (T * ft - drop) * H * fs * W * fs);
}

static void cu_vae_transpose(struct ke_backend * be, float * y, const float * x, int64_t R, int64_t C2)
{
    EW_OP(transpose, kc_vae_transpose(y, x, R, C2, s->stream), y, R * C2);
}

// --- conv3d wrappers (cuda-conv.c) -------------------------------------------------------------

static void cu_conv3d(struct ke_backend * be, float * y, const float * x, const struct ke_conv3d * c, int T, int H,
                      int W, int pt0, int pt1, int ph, int pw, int st, int sh, int sw)
{
    struct kc_state * s = kc_st(be);
    flush_pending(s);
    const int To = (T + pt0 + pt1 - c->kt) / st + 1, Ho = (H + 2 * ph - c->kh) / sh + 1;
    const int Wo = (W + 2 * pw - c->kw) / sw + 1;
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
    .vae_l2norm = cu_vae_l2norm,
    .vae_frame_copy = cu_vae_frame_copy,
    .vae_upsample2x = cu_vae_upsample2x,
    .vae_pad2d = cu_vae_pad2d,
    .vae_patchify = cu_vae_patchify,
    .vae_avg_down = cu_vae_avg_down,
    .vae_dup_up = cu_vae_dup_up,
    .vae_transpose = cu_vae_transpose,
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
