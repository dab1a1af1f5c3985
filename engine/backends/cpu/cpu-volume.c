// Kinora engine: CPU ops on channels-first volumes x[C, T, H, W] (channel L2 norm, frame copies, pad
// and nearest resampling, pixel (un)shuffle, average pool and nearest upsample through channels). The
// Wan VAEs use them (official wan/modules/vae2_1.py, vae2_2.py at 42bf4cf); nothing here is specific to one.
#include <math.h>
#include <string.h>

#include "backends/cpu/cpu-impl.h"
#include "core/threadpool.h"

// --- channel L2 norm -----------------------------------------------------------------------------

#define NORM_BLOCK 256

struct norm_ctx {
    float * y;
    const float * x;
    int C;
    int64_t N;
    const float * gamma;
};

static void norm_range(void * p, int64_t b0, int64_t b1, int tid)
{
    (void) tid;
    const struct norm_ctx * c = p;
    const float sc = sqrtf((float) c->C);
    float ss[NORM_BLOCK];
    for (int64_t b = b0; b < b1; b++) {
        const int64_t n0 = b * NORM_BLOCK;
        const int nb = (int) (c->N - n0 < NORM_BLOCK ? c->N - n0 : NORM_BLOCK);
        for (int i = 0; i < nb; i++) {
            ss[i] = 0.0f;
        }
        // sum of squares over channels for a block of positions (reads all of x before writing y)
        for (int ch = 0; ch < c->C; ch++) {
            const float * xr = c->x + (int64_t) ch * c->N + n0;
            for (int i = 0; i < nb; i++) {
                ss[i] += xr[i] * xr[i];
            }
        }
        for (int i = 0; i < nb; i++) {
            const float nrm = sqrtf(ss[i]);
            ss[i] = 1.0f / (nrm > 1e-12f ? nrm : 1e-12f);
        }
        for (int ch = 0; ch < c->C; ch++) {
            const float * xr = c->x + (int64_t) ch * c->N + n0;
            float * yr = c->y + (int64_t) ch * c->N + n0;
            const float g = sc * c->gamma[ch];
            for (int i = 0; i < nb; i++) {
                yr[i] = xr[i] * ss[i] * g;
            }
        }
    }
}

void ke_cpu_channel_l2norm(struct ke_backend * be, float * y, const float * x, int C, int64_t N, const float * gamma)
{
    (void) be;
    struct norm_ctx c = { y, x, C, N, gamma };
    ke_parallel_for((N + NORM_BLOCK - 1) / NORM_BLOCK, 4, norm_range, &c);
}

// --- frame copies --------------------------------------------------------------------------------

struct fc_ctx {
    void * dst;
    const void * src;
    int dst_bf16, src_bf16, dst_T, dst_t0, src_T, src_t0, n;
    int64_t hw;
};

static void fc_range(void * p, int64_t r0, int64_t r1, int tid)
{
    (void) tid;
    const struct fc_ctx * c = p;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t ch = r / c->n, i = r % c->n;
        const int64_t di = (ch * c->dst_T + c->dst_t0 + i) * c->hw;
        const int64_t si = (ch * c->src_T + c->src_t0 + i) * c->hw;
        if (!c->dst_bf16 && !c->src_bf16) {
            memcpy((float *) c->dst + di, (const float *) c->src + si, (size_t) c->hw * sizeof(float));
        } else if (c->dst_bf16 && c->src_bf16) {
            memcpy((uint16_t *) c->dst + di, (const uint16_t *) c->src + si, (size_t) c->hw * sizeof(uint16_t));
        } else if (c->dst_bf16) {
            uint16_t * d = (uint16_t *) c->dst + di;
            const float * s = (const float *) c->src + si;
            for (int64_t k = 0; k < c->hw; k++) {
                d[k] = ke_f32_to_bf16(s[k]);
            }
        } else {
            float * d = (float *) c->dst + di;
            const uint16_t * s = (const uint16_t *) c->src + si;
            for (int64_t k = 0; k < c->hw; k++) {
                d[k] = ke_bf16_to_f32(s[k]);
            }
        }
    }
}

void ke_cpu_frame_copy(struct ke_backend * be, void * dst, int dst_bf16, int dst_T, int dst_t0,
                           const void * src, int src_bf16, int src_T, int src_t0, int n, int C, int64_t hw)
{
    (void) be;
    if (n <= 0 || C <= 0) {
        return;
    }
    struct fc_ctx c = { dst, src, dst_bf16, src_bf16, dst_T, dst_t0, src_T, src_t0, n, hw };
    ke_parallel_for((int64_t) C * n, 1 + 65536 / (hw + 1), fc_range, &c);
}

