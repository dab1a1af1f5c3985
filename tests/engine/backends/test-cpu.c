/* CPU backend ops against naive C loops on seeded inputs (tier 1 of STYLE §7). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/profile.h"
#define KE_ALLOC_NO_MACROS 1   /* the hook only: this file's own allocations stay plain */
#include "core/alloc.h"
#include "core/threadpool.h"
#include "test-util.h"

/* f32 ops: |got - ref| <= 1e-5 + 1e-5 |ref| (float32 rounding with another summation order). */
#define ATOL 1e-5
#define RTOL 1e-5

static float *
rnd (size_t n, guint32 seed)
{
  float *x = g_new (float, n);
  test_fill_random (x, n, seed);
  return x;
}

static void
naive_linear (float *y, const float *x, const float *w, const float *b, int M, int N, int K)
{
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++)
      {
        double acc = b ? b[j] : 0;
        for (int k = 0; k < K; k++)
          acc += (double) x[i * K + k] * w[j * K + k];
        y[i * N + j] = (float) acc;
      }
}

static void
test_linear (void)
{
  const int M = 37, N = 300, K = 129;
  float *x = rnd ((size_t) M * K, 1), *w = rnd ((size_t) N * K, 2), *b = rnd (N, 3);
  float *ref = g_new (float, M * N), *got = g_new (float, M * N);
  naive_linear (ref, x, w, b, M, N, K);

  struct ke_tensor tw, tb;
  int64_t ws[2] = { N, K }, bs[1] = { N };
  ke_tensor_init (&tw, KE_DTYPE_F32, 2, ws, w);
  ke_tensor_init (&tb, KE_DTYPE_F32, 1, bs, b);
  struct ke_backend *be = ke_backend_cpu ();
  struct ke_linear l = { .w = &tw, .b = &tb, .n_in = K, .n_out = N };
  g_assert_cmpint (be->ops->linear_prepare (be, &l), ==, 0);
  be->ops->linear (be, got, x, M, &l);
  g_assert_true (test_allclose ("linear f32", got, ref, (size_t) M * N, ATOL, RTOL * 10));
  be->ops->linear_release (be, &l);

  /* bf16-stored weights on the exact path: the reference uses the same rounded weights */
  uint16_t *wb = g_new (uint16_t, (size_t) N * K);
  float *wr = g_new (float, (size_t) N * K);
  for (int i = 0; i < N * K; i++)
    {
      wb[i] = ke_f32_to_bf16 (w[i]);
      wr[i] = ke_bf16_to_f32 (wb[i]);
    }
  naive_linear (ref, x, wr, b, M, N, K);
  ke_tensor_init (&tw, KE_DTYPE_BF16, 2, ws, wb);
  g_assert_cmpint (be->ops->linear_prepare (be, &l), ==, 0);
  be->ops->linear (be, got, x, M, &l);
  g_assert_true (test_allclose ("linear bf16 weights, exact", got, ref, (size_t) M * N, ATOL, RTOL * 10));
  be->ops->linear_release (be, &l);

  /* fast path: inputs also rounded to bf16, fp32 accumulation. With K = 129 terms of magnitude <= 1
   * the error is bounded by the input rounding, 2^-8 relative per product: atol 0.05 (vs |y| up to ~10). */
  struct ke_backend *fast = ke_backend_cpu_fast ();
  ke_tensor_init (&tw, KE_DTYPE_F32, 2, ws, w);
  naive_linear (ref, x, w, b, M, N, K);
  g_assert_cmpint (fast->ops->linear_prepare (fast, &l), ==, 0);
  fast->ops->linear (fast, got, x, M, &l);
  g_assert_true (test_allclose ("linear fast", got, ref, (size_t) M * N, 5e-2, 1e-2));
  fast->ops->linear_release (fast, &l);

  g_free (x); g_free (w); g_free (b); g_free (ref); g_free (got); g_free (wb); g_free (wr);
}

