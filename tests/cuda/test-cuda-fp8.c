// Kinora tests: fp8 e4m3 GEMMs through cuBLASLt on the CUDA backend (cuda-gemm.c, cuda-fp8-gemm.c),
// TAP output. Needs a GPU of compute capability 8.9 or newer (suite cuda, run on the device machine by
// tests/cuda/device-run.sh fp8); without one every check fails.
//
// Random weights and activations at several shapes (M not a multiple of 16, K up to 5120, N odd
// multiples of 8, with and without bias; bf16, f32 and f16 weights quantized on the device, F8_E4M3
// weights with a scale taken as stored; resident and streamed from pinned host memory, weights of one and
// of several quantization chunks), each through the four ops that reach a GEMM: linear_x (f32 out),
// linear_gelu_x (GELU epilogue, bf16 out), linear_gated_add_x without a gate (residual GEMM, beta 1) and
// with one (GEMM into tmp, then the gated add), and the f32 `linear`.
//
// The reference quantizes on the host exactly as the device does: the bf16 values of the weight and of
// the activation, per tensor, scale = 448 / amax and descale = 1 / scale in f32, each value times the
// scale in f32, rounded to the nearest e4m3 (ties to even) with saturation; then the products in double.
// So both sides hold the same e4m3 operands and the same f32 descales, and what differs is the device's
// accumulation and output rounding:
//  - f32 outputs: relative L2 <= 1e-3. The e4m3 products are exact in f32; cuBLASLt (fast accumulation
//    off) accumulates each k-block in the tensor cores (about 14 mantissa bits kept, ~6e-5 relative per
//    partial sum) and promotes to f32: a few 1e-5 in RMS over K = 5120 is expected; a wrong scale,
//    descale, operand or bias would be off by a factor (errors of order 1), a missing activation
//    quantization by the ~3% below.
//  - the bf16 output of the GELU epilogue: relative L2 <= 4e-3 against the unrounded double reference.
//    Rounding to bf16 (8 significant bits) alone errs by up to half an ulp, 2^-9..2^-8 relative, about
//    1.1e-3..2.3e-3 RMS (uniform error, ulp / sqrt(12)); the GELU epilogue's own formula adds ~1e-4.
// Against the unquantized product (bf16 weight and activation, double) the fp8 result is reported and
// must be within 0.1: e4m3 keeps 3 mantissa bits, ~3.6% RMS error per operand, two operands and a sum
// over K that averages the errors down to a few percent.
// Where cuBLASLt has no fp8 algorithm for a shape and epilogue the backend logs it and takes a fallback
// (tracked here from its log line): a GELU or residual GEMM becomes the fp8 GEMM into f32 plus a separate
// pass (same reference), the f32 GEMM becomes the bf16 GEMM with the e4m3 weight dequantized to bf16
// (weight bf16(q * descale), activation unquantized: its own double reference, same bounds). The fp8
// f32 GEMM must have run at every shape with N a multiple of 16 (cuBLASLt's e4m3 kernels want 16-byte
// aligned leading dimensions; N an odd multiple of 8 may or may not get one).
// Memory: an fp8 weight holds N * K bytes, resident (bytes_weights) or streamed (bytes_streamed).
// Back at the bf16 precision a freshly prepared linear gives, bit for bit, what a linear prepared before
// fp8 was ever turned on gives.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke.h"
#include "backends/backend.h"
#include "core/error.h"
#include "core/tensor.h"
#include "cuda-tap.h"

static struct ke_backend * g_gpu;
static uint64_t g_rng = 0x853c49e6748fea9bull;

// GEMMs the backend found no fp8 algorithm for (from its log): shape, bias and kind ("f32", "gelu", "resid")
#define MAX_REFUSED 64
static struct refusal {
    long long M, N, K;
    int bias;
    char kind[8];
} g_refused[MAX_REFUSED];
static int g_n_refused;

static int refused(int64_t M, int64_t N, int64_t K, int bias, const char * kind)
{
    for (int i = 0; i < g_n_refused; i++) {
        const struct refusal * r = &g_refused[i];
        if (r->M == M && r->N == N && r->K == K && r->bias == bias && strcmp(r->kind, kind) == 0) {
            return 1;
        }
    }
    return 0;
}

