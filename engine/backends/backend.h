// Kinora engine: the backend table. Models call these ops only; cpu/ is the reference,
// cuda/ slots in without touching model code.
//
// Conventions (all ops):
//  - activations are float32, contiguous, in memory owned by the backend (ke_backend_alloc);
//    "rows" are the outer dimension, D (or N) the inner one: x[M, D] means M rows of D floats.
//  - weights are struct ke_tensor in their stored dtype (host, usually mmapped); a backend may keep a
//    converted/uploaded copy in struct ke_linear.prepared, made once by linear_prepare.
//  - every float/int pointer an op takes (norm weights, modulation rows, rope tables, sel, bias) is
//    backend memory too (ke_be_alloc + upload once); only ke_linear/ke_conv3d hold host tensors.
//  - ops are synchronous from the caller's view (a device backend may queue them on one stream;
//    download synchronises).
//  - fusion is explicit: a chain a device backend runs as fewer passes is an op of its own (see
//    "fused ops" below), called by name from the model; a backend never fuses behind the caller's back.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/tensor.h"

struct ke_backend;

// An activation in the backend's matmul-input format (opaque): the CPU backend stores f32, the CUDA
// backend bf16, ops.xbuf_elem bytes per element. It only carries an intermediate from one fused op to
// the next (a normalised GEMM input, q/k/v for attention, the attention output, the FFN hidden
// state), so that a device backend writes the narrow copy its GEMMs and attention read and never the
// f32 one. Allocate n elements with ke_be_alloc_xbuf (or carve n * xbuf_elem bytes out of backend
// memory); models never read or write one except through the ops below.
struct ke_xbuf;
struct ke_lora_linear;

// A Linear layer: y = x W^T + b with W [out, in] (PyTorch layout), b [out] or NULL.
struct ke_linear {
    const struct ke_tensor * w;   // (out, in) any float dtype; conv weights flatten to (out, in*k...)
    const struct ke_tensor * b;   // (out) or NULL
    int64_t n_in, n_out;
    void * prepared;              // backend-owned copy (converted / reordered / uploaded)
    struct ke_backend * owner;    // backend that made `prepared`
    const struct ke_lora_linear * lora;   // run-time LoRA terms (models/common/lora.h) the model adds
                                          // after the op; backends ignore it
};

// A 3-D convolution weight, [Cout, Cin, kt, kh, kw] (2-D convs use kt = 1).
struct ke_conv3d {
    const struct ke_tensor * w;
    const struct ke_tensor * b;   // (Cout) or NULL
    int c_out, c_in, kt, kh, kw;
    int narrow;                   // set before conv3d_prepare: the model takes bf16 operands (fp32
                                  // accumulation) here, so a device backend may run its fastest narrow
                                  // path (CUDA: bf16 channels-last); the CPU ignores it
    void * prepared;
    struct ke_backend * owner;
};

// Device memory and op-class times of a backend (see ops.stats).
struct ke_backend_stats {
    size_t bytes_in_use, bytes_peak;          // activations and prepared weights together
    size_t bytes_weights;                     // prepared weights alone (resident on the device)
    size_t bytes_budget;                      // the device memory budget (0: none)
    size_t bytes_streamed;                    // weights held in host memory and streamed per use
    double ms_gemm, ms_attention, ms_other;   // profiled time since the last stats call
};

#define KE_LINCOMB_MAX 4   // terms of ops.lincomb

struct ke_backend_ops {
    const char * name;

    // --- memory -------------------------------------------------------------------------------
    void * (*alloc)(struct ke_backend * be, size_t n);              // NULL when out of memory (not recorded:
                                                                    // the caller names what it allocated)
    void (*free)(struct ke_backend * be, void * p);
    void (*upload)(struct ke_backend * be, void * dst, const void * src, size_t n);     // host -> backend
    void (*download)(struct ke_backend * be, void * dst, const void * src, size_t n);   // backend -> host
    void (*copy)(struct ke_backend * be, void * dst, const void * src, size_t n);       // backend -> backend
    void (*memset0)(struct ke_backend * be, void * dst, size_t n);
    void (*sync)(struct ke_backend * be);

