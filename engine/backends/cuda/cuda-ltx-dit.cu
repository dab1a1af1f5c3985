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

// The same with float4 loads, the row held in registers between the two passes (NPT float4 per thread),
// bf16 pairs stored as 8 bytes: for D a multiple of 4 up to 8 * 4 * LTX_ROW_THREADS and 16-byte aligned rows.
template <int NPT>
__global__ void k_ltx_rms_norm_mod4(__nv_bfloat16 * __restrict__ y, const float * __restrict__ x, int64_t D, float eps,
                                    const float * __restrict__ shift, const float * __restrict__ scale,
                                    int64_t stride, const int32_t * __restrict__ sel)
{
    __shared__ float sh[32];
    const int64_t r = blockIdx.x, D4 = D / 4;
    const float4 * xr = reinterpret_cast<const float4 *>(x + r * D);
    float4 v[NPT];
    float s = 0.0f;
#pragma unroll
    for (int j = 0; j < NPT; j++) {
        const int64_t i = threadIdx.x + (int64_t) j * blockDim.x;
        v[j] = i < D4 ? xr[i] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        s += v[j].x * v[j].x + v[j].y * v[j].y + v[j].z * v[j].z + v[j].w * v[j].w;
    }
    const float inv = rsqrtf(ltx_block_sum(s, sh) / (float) D + eps);
    const int64_t m = sel ? (int64_t) sel[r] * stride : 0;
    const float4 * sc4 = scale ? reinterpret_cast<const float4 *>(scale + m) : NULL;
    const float4 * sf4 = shift ? reinterpret_cast<const float4 *>(shift + m) : NULL;
#pragma unroll
    for (int j = 0; j < NPT; j++) {
        const int64_t i = threadIdx.x + (int64_t) j * blockDim.x;
        if (i < D4) {
            float4 a = v[j];
            a.x *= inv, a.y *= inv, a.z *= inv, a.w *= inv;
            if (sf4) {
                const float4 c = sc4[i], f = sf4[i];
                a.x = a.x * (1.0f + c.x) + f.x;
                a.y = a.y * (1.0f + c.y) + f.y;
                a.z = a.z * (1.0f + c.z) + f.z;
                a.w = a.w * (1.0f + c.w) + f.w;
            }
            __nv_bfloat162 p0 = __floats2bfloat162_rn(a.x, a.y), p1 = __floats2bfloat162_rn(a.z, a.w);
            uint2 u;
            u.x = *reinterpret_cast<uint32_t *>(&p0);
            u.y = *reinterpret_cast<uint32_t *>(&p1);
            reinterpret_cast<uint2 *>(y + r * D)[i] = u;
        }
    }
}

static bool al16(const void * p)
{
    return ((uintptr_t) p & 15) == 0;
}

extern "C" int kc_ltx_rms_norm_mod(uint16_t * yb, const float * x, int64_t M, int64_t D, float eps,
                                   const float * shift, const float * scale, int64_t stride, const int32_t * sel,
                                   cudaStream_t s)
{
    if (M <= 0 || D <= 0) {
        return 0;
    }
    if (D % 4 == 0 && D <= 8 * 4 * LTX_ROW_THREADS && al16(x) && ((uintptr_t) yb & 7) == 0 &&
        (!shift || (stride % 4 == 0 && al16(shift) && al16(scale)))) {
        const int64_t per = (D / 4 + LTX_ROW_THREADS - 1) / LTX_ROW_THREADS;
        __nv_bfloat16 * o = (__nv_bfloat16 *) yb;
        if (per <= 2) {
            k_ltx_rms_norm_mod4<2><<<(unsigned) M, LTX_ROW_THREADS, 0, s>>>(o, x, D, eps, shift, scale, stride, sel);
        } else if (per <= 4) {
            k_ltx_rms_norm_mod4<4><<<(unsigned) M, LTX_ROW_THREADS, 0, s>>>(o, x, D, eps, shift, scale, stride, sel);
        } else {
            k_ltx_rms_norm_mod4<8><<<(unsigned) M, LTX_ROW_THREADS, 0, s>>>(o, x, D, eps, shift, scale, stride, sel);
        }
        return cudaGetLastError() == cudaSuccess ? 0 : -1;
    }
    k_ltx_rms_norm_mod<<<(unsigned) M, LTX_ROW_THREADS, 0, s>>>((__nv_bfloat16 *) yb, x, D, eps, shift, scale, stride,
                                                               sel);
    return cudaGetLastError() == cudaSuccess ? 0 : -1;
}
