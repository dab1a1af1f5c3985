// Kinora engine: checkpoint name conversion to official Wan names (wan22-spec §2.4, §2.6, §2.7).
// Rules are patterns over dotted names: '#' matches a decimal index, '*' one name segment; the
// replacement refers to the captures in order as $1, $2.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "loaders/name-map.h"

struct name_rule {
    const char * from;
    const char * to;
    const char * style;     // the convention this rule recognises
};

// --- UMT5 encoder: HF/Diffusers/ComfyUI (`encoder.block.i.layer...`) and llama.cpp GGUF ------------

static const struct name_rule t5_rules[] = {
    { "shared.weight", "token_embedding.weight", "hf" },
    { "encoder.embed_tokens.weight", "token_embedding.weight", "hf" },
    { "encoder.final_layer_norm.weight", "norm.weight", "hf" },
    { "encoder.block.#.layer.0.layer_norm.weight", "blocks.$1.norm1.weight", "hf" },
    { "encoder.block.#.layer.0.SelfAttention.relative_attention_bias.weight",
      "blocks.$1.pos_embedding.embedding.weight", "hf" },
    { "encoder.block.#.layer.0.SelfAttention.*.weight", "blocks.$1.attn.$2.weight", "hf" },
    { "encoder.block.#.layer.1.layer_norm.weight", "blocks.$1.norm2.weight", "hf" },
    { "encoder.block.#.layer.1.DenseReluDense.wi_0.weight", "blocks.$1.ffn.gate.0.weight", "hf" },
    { "encoder.block.#.layer.1.DenseReluDense.wi_1.weight", "blocks.$1.ffn.fc1.weight", "hf" },
    { "encoder.block.#.layer.1.DenseReluDense.wo.weight", "blocks.$1.ffn.fc2.weight", "hf" },
    { "encoder.block.#.layer.0.SelfAttention.*.scale_weight", "blocks.$1.attn.$2.scale_weight", "hf" },
    { "encoder.block.#.layer.1.DenseReluDense.wi_0.scale_weight", "blocks.$1.ffn.gate.0.scale_weight", "hf" },
    { "encoder.block.#.layer.1.DenseReluDense.wi_1.scale_weight", "blocks.$1.ffn.fc1.scale_weight", "hf" },
    { "encoder.block.#.layer.1.DenseReluDense.wo.scale_weight", "blocks.$1.ffn.fc2.scale_weight", "hf" },
    { "token_embd.weight", "token_embedding.weight", "gguf" },
    { "enc.output_norm.weight", "norm.weight", "gguf" },
    { "enc.blk.#.attn_norm.weight", "blocks.$1.norm1.weight", "gguf" },
    { "enc.blk.#.attn_q.weight", "blocks.$1.attn.q.weight", "gguf" },
    { "enc.blk.#.attn_k.weight", "blocks.$1.attn.k.weight", "gguf" },
    { "enc.blk.#.attn_v.weight", "blocks.$1.attn.v.weight", "gguf" },
    { "enc.blk.#.attn_o.weight", "blocks.$1.attn.o.weight", "gguf" },
    { "enc.blk.#.attn_rel_b.weight", "blocks.$1.pos_embedding.embedding.weight", "gguf" },
    { "enc.blk.#.ffn_norm.weight", "blocks.$1.norm2.weight", "gguf" },
    { "enc.blk.#.ffn_gate.weight", "blocks.$1.ffn.gate.0.weight", "gguf" },
    { "enc.blk.#.ffn_up.weight", "blocks.$1.ffn.fc1.weight", "gguf" },
    { "enc.blk.#.ffn_down.weight", "blocks.$1.ffn.fc2.weight", "gguf" },
    { NULL, NULL, NULL },
};

static const char * const t5_prefixes[] = {
    "text_encoders.umt5xxl.transformer.", "umt5xxl.transformer.", "text_encoder.",
    // T5 v1.1 XXL: ComfyUI checkpoints that embed t5xxl (its single t5xxl_*.safetensors carry the HF names)
    "text_encoders.t5xxl.transformer.", "t5xxl.transformer.", NULL,
};

