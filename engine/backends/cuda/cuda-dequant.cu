// Kinora engine: dequantization kernels (fp8 e4m3 and the ggml block types) into bf16; one thread per
// value, the decoding itself in quant-blocks.h (shared with a CPU test).
#include <cuda_bf16.h>

#include "backends/cuda/cuda-dequant.h"
#include "backends/cuda/quant-blocks.h"

static __device__ __forceinline__ uint16_t to_bf16(float f)
{
    __nv_bfloat16 b = __float2bfloat16_rn(f);
    return *reinterpret_cast<uint16_t *>(&b);
}

__global__ void k_fp8(uint16_t * dst, const uint8_t * src, int64_t n, float scale)
{
    const int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        dst[i] = to_bf16(kq_fp8_e4m3(src[i]) * scale);
    }
}

__global__ void k_q8_0(uint16_t * dst, const uint8_t * src, int64_t n)
{
    const int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        dst[i] = to_bf16(kq_q8_0(src + (i / KQ_Q8_0_VALUES) * KQ_Q8_0_BYTES, (int) (i % KQ_Q8_0_VALUES)));
    }
}

__global__ void k_q4_k(uint16_t * dst, const uint8_t * src, int64_t n)
{
    const int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        dst[i] = to_bf16(kq_q4_k(src + (i / KQ_Q4_K_VALUES) * KQ_Q4_K_BYTES, (int) (i % KQ_Q4_K_VALUES)));
    }
}

static unsigned grid(int64_t n)
{
    return (unsigned) ((n + 255) / 256);
}

extern "C" int kc_fp8e4m3_to_bf16(uint16_t * dst, const void * src, int64_t n, float scale, cudaStream_t s)
{
    if (n <= 0) {
        return 0;
    }
    k_fp8<<<grid(n), 256, 0, s>>>(dst, (const uint8_t *) src, n, scale);
    return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;
}

extern "C" int kc_q8_0_to_bf16(uint16_t * dst, const void * blocks, int64_t n, cudaStream_t s)
{
    if (n <= 0 || n % KQ_Q8_0_VALUES) {
        return n == 0 ? 0 : -1;
    }
    k_q8_0<<<grid(n), 256, 0, s>>>(dst, (const uint8_t *) blocks, n);
    return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;
}

extern "C" int kc_q4_k_to_bf16(uint16_t * dst, const void * blocks, int64_t n, cudaStream_t s)
{
    if (n <= 0 || n % KQ_Q4_K_VALUES) {
        return n == 0 ? 0 : -1;
    }
    k_q4_k<<<grid(n), 256, 0, s>>>(dst, (const uint8_t *) blocks, n);
    return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;
}

// The other block types: one kernel and one launcher each, from the decoder kq_<t> in quant-blocks.h.
#define KC_BLOCK_KERNEL(t, T)                                                                           \
    __global__ void k_##t(uint16_t * dst, const uint8_t * src, int64_t n)                               \
    {                                                                                                   \
        const int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x;                              \
        if (i < n) {                                                                                    \
            dst[i] = to_bf16(kq_##t(src + (i / KQ_##T##_VALUES) * KQ_##T##_BYTES, (int) (i % KQ_##T##_VALUES))); \
        }                                                                                               \
    }                                                                                                   \
    extern "C" int kc_##t##_to_bf16(uint16_t * dst, const void * blocks, int64_t n, cudaStream_t s)     \
    {                                                                                                   \
        if (n <= 0 || n % KQ_##T##_VALUES) {                                                            \
            return n == 0 ? 0 : -1;                                                                     \
        }                                                                                               \
        k_##t<<<grid(n), 256, 0, s>>>(dst, (const uint8_t *) blocks, n);                                \
        return cudaPeekAtLastError() == cudaSuccess ? 0 : -1;                                           \
    }

KC_BLOCK_KERNEL(q4_0, Q4_0)
KC_BLOCK_KERNEL(q4_1, Q4_1)
KC_BLOCK_KERNEL(q5_0, Q5_0)
KC_BLOCK_KERNEL(q5_1, Q5_1)
KC_BLOCK_KERNEL(q2_k, Q2_K)
KC_BLOCK_KERNEL(q3_k, Q3_K)
KC_BLOCK_KERNEL(q5_k, Q5_K)
KC_BLOCK_KERNEL(q6_k, Q6_K)
