// Kinora engine: CPU conv3d. Exact path: implicit GEMM (im2col of a block of output positions, then
// OpenBLAS sgemm with the f32 weight [Cout, Cin*kt*kh*kw]); 1x1x1 convs are one GEMM. The bf16 path
// (be->precision == KE_PRECISION_BF16) is in conv3d-dnnl code below when oneDNN is available.
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu-impl.h"
#include "core/error.h"
#include "core/threadpool.h"

struct ke_conv_prep {
    const float * w;    // [Cout, K] f32 (the stored weight, or w_own)
    float * w_own;      // converted copy when the stored weight is not f32
    float * bias;       // [Cout] f32 or NULL
    void * dnnl;        // bf16 primitive state (oneDNN) or NULL
};

// Largest im2col block, in floats (16 MiB): big enough for full-speed GEMMs, small enough for L3/RAM.
#define COL_BUDGET (4 << 20)

int ke_cpu_conv3d_prepare(struct ke_backend * be, struct ke_conv3d * c)
{
    c->owner = be;
    c->prepared = NULL;
    struct ke_conv_prep * p = calloc(1, sizeof(*p));
    if (!p) {
        return -1;
    }
    const int64_t K = (int64_t) c->c_in * c->kt * c->kh * c->kw;
    if (c->w->type == KE_DTYPE_F32) {
        p->w = c->w->data;
    } else {
        p->w_own = malloc((size_t) (c->c_out * K) * sizeof(float));
        if (!p->w_own) {
            free(p);
            return -1;
        }
        ke_convert_to_f32(p->w_own, c->w->data, c->w->type, c->w->scale, (size_t) (c->c_out * K));
        p->w = p->w_own;
    }
    if (c->b) {
        p->bias = malloc((size_t) c->c_out * sizeof(float));
        if (!p->bias) {
            free(p->w_own);
            free(p);
            return -1;
        }
        ke_convert_to_f32(p->bias, c->b->data, c->b->type, c->b->scale, (size_t) c->c_out);
    }
    c->prepared = p;
#if defined(KE_HAVE_DNNL) && defined(KE_CONV_DNNL_READY)
    if (be->precision == KE_PRECISION_BF16 && ke_conv3d_dnnl_enabled()) {
        ke_conv3d_dnnl_prepare(c);   // failure leaves the exact path in use
    }
#endif
    return 0;
}

void ke_cpu_conv3d_release(struct ke_backend * be, struct ke_conv3d * c)
{
    (void) be;
    struct ke_conv_prep * p = c->prepared;
    if (!p) {
        return;
    }
#if defined(KE_HAVE_DNNL) && defined(KE_CONV_DNNL_READY)
    ke_conv3d_dnnl_release(p);
#endif
    free(p->w_own);
    free(p->bias);
    free(p);
    c->prepared = NULL;
}

// --- im2col --------------------------------------------------------------------------------------

struct col_ctx {
    float * col;                 // [K, nb]
    const float * x;             // [Cin, T, H, W]
    const struct ke_conv3d * c;
    int T, H, W, To, Ho, Wo, pt0, ph, pw, st, sh, sw;
    int64_t n0, nb;
};

static void col_rows(void * p, int64_t k0, int64_t k1, int tid)
{
    (void) tid;
    const struct col_ctx * c = p;
    const int kt = c->c->kt, kh = c->c->kh, kw = c->c->kw;
    const int64_t HoWo = (int64_t) c->Ho * c->Wo;
    for (int64_t k = k0; k < k1; k++) {
        const int j = (int) (k % kw), i = (int) ((k / kw) % kh), a = (int) ((k / ((int64_t) kw * kh)) % kt);
        const int64_t ci = k / ((int64_t) kw * kh * kt);
        float * dst = c->col + k * c->nb;
        int64_t n = c->n0;
        const int64_t n_end = c->n0 + c->nb;
        while (n < n_end) {
            // one output row segment: (to, yy, xx .. Wo)
            const int to = (int) (n / HoWo);
            const int yy = (int) ((n / c->Wo) % c->Ho);
            const int x0 = (int) (n % c->Wo);
            int cnt = c->Wo - x0;
            if (cnt > n_end - n) {
                cnt = (int) (n_end - n);
            }
            const int ti = to * c->st + a - c->pt0;
            const int yi = yy * c->sh + i - c->ph;
            if (ti < 0 || ti >= c->T || yi < 0 || yi >= c->H) {
                memset(dst, 0, (size_t) cnt * sizeof(float));
            } else {
                const float * row = c->x + (((int64_t) ci * c->T + ti) * c->H + yi) * c->W;
                for (int q = 0; q < cnt; q++) {
                    const int xi = (x0 + q) * c->sw + j - c->pw;
                    dst[q] = (xi >= 0 && xi < c->W) ? row[xi] : 0.0f;
                }
            }
            dst += cnt;
            n += cnt;
        }
    }
}

