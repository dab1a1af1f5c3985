// Kinora engine: CUDA backend linears through cuBLASLt (bf16 operands, fp32 accumulation, bias,
// GELU or residual add in the epilogue), row-wise ops and the residual add.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/cuda-backend.h"
#include "core/error.h"


// --- linear (cuBLASLt) -------------------------------------------------------------------------


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

struct kc_gemm_plan * kc_gemm_plan_find(struct kc_state * s, int64_t M, int64_t N, int64_t K, int bias, int kind)
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

int cu_linear_prepare(struct ke_backend * be, struct ke_linear * l)
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
        ke_log(0, "cuda backend: out of device memory for weight %s (%zu bytes)", w->name ? w->name : "?", n * 2);
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

void cu_linear_release(struct ke_backend * be, struct ke_linear * l)
{
    struct kc_state * s = kc_st(be);
    struct kc_linear * p = l->prepared;
    if (!p || l->owner != be) {
        return;
    }
    kc_flush_pending(s);
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
int kc_run_gemm_ex(struct kc_state * s, void * out, const uint16_t * xb, int64_t M, const struct ke_linear * l,
                       int kind, const float * gate, const float * bias, const uint16_t * w)
{
    const struct kc_linear * p = l->prepared;
    struct kc_gemm_plan * g = kc_gemm_plan_find(s, M, l->n_out, l->n_in, p->b != NULL, kind);
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

int kc_run_gemm(struct kc_state * s, void * out, const uint16_t * xb, int64_t M, const struct ke_linear * l,
                    int kind)
{
    return kc_run_gemm_ex(s, out, xb, M, l, kind, NULL, NULL, NULL);
}

void cu_linear(struct ke_backend * be, float * y, const float * x, int64_t M, const struct ke_linear * l)
{
    struct kc_state * s = kc_st(be);
    const struct kc_linear * p = l->prepared;
    if (!p || l->owner != be) {
        kc_flush_pending(s);
        kc_fail(s, "linear", "weight not prepared by this backend");
        return;
    }
    if (M <= 0) {
        kc_flush_pending(s);
        return;
    }
    const size_t nx = (size_t) (M * l->n_in);
    const uint16_t * xb = NULL;
    struct kc_pending * q = kc_pending_only(s, KC_PEND_LN, x);
    if (q && q->M == M && q->D == l->n_in) {
        // LayerNorm(+modulate) straight to the GEMM's bf16 input; the f32 result stays unwritten
        struct kc_shadow * e = kc_sh_claim(s, x, nx);
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
    kc_flush_pending(s);
    if (!xb) {
        PROF_BEGIN(s, KC_CLASS_OTHER);
        xb = kc_bf16_of(s, x, nx);
        PROF_END(s);
    }
    kc_wrote(s, y, (size_t) (M * l->n_out) * sizeof(float));
    if (!xb) {
        kc_fail_nomem(s, "the bf16 linear input", nx * 2);
        return;
    }
    struct kc_pending * d = kc_push_pending(s);
    d->kind = KC_PEND_LINEAR;
    d->y = y;
    d->x = x;
    d->M = M;
    d->l = l;
    d->xb = xb;
}

// --- row-wise ----------------------------------------------------------------------------------

void cu_layer_norm(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D, const float * w,
                          const float * b, float eps)
{
    struct kc_state * s = kc_st(be);
    kc_flush_pending(s);
    kc_read(s, x, (size_t) (M * D) * 4);
    kc_read(s, w, (size_t) D * 4);
    kc_read(s, b, (size_t) D * 4);
    kc_wrote(s, y, (size_t) (M * D) * sizeof(float));
    struct kc_pending * q = kc_push_pending(s);
    q->kind = KC_PEND_LN;
    q->y = y;
    q->x = x;
    q->M = M;
    q->D = D;
    q->w = w;
    q->b = b;
    q->eps = eps;
}

void cu_rms_norm(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D, const float * w,
                        float eps)
{
    struct kc_state * s = kc_st(be);
    // queue behind other RMS norms (q and k come in pairs) unless the ranges touch
    bool keep = true;
    for (int i = 0; i < s->n_pend; i++) {
        const struct kc_pending * q = &s->pend[i];
        keep = keep && q->kind == KC_PEND_RMS && !kc_overlaps(q->y, (size_t) (q->M * q->D) * 4, x, (size_t) (M * D) * 4) &&
               !kc_overlaps(q->y, (size_t) (q->M * q->D) * 4, y, (size_t) (M * D) * 4) &&
               !kc_overlaps(q->x, (size_t) (q->M * q->D) * 4, y, (size_t) (M * D) * 4);
    }
    if (!keep) {
        kc_flush_pending(s);
    }
    kc_read(s, x, (size_t) (M * D) * 4);
    kc_read(s, w, (size_t) D * 4);
    kc_wrote(s, y, (size_t) (M * D) * sizeof(float));
    struct kc_pending * q = kc_push_pending(s);
    q->kind = KC_PEND_RMS;
    q->y = y;
    q->x = x;
    q->M = M;
    q->D = D;
    q->w = w;
    q->eps = eps;
}

void cu_modulate(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D,
                        const float * shift, const float * scale, int64_t stride, const int32_t * sel)
{
    struct kc_state * s = kc_st(be);
    struct kc_pending * q = kc_pending_only(s, KC_PEND_LN, y);
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
    kc_flush_pending(s);
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
    struct kc_pending * q = kc_pending_only(s, KC_PEND_LINEAR, y);
    if (!q || s->no_resid || q->M != M || q->l->n_out != D || (gate && sel) || (gate && q->l->n_in % 8 != 0) ||
        kc_overlaps(x, (size_t) (M * D) * 4, y, (size_t) (M * D) * 4) ||
        kc_overlaps(x, (size_t) (M * D) * 4, q->x, (size_t) (M * q->l->n_in) * 4)) {
        return false;
    }
    const struct kc_linear * p = q->l->prepared;
    const int64_t K = q->l->n_in;
    if (!kc_gemm_plan_find(s, M, D, K, p->b != NULL, GEMM_RESID)) {
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
        kc_recipe_run(s);   // one recomputable output at a time
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
    const int rc = kc_run_gemm_ex(s, x, d.xb, M, d.l, GEMM_RESID, NULL, gb, gw);
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

void cu_gated_add(struct ke_backend * be, float * x, const float * y, int64_t M, int64_t D,
                         const float * gate, int64_t stride, const int32_t * sel)
{
    struct kc_state * s = kc_st(be);
    if (fuse_residual(s, x, y, M, D, gate, sel)) {
        return;
    }
    kc_flush_pending(s);
    kc_read(s, x, (size_t) (M * D) * 4);
    kc_read(s, y, (size_t) (M * D) * 4);
    kc_read(s, gate, 4);
    kc_read(s, sel, (size_t) M * 4);
    kc_wrote(s, x, (size_t) (M * D) * sizeof(float));
    PROF_BEGIN(s, KC_CLASS_OTHER);
    KC(s, kc_gated_add(x, y, M, D, gate, stride, sel, s->stream));
    PROF_END(s);
}