// --- DiT: Diffusers WanTransformer3DModel -> WanModel ------------------------------------------

static const struct name_rule dit_rules[] = {
    { "condition_embedder.time_embedder.linear_1.*", "time_embedding.0.$1", "diffusers" },
    { "condition_embedder.time_embedder.linear_2.*", "time_embedding.2.$1", "diffusers" },
    { "condition_embedder.text_embedder.linear_1.*", "text_embedding.0.$1", "diffusers" },
    { "condition_embedder.text_embedder.linear_2.*", "text_embedding.2.$1", "diffusers" },
    { "condition_embedder.time_proj.*", "time_projection.1.$1", "diffusers" },
    { "condition_embedder.image_embedder.norm1.*", "img_emb.proj.0.$1", "diffusers" },
    { "condition_embedder.image_embedder.ff.net.0.proj.*", "img_emb.proj.1.$1", "diffusers" },
    { "condition_embedder.image_embedder.ff.net.2.*", "img_emb.proj.3.$1", "diffusers" },
    { "condition_embedder.image_embedder.norm2.*", "img_emb.proj.4.$1", "diffusers" },
    { "condition_embedder.image_embedder.pos_embed", "img_emb.emb_pos", "diffusers" },
    { "scale_shift_table", "head.modulation", "diffusers" },
    { "proj_out.*", "head.head.$1", "diffusers" },
    { "blocks.#.scale_shift_table", "blocks.$1.modulation", "diffusers" },
    { "blocks.#.ffn.net.0.proj.*", "blocks.$1.ffn.0.$2", "diffusers" },
    { "blocks.#.ffn.net.2.*", "blocks.$1.ffn.2.$2", "diffusers" },
    { "blocks.#.norm2.*", "blocks.$1.norm3.$2", "diffusers" },
    { "blocks.#.attn1.to_q.*", "blocks.$1.self_attn.q.$2", "diffusers" },
    { "blocks.#.attn1.to_k.*", "blocks.$1.self_attn.k.$2", "diffusers" },
    { "blocks.#.attn1.to_v.*", "blocks.$1.self_attn.v.$2", "diffusers" },
    { "blocks.#.attn1.to_out.0.*", "blocks.$1.self_attn.o.$2", "diffusers" },
    { "blocks.#.attn1.norm_q.*", "blocks.$1.self_attn.norm_q.$2", "diffusers" },
    { "blocks.#.attn1.norm_k.*", "blocks.$1.self_attn.norm_k.$2", "diffusers" },
    { "blocks.#.attn2.to_q.*", "blocks.$1.cross_attn.q.$2", "diffusers" },
    { "blocks.#.attn2.to_k.*", "blocks.$1.cross_attn.k.$2", "diffusers" },
    { "blocks.#.attn2.to_v.*", "blocks.$1.cross_attn.v.$2", "diffusers" },
    { "blocks.#.attn2.to_out.0.*", "blocks.$1.cross_attn.o.$2", "diffusers" },
    { "blocks.#.attn2.norm_q.*", "blocks.$1.cross_attn.norm_q.$2", "diffusers" },
    { "blocks.#.attn2.norm_k.*", "blocks.$1.cross_attn.norm_k.$2", "diffusers" },
    { "blocks.#.attn2.add_k_proj.*", "blocks.$1.cross_attn.k_img.$2", "diffusers" },
    { "blocks.#.attn2.add_v_proj.*", "blocks.$1.cross_attn.v_img.$2", "diffusers" },
    { "blocks.#.attn2.norm_added_k.*", "blocks.$1.cross_attn.norm_k_img.$2", "diffusers" },
    { NULL, NULL, NULL },
};

static const char * const dit_prefixes[] = { "model.diffusion_model.", NULL };
static const char * const vae_prefixes[] = { "first_stage_model.", "vae.", NULL };

// --- matcher --------------------------------------------------------------------------------------

#define MAX_CAPS 4

