// Kinora engine: generation parameters: official defaults per task (wan/configs/*.py, generate.py of the
// official Wan2.2 code, commit 42bf4cf) and validation with errors that list what is allowed.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "pipeline/task-impl.h"

// sample_neg_prompt of wan/configs/shared_config.py (byte-exact; the commas are U+FF0C).
const char * const ke_default_negative_prompt =
    "\xe8\x89\xb2\xe8\xb0\x83\xe8\x89\xb3\xe4\xb8\xbd\xef\xbc\x8c\xe8\xbf\x87\xe6\x9b\x9d\xef\xbc"
    "\x8c\xe9\x9d\x99\xe6\x80\x81\xef\xbc\x8c\xe7\xbb\x86\xe8\x8a\x82\xe6\xa8\xa1\xe7\xb3\x8a\xe4"
    "\xb8\x8d\xe6\xb8\x85\xef\xbc\x8c\xe5\xad\x97\xe5\xb9\x95\xef\xbc\x8c\xe9\xa3\x8e\xe6\xa0\xbc"
    "\xef\xbc\x8c\xe4\xbd\x9c\xe5\x93\x81\xef\xbc\x8c\xe7\x94\xbb\xe4\xbd\x9c\xef\xbc\x8c\xe7\x94"
    "\xbb\xe9\x9d\xa2\xef\xbc\x8c\xe9\x9d\x99\xe6\xad\xa2\xef\xbc\x8c\xe6\x95\xb4\xe4\xbd\x93\xe5"
    "\x8f\x91\xe7\x81\xb0\xef\xbc\x8c\xe6\x9c\x80\xe5\xb7\xae\xe8\xb4\xa8\xe9\x87\x8f\xef\xbc\x8c"
    "\xe4\xbd\x8e\xe8\xb4\xa8\xe9\x87\x8f\xef\xbc\x8cJPEG\xe5\x8e\x8b\xe7\xbc\xa9\xe6\xae\x8b\xe7"
    "\x95\x99\xef\xbc\x8c\xe4\xb8\x91\xe9\x99\x8b\xe7\x9a\x84\xef\xbc\x8c\xe6\xae\x8b\xe7\xbc\xba"
    "\xe7\x9a\x84\xef\xbc\x8c\xe5\xa4\x9a\xe4\xbd\x99\xe7\x9a\x84\xe6\x89\x8b\xe6\x8c\x87\xef\xbc"
    "\x8c\xe7\x94\xbb\xe5\xbe\x97\xe4\xb8\x8d\xe5\xa5\xbd\xe7\x9a\x84\xe6\x89\x8b\xe9\x83\xa8\xef"
    "\xbc\x8c\xe7\x94\xbb\xe5\xbe\x97\xe4\xb8\x8d\xe5\xa5\xbd\xe7\x9a\x84\xe8\x84\xb8\xe9\x83\xa8"
    "\xef\xbc\x8c\xe7\x95\xb8\xe5\xbd\xa2\xe7\x9a\x84\xef\xbc\x8c\xe6\xaf\x81\xe5\xae\xb9\xe7\x9a"
    "\x84\xef\xbc\x8c\xe5\xbd\xa2\xe6\x80\x81\xe7\x95\xb8\xe5\xbd\xa2\xe7\x9a\x84\xe8\x82\xa2\xe4"
    "\xbd\x93\xef\xbc\x8c\xe6\x89\x8b\xe6\x8c\x87\xe8\x9e\x8d\xe5\x90\x88\xef\xbc\x8c\xe9\x9d\x99"
    "\xe6\xad\xa2\xe4\xb8\x8d\xe5\x8a\xa8\xe7\x9a\x84\xe7\x94\xbb\xe9\x9d\xa2\xef\xbc\x8c\xe6\x9d"
    "\x82\xe4\xb9\xb1\xe7\x9a\x84\xe8\x83\x8c\xe6\x99\xaf\xef\xbc\x8c\xe4\xb8\x89\xe6\x9d\xa1\xe8"
    "\x85\xbf\xef\xbc\x8c\xe8\x83\x8c\xe6\x99\xaf\xe4\xba\xba\xe5\xbe\x88\xe5\xa4\x9a\xef\xbc\x8c"
    "\xe5\x80\x92\xe7\x9d\x80\xe8\xb5\xb0";

