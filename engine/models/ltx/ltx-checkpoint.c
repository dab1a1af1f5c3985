// Kinora engine: opening LTX-Video checkpoints (ltx_video @ 5260738: inference.py create_ltx_video_pipeline,
// Transformer3DModel.load_state_dict strips `model.diffusion_model.`, CausalVideoAutoencoder.load_state_dict
// strips `vae.`, LatentUpsampler.from_pretrained reads its own `config`). Files stay mmapped, zero-copy.
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "core/error.h"
#include "core/file.h"
#include "loaders/loaders.h"
#include "models/ltx/ltx-checkpoint.h"

#define PREFIX_DIT "model.diffusion_model."
#define PREFIX_VAE "vae."
#define LTX_MAX_JSON (1u << 20)

const char * ke_ltx_part_name(enum ke_ltx_part p)
{
    static const char * const n[] = { "transformer", "vae", "upsampler" };
    return p >= 0 && p < KE_LTX_N_PARTS ? n[p] : "unknown";
}

const char * ke_ltx_layout_name(enum ke_ltx_layout l)
{
    static const char * const n[] = { "single file", "gguf", "diffusers", "upsampler" };
    return l >= 0 && l <= KE_LTX_LAYOUT_UPSAMPLER ? n[l] : "unknown";
}

void ke_ltx_checkpoint_free(struct ke_ltx_checkpoint * c)
{
    if (!c) {
        return;
    }
    for (int i = 0; i < KE_LTX_N_PARTS; i++) {
        ke_tset_free(c->part[i]);
        free(c->config[i]);
        free(c->path[i]);
    }
    for (int i = 0; i < c->n_files; i++) {
        ke_tset_free(c->files[i]);
    }
    free(c->scheduler_config);
    free(c->allowed_inference_steps);
    free(c->text_encoder_path);
    free(c->tokenizer_path);
    free(c);
}

static enum ke_status keep_file(struct ke_ltx_checkpoint * c, struct ke_tensor_set * s, struct ke_error * err)
{
    if (c->n_files >= (int) (sizeof(c->files) / sizeof(c->files[0]))) {
        ke_tset_free(s);
        return ke_err(err, KE_STATUS_ERROR, "too many files in one LTX-Video checkpoint");
    }
    c->files[c->n_files++] = s;
    return KE_STATUS_OK;
}

// Add a borrowed view of t under `name` to dst (the data stays in the owning file's mapping).
static enum ke_status add_view(struct ke_tensor_set * dst, const char * name, const struct ke_tensor * t,
                               struct ke_error * err)
{
    int64_t shape[KE_MAX_DIMS];
    for (int d = 0; d < t->n_dims; d++) {
        shape[d] = t->ne[t->n_dims - 1 - d];
    }
    struct ke_tensor * n = ke_tset_add(dst, name, t->type, t->n_dims, shape, t->data, err);
    if (!n) {
        return err ? err->code : KE_STATUS_ERROR;
    }
    n->scale = t->scale;
    return KE_STATUS_OK;
}

static enum ke_status new_part(struct ke_ltx_checkpoint * c, enum ke_ltx_part p, const char * path,
                               struct ke_error * err)
{
    c->part[p] = ke_tset_new(path);
    c->path[p] = strdup(path);
    if (!c->part[p] || !c->path[p]) {
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
    }
    return KE_STATUS_OK;
}

