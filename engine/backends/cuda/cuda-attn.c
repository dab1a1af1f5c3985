// Kinora engine: CUDA backend RoPE and attention: cuDNN fused SDPA, the own flash kernel, query-blocked
// GEMMs for other head dims and an fp32 kernel (with bias).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/cuda-backend.h"
#include "core/error.h"

// --- attention ---------------------------------------------------------------------------------

void cu_rope(struct ke_backend * be, float * x, int64_t L, int n_heads, int head_dim, const float * cs)
{
    EW_OP(kc_rope(x, L, n_heads, head_dim, cs, s->stream));
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
// the own flash kernel once and keep the faster (both compute the same attention; the output left is
// the faster one's).
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
    if (c->cudnn && t_own >= 0.0f) {
        // the output is the chosen one's, as at every later call of this shape: the two round differently
        // in the last bf16 bit, and a job must not depend on whether it was the first at its size
        kc_sdpa_run(s, ob, qb, kb, vb, Lq, Lk, H, hd, ld, scale);
    }
    ke_log(2, "cuda backend: attention H=%d Lq=%lld Lk=%lld hd=%d: cuDNN SDPA %.3f ms, own flash %.3f ms -> %s", H,
           (long long) Lq, (long long) Lk, hd, t_dnn, t_own, c->cudnn ? "cuDNN" : "own flash");
    c->next = g_attn_choices;
    g_attn_choices = c;
    return c->cudnn;
}

// Which implementation runs a bias-free attention of this shape.
enum attn_path { PATH_TC, PATH_GEMM, PATH_F32 };

static enum attn_path attn_path(const struct kc_state * s, int64_t Lk, int n_heads, int head_dim, float scale)
{
    const int64_t ld = (int64_t) n_heads * head_dim;
    if (s->attn == KC_ATTN_F32 || Lk <= 0) {
        return PATH_F32;
    }
    if ((head_dim == 64 || head_dim == 128) && ld % 8 == 0) {
        return PATH_TC;
    }
    // other head dims (the VAE's single wide head) on the tensor cores through GEMMs
    return head_dim % 8 == 0 && scale > 0.0f ? PATH_GEMM : PATH_F32;
}

// bf16 attention on the tensor cores (head_dim 64 or 128): cuDNN's fused SDPA or the own flash kernel.
static void attention_tc(struct kc_state * s, uint16_t * ob, const uint16_t * qb, const uint16_t * kb,
                         const uint16_t * vb, int64_t Lq, int64_t Lk, int n_heads, int head_dim, float scale)
{
    const int64_t ld = (int64_t) n_heads * head_dim;
    if (s->fp8_attn && s->attn != KC_ATTN_FLASH) {
        PROF_BEGIN(s, KC_CLASS_ATTN);
        const int rc = kc_sdpa_fp8_run(s, ob, qb, kb, vb, Lq, Lk, n_heads, head_dim, ld, scale);
        PROF_END(s);
        if (rc == 0) {
            return;
        }
        static int logged;
        if (!logged) {
            logged = 1;
            ke_log(1, "cuda backend: no cuDNN fp8 attention for Lq=%lld Lk=%lld H=%d hd=%d; running it in bf16",
                   (long long) Lq, (long long) Lk, n_heads, head_dim);
        }
    }
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
}

static void f32_kernel(struct kc_state * s, float * o, const float * q, const float * k, const float * v, int64_t Lq,
                       int64_t Lk, int n_heads, int head_dim, float scale, const float * bias)
{
    PROF_BEGIN(s, KC_CLASS_ATTN);
    KC(s, kc_attention_f32(o, q, k, v, Lq, Lk, n_heads, head_dim, scale, bias, s->stream));
    PROF_END(s);
}