const struct ke_task_info * ke_task_info(enum ke_task task)
{
    // name, vae stride (t, h, w), z, patch h/w, boundary, official sizes
    static const struct ke_task_info infos[] = {
        [KE_TASK_TI2V_5B] = {
            "ti2v-5B", 4, 16, 16, 48, 2, 0.0, 1000,
            { { 1280, 704 }, { 704, 1280 } }, 2,
        },
        [KE_TASK_T2V_A14B] = {
            "t2v-A14B", 4, 8, 8, 16, 2, 0.875, 1000,
            { { 1280, 720 }, { 720, 1280 }, { 832, 480 }, { 480, 832 } }, 4,
        },
        [KE_TASK_I2V_A14B] = {
            "i2v-A14B", 4, 8, 8, 16, 2, 0.900, 1000,
            { { 1280, 720 }, { 720, 1280 }, { 832, 480 }, { 480, 832 } }, 4,
        },
        // LTX-Video: the causal VAE's 8 x 32 x 32, 128 channels, patch 1; inference.py's default size
        [KE_TASK_LTXV] = {
            "ltxv", 8, 32, 32, 128, 1, 0.0, 1000,
            { { 1216, 704 }, { 704, 1216 }, { 768, 512 }, { 512, 768 } }, 4,
        },
    };
    if ((int) task < 0 || (int) task > KE_TASK_LTXV) {
        return NULL;
    }
    return &infos[task];
}

struct ke_gen_params ke_gen_params_default(enum ke_task task)
{
    struct ke_gen_params p;
    memset(&p, 0, sizeof(p));
    p.task = task;
    p.prompt = "";
    p.negative_prompt = NULL;
    p.seed = -1;
    p.solver = KE_SOLVER_UNIPC;
    p.backend = "cpu";
    p.precision = KE_PRECISION_BF16;
    p.cache = KE_CACHE_OFF;
    p.cache_threshold = -1.0f;
    switch (task) {
    case KE_TASK_T2V_A14B:
        p.width = 1280; p.height = 720; p.n_frames = 81; p.steps = 40;
        p.guide = 3.0f; p.guide_high = 4.0f; p.shift = 12.0f; p.fps = 16;
        break;
    case KE_TASK_I2V_A14B:
        p.width = 1280; p.height = 720; p.n_frames = 81; p.steps = 40;
        p.guide = 3.5f; p.guide_high = 3.5f; p.shift = 5.0f; p.fps = 16;
        break;
    case KE_TASK_LTXV:
        // inference.py's defaults; guidance 1 and the timesteps are fixed by the distilled config
        p.width = 1216; p.height = 704; p.n_frames = 121; p.steps = 10;
        p.guide = 1.0f; p.guide_high = 1.0f; p.shift = 1.0f; p.fps = 30;
        p.solver = KE_SOLVER_EULER;
        break;
    case KE_TASK_TI2V_5B:
    default:
        p.task = KE_TASK_TI2V_5B;
        p.width = 1280; p.height = 704; p.n_frames = 121; p.steps = 50;
        p.guide = 5.0f; p.guide_high = 5.0f; p.shift = 5.0f; p.fps = 24;
        break;
    }
    return p;
}

static void sizes_str(const struct ke_task_info * ti, char * buf, size_t n)
{
    size_t o = 0;
    buf[0] = 0;
    for (int i = 0; i < ti->n_sizes && o + 16 < n; i++) {
        o += (size_t) snprintf(buf + o, n - o, "%s%dx%d", i ? ", " : "", ti->sizes[i][0], ti->sizes[i][1]);
    }
}

