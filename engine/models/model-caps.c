// Kinora engine: model capabilities (ke_model_caps): the rules a model's settings follow (frame count step,
// size multiple, fixed guidance and steps, defaults and presets), read from the model's own files, and the
// official-files folder of LTX-Video (checkpoint, spatial upsampler and text encoder side by side).
//
// LTX-Video (Lightricks/LTX-Video @ 5260738e): the frame step and the size multiple are the VAE's time and
// space compression (its config's patch_size times the strides of its compress blocks: 8 and 32 for the
// 0.9.x VAEs); the transformer's patch is 1. A distilled checkpoint runs the distilled config
// (configs/ltxv-13b-0.9.8-distilled.yaml): guidance 1 and STG 0 in both passes, first pass timesteps
// [1.0000, 0.9937, 0.9875, 0.9812, 0.9750, 0.9094, 0.7250], second pass [0.9094, 0.7250, 0.4219]: 7 + 3
// steps. configs/ltxv-13b-0.9.7-distilled.yaml (Lightricks/LTX-Video @ bc4ab621; no longer in the pinned
// tree) has the same lists, guidance and STG. The defaults are inference.py's (height 704, width 1216,
// num_frames 121, frame_rate 30).
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "core/error.h"
#include "loaders/loaders.h"
#include "models/ltx/ltx-checkpoint.h"
#include "models/ltx/ltx-vae.h"
#include "models/model-family.h"
#include "pipeline/task-impl.h"

// the distilled configs: 7 steps in the first pass, 3 in the second (see above)
#define LTX_DISTILLED_STEPS (7 + 3)

