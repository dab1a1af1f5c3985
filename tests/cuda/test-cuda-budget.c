// Kinora tests: the CUDA backend's device memory budget and weight streaming, TAP output. Needs a GPU
// (suite cuda; run on the device machine, see flatpak-free-docs/cuda.md).
//
//  - a DiT forward whose weights stream from host memory (budget smaller than the weights) equals the
//    resident forward: the same bf16 weights reach the same GEMMs, so the outputs agree to 1e-5
//    relative L2 (only cuBLASLt's choice of algorithm could differ; a stale or half-copied block shows
//    as an O(1) error);
//  - the FFN in token chunks: 1e-2 (a GEMM with fewer rows may accumulate in another order, and its
//    bf16 GELU output then rounds differently);
//  - fp8 e4m3 weights kept as fp8 on the device (resident and streamed) against the CPU backend's
//    f32 linear: 1e-2 (bf16 operands);
//  - Q8_0 block linears with the FFN in token chunks (the dequantized weights kept from chunk to chunk)
//    against the unchunked forward, resident and streamed: 1e-2;
//  - over-budget allocations fail with KE_STATUS_NOMEM and a message naming the budget, the backend
//    stays usable and a smaller run afterwards succeeds; the allocator peak stays within the budget.
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "cuda-tap.h"
#include "core/error.h"
#include "core/tensor.h"
#include "models/dit/wan.h"
#include "pipeline/tiny-impl.h"

static struct ke_backend * g_gpu;
static uint64_t g_rng = 0x2545f4914f6cdd1dull;

static float frand(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float) ((g_rng >> 40) & 0xffffff) / 8388608.0f - 1.0f;
}

static void mem(size_t * budget, size_t * in_use, size_t * peak)
{
    g_gpu->ops->memory(g_gpu, budget, in_use, peak);
}

static const double GiB = 1073741824.0;

// A DiT with 1.3B-like block shapes (dim 1536, ffn 8960) but 10 blocks: 0.9 GiB of bf16 weights.
static struct ke_dit_config small_cfg(void)
{
    struct ke_dit_config c;
    ke_random_dit_config(&c, "t2v", 16, 1536, 8960, 512, 64, 12, 10);
    return c;
}

// One forward at latent [16, F, H, W] (host output of 16*F*H*W floats); status returned, message in err.
static enum ke_status forward(struct ke_dit * d, int F, int H, int W, int64_t ffn_chunk, float * out,
                              struct ke_error * err)
{
    const struct ke_dit_config * c = ke_dit_get_config(d);
    const size_t nx = (size_t) c->in_dim * F * H * W;
    float * x = malloc(nx * sizeof(float)), * text = malloc((size_t) c->text_len * c->text_dim * sizeof(float));
    uint64_t keep = g_rng;
    g_rng = 12345;   // the same inputs for every run
    for (size_t i = 0; i < nx; i++) {
        x[i] = frand();
    }
    for (size_t i = 0; i < (size_t) c->text_len * c->text_dim; i++) {
        text[i] = 0.2f * frand();
    }
    g_rng = keep;
    struct ke_dit_context * ctx = NULL;
    float t = 700.0f;
    ke_dit_set_ffn_chunk(d, ffn_chunk);
    enum ke_status st = ke_dit_context_new(d, text, 20, &ctx, err);
    if (st == KE_STATUS_OK) {
        st = ke_dit_forward(d, ctx, x, c->in_dim, NULL, 0, F, H, W, &t, 1, out, NULL, NULL, err);
    }
    ke_dit_context_free(ctx);
    free(x);
    free(text);
    return st;
}