enum ke_status ke_gen_params_validate(const struct ke_gen_params * p, struct ke_error * err)
{
    if (!p) {
        return ke_err(err, KE_STATUS_INVALID, "generation parameters missing");
    }
    const struct ke_task_info * ti = ke_task_info(p->task);
    if (!ti) {
        return ke_err(err, KE_STATUS_INVALID, "unknown task %d (allowed: ti2v-5B, t2v-A14B, i2v-A14B, ltxv)", (int) p->task);
    }
    char sizes[160];
    sizes_str(ti, sizes, sizeof(sizes));
    const int mult = ti->stride_h * ti->patch;
    if (p->task == KE_TASK_LTXV) {
        // padded to multiples of 32 and 8n+1 frames, then cropped; the first pass (2/3 of the padded size,
        // down to a multiple of 32) needs a latent pixel
        if (p->n_frames < 1 || p->n_frames > KE_MAX_FRAMES) {
            return ke_err(err, KE_STATUS_INVALID, "frame count %d is not allowed for %s: use 1..%d (8n+1 runs "
                          "as it is, e.g. 97 or 121; others are padded and cut back)", p->n_frames, ti->name,
                          KE_MAX_FRAMES);
        }
        if (p->width < 33 || p->height < 33 || p->width > KE_MAX_SIDE || p->height > KE_MAX_SIDE) {
            return ke_err(err, KE_STATUS_INVALID, "size %dx%d is not allowed for %s: each side 33..%d (multiples "
                          "of 32 run as they are; official: %s)", p->width, p->height, ti->name, KE_MAX_SIDE, sizes);
        }
    } else if (p->n_frames < 1 || p->n_frames > KE_MAX_FRAMES || (p->n_frames - 1) % 4 != 0) {
        return ke_err(err, KE_STATUS_INVALID,
                      "frame count %d is not allowed: use 4n+1 frames between 1 and %d (e.g. 17, 33, 49, 81, 121)",
                      p->n_frames, KE_MAX_FRAMES);
    }
    if (p->task == KE_TASK_I2V_A14B) {
        if (!p->image) {
            return ke_err(err, KE_STATUS_INVALID, "%s needs a conditioning image", ti->name);
        }
        if (p->width < mult || p->height < mult || p->width > KE_MAX_SIDE || p->height > KE_MAX_SIDE) {
            return ke_err(err, KE_STATUS_INVALID,
                          "size %dx%d is not allowed for %s: the size is the maximum area, each side %d..%d "
                          "(official: %s)", p->width, p->height, ti->name, mult, KE_MAX_SIDE, sizes);
        }
    } else if (p->task == KE_TASK_LTXV) {
        // checked above
    } else if (p->task == KE_TASK_TI2V_5B && p->image) {
        // image mode: width*height is the area; the output size follows the image's aspect ratio
        if (p->width < mult || p->height < mult || p->width > KE_MAX_SIDE || p->height > KE_MAX_SIDE) {
            return ke_err(err, KE_STATUS_INVALID,
                          "size %dx%d is not allowed for %s with an image: each side %d..%d, the area sets the "
                          "output (official: %s)", p->width, p->height, ti->name, mult, KE_MAX_SIDE, sizes);
        }
    } else {
        if (p->width < mult || p->height < mult || p->width > KE_MAX_SIDE || p->height > KE_MAX_SIDE ||
            p->width % mult != 0 || p->height % mult != 0) {
            return ke_err(err, KE_STATUS_INVALID,
                          "size %dx%d is not allowed for %s: width and height must be multiples of %d between %d "
                          "and %d (official: %s)", p->width, p->height, ti->name, mult, mult, KE_MAX_SIDE, sizes);
        }
    }
    if (p->image && (p->image->width < 1 || p->image->height < 1 || !p->image->rgb ||
                     p->image->width > 16384 || p->image->height > 16384)) {
        return ke_err(err, KE_STATUS_INVALID, "conditioning image: size %dx%d is not usable (1..16384 per side)",
                      p->image->width, p->image->height);
    }
    if (p->steps < 1 || p->steps > KE_MAX_STEPS) {
        return ke_err(err, KE_STATUS_INVALID, "steps %d is not allowed: use 1..%d", p->steps, KE_MAX_STEPS);
    }
    if (!isfinite(p->guide) || !isfinite(p->guide_high) || p->guide < 0 || p->guide_high < 0 ||
        p->guide > KE_MAX_GUIDE || p->guide_high > KE_MAX_GUIDE) {
        return ke_err(err, KE_STATUS_INVALID, "guidance %g / %g is not allowed: use 0..%d",
                      (double) p->guide, (double) p->guide_high, KE_MAX_GUIDE);
    }
    if (!isfinite(p->shift) || p->shift <= 0 || p->shift > KE_MAX_SHIFT) {
        return ke_err(err, KE_STATUS_INVALID, "shift %g is not allowed: use a value in (0, %d]", (double) p->shift,
                      KE_MAX_SHIFT);
    }
    if (p->solver != KE_SOLVER_UNIPC && p->solver != KE_SOLVER_DPMPP && p->solver != KE_SOLVER_EULER &&
        p->solver != KE_SOLVER_EULER_LIGHTNING) {
        return ke_err(err, KE_STATUS_INVALID, "solver %d is not allowed: use unipc, dpm++, euler or euler-lightning",
                      (int) p->solver);
    }
    if (p->cache != KE_CACHE_OFF && p->cache != KE_CACHE_EASY && p->cache != KE_CACHE_TEA && p->cache != KE_CACHE_MAG) {
        return ke_err(err, KE_STATUS_INVALID, "step cache %d is not allowed: use off, easy, tea or mag",
                      (int) p->cache);
    }
    if (!isfinite(p->cache_threshold) || p->cache_threshold > KE_MAX_CACHE_THRESHOLD) {
        return ke_err(err, KE_STATUS_INVALID, "step cache threshold %g is not allowed: use 0..%d (< 0: the default)",
                      (double) p->cache_threshold, KE_MAX_CACHE_THRESHOLD);
    }
    if (!(p->fps > 0) || p->fps > KE_MAX_FPS) {
        return ke_err(err, KE_STATUS_INVALID, "fps %g is not allowed: use (0, %d]", p->fps, KE_MAX_FPS);
    }
    if (p->n_threads < 0) {
        return ke_err(err, KE_STATUS_INVALID, "threads %d is not allowed: use 0 (all cores) or more", p->n_threads);
    }
    if (!isfinite(p->vram_gib) || p->vram_gib < 0 || (p->vram_gib > 0 && p->vram_gib < KE_MIN_VRAM_GIB) ||
        p->vram_gib > KE_MAX_VRAM_GIB) {
        return ke_err(err, KE_STATUS_INVALID, "device memory budget %g GiB is not allowed: use 0 (the free memory) "
                      "or %d..%d GiB", (double) p->vram_gib, KE_MIN_VRAM_GIB, KE_MAX_VRAM_GIB);
    }
    if (p->text_device != KE_TEXT_DEVICE_AUTO && p->text_device != KE_TEXT_DEVICE_CPU) {
        return ke_err(err, KE_STATUS_INVALID, "text encoder device %d is not one of auto, cpu", (int) p->text_device);
    }
    // LoRAs
    if (p->n_loras < 0 || p->n_loras > KE_MAX_LORAS || (p->n_loras > 0 && !p->loras)) {
        return ke_err(err, KE_STATUS_INVALID, "%d LoRAs are not allowed: use 0..%d", p->n_loras, KE_MAX_LORAS);
    }
    for (int i = 0; i < p->n_loras; i++) {
        const struct ke_lora_spec * l = &p->loras[i];
        if (!l->path || !l->path[0]) {
            return ke_err(err, KE_STATUS_INVALID, "LoRA %d has no file", i + 1);
        }
        if (!isfinite(l->strength) || !isfinite(l->strength_high) || fabsf(l->strength) > KE_MAX_LORA_STRENGTH ||
            fabsf(l->strength_high) > KE_MAX_LORA_STRENGTH) {
            return ke_err(err, KE_STATUS_INVALID, "%s: LoRA strength %g / %g is not allowed: use -%d..%d", l->path,
                          (double) l->strength, (double) l->strength_high, KE_MAX_LORA_STRENGTH, KE_MAX_LORA_STRENGTH);
        }
    }
    // TAEHV draft decode and previews
    if (p->decoder != KE_DECODER_VAE && p->decoder != KE_DECODER_TAEHV) {
        return ke_err(err, KE_STATUS_INVALID, "decoder %d is not allowed: use the VAE or TAEHV", (int) p->decoder);
    }
    if (p->preview_source != KE_PREVIEW_LATENT && p->preview_source != KE_PREVIEW_TAEHV) {
        return ke_err(err, KE_STATUS_INVALID, "preview source %d is not allowed: use latent or TAEHV",
                      (int) p->preview_source);
    }
    if ((p->decoder == KE_DECODER_TAEHV || p->preview_source == KE_PREVIEW_TAEHV) &&
        (!p->taehv_path || !*p->taehv_path)) {
        return ke_err(err, KE_STATUS_INVALID, "TAEHV %s needs the TAEHV weights file (taew2_1 / taew2_2 safetensors)",
                      p->decoder == KE_DECODER_TAEHV ? "decoding" : "previews");
    }
    return KE_STATUS_OK;
}

