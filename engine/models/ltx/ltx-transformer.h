// Kinora engine: the LTX-Video transformer (Transformer3DModel, Lightricks/LTX-Video 5260738) of the 13B
// distilled checkpoint: RMS norms, single_scale_shift AdaLN, RMS q/k norm across heads, tanh GELU,
// fractional-position RoPE over the whole inner dim, PixArt-alpha caption projection.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "backends/backend.h"
#include "core/tensor.h"
#include "ke.h"

struct ke_ltx_dit_config {
    int num_layers, num_heads, head_dim, inner_dim;   // inner_dim = num_heads * head_dim
    int in_channels, out_channels;                     // latent channels of a token (patch_size 1)
    int caption_channels, cross_attention_dim;         // text width in; cross-attention K/V width
    int ffn_dim;                                       // 4 * inner_dim (FeedForward's default)
    int freq_dim;                                      // 256: the timestep sinusoid (AdaLayerNormSingle)
    float norm_eps;                                    // norm1, norm2 (RMS); norm_out (LayerNorm) is 1e-6
    float qk_eps;                                      // 1e-5: the Attention's q_norm / k_norm
    double theta;                                      // positional_embedding_theta
    double max_pos[3];                                 // positional_embedding_max_pos (frames, h, w)
    double timestep_scale;                             // timestep_scale_multiplier (1: none)
    bool causal_temporal_positioning;                  // read for the pipeline (pixel coords); unused here
};

// Parse the transformer config: the checkpoint's metadata `config` (a JSON object whose "transformer"
// member is the section) or the section itself. Settings this port does not implement are refused
// with a message naming `path` and the key. (Fuzz entry point: no weights needed.)
enum ke_status ke_ltx_dit_config_parse(struct ke_ltx_dit_config * cfg, const char * json, const char * path,
                                       struct ke_error * err);

struct ke_ltx_dit;
struct ke_ltx_dit_context;   // per prompt: the caption projection and every block's cross-attention K/V

// Build over `weights` (borrowed, outlives the model): names as Transformer3DModel's state_dict, or
// with the single-file checkpoint's `model.diffusion_model.` prefix. config_json NULL: the weights'
// "config" metadata.
enum ke_status ke_ltx_dit_init(struct ke_ltx_dit ** out, const struct ke_tensor_set * weights,
                               const char * config_json, struct ke_backend * be, struct ke_error * err);
void ke_ltx_dit_free(struct ke_ltx_dit * d);
const struct ke_ltx_dit_config * ke_ltx_dit_get_config(const struct ke_ltx_dit * d);

// text [n_text, caption_channels] host f32 (the T5 output); keep [n_text] (1 keep, 0 padding) or NULL
// for all. Padding tokens get a -10000 bias in the reference, i.e. an attention weight of exactly 0 in
// float32, so they are left out of the K/V (when every token is padding, all of them are kept: the
// reference's softmax is then uniform over all).
enum ke_status ke_ltx_dit_context_new(struct ke_ltx_dit * d, const float * text, const uint8_t * keep, int n_text,
                                      struct ke_ltx_dit_context ** out, struct ke_error * err);
void ke_ltx_dit_context_free(struct ke_ltx_dit_context * c);

// Intermediates for parity checks: name ("inter.block0", ...) and host f32 data borrowed for the call.
typedef void (*ke_ltx_dit_tap_fn)(const char * name, const float * data, int64_t n, void * user);
void ke_ltx_dit_set_tap(struct ke_ltx_dit * d, ke_ltx_dit_tap_fn fn, void * user);

// How the RoPE angles are formed. The reference (precompute_freqs_cis) forms them in float32: at the
// highest frequency (theta * pi/2 ~ 15708 rad) one float32 rounding of the angle is up to 5e-4 rad, so
// its table differs from the exact one by up to 1e-3 (README "### Transformer").
enum ke_ltx_rope_angles {
    KE_LTX_ROPE_F64,   // exact: every step in float64 (the default)
    KE_LTX_ROPE_F32,   // the reference's float32 steps (linspace, pow, products), cos/sin of the result
};
void ke_ltx_dit_set_rope_angles(struct ke_ltx_dit * d, enum ke_ltx_rope_angles a);

// The RoPE table of n tokens (host): cs[n, inner_dim/2, 2] = (cos, sin) per adjacent pair, from
// grid[3, n] (the pipeline's fractional coords: frame coord / frame rate, pixel y, pixel x). 0 ok, -1 out
// of memory.
int ke_ltx_dit_rope_table(const struct ke_ltx_dit_config * cfg, enum ke_ltx_rope_angles a, const float * grid,
                          int64_t n, float * cs);

// One forward: x[n_tok, in_channels] (patchified latents), grid[3, n_tok], t[n_t] (n_t = 1 or n_tok:
// per-token timesteps in [0, 1], before the x1000 scaling) -> out[n_tok, out_channels] (all host f32).
enum ke_status ke_ltx_dit_forward(struct ke_ltx_dit * d, const struct ke_ltx_dit_context * ctx, const float * x,
                                  int64_t n_tok, const float * grid, const float * t, int64_t n_t, float * out,
                                  ke_abort_fn abort, void * abort_user, struct ke_error * err);

// --- device memory budget (ltx-plan.c) -----------------------------------------------------------
// How a forward fits a device memory budget. Sizes in bytes.
struct ke_ltx_dit_mem_plan {
    size_t weights;       // every linear's weight as the device keeps it (bf16; fp8 and block types as stored)
    size_t block;         // the weights one block's forward reads (what streams per block)
    size_t activations;   // the forward's buffers, the RoPE table, the prompt's K/V, GEMM scratch
    size_t weight_cap;    // resident weight cap for ke_be_set_memory (SIZE_MAX: everything resident)
    bool streams;         // some block weights stay in host memory and stream per block
    bool fits;            // false: even streaming every block leaves too little for the activations
};
// Device bytes per 1000 weight values of a stored type: fp8 and the GGUF block types stay as stored on a
// device, other types become bf16 (2000).
size_t ke_ltx_weight_permille(enum ke_dtype type);
// The widest of block 0's linears in `w` (either key spelling); 2000 when none is found.
size_t ke_ltx_dit_weight_permille(const struct ke_tensor_set * w);
// Plan a forward over n_tok latent tokens (the second pass has the most) with n_text prompt tokens, xbufs
// of xbuf_elem bytes, within `budget` bytes: the weights stay resident while they fit beside the
// activations; past that the blocks stream through a double buffer of two blocks (weight_cap keeps the
// activations' room); fits is false when not even that leaves room for the activations.
void ke_ltx_dit_plan_memory(const struct ke_ltx_dit_config * c, size_t weight_permille, int64_t n_tok, int n_text,
                            size_t xbuf_elem, size_t budget, struct ke_ltx_dit_mem_plan * plan);
// The decision alone, from plan->weights, block and activations (the estimate counts the weights as the
// files store them): sets weight_cap, streams and fits for `budget`.
void ke_ltx_dit_plan_fit(struct ke_ltx_dit_mem_plan * plan, size_t budget);
