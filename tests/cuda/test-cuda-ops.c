// Kinora tests: every op of the CUDA backend, the fused ones included, against the CPU backend (exact
// fp32) on fresh random data, TAP output. Needs a GPU; run on the device machine (see flatpak-free-docs/cuda.md).
// `--bench` also times the DiT GEMM shapes and the attention implementations at the real sizes.
//
// Tolerances (relative L2 error ||cuda - cpu|| / ||cpu||):
//  - f32 ops (norms, modulation, element-wise, RoPE, layouts, f32 attention): 1e-5 (only the order
//    of float sums and the device's expf/tanhf/rsqrtf differ);
//  - linear and tensor-core attention: 1e-2 (bf16 operands, 8-bit mantissa: ~3e-3 expected; fp32
//    accumulation keeps it independent of K);
//  - conv3d: 1e-2 (cuDNN may run f32 convolutions on TF32 tensor cores, 10-bit mantissa).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include "backends/backend.h"
#include "backends/cuda/cuda.h"
#include "core/error.h"
#include "core/tensor.h"

static int g_n, g_fail;
static struct ke_backend * g_cpu, * g_gpu;
static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static float frand(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float) ((g_rng >> 40) & 0xffffff) / 8388608.0f - 1.0f;   // [-1, 1)
}

static float * rnd(size_t n, float scale)
{
    float * p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        p[i] = frand() * scale;
    }
    return p;
}

static void * up(const void * h, size_t bytes)
{
    void * d = ke_be_alloc(g_gpu, bytes);
    g_gpu->ops->upload(g_gpu, d, h, bytes);
    return d;
}

static float * down(const void * d, size_t n)
{
    float * h = malloc(n * sizeof(float));
    // poison first: an unwritten output cannot pass
    for (size_t i = 0; i < n; i++) {
        h[i] = NAN;
    }
    g_gpu->ops->download(g_gpu, h, d, n * sizeof(float));
    return h;
}

// Poisoned device output buffer (NaN bytes) of n floats.
static float * out_buf(size_t n)
{
    float * h = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        h[i] = NAN;
    }
    float * d = up(h, n * sizeof(float));
    free(h);
    return d;
}

static void check(const char * what, const float * got, const float * ref, size_t n, double tol)
{
    double num = 0, den = 0, maxd = 0;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) {
            bad = 1;
        }
        double d = (double) got[i] - ref[i];
        num += d * d;
        den += (double) ref[i] * ref[i];
        if (fabs(d) > maxd) {
            maxd = fabs(d);
        }
    }
    const double rel = den > 0 ? sqrt(num / den) : sqrt(num);
    // any failure the backend recorded (ops.status syncs and reads cudaGetLastError) fails the case
    struct ke_error err = { 0 };
    const int failed = ke_be_status(g_gpu, &err) != KE_STATUS_OK;
    const int ok = !bad && rel <= tol && !failed;
    g_n++;
    if (!ok) {
        g_fail++;
    }
    printf("%s %d - %s: rel %.3e (tol %.0e), max abs %.3e%s%s%s\n", ok ? "ok" : "not ok", g_n, what, rel, tol, maxd,
           bad ? ", non-finite output" : "", failed ? ", backend failure: " : "", failed ? err.msg : "");
    fflush(stdout);
}

#define TOL_F32 1e-5
#define TOL_BF16 1e-2

static void test_rowwise(void)
{
    const int64_t M = 77, D = 3072;
    const size_t n = (size_t) (M * D);
    float * x = rnd(n, 3.0f), * w = rnd((size_t) D, 1.0f), * b = rnd((size_t) D, 1.0f);
    for (int64_t i = 0; i < M; i++) {
        x[i * D] += 20.0f;   // rows with a large mean
    }
    float * ref = malloc(n * 4);
    float * dx = up(x, n * 4), * dw = up(w, (size_t) D * 4), * db = up(b, (size_t) D * 4), * dy = out_buf(n);

    g_cpu->ops->layer_norm(g_cpu, ref, x, M, D, w, b, 1e-6f);
    g_gpu->ops->layer_norm(g_gpu, dy, dx, M, D, dw, db, 1e-6f);
    float * got = down(dy, n);
    check("layer_norm affine", got, ref, n, TOL_F32);
    free(got);

    g_cpu->ops->layer_norm(g_cpu, ref, x, M, D, NULL, NULL, 1e-6f);
    g_gpu->ops->layer_norm(g_gpu, dy, dx, M, D, NULL, NULL, 1e-6f);
    got = down(dy, n);
    check("layer_norm plain", got, ref, n, TOL_F32);
    free(got);

    g_cpu->ops->rms_norm(g_cpu, ref, x, M, D, w, 1e-6f);
    g_gpu->ops->rms_norm(g_gpu, dy, dx, M, D, dw, 1e-6f);
    got = down(dy, n);
    check("rms_norm", got, ref, n, TOL_F32);
    free(got);

    // modulate with a per-row selector over 3 modulation rows (stride 6*D), in place after a
    // plain LayerNorm (the fused path) and out of place (the plain path)
    const int64_t stride = 6 * D;
    float * mod = rnd((size_t) (3 * stride), 0.5f);
    int32_t * sel = malloc((size_t) M * sizeof(int32_t));
    for (int64_t i = 0; i < M; i++) {
        sel[i] = (int32_t) (i % 3);
    }
    float * dmod = up(mod, (size_t) (3 * stride) * 4);
    int32_t * dsel = up(sel, (size_t) M * sizeof(int32_t));
    g_cpu->ops->layer_norm(g_cpu, ref, x, M, D, NULL, NULL, 1e-6f);
    g_cpu->ops->modulate(g_cpu, ref, ref, M, D, mod, mod + D, stride, sel);
    g_gpu->ops->layer_norm(g_gpu, dy, dx, M, D, NULL, NULL, 1e-6f);
    g_gpu->ops->modulate(g_gpu, dy, dy, M, D, dmod, dmod + D, stride, dsel);
    got = down(dy, n);
    check("layer_norm + modulate (fused)", got, ref, n, TOL_F32);
    free(got);

    g_cpu->ops->modulate(g_cpu, ref, x, M, D, mod + 2 * D, mod + 3 * D, stride, NULL);
    g_gpu->ops->modulate(g_gpu, dy, dx, M, D, dmod + 2 * D, dmod + 3 * D, stride, NULL);
    got = down(dy, n);
    check("modulate", got, ref, n, TOL_F32);
    free(got);

    // gated_add, gated and plain
    float * acc = rnd(n, 1.0f);
    float * dacc = up(acc, n * 4);
    memcpy(ref, acc, n * 4);
    g_cpu->ops->gated_add(g_cpu, ref, x, M, D, mod + 4 * D, stride, sel);
    g_gpu->ops->gated_add(g_gpu, dacc, dx, M, D, dmod + 4 * D, stride, dsel);
    got = down(dacc, n);
    check("gated_add", got, ref, n, TOL_F32);
    free(got);
    g_cpu->ops->gated_add(g_cpu, ref, x, M, D, NULL, 0, NULL);
    g_gpu->ops->gated_add(g_gpu, dacc, dx, M, D, NULL, 0, NULL);
    got = down(dacc, n);
    check("gated_add plain", got, ref, n, TOL_F32);
    free(got);

    // odd width (scalar paths)
    const int64_t D2 = 77;
    g_cpu->ops->layer_norm(g_cpu, ref, x, M, D2, NULL, NULL, 1e-6f);
    g_cpu->ops->modulate(g_cpu, ref, ref, M, D2, mod, mod + D2, 2 * D2, NULL);
    g_gpu->ops->layer_norm(g_gpu, dy, dx, M, D2, NULL, NULL, 1e-6f);
    g_gpu->ops->modulate(g_gpu, dy, dy, M, D2, dmod, dmod + D2, 2 * D2, NULL);
    got = down(dy, (size_t) (M * D2));
    check("layer_norm + modulate, D=77", got, ref, (size_t) (M * D2), TOL_F32);
    free(got);

    ke_be_free(g_gpu, dx);
    ke_be_free(g_gpu, dw);
    ke_be_free(g_gpu, db);
    ke_be_free(g_gpu, dy);
    ke_be_free(g_gpu, dmod);
    ke_be_free(g_gpu, dsel);
    ke_be_free(g_gpu, dacc);
    free(x);
    free(w);
    free(b);
    free(ref);
    free(mod);
    free(sel);
    free(acc);
}

