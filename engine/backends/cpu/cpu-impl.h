// Kinora engine: CPU backend internals shared by its files.
#pragma once

#include "backends/backend.h"

// Allocation failures never abort: they record KE_STATUS_NOMEM on the backend (ke_be_fail, naming
// what was allocated and how many bytes) and the op returns without its result; the model reads the
// failure at its next ke_be_status.
//
// The backend's grow-only scratch block, 64-byte aligned, at least n bytes; NULL (failure recorded)
// when out of memory. Held until ke_cpu_scratch_done: an op takes it once and carves what it needs.
void * ke_cpu_scratch(struct ke_backend * be, size_t n, const char * what);
void ke_cpu_scratch_done(struct ke_backend * be);
// A 64-byte aligned malloc (free with free()) that records the failure as above.
void * ke_cpu_alloc_or_fail(struct ke_backend * be, size_t n, const char * what);

int ke_cpu_linear_prepare(struct ke_backend * be, struct ke_linear * l);
int ke_cpu_linear_takes(struct ke_backend * be, enum ke_dtype type);
void ke_cpu_linear_release(struct ke_backend * be, struct ke_linear * l);
void ke_cpu_linear(struct ke_backend * be, float * y, const float * x, int64_t M, const struct ke_linear * l);

void ke_cpu_attention(struct ke_backend * be, float * o, const float * q, const float * k, const float * v,
                      int64_t Lq, int64_t Lk, int n_heads, int head_dim, float scale, const float * bias);

int ke_cpu_conv3d_prepare(struct ke_backend * be, struct ke_conv3d * c);
void ke_cpu_conv3d_release(struct ke_backend * be, struct ke_conv3d * c);
void ke_cpu_conv3d(struct ke_backend * be, float * y, const float * x, const struct ke_conv3d * c,
                   int T, int H, int W, int pt0, int pt1, int ph, int pw, int st, int sh, int sw);

// conv3d algorithm, for measurements (applies to convs prepared afterwards): AUTO is the default;
// DNNL is oneDNN in the backend's precision (f32 exact, bf16 fast); DNNL_F32 is oneDNN f32 on both.
enum { KE_CONV_AUTO = 0, KE_CONV_IM2COL, KE_CONV_DNNL, KE_CONV_DNNL_F32 };
void ke_cpu_conv3d_set_algo(int algo);

// channels-first volume ops (cpu-volume.c)
void ke_cpu_channel_l2norm(struct ke_backend * be, float * y, const float * x, int C, int64_t N, const float * gamma);
void ke_cpu_frame_copy(struct ke_backend * be, void * dst, int dst_bf16, int dst_T, int dst_t0,
                           const void * src, int src_bf16, int src_T, int src_t0, int n, int C, int64_t hw);
void ke_cpu_upsample_nearest2x(struct ke_backend * be, float * y, const float * x, int64_t P, int H, int W);
void ke_cpu_pad2d(struct ke_backend * be, float * y, const float * x, int64_t P, int H, int W,
                      int pt, int pb, int pl, int pr);
void ke_cpu_pixel_unshuffle(struct ke_backend * be, float * dst, const float * src, int C, int T, int H, int W,
                         int p, int inverse);
void ke_cpu_avg_pool3d(struct ke_backend * be, float * y, const float * x, int c_in, int c_out, int T, int H,
                         int W, int ft, int fs, int pad_front);
void ke_cpu_nearest_up3d(struct ke_backend * be, float * y, const float * x, int c_in, int c_out, int T, int H,
                       int W, int ft, int fs, int drop);
void ke_cpu_transpose2d(struct ke_backend * be, float * y, const float * x, int64_t R, int64_t C2);

// Around every OpenBLAS call: enter returns -1 (KE_STATUS_NOMEM recorded on be) when OpenBLAS might need
// a new work buffer and the address space for it is not there (OpenBLAS would spin forever); else 0,
// and leave must follow the call.
int ke_cpu_blas_enter(struct ke_backend * be);
void ke_cpu_blas_leave(void);

// Plain f32 GEMM used by several CPU ops (between ke_cpu_blas_enter and ke_cpu_blas_leave): C[M,N] = A[M,K] * B^T (B is [N,K]) (+= if accumulate).
void ke_cpu_sgemm_nt(float * C, const float * A, const float * B, int64_t M, int64_t N, int64_t K, int accumulate);

// fused ops (cpu-fused.c): the compositions named in backend.h, through be->ops
void ke_cpu_to_xbuf(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t n);
void ke_cpu_layer_norm_mod_x(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t M, int64_t D,
                             const float * w, const float * b, float eps, const float * shift, const float * scale,
                             int64_t mod_stride, const int32_t * sel);
void ke_cpu_rms_norm_rope_x(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t L, int n_heads,
                            int head_dim, const float * w, float eps, const float * cs);
void ke_cpu_linear_x(struct ke_backend * be, float * y, const struct ke_xbuf * x, int64_t M,
                     const struct ke_linear * l);
void ke_cpu_linear_gelu_x(struct ke_backend * be, struct ke_xbuf * y, const struct ke_xbuf * x, int64_t M,
                          const struct ke_linear * l);
void ke_cpu_linear_gated_add_x(struct ke_backend * be, float * r, const struct ke_xbuf * x, int64_t M,
                               const struct ke_linear * l, const float * gate, int64_t gate_stride,
                               const int32_t * sel, float * tmp);
void ke_cpu_attention_x(struct ke_backend * be, struct ke_xbuf * o, const struct ke_xbuf * q, const struct ke_xbuf * k,
                        const struct ke_xbuf * v, int64_t Lq, int64_t Lk, int n_heads, int head_dim, float scale);
void ke_cpu_channel_l2norm_silu(struct ke_backend * be, float * y, const float * x, int C, int64_t N,
                                const float * gamma);
// LTX-Video transformer (cpu-ltx-dit.c)
void ke_cpu_rms_norm_mod_x(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t M, int64_t D,
                           float eps, const float * shift, const float * scale, int64_t mod_stride,
                           const int32_t * sel);

// LTX-Video VAE and latent upsampler ops (cpu-ltx.c)
void ke_cpu_pixel_norm_mod(struct ke_backend * be, float * y, const float * x, int C, int64_t N, float eps,
                           const float * shift, const float * scale, int silu);
void ke_cpu_group_norm(struct ke_backend * be, float * y, const float * x, int C, int64_t N, int G, float eps,
                       const float * w, const float * b, int silu);
void ke_cpu_pad2d_edge(struct ke_backend * be, float * y, const float * x, int64_t P, int H, int W, int p, int mode);
void ke_cpu_ltx_conv3d(struct ke_backend * be, float * y, int accumulate, const float * x, const struct ke_conv3d * c,
                       int T, int H, int W, int front, int back, int norm, float eps, const float * shift,
                       const float * scale);
void ke_cpu_ltx_resnet(struct ke_backend * be, float * x, const struct ke_conv3d * c1, const struct ke_conv3d * c2,
                       int T, int H, int W, int front, int back, float eps, const float * ada);
