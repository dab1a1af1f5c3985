// Kinora engine: parity evaluator for the generation loops (pipeline_ti2v_tiny / pipeline_i2v_a14b_tiny
// of the golden fixtures). Settings and weight file names come from the IO metadata; the inputs are
// `noise`, `context`, `context_null` and `image_u8`; every per-step tensor, the final latent and the
// video are written. Latent size, image conditioning and sampling settings go through the recipe that
// ke_generate uses (pipeline/recipe.c), so the fixtures check the shipped code.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "backends/backend.h"
#include "core/error.h"
#include "core/file.h"
#include "eval/eval-io.h"
#include "eval/eval.h"
#include "loaders/loaders.h"
#include "models/dit/wan.h"
#include "models/common/lora.h"
#include "models/vae/wan-vae.h"
#include "pipeline/io-impl.h"
#include "pipeline/recipe-impl.h"
#include "pipeline/task-impl.h"
#include "sampling/sampling.h"

struct ep {
    const struct ke_eval_args * a;
    struct ke_io * in, * out;
    struct ke_backend * be;
    struct ke_tensor_set * dit_w[2];    // [0] dense / low-noise, [1] high-noise
    struct ke_dit * dit[2];
    struct ke_expert ex[2];
    int n_experts;
    enum ke_task task;              // from the weights: dense TI2V-5B, or T2V / I2V-A14B experts
    struct ke_recipe recipe;
    struct ke_vae * vae;
    float * ctx, * ctx_null;
    int n_ctx, n_ctx_null, text_dim;
    // per-step records of the current run
    const char * prefix;
    int steps;
    int64_t n_latent;
    int64_t latent_shape[4];
    float * rec[8];
    const char * rec_names[8];
    int64_t rec_n[8];
    int n_rec;
    struct ke_error * err;
    enum ke_status rec_status;
    struct ke_lora_file * lora_files[KE_MAX_LORAS];   // --lora (strength_high: the high-noise expert)
};

static const char * meta_need(struct ep * e, const char * key)
{
    const char * v = ke_io_meta(e->in, key);
    if (!v) {
        ke_err(e->err, KE_STATUS_MISSING, "%s: metadata '%s' is missing", e->a->in, key);
    }
    return v;
}

static char * weights_path(struct ep * e, const char * file)
{
    const char * dir = e->a->weights_dir ? e->a->weights_dir : ".";
    size_t n = strlen(dir) + strlen(file) + 2;
    char * p = malloc(n);
    if (p) {
        snprintf(p, n, "%s/%s", dir, file);
    }
    return p;
}

static enum ke_status open_dit(struct ep * e, int slot, const char * meta_key)
{
    const char * file = meta_need(e, meta_key);
    if (!file) {
        return KE_STATUS_MISSING;
    }
    char * path = weights_path(e, file);
    if (!path) {
        return ke_err(e->err, KE_STATUS_NOMEM, "out of memory");
    }
    enum ke_status st = ke_weights_open(&e->dit_w[slot], path, e->err);
    char * cfg_file = NULL;
    if (st == KE_STATUS_OK && e->a->config) {
        // --config: a config.json overriding the IO's and the weights' own
        st = ke_file_read_all(e->a->config, "config", 1 << 20, &cfg_file, NULL, e->err);
    }
    if (st == KE_STATUS_OK) {
        const char * cfg = cfg_file ? cfg_file : ke_io_meta(e->in, "config");
        struct ke_lora_use uses[KE_MAX_LORAS];
        const int n_uses = ke_lora_uses_for(uses, e->lora_files, e->a->loras, e->a->n_loras,
                                            strcmp(meta_key, "dit_high") == 0);
        st = ke_dit_init_lora(&e->dit[slot], e->dit_w[slot], cfg, e->be, uses, n_uses, e->a->lora_merge, e->err);
    }
    free(cfg_file);
    if (st == KE_STATUS_OK) {
        const struct ke_dit_config * c = ke_dit_get_config(e->dit[slot]);
        if (c->text_dim != e->text_dim) {
            st = ke_err(e->err, KE_STATUS_SHAPE, "%s: text_dim %d, but context rows have %d values", path,
                        c->text_dim, e->text_dim);
        }
    }
    if (st == KE_STATUS_OK) {
        struct ke_expert * x = &e->ex[slot];
        x->dit = e->dit[slot];
        st = ke_dit_context_new(x->dit, e->ctx, e->n_ctx, &x->cond, e->err);
        if (st == KE_STATUS_OK) {
            st = ke_dit_context_new(x->dit, e->ctx_null, e->n_ctx_null, &x->uncond, e->err);
        }
    }
    if (st != KE_STATUS_OK) {
        ke_err_prefix(e->err, "%s: ", meta_key);
    }
    free(path);
    return st;
}

