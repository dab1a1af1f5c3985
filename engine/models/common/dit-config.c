// Kinora engine: Wan DiT hyper-parameters from config.json (official WanModel constructor arguments),
// the weights' "config" metadata, or the tensor shapes (spec §2.8), always checked against the shapes.
#include <json-c/json.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "models/dit/wan.h"

#define KE_DIT_MAX_PATCH 16
#define KE_DIT_MAX_TEXT_LEN 4096   // the official models use 512 tokens

// A config value must be an integer in [lo, hi]: anything else is refused naming the file, the key and
// the range (a cast of 2^40 to int read as "dim 0", 1e9 text tokens as "out of memory").
static enum ke_status get_int(json_object * o, const char * key, int lo, int hi, int * v, const char * path,
                              struct ke_error * err)
{
    json_object * j;
    if (!json_object_object_get_ex(o, key, &j)) {
        return KE_STATUS_OK;
    }
    double d = json_object_get_double(j);
    bool is_num = json_object_is_type(j, json_type_int) || json_object_is_type(j, json_type_double);
    if (!is_num || !isfinite(d) || d != floor(d)) {
        return ke_err(err, KE_STATUS_INVALID, "%s: config key '%s' is %s, not an integer (valid: %d to %d)", path, key,
                      json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN), lo, hi);
    }
    if (json_object_is_type(j, json_type_int)) {
        int64_t i = json_object_get_int64(j);
        uint64_t u = json_object_get_uint64(j);
        if (i < lo || i > hi || (i == INT64_MAX && u > (uint64_t) INT64_MAX)) {
            return ke_err(err, KE_STATUS_INVALID, "%s: config key '%s' is %s, out of range (valid: %d to %d)", path,
                          key, json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN), lo, hi);
        }
        *v = (int) i;
        return KE_STATUS_OK;
    }
    if (d < lo || d > hi) {
        return ke_err(err, KE_STATUS_INVALID, "%s: config key '%s' is %g, out of range (valid: %d to %d)", path, key,
                      d, lo, hi);
    }
    *v = (int) d;
    return KE_STATUS_OK;
}

