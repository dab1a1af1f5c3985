// Kinora engine: the LTX-Video transformer forward (Lightricks/LTX-Video 5260738 ltx_video/models/transformers/
// transformer3d.py Transformer3DModel, attention.py BasicTransformerBlock; diffusers v0.31.0 AdaLayerNormSingle,
// PixArtAlphaTextProjection) over the backend op table: fp32 residual stream, xbufs between fused ops (wan.c).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/threadpool.h"
#include "models/ltx/ltx-transformer.h"

// --- model --------------------------------------------------------------------------------------
// D = inner_dim, FF = ffn_dim, C = caption_channels, N = latent tokens, T = text tokens, U = distinct
// timestep values of a forward.

struct ltx_block {
    struct ke_linear q1, k1, v1, o1;       // attn1 to_q/to_k/to_v/to_out.0 (D, D)
    struct ke_linear q2, k2, v2, o2;       // attn2 (D, D); to_k/to_v (D, cross_attention_dim = D)
    struct ke_linear ff0, ff2;             // ff.net.0.proj (FF, D), ff.net.2 (D, FF)
    float * sst;                           // backend (6, D) scale_shift_table
    float * qn1, * kn1, * qn2, * kn2;      // backend (D) q_norm / k_norm weights
};

struct ke_ltx_dit {
    struct ke_ltx_dit_config cfg;
    const struct ke_tensor_set * w;
    struct ke_backend * be;
    char prefix[32];                       // "" or "model.diffusion_model."
    struct ke_linear patch;                // patchify_proj (D, in_channels)
    struct ke_linear t1, t2;               // adaln_single.emb.timestep_embedder.linear_1 (D, 256), linear_2 (D, D)
    struct ke_linear ada;                  // adaln_single.linear (6 D, D)
    struct ke_linear cap1, cap2;           // caption_projection.linear_1 (D, C), linear_2 (D, D)
    struct ke_linear proj_out;             // (out_channels, D)
    float * sst_out;                       // backend (2, D) scale_shift_table
    struct ltx_block * blocks;
    enum ke_ltx_rope_angles rope;          // how the RoPE angles are formed
    // the last forward's RoPE table (backend (N, D/2, 2)), kept while the grid stays the same (every
    // step of a sampling pass): its grid, token count and angle mode
    float * cs;
    float * cs_grid;
    int64_t cs_n;
    enum ke_ltx_rope_angles cs_rope;
    ke_ltx_dit_tap_fn tap;
    void * tap_user;
};

struct ke_ltx_dit_context {
    struct ke_ltx_dit * d;
    int n_kv;                              // text tokens the cross-attention reads (the kept ones)
    struct ke_xbuf ** kx, ** vx;           // per block backend (n_kv, D): K (RMS-normed), V
};

const struct ke_ltx_dit_config * ke_ltx_dit_get_config(const struct ke_ltx_dit * d)
{
    return &d->cfg;
}

void ke_ltx_dit_set_tap(struct ke_ltx_dit * d, ke_ltx_dit_tap_fn fn, void * user)
{
    d->tap = fn;
    d->tap_user = user;
}

static const struct ke_tensor * req(struct ke_ltx_dit * d, const char * name, int nd, const int64_t * shape,
                                    struct ke_error * err)
{
    char full[192];
    snprintf(full, sizeof(full), "%s%s", d->prefix, name);
    return ke_tset_require(d->w, full, nd, shape, err);
}

