// Kinora engine: CUDA kernels of the backend table (conversions, norms, modulation, element-wise,
// RoPE, reference attention, DiT patch layout). Memory-bound: 16-byte accesses where rows allow.
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "backends/cuda/cuda-impl.h"

#define KC_LAUNCH_CHECK() return cudaGetLastError() == cudaSuccess ? 0 : -1

static inline unsigned grid_for(int64_t n, int threads)
{
    int64_t b = (n + threads - 1) / threads;
    if (b > 65535LL * 32) {
        b = 65535LL * 32;   // grid-stride loops cover the rest
    }
    return (unsigned) (b < 1 ? 1 : b);
}

// --- absolute maxima of what a kernel writes (the fp8 quantization's scale, cuda-fuse.c) ----------

// m raised to |v| (NaN never wins: the comparison is false), as kc_amax_bf16 reads a bf16 tensor.
static __device__ __forceinline__ float amax1(float m, float v)
{
    v = fabsf(v);
    return v > m ? v : m;
}

static __device__ __forceinline__ float amax4(float m, __nv_bfloat162 a, __nv_bfloat162 b)
{
    m = amax1(m, __low2float(a));
    m = amax1(m, __high2float(a));
    m = amax1(m, __low2float(b));
    return amax1(m, __high2float(b));
}

// Raise *amax to the largest m of the block (each m >= 0). Non-negative floats order as their bit
// patterns, so the maximum is an atomicMax on the bits; it is skipped where *amax already holds as much
// (most blocks of a large tensor, once a large value is in). Every thread of the block calls it, after
// the block's last read of sh (32 floats of shared memory).
static __device__ void block_amax_raise(float * amax, float m, float * sh)
{
    for (int o = 16; o > 0; o >>= 1) {
        const float t = __shfl_xor_sync(0xffffffffu, m, o);
        m = t > m ? t : m;
    }
    __syncthreads();
    if ((threadIdx.x & 31) == 0) {
        sh[threadIdx.x >> 5] = m;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < (int) (blockDim.x >> 5); w++) {
            m = sh[w] > m ? sh[w] : m;
        }
        if (m > *(volatile float *) amax) {
            atomicMax((unsigned *) amax, __float_as_uint(m));
        }
    }
}

// --- conversions -------------------------------------------------------------------------------

// (amax: see block_amax_raise; NULL for a plain conversion)
__global__ void k_f32_to_bf16(__nv_bfloat16 * __restrict__ d, const float * __restrict__ s, int64_t n,
                              float * amax)
{
    __shared__ float sh[32];
    float m = 0.0f;
    int64_t i = ((int64_t) blockIdx.x * blockDim.x + threadIdx.x) * 4;
    const int64_t step = (int64_t) gridDim.x * blockDim.x * 4;
    for (; i + 3 < n; i += step) {
        float4 v = *reinterpret_cast<const float4 *>(s + i);
        __nv_bfloat162 a = __floats2bfloat162_rn(v.x, v.y);
        __nv_bfloat162 b = __floats2bfloat162_rn(v.z, v.w);
        uint2 o;
        o.x = *reinterpret_cast<uint32_t *>(&a);
        o.y = *reinterpret_cast<uint32_t *>(&b);
        *reinterpret_cast<uint2 *>(d + i) = o;
        if (amax) {
            m = amax4(m, a, b);
        }
    }
    for (; i < n; i++) {
        d[i] = __float2bfloat16_rn(s[i]);
        if (amax) {
            m = amax1(m, __bfloat162float(d[i]));
        }
    }
    if (amax) {
        block_amax_raise(amax, m, sh);
    }
}

__global__ void k_f32_to_bf16_scalar(__nv_bfloat16 * d, const float * s, int64_t n, float * amax)
{
    __shared__ float sh[32];
    float m = 0.0f;
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        d[i] = __float2bfloat16_rn(s[i]);
        if (amax) {
            m = amax1(m, __bfloat162float(d[i]));
        }
    }
    if (amax) {
        block_amax_raise(amax, m, sh);
    }
}

__global__ void k_bf16_to_f32(float * __restrict__ d, const __nv_bfloat16 * __restrict__ s, int64_t n)
{
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        d[i] = __bfloat162float(s[i]);
    }
}

__global__ void k_f32_to_bf16_2d(__nv_bfloat16 * d, const float * s, int64_t rows, int64_t cols, int64_t ld)
{
    const int64_t n = rows * cols;
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        int64_t r = i / cols, c = i % cols;
        d[i] = __float2bfloat16_rn(s[r * ld + c]);
    }
}

extern "C" int kc_f32_to_bf16_amax(uint16_t * dst, const float * src, int64_t n, float * amax, cudaStream_t s)
{
    if (n <= 0) {
        return 0;
    }
    if (((uintptr_t) src % 16) == 0 && ((uintptr_t) dst % 8) == 0) {
        k_f32_to_bf16<<<grid_for((n + 3) / 4, 256), 256, 0, s>>>((__nv_bfloat16 *) dst, src, n, amax);
    } else {
        k_f32_to_bf16_scalar<<<grid_for(n, 256), 256, 0, s>>>((__nv_bfloat16 *) dst, src, n, amax);
    }
    KC_LAUNCH_CHECK();
}

