// Kinora engine: CUDA backend internals shared by its C host files and its .cu kernel files.
// Every kc_* launcher queues work on `s` and returns the launch status (0 = queued).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime_api.h>

#ifdef __cplusplus
extern "C" {
#endif

// --- conversions -------------------------------------------------------------------------------
int kc_f32_to_bf16(uint16_t * dst, const float * src, int64_t n, cudaStream_t s);
// The same, raising *amax (a running maximum, 0 before the first writer) to the largest |value| written
// (the bf16 values, as kc_amax_bf16 would read them back; NaN ignored). amax NULL: kc_f32_to_bf16.
int kc_f32_to_bf16_amax(uint16_t * dst, const float * src, int64_t n, float * amax, cudaStream_t s);
int kc_bf16_to_f32(float * dst, const uint16_t * src, int64_t n, cudaStream_t s);
// Strided gather of a [rows, cols] f32 block (row stride ld) into packed bf16 [rows, cols].
int kc_f32_to_bf16_2d(uint16_t * dst, const float * src, int64_t rows, int64_t cols, int64_t ld, cudaStream_t s);

// --- fp8 e4m3 activations (cuda-fp8.cu) --------------------------------------------------------
// *amax = max |x| over rows x cols of a bf16 tensor with row stride ld (zeroed first; NaN ignored).
int kc_amax_bf16(float * amax, const uint16_t * x, int64_t rows, int64_t cols, int64_t ld, cudaStream_t s);
// y = sat_e4m3(x * scale) with scale = 448 / *amax (1 when *amax is 0); scales (may be NULL) receives
// { scale, 1 / scale } for the consumer's descale. Row strides ldx / ldy in elements.
int kc_quant_e4m3(uint8_t * y, int64_t ldy, const uint16_t * x, int64_t ldx, int64_t rows, int64_t cols,
                  const float * amax, float * scales, cudaStream_t s);
// ab[0] = *wd * *xd (the fp8 GEMM's alpha: the product of both operands' descales), ab[1] = beta; one
// thread, so the matmul reads both through device pointers (CUBLASLT_POINTER_MODE_DEVICE).
int kc_fp8_alpha(float * ab, const float * wd, const float * xd, float beta, cudaStream_t s);
// y = bf16(x * *descale) (descale NULL: 1).
int kc_e4m3_to_bf16(uint16_t * y, int64_t ldy, const uint8_t * x, int64_t ldx, int64_t rows, int64_t cols,
                    const float * descale, cudaStream_t s);

// --- row-wise ----------------------------------------------------------------------------------
int kc_layer_norm(float * y, const float * x, int64_t M, int64_t D, const float * w, const float * b,
                  float eps, cudaStream_t s);
int kc_rms_norm(float * y, const float * x, int64_t M, int64_t D, const float * w, float eps, cudaStream_t s);
int kc_modulate(float * y, const float * x, int64_t M, int64_t D, const float * shift, const float * scale,
                int64_t stride, const int32_t * sel, cudaStream_t s);
int kc_gated_add(float * x, const float * y, int64_t M, int64_t D, const float * gate, int64_t stride,
                 const int32_t * sel, cudaStream_t s);
// The same with y [M, D] in bf16 and a gate (not NULL).
int kc_gated_add_bf16(float * x, const uint16_t * y, int64_t M, int64_t D, const float * gate, int64_t stride,
                      const int32_t * sel, cudaStream_t s);
// Fused LayerNorm (affine w/b optional) + modulate (shift/scale optional), writing f32 (y) and/or
// bf16 (yb) (either may be NULL). Returns -2 when the shape/alignment needs the unfused ops. amax (not
// NULL, with yb): raised to the largest |value| of yb, as kc_f32_to_bf16_amax does.
int kc_norm_modulate(float * y, uint16_t * yb, const float * x, int64_t M, int64_t D, float eps, const float * w,
                     const float * b, const float * shift, const float * scale, int64_t stride, const int32_t * sel,
                     float * amax, cudaStream_t s);
// Fused RMS norm over rows of D (weight w) + RoPE (heads of head_dim, table cs[L, head_dim/2, 2];
// cs NULL: no rotation). amax as for kc_norm_modulate.
int kc_rms_rope(float * y, uint16_t * yb, const float * x, int64_t L, int64_t D, const float * w, float eps,
                int head_dim, const float * cs, float * amax, cudaStream_t s);

// dst[n, k] = g[n] * w[n, k] for bf16 [N, K] (K a multiple of 8); -2 when the layout does not allow it.
int kc_scale_rows_bf16(uint16_t * dst, const uint16_t * w, const float * g, int64_t N, int64_t K, cudaStream_t s);

// --- element-wise ------------------------------------------------------------------------------
int kc_gelu_tanh(float * x, int64_t n, cudaStream_t s);
int kc_silu(float * x, int64_t n, cudaStream_t s);
int kc_mul(float * y, const float * a, const float * b, int64_t n, cudaStream_t s);
int kc_add(float * y, const float * a, const float * b, int64_t n, cudaStream_t s);
int kc_scale(float * y, const float * x, float a, int64_t n, cudaStream_t s);
int kc_fill(float * y, float v, int64_t n, cudaStream_t s);
// y = sum_j c[j] x[j] over n floats in double (1 <= nt <= 4; y may be one of the x[j])
int kc_lincomb(float * y, int nt, const float * const * x, const double * c, int64_t n, cudaStream_t s);
// bias[h, i, j] = tv[h, j - i + L - 1], h < H, i, j < L (ops.rel_bias)
int kc_rel_bias(float * bias, const float * tv, int64_t L, int H, cudaStream_t s);
// *first (device) = the smallest i with x[i] NaN or infinite, all ones when there is none
int kc_first_nonfinite(const float * x, int64_t n, unsigned long long * first, cudaStream_t s);
// relu y = max(x, 0); soft clamp y = s tanh(x / s); clamp y = min(max(x, lo), hi) (y may be x)
int kc_relu(float * y, const float * x, int64_t n, cudaStream_t s);
int kc_soft_clamp(float * y, const float * x, float sc, int64_t n, cudaStream_t s);
int kc_clamp(float * y, const float * x, float lo, float hi, int64_t n, cudaStream_t s);

// --- attention ---------------------------------------------------------------------------------
int kc_rope(float * x, int64_t L, int n_heads, int head_dim, const float * cs, cudaStream_t s);
// Reference-quality f32 attention (any head_dim <= 1024, optional bias [H, Lq, Lk]); one warp per
// query row and head, online softmax over the keys.
int kc_attention_f32(float * o, const float * q, const float * k, const float * v, int64_t Lq, int64_t Lk,
                     int n_heads, int head_dim, float scale, const float * bias, cudaStream_t s);
// Flash attention on bf16 tensor cores (mma.sync), head_dim 64 or 128, no bias. q/o [Lq, ld], k/v
// [Lk, ld], head h at column h*head_dim. Returns -1 for an unsupported head_dim.
int kc_flash_attention_bf16(uint16_t * o, const uint16_t * q, const uint16_t * k, const uint16_t * v,
                            int64_t Lq, int64_t Lk, int n_heads, int head_dim, int64_t ld, float scale,
                            cudaStream_t s);

// p[r, :] = softmax(scale * s[r, :]) as bf16 (scale > 0), one block per row.
int kc_softmax_bf16(uint16_t * p, const float * s, int64_t rows, int64_t n, float scale, cudaStream_t st);

// --- DiT layout --------------------------------------------------------------------------------
int kc_patchify(float * out, const float * x, int C, int F, int H, int W, int ph, int pw, cudaStream_t s);
int kc_unpatchify(float * out, const float * tok, int C, int F, int H, int W, int ph, int pw, cudaStream_t s);
// Copy frames [0, T) of x[C, T, HW] into y[C, T + pt0 + pt1, HW] at frame offset pt0, zeroing the rest.
int kc_pad_time(float * y, const float * x, int C, int T, int64_t HW, int pt0, int pt1, cudaStream_t s);

// --- VAE (semantics as the ops of the same names in backend.h) ---------------------------------
int kc_channel_l2norm(float * y, const float * x, int C, int64_t N, const float * gamma, int silu, cudaStream_t s);
int kc_frame_copy(void * dst, int dst_bf16, int dst_T, int dst_t0, const void * src, int src_bf16, int src_T,
                      int src_t0, int n, int C, int64_t hw, cudaStream_t s);
int kc_upsample_nearest2x(float * y, const float * x, int64_t P, int H, int W, cudaStream_t s);
int kc_pad2d(float * y, const float * x, int64_t P, int H, int W, int pt, int pb, int pl, int pr, cudaStream_t s);
int kc_pixel_unshuffle(float * dst, const float * src, int C, int T, int H, int W, int p, int inverse, cudaStream_t s);
int kc_avg_pool3d(float * y, const float * x, int c_in, int c_out, int T, int H, int W, int ft, int fs,
                    int pad_front, cudaStream_t s);
int kc_nearest_up3d(float * y, const float * x, int c_in, int c_out, int T, int H, int W, int ft, int fs, int drop,
                  cudaStream_t s);
int kc_transpose2d(float * y, const float * x, int64_t R, int64_t C2, cudaStream_t s);
int kc_add_channel_bias(float * y, const float * b, int C, int64_t N, cudaStream_t s);
// x[C, T, HW] f32 -> y[T + pt0 + pt1, HW, C] (bf16 or f32) with zero frames in front / behind.
int kc_to_ndhwc(void * y, int bf16, const float * x, int C, int T, int64_t HW, int pt0, int pt1, cudaStream_t s);
// y[T, HW, C] (bf16 or f32) -> x[C, T, HW] f32, plus bias[c] when bias is not NULL.
int kc_from_ndhwc(float * x, const void * y, int bf16, const float * bias, int C, int T, int64_t HW, cudaStream_t s);

#ifdef __cplusplus
}
#endif
