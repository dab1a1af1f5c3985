// Kinora engine: Wan VAE blocks, streamed chunk by chunk with per-conv caches (official
// wan/modules/vae2_1.py, vae2_2.py, 42bf4cf; whole-sequence rules in spec §6.4).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/vae/wan-vae.h"

#define OPS (v->be->ops)
#define TRY(x) do { enum ke_status st_ = (x); if (st_ != KE_STATUS_OK) return st_; } while (0)

// --- activations and caches ----------------------------------------------------------------------

enum ke_status ke_vae_act_new(struct ke_vae * v, struct vae_act * a, int C, int T, int H, int W)
{
    const size_t n = (size_t) C * T * H * W * sizeof(float);
    a->d = ke_be_alloc(v->be, n);
    a->C = C;
    a->T = T;
    a->H = H;
    a->W = W;
    if (!a->d) {
        // recorded on the backend: the decode/encode call reports it (ke_be_status) with the size
        return ke_be_fail(v->be, KE_STATUS_NOMEM, "out of memory for a VAE activation [%d, %d, %d, %d] (%zu bytes)",
                          C, T, H, W, n);
    }
    return KE_STATUS_OK;
}

void ke_vae_act_free(struct ke_vae * v, struct vae_act * a)
{
    ke_be_free(v->be, a->d);
    a->d = NULL;
}

static int64_t act_n(const struct vae_act * a)
{
    return (int64_t) a->C * a->T * a->H * a->W;
}

enum ke_status ke_vae_state_init(struct ke_vae * v, struct vae_state * s, const struct vae_coder * cd)
{
    s->c = calloc((size_t) (cd->n_caches > 0 ? cd->n_caches : 1), sizeof(*s->c));
    s->n = cd->n_caches;
    s->first = true;
    if (!s->c) {
        s->n = 0;
        return ke_be_fail(v->be, KE_STATUS_NOMEM, "out of memory for %d VAE cache slots", cd->n_caches);
    }
    return KE_STATUS_OK;
}

void ke_vae_state_free(struct ke_vae * v, struct vae_state * s)
{
    for (int i = 0; s->c && i < s->n; i++) {
        ke_be_free(v->be, s->c[i].d);
    }
    free(s->c);
    s->c = NULL;
    s->n = 0;
}

size_t ke_vae_state_bytes(const struct ke_vae * v, const struct vae_state * s)
{
    size_t b = 0;
    for (int i = 0; s->c && i < s->n; i++) {
        if (s->c[i].d) {
            b += (size_t) s->c[i].C * s->c[i].n_frames * s->c[i].hw * (v->bf16_cache ? 2 : 4);
        }
    }
    return b;
}

// The cache slot idx holding n_frames frames of [C, hw]; zeros when first used.
static enum ke_status cache_get(struct ke_vae * v, struct vae_state * s, int idx, int C, int n_frames, int64_t hw,
                                void ** out)
{
    KE_ASSERT(idx >= 0 && idx < s->n);
    struct vae_cache * c = &s->c[idx];
    if (!c->d) {
        size_t n = (size_t) C * n_frames * hw * (v->bf16_cache ? 2 : 4);
        c->d = ke_be_alloc(v->be, n);
        if (!c->d) {
            return ke_be_fail(v->be, KE_STATUS_NOMEM, "out of memory for a VAE frame cache [%d, %d, %lld] (%zu bytes)",
                              C, n_frames, (long long) hw, n);
        }
        OPS->memset0(v->be, c->d, n);
        c->C = C;
        c->n_frames = n_frames;
        c->hw = hw;
    }
    KE_ASSERT(c->C == C && c->n_frames == n_frames && c->hw == hw);
    *out = c->d;
    return KE_STATUS_OK;
}

