// Kinora engine: fp8 e4m3 activations for the fp8 precision (GEMM operands, attention q/k/v): the
// absolute maximum of a bf16 tensor, its quantization with a per-tensor scale taken from that maximum
// on the device (no host round trip), and e4m3 back to bf16. Scales follow the usual convention:
// q = sat_e4m3(x * scale), x ~= q * descale, scale = 448 / amax (1 when amax is 0 or not finite).
#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include "backends/cuda/cuda-impl.h"

#define E4M3_MAX 448.0f

static __device__ __forceinline__ float bf16_to_f(uint16_t v)
{
    return __uint_as_float((unsigned) v << 16);
}

static __device__ __forceinline__ uint16_t f_to_bf16(float f)
{
    __nv_bfloat16 b = __float2bfloat16_rn(f);
    return *reinterpret_cast<uint16_t *>(&b);
}

static __device__ __forceinline__ uint8_t f_to_e4m3(float f)
{
    return (uint8_t) __nv_cvt_float_to_fp8(f, __NV_SATFINITE, __NV_E4M3);
}

static __device__ __forceinline__ float e4m3_to_f(uint8_t v)
{
    __half_raw h = __nv_cvt_fp8_to_halfraw((__nv_fp8_storage_t) v, __NV_E4M3);
    return __half2float(__half(h));
}

static __device__ __forceinline__ float scale_of(float amax)
{
    return amax > 0.0f && amax < 3.0e38f ? E4M3_MAX / amax : 1.0f;
}

// The block's largest m into *amax (non-negative floats order as their bit patterns: an atomicMax on the
// bits). Every thread of the block calls it.
static __device__ void block_amax(float * amax, float m)
{
    for (int o = 16; o > 0; o >>= 1) {
        const float t = __shfl_xor_sync(0xffffffffu, m, o);
        m = t > m ? t : m;
    }
    __shared__ float wm[32];
    if ((threadIdx.x & 31) == 0) {
        wm[threadIdx.x >> 5] = m;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < (int) (blockDim.x >> 5); w++) {
            m = wm[w] > m ? wm[w] : m;
        }
        atomicMax((unsigned *) amax, __float_as_uint(m));
    }
}

// amax over rows x cols (row stride ld); *amax must hold 0 (or a running maximum) before. Non-negative
// floats order as their bit patterns, so the maximum is an atomicMax on the bits.
__global__ void k_amax_bf16(float * amax, const uint16_t * x, int64_t rows, int64_t cols, int64_t ld)
{
    float m = 0.0f;
    const int64_t n = rows * cols;
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        const int64_t r = i / cols, c = i - r * cols;
        const float v = fabsf(bf16_to_f(x[r * ld + c]));
        m = v > m ? v : m;   // a NaN never wins (the comparison is false)
    }
    block_amax(amax, m);
}

// Packed rows of 8 values (cols % 8 == 0, 16-byte aligned rows): one thread per 8 values.
__global__ void k_amax_bf16_v8(float * amax, const uint4 * x, int64_t rows, int64_t cols8, int64_t ld8)
{
    float m = 0.0f;
    const int64_t n = rows * cols8;
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        const int64_t r = i / cols8, c = i - r * cols8;
        const uint4 v = x[r * ld8 + c];
        const unsigned w[4] = { v.x, v.y, v.z, v.w };
        for (int j = 0; j < 4; j++) {
            const float a = fabsf(__uint_as_float(w[j] << 16)), b = fabsf(__uint_as_float(w[j] & 0xffff0000u));
            m = a > m ? a : m;
            m = b > m ? b : m;
        }
    }
    block_amax(amax, m);
}

__global__ void k_quant_e4m3(uint8_t * y, int64_t ldy, const uint16_t * x, int64_t ldx, int64_t rows, int64_t cols,
                             const float * amax, float * scales)
{
    const float sc = scale_of(*amax);
    if (scales && blockIdx.x == 0 && threadIdx.x == 0) {
        scales[0] = sc;
        scales[1] = 1.0f / sc;
    }
    const int64_t n = rows * cols;
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        const int64_t r = i / cols, c = i - r * cols;
        y[r * ldy + c] = f_to_e4m3(bf16_to_f(x[r * ldx + c]) * sc);
    }
}