extern "C" int kc_f32_to_bf16(uint16_t * dst, const float * src, int64_t n, cudaStream_t s)
{
    return kc_f32_to_bf16_amax(dst, src, n, NULL, s);
}

extern "C" int kc_bf16_to_f32(float * dst, const uint16_t * src, int64_t n, cudaStream_t s)
{
    if (n <= 0) {
        return 0;
    }
    k_bf16_to_f32<<<grid_for(n, 256), 256, 0, s>>>(dst, (const __nv_bfloat16 *) src, n);
    KC_LAUNCH_CHECK();
}

extern "C" int kc_f32_to_bf16_2d(uint16_t * dst, const float * src, int64_t rows, int64_t cols, int64_t ld,
                                 cudaStream_t s)
{
    if (rows * cols <= 0) {
        return 0;
    }
    k_f32_to_bf16_2d<<<grid_for(rows * cols, 256), 256, 0, s>>>((__nv_bfloat16 *) dst, src, rows, cols, ld);
    KC_LAUNCH_CHECK();
}

// --- block reductions --------------------------------------------------------------------------

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, <= 1024); every thread gets the result.
__device__ float block_sum(float v, float * sh)
{
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) {
        sh[wid] = v;
    }
    __syncthreads();
    float t = lane < nw ? sh[lane] : 0.0f;
    return warp_sum(t);
}

// --- row-wise ----------------------------------------------------------------------------------

#define ROW_THREADS 256

// One block per row. Two passes over the row (it stays in L1/L2): mean, then centred variance.
__global__ void k_layer_norm(float * __restrict__ y, const float * __restrict__ x, int64_t D,
                             const float * __restrict__ w, const float * __restrict__ b, float eps)
{
    __shared__ float sh[32];
    const float * xr = x + (int64_t) blockIdx.x * D;
    float * yr = y + (int64_t) blockIdx.x * D;
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
        s += xr[i];
    }
    const float mean = block_sum(s, sh) / (float) D;
    float v = 0.0f;
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
        float d = xr[i] - mean;
        v += d * d;
    }
    const float inv = rsqrtf(block_sum(v, sh) / (float) D + eps);
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
        float t = (xr[i] - mean) * inv;
        if (w) {
            t *= w[i];
        }
        if (b) {
            t += b[i];
        }
        yr[i] = t;
    }
}

__global__ void k_rms_norm(float * __restrict__ y, const float * __restrict__ x, int64_t D,
                           const float * __restrict__ w, float eps)
{
    __shared__ float sh[32];
    const float * xr = x + (int64_t) blockIdx.x * D;
    float * yr = y + (int64_t) blockIdx.x * D;
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
        s += xr[i] * xr[i];
    }
    const float inv = rsqrtf(block_sum(s, sh) / (float) D + eps);
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
        yr[i] = w ? xr[i] * inv * w[i] : xr[i] * inv;
    }
}

// LayerNorm (optional affine w/b), then optional modulate; the row is held in registers
// (D <= 4 * 256 * NPT). Writes f32 (y) and/or bf16 (yb).
template <int NPT>
__global__ void k_norm_modulate(float * __restrict__ y, __nv_bfloat16 * __restrict__ yb, const float * __restrict__ x,
                                int64_t D, float eps, const float * __restrict__ w, const float * __restrict__ bb,
                                const float * __restrict__ shift, const float * __restrict__ scale, int64_t stride,
                                const int32_t * __restrict__ sel, float * amax)
{
    __shared__ float sh[32];
    const int64_t r = blockIdx.x;
    const float4 * xr = reinterpret_cast<const float4 *>(x + r * D);
    const int64_t D4 = D / 4;
    float4 v[NPT];
    float s = 0.0f;
#pragma unroll
    for (int j = 0; j < NPT; j++) {
        int64_t i = threadIdx.x + (int64_t) j * blockDim.x;
        v[j] = i < D4 ? xr[i] : make_float4(0, 0, 0, 0);
        s += v[j].x + v[j].y + v[j].z + v[j].w;
    }
    const float mean = block_sum(s, sh) / (float) D;
    float q = 0.0f;
#pragma unroll
    for (int j = 0; j < NPT; j++) {
        int64_t i = threadIdx.x + (int64_t) j * blockDim.x;
        if (i < D4) {
            float a = v[j].x - mean, b = v[j].y - mean, c = v[j].z - mean, d = v[j].w - mean;
            q += a * a + b * b + c * c + d * d;
        }
    }
    const float inv = rsqrtf(block_sum(q, sh) / (float) D + eps);
    const int64_t sr = sel ? sel[r] : 0;
    float m = 0.0f;   // the largest |bf16 value| written (amax)
#pragma unroll
    for (int j = 0; j < NPT; j++) {
        int64_t i = threadIdx.x + (int64_t) j * blockDim.x;
        if (i < D4) {
            float4 o;
            o.x = (v[j].x - mean) * inv;
            o.y = (v[j].y - mean) * inv;
            o.z = (v[j].z - mean) * inv;
            o.w = (v[j].w - mean) * inv;
            if (w) {
                float4 g = reinterpret_cast<const float4 *>(w)[i];
                o.x *= g.x, o.y *= g.y, o.z *= g.z, o.w *= g.w;
            }
            if (bb) {
                float4 g = reinterpret_cast<const float4 *>(bb)[i];
                o.x += g.x, o.y += g.y, o.z += g.z, o.w += g.w;
            }
            if (shift) {
                float4 a = reinterpret_cast<const float4 *>(shift + sr * stride)[i];
                float4 c = reinterpret_cast<const float4 *>(scale + sr * stride)[i];
                o.x = o.x * (1.0f + c.x) + a.x;
                o.y = o.y * (1.0f + c.y) + a.y;
                o.z = o.z * (1.0f + c.z) + a.z;
                o.w = o.w * (1.0f + c.w) + a.w;
            }
            if (y) {
                reinterpret_cast<float4 *>(y + r * D)[i] = o;
            }
            if (yb) {
                __nv_bfloat162 p0 = __floats2bfloat162_rn(o.x, o.y), p1 = __floats2bfloat162_rn(o.z, o.w);
                uint2 u;
                u.x = *reinterpret_cast<uint32_t *>(&p0);
                u.y = *reinterpret_cast<uint32_t *>(&p1);
                reinterpret_cast<uint2 *>(yb + r * D)[i] = u;
                if (amax) {
                    m = amax4(m, p0, p1);
                }
            }
        }
    }
    if (amax) {
        block_amax_raise(amax, m, sh);
    }
}

