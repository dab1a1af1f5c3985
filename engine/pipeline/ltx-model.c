// Kinora engine: LTX-Video as a ke_model_t: opening the checkpoint, the spatial upsampler and the T5 v1.1
// XXL text encoder, and ke_generate's run (inference.py infer of Lightricks/LTX-Video 5260738 with a
// distilled config: the prompt through T5 with LTX's 256-token limit, the conditioning image, the noise
// from the seed, the multi-scale pipeline of ltx-pipeline.c, RGB8 frames).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/error.h"
#include "core/pages.h"
#include "core/threadpool.h"
#include "models/ltx/ltx-checkpoint.h"
#include "models/ltx/ltx-transformer.h"
#include "models/ltx/ltx-upsampler.h"
#include "models/ltx/ltx-vae.h"
#include "models/model-family.h"
#include "models/te/umt5.h"
#include "pipeline/ltx-impl.h"
#include "pipeline/model-impl.h"
#include "pipeline/sample-impl.h"
#include "sampling/sampling.h"

// Item i of a comma-separated list (malloc'd), NULL when absent or empty.
static char * item(const char * spec, int i)
{
    const char * p = spec;
    for (int k = 0; k < i; k++) {
        p = strchr(p, ',');
        if (!p) {
            return NULL;
        }
        p++;
    }
    const char * e = strchr(p, ',');
    size_t n = e ? (size_t) (e - p) : strlen(p);
    if (n == 0) {
        return NULL;
    }
    char * r = malloc(n + 1);
    if (r) {
        memcpy(r, p, n);
        r[n] = 0;
    }
    return r;
}

void ke_ltx_model_free(struct ke_ltx_model * l)
{
    if (!l) {
        return;
    }
    ke_ltx_dit_free(l->dit);
    ke_ltx_vae_free(l->vae);
    ke_ltx_upsampler_free(l->ups);
    ke_text_encoder_free(l->te);
    ke_tokenizer_free(l->tok);
    ke_ltx_checkpoint_free(l->ckpt);
    free(l->te_path);
    free(l->tok_path);
    free(l);
}