static bool has_suffix(const char * s, const char * suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

// ComfyUI fp8 scaled files: `<layer>.scale_weight` (one fp32 value) multiplies `<layer>.weight`;
// `<layer>.scale_input` is an activation scale the engine does not use. Both leave the set.
static enum ke_status fold_fp8_scales(struct ke_tensor_set ** ps, const char * path, struct ke_error * err)
{
    struct ke_tensor_set * s = *ps;
    bool any = false;
    for (int i = 0; i < ke_tset_count(s) && !any; i++) {
        const char * n = ke_tset_at(s, i)->name;
        any = has_suffix(n, ".scale_weight") || has_suffix(n, ".scale_input");
    }
    if (!any) {
        return KE_STATUS_OK;
    }
    struct ke_tensor_set * d = ke_tset_new(path);
    if (!d) {
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
    }
    enum ke_status st = KE_STATUS_OK;
    for (int i = 0; i < ke_tset_count(s) && st == KE_STATUS_OK; i++) {
        const struct ke_tensor * t = ke_tset_at(s, i);
        if (has_suffix(t->name, ".scale_weight") || has_suffix(t->name, ".scale_input")) {
            continue;
        }
        st = add_view(d, t->name, t, err);
    }
    char wn[600];
    for (int i = 0; i < ke_tset_count(s) && st == KE_STATUS_OK; i++) {
        const struct ke_tensor * t = ke_tset_at(s, i);
        if (!has_suffix(t->name, ".scale_weight")) {
            continue;
        }
        snprintf(wn, sizeof(wn), "%.*sweight", (int) (strlen(t->name) - strlen("scale_weight")), t->name);
        struct ke_tensor * w = ke_tset_get(d, wn);
        if (!w) {
            st = ke_err(err, KE_STATUS_MISSING, "%s: tensor '%s' scales '%s', which the file does not hold", path,
                        t->name, wn);
        } else if (ke_tensor_nelements(t) != 1 || (t->type != KE_DTYPE_F32 && t->type != KE_DTYPE_F16 &&
                                                   t->type != KE_DTYPE_BF16)) {
            char sh[64];
            st = ke_err(err, KE_STATUS_SHAPE, "%s: tensor '%s' is %s %s (one float value expected)", path, t->name,
                        ke_dtype_name(t->type), ke_tensor_shape_str(t, sh, sizeof(sh)));
        } else if (w->type != KE_DTYPE_F8_E4M3) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: tensor '%s' scales '%s', which is %s (F8_E4M3 expected)", path,
                        t->name, wn, ke_dtype_name(w->type));
        } else {
            float v;
            ke_convert_to_f32(&v, t->data, t->type, 1.0f, 1);
            w->scale = v;
        }
    }
    if (st != KE_STATUS_OK) {
        ke_tset_free(d);
        return st;
    }
    ke_tset_free(s);
    *ps = d;
    return KE_STATUS_OK;
}

// --- checks of the parts --------------------------------------------------------------------------

static enum ke_status need(const struct ke_tensor_set * s, const char * pfx, const char * name, int nd,
                           const int64_t * shape, struct ke_error * err)
{
    if (ke_tset_require(s, name, nd, shape, err)) {
        return KE_STATUS_OK;
    }
    // the set's names are the official ones; say which key of the file was looked for
    if (err && pfx && *pfx) {
        size_t l = strlen(err->msg);
        snprintf(err->msg + l, sizeof(err->msg) - l, " (key '%s%s' in the file)", pfx, name);
    }
    return err ? err->code : KE_STATUS_MISSING;
}

static int json_int(json_object * o, const char * key, int def)
{
    json_object * v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int) ?
           (int) json_object_get_int64(v) : def;
}

// Every tensor of the transformer the config asks for (the layer count both ways), so that an incomplete
// or mismatched file is refused when opened and not in the middle of a run.
static enum ke_status check_transformer(const struct ke_tensor_set * s, const char * cfg, const char * pfx,
                                        struct ke_error * err)
{
    json_object * c = json_tokener_parse(cfg);
    if (!c) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: the transformer config is not JSON", ke_tset_path(s));
    }
    const int64_t layers = json_int(c, "num_layers", 0);
    const int64_t inner = (int64_t) json_int(c, "num_attention_heads", 0) * json_int(c, "attention_head_dim", 0);
    const int64_t in_ch = json_int(c, "in_channels", 0), out_ch = json_int(c, "out_channels", (int) in_ch);
    const int64_t cap = json_int(c, "caption_channels", 0);
    const int64_t cross = json_int(c, "cross_attention_dim", (int) inner);
    json_object_put(c);
    enum ke_status st;
    const struct {
        const char * name;
        int nd;
        int64_t s[2];
    } top[] = {
        { "patchify_proj.weight", 2, { inner, in_ch } }, { "patchify_proj.bias", 1, { inner } },
        { "adaln_single.emb.timestep_embedder.linear_1.weight", 2, { inner, 256 } },
        { "adaln_single.linear.weight", 2, { 6 * inner, inner } },
        { "caption_projection.linear_1.weight", 2, { inner, cap } },
        { "caption_projection.linear_2.weight", 2, { inner, inner } },
        { "scale_shift_table", 2, { 2, inner } },
        { "proj_out.weight", 2, { out_ch, inner } }, { "proj_out.bias", 1, { out_ch } },
    };
    for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++) {
        if ((st = need(s, pfx, top[i].name, top[i].nd, top[i].s, err)) != KE_STATUS_OK) {
            return st;
        }
    }
    char n[160];
    for (int64_t b = 0; b < layers; b++) {
        const struct {
            const char * name;
            int nd;
            int64_t s[2];
        } blk[] = {
            { "attn1.to_q.weight", 2, { inner, inner } }, { "attn1.to_k.weight", 2, { inner, inner } },
            { "attn1.to_v.weight", 2, { inner, inner } }, { "attn1.to_out.0.weight", 2, { inner, inner } },
            { "attn1.q_norm.weight", 1, { inner } }, { "attn1.k_norm.weight", 1, { inner } },
            { "attn2.to_q.weight", 2, { inner, inner } }, { "attn2.to_k.weight", 2, { inner, cross } },
            { "attn2.to_v.weight", 2, { inner, cross } }, { "attn2.to_out.0.weight", 2, { inner, inner } },
            { "ff.net.0.proj.weight", 0, { 0, 0 } }, { "ff.net.2.weight", 0, { 0, 0 } },
            { "scale_shift_table", 0, { 0, 0 } },
        };
        for (size_t k = 0; k < sizeof(blk) / sizeof(blk[0]); k++) {
            snprintf(n, sizeof(n), "transformer_blocks.%lld.%s", (long long) b, blk[k].name);
            if ((st = need(s, pfx, n, blk[k].nd, blk[k].s, err)) != KE_STATUS_OK) {
                return st;
            }
        }
        // BasicTransformerBlock: 6 rows for adaptive_norm "single_scale_shift", 4 for "single_scale"
        snprintf(n, sizeof(n), "transformer_blocks.%lld.scale_shift_table", (long long) b);
        const struct ke_tensor * t = ke_tset_get(s, n);
        if (t->n_dims != 2 || t->ne[0] != inner || (t->ne[1] != 6 && t->ne[1] != 4)) {
            char sh[64];
            return ke_err(err, KE_STATUS_SHAPE, "%s: tensor '%s%s' has shape %s, expected [6, %lld] (or [4, %lld])",
                          ke_tset_path(s), pfx, n, ke_tensor_shape_str(t, sh, sizeof(sh)), (long long) inner,
                          (long long) inner);
        }
    }
    snprintf(n, sizeof(n), "transformer_blocks.%lld.scale_shift_table", (long long) layers);
    if (ke_tset_get(s, n)) {
        return ke_err(err, KE_STATUS_SHAPE, "%s: tensor '%s%s' exists, but the config says num_layers %lld (the "
                      "file and its config do not match)", ke_tset_path(s), pfx, n, (long long) layers);
    }
    return KE_STATUS_OK;
}