static void
test_norms (void)
{
  const int M = 17, D = 96;
  struct ke_backend *be = ke_backend_cpu ();
  float *x = rnd ((size_t) M * D, 4), *w = rnd (D, 5), *b = rnd (D, 6);
  float *ref = g_new (float, M * D), *got = g_new (float, M * D);
  for (int i = 0; i < M; i++)
    {
      double mean = 0, var = 0, ss = 0;
      for (int j = 0; j < D; j++)
        mean += x[i * D + j];
      mean /= D;
      for (int j = 0; j < D; j++)
        var += (x[i * D + j] - mean) * (x[i * D + j] - mean);
      var /= D;
      for (int j = 0; j < D; j++)
        ref[i * D + j] = (float) ((x[i * D + j] - mean) / sqrt (var + 1e-6) * w[j] + b[j]);
      (void) ss;
    }
  be->ops->layer_norm (be, got, x, M, D, w, b, 1e-6f);
  g_assert_true (test_allclose ("layer_norm", got, ref, (size_t) M * D, ATOL, RTOL));
  for (int i = 0; i < M; i++)
    {
      double ss = 0;
      for (int j = 0; j < D; j++)
        ss += (double) x[i * D + j] * x[i * D + j];
      for (int j = 0; j < D; j++)
        ref[i * D + j] = (float) (x[i * D + j] / sqrt (ss / D + 1e-6) * w[j]);
    }
  be->ops->rms_norm (be, got, x, M, D, w, 1e-6f);
  g_assert_true (test_allclose ("rms_norm", got, ref, (size_t) M * D, ATOL, RTOL));

  /* modulate + gated add with a per-row selector over two modulation rows */
  float *mod = rnd (2 * 3 * D, 7);
  int32_t sel[17];
  for (int i = 0; i < M; i++)
    sel[i] = i % 3 == 0;
  be->ops->modulate (be, got, x, M, D, mod, mod + D, 3 * D, sel);
  for (int i = 0; i < M; i++)
    for (int j = 0; j < D; j++)
      {
        const float *m = mod + sel[i] * 3 * D;
        ref[i * D + j] = x[i * D + j] * (1 + m[D + j]) + m[j];
      }
  g_assert_true (test_allclose ("modulate", got, ref, (size_t) M * D, ATOL, RTOL));
  memcpy (got, x, sizeof (float) * M * D);
  be->ops->gated_add (be, got, w, 1, D, mod + 2 * D, 3 * D, NULL);
  for (int j = 0; j < D; j++)
    ref[j] = x[j] + w[j] * mod[2 * D + j];
  g_assert_true (test_allclose ("gated_add", got, ref, (size_t) D, ATOL, RTOL));
  g_free (x); g_free (w); g_free (b); g_free (ref); g_free (got); g_free (mod);
}

/* Attention against a naive softmax over the full score matrix, with and without bias, Lq != Lk,
 * sizes not multiples of the kernel's tiles. */
static void
test_attention (void)
{
  const int H = 3, hd = 20, Lq = 45, Lk = 301;
  const float scale = 0.37f;
  struct ke_backend *be = ke_backend_cpu ();
  float *q = rnd ((size_t) Lq * H * hd, 8), *k = rnd ((size_t) Lk * H * hd, 9), *v = rnd ((size_t) Lk * H * hd, 10);
  float *bias = rnd ((size_t) H * Lq * Lk, 11);
  float *ref = g_new (float, Lq * H * hd), *got = g_new (float, Lq * H * hd);
  double *s = g_new (double, Lk);
  for (int pass = 0; pass < 2; pass++)
    {
      const float *bp = pass ? bias : NULL;
      for (int h = 0; h < H; h++)
        for (int i = 0; i < Lq; i++)
          {
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < Lk; j++)
              {
                double d = 0;
                for (int c = 0; c < hd; c++)
                  d += (double) q[(i * H + h) * hd + c] * k[(j * H + h) * hd + c];
                s[j] = d * scale + (bp ? bp[((size_t) h * Lq + i) * Lk + j] : 0);
                mx = fmax (mx, s[j]);
              }
            for (int j = 0; j < Lk; j++)
              sum += s[j] = exp (s[j] - mx);
            for (int c = 0; c < hd; c++)
              {
                double acc = 0;
                for (int j = 0; j < Lk; j++)
                  acc += s[j] * v[(j * H + h) * hd + c];
                ref[(i * H + h) * hd + c] = (float) (acc / sum);
              }
          }
      be->ops->attention (be, got, q, k, v, Lq, Lk, H, hd, scale, bp);
      g_assert_true (test_allclose (pass ? "attention+bias" : "attention", got, ref, (size_t) Lq * H * hd, ATOL, RTOL * 10));
    }
  g_free (q); g_free (k); g_free (v); g_free (bias); g_free (ref); g_free (got); g_free (s);
}

