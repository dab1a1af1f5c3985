// Kinora engine: the LTX-Video distilled multi-scale pipeline (Lightricks/LTX-Video 5260738:
// LTXMultiScalePipeline.__call__ and LTXVideoPipeline.__call__ in ltx_video/pipelines/pipeline_ltx_video.py,
// with prepare_latents, prepare_conditioning for a first-frame item, denoising_step, tone_map_latents and
// adain_filter_latent): first pass at the downscaled size, spatial upsampling, AdaIN against the first
// pass, second pass, decode with the timestep and noise scale, bilinear resize to the padded size, crop.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/error.h"
#include "core/pages.h"
#include "core/threadpool.h"
#include "models/ltx/ltx-transformer.h"
#include "models/ltx/ltx-upsampler.h"
#include "models/ltx/ltx-vae.h"
#include "pipeline/ltx-impl.h"
#include "pipeline/preview-impl.h"
#include "pipeline/sample-impl.h"
#include "sampling/sampling.h"

static void record(struct ke_ltx_job * j, const char * name, const float * data, int64_t n)
{
    if (j->record) {
        j->record(j->record_user, name, data, n);
    }
}

static void progress(struct ke_ltx_job * j, enum ke_stage stage, int step, int n_steps)
{
    if (j->progress) {
        struct ke_progress pr = { stage, step, n_steps, ke_now() - j->t_start, -1.0, 0 };
        j->progress(&pr, j->user_data);
    }
}

static int poll_abort(struct ke_ltx_job * j)
{
    return j->abort ? j->abort(j->user_data) : 0;
}

// The transformer sees any non-zero answer as "stop"; the answer is kept to tell cancel (1) from stop and
// keep (2).
struct abort_state {
    struct ke_ltx_job * j;
    int last;
};

static int abort_layers(void * u)
{
    struct abort_state * a = u;
    a->last = poll_abort(a->j);
    return a->last;
}

static void recordf(struct ke_ltx_job * j, const char * pfx, const char * what, const float * data, int64_t n)
{
    char name[64];
    snprintf(name, sizeof(name), "%s.%s", pfx, what);
    record(j, name, data, n);
}

// The conditioning item at this pass's size: the media resized (bilinear), encoded, a posterior sample
// drawn with the global generator (vae_encode's latent_dist.sample()), normalised: cl [C, 1, lh, lw].
static enum ke_status encode_cond(struct ke_ltx_job * j, const char * pfx, float * cl, int C, int lh, int lw,
                                  struct ke_error * err)
{
    const int H = lh * j->vae->s_scale, W = lw * j->vae->s_scale;
    const int64_t n_img = (int64_t) lh * lw;
    float * im = malloc(sizeof(float) * (size_t) (3 * H * W));
    float * mom = malloc(sizeof(float) * (size_t) (2 * C * n_img));
    float * eps = malloc(sizeof(float) * (size_t) (C * n_img));
    enum ke_status st = KE_STATUS_OK;
    if (!im || !mom || !eps) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory for the conditioning image");
        goto done;
    }
    ke_ltx_resize_bilinear(im, W, H, j->image, j->image_w, j->image_h, 3);
    recordf(j, pfx, "cond_media", im, 3 * H * W);
    progress(j, KE_STAGE_IMAGE, 0, 1);
    if ((st = ke_ltx_vae_encode(j->vae, mom, NULL, im, 1, H, W, NULL, err)) != KE_STATUS_OK) {
        ke_err_prefix(err, "conditioning image: ");
        goto done;
    }
    progress(j, KE_STAGE_IMAGE, 1, 1);
    ke_randn(j->rng_global, eps, C * n_img);
    recordf(j, pfx, "cond_encode_noise", eps, C * n_img);
    for (int c = 0; c < C; c++) {
        for (int64_t i = 0; i < n_img; i++) {
            // DiagonalGaussianDistribution: std = exp(0.5 clamp(logvar, -30, 20)); mean + std * eps
            float lv = mom[(int64_t) (C + c) * n_img + i];
            lv = lv < -30.0f ? -30.0f : (lv > 20.0f ? 20.0f : lv);
            const float sd = expf(0.5f * lv);
            const float x = mom[(int64_t) c * n_img + i] + sd * eps[(int64_t) c * n_img + i];
            cl[(int64_t) c * n_img + i] = (x - j->vae->mean_of_means[c]) / j->vae->std_of_means[c];
        }
    }
    recordf(j, pfx, "cond_latent", cl, C * n_img);