// xx[C, nc + T] = cache frames ++ x frames; the cache then keeps the last nc frames of xx.
static enum ke_status with_cache(struct ke_vae * v, struct vae_state * s, int idx, int nc, const struct vae_act * x,
                                 struct vae_act * xx)
{
    const int64_t hw = (int64_t) x->H * x->W;
    void * cache = NULL;
    TRY(cache_get(v, s, idx, x->C, nc, hw, &cache));
    TRY(ke_vae_act_new(v, xx, x->C, nc + x->T, x->H, x->W));
    const int bf = v->bf16_cache;
    OPS->frame_copy(v->be, xx->d, 0, xx->T, 0, cache, bf, nc, 0, nc, x->C, hw);
    OPS->frame_copy(v->be, xx->d, 0, xx->T, nc, x->d, 0, x->T, 0, x->T, x->C, hw);
    OPS->frame_copy(v->be, cache, bf, nc, 0, xx->d, 0, xx->T, xx->T - nc, nc, x->C, hw);
    return KE_STATUS_OK;
}

// Causal 3x3x3 conv (2 frames of history from the cache, zeros before the first chunk).
static enum ke_status causal_conv(struct ke_vae * v, struct vae_state * s, int idx, const struct ke_conv3d * c,
                                  const struct vae_act * x, struct vae_act * out)
{
    struct vae_act xx;
    TRY(with_cache(v, s, idx, c->kt - 1, x, &xx));
    enum ke_status st = ke_vae_act_new(v, out, c->c_out, x->T, x->H, x->W);
    if (st == KE_STATUS_OK) {
        OPS->conv3d(v->be, out->d, xx.d, c, xx.T, x->H, x->W, 0, 0, c->kh / 2, c->kw / 2, 1, 1, 1);
    }
    ke_vae_act_free(v, &xx);
    return st;
}

enum ke_status ke_vae_conv1x1(struct ke_vae * v, const struct ke_conv3d * c, const struct vae_act * x,
                              struct vae_act * out)
{
    TRY(ke_vae_act_new(v, out, c->c_out, x->T, x->H, x->W));
    OPS->conv3d(v->be, out->d, x->d, c, x->T, x->H, x->W, 0, 0, 0, 0, 1, 1, 1);
    return KE_STATUS_OK;
}

// --- blocks --------------------------------------------------------------------------------------

// The block through the backend's fused wan_resnet (decoder convs prepared narrow, bf16 caches): true
// when it ran or failed (*st; x consumed, *out set on success), false when the block is to be composed
// (x untouched). The caches of a block that ran fused hold the backend's layout, so once fused a block
// never falls back.
static bool res_fused(struct ke_vae * v, struct vae_state * s, const struct vae_res * r, struct vae_act * x,
                      struct vae_act * out, enum ke_status * st)
{
    if (!OPS->wan_resnet || !v->bf16_cache || !r->c1.narrow || !r->c2.narrow || s->c[r->cache].composed) {
        return false;
    }
    const int64_t hw = (int64_t) x->H * x->W;
    void * k1 = NULL, * k2 = NULL;
    struct vae_act h = *x;
    if ((*st = cache_get(v, s, r->cache, r->c_in, 2, hw, &k1)) != KE_STATUS_OK ||
        (*st = cache_get(v, s, r->cache + 1, r->c_out, 2, hw, &k2)) != KE_STATUS_OK ||
        (r->has_sc && (*st = ke_vae_conv1x1(v, &r->sc, x, &h)) != KE_STATUS_OK)) {
        ke_vae_act_free(v, x);
        return true;
    }
    if (OPS->wan_resnet(v->be, h.d, x->d, &r->c1, &r->c2, r->g0, r->g1, k1, k2, x->T, x->H, x->W) != 0) {
        if (r->has_sc) {
            ke_vae_act_free(v, &h);
        }
        if (s->c[r->cache].fused) {
            ke_vae_act_free(v, x);
            *st = ke_be_fail(v->be, KE_STATUS_UNSUPPORTED, "the VAE block %d -> %d has no fused form at %d x %d x %d",
                             r->c_in, r->c_out, x->T, x->H, x->W);
            return true;
        }
        s->c[r->cache].composed = true;
        return false;
    }
    s->c[r->cache].fused = s->c[r->cache + 1].fused = true;
    if (r->has_sc) {
        ke_vae_act_free(v, x);
    }
    *out = h;
    x->d = NULL;
    *st = KE_STATUS_OK;
    return true;
}