static void
test_rope_and_layout (void)
{
  const int L = 5, H = 2, hd = 8;
  struct ke_backend *be = ke_backend_cpu ();
  float *x = rnd ((size_t) L * H * hd, 12), *cs = g_new (float, L * hd);
  float *got = g_new (float, L * H * hd);
  for (int t = 0; t < L; t++)
    for (int p = 0; p < hd / 2; p++)
      {
        cs[(t * hd / 2 + p) * 2] = cosf (0.3f * t + p);
        cs[(t * hd / 2 + p) * 2 + 1] = sinf (0.3f * t + p);
      }
  memcpy (got, x, sizeof (float) * L * H * hd);
  be->ops->rope (be, got, L, H, hd, cs);
  for (int t = 0; t < L; t++)
    for (int h = 0; h < H; h++)
      for (int p = 0; p < hd / 2; p++)
        {
          float a = x[(t * H + h) * hd + 2 * p], b = x[(t * H + h) * hd + 2 * p + 1];
          float c = cosf (0.3f * t + p), s = sinf (0.3f * t + p);
          g_assert_cmpfloat_with_epsilon (got[(t * H + h) * hd + 2 * p], a * c - b * s, 1e-6);
          g_assert_cmpfloat_with_epsilon (got[(t * H + h) * hd + 2 * p + 1], a * s + b * c, 1e-6);
        }
  /* patchify then unpatchify (with out_dim = in channels and the (dy, dx, c) order) round-trips */
  const int C = 3, F = 2, Hh = 4, W = 6;
  float *lat = rnd ((size_t) C * F * Hh * W, 13), *p = g_new (float, C * F * Hh * W), *back = g_new (float, C * F * Hh * W);
  be->ops->patchify (be, p, lat, C, F, Hh, W, 2, 2);
  /* element (c, dy, dx) of token (f, y, x) */
  g_assert_cmpfloat (p[((1 * 2 + 1) * 3 + 2) * (C * 4) + (2 * 2 + 1) * 2 + 0], ==, lat[((2 * F + 1) * Hh + 3) * W + 4]);
  /* reorder (c, dy, dx) -> (dy, dx, c) per token, then unpatchify */
  float *q = g_new (float, C * F * Hh * W);
  int n_tok = F * (Hh / 2) * (W / 2);
  for (int t = 0; t < n_tok; t++)
    for (int c = 0; c < C; c++)
      for (int s = 0; s < 4; s++)
        q[t * C * 4 + s * C + c] = p[t * C * 4 + c * 4 + s];
  be->ops->unpatchify (be, back, q, C, F, Hh, W, 2, 2);
  g_assert_cmpmem (back, sizeof (float) * C * F * Hh * W, lat, sizeof (float) * C * F * Hh * W);
  g_free (x); g_free (cs); g_free (got); g_free (lat); g_free (p); g_free (back); g_free (q);
}

