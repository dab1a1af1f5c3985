// Kinora engine: ke_generate: text encoding, image conditioning, noise from the seed, the sampling loop
// (sample.c), saving the latent, VAE decode to RGB8 (official text2video.py / image2video.py /
// textimage2video.py generate(), commit 42bf4cf).
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/error.h"
#include "models/common/lora.h"
#include "core/pages.h"
#include "models/dit/wan.h"
#include "models/te/umt5.h"
#include "models/vae/taehv.h"
#include "models/vae/wan-vae.h"
#include "pipeline/draft-impl.h"
#include "pipeline/io-impl.h"
#include "pipeline/ltx-impl.h"
#include "pipeline/model-impl.h"
#include "pipeline/recipe-impl.h"
#include "sampling/sampling.h"

struct gen {
    ke_model_t * m;
    const struct ke_gen_params * p;
    struct ke_backend * be;
    float * txt[2];             // [0] prompt, [1] negative prompt: T5 output rows (n_tok[i], dim)
    int n_tok[2];
    struct ke_expert ex[2];
    struct ke_recipe recipe;
    double t_start;
    struct ke_video * video;
    int aborted;
    int bad_frame;              // 1 + the first decoded frame holding NaN/Inf (0: none)
    int T, lh, lw;              // latent frames and size (the DiT plans its device memory for them)
    struct ke_lora_file * lora_files[KE_MAX_LORAS];   // p->loras, opened (NULL: strength 0 everywhere)
    struct ke_draft draft;      // TAEHV draft decode / previews (draft.c)
    int cache_skipped;          // DiT forwards the step cache answered
    enum ke_precision dit_prec; // the DiT's precision in effect on be (ke_be_set_precision before sampling)
    bool dit_streams;           // the DiT in use streams weights (no room to prepare the next one beside it)
    // the next expert prepared on a second thread while this one samples (prefetch_start)
    struct prefetch {
        pthread_t th;
        bool started;
        struct gen * g;
        int slot;
        struct ke_dit * dit;    // made by the thread; adopted by get_expert, or freed at the end
        char * key;             // its LoRA key (lora_key)
        struct ke_lora_use uses[KE_MAX_LORAS];   // its LoRAs (the files stay open with the job)
        int n_uses;
        int64_t ffn_chunk;
        enum ke_status st;
        struct ke_error err;
        double secs;
    } pf;
};

// --- device memory budget --------------------------------------------------------------------------

// The job's device budget in bytes as asked (0: the backend's default).
static size_t budget_bytes(const struct gen * g)
{
    return g->p->vram_gib > 0 ? (size_t) ((double) g->p->vram_gib * 1073741824.0) : 0;
}

// The job's device budget in bytes (0: the backend's default), applied to the backend.
static size_t apply_budget(struct gen * g, size_t weight_cap)
{
    ke_be_set_memory(g->be, budget_bytes(g), weight_cap);
    size_t budget = 0, in_use = 0, peak = 0;
    if (g->be->ops->memory) {
        g->be->ops->memory(g->be, &budget, &in_use, &peak);
    }
    return budget;
}

