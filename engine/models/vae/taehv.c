// Kinora engine: TAEHV loading (madebyollin/taehv taehv.py at 1f14a56). The layer table follows the
// reference's nn.Sequential positions; every width is read from the tensor shapes and checked against
// its neighbours, so a file that does not fit gets an error naming the file and the key.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "loaders/loaders.h"
#include "models/vae/taehv.h"

// The reference layouts (TAEHV.__init__, base variant).
static const enum taehv_op g_dec_ops[] = {
    TAE_CLAMP, TAE_CONV, TAE_RELU, TAE_MEM, TAE_MEM, TAE_MEM, TAE_UP2, TAE_TGROW, TAE_CONV,
    TAE_MEM, TAE_MEM, TAE_MEM, TAE_UP2, TAE_TGROW, TAE_CONV,
    TAE_MEM, TAE_MEM, TAE_MEM, TAE_UP2, TAE_TGROW, TAE_CONV, TAE_RELU, TAE_CONV,
};
static const enum taehv_op g_enc_ops[] = {
    TAE_CONV, TAE_RELU, TAE_TPOOL, TAE_CONV, TAE_MEM, TAE_MEM, TAE_MEM,
    TAE_TPOOL, TAE_CONV, TAE_MEM, TAE_MEM, TAE_MEM, TAE_TPOOL, TAE_CONV, TAE_MEM, TAE_MEM, TAE_MEM, TAE_CONV,
};
#define N_DEC ((int) (sizeof(g_dec_ops) / sizeof(g_dec_ops[0])))
#define N_ENC ((int) (sizeof(g_enc_ops) / sizeof(g_enc_ops[0])))
// decoder_time_upscale = (False, True, True) and encoder_time_downscale = (True, True, False).
static const int g_tgrow_stride[3] = { 1, 2, 2 };
static const int g_tpool_stride[3] = { 2, 2, 1 };

struct loader {
    struct ke_taehv * t;
    struct ke_error * err;
    const char * path;
};

static const struct ke_tensor * get(struct loader * L, const char * name)
{
    return ke_tset_get(L->t->ws, name);
}

// A 2-D conv weight [Cout, Cin, k, k] (+ bias when `bias`); expect_* < 0: any.
static enum ke_status conv_check(struct loader * L, const char * pfx, const struct ke_tensor * w, int k,
                                 int expect_in, int expect_out)
{
    char buf[96];
    if (!w) {
        return ke_err(L->err, KE_STATUS_MISSING, "%s: tensor %s.weight is missing (not a TAEHV checkpoint?)", L->path,
                      pfx);
    }
    if (w->n_dims != 4 || w->ne[0] != k || w->ne[1] != k || w->ne[2] < 1 || w->ne[3] < 1 || w->ne[2] > 65536 ||
        w->ne[3] > 65536) {
        return ke_err(L->err, KE_STATUS_SHAPE, "%s: %s.weight: expected a [out, in, %d, %d] conv weight, got %s",
                      L->path, pfx, k, k, ke_tensor_shape_str(w, buf, sizeof(buf)));
    }
    if ((expect_in >= 0 && w->ne[2] != expect_in) || (expect_out >= 0 && w->ne[3] != expect_out)) {
        return ke_err(L->err, KE_STATUS_SHAPE, "%s: %s.weight: expected [%d, %d, %d, %d], got %s", L->path, pfx,
                      expect_out, expect_in, k, k, ke_tensor_shape_str(w, buf, sizeof(buf)));
    }
    if (w->type != KE_DTYPE_F32 && w->type != KE_DTYPE_F16 && w->type != KE_DTYPE_BF16) {
        return ke_err(L->err, KE_STATUS_UNSUPPORTED, "%s: %s.weight: dtype %s is not supported (F32, F16 or BF16)",
                      L->path, pfx, ke_dtype_name(w->type));
    }
    return KE_STATUS_OK;
}

