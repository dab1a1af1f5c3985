// Kinora engine: the absolute maximum of what a CUDA kernel reads or writes, for the per-tensor scale of
// an fp8 e4m3 quantization (included by the .cu files that take one: cuda-fp8.cu, cuda-kernels.cu).
#pragma once

#include <cuda_bf16.h>

// m raised to |v|; a NaN never wins (the comparison is false).
static __device__ __forceinline__ float amax1(float m, float v)
{
    v = fabsf(v);
    return v > m ? v : m;
}

// m raised to the four values of two bf16 pairs.
static __device__ __forceinline__ float amax4(float m, __nv_bfloat162 a, __nv_bfloat162 b)
{
    m = amax1(m, __low2float(a));
    m = amax1(m, __high2float(a));
    m = amax1(m, __low2float(b));
    return amax1(m, __high2float(b));
}

// Raise *amax to the largest m of the block (each m >= 0). Non-negative floats order as their bit
// patterns, so the maximum is an atomicMax on the bits; it is skipped where *amax already holds as much
// (most blocks of a large tensor, once a large value is in). Every thread of the block calls it, once
// per kernel.
static __device__ void block_amax_raise(float * amax, float m)
{
    __shared__ float wm[32];
    for (int o = 16; o > 0; o >>= 1) {
        const float t = __shfl_xor_sync(0xffffffffu, m, o);
        m = t > m ? t : m;
    }
    if ((threadIdx.x & 31) == 0) {
        wm[threadIdx.x >> 5] = m;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < (int) (blockDim.x >> 5); w++) {
            m = wm[w] > m ? wm[w] : m;
        }
        if (m > *(volatile float *) amax) {
            atomicMax((unsigned *) amax, __float_as_uint(m));
        }
    }
}
