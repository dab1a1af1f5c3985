// Kinora engine: the Wan DiT forward pass (official Wan2.2 wan/modules/model.py, commit 42bf4cf)
// over the backend op table. Residual stream, norms, modulation and head in fp32; the Linear layers
// take the backend's precision. Cross-attention K/V of the text are computed once per context. The
// block runs the backend's named fused ops (backend.h): LayerNorm+modulate into the GEMM input,
// RMS norm+RoPE into the attention's q/k, GELU after ffn.0, the gated residual add after each output
// linear; intermediates between them travel as struct ke_xbuf (bf16 on CUDA, f32 on the CPU).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/common/lora.h"
#include "models/dit/wan.h"

// --- model --------------------------------------------------------------------------------------

struct dit_block {
    struct ke_linear sq, sk, sv, so;       // self-attention (dim, dim)
    struct ke_linear cq, ck, cv, co;       // cross-attention (dim, dim)
    struct ke_linear ffn0, ffn2;           // (ffn, dim), (dim, ffn)
    float * modulation;                    // backend (6, dim)
    float * s_norm_q, * s_norm_k;          // backend (dim)
    float * c_norm_q, * c_norm_k;          // backend (dim)
    float * norm3_w, * norm3_b;            // backend (dim)
};

struct ke_dit {
    struct ke_dit_config cfg;
    const struct ke_tensor_set * w;
    struct ke_backend * be;
    struct ke_linear patch;                // (dim, in_dim * ph * pw)
    struct ke_linear text0, text2;         // (dim, text_dim), (dim, dim)
    struct ke_linear time0, time2;         // (dim, freq_dim), (dim, dim)
    struct ke_linear proj;                 // (6 dim, dim)
    struct ke_linear head;                 // (ph pw out_dim, dim)
    float * head_mod;                      // backend (2, dim)
    struct dit_block * blocks;
    struct ke_tensor patch_w2d;            // 2-D view of the 5-D patch weight
    ke_dit_tap_fn tap;
    void * tap_user;
    struct ke_dit_residual * residual;    // step-cache hook (NULL: off)
    // activation arena (backend memory), sized for the last token count
    void * arena;
    size_t arena_size;
    // RoPE angles for the last latent grid (backend memory), rebuilt only when the grid changes
    float * rope;
    int rope_f, rope_h, rope_w;
    int64_t ffn_chunk;                     // tokens per FFN pass (0: all at once)
    // LoRAs: merged copies and run-time terms (owned), the terms' scratch (backend memory)
    struct ke_lora_ctx * lora;
    struct ke_lora_scratch lora_scr;
};

struct ke_dit_context {
    struct ke_dit * d;
    float * ctx;      // backend (text_len, dim): embedded text
    struct ke_xbuf ** kx, ** vx;   // per block backend (text_len, dim): cross-attention K (normed), V
};

const struct ke_dit_config * ke_dit_get_config(const struct ke_dit * d)
{
    return &d->cfg;
}

void ke_dit_set_residual(struct ke_dit * d, struct ke_dit_residual * r)
{
    d->residual = r;
}

void ke_dit_residual_free(struct ke_dit_residual * r)
{
    if (r && r->be) {
        ke_be_free(r->be, r->resid);
        r->resid = NULL;
        r->n = 0;
    }
}

void ke_dit_set_tap(struct ke_dit * d, ke_dit_tap_fn fn, void * user)
{
    d->tap = fn;
    d->tap_user = user;
}