static enum ke_status conv_prepare(struct loader * L, struct ke_conv3d * c, const struct ke_tensor * w,
                                   const char * pfx, bool bias)
{
    char name[200];
    memset(c, 0, sizeof(*c));
    c->w = w;
    c->c_out = (int) w->ne[3];
    c->c_in = (int) w->ne[2];
    c->kt = 1;
    c->kh = (int) w->ne[1];
    c->kw = (int) w->ne[0];
    snprintf(name, sizeof(name), "%s.bias", pfx);
    c->b = get(L, name);
    if (bias && !c->b) {
        return ke_err(L->err, KE_STATUS_MISSING, "%s: tensor %s is missing", L->path, name);
    }
    if (!bias && c->b) {
        return ke_err(L->err, KE_STATUS_SHAPE, "%s: unexpected tensor %s (this conv has no bias)", L->path, name);
    }
    if (c->b && (ke_tensor_nelements(c->b) != c->c_out || (c->b->type != KE_DTYPE_F32 && c->b->type != KE_DTYPE_F16 &&
                                                           c->b->type != KE_DTYPE_BF16))) {
        char buf[96];
        return ke_err(L->err, KE_STATUS_SHAPE, "%s: %s: expected %d %s elements, got %s %s", L->path, name, c->c_out,
                      "float", ke_tensor_shape_str(c->b, buf, sizeof(buf)), ke_dtype_name(c->b->type));
    }
    if (L->t->be->ops->conv3d_prepare(L->t->be, c) != 0) {
        return ke_err(L->err, KE_STATUS_NOMEM, "%s: %s: out of memory preparing the conv weight", L->path, pfx);
    }
    return KE_STATUS_OK;
}

static enum ke_status load_conv(struct loader * L, struct ke_conv3d * c, const char * pfx, int k, int c_in, int c_out,
                                bool bias)
{
    char name[200];
    snprintf(name, sizeof(name), "%s.weight", pfx);
    const struct ke_tensor * w = get(L, name);
    enum ke_status st = conv_check(L, pfx, w, k, c_in, c_out);
    return st != KE_STATUS_OK ? st : conv_prepare(L, c, w, pfx, bias);
}

// A host f32 copy of w with channels permuted between torch's pixel (un)shuffle order (c, dy, dx) and
// the backend op's (c, dx, dy), along the output (dim_out) or the input channels.
static enum ke_status permuted(struct loader * L, int slot, const struct ke_tensor * w, bool dim_out, int p,
                               const struct ke_tensor ** res)
{
    float * src = ke_tensor_to_f32_alloc(w);
    const int64_t n = ke_tensor_nelements(w);
    float * dst = malloc((size_t) n * sizeof(float));
    if (!src || !dst) {
        free(src);
        free(dst);
        return ke_err(L->err, KE_STATUS_NOMEM, "out of memory loading %s", L->path);
    }
    const int64_t inner = w->n_dims == 1 ? 1 : ke_tensor_nelements(w) / w->ne[w->n_dims - 1];
    const int64_t C = dim_out ? w->ne[w->n_dims - 1] : w->ne[w->n_dims - 2];
    const int64_t rows = dim_out ? 1 : w->ne[w->n_dims - 1];
    const int64_t blk = dim_out ? inner : inner / C;   // elements per channel
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t k = 0; k < C; k++) {
            const int64_t c = k / (p * p), dx = (k / p) % p, dy = k % p;   // backend index c*p*p + dx*p + dy
            const int64_t kt = c * p * p + dy * p + dx;                    // the same channel in torch's order
            memcpy(dst + (r * C + k) * blk, src + (r * C + kt) * blk, (size_t) blk * sizeof(float));
        }
    }
    free(src);
    int64_t shape[KE_MAX_DIMS];
    for (int d = 0; d < w->n_dims; d++) {
        shape[d] = w->ne[w->n_dims - 1 - d];
    }
    L->t->perm[slot] = dst;
    ke_tensor_init(&L->t->perm_t[slot], KE_DTYPE_F32, w->n_dims, shape, dst);
    L->t->perm_t[slot].name = w->name;
    *res = &L->t->perm_t[slot];
    return KE_STATUS_OK;
}

