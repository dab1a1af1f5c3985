// Kinora engine: a profiling wrapper around any backend. It forwards every op to the wrapped backend,
// synchronises after it and adds the wall time to one of three buckets: GEMM (linear, conv3d),
// attention, and the rest. Used by kinora-bench to report where a forward spends its time.
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/profile.h"
#include "core/clock.h"

struct prof {
    struct ke_backend base;
    struct ke_backend_ops ops;
    struct ke_backend * in;
    double t[KE_PROF_COUNT];
    long n[KE_PROF_COUNT];
};

#define P(be) ((struct prof *) (be))

// A failure the wrapped backend recorded becomes the wrapper's at once (models check the wrapper's
// record with ke_be_failed every block; w_status does the same after the inner status op).
static void take_failure(struct ke_backend * be)
{
    struct ke_backend * in = P(be)->in;
    if (in->failure.code != KE_STATUS_OK) {
        ke_be_fail(be, in->failure.code, "%s", in->failure.msg);
        memset(&in->failure, 0, sizeof(in->failure));
    }
}

#define TIMED(bucket, call)                                  \
    do {                                                     \
        struct prof * p_ = P(be);                            \
        double t0_ = ke_now();                                  \
        call;                                                \
        if (p_->in->ops->sync) {                             \
            p_->in->ops->sync(p_->in);                       \
        }                                                    \
        p_->t[bucket] += ke_now() - t0_;                        \
        p_->n[bucket]++;                                     \
        take_failure(be);                                    \
    } while (0)

