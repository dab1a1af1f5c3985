// Kinora engine: the CPU backend (reference for every op). Row-wise and element-wise ops run on the
// engine's thread pool; matmuls are in cpu-matmul.c, attention in cpu-attention.c, conv in conv3d.c.
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu-impl.h"
#include "backends/cpu/cpu-simd.h"
#include "core/threadpool.h"

// --- scratch -----------------------------------------------------------------------------------

// The CPU backend's state: one grow-only scratch block shared by the ops that need temporary memory
// of a bounded size (attention tiles, weight conversion blocks, im2col blocks), so they neither
// allocate per call nor abort when memory is short. Activation-sized temporaries are not kept here:
// they would stay resident after the op (the VAE's peak comes after the DiT's). One block for both
// precisions and for tables copied from this one (tests wrap the ops), as they share the cores too.
struct cpu_state {
    pthread_mutex_t mu;    // held from ke_cpu_scratch to ke_cpu_scratch_done (ops of two threads)
    void * p;
    size_t n;
};

static struct cpu_state g_state = { .mu = PTHREAD_MUTEX_INITIALIZER };

void * ke_cpu_scratch(struct ke_backend * be, size_t n, const char * what)
{
    struct cpu_state * s = &g_state;
    pthread_mutex_lock(&s->mu);
    if (n > s->n) {
        void * p = NULL;
        if (posix_memalign(&p, 64, n) != 0) {
            pthread_mutex_unlock(&s->mu);
            ke_be_fail(be, KE_STATUS_NOMEM, "out of memory for %s (%zu bytes)", what, n);
            return NULL;
        }
        free(s->p);
        s->p = p;
        s->n = n;
    }
    return s->p;
}

void ke_cpu_scratch_done(struct ke_backend * be)
{
    (void) be;
    pthread_mutex_unlock(&g_state.mu);
}

void * ke_cpu_alloc_or_fail(struct ke_backend * be, size_t n, const char * what)
{
    void * p = NULL;
    if (posix_memalign(&p, 64, n ? n : 64) != 0) {
        ke_be_fail(be, KE_STATUS_NOMEM, "out of memory for %s (%zu bytes)", what, n);
        return NULL;
    }
    return p;
}

// --- memory ------------------------------------------------------------------------------------

static void * cpu_alloc(struct ke_backend * be, size_t n)
{
    (void) be;
    void * p = NULL;
    if (posix_memalign(&p, 64, n ? n : 64) != 0) {
        return NULL;
    }
    return p;
}

static void cpu_free(struct ke_backend * be, void * p)
{
    (void) be;
    free(p);
}

static void cpu_memcpy(struct ke_backend * be, void * dst, const void * src, size_t n)
{
    (void) be;
    if (n) {
        memcpy(dst, src, n);
    }
}

static void cpu_memset0(struct ke_backend * be, void * dst, size_t n)
{
    (void) be;
    memset(dst, 0, n);
}

static void cpu_sync(struct ke_backend * be)
{
    (void) be;
}

// Nothing to set up: a CPU linear_prepare touches only its own linear (and oneDNN's one-time set-up).
static int cpu_prepare_thread(struct ke_backend * be, int begin)
{
    (void) be;
    (void) begin;
    return 0;
}

// --- row-wise ----------------------------------------------------------------------------------

struct rows_ctx {
    float * y;
    const float * x;
    int64_t D;
    const float * w;
    const float * b;
    float eps;
    const float * shift;
    const float * scale;
    int64_t stride;
    const int32_t * sel;
};

static void layer_norm_rows(void * p, int64_t r0, int64_t r1, int tid)
{
    (void) tid;
    const struct rows_ctx * c = p;
    const int64_t D = c->D;
    for (int64_t r = r0; r < r1; r++) {
        const float * x = c->x + r * D;
        float * y = c->y + r * D;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < D; i++) {
            mean += x[i];
        }
        mean /= (double) D;
        for (int64_t i = 0; i < D; i++) {
            double d = x[i] - mean;
            var += d * d;
        }
        var /= (double) D;
        const float inv = (float) (1.0 / sqrt(var + c->eps));
        const float m = (float) mean;
        for (int64_t i = 0; i < D; i++) {
            float v = (x[i] - m) * inv;
            if (c->w) {
                v *= c->w[i];
            }
            if (c->b) {
                v += c->b[i];
            }
            y[i] = v;
        }
    }
}

