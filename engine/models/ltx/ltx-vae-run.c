// Kinora engine: LTX-Video causal VAE forward passes (Lightricks/LTX-Video at 5260738,
// causal_video_autoencoder.py: Encoder.forward, Decoder.forward, ResnetBlock3D, SpaceToDepthDownsample,
// DepthToSpaceUpsample, CausalConv3d; the decode input as LTXVideoPipeline.__call__ and vae_decode make it).
// Whole clips in one pass, on the backend's ops.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/ltx/ltx-vae.h"

#define OPS (v->be->ops)
#define PIXEL_NORM_EPS 1e-8f   // PixelNorm's default

struct act {
    float * d;                  // [C, T, H, W] backend memory
    int C, T, H, W;
};

static int64_t act_n(const struct act * a)
{
    return (int64_t) a->C * a->T * a->H * a->W;
}

static enum ke_status act_new(struct ke_ltx_vae * v, struct act * a, int C, int T, int H, int W)
{
    a->C = C;
    a->T = T;
    a->H = H;
    a->W = W;
    const size_t n = (size_t) act_n(a) * sizeof(float);
    a->d = ke_be_alloc(v->be, n ? n : sizeof(float));
    if (!a->d) {
        return ke_be_fail(v->be, KE_STATUS_NOMEM, "out of memory for LTX-Video VAE activations (%zu bytes)", n);
    }
    return KE_STATUS_OK;
}

static void act_free(struct ke_ltx_vae * v, struct act * a)
{
    ke_be_free(v->be, a->d);
    a->d = NULL;
}

static void act_put(struct ke_ltx_vae * v, float * host, const struct act * a)
{
    if (host) {
        OPS->download(v->be, host, a->d, (size_t) act_n(a) * sizeof(float));
    }
}

void ke_ltx_timestep_sinusoid(float * out, float t)
{
    // get_timestep_embedding(t, 256, flip_sin_to_cos=True, downscale_freq_shift=0, max_period=10000): the
    // exponent is float32(-ln 10000) * i / 128, as PyTorch rounds it; cos first.
    const float c = (float) -log(10000.0);
    for (int i = 0; i < 128; i++) {
        const float e = expf(c * (float) i / 128.0f);
        const float a = t * e;
        out[i] = cosf(a);
        out[128 + i] = sinf(a);
    }
}

// y[dim] = linear_2(silu(linear_1(sinusoid(t)))) in backend memory (caller frees).
static float * temb(struct ke_ltx_vae * v, const struct ke_ltx_temb * e, float t)
{
    float h[256];
    ke_ltx_timestep_sinusoid(h, t);
    float * x = ke_be_alloc(v->be, 256 * sizeof(float));
    float * a = ke_be_alloc(v->be, (size_t) e->dim * sizeof(float));
    float * y = ke_be_alloc(v->be, (size_t) e->dim * sizeof(float));
    if (!x || !a || !y) {
        ke_be_free(v->be, x);
        ke_be_free(v->be, a);
        ke_be_free(v->be, y);
        ke_be_fail(v->be, KE_STATUS_NOMEM, "out of memory for a timestep embedding");
        return NULL;
    }
    OPS->upload(v->be, x, h, sizeof(h));
    OPS->linear(v->be, a, x, 1, &e->l1);
    OPS->silu(v->be, a, e->dim);
    OPS->linear(v->be, y, a, 1, &e->l2);
    ke_be_free(v->be, x);
    ke_be_free(v->be, a);
    return y;
}