    // --- dense --------------------------------------------------------------------------------
    // Prepare once per weight (0 ok, <0 error). linear_release frees `prepared`.
    int (*linear_prepare)(struct ke_backend * be, struct ke_linear * l);
    void (*linear_release)(struct ke_backend * be, struct ke_linear * l);
    // y[M, n_out] = x[M, n_in] W^T + b
    void (*linear)(struct ke_backend * be, float * y, const float * x, int64_t M, const struct ke_linear * l);

    // --- row-wise -----------------------------------------------------------------------------
    // LayerNorm over D (population variance); w, b may be NULL (no affine).
    void (*layer_norm)(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D,
                       const float * w, const float * b, float eps);
    // y = x / sqrt(mean(x^2) + eps) * w (w may be NULL)
    void (*rms_norm)(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D,
                     const float * w, float eps);
    // y[i] = x[i] * (1 + scale[s]) + shift[s], s = sel ? sel[i] : 0; shift/scale rows of D.
    void (*modulate)(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D,
                     const float * shift, const float * scale, int64_t mod_stride, const int32_t * sel);
    // x[i] += y[i] * gate[s] (gate NULL: plain add), s as above.
    void (*gated_add)(struct ke_backend * be, float * x, const float * y, int64_t M, int64_t D,
                      const float * gate, int64_t gate_stride, const int32_t * sel);

    // --- element-wise -------------------------------------------------------------------------
    void (*gelu_tanh)(struct ke_backend * be, float * x, int64_t n);
    void (*silu)(struct ke_backend * be, float * x, int64_t n);
    void (*mul)(struct ke_backend * be, float * y, const float * a, const float * b, int64_t n);
    void (*add)(struct ke_backend * be, float * y, const float * a, const float * b, int64_t n);
    void (*scale)(struct ke_backend * be, float * y, const float * x, float s, int64_t n);

    // --- attention ----------------------------------------------------------------------------
    // x[L, n_heads*head_dim]: rotate adjacent pairs (2p, 2p+1) of each head by angle table
    // cs[L, head_dim/2, 2] = (cos, sin) per token and pair.
    void (*rope)(struct ke_backend * be, float * x, int64_t L, int n_heads, int head_dim, const float * cs);
    // o[Lq, H*hd] = softmax(scale * q k^T + bias) v per head; q[Lq, H*hd], k/v[Lk, H*hd] (row stride
    // H*hd). bias: [H, Lq, Lk] or NULL. Must not materialise the full [Lq, Lk] matrix per head.
    void (*attention)(struct ke_backend * be, float * o, const float * q, const float * k, const float * v,
                      int64_t Lq, int64_t Lk, int n_heads, int head_dim, float scale, const float * bias);

