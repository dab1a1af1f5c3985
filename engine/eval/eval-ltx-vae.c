// Kinora engine: parity evaluators for the LTX-Video causal VAE and the spatial latent upsampler
// (tests/ltx/README.md, "VAE and latent upsampler"). ltx-vae: from latent, noise, decode_timestep and
// decode_noise_scale compute decoded, decoder_input and inter.decoder.*; from video compute encoded,
// latent_mean, latent_encoded and inter.encoder.*. ltx-upsampler: from latent, std_of_means and
// mean_of_means compute upsampled, upsampled_raw, inter.initial and inter.upsampler. Only the outputs the
// IO file lists are written, each in the shape the file gives it (batch of 1 first); a listed output
// whose size does not match what the model computes is refused, naming the file and the tensor.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/eval-io.h"
#include "eval/eval.h"
#include "loaders/loaders.h"
#include "models/ltx/ltx-upsampler.h"
#include "models/ltx/ltx-vae.h"

struct want {
    const char * name;
    int64_t n;                  // elements the model produces
    float * buf;                // host result
};

struct ctx {
    const struct ke_eval_args * a;
    struct ke_tensor_set * io;
    char ** names;
    int n_names;
    struct want w[64];
    int n_w;
    struct ke_error * err;
};

// A result buffer for `name` when the file lists it (else *buf = NULL): its IO tensor must hold n elements.
static enum ke_status want(struct ctx * c, const char * name, int64_t n, float ** buf)
{
    *buf = NULL;
    if (!ke_eval_names_has(c->names, c->n_names, name)) {
        return KE_STATUS_OK;
    }
    const struct ke_tensor * t = ke_tset_get(c->io, name);
    if (!t) {
        return ke_err(c->err, KE_STATUS_MISSING, "%s: output '%s' is listed but has no reference tensor", c->a->in,
                      name);
    }
    if (ke_tensor_nelements(t) != n) {
        char b[96];
        return ke_err(c->err, KE_STATUS_SHAPE, "%s: tensor %s is %s (%lld elements); the model makes %lld", c->a->in,
                      name, ke_tensor_shape_str(t, b, sizeof(b)), (long long) ke_tensor_nelements(t), (long long) n);
    }
    if (c->n_w == (int) (sizeof(c->w) / sizeof(c->w[0])) || !(*buf = calloc((size_t) n, sizeof(float)))) {
        return ke_err(c->err, KE_STATUS_NOMEM, "out of memory");
    }
    c->w[c->n_w++] = (struct want) { name, n, *buf };
    return KE_STATUS_OK;
}

// Every buffer into out, shaped as the IO file's tensor of the same name.
static enum ke_status put_all(struct ctx * c, struct ke_eval_out * out)
{
    for (int i = 0; i < c->n_w; i++) {
        const struct ke_tensor * t = ke_tset_get(c->io, c->w[i].name);
        int64_t shape[KE_MAX_DIMS];
        for (int d = 0; d < t->n_dims; d++) {
            shape[d] = t->ne[t->n_dims - 1 - d];
        }
        if (ke_eval_out_add(out, c->w[i].name, c->w[i].buf, t->n_dims, shape) < 0) {
            return ke_err(c->err, KE_STATUS_NOMEM, "out of memory");
        }
    }
    return KE_STATUS_OK;
}

static void free_all(struct ctx * c)
{
    for (int i = 0; i < c->n_w; i++) {
        free(c->w[i].buf);
    }
    c->n_w = 0;
}

