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