// Match `name` against `pat`; captures are (start, length) pairs into name.
static int match(const char * pat, const char * name, const char ** cap, size_t * cap_len, int * n_cap)
{
    *n_cap = 0;
    while (*pat) {
        if (*pat == '#' || *pat == '*') {
            const char * s = name;
            if (*pat == '#') {
                while (*name >= '0' && *name <= '9') {
                    name++;
                }
            } else {
                while (*name && *name != '.') {
                    name++;
                }
            }
            if (name == s || *n_cap >= MAX_CAPS) {
                return 0;
            }
            cap[*n_cap] = s;
            cap_len[*n_cap] = (size_t) (name - s);
            (*n_cap)++;
            pat++;
            continue;
        }
        if (*pat != *name) {
            return 0;
        }
        pat++;
        name++;
    }
    return *name == '\0';
}

static int expand(const char * to, const char ** cap, const size_t * cap_len, int n_cap, char * out, size_t out_size)
{
    size_t o = 0;
    for (const char * p = to; *p; p++) {
        if (p[0] == '$' && p[1] >= '1' && p[1] <= '9' && p[1] - '1' < n_cap) {
            int c = p[1] - '1';
            if (o + cap_len[c] >= out_size) {
                return -1;
            }
            memcpy(out + o, cap[c], cap_len[c]);
            o += cap_len[c];
            p++;
            continue;
        }
        if (o + 1 >= out_size) {
            return -1;
        }
        out[o++] = *p;
    }
    out[o] = '\0';
    return 0;
}

static const struct name_rule * rules_of(enum ke_name_role role)
{
    switch (role) {
    case KE_NAME_ROLE_T5:
        return t5_rules;
    case KE_NAME_ROLE_DIT:
        return dit_rules;
    default:
        return NULL;
    }
}

static const char * const * prefixes_of(enum ke_name_role role)
{
    switch (role) {
    case KE_NAME_ROLE_T5:
        return t5_prefixes;
    case KE_NAME_ROLE_DIT:
        return dit_prefixes;
    default:
        return vae_prefixes;
    }
}

static const struct name_rule * map_one(enum ke_name_role role, const char * name, char * out, size_t out_size)
{
    const struct name_rule * r = rules_of(role);
    for (; r && r->from; r++) {
        const char * cap[MAX_CAPS];
        size_t cap_len[MAX_CAPS];
        int n_cap;
        if (match(r->from, name, cap, cap_len, &n_cap) && expand(r->to, cap, cap_len, n_cap, out, out_size) == 0) {
            return r;
        }
    }
    return NULL;
}

int ke_name_map_one(enum ke_name_role role, const char * name, char * out, size_t out_size)
{
    return map_one(role, name, out, out_size) != NULL;
}

// --- VAE: Diffusers AutoencoderKLWan -> WanVAE_ (index arithmetic, so code instead of a table) ------

// Inside a residual block: norm1.gamma, conv1, norm2.gamma, conv2, conv_shortcut -> residual.0.gamma,
// residual.2, residual.3.gamma, residual.6, shortcut. Resampler names (resample.1, time_conv) pass.
static int vae_inner(const char * in, char * out, size_t n)
{
    static const char * const map[][2] = {
        { "norm1.", "residual.0." }, { "conv1.", "residual.2." }, { "norm2.", "residual.3." },
        { "conv2.", "residual.6." }, { "conv_shortcut.", "shortcut." },
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        size_t l = strlen(map[i][0]);
        if (strncmp(in, map[i][0], l) == 0) {
            return snprintf(out, n, "%s%s", map[i][1], in + l) < (int) n ? 0 : -1;
        }
    }
    return snprintf(out, n, "%s", in) < (int) n ? 0 : -1;
}

// Parse "<prefix><int>." at s; returns the rest after the dot or NULL.
static const char * take_index(const char * s, const char * prefix, int * v)
{
    size_t l = strlen(prefix);
    if (strncmp(s, prefix, l) != 0 || s[l] < '0' || s[l] > '9') {
        return NULL;
    }
    char * end;
    long x = strtol(s + l, &end, 10);
    if (*end != '.' || x < 0 || x > 100000) {
        return NULL;
    }
    *v = (int) x;
    return end + 1;
}