// RMS -> SiLU -> conv, twice, plus the shortcut. Consumes x.
static enum ke_status res_fwd(struct ke_vae * v, struct vae_state * s, const struct vae_res * r, struct vae_act * x,
                              struct vae_act * out)
{
    struct vae_act h = *x, u = { 0 }, u2 = { 0 }, u3 = { 0 };
    enum ke_status st = KE_STATUS_OK;
    if (res_fused(v, s, r, x, out, &st)) {
        return st;
    }
    if (r->has_sc) {
        if ((st = ke_vae_conv1x1(v, &r->sc, x, &h)) != KE_STATUS_OK) {
            goto done;
        }
    }
    if ((st = ke_vae_act_new(v, &u, x->C, x->T, x->H, x->W)) != KE_STATUS_OK) {
        goto done;
    }
    OPS->channel_l2norm_silu(v->be, u.d, x->d, x->C, act_n(x) / x->C, r->g0);
    if (r->has_sc) {
        ke_vae_act_free(v, x);
    }
    if ((st = causal_conv(v, s, r->cache, &r->c1, &u, &u2)) != KE_STATUS_OK) {
        goto done;
    }
    ke_vae_act_free(v, &u);
    OPS->channel_l2norm_silu(v->be, u2.d, u2.d, u2.C, act_n(&u2) / u2.C, r->g1);
    if ((st = causal_conv(v, s, r->cache + 1, &r->c2, &u2, &u3)) != KE_STATUS_OK) {
        goto done;
    }
    OPS->add(v->be, u3.d, u3.d, h.d, act_n(&u3));
    *out = u3;
    u3.d = NULL;
done:
    ke_vae_act_free(v, &u);
    ke_vae_act_free(v, &u2);
    ke_vae_act_free(v, &u3);
    ke_vae_act_free(v, &h);
    if (r->has_sc) {
        ke_vae_act_free(v, x);
    }
    x->d = NULL;
    return st;
}

// Per-frame single-head self-attention over H*W positions; works in place on x.
static enum ke_status attn_fwd(struct ke_vae * v, const struct vae_attn * a, struct vae_act * x, struct vae_act * out)
{
    const int C = a->C;
    const int64_t hw = (int64_t) x->H * x->W;
    enum ke_status st = KE_STATUS_NOMEM;
    float * fr = ke_be_alloc(v->be, (size_t) (C * hw) * sizeof(float));
    float * u = ke_be_alloc(v->be, (size_t) (C * hw) * sizeof(float));
    float * qkv = ke_be_alloc(v->be, (size_t) (3 * C * hw) * sizeof(float));
    float * t3 = ke_be_alloc(v->be, (size_t) (3 * C * hw) * sizeof(float));
    float * o = ke_be_alloc(v->be, (size_t) (C * hw) * sizeof(float));
    if (fr && u && qkv && t3 && o) {
        for (int f = 0; f < x->T; f++) {
            OPS->frame_copy(v->be, fr, 0, 1, 0, x->d, 0, x->T, f, 1, C, hw);
            OPS->channel_l2norm(v->be, u, fr, C, hw, a->gamma);
            OPS->conv3d(v->be, qkv, u, &a->qkv, 1, x->H, x->W, 0, 0, 0, 0, 1, 1, 1);
            for (int i = 0; i < 3; i++) {   // q, k, v: [C, hw] -> [hw, C]
                OPS->transpose2d(v->be, t3 + i * C * hw, qkv + i * C * hw, C, hw);
            }
            OPS->attention(v->be, o, t3, t3 + C * hw, t3 + 2 * C * hw, hw, hw, 1, C, 1.0f / sqrtf((float) C), NULL);
            OPS->transpose2d(v->be, u, o, hw, C);
            OPS->conv3d(v->be, o, u, &a->proj, 1, x->H, x->W, 0, 0, 0, 0, 1, 1, 1);
            OPS->add(v->be, o, o, fr, C * hw);
            OPS->frame_copy(v->be, x->d, 0, x->T, f, o, 0, 1, 0, 1, C, hw);
        }
        st = KE_STATUS_OK;
        *out = *x;
        x->d = NULL;
    } else {
        ke_be_fail(v->be, KE_STATUS_NOMEM, "out of memory for the VAE attention buffers (%zu bytes)",
                   (size_t) (9 * C * hw) * sizeof(float));
    }
    ke_be_free(v->be, fr);
    ke_be_free(v->be, u);
    ke_be_free(v->be, qkv);
    ke_be_free(v->be, t3);
    ke_be_free(v->be, o);
    return st;
}