static enum ke_status load_mem(struct loader * L, struct taehv_layer * y, const char * pfx, int C)
{
    char p[160], name[200];
    snprintf(p, sizeof(p), "%s.conv.0", pfx);
    snprintf(name, sizeof(name), "%s.weight", p);
    const struct ke_tensor * w0 = get(L, name);
    enum ke_status st = conv_check(L, p, w0, 3, 2 * C, -1);
    if (st != KE_STATUS_OK) {
        return st;
    }
    const int n_out = (int) w0->ne[3];
    if ((st = conv_prepare(L, &y->c[0], w0, p, true)) != KE_STATUS_OK) {
        return st;
    }
    for (int k = 1; k < 3; k++) {
        snprintf(p, sizeof(p), "%s.conv.%d", pfx, 2 * k);
        if ((st = load_conv(L, &y->c[k], p, 3, n_out, n_out, true)) != KE_STATUS_OK) {
            return st;
        }
    }
    snprintf(p, sizeof(p), "%s.skip", pfx);
    snprintf(name, sizeof(name), "%s.weight", p);
    y->has_skip = get(L, name) != NULL;
    if (y->has_skip || n_out != C) {
        if ((st = load_conv(L, &y->skip, p, 1, C, n_out, false)) != KE_STATUS_OK) {
            return st;
        }
        y->has_skip = true;
    }
    y->c_in = C;
    y->c_out = n_out;
    return KE_STATUS_OK;
}

// decoder.N.conv.weight [s*C, C, 1, 1] (TGrow) / encoder.N.conv.weight [C, s*C, 1, 1] (TPool).
static enum ke_status load_tconv(struct loader * L, struct taehv_layer * y, const char * pfx, int C, int stride,
                                 bool grow)
{
    char p[160], name[200], buf[96];
    snprintf(p, sizeof(p), "%s.conv", pfx);
    snprintf(name, sizeof(name), "%s.weight", p);
    const struct ke_tensor * w = get(L, name);
    enum ke_status st = conv_check(L, p, w, 1, grow ? C : stride * C, grow ? -1 : C);
    if (st != KE_STATUS_OK) {
        return st;
    }
    if (grow) {
        if (w->ne[3] != C && w->ne[3] != 2 * C) {
            return ke_err(L->err, KE_STATUS_SHAPE, "%s: %s: expected [%d or %d, %d, 1, 1], got %s", L->path, name, C,
                          2 * C, C, ke_tensor_shape_str(w, buf, sizeof(buf)));
        }
        if (w->ne[3] < (int64_t) stride * C) {
            return ke_err(L->err, KE_STATUS_SHAPE, "%s: %s: a time upscale by %d needs %d output rows, got %s", L->path,
                          name, stride, stride * C, ke_tensor_shape_str(w, buf, sizeof(buf)));
        }
        // the last stride*C output rows (reference: patch_tgrow_layers)
        y->view = *w;
        y->view.ne[3] = (int64_t) stride * C;
        y->view.data = (char *) w->data + (size_t) (w->ne[3] - y->view.ne[3]) * w->nb[3];
        w = &y->view;
    }
    if ((st = conv_prepare(L, &y->c[0], w, p, false)) != KE_STATUS_OK) {
        return st;
    }
    y->stride = stride;
    y->c_in = y->c_out = C;
    return KE_STATUS_OK;
}