// the backend's log as TAP comments; its fp8 refusals remembered
static void log_fn(int level, const char * msg, void * user)
{
    (void) user;
    printf("# [%d] %s\n", level, msg);
    const char * at = strstr(msg, "no cuBLASLt fp8 algorithm for ");
    struct refusal r = { 0 };
    if (at && g_n_refused < MAX_REFUSED &&
        sscanf(at, "no cuBLASLt fp8 algorithm for M=%lld N=%lld K=%lld bias=%d kind=%7[a-z]", &r.M, &r.N, &r.K,
               &r.bias, r.kind) == 5) {
        g_refused[g_n_refused++] = r;
    }
}

static float bf16_round(float v)
{
    return ke_bf16_to_f32(ke_f32_to_bf16(v));
}

// Nearest e4m3 code of v with ties to the even code and saturation at 448, as the device's
// __nv_cvt_float_to_fp8(SATFINITE, E4M3) rounds (ke_f32_to_f8e4m3 rounds ties to the smaller magnitude).
static uint8_t e4m3_rne(float v)
{
    const uint8_t q = ke_f32_to_f8e4m3(v);
    const uint8_t lo = q & 0x7f;
    const float a = fabsf(v);
    if (lo < 0x7e && (lo & 1) && a - ke_f8e4m3_to_f32(lo) == ke_f8e4m3_to_f32((uint8_t) (lo + 1)) - a) {
        return (uint8_t) ((q & 0x80) | (lo + 1));
    }
    return q;
}

// Quantize n values (already bf16-exact floats) per tensor as kc_amax_bf16 + kc_quant_e4m3 do: q[i] the
// e4m3 value as a float, the f32 descale returned.
static float quant_tensor(float * q, const float * x, size_t n)
{
    float amax = 0.0f;
    for (size_t i = 0; i < n; i++) {
        amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
    }
    const float sc = amax > 0.0f && amax < 3.0e38f ? 448.0f / amax : 1.0f;
    for (size_t i = 0; i < n; i++) {
        q[i] = ke_f8e4m3_to_f32(e4m3_rne(x[i] * sc));
    }
    return 1.0f / sc;
}

static double gelu_tanh(double x)
{
    return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
}

struct fcase {
    int64_t M, K, N;
    int bias;
    enum ke_dtype wtype;   // BF16, F32, F16 (quantized on the device) or F8_E4M3 (taken as stored)
    int streamed;
};

static struct ke_xbuf * up_xbuf(const float * x, size_t n)
{
    uint16_t * h = malloc(n * 2);
    for (size_t i = 0; i < n; i++) {
        h[i] = ke_f32_to_bf16(x[i]);
    }
    struct ke_xbuf * d = ke_be_alloc_xbuf(g_gpu, (int64_t) n);
    if (d) {
        g_gpu->ops->upload(g_gpu, d, h, n * 2);
    }
    free(h);
    return d;
}

static float * up_f32(const float * x, size_t n)
{
    float * d = ke_be_alloc(g_gpu, n * 4);
    if (d) {
        g_gpu->ops->upload(g_gpu, d, x, n * 4);
    }
    return d;
}

static void down_f32(float * h, const float * d, size_t n)
{
    g_gpu->ops->download(g_gpu, h, d, n * 4);
    g_gpu->ops->sync(g_gpu);
}

// ok when the backend recorded no failure; reports the failure otherwise
static int gpu_ok(const char * what)
{
    struct ke_error err = { 0 };
    if (ke_be_status(g_gpu, &err) != KE_STATUS_OK) {
        tap_report(0, "%s: %s", what, err.msg);
        return 0;
    }
    return 1;
}

// rel L2 of got against ref (f32) with a bound; non-finite values fail
static void expect(const char * what, const float * got, const float * ref, size_t n, double tol)
{
    int nf = 0;
    const double e = tap_rel_l2(got, ref, n, &nf);
    tap_report(!nf && e <= tol, "%s: rel L2 %.3e (tol %.0e)%s", what, e, tol, nf ? ", non-finite values" : "");
}

