// Kinora engine: the pre-flight estimate (issue 12 item 5): peak device memory, peak host RSS and time of
// a ke_generate run, from the sizes the engine allocates and a throughput model per backend, and a
// verdict (fits / will stream / cannot run) with one suggestion.
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/error.h"
#include "models/common/lora.h"
#include "models/dit/wan.h"
#include "models/te/umt5.h"
#include "models/vae/wan-vae.h"
#include "pipeline/model-impl.h"
#include "pipeline/estimate-impl.h"
#include "pipeline/recipe-impl.h"

#define GIB 1073741824.0
#define MIB 1048576.0

// --- constants ---------------------------------------------------------------------------------------
// Host memory of the process before any weight: libraries, OpenBLAS and oneDNN state, thread stacks,
// the GLib test harness. Measured: the peak RSS of a tiny-model 256x256x17 run is 84 MiB, of which the
// terms below account for about 50 MiB (tests/engine/pipeline/test-estimate.c checks the sum). The GUI
// adds GTK's own memory (some 100 MiB), which this figure leaves out.
// Checked at full size: TI2V-5B from `kinora-bench write-weights --model ti2v-5B --dtype bf16` (DiT 9.3 GiB,
// T5 10.6 GiB, VAE 1.3 GiB, all bf16), `kinora-cli generate --size 256x256 --frames 1 --steps 1
// --threads 2`: estimated 12.72 GiB, measured 12.87 GiB (/usr/bin/time -v, maximum resident set). The
// time estimate (33 s) leaves out the first reading of the weights: that run took 137 s on the shared
// 2-core machine with a slow disk.
#define HOST_BASE_BYTES (48.0 * MIB)
// CUDA context, cuBLASLt/cuDNN handles and workspaces on the device, and the driver's host side. The
// device figure is the gap between nvidia-smi and the allocator's peak seen in cuda.md's H200 runs
// (about 0.5 GiB); the host figure is the CUDA runtime's usual resident size.
#define DEVICE_BASE_BYTES (0.6 * GIB)
#define CUDA_HOST_BYTES (0.4 * GIB)
// CPU: attention tiles (a few hundred KiB, cpu-attention.c) and other small scratch.
#define CPU_SCRATCH_BYTES (4.0 * MIB)
// The VAE tile planner's own headroom in its need (vae-run.c plan), not an allocation.
#define VAE_PLAN_MARGIN (64.0 * MIB)

