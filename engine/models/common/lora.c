// Kinora engine: LoRA files for the Wan DiT (reading, matching, merging, run-time terms).
//
// Conventions read from the peers' loaders:
//  - ComfyUI comfy/lora.py (model_lora_keys_unet, calculate_weight) and comfy/weight_adapter/lora.py:
//    keys "diffusion_model.<module>" (and "<module>" bare) or "lora_unet_<module with '_' for '.'>",
//    pairs "<m>.lora_down.weight"/"<m>.lora_up.weight" (also ".lora_A"/".lora_B", ".lora.down"/".lora.up"),
//    "<m>.alpha" giving the scale alpha / rank, full deltas "<m>.diff" (weight) and "<m>.diff_b" (bias)
//    added as strength * delta; kohya/musubi-tuner Wan LoRAs are the "lora_unet_" form.
//  - Diffusers loaders/lora_conversion_utils.py (_convert_non_diffusers_wan_lora_to_diffusers,
//    _convert_musubi_wan_lora_to_diffusers): PEFT keys "transformer.<Diffusers module>.lora_A/lora_B.weight"
//    with Diffusers names (attn1.to_q, ffn.net.0.proj, ...), no alpha (scale 1); the LightX2V/Lightning
//    files use the official names with "diffusion_model." and carry "diff_b" for biases and "diff" for norms
//    and head.head; a "diff_b" becomes "lora_B.bias" once converted.
//  - stable-diffusion.cpp src/lora.hpp: the same up/down/alpha scale (alpha / rank) and ".diff" deltas; a
//    LoRA's strength is per model, its Wan2.2 high-noise use is marked apart ("|high_noise|").
// Diffusers module names become official Wan names through loaders/name-map.c.
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "loaders/loaders.h"
#include "loaders/name-map.h"
#include "models/common/lora.h"

// --- parsing ---------------------------------------------------------------------------------------

enum part { PART_DOWN, PART_UP, PART_ALPHA, PART_DIFF, PART_DIFF_B, PART_NONE };

// Longest first: ".diff_b" before ".diff".
static const struct {
    const char * suffix;
    enum part part;
} suffixes[] = {
    { ".lora_down.weight", PART_DOWN }, { ".lora_up.weight", PART_UP },
    { ".lora_A.weight", PART_DOWN },    { ".lora_B.weight", PART_UP },
    { ".lora.down.weight", PART_DOWN }, { ".lora.up.weight", PART_UP },
    { ".lora_B.bias", PART_DIFF_B },    { ".alpha", PART_ALPHA },
    { ".diff_b", PART_DIFF_B },         { ".diff", PART_DIFF },
};

// Wrapper prefixes of the module names: dotted ones, then the underscored trainer forms.
static const char * const dotted_prefixes[] = {
    "model.diffusion_model.", "diffusion_model.", "base_model.model.", "transformer.",
};
static const char * const underscored_prefixes[] = { "lora_unet_", "lycoris_", "lora_transformer_" };

void ke_lora_free(struct ke_lora_file * f)
{
    if (!f) {
        return;
    }
    for (int i = 0; i < f->n_entries; i++) {
        free(f->entries[i].module);
    }
    free(f->entries);
    ke_tset_free(f->set);
    free(f);
}

// The official name of a dotted module (Diffusers names through the DiT name map).
static char * official_module(const char * m)
{
    char in[512], out[512];
    if (snprintf(in, sizeof(in), "%s.weight", m) < (int) sizeof(in) &&
        ke_name_map_one(KE_NAME_ROLE_DIT, in, out, sizeof(out))) {
        size_t l = strlen(out);
        if (l > 7 && strcmp(out + l - 7, ".weight") == 0) {
            out[l - 7] = '\0';
            return strdup(out);
        }
    }
    if (ke_name_map_one(KE_NAME_ROLE_DIT, m, out, sizeof(out))) {
        return strdup(out);   // a bare parameter such as blocks.#.scale_shift_table
    }
    return strdup(m);
}

static bool is_float(enum ke_dtype t)
{
    return t == KE_DTYPE_F32 || t == KE_DTYPE_F16 || t == KE_DTYPE_BF16 || t == KE_DTYPE_F8_E4M3 ||
           t == KE_DTYPE_F64;
}

// Outermost dimension of a tensor (PyTorch dim 0).
static int64_t dim0(const struct ke_tensor * t)
{
    return t->n_dims > 0 ? t->ne[t->n_dims - 1] : 1;
}

