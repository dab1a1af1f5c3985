// Kinora engine: how an LTX-Video run fits a device memory budget (the counterpart of wan.c's
// ke_dit_plan_memory for the transformer of ltx-transformer.c, and the untiled decode of ltx-vae-run.c).
// Model-free sizes, so the pre-flight estimate (estimate-ltx.c) and the run (ltx-model.c) plan alike.
#include <stdio.h>
#include <string.h>

#include "core/tensor.h"
#include "models/ltx/ltx-transformer.h"
#include "models/ltx/ltx-vae.h"

size_t ke_ltx_weight_permille(enum ke_dtype type)
{
    if (type == KE_DTYPE_F8_E4M3) {
        return 1000;
    }
    if (ke_dtype_is_quantized(type)) {
        const size_t bk = (size_t) ke_dtype_block(type);
        return (ke_dtype_size(type) * 1000 + bk - 1) / bk;
    }
    return 2000;   // f32, f16 and bf16 weights become bf16 on a device
}

size_t ke_ltx_dit_weight_permille(const struct ke_tensor_set * w)
{
    static const char * const names[] = {
        "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "attn2.to_q", "attn2.to_k", "attn2.to_v",
        "attn2.to_out.0", "ff.net.0.proj", "ff.net.2",
    };
    size_t worst = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char n[128];
        snprintf(n, sizeof(n), "transformer_blocks.0.%s.weight", names[i]);
        const struct ke_tensor * t = ke_tset_get(w, n);
        if (!t) {
            snprintf(n, sizeof(n), "model.diffusion_model.transformer_blocks.0.%s.weight", names[i]);
            t = ke_tset_get(w, n);
        }
        if (t) {
            const size_t pm = ke_ltx_weight_permille(t->type);
            worst = pm > worst ? pm : worst;
        }
    }
    return worst ? worst : 2000;
}

void ke_ltx_dit_plan_memory(const struct ke_ltx_dit_config * c, size_t weight_permille, int64_t n_tok, int n_text,
                            size_t xbuf_elem, size_t budget, struct ke_ltx_dit_mem_plan * plan)
{
    memset(plan, 0, sizeof(*plan));
    const size_t D = (size_t) c->inner_dim, FF = (size_t) c->ffn_dim, N = (size_t) n_tok, xe = xbuf_elem;
    const size_t Dc = (size_t) c->cross_attention_dim, wpm = weight_permille;
    // patchify_proj, the timestep embedder, adaln_single, the caption projection, proj_out
    const size_t top = D * (size_t) c->in_channels + D * (size_t) c->freq_dim + D * D + 6 * D * D +
                       D * (size_t) c->caption_channels + D * D + (size_t) c->out_channels * D;
    // what a forward reads of a block (attn2's to_k/to_v only make the prompt's context)
    const size_t read = 6 * D * D + 2 * D * FF;
    plan->block = (read * wpm + 999) / 1000;
    plan->weights = ((top + (size_t) c->num_layers * (read + 2 * D * Dc)) * wpm + 999) / 1000;
    // the forward's buffers (ke_ltx_dit_forward): xin, h, q, k, v, o in f32, xn, qx, kx, vx, ox and the FF
    // hidden state as xbufs, the timestep rows (two distinct timesteps with an image), the RoPE table
    // (N, D/2, 2) f32, and the prompt's K/V of every block
    size_t act = N * (size_t) c->in_channels * 4 + 4 * N * D * 4 + N * (size_t) c->out_channels * 4 +
                 5 * N * D * xe + N * FF * xe + 2 * (256 + 15 * D) * 4 + N * 4;
    act += act / 4;   // size classes round each allocation up by up to 25 %
    act += N * D * 4 + 2 * (size_t) c->num_layers * (size_t) n_text * D * xe;
    // per-GEMM scratch: room for the attention workspaces and the bf16 dequantizations of the last two
    // weights kept narrower (fp8, block types: the 13B FF weight is 128 MiB in bf16)
    act += (size_t) 384 << 20;
    plan->activations = act;
    ke_ltx_dit_plan_fit(plan, budget);
}

void ke_ltx_dit_plan_fit(struct ke_ltx_dit_mem_plan * plan, size_t budget)
{
    const size_t act = plan->activations;
    plan->streams = false;
    if (act + plan->weights <= budget) {
        plan->weight_cap = SIZE_MAX;
        plan->fits = true;
        return;
    }
    // the blocks stream through a double buffer of two blocks; what stays resident is capped so that the
    // activations keep their room
    plan->streams = true;
    const size_t fixed = act + 2 * plan->block;
    plan->fits = fixed < budget;
    plan->weight_cap = plan->fits ? budget - fixed : 0;
}

void ke_ltx_vae_levels(const struct ke_ltx_vae_config * vc, int * top_channels, int * levels)
{
    // the decoder widens its base channels by each upsampling block's multiplier, counted from the top
    int ch = vc->decoder_base_channels, n = 0;
    for (int i = 0; i < vc->n_dec; i++) {
        if (vc->dec[i].kind != KE_LTX_RES_X) {
            ch *= vc->dec[i].multiplier > 0 ? vc->dec[i].multiplier : 1;
            n++;
        }
    }
    *top_channels = ch;
    *levels = n;
}

double ke_ltx_decode_bytes(int top_channels, int levels, int T, int lh, int lw, int n_frames, int s_scale)
{
    // three f32 feature maps of the level of widest total size (a res_x block's input, its conv output and
    // the next conv's), each level halving the channels and doubling the frames (up to the clip's), the
    // height and the width; then the f32 output [3, frames, lh * s_scale, lw * s_scale]
    double widest = 0;
    for (int l = 0; l <= levels; l++) {
        const double s = (double) (1 << l);
        const double ch = top_channels / s, tl = (T - 1) * s + 1;
        const double lvl = ch * (tl > n_frames ? n_frames : tl) * lh * s * lw * s * 4.0;
        widest = lvl > widest ? lvl : widest;
    }
    return 3.0 * widest + 3.0 * n_frames * (double) lh * s_scale * lw * s_scale * 4.0;
}