    // --- fused ops ----------------------------------------------------------------------------
    // Each equals the composition of plain ops written beside it (the CPU backend runs exactly that
    // composition, cpu-fused.c; tests/engine/backends/test-fused.c checks it), except that a value held
    // in a struct ke_xbuf is rounded to the backend's format (bf16 on CUDA). x[M, D] layouts as above.
    size_t xbuf_elem;   // bytes per element of a struct ke_xbuf
    // y = x as an xbuf (x[n] f32).
    void (*to_xbuf)(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t n);
    // y = modulate(layer_norm(x, w, b, eps), shift, scale, mod_stride, sel) as an xbuf; shift and scale
    // NULL: the LayerNorm alone. (CUDA: one pass writing the bf16 GEMM input.)
    void (*layer_norm_mod_x)(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t M, int64_t D,
                             const float * w, const float * b, float eps, const float * shift, const float * scale,
                             int64_t mod_stride, const int32_t * sel);
    // y = rope(rms_norm(x, w, eps), cs) as an xbuf, x[L, n_heads*head_dim]; cs NULL: no rotation (the
    // cross-attention q). (CUDA: one pass writing the bf16 q/k for the attention.)
    void (*rms_norm_rope_x)(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t L, int n_heads,
                            int head_dim, const float * w, float eps, const float * cs);
    // Optional (NULL: none). Between xbuf_scope(be, true) and xbuf_scope(be, false) the caller writes
    // every struct ke_xbuf only through the ops with an xbuf output (to_xbuf, layer_norm_mod_x,
    // rms_norm_rope_x, linear_gelu_x, attention_x), so the backend may carry what the op that wrote one
    // learnt to the ops that read it (CUDA under fp8: the activation's absolute maximum, taken while it
    // was written, and the attention output's e4m3 form, for the e4m3 operands of the next ops).
    void (*xbuf_scope)(struct ke_backend * be, bool on);
    // Optional (NULL: none). x stays unchanged until the next call (x NULL ends it): the linears that read
    // x meanwhile may share a converted form of it (CUDA under fp8: its e4m3 copy, quantized once for the
    // q, k and v projections instead of three times).
    void (*linear_input_hold)(struct ke_backend * be, const struct ke_xbuf * x);
    // y[M, n_out] = linear(x) (f32 output).
    void (*linear_x)(struct ke_backend * be, float * y, const struct ke_xbuf * x, int64_t M,
                     const struct ke_linear * l);
    // y = gelu_tanh(linear(x)) as an xbuf [M, n_out]. (CUDA: GELU in the GEMM epilogue, bf16 output.)
    void (*linear_gelu_x)(struct ke_backend * be, struct ke_xbuf * y, const struct ke_xbuf * x, int64_t M,
                          const struct ke_linear * l);
    // r[M, n_out] += gate[s] * linear(x) (gated_add of the linear's output; gate NULL: plain add).
    // tmp: caller scratch of M*n_out floats the backend may use for the linear's output (CUDA adds in
    // the GEMM instead when it can: no selector, or no gate).
    void (*linear_gated_add_x)(struct ke_backend * be, float * r, const struct ke_xbuf * x, int64_t M,
                               const struct ke_linear * l, const float * gate, int64_t gate_stride,
                               const int32_t * sel, float * tmp);
    // o = attention(q, k, v) without bias, all xbufs in the attention op's layout.
    void (*attention_x)(struct ke_backend * be, struct ke_xbuf * o, const struct ke_xbuf * q,
                        const struct ke_xbuf * k, const struct ke_xbuf * v, int64_t Lq, int64_t Lk, int n_heads,
                        int head_dim, float scale);
    // y = silu(channel_l2norm(x, gamma)) (y may equal x). (CUDA: one pass.)
    void (*channel_l2norm_silu)(struct ke_backend * be, float * y, const float * x, int C, int64_t N,
                                const float * gamma);

    // --- DiT layout ---------------------------------------------------------------------------
    // x[C, F, H, W] -> patches[L, C*ph*pw] (kt = 1), token order f, y, x; element order (c, dy, dx),
    // which is the flattened conv weight's [in, 1, kh, kw] order.
    void (*patchify)(struct ke_backend * be, float * patches, const float * x, int C, int F, int H, int W,
                     int ph, int pw);
    // tokens[L, ph*pw*C] (layout (dy, dx, c), c fastest) -> out[C, F, H, W]
    void (*unpatchify)(struct ke_backend * be, float * out, const float * tokens, int C, int F, int H, int W,
                       int ph, int pw);

