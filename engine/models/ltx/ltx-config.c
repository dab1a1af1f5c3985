// Kinora engine: LTX-Video checkpoint metadata: the single file's `config` JSON (ltx_video @ 5260738
// inference.py create_ltx_video_pipeline, Transformer3DModel / CausalVideoAutoencoder / LatentUpsampler
// from_pretrained), the official transformer config rebuilt for files without one, Diffusers names.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/error.h"
#include "models/ltx/ltx-checkpoint.h"

#define LTX_MAX_CONFIG (1u << 20)   // the real config is ~4 KiB
#define LTX_MAX_DEPTH 32            // nesting of the config JSON

static char * dup_json(json_object * o)
{
    const char * s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    return s ? strdup(s) : NULL;
}

void ke_ltx_config_clear(struct ke_ltx_config * c)
{
    if (!c) {
        return;
    }
    free(c->transformer);
    free(c->vae);
    free(c->scheduler);
    free(c->upsampler);
    free(c->allowed_inference_steps);
    memset(c, 0, sizeof(*c));
}

static bool class_is(json_object * sec, const char * want)
{
    json_object * cn;
    return json_object_object_get_ex(sec, "_class_name", &cn) && json_object_is_type(cn, json_type_string) &&
           strcmp(json_object_get_string(cn), want) == 0;
}

// A positive integer field of the transformer section (sizes the family check relies on).
static enum ke_status need_int(json_object * sec, const char * key, const char * path, struct ke_error * err)
{
    json_object * v;
    if (!json_object_object_get_ex(sec, key, &v)) {
        return ke_err(err, KE_STATUS_MISSING, "%s: metadata 'config': transformer.%s is missing", path, key);
    }
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
        json_object_get_int64(v) > (1 << 20)) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: metadata 'config': transformer.%s is %s (a positive integer expected)",
                      path, key, json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
    }
    return KE_STATUS_OK;
}

enum ke_status ke_ltx_config_parse(struct ke_ltx_config * out, const char * text, const char * path,
                                   struct ke_error * err)
{
    memset(out, 0, sizeof(*out));
    if (!text) {
        return ke_err(err, KE_STATUS_MISSING, "%s: no 'config' metadata (an LTX-Video checkpoint carries its config "
                      "JSON in the safetensors metadata key 'config')", path);
    }
    size_t len = strlen(text);
    if (len > LTX_MAX_CONFIG) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: metadata 'config' is %zu bytes (at most %u)", path, len,
                      LTX_MAX_CONFIG);
    }
    struct json_tokener * tok = json_tokener_new_ex(LTX_MAX_DEPTH);
    if (!tok) {
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
    }
    json_object * root = json_tokener_parse_ex(tok, text, (int) len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    // trailing bytes after the object are malformed too
    bool trailing = jerr == json_tokener_success && json_tokener_get_parse_end(tok) < len;
    json_tokener_free(tok);
    if (!root || jerr != json_tokener_success || trailing || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return ke_err(err, KE_STATUS_FORMAT, "%s: metadata 'config' is not a JSON object (%s)", path,
                      jerr == json_tokener_continue ? "the text ends inside it" :
                      jerr != json_tokener_success ? json_tokener_error_desc(jerr) :
                      trailing ? "text after the object" : "another JSON type");
    }
    enum ke_status st = KE_STATUS_OK;
    json_object * t = NULL, * v = NULL, * s = NULL, * a = NULL;
    json_object_object_get_ex(root, "transformer", &t);
    json_object_object_get_ex(root, "vae", &v);
    json_object_object_get_ex(root, "scheduler", &s);
    json_object_object_get_ex(root, "allowed_inference_steps", &a);
    if (class_is(root, "LatentUpsampler")) {
        out->kind = KE_LTX_CONFIG_UPSAMPLER;
        if (!(out->upsampler = dup_json(root))) {
            st = ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
        }
        json_object_put(root);
        return st;
    }
    if (!t && !v) {
        json_object * cn;
        json_object_object_get_ex(root, "_class_name", &cn);
        st = ke_err(err, KE_STATUS_FORMAT, "%s: metadata 'config' has neither a 'transformer' nor a 'vae' section "
                    "(_class_name %s): not an LTX-Video checkpoint", path,
                    cn ? json_object_to_json_string_ext(cn, JSON_C_TO_STRING_PLAIN) : "absent");
        json_object_put(root);
        return st;
    }
    out->kind = KE_LTX_CONFIG_MODEL;
    if (t) {
        if (!json_object_is_type(t, json_type_object)) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: metadata 'config': 'transformer' is not an object", path);
        } else if (!class_is(t, "Transformer3DModel")) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: metadata 'config': transformer._class_name is not "
                        "\"Transformer3DModel\"", path);
        } else {
            static const char * const sizes[] = { "num_layers", "num_attention_heads", "attention_head_dim",
                                                  "in_channels", "caption_channels" };
            for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && st == KE_STATUS_OK; i++) {
                st = need_int(t, sizes[i], path, err);
            }
        }
        if (st == KE_STATUS_OK && !(out->transformer = dup_json(t))) {
            st = ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
        }
    }
    if (st == KE_STATUS_OK && v) {
        if (!json_object_is_type(v, json_type_object)) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: metadata 'config': 'vae' is not an object", path);
        } else if (!class_is(v, "CausalVideoAutoencoder")) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: metadata 'config': vae._class_name is not "
                        "\"CausalVideoAutoencoder\"", path);
        } else if (!(out->vae = dup_json(v))) {
            st = ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
        }
    }
    if (st == KE_STATUS_OK && s) {
        if (!json_object_is_type(s, json_type_object)) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: metadata 'config': 'scheduler' is not an object", path);
        } else if (!(out->scheduler = dup_json(s))) {
            st = ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
        }
    }
    if (st == KE_STATUS_OK && a && !json_object_is_type(a, json_type_null)) {
        if (!json_object_is_type(a, json_type_array)) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: metadata 'config': 'allowed_inference_steps' is not an array", path);
        } else if (!(out->allowed_inference_steps = dup_json(a))) {
            st = ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
        }
    }
    json_object_put(root);
    if (st != KE_STATUS_OK) {
        ke_ltx_config_clear(out);
    }
    return st;
}

