// Kinora engine: step caching in the sampling loop. Two published methods, both off by default:
//
// EasyCache (runtime, no calibration): as ComfyUI's comfy_extras/nodes_easycache.py (EasyCacheHolder and
// easycache_forward_wrapper, commit 0f548d2). Between sigma(start 0.15) and sigma(end 0.95) of the run's
// shifted schedule, the conditional pass measures the input change |x - x_prev| (mean over the latent
// subsampled by 8 in H and W) and, from the last computed step, the transformation rate k =
// |out - out_prev| / |x - x_prev|; it accumulates k * input_change / mean|out_prev| and skips the step's
// forwards while the sum stays under the threshold (default 0.2, the node's). A skipped forward answers
// x + (out - x) of the pass's last computed step. Steps past the end are plain forwards.
//
// TeaCache: as ali-vilab/TeaCache TeaCache4Wan2.1/teacache_generate.py (commit 7c10efc) and LightX2V's
// WanTransformerInferTeaCaching (lightx2v/models/networks/wan/infer/feature_caching/transformer_infer.py,
// commit f8aee98), without retention steps: the relative L1 change of the time embedding e between steps,
// rescaled by the published polynomial, is accumulated; under the threshold the blocks are skipped and
// the residual they added in the pass's last computed step is added instead (ke_dit_set_residual). The
// first and the last step always compute. Coefficients: TI2V-5B from LightX2V
// configs/caching/teacache/wan_ti2v_tea_720p.json; T2V-A14B and I2V-A14B experts (Wan2.1-14B
// architecture) from TeaCache4Wan2.1's t2v-14B and i2v-720P sets.
//
// MagCache: as Zehong-Ma/MagCache MagCache4Wan2.2/magcache_generate.py (commit df81cb1) magcache_forward:
// per pass, the product of the published magnitude ratios since the last computed step gives a skip error
// |1 - product|, accumulated; under the threshold (default 0.04) and at most K = 2 steps in a row, the
// blocks are skipped and the pass's last residual added. No caching in the first 20 % (retention ratio) of
// the run, and on A14B as there: T2V in the first 20 % of each expert's steps, I2V over the whole
// high-noise expert and the first 20 % of the low-noise one. Ratios: step-cache-mag.c.
//
// Our choices, where the references have none: a threshold of 0 never skips (the TeaCache polynomial
// can be negative, which would skip at 0), a change of A14B expert starts the cache afresh (ComfyUI runs
// the experts as two samplers), and one decision holds for both passes of a step (MagCache decides per
// pass, as its reference).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/dit/wan.h"
#include "pipeline/step-cache-impl.h"

#define EASY_SUBSAMPLE 8
#define EASY_START 0.15
#define EASY_END 0.95
#define MAG_K 2
#define MAG_RETENTION 0.2

struct ke_step_cache {
    enum ke_cache_mode mode;
    float thr;
    enum ke_task task;
    int n_steps;
    int z, F, H, W;
    int64_t n;
    int expert;
    bool skip[2];               // this step's forwards (cond, uncond) are answered from the cache
    int skipped;
    int split;                  // A14B: steps of the high-noise expert (0: one model)
    bool image;
    // EasyCache
    double start_sigma, end_sigma;
    bool passthrough, have_input_change, have_x_prev, have_out_prev, have_rate, have_diff[2];
    double input_change, rate, cum, out_prev_norm;
    int64_t n_sub;
    float * diff[2];
    float * x_prev_sub, * out_prev_sub, * sub;
    // TeaCache
    int dim;
    float * e, * e_prev;
    bool have_e_prev;
    double acc;
    struct ke_dit_residual res[2];
    // MagCache, per pass
    double mag_ratio[2], mag_err[2];
    int mag_steps[2];
};

// --- TeaCache coefficients (np.poly1d order: highest power first) ---------------------------------------

static const double tea_ti2v[] = { 1.57472669e+05, -1.15702395e+05, 3.10761669e+04, -3.83116651e+03, 2.21608777e+02,
                                   -4.81179567e+00 };
static const double tea_t2v14[] = { -5784.54975374, 5449.50911966, -1811.16591783, 256.27178429, -13.02252404 };
static const double tea_i2v720[] = { -114.36346466, 65.26524496, -18.82220707, 4.91518089, -0.23412683 };

