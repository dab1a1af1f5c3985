// Kinora engine: the built-in tiny test model: the real TI2V-5B architecture (DiT, Wan2.2 VAE, UMT5) at
// tiny sizes with random weights made deterministically from a fixed seed, plus a byte-level tokenizer.
// Its output is noise-like by construction: it exists for tests, demos and the GUI without a download.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/tensor.h"
#include "models/dit/wan.h"
#include "pipeline/tiny-impl.h"
#include "sampling/sampling.h"

#define TINY_SEED 0x4b696e6f72610001ull

// --- dims legend -------------------------------------------------------------------------------------
// DiT: dim 64, ffn 128, 2 heads, 2 layers, text_dim 32, text_len 32, in/out 48 (TI2V layout).
// VAE: Wan2.2 layout, encoder base 8, decoder base 12, z 48. T5: vocab 258, dim 32, 4 heads, 2 layers.
enum { T_DIM = 64, T_FFN = 128, T_HEADS = 2, T_LAYERS = 2, T_TEXT_DIM = 32, T_TEXT_LEN = 32, T_Z = 48 };
enum { T5_VOCAB = 258, T5_DIM = 32, T5_FFN = 64, T5_HEADS = 4, T5_LAYERS = 2, T5_BUCKETS = 32 };

enum init_kind { INIT_WEIGHT, INIT_BIAS, INIT_GAIN, INIT_EMBED, INIT_SMALL };

static uint64_t name_hash(const char * s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h = (h ^ (unsigned char) *s) * 1099511628211ull;
    }
    return h;
}

// How random weights are made: the tiny model uses float32 and mt19937 normals; the benchmark's
// full-size models use bf16, a fast uniform generator of the same variance, and may let every block
// reuse block 0's tensors (same compute, a fraction of the memory).
static const struct ke_random_opts tiny_opts = { KE_DTYPE_F32, false, false, false };
static _Thread_local const struct ke_random_opts * g_opts = &tiny_opts;