static enum ke_status get_expert(void * user, int which, struct ke_expert ** out, struct ke_error * err)
{
    struct ep * e = user;
    *out = &e->ex[ke_recipe_expert_slot(&e->recipe, which)];
    (void) err;
    return KE_STATUS_OK;
}

static float * add_f32(struct ep * e, const char * name, int nd, const int64_t * shape)
{
    char full[256];
    snprintf(full, sizeof(full), "%s%s", e->prefix, name);
    return ke_io_add(e->out, full, KE_DTYPE_F32, nd, shape, e->err);
}

static int64_t * add_i64(struct ep * e, const char * name, int nd, const int64_t * shape)
{
    char full[256];
    snprintf(full, sizeof(full), "%s%s", e->prefix, name);
    return ke_io_add(e->out, full, KE_DTYPE_I64, nd, shape, e->err);
}

static void record(void * user, int step, const char * what, const float * data, int64_t n)
{
    struct ep * e = user;
    int k;
    for (k = 0; k < e->n_rec; k++) {
        if (strcmp(e->rec_names[k], what) == 0) {
            break;
        }
    }
    if (k == e->n_rec) {
        if (k == 8) {
            return;
        }
        e->rec_names[k] = what;
        e->rec_n[k] = n;
        e->rec[k] = calloc((size_t) n * (size_t) e->steps, sizeof(float));
        e->n_rec++;
        if (!e->rec[k]) {
            e->rec_status = KE_STATUS_NOMEM;
            return;
        }
    }
    if (e->rec[k] && n == e->rec_n[k]) {
        memcpy(e->rec[k] + (size_t) step * (size_t) n, data, sizeof(float) * (size_t) n);
    }
}

static const float * rec_get(struct ep * e, const char * what, int64_t * n)
{
    for (int k = 0; k < e->n_rec; k++) {
        if (strcmp(e->rec_names[k], what) == 0) {
            *n = e->rec_n[k];
            return e->rec[k];
        }
    }
    *n = 0;
    return NULL;
}

static void rec_clear(struct ep * e)
{
    for (int k = 0; k < e->n_rec; k++) {
        free(e->rec[k]);
    }
    e->n_rec = 0;
}