static void run_case(const struct fcase * c)
{
    const int64_t M = c->M, K = c->K, N = c->N;
    const size_t nx = (size_t) (M * K), nw = (size_t) (N * K), ny = (size_t) (M * N);
    char name[128];
    snprintf(name, sizeof(name), "M=%lld K=%lld N=%lld %s%s %s", (long long) M, (long long) K, (long long) N,
             ke_dtype_name(c->wtype), c->bias ? " +bias" : "", c->streamed ? "streamed" : "resident");

    // the operands: x bf16-exact; the weight in its stored type, wf its values as the device sees them
    // before quantization (bf16 for the float types, the stored e4m3 times the scale for F8_E4M3)
    float * x = malloc(nx * 4), * wf = malloc(nw * 4), * bias = malloc((size_t) N * 4), * gate = malloc((size_t) N * 4);
    void * wdata = malloc(nw * 4);
    const float f8_scale = 0.0123f;
    for (size_t i = 0; i < nx; i++) {
        x[i] = bf16_round(tap_nrand(&g_rng));
    }
    for (size_t i = 0; i < nw; i++) {
        const float v = tap_nrand(&g_rng) * 0.05f;
        switch (c->wtype) {
        case KE_DTYPE_F32:
            ((float *) wdata)[i] = v;
            wf[i] = bf16_round(v);
            break;
        case KE_DTYPE_F16:
            ((uint16_t *) wdata)[i] = ke_f32_to_f16(v);
            wf[i] = bf16_round(ke_f16_to_f32(((uint16_t *) wdata)[i]));
            break;
        case KE_DTYPE_F8_E4M3:
            ((uint8_t *) wdata)[i] = e4m3_rne(v / f8_scale);
            wf[i] = ke_f8e4m3_to_f32(((uint8_t *) wdata)[i]) * f8_scale;
            break;
        default:
            ((uint16_t *) wdata)[i] = ke_f32_to_bf16(v);
            wf[i] = ke_bf16_to_f32(((uint16_t *) wdata)[i]);
            break;
        }
    }
    for (int64_t i = 0; i < N; i++) {
        bias[i] = bf16_round(0.5f * tap_nrand(&g_rng));   // bf16-exact: the fp8 epilogue may take a bf16 bias
        gate[i] = 0.5f + (float) (i % 7) / 7.0f;
    }

    // the references in double
    float * wq = malloc(nw * 4), * xq = malloc(nx * 4);
    double wd, xd;
    if (c->wtype == KE_DTYPE_F8_E4M3) {
        for (size_t i = 0; i < nw; i++) {
            wq[i] = ke_f8e4m3_to_f32(((uint8_t *) wdata)[i]);
        }
        wd = f8_scale;
    } else {
        wd = quant_tensor(wq, wf, nw);
    }
    xd = quant_tensor(xq, x, nx);
    // the fallback's weight: e4m3 times the f32 descale, rounded to bf16 (kc_fp8e4m3_to_bf16)
    float * wfb = malloc(nw * 4);
    for (size_t i = 0; i < nw; i++) {
        wfb[i] = bf16_round(wq[i] * (float) wd);
    }
    // y8: the fp8 GEMM; yfb: the fallback (bf16 GEMM, dequantized weight); y16: unquantized. g* the
    // GELU of each, a* the gated (gate[n] *) values
    float * y8 = malloc(ny * 4), * y16 = malloc(ny * 4), * g8 = malloc(ny * 4), * a8 = malloc(ny * 4);
    float * yfb = malloc(ny * 4), * gfb = malloc(ny * 4), * afb = malloc(ny * 4);
    for (int64_t m = 0; m < M; m++) {
        for (int64_t n = 0; n < N; n++) {
            const float * wr = wq + n * K, * xr = xq + m * K, * wu = wf + n * K, * xu = x + m * K, * wb = wfb + n * K;
            double s8 = 0.0, s16 = 0.0, sfb = 0.0;
            for (int64_t k = 0; k < K; k++) {
                s8 += (double) wr[k] * xr[k];
                s16 += (double) wu[k] * xu[k];
                sfb += (double) wb[k] * xu[k];
            }
            const double b = c->bias ? bias[n] : 0.0;
            const double v8 = s8 * wd * xd + b, vfb = sfb + b;
            y8[m * N + n] = (float) v8;
            y16[m * N + n] = (float) (s16 + b);
            g8[m * N + n] = (float) gelu_tanh(v8);
            a8[m * N + n] = (float) (gate[n] * v8);
            yfb[m * N + n] = (float) vfb;
            gfb[m * N + n] = (float) gelu_tanh(vfb);
            afb[m * N + n] = (float) (gate[n] * vfb);
        }
    }

    // prepare
    struct ke_tensor w, b;
    const int64_t ws[2] = { N, K }, bs[1] = { N };
    ke_tensor_init(&w, c->wtype, 2, ws, wdata);
    w.name = "fp8 test weight";
    if (c->wtype == KE_DTYPE_F8_E4M3) {
        w.scale = f8_scale;
    }
    ke_tensor_init(&b, KE_DTYPE_F32, 1, bs, bias);
    struct ke_linear l = { .w = &w, .b = c->bias ? &b : NULL, .n_in = K, .n_out = N };
    ke_be_set_memory(g_gpu, 0, c->streamed ? 0 : SIZE_MAX);
    struct ke_backend_stats st0, st1;
    g_gpu->ops->stats(g_gpu, &st0);
    const int prep = g_gpu->ops->linear_prepare(g_gpu, &l);
    g_gpu->ops->stats(g_gpu, &st1);
    const size_t held = c->streamed ? st1.bytes_streamed - st0.bytes_streamed : st1.bytes_weights - st0.bytes_weights;
    const size_t other = c->streamed ? st1.bytes_weights - st0.bytes_weights : st1.bytes_streamed - st0.bytes_streamed;
    if (prep != 0 || !gpu_ok(name)) {
        tap_report(0, "%s: linear_prepare failed", name);
        goto done;
    }
    tap_report(held == nw && other == 0, "%s: the weight holds %zu bytes %s (N * K = %zu, e4m3)", name, held,
               c->streamed ? "streamed" : "resident", nw);

    struct ke_xbuf * dx = up_xbuf(x, nx);
    struct ke_xbuf * dg = ke_be_alloc_xbuf(g_gpu, (int64_t) ny);
    float * dxf = up_f32(x, nx), * dy = ke_be_alloc(g_gpu, ny * 4), * dr = ke_be_alloc(g_gpu, ny * 4);
    float * dt = ke_be_alloc(g_gpu, ny * 4), * dgate = up_f32(gate, (size_t) N);
    float * got = malloc(ny * 4), * r0 = malloc(ny * 4), * tmp = malloc(ny * 4);
    uint16_t * gb = malloc(ny * 2);
    char what[256];
    if (!dx || !dg || !dxf || !dy || !dr || !dt || !dgate) {
        tap_report(0, "%s: out of device memory for the test buffers", name);
        goto free_dev;
    }
    for (size_t i = 0; i < ny; i++) {
        r0[i] = tap_nrand(&g_rng);
    }

    // linear_x: f32 out
    g_gpu->ops->linear_x(g_gpu, dy, dx, M, &l);
    down_f32(got, dy, ny);
    if (gpu_ok(name)) {
        const int fb = refused(M, N, K, c->bias, "f32");
        snprintf(what, sizeof(what), "%s linear_x vs the %s reference", name, fb ? "bf16 fallback" : "fp8");
        expect(what, got, fb ? yfb : y8, ny, 1e-3);
        int nf = 0;
        const double e16 = tap_rel_l2(got, y16, ny, &nf);
        tap_report(!nf && e16 < 0.1, "%s linear_x vs the unquantized product: rel L2 %.3e (< 0.1; e4m3 rounding)",
                   name, e16);
    }

    // linear_gelu_x: bf16 out
    g_gpu->ops->linear_gelu_x(g_gpu, dg, dx, M, &l);
    g_gpu->ops->download(g_gpu, gb, dg, ny * 2);
    g_gpu->ops->sync(g_gpu);
    if (gpu_ok(name)) {
        for (size_t i = 0; i < ny; i++) {
            got[i] = ke_bf16_to_f32(gb[i]);
        }
        const int fb = refused(M, N, K, c->bias, "gelu") && refused(M, N, K, c->bias, "f32");
        snprintf(what, sizeof(what), "%s linear_gelu_x (bf16 out) vs the %s reference", name,
                 fb ? "bf16 fallback" : "fp8");
        expect(what, got, fb ? gfb : g8, ny, 4e-3);
    }

    // linear_gated_add_x without a gate (the residual GEMM) and with one (GEMM into tmp, gated add):
    // the added part r - r0 against the reference
    for (int gated = 0; gated < 2; gated++) {
        g_gpu->ops->upload(g_gpu, dr, r0, ny * 4);
        g_gpu->ops->linear_gated_add_x(g_gpu, dr, dx, M, &l, gated ? dgate : NULL, 0, NULL, dt);
        down_f32(got, dr, ny);
        if (gpu_ok(name)) {
            for (size_t i = 0; i < ny; i++) {
                tmp[i] = got[i] - r0[i];
            }
            // with a gate: the f32 GEMM into tmp; without: the residual GEMM, or the f32 one where refused
            const int fb = refused(M, N, K, c->bias, "f32") && (gated || refused(M, N, K, c->bias, "resid"));
            snprintf(what, sizeof(what), "%s linear_gated_add_x %s vs the %s reference", name,
                     gated ? "with a gate" : "without a gate", fb ? "bf16 fallback" : "fp8");
            expect(what, tmp, gated ? (fb ? afb : a8) : (fb ? yfb : y8), ny, 1e-3);
        }
    }

    // the f32 linear (its input goes to bf16 on the device; x is bf16-exact)
    g_gpu->ops->linear(g_gpu, dy, dxf, M, &l);
    down_f32(got, dy, ny);
    if (gpu_ok(name)) {
        const int fb = refused(M, N, K, c->bias, "f32");
        snprintf(what, sizeof(what), "%s linear (f32 op) vs the %s reference", name, fb ? "bf16 fallback" : "fp8");
        expect(what, got, fb ? yfb : y8, ny, 1e-3);
    }

free_dev:
    g_gpu->ops->linear_release(g_gpu, &l);
    ke_be_set_memory(g_gpu, 0, SIZE_MAX);
    ke_be_free(g_gpu, dx);
    ke_be_free(g_gpu, dg);
    ke_be_free(g_gpu, dxf);
    ke_be_free(g_gpu, dy);
    ke_be_free(g_gpu, dr);
    ke_be_free(g_gpu, dt);
    ke_be_free(g_gpu, dgate);
    free(got);
    free(r0);
    free(tmp);
    free(gb);
done:
    free(x);
    free(wf);
    free(bias);
    free(gate);
    free(wdata);
    free(wq);
    free(xq);
    free(wfb);
    free(y8);
    free(y16);
    free(g8);
    free(a8);
    free(yfb);
    free(gfb);
    free(afb);
}