static enum ke_status check_entry(const struct ke_lora_file * f, const struct ke_lora_entry * e,
                                  struct ke_error * err)
{
    const char * path = ke_tset_path(f->set);
    if (!!e->down != !!e->up) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: LoRA key '%s' has a %s matrix but no %s matrix", path, e->key,
                      e->down ? "down (lora_down / lora_A)" : "up (lora_up / lora_B)",
                      e->down ? "up (lora_up / lora_B)" : "down (lora_down / lora_A)");
    }
    const struct ke_tensor * ts[] = { e->down, e->up, e->alpha, e->diff, e->diff_b };
    for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        if (ts[i] && !is_float(ts[i]->type)) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: LoRA tensor '%s' is %s; a LoRA holds floats", path,
                          ts[i]->name, ke_dtype_name(ts[i]->type));
        }
        if (ts[i] && ke_tensor_nelements(ts[i]) <= 0) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: LoRA tensor '%s' is empty", path, ts[i]->name);
        }
    }
    if (e->down) {
        char sd[96], su[96];
        const int64_t rank = dim0(e->down);
        // up (out, rank) or a conv's (out, rank, 1, 1, 1)
        bool ok = e->down->n_dims >= 2 && e->up->n_dims >= 2 && e->up->ne[e->up->n_dims - 2] == rank;
        for (int d = 0; ok && d < e->up->n_dims - 2; d++) {
            ok = e->up->ne[d] == 1;
        }
        if (!ok) {
            return ke_err(err, KE_STATUS_SHAPE,
                          "%s: LoRA key '%s': the down matrix %s and the up matrix %s disagree on the rank", path,
                          e->key, ke_tensor_shape_str(e->down, sd, sizeof(sd)), ke_tensor_shape_str(e->up, su, sizeof(su)));
        }
    }
    if (e->alpha && ke_tensor_nelements(e->alpha) != 1) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: LoRA tensor '%s' (alpha) has %lld elements; it is one number", path,
                      e->alpha->name, (long long) ke_tensor_nelements(e->alpha));
    }
    // an alpha without down/up (a LyCORIS LoHa/LoKr layer, whose other parts have no known kind) is left
    // unused: the layer is then reported as unmatched rather than the file refused
    return KE_STATUS_OK;
}

enum ke_status ke_lora_from_set(struct ke_lora_file ** out, struct ke_tensor_set * s, struct ke_error * err)
{
    *out = NULL;
    struct ke_lora_file * f = calloc(1, sizeof(*f));
    const int n = ke_tset_count(s);
    if (!f || !(f->entries = calloc((size_t) (n > 0 ? n : 1), sizeof(*f->entries)))) {
        free(f);
        ke_tset_free(s);
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    f->set = s;
    const char * path = ke_tset_path(s);
    for (int i = 0; i < n; i++) {
        const struct ke_tensor * t = ke_tset_at(s, i);
        const char * k = t->name;
        bool under = false;
        for (size_t p = 0; p < sizeof(dotted_prefixes) / sizeof(dotted_prefixes[0]); p++) {
            size_t l = strlen(dotted_prefixes[p]);
            if (strncmp(k, dotted_prefixes[p], l) == 0) {
                k += l;
                break;
            }
        }
        for (size_t p = 0; p < sizeof(underscored_prefixes) / sizeof(underscored_prefixes[0]); p++) {
            size_t l = strlen(underscored_prefixes[p]);
            if (strncmp(k, underscored_prefixes[p], l) == 0) {
                k += l;
                under = true;
                break;
            }
        }
        enum part part = PART_NONE;
        size_t kl = strlen(k), ml = kl;
        for (size_t j = 0; j < sizeof(suffixes) / sizeof(suffixes[0]); j++) {
            size_t sl = strlen(suffixes[j].suffix);
            if (kl > sl && strcmp(k + kl - sl, suffixes[j].suffix) == 0) {
                part = suffixes[j].part;
                ml = kl - sl;
                break;
            }
        }
        // keys of no known kind become modules with nothing to apply: they are listed as unmatched
        char * raw = strndup(k, ml);
        char * module = raw && !under ? official_module(raw) : raw;
        if (module != raw) {
            free(raw);
        }
        if (!module) {
            ke_lora_free(f);
            return ke_err(err, KE_STATUS_NOMEM, "out of memory");
        }
        struct ke_lora_entry * e = NULL;
        for (int j = 0; j < f->n_entries && part != PART_NONE; j++) {
            if (f->entries[j].underscored == under && strcmp(f->entries[j].module, module) == 0) {
                e = &f->entries[j];
                break;
            }
        }
        if (e) {
            free(module);
        } else {
            e = &f->entries[f->n_entries++];
            e->module = module;
            e->underscored = under;
            e->key = t->name;
        }
        const struct ke_tensor ** slot = part == PART_DOWN ? &e->down : part == PART_UP ? &e->up :
                                         part == PART_ALPHA ? &e->alpha : part == PART_DIFF ? &e->diff :
                                         part == PART_DIFF_B ? &e->diff_b : NULL;
        if (slot && *slot) {
            enum ke_status st = ke_err(err, KE_STATUS_FORMAT, "%s: LoRA keys '%s' and '%s' are the same part of one layer",
                                       path, (*slot)->name, t->name);
            ke_lora_free(f);
            return st;
        }
        if (slot) {
            *slot = t;
        }
    }
    for (int j = 0; j < f->n_entries; j++) {
        enum ke_status st = check_entry(f, &f->entries[j], err);
        if (st != KE_STATUS_OK) {
            ke_lora_free(f);
            return st;
        }
    }
    *out = f;
    return KE_STATUS_OK;
}

enum ke_status ke_lora_open(struct ke_lora_file ** out, const char * path, struct ke_error * err)
{
    *out = NULL;
    struct ke_tensor_set * s = NULL;
    enum ke_status st = ke_safetensors_open_file(&s, path, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    return ke_lora_from_set(out, s, err);
}

enum ke_status ke_lora_open_specs(struct ke_lora_file ** files, const struct ke_lora_spec * specs, int n,
                                  struct ke_error * err)
{
    if (n < 0 || n > KE_MAX_LORAS || (n > 0 && !specs)) {
        return ke_err(err, KE_STATUS_INVALID, "%d LoRAs: at most %d at once", n, KE_MAX_LORAS);
    }
    for (int i = 0; i < n; i++) {
        files[i] = NULL;
    }
    for (int i = 0; i < n; i++) {
        if (!specs[i].path || !specs[i].path[0]) {
            ke_lora_files_free(files, n);
            return ke_err(err, KE_STATUS_INVALID, "LoRA %d has no file", i + 1);
        }
        if (specs[i].strength == 0.0f && specs[i].strength_high == 0.0f) {
            continue;
        }
        enum ke_status st = ke_lora_open(&files[i], specs[i].path, err);
        if (st != KE_STATUS_OK) {
            ke_lora_files_free(files, n);
            return st;
        }
    }
    return KE_STATUS_OK;
}

void ke_lora_files_free(struct ke_lora_file ** files, int n)
{
    for (int i = 0; i < n; i++) {
        ke_lora_free(files[i]);
        files[i] = NULL;
    }
}

int ke_lora_uses_for(struct ke_lora_use * uses, struct ke_lora_file * const * files,
                     const struct ke_lora_spec * specs, int n, bool high)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        const float s = high ? specs[i].strength_high : specs[i].strength;
        if (files[i] && s != 0.0f) {
            uses[k].file = files[i];
            uses[k].strength = s;
            k++;
        }
    }
    return k;
}