static void test_streaming_dit(void)
{
    struct ke_dit_config c = small_cfg();
    struct ke_random_opts o = { .type = KE_DTYPE_BF16 };
    struct ke_tensor_set * ws = NULL;
    struct ke_error err = { 0 };
    if (ke_random_dit_weights(&ws, &c, &o, &err) != KE_STATUS_OK) {
        tap_report(0, "random DiT weights: %s", err.msg);
        return;
    }
    const int F = 3, H = 32, W = 32;   // 768 tokens
    const size_t n_out = (size_t) c.out_dim * F * H * W;
    float * ref = malloc(n_out * sizeof(float)), * got = malloc(n_out * sizeof(float));

    // resident run (the default budget: everything fits)
    ke_be_set_memory(g_gpu, 0, SIZE_MAX);
    struct ke_dit * d = NULL;
    struct ke_backend_stats st;
    enum ke_status s = ke_dit_init(&d, ws, NULL, g_gpu, &err);
    for (int rep = 0; rep < 2 && s == KE_STATUS_OK; rep++) {
        // twice: the first call of each attention shape may time both implementations before it keeps one
        s = forward(d, F, H, W, 0, ref, &err);
    }
    g_gpu->ops->stats(g_gpu, &st);
    tap_report(s == KE_STATUS_OK && st.bytes_streamed == 0, "resident DiT forward (%s; %.3f GiB weights resident)",
           s == KE_STATUS_OK ? "ok" : err.msg, st.bytes_weights / GiB);
    ke_dit_free(d);
    d = NULL;

    // streamed: a budget 0.6 GiB above what is held now, smaller than the 0.9 GiB of weights
    size_t budget = 0, in_use = 0, peak = 0;
    mem(&budget, &in_use, &peak);
    const size_t b = in_use + (size_t) (0.6 * GiB);
    struct ke_dit_mem_plan plan;
    memset(&err, 0, sizeof err);
    s = ke_dit_plan_memory(ws, F, H, W, g_gpu->ops->xbuf_elem, b - in_use, &plan, &err);
    tap_report(s == KE_STATUS_OK && plan.streams && plan.fits && plan.weights > b - in_use,
           "plan: weights %.3f GiB > room %.3f GiB: streams (%d), fits (%d), cap %.3f GiB", plan.weights / GiB,
           (b - in_use) / GiB, plan.streams, plan.fits, plan.weight_cap / GiB);
    ke_be_set_memory(g_gpu, b, plan.weight_cap);
    g_gpu->ops->stats(g_gpu, &st);   // resets the peak
    s = ke_dit_init(&d, ws, NULL, g_gpu, &err);
    for (size_t i = 0; i < n_out; i++) {
        got[i] = NAN;
    }
    for (int rep = 0; rep < 2 && s == KE_STATUS_OK; rep++) {
        s = forward(d, F, H, W, 0, got, &err);   // twice: the second reuses the slots of the first
    }
    g_gpu->ops->stats(g_gpu, &st);
    int nf = 0;
    double rel = s == KE_STATUS_OK ? tap_rel_l2(got, ref, n_out, &nf) : 1.0;
    tap_report(s == KE_STATUS_OK && !nf && rel <= 1e-5 && st.bytes_streamed > 0,
           "streamed DiT forward equals the resident one: rel %.3e (tol 1e-5), %.3f GiB streamed, %.3f resident%s%s",
           rel, st.bytes_streamed / GiB, st.bytes_weights / GiB, s == KE_STATUS_OK ? "" : ": ", s == KE_STATUS_OK ? "" : err.msg);
    tap_report(st.bytes_peak <= b, "allocator peak %.3f GiB within the budget %.3f GiB", st.bytes_peak / GiB, b / GiB);

    // the FFN in token chunks (as a plan under a tighter budget would choose), still streaming
    if (s == KE_STATUS_OK) {
        s = forward(d, F, H, W, 200, got, &err);
        rel = s == KE_STATUS_OK ? tap_rel_l2(got, ref, n_out, &nf) : 1.0;
        tap_report(s == KE_STATUS_OK && !nf && rel <= 1e-2, "FFN in chunks of 200 tokens: rel %.3e (tol 1e-2)%s%s", rel,
               s == KE_STATUS_OK ? "" : ": ", s == KE_STATUS_OK ? "" : err.msg);
    }

    // over budget: a latent whose activations cannot fit fails cleanly, then a small run works again
    memset(&err, 0, sizeof err);
    const int Fb = 21, Hb = 160, Wb = 160;   // 134,400 tokens: GBs of activations
    float * big = malloc((size_t) c.out_dim * Fb * Hb * Wb * sizeof(float));
    s = big ? forward(d, Fb, Hb, Wb, 0, big, &err) : KE_STATUS_NOMEM;
    tap_report(s == KE_STATUS_NOMEM && strstr(err.msg, "device budget") != NULL,
           "over-budget forward: status %d (want %d, NOMEM), message: %s", (int) s, (int) KE_STATUS_NOMEM, err.msg);
    free(big);
    memset(&err, 0, sizeof err);
    s = forward(d, F, H, W, 0, got, &err);
    rel = s == KE_STATUS_OK ? tap_rel_l2(got, ref, n_out, &nf) : 1.0;
    tap_report(s == KE_STATUS_OK && !nf && rel <= 1e-5, "a smaller run after the failure: rel %.3e%s%s", rel,
           s == KE_STATUS_OK ? "" : ": ", s == KE_STATUS_OK ? "" : err.msg);
    g_gpu->ops->stats(g_gpu, &st);
    tap_report(st.bytes_peak <= b, "allocator peak %.3f GiB within the budget %.3f GiB after the failure",
           st.bytes_peak / GiB, b / GiB);
    ke_dit_free(d);
    g_gpu->ops->stats(g_gpu, &st);
    tap_report(st.bytes_streamed == 0, "freeing the DiT releases its streamed weights (%.3f GiB left)",
           st.bytes_streamed / GiB);
    ke_be_set_memory(g_gpu, 0, SIZE_MAX);
    free(ref);
    free(got);
    ke_tset_free(ws);
}