static void cpu_layer_norm(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D,
                           const float * w, const float * b, float eps)
{
    (void) be;
    struct rows_ctx c = { .y = y, .x = x, .D = D, .w = w, .b = b, .eps = eps };
    ke_parallel_for(M, 1 + 4096 / (D + 1), layer_norm_rows, &c);
}

static void rms_norm_rows(void * p, int64_t r0, int64_t r1, int tid)
{
    (void) tid;
    const struct rows_ctx * c = p;
    const int64_t D = c->D;
    for (int64_t r = r0; r < r1; r++) {
        const float * x = c->x + r * D;
        float * y = c->y + r * D;
        double ss = 0;
        for (int64_t i = 0; i < D; i++) {
            ss += (double) x[i] * x[i];
        }
        const float inv = (float) (1.0 / sqrt(ss / (double) D + c->eps));
        for (int64_t i = 0; i < D; i++) {
            y[i] = c->w ? x[i] * inv * c->w[i] : x[i] * inv;
        }
    }
}

static void cpu_rms_norm(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D,
                         const float * w, float eps)
{
    (void) be;
    struct rows_ctx c = { .y = y, .x = x, .D = D, .w = w, .eps = eps };
    ke_parallel_for(M, 1 + 4096 / (D + 1), rms_norm_rows, &c);
}

static void modulate_rows(void * p, int64_t r0, int64_t r1, int tid)
{
    (void) tid;
    const struct rows_ctx * c = p;
    const int64_t D = c->D;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t s = c->sel ? c->sel[r] : 0;
        const float * sh = c->shift + s * c->stride;
        const float * sc = c->scale + s * c->stride;
        const float * x = c->x + r * D;
        float * y = c->y + r * D;
        for (int64_t i = 0; i < D; i++) {
            y[i] = x[i] * (1.0f + sc[i]) + sh[i];
        }
    }
}

static void cpu_modulate(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D,
                         const float * shift, const float * scale, int64_t stride, const int32_t * sel)
{
    (void) be;
    struct rows_ctx c = { .y = y, .x = x, .D = D, .shift = shift, .scale = scale, .stride = stride, .sel = sel };
    ke_parallel_for(M, 1 + 4096 / (D + 1), modulate_rows, &c);
}

static void gated_add_rows(void * p, int64_t r0, int64_t r1, int tid)
{
    (void) tid;
    const struct rows_ctx * c = p;
    const int64_t D = c->D;
    for (int64_t r = r0; r < r1; r++) {
        float * x = c->y + r * D;
        const float * y = c->x + r * D;
        if (c->w) {
            const float * g = c->w + (c->sel ? c->sel[r] : 0) * c->stride;
            for (int64_t i = 0; i < D; i++) {
                x[i] += y[i] * g[i];
            }
        } else {
            for (int64_t i = 0; i < D; i++) {
                x[i] += y[i];
            }
        }
    }
}

static void cpu_gated_add(struct ke_backend * be, float * x, const float * y, int64_t M, int64_t D,
                          const float * gate, int64_t gate_stride, const int32_t * sel)
{
    (void) be;
    struct rows_ctx c = { .y = x, .x = y, .D = D, .w = gate, .stride = gate_stride, .sel = sel };
    ke_parallel_for(M, 1 + 4096 / (D + 1), gated_add_rows, &c);
}

// --- element-wise ------------------------------------------------------------------------------

struct ew_ctx {
    float * y;
    const float * a;
    const float * b;
    float s;
    float lo, hi;
};

// gelu_tanh(u) = 0.5 u (1 + tanh(k (u + 0.044715 u^3))) = u / (1 + exp(-2 k (u + 0.044715 u^3))),
// the second form evaluated 16 lanes at a time with the vector exp.
KE_MULTIVERSION
static void gelu_block(float * restrict y, int64_t n)
{
    const float k2 = -2.0f * 0.7978845608028654f;   // -2 sqrt(2/pi)
    float a[16] __attribute__((aligned(64)));
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        for (int j = 0; j < 16; j++) {
            const float u = y[i + j];
            a[j] = ke_clampf(k2 * (u + 0.044715f * u * u * u), -87.0f, 88.0f);
        }
        ke_exp16(a);
        for (int j = 0; j < 16; j++) {
            y[i + j] = y[i + j] / (1.0f + a[j]);
        }
    }
    for (; i < n; i++) {
        const float u = y[i];
        y[i] = 0.5f * u * (1.0f + tanhf(0.7978845608028654f * (u + 0.044715f * u * u * u)));
    }
}