done:
    free(im);
    free(mom);
    free(eps);
    return st;
}

// The step's preview: the x0 estimate (tokens) in [C, T, lh, lw] through the latent-to-RGB projection
// (128 channels: the false colour of preview.c). Buffers are allocated on the first call.
static void emit_preview(struct ke_ltx_job * j, const float * x0, int C, int T, int lh, int lw, int step,
                         int n_steps, float ** lat_buf, uint8_t ** rgb_buf)
{
    if (!j->preview) {
        return;
    }
    const size_t n = (size_t) C * T * lh * lw, px = (size_t) T * lh * lw;
    if (!*lat_buf && !(*lat_buf = malloc(sizeof(float) * n))) {
        return;   // a preview is optional: without memory for it, sampling goes on
    }
    if (!*rgb_buf && !(*rgb_buf = malloc(px * 3))) {
        return;
    }
    ke_ltx_unpatchify(*lat_buf, x0, C, T, lh, lw);
    ke_latent_to_rgb(*rgb_buf, *lat_buf, C, T, lh, lw);
    struct ke_preview pv = { step, n_steps, T, lw, lh, *rgb_buf, C, *lat_buf, NULL, 0, 0, 0 };
    j->preview(&pv, j->user_data);
}

// One pass of LTXVideoPipeline.__call__ up to the latent output: lat [C, T, lh, lw] in (the latent to noise
// to the first timestep, when `from_latent`) and out. step0: steps already done (progress).
static enum ke_status run_pass(struct ke_ltx_job * j, int pass, float * lat, bool from_latent, int lh, int lw,
                               int step0, int n_total, bool * stop, struct ke_error * err)
{
    const char * pfx = pass == 1 ? "first" : "second";
    const struct ke_ltx_pass * ps = pass == 1 ? &j->cfg->first : &j->cfg->second;
    const struct ke_ltx_dit_config * dc = ke_ltx_dit_get_config(j->dit);
    const int C = dc->in_channels, T = j->sz.lat_t;
    const int s_scale = j->vae->s_scale, t_scale = j->vae->t_scale;
    const int64_t n_tok = (int64_t) T * lh * lw, n = n_tok * C, n_img = (int64_t) lh * lw;
    enum ke_status st = KE_STATUS_OK;
    float * x = malloc(sizeof(float) * (size_t) n);
    float * v = malloc(sizeof(float) * (size_t) n);
    float * start = NULL, * cn = NULL, * x0 = malloc(sizeof(float) * (size_t) n);
    bool have_x0 = false;
    struct abort_state ab = { j, 0 };
    float * grid = malloc(sizeof(float) * (size_t) (3 * n_tok));
    float * tok_t = malloc(sizeof(float) * (size_t) n_tok);
    float * mask = NULL;
    float * pv_lat = NULL;
    uint8_t * pv_rgb = NULL;
    if (!x || !v || !grid || !tok_t || !x0) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory for %lld latent tokens", (long long) n_tok);
        goto done;
    }
    recordf(j, pfx, "timesteps", ps->timesteps, ps->n_steps);
    // prepare_latents: randn (1, f*h*w, c) from the generator is already the token layout
    ke_randn(j->rng, x, n);
    recordf(j, pfx, "noise", x, n);
    if (from_latent) {
        // noised to the first timestep: t * noise + (1 - t) * latents (float32)
        const float t0 = ps->timesteps[0], k = 1.0f - t0;
        ke_ltx_patchify(v, lat, C, T, lh, lw);
        for (int64_t i = 0; i < n; i++) {
            x[i] = t0 * x[i] + k * v[i];
        }
        // until a step has run, the best estimate of the clean latent is the one given
        memcpy(x0, v, sizeof(float) * (size_t) n);
        have_x0 = true;
    }
    ke_ltx_unpatchify(v, x, C, T, lh, lw);
    recordf(j, pfx, "latents_init", v, n);
    // prepare_conditioning: the image's latent in frame 0 (strength 1: lerp gives it exactly), mask 1 there
    if (j->image) {
        float * cl = malloc(sizeof(float) * (size_t) (C * n_img));
        mask = calloc((size_t) n_tok, sizeof(float));
        if (!cl || !mask) {
            free(cl);
            st = ke_err(err, KE_STATUS_NOMEM, "out of memory for the conditioning image");
            goto done;
        }
        if ((st = encode_cond(j, pfx, cl, C, lh, lw, err)) != KE_STATUS_OK) {
            free(cl);
            goto done;
        }
        for (int c = 0; c < C; c++) {
            for (int64_t i = 0; i < n_img; i++) {
                x[i * C + c] = cl[(int64_t) c * n_img + i];
            }
        }
        free(cl);
        for (int64_t i = 0; i < n_img; i++) {
            mask[i] = 1.0f;
        }
        recordf(j, pfx, "conditioning_mask", mask, n_tok);
    }
    recordf(j, pfx, "latents_start", x, n);
    if (j->record) {
        // the integer pixel coordinates (frame_rate 1 leaves them as they are)
        ke_ltx_coords(v, T, lh, lw, t_scale, s_scale, dc->causal_temporal_positioning, 1.0);
        recordf(j, pfx, "pixel_coords", v, 3 * n_tok);
    }
    ke_ltx_coords(grid, T, lh, lw, t_scale, s_scale, dc->causal_temporal_positioning, j->frame_rate);
    recordf(j, pfx, "indices_grid", grid, 3 * n_tok);
    const bool cond_noise = mask && j->image_cond_noise_scale > 0.0f;
    if (cond_noise && (!(start = malloc(sizeof(float) * (size_t) n)) || !(cn = malloc(sizeof(float) * (size_t) n)))) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
        goto done;
    }
    if (cond_noise) {
        memcpy(start, x, sizeof(float) * (size_t) n);
    }
    for (int i = 0; i < ps->n_steps; i++) {
        const float t = ps->timesteps[i];
        if (cond_noise) {
            // add_noise_to_image_conditioning_latents: the hard-conditioned tokens become
            // start + scale * noise * t^2, from a fresh generator draw of the whole token shape each step
            ke_randn(j->rng, cn, n);
            recordf(j, pfx, "cond_noise", cn, n);
            const float t2 = t * t, sc = j->image_cond_noise_scale;
            for (int64_t k = 0; k < n_tok; k++) {
                if (mask[k] > 1.0f - 1e-6f) {
                    for (int c = 0; c < C; c++) {
                        x[k * C + c] = start[k * C + c] + sc * cn[k * C + c] * t2;
                    }
                }
            }
        }
        // the transformer's timestep: one for all tokens, or min(t, 1 - mask) per token with conditioning
        int64_t n_t = 1;
        tok_t[0] = t;
        if (mask) {
            ke_ltx_token_timesteps(tok_t, n_tok, t, mask);
            n_t = n_tok;
        }
        recordf(j, pfx, "latent_in", x, n);
        recordf(j, pfx, "timestep", tok_t, n_t);
        ab.last = 0;
        st = ke_ltx_dit_forward(j->dit, j->ctx, x, n_tok, grid, tok_t, n_t, v, j->abort ? abort_layers : NULL, &ab,
                                err);
        if (st == KE_STATUS_ABORTED && ab.last == 2) {
            // stop and keep during the forward: the last estimate of the clean latent
            if (err) {
                err->code = KE_STATUS_OK;
                err->msg[0] = 0;
            }
            st = KE_STATUS_OK;
            if (have_x0) {
                memcpy(x, x0, sizeof(float) * (size_t) n);
            }
            *stop = true;
            j->stopped_early = true;
            break;
        }
        if (st != KE_STATUS_OK) {
            goto done;
        }
        recordf(j, pfx, "noise_pred", v, n);
        // the x0 estimate x - t v of the tokens being denoised (for stop and keep)
        for (int64_t k = 0; k < n_tok; k++) {
            const bool moving = !mask || t - 1e-6f < 1.0f - mask[k];
            const float tt = mask ? tok_t[k] : t;
            for (int c = 0; c < C; c++) {
                x0[k * C + c] = moving ? x[k * C + c] - tt * v[k * C + c] : x[k * C + c];
            }
        }
        have_x0 = true;
        const int a = poll_abort(j);
        if (a == 1) {
            st = ke_err(err, KE_STATUS_ABORTED, "generation cancelled");
            goto done;
        }
        if (a == 2) {
            memcpy(x, x0, sizeof(float) * (size_t) n);
            *stop = true;
            j->stopped_early = true;
            j->steps_done = step0 + i + 1;
            progress(j, KE_STAGE_SAMPLE, step0 + i + 1, n_total);
            break;
        }
        ke_ltx_step(x, v, n_tok, C, t, mask, ps->timesteps, ps->n_steps);
        recordf(j, pfx, "latent_out", x, n);
        j->steps_done = step0 + i + 1;
        emit_preview(j, x0, C, T, lh, lw, step0 + i + 1, n_total, &pv_lat, &pv_rgb);
        progress(j, KE_STAGE_SAMPLE, step0 + i + 1, n_total);
    }
    ke_ltx_unpatchify(lat, x, C, T, lh, lw);
    recordf(j, pfx, "latents", lat, n);