static void fill_fast(float * p, int64_t n, uint64_t seed)
{
    uint64_t x = seed | 1;
    for (int64_t i = 0; i < n; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        uint64_t r = x * 2685821657736338717ull;
        // uniform on [-sqrt(3), sqrt(3)): unit variance
        p[i] = ((float) (r >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * 1.7320508f;
    }
}

// Add one tensor filled from a generator seeded by its name.
static enum ke_status add(struct ke_tensor_set * s, const char * name, int nd, const int64_t * shape,
                          enum init_kind kind, float gain, struct ke_error * err)
{
    const struct ke_random_opts * o = g_opts;
    int64_t n = 1;
    for (int d = 0; d < nd; d++) {
        n *= shape[d];
    }
    // blocks.N.x with N > 0 may alias blocks.0.x
    int blk = -1, off = 0;
    if (o->share_blocks && sscanf(name, "blocks.%d.%n", &blk, &off) == 1 && blk > 0 && off > 0) {
        char first[256];
        snprintf(first, sizeof(first), "blocks.0.%s", name + off);
        const struct ke_tensor * t0 = ke_tset_get(s, first);
        if (t0 && ke_tensor_nelements(t0) == n) {
            return ke_tset_add(s, name, t0->type, nd, shape, t0->data, err) ? KE_STATUS_OK : KE_STATUS_NOMEM;
        }
    }
    const enum ke_dtype type = o->type;
    if (o->shapes_only) {
        // names, shapes and dtype only (a writer streams the data itself)
        return ke_tset_add(s, name, type, nd, shape, NULL, err) ? KE_STATUS_OK : KE_STATUS_NOMEM;
    }
    const size_t es = ke_dtype_size(type);
    void * mem = (kind == INIT_EMBED && o->zero_embedding) ? calloc((size_t) n, es) : malloc((size_t) n * es);
    if (!mem || ke_tset_own_malloc(s, mem) != 0) {
        free(mem);
        return ke_err(err, KE_STATUS_NOMEM, "random weights: out of memory for '%s' (%lld values)", name, (long long) n);
    }
    if (!(kind == INIT_EMBED && o->zero_embedding)) {
        int64_t fan_in = nd > 1 ? n / shape[0] : 1;
        float sd = 1.0f;
        switch (kind) {
        case INIT_WEIGHT: sd = 1.0f / sqrtf((float) fan_in); break;
        case INIT_BIAS:   sd = 0.05f; break;
        case INIT_GAIN:   sd = 0.1f; break;
        case INIT_EMBED:  sd = 1.0f; break;
        case INIT_SMALL:  sd = 0.1f; break;
        }
        const float add1 = kind == INIT_GAIN ? 1.0f : 0.0f;
        const int64_t chunk = 1 << 16;
        float * buf = type == KE_DTYPE_F32 ? mem : malloc(sizeof(float) * (size_t) (n < chunk ? n : chunk));
        if (!buf) {
            return ke_err(err, KE_STATUS_NOMEM, "random weights: out of memory");
        }
        struct ke_rng r;
        const uint64_t seed = TINY_SEED ^ name_hash(name);
        if (type == KE_DTYPE_F32) {
            ke_rng_seed(&r, seed);
            ke_randn(&r, buf, n);
            for (int64_t i = 0; i < n; i++) {
                buf[i] = buf[i] * sd * gain + add1;
            }
        } else {
            uint16_t * dst = mem;
            for (int64_t b = 0; b < n; b += chunk) {
                const int64_t m = n - b < chunk ? n - b : chunk;
                fill_fast(buf, m, seed + (uint64_t) b);
                for (int64_t i = 0; i < m; i++) {
                    dst[b + i] = ke_f32_to_bf16(buf[i] * sd * gain + add1);
                }
            }
            free(buf);
        }
    }
    if (!ke_tset_add(s, name, type, nd, shape, mem, err)) {
        return KE_STATUS_NOMEM;
    }
    return KE_STATUS_OK;
}

// Format a tensor name into the local buffer n (names are short; refuse rather than truncate).
#define NAME(...) do { \
        if (snprintf(n, sizeof(n), __VA_ARGS__) >= (int) sizeof(n)) { \
            return ke_err(err, KE_STATUS_INVALID, "tiny model: name too long"); \
        } \
    } while (0)

#define ADD(name, kind, gain, ...) do { \
        const int64_t sh_[] = { __VA_ARGS__ }; \
        st = add(s, name, (int) (sizeof(sh_) / sizeof(sh_[0])), sh_, kind, gain, err); \
        if (st != KE_STATUS_OK) { goto fail; } \
    } while (0)

static enum ke_status linear(struct ke_tensor_set * s, const char * pfx, int64_t out, int64_t in, bool bias,
                             float gain, struct ke_error * err)
{
    char n[256];
    enum ke_status st;
    NAME("%s.weight", pfx);
    ADD(n, INIT_WEIGHT, gain, out, in);
    if (bias) {
        NAME("%s.bias", pfx);
        ADD(n, INIT_BIAS, 1.0f, out);
    }
    return KE_STATUS_OK;
fail:
    return st;
}

