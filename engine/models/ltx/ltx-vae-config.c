// Kinora engine: the JSON configs of the LTX-Video VAE (CausalVideoAutoencoder.from_config) and of the
// latent upsampler (LatentUpsampler.from_config), Lightricks/LTX-Video at 5260738. Defaults are the
// reference's; every value is range-checked and an error names the source, the key and the value.
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "models/ltx/ltx-upsampler.h"
#include "models/ltx/ltx-vae.h"

const char ke_ltx_vae_13b_config[] =
    "{\"_class_name\": \"CausalVideoAutoencoder\", \"dims\": 3, \"in_channels\": 3, \"out_channels\": 3, "
    "\"latent_channels\": 128, \"encoder_blocks\": [[\"res_x\", {\"num_layers\": 4}], "
    "[\"compress_space_res\", {\"multiplier\": 2}], [\"res_x\", {\"num_layers\": 6}], "
    "[\"compress_time_res\", {\"multiplier\": 2}], [\"res_x\", {\"num_layers\": 6}], "
    "[\"compress_all_res\", {\"multiplier\": 2}], [\"res_x\", {\"num_layers\": 2}], "
    "[\"compress_all_res\", {\"multiplier\": 2}], [\"res_x\", {\"num_layers\": 2}]], "
    "\"decoder_blocks\": [[\"res_x\", {\"num_layers\": 5, \"inject_noise\": false}], "
    "[\"compress_all\", {\"residual\": true, \"multiplier\": 2}], [\"res_x\", {\"num_layers\": 5, \"inject_noise\": false}], "
    "[\"compress_all\", {\"residual\": true, \"multiplier\": 2}], [\"res_x\", {\"num_layers\": 5, \"inject_noise\": false}], "
    "[\"compress_all\", {\"residual\": true, \"multiplier\": 2}], [\"res_x\", {\"num_layers\": 5, \"inject_noise\": false}]], "
    "\"scaling_factor\": 1.0, \"norm_layer\": \"pixel_norm\", \"patch_size\": 4, \"latent_log_var\": \"uniform\", "
    "\"use_quant_conv\": false, \"causal_decoder\": false, \"timestep_conditioning\": true}";

static const char * jstr(json_object * j)
{
    return json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
}

static enum ke_status get_int(json_object * o, const char * key, int lo, int hi, int * v, const char * path,
                              struct ke_error * err)
{
    json_object * j;
    if (!json_object_object_get_ex(o, key, &j)) {
        return KE_STATUS_OK;
    }
    const double d = json_object_get_double(j);
    if (!json_object_is_type(j, json_type_int) || !isfinite(d) || d < lo || d > hi) {
        return ke_err(err, KE_STATUS_INVALID, "%s: config key '%s' is %s, not an integer from %d to %d", path, key,
                      jstr(j), lo, hi);
    }
    *v = (int) json_object_get_int64(j);
    return KE_STATUS_OK;
}

static enum ke_status get_bool(json_object * o, const char * key, bool * v, const char * path, struct ke_error * err)
{
    json_object * j;
    if (!json_object_object_get_ex(o, key, &j)) {
        return KE_STATUS_OK;
    }
    if (!json_object_is_type(j, json_type_boolean)) {
        return ke_err(err, KE_STATUS_INVALID, "%s: config key '%s' is %s, not true or false", path, key, jstr(j));
    }
    *v = json_object_get_boolean(j);
    return KE_STATUS_OK;
}

// A string value, or NULL when the key is absent; an error when it is not a string.
static enum ke_status get_str(json_object * o, const char * key, const char ** v, const char * path,
                              struct ke_error * err)
{
    json_object * j;
    *v = NULL;
    if (!json_object_object_get_ex(o, key, &j)) {
        return KE_STATUS_OK;
    }
    if (!json_object_is_type(j, json_type_string)) {
        return ke_err(err, KE_STATUS_INVALID, "%s: config key '%s' is %s, not a string", path, key, jstr(j));
    }
    *v = json_object_get_string(j);
    return KE_STATUS_OK;
}