static void * w_alloc(struct ke_backend * be, size_t n) { return P(be)->in->ops->alloc(P(be)->in, n); }
static void w_free(struct ke_backend * be, void * x) { P(be)->in->ops->free(P(be)->in, x); }
static void w_upload(struct ke_backend * be, void * d, const void * s, size_t n) { TIMED(KE_PROF_OTHER, P(be)->in->ops->upload(P(be)->in, d, s, n)); }
static void w_download(struct ke_backend * be, void * d, const void * s, size_t n) { TIMED(KE_PROF_OTHER, P(be)->in->ops->download(P(be)->in, d, s, n)); }
static void w_copy(struct ke_backend * be, void * d, const void * s, size_t n) { TIMED(KE_PROF_OTHER, P(be)->in->ops->copy(P(be)->in, d, s, n)); }
static void w_memset0(struct ke_backend * be, void * d, size_t n) { TIMED(KE_PROF_OTHER, P(be)->in->ops->memset0(P(be)->in, d, n)); }
static void w_sync(struct ke_backend * be) { P(be)->in->ops->sync(P(be)->in); }
static int w_linear_prepare(struct ke_backend * be, struct ke_linear * l) { return P(be)->in->ops->linear_prepare(P(be)->in, l); }
static void w_linear_release(struct ke_backend * be, struct ke_linear * l) { P(be)->in->ops->linear_release(P(be)->in, l); }
static void w_linear(struct ke_backend * be, float * y, const float * x, int64_t M, const struct ke_linear * l)
{
    TIMED(KE_PROF_GEMM, P(be)->in->ops->linear(P(be)->in, y, x, M, l));
}
static void w_layer_norm(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D, const float * w,
                         const float * b, float eps)
{
    TIMED(KE_PROF_OTHER, P(be)->in->ops->layer_norm(P(be)->in, y, x, M, D, w, b, eps));
}
static void w_rms_norm(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D, const float * w, float eps)
{
    TIMED(KE_PROF_OTHER, P(be)->in->ops->rms_norm(P(be)->in, y, x, M, D, w, eps));
}
static void w_modulate(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D, const float * sh,
                       const float * sc, int64_t st, const int32_t * sel)
{
    TIMED(KE_PROF_OTHER, P(be)->in->ops->modulate(P(be)->in, y, x, M, D, sh, sc, st, sel));
}
static void w_gated_add(struct ke_backend * be, float * x, const float * y, int64_t M, int64_t D, const float * g,
                        int64_t gs, const int32_t * sel)
{
    TIMED(KE_PROF_OTHER, P(be)->in->ops->gated_add(P(be)->in, x, y, M, D, g, gs, sel));
}
static void w_gelu(struct ke_backend * be, float * x, int64_t n) { TIMED(KE_PROF_OTHER, P(be)->in->ops->gelu_tanh(P(be)->in, x, n)); }
static void w_silu(struct ke_backend * be, float * x, int64_t n) { TIMED(KE_PROF_OTHER, P(be)->in->ops->silu(P(be)->in, x, n)); }
static void w_mul(struct ke_backend * be, float * y, const float * a, const float * b, int64_t n) { TIMED(KE_PROF_OTHER, P(be)->in->ops->mul(P(be)->in, y, a, b, n)); }
static void w_add(struct ke_backend * be, float * y, const float * a, const float * b, int64_t n) { TIMED(KE_PROF_OTHER, P(be)->in->ops->add(P(be)->in, y, a, b, n)); }
static void w_scale(struct ke_backend * be, float * y, const float * x, float s, int64_t n) { TIMED(KE_PROF_OTHER, P(be)->in->ops->scale(P(be)->in, y, x, s, n)); }
static void w_relu(struct ke_backend * be, float * y, const float * x, int64_t n) { TIMED(KE_PROF_OTHER, P(be)->in->ops->relu(P(be)->in, y, x, n)); }
static void w_soft_clamp(struct ke_backend * be, float * y, const float * x, float s, int64_t n) { TIMED(KE_PROF_OTHER, P(be)->in->ops->soft_clamp(P(be)->in, y, x, s, n)); }
static void w_clamp(struct ke_backend * be, float * y, const float * x, float lo, float hi, int64_t n) { TIMED(KE_PROF_OTHER, P(be)->in->ops->clamp(P(be)->in, y, x, lo, hi, n)); }
static void w_rope(struct ke_backend * be, float * x, int64_t L, int H, int hd, const float * cs)
{
    TIMED(KE_PROF_OTHER, P(be)->in->ops->rope(P(be)->in, x, L, H, hd, cs));
}
static void w_attention(struct ke_backend * be, float * o, const float * q, const float * k, const float * v,
                        int64_t Lq, int64_t Lk, int H, int hd, float scale, const float * bias)
{
    TIMED(KE_PROF_ATTENTION, P(be)->in->ops->attention(P(be)->in, o, q, k, v, Lq, Lk, H, hd, scale, bias));
}
static void w_patchify(struct ke_backend * be, float * p, const float * x, int C, int F, int H, int W, int ph, int pw)
{
    TIMED(KE_PROF_OTHER, P(be)->in->ops->patchify(P(be)->in, p, x, C, F, H, W, ph, pw));
}
static void w_unpatchify(struct ke_backend * be, float * o, const float * t, int C, int F, int H, int W, int ph, int pw)
{
    TIMED(KE_PROF_OTHER, P(be)->in->ops->unpatchify(P(be)->in, o, t, C, F, H, W, ph, pw));
}
static int w_conv3d_prepare(struct ke_backend * be, struct ke_conv3d * c) { return P(be)->in->ops->conv3d_prepare(P(be)->in, c); }
static void w_conv3d_release(struct ke_backend * be, struct ke_conv3d * c) { P(be)->in->ops->conv3d_release(P(be)->in, c); }
static void w_conv3d(struct ke_backend * be, float * y, const float * x, const struct ke_conv3d * c, int T, int H,
                     int W, int pt0, int pt1, int ph, int pw, int st, int sh, int sw)
{
    TIMED(KE_PROF_GEMM, P(be)->in->ops->conv3d(P(be)->in, y, x, c, T, H, W, pt0, pt1, ph, pw, st, sh, sw));
}

