// Kinora engine: the generation recipe shared by ke_generate and the pipeline evaluator: output and latent
// size, image conditioning per task and the sampling settings (official textimage2video.py and
// image2video.py generate(), commit 42bf4cf).
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/vae/wan-vae.h"
#include "pipeline/image-impl.h"
#include "pipeline/recipe-impl.h"
#include "pipeline/task-impl.h"

// --- sizes ---------------------------------------------------------------------------------------------

void ke_recipe_latent_size(enum ke_task task, int stride, int patch_h, int patch_w, int width, int height,
                           double area, int n_frames, int image_w, int image_h, int * lat_w, int * lat_h, int * lat_t)
{
    *lat_t = (n_frames - 1) / 4 + 1;
    const bool image = image_w > 0 && image_h > 0;
    if (image && task == KE_TASK_TI2V_5B) {
        int ow, oh;
        ke_best_output_size(image_w, image_h, stride * patch_w, stride * patch_h, area, &ow, &oh);
        *lat_w = ow / stride;
        *lat_h = oh / stride;
    } else if (image && task == KE_TASK_I2V_A14B) {
        ke_i2v_latent_size(image_w, image_h, area, stride, patch_h, patch_w, lat_w, lat_h);
    } else {
        // the size itself, in whole patches (ke_gen_params_validate asks for multiples of stride * patch)
        *lat_w = width / (stride * patch_w) * patch_w;
        *lat_h = height / (stride * patch_h) * patch_h;
        if (*lat_w < patch_w) {
            *lat_w = patch_w;
        }
        if (*lat_h < patch_h) {
            *lat_h = patch_h;
        }
    }
}

enum ke_status ke_gen_output_size(enum ke_task task, int width, int height, int n_frames, int image_width,
                                  int image_height, int * out_width, int * out_height, int * out_frames)
{
    const struct ke_task_info * ti = ke_task_info(task);
    if (!ti || width < 1 || height < 1 || n_frames < 1 || image_width < 0 || image_height < 0 || !out_width ||
        !out_height || !out_frames) {
        return KE_STATUS_INVALID;
    }
    if (task == KE_TASK_LTXV) {
        // LTX-Video crops its padded output back to the size asked for (the image is cropped to that aspect)
        *out_width = width;
        *out_height = height;
        *out_frames = n_frames;
        return KE_STATUS_OK;
    }
    int lw, lh, lt;
    ke_recipe_latent_size(task, ti->stride_h, ti->patch, ti->patch, width, height, (double) width * height,
                          n_frames, image_width, image_height, &lw, &lh, &lt);
    *out_width = lw * ti->stride_w;
    *out_height = lh * ti->stride_h;
    *out_frames = 1 + ti->stride_t * (lt - 1);
    return KE_STATUS_OK;
}

// --- image conditioning ----------------------------------------------------------------------------------

void ke_cond_free(struct ke_cond * c)
{
    if (!c) {
        return;
    }
    free(c->image);
    free(c->pin);
    free(c->y);
    memset(c, 0, sizeof(*c));
}

// TI2V: the image, cover-resized and centre-cropped, encoded alone: its latent replaces latent frame 0.
static enum ke_status cond_ti2v(struct ke_cond * c, struct ke_vae * vae, const uint8_t * rgb, int iw, int ih,
                                int lh, int lw, struct ke_error * err)
{
    const int H = c->height, W = c->width;
    c->image = malloc(sizeof(float) * 3 * (size_t) W * H);
    c->pin = malloc(sizeof(float) * (size_t) vae->z_dim * lh * lw);
    if (!c->image || !c->pin) {
        return ke_err(err, KE_STATUS_NOMEM, "out of memory for a %dx%d conditioning image", W, H);
    }
    enum ke_status st = ke_image_prepare_ti2v(c->image, W, H, rgb, iw, ih, err);
    if (st == KE_STATUS_OK) {
        st = ke_vae_encode_opts(vae, c->pin, c->image, 1, H, W, NULL, err);
    }
    return st;
}