static void test_alloc_over_budget(void)
{
    size_t budget = 0, in_use = 0, peak = 0;
    mem(&budget, &in_use, &peak);
    const size_t b = in_use + ((size_t) 64 << 20);
    ke_be_set_memory(g_gpu, b, SIZE_MAX);
    void * p = ke_be_alloc(g_gpu, (size_t) 256 << 20);
    tap_report(p == NULL, "a 256 MiB allocation under a budget 64 MiB above use is refused");
    ke_be_free(g_gpu, p);
    void * q = ke_be_alloc(g_gpu, (size_t) 16 << 20);
    tap_report(q != NULL, "a 16 MiB allocation in the same budget succeeds");
    ke_be_free(g_gpu, q);
    struct ke_error err = { 0 };
    tap_report(ke_be_status(g_gpu, &err) == KE_STATUS_OK, "no failure is left recorded (%s)", err.msg);
    ke_be_set_memory(g_gpu, 0, SIZE_MAX);
}

// y = x W^T with an fp8 e4m3 weight (per-tensor scale), resident and streamed, against the CPU.
static void test_fp8_linear(int streamed)
{
    const int64_t M = 70, K = 1024, N = 768;
    uint8_t * w8 = malloc((size_t) (N * K));
    float * x = malloc((size_t) (M * K) * 4), * ref = malloc((size_t) (M * N) * 4), * got = malloc((size_t) (M * N) * 4);
    for (int64_t i = 0; i < N * K; i++) {
        uint8_t v = (uint8_t) ((g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull) >> 56);
        if ((v & 0x7f) == 0x7f) {
            v &= 0xfe;   // not NaN
        }
        w8[i] = v;
    }
    for (int64_t i = 0; i < M * K; i++) {
        x[i] = frand();
    }
    struct ke_tensor w;
    const int64_t ws[2] = { N, K };
    ke_tensor_init(&w, KE_DTYPE_F8_E4M3, 2, ws, w8);
    w.scale = 0.0125f;
    w.name = "fp8 weight";
    struct ke_linear lc = { .w = &w, .n_in = K, .n_out = N }, lg = lc;
    struct ke_backend * cpu = ke_backend_cpu();
    ke_be_set_memory(g_gpu, 0, streamed ? 0 : SIZE_MAX);
    struct ke_backend_stats st;
    g_gpu->ops->stats(g_gpu, &st);
    const size_t before = st.bytes_weights;
    int ok = cpu->ops->linear_prepare(cpu, &lc) == 0 && g_gpu->ops->linear_prepare(g_gpu, &lg) == 0;
    g_gpu->ops->stats(g_gpu, &st);
    const size_t held = streamed ? st.bytes_streamed : st.bytes_weights - before;
    double rel = 1.0;
    int nf = 1;
    if (ok) {
        float * dx = ke_be_alloc(g_gpu, (size_t) (M * K) * 4), * dy = ke_be_alloc(g_gpu, (size_t) (M * N) * 4);
        g_gpu->ops->upload(g_gpu, dx, x, (size_t) (M * K) * 4);
        cpu->ops->linear(cpu, ref, x, M, &lc);
        g_gpu->ops->linear(g_gpu, dy, dx, M, &lg);
        g_gpu->ops->download(g_gpu, got, dy, (size_t) (M * N) * 4);
        rel = tap_rel_l2(got, ref, (size_t) (M * N), &nf);
        ke_be_free(g_gpu, dx);
        ke_be_free(g_gpu, dy);
    }
    struct ke_error err = { 0 };
    const int failed = ke_be_status(g_gpu, &err) != KE_STATUS_OK;
    tap_report(ok && !failed && !nf && rel <= 1e-2 && held == (size_t) (N * K),
           "fp8 linear %s: rel %.3e (tol 1e-2), %zu bytes held for %lld weights (1 byte each)%s%s",
           streamed ? "streamed" : "resident", rel, held, (long long) (N * K), failed ? ": " : "",
           failed ? err.msg : "");
    if (lc.prepared) {
        cpu->ops->linear_release(cpu, &lc);
    }
    if (lg.prepared) {
        g_gpu->ops->linear_release(g_gpu, &lg);
    }
    ke_be_set_memory(g_gpu, 0, SIZE_MAX);
    free(w8);
    free(x);
    free(ref);
    free(got);
}