// CausalConv3d (kernel 3, stride 1) of x, or (norm) of silu(modulate(pixel_norm(x), shift, scale)): the
// time padding repeats the edge frames, the spatial padding is the config's mode. y [c_out, T, H, W] is
// made here, or (accumulate) y += the conv. Zero spatial padding: one ltx_conv3d op; reflect / replicate:
// the composition with the padded planes.
static enum ke_status cconv(struct ke_ltx_vae * v, const struct ke_conv3d * c, const struct act * x, struct act * y,
                            bool causal, bool norm, const float * shift, const float * scale, bool accumulate)
{
    const int k = c->kt, front = causal ? k - 1 : (k - 1) / 2, back = causal ? 0 : (k - 1) / 2;
    const int Tp = x->T + front + back, ph = c->kh / 2, pw = c->kw / 2;
    const int64_t hw = (int64_t) x->H * x->W;
    const enum ke_ltx_pad mode = v->cfg.pad;
    if (mode == KE_LTX_PAD_REFLECT && (x->H <= ph || x->W <= pw)) {
        return ke_be_fail(v->be, KE_STATUS_SHAPE, "reflect padding needs planes of 2 x 2 at least (got %d x %d)", x->H,
                          x->W);
    }
    enum ke_status st = KE_STATUS_OK;
    if (!accumulate && (st = act_new(v, y, c->c_out, x->T, x->H, x->W)) != KE_STATUS_OK) {
        return st;
    }
    if (mode == KE_LTX_PAD_ZEROS) {
        OPS->ltx_conv3d(v->be, y->d, accumulate, x->d, c, x->T, x->H, x->W, front, back, norm, PIXEL_NORM_EPS, shift,
                        scale);
        return KE_STATUS_OK;
    }
    struct act xn = *x, xp, xq, t = { 0 };
    if (norm && (st = act_new(v, &xn, x->C, x->T, x->H, x->W)) == KE_STATUS_OK) {
        OPS->pixel_norm_mod(v->be, xn.d, x->d, x->C, x->T * hw, PIXEL_NORM_EPS, shift, scale, 1);
    }
    if (st == KE_STATUS_OK && (st = act_new(v, &xp, x->C, Tp, x->H, x->W)) == KE_STATUS_OK) {
        OPS->frame_copy(v->be, xp.d, 0, Tp, front, xn.d, 0, x->T, 0, x->T, x->C, hw);
        for (int i = 0; i < front; i++) {
            OPS->frame_copy(v->be, xp.d, 0, Tp, i, xn.d, 0, x->T, 0, 1, x->C, hw);
        }
        for (int i = 0; i < back; i++) {
            OPS->frame_copy(v->be, xp.d, 0, Tp, front + x->T + i, xn.d, 0, x->T, x->T - 1, 1, x->C, hw);
        }
        if ((st = act_new(v, &xq, x->C, Tp, x->H + 2 * ph, x->W + 2 * pw)) == KE_STATUS_OK) {
            OPS->pad2d_edge(v->be, xq.d, xp.d, (int64_t) x->C * Tp, x->H, x->W, ph, (int) mode);
            if (accumulate && (st = act_new(v, &t, c->c_out, x->T, x->H, x->W)) == KE_STATUS_OK) {
                OPS->conv3d(v->be, t.d, xq.d, c, Tp, xq.H, xq.W, 0, 0, 0, 0, 1, 1, 1);
                OPS->add(v->be, y->d, y->d, t.d, act_n(&t));
                act_free(v, &t);
            } else if (!accumulate) {
                OPS->conv3d(v->be, y->d, xq.d, c, Tp, xq.H, xq.W, 0, 0, 0, 0, 1, 1, 1);
            }
            act_free(v, &xq);
        }
        act_free(v, &xp);
    }
    if (norm) {
        act_free(v, &xn);
    }
    if (st != KE_STATUS_OK && !accumulate) {
        act_free(v, y);
    }
    return st;
}