// RMS norm over the whole row (weight w), then RoPE on pairs of each head; bf16 and/or f32 out.
template <int NPT>
__global__ void k_rms_rope(float * __restrict__ y, __nv_bfloat16 * __restrict__ yb, const float * __restrict__ x,
                           int64_t D, const float * __restrict__ w, float eps, int hd, const float * __restrict__ cs,
                           float * amax)
{
    __shared__ float sh[32];
    const int64_t r = blockIdx.x;
    const float4 * xr = reinterpret_cast<const float4 *>(x + r * D);
    const int64_t D4 = D / 4;
    float4 v[NPT];
    float s = 0.0f;
#pragma unroll
    for (int j = 0; j < NPT; j++) {
        int64_t i = threadIdx.x + (int64_t) j * blockDim.x;
        v[j] = i < D4 ? xr[i] : make_float4(0, 0, 0, 0);
        s += v[j].x * v[j].x + v[j].y * v[j].y + v[j].z * v[j].z + v[j].w * v[j].w;
    }
    const float inv = rsqrtf(block_sum(s, sh) / (float) D + eps);
    const float4 * csr = cs ? reinterpret_cast<const float4 *>(cs + r * hd) : NULL;
    float m = 0.0f;   // the largest |bf16 value| written (amax)
#pragma unroll
    for (int j = 0; j < NPT; j++) {
        int64_t i = threadIdx.x + (int64_t) j * blockDim.x;
        if (i < D4) {
            float4 a = v[j];
            if (w) {
                float4 g = reinterpret_cast<const float4 *>(w)[i];
                a.x = a.x * inv * g.x, a.y = a.y * inv * g.y, a.z = a.z * inv * g.z, a.w = a.w * inv * g.w;
            } else {
                a.x *= inv, a.y *= inv, a.z *= inv, a.w *= inv;
            }
            float4 o = a;
            if (csr) {
                const float4 c = csr[(int) ((i * 4) % hd) / 4];   // (cos p, sin p, cos p+1, sin p+1)
                o.x = a.x * c.x - a.y * c.y;
                o.y = a.x * c.y + a.y * c.x;
                o.z = a.z * c.z - a.w * c.w;
                o.w = a.z * c.w + a.w * c.z;
            }
            if (y) {
                reinterpret_cast<float4 *>(y + r * D)[i] = o;
            }
            if (yb) {
                __nv_bfloat162 p0 = __floats2bfloat162_rn(o.x, o.y), p1 = __floats2bfloat162_rn(o.z, o.w);
                uint2 u;
                u.x = *reinterpret_cast<uint32_t *>(&p0);
                u.y = *reinterpret_cast<uint32_t *>(&p1);
                reinterpret_cast<uint2 *>(yb + r * D)[i] = u;
                if (amax) {
                    m = amax4(m, p0, p1);
                }
            }
        }
    }
    if (amax) {
        block_amax_raise(amax, m, sh);
    }
}

__global__ void k_modulate4(float4 * __restrict__ y, const float4 * __restrict__ x, int64_t M, int64_t D4,
                            const float4 * __restrict__ shift, const float4 * __restrict__ scale, int64_t stride4,
                            const int32_t * __restrict__ sel)
{
    const int64_t n = M * D4;
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        const int64_t r = i / D4, c = i - r * D4;
        const int64_t s = sel ? sel[r] : 0;
        float4 a = x[i], sh = shift[s * stride4 + c], sc = scale[s * stride4 + c], o;
        o.x = a.x * (1.0f + sc.x) + sh.x;
        o.y = a.y * (1.0f + sc.y) + sh.y;
        o.z = a.z * (1.0f + sc.z) + sh.z;
        o.w = a.w * (1.0f + sc.w) + sh.w;
        y[i] = o;
    }
}

__global__ void k_modulate1(float * y, const float * x, int64_t M, int64_t D, const float * shift,
                            const float * scale, int64_t stride, const int32_t * sel)
{
    const int64_t n = M * D;
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        const int64_t r = i / D, c = i - r * D;
        const int64_t s = sel ? sel[r] : 0;
        y[i] = x[i] * (1.0f + scale[s * stride + c]) + shift[s * stride + c];
    }
}

