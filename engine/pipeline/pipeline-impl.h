// Kinora engine: generation pipeline internals shared by engine/pipeline/*.c and the evaluators.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "ke.h"

#define KE_MAX_FRAMES 1001
#define KE_MAX_SIDE 4096

struct ke_task_info {
    const char * name;
    int stride_t, stride_h, stride_w;   // VAE compression
    int z_dim;                          // latent channels
    int patch;                          // DiT patch (h and w)
    double boundary;                    // A14B expert switch as a fraction of num_train_timesteps (0: dense)
    int n_train_timesteps;
    int sizes[4][2];                    // official sizes (W, H)
    int n_sizes;
};

extern const char * const ke_default_negative_prompt;
const struct ke_task_info * ke_task_info(enum ke_task task);

// --- output sets (evaluators, saved latents) ----------------------------------------------------
struct ke_tensor_set;
// Add a zeroed tensor owned by the set (shape outermost first); returns its data or NULL (err set).
void * ke_out_add(struct ke_tensor_set * s, const char * name, int type, int n_dims, const int64_t * shape,
                  struct ke_error * err);
// Write every tensor of the set to a safetensors file with metadata pairs.
enum ke_status ke_out_write(const struct ke_tensor_set * s, const char * path, const char * const * meta_kv,
                            int n_meta, struct ke_error * err);
// Copy of a tensor of the set as f32 (malloc'd, free()), checking that it exists and has n elements
// (n < 0: any). *n_out gets the element count.
float * ke_io_f32(const struct ke_tensor_set * s, const char * name, int64_t n, int64_t * n_out,
                  struct ke_error * err);

// --- IO files of any rank -------------------------------------------------------------------------
// The golden IO files hold tensors of up to 6 dimensions (per-step stacks of batched latents), more than
// struct ke_tensor carries; this small reader/writer keeps the full shape.
#define KE_IO_MAX_DIMS 8
struct ke_io_tensor {
    char * name;
    int type;                       // enum ke_dtype
    int n_dims;
    int64_t shape[KE_IO_MAX_DIMS];  // outermost first
    int64_t n;                      // elements
    void * data;                    // into the file image (read) or owned (write)
};
struct ke_io {
    char * path;
    unsigned char * file;
    struct ke_io_tensor * t;
    int n, cap;
    char ** meta;                   // key, value pairs
    int n_meta;
};
enum ke_status ke_io_read(struct ke_io ** out, const char * path, struct ke_error * err);
struct ke_io * ke_io_new(const char * path);
void ke_io_free(struct ke_io * io);
const char * ke_io_meta(const struct ke_io * io, const char * key);
const struct ke_io_tensor * ke_io_get(const struct ke_io * io, const char * name);
// f32 copy of a tensor (malloc'd) that must have n elements (n < 0: any).
float * ke_io_get_f32(const struct ke_io * io, const char * name, int64_t n, struct ke_error * err);
// New zeroed tensor owned by io; returns its data.
void * ke_io_add(struct ke_io * io, const char * name, int type, int n_dims, const int64_t * shape,
                 struct ke_error * err);
enum ke_status ke_io_set_meta(struct ke_io * io, const char * key, const char * value);
enum ke_status ke_io_write(const struct ke_io * io, const char * path, struct ke_error * err);

// --- images (image.c) ---------------------------------------------------------------------------------
struct ke_rgb_image {
    int width, height;
    uint8_t * rgb;      // (height, width, 3), malloc'd
};
enum ke_status ke_image_load(struct ke_rgb_image * out, const char * path, struct ke_error * err);
// The same from memory (`name` for messages); the fuzz entry point.
enum ke_status ke_image_load_memory(struct ke_rgb_image * out, const char * name, const void * data, size_t n,
                                    struct ke_error * err);
void ke_rgb_image_free(struct ke_rgb_image * im);
// Pillow's Image.resize(LANCZOS) on RGB8 (fixed-point, horizontal pass first).
enum ke_status ke_image_resize_lanczos(uint8_t * dst, int dw, int dh, const uint8_t * src, int sw, int sh,
                                       struct ke_error * err);
// torch F.interpolate(mode='bicubic', align_corners=False) on planar float [channels, h, w].
void ke_image_resize_bicubic(float * dst, int dw, int dh, const float * src, int sw, int sh, int channels);
// wan/utils/utils.py best_output_size: (ow, oh) multiples of (dw, dh) with area <= `area`.
void ke_best_output_size(int w, int h, int dw, int dh, double area, int * ow, int * oh);
// TI2V: Lanczos cover-resize, centre crop to ow x oh, to [-1, 1]: out [3, oh, ow].
enum ke_status ke_image_prepare_ti2v(float * out, int ow, int oh, const uint8_t * rgb, int w, int h,
                                     struct ke_error * err);