static void
sum_range (void *ctx, int64_t b, int64_t e, int tid)
{
  (void) tid;
  gint64 *acc = ctx;
  gint64 s = 0;
  for (int64_t i = b; i < e; i++)
    s += i;
  g_atomic_pointer_add (acc, s);
}

static void
test_pool (void)
{
  gint64 acc = 0;
  ke_parallel_for (100001, 1, sum_range, &acc);
  g_assert_cmpint (acc, ==, (gint64) 100000 * 100001 / 2);
  ke_set_threads (3);
  g_assert_cmpint (ke_get_threads (), ==, 3);
  acc = 0;
  ke_parallel_for (7, 1, sum_range, &acc);
  g_assert_cmpint (acc, ==, 21);
  ke_set_threads (0);
}

static int
fail_every_allocation (size_t n, void *user)
{
  (void) n;
  (void) user;
  return 1;
}

/* An allocation failure inside an op records KE_STATUS_NOMEM naming what and how many bytes (no abort),
 * ke_be_status returns it once and clears it, and the op then gives the same result as before. Through
 * the profile wrapper the failure shows on the wrapper (the record the models read). */
static void
test_failure (void)
{
  const int H = 2, hd = 32, Lq = 40, Lk = 200;
  struct ke_backend *be = ke_backend_cpu ();
  float *q = rnd ((size_t) Lq * H * hd, 21), *k = rnd ((size_t) Lk * H * hd, 22), *v = rnd ((size_t) Lk * H * hd, 23);
  float *ref = g_new (float, Lq * H * hd), *got = g_new (float, Lq * H * hd);
  struct ke_error err = { 0 };
  be->ops->attention (be, ref, q, k, v, Lq, Lk, H, hd, 0.2f, NULL);
  g_assert_cmpint (ke_be_status (be, &err), ==, KE_STATUS_OK);

  ke_set_alloc_hook (fail_every_allocation, NULL);
  be->ops->attention (be, got, q, k, v, Lq, Lk, H, hd, 0.2f, NULL);
  ke_set_alloc_hook (NULL, NULL);
  g_assert_true (ke_be_failed (be));
  g_assert_cmpint (ke_be_status (be, &err), ==, KE_STATUS_NOMEM);
  g_test_message ("%s", err.msg);
  g_assert_nonnull (strstr (err.msg, "out of memory for attention"));
  g_assert_nonnull (strstr (err.msg, "bytes)"));
  g_assert_false (ke_be_failed (be));
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_be_status (be, &err), ==, KE_STATUS_OK);   /* read once */

  be->ops->attention (be, got, q, k, v, Lq, Lk, H, hd, 0.2f, NULL);
  g_assert_cmpint (ke_be_status (be, &err), ==, KE_STATUS_OK);
  g_assert_cmpmem (got, sizeof (float) * Lq * H * hd, ref, sizeof (float) * Lq * H * hd);

  struct ke_backend *pw = ke_backend_profile_wrap (be);
  ke_set_alloc_hook (fail_every_allocation, NULL);
  pw->ops->attention (pw, got, q, k, v, Lq, Lk, H, hd, 0.2f, NULL);
  ke_set_alloc_hook (NULL, NULL);
  g_assert_true (ke_be_failed (pw));
  g_assert_false (ke_be_failed (be));
  g_assert_cmpint (ke_be_status (pw, &err), ==, KE_STATUS_NOMEM);
  g_assert_nonnull (strstr (err.msg, "out of memory for attention"));
  g_assert_false (ke_be_failed (pw));
  ke_backend_profile_free (pw);
  g_free (q); g_free (k); g_free (v); g_free (ref); g_free (got);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cpu/linear", test_linear);
  g_test_add_func ("/cpu/norms", test_norms);
  g_test_add_func ("/cpu/attention", test_attention);
  g_test_add_func ("/cpu/rope-layout", test_rope_and_layout);
  g_test_add_func ("/cpu/pool", test_pool);
  g_test_add_func ("/cpu/failure", test_failure);
  return g_test_run ();
}