// One [name, params] entry of encoder_blocks / decoder_blocks (params: an object or a layer count).
static enum ke_status parse_block(json_object * e, bool dec, struct ke_ltx_block_desc * d, const char * key, int i,
                                  const char * path, struct ke_error * err)
{
    char where[96];
    snprintf(where, sizeof(where), "%s[%d]", key, i);
    if (!json_object_is_type(e, json_type_array) || json_object_array_length(e) != 2 ||
        !json_object_is_type(json_object_array_get_idx(e, 0), json_type_string)) {
        return ke_err(err, KE_STATUS_INVALID, "%s: config %s is %s, not [name, params]", path, where, jstr(e));
    }
    const char * name = json_object_get_string(json_object_array_get_idx(e, 0));
    json_object * p = json_object_array_get_idx(e, 1);
    memset(d, 0, sizeof(*d));
    d->num_layers = 1;
    enum ke_status st = KE_STATUS_OK;
    if (json_object_is_type(p, json_type_int)) {
        json_object * wrap = json_object_new_object();
        if (!wrap) {
            return ke_err(err, KE_STATUS_NOMEM, "out of memory");
        }
        json_object_object_add(wrap, "num_layers", json_object_get(p));
        st = get_int(wrap, "num_layers", 1, KE_LTX_VAE_MAX_LAYERS, &d->num_layers, path, err);
        json_object_put(wrap);
        p = NULL;
    } else if (!json_object_is_type(p, json_type_object)) {
        return ke_err(err, KE_STATUS_INVALID, "%s: config %s params are %s, not an object", path, where, jstr(p));
    }
    if (st != KE_STATUS_OK) {
        return st;
    }
    if (strcmp(name, "res_x") == 0) {
        d->kind = KE_LTX_RES_X;
        if (p) {
            json_object * nl;
            if (!json_object_object_get_ex(p, "num_layers", &nl)) {
                return ke_err(err, KE_STATUS_INVALID, "%s: config %s (res_x) has no num_layers", path, where);
            }
            bool noise = false;
            if ((st = get_int(p, "num_layers", 1, KE_LTX_VAE_MAX_LAYERS, &d->num_layers, path, err)) != KE_STATUS_OK ||
                (st = get_bool(p, "inject_noise", &noise, path, err)) != KE_STATUS_OK) {
                return st;
            }
            if (noise) {
                return ke_err(err, KE_STATUS_UNSUPPORTED,
                              "%s: config %s: inject_noise is not supported (it draws noise inside the model)", path,
                              where);
            }
        }
        return KE_STATUS_OK;
    }
    const char * base = name;
    char tmp[32];
    if (!dec) {
        const size_t n = strlen(name);
        if (n < 5 || n >= sizeof(tmp) || strcmp(name + n - 4, "_res") != 0) {
            return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: config %s: encoder block '%s' is not supported", path,
                          where, name);
        }
        memcpy(tmp, name, n - 4);
        tmp[n - 4] = 0;
        base = tmp;
        d->res = true;
    }
    if (strcmp(base, "compress_time") == 0) {
        d->kind = KE_LTX_COMPRESS_TIME;
    } else if (strcmp(base, "compress_space") == 0) {
        d->kind = KE_LTX_COMPRESS_SPACE;
    } else if (strcmp(base, "compress_all") == 0) {
        d->kind = KE_LTX_COMPRESS_ALL;
    } else {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: config %s: %s block '%s' is not supported", path, where,
                      dec ? "decoder" : "encoder", name);
    }
    d->multiplier = dec ? 1 : 2;
    if (p && ((st = get_int(p, "multiplier", 1, 64, &d->multiplier, path, err)) != KE_STATUS_OK ||
              (st = get_bool(p, "residual", &d->residual, path, err)) != KE_STATUS_OK)) {
        return st;
    }
    return KE_STATUS_OK;
}

static enum ke_status parse_blocks(json_object * o, const char * key, bool dec, struct ke_ltx_block_desc * out,
                                   int * n, const char * path, struct ke_error * err)
{
    json_object * a;
    if (!json_object_object_get_ex(o, key, &a) && !json_object_object_get_ex(o, "blocks", &a)) {
        return ke_err(err, KE_STATUS_INVALID, "%s: config has no '%s' (nor 'blocks')", path, key);
    }
    if (!json_object_is_type(a, json_type_array) || json_object_array_length(a) < 1 ||
        json_object_array_length(a) > KE_LTX_VAE_MAX_BLOCKS) {
        return ke_err(err, KE_STATUS_INVALID, "%s: config '%s' must be a list of 1 to %d blocks", path, key,
                      KE_LTX_VAE_MAX_BLOCKS);
    }
    *n = (int) json_object_array_length(a);
    for (int i = 0; i < *n; i++) {
        enum ke_status st = parse_block(json_object_array_get_idx(a, i), dec, &out[i], key, i, path, err);
        if (st != KE_STATUS_OK) {
            return st;
        }
    }
    return KE_STATUS_OK;
}

