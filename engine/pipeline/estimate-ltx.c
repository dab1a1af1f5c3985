// Kinora engine: the pre-flight estimate of an LTX-Video run from its model capabilities (ke_gen_estimate_caps):
// the sizes come from the files' headers and configs (ke_model_caps), so the estimate is there before the
// model is built, as a form needs it. The flow counted is the official multi-scale one
// (ltx_video/pipelines/pipeline_ltx_video.py LTXMultiScalePipeline @ 5260738e): the first pass at
// int(size * 0.6666666) rounded down to the VAE's 32, the latent upsampler doubling it, the second pass at
// twice the first pass's size, the VAE decode at that size, then the resize to the asked size.
//
// What it counts:
// - weights: the transformer as stored (bf16 26 GB for 13B; fp8 or quantized files count their own bytes),
//   the VAE and the upsampler as f32 (they run in f32), the T5 v1.1 XXL encoder as stored (its files when
//   found beside the model, else its known shape in bf16: caps->est.text_counted says which);
// - the text stage: T5 over KE_T5XXL_MAX_TOKENS tokens (the pipeline pads to them); no negative prompt
//   where the guidance is fixed at 1; on a CUDA run (text_device AUTO) a device stage of its own before
//   sampling (ke_estimate_t5_gpu: weights resident or streamed, activations), freed before the transformer;
// - sampling: per pass the transformer's largest live set in one block, per token about 10 rows of the
//   width (input, norm, q, k, v, attention output, residual, modulation) and one row of the FF width, in
//   the backend's activation type (bf16 on CUDA, f32 on the CPU), plus the text context; six latents of
//   the second pass (x, denoised, velocity, conditioning, previous, preview);
// - the upsampler: three feature maps of its mid channels at the upsampled size;
// - the decode: three f32 feature maps of the decoder's largest level (channels x frames x height x width,
//   the level of widest total size), the f32 output and the RGB8 video (ke_ltx_decode_bytes); on a device
//   the transformer leaves before it when the budget is short, and when even then the decode in one piece
//   does not fit, it runs in spatial tiles sized to what is left (ke_ltx_vae_tile_plan, as ke_ltx_run);
// - on CUDA with a device budget, the transformer's plan of the run (ke_ltx_dit_plan_memory at the second
//   pass's tokens, beside the VAE and the upsampler): fits, streams its blocks, or cannot run.
// Time: the transformer's multiply-adds over both passes (projections, FF, attention over the tokens and
// the text) at the DiT throughput of estimate.c, T5 at the CPU rate (on the GPU: uploading its weights, then
// the DiT's CUDA rate), the decode at the Wan2.2 VAE's
// measured rate scaled by parameters. These are models, not measurements of LTX-Video.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backends/backend.h"
#include "core/error.h"
#include "models/ltx/ltx-transformer.h"
#include "models/ltx/ltx-vae.h"
#include "pipeline/estimate-impl.h"

#define GIB 1073741824.0

static double maxd(double a, double b)
{
    return a > b ? a : b;
}

// Multiply-adds x 2 of one transformer forward over L tokens with Lt text tokens.
static double forward_flops(const struct ke_model_caps * c, double L, double Lt)
{
    const double D = c->est.inner_dim, F = c->est.ffn_dim, Dt = c->est.text_dim;
    const double per_layer = 2.0 * (4.0 * L * D * D            // self-attention q, k, v, out
                                    + 2.0 * L * D * D          // cross-attention q, out
                                    + 2.0 * Lt * Dt * D        // cross-attention k, v over the text
                                    + 2.0 * L * D * F          // feed-forward
                                    + 2.0 * L * L * D          // self-attention scores and values
                                    + 2.0 * L * Lt * D);       // cross-attention scores and values
    return c->est.num_layers * per_layer;
}

static double block_act_bytes(const struct ke_model_caps * c, double L, double Lt, double xe)
{
    return L * (10.0 * c->est.inner_dim + c->est.ffn_dim) * xe + 2.0 * Lt * c->est.inner_dim * xe;
}

