// Kinora engine: CUDA dequantization of narrow weights into a bf16 scratch (the GEMM's operand).
// Each queues one kernel on `s` and returns the launch status (0 = queued). n is the number of values
// (for the block formats a multiple of the block's value count); dst holds n bf16 values in order.
//
// Entry points for the block-quantized GGUF types (ggml block layouts, see quant-blocks.h):
//   kc_q8_0_to_bf16(dst, blocks, n, s)  n % 32 == 0, blocks = n / 32 x 34 bytes
//   kc_q4_k_to_bf16(dst, blocks, n, s)  n % 256 == 0, blocks = n / 256 x 144 bytes
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

#ifdef __cplusplus
}
#endif