double ke_teacache_rescale(enum ke_task task, double x)
{
    const double * c = tea_ti2v;
    int n = (int) (sizeof(tea_ti2v) / sizeof(tea_ti2v[0]));
    if (task == KE_TASK_T2V_A14B) {
        c = tea_t2v14;
        n = (int) (sizeof(tea_t2v14) / sizeof(tea_t2v14[0]));
    } else if (task == KE_TASK_I2V_A14B) {
        c = tea_i2v720;
        n = (int) (sizeof(tea_i2v720) / sizeof(tea_i2v720[0]));
    }
    double y = 0.0;
    for (int i = 0; i < n; i++) {
        y = y * x + c[i];       // Horner, as numpy.polyval
    }
    return y;
}

float ke_cache_default_threshold(enum ke_cache_mode m, enum ke_task task)
{
    switch (m) {
    case KE_CACHE_EASY:
        return 0.2f;            // EasyCacheNode's reuse_threshold default
    case KE_CACHE_TEA:
        // the LightX2V TI2V config's teacache_thresh; teacache_generate.py's default for the 14B sets
        return task == KE_TASK_TI2V_5B ? 0.26f : 0.2f;
    case KE_CACHE_MAG:
        return 0.04f;           // magcache_generate.py's --magcache_thresh default
    case KE_CACHE_OFF:
        break;
    }
    return 0.0f;
}

// --- common -------------------------------------------------------------------------------------------

static double shifted_sigma(double shift, double percent)
{
    // ComfyUI ModelSamplingDiscreteFlow.percent_to_sigma: time_snr_shift(shift, 1 - percent)
    if (percent <= 0.0) {
        return 1.0;
    }
    if (percent >= 1.0) {
        return 0.0;
    }
    const double t = 1.0 - percent;
    return shift * t / (1.0 + (shift - 1.0) * t);
}

enum ke_status ke_step_cache_new(struct ke_step_cache ** out, enum ke_cache_mode mode, float threshold,
                                 enum ke_task task, int n_steps, double shift, int split, bool image, int z, int F,
                                 int H, int W, struct ke_error * err)
{
    *out = NULL;
    if (mode == KE_CACHE_OFF) {
        return KE_STATUS_OK;
    }
    if (mode != KE_CACHE_EASY && mode != KE_CACHE_TEA && mode != KE_CACHE_MAG) {
        return ke_err(err, KE_STATUS_INVALID, "step cache: unknown mode %d", (int) mode);
    }
    struct ke_step_cache * c = calloc(1, sizeof(*c));
    if (!c) {
        return ke_err(err, KE_STATUS_NOMEM, "step cache: out of memory");
    }
    c->mode = mode;
    c->thr = threshold < 0 ? ke_cache_default_threshold(mode, task) : threshold;
    c->task = task;
    c->n_steps = n_steps;
    c->split = split;
    c->image = image;
    c->z = z;
    c->F = F;
    c->H = H;
    c->W = W;
    c->n = (int64_t) z * F * H * W;
    c->expert = -1;
    c->start_sigma = shifted_sigma(shift, EASY_START);
    c->end_sigma = shifted_sigma(shift, EASY_END);
    if (mode == KE_CACHE_EASY) {
        const int hs = (H + EASY_SUBSAMPLE - 1) / EASY_SUBSAMPLE, ws = (W + EASY_SUBSAMPLE - 1) / EASY_SUBSAMPLE;
        c->n_sub = (int64_t) z * F * hs * ws;
        c->diff[0] = malloc(sizeof(float) * (size_t) c->n);
        c->diff[1] = malloc(sizeof(float) * (size_t) c->n);
        c->x_prev_sub = malloc(sizeof(float) * (size_t) c->n_sub);
        c->out_prev_sub = malloc(sizeof(float) * (size_t) c->n_sub);
        c->sub = malloc(sizeof(float) * (size_t) c->n_sub);
        if (!c->diff[0] || !c->diff[1] || !c->x_prev_sub || !c->out_prev_sub || !c->sub) {
            ke_step_cache_free(c);
            return ke_err(err, KE_STATUS_NOMEM, "step cache: out of memory for %lld elements", (long long) c->n);
        }
    }
    *out = c;
    return KE_STATUS_OK;
}

void ke_step_cache_free(struct ke_step_cache * c)
{
    if (!c) {
        return;
    }
    free(c->diff[0]);
    free(c->diff[1]);
    free(c->x_prev_sub);
    free(c->out_prev_sub);
    free(c->sub);
    free(c->e);
    free(c->e_prev);
    ke_dit_residual_free(&c->res[0]);
    ke_dit_residual_free(&c->res[1]);
    free(c);
}

