// Kinora engine: the Wan diffusion transformer (WanModel of the official wan/modules/model.py):
// TI2V-5B, T2V/I2V-A14B experts, Wan2.1 T2V. Runs on any backend of the op table.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "backends/backend.h"
#include "core/tensor.h"
#include "ke.h"

struct ke_dit_config {
    char model_type[8];     // "ti2v", "t2v", "i2v"
    int patch_t, patch_h, patch_w;
    int in_dim, out_dim;
    int dim, ffn_dim, freq_dim;
    int text_dim, text_len;
    int num_heads, num_layers;
    float eps;
    bool qk_norm, cross_attn_norm;
};

// Fill the config from a config.json text (NULL: the weights' "config" metadata, else tensor shapes).
// Shapes of the weights are always checked against it.
enum ke_status ke_dit_config_from(struct ke_dit_config * cfg, const struct ke_tensor_set * weights,
                                  const char * config_json, struct ke_error * err);

struct ke_dit;
struct ke_dit_context;   // per prompt (and per model): text embedding + every block's cross-attn K/V

// Build a DiT over `weights` (borrowed: must outlive the model) on backend `be`.
enum ke_status ke_dit_init(struct ke_dit ** out, const struct ke_tensor_set * weights, const char * config_json,
                           struct ke_backend * be, struct ke_error * err);
// The same with LoRAs (models/common/lora.h; borrowed for the call, may be freed after it): each
// use's strength scales its deltas; merge folds them into copies of the f32/bf16/f16 weights instead
// of run-time terms. A LoRA matching nothing, or a shape that disagrees, is an error.
struct ke_lora_use;
enum ke_status ke_dit_init_lora(struct ke_dit ** out, const struct ke_tensor_set * weights, const char * config_json,
                                struct ke_backend * be, const struct ke_lora_use * loras, int n_loras, bool merge,
                                struct ke_error * err);
void ke_dit_free(struct ke_dit * d);
const struct ke_dit_config * ke_dit_get_config(const struct ke_dit * d);

// text [n_tok, text_dim] host f32 (the T5 output trimmed to the real tokens; n_tok <= text_len).
enum ke_status ke_dit_context_new(struct ke_dit * d, const float * text, int n_tok,
                                  struct ke_dit_context ** out, struct ke_error * err);
void ke_dit_context_free(struct ke_dit_context * c);

// Optional tap for intermediates (parity checks): called with a name such as "inter.block0" and the
// host f32 data (borrowed for the call) of n elements.
typedef void (*ke_dit_tap_fn)(const char * name, const float * data, int64_t n, void * user);
void ke_dit_set_tap(struct ke_dit * d, ke_dit_tap_fn fn, void * user);

// One forward pass (host f32 in and out):
//   x [c_x, F, H, W], y [c_y, F, H, W] or NULL (concatenated after x along channels; c_x + c_y = in_dim),
//   t: n_t timesteps: 1 (broadcast) or one per token (L = F * H/2 * W/2),
//   out [out_dim, F, H, W].
// abort (may be NULL) is polled between blocks; a non-zero answer returns KE_STATUS_ABORTED.
enum ke_status ke_dit_forward(struct ke_dit * d, const struct ke_dit_context * ctx,
                              const float * x, int c_x, const float * y, int c_y, int F, int H, int W,
                              const float * t, int n_t, float * out,
                              ke_abort_fn abort, void * abort_user, struct ke_error * err);
// The same forward with x and out in the DiT's backend memory (ke_be_alloc of ke_dit_backend(d)): the
// latent is not uploaded nor the prediction downloaded (the sampler keeps both on the device). y stays a
// host array (uploaded per call; I2V only).
enum ke_status ke_dit_forward_dev(struct ke_dit * d, const struct ke_dit_context * ctx,
                                  const float * x_dev, int c_x, const float * y, int c_y, int F, int H, int W,
                                  const float * t, int n_t, float * out_dev,
                                  ke_abort_fn abort, void * abort_user, struct ke_error * err);
// The backend the DiT runs on.
struct ke_backend * ke_dit_backend(const struct ke_dit * d);

// --- device memory budget ---
// How a DiT run fits a device memory budget (ke_dit_plan_memory). Sizes in bytes.
struct ke_dit_mem_plan {
    size_t weights;       // every linear's weight as the device keeps it (bf16; fp8 checkpoints as fp8)
    size_t block;         // weights one block's forward reads (what streams per block)
    size_t activations;   // forward arena, RoPE table, both text contexts, scratch and workspaces
    size_t weight_cap;    // resident weight cap for ke_be_set_memory (SIZE_MAX: everything resident)
    int64_t ffn_chunk;    // tokens per FFN pass (0: all at once)
    bool streams;         // some weights stay in host memory and stream per block
    bool fits;            // false: even streaming everything leaves too little for the activations
};
// Plan a forward at latent size F x H x W (latent frames and pixels) with the weights of `w` on a
// backend whose xbuf has xbuf_elem bytes, within `budget` bytes. Weights stay resident while they fit
// beside the activations; past that, blocks stream through a double buffer of two blocks; when even
// then the activations do not fit, the FFN runs in token chunks.
enum ke_status ke_dit_plan_memory(const struct ke_tensor_set * w, int F, int H, int W, size_t xbuf_elem,
                                  size_t budget, struct ke_dit_mem_plan * plan, struct ke_error * err);
// Tokens per FFN pass (0: all); the plan's ffn_chunk.
void ke_dit_set_ffn_chunk(struct ke_dit * d, int64_t tokens);
// Step-cache hook (TeaCache, sampling/step-cache): the residual the blocks add to the patch embedding.
// store: run the blocks and keep x_after - x_before in resid; skip: run no block, add resid instead.
// resid is backend memory of (tokens x dim) floats, allocated by the DiT at the first store and freed
// with ke_dit_residual_free. Set before ke_dit_forward, cleared (NULL) after.
struct ke_dit_residual {
    bool skip;
    float * resid;
    int64_t n;
    struct ke_backend * be;     // where resid lives (the backend outlives the experts that share it)
};
void ke_dit_set_residual(struct ke_dit * d, struct ke_dit_residual * r);
void ke_dit_residual_free(struct ke_dit_residual * r);
// The time embedding e (dim floats, host) of one timestep: time_embedding(sinusoid(t)) as in the forward.
enum ke_status ke_dit_time_embedding(struct ke_dit * d, float t, float * e_out, struct ke_error * err);
// Bytes of the activation buffers one forward allocates on its backend at this latent size (n_unique_t:
// distinct timestep values, 2 for TI2V with an image frame), and of one text context (ke_dit_context_new);
// xbuf_elem: the backend's ops.xbuf_elem. The pre-flight estimate reads these.
size_t ke_dit_activation_bytes(const struct ke_dit_config * c, int F, int H, int W, int n_unique_t, size_t xbuf_elem);
size_t ke_dit_context_bytes(const struct ke_dit_config * c, size_t xbuf_elem);

// FLOPs of one forward at this latent size (2 per multiply-add), for benchmarks.
double ke_dit_forward_flops(const struct ke_dit_config * cfg, int F, int H, int W, bool with_context);
// The part of them in attention (self and cross: scores and values), the rest being the linears.
double ke_dit_attention_flops(const struct ke_dit_config * cfg, int F, int H, int W);