static enum ke_status check_vae(const struct ke_tensor_set * s, const char * cfg, const char * pfx,
                                struct ke_error * err)
{
    json_object * c = json_tokener_parse(cfg);
    if (!c) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: the VAE config is not JSON", ke_tset_path(s));
    }
    const int64_t lat = json_int(c, "latent_channels", 128);
    json_object_put(c);
    enum ke_status st;
    const int64_t one[1] = { lat };
    if ((st = need(s, pfx, "per_channel_statistics.mean-of-means", 1, one, err)) != KE_STATUS_OK ||
        (st = need(s, pfx, "per_channel_statistics.std-of-means", 1, one, err)) != KE_STATUS_OK ||
        (st = need(s, pfx, "encoder.conv_in.conv.weight", 0, NULL, err)) != KE_STATUS_OK ||
        (st = need(s, pfx, "decoder.conv_in.conv.weight", 0, NULL, err)) != KE_STATUS_OK ||
        (st = need(s, pfx, "decoder.conv_out.conv.weight", 0, NULL, err)) != KE_STATUS_OK) {
        return st;
    }
    const struct ke_tensor * ci = ke_tset_get(s, "decoder.conv_in.conv.weight");
    if (ci->n_dims != 5 || ci->ne[3] != lat) {
        char sh[64];
        return ke_err(err, KE_STATUS_SHAPE, "%s: tensor '%sdecoder.conv_in.conv.weight' has shape %s: a 3-D "
                      "convolution from latent_channels %lld expected", ke_tset_path(s), pfx,
                      ke_tensor_shape_str(ci, sh, sizeof(sh)), (long long) lat);
    }
    return KE_STATUS_OK;
}

