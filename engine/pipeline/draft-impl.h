// Kinora engine: TAEHV in the pipeline (draft.c): the "draft decode" of the final latent and the
// full-resolution previews, from struct ke_gen_params decoder / preview_source / taehv_path.
#pragma once

#include "ke.h"

struct ke_backend;
struct ke_taehv;

struct ke_draft {
    struct ke_taehv * taehv;        // NULL when neither choice names TAEHV
    uint8_t * rgb;                  // preview frames [F, H, W, 3]
    float * video;                  // preview decode [3, F, H, W] in [0, 1]
    int F, H, W;
    double seconds;                 // time spent in previews
    int n;                          // previews made
    bool failed;                    // a preview decode failed (logged; later steps fall back to latent)
};

// Open the TAEHV weights when p asks for them, on `be`, checked against the model's latent channels
// and pixels per latent pixel (errors name the file).
enum ke_status ke_draft_open(struct ke_draft * d, const struct ke_gen_params * p, struct ke_backend * be, int z,
                             int scale, struct ke_error * err);
void ke_draft_close(struct ke_draft * d);
// ke_sample_args.preview_full: decode the x0 estimate through TAEHV into pv->full_*.
void ke_draft_preview(void * user, struct ke_preview * pv);