// 8 values per thread (cols, ldx, ldy multiples of 8, aligned pointers).
__global__ void k_quant_e4m3_v8(uint2 * y, int64_t ldy8, const uint4 * x, int64_t ldx8, int64_t rows, int64_t cols8,
                                const float * amax, float * scales)
{
    const float sc = scale_of(*amax);
    if (scales && blockIdx.x == 0 && threadIdx.x == 0) {
        scales[0] = sc;
        scales[1] = 1.0f / sc;
    }
    const int64_t n = rows * cols8;
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        const int64_t r = i / cols8, c = i - r * cols8;
        const uint4 v = x[r * ldx8 + c];
        const unsigned w[4] = { v.x, v.y, v.z, v.w };
        unsigned o[2] = { 0, 0 };
        for (int j = 0; j < 4; j++) {
            const unsigned lo = f_to_e4m3(__uint_as_float(w[j] << 16) * sc);
            const unsigned hi = f_to_e4m3(__uint_as_float(w[j] & 0xffff0000u) * sc);
            o[j >> 1] |= (lo | (hi << 8)) << ((j & 1) * 16);
        }
        y[r * ldy8 + c] = make_uint2(o[0], o[1]);
    }
}

__global__ void k_e4m3_to_bf16(uint16_t * y, int64_t ldy, const uint8_t * x, int64_t ldx, int64_t rows, int64_t cols,
                               const float * descale)
{
    const float d = descale ? *descale : 1.0f;
    const int64_t n = rows * cols;
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t) gridDim.x * blockDim.x) {
        const int64_t r = i / cols, c = i - r * cols;
        y[r * ldy + c] = f_to_bf16(e4m3_to_f(x[r * ldx + c]) * d);
    }
}

static unsigned grid_of(int64_t n)
{
    const int64_t g = (n + 255) / 256;
    return (unsigned) (g < 4096 ? (g > 0 ? g : 1) : 4096);
}

static bool aligned16(const void * p)
{
    return ((uintptr_t) p & 15u) == 0;
}

extern "C" int kc_amax_bf16(float * amax, const uint16_t * x, int64_t rows, int64_t cols, int64_t ld, cudaStream_t s)
{
    if (cudaMemsetAsync(amax, 0, sizeof(float), s) != cudaSuccess) {
        return -1;
    }
    if (rows <= 0 || cols <= 0) {
        return 0;
    }
    if (cols % 8 == 0 && ld % 8 == 0 && aligned16(x)) {
        k_amax_bf16_v8<<<grid_of(rows * cols / 8), 256, 0, s>>>(amax, (const uint4 *) x, rows, cols / 8, ld / 8);
    } else {
        k_amax_bf16<<<grid_of(rows * cols), 256, 0, s>>>(amax, x, rows, cols, ld);
    }
    return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;
}

extern "C" int kc_quant_e4m3(uint8_t * y, int64_t ldy, const uint16_t * x, int64_t ldx, int64_t rows, int64_t cols,
                             const float * amax, float * scales, cudaStream_t s)
{
    if (rows <= 0 || cols <= 0) {
        return 0;
    }
    if (cols % 8 == 0 && ldx % 8 == 0 && ldy % 8 == 0 && aligned16(x) && ((uintptr_t) y & 7u) == 0) {
        k_quant_e4m3_v8<<<grid_of(rows * cols / 8), 256, 0, s>>>((uint2 *) y, ldy / 8, (const uint4 *) x, ldx / 8, rows,
                                                                 cols / 8, amax, scales);
    } else {
        k_quant_e4m3<<<grid_of(rows * cols), 256, 0, s>>>(y, ldy, x, ldx, rows, cols, amax, scales);
    }
    return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;
}

__global__ void k_fp8_alpha(float * ab, const float * wd, const float * xd, float beta)
{
    ab[0] = *wd * *xd;
    ab[1] = beta;
}

extern "C" int kc_fp8_alpha(float * ab, const float * wd, const float * xd, float beta, cudaStream_t s)
{
    k_fp8_alpha<<<1, 1, 0, s>>>(ab, wd, xd, beta);
    return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;
}

extern "C" int kc_e4m3_to_bf16(uint16_t * y, int64_t ldy, const uint8_t * x, int64_t ldx, int64_t rows, int64_t cols,
                               const float * descale, cudaStream_t s)
{
    if (rows <= 0 || cols <= 0) {
        return 0;
    }
    k_e4m3_to_bf16<<<grid_of(rows * cols), 256, 0, s>>>(y, ldy, x, ldx, rows, cols, descale);
    return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;
}