// --- spatial resampling layouts ------------------------------------------------------------------

struct plane_ctx {
    float * y;
    const float * x;
    int H, W, pt, pb, pl, pr;
};

static void up2_range(void * p, int64_t p0, int64_t p1, int tid)
{
    (void) tid;
    const struct plane_ctx * c = p;
    const int H = c->H, W = c->W;
    for (int64_t pl = p0; pl < p1; pl++) {
        const float * x = c->x + pl * H * W;
        float * y = c->y + pl * 4 * H * W;
        for (int i = 0; i < H; i++) {
            float * r0 = y + (int64_t) (2 * i) * 2 * W;
            for (int j = 0; j < W; j++) {
                r0[2 * j] = r0[2 * j + 1] = x[i * W + j];
            }
            memcpy(r0 + 2 * W, r0, (size_t) (2 * W) * sizeof(float));
        }
    }
}

void ke_cpu_upsample_nearest2x(struct ke_backend * be, float * y, const float * x, int64_t P, int H, int W)
{
    (void) be;
    struct plane_ctx c = { .y = y, .x = x, .H = H, .W = W };
    ke_parallel_for(P, 1 + 65536 / ((int64_t) H * W + 1), up2_range, &c);
}

static void pad_range(void * p, int64_t p0, int64_t p1, int tid)
{
    (void) tid;
    const struct plane_ctx * c = p;
    const int H = c->H, W = c->W;
    const int Ho = H + c->pt + c->pb, Wo = W + c->pl + c->pr;
    for (int64_t pl = p0; pl < p1; pl++) {
        const float * x = c->x + pl * H * W;
        float * y = c->y + pl * Ho * Wo;
        memset(y, 0, (size_t) Ho * Wo * sizeof(float));
        for (int i = 0; i < H; i++) {
            memcpy(y + (int64_t) (i + c->pt) * Wo + c->pl, x + (int64_t) i * W, (size_t) W * sizeof(float));
        }
    }
}

void ke_cpu_pad2d(struct ke_backend * be, float * y, const float * x, int64_t P, int H, int W,
                      int pt, int pb, int pl, int pr)
{
    (void) be;
    struct plane_ctx c = { y, x, H, W, pt, pb, pl, pr };
    ke_parallel_for(P, 1 + 65536 / ((int64_t) H * W + 1), pad_range, &c);
}

// --- pixel (un)shuffle / average pool / nearest upsample -----------------------------------------------------------

struct ps_ctx {
    float * dst;
    const float * src;
    int C, T, H, W, p, inverse;
};

// one task per (channel, frame) of the full-resolution side
static void patch_range(void * pp, int64_t r0, int64_t r1, int tid)
{
    (void) tid;
    const struct ps_ctx * c = pp;
    const int p = c->p, H = c->H, W = c->W, T = c->T;
    const int Hp = H / p, Wp = W / p;
    for (int64_t r = r0; r < r1; r++) {
        const int ch = (int) (r / T), t = (int) (r % T);
        for (int dx = 0; dx < p; dx++) {
            for (int dy = 0; dy < p; dy++) {
                const int64_t pc = (int64_t) ch * p * p + dx * p + dy;
                for (int i = 0; i < Hp; i++) {
                    const int64_t full = (((int64_t) ch * T + t) * H + p * i + dy) * W + dx;
                    const int64_t part = ((pc * T + t) * Hp + i) * Wp;
                    if (c->inverse) {
                        for (int j = 0; j < Wp; j++) {
                            c->dst[full + (int64_t) p * j] = c->src[part + j];
                        }
                    } else {
                        for (int j = 0; j < Wp; j++) {
                            c->dst[part + j] = c->src[full + (int64_t) p * j];
                        }
                    }
                }
            }
        }
    }
}

void ke_cpu_pixel_unshuffle(struct ke_backend * be, float * dst, const float * src, int C, int T, int H, int W,
                         int p, int inverse)
{
    (void) be;
    struct ps_ctx c = { dst, src, C, T, H, W, p, inverse };
    ke_parallel_for((int64_t) C * T, 1, patch_range, &c);
}

struct ad_ctx {
    float * y;
    const float * x;
    int c_in, c_out, T, H, W, ft, fs, pad, To, Ho, Wo, g, drop;
};