static enum ke_status parse_vae(struct ke_ltx_vae_config * c, json_object * o, const char * path,
                                struct ke_error * err)
{
    const char * s = NULL;
    enum ke_status st;
    if ((st = get_str(o, "_class_name", &s, path, err)) != KE_STATUS_OK) {
        return st;
    }
    if (s && strcmp(s, "CausalVideoAutoencoder") != 0) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: config _class_name is '%s', not CausalVideoAutoencoder", path,
                      s);
    }
    json_object * j;
    if (json_object_object_get_ex(o, "dims", &j) &&
        (!json_object_is_type(j, json_type_int) || json_object_get_int64(j) != 3)) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: config key 'dims' is %s; only 3 is supported", path, jstr(j));
    }
    if (!json_object_object_get_ex(o, "latent_channels", &j)) {
        return ke_err(err, KE_STATUS_INVALID, "%s: config has no 'latent_channels'", path);
    }
    c->in_channels = c->out_channels = 3;
    c->patch_size = 1;
    c->encoder_base_channels = c->decoder_base_channels = 128;
    bool double_z = true, quant = true, norm_latent = false;
    if ((st = get_int(o, "latent_channels", 1, 4096, &c->latent_channels, path, err)) != KE_STATUS_OK ||
        (st = get_int(o, "in_channels", 1, 64, &c->in_channels, path, err)) != KE_STATUS_OK ||
        (st = get_int(o, "out_channels", 1, 64, &c->out_channels, path, err)) != KE_STATUS_OK ||
        (st = get_int(o, "patch_size", 1, 16, &c->patch_size, path, err)) != KE_STATUS_OK ||
        (st = get_int(o, "encoder_base_channels", 1, 4096, &c->encoder_base_channels, path, err)) != KE_STATUS_OK ||
        (st = get_int(o, "decoder_base_channels", 1, 4096, &c->decoder_base_channels, path, err)) != KE_STATUS_OK ||
        (st = get_bool(o, "causal_decoder", &c->causal_decoder, path, err)) != KE_STATUS_OK ||
        (st = get_bool(o, "timestep_conditioning", &c->timestep_conditioning, path, err)) != KE_STATUS_OK ||
        (st = get_bool(o, "double_z", &double_z, path, err)) != KE_STATUS_OK ||
        (st = get_bool(o, "use_quant_conv", &quant, path, err)) != KE_STATUS_OK ||
        (st = get_bool(o, "normalize_latent_channels", &norm_latent, path, err)) != KE_STATUS_OK) {
        return st;
    }
    if (quant || norm_latent) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: config %s is not supported", path,
                      quant ? "use_quant_conv true (or absent: the reference's default)" : "normalize_latent_channels");
    }
    if ((st = get_str(o, "norm_layer", &s, path, err)) != KE_STATUS_OK) {
        return st;
    }
    if (!s || strcmp(s, "pixel_norm") != 0) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: config norm_layer is '%s'; only pixel_norm is supported", path,
                      s ? s : "group_norm (the default)");
    }
    if ((st = get_str(o, "latent_log_var", &s, path, err)) != KE_STATUS_OK) {
        return st;
    }
    if (!s) {
        c->logvar = double_z ? KE_LTX_LOGVAR_PER_CHANNEL : KE_LTX_LOGVAR_NONE;
    } else if (strcmp(s, "uniform") == 0) {
        c->logvar = KE_LTX_LOGVAR_UNIFORM;
    } else if (strcmp(s, "per_channel") == 0) {
        c->logvar = KE_LTX_LOGVAR_PER_CHANNEL;
    } else if (strcmp(s, "constant") == 0) {
        c->logvar = KE_LTX_LOGVAR_CONSTANT;
    } else if (strcmp(s, "none") == 0) {
        c->logvar = KE_LTX_LOGVAR_NONE;
    } else {
        return ke_err(err, KE_STATUS_INVALID,
                      "%s: config latent_log_var is '%s' (uniform, per_channel, constant, none)", path, s);
    }
    if ((st = get_str(o, "spatial_padding_mode", &s, path, err)) != KE_STATUS_OK) {
        return st;
    }
    if (!s || strcmp(s, "zeros") == 0) {
        c->pad = KE_LTX_PAD_ZEROS;
    } else if (strcmp(s, "reflect") == 0) {
        c->pad = KE_LTX_PAD_REFLECT;
    } else if (strcmp(s, "replicate") == 0) {
        c->pad = KE_LTX_PAD_REPLICATE;
    } else {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: config spatial_padding_mode '%s' is not supported (zeros, "
                      "reflect, replicate)", path, s);
    }
    if ((c->logvar == KE_LTX_LOGVAR_UNIFORM && c->latent_channels < 2)) {
        return ke_err(err, KE_STATUS_INVALID, "%s: latent_log_var uniform needs 2 latent channels at least", path);
    }
    if ((st = parse_blocks(o, "encoder_blocks", false, c->enc, &c->n_enc, path, err)) != KE_STATUS_OK ||
        (st = parse_blocks(o, "decoder_blocks", true, c->dec, &c->n_dec, path, err)) != KE_STATUS_OK) {
        return st;
    }
    return KE_STATUS_OK;
}

