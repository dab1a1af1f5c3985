// Kinora engine: CPU reference of the ops the LTX-Video VAE and latent upsampler add (Lightricks/LTX-Video
// at 5260738: PixelNorm with the decoder's timestep modulation, GroupNorm of latent_upsampler.py, and the
// reflect / replicate spatial padding of CausalConv3d). Sums run in double.
#include <math.h>

#include "backends/cpu/cpu-impl.h"
#include "core/threadpool.h"

static inline float silu(float v)
{
    return v / (1.0f + expf(-v));
}

// --- pixel norm ----------------------------------------------------------------------------------

#define PN_BLOCK 256

struct pn_ctx {
    float * y;
    const float * x;
    int C;
    int64_t N;
    float eps;
    const float * shift, * scale;
    int silu;
};

static void pn_range(void * p, int64_t b0, int64_t b1, int tid)
{
    (void) tid;
    const struct pn_ctx * c = p;
    double ss[PN_BLOCK];
    float inv[PN_BLOCK];
    for (int64_t b = b0; b < b1; b++) {
        const int64_t n0 = b * PN_BLOCK;
        const int nb = (int) (c->N - n0 < PN_BLOCK ? c->N - n0 : PN_BLOCK);
        for (int i = 0; i < nb; i++) {
            ss[i] = 0.0;
        }
        // all of x is read before y is written (y may be x)
        for (int ch = 0; ch < c->C; ch++) {
            const float * xr = c->x + (int64_t) ch * c->N + n0;
            for (int i = 0; i < nb; i++) {
                ss[i] += (double) xr[i] * xr[i];
            }
        }
        for (int i = 0; i < nb; i++) {
            inv[i] = (float) (1.0 / sqrt(ss[i] / c->C + c->eps));
        }
        for (int ch = 0; ch < c->C; ch++) {
            const float * xr = c->x + (int64_t) ch * c->N + n0;
            float * yr = c->y + (int64_t) ch * c->N + n0;
            const float a = c->scale ? 1.0f + c->scale[ch] : 1.0f, s = c->shift ? c->shift[ch] : 0.0f;
            for (int i = 0; i < nb; i++) {
                float v = xr[i] * inv[i];
                if (c->scale) {
                    v = v * a + s;
                }
                yr[i] = c->silu ? silu(v) : v;
            }
        }
    }
}

void ke_cpu_pixel_norm_mod(struct ke_backend * be, float * y, const float * x, int C, int64_t N, float eps,
                           const float * shift, const float * scale, int silu_on)
{
    (void) be;
    struct pn_ctx c = { y, x, C, N, eps, shift, scale, silu_on };
    ke_parallel_for((N + PN_BLOCK - 1) / PN_BLOCK, 1, pn_range, &c);
}

// --- group norm ----------------------------------------------------------------------------------

struct gn_ctx {
    float * y;
    const float * x;
    int C, G;
    int64_t N;
    float eps;
    const float * w, * b;
    int silu;
};

static void gn_range(void * p, int64_t g0, int64_t g1, int tid)
{
    (void) tid;
    const struct gn_ctx * c = p;
    const int cg = c->C / c->G;
    for (int64_t g = g0; g < g1; g++) {
        const int64_t n = (int64_t) cg * c->N;
        const float * x = c->x + g * n;
        double s = 0.0;
        for (int64_t i = 0; i < n; i++) {
            s += x[i];
        }
        const double mean = s / (double) n;
        double v = 0.0;
        for (int64_t i = 0; i < n; i++) {
            const double d = x[i] - mean;
            v += d * d;
        }
        const double rstd = 1.0 / sqrt(v / (double) n + c->eps);
        for (int k = 0; k < cg; k++) {
            const int ch = (int) g * cg + k;
            const double a = rstd * (c->w ? c->w[ch] : 1.0f), o = c->b ? c->b[ch] : 0.0f;
            const float * xr = x + (int64_t) k * c->N;
            float * yr = c->y + (g * cg + k) * c->N;
            for (int64_t i = 0; i < c->N; i++) {
                const float t = (float) ((xr[i] - mean) * a + o);
                yr[i] = c->silu ? silu(t) : t;
            }
        }
    }
}

void ke_cpu_group_norm(struct ke_backend * be, float * y, const float * x, int C, int64_t N, int G, float eps,
                       const float * w, const float * b, int silu_on)
{
    (void) be;
    struct gn_ctx c = { y, x, C, G, N, eps, w, b, silu_on };
    ke_parallel_for(G, 1, gn_range, &c);
}

// --- reflect / replicate padding -----------------------------------------------------------------

struct pe_ctx {
    float * y;
    const float * x;
    int H, W, p, mode;
};

