// Kinora engine: CUDA backend linears through cuBLASLt (bf16 operands, fp32 accumulation, bias,
// GELU or residual add in the epilogue; e4m3 operands with per-tensor scales under the fp8 precision),
// row-wise ops and the residual add.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/cuda-backend.h"
#include "core/error.h"


// --- linear (cuBLASLt) -------------------------------------------------------------------------


struct kc_gemm_plan {
    int64_t M, N, K;
    int bias, kind, bias_bf16;
    int fp8;    // e4m3 operands (A the weight, B the activation), their descales in a device alpha
    int none;   // fp8 only: the heuristic offered no algorithm (kept so it is asked once per shape)
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t algo;
    cublasLtMatmulAlgo_t more[7];   // fp8 only: the heuristic's further algorithms, tried in turn when the
    int n_more;                     // matmul refuses the current one (CUBLAS_STATUS_NOT_SUPPORTED)
    struct kc_gemm_plan * next;
};

// fp8 plans (cuBLASLt's rules for e4m3 matmuls, which these descriptors follow): A and B e4m3 with A
// transposed and B not ("TN", our only layout anyway), K-byte leading dimensions 16-byte aligned (K a
// multiple of 16, checked at prepare), CUBLAS_COMPUTE_32F with f32 scale type; C = D in f32 (GEMM_F32,
// GEMM_RESID with beta 1) or in bf16 (GEMM_BF16_GELU), the bias in bf16 for either output type (the
// documented bias type of e4m3 GEMMs; an f32 bias is tried second). The per-tensor descales go in as
// alpha = sa * sb (D = alpha * A B + beta C + bias, then the epilogue), alpha and beta read through
// device pointers: with A_SCALE_POINTER / B_SCALE_POINTER set, cuBLAS 13 on the H100 offered algorithms
// at every shape and then refused every one of them in cublasLtMatmul (CUBLAS_STATUS_NOT_SUPPORTED;
// tests/cuda/fp8-gemm-probe.c), while the same matmuls without them ran. CUBLASLT_MATMUL_DESC_FAST_ACCUM
// stays off: the accumulation is promoted to f32 registers. Whatever the heuristic refuses runs the bf16
// path (kc_run_gemm_ex).
static struct kc_gemm_plan * gemm_plan_try(struct kc_state * s, int64_t M, int64_t N, int64_t K, int bias, int kind,
                                           int bias_bf16, int fp8)
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
    p->fp8 = fp8;
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    const cudaDataType_t ab_type = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
    const cudaDataType_t bias_type = bias_bf16 ? CUDA_R_16BF : CUDA_R_32F;
    const cudaDataType_t out_type = kind == GEMM_BF16_GELU || kind == GEMM_BF16 ? CUDA_R_16BF : CUDA_R_32F;
    const cublasLtPointerMode_t pm = CUBLASLT_POINTER_MODE_ALPHA_DEVICE_VECTOR_BETA_HOST;
    const cublasLtPointerMode_t pm_dev = CUBLASLT_POINTER_MODE_DEVICE;
    cublasLtEpilogue_t epi = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    if (kind == GEMM_BF16_GELU) {
        epi = bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU;
    }
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t res[8];
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
        (fp8 && cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_POINTER_MODE, &pm_dev, sizeof(pm_dev))) ||
        cublasLtMatrixLayoutCreate(&p->a, ab_type, (uint64_t) K, (uint64_t) N, K) ||
        cublasLtMatrixLayoutCreate(&p->b, ab_type, (uint64_t) K, (uint64_t) M, K) ||
        cublasLtMatrixLayoutCreate(&p->c, out_type, (uint64_t) N, (uint64_t) M, N) ||
        cublasLtMatmulPreferenceCreate(&pref) ||
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)) ||
        cublasLtMatmulAlgoGetHeuristic(s->lt, p->op, p->a, p->b, p->c, p->c, pref, fp8 ? 8 : 1, res, &n_res) ||
        n_res < 1) {
        if (pref) {
            cublasLtMatmulPreferenceDestroy(pref);
        }
        if (p->a) {
            cublasLtMatrixLayoutDestroy(p->a);
        }
        if (p->b) {
            cublasLtMatrixLayoutDestroy(p->b);
        }
        if (p->c) {
            cublasLtMatrixLayoutDestroy(p->c);
        }
        if (p->op) {
            cublasLtMatmulDescDestroy(p->op);
        }
        free(p);
        return NULL;
    }
    cublasLtMatmulPreferenceDestroy(pref);
    p->algo = res[0].algo;
    for (int i = 1; i < n_res && i <= 7; i++) {
        p->more[p->n_more++] = res[i].algo;
    }
    p->next = s->gemm_plans;
    s->gemm_plans = p;
    return p;
}

