// Kinora engine: `eval ltx-pipeline` — the LTX-Video distilled multi-scale pipeline (ltx-pipeline.c, the
// code ke_generate runs) on a pipeline fixture of tests/ltx/gen_pipeline.py: weights and settings from
// the IO metadata, `prompt_embeds` / `prompt_attention_mask` as the text, the seed's random draws made by
// the engine (so the fixture's recorded draws check them), the conditioning image staged by the engine
// from `image_u8` up to the uint8 frame the compressor takes, then the fixture's `image.compressed`
// (libx264's output; the engine's own GStreamer round trip is written as `image.compressed` for a loose
// check). Every recorded tensor the IO file holds is written in the IO file's shape.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "backends/backend.h"
#include "core/error.h"
#include "eval/eval-io.h"
#include "eval/eval.h"
#include "loaders/loaders.h"
#include "models/ltx/ltx-checkpoint.h"
#include "models/ltx/ltx-transformer.h"
#include "models/ltx/ltx-upsampler.h"
#include "models/ltx/ltx-vae.h"
#include "pipeline/ltx-impl.h"
#include "sampling/sampling.h"

#define MAX_REC 96

struct rec {
    char name[64];
    float * data;
    int64_t n;
};

struct ev {
    const struct ke_tensor_set * io;
    struct rec r[MAX_REC];
    int n_rec;
    int failed;
};

// Records stack in call order (per-step tensors arrive once a step).
static void rec_cb(void * user, const char * name, const float * data, int64_t n)
{
    struct ev * e = user;
    struct rec * r = NULL;
    for (int i = 0; i < e->n_rec; i++) {
        if (strcmp(e->r[i].name, name) == 0) {
            r = &e->r[i];
        }
    }
    if (!r) {
        if (e->n_rec >= MAX_REC) {
            e->failed = 1;
            return;
        }
        r = &e->r[e->n_rec++];
        snprintf(r->name, sizeof(r->name), "%s", name);
    }
    float * d = realloc(r->data, sizeof(float) * (size_t) (r->n + n));
    if (!d) {
        e->failed = 1;
        return;
    }
    memcpy(d + r->n, data, sizeof(float) * (size_t) n);
    r->data = d;
    r->n += n;
}

static double jnum(json_object * o, const char * k, double def)
{
    json_object * v;
    return json_object_object_get_ex(o, k, &v) && v && !json_object_is_type(v, json_type_null) ?
               json_object_get_double(v) : def;
}

static enum ke_status read_pass(struct ke_ltx_pass * p, json_object * s, const char * key, const char * path,
                                struct ke_error * err)
{
    json_object * o, * ts;
    if (!json_object_object_get_ex(s, key, &o) || !json_object_object_get_ex(o, "timesteps", &ts) ||
        !json_object_is_type(ts, json_type_array) || json_object_array_length(ts) < 1 ||
        json_object_array_length(ts) > KE_LTX_MAX_STEPS) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: metadata 'settings' has no usable '%s.timesteps'", path, key);
    }
    p->n_steps = (int) json_object_array_length(ts);
    for (int i = 0; i < p->n_steps; i++) {
        p->timesteps[i] = (float) json_object_get_double(json_object_array_get_idx(ts, (size_t) i));
    }
    return KE_STATUS_OK;
}

static char * join(const char * dir, const char * name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char * p = malloc(n);
    if (p) {
        snprintf(p, n, "%s/%s", dir, name);
    }
    return p;
}

// An output in the IO file's shape (the element count must agree).
static enum ke_status put(struct ke_eval_out * out, const struct ke_tensor_set * io, const char * name,
                          const float * data, int64_t n, const char * path, struct ke_error * err)
{
    const struct ke_tensor * t = ke_tset_get(io, name);
    if (!t) {
        return KE_STATUS_OK;   // not in this fixture
    }
    if (ke_tensor_nelements(t) != n) {
        return ke_err(err, KE_STATUS_SHAPE, "%s: '%s' has %lld values, the engine made %lld", path, name,
                      (long long) ke_tensor_nelements(t), (long long) n);
    }
    int64_t shape[KE_MAX_DIMS];
    for (int d = 0; d < t->n_dims; d++) {
        shape[d] = t->ne[t->n_dims - 1 - d];
    }
    return ke_eval_out_add(out, name, data, t->n_dims, shape) < 0 ? ke_err(err, KE_STATUS_NOMEM, "out of memory")
                                                                   : KE_STATUS_OK;
}

