// Kinora engine: CUDA kernel of the LTX-Video transformer op: RMS norm (no weight) + per-token AdaLN
// modulate in one pass, writing the bf16 GEMM input (the CPU reference is cpu-ltx-dit.c).
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "backends/cuda/cuda-ltx-dit.h"

#define LTX_ROW_THREADS 256

static __device__ __forceinline__ float ltx_warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    return v;
}

// Sum over the block (blockDim.x a multiple of 32); every thread gets the result.
static __device__ float ltx_block_sum(float v, float * sh)
{
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = ltx_warp_sum(v);
    __syncthreads();
    if (lane == 0) {
        sh[wid] = v;
    }
    __syncthreads();
    const float t = lane < nw ? sh[lane] : 0.0f;
    return ltx_warp_sum(t);
}

// One block per row: sum of squares, then y = x * rsqrt(mean + eps) * (1 + scale[s]) + shift[s] with
// s = sel ? sel[row] : 0 (the second read of the row hits the cache).
__global__ void k_ltx_rms_norm_mod(__nv_bfloat16 * __restrict__ y, const float * __restrict__ x, int64_t D, float eps,
                                   const float * __restrict__ shift, const float * __restrict__ scale, int64_t stride,
                                   const int32_t * __restrict__ sel)
{
    __shared__ float sh[32];
    const int64_t r = blockIdx.x;
    const float * xr = x + r * D;
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
        s += xr[i] * xr[i];
    }
    const float inv = rsqrtf(ltx_block_sum(s, sh) / (float) D + eps);
    const int64_t m = sel ? (int64_t) sel[r] * stride : 0;
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
        float v = xr[i] * inv;
        if (shift) {
            v = v * (1.0f + scale[m + i]) + shift[m + i];
        }
        y[r * D + i] = __float2bfloat16_rn(v);
    }
}

extern "C" int kc_ltx_rms_norm_mod(uint16_t * yb, const float * x, int64_t M, int64_t D, float eps,
                                   const float * shift, const float * scale, int64_t stride, const int32_t * sel,
                                   cudaStream_t s)
{
    if (M <= 0 || D <= 0) {
        return 0;
    }
    k_ltx_rms_norm_mod<<<(unsigned) M, LTX_ROW_THREADS, 0, s>>>((__nv_bfloat16 *) yb, x, D, eps, shift, scale, stride,
                                                               sel);
    return cudaGetLastError() == cudaSuccess ? 0 : -1;
}