static void gelu_range(void * p, int64_t i0, int64_t i1, int tid)
{
    (void) tid;
    struct ew_ctx * c = p;
    gelu_block(c->y + i0, i1 - i0);
}

static void silu_range(void * p, int64_t i0, int64_t i1, int tid)
{
    (void) tid;
    struct ew_ctx * c = p;
    for (int64_t i = i0; i < i1; i++) {
        float u = c->y[i];
        c->y[i] = u / (1.0f + expf(-u));
    }
}

static void mul_range(void * p, int64_t i0, int64_t i1, int tid)
{
    (void) tid;
    struct ew_ctx * c = p;
    for (int64_t i = i0; i < i1; i++) {
        c->y[i] = c->a[i] * c->b[i];
    }
}

static void add_range(void * p, int64_t i0, int64_t i1, int tid)
{
    (void) tid;
    struct ew_ctx * c = p;
    for (int64_t i = i0; i < i1; i++) {
        c->y[i] = c->a[i] + c->b[i];
    }
}

static void scale_range(void * p, int64_t i0, int64_t i1, int tid)
{
    (void) tid;
    struct ew_ctx * c = p;
    for (int64_t i = i0; i < i1; i++) {
        c->y[i] = c->a[i] * c->s;
    }
}

static void relu_range(void * p, int64_t i0, int64_t i1, int tid)
{
    (void) tid;
    struct ew_ctx * c = p;
    for (int64_t i = i0; i < i1; i++) {
        c->y[i] = c->a[i] > 0.0f ? c->a[i] : 0.0f;
    }
}

static void soft_clamp_range(void * p, int64_t i0, int64_t i1, int tid)
{
    (void) tid;
    struct ew_ctx * c = p;
    const float inv = 1.0f / c->s;
    for (int64_t i = i0; i < i1; i++) {
        c->y[i] = tanhf(c->a[i] * inv) * c->s;
    }
}

static void clamp_range(void * p, int64_t i0, int64_t i1, int tid)
{
    (void) tid;
    struct ew_ctx * c = p;
    for (int64_t i = i0; i < i1; i++) {
        c->y[i] = ke_clampf(c->a[i], c->lo, c->hi);
    }
}

#define EW_GRAIN 16384

static void cpu_gelu_tanh(struct ke_backend * be, float * x, int64_t n)
{
    (void) be;
    struct ew_ctx c = { .y = x };
    ke_parallel_for(n, EW_GRAIN, gelu_range, &c);
}

static void cpu_silu(struct ke_backend * be, float * x, int64_t n)
{
    (void) be;
    struct ew_ctx c = { .y = x };
    ke_parallel_for(n, EW_GRAIN, silu_range, &c);
}

static void cpu_mul(struct ke_backend * be, float * y, const float * a, const float * b, int64_t n)
{
    (void) be;
    struct ew_ctx c = { .y = y, .a = a, .b = b };
    ke_parallel_for(n, EW_GRAIN, mul_range, &c);
}

static void cpu_add(struct ke_backend * be, float * y, const float * a, const float * b, int64_t n)
{
    (void) be;
    struct ew_ctx c = { .y = y, .a = a, .b = b };
    ke_parallel_for(n, EW_GRAIN, add_range, &c);
}

static void cpu_scale(struct ke_backend * be, float * y, const float * x, float s, int64_t n)
{
    (void) be;
    struct ew_ctx c = { .y = y, .a = x, .s = s };
    ke_parallel_for(n, EW_GRAIN, scale_range, &c);
}

struct lincomb_ctx {
    float * y;
    const float * x[KE_LINCOMB_MAX];
    double c[KE_LINCOMB_MAX];
    int n_terms;
};

static void lincomb_range(void * p, int64_t i0, int64_t i1, int tid)
{
    (void) tid;
    const struct lincomb_ctx * c = p;
    for (int64_t i = i0; i < i1; i++) {
        double v = 0.0;
        for (int j = 0; j < c->n_terms; j++) {
            v += c->c[j] * (double) c->x[j][i];
        }
        c->y[i] = (float) v;
    }
}

static void cpu_lincomb(struct ke_backend * be, float * y, int n_terms, const float * const * x, const double * cf,
                        int64_t n)
{
    (void) be;
    struct lincomb_ctx c = { .y = y, .n_terms = n_terms };
    for (int j = 0; j < n_terms && j < KE_LINCOMB_MAX; j++) {
        c.x[j] = x[j];
        c.c[j] = cf[j];
    }
    ke_parallel_for(n, EW_GRAIN, lincomb_range, &c);
}

