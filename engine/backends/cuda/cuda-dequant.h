// Kinora engine: CUDA dequantization of narrow weights into a bf16 scratch (the GEMM's operand).
// Each queues one kernel on `s` and returns the launch status (0 = queued). n is the number of values
// (for the block formats a multiple of the block's value count); dst holds n bf16 values in order.
//
// Entry points for the block-quantized GGUF types (ggml block layouts, see quant-blocks.h):
//   kc_q8_0_to_bf16(dst, blocks, n, s)  n % 32 == 0, blocks = n / 32 x 34 bytes
//   kc_q4_k_to_bf16(dst, blocks, n, s)  n % 256 == 0, blocks = n / 256 x 144 bytes
// and likewise kc_q4_0 / q4_1 / q5_0 / q5_1 (32 values per block) and kc_q2_k / q3_k / q5_k / q6_k (256)
// with the block sizes of quant-blocks.h (KQ_<T>_VALUES, KQ_<T>_BYTES).
// A row-major [N, K] weight quantized row by row (K a multiple of the block size) is one run of
// blocks, so one call dequantizes the whole matrix (or any whole-row range of it).
#pragma once

#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

// fp8 e4m3fn values times scale -> bf16.
int kc_fp8e4m3_to_bf16(uint16_t * dst, const void * src, int64_t n, float scale, cudaStream_t s);
int kc_q8_0_to_bf16(uint16_t * dst, const void * blocks, int64_t n, cudaStream_t s);
int kc_q4_k_to_bf16(uint16_t * dst, const void * blocks, int64_t n, cudaStream_t s);
int kc_q4_0_to_bf16(uint16_t * dst, const void * blocks, int64_t n, cudaStream_t s);
int kc_q4_1_to_bf16(uint16_t * dst, const void * blocks, int64_t n, cudaStream_t s);
int kc_q5_0_to_bf16(uint16_t * dst, const void * blocks, int64_t n, cudaStream_t s);
int kc_q5_1_to_bf16(uint16_t * dst, const void * blocks, int64_t n, cudaStream_t s);
int kc_q2_k_to_bf16(uint16_t * dst, const void * blocks, int64_t n, cudaStream_t s);
int kc_q3_k_to_bf16(uint16_t * dst, const void * blocks, int64_t n, cudaStream_t s);
int kc_q5_k_to_bf16(uint16_t * dst, const void * blocks, int64_t n, cudaStream_t s);
int kc_q6_k_to_bf16(uint16_t * dst, const void * blocks, int64_t n, cudaStream_t s);

#ifdef __cplusplus
}
#endif
