// Kinora engine: the denoising loop shared by every task (official text2video.py, image2video.py,
// textimage2video.py generate loops, commit 42bf4cf): classifier-free guidance, the A14B expert switch
// at boundary x 1000 with per-expert guidance, TI2V frame-0 pinning with per-token timesteps,
// previews, progress with ETA, and cancellation between steps and between DiT layers.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/dit/wan.h"
#include "pipeline/preview-impl.h"
#include "pipeline/sample-impl.h"
#include "pipeline/step-cache-impl.h"
#include "sampling/sampling.h"

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

// a NaN or infinity at element k of what `who` made at step `step` (host or backend check)
static enum ke_status nonfinite_err(struct ke_error * err, const char * who, bool is_nan, int64_t k, int step,
                                    int n_steps)
{
    return ke_err(err, KE_STATUS_ERROR, "%s produced non-finite values (%s at element %lld) at step %d of %d", who,
                  is_nan ? "NaN" : "infinity", (long long) k, step + 1, n_steps);
}

static enum ke_status check_finite(const float * v, int64_t n, const char * who, int step, int n_steps,
                                   struct ke_error * err)
{
    for (int64_t k = 0; k < n; k++) {
        if (!isfinite(v[k])) {
            return nonfinite_err(err, who, isnan(v[k]), k, step, n_steps);
        }
    }
    return KE_STATUS_OK;
}

// A forward stopped by the abort poll: the cancel-or-keep decision is taken after the loop (ab->last),
// so the error the forward left is cleared.
static void forward_aborted(struct abort_state * ab, struct ke_error * err)
{
    if (err && err->code == KE_STATUS_ABORTED) {
        err->code = KE_STATUS_OK;
        err->msg[0] = 0;
    }
    if (ab->last == 0) {
        ab->last = 1;
    }
}

// a->record of a step's inputs (latent a host array)
static void record_inputs(const struct ke_sample_args * a, int i, const float * latent, const float * tvec, int n_t,
                          int high, int64_t n)
{
    const float hf = (float) high;
    a->record(a->record_user, i, "latent_in", latent, n);
    a->record(a->record_user, i, "model_t", tvec, n_t);
    a->record(a->record_user, i, "expert_is_high", &hf, 1);
}

// The sampler on the DiT's backend (item: no latent upload or download per forward): the latent, both
// predictions, the x0 estimate and the pinned frame live in backend memory, guidance and the solver
// update are ops.lincomb, the finiteness checks ops.find_nonfinite. Used by default on a device backend
// (the CPU keeps the host loops) when no step cache runs; KINORA_SAMPLER=host or =device overrides.
struct on_dev {
    struct ke_backend * be;
    float * x, * cond, * uncond, * x0, * pin;
};

static bool sampler_forced(const char * where)
{
    const char * env = getenv("KINORA_SAMPLER");
    return env && !strcmp(env, where);
}

static bool dev_wanted(const struct ke_sample_args * a, const struct ke_backend * be)
{
    if (a->cache != KE_CACHE_OFF || !be->ops->lincomb || !be->ops->find_nonfinite || !be->ops->copy ||
        sampler_forced("host")) {
        return false;
    }
    return sampler_forced("device") || strcmp(be->ops->name, "cpu") != 0;
}

static void dev_free(struct on_dev * d)
{
    if (d->be) {
        float * v[5] = { d->x, d->cond, d->uncond, d->x0, d->pin };
        for (int j = 0; j < 5; j++) {
            ke_be_free(d->be, v[j]);
        }
    }
    memset(d, 0, sizeof(*d));
}