static enum ke_status load_coder(struct loader * L, struct taehv_coder * cd, bool dec)
{
    const enum taehv_op * ops = dec ? g_dec_ops : g_enc_ops;
    const int n = dec ? N_DEC : N_ENC;
    const char * who = dec ? "decoder" : "encoder";
    const int p = L->t->patch;
    int C = dec ? L->t->z : 3 * p * p, n_t = 0;
    char pfx[64], name[96];
    enum ke_status st = KE_STATUS_OK;
    cd->n = n;
    cd->t_scale = 1;
    cd->s_scale = 1;
    for (int i = 0; i < n && st == KE_STATUS_OK; i++) {
        struct taehv_layer * y = &cd->l[i];
        y->op = ops[i];
        y->c_in = y->c_out = C;
        snprintf(pfx, sizeof(pfx), "%s.%d", who, i);
        switch (y->op) {
        case TAE_CONV: {
            snprintf(name, sizeof(name), "%s.weight", pfx);
            const struct ke_tensor * w = get(L, name);
            const bool first = i == 0, last = i == n - 1;
            // decoder: bias on the first and last convs; encoder: no bias on the stride-2 convs
            const bool bias = dec ? (i == 1 || last) : (first || last);
            if ((st = conv_check(L, pfx, w, 3, C, last ? (dec ? 3 * p * p : L->t->z) : -1)) != KE_STATUS_OK) {
                break;
            }
            y->stride = !dec && !first && !last ? 2 : 1;
            y->c_out = (int) w->ne[3];
            if ((dec && last) || (!dec && first)) {
                // next to the pixel (un)shuffle: channels into the backend op's order
                const struct ke_tensor * pw = NULL, * pb = NULL;
                if ((st = permuted(L, dec ? 0 : 2, w, dec, p, &pw)) != KE_STATUS_OK) {
                    break;
                }
                if ((st = conv_prepare(L, &y->c[0], pw, pfx, bias)) != KE_STATUS_OK) {
                    break;
                }
                if (dec && y->c[0].b && (st = permuted(L, 1, y->c[0].b, true, p, &pb)) == KE_STATUS_OK) {
                    L->t->be->ops->conv3d_release(L->t->be, &y->c[0]);
                    y->c[0].b = pb;
                    if (L->t->be->ops->conv3d_prepare(L->t->be, &y->c[0]) != 0) {
                        st = ke_err(L->err, KE_STATUS_NOMEM, "%s: %s: out of memory preparing the conv weight",
                                    L->path, pfx);
                    }
                }
            } else {
                st = conv_prepare(L, &y->c[0], w, pfx, bias);
            }
            if (y->stride == 2) {
                cd->s_scale *= 2;
            }
            break;
        }
        case TAE_MEM:
            st = load_mem(L, y, pfx, C);
            break;
        case TAE_TGROW:
        case TAE_TPOOL: {
            const int s = dec ? g_tgrow_stride[n_t] : g_tpool_stride[n_t];
            n_t++;
            st = load_tconv(L, y, pfx, C, s, dec);
            cd->t_scale *= s;
            break;
        }
        case TAE_UP2:
            cd->s_scale *= 2;
            break;
        case TAE_CLAMP:
        case TAE_RELU:
            break;
        }
        C = y->c_out;
    }
    return st;
}

