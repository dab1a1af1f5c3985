// Kinora engine: UMT5-XXL text encoder (official wan/modules/t5.py `T5Encoder`, Wan2.2 commit 42bf4cf):
// relative position bias per layer (UMT5) or shared by all (T5 v1.1, HF T5EncoderModel layout), T5 RMS
// norm, attention without 1/sqrt(d), gated-GELU FFN.
// fp32 activations over weights in their stored dtype (f32, bf16, f16, scaled fp8) via the backend table.
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/threadpool.h"
#include "models/te/umt5.h"

// Dims legend: L tokens, D = dim, A = dim_attn = H * hd, F = dim_ffn, H heads, NB buckets.

static int64_t outer(const struct ke_tensor * t, int i)
{
    return t->ne[t->n_dims - 1 - i];
}

// Float types and the GGUF block-quantized ones (encoder GGUFs in llama.cpp's naming, name-map.c): the
// Linears take those the backend takes (ke_be_linear_check), tables and vectors are dequantized.
static bool is_weight_dtype(enum ke_dtype t)
{
    return t == KE_DTYPE_F32 || t == KE_DTYPE_F16 || t == KE_DTYPE_BF16 || t == KE_DTYPE_F8_E4M3 ||
           ke_dtype_is_quantized(t);
}

int ke_umt5_bucket(int64_t rel, int n_buckets, int max_dist)
{
    const int nb = n_buckets / 2;           // buckets per sign
    const int max_exact = nb / 2;           // distances below this get their own bucket
    int base = rel > 0 ? nb : 0;
    int64_t a = rel < 0 ? -rel : rel;
    if (a < max_exact) {
        return base + (int) a;
    }
    // float32 arithmetic and truncation toward zero, as torch's .float() ... .long()
    float r = logf((float) a / (float) max_exact) / (float) log((double) max_dist / (double) max_exact) *
              (float) (nb - max_exact);
    int64_t large = max_exact + (int64_t) r;
    if (large > nb - 1) {
        large = nb - 1;
    }
    return base + (int) large;
}

double ke_umt5_flops(const struct ke_umt5_config * c, int64_t L)
{
    double per_tok = 2.0 * (3.0 * (double) c->dim * (double) c->dim_attn + (double) c->dim_attn * (double) c->dim +
                            3.0 * (double) c->dim * (double) c->dim_ffn);
    double attn = 4.0 * (double) L * (double) L * (double) c->dim_attn;
    return (per_tok * (double) L + attn) * c->n_layers;
}

// Bytes per 1000 elements of a linear weight on a device backend: fp8 e4m3 and block-quantized types stay
// as stored (dequantized per GEMM into a bf16 scratch: *narrow), other float types become bf16 (as
// models/dit/wan.c plans its DiT).
static size_t device_permille(const struct ke_tensor * t, bool * narrow)
{
    if (t->type == KE_DTYPE_F8_E4M3) {
        *narrow = true;
        return 1000;
    }
    if (ke_dtype_is_quantized(t->type)) {
        const size_t bk = (size_t) ke_dtype_block(t->type);
        *narrow = true;
        return (ke_dtype_size(t->type) * 1000 + bk - 1) / bk;
    }
    return 2000;
}

void ke_umt5_plan_memory(const struct ke_umt5_config * c, const struct ke_tensor_set * w, int64_t L, int n_seq,
                         size_t avail, struct ke_umt5_mem_plan * plan)
{
    memset(plan, 0, sizeof(*plan));
    static const char * const names[] = {
        "blocks.0.attn.q.weight", "blocks.0.attn.k.weight", "blocks.0.attn.v.weight", "blocks.0.attn.o.weight",
        "blocks.0.ffn.gate.0.weight", "blocks.0.ffn.fc1.weight", "blocks.0.ffn.fc2.weight",
    };
    // the widest of block 0's linears stands for all (conservative for files that mix types)
    size_t pm = 0;
    bool narrow = false;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const struct ke_tensor * t = ke_tset_get(w, names[i]);
        const size_t p = t ? device_permille(t, &narrow) : 2000;
        pm = p > pm ? p : pm;
    }
    const size_t D = (size_t) c->dim, A = (size_t) c->dim_attn, F = (size_t) c->dim_ffn, H = (size_t) c->n_heads;
    const size_t n = (size_t) (L > 0 ? L : 1), fs = sizeof(float);
    plan->layer = ((4 * D * A + 3 * D * F) * pm + 999) / 1000;
    const size_t norms = (2 * (size_t) c->n_layers + 1) * D * fs;
    plan->weights = (size_t) c->n_layers * plan->layer + norms;
    // the workspace (ensure_workspace), the bf16 copy of the widest linear input (CUDA's linear op), the
    // bf16 scratch of the last two dequantized narrow weights, a streamed weight's scratch, and 64 MiB for
    // the GEMM plans and size classes (the allocator rounds a block up by up to 25 %)
    // each sequence beyond the first keeps its own residual stream and bias (ensure_workspace)
    const size_t seqs = (size_t) (n_seq > 1 ? n_seq : 1);
    size_t act = (3 * n * D + 4 * n * A + 2 * n * F + H * n * n + (seqs - 1) * (n * D + H * n * n)) * fs;
    act += act / 4 + n * F * 2 + (narrow ? 2 * D * F * 2 : 0) + ((size_t) 64 << 20);
    plan->activations = act;
    if (act + plan->weights <= avail) {
        plan->weight_cap = SIZE_MAX;
        plan->fits = true;
        return;
    }
    // stream: two slots of one layer each, the rest of the room for resident layers
    plan->streams = true;
    const size_t fixed = act + norms + 2 * plan->layer;
    plan->fits = fixed < avail;
    plan->weight_cap = plan->fits ? avail - fixed : 0;
}