struct kc_gemm_plan * kc_gemm_plan_find(struct kc_state * s, int64_t M, int64_t N, int64_t K, int bias, int kind)
{
    for (struct kc_gemm_plan * p = s->gemm_plans; p; p = p->next) {
        if (p->M == M && p->N == N && p->K == K && p->bias == bias && p->kind == kind && !p->fp8) {
            return p;
        }
    }
    struct kc_gemm_plan * p = gemm_plan_try(s, M, N, K, bias, kind, 0, 0);
    if (!p && bias && kind == GEMM_BF16_GELU) {
        p = gemm_plan_try(s, M, N, K, bias, kind, 1, 0);   // some bf16-output epilogues take a bf16 bias only
    }
    return p;
}

// A shape and kind without an fp8 GEMM (logged once: the plan remembers it). tests/cuda/test-cuda-fp8.c
// reads this line: keep its format.
static void log_no_fp8(int64_t M, int64_t N, int64_t K, int bias, int kind, const char * why)
{
    ke_log(2, "cuda backend: no cuBLASLt fp8 algorithm for M=%lld N=%lld K=%lld bias=%d kind=%s: a fallback runs%s",
           (long long) M, (long long) N, (long long) K, bias,
           kind == GEMM_F32 ? "f32" : kind == GEMM_BF16_GELU ? "gelu" : kind == GEMM_BF16 ? "bf16" : "resid", why);
}

// The fp8 plan of a shape and kind, or NULL when cuBLASLt has none (asked once per shape and kind).
static struct kc_gemm_plan * gemm_plan_fp8(struct kc_state * s, int64_t M, int64_t N, int64_t K, int bias, int kind)
{
    for (struct kc_gemm_plan * p = s->gemm_plans; p; p = p->next) {
        if (p->M == M && p->N == N && p->K == K && p->bias == bias && p->kind == kind && p->fp8) {
            return p->none ? NULL : p;
        }
    }
    struct kc_gemm_plan * p = gemm_plan_try(s, M, N, K, bias, kind, 1, 1);
    if (!p && bias) {
        p = gemm_plan_try(s, M, N, K, bias, kind, 0, 1);
    }
    if (!p) {
        // remember the refusal
        struct kc_gemm_plan * n = calloc(1, sizeof(*n));
        if (n) {
            *n = (struct kc_gemm_plan) { .M = M, .N = N, .K = K, .bias = bias, .kind = kind, .fp8 = 1, .none = 1,
                                         .next = s->gemm_plans };
            s->gemm_plans = n;
        }
        log_no_fp8(M, N, K, bias, kind, "");
    }
    return p;
}

// Upload the stored weight as the resident device copy (bf16, or fp8 / a block type as stored). 0 ok.
static int upload_weight(struct kc_state * s, struct kc_linear * p, const struct ke_tensor * w)
{
    const size_t n = (size_t) p->n_el;
    if (w->type == KE_DTYPE_BF16 || p->wtype != KC_W_BF16) {
        return kc_upload(s, p->w, w->data, p->wbytes);
    }
    // stage f32 (converted on the host for other dtypes) in chunks, convert on the device
    const size_t chunk = (size_t) 1 << 22;
    const size_t m0 = n < chunk ? n : chunk;
    int rc = 0;
    float * dtmp = kc_alloc(s, m0 * sizeof(float));
    float * htmp = w->type == KE_DTYPE_F32 ? NULL : malloc(m0 * sizeof(float));
    if (!dtmp || (w->type != KE_DTYPE_F32 && !htmp)) {
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
        const cudaStream_t st = kc_prep_stream(s);
        if (cudaMemcpyAsync(dtmp, src, m * sizeof(float), cudaMemcpyHostToDevice, st) != cudaSuccess ||
            kc_f32_to_bf16((uint16_t *) p->w + off, dtmp, (int64_t) m, st) != 0 ||
            cudaStreamSynchronize(st) != cudaSuccess) {
            rc = -1;
        }
    }
    free(htmp);
    kc_free(s, dtmp);
    return rc;
}