// Look up a Linear (weight [out, in] + bias [out]) with shape checks, and prepare it on the backend.
static enum ke_status get_linear(struct ke_dit * d, struct ke_linear * l, const char * prefix, int64_t out,
                                 int64_t in, struct ke_error * err)
{
    char wn[128], bn[128];
    snprintf(wn, sizeof(wn), "%s.weight", prefix);
    snprintf(bn, sizeof(bn), "%s.bias", prefix);
    int64_t ws[2] = { out, in }, bs[1] = { out };
    memset(l, 0, sizeof(*l));
    l->w = ke_tset_require(d->w, wn, 2, ws, err);
    l->b = l->w ? ke_tset_require(d->w, bn, 1, bs, err) : NULL;
    if (!l->w || !l->b) {
        return err ? err->code : KE_STATUS_MISSING;
    }
    l->n_in = in;
    l->n_out = out;
    enum ke_status st = ke_be_linear_check(d->be, l->w, ke_tset_path(d->w), err);
    if (st != KE_STATUS_OK) {
        memset(l, 0, sizeof(*l));   // not prepared: nothing to release
        return st;
    }
    st = ke_lora_ctx_linear(d->lora, l, prefix, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    if (d->be->ops->linear_prepare(d->be, l) < 0) {
        return ke_err(err, KE_STATUS_NOMEM, "%s: cannot prepare '%s' on the %s backend", ke_tset_path(d->w), wn,
                      d->be->ops->name);
    }
    ke_be_linear_drop_source(d->be, l);
    return KE_STATUS_OK;
}

// Upload a small float vector parameter (any dtype) as f32 backend memory.
static float * get_vec(struct ke_dit * d, const char * name, int n_dims, const int64_t * shape, struct ke_error * err)
{
    const struct ke_tensor * t = ke_tset_require(d->w, name, n_dims, shape, err);
    if (!t) {
        return NULL;
    }
    float * host = ke_tensor_to_f32_alloc(t);
    size_t n = (size_t) ke_tensor_nelements(t);
    if (host && ke_lora_ctx_vector(d->lora, host, (int64_t) n, name, err) != KE_STATUS_OK) {
        free(host);
        return NULL;
    }
    float * dev = host ? ke_be_alloc(d->be, n * sizeof(float)) : NULL;
    if (!dev) {
        free(host);
        ke_err(err, KE_STATUS_NOMEM, "%s: out of memory for '%s'", ke_tset_path(d->w), name);
        return NULL;
    }
    d->be->ops->upload(d->be, dev, host, n * sizeof(float));
    free(host);
    return dev;
}

static void release_linear(struct ke_dit * d, struct ke_linear * l)
{
    if (l->w) {
        d->be->ops->linear_release(d->be, l);
    }
}

void ke_dit_free(struct ke_dit * d)
{
    if (!d) {
        return;
    }
    struct ke_linear * tops[] = { &d->patch, &d->text0, &d->text2, &d->time0, &d->time2, &d->proj, &d->head };
    for (size_t i = 0; i < sizeof(tops) / sizeof(tops[0]); i++) {
        release_linear(d, tops[i]);
    }
    for (int i = 0; d->blocks && i < d->cfg.num_layers; i++) {
        struct dit_block * b = &d->blocks[i];
        struct ke_linear * ls[] = { &b->sq, &b->sk, &b->sv, &b->so, &b->cq, &b->ck, &b->cv, &b->co, &b->ffn0, &b->ffn2 };
        for (size_t j = 0; j < sizeof(ls) / sizeof(ls[0]); j++) {
            release_linear(d, ls[j]);
        }
        float * vs[] = { b->modulation, b->s_norm_q, b->s_norm_k, b->c_norm_q, b->c_norm_k, b->norm3_w, b->norm3_b };
        for (size_t j = 0; j < sizeof(vs) / sizeof(vs[0]); j++) {
            ke_be_free(d->be, vs[j]);
        }
    }
    ke_be_free(d->be, d->head_mod);
    ke_be_free(d->be, d->arena);
    ke_be_free(d->be, d->rope);
    ke_lora_scratch_free(d->be, &d->lora_scr);
    ke_lora_ctx_free(d->lora);
    free(d->blocks);
    free(d);
}

enum ke_status ke_dit_init(struct ke_dit ** out, const struct ke_tensor_set * w, const char * config_json,
                           struct ke_backend * be, struct ke_error * err)
{
    return ke_dit_init_lora(out, w, config_json, be, NULL, 0, false, err);
}

enum ke_status ke_dit_init_lora(struct ke_dit ** out, const struct ke_tensor_set * w, const char * config_json,
                                struct ke_backend * be, const struct ke_lora_use * loras, int n_loras, bool merge,
                                struct ke_error * err)
{
    *out = NULL;
    struct ke_dit * d = calloc(1, sizeof(*d));
    if (!d) {
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    d->w = w;
    d->be = be;
    enum ke_status st = ke_dit_config_from(&d->cfg, w, config_json, err);
    if (st != KE_STATUS_OK) {
        free(d);
        return st;
    }
    if (n_loras > 0 && !(d->lora = ke_lora_ctx_new(loras, n_loras, merge, be))) {
        free(d);
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    const struct ke_dit_config * c = &d->cfg;
    const int64_t D = c->dim, P = (int64_t) c->patch_h * c->patch_w;
    d->blocks = calloc((size_t) c->num_layers, sizeof(*d->blocks));
    if (!d->blocks) {
        ke_dit_free(d);   // also the LoRA context
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }

    // patch embedding: a conv with stride = kernel is a Linear over flattened patches
    int64_t pshape[5] = { D, c->in_dim, c->patch_t, c->patch_h, c->patch_w };
    const struct ke_tensor * pw = ke_tset_require(w, "patch_embedding.weight", 5, pshape, err);
    int64_t bshape[1] = { D };
    const struct ke_tensor * pb = pw ? ke_tset_require(w, "patch_embedding.bias", 1, bshape, err) : NULL;
    if (!pw || !pb) {
        ke_dit_free(d);
        return err ? err->code : KE_STATUS_MISSING;
    }
    d->patch_w2d = *pw;
    int64_t p2[2] = { D, (int64_t) c->in_dim * P };
    ke_tensor_init(&d->patch_w2d, pw->type, 2, p2, pw->data);
    d->patch_w2d.scale = pw->scale;
    d->patch_w2d.name = pw->name;
    d->patch.w = &d->patch_w2d;
    d->patch.b = pb;
    d->patch.n_in = p2[1];
    d->patch.n_out = D;
    if ((st = ke_lora_ctx_linear(d->lora, &d->patch, "patch_embedding", err)) != KE_STATUS_OK) {
        ke_dit_free(d);
        return st;
    }
    if (be->ops->linear_prepare(be, &d->patch) < 0) {
        ke_dit_free(d);
        return ke_err(err, KE_STATUS_NOMEM, "cannot prepare the patch embedding");
    }

    if ((st = get_linear(d, &d->text0, "text_embedding.0", D, c->text_dim, err)) ||
        (st = get_linear(d, &d->text2, "text_embedding.2", D, D, err)) ||
        (st = get_linear(d, &d->time0, "time_embedding.0", D, c->freq_dim, err)) ||
        (st = get_linear(d, &d->time2, "time_embedding.2", D, D, err)) ||
        (st = get_linear(d, &d->proj, "time_projection.1", 6 * D, D, err)) ||
        (st = get_linear(d, &d->head, "head.head", P * c->out_dim, D, err))) {
        ke_dit_free(d);
        return st;
    }
    int64_t hms[3] = { 1, 2, D };
    if (!(d->head_mod = get_vec(d, "head.modulation", 3, hms, err))) {
        ke_dit_free(d);
        return err ? err->code : KE_STATUS_MISSING;
    }
    for (int i = 0; i < c->num_layers; i++) {
        struct dit_block * b = &d->blocks[i];
        char n[128];
        const int64_t F = c->ffn_dim;
#define LIN(field, name, o, in)                                              \
        snprintf(n, sizeof(n), "blocks.%d.%s", i, name);                     \
        if ((st = get_linear(d, &b->field, n, o, in, err)) != KE_STATUS_OK) { \
            ke_dit_free(d);                                                  \
            return st;                                                       \
        }
        LIN(sq, "self_attn.q", D, D)
        LIN(sk, "self_attn.k", D, D)
        LIN(sv, "self_attn.v", D, D)
        LIN(so, "self_attn.o", D, D)
        LIN(cq, "cross_attn.q", D, D)
        LIN(co, "cross_attn.o", D, D)
        LIN(ffn0, "ffn.0", F, D)
        LIN(ffn2, "ffn.2", D, F)
        int64_t ms[3] = { 1, 6, D }, vs[1] = { D };
#define VEC(field, name, nd, shape)                                          \
        snprintf(n, sizeof(n), "blocks.%d.%s", i, name);                     \
        if (!(b->field = get_vec(d, n, nd, shape, err))) {                   \
            ke_dit_free(d);                                                  \
            return err ? err->code : KE_STATUS_MISSING;                      \
        }
        VEC(modulation, "modulation", 3, ms)
        if (c->qk_norm) {
            VEC(s_norm_q, "self_attn.norm_q.weight", 1, vs)
            VEC(s_norm_k, "self_attn.norm_k.weight", 1, vs)
            VEC(c_norm_q, "cross_attn.norm_q.weight", 1, vs)
            VEC(c_norm_k, "cross_attn.norm_k.weight", 1, vs)
        }
        if (c->cross_attn_norm) {
            VEC(norm3_w, "norm3.weight", 1, vs)
            VEC(norm3_b, "norm3.bias", 1, vs)
        }
#undef VEC
    }
    // the text's K/V projections run once per prompt, not per step: prepared last, so a backend with a
    // memory budget streams them before any weight the sampling steps read
    for (int i = 0; i < c->num_layers; i++) {
        struct dit_block * b = &d->blocks[i];
        char n[128];
        LIN(ck, "cross_attn.k", D, D)
        LIN(cv, "cross_attn.v", D, D)
    }
#undef LIN
    if ((st = ke_lora_ctx_finish(d->lora, err)) != KE_STATUS_OK) {
        ke_dit_free(d);
        return st;
    }
    *out = d;
    return KE_STATUS_OK;
}

// --- text context -------------------------------------------------------------------------------

void ke_dit_context_free(struct ke_dit_context * c)
{
    if (!c) {
        return;
    }
    struct ke_backend * be = c->d->be;
    for (int i = 0; i < c->d->cfg.num_layers; i++) {
        if (c->kx) {
            ke_be_free(be, c->kx[i]);
        }
        if (c->vx) {
            ke_be_free(be, c->vx[i]);
        }
    }
    ke_be_free(be, c->ctx);
    free(c->kx);
    free(c->vx);
    free(c);
}

static void tap_host(struct ke_dit * d, const char * name, const float * dev, int64_t n)
{
    if (!d->tap) {
        return;
    }
    float * h = malloc((size_t) n * sizeof(float));
    if (!h) {
        // a requested output must not go missing: the call ends with this failure
        ke_be_fail(d->be, KE_STATUS_NOMEM, "out of memory for the tapped tensor %s (%zu bytes)", name,
                   (size_t) n * sizeof(float));
        return;
    }
    d->be->ops->download(d->be, h, dev, (size_t) n * sizeof(float));
    d->tap(name, h, n, d->tap_user);
    free(h);
}

enum ke_status ke_dit_context_new(struct ke_dit * d, const float * text, int n_tok, struct ke_dit_context ** out,
                                  struct ke_error * err)
{
    *out = NULL;
    const struct ke_dit_config * c = &d->cfg;
    struct ke_backend * be = d->be;
    if (n_tok < 0 || n_tok > c->text_len) {
        return ke_err(err, KE_STATUS_INVALID, "text context has %d tokens; this model takes at most %d", n_tok,
                      c->text_len);
    }
    const int64_t T = c->text_len, D = c->dim;
    struct ke_dit_context * x = calloc(1, sizeof(*x));
    float * host = calloc((size_t) (T * c->text_dim), sizeof(float));   // zero padding to text_len rows
    float * in = NULL, * kv = NULL;
    struct ke_xbuf * inx = NULL, * hidx = NULL;
    if (!x || !host) {
        free(x);
        free(host);
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    x->d = d;
    x->kx = calloc((size_t) c->num_layers, sizeof(struct ke_xbuf *));
    x->vx = calloc((size_t) c->num_layers, sizeof(struct ke_xbuf *));
    if (n_tok > 0) {
        memcpy(host, text, (size_t) n_tok * (size_t) c->text_dim * sizeof(float));
    }
    in = ke_be_alloc(be, (size_t) (T * c->text_dim) * sizeof(float));
    inx = ke_be_alloc_xbuf(be, T * c->text_dim);
    hidx = ke_be_alloc_xbuf(be, T * D);
    kv = ke_be_alloc(be, (size_t) (T * D) * sizeof(float));
    x->ctx = ke_be_alloc(be, (size_t) (T * D) * sizeof(float));
    enum ke_status st = KE_STATUS_OK;
    if (!x->kx || !x->vx || !in || !inx || !hidx || !kv || !x->ctx) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory for the text context (%lld x %lld floats)", (long long) T,
                    (long long) (c->text_dim > D ? c->text_dim : D));
        goto done;
    }
    be->ops->upload(be, in, host, (size_t) (T * c->text_dim) * sizeof(float));
    // text_embedding: Linear, GELU (tanh), Linear
    be->ops->to_xbuf(be, inx, in, T * c->text_dim);
    ke_lora_linear_gelu_x(be, &d->lora_scr, hidx, inx, T, &d->text0);
    ke_lora_linear_x(be, &d->lora_scr, x->ctx, hidx, T, &d->text2);
    tap_host(d, "inter.text_embedding", x->ctx, T * D);
    for (int i = 0; i < c->num_layers; i++) {
        struct dit_block * b = &d->blocks[i];
        x->kx[i] = ke_be_alloc_xbuf(be, T * D);
        x->vx[i] = ke_be_alloc_xbuf(be, T * D);
        if (!x->kx[i] || !x->vx[i]) {
            st = ke_err(err, KE_STATUS_NOMEM, "out of memory for the cross-attention keys (%.1f MiB per block)",
                        (double) (2 * T * D) * (double) be->ops->xbuf_elem / 1048576.0);
            goto done;
        }
        // kept in the attention's input format: converted once per prompt, not once per step
        ke_lora_linear(be, &d->lora_scr, kv, x->ctx, T, &b->ck);
        if (c->qk_norm) {
            be->ops->rms_norm_rope_x(be, x->kx[i], kv, T, c->num_heads, (int) (D / c->num_heads), b->c_norm_k,
                                     c->eps, NULL);
        } else {
            be->ops->to_xbuf(be, x->kx[i], kv, T * D);
        }
        ke_lora_linear(be, &d->lora_scr, kv, x->ctx, T, &b->cv);
        be->ops->to_xbuf(be, x->vx[i], kv, T * D);
    }
done:
    free(host);
    ke_be_free(be, in);
    ke_be_free(be, inx);
    ke_be_free(be, hidx);
    ke_be_free(be, kv);
    const enum ke_status be_st = ke_be_status(be, err);
    if (st == KE_STATUS_OK) {
        st = be_st;
    }
    if (st != KE_STATUS_OK) {
        ke_dit_context_free(x);
        return st;
    }
    *out = x;
    return KE_STATUS_OK;
}

// --- forward ------------------------------------------------------------------------------------

// RoPE angles (cos, sin) per token and pair, from three per-axis tables (spec §5.5), in float64.
static void rope_table(float * cs, const struct ke_dit_config * c, int F, int Hp, int Wp)
{
    const int hd = c->dim / c->num_heads;
    const int half = hd / 2;
    const int d_h = 2 * (hd / 6), d_f = hd - 2 * d_h;
    const int n_f = d_f / 2, n_h = d_h / 2;
    double inv[512];
    for (int p = 0; p < half && p < 512; p++) {
        int j, dax;
        if (p < n_f) {
            j = p;
            dax = d_f;
        } else if (p < n_f + n_h) {
            j = p - n_f;
            dax = d_h;
        } else {
            j = p - n_f - n_h;
            dax = d_h;
        }
        inv[p] = 1.0 / pow(10000.0, (double) (2 * j) / (double) dax);
    }
    int64_t t = 0;
    for (int f = 0; f < F; f++) {
        for (int y = 0; y < Hp; y++) {
            for (int x = 0; x < Wp; x++, t++) {
                float * row = cs + t * half * 2;
                for (int p = 0; p < half; p++) {
                    const double pos = p < n_f ? f : p < n_f + n_h ? y : x;
                    const double a = pos * inv[p];
                    row[2 * p] = (float) cos(a);
                    row[2 * p + 1] = (float) sin(a);
                }
            }
        }
    }
}

// q or k [L, dim] of an attention -> the attention's input: RMS norm (qk_norm) and RoPE (cs not NULL)
static void qk_to_xbuf(struct ke_dit * d, struct ke_xbuf * y, float * x, int64_t L, const float * norm_w,
                       const float * cs)
{
    const struct ke_dit_config * c = &d->cfg;
    struct ke_backend * be = d->be;
    const int hd = c->dim / c->num_heads;
    if (c->qk_norm) {
        be->ops->rms_norm_rope_x(be, y, x, L, c->num_heads, hd, norm_w, c->eps, cs);
        return;
    }
    if (cs) {
        be->ops->rope(be, x, L, c->num_heads, hd, cs);
    }
    be->ops->to_xbuf(be, y, x, L * c->dim);
}

// Carve activation buffers out of one backend allocation (reused while the size fits).
static void * carve(char ** cur, size_t n)
{
    void * p = *cur;
    *cur += (n + 255) & ~(size_t) 255;
    return p;
}

// The activation arena of one forward: element counts and element sizes of its N_ARENA buffers (in
// the order ke_dit_forward carves them), and the total bytes. Lf: tokens per FFN pass.
#define N_ARENA 19
static size_t arena_plan(const struct ke_dit_config * c, int F, int H, int W, int64_t U, size_t xe, int64_t Lf,
                         size_t * sizes, size_t * elem)
{
    const int64_t P = (int64_t) c->patch_h * c->patch_w, D = c->dim, FF = c->ffn_dim;
    const int64_t L = (int64_t) F * (H / c->patch_h) * (W / c->patch_w);
    const int64_t K_in = (int64_t) c->in_dim * P, K_out = P * c->out_dim;
    const size_t sz[N_ARENA] = {
        (size_t) (c->in_dim * F * (int64_t) H * W), (size_t) (L * K_in), (size_t) (L * D), (size_t) (L * D),
        (size_t) (L * D), (size_t) (L * D), (size_t) (L * D), (size_t) (L * D), (size_t) (Lf * FF),
        (size_t) (L * K_out), (size_t) (c->out_dim * F * (int64_t) H * W), (size_t) (U * c->freq_dim),
        (size_t) (U * D), (size_t) (U * D), (size_t) (U * D), (size_t) (U * 6 * D), (size_t) (U * 6 * D),
        (size_t) (U * 2 * D), (size_t) L,
    };
    size_t need = 0;
    for (size_t i = 0; i < N_ARENA; i++) {
        sizes[i] = sz[i];
        elem[i] = (i == 3 || i == 5 || i == 6 || i == 7 || i == 8) ? xe : sizeof(float);   // the ke_xbuf ones
        need += (sizes[i] * elem[i] + 255) & ~(size_t) 255;
    }
    return need;
}

// Device bytes per 1000 block-linear weight values (rounded up): fp8 and the GGUF block types stay as
// stored on the device (dequantized per GEMM into a bf16 scratch: *narrow), other types become bf16. The
// widest of block 0's linears stands for all (conservative for files that mix types).
static size_t weight_permille(const struct ke_tensor_set * w, bool * narrow)
{
    static const char * const names[] = {
        "blocks.0.self_attn.q.weight", "blocks.0.self_attn.k.weight", "blocks.0.self_attn.v.weight",
        "blocks.0.self_attn.o.weight", "blocks.0.cross_attn.q.weight", "blocks.0.cross_attn.o.weight",
        "blocks.0.ffn.0.weight", "blocks.0.ffn.2.weight",
    };
    size_t worst = 0;
    *narrow = false;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const struct ke_tensor * t = ke_tset_get(w, names[i]);
        if (!t) {
            continue;
        }
        size_t pm = 2000;
        if (t->type == KE_DTYPE_F8_E4M3) {
            pm = 1000;
            *narrow = true;
        } else if (ke_dtype_is_quantized(t->type)) {
            const size_t bk = (size_t) ke_dtype_block(t->type);
            pm = (ke_dtype_size(t->type) * 1000 + bk - 1) / bk;
            *narrow = true;
        }
        worst = pm > worst ? pm : worst;
    }
    return worst ? worst : 2000;
}

enum ke_status ke_dit_plan_memory(const struct ke_tensor_set * w, int F, int H, int W, size_t xbuf_elem,
                                  size_t budget, struct ke_dit_mem_plan * plan, struct ke_error * err)
{
    struct ke_dit_config cfg;
    memset(plan, 0, sizeof(*plan));
    const enum ke_status st = ke_dit_config_from(&cfg, w, NULL, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    const struct ke_dit_config * c = &cfg;
    const size_t D = (size_t) c->dim, FF = (size_t) c->ffn_dim, T = (size_t) c->text_len;
    const size_t P = (size_t) c->patch_h * c->patch_w, xe = xbuf_elem;
    bool narrow;
    const size_t wpm = weight_permille(w, &narrow);   // fp8 / block types stay as stored on the device
    const size_t top = D * (size_t) c->in_dim * P + D * (size_t) c->text_dim + D * D + D * (size_t) c->freq_dim +
                       D * D + 6 * D * D + P * (size_t) c->out_dim * D;
    plan->block = ((6 * D * D + 2 * D * FF) * wpm + 999) / 1000;
    plan->weights = ((top + (size_t) c->num_layers * (8 * D * D + 2 * D * FF)) * wpm + 999) / 1000;
    const int64_t L = (int64_t) F * (H / c->patch_h) * (W / c->patch_w);
    const size_t rope = (size_t) L * (D / (size_t) c->num_heads) * 4;
    const size_t contexts = 2 * (T * D * 4 + (size_t) c->num_layers * 2 * T * D * xe);
    // per-GEMM scratch: a gate-scaled weight copy, the bf16 dequantizations of the last two weights kept
    // narrower (fp8, block types; a chunked FFN reuses them chunk after chunk), one f32 [L, dim] buffer
    // (the unfused fallbacks) and room for the attention workspaces
    const size_t scratch = D * FF * 2 * (narrow ? 3 : 1) + (size_t) L * D * 4 + ((size_t) 128 << 20);
    // the sampler on the device (pipeline/sample.c): the latent, two predictions, the x0 estimate, the
    // pinned frame and the solver's four vectors, each [out_dim, F, H, W] floats
    const size_t sampler = 9 * (size_t) c->out_dim * (size_t) F * (size_t) H * (size_t) W * 4;
    int64_t Lf = L;
    size_t sizes[N_ARENA], elem[N_ARENA];
    size_t act = 0;
    for (;;) {
        act = arena_plan(c, F, H, W, 2, xe, Lf, sizes, elem);
        act += act / 4;   // size classes round a block up by up to 25 %; the arena is one block
        act += rope + contexts + scratch + sampler;
        const size_t w_min = plan->weights < 2 * plan->block ? plan->weights : 2 * plan->block;
        if (act + w_min <= budget || Lf <= 512) {
            break;
        }
        Lf = (Lf + 1) / 2;
    }
    plan->activations = act;
    plan->ffn_chunk = Lf < L ? Lf : 0;
    if (act + plan->weights <= budget) {
        plan->weight_cap = SIZE_MAX;
        plan->fits = true;
        return KE_STATUS_OK;
    }
    plan->streams = true;
    const size_t fixed = act + 2 * plan->block;
    plan->fits = fixed < budget;
    plan->weight_cap = plan->fits ? budget - fixed : 0;
    return KE_STATUS_OK;
}

void ke_dit_set_ffn_chunk(struct ke_dit * d, int64_t tokens)
{
    d->ffn_chunk = tokens > 0 ? tokens : 0;
}

// The linears one block's forward reads, in order (the text K/V projections only make the context).
static int block_linears(struct dit_block * b, struct ke_linear ** ls)
{
    struct ke_linear * l[] = { &b->sq, &b->sk, &b->sv, &b->so, &b->cq, &b->co, &b->ffn0, &b->ffn2 };
    memcpy(ls, l, sizeof l);
    return (int) (sizeof l / sizeof l[0]);
}

static void prefetch_block(struct ke_dit * d, int i)
{
    if (i < d->cfg.num_layers && d->be->ops->prefetch) {
        struct ke_linear * ls[8];
        const int n = block_linears(&d->blocks[i], ls);
        d->be->ops->prefetch(d->be, ls, n);
    }
}

size_t ke_dit_activation_bytes(const struct ke_dit_config * c, int F, int H, int W, int n_unique_t, size_t xbuf_elem)
{
    size_t sizes[N_ARENA], elem[N_ARENA];
    const int64_t L = (int64_t) F * (H / c->patch_h) * (W / c->patch_w);
    return arena_plan(c, F, H, W, n_unique_t, xbuf_elem, L, sizes, elem);
}

size_t ke_dit_context_bytes(const struct ke_dit_config * c, size_t xbuf_elem)
{
    // every block's cross-attention K and V (text_len, dim) as ke_xbuf, plus the embedded text (f32)
    const size_t td = (size_t) c->text_len * (size_t) c->dim;
    return 2 * (size_t) c->num_layers * td * xbuf_elem + td * sizeof(float);
}

struct ke_backend * ke_dit_backend(const struct ke_dit * d)
{
    return d->be;
}

// dev: x_in and out are backend memory (ke_dit_forward_dev), else host arrays
static enum ke_status dit_forward(struct ke_dit * d, const struct ke_dit_context * ctx,
                                  const float * x_in, int c_x, const float * y_in, int c_y, int F, int H, int W,
                                  const float * t_in, int n_t, float * out, bool dev,
                                  ke_abort_fn abort, void * abort_user, struct ke_error * err)
{
    const struct ke_dit_config * c = &d->cfg;
    struct ke_backend * be = d->be;
    const struct ke_backend_ops * op = be->ops;
    if (!ctx || ctx->d != d) {
        return ke_err(err, KE_STATUS_INVALID, "DiT forward needs a text context made by this model");
    }
    if (c_x + (y_in ? c_y : 0) != c->in_dim) {
        return ke_err(err, KE_STATUS_SHAPE, "DiT input has %d + %d channels; the model takes %d", c_x,
                      y_in ? c_y : 0, c->in_dim);
    }
    if (F <= 0 || H <= 0 || W <= 0 || H % c->patch_h || W % c->patch_w) {
        return ke_err(err, KE_STATUS_SHAPE, "latent size %dx%dx%d: frames must be > 0 and H, W multiples of %d, %d",
                      F, H, W, c->patch_h, c->patch_w);
    }
    const int Hp = H / c->patch_h, Wp = W / c->patch_w;
    if (F > 1024 || Hp > 1024 || Wp > 1024) {
        return ke_err(err, KE_STATUS_INVALID, "latent grid %dx%dx%d exceeds the RoPE range (1024 per axis)", F, Hp, Wp);
    }
    const int64_t L = (int64_t) F * Hp * Wp;
    if (n_t != 1 && n_t != L) {
        return ke_err(err, KE_STATUS_SHAPE, "DiT got %d timesteps; expected 1 or one per token (%lld)", n_t,
                      (long long) L);
    }
    const int64_t D = c->dim, T = c->text_len, P = (int64_t) c->patch_h * c->patch_w;
    const int64_t K_out = P * c->out_dim;
    const int hd = (int) (D / c->num_heads);
    const float eps = c->eps;

    // unique timestep values -> per-token selector (TI2V has two: 0 for the image frame and t)
    int n_u = 0;
    float * uniq = malloc(sizeof(float) * (size_t) n_t);
    int32_t * sel = n_t > 1 ? malloc(sizeof(int32_t) * (size_t) n_t) : NULL;
    float * host = NULL;
    if (!uniq || (n_t > 1 && !sel)) {
        free(uniq);
        free(sel);
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    for (int i = 0; i < n_t; i++) {
        int j = 0;
        while (j < n_u && uniq[j] != t_in[i]) {
            j++;
        }
        if (j == n_u) {
            uniq[n_u++] = t_in[i];
        }
        if (sel) {
            sel[i] = j;
        }
    }
    if (sel && n_u == 1) {
        free(sel);
        sel = NULL;
    }
    const int64_t U = n_u;

    // activation buffers: sizes in elements; f32 (4 bytes) except the ke_xbuf ones (xbuf_elem bytes)
    const size_t xe = op->xbuf_elem;
    const int64_t Lf = d->ffn_chunk > 0 && d->ffn_chunk < L ? d->ffn_chunk : L;   // tokens per FFN pass
    size_t sizes[N_ARENA], elem[N_ARENA];
    const size_t n_sizes = N_ARENA;
    const size_t need = arena_plan(c, F, H, W, U, xe, Lf, sizes, elem);
    if (need > d->arena_size) {
        ke_be_free(be, d->arena);
        d->arena = ke_be_alloc(be, need);
        d->arena_size = d->arena ? need : 0;
        if (!d->arena) {
            free(uniq);
            free(sel);
            char note[96];
            return ke_err(err, KE_STATUS_NOMEM, "out of memory for DiT activations (%.1f MiB at %lld tokens)%s",
                          (double) need / 1048576.0, (long long) L, ke_be_mem_note(be, note, sizeof note));
        }
    }
    char * cur = d->arena;
    void * bufs[N_ARENA];
    for (size_t i = 0; i < n_sizes; i++) {
        bufs[i] = carve(&cur, sizes[i] * elem[i]);
    }
    float * lat = bufs[0];                 // (in_dim, F, H, W)
    float * patches = bufs[1];             // (L, in_dim * ph * pw)
    float * x = bufs[2];                   // (L, D) residual stream
    struct ke_xbuf * xn = bufs[3];         // (L, D) normalised block input: the GEMMs' input
    // (L, D) the f32 output of one linear at a time: q, then k, then v (each made into its bf16 xbuf
    // before the next linear writes it), the cross-attention q; also the scratch of the gated adds
    float * q = bufs[4];
    struct ke_xbuf * ox = bufs[5];         // (L, D) attention output
    struct ke_xbuf * qx = bufs[6];         // (L, D) attention q, k
    struct ke_xbuf * kx = bufs[7];
    struct ke_xbuf * hx = bufs[8];         // (Lf, FF) FFN hidden state of one token chunk
    float * hout = bufs[9];                // (L, ph pw out_dim)
    float * vout = bufs[10];               // (out_dim, F, H, W)
    float * sinus = bufs[11];              // (U, freq_dim)
    float * e1 = bufs[12];                 // (U, D)
    float * e = bufs[13];
    float * se = bufs[14];
    float * e0 = bufs[15];                 // (U, 6 D)
    float * mod = bufs[16];
    float * hmod = bufs[17];               // (U, 2 D)
    int32_t * sel_dev = bufs[18];          // (L)
    // (L, D) attention v, in xn once the q/k/v linears have read it
    struct ke_xbuf * vx = xn;
    enum ke_status st = KE_STATUS_OK;
    // every xbuf below is written through the xbuf ops only (backend.h: what their writers learn may
    // reach their readers)
    if (op->xbuf_scope) {
        op->xbuf_scope(be, true);
    }

    // host staging, reused for the latent concat, the sinusoids and the RoPE table: the largest of them
    // (at 1 frame of 32x32 the U x freq_dim sinusoids outgrow the latent)
    size_t host_n = sizes[0];
    if ((size_t) (L * hd) > host_n) {
        host_n = (size_t) (L * hd);
    }
    if ((size_t) (U * c->freq_dim) > host_n) {
        host_n = (size_t) (U * c->freq_dim);
    }
    host = malloc(host_n * sizeof(float));
    if (!host) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory for the DiT's host staging (%zu bytes)",
                    host_n * sizeof(float));
        goto done;
    }
    const size_t frame_elems = (size_t) F * (size_t) H * (size_t) W;
    if (dev) {
        op->copy(be, lat, x_in, (size_t) c_x * frame_elems * sizeof(float));
        if (y_in) {
            op->upload(be, lat + (size_t) c_x * frame_elems, y_in, (size_t) c_y * frame_elems * sizeof(float));
        }
    } else {
        memcpy(host, x_in, (size_t) c_x * frame_elems * sizeof(float));
        if (y_in) {
            memcpy(host + (size_t) c_x * frame_elems, y_in, (size_t) c_y * frame_elems * sizeof(float));
        }
        op->upload(be, lat, host, sizes[0] * sizeof(float));
    }
    if (sel) {
        op->upload(be, sel_dev, sel, (size_t) L * sizeof(int32_t));
    }

    // patch embedding
    op->patchify(be, patches, lat, c->in_dim, F, H, W, c->patch_h, c->patch_w);
    ke_lora_linear(be, &d->lora_scr, x, patches, L, &d->patch);
    if (d->tap) {
        // the reference reports the conv output channel-first: [dim, F, H', W']
        float * tok = malloc((size_t) (L * D) * sizeof(float));
        float * chf = malloc((size_t) (L * D) * sizeof(float));
        if (!tok || !chf) {
            ke_be_fail(be, KE_STATUS_NOMEM, "out of memory for the tapped patch embedding (%zu bytes)",
                       (size_t) (L * D) * sizeof(float));
        } else {
            op->download(be, tok, x, (size_t) (L * D) * sizeof(float));
            for (int64_t i = 0; i < L; i++) {
                for (int64_t j = 0; j < D; j++) {
                    chf[j * L + i] = tok[i * D + j];
                }
            }
            d->tap("inter.patch_embedding", chf, L * D, d->tap_user);
        }
        free(tok);
        free(chf);
    }

    // time embedding: float64 sinusoid [cos | sin] of each distinct timestep value
    {
        const int half = c->freq_dim / 2;
        float * sh = host;
        for (int64_t u = 0; u < U; u++) {
            for (int i = 0; i < half; i++) {
                const double w = pow(10000.0, -(double) i / (double) half);
                const double arg = (double) uniq[u] * w;
                sh[u * c->freq_dim + i] = (float) cos(arg);
                sh[u * c->freq_dim + half + i] = (float) sin(arg);
            }
        }
        op->upload(be, sinus, sh, (size_t) (U * c->freq_dim) * sizeof(float));
    }
    ke_lora_linear(be, &d->lora_scr, e1, sinus, U, &d->time0);
    op->silu(be, e1, U * D);
    ke_lora_linear(be, &d->lora_scr, e, e1, U, &d->time2);
    op->copy(be, se, e, (size_t) (U * D) * sizeof(float));
    op->silu(be, se, U * D);
    ke_lora_linear(be, &d->lora_scr, e0, se, U, &d->proj);
    if (d->tap) {
        // per token, as the reference reports them ([1, L, X])
        const int64_t widths[3] = { c->freq_dim, D, 6 * D };
        const float * srcs[3] = { sinus, e, e0 };
        const char * names[3] = { "inter.time_sinusoid", "inter.time_embedding", "inter.time_projection" };
        for (int j = 0; j < 3; j++) {
            float * uh = malloc((size_t) (U * widths[j]) * sizeof(float));
            float * th = malloc((size_t) (L * widths[j]) * sizeof(float));
            if (!uh || !th) {
                ke_be_fail(be, KE_STATUS_NOMEM, "out of memory for the tapped %s (%zu bytes)", names[j],
                           (size_t) (L * widths[j]) * sizeof(float));
            } else {
                op->download(be, uh, srcs[j], (size_t) (U * widths[j]) * sizeof(float));
                for (int64_t i = 0; i < L; i++) {
                    memcpy(th + i * widths[j], uh + (sel ? sel[i] : 0) * widths[j], (size_t) widths[j] * sizeof(float));
                }
                d->tap(names[j], th, L * widths[j], d->tap_user);
            }
            free(uh);
            free(th);
        }
    }

    // RoPE table: the same for every step of a clip, so built (in float64) only when the grid changes
    if (!d->rope || d->rope_f != F || d->rope_h != Hp || d->rope_w != Wp) {
        ke_be_free(be, d->rope);
        d->rope = ke_be_alloc(be, (size_t) (L * hd) * sizeof(float));
        if (!d->rope) {
            st = ke_err(err, KE_STATUS_NOMEM, "out of memory for the RoPE table");
            goto done;
        }
        rope_table(host, c, F, Hp, Wp);
        op->upload(be, d->rope, host, (size_t) (L * hd) * sizeof(float));
        d->rope_f = F;
        d->rope_h = Hp;
        d->rope_w = Wp;
    }
    const float * cs = d->rope;

    const int32_t * sd = sel ? sel_dev : NULL;
    const float attn_scale = 1.0f / sqrtf((float) hd);
    struct ke_dit_residual * rs = d->residual;
    if (rs && rs->skip && (rs->n != L * D || rs->be != be)) {
        st = ke_err(err, KE_STATUS_INVALID, "DiT step cache: no stored residual for %lld tokens", (long long) L);
        goto done;
    }
    if (rs && !rs->skip) {
        if (rs->n != L * D || rs->be != be) {
            ke_dit_residual_free(rs);
            rs->be = be;
            rs->resid = ke_be_alloc(be, (size_t) (L * D) * sizeof(float));
            if (!rs->resid) {
                st = ke_err(err, KE_STATUS_NOMEM, "out of memory for the step cache's residual");
                goto done;
            }
            rs->n = L * D;
        }
        op->scale(be, rs->resid, x, -1.0f, L * D);    // -x_before; x_after is added after the blocks
    }
    if (!(rs && rs->skip)) {
        prefetch_block(d, 0);
    }
    for (int li = 0; li < c->num_layers && !(rs && rs->skip); li++) {
        if (abort && abort(abort_user)) {
            st = ke_err(err, KE_STATUS_ABORTED, "cancelled");
            goto done;
        }
        if (ke_be_failed(be)) {
            goto done;   // an op of the previous block failed (read below)
        }
        const struct dit_block * b = &d->blocks[li];
        prefetch_block(d, li + 1);   // a streaming backend uploads the next block while this one runs
        // m[k] = modulation[k] + e0[k], per distinct timestep
        for (int64_t u = 0; u < U; u++) {
            op->add(be, mod + u * 6 * D, e0 + u * 6 * D, b->modulation, 6 * D);
        }
        // self-attention: LayerNorm + modulate -> q, k, v -> RMS norm + RoPE -> attention -> o, gated into x
        op->layer_norm_mod_x(be, xn, x, L, D, NULL, NULL, eps, mod + 0 * D, mod + 1 * D, 6 * D, sd);
        if (op->linear_input_hold) {
            op->linear_input_hold(be, xn);   // q, k and v read the same input
        }
        // one f32 [L, D] buffer for the three outputs in turn (two fewer at the largest activation)
        ke_lora_linear_x(be, &d->lora_scr, q, xn, L, &b->sq);
        qk_to_xbuf(d, qx, q, L, b->s_norm_q, cs);
        ke_lora_linear_x(be, &d->lora_scr, q, xn, L, &b->sk);
        qk_to_xbuf(d, kx, q, L, b->s_norm_k, cs);
        ke_lora_linear_x(be, &d->lora_scr, q, xn, L, &b->sv);
        if (op->linear_input_hold) {
            op->linear_input_hold(be, NULL);
        }
        op->to_xbuf(be, vx, q, L * D);   // over xn: no linear reads it any more
        op->attention_x(be, ox, qx, kx, vx, L, L, c->num_heads, hd, attn_scale);
        ke_lora_linear_gated_add_x(be, &d->lora_scr, x, ox, L, &b->so, mod + 2 * D, 6 * D, sd, q);
        // cross-attention (not modulated, not gated): K/V of the text come from the context
        if (c->cross_attn_norm) {
            op->layer_norm_mod_x(be, xn, x, L, D, b->norm3_w, b->norm3_b, eps, NULL, NULL, 0, NULL);
        } else {
            op->to_xbuf(be, xn, x, L * D);
        }
        ke_lora_linear_x(be, &d->lora_scr, q, xn, L, &b->cq);
        qk_to_xbuf(d, qx, q, L, b->c_norm_q, NULL);
        op->attention_x(be, ox, qx, ctx->kx[li], ctx->vx[li], L, T, c->num_heads, hd, attn_scale);
        ke_lora_linear_gated_add_x(be, &d->lora_scr, x, ox, L, &b->co, NULL, 0, NULL, q);
        // feed-forward: LayerNorm + modulate -> ffn.0 + GELU -> ffn.2, gated into x; in chunks of Lf
        // tokens when the hidden state of all of them would not fit the memory budget (rows are
        // independent, so the chunks give the same result)
        op->layer_norm_mod_x(be, xn, x, L, D, NULL, NULL, eps, mod + 3 * D, mod + 4 * D, 6 * D, sd);
        for (int64_t t0 = 0; t0 < L; t0 += Lf) {
            const int64_t m = L - t0 < Lf ? L - t0 : Lf;
            const struct ke_xbuf * xc = (const struct ke_xbuf *) ((const char *) xn + (size_t) (t0 * D) * xe);
            ke_lora_linear_gelu_x(be, &d->lora_scr, hx, xc, m, &b->ffn0);
            ke_lora_linear_gated_add_x(be, &d->lora_scr, x + t0 * D, hx, m, &b->ffn2, mod + 5 * D, 6 * D,
                                       sd ? sd + t0 : NULL, q + t0 * D);
        }
        if (d->tap) {
            char name[32];
            snprintf(name, sizeof(name), "inter.block%d", li);
            tap_host(d, name, x, L * D);
        }
    }

    if (rs && rs->skip) {
        op->add(be, x, x, rs->resid, L * D);
    } else if (rs) {
        op->add(be, rs->resid, x, rs->resid, L * D);
    }

    // head: shift/scale = head.modulation + e (the time embedding itself)
    for (int64_t u = 0; u < U; u++) {
        op->add(be, hmod + u * 2 * D, e + u * D, d->head_mod, D);
        op->add(be, hmod + u * 2 * D + D, e + u * D, d->head_mod + D, D);
    }
    op->layer_norm_mod_x(be, xn, x, L, D, NULL, NULL, eps, hmod, hmod + D, 2 * D, sd);
    ke_lora_linear_x(be, &d->lora_scr, hout, xn, L, &d->head);
    tap_host(d, "inter.head", hout, L * K_out);
    op->unpatchify(be, vout, hout, c->out_dim, F, H, W, c->patch_h, c->patch_w);
    if (dev) {
        op->copy(be, out, vout, sizes[10] * sizeof(float));
    } else {
        op->download(be, out, vout, sizes[10] * sizeof(float));
    }

done:
    if (op->xbuf_scope) {
        op->xbuf_scope(be, false);
    }
    free(host);
    free(uniq);
    free(sel);
    // a failed op ends the call with its status and message (ops return nothing)
    const enum ke_status be_st = ke_be_status(be, err);
    if (st == KE_STATUS_OK) {
        st = be_st;
    }
    return st;
}

enum ke_status ke_dit_forward(struct ke_dit * d, const struct ke_dit_context * ctx,
                              const float * x_in, int c_x, const float * y_in, int c_y, int F, int H, int W,
                              const float * t_in, int n_t, float * out,
                              ke_abort_fn abort, void * abort_user, struct ke_error * err)
{
    return dit_forward(d, ctx, x_in, c_x, y_in, c_y, F, H, W, t_in, n_t, out, false, abort, abort_user, err);
}

enum ke_status ke_dit_forward_dev(struct ke_dit * d, const struct ke_dit_context * ctx,
                                  const float * x_dev, int c_x, const float * y_in, int c_y, int F, int H, int W,
                                  const float * t_in, int n_t, float * out_dev,
                                  ke_abort_fn abort, void * abort_user, struct ke_error * err)
{
    return dit_forward(d, ctx, x_dev, c_x, y_in, c_y, F, H, W, t_in, n_t, out_dev, true, abort, abort_user, err);
}

enum ke_status ke_dit_time_embedding(struct ke_dit * d, float t, float * e_out, struct ke_error * err)
{
    const struct ke_dit_config * c = &d->cfg;
    struct ke_backend * be = d->be;
    const struct ke_backend_ops * op = be->ops;
    const int half = c->freq_dim / 2;
    const int64_t D = c->dim;
    float * sh = malloc(sizeof(float) * (size_t) c->freq_dim);
    float * dev = ke_be_alloc(be, sizeof(float) * (size_t) (c->freq_dim + 2 * D));
    if (!sh || !dev) {
        free(sh);
        ke_be_free(be, dev);
        return ke_err(err, KE_STATUS_NOMEM, "out of memory for the time embedding");
    }
    // the same float64 sinusoid and layers as ke_dit_forward
    for (int i = 0; i < half; i++) {
        const double w = pow(10000.0, -(double) i / (double) half);
        sh[i] = (float) cos((double) t * w);
        sh[half + i] = (float) sin((double) t * w);
    }
    float * sinus = dev, * e1 = dev + c->freq_dim, * e = e1 + D;
    op->upload(be, sinus, sh, sizeof(float) * (size_t) c->freq_dim);
    op->linear(be, e1, sinus, 1, &d->time0);
    op->silu(be, e1, D);
    op->linear(be, e, e1, 1, &d->time2);
    op->download(be, e_out, e, sizeof(float) * (size_t) D);
    free(sh);
    ke_be_free(be, dev);
    return ke_be_status(be, err);
}