// I2V-A14B latent size for max area (image2video.py) and the bicubic stretch to [3, oh, ow] in [-1, 1].
void ke_i2v_latent_size(int w, int h, double area, int stride, int patch, int * lat_w, int * lat_h);
enum ke_status ke_image_prepare_i2v(float * out, int ow, int oh, const uint8_t * rgb, int w, int h,
                                    struct ke_error * err);

// --- preview (preview.c) ------------------------------------------------------------------------------
// latent [z, F, H, W] (16 or 48 channels) -> rgb [F, H, W, 3] through the linear projection.
void ke_latent_to_rgb(uint8_t * rgb, const float * latent, int z, int F, int H, int W);

// --- the tiny built-in model (tiny.c) ------------------------------------------------------------------
struct ke_tensor_set;
enum ke_status ke_tiny_dit_weights(struct ke_tensor_set ** out, struct ke_error * err);
enum ke_status ke_tiny_vae_weights(struct ke_tensor_set ** out, struct ke_error * err);
enum ke_status ke_tiny_t5_weights(struct ke_tensor_set ** out, struct ke_error * err);
int ke_tiny_tokenize(const char * text, int64_t * ids, int max_ids);
// Random weights at any size (benchmarks): dtype, blocks sharing block 0's data, zero (untouched) embeddings.
struct ke_random_opts {
    int type;               // enum ke_dtype: F32 or BF16
    bool share_blocks;
    bool zero_embedding;
};
struct ke_dit_config;
enum ke_status ke_random_dit_weights(struct ke_tensor_set ** out, const struct ke_dit_config * c,
                                     const struct ke_random_opts * o, struct ke_error * err);
enum ke_status ke_random_vae22_weights(struct ke_tensor_set ** out, int dim, int dec_dim, int z,
                                       const struct ke_random_opts * o, struct ke_error * err);
enum ke_status ke_random_vae21_weights(struct ke_tensor_set ** out, int dim, int z, const struct ke_random_opts * o,
                                       struct ke_error * err);
enum ke_status ke_random_t5_weights(struct ke_tensor_set ** out, int64_t vocab, int64_t dim, int64_t ffn, int heads,
                                    int layers, const struct ke_random_opts * o, struct ke_error * err);

// --- the sampling loop (sample.c) ------------------------------------------------------------------------
struct ke_dit;
struct ke_dit_context;
struct ke_expert {
    struct ke_dit * dit;
    struct ke_dit_context * cond, * uncond;
};
// Supplies the DiT and text contexts for a step: which = 0 (the dense model or the low-noise expert),
// 1 (the high-noise expert). May load one and release the other.
typedef enum ke_status (*ke_expert_fn)(void * user, int which, struct ke_expert ** out, struct ke_error * err);
// Per-step records for parity checks: what = "latent_in", "model_t", "pred_cond", "pred_uncond",
// "noise_pred", "step_out", "x0", "expert_is_high" (data borrowed for the call).
typedef void (*ke_record_fn)(void * user, int step, const char * what, const float * data, int64_t n);

struct ke_sample_args {
    int z, F, H, W;                 // latent [z, F, H, W]
    float * x;                      // in: the initial latent (noise), out: the final latent
    const float * y;                // (c_y, F, H, W) I2V-A14B mask + image latent, or NULL
    int c_y;
    const float * pin;              // (z, 1, H, W) TI2V image latent pinned in frame 0, or NULL
    bool per_token_t;               // TI2V: a timestep per token (frame-0 tokens get 0 when pinned)
    enum ke_solver solver;
    int steps;
    double shift;
    float guide, guide_high;        // low-noise (or dense) and high-noise guidance
    double boundary;                // fraction of n_train (0: dense)
    int n_train;
    ke_expert_fn expert;
    void * expert_user;
    ke_record_fn record;
    void * record_user;
    // user callbacks (from ke_gen_params; may be NULL)
    ke_progress_fn progress;
    ke_preview_fn preview;
    ke_abort_fn abort;
    void * user_data;
    double t_start;                 // ke_now() at the start of the job
    bool stopped_early;             // out: "stop and keep" ended sampling
};
double ke_now(void);
enum ke_status ke_sample(struct ke_sample_args * a, struct ke_error * err);