static enum ke_status random_dit(struct ke_tensor_set ** out, const struct ke_dit_config * c, struct ke_error * err)
{
    struct ke_tensor_set * s = ke_tset_new("random DiT weights");
    enum ke_status st = KE_STATUS_NOMEM;
    char n[256];
    if (!s) {
        return ke_err(err, st, "tiny model: out of memory");
    }
    ADD("patch_embedding.weight", INIT_WEIGHT, 1.0f, c->dim, c->in_dim, 1, 2, 2);
    ADD("patch_embedding.bias", INIT_BIAS, 1.0f, c->dim);
    if ((st = linear(s, "text_embedding.0", c->dim, c->text_dim, true, 1.0f, err)) ||
        (st = linear(s, "text_embedding.2", c->dim, c->dim, true, 1.0f, err)) ||
        (st = linear(s, "time_embedding.0", c->dim, c->freq_dim, true, 1.0f, err)) ||
        (st = linear(s, "time_embedding.2", c->dim, c->dim, true, 1.0f, err)) ||
        (st = linear(s, "time_projection.1", 6 * c->dim, c->dim, true, 0.5f, err)) ||
        (st = linear(s, "head.head", 4 * c->out_dim, c->dim, true, 1.0f, err))) {
        goto fail;
    }
    ADD("head.modulation", INIT_SMALL, 1.0f, 1, 2, c->dim);
    for (int b = 0; b < c->num_layers; b++) {
        static const char * const att[2] = { "self_attn", "cross_attn" };
        static const char * const prj[4] = { "q", "k", "v", "o" };
        for (int a = 0; a < 2; a++) {
            for (int p = 0; p < 4; p++) {
                NAME("blocks.%d.%s.%s", b, att[a], prj[p]);
                if ((st = linear(s, n, c->dim, c->dim, true, 1.0f, err))) {
                    goto fail;
                }
            }
            NAME("blocks.%d.%s.norm_q.weight", b, att[a]);
            ADD(n, INIT_GAIN, 1.0f, c->dim);
            NAME("blocks.%d.%s.norm_k.weight", b, att[a]);
            ADD(n, INIT_GAIN, 1.0f, c->dim);
        }
        NAME("blocks.%d.norm3.weight", b);
        ADD(n, INIT_GAIN, 1.0f, c->dim);
        NAME("blocks.%d.norm3.bias", b);
        ADD(n, INIT_BIAS, 1.0f, c->dim);
        NAME("blocks.%d.ffn.0", b);
        if ((st = linear(s, n, c->ffn_dim, c->dim, true, 1.0f, err))) {
            goto fail;
        }
        NAME("blocks.%d.ffn.2", b);
        if ((st = linear(s, n, c->dim, c->ffn_dim, true, 1.0f, err))) {
            goto fail;
        }
        NAME("blocks.%d.modulation", b);
        ADD(n, INIT_SMALL, 1.0f, 1, 6, c->dim);
    }
    char cfg[512];
    snprintf(cfg, sizeof(cfg),
             "{\"model_type\": \"%s\", \"patch_size\": [1, 2, 2], \"text_len\": %d, \"in_dim\": %d, \"dim\": %d, "
             "\"ffn_dim\": %d, \"freq_dim\": %d, \"text_dim\": %d, \"out_dim\": %d, \"num_heads\": %d, "
             "\"num_layers\": %d, \"window_size\": [-1, -1], \"qk_norm\": true, \"cross_attn_norm\": true, "
             "\"eps\": 1e-06}", c->model_type, c->text_len, c->in_dim, c->dim, c->ffn_dim, c->freq_dim, c->text_dim,
             c->out_dim, c->num_heads, c->num_layers);
    if (ke_tset_set_meta(s, "config", cfg) < 0) {
        st = ke_err(err, KE_STATUS_NOMEM, "random DiT weights: out of memory for the config (%zu bytes)", strlen(cfg));
        goto fail;
    }
    *out = s;
    return KE_STATUS_OK;
fail:
    ke_tset_free(s);
    return st ? st : KE_STATUS_NOMEM;
}

enum ke_status ke_random_dit_weights(struct ke_tensor_set ** out, const struct ke_dit_config * c,
                                     const struct ke_random_opts * o, struct ke_error * err)
{
    g_opts = o ? o : &tiny_opts;
    enum ke_status st = random_dit(out, c, err);
    g_opts = &tiny_opts;
    return st;
}