// The source index of padded position i in [-p, n + p) (mode 1 reflect, 2 replicate).
static inline int edge_index(int i, int n, int mode)
{
    if (i < 0) {
        return mode == 1 ? -i : 0;
    }
    if (i >= n) {
        return mode == 1 ? 2 * (n - 1) - i : n - 1;
    }
    return i;
}

static void pe_range(void * p, int64_t p0, int64_t p1, int tid)
{
    (void) tid;
    const struct pe_ctx * c = p;
    const int Ho = c->H + 2 * c->p, Wo = c->W + 2 * c->p;
    for (int64_t pl = p0; pl < p1; pl++) {
        const float * x = c->x + pl * c->H * c->W;
        float * y = c->y + pl * Ho * Wo;
        for (int i = 0; i < Ho; i++) {
            const float * xr = x + (int64_t) edge_index(i - c->p, c->H, c->mode) * c->W;
            for (int j = 0; j < Wo; j++) {
                y[(int64_t) i * Wo + j] = xr[edge_index(j - c->p, c->W, c->mode)];
            }
        }
    }
}

void ke_cpu_pad2d_edge(struct ke_backend * be, float * y, const float * x, int64_t P, int H, int W, int p, int mode)
{
    (void) be;
    struct pe_ctx c = { y, x, H, W, p, mode };
    ke_parallel_for(P, 1 + 16384 / ((int64_t) H * W + 1), pe_range, &c);
}

// --- the VAE's convolution with its input transform ---------------------------------------------

// Exactly the composition backend.h gives: pixel_norm_mod to a copy, the edge frames repeated into a
// padded copy, conv3d, and the add into y when accumulating (through be's ops).
void ke_cpu_ltx_conv3d(struct ke_backend * be, float * y, int accumulate, const float * x, const struct ke_conv3d * c,
                       int T, int H, int W, int front, int back, int norm, float eps, const float * shift,
                       const float * scale)
{
    const struct ke_backend_ops * op = be->ops;
    const int C = c->c_in, Tp = T + front + back;
    const int64_t hw = (int64_t) H * W, n_out = (int64_t) c->c_out * T * hw;
    const size_t bn = (size_t) ((int64_t) C * T * hw) * sizeof(float);
    const size_t bp = (size_t) ((int64_t) C * Tp * hw) * sizeof(float);
    float * xn = norm ? ke_be_alloc(be, bn) : NULL;
    float * xp = ke_be_alloc(be, bp);
    float * t = accumulate ? ke_be_alloc(be, (size_t) n_out * sizeof(float)) : NULL;
    if ((norm && !xn) || !xp || (accumulate && !t)) {
        ke_be_fail(be, KE_STATUS_NOMEM, "out of memory for an LTX-Video VAE convolution's input (%zu bytes)",
                   bn + bp + (accumulate ? (size_t) n_out * sizeof(float) : 0));
    } else {
        const float * src = x;
        if (norm) {
            op->pixel_norm_mod(be, xn, x, C, T * hw, eps, shift, scale, 1);
            src = xn;
        }
        op->frame_copy(be, xp, 0, Tp, front, src, 0, T, 0, T, C, hw);
        for (int i = 0; i < front; i++) {
            op->frame_copy(be, xp, 0, Tp, i, src, 0, T, 0, 1, C, hw);
        }
        for (int i = 0; i < back; i++) {
            op->frame_copy(be, xp, 0, Tp, front + T + i, src, 0, T, T - 1, 1, C, hw);
        }
        op->conv3d(be, accumulate ? t : y, xp, c, Tp, H, W, 0, 0, c->kh / 2, c->kw / 2, 1, 1, 1);
        if (accumulate) {
            op->add(be, y, y, t, n_out);
        }
    }
    ke_be_free(be, xn);
    ke_be_free(be, xp);
    ke_be_free(be, t);
}

// The two convolutions of backend.h's ltx_resnet, through be's ops.
void ke_cpu_ltx_resnet(struct ke_backend * be, float * x, const struct ke_conv3d * c1, const struct ke_conv3d * c2,
                       int T, int H, int W, int front, int back, float eps, const float * ada)
{
    const int C = c1->c_in;
    const size_t n = (size_t) ((int64_t) c1->c_out * T * H * W) * sizeof(float);
    float * h = ke_be_alloc(be, n);
    if (!h) {
        ke_be_fail(be, KE_STATUS_NOMEM, "out of memory for an LTX-Video VAE resnet's hidden state (%zu bytes)", n);
        return;
    }
    be->ops->ltx_conv3d(be, h, 0, x, c1, T, H, W, front, back, 1, eps, ada ? ada : NULL, ada ? ada + C : NULL);
    be->ops->ltx_conv3d(be, x, 1, h, c2, T, H, W, front, back, 1, eps, ada ? ada + 2 * C : NULL,
                        ada ? ada + 3 * C : NULL);
    ke_be_free(be, h);
}