__global__ void k_gated_add4(float4 * __restrict__ x, const float4 * __restrict__ y, int64_t M, int64_t D4,
                             const float4 * __restrict__ gate, int64_t stride4, const int32_t * __restrict__ sel)
{
    const int64_t n = M * D4;
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        float4 a = x[i], b = y[i];
        if (gate) {
            const int64_t r = i / D4, c = i - r * D4;
            const int64_t s = sel ? sel[r] : 0;
            float4 g = gate[s * stride4 + c];
            a.x += b.x * g.x;
            a.y += b.y * g.y;
            a.z += b.z * g.z;
            a.w += b.w * g.w;
        } else {
            a.x += b.x;
            a.y += b.y;
            a.z += b.z;
            a.w += b.w;
        }
        x[i] = a;
    }
}

__global__ void k_gated_add1(float * x, const float * y, int64_t M, int64_t D, const float * gate, int64_t stride,
                             const int32_t * sel)
{
    const int64_t n = M * D;
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        if (gate) {
            const int64_t r = i / D, c = i - r * D;
            const int64_t s = sel ? sel[r] : 0;
            x[i] += y[i] * gate[s * stride + c];
        } else {
            x[i] += y[i];
        }
    }
}

// x += gate[sel[r]] * y with y in bf16 (the output of an fp8 GEMM written narrow), 4 values a thread.
__global__ void k_gated_add_bf16_4(float4 * __restrict__ x, const uint2 * __restrict__ y, int64_t M, int64_t D4,
                                   const float4 * __restrict__ gate, int64_t stride4, const int32_t * __restrict__ sel)
{
    const int64_t n = M * D4;
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        const int64_t r = i / D4, c = i - r * D4;
        const int64_t s = sel ? sel[r] : 0;
        const float4 g = gate[s * stride4 + c];
        const uint2 u = y[i];
        float4 a = x[i];
        a.x += __uint_as_float(u.x << 16) * g.x;
        a.y += __uint_as_float(u.x & 0xffff0000u) * g.y;
        a.z += __uint_as_float(u.y << 16) * g.z;
        a.w += __uint_as_float(u.y & 0xffff0000u) * g.w;
        x[i] = a;
    }
}

__global__ void k_gated_add_bf16_1(float * x, const uint16_t * y, int64_t M, int64_t D, const float * gate,
                                   int64_t stride, const int32_t * sel)
{
    const int64_t n = M * D;
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        const int64_t r = i / D, c = i - r * D;
        const int64_t s = sel ? sel[r] : 0;
        x[i] += __uint_as_float((unsigned) y[i] << 16) * gate[s * stride + c];
    }
}

static inline bool al16(const void * p)
{
    return ((uintptr_t) p % 16) == 0;
}

extern "C" int kc_layer_norm(float * y, const float * x, int64_t M, int64_t D, const float * w, const float * b,
                             float eps, cudaStream_t s)
{
    if (M <= 0 || D <= 0) {
        return 0;
    }
    k_layer_norm<<<(unsigned) M, ROW_THREADS, 0, s>>>(y, x, D, w, b, eps);
    KC_LAUNCH_CHECK();
}

extern "C" int kc_rms_norm(float * y, const float * x, int64_t M, int64_t D, const float * w, float eps, cudaStream_t s)
{
    if (M <= 0 || D <= 0) {
        return 0;
    }
    k_rms_norm<<<(unsigned) M, ROW_THREADS, 0, s>>>(y, x, D, w, eps);
    KC_LAUNCH_CHECK();
}

extern "C" int kc_modulate(float * y, const float * x, int64_t M, int64_t D, const float * shift, const float * scale,
                           int64_t stride, const int32_t * sel, cudaStream_t s)
{
    if (M <= 0 || D <= 0) {
        return 0;
    }
    if (D % 4 == 0 && stride % 4 == 0 && al16(y) && al16(x) && al16(shift) && al16(scale)) {
        k_modulate4<<<grid_for(M * D / 4, 256), 256, 0, s>>>((float4 *) y, (const float4 *) x, M, D / 4,
                                                            (const float4 *) shift, (const float4 *) scale,
                                                            stride / 4, sel);
    } else {
        k_modulate1<<<grid_for(M * D, 256), 256, 0, s>>>(y, x, M, D, shift, scale, stride, sel);
    }
    KC_LAUNCH_CHECK();
}

extern "C" int kc_gated_add(float * x, const float * y, int64_t M, int64_t D, const float * gate, int64_t stride,
                            const int32_t * sel, cudaStream_t s)
{
    if (M <= 0 || D <= 0) {
        return 0;
    }
    if (D % 4 == 0 && (!gate || (stride % 4 == 0 && al16(gate))) && al16(x) && al16(y)) {
        k_gated_add4<<<grid_for(M * D / 4, 256), 256, 0, s>>>((float4 *) x, (const float4 *) y, M, D / 4,
                                                             (const float4 *) gate, stride / 4, sel);
    } else {
        k_gated_add1<<<grid_for(M * D, 256), 256, 0, s>>>(x, y, M, D, gate, stride, sel);
    }
    KC_LAUNCH_CHECK();
}