// f32 copy of a small tensor of the expected shape.
static float * copy_f32(const struct ke_tensor_set * w, const char * name, int n_dims, const int64_t * shape,
                        struct ke_error * err)
{
    const struct ke_tensor * t = ke_tset_require(w, name, n_dims, shape, err);
    if (!t) {
        return NULL;
    }
    if (!is_weight_dtype(t->type)) {
        ke_err(err, KE_STATUS_SHAPE, "%s: tensor '%s' has dtype %s (expected a float type)", ke_tset_path(w), name,
               ke_dtype_name(t->type));
        return NULL;
    }
    float * p = ke_tensor_to_f32_alloc(t);
    if (!p) {
        ke_err(err, KE_STATUS_NOMEM, "%s: out of memory converting '%s'", ke_tset_path(w), name);
    }
    return p;
}

// The same, uploaded to backend memory (ops read norm weights there).
static float * upload_f32(struct ke_backend * be, const struct ke_tensor_set * w, const char * name, int64_t n,
                          struct ke_error * err)
{
    float * host = copy_f32(w, name, 1, (int64_t[]) { n }, err);
    if (!host) {
        return NULL;
    }
    float * dev = ke_be_alloc(be, (size_t) n * sizeof(float));
    if (!dev) {
        ke_err(err, KE_STATUS_NOMEM, "%s: out of backend memory for '%s'", ke_tset_path(w), name);
    } else {
        be->ops->upload(be, dev, host, (size_t) n * sizeof(float));
    }
    free(host);
    return dev;
}

// Check one linear's tensor (name, shape, a dtype the backend takes) and, with prepare, prepare it.
static enum ke_status init_linear(struct ke_umt5 * m, struct ke_linear * l, const struct ke_tensor_set * w,
                                  const char * name, int64_t n_out, int64_t n_in, bool prepare, struct ke_error * err)
{
    const struct ke_tensor * t = ke_tset_require(w, name, 2, (int64_t[]) { n_out, n_in }, err);
    if (!t) {
        return err ? err->code : KE_STATUS_MISSING;
    }
    if (!is_weight_dtype(t->type) || !ke_tensor_is_contiguous(t)) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: tensor '%s': dtype %s is not a supported weight type",
                      ke_tset_path(w), name, ke_dtype_name(t->type));
    }
    enum ke_status cst = ke_be_linear_check(m->be, t, ke_tset_path(w), err);
    if (cst != KE_STATUS_OK || !prepare) {
        return cst;
    }
    memset(l, 0, sizeof(*l));
    l->w = t;
    l->n_in = n_in;
    l->n_out = n_out;
    if (m->be->ops->linear_prepare(m->be, l) < 0) {
        return ke_err(err, KE_STATUS_NOMEM, "%s: backend %s could not prepare '%s'", ke_tset_path(w), m->be->ops->name,
                      name);
    }
    return KE_STATUS_OK;
}

// Layer i's seven linears: checked, or (prepare) prepared on the backend.
static enum ke_status make_layer(struct ke_umt5 * m, const struct ke_tensor_set * w, int i, bool prepare,
                                 struct ke_error * err)
{
    const struct ke_umt5_config * c = &m->cfg;
    const int64_t D = c->dim, A = c->dim_attn, F = c->dim_ffn;
    struct ke_umt5_layer * l = &m->layers[i];
    const struct {
        struct ke_linear * l;
        const char * name;
        int64_t n_out, n_in;
    } ls[7] = {
        { &l->q, "attn.q.weight", A, D },         { &l->k, "attn.k.weight", A, D },
        { &l->v, "attn.v.weight", A, D },         { &l->o, "attn.o.weight", D, A },
        { &l->gate, "ffn.gate.0.weight", F, D }, { &l->fc1, "ffn.fc1.weight", F, D },
        { &l->fc2, "ffn.fc2.weight", D, F },
    };
    for (int j = 0; j < 7; j++) {
        char nm[128];
        snprintf(nm, sizeof(nm), "blocks.%d.%s", i, ls[j].name);
        const enum ke_status st = init_linear(m, ls[j].l, w, nm, ls[j].n_out, ls[j].n_in, prepare, err);
        if (st != KE_STATUS_OK) {
            return st;
        }
    }
    return KE_STATUS_OK;
}