int ke_step_cache_skipped(const struct ke_step_cache * c)
{
    return c ? c->skipped : 0;
}

// x[..., ::8, ::8] of a [z, F, H, W] latent
static void subsample(const struct ke_step_cache * c, float * dst, const float * x)
{
    int64_t o = 0;
    for (int64_t cf = 0; cf < (int64_t) c->z * c->F; cf++) {
        const float * plane = x + cf * c->H * c->W;
        for (int h = 0; h < c->H; h += EASY_SUBSAMPLE) {
            for (int w = 0; w < c->W; w += EASY_SUBSAMPLE) {
                dst[o++] = plane[(int64_t) h * c->W + w];
            }
        }
    }
}

static double mean_abs_diff(const float * a, const float * b, int64_t n)
{
    double s = 0.0;
    for (int64_t k = 0; k < n; k++) {
        s += fabs((double) a[k] - (double) b[k]);
    }
    return n > 0 ? s / (double) n : 0.0;
}

static double mean_abs(const float * a, int64_t n)
{
    double s = 0.0;
    for (int64_t k = 0; k < n; k++) {
        s += fabs((double) a[k]);
    }
    return n > 0 ? s / (double) n : 0.0;
}

static void reset(struct ke_step_cache * c)
{
    c->have_input_change = c->have_x_prev = c->have_out_prev = c->have_rate = false;
    c->have_diff[0] = c->have_diff[1] = false;
    c->cum = 0.0;
    c->have_e_prev = false;
    c->acc = 0.0;
    for (int p = 0; p < 2; p++) {
        c->mag_ratio[p] = 1.0;
        c->mag_err[p] = 0.0;
        c->mag_steps[p] = 0;
    }
    ke_dit_residual_free(&c->res[0]);
    ke_dit_residual_free(&c->res[1]);
}

// --- the step -----------------------------------------------------------------------------------------

static void easy_begin(struct ke_step_cache * c, const float * x, double sigma, int passes)
{
    c->passthrough = !(sigma > c->end_sigma);
    c->have_input_change = false;
    if (c->passthrough || !(sigma <= c->start_sigma)) {
        return;
    }
    const bool can = c->have_diff[0] && (passes < 2 || c->have_diff[1]);
    if (c->have_x_prev) {
        subsample(c, c->sub, x);
        c->input_change = mean_abs_diff(c->sub, c->x_prev_sub, c->n_sub);
        c->have_input_change = true;
    }
    if (c->have_out_prev && c->have_rate && c->have_input_change && c->out_prev_norm > 0) {
        c->cum += c->rate * c->input_change / c->out_prev_norm;
        ke_log(3, "easycache: sigma %g input change %g rate %g cumulative %g", sigma, c->input_change, c->rate,
               c->cum);
        if (c->cum < c->thr && can) {
            c->skip[0] = c->skip[1] = true;
        } else {
            c->cum = 0.0;
        }
    }
}

