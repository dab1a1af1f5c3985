// Kinora engine: TAEHV forward passes (madebyollin/taehv taehv.py at 1f14a56,
// apply_model_with_memblocks). A pass runs a run of frames through the layers in order, in parallel
// over its frames; when a layer's activations would pass the memory budget the frames are split in two
// and each half runs on from that layer, the earlier half first, which the MemBlock memories make exact.
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/vae/taehv.h"

#define OPS (t->be->ops)

struct act {
    float * d;                  // [C, T, H, W] backend memory
    int C, T, H, W;
};

// Where finished frames go (the pass's output, in order).
struct sink {
    struct ke_taehv * t;
    const struct ke_taehv_run_opts * o;
    bool dec;
    float * host;               // output [C, F, H, W]
    int F;                      // frames in host
    int done;                   // frames emitted so far (decoder: before the trim)
    int trim;                   // decoder: leading frames dropped
    ke_vae_frame_fn cb;
    void * user_data;
    float * frame;              // host scratch for cb: [3, H, W]
    bool aborted;
    bool split;                 // a pass was split (intermediates are then incomplete)
};

static enum ke_status act_new(struct ke_taehv * t, struct act * a, int C, int T, int H, int W)
{
    a->C = C;
    a->T = T;
    a->H = H;
    a->W = W;
    const size_t n = (size_t) C * T * H * W * sizeof(float);
    a->d = ke_be_alloc(t->be, n ? n : sizeof(float));
    if (!a->d) {
        return ke_be_fail(t->be, KE_STATUS_NOMEM, "out of memory for TAEHV activations (%zu bytes)", n);
    }
    return KE_STATUS_OK;
}

static void act_free(struct ke_taehv * t, struct act * a)
{
    ke_be_free(t->be, a->d);
    a->d = NULL;
}

static int64_t act_n(const struct act * a)
{
    return (int64_t) a->C * a->T * a->H * a->W;
}

// y = conv(x), 'same' zero padding for 3x3 (spatial stride s), none for 1x1.
static enum ke_status conv(struct ke_taehv * t, const struct ke_conv3d * c, const struct act * x, struct act * y,
                           int s)
{
    const int pad = c->kh / 2;
    const int Ho = (x->H + 2 * pad - c->kh) / s + 1, Wo = (x->W + 2 * pad - c->kw) / s + 1;
    enum ke_status st = act_new(t, y, c->c_out, x->T, Ho, Wo);
    if (st == KE_STATUS_OK) {
        OPS->conv3d(t->be, y->d, x->d, c, x->T, x->H, x->W, 0, 0, pad, pad, 1, s, s);
    }
    return st;
}