done:
    free(x);
    free(v);
    free(start);
    free(cn);
    free(x0);
    free(grid);
    free(tok_t);
    free(mask);
    free(pv_lat);
    free(pv_rgb);
    return st;
}

enum ke_status ke_ltx_decode_fits(const struct ke_ltx_vae * vae, int T, int lh, int lw, int n_frames, size_t budget,
                                  size_t in_use, double * need, struct ke_error * err)
{
    int top = 0, levels = 0;
    ke_ltx_vae_levels(&vae->cfg, &top, &levels);
    *need = ke_ltx_decode_bytes(top, levels, T, lh, lw, n_frames, vae->s_scale);
    if (!budget || (double) in_use + *need <= (double) budget) {
        return KE_STATUS_OK;
    }
    // short of the decode in one piece: spatial tiles, unless not even the smallest fits
    struct ke_ltx_tile_plan tiles;
    const double left = budget > in_use ? (double) (budget - in_use) : 0.0;
    enum ke_status st = ke_ltx_vae_tile_plan(&tiles, top, levels, T, lh, lw, n_frames, vae->s_scale, left, err);
    if (st != KE_STATUS_OK) {
        ke_err_prefix(err, "device budget %.2f GiB with %.2f GiB in use: ", (double) budget / 1073741824.0,
                      (double) in_use / 1073741824.0);
    }
    return st;
}