static void test_elementwise(void)
{
    const int64_t n = 1000003;
    float * a = rnd((size_t) n, 4.0f), * b = rnd((size_t) n, 4.0f), * ref = malloc((size_t) n * 4);
    float * da = up(a, (size_t) n * 4), * db = up(b, (size_t) n * 4), * dy = out_buf((size_t) n);
    float * got;

    memcpy(ref, a, (size_t) n * 4);
    g_cpu->ops->gelu_tanh(g_cpu, ref, n);
    g_gpu->ops->copy(g_gpu, dy, da, (size_t) n * 4);
    g_gpu->ops->gelu_tanh(g_gpu, dy, n);
    got = down(dy, (size_t) n);
    check("gelu_tanh", got, ref, (size_t) n, TOL_F32);
    free(got);

    memcpy(ref, a, (size_t) n * 4);
    g_cpu->ops->silu(g_cpu, ref, n);
    g_gpu->ops->copy(g_gpu, dy, da, (size_t) n * 4);
    g_gpu->ops->silu(g_gpu, dy, n);
    got = down(dy, (size_t) n);
    check("silu", got, ref, (size_t) n, TOL_F32);
    free(got);

    g_cpu->ops->mul(g_cpu, ref, a, b, n);
    g_gpu->ops->mul(g_gpu, dy, da, db, n);
    got = down(dy, (size_t) n);
    check("mul", got, ref, (size_t) n, TOL_F32);
    free(got);

    g_cpu->ops->add(g_cpu, ref, a, b, n);
    g_gpu->ops->add(g_gpu, dy, da, db, n);
    got = down(dy, (size_t) n);
    check("add", got, ref, (size_t) n, TOL_F32);
    free(got);

    g_cpu->ops->scale(g_cpu, ref, a, -0.37f, n);
    g_gpu->ops->scale(g_gpu, dy, da, -0.37f, n);
    got = down(dy, (size_t) n);
    check("scale", got, ref, (size_t) n, TOL_F32);
    free(got);

    // the activations of convolutional models (TAEHV), out of place here
    g_cpu->ops->relu(g_cpu, ref, a, n);
    g_gpu->ops->relu(g_gpu, dy, da, n);
    got = down(dy, (size_t) n);
    check("relu", got, ref, (size_t) n, 0.0);
    free(got);

    g_cpu->ops->soft_clamp(g_cpu, ref, a, 3.0f, n);
    g_gpu->ops->soft_clamp(g_gpu, dy, da, 3.0f, n);
    got = down(dy, (size_t) n);
    check("soft_clamp", got, ref, (size_t) n, TOL_F32);
    free(got);

    g_cpu->ops->clamp(g_cpu, ref, a, 0.0f, 1.0f, n);
    g_gpu->ops->clamp(g_gpu, dy, da, 0.0f, 1.0f, n);
    got = down(dy, (size_t) n);
    check("clamp", got, ref, (size_t) n, 0.0);
    free(got);

    // the sampler's update (four terms, in double on both) and its finiteness check
    {
        const float * xs_c[4] = { a, b, a, b }, * xs_g[4] = { da, db, da, db };
        const double cs[4] = { 0.75, -1.25, 0.5, 2.0 };
        g_cpu->ops->lincomb(g_cpu, ref, 4, xs_c, cs, n);
        g_gpu->ops->lincomb(g_gpu, dy, 4, xs_g, cs, n);
        got = down(dy, (size_t) n);
        check("lincomb", got, ref, (size_t) n, TOL_F32);
        free(got);
        int nan_c = -1, nan_g = -1;
        const int64_t none = g_gpu->ops->find_nonfinite(g_gpu, dy, n, &nan_g);
        check("find_nonfinite (none)", &(float) { (float) none }, &(float) { -1.0f }, 1, 0.0);
        const float bad[2] = { NAN, INFINITY };
        g_gpu->ops->upload(g_gpu, dy + 700001, &bad[1], 4);   // the first one
        g_gpu->ops->upload(g_gpu, dy + 900001, &bad[0], 4);
        const int64_t at = g_gpu->ops->find_nonfinite(g_gpu, dy, n, &nan_g);
        memcpy(ref, a, (size_t) n * 4);
        ref[700001] = INFINITY;
        ref[900001] = NAN;
        const int64_t at_c = g_cpu->ops->find_nonfinite(g_cpu, ref, n, &nan_c);
        const float fa[2] = { (float) at, (float) nan_g }, fr[2] = { (float) at_c, (float) nan_c };
        check("find_nonfinite (first index, NaN or not)", fa, fr, 2, 0.0);
    }

    // T5's relative position bias from its diagonals (H x (2L - 1) -> H x L x L)
    {
        const int64_t L = 37;
        const int H = 5;
        float * tv = rnd((size_t) (H * (2 * L - 1)), 1.0f), * rb = malloc((size_t) (H * L * L) * 4);
        float * dtv = up(tv, (size_t) (H * (2 * L - 1)) * 4), * drb = out_buf((size_t) (H * L * L));
        g_cpu->ops->rel_bias(g_cpu, rb, tv, L, H);
        g_gpu->ops->rel_bias(g_gpu, drb, dtv, L, H);
        got = down(drb, (size_t) (H * L * L));
        check("rel_bias", got, rb, (size_t) (H * L * L), 0.0);
        free(got);
        free(tv);
        free(rb);
        ke_be_free(g_gpu, dtv);
        ke_be_free(g_gpu, drb);
    }

    g_gpu->ops->memset0(g_gpu, dy, (size_t) n * 4);
    got = down(dy, (size_t) n);
    memset(ref, 0, (size_t) n * 4);
    check("memset0", got, ref, (size_t) n, 0.0);
    free(got);

    ke_be_free(g_gpu, da);
    ke_be_free(g_gpu, db);
    ke_be_free(g_gpu, dy);
    free(a);
    free(b);
    free(ref);
}

static void test_rope_layout(void)
{
    const int64_t L = 300;
    const int H = 4, hd = 128;
    const size_t n = (size_t) (L * H * hd);
    float * x = rnd(n, 1.0f), * cs = malloc((size_t) (L * hd) * 4), * ref = malloc(n * 4);
    for (int64_t i = 0; i < L * hd / 2; i++) {
        const double a = (double) frand() * 3.14159;
        cs[2 * i] = (float) cos(a);
        cs[2 * i + 1] = (float) sin(a);
    }
    float * dx = up(x, n * 4), * dcs = up(cs, (size_t) (L * hd) * 4);
    memcpy(ref, x, n * 4);
    g_cpu->ops->rope(g_cpu, ref, L, H, hd, cs);
    g_gpu->ops->rope(g_gpu, dx, L, H, hd, dcs);
    float * got = down(dx, n);
    check("rope", got, ref, n, TOL_F32);
    free(got);
    ke_be_free(g_gpu, dx);
    ke_be_free(g_gpu, dcs);
    free(x);
    free(cs);
    free(ref);

    // patchify / unpatchify: C=48, F=3, H=10, W=14, 2x2 patches
    const int C = 48, F = 3, Hh = 10, W = 14, ph = 2, pw = 2;
    const size_t nv = (size_t) C * F * Hh * W;
    float * v = rnd(nv, 1.0f), * pr = malloc(nv * 4), * dv = up(v, nv * 4), * dp = out_buf(nv);
    g_cpu->ops->patchify(g_cpu, pr, v, C, F, Hh, W, ph, pw);
    g_gpu->ops->patchify(g_gpu, dp, dv, C, F, Hh, W, ph, pw);
    got = down(dp, nv);
    check("patchify", got, pr, nv, 0.0);
    free(got);
    g_cpu->ops->unpatchify(g_cpu, pr, v, C, F, Hh, W, ph, pw);
    g_gpu->ops->unpatchify(g_gpu, dp, dv, C, F, Hh, W, ph, pw);
    got = down(dp, nv);
    check("unpatchify", got, pr, nv, 0.0);
    free(got);
    ke_be_free(g_gpu, dv);
    ke_be_free(g_gpu, dp);
    free(v);
    free(pr);
}

static void test_linear(int64_t M, int64_t K, int64_t N, enum ke_dtype wt, int bias)
{
    float * x = rnd((size_t) (M * K), 1.0f), * wf = rnd((size_t) (N * K), 0.05f), * bf = rnd((size_t) N, 1.0f);
    void * wdata = wf;
    uint16_t * wb = NULL;
    if (wt == KE_DTYPE_BF16) {
        wb = malloc((size_t) (N * K) * 2);
        for (int64_t i = 0; i < N * K; i++) {
            wb[i] = ke_f32_to_bf16(wf[i]);
            wf[i] = ke_bf16_to_f32(wb[i]);
        }
        wdata = wb;
    }
    struct ke_tensor w, b;
    const int64_t ws[2] = { N, K }, bs[1] = { N };
    ke_tensor_init(&w, wt, 2, ws, wdata);
    ke_tensor_init(&b, KE_DTYPE_F32, 1, bs, bf);
    w.name = "w";
    struct ke_linear lc = { .w = &w, .b = bias ? &b : NULL, .n_in = K, .n_out = N };
    struct ke_linear lg = lc;
    float * ref = malloc((size_t) (M * N) * 4);
    char what[96];
    snprintf(what, sizeof(what), "linear M=%lld K=%lld N=%lld %s%s", (long long) M, (long long) K, (long long) N,
             ke_dtype_name(wt), bias ? " +bias" : "");
    if (g_cpu->ops->linear_prepare(g_cpu, &lc) < 0 || g_gpu->ops->linear_prepare(g_gpu, &lg) < 0) {
        g_n++;
        g_fail++;
        printf("not ok %d - %s: prepare failed\n", g_n, what);
    } else {
        float * dx = up(x, (size_t) (M * K) * 4), * dy = out_buf((size_t) (M * N));
        g_cpu->ops->linear(g_cpu, ref, x, M, &lc);
        g_gpu->ops->linear(g_gpu, dy, dx, M, &lg);
        float * got = down(dy, (size_t) (M * N));
        check(what, got, ref, (size_t) (M * N), TOL_BF16);
        free(got);
        ke_be_free(g_gpu, dx);
        ke_be_free(g_gpu, dy);
        g_cpu->ops->linear_release(g_cpu, &lc);
        g_gpu->ops->linear_release(g_gpu, &lg);
    }
    free(x);
    free(wf);
    free(wb);
    free(bf);
    free(ref);
}