enum ke_status ke_ltx_vae_config_parse(struct ke_ltx_vae_config * c, const char * json, const char * path,
                                       struct ke_error * err)
{
    memset(c, 0, sizeof(*c));
    json_object * root = json ? json_tokener_parse(json) : NULL;
    if (!root || !json_object_is_type(root, json_type_object)) {
        if (root) {
            json_object_put(root);
        }
        return ke_err(err, KE_STATUS_FORMAT, "%s: the VAE config is not a JSON object", path);
    }
    json_object * o = root, * v;
    if (json_object_object_get_ex(root, "vae", &v)) {
        if (!json_object_is_type(v, json_type_object)) {
            json_object_put(root);
            return ke_err(err, KE_STATUS_FORMAT, "%s: config 'vae' is not a JSON object", path);
        }
        o = v;
    }
    enum ke_status st = parse_vae(c, o, path, err);
    json_object_put(root);
    return st;
}

enum ke_status ke_ltx_upsampler_config_parse(struct ke_ltx_upsampler_config * c, const char * json,
                                             const char * path, struct ke_error * err)
{
    memset(c, 0, sizeof(*c));
    json_object * o = json ? json_tokener_parse(json) : NULL;
    if (!o || !json_object_is_type(o, json_type_object)) {
        if (o) {
            json_object_put(o);
        }
        return ke_err(err, KE_STATUS_FORMAT, "%s: the upsampler config is not a JSON object", path);
    }
    // LatentUpsampler.from_config defaults
    c->in_channels = 4;
    c->mid_channels = 128;
    c->num_blocks_per_stage = 4;
    c->dims = 2;
    c->spatial_upsample = true;
    const char * s = NULL;
    enum ke_status st;
    json_object * j;
    if ((st = get_str(o, "_class_name", &s, path, err)) == KE_STATUS_OK && s && strcmp(s, "LatentUpsampler") != 0) {
        st = ke_err(err, KE_STATUS_UNSUPPORTED, "%s: config _class_name is '%s', not LatentUpsampler", path, s);
    } else if (st == KE_STATUS_OK && (json_object_object_get_ex(o, "vae", &j) ||
                                      json_object_object_get_ex(o, "latent_channels", &j))) {
        st = ke_err(err, KE_STATUS_UNSUPPORTED, "%s: the config is a VAE's, not a LatentUpsampler's", path);
    }
    if (st == KE_STATUS_OK &&
        ((st = get_int(o, "in_channels", 1, 4096, &c->in_channels, path, err)) != KE_STATUS_OK ||
         (st = get_int(o, "mid_channels", 32, 8192, &c->mid_channels, path, err)) != KE_STATUS_OK ||
         (st = get_int(o, "num_blocks_per_stage", 0, KE_LTX_UPS_MAX_BLOCKS, &c->num_blocks_per_stage, path, err)) !=
             KE_STATUS_OK ||
         (st = get_int(o, "dims", 2, 3, &c->dims, path, err)) != KE_STATUS_OK ||
         (st = get_bool(o, "spatial_upsample", &c->spatial_upsample, path, err)) != KE_STATUS_OK ||
         (st = get_bool(o, "temporal_upsample", &c->temporal_upsample, path, err)) != KE_STATUS_OK)) {
        // error set
    }
    if (st == KE_STATUS_OK && c->mid_channels % 32) {
        st = ke_err(err, KE_STATUS_INVALID, "%s: config mid_channels %d is not a multiple of 32 (GroupNorm(32))", path,
                    c->mid_channels);
    }
    if (st == KE_STATUS_OK && (!c->spatial_upsample || c->temporal_upsample)) {
        st = ke_err(err, KE_STATUS_UNSUPPORTED, "%s: only the spatial upsampler is supported (spatial_upsample true, "
                    "temporal_upsample false)", path);
    }
    json_object_put(o);
    return st;
}