enum ke_status ke_ltx_model_open(struct ke_model * m, const char * path, struct ke_error * err)
{
    struct ke_ltx_model * l = calloc(1, sizeof(*l));
    char * ckpt = item(path, 0), * ups = item(path, 1), * t5 = item(path, 2), * extra = item(path, 3);
    struct ke_ltx_files files = { 0 };
    enum ke_status st = KE_STATUS_OK;
    if (!l || !ckpt) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
        goto done;
    }
    if (extra) {
        st = ke_err(err, KE_STATUS_INVALID, "%s: an LTX-Video model is CHECKPOINT[,UPSAMPLER[,T5]] (\"%s\" is one too "
                    "many)", path, extra);
        goto done;
    }
    // the files as the model caps and the path resolver find them (model-caps.c): the checkpoint, the
    // release's upsampler beside it, the T5 encoder and its tokenizer
    if ((st = ke_ltx_files_find(&files, ckpt, ups, t5, err)) != KE_STATUS_OK ||
        (st = ke_ltx_checkpoint_open(&l->ckpt, files.checkpoint, files.upsampler, KE_LTX_OPEN_MODEL, err)) !=
            KE_STATUS_OK) {
        goto done;
    }
    struct ke_ltx_checkpoint * c = l->ckpt;
    if (!c->part[KE_LTX_PART_VAE]) {
        st = ke_err(err, KE_STATUS_MISSING, "%s: the checkpoint holds no VAE ('vae.*' tensors); LTX-Video needs the "
                    "official single file (transformer and VAE together) or a Diffusers folder", ckpt);
        goto done;
    }
    if (!c->part[KE_LTX_PART_UPSAMPLER]) {
        st = ke_err(err, KE_STATUS_MISSING, "%s: no spatial upsampler given or found beside it: the distilled "
                    "multi-scale pipeline needs ltxv-spatial-upscaler-0.9.x.safetensors (give it after the "
                    "checkpoint, separated by a comma)", ckpt);
        goto done;
    }
    for (int p = 0; p < KE_LTX_N_PARTS; p++) {
        if (c->part[p] && c->config[p] && ke_tset_set_meta(c->part[p], "config", c->config[p]) < 0) {
            st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
            goto done;
        }
    }
    if (c->text_encoder_path) {
        // a Diffusers folder names its own encoder and tokenizer
        l->te_path = strdup(c->text_encoder_path);
        l->tok_path = c->tokenizer_path ? strdup(c->tokenizer_path) : NULL;
    } else {
        l->te_path = files.text_encoder;
        l->tok_path = files.tokenizer;
        files.text_encoder = files.tokenizer = NULL;
    }
    if (!l->te_path) {
        st = ke_err(err, KE_STATUS_MISSING, "%s: no T5 v1.1 XXL text encoder given or found beside it: add the "
                    "PixArt-alpha/PixArt-XL-2-1024-MS folder (its text_encoder/ and tokenizer/) or a t5xxl file as "
                    "the third item: CHECKPOINT,UPSAMPLER,T5", ckpt);
        goto done;
    }
    if (!l->tok_path) {
        st = ke_err(err, KE_STATUS_MISSING, "%s: no T5 tokenizer (tokenizer/, tokenizer.json or spiece.model) beside "
                    "the text encoder", l->te_path);
        goto done;
    }
    if ((st = ke_text_encoder_open(&l->te, l->te_path, "cpu", true, err)) != KE_STATUS_OK ||
        (st = ke_t5xxl_tokenizer_open(&l->tok, l->tok_path, err)) != KE_STATUS_OK) {
        goto done;
    }
    ke_ltx_pipe_config_distilled(&l->cfg, c->release);
    ke_log(2, "%s: LTX-Video %s, the %s distilled config (second pass tone mapping %g)", ckpt,
           c->release[0] ? c->release : "(release not in the file name)",
           strcmp(c->release, "0.9.8") == 0 ? "0.9.8" : "0.9.7", l->cfg.second.tone_map);
    if (!c->distilled) {
        ke_log(1, "%s: not a distilled checkpoint; it runs with the distilled config (guidance 1, %d + %d steps)",
               ckpt, l->cfg.first.n_steps, l->cfg.second.n_steps);
    }
    m->task = KE_TASK_LTXV;
    m->ltx = l;
    l = NULL;
done:
    ke_ltx_model_free(l);
    ke_ltx_files_clear(&files);
    free(ckpt);
    free(ups);
    free(t5);
    free(extra);
    return st;
}

// --- generation -------------------------------------------------------------------------------------

#define GIB 1073741824.0

// The second pass's latent tokens (the most a forward of the job sees).
static int64_t second_pass_tokens(const struct ke_ltx_model * l, const struct ke_ltx_sizes * sz)
{
    const int ss = l->vae->s_scale;
    return (int64_t) sz->lat_t * (sz->h2 / ss) * (sz->w2 / ss);
}

