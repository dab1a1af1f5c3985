// Kinora engine: TAEHV, the tiny video autoencoder for Wan latents (madebyollin/taehv, taehv.py at
// 1f14a56; checkpoints taew2_1 for 16-channel and taew2_2 for 48-channel latents).
//
// The model is the reference's two nn.Sequential stacks; the layer at position N owns the checkpoint
// keys "decoder.N.*" / "encoder.N.*", so the layout below is the reference's, index for index:
//   decoder: Clamp, conv, ReLU, 3 x MemBlock, Upsample x2, TGrow, conv, (x3 stages) ..., ReLU, conv
//   encoder: conv, ReLU, (TPool, conv stride 2, 3 x MemBlock) x3, conv
// Widths, the patch size (3*p^2 image channels) and the latent channels come from tensor shapes.
// Time strides: decoder TGrow (1, 2, 2), encoder TPool (2, 2, 1), the reference's defaults; a TGrow
// weight with more rows than its stride needs keeps its last rows (the reference's patch_tgrow_layers).
//
// Activations are f32 [C, T, H, W] in backend memory. A MemBlock sees its input concatenated with the
// same input one frame earlier (zeros before the first frame); the frame before a pass comes from the
// block's memory, so a clip may be run in any split of its frames with the same result (the reference's
// parallel and sequential paths agree, and so do these).
#pragma once

#include <stdbool.h>

#include "backends/backend.h"
#include "core/tensor.h"
#include "ke.h"

enum taehv_op { TAE_CLAMP = 0, TAE_CONV, TAE_RELU, TAE_MEM, TAE_UP2, TAE_TGROW, TAE_TPOOL };

struct taehv_layer {
    enum taehv_op op;
    struct ke_conv3d c[3];      // CONV: c[0] (3x3); MEM: conv.0, conv.2, conv.4; TGROW/TPOOL: c[0] (1x1)
    struct ke_conv3d skip;      // MEM: 1x1 skip conv when the widths differ
    bool has_skip;
    int stride;                 // CONV: spatial stride; TGROW/TPOOL: time stride
    int c_in, c_out;
    struct ke_tensor view;      // TGROW: the rows in use of a larger weight
    float * mem;                // MEM: the input frame before this pass [c_in, hw] (backend); NULL: zeros
    int64_t mem_hw;
};

#define TAEHV_MAX_LAYERS 24

struct taehv_coder {
    struct taehv_layer l[TAEHV_MAX_LAYERS];
    int n;
    int t_scale;                // frames per latent frame (decoder: up, encoder: down)
    int s_scale;                // spatial factor of the layers (8), before the patch
};

struct ke_taehv {
    struct ke_backend * be;
    struct ke_tensor_set * ws;
    bool own_ws;
    int z;                      // latent channels (16 or 48 for Wan)
    int patch;                  // pixel (un)shuffle factor (1 or 2)
    bool has_enc, has_dec;
    struct taehv_coder enc, dec;
    float * perm[3];            // host f32 copies of the weights next to the pixel (un)shuffle
    struct ke_tensor perm_t[3];
    double mem_budget;          // bytes of activations a pass may use before it splits its frames (0: none)
};

// Build from a tensor set (own_ws: the model frees it). Either coder may be absent, not both.
enum ke_status ke_taehv_init(struct ke_taehv ** out, struct ke_tensor_set * ws, bool own_ws, struct ke_backend * be,
                             struct ke_error * err);
// Open a TAEHV safetensors file (taew2_1.safetensors, taew2_2.safetensors).
enum ke_status ke_taehv_open(struct ke_taehv ** out, const char * path, struct ke_backend * be,
                             struct ke_error * err);
void ke_taehv_free(struct ke_taehv * t);

// Frames out for n_lat latent frames: n_lat * t_up - (t_up - 1) (1 + 4 (n_lat - 1) for Wan).
int ke_taehv_decoded_frames(const struct ke_taehv * t, int n_lat);
// Pixels per latent pixel: 8 * patch (8 for taew2_1, 16 for taew2_2).
int ke_taehv_scale(const struct ke_taehv * t);

struct ke_taehv_run_opts {
    bool raw;                   // decode: the last conv's output [3p^2, n_lat*t_up, 8h, 8w], no shuffle,
                                // clamp or trim (needs video of that size)
    bool pm1;                   // decode: pixels in [-1, 1] (the engine's video range), not [0, 1]
    float * inter[TAEHV_MAX_LAYERS];   // optional: layer i's output [C, T, H, W] (one pass, no split),
    int64_t inter_n[TAEHV_MAX_LAYERS]; // ... into room for this many floats (else an error)
};

// latent [z, n_lat, h, w] (channels first, the engine's layout; TAEHV takes the sampler's normalised
// latents) -> video [3, F, 8ph, 8pw] in [0, 1] (F = ke_taehv_decoded_frames). video may be NULL when
// cb takes the frames (cb gets [-1, 1] pixels, as from the Wan VAE).
enum ke_status ke_taehv_decode(struct ke_taehv * t, float * video, const float * latent, int n_lat, int h, int w,
                               ke_vae_frame_fn cb, void * user_data, const struct ke_taehv_run_opts * o,
                               struct ke_error * err);
// video [3, F, H, W] in [0, 1] (pm1: [-1, 1]) -> latent [z, ceil(F / 4), H/s, W/s]; the last frame is
// repeated up to a multiple of 4 frames, as the reference does.
enum ke_status ke_taehv_encode(struct ke_taehv * t, float * latent, const float * video, int n_frames, int height,
                               int width, const struct ke_taehv_run_opts * o, struct ke_error * err);