size_t ke_lora_specs_bytes(const struct ke_lora_spec * specs, int n, bool high)
{
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        struct stat sb;
        const float s = high ? specs[i].strength_high : specs[i].strength;
        if (s != 0.0f && specs[i].path && stat(specs[i].path, &sb) == 0 && sb.st_size > 0) {
            total += (size_t) sb.st_size;
        }
    }
    return total;
}

// --- building: matching, merging, run-time terms ---------------------------------------------------

struct ke_lora_ctx {
    const struct ke_lora_use * uses;
    int n_uses;
    bool merge;
    struct ke_backend * be;
    bool ** used;                      // per use, per entry
    // owned: merged weights/biases (tensor + data) and run-time terms
    struct ke_tensor ** tensors;
    int n_tensors, cap_tensors;
    struct ke_lora_linear ** linears;
    int n_linears, cap_linears;
};

struct ke_lora_ctx * ke_lora_ctx_new(const struct ke_lora_use * uses, int n_uses, bool merge, struct ke_backend * be)
{
    struct ke_lora_ctx * c = calloc(1, sizeof(*c));
    if (!c) {
        return NULL;
    }
    c->uses = uses;
    c->n_uses = n_uses;
    c->merge = merge;
    c->be = be;
    c->used = calloc((size_t) (n_uses > 0 ? n_uses : 1), sizeof(bool *));
    if (!c->used) {
        free(c);
        return NULL;
    }
    for (int i = 0; i < n_uses; i++) {
        c->used[i] = calloc((size_t) (uses[i].file->n_entries + 1), sizeof(bool));
        if (!c->used[i]) {
            ke_lora_ctx_free(c);
            return NULL;
        }
    }
    return c;
}

void ke_lora_ctx_free(struct ke_lora_ctx * c)
{
    if (!c) {
        return;
    }
    for (int i = 0; i < c->n_linears; i++) {
        struct ke_lora_linear * ll = c->linears[i];
        for (int j = 0; j < ll->n_terms; j++) {
            struct ke_lora_term * t = &ll->terms[j];
            if (t->a.w) {
                c->be->ops->linear_release(c->be, &t->a);
            }
            if (t->b.w) {
                c->be->ops->linear_release(c->be, &t->b);
            }
            free(t->ta.data);
            free(t->tb.data);
            free((char *) t->ta.name);
            free((char *) t->tb.name);
        }
        free(ll->terms);
        free(ll);
    }
    for (int i = 0; i < c->n_tensors; i++) {
        free(c->tensors[i]->data);
        free(c->tensors[i]);
    }
    for (int i = 0; c->used && i < c->n_uses; i++) {
        free(c->used[i]);
    }
    free(c->used);
    free(c->tensors);
    free(c->linears);
    free(c);
}

