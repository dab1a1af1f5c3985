// Kinora engine: the denoising loop shared by every task (official text2video.py, image2video.py,
// textimage2video.py generate loops, commit 42bf4cf): classifier-free guidance, the A14B expert switch
// at boundary x 1000 with per-expert guidance, TI2V frame-0 pinning with per-token timesteps,
// previews, progress with ETA, and cancellation between steps and between DiT layers.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "models/dit/wan.h"
#include "pipeline/preview-impl.h"
#include "pipeline/sample-impl.h"
#include "pipeline/step-cache-impl.h"
#include "sampling/sampling.h"

double ke_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

// The DiT sees any non-zero answer as "stop"; the answer is kept to tell cancel from stop-and-keep.
struct abort_state {
    ke_abort_fn fn;
    void * user;
    int last;
};

static int abort_poll(void * u)
{
    struct abort_state * s = u;
    s->last = s->fn ? s->fn(s->user) : 0;
    return s->last;
}

static void pin_frame0(float * x, const float * pin, int z, int F, int H, int W)
{
    const size_t plane = (size_t) H * W;
    for (int c = 0; c < z; c++) {
        memcpy(x + (size_t) c * F * plane, pin + (size_t) c * plane, sizeof(float) * plane);
    }
}

static void emit_progress(const struct ke_sample_args * a, int done, double t_loop, double t_now)
{
    if (!a->progress) {
        return;
    }
    struct ke_progress pr = { KE_STAGE_SAMPLE, done, a->steps, t_now - a->t_start, -1.0, a->forwards_skipped };
    if (done > 0) {
        pr.eta_s = (t_now - t_loop) / done * (a->steps - done);
    }
    a->progress(&pr, a->user_data);
}

static enum ke_status check_finite(const float * v, int64_t n, const char * who, int step, int n_steps,
                                   struct ke_error * err)
{
    for (int64_t k = 0; k < n; k++) {
        if (!isfinite(v[k])) {
            return ke_err(err, KE_STATUS_ERROR, "%s produced non-finite values (%s at element %lld) at step %d of %d",
                          who, isnan(v[k]) ? "NaN" : "infinity", (long long) k, step + 1, n_steps);
        }
    }
    return KE_STATUS_OK;
}

bool ke_expert_is_high(double boundary, int n_train, double t)
{
    return boundary > 0 && t >= boundary * n_train;
}

// steps of the high-noise expert (0 without a boundary)
static int high_steps(const struct ke_schedule * sc, const struct ke_sample_args * a)
{
    int n = 0;
    for (int i = 0; i < sc->n_steps; i++) {
        n += ke_expert_is_high(a->boundary, a->n_train, sc->t_model[i]);
    }
    return n;
}