// --- the layers made on a second thread (ke_umt5_init_ahead) ----------------------------------------
// The thread prepares layer after layer (ops.prepare_thread gives it the backend's own stream for it);
// `ready` counts the layers done. A layer is used only after the thread has counted it, under the mutex,
// and linear_prepare returns with the weight on the backend, so an op queued after the wait reads whole
// weights. When the backend offers the thread no stream (prepare_thread fails), the encoding thread
// makes the layers left itself, as ke_umt5_init would have.

enum maker_state { MAKER_RUNNING, MAKER_DONE, MAKER_FAILED, MAKER_NO_THREAD, MAKER_STOPPED };

struct ke_umt5_maker {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct ke_umt5 * m;
    const struct ke_tensor_set * w;
    int ready;                // layers made
    enum maker_state state;
    bool stop;                // set by ke_umt5_free
    struct ke_error err;      // MAKER_FAILED: why
    double t0, secs;          // when it started; how long it ran
    double waited;            // seconds encodes spent waiting for layers
};

static void * maker_run(void * arg)
{
    struct ke_umt5_maker * mk = arg;
    struct ke_umt5 * m = mk->m;
    enum maker_state state = MAKER_DONE;
    if (m->be->ops->prepare_thread(m->be, 1) != 0) {
        state = MAKER_NO_THREAD;
    }
    for (int i = 0; state == MAKER_DONE && i < m->cfg.n_layers; i++) {
        pthread_mutex_lock(&mk->mu);
        const bool stop = mk->stop;
        pthread_mutex_unlock(&mk->mu);
        struct ke_error e = { 0 };
        if (stop) {
            state = MAKER_STOPPED;
        } else if (make_layer(m, mk->w, i, true, &e) != KE_STATUS_OK) {
            state = MAKER_FAILED;
            mk->err = e;   // read only after the state below, under the mutex
        } else {
            pthread_mutex_lock(&mk->mu);
            mk->ready = i + 1;
            pthread_cond_broadcast(&mk->cv);
            pthread_mutex_unlock(&mk->mu);
        }
    }
    if (state != MAKER_NO_THREAD) {
        m->be->ops->prepare_thread(m->be, 0);
    }
    pthread_mutex_lock(&mk->mu);
    mk->state = state;
    mk->secs = ke_now() - mk->t0;
    pthread_cond_broadcast(&mk->cv);
    pthread_mutex_unlock(&mk->mu);
    return NULL;
}

// Start the thread; 0 started, -1 not (the caller makes the layers itself).
static int maker_start(struct ke_umt5 * m, const struct ke_tensor_set * w)
{
    struct ke_umt5_maker * mk = calloc(1, sizeof(*mk));
    if (!mk) {
        return -1;
    }
    mk->m = m;
    mk->w = w;
    mk->state = MAKER_RUNNING;
    mk->t0 = ke_now();
    pthread_mutex_init(&mk->mu, NULL);
    pthread_cond_init(&mk->cv, NULL);
    // the thread takes fresh device memory only: what the allocator has cached goes back first
    if (m->be->ops->trim) {
        m->be->ops->trim(m->be);
    }
    if (pthread_create(&mk->th, NULL, maker_run, mk) != 0) {
        pthread_mutex_destroy(&mk->mu);
        pthread_cond_destroy(&mk->cv);
        free(mk);
        return -1;
    }
    m->maker = mk;
    return 0;
}

// Join the thread (after asking it to stop, with stop) and drop it.
static void maker_end(struct ke_umt5 * m, bool stop)
{
    struct ke_umt5_maker * mk = m->maker;
    if (!mk) {
        return;
    }
    pthread_mutex_lock(&mk->mu);
    mk->stop = stop;
    pthread_mutex_unlock(&mk->mu);
    pthread_join(mk->th, NULL);
    if (mk->state == MAKER_DONE) {
        ke_log(2, "T5: %d layers made on a second thread in %.3f s; the encodes waited %.3f s for them",
               m->cfg.n_layers, mk->secs, mk->waited);
    }
    pthread_mutex_destroy(&mk->mu);
    pthread_cond_destroy(&mk->cv);
    free(mk);
    m->maker = NULL;
}