static bool module_is(const struct ke_lora_entry * e, const char * module)
{
    if (!e->underscored) {
        return strcmp(e->module, module) == 0;
    }
    // "blocks_0_self_attn_q" against "blocks.0.self_attn.q" (the Wan names map one to one: no two differ
    // only in '.' against '_')
    const char * a = e->module, * b = module;
    for (; *a && *b; a++, b++) {
        if (*a != (*b == '.' ? '_' : *b)) {
            return false;
        }
    }
    return *a == *b;
}

// A new owned f32 tensor (contiguous) of the given PyTorch shape; NULL on OOM.
static struct ke_tensor * own_f32(struct ke_lora_ctx * c, int n_dims, const int64_t * shape, const char * name)
{
    if (c->n_tensors == c->cap_tensors) {
        int cap = c->cap_tensors ? 2 * c->cap_tensors : 64;
        struct ke_tensor ** nt = realloc(c->tensors, (size_t) cap * sizeof(*nt));
        if (!nt) {
            return NULL;
        }
        c->tensors = nt;
        c->cap_tensors = cap;
    }
    int64_t n = 1;
    for (int i = 0; i < n_dims; i++) {
        n *= shape[i];
    }
    struct ke_tensor * t = calloc(1, sizeof(*t));
    float * d = malloc((size_t) n * sizeof(float));
    if (!t || !d) {
        free(t);
        free(d);
        return NULL;
    }
    ke_tensor_init(t, KE_DTYPE_F32, n_dims, shape, d);
    t->name = name;
    c->tensors[c->n_tensors++] = t;
    return t;
}

// f32 copy of a tensor times s into dst (n elements).
static int to_f32_scaled(float * dst, const struct ke_tensor * t, float s)
{
    float * h = ke_tensor_to_f32_alloc(t);
    if (!h) {
        return -1;
    }
    const int64_t n = ke_tensor_nelements(t);
    for (int64_t i = 0; i < n; i++) {
        dst[i] = s * h[i];
    }
    free(h);
    return 0;
}

static float entry_scale(const struct ke_lora_entry * e, float strength)
{
    if (!e->alpha) {
        return strength;
    }
    float a;
    ke_convert_to_f32(&a, e->alpha->data, e->alpha->type, e->alpha->scale, 1);
    return strength * a / (float) dim0(e->down);
}

static enum ke_status shape_error(const struct ke_lora_file * f, const struct ke_tensor * t, const char * what,
                                  int64_t a, int64_t b, struct ke_error * err)
{
    char sb[96];
    return ke_err(err, KE_STATUS_SHAPE,
                  "%s: LoRA tensor '%s' has shape %s; the model's %s needs [%lld, %lld] (a LoRA for another model?)",
                  ke_tset_path(f->set), t->name, ke_tensor_shape_str(t, sb, sizeof(sb)), what, (long long) a,
                  (long long) b);
}

// W (n_out, n_in) += s * up (n_out, r) @ down (r, n_in), in float.
static int merge_lowrank(float * W, const struct ke_tensor * up, const struct ke_tensor * down, float s,
                         int64_t n_out, int64_t n_in, int64_t r)
{
    float * U = ke_tensor_to_f32_alloc(up), * D = ke_tensor_to_f32_alloc(down);
    if (!U || !D) {
        free(U);
        free(D);
        return -1;
    }
    // one sgemm (W = s U D + W): an A14B ffn.0 at rank 64 is 9 GFLOP, minutes as a plain loop
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint) n_out, (blasint) n_in, (blasint) r, s, U,
                (blasint) r, D, (blasint) n_in, 1.0f, W, (blasint) n_in);
    free(U);
    free(D);
    return 0;
}