// Allocate the device vectors, upload the latent (and the pinned frame) and move the solver's state;
// false (everything given back, the host loops go on) when the backend has no room.
static bool dev_begin(struct on_dev * d, struct ke_backend * be, struct ke_sampler * smp,
                      const struct ke_sample_args * a, int64_t n)
{
    const size_t bytes = sizeof(float) * (size_t) n;
    const size_t pin_bytes = sizeof(float) * (size_t) a->z * a->H * a->W;
    d->be = be;
    d->x = ke_be_alloc(be, bytes);
    d->cond = ke_be_alloc(be, bytes);
    d->uncond = ke_be_alloc(be, bytes);
    d->x0 = ke_be_alloc(be, bytes);
    d->pin = a->pin ? ke_be_alloc(be, pin_bytes) : NULL;
    struct ke_error e2 = { 0 };
    if (!d->x || !d->cond || !d->uncond || !d->x0 || (a->pin && !d->pin) ||
        ke_sampler_to_backend(smp, be, &e2) != KE_STATUS_OK) {
        ke_log(2, "sampling: on the host (%s)", e2.msg[0] ? e2.msg : "no backend memory for the latents");
        dev_free(d);
        return false;
    }
    be->ops->upload(be, d->x, a->x, bytes);
    if (a->pin) {
        be->ops->upload(be, d->pin, a->pin, pin_bytes);
    }
    ke_log(2, "sampling: on the %s backend (%.1f MiB of latents there)", be->ops->name,
           (double) (4 * bytes + (a->pin ? pin_bytes : 0) + 4 * bytes) / 1048576.0);
    return true;
}

// pin_frame0 on backend memory
static void dev_pin(const struct on_dev * d, float * x, int z, int F, int H, int W)
{
    const size_t plane = (size_t) H * W;
    for (int c = 0; c < z; c++) {
        d->be->ops->copy(d->be, x + (size_t) c * F * plane, d->pin + (size_t) c * plane, sizeof(float) * plane);
    }
}

static enum ke_status dev_check_finite(const struct on_dev * d, const float * v, int64_t n, const char * who,
                                       int step, int n_steps, struct ke_error * err)
{
    int is_nan = 0;
    const int64_t at = d->be->ops->find_nonfinite(d->be, v, n, &is_nan);
    if (at >= 0) {
        return nonfinite_err(err, who, is_nan, at, step, n_steps);
    }
    return ke_be_status(d->be, err);
}