enum ke_status ke_gen_estimate_caps(const struct ke_model_caps * c, const struct ke_gen_params * p,
                                    const struct ke_mem_budget * budget, struct ke_estimate * e,
                                    struct ke_error * err)
{
    if (!c || !p || !e) {
        return ke_err(err, KE_STATUS_INVALID, "estimate: capabilities, parameters and output are required");
    }
    memset(e, 0, sizeof(*e));
    if (c->family != KE_MODEL_FAMILY_LTXV) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "estimate: %s from capabilities is not modelled (open the model: "
                      "ke_gen_estimate)", ke_model_family_name(c->family));
    }
    if (c->est.num_layers <= 0 || c->est.inner_dim <= 0 || c->vae_scale <= 0 || c->vae_time_scale <= 0) {
        return ke_err(err, KE_STATUS_INVALID, "estimate: the capabilities carry no model sizes");
    }
    enum ke_status st = ke_model_caps_check(c, p->width, p->height, p->n_frames, p->image != NULL, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    const bool cuda = strcmp(ke_backend_resolve(p->backend), "cuda") == 0;
    const bool fast = ke_precision_fast(p->precision) && !c->tiny;
    // fp8 on the GPU with its e4m3 GEMMs on (ke_fp8_parts, the default; KINORA_CUDA_FP8=attn keeps bf16
    // weights): the transformer's linears are held as e4m3 (1 byte a parameter). Whether the GPU has fp8
    // units (compute capability 8.9 and newer) is known only once the device is initialised, which the
    // estimate does not do: it estimates what fp8 takes (an older GPU runs bf16, within its own plan).
    const bool fp8 = cuda && p->precision == KE_PRECISION_FP8 && (ke_fp8_parts() & 1);
    const int threads = p->n_threads > 0 ? p->n_threads : ke_get_threads();
    e->backend = cuda ? "cuda" : "cpu";

    // the passes' latent sizes
    const int vs = c->vae_scale;
    int w1 = p->width, h1 = p->height;
    if (c->est.first_pass_scale > 0) {
        const int xw = (int) (p->width * c->est.first_pass_scale), xh = (int) (p->height * c->est.first_pass_scale);
        w1 = xw - xw % vs;
        h1 = xh - xh % vs;
        w1 = w1 < vs ? vs : w1;
        h1 = h1 < vs ? vs : h1;
    }
    const double T = (p->n_frames - 1) / c->vae_time_scale + 1;
    const double lw1 = w1 / vs, lh1 = h1 / vs;
    const double up = c->est.first_pass_scale > 0 ? 2.0 : 1.0;
    const double lw2 = lw1 * up, lh2 = lh1 * up;
    const double L1 = T * lh1 * lw1, L2 = T * lh2 * lw2, Lt = c->est.text_tokens;
    const int n_cfg = c->guidance_fixed ? 1 : 2;   // guidance other than 1 runs the unconditional pass too
    const int n1 = c->est.first_steps, n2 = c->est.first_pass_scale > 0 ? c->est.second_steps : 0;
    const double W2 = lw2 * vs, H2 = lh2 * vs;

    // memory
    double host_base, dev_base;
    ke_estimate_bases(cuda, &host_base, &dev_base);
    const double xe = cuda ? 2.0 : 4.0;
    const double act = block_act_bytes(c, n2 > 0 ? L2 : L1, Lt, xe) * n_cfg;
    const double lat = (double) c->latent_channels * T * lh2 * lw2 * sizeof(float);
    const double bufs = 6.0 * lat;
    const double ups_act = c->est.first_pass_scale > 0 ? 3.0 * c->est.upsampler_mid_channels * T * lh2 * lw2 * 4.0 : 0;
    // the decode in one piece: its f32 feature maps and output (ke_ltx_decode_bytes, as the run checks it)
    const double dec = ke_ltx_decode_bytes(c->est.vae_top_channels, c->est.vae_levels, (int) T, (int) lh2, (int) lw2,
                                           p->n_frames, vs);
    const double video = 3.0 * p->n_frames * (double) p->width * p->height + 3.0 * p->n_frames * H2 * W2;
    const double vae_f32 = c->est.vae_params * 4.0, ups_f32 = c->est.upsampler_params * 4.0;
    // weights on the device in bf16 (e4m3 at fp8 precision), or as stored when narrower (fp8, quantized)
    const double tw = cuda ? fmin(c->est.transformer_bytes, c->est.transformer_params * (fp8 ? 1.0 : 2.0))
                           : c->est.transformer_bytes;
    double h_text = host_base + c->est.text_bytes;
    // the T5 stage on the GPU (its device memory freed before the transformer is made), unless on the CPU
    const double dev_budget_in = !cuda ? 0 : budget && budget->device_gib > 0 ? budget->device_gib * GIB
                                                                             : (double) p->vram_gib * GIB;
    double dev_text = 0, t5_pinned = 0, t5_gpu_s = 0;
    const bool t5_gpu = cuda && !c->tiny && p->text_device == KE_TEXT_DEVICE_AUTO &&
                        ke_estimate_t5_gpu(c->est.text_params, c->est.text_bytes, c->est.text_dim, 24, dev_budget_in,
                                           &dev_text, &t5_pinned, &t5_gpu_s);
    h_text += t5_pinned;
    double h_sample, h_decode, dev_sample = 0, dev_decode = 0, dev_fixed = 0;
    struct ke_ltx_tile_plan tiles = { .tile_h = (int) lh2, .tile_w = (int) lw2, .n_tiles = 1, .need = dec };
    bool tiles_fit = true;
    // the transformer's device plan as the run makes it (ke_ltx_dit_plan_memory at the second pass's tokens,
    // beside the VAE and the upsampler), with the weights as the files store them
    struct ke_ltx_dit_mem_plan plan;
    memset(&plan, 0, sizeof(plan));
    if (!cuda) {
        h_sample = host_base + tw + vae_f32 + ups_f32 + act + bufs + ups_act;
        h_decode = host_base + vae_f32 + lat + dec + video;
    } else {
        struct ke_ltx_dit_config dc;
        memset(&dc, 0, sizeof(dc));
        dc.num_layers = c->est.num_layers;
        dc.inner_dim = c->est.inner_dim;
        dc.ffn_dim = c->est.ffn_dim > 0 ? c->est.ffn_dim : 4 * c->est.inner_dim;
        dc.in_channels = dc.out_channels = c->latent_channels;
        dc.caption_channels = dc.cross_attention_dim = c->est.text_dim;
        dc.freq_dim = 256;
        const double params = c->est.transformer_params > 0 ? c->est.transformer_params : 1.0;
        ke_ltx_dit_plan_memory(&dc, (size_t) ceil(1000.0 * tw / params), (int64_t) (n2 > 0 ? L2 : L1), (int) Lt,
                               (size_t) xe, 0, &plan);
        plan.weights = (size_t) tw;
        plan.block = (size_t) ceil(tw / c->est.num_layers);
        dev_fixed = dev_base + vae_f32 + ups_f32;
        dev_sample = dev_fixed + tw + maxd((double) plan.activations, ups_act + 4.0 * lat);
        // the transformer stays on the device through the decode unless the budget is short; then it leaves
        // before it (ke_ltx_run)
        dev_decode = dev_fixed + tw + dec;
        if (dev_budget_in > 0 && dev_decode > dev_budget_in) {
            dev_decode = dev_fixed + dec;
        }
        // ... and when even then the decode does not fit, it runs in tiles sized to what is left
        if (dev_budget_in > 0 && dev_decode > dev_budget_in) {
            tiles_fit = ke_ltx_vae_tile_plan(&tiles, c->est.vae_top_channels, c->est.vae_levels, (int) T, (int) lh2,
                                             (int) lw2, p->n_frames, vs, dev_budget_in - dev_fixed, NULL) ==
                        KE_STATUS_OK;
            if (tiles_fit) {
                dev_decode = dev_fixed + tiles.need;
            } else {
                // the smallest tile's need (the planner's refusal names it)
                tiles.tile_h = lh2 < KE_LTX_TILE_MIN ? (int) lh2 : KE_LTX_TILE_MIN;
                tiles.tile_w = lw2 < KE_LTX_TILE_MIN ? (int) lw2 : KE_LTX_TILE_MIN;
                tiles.need = ke_ltx_decode_bytes(c->est.vae_top_channels, c->est.vae_levels, (int) T, tiles.tile_h,
                                                 tiles.tile_w, p->n_frames, vs);
            }
        }
        h_sample = host_base + c->est.transformer_bytes + bufs;
        h_decode = host_base + lat + video;
    }
    e->host_gib = maxd(h_text, maxd(h_sample, h_decode)) / GIB;
    e->device_gib = maxd(dev_text, maxd(dev_sample, dev_decode)) / GIB;
    e->device_weights_gib = cuda ? tw / GIB : 0;
    e->n_forwards = (n1 + n2) * n_cfg;

    // time
    const double rate = ke_estimate_flop_rate(cuda, fast, threads);
    const double cpu_rate = ke_estimate_flop_rate(false, fast, threads);
    const double sample_s = n_cfg * (n1 * forward_flops(c, L1, Lt) + n2 * forward_flops(c, L2, Lt)) / rate +
                            (n2 > 0 ? 2.0 * c->est.upsampler_params * T * lh2 * lw2 / rate : 0);
    e->step_s = n1 + n2 > 0 ? sample_s / (n1 + n2) : 0;
    e->text_s = t5_gpu ? t5_gpu_s : 2.0 * c->est.text_params * Lt / cpu_rate;
    // tiles decode their overlaps twice
    const double tiled_px = (double) tiles.n_tiles * tiles.tile_h * tiles.tile_w * vs * vs;
    e->decode_s = ke_estimate_decode_seconds(cuda, p->n_frames * maxd(H2 * W2, tiled_px), c->est.vae_params, threads);
    e->total_s = e->text_s + sample_s + e->decode_s;

    // verdict, as estimate.c judges a Wan2.2 run
    const double host_budget = budget && budget->host_gib > 0 ? budget->host_gib * GIB : ke_estimate_mem_available();
    const double dev_budget = cuda && budget && budget->device_gib > 0 ? budget->device_gib * GIB : 0;
    e->host_budget_gib = host_budget / GIB;
    e->device_budget_gib = dev_budget / GIB;
    e->verdict = KE_VERDICT_FITS;
    if (cuda && dev_budget > 0) {
        ke_ltx_dit_plan_fit(&plan, dev_budget > dev_fixed ? (size_t) (dev_budget - dev_fixed) : 0);
    }
    if (host_budget > 0 && e->host_gib * GIB > host_budget) {
        e->verdict = KE_VERDICT_CANNOT_RUN;
        snprintf(e->suggestion, sizeof(e->suggestion), "needs %.1f GiB of RAM, %.1f GiB given: %s", e->host_gib,
                 host_budget / GIB, tw > e->host_gib * GIB / 2 ? "use an fp8 or quantized checkpoint"
                                                               : "choose a smaller size or fewer frames");
    } else if (cuda && dev_budget > 0 && !plan.fits) {
        e->verdict = KE_VERDICT_CANNOT_RUN;
        snprintf(e->suggestion, sizeof(e->suggestion), "the transformer's activations need %.1f GiB and two streamed "
                 "blocks %.1f GiB beside the VAE of the %.1f GiB GPU budget: choose a smaller size or fewer frames",
                 (double) plan.activations / GIB, 2.0 * (double) plan.block / GIB, dev_budget / GIB);
    } else if (cuda && dev_budget > 0 && (dev_decode > dev_budget || !tiles_fit)) {
        e->verdict = KE_VERDICT_CANNOT_RUN;
        snprintf(e->suggestion, sizeof(e->suggestion), "the decode needs %.1f GiB even in tiles of %dx%d latent "
                 "pixels beside the VAE of the %.1f GiB GPU budget: choose fewer frames", tiles.need / GIB,
                 tiles.tile_w, tiles.tile_h, dev_budget / GIB);
    } else if (cuda && dev_budget > 0 && plan.streams) {
        e->verdict = KE_VERDICT_STREAMS;
        e->device_gib = dev_budget / GIB;
        snprintf(e->suggestion, sizeof(e->suggestion), "the transformer (%.1f GiB) streams from RAM (%.1f GiB stay on "
                 "the GPU); an fp8 or quantized checkpoint would keep more of it there", tw / GIB,
                 (double) plan.weight_cap / GIB);
    }
    ke_log(3, "estimate (LTX-Video): passes %dx%d then %dx%d latent, %g and %g tokens; host MiB text %.0f, sampling "
           "%.0f, decode %.0f; device MiB text %.0f, sampling %.0f, decode %.0f (%d tiles of %dx%d latent pixels)",
           (int) lw1, (int) lh1, (int) lw2, (int) lh2, L1, L2, h_text / 1048576.0, h_sample / 1048576.0,
           h_decode / 1048576.0, dev_text / 1048576.0, dev_sample / 1048576.0, dev_decode / 1048576.0, tiles.n_tiles,
           tiles.tile_w, tiles.tile_h);
    ke_estimate_summary(e, cuda, threads);
    return KE_STATUS_OK;
}