// linear_x of a bf16 linear prepared at the current precision (bf16 here); host output, bytes held
static float * bf16_linear(const uint16_t * wb, const float * bias, const float * x, int64_t M, int64_t K, int64_t N,
                           size_t * held)
{
    struct ke_tensor w, b;
    const int64_t ws[2] = { N, K }, bs[1] = { N };
    ke_tensor_init(&w, KE_DTYPE_BF16, 2, ws, (void *) wb);
    w.name = "bf16 test weight";
    ke_tensor_init(&b, KE_DTYPE_F32, 1, bs, (void *) bias);
    struct ke_linear l = { .w = &w, .b = &b, .n_in = K, .n_out = N };
    struct ke_backend_stats st0, st1;
    g_gpu->ops->stats(g_gpu, &st0);
    if (g_gpu->ops->linear_prepare(g_gpu, &l) != 0) {
        return NULL;
    }
    g_gpu->ops->stats(g_gpu, &st1);
    *held = st1.bytes_weights - st0.bytes_weights;
    const size_t nx = (size_t) (M * K), ny = (size_t) (M * N);
    struct ke_xbuf * dx = up_xbuf(x, nx);
    float * dy = ke_be_alloc(g_gpu, ny * 4);
    float * y = malloc(ny * 4);
    memset(y, 0, ny * 4);
    if (dx && dy) {
        g_gpu->ops->linear_x(g_gpu, dy, dx, M, &l);
        down_f32(y, dy, ny);
    }
    g_gpu->ops->linear_release(g_gpu, &l);
    ke_be_free(g_gpu, dx);
    ke_be_free(g_gpu, dy);
    if (!dx || !dy || !gpu_ok("bf16 linear")) {
        free(y);
        return NULL;
    }
    return y;
}

