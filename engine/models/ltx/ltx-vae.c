// Kinora engine: LTX-Video causal VAE loading (Lightricks/LTX-Video at 5260738,
// causal_video_autoencoder.py: Encoder.__init__, Decoder.__init__). Widths follow the config exactly as
// the reference derives them; every weight is checked against them, so a file that does not fit its
// config gets an error naming the file and the key.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "loaders/loaders.h"
#include "models/ltx/ltx-vae.h"

struct loader {
    struct ke_ltx_vae * v;
    struct ke_error * err;
    const char * path;
    bool narrow;   // the convs loaded now may run with bf16 operands (the decoder's)
};

static bool float_type(const struct ke_tensor * t)
{
    return t->type == KE_DTYPE_F32 || t->type == KE_DTYPE_F16 || t->type == KE_DTYPE_BF16;
}

// A tensor `name` of exactly this shape (outermost first) in F32/F16/BF16.
static enum ke_status need(struct loader * L, const struct ke_tensor ** out, const char * name, int n_dims,
                           const int64_t * shape)
{
    const struct ke_tensor * t = ke_tset_require(L->v->ws, name, n_dims, shape, L->err);
    if (!t) {
        return L->err ? L->err->code : KE_STATUS_MISSING;
    }
    if (!float_type(t)) {
        return ke_err(L->err, KE_STATUS_UNSUPPORTED, "%s: %s: dtype %s is not supported (F32, F16 or BF16)", L->path,
                      name, ke_dtype_name(t->type));
    }
    *out = t;
    return KE_STATUS_OK;
}

// <pfx>.conv.weight (c_out, c_in, 3, 3, 3) and <pfx>.conv.bias (c_out): a CausalConv3d.
static enum ke_status load_conv(struct loader * L, struct ke_conv3d * c, const char * pfx, int c_in, int c_out)
{
    char name[256];
    const int64_t ws[5] = { c_out, c_in, 3, 3, 3 }, bs[1] = { c_out };
    memset(c, 0, sizeof(*c));
    enum ke_status st;
    snprintf(name, sizeof(name), "%s.conv.weight", pfx);
    if ((st = need(L, &c->w, name, 5, ws)) != KE_STATUS_OK) {
        return st;
    }
    snprintf(name, sizeof(name), "%s.conv.bias", pfx);
    if ((st = need(L, &c->b, name, 1, bs)) != KE_STATUS_OK) {
        return st;
    }
    c->c_out = c_out;
    c->c_in = c_in;
    c->kt = c->kh = c->kw = 3;
    c->narrow = L->narrow;
    if (L->v->be->ops->conv3d_prepare(L->v->be, c) != 0) {
        return ke_err(L->err, KE_STATUS_NOMEM, "%s: %s: out of memory preparing the conv weight", L->path, pfx);
    }
    return KE_STATUS_OK;
}

// A small f32 table (n elements of `name`, shape checked) copied to backend memory.
static enum ke_status load_table(struct loader * L, float ** out, const char * name, int n_dims,
                                 const int64_t * shape)
{
    const struct ke_tensor * t = NULL;
    enum ke_status st = need(L, &t, name, n_dims, shape);
    if (st != KE_STATUS_OK) {
        return st;
    }
    if (!(*out = ke_be_upload_tensor_f32(L->v->be, t))) {
        return ke_err(L->err, KE_STATUS_NOMEM, "%s: out of memory loading %s", L->path, name);
    }
    return KE_STATUS_OK;
}

static enum ke_status load_linear(struct loader * L, struct ke_linear * l, const char * pfx, int n_in, int n_out)
{
    char name[352];
    const int64_t ws[2] = { n_out, n_in }, bs[1] = { n_out };
    enum ke_status st;
    memset(l, 0, sizeof(*l));
    snprintf(name, sizeof(name), "%s.weight", pfx);
    if ((st = need(L, &l->w, name, 2, ws)) != KE_STATUS_OK) {
        return st;
    }
    snprintf(name, sizeof(name), "%s.bias", pfx);
    if ((st = need(L, &l->b, name, 1, bs)) != KE_STATUS_OK ||
        (st = ke_be_linear_check(L->v->be, l->w, L->path, L->err)) != KE_STATUS_OK) {
        return st;
    }
    l->n_in = n_in;
    l->n_out = n_out;
    if (L->v->be->ops->linear_prepare(L->v->be, l) != 0) {
        return ke_err(L->err, KE_STATUS_NOMEM, "%s: %s: out of memory preparing the linear weight", L->path, pfx);
    }
    return KE_STATUS_OK;
}

