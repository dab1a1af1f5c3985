// Kinora engine: Wan2.1 / Wan2.2 VAE internals (official wan/modules/vae2_1.py, vae2_2.py, 42bf4cf).
// Blocks are built from the checkpoint keys; forward passes stream chunks of frames through
// per-conv caches (spec §6.4): encode frame 0 then groups of 4, decode one latent frame at a time.
#pragma once

#include <stdbool.h>

#include "backends/backend.h"
#include "core/tensor.h"
#include "ke.h"

// --- dims legend ---------------------------------------------------------------------------------
// C channels, T frames, H x W spatial, hw = H*W; activations are f32 [C, T, H, W] in backend memory.

struct vae_act {
    float * d;          // (C, T, H, W)
    int C, T, H, W;
};

enum vae_block_kind { VAE_RES = 0, VAE_ATTN, VAE_RESAMPLE };
enum vae_mode { VAE_DOWN2D = 0, VAE_DOWN3D, VAE_UP2D, VAE_UP3D };

struct vae_res {
    float * g0, * g1;               // (c_in), (c_out) f32 in backend memory: norm gains
    struct ke_conv3d c1, c2, sc;    // (c_out, c_in, 3,3,3), (c_out, c_out, 3,3,3), (c_out, c_in, 1,1,1)
    bool has_sc;
    int c_in, c_out;
    int cache;                      // cache index of c1; c2 uses cache + 1
};

struct vae_attn {
    float * gamma;                  // (C)
    struct ke_conv3d qkv, proj;     // (3C, C, 1, 1), (C, C, 1, 1)
    int C;
};

struct vae_resample {
    enum vae_mode mode;
    struct ke_conv3d conv;          // (c_out, C, 3, 3)
    struct ke_conv3d tconv;         // (C, C, 3,1,1) down3d / (2C, C, 3,1,1) up3d
    int C, c_out;
    int cache;                      // time_conv cache index (3-D modes)
};

struct vae_block {
    enum vae_block_kind kind;
    struct vae_res res;
    struct vae_attn attn;
    struct vae_resample rs;
};

// A stage of blocks with an optional weightless Wan2.2 shortcut (AvgDown3D / DupUp3D).
struct vae_stage {
    int b0, n;                      // blocks[b0 .. b0+n)
    int shortcut;                   // 0 none, 1 AvgDown, 2 DupUp
    int sc_in, sc_out, ft, fs;
};

#define VAE_MAX_BLOCKS 64
#define VAE_MAX_STAGES 8

struct vae_coder {
    struct ke_conv3d conv_in;       // encoder (dim, 3|12, 3,3,3) / decoder (top, z, 3,3,3)
    int cache_in;
    struct vae_block blocks[VAE_MAX_BLOCKS];
    int n_blocks;
    struct vae_stage stages[VAE_MAX_STAGES];
    int n_stages;
    struct vae_block mid[3];        // res, attention, res
    float * head_gamma;             // (C_last)
    struct ke_conv3d head;          // encoder (2z, C, 3,3,3) / decoder (3|12, C, 3,3,3)
    int cache_head;
    int n_caches;
    int scale;                      // spatial factor of the coder (8)
};

struct ke_vae {
    int version;                    // 21 or 22
    int z_dim;                      // 16 or 48
    int patch;                      // 1 (Wan2.1) or 2 (Wan2.2)
    int scale;                      // pixels per latent pixel: 8 or 16
    struct ke_backend * be;
    struct ke_tensor_set * ws;
    bool own_ws;
    bool has_enc, has_dec;
    bool bf16_cache;                // caches stored as bf16 (fast path)
    struct vae_coder enc, dec;
    struct ke_conv3d conv1;         // (2z, 2z, 1,1,1)
    struct ke_conv3d conv2;         // (z, z, 1,1,1)
    float mean[48], inv_std[48];
    // tiling (decode): 0 = untiled unless the budget asks for tiles
    double mem_budget;              // bytes; 0 = no limit
    int tile, overlap;              // latent pixels (forced tile size, overlap)
};