// Before the decode on a backend with a device memory budget: when what the budget has left is short of
// what the decode in one piece needs (ke_ltx_decode_bytes) the transformer and the prompt's context leave
// the device (the Wan path frees its DiTs before the decoder in the same way); when even then it does not
// fit, the decode runs in spatial tiles sized to what is left (ke_ltx_vae_tile_plan), and the run stops
// with a message naming the need and the budget only when not even the smallest tile fits. Without a
// budget (the CPU) the decode is one piece.
static enum ke_status make_room_for_decode(struct ke_ltx_job * j, int T, int lh, int lw, int n_frames,
                                           struct ke_ltx_tile_plan * tiles, struct ke_error * err)
{
    struct ke_backend * be = j->vae->be;
    size_t budget = 0, in_use = 0, peak = 0;
    memset(tiles, 0, sizeof(*tiles));
    if (!be->ops->memory) {
        return KE_STATUS_OK;
    }
    be->ops->memory(be, &budget, &in_use, &peak);
    if (!budget) {
        return KE_STATUS_OK;
    }
    int top = 0, levels = 0;
    ke_ltx_vae_levels(&j->vae->cfg, &top, &levels);
    const double gib = 1073741824.0;
    const double need = ke_ltx_decode_bytes(top, levels, T, lh, lw, n_frames, j->vae->s_scale);
    if ((double) in_use + need > (double) budget && j->dit_owner && *j->dit_owner) {
        if (j->ctx_owner) {
            ke_ltx_dit_context_free(*j->ctx_owner);
            *j->ctx_owner = NULL;
            j->ctx = NULL;
        }
        ke_ltx_dit_free(*j->dit_owner);
        *j->dit_owner = NULL;
        j->dit = NULL;
        const size_t before = in_use;
        be->ops->memory(be, &budget, &in_use, &peak);
        ke_log(2, "ltx: the transformer leaves the device before the decode (%.2f GiB freed; the decode needs "
               "about %.2f GiB)", (double) (before > in_use ? before - in_use : 0) / gib, need / gib);
    }
    const double left = budget > in_use ? (double) (budget - in_use) : 0.0;
    enum ke_status st = ke_ltx_vae_tile_plan(tiles, top, levels, T, lh, lw, n_frames, j->vae->s_scale, left, err);
    if (st != KE_STATUS_OK) {
        ke_err_prefix(err, "device budget %.2f GiB with %.2f GiB in use: ", (double) budget / gib,
                      (double) in_use / gib);
        return st;
    }
    if (tiles->tiled) {
        ke_log(2, "ltx: the decode (about %.2f GiB in one piece, %.2f GiB left) runs in %d tiles of %dx%d latent "
               "pixels (%dx%d), neighbours sharing %d", need / gib, left / gib, tiles->n_tiles, tiles->tile_w,
               tiles->tile_h, tiles->tile_w * j->vae->s_scale, tiles->tile_h * j->vae->s_scale, tiles->overlap);
    }
    return KE_STATUS_OK;
}

