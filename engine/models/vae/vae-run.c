// Kinora engine: whole-clip Wan VAE encode/decode: chunking, latent (de)normalisation, spatial
// tiling of the decode with linear overlap blending, and the public ke_vae_* API.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "loaders/loaders.h"
#include "models/vae/wan-vae.h"

#define OPS (v->be->ops)

// --- encode --------------------------------------------------------------------------------------

static enum ke_status finish(struct ke_vae * v, enum ke_status st, const char * what, struct ke_error * err);
static void dec_costs(const struct ke_vae * v, double * cache_px, double * act_px);
static void enc_costs(const struct ke_vae * v, double * cache_px, double * act_px);
static void plan(const struct ke_vae * v, bool enc, int lat_h, int lat_w, int * tile, int * overlap);
static int n_tiles_1d(int n, int tile, int ov);
static int tile_start(int i, int nt, int n, int tile, int ov);
static float ramp(int i, int n, int ov, bool lo, bool hi);

struct etile {
    int y0, x0, th, tw;            // latent region
    struct vae_state s;
};

// One chunk of one tile: video region -> raw encoder output [2z, 1, th, tw] (host) and its mean.
static enum ke_status enc_tile_chunk(struct ke_vae * v, struct etile * t, const float * video, int n_frames,
                                     int height, int width, int t0, int tc, float * host, float * enc_out)
{
    const int s = v->scale, p = v->patch, z = v->z_dim;
    const int Th = t->th * s, Tw = t->tw * s;
    for (int c = 0; c < 3; c++) {
        for (int f = 0; f < tc; f++) {
            for (int yy = 0; yy < Th; yy++) {
                memcpy(host + (((int64_t) c * tc + f) * Th + yy) * Tw,
                       video + (((int64_t) c * n_frames + t0 + f) * height + t->y0 * s + yy) * width + t->x0 * s,
                       (size_t) Tw * sizeof(float));
            }
        }
    }
    struct vae_act x, xp, y;
    enum ke_status st = ke_vae_act_new(v, &x, 3, tc, Th, Tw);
    if (st != KE_STATUS_OK) {
        return st;
    }
    OPS->upload(v->be, x.d, host, (size_t) (3 * tc) * Th * Tw * sizeof(float));
    if (p > 1) {
        if ((st = ke_vae_act_new(v, &xp, 3 * p * p, tc, Th / p, Tw / p)) != KE_STATUS_OK) {
            ke_vae_act_free(v, &x);
            return st;
        }
        OPS->pixel_unshuffle(v->be, xp.d, x.d, 3, tc, Th, Tw, p, 0);
        ke_vae_act_free(v, &x);
        x = xp;
    }
    if ((st = ke_vae_encoder_chunk(v, &t->s, &x, &y)) != KE_STATUS_OK) {
        return st;
    }
    KE_ASSERT(y.T == 1 && y.H == t->th && y.W == t->tw && y.C == 2 * z);
    OPS->download(v->be, enc_out, y.d, (size_t) (2 * z) * t->th * t->tw * sizeof(float));
    ke_vae_act_free(v, &y);
    return KE_STATUS_OK;
}

