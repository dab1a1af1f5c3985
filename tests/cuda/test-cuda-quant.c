// Kinora tests: GGUF block-quantized linear weights on the CUDA backend, TAP output. Needs a GPU (suite
// cuda; run on the device machine, see flatpak-free-docs/cuda.md).
//
// For every block type (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K), with the weight
// resident on the device and streamed from pinned host memory:
//  - the backend takes the type (linear_takes) and holds the stored bytes, not a bf16 copy;
//  - y = x W^T equals the same GEMM with a bf16 weight dequantized on the host (ke_dequant_row_bf16):
//    the device kernels decode the same floats (quant-blocks.h, tested bit for bit against core/quant.c
//    on the CPU) and round them the same way, so both GEMMs read identical bf16 operands through the
//    same cuBLASLt plan: tolerance 1e-6 relative L2 (anything a wrong decoded value would cause is
//    orders of magnitude larger);
//  - and the CPU backend's linear (f32 weights and inputs) within 1e-2 (bf16 operands on the device).
// A block weight whose rows are not whole blocks is refused with KE_STATUS_UNSUPPORTED naming it.
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "cuda-tap.h"
#include "core/error.h"
#include "core/tensor.h"

static struct ke_backend * g_gpu;
static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static uint8_t rbyte(void)
{
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint8_t) (g_rng >> 56);
}

static float frand(void)
{
    return (float) ((int) rbyte() - 128) / 128.0f;
}

// A block type and the byte offsets of its f16 scale fields (-1: none).
struct qt {
    enum ke_dtype type;
    int f16_at[2];
};

static const struct qt g_types[] = {
    { KE_DTYPE_Q8_0, { 0, -1 } },  { KE_DTYPE_Q4_0, { 0, -1 } }, { KE_DTYPE_Q4_1, { 0, 2 } },
    { KE_DTYPE_Q5_0, { 0, -1 } },  { KE_DTYPE_Q5_1, { 0, 2 } },  { KE_DTYPE_Q2_K, { 80, 82 } },
    { KE_DTYPE_Q3_K, { 108, -1 } }, { KE_DTYPE_Q4_K, { 0, 2 } }, { KE_DTYPE_Q5_K, { 0, 2 } },
    { KE_DTYPE_Q6_K, { 208, -1 } },
};

// Random blocks of type q with moderate scales (f16 in [2^-9, 2^-7); a min field likewise, so every
// value is finite and the products are well scaled).
static uint8_t * random_blocks(const struct qt * q, int64_t n_blocks)
{
    const size_t bb = ke_dtype_size(q->type);
    uint8_t * b = malloc((size_t) n_blocks * bb);
    for (size_t i = 0; i < (size_t) n_blocks * bb; i++) {
        b[i] = rbyte();
    }
    for (int64_t k = 0; k < n_blocks; k++) {
        for (int f = 0; f < 2; f++) {
            if (q->f16_at[f] >= 0) {
                const float v = ldexpf(1.0f + (float) rbyte() / 256.0f, -9 + (rbyte() & 1));
                const uint16_t h = ke_f32_to_f16(v);
                b[(size_t) k * bb + (size_t) q->f16_at[f]] = (uint8_t) h;
                b[(size_t) k * bb + (size_t) q->f16_at[f] + 1] = (uint8_t) (h >> 8);
            }
        }
    }
    return b;
}

// y = x W^T on the device with the prepared linear l; host result in y.
static int gpu_linear(struct ke_linear * l, const float * x, int64_t M, float * y)
{
    const int64_t K = l->n_in, N = l->n_out;
    float * dx = ke_be_alloc(g_gpu, (size_t) (M * K) * 4), * dy = ke_be_alloc(g_gpu, (size_t) (M * N) * 4);
    if (!dx || !dy) {
        ke_be_free(g_gpu, dx);
        ke_be_free(g_gpu, dy);
        return -1;
    }
    g_gpu->ops->upload(g_gpu, dx, x, (size_t) (M * K) * 4);
    g_gpu->ops->linear(g_gpu, dy, dx, M, l);
    g_gpu->ops->download(g_gpu, y, dy, (size_t) (M * N) * 4);
    ke_be_free(g_gpu, dx);
    ke_be_free(g_gpu, dy);
    return 0;
}