// The input `name` as f32 [1, C, T, H, W] (or [C, T, H, W]); C must be `C` when C > 0. d = {C, T, H, W}.
static float * input_5d(struct ctx * c, const char * name, int C, int d[4])
{
    const struct ke_tensor * t = ke_tset_get(c->io, name);
    char b[96];
    if (!t || t->n_dims < 4 || t->n_dims > 5 || (t->n_dims == 5 && t->ne[4] != 1)) {
        ke_err(c->err, t ? KE_STATUS_SHAPE : KE_STATUS_MISSING, "%s: needs a tensor %s [1, C, T, H, W]%s%s", c->a->in,
               name, t ? ", got " : "", t ? ke_tensor_shape_str(t, b, sizeof(b)) : "");
        return NULL;
    }
    for (int i = 0; i < 4; i++) {
        const int64_t v = t->ne[3 - i];
        if (v < 1 || v > (1 << 16)) {
            ke_err(c->err, KE_STATUS_SHAPE, "%s: tensor %s has a bad shape %s", c->a->in, name,
                   ke_tensor_shape_str(t, b, sizeof(b)));
            return NULL;
        }
        d[i] = (int) v;
    }
    if (C > 0 && d[0] != C) {
        ke_err(c->err, KE_STATUS_SHAPE, "%s: tensor %s has %d channels; the model takes %d", c->a->in, name, d[0], C);
        return NULL;
    }
    float * f = ke_tensor_to_f32_alloc(t);
    if (!f) {
        ke_err(c->err, KE_STATUS_NOMEM, "out of memory");
    }
    return f;
}

static enum ke_status scalar(struct ctx * c, const char * name, float * v)
{
    const struct ke_tensor * t = ke_tset_get(c->io, name);
    if (!t || ke_tensor_nelements(t) != 1 || (t->type != KE_DTYPE_F32 && t->type != KE_DTYPE_F64)) {
        return ke_err(c->err, KE_STATUS_MISSING, "%s: needs a one-element float tensor %s", c->a->in, name);
    }
    if (t->type == KE_DTYPE_F64) {
        double d;
        memcpy(&d, t->data, sizeof(d));
        *v = (float) d;
    } else {
        memcpy(v, t->data, sizeof(*v));
    }
    return KE_STATUS_OK;
}

static enum ke_status run_decoder(struct ctx * c, struct ke_ltx_vae * v)
{
    int d[4], dn[4];
    float * lat = NULL, * noise = NULL;
    float ts = 0, ns = 0;
    enum ke_status st = KE_STATUS_OK;
    if (!(lat = input_5d(c, "latent", v->cfg.latent_channels, d)) ||
        (ke_tset_get(c->io, "noise") && !(noise = input_5d(c, "noise", v->cfg.latent_channels, dn))) ||
        (st = scalar(c, "decode_timestep", &ts)) != KE_STATUS_OK ||
        (st = scalar(c, "decode_noise_scale", &ns)) != KE_STATUS_OK) {
        st = st != KE_STATUS_OK ? st : c->err->code;
        goto done;
    }
    if (noise && memcmp(d, dn, sizeof(d)) != 0) {
        st = ke_err(c->err, KE_STATUS_SHAPE, "%s: tensor noise differs in shape from latent", c->a->in);
        goto done;
    }
    struct ke_ltx_vae_inter in = { 0 };
    float * video = NULL;
    int C = v->dec.conv_in.c_out, T = d[1], H = d[2], W = d[3];
    const int64_t nl = (int64_t) d[0] * T * H * W;
    if ((st = want(c, "decoder_input", nl, &in.decoder_input)) != KE_STATUS_OK ||
        (st = want(c, "inter.decoder.conv_in", (int64_t) C * T * H * W, &in.conv_in)) != KE_STATUS_OK) {
        goto done;
    }
    for (int k = 0; k < v->dec.n; k++) {
        const struct ke_ltx_vblock * b = &v->dec.b[k];
        if (b->d.kind != KE_LTX_RES_X) {
            C = b->c_out;
            T = T * b->ft - (b->ft == 2);
            H *= b->fs;
            W *= b->fs;
        }
        char nm[64];
        snprintf(nm, sizeof(nm), "inter.decoder.up_blocks.%d", k);
        const char * keep = NULL;
        for (int i = 0; i < c->n_names; i++) {
            keep = strcmp(c->names[i], nm) == 0 ? c->names[i] : keep;
        }
        if (keep && (st = want(c, keep, (int64_t) C * T * H * W, &in.blocks[k])) != KE_STATUS_OK) {
            goto done;
        }
    }
    const int p = v->cfg.patch_size;
    float * tmp = NULL;
    if ((st = want(c, "decoded", (int64_t) v->cfg.out_channels * T * H * p * W * p, &video)) != KE_STATUS_OK) {
        goto done;
    }
    if (!video && !(tmp = video = malloc((size_t) v->cfg.out_channels * T * H * p * W * p * sizeof(float)))) {
        st = ke_err(c->err, KE_STATUS_NOMEM, "out of memory");
        goto done;
    }
    st = ke_ltx_vae_decode(v, video, lat, noise, d[1], d[2], d[3], ts, ns, &in, c->err);
    free(tmp);
done:
    free(lat);
    free(noise);
    return st;
}