// ResnetBlock3D (in == out): x + conv2(act(norm2(conv1(act(norm1(x)))))), act = modulate (ada rows
// shift1, scale1, shift2, scale2 of C) then SiLU; the norms and the residual add go with the convs (with
// zero spatial padding, the whole block is one ltx_resnet op). Updates *x in place.
static enum ke_status resnet(struct ke_ltx_vae * v, const struct ke_ltx_resnet * r, struct act * x, const float * ada,
                             bool causal)
{
    const int C = x->C;
    if (v->cfg.pad == KE_LTX_PAD_ZEROS) {
        const int k = r->conv1.kt, front = causal ? k - 1 : (k - 1) / 2, back = causal ? 0 : (k - 1) / 2;
        OPS->ltx_resnet(v->be, x->d, &r->conv1, &r->conv2, x->T, x->H, x->W, front, back, PIXEL_NORM_EPS, ada);
        return KE_STATUS_OK;
    }
    struct act h1;
    enum ke_status st = cconv(v, &r->conv1, x, &h1, causal, true, ada ? ada : NULL, ada ? ada + C : NULL, false);
    if (st != KE_STATUS_OK) {
        return st;
    }
    st = cconv(v, &r->conv2, &h1, x, causal, true, ada ? ada + 2 * C : NULL, ada ? ada + 3 * C : NULL, true);
    act_free(v, &h1);
    return st;
}

// UNetMidBlock3D: the res_x layers, with the block's timestep embedding added to each layer's table.
static enum ke_status res_x(struct ke_ltx_vae * v, const struct ke_ltx_vblock * b, struct act * x, float t,
                            bool causal)
{
    const int C = x->C;
    float * e = NULL, * ada = NULL;
    if (b->has_temb) {
        e = temb(v, &b->temb, t);
        ada = ke_be_alloc(v->be, (size_t) 4 * C * sizeof(float));
        if (!e || !ada) {
            ke_be_free(v->be, e);
            ke_be_free(v->be, ada);
            return ke_be_fail(v->be, KE_STATUS_NOMEM, "out of memory for the modulation tables");
        }
    }
    enum ke_status st = KE_STATUS_OK;
    for (int j = 0; j < b->d.num_layers && st == KE_STATUS_OK; j++) {
        if (ada) {
            OPS->add(v->be, ada, b->res[j].sst, e, 4 * C);
        }
        st = resnet(v, &b->res[j], x, ada, causal);
    }
    ke_be_free(v->be, e);
    ke_be_free(v->be, ada);
    return st;
}

// DepthToSpaceUpsample: shuffle(conv(x)) without its first frame (time stride 2), plus, with the
// residual, shuffle(x) with its channels tiled F/m times. Replaces *x.
static enum ke_status up(struct ke_ltx_vae * v, const struct ke_ltx_vblock * b, struct act * x, bool causal)
{
    const int ft = b->ft, fs = b->fs, F = ft * fs * fs, drop = ft == 2 ? 1 : 0;
    struct act h, y, s;
    enum ke_status st = cconv(v, &b->conv, x, &h, causal, false, NULL, NULL, false);
    if (st != KE_STATUS_OK) {
        return st;
    }
    st = act_new(v, &y, b->c_out, x->T * ft - drop, x->H * fs, x->W * fs);
    if (st == KE_STATUS_OK) {
        OPS->nearest_up3d(v->be, y.d, h.d, h.C, b->c_out, x->T, x->H, x->W, ft, fs, drop);
    }
    act_free(v, &h);
    if (st == KE_STATUS_OK && b->d.residual) {
        if ((st = act_new(v, &s, x->C / F, y.T, y.H, y.W)) == KE_STATUS_OK) {
            OPS->nearest_up3d(v->be, s.d, x->d, x->C, s.C, x->T, x->H, x->W, ft, fs, drop);
            const int64_t blk = act_n(&s);
            for (int j = 0; j < b->c_out / s.C; j++) {
                OPS->add(v->be, y.d + j * blk, y.d + j * blk, s.d, blk);
            }
            act_free(v, &s);
        }
    }
    if (st != KE_STATUS_OK) {
        act_free(v, &y);
        return st;
    }
    act_free(v, x);
    *x = y;
    return KE_STATUS_OK;
}