extern "C" int kc_gated_add_bf16(float * x, const uint16_t * y, int64_t M, int64_t D, const float * gate,
                                 int64_t stride, const int32_t * sel, cudaStream_t s)
{
    if (M <= 0 || D <= 0) {
        return 0;
    }
    if (D % 4 == 0 && stride % 4 == 0 && al16(gate) && al16(x) && ((uintptr_t) y % 8) == 0) {
        k_gated_add_bf16_4<<<grid_for(M * D / 4, 256), 256, 0, s>>>((float4 *) x, (const uint2 *) y, M, D / 4,
                                                                   (const float4 *) gate, stride / 4, sel);
    } else {
        k_gated_add_bf16_1<<<grid_for(M * D, 256), 256, 0, s>>>(x, y, M, D, gate, stride, sel);
    }
    KC_LAUNCH_CHECK();
}

extern "C" int kc_norm_modulate(float * y, uint16_t * yb, const float * x, int64_t M, int64_t D, float eps,
                                const float * w, const float * b, const float * shift, const float * scale,
                                int64_t stride, const int32_t * sel, float * amax, cudaStream_t s)
{
    if (M <= 0 || D <= 0) {
        return 0;
    }
    if (D % 4 != 0 || !al16(x) || (w && !al16(w)) || (b && !al16(b)) ||
        (shift && (stride % 4 != 0 || !al16(shift) || !al16(scale))) || (y && !al16(y)) ||
        (yb && ((uintptr_t) yb % 8) != 0) || D > 4 * ROW_THREADS * 8) {
        return -2;   // caller composes the unfused ops
    }
    const int64_t per = (D / 4 + ROW_THREADS - 1) / ROW_THREADS;
    __nv_bfloat16 * o = (__nv_bfloat16 *) yb;
    if (per <= 2) {
        k_norm_modulate<2><<<(unsigned) M, ROW_THREADS, 0, s>>>(y, o, x, D, eps, w, b, shift, scale, stride, sel,
                                                                   o ? amax : NULL);
    } else if (per <= 4) {
        k_norm_modulate<4><<<(unsigned) M, ROW_THREADS, 0, s>>>(y, o, x, D, eps, w, b, shift, scale, stride, sel,
                                                                   o ? amax : NULL);
    } else {
        k_norm_modulate<8><<<(unsigned) M, ROW_THREADS, 0, s>>>(y, o, x, D, eps, w, b, shift, scale, stride, sel,
                                                                   o ? amax : NULL);
    }
    KC_LAUNCH_CHECK();
}

extern "C" int kc_rms_rope(float * y, uint16_t * yb, const float * x, int64_t L, int64_t D, const float * w, float eps,
                           int head_dim, const float * cs, float * amax, cudaStream_t s)
{
    if (L <= 0 || D <= 0) {
        return 0;
    }
    if (D % 4 != 0 || head_dim % 4 != 0 || D % head_dim != 0 || !al16(x) || (w && !al16(w)) || (cs && !al16(cs)) ||
        (y && !al16(y)) || (yb && ((uintptr_t) yb % 8) != 0) || D > 4 * ROW_THREADS * 8) {
        return -2;
    }
    const int64_t per = (D / 4 + ROW_THREADS - 1) / ROW_THREADS;
    __nv_bfloat16 * o = (__nv_bfloat16 *) yb;
    if (per <= 2) {
        k_rms_rope<2><<<(unsigned) L, ROW_THREADS, 0, s>>>(y, o, x, D, w, eps, head_dim, cs, o ? amax : NULL);
    } else if (per <= 4) {
        k_rms_rope<4><<<(unsigned) L, ROW_THREADS, 0, s>>>(y, o, x, D, w, eps, head_dim, cs, o ? amax : NULL);
    } else {
        k_rms_rope<8><<<(unsigned) L, ROW_THREADS, 0, s>>>(y, o, x, D, w, eps, head_dim, cs, o ? amax : NULL);
    }
    KC_LAUNCH_CHECK();
}

// --- element-wise ------------------------------------------------------------------------------

__global__ void k_gelu_tanh(float * x, int64_t n)
{
    const float k = 0.7978845608028654f;
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        float u = x[i];
        x[i] = 0.5f * u * (1.0f + tanhf(k * (u + 0.044715f * u * u * u)));
    }
}

__global__ void k_silu(float * x, int64_t n)
{
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        float u = x[i];
        x[i] = u / (1.0f + expf(-u));
    }
}

__global__ void k_mul(float * y, const float * a, const float * b, int64_t n)
{
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        y[i] = a[i] * b[i];
    }
}

__global__ void k_add(float * y, const float * a, const float * b, int64_t n)
{
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        y[i] = a[i] + b[i];
    }
}

__global__ void k_scale(float * y, const float * x, float a, int64_t n)
{
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        y[i] = x[i] * a;
    }
}

__global__ void k_fill(float * y, float v, int64_t n)
{
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        y[i] = v;
    }
}

#define EW_GUARD() \
    if (n <= 0) {  \
        return 0;  \
    }

extern "C" int kc_gelu_tanh(float * x, int64_t n, cudaStream_t s)
{
    EW_GUARD();
    k_gelu_tanh<<<grid_for(n, 256), 256, 0, s>>>(x, n);
    KC_LAUNCH_CHECK();
}

