// Kinora engine: the LTX-Video spatial latent upsampler, loading and forward (Lightricks/LTX-Video at
// 5260738, ltx_video/models/autoencoders/latent_upsampler.py; the un-normalise / normalise around it as
// LTXMultiScalePipeline._upsample_latents).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "loaders/loaders.h"
#include "models/ltx/ltx-upsampler.h"

#define GN_GROUPS 32
#define GN_EPS 1e-5f   // nn.GroupNorm's default

struct loader {
    struct ke_ltx_upsampler * u;
    struct ke_error * err;
};

static enum ke_status need(struct loader * L, const struct ke_tensor ** out, const char * name, int n_dims,
                           const int64_t * shape)
{
    const struct ke_tensor * t = ke_tset_require(L->u->ws, name, n_dims, shape, L->err);
    if (!t) {
        return L->err ? L->err->code : KE_STATUS_MISSING;
    }
    if (t->type != KE_DTYPE_F32 && t->type != KE_DTYPE_F16 && t->type != KE_DTYPE_BF16) {
        return ke_err(L->err, KE_STATUS_UNSUPPORTED, "%s: %s: dtype %s is not supported (F32, F16 or BF16)",
                      L->u->path, name, ke_dtype_name(t->type));
    }
    *out = t;
    return KE_STATUS_OK;
}

// <pfx>.weight (c_out, c_in, [3,] 3, 3) and <pfx>.bias: a zero-padded Conv3d (k3d) or Conv2d.
static enum ke_status load_conv(struct loader * L, struct ke_conv3d * c, const char * pfx, int c_in, int c_out,
                                bool k3d)
{
    char name[160];
    const int64_t w3[5] = { c_out, c_in, 3, 3, 3 }, w2[4] = { c_out, c_in, 3, 3 }, bs[1] = { c_out };
    enum ke_status st;
    memset(c, 0, sizeof(*c));
    snprintf(name, sizeof(name), "%s.weight", pfx);
    if ((st = need(L, &c->w, name, k3d ? 5 : 4, k3d ? w3 : w2)) != KE_STATUS_OK) {
        return st;
    }
    snprintf(name, sizeof(name), "%s.bias", pfx);
    if ((st = need(L, &c->b, name, 1, bs)) != KE_STATUS_OK) {
        return st;
    }
    c->c_out = c_out;
    c->c_in = c_in;
    c->kt = k3d ? 3 : 1;
    c->kh = c->kw = 3;
    if (L->u->be->ops->conv3d_prepare(L->u->be, c) != 0) {
        return ke_err(L->err, KE_STATUS_NOMEM, "%s: %s: out of memory preparing the conv weight", L->u->path, pfx);
    }
    return KE_STATUS_OK;
}

static enum ke_status load_vec(struct loader * L, float ** out, const char * name, int n)
{
    const int64_t s[1] = { n };
    const struct ke_tensor * t = NULL;
    enum ke_status st = need(L, &t, name, 1, s);
    if (st != KE_STATUS_OK) {
        return st;
    }
    if (!(*out = ke_be_upload_tensor_f32(L->u->be, t))) {
        return ke_err(L->err, KE_STATUS_NOMEM, "%s: out of memory loading %s", L->u->path, name);
    }
    return KE_STATUS_OK;
}

static enum ke_status load_norm(struct loader * L, struct ke_ltx_ups_norm * n, const char * pfx, int C)
{
    char name[160];
    enum ke_status st;
    snprintf(name, sizeof(name), "%s.weight", pfx);
    if ((st = load_vec(L, &n->w, name, C)) != KE_STATUS_OK) {
        return st;
    }
    snprintf(name, sizeof(name), "%s.bias", pfx);
    return load_vec(L, &n->b, name, C);
}

static enum ke_status load_block(struct loader * L, struct ke_ltx_ups_block * b, const char * pfx, int C, bool k3d)
{
    char p[128];
    enum ke_status st;
    snprintf(p, sizeof(p), "%s.conv1", pfx);
    if ((st = load_conv(L, &b->conv1, p, C, C, k3d)) != KE_STATUS_OK) {
        return st;
    }
    snprintf(p, sizeof(p), "%s.norm1", pfx);
    if ((st = load_norm(L, &b->norm1, p, C)) != KE_STATUS_OK) {
        return st;
    }
    snprintf(p, sizeof(p), "%s.conv2", pfx);
    if ((st = load_conv(L, &b->conv2, p, C, C, k3d)) != KE_STATUS_OK) {
        return st;
    }
    snprintf(p, sizeof(p), "%s.norm2", pfx);
    return load_norm(L, &b->norm2, p, C);
}