void ke_random_dit_config(struct ke_dit_config * c, const char * model_type, int z, int dim, int ffn_dim, int text_dim,
                          int text_len, int heads, int layers)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->model_type, sizeof(c->model_type), "%s", model_type);
    c->patch_t = 1;
    c->patch_h = c->patch_w = 2;
    c->in_dim = c->out_dim = z;
    c->dim = dim;
    c->ffn_dim = ffn_dim;
    c->freq_dim = 256;
    c->text_dim = text_dim;
    c->text_len = text_len;
    c->num_heads = heads;
    c->num_layers = layers;
    c->eps = 1e-6f;
    c->qk_norm = c->cross_attn_norm = true;
}

enum ke_status ke_tiny_dit_weights(struct ke_tensor_set ** out, struct ke_error * err)
{
    struct ke_dit_config c;
    ke_random_dit_config(&c, "ti2v", T_Z, T_DIM, T_FFN, T_TEXT_DIM, T_TEXT_LEN, T_HEADS, T_LAYERS);
    return ke_random_dit_weights(out, &c, NULL, err);
}

// --- VAE (Wan2.2 layout) -----------------------------------------------------------------------------

static enum ke_status conv(struct ke_tensor_set * s, const char * pfx, int64_t co, int64_t ci, int kt, int k2d,
                           float gain, struct ke_error * err)
{
    char n[256];
    enum ke_status st;
    NAME("%s.weight", pfx);
    if (kt == 0) {
        ADD(n, INIT_WEIGHT, gain, co, ci, k2d, k2d);
    } else {
        ADD(n, INIT_WEIGHT, gain, co, ci, kt, k2d, k2d);
    }
    NAME("%s.bias", pfx);
    ADD(n, INIT_BIAS, 1.0f, co);
    return KE_STATUS_OK;
fail:
    return st;
}

static enum ke_status res_block(struct ke_tensor_set * s, const char * pfx, int64_t ci, int64_t co,
                                struct ke_error * err)
{
    char n[256];
    enum ke_status st;
    NAME("%s.residual.0.gamma", pfx);
    ADD(n, INIT_GAIN, 1.0f, ci, 1, 1, 1);
    NAME("%s.residual.2", pfx);
    if ((st = conv(s, n, co, ci, 3, 3, 1.0f, err))) {
        goto fail;
    }
    NAME("%s.residual.3.gamma", pfx);
    ADD(n, INIT_GAIN, 1.0f, co, 1, 1, 1);
    NAME("%s.residual.6", pfx);
    if ((st = conv(s, n, co, co, 3, 3, 1.0f, err))) {
        goto fail;
    }
    if (ci != co) {
        NAME("%s.shortcut", pfx);
        if ((st = conv(s, n, co, ci, 1, 1, 1.0f, err))) {
            goto fail;
        }
    }
    return KE_STATUS_OK;
fail:
    return st;
}

static enum ke_status middle(struct ke_tensor_set * s, const char * side, int64_t C, struct ke_error * err)
{
    char n[256];
    enum ke_status st;
    NAME("%s.middle.0", side);
    if ((st = res_block(s, n, C, C, err))) {
        return st;
    }
    NAME("%s.middle.1.norm.gamma", side);
    ADD(n, INIT_GAIN, 1.0f, C, 1, 1);
    NAME("%s.middle.1.to_qkv", side);
    if ((st = conv(s, n, 3 * C, C, 0, 1, 1.0f, err))) {
        return st;
    }
    NAME("%s.middle.1.proj", side);
    if ((st = conv(s, n, C, C, 0, 1, 1.0f, err))) {
        return st;
    }
    NAME("%s.middle.2", side);
    return res_block(s, n, C, C, err);
fail:
    return st;
}