struct rel_bias_ctx {
    float * bias;
    const float * tv;
    int64_t L;
};

static void rel_bias_rows(void * p, int64_t r0, int64_t r1, int tid)
{
    (void) tid;
    const struct rel_bias_ctx * c = p;
    const int64_t L = c->L;
    for (int64_t r = r0; r < r1; r++) {   // r = h * L + i
        const int64_t h = r / L, i = r % L;
        memcpy(c->bias + r * L, c->tv + h * (2 * L - 1) + (L - 1 - i), sizeof(float) * (size_t) L);
    }
}

static void cpu_rel_bias(struct ke_backend * be, float * bias, const float * tv, int64_t L, int H)
{
    (void) be;
    struct rel_bias_ctx c = { bias, tv, L };
    ke_parallel_for((int64_t) H * L, 1 + 65536 / L, rel_bias_rows, &c);
}

static int64_t cpu_find_nonfinite(struct ke_backend * be, const float * x, int64_t n, int * is_nan)
{
    (void) be;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            *is_nan = isnan(x[i]);
            return i;
        }
    }
    *is_nan = 0;
    return -1;
}

static void cpu_relu(struct ke_backend * be, float * y, const float * x, int64_t n)
{
    (void) be;
    struct ew_ctx c = { .y = y, .a = x };
    ke_parallel_for(n, EW_GRAIN, relu_range, &c);
}

static void cpu_soft_clamp(struct ke_backend * be, float * y, const float * x, float s, int64_t n)
{
    (void) be;
    struct ew_ctx c = { .y = y, .a = x, .s = s };
    ke_parallel_for(n, EW_GRAIN, soft_clamp_range, &c);
}

static void cpu_clamp(struct ke_backend * be, float * y, const float * x, float lo, float hi, int64_t n)
{
    (void) be;
    struct ew_ctx c = { .y = y, .a = x, .lo = lo, .hi = hi };
    ke_parallel_for(n, EW_GRAIN, clamp_range, &c);
}

// --- RoPE --------------------------------------------------------------------------------------

struct rope_ctx {
    float * x;
    int n_heads, head_dim;
    const float * cs;
};

static void rope_rows(void * p, int64_t r0, int64_t r1, int tid)
{
    (void) tid;
    const struct rope_ctx * c = p;
    const int half = c->head_dim / 2;
    for (int64_t r = r0; r < r1; r++) {
        const float * cs = c->cs + r * half * 2;
        float * row = c->x + r * (int64_t) c->n_heads * c->head_dim;
        for (int h = 0; h < c->n_heads; h++) {
            float * v = row + h * c->head_dim;
            for (int i = 0; i < half; i++) {
                const float co = cs[2 * i], si = cs[2 * i + 1];
                const float a = v[2 * i], b = v[2 * i + 1];
                v[2 * i] = a * co - b * si;
                v[2 * i + 1] = a * si + b * co;
            }
        }
    }
}

static void cpu_rope(struct ke_backend * be, float * x, int64_t L, int n_heads, int head_dim, const float * cs)
{
    (void) be;
    struct rope_ctx c = { .x = x, .n_heads = n_heads, .head_dim = head_dim, .cs = cs };
    ke_parallel_for(L, 16, rope_rows, &c);
}

// --- DiT layout --------------------------------------------------------------------------------

static void cpu_patchify(struct ke_backend * be, float * out, const float * x, int C, int F, int H, int W,
                         int ph, int pw)
{
    (void) be;
    const int Hp = H / ph, Wp = W / pw;
    const int64_t K = (int64_t) C * ph * pw;
    for (int f = 0; f < F; f++) {
        for (int y = 0; y < Hp; y++) {
            for (int xx = 0; xx < Wp; xx++) {
                float * o = out + (((int64_t) f * Hp + y) * Wp + xx) * K;
                for (int c = 0; c < C; c++) {
                    for (int dy = 0; dy < ph; dy++) {
                        for (int dx = 0; dx < pw; dx++) {
                            o[(c * ph + dy) * pw + dx] =
                                x[(((int64_t) c * F + f) * H + (y * ph + dy)) * W + xx * pw + dx];
                        }
                    }
                }
            }
        }
    }
}