// <pfx>.timestep_embedder.linear_{1,2}: TimestepEmbedding(256, dim).
static enum ke_status load_temb(struct loader * L, struct ke_ltx_temb * e, const char * pfx, int dim)
{
    char p[320];
    enum ke_status st;
    e->dim = dim;
    snprintf(p, sizeof(p), "%s.timestep_embedder.linear_1", pfx);
    if ((st = load_linear(L, &e->l1, p, 256, dim)) != KE_STATUS_OK) {
        return st;
    }
    snprintf(p, sizeof(p), "%s.timestep_embedder.linear_2", pfx);
    return load_linear(L, &e->l2, p, dim, dim);
}

static void strides(enum ke_ltx_block k, int * ft, int * fs)
{
    *ft = k == KE_LTX_COMPRESS_TIME || k == KE_LTX_COMPRESS_ALL ? 2 : 1;
    *fs = k == KE_LTX_COMPRESS_SPACE || k == KE_LTX_COMPRESS_ALL ? 2 : 1;
}

static enum ke_status load_res_x(struct loader * L, struct ke_ltx_vblock * b, const char * pfx, int C, bool ada)
{
    char p[224], name[256];
    enum ke_status st;
    b->c_in = b->c_out = C;
    if (ada) {
        snprintf(p, sizeof(p), "%s.time_embedder", pfx);
        if ((st = load_temb(L, &b->temb, p, 4 * C)) != KE_STATUS_OK) {
            return st;
        }
        b->has_temb = true;
    }
    for (int j = 0; j < b->d.num_layers; j++) {
        struct ke_ltx_resnet * r = &b->res[j];
        snprintf(p, sizeof(p), "%s.res_blocks.%d.conv1", pfx, j);
        if ((st = load_conv(L, &r->conv1, p, C, C)) != KE_STATUS_OK) {
            return st;
        }
        snprintf(p, sizeof(p), "%s.res_blocks.%d.conv2", pfx, j);
        if ((st = load_conv(L, &r->conv2, p, C, C)) != KE_STATUS_OK) {
            return st;
        }
        if (ada) {
            const int64_t s[2] = { 4, C };
            snprintf(name, sizeof(name), "%s.res_blocks.%d.scale_shift_table", pfx, j);
            if ((st = load_table(L, &r->sst, name, 2, s)) != KE_STATUS_OK) {
                return st;
            }
        }
    }
    return KE_STATUS_OK;
}

static enum ke_status load_encoder(struct loader * L)
{
    const struct ke_ltx_vae_config * c = &L->v->cfg;
    struct ke_ltx_coder * e = &L->v->enc;
    const int p = c->patch_size;
    char pfx[96];
    int C = c->encoder_base_channels;
    enum ke_status st = load_conv(L, &e->conv_in, "encoder.conv_in", c->in_channels * p * p, C);
    e->n = c->n_enc;
    L->v->t_scale = 1;
    L->v->s_scale = p;
    for (int i = 0; i < e->n && st == KE_STATUS_OK; i++) {
        struct ke_ltx_vblock * b = &e->b[i];
        b->d = c->enc[i];
        snprintf(pfx, sizeof(pfx), "encoder.down_blocks.%d", i);
        if (b->d.kind == KE_LTX_RES_X) {
            st = load_res_x(L, b, pfx, C, false);
            continue;
        }
        strides(b->d.kind, &b->ft, &b->fs);
        const int F = b->ft * b->fs * b->fs, out = b->d.multiplier * C;
        if (out % F || (C * F) % out) {
            return ke_err(L->err, KE_STATUS_INVALID, "%s: config encoder_blocks[%d]: %d -> %d channels do not split "
                          "into %d sub-positions", L->path, i, C, out, F);
        }
        b->c_in = C;
        b->c_out = out;
        L->v->t_scale *= b->ft;
        L->v->s_scale *= b->fs;
        char cp[112];
        snprintf(cp, sizeof(cp), "%s.conv", pfx);
        st = load_conv(L, &b->conv, cp, C, out / F);
        C = out;
    }
    if (st != KE_STATUS_OK) {
        return st;
    }
    const int L_ = c->latent_channels;
    const int co = c->logvar == KE_LTX_LOGVAR_PER_CHANNEL ? 2 * L_ : c->logvar == KE_LTX_LOGVAR_NONE ? L_ : L_ + 1;
    return load_conv(L, &e->conv_out, "encoder.conv_out", C, co);
}