static bool is_dir(const char * p)
{
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool ends_with(const char * s, const char * suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcasecmp(s + a - b, suf) == 0;
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

// --- the official-files folder of LTX-Video ---------------------------------------------------------

// The official configs name the text encoder "PixArt-alpha/PixArt-XL-2-1024-MS" (its text_encoder/ and
// tokenizer/ subfolders); the model catalog downloads it to MODELS_DIR/PixArt-alpha/PixArt-XL-2-1024-MS
// beside MODELS_DIR/Lightricks/LTX-Video.
#define LTX_T5_REPO "PixArt-alpha/PixArt-XL-2-1024-MS"

static bool exists(const char * p)
{
    struct stat st;
    return p && stat(p, &st) == 0;
}

// The first of dir/names[k] that exists (malloc'd), or NULL.
static char * first_in(const char * dir, const char * const * names)
{
    for (int k = 0; names[k]; k++) {
        char * p = join(dir, names[k]);
        if (p && exists(p)) {
            return p;
        }
        free(p);
    }
    return NULL;
}

// The T5 v1.1 XXL encoder beside a checkpoint in dir: text_encoder/, PixArt's folder there or where the
// model catalog puts it, or a ComfyUI-style t5xxl file.
static char * text_encoder_find(const char * dir)
{
    static const char * const rel[] = { "text_encoder", "PixArt-XL-2-1024-MS/text_encoder",
                                        "../../" LTX_T5_REPO "/text_encoder", "t5xxl_fp16.safetensors",
                                        "../text_encoders/t5xxl_fp16.safetensors", NULL };
    return first_in(dir, rel);
}

// The tokenizer of the encoder te (a folder or a weights file): in the encoder's folder, or beside it.
static char * tokenizer_find(const char * te)
{
    static const char * const rel[] = { "tokenizer", "tokenizer.json", "spiece.model", "../tokenizer", NULL };
    if (is_dir(te)) {
        return first_in(te, rel);
    }
    char * dir = strdup(te);
    char * slash = dir ? strrchr(dir, '/') : NULL;
    if (slash) {
        *slash = 0;
    }
    char * r = dir ? first_in(slash ? dir : ".", rel) : NULL;
    free(dir);
    return r;
}

static bool ltx_file_name(const char * n, bool * ups)
{
    bool ltx = strncasecmp(n, "ltxv-", 5) == 0 || strncasecmp(n, "ltx-video-", 10) == 0;
    *ups = strstr(n, "upscaler") || strstr(n, "upsampler");
    return ltx && (ends_with(n, ".safetensors") || ends_with(n, ".gguf"));
}

// The checkpoint and upsampler files of an official-files folder (NULL when absent).
static enum ke_status folder_scan(const char * dir, char ** checkpoint, char ** upsampler, struct ke_error * err)
{
    *checkpoint = *upsampler = NULL;
    DIR * d = opendir(dir);
    if (!d) {
        return ke_err(err, KE_STATUS_IO, "%s: cannot read the folder", dir);
    }
    enum ke_status st = KE_STATUS_OK;
    struct dirent * e;
    while ((e = readdir(d)) != NULL && st == KE_STATUS_OK) {
        const char * n = e->d_name;
        bool ups;
        if (!ltx_file_name(n, &ups)) {
            continue;
        }
        char ** dst = ups ? upsampler : checkpoint;
        if (*dst) {
            const char * other = strrchr(*dst, '/') + 1;
            st = ke_err(err, KE_STATUS_INVALID, "%s: holds two LTX-Video %s files, %s and %s: keep one per folder, or "
                        "give the files themselves (CHECKPOINT,UPSAMPLER)", dir, ups ? "upsampler" : "checkpoint",
                        strcmp(other, n) < 0 ? other : n, strcmp(other, n) < 0 ? n : other);
        } else if (!(*dst = join(dir, n))) {
            st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
        }
    }
    closedir(d);
    if (st != KE_STATUS_OK) {
        free(*checkpoint);
        free(*upsampler);
        *checkpoint = *upsampler = NULL;
    }
    return st;
}

// The upsampler file beside a checkpoint file: the one of the same release ("0.9.8" in both names), else
// the only one in the folder; NULL when none or ambiguous.
static char * upsampler_beside(const char * dir, const char * checkpoint)
{
    const char * base = strrchr(checkpoint, '/');
    base = base ? base + 1 : checkpoint;
    char release[16] = "";
    const char * v = strstr(base, "0.9.");
    if (v) {
        size_t n = 4;
        while (v[n] >= '0' && v[n] <= '9' && n < 8) {
            n++;
        }
        snprintf(release, sizeof(release), "%.*s", (int) n, v);
    }
    DIR * d = opendir(dir);
    struct dirent * e;
    char * same = NULL, * only = NULL;
    int n_ups = 0;
    bool ups;
    while (d && (e = readdir(d)) != NULL) {
        if (!ltx_file_name(e->d_name, &ups) || !ups) {
            continue;
        }
        n_ups++;
        if (!only) {
            only = join(dir, e->d_name);
        }
        if (!same && release[0] && strstr(e->d_name, release)) {
            same = join(dir, e->d_name);
        }
    }
    if (d) {
        closedir(d);
    }
    if (same) {
        free(only);
        return same;
    }
    if (n_ups == 1) {
        return only;
    }
    free(only);
    return NULL;
}

bool ke_ltx_folder_has_checkpoint(const char * dir)
{
    DIR * d = opendir(dir);
    struct dirent * e;
    bool found = false, ups;
    while (d && !found && (e = readdir(d)) != NULL) {
        found = ltx_file_name(e->d_name, &ups) && !ups;
    }
    if (d) {
        closedir(d);
    }
    return found;
}

void ke_ltx_files_clear(struct ke_ltx_files * f)
{
    if (!f) {
        return;
    }
    free(f->checkpoint);
    free(f->upsampler);
    free(f->text_encoder);
    free(f->tokenizer);
    memset(f, 0, sizeof(*f));
}

enum ke_status ke_ltx_files_find(struct ke_ltx_files * out, const char * first, const char * second,
                                 const char * third, struct ke_error * err)
{
    memset(out, 0, sizeof(*out));
    enum ke_status st = KE_STATUS_OK;
    char * dir = NULL;
    if (is_dir(first)) {
        char * sub = join(first, "transformer");
        bool diffusers = sub && is_dir(sub);
        free(sub);
        if (!diffusers && ke_ltx_folder_has_checkpoint(first)) {
            st = folder_scan(first, &out->checkpoint, &out->upsampler, err);
            dir = strdup(first);
        }
    } else {
        // a checkpoint file: the encoder is looked for in its folder
        dir = strdup(first);
        char * slash = dir ? strrchr(dir, '/') : NULL;
        if (slash) {
            *slash = 0;
        } else if (dir) {
            snprintf(dir, strlen(dir) + 1, ".");
        }
    }
    if (st == KE_STATUS_OK && !out->checkpoint && !(out->checkpoint = strdup(first))) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    if (st == KE_STATUS_OK && second) {
        free(out->upsampler);
        if (!(out->upsampler = strdup(second))) {
            st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
        }
    } else if (st == KE_STATUS_OK && !out->upsampler && dir && !is_dir(first)) {
        out->upsampler = upsampler_beside(dir, first);   // the release's upsampler beside the checkpoint file
        char * self_path = join(dir, strrchr(first, '/') ? strrchr(first, '/') + 1 : first);
        if (out->upsampler && self_path && strcmp(out->upsampler, self_path) == 0) {
            free(out->upsampler);   // the file given is that upsampler itself (inspected alone)
            out->upsampler = NULL;
        }
        free(self_path);
    }
    if (st == KE_STATUS_OK && third) {
        // given: a folder holding text_encoder/ (PixArt-alpha's), the encoder's folder, or a weights file
        char * sub = join(third, "text_encoder");
        if (sub && is_dir(sub)) {
            out->text_encoder = sub;
        } else {
            free(sub);
            out->text_encoder = strdup(third);
        }
        if (!out->text_encoder) {
            st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
        }
    } else if (st == KE_STATUS_OK && dir) {
        out->text_encoder = text_encoder_find(dir);
    }
    if (st == KE_STATUS_OK && out->text_encoder) {
        out->tokenizer = tokenizer_find(out->text_encoder);
    }
    free(dir);
    if (st != KE_STATUS_OK) {
        ke_ltx_files_clear(out);
    }
    return st;
}

// --- rules ------------------------------------------------------------------------------------------

static void add_preset(struct ke_model_caps * c, const char * name, int w, int h, int n_frames, double fps)
{
    if (c->n_presets >= KE_MODEL_MAX_PRESETS) {
        return;
    }
    struct ke_model_preset * p = &c->presets[c->n_presets++];
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->width = w;
    p->height = h;
    p->n_frames = n_frames;
    p->fps = fps;
}

static void finish(struct ke_model_caps * c)
{
    c->max_side = KE_MAX_SIDE / c->size_multiple * c->size_multiple;
    c->max_frames = (KE_MAX_FRAMES - 1) / c->frame_step * c->frame_step + 1;
}

static void caps_wan(struct ke_model_caps * c, const char * path, const struct ke_model_info * info)
{
    enum ke_task task = KE_TASK_TI2V_5B;
    if (strstr(info->version, "T2V-A14B")) {
        task = KE_TASK_T2V_A14B;
    } else if (strstr(info->version, "I2V-A14B")) {
        task = KE_TASK_I2V_A14B;
    }
    const struct ke_task_info * ti = ke_task_info(task);
    const struct ke_gen_params d = ke_gen_params_default(task);
    c->family = KE_MODEL_FAMILY_WAN22;
    snprintf(c->version, sizeof(c->version), "%s", info->version);
    c->tiny = strcmp(path, "tiny") == 0;
    c->frame_step = ti->stride_t;
    c->size_multiple = ti->stride_h * ti->patch;
    c->image_sets_aspect = task != KE_TASK_T2V_A14B;
    c->takes_image = task != KE_TASK_T2V_A14B;
    c->needs_image = task == KE_TASK_I2V_A14B;
    c->latent_channels = ti->z_dim;
    c->vae_scale = ti->stride_h;
    c->vae_time_scale = ti->stride_t;
    c->guidance = d.guide;
    c->two_experts = task != KE_TASK_TI2V_5B;
    c->steps = d.steps;
    c->has_shift = c->has_solver = c->uses_negative_prompt = true;
    c->takes_loras = c->takes_step_cache = c->takes_taehv = true;
    c->width = d.width;
    c->height = d.height;
    c->n_frames = d.n_frames;
    c->fps = d.fps;
    if (c->tiny) {
        // ke_model_params_default of the tiny model
        c->width = c->height = 256;
        c->n_frames = 17;
        c->steps = 8;
        add_preset(c, "small", 256, 256, 17, d.fps);
    } else {
        static const char * const names[] = { "official", "portrait", "official-480p", "portrait-480p" };
        for (int i = 0; i < ti->n_sizes && i < 4; i++) {
            add_preset(c, names[i], ti->sizes[i][0], ti->sizes[i][1], d.n_frames, d.fps);
        }
    }
}

// The VAE's compression from its config (ltx-vae.c computes the same when it loads).
static void ltx_vae_scales(const char * vae_cfg, int * s_scale, int * t_scale, int * latent_channels)
{
    struct ke_ltx_vae_config vc;
    *s_scale = 32;
    *t_scale = 8;
    if (ke_ltx_vae_config_parse(&vc, vae_cfg ? vae_cfg : ke_ltx_vae_13b_config, "vae config", NULL) != KE_STATUS_OK) {
        return;
    }
    int s = vc.patch_size, t = 1;
    for (int i = 0; i < vc.n_enc; i++) {
        enum ke_ltx_block k = vc.enc[i].kind;
        t *= k == KE_LTX_COMPRESS_TIME || k == KE_LTX_COMPRESS_ALL ? 2 : 1;
        s *= k == KE_LTX_COMPRESS_SPACE || k == KE_LTX_COMPRESS_ALL ? 2 : 1;
    }
    if (s > 0 && t > 0) {
        *s_scale = s;
        *t_scale = t;
    }
    if (vae_cfg && vc.latent_channels > 0) {
        *latent_channels = vc.latent_channels;
    }
}

static int json_int_of(const char * text, const char * key, int def)
{
    json_object * o = text ? json_tokener_parse(text) : NULL;
    json_object * v = NULL;
    int r = o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int) ?
            (int) json_object_get_int64(v) : def;
    json_object_put(o);
    return r;
}

// The files of an LTX-Video path "FIRST[,SECOND[,THIRD]]" (ke_ltx_files_find).
static enum ke_status files_of(const char * path, struct ke_ltx_files * f, struct ke_error * err)
{
    char * item[3] = { NULL, NULL, NULL };
    const char * p = path;
    enum ke_status st = KE_STATUS_OK;
    for (int i = 0; i < 3 && p && st == KE_STATUS_OK; i++) {
        const char * e = strchr(p, ',');
        size_t len = e ? (size_t) (e - p) : strlen(p);
        if ((item[i] = malloc(len + 1)) == NULL) {
            st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
            break;
        }
        memcpy(item[i], p, len);
        item[i][len] = 0;
        p = e ? e + 1 : NULL;
    }
    if (st == KE_STATUS_OK) {
        st = ke_ltx_files_find(f, item[0], item[1], item[2], err);
    }
    for (int i = 0; i < 3; i++) {
        free(item[i]);
    }
    return st;
}

enum ke_status ke_model_resolve_path(const char * path, char * out, size_t out_size, struct ke_error * err)
{
    if (!path || !out || out_size == 0) {
        return ke_err(err, KE_STATUS_INVALID, "model path: no path or output given");
    }
    int n;
    if (strcmp(path, "tiny") != 0 && ke_model_family_detect(path) == KE_MODEL_FAMILY_LTXV) {
        struct ke_ltx_files f;
        enum ke_status st = files_of(path, &f, err);
        if (st != KE_STATUS_OK) {
            return st;
        }
        // the T5 item only after an upsampler (the list is positional)
        n = snprintf(out, out_size, "%s%s%s%s%s", f.checkpoint, f.upsampler ? "," : "", f.upsampler ? f.upsampler : "",
                     f.upsampler && f.text_encoder ? "," : "", f.upsampler && f.text_encoder ? f.text_encoder : "");
        ke_ltx_files_clear(&f);
    } else {
        n = snprintf(out, out_size, "%s", path);
    }
    if (n < 0 || (size_t) n >= out_size) {
        return ke_err(err, KE_STATUS_INVALID, "%s: the model path is longer than %zu bytes", path, out_size - 1);
    }
    return KE_STATUS_OK;
}

static void sum_set(const struct ke_tensor_set * s, double * bytes, double * params)
{
    *bytes = *params = 0;
    for (int i = 0; s && i < ke_tset_count(s); i++) {
        *bytes += (double) ke_tensor_nbytes(ke_tset_at(s, i));
        *params += (double) ke_tensor_nelements(ke_tset_at(s, i));
    }
}

// T5 v1.1 XXL's encoder when no file is at hand: 24 layers of attention (4 of 4096x4096) and a gated FF
// (3 of 4096x10240), and the 32128-row embedding; counted in bf16.
#define T5XXL_PARAMS (24.0 * (4.0 * 4096 * 4096 + 3.0 * 4096 * 10240) + 32128.0 * 4096)

// The sizes the estimate needs (caps->est): tensors as stored, the configs' widths and the decoder's levels.
static void describe_sizes(struct ke_model_caps * c, const struct ke_ltx_checkpoint * ck, const char * text_encoder)
{
    const char * tcfg = ck->config[KE_LTX_PART_TRANSFORMER];
    c->est.num_layers = json_int_of(tcfg, "num_layers", 0);
    c->est.inner_dim = json_int_of(tcfg, "num_attention_heads", 0) * json_int_of(tcfg, "attention_head_dim", 0);
    c->est.text_dim = json_int_of(tcfg, "caption_channels", 4096);
    const struct ke_tensor * ff = ck->part[KE_LTX_PART_TRANSFORMER] ?
                                  ke_tset_get(ck->part[KE_LTX_PART_TRANSFORMER], "transformer_blocks.0.ff.net.0.proj.weight") : NULL;
    c->est.ffn_dim = ff && ff->n_dims == 2 ? (int) ff->ne[1] : 4 * c->est.inner_dim;
    c->est.text_tokens = KE_T5XXL_MAX_TOKENS;
    sum_set(ck->part[KE_LTX_PART_TRANSFORMER], &c->est.transformer_bytes, &c->est.transformer_params);
    sum_set(ck->part[KE_LTX_PART_VAE], &c->est.vae_bytes, &c->est.vae_params);
    sum_set(ck->part[KE_LTX_PART_UPSAMPLER], &c->est.upsampler_bytes, &c->est.upsampler_params);
    struct ke_ltx_vae_config vc;
    if (ke_ltx_vae_config_parse(&vc, ck->config[KE_LTX_PART_VAE] ? ck->config[KE_LTX_PART_VAE] : ke_ltx_vae_13b_config,
                                "vae config", NULL) == KE_STATUS_OK) {
        ke_ltx_vae_levels(&vc, &c->est.vae_top_channels, &c->est.vae_levels);
    }
    c->est.upsampler_mid_channels = json_int_of(ck->config[KE_LTX_PART_UPSAMPLER], "mid_channels", 512);
    struct ke_tensor_set * t5 = NULL;
    if (text_encoder && ke_weights_open(&t5, text_encoder, NULL) == KE_STATUS_OK) {
        sum_set(t5, &c->est.text_bytes, &c->est.text_params);
        c->est.text_counted = true;
    } else {
        c->est.text_params = T5XXL_PARAMS;
        c->est.text_bytes = 2.0 * T5XXL_PARAMS;
    }
    ke_tset_free(t5);
}

static enum ke_status caps_ltx(struct ke_model_caps * c, const char * path, const struct ke_model_info * info,
                               struct ke_error * err)
{
    // the checkpoint itself (the probe accepted it), its upsampler and text encoder
    struct ke_ltx_files f;
    enum ke_status st = files_of(path, &f, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    struct ke_ltx_checkpoint * ck = NULL;
    st = ke_ltx_checkpoint_open(&ck, f.checkpoint, f.upsampler, KE_LTX_OPEN_UPSAMPLER_ALONE, err);
    if (st == KE_STATUS_OK) {
        describe_sizes(c, ck, f.text_encoder);
    }
    ke_ltx_files_clear(&f);
    if (st != KE_STATUS_OK) {
        return st;
    }
    c->family = KE_MODEL_FAMILY_LTXV;
    snprintf(c->version, sizeof(c->version), "%s", info->version);
    const char * transformer = ck->config[KE_LTX_PART_TRANSFORMER];
    int latent = json_int_of(transformer, "in_channels", 128);
    ltx_vae_scales(ck->config[KE_LTX_PART_VAE], &c->vae_scale, &c->vae_time_scale, &latent);
    c->latent_channels = latent;
    c->tiny = ck->layout != KE_LTX_LAYOUT_UPSAMPLER && ck->size_b == 0;
    const bool distilled = ck->distilled;
    ke_ltx_checkpoint_free(ck);

    // the transformer's patch is 1x1x1: one latent pixel per VAE block
    c->frame_step = c->vae_time_scale;
    c->size_multiple = c->vae_scale;
    c->image_sets_aspect = false;      // the conditioning image is resized and cropped to the output size
    c->takes_image = true;
    c->needs_image = false;
    c->two_experts = false;
    c->has_shift = false;              // the timesteps are the config's (distilled) or the checkpoint's
    c->has_solver = false;             // the rectified-flow scheduler only
    c->guidance_fixed = distilled;
    c->guidance = distilled ? 1.0f : 3.0f;
    c->steps_fixed = distilled;
    c->steps = distilled ? LTX_DISTILLED_STEPS : 40;
    // the multi-scale flow: first pass at 2/3 of the size (the configs' downscale_factor 0.6666666), then
    // at twice that after the latent upsampler
    c->est.first_pass_scale = 0.6666666;
    c->est.first_steps = distilled ? 7 : 30;
    c->est.second_steps = distilled ? 3 : 10;
    c->uses_negative_prompt = !distilled;   // guidance 1: no unconditional pass
    // LoRAs, step caching and TAEHV are Wan2.2's (their keys, coefficients and latent widths)
    c->takes_loras = c->takes_step_cache = c->takes_taehv = false;
    c->fps = 30;
    if (c->tiny) {
        // a random-weight test model: small enough to run in seconds (first pass at 2/3, then x2)
        c->width = c->height = 3 * c->size_multiple;
        c->n_frames = c->frame_step + 1;
        add_preset(c, "small", c->width, c->height, c->n_frames, c->fps);
        add_preset(c, "wide", 4 * c->size_multiple, 2 * c->size_multiple, c->n_frames, c->fps);
    } else {
        c->width = 1216;
        c->height = 704;
        c->n_frames = 121;
        add_preset(c, "official", 1216, 704, 121, 30);
        add_preset(c, "portrait", 704, 1216, 121, 30);
        add_preset(c, "fast", 768, 512, 97, 30);
    }
    return KE_STATUS_OK;
}

enum ke_status ke_model_caps(const char * path, struct ke_model_caps * out, struct ke_error * err)
{
    if (!out) {
        return ke_err(err, KE_STATUS_INVALID, "model capabilities: no output given");
    }
    memset(out, 0, sizeof(*out));
    struct ke_model_info * info = calloc(1, sizeof(*info));
    if (!info) {
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    enum ke_status st = ke_model_probe(path, info, err);
    if (st == KE_STATUS_OK) {
        if (info->family == KE_MODEL_FAMILY_LTXV) {
            st = caps_ltx(out, path, info, err);
        } else {
            caps_wan(out, path, info);
        }
    }
    free(info);
    if (st != KE_STATUS_OK) {
        memset(out, 0, sizeof(*out));
        out->family = KE_MODEL_FAMILY_UNKNOWN;
        return st;
    }
    finish(out);
    return KE_STATUS_OK;
}

// --- checks -----------------------------------------------------------------------------------------

int ke_model_caps_snap_frames(const struct ke_model_caps * c, int n_frames)
{
    const int s = c && c->frame_step > 0 ? c->frame_step : 4;
    const int max = c && c->max_frames > 0 ? c->max_frames : KE_MAX_FRAMES;
    if (n_frames <= 1) {
        return 1;
    }
    int k = (n_frames - 1 + s / 2) / s;
    int r = k * s + 1;
    return r > max ? max : r;
}

int ke_model_caps_snap_side(const struct ke_model_caps * c, int v)
{
    const int m = c && c->size_multiple > 0 ? c->size_multiple : 16;
    const int max = c && c->max_side > 0 ? c->max_side : KE_MAX_SIDE;
    int r = (v + m / 2) / m * m;
    return r < m ? m : r > max ? max : r;
}

const struct ke_model_preset * ke_model_caps_preset(const struct ke_model_caps * c, const char * name)
{
    for (int i = 0; c && name && i < c->n_presets; i++) {
        if (strcmp(c->presets[i].name, name) == 0) {
            return &c->presets[i];
        }
    }
    return NULL;
}

// "v" when allowed, else the multiples of m around it
static void side_choices(char * buf, size_t n, int v, int lower, int m)
{
    if (v % m == 0 && v >= m) {
        snprintf(buf, n, "%d", v);
    } else if (lower >= m) {
        snprintf(buf, n, "%d or %d", lower, lower + m);
    } else {
        snprintf(buf, n, "%d", m);
    }
}

enum ke_status ke_model_caps_check(const struct ke_model_caps * c, int width, int height, int n_frames,
                                   bool with_image, struct ke_error * err)
{
    if (!c || c->frame_step < 1 || c->size_multiple < 1) {
        return ke_err(err, KE_STATUS_INVALID, "model capabilities missing");
    }
    const char * fam = ke_model_family_name(c->family);
    const int s = c->frame_step;
    if (n_frames < 1 || n_frames > c->max_frames || (n_frames - 1) % s != 0) {
        int lo = n_frames < 1 ? 1 : (n_frames - 1) / s * s + 1;
        if (lo > c->max_frames) {
            lo = c->max_frames;
        }
        const int hi = lo + s;
        if (n_frames < 1 || n_frames > c->max_frames || hi > c->max_frames) {
            return ke_err(err, KE_STATUS_INVALID, "%s needs a frame count of %dn+1 between 1 and %d: %d is not "
                          "allowed (the nearest is %d)", fam, s, c->max_frames, n_frames,
                          ke_model_caps_snap_frames(c, n_frames));
        }
        return ke_err(err, KE_STATUS_INVALID, "%s needs a frame count of %dn+1: %d or %d (not %d)", fam, s, lo, hi,
                      n_frames);
    }
    const int m = c->size_multiple;
    if (width < 1 || height < 1 || width > c->max_side || height > c->max_side) {
        return ke_err(err, KE_STATUS_INVALID, "%s: size %dx%d is not allowed: each side %d..%d", fam, width, height,
                      m, c->max_side);
    }
    if (with_image && c->image_sets_aspect) {
        // the size is an area; the engine rounds the image's aspect into it
        if (width < m || height < m) {
            return ke_err(err, KE_STATUS_INVALID, "%s: size %dx%d is not allowed with an image: each side at least "
                          "%d (the size is the area)", fam, width, height, m);
        }
        return KE_STATUS_OK;
    }
    if (width % m != 0 || height % m != 0 || width < m || height < m) {
        const int wl = width / m * m, hl = height / m * m;
        char wa[48], ha[48];
        side_choices(wa, sizeof(wa), width, wl, m);
        side_choices(ha, sizeof(ha), height, hl, m);
        return ke_err(err, KE_STATUS_INVALID, "%s needs width and height in multiples of %d: %dx%d is not allowed "
                      "(width %s, height %s)", fam, m, width, height, wa, ha);
    }
    return KE_STATUS_OK;
}