// --- postprocessing (decoded video -> the asked-for frames) -------------------------------------------

struct post_ctx {
    const struct ke_ltx_sizes * s;
    float * dec;             // [3, F, h2, w2]: clamped in place
    float * video;           // [3, n_frames, height, width]
    float * full;            // one padded frame per thread
    int F;
    int64_t frame;           // pad_h * pad_w
    int * bad;               // per plane: holds a non-finite value
    int resize;              // 0: clamp only (the first sweep), 1: resize and crop
};

static void post_planes(void * ctx, int64_t b, int64_t e, int tid)
{
    struct post_ctx * c = ctx;
    const struct ke_ltx_sizes * s = c->s;
    const int64_t hw = (int64_t) s->h2 * s->w2;
    for (int64_t p = b; p < e; p++) {
        const int ch = (int) (p / s->n_frames), f = (int) (p % s->n_frames);
        float * src = c->dec + ((int64_t) ch * c->F + f) * hw;
        if (!c->resize) {
            for (int64_t i = 0; i < hw; i++) {
                if (!isfinite(src[i])) {
                    // never cast NaN to uint8 (undefined) and export it
                    c->bad[p] = 1;
                    break;
                }
                const float y = src[i] / 2.0f + 0.5f;
                src[i] = y < 0.0f ? 0.0f : (y > 1.0f ? 1.0f : y);
            }
            continue;
        }
        float * full = c->full + (int64_t) tid * c->frame;
        ke_ltx_resize_bilinear(full, s->pad_w, s->pad_h, src, s->w2, s->h2, 1);
        float * dst = c->video + ((int64_t) ch * s->n_frames + f) * s->height * s->width;
        for (int y = 0; y < s->height; y++) {
            memcpy(dst + (int64_t) y * s->width, full + (int64_t) (y + s->pad_top) * s->pad_w + s->pad_left,
                   sizeof(float) * (size_t) s->width);
        }
    }
}