enum ke_status ke_ltx_upsampler_init(struct ke_ltx_upsampler ** out, struct ke_tensor_set * ws, bool own_ws,
                                     struct ke_backend * be, struct ke_error * err)
{
    *out = NULL;
    struct ke_ltx_upsampler * u = calloc(1, sizeof(*u));
    if (!u) {
        if (own_ws) {
            ke_tset_free(ws);
        }
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    u->be = be;
    u->ws = ws;
    u->own_ws = own_ws;
    u->path = ke_tset_path(ws) ? ke_tset_path(ws) : "(weights)";
    struct loader L = { .u = u, .err = err };
    enum ke_status st;
    const char * js = ke_tset_meta(ws, "config");
    if (!js) {
        st = ke_err(err, KE_STATUS_MISSING, "%s: no 'config' metadata (the upsampler's config is read from it)",
                    u->path);
        goto done;
    }
    if ((st = ke_ltx_upsampler_config_parse(&u->cfg, js, u->path, err)) != KE_STATUS_OK) {
        goto done;
    }
    const int C = u->cfg.mid_channels, Ci = u->cfg.in_channels;
    const bool k3d = u->cfg.dims == 3;
    char p[96];
    if ((st = load_conv(&L, &u->initial_conv, "initial_conv", Ci, C, k3d)) != KE_STATUS_OK ||
        (st = load_norm(&L, &u->initial_norm, "initial_norm", C)) != KE_STATUS_OK ||
        (st = load_conv(&L, &u->up_conv, "upsampler.0", C, 4 * C, false)) != KE_STATUS_OK ||
        (st = load_conv(&L, &u->final_conv, "final_conv", C, Ci, k3d)) != KE_STATUS_OK) {
        goto done;
    }
    for (int i = 0; i < u->cfg.num_blocks_per_stage; i++) {
        snprintf(p, sizeof(p), "res_blocks.%d", i);
        if ((st = load_block(&L, &u->pre[i], p, C, k3d)) != KE_STATUS_OK) {
            goto done;
        }
        snprintf(p, sizeof(p), "post_upsample_res_blocks.%d", i);
        if ((st = load_block(&L, &u->post[i], p, C, k3d)) != KE_STATUS_OK) {
            goto done;
        }
    }
done:
    if (st != KE_STATUS_OK) {
        ke_ltx_upsampler_free(u);
        return st;
    }
    *out = u;
    return KE_STATUS_OK;
}

enum ke_status ke_ltx_upsampler_open(struct ke_ltx_upsampler ** out, const char * path, struct ke_backend * be,
                                     struct ke_error * err)
{
    *out = NULL;
    struct ke_tensor_set * ws = NULL;
    enum ke_status st = ke_weights_open(&ws, path, err);
    return st != KE_STATUS_OK ? st : ke_ltx_upsampler_init(out, ws, true, be, err);
}

static void free_conv(struct ke_backend * be, struct ke_conv3d * c)
{
    if (c->prepared) {
        be->ops->conv3d_release(be, c);
    }
}

static void free_norm(struct ke_backend * be, struct ke_ltx_ups_norm * n)
{
    ke_be_free(be, n->w);
    ke_be_free(be, n->b);
}

void ke_ltx_upsampler_free(struct ke_ltx_upsampler * u)
{
    if (!u) {
        return;
    }
    free_conv(u->be, &u->initial_conv);
    free_conv(u->be, &u->up_conv);
    free_conv(u->be, &u->final_conv);
    free_norm(u->be, &u->initial_norm);
    for (int i = 0; i < KE_LTX_UPS_MAX_BLOCKS; i++) {
        struct ke_ltx_ups_block * bs[2] = { &u->pre[i], &u->post[i] };
        for (int k = 0; k < 2; k++) {
            free_conv(u->be, &bs[k]->conv1);
            free_conv(u->be, &bs[k]->conv2);
            free_norm(u->be, &bs[k]->norm1);
            free_norm(u->be, &bs[k]->norm2);
        }
    }
    if (u->own_ws) {
        ke_tset_free(u->ws);
    }
    free(u);
}

// --- forward -------------------------------------------------------------------------------------

// y = conv(x) with zero 'same' padding (time too for a 3-D kernel); y allocated here.
static float * conv(struct ke_ltx_upsampler * u, const struct ke_conv3d * c, const float * x, int T, int H, int W)
{
    float * y = ke_be_alloc(u->be, (size_t) c->c_out * T * H * W * sizeof(float));
    if (!y) {
        ke_be_fail(u->be, KE_STATUS_NOMEM, "out of memory for upsampler activations (%zu bytes)",
                   (size_t) c->c_out * T * H * W * sizeof(float));
        return NULL;
    }
    const int pt = c->kt / 2;
    u->be->ops->conv3d(u->be, y, x, c, T, H, W, pt, pt, 1, 1, 1, 1, 1);
    return y;
}

// ResBlock: silu(norm2(conv2(silu(norm1(conv1(x))))) + x), in place on x.
static void block(struct ke_ltx_upsampler * u, const struct ke_ltx_ups_block * b, float * x, int T, int H, int W)
{
    const int C = u->cfg.mid_channels;
    const int64_t N = (int64_t) T * H * W;
    float * a = conv(u, &b->conv1, x, T, H, W);
    if (!a) {
        return;
    }
    u->be->ops->group_norm(u->be, a, a, C, N, GN_GROUPS, GN_EPS, b->norm1.w, b->norm1.b, 1);
    float * c = conv(u, &b->conv2, a, T, H, W);
    ke_be_free(u->be, a);
    if (!c) {
        return;
    }
    u->be->ops->group_norm(u->be, c, c, C, N, GN_GROUPS, GN_EPS, b->norm2.w, b->norm2.b, 0);
    u->be->ops->add(u->be, x, c, x, C * N);
    u->be->ops->silu(u->be, x, C * N);
    ke_be_free(u->be, c);
}

// One pass over x [Ci, T, h, w] (host, un-normalised) -> raw [Ci, T, 2h, 2w] (host); the intermediates as
// in ke_ltx_upsampler_run. Failures are recorded on the backend.
static void pass(struct ke_ltx_upsampler * u, float * raw, const float * xh, int T, int h, int w, float * inter_initial,
                 float * inter_up)
{
    const int Ci = u->cfg.in_channels, C = u->cfg.mid_channels;
    const int64_t hw = (int64_t) h * w, n = (int64_t) Ci * T * hw;
    float * x = ke_be_alloc(u->be, (size_t) n * sizeof(float));
    if (!x) {
        ke_be_fail(u->be, KE_STATUS_NOMEM, "out of memory for upsampler activations (%zu bytes)", (size_t) n * 4);
        return;
    }
    u->be->ops->upload(u->be, x, xh, (size_t) n * sizeof(float));
    float * a = conv(u, &u->initial_conv, x, T, h, w);
    ke_be_free(u->be, x);
    float * b = NULL;
    if (a) {
        u->be->ops->group_norm(u->be, a, a, C, T * hw, GN_GROUPS, GN_EPS, u->initial_norm.w, u->initial_norm.b, 1);
        if (inter_initial) {
            u->be->ops->download(u->be, inter_initial, a, (size_t) C * T * hw * sizeof(float));
        }
        for (int i = 0; i < u->cfg.num_blocks_per_stage && !ke_be_failed(u->be); i++) {
            block(u, &u->pre[i], a, T, h, w);
        }
        float * s = ke_be_failed(u->be) ? NULL : conv(u, &u->up_conv, a, T, h, w);   // per frame (kt = 1)
        ke_be_free(u->be, a);
        if (s && (b = ke_be_alloc(u->be, (size_t) C * T * 4 * hw * sizeof(float)))) {
            // PixelShuffle(2): channel c*4 + dy*2 + dx -> (c, 2i + dy, 2j + dx)
            u->be->ops->nearest_up3d(u->be, b, s, 4 * C, C, T, h, w, 1, 2, 0);
        } else if (s) {
            ke_be_fail(u->be, KE_STATUS_NOMEM, "out of memory for upsampler activations");
        }
        ke_be_free(u->be, s);
    }
    if (b && !ke_be_failed(u->be)) {
        if (inter_up) {
            u->be->ops->download(u->be, inter_up, b, (size_t) C * T * 4 * hw * sizeof(float));
        }
        for (int i = 0; i < u->cfg.num_blocks_per_stage && !ke_be_failed(u->be); i++) {
            block(u, &u->post[i], b, T, 2 * h, 2 * w);
        }
        float * f = ke_be_failed(u->be) ? NULL : conv(u, &u->final_conv, b, T, 2 * h, 2 * w);
        if (f) {
            u->be->ops->download(u->be, raw, f, (size_t) 4 * n * sizeof(float));
            ke_be_free(u->be, f);
        }
    }
    ke_be_free(u->be, b);
}

// Frame t of src [C, T, n] to dst [C, 1, n] (gather) or back (scatter).
static void frame_move(float * dst, const float * src, int C, int T, int64_t n, int t, bool gather)
{
    if (!dst || !src) {
        return;
    }
    for (int c = 0; c < C; c++) {
        if (gather) {
            memcpy(dst + c * n, src + ((int64_t) c * T + t) * n, (size_t) n * sizeof(float));
        } else {
            memcpy(dst + ((int64_t) c * T + t) * n, src + c * n, (size_t) n * sizeof(float));
        }
    }
}

enum ke_status ke_ltx_upsampler_run(struct ke_ltx_upsampler * u, float * out, float * raw, const float * latent,
                                    int T, int h, int w, const float * std, const float * mean,
                                    float * inter_initial, float * inter_up, struct ke_error * err)
{
    const int Ci = u->cfg.in_channels, C = u->cfg.mid_channels;
    if (T < 1 || h < 1 || w < 1 || (int64_t) T * h * w > (1LL << 24)) {
        return ke_err(err, KE_STATUS_INVALID, "ltx-upsampler: bad latent size %d x %d x %d", T, h, w);
    }
    const int64_t hw = (int64_t) h * w, n = (int64_t) Ci * T * hw, n2 = 4 * n;
    float * xh = malloc((size_t) n * sizeof(float));
    float * host = malloc((size_t) n2 * sizeof(float));
    if (!xh || !host) {
        free(xh);
        free(host);
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    for (int c = 0; c < Ci; c++) {
        for (int64_t i = 0; i < T * hw; i++) {
            const int64_t k = c * T * hw + i;
            xh[k] = std ? latent[k] * std[c] + mean[c] : latent[k];   // un_normalize_latents
        }
    }
    if (u->cfg.dims == 3) {
        pass(u, host, xh, T, h, w, inter_initial, inter_up);
    } else {
        // dims 2: every frame on its own (the reference folds frames into the batch; GroupNorm is per frame)
        float * fx = malloc((size_t) Ci * hw * sizeof(float)), * fr = malloc((size_t) Ci * 4 * hw * sizeof(float));
        float * fi = inter_initial ? malloc((size_t) C * hw * sizeof(float)) : NULL;
        float * fu = inter_up ? malloc((size_t) C * 4 * hw * sizeof(float)) : NULL;
        if (!fx || !fr || (inter_initial && !fi) || (inter_up && !fu)) {
            ke_be_fail(u->be, KE_STATUS_NOMEM, "out of memory for the upsampler's frames");
        }
        for (int t = 0; t < T && !ke_be_failed(u->be); t++) {
            frame_move(fx, xh, Ci, T, hw, t, true);
            pass(u, fr, fx, 1, h, w, fi, fu);
            frame_move(host, fr, Ci, T, 4 * hw, t, false);
            frame_move(inter_initial, fi, C, T, hw, t, false);
            frame_move(inter_up, fu, C, T, 4 * hw, t, false);
        }
        free(fx);
        free(fr);
        free(fi);
        free(fu);
    }
    free(xh);
    enum ke_status st = ke_be_status(u->be, err);
    if (st == KE_STATUS_OK) {
        if (raw) {
            memcpy(raw, host, (size_t) n2 * sizeof(float));
        }
        for (int c = 0; out && c < Ci; c++) {
            for (int64_t i = 0; i < T * 4 * hw; i++) {
                const int64_t k = c * T * 4 * hw + i;
                out[k] = std ? (host[k] - mean[c]) / std[c] : host[k];   // normalize_latents
            }
        }
    }
    free(host);
    return st;
}