static void test_attention(int64_t Lq, int64_t Lk, int H, int hd, int impl, int with_bias)
{
    const int64_t ld = (int64_t) H * hd;
    float * q = rnd((size_t) (Lq * ld), 2.0f), * k = rnd((size_t) (Lk * ld), 2.0f), * v = rnd((size_t) (Lk * ld), 1.0f);
    float * bias = with_bias ? rnd((size_t) (H * Lq * Lk), 1.0f) : NULL;
    float * ref = malloc((size_t) (Lq * ld) * 4);
    float * dq = up(q, (size_t) (Lq * ld) * 4), * dk = up(k, (size_t) (Lk * ld) * 4), * dv = up(v, (size_t) (Lk * ld) * 4);
    float * db = bias ? up(bias, (size_t) (H * Lq * Lk) * 4) : NULL, * dO = out_buf((size_t) (Lq * ld));
    const float scale = 1.0f / sqrtf((float) hd);
    g_cpu->ops->attention(g_cpu, ref, q, k, v, Lq, Lk, H, hd, scale, bias);
    ke_backend_cuda_set_attention(g_gpu, impl);
    g_gpu->ops->attention(g_gpu, dO, dq, dk, dv, Lq, Lk, H, hd, scale, db);
    float * got = down(dO, (size_t) (Lq * ld));
    static const char * names[] = { "auto", "cudnn", "flash", "f32" };
    char what[128];
    snprintf(what, sizeof(what), "attention %s Lq=%lld Lk=%lld H=%d hd=%d%s", names[impl], (long long) Lq,
             (long long) Lk, H, hd, with_bias ? " +bias" : "");
    // f32 paths: forced, with a bias (T5), or head dims the bf16 GEMM route cannot take
    const int f32 = impl == 3 || with_bias || hd % 8 != 0;
    check(what, got, ref, (size_t) (Lq * ld), f32 ? TOL_F32 * 10 : TOL_BF16);
    ke_backend_cuda_set_attention(g_gpu, 0);
    free(got);
    ke_be_free(g_gpu, dq);
    ke_be_free(g_gpu, dk);
    ke_be_free(g_gpu, dv);
    ke_be_free(g_gpu, db);
    ke_be_free(g_gpu, dO);
    free(q);
    free(k);
    free(v);
    free(bias);
    free(ref);
}

static void test_conv3d(int cin, int cout, int kt, int kh, int T, int H, int W, int pt0, int pt1, int p, int st,
                        int sh)
{
    const int64_t wn = (int64_t) cout * cin * kt * kh * kh;
    float * w = rnd((size_t) wn, 0.1f), * b = rnd((size_t) cout, 1.0f), * x = rnd((size_t) cin * T * H * W, 1.0f);
    struct ke_tensor wt, bt;
    const int64_t ws[5] = { cout, cin, kt, kh, kh }, bs[1] = { cout };
    ke_tensor_init(&wt, KE_DTYPE_F32, 5, ws, w);
    ke_tensor_init(&bt, KE_DTYPE_F32, 1, bs, b);
    struct ke_conv3d cc = { .w = &wt, .b = &bt, .c_out = cout, .c_in = cin, .kt = kt, .kh = kh, .kw = kh };
    struct ke_conv3d cg = cc;
    const int To = (T + pt0 + pt1 - kt) / st + 1, Ho = (H + 2 * p - kh) / sh + 1, Wo = (W + 2 * p - kh) / sh + 1;
    const size_t ny = (size_t) cout * To * Ho * Wo;
    float * ref = malloc(ny * 4);
    char what[128];
    snprintf(what, sizeof(what), "conv3d %d->%d k%dx%d T=%d %dx%d pad t(%d,%d) s%d/%d", cin, cout, kt, kh, T, H, W,
             pt0, pt1, p, st);
    if (g_cpu->ops->conv3d_prepare(g_cpu, &cc) < 0 || g_gpu->ops->conv3d_prepare(g_gpu, &cg) < 0) {
        g_n++;
        g_fail++;
        printf("not ok %d - %s: prepare failed\n", g_n, what);
    } else {
        float * dx = up(x, (size_t) cin * T * H * W * 4), * dy = out_buf(ny);
        g_cpu->ops->conv3d(g_cpu, ref, x, &cc, T, H, W, pt0, pt1, p, p, st, sh, sh);
        g_gpu->ops->conv3d(g_gpu, dy, dx, &cg, T, H, W, pt0, pt1, p, p, st, sh, sh);
        float * got = down(dy, ny);
        check(what, got, ref, ny, TOL_BF16);
        free(got);
        ke_be_free(g_gpu, dx);
        ke_be_free(g_gpu, dy);
        g_cpu->ops->conv3d_release(g_cpu, &cc);
        g_gpu->ops->conv3d_release(g_gpu, &cg);
    }
    free(w);
    free(b);
    free(x);
    free(ref);
}

static void test_vae(void)
{
    const int C = 16, T = 3, H = 12, W = 20;
    const int64_t N = (int64_t) T * H * W;
    const size_t n = (size_t) (C * N);
    float * x = rnd(n, 2.0f), * g = rnd((size_t) C, 1.0f), * ref = malloc(n * 16);
    float * dx = up(x, n * 4), * dg = up(g, (size_t) C * 4), * dy = out_buf(n * 4);
    float * got;

    g_cpu->ops->channel_l2norm(g_cpu, ref, x, C, N, g);
    g_gpu->ops->channel_l2norm(g_gpu, dy, dx, C, N, dg);
    got = down(dy, n);
    check("channel_l2norm", got, ref, n, TOL_F32);
    free(got);
    g_cpu->ops->silu(g_cpu, ref, (int64_t) n);
    g_gpu->ops->channel_l2norm(g_gpu, dy, dx, C, N, dg);
    g_gpu->ops->silu(g_gpu, dy, (int64_t) n);   // fused with the norm
    got = down(dy, n);
    check("channel_l2norm + silu (fused)", got, ref, n, TOL_F32);
    free(got);

    // frame copy f32 -> f32 into a wider tensor (frames 1..2 of src to 3..4 of dst with 6 frames)
    memset(ref, 0, (size_t) C * 6 * H * W * 4);
    g_gpu->ops->memset0(g_gpu, dy, (size_t) C * 6 * H * W * 4);
    g_cpu->ops->frame_copy(g_cpu, ref, 0, 6, 3, x, 0, T, 1, 2, C, (int64_t) H * W);
    g_gpu->ops->frame_copy(g_gpu, dy, 0, 6, 3, dx, 0, T, 1, 2, C, (int64_t) H * W);
    got = down(dy, (size_t) C * 6 * H * W);
    check("frame_copy", got, ref, (size_t) C * 6 * H * W, 0.0);
    free(got);

    // f32 -> bf16 cache -> f32 (both backends round the same way)
    {
        uint16_t * hb = malloc(n * 2);
        void * db16 = ke_be_alloc(g_gpu, n * 2);
        g_cpu->ops->frame_copy(g_cpu, hb, 1, T, 0, x, 0, T, 0, T, C, (int64_t) H * W);
        g_cpu->ops->frame_copy(g_cpu, ref, 0, T, 0, hb, 1, T, 0, T, C, (int64_t) H * W);
        g_gpu->ops->frame_copy(g_gpu, db16, 1, T, 0, dx, 0, T, 0, T, C, (int64_t) H * W);
        g_gpu->ops->frame_copy(g_gpu, dy, 0, T, 0, db16, 1, T, 0, T, C, (int64_t) H * W);
        got = down(dy, n);
        check("frame_copy via bf16", got, ref, n, 0.0);
        free(got);
        free(hb);
        ke_be_free(g_gpu, db16);
    }

    g_cpu->ops->upsample_nearest2x(g_cpu, ref, x, (int64_t) C * T, H, W);
    g_gpu->ops->upsample_nearest2x(g_gpu, dy, dx, (int64_t) C * T, H, W);
    got = down(dy, n * 4);
    check("upsample_nearest2x", got, ref, n * 4, 0.0);
    free(got);

    g_cpu->ops->pad2d(g_cpu, ref, x, (int64_t) C * T, H, W, 1, 0, 2, 1);
    g_gpu->ops->pad2d(g_gpu, dy, dx, (int64_t) C * T, H, W, 1, 0, 2, 1);
    got = down(dy, (size_t) C * T * (H + 1) * (W + 3));
    check("pad2d", got, ref, (size_t) C * T * (H + 1) * (W + 3), 0.0);
    free(got);

    for (int inv = 0; inv < 2; inv++) {
        g_cpu->ops->pixel_unshuffle(g_cpu, ref, x, C / 4, T, H, W, 2, inv);
        g_gpu->ops->pixel_unshuffle(g_gpu, dy, dx, C / 4, T, H, W, 2, inv);
        got = down(dy, n);
        check(inv ? "pixel_unshuffle inverse" : "pixel_unshuffle", got, ref, n, 0.0);
        free(got);
    }

    g_cpu->ops->avg_pool3d(g_cpu, ref, x, C, 2 * C, T, H, W, 2, 2, 1);
    g_gpu->ops->avg_pool3d(g_gpu, dy, dx, C, 2 * C, T, H, W, 2, 2, 1);
    const size_t nd = (size_t) 2 * C * ((T + 1) / 2) * (H / 2) * (W / 2);
    got = down(dy, nd);
    check("avg_pool3d", got, ref, nd, TOL_F32);
    free(got);

    g_cpu->ops->nearest_up3d(g_cpu, ref, x, C, C / 2, T, H / 2, W / 2, 2, 2, 1);
    g_gpu->ops->nearest_up3d(g_gpu, dy, dx, C, C / 2, T, H / 2, W / 2, 2, 2, 1);
    const size_t nu = (size_t) (C / 2) * (T * 2 - 1) * H * W;
    got = down(dy, nu);
    check("nearest_up3d", got, ref, nu, 0.0);
    free(got);
    // the decoder's depth-to-space (one conv channel per output value) with and without the time stride
    for (int ft = 1; ft <= 2; ft++) {
        const int co = C / (ft * 4), drop = ft - 1;
        g_cpu->ops->nearest_up3d(g_cpu, ref, x, C, co, T, H / 2, W / 2, ft, 2, drop);
        g_gpu->ops->nearest_up3d(g_gpu, dy, dx, C, co, T, H / 2, W / 2, ft, 2, drop);
        const size_t nu1 = (size_t) co * (T * ft - drop) * H * W;
        got = down(dy, nu1);
        check(ft == 2 ? "nearest_up3d depth-to-space x2x2x2" : "nearest_up3d depth-to-space x1x2x2", got, ref, nu1,
              0.0);
        free(got);
    }
    // a factor that does not divide the sides (W 20 by 3: the last columns are left out)
    g_cpu->ops->pixel_unshuffle(g_cpu, ref, x, 1, T, H, W, 3, 0);
    g_gpu->ops->pixel_unshuffle(g_gpu, dy, dx, 1, T, H, W, 3, 0);
    const size_t n3 = (size_t) 9 * T * (H / 3) * (W / 3);
    got = down(dy, n3);
    check("pixel_unshuffle by 3", got, ref, n3, 0.0);
    free(got);

    g_cpu->ops->transpose2d(g_cpu, ref, x, 37, (int64_t) n / 37);
    g_gpu->ops->transpose2d(g_gpu, dy, dx, 37, (int64_t) n / 37);
    got = down(dy, (size_t) 37 * (n / 37));
    check("transpose2d", got, ref, (size_t) 37 * (n / 37), 0.0);
    free(got);

    ke_be_free(g_gpu, dx);
    ke_be_free(g_gpu, dg);
    ke_be_free(g_gpu, dy);
    free(x);
    free(g);
    free(ref);
}

