// Kinora engine: per-task constants (VAE strides, patch, expert boundary, official sizes) and the
// limits every size check shares (params.c).
#pragma once

#include "ke.h"

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
// NULL for a task out of range.
const struct ke_task_info * ke_task_info(enum ke_task task);