// The decoder's convolutions are marked narrow: a device backend may run them with bf16 operands (the
// official pipeline decodes in bfloat16; bf16 operands with fp32 accumulation measured 4.1e-3 / 5.1e-3
// relative L2 on the decoded fixtures vae_b / vae_a on the CPU, below the 1e-2 of the CUDA checks). The
// encoder's stay fp32 (its vae_b blocks reached 1.1e-2 that way).
static enum ke_status load_decoder(struct loader * L)
{
    const struct ke_ltx_vae_config * c = &L->v->cfg;
    L->narrow = true;
    struct ke_ltx_coder * d = &L->v->dec;
    const int p = c->patch_size;
    char pfx[96], name[160];
    int64_t C64 = c->decoder_base_channels;
    for (int i = 0; i < c->n_dec; i++) {
        if (c->dec[i].kind != KE_LTX_RES_X) {
            C64 *= c->dec[i].multiplier;
        }
    }
    if (C64 > 65536) {
        return ke_err(L->err, KE_STATUS_INVALID, "%s: config: the decoder's conv_in width %lld is too large", L->path,
                      (long long) C64);
    }
    int C = (int) C64;
    enum ke_status st = load_conv(L, &d->conv_in, "decoder.conv_in", c->latent_channels, C);
    d->n = c->n_dec;
    for (int k = 0; k < d->n && st == KE_STATUS_OK; k++) {
        struct ke_ltx_vblock * b = &d->b[k];
        b->d = c->dec[d->n - 1 - k];   // the reference runs decoder_blocks reversed
        snprintf(pfx, sizeof(pfx), "decoder.up_blocks.%d", k);
        if (b->d.kind == KE_LTX_RES_X) {
            st = load_res_x(L, b, pfx, C, c->timestep_conditioning);
            continue;
        }
        strides(b->d.kind, &b->ft, &b->fs);
        const int F = b->ft * b->fs * b->fs;
        int m = 1;
        if (b->d.kind == KE_LTX_COMPRESS_ALL) {
            m = b->d.multiplier;
        } else {
            b->d.residual = false;   // DepthToSpaceUpsample(compress_time / compress_space) has none
        }
        if ((F * C) % m || C % m || (b->d.residual && (C % F || F % m))) {
            return ke_err(L->err, KE_STATUS_INVALID, "%s: config decoder_blocks[%d]: %d channels do not split by "
                          "multiplier %d%s", L->path, d->n - 1 - k, C, m, b->d.residual ? " with the residual" : "");
        }
        b->c_in = C;
        b->c_out = C / m;
        char cp[112];
        snprintf(cp, sizeof(cp), "%s.conv", pfx);
        st = load_conv(L, &b->conv, cp, C, F * C / m);
        C /= m;
    }
    if (st != KE_STATUS_OK) {
        return st;
    }
    if (c->timestep_conditioning) {
        const int64_t s2[2] = { 2, C };
        const struct ke_tensor * t = ke_tset_get(L->v->ws, "decoder.timestep_scale_multiplier");
        if (!t || ke_tensor_nelements(t) != 1 || !float_type(t)) {
            return ke_err(L->err, KE_STATUS_MISSING, "%s: tensor decoder.timestep_scale_multiplier is missing or not "
                          "one float", L->path);
        }
        float tsm = 0;
        ke_convert_to_f32(&tsm, t->data, t->type, 1.0f, 1);
        L->v->timestep_scale_multiplier = tsm;
        if ((st = load_temb(L, &L->v->last_temb, "decoder.last_time_embedder", 2 * C)) != KE_STATUS_OK) {
            return st;
        }
        snprintf(name, sizeof(name), "decoder.last_scale_shift_table");
        if ((st = load_table(L, &L->v->last_sst, name, 2, s2)) != KE_STATUS_OK) {
            return st;
        }
    }
    return load_conv(L, &d->conv_out, "decoder.conv_out", C, c->out_channels * p * p);
}