// Wait until layer i is made. A failure to make one fails this and every later encode (make_failed).
static enum ke_status layer_wait(struct ke_umt5 * m, int i, struct ke_error * err)
{
    struct ke_umt5_maker * mk = m->maker;
    if (!mk) {
        return m->make_failed ? ke_err(err, KE_STATUS_NOMEM, "T5: its layers could not all be made") : KE_STATUS_OK;
    }
    const double t0 = ke_now();
    pthread_mutex_lock(&mk->mu);
    while (mk->ready <= i && mk->state == MAKER_RUNNING) {
        pthread_cond_wait(&mk->cv, &mk->mu);
    }
    const int ready = mk->ready;
    const enum maker_state state = mk->state;
    mk->waited += ke_now() - t0;
    pthread_mutex_unlock(&mk->mu);
    if (ready > i) {
        if (ready == m->cfg.n_layers) {
            maker_end(m, false);   // every layer made: the thread is only ending its stream
        }
        return KE_STATUS_OK;
    }
    const struct ke_error why = mk->err;
    const struct ke_tensor_set * w = mk->w;
    maker_end(m, false);
    if (state == MAKER_FAILED) {
        m->make_failed = true;
        return ke_err(err, why.code ? why.code : KE_STATUS_NOMEM, "%s", why.msg);
    }
    // no thread from the backend: the rest here
    for (int j = ready; j < m->cfg.n_layers; j++) {
        const enum ke_status st = make_layer(m, w, j, true, err);
        if (st != KE_STATUS_OK) {
            m->make_failed = true;
            return st;
        }
    }
    return KE_STATUS_OK;
}

static enum ke_status umt5_make(struct ke_umt5 ** out, const struct ke_tensor_set * w, struct ke_backend * be,
                                bool ahead, struct ke_error * err)
{
    *out = NULL;
    const char * path = ke_tset_path(w);
    const struct ke_tensor * emb = ke_tset_require(w, "token_embedding.weight", 0, NULL, err);
    if (!emb) {
        return err ? err->code : KE_STATUS_MISSING;
    }
    if (emb->n_dims != 2 || !is_weight_dtype(emb->type)) {
        char sh[96];
        return ke_err(err, KE_STATUS_SHAPE, "%s: tensor 'token_embedding.weight' is %s %s (expected a 2-D float table)",
                      path, ke_dtype_name(emb->type), ke_tensor_shape_str(emb, sh, sizeof(sh)));
    }
    // UMT5 has a table per layer; classic T5 and T5 v1.1 (shared_pos) one, shared by every layer: at
    // the top in Wan's T5Encoder, in block 0 only in HF's T5EncoderModel (and the GGUF/ComfyUI files)
    const bool top_pos = !ke_tset_get(w, "blocks.0.pos_embedding.embedding.weight") &&
                         ke_tset_get(w, "pos_embedding.embedding.weight");
    const bool block0_pos = ke_tset_get(w, "blocks.0.pos_embedding.embedding.weight") &&
                            !ke_tset_get(w, "blocks.1.pos_embedding.embedding.weight") &&
                            ke_tset_get(w, "blocks.1.norm1.weight");
    const char * pos_name = top_pos ? "pos_embedding.embedding.weight" : "blocks.0.pos_embedding.embedding.weight";
    const struct ke_tensor * pos = ke_tset_require(w, pos_name, 0, NULL, err);
    const struct ke_tensor * q = ke_tset_require(w, "blocks.0.attn.q.weight", 0, NULL, err);
    const struct ke_tensor * gate = ke_tset_require(w, "blocks.0.ffn.gate.0.weight", 0, NULL, err);
    if (!pos || !q || !gate) {
        return err ? err->code : KE_STATUS_MISSING;
    }
    if (pos->n_dims != 2 || q->n_dims != 2 || gate->n_dims != 2) {
        return ke_err(err, KE_STATUS_SHAPE, "%s: blocks.0 attention/FFN/position tensors must be 2-D", path);
    }
    struct ke_umt5 * m = calloc(1, sizeof(*m));
    if (!m) {
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
    }
    m->be = be;
    m->emb = emb;
    struct ke_umt5_config * c = &m->cfg;
    c->vocab = outer(emb, 0);
    c->dim = outer(emb, 1);
    c->n_buckets = (int) outer(pos, 0);
    c->n_heads = (int) outer(pos, 1);
    c->dim_attn = outer(q, 0);
    c->dim_ffn = outer(gate, 0);
    c->max_dist = 128;
    c->eps = 1e-6f;
    c->shared_pos = top_pos || block0_pos;
    while (c->n_layers < 4096) {
        char nm[96];
        snprintf(nm, sizeof(nm), "blocks.%d.norm1.weight", c->n_layers);
        if (!ke_tset_get(w, nm)) {
            break;
        }
        c->n_layers++;
    }
    if (c->n_heads <= 0 || c->dim_attn % c->n_heads != 0 || c->n_buckets < 4 || c->n_buckets % 4 != 0 ||
        c->dim <= 0 || c->dim_ffn <= 0 || c->vocab <= 0) {
        ke_umt5_free(m);
        return ke_err(err, KE_STATUS_SHAPE, "%s: inconsistent T5 sizes: dim_attn %lld over %d heads, %d buckets",
                      path, (long long) c->dim_attn, c->n_heads, c->n_buckets);
    }
    m->layers = calloc((size_t) (c->n_layers ? c->n_layers : 1), sizeof(*m->layers));
    m->norm = upload_f32(be, w, "norm.weight", c->dim, err);
    if (m->norm && c->shared_pos) {
        m->pos_table = copy_f32(w, pos_name, 2, (int64_t[]) { c->n_buckets, c->n_heads }, err);
    }
    if (!m->layers || !m->norm || (c->shared_pos && !m->pos_table)) {
        ke_umt5_free(m);
        return err && err->code ? err->code : KE_STATUS_NOMEM;
    }
    for (int i = 0; i < c->n_layers; i++) {
        struct ke_umt5_layer * l = &m->layers[i];
        char nm[128];
#define NAME(s) (snprintf(nm, sizeof(nm), "blocks.%d.%s", i, s), nm)
        if (!(l->norm1 = upload_f32(be, w, NAME("norm1.weight"), c->dim, err)) ||
            !(l->norm2 = upload_f32(be, w, NAME("norm2.weight"), c->dim, err)) ||
            (!c->shared_pos && !(l->pos_table = copy_f32(w, NAME("pos_embedding.embedding.weight"), 2,
                                                         (int64_t[]) { c->n_buckets, c->n_heads }, err)))) {
#undef NAME
            ke_umt5_free(m);
            return err && err->code ? err->code : KE_STATUS_NOMEM;
        }
    }
    // every linear checked before any is prepared, so a layer made later fails only for memory
    for (int i = 0; i < c->n_layers; i++) {
        const enum ke_status st = make_layer(m, w, i, false, err);
        if (st != KE_STATUS_OK) {
            ke_umt5_free(m);
            return st;
        }
    }
    if (ahead && maker_start(m, w) == 0) {
        *out = m;
        return KE_STATUS_OK;
    }
    for (int i = 0; i < c->n_layers; i++) {
        const enum ke_status st = make_layer(m, w, i, true, err);
        if (st != KE_STATUS_OK) {
            ke_umt5_free(m);
            return st;
        }
    }
    *out = m;
    return KE_STATUS_OK;
}