// Down: pad right/bottom, 3x3 stride 2 per frame, then (3-D) the stride-2 time conv, frame 0 passing.
static enum ke_status down_fwd(struct ke_vae * v, struct vae_state * s, const struct vae_resample * r,
                               struct vae_act * x, struct vae_act * out)
{
    struct vae_act p, y;
    enum ke_status st = ke_vae_act_new(v, &p, x->C, x->T, x->H + 1, x->W + 1);
    if (st != KE_STATUS_OK) {
        return st;
    }
    OPS->pad2d(v->be, p.d, x->d, (int64_t) x->C * x->T, x->H, x->W, 0, 1, 0, 1);
    ke_vae_act_free(v, x);
    st = ke_vae_act_new(v, &y, r->c_out, p.T, (p.H - 3) / 2 + 1, (p.W - 3) / 2 + 1);
    if (st == KE_STATUS_OK) {
        OPS->conv3d(v->be, y.d, p.d, &r->conv, p.T, p.H, p.W, 0, 0, 0, 0, 1, 2, 2);
    }
    ke_vae_act_free(v, &p);
    if (st != KE_STATUS_OK || r->mode == VAE_DOWN2D) {
        *out = y;
        return st;
    }
    const int64_t hw = (int64_t) y.H * y.W;
    if (s->first) {
        // frame 0 passes; the cache keeps the last frame
        void * cache = NULL;
        KE_ASSERT(y.T == 1);
        if ((st = cache_get(v, s, r->cache, y.C, 1, hw, &cache)) == KE_STATUS_OK) {
            OPS->frame_copy(v->be, cache, v->bf16_cache, 1, 0, y.d, 0, y.T, y.T - 1, 1, y.C, hw);
            *out = y;
            return st;
        }
        ke_vae_act_free(v, &y);
        return st;
    }
    struct vae_act xx, z;
    st = with_cache(v, s, r->cache, 1, &y, &xx);
    ke_vae_act_free(v, &y);
    if (st != KE_STATUS_OK) {
        return st;
    }
    st = ke_vae_act_new(v, &z, r->C, (xx.T - 3) / 2 + 1, xx.H, xx.W);
    if (st == KE_STATUS_OK) {
        OPS->conv3d(v->be, z.d, xx.d, &r->tconv, xx.T, xx.H, xx.W, 0, 0, 0, 0, 2, 1, 1);
        *out = z;
    }
    ke_vae_act_free(v, &xx);
    return st;
}