enum ke_status ke_vae_encode_opts(struct ke_vae * v, float * latent, const float * video, int n_frames, int height,
                                  int width, struct ke_vae_run_opts * o, struct ke_error * err)
{
    if (!v->has_enc) {
        return ke_err(err, KE_STATUS_MISSING, "%s: this VAE file has no encoder", ke_tset_path(v->ws));
    }
    const int s = v->scale;
    if (n_frames < 1 || height < s || width < s || height % s || width % s) {
        return ke_err(err, KE_STATUS_INVALID, "VAE encode: %dx%d with %d frames; need >= 1 frame and sizes that are "
                      "multiples of %d", width, height, n_frames, s);
    }
    const int Tl = 1 + (n_frames - 1) / 4, h = height / s, w = width / s, z = v->z_dim;
    const int64_t hwl = (int64_t) h * w;
    int tl, ov;
    plan(v, true, h, w, &tl, &ov);
    const int ny = n_tiles_1d(h, tl, ov), nx = n_tiles_1d(w, tl, ov), nt = ny * nx;
    const int th0 = tl < h ? tl : h, tw0 = tl < w ? tl : w;
    struct etile * tiles = calloc((size_t) nt, sizeof(*tiles));
    float * host = malloc((size_t) (3 * 4) * th0 * s * tw0 * s * sizeof(float));
    float * eo = malloc((size_t) (2 * z) * th0 * tw0 * sizeof(float));
    float * acc = calloc((size_t) (2 * z * hwl), sizeof(float));
    float * wsum = calloc((size_t) hwl, sizeof(float));
    enum ke_status st = KE_STATUS_OK;
    if (!tiles || !host || !eo || !acc || !wsum) {
        st = ke_err(err, KE_STATUS_NOMEM, "VAE encode: out of memory for the host buffers (%zu bytes)",
                    (size_t) nt * sizeof(*tiles) +
                        ((size_t) (12 + 2 * z) * th0 * tw0 + (size_t) (2 * z + 1) * hwl) * sizeof(float));
        goto done;
    }
    for (int i = 0; i < nt; i++) {
        struct etile * t = &tiles[i];
        t->th = th0;
        t->tw = tw0;
        t->y0 = tile_start(i / nx, ny, h, th0, ov);
        t->x0 = tile_start(i % nx, nx, w, tw0, ov);
        if ((st = ke_vae_state_init(v, &t->s, &v->enc)) != KE_STATUS_OK) {
            goto done;
        }
        for (int yy = 0; yy < t->th; yy++) {
            for (int xx = 0; xx < t->tw; xx++) {
                const float wy = ramp(yy, t->th, ov, t->y0 > 0, t->y0 + t->th < h);
                wsum[(int64_t) (t->y0 + yy) * w + t->x0 + xx] += wy * ramp(xx, t->tw, ov, t->x0 > 0, t->x0 + t->tw < w);
            }
        }
    }
    for (int k = 0, t0 = 0; st == KE_STATUS_OK && k < Tl; k++) {
        const int tc = k == 0 ? 1 : 4;
        memset(acc, 0, (size_t) (2 * z * hwl) * sizeof(float));
        for (int i = 0; i < nt && st == KE_STATUS_OK; i++) {
            struct etile * t = &tiles[i];
            if ((st = enc_tile_chunk(v, t, video, n_frames, height, width, t0, tc, host, eo)) != KE_STATUS_OK) {
                break;
            }
            for (int c = 0; c < 2 * z; c++) {
                for (int yy = 0; yy < t->th; yy++) {
                    const float wy = ramp(yy, t->th, ov, t->y0 > 0, t->y0 + t->th < h);
                    for (int xx = 0; xx < t->tw; xx++) {
                        const float wx = ramp(xx, t->tw, ov, t->x0 > 0, t->x0 + t->tw < w);
                        acc[((int64_t) c * h + t->y0 + yy) * w + t->x0 + xx] +=
                            eo[((int64_t) c * t->th + yy) * t->tw + xx] * wy * wx;
                    }
                }
            }
        }
        if (st == KE_STATUS_OK && ke_be_failed(v->be)) {
            st = v->be->failure.code;   // an op of this chunk failed (read below)
        }
        if (st != KE_STATUS_OK) {
            break;
        }
        for (int c = 0; c < 2 * z; c++) {
            for (int64_t i = 0; i < hwl; i++) {
                acc[c * hwl + i] /= wsum[i];
            }
        }
        if (o && o->enc_out) {
            for (int c = 0; c < 2 * z; c++) {
                memcpy(o->enc_out + ((int64_t) c * Tl + k) * hwl, acc + c * hwl, (size_t) hwl * sizeof(float));
            }
        }
        // top-level conv1 (1x1x1): channels [0, z) of its output are the mean
        struct vae_act a, m;
        if ((st = ke_vae_act_new(v, &a, 2 * z, 1, h, w)) != KE_STATUS_OK) {
            break;
        }
        OPS->upload(v->be, a.d, acc, (size_t) (2 * z * hwl) * sizeof(float));
        st = ke_vae_conv1x1(v, &v->conv1, &a, &m);
        ke_vae_act_free(v, &a);
        if (st != KE_STATUS_OK) {
            break;
        }
        OPS->download(v->be, acc, m.d, (size_t) (z * hwl) * sizeof(float));
        ke_vae_act_free(v, &m);
        if (ke_be_failed(v->be)) {
            st = v->be->failure.code;
            break;
        }
        for (int c = 0; c < z; c++) {
            const float * src = acc + c * hwl;
            float * lat = latent + ((int64_t) c * Tl + k) * hwl;
            for (int64_t i = 0; i < hwl; i++) {
                lat[i] = (src[i] - v->mean[c]) * v->inv_std[c];
            }
            if (o && o->mu) {
                memcpy(o->mu + ((int64_t) c * Tl + k) * hwl, src, (size_t) hwl * sizeof(float));
            }
        }
        t0 += tc;
    }
    if (o) {
        o->peak_state_bytes = 0;
        for (int i = 0; tiles && i < nt; i++) {
            o->peak_state_bytes += ke_vae_state_bytes(v, &tiles[i].s);
        }
    }
done:
    for (int i = 0; tiles && i < nt; i++) {
        ke_vae_state_free(v, &tiles[i].s);
    }
    free(tiles);
    free(host);
    free(eo);
    free(acc);
    free(wsum);
    return finish(v, st, "VAE encode", err);
}