extern "C" int kc_silu(float * x, int64_t n, cudaStream_t s)
{
    EW_GUARD();
    k_silu<<<grid_for(n, 256), 256, 0, s>>>(x, n);
    KC_LAUNCH_CHECK();
}

extern "C" int kc_mul(float * y, const float * a, const float * b, int64_t n, cudaStream_t s)
{
    EW_GUARD();
    k_mul<<<grid_for(n, 256), 256, 0, s>>>(y, a, b, n);
    KC_LAUNCH_CHECK();
}

extern "C" int kc_add(float * y, const float * a, const float * b, int64_t n, cudaStream_t s)
{
    EW_GUARD();
    k_add<<<grid_for(n, 256), 256, 0, s>>>(y, a, b, n);
    KC_LAUNCH_CHECK();
}

extern "C" int kc_scale(float * y, const float * x, float a, int64_t n, cudaStream_t s)
{
    EW_GUARD();
    k_scale<<<grid_for(n, 256), 256, 0, s>>>(y, x, a, n);
    KC_LAUNCH_CHECK();
}

extern "C" int kc_fill(float * y, float v, int64_t n, cudaStream_t s)
{
    EW_GUARD();
    k_fill<<<grid_for(n, 256), 256, 0, s>>>(y, v, n);
    KC_LAUNCH_CHECK();
}

// y = sum of up to four c_j x_j in double (the sampler's updates, ops.lincomb)
__global__ void k_lincomb(float * y, int nt, const float * x0, const float * x1, const float * x2, const float * x3,
                          double c0, double c1, double c2, double c3, int64_t n)
{
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        double v = c0 * (double) x0[i];
        if (nt > 1) {
            v += c1 * (double) x1[i];
        }
        if (nt > 2) {
            v += c2 * (double) x2[i];
        }
        if (nt > 3) {
            v += c3 * (double) x3[i];
        }
        y[i] = (float) v;
    }
}

extern "C" int kc_lincomb(float * y, int nt, const float * const * x, const double * c, int64_t n, cudaStream_t s)
{
    EW_GUARD();
    if (nt < 1 || nt > 4) {
        return -1;
    }
    k_lincomb<<<grid_for(n, 256), 256, 0, s>>>(y, nt, x[0], nt > 1 ? x[1] : x[0], nt > 2 ? x[2] : x[0],
                                               nt > 3 ? x[3] : x[0], c[0], nt > 1 ? c[1] : 0.0,
                                               nt > 2 ? c[2] : 0.0, nt > 3 ? c[3] : 0.0, n);
    KC_LAUNCH_CHECK();
}

// bias[h, i, j] = tv[h, j - i + L - 1] (T5's relative position bias from its per-head diagonals)
__global__ void k_rel_bias(float * bias, const float * tv, int64_t L, int64_t n)
{
    for (int64_t p = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; p < n; p += (int64_t) gridDim.x * blockDim.x) {
        const int64_t j = p % L, r = p / L, i = r % L, h = r / L;
        bias[p] = tv[h * (2 * L - 1) + j - i + L - 1];
    }
}

extern "C" int kc_rel_bias(float * bias, const float * tv, int64_t L, int H, cudaStream_t s)
{
    const int64_t n = (int64_t) H * L * L;
    EW_GUARD();
    k_rel_bias<<<grid_for(n, 256), 256, 0, s>>>(bias, tv, L, n);
    KC_LAUNCH_CHECK();
}

// *first = min(*first, index of each non-finite x[i]) (*first preset to all ones)
__global__ void k_first_nonfinite(const float * x, int64_t n, unsigned long long * first)
{
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        if (!isfinite(x[i])) {
            atomicMin(first, (unsigned long long) i);
        }
    }
}

extern "C" int kc_first_nonfinite(const float * x, int64_t n, unsigned long long * first, cudaStream_t s)
{
    if (cudaMemsetAsync(first, 0xff, sizeof(*first), s) != cudaSuccess) {
        return -1;
    }
    EW_GUARD();
    k_first_nonfinite<<<grid_for(n, 256), 256, 0, s>>>(x, n, first);
    KC_LAUNCH_CHECK();
}

// --- RoPE --------------------------------------------------------------------------------------

__global__ void k_rope(float2 * x, int64_t L, int H, int half, const float2 * cs)
{
    const int64_t n = L * H * half;
    for (int64_t p = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; p < n; p += (int64_t) gridDim.x * blockDim.x) {
        const int64_t r = p / ((int64_t) H * half);
        const int i = (int) (p % half);
        const float2 c = cs[r * half + i];
        float2 v = x[p];
        x[p] = make_float2(v.x * c.x - v.y * c.y, v.x * c.y + v.y * c.x);
    }
}

extern "C" int kc_rope(float * x, int64_t L, int n_heads, int head_dim, const float * cs, cudaStream_t s)
{
    const int64_t n = L * n_heads * (head_dim / 2);
    if (n <= 0) {
        return 0;
    }
    k_rope<<<grid_for(n, 256), 256, 0, s>>>((float2 *) x, L, n_heads, head_dim / 2, (const float2 *) cs);
    KC_LAUNCH_CHECK();
}