// A linear's weight is kept resident on the device while the resident weights stay within the weight
// cap and the whole within the budget; past that it stays in pinned host memory and streams per use
// (cuda-stream.c). fp8 e4m3 and block-quantized weights keep their stored form either way
// (dequantized per GEMM, cuda-quant.c). Under the fp8 precision a float or e4m3 weight becomes an e4m3
// weight with a device descale for the fp8 GEMMs instead (cuda-fp8-gemm.c), resident or streamed.
static int linear_prepare(struct kc_state * s, struct ke_backend * be, struct ke_linear * l);

int cu_linear_prepare(struct ke_backend * be, struct ke_linear * l)
{
    struct kc_state * s = kc_st(be);
    const double t0 = kc_now();
    const int rc = linear_prepare(s, be, l);
    s->prep_s += kc_now() - t0;
    s->prep_n++;
    s->prep_bytes += rc == 0 ? ((struct kc_linear *) l->prepared)->wbytes : 0;
    if (s->prep_bytes >= s->prep_logged + ((size_t) 4 << 30)) {
        s->prep_logged = s->prep_bytes;
        ke_log(2, "cuda backend: %d linears prepared, %.2f GiB in %.2f s; kc_upload %.2f GiB in %.2f s (%.1f GB/s)",
               s->prep_n, (double) s->prep_bytes / 1073741824.0, s->prep_s,
               (double) s->prep_upload_bytes / 1073741824.0, s->prep_upload_s,
               s->prep_upload_s > 0 ? (double) s->prep_upload_bytes / s->prep_upload_s * 1e-9 : 0.0);
    }
    return rc;
}

