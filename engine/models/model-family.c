// Kinora engine: the model-family seam: telling Wan2.2 and LTX-Video apart from the files (metadata,
// tensor names), and describing a model's components for `kinora-cli models inspect` (ke_model_probe).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/file.h"
#include "loaders/loaders.h"
#include "models/ltx/ltx-checkpoint.h"
#include "models/model-family.h"

#define FAMILY_MAX_JSON (1u << 20)

const char * ke_model_family_name(enum ke_model_family f)
{
    return f == KE_MODEL_FAMILY_WAN22 ? "Wan2.2" : f == KE_MODEL_FAMILY_LTXV ? "LTX-Video" : "unknown";
}

static bool is_dir(const char * p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char * p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

// Whether the file `dir/name` holds `needle` (small JSON files only).
static bool file_has(const char * dir, const char * name, const char * needle)
{
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    if (!is_file(p)) {
        return false;
    }
    char * text = NULL;
    if (ke_file_read_all(p, "config", FAMILY_MAX_JSON, &text, NULL, NULL) != KE_STATUS_OK) {
        return false;
    }
    bool r = strstr(text, needle) != NULL;
    free(text);
    return r;
}

// The first element of a comma-separated list (malloc'd), and the second one (NULL when absent).
static char * list_item(const char * spec, int i)
{
    const char * p = spec;
    for (int k = 0; k < i; k++) {
        p = strchr(p, ',');
        if (!p) {
            return NULL;
        }
        p++;
    }
    const char * e = strchr(p, ',');
    size_t n = e ? (size_t) (e - p) : strlen(p);
    char * r = malloc(n + 1);
    if (r) {
        memcpy(r, p, n);
        r[n] = 0;
    }
    return r;
}

static bool set_is_ltx(const struct ke_tensor_set * s)
{
    const char * cfg = ke_tset_meta(s, "config");
    if (cfg && (strstr(cfg, "\"Transformer3DModel\"") || strstr(cfg, "\"CausalVideoAutoencoder\"") ||
                strstr(cfg, "\"LatentUpsampler\""))) {
        return true;
    }
    const char * arch = ke_tset_meta(s, "gguf.architecture");
    if (arch) {
        return strcmp(arch, "ltxv") == 0;
    }
    // names only LTX-Video uses (Wan2.2 has patch_embedding, blocks.N, head.modulation)
    static const char * const ltx[] = { "patchify_proj", "adaln_single", "caption_projection.linear_1",
                                        "per_channel_statistics", "transformer_blocks.0.scale_shift_table", NULL };
    for (int i = 0; i < ke_tset_count(s); i++) {
        const char * n = ke_tset_at(s, i)->name;
        for (int k = 0; ltx[k]; k++) {
            if (strstr(n, ltx[k])) {
                return true;
            }
        }
    }
    return false;
}

enum ke_model_family ke_model_family_detect(const char * path)
{
    if (!path || !*path || strcmp(path, "tiny") == 0) {
        return KE_MODEL_FAMILY_WAN22;
    }
    char * first = list_item(path, 0);
    if (!first) {
        return KE_MODEL_FAMILY_UNKNOWN;
    }
    enum ke_model_family f = KE_MODEL_FAMILY_WAN22;
    if (is_dir(first)) {
        if (file_has(first, "model_index.json", "\"LTX") ||
            file_has(first, "transformer/config.json", "\"LTXVideoTransformer3DModel\"") ||
            ke_ltx_folder_has_checkpoint(first)) {   // the official files side by side (model-caps.c)
            f = KE_MODEL_FAMILY_LTXV;
        }
    } else if (is_file(first)) {
        struct ke_tensor_set * s = NULL;
        // headers only: the weights are mapped, never read
        if (ke_weights_open(&s, first, NULL) == KE_STATUS_OK && set_is_ltx(s)) {
            f = KE_MODEL_FAMILY_LTXV;
        }
        ke_tset_free(s);
    }
    free(first);
    return f;
}

static enum ke_status open_ltx(struct ke_ltx_checkpoint ** c, const char * path, unsigned flags, struct ke_error * err)
{
    char * first = list_item(path, 0);
    char * second = list_item(path, 1);
    char * third = list_item(path, 2);
    char * fourth = list_item(path, 3);
    enum ke_status st;
    if (!first) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
    } else if (fourth) {
        st = ke_err(err, KE_STATUS_INVALID, "%s: an LTX-Video model is CHECKPOINT[,UPSAMPLER[,T5]] (\"%s\" is one too "
                    "many)", path, fourth);
    } else {
        // the official files side by side in a folder, the T5 encoder found for a single file (model-caps.c)
        struct ke_ltx_files f;
        st = ke_ltx_files_find(&f, first, second, third, err);
        if (st == KE_STATUS_OK) {
            st = ke_ltx_checkpoint_open(c, f.checkpoint, f.upsampler, flags, err);
        }
        if (st == KE_STATUS_OK && f.text_encoder && !(*c)->text_encoder_path) {
            (*c)->text_encoder_path = f.text_encoder;
            (*c)->tokenizer_path = f.tokenizer;
            f.text_encoder = f.tokenizer = NULL;
        }
        ke_ltx_files_clear(&f);
    }
    free(first);
    free(second);
    free(third);
    free(fourth);
    return st;
}