static enum ke_status check_upsampler(const struct ke_tensor_set * s, const char * cfg, struct ke_error * err)
{
    json_object * c = json_tokener_parse(cfg);
    if (!c) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: the upsampler config is not JSON", ke_tset_path(s));
    }
    // LatentUpsampler.from_config defaults
    const int64_t in_ch = json_int(c, "in_channels", 4), mid = json_int(c, "mid_channels", 128);
    const int blocks = json_int(c, "num_blocks_per_stage", 4);
    json_object_put(c);
    enum ke_status st;
    const int64_t b1[1] = { mid };
    if ((st = need(s, "", "initial_conv.weight", 0, NULL, err)) != KE_STATUS_OK ||
        (st = need(s, "", "initial_conv.bias", 1, b1, err)) != KE_STATUS_OK ||
        (st = need(s, "", "upsampler.0.weight", 0, NULL, err)) != KE_STATUS_OK ||
        (st = need(s, "", "final_conv.weight", 0, NULL, err)) != KE_STATUS_OK) {
        return st;
    }
    const struct ke_tensor * ic = ke_tset_get(s, "initial_conv.weight");
    if (ic->n_dims < 4 || ic->ne[ic->n_dims - 1] != mid || ic->ne[ic->n_dims - 2] != in_ch) {
        char sh[64];
        return ke_err(err, KE_STATUS_SHAPE, "%s: tensor 'initial_conv.weight' has shape %s: [%lld, %lld, k, ...] "
                      "expected from the config", ke_tset_path(s), ke_tensor_shape_str(ic, sh, sizeof(sh)),
                      (long long) mid, (long long) in_ch);
    }
    char n[96];
    for (int b = 0; b < blocks; b++) {
        snprintf(n, sizeof(n), "res_blocks.%d.conv1.weight", b);
        if ((st = need(s, "", n, 0, NULL, err)) != KE_STATUS_OK) {
            return st;
        }
        snprintf(n, sizeof(n), "post_upsample_res_blocks.%d.conv1.weight", b);
        if ((st = need(s, "", n, 0, NULL, err)) != KE_STATUS_OK) {
            return st;
        }
    }
    return KE_STATUS_OK;
}

// A Wan file (official, ComfyUI or GGUF names) given where LTX-Video is expected: say so.
static const char * wan_tensor(const struct ke_tensor_set * s)
{
    static const char * const wan[] = { "head.modulation", "patch_embedding.weight", "blocks.0.self_attn.q.weight",
                                        "model.diffusion_model.head.modulation", "decoder.head.2.weight",
                                        "encoder.conv1.weight", "token_embedding.weight", NULL };
    for (int i = 0; wan[i]; i++) {
        if (ke_tset_get(s, wan[i])) {
            return wan[i];
        }
    }
    return NULL;
}

// --- the release from the file name ---------------------------------------------------------------

static void version_from_name(struct ke_ltx_checkpoint * c, const char * path)
{
    const char * base = strrchr(path, '/');
    base = base ? base + 1 : path;
    // ltxv-13b-0.9.7-distilled.safetensors, ltx-video-2b-v0.9.1.safetensors
    const char * v = strstr(base, "0.9.");
    if (v) {
        size_t n = 4;
        while (isdigit((unsigned char) v[n]) && n < 8) {
            n++;
        }
        if (n > 4) {
            snprintf(c->release, sizeof(c->release), "%.*s", (int) n, v);
        }
    }
    if (strstr(base, "distilled")) {
        c->distilled = true;
    }
}

static void finish_info(struct ke_ltx_checkpoint * c)
{
    const struct ke_tensor_set * t = c->part[KE_LTX_PART_TRANSFORMER];
    if (!t) {
        return;
    }
    const struct ke_tensor * p = ke_tset_get(t, "patchify_proj.weight");
    if (p && p->n_dims == 2) {
        c->size_b = ke_ltx_size_class((int) p->ne[1]);
    }
    for (int i = 0; i < ke_tset_count(t); i++) {
        if (ke_tset_at(t, i)->type == KE_DTYPE_F8_E4M3) {
            c->fp8 = true;
            break;
        }
    }
    if (c->allowed_inference_steps) {
        c->distilled = true;
    }
}

// --- the single file ------------------------------------------------------------------------------