enum ke_status ke_eval_ltx_pipeline(const struct ke_eval_args * a, struct ke_error * err)
{
    if (!a->weights_dir) {
        return ke_err(err, KE_STATUS_INVALID, "eval ltx-pipeline needs --weights-dir");
    }
    struct ke_backend * be = ke_eval_backend(a, err);
    if (!be) {
        return err ? err->code : KE_STATUS_UNSUPPORTED;
    }
    struct ke_tensor_set * io = NULL;
    struct ke_ltx_checkpoint * c = NULL;
    struct ke_ltx_dit * dit = NULL;
    struct ke_ltx_dit_context * ctx = NULL;
    struct ke_ltx_vae * vae = NULL;
    struct ke_ltx_upsampler * ups = NULL;
    struct ke_eval_out * out = NULL;
    struct ke_ltx_cond_image ci;
    json_object * settings = NULL;
    char ** names = NULL;
    int n_names = 0;
    char * wpath = NULL, * upath = NULL;
    float * text = NULL, * maskf = NULL, * media = NULL, * compressed = NULL, * video = NULL, * tmp = NULL;
    uint8_t * keep = NULL;
    struct ev e;
    memset(&e, 0, sizeof(e));
    memset(&ci, 0, sizeof(ci));
    enum ke_status st;
    if ((st = ke_safetensors_open_file(&io, a->in, err)) != KE_STATUS_OK ||
        (st = ke_eval_outputs(io, &names, &n_names, err)) != KE_STATUS_OK) {
        goto done;
    }
    const char * wn = ke_tset_meta(io, "weights"), * un = ke_tset_meta(io, "upsampler");
    const char * sj = ke_tset_meta(io, "settings");
    if (!wn || !un || !sj || !(settings = json_tokener_parse(sj))) {
        st = ke_err(err, KE_STATUS_MISSING, "%s: metadata 'weights', 'upsampler' and 'settings' (JSON) are needed",
                    a->in);
        goto done;
    }
    if (!(wpath = join(a->weights_dir, wn)) || !(upath = join(a->weights_dir, un))) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
        goto done;
    }
    if ((st = ke_ltx_checkpoint_open(&c, wpath, upath, KE_LTX_OPEN_MODEL, err)) != KE_STATUS_OK) {
        goto done;
    }
    for (int p = 0; p < KE_LTX_N_PARTS; p++) {
        if (c->part[p] && c->config[p] && ke_tset_set_meta(c->part[p], "config", c->config[p]) < 0) {
            st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
            goto done;
        }
    }
    if (!c->part[KE_LTX_PART_VAE] || !c->part[KE_LTX_PART_UPSAMPLER]) {
        st = ke_err(err, KE_STATUS_MISSING, "%s: no VAE or no upsampler", wpath);
        goto done;
    }
    if ((st = ke_ltx_dit_init(&dit, c->part[KE_LTX_PART_TRANSFORMER], NULL, be, err)) != KE_STATUS_OK ||
        (st = ke_ltx_vae_init(&vae, c->part[KE_LTX_PART_VAE], false, be, err)) != KE_STATUS_OK ||
        (st = ke_ltx_upsampler_init(&ups, c->part[KE_LTX_PART_UPSAMPLER], false, be, err)) != KE_STATUS_OK) {
        goto done;
    }
    ke_ltx_dit_set_rope_angles(dit, KE_LTX_ROPE_F32);
    // the config: the fixture's settings (its timestep lists are shortened)
    struct ke_ltx_pipe_config cfg;
    ke_ltx_pipe_config_distilled(&cfg, "0.9.8");
    cfg.downscale_factor = jnum(settings, "downscale_factor", cfg.downscale_factor);
    cfg.second.tone_map = jnum(settings, "tone_map_compression_ratio", 0.0);
    cfg.decode_timestep = (float) jnum(settings, "decode_timestep", cfg.decode_timestep);
    cfg.decode_noise_scale = (float) jnum(settings, "decode_noise_scale", cfg.decode_noise_scale);
    if ((st = read_pass(&cfg.first, settings, "first_pass", a->in, err)) != KE_STATUS_OK ||
        (st = read_pass(&cfg.second, settings, "second_pass", a->in, err)) != KE_STATUS_OK) {
        goto done;
    }
    struct ke_ltx_job j;
    memset(&j, 0, sizeof(j));
    const int width = (int) jnum(settings, "width", 0), height = (int) jnum(settings, "height", 0);
    const int n_frames = (int) jnum(settings, "num_frames", 0);
    if ((st = ke_ltx_sizes(&j.sz, width, height, n_frames, cfg.downscale_factor, vae->s_scale, vae->t_scale, err)) !=
        KE_STATUS_OK) {
        goto done;
    }
    // the text
    const struct ke_tensor * te, * tm;
    if (!(text = ke_eval_input_f32(io, "", "prompt_embeds", &te, err)) ||
        !(maskf = ke_eval_input_f32(io, "", "prompt_attention_mask", &tm, err))) {
        st = err ? err->code : KE_STATUS_MISSING;
        goto done;
    }
    const int n_text = (int) (te->n_dims >= 2 ? te->ne[1] : 0);
    if (n_text < 1 || ke_tensor_nelements(tm) != n_text || !(keep = malloc((size_t) n_text))) {
        st = ke_err(err, KE_STATUS_SHAPE, "%s: 'prompt_embeds' [1, T, D] and 'prompt_attention_mask' [1, T] disagree",
                    a->in);
        goto done;
    }
    for (int i = 0; i < n_text; i++) {
        keep[i] = maskf[i] != 0.0f;
    }
    if ((st = ke_ltx_dit_context_new(dit, text, keep, n_text, &ctx, err)) != KE_STATUS_OK) {
        goto done;
    }
    out = ke_eval_out_new();
    if (!out) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
        goto done;
    }
    // the conditioning image
    const struct ke_tensor * tu = ke_tset_get(io, "image_u8");
    if (tu) {
        if (tu->type != KE_DTYPE_U8 || tu->n_dims != 3 || tu->ne[0] != 3) {
            st = ke_err(err, KE_STATUS_SHAPE, "%s: 'image_u8' must be U8 [H, W, 3]", a->in);
            goto done;
        }
        const int iw = (int) tu->ne[1], ih = (int) tu->ne[2];
        if ((st = ke_ltx_image_stage(&ci, tu->data, iw, ih, width, height, err)) != KE_STATUS_OK) {
            goto done;
        }
        const int64_t np = (int64_t) 3 * ci.crop_w * ci.crop_h, ne = (int64_t) 3 * ci.even_w * ci.even_h;
        if (!(tmp = malloc(sizeof(float) * (size_t) ne))) {
            st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
            goto done;
        }
        for (int64_t i = 0; i < ne; i++) {
            tmp[i] = ci.u8[i];
        }
        if ((st = put(out, io, "image.cropped", ci.cropped, np, a->in, err)) != KE_STATUS_OK ||
            (st = put(out, io, "image.blurred", ci.blurred, np, a->in, err)) != KE_STATUS_OK ||
            (st = put(out, io, "image.encoder_u8", tmp, ne, a->in, err)) != KE_STATUS_OK) {
            goto done;
        }
        // the engine's own compression, for the loose check (without GStreamer: the fixture's, said in the log)
        const struct ke_tensor * tcx;
        if (!(compressed = ke_eval_input_f32(io, "", "image.compressed", &tcx, err)) ||
            ke_tensor_nelements(tcx) != ne) {
            st = err && err->code ? err->code : ke_err(err, KE_STATUS_SHAPE, "%s: 'image.compressed' is not "
                                                       "[%d, %d, 3]", a->in, ci.even_h, ci.even_w);
            goto done;
        }
        enum ke_status cs = ke_ltx_image_compress(ci.u8, ci.even_w, ci.even_h, 29, err);
        if (cs == KE_STATUS_OK) {
            for (int64_t i = 0; i < ne; i++) {
                tmp[i] = (float) ci.u8[i] / 255.0f;
            }
        } else {
            ke_log(1, "eval ltx-pipeline: %s; 'image.compressed' echoes the fixture's", err ? err->msg : "");
            if (err) {
                err->code = KE_STATUS_OK;
                err->msg[0] = 0;
            }
            memcpy(tmp, compressed, sizeof(float) * (size_t) ne);
        }
        if ((st = put(out, io, "image.compressed", tmp, ne, a->in, err)) != KE_STATUS_OK) {
            goto done;
        }
        if (!(media = malloc(sizeof(float) * (size_t) (3 * (ci.even_w + j.sz.pad_w) * (ci.even_h + j.sz.pad_h))))) {
            st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
            goto done;
        }
        ke_ltx_image_media(media, compressed, ci.even_w, ci.even_h, &j.sz, &j.image_w, &j.image_h);
        if ((st = put(out, io, "image.media", media, (int64_t) 3 * j.image_w * j.image_h, a->in, err)) !=
            KE_STATUS_OK) {
            goto done;
        }
        j.image = media;
        j.image_cond_noise_scale = (float) jnum(settings, "image_cond_noise_scale", 0.15);
    }
    const int64_t seed = (int64_t) jnum(settings, "seed", 0);
    struct ke_rng rng, rng_global;
    ke_rng_seed(&rng, (uint64_t) seed);
    ke_rng_seed(&rng_global, (uint64_t) seed);
    j.dit = dit;
    j.ctx = ctx;
    j.vae = vae;
    j.ups = ups;
    j.cfg = &cfg;
    j.frame_rate = jnum(settings, "frame_rate", 24);
    j.rng = &rng;
    j.rng_global = &rng_global;
    j.record = rec_cb;
    j.record_user = &e;
    j.t_start = 0;
    const int64_t nv = (int64_t) 3 * n_frames * width * height;
    if (!(video = malloc(sizeof(float) * (size_t) nv))) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
        goto done;
    }
    if ((st = ke_ltx_run(&j, video, err)) != KE_STATUS_OK) {
        goto done;
    }
    if (e.failed) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory for the records");
        goto done;
    }
    for (int i = 0; i < e.n_rec; i++) {
        if ((st = put(out, io, e.r[i].name, e.r[i].data, e.r[i].n, a->in, err)) != KE_STATUS_OK) {
            goto done;
        }
    }
    for (int i = 0; i < n_names; i++) {
        bool have = false;
        for (int k = 0; k < e.n_rec && !have; k++) {
            have = strcmp(e.r[k].name, names[i]) == 0;
        }
        have = have || strncmp(names[i], "image.", 6) == 0;
        if (!have) {
            st = ke_err(err, KE_STATUS_MISSING, "%s: listed output '%s' is not one the LTX-Video pipeline gives",
                        a->in, names[i]);
            goto done;
        }
    }
    st = ke_eval_out_write(out, a->out, err);
done:
    for (int i = 0; i < e.n_rec; i++) {
        free(e.r[i].data);
    }
    ke_ltx_cond_image_free(&ci);
    ke_ltx_dit_context_free(ctx);
    ke_ltx_dit_free(dit);
    ke_ltx_vae_free(vae);
    ke_ltx_upsampler_free(ups);
    ke_ltx_checkpoint_free(c);
    ke_eval_out_free(out);
    ke_eval_names_free(names, n_names);
    ke_tset_free(io);
    json_object_put(settings);
    free(wpath);
    free(upath);
    free(text);
    free(maskf);
    free(keep);
    free(media);
    free(compressed);
    free(video);
    free(tmp);
    return st;
}