// --- fused ops (backend.h) against the CPU backend's compositions --------------------------------

struct lin_pair {
    struct ke_tensor w, b;
    struct ke_linear c, g;
    float * wf, * bf;
};

static int lin_make(struct lin_pair * p, int64_t N, int64_t K)
{
    p->wf = rnd((size_t) (N * K), 1.0f / sqrtf((float) K));
    p->bf = rnd((size_t) N, 0.1f);
    const int64_t ws[2] = { N, K }, bs[1] = { N };
    ke_tensor_init(&p->w, KE_DTYPE_F32, 2, ws, p->wf);
    ke_tensor_init(&p->b, KE_DTYPE_F32, 1, bs, p->bf);
    struct ke_linear l = { .w = &p->w, .b = &p->b, .n_in = K, .n_out = N };
    p->c = l;
    p->g = l;
    return g_cpu->ops->linear_prepare(g_cpu, &p->c) < 0 || g_gpu->ops->linear_prepare(g_gpu, &p->g) < 0 ? -1 : 0;
}

static void lin_free(struct lin_pair * p)
{
    g_cpu->ops->linear_release(g_cpu, &p->c);
    g_gpu->ops->linear_release(g_gpu, &p->g);
    free(p->wf);
    free(p->bf);
}

// xbuf (the backend's matmul-input format: bf16 here) of n elements, downloaded as f32 (poisoned first).
static float * down_x(const void * d, size_t n)
{
    const size_t es = g_gpu->ops->xbuf_elem;
    if (es == sizeof(float)) {
        return down(d, n);
    }
    uint16_t * raw = malloc(n * 2);
    memset(raw, 0xff, n * 2);   // bf16 NaN
    g_gpu->ops->download(g_gpu, raw, d, n * 2);
    float * h = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        h[i] = ke_bf16_to_f32(raw[i]);
    }
    free(raw);
    return h;
}

static struct ke_xbuf * xbuf_cpu(int64_t n)
{
    return ke_be_alloc_xbuf(g_cpu, n);
}

static struct ke_xbuf * xbuf_gpu(int64_t n)
{
    return ke_be_alloc_xbuf(g_gpu, n);
}

// Every fused op of the table (backend.h) against the CPU backend's, which runs the plain ops it
// stands for. Tolerance 1e-2 (bf16 intermediates and GEMM operands, ~3e-3 expected); the RMS norm +
// RoPE and LayerNorm + modulate outputs are single bf16 roundings of f32 results (~2e-3).
static void test_fused_attention(int64_t M, int64_t Lk, int H, int hd, int impl)
{
    const int64_t D = (int64_t) H * hd;
    const size_t n = (size_t) (M * D), nk = (size_t) (Lk * D);
    float * q = rnd(n, 1.0f), * k = rnd(nk, 1.0f), * v = rnd(nk, 1.0f), * o = malloc(n * 4);
    struct ke_xbuf * cq = xbuf_cpu(M * D), * ck = xbuf_cpu(Lk * D), * cv = xbuf_cpu(Lk * D), * co = xbuf_cpu(M * D);
    struct ke_xbuf * gq = xbuf_gpu(M * D), * gk = xbuf_gpu(Lk * D), * gv = xbuf_gpu(Lk * D), * go = xbuf_gpu(M * D);
    float * dq = up(q, n * 4), * dk = up(k, nk * 4), * dv = up(v, nk * 4);
    const float scale = 1.0f / sqrtf((float) hd);
    g_cpu->ops->to_xbuf(g_cpu, cq, q, M * D);
    g_cpu->ops->to_xbuf(g_cpu, ck, k, Lk * D);
    g_cpu->ops->to_xbuf(g_cpu, cv, v, Lk * D);
    g_cpu->ops->attention_x(g_cpu, co, cq, ck, cv, M, Lk, H, hd, scale);
    memcpy(o, co, n * 4);
    ke_backend_cuda_set_attention(g_gpu, impl);
    g_gpu->ops->to_xbuf(g_gpu, gq, dq, M * D);
    g_gpu->ops->to_xbuf(g_gpu, gk, dk, Lk * D);
    g_gpu->ops->to_xbuf(g_gpu, gv, dv, Lk * D);
    g_gpu->ops->attention_x(g_gpu, go, gq, gk, gv, M, Lk, H, hd, scale);
    ke_backend_cuda_set_attention(g_gpu, 0);
    float * got = down_x(go, n);
    char name[128];
    snprintf(name, sizeof(name), "fused attention_x Lq=%lld Lk=%lld H=%d hd=%d impl=%d", (long long) M, (long long) Lk,
             H, hd, impl);
    check(name, got, o, n, TOL_BF16);
    free(got);
    void * dev[] = { gq, gk, gv, go, dq, dk, dv };
    for (size_t i = 0; i < sizeof(dev) / sizeof(dev[0]); i++) {
        ke_be_free(g_gpu, dev[i]);
    }
    void * host[] = { cq, ck, cv, co };
    for (size_t i = 0; i < sizeof(host) / sizeof(host[0]); i++) {
        ke_be_free(g_cpu, host[i]);
    }
    free(q), free(k), free(v), free(o);
}