// Before the transformer is made on a backend with a device memory budget (p->vram_gib, 0: the backend's
// default, the free memory less a margin): plan its forward at the second pass's token count beside what
// the VAE and the upsampler already hold, and cap the resident weights so that the rest streams block by
// block. Fails, naming the need and the budget, when not even streaming leaves room for the activations,
// or when the untiled decode would not fit even without the transformer.
static enum ke_status plan_dit(struct ke_ltx_model * l, struct ke_backend * be, const struct ke_gen_params * p,
                               const struct ke_ltx_sizes * sz, int n_text, struct ke_error * err)
{
    if (!be->ops->set_memory || !be->ops->memory) {
        return KE_STATUS_OK;   // the CPU: no device budget
    }
    const struct ke_tensor_set * w = l->ckpt->part[KE_LTX_PART_TRANSFORMER];
    const size_t want = p->vram_gib > 0 ? (size_t) ((double) p->vram_gib * GIB) : 0;
    ke_be_set_memory(be, want, SIZE_MAX);
    size_t budget = 0, in_use = 0, peak = 0;
    be->ops->memory(be, &budget, &in_use, &peak);
    // the decode (not tiled) must fit beside the VAE and the upsampler once the transformer has left:
    // refuse before sampling rather than after it
    const int ss = l->vae->s_scale;
    double need = 0;
    enum ke_status st = ke_ltx_decode_fits(l->vae, sz->lat_t, sz->h2 / ss, sz->w2 / ss, sz->pad_frames, budget,
                                           in_use, &need, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    struct ke_ltx_dit_config cfg;
    st = ke_ltx_dit_config_parse(&cfg, ke_tset_meta(w, "config"), ke_tset_path(w), err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    const int64_t n_tok = second_pass_tokens(l, sz);
    struct ke_ltx_dit_mem_plan plan;
    ke_ltx_dit_plan_memory(&cfg, ke_ltx_dit_weight_permille(w), n_tok, n_text, be->ops->xbuf_elem,
                           budget > in_use ? budget - in_use : 0, &plan);
    if (!plan.fits) {
        return ke_err(err, KE_STATUS_NOMEM, "the LTX-Video transformer needs %.2f GiB of device memory for its "
                      "activations at %lld tokens and %.2f GiB to stream its blocks; the device budget is %.2f GiB "
                      "(%.2f GiB in use by the VAE and the upsampler): use a smaller size or fewer frames, or a "
                      "larger --vram", (double) plan.activations / GIB, (long long) n_tok,
                      (double) (2 * plan.block) / GIB, (double) budget / GIB, (double) in_use / GIB);
    }
    if (plan.streams) {
        ke_log(1, "ltx: the transformer's weights (%.2f GiB) do not fit the device budget of %.2f GiB beside "
               "%.2f GiB of activations: %.2f GiB stay resident, the rest streams from host memory block by block",
               (double) plan.weights / GIB, (double) budget / GIB, (double) plan.activations / GIB,
               (double) plan.weight_cap / GIB);
    }
    ke_be_set_memory(be, want, plan.streams ? plan.weight_cap : SIZE_MAX);
    l->dit_vram_gib = p->vram_gib;
    l->dit_tokens = n_tok;
    return KE_STATUS_OK;
}

// The components on the job's backend (rebuilt when the backend changes; on a device the transformer also
// when the budget changes or the job has more tokens than it was planned for). The VAE and the upsampler
// come first, so that the transformer's plan sees what they hold.
static enum ke_status build(struct ke_ltx_model * l, struct ke_backend * be, const struct ke_gen_params * p,
                            const struct ke_ltx_sizes * sz, int n_text, struct ke_error * err)
{
    if (l->drop_text_encoder && l->te) {
        // the prompt is encoded: an in-memory encoder leaves room for the transformer (ke_ltx_model_from_sets)
        ke_text_encoder_free(l->te);
        l->te = NULL;
    }
    if (l->be != be) {
        ke_ltx_dit_free(l->dit);
        l->dit = NULL;
        ke_ltx_vae_free(l->vae);
        ke_ltx_upsampler_free(l->ups);
        l->vae = NULL;
        l->ups = NULL;
        l->be = be;
    }
    struct ke_ltx_checkpoint * c = l->ckpt;
    enum ke_status st;
    if (!l->vae && (st = ke_ltx_vae_init(&l->vae, c->part[KE_LTX_PART_VAE], false, be, err)) != KE_STATUS_OK) {
        return st;
    }
    if (!l->ups && (st = ke_ltx_upsampler_init(&l->ups, c->part[KE_LTX_PART_UPSAMPLER], false, be, err)) !=
        KE_STATUS_OK) {
        return st;
    }
    if (!c->part[KE_LTX_PART_TRANSFORMER] && l->make_dit &&
        !(c->part[KE_LTX_PART_TRANSFORMER] = l->make_dit(l->make_dit_user, err))) {
        return err && err->code ? err->code : KE_STATUS_NOMEM;
    }
    if (!c->part[KE_LTX_PART_TRANSFORMER]) {
        return ke_err(err, KE_STATUS_MISSING, "LTX-Video: the model holds no transformer");
    }
    // the transformer's precision, set after the VAE and the upsampler were made (they stay bf16) and before
    // it is prepared (its linears take their form then; its attention follows the backend's precision at each
    // call); ke_ltx_run sets bf16 again before the decode. A transformer whose linears took another form
    // (fp8 GEMMs) is prepared again.
    l->dit_prec = ke_be_set_precision(be, p->precision == KE_PRECISION_FP8 ? KE_PRECISION_FP8 : KE_PRECISION_BF16);
    if (l->dit && (l->dit_form != ke_be_linear_precision(be) ||
                   (be->ops->set_memory &&
                    (l->dit_vram_gib != p->vram_gib || second_pass_tokens(l, sz) > l->dit_tokens)))) {
        ke_ltx_dit_free(l->dit);
        l->dit = NULL;
    }
    if (!l->dit) {
        if ((st = plan_dit(l, be, p, sz, n_text, err)) != KE_STATUS_OK ||
            (st = ke_ltx_dit_init(&l->dit, c->part[KE_LTX_PART_TRANSFORMER], NULL, be, err)) != KE_STATUS_OK) {
            return st;
        }
        l->dit_form = ke_be_linear_precision(be);
        // the official transformer forms its RoPE angles in float32: so does this run
        ke_ltx_dit_set_rope_angles(l->dit, KE_LTX_ROPE_F32);
    }
    return KE_STATUS_OK;
}

// The prompt's T5 rows (only the real tokens: the padded ones are masked out of the cross-attention).
// On the job's backend be (unless p asks for the CPU), within the job's device budget; the encoder made
// there is freed before returning, so the transformer gets the whole budget.
static enum ke_status encode_prompt(struct ke_ltx_model * l, const struct ke_gen_params * p, struct ke_backend * be,
                                    float ** hidden, int * n_rows, struct ke_error * err)
{
    int32_t ids[KE_T5XXL_MAX_TOKENS], mask[KE_T5XXL_MAX_TOKENS];
    int n = 0;
    enum ke_status st = ke_t5xxl_tokenize(l->tok, p->prompt ? p->prompt : "", ids, mask, KE_T5XXL_MAX_TOKENS, &n, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    *n_rows = n;
    const size_t budget = p->vram_gib > 0 ? (size_t) ((double) p->vram_gib * 1073741824.0) : 0;
    st = ke_text_encode_on(l->te, p->text_device == KE_TEXT_DEVICE_CPU ? NULL : be, budget, ids, n,
                           p->text_cache_dir, hidden, err);
    ke_text_encoder_release(l->te);
    return st;
}

// inference.py's conditioning image: crop, blur, CRF-29 compression (a warning without GStreamer), padding.
static enum ke_status prepare_image(float ** out, int * mw, int * mh, const struct ke_image * im,
                                    const struct ke_ltx_sizes * s, struct ke_error * err)
{
    struct ke_ltx_cond_image ci;
    enum ke_status st = ke_ltx_image_stage(&ci, im->rgb, im->width, im->height, s->width, s->height, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    st = ke_ltx_image_compress(ci.u8, ci.even_w, ci.even_h, 29, err);
    if (st == KE_STATUS_UNSUPPORTED) {
        ke_log(1, "ltx: %s; the conditioning image goes in uncompressed (the official pipeline compresses it "
               "with x264 at CRF 29)", err ? err->msg : "no GStreamer");
        if (err) {
            err->code = KE_STATUS_OK;
            err->msg[0] = 0;
        }
        st = KE_STATUS_OK;
    }
    const int64_t n = (int64_t) ci.even_w * ci.even_h * 3;
    float * f = malloc(sizeof(float) * (size_t) n);
    *out = malloc(sizeof(float) * (size_t) (3 * (ci.even_w + s->pad_w) * (ci.even_h + s->pad_h)));
    if (st == KE_STATUS_OK && (!f || !*out)) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory for the conditioning image");
    }
    if (st == KE_STATUS_OK) {
        for (int64_t i = 0; i < n; i++) {
            f[i] = (float) ci.u8[i] / 255.0f;
        }
        ke_ltx_image_media(*out, f, ci.even_w, ci.even_h, s, mw, mh);
    }
    free(f);
    ke_ltx_cond_image_free(&ci);
    return st;
}

// (video * 255).astype(uint8) of planar [3, F, n_px] frames in [0, 1] into frame-major RGB, frames in parallel
struct to_rgb8 {
    const float * video;
    uint8_t * rgb;
    int n_frames;
    int64_t n_px;
};

static void frames_to_rgb8(void * ctx, int64_t b, int64_t e, int tid)
{
    const struct to_rgb8 * t = ctx;
    for (int64_t f = b; f < e; f++) {
        for (int64_t i = 0; i < t->n_px; i++) {
            for (int c = 0; c < 3; c++) {
                const float x = t->video[((int64_t) c * t->n_frames + f) * t->n_px + i];
                t->rgb[(f * t->n_px + i) * 3 + c] = (uint8_t) (x * 255.0f);
            }
        }
    }
}

enum ke_status ke_ltx_generate(struct ke_model * m, const struct ke_gen_params * p, struct ke_video ** out,
                               struct ke_error * err)
{
    struct ke_ltx_model * l = m->ltx;
    const double t_start = ke_now();
    float * hidden = NULL, * image = NULL, * video = NULL;
    struct ke_ltx_dit_context * ctx = NULL;
    struct ke_video * v = NULL;
    int n_rows = 0;
    if (!l->te) {
        return ke_err(err, KE_STATUS_INVALID, "LTX-Video: the in-memory text encoder was freed after the last "
                      "prompt (give a new one: ke_ltx_model_set_text_encoder)");
    }
    if (p->n_threads > 0) {
        ke_set_threads(p->n_threads);
    }
    struct ke_backend * be = ke_backend_by_name(p->backend ? p->backend : "cpu", err);
    if (!be) {
        return err ? err->code : KE_STATUS_UNSUPPORTED;
    }
    if (ke_precision_fast(p->precision) && be == ke_backend_cpu()) {
        be = ke_backend_cpu_fast();
    }
    // T5, the VAE and the upsampler run bf16 on a device (no effect on the CPU); the transformer takes the
    // asked precision in build()
    ke_be_set_precision(be, KE_PRECISION_BF16);
    if (p->guide != 1.0f || p->n_loras > 0 || p->cache != KE_CACHE_OFF || p->decoder != KE_DECODER_VAE) {
        ke_log(1, "ltx: the distilled config fixes guidance 1 and its timesteps; guidance, LoRAs, step caching and "
               "the draft decoder are not used");
    }
    struct ke_ltx_job j;
    memset(&j, 0, sizeof(j));
    enum ke_status st = ke_ltx_sizes(&j.sz, p->width, p->height, p->n_frames, l->cfg.downscale_factor, 32, 8, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    if (p->progress) {
        struct ke_progress pr = { KE_STAGE_TEXT, 0, 1, ke_now() - t_start, -1.0, 0 };
        p->progress(&pr, p->user_data);
    }
    if ((st = encode_prompt(l, p, be, &hidden, &n_rows, err)) != KE_STATUS_OK) {
        ke_err_prefix(err, "text encoder: ");
        goto done;
    }
    ke_tset_release_pages(ke_text_encoder_weights(l->te));
    if (p->progress) {
        struct ke_progress pr = { KE_STAGE_TEXT, 1, 1, ke_now() - t_start, -1.0, 0 };
        p->progress(&pr, p->user_data);
    }
    if (p->abort && p->abort(p->user_data) == 1) {
        st = ke_err(err, KE_STATUS_ABORTED, "generation cancelled");
        goto done;
    }
    if ((st = build(l, be, p, &j.sz, n_rows, err)) != KE_STATUS_OK ||
        (st = ke_ltx_dit_context_new(l->dit, hidden, NULL, n_rows, &ctx, err)) != KE_STATUS_OK) {
        goto done;
    }
    if (p->precision == KE_PRECISION_FP8 && l->dit_prec != KE_PRECISION_FP8) {
        ke_log(2, "ltx: fp8 not available on the %s backend: the transformer runs %s", be->ops->name,
               ke_precision_name(l->dit_prec));
    } else {
        ke_log(2, "ltx: precision %s (the transformer on the %s backend)", ke_precision_name(l->dit_prec),
               be->ops->name);
    }
    if (p->image && (st = prepare_image(&image, &j.image_w, &j.image_h, p->image, &j.sz, err)) != KE_STATUS_OK) {
        goto done;
    }
    const int64_t seed = p->seed >= 0 ? p->seed : ke_random_seed();
    // infer(): a torch.Generator seeded with the seed, and torch's global generator seeded with it too
    struct ke_rng rng, rng_global;
    ke_rng_seed(&rng, (uint64_t) seed);
    ke_rng_seed(&rng_global, (uint64_t) seed);
    j.dit = l->dit;
    j.ctx = ctx;
    j.vae = l->vae;
    j.ups = l->ups;
    j.cfg = &l->cfg;
    j.frame_rate = p->fps;
    j.image = image;
    j.rng = &rng;
    j.rng_global = &rng_global;
    j.dit_weights = l->ckpt->part[KE_LTX_PART_TRANSFORMER];
    j.dit_owner = &l->dit;
    j.ctx_owner = &ctx;
    j.image_cond_noise_scale = 0.15f;
    j.progress = p->progress;
    j.abort = p->abort;
    j.preview = p->preview;
    j.user_data = p->user_data;
    j.t_start = t_start;
    const int64_t n_px = (int64_t) j.sz.width * j.sz.height;
    video = malloc(sizeof(float) * (size_t) (3 * j.sz.n_frames * n_px));
    v = calloc(1, sizeof(*v));
    if (!video || !v || !(v->rgb = malloc((size_t) (3 * j.sz.n_frames * n_px)))) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory for a %dx%dx%d video", j.sz.width, j.sz.height,
                    j.sz.n_frames);
        goto done;
    }
    if ((st = ke_ltx_run(&j, video, err)) != KE_STATUS_OK) {
        goto done;
    }
    // (video * 255).astype(uint8) of the [0, 1] frames, frame-major RGB
    v->width = j.sz.width;
    v->height = j.sz.height;
    v->n_frames = j.sz.n_frames;
    v->fps = p->fps;
    struct to_rgb8 conv = { video, v->rgb, v->n_frames, n_px };
    ke_parallel_for(v->n_frames, 1, frames_to_rgb8, &conv);
    struct ke_gen_params made = *p;
    made.seed = seed;
    made.steps = j.steps_done;
    made.guide = made.guide_high = 1.0f;
    made.precision_used = l->dit_prec;
    if ((st = ke_video_set_made_with(v, &made, err)) != KE_STATUS_OK) {
        goto done;
    }
    if (p->progress) {
        struct ke_progress pr = { KE_STAGE_DONE, j.steps_done, j.steps_done, ke_now() - t_start, 0.0, 0 };
        p->progress(&pr, p->user_data);
    }
    *out = v;
    v = NULL;
done:
    ke_be_set_precision(be, KE_PRECISION_BF16);   // after a failure in sampling too
    ke_video_free(v);
    ke_ltx_dit_context_free(ctx);
    ke_text_hidden_free(hidden);
    free(image);
    free(video);
    return st;
}