static enum ke_status run_encoder(struct ctx * c, struct ke_ltx_vae * v)
{
    int d[4];
    float * vid = input_5d(c, "video", v->cfg.in_channels, d);
    if (!vid) {
        return c->err->code;
    }
    enum ke_status st = KE_STATUS_OK;
    const int Cl = v->cfg.latent_channels, p = v->cfg.patch_size, s = v->s_scale;
    if ((d[1] - 1) % v->t_scale || d[2] % s || d[3] % s) {
        free(vid);
        return ke_err(c->err, KE_STATUS_SHAPE, "%s: tensor video: %d frames of %d x %d; the encoder takes 1 + %d k "
                      "frames and sides that are multiples of %d", c->a->in, d[1], d[2], d[3], v->t_scale, s);
    }
    struct ke_ltx_vae_inter in = { 0 };
    int C = v->enc.conv_in.c_out, T = d[1], H = d[2] / p, W = d[3] / p;
    if ((st = want(c, "inter.encoder.conv_in", (int64_t) C * T * H * W, &in.conv_in)) != KE_STATUS_OK) {
        goto done;
    }
    for (int k = 0; k < v->enc.n; k++) {
        const struct ke_ltx_vblock * b = &v->enc.b[k];
        if (b->d.kind != KE_LTX_RES_X) {
            C = b->c_out;
            T = (T + (b->ft == 2)) / b->ft;
            H /= b->fs;
            W /= b->fs;
        }
        char nm[64];
        snprintf(nm, sizeof(nm), "inter.encoder.down_blocks.%d", k);
        const char * keep = NULL;
        for (int i = 0; i < c->n_names; i++) {
            keep = strcmp(c->names[i], nm) == 0 ? c->names[i] : keep;
        }
        if (keep && (st = want(c, keep, (int64_t) C * T * H * W, &in.blocks[k])) != KE_STATUS_OK) {
            goto done;
        }
    }
    const int64_t pos = (int64_t) T * H * W;
    const int n_mom = v->cfg.logvar == KE_LTX_LOGVAR_NONE ? Cl : 2 * Cl;
    float * mom = NULL, * mean = NULL, * lat = NULL, * tmp = NULL;
    if ((st = want(c, "encoded", n_mom * pos, &mom)) != KE_STATUS_OK ||
        (st = want(c, "latent_mean", Cl * pos, &mean)) != KE_STATUS_OK ||
        (st = want(c, "latent_encoded", Cl * pos, &lat)) != KE_STATUS_OK) {
        goto done;
    }
    if (!mom && !(tmp = mom = malloc((size_t) n_mom * pos * sizeof(float)))) {
        st = ke_err(c->err, KE_STATUS_NOMEM, "out of memory");
        goto done;
    }
    st = ke_ltx_vae_encode(v, mom, lat, vid, d[1], d[2], d[3], &in, c->err);
    if (st == KE_STATUS_OK && mean) {
        memcpy(mean, mom, (size_t) Cl * pos * sizeof(float));   // the posterior's mode
    }
    free(tmp);
done:
    free(vid);
    return st;
}

static enum ke_status setup(struct ctx * c, const struct ke_eval_args * a, const char * what, struct ke_backend ** be,
                            struct ke_error * err)
{
    memset(c, 0, sizeof(*c));
    c->a = a;
    c->err = err;
    if (!a->weights) {
        return ke_err(err, KE_STATUS_INVALID, "eval %s needs --weights", what);
    }
    *be = ke_eval_backend(a, err);
    if (!*be) {
        return err && err->code ? err->code : KE_STATUS_UNSUPPORTED;
    }
    enum ke_status st = ke_safetensors_open_file(&c->io, a->in, err);
    return st != KE_STATUS_OK ? st : ke_eval_outputs(c->io, &c->names, &c->n_names, err);
}