// MemBlock: relu(conv4(relu(conv2(relu(conv0([x, past]))))) + skip(x)), past = x one frame earlier.
static enum ke_status mem_block(struct ke_taehv * t, struct taehv_layer * l, struct act * x, struct act * y)
{
    const int64_t hw = (int64_t) x->H * x->W, plane = (int64_t) x->T * hw;
    if (l->mem && l->mem_hw != hw) {
        ke_be_free(t->be, l->mem);
        l->mem = NULL;
    }
    if (!l->mem) {
        l->mem = ke_be_alloc(t->be, (size_t) x->C * hw * sizeof(float));
        if (!l->mem) {
            return ke_be_fail(t->be, KE_STATUS_NOMEM, "out of memory for a TAEHV memory block (%zu bytes)",
                              (size_t) x->C * hw * sizeof(float));
        }
        OPS->memset0(t->be, l->mem, (size_t) x->C * hw * sizeof(float));
        l->mem_hw = hw;
    }
    struct act cat, h1, h2;
    enum ke_status st = act_new(t, &cat, 2 * x->C, x->T, x->H, x->W);
    if (st != KE_STATUS_OK) {
        return st;
    }
    OPS->copy(t->be, cat.d, x->d, (size_t) x->C * plane * sizeof(float));
    float * past = cat.d + (int64_t) x->C * plane;
    OPS->frame_copy(t->be, past, 0, x->T, 0, l->mem, 0, 1, 0, 1, x->C, hw);
    if (x->T > 1) {
        OPS->frame_copy(t->be, past, 0, x->T, 1, x->d, 0, x->T, 0, x->T - 1, x->C, hw);
    }
    OPS->frame_copy(t->be, l->mem, 0, 1, 0, x->d, 0, x->T, x->T - 1, 1, x->C, hw);
    st = conv(t, &l->c[0], &cat, &h1, 1);
    act_free(t, &cat);
    if (st != KE_STATUS_OK) {
        return st;
    }
    OPS->relu(t->be, h1.d, h1.d, act_n(&h1));
    st = conv(t, &l->c[1], &h1, &h2, 1);
    act_free(t, &h1);
    if (st != KE_STATUS_OK) {
        return st;
    }
    OPS->relu(t->be, h2.d, h2.d, act_n(&h2));
    st = conv(t, &l->c[2], &h2, y, 1);
    act_free(t, &h2);
    if (st != KE_STATUS_OK) {
        return st;
    }
    if (l->has_skip) {
        struct act s;
        if ((st = conv(t, &l->skip, x, &s, 1)) != KE_STATUS_OK) {
            act_free(t, y);
            return st;
        }
        OPS->add(t->be, y->d, y->d, s.d, act_n(y));
        act_free(t, &s);
    } else {
        OPS->add(t->be, y->d, y->d, x->d, act_n(y));
    }
    OPS->relu(t->be, y->d, y->d, act_n(y));
    return KE_STATUS_OK;
}

// TGrow: 1x1 conv C -> s*C, then frame t becomes frames t*s .. t*s+s-1, frame t*s+j taking channels
// [j*C, (j+1)*C) (the reference's reshape of [T, s*C, H, W] to [T*s, C, H, W]).
static enum ke_status tgrow(struct ke_taehv * t, struct taehv_layer * l, const struct act * x, struct act * y)
{
    struct act g;
    enum ke_status st = conv(t, &l->c[0], x, &g, 1);
    if (st != KE_STATUS_OK || l->stride == 1) {
        *y = g;
        return st;
    }
    const int s = l->stride, C = x->C;
    const int64_t hw = (int64_t) x->H * x->W;
    if ((st = act_new(t, y, C, x->T * s, x->H, x->W)) == KE_STATUS_OK) {
        for (int f = 0; f < x->T; f++) {
            for (int j = 0; j < s; j++) {
                OPS->frame_copy(t->be, y->d, 0, y->T, f * s + j, g.d + (int64_t) j * C * x->T * hw, 0, x->T, f, 1, C,
                                hw);
            }
        }
    }
    act_free(t, &g);
    return st;
}

// TPool: frames t*s .. t*s+s-1 stacked along channels (frame t*s+j as channels [j*C, (j+1)*C)), then a
// 1x1 conv s*C -> C.
static enum ke_status tpool(struct ke_taehv * t, struct taehv_layer * l, const struct act * x, struct act * y)
{
    const int s = l->stride, C = x->C;
    if (s == 1) {
        return conv(t, &l->c[0], x, y, 1);
    }
    const int64_t hw = (int64_t) x->H * x->W;
    const int To = x->T / s;
    struct act g;
    enum ke_status st = act_new(t, &g, s * C, To, x->H, x->W);
    if (st != KE_STATUS_OK) {
        return st;
    }
    for (int f = 0; f < To; f++) {
        for (int j = 0; j < s; j++) {
            OPS->frame_copy(t->be, g.d + (int64_t) j * C * To * hw, 0, To, f, x->d, 0, x->T, f * s + j, 1, C, hw);
        }
    }
    st = conv(t, &l->c[0], &g, y, 1);
    act_free(t, &g);
    return st;
}