// --- reference attention (f32) -----------------------------------------------------------------

// One warp per (query row, head). Lane l holds dims l, l+32, ... (NPL of them: head_dim <= 32 * NPL).
template <int NPL>
__global__ void k_attention_f32(float * o, const float * q, const float * k, const float * v, int64_t Lq, int64_t Lk,
                                int H, int hd, float scale, const float * bias)
{
    const int64_t warp = ((int64_t) blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int lane = threadIdx.x & 31;
    if (warp >= Lq * H) {
        return;
    }
    const int64_t qi = warp / H;
    const int h = (int) (warp % H);
    const int64_t row = (int64_t) H * hd;
    float qv[NPL], acc[NPL];
#pragma unroll
    for (int j = 0; j < NPL; j++) {
        int d = lane + 32 * j;
        qv[j] = d < hd ? q[qi * row + (int64_t) h * hd + d] * scale : 0.0f;
        acc[j] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    for (int64_t kj = 0; kj < Lk; kj++) {
        const float * kr = k + kj * row + (int64_t) h * hd;
        float sdot = 0.0f;
#pragma unroll
        for (int j = 0; j < NPL; j++) {
            int d = lane + 32 * j;
            if (d < hd) {
                sdot += qv[j] * kr[d];
            }
        }
        sdot = warp_sum(sdot);
        if (bias) {
            sdot += bias[((int64_t) h * Lq + qi) * Lk + kj];
        }
        const float mn = fmaxf(m, sdot);
        const float corr = expf(m - mn);
        const float p = expf(sdot - mn);
        l = l * corr + p;
        const float * vr = v + kj * row + (int64_t) h * hd;
#pragma unroll
        for (int j = 0; j < NPL; j++) {
            int d = lane + 32 * j;
            if (d < hd) {
                acc[j] = acc[j] * corr + p * vr[d];
            }
        }
        m = mn;
    }
    const float inv = 1.0f / l;
#pragma unroll
    for (int j = 0; j < NPL; j++) {
        int d = lane + 32 * j;
        if (d < hd) {
            o[qi * row + (int64_t) h * hd + d] = acc[j] * inv;
        }
    }
}

extern "C" int kc_attention_f32(float * o, const float * q, const float * k, const float * v, int64_t Lq, int64_t Lk,
                                int n_heads, int head_dim, float scale, const float * bias, cudaStream_t s)
{
    if (head_dim > 1024 || head_dim <= 0) {
        return -1;
    }
    const int64_t warps = Lq * n_heads;
    if (warps <= 0) {
        return 0;
    }
    const int threads = 256;
    const unsigned blocks = (unsigned) ((warps * 32 + threads - 1) / threads);
    if (head_dim <= 64) {
        k_attention_f32<2><<<blocks, threads, 0, s>>>(o, q, k, v, Lq, Lk, n_heads, head_dim, scale, bias);
    } else if (head_dim <= 128) {
        k_attention_f32<4><<<blocks, threads, 0, s>>>(o, q, k, v, Lq, Lk, n_heads, head_dim, scale, bias);
    } else if (head_dim <= 256) {
        k_attention_f32<8><<<blocks, threads, 0, s>>>(o, q, k, v, Lq, Lk, n_heads, head_dim, scale, bias);
    } else if (head_dim <= 512) {
        k_attention_f32<16><<<blocks, threads, 0, s>>>(o, q, k, v, Lq, Lk, n_heads, head_dim, scale, bias);
    } else {
        k_attention_f32<32><<<blocks, threads, 0, s>>>(o, q, k, v, Lq, Lk, n_heads, head_dim, scale, bias);
    }
    KC_LAUNCH_CHECK();
}

// --- DiT layout --------------------------------------------------------------------------------

__global__ void k_patchify(float * out, const float * x, int C, int F, int H, int W, int ph, int pw)
{
    const int Hp = H / ph, Wp = W / pw;
    const int64_t K = (int64_t) C * ph * pw;
    const int64_t n = (int64_t) F * Hp * Wp * K;
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        const int64_t tok = i / K;
        const int e = (int) (i % K);
        const int c = e / (ph * pw), dy = (e / pw) % ph, dx = e % pw;
        const int xx = (int) (tok % Wp), y = (int) ((tok / Wp) % Hp), f = (int) (tok / ((int64_t) Wp * Hp));
        out[i] = x[(((int64_t) c * F + f) * H + (y * ph + dy)) * W + xx * pw + dx];
    }
}

__global__ void k_unpatchify(float * out, const float * tok, int C, int F, int H, int W, int ph, int pw)
{
    const int Hp = H / ph, Wp = W / pw;
    const int64_t n = (int64_t) C * F * Hp * ph * Wp * pw;
    const int Hc = Hp * ph, Wc = Wp * pw;
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        const int X = (int) (i % Wc), Y = (int) ((i / Wc) % Hc);
        const int f = (int) ((i / ((int64_t) Wc * Hc)) % F), c = (int) (i / ((int64_t) Wc * Hc * F));
        const int y = Y / ph, dy = Y % ph, xx = X / pw, dx = X % pw;
        const int64_t t = ((int64_t) f * Hp + y) * Wp + xx;
        out[(((int64_t) c * F + f) * H + Y) * W + X] = tok[t * ((int64_t) C * ph * pw) + (dy * pw + dx) * C + c];
    }
}