static void test_fused(void)
{
    const int64_t M = 200, D = 256, FF = 512;
    const int H = 2, hd = 128;
    const size_t n = (size_t) (M * D);
    struct lin_pair l1, l2, l3;
    if (lin_make(&l1, D, D) || lin_make(&l2, FF, D) || lin_make(&l3, D, FF)) {
        g_n++;
        g_fail++;
        printf("not ok %d - fused: linear prepare failed\n", g_n);
        return;
    }
    float * x = rnd(n, 2.0f), * w = rnd((size_t) D, 1.0f), * b = rnd((size_t) D, 0.5f);
    float * mod = rnd((size_t) (3 * 2 * D), 0.3f);
    int32_t * sel = malloc((size_t) M * sizeof(int32_t));
    for (int64_t i = 0; i < M; i++) {
        sel[i] = (int32_t) (i % 3);
    }
    float * cs = malloc((size_t) (M * hd) * 4);
    for (int64_t i = 0; i < M * hd / 2; i++) {
        const double a = (double) frand() * 3.0;
        cs[2 * i] = (float) cos(a);
        cs[2 * i + 1] = (float) sin(a);
    }
    float * y = malloc((size_t) (M * FF) * 4), * tmp = malloc((size_t) (M * FF) * 4);
    struct ke_xbuf * cx = xbuf_cpu(M * FF), * ch = xbuf_cpu(M * FF);
    float * dx = up(x, n * 4), * dw = up(w, (size_t) D * 4), * db = up(b, (size_t) D * 4);
    float * dmod = up(mod, (size_t) (3 * 2 * D) * 4), * dcs = up(cs, (size_t) (M * hd) * 4);
    int32_t * dsel = up(sel, (size_t) M * sizeof(int32_t));
    float * dy = out_buf((size_t) (M * FF)), * dtmp = out_buf((size_t) (M * FF));
    struct ke_xbuf * gx = xbuf_gpu(M * FF), * gh = xbuf_gpu(M * FF);
    float * got;

    g_cpu->ops->to_xbuf(g_cpu, cx, x, M * D);
    g_gpu->ops->to_xbuf(g_gpu, gx, dx, M * D);
    got = down_x(gx, n);
    check("fused to_xbuf", got, (const float *) cx, n, TOL_BF16);
    free(got);

    // LayerNorm + modulate (per-row selector), affine LayerNorm alone, and a width the one-pass kernel
    // does not take (D = 250: the fallback through f32)
    for (int c = 0; c < 3; c++) {
        const int64_t Dc = c == 2 ? 250 : D;
        const float * wc = c == 1 ? w : NULL, * bc = c == 1 ? b : NULL, * dwc = c == 1 ? dw : NULL, * dbc = c == 1 ? db : NULL;
        const float * sh = c == 1 ? NULL : mod, * dsh = c == 1 ? NULL : dmod;
        g_cpu->ops->layer_norm_mod_x(g_cpu, cx, x, M, Dc, wc, bc, 1e-6f, sh, sh ? sh + Dc : NULL, 2 * D,
                                     c == 0 ? sel : NULL);
        g_gpu->ops->layer_norm_mod_x(g_gpu, gx, dx, M, Dc, dwc, dbc, 1e-6f, dsh, dsh ? dsh + Dc : NULL, 2 * D,
                                     c == 0 ? dsel : NULL);
        got = down_x(gx, (size_t) (M * Dc));
        check(c == 0 ? "fused layer_norm_mod_x (selector)" : c == 1 ? "fused layer_norm_mod_x (affine, no modulate)"
                                                                    : "fused layer_norm_mod_x (D=250, unfused route)",
              got, (const float *) cx, (size_t) (M * Dc), TOL_BF16);
        free(got);
    }

    // LTX-Video transformer: RMS norm (no weight) + per-token modulate, and the RMS norm alone (float4
    // kernel); rows of D - 2 (the scalar kernel)
    for (int c = 0; c < 3; c++) {
        const int64_t Dc = c == 2 ? D - 2 : D;
        g_cpu->ops->rms_norm_mod_x(g_cpu, cx, x, M, Dc, 1e-6f, c != 1 ? mod : NULL, c != 1 ? mod + D : NULL, 2 * D,
                                   c != 1 ? sel : NULL);
        g_gpu->ops->rms_norm_mod_x(g_gpu, gx, dx, M, Dc, 1e-6f, c != 1 ? dmod : NULL, c != 1 ? dmod + D : NULL, 2 * D,
                                   c != 1 ? dsel : NULL);
        got = down_x(gx, (size_t) (M * Dc));
        check(c == 0 ? "ltx rms_norm_mod_x (selector)" : c == 1 ? "ltx rms_norm_mod_x (no modulate)"
                                                               : "ltx rms_norm_mod_x (D-2, scalar kernel)",
              got, (const float *) cx, (size_t) (M * Dc), TOL_BF16);
        free(got);
    }

    // RMS norm + RoPE, and the RMS norm alone (the cross-attention q)
    for (int rot = 1; rot >= 0; rot--) {
        g_cpu->ops->rms_norm_rope_x(g_cpu, cx, x, M, H, hd, w, 1e-6f, rot ? cs : NULL);
        g_gpu->ops->rms_norm_rope_x(g_gpu, gx, dx, M, H, hd, dw, 1e-6f, rot ? dcs : NULL);
        got = down_x(gx, n);
        check(rot ? "fused rms_norm_rope_x" : "fused rms_norm_rope_x (no rotation)", got, (const float *) cx, n, TOL_BF16);
        free(got);
    }

    // linears from the same bf16 input on both sides (the CPU gets the GPU's rounded input)
    g_gpu->ops->to_xbuf(g_gpu, gx, dx, M * D);
    got = down_x(gx, n);
    memcpy(cx, got, n * 4);
    free(got);
    g_cpu->ops->linear_x(g_cpu, y, cx, M, &l1.c);
    g_gpu->ops->linear_x(g_gpu, dy, gx, M, &l1.g);
    got = down(dy, n);
    check("fused linear_x", got, y, n, TOL_BF16);
    free(got);
    g_cpu->ops->linear_gelu_x(g_cpu, ch, cx, M, &l2.c);
    g_gpu->ops->linear_gelu_x(g_gpu, gh, gx, M, &l2.g);
    got = down_x(gh, (size_t) (M * FF));
    check("fused linear_gelu_x", got, (const float *) ch, (size_t) (M * FF), TOL_BF16);
    free(got);

    // gated residual: one gate row (in the GEMM, scaled weights), no gate (in the GEMM), per-token
    // gates (the unfused route through tmp); the second linear reads the GELU output
    const char * names[3] = { "fused linear_gated_add_x (gate row)", "fused linear_gated_add_x (no gate)",
                              "fused linear_gated_add_x (per-token gates)" };
    for (int c = 0; c < 3; c++) {
        float * r = rnd(n, 1.0f);
        float * dr = up(r, n * 4);
        got = down_x(gh, (size_t) (M * FF));
        memcpy(ch, got, (size_t) (M * FF) * 4);
        free(got);
        g_cpu->ops->linear_gated_add_x(g_cpu, r, ch, M, &l3.c, c == 1 ? NULL : mod, 2 * D, c == 2 ? sel : NULL, tmp);
        g_gpu->ops->linear_gated_add_x(g_gpu, dr, gh, M, &l3.g, c == 1 ? NULL : dmod, 2 * D, c == 2 ? dsel : NULL, dtmp);
        got = down(dr, n);
        check(names[c], got, r, n, TOL_BF16);
        free(got);
        ke_be_free(g_gpu, dr);
        free(r);
    }

    // channel L2 norm + SiLU over x as [C = 64, N = M * D / 64], in place on the GPU
    g_cpu->ops->channel_l2norm_silu(g_cpu, y, x, 64, (int64_t) n / 64, w);
    g_gpu->ops->copy(g_gpu, dy, dx, n * 4);
    g_gpu->ops->channel_l2norm_silu(g_gpu, dy, dy, 64, (int64_t) n / 64, dw);
    got = down(dy, n);
    check("fused channel_l2norm_silu", got, y, n, TOL_F32);
    free(got);

    // a failed op is recorded, reported once by ke_be_status, and cleared
    struct ke_linear unprepared = l1.c;
    unprepared.prepared = NULL;
    g_gpu->ops->linear_x(g_gpu, dy, gx, M, &unprepared);
    struct ke_error err = { 0 };
    const enum ke_status st1 = ke_be_status(g_gpu, &err), st2 = ke_be_status(g_gpu, NULL);
    g_n++;
    const int ok = st1 != KE_STATUS_OK && strstr(err.msg, "not prepared") && st2 == KE_STATUS_OK;
    g_fail += !ok;
    printf("%s %d - failure record: an unprepared weight is reported (\"%s\") and then cleared\n", ok ? "ok" : "not ok",
           g_n, err.msg);

    void * dev[] = { dx, dw, db, dmod, dcs, dsel, dy, dtmp, gx, gh };
    for (size_t i = 0; i < sizeof(dev) / sizeof(dev[0]); i++) {
        ke_be_free(g_gpu, dev[i]);
    }
    ke_be_free(g_cpu, cx);
    ke_be_free(g_cpu, ch);
    free(x), free(w), free(b), free(mod), free(sel), free(cs), free(y), free(tmp);
    lin_free(&l1);
    lin_free(&l2);
    lin_free(&l3);

    for (int impl = 0; impl <= 3; impl++) {
        test_fused_attention(300, 200, 4, 128, impl);   // cuDNN / own flash / f32 routes
    }
    test_fused_attention(257, 512, 3, 64, 0);
    test_fused_attention(120, 90, 4, 32, 0);   // another head dim: the GEMM route
    test_fused_attention(40, 30, 2, 36, 0);    // the f32 kernel route
}