// a->record of a backend vector (through the host buffer tmp)
static void dev_record(const struct ke_sample_args * a, const struct on_dev * d, int i, const char * what,
                       const float * v, float * tmp, int64_t n)
{
    d->be->ops->download(d->be, tmp, v, sizeof(float) * (size_t) n);
    a->record(a->record_user, i, what, tmp, n);
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

// One step on the backend (struct on_dev): the forwards, checks, guidance, solver update and pinning.
// KE_STATUS_ABORTED: a forward was stopped (ab->last says how; err is left clear).
static enum ke_status dev_step(const struct ke_sample_args * a, const struct on_dev * d, struct ke_sampler * smp,
                               const struct ke_expert * e, int i, int high, float g, bool use_cfg,
                               const float * tvec, int n_t, int64_t n, float * tmp, struct abort_state * ab,
                               struct ke_error * err)
{
    struct ke_backend * be = d->be;
    if (a->record) {
        be->ops->download(be, tmp, d->x, sizeof(float) * (size_t) n);
        record_inputs(a, i, tmp, tvec, n_t, high, n);
    }
    const int n_t_call = a->pin ? n_t : 1;   // as the host loop: one timestep unless frame 0 is pinned
    enum ke_status st = ke_dit_forward_dev(e->dit, e->cond, d->x, a->z, a->y, a->c_y, a->F, a->H, a->W, tvec,
                                           n_t_call, d->cond, abort_poll, ab, err);
    if (st == KE_STATUS_OK && use_cfg) {
        st = ke_dit_forward_dev(e->dit, e->uncond, d->x, a->z, a->y, a->c_y, a->F, a->H, a->W, tvec, n_t_call,
                                d->uncond, abort_poll, ab, err);
    }
    if (st == KE_STATUS_ABORTED) {
        forward_aborted(ab, err);
        return KE_STATUS_ABORTED;
    }
    if (st != KE_STATUS_OK ||
        (st = dev_check_finite(d, d->cond, n, "the DiT (conditional pass)", i, a->steps, err)) != KE_STATUS_OK ||
        (use_cfg && (st = dev_check_finite(d, d->uncond, n, "the DiT (unconditional pass)", i, a->steps, err)) !=
                        KE_STATUS_OK)) {
        return st;
    }
    if (a->record) {
        dev_record(a, d, i, "pred_cond", d->cond, tmp, n);
        if (use_cfg) {
            dev_record(a, d, i, "pred_uncond", d->uncond, tmp, n);
        }
    }
    if (use_cfg) {
        // uncond + g (cond - uncond)
        const float * xs[2] = { d->cond, d->uncond };
        const double cs[2] = { (double) g, 1.0 - (double) g };
        be->ops->lincomb(be, d->cond, 2, xs, cs, n);
    }
    if (a->record) {
        dev_record(a, d, i, "noise_pred", d->cond, tmp, n);
    }
    ke_sampler_step(smp, i, d->x, d->cond, NULL, d->x0);
    if ((st = dev_check_finite(d, d->x, n, "the sampler", i, a->steps, err)) != KE_STATUS_OK) {
        return st;
    }
    if (a->record) {
        dev_record(a, d, i, "step_out", d->x, tmp, n);
    }
    if (a->pin) {
        dev_pin(d, d->x, a->z, a->F, a->H, a->W);
        dev_pin(d, d->x0, a->z, a->F, a->H, a->W);
    }
    if (a->record) {
        dev_record(a, d, i, "x0", d->x0, tmp, n);
    }
    return ke_be_status(be, err);
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
    struct on_dev dv = { 0 };
    bool on_dev = false, tried_dev = false;
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
        if (!tried_dev) {
            tried_dev = true;
            struct ke_backend * be = ke_dit_backend(e->dit);
            on_dev = dev_wanted(a, be) && dev_begin(&dv, be, smp, a, n);
            if (!on_dev && sampler_forced("device")) {
                st = ke_err(err, KE_STATUS_UNSUPPORTED, "KINORA_SAMPLER=device: the sampler cannot run on the %s "
                            "backend here (a step cache, no lincomb op, or no memory)", be->ops->name);
                goto done;
            }
        }
        if (on_dev && ke_dit_backend(e->dit) != dv.be) {
            st = ke_err(err, KE_STATUS_INVALID, "sampling: the two experts run on different backends");
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
        if (on_dev) {
            st = dev_step(a, &dv, smp, e, i, high, g, use_cfg, tvec, n_t, n, cond, &ab, err);
            if (st == KE_STATUS_ABORTED) {
                st = KE_STATUS_OK;   // decided below
                break;
            }
            if (st != KE_STATUS_OK) {
                goto done;
            }
            have_x0 = true;
            a->steps_done = i + 1;
            if (a->preview) {
                dv.be->ops->download(dv.be, x0, dv.x0, sizeof(float) * (size_t) n);
            }
        } else {
            if (a->record) {
                record_inputs(a, i, a->x, tvec, n_t, high, n);
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
                st = ke_step_cache_forward(cache, 1, e->dit, e->uncond, a->x, a->z, a->y, a->c_y, a->F, a->H, a->W,
                                           tvec, n_t_call, uncond, abort_poll, &ab, err);
            }
            a->forwards_skipped = ke_step_cache_skipped(cache);
            if (st == KE_STATUS_ABORTED) {
                forward_aborted(&ab, err);
                st = KE_STATUS_OK;   // decided below
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
    if (on_dev) {
        // the result (or the latest x0 estimate, below) back to the caller's latent
        dv.be->ops->download(dv.be, a->x, dv.x, sizeof(float) * (size_t) n);
        if (ab.last != 0 && ab.last != 1 && have_x0) {
            dv.be->ops->download(dv.be, x0, dv.x0, sizeof(float) * (size_t) n);
        }
        if ((st = ke_be_status(dv.be, err)) != KE_STATUS_OK) {
            goto done;
        }
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
    dev_free(&dv);
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