enum ke_status ke_umt5_init(struct ke_umt5 ** out, const struct ke_tensor_set * w, struct ke_backend * be,
                            struct ke_error * err)
{
    return umt5_make(out, w, be, false, err);
}

enum ke_status ke_umt5_init_ahead(struct ke_umt5 ** out, const struct ke_tensor_set * w, struct ke_backend * be,
                                  struct ke_error * err)
{
    return umt5_make(out, w, be, be->ops->prepare_thread != NULL, err);
}

static void release(struct ke_backend * be, struct ke_linear * l)
{
    if (l->w && be) {
        be->ops->linear_release(be, l);
    }
}

void ke_umt5_trim(struct ke_umt5 * m)
{
    struct ke_umt5_workspace * w = &m->ws;
    float * dev[] = { w->h, w->t, w->q, w->k, w->v, w->a, w->g, w->u };
    for (size_t i = 0; i < sizeof(dev) / sizeof(dev[0]); i++) {
        ke_be_free(m->be, dev[i]);
    }
    for (int s = 0; s < KE_UMT5_MAX_SEQ; s++) {
        ke_be_free(m->be, w->seq[s].x);
        ke_be_free(m->be, w->seq[s].bias);
        ke_be_free(m->be, w->seq[s].tv);
        free(w->seq[s].bucket_of);
    }
    free(w->host);
    free(w->hbias);
    free(w->htv);
    memset(w, 0, sizeof(*w));
}