// --- describing components -------------------------------------------------------------------------

static void describe_set(struct ke_model_info * info, const char * role, const char * path,
                         const struct ke_tensor_set * s)
{
    if (info->n_parts >= KE_MODEL_INFO_MAX_PARTS || !s) {
        return;
    }
    struct ke_model_part_info * p = &info->parts[info->n_parts++];
    memset(p, 0, sizeof(*p));
    snprintf(p->role, sizeof(p->role), "%s", role);
    snprintf(p->path, sizeof(p->path), "%s", path);
    int count[KE_DTYPE_COUNT] = { 0 };
    for (int i = 0; i < ke_tset_count(s); i++) {
        const struct ke_tensor * t = ke_tset_at(s, i);
        p->n_tensors++;
        p->n_params += ke_tensor_nelements(t);
        p->n_bytes += (int64_t) ke_tensor_nbytes(t);
        if (t->type >= 0 && t->type < KE_DTYPE_COUNT) {
            count[t->type]++;
        }
    }
    // dtypes by count, most first
    size_t off = 0;
    for (;;) {
        int best = -1;
        for (int d = 0; d < KE_DTYPE_COUNT; d++) {
            if (count[d] > 0 && (best < 0 || count[d] > count[best])) {
                best = d;
            }
        }
        if (best < 0 || off >= sizeof(p->dtypes)) {
            break;
        }
        int n = snprintf(p->dtypes + off, sizeof(p->dtypes) - off, "%s%s %d", off ? ", " : "",
                         ke_dtype_name((enum ke_dtype) best), count[best]);
        off += n > 0 ? (size_t) n : 0;
        count[best] = 0;
    }
}

static void describe_path(struct ke_model_info * info, const char * role, const char * path)
{
    struct ke_tensor_set * s = NULL;
    if (ke_weights_open(&s, path, NULL) == KE_STATUS_OK) {
        describe_set(info, role, path, s);
    } else if (info->n_parts < KE_MODEL_INFO_MAX_PARTS) {
        // a tokenizer folder or an unreadable file: listed without tensors
        struct ke_model_part_info * p = &info->parts[info->n_parts++];
        memset(p, 0, sizeof(*p));
        snprintf(p->role, sizeof(p->role), "%s", role);
        snprintf(p->path, sizeof(p->path), "%s", path);
    }
    ke_tset_free(s);
}