// v22: the nested Wan2.2 layout (down_blocks.S.resnets.J / .downsampler, up_blocks.S.upsampler).
static int map_vae(const char * name, bool v22, char * out, size_t n)
{
    static const char * const top[][2] = {
        { "quant_conv.", "conv1." }, { "post_quant_conv.", "conv2." },
    };
    static const char * const part[][2] = {
        { "conv_in.", "conv1." }, { "norm_out.", "head.0." }, { "conv_out.", "head.2." },
        { "mid_block.attentions.0.", "middle.1." },
    };
    for (size_t i = 0; i < 2; i++) {
        size_t l = strlen(top[i][0]);
        if (strncmp(name, top[i][0], l) == 0) {
            return snprintf(out, n, "%s%s", top[i][1], name + l) < (int) n;
        }
    }
    const char * side = strncmp(name, "encoder.", 8) == 0 ? "encoder" : strncmp(name, "decoder.", 8) == 0 ? "decoder" : NULL;
    if (!side) {
        return 0;
    }
    const char * r = name + 8;
    char inner[400];
    int a, b;
    const char * rest;
    for (size_t i = 0; i < sizeof(part) / sizeof(part[0]); i++) {
        size_t l = strlen(part[i][0]);
        if (strncmp(r, part[i][0], l) == 0) {
            return snprintf(out, n, "%s.%s%s", side, part[i][1], r + l) < (int) n;
        }
    }
    if ((rest = take_index(r, "mid_block.resnets.", &a)) && a <= 1) {
        return vae_inner(rest, inner, sizeof(inner)) == 0 &&
               snprintf(out, n, "%s.middle.%d.%s", side, 2 * a, inner) < (int) n;
    }
    if (side[0] == 'e' && (rest = take_index(r, "down_blocks.", &a))) {
        const char * rr;
        if (v22 && (rr = take_index(rest, "resnets.", &b))) {
            return vae_inner(rr, inner, sizeof(inner)) == 0 &&
                   snprintf(out, n, "encoder.downsamples.%d.downsamples.%d.%s", a, b, inner) < (int) n;
        }
        if (v22 && strncmp(rest, "downsampler.", 12) == 0) {
            return snprintf(out, n, "encoder.downsamples.%d.downsamples.2.%s", a, rest + 12) < (int) n;
        }
        if (!v22) {
            return vae_inner(rest, inner, sizeof(inner)) == 0 &&
                   snprintf(out, n, "encoder.downsamples.%d.%s", a, inner) < (int) n;
        }
        return 0;
    }
    if (side[0] == 'd' && (rest = take_index(r, "up_blocks.", &a))) {
        const char * rr;
        if ((rr = take_index(rest, "resnets.", &b))) {
            if (vae_inner(rr, inner, sizeof(inner)) < 0) {
                return 0;
            }
            return v22 ? snprintf(out, n, "decoder.upsamples.%d.upsamples.%d.%s", a, b, inner) < (int) n
                       : snprintf(out, n, "decoder.upsamples.%d.%s", 4 * a + b, inner) < (int) n;
        }
        if (v22 && strncmp(rest, "upsampler.", 10) == 0) {
            return snprintf(out, n, "decoder.upsamples.%d.upsamples.3.%s", a, rest + 10) < (int) n;
        }
        if (!v22 && strncmp(rest, "upsamplers.0.", 13) == 0) {
            return snprintf(out, n, "decoder.upsamples.%d.%s", 4 * a + 3, rest + 13) < (int) n;
        }
    }
    return 0;
}