// The block linears of ws (bf16) re-encoded as type (a GGUF block type) in place; 0 ok.
static int quantize_blocks(struct ke_tensor_set * ws, int layers, enum ke_dtype type)
{
    static const char * const lin[] = { "self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o",
                                         "cross_attn.q", "cross_attn.o", "ffn.0", "ffn.2" };
    for (int i = 0; i < layers; i++) {
        for (size_t k = 0; k < sizeof lin / sizeof lin[0]; k++) {
            char name[96];
            snprintf(name, sizeof name, "blocks.%d.%s.weight", i, lin[k]);
            struct ke_tensor * t = ke_tset_get(ws, name);
            if (!t || t->type != KE_DTYPE_BF16) {
                return -1;
            }
            const int64_t K = t->ne[0], N = t->ne[1], shape[2] = { N, K };
            char * dst = malloc(ke_dtype_row_bytes(type, N * K));
            float * row = malloc((size_t) K * sizeof(float));
            if (!dst || !row || ke_tset_own_malloc(ws, dst) < 0) {
                free(row);
                return -1;
            }
            int rc = 0;
            for (int64_t r = 0; r < N && rc == 0; r++) {
                ke_convert_to_f32(row, (const uint16_t *) t->data + r * K, KE_DTYPE_BF16, 1.0f, (size_t) K);
                rc = ke_quantize_row(type, row, dst + (size_t) r * ke_dtype_row_bytes(type, K), K);
            }
            free(row);
            if (rc != 0) {
                return -1;
            }
            const char * nm = t->name;
            ke_tensor_init(t, type, 2, shape, dst);
            t->name = nm;
        }
    }
    return 0;
}