// The decoded frames the video keeps (the first n_frames of F): (x / 2 + 0.5) clamped to [0, 1], bilinear
// to the padded size, cropped. The other decoded frames are clamped only when recorded (eval).
static enum ke_status postprocess(struct ke_ltx_job * j, float * video, float * dec, int F, struct ke_error * err)
{
    const struct ke_ltx_sizes * s = &j->sz;
    const int64_t planes = (int64_t) 3 * s->n_frames;
    struct post_ctx c = { s, dec, video, NULL, F, (int64_t) s->pad_h * s->pad_w, NULL, 0 };
    c.bad = calloc((size_t) planes, sizeof(int));
    c.full = malloc(sizeof(float) * (size_t) c.frame * (size_t) ke_get_threads());
    if (!c.bad || !c.full) {
        free(c.bad);
        free(c.full);
        return ke_err(err, KE_STATUS_NOMEM, "out of memory for the decoded frames");
    }
    enum ke_status st = KE_STATUS_OK;
    ke_parallel_for(planes, 1, post_planes, &c);
    for (int64_t p = 0; p < planes; p++) {
        if (c.bad[p]) {
            st = ke_err(err, KE_STATUS_ERROR, "the VAE produced non-finite values in frame %d",
                        (int) (p % s->n_frames) + 1);
            break;
        }
    }
    if (st == KE_STATUS_OK && j->record) {
        // the recorded decode covers all F frames
        const int64_t hw = (int64_t) s->h2 * s->w2;
        for (int ch = 0; ch < 3; ch++) {
            for (int f = s->n_frames; f < F; f++) {
                float * src = dec + ((int64_t) ch * F + f) * hw;
                for (int64_t i = 0; i < hw; i++) {
                    const float y = src[i] / 2.0f + 0.5f;
                    src[i] = y < 0.0f ? 0.0f : (y > 1.0f ? 1.0f : y);
                }
            }
        }
        record(j, "decoded", dec, (int64_t) 3 * F * hw);
    }
    if (st == KE_STATUS_OK) {
        c.resize = 1;
        ke_parallel_for(planes, 1, post_planes, &c);
    }
    free(c.bad);
    free(c.full);
    return st;
}

