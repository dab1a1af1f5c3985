// Kinora engine: the model-free math of the LTX-Video pipeline (Lightricks/LTX-Video 5260738): the size
// rules of inference.py and LTXMultiScalePipeline, SymmetricPatchifier tokens, latent_to_pixel_coords,
// RectifiedFlowScheduler.step with explicit timesteps (schedulers/rf.py), adain_filter_latent and
// tone_map_latents (pipelines/pipeline_ltx_video.py). Float32 arithmetic as PyTorch does it.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "pipeline/ltx-impl.h"

// --- configs --------------------------------------------------------------------------------------

void ke_ltx_pipe_config_distilled(struct ke_ltx_pipe_config * c, const char * release)
{
    // configs/ltxv-13b-0.9.8-distilled.yaml; 0.9.7-distilled.yaml is the same without tone mapping
    static const float first[] = { 1.0000f, 0.9937f, 0.9875f, 0.9812f, 0.9750f, 0.9094f, 0.7250f };
    static const float second[] = { 0.9094f, 0.7250f, 0.4219f };
    memset(c, 0, sizeof(*c));
    c->downscale_factor = 0.6666666;
    c->first.n_steps = (int) (sizeof(first) / sizeof(first[0]));
    memcpy(c->first.timesteps, first, sizeof(first));
    c->second.n_steps = (int) (sizeof(second) / sizeof(second[0]));
    memcpy(c->second.timesteps, second, sizeof(second));
    c->second.tone_map = release && strcmp(release, "0.9.8") == 0 ? 0.6 : 0.0;
    c->decode_timestep = 0.05f;
    c->decode_noise_scale = 0.025f;
}

// --- sizes ----------------------------------------------------------------------------------------

static int floor_div(int a, int b)
{
    int q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

enum ke_status ke_ltx_sizes(struct ke_ltx_sizes * s, int width, int height, int n_frames, double downscale,
                            int s_scale, int t_scale, struct ke_error * err)
{
    memset(s, 0, sizeof(*s));
    if (width < 1 || height < 1 || n_frames < 1 || s_scale < 1 || t_scale < 1) {
        return ke_err(err, KE_STATUS_INVALID, "LTX-Video: size %dx%d with %d frames is not allowed", width, height,
                      n_frames);
    }
    s->width = width;
    s->height = height;
    s->n_frames = n_frames;
    // inference.py: height and width up to multiples of 32, frames up to 8n+1 (python floor division)
    s->pad_h = ((height - 1) / 32 + 1) * 32;
    s->pad_w = ((width - 1) / 32 + 1) * 32;
    s->pad_frames = (floor_div(n_frames - 2, t_scale) + 1) * t_scale + 1;
    s->pad_top = (s->pad_h - height) / 2;
    s->pad_left = (s->pad_w - width) / 2;
    // LTXMultiScalePipeline: int(size * factor), down to a multiple of the VAE's spatial scale
    const int xw = (int) (s->pad_w * downscale), xh = (int) (s->pad_h * downscale);
    s->w1 = xw - xw % s_scale;
    s->h1 = xh - xh % s_scale;
    s->w2 = 2 * s->w1;
    s->h2 = 2 * s->h1;
    s->lat_t = s->pad_frames / t_scale + 1;
    if (s->w1 < s_scale || s->h1 < s_scale) {
        return ke_err(err, KE_STATUS_INVALID, "LTX-Video: %dx%d is too small: the first pass at %g of %dx%d has "
                      "no latent pixel (each side must reach at least %d pixels there)", width, height, downscale,
                      s->pad_w, s->pad_h, s_scale);
    }
    return KE_STATUS_OK;
}

// --- tokens and coordinates -----------------------------------------------------------------------

void ke_ltx_patchify(float * tok, const float * lat, int C, int F, int H, int W)
{
    const int64_t n = (int64_t) F * H * W;
    for (int c = 0; c < C; c++) {
        const float * src = lat + (int64_t) c * n;
        for (int64_t i = 0; i < n; i++) {
            tok[i * C + c] = src[i];
        }
    }
}

void ke_ltx_unpatchify(float * lat, const float * tok, int C, int F, int H, int W)
{
    const int64_t n = (int64_t) F * H * W;
    for (int c = 0; c < C; c++) {
        float * dst = lat + (int64_t) c * n;
        for (int64_t i = 0; i < n; i++) {
            dst[i] = tok[i * C + c];
        }
    }
}

void ke_ltx_coords(float * grid, int F, int H, int W, int t_scale, int s_scale, bool causal_fix, double frame_rate)
{
    const int64_t n = (int64_t) F * H * W;
    // fractional_coords[:, 0] * (1.0 / frame_rate): a float32 product with the scalar as float32
    const float inv_rate = (float) (1.0 / frame_rate);
    int64_t i = 0;
    for (int f = 0; f < F; f++) {
        int pf = f * t_scale;
        if (causal_fix) {
            pf = pf + 1 - t_scale;
            pf = pf < 0 ? 0 : pf;
        }
        for (int y = 0; y < H; y++) {
            for (int x = 0; x < W; x++, i++) {
                grid[i] = (float) pf * inv_rate;
                grid[n + i] = (float) (y * s_scale);
                grid[2 * n + i] = (float) (x * s_scale);
            }
        }
    }
}

// --- scheduler ------------------------------------------------------------------------------------

void ke_ltx_token_timesteps(float * tok_t, int64_t n_tok, float t, const float * mask)
{
    for (int64_t i = 0; i < n_tok; i++) {
        const float c = mask ? 1.0f - mask[i] : t;
        tok_t[i] = c < t ? c : t;
    }
}

void ke_ltx_step(float * x, const float * v, int64_t n_tok, int C, float t, const float * mask,
                 const float * timesteps, int n_steps)
{
    const float t_eps = 1e-6f;
    for (int64_t i = 0; i < n_tok; i++) {
        const float one_minus = mask ? 1.0f - mask[i] : 1.0f;
        // denoising_step: a token is denoised while t - eps < 1 - mask
        if (!(t - t_eps < one_minus)) {
            continue;
        }
        const float ti = one_minus < t ? one_minus : t;
        // the largest entry of [timesteps..., 0] below ti - eps (0 when none is)
        float lower = 0.0f;
        for (int k = 0; k < n_steps; k++) {
            if (timesteps[k] < ti - t_eps && timesteps[k] > lower) {
                lower = timesteps[k];
            }
        }
        const float dt = ti - lower;
        float * xi = x + i * C;
        const float * vi = v + i * C;
        for (int c = 0; c < C; c++) {
            xi[c] = xi[c] - dt * vi[c];
        }
    }
}

// --- statistics -----------------------------------------------------------------------------------

static void std_mean(const float * x, int64_t n, double * sd, double * mean)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        s += x[i];
    }
    const double m = s / (double) n;
    double v = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double d = x[i] - m;
        v += d * d;
    }
    *mean = m;
    *sd = n > 1 ? sqrt(v / (double) (n - 1)) : NAN;   // torch.std_mean: unbiased (NaN for one element)
}