// Write the per-step records, the final latent and the decoded video of one run.
static enum ke_status write_run(struct ep * e, const struct ke_schedule * sc, const float * latent, bool t_per_token,
                                const int64_t * lshape)
{
    const int steps = e->steps;
    int64_t n = 0;
    int64_t shape[5] = { steps, lshape[0], lshape[1], lshape[2], lshape[3] };
    static const char * const per_step[] = { "latent_in", "pred_cond", "pred_uncond", "noise_pred", "step_out" };
    for (size_t k = 0; k < sizeof(per_step) / sizeof(per_step[0]); k++) {
        const float * r = rec_get(e, per_step[k], &n);
        float * d = add_f32(e, per_step[k], 5, shape);
        if (!d || !r) {
            return ke_err(e->err, KE_STATUS_NOMEM, "eval pipeline: missing record %s", per_step[k]);
        }
        memcpy(d, r, sizeof(float) * (size_t) n * (size_t) steps);
    }
    int64_t sh1[1] = { steps };
    int64_t * ts = add_i64(e, "timesteps", 1, sh1);
    if (!ts) {
        return KE_STATUS_NOMEM;
    }
    memcpy(ts, sc->timesteps, sizeof(int64_t) * (size_t) steps);
    const float * mt = rec_get(e, "model_t", &n);
    if (t_per_token) {
        int64_t shm[3] = { steps, 1, n };
        float * d = add_f32(e, "model_t", 3, shm);
        if (!d) {
            return KE_STATUS_NOMEM;
        }
        memcpy(d, mt, sizeof(float) * (size_t) n * (size_t) steps);
    } else {
        int64_t shm[2] = { steps, 1 };
        int64_t * d = add_i64(e, "model_t", 2, shm);
        const float * hi = rec_get(e, "expert_is_high", &n);
        int64_t * eh = add_i64(e, "expert_is_high", 1, sh1);
        if (!d || !eh) {
            return KE_STATUS_NOMEM;
        }
        for (int i = 0; i < steps; i++) {
            d[i] = (int64_t) mt[i];
            eh[i] = (int64_t) hi[i];
        }
    }
    float * fl = add_f32(e, "final_latent", 4, lshape);
    if (!fl) {
        return KE_STATUS_NOMEM;
    }
    memcpy(fl, latent, sizeof(float) * (size_t) (lshape[0] * lshape[1] * lshape[2] * lshape[3]));
    // decode (unclamped, then the clamp of the pipeline's return value)
    const int s = e->vae->scale;
    int64_t vshape[4] = { 3, 1 + 4 * (lshape[1] - 1), lshape[2] * s, lshape[3] * s };
    float * raw = add_f32(e, "video_raw", 4, vshape);
    float * vid = add_f32(e, "video", 4, vshape);
    if (!raw || !vid) {
        return KE_STATUS_NOMEM;
    }
    struct ke_vae_run_opts o = { 0 };
    o.clamp = false;
    enum ke_status st = ke_vae_decode_opts(e->vae, raw, latent, (int) lshape[1], (int) lshape[2], (int) lshape[3],
                                           NULL, NULL, &o, e->err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    const int64_t nv = vshape[0] * vshape[1] * vshape[2] * vshape[3];
    for (int64_t i = 0; i < nv; i++) {
        vid[i] = raw[i] < -1.0f ? -1.0f : (raw[i] > 1.0f ? 1.0f : raw[i]);
    }
    return KE_STATUS_OK;
}

struct settings {
    int frames, steps;
    double shift, boundary;
    float guide, guide_high;
    enum ke_solver solver;
    int size_w, size_h;         // TI2V size or 0
    double max_area;            // A14B max area or 0
};

static enum ke_status read_settings(struct ep * e, struct settings * s)
{
    const char * v;
    memset(s, 0, sizeof(*s));
    s->solver = KE_SOLVER_UNIPC;
    if (!(v = meta_need(e, "frame_num"))) {
        return KE_STATUS_MISSING;
    }
    s->frames = atoi(v);
    if (!(v = meta_need(e, "steps"))) {
        return KE_STATUS_MISSING;
    }
    s->steps = atoi(v);
    s->shift = (v = ke_io_meta(e->in, "shift")) ? atof(v) : 5.0;
    s->boundary = (v = ke_io_meta(e->in, "boundary")) ? atof(v) : 0.0;
    if ((v = ke_io_meta(e->in, "solver")) && ke_solver_from_name(v, &s->solver) != 0) {
        return ke_err(e->err, KE_STATUS_FORMAT, "%s: unknown solver '%s'", e->a->in, v);
    }
    if ((v = ke_io_meta(e->in, "guide_scale_low_high"))) {
        if (sscanf(v, " [ %f , %f ]", &s->guide, &s->guide_high) != 2) {
            return ke_err(e->err, KE_STATUS_FORMAT, "%s: guide_scale_low_high '%s' is not [low, high]", e->a->in, v);
        }
    } else if ((v = ke_io_meta(e->in, "guide_scale"))) {
        s->guide = s->guide_high = (float) atof(v);
    } else {
        s->guide = s->guide_high = 5.0f;
    }
    if ((v = ke_io_meta(e->in, "size_wh")) && sscanf(v, " [ %d , %d ]", &s->size_w, &s->size_h) != 2) {
        return ke_err(e->err, KE_STATUS_FORMAT, "%s: size_wh '%s' is not [w, h]", e->a->in, v);
    }
    if ((v = ke_io_meta(e->in, "max_area"))) {
        s->max_area = atof(v);
    }
    if (s->frames < 1 || (s->frames - 1) % 4 != 0 || s->steps < 1) {
        return ke_err(e->err, KE_STATUS_FORMAT, "%s: frame_num %d / steps %d are not usable", e->a->in, s->frames,
                      s->steps);
    }
    return KE_STATUS_OK;
}

static bool lists_prefix(struct ep * e, const char * prefix)
{
    const char * outs = ke_io_meta(e->in, "outputs");
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s", prefix);
    return outs && strstr(outs, pat);
}

// Image tensor U8 [H, W, 3] of the IO.
static const uint8_t * io_image(struct ep * e, int * w, int * h)
{
    const struct ke_io_tensor * t = ke_io_get(e->in, "image_u8");
    if (!t || t->type != KE_DTYPE_U8 || t->n_dims != 3 || t->shape[2] != 3) {
        ke_err(e->err, KE_STATUS_MISSING, "%s: tensor 'image_u8' (U8 [H, W, 3]) is missing", e->a->in);
        return NULL;
    }
    *h = (int) t->shape[0];
    *w = (int) t->shape[1];
    return t->data;
}

// The shared recipe (recipe.c) for this IO's settings and weights.
static void make_recipe(struct ep * e, const struct settings * s)
{
    const struct ke_dit_config * dc = ke_dit_get_config(e->dit[0]);
    e->recipe = (struct ke_recipe) {
        .task = e->task, .patch_h = dc->patch_h, .patch_w = dc->patch_w, .n_experts = e->n_experts,
        .boundary = s->boundary, .n_train = ke_task_info(e->task)->n_train_timesteps, .solver = s->solver,
        .steps = s->steps, .shift = s->shift, .guide = s->guide, .guide_high = s->guide_high,
    };
}

static enum ke_status run_sample(struct ep * e, const struct settings * s, float * x, const int64_t * lshape,
                                 const struct ke_cond * c)
{
    struct ke_sample_args sa;
    ke_recipe_sample_args(&sa, &e->recipe, c, x, (int) lshape[0], (int) lshape[1], (int) lshape[2],
                          (int) lshape[3]);
    sa.expert = get_expert;
    sa.expert_user = e;
    sa.record = record;
    sa.record_user = e;
    sa.t_start = ke_now();
    e->steps = s->steps;
    rec_clear(e);
    e->rec_status = KE_STATUS_OK;
    enum ke_status st = ke_sample(&sa, e->err);
    if (st == KE_STATUS_OK && e->rec_status != KE_STATUS_OK) {
        st = ke_err(e->err, e->rec_status, "eval pipeline: out of memory for the records");
    }
    return st;
}

// Copy n floats of the conditioning into a new output tensor.
static enum ke_status put_f32(struct ep * e, const char * name, int nd, const int64_t * shape, const float * src)
{
    float * d = add_f32(e, name, nd, shape);
    if (!d) {
        return e->err ? e->err->code : KE_STATUS_NOMEM;
    }
    int64_t n = 1;
    for (int i = 0; i < nd; i++) {
        n *= shape[i];
    }
    memcpy(d, src, sizeof(float) * (size_t) n);
    return KE_STATUS_OK;
}

// One run through the shared recipe: latent size, conditioning, sampling, then the records, the final
// latent and the decoded video. size_w x size_h: the size without an image; area: the area with one;
// u8: the image [ih, iw, 3] or NULL.
static enum ke_status run(struct ep * e, const struct settings * s, int size_w, int size_h, double area,
                          const uint8_t * u8, int iw, int ih)
{
    const int z = e->vae->z_dim, sc = e->vae->scale;
    struct ke_cond c;
    float * x = NULL;
    int T, lh, lw;
    memset(&c, 0, sizeof(c));
    ke_recipe_latent_size(e->task, sc, e->recipe.patch_h, e->recipe.patch_w, size_w, size_h, area, s->frames,
                          u8 ? iw : 0, u8 ? ih : 0, &lw, &lh, &T);
    enum ke_status st = ke_recipe_condition(&c, e->task, e->vae, u8, iw, ih, s->frames, T, lh, lw, e->err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    // what the conditioning made, under the reference's names
    if (c.pin) {
        int64_t ish[4] = { 3, 1, c.height, c.width };
        int64_t lsh[4] = { z, 1, lh, lw };
        if ((st = put_f32(e, "image", 4, ish, c.image)) != KE_STATUS_OK ||
            (st = put_f32(e, "image_latent", 4, lsh, c.pin)) != KE_STATUS_OK) {
            goto done;
        }
    }
    if (c.y) {
        int64_t ish[3] = { 3, c.height, c.width };
        int64_t ysh[4] = { z, T, lh, lw };
        int64_t ysh2[4] = { c.c_y, T, lh, lw };
        if ((st = put_f32(e, "image_resized", 3, ish, c.image)) != KE_STATUS_OK ||
            (st = put_f32(e, "y_latent", 4, ysh, c.y + (size_t) (c.c_y - z) * T * lh * lw)) != KE_STATUS_OK ||
            (st = put_f32(e, "y", 4, ysh2, c.y)) != KE_STATUS_OK) {
            goto done;
        }
    }
    int64_t lshape[4] = { z, T, lh, lw };
    const int64_t n = lshape[0] * lshape[1] * lshape[2] * lshape[3];
    if (!(x = ke_io_get_f32(e->in, "noise", n, e->err))) {
        st = e->err ? e->err->code : KE_STATUS_SHAPE;
        goto done;
    }
    st = run_sample(e, s, x, lshape, &c);
    if (st == KE_STATUS_OK) {
        struct ke_schedule sch;
        if ((st = ke_schedule_init(&sch, s->solver, s->steps, s->shift, e->recipe.n_train, e->err)) == KE_STATUS_OK) {
            st = write_run(e, &sch, x, e->recipe.task == KE_TASK_TI2V_5B, lshape);
            ke_schedule_free(&sch);
        }
    }
done:
    free(x);
    ke_cond_free(&c);
    return st;
}

static enum ke_status run_ti2v(struct ep * e, const struct settings * s, bool image_mode)
{
    int iw = 0, ih = 0;
    const uint8_t * u8 = NULL;
    if (s->size_w <= 0 || s->size_h <= 0) {
        return ke_err(e->err, KE_STATUS_MISSING, "%s: metadata 'size_wh' is missing", e->a->in);
    }
    if (image_mode && !(u8 = io_image(e, &iw, &ih))) {
        return KE_STATUS_MISSING;
    }
    return run(e, s, s->size_w, s->size_h, (double) s->size_w * s->size_h, u8, iw, ih);
}

static enum ke_status run_a14b(struct ep * e, const struct settings * s)
{
    int iw = 0, ih = 0;
    const uint8_t * u8 = NULL;
    if (e->task == KE_TASK_I2V_A14B) {
        if (!(u8 = io_image(e, &iw, &ih))) {
            return KE_STATUS_MISSING;
        }
    }
    return run(e, s, s->size_w, s->size_h, s->max_area > 0 ? s->max_area : (double) s->size_w * s->size_h, u8, iw,
               ih);
}

enum ke_status ke_eval_pipeline(const struct ke_eval_args * a, struct ke_error * err)
{
    struct ep e;
    memset(&e, 0, sizeof(e));
    e.a = a;
    e.err = err;
    e.prefix = "";
    struct settings s;
    struct ke_tensor_set * vae_w = NULL;
    char * vae_path = NULL;
    enum ke_status st = ke_io_read(&e.in, a->in, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    if ((st = read_settings(&e, &s)) != KE_STATUS_OK) {
        goto done;
    }
    e.be = ke_eval_backend(a, err);
    if (!e.be) {
        st = err ? err->code : KE_STATUS_UNSUPPORTED;
        goto done;
    }
    const struct ke_io_tensor * c = ke_io_get(e.in, "context");
    const struct ke_io_tensor * cn = ke_io_get(e.in, "context_null");
    if (!c || !cn || c->n_dims != 2 || cn->n_dims != 2 || c->shape[1] != cn->shape[1]) {
        st = ke_err(err, KE_STATUS_MISSING, "%s: tensors 'context' and 'context_null' [n, text_dim] are needed",
                    a->in);
        goto done;
    }
    e.text_dim = (int) c->shape[1];
    e.n_ctx = (int) c->shape[0];
    e.n_ctx_null = (int) cn->shape[0];
    if (!(e.ctx = ke_io_get_f32(e.in, "context", -1, err)) || !(e.ctx_null = ke_io_get_f32(e.in, "context_null", -1, err))) {
        st = KE_STATUS_NOMEM;
        goto done;
    }
    if ((st = ke_lora_open_specs(e.lora_files, a->loras, a->n_loras, err)) != KE_STATUS_OK) {
        goto done;
    }
    // --precision fp8: the DiTs prepared and sampled at fp8 (the VAE decodes on the CPU, as without it)
    ke_eval_precision_begin(e.be, a, "pipeline");
    // weights: one dense DiT, or the two experts
    if (ke_io_meta(e.in, "dit_high")) {
        e.n_experts = 2;
        if ((st = open_dit(&e, 1, "dit_high")) != KE_STATUS_OK || (st = open_dit(&e, 0, "dit_low")) != KE_STATUS_OK) {
            goto done;
        }
    } else {
        e.n_experts = 1;
        if ((st = open_dit(&e, 0, "dit")) != KE_STATUS_OK) {
            goto done;
        }
    }
    const char * vf = meta_need(&e, "vae");
    if (!vf || !(vae_path = weights_path(&e, vf))) {
        st = KE_STATUS_MISSING;
        goto done;
    }
    if ((st = ke_safetensors_open(&vae_w, vae_path, err)) != KE_STATUS_OK ||
        (st = ke_wan_vae_init(&e.vae, vae_w, true, ke_backend_cpu(), err)) != KE_STATUS_OK) {
        goto done;
    }
    vae_w = NULL;   // owned by the VAE now
    const struct ke_dit_config * dc = ke_dit_get_config(e.dit[0]);
    if (dc->out_dim != e.vae->z_dim) {
        st = ke_err(err, KE_STATUS_SHAPE, "%s: a %d-channel VAE does not fit a DiT with %d output channels",
                    vae_path, e.vae->z_dim, dc->out_dim);
        goto done;
    }
    e.task = e.n_experts == 1 ? KE_TASK_TI2V_5B : dc->in_dim > e.vae->z_dim ? KE_TASK_I2V_A14B : KE_TASK_T2V_A14B;
    make_recipe(&e, &s);
    if (!(e.out = ke_io_new(a->out))) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
        goto done;
    }
    if (e.n_experts == 2) {
        st = run_a14b(&e, &s);
    } else {
        bool any = false;
        if (lists_prefix(&e, "t2v.")) {
            e.prefix = "t2v.";
            any = true;
            if ((st = run_ti2v(&e, &s, false)) != KE_STATUS_OK) {
                goto done;
            }
        }
        if (lists_prefix(&e, "i2v.")) {
            e.prefix = "i2v.";
            any = true;
            if ((st = run_ti2v(&e, &s, true)) != KE_STATUS_OK) {
                goto done;
            }
        }
        if (!any) {
            // no mode prefix: text-to-video unless an image is given
            e.prefix = "";
            st = run_ti2v(&e, &s, ke_io_get(e.in, "image_u8") != NULL);
        }
    }
    if (st == KE_STATUS_OK) {
        ke_io_set_meta(e.out, "generator", "kinora eval pipeline");
        st = ke_io_write(e.out, a->out, err);
    }
done:
    ke_eval_precision_end(e.be, a);
    rec_clear(&e);
    for (int i = 0; i < 2; i++) {
        ke_dit_context_free(e.ex[i].cond);
        ke_dit_context_free(e.ex[i].uncond);
        ke_dit_free(e.dit[i]);
        ke_tset_free(e.dit_w[i]);
    }
    ke_lora_files_free(e.lora_files, a->n_loras > 0 && a->n_loras <= KE_MAX_LORAS ? a->n_loras : 0);
    ke_wan_vae_free(e.vae);
    ke_tset_free(vae_w);
    free(vae_path);
    free(e.ctx);
    free(e.ctx_null);
    ke_io_free(e.out);
    ke_io_free(e.in);
    return st;
}