// The end of an encode or decode: a failure recorded on the backend (an op, an activation or a cache
// allocation) ends the call with its status and message; the record is cleared for the next call.
static enum ke_status finish(struct ke_vae * v, enum ke_status st, const char * what, struct ke_error * err)
{
    const bool had_msg = err && err->code != KE_STATUS_OK;
    const enum ke_status be_st = ke_be_status(v->be, err);
    if (st == KE_STATUS_OK) {
        st = be_st;
    }
    if (st == KE_STATUS_OK) {
        return st;
    }
    if (!had_msg && be_st != KE_STATUS_OK) {
        ke_err_prefix(err, "%s: ", what);
        return st;
    }
    return ke_err(err, st, "%s: %s", what, st == KE_STATUS_NOMEM ? "out of memory" : "failed");
}

// --- tiling plan ---------------------------------------------------------------------------------

// Bytes per latent pixel of the decoder caches, and of the largest chunk activation (4 frames).
static void dec_costs(const struct ke_vae * v, double * cache_px, double * act_px)
{
    const struct vae_coder * cd = &v->dec;
    const double cb = v->bf16_cache ? 2.0 : 4.0;
    double sc2 = 1.0, cache = 2.0 * cd->conv_in.c_in * cb, act = 0.0;
    int C = cd->conv_in.c_out;
    for (int i = 0; i < 3; i++) {
        if (cd->mid[i].kind == VAE_RES) {
            cache += 2.0 * (cd->mid[i].res.c_in + cd->mid[i].res.c_out) * cb;
        }
    }
    for (int i = 0; i < cd->n_blocks; i++) {
        const struct vae_block * b = &cd->blocks[i];
        if (b->kind == VAE_RES) {
            cache += 2.0 * (b->res.c_in + b->res.c_out) * sc2 * cb;
            C = b->res.c_out;
        } else if (b->kind == VAE_RESAMPLE) {
            if (b->rs.mode == VAE_UP3D) {
                cache += 2.0 * b->rs.C * sc2 * cb;
            }
            sc2 *= 4.0;
            C = b->rs.c_out;
        }
        // stages run frame by frame: about 8 frames of C channels alive (stage output pair, block input,
        // normalised copy, cache-extended copy of 3 frames, output)
        const double a = 8.0 * 4.0 * C * sc2;
        if (a > act) {
            act = a;
        }
    }
    cache += 2.0 * cd->head.c_in * sc2 * cb;
    *cache_px = cache;
    *act_px = act;
}