static enum ke_status open_single(struct ke_ltx_checkpoint * c, const char * path, struct ke_error * err)
{
    struct ke_tensor_set * s = NULL;
    enum ke_status st = ke_safetensors_open_file(&s, path, err);
    if (st != KE_STATUS_OK || (st = keep_file(c, s, err)) != KE_STATUS_OK) {
        return st;
    }
    const char * text = ke_tset_meta(s, "config");
    if (!text) {
        const char * w = wan_tensor(s);
        if (w) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: a Wan2.2 file (tensor '%s'), not an LTX-Video checkpoint", path, w);
        }
        return ke_err(err, KE_STATUS_MISSING, "%s: no 'config' metadata (an LTX-Video checkpoint carries its config "
                      "JSON in the safetensors metadata key 'config'; first tensor '%s')", path,
                      ke_tset_count(s) ? ke_tset_at(s, 0)->name : "(none)");
    }
    struct ke_ltx_config cfg;
    if ((st = ke_ltx_config_parse(&cfg, text, path, err)) != KE_STATUS_OK) {
        return st;
    }
    if (cfg.kind == KE_LTX_CONFIG_UPSAMPLER) {
        ke_ltx_config_clear(&cfg);
        return ke_err(err, KE_STATUS_INVALID, "%s: the LTX-Video latent upsampler (config _class_name "
                      "\"LatentUpsampler\", tensor 'initial_conv.weight'), not a model checkpoint: give it as the "
                      "upsampler", path);
    }
    // split by prefix, as the official load_state_dict overrides do
    int n_dit = 0, n_vae = 0;
    for (int i = 0; i < ke_tset_count(s); i++) {
        const char * n = ke_tset_at(s, i)->name;
        n_dit += strncmp(n, PREFIX_DIT, strlen(PREFIX_DIT)) == 0;
        n_vae += strncmp(n, PREFIX_VAE, strlen(PREFIX_VAE)) == 0;
    }
    // a transformer saved without the prefix: Transformer3DModel.load_state_dict takes the keys as they are
    const bool bare = n_dit == 0 && cfg.transformer && ke_tset_get(s, "patchify_proj.weight");
    if (cfg.transformer || n_dit > 0) {
        st = new_part(c, KE_LTX_PART_TRANSFORMER, path, err);
    }
    if (st == KE_STATUS_OK && (cfg.vae || n_vae > 0)) {
        st = new_part(c, KE_LTX_PART_VAE, path, err);
    }
    for (int i = 0; i < ke_tset_count(s) && st == KE_STATUS_OK; i++) {
        const struct ke_tensor * t = ke_tset_at(s, i);
        if (strncmp(t->name, PREFIX_DIT, strlen(PREFIX_DIT)) == 0) {
            st = add_view(c->part[KE_LTX_PART_TRANSFORMER], t->name + strlen(PREFIX_DIT), t, err);
        } else if (strncmp(t->name, PREFIX_VAE, strlen(PREFIX_VAE)) == 0) {
            st = add_view(c->part[KE_LTX_PART_VAE], t->name + strlen(PREFIX_VAE), t, err);
        } else if (bare) {
            st = add_view(c->part[KE_LTX_PART_TRANSFORMER], t->name, t, err);
        }
    }
    c->scheduler_config = cfg.scheduler;
    c->allowed_inference_steps = cfg.allowed_inference_steps;
    cfg.scheduler = cfg.allowed_inference_steps = NULL;
    c->config[KE_LTX_PART_TRANSFORMER] = cfg.transformer;
    c->config[KE_LTX_PART_VAE] = cfg.vae;
    cfg.transformer = cfg.vae = NULL;
    ke_ltx_config_clear(&cfg);
    if (st != KE_STATUS_OK) {
        return st;
    }
    struct ke_tensor_set * tr = c->part[KE_LTX_PART_TRANSFORMER];
    if (!tr || ke_tset_count(tr) == 0) {
        if (c->part[KE_LTX_PART_VAE] && ke_tset_count(c->part[KE_LTX_PART_VAE]) > 0) {
            return ke_err(err, KE_STATUS_MISSING, "%s: holds only the LTX-Video VAE (tensor '%s%s'), no transformer "
                          "(no '" PREFIX_DIT "*' tensors such as '" PREFIX_DIT "patchify_proj.weight')", path,
                          PREFIX_VAE, ke_tset_at(c->part[KE_LTX_PART_VAE], 0)->name);
        }
        return ke_err(err, KE_STATUS_MISSING, "%s: no transformer tensors (tensor '" PREFIX_DIT
                      "patchify_proj.weight' is missing)", path);
    }
    if (!c->config[KE_LTX_PART_TRANSFORMER]) {
        return ke_err(err, KE_STATUS_MISSING, "%s: tensor '" PREFIX_DIT "%s' and others, but metadata 'config' has no "
                      "'transformer' section", path, ke_tset_at(tr, 0)->name);
    }
    if ((st = fold_fp8_scales(&c->part[KE_LTX_PART_TRANSFORMER], path, err)) != KE_STATUS_OK ||
        (st = check_transformer(c->part[KE_LTX_PART_TRANSFORMER], c->config[KE_LTX_PART_TRANSFORMER],
                                bare ? "" : PREFIX_DIT, err)) != KE_STATUS_OK) {
        return st;
    }
    struct ke_tensor_set * va = c->part[KE_LTX_PART_VAE];
    if (va && !c->config[KE_LTX_PART_VAE]) {
        return ke_err(err, KE_STATUS_MISSING, "%s: tensor '" PREFIX_VAE "%s' and others, but metadata 'config' has no "
                      "'vae' section", path, ke_tset_count(va) ? ke_tset_at(va, 0)->name : "");
    }
    if (va && (st = check_vae(va, c->config[KE_LTX_PART_VAE], PREFIX_VAE, err)) != KE_STATUS_OK) {
        return st;
    }
    c->layout = KE_LTX_LAYOUT_SINGLE_FILE;
    version_from_name(c, path);
    return KE_STATUS_OK;
}