static enum ke_status random_vae22(struct ke_tensor_set ** out, int dim, int dec_dim, int z, struct ke_error * err)
{
    struct ke_tensor_set * s = ke_tset_new("random Wan2.2 VAE weights");
    enum ke_status st = KE_STATUS_NOMEM;
    char n[256];
    if (!s) {
        return ke_err(err, st, "tiny model: out of memory");
    }
    static const int mult[4] = { 1, 2, 4, 4 };
    static const bool t_down[3] = { false, true, true };
    // encoder: widths dim * [1, 1, 2, 4, 4]
    int ed[5] = { dim, dim * mult[0], dim * mult[1], dim * mult[2], dim * mult[3] };
    if ((st = conv(s, "encoder.conv1", ed[0], 12, 3, 3, 1.0f, err))) {
        goto fail;
    }
    for (int i = 0; i < 4; i++) {
        int ci = ed[i], co = ed[i + 1];
        for (int j = 0; j < 2; j++) {
            NAME("encoder.downsamples.%d.downsamples.%d", i, j);
            if ((st = res_block(s, n, ci, co, err))) {
                goto fail;
            }
            ci = co;
        }
        if (i != 3) {
            NAME("encoder.downsamples.%d.downsamples.2.resample.1", i);
            if ((st = conv(s, n, co, co, 0, 3, 1.0f, err))) {
                goto fail;
            }
            if (t_down[i]) {
                NAME("encoder.downsamples.%d.downsamples.2.time_conv", i);
                if ((st = conv(s, n, co, co, 3, 1, 1.0f, err))) {
                    goto fail;
                }
            }
        }
    }
    if ((st = middle(s, "encoder", ed[4], err))) {
        goto fail;
    }
    ADD("encoder.head.0.gamma", INIT_GAIN, 1.0f, ed[4], 1, 1, 1);
    if ((st = conv(s, "encoder.head.2", 2 * z, ed[4], 3, 3, 1.0f, err)) ||
        (st = conv(s, "conv1", 2 * z, 2 * z, 1, 1, 1.0f, err)) ||
        (st = conv(s, "conv2", z, z, 1, 1, 1.0f, err))) {
        goto fail;
    }
    // decoder: widths dec_dim * [4, 4, 4, 2, 1]; temporal upsampling in stages 0 and 1
    int dd[5] = { dec_dim * mult[3], dec_dim * mult[3], dec_dim * mult[2], dec_dim * mult[1], dec_dim * mult[0] };
    if ((st = conv(s, "decoder.conv1", dd[0], z, 3, 3, 1.0f, err))) {
        goto fail;
    }
    if ((st = middle(s, "decoder", dd[0], err))) {
        goto fail;
    }
    for (int i = 0; i < 4; i++) {
        int ci = dd[i], co = dd[i + 1];
        for (int j = 0; j < 3; j++) {
            NAME("decoder.upsamples.%d.upsamples.%d", i, j);
            if ((st = res_block(s, n, ci, co, err))) {
                goto fail;
            }
            ci = co;
        }
        if (i != 3) {
            NAME("decoder.upsamples.%d.upsamples.3.resample.1", i);
            if ((st = conv(s, n, co, co, 0, 3, 1.0f, err))) {
                goto fail;
            }
            if (t_down[2 - i]) {
                NAME("decoder.upsamples.%d.upsamples.3.time_conv", i);
                if ((st = conv(s, n, 2 * co, co, 3, 1, 1.0f, err))) {
                    goto fail;
                }
            }
        }
    }
    ADD("decoder.head.0.gamma", INIT_GAIN, 1.0f, dd[4], 1, 1, 1);
    // the last conv is scaled down so the output stays mostly inside [-1, 1]
    if ((st = conv(s, "decoder.head.2", 12, dd[4], 3, 3, 0.5f, err))) {
        goto fail;
    }
    *out = s;
    return KE_STATUS_OK;
fail:
    ke_tset_free(s);
    return st ? st : KE_STATUS_NOMEM;
}

enum ke_status ke_random_vae22_weights(struct ke_tensor_set ** out, int dim, int dec_dim, int z,
                                       const struct ke_random_opts * o, struct ke_error * err)
{
    g_opts = o ? o : &tiny_opts;
    enum ke_status st = random_vae22(out, dim, dec_dim, z, err);
    g_opts = &tiny_opts;
    return st;
}