// Block linears kept as Q8_0 on the device, the FFN in token chunks: each chunk runs ffn.0 and ffn.2 in
// turn, and the backend keeps the bf16 dequantizations of the last two weights for the next chunk. The
// chunked forward against the unchunked one of the same weights, resident and streamed: 1e-2 (as the
// bf16 chunks above: fewer rows, another accumulation order); a weight dequantized for the wrong linear,
// or a stale copy after a slot was refilled, is an O(1) error.
static void test_narrow_chunks(void)
{
    struct ke_dit_config c = small_cfg();
    c.num_layers = 4;
    struct ke_random_opts o = { .type = KE_DTYPE_BF16 };
    struct ke_tensor_set * ws = NULL;
    struct ke_error err = { 0 };
    if (ke_random_dit_weights(&ws, &c, &o, &err) != KE_STATUS_OK || quantize_blocks(ws, c.num_layers, KE_DTYPE_Q8_0)) {
        tap_report(0, "random Q8_0 DiT weights: %s", err.msg);
        return;
    }
    const int F = 3, H = 32, W = 32;   // 768 tokens
    const size_t n_out = (size_t) c.out_dim * F * H * W;
    float * ref = malloc(n_out * sizeof(float)), * got = malloc(n_out * sizeof(float));
    for (int streamed = 0; streamed < 2; streamed++) {
        // streamed: a weight cap of one block's linears (six dim x dim, two dim x ffn_dim) as stored, so
        // the others stream through the two slots
        const int64_t D = c.dim, FF = c.ffn_dim;
        const size_t cap = ke_dtype_row_bytes(KE_DTYPE_Q8_0, 6 * D * D + 2 * D * FF);
        ke_be_set_memory(g_gpu, 0, streamed ? cap : SIZE_MAX);
        struct ke_dit * d = NULL;
        enum ke_status s = ke_dit_init(&d, ws, NULL, g_gpu, &err);
        for (int rep = 0; rep < 2 && s == KE_STATUS_OK; rep++) {
            s = forward(d, F, H, W, 0, ref, &err);
        }
        for (size_t i = 0; i < n_out; i++) {
            got[i] = NAN;
        }
        if (s == KE_STATUS_OK) {
            s = forward(d, F, H, W, 100, got, &err);   // 8 chunks, the last of 68 tokens
        }
        struct ke_backend_stats st;
        g_gpu->ops->stats(g_gpu, &st);
        int nf = 0;
        const double rel = s == KE_STATUS_OK ? tap_rel_l2(got, ref, n_out, &nf) : 1.0;
        tap_report(s == KE_STATUS_OK && !nf && rel <= 1e-2 && (streamed ? st.bytes_streamed > 0 : st.bytes_streamed == 0),
               "Q8_0 block linears (%s), FFN in chunks of 100 tokens against unchunked: rel %.3e (tol 1e-2), %.3f GiB "
               "streamed%s%s", streamed ? "streamed" : "resident", rel, st.bytes_streamed / GiB,
               s == KE_STATUS_OK ? "" : ": ", s == KE_STATUS_OK ? "" : err.msg);
        ke_dit_free(d);
    }
    ke_be_set_memory(g_gpu, 0, SIZE_MAX);
    ke_tset_free(ws);
    free(ref);
    free(got);
}

int main(void)
{
    struct ke_error err = { 0 };
    g_gpu = ke_backend_by_name("cuda", &err);
    if (!g_gpu) {
        printf("1..0 # SKIP %s\n", err.msg);
        return 77;
    }
    if (!g_gpu->ops->memory || !g_gpu->ops->set_memory) {
        printf("not ok 1 - the CUDA backend has no memory budget ops\n1..1\n");
        return 1;
    }
    test_alloc_over_budget();
    test_fp8_linear(0);
    test_fp8_linear(1);
    test_streaming_dit();
    test_narrow_chunks();
    printf("1..%d\n", tap_n);
    return tap_fail ? 1 : 0;
}