enum ke_status ke_taehv_init(struct ke_taehv ** out, struct ke_tensor_set * ws, bool own_ws, struct ke_backend * be,
                             struct ke_error * err)
{
    *out = NULL;
    struct ke_taehv * t = calloc(1, sizeof(*t));
    if (!t) {
        if (own_ws) {
            ke_tset_free(ws);
        }
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    t->be = be;
    t->ws = ws;
    t->own_ws = own_ws;
    t->mem_budget = 1.0e9;
    struct loader L = { .t = t, .err = err, .path = ke_tset_path(ws) ? ke_tset_path(ws) : "(weights)" };
    enum ke_status st = KE_STATUS_OK;
    char buf[96];
    // the super variant (taew2_2_super) has depthwise 7x7 blocks: another layout
    if (ke_tset_get(ws, "decoder.1.conv.0.weight")) {
        st = ke_err(err, KE_STATUS_UNSUPPORTED, "%s: the 'super' TAEHV decoder variant is not supported", L.path);
        goto fail;
    }
    const struct ke_tensor * d1 = ke_tset_get(ws, "decoder.1.weight");
    const struct ke_tensor * dl = ke_tset_get(ws, "decoder.22.weight");
    const struct ke_tensor * e0 = ke_tset_get(ws, "encoder.0.weight");
    const struct ke_tensor * el = ke_tset_get(ws, "encoder.17.weight");
    t->has_dec = d1 || dl;
    t->has_enc = e0 || el;
    if (!t->has_dec && !t->has_enc) {
        st = ke_err(err, KE_STATUS_MISSING, "%s: no TAEHV decoder.1.weight or encoder.0.weight (not a TAEHV file)",
                    L.path);
        goto fail;
    }
    // latent channels and patch size from the decoder's ends (else the encoder's)
    const struct ke_tensor * zt = t->has_dec ? d1 : el, * pt = t->has_dec ? dl : e0;
    if (!zt || !pt || zt->n_dims != 4 || pt->n_dims != 4) {
        st = ke_err(err, KE_STATUS_SHAPE, "%s: the %s's first and last conv weights must be 4-D", L.path,
                    t->has_dec ? "decoder" : "encoder");
        goto fail;
    }
    t->z = (int) (t->has_dec ? zt->ne[2] : zt->ne[3]);
    const int64_t img = t->has_dec ? pt->ne[3] : pt->ne[2];
    t->patch = img == 3 ? 1 : img == 12 ? 2 : img == 48 ? 4 : 0;
    if (!t->patch || t->z < 1 || t->z > 4096) {
        st = ke_err(err, KE_STATUS_SHAPE, "%s: cannot tell the latent channels and patch size from %s %s", L.path,
                    pt->name ? pt->name : "the last conv", ke_tensor_shape_str(pt, buf, sizeof(buf)));
        goto fail;
    }
    if (t->has_dec && (st = load_coder(&L, &t->dec, true)) != KE_STATUS_OK) {
        goto fail;
    }
    if (t->has_enc && (st = load_coder(&L, &t->enc, false)) != KE_STATUS_OK) {
        goto fail;
    }
    if ((t->has_dec && t->dec.s_scale != 8) || (t->has_enc && t->enc.s_scale != 8)) {
        st = ke_err(err, KE_STATUS_SHAPE, "%s: unexpected spatial scale", L.path);
        goto fail;
    }
    *out = t;
    return KE_STATUS_OK;
fail:
    ke_taehv_free(t);
    return st;
}

enum ke_status ke_taehv_open(struct ke_taehv ** out, const char * path, struct ke_backend * be, struct ke_error * err)
{
    *out = NULL;
    struct ke_tensor_set * ws = NULL;
    enum ke_status st = ke_weights_open(&ws, path, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    return ke_taehv_init(out, ws, true, be, err);
}

static void free_coder(struct ke_taehv * t, struct taehv_coder * cd)
{
    for (int i = 0; i < TAEHV_MAX_LAYERS; i++) {
        struct taehv_layer * y = &cd->l[i];
        for (int k = 0; k < 3; k++) {
            if (y->c[k].prepared) {
                t->be->ops->conv3d_release(t->be, &y->c[k]);
            }
        }
        if (y->skip.prepared) {
            t->be->ops->conv3d_release(t->be, &y->skip);
        }
        ke_be_free(t->be, y->mem);
        y->mem = NULL;
    }
}

void ke_taehv_free(struct ke_taehv * t)
{
    if (!t) {
        return;
    }
    free_coder(t, &t->dec);
    free_coder(t, &t->enc);
    for (int k = 0; k < 3; k++) {
        free(t->perm[k]);
    }
    if (t->own_ws) {
        ke_tset_free(t->ws);
    }
    free(t);
}

int ke_taehv_decoded_frames(const struct ke_taehv * t, int n_lat)
{
    const int u = t->has_dec ? t->dec.t_scale : 4;
    return n_lat < 1 ? 0 : n_lat * u - (u - 1);
}

int ke_taehv_scale(const struct ke_taehv * t)
{
    return 8 * t->patch;
}
