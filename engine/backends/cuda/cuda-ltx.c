// Kinora engine: the CUDA backend's table entries for the LTX-Video VAE and latent upsampler ops.
#include "backends/cuda/cuda-backend.h"
#include "backends/cuda/cuda-ltx.h"

void kc_ltx_pixel_norm_mod(struct ke_backend * be, float * y, const float * x, int C, int64_t N, float eps,
                           const float * shift, const float * scale, int silu)
{
    EW_OP(kc_pixel_norm_mod(y, x, C, N, eps, shift, scale, silu, s->stream));
}

void kc_ltx_group_norm(struct ke_backend * be, float * y, const float * x, int C, int64_t N, int G, float eps,
                       const float * w, const float * b, int silu)
{
    EW_OP(kc_group_norm(y, x, C, N, G, eps, w, b, silu, s->stream));
}

void kc_ltx_pad2d_edge(struct ke_backend * be, float * y, const float * x, int64_t P, int H, int W, int p, int mode)
{
    EW_OP(kc_pad2d_edge(y, x, P, H, W, p, mode, s->stream));
}

// backend.h ltx_conv3d: the fused bf16 channels-last run when the conv was prepared narrow (cuda-conv.c),
// else the composition the CPU runs, on the device's kernels.
void kc_ltx_conv3d_op(struct ke_backend * be, float * y, int accumulate, const float * x, const struct ke_conv3d * c,
                      int T, int H, int W, int front, int back, int norm, float eps, const float * shift,
                      const float * scale)
{
    struct kc_state * s = kc_st(be);
    if (kc_ltx_conv3d(be, y, accumulate, x, c, T, H, W, front, back, norm, eps, shift, scale) == 0 ||
        ke_be_failed(be)) {
        return;
    }
    const int C = c->c_in, Tp = T + front + back;
    const int64_t hw = (int64_t) H * W, n_out = (int64_t) c->c_out * T * hw;
    const size_t bn = (size_t) ((int64_t) C * T * hw) * 4, bp = (size_t) ((int64_t) C * Tp * hw) * 4;
    float * xn = norm ? kc_alloc(s, bn) : NULL;
    float * xp = kc_alloc(s, bp);
    float * t = accumulate ? kc_alloc(s, (size_t) n_out * 4) : NULL;
    if ((norm && !xn) || !xp || (accumulate && !t)) {
        kc_fail_nomem(s, "an LTX-Video VAE convolution's input", bn + bp + (accumulate ? (size_t) n_out * 4 : 0));
    } else {
        const float * src = x;
        PROF_BEGIN(s, KC_CLASS_OTHER);
        if (norm) {
            KC(s, kc_pixel_norm_mod(xn, x, C, T * hw, eps, shift, scale, 1, s->stream));
            src = xn;
        }
        KC(s, kc_frame_copy(xp, 0, Tp, front, src, 0, T, 0, T, C, hw, s->stream));
        for (int i = 0; i < front; i++) {
            KC(s, kc_frame_copy(xp, 0, Tp, i, src, 0, T, 0, 1, C, hw, s->stream));
        }
        for (int i = 0; i < back; i++) {
            KC(s, kc_frame_copy(xp, 0, Tp, front + T + i, src, 0, T, T - 1, 1, C, hw, s->stream));
        }
        PROF_END(s);
        PROF_BEGIN(s, KC_CLASS_GEMM);
        kc_conv3d(be, accumulate ? t : y, xp, c, Tp, H, W, 0, 0, c->kh / 2, c->kw / 2, 1, 1, 1);
        PROF_END(s);
        if (accumulate) {
            PROF_BEGIN(s, KC_CLASS_OTHER);
            KC(s, kc_add(y, y, t, n_out, s->stream));
            PROF_END(s);
        }
    }
    kc_free(s, xn);
    kc_free(s, xp);
    kc_free(s, t);
}

// backend.h ltx_resnet: fused when both convs were prepared narrow (cuda-conv.c), else its two ltx_conv3d.
void kc_ltx_resnet_op(struct ke_backend * be, float * x, const struct ke_conv3d * c1, const struct ke_conv3d * c2,
                      int T, int H, int W, int front, int back, float eps, const float * ada)
{
    struct kc_state * s = kc_st(be);
    if (kc_ltx_resnet(be, x, c1, c2, T, H, W, front, back, eps, ada) == 0 || ke_be_failed(be)) {
        return;
    }
    const int C = c1->c_in;
    const size_t n = (size_t) ((int64_t) c1->c_out * T * H * W) * 4;
    float * h = kc_alloc(s, n);
    if (!h) {
        kc_fail_nomem(s, "an LTX-Video VAE resnet's hidden state", n);
        return;
    }
    kc_ltx_conv3d_op(be, h, 0, x, c1, T, H, W, front, back, 1, eps, ada ? ada : NULL, ada ? ada + C : NULL);
    kc_ltx_conv3d_op(be, x, 1, h, c2, T, H, W, front, back, 1, eps, ada ? ada + 2 * C : NULL,
                     ada ? ada + 3 * C : NULL);
    kc_free(s, h);
}
