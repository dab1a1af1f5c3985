// Kinora engine: Wan DiT hyper-parameters from config.json (official WanModel constructor arguments),
// the weights' "config" metadata, or the tensor shapes (spec §2.8), always checked against the shapes.
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "models/dit/wan.h"

static int get_int(json_object * o, const char * key, int def)
{
    json_object * v;
    if (json_object_object_get_ex(o, key, &v) && (json_object_is_type(v, json_type_int) ||
                                                  json_object_is_type(v, json_type_double))) {
        return (int) json_object_get_int64(v);
    }
    return def;
}

static bool get_bool(json_object * o, const char * key, bool def)
{
    json_object * v;
    if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_boolean)) {
        return json_object_get_boolean(v);
    }
    return def;
}

static const struct ke_tensor * find(const struct ke_tensor_set * w, const char * name)
{
    return ke_tset_get(w, name);
}

// Outer-first dim i of t (PyTorch order).
static int64_t dim_of(const struct ke_tensor * t, int i)
{
    return t->ne[t->n_dims - 1 - i];
}

enum ke_status ke_dit_config_from(struct ke_dit_config * c, const struct ke_tensor_set * w,
                                  const char * config_json, struct ke_error * err)
{
    const char * path = ke_tset_path(w);
    memset(c, 0, sizeof(*c));
    // defaults of the official constructor
    c->patch_t = 1;
    c->patch_h = 2;
    c->patch_w = 2;
    c->freq_dim = 256;
    c->text_dim = 4096;
    c->text_len = 512;
    c->eps = 1e-6f;
    c->qk_norm = true;
    c->cross_attn_norm = true;

    // shapes (always available)
    const struct ke_tensor * hm = find(w, "head.modulation");
    const struct ke_tensor * pe = find(w, "patch_embedding.weight");
    const struct ke_tensor * hh = find(w, "head.head.weight");
    const struct ke_tensor * f0 = find(w, "blocks.0.ffn.0.weight");
    const struct ke_tensor * te = find(w, "text_embedding.0.weight");
    const struct ke_tensor * ti = find(w, "time_embedding.0.weight");
    const char * miss = !hm ? "head.modulation" : !pe ? "patch_embedding.weight" : !hh ? "head.head.weight"
                      : !f0 ? "blocks.0.ffn.0.weight" : !te ? "text_embedding.0.weight"
                      : !ti ? "time_embedding.0.weight" : NULL;
    if (miss) {
        return ke_err(err, KE_STATUS_MISSING, "%s: missing tensor '%s' (not a Wan DiT checkpoint?)", path, miss);
    }
    if (hm->n_dims != 3 || pe->n_dims != 5 || hh->n_dims != 2 || f0->n_dims != 2 || te->n_dims != 2 || ti->n_dims != 2) {
        return ke_err(err, KE_STATUS_SHAPE, "%s: unexpected tensor ranks for a Wan DiT", path);
    }
    c->dim = (int) dim_of(hm, 2);
    c->ffn_dim = (int) dim_of(f0, 0);
    c->in_dim = (int) dim_of(pe, 1);
    c->patch_t = (int) dim_of(pe, 2);
    c->patch_h = (int) dim_of(pe, 3);
    c->patch_w = (int) dim_of(pe, 4);
    int pvol = c->patch_t * c->patch_h * c->patch_w;
    c->out_dim = pvol > 0 ? (int) (dim_of(hh, 0) / pvol) : 0;
    c->text_dim = (int) dim_of(te, 1);
    c->freq_dim = (int) dim_of(ti, 1);
    c->num_heads = c->dim / 128 > 0 ? c->dim / 128 : 1;
    int layers = 0;
    char key[96];
    for (;;) {
        snprintf(key, sizeof(key), "blocks.%d.modulation", layers);
        if (!find(w, key)) {
            break;
        }
        layers++;
    }
    c->num_layers = layers;
    snprintf(c->model_type, sizeof(c->model_type), "%s", c->in_dim == 48 ? "ti2v" : c->in_dim == 36 ? "i2v" : "t2v");

    // config text overrides what shapes cannot tell (heads, text_len, eps, flags)
    if (!config_json) {
        config_json = ke_tset_meta(w, "config");
    }
    if (config_json) {
        json_object * o = json_tokener_parse(config_json);
        if (!o || !json_object_is_type(o, json_type_object)) {
            if (o) {
                json_object_put(o);
            }
            return ke_err(err, KE_STATUS_FORMAT, "%s: DiT config is not a JSON object", path);
        }
        json_object * mt;
        if (json_object_object_get_ex(o, "model_type", &mt) && json_object_is_type(mt, json_type_string)) {
            snprintf(c->model_type, sizeof(c->model_type), "%s", json_object_get_string(mt));
        }
        json_object * ps;
        if (json_object_object_get_ex(o, "patch_size", &ps) && json_object_is_type(ps, json_type_array) &&
            json_object_array_length(ps) == 3) {
            c->patch_t = json_object_get_int(json_object_array_get_idx(ps, 0));
            c->patch_h = json_object_get_int(json_object_array_get_idx(ps, 1));
            c->patch_w = json_object_get_int(json_object_array_get_idx(ps, 2));
        }
        c->in_dim = get_int(o, "in_dim", c->in_dim);
        c->out_dim = get_int(o, "out_dim", c->out_dim);
        c->dim = get_int(o, "dim", c->dim);
        c->ffn_dim = get_int(o, "ffn_dim", c->ffn_dim);
        c->freq_dim = get_int(o, "freq_dim", c->freq_dim);
        c->text_dim = get_int(o, "text_dim", c->text_dim);
        c->text_len = get_int(o, "text_len", c->text_len);
        c->num_heads = get_int(o, "num_heads", c->num_heads);
        c->num_layers = get_int(o, "num_layers", c->num_layers);
        json_object * ev;
        if (json_object_object_get_ex(o, "eps", &ev)) {
            c->eps = (float) json_object_get_double(ev);
        }
        c->qk_norm = get_bool(o, "qk_norm", c->qk_norm);
        c->cross_attn_norm = get_bool(o, "cross_attn_norm", c->cross_attn_norm);
        json_object_put(o);
    }

    if (c->dim <= 0 || c->num_heads <= 0 || c->dim % c->num_heads != 0 || (c->dim / c->num_heads) % 2 != 0 ||
        c->num_layers <= 0 || c->text_len <= 0 || c->freq_dim <= 0 || c->freq_dim % 2 != 0 || c->in_dim <= 0 ||
        c->out_dim <= 0 || c->patch_t != 1 || c->patch_h <= 0 || c->patch_w <= 0) {
        return ke_err(err, KE_STATUS_INVALID,
                      "%s: unsupported DiT config (dim %d, heads %d, layers %d, text_len %d, freq_dim %d, patch %dx%dx%d)",
                      path, c->dim, c->num_heads, c->num_layers, c->text_len, c->freq_dim, c->patch_t, c->patch_h,
                      c->patch_w);
    }
    if (c->num_layers != layers) {
        return ke_err(err, KE_STATUS_MISSING, "%s: config says %d layers but the weights have %d (missing blocks.%d.*)",
                      path, c->num_layers, layers, layers < c->num_layers ? layers : c->num_layers);
    }
    return KE_STATUS_OK;
}

double ke_dit_forward_flops(const struct ke_dit_config * c, int F, int H, int W, bool with_context)
{
    const double L = (double) F * (H / c->patch_h) * (W / c->patch_w);
    const double d = c->dim, f = c->ffn_dim, T = c->text_len;
    double blk = 2 * L * d * d * 4      // self q, k, v, o
               + 4 * L * L * d          // self attention scores and values
               + 2 * L * d * d * 2      // cross q, o
               + 4 * L * T * d          // cross attention
               + 4 * L * d * f;         // ffn
    if (with_context) {
        blk += 2 * T * d * d * 2;       // cross k, v of the text
    }
    double outside = 2 * L * d * c->in_dim * c->patch_h * c->patch_w      // patch embedding
                   + 2 * L * d * c->out_dim * c->patch_h * c->patch_w;    // head
    if (with_context) {
        outside += 2 * T * d * (c->text_dim + d);
    }
    return blk * c->num_layers + outside;
}