enum ke_status ke_lora_ctx_linear(struct ke_lora_ctx * c, struct ke_linear * l, const char * module,
                                  struct ke_error * err)
{
    if (!c) {
        return KE_STATUS_OK;
    }
    const int64_t n_out = l->n_out, n_in = l->n_in;
    const bool can_merge = c->merge && (l->w->type == KE_DTYPE_F32 || l->w->type == KE_DTYPE_BF16 ||
                                        l->w->type == KE_DTYPE_F16);
    float * W = NULL;                  // merged weight (f32), made on first need
    struct ke_tensor * wt = NULL, * bt = NULL;
    struct ke_lora_linear * ll = NULL;
    for (int u = 0; u < c->n_uses; u++) {
        const struct ke_lora_file * f = c->uses[u].file;
        const float strength = c->uses[u].strength;
        for (int j = 0; j < f->n_entries; j++) {
            const struct ke_lora_entry * e = &f->entries[j];
            if (!module_is(e, module) || (!e->down && !e->diff && !e->diff_b)) {
                continue;
            }
            c->used[u][j] = true;
            // shapes first: a LoRA for another model fails whatever the strength
            if (e->down) {
                const int64_t r = dim0(e->down);
                if (ke_tensor_nelements(e->down) != r * n_in) {
                    return shape_error(f, e->down, module, r, n_in, err);
                }
                if (dim0(e->up) != n_out) {
                    return shape_error(f, e->up, module, n_out, r, err);
                }
            }
            if (e->diff && (ke_tensor_nelements(e->diff) != n_out * n_in || dim0(e->diff) != n_out)) {
                return shape_error(f, e->diff, module, n_out, n_in, err);
            }
            if (e->diff_b && (ke_tensor_nelements(e->diff_b) != n_out || !l->b)) {
                char sb[96];
                return ke_err(err, KE_STATUS_SHAPE, "%s: LoRA tensor '%s' has shape %s; the model's %s has %s%lld outputs",
                              ke_tset_path(f->set), e->diff_b->name, ke_tensor_shape_str(e->diff_b, sb, sizeof(sb)),
                              module, l->b ? "" : "no bias and ", (long long) n_out);
            }
            if (strength == 0.0f) {
                continue;
            }
            // the bias delta: always folded into a copy of the bias (n_out floats)
            if (e->diff_b) {
                if (!bt) {
                    int64_t bs[1] = { n_out };
                    if (!(bt = own_f32(c, 1, bs, l->b->name)) || to_f32_scaled(bt->data, l->b, 1.0f) < 0) {
                        return ke_err(err, KE_STATUS_NOMEM, "out of memory for the LoRA bias of %s", module);
                    }
                    l->b = bt;
                }
                float * bd = bt->data, * db = ke_tensor_to_f32_alloc(e->diff_b);
                if (!db) {
                    return ke_err(err, KE_STATUS_NOMEM, "out of memory for the LoRA bias of %s", module);
                }
                for (int64_t i = 0; i < n_out; i++) {
                    bd[i] += strength * db[i];
                }
                free(db);
            }
            if (!e->down && !e->diff) {
                continue;
            }
            if (can_merge) {
                if (!W) {
                    int64_t ws[2] = { n_out, n_in };
                    if (!(wt = own_f32(c, 2, ws, l->w->name)) || to_f32_scaled(wt->data, l->w, 1.0f) < 0) {
                        return ke_err(err, KE_STATUS_NOMEM, "out of memory merging a LoRA into %s (%.1f MiB)", module,
                                      (double) (n_out * n_in) * 4.0 / 1048576.0);
                    }
                    W = wt->data;
                }
                if (e->down && merge_lowrank(W, e->up, e->down, entry_scale(e, strength), n_out, n_in, dim0(e->down)) < 0) {
                    return ke_err(err, KE_STATUS_NOMEM, "out of memory merging a LoRA into %s", module);
                }
                if (e->diff) {
                    float * dd = ke_tensor_to_f32_alloc(e->diff);
                    if (!dd) {
                        return ke_err(err, KE_STATUS_NOMEM, "out of memory merging a LoRA into %s", module);
                    }
                    for (int64_t i = 0; i < n_out * n_in; i++) {
                        W[i] += strength * dd[i];
                    }
                    free(dd);
                }
                continue;
            }
            // run-time terms
            if (!ll) {
                if (c->n_linears == c->cap_linears) {
                    int cap = c->cap_linears ? 2 * c->cap_linears : 64;
                    struct ke_lora_linear ** nl = realloc(c->linears, (size_t) cap * sizeof(*nl));
                    if (!nl) {
                        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
                    }
                    c->linears = nl;
                    c->cap_linears = cap;
                }
                if (!(ll = calloc(1, sizeof(*ll)))) {
                    return ke_err(err, KE_STATUS_NOMEM, "out of memory");
                }
                c->linears[c->n_linears++] = ll;
            }
            const int n_new = (e->down ? 1 : 0) + (e->diff ? 1 : 0);
            struct ke_lora_term * nt = realloc(ll->terms, (size_t) (ll->n_terms + n_new) * sizeof(*nt));
            if (!nt) {
                return ke_err(err, KE_STATUS_NOMEM, "out of memory");
            }
            ll->terms = nt;
            for (int k = 0; k < ll->n_terms; k++) {
                // the array moved: the linears point at their own tensors again
                nt[k].a.w = nt[k].a.w ? &nt[k].ta : NULL;
                nt[k].b.w = nt[k].b.w ? &nt[k].tb : NULL;
            }
            for (int k = 0; k < n_new; k++) {
                struct ke_lora_term * t = &ll->terms[ll->n_terms];
                memset(t, 0, sizeof(*t));
                const bool low = e->down && k == 0;
                const int64_t r0 = low ? dim0(e->down) : 0;
                // the rank padded with zeros to a multiple of 8: the GEMM over the rank then has the row
                // alignment device GEMMs want (16 bytes in bf16) whatever the file's rank; the zeros add 0
                const int64_t r = (r0 + 7) & ~(int64_t) 7;
                int64_t as[2] = { low ? r : n_out, n_in }, bs[2] = { n_out, r };
                float * ad = calloc((size_t) (as[0] * as[1]), sizeof(float));
                float * bd = low ? calloc((size_t) (n_out * r), sizeof(float)) : NULL;
                float * ud = low ? malloc((size_t) (n_out * r0) * sizeof(float)) : NULL;
                if (!ad || (low && (!bd || !ud)) ||
                    to_f32_scaled(ad, low ? e->down : e->diff, low ? 1.0f : strength) < 0 ||
                    (low && to_f32_scaled(ud, e->up, entry_scale(e, strength)) < 0)) {
                    free(ad);
                    free(bd);
                    free(ud);
                    return ke_err(err, KE_STATUS_NOMEM, "out of memory for the LoRA of %s", module);
                }
                for (int64_t o = 0; low && o < n_out; o++) {
                    memcpy(bd + o * r, ud + o * r0, (size_t) r0 * sizeof(float));
                }
                free(ud);
                ll->n_terms++;
                ke_tensor_init(&t->ta, KE_DTYPE_F32, 2, as, ad);
                // the names are the context's own: the DiT (and a backend's record of the linear) outlives
                // the LoRA file, which closes with the job
                if (low) {
                    ke_tensor_init(&t->tb, KE_DTYPE_F32, 2, bs, bd);
                }
                if (!(t->ta.name = strdup(low ? e->down->name : e->diff->name)) ||
                    (low && !(t->tb.name = strdup(e->up->name)))) {
                    return ke_err(err, KE_STATUS_NOMEM, "out of memory for the LoRA of %s", module);
                }
                t->a.w = &t->ta;
                t->a.n_out = as[0];
                t->a.n_in = n_in;
                if (c->be->ops->linear_prepare(c->be, &t->a) < 0) {
                    t->a.w = NULL;
                    return ke_err(err, KE_STATUS_NOMEM, "cannot prepare the LoRA of %s on the %s backend", module,
                                  c->be->ops->name);
                }
                if (low) {
                    t->b.w = &t->tb;
                    t->b.n_out = n_out;
                    t->b.n_in = r;
                    if (c->be->ops->linear_prepare(c->be, &t->b) < 0) {
                        t->b.w = NULL;
                        return ke_err(err, KE_STATUS_NOMEM, "cannot prepare the LoRA of %s on the %s backend", module,
                                      c->be->ops->name);
                    }
                }
            }
        }
    }
    if (W) {
        // back to the weight's own dtype when it was narrower (memory stays what it was)
        if (l->w->type == KE_DTYPE_BF16 || l->w->type == KE_DTYPE_F16) {
            uint16_t * h = (uint16_t *) W;   // in place: element i is read before any later one is written
            const bool bf = l->w->type == KE_DTYPE_BF16;
            for (int64_t i = 0; i < n_out * n_in; i++) {
                h[i] = bf ? ke_f32_to_bf16(W[i]) : ke_f32_to_f16(W[i]);
            }
            int64_t ws[2] = { n_out, n_in };
            ke_tensor_init(wt, l->w->type, 2, ws, W);
        }
        l->w = wt;
    }
    l->lora = ll;
    return KE_STATUS_OK;
}