    // --- convolution (VAE) --------------------------------------------------------------------
    int (*conv3d_prepare)(struct ke_backend * be, struct ke_conv3d * c);
    void (*conv3d_release)(struct ke_backend * be, struct ke_conv3d * c);
    // y[Cout, To, Ho, Wo] = conv(x[Cin, T, H, W]) with zero padding: pt0 frames in front, pt1 at the end,
    // ph/pw on both sides in H/W, strides st/sh/sw. To = (T + pt0 + pt1 - kt)/st + 1, etc.
    void (*conv3d)(struct ke_backend * be, float * y, const float * x, const struct ke_conv3d * c,
                   int T, int H, int W, int pt0, int pt1, int ph, int pw, int st, int sh, int sw);

    // --- channels-first volumes (video VAEs and other convolutional models) --------------------
    // Layout: x[C, T, H, W] (channels outermost); N = T*H*W positions, hw = H*W, P = planes (C*T).
    // Channel L2 norm: y[c, n] = x[c, n] / max(||x[:, n]||_2, 1e-12) * sqrt(C) * gamma[c]; y may equal x.
    void (*channel_l2norm)(struct ke_backend * be, float * y, const float * x, int C, int64_t N,
                           const float * gamma);
    // dst[c, dst_t0 + i] = src[c, src_t0 + i] for c < C, i < n; frames of hw elements; src has src_T
    // frames per channel, dst dst_T. *_bf16: that side is stored as bf16 (uint16), else f32.
    void (*frame_copy)(struct ke_backend * be, void * dst, int dst_bf16, int dst_T, int dst_t0,
                       const void * src, int src_bf16, int src_T, int src_t0, int n, int C, int64_t hw);
    // y[P, 2H, 2W]: nearest-neighbour x2 spatial upsampling of x[P, H, W].
    void (*upsample_nearest2x)(struct ke_backend * be, float * y, const float * x, int64_t P, int H, int W);
    // y[P, H+pt+pb, W+pl+pr]: x[P, H, W] with zero borders.
    void (*pad2d)(struct ke_backend * be, float * y, const float * x, int64_t P, int H, int W,
                  int pt, int pb, int pl, int pr);
    // Pixel unshuffle (space to depth) with factor p over H and W:
    // y[c*p*p + dx*p + dy, t, i, j] = x[c, t, p*i + dy, p*j + dx] (x[C, T, H, W]);
    // inverse != 0 is the pixel shuffle back (x[C, T, H, W] written from y[C*p*p, T, H/p, W/p] given as src).
    void (*pixel_unshuffle)(struct ke_backend * be, float * dst, const float * src, int C, int T, int H, int W,
                            int p, int inverse);
    // Average pool after a space-to-depth: x[c_in, T, H, W] with pad_front zero frames in front, split
    // into ft x fs x fs blocks -> y[c_out, (T+pad)/ft, H/fs, W/fs], where output channel o is the mean of
    // the g = c_in*ft*fs*fs/c_out consecutive block channels [o*g, o*g+g).
    void (*avg_pool3d)(struct ke_backend * be, float * y, const float * x, int c_in, int c_out, int T, int H,
                       int W, int ft, int fs, int pad_front);
    // Nearest upsample through depth-to-space of repeated channels: x[c_in, T, H, W] ->
    // y[c_out, T*ft - drop, H*fs, W*fs] (the first `drop` output frames left out).
    void (*nearest_up3d)(struct ke_backend * be, float * y, const float * x, int c_in, int c_out, int T, int H,
                         int W, int ft, int fs, int drop);
    // y[C2, R] = x[R, C2]^T (row-major).
    void (*transpose2d)(struct ke_backend * be, float * y, const float * x, int64_t R, int64_t C2);
    // Element-wise activations of convolutional models, x[n] -> y[n] (y may equal x):
    // relu y = max(x, 0); soft_clamp y = s * tanh(x / s); clamp y = min(max(x, lo), hi).
    void (*relu)(struct ke_backend * be, float * y, const float * x, int64_t n);
    void (*soft_clamp)(struct ke_backend * be, float * y, const float * x, float s, int64_t n);
    void (*clamp)(struct ke_backend * be, float * y, const float * x, float lo, float hi, int64_t n);

