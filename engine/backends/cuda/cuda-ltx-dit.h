// Kinora engine: the CUDA backend's LTX-Video transformer op (backend.h, "LTX-Video transformer ops").
#pragma once

#include <stdint.h>

#include <cuda_runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

// yb[M, D] (bf16) = modulate(rms_norm(x, eps), shift, scale, stride, sel); 0 ok, -1 launch failure.
int kc_ltx_rms_norm_mod(uint16_t * yb, const float * x, int64_t M, int64_t D, float eps, const float * shift,
                        const float * scale, int64_t stride, const int32_t * sel, cudaStream_t s);

#ifdef __cplusplus
}
#endif

struct ke_backend;
struct ke_xbuf;
void cu_rms_norm_mod_x(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t M, int64_t D, float eps,
                       const float * shift, const float * scale, int64_t stride, const int32_t * sel);