// --- timing ------------------------------------------------------------------------------------

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static void bench_linear(int64_t M, int64_t K, int64_t N)
{
    uint16_t * wb = malloc((size_t) (N * K) * 2);
    for (int64_t i = 0; i < N * K; i++) {
        wb[i] = ke_f32_to_bf16(frand() * 0.05f);
    }
    struct ke_tensor w;
    const int64_t ws[2] = { N, K };
    ke_tensor_init(&w, KE_DTYPE_BF16, 2, ws, wb);
    struct ke_linear l = { .w = &w, .n_in = K, .n_out = N };
    if (g_gpu->ops->linear_prepare(g_gpu, &l) < 0) {
        printf("# bench linear %lldx%lldx%lld: prepare failed\n", (long long) M, (long long) K, (long long) N);
        free(wb);
        return;
    }
    float * x = rnd((size_t) (M * K), 1.0f);
    float * dx = up(x, (size_t) (M * K) * 4), * dy = ke_be_alloc(g_gpu, (size_t) (M * N) * 4);
    struct ke_backend_stats st;
    g_gpu->ops->linear(g_gpu, dy, dx, M, &l);
    g_gpu->ops->profile(g_gpu, 1);
    const int reps = 10;
    g_gpu->ops->sync(g_gpu);
    double t0 = now();
    for (int r = 0; r < reps; r++) {
        g_gpu->ops->scale(g_gpu, dx, dx, 1.0f, 1);   // a write to x: the bf16 copy is made again each time
        g_gpu->ops->linear(g_gpu, dy, dx, M, &l);
    }
    g_gpu->ops->sync(g_gpu);
    double t = (now() - t0) / reps;
    g_gpu->ops->stats(g_gpu, &st);
    g_gpu->ops->profile(g_gpu, 0);
    const double fl = 2.0 * M * N * K;
    printf("# bench linear M=%lld K=%lld N=%lld: %.3f ms per call (%.0f TFLOP/s incl. conversion), GEMM alone "
           "%.3f ms (%.0f TFLOP/s)\n",
           (long long) M, (long long) K, (long long) N, t * 1e3, fl / t * 1e-12, st.ms_gemm / reps,
           fl / (st.ms_gemm / reps * 1e-3) * 1e-12);
    ke_be_free(g_gpu, dx);
    ke_be_free(g_gpu, dy);
    g_gpu->ops->linear_release(g_gpu, &l);
    free(x);
    free(wb);
}

static void bench_attention(int64_t Lq, int64_t Lk, int H, int hd, int impl)
{
    const int64_t ld = (int64_t) H * hd;
    float * q = rnd((size_t) (Lq * ld), 2.0f);
    float * dq = up(q, (size_t) (Lq * ld) * 4), * dk = up(q, (size_t) (Lk * ld) * 4), * dv = up(q, (size_t) (Lk * ld) * 4);
    float * dO = ke_be_alloc(g_gpu, (size_t) (Lq * ld) * 4);
    ke_backend_cuda_set_attention(g_gpu, impl);
    g_gpu->ops->attention(g_gpu, dO, dq, dk, dv, Lq, Lk, H, hd, 0.088f, NULL);
    g_gpu->ops->profile(g_gpu, 1);
    const int reps = 3;
    for (int r = 0; r < reps; r++) {
        g_gpu->ops->attention(g_gpu, dO, dq, dk, dv, Lq, Lk, H, hd, 0.088f, NULL);
    }
    struct ke_backend_stats st;
    g_gpu->ops->stats(g_gpu, &st);
    g_gpu->ops->profile(g_gpu, 0);
    static const char * names[] = { "auto", "cudnn", "flash", "f32" };
    const double fl = 4.0 * Lq * Lk * ld;
    printf("# bench attention %s Lq=%lld Lk=%lld H=%d hd=%d: kernel %.3f ms (%.0f TFLOP/s)%s\n", names[impl],
           (long long) Lq, (long long) Lk, H, hd, st.ms_attention / reps,
           fl / (st.ms_attention / reps * 1e-3) * 1e-12, ke_be_status(g_gpu, NULL) != KE_STATUS_OK ? " (FAILED)" : "");
    ke_backend_cuda_set_attention(g_gpu, 0);
    ke_be_free(g_gpu, dq);
    ke_be_free(g_gpu, dk);
    ke_be_free(g_gpu, dv);
    ke_be_free(g_gpu, dO);
    free(q);
}

// --- LTX-Video VAE and latent upsampler ops ------------------------------------------------------

// pixel_norm_mod (with and without the modulation, SiLU, in place), group_norm (one and several blocks
// per group, in place) and pad2d_edge (reflect, replicate) against the CPU backend.
static void test_ltx_ops(void)
{
    const int C = 40, T = 3, H = 14, W = 22;
    const int64_t N = (int64_t) T * H * W;
    const size_t n = (size_t) C * N;
    float * x = rnd(n, 2.0f), * sh = rnd((size_t) C, 0.5f), * sc = rnd((size_t) C, 0.5f), * ref = malloc(n * 4);
    float * dx = up(x, n * 4), * dsh = up(sh, (size_t) C * 4), * dsc = up(sc, (size_t) C * 4), * dy = out_buf(n * 4);
    float * got;
    for (int mod = 0; mod < 2; mod++) {
        g_cpu->ops->pixel_norm_mod(g_cpu, ref, x, C, N, 1e-8f, mod ? sh : NULL, mod ? sc : NULL, mod);
        g_gpu->ops->pixel_norm_mod(g_gpu, dy, dx, C, N, 1e-8f, mod ? dsh : NULL, mod ? dsc : NULL, mod);
        got = down(dy, n);
        check(mod ? "pixel_norm_mod + modulation + silu" : "pixel_norm_mod", got, ref, n, TOL_F32);
        free(got);
    }
    g_gpu->ops->copy(g_gpu, dy, dx, n * 4);
    g_gpu->ops->pixel_norm_mod(g_gpu, dy, dy, C, N, 1e-8f, dsh, dsc, 1);
    got = down(dy, n);
    check("pixel_norm_mod in place", got, ref, n, TOL_F32);
    free(got);

    // GroupNorm(32) over 64 channels: small (one block per group) and large (several) groups
    const int Cg = 64;
    const int64_t Ns[2] = { 300, 40000 };
    for (int k = 0; k < 2; k++) {
        const size_t m = (size_t) Cg * Ns[k];
        float * gx = rnd(m, 3.0f), * gw = rnd((size_t) Cg, 1.0f), * gb = rnd((size_t) Cg, 1.0f), * gr = malloc(m * 4);
        float * dgx = up(gx, m * 4), * dgw = up(gw, (size_t) Cg * 4), * dgb = up(gb, (size_t) Cg * 4);
        float * dgy = out_buf(m * 4);
        g_cpu->ops->group_norm(g_cpu, gr, gx, Cg, Ns[k], 32, 1e-5f, gw, gb, 1);
        g_gpu->ops->group_norm(g_gpu, dgy, dgx, Cg, Ns[k], 32, 1e-5f, dgw, dgb, 1);
        got = down(dgy, m);
        check(k ? "group_norm + silu (several blocks per group)" : "group_norm + silu", got, gr, m, TOL_F32);
        free(got);
        g_cpu->ops->group_norm(g_cpu, gr, gx, Cg, Ns[k], 32, 1e-5f, gw, gb, 0);
        g_gpu->ops->group_norm(g_gpu, dgx, dgx, Cg, Ns[k], 32, 1e-5f, dgw, dgb, 0);
        got = down(dgx, m);
        check("group_norm in place", got, gr, m, TOL_F32);
        free(got);
        ke_be_free(g_gpu, dgx);
        ke_be_free(g_gpu, dgw);
        ke_be_free(g_gpu, dgb);
        ke_be_free(g_gpu, dgy);
        free(gx);
        free(gw);
        free(gb);
        free(gr);
    }

    for (int mode = 1; mode <= 2; mode++) {
        const size_t np = (size_t) C * T * (H + 2) * (W + 2);
        float * pr = malloc(np * 4), * dp = out_buf(np * 4);
        g_cpu->ops->pad2d_edge(g_cpu, pr, x, (int64_t) C * T, H, W, 1, mode);
        g_gpu->ops->pad2d_edge(g_gpu, dp, dx, (int64_t) C * T, H, W, 1, mode);
        got = down(dp, np);
        check(mode == 1 ? "pad2d_edge reflect" : "pad2d_edge replicate", got, pr, np, 0.0);
        free(got);
        free(pr);
        ke_be_free(g_gpu, dp);
    }
    ke_be_free(g_gpu, dx);
    ke_be_free(g_gpu, dsh);
    ke_be_free(g_gpu, dsc);
    ke_be_free(g_gpu, dy);
    free(x);
    free(sh);
    free(sc);
    free(ref);
}

