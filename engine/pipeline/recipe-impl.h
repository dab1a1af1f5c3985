// Kinora engine: the generation recipe that ke_generate and the pipeline evaluator share (recipe.c):
// the latent size from the requested size and an image, the image conditioning of each task (TI2V
// frame-0 pinning, I2V mask and `y`), and the sampling settings including the A14B expert switch.
#pragma once

#include <stdint.h>

#include "ke.h"
#include "pipeline/sample-impl.h"

struct ke_vae;

// Latent size [lat_t, lat_h, lat_w] of a run. Without an image (image_w/h <= 0): width x height in whole
// patches. With one, the size follows the image within `area` pixels (ke_generate: width * height;
// TI2V: best_output_size in steps of stride * patch, cover-crop; I2V: the image's aspect, each latent side
// a multiple of patch). stride: the VAE's spatial compression. Each latent side is at least one patch;
// lat_t = (n_frames - 1) / 4 + 1.
void ke_recipe_latent_size(enum ke_task task, int stride, int patch_h, int patch_w, int width, int height,
                           double area, int n_frames, int image_w, int image_h, int * lat_w, int * lat_h,
                           int * lat_t);

// The image conditioning of one run (all NULL without an image, and for T2V).
struct ke_cond {
    int width, height;      // pixels the image was prepared at: lat_w * stride, lat_h * stride
    float * image;          // TI2V: [3, 1, height, width] Lanczos cover-crop; I2V: [3, height, width] bicubic
                            // stretch; both in [-1, 1]
    float * pin;            // TI2V: [z, 1, lat_h, lat_w] the image latent, pinned in latent frame 0
    float * y;              // I2V: [z + 4, lat_t, lat_h, lat_w]: 4 mask channels (1 on latent frame 0), then
                            // the latent of the clip [image, n_frames - 1 zero frames]
    int c_y;                // z + 4 with y, else 0
};
// Prepare and VAE-encode the image (rgb RGB8 [image_h, image_w, 3], NULL: none) for the latent size
// ke_recipe_latent_size gave. I2V-A14B without an image is an error. Release with ke_cond_free.
enum ke_status ke_recipe_condition(struct ke_cond * c, enum ke_task task, struct ke_vae * vae, const uint8_t * rgb,
                                   int image_w, int image_h, int n_frames, int lat_t, int lat_h, int lat_w,
                                   struct ke_error * err);
void ke_cond_free(struct ke_cond * c);

// Sampling settings of a run.
struct ke_recipe {
    enum ke_task task;
    int patch_h, patch_w;       // the DiT config's patch_size[1], [2]
    int n_experts;              // 1 (dense) or 2 (A14B high/low-noise experts)
    double boundary;            // expert switch as a fraction of n_train (used with two experts)
    int n_train;                // num_train_timesteps
    enum ke_solver solver;
    int steps;
    double shift;
    float guide, guide_high;
};
// Fill sa (zeroed first) for latent x [z, lat_t, lat_h, lat_w] with the conditioning c (may be NULL);
// the caller adds the expert and callback fields.
void ke_recipe_sample_args(struct ke_sample_args * sa, const struct ke_recipe * r, const struct ke_cond * c,
                           float * x, int z, int lat_t, int lat_h, int lat_w);
// The expert slot (0: dense or low-noise, 1: high-noise) that `which` of ke_expert_fn names.
int ke_recipe_expert_slot(const struct ke_recipe * r, int which);