// fused ops: timed as the class of their main work
static void w_to_xbuf(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t n)
{
    TIMED(KE_PROF_OTHER, P(be)->in->ops->to_xbuf(P(be)->in, y, x, n));
}
static void w_layer_norm_mod_x(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t M, int64_t D,
                               const float * w, const float * b, float eps, const float * sh, const float * sc,
                               int64_t st, const int32_t * sel)
{
    TIMED(KE_PROF_OTHER, P(be)->in->ops->layer_norm_mod_x(P(be)->in, y, x, M, D, w, b, eps, sh, sc, st, sel));
}
static void w_rms_norm_rope_x(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t L, int H, int hd,
                              const float * w, float eps, const float * cs)
{
    TIMED(KE_PROF_OTHER, P(be)->in->ops->rms_norm_rope_x(P(be)->in, y, x, L, H, hd, w, eps, cs));
}
static void w_linear_x(struct ke_backend * be, float * y, const struct ke_xbuf * x, int64_t M, const struct ke_linear * l)
{
    TIMED(KE_PROF_GEMM, P(be)->in->ops->linear_x(P(be)->in, y, x, M, l));
}
static void w_linear_gelu_x(struct ke_backend * be, struct ke_xbuf * y, const struct ke_xbuf * x, int64_t M,
                            const struct ke_linear * l)
{
    TIMED(KE_PROF_GEMM, P(be)->in->ops->linear_gelu_x(P(be)->in, y, x, M, l));
}
static void w_linear_gated_add_x(struct ke_backend * be, float * r, const struct ke_xbuf * x, int64_t M,
                                 const struct ke_linear * l, const float * g, int64_t gs, const int32_t * sel,
                                 float * tmp)
{
    TIMED(KE_PROF_GEMM, P(be)->in->ops->linear_gated_add_x(P(be)->in, r, x, M, l, g, gs, sel, tmp));
}
static void w_attention_x(struct ke_backend * be, struct ke_xbuf * o, const struct ke_xbuf * q,
                          const struct ke_xbuf * k, const struct ke_xbuf * v, int64_t Lq, int64_t Lk, int H, int hd,
                          float scale)
{
    TIMED(KE_PROF_ATTENTION, P(be)->in->ops->attention_x(P(be)->in, o, q, k, v, Lq, Lk, H, hd, scale));
}
static void w_channel_l2norm_silu(struct ke_backend * be, float * y, const float * x, int C, int64_t N,
                                  const float * gamma)
{
    TIMED(KE_PROF_OTHER, P(be)->in->ops->channel_l2norm_silu(P(be)->in, y, x, C, N, gamma));
}
// the inner backend records failures in its own struct: hand them on to the wrapper's
static void w_status(struct ke_backend * be)
{
    struct ke_backend * in = P(be)->in;
    if (in->ops->status) {
        in->ops->status(in);
    }
    take_failure(be);
}

struct ke_backend * ke_backend_profile_wrap(struct ke_backend * inner)
{
    struct prof * p = calloc(1, sizeof(*p));
    if (!p) {
        return NULL;
    }
    p->in = inner;
    // Start from the inner table so ops added later still work (untimed) without a wrapper here.
    p->ops = *inner->ops;
    p->ops.name = inner->ops->name;
    p->ops.alloc = w_alloc;
    p->ops.free = w_free;
    p->ops.upload = w_upload;
    p->ops.download = w_download;
    p->ops.copy = w_copy;
    p->ops.memset0 = w_memset0;
    p->ops.sync = w_sync;
    p->ops.linear_prepare = w_linear_prepare;
    p->ops.linear_release = w_linear_release;
    p->ops.linear = w_linear;
    p->ops.layer_norm = w_layer_norm;
    p->ops.rms_norm = w_rms_norm;
    p->ops.modulate = w_modulate;
    p->ops.gated_add = w_gated_add;
    p->ops.gelu_tanh = w_gelu;
    p->ops.silu = w_silu;
    p->ops.mul = w_mul;
    p->ops.add = w_add;
    p->ops.scale = w_scale;
    p->ops.relu = w_relu;
    p->ops.soft_clamp = w_soft_clamp;
    p->ops.clamp = w_clamp;
    p->ops.rope = w_rope;
    p->ops.attention = w_attention;
    p->ops.patchify = w_patchify;
    p->ops.unpatchify = w_unpatchify;
    p->ops.conv3d_prepare = w_conv3d_prepare;
    p->ops.conv3d_release = w_conv3d_release;
    p->ops.conv3d = w_conv3d;
    p->ops.to_xbuf = w_to_xbuf;
    p->ops.layer_norm_mod_x = w_layer_norm_mod_x;
    p->ops.rms_norm_rope_x = w_rms_norm_rope_x;
    p->ops.linear_x = w_linear_x;
    p->ops.linear_gelu_x = w_linear_gelu_x;
    p->ops.linear_gated_add_x = w_linear_gated_add_x;
    p->ops.attention_x = w_attention_x;
    p->ops.channel_l2norm_silu = w_channel_l2norm_silu;
    p->ops.status = w_status;
    p->base.ops = &p->ops;
    p->base.precision = inner->precision;
    p->base.impl = inner->impl;
    return &p->base;
}

void ke_backend_profile_get(struct ke_backend * be, double t[KE_PROF_COUNT])
{
    memcpy(t, P(be)->t, sizeof(P(be)->t));
}

void ke_backend_profile_reset(struct ke_backend * be)
{
    memset(P(be)->t, 0, sizeof(P(be)->t));
    memset(P(be)->n, 0, sizeof(P(be)->n));
}

void ke_backend_profile_free(struct ke_backend * be)
{
    free(be);
}
