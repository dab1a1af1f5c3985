// Kinora engine: the LTX-Video causal video VAE (Lightricks/LTX-Video at 5260738,
// ltx_video/models/autoencoders/causal_video_autoencoder.py: CausalVideoAutoencoder, Encoder, Decoder).
//
// Supported: the blocks of the 0.9.x VAEs with pixel norm: encoder res_x and compress_{time,space,all}_res
// (SpaceToDepthDownsample), decoder res_x (timestep-conditioned or not) and compress_{time,space,all}
// (DepthToSpaceUpsample, with or without the residual), patch size 1/2/4/..., latent_log_var uniform,
// constant, per_channel or none, causal or non-causal decoder, spatial padding zeros / reflect / replicate.
// Refused (KE_STATUS_UNSUPPORTED, naming the key): group_norm / layer_norm, inject_noise (it draws
// torch.randn inside the model), attn_res_x, res_x_y, compress_all_x_y, the encoder's plain compress_*,
// use_quant_conv, normalize_latent_channels, dims other than 3.
//
// Layout: activations f32 [C, T, H, W] in backend memory. The convolutions are CausalConv3d: the time
// padding repeats the first frame (causal: k-1 copies in front) or the first and the last frame
// ((k-1)/2 each side); the spatial padding is the config's spatial_padding_mode.
#pragma once

#include <stdbool.h>

#include "backends/backend.h"
#include "core/tensor.h"
#include "ke.h"

#define KE_LTX_VAE_MAX_BLOCKS 16
#define KE_LTX_VAE_MAX_LAYERS 16   // res_x layers per block

enum ke_ltx_block { KE_LTX_RES_X = 0, KE_LTX_COMPRESS_TIME, KE_LTX_COMPRESS_SPACE, KE_LTX_COMPRESS_ALL };
enum ke_ltx_pad { KE_LTX_PAD_ZEROS = 0, KE_LTX_PAD_REFLECT = 1, KE_LTX_PAD_REPLICATE = 2 };
enum ke_ltx_logvar { KE_LTX_LOGVAR_UNIFORM = 0, KE_LTX_LOGVAR_PER_CHANNEL, KE_LTX_LOGVAR_CONSTANT, KE_LTX_LOGVAR_NONE };

struct ke_ltx_block_desc {
    enum ke_ltx_block kind;
    int num_layers;             // res_x
    int multiplier;             // compress: channel multiplier (encoder) / reduction (decoder)
    bool residual;              // decoder compress
    bool res;                   // encoder: the *_res variant
};

// The VAE's config (the "vae" object of a checkpoint's config metadata).
struct ke_ltx_vae_config {
    int in_channels, out_channels, latent_channels;
    int patch_size;
    int encoder_base_channels, decoder_base_channels;
    bool causal_decoder, timestep_conditioning;
    enum ke_ltx_pad pad;
    enum ke_ltx_logvar logvar;
    int n_enc, n_dec;
    struct ke_ltx_block_desc enc[KE_LTX_VAE_MAX_BLOCKS];   // encoder_blocks, in config order
    struct ke_ltx_block_desc dec[KE_LTX_VAE_MAX_BLOCKS];   // decoder_blocks, in config order (run reversed)
};

// The VAE config of the 13B 0.9.7 / 0.9.8 checkpoints ("vae" of their config metadata; no
// spatial_padding_mode, so zeros): for random-weight models at the real shapes.
extern const char ke_ltx_vae_13b_config[];

// Parse a JSON config: either the VAE object itself or a checkpoint config with a "vae" member.
// `path` names the source in errors. Every key is checked; unsupported values are refused.
enum ke_status ke_ltx_vae_config_parse(struct ke_ltx_vae_config * c, const char * json, const char * path,
                                       struct ke_error * err);

// PixArtAlphaCombinedTimestepSizeEmbeddings(dim, 0): linear_2(silu(linear_1(sinusoid_256(t)))).
struct ke_ltx_temb {
    struct ke_linear l1;        // (dim, 256)
    struct ke_linear l2;        // (dim, dim)
    int dim;
};