// Throughput. CPU: one TI2V-5B forward at 256x256x17 (latent 5x16x16, 320 tokens) takes 5.45 s on 2
// cores of the AVX-512 EPYC of docs/toolchain.md with bf16 matmuls (kinora-bench dit, README figures);
// the rate per core scales with the thread count (optimistic beyond one socket). Exact fp32 is taken
// to run at CPU_FP32_RATIO of it: an assumption (bf16 halves the bytes moved and AVX-512 BF16 doubles
// the multiply rate of fp32 FMA), not a measurement; a 30-layer `kinora-bench dit --exact` did not
// finish within 250 s on the shared 2-core machine.
#define CPU_REF_SECONDS 5.45
#define CPU_REF_THREADS 2
#define CPU_FP32_RATIO 0.5
// CUDA: one TI2V-5B forward at 1280x704x121 (27,280 tokens) takes 0.909 s on an H100 (kinora-bench dit
// --backend cuda; cuda.md gives 0.890 s on an H200). That one rate serves the T5 encode and LTX-Video.
#define CUDA_REF_SECONDS 0.909
// A Wan DiT forward on CUDA in three parts, from the device time per op class of the 5B forward at
// 1280x704x121 (kinora-bench dit --profile, cuda.md): the linears' FLOPs at the GEMM rate, the attention
// FLOPs (self and cross) at the attention rate, and the rest (norms, modulation, RoPE, the e4m3
// quantization under fp8) per element of the L x dim activations a layer. bf16 (H200): GEMM 0.329 s,
// attention 0.508 s, rest 0.033 s; fp8 (H100): 0.190, 0.371, 0.102 s. Against the forwards measured on
// H100s (cuda.md, issue 13's tables) the model gives: 5B 0.873 s (measured 0.876 to 0.898) and 0.667 s at
// fp8 (0.676 to 0.689); A14B 832x480x81 2.81 s (2.76 to 2.80) and 2.10 s (2.02 to 2.06); A14B 1280x720x81
// 11.40 s (12.76 to 13.07: attention at 75,600 tokens runs slower than at 27,280) and 8.43 s (8.12 to
// 8.32). Short clips run the GPU below these rates, so their estimate is optimistic.
#define CUDA_GEMM_RATE_BF16 736e12
#define CUDA_ATTN_RATE_BF16 539e12
#define CUDA_REST_S_BF16 1.31e-11
#define CUDA_GEMM_RATE_FP8 1274e12
#define CUDA_ATTN_RATE_FP8 738e12
#define CUDA_REST_S_FP8 4.06e-11
// VAE decode, seconds per output pixel-frame. CUDA, the bf16 decoder (the default), H100 (cuda.md, issue
// 13's table): the Wan2.2 VAE 5.68 s for 1280x704x121, the Wan2.1 VAE 3.94 s for 1280x720x81; the
// decoder is chosen by its scale (16: Wan2.2, 8: Wan2.1). The tiny model's and LTX-Video's decoders keep
// the earlier figure, the Wan2.2 TF32 decode (11.0 s for 1280x704x121, H200) scaled by parameter count
// (CUDA_VAE_SCALED_SECONDS_PER_PX; LTX-Video's own decode rate is not in the model). CPU (exact fp32, as the pipeline decodes) 137.4 s
// for the first 5 frames of
// `kinora-bench vae22-decode --size 256x256 --frames 17 --threads 2` on the 2-core machine while other
// builds shared it (so on the slow side), scaled by threads like the DiT. Other VAEs (the tiny model's,
// Wan2.1) scale by their parameter count against the Wan2.2 VAE's 704,688,668 (a crude proxy for the
// work per pixel).
#define CUDA_VAE22_SECONDS_PER_PX (5.68 / (1280.0 * 704.0 * 121.0))
#define CUDA_VAE21_SECONDS_PER_PX (3.94 / (1280.0 * 720.0 * 81.0))
#define CUDA_VAE_SCALED_SECONDS_PER_PX (11.0 / (1280.0 * 704.0 * 121.0))
#define CPU_VAE_REF_SECONDS 137.4
#define CPU_VAE_REF_PX (256.0 * 256.0 * 5.0)
#define VAE22_PARAMS 704688668.0
// T5 on the GPU: the encoder is made on the device per job (its weights uploaded from the mapped file
// through pinned staging buffers, cuda-upload.c) and freed before sampling. CUDA_UPLOAD_RATE: those
// uploads ran at 16.6 to 20.7 GB/s on H100 hosts (10.4 GB/s in a machine's first process; cuda.md, "T5 on
// the GPU"); 15 GiB/s is taken. The encode itself runs at the DiT's CUDA rate; resident, the first prompt
// encodes while the layers go up (umt5.c), and the negative prompt with it, layer by layer.
// T5_PLAN_TOKENS: the pipeline plans its activations for two prompts of 512 tokens (text-cache.c).
// Both T5 models (UMT5-XXL, T5 v1.1 XXL) have 24 layers of width 4096, FFN 10240, 64 heads.
#define CUDA_UPLOAD_RATE (15.0 * GIB)
#define T5_PLAN_TOKENS 512.0
#define T5_FFN_RATIO 2.5
#define T5_HEADS 64.0
// Tokens the text encoder runs per job: the prompt and the official negative prompt (about 130
// tokens), unless cached.
#define T5_TOKENS 200.0

static double ref_flops_cpu(void)
{
    // the TI2V-5B DiT (wan22-spec 1.1) at latent 5x16x16
    struct ke_dit_config c = { .patch_t = 1, .patch_h = 2, .patch_w = 2, .in_dim = 48, .out_dim = 48, .dim = 3072,
                               .ffn_dim = 14336, .freq_dim = 256, .text_dim = 4096, .text_len = 512, .num_heads = 24,
                               .num_layers = 30 };
    return ke_dit_forward_flops(&c, 5, 16, 16, false);
}

