// Kinora engine: models: opening an official Hugging Face folder, a Diffusers folder, ComfyUI files or
// the built-in tiny model; telling the variant from tensors and config (wan22-spec section 2.8); pairing
// checks (VAE channels, T5 width); the DiT experts, kept resident one at a time for A14B.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backends/backend.h"
#include "core/error.h"
#include "loaders/loaders.h"
#include "loaders/name-map.h"
#include "models/dit/wan.h"
#include "models/model-family.h"
#include "models/te/umt5.h"
#include "models/vae/wan-vae.h"
#include "pipeline/ltx-impl.h"
#include "pipeline/model-impl.h"

#define PATH_MAX_LEN 4096

static bool is_dir(const char * p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool exists(const char * p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void join(char * out, const char * a, const char * b)
{
    snprintf(out, PATH_MAX_LEN, "%s/%s", a, b);
}

void ke_model_free(ke_model_t * m)
{
    if (!m) {
        return;
    }
    for (int i = 0; i < 2; i++) {
        ke_dit_free(m->dit[i]);
        free(m->dit_lora_key[i]);
        ke_tset_free(m->dit_w[i]);
    }
    ke_text_encoder_free(m->te);
    ke_umt5_free(m->t5);
    ke_tset_free(m->t5_w);
    ke_tokenizer_free(m->tok);
    ke_wan_vae_free(m->vae_dev);
    ke_wan_vae_free(m->vae);
    ke_ltx_model_free(m->ltx);
    free(m);
}

enum ke_task ke_model_task(const ke_model_t * m)
{
    return m ? m->task : KE_TASK_TI2V_5B;
}

const char * ke_model_name(const ke_model_t * m)
{
    return m ? m->name : "";
}

bool ke_model_is_random(const ke_model_t * m)
{
    return m ? m->random : false;
}

struct ke_gen_params ke_model_params_default(const ke_model_t * m)
{
    struct ke_gen_params p = ke_gen_params_default(ke_model_task(m));
    if (m && m->tiny) {
        // the tiny model: small enough to run in seconds anywhere
        p.width = 256;
        p.height = 256;
        p.n_frames = 17;
        p.steps = 8;
    }
    return p;
}

// --- weights by role ---------------------------------------------------------------------------------

static enum ke_status open_role(struct ke_tensor_set ** out, const char * path, enum ke_name_role role,
                                struct ke_error * err)
{
    enum ke_status st = ke_weights_open(out, path, err);
    if (st == KE_STATUS_OK && (st = ke_name_map_apply(*out, role, err)) != KE_STATUS_OK) {
        ke_tset_free(*out);
        *out = NULL;
    }
    return st;
}

static const char * vae_expected(enum ke_task t)
{
    return t == KE_TASK_TI2V_5B ? "the 48-channel Wan2.2 VAE (Wan2.2_VAE.pth)" : "the 16-channel Wan2.1 VAE (Wan2.1_VAE.pth)";
}

static enum ke_status open_vae(ke_model_t * m, const char * path, struct ke_error * err)
{
    struct ke_tensor_set * w = NULL;
    enum ke_status st = open_role(&w, path, KE_NAME_ROLE_VAE, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    if ((st = ke_wan_vae_init(&m->vae, w, true, ke_backend_cpu(), err)) != KE_STATUS_OK) {
        ke_err_prefix(err, "VAE %s: ", path);
        return st;
    }
    const int want = m->cfg.out_dim;
    if (m->vae->z_dim != want) {
        return ke_err(err, KE_STATUS_SHAPE, "%s: this is the %d-channel Wan2.%d VAE, but %s needs %s", path,
                      m->vae->z_dim, m->vae->version == 22 ? 2 : 1, ke_task_info(m->task)->name,
                      vae_expected(m->task));
    }
    return KE_STATUS_OK;
}

static enum ke_status open_t5(ke_model_t * m, const char * path, struct ke_error * err)
{
    enum ke_status st = ke_text_encoder_open(&m->te, path, "cpu", true, err);
    if (st != KE_STATUS_OK) {
        ke_err_prefix(err, "text encoder %s: ", path);
        return st;
    }
    if (ke_text_encoder_dim(m->te) != m->cfg.text_dim) {
        return ke_err(err, KE_STATUS_SHAPE, "%s: the text encoder is %d wide, the DiT expects text_dim %d", path,
                      ke_text_encoder_dim(m->te), m->cfg.text_dim);
    }
    return KE_STATUS_OK;
}

// Every tensor the DiT reads, with its shape, so that an incomplete file is refused when opened.
static enum ke_status check_dit_tensors(const struct ke_tensor_set * w, const struct ke_dit_config * c,
                                        struct ke_error * err)
{
    const int64_t d = c->dim, f = c->ffn_dim, ps = (int64_t) c->patch_t * c->patch_h * c->patch_w;
    struct req {
        const char * name;
        int nd;
        int64_t s[5];
    };
    const struct req top[] = {
        { "patch_embedding.weight", 5, { d, c->in_dim, c->patch_t, c->patch_h, c->patch_w } },
        { "patch_embedding.bias", 1, { d } },
        { "text_embedding.0.weight", 2, { d, c->text_dim } }, { "text_embedding.0.bias", 1, { d } },
        { "text_embedding.2.weight", 2, { d, d } }, { "text_embedding.2.bias", 1, { d } },
        { "time_embedding.0.weight", 2, { d, c->freq_dim } }, { "time_embedding.0.bias", 1, { d } },
        { "time_embedding.2.weight", 2, { d, d } }, { "time_embedding.2.bias", 1, { d } },
        { "time_projection.1.weight", 2, { 6 * d, d } }, { "time_projection.1.bias", 1, { 6 * d } },
        { "head.head.weight", 2, { ps * c->out_dim, d } }, { "head.head.bias", 1, { ps * c->out_dim } },
        { "head.modulation", 3, { 1, 2, d } },
    };
    for (size_t i = 0; i < sizeof(top) / sizeof(top[0]); i++) {
        if (!ke_tset_require(w, top[i].name, top[i].nd, top[i].s, err)) {
            return err ? err->code : KE_STATUS_MISSING;
        }
    }
    static const char * const blk[] = {
        "self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o",
        "cross_attn.q", "cross_attn.k", "cross_attn.v", "cross_attn.o",
    };
    char n[160];
    for (int b = 0; b < c->num_layers; b++) {
        for (size_t k = 0; k < sizeof(blk) / sizeof(blk[0]); k++) {
            const int64_t sw[2] = { d, d }, sb[1] = { d };
            snprintf(n, sizeof(n), "blocks.%d.%s.weight", b, blk[k]);
            if (!ke_tset_require(w, n, 2, sw, err)) {
                return err ? err->code : KE_STATUS_MISSING;
            }
            snprintf(n, sizeof(n), "blocks.%d.%s.bias", b, blk[k]);
            if (!ke_tset_require(w, n, 1, sb, err)) {
                return err ? err->code : KE_STATUS_MISSING;
            }
        }
        const struct req br[] = {
            { "ffn.0.weight", 2, { f, d } }, { "ffn.0.bias", 1, { f } },
            { "ffn.2.weight", 2, { d, f } }, { "ffn.2.bias", 1, { d } },
            { "modulation", 3, { 1, 6, d } },
            { "norm3.weight", 1, { d } }, { "norm3.bias", 1, { d } },
            { "self_attn.norm_q.weight", 1, { d } }, { "self_attn.norm_k.weight", 1, { d } },
            { "cross_attn.norm_q.weight", 1, { d } }, { "cross_attn.norm_k.weight", 1, { d } },
        };
        for (size_t k = 0; k < sizeof(br) / sizeof(br[0]); k++) {
            if (!c->qk_norm && strstr(br[k].name, "norm_")) {
                continue;
            }
            if (!c->cross_attn_norm && strstr(br[k].name, "norm3")) {
                continue;
            }
            snprintf(n, sizeof(n), "blocks.%d.%s", b, br[k].name);
            if (!ke_tset_require(w, n, br[k].nd, br[k].s, err)) {
                return err ? err->code : KE_STATUS_MISSING;
            }
        }
    }
    return KE_STATUS_OK;
}

// DiT weights for a slot (0: dense / low-noise, 1: high-noise); the first one fixes the config and task.
static enum ke_status open_dit(ke_model_t * m, int slot, const char * path, struct ke_error * err)
{
    enum ke_status st = open_role(&m->dit_w[slot], path, KE_NAME_ROLE_DIT, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    struct ke_dit_config c;
    if ((st = ke_dit_config_from(&c, m->dit_w[slot], NULL, err)) != KE_STATUS_OK ||
        (st = check_dit_tensors(m->dit_w[slot], &c, err)) != KE_STATUS_OK) {
        ke_err_prefix(err, "DiT: ");
        return st;
    }
    if (m->n_experts > 0 && (c.dim != m->cfg.dim || c.in_dim != m->cfg.in_dim || c.num_layers != m->cfg.num_layers)) {
        return ke_err(err, KE_STATUS_SHAPE, "%s: this expert (dim %d, in_dim %d, %d layers) does not match the other "
                      "(dim %d, in_dim %d, %d layers)", path, c.dim, c.in_dim, c.num_layers, m->cfg.dim,
                      m->cfg.in_dim, m->cfg.num_layers);
    }
    m->cfg = c;
    m->n_experts++;
    if (c.in_dim == 48 && c.out_dim == 48) {
        m->task = KE_TASK_TI2V_5B;
    } else if (c.out_dim == 16 && c.in_dim == 36) {
        m->task = KE_TASK_I2V_A14B;
    } else if (c.out_dim == 16 && c.in_dim == 16) {
        m->task = KE_TASK_T2V_A14B;
    } else {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: a DiT with in_dim %d / out_dim %d is not a Wan2.2 model "
                      "(TI2V-5B: 48/48, T2V-A14B: 16/16, I2V-A14B: 36/16)", path, c.in_dim, c.out_dim);
    }
    return KE_STATUS_OK;
}

static void finish_name(ke_model_t * m, const char * where)
{
    static const char * const names[] = { "Wan2.2 TI2V-5B", "Wan2.2 T2V-A14B", "Wan2.2 I2V-A14B",
                                          "LTX-Video distilled" };
    if (m->tiny) {
        snprintf(m->name, sizeof(m->name), "tiny %s test model (random weights)", ke_task_info(m->task)->name);
    } else {
        snprintf(m->name, sizeof(m->name), "%s (%s)", names[m->task], where);
    }
    const struct ke_task_info * ti = ke_task_info(m->task);
    m->boundary = m->n_experts == 2 ? ti->boundary : 0.0;
}

// --- the tiny model ------------------------------------------------------------------------------------

static enum ke_status open_tiny(ke_model_t * m, struct ke_error * err)
{
    struct ke_tensor_set * vw = NULL;
    enum ke_status st;
    m->random = true;
    m->tiny = true;
    if ((st = ke_tiny_dit_weights(&m->dit_w[0], err)) != KE_STATUS_OK ||
        (st = ke_dit_config_from(&m->cfg, m->dit_w[0], NULL, err)) != KE_STATUS_OK) {
        return st;
    }
    m->n_experts = 1;
    m->task = KE_TASK_TI2V_5B;
    if ((st = ke_tiny_t5_weights(&m->t5_w, err)) != KE_STATUS_OK ||
        (st = ke_umt5_init(&m->t5, m->t5_w, ke_backend_cpu(), err)) != KE_STATUS_OK ||
        (st = ke_tiny_vae_weights(&vw, err)) != KE_STATUS_OK) {
        return st;
    }
    if ((st = ke_wan_vae_init(&m->vae, vw, true, ke_backend_cpu(), err)) != KE_STATUS_OK) {
        return st;
    }
    finish_name(m, "built in");
    return KE_STATUS_OK;
}

// --- folders -------------------------------------------------------------------------------------------

// The first of `names` that exists in dir (or NULL).
static const char * first_in(char * out, const char * dir, const char * const * names)
{
    for (int i = 0; names[i]; i++) {
        join(out, dir, names[i]);
        if (exists(out)) {
            return out;
        }
    }
    return NULL;
}

static enum ke_status open_official(ke_model_t * m, const char * dir, struct ke_error * err)
{
    char p[PATH_MAX_LEN], hi[PATH_MAX_LEN], lo[PATH_MAX_LEN];
    enum ke_status st;
    join(hi, dir, "high_noise_model");
    join(lo, dir, "low_noise_model");
    if (is_dir(hi) && is_dir(lo)) {
        if ((st = open_dit(m, 1, hi, err)) != KE_STATUS_OK || (st = open_dit(m, 0, lo, err)) != KE_STATUS_OK) {
            return st;
        }
    } else if ((st = open_dit(m, 0, dir, err)) != KE_STATUS_OK) {
        return st;
    }
    // the VAE the task needs, else whichever is there (refused with a message naming it)
    static const char * const v22[] = { "Wan2.2_VAE.pth", "Wan2.1_VAE.pth", NULL };
    static const char * const v21[] = { "Wan2.1_VAE.pth", "Wan2.2_VAE.pth", NULL };
    if (!first_in(p, dir, m->task == KE_TASK_TI2V_5B ? v22 : v21)) {
        return ke_err(err, KE_STATUS_MISSING, "%s: no VAE found: %s needs %s", dir, ke_task_info(m->task)->name,
                      vae_expected(m->task));
    }
    if ((st = open_vae(m, p, err)) != KE_STATUS_OK) {
        return st;
    }
    static const char * const t5[] = { "models_t5_umt5-xxl-enc-bf16.pth", NULL };
    if (!first_in(p, dir, t5)) {
        return ke_err(err, KE_STATUS_MISSING, "%s: models_t5_umt5-xxl-enc-bf16.pth (the text encoder) is missing", dir);
    }
    if ((st = open_t5(m, p, err)) != KE_STATUS_OK) {
        return st;
    }
    static const char * const tk[] = { "google/umt5-xxl", "tokenizer", NULL };
    if (!first_in(p, dir, tk)) {
        return ke_err(err, KE_STATUS_MISSING, "%s: google/umt5-xxl (the tokenizer) is missing", dir);
    }
    return ke_tokenizer_open(&m->tok, p, err);
}

static enum ke_status open_diffusers(ke_model_t * m, const char * dir, struct ke_error * err)
{
    char p[PATH_MAX_LEN], p2[PATH_MAX_LEN];
    enum ke_status st;
    join(p, dir, "transformer");
    join(p2, dir, "transformer_2");
    if (is_dir(p2)) {
        // Diffusers: transformer = high-noise expert, transformer_2 = low-noise expert
        if ((st = open_dit(m, 1, p, err)) != KE_STATUS_OK || (st = open_dit(m, 0, p2, err)) != KE_STATUS_OK) {
            return st;
        }
    } else if ((st = open_dit(m, 0, p, err)) != KE_STATUS_OK) {
        return st;
    }
    join(p, dir, "vae");
    if ((st = open_vae(m, p, err)) != KE_STATUS_OK) {
        return st;
    }
    join(p, dir, "text_encoder");
    if ((st = open_t5(m, p, err)) != KE_STATUS_OK) {
        return st;
    }
    join(p, dir, "tokenizer");
    return ke_tokenizer_open(&m->tok, p, err);
}

// --- single files (ComfyUI) ------------------------------------------------------------------------------

enum file_role { ROLE_UNKNOWN, ROLE_DIT, ROLE_VAE, ROLE_T5, ROLE_TOKENIZER };

static enum file_role guess_role(const char * path)
{
    const char * base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strstr(base, "tokenizer") || strstr(base, "spiece") || strstr(base, "umt5-xxl") == base) {
        if (!strstr(base, ".safetensors") && !strstr(base, ".pth")) {
            return ROLE_TOKENIZER;
        }
    }
    struct ke_tensor_set * s = NULL;
    if (ke_weights_open(&s, path, NULL) != KE_STATUS_OK) {
        return ROLE_UNKNOWN;
    }
    enum file_role r = ROLE_UNKNOWN;
    for (int i = 0; i < ke_tset_count(s) && r == ROLE_UNKNOWN; i++) {
        const char * n = ke_tset_at(s, i)->name;
        if (strstr(n, "head.modulation") || strstr(n, "scale_shift_table") || strstr(n, "patch_embedding")) {
            r = ROLE_DIT;
        } else if (strstr(n, "decoder.conv1") || strstr(n, "decoder.head.2") || strstr(n, "decoder.conv_in")) {
            r = ROLE_VAE;
        } else if (strstr(n, "token_embedding") || strstr(n, "shared.weight") || strstr(n, "encoder.block.0")) {
            r = ROLE_T5;
        }
    }
    ke_tset_free(s);
    return r;
}

// files: one path, or several separated by commas (DiT file(s), VAE, text encoder, tokenizer). A lone
// ComfyUI DiT file finds its VAE and text encoder in ../vae and ../text_encoders.
static enum ke_status open_files(ke_model_t * m, const char * spec, struct ke_error * err)
{
    char * list = strdup(spec);
    const char * dit[2] = { NULL, NULL }, * vae = NULL, * t5 = NULL, * tok = NULL;
    int n_dit = 0;
    enum ke_status st = KE_STATUS_OK;
    char pv[PATH_MAX_LEN], pt[PATH_MAX_LEN];
    if (!list) {
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    for (char * save = NULL, * f = strtok_r(list, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
        if (!exists(f)) {
            st = ke_err(err, KE_STATUS_IO, "%s: no such file or folder", f);
            goto done;
        }
        switch (guess_role(f)) {
        case ROLE_DIT:
            if (n_dit == 2) {
                st = ke_err(err, KE_STATUS_INVALID, "%s: more than two DiT files given", f);
                goto done;
            }
            dit[n_dit++] = f;
            break;
        case ROLE_VAE: vae = f; break;
        case ROLE_T5: t5 = f; break;
        case ROLE_TOKENIZER: tok = f; break;
        default:
            st = ke_err(err, KE_STATUS_FORMAT, "%s: not a Wan DiT, VAE, UMT5 text encoder or tokenizer", f);
            goto done;
        }
    }
    if (n_dit == 0) {
        st = ke_err(err, KE_STATUS_MISSING, "%s: no DiT (diffusion model) among the given files", spec);
        goto done;
    }
    if (n_dit == 2) {
        // ComfyUI / QuantStack names tell the roles: *high_noise* / *HighNoise*
        int hi = (strstr(dit[0], "high") || strstr(dit[0], "High")) ? 0 : 1;
        if ((st = open_dit(m, 1, dit[hi], err)) != KE_STATUS_OK || (st = open_dit(m, 0, dit[1 - hi], err)) != KE_STATUS_OK) {
            goto done;
        }
    } else if ((st = open_dit(m, 0, dit[0], err)) != KE_STATUS_OK) {
        goto done;
    }
    char * dir = strdup(dit[0]);
    char * slash = dir ? strrchr(dir, '/') : NULL;
    if (slash) {
        *slash = 0;
    }
    // ComfyUI layout: models/diffusion_models/x.safetensors, models/vae/, models/text_encoders/
    if (!vae && dir) {
        static const char * const vn22[] = { "../vae/wan2.2_vae.safetensors", "../vae/wan_2.1_vae.safetensors", NULL };
        static const char * const vn21[] = { "../vae/wan_2.1_vae.safetensors", "../vae/wan2.2_vae.safetensors", NULL };
        vae = first_in(pv, slash ? dir : ".", m->task == KE_TASK_TI2V_5B ? vn22 : vn21);
    }
    if (!t5 && dir) {
        static const char * const tn[] = { "../text_encoders/umt5_xxl_fp16.safetensors",
                                           "../text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors", NULL };
        t5 = first_in(pt, slash ? dir : ".", tn);
    }
    free(dir);
    if (!vae) {
        st = ke_err(err, KE_STATUS_MISSING, "%s: no VAE given or found in ../vae: %s needs %s", dit[0],
                    ke_task_info(m->task)->name, vae_expected(m->task));
        goto done;
    }
    if ((st = open_vae(m, vae, err)) != KE_STATUS_OK) {
        goto done;
    }
    if (!t5) {
        st = ke_err(err, KE_STATUS_MISSING, "%s: no UMT5 text encoder given or found in ../text_encoders", dit[0]);
        goto done;
    }
    if ((st = open_t5(m, t5, err)) != KE_STATUS_OK) {
        goto done;
    }
    if (!tok) {
        st = ke_err(err, KE_STATUS_MISSING, "%s: no tokenizer given: add the google/umt5-xxl folder (or its "
                    "tokenizer.json / spiece.model) to the list, separated by a comma", spec);
        goto done;
    }
    st = ke_tokenizer_open(&m->tok, tok, err);
done:
    free(list);
    return st;
}

enum ke_status ke_model_open(ke_model_t ** out, const char * path, struct ke_error * err)
{
    if (out) {
        *out = NULL;
    }
    if (!out || !path || !*path) {
        return ke_err(err, KE_STATUS_INVALID, "model open: no path given");
    }
    ke_model_t * m = calloc(1, sizeof(*m));
    if (!m) {
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    enum ke_status st;
    char p[PATH_MAX_LEN];
    if (strcmp(path, "tiny") == 0) {
        st = open_tiny(m, err);
    } else if (ke_model_family_detect(path) == KE_MODEL_FAMILY_LTXV) {
        st = ke_ltx_model_open(m, path, err);
    } else if (is_dir(path)) {
        join(p, path, "model_index.json");
        st = exists(p) ? open_diffusers(m, path, err) : open_official(m, path, err);
    } else if (strchr(path, ',') || exists(path)) {
        st = open_files(m, path, err);
    } else {
        st = ke_err(err, KE_STATUS_IO, "%s: no such model folder or file (or \"tiny\" for the built-in test model)",
                    path);
    }
    if (st != KE_STATUS_OK) {
        ke_model_free(m);
        return st;
    }
    finish_name(m, path);
    *out = m;
    return KE_STATUS_OK;
}

enum ke_status ke_model_from_sets(ke_model_t ** out, struct ke_tensor_set * dit, struct ke_tensor_set * dit_high,
                                  struct ke_tensor_set * t5, struct ke_tensor_set * vae, const char * name,
                                  struct ke_error * err)
{
    *out = NULL;
    ke_model_t * m = calloc(1, sizeof(*m));
    enum ke_status st;
    if (!m) {
        ke_tset_free(dit);
        ke_tset_free(dit_high);
        ke_tset_free(t5);
        ke_tset_free(vae);
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    m->random = true;
    m->dit_w[0] = dit;
    m->dit_w[1] = dit_high;
    m->t5_w = t5;
    struct ke_tensor_set * sets[2] = { dit_high, dit };
    for (int i = 0; i < 2; i++) {
        if (!sets[i]) {
            continue;
        }
        struct ke_dit_config c;
        if ((st = ke_dit_config_from(&c, sets[i], NULL, err)) != KE_STATUS_OK ||
            (st = check_dit_tensors(sets[i], &c, err)) != KE_STATUS_OK) {
            goto fail;
        }
        m->cfg = c;
        m->n_experts++;
    }
    m->task = m->cfg.in_dim == 48 ? KE_TASK_TI2V_5B : m->cfg.in_dim == 36 ? KE_TASK_I2V_A14B : KE_TASK_T2V_A14B;
    // through a text encoder, so prompts are cached in memory as with weights from a file
    st = ke_text_encoder_from_set(&m->te, m->t5_w, ke_backend_cpu_fast(), true, err);
    m->t5_w = NULL;
    if (st != KE_STATUS_OK) {
        ke_tset_free(vae);
        goto fail;
    }
    if ((st = ke_wan_vae_init(&m->vae, vae, true, ke_backend_cpu(), err)) != KE_STATUS_OK) {
        goto fail;
    }
    finish_name(m, "");
    snprintf(m->name, sizeof(m->name), "%s", name ? name : "random weights");
    *out = m;
    return KE_STATUS_OK;
fail:
    ke_model_free(m);
    return st;
}
