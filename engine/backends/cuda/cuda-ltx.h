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

#ifndef __CUDACC__
struct ke_backend;
void kc_ltx_pixel_norm_mod(struct ke_backend * be, float * y, const float * x, int C, int64_t N, float eps,
                           const float * shift, const float * scale, int silu);
void kc_ltx_group_norm(struct ke_backend * be, float * y, const float * x, int C, int64_t N, int G, float eps,
                       const float * w, const float * b, int silu);
void kc_ltx_pad2d_edge(struct ke_backend * be, float * y, const float * x, int64_t P, int H, int W, int p, int mode);
#endif

#ifdef __cplusplus
}
#endif