enum ke_status ke_sample(struct ke_sample_args * a, struct ke_error * err)
{
    if (a->patch_h < 1 || a->patch_w < 1 || a->H % a->patch_h != 0 || a->W % a->patch_w != 0) {
        return ke_err(err, KE_STATUS_INVALID, "sampling: a %dx%d latent does not split into %dx%d patches", a->W,
                      a->H, a->patch_w, a->patch_h);
    }
    const int64_t n = (int64_t) a->z * a->F * a->H * a->W;
    const int64_t tok0 = (int64_t) (a->H / a->patch_h) * (a->W / a->patch_w);
    const int64_t n_tok = (int64_t) a->F * tok0;
    struct ke_schedule sc = { 0 };
    struct ke_sampler * smp = NULL;
    struct ke_step_cache * cache = NULL;
    float * cond = malloc(sizeof(float) * (size_t) n);
    float * uncond = malloc(sizeof(float) * (size_t) n);
    float * x0 = malloc(sizeof(float) * (size_t) n);
    float * tvec = malloc(sizeof(float) * (size_t) (a->per_token_t ? n_tok : 1));
    uint8_t * rgb = a->preview ? malloc((size_t) a->F * a->H * a->W * 3) : NULL;
    struct abort_state ab = { a->abort, a->user_data, 0 };
    bool have_x0 = false;
    enum ke_status st;
    a->stopped_early = false;
    a->steps_done = 0;
    a->forwards_skipped = 0;
    if (!cond || !uncond || !x0 || !tvec || (a->preview && !rgb)) {
        st = ke_err(err, KE_STATUS_NOMEM, "sampling: out of memory for a [%d, %d, %d, %d] latent", a->z, a->F,
                    a->H, a->W);
        goto done;
    }
    if ((st = ke_schedule_init(&sc, a->solver, a->steps, a->shift, a->n_train, err)) != KE_STATUS_OK ||
        (st = ke_sampler_new(&smp, a->solver, &sc, n, err)) != KE_STATUS_OK ||
        (st = ke_step_cache_new(&cache, a->cache, a->cache_threshold, a->task, a->steps, a->shift,
                                high_steps(&sc, a), a->pin != NULL, a->z, a->F, a->H, a->W, err)) != KE_STATUS_OK) {
        goto done;
    }
    if (a->pin) {
        pin_frame0(a->x, a->pin, a->z, a->F, a->H, a->W);
    }
    const double t_loop = ke_now();
    emit_progress(a, 0, t_loop, t_loop);
    for (int i = 0; i < a->steps; i++) {
        if (abort_poll(&ab) != 0) {
            break;
        }
        const float t = sc.t_model[i];
        const int high = ke_expert_is_high(a->boundary, a->n_train, t);
        const float g = high ? a->guide_high : a->guide;
        // guidance 1 is the conditional prediction alone: no unconditional pass (the Lightning pipelines'
        // use_cfg, |g - 1| > 1e-6, wan/utils/utils.py of ModelTC/Wan2.2-Lightning)
        const bool use_cfg = fabsf(g - 1.0f) > 1e-6f;
        struct ke_expert * e = NULL;
        if ((st = a->expert(a->expert_user, high, &e, err)) != KE_STATUS_OK) {
            goto done;
        }
        int n_t = 1;
        if (a->per_token_t) {
            n_t = (int) n_tok;
            for (int64_t k = 0; k < n_tok; k++) {
                tvec[k] = (a->pin && k < tok0) ? 0.0f : t;
            }
        } else {
            tvec[0] = t;
        }
        if (a->record) {
            float hf = (float) high;
            a->record(a->record_user, i, "latent_in", a->x, n);
            a->record(a->record_user, i, "model_t", tvec, n_t);
            a->record(a->record_user, i, "expert_is_high", &hf, 1);
        }
        // all tokens share t unless frame 0 is pinned: one timestep then (the same numbers, without a
        // per-token time embedding and modulation)
        const int n_t_call = a->pin ? n_t : 1;
        st = KE_STATUS_OK;
        if (cache) {
            st = ke_step_cache_begin(cache, i, a->x, (double) sc.sigmas[i], t, e->dit, high, use_cfg ? 2 : 1, err);
        }
        if (st == KE_STATUS_OK) {
            st = ke_step_cache_forward(cache, 0, e->dit, e->cond, a->x, a->z, a->y, a->c_y, a->F, a->H, a->W, tvec,
                                       n_t_call, cond, abort_poll, &ab, err);
        }
        if (st == KE_STATUS_OK && use_cfg) {
            st = ke_step_cache_forward(cache, 1, e->dit, e->uncond, a->x, a->z, a->y, a->c_y, a->F, a->H, a->W, tvec,
                                       n_t_call, uncond, abort_poll, &ab, err);
        }
        a->forwards_skipped = ke_step_cache_skipped(cache);
        if (st == KE_STATUS_ABORTED) {
            if (err && err->code == KE_STATUS_ABORTED) {
                err->code = KE_STATUS_OK;       // decided below
                err->msg[0] = 0;
            }
            st = KE_STATUS_OK;
            if (ab.last == 0) {
                ab.last = 1;
            }
            break;
        }
        if (st != KE_STATUS_OK) {
            goto done;
        }
        // a NaN or infinity from the model (bad weights, an eps of NaN...) would be exported as a
        // broken video with success: stop and say where it appeared
        if ((st = check_finite(cond, n, "the DiT (conditional pass)", i, a->steps, err)) != KE_STATUS_OK ||
            (use_cfg &&
             (st = check_finite(uncond, n, "the DiT (unconditional pass)", i, a->steps, err)) != KE_STATUS_OK)) {
            goto done;
        }
        if (a->record) {
            a->record(a->record_user, i, "pred_cond", cond, n);
            if (use_cfg) {
                a->record(a->record_user, i, "pred_uncond", uncond, n);
            }
        }
        if (use_cfg) {
            ke_cfg_combine(cond, cond, uncond, g, n);
        }
        if (a->record) {
            a->record(a->record_user, i, "noise_pred", cond, n);
        }
        ke_sampler_step(smp, i, a->x, cond, NULL, x0);
        have_x0 = true;
        if ((st = check_finite(a->x, n, "the sampler", i, a->steps, err)) != KE_STATUS_OK) {
            goto done;
        }
        a->steps_done = i + 1;
        if (a->record) {
            a->record(a->record_user, i, "step_out", a->x, n);
        }
        if (a->pin) {
            pin_frame0(a->x, a->pin, a->z, a->F, a->H, a->W);
            pin_frame0(x0, a->pin, a->z, a->F, a->H, a->W);
        }
        if (a->record) {
            a->record(a->record_user, i, "x0", x0, n);
        }
        if (a->preview) {
            ke_latent_to_rgb(rgb, x0, a->z, a->F, a->H, a->W);
            struct ke_preview pv = { i + 1, a->steps, a->F, a->W, a->H, rgb, a->z, x0, NULL, 0, 0, 0 };
            if (a->preview_full) {
                a->preview_full(a->preview_full_user, &pv);
            }
            a->preview(&pv, a->user_data);
        }
        emit_progress(a, i + 1, t_loop, ke_now());
    }
    if (ab.last == 1) {
        st = ke_err(err, KE_STATUS_ABORTED, "generation cancelled");
    } else if (ab.last != 0) {
        // stop and keep: finish with the latest x0 estimate (the current latent before any step)
        a->stopped_early = true;
        if (have_x0) {
            memcpy(a->x, x0, sizeof(float) * (size_t) n);
        }
    }
    if (cache) {
        ke_log(2, "step cache %s: skipped %d DiT forwards", ke_cache_mode_name(a->cache), a->forwards_skipped);
    }
done:
    ke_step_cache_free(cache);
    ke_sampler_free(smp);
    ke_schedule_free(&sc);
    free(cond);
    free(uncond);
    free(x0);
    free(tvec);
    free(rgb);
    return st;
}
