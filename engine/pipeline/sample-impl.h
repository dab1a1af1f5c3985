// Kinora engine: the sampling loop every task shares (sample.c).
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "core/clock.h"
#include "ke.h"

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
    int patch_h, patch_w;           // the DiT's spatial patch (tokens are F x H/patch_h x W/patch_w)
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
    // fills the preview's full-resolution frames before `preview` sees it (TAEHV previews), or NULL
    void (*preview_full)(void * user, struct ke_preview * pv);
    void * preview_full_user;
    double t_start;                 // ke_now() at the start of the job
    // step caching (step-cache.c; KE_CACHE_OFF: none); task picks TeaCache's coefficients
    enum ke_cache_mode cache;
    float cache_threshold;
    enum ke_task task;
    int forwards_skipped;           // out: DiT forwards answered from the step cache
    bool stopped_early;             // out: "stop and keep" ended sampling
    int steps_done;                 // out: solver steps completed (< steps after stop-and-keep or cancel)
};
// The A14B expert switch: true when timestep t belongs to the high-noise expert (t >= boundary x n_train;
// boundary 0: one dense model, never high).
bool ke_expert_is_high(double boundary, int n_train, double t);
enum ke_status ke_sample(struct ke_sample_args * a, struct ke_error * err);