// SpaceToDepthDownsample: space_to_depth(conv(x')) + the group means of space_to_depth(x'), where x' is x
// with its first frame repeated in front (time stride 2). Replaces *x.
static enum ke_status down(struct ke_ltx_vae * v, const struct ke_ltx_vblock * b, struct act * x)
{
    const int ft = b->ft, fs = b->fs;
    struct act xd = *x, h, y;
    bool own = false;
    enum ke_status st = KE_STATUS_OK;
    if (ft == 2) {
        if ((st = act_new(v, &xd, x->C, x->T + 1, x->H, x->W)) != KE_STATUS_OK) {
            return st;
        }
        own = true;
        const int64_t hw = (int64_t) x->H * x->W;
        OPS->frame_copy(v->be, xd.d, 0, xd.T, 0, x->d, 0, x->T, 0, 1, x->C, hw);
        OPS->frame_copy(v->be, xd.d, 0, xd.T, 1, x->d, 0, x->T, 0, x->T, x->C, hw);
    }
    if (xd.T % ft || xd.H % fs || xd.W % fs) {
        if (own) {
            act_free(v, &xd);
        }
        return ke_be_fail(v->be, KE_STATUS_SHAPE, "a down-sampling block needs frames and sides divisible by its "
                          "strides (got %d frames of %d x %d for %d x %d x %d)", xd.T, xd.H, xd.W, ft, fs, fs);
    }
    if ((st = act_new(v, &y, b->c_out, xd.T / ft, xd.H / fs, xd.W / fs)) == KE_STATUS_OK) {
        if ((st = cconv(v, &b->conv, &xd, &h, true, false, NULL, NULL, false)) == KE_STATUS_OK) {
            OPS->avg_pool3d(v->be, y.d, h.d, h.C, b->c_out, h.T, h.H, h.W, ft, fs, 0);   // g = 1: a plain shuffle
            act_free(v, &h);
            if ((st = act_new(v, &h, b->c_out, y.T, y.H, y.W)) == KE_STATUS_OK) {
                OPS->avg_pool3d(v->be, h.d, xd.d, xd.C, b->c_out, xd.T, xd.H, xd.W, ft, fs, 0);
                OPS->add(v->be, y.d, y.d, h.d, act_n(&y));
                act_free(v, &h);
            }
        }
    }
    if (own) {
        act_free(v, &xd);
    }
    if (st != KE_STATUS_OK) {
        act_free(v, &y);
        return st;
    }
    act_free(v, x);
    *x = y;
    return KE_STATUS_OK;
}

static enum ke_status finish(struct ke_ltx_vae * v, enum ke_status st, struct ke_error * err)
{
    const enum ke_status bs = ke_be_status(v->be, err);
    if (st == KE_STATUS_OK) {
        st = bs;
    }
    return st;
}