static double ref_flops_cuda(void)
{
    struct ke_dit_config c = { .patch_t = 1, .patch_h = 2, .patch_w = 2, .in_dim = 48, .out_dim = 48, .dim = 3072,
                               .ffn_dim = 14336, .freq_dim = 256, .text_dim = 4096, .text_len = 512, .num_heads = 24,
                               .num_layers = 30 };
    return ke_dit_forward_flops(&c, 31, 44, 80, false);
}

// Seconds of one Wan DiT forward on CUDA (the three-part model above); gemm8 / attn8: those parts in fp8.
static double cuda_forward_seconds(const struct ke_dit_config * c, int F, int H, int W, bool gemm8, bool attn8)
{
    const double L = (double) F * (H / c->patch_h) * (W / c->patch_w);
    const double attn = ke_dit_attention_flops(c, F, H, W);
    const double gemm = ke_dit_forward_flops(c, F, H, W, false) - attn;
    return gemm / (gemm8 ? CUDA_GEMM_RATE_FP8 : CUDA_GEMM_RATE_BF16) +
           attn / (attn8 ? CUDA_ATTN_RATE_FP8 : CUDA_ATTN_RATE_BF16) +
           L * c->dim * c->num_layers * (gemm8 || attn8 ? CUDA_REST_S_FP8 : CUDA_REST_S_BF16);
}

bool ke_estimate_t5_gpu(double params, double bytes, double dim, int n_layers, double dev_budget, double * dev_bytes,
                        double * host_bytes, double * seconds)
{
    const double w = fmin(bytes, params * 2.0);
    const double L = T5_PLAN_TOKENS, D = dim, F = T5_FFN_RATIO * dim;
    // ke_umt5_plan_memory for the two prompts encoded together: the workspace (the second one's residual
    // stream and bias beside it) plus a quarter (size classes), the bf16 linear input, 64 MiB
    double act = (8.0 * L * D + 2.0 * L * F + 2.0 * T5_HEADS * L * L) * 4.0;
    act += act / 4.0 + L * F * 2.0 + 64.0 * MIB;
    const double layer = n_layers > 0 ? w / n_layers : w;
    const double avail = dev_budget > 0 ? dev_budget - DEVICE_BASE_BYTES : INFINITY;
    const double encode = 2.0 * params * T5_TOKENS / (ref_flops_cuda() / CUDA_REF_SECONDS);
    *host_bytes = 0;
    if (w + act <= avail) {
        *dev_bytes = DEVICE_BASE_BYTES + w + act;
        // both prompts run each layer as it arrives: the last layer's share comes after the upload
        *seconds = fmax(w / CUDA_UPLOAD_RATE, encode) + (n_layers > 0 ? encode / n_layers : 0.0);
        return true;
    }
    if (act + 2.0 * layer >= avail) {
        *dev_bytes = 0;
        *seconds = 0;
        return false;
    }
    // the streamed part is staged in pinned host memory and crosses the bus again for each prompt
    const double streamed = w - (avail - act - 2.0 * layer);
    *dev_bytes = dev_budget;
    *host_bytes = streamed;
    *seconds = (w + 2.0 * streamed) / CUDA_UPLOAD_RATE + encode;
    return true;
}

const char * ke_verdict_name(enum ke_verdict v)
{
    switch (v) {
    case KE_VERDICT_FITS: return "fits";
    case KE_VERDICT_STREAMS: return "will stream";
    case KE_VERDICT_CANNOT_RUN: return "cannot run";
    }
    return "unknown";
}

// --- describing a model ------------------------------------------------------------------------------

struct set_sums {
    double bytes, params, narrow, narrow_bytes;
};

// Bytes and elements of a set (skip: a tensor left out, e.g. the token embedding); narrow: elements of
// matrices (2 dims or more) stored in another dtype than bf16.
static struct set_sums sum_set(const struct ke_tensor_set * s, const struct ke_tensor * skip)
{
    struct set_sums r = { 0, 0, 0, 0 };
    for (int i = 0; s && i < ke_tset_count(s); i++) {
        const struct ke_tensor * t = ke_tset_at(s, i);
        if (t == skip || (skip && t->data == skip->data)) {
            continue;
        }
        const double n = (double) ke_tensor_nelements(t);
        r.bytes += (double) ke_tensor_nbytes(t);
        r.params += n;
        if (t->n_dims >= 2 && t->type != KE_DTYPE_BF16) {
            r.narrow += n;
            r.narrow_bytes += (double) ke_tensor_nbytes(t);
        }
    }
    return r;
}