// Buffers for n_seq sequences of up to L tokens, reused while they fit.
static enum ke_status ensure_workspace(struct ke_umt5 * m, int64_t L, int n_seq, struct ke_error * err)
{
    struct ke_umt5_workspace * w = &m->ws;
    if (L <= w->cap && n_seq <= w->n_seq) {
        return KE_STATUS_OK;
    }
    L = L > w->cap ? L : w->cap;
    n_seq = n_seq > w->n_seq ? n_seq : w->n_seq;
    ke_umt5_trim(m);
    const struct ke_umt5_config * c = &m->cfg;
    struct ke_backend * be = m->be;
    const size_t fs = sizeof(float);
    const int64_t D = c->dim, A = c->dim_attn, F = c->dim_ffn, H = c->n_heads;
    w->host = malloc((size_t) (L * D) * fs);
    w->hbias = malloc((size_t) (H * L * L) * fs);
    w->htv = malloc((size_t) (H * (2 * L - 1)) * fs);
    w->h = ke_be_alloc(be, (size_t) (L * D) * fs);
    w->t = ke_be_alloc(be, (size_t) (L * D) * fs);
    w->q = ke_be_alloc(be, (size_t) (L * A) * fs);
    w->k = ke_be_alloc(be, (size_t) (L * A) * fs);
    w->v = ke_be_alloc(be, (size_t) (L * A) * fs);
    w->a = ke_be_alloc(be, (size_t) (L * A) * fs);
    w->g = ke_be_alloc(be, (size_t) (L * F) * fs);
    w->u = ke_be_alloc(be, (size_t) (L * F) * fs);
    bool ok = w->host && w->hbias && w->htv && w->h && w->t && w->q && w->k && w->v && w->a && w->g && w->u;
    for (int s = 0; s < n_seq; s++) {
        struct ke_umt5_seq_buffers * sb = &w->seq[s];
        sb->x = ke_be_alloc(be, (size_t) (L * D) * fs);
        sb->bias = ke_be_alloc(be, (size_t) (H * L * L) * fs);
        sb->tv = ke_be_alloc(be, (size_t) (H * (2 * L - 1)) * fs);
        sb->bucket_of = malloc((size_t) (2 * L - 1) * sizeof(int));
        ok = ok && sb->x && sb->bias && sb->tv && sb->bucket_of;
    }
    if (!ok) {
        ke_umt5_trim(m);
        const double mib = (double) ((2 * L * D + 2 * H * L * L + 3 * L * D + 4 * L * A + 2 * L * F +
                                      (n_seq - 1) * (L * D + H * L * L)) * (int64_t) fs) / 1048576.0;
        if (n_seq > 1) {
            return ke_err(err, KE_STATUS_NOMEM, "T5: out of memory for the activations of %d sequences of up to "
                          "%lld tokens (%.1f MiB)", n_seq, (long long) L, mib);
        }
        return ke_err(err, KE_STATUS_NOMEM, "T5: out of memory for the activations of %lld tokens (%.1f MiB)",
                      (long long) L, mib);
    }
    w->cap = L;
    w->n_seq = n_seq;
    return KE_STATUS_OK;
}

void ke_umt5_free(struct ke_umt5 * m)
{
    if (!m) {
        return;
    }
    maker_end(m, true);
    ke_umt5_trim(m);
    for (int i = 0; m->layers && i < m->cfg.n_layers; i++) {
        struct ke_umt5_layer * l = &m->layers[i];
        ke_be_free(m->be, l->norm1);
        ke_be_free(m->be, l->norm2);
        free(l->pos_table);
        release(m->be, &l->q);
        release(m->be, &l->k);
        release(m->be, &l->v);
        release(m->be, &l->o);
        release(m->be, &l->gate);
        release(m->be, &l->fc1);
        release(m->be, &l->fc2);
    }
    free(m->layers);
    free(m->pos_table);
    ke_be_free(m->be, m->norm);
    free(m);
}

// A streaming backend uploads layer i's linears while the current layer runs (no effect on the CPU).
static void prefetch_layer(struct ke_umt5 * m, int i)
{
    if (i < m->cfg.n_layers && m->be->ops->prefetch && !m->maker) {   // (streamed layers are never made ahead)
        struct ke_umt5_layer * l = &m->layers[i];
        struct ke_linear * ls[7] = { &l->q, &l->k, &l->v, &l->o, &l->gate, &l->fc1, &l->fc2 };
        m->be->ops->prefetch(m->be, ls, 7);
    }
}

// bias (H, L, L) = table[bucket(j - i), h]; masked keys get the most negative float32.
struct bias_ctx {
    float * bias;
    const float * table;     // (NB, H)
    const int * bucket_of;   // (2L - 1), index r + L - 1
    const int64_t * mask;    // (L) or NULL
    int64_t L;
    int H;
};

static void bias_rows(void * p, int64_t r0, int64_t r1, int tid)
{
    (void) tid;
    const struct bias_ctx * c = p;
    const int64_t L = c->L;
    for (int64_t r = r0; r < r1; r++) {    // r = h * L + i
        const int64_t h = r / L, i = r % L;
        float * row = c->bias + r * L;
        const int * b = c->bucket_of + (L - 1 - i);   // b[j] = bucket(j - i)
        for (int64_t j = 0; j < L; j++) {
            row[j] = (c->mask && c->mask[j] == 0) ? -FLT_MAX : c->table[b[j] * c->H + h];
        }
    }
}

static void build_bias(float * bias, const float * table, const int * bucket_of, int64_t L, int H, int with_mask,
                       const int64_t * mask)
{
    struct bias_ctx c = { bias, table, bucket_of, with_mask ? mask : NULL, L, H };
    ke_parallel_for((int64_t) H * L, 1 + 65536 / L, bias_rows, &c);
}