int ke_ltx_size_class(int inner_dim)
{
    // ltxv-2b: 32 heads x 64; ltxv-13b: 32 heads x 128
    return inner_dim == 2048 ? 2 : inner_dim == 4096 ? 13 : 0;
}

char * ke_ltx_transformer_config_make(int num_layers, int num_heads, int head_dim, int in_channels,
                                      int out_channels, int caption_channels)
{
    // ltx_video/utils/diffusers_config_mapping.py OURS_TRANSFORMER_CONFIG with the sizes replaced
    char buf[2048];
    int n = snprintf(buf, sizeof(buf),
        "{\"_class_name\":\"Transformer3DModel\",\"activation_fn\":\"gelu-approximate\",\"attention_bias\":true,"
        "\"attention_head_dim\":%d,\"attention_type\":\"default\",\"caption_channels\":%d,"
        "\"cross_attention_dim\":%d,\"double_self_attention\":false,\"dropout\":0.0,\"in_channels\":%d,"
        "\"norm_elementwise_affine\":false,\"norm_eps\":1e-06,\"norm_num_groups\":32,\"num_attention_heads\":%d,"
        "\"num_embeds_ada_norm\":1000,\"num_layers\":%d,\"num_vector_embeds\":null,\"only_cross_attention\":false,"
        "\"out_channels\":%d,\"project_to_2d_pos\":true,\"upcast_attention\":false,\"use_linear_projection\":false,"
        "\"qk_norm\":\"rms_norm\",\"standardization_norm\":\"rms_norm\",\"positional_embedding_type\":\"rope\","
        "\"positional_embedding_theta\":10000.0,\"positional_embedding_max_pos\":[20,2048,2048],"
        "\"timestep_scale_multiplier\":1000}",
        head_dim, caption_channels, num_heads * head_dim, in_channels, num_heads, num_layers, out_channels);
    return n > 0 && (size_t) n < sizeof(buf) ? strdup(buf) : NULL;
}

// --- Diffusers names ----------------------------------------------------------------------------------

// Replace the first `from` in s (in place, within cap bytes). Returns true when replaced.
static bool replace_once(char * s, size_t cap, const char * from, const char * to)
{
    char * p = strstr(s, from);
    if (!p) {
        return false;
    }
    size_t fl = strlen(from), tl = strlen(to), sl = strlen(s);
    if (sl - fl + tl + 1 > cap) {
        return false;
    }
    memmove(p + tl, p + fl, strlen(p + fl) + 1);
    memcpy(p, to, tl);
    return true;
}

// Read "<prefix><K>." at the start of s: K, and the bytes used; -1 when s does not start so.
static int block_index(const char * s, const char * prefix, size_t * used)
{
    size_t pl = strlen(prefix);
    if (strncmp(s, prefix, pl) != 0 || s[pl] < '0' || s[pl] > '9') {
        return -1;
    }
    int k = 0;
    size_t i = pl;
    while (s[i] >= '0' && s[i] <= '9' && k < 1000) {
        k = k * 10 + (s[i++] - '0');
    }
    if (s[i] != '.') {
        return -1;
    }
    *used = i + 1;
    return k;
}

