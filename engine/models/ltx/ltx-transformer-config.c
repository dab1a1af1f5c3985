// Kinora engine: the LTX-Video transformer's config (Transformer3DModel constructor arguments, as the
// single-file checkpoint's metadata `config` -> `transformer` holds them; Lightricks/LTX-Video 5260738).
// Only the 13B-distilled architecture is implemented; any other setting is refused by name.
#include <json-c/json.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "models/ltx/ltx-transformer.h"

// An integer in [lo, hi] (required: missing is an error).
static enum ke_status get_int(json_object * o, const char * key, int lo, int hi, int * v, bool required,
                              const char * path, struct ke_error * err)
{
    json_object * j;
    if (!json_object_object_get_ex(o, key, &j)) {
        return required ? ke_err(err, KE_STATUS_INVALID, "%s: transformer config has no '%s'", path, key)
                        : KE_STATUS_OK;
    }
    const bool is_num = json_object_is_type(j, json_type_int) || json_object_is_type(j, json_type_double);
    const double d = is_num ? json_object_get_double(j) : 0.0;
    if (!is_num || !isfinite(d) || d != floor(d) || d < lo || d > hi) {
        return ke_err(err, KE_STATUS_INVALID, "%s: transformer config key '%s' is %s (valid: an integer %d to %d)",
                      path, key, json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN), lo, hi);
    }
    *v = (int) d;
    return KE_STATUS_OK;
}

// A finite number in [lo, hi]; JSON null counts as absent.
static enum ke_status get_num(json_object * o, const char * key, double lo, double hi, double * v, bool required,
                              const char * path, struct ke_error * err)
{
    json_object * j;
    if (!json_object_object_get_ex(o, key, &j) || !j) {
        return required ? ke_err(err, KE_STATUS_INVALID, "%s: transformer config has no '%s'", path, key)
                        : KE_STATUS_OK;
    }
    const bool is_num = json_object_is_type(j, json_type_int) || json_object_is_type(j, json_type_double);
    const double d = is_num ? json_object_get_double(j) : 0.0;
    if (!is_num || !isfinite(d) || d < lo || d > hi) {
        return ke_err(err, KE_STATUS_INVALID, "%s: transformer config key '%s' is %s (valid: a number %g to %g)",
                      path, key, json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN), lo, hi);
    }
    *v = d;
    return KE_STATUS_OK;
}

// A string setting that must equal `want` (def: the constructor's default when absent, NULL: none).
static enum ke_status want_str(json_object * o, const char * key, const char * def, const char * want,
                               const char * path, struct ke_error * err)
{
    json_object * j = NULL;
    const char * s = def;
    const bool present = json_object_object_get_ex(o, key, &j) && j;
    if (present) {
        s = json_object_is_type(j, json_type_string) ? json_object_get_string(j) : NULL;
    }
    if (!s || strcmp(s, want) != 0) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: transformer config key '%s' is %s; only \"%s\" is supported",
                      path, key, present ? json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN) : "(the default)",
                      want);
    }
    return KE_STATUS_OK;
}

// A boolean setting that must equal `want` (def when absent).
static enum ke_status want_bool(json_object * o, const char * key, bool def, bool want, const char * path,
                                struct ke_error * err)
{
    json_object * j;
    bool v = def;
    if (json_object_object_get_ex(o, key, &j) && j) {
        if (!json_object_is_type(j, json_type_boolean)) {
            return ke_err(err, KE_STATUS_INVALID, "%s: transformer config key '%s' is %s, not true or false", path,
                          key, json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
        }
        v = json_object_get_boolean(j);
    }
    if (v != want) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: transformer config key '%s' is %s; only %s is supported", path,
                      key, v ? "true" : "false", want ? "true" : "false");
    }
    return KE_STATUS_OK;
}