// One sequence of an encode: its tokens, where its rows go, its mask and trace (either may be NULL).
struct seq_in {
    float * hidden;
    const int64_t * ids;
    const int64_t * mask;       // NULL when every key is real
    int64_t L;
    const struct ke_umt5_trace * trace;
};

static enum ke_status check_seq(const struct ke_umt5 * m, const struct seq_in * s, struct ke_error * err)
{
    if (s->L <= 0 || s->L > (1 << 16)) {
        return ke_err(err, KE_STATUS_INVALID, "T5: %lld tokens (expected 1..65536)", (long long) s->L);
    }
    for (int64_t i = 0; i < s->L; i++) {
        if (s->ids[i] < 0 || s->ids[i] >= m->cfg.vocab) {
            return ke_err(err, KE_STATUS_INVALID, "T5: token id %lld at position %lld is outside the vocabulary of %lld",
                          (long long) s->ids[i], (long long) i, (long long) m->cfg.vocab);
        }
    }
    return KE_STATUS_OK;
}

// x = Emb[ids] on the backend, and the sequence's relative-position buckets.
static void seq_begin(struct ke_umt5 * m, const struct seq_in * s, struct ke_umt5_seq_buffers * sb)
{
    const struct ke_umt5_config * c = &m->cfg;
    const int64_t D = c->dim, L = s->L;
    float * host = m->ws.host;
    const size_t row_bytes = ke_dtype_row_bytes(m->emb->type, D);   // block-quantized rows too
    for (int64_t i = 0; i < L; i++) {
        ke_convert_to_f32(host + i * D, (const char *) m->emb->data + (size_t) s->ids[i] * row_bytes, m->emb->type,
                          m->emb->scale, (size_t) D);
    }
    if (s->trace && s->trace->token_embedding) {
        memcpy(s->trace->token_embedding, host, (size_t) (L * D) * sizeof(float));
    }
    m->be->ops->upload(m->be, sb->x, host, (size_t) (L * D) * sizeof(float));
    for (int64_t r = -(L - 1); r <= L - 1; r++) {
        sb->bucket_of[r + L - 1] = ke_umt5_bucket(r, c->n_buckets, c->max_dist);
    }
}

// Layer li of one sequence (its weights made).
static void seq_layer(struct ke_umt5 * m, int li, const struct seq_in * s, struct ke_umt5_seq_buffers * sb)
{
    const struct ke_umt5_config * c = &m->cfg;
    struct ke_backend * be = m->be;
    const struct ke_backend_ops * ops = be->ops;
    const struct ke_umt5_layer * l = &m->layers[li];
    const int64_t D = c->dim, A = c->dim_attn, F = c->dim_ffn, L = s->L;
    const int H = c->n_heads;
    const size_t fs = sizeof(float);
    float * x = sb->x, * h = m->ws.h, * t = m->ws.t, * bias = sb->bias;
    float * q = m->ws.q, * k = m->ws.k, * v = m->ws.v, * a = m->ws.a, * g = m->ws.g, * u = m->ws.u;
    const int * bucket_of = sb->bucket_of;
    const int with_mask = s->mask != NULL;
    // shared_pos: the bias of layer 0 serves every layer
    const float * table = c->shared_pos ? m->pos_table : l->pos_table;
    if (s->trace && s->trace->pos_bias && s->trace->pos_bias[li]) {
        build_bias(s->trace->pos_bias[li], table, bucket_of, L, H, 0, NULL);
    }
    if (li == 0 || !c->shared_pos) {
        if (!with_mask && ops->rel_bias) {
            // the backend expands the per-head diagonals (H x (2L - 1) values up, not H x L x L)
            float * htv = m->ws.htv;
            for (int hh = 0; hh < H; hh++) {
                for (int64_t r = 0; r < 2 * L - 1; r++) {
                    htv[hh * (2 * L - 1) + r] = table[bucket_of[r] * H + hh];
                }
            }
            ops->upload(be, sb->tv, htv, (size_t) (H * (2 * L - 1)) * fs);
            ops->rel_bias(be, bias, sb->tv, L, H);
        } else {   // a key mask: the host builds the whole bias
            build_bias(m->ws.hbias, table, bucket_of, L, H, with_mask, s->mask);
            ops->upload(be, bias, m->ws.hbias, (size_t) (H * L * L) * fs);
        }
    }
    // x = x + o(attn(norm1(x)))
    ops->rms_norm(be, h, x, L, D, l->norm1, c->eps);
    ops->linear(be, q, h, L, &l->q);
    ops->linear(be, k, h, L, &l->k);
    ops->linear(be, v, h, L, &l->v);
    ops->attention(be, a, q, k, v, L, L, H, (int) (A / H), 1.0f, bias);   // T5: no 1/sqrt(hd)
    ops->linear(be, t, a, L, &l->o);
    ops->add(be, x, x, t, L * D);
    // x = x + fc2(fc1(h) * gelu_tanh(gate(h))), h = norm2(x)
    ops->rms_norm(be, h, x, L, D, l->norm2, c->eps);
    ops->linear(be, g, h, L, &l->gate);
    ops->gelu_tanh(be, g, L * F);
    ops->linear(be, u, h, L, &l->fc1);
    ops->mul(be, u, u, g, L * F);
    ops->linear(be, t, u, L, &l->fc2);
    ops->add(be, x, x, t, L * D);
    if (s->trace && s->trace->block && s->trace->block[li]) {
        ops->download(be, s->trace->block[li], x, (size_t) (L * D) * fs);
    }
}