static int vae_from_diffusers(const char * name, int n_down, char * out, size_t out_size)
{
    char buf[512];
    size_t used = 0;
    int k;
    if (strlen(name) >= sizeof(buf) - 64) {
        snprintf(out, out_size, "name too long");
        return -1;
    }
    // blocks: Diffusers groups each resolution's resnets with its up/down sampler; the official VAE keeps
    // them as a flat list (VAE_095_RENAME_DICT read backwards)
    if (strncmp(name, "decoder.mid_block.", 18) == 0) {
        snprintf(buf, sizeof(buf), "decoder.up_blocks.0.%s", name + 18);
    } else if ((k = block_index(name, "decoder.up_blocks.", &used)) >= 0) {
        if (strncmp(name + used, "upsamplers.0.", 13) == 0) {
            snprintf(buf, sizeof(buf), "decoder.up_blocks.%d.%s", 2 * k + 1, name + used + 13);
        } else if (strncmp(name + used, "conv_in.", 8) == 0) {
            snprintf(out, out_size, "decoder block conv_in (the 0.9.0 VAE layout) is not supported");
            return -1;
        } else {
            snprintf(buf, sizeof(buf), "decoder.up_blocks.%d.%s", 2 * k + 2, name + used);
        }
    } else if (strncmp(name, "encoder.mid_block.", 18) == 0) {
        snprintf(buf, sizeof(buf), "encoder.down_blocks.%d.%s", 2 * n_down, name + 18);
    } else if ((k = block_index(name, "encoder.down_blocks.", &used)) >= 0) {
        if (strncmp(name + used, "downsamplers.0.", 15) == 0) {
            snprintf(buf, sizeof(buf), "encoder.down_blocks.%d.%s", 2 * k + 1, name + used + 15);
        } else if (strncmp(name + used, "conv_out.", 9) == 0) {
            snprintf(out, out_size, "encoder block conv_out (the 0.9.0/0.9.1 VAE layout) is not supported");
            return -1;
        } else {
            snprintf(buf, sizeof(buf), "encoder.down_blocks.%d.%s", 2 * k, name + used);
        }
    } else if (strcmp(name, "latents_mean") == 0) {
        snprintf(buf, sizeof(buf), "per_channel_statistics.mean-of-means");
    } else if (strcmp(name, "latents_std") == 0) {
        snprintf(buf, sizeof(buf), "per_channel_statistics.std-of-means");
    } else if (strncmp(name, "decoder.time_embedder.", 22) == 0) {
        snprintf(buf, sizeof(buf), "decoder.last_time_embedder.%s", name + 22);
    } else if (strcmp(name, "decoder.scale_shift_table") == 0) {
        snprintf(buf, sizeof(buf), "decoder.last_scale_shift_table");
    } else {
        snprintf(buf, sizeof(buf), "%s", name);
    }
    // common renames inside a block
    replace_once(buf, sizeof(buf), ".resnets.", ".res_blocks.");
    replace_once(buf, sizeof(buf), ".conv_shortcut.conv.", ".conv_shortcut.");
    if (!strstr(buf, ".norm3.norm.")) {
        replace_once(buf, sizeof(buf), ".norm3.", ".norm3.norm.");
    }
    snprintf(out, out_size, "%s", buf);
    return strcmp(out, name) != 0;
}

int ke_ltx_name_from_diffusers(enum ke_ltx_part part, const char * name, int n_down_blocks, char * out,
                               size_t out_size)
{
    if (part == KE_LTX_PART_VAE) {
        return vae_from_diffusers(name, n_down_blocks, out, out_size);
    }
    // ltx_video's TRANSFORMER_KEYS_RENAME_DICT, applied in its order with str.replace (every occurrence)
    static const char * const ren[][2] = {
        { "proj_in", "patchify_proj" }, { "time_embed", "adaln_single" }, { "norm_q", "q_norm" }, { "norm_k", "k_norm" },
    };
    char buf[512];
    if (strlen(name) >= sizeof(buf) - 64) {
        snprintf(out, out_size, "name too long");
        return -1;
    }
    snprintf(buf, sizeof(buf), "%s", name);
    for (size_t i = 0; i < sizeof(ren) / sizeof(ren[0]); i++) {
        while (replace_once(buf, sizeof(buf), ren[i][0], ren[i][1])) {
        }
    }
    snprintf(out, out_size, "%s", buf);
    return strcmp(out, name) != 0;
}