// Bytes a layer holds at its peak for x (a bound: the MemBlock keeps x, [x, past], two hidden maps and
// its output at once).
static double layer_bytes(const struct taehv_layer * l, const struct act * x)
{
    const double px = (double) x->T * x->H * x->W * sizeof(float);
    const double c = (double) (l->c_in > l->c_out ? l->c_in : l->c_out);
    switch (l->op) {
    case TAE_MEM:
        return px * c * 6.0;
    case TAE_UP2:
        return px * c * 5.0;
    case TAE_TGROW:
        return px * c * (1.0 + 2.0 * l->stride);
    default:
        return px * c * 2.0;
    }
}

static enum ke_status emit(struct sink * k, struct act * x);

static enum ke_status run_from(struct sink * k, struct taehv_coder * cd, int i, struct act * x)
{
    struct ke_taehv * t = k->t;
    enum ke_status st = KE_STATUS_OK;
    for (; i < cd->n; i++) {
        struct taehv_layer * l = &cd->l[i];
        // frames left to split must keep whole groups for the remaining time pools
        int group = 1;
        for (int j = i; j < cd->n; j++) {
            if (cd->l[j].op == TAE_TPOOL) {
                group *= cd->l[j].stride;
            }
        }
        if (t->mem_budget > 0 && x->T >= 2 * group && layer_bytes(l, x) > t->mem_budget) {
            const int T0 = (x->T / 2 + group - 1) / group * group;
            const int64_t hw = (int64_t) x->H * x->W;
            struct act a, b;
            k->split = true;
            if ((st = act_new(t, &a, x->C, T0, x->H, x->W)) != KE_STATUS_OK) {
                break;
            }
            OPS->frame_copy(t->be, a.d, 0, T0, 0, x->d, 0, x->T, 0, T0, x->C, hw);
            if ((st = act_new(t, &b, x->C, x->T - T0, x->H, x->W)) != KE_STATUS_OK) {
                act_free(t, &a);
                break;
            }
            OPS->frame_copy(t->be, b.d, 0, b.T, 0, x->d, 0, x->T, T0, b.T, x->C, hw);
            act_free(t, x);
            st = run_from(k, cd, i, &a);
            if (st == KE_STATUS_OK) {
                st = run_from(k, cd, i, &b);
            } else {
                act_free(t, &b);
            }
            return st;
        }
        struct act y = { 0 };
        switch (l->op) {
        case TAE_CLAMP:
            OPS->soft_clamp(t->be, x->d, x->d, 3.0f, act_n(x));
            y = *x;
            x->d = NULL;
            break;
        case TAE_RELU:
            OPS->relu(t->be, x->d, x->d, act_n(x));
            y = *x;
            x->d = NULL;
            break;
        case TAE_CONV:
            st = conv(t, &l->c[0], x, &y, l->stride);
            break;
        case TAE_MEM:
            st = mem_block(t, l, x, &y);
            break;
        case TAE_UP2:
            if ((st = act_new(t, &y, x->C, x->T, 2 * x->H, 2 * x->W)) == KE_STATUS_OK) {
                OPS->upsample_nearest2x(t->be, y.d, x->d, (int64_t) x->C * x->T, x->H, x->W);
            }
            break;
        case TAE_TGROW:
            st = tgrow(t, l, x, &y);
            break;
        case TAE_TPOOL:
            st = tpool(t, l, x, &y);
            break;
        }
        act_free(t, x);
        *x = y;
        if (st != KE_STATUS_OK || ke_be_failed(t->be)) {
            act_free(t, x);
            return st != KE_STATUS_OK ? st : KE_STATUS_NOMEM;
        }
        if (k->o && k->o->inter[i] && !k->split) {
            if (k->o->inter_n[i] != act_n(x)) {
                act_free(t, x);
                return ke_be_fail(t->be, KE_STATUS_SHAPE, "TAEHV layer %d: %lld values, but room for %lld", i,
                                  (long long) act_n(x), (long long) k->o->inter_n[i]);
            }
            OPS->download(t->be, k->o->inter[i], x->d, (size_t) act_n(x) * sizeof(float));
        }
    }
    if (st != KE_STATUS_OK) {
        act_free(t, x);
        return st;
    }
    return emit(k, x);
}