enum ke_status ke_lora_ctx_vector(struct ke_lora_ctx * c, float * host, int64_t n, const char * param,
                                  struct ke_error * err)
{
    if (!c) {
        return KE_STATUS_OK;
    }
    char module[512];
    size_t pl = strlen(param);
    bool bias = pl > 5 && strcmp(param + pl - 5, ".bias") == 0;
    bool weight = pl > 7 && strcmp(param + pl - 7, ".weight") == 0;
    if (pl >= sizeof(module)) {
        return KE_STATUS_OK;
    }
    memcpy(module, param, pl + 1);
    if (bias || weight) {
        module[pl - (bias ? 5 : 7)] = '\0';
    }
    for (int u = 0; u < c->n_uses; u++) {
        const struct ke_lora_file * f = c->uses[u].file;
        for (int j = 0; j < f->n_entries; j++) {
            const struct ke_lora_entry * e = &f->entries[j];
            const struct ke_tensor * d = bias ? e->diff_b : e->diff;
            if (!d || !module_is(e, module)) {
                continue;
            }
            c->used[u][j] = true;
            if (ke_tensor_nelements(d) != n) {
                char sb[96];
                return ke_err(err, KE_STATUS_SHAPE, "%s: LoRA tensor '%s' has shape %s; the model's %s has %lld elements",
                              ke_tset_path(f->set), d->name, ke_tensor_shape_str(d, sb, sizeof(sb)), param, (long long) n);
            }
            float * h = ke_tensor_to_f32_alloc(d);
            if (!h) {
                return ke_err(err, KE_STATUS_NOMEM, "out of memory");
            }
            for (int64_t i = 0; i < n; i++) {
                host[i] += c->uses[u].strength * h[i];
            }
            free(h);
        }
    }
    return KE_STATUS_OK;
}

