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
    struct kc_state * s = kc_st(be);
    const int64_t D = (int64_t) n_heads * head_dim;
    for (int i = 0; i < s->n_pend; i++) {
        struct kc_pending * q = &s->pend[i];
        if (q->kind == KC_PEND_RMS && q->y == x && q->M == L && q->D == D) {
            // RMS norm + RoPE in one pass, bf16 output for the attention (queued RMS norms of
            // other tensors stay queued: their ranges do not touch this one)
            kc_read(s, cs, (size_t) (L * head_dim) * 4);
            struct kc_shadow * e = kc_sh_claim(s, x, (size_t) (L * D));
            PROF_BEGIN(s, KC_CLASS_OTHER);
            int rc = e ? kc_rms_rope(NULL, e->bf, q->x, L, D, q->w, q->eps, head_dim, cs, s->stream) : -1;
            PROF_END(s);
            if (rc == 0) {
                e->stale = 1;
                kc_drop_pending(s, i);
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

void cu_attention(struct ke_backend * be, float * o, const float * q, const float * k, const float * v,
                         int64_t Lq, int64_t Lk, int n_heads, int head_dim, float scale, const float * bias)
{
    struct kc_state * s = kc_st(be);
    const int64_t ld = (int64_t) n_heads * head_dim;
    const size_t nq = (size_t) (Lq * ld), nk = (size_t) (Lk * ld);
    for (int i = 0; i < s->n_pend && s->attn != KC_ATTN_F32 && !bias; i++) {
        struct kc_pending * r = &s->pend[i];
        if (r->kind == KC_PEND_RMS && r->y == q && r->M == Lq && r->D == ld) {
            // the RMS norm of q writes only the attention's bf16 q
            struct kc_shadow * e = kc_sh_claim(s, q, nq);
            PROF_BEGIN(s, KC_CLASS_OTHER);
            int rc = e ? kc_rms_rope(NULL, e->bf, r->x, Lq, ld, r->w, r->eps, head_dim, NULL, s->stream) : -1;
            PROF_END(s);
            if (rc == 0) {
                e->stale = 1;
                kc_drop_pending(s, i);
            } else if (e) {
                e->src = NULL;
            }
            break;
        }
    }
    kc_flush_pending(s);
    if (Lq <= 0) {
        return;
    }
    const bool tc_ok = !bias && (head_dim == 64 || head_dim == 128) && Lk > 0 && ld % 8 == 0;
    if (!bias && !tc_ok && s->attn != KC_ATTN_F32 && head_dim % 8 == 0 && Lk > 0 && scale > 0.0f) {
        // other head dims on the tensor cores through GEMMs
        PROF_BEGIN(s, KC_CLASS_OTHER);
        const uint16_t * qb = kc_bf16_of(s, q, nq);
        const uint16_t * kb = qb ? kc_bf16_of(s, k, nk) : NULL;
        const uint16_t * vb = kb ? kc_bf16_of(s, v, nk) : NULL;
        kc_wrote(s, o, nq * 4);
        PROF_BEGIN(s, KC_CLASS_ATTN);
        int rc = vb && kc_sh_find(s, q, nq) && kc_sh_find(s, k, nk) ? attention_gemm(s, o, qb, kb, vb, Lq, Lk, n_heads,
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
    const uint16_t * qb = kc_bf16_of(s, q, nq);
    const uint16_t * kb = qb ? kc_bf16_of(s, k, nk) : NULL;
    const uint16_t * vb = kb ? kc_bf16_of(s, v, nk) : NULL;
    // the result goes to a bf16 copy of o only (the next linear reads it); f32 o is made on demand
    kc_wrote(s, o, nq * 4);
    struct kc_shadow * e = vb ? kc_sh_claim(s, o, nq) : NULL;
    if (!e || !kc_sh_find(s, q, nq) || !kc_sh_find(s, k, nk) || !kc_sh_find(s, v, nk)) {
        // out of memory, or a copy was evicted: use plain buffers
        if (e) {
            e->src = NULL;
        }
        kc_fail_nomem(s, "the bf16 attention q/k/v/o", (nq + 2 * nk) * 2);
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