// Diffusers Wan2.2 VAEs nest their stages; Wan2.1's encoder list is flat.
static bool vae_is_v22(const struct ke_tensor_set * s)
{
    for (int i = 0; i < ke_tset_count(s); i++) {
        const char * nm = ke_tset_at(s, i)->name;
        int a;
        const char * rest = take_index(nm, "encoder.down_blocks.", &a);
        if ((rest && (strncmp(rest, "resnets.", 8) == 0 || strncmp(rest, "downsampler.", 12) == 0)) ||
            ((rest = take_index(nm, "decoder.up_blocks.", &a)) && strncmp(rest, "upsampler.", 10) == 0)) {
            return true;
        }
    }
    return false;
}

int ke_name_map_vae(const char * name, bool v22, char * out, size_t out_size)
{
    return map_vae(name, v22, out, out_size);
}

// --- apply ----------------------------------------------------------------------------------------

// Strip a wrapper prefix when every tensor (but marker tensors) carries it.
static void strip_prefixes(struct ke_tensor_set * s, enum ke_name_role role)
{
    for (const char * const * p = prefixes_of(role); *p; p++) {
        size_t pl = strlen(*p);
        int with = 0;
        for (int i = 0; i < ke_tset_count(s); i++) {
            with += strncmp(ke_tset_at(s, i)->name, *p, pl) == 0;
        }
        if (with > 0) {
            ke_tset_strip_prefix(s, *p);
        }
    }
}

// ComfyUI fp8 scaled files: `<layer>.scale_weight` (fp32, one element) multiplies `<layer>.weight`.
static enum ke_status fold_scales(struct ke_tensor_set * s, struct ke_error * err)
{
    const char * suffix = ".scale_weight";
    size_t sl = strlen(suffix);
    for (int i = 0; i < ke_tset_count(s); i++) {
        const struct ke_tensor * t = ke_tset_at(s, i);
        size_t nl = strlen(t->name);
        if (nl <= sl || strcmp(t->name + nl - sl, suffix) != 0) {
            continue;
        }
        char wname[512];
        if (nl - sl + 8 >= sizeof(wname)) {
            continue;
        }
        memcpy(wname, t->name, nl - sl);
        memcpy(wname + nl - sl, ".weight", 8);
        struct ke_tensor * w = ke_tset_get(s, wname);
        if (!w) {
            continue;
        }
        if (ke_tensor_nelements(t) != 1 || t->type == KE_DTYPE_I64 || t->type == KE_DTYPE_I32) {
            return ke_err(err, KE_STATUS_SHAPE, "%s: tensor '%s': a per-tensor scale must be one float, got %lld elements",
                          ke_tset_path(s), t->name, (long long) ke_tensor_nelements(t));
        }
        float v;
        ke_convert_to_f32(&v, t->data, t->type, t->scale, 1);
        w->scale *= v;
    }
    return KE_STATUS_OK;
}

enum ke_status ke_name_map_apply(struct ke_tensor_set * s, enum ke_name_role role, struct ke_error * err)
{
    strip_prefixes(s, role);
    const char * style = "official";
    int n = ke_tset_count(s);
    const bool v22 = role == KE_NAME_ROLE_VAE && vae_is_v22(s);
    // names first (renaming reorders nothing: indices stay valid)
    for (int i = 0; i < n; i++) {
        const char * name = ke_tset_at(s, i)->name;
        char to[512];
        const char * rule_style = NULL;
        if (role == KE_NAME_ROLE_VAE) {
            rule_style = map_vae(name, v22, to, sizeof(to)) && strcmp(to, name) != 0 ? "diffusers" : NULL;
        } else {
            const struct name_rule * r = map_one(role, name, to, sizeof(to));
            rule_style = r ? r->style : NULL;
        }
        if (!rule_style) {
            continue;
        }
        if (ke_tset_get(s, to)) {
            // e.g. both `shared.weight` and `encoder.embed_tokens.weight`: keep the first, leave this one
            continue;
        }
        char from[512];
        snprintf(from, sizeof(from), "%s", name);
        enum ke_status st = ke_tset_rename(s, from, to, err);
        if (st != KE_STATUS_OK) {
            return st;
        }
        style = rule_style;
    }
    if (ke_tset_set_meta(s, "name_style", style) < 0) {
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", ke_tset_path(s));
    }
    return fold_scales(s, err);
}