__global__ void k_pad_time(float * y, const float * x, int C, int T, int64_t HW, int pt0, int pt1)
{
    const int To = T + pt0 + pt1;
    const int64_t n = (int64_t) C * To * HW;
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        const int64_t p = i % HW;
        const int t = (int) ((i / HW) % To), c = (int) (i / (HW * To));
        const int ti = t - pt0;
        y[i] = (ti >= 0 && ti < T) ? x[((int64_t) c * T + ti) * HW + p] : 0.0f;
    }
}

extern "C" int kc_patchify(float * out, const float * x, int C, int F, int H, int W, int ph, int pw, cudaStream_t s)
{
    const int64_t n = (int64_t) F * (H / ph) * (W / pw) * C * ph * pw;
    if (n <= 0) {
        return 0;
    }
    k_patchify<<<grid_for(n, 256), 256, 0, s>>>(out, x, C, F, H, W, ph, pw);
    KC_LAUNCH_CHECK();
}

extern "C" int kc_unpatchify(float * out, const float * tok, int C, int F, int H, int W, int ph, int pw, cudaStream_t s)
{
    const int64_t n = (int64_t) C * F * (H / ph) * ph * (W / pw) * pw;
    if (n <= 0) {
        return 0;
    }
    k_unpatchify<<<grid_for(n, 256), 256, 0, s>>>(out, tok, C, F, H, W, ph, pw);
    KC_LAUNCH_CHECK();
}

extern "C" int kc_pad_time(float * y, const float * x, int C, int T, int64_t HW, int pt0, int pt1, cudaStream_t s)
{
    const int64_t n = (int64_t) C * (T + pt0 + pt1) * HW;
    if (n <= 0) {
        return 0;
    }
    k_pad_time<<<grid_for(n, 256), 256, 0, s>>>(y, x, C, T, HW, pt0, pt1);
    KC_LAUNCH_CHECK();
}

// W'[n, k] = g[n] * W[n, k] (bf16): a gate folded into a weight for one GEMM.
__global__ void k_scale_rows_bf16(__nv_bfloat16 * __restrict__ d, const __nv_bfloat16 * __restrict__ w,
                                  const float * __restrict__ g, int64_t N, int64_t K)
{
    const int64_t n8 = N * K / 8;
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n8; i += (int64_t) gridDim.x * blockDim.x) {
        const float gv = g[(i * 8) / K];
        uint4 u = reinterpret_cast<const uint4 *>(w)[i];
        __nv_bfloat162 * h = reinterpret_cast<__nv_bfloat162 *>(&u);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            float2 f = __bfloat1622float2(h[j]);
            h[j] = __floats2bfloat162_rn(f.x * gv, f.y * gv);
        }
        reinterpret_cast<uint4 *>(d)[i] = u;
    }
}

extern "C" int kc_scale_rows_bf16(uint16_t * dst, const uint16_t * w, const float * g, int64_t N, int64_t K,
                                  cudaStream_t s)
{
    if (K % 8 != 0 || ((uintptr_t) dst % 16) != 0 || ((uintptr_t) w % 16) != 0) {
        return -2;
    }
    if (N * K <= 0) {
        return 0;
    }
    k_scale_rows_bf16<<<grid_for(N * K / 8, 256), 256, 0, s>>>((__nv_bfloat16 *) dst, (const __nv_bfloat16 *) w, g,
                                                              N, K);
    KC_LAUNCH_CHECK();
}

// Row softmax of s[rows, n] (f32, scaled by `scale`) written as bf16 p[rows, n]; one block per row.
__global__ void k_softmax_bf16(__nv_bfloat16 * __restrict__ p, const float * __restrict__ s, int64_t n, float scale)
{
    __shared__ float sh[32];
    const float * r = s + (int64_t) blockIdx.x * n;
    __nv_bfloat16 * o = p + (int64_t) blockIdx.x * n;
    float m = -INFINITY;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        m = fmaxf(m, r[i]);
    }
    // block max through the shared array (negate to reuse the sum helper would lose -inf; do it directly)
    for (int o2 = 16; o2 > 0; o2 >>= 1) {
        m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o2));
    }
    __syncthreads();
    if ((threadIdx.x & 31) == 0) {
        sh[threadIdx.x >> 5] = m;
    }
    __syncthreads();
    m = (threadIdx.x & 31) < (blockDim.x >> 5) ? sh[threadIdx.x & 31] : -INFINITY;
    for (int o2 = 16; o2 > 0; o2 >>= 1) {
        m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o2));
    }
    float sum = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        sum += expf((r[i] - m) * scale);
    }
    __syncthreads();
    sum = block_sum(sum, sh);
    const float inv = 1.0f / sum;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        o[i] = __float2bfloat16_rn(expf((r[i] - m) * scale) * inv);
    }
}

extern "C" int kc_softmax_bf16(uint16_t * p, const float * s, int64_t rows, int64_t n, float scale, cudaStream_t st)
{
    if (rows <= 0 || n <= 0) {
        return 0;
    }
    k_softmax_bf16<<<(unsigned) rows, 256, 0, st>>>((__nv_bfloat16 *) p, s, n, scale);
    KC_LAUNCH_CHECK();
}