static enum ke_status finish(struct ctx * c, enum ke_status st)
{
    struct ke_eval_out * out = NULL;
    if (st == KE_STATUS_OK) {
        out = ke_eval_out_new();
        st = !out ? ke_err(c->err, KE_STATUS_NOMEM, "out of memory") : put_all(c, out);
    }
    if (st == KE_STATUS_OK) {
        st = ke_eval_out_write(out, c->a->out, c->err);
    }
    ke_eval_out_free(out);
    free_all(c);
    ke_eval_names_free(c->names, c->n_names);
    ke_tset_free(c->io);
    return st;
}

enum ke_status ke_eval_ltx_vae(const struct ke_eval_args * a, struct ke_error * err)
{
    struct ctx c;
    struct ke_backend * be = NULL;
    struct ke_ltx_vae * v = NULL;
    enum ke_status st = setup(&c, a, "ltx-vae", &be, err);
    if (st == KE_STATUS_OK) {
        st = ke_ltx_vae_open(&v, a->weights, be, err);
    }
    if (st == KE_STATUS_OK && v->has_dec && ke_tset_get(c.io, "latent")) {
        st = run_decoder(&c, v);
    }
    if (st == KE_STATUS_OK && v->has_enc && ke_tset_get(c.io, "video")) {
        st = run_encoder(&c, v);
    }
    if (st == KE_STATUS_OK && c.n_w == 0) {
        st = ke_err(err, KE_STATUS_MISSING, "%s: no latent (decoder) or video (encoder) input the model can take",
                    a->in);
    }
    ke_ltx_vae_free(v);
    return finish(&c, st);
}

enum ke_status ke_eval_ltx_upsampler(const struct ke_eval_args * a, struct ke_error * err)
{
    struct ctx c;
    struct ke_backend * be = NULL;
    struct ke_ltx_upsampler * u = NULL;
    float * lat = NULL, * sd = NULL, * mn = NULL;
    enum ke_status st = setup(&c, a, "ltx-upsampler", &be, err);
    if (st == KE_STATUS_OK) {
        st = ke_ltx_upsampler_open(&u, a->weights, be, err);
    }
    int d[4];
    if (st == KE_STATUS_OK && !(lat = input_5d(&c, "latent", u->cfg.in_channels, d))) {
        st = err->code;
    }
    const struct ke_tensor * ts = st == KE_STATUS_OK ? ke_tset_get(c.io, "std_of_means") : NULL;
    const struct ke_tensor * tm = st == KE_STATUS_OK ? ke_tset_get(c.io, "mean_of_means") : NULL;
    if (st == KE_STATUS_OK && (!ts || !tm || ke_tensor_nelements(ts) != d[0] || ke_tensor_nelements(tm) != d[0])) {
        st = ke_err(err, KE_STATUS_SHAPE, "%s: needs tensors std_of_means and mean_of_means of %d elements", a->in,
                    d[0]);
    }
    if (st == KE_STATUS_OK && (!(sd = ke_tensor_to_f32_alloc(ts)) || !(mn = ke_tensor_to_f32_alloc(tm)))) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    float * o = NULL, * r = NULL, * ii = NULL, * iu = NULL;
    if (st == KE_STATUS_OK) {
        const int64_t n = (int64_t) d[1] * d[2] * d[3], M = u->cfg.mid_channels;
        if ((st = want(&c, "upsampled", d[0] * 4 * n, &o)) == KE_STATUS_OK &&
            (st = want(&c, "upsampled_raw", d[0] * 4 * n, &r)) == KE_STATUS_OK &&
            (st = want(&c, "inter.initial", M * n, &ii)) == KE_STATUS_OK &&
            (st = want(&c, "inter.upsampler", M * 4 * n, &iu)) == KE_STATUS_OK) {
            st = ke_ltx_upsampler_run(u, o, r, lat, d[1], d[2], d[3], sd, mn, ii, iu, err);
        }
    }
    free(lat);
    free(sd);
    free(mn);
    ke_ltx_upsampler_free(u);
    return finish(&c, st);
}