struct bias_ctx {
    float * y;
    const float * b;
    int64_t N;
};

static void bias_rows(void * p, int64_t r0, int64_t r1, int tid)
{
    (void) tid;
    const struct bias_ctx * c = p;
    for (int64_t r = r0; r < r1; r++) {
        float * y = c->y + r * c->N;
        const float b = c->b[r];
        for (int64_t i = 0; i < c->N; i++) {
            y[i] += b;
        }
    }
}

static void conv3d_exact(float * y, const float * x, const struct ke_conv3d * c, int T, int H, int W, int pt0,
                         int pt1, int ph, int pw, int st, int sh, int sw)
{
    const struct ke_conv_prep * p = c->prepared;
    const int To = (T + pt0 + pt1 - c->kt) / st + 1;
    const int Ho = (H + 2 * ph - c->kh) / sh + 1;
    const int Wo = (W + 2 * pw - c->kw) / sw + 1;
    const int64_t N = (int64_t) To * Ho * Wo;
    const int64_t K = (int64_t) c->c_in * c->kt * c->kh * c->kw;
    float * wtmp = NULL;
    const float * w = p ? p->w : NULL;
    if (!w) {
        // not prepared (tests, one-off calls): convert on the fly
        if (c->w->type == KE_DTYPE_F32) {
            w = c->w->data;
        } else {
            wtmp = malloc((size_t) (c->c_out * K) * sizeof(float));
            KE_ASSERT(wtmp);
            ke_convert_to_f32(wtmp, c->w->data, c->w->type, c->w->scale, (size_t) (c->c_out * K));
            w = wtmp;
        }
    }
    if (K == c->c_in && pt0 == 0 && pt1 == 0 && st == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0) {
        // 1x1x1: y[Cout, N] = W[Cout, Cin] x[Cin, N]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->c_out, (blasint) N, (blasint) K, 1.0f, w,
                    (blasint) K, x, (blasint) N, 0.0f, y, (blasint) N);
    } else {
        int64_t nb = COL_BUDGET / K;
        if (nb < 16) {
            nb = 16;
        }
        if (nb > N) {
            nb = N;
        }
        float * col = malloc((size_t) (K * nb) * sizeof(float));
        KE_ASSERT(col);
        for (int64_t n0 = 0; n0 < N; n0 += nb) {
            const int64_t cnt = N - n0 < nb ? N - n0 : nb;
            struct col_ctx cc = { col, x, c, T, H, W, To, Ho, Wo, pt0, ph, pw, st, sh, sw, n0, cnt };
            ke_parallel_for(K, 1 + 65536 / (cnt + 1), col_rows, &cc);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->c_out, (blasint) cnt, (blasint) K, 1.0f, w,
                        (blasint) K, col, (blasint) cnt, 0.0f, y + n0, (blasint) N);
        }
        free(col);
    }
    free(wtmp);
    float * btmp = NULL;
    const float * b = p ? p->bias : NULL;
    if (!p && c->b) {
        btmp = malloc((size_t) c->c_out * sizeof(float));
        KE_ASSERT(btmp);
        ke_convert_to_f32(btmp, c->b->data, c->b->type, c->b->scale, (size_t) c->c_out);
        b = btmp;
    }
    if (b) {
        struct bias_ctx bc = { y, b, N };
        ke_parallel_for(c->c_out, 1 + 65536 / (N + 1), bias_rows, &bc);
    }
    free(btmp);
}

void ke_cpu_conv3d(struct ke_backend * be, float * y, const float * x, const struct ke_conv3d * c,
                   int T, int H, int W, int pt0, int pt1, int ph, int pw, int st, int sh, int sw)
{
    (void) be;
#if defined(KE_HAVE_DNNL) && defined(KE_CONV_DNNL_READY)
    const struct ke_conv_prep * p = c->prepared;
    if (p && p->dnnl && ke_conv3d_dnnl(y, x, c, T, H, W, pt0, pt1, ph, pw, st, sh, sw) == 0) {
        return;
    }
#endif
    conv3d_exact(y, x, c, T, H, W, pt0, pt1, ph, pw, st, sh, sw);
}