enum ke_status ke_tiny_vae_weights(struct ke_tensor_set ** out, struct ke_error * err)
{
    return ke_random_vae22_weights(out, 8, 12, T_Z, NULL, err);
}

// --- VAE (Wan2.1 layout: flat block lists, up-sampling convs halve the channels) ---------------------

static enum ke_status random_vae21(struct ke_tensor_set ** out, int dim, int z, struct ke_error * err)
{
    struct ke_tensor_set * s = ke_tset_new("random Wan2.1 VAE weights");
    enum ke_status st = KE_STATUS_NOMEM;
    char n[256];
    if (!s) {
        return ke_err(err, st, "random weights: out of memory");
    }
    static const int mult[4] = { 1, 2, 4, 4 };
    static const bool t_down[3] = { false, true, true };
    int ed[5] = { dim, dim * mult[0], dim * mult[1], dim * mult[2], dim * mult[3] };
    if ((st = conv(s, "encoder.conv1", ed[0], 3, 3, 3, 1.0f, err))) {
        goto fail;
    }
    int k = 0;
    for (int i = 0; i < 4; i++) {
        int ci = ed[i], co = ed[i + 1];
        for (int j = 0; j < 2; j++) {
            NAME("encoder.downsamples.%d", k++);
            if ((st = res_block(s, n, ci, co, err))) {
                goto fail;
            }
            ci = co;
        }
        if (i != 3) {
            NAME("encoder.downsamples.%d.resample.1", k);
            if ((st = conv(s, n, co, co, 0, 3, 1.0f, err))) {
                goto fail;
            }
            if (t_down[i]) {
                NAME("encoder.downsamples.%d.time_conv", k);
                if ((st = conv(s, n, co, co, 3, 1, 1.0f, err))) {
                    goto fail;
                }
            }
            k++;
        }
    }
    if ((st = middle(s, "encoder", ed[4], err))) {
        goto fail;
    }
    ADD("encoder.head.0.gamma", INIT_GAIN, 1.0f, ed[4], 1, 1, 1);
    if ((st = conv(s, "encoder.head.2", 2 * z, ed[4], 3, 3, 1.0f, err)) ||
        (st = conv(s, "conv1", 2 * z, 2 * z, 1, 1, 1.0f, err)) ||
        (st = conv(s, "conv2", z, z, 1, 1, 1.0f, err))) {
        goto fail;
    }
    int dd[5] = { dim * mult[3], dim * mult[3], dim * mult[2], dim * mult[1], dim * mult[0] };
    if ((st = conv(s, "decoder.conv1", dd[0], z, 3, 3, 1.0f, err)) || (st = middle(s, "decoder", dd[0], err))) {
        goto fail;
    }
    k = 0;
    int ci = dd[0];
    for (int i = 0; i < 4; i++) {
        const int co = dd[i + 1];
        if (i > 0) {
            ci /= 2;        // the previous stage's up-sampling conv halved the channels
        }
        for (int j = 0; j < 3; j++) {
            NAME("decoder.upsamples.%d", k++);
            if ((st = res_block(s, n, ci, co, err))) {
                goto fail;
            }
            ci = co;
        }
        if (i != 3) {
            NAME("decoder.upsamples.%d.resample.1", k);
            if ((st = conv(s, n, co / 2, co, 0, 3, 1.0f, err))) {
                goto fail;
            }
            if (t_down[2 - i]) {
                NAME("decoder.upsamples.%d.time_conv", k);
                if ((st = conv(s, n, 2 * co, co, 3, 1, 1.0f, err))) {
                    goto fail;
                }
            }
            k++;
        }
    }
    ADD("decoder.head.0.gamma", INIT_GAIN, 1.0f, dd[4], 1, 1, 1);
    if ((st = conv(s, "decoder.head.2", 3, dd[4], 3, 3, 0.5f, err))) {
        goto fail;
    }
    *out = s;
    return KE_STATUS_OK;
fail:
    ke_tset_free(s);
    return st ? st : KE_STATUS_NOMEM;
}