static void cpu_unpatchify(struct ke_backend * be, float * out, const float * tok, int C, int F, int H, int W,
                           int ph, int pw)
{
    (void) be;
    const int Hp = H / ph, Wp = W / pw;
    const int64_t K = (int64_t) C * ph * pw;
    for (int f = 0; f < F; f++) {
        for (int y = 0; y < Hp; y++) {
            for (int xx = 0; xx < Wp; xx++) {
                const float * t = tok + (((int64_t) f * Hp + y) * Wp + xx) * K;
                for (int dy = 0; dy < ph; dy++) {
                    for (int dx = 0; dx < pw; dx++) {
                        for (int c = 0; c < C; c++) {
                            out[(((int64_t) c * F + f) * H + (y * ph + dy)) * W + xx * pw + dx] =
                                t[(dy * pw + dx) * C + c];
                        }
                    }
                }
            }
        }
    }
}

// --- table -------------------------------------------------------------------------------------

static const struct ke_backend_ops g_cpu_ops = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_memcpy,
    .download = cpu_memcpy,
    .copy = cpu_memcpy,
    .memset0 = cpu_memset0,
    .sync = cpu_sync,
    .linear_prepare = ke_cpu_linear_prepare,
    .linear_release = ke_cpu_linear_release,
    .linear = ke_cpu_linear,
    .layer_norm = cpu_layer_norm,
    .rms_norm = cpu_rms_norm,
    .modulate = cpu_modulate,
    .gated_add = cpu_gated_add,
    .gelu_tanh = cpu_gelu_tanh,
    .silu = cpu_silu,
    .mul = cpu_mul,
    .add = cpu_add,
    .scale = cpu_scale,
    .rope = cpu_rope,
    .attention = ke_cpu_attention,
    .xbuf_elem = sizeof(float),
    .to_xbuf = ke_cpu_to_xbuf,
    .layer_norm_mod_x = ke_cpu_layer_norm_mod_x,
    .rms_norm_rope_x = ke_cpu_rms_norm_rope_x,
    .linear_x = ke_cpu_linear_x,
    .linear_gelu_x = ke_cpu_linear_gelu_x,
    .linear_gated_add_x = ke_cpu_linear_gated_add_x,
    .attention_x = ke_cpu_attention_x,
    .channel_l2norm_silu = ke_cpu_channel_l2norm_silu,
    .patchify = cpu_patchify,
    .unpatchify = cpu_unpatchify,
    .conv3d_prepare = ke_cpu_conv3d_prepare,
    .conv3d_release = ke_cpu_conv3d_release,
    .conv3d = ke_cpu_conv3d,
    .channel_l2norm = ke_cpu_channel_l2norm,
    .frame_copy = ke_cpu_frame_copy,
    .upsample_nearest2x = ke_cpu_upsample_nearest2x,
    .relu = cpu_relu,
    .soft_clamp = cpu_soft_clamp,
    .clamp = cpu_clamp,
    // LTX-Video transformer
    .rms_norm_mod_x = ke_cpu_rms_norm_mod_x,
    .pad2d = ke_cpu_pad2d,
    .pixel_unshuffle = ke_cpu_pixel_unshuffle,
    .avg_pool3d = ke_cpu_avg_pool3d,
    .nearest_up3d = ke_cpu_nearest_up3d,
    .transpose2d = ke_cpu_transpose2d,
    .linear_takes = ke_cpu_linear_takes,
    // LTX-Video VAE and latent upsampler
    .pixel_norm_mod = ke_cpu_pixel_norm_mod,
    .group_norm = ke_cpu_group_norm,
    .pad2d_edge = ke_cpu_pad2d_edge,
    .ltx_conv3d = ke_cpu_ltx_conv3d,
    .ltx_resnet = ke_cpu_ltx_resnet,
    .rel_bias = cpu_rel_bias,
    .lincomb = cpu_lincomb,
    .find_nonfinite = cpu_find_nonfinite,
    .prepare_thread = cpu_prepare_thread,
};

static struct ke_backend g_cpu_exact = { .ops = &g_cpu_ops, .precision = KE_PRECISION_FP32 };
static struct ke_backend g_cpu_fast = { .ops = &g_cpu_ops, .precision = KE_PRECISION_BF16 };

struct ke_backend * ke_backend_cpu(void)
{
    return &g_cpu_exact;
}

struct ke_backend * ke_backend_cpu_fast(void)
{
    return &g_cpu_fast;
}