// The same for the encoder: its first stage runs frame by frame, the others on 4-frame chunks.
static void enc_costs(const struct ke_vae * v, double * cache_px, double * act_px)
{
    const struct vae_coder * cd = &v->enc;
    const double cb = v->bf16_cache ? 2.0 : 4.0;
    double sc2 = (double) cd->scale * cd->scale, act = 0.0;
    double cache = 2.0 * cd->conv_in.c_in * sc2 * cb;
    for (int si = 0; si < cd->n_stages; si++) {
        const struct vae_stage * sg = &cd->stages[si];
        for (int i = sg->b0; i < sg->b0 + sg->n; i++) {
            const struct vae_block * b = &cd->blocks[i];
            int C = b->kind == VAE_RES ? b->res.c_out : b->kind == VAE_RESAMPLE ? b->rs.C : b->attn.C;
            if (b->kind == VAE_RES) {
                cache += 2.0 * (b->res.c_in + b->res.c_out) * sc2 * cb;
            }
            const double a = (si == 0 ? 8.0 : 24.0) * 4.0 * C * sc2;
            act = a > act ? a : act;
            if (b->kind == VAE_RESAMPLE) {
                sc2 /= 4.0;
                if (b->rs.mode == VAE_DOWN3D) {
                    cache += 1.0 * b->rs.C * sc2 * cb;
                }
            }
        }
    }
    for (int i = 0; i < 3; i++) {
        if (cd->mid[i].kind == VAE_RES) {
            cache += 2.0 * (cd->mid[i].res.c_in + cd->mid[i].res.c_out) * sc2 * cb;
        }
    }
    cache += 2.0 * cd->head.c_in * sc2 * cb;
    *cache_px = cache;
    *act_px = act;
}

static int n_tiles_1d(int n, int tile, int ov)
{
    if (tile >= n) {
        return 1;
    }
    const int step = tile - ov;
    return 1 + (n - tile + step - 1) / step;
}

static int tile_start(int i, int nt, int n, int tile, int ov)
{
    if (nt == 1) {
        return 0;
    }
    int s0 = i * (tile - ov);
    return s0 + tile > n ? n - tile : s0;
}

static void plan(const struct ke_vae * v, bool enc, int lat_h, int lat_w, int * tile, int * overlap)
{
    const int big = lat_h > lat_w ? lat_h : lat_w;
    int ov = v->overlap > 0 ? v->overlap : 4;
    if (v->tile > 0) {
        *tile = v->tile;
        *overlap = ov < v->tile / 2 ? ov : v->tile / 2;
        return;
    }
    *tile = big;
    *overlap = 0;
    if (v->mem_budget <= 0) {
        return;
    }
    double cache_px, act_px;
    if (enc) {
        enc_costs(v, &cache_px, &act_px);
    } else {
        dec_costs(v, &cache_px, &act_px);
    }
    ke_vae_tile_need(cache_px, act_px, v->mem_budget, ov, lat_h, lat_w, tile, overlap);
}

double ke_vae_tile_need(double cache_px, double act_px, double budget, int ov, int lat_h, int lat_w, int * tile,
                        int * overlap)
{
    const int big = lat_h > lat_w ? lat_h : lat_w;
    // the largest tile that fits; when none does, the one needing least (caches grow with the overlap)
    double best = 0;
    for (int t = big; t >= 2 * ov + 2 || t == big; t--) {
        const int o = t >= big ? 0 : ov;
        const int ny = n_tiles_1d(lat_h, t, o), nx = n_tiles_1d(lat_w, t, o);
        const int th = t < lat_h ? t : lat_h, tw = t < lat_w ? t : lat_w;
        const double need = cache_px * ny * nx * th * tw + act_px * th * tw + 64.0 * (1 << 20);
        if (budget <= 0 || need <= budget) {
            *tile = t;
            *overlap = o;
            return need;
        }
        if (best == 0 || need < best) {
            best = need;
            *tile = t;
            *overlap = o;
        }
    }
    return best;
}

void ke_vae_decode_costs(const struct ke_vae * v, double * cache_px_f32, double * act_px)
{
    double cache;
    dec_costs(v, &cache, act_px);
    *cache_px_f32 = v->bf16_cache ? 2.0 * cache : cache;
}