static void test_type(const struct qt * q, int streamed)
{
    const int64_t M = 70, K = 1024, N = 384;
    const int64_t bk = ke_dtype_block(q->type);
    const size_t stored = ke_dtype_row_bytes(q->type, K) * (size_t) N;
    const char * tn = ke_dtype_name(q->type);
    uint8_t * wq = random_blocks(q, N * K / bk);
    uint16_t * wb = malloc((size_t) (N * K) * 2);
    float * x = malloc((size_t) (M * K) * 4), * bias = malloc((size_t) N * 4);
    float * ref = malloc((size_t) (M * N) * 4), * got = malloc((size_t) (M * N) * 4), * same = malloc((size_t) (M * N) * 4);
    ke_dequant_row_bf16(q->type, wq, wb, N * K);
    for (int64_t i = 0; i < M * K; i++) {
        x[i] = frand();
    }
    for (int64_t i = 0; i < N; i++) {
        bias[i] = 0.1f * frand();
    }
    struct ke_tensor w, w16, b;
    const int64_t ws[2] = { N, K }, bs[1] = { N };
    ke_tensor_init(&w, q->type, 2, ws, wq);
    w.name = "quantized weight";
    ke_tensor_init(&w16, KE_DTYPE_BF16, 2, ws, wb);
    w16.name = "bf16 weight";
    ke_tensor_init(&b, KE_DTYPE_F32, 1, bs, bias);
    struct ke_linear lc = { .w = &w, .b = &b, .n_in = K, .n_out = N }, lg = lc, l16 = lc;
    l16.w = &w16;
    struct ke_backend * cpu = ke_backend_cpu();

    const int takes = g_gpu->ops->linear_takes && g_gpu->ops->linear_takes(g_gpu, q->type);
    // the bf16 reference weight resident; then the quantized one resident or streamed
    ke_be_set_memory(g_gpu, 0, SIZE_MAX);
    int ok = takes && cpu->ops->linear_prepare(cpu, &lc) == 0 && g_gpu->ops->linear_prepare(g_gpu, &l16) == 0;
    struct ke_backend_stats st;
    g_gpu->ops->stats(g_gpu, &st);
    const size_t w_before = st.bytes_weights, s_before = st.bytes_streamed;
    ke_be_set_memory(g_gpu, 0, streamed ? 0 : SIZE_MAX);
    ok = ok && g_gpu->ops->linear_prepare(g_gpu, &lg) == 0;
    g_gpu->ops->stats(g_gpu, &st);
    const size_t held = streamed ? st.bytes_streamed - s_before : st.bytes_weights - w_before;
    double rel_cpu = 1.0, rel_bf16 = 1.0;
    int nf = 1, nf2 = 1;
    if (ok) {
        cpu->ops->linear(cpu, ref, x, M, &lc);
        ok = gpu_linear(&lg, x, M, got) == 0 && gpu_linear(&l16, x, M, same) == 0;
        rel_cpu = tap_rel_l2(got, ref, (size_t) (M * N), &nf);
        rel_bf16 = tap_rel_l2(got, same, (size_t) (M * N), &nf2);
    }
    struct ke_error err = { 0 };
    const int failed = ke_be_status(g_gpu, &err) != KE_STATUS_OK;
    tap_report(ok && !failed && !nf && !nf2 && rel_bf16 <= 1e-6 && rel_cpu <= 1e-2 && held == stored,
           "%s linear %s: vs host-dequantized bf16 rel %.3e (tol 1e-6), vs CPU rel %.3e (tol 1e-2), %zu bytes held "
           "(stored size %zu)%s%s%s",
           tn, streamed ? "streamed" : "resident", rel_bf16, rel_cpu, held, stored, takes ? "" : ", not taken",
           failed ? ": " : "", failed ? err.msg : "");
    if (lc.prepared || lc.owner) {
        cpu->ops->linear_release(cpu, &lc);
    }
    if (lg.prepared) {
        g_gpu->ops->linear_release(g_gpu, &lg);
    }
    if (l16.prepared) {
        g_gpu->ops->linear_release(g_gpu, &l16);
    }
    ke_be_set_memory(g_gpu, 0, SIZE_MAX);
    free(wq);
    free(wb);
    free(x);
    free(bias);
    free(ref);
    free(got);
    free(same);
}

// Rows of 160 values cannot hold whole Q4_K super-blocks (256): refused by name, backend still usable.
static void test_partial_blocks(void)
{
    uint8_t data[4 * 144];
    memset(data, 0, sizeof data);
    struct ke_tensor w;
    const int64_t ws[2] = { 4, 160 };
    ke_tensor_init(&w, KE_DTYPE_Q4_K, 2, ws, data);
    w.name = "partial.weight";
    struct ke_linear l = { .w = &w, .n_in = 160, .n_out = 4 };
    const int rc = g_gpu->ops->linear_prepare(g_gpu, &l);
    struct ke_error err = { 0 };
    const enum ke_status st = ke_be_status(g_gpu, &err);
    tap_report(rc < 0 && st == KE_STATUS_UNSUPPORTED && strstr(err.msg, "partial.weight") != NULL,
           "a Q4_K weight with rows of 160 values is refused: rc %d, status %d, \"%s\"", rc, (int) st, err.msg);
    if (l.prepared) {
        g_gpu->ops->linear_release(g_gpu, &l);
    }
}

int main(void)
{
    struct ke_error err = { 0 };
    g_gpu = ke_backend_by_name("cuda", &err);
    if (!g_gpu) {
        printf("1..0 # SKIP %s\n", err.msg);
        return 77;
    }
    if (!g_gpu->ops->linear_takes || !g_gpu->ops->set_memory) {
        printf("not ok 1 - the CUDA backend has no linear_takes / set_memory\n1..1\n");
        return 1;
    }
    tap_report(g_gpu->ops->linear_takes(g_gpu, KE_DTYPE_F8_E4M3) && g_gpu->ops->linear_takes(g_gpu, KE_DTYPE_BF16) &&
               !g_gpu->ops->linear_takes(g_gpu, KE_DTYPE_I64),
           "linear_takes: fp8 and bf16 yes, I64 no");
    for (size_t i = 0; i < sizeof g_types / sizeof g_types[0]; i++) {
        test_type(&g_types[i], 0);
        test_type(&g_types[i], 1);
    }
    test_partial_blocks();
    printf("1..%d\n", tap_n);
    return tap_fail ? 1 : 0;
}