// Up: (3-D) the time conv doubling frames (frame 0 of the sequence bypasses it), then nearest x2 and 3x3.
static enum ke_status up_fwd(struct ke_vae * v, struct vae_state * s, const struct vae_resample * r,
                             struct vae_act * x, struct vae_act * out)
{
    enum ke_status st;
    struct vae_act u = *x;
    x->d = NULL;
    if (r->mode == VAE_UP3D && !s->first) {
        const int C = r->C, T = u.T;
        const int64_t hw = (int64_t) u.H * u.W;
        struct vae_act xx, tc;
        st = with_cache(v, s, r->cache, 2, &u, &xx);
        ke_vae_act_free(v, &u);
        if (st != KE_STATUS_OK) {
            return st;
        }
        st = ke_vae_act_new(v, &tc, 2 * C, T, xx.H, xx.W);
        if (st == KE_STATUS_OK) {
            OPS->conv3d(v->be, tc.d, xx.d, &r->tconv, xx.T, xx.H, xx.W, 0, 0, 0, 0, 1, 1, 1);
        }
        ke_vae_act_free(v, &xx);
        if (st != KE_STATUS_OK) {
            return st;
        }
        st = ke_vae_act_new(v, &u, C, 2 * T, tc.H, tc.W);
        if (st == KE_STATUS_OK) {
            // time_conv channels [0, C) -> frame 2k, [C, 2C) -> frame 2k+1
            for (int k = 0; k < T; k++) {
                for (int h = 0; h < 2; h++) {
                    OPS->frame_copy(v->be, u.d, 0, u.T, 2 * k + h, tc.d + (int64_t) h * C * T * hw, 0, T, k, 1,
                                        C, hw);
                }
            }
        }
        ke_vae_act_free(v, &tc);
        if (st != KE_STATUS_OK) {
            return st;
        }
    } else if (r->mode == VAE_UP3D) {
        KE_ASSERT(u.T == 1);   // the first chunk is one latent frame: it passes unchanged
    }
    struct vae_act up, y;
    st = ke_vae_act_new(v, &up, u.C, u.T, 2 * u.H, 2 * u.W);
    if (st == KE_STATUS_OK) {
        OPS->upsample_nearest2x(v->be, up.d, u.d, (int64_t) u.C * u.T, u.H, u.W);
    }
    ke_vae_act_free(v, &u);
    if (st != KE_STATUS_OK) {
        return st;
    }
    st = ke_vae_act_new(v, &y, r->c_out, up.T, up.H, up.W);
    if (st == KE_STATUS_OK) {
        OPS->conv3d(v->be, y.d, up.d, &r->conv, up.T, up.H, up.W, 0, 0, 1, 1, 1, 1, 1);
        *out = y;
    }
    ke_vae_act_free(v, &up);
    return st;
}

static enum ke_status block_fwd(struct ke_vae * v, struct vae_state * s, const struct vae_block * b,
                                struct vae_act * x, struct vae_act * out)
{
    switch (b->kind) {
    case VAE_RES:
        return res_fwd(v, s, &b->res, x, out);
    case VAE_ATTN:
        return attn_fwd(v, &b->attn, x, out);
    case VAE_RESAMPLE:
        if (b->rs.mode == VAE_UP2D || b->rs.mode == VAE_UP3D) {
            return up_fwd(v, s, &b->rs, x, out);
        }
        return down_fwd(v, s, &b->rs, x, out);
    }
    return KE_STATUS_ERROR;
}