void ke_ltx_adain(float * x, int C, int64_t n, const float * ref, int64_t n_ref)
{
    for (int c = 0; c < C; c++) {
        double r_sd, r_mean, i_sd, i_mean;
        std_mean(ref + (int64_t) c * n_ref, n_ref, &r_sd, &r_mean);
        float * xc = x + (int64_t) c * n;
        std_mean(xc, n, &i_sd, &i_mean);
        const float fr_sd = (float) r_sd, fr_mean = (float) r_mean, fi_sd = (float) i_sd, fi_mean = (float) i_mean;
        // ((x - i_mean) / i_sd) * r_sd + r_mean in float32; the lerp with factor 1 returns it exactly
        for (int64_t i = 0; i < n; i++) {
            xc[i] = (xc[i] - fi_mean) / fi_sd * fr_sd + fr_mean;
        }
    }
}

void ke_ltx_tone_map(float * x, int64_t n, double compression)
{
    if (compression == 0.0) {
        return;
    }
    const double sf = compression * 0.75;
    const float a = (float) (4.0 * sf), b = (float) (0.8 * sf);
    for (int64_t i = 0; i < n; i++) {
        const float s = 1.0f / (1.0f + expf(-(a * (fabsf(x[i]) - 1.0f))));
        x[i] = x[i] * (1.0f - b * s);
    }
}

// --- resizing -------------------------------------------------------------------------------------

struct lin_idx {
    int i0, i1;
    float w0, w1;
};

// compute_indices_weights_linear: src = scale (i + 0.5) - 0.5 clamped at 0, scale = in / out in float32
static void lin_indices(struct lin_idx * ix, int out, int in)
{
    const float scale = (float) in / (float) out;
    for (int i = 0; i < out; i++) {
        float src = scale * ((float) i + 0.5f) - 0.5f;
        src = src < 0.0f ? 0.0f : src;
        const int i0 = (int) src;
        float l = src - (float) i0;
        l = l < 0.0f ? 0.0f : (l > 1.0f ? 1.0f : l);
        ix[i].i0 = i0;
        ix[i].i1 = i0 + (i0 < in - 1 ? 1 : 0);
        ix[i].w0 = 1.0f - l;
        ix[i].w1 = l;
    }
}

void ke_ltx_resize_bilinear(float * dst, int dw, int dh, const float * src, int sw, int sh, int64_t planes)
{
    if (dw == sw && dh == sh) {
        memcpy(dst, src, sizeof(float) * (size_t) (planes * sw * sh));
        return;
    }
    struct lin_idx * ix = malloc(sizeof(*ix) * (size_t) dw);
    struct lin_idx * iy = malloc(sizeof(*iy) * (size_t) dh);
    if (!ix || !iy) {
        free(ix);
        free(iy);
        memset(dst, 0, sizeof(float) * (size_t) (planes * dw * dh));
        return;
    }
    lin_indices(ix, dw, sw);
    lin_indices(iy, dh, sh);
    for (int64_t p = 0; p < planes; p++) {
        const float * s = src + p * sw * sh;
        float * d = dst + p * dw * dh;
        for (int y = 0; y < dh; y++) {
            const float * r0 = s + (int64_t) iy[y].i0 * sw, * r1 = s + (int64_t) iy[y].i1 * sw;
            for (int x = 0; x < dw; x++) {
                const struct lin_idx * a = &ix[x];
                // the inner (width) sums first, each weighted by its row weight, as PyTorch nests them
                const float t0 = r0[a->i0] * a->w0 + r0[a->i1] * a->w1;
                const float t1 = r1[a->i0] * a->w0 + r1[a->i1] * a->w1;
                d[(int64_t) y * dw + x] = t0 * iy[y].w0 + t1 * iy[y].w1;
            }
        }
    }
    free(ix);
    free(iy);
}