void ke_vae_tile_plan(const struct ke_vae * v, int lat_h, int lat_w, int * tile, int * overlap)
{
    plan(v, false, lat_h, lat_w, tile, overlap);
}

void ke_vae_tile_plan_encode(const struct ke_vae * v, int lat_h, int lat_w, int * tile, int * overlap)
{
    plan(v, true, lat_h, lat_w, tile, overlap);
}

// --- decode --------------------------------------------------------------------------------------

// Blend weight along one axis: linear ramps over `ov` pixels at edges shared with a neighbour.
static float ramp(int i, int n, int ov, bool lo, bool hi)
{
    float w = 1.0f;
    if (lo && i < ov) {
        w = fminf(w, ((float) i + 0.5f) / (float) ov);
    }
    if (hi && n - 1 - i < ov) {
        w = fminf(w, ((float) (n - 1 - i) + 0.5f) / (float) ov);
    }
    return w;
}

struct tile {
    int y0, x0, th, tw;            // latent region
    struct vae_state s;
};

enum ke_status ke_vae_decode_opts(struct ke_vae * v, float * video, const float * latent, int n_lat, int lat_h,
                                  int lat_w, ke_vae_frame_fn cb, void * user_data, struct ke_vae_run_opts * o,
                                  struct ke_error * err)
{
    if (!v->has_dec) {
        return ke_err(err, KE_STATUS_MISSING, "%s: this VAE file has no decoder", ke_tset_path(v->ws));
    }
    if (n_lat < 1 || lat_h < 1 || lat_w < 1) {
        return ke_err(err, KE_STATUS_INVALID, "VAE decode: latent %dx%d with %d frames", lat_w, lat_h, n_lat);
    }
    const int z = v->z_dim, s = v->scale, p = v->patch;
    const int H = lat_h * s, W = lat_w * s, F = 1 + 4 * (n_lat - 1);
    const int64_t HW = (int64_t) H * W, hwl = (int64_t) lat_h * lat_w;
    int tl, ov;
    ke_vae_tile_plan(v, lat_h, lat_w, &tl, &ov);
    const int ny = n_tiles_1d(lat_h, tl, ov), nx = n_tiles_1d(lat_w, tl, ov), nt = ny * nx;
    struct tile * tiles = calloc((size_t) nt, sizeof(*tiles));
    float * acc = malloc((size_t) (3 * 4 * HW) * sizeof(float));
    float * wsum = malloc((size_t) HW * sizeof(float));
    float * tin = malloc((size_t) (z * hwl) * sizeof(float));
    float * tout = malloc((size_t) (3 * 4 * HW) * sizeof(float));
    float * frame = malloc((size_t) (3 * HW) * sizeof(float));
    enum ke_status st = KE_STATUS_OK;
    if (!tiles || !acc || !wsum || !tin || !tout || !frame) {
        st = ke_err(err, KE_STATUS_NOMEM, "VAE decode: out of memory for the host buffers (%zu bytes)",
                    (size_t) nt * sizeof(*tiles) + (size_t) (28 * HW + z * hwl) * sizeof(float));
        goto done;
    }
    for (int i = 0; i < nt; i++) {
        struct tile * t = &tiles[i];
        const int iy = i / nx, ix = i % nx;
        t->th = tl < lat_h ? tl : lat_h;
        t->tw = tl < lat_w ? tl : lat_w;
        t->y0 = tile_start(iy, ny, lat_h, t->th, ov);
        t->x0 = tile_start(ix, nx, lat_w, t->tw, ov);
        if ((st = ke_vae_state_init(v, &t->s, &v->dec)) != KE_STATUS_OK) {
            goto done;
        }
    }
    // blend weights (the same for every chunk)
    for (int64_t i = 0; i < HW; i++) {
        wsum[i] = 0.0f;
    }
    for (int i = 0; nt > 1 && i < nt; i++) {
        const struct tile * t = &tiles[i];
        const int Th = t->th * s, Tw = t->tw * s, O = ov * s;
        for (int yy = 0; yy < Th; yy++) {
            const float wy = ramp(yy, Th, O, t->y0 > 0, t->y0 + t->th < lat_h);
            for (int xx = 0; xx < Tw; xx++) {
                wsum[(int64_t) (t->y0 * s + yy) * W + t->x0 * s + xx] +=
                    wy * ramp(xx, Tw, O, t->x0 > 0, t->x0 + t->tw < lat_w);
            }
        }
    }
    int f0 = 0;
    for (int k = 0; k < n_lat && st == KE_STATUS_OK; k++) {
        const int tf = k == 0 ? 1 : 4;
        if (nt > 1) {
            memset(acc, 0, (size_t) (3 * tf * HW) * sizeof(float));
        }
        for (int i = 0; i < nt && st == KE_STATUS_OK; i++) {
            struct tile * t = &tiles[i];
            // the tile's latent frame, de-normalised: z / (1/std) + mean
            for (int c = 0; c < z; c++) {
                for (int yy = 0; yy < t->th; yy++) {
                    const float * src = latent + (((int64_t) c * n_lat + k) * lat_h + t->y0 + yy) * lat_w + t->x0;
                    float * dst = tin + ((int64_t) c * t->th + yy) * t->tw;
                    for (int xx = 0; xx < t->tw; xx++) {
                        dst[xx] = src[xx] / v->inv_std[c] + v->mean[c];
                    }
                }
            }
            struct vae_act x, x2, y, u;
            if ((st = ke_vae_act_new(v, &x, z, 1, t->th, t->tw)) != KE_STATUS_OK) {
                break;
            }
            OPS->upload(v->be, x.d, tin, (size_t) (z * t->th * t->tw) * sizeof(float));
            st = ke_vae_conv1x1(v, &v->conv2, &x, &x2);
            ke_vae_act_free(v, &x);
            if (st != KE_STATUS_OK) {
                break;
            }
            if (o && o->dec_in && nt == 1) {
                OPS->download(v->be, tin, x2.d, (size_t) (z * hwl) * sizeof(float));
                for (int c = 0; c < z; c++) {
                    memcpy(o->dec_in + ((int64_t) c * n_lat + k) * hwl, tin + c * hwl, (size_t) hwl * sizeof(float));
                }
            }
            if ((st = ke_vae_decoder_chunk(v, &t->s, &x2, &y)) != KE_STATUS_OK) {
                break;
            }
            KE_ASSERT(y.T == tf);
            if (p > 1) {
                if ((st = ke_vae_act_new(v, &u, 3, y.T, y.H * p, y.W * p)) != KE_STATUS_OK) {
                    ke_vae_act_free(v, &y);
                    break;
                }
                OPS->pixel_unshuffle(v->be, u.d, y.d, 3, y.T, y.H * p, y.W * p, p, 1);
                ke_vae_act_free(v, &y);
                y = u;
            }
            const int Th = y.H, Tw = y.W, O = ov * s;
            if (nt == 1) {
                OPS->download(v->be, acc, y.d, (size_t) (3 * tf * HW) * sizeof(float));
            } else {
                OPS->download(v->be, tout, y.d, (size_t) (3 * tf) * Th * Tw * sizeof(float));
                for (int c = 0; c < 3 * tf; c++) {
                    for (int yy = 0; yy < Th; yy++) {
                        const float wy = ramp(yy, Th, O, t->y0 > 0, t->y0 + t->th < lat_h);
                        const float * src = tout + ((int64_t) c * Th + yy) * Tw;
                        float * dst = acc + ((int64_t) c * H + t->y0 * s + yy) * W + t->x0 * s;
                        for (int xx = 0; xx < Tw; xx++) {
                            dst[xx] += src[xx] * wy * ramp(xx, Tw, O, t->x0 > 0, t->x0 + t->tw < lat_w);
                        }
                    }
                }
            }
            ke_vae_act_free(v, &y);
        }
        if (st == KE_STATUS_OK && ke_be_failed(v->be)) {
            st = v->be->failure.code;   // an op of this chunk failed: no frame of it goes out
        }
        if (st != KE_STATUS_OK) {
            break;
        }
        for (int f = 0; f < tf; f++) {
            for (int c = 0; c < 3; c++) {
                const float * src = acc + ((int64_t) c * tf + f) * HW;
                float * dst = frame + c * HW;
                for (int64_t i = 0; i < HW; i++) {
                    float val = nt > 1 ? src[i] / wsum[i] : src[i];
                    if (!o || o->clamp) {
                        val = val < -1.0f ? -1.0f : val > 1.0f ? 1.0f : val;
                    }
                    dst[i] = val;
                }
                if (video) {
                    memcpy(video + ((int64_t) c * F + f0 + f) * HW, dst, (size_t) HW * sizeof(float));
                }
            }
            if (cb && !cb(frame, f0 + f, F, W, H, user_data)) {
                st = KE_STATUS_ABORTED;
                break;
            }
        }
        f0 += tf;
    }
    if (o) {
        o->peak_state_bytes = 0;
        for (int i = 0; tiles && i < nt; i++) {
            o->peak_state_bytes += ke_vae_state_bytes(v, &tiles[i].s);
        }
    }
done:
    for (int i = 0; tiles && i < nt; i++) {
        ke_vae_state_free(v, &tiles[i].s);
    }
    free(tiles);
    free(acc);
    free(wsum);
    free(tin);
    free(tout);
    free(frame);
    if (st == KE_STATUS_ABORTED && !ke_be_failed(v->be)) {
        return ke_err(err, st, "VAE decode: stopped by the frame callback");
    }
    return finish(v, st, "VAE decode", err);
}