// n sequences, layer by layer (each layer waited for once, then run for every sequence).
static enum ke_status encode_seqs(struct ke_umt5 * m, int n, struct seq_in * in, struct ke_error * err)
{
    const struct ke_umt5_config * c = &m->cfg;
    struct ke_backend * be = m->be;
    enum ke_status st = KE_STATUS_OK;
    if (n < 1 || n > KE_UMT5_MAX_SEQ) {
        return ke_err(err, KE_STATUS_INVALID, "T5: %d sequences in one encode (expected 1..%d)", n, KE_UMT5_MAX_SEQ);
    }
    int64_t L = 0;
    for (int s = 0; s < n; s++) {
        if ((st = check_seq(m, &in[s], err)) != KE_STATUS_OK) {
            return st;
        }
        // a mask without a masked key is no mask (the bias then comes from the backend's diagonals)
        bool masked = false;
        for (int64_t i = 0; in[s].mask && i < in[s].L; i++) {
            masked |= in[s].mask[i] == 0;
        }
        in[s].mask = masked ? in[s].mask : NULL;
        L = in[s].L > L ? in[s].L : L;
    }
    if ((st = ensure_workspace(m, L, n, err)) != KE_STATUS_OK) {
        return st;
    }
    struct ke_umt5_seq_buffers * sb = m->ws.seq;
    for (int s = 0; s < n; s++) {
        seq_begin(m, &in[s], &sb[s]);
    }
    prefetch_layer(m, 0);
    for (int li = 0; li < c->n_layers; li++) {
        for (int s = 0; s < n; s++) {
            const struct ke_umt5_trace * tr = in[s].trace;
            if (tr && tr->abort && tr->abort(tr->user_data)) {
                st = ke_err(err, KE_STATUS_ABORTED, "T5: cancelled");
                goto done;
            }
        }
        if ((st = layer_wait(m, li, err)) != KE_STATUS_OK) {
            goto done;   // first: a layer that could not be made may have left a backend failure too
        }
        if (ke_be_failed(be)) {
            // an op of the previous block failed (read below), or a layer the second thread could not
            // make, whose prepare recorded on the backend before this thread's layer_wait could see it:
            // once the thread has ended, its failure is named as such (make_failed) and the record is
            // read by this thread alone
            if (m->maker) {
                st = layer_wait(m, c->n_layers - 1, err);
            }
            goto done;
        }
        prefetch_layer(m, li + 1);
        for (int s = 0; s < n; s++) {
            seq_layer(m, li, &in[s], &sb[s]);
        }
    }
    for (int s = 0; s < n; s++) {
        be->ops->rms_norm(be, m->ws.h, sb[s].x, in[s].L, c->dim, m->norm, c->eps);
        be->ops->download(be, in[s].hidden, m->ws.h, (size_t) (in[s].L * c->dim) * sizeof(float));
    }
done:
    {
        // a failed op ends the call with its status and message (ops return nothing)
        const enum ke_status be_st = ke_be_status(be, err);
        if (st == KE_STATUS_OK && be_st != KE_STATUS_OK) {
            st = be_st;
            ke_err_prefix(err, "T5: ");
        }
    }
    return st;
}

enum ke_status ke_umt5_encode(struct ke_umt5 * m, float * hidden, const int64_t * ids, const int64_t * mask,
                              int64_t L, const struct ke_umt5_trace * trace, struct ke_error * err)
{
    struct seq_in s = { hidden, ids, mask, L, trace };
    return encode_seqs(m, 1, &s, err);
}

enum ke_status ke_umt5_encode_many(struct ke_umt5 * m, int n, float * const * hidden, const int64_t * const * ids,
                                   const int64_t * L, struct ke_error * err)
{
    struct seq_in in[KE_UMT5_MAX_SEQ];
    if (n < 1 || n > KE_UMT5_MAX_SEQ) {
        return ke_err(err, KE_STATUS_INVALID, "T5: %d sequences in one encode (expected 1..%d)", n, KE_UMT5_MAX_SEQ);
    }
    for (int s = 0; s < n; s++) {
        in[s] = (struct seq_in) { hidden[s], ids[s], NULL, L[s], NULL };
    }
    return encode_seqs(m, n, in, err);
}