// ltx_conv3d (the LTX-Video VAE's convolution with its pixel norm, modulation, SiLU, edge-frame time
// padding and residual add): a conv prepared narrow runs the fused bf16 channels-last path (1e-2, bf16
// operands), one prepared wide the composed f32 path (1e-2, TF32 convolution), against the CPU's
// composition. Widths and planes that are not multiples of the 32x32 tiles.
static void test_ltx_conv3d(int narrow, int cin, int cout, int T, int H, int W, int front, int back, int norm, int mod,
                            int accumulate)
{
    const int64_t hw = (int64_t) H * W, nx = (int64_t) cin * T * hw, ny = (int64_t) cout * T * hw;
    const int64_t wn = (int64_t) cout * cin * 27;
    float * w = rnd((size_t) wn, 0.1f), * b = rnd((size_t) cout, 1.0f), * x = rnd((size_t) nx, 2.0f);
    float * sh = rnd((size_t) cin, 0.5f), * sc = rnd((size_t) cin, 0.5f), * y0 = rnd((size_t) ny, 1.0f);
    float * ref = malloc((size_t) ny * 4);
    memcpy(ref, y0, (size_t) ny * 4);
    struct ke_tensor wt, bt;
    const int64_t ws[5] = { cout, cin, 3, 3, 3 }, bs[1] = { cout };
    ke_tensor_init(&wt, KE_DTYPE_F32, 5, ws, w);
    ke_tensor_init(&bt, KE_DTYPE_F32, 1, bs, b);
    struct ke_conv3d cc = { .w = &wt, .b = &bt, .c_out = cout, .c_in = cin, .kt = 3, .kh = 3, .kw = 3 };
    struct ke_conv3d cg = cc;
    cg.narrow = narrow;
    char what[160];
    snprintf(what, sizeof(what), "ltx_conv3d %s %d->%d T=%d %dx%d frames (%d,%d)%s%s%s", narrow ? "narrow" : "wide",
             cin, cout, T, H, W, front, back, norm ? " norm" : "", mod ? " + modulation" : "",
             accumulate ? " accumulate" : "");
    if (g_cpu->ops->conv3d_prepare(g_cpu, &cc) < 0 || g_gpu->ops->conv3d_prepare(g_gpu, &cg) < 0) {
        g_n++;
        g_fail++;
        printf("not ok %d - %s: prepare failed\n", g_n, what);
    } else {
        float * dx = up(x, (size_t) nx * 4), * dy = up(y0, (size_t) ny * 4);
        float * dsh = up(sh, (size_t) cin * 4), * dsc = up(sc, (size_t) cin * 4);
        g_cpu->ops->ltx_conv3d(g_cpu, ref, accumulate, x, &cc, T, H, W, front, back, norm, 1e-8f, mod ? sh : NULL,
                               mod ? sc : NULL);
        g_gpu->ops->ltx_conv3d(g_gpu, dy, accumulate, dx, &cg, T, H, W, front, back, norm, 1e-8f, mod ? dsh : NULL,
                               mod ? dsc : NULL);
        float * got = down(dy, (size_t) ny);
        check(what, got, ref, (size_t) ny, TOL_BF16);
        // x is left as it was
        float * gx = down(dx, (size_t) nx);
        check("ltx_conv3d leaves its input", gx, x, (size_t) nx, 0.0);
        free(gx);
        free(got);
        ke_be_free(g_gpu, dx);
        ke_be_free(g_gpu, dy);
        ke_be_free(g_gpu, dsh);
        ke_be_free(g_gpu, dsc);
        g_cpu->ops->conv3d_release(g_cpu, &cc);
        g_gpu->ops->conv3d_release(g_gpu, &cg);
    }
    free(w);
    free(b);
    free(x);
    free(sh);
    free(sc);
    free(y0);
    free(ref);
}

// ltx_resnet (the decoder's ResnetBlock3D: two convs, their norms and modulation, the residual add):
// narrow convs run the fused path with the bf16 channels-last intermediate, wide ones the composed
// one, against the CPU (1e-2: bf16 operands / TF32).
static void test_ltx_resnet(int narrow, int C, int T, int H, int W, int front, int back, int mod)
{
    const int64_t n = (int64_t) C * T * H * W, wn = (int64_t) C * C * 27;
    float * x = rnd((size_t) n, 2.0f), * w1 = rnd((size_t) wn, 0.1f), * w2 = rnd((size_t) wn, 0.1f);
    float * b1 = rnd((size_t) C, 1.0f), * b2 = rnd((size_t) C, 1.0f), * ada = rnd((size_t) (4 * C), 0.5f);
    float * ref = malloc((size_t) n * 4);
    memcpy(ref, x, (size_t) n * 4);
    struct ke_tensor tw1, tw2, tb1, tb2;
    const int64_t ws[5] = { C, C, 3, 3, 3 }, bs[1] = { C };
    ke_tensor_init(&tw1, KE_DTYPE_F32, 5, ws, w1);
    ke_tensor_init(&tw2, KE_DTYPE_F32, 5, ws, w2);
    ke_tensor_init(&tb1, KE_DTYPE_F32, 1, bs, b1);
    ke_tensor_init(&tb2, KE_DTYPE_F32, 1, bs, b2);
    struct ke_conv3d c1 = { .w = &tw1, .b = &tb1, .c_out = C, .c_in = C, .kt = 3, .kh = 3, .kw = 3 };
    struct ke_conv3d c2 = { .w = &tw2, .b = &tb2, .c_out = C, .c_in = C, .kt = 3, .kh = 3, .kw = 3 };
    struct ke_conv3d g1 = c1, g2 = c2;
    g1.narrow = g2.narrow = narrow;
    char what[128];
    snprintf(what, sizeof(what), "ltx_resnet %s C=%d T=%d %dx%d frames (%d,%d)%s", narrow ? "narrow" : "wide", C, T,
             H, W, front, back, mod ? " + modulation" : "");
    if (g_cpu->ops->conv3d_prepare(g_cpu, &c1) < 0 || g_cpu->ops->conv3d_prepare(g_cpu, &c2) < 0 ||
        g_gpu->ops->conv3d_prepare(g_gpu, &g1) < 0 || g_gpu->ops->conv3d_prepare(g_gpu, &g2) < 0) {
        g_n++;
        g_fail++;
        printf("not ok %d - %s: prepare failed\n", g_n, what);
    } else {
        float * dx = up(x, (size_t) n * 4), * dada = up(ada, (size_t) (4 * C) * 4);
        g_cpu->ops->ltx_resnet(g_cpu, ref, &c1, &c2, T, H, W, front, back, 1e-8f, mod ? ada : NULL);
        g_gpu->ops->ltx_resnet(g_gpu, dx, &g1, &g2, T, H, W, front, back, 1e-8f, mod ? dada : NULL);
        float * got = down(dx, (size_t) n);
        check(what, got, ref, (size_t) n, TOL_BF16);
        free(got);
        ke_be_free(g_gpu, dx);
        ke_be_free(g_gpu, dada);
        g_cpu->ops->conv3d_release(g_cpu, &c1);
        g_cpu->ops->conv3d_release(g_cpu, &c2);
        g_gpu->ops->conv3d_release(g_gpu, &g1);
        g_gpu->ops->conv3d_release(g_gpu, &g2);
    }
    free(x);
    free(w1);
    free(w2);
    free(b1);
    free(b2);
    free(ada);
    free(ref);
}