static void avg_range(void * p, int64_t r0, int64_t r1, int tid)
{
    (void) tid;
    const struct ad_ctx * c = p;
    const int F = c->ft * c->fs * c->fs;
    const float inv = 1.0f / (float) c->g;
    for (int64_t r = r0; r < r1; r++) {
        const int o = (int) (r / c->To), to = (int) (r % c->To);
        float * y = c->y + r * c->Ho * c->Wo;
        for (int i = 0; i < c->Ho; i++) {
            for (int j = 0; j < c->Wo; j++) {
                float acc = 0.0f;
                for (int k = 0; k < c->g; k++) {
                    // sub-sample channel X[ci*F + ti*fs*fs + hi*fs + wi]
                    const int q = o * c->g + k;
                    const int ci = q / F, rem = q % F;
                    const int ti = rem / (c->fs * c->fs), hi = (rem / c->fs) % c->fs, wi = rem % c->fs;
                    const int t = to * c->ft + ti - c->pad;
                    if (t < 0) {
                        continue;   // a front padding frame: zero
                    }
                    acc += c->x[(((int64_t) ci * c->T + t) * c->H + i * c->fs + hi) * c->W + j * c->fs + wi];
                }
                y[i * c->Wo + j] = acc * inv;
            }
        }
    }
}

void ke_cpu_avg_pool3d(struct ke_backend * be, float * y, const float * x, int c_in, int c_out, int T, int H,
                         int W, int ft, int fs, int pad_front)
{
    (void) be;
    struct ad_ctx c = { .y = y, .x = x, .c_in = c_in, .c_out = c_out, .T = T, .H = H, .W = W, .ft = ft, .fs = fs,
                        .pad = pad_front, .To = (T + pad_front) / ft, .Ho = H / fs, .Wo = W / fs,
                        .g = c_in * ft * fs * fs / c_out };
    ke_parallel_for((int64_t) c_out * c.To, 1, avg_range, &c);
}

static void dup_range(void * p, int64_t r0, int64_t r1, int tid)
{
    (void) tid;
    const struct ad_ctx * c = p;
    const int F = c->ft * c->fs * c->fs;
    const int rep = c->c_out * F / c->c_in;
    for (int64_t r = r0; r < r1; r++) {
        const int o = (int) (r / c->To), tf = (int) (r % c->To) + c->drop;   // frame before the drop
        const int t = tf / c->ft, ti = tf % c->ft;
        float * y = c->y + r * c->Ho * c->Wo;
        for (int i = 0; i < c->Ho; i++) {
            const int yi = i / c->fs, hi = i % c->fs;
            for (int j = 0; j < c->Wo; j++) {
                const int xi = j / c->fs, wi = j % c->fs;
                const int ci = (((o * c->ft + ti) * c->fs + hi) * c->fs + wi) / rep;
                y[i * c->Wo + j] = c->x[(((int64_t) ci * c->T + t) * c->H + yi) * c->W + xi];
            }
        }
    }
}

void ke_cpu_nearest_up3d(struct ke_backend * be, float * y, const float * x, int c_in, int c_out, int T, int H,
                       int W, int ft, int fs, int drop)
{
    (void) be;
    struct ad_ctx c = { .y = y, .x = x, .c_in = c_in, .c_out = c_out, .T = T, .H = H, .W = W, .ft = ft, .fs = fs,
                        .To = T * ft - drop, .Ho = H * fs, .Wo = W * fs, .drop = drop };
    ke_parallel_for((int64_t) c_out * c.To, 1, dup_range, &c);
}

// --- transpose -----------------------------------------------------------------------------------

struct tr_ctx {
    float * y;
    const float * x;
    int64_t R, C2;
};

#define TR_BLOCK 32

static void tr_range(void * p, int64_t b0, int64_t b1, int tid)
{
    (void) tid;
    const struct tr_ctx * c = p;
    const int64_t nbc = (c->C2 + TR_BLOCK - 1) / TR_BLOCK;
    for (int64_t b = b0; b < b1; b++) {
        const int64_t r0 = (b / nbc) * TR_BLOCK, q0 = (b % nbc) * TR_BLOCK;
        const int64_t r1 = r0 + TR_BLOCK < c->R ? r0 + TR_BLOCK : c->R;
        const int64_t q1 = q0 + TR_BLOCK < c->C2 ? q0 + TR_BLOCK : c->C2;
        for (int64_t r = r0; r < r1; r++) {
            for (int64_t q = q0; q < q1; q++) {
                c->y[q * c->R + r] = c->x[r * c->C2 + q];
            }
        }
    }
}

void ke_cpu_transpose2d(struct ke_backend * be, float * y, const float * x, int64_t R, int64_t C2)
{
    (void) be;
    struct tr_ctx c = { y, x, R, C2 };
    const int64_t nb = ((R + TR_BLOCK - 1) / TR_BLOCK) * ((C2 + TR_BLOCK - 1) / TR_BLOCK);
    ke_parallel_for(nb, 4, tr_range, &c);
}