    // --- LTX-Video transformer ops -----------------------------------------------------------
    // y = modulate(rms_norm(x, NULL, eps), shift, scale, mod_stride, sel) as an xbuf: the LTX-Video
    // block's norm1/norm2 (RMS norm without weight) with its per-token AdaLN shift/scale rows.
    // (CPU: cpu-ltx-dit.c, exactly that composition; CUDA: one pass writing the bf16 GEMM input.)
    void (*rms_norm_mod_x)(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t M, int64_t D,
                           float eps, const float * shift, const float * scale, int64_t mod_stride,
                           const int32_t * sel);

    // --- LTX-Video VAE and latent upsampler ops ------------------------------------------------
    // Channels-first volumes x[C, N] as above (N = T*H*W); y may equal x.
    // Pixel norm, then a per-channel modulation, then SiLU (when silu):
    // y[c, n] = act(x[c, n] / sqrt(mean_c x[:, n]^2 + eps) * (1 + scale[c]) + shift[c]); shift and scale
    // NULL: no modulation.
    void (*pixel_norm_mod)(struct ke_backend * be, float * y, const float * x, int C, int64_t N, float eps,
                           const float * shift, const float * scale, int silu);
    // GroupNorm: G groups of C/G consecutive channels, mean and population variance over a group's
    // (C/G)*N values, y = (x - mean) / sqrt(var + eps) * w[c] + b[c] (w, b NULL: none), then SiLU (when silu).
    void (*group_norm)(struct ke_backend * be, float * y, const float * x, int C, int64_t N, int G, float eps,
                       const float * w, const float * b, int silu);
    // y[P, H+2p, W+2p]: x[P, H, W] with borders of p: mode 1 reflect (PyTorch's 'reflect', the edge not
    // repeated; p < H and p < W), mode 2 replicate (the edge repeated). (Zero borders: pad2d.)
    void (*pad2d_edge)(struct ke_backend * be, float * y, const float * x, int64_t P, int H, int W, int p, int mode);
    // CausalConv3d with its input transform: x[C, T, H, W] (C = c->c_in), when norm: pixel_norm_mod(x, C,
    // eps, shift, scale, silu 1) (shift, scale may be NULL), else x as it is; then `front` copies of its
    // first frame in front and `back` copies of its last at the end (front + back = kt - 1); then
    // conv3d(c) with zero padding kh/2, kw/2, stride 1: y[c_out, T, H, W] = that, or y += that when
    // accumulate. x is not changed. (CPU: exactly that composition of pixel_norm_mod, frame_copy,
    // conv3d and add, cpu-ltx.c; CUDA: for a conv prepared narrow, one pass writes the normalised,
    // padded bf16 channels-last input, and the output pass adds into y.)
    void (*ltx_conv3d)(struct ke_backend * be, float * y, int accumulate, const float * x, const struct ke_conv3d * c,
                       int T, int H, int W, int front, int back, int norm, float eps, const float * shift,
                       const float * scale);
    // ResnetBlock3D of the LTX-Video VAE (c1, c2: C -> C): x += conv2(act2(conv1(act1(x)))), i.e. exactly
    // h = ltx_conv3d(x, c1, norm, shift1, scale1) to a new buffer, then ltx_conv3d(x, accumulate, h, c2,
    // norm, shift2, scale2), with ada = the rows shift1, scale1, shift2, scale2 of C (NULL: no modulation).
    // (CPU: those two calls; CUDA: for narrow convs the intermediate stays bf16 channels-last, its norm
    // one pass between the two convolutions.)
    void (*ltx_resnet)(struct ke_backend * be, float * x, const struct ke_conv3d * c1, const struct ke_conv3d * c2,
                       int T, int H, int W, int front, int back, float eps, const float * ada);