// --- public API ----------------------------------------------------------------------------------

struct ke_vae_params ke_vae_params_default(void)
{
    // 4.5 GiB of caches and activations: Wan2.2 at 1280x704 in bf16 decodes in two tiles
    struct ke_vae_params p = { .backend = "cpu", .fast = false, .mem_budget_gib = 4.5, .tile = 0, .tile_overlap = 0 };
    return p;
}

enum ke_status ke_vae_open(ke_vae_t ** out, const char * path, const struct ke_vae_params * p, struct ke_error * err)
{
    *out = NULL;
    struct ke_vae_params dp = ke_vae_params_default();
    if (!p) {
        p = &dp;
    }
    struct ke_backend * be = ke_backend_by_name(p->backend ? p->backend : "cpu", err);
    if (!be) {
        return err ? err->code : KE_STATUS_UNSUPPORTED;
    }
    if (p->fast && be == ke_backend_cpu()) {
        be = ke_backend_cpu_fast();
    }
    struct ke_tensor_set * ws = NULL;
    enum ke_status st = ke_weights_open(&ws, path, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    st = ke_wan_vae_init(out, ws, true, be, err);
    if (st == KE_STATUS_OK) {
        (*out)->mem_budget = p->mem_budget_gib * 1073741824.0;
        (*out)->tile = p->tile;
        (*out)->overlap = p->tile_overlap;
    }
    return st;
}

void ke_vae_free(ke_vae_t * v)
{
    ke_wan_vae_free(v);
}

int ke_vae_version(const ke_vae_t * v)
{
    return v->version;
}

int ke_vae_z_dim(const ke_vae_t * v)
{
    return v->z_dim;
}

int ke_vae_scale(const ke_vae_t * v)
{
    return v->scale;
}

enum ke_status ke_vae_encode(ke_vae_t * v, float * latent, const float * video, int n_frames, int height, int width,
                             struct ke_error * err)
{
    return ke_vae_encode_opts(v, latent, video, n_frames, height, width, NULL, err);
}

enum ke_status ke_vae_decode(ke_vae_t * v, float * video, const float * latent, int n_lat, int lat_h, int lat_w,
                             ke_vae_frame_fn frame_cb, void * user_data, struct ke_error * err)
{
    struct ke_vae_run_opts o = { .clamp = true };
    return ke_vae_decode_opts(v, video, latent, n_lat, lat_h, lat_w, frame_cb, user_data, &o, err);
}