// Unmatched keys: a LoRA that matches nothing is for another model (or not a LoRA): an error, since
// running without it would silently give the base model's video. Some keys matching nothing is common
// (a Wan2.1 I2V LoRA's k_img/v_img on a Wan2.2 model, text-encoder keys in a combined file), and
// ComfyUI reports them as "lora key not loaded" and goes on: a warning listing them.
enum ke_status ke_lora_ctx_finish(struct ke_lora_ctx * c, struct ke_error * err)
{
    if (!c) {
        return KE_STATUS_OK;
    }
    for (int u = 0; u < c->n_uses; u++) {
        const struct ke_lora_file * f = c->uses[u].file;
        int n_used = 0;
        for (int j = 0; j < f->n_entries; j++) {
            n_used += c->used[u][j];
        }
        if (n_used == 0) {
            return ke_err(err, KE_STATUS_MISSING,
                          "%s: no key of this LoRA matches a layer of the model (first key: '%s'): it is for another "
                          "model, or not a LoRA", ke_tset_path(f->set), f->n_entries > 0 ? f->entries[0].key : "none");
        }
        if (n_used < f->n_entries) {
            char list[700] = "";
            size_t o = 0;
            int listed = 0;
            for (int j = 0; j < f->n_entries; j++) {
                if (c->used[u][j]) {
                    continue;
                }
                int w = snprintf(list + o, sizeof(list) - o, "%s'%s'", listed ? ", " : "", f->entries[j].key);
                if (w < 0 || (size_t) w >= sizeof(list) - o - 8) {
                    snprintf(list + o, sizeof(list) - o, ", ...");
                    break;
                }
                o += (size_t) w;
                listed++;
            }
            ke_log(1, "%s: %d of %d LoRA layers match nothing in the model and are ignored: %s", ke_tset_path(f->set),
                   f->n_entries - n_used, f->n_entries, list);
        }
    }
    return KE_STATUS_OK;
}

// --- run time ------------------------------------------------------------------------------------------

// The terms run over row chunks whose scratch (rank + 2 outputs per row, f32) stays near this size
// whatever the token count: an A14B ffn.0 at 720p (75600 tokens x 13824) would need 8 GiB at once; in
// 256 MiB it takes ~32 passes, each a few large GEMMs.
#define LORA_SCRATCH_BYTES ((size_t) 256 << 20)
#define LORA_MIN_ROWS 256

void ke_lora_scratch_free(struct ke_backend * be, struct ke_lora_scratch * s)
{
    ke_be_free(be, s->mem);
    s->mem = NULL;
    s->size = 0;
}

// Scratch of rank + 2 * n_out floats per row of a chunk: t (rank), u and h (n_out).
static float * scratch(struct ke_backend * be, struct ke_lora_scratch * s, const struct ke_linear * l, int64_t rows,
                       int64_t * rank)
{
    int64_t rmax = 0;
    for (int i = 0; i < l->lora->n_terms; i++) {
        const struct ke_lora_term * t = &l->lora->terms[i];
        if (t->b.w && t->a.n_out > rmax) {
            rmax = t->a.n_out;
        }
    }
    *rank = rmax;
    const size_t need = (size_t) (rows * (rmax + 2 * l->n_out)) * sizeof(float) + 512;
    if (need > s->size) {
        ke_be_free(be, s->mem);
        s->mem = ke_be_alloc(be, need);
        s->size = s->mem ? need : 0;
        if (!s->mem) {
            ke_be_fail(be, KE_STATUS_NOMEM, "out of memory for the LoRA scratch (%zu bytes)", need);
            return NULL;
        }
    }
    return s->mem;
}