enum ke_status ke_ltx_run(struct ke_ltx_job * j, float * video, struct ke_error * err)
{
    const struct ke_ltx_dit_config * dc = ke_ltx_dit_get_config(j->dit);
    const struct ke_ltx_sizes * s = &j->sz;
    const int C = dc->in_channels, T = s->lat_t, ss = j->vae->s_scale;
    const int lh1 = s->h1 / ss, lw1 = s->w1 / ss, lh2 = s->h2 / ss, lw2 = s->w2 / ss;
    const int64_t n1 = (int64_t) C * T * lh1 * lw1, n2 = (int64_t) C * T * lh2 * lw2;
    const int n_total = j->cfg->first.n_steps + j->cfg->second.n_steps;
    const int F = 1 + j->vae->t_scale * (T - 1);
    if (j->vae->cfg.latent_channels != C || (j->ups && j->ups->cfg.in_channels != C)) {
        return ke_err(err, KE_STATUS_SHAPE, "LTX-Video: the transformer has %d latent channels, the VAE %d%s", C,
                      j->vae->cfg.latent_channels, j->ups ? " (and the upsampler its own)" : "");
    }
    if (!j->ups) {
        return ke_err(err, KE_STATUS_MISSING, "LTX-Video: the multi-scale pipeline needs the spatial upsampler "
                      "(give its file after the checkpoint, separated by a comma)");
    }
    j->steps_done = 0;
    j->stopped_early = false;
    enum ke_status st = KE_STATUS_OK;
    bool stop = false;
    float * lat1 = malloc(sizeof(float) * (size_t) n1);
    float * lat2 = malloc(sizeof(float) * (size_t) n2);
    float * dec = NULL, * noise = NULL;
    if (!lat1 || !lat2) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
        goto done;
    }
    ke_log(2, "ltx: %dx%d, %d frames (padded %dx%d, %d), passes %dx%d and %dx%d, %d latent frames", s->width,
           s->height, s->n_frames, s->pad_w, s->pad_h, s->pad_frames, s->w1, s->h1, s->w2, s->h2, T);
    progress(j, KE_STAGE_SAMPLE, 0, n_total);
    if ((st = run_pass(j, 1, lat1, false, lh1, lw1, 0, n_total, &stop, err)) != KE_STATUS_OK) {
        goto done;
    }
    // _upsample_latents (un-normalise, upsample, normalise with the VAE's statistics), then AdaIN
    if ((st = ke_ltx_upsampler_run(j->ups, lat2, NULL, lat1, T, lh1, lw1, j->vae->std_of_means,
                                   j->vae->mean_of_means, NULL, NULL, err)) != KE_STATUS_OK) {
        ke_err_prefix(err, "upsampler: ");
        goto done;
    }
    record(j, "upsampled", lat2, n2);
    ke_ltx_adain(lat2, C, n2 / C, lat1, n1 / C);
    record(j, "upsampled.adain", lat2, n2);
    if (poll_abort(j) == 1) {
        st = ke_err(err, KE_STATUS_ABORTED, "generation cancelled");
        goto done;
    }
    if (!stop && (st = run_pass(j, 2, lat2, true, lh2, lw2, j->cfg->first.n_steps, n_total, &stop, err)) !=
        KE_STATUS_OK) {
        goto done;
    }
    // the transformer is not read again in this run: its mapped weights need not stay beside the decode's
    if (j->dit_weights) {
        ke_tset_release_pages(j->dit_weights);
    }
    // the decode runs bf16 (the transformer may have run fp8: ke_ltx_generate)
    ke_be_set_precision(j->vae->be, KE_PRECISION_BF16);
    struct ke_ltx_tile_plan tiles;
    if ((st = make_room_for_decode(j, T, lh2, lw2, F, &tiles, err)) != KE_STATUS_OK) {
        goto done;
    }
    // the decode: latents * (1 - s) + noise * s (the decoder is timestep-conditioned), tone mapping
    const int64_t nd = (int64_t) 3 * F * s->h2 * s->w2;
    dec = malloc(sizeof(float) * (size_t) (n2 > nd ? n2 : nd));
    noise = malloc(sizeof(float) * (size_t) n2);
    if (!dec || !noise) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory for the decode of %d frames at %dx%d", F, s->w2, s->h2);
        goto done;
    }
    float dt = 0.0f;
    if (j->vae->cfg.timestep_conditioning) {
        // torch.randn_like of the unpatchified latents keeps their token-major strides: a tensor that is not
        // C-contiguous, filled element by element in memory (token) order on PyTorch's serial path
        ke_randn_serial(j->rng_global, dec, n2);
        ke_ltx_unpatchify(noise, dec, C, T, lh2, lw2);
        record(j, "decode_noise", noise, n2);
        const float ns = j->cfg->decode_noise_scale, keep = 1.0f - ns;
        for (int64_t i = 0; i < n2; i++) {
            lat2[i] = lat2[i] * keep + noise[i] * ns;
        }
        dt = j->cfg->decode_timestep;
    }
    record(j, "decode.latents_noised", lat2, n2);
    record(j, "decode.timestep", &dt, 1);
    ke_ltx_tone_map(lat2, n2, j->cfg->second.tone_map);
    record(j, "decode.tone_mapped", lat2, n2);
    for (int64_t i = 0; i < n2; i++) {
        if (!isfinite(lat2[i])) {
            st = ke_err(err, KE_STATUS_ERROR, "the latent to decode holds a non-finite value (%s at element %lld)",
                        isnan(lat2[i]) ? "NaN" : "infinity", (long long) i);
            goto done;
        }
    }
    progress(j, KE_STAGE_DECODE, 0, 1);
    struct ke_ltx_vae_inter inter;
    memset(&inter, 0, sizeof(inter));
    if (j->record) {
        inter.decoder_input = noise;   // no longer needed as noise: receives z
    }
    st = tiles.tiled ? ke_ltx_vae_decode_tiled(j->vae, dec, lat2, NULL, T, lh2, lw2, dt, 0.0f, tiles.tile_h,
                                               tiles.tile_w, tiles.overlap, err)
                     : ke_ltx_vae_decode(j->vae, dec, lat2, NULL, T, lh2, lw2, dt, 0.0f, &inter, err);
    if (st != KE_STATUS_OK) {
        ke_err_prefix(err, "decode: ");
        goto done;
    }
    if (j->record && !tiles.tiled) {
        record(j, "decode.vae_input", noise, n2);
    }
    if (poll_abort(j) == 1) {
        st = ke_err(err, KE_STATUS_ABORTED, "generation cancelled");
        goto done;
    }
    // postprocess: (x / 2 + 0.5) clamped to [0, 1]; bilinear to the padded size; crop (planes in parallel)
    if ((st = postprocess(j, video, dec, F, err)) != KE_STATUS_OK) {
        goto done;
    }
    record(j, "video", video, (int64_t) 3 * s->n_frames * s->height * s->width);
    progress(j, KE_STAGE_DECODE, 1, 1);
done:
    free(lat1);
    free(lat2);
    free(dec);
    free(noise);
    return st;
}