// Before a DiT is made on a backend with a budget: how many of its weights stay resident, and the FFN
// chunk. Fails (naming the budget) when not even streaming every block leaves room for the activations.
static enum ke_status plan_dit(struct gen * g, const struct ke_tensor_set * w, struct ke_dit_mem_plan * plan,
                               struct ke_error * err)
{
    memset(plan, 0, sizeof(*plan));
    if (!g->be->ops->set_memory) {
        return KE_STATUS_OK;
    }
    const size_t budget = apply_budget(g, SIZE_MAX);
    size_t b0 = 0, in_use = 0, peak = 0;
    g->be->ops->memory(g->be, &b0, &in_use, &peak);
    const size_t avail = budget > in_use ? budget - in_use : 0;
    enum ke_status st = ke_dit_plan_memory(w, g->T, g->lh, g->lw, g->be->ops->xbuf_elem, avail, plan, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    // The plan rounds every activation buffer up by a quarter (the allocator's size classes): the true need
    // lies between act / 1.25 and act. Refuse only when even the lower figure cannot fit; between the two,
    // stream every block and let the allocator (which enforces the budget and fails cleanly) decide.
    if (!plan->fits && plan->activations * 4 / 5 + 2 * plan->block < avail) {
        ke_log(1, "generate: the DiT's activations (%.2f GiB planned, %.2f GiB without the size-class margin) leave "
               "little of the %.2f GiB budget: every block streams", (double) plan->activations / 1073741824.0,
               (double) (plan->activations * 4 / 5) / 1073741824.0, (double) budget / 1073741824.0);
        plan->fits = true;
        plan->streams = true;
        plan->weight_cap = 0;
    }
    if (!plan->fits) {
        return ke_err(err, KE_STATUS_NOMEM, "the DiT needs %.2f GiB of device memory for its activations at this "
                      "size and %.2f GiB to stream its blocks; the device budget is %.2f GiB (%.2f GiB in use): "
                      "use a smaller size or fewer frames, or a larger --vram",
                      (double) plan->activations / 1073741824.0, (double) (2 * plan->block) / 1073741824.0,
                      (double) budget / 1073741824.0, (double) in_use / 1073741824.0);
    }
    if (plan->streams) {
        ke_log(1, "generate: the DiT weights (%.2f GiB) do not fit the device budget of %.2f GiB: %.2f GiB stay "
               "resident, the rest streams from host memory block by block", (double) plan->weights / 1073741824.0,
               (double) budget / 1073741824.0, (double) plan->weight_cap / 1073741824.0);
    }
    apply_budget(g, plan->streams ? plan->weight_cap : SIZE_MAX);
    g->dit_streams = plan->streams;
    return KE_STATUS_OK;
}

static void progress(struct gen * g, enum ke_stage stage, int step, int n_steps)
{
    if (g->p->progress) {
        struct ke_progress pr = { stage, step, n_steps, ke_now() - g->t_start, -1.0, g->cache_skipped };
        g->p->progress(&pr, g->p->user_data);
    }
}

static int poll_abort(struct gen * g)
{
    return g->p->abort ? g->p->abort(g->p->user_data) : 0;
}

// The backend the prompts are encoded on: the job's unless the CPU is asked for (NULL: the encoder's own).
static struct ke_backend * text_backend(const struct gen * g)
{
    return g->p->text_device == KE_TEXT_DEVICE_CPU ? NULL : g->be;
}

// The prompt's token ids (at most text_len): ids64 and ids32 both hold them.
static enum ke_status tokenize(const ke_model_t * m, const char * text, int64_t * ids64, int32_t * ids32, int max_ids,
                               int * n, struct ke_error * err)
{
    *n = 0;
    if (m->tok) {
        const enum ke_status st = ke_tokenizer_encode(m->tok, text, ids32, max_ids, n, KE_TOKENIZE_PROMPT, err);
        if (st != KE_STATUS_OK) {
            return st;
        }
        for (int i = 0; i < *n; i++) {
            ids64[i] = ids32[i];
        }
    } else {
        *n = ke_tiny_tokenize(text, ids64, max_ids);
        for (int i = 0; i < *n; i++) {
            ids32[i] = (int32_t) ids64[i];
        }
    }
    if (*n < 1) {
        return ke_err(err, KE_STATUS_INVALID, "prompt encodes to no tokens");
    }
    return KE_STATUS_OK;
}

// The prompt ([0]) and the negative prompt ([1]) into g->txt, encoded together: on a device whose T5
// layers are made ahead, the negative prompt's layers run beside the weights' upload too (umt5.c).
static enum ke_status encode_texts(struct gen * g, const char * const texts[2], struct ke_error * err)
{
    ke_model_t * m = g->m;
    const int max_ids = m->cfg.text_len > 0 ? m->cfg.text_len : 512;
    int64_t * ids64[2] = { malloc(sizeof(int64_t) * (size_t) max_ids), malloc(sizeof(int64_t) * (size_t) max_ids) };
    int32_t * ids32[2] = { malloc(sizeof(int32_t) * (size_t) max_ids), malloc(sizeof(int32_t) * (size_t) max_ids) };
    enum ke_status st = KE_STATUS_OK;
    int n[2] = { 0, 0 };
    const int64_t dim = m->te ? ke_text_encoder_dim(m->te) : m->t5->cfg.dim;
    for (int i = 0; i < 2 && st == KE_STATUS_OK; i++) {
        if (!ids64[i] || !ids32[i]) {
            st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
        } else if ((st = tokenize(m, texts[i], ids64[i], ids32[i], max_ids, &n[i], err)) == KE_STATUS_OK) {
            g->txt[i] = malloc(sizeof(float) * (size_t) (n[i] * dim));
            g->n_tok[i] = n[i];
            if (!g->txt[i]) {
                st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
            }
        }
    }
    // only the real tokens: the reference's padded run gives the same rows (masked keys get exp() = 0)
    if (st == KE_STATUS_OK && m->te) {
        // through the encoder's memory cache: the negative prompt is encoded once per model
        float * hidden[2] = { NULL, NULL };
        st = ke_text_encode_many_on(m->te, text_backend(g), budget_bytes(g), 2, (const int32_t * const *) ids32, n,
                                    g->p->text_cache_dir, hidden, err);
        for (int i = 0; i < 2 && st == KE_STATUS_OK; i++) {
            memcpy(g->txt[i], hidden[i], sizeof(float) * (size_t) (n[i] * dim));
        }
        ke_text_hidden_free(hidden[0]);
        ke_text_hidden_free(hidden[1]);
    } else if (st == KE_STATUS_OK) {
        const int64_t L[2] = { n[0], n[1] };
        st = ke_umt5_encode_many(m->t5, 2, g->txt, (const int64_t * const *) ids64, L, err);
    }
    for (int i = 0; i < 2; i++) {
        free(ids64[i]);
        free(ids32[i]);
    }
    return st;
}

// What the LoRAs of one expert are: path and strength of each with a non-zero strength there ("" for none).
static char * lora_key(const struct ke_gen_params * p, bool high)
{
    size_t n = 1;
    for (int i = 0; i < p->n_loras; i++) {
        n += strlen(p->loras[i].path) + 32;
    }
    char * k = malloc(n);
    if (!k) {
        return NULL;
    }
    size_t o = 0;
    k[0] = '\0';
    for (int i = 0; i < p->n_loras; i++) {
        const float s = high ? p->loras[i].strength_high : p->loras[i].strength;
        if (s != 0.0f) {
            o += (size_t) snprintf(k + o, n - o, "%s\n%.9g\n", p->loras[i].path, (double) s);
        }
    }
    return k;
}

static void release_expert(struct gen * g, int slot)
{
    ke_dit_context_free(g->ex[slot].cond);
    ke_dit_context_free(g->ex[slot].uncond);
    g->ex[slot].cond = g->ex[slot].uncond = NULL;
    g->ex[slot].dit = NULL;
}

// --- the next expert, prepared while this one samples ---------------------------------------------
// An A14B job switches experts once, from the high-noise one to the low-noise one. Preparing the second
// (uploading its weights, quantizing them to e4m3 under fp8) takes seconds; where the device budget holds
// both experts beside the activations, a second thread does it while the first expert's forwards run
// (ops.prepare_thread gives that thread its own stream), and the switch frees nothing: both stay.

static void * prefetch_run(void * arg)
{
    struct prefetch * pf = arg;
    struct gen * g = pf->g;
    const double t0 = ke_now();
    if (g->be->ops->prepare_thread(g->be, 1) != 0) {
        pf->st = ke_err(&pf->err, KE_STATUS_UNSUPPORTED, "the backend offers no preparing thread now");
        return NULL;
    }
    pf->st = ke_dit_init_lora(&pf->dit, g->m->dit_w[pf->slot], NULL, g->be, pf->n_uses > 0 ? pf->uses : NULL,
                              pf->n_uses, false, &pf->err);
    if (pf->st == KE_STATUS_OK) {
        ke_dit_set_ffn_chunk(pf->dit, pf->ffn_chunk);
        ke_tset_release_pages(g->m->dit_w[pf->slot]);   // uploaded: the device reads its own copy
    }
    g->be->ops->prepare_thread(g->be, 0);
    pf->secs = ke_now() - t0;
    return NULL;
}

// Whether both experts may be on the device at once: a device backend that can prepare on a second
// thread, weights not streamed, and KINORA_NO_EXPERT_PREFETCH unset (one expert at a time, as before).
static bool two_experts_allowed(const struct gen * g)
{
    return g->be->ops->prepare_thread && g->be->ops->memory && !g->dit_streams &&
           !getenv("KINORA_NO_EXPERT_PREFETCH");
}

// Whether the free part of the budget holds a forward of expert `slot` at this job's size (its
// activations), a 1 GiB margin and, with_weights, its weights at their stored size (never less than the
// device form) with its LoRA files' bytes (ke_lora_specs_bytes, as the pre-flight estimate counts them).
// *plan: the expert's memory plan at this size; *need and *avail: the bytes asked and free (need 0: no
// plan).
static bool room_beside(struct gen * g, int slot, bool with_weights, struct ke_dit_mem_plan * plan, size_t * need,
                        size_t * avail)
{
    size_t budget = 0, in_use = 0, peak = 0;
    g->be->ops->memory(g->be, &budget, &in_use, &peak);
    *need = *avail = 0;
    if (ke_dit_plan_memory(g->m->dit_w[slot], g->T, g->lh, g->lw, g->be->ops->xbuf_elem, SIZE_MAX, plan, NULL) !=
        KE_STATUS_OK) {
        return false;
    }
    const size_t lora = with_weights ? ke_lora_specs_bytes(g->p->loras, g->p->n_loras, slot == 1) : 0;
    *need = (with_weights ? plan->weights + lora : 0) + plan->activations + ((size_t) 1 << 30);
    *avail = budget > in_use ? budget - in_use : 0;
    return *avail >= *need;
}

// Start preparing expert `slot` beside the sampling when nothing stands in the way: two experts allowed,
// and room for its weights and LoRAs beside a forward (room_beside). Its LoRA terms are made on the host
// and uploaded through linear_prepare like the weights, on the thread's own stream.
static void prefetch_start(struct gen * g, int slot)
{
    ke_model_t * m = g->m;
    struct prefetch * pf = &g->pf;
    if (pf->started || m->dit[slot] || !two_experts_allowed(g)) {
        return;
    }
    struct ke_dit_mem_plan plan;
    size_t need = 0, avail = 0;
    if (!room_beside(g, slot, true, &plan, &need, &avail)) {
        if (need == 0) {
            return;
        }
        ke_log(2, "generate: expert slot %d is prepared at the switch: %.2f GiB free in the budget, %.2f GiB needed "
                  "to prepare it beside the sampling", slot, (double) avail / 1073741824.0,
               (double) need / 1073741824.0);
        return;
    }
    char * key = lora_key(g->p, slot == 1);
    if (!key) {
        return;
    }
    // the thread frees nothing on the device (a free waits for the queued compute): the cached blocks of
    // what ran before (the text encoder, an earlier job) go back now, while little is queued
    if (g->be->ops->trim) {
        g->be->ops->trim(g->be);
    }
    *pf = (struct prefetch) { .g = g, .slot = slot, .key = key, .ffn_chunk = plan.ffn_chunk };
    pf->n_uses = ke_lora_uses_for(pf->uses, g->lora_files, g->p->loras, g->p->n_loras, slot == 1);
    if (pthread_create(&pf->th, NULL, prefetch_run, pf) != 0) {
        free(key);
        pf->key = NULL;
        return;
    }
    pf->started = true;
    ke_log(2, "generate: preparing expert slot %d beside the sampling (%d LoRA%s)", slot, pf->n_uses,
           pf->n_uses == 1 ? "" : "s");
}

// Both experts stay (the policy that comes with preparing ahead) when the DiT of `slot` is built already
// and the budget has room for this job's activations beside the two: a later job then sets up neither.
static bool both_fit(struct gen * g, int slot)
{
    struct ke_dit_mem_plan plan;
    size_t need = 0, avail = 0;
    return g->m->dit[slot] && two_experts_allowed(g) && room_beside(g, slot, false, &plan, &need, &avail);
}

// Wait for the preparing thread. adopt: hand its DiT to the model (true when it did); else free it.
static bool prefetch_join(struct gen * g, bool adopt)
{
    struct prefetch * pf = &g->pf;
    if (!pf->started) {
        return false;
    }
    pthread_join(pf->th, NULL);
    pf->started = false;
    ke_model_t * m = g->m;
    bool used = false;
    if (pf->st != KE_STATUS_OK) {
        ke_log(1, "generate: preparing expert slot %d beside the sampling failed (%s): it is prepared now", pf->slot,
               pf->err.msg);
    } else if (adopt && !m->dit[pf->slot]) {
        m->dit[pf->slot] = pf->dit;
        m->dit_be[pf->slot] = g->be;
        m->dit_form[pf->slot] = ke_be_linear_precision(g->be);
        free(m->dit_lora_key[pf->slot]);
        m->dit_lora_key[pf->slot] = pf->key;
        pf->key = NULL;
        pf->dit = NULL;
        used = true;
        ke_log(2, "generate: expert slot %d was prepared beside the sampling in %.2f s", pf->slot, pf->secs);
    }
    ke_dit_free(pf->dit);
    pf->dit = NULL;
    free(pf->key);
    pf->key = NULL;
    return used;
}

// Build (or reuse) the DiT of a slot and this job's text contexts. With two experts, switching frees the
// other one's DiT unless both fit (the next one prepared ahead, or both_fit).
static enum ke_status get_expert(void * user, int which, struct ke_expert ** out, struct ke_error * err)
{
    struct gen * g = user;
    ke_model_t * m = g->m;
    const int slot = ke_recipe_expert_slot(&g->recipe, which);
    enum ke_status st;
    if (!g->ex[slot].dit) {
        // the set-up's parts, logged (level 2): freeing the other expert, preparing this one, its contexts
        const double t0 = ke_now();
        const bool prepared_ahead = prefetch_join(g, true);
        const double t_join = ke_now();
        // the LoRAs of this expert (slot 1: the A14B high-noise one): a DiT built with others is rebuilt
        const bool high = m->n_experts == 2 && slot == 1;
        struct ke_lora_use uses[KE_MAX_LORAS];
        const int n_uses = ke_lora_uses_for(uses, g->lora_files, g->p->loras, g->p->n_loras, high);
        char * key = lora_key(g->p, high);
        if (!key) {
            return ke_err(err, KE_STATUS_NOMEM, "out of memory");
        }
        // a DiT prepared on another backend, with its linears in another form (fp8 GEMMs) or with other LoRAs
        if (m->dit[slot] && (m->dit_be[slot] != g->be || m->dit_form[slot] != ke_be_linear_precision(g->be) ||
                             strcmp(key, m->dit_lora_key[slot] ? m->dit_lora_key[slot] : "") != 0)) {
            ke_dit_free(m->dit[slot]);
            m->dit[slot] = NULL;
        }
        if (m->n_experts == 2) {
            const int other = 1 - slot;
            release_expert(g, other);
            // the other expert stays on the device while both fit (this one prepared ahead, or both kept
            // from an earlier job with room for this job's activations); else it is freed, and its mapped
            // weights leave the resident set: peak RSS holds one expert, not two
            if (m->dit[other] && !prepared_ahead && !both_fit(g, slot)) {
                ke_dit_free(m->dit[other]);
                m->dit[other] = NULL;
                ke_tset_release_pages(m->dit_w[other]);
            }
        }
        const double t1 = ke_now();
        if (!m->dit[slot]) {
            struct ke_dit_mem_plan plan;
            if ((st = plan_dit(g, m->dit_w[slot], &plan, err)) != KE_STATUS_OK ||
                (st = ke_dit_init_lora(&m->dit[slot], m->dit_w[slot], NULL, g->be, uses, n_uses, false, err)) !=
                    KE_STATUS_OK) {
                free(key);
                return st;
            }
            ke_dit_set_ffn_chunk(m->dit[slot], plan.ffn_chunk);
            m->dit_be[slot] = g->be;
            m->dit_form[slot] = ke_be_linear_precision(g->be);
            free(m->dit_lora_key[slot]);
            m->dit_lora_key[slot] = key;
            key = NULL;
            if (g->be != ke_backend_cpu() && g->be != ke_backend_cpu_fast()) {
                // uploaded: a device backend reads its own copy, not the mapped file
                ke_tset_release_pages(m->dit_w[slot]);
            }
        }
        free(key);
        const double t2 = ke_now();
        g->ex[slot].dit = m->dit[slot];
        if ((st = ke_dit_context_new(m->dit[slot], g->txt[0], g->n_tok[0], &g->ex[slot].cond, err)) != KE_STATUS_OK ||
            (st = ke_dit_context_new(m->dit[slot], g->txt[1], g->n_tok[1], &g->ex[slot].uncond, err)) != KE_STATUS_OK) {
            release_expert(g, slot);
            return st;
        }
        const bool kept = m->n_experts == 2 && m->dit[1 - slot];
        ke_log(2, "DiT set-up (expert slot %d): %.2f s = waiting for the expert prepared ahead %.2f s, other expert "
                  "%s %.2f s, DiT prepared %.2f s, text contexts %.2f s", slot, ke_now() - t0, t_join - t0,
               kept ? "kept" : "freed", t1 - t_join, t2 - t1, ke_now() - t2);
        // the high-noise expert (slot 1) samples first: the low-noise one can be prepared meanwhile
        if (m->n_experts == 2 && slot == 1) {
            prefetch_start(g, 0);
        }
    }
    *out = &g->ex[slot];
    return KE_STATUS_OK;
}

static bool frame_cb(const float * rgb, int index, int n_frames, int width, int height, void * user)
{
    struct gen * g = user;
    struct ke_video * v = g->video;
    if (index < v->n_frames && width == v->width && height == v->height) {
        const size_t plane = (size_t) width * height;
        for (size_t i = 0; i < plane * 3; i++) {
            if (!isfinite(rgb[i])) {
                g->bad_frame = index + 1;   // never cast NaN to uint8 (undefined) and export it
                return false;
            }
        }
        uint8_t * dst = v->rgb + (size_t) index * plane * 3;
        for (size_t i = 0; i < plane; i++) {
            for (int c = 0; c < 3; c++) {
                float x = rgb[(size_t) c * plane + i];
                x = x < -1.0f ? -1.0f : (x > 1.0f ? 1.0f : x);
                // (x + 1) / 2 * 255 truncated to uint8, as the reference's save_video
                dst[i * 3 + c] = (uint8_t) ((x + 1.0f) / 2.0f * 255.0f);
            }
        }
    }
    progress(g, KE_STAGE_DECODE, index + 1, n_frames);
    if (poll_abort(g) == 1) {
        g->aborted = 1;
        return false;
    }
    return true;
}

// Copy the settings that made a video into it (strings duplicated; pointers to the caller's data cleared).
enum ke_status ke_video_set_made_with(struct ke_video * v, const struct ke_gen_params * p, struct ke_error * err)
{
    struct ke_gen_params * m = calloc(1, sizeof(*m));
    char * prompt = strdup(p->prompt ? p->prompt : "");
    char * negative = p->negative_prompt ? strdup(p->negative_prompt) : NULL;
    if (!m || !prompt || (p->negative_prompt && !negative)) {
        free(m);
        free(prompt);
        free(negative);
        return ke_err(err, KE_STATUS_NOMEM, "out of memory for the video's settings");
    }
    *m = *p;
    m->prompt = prompt;
    m->negative_prompt = negative;
    // the LoRAs: one block holding the specs and their paths
    m->loras = NULL;
    m->n_loras = 0;
    if (p->n_loras > 0) {
        size_t n = (size_t) p->n_loras * sizeof(struct ke_lora_spec);
        for (int i = 0; i < p->n_loras; i++) {
            n += strlen(p->loras[i].path) + 1;
        }
        struct ke_lora_spec * l = malloc(n);
        if (!l) {
            free(m);
            free(prompt);
            free(negative);
            return ke_err(err, KE_STATUS_NOMEM, "out of memory for the video's settings");
        }
        char * s = (char *) (l + p->n_loras);
        for (int i = 0; i < p->n_loras; i++) {
            l[i] = p->loras[i];
            l[i].path = strcpy(s, p->loras[i].path);
            s += strlen(s) + 1;
        }
        m->loras = l;
        m->n_loras = p->n_loras;
    }
    m->taehv_path = p->taehv_path && *p->taehv_path ? strdup(p->taehv_path) : NULL;
    if (p->taehv_path && *p->taehv_path && !m->taehv_path) {
        free((void *) m->loras);
        free(m);
        free(prompt);
        free(negative);
        return ke_err(err, KE_STATUS_NOMEM, "out of memory for the video's settings");
    }
    m->image = NULL;
    m->backend = NULL;
    m->save_latent_path = NULL;
    m->progress = NULL;
    m->preview = NULL;
    m->abort = NULL;
    m->user_data = NULL;
    v->made_with = m;
    return KE_STATUS_OK;
}

static enum ke_status save_latent(const struct gen * g, const float * x, const int64_t * shape, int64_t seed,
                                  int steps_done, struct ke_error * err)
{
    struct ke_io * io = ke_io_new(g->p->save_latent_path);
    if (!io) {
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    float * d = ke_io_add(io, "latent", KE_DTYPE_F32, 4, shape, err);
    enum ke_status st = KE_STATUS_NOMEM;
    if (d) {
        char v[64];
        memcpy(d, x, sizeof(float) * (size_t) (shape[0] * shape[1] * shape[2] * shape[3]));
        int bad = 0;   // a failed allocation must not drop an entry silently
        bad |= ke_io_set_meta(io, "task", ke_task_info(g->m->task)->name) != KE_STATUS_OK;
        bad |= ke_io_set_meta(io, "model", g->m->name) != KE_STATUS_OK;
        bad |= ke_io_set_meta(io, "prompt", g->p->prompt ? g->p->prompt : "") != KE_STATUS_OK;
        snprintf(v, sizeof(v), "%lld", (long long) seed);
        bad |= ke_io_set_meta(io, "seed", v) != KE_STATUS_OK;
        snprintf(v, sizeof(v), "%g", g->p->fps);
        bad |= ke_io_set_meta(io, "fps", v) != KE_STATUS_OK;
        // the rest of the settings, so that a decode of this latent can say what made it
        if (g->p->negative_prompt) {
            bad |= ke_io_set_meta(io, "negative_prompt", g->p->negative_prompt) != KE_STATUS_OK;
        }
        snprintf(v, sizeof(v), "%d", steps_done);
        bad |= ke_io_set_meta(io, "steps", v) != KE_STATUS_OK;
        snprintf(v, sizeof(v), "%.9g", (double) g->p->guide);
        bad |= ke_io_set_meta(io, "guide", v) != KE_STATUS_OK;
        snprintf(v, sizeof(v), "%.9g", (double) g->p->guide_high);
        bad |= ke_io_set_meta(io, "guide_high", v) != KE_STATUS_OK;
        snprintf(v, sizeof(v), "%.9g", (double) g->p->shift);
        bad |= ke_io_set_meta(io, "shift", v) != KE_STATUS_OK;
        bad |= ke_io_set_meta(io, "solver", ke_solver_name(g->p->solver)) != KE_STATUS_OK;
        // step caching
        if (g->p->cache != KE_CACHE_OFF) {
            bad |= ke_io_set_meta(io, "cache", ke_cache_mode_name(g->p->cache)) != KE_STATUS_OK;
            snprintf(v, sizeof(v), "%.9g", (double) (g->p->cache_threshold < 0
                                                         ? ke_cache_default_threshold(g->p->cache, g->m->task)
                                                         : g->p->cache_threshold));
            bad |= ke_io_set_meta(io, "cache_threshold", v) != KE_STATUS_OK;
            snprintf(v, sizeof(v), "%d", g->cache_skipped);
            bad |= ke_io_set_meta(io, "cache_skipped", v) != KE_STATUS_OK;
        }
        snprintf(v, sizeof(v), "%d", g->p->width);
        bad |= ke_io_set_meta(io, "width", v) != KE_STATUS_OK;
        snprintf(v, sizeof(v), "%d", g->p->height);
        bad |= ke_io_set_meta(io, "height", v) != KE_STATUS_OK;
        // the LoRAs: lora.N (file), lora.N.strength, lora.N.strength_high, N from 1 (the export's names)
        for (int i = 0; i < g->p->n_loras; i++) {
            char key[48];
            snprintf(key, sizeof(key), "lora.%d", i + 1);
            bad |= ke_io_set_meta(io, key, g->p->loras[i].path) != KE_STATUS_OK;
            snprintf(key, sizeof(key), "lora.%d.strength", i + 1);
            snprintf(v, sizeof(v), "%.9g", (double) g->p->loras[i].strength);
            bad |= ke_io_set_meta(io, key, v) != KE_STATUS_OK;
            snprintf(key, sizeof(key), "lora.%d.strength_high", i + 1);
            snprintf(v, sizeof(v), "%.9g", (double) g->p->loras[i].strength_high);
            bad |= ke_io_set_meta(io, key, v) != KE_STATUS_OK;
        }
        st = bad ? ke_err(err, KE_STATUS_NOMEM, "%s: out of memory for the latent's metadata", g->p->save_latent_path)
                 : ke_io_write(io, g->p->save_latent_path, err);
    }
    ke_io_free(io);
    return st;
}

// The VAE instance for this run: the model's exact CPU one, or one over the same weights on the
// backend the DiT runs on (a GPU run decodes on the GPU; the CPU's bf16 path gets bf16 convolutions
// and caches, which is what keeps a 720p decode within 6 GiB), made once and kept with the model.
static struct ke_vae * run_vae(struct gen * g, struct ke_error * err)
{
    ke_model_t * m = g->m;
    if (!g->be || g->be == ke_backend_cpu()) {
        return m->vae;
    }
    if (m->vae_dev && m->vae_dev->be == g->be) {
        return m->vae_dev;
    }
    ke_wan_vae_free(m->vae_dev);
    m->vae_dev = NULL;
    if (ke_wan_vae_init(&m->vae_dev, m->vae->ws, false, g->be, err) != KE_STATUS_OK) {
        ke_err_prefix(err, "VAE on the %s backend: ", g->be->ops->name);
        return NULL;
    }
    return m->vae_dev;
}

static enum ke_status decode(struct gen * g, const float * x, int z, int T, int lh, int lw, double fps,
                             struct ke_video ** out, struct ke_error * err)
{
    ke_model_t * m = g->m;
    if (g->be && g->be != ke_backend_cpu() && g->be->ops->memory) {
        // under a device budget the DiTs make room for the VAE when little is left (they are made
        // again, from host memory, for the next job)
        size_t budget = apply_budget(g, SIZE_MAX), in_use = 0, peak = 0, b0 = 0;
        g->be->ops->memory(g->be, &b0, &in_use, &peak);
        if (budget && (budget < in_use || budget - in_use < ((size_t) 6 << 30))) {
            for (int i = 0; i < 2; i++) {
                if (m->dit[i] && m->dit_be[i] == g->be) {
                    ke_dit_free(m->dit[i]);
                    m->dit[i] = NULL;
                }
            }
        }
    }
    struct ke_vae * vae = run_vae(g, err);
    if (!vae) {
        return err ? err->code : KE_STATUS_ERROR;
    }
    if (z != m->vae->z_dim) {
        return ke_err(err, KE_STATUS_SHAPE, "latent has %d channels, the model's VAE %d", z, m->vae->z_dim);
    }
    struct ke_video * v = calloc(1, sizeof(*v));
    const int s = m->vae->scale;
    if (!v) {
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    v->width = lw * s;
    v->height = lh * s;
    v->n_frames = 1 + 4 * (T - 1);
    v->fps = fps;
    v->rgb = calloc((size_t) v->n_frames * v->width * v->height, 3);
    if (!v->rgb) {
        ke_err(err, KE_STATUS_NOMEM, "out of memory for a %dx%dx%d video", v->width, v->height, v->n_frames);
        free(v);
        return KE_STATUS_NOMEM;
    }
    g->video = v;
    struct ke_vae_run_opts o = { 0 };
    o.clamp = true;
    if (vae != m->vae && g->be->ops->memory) {
        // the decode tiles to what the device budget has left
        size_t budget = apply_budget(g, SIZE_MAX), in_use = 0, peak = 0, b0 = 0;
        g->be->ops->memory(g->be, &b0, &in_use, &peak);
        if (budget) {
            const double left = budget > in_use ? (double) (budget - in_use) : 0.0;
            vae->mem_budget = 0.5 * left;   // the tile cost model undercounts the CUDA decode (see cuda.md)
            ke_log(2, "generate: VAE decode within %.2f GiB of device memory", vae->mem_budget / 1073741824.0);
        }
    }
    const size_t n_lat = (size_t) z * T * lh * lw;
    for (size_t i = 0; i < n_lat; i++) {
        if (!isfinite(x[i])) {
            ke_video_free(v);
            g->video = NULL;
            return ke_err(err, KE_STATUS_ERROR, "the latent to decode holds a non-finite value (%s at element %zu)",
                          isnan(x[i]) ? "NaN" : "infinity", i);
        }
    }
    progress(g, KE_STAGE_DECODE, 0, v->n_frames);
    enum ke_status st;
    if (g->p->decoder == KE_DECODER_TAEHV && g->draft.taehv) {
        // draft decode: TAEHV gives as many frames at the same size (ke_draft_open checked the scale)
        const double t0 = ke_now();
        st = ke_taehv_decode(g->draft.taehv, NULL, x, T, lh, lw, frame_cb, g, NULL, err);
        ke_log(2, "TAEHV decode: %.2f s", ke_now() - t0);
    } else {
        st = ke_vae_decode_opts(vae, NULL, x, T, lh, lw, frame_cb, g, &o, err);
    }
    if (g->bad_frame) {
        if (err) {
            err->code = KE_STATUS_OK;   // replace the decoder's "stopped" with the reason
        }
        st = ke_err(err, KE_STATUS_ERROR, "the VAE produced non-finite values in frame %d", g->bad_frame);
    }
    if (st != KE_STATUS_OK || g->aborted) {
        ke_video_free(v);
        g->video = NULL;
        if (g->aborted) {
            if (err) {
                err->code = KE_STATUS_OK;
            }
            return ke_err(err, KE_STATUS_ABORTED, "generation cancelled");
        }
        return st;
    }
    *out = v;
    return KE_STATUS_OK;
}

enum ke_status ke_generate(ke_model_t * m, const struct ke_gen_params * p, struct ke_video ** out,
                           struct ke_error * err)
{
    if (out) {
        *out = NULL;
    }
    if (!m || !p || !out) {
        return ke_err(err, KE_STATUS_INVALID, "generate: model, parameters and output are required");
    }
    enum ke_status st = ke_gen_params_validate(p, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    if (p->task != m->task) {
        return ke_err(err, KE_STATUS_INVALID, "the parameters are for %s but the model is %s",
                      ke_task_info(p->task)->name, ke_task_info(m->task)->name);
    }
    if (m->ltx) {
        return ke_ltx_generate(m, p, out, err);
    }
    struct gen g;
    memset(&g, 0, sizeof(g));
    g.m = m;
    g.p = p;
    g.t_start = ke_now();
    g.recipe = (struct ke_recipe) {
        .task = m->task, .patch_h = m->cfg.patch_h, .patch_w = m->cfg.patch_w, .n_experts = m->n_experts,
        .boundary = m->boundary, .n_train = ke_task_info(m->task)->n_train_timesteps, .solver = p->solver,
        .steps = p->steps, .shift = p->shift, .guide = p->guide, .guide_high = p->guide_high,
    };
    const struct ke_task_info * ti = ke_task_info(m->task);
    const int z = m->vae->z_dim, sc = m->vae->scale;
    struct ke_cond cond;
    float * x = NULL;
    memset(&cond, 0, sizeof(cond));
    if (p->n_threads > 0) {
        ke_set_threads(p->n_threads);
    }
    g.be = ke_backend_by_name(p->backend ? p->backend : "cpu", err);
    if (!g.be) {
        return err ? err->code : KE_STATUS_UNSUPPORTED;
    }
    if (ke_precision_fast(p->precision) && g.be == ke_backend_cpu() && !m->tiny) {
        g.be = ke_backend_cpu_fast();
    }
    // the text encoder, the image's VAE encode and the decode run bf16 on a device (no effect on the CPU,
    // whose backends keep their precision); the DiT takes the asked one just before sampling
    ke_be_set_precision(g.be, KE_PRECISION_BF16);
    // the LoRA files first: a missing or malformed one fails before any work
    if ((st = ke_lora_open_specs(g.lora_files, p->loras, p->n_loras, err)) != KE_STATUS_OK) {
        goto done;
    }
    if ((st = ke_draft_open(&g.draft, p, g.be, z, sc, err)) != KE_STATUS_OK) {
        goto done;
    }
    progress(&g, KE_STAGE_TEXT, 0, 2);
    const char * neg = p->negative_prompt && *p->negative_prompt ? p->negative_prompt : ke_default_negative_prompt;
    const double t_te0 = ke_now();
    st = encode_texts(&g, (const char * const[2]) { p->prompt ? p->prompt : "", neg }, err);
    const double t_te1 = ke_now();
    // an encoder made on the device goes before the DiT is made there (sampling gets the whole budget)
    ke_text_encoder_release(m->te);
    const double t_te2 = ke_now();
    if (st != KE_STATUS_OK) {
        ke_err_prefix(err, "text encoder: ");
        goto done;
    }
    progress(&g, KE_STAGE_TEXT, 2, 2);
    // the encoder's mapped weights are not read again in this run (the next one faults them back in
    // from the page cache): they need not sit beside the DiT's
    ke_tset_release_pages(m->te ? ke_text_encoder_weights(m->te) : m->t5_w);
    ke_log(2, "text stage: prompt and negative prompt %.3f s (the encoder made first when on a device), device "
           "encoder freed %.3f s, mapped pages released %.3f s", t_te1 - t_te0, t_te2 - t_te1, ke_now() - t_te2);
    if (poll_abort(&g) == 1) {
        st = ke_err(err, KE_STATUS_ABORTED, "generation cancelled");
        goto done;
    }
    // latent size and image conditioning (recipe.c, shared with the pipeline evaluator)
    const struct ke_image * im = p->image;
    int T, lh, lw;
    ke_recipe_latent_size(m->task, sc, m->cfg.patch_h, m->cfg.patch_w, p->width, p->height,
                          (double) p->width * p->height, p->n_frames, im ? im->width : 0, im ? im->height : 0, &lw,
                          &lh, &T);
    g.T = T;
    g.lh = lh;
    g.lw = lw;
    if (im || m->task == KE_TASK_I2V_A14B) {
        progress(&g, KE_STAGE_IMAGE, 0, 1);
        struct ke_vae * enc = run_vae(&g, err);
        if (!enc) {
            st = err ? err->code : KE_STATUS_ERROR;
            goto done;
        }
        if ((st = ke_recipe_condition(&cond, m->task, enc, im ? im->rgb : NULL, im ? im->width : 0,
                                      im ? im->height : 0, p->n_frames, T, lh, lw, err)) != KE_STATUS_OK) {
            goto done;
        }
        progress(&g, KE_STAGE_IMAGE, 1, 1);
    }
    // noise: one float32 draw of [z, T, lh, lw] in C order from the seed
    const int64_t n = (int64_t) z * T * lh * lw;
    const int64_t seed = p->seed >= 0 ? p->seed : ke_random_seed();
    x = malloc(sizeof(float) * (size_t) n);
    if (!x) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
        goto done;
    }
    struct ke_rng rng;
    ke_rng_seed(&rng, (uint64_t) seed);
    ke_randn(&rng, x, n);
    ke_log(2, "generate: %s, latent [%d, %d, %d, %d], seed %lld", ti->name, z, T, lh, lw, (long long) seed);

    struct ke_sample_args sa;
    ke_recipe_sample_args(&sa, &g.recipe, &cond, x, z, T, lh, lw);
    sa.expert = get_expert;
    sa.expert_user = &g;
    sa.progress = p->progress;
    sa.preview = p->preview;
    sa.abort = p->abort;
    sa.user_data = p->user_data;
    sa.t_start = g.t_start;
    if (p->preview_source == KE_PREVIEW_TAEHV && g.draft.taehv) {
        sa.preview_full = ke_draft_preview;
        sa.preview_full_user = &g.draft;
    }
    sa.cache = p->cache;
    sa.cache_threshold = p->cache_threshold;
    sa.task = m->task;
    // fp8 from here to the end of sampling: the DiTs (both experts of an A14B model) are prepared in the
    // sampling loop (get_expert), their linears taking their form then, and their attention follows the
    // backend's precision at each call. Nothing else runs on the backend meanwhile but TAEHV previews
    // (convolutions only, which the precision does not change).
    g.dit_prec = ke_be_set_precision(g.be, p->precision == KE_PRECISION_FP8 ? KE_PRECISION_FP8 : KE_PRECISION_BF16);
    if (p->precision == KE_PRECISION_FP8 && g.dit_prec != KE_PRECISION_FP8) {
        ke_log(2, "generate: fp8 not available on the %s backend: the DiT runs %s", g.be->ops->name,
               ke_precision_name(g.dit_prec));
    } else {
        ke_log(2, "generate: precision %s (the DiT on the %s backend)", ke_precision_name(g.dit_prec),
               g.be->ops->name);
    }
    st = ke_sample(&sa, err);
    prefetch_join(&g, false);   // an expert prepared ahead but never reached (stopped early) is freed
    // the VAE decode runs bf16 (a VAE made now on the device is prepared bf16)
    ke_be_set_precision(g.be, KE_PRECISION_BF16);
    if (st != KE_STATUS_OK) {
        goto done;
    }
    g.cache_skipped = sa.forwards_skipped;
    release_expert(&g, 0);
    release_expert(&g, 1);
    // the DiT stays built for the next run, but its mapped weights need not be resident while the VAE
    // decodes (the VAE's caches and activations then sit where they were). TAEHV's draft decode needs a few
    // hundred MiB, less than sampling did, so with it the pages stay for the next run to use without
    // faulting 10-30 GB back in.
    if (p->decoder != KE_DECODER_TAEHV) {
        ke_tset_release_pages(m->dit_w[0]);
        ke_tset_release_pages(m->dit_w[1]);
    }
    if (p->save_latent_path && *p->save_latent_path) {
        int64_t shape[4] = { z, T, lh, lw };
        if ((st = save_latent(&g, x, shape, seed, sa.steps_done, err)) != KE_STATUS_OK) {
            goto done;
        }
    }
    st = decode(&g, x, z, T, lh, lw, p->fps, out, err);
    if (st == KE_STATUS_OK) {
        // the seed used and the steps run (stop-and-keep ends early), not only those asked for
        struct ke_gen_params made = *p;
        made.seed = seed;
        made.steps = sa.steps_done;
        made.cache_skipped = sa.forwards_skipped;
        made.precision_used = g.dit_prec;
        if (made.cache != KE_CACHE_OFF && made.cache_threshold < 0) {
            made.cache_threshold = ke_cache_default_threshold(made.cache, m->task);   // the one used
        }
        if ((st = ke_video_set_made_with(*out, &made, err)) != KE_STATUS_OK) {
            ke_video_free(*out);
            *out = NULL;
            goto done;
        }
        progress(&g, KE_STAGE_DONE, p->steps, p->steps);
    }
done:
    prefetch_join(&g, false);
    release_expert(&g, 0);
    release_expert(&g, 1);
    if (g.be) {
        ke_be_set_precision(g.be, KE_PRECISION_BF16);   // after a failure in sampling too
    }
    ke_draft_close(&g.draft);
    free(g.txt[0]);
    free(g.txt[1]);
    free(x);
    ke_cond_free(&cond);
    ke_lora_files_free(g.lora_files, p->n_loras);
    if (st == KE_STATUS_NOMEM && err && !strstr(err->msg, "; try ")) {
        // what to change, as the pre-flight estimate would say
        const size_t l = strlen(err->msg);
        snprintf(err->msg + l, sizeof(err->msg) - l, "; try a smaller size or fewer frames, or a quantized model");
    }
    return st;
}

enum ke_status ke_model_decode_latent(ke_model_t * m, const char * path, double fps, struct ke_video ** out,
                                      struct ke_error * err)
{
    if (out) {
        *out = NULL;
    }
    if (!m || !path || !out) {
        return ke_err(err, KE_STATUS_INVALID, "decode latent: model, path and output are required");
    }
    if (m->ltx) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: decoding a saved latent is not available for LTX-Video", path);
    }
    struct ke_io * io = NULL;
    enum ke_status st = ke_io_read(&io, path, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    const struct ke_io_tensor * t = ke_io_get(io, "latent");
    if (!t || t->n_dims != 4) {
        ke_io_free(io);
        return ke_err(err, KE_STATUS_MISSING, "%s: tensor 'latent' [z, frames, height, width] is missing", path);
    }
    float * x = ke_io_get_f32(io, "latent", -1, err);
    struct gen g;
    memset(&g, 0, sizeof(g));
    struct ke_gen_params p = ke_model_params_default(m);
    g.m = m;
    g.p = &p;
    g.t_start = ke_now();
    const char * f = ke_io_meta(io, "fps");
    p.fps = fps > 0 ? fps : (f && atof(f) > 0 ? atof(f) : p.fps);
    st = x ? decode(&g, x, (int) t->shape[0], (int) t->shape[1], (int) t->shape[2], (int) t->shape[3], p.fps, out,
                    err)
           : KE_STATUS_NOMEM;
    if (st == KE_STATUS_OK) {
        // what made the latent, as saved with it (a value that is absent or unreadable keeps the default)
        const char * v;
        p.prompt = ke_io_meta(io, "prompt") ? ke_io_meta(io, "prompt") : "";
        p.negative_prompt = ke_io_meta(io, "negative_prompt");
        p.n_frames = (*out)->n_frames;
        p.seed = -1;
        if ((v = ke_io_meta(io, "seed"))) {
            int64_t seed;
            p.seed = ke_seed_parse(v, &seed) ? seed : -1;
        }
        if ((v = ke_io_meta(io, "steps")) && atoi(v) >= 0) {
            p.steps = atoi(v);
        }
        if ((v = ke_io_meta(io, "guide"))) {
            p.guide = (float) atof(v);
        }
        if ((v = ke_io_meta(io, "guide_high"))) {
            p.guide_high = (float) atof(v);
        }
        if ((v = ke_io_meta(io, "shift"))) {
            p.shift = (float) atof(v);
        }
        if ((v = ke_io_meta(io, "solver"))) {
            ke_solver_from_name(v, &p.solver);   // an unknown name keeps the default
        }
        // step caching
        if ((v = ke_io_meta(io, "cache"))) {
            ke_cache_mode_from_name(v, &p.cache);
        }
        if ((v = ke_io_meta(io, "cache_threshold")) && atof(v) >= 0) {
            p.cache_threshold = (float) atof(v);
        }
        if ((v = ke_io_meta(io, "cache_skipped")) && atoi(v) >= 0) {
            p.cache_skipped = atoi(v);
        }
        p.width = (v = ke_io_meta(io, "width")) && atoi(v) > 0 ? atoi(v) : (*out)->width;
        p.height = (v = ke_io_meta(io, "height")) && atoi(v) > 0 ? atoi(v) : (*out)->height;
        // the LoRAs, in order while present
        struct ke_lora_spec loras[KE_MAX_LORAS];
        for (p.n_loras = 0; p.n_loras < KE_MAX_LORAS; p.n_loras++) {
            char key[48];
            struct ke_lora_spec * l = &loras[p.n_loras];
            snprintf(key, sizeof(key), "lora.%d", p.n_loras + 1);
            if (!(l->path = ke_io_meta(io, key)) || !l->path[0]) {
                break;
            }
            snprintf(key, sizeof(key), "lora.%d.strength", p.n_loras + 1);
            l->strength = (v = ke_io_meta(io, key)) ? (float) atof(v) : 1.0f;
            snprintf(key, sizeof(key), "lora.%d.strength_high", p.n_loras + 1);
            l->strength_high = (v = ke_io_meta(io, key)) ? (float) atof(v) : l->strength;
        }
        p.loras = loras;
        if ((st = ke_video_set_made_with(*out, &p, err)) != KE_STATUS_OK) {
            ke_video_free(*out);
            *out = NULL;
        }
    }
    free(x);
    ke_io_free(io);
    return st;
}

void ke_video_free(struct ke_video * v)
{
    if (!v) {
        return;
    }
    if (v->made_with) {
        free((char *) v->made_with->prompt);
        free((char *) v->made_with->negative_prompt);
        free((void *) v->made_with->loras);
        free((char *) v->made_with->taehv_path);
        free(v->made_with);
    }
    free(v->rgb);
    free(v);
}