static enum ke_status parse_section(struct ke_ltx_dit_config * c, json_object * o, const char * path,
                                    struct ke_error * err)
{
    enum ke_status st;
    double eps = 1e-5, tsm = 0.0;
    json_object * j;
    if ((st = get_int(o, "num_layers", 1, 1024, &c->num_layers, true, path, err)) ||
        (st = get_int(o, "num_attention_heads", 1, 1024, &c->num_heads, true, path, err)) ||
        (st = get_int(o, "attention_head_dim", 2, 1024, &c->head_dim, true, path, err)) ||
        (st = get_int(o, "in_channels", 1, 65536, &c->in_channels, true, path, err)) ||
        (st = get_int(o, "caption_channels", 1, 65536, &c->caption_channels, true, path, err)) ||
        (st = get_int(o, "cross_attention_dim", 1, 65536, &c->cross_attention_dim, true, path, err))) {
        return st;
    }
    c->out_channels = c->in_channels;
    if (json_object_object_get_ex(o, "out_channels", &j) && j &&
        (st = get_int(o, "out_channels", 1, 65536, &c->out_channels, true, path, err))) {
        return st;
    }
    if ((st = get_num(o, "norm_eps", 0.0, 1.0, &eps, false, path, err)) ||
        (st = get_num(o, "positional_embedding_theta", 1.0001, 1e9, &c->theta, true, path, err)) ||
        (st = get_num(o, "timestep_scale_multiplier", 0.0, 1e9, &tsm, false, path, err))) {
        return st;
    }
    if ((st = want_str(o, "activation_fn", "geglu", "gelu-approximate", path, err)) ||
        (st = want_str(o, "adaptive_norm", "single_scale_shift", "single_scale_shift", path, err)) ||
        (st = want_str(o, "standardization_norm", "layer_norm", "rms_norm", path, err)) ||
        (st = want_str(o, "qk_norm", NULL, "rms_norm", path, err)) ||
        (st = want_str(o, "positional_embedding_type", "rope", "rope", path, err)) ||
        (st = want_bool(o, "norm_elementwise_affine", true, false, path, err)) ||
        (st = want_bool(o, "attention_bias", false, true, path, err)) ||
        (st = want_bool(o, "only_cross_attention", false, false, path, err)) ||
        (st = want_bool(o, "double_self_attention", false, false, path, err))) {
        return st;
    }
    c->causal_temporal_positioning = false;
    if (json_object_object_get_ex(o, "causal_temporal_positioning", &j) && j) {
        if (!json_object_is_type(j, json_type_boolean)) {
            return ke_err(err, KE_STATUS_INVALID, "%s: transformer config key 'causal_temporal_positioning' is %s, "
                          "not true or false", path, json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
        }
        c->causal_temporal_positioning = json_object_get_boolean(j);
    }
    json_object * mp;
    if (!json_object_object_get_ex(o, "positional_embedding_max_pos", &mp) || !mp ||
        !json_object_is_type(mp, json_type_array) || json_object_array_length(mp) != 3) {
        return ke_err(err, KE_STATUS_INVALID, "%s: transformer config key 'positional_embedding_max_pos' is missing "
                      "or not a list of 3 numbers", path);
    }
    for (int i = 0; i < 3; i++) {
        json_object * e = json_object_array_get_idx(mp, (size_t) i);
        const bool is_num = e && (json_object_is_type(e, json_type_int) || json_object_is_type(e, json_type_double));
        const double d = is_num ? json_object_get_double(e) : 0.0;
        if (!is_num || !isfinite(d) || d <= 0.0 || d > 1e9) {
            return ke_err(err, KE_STATUS_INVALID, "%s: transformer config key 'positional_embedding_max_pos' item %d "
                          "is not a number in (0, 1e9]", path, i);
        }
        c->max_pos[i] = d;
    }
    const int64_t inner = (int64_t) c->num_heads * c->head_dim;
    if (inner > 65536 || inner % 2 != 0) {
        return ke_err(err, KE_STATUS_INVALID, "%s: transformer config: %d heads x %d gives an inner dim of %lld "
                      "(valid: even, at most 65536)", path, c->num_heads, c->head_dim, (long long) inner);
    }
    if (c->cross_attention_dim != inner) {
        // attn2's K/V read the caption projection, whose width is the inner dim
        return ke_err(err, KE_STATUS_INVALID, "%s: transformer config key 'cross_attention_dim' is %d; the caption "
                      "projection gives %lld (the inner dim)", path, c->cross_attention_dim, (long long) inner);
    }
    c->inner_dim = (int) inner;
    c->ffn_dim = 4 * c->inner_dim;
    c->freq_dim = 256;
    c->norm_eps = (float) eps;
    c->qk_eps = 1e-5f;
    c->timestep_scale = tsm > 0.0 ? tsm : 1.0;
    return KE_STATUS_OK;
}

enum ke_status ke_ltx_dit_config_parse(struct ke_ltx_dit_config * cfg, const char * json, const char * path,
                                       struct ke_error * err)
{
    memset(cfg, 0, sizeof(*cfg));
    if (!json) {
        return ke_err(err, KE_STATUS_MISSING, "%s: no transformer config (metadata 'config')", path);
    }
    json_tokener * tok = json_tokener_new();
    if (!tok) {
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    json_object * root = json_tokener_parse_ex(tok, json, (int) strnlen(json, INT32_MAX));
    const enum json_tokener_error je = json_tokener_get_error(tok);
    json_tokener_free(tok);
    if (!root || je != json_tokener_success || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return ke_err(err, KE_STATUS_INVALID, "%s: the transformer config is not a JSON object", path);
    }
    json_object * sec = root;
    json_object * t;
    if (json_object_object_get_ex(root, "transformer", &t)) {
        if (!t || !json_object_is_type(t, json_type_object)) {
            json_object_put(root);
            return ke_err(err, KE_STATUS_INVALID, "%s: config member 'transformer' is not a JSON object", path);
        }
        sec = t;
    }
    const enum ke_status st = parse_section(cfg, sec, path, err);
    json_object_put(root);
    return st;
}