static enum ke_status get_bool(json_object * o, const char * key, bool * v, const char * path, struct ke_error * err)
{
    json_object * j;
    if (!json_object_object_get_ex(o, key, &j)) {
        return KE_STATUS_OK;
    }
    if (!json_object_is_type(j, json_type_boolean)) {
        return ke_err(err, KE_STATUS_INVALID, "%s: config key '%s' is %s, not true or false", path, key,
                      json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
    }
    *v = json_object_get_boolean(j);
    return KE_STATUS_OK;
}

// Read the config keys the shapes cannot tell (heads, text_len, eps, flags) or that override them.
static enum ke_status read_config(struct ke_dit_config * c, json_object * o, const char * path, struct ke_error * err)
{
    json_object * mt;
    if (json_object_object_get_ex(o, "model_type", &mt)) {
        if (!json_object_is_type(mt, json_type_string)) {
            return ke_err(err, KE_STATUS_INVALID, "%s: config key 'model_type' is not a string (t2v, i2v or ti2v)", path);
        }
        snprintf(c->model_type, sizeof(c->model_type), "%s", json_object_get_string(mt));
    }
    json_object * ps;
    if (json_object_object_get_ex(o, "patch_size", &ps)) {
        if (!json_object_is_type(ps, json_type_array) || json_object_array_length(ps) != 3) {
            return ke_err(err, KE_STATUS_INVALID, "%s: config key 'patch_size' is %s, not a list of 3 integers "
                          "(valid: [1, 1 to %d, 1 to %d])", path, json_object_to_json_string_ext(ps, JSON_C_TO_STRING_PLAIN),
                          KE_DIT_MAX_PATCH, KE_DIT_MAX_PATCH);
        }
        json_object * pw = json_object_new_object();
        if (!pw) {
            return ke_err(err, KE_STATUS_NOMEM, "out of memory");
        }
        static const char * const pk[3] = { "patch_size[0]", "patch_size[1]", "patch_size[2]" };
        int * dst[3] = { &c->patch_t, &c->patch_h, &c->patch_w };
        enum ke_status st = KE_STATUS_OK;
        for (int i = 0; i < 3 && st == KE_STATUS_OK; i++) {
            json_object_object_add(pw, pk[i], json_object_get(json_object_array_get_idx(ps, i)));
            st = get_int(pw, pk[i], 1, i == 0 ? 1 : KE_DIT_MAX_PATCH, dst[i], path, err);
        }
        json_object_put(pw);
        if (st != KE_STATUS_OK) {
            return st;
        }
    }
    const struct {
        const char * key;
        int lo, hi;
        int * v;
    } ints[] = {
        { "in_dim", 1, 4096, &c->in_dim }, { "out_dim", 1, 4096, &c->out_dim },
        { "dim", 2, 65536, &c->dim }, { "ffn_dim", 1, 1 << 20, &c->ffn_dim },
        { "freq_dim", 2, 65536, &c->freq_dim }, { "text_dim", 1, 65536, &c->text_dim },
        { "text_len", 1, KE_DIT_MAX_TEXT_LEN, &c->text_len }, { "num_heads", 1, 4096, &c->num_heads },
        { "num_layers", 1, 1024, &c->num_layers },
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        enum ke_status st = get_int(o, ints[i].key, ints[i].lo, ints[i].hi, ints[i].v, path, err);
        if (st != KE_STATUS_OK) {
            return st;
        }
    }
    json_object * ev;
    if (json_object_object_get_ex(o, "eps", &ev)) {
        double e = json_object_get_double(ev);
        // eps NaN made every norm NaN and the video all NaN with exit 0
        if (!(json_object_is_type(ev, json_type_double) || json_object_is_type(ev, json_type_int)) || !isfinite(e) ||
            e < 1e-12 || e > 0.1) {
            // the lower bound keeps eps a normal float (1e-86 became 0 when cast: a division by zero)
            return ke_err(err, KE_STATUS_INVALID, "%s: config key 'eps' is %s (valid: 1e-12 to 0.1)",
                          path, json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN));
        }
        c->eps = (float) e;
    }
    enum ke_status st;
    if ((st = get_bool(o, "qk_norm", &c->qk_norm, path, err)) != KE_STATUS_OK ||
        (st = get_bool(o, "cross_attn_norm", &c->cross_attn_norm, path, err)) != KE_STATUS_OK) {
        return st;
    }
    return KE_STATUS_OK;
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
    const struct ke_tensor * shaped[] = { hm, pe, hh, f0, te, ti };
    for (size_t i = 0; i < sizeof(shaped) / sizeof(shaped[0]); i++) {
        for (int d = 0; d < shaped[i]->n_dims; d++) {
            if (shaped[i]->ne[d] > (1 << 20)) {
                return ke_err(err, KE_STATUS_SHAPE, "%s: tensor '%s' has a dimension of %lld (at most %d supported)",
                              path, shaped[i]->name, (long long) shaped[i]->ne[d], 1 << 20);
            }
        }
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

    // config text overrides what shapes cannot tell (heads, text_len, eps, flags); its errors name the
    // config.json the loader found (not the index or weights file)
    const char * cpath = path;
    if (!config_json) {
        config_json = ke_tset_meta(w, "config");
        if (ke_tset_meta(w, "config_path")) {
            cpath = ke_tset_meta(w, "config_path");
        }
    }
    if (config_json) {
        json_object * o = json_tokener_parse(config_json);
        if (!o || !json_object_is_type(o, json_type_object)) {
            if (o) {
                json_object_put(o);
            }
            return ke_err(err, KE_STATUS_FORMAT, "%s: the DiT config is not a JSON object", cpath);
        }
        enum ke_status st = read_config(c, o, cpath, err);
        json_object_put(o);
        if (st != KE_STATUS_OK) {
            return st;
        }
    }

    if (c->dim <= 0 || c->num_heads <= 0 || c->dim % c->num_heads != 0 || (c->dim / c->num_heads) % 2 != 0 ||
        c->num_layers <= 0 || c->text_len <= 0 || c->freq_dim <= 0 || c->freq_dim % 2 != 0 || c->in_dim <= 0 ||
        c->out_dim <= 0 || c->patch_t != 1 || c->patch_h <= 0 || c->patch_w <= 0) {
        return ke_err(err, KE_STATUS_INVALID,
                      "%s: unsupported DiT config (dim %d, heads %d, layers %d, text_len %d, freq_dim %d, patch %dx%dx%d): "
                      "dim must split into an even head size, freq_dim must be even, patch_size [1, h, w]",
                      cpath, c->dim, c->num_heads, c->num_layers, c->text_len, c->freq_dim, c->patch_t, c->patch_h,
                      c->patch_w);
    }
    if (c->num_layers != layers) {
        return ke_err(err, KE_STATUS_MISSING, "%s: config says %d layers but the weights have %d (missing blocks.%d.*)",
                      path, c->num_layers, layers, layers < c->num_layers ? layers : c->num_layers);
    }
    return KE_STATUS_OK;
}

double ke_dit_attention_flops(const struct ke_dit_config * c, int F, int H, int W)
{
    const double L = (double) F * (H / c->patch_h) * (W / c->patch_w);
    const double d = c->dim, T = c->text_len;
    return (4 * L * L * d               // self attention scores and values
            + 4 * L * T * d)            // cross attention
           * c->num_layers;
}

double ke_dit_forward_flops(const struct ke_dit_config * c, int F, int H, int W, bool with_context)
{
    const double L = (double) F * (H / c->patch_h) * (W / c->patch_w);
    const double d = c->dim, f = c->ffn_dim, T = c->text_len;
    double blk = 2 * L * d * d * 4      // self q, k, v, o
               + 2 * L * d * d * 2      // cross q, o
               + 4 * L * d * f;         // ffn
    if (with_context) {
        blk += 2 * T * d * d * 2;       // cross k, v of the text
    }
    double outside = 2 * L * d * c->in_dim * c->patch_h * c->patch_w      // patch embedding
                   + 2 * L * d * c->out_dim * c->patch_h * c->patch_w;    // head
    if (with_context) {
        outside += 2 * T * d * (c->text_dim + d);
    }
    return blk * c->num_layers + outside + ke_dit_attention_flops(c, F, H, W);
}