static enum ke_status probe_ltx(const char * path, struct ke_model_info * info, struct ke_error * err)
{
    struct ke_ltx_checkpoint * c = NULL;
    enum ke_status st = open_ltx(&c, path, KE_LTX_OPEN_UPSAMPLER_ALONE, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    snprintf(info->layout, sizeof(info->layout), "%s", ke_ltx_layout_name(c->layout));
    snprintf(info->version, sizeof(info->version), "LTX-Video%s%s%s%s%s%s",
             c->size_b == 13 ? " 13B" : c->size_b == 2 ? " 2B" : "", c->release[0] ? " " : "", c->release,
             c->distilled ? " distilled" : "", c->fp8 ? " fp8" : "",
             c->layout == KE_LTX_LAYOUT_UPSAMPLER ? " spatial latent upsampler" : "");
    for (int p = 0; p < KE_LTX_N_PARTS; p++) {
        describe_set(info, ke_ltx_part_name((enum ke_ltx_part) p), c->path[p] ? c->path[p] : "", c->part[p]);
    }
    if (c->text_encoder_path) {
        describe_path(info, "text_encoder", c->text_encoder_path);
    }
    if (c->tokenizer_path) {
        describe_path(info, "tokenizer", c->tokenizer_path);
    }
    ke_ltx_checkpoint_free(c);
    return KE_STATUS_OK;
}

// The Wan2.2 task from a DiT's patch embedding (in_dim 48: TI2V-5B, 36: I2V-A14B, 16: T2V-A14B).
static const char * wan_task(const struct ke_tensor_set * s)
{
    const struct ke_tensor * t = ke_tset_get(s, "patch_embedding.weight");
    if (!t) {
        t = ke_tset_get(s, "model.diffusion_model.patch_embedding.weight");
    }
    if (!t || t->n_dims != 5) {
        return NULL;
    }
    return t->ne[3] == 48 ? "TI2V-5B" : t->ne[3] == 36 ? "I2V-A14B" : t->ne[3] == 16 ? "T2V-A14B" : NULL;
}

static void probe_wan(const char * path, struct ke_model_info * info)
{
    char p[4096];
    snprintf(info->version, sizeof(info->version), "Wan2.2");
    if (strcmp(path, "tiny") == 0) {
        snprintf(info->layout, sizeof(info->layout), "built in");
        snprintf(info->version, sizeof(info->version), "Wan2.2 TI2V-5B (tiny test model, random weights)");
        return;
    }
    if (is_dir(path)) {
        snprintf(p, sizeof(p), "%s/model_index.json", path);
        bool diffusers = is_file(p);
        snprintf(info->layout, sizeof(info->layout), diffusers ? "diffusers" : "official folder");
        static const char * const dif[][2] = { { "transformer", "dit" }, { "transformer_2", "dit_low_noise" },
                                               { "vae", "vae" }, { "text_encoder", "text_encoder" },
                                               { "tokenizer", "tokenizer" } };
        static const char * const off[][2] = { { "high_noise_model", "dit_high_noise" }, { "low_noise_model", "dit" },
                                               { "Wan2.2_VAE.pth", "vae" }, { "Wan2.1_VAE.pth", "vae" },
                                               { "models_t5_umt5-xxl-enc-bf16.pth", "text_encoder" },
                                               { "google/umt5-xxl", "tokenizer" } };
        const char * const (*t)[2] = diffusers ? dif : off;
        size_t n = diffusers ? sizeof(dif) / sizeof(dif[0]) : sizeof(off) / sizeof(off[0]);
        snprintf(p, sizeof(p), "%s/high_noise_model", path);
        if (!diffusers && !is_dir(p)) {
            describe_path(info, "dit", path);   // TI2V-5B: the DiT shards lie in the folder itself
        }
        for (size_t i = 0; i < n; i++) {
            snprintf(p, sizeof(p), "%s/%s", path, t[i][0]);
            if (is_dir(p) || is_file(p)) {
                describe_path(info, t[i][1], p);
            }
        }
    } else {
        snprintf(info->layout, sizeof(info->layout), "files");
        for (int i = 0;; i++) {
            char * f = list_item(path, i);
            if (!f) {
                break;
            }
            struct ke_tensor_set * s = NULL;
            const char * role = "weights";
            if (ke_weights_open(&s, f, NULL) == KE_STATUS_OK) {
                role = wan_task(s) ? "dit" : ke_tset_get(s, "decoder.head.2.weight") ||
                       ke_tset_get(s, "decoder.conv_in.weight") ? "vae" : ke_tset_get(s, "token_embedding.weight") ||
                       ke_tset_get(s, "shared.weight") ? "text_encoder" : "weights";
                describe_set(info, role, f, s);
            } else {
                describe_path(info, "tokenizer", f);
            }
            ke_tset_free(s);
            free(f);
        }
    }
    // the task from the first DiT found
    for (int i = 0; i < info->n_parts; i++) {
        if (strncmp(info->parts[i].role, "dit", 3) != 0) {
            continue;
        }
        struct ke_tensor_set * s = NULL;
        if (ke_weights_open(&s, info->parts[i].path, NULL) == KE_STATUS_OK && wan_task(s)) {
            snprintf(info->version, sizeof(info->version), "Wan2.2 %s", wan_task(s));
        }
        ke_tset_free(s);
        break;
    }
}

enum ke_status ke_model_probe(const char * path, struct ke_model_info * out, struct ke_error * err)
{
    if (!out) {
        return ke_err(err, KE_STATUS_INVALID, "model probe: no output given");
    }
    memset(out, 0, sizeof(*out));
    out->family = KE_MODEL_FAMILY_UNKNOWN;
    if (!path || !*path) {
        return ke_err(err, KE_STATUS_INVALID, "model probe: no path given");
    }
    if (strcmp(path, "tiny") != 0) {
        char * first = list_item(path, 0);
        bool there = first && (is_dir(first) || is_file(first));
        free(first);
        if (!there) {
            return ke_err(err, KE_STATUS_IO, "%s: no such model folder or file", path);
        }
    }
    out->family = ke_model_family_detect(path);
    if (out->family == KE_MODEL_FAMILY_LTXV) {
        enum ke_status st = probe_ltx(path, out, err);
        if (st != KE_STATUS_OK) {
            return st;
        }
        return KE_STATUS_OK;
    }
    probe_wan(path, out);
    return KE_STATUS_OK;
}