    // --- optional (NULL when a backend has none) ----------------------------------------------
    // Memory, and time per op class since the last call while profiling is on; syncs first.
    void (*stats)(struct ke_backend * be, struct ke_backend_stats * st);
    void (*profile)(struct ke_backend * be, int on);
    // Wait for queued work and record any asynchronous failure in be->failure (device backends).
    void (*status)(struct ke_backend * be);
    // Nonzero when linear_prepare takes weights stored as `type`, block-quantized types included
    // (core/quant.c: kept as stored and dequantized per tile or inside the GEMM). NULL: only F32, F16,
    // BF16 and F8_E4M3; models refuse other weights with KE_STATUS_UNSUPPORTED before preparing them
    // (ke_be_linear_check).
    int (*linear_takes)(struct ke_backend * be, enum ke_dtype type);

    // --- device memory budget and weight streaming (optional; NULL on the CPU) ---------------
    // budget: bytes the backend may hold on the device in all, cached blocks included (0: the free
    // device memory when the backend was created, minus a 1 GiB margin). An allocation over it fails
    // (alloc returns NULL; a prepare records KE_STATUS_NOMEM naming the weight, its size and the budget).
    // weight_cap: bytes of linear weights prepared after this call that are kept resident (SIZE_MAX: as
    // many as the budget holds); a linear prepared beyond it keeps its weight in pinned host memory and
    // streams it to the device per use.
    void (*set_memory)(struct ke_backend * be, size_t budget, size_t weight_cap);
    // The model is about to use these linears (in this order, typically the next transformer block):
    // a backend that streams weights starts uploading the streamed ones now, on its copy stream, into
    // the other half of a double buffer, so the transfer overlaps the current block's compute. Using a
    // streamed linear that was not prefetched uploads it on the spot (slower, never wrong).
    void (*prefetch)(struct ke_backend * be, struct ke_linear * const * ls, int n);
    // The budget, the bytes held now and the peak since the last stats call (does not reset it).
    void (*memory)(struct ke_backend * be, size_t * budget, size_t * in_use, size_t * peak);
    // A second host thread prepares linears (and uploads vectors) while the ops keep running on the
    // first one: the next expert's weights go up while this expert computes. begin (on that thread)
    // gives it its own stream and fresh device memory, so nothing it does waits for or touches the
    // queued compute; end synchronizes that stream and drops it. 0 ok, -1 not offered now. A linear
    // prepared on that thread is whole when linear_prepare returns: ops queued on the first thread after
    // that read it (T5's layers are used as they are made, umt5.c).
    int (*prepare_thread)(struct ke_backend * be, int begin);
    // Give the allocator's cached free blocks back to the device (after the queued work). Called before a
    // preparing thread starts, while little is queued: that thread frees nothing itself (a device free
    // waits for all queued compute), so the room it was given is not held by old cached blocks.
    void (*trim)(struct ke_backend * be);

    // --- T5 relative position bias (optional: NULL builds it on the host and uploads it) ------------
    // bias[h, i, j] = tv[h, j - i + L - 1] for h < H, i, j < L (a Toeplitz matrix per head); tv [H, 2L - 1].
    void (*rel_bias)(struct ke_backend * be, float * bias, const float * tv, int64_t L, int H);

    // --- sampling on the device (optional: NULL keeps the sampler on host copies, pipeline/sample.c) ---
    // y[k] = sum_j c[j] * x[j][k] for k < n, in double, rounded to float once; y may be one of the x[j];
    // 1 <= n_terms <= KE_LINCOMB_MAX.
    void (*lincomb)(struct ke_backend * be, float * y, int n_terms, const float * const * x, const double * c,
                    int64_t n);
    // The index of the first value of x[n] that is NaN or infinite, or -1 when all are finite (waits for
    // the queued work); *is_nan says which of the two it is.
    int64_t (*find_nonfinite)(struct ke_backend * be, const float * x, int64_t n, int * is_nan);