// ResnetBlock3D with in == out channels.
struct ke_ltx_resnet {
    struct ke_conv3d conv1, conv2;   // (C, C, 3, 3, 3)
    float * sst;                     // scale_shift_table (4, C) f32 backend memory, or NULL
};

struct ke_ltx_vblock {
    struct ke_ltx_block_desc d;
    int c_in, c_out;
    int ft, fs;                      // compress: time and space strides
    struct ke_ltx_resnet res[KE_LTX_VAE_MAX_LAYERS];
    bool has_temb;
    struct ke_ltx_temb temb;         // res_x of a timestep-conditioned decoder: dim 4*C
    struct ke_conv3d conv;           // compress: (c_out/(ft*fs*fs), c_in) encoder, (ft*fs*fs*c_in/mult, c_in) decoder
};

struct ke_ltx_coder {
    struct ke_conv3d conv_in, conv_out;
    struct ke_ltx_vblock b[KE_LTX_VAE_MAX_BLOCKS];   // in run order
    int n;
};

struct ke_ltx_vae {
    struct ke_backend * be;
    struct ke_tensor_set * ws;
    bool own_ws;
    const char * path;
    struct ke_ltx_vae_config cfg;
    bool has_enc, has_dec;
    struct ke_ltx_coder enc, dec;
    float timestep_scale_multiplier;   // decoder.timestep_scale_multiplier (1000)
    struct ke_ltx_temb last_temb;      // decoder.last_time_embedder (dim 2*C)
    float * last_sst;                  // decoder.last_scale_shift_table (2, C) backend
    float * std_of_means, * mean_of_means;   // (latent_channels) host f32; NULL without per_channel_statistics
    int t_scale, s_scale;              // pixels per latent: 8 and 32 for the 0.9.x VAEs
};

// Build from a tensor set whose "config" metadata holds the config (own_ws: the model frees the set).
// Keys may carry the single-file checkpoint's "vae." prefix (stripped here, in ws).
enum ke_status ke_ltx_vae_init(struct ke_ltx_vae ** out, struct ke_tensor_set * ws, bool own_ws,
                               struct ke_backend * be, struct ke_error * err);
enum ke_status ke_ltx_vae_open(struct ke_ltx_vae ** out, const char * path, struct ke_backend * be,
                               struct ke_error * err);
void ke_ltx_vae_free(struct ke_ltx_vae * v);

// Intermediates a run may return (host f32, [C, T, H, W]); a NULL buffer is not written.
struct ke_ltx_vae_inter {
    float * conv_in;                               // the coder's conv_in output
    float * blocks[KE_LTX_VAE_MAX_BLOCKS];         // each block's output, in run order
    float * decoder_input;                         // decode: the un-normalised noised latent
};

// The pipeline's decode (LTXVideoPipeline.__call__ + vae_decode with vae_per_channel_normalize):
// z = (latent * (1 - noise_scale) + noise * noise_scale) * std_of_means + mean_of_means,
// video = decoder(z, timestep). latent, noise [C, T, h, w] host (noise may be NULL when noise_scale is 0);
// video [out_channels, 1 + t_scale*(T-1), s_scale*h, s_scale*w] host, or NULL: the decode runs and its
// output stays in backend memory, freed (a benchmark's timing without the copy to the host). timestep is
// used only by a timestep-conditioned decoder.
enum ke_status ke_ltx_vae_decode(struct ke_ltx_vae * v, float * video, const float * latent, const float * noise,
                                 int T, int h, int w, float timestep, float noise_scale,
                                 struct ke_ltx_vae_inter * inter, struct ke_error * err);