static int linear_prepare(struct kc_state * s, struct ke_backend * be, struct ke_linear * l)
{
    const struct ke_tensor * w = l->w;
    const int64_t N = l->n_out, K = l->n_in;
    const char * name = w && w->name ? w->name : "?";
    if (!w || N <= 0 || K <= 0 || ke_tensor_nelements(w) != N * K) {
        ke_log(0, "cuda backend: linear weight %s does not hold [%lld, %lld]", name, (long long) N, (long long) K);
        return -1;
    }
    struct kc_linear * p = calloc(1, sizeof(*p));
    if (!p) {
        return -1;
    }
    const size_t n = (size_t) (N * K);
    p->n_el = (int64_t) n;
    p->slot = -1;
    p->name = w->name;
    if (kc_linear_form(s, p, w, N, K) != 0) {
        free(p);
        return -1;   // recorded
    }
    const int fp8 = kc_fp8_form(s, p, w, N, K);
    // always resident: the biases (f32 and bf16) and an fp8 weight's scales (sc[3], 16 bytes)
    const size_t bias_bytes = (l->b ? (size_t) N * 6 : 0) + (fp8 ? 4 * sizeof(float) : 0);
    const bool resident = s->cap_used + p->wbytes <= s->weight_cap && kc_budget_fit(s, p->wbytes + bias_bytes) == 0;
    if (!resident && kc_budget_fit(s, bias_bytes) != 0) {
        free(p);
        kc_fail_nomem(s, name, bias_bytes);
        return -1;
    }
    int rc = 0;
    if (resident) {
        if (cudaMalloc(&p->w, p->wbytes) != cudaSuccess) {
            cudaGetLastError();
            kc_fail_nomem(s, name, p->wbytes);
            free(p);
            return -1;
        }
        rc = fp8 ? kc_fp8_weight_make(s, p, w, N, K, true) : upload_weight(s, p, w);
    } else if (fp8 ? kc_fp8_weight_make(s, p, w, N, K, false) != 0 : kc_linear_stage(s, p, w) != 0) {
        const size_t wbytes = p->wbytes;
        cudaGetLastError();
        kc_linear_unstage(s, p);
        cudaFree(p->sc);
        free(p);
        ke_be_fail(be, KE_STATUS_NOMEM, "out of pinned host memory%s for the streamed weight %s (%.1f MiB)",
                   fp8 ? " (or device scratch for its e4m3 form)" : "", name, (double) wbytes / 1048576.0);
        return -1;
    }
    p->bytes = (resident ? p->wbytes : 0) + bias_bytes;
    if (rc == 0 && l->b) {
        float * hb = ke_tensor_to_f32_alloc(l->b);
        if (!hb || ke_tensor_nelements(l->b) != N || cudaMalloc((void **) &p->b, (size_t) N * 4) != cudaSuccess ||
            cudaMalloc((void **) &p->bb, (size_t) N * 2) != cudaSuccess ||
            cudaMemcpyAsync(p->b, hb, (size_t) N * 4, cudaMemcpyHostToDevice, kc_prep_stream(s)) != cudaSuccess ||
            kc_f32_to_bf16(p->bb, p->b, N, kc_prep_stream(s)) != 0 ||
            cudaStreamSynchronize(kc_prep_stream(s)) != cudaSuccess) {
            rc = -1;
        }
        free(hb);
    }
    if (rc != 0) {
        cudaGetLastError();
        cudaFree(p->w);
        cudaFree(p->b);
        cudaFree(p->bb);
        cudaFree(p->sc);
        kc_linear_unstage(s, p);
        free(p);
        ke_log(0, "cuda backend: uploading weight %s failed", name);
        return -1;
    }
    l->prepared = p;
    l->owner = be;
    pthread_mutex_lock(&s->mu);   // kc_alloc on the other thread counts in_use too (prepare_thread)
    s->weights += resident ? p->wbytes : 0;
    s->cap_used += resident ? p->wbytes : 0;
    s->in_use += p->bytes;
    kc_budget_note_peak(s);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void cu_linear_release(struct ke_backend * be, struct ke_linear * l)
{
    struct kc_state * s = kc_st(be);
    struct kc_linear * p = l->prepared;
    if (!p || l->owner != be) {
        return;
    }
    cudaStreamSynchronize(s->stream);
    const bool streamed = p->host != NULL;
    kc_deq_forget(s, p);   // a weight prepared later at the same address is not this one
    kc_linear_unstage(s, p);
    cudaFree(p->w);
    cudaFree(p->b);
    cudaFree(p->bb);
    cudaFree(p->sc);
    pthread_mutex_lock(&s->mu);
    if (!streamed) {
        s->weights -= p->wbytes;
    }
    s->in_use -= p->bytes;
    pthread_mutex_unlock(&s->mu);
    free(p);
    l->prepared = NULL;
    if (s->streamed == 0 && (streamed || s->weights == 0)) {
        // the last streamed weight is gone: so are its slots (and with no weight left at all, the
        // dequantization scratch and the upload staging too, so a model freed whole gives back all it held)
        kc_stream_free_all(s);
        if (s->weights == 0) {
            kc_upload_free(s);
        }
    }
}

// The GEMM of an fp8 linear: the bf16 activation quantized per tensor into an e4m3 scratch (amax and
// scale computed on the device), then cuBLASLt on the two e4m3 operands with both descales. GEMM_F32,
// GEMM_BF16_GELU or GEMM_RESID (beta 1), the linear's own bias. 0 ok, -1 failure (recorded), -2 no fp8
// algorithm for this shape and kind (nothing queued).
static int run_gemm_fp8(struct kc_state * s, void * out, const uint16_t * xb, int64_t M, const struct ke_linear * l,
                        int kind)
{
    struct kc_linear * p = l->prepared;
    const int64_t N = l->n_out, K = l->n_in;
    const float * wd = p->sc + 2;
    struct kc_gemm_plan * g = gemm_plan_fp8(s, M, N, K, p->b != NULL, kind);
    if (!g) {
        return -2;
    }
    const void * w = kc_linear_stored(s, p);
    if (!w) {
        return -1;   // recorded
    }
    // scratch: the activation's { amax, scale, descale }, then { alpha, beta } for the matmul, then (256
    // bytes in, aligned) its e4m3 copy; a held input (linear_input_hold) keeps it for the next linears.
    // An attention output whose e4m3 form the attention left (cuda-fuse.c) is taken as it is, and an
    // input whose writer took its maximum is quantized without a pass of its own for that.
    const bool held = s->hold_x && (const void *) xb == s->hold_x;
    const bool reuse = held && s->hold_xs && s->hold_M == M && s->hold_K == K;
    const size_t in_bytes = (size_t) (M * K) * 2;
    const float * twin_d = NULL;
    const uint8_t * twin = reuse || held ? NULL : kc_twin_take(s, xb, in_bytes, &twin_d);
    const size_t n_xs = twin ? 256 : 256 + (size_t) (M * K);
    uint8_t * xs = reuse ? s->hold_xs : kc_alloc(s, n_xs);
    if (!xs) {
        return kc_fail_nomem(s, "the e4m3 linear input", n_xs);
    }
    float * xsc = (float *) xs;
    const float * xd = twin ? twin_d : xsc + 2;
    const uint8_t * xq = twin ? twin : xs + 256;
    PROF_BEGIN(s, KC_CLASS_OTHER);
    if (!reuse && !twin) {
        const float * known = kc_amax_known(s, xb, in_bytes);
        if (!known) {
            KC(s, kc_amax_bf16(xsc, xb, M, K, K, s->stream));
        }
        KC(s, kc_quant_e4m3(xs + 256, K, xb, K, M, K, known ? known : xsc, xsc + 1, s->stream));
    }
    KC(s, kc_fp8_alpha(xsc + 4, wd, xd, kind == GEMM_RESID ? 1.0f : 0.0f, s->stream));
    PROF_END(s);
    if (p->b) {
        const void * bp = g->bias_bf16 ? (const void *) p->bb : (const void *) p->b;
        cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bp, sizeof(bp));
    }
    const float * alpha = xsc + 4, * beta = xsc + 5;   // device scalars (POINTER_MODE_DEVICE)
    PROF_BEGIN(s, KC_CLASS_GEMM);
    cublasStatus_t st = cublasLtMatmul(s->lt, g->op, alpha, w, g->a, xq, g->b, beta, out, g->c, out, g->c, &g->algo,
                                       s->lt_ws, s->lt_ws_size, s->stream);
    // an algorithm the heuristic offered but the matmul refuses (nothing was queued): the next one, and
    // when none is left the shape takes the fallback for good
    while (st == CUBLAS_STATUS_NOT_SUPPORTED && g->n_more > 0) {
        g->algo = g->more[0];
        memmove(g->more, g->more + 1, (size_t) --g->n_more * sizeof(g->more[0]));
        st = cublasLtMatmul(s->lt, g->op, alpha, w, g->a, xq, g->b, beta, out, g->c, out, g->c, &g->algo, s->lt_ws,
                            s->lt_ws_size, s->stream);
    }
    PROF_END(s);
    if (twin) {
        kc_twin_drop(s);   // read once, by this GEMM (stream-ordered free)
    }
    if (held && !s->hold_xs && st == CUBLAS_STATUS_SUCCESS) {
        s->hold_xs = xs;   // the next linears on this input take it as it is
        s->hold_M = M;
        s->hold_K = K;
    } else if (xs != s->hold_xs) {
        kc_free(s, xs);
    }
    if (st == CUBLAS_STATUS_NOT_SUPPORTED) {
        g->none = 1;
        log_no_fp8(M, N, K, p->b != NULL, kind, " (the matmul refused every algorithm offered)");
        return -2;
    }
    if (st != CUBLAS_STATUS_SUCCESS) {
        char msg[96];
        snprintf(msg, sizeof(msg), "status %d at M=%lld N=%lld K=%lld (e4m3)", (int) st, (long long) M,
                 (long long) N, (long long) K);
        return kc_fail(s, "cublasLtMatmul", msg);
    }
    return 0;
}