// The coder's output frames, in order: the encoder's latents, or the decoder's pixels (after the
// pixel shuffle, the clamp and the trim unless raw).
static enum ke_status emit(struct sink * k, struct act * x)
{
    struct ke_taehv * t = k->t;
    struct act v = *x;
    const int p = t->patch;
    if (k->dec && !(k->o && k->o->raw)) {
        if (p > 1) {
            if (act_new(t, &v, 3, x->T, x->H * p, x->W * p) != KE_STATUS_OK) {
                act_free(t, x);
                return KE_STATUS_NOMEM;
            }
            OPS->pixel_unshuffle(t->be, v.d, x->d, 3, v.T, v.H, v.W, p, 1);
            act_free(t, x);
        }
        OPS->clamp(t->be, v.d, v.d, 0.0f, 1.0f, act_n(&v));
    }
    const int64_t hw = (int64_t) v.H * v.W;
    const int skip = k->done < k->trim ? (k->trim - k->done < v.T ? k->trim - k->done : v.T) : 0;
    const int f0 = k->done + skip - k->trim;   // first output frame of this run
    const int n = v.T - skip;
    enum ke_status st = KE_STATUS_OK;
    if (k->host && n > 0) {
        if (f0 + n > k->F) {
            st = ke_be_fail(t->be, KE_STATUS_ERROR, "TAEHV: more output frames than planned");
        } else {
            for (int c = 0; c < v.C; c++) {
                OPS->download(t->be, k->host + ((int64_t) c * k->F + f0) * hw, v.d + ((int64_t) c * v.T + skip) * hw,
                              (size_t) n * hw * sizeof(float));
            }
        }
    }
    if (k->cb && n > 0 && st == KE_STATUS_OK && !k->aborted) {
        for (int f = 0; f < n && !k->aborted; f++) {
            for (int c = 0; c < 3; c++) {
                OPS->download(t->be, k->frame + c * hw, v.d + ((int64_t) c * v.T + skip + f) * hw,
                              (size_t) hw * sizeof(float));
            }
            for (int64_t i = 0; i < 3 * hw; i++) {
                k->frame[i] = k->frame[i] * 2.0f - 1.0f;
            }
            if (!k->cb(k->frame, f0 + f, k->F, v.W, v.H, k->user_data)) {
                k->aborted = true;
            }
        }
    }
    k->done += v.T;
    act_free(t, &v);
    return st;
}

static void reset_memory(struct ke_taehv * t, struct taehv_coder * cd)
{
    for (int i = 0; i < cd->n; i++) {
        ke_be_free(t->be, cd->l[i].mem);
        cd->l[i].mem = NULL;
    }
}

static enum ke_status finish(struct ke_taehv * t, struct sink * k, enum ke_status st, struct ke_error * err)
{
    enum ke_status bs = ke_be_status(t->be, err);
    if (st == KE_STATUS_OK && bs != KE_STATUS_OK) {
        st = bs;
    }
    if (st == KE_STATUS_OK && k->aborted) {
        st = ke_err(err, KE_STATUS_ABORTED, "TAEHV decode stopped by the frame callback");
    }
    return st;
}