int main(void)
{
    struct ke_error err = { 0 };
    ke_log_set(log_fn, NULL);
    setenv("KINORA_CUDA_FP8", "all", 1);   // both parts, whatever the caller's environment says
    g_gpu = ke_backend_by_name("cuda", &err);
    if (!g_gpu) {
        printf("not ok 1 - no CUDA backend: %s\n1..1\n", err.msg);
        return 1;
    }
    if (!g_gpu->ops->set_memory || !g_gpu->ops->stats) {
        printf("not ok 1 - the CUDA backend has no set_memory / stats\n1..1\n");
        return 1;
    }

    // a bf16 linear before fp8 is ever turned on: the result the bf16 precision must give again later
    const int64_t bM = 61, bK = 1024, bN = 104;
    uint16_t * bw = malloc((size_t) (bN * bK) * 2);
    float * bb = malloc((size_t) bN * 4), * bx = malloc((size_t) (bM * bK) * 4);
    for (int64_t i = 0; i < bN * bK; i++) {
        bw[i] = ke_f32_to_bf16(0.05f * tap_nrand(&g_rng));
    }
    for (int64_t i = 0; i < bN; i++) {
        bb[i] = tap_nrand(&g_rng);
    }
    for (int64_t i = 0; i < bM * bK; i++) {
        bx[i] = bf16_round(tap_nrand(&g_rng));
    }
    size_t held0 = 0, held1 = 0;
    ke_be_set_memory(g_gpu, 0, SIZE_MAX);
    float * before = bf16_linear(bw, bb, bx, bM, bK, bN, &held0);

    if (ke_be_set_precision(g_gpu, KE_PRECISION_FP8) != KE_PRECISION_FP8) {
        printf("not ok 1 - the CUDA backend does not take the fp8 precision on this GPU\n1..1\n");
        return 1;
    }
    static const struct fcase cases[] = {
        { 77, 5120, 296, 1, KE_DTYPE_BF16, 0 },      // K of the A14B DiT, N = 37 * 8
        { 130, 3072, 1064, 0, KE_DTYPE_BF16, 0 },    // N = 133 * 8, no bias
        { 33, 1024, 24, 1, KE_DTYPE_F32, 0 },        // f32 weight through the device's bf16 conversion
        { 50, 2048, 144, 1, KE_DTYPE_F16, 1 },       // f16 weight, streamed
        { 17, 5120, 1008, 1, KE_DTYPE_BF16, 0 },     // 5.2M values: quantized in two chunks (two passes)
        { 17, 5120, 1008, 1, KE_DTYPE_BF16, 1 },     // the same streamed (e4m3 in pinned host memory)
        { 45, 1536, 208, 1, KE_DTYPE_F8_E4M3, 0 },   // stored e4m3 with a scale: used as stored
        { 45, 1536, 208, 0, KE_DTYPE_F8_E4M3, 1 },
        { 1, 256, 8, 1, KE_DTYPE_BF16, 0 },          // one token
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_case(&cases[i]);
    }
    int n_f32_16 = 0;
    for (int i = 0; i < g_n_refused; i++) {
        n_f32_16 += strcmp(g_refused[i].kind, "f32") == 0 && g_refused[i].N % 16 == 0;
    }
    tap_report(n_f32_16 == 0, "the fp8 f32 GEMM had a cuBLASLt algorithm at every shape with N a multiple of 16 "
               "(%d refused; %d refusals in all, listed in the log above)", n_f32_16, g_n_refused);

    // back to bf16: a fresh linear is the bf16 path again, bit for bit
    const enum ke_precision back = ke_be_set_precision(g_gpu, KE_PRECISION_BF16);
    float * after = back == KE_PRECISION_BF16 ? bf16_linear(bw, bb, bx, bM, bK, bN, &held1) : NULL;
    const size_t nb = (size_t) (bM * bN);
    tap_report(before && after && memcmp(before, after, nb * 4) == 0 && held0 == held1 &&
                   held0 == (size_t) (bN * bK) * 2,
               "bf16 precision again: a fresh linear gives the bf16 result bit for bit (%zu / %zu bytes held, bf16 "
               "%zu)",
               held0, held1, (size_t) (bN * bK) * 2);
    free(before);
    free(after);
    free(bw);
    free(bb);
    free(bx);
    printf("1..%d\n", tap_n);
    return tap_fail ? 1 : 0;
}