// out = xb W^T + b as f32 (GEMM_F32) or GELU(.) as bf16 (GEMM_BF16_GELU); for the residual kinds
// out += (gate *) (xb W^T + b), with `bias` the bias to add (b, or gate * b) and `gate` the alpha vector.
// An fp8 linear (kc_fp8_on) runs the fp8 GEMM when called with its own weight and bias; where cuBLASLt
// has no fp8 algorithm it runs the bf16 GEMM below with its e4m3 weight dequantized, except GELU, which
// returns -1 so the caller takes its unfused route (the fp8 GEMM_F32, then GELU).
int kc_run_gemm_ex(struct kc_state * s, void * out, const uint16_t * xb, int64_t M, const struct ke_linear * l,
                       int kind, const float * gate, const float * bias, const uint16_t * w)
{
    struct kc_linear * p = l->prepared;
    if (!w && !bias && kind != GEMM_RESID_VEC && kc_fp8_on(s, p)) {
        const int rc = run_gemm_fp8(s, out, xb, M, l, kind);
        if (rc != -2) {
            return rc;
        }
        if (kind == GEMM_BF16_GELU) {
            return -1;
        }
    }
    if (kind == GEMM_BF16) {
        return -1;   // fp8 linears only, and none for this shape
    }
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
    if (!w && !(w = kc_linear_weight(s, p))) {
        return -1;   // recorded
    }
    const float one = 1.0f, zero = 0.0f;
    const bool resid = kind == GEMM_RESID || kind == GEMM_RESID_VEC;
    const void * alpha = kind == GEMM_RESID_VEC ? (const void *) gate : (const void *) &one;
    PROF_BEGIN(s, KC_CLASS_GEMM);
    cublasStatus_t st = cublasLtMatmul(s->lt, g->op, alpha, w, g->a, xb, g->b, resid ? &one : &zero, out, g->c,
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

// The weight of l was prepared here; records a failure otherwise.
static bool lin_ok(struct ke_backend * be, const struct ke_linear * l)
{
    if (!l->prepared || l->owner != be) {
        kc_fail(kc_st(be), "linear", "weight not prepared by this backend");
        return false;
    }
    return true;
}

// Scratch from the caching allocator for one op (freed in stream order right after); records NOMEM.
static void * scratch(struct kc_state * s, size_t n, const char * what)
{
    void * p = kc_alloc(s, n ? n : 1);
    if (!p) {
        kc_fail_nomem(s, what, n);
    }
    return p;
}

// y = linear(x) with f32 in and out: x goes through a bf16 copy (the GEMM's operand format).
void cu_linear(struct ke_backend * be, float * y, const float * x, int64_t M, const struct ke_linear * l)
{
    struct kc_state * s = kc_st(be);
    if (!lin_ok(be, l) || M <= 0) {
        return;
    }
    const size_t nx = (size_t) (M * l->n_in);
    uint16_t * xb = scratch(s, nx * 2, "the bf16 linear input");
    if (!xb) {
        return;
    }
    PROF_BEGIN(s, KC_CLASS_OTHER);
    KC(s, kc_f32_to_bf16(xb, x, (int64_t) nx, s->stream));
    PROF_END(s);
    kc_run_gemm(s, y, xb, M, l, GEMM_F32);
    kc_free(s, xb);
}

// --- row-wise ----------------------------------------------------------------------------------

void cu_layer_norm(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D, const float * w,
                   const float * b, float eps)
{
    struct kc_state * s = kc_st(be);
    PROF_BEGIN(s, KC_CLASS_OTHER);
    const int rc = kc_norm_modulate(y, NULL, x, M, D, eps, w, b, NULL, NULL, 0, NULL, NULL, s->stream);
    if (rc == -2) {
        KC(s, kc_layer_norm(y, x, M, D, w, b, eps, s->stream));
    } else if (rc != 0) {
        kc_fail(s, "layer_norm", cudaGetErrorString(cudaGetLastError()));
    }
    PROF_END(s);
}

void cu_rms_norm(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D, const float * w, float eps)
{
    EW_OP(kc_rms_norm(y, x, M, D, w, eps, s->stream));
}

void cu_modulate(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D, const float * shift,
                 const float * scale, int64_t stride, const int32_t * sel)
{
    EW_OP(kc_modulate(y, x, M, D, shift, scale, stride, sel, s->stream));
}

void cu_gated_add(struct ke_backend * be, float * x, const float * y, int64_t M, int64_t D, const float * gate,
                  int64_t stride, const int32_t * sel)
{
    EW_OP(kc_gated_add(x, y, M, D, gate, stride, sel, s->stream));
}

// --- fused ops (backend.h): a struct ke_xbuf is bf16 here ----------------------------------------

#define XB(p) ((uint16_t *) (p))
#define CXB(p) ((const uint16_t *) (p))

void cu_to_xbuf(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t n)
{
    struct kc_state * s = kc_st(be);
    float * am = n > 0 ? kc_amax_begin(s, y, (size_t) n * 2) : NULL;   // (cuda-fuse.c)
    PROF_BEGIN(s, KC_CLASS_OTHER);
    KC(s, kc_f32_to_bf16_amax(XB(y), x, n, am, s->stream));
    PROF_END(s);
}

// One pass: LayerNorm (+ modulate) writing only the bf16 GEMM input.
void cu_layer_norm_mod_x(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t M, int64_t D,
                         const float * w, const float * b, float eps, const float * shift, const float * scale,
                         int64_t stride, const int32_t * sel)
{
    struct kc_state * s = kc_st(be);
    const size_t bytes = M > 0 && D > 0 ? (size_t) (M * D) * 2 : 0;
    float * am = kc_amax_begin(s, y, bytes);
    PROF_BEGIN(s, KC_CLASS_OTHER);
    const int rc = kc_norm_modulate(NULL, XB(y), x, M, D, eps, w, b, shift, scale, stride, sel, am, s->stream);
    if (rc == -2) {
        kc_xbuf_written(s, y, bytes);   // (no maximum taken)
        // shape or alignment the fused kernel does not take: the separate ops through f32
        float * t = scratch(s, (size_t) (M * D) * 4, "a LayerNorm output");
        if (t) {
            KC(s, kc_layer_norm(t, x, M, D, w, b, eps, s->stream));
            if (shift) {
                KC(s, kc_modulate(t, t, M, D, shift, scale, stride, sel, s->stream));
            }
            KC(s, kc_f32_to_bf16(XB(y), t, M * D, s->stream));
            kc_free(s, t);
        }
    } else if (rc != 0) {
        kc_fail(s, "layer_norm_mod_x", cudaGetErrorString(cudaGetLastError()));
    }
    PROF_END(s);
}

// One pass: RMS norm + RoPE writing only the bf16 q/k of the attention.
void cu_rms_norm_rope_x(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t L, int n_heads,
                        int head_dim, const float * w, float eps, const float * cs)
{
    struct kc_state * s = kc_st(be);
    const int64_t D = (int64_t) n_heads * head_dim;
    const size_t bytes = L > 0 && D > 0 ? (size_t) (L * D) * 2 : 0;
    float * am = kc_amax_begin(s, y, bytes);
    PROF_BEGIN(s, KC_CLASS_OTHER);
    const int rc = kc_rms_rope(NULL, XB(y), x, L, D, w, eps, head_dim, cs, am, s->stream);
    if (rc == -2) {
        kc_xbuf_written(s, y, bytes);   // (no maximum taken)
        float * t = scratch(s, (size_t) (L * D) * 4, "an RMS norm output");
        if (t) {
            KC(s, kc_rms_norm(t, x, L, D, w, eps, s->stream));
            if (cs) {
                KC(s, kc_rope(t, L, n_heads, head_dim, cs, s->stream));
            }
            KC(s, kc_f32_to_bf16(XB(y), t, L * D, s->stream));
            kc_free(s, t);
        }
    } else if (rc != 0) {
        kc_fail(s, "rms_norm_rope_x", cudaGetErrorString(cudaGetLastError()));
    }
    PROF_END(s);
}

void cu_linear_input_hold(struct ke_backend * be, const struct ke_xbuf * x)
{
    struct kc_state * s = kc_st(be);
    kc_free(s, s->hold_xs);   // stream-ordered: the GEMMs queued on it read it first
    s->hold_xs = NULL;
    s->hold_x = x ? (const void *) CXB(x) : NULL;
}

void cu_linear_x(struct ke_backend * be, float * y, const struct ke_xbuf * x, int64_t M, const struct ke_linear * l)
{
    if (lin_ok(be, l) && M > 0) {
        kc_run_gemm(kc_st(be), y, CXB(x), M, l, GEMM_F32);
    }
}

// GELU in the GEMM epilogue with a bf16 output (the next linear's input).
void cu_linear_gelu_x(struct ke_backend * be, struct ke_xbuf * y, const struct ke_xbuf * x, int64_t M,
                      const struct ke_linear * l)
{
    struct kc_state * s = kc_st(be);
    if (!lin_ok(be, l) || M <= 0) {
        return;
    }
    kc_xbuf_written(s, y, (size_t) (M * l->n_out) * 2);
    if (kc_run_gemm(s, y, CXB(x), M, l, GEMM_BF16_GELU) == 0) {
        return;
    }
    if (ke_be_failed(be)) {
        return;
    }
    // no cuBLASLt GELU epilogue for this shape: f32 GEMM, GELU, bf16
    const int64_t n = M * l->n_out;
    float * t = scratch(s, (size_t) n * 4, "a linear output");
    if (t && kc_run_gemm(s, t, CXB(x), M, l, GEMM_F32) == 0) {
        PROF_BEGIN(s, KC_CLASS_OTHER);
        KC(s, kc_gelu_tanh(t, n, s->stream));
        KC(s, kc_f32_to_bf16(XB(y), t, n, s->stream));
        PROF_END(s);
    }
    kc_free(s, t);
}

// r += (gate *) linear(x) in the GEMM (C = D = r, beta 1). A gate (one row: no per-token selector) is
// folded into a scaled bf16 copy of the weight and bias for this one GEMM (cuBLASLt has no bf16
// kernels with a per-feature alpha vector). Returns false when the fused GEMM cannot run.
static bool gemm_residual(struct kc_state * s, float * r, const uint16_t * xb, int64_t M, const struct ke_linear * l,
                          const float * gate, const int32_t * sel)
{
    struct kc_linear * p = l->prepared;
    const int64_t D = l->n_out, K = l->n_in;
    if (s->no_resid || (gate && sel) || (gate && K % 8 != 0)) {
        return false;
    }
    // the gate-scaled weight copy reads and writes D x K bf16 values (4 D K bytes) for this one GEMM; the
    // separate route writes and reads an f32 [M, D] output instead (8 M D bytes more than the fused
    // GEMM). For few rows against a wide input (the FFN's ffn.2 run in token chunks under a memory
    // budget: 512 rows against 13,824 inputs, the copy remade for every chunk) the copy costs more.
    if (gate && K > 2 * M) {
        return false;
    }
    if (kc_fp8_on(s, p)) {
        // an e4m3 weight has no cheap gate-scaled copy: with a gate, the unfused route; without one the
        // fp8 residual GEMM where cuBLASLt has it
        return !gate && gemm_plan_fp8(s, M, D, K, p->b != NULL, GEMM_RESID) &&
               kc_run_gemm_ex(s, r, xb, M, l, GEMM_RESID, NULL, NULL, NULL) == 0;
    }
    if (!kc_gemm_plan_find(s, M, D, K, p->b != NULL, GEMM_RESID)) {
        static int logged;
        if (!logged) {
            logged = 1;
            ke_log(2, "cuda backend: no cuBLASLt algorithm for a residual GEMM; adding separately");
        }
        return false;
    }
    float * gb = NULL;
    uint16_t * gw = NULL;
    if (gate) {
        const uint16_t * w0 = kc_linear_weight(s, p);
        if (!w0) {
            return true;   // failure recorded: nothing more to run
        }
        gw = kc_alloc(s, (size_t) (D * K) * 2);
        gb = p->b ? kc_alloc(s, (size_t) D * 4) : NULL;
        if (!gw || (p->b && !gb) || kc_scale_rows_bf16(gw, w0, gate, D, K, s->stream) != 0) {
            kc_free(s, gw);
            kc_free(s, gb);
            return false;
        }
        if (gb) {
            KC(s, kc_mul(gb, p->b, gate, D, s->stream));
        }
    }
    const int rc = kc_run_gemm_ex(s, r, xb, M, l, GEMM_RESID, NULL, gb, gw);
    kc_free(s, gb);
    kc_free(s, gw);
    return rc == 0;
}

void cu_linear_gated_add_x(struct ke_backend * be, float * r, const struct ke_xbuf * x, int64_t M,
                           const struct ke_linear * l, const float * gate, int64_t stride, const int32_t * sel,
                           float * tmp)
{
    struct kc_state * s = kc_st(be);
    if (!lin_ok(be, l) || M <= 0 || gemm_residual(s, r, CXB(x), M, l, gate, sel) || ke_be_failed(be)) {
        return;
    }
    // a gate the GEMM cannot take: the linear's output to tmp, then the gated add. With
    // KINORA_CUDA_FUSE=all an fp8 GEMM in a forward's scope (cuda-fuse.c) writes that output in bf16: half
    // the bytes written and read back, the e4m3 product rounded to 2^-9 relative where fp8 itself errs
    // by ~3 %.
    if (gate && s->scope && s->fuse >= 3 && kc_fp8_on(s, l->prepared)) {
        if (kc_run_gemm(s, tmp, CXB(x), M, l, GEMM_BF16) == 0) {
            s->n_narrow++;
            PROF_BEGIN(s, KC_CLASS_OTHER);
            KC(s, kc_gated_add_bf16(r, (const uint16_t *) tmp, M, l->n_out, gate, stride, sel, s->stream));
            PROF_END(s);
            return;
        }
        if (ke_be_failed(be)) {
            return;
        }
    }
    if (kc_run_gemm(s, tmp, CXB(x), M, l, GEMM_F32) == 0) {
        PROF_BEGIN(s, KC_CLASS_OTHER);
        KC(s, kc_gated_add(r, tmp, M, l->n_out, gate, stride, sel, s->stream));
        PROF_END(s);
    }
}
