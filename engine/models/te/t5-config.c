// Kinora engine: a Hugging Face T5/UMT5 config.json (transformers T5Config fields) checked against the sizes
// the encoder read from its tensor shapes; it supplies what shapes cannot tell (max distance, epsilon).
#include <float.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "models/te/umt5.h"

// An integer key in [lo, hi], or absent (*found false).
static enum ke_status get_int(json_object * o, const char * key, int64_t lo, int64_t hi, int64_t * v, bool * found,
                              const char * path, struct ke_error * err)
{
    json_object * j;
    *found = false;
    if (!json_object_object_get_ex(o, key, &j)) {
        return KE_STATUS_OK;
    }
    if (!json_object_is_type(j, json_type_int)) {
        return ke_err(err, KE_STATUS_INVALID, "%s: config key '%s' is %s, not an integer", path, key,
                      json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
    }
    int64_t i = json_object_get_int64(j);
    if (i < lo || i > hi || (i == INT64_MAX && json_object_get_uint64(j) > (uint64_t) INT64_MAX)) {
        return ke_err(err, KE_STATUS_INVALID, "%s: config key '%s' is %s, out of range (valid: %lld to %lld)", path,
                      key, json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN), (long long) lo, (long long) hi);
    }
    *v = i;
    *found = true;
    return KE_STATUS_OK;
}

// A string key, or NULL when absent; err set when present but not a string.
static const char * get_str(json_object * o, const char * key, const char * path, struct ke_error * err,
                            enum ke_status * st)
{
    json_object * j;
    if (!json_object_object_get_ex(o, key, &j)) {
        return NULL;
    }
    if (!json_object_is_type(j, json_type_string)) {
        *st = ke_err(err, KE_STATUS_INVALID, "%s: config key '%s' is %s, not a string", path, key,
                     json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
        return NULL;
    }
    return json_object_get_string(j);
}

static enum ke_status check(struct ke_umt5_config * c, json_object * o, const char * path, struct ke_error * err)
{
    enum ke_status st = KE_STATUS_OK;
    const char * mt = get_str(o, "model_type", path, err, &st);
    const char * ff = st == KE_STATUS_OK ? get_str(o, "feed_forward_proj", path, err, &st) : NULL;
    const char * act = st == KE_STATUS_OK ? get_str(o, "dense_act_fn", path, err, &st) : NULL;
    if (st != KE_STATUS_OK) {
        return st;
    }
    if (mt && strcmp(mt, "t5") != 0 && strcmp(mt, "umt5") != 0) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: config model_type '%s' is not a T5 encoder (t5 or umt5)", path,
                      mt);
    }
    // T5 v1.1 and UMT5 differ in where the relative bias lives; the tensors said which this is
    if (mt && (strcmp(mt, "t5") == 0) != c->shared_pos) {
        return ke_err(err, KE_STATUS_SHAPE, "%s: config model_type '%s' but the weights hold %s", path, mt,
                      c->shared_pos ? "one relative_attention_bias (T5)" : "one relative_attention_bias per block (UMT5)");
    }
    // transformers' T5Config defaults to "relu" (T5 v1.0): only the gated GELU of v1.1/UMT5 is implemented
    if (!ff || strcmp(ff, "gated-gelu") != 0) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: config feed_forward_proj is '%s' (only gated-gelu, T5 v1.1)",
                      path, ff ? ff : "relu (absent)");
    }
    if (act && strcmp(act, "gelu_new") != 0 && strcmp(act, "gelu_pytorch_tanh") != 0) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: config dense_act_fn '%s' (only the tanh GELU: gelu_new)", path,
                      act);
    }
    json_object * g;
    if (json_object_object_get_ex(o, "is_gated_act", &g) &&
        (!json_object_is_type(g, json_type_boolean) || !json_object_get_boolean(g))) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: config is_gated_act is %s (only the gated FFN)", path,
                      json_object_to_json_string_ext(g, JSON_C_TO_STRING_PLAIN));
    }
    // sizes the shapes gave must agree with the config
    struct {
        const char * key;
        int64_t have;
    } sizes[] = {
        { "d_model", c->dim },           { "num_heads", c->n_heads },   { "d_ff", c->dim_ffn },
        { "num_layers", c->n_layers },   { "vocab_size", c->vocab },    { "relative_attention_num_buckets", c->n_buckets },
    };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        int64_t v;
        bool found;
        if ((st = get_int(o, sizes[i].key, 1, INT32_MAX, &v, &found, path, err)) != KE_STATUS_OK) {
            return st;
        }
        if (found && v != sizes[i].have) {
            return ke_err(err, KE_STATUS_SHAPE, "%s: config %s is %lld but the weights give %lld", path, sizes[i].key,
                          (long long) v, (long long) sizes[i].have);
        }
    }
    int64_t d_kv;
    bool found;
    if ((st = get_int(o, "d_kv", 1, 1 << 20, &d_kv, &found, path, err)) != KE_STATUS_OK) {
        return st;
    }
    if (found && d_kv * c->n_heads != c->dim_attn) {
        return ke_err(err, KE_STATUS_SHAPE, "%s: config d_kv %lld x %d heads is not the weights' inner dim %lld", path,
                      (long long) d_kv, c->n_heads, (long long) c->dim_attn);
    }
    int64_t md;
    if ((st = get_int(o, "relative_attention_max_distance", 1, 1 << 20, &md, &found, path, err)) != KE_STATUS_OK) {
        return st;
    }
    int max_dist = found ? (int) md : 128;   // T5Config's default
    if (max_dist < c->n_buckets / 4) {
        // buckets saturate before the exact range ends: log(max_dist / max_exact) <= 0
        return ke_err(err, KE_STATUS_INVALID, "%s: config relative_attention_max_distance %d is below %d buckets / 4",
                      path, max_dist, c->n_buckets);
    }
    float eps = 1e-6f;
    json_object * e;
    if (json_object_object_get_ex(o, "layer_norm_epsilon", &e)) {
        double d = json_object_get_double(e);
        if ((!json_object_is_type(e, json_type_double) && !json_object_is_type(e, json_type_int)) || !isfinite(d) ||
            d < FLT_MIN || d >= 1) {
            // below FLT_MIN it would round to 0 (or a denormal) in float32 (found by fuzzing: 1e-46)
            return ke_err(err, KE_STATUS_INVALID, "%s: config layer_norm_epsilon is %s (valid: 1.2e-38 to below 1)", path,
                          json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
        }
        eps = (float) d;
    }
    c->max_dist = max_dist;
    c->eps = eps;
    return KE_STATUS_OK;
}

enum ke_status ke_t5_config_apply(struct ke_umt5_config * c, const char * json, const char * path,
                                  struct ke_error * err)
{
    json_tokener * tk = json_tokener_new_ex(16);
    if (!tk) {
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
    }
    json_object * o = json_tokener_parse_ex(tk, json, (int) strnlen(json, 1 << 20));
    enum json_tokener_error je = json_tokener_get_error(tk);
    json_tokener_free(tk);
    if (!o || je != json_tokener_success || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return ke_err(err, KE_STATUS_FORMAT, "%s: the T5 config is not a JSON object", path);
    }
    enum ke_status st = check(c, o, path, err);
    json_object_put(o);
    return st;
}