// I2V-A14B: y = [mask (4 channels, 1 on latent frame 0), VAE latent of (image, n_frames - 1 zero frames)].
static enum ke_status cond_i2v(struct ke_cond * c, struct ke_vae * vae, const uint8_t * rgb, int iw, int ih,
                               int n_frames, int T, int lh, int lw, struct ke_error * err)
{
    const int z = vae->z_dim, H = c->height, W = c->width;
    const size_t plane = (size_t) H * W, lplane = (size_t) lh * lw;
    c->c_y = z + 4;
    c->image = malloc(sizeof(float) * 3 * plane);
    c->y = calloc((size_t) c->c_y * T * lplane, sizeof(float));
    float * clip = calloc((size_t) 3 * n_frames * plane, sizeof(float));
    enum ke_status st = KE_STATUS_OK;
    if (!c->image || !c->y || !clip) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory for the %dx%dx%d conditioning clip", W, H, n_frames);
        goto done;
    }
    if ((st = ke_image_prepare_i2v(c->image, W, H, rgb, iw, ih, err)) != KE_STATUS_OK) {
        goto done;
    }
    for (int k = 0; k < 3; k++) {
        memcpy(clip + (size_t) k * n_frames * plane, c->image + (size_t) k * plane, sizeof(float) * plane);
    }
    if ((st = ke_vae_encode_opts(vae, c->y + (size_t) 4 * T * lplane, clip, n_frames, H, W, NULL, err)) !=
        KE_STATUS_OK) {
        goto done;
    }
    for (int k = 0; k < 4; k++) {
        for (size_t i = 0; i < lplane; i++) {
            c->y[(size_t) k * T * lplane + i] = 1.0f;
        }
    }
done:
    free(clip);
    return st;
}

enum ke_status ke_recipe_condition(struct ke_cond * c, enum ke_task task, struct ke_vae * vae, const uint8_t * rgb,
                                   int image_w, int image_h, int n_frames, int lat_t, int lat_h, int lat_w,
                                   struct ke_error * err)
{
    memset(c, 0, sizeof(*c));
    c->width = lat_w * vae->scale;
    c->height = lat_h * vae->scale;
    enum ke_status st = KE_STATUS_OK;
    if (task == KE_TASK_I2V_A14B && !rgb) {
        return ke_err(err, KE_STATUS_INVALID, "%s needs a conditioning image", ke_task_info(task)->name);
    }
    if (rgb && task == KE_TASK_TI2V_5B) {
        st = cond_ti2v(c, vae, rgb, image_w, image_h, lat_h, lat_w, err);
    } else if (rgb && task == KE_TASK_I2V_A14B) {
        st = cond_i2v(c, vae, rgb, image_w, image_h, n_frames, lat_t, lat_h, lat_w, err);
    }
    if (st != KE_STATUS_OK) {
        ke_cond_free(c);
    }
    return st;
}

// --- sampling settings -----------------------------------------------------------------------------------

void ke_recipe_sample_args(struct ke_sample_args * sa, const struct ke_recipe * r, const struct ke_cond * c,
                           float * x, int z, int lat_t, int lat_h, int lat_w)
{
    memset(sa, 0, sizeof(*sa));
    sa->z = z;
    sa->F = lat_t;
    sa->H = lat_h;
    sa->W = lat_w;
    sa->patch_h = r->patch_h;
    sa->patch_w = r->patch_w;
    sa->x = x;
    if (c) {
        sa->y = c->y;
        sa->c_y = c->y ? c->c_y : 0;
        sa->pin = c->pin;
    }
    // TI2V-5B gives every token its own timestep (textimage2video.py); the A14B models one per sample
    sa->per_token_t = r->task == KE_TASK_TI2V_5B;
    sa->solver = r->solver;
    sa->steps = r->steps;
    sa->shift = r->shift;
    sa->guide = r->guide;
    sa->guide_high = r->guide_high;
    sa->boundary = r->n_experts == 2 ? r->boundary : 0.0;
    sa->n_train = r->n_train;
}

int ke_recipe_expert_slot(const struct ke_recipe * r, int which)
{
    return r->n_experts == 2 && which ? 1 : 0;
}