// video [in_channels, F, H, W] host (F = 1 + t_scale*k, H and W multiples of s_scale) -> moments
// [2C, T, H/s, W/s] (the Encoder's output: means, then log-variances) and latent
// [C, T, H/s, W/s] = (means - mean_of_means) / std_of_means (either may be NULL).
enum ke_status ke_ltx_vae_encode(struct ke_ltx_vae * v, float * moments, float * latent, const float * video, int F,
                                 int H, int W, struct ke_ltx_vae_inter * inter, struct ke_error * err);

// Shared by the VAE and the upsampler (ltx-vae-run.c): the sinusoid of diffusers' Timesteps(256,
// flip_sin_to_cos=True, downscale_freq_shift=0) in float32 as PyTorch computes it.
void ke_ltx_timestep_sinusoid(float * out256, float t);

// --- device memory of the decode (ltx-plan.c; one piece, or one tile of ke_ltx_vae_decode_tiled) -----
// The decoder's channels at latent size and its number of upsampling blocks (the pre-flight estimate's
// model of the decoder's widest level).
void ke_ltx_vae_levels(const struct ke_ltx_vae_config * vc, int * top_channels, int * levels);
// Bytes a decode of a [C, T, lh, lw] latent to n_frames frames holds in backend memory besides the
// weights: three f32 feature maps of the widest level and the f32 output (a model, not a measurement).
double ke_ltx_decode_bytes(int top_channels, int levels, int T, int lh, int lw, int n_frames, int s_scale);

// --- spatially tiled decode (ltx-vae-tiles.c) ----------------------------------------------------------
// Every op of the decoder is local in space, so the latent may be decoded in overlapping spatial tiles
// whose videos are blended (as AutoencoderKLLTXVideo.tiled_decode of diffusers does): each tile weighs 1
// inside and ramps linearly across the overlap with each neighbour; the weights are normalised, so pixels
// of one tile only are its decode exactly. The convolutions see zero (or edge) padding where the whole
// latent has neighbours, so within the receptive field of a tile edge the blend is an approximation.

#define KE_LTX_TILE_MIN 4       // the smallest tile side the planner makes (latent pixels)
#define KE_LTX_TILE_SHARE 0.8   // the part of the bytes left that a tile's decode is planned in

// ke_ltx_vae_decode (arguments as there; video is required) in tiles of at most tile_h x tile_w latent
// pixels, neighbours sharing `overlap` latent pixels (at least). When one tile covers the latent, the
// result is ke_ltx_vae_decode's, bit for bit. Host memory: one tile's video and latent beside `video`.
enum ke_status ke_ltx_vae_decode_tiled(struct ke_ltx_vae * v, float * video, const float * latent,
                                       const float * noise, int T, int h, int w, float timestep, float noise_scale,
                                       int tile_h, int tile_w, int overlap, struct ke_error * err);

// Tiles along one side of n latent pixels (tile t, overlap o): their count, and (starts, may be NULL)
// their first pixels, spread evenly from 0 to n - t so that neighbours share o pixels or more.
int ke_ltx_tile_starts(int * starts, int n, int t, int o);

struct ke_ltx_tile_plan {
    bool tiled;                 // false: the whole latent in one decode
    int tile_h, tile_w;         // latent pixels (h and w when not tiled)
    int overlap;                // latent pixels shared by neighbours (0 when not tiled)
    int n_tiles;
    double need;                // device bytes of one decode (ke_ltx_decode_bytes at the tile's size)
};

// The tiles of a [C, T, h, w] latent's decode to n_frames frames within `avail` device bytes (what the
// budget leaves besides the weights): untiled when the whole fits; else the fewest tiles whose decode
// fits KE_LTX_TILE_SHARE of avail, the smallest such (less overlap work), their overlap a quarter of the
// smaller tiled side within [2, 4]. KE_STATUS_NOMEM, naming the need and `avail`, when not even a
// KE_LTX_TILE_MIN square fits.
enum ke_status ke_ltx_vae_tile_plan(struct ke_ltx_tile_plan * plan, int top_channels, int levels, int T, int h,
                                    int w, int n_frames, int s_scale, double avail, struct ke_error * err);