// A stage: its blocks plus the Wan2.2 AvgDown / DupUp shortcut of the stage input.
static enum ke_status stage_fwd(struct ke_vae * v, struct vae_state * s, const struct vae_coder * cd,
                                const struct vae_stage * sg, struct vae_act * x, struct vae_act * out)
{
    struct vae_act sc = { 0 };
    enum ke_status st;
    if (sg->shortcut == 1) {
        const int pad = (sg->ft - x->T % sg->ft) % sg->ft;   // odd first chunk: one zero frame in front
        TRY(ke_vae_act_new(v, &sc, sg->sc_out, (x->T + pad) / sg->ft, x->H / sg->fs, x->W / sg->fs));
        OPS->avg_pool3d(v->be, sc.d, x->d, sg->sc_in, sg->sc_out, x->T, x->H, x->W, sg->ft, sg->fs, pad);
    } else if (sg->shortcut == 2) {
        const int drop = s->first ? sg->ft - 1 : 0;          // the first chunk drops its first copy
        TRY(ke_vae_act_new(v, &sc, sg->sc_out, x->T * sg->ft - drop, x->H * sg->fs, x->W * sg->fs));
        OPS->nearest_up3d(v->be, sc.d, x->d, sg->sc_in, sg->sc_out, x->T, x->H, x->W, sg->ft, sg->fs, drop);
    }
    struct vae_act h = *x;
    x->d = NULL;
    for (int i = 0; i < sg->n; i++) {
        struct vae_act y;
        if ((st = block_fwd(v, s, &cd->blocks[sg->b0 + i], &h, &y)) != KE_STATUS_OK) {
            ke_vae_act_free(v, &h);
            ke_vae_act_free(v, &sc);
            return st;
        }
        h = y;
    }
    if (sc.d) {
        KE_ASSERT(act_n(&sc) == act_n(&h));
        OPS->add(v->be, h.d, h.d, sc.d, act_n(&h));
        ke_vae_act_free(v, &sc);
    }
    *out = h;
    return KE_STATUS_OK;
}

// Encoder: conv_in -> stages -> middle -> head; x consumed. conv_in and the first stage (spatial
// downsampling only) run frame by frame, so the full-resolution activations hold one frame at a time.
enum ke_status ke_vae_encoder_chunk(struct ke_vae * v, struct vae_state * s, struct vae_act * x, struct vae_act * out)
{
    const struct vae_coder * cd = &v->enc;
    struct vae_act h = { 0 }, y;
    enum ke_status st = KE_STATUS_OK;
    const struct vae_stage * sg0 = &cd->stages[0];
    const struct vae_block * last0 = &cd->blocks[sg0->b0 + sg0->n - 1];
    const bool framewise = x->T > 1 && cd->n_stages > 1 &&
                           !(last0->kind == VAE_RESAMPLE && last0->rs.mode == VAE_DOWN3D);
    int s0 = 0;
    if (framewise) {
        for (int f = 0; f < x->T && st == KE_STATUS_OK; f++) {
            struct vae_act piece, a, b;
            if ((st = ke_vae_act_new(v, &piece, x->C, 1, x->H, x->W)) != KE_STATUS_OK) {
                break;
            }
            OPS->frame_copy(v->be, piece.d, 0, 1, 0, x->d, 0, x->T, f, 1, x->C, (int64_t) x->H * x->W);
            st = causal_conv(v, s, cd->cache_in, &cd->conv_in, &piece, &a);
            ke_vae_act_free(v, &piece);
            if (st != KE_STATUS_OK || (st = stage_fwd(v, s, cd, sg0, &a, &b)) != KE_STATUS_OK) {
                break;
            }
            if (!h.d && (st = ke_vae_act_new(v, &h, b.C, x->T, b.H, b.W)) != KE_STATUS_OK) {
                ke_vae_act_free(v, &b);
                break;
            }
            OPS->frame_copy(v->be, h.d, 0, h.T, f, b.d, 0, 1, 0, 1, b.C, (int64_t) b.H * b.W);
            ke_vae_act_free(v, &b);
        }
        s0 = 1;
    } else {
        st = causal_conv(v, s, cd->cache_in, &cd->conv_in, x, &h);
    }
    ke_vae_act_free(v, x);
    if (st != KE_STATUS_OK) {
        ke_vae_act_free(v, &h);
        return st;
    }
    for (int i = s0; i < cd->n_stages; i++) {
        TRY(stage_fwd(v, s, cd, &cd->stages[i], &h, &y));
        h = y;
    }
    for (int i = 0; i < 3; i++) {
        TRY(block_fwd(v, s, &cd->mid[i], &h, &y));
        h = y;
    }
    OPS->channel_l2norm_silu(v->be, h.d, h.d, h.C, act_n(&h) / h.C, cd->head_gamma);
    st = causal_conv(v, s, cd->cache_head, &cd->head, &h, out);
    ke_vae_act_free(v, &h);
    s->first = false;
    return st;
}