    // --- precision (optional; NULL on the CPU, whose two tables each have a fixed precision) --------
    // Ask for a compute precision; returns the one in effect (KE_PRECISION_FP8 falls back to BF16 where
    // the device has no fp8 tensor cores). Linears prepared after the call take their device form from
    // it (fp8: e4m3 weights with a per-tensor scale); attention follows it from the next call on.
    enum ke_precision (*set_precision)(struct ke_backend * be, enum ke_precision p);

    // --- Wan VAE (optional; NULL: the model composes the block) --------------------------------------
    // The body of a Wan VAE residual block (c1: c_in -> c_out, c2: c_out -> c_out, both 3x3x3) over
    // x[c_in, T, H, W]: z1 = silu(channel_l2norm(x, g0)), h = conv1(2 cached frames ++ z1) + b1,
    // z2 = silu(channel_l2norm(h, g1)), acc[c_out, T, H, W] += conv2(2 cached frames ++ z2) + b2; each
    // cache then keeps the last two frames of its conv's input. cache1 / cache2 hold 2 * H * W * c_in /
    // c_out bf16 values (zeros before the first chunk) in the backend's own layout, so a cache this op
    // has written is for this op alone. acc may equal x. Returns 0 when it ran (or recorded its failure),
    // -1 when the backend has no fused form for these convs (nothing done, caches untouched).
    // (CUDA: convs prepared narrow, bf16 channels-last with the caches kept in that layout.)
    int (*wan_resnet)(struct ke_backend * be, float * acc, const float * x, const struct ke_conv3d * c1,
                      const struct ke_conv3d * c2, const float * g0, const float * g1, void * cache1, void * cache2,
                      int T, int H, int W);
};

struct ke_backend {
    const struct ke_backend_ops * ops;
    enum ke_precision precision;   // matmul/conv compute precision
    void * impl;                   // backend private state
    // Sticky failure: the first failed op (out of memory, a device error) records code + message here
    // through ke_be_fail ("out of memory for <what> (<n> bytes)"); the op returns without its result and
    // later ops may do nothing until ke_be_status reads and clears it. Ops return void, so models check
    // ke_be_failed at least once per transformer block and per VAE chunk, and end every call with
    // ke_be_status (its status and message become the call's). A backend never aborts on a failure.
    struct ke_error failure;
};

// Record a failure on be (the first one since the last ke_be_status wins). Returns code.
enum ke_status ke_be_fail(struct ke_backend * be, enum ke_status code, const char * fmt, ...)
    __attribute__((format(printf, 3, 4)));
// Nonzero while a failure is recorded (cheap; does not wait for a device).
static inline int ke_be_failed(const struct ke_backend * be) { return be->failure.code != 0; }
// Wait for the backend (ops.status), then return its recorded failure (KE_STATUS_OK when none), copy
// the message to err (when err has none yet) and clear the record, so the backend is usable again.
enum ke_status ke_be_status(struct ke_backend * be, struct ke_error * err);

// KE_STATUS_OK when be can prepare a Linear whose weight is w; else KE_STATUS_UNSUPPORTED with a message
// naming the file (path), the tensor, its dtype and the backend.
// After a backend with a device memory budget (ops.set_memory) has prepared l, it reads its own copy
// (uploaded, or staged in pinned host memory to stream): the mapped file pages of the stored weight leave
// the resident set now, one linear at a time, rather than after the whole model is made (so a model's
// mapped pages and its staged copy are not resident together). No effect on the CPU backends, which read
// the mapped weights, or on weights that are not file mappings.
void ke_be_linear_drop_source(struct ke_backend * be, const struct ke_linear * l);
enum ke_status ke_be_linear_check(struct ke_backend * be, const struct ke_tensor * w, const char * path,
                                  struct ke_error * err);