// wan_resnet (the Wan VAE decoder's residual block body, its causal caches kept by the op): chunks of
// nt[] frames through the fused CUDA op against the CPU's composition of the same steps (channel L2 norm
// + SiLU, the two cached frames in front, conv3d, the bias, the add into acc), caches carried from chunk
// to chunk; every chunk's acc is checked. same: acc is x itself (c_in == c_out), else a separate buffer
// (the shortcut's output). 1e-2: bf16 operands with fp32 accumulation, as the other narrow convs.
static void test_wan_resnet(int cin, int cout, int H, int W, const int * nt, int n_chunks, int same)
{
    const int64_t hw = (int64_t) H * W, w1n = (int64_t) cout * cin * 27, w2n = (int64_t) cout * cout * 27;
    float * w1 = rnd((size_t) w1n, 0.1f), * w2 = rnd((size_t) w2n, 0.1f), * b1 = rnd((size_t) cout, 1.0f);
    float * b2 = rnd((size_t) cout, 1.0f), * g0 = rnd((size_t) cin, 1.0f), * g1 = rnd((size_t) cout, 1.0f);
    struct ke_tensor tw1, tw2, tb1, tb2;
    const int64_t s1[5] = { cout, cin, 3, 3, 3 }, s2[5] = { cout, cout, 3, 3, 3 }, bs[1] = { cout };
    ke_tensor_init(&tw1, KE_DTYPE_F32, 5, s1, w1);
    ke_tensor_init(&tw2, KE_DTYPE_F32, 5, s2, w2);
    ke_tensor_init(&tb1, KE_DTYPE_F32, 1, bs, b1);
    ke_tensor_init(&tb2, KE_DTYPE_F32, 1, bs, b2);
    struct ke_conv3d c1 = { .w = &tw1, .b = &tb1, .c_out = cout, .c_in = cin, .kt = 3, .kh = 3, .kw = 3 };
    struct ke_conv3d c2 = { .w = &tw2, .b = &tb2, .c_out = cout, .c_in = cout, .kt = 3, .kh = 3, .kw = 3 };
    struct ke_conv3d d1 = c1, d2 = c2;
    d1.narrow = d2.narrow = 1;
    char what[160];
    if (!g_gpu->ops->wan_resnet || g_cpu->ops->conv3d_prepare(g_cpu, &c1) < 0 ||
        g_cpu->ops->conv3d_prepare(g_cpu, &c2) < 0 || g_gpu->ops->conv3d_prepare(g_gpu, &d1) < 0 ||
        g_gpu->ops->conv3d_prepare(g_gpu, &d2) < 0) {
        g_n++;
        g_fail++;
        printf("not ok %d - wan_resnet %d->%d: no op or prepare failed\n", g_n, cin, cout);
        goto out;
    }
    // CPU caches [C, 2, hw] f32 (zeros before the first chunk); GPU caches in the op's own layout
    float * k1 = calloc((size_t) (cin * 2 * hw), 4), * k2 = calloc((size_t) (cout * 2 * hw), 4);
    void * dk1 = ke_be_alloc(g_gpu, (size_t) (cin * 2 * hw) * 2);
    void * dk2 = ke_be_alloc(g_gpu, (size_t) (cout * 2 * hw) * 2);
    g_gpu->ops->memset0(g_gpu, dk1, (size_t) (cin * 2 * hw) * 2);
    g_gpu->ops->memset0(g_gpu, dk2, (size_t) (cout * 2 * hw) * 2);
    float * dg0 = up(g0, (size_t) cin * 4), * dg1 = up(g1, (size_t) cout * 4);
    for (int ci = 0; ci < n_chunks; ci++) {
        const int T = nt[ci], Tin = T + 2;
        const size_t nx = (size_t) (cin * T * hw), ny = (size_t) (cout * T * hw);
        float * x = rnd(nx, 2.0f), * acc = same ? NULL : rnd(ny, 1.0f);
        float * ref = malloc(ny * 4), * z = malloc(nx * 4);
        float * xx = malloc((size_t) (cout > cin ? cout : cin) * Tin * hw * 4);
        float * y1 = malloc(ny * 4), * y2 = malloc(ny * 4);
        memcpy(ref, same ? x : acc, ny * 4);
        // conv1 over cache1 ++ silu(norm(x, g0)); cache1 = the last two frames
        g_cpu->ops->channel_l2norm_silu(g_cpu, z, x, cin, T * hw, g0);
        for (int c = 0; c < cin; c++) {
            memcpy(xx + (size_t) (c * Tin) * hw, k1 + (size_t) (c * 2) * hw, (size_t) (2 * hw) * 4);
            memcpy(xx + (size_t) (c * Tin + 2) * hw, z + (size_t) (c * T) * hw, (size_t) (T * hw) * 4);
            memcpy(k1 + (size_t) (c * 2) * hw, xx + (size_t) (c * Tin + T) * hw, (size_t) (2 * hw) * 4);
        }
        g_cpu->ops->conv3d(g_cpu, y1, xx, &c1, Tin, H, W, 0, 0, 1, 1, 1, 1, 1);
        g_cpu->ops->channel_l2norm_silu(g_cpu, y1, y1, cout, T * hw, g1);
        for (int c = 0; c < cout; c++) {
            memcpy(xx + (size_t) (c * Tin) * hw, k2 + (size_t) (c * 2) * hw, (size_t) (2 * hw) * 4);
            memcpy(xx + (size_t) (c * Tin + 2) * hw, y1 + (size_t) (c * T) * hw, (size_t) (T * hw) * 4);
            memcpy(k2 + (size_t) (c * 2) * hw, xx + (size_t) (c * Tin + T) * hw, (size_t) (2 * hw) * 4);
        }
        g_cpu->ops->conv3d(g_cpu, y2, xx, &c2, Tin, H, W, 0, 0, 1, 1, 1, 1, 1);
        for (size_t i = 0; i < ny; i++) {
            ref[i] += y2[i];
        }
        float * dx = up(x, nx * 4), * dacc = same ? dx : up(acc, ny * 4);
        const int rc = g_gpu->ops->wan_resnet(g_gpu, dacc, dx, &d1, &d2, dg0, dg1, dk1, dk2, T, H, W);
        snprintf(what, sizeof(what), "wan_resnet %d->%d %dx%d chunk %d of %d (%d frames)%s", cin, cout, H, W, ci + 1,
                 n_chunks, T, same ? ", acc = x" : "");
        if (rc != 0) {
            g_n++;
            g_fail++;
            printf("not ok %d - %s: no fused form (returned %d)\n", g_n, what, rc);
        } else {
            float * got = down(dacc, ny);
            check(what, got, ref, ny, TOL_BF16);
            free(got);
        }
        ke_be_free(g_gpu, dx);
        if (!same) {
            ke_be_free(g_gpu, dacc);
        }
        free(x);
        free(acc);
        free(ref);
        free(z);
        free(xx);
        free(y1);
        free(y2);
    }
    free(k1);
    free(k2);
    ke_be_free(g_gpu, dk1);
    ke_be_free(g_gpu, dk2);
    ke_be_free(g_gpu, dg0);
    ke_be_free(g_gpu, dg1);
    g_cpu->ops->conv3d_release(g_cpu, &c1);
    g_cpu->ops->conv3d_release(g_cpu, &c2);
    g_gpu->ops->conv3d_release(g_gpu, &d1);
    g_gpu->ops->conv3d_release(g_gpu, &d2);
out:
    free(w1);
    free(w2);
    free(b1);
    free(b2);
    free(g0);
    free(g1);
}

static void log_cb(int level, const char * msg, void * user)
{
    (void) user;
    if (level <= 2) {
        fprintf(stderr, "# [%d] %s\n", level, msg);
    }
}

int main(int argc, char ** argv)
{
    int bench = argc > 1 && strcmp(argv[1], "--bench") == 0;
    struct ke_error err = { 0 };
    ke_log_set(log_cb, NULL);
    g_cpu = ke_backend_cpu();
    g_gpu = ke_backend_by_name("cuda", &err);
    if (!g_gpu) {
        printf("1..0 # SKIP %s\n", err.msg);
        return 77;
    }
    test_rowwise();
    test_elementwise();
    test_rope_layout();
    test_linear(77, 3072, 3072, KE_DTYPE_BF16, 1);
    test_linear(300, 48 * 4, 3072, KE_DTYPE_F32, 1);
    test_linear(33, 3072, 14336 / 8, KE_DTYPE_BF16, 0);
    test_linear(5, 256, 3072 * 6 / 4, KE_DTYPE_F32, 1);
    // bf16 weights of 4 MiB and more upload through the threaded pinned staging (cuda-upload.c): 18 MiB
    // above (two workers), here 32 MiB less 1.5 KiB (three workers, a partial last chunk)
    test_linear(9, 3072, 5461, KE_DTYPE_BF16, 0);
    for (int impl = 0; impl <= 3; impl++) {
        test_attention(300, 200, 4, 128, impl, 0);
    }
    test_attention(1000, 1000, 2, 128, 2, 0);
    test_attention(257, 512, 3, 64, 0, 0);
    test_attention(257, 512, 3, 64, 2, 0);
    test_attention(100, 64, 2, 64, 0, 1);
    test_attention(50, 70, 2, 96, 0, 0);
    test_attention(300, 300, 1, 384, 0, 0);   // the VAE's single-head attention over whole frames
    test_attention(300, 300, 1, 384, 3, 0);
    test_attention(1000, 8192, 1, 1024, 0, 0);   // two query blocks in the GEMM route
    test_attention(40, 30, 2, 36, 0, 0);
    test_conv3d(8, 16, 3, 3, 4, 10, 12, 2, 0, 1, 1, 1);
    test_conv3d(8, 12, 1, 3, 2, 9, 11, 0, 0, 1, 1, 2);
    test_conv3d(6, 10, 3, 1, 5, 6, 7, 1, 1, 0, 2, 1);
    test_vae();
    test_fused();
    test_ltx_ops();   // LTX-Video VAE and latent upsampler
    test_ltx_conv3d(1, 40, 24, 3, 14, 22, 1, 1, 1, 1, 1);    // the decoder's resnet conv2
    test_ltx_conv3d(1, 40, 24, 3, 14, 22, 1, 1, 1, 1, 0);    // conv1
    test_ltx_conv3d(1, 16, 64, 4, 9, 35, 1, 1, 0, 0, 0);     // conv_in / the upsampler's conv
    test_ltx_conv3d(1, 24, 48, 2, 5, 7, 1, 1, 1, 0, 0);      // conv_out without timestep conditioning
    test_ltx_conv3d(1, 16, 16, 3, 6, 6, 2, 0, 1, 1, 1);      // causal padding
    test_ltx_conv3d(0, 40, 24, 3, 14, 22, 1, 1, 1, 1, 1);    // wide: the composed path
    test_ltx_conv3d(0, 16, 16, 3, 6, 6, 2, 0, 0, 0, 0);
    test_ltx_resnet(1, 40, 3, 14, 22, 1, 1, 1);
    test_ltx_resnet(1, 32, 1, 9, 35, 1, 1, 0);   // one frame: both edge copies from it
    test_ltx_resnet(1, 16, 4, 6, 6, 2, 0, 1);    // causal
    test_ltx_resnet(0, 40, 3, 14, 22, 1, 1, 1);
    // the Wan VAE decoder's residual blocks: one frame at a time (its high-resolution stages), longer
    // chunks, a first chunk of one frame (the cache half zeros), and a block with a shortcut
    const int frames1[4] = { 1, 1, 1, 1 }, frames2[3] = { 1, 4, 2 };
    test_wan_resnet(32, 32, 10, 14, frames1, 4, 1);
    test_wan_resnet(48, 48, 7, 9, frames2, 3, 1);
    test_wan_resnet(32, 64, 6, 11, frames2, 3, 0);
    printf("1..%d\n", g_n);
    if (bench) {
        // the TI2V-5B DiT at 1280x704x121: 27,280 tokens, dim 3072, ffn 14336, 24 heads of 128
        const int64_t L = 27280;
        bench_linear(L, 3072, 3072);
        bench_linear(L, 3072, 14336);
        bench_linear(L, 14336, 3072);
        // self-attention at both sizes and the cross-attention (512 text tokens), cuDNN and own kernel
        const int64_t shapes[3][2] = { { L, L }, { 8190, 8190 }, { L, 512 } };
        for (int i = 0; i < 3; i++) {
            for (int impl = 1; impl <= 2; impl++) {
                bench_attention(shapes[i][0], shapes[i][1], 24, 128, impl);
            }
        }
    }
    return g_fail ? 1 : 0;
}