// Decoder stages from si on, fed one frame at a time: a stage's output frames go on to the next stage
// one by one (every block is causal in time and the caches carry the history), so at most two frames
// of a stage's resolution are alive; the head appends its frames to out (t_total frames).
static enum ke_status dec_push(struct ke_vae * v, struct vae_state * s, const struct vae_coder * cd, int si,
                               struct vae_act * x, struct vae_act * out, int t_total, int * t_out)
{
    enum ke_status st;
    struct vae_act y;
    if (si == cd->n_stages) {
        OPS->channel_l2norm_silu(v->be, x->d, x->d, x->C, act_n(x) / x->C, cd->head_gamma);
        st = causal_conv(v, s, cd->cache_head, &cd->head, x, &y);
        ke_vae_act_free(v, x);
        if (st != KE_STATUS_OK) {
            return st;
        }
        if (!out->d && (st = ke_vae_act_new(v, out, y.C, t_total, y.H, y.W)) != KE_STATUS_OK) {
            ke_vae_act_free(v, &y);
            return st;
        }
        KE_ASSERT(*t_out + y.T <= t_total && y.H == out->H && y.W == out->W);
        OPS->frame_copy(v->be, out->d, 0, t_total, *t_out, y.d, 0, y.T, 0, y.T, y.C, (int64_t) y.H * y.W);
        *t_out += y.T;
        ke_vae_act_free(v, &y);
        return KE_STATUS_OK;
    }
    TRY(stage_fwd(v, s, cd, &cd->stages[si], x, &y));
    if (y.T == 1) {
        return dec_push(v, s, cd, si + 1, &y, out, t_total, t_out);
    }
    st = KE_STATUS_OK;
    for (int f = 0; f < y.T && st == KE_STATUS_OK; f++) {
        struct vae_act piece;
        if ((st = ke_vae_act_new(v, &piece, y.C, 1, y.H, y.W)) != KE_STATUS_OK) {
            break;
        }
        OPS->frame_copy(v->be, piece.d, 0, 1, 0, y.d, 0, y.T, f, 1, y.C, (int64_t) y.H * y.W);
        st = dec_push(v, s, cd, si + 1, &piece, out, t_total, t_out);
    }
    ke_vae_act_free(v, &y);
    return st;
}

enum ke_status ke_vae_decoder_chunk(struct ke_vae * v, struct vae_state * s, struct vae_act * x, struct vae_act * out)
{
    const struct vae_coder * cd = &v->dec;
    struct vae_act h, y;
    enum ke_status st = causal_conv(v, s, cd->cache_in, &cd->conv_in, x, &h);
    ke_vae_act_free(v, x);
    if (st != KE_STATUS_OK) {
        return st;
    }
    for (int i = 0; i < 3; i++) {
        TRY(block_fwd(v, s, &cd->mid[i], &h, &y));
        h = y;
    }
    int t_total = h.T;   // frames out: each temporal upsample doubles all but the sequence's first frame
    for (int i = 0; i < cd->n_blocks; i++) {
        if (cd->blocks[i].kind == VAE_RESAMPLE && cd->blocks[i].rs.mode == VAE_UP3D) {
            t_total = s->first ? 1 + 2 * (t_total - 1) : 2 * t_total;
        }
    }
    int t_out = 0;
    out->d = NULL;
    st = dec_push(v, s, cd, 0, &h, out, t_total, &t_out);
    if (st == KE_STATUS_OK) {
        KE_ASSERT(t_out == t_total);
    } else {
        ke_vae_act_free(v, out);
    }
    s->first = false;
    return st;
}