static double block_bytes(const struct ke_tensor_set * s)
{
    double b = 0;
    for (int i = 0; s && i < ke_tset_count(s); i++) {
        const struct ke_tensor * t = ke_tset_at(s, i);
        if (t->name && strncmp(t->name, "blocks.0.", 9) == 0) {
            b += (double) ke_tensor_nbytes(t);
        }
    }
    return b;
}

void ke_model_describe(const ke_model_t * m, struct ke_model_desc * d)
{
    memset(d, 0, sizeof(*d));
    if (!m) {
        return;
    }
    const struct ke_dit_config * c = &m->cfg;
    d->task = m->task;
    d->tiny = m->tiny;
    d->n_experts = m->n_experts;
    d->dim = c->dim;
    d->ffn_dim = c->ffn_dim;
    d->freq_dim = c->freq_dim;
    d->num_heads = c->num_heads;
    d->num_layers = c->num_layers;
    d->in_dim = c->in_dim;
    d->out_dim = c->out_dim;
    d->text_len = c->text_len > 0 ? c->text_len : 512;
    d->text_dim = c->text_dim;
    d->patch_t = c->patch_t;
    d->patch_h = c->patch_h;
    d->patch_w = c->patch_w;
    for (int i = 0; i < 2; i++) {
        struct set_sums s = sum_set(m->dit_w[i], NULL);
        if (s.bytes > d->dit_bytes) {
            d->dit_bytes = s.bytes;
            d->dit_params = s.params;
            d->dit_narrow_params = s.narrow;
            d->dit_narrow_bytes = s.narrow_bytes;
            d->dit_block_bytes = block_bytes(m->dit_w[i]);
        }
    }
    const struct ke_umt5 * t5 = m->te ? ke_text_encoder_model(m->te) : m->t5;
    const struct ke_tensor_set * t5w = m->te ? ke_text_encoder_weights(m->te) : m->t5_w;
    struct set_sums ts = sum_set(t5w, t5 ? t5->emb : NULL);
    d->t5_bytes = ts.bytes;
    d->t5_params = ts.params;
    // only a fast (bf16) encoder converts: the tiny model's runs exact fp32
    d->t5_narrow_params = t5 && t5->be && ke_precision_fast(t5->be->precision) ? ts.narrow : 0;
    if (m->vae) {
        struct set_sums vs = sum_set(m->vae->ws, NULL);
        d->vae_scale = m->vae->scale;
        d->vae_z = m->vae->z_dim;
        d->vae_bytes = vs.bytes;
        d->vae_params = vs.params;
        ke_vae_decode_costs(m->vae, &d->vae_cache_px, &d->vae_act_px);
    }
}

// --- the estimate ------------------------------------------------------------------------------------

static double mem_available(void)
{
    FILE * f = fopen("/proc/meminfo", "r");
    char line[256];
    double kib = 0;
    if (!f) {
        return 0;
    }
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "MemAvailable:", 13) == 0) {
            kib = atof(line + 13);
        }
    }
    fclose(f);
    return kib * 1024.0;
}

static double maxd(double a, double b)
{
    return a > b ? a : b;
}

static void fmt_time(char * buf, size_t n, double s)
{
    if (s < 90) {
        snprintf(buf, n, "%.0f s", s < 1 ? 1 : s);
    } else if (s < 5400) {
        snprintf(buf, n, "%.0f min", s / 60);
    } else {
        snprintf(buf, n, "%.1f h", s / 3600);
    }
}

static void fmt_mem(char * buf, size_t n, double gib)
{
    if (gib < 1.0) {
        snprintf(buf, n, "%.0f MiB", gib * 1024.0);
    } else {
        snprintf(buf, n, "%.1f GiB", gib);
    }
}

static pthread_once_t g_auto_once = PTHREAD_ONCE_INIT;
static bool g_auto_cuda;

static void probe_auto(void)
{
    struct ke_backend * be = ke_backend_by_name("auto", NULL);
    g_auto_cuda = be && strcmp(be->ops->name, "cpu") != 0;
}