// --- the spatial upsampler file --------------------------------------------------------------------

static enum ke_status open_upsampler(struct ke_ltx_checkpoint * c, const char * path, struct ke_error * err)
{
    struct ke_tensor_set * s = NULL;
    enum ke_status st = ke_safetensors_open_file(&s, path, err);
    if (st != KE_STATUS_OK || (st = keep_file(c, s, err)) != KE_STATUS_OK) {
        return st;
    }
    struct ke_ltx_config cfg;
    const char * text = ke_tset_meta(s, "config");
    if (!text) {
        return ke_err(err, KE_STATUS_MISSING, "%s: no 'config' metadata: not the LTX-Video latent upsampler "
                      "(its file carries the LatentUpsampler config; first tensor '%s')", path,
                      ke_tset_count(s) ? ke_tset_at(s, 0)->name : "(none)");
    }
    if ((st = ke_ltx_config_parse(&cfg, text, path, err)) != KE_STATUS_OK) {
        return st;
    }
    if (cfg.kind != KE_LTX_CONFIG_UPSAMPLER) {
        ke_ltx_config_clear(&cfg);
        return ke_err(err, KE_STATUS_INVALID, "%s: an LTX-Video model checkpoint (tensor '%s'), not the latent "
                      "upsampler (config _class_name \"LatentUpsampler\")", path,
                      ke_tset_count(s) ? ke_tset_at(s, 0)->name : "(none)");
    }
    c->config[KE_LTX_PART_UPSAMPLER] = cfg.upsampler;
    cfg.upsampler = NULL;
    ke_ltx_config_clear(&cfg);
    if ((st = new_part(c, KE_LTX_PART_UPSAMPLER, path, err)) != KE_STATUS_OK) {
        return st;
    }
    for (int i = 0; i < ke_tset_count(s) && st == KE_STATUS_OK; i++) {
        st = add_view(c->part[KE_LTX_PART_UPSAMPLER], ke_tset_at(s, i)->name, ke_tset_at(s, i), err);
    }
    if (st != KE_STATUS_OK) {
        return st;
    }
    return check_upsampler(c->part[KE_LTX_PART_UPSAMPLER], c->config[KE_LTX_PART_UPSAMPLER], err);
}

// --- GGUF (ComfyUI-GGUF: the transformer alone, architecture "ltxv", official names) ----------------

// The official config rebuilt from the transformer's shapes (files without a config: GGUF).
static enum ke_status config_from_shapes(struct ke_ltx_checkpoint * c, const char * path, struct ke_error * err)
{
    const struct ke_tensor_set * s = c->part[KE_LTX_PART_TRANSFORMER];
    const struct ke_tensor * pp = ke_tset_get(s, "patchify_proj.weight");
    const struct ke_tensor * po = ke_tset_get(s, "proj_out.weight");
    const struct ke_tensor * cp = ke_tset_get(s, "caption_projection.linear_1.weight");
    const char * miss = !pp ? "patchify_proj.weight" : !po ? "proj_out.weight" : !cp ?
                        "caption_projection.linear_1.weight" : NULL;
    if (miss) {
        return ke_err(err, KE_STATUS_MISSING, "%s: tensor '%s' is missing (an LTX-Video transformer has it)", path, miss);
    }
    if (pp->n_dims != 2 || po->n_dims != 2 || cp->n_dims != 2 || pp->ne[1] % 32 != 0 || pp->ne[1] > (1 << 20)) {
        char sh[64];
        return ke_err(err, KE_STATUS_SHAPE, "%s: tensor 'patchify_proj.weight' has shape %s: [inner_dim (a multiple of "
                      "32 heads), in_channels] expected", path, ke_tensor_shape_str(pp, sh, sizeof(sh)));
    }
    int layers = 0;
    char n[96];
    for (;; layers++) {
        snprintf(n, sizeof(n), "transformer_blocks.%d.scale_shift_table", layers);
        if (!ke_tset_get(s, n) || layers > 4096) {
            break;
        }
    }
    const int inner = (int) pp->ne[1];
    c->config[KE_LTX_PART_TRANSFORMER] = ke_ltx_transformer_config_make(layers, 32, inner / 32, (int) pp->ne[0],
                                                                        (int) po->ne[1], (int) cp->ne[0]);
    return c->config[KE_LTX_PART_TRANSFORMER] ? KE_STATUS_OK : ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
}