// One 3-tap (or time-resample) conv cache: the last input frames, zeros before the first chunk.
struct vae_cache {
    void * d;                       // (C, n_frames, hw) f32 or bf16, or the backend's layout (fused)
    int C, n_frames;
    int64_t hw;
    bool fused;                     // written by the backend's wan_resnet: for that op alone from now on
    bool composed;                  // the backend had no fused form for this block: composed from now on
};

struct vae_state {
    struct vae_cache * c;
    int n;
    bool first;                     // no chunk processed yet
};

// wan-vae.c
enum ke_status ke_wan_vae_init(struct ke_vae ** out, struct ke_tensor_set * ws, bool own_ws, struct ke_backend * be,
                               struct ke_error * err);
void ke_wan_vae_free(struct ke_vae * v);

// vae-blocks.c: streaming forwards. x is consumed (freed); *out receives the result.
enum ke_status ke_vae_state_init(struct ke_vae * v, struct vae_state * s, const struct vae_coder * cd);
void ke_vae_state_free(struct ke_vae * v, struct vae_state * s);
size_t ke_vae_state_bytes(const struct ke_vae * v, const struct vae_state * s);
enum ke_status ke_vae_act_new(struct ke_vae * v, struct vae_act * a, int C, int T, int H, int W);
void ke_vae_act_free(struct ke_vae * v, struct vae_act * a);
enum ke_status ke_vae_encoder_chunk(struct ke_vae * v, struct vae_state * s, struct vae_act * x, struct vae_act * out);
enum ke_status ke_vae_decoder_chunk(struct ke_vae * v, struct vae_state * s, struct vae_act * x, struct vae_act * out);
enum ke_status ke_vae_conv1x1(struct ke_vae * v, const struct ke_conv3d * c, const struct vae_act * x,
                              struct vae_act * out);

// vae-run.c: whole clips (host memory in and out).
struct ke_vae_run_opts {
    bool clamp;                     // clamp decoded pixels to [-1, 1]
    float * mu;                     // optional (z, Tl, h, w): raw encoder mean
    float * enc_out;                // optional (2z, Tl, h, w): encoder output before conv1
    float * dec_in;                 // optional (z, Tl, h, w): conv2 output (decoder input)
    size_t peak_state_bytes;        // out: cache bytes held at the end
};
enum ke_status ke_vae_encode_opts(struct ke_vae * v, float * latent, const float * video, int n_frames, int height,
                                  int width, struct ke_vae_run_opts * o, struct ke_error * err);
enum ke_status ke_vae_decode_opts(struct ke_vae * v, float * video, const float * latent, int n_lat, int lat_h,
                                  int lat_w, ke_vae_frame_fn cb, void * user_data, struct ke_vae_run_opts * o,
                                  struct ke_error * err);
// Tile plan for a decode: tile size and overlap in latent pixels (tile >= max(h, w): untiled).
void ke_vae_tile_plan(const struct ke_vae * v, int lat_h, int lat_w, int * tile, int * overlap);
// Bytes a decode needs for the tile plan of a budget (0: untiled) given the decoder's costs per latent
// pixel (caches, largest activation); ov: overlap of neighbouring tiles. Sets the chosen tile and overlap.
double ke_vae_tile_need(double cache_px, double act_px, double budget, int ov, int lat_h, int lat_w, int * tile,
                        int * overlap);
// The decoder's costs per latent pixel: caches as f32 (half that with bf16 caches) and activations.
void ke_vae_decode_costs(const struct ke_vae * v, double * cache_px_f32, double * act_px);
// The same for an encode (the same budget and forced tile settings).
void ke_vae_tile_plan_encode(const struct ke_vae * v, int lat_h, int lat_w, int * tile, int * overlap);