const char * ke_backend_resolve(const char * name)
{
    if (!name || !*name || strcmp(name, "cpu") == 0) {
        return "cpu";
    }
    if (strcmp(name, "auto") == 0) {
        // the machine's answer does not change while the process runs: probe once
        pthread_once(&g_auto_once, probe_auto);
        return g_auto_cuda ? "cuda" : "cpu";
    }
    return "cuda";
}

// Which backend the run takes (auto: cuda when its module loads).
static bool uses_cuda(const char * name)
{
    return strcmp(ke_backend_resolve(name), "cuda") == 0;
}

enum ke_status ke_gen_estimate_desc(const struct ke_model_desc * d, const struct ke_gen_params * p,
                                    const struct ke_mem_budget * budget, struct ke_estimate * e,
                                    struct ke_error * err)
{
    if (!d || !p || !e) {
        return ke_err(err, KE_STATUS_INVALID, "estimate: model description, parameters and output are required");
    }
    memset(e, 0, sizeof(*e));
    enum ke_status st = ke_gen_params_validate(p, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    if (d->dim <= 0 || d->num_layers <= 0 || d->vae_scale <= 0 || d->patch_h <= 0 || d->patch_w <= 0) {
        return ke_err(err, KE_STATUS_INVALID, "estimate: the model description is empty (describe a loaded model)");
    }
    const bool cuda = uses_cuda(p->backend);
    const bool fast = ke_precision_fast(p->precision) && !d->tiny;
    // fp8 on the GPU with its e4m3 GEMMs on (ke_fp8_parts, the default; KINORA_CUDA_FP8=attn keeps bf16
    // weights): the DiT's linears are held as e4m3 (1 byte a parameter). Whether the GPU has fp8 units
    // (compute capability 8.9 and newer) is known only once the device is initialised, which the estimate
    // does not do: it estimates what fp8 takes; on an older GPU the run falls back to bf16 and its own plan
    // (the device budget) decides.
    const bool fp8 = cuda && p->precision == KE_PRECISION_FP8 && (ke_fp8_parts() & 1);
    e->backend = cuda ? "cuda" : "cpu";
    const struct ke_dit_config c = {
        .patch_t = d->patch_t, .patch_h = d->patch_h, .patch_w = d->patch_w, .in_dim = d->in_dim,
        .out_dim = d->out_dim, .dim = d->dim, .ffn_dim = d->ffn_dim, .freq_dim = d->freq_dim,
        .text_dim = d->text_dim, .text_len = d->text_len, .num_heads = d->num_heads, .num_layers = d->num_layers,
    };
    int T, lh, lw;
    const struct ke_image * im = p->image;
    ke_recipe_latent_size(d->task, d->vae_scale, d->patch_h, d->patch_w, p->width, p->height,
                          (double) p->width * p->height, p->n_frames, im ? im->width : 0, im ? im->height : 0, &lw,
                          &lh, &T);
    const int out_frames = 1 + 4 * (T - 1);
    const double px = (double) lh * d->vae_scale * lw * d->vae_scale;
    // TI2V pins the image frame with its own timestep: two distinct values a forward
    const int n_u = d->task == KE_TASK_TI2V_5B && im ? 2 : 1;
    const double lat = (double) d->vae_z * T * lh * lw * sizeof(float);
    // the sampler's x, cond, uncond, x0, the conditioning latent and the preview: about 6 latents
    const double sample_bufs = 6.0 * lat;
    const double video = px * out_frames * 3.0;
    const double xe = cuda ? 2.0 : 4.0;   // the backends' ops.xbuf_elem (CUDA bf16, CPU f32)
    const double act = (double) ke_dit_activation_bytes(&c, T, lh, lw, n_u, (size_t) xe);
    const double ctx2 = 2.0 * (double) ke_dit_context_bytes(&c, (size_t) xe);   // prompt and negative prompt

    // host: the text encoder's pages while it runs (released after encoding) and its converted copies
    const double t5_copy = fast ? d->t5_narrow_params * 2.0 : 0.0;
    const double host_base = HOST_BASE_BYTES + (cuda ? CUDA_HOST_BYTES : 0.0) + t5_copy;
    // the CPU VAE is exact fp32: f32 weights are read in place, narrower ones through f32 copies made
    // when the model opens (their mapped pages released), so about 4 bytes a parameter either way
    const double vae_host = d->vae_params * 4.0;
    double h_text = host_base + d->t5_bytes + vae_host;
    // the T5 stage on the GPU (before sampling; its device memory freed after), unless it runs on the CPU
    const double dev_budget_in = !cuda ? 0 : budget && budget->device_gib > 0 ? budget->device_gib * GIB
                                                                             : (double) p->vram_gib * GIB;
    double dev_text = 0, t5_pinned = 0, t5_gpu_s = 0;
    const bool t5_gpu = cuda && !d->tiny && p->text_device == KE_TEXT_DEVICE_AUTO &&
                        ke_estimate_t5_gpu(d->t5_params, d->t5_bytes, d->text_dim, 24, dev_budget_in, &dev_text,
                                           &t5_pinned, &t5_gpu_s);
    h_text += t5_pinned;
    double h_sample, h_decode, dev_sample = 0, dev_decode = 0, dev_weights = 0;
    double vae_need;
    int tile, ov;
    // LoRAs, counted from their files' size (ke_lora_specs_bytes): on the device their terms in bf16 (at
    // most the size of a bf16 or f32 file), on the host the f32 copies the terms are made from and kept in
    // (rank padded to 8: about twice a bf16 file), for the expert that samples (the larger of the two) or
    // for both where both stay
    const double lora_low = (double) ke_lora_specs_bytes(p->loras, p->n_loras, false);
    const double lora_high = d->n_experts == 2 ? (double) ke_lora_specs_bytes(p->loras, p->n_loras, true) : 0;
    const double lora_one = maxd(lora_low, lora_high);
    if (!cuda) {
        // one expert's pages from the page cache (the other expert's are released at the switch); the fast
        // path keeps a bf16 copy of what is not stored in bf16 and releases those pages once copied
        const double copy = fast ? d->dit_narrow_params * 2.0 : 0.0;
        const double dit = fast ? d->dit_bytes - d->dit_narrow_bytes + copy : d->dit_bytes;
        // per call: attention's k and v copies (cpu-attention.c), the bf16 GEMM input of the widest linear
        // (cpu-matmul.c linear_fast) or the exact path's f32 conversion block of 256 weight rows
        const double L = (double) T * (lh / d->patch_h) * (lw / d->patch_w);
        const double transient = 2.0 * L * d->dim * 4.0 + (fast ? L * d->ffn_dim * 2.0 : 256.0 * d->ffn_dim * 4.0);
        h_sample = host_base + vae_host + dit + act + ctx2 + sample_bufs + transient + CPU_SCRATCH_BYTES +
                   2.0 * lora_one;
        vae_need = ke_vae_tile_need(d->vae_cache_px, d->vae_act_px, 0, 4, lh, lw, &tile, &ov) - VAE_PLAN_MARGIN;
        // the DiT's mapped pages are released before decoding; its copies (and LoRA terms) stay with the model
        h_decode = host_base + vae_host + copy + lat + video + vae_need + 2.0 * lora_one;
    } else {
        // weights are uploaded in bf16 (fp8: e4m3, or as stored when narrower); the mapped pages are
        // resident while uploading, released after
        dev_weights = fp8 ? fmin(d->dit_bytes, d->dit_params * 1.0) : d->dit_params * 2.0;
        dev_sample = DEVICE_BASE_BYTES + dev_weights + act + ctx2 + 4.0 * lat;
        vae_need = ke_vae_tile_need(d->vae_cache_px / 2.0, d->vae_act_px, 0, 4, lh, lw, &tile, &ov) - VAE_PLAN_MARGIN;
        dev_decode = DEVICE_BASE_BYTES + dev_weights + d->vae_params * 4.0 + vae_need;
        // A14B: where the budget holds the low-noise expert's stored weights, its LoRAs and 1 GiB beside the
        // high-noise one's sampling, it is prepared ahead and both stay on the device, the decode included
        // (generate.c room_beside)
        double loras = lora_one;
        if (d->n_experts == 2 && dev_budget_in > 0 && !getenv("KINORA_NO_EXPERT_PREFETCH") &&
            dev_sample + lora_high + d->dit_bytes + lora_low + GIB <= dev_budget_in) {
            loras = lora_low + lora_high;
            dev_sample += dev_weights;
            dev_decode += dev_weights;
        }
        dev_sample += loras;
        dev_decode += loras;
        h_sample = host_base + vae_host + d->dit_bytes + sample_bufs + 2.0 * loras;
        h_decode = host_base + vae_host + lat + video + 2.0 * loras;
    }
    e->host_gib = maxd(h_text, maxd(h_sample, h_decode)) / GIB;
    ke_log(3, "estimate: host MiB text %.0f, sampling %.0f (DiT %.0f, activations %.0f, contexts %.0f), decode %.0f "
           "(VAE %.0f + tile need %.0f + video %.0f); device MiB text %.0f, sampling %.0f, decode %.0f", h_text / MIB,
           h_sample / MIB, d->dit_bytes / MIB, act / MIB, ctx2 / MIB, h_decode / MIB, vae_host / MIB, vae_need / MIB,
           video / MIB, dev_text / MIB, dev_sample / MIB, dev_decode / MIB);
    e->device_gib = maxd(dev_text, maxd(dev_sample, dev_decode)) / GIB;
    e->device_weights_gib = dev_weights / GIB;
    e->n_forwards = 2 * p->steps;

    // time
    const int threads = p->n_threads > 0 ? p->n_threads : ke_get_threads();
    const double cpu_rate = ref_flops_cpu() / CPU_REF_SECONDS / CPU_REF_THREADS * threads * (fast ? 1.0 : CPU_FP32_RATIO);
    const double fwd = ke_dit_forward_flops(&c, T, lh, lw, false);
    const bool fp8_prec = cuda && p->precision == KE_PRECISION_FP8;
    e->step_s = cuda ? 2.0 * cuda_forward_seconds(&c, T, lh, lw, fp8, fp8_prec && (ke_fp8_parts() & 2))
                     : 2.0 * fwd / cpu_rate;
    e->text_s = t5_gpu ? t5_gpu_s : 2.0 * d->t5_params * T5_TOKENS / cpu_rate;
    const double vae_work = px * out_frames * d->vae_params / VAE22_PARAMS;
    const double cuda_px_s = d->vae_scale == 8 ? CUDA_VAE21_SECONDS_PER_PX : CUDA_VAE22_SECONDS_PER_PX;
    e->decode_s = cuda ? (d->tiny ? CUDA_VAE_SCALED_SECONDS_PER_PX * vae_work : cuda_px_s * px * out_frames)
                       : CPU_VAE_REF_SECONDS * (vae_work / CPU_VAE_REF_PX) * CPU_REF_THREADS / threads;
    e->total_s = e->text_s + e->step_s * p->steps + e->decode_s;

    // verdict
    double host_budget = budget && budget->host_gib > 0 ? budget->host_gib * GIB : mem_available();
    const double dev_budget = cuda && budget && budget->device_gib > 0 ? budget->device_gib * GIB : 0;
    e->host_budget_gib = host_budget / GIB;
    e->device_budget_gib = dev_budget / GIB;
    e->verdict = KE_VERDICT_FITS;
    char t[32];
    fmt_time(t, sizeof(t), e->total_s);
    const double non_weights = e->host_gib * GIB - d->dit_bytes;
    if (host_budget > 0 && e->host_gib * GIB > host_budget) {
        e->verdict = KE_VERDICT_CANNOT_RUN;
        if (d->dit_bytes > non_weights) {
            snprintf(e->suggestion, sizeof(e->suggestion), "needs %.1f GiB of RAM, %.1f GiB free: use a quantized "
                     "model (Q8_0 or Q4_K GGUF, fp8) or close other programs", e->host_gib, host_budget / GIB);
        } else {
            snprintf(e->suggestion, sizeof(e->suggestion), "needs %.1f GiB of RAM, %.1f GiB free: choose a smaller "
                     "size or fewer frames", e->host_gib, host_budget / GIB);
        }
    } else if (cuda && dev_budget > 0 && dev_sample > dev_budget) {
        // streaming keeps two blocks of weights on the device (double-buffered) instead of all of them
        const double streamed = dev_sample - dev_weights + 2.0 * d->dit_block_bytes / d->dit_bytes * dev_weights;
        const double dec_left = dev_budget - DEVICE_BASE_BYTES - d->vae_params * 4.0;
        const double dec_min = ke_vae_tile_need(d->vae_cache_px / 2.0, d->vae_act_px, dec_left, 4, lh, lw, &tile, &ov);
        if (streamed <= dev_budget && dec_min <= dec_left) {
            e->verdict = KE_VERDICT_STREAMS;
            e->device_gib = dev_budget / GIB;
            snprintf(e->suggestion, sizeof(e->suggestion), "the weights (%.1f GiB) stream from RAM; --vram %.0f or a "
                     "quantized model would keep them on the GPU", dev_weights / GIB, ceil(dev_sample / GIB));
        } else {
            e->verdict = KE_VERDICT_CANNOT_RUN;
            snprintf(e->suggestion, sizeof(e->suggestion), "activations alone need %.1f GiB of the %.1f GiB GPU "
                     "budget: choose a smaller size or fewer frames", (streamed - 2.0 * d->dit_block_bytes) / GIB,
                     dev_budget / GIB);
        }
    }
    char hm[32], dm[32];
    fmt_mem(hm, sizeof(hm), e->host_gib);
    fmt_mem(dm, sizeof(dm), e->device_gib);
    if (cuda) {
        snprintf(e->summary, sizeof(e->summary), "%s: %s GPU, %s RAM, about %s", ke_verdict_name(e->verdict), dm, hm,
                 t);
    } else {
        snprintf(e->summary, sizeof(e->summary), "%s: %s RAM, about %s on %d CPU threads", ke_verdict_name(e->verdict),
                 hm, t, threads);
    }
    return KE_STATUS_OK;
}

enum ke_status ke_gen_estimate(const ke_model_t * m, const struct ke_gen_params * p,
                               const struct ke_mem_budget * budget, struct ke_estimate * out, struct ke_error * err)
{
    if (!m) {
        return ke_err(err, KE_STATUS_INVALID, "estimate: no model");
    }
    if (p && p->task != m->task) {
        return ke_err(err, KE_STATUS_INVALID, "the parameters are for %s but the model is %s",
                      ke_task_info(p->task)->name, ke_task_info(m->task)->name);
    }
    struct ke_model_desc d;
    ke_model_describe(m, &d);
    return ke_gen_estimate_desc(&d, p, budget, out, err);
}

// --- shared with estimate-ltx.c (LTX-Video from model capabilities): the same throughput model,
// overheads and summary line ---------------------------------------------------------------------------

double ke_estimate_flop_rate(bool cuda, bool fast, int threads)
{
    if (cuda) {
        return ref_flops_cuda() / CUDA_REF_SECONDS;
    }
    return ref_flops_cpu() / CPU_REF_SECONDS / CPU_REF_THREADS * threads * (fast ? 1.0 : CPU_FP32_RATIO);
}

double ke_estimate_decode_seconds(bool cuda, double px_frames, double vae_params, int threads)
{
    const double work = px_frames * vae_params / VAE22_PARAMS;
    return cuda ? CUDA_VAE_SCALED_SECONDS_PER_PX * work : CPU_VAE_REF_SECONDS * (work / CPU_VAE_REF_PX) * CPU_REF_THREADS / threads;
}

double ke_estimate_mem_available(void)
{
    return mem_available();
}

void ke_estimate_bases(bool cuda, double * host_bytes, double * device_bytes)
{
    *host_bytes = HOST_BASE_BYTES + (cuda ? CUDA_HOST_BYTES : 0.0) + CPU_SCRATCH_BYTES;
    *device_bytes = cuda ? DEVICE_BASE_BYTES : 0.0;
}

void ke_estimate_summary(struct ke_estimate * e, bool cuda, int threads)
{
    char t[32], hm[32], dm[32];
    fmt_time(t, sizeof(t), e->total_s);
    fmt_mem(hm, sizeof(hm), e->host_gib);
    fmt_mem(dm, sizeof(dm), e->device_gib);
    if (cuda) {
        snprintf(e->summary, sizeof(e->summary), "%s: %s GPU, %s RAM, about %s", ke_verdict_name(e->verdict), dm, hm,
                 t);
    } else {
        snprintf(e->summary, sizeof(e->summary), "%s: %s RAM, about %s on %d CPU threads", ke_verdict_name(e->verdict),
                 hm, t, threads);
    }
}