// --- few-step presets and step caching ------------------------------------------

enum ke_status ke_gen_params_preset(struct ke_gen_params * p, const char * name, struct ke_error * err)
{
    if (!p || !name) {
        return ke_err(err, KE_STATUS_INVALID, "preset: parameters and a name are required");
    }
    if (strcmp(name, "lightning") == 0) {
        // ModelTC/Wan2.2-Lightning (commit 92efeb4) wan/configs/wan_t2v_A14B.py, wan_i2v_A14B.py and
        // wan_ti2v_5B.py: sample_steps 4, sample_shift 5.0, sample_guide_scale 1.0 (both experts), and
        // generate.py's default --sample_solver euler (EulerScheduler). The experts keep their boundaries
        // (0.875, 0.900), which put 2 of the 4 steps (t = 1000, 937.5) on the high-noise expert; LightX2V's
        // configs/distill/wan22/*.json say the same with boundary_step_index 2.
        if (ke_task_info(p->task) == NULL) {
            return ke_err(err, KE_STATUS_INVALID, "preset lightning: unknown task %d", (int) p->task);
        }
        p->steps = 4;
        p->shift = 5.0f;
        p->solver = KE_SOLVER_EULER_LIGHTNING;
        p->guide = 1.0f;
        p->guide_high = 1.0f;
        return KE_STATUS_OK;
    }
    return ke_err(err, KE_STATUS_INVALID, "unknown preset \"%s\" (known: lightning)", name);
}