static enum ke_status open_gguf(struct ke_ltx_checkpoint * c, const char * path, struct ke_error * err)
{
    struct ke_tensor_set * s = NULL;
    enum ke_status st = ke_gguf_open(&s, path, err);   // strips `model.diffusion_model.`
    if (st != KE_STATUS_OK || (st = keep_file(c, s, err)) != KE_STATUS_OK) {
        return st;
    }
    const char * arch = ke_tset_meta(s, "gguf.architecture");
    if (!arch || strcmp(arch, "ltxv") != 0) {
        const char * w = wan_tensor(s);
        if (!w) {
            w = ke_tset_count(s) ? ke_tset_at(s, 0)->name : "(none)";
        }
        return ke_err(err, KE_STATUS_FORMAT, "%s: GGUF architecture '%s' (tensor '%s'): not an LTX-Video transformer "
                      "(\"ltxv\")", path, arch ? arch : "(none)", w);
    }
    if ((st = new_part(c, KE_LTX_PART_TRANSFORMER, path, err)) != KE_STATUS_OK) {
        return st;
    }
    for (int i = 0; i < ke_tset_count(s) && st == KE_STATUS_OK; i++) {
        st = add_view(c->part[KE_LTX_PART_TRANSFORMER], ke_tset_at(s, i)->name, ke_tset_at(s, i), err);
    }
    if (st != KE_STATUS_OK || (st = config_from_shapes(c, path, err)) != KE_STATUS_OK) {
        return st;
    }
    c->layout = KE_LTX_LAYOUT_GGUF;
    version_from_name(c, path);
    return check_transformer(c->part[KE_LTX_PART_TRANSFORMER], c->config[KE_LTX_PART_TRANSFORMER], "", err);
}

// --- Diffusers folder -----------------------------------------------------------------------------

static char * join2(const char * a, const char * b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char * p = malloc(n);
    if (p) {
        snprintf(p, n, "%s/%s", a, b);
    }
    return p;
}