// Look up a Linear (weight [out, in] + bias [out]) with shape checks, and prepare it on the backend.
static enum ke_status get_linear(struct ke_ltx_dit * d, struct ke_linear * l, const char * name, int64_t out,
                                 int64_t in, struct ke_error * err)
{
    char wn[160], bn[160];
    snprintf(wn, sizeof(wn), "%s.weight", name);
    snprintf(bn, sizeof(bn), "%s.bias", name);
    const int64_t ws[2] = { out, in }, bs[1] = { out };
    memset(l, 0, sizeof(*l));
    const struct ke_tensor * w = req(d, wn, 2, ws, err);
    const struct ke_tensor * b = w ? req(d, bn, 1, bs, err) : NULL;
    if (!w || !b) {
        return err && err->code ? err->code : KE_STATUS_MISSING;
    }
    enum ke_status st = ke_be_linear_check(d->be, w, ke_tset_path(d->w), err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    l->w = w;
    l->b = b;
    l->n_in = in;
    l->n_out = out;
    if (d->be->ops->linear_prepare(d->be, l) < 0) {
        memset(l, 0, sizeof(*l));
        return ke_err(err, KE_STATUS_NOMEM, "%s: cannot prepare '%s%s' on the %s backend", ke_tset_path(d->w),
                      d->prefix, wn, d->be->ops->name);
    }
    ke_be_linear_drop_source(d->be, l);
    return KE_STATUS_OK;
}

// A small parameter (any float dtype) as f32 backend memory.
static float * get_vec(struct ke_ltx_dit * d, const char * name, int nd, const int64_t * shape, struct ke_error * err)
{
    const struct ke_tensor * t = req(d, name, nd, shape, err);
    if (!t) {
        return NULL;
    }
    float * dev = ke_be_upload_tensor_f32(d->be, t);
    if (!dev) {
        ke_err(err, KE_STATUS_NOMEM, "%s: out of memory for '%s%s'", ke_tset_path(d->w), d->prefix, name);
    }
    return dev;
}

static void release(struct ke_ltx_dit * d, struct ke_linear * l)
{
    if (l->w) {
        d->be->ops->linear_release(d->be, l);
    }
}

void ke_ltx_dit_free(struct ke_ltx_dit * d)
{
    if (!d) {
        return;
    }
    struct ke_linear * tops[] = { &d->patch, &d->t1, &d->t2, &d->ada, &d->cap1, &d->cap2, &d->proj_out };
    for (size_t i = 0; i < sizeof(tops) / sizeof(tops[0]); i++) {
        release(d, tops[i]);
    }
    for (int i = 0; d->blocks && i < d->cfg.num_layers; i++) {
        struct ltx_block * b = &d->blocks[i];
        struct ke_linear * ls[] = { &b->q1, &b->k1, &b->v1, &b->o1, &b->q2, &b->k2, &b->v2, &b->o2, &b->ff0, &b->ff2 };
        for (size_t j = 0; j < sizeof(ls) / sizeof(ls[0]); j++) {
            release(d, ls[j]);
        }
        float * vs[] = { b->sst, b->qn1, b->kn1, b->qn2, b->kn2 };
        for (size_t j = 0; j < sizeof(vs) / sizeof(vs[0]); j++) {
            ke_be_free(d->be, vs[j]);
        }
    }
    ke_be_free(d->be, d->sst_out);
    ke_be_free(d->be, d->cs);
    free(d->cs_grid);
    free(d->blocks);
    free(d);
}

enum ke_status ke_ltx_dit_init(struct ke_ltx_dit ** out, const struct ke_tensor_set * w, const char * config_json,
                               struct ke_backend * be, struct ke_error * err)
{
    *out = NULL;
    const char * path = ke_tset_path(w);
    struct ke_ltx_dit * d = calloc(1, sizeof(*d));
    if (!d) {
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    d->w = w;
    d->be = be;
    enum ke_status st = ke_ltx_dit_config_parse(&d->cfg, config_json ? config_json : ke_tset_meta(w, "config"),
                                                path, err);
    if (st != KE_STATUS_OK) {
        free(d);
        return st;
    }
    // the single-file checkpoint stores the transformer under model.diffusion_model. (the official
    // load_state_dict strips it); a file with neither spelling is refused by the first lookup below
    if (!ke_tset_get(w, "patchify_proj.weight") && ke_tset_get(w, "model.diffusion_model.patchify_proj.weight")) {
        snprintf(d->prefix, sizeof(d->prefix), "model.diffusion_model.");
    }
    const struct ke_ltx_dit_config * c = &d->cfg;
    const int64_t D = c->inner_dim, FF = c->ffn_dim;
    d->blocks = calloc((size_t) c->num_layers, sizeof(*d->blocks));
    if (!d->blocks) {
        free(d);
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    const int64_t s2[2] = { 2, D }, s6[2] = { 6, D }, s1[1] = { D };
    if ((st = get_linear(d, &d->patch, "patchify_proj", D, c->in_channels, err)) ||
        (st = get_linear(d, &d->t1, "adaln_single.emb.timestep_embedder.linear_1", D, c->freq_dim, err)) ||
        (st = get_linear(d, &d->t2, "adaln_single.emb.timestep_embedder.linear_2", D, D, err)) ||
        (st = get_linear(d, &d->ada, "adaln_single.linear", 6 * D, D, err)) ||
        (st = get_linear(d, &d->cap1, "caption_projection.linear_1", D, c->caption_channels, err)) ||
        (st = get_linear(d, &d->cap2, "caption_projection.linear_2", D, D, err)) ||
        (st = get_linear(d, &d->proj_out, "proj_out", c->out_channels, D, err))) {
        ke_ltx_dit_free(d);
        return st;
    }
    if (!(d->sst_out = get_vec(d, "scale_shift_table", 2, s2, err))) {
        ke_ltx_dit_free(d);
        return err && err->code ? err->code : KE_STATUS_MISSING;
    }
    for (int i = 0; i < c->num_layers; i++) {
        struct ltx_block * b = &d->blocks[i];
        char n[128];
#define LIN(field, name, o, in)                                                    \
        snprintf(n, sizeof(n), "transformer_blocks.%d.%s", i, name);               \
        if ((st = get_linear(d, &b->field, n, o, in, err)) != KE_STATUS_OK) {      \
            ke_ltx_dit_free(d);                                                    \
            return st;                                                             \
        }
#define VEC(field, name, nd, shape)                                                \
        snprintf(n, sizeof(n), "transformer_blocks.%d.%s", i, name);               \
        if (!(b->field = get_vec(d, n, nd, shape, err))) {                         \
            ke_ltx_dit_free(d);                                                    \
            return err && err->code ? err->code : KE_STATUS_MISSING;               \
        }
        LIN(q1, "attn1.to_q", D, D)
        LIN(k1, "attn1.to_k", D, D)
        LIN(v1, "attn1.to_v", D, D)
        LIN(o1, "attn1.to_out.0", D, D)
        LIN(q2, "attn2.to_q", D, D)
        LIN(o2, "attn2.to_out.0", D, D)
        LIN(ff0, "ff.net.0.proj", FF, D)
        LIN(ff2, "ff.net.2", D, FF)
        VEC(sst, "scale_shift_table", 2, s6)
        VEC(qn1, "attn1.q_norm.weight", 1, s1)
        VEC(kn1, "attn1.k_norm.weight", 1, s1)
        VEC(qn2, "attn2.q_norm.weight", 1, s1)
        VEC(kn2, "attn2.k_norm.weight", 1, s1)
    }
    // the prompt's K/V projections (read once per prompt) come last: under a device budget's resident cap
    // they are the first to stream, leaving the resident room to what every step reads
    for (int i = 0; i < c->num_layers; i++) {
        struct ltx_block * b = &d->blocks[i];
        char n[128];
        LIN(k2, "attn2.to_k", D, c->cross_attention_dim)
        LIN(v2, "attn2.to_v", D, c->cross_attention_dim)
    }
#undef LIN
#undef VEC
    *out = d;
    return KE_STATUS_OK;
}

// --- taps ----------------------------------------------------------------------------------------

static void tap_dev(struct ke_ltx_dit * d, const char * name, const float * dev, int64_t n)
{
    if (!d->tap) {
        return;
    }
    float * h = malloc((size_t) n * sizeof(float));
    if (!h) {
        ke_be_fail(d->be, KE_STATUS_NOMEM, "out of memory for the tapped tensor %s (%zu bytes)", name,
                   (size_t) n * sizeof(float));
        return;
    }
    d->be->ops->download(d->be, h, dev, (size_t) n * sizeof(float));
    d->tap(name, h, n, d->tap_user);
    free(h);
}

// --- text context --------------------------------------------------------------------------------

void ke_ltx_dit_context_free(struct ke_ltx_dit_context * c)
{
    if (!c) {
        return;
    }
    struct ke_backend * be = c->d->be;
    for (int i = 0; i < c->d->cfg.num_layers; i++) {
        if (c->kx) {
            ke_be_free(be, c->kx[i]);
        }
        if (c->vx) {
            ke_be_free(be, c->vx[i]);
        }
    }
    free(c->kx);
    free(c->vx);
    free(c);
}

enum ke_status ke_ltx_dit_context_new(struct ke_ltx_dit * d, const float * text, const uint8_t * keep, int n_text,
                                      struct ke_ltx_dit_context ** out, struct ke_error * err)
{
    *out = NULL;
    const struct ke_ltx_dit_config * c = &d->cfg;
    struct ke_backend * be = d->be;
    const struct ke_backend_ops * op = be->ops;
    if (n_text <= 0 || n_text > 65536) {
        return ke_err(err, KE_STATUS_INVALID, "text context has %d tokens (valid: 1 to 65536)", n_text);
    }
    const int64_t T = n_text, D = c->inner_dim, C = c->caption_channels;
    int n_kv = 0;
    for (int i = 0; i < n_text; i++) {
        n_kv += !keep || keep[i];
    }
    const bool all = n_kv == 0;   // every token padding: the reference's softmax is uniform over all
    if (all) {
        n_kv = n_text;
    }
    struct ke_ltx_dit_context * x = calloc(1, sizeof(*x));
    if (!x) {
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    x->d = d;
    x->n_kv = n_kv;
    x->kx = calloc((size_t) c->num_layers, sizeof(struct ke_xbuf *));
    x->vx = calloc((size_t) c->num_layers, sizeof(struct ke_xbuf *));
    float * in = ke_be_alloc(be, (size_t) (T * C) * sizeof(float));
    float * h1 = ke_be_alloc(be, (size_t) (T * D) * sizeof(float));
    float * cap = ke_be_alloc(be, (size_t) (T * D) * sizeof(float));
    float * capk = ke_be_alloc(be, (size_t) (n_kv * D) * sizeof(float));
    float * kv = ke_be_alloc(be, (size_t) (n_kv * D) * sizeof(float));
    enum ke_status st = KE_STATUS_OK;
    if (!x->kx || !x->vx || !in || !h1 || !cap || !capk || !kv) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory for the text context (%lld tokens)", (long long) T);
        goto done;
    }
    // caption projection: linear_1, tanh GELU, linear_2 (PixArtAlphaTextProjection)
    op->upload(be, in, text, (size_t) (T * C) * sizeof(float));
    op->linear(be, h1, in, T, &d->cap1);
    op->gelu_tanh(be, h1, T * D);
    op->linear(be, cap, h1, T, &d->cap2);
    tap_dev(d, "inter.caption_projection", cap, T * D);
    // the kept tokens, in runs of consecutive rows
    for (int i = 0, r = 0; i < n_text;) {
        if (!all && keep && !keep[i]) {
            i++;
            continue;
        }
        int j = i;
        while (j < n_text && (all || !keep || keep[j])) {
            j++;
        }
        op->copy(be, capk + (int64_t) r * D, cap + (int64_t) i * D, (size_t) ((int64_t) (j - i) * D) * sizeof(float));
        r += j - i;
        i = j;
    }
    for (int l = 0; l < c->num_layers && st == KE_STATUS_OK; l++) {
        const struct ltx_block * b = &d->blocks[l];
        x->kx[l] = ke_be_alloc_xbuf(be, n_kv * D);
        x->vx[l] = ke_be_alloc_xbuf(be, n_kv * D);
        if (!x->kx[l] || !x->vx[l]) {
            st = ke_err(err, KE_STATUS_NOMEM, "out of memory for the cross-attention K/V of block %d", l);
            break;
        }
        op->linear(be, kv, capk, n_kv, &b->k2);
        op->rms_norm_rope_x(be, x->kx[l], kv, n_kv, 1, (int) D, b->kn2, c->qk_eps, NULL);
        op->linear(be, kv, capk, n_kv, &b->v2);
        op->to_xbuf(be, x->vx[l], kv, n_kv * D);
    }
done:
    ke_be_free(be, in);
    ke_be_free(be, h1);
    ke_be_free(be, cap);
    ke_be_free(be, capk);
    ke_be_free(be, kv);
    const enum ke_status be_st = ke_be_status(be, err);
    if (st == KE_STATUS_OK) {
        st = be_st;
    }
    if (st != KE_STATUS_OK) {
        ke_ltx_dit_context_free(x);
        return st;
    }
    *out = x;
    return KE_STATUS_OK;
}

// --- RoPE ----------------------------------------------------------------------------------------

// precompute_freqs_cis(spacing="exp"): per axis n = D/6 frequencies theta^(j/(n-1)) * pi/2 (linspace
// of the exponent from 0 to 1), angle = freq * (2 * coord / max_pos - 1); pairs ordered (freq j, axis)
// with axis fastest; the first (D % 6)/2 pairs are padding (cos 1, sin 0).
static double rope_freq(const struct ke_ltx_dit_config * c, enum ke_ltx_rope_angles a, int j, int nf)
{
    if (a == KE_LTX_ROPE_F64) {
        return pow(c->theta, nf > 1 ? (double) j / (double) (nf - 1) : 0.0) * (3.14159265358979323846 / 2.0);
    }
    // torch.linspace(0, 1, nf) in float32 (start + step*j below the halfway point, end - step*(nf-1-j)
    // from it), theta ** that (rounded once to float32), times (float) pi, halved
    float e = 0.0f;
    if (nf > 1) {
        const float step = 1.0f / (float) (nf - 1);
        e = j < nf / 2 ? step * (float) j : 1.0f - step * (float) (nf - 1 - j);
    }
    const float f = (float) pow((double) (float) c->theta, (double) e);
    return (double) ((f * (float) 3.14159265358979323846) / 2.0f);
}

// One axis's coordinate in [-1, 1] as the angle formula takes it.
static double rope_pos(const struct ke_ltx_dit_config * c, enum ke_ltx_rope_angles a, float g, int ax)
{
    if (a == KE_LTX_ROPE_F64) {
        return 2.0 * ((double) g / c->max_pos[ax]) - 1.0;
    }
    return (double) ((g / (float) c->max_pos[ax]) * 2.0f - 1.0f);
}

struct rope_key {
    uint32_t bits;   // the coordinate's float bits (equal bits: equal angles)
    int32_t t;       // token
};

static int rope_key_cmp(const void * pa, const void * pb)
{
    const struct rope_key * a = pa, * b = pb;
    return a->bits < b->bits ? -1 : a->bits > b->bits ? 1 : a->t < b->t ? -1 : a->t > b->t;
}

struct rope_fill {
    float * cs;
    const float * tab[3];      // per axis (distinct value, frequency j) -> (cos, sin)
    const int32_t * uidx[3];   // per axis and token: the distinct value's row
    int nf, pad, half;
};

static void rope_fill_rows(void * ctx, int64_t t0, int64_t t1, int tid)
{
    (void) tid;
    const struct rope_fill * f = ctx;
    for (int64_t t = t0; t < t1; t++) {
        float * row = f->cs + t * f->half * 2;
        const float * tr[3];
        for (int ax = 0; ax < 3; ax++) {
            tr[ax] = f->tab[ax] + (int64_t) f->uidx[ax][t] * f->nf * 2;
        }
        for (int p = 0; p < f->half; p++) {
            if (p < f->pad) {
                row[2 * p] = 1.0f;
                row[2 * p + 1] = 0.0f;
                continue;
            }
            const int q = p - f->pad, j = q / 3, ax = q % 3;
            row[2 * p] = tr[ax][2 * j];
            row[2 * p + 1] = tr[ax][2 * j + 1];
        }
    }
}

// The angles depend on a token only through its three coordinates, and a grid holds few distinct values
// per axis (frames, rows, columns): cos/sin are taken once per (axis, distinct value, frequency) and the
// rows are filled from those tables (the same float64 expressions per value as a per-token loop, so the
// same floats; 27M cos/sin pairs at 13,376 tokens otherwise, seconds of host time per forward).
int ke_ltx_dit_rope_table(const struct ke_ltx_dit_config * c, enum ke_ltx_rope_angles a, const float * grid,
                          int64_t n, float * cs)
{
    const int D = c->inner_dim, nf = D / 6, pad = (D % 6) / 2, half = D / 2;
    struct rope_key * keys = malloc(sizeof(*keys) * (size_t) (n > 0 ? n : 1));
    int32_t * uidx = malloc(sizeof(int32_t) * (size_t) (3 * n > 0 ? 3 * n : 1));
    double * fr = malloc(sizeof(double) * (size_t) (nf > 0 ? nf : 1));
    float * tab[3] = { NULL, NULL, NULL };
    int rc = keys && uidx && fr ? 0 : -1;
    for (int j = 0; rc == 0 && j < nf; j++) {
        fr[j] = rope_freq(c, a, j, nf);
    }
    for (int ax = 0; rc == 0 && ax < 3; ax++) {
        for (int64_t t = 0; t < n; t++) {
            memcpy(&keys[t].bits, &grid[ax * n + t], sizeof(uint32_t));
            keys[t].t = (int32_t) t;
        }
        qsort(keys, (size_t) n, sizeof(*keys), rope_key_cmp);
        int64_t nu = 0;
        for (int64_t i = 0; i < n; i++) {
            nu += i == 0 || keys[i].bits != keys[i - 1].bits;
            uidx[ax * n + keys[i].t] = (int32_t) (nu - 1);
        }
        tab[ax] = malloc(sizeof(float) * (size_t) (nu * nf * 2 > 0 ? nu * nf * 2 : 1));
        if (!tab[ax]) {
            rc = -1;
            break;
        }
        for (int64_t i = 0, u = -1; i < n; i++) {
            if (i > 0 && keys[i].bits == keys[i - 1].bits) {
                continue;
            }
            u++;
            const double pos = rope_pos(c, a, grid[ax * n + keys[i].t], ax);
            float * tr = tab[ax] + u * nf * 2;
            for (int j = 0; j < nf; j++) {
                double ang = fr[j] * pos;
                if (a == KE_LTX_ROPE_F32) {
                    ang = (double) ((float) fr[j] * (float) pos);
                }
                tr[2 * j] = (float) cos(ang);
                tr[2 * j + 1] = (float) sin(ang);
            }
        }
    }
    if (rc == 0) {
        struct rope_fill f = { .cs = cs, .nf = nf, .pad = pad, .half = half };
        for (int ax = 0; ax < 3; ax++) {
            f.tab[ax] = tab[ax];
            f.uidx[ax] = uidx + ax * n;
        }
        ke_parallel_for(n, 256, rope_fill_rows, &f);
    }
    for (int ax = 0; ax < 3; ax++) {
        free(tab[ax]);
    }
    free(keys);
    free(uidx);
    free(fr);
    return rc;
}

void ke_ltx_dit_set_rope_angles(struct ke_ltx_dit * d, enum ke_ltx_rope_angles a)
{
    d->rope = a;
}

// --- forward -------------------------------------------------------------------------------------

// d->cs for grid[3, N]: kept from the last forward when the grid, token count and angle mode are the
// same (no tap: a tap reports the table, so it is made each time), else made on the host and uploaded.
static enum ke_status rope_cached(struct ke_ltx_dit * d, const float * grid, int64_t N)
{
    const struct ke_ltx_dit_config * c = &d->cfg;
    struct ke_backend * be = d->be;
    const int64_t D = c->inner_dim;
    const size_t gbytes = (size_t) (3 * N) * sizeof(float), tbytes = (size_t) (N * D) * sizeof(float);
    if (!d->tap && d->cs && d->cs_n == N && d->cs_rope == d->rope && memcmp(d->cs_grid, grid, gbytes) == 0) {
        return KE_STATUS_OK;
    }
    ke_be_free(be, d->cs);
    free(d->cs_grid);
    d->cs = NULL;
    d->cs_n = 0;
    d->cs_grid = malloc(gbytes);
    float * host = malloc(tbytes);
    d->cs = ke_be_alloc(be, tbytes);
    if (!d->cs_grid || !host || !d->cs || ke_ltx_dit_rope_table(c, d->rope, grid, N, host) != 0) {
        free(host);
        free(d->cs_grid);
        d->cs_grid = NULL;
        ke_be_free(be, d->cs);
        d->cs = NULL;
        return KE_STATUS_NOMEM;
    }
    be->ops->upload(be, d->cs, host, tbytes);
    memcpy(d->cs_grid, grid, gbytes);
    d->cs_n = N;
    d->cs_rope = d->rope;
    if (d->tap) {
        // the reference's layout: cos and sin each [N, D], every pair's value twice
        float * ct = malloc(tbytes);
        if (!ct) {
            ke_be_fail(be, KE_STATUS_NOMEM, "out of memory for the tapped RoPE table");
        } else {
            for (int part = 0; part < 2; part++) {
                for (int64_t i = 0; i < N * D; i++) {
                    ct[i] = host[(i / 2) * 2 + part];
                }
                d->tap(part ? "inter.rope_sin" : "inter.rope_cos", ct, N * D, d->tap_user);
            }
            free(ct);
        }
    }
    free(host);
    return KE_STATUS_OK;
}

// The linears a block's forward reads, in order (attn2's to_k/to_v only make the prompt's context): a
// backend that streams weights starts uploading them (no effect on the CPU, which has no prefetch).
static void prefetch_block(struct ke_ltx_dit * d, int i)
{
    if (i < d->cfg.num_layers && d->be->ops->prefetch) {
        struct ltx_block * b = &d->blocks[i];
        struct ke_linear * const ls[] = { &b->q1, &b->k1, &b->v1, &b->o1, &b->q2, &b->o2, &b->ff0, &b->ff2 };
        d->be->ops->prefetch(d->be, ls, (int) (sizeof(ls) / sizeof(ls[0])));
    }
}

enum ke_status ke_ltx_dit_forward(struct ke_ltx_dit * d, const struct ke_ltx_dit_context * ctx, const float * x_in,
                                  int64_t N, const float * grid, const float * t_in, int64_t n_t, float * out,
                                  ke_abort_fn abort, void * abort_user, struct ke_error * err)
{
    const struct ke_ltx_dit_config * c = &d->cfg;
    struct ke_backend * be = d->be;
    const struct ke_backend_ops * op = be->ops;
    if (N <= 0 || N > (1 << 24)) {
        return ke_err(err, KE_STATUS_INVALID, "LTX-Video transformer got %lld tokens (valid: 1 to %d)", (long long) N,
                      1 << 24);
    }
    if (n_t != 1 && n_t != N) {
        return ke_err(err, KE_STATUS_SHAPE, "LTX-Video transformer got %lld timesteps; expected 1 or one per token "
                      "(%lld)", (long long) n_t, (long long) N);
    }
    const int64_t D = c->inner_dim, FF = c->ffn_dim, Co = c->out_channels, Ci = c->in_channels;
    const int hd = c->head_dim, fd = c->freq_dim, half = fd / 2;

    // distinct timestep values -> per-token selector (conditioning tokens carry their own timestep)
    int64_t U = 0;
    float * uniq = malloc(sizeof(float) * (size_t) n_t);
    int32_t * sel = n_t > 1 ? malloc(sizeof(int32_t) * (size_t) n_t) : NULL;
    if (!uniq || (n_t > 1 && !sel)) {
        free(uniq);
        free(sel);
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < n_t; i++) {
        int64_t j = 0;
        while (j < U && uniq[j] != t_in[i]) {
            j++;
        }
        if (j == U) {
            uniq[U++] = t_in[i];
        }
        if (sel) {
            sel[i] = (int32_t) j;
        }
    }

    // buffers (backend memory): f32 unless an xbuf
    const size_t f4 = sizeof(float);
    float * xin = ke_be_alloc(be, (size_t) (N * Ci) * f4);           // (N, in_channels)
    float * h = ke_be_alloc(be, (size_t) (N * D) * f4);              // (N, D) residual stream
    float * q = ke_be_alloc(be, (size_t) (N * D) * f4);              // (N, D) linear outputs / scratch
    float * k = ke_be_alloc(be, (size_t) (N * D) * f4);
    float * v = ke_be_alloc(be, (size_t) (N * D) * f4);
    struct ke_xbuf * xn = ke_be_alloc_xbuf(be, N * D);               // (N, D) normalised GEMM input
    struct ke_xbuf * qx = ke_be_alloc_xbuf(be, N * D);               // (N, D) attention q, k, v, o
    struct ke_xbuf * kx = ke_be_alloc_xbuf(be, N * D);
    struct ke_xbuf * vx = ke_be_alloc_xbuf(be, N * D);
    struct ke_xbuf * ox = ke_be_alloc_xbuf(be, N * D);
    struct ke_xbuf * fx = ke_be_alloc_xbuf(be, N * FF);              // (N, FF) FFN hidden state
    float * sinus = ke_be_alloc(be, (size_t) (U * fd) * f4);         // (U, 256)
    float * e1 = ke_be_alloc(be, (size_t) (U * D) * f4);             // (U, D)
    float * emb = ke_be_alloc(be, (size_t) (U * D) * f4);            // (U, D) embedded_timestep
    float * tmod = ke_be_alloc(be, (size_t) (U * 6 * D) * f4);       // (U, 6 D) adaln_single output
    float * mod = ke_be_alloc(be, (size_t) (U * 6 * D) * f4);        // (U, 6 D) per block
    float * o = ke_be_alloc(be, (size_t) (N * Co) * f4);             // (N, out_channels)
    int32_t * sel_dev = sel && U > 1 ? ke_be_alloc(be, (size_t) N * sizeof(int32_t)) : NULL;
    float * host = malloc((size_t) (U * fd) * f4);
    enum ke_status st = KE_STATUS_OK;
    if (!xin || !h || !q || !k || !v || !xn || !qx || !kx || !vx || !ox || !fx || !sinus || !e1 || !emb ||
        !tmod || !mod || !o || (sel && U > 1 && !sel_dev) || !host) {
        char note[96];
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory for the LTX-Video transformer's activations at %lld "
                    "tokens%s", (long long) N, ke_be_mem_note(be, note, sizeof note));
        goto done;
    }
    const int32_t * sd = sel_dev;   // NULL: one timestep row for all tokens
    if (sel_dev) {
        op->upload(be, sel_dev, sel, (size_t) N * sizeof(int32_t));
    }

    // timestep embedding: t * timestep_scale_multiplier, then the diffusers sinusoid [cos | sin] with
    // flip_sin_to_cos and no frequency shift. Its argument is formed in float32 as the reference
    // forms it (exp of a float32 exponent times the float32 timestep): at t*1000 ~ 1000 a float64
    // argument would differ by up to 6e-5 rad; sin/cos of that argument are taken in float64.
    for (int64_t u = 0; u < U; u++) {
        const float ts = (float) c->timestep_scale * uniq[u];
        const float l10k = (float) -log(10000.0);
        for (int i = 0; i < half; i++) {
            const float ex = (l10k * (float) i) / (float) half;
            const float arg = ts * expf(ex);
            host[u * fd + i] = (float) cos((double) arg);
            host[u * fd + half + i] = (float) sin((double) arg);
        }
    }
    op->upload(be, sinus, host, (size_t) (U * fd) * f4);
    op->linear(be, e1, sinus, U, &d->t1);
    op->silu(be, e1, U * D);
    op->linear(be, emb, e1, U, &d->t2);
    op->copy(be, e1, emb, (size_t) (U * D) * f4);
    op->silu(be, e1, U * D);
    op->linear(be, tmod, e1, U, &d->ada);
    if (d->tap) {
        // one row per given timestep, as the reference reports them ([1, n_t, X])
        const int64_t widths[2] = { 6 * D, D };
        const float * srcs[2] = { tmod, emb };
        const char * names[2] = { "inter.timestep", "inter.embedded_timestep" };
        for (int j = 0; j < 2; j++) {
            float * uh = malloc((size_t) (U * widths[j]) * f4);
            float * th = malloc((size_t) (n_t * widths[j]) * f4);
            if (!uh || !th) {
                ke_be_fail(be, KE_STATUS_NOMEM, "out of memory for the tapped %s", names[j]);
            } else {
                op->download(be, uh, srcs[j], (size_t) (U * widths[j]) * f4);
                for (int64_t i = 0; i < n_t; i++) {
                    memcpy(th + i * widths[j], uh + (sel ? sel[i] : 0) * widths[j], (size_t) widths[j] * f4);
                }
                d->tap(names[j], th, n_t * widths[j], d->tap_user);
            }
            free(uh);
            free(th);
        }
    }

    // RoPE table over the whole inner dim (one "head" of D for the rope ops), made again only when the
    // grid changed since the last forward
    if ((st = rope_cached(d, grid, N)) != KE_STATUS_OK) {
        st = ke_err(err, st, "out of memory for the LTX-Video transformer's RoPE table at %lld tokens", (long long) N);
        goto done;
    }
    const float * cs = d->cs;

    // patchify_proj (patch_size 1: the tokens are the latent's channels)
    op->upload(be, xin, x_in, (size_t) (N * Ci) * f4);
    op->linear(be, h, xin, N, &d->patch);

    const float attn_scale = 1.0f / sqrtf((float) hd);
    prefetch_block(d, 0);
    for (int li = 0; li < c->num_layers; li++) {
        if (abort && abort(abort_user)) {
            st = ke_err(err, KE_STATUS_ABORTED, "cancelled");
            goto done;
        }
        if (ke_be_failed(be)) {
            goto done;
        }
        const struct ltx_block * b = &d->blocks[li];
        prefetch_block(d, li + 1);   // a streaming backend uploads the next block while this one runs
        // ada values: scale_shift_table + timestep, rows shift_msa, scale_msa, gate_msa, shift_mlp,
        // scale_mlp, gate_mlp
        for (int64_t u = 0; u < U; u++) {
            op->add(be, mod + u * 6 * D, tmod + u * 6 * D, b->sst, 6 * D);
        }
        // self-attention: RMS norm + modulate -> q, k, v -> q/k RMS norm (across heads) + RoPE -> attention
        // -> to_out, gated into the residual
        op->rms_norm_mod_x(be, xn, h, N, D, c->norm_eps, mod + 0 * D, mod + 1 * D, 6 * D, sd);
        op->linear_x(be, q, xn, N, &b->q1);
        op->linear_x(be, k, xn, N, &b->k1);
        op->linear_x(be, v, xn, N, &b->v1);
        op->rms_norm_rope_x(be, qx, q, N, 1, (int) D, b->qn1, c->qk_eps, cs);
        op->rms_norm_rope_x(be, kx, k, N, 1, (int) D, b->kn1, c->qk_eps, cs);
        op->to_xbuf(be, vx, v, N * D);
        op->attention_x(be, ox, qx, kx, vx, N, N, c->num_heads, hd, attn_scale);
        op->linear_gated_add_x(be, h, ox, N, &b->o1, mod + 2 * D, 6 * D, sd, q);
        // cross-attention on the raw residual (no norm, no gate), q RMS-normed, no RoPE
        op->to_xbuf(be, xn, h, N * D);
        op->linear_x(be, q, xn, N, &b->q2);
        op->rms_norm_rope_x(be, qx, q, N, 1, (int) D, b->qn2, c->qk_eps, NULL);
        op->attention_x(be, ox, qx, ctx->kx[li], ctx->vx[li], N, ctx->n_kv, c->num_heads, hd, attn_scale);
        op->linear_gated_add_x(be, h, ox, N, &b->o2, NULL, 0, NULL, q);
        // feed-forward: RMS norm + modulate -> ff.net.0 + tanh GELU -> ff.net.2, gated into the residual
        op->rms_norm_mod_x(be, xn, h, N, D, c->norm_eps, mod + 3 * D, mod + 4 * D, 6 * D, sd);
        op->linear_gelu_x(be, fx, xn, N, &b->ff0);
        op->linear_gated_add_x(be, h, fx, N, &b->ff2, mod + 5 * D, 6 * D, sd, q);
        if (d->tap) {
            char name[32];
            snprintf(name, sizeof(name), "inter.block%d", li);
            tap_dev(d, name, h, N * D);
        }
    }

    // output: LayerNorm (eps 1e-6, no affine), shift/scale = scale_shift_table + embedded_timestep
    for (int64_t u = 0; u < U; u++) {
        op->add(be, mod + u * 2 * D, emb + u * D, d->sst_out, D);
        op->add(be, mod + u * 2 * D + D, emb + u * D, d->sst_out + D, D);
    }
    op->layer_norm_mod_x(be, xn, h, N, D, NULL, NULL, 1e-6f, mod, mod + D, 2 * D, sd);
    op->linear_x(be, o, xn, N, &d->proj_out);
    op->download(be, out, o, (size_t) (N * Co) * f4);

done:
    free(host);
    free(uniq);
    free(sel);
    void * bufs[] = { xin, h, q, k, v, xn, qx, kx, vx, ox, fx, sinus, e1, emb, tmod, mod, o, sel_dev };
    for (size_t i = 0; i < sizeof(bufs) / sizeof(bufs[0]); i++) {
        ke_be_free(be, bufs[i]);
    }
    const enum ke_status be_st = ke_be_status(be, err);
    if (st == KE_STATUS_OK) {
        st = be_st;
    }
    return st;
}
