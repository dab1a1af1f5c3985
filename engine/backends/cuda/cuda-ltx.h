// Kinora engine: the CUDA backend's LTX-Video VAE and latent upsampler ops (cuda-ltx.cu kernels,
// cuda-ltx.c table entries); semantics as the ops of the same names in backend.h.
#pragma once

#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

int kc_pixel_norm_mod(float * y, const float * x, int C, int64_t N, float eps, const float * shift,
                      const float * scale, int silu, cudaStream_t s);
int kc_group_norm(float * y, const float * x, int C, int64_t N, int G, float eps, const float * w, const float * b,
                  int silu, cudaStream_t s);
int kc_pad2d_edge(float * y, const float * x, int64_t P, int H, int W, int p, int mode, cudaStream_t s);
// The passes around the VAEs' bf16 channels-last convolutions (backend.h ltx_conv3d, ltx_resnet and
// wan_resnet): inv[N] = 1 / RMS over the C channels of x[C, N] (l2 == 0, LTX-Video's pixel norm) or
// sqrt(C) / max(||x[:, n]||, 1e-12) (l2 != 0, the Wan VAE's channel L2 norm); y[To, HW, C] bf16 from
// x[C, T, HW] with the edge frames repeated (output frame to reads clamp(to - front, 0, T - 1)),
// normalised when inv is given (then silu(x * inv * (one + scale) + shift), scale/shift may be NULL; one
// is 1 for a modulation, 0 for a gain); x[C, T, HW] (+)= y[T, HW, C] + bias.
int kc_ltx_pixel_inv(float * inv, const float * x, int C, int64_t N, float eps, int l2, cudaStream_t s);
int kc_ltx_to_ndhwc(uint16_t * y, const float * x, int C, int T, int64_t HW, int front, int To, const float * inv,
                    const float * shift, const float * scale, float one, cudaStream_t s);
int kc_ltx_from_ndhwc(float * x, const uint16_t * y, const float * bias, int C, int T, int64_t HW, int accumulate,
                      cudaStream_t s);
// y[T + front + back, HW, C] bf16 = silu(modulate(norm(x + bias))) of x[T, HW, C] bf16 (norm and modulation
// as above), the edge frames repeated (the norm between a resnet's two channels-last convolutions).
int kc_ltx_ndhwc_norm(uint16_t * y, const uint16_t * x, const float * bias, int C, int T, int64_t HW, int front,
                      int back, float eps, int l2, const float * shift, const float * scale, float one, cudaStream_t s);

#ifndef __CUDACC__
struct ke_backend;
void kc_ltx_pixel_norm_mod(struct ke_backend * be, float * y, const float * x, int C, int64_t N, float eps,
                           const float * shift, const float * scale, int silu);
void kc_ltx_group_norm(struct ke_backend * be, float * y, const float * x, int C, int64_t N, int G, float eps,
                       const float * w, const float * b, int silu);
void kc_ltx_pad2d_edge(struct ke_backend * be, float * y, const float * x, int64_t P, int H, int W, int p, int mode);
struct ke_conv3d;
void kc_ltx_conv3d_op(struct ke_backend * be, float * y, int accumulate, const float * x, const struct ke_conv3d * c,
                      int T, int H, int W, int front, int back, int norm, float eps, const float * shift,
                      const float * scale);
// The fused bf16 channels-last run of ltx_conv3d (cuda-conv.c): 0 done, -1 the conv is not narrow or
// cuDNN has no engine for it (nothing written: the caller composes the op).
int kc_ltx_conv3d(struct ke_backend * be, float * y, int accumulate, const float * x, const struct ke_conv3d * c,
                  int T, int H, int W, int front, int back, int norm, float eps, const float * shift,
                  const float * scale);
void kc_ltx_resnet_op(struct ke_backend * be, float * x, const struct ke_conv3d * c1, const struct ke_conv3d * c2,
                      int T, int H, int W, int front, int back, float eps, const float * ada);
// The fused run of ltx_resnet (cuda-conv.c): 0 done, -1 not both convs narrow, or no cuDNN engine (nothing
// written: the caller runs the two ltx_conv3d).
int kc_ltx_resnet(struct ke_backend * be, float * x, const struct ke_conv3d * c1, const struct ke_conv3d * c2, int T,
                  int H, int W, int front, int back, float eps, const float * ada);
// backend.h wan_resnet (cuda-conv.c): -1 when a conv is not narrow or cuDNN has no channels-last engine for it.
int kc_wan_resnet(struct ke_backend * be, float * acc, const float * x, const struct ke_conv3d * c1,
                  const struct ke_conv3d * c2, const float * g0, const float * g1, void * cache1, void * cache2,
                  int T, int H, int W);
#endif

#ifdef __cplusplus
}
#endif
