// Kinora engine: the LTX-Video VAE decode in overlapping spatial tiles and the plan that sizes them from
// a device memory budget (the approach of diffusers' AutoencoderKLLTXVideo.tiled_decode, v0.32: tiles with
// an overlap, a linear blend across it; the weights here are normalised per pixel instead of cropped).
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/ltx/ltx-vae.h"

int ke_ltx_tile_starts(int * starts, int n, int t, int o)
{
    if (t >= n) {
        if (starts) {
            starts[0] = 0;
        }
        return 1;
    }
    // the fewest tiles with strides of t - o at most, spread evenly: strides of ceil((n - t) / (k - 1))
    // at most, so neighbours share o pixels or more
    const int k = (n - t + (t - o) - 1) / (t - o) + 1;
    for (int i = 0; starts && i < k; i++) {
        starts[i] = (int) (((int64_t) i * (n - t) + (k - 1) / 2) / (k - 1));
    }
    return k;
}

// The blend weights of tile i of k along one side, per output pixel: 1, ramping linearly up across the
// overlap with tile i-1 and down across the overlap with tile i+1 (pixel centres, so never 0; two ramps
// over the same overlap sum to 1). st: the tiles' starts (latent pixels), t the tile side, s the scale.
static void ramp(float * wt, const int * st, int k, int i, int t, int s)
{
    const int a = st[i] * s, b = (st[i] + t) * s;
    const int pe = i > 0 ? (st[i - 1] + t) * s : a;          // the previous tile's end
    const int ns = i + 1 < k ? st[i + 1] * s : b;            // the next tile's start
    for (int x = a; x < b; x++) {
        float u = 1.0f;
        if (x < pe) {
            const float r = ((float) (x - a) + 0.5f) / (float) (pe - a);
            u = r < u ? r : u;
        }
        if (x >= ns) {
            const float r = ((float) (b - x) - 0.5f) / (float) (b - ns);
            u = r < u ? r : u;
        }
        wt[x - a] = u;
    }
}

// Copies the [C, T, th, tw] window at (y0, x0) of a [C, T, h, w] latent.
static void crop(float * dst, const float * src, int CT, int h, int w, int y0, int x0, int th, int tw)
{
    for (int c = 0; c < CT; c++) {
        for (int y = 0; y < th; y++) {
            memcpy(dst + ((int64_t) c * th + y) * tw, src + ((int64_t) c * h + y0 + y) * w + x0,
                   (size_t) tw * sizeof(float));
        }
    }
}

enum ke_status ke_ltx_vae_decode_tiled(struct ke_ltx_vae * v, float * video, const float * latent,
                                       const float * noise, int T, int h, int w, float timestep, float noise_scale,
                                       int tile_h, int tile_w, int overlap, struct ke_error * err)
{
    if (tile_h >= h && tile_w >= w) {
        return ke_ltx_vae_decode(v, video, latent, noise, T, h, w, timestep, noise_scale, NULL, err);
    }
    const int th = tile_h < h ? tile_h : h, tw = tile_w < w ? tile_w : w;
    if (!video || T < 1 || th < 1 || tw < 1 || overlap < 0 || (th < h && overlap >= th) ||
        (tw < w && overlap >= tw)) {
        return ke_err(err, KE_STATUS_INVALID, "ltx-vae tiled decode: tiles of %d x %d with an overlap of %d do not "
                      "tile a %d x %d latent (or no video)", tile_h, tile_w, overlap, h, w);
    }
    const int C = v->cfg.latent_channels, oc = v->cfg.out_channels, s = v->s_scale;
    const int F = 1 + v->t_scale * (T - 1), H = h * s, W = w * s, Ht = th * s, Wt = tw * s;
    const int ky = ke_ltx_tile_starts(NULL, h, th, overlap), kx = ke_ltx_tile_starts(NULL, w, tw, overlap);
    const int64_t n_lat = (int64_t) C * T * th * tw, plane = (int64_t) H * W, tplane = (int64_t) Ht * Wt;
    int * sy = malloc((size_t) ky * sizeof(int)), * sx = malloc((size_t) kx * sizeof(int));
    float * lt = malloc((size_t) n_lat * sizeof(float));
    float * nt = noise ? malloc((size_t) n_lat * sizeof(float)) : NULL;
    float * vt = malloc((size_t) oc * F * tplane * sizeof(float));
    float * wy = malloc((size_t) Ht * sizeof(float)), * wx = malloc((size_t) Wt * sizeof(float));
    float * wsum = calloc((size_t) plane, sizeof(float));
    enum ke_status st = KE_STATUS_OK;
    if (!sy || !sx || !lt || (noise && !nt) || !vt || !wy || !wx || !wsum) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory for the decode's tiles of %d x %d latent pixels", th, tw);
        goto done;
    }
    ke_ltx_tile_starts(sy, h, th, overlap);
    ke_ltx_tile_starts(sx, w, tw, overlap);
    memset(video, 0, (size_t) oc * F * plane * sizeof(float));
    for (int i = 0; i < ky && st == KE_STATUS_OK; i++) {
        ramp(wy, sy, ky, i, th, s);
        for (int j = 0; j < kx && st == KE_STATUS_OK; j++) {
            ramp(wx, sx, kx, j, tw, s);
            crop(lt, latent, C * T, h, w, sy[i], sx[j], th, tw);
            if (nt) {
                crop(nt, noise, C * T, h, w, sy[i], sx[j], th, tw);
            }
            ke_log(3, "ltx-vae: tile %d of %d (latent rows %d..%d, columns %d..%d)", i * kx + j + 1, ky * kx, sy[i],
                   sy[i] + th - 1, sx[j], sx[j] + tw - 1);
            if ((st = ke_ltx_vae_decode(v, vt, lt, nt, T, th, tw, timestep, noise_scale, NULL, err)) !=
                KE_STATUS_OK) {
                ke_err_prefix(err, "tile %d of %d: ", i * kx + j + 1, ky * kx);
                break;
            }
            // video += w * tile over the tile's window (all channels and frames), wsum += w
            const int64_t y0 = (int64_t) sy[i] * s, x0 = (int64_t) sx[j] * s;
            for (int64_t cf = 0; cf < (int64_t) oc * F; cf++) {
                for (int y = 0; y < Ht; y++) {
                    float * dst = video + cf * plane + (y0 + y) * W + x0;
                    const float * src = vt + cf * tplane + (int64_t) y * Wt;
                    for (int x = 0; x < Wt; x++) {
                        dst[x] += wy[y] * wx[x] * src[x];
                    }
                }
            }
            for (int y = 0; y < Ht; y++) {
                for (int x = 0; x < Wt; x++) {
                    wsum[(y0 + y) * W + x0 + x] += wy[y] * wx[x];
                }
            }
        }
    }
    if (st == KE_STATUS_OK) {
        // where one tile alone covers a pixel its weight is 1: the division leaves its value exact
        for (int64_t cf = 0; cf < (int64_t) oc * F; cf++) {
            float * d = video + cf * plane;
            for (int64_t p = 0; p < plane; p++) {
                d[p] /= wsum[p];
            }
        }
    }