static enum ke_status tea_begin(struct ke_step_cache * c, int i, float t, struct ke_dit * dit, int passes,
                                struct ke_error * err)
{
    const int dim = ke_dit_get_config(dit)->dim;
    if (dim != c->dim) {
        free(c->e);
        free(c->e_prev);
        c->e = malloc(sizeof(float) * (size_t) dim);
        c->e_prev = malloc(sizeof(float) * (size_t) dim);
        c->dim = c->e && c->e_prev ? dim : 0;
        c->have_e_prev = false;
        if (!c->dim) {
            return ke_err(err, KE_STATUS_NOMEM, "step cache: out of memory");
        }
    }
    enum ke_status st = ke_dit_time_embedding(dit, t, c->e, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    const bool have_res = c->res[0].n > 0 && (passes < 2 || c->res[1].n > 0);
    if (i < 1 || i >= c->n_steps - 1 || !c->have_e_prev || !have_res) {
        c->acc = 0.0;
    } else {
        const double den = mean_abs(c->e_prev, dim);
        const double rel = den > 0 ? mean_abs_diff(c->e, c->e_prev, dim) / den : INFINITY;
        c->acc += ke_teacache_rescale(c->task, rel);
        ke_log(3, "teacache: step %d rel %g acc %g", i, rel, c->acc);
        if (c->thr > 0 && c->acc < c->thr) {
            c->skip[0] = c->skip[1] = true;
        } else {
            c->acc = 0.0;
        }
    }
    float * tmp = c->e_prev;
    c->e_prev = c->e;
    c->e = tmp;
    c->have_e_prev = true;
    return KE_STATUS_OK;
}

// magcache_forward's retention rule, in forward counts (cnt = 2 i + p) as there
static bool mag_retained(const struct ke_step_cache * c, int cnt)
{
    const int n2 = 2 * c->n_steps, s2 = 2 * c->split;
    if (c->split == 0) {
        return cnt < (int) (n2 * MAG_RETENTION);
    }
    if (c->task == KE_TASK_I2V_A14B) {
        return cnt < (int) (s2 + (n2 - s2) * MAG_RETENTION);
    }
    return cnt < (int) (s2 * MAG_RETENTION) || ((double) cnt <= (n2 - s2) * MAG_RETENTION + s2 && cnt >= s2);
}

static void mag_begin(struct ke_step_cache * c, int i, int passes)
{
    for (int p = 0; p < passes; p++) {
        if (mag_retained(c, 2 * i + p)) {
            continue;
        }
        c->mag_ratio[p] *= ke_magcache_ratio(c->task, c->image, c->n_steps, i, p);
        c->mag_steps[p]++;
        c->mag_err[p] += fabs(1.0 - c->mag_ratio[p]);
        if (c->mag_err[p] < c->thr && c->mag_steps[p] <= MAG_K && c->res[p].n > 0) {
            c->skip[p] = true;
        } else {
            c->mag_err[p] = 0.0;
            c->mag_steps[p] = 0;
            c->mag_ratio[p] = 1.0;
        }
    }
}

enum ke_status ke_step_cache_begin(struct ke_step_cache * c, int i, const float * x, double sigma, float t,
                                   struct ke_dit * dit, int expert, int passes, struct ke_error * err)
{
    c->skip[0] = c->skip[1] = false;
    if (expert != c->expert) {
        reset(c);
        c->expert = expert;
    }
    if (c->mode == KE_CACHE_EASY) {
        easy_begin(c, x, sigma, passes);
        return KE_STATUS_OK;
    }
    if (c->mode == KE_CACHE_MAG) {
        mag_begin(c, i, passes);
        return KE_STATUS_OK;
    }
    return tea_begin(c, i, t, dit, passes, err);
}

static void easy_after(struct ke_step_cache * c, int p, const float * x, const float * out)
{
    if (c->passthrough) {
        return;
    }
    if (p == 0 && c->have_out_prev) {
        subsample(c, c->sub, out);
        const double output_change = mean_abs_diff(c->sub, c->out_prev_sub, c->n_sub);
        if (c->have_input_change && c->input_change > 0) {
            c->rate = output_change / c->input_change;
            c->have_rate = true;
        }
    }
    float * d = c->diff[p];
    for (int64_t k = 0; k < c->n; k++) {
        d[k] = out[k] - x[k];
    }
    c->have_diff[p] = true;
    if (p == 0) {
        subsample(c, c->x_prev_sub, x);
        subsample(c, c->out_prev_sub, out);
        c->out_prev_norm = mean_abs(out, c->n);
        c->have_x_prev = c->have_out_prev = true;
    }
}

enum ke_status ke_step_cache_forward(struct ke_step_cache * c, int p, struct ke_dit * dit,
                                     const struct ke_dit_context * ctx, const float * x, int c_x, const float * y,
                                     int c_y, int F, int H, int W, const float * t, int n_t, float * out,
                                     ke_abort_fn abort, void * abort_user, struct ke_error * err)
{
    if (c && c->mode == KE_CACHE_EASY && c->skip[p]) {
        const float * d = c->diff[p];
        for (int64_t k = 0; k < c->n; k++) {
            out[k] = x[k] + d[k];
        }
        c->skipped++;
        return KE_STATUS_OK;
    }
    const bool resid = c && (c->mode == KE_CACHE_TEA || c->mode == KE_CACHE_MAG);
    if (resid) {
        c->res[p].skip = c->skip[p];
        ke_dit_set_residual(dit, &c->res[p]);
    }
    enum ke_status st = ke_dit_forward(dit, ctx, x, c_x, y, c_y, F, H, W, t, n_t, out, abort, abort_user, err);
    if (resid) {
        ke_dit_set_residual(dit, NULL);
        if (st == KE_STATUS_OK && c->skip[p]) {
            c->skipped++;
        }
    }
    if (c && c->mode == KE_CACHE_EASY && st == KE_STATUS_OK) {
        easy_after(c, p, x, out);
    }
    return st;
}