// The CPU backend (always available): exact fp32 matmuls, or bf16 compute with fp32 accumulation.
struct ke_backend * ke_backend_cpu(void);
struct ke_backend * ke_backend_cpu_fast(void);
// Whether the CPU fast backend really computes in bf16 (oneDNN has a bf16 matmul for this CPU: AVX-512
// and newer). Without one (AVX2-only CPUs) its linears run the exact fp32 path.
bool ke_cpu_bf16_matmul(void);
// Create a backend by name ("cpu", "cuda"); NULL + err when unavailable.
struct ke_backend * ke_backend_by_name(const char * name, struct ke_error * err);

// Convenience wrappers.
static inline void * ke_be_alloc(struct ke_backend * be, size_t n) { return be->ops->alloc(be, n); }
// Set the device memory budget (see ops.set_memory); no effect on a backend without one.
static inline void ke_be_set_memory(struct ke_backend * be, size_t budget, size_t weight_cap)
{
    if (be->ops->set_memory) be->ops->set_memory(be, budget, weight_cap);
}
// Ask for a compute precision (see ops.set_precision); returns the one in effect (be->precision on a
// backend without the op).
static inline enum ke_precision ke_be_set_precision(struct ke_backend * be, enum ke_precision p)
{
    return be->ops->set_precision ? be->ops->set_precision(be, p) : be->precision;
}
// The fast path was asked for: bf16, or fp8 (which the CPU runs exactly as bf16; a device backend turns
// fp8 on itself through ke_be_set_precision).
static inline bool ke_precision_fast(enum ke_precision p)
{
    return p == KE_PRECISION_BF16 || p == KE_PRECISION_FP8;
}
// The parts of a GPU's fp8 precision in use (bit 0: the e4m3 GEMMs, bit 1: fp8 attention), from
// KINORA_CUDA_FP8=attn|gemm|all; both by default. The e4m3 GEMMs take their descales as a device alpha
// (cuBLASLt refused every algorithm with the A/B scale pointers set on an H100 with cuBLAS 13); where a
// shape gets no fp8 algorithm it runs as a bf16 GEMM on the dequantized weight. The estimates count e4m3
// weights only with the GEMMs on.
static inline int ke_fp8_parts(void)
{
    const char * f = getenv("KINORA_CUDA_FP8");
    return !f ? 3 : strcmp(f, "gemm") == 0 ? 1 : strcmp(f, "attn") == 0 ? 2 : 3;
}
// The form a backend's linears take when prepared now: its precision, except that fp8 without the e4m3
// GEMMs leaves them bf16. A model prepared in one form serves every precision of that form (its attention
// follows the backend's precision at each call), so caches key their models on this.
static inline enum ke_precision ke_be_linear_precision(const struct ke_backend * be)
{
    return be->precision == KE_PRECISION_FP8 && !(ke_fp8_parts() & 1) ? KE_PRECISION_BF16 : be->precision;
}
// Prefetch hint (see ops.prefetch); no effect on a backend that does not stream.
static inline void ke_be_prefetch(struct ke_backend * be, struct ke_linear * const * ls, int n)
{
    if (be->ops->prefetch) be->ops->prefetch(be, ls, n);
}
// " (device budget X GiB, Y GiB in use)" for messages about device memory, or "" (buf holds it).
const char * ke_be_mem_note(struct ke_backend * be, char * buf, size_t n);
static inline void ke_be_free(struct ke_backend * be, void * p) { if (p) be->ops->free(be, p); }
// A small parameter tensor (any float dtype) converted to f32 and copied into new backend memory, as
// the models keep norm weights, biases and tables. NULL when the host copy or the backend allocation
// fails; the caller reports it, naming the file and the tensor.
float * ke_be_upload_tensor_f32(struct ke_backend * be, const struct ke_tensor * t);
static inline struct ke_xbuf * ke_be_alloc_xbuf(struct ke_backend * be, int64_t n)
{
    return (struct ke_xbuf *) be->ops->alloc(be, (size_t) n * be->ops->xbuf_elem);
}