// f32 in and out (T5 with its bias, the VAE's single head, tests): bf16 copies for the tensor-core paths.
void cu_attention(struct ke_backend * be, float * o, const float * q, const float * k, const float * v, int64_t Lq,
                  int64_t Lk, int n_heads, int head_dim, float scale, const float * bias)
{
    struct kc_state * s = kc_st(be);
    if (Lq <= 0) {
        return;
    }
    const enum attn_path path = bias ? PATH_F32 : attn_path(s, Lk, n_heads, head_dim, scale);
    if (path != PATH_F32) {
        // separate blocks (as cuDNN and the flash kernel expect: each aligned by the allocator)
        const int64_t ld = (int64_t) n_heads * head_dim, nq = Lq * ld, nk = Lk * ld;
        uint16_t * qb = kc_alloc(s, (size_t) nq * 2), * kb = kc_alloc(s, (size_t) nk * 2);
        uint16_t * vb = kc_alloc(s, (size_t) nk * 2), * ob = path == PATH_TC ? kc_alloc(s, (size_t) nq * 2) : NULL;
        int rc = -1;
        if (!qb || !kb || !vb || (path == PATH_TC && !ob)) {
            kc_fail_nomem(s, "the bf16 attention q/k/v/o", (size_t) (2 * nq + 2 * nk) * 2);
        } else {
            PROF_BEGIN(s, KC_CLASS_OTHER);
            KC(s, kc_f32_to_bf16(qb, q, nq, s->stream));
            KC(s, kc_f32_to_bf16(kb, k, nk, s->stream));
            KC(s, kc_f32_to_bf16(vb, v, nk, s->stream));
            if (path == PATH_GEMM) {
                PROF_BEGIN(s, KC_CLASS_ATTN);
                rc = attention_gemm(s, o, qb, kb, vb, Lq, Lk, n_heads, head_dim, scale);
                PROF_END(s);
            } else {
                attention_tc(s, ob, qb, kb, vb, Lq, Lk, n_heads, head_dim, scale);
                PROF_BEGIN(s, KC_CLASS_OTHER);
                KC(s, kc_bf16_to_f32(o, ob, nq, s->stream));
                PROF_END(s);
                rc = 0;
            }
        }
        if (ob) {
            kc_xbuf_written(s, ob, (size_t) nq * 2);   // (any e4m3 form of this scratch output goes with it)
        }
        kc_free(s, qb);
        kc_free(s, kb);
        kc_free(s, vb);
        kc_free(s, ob);
        if (rc == 0 || ke_be_failed(be)) {
            return;
        }
    }
    f32_kernel(s, o, q, k, v, Lq, Lk, n_heads, head_dim, scale, bias);
}

// The fused op: bf16 q/k/v in, bf16 o out (the next linear's input).
void cu_attention_x(struct ke_backend * be, struct ke_xbuf * o, const struct ke_xbuf * q, const struct ke_xbuf * k,
                    const struct ke_xbuf * v, int64_t Lq, int64_t Lk, int n_heads, int head_dim, float scale)
{
    struct kc_state * s = kc_st(be);
    uint16_t * ob = (uint16_t *) o;
    const uint16_t * qb = (const uint16_t *) q, * kb = (const uint16_t *) k, * vb = (const uint16_t *) v;
    if (Lq <= 0) {
        return;
    }
    kc_xbuf_written(s, o, (size_t) (Lq * n_heads * head_dim) * 2);
    const enum attn_path path = attn_path(s, Lk, n_heads, head_dim, scale);
    if (path == PATH_TC) {
        attention_tc(s, ob, qb, kb, vb, Lq, Lk, n_heads, head_dim, scale);
        return;
    }
    // other head dims (small models): an f32 output, from f32 copies of q/k/v for the f32 kernel
    const int64_t ld = (int64_t) n_heads * head_dim, nq = Lq * ld, nk = Lk * ld;
    float * of = kc_alloc(s, (size_t) nq * 4);
    if (!of) {
        kc_fail_nomem(s, "the f32 attention output", (size_t) nq * 4);
        return;
    }
    int rc = -1;
    if (path == PATH_GEMM) {
        PROF_BEGIN(s, KC_CLASS_ATTN);
        rc = attention_gemm(s, of, qb, kb, vb, Lq, Lk, n_heads, head_dim, scale);
        PROF_END(s);
    }
    if (rc != 0) {
        float * qf = kc_alloc(s, (size_t) nq * 4), * kf = kc_alloc(s, (size_t) nk * 4);
        float * vf = kc_alloc(s, (size_t) nk * 4);
        if (qf && kf && vf) {
            PROF_BEGIN(s, KC_CLASS_OTHER);
            KC(s, kc_bf16_to_f32(qf, qb, nq, s->stream));
            KC(s, kc_bf16_to_f32(kf, kb, nk, s->stream));
            KC(s, kc_bf16_to_f32(vf, vb, nk, s->stream));
            PROF_END(s);
            f32_kernel(s, of, qf, kf, vf, Lq, Lk, n_heads, head_dim, scale, NULL);
        } else {
            kc_fail_nomem(s, "the f32 attention q/k/v", (size_t) (nq + 2 * nk) * 4);
        }
        kc_free(s, qf);
        kc_free(s, kf);
        kc_free(s, vf);
    }
    PROF_BEGIN(s, KC_CLASS_OTHER);
    KC(s, kc_f32_to_bf16(ob, of, nq, s->stream));
    PROF_END(s);
    kc_free(s, of);
}
