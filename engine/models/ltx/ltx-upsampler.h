// Kinora engine: the LTX-Video spatial latent upsampler (Lightricks/LTX-Video at 5260738,
// ltx_video/models/autoencoders/latent_upsampler.py: LatentUpsampler with spatial_upsample and dims 2 or 3;
// ltxv-spatial-upscaler-0.9.8 is in_channels 128, mid_channels 512, num_blocks_per_stage 4, dims 3).
//
// initial_conv -> GroupNorm(32) -> SiLU -> ResBlock x n -> per frame: Conv2d(mid, 4 mid) + pixel shuffle x2
// -> ResBlock x n -> final_conv; ResBlock(x) = silu(norm2(conv2(silu(norm1(conv1(x))))) + x).
// Convs are zero-padded 3x3x3 (dims 3) or 3x3 per frame (dims 2). The temporal upsampler is refused.
// Activations f32 [C, T, H, W] in backend memory.
#pragma once

#include <stdbool.h>

#include "backends/backend.h"
#include "core/tensor.h"
#include "ke.h"

#define KE_LTX_UPS_MAX_BLOCKS 16

struct ke_ltx_upsampler_config {
    int in_channels, mid_channels, num_blocks_per_stage, dims;
    bool spatial_upsample, temporal_upsample;
};

// Parse the upsampler's JSON config (its safetensors "config" metadata); defaults as
// LatentUpsampler.from_config. `path` names the source in errors.
enum ke_status ke_ltx_upsampler_config_parse(struct ke_ltx_upsampler_config * c, const char * json,
                                             const char * path, struct ke_error * err);

struct ke_ltx_ups_norm {
    float * w, * b;             // GroupNorm affine (C) backend f32
};

struct ke_ltx_ups_block {
    struct ke_conv3d conv1, conv2;
    struct ke_ltx_ups_norm norm1, norm2;
};

struct ke_ltx_upsampler {
    struct ke_backend * be;
    struct ke_tensor_set * ws;
    bool own_ws;
    const char * path;
    struct ke_ltx_upsampler_config cfg;
    struct ke_conv3d initial_conv, up_conv, final_conv;
    struct ke_ltx_ups_norm initial_norm;
    struct ke_ltx_ups_block pre[KE_LTX_UPS_MAX_BLOCKS], post[KE_LTX_UPS_MAX_BLOCKS];
};

enum ke_status ke_ltx_upsampler_init(struct ke_ltx_upsampler ** out, struct ke_tensor_set * ws, bool own_ws,
                                     struct ke_backend * be, struct ke_error * err);
enum ke_status ke_ltx_upsampler_open(struct ke_ltx_upsampler ** out, const char * path, struct ke_backend * be,
                                     struct ke_error * err);
void ke_ltx_upsampler_free(struct ke_ltx_upsampler * u);

// The pipeline's step (LTXMultiScalePipeline._upsample_latents): with the VAE's per-channel statistics,
// raw = upsampler(latent * std + mean) and out = (raw - mean) / std. latent [C, T, h, w] host; out and raw
// (either may be NULL) [C, T, 2h, 2w] host. std/mean NULL: no un-normalise / normalise.
// inter_initial [mid, T, h, w] and inter_up [mid, T, 2h, 2w] (host, may be NULL): after initial_activation
// and after the upsampler.
enum ke_status ke_ltx_upsampler_run(struct ke_ltx_upsampler * u, float * out, float * raw, const float * latent,
                                    int T, int h, int w, const float * std, const float * mean,
                                    float * inter_initial, float * inter_up, struct ke_error * err);