enum ke_status ke_ltx_vae_init(struct ke_ltx_vae ** out, struct ke_tensor_set * ws, bool own_ws,
                               struct ke_backend * be, struct ke_error * err)
{
    *out = NULL;
    struct ke_ltx_vae * v = calloc(1, sizeof(*v));
    if (!v) {
        if (own_ws) {
            ke_tset_free(ws);
        }
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    v->be = be;
    v->ws = ws;
    v->own_ws = own_ws;
    v->path = ke_tset_path(ws) ? ke_tset_path(ws) : "(weights)";
    struct loader L = { .v = v, .err = err, .path = v->path };
    enum ke_status st;
    // the single-file checkpoint keeps the VAE under "vae." (CausalVideoAutoencoder.load_state_dict)
    for (int i = 0; i < ke_tset_count(ws); i++) {
        const struct ke_tensor * t = ke_tset_at(ws, i);
        if (t->name && strncmp(t->name, "vae.", 4) == 0) {
            ke_tset_strip_prefix(ws, "vae.");
            break;
        }
    }
    const char * js = ke_tset_meta(ws, "config");
    if (!js) {
        st = ke_err(err, KE_STATUS_MISSING, "%s: no 'config' metadata (the VAE's config is read from it)", v->path);
        goto fail;
    }
    if ((st = ke_ltx_vae_config_parse(&v->cfg, js, v->path, err)) != KE_STATUS_OK) {
        goto fail;
    }
    v->has_enc = ke_tset_get(ws, "encoder.conv_in.conv.weight") != NULL;
    v->has_dec = ke_tset_get(ws, "decoder.conv_in.conv.weight") != NULL;
    if (!v->has_enc && !v->has_dec) {
        st = ke_err(err, KE_STATUS_MISSING, "%s: no encoder.conv_in.conv.weight or decoder.conv_in.conv.weight (not "
                    "an LTX-Video VAE?)", v->path);
        goto fail;
    }
    if ((v->has_enc && (st = load_encoder(&L)) != KE_STATUS_OK) ||
        (v->has_dec && (st = load_decoder(&L)) != KE_STATUS_OK)) {
        goto fail;
    }
    if (!v->has_enc) {   // the scales from the config alone
        v->t_scale = 1;
        v->s_scale = v->cfg.patch_size;
        for (int i = 0; i < v->cfg.n_enc; i++) {
            int ft = 1, fs = 1;
            if (v->cfg.enc[i].kind != KE_LTX_RES_X) {
                strides(v->cfg.enc[i].kind, &ft, &fs);
            }
            v->t_scale *= ft;
            v->s_scale *= fs;
        }
    }
    const struct ke_tensor * sd = ke_tset_get(ws, "per_channel_statistics.std-of-means");
    const struct ke_tensor * mn = ke_tset_get(ws, "per_channel_statistics.mean-of-means");
    if (sd) {
        const int64_t s1[1] = { v->cfg.latent_channels };
        const struct ke_tensor * t = NULL;
        if ((st = need(&L, &t, "per_channel_statistics.std-of-means", 1, s1)) != KE_STATUS_OK ||
            (mn && (st = need(&L, &t, "per_channel_statistics.mean-of-means", 1, s1)) != KE_STATUS_OK)) {
            goto fail;
        }
        v->std_of_means = ke_tensor_to_f32_alloc(sd);
        v->mean_of_means = mn ? ke_tensor_to_f32_alloc(mn) : calloc((size_t) v->cfg.latent_channels, sizeof(float));
        if (!v->std_of_means || !v->mean_of_means) {
            st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
            goto fail;
        }
    }
    *out = v;
    return KE_STATUS_OK;
fail:
    ke_ltx_vae_free(v);
    return st;
}

enum ke_status ke_ltx_vae_open(struct ke_ltx_vae ** out, const char * path, struct ke_backend * be,
                               struct ke_error * err)
{
    *out = NULL;
    struct ke_tensor_set * ws = NULL;
    enum ke_status st = ke_weights_open(&ws, path, err);
    return st != KE_STATUS_OK ? st : ke_ltx_vae_init(out, ws, true, be, err);
}

static void free_conv(struct ke_backend * be, struct ke_conv3d * c)
{
    if (c->prepared) {
        be->ops->conv3d_release(be, c);
    }
}

static void free_linear(struct ke_backend * be, struct ke_linear * l)
{
    if (l->prepared) {
        be->ops->linear_release(be, l);
    }
}

static void free_coder(struct ke_backend * be, struct ke_ltx_coder * cd)
{
    free_conv(be, &cd->conv_in);
    free_conv(be, &cd->conv_out);
    for (int i = 0; i < KE_LTX_VAE_MAX_BLOCKS; i++) {
        struct ke_ltx_vblock * b = &cd->b[i];
        for (int j = 0; j < KE_LTX_VAE_MAX_LAYERS; j++) {
            free_conv(be, &b->res[j].conv1);
            free_conv(be, &b->res[j].conv2);
            ke_be_free(be, b->res[j].sst);
        }
        free_linear(be, &b->temb.l1);
        free_linear(be, &b->temb.l2);
        free_conv(be, &b->conv);
    }
}

void ke_ltx_vae_free(struct ke_ltx_vae * v)
{
    if (!v) {
        return;
    }
    free_coder(v->be, &v->enc);
    free_coder(v->be, &v->dec);
    free_linear(v->be, &v->last_temb.l1);
    free_linear(v->be, &v->last_temb.l2);
    ke_be_free(v->be, v->last_sst);
    free(v->std_of_means);
    free(v->mean_of_means);
    if (v->own_ws) {
        ke_tset_free(v->ws);
    }
    free(v);
}