// u[ch, n_out] = the term's output for ch rows of x (xbuf or f32); t: rank scratch.
static void term_out(struct ke_backend * be, float * u, float * t, const void * x, bool xb, int64_t ch,
                     const struct ke_lora_term * tm)
{
    const struct ke_backend_ops * op = be->ops;
    float * first = tm->b.w ? t : u;
    if (xb) {
        op->linear_x(be, first, x, ch, &tm->a);
    } else {
        op->linear(be, first, x, ch, &tm->a);
    }
    if (tm->b.w) {
        op->linear(be, u, t, ch, &tm->b);
    }
}

enum combine { ADD, GATED, GELU };

static void apply_terms(struct ke_backend * be, struct ke_lora_scratch * s, void * y, const void * x, bool xb,
                        int64_t M, const struct ke_linear * l, enum combine how, const float * gate,
                        int64_t gate_stride, const int32_t * sel)
{
    const struct ke_backend_ops * op = be->ops;
    int64_t rmax = 0;
    for (int i = 0; i < l->lora->n_terms; i++) {
        const struct ke_lora_term * t = &l->lora->terms[i];
        if (t->b.w && t->a.n_out > rmax) {
            rmax = t->a.n_out;
        }
    }
    int64_t chunk = (int64_t) (LORA_SCRATCH_BYTES / ((size_t) (rmax + 2 * l->n_out) * sizeof(float)));
    chunk = chunk < LORA_MIN_ROWS ? LORA_MIN_ROWS : chunk;
    // tests split the tiny fixtures' few tokens into uneven chunks with this
    const char * force = getenv("KINORA_LORA_CHUNK_ROWS");
    if (force && atoi(force) > 0) {
        chunk = atoi(force);
    }
    chunk = chunk > M ? M : chunk;
    float * base = scratch(be, s, l, chunk, &rmax);
    if (!base) {
        return;
    }
    float * t = base, * u = base + chunk * rmax, * h = u + chunk * l->n_out;
    const size_t in_row = (size_t) l->n_in * (xb ? op->xbuf_elem : sizeof(float));
    for (int64_t r0 = 0; r0 < M; r0 += chunk) {
        const int64_t ch = M - r0 < chunk ? M - r0 : chunk;
        const void * xc = (const char *) x + (size_t) r0 * in_row;
        float * yc = how == GELU ? h : (float *) y + r0 * l->n_out;
        if (how == GELU) {
            op->linear_x(be, h, xc, ch, l);
        }
        for (int i = 0; i < l->lora->n_terms; i++) {
            term_out(be, u, t, xc, xb, ch, &l->lora->terms[i]);
            if (how == GATED) {
                op->gated_add(be, yc, u, ch, l->n_out, gate, gate_stride, sel ? sel + r0 : NULL);
            } else {
                op->add(be, yc, yc, u, ch * l->n_out);
            }
        }
        if (how == GELU) {
            op->gelu_tanh(be, h, ch * l->n_out);
            op->to_xbuf(be, (struct ke_xbuf *) ((char *) y + (size_t) (r0 * l->n_out) * op->xbuf_elem), h,
                        ch * l->n_out);
        }
    }
}

void ke_lora_linear(struct ke_backend * be, struct ke_lora_scratch * s, float * y, const float * x, int64_t M,
                    const struct ke_linear * l)
{
    be->ops->linear(be, y, x, M, l);
    if (l->lora && M > 0) {
        apply_terms(be, s, y, x, false, M, l, ADD, NULL, 0, NULL);
    }
}

void ke_lora_linear_x(struct ke_backend * be, struct ke_lora_scratch * s, float * y, const struct ke_xbuf * x,
                      int64_t M, const struct ke_linear * l)
{
    be->ops->linear_x(be, y, x, M, l);
    if (l->lora && M > 0) {
        apply_terms(be, s, y, x, true, M, l, ADD, NULL, 0, NULL);
    }
}

void ke_lora_linear_gelu_x(struct ke_backend * be, struct ke_lora_scratch * s, struct ke_xbuf * y,
                           const struct ke_xbuf * x, int64_t M, const struct ke_linear * l)
{
    if (!l->lora) {
        be->ops->linear_gelu_x(be, y, x, M, l);
        return;
    }
    // the terms go in before the GELU: linear, terms, GELU, to xbuf (the composition the fused op is)
    if (M > 0) {
        apply_terms(be, s, y, x, true, M, l, GELU, NULL, 0, NULL);
    }
}

void ke_lora_linear_gated_add_x(struct ke_backend * be, struct ke_lora_scratch * s, float * r,
                                const struct ke_xbuf * x, int64_t M, const struct ke_linear * l, const float * gate,
                                int64_t gate_stride, const int32_t * sel, float * tmp)
{
    be->ops->linear_gated_add_x(be, r, x, M, l, gate, gate_stride, sel, tmp);
    if (l->lora && M > 0) {
        // r += gate * (W x + terms) = the op, then each term gated the same way
        apply_terms(be, s, r, x, true, M, l, GATED, gate, gate_stride, sel);
    }
}