static bool is_dir(const char * p)
{
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

// One Diffusers component folder: its tensors renamed to the official names.
static enum ke_status open_diffusers_part(struct ke_ltx_checkpoint * c, enum ke_ltx_part part, const char * dir,
                                          struct ke_error * err)
{
    struct ke_tensor_set * s = NULL;
    enum ke_status st = ke_safetensors_open(&s, dir, err);   // index or single file; config.json as "config"
    if (st != KE_STATUS_OK || (st = keep_file(c, s, err)) != KE_STATUS_OK) {
        return st;
    }
    const char * cfg = ke_tset_meta(s, "config");
    if (!cfg) {
        return ke_err(err, KE_STATUS_MISSING, "%s: config.json is missing (a Diffusers component folder has one)", dir);
    }
    json_object * j = json_tokener_parse(cfg);
    json_object * cn = NULL;
    const char * want = part == KE_LTX_PART_TRANSFORMER ? "LTXVideoTransformer3DModel" : "AutoencoderKLLTXVideo";
    if (!j || !json_object_object_get_ex(j, "_class_name", &cn) || !json_object_is_type(cn, json_type_string) ||
        strcmp(json_object_get_string(cn), want) != 0) {
        json_object_put(j);
        return ke_err(err, KE_STATUS_FORMAT, "%s: config.json is not JSON or its _class_name is not \"%s\"", dir, want);
    }
    int n_down = 0;
    for (int i = 0; i < ke_tset_count(s); i++) {
        const char * n = ke_tset_at(s, i)->name;
        if (strncmp(n, "encoder.down_blocks.", 20) == 0 && isdigit((unsigned char) n[20])) {
            int k = atoi(n + 20);
            n_down = k + 1 > n_down && k < 64 ? k + 1 : n_down;
        }
    }
    if ((st = new_part(c, part, dir, err)) != KE_STATUS_OK) {
        json_object_put(j);
        return st;
    }
    char on[600];
    for (int i = 0; i < ke_tset_count(s) && st == KE_STATUS_OK; i++) {
        const struct ke_tensor * t = ke_tset_at(s, i);
        if (ke_ltx_name_from_diffusers(part, t->name, n_down, on, sizeof(on)) < 0) {
            st = ke_err(err, KE_STATUS_UNSUPPORTED, "%s: tensor '%s': %s", dir, t->name, on);
        } else {
            st = add_view(c->part[part], on, t, err);
        }
    }
    if (st == KE_STATUS_OK && part == KE_LTX_PART_TRANSFORMER) {
        // the official config from the Diffusers one (diffusers_config_mapping.py: the same sizes)
        c->config[part] = ke_ltx_transformer_config_make(json_int(j, "num_layers", 28), json_int(j, "num_attention_heads", 32),
                                                         json_int(j, "attention_head_dim", 64), json_int(j, "in_channels", 128),
                                                         json_int(j, "out_channels", 128), json_int(j, "caption_channels", 4096));
        if (!c->config[part]) {
            st = ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", dir);
        }
    } else if (st == KE_STATUS_OK && !(c->config[part] = strdup(cfg))) {
        st = ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", dir);
    }
    json_object_put(j);
    return st;
}

static enum ke_status open_diffusers(struct ke_ltx_checkpoint * c, const char * dir, struct ke_error * err)
{
    char * p = join2(dir, "transformer");
    enum ke_status st = p ? KE_STATUS_OK : ke_err(err, KE_STATUS_NOMEM, "out of memory");
    if (st == KE_STATUS_OK && !is_dir(p)) {
        st = ke_err(err, KE_STATUS_MISSING, "%s: no transformer/ folder (a Diffusers LTX-Video folder has transformer/, "
                    "vae/, text_encoder/, tokenizer/)", dir);
    }
    if (st == KE_STATUS_OK) {
        st = open_diffusers_part(c, KE_LTX_PART_TRANSFORMER, p, err);
    }
    free(p);
    if (st != KE_STATUS_OK || (st = check_transformer(c->part[KE_LTX_PART_TRANSFORMER],
                                                      c->config[KE_LTX_PART_TRANSFORMER], "", err)) != KE_STATUS_OK) {
        return st;
    }
    p = join2(dir, "vae");
    if (is_dir(p)) {
        st = open_diffusers_part(c, KE_LTX_PART_VAE, p, err);
        if (st == KE_STATUS_OK) {
            // the Diffusers config names latent_channels as the official one does
            st = check_vae(c->part[KE_LTX_PART_VAE], c->config[KE_LTX_PART_VAE], "", err);
        }
    }
    free(p);
    const char * sub[2] = { "text_encoder", "tokenizer" };
    char ** dst[2] = { &c->text_encoder_path, &c->tokenizer_path };
    for (int i = 0; i < 2 && st == KE_STATUS_OK; i++) {
        p = join2(dir, sub[i]);
        if (is_dir(p)) {
            *dst[i] = p;
        } else {
            free(p);
        }
    }
    c->layout = KE_LTX_LAYOUT_DIFFUSERS;
    version_from_name(c, dir);
    return st;
}

// --- entry ----------------------------------------------------------------------------------------

enum ke_status ke_ltx_checkpoint_open(struct ke_ltx_checkpoint ** out, const char * path, const char * upsampler_path,
                                      unsigned flags, struct ke_error * err)
{
    *out = NULL;
    if (!path || !*path) {
        return ke_err(err, KE_STATUS_INVALID, "LTX-Video checkpoint: no path given");
    }
    struct ke_ltx_checkpoint * c = calloc(1, sizeof(*c));
    if (!c) {
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    enum ke_status st;
    struct stat sb;
    if (stat(path, &sb) < 0) {
        st = ke_err(err, KE_STATUS_IO, "%s: no such file or folder", path);
    } else if (S_ISDIR(sb.st_mode)) {
        st = open_diffusers(c, path, err);
    } else {
        unsigned char magic[4] = { 0 };
        int fd = ke_file_open_read(path, err);
        ssize_t n = fd >= 0 ? read(fd, magic, 4) : -1;
        if (fd >= 0) {
            close(fd);
        }
        if (fd < 0) {
            st = err ? err->code : KE_STATUS_IO;
        } else if (n == 4 && memcmp(magic, "GGUF", 4) == 0) {
            st = open_gguf(c, path, err);
        } else {
            // an upsampler file alone opens as one when asked (inspect); as the model it is refused
            struct ke_tensor_set * s = NULL;
            bool ups = false;
            if ((flags & KE_LTX_OPEN_UPSAMPLER_ALONE) && !upsampler_path &&
                ke_safetensors_open_file(&s, path, NULL) == KE_STATUS_OK) {
                const char * t = ke_tset_meta(s, "config");
                ups = t && strstr(t, "\"LatentUpsampler\"") && ke_tset_get(s, "initial_conv.weight");
            }
            ke_tset_free(s);
            if (ups) {
                st = open_upsampler(c, path, err);
                c->layout = KE_LTX_LAYOUT_UPSAMPLER;
                version_from_name(c, path);
            } else {
                st = open_single(c, path, err);
            }
        }
    }
    if (st == KE_STATUS_OK && upsampler_path) {
        st = open_upsampler(c, upsampler_path, err);
    }
    if (st != KE_STATUS_OK) {
        ke_ltx_checkpoint_free(c);
        return st;
    }
    finish_info(c);
    *out = c;
    return KE_STATUS_OK;
}
