// Kinora engine: step caching for the sampling loop (step-cache.c): EasyCache and TeaCache.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "ke.h"

struct ke_dit;
struct ke_dit_context;
struct ke_step_cache;

// [z, F, H, W]: the model's input/output latent (EasyCache subsamples H and W). shift: the run's flow
// shift (EasyCache's start/end percentages map to sigmas through it). split: the steps of the A14B
// high-noise expert (0: one model); image: TI2V-5B with a conditioning image (MagCache's ratios differ).
enum ke_status ke_step_cache_new(struct ke_step_cache ** out, enum ke_cache_mode mode, float threshold,
                                 enum ke_task task, int n_steps, double shift, int split, bool image, int z, int F,
                                 int H, int W, struct ke_error * err);
void ke_step_cache_free(struct ke_step_cache * c);

// Before the forwards of step i: decides whether this step's forwards are skipped. x: the model input
// (the latent, before any conditioning channels), sigma: the step's sigma, t: its timestep (scalar),
// dit: the model of this step, expert: which expert (a change resets the cache), passes: forwards
// this step (1 or 2).
enum ke_status ke_step_cache_begin(struct ke_step_cache * c, int i, const float * x, double sigma, float t,
                                   struct ke_dit * dit, int expert, int passes, struct ke_error * err);
// One forward of pass p (0 cond, 1 uncond) through the cache: either ke_dit_forward (the arguments as
// there) or the cached answer.
enum ke_status ke_step_cache_forward(struct ke_step_cache * c, int p, struct ke_dit * dit,
                                     const struct ke_dit_context * ctx, const float * x, int c_x, const float * y,
                                     int c_y, int F, int H, int W, const float * t, int n_t, float * out,
                                     ke_abort_fn abort, void * abort_user, struct ke_error * err);
int ke_step_cache_skipped(const struct ke_step_cache * c);

// TeaCache's rescale polynomial for a task (np.poly1d of the published coefficients) at x.
double ke_teacache_rescale(enum ke_task task, double x);
// MagCache's magnitude ratio of step i, pass p (0 cond, 1 uncond) in an n_steps run: the published
// ratios, nearest-interpolated when n_steps differs from their calibration (step-cache-mag.c).
double ke_magcache_ratio(enum ke_task task, bool image, int n_steps, int i, int p);