enum ke_status ke_ltx_vae_decode(struct ke_ltx_vae * v, float * video, const float * latent, const float * noise,
                                 int T, int h, int w, float timestep, float noise_scale,
                                 struct ke_ltx_vae_inter * inter, struct ke_error * err)
{
    const struct ke_ltx_vae_config * c = &v->cfg;
    const int C = c->latent_channels, p = c->patch_size;
    if (!v->has_dec) {
        return ke_err(err, KE_STATUS_INVALID, "%s: the file has no decoder", v->path);
    }
    if (!v->std_of_means) {
        return ke_err(err, KE_STATUS_MISSING, "%s: tensor per_channel_statistics.std-of-means is missing (the decode "
                      "un-normalises with it)", v->path);
    }
    if (T < 1 || h < 1 || w < 1 || (int64_t) T * h * w > (1LL << 24) || (!noise && noise_scale != 0.0f)) {
        return ke_err(err, KE_STATUS_INVALID, "ltx-vae decode: bad latent size %d x %d x %d (or no noise)", T, h, w);
    }
    const int64_t hw = (int64_t) h * w, n = (int64_t) C * T * hw;
    float * z = malloc((size_t) n * sizeof(float));
    if (!z) {
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    // latents * (1 - s) + noise * s, then un_normalize_latents (float32 as the pipeline computes it)
    const float keep = 1.0f - noise_scale;
    for (int ch = 0; ch < C; ch++) {
        for (int64_t i = 0; i < (int64_t) T * hw; i++) {
            const int64_t k = (int64_t) ch * T * hw + i;
            float x = latent[k] * keep;
            if (noise) {
                x = x + noise[k] * noise_scale;
            }
            z[k] = x * v->std_of_means[ch] + v->mean_of_means[ch];
        }
    }
    if (inter && inter->decoder_input) {
        memcpy(inter->decoder_input, z, (size_t) n * sizeof(float));
    }
    struct act x, y;
    enum ke_status st = act_new(v, &x, C, T, h, w);
    if (st != KE_STATUS_OK) {
        free(z);
        return finish(v, st, err);
    }
    OPS->upload(v->be, x.d, z, (size_t) n * sizeof(float));
    free(z);
    const bool causal = c->causal_decoder;
    const float ts = timestep * v->timestep_scale_multiplier;
    st = cconv(v, &v->dec.conv_in, &x, &y, causal, false, NULL, NULL, false);
    act_free(v, &x);
    if (st != KE_STATUS_OK) {
        return finish(v, st, err);
    }
    x = y;
    if (inter) {
        act_put(v, inter->conv_in, &x);
    }
    for (int k = 0; k < v->dec.n && st == KE_STATUS_OK; k++) {
        const struct ke_ltx_vblock * b = &v->dec.b[k];
        st = b->d.kind == KE_LTX_RES_X ? res_x(v, b, &x, ts, causal) : up(v, b, &x, causal);
        if (st == KE_STATUS_OK && ke_be_failed(v->be)) {
            st = KE_STATUS_NOMEM;
        }
        if (st == KE_STATUS_OK && inter) {
            act_put(v, inter->blocks[k], &x);
        }
    }
    float * e = NULL, * ada = NULL;
    if (st == KE_STATUS_OK && c->timestep_conditioning) {
        e = temb(v, &v->last_temb, ts);
        ada = ke_be_alloc(v->be, (size_t) 2 * x.C * sizeof(float));
        if (!e || !ada) {
            st = ke_be_fail(v->be, KE_STATUS_NOMEM, "out of memory for the last modulation table");
        } else {
            OPS->add(v->be, ada, v->last_sst, e, 2 * x.C);
        }
    }
    if (st == KE_STATUS_OK) {
        st = cconv(v, &v->dec.conv_out, &x, &y, causal, true, ada, ada ? ada + x.C : NULL, false);
    }
    ke_be_free(v->be, e);
    ke_be_free(v->be, ada);
    act_free(v, &x);
    if (st == KE_STATUS_OK) {
        struct act o;
        if ((st = act_new(v, &o, c->out_channels, y.T, y.H * p, y.W * p)) == KE_STATUS_OK) {
            OPS->pixel_unshuffle(v->be, o.d, y.d, c->out_channels, y.T, o.H, o.W, p, 1);   // unpatchify
            if (!ke_be_failed(v->be)) {
                act_put(v, video, &o);
            }
            act_free(v, &o);
        }
        act_free(v, &y);
    }
    return finish(v, st, err);
}

enum ke_status ke_ltx_vae_encode(struct ke_ltx_vae * v, float * moments, float * latent, const float * video, int F,
                                 int H, int W, struct ke_ltx_vae_inter * inter, struct ke_error * err)
{
    const struct ke_ltx_vae_config * c = &v->cfg;
    const int p = c->patch_size, C = c->latent_channels;
    if (!v->has_enc) {
        return ke_err(err, KE_STATUS_INVALID, "%s: the file has no encoder", v->path);
    }
    if (latent && !v->std_of_means) {
        return ke_err(err, KE_STATUS_MISSING, "%s: tensor per_channel_statistics.std-of-means is missing (the latent "
                      "is normalised with it)", v->path);
    }
    if (F < 1 || (F - 1) % v->t_scale || H < v->s_scale || W < v->s_scale || H % v->s_scale || W % v->s_scale ||
        (int64_t) F * H * W > (1LL << 31)) {
        return ke_err(err, KE_STATUS_INVALID, "ltx-vae encode: %d frames of %d x %d; needs 1 + %d k frames and sides "
                      "that are multiples of %d", F, H, W, v->t_scale, v->s_scale);
    }
    struct act x, y;
    enum ke_status st = act_new(v, &x, c->in_channels, F, H, W);
    if (st != KE_STATUS_OK) {
        return finish(v, st, err);
    }
    OPS->upload(v->be, x.d, video, (size_t) act_n(&x) * sizeof(float));
    if ((st = act_new(v, &y, c->in_channels * p * p, F, H / p, W / p)) == KE_STATUS_OK) {
        OPS->pixel_unshuffle(v->be, y.d, x.d, c->in_channels, F, H, W, p, 0);   // patchify
    }
    act_free(v, &x);
    if (st != KE_STATUS_OK) {
        return finish(v, st, err);
    }
    st = cconv(v, &v->enc.conv_in, &y, &x, true, false, NULL, NULL, false);
    act_free(v, &y);
    if (st != KE_STATUS_OK) {
        return finish(v, st, err);
    }
    if (inter) {
        act_put(v, inter->conv_in, &x);
    }
    for (int k = 0; k < v->enc.n && st == KE_STATUS_OK; k++) {
        const struct ke_ltx_vblock * b = &v->enc.b[k];
        st = b->d.kind == KE_LTX_RES_X ? res_x(v, b, &x, 0.0f, true) : down(v, b, &x);
        if (st == KE_STATUS_OK && ke_be_failed(v->be)) {
            st = KE_STATUS_NOMEM;
        }
        if (st == KE_STATUS_OK && inter) {
            act_put(v, inter->blocks[k], &x);
        }
    }
    if (st == KE_STATUS_OK) {
        st = cconv(v, &v->enc.conv_out, &x, &y, true, true, NULL, NULL, false);
    }
    act_free(v, &x);
    if (st != KE_STATUS_OK) {
        return finish(v, st, err);
    }
    const int64_t pos = (int64_t) y.T * y.H * y.W;
    float * o = malloc((size_t) act_n(&y) * sizeof(float));
    if (!o) {
        act_free(v, &y);
        return finish(v, ke_err(err, KE_STATUS_NOMEM, "out of memory"), err);
    }
    act_put(v, o, &y);
    act_free(v, &y);
    st = finish(v, KE_STATUS_OK, err);
    if (st == KE_STATUS_OK && moments) {
        // the Encoder's moments: means, then the log-variance channel(s) as latent_log_var makes them
        memcpy(moments, o, (size_t) C * pos * sizeof(float));
        for (int ch = 0; ch < C && c->logvar != KE_LTX_LOGVAR_NONE; ch++) {
            float * dst = moments + (int64_t) (C + ch) * pos;
            if (c->logvar == KE_LTX_LOGVAR_PER_CHANNEL) {
                memcpy(dst, o + (int64_t) (C + ch) * pos, (size_t) pos * sizeof(float));
            } else if (c->logvar == KE_LTX_LOGVAR_UNIFORM) {
                memcpy(dst, o + (int64_t) C * pos, (size_t) pos * sizeof(float));
            } else {
                for (int64_t i = 0; i < pos; i++) {
                    dst[i] = -30.0f;   // the reference's approx ln 0
                }
            }
        }
    }
    if (st == KE_STATUS_OK && latent) {
        for (int ch = 0; ch < C; ch++) {
            for (int64_t i = 0; i < pos; i++) {
                const int64_t k = (int64_t) ch * pos + i;
                latent[k] = (o[k] - v->mean_of_means[ch]) / v->std_of_means[ch];
            }
        }
    }
    free(o);
    return st;
}