enum ke_status ke_taehv_decode(struct ke_taehv * t, float * video, const float * latent, int n_lat, int h, int w,
                               ke_vae_frame_fn cb, void * user_data, const struct ke_taehv_run_opts * o,
                               struct ke_error * err)
{
    if (!t->has_dec) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: this TAEHV file has no decoder", ke_tset_path(t->ws));
    }
    if (n_lat < 1 || h < 1 || w < 1 || (int64_t) h * w > (1 << 24) || n_lat > 100000) {
        return ke_err(err, KE_STATUS_INVALID, "TAEHV decode: bad latent size %d x %d x %d", n_lat, h, w);
    }
    const bool raw = o && o->raw;
    const int s8 = t->dec.s_scale;
    struct sink k = { .t = t, .o = o, .dec = true, .host = video, .cb = cb, .user_data = user_data };
    k.trim = raw ? 0 : t->dec.t_scale - 1;
    k.F = raw ? n_lat * t->dec.t_scale : ke_taehv_decoded_frames(t, n_lat);
    const int H = h * s8 * (raw ? 1 : t->patch), W = w * s8 * (raw ? 1 : t->patch);
    if (cb && !(k.frame = malloc((size_t) 3 * H * W * sizeof(float)))) {
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    reset_memory(t, &t->dec);
    struct act x;
    enum ke_status st = act_new(t, &x, t->z, n_lat, h, w);
    if (st == KE_STATUS_OK) {
        OPS->upload(t->be, x.d, latent, (size_t) act_n(&x) * sizeof(float));
        st = run_from(&k, &t->dec, 0, &x);
    }
    reset_memory(t, &t->dec);
    free(k.frame);
    st = finish(t, &k, st, err);
    if (st == KE_STATUS_OK && video && o && o->pm1 && !raw) {
        const int64_t n = (int64_t) 3 * k.F * H * W;
        for (int64_t i = 0; i < n; i++) {
            video[i] = video[i] * 2.0f - 1.0f;
        }
    }
    return st;
}

enum ke_status ke_taehv_encode(struct ke_taehv * t, float * latent, const float * video, int n_frames, int height,
                               int width, const struct ke_taehv_run_opts * o, struct ke_error * err)
{
    if (!t->has_enc) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: this TAEHV file has no encoder", ke_tset_path(t->ws));
    }
    const int s = ke_taehv_scale(t), d = t->enc.t_scale, p = t->patch;
    if (n_frames < 1 || height < s || width < s || height % s || width % s || (int64_t) height * width > (1 << 26)) {
        return ke_err(err, KE_STATUS_INVALID, "TAEHV encode: %d frames of %dx%d (sides must be multiples of %d)",
                      n_frames, width, height, s);
    }
    const int T = (n_frames + d - 1) / d * d;
    const int64_t hw = (int64_t) height * width;
    float * in = malloc((size_t) 3 * T * hw * sizeof(float));
    if (!in) {
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    // the last frame repeated up to a multiple of the time downscale (reference encode_video)
    for (int c = 0; c < 3; c++) {
        for (int f = 0; f < T; f++) {
            const float * src = video + ((int64_t) c * n_frames + (f < n_frames ? f : n_frames - 1)) * hw;
            float * dst = in + ((int64_t) c * T + f) * hw;
            for (int64_t i = 0; i < hw; i++) {
                dst[i] = o && o->pm1 ? (src[i] + 1.0f) * 0.5f : src[i];
            }
        }
    }
    struct sink k = { .t = t, .o = o, .dec = false, .host = latent, .F = T / d };
    reset_memory(t, &t->enc);
    struct act x, u;
    enum ke_status st = act_new(t, &x, 3, T, height, width);
    if (st == KE_STATUS_OK) {
        OPS->upload(t->be, x.d, in, (size_t) act_n(&x) * sizeof(float));
        if (p > 1) {
            if ((st = act_new(t, &u, 3 * p * p, T, height / p, width / p)) == KE_STATUS_OK) {
                OPS->pixel_unshuffle(t->be, u.d, x.d, 3, T, height, width, p, 0);
            }
            act_free(t, &x);
            x = u;
        }
        if (st == KE_STATUS_OK) {
            st = run_from(&k, &t->enc, 0, &x);
        }
    }
    free(in);
    reset_memory(t, &t->enc);
    return finish(t, &k, st, err);
}