enum ke_status ke_random_vae21_weights(struct ke_tensor_set ** out, int dim, int z, const struct ke_random_opts * o,
                                       struct ke_error * err)
{
    g_opts = o ? o : &tiny_opts;
    enum ke_status st = random_vae21(out, dim, z, err);
    g_opts = &tiny_opts;
    return st;
}

// --- UMT5 ----------------------------------------------------------------------------------------------

static enum ke_status random_t5(struct ke_tensor_set ** out, int64_t vocab, int64_t dim, int64_t ffn, int heads,
                                int layers, struct ke_error * err)
{
    struct ke_tensor_set * s = ke_tset_new("random UMT5 weights");
    enum ke_status st = KE_STATUS_NOMEM;
    char n[256];
    if (!s) {
        return ke_err(err, st, "tiny model: out of memory");
    }
    ADD("token_embedding.weight", INIT_EMBED, 1.0f, vocab, dim);
    ADD("norm.weight", INIT_GAIN, 1.0f, dim);
    for (int b = 0; b < layers; b++) {
        static const char * const prj[4] = { "q", "k", "v", "o" };
        NAME("blocks.%d.norm1.weight", b);
        ADD(n, INIT_GAIN, 1.0f, dim);
        NAME("blocks.%d.norm2.weight", b);
        ADD(n, INIT_GAIN, 1.0f, dim);
        for (int p = 0; p < 4; p++) {
            NAME("blocks.%d.attn.%s", b, prj[p]);
            if ((st = linear(s, n, dim, dim, false, 1.0f, err))) {
                goto fail;
            }
        }
        NAME("blocks.%d.ffn.gate.0", b);
        if ((st = linear(s, n, ffn, dim, false, 1.0f, err))) {
            goto fail;
        }
        NAME("blocks.%d.ffn.fc1", b);
        if ((st = linear(s, n, ffn, dim, false, 1.0f, err))) {
            goto fail;
        }
        NAME("blocks.%d.ffn.fc2", b);
        if ((st = linear(s, n, dim, ffn, false, 1.0f, err))) {
            goto fail;
        }
        NAME("blocks.%d.pos_embedding.embedding.weight", b);
        ADD(n, INIT_SMALL, 5.0f, 32, heads);
    }
    *out = s;
    return KE_STATUS_OK;
fail:
    ke_tset_free(s);
    return st ? st : KE_STATUS_NOMEM;
}

enum ke_status ke_random_t5_weights(struct ke_tensor_set ** out, int64_t vocab, int64_t dim, int64_t ffn, int heads,
                                    int layers, const struct ke_random_opts * o, struct ke_error * err)
{
    g_opts = o ? o : &tiny_opts;
    enum ke_status st = random_t5(out, vocab, dim, ffn, heads, layers, err);
    g_opts = &tiny_opts;
    return st;
}

enum ke_status ke_tiny_t5_weights(struct ke_tensor_set ** out, struct ke_error * err)
{
    return ke_random_t5_weights(out, T5_VOCAB, T5_DIM, T5_FFN, T5_HEADS, T5_LAYERS, NULL, err);
}

// Byte-level tokenizer of the tiny model (not UMT5's): each UTF-8 byte b becomes id b + 2, then EOS (1).
int ke_tiny_tokenize(const char * text, int64_t * ids, int max_ids)
{
    int n = 0;
    for (const unsigned char * p = (const unsigned char *) (text ? text : ""); *p && n < max_ids - 1; p++) {
        ids[n++] = (int64_t) *p + 2;
    }
    ids[n++] = 1;
    return n;
}