int ke_cache_mode_from_name(const char * name, enum ke_cache_mode * out)
{
    static const char * const names[] = { "off", "easy", "tea", "mag" };
    for (int i = 0; name && i < (int) (sizeof(names) / sizeof(names[0])); i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (enum ke_cache_mode) i;
            return 0;
        }
    }
    return -1;
}

const char * ke_cache_mode_name(enum ke_cache_mode m)
{
    switch (m) {
    case KE_CACHE_OFF: return "off";
    case KE_CACHE_EASY: return "easy";
    case KE_CACHE_TEA: return "tea";
    case KE_CACHE_MAG: return "mag";
    }
    return "unknown";
}

int ke_precision_from_name(const char * name, enum ke_precision * out)
{
    // in enum ke_precision order
    static const char * const names[] = { "fp32", "bf16", "fp8" };
    for (int i = 0; name && i < (int) (sizeof(names) / sizeof(names[0])); i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (enum ke_precision) i;
            return 0;
        }
    }
    return -1;
}

const char * ke_precision_name(enum ke_precision p)
{
    switch (p) {
    case KE_PRECISION_FP32: return "fp32";
    case KE_PRECISION_BF16: return "bf16";
    case KE_PRECISION_FP8: return "fp8";
    }
    return "unknown";
}

// --- seeds ---------------------------------------------------------------------

bool ke_seed_parse(const char * text, int64_t * out)
{
    uint64_t v = 0;
    if (!text || !*text) {
        return false;
    }
    for (const char * c = text; *c; c++) {
        if (*c < '0' || *c > '9') {
            return false;
        }
        const uint64_t d = (uint64_t) (*c - '0');
        if (v > ((uint64_t) INT64_MAX - d) / 10) {
            return false;       // past 2^63 - 1
        }
        v = v * 10 + d;
    }
    if (out) {
        *out = (int64_t) v;
    }
    return true;
}