done:
    free(sy);
    free(sx);
    free(lt);
    free(nt);
    free(vt);
    free(wy);
    free(wx);
    free(wsum);
    return st;
}

// The overlap of tiles th x tw of an h x w latent: a quarter of the smaller tiled side (rounded), within
// [2, 4] (4 latent pixels, 128 output pixels, is the blend of the official VAE's tiling).
static int plan_overlap(int th, int tw, int h, int w)
{
    int m = th < h ? th : 0;
    if (tw < w && (!m || tw < m)) {
        m = tw;
    }
    const int o = (m + 2) / 4;
    return o < 2 ? 2 : (o > 4 ? 4 : o);
}

enum ke_status ke_ltx_vae_tile_plan(struct ke_ltx_tile_plan * plan, int top_channels, int levels, int T, int h,
                                    int w, int n_frames, int s_scale, double avail, struct ke_error * err)
{
    memset(plan, 0, sizeof(*plan));
    plan->tile_h = h;
    plan->tile_w = w;
    plan->n_tiles = 1;
    plan->need = ke_ltx_decode_bytes(top_channels, levels, T, h, w, n_frames, s_scale);
    if (plan->need <= avail) {
        return KE_STATUS_OK;
    }
    // every tile size from the minimal square up: the fewest tiles, then the smallest of them; within a
    // part of avail, as ke_ltx_decode_bytes counts neither the allocator's rounding nor a convolution's
    // workspace (the Wan VAE's tiles ran out of memory at 80 % of what was left, see cuda.md)
    const double tile_avail = avail * KE_LTX_TILE_SHARE;
    const int min_h = h < KE_LTX_TILE_MIN ? h : KE_LTX_TILE_MIN, min_w = w < KE_LTX_TILE_MIN ? w : KE_LTX_TILE_MIN;
    int best_n = 0;
    for (int th = min_h; th <= h; th++) {
        for (int tw = min_w; tw <= w; tw++) {
            if (th == h && tw == w) {
                continue;
            }
            const double need = ke_ltx_decode_bytes(top_channels, levels, T, th, tw, n_frames, s_scale);
            if (need > tile_avail) {
                continue;
            }
            const int o = plan_overlap(th, tw, h, w);
            const int n = ke_ltx_tile_starts(NULL, h, th, o) * ke_ltx_tile_starts(NULL, w, tw, o);
            if (!best_n || n < best_n || (n == best_n && th * tw < plan->tile_h * plan->tile_w)) {
                best_n = n;
                plan->tiled = true;
                plan->tile_h = th;
                plan->tile_w = tw;
                plan->overlap = o;
                plan->n_tiles = n;
                plan->need = need;
            }
        }
    }
    if (!best_n) {
        const double gib = 1073741824.0;
        const double need = ke_ltx_decode_bytes(top_channels, levels, T, min_h, min_w, n_frames, s_scale);
        return ke_err(err, KE_STATUS_NOMEM, "the LTX-Video decode needs about %.2f GiB of device memory even in tiles "
                      "of %d x %d latent pixels (%d frames; %.2f GiB untiled), and %.2f GiB are left in the budget: "
                      "choose fewer frames or a larger --vram", need / KE_LTX_TILE_SHARE / gib, min_h, min_w,
                      n_frames, plan->need / gib, avail / gib);
    }
    return KE_STATUS_OK;
}
