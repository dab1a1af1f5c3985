/* The Wan DiT run from a GGUF file (weights kept quantized, dequantized per tile inside the Linear op)
 * equals the same run from the fixture's *.dequant.safetensors (the same values as F32), on the exact
 * and on the fast (bf16 oneDNN) CPU backends; the error of each quantized type against the F32 source
 * weights is reported; a backend that cannot take quantized weights refuses them by name. */
#include <math.h>
#include <string.h>

#include "backends/backend.h"
#include "ke-debug.h"
#include "loaders/loaders.h"
#include "models/dit/wan.h"
#include "test-util.h"

static const char *const g_types[] = { "f16", "bf16", "q8_0", "q4_0", "q5_1", "q4_K", "q5_K", "q6_K", "q3_K" };

enum { F = 2, H = 4, W = 6, N_TOK = 5 };

/* One forward of the DiT in `ws` (config from cfg) on fixed random inputs; returns out[C, F, H, W]. */
static float *
run (const struct ke_tensor_set *ws, const char *cfg, struct ke_backend *be, size_t *n_out)
{
  struct ke_error err = { 0 };
  struct ke_dit *d = NULL;
  g_assert_cmpint (ke_dit_init (&d, ws, cfg, be, &err), ==, KE_STATUS_OK);
  const struct ke_dit_config *c = ke_dit_get_config (d);
  const size_t nx = (size_t) c->in_dim * F * H * W;
  float *x = g_malloc (nx * sizeof (float));
  float *ctx = g_malloc ((size_t) N_TOK * c->text_dim * sizeof (float));
  test_fill_random (x, nx, 11);
  test_fill_random (ctx, (size_t) N_TOK * c->text_dim, 12);
  float t = 637.0f;
  struct ke_dit_context *dc = NULL;
  g_assert_cmpint (ke_dit_context_new (d, ctx, N_TOK, &dc, &err), ==, KE_STATUS_OK);
  *n_out = (size_t) c->out_dim * F * H * W;
  float *out = g_malloc (*n_out * sizeof (float));
  g_assert_cmpint (ke_dit_forward (d, dc, x, c->in_dim, NULL, 0, F, H, W, &t, 1, out, NULL, NULL, &err), ==,
                   KE_STATUS_OK);
  g_assert_cmpstr (err.msg, ==, "");
  ke_dit_context_free (dc);
  ke_dit_free (d);
  g_free (x);
  g_free (ctx);
  return out;
}

static double
max_abs (const float *a, size_t n)
{
  double m = 0;
  for (size_t i = 0; i < n; i++)
    m = fmax (m, fabs (a[i]));
  return m;
}

static double
max_diff (const float *a, const float *b, size_t n)
{
  double m = 0;
  for (size_t i = 0; i < n; i++)
    m = fmax (m, fabs ((double) a[i] - b[i]));
  return m;
}

static struct ke_tensor_set *
open_fixture (const char *name)
{
  g_autofree char *p = test_fixture_path (name);
  if (!test_require_fixture (p))
    return NULL;
  struct ke_tensor_set *s = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_weights_open (&s, p, &err), ==, KE_STATUS_OK);
  return s;
}

/* Tolerances: on the exact backend both runs multiply the very same f32 weights (the GGUF's dequantized
 * per tile, the companion's read directly) with OpenBLAS, so the outputs agree to fp32 rounding: we
 * allow 1e-5 * max |out|, about 100 ulp of the largest output, for a different blocking of the GEMM's
 * N dimension. On the fast backend both round the same f32 values to bf16, but the tile-wise GEMM on a
 * plain weight layout and the whole GEMM on oneDNN's reordered layout sum in different orders of bf16
 * products with f32 accumulation: 1e-4 * max |out|. */
static void
check_model (const char *model, struct ke_backend *be, double tol)
{
  g_autofree char *srcn = g_strdup_printf ("gguf/wan-%s-tiny.weights.safetensors", model);
  struct ke_tensor_set *src = open_fixture (srcn);
  if (!src)
    return;
  const char *cfg = ke_tset_meta (src, "config");
  g_assert_nonnull (cfg);
  size_t n = 0, n2 = 0;
  float *ref = run (src, cfg, be, &n);   /* F32 source weights */
  const double amax = max_abs (ref, n);
  g_assert_cmpfloat (amax, >, 0);
  for (size_t i = 0; i < G_N_ELEMENTS (g_types); i++)
    {
      g_autofree char *gn = g_strdup_printf ("gguf/wan-%s-tiny-%s.gguf", model, g_types[i]);
      g_autofree char *dn = g_strdup_printf ("gguf/wan-%s-tiny-%s.dequant.safetensors", model, g_types[i]);
      struct ke_tensor_set *g = open_fixture (gn), *dq = open_fixture (dn);
      if (!g || !dq)
        return;
      float *og = run (g, cfg, be, &n2);
      float *od = run (dq, cfg, be, &n2);
      g_assert_cmpuint (n2, ==, n);
      const double dd = max_diff (og, od, n), dr = max_diff (og, ref, n);
      g_test_message ("%s %-4s on %s%s: |gguf - dequant| %.3g (%.2g of max |out| %.3g); |gguf - f32 source| %.3g (%.3g)",
                      model, g_types[i], be->ops->name, be->precision == KE_PRECISION_BF16 ? " fast" : "", dd,
                      dd / amax, amax, dr, dr / amax);
      if (dd > tol * amax)
        g_error ("%s: GGUF run differs from its dequantized safetensors by %g (> %g)", gn, dd, tol * amax);
      /* quality: the quantized model stays near the f32 one (q3_K, the coarsest here, ~3 %) */
      g_assert_cmpfloat (dr, <, 0.1 * amax);
      g_free (og);
      g_free (od);
      ke_tset_free (g);
      ke_tset_free (dq);
    }
  g_free (ref);
  ke_tset_free (src);
}

static void
test_exact (void)
{
  check_model ("t2v", ke_backend_cpu (), 1e-5);
  check_model ("ti2v", ke_backend_cpu (), 1e-5);
}

static void
test_fast (void)
{
  check_model ("t2v", ke_backend_cpu_fast (), 1e-4);
  check_model ("ti2v", ke_backend_cpu_fast (), 1e-4);
}

/* A backend without quantized Linear support (no ops.linear_takes, e.g. a plain device backend) refuses a
 * quantized weight with KE_STATUS_UNSUPPORTED naming the file, the tensor and the type. */
static void
test_refused (void)
{
  struct ke_tensor_set *g = open_fixture ("gguf/wan-t2v-tiny-q8_0.gguf");
  struct ke_tensor_set *src = open_fixture ("gguf/wan-t2v-tiny.weights.safetensors");
  if (!g || !src)
    return;
  struct ke_backend_ops ops = *ke_backend_cpu ()->ops;
  ops.name = "plain";
  ops.linear_takes = NULL;
  struct ke_backend be = { .ops = &ops, .precision = KE_PRECISION_FP32 };
  struct ke_dit *d = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_dit_init (&d, g, ke_tset_meta (src, "config"), &be, &err), ==, KE_STATUS_UNSUPPORTED);
  g_assert_null (d);
  g_assert_nonnull (strstr (err.msg, "wan-t2v-tiny-q8_0.gguf"));
  g_assert_nonnull (strstr (err.msg, "blocks.0.self_attn.q.weight"));
  g_assert_nonnull (strstr (err.msg, "Q8_0"));
  g_assert_nonnull (strstr (err.msg, "plain backend"));
  ke_tset_free (g);
  ke_tset_free (src);
}

/* The Linear op on quantized, f16 and scaled fp8 weights over several tiles (fast: two bf16 tiles of
 * 1280 and 1220 rows under the 16 MiB bound at K = 4096; exact: 256-row f32 blocks) and a bias, against sgemm on the dequantized f32 weights. Exact: the same
 * f32 products, 1e-5 relative; fast: bf16 inputs and weights with f32 accumulation over K = 4096 random
 * products, 1e-2 relative to max |y| (bf16 has 8 bits of mantissa: ~4e-3 per product, averaging out). */
static void
test_linear_tiles (void)
{
  const int64_t M = 7, N = 2500, K = 4096;
  const enum ke_dtype types[] = { KE_DTYPE_Q8_0, KE_DTYPE_Q4_K, KE_DTYPE_Q6_K, KE_DTYPE_F16, KE_DTYPE_F8_E4M3 };
  float *wf = g_malloc ((size_t) (N * K) * sizeof (float)), *x = g_malloc ((size_t) (M * K) * sizeof (float));
  float *bias = g_malloc ((size_t) N * sizeof (float));
  float *y = g_malloc ((size_t) (M * N) * sizeof (float)), *yr = g_malloc ((size_t) (M * N) * sizeof (float));
  test_fill_random (x, (size_t) (M * K), 3);
  test_fill_random (bias, (size_t) N, 4);
  for (size_t ti = 0; ti < G_N_ELEMENTS (types); ti++)
    {
      test_fill_random (wf, (size_t) (N * K), 5);
      guint8 *q = g_malloc (ke_dtype_row_bytes (types[ti], N * K));
      float scale = 1.0f;
      if (types[ti] == KE_DTYPE_F16)
        for (int64_t i = 0; i < N * K; i++)
          ((uint16_t *) q)[i] = ke_f32_to_f16 (wf[i]);
      else if (types[ti] == KE_DTYPE_F8_E4M3)
        {
          /* random codes without the NaN ones (0x7f, 0xff), a ComfyUI-style per-tensor scale */
          for (int64_t i = 0; i < N * K; i++)
            q[i] = (guint8) ((i * 2654435761u >> 13) % 255) == 0x7f ? 0x7e : (guint8) ((i * 2654435761u >> 13) % 255);
          scale = 0.01f;
        }
      else
        g_assert_cmpint (ke_quantize_row (types[ti], wf, q, N * K), ==, 0);
      ke_convert_to_f32 (wf, q, types[ti], scale, (size_t) (N * K));
      struct ke_tensor tq, tf, tb;
      ke_tensor_init (&tq, types[ti], 2, (int64_t[]) { N, K }, q);
      tq.scale = scale;
      ke_tensor_init (&tf, KE_DTYPE_F32, 2, (int64_t[]) { N, K }, wf);
      ke_tensor_init (&tb, KE_DTYPE_F32, 1, (int64_t[]) { N }, bias);
      struct ke_backend *bes[2] = { ke_backend_cpu (), ke_backend_cpu_fast () };
      for (int bi = 0; bi < 2; bi++)
        {
          struct ke_backend *be = bes[bi];
          struct ke_linear lq = { .w = &tq, .b = &tb, .n_in = K, .n_out = N };
          struct ke_linear lf = { .w = &tf, .b = &tb, .n_in = K, .n_out = N };
          g_assert_cmpint (be->ops->linear_prepare (be, &lq), ==, 0);
          g_assert_cmpint (ke_backend_cpu ()->ops->linear_prepare (ke_backend_cpu (), &lf), ==, 0);
          be->ops->linear (be, y, x, M, &lq);
          ke_backend_cpu ()->ops->linear (ke_backend_cpu (), yr, x, M, &lf);
          struct ke_error err = { 0 };
          g_assert_cmpint (ke_be_status (be, &err), ==, KE_STATUS_OK);
          const double amax = max_abs (yr, (size_t) (M * N)), d = max_diff (y, yr, (size_t) (M * N));
          g_test_message ("%s %s: max |y - ref| %.3g of max |y| %.3g", ke_dtype_name (types[ti]),
                          bi ? "fast" : "exact", d, amax);
          g_assert_cmpfloat (d, <=, (bi ? 1e-2 : 1e-5) * amax);
          be->ops->linear_release (be, &lq);
          ke_backend_cpu ()->ops->linear_release (ke_backend_cpu (), &lf);
        }
      g_free (q);
    }
  g_free (wf);
  g_free (x);
  g_free (bias);
  g_free (y);
  g_free (yr);
}

/* `kinora-cli eval dit --weights X.gguf --config C`: the same code path as the CLI, from a GGUF and from its
 * dequantized safetensors, on an IO file written here (the tiny GGUF models are not the dit_*_tiny
 * fixtures' shape): bit-identical outputs on the exact backend (the same f32 weights, see above). */
static void
test_eval_dit (void)
{
  g_autofree char *src = test_fixture_path ("gguf/wan-t2v-tiny.weights.safetensors");
  g_autofree char *gp = test_fixture_path ("gguf/wan-t2v-tiny-q5_K.gguf");
  g_autofree char *dp = test_fixture_path ("gguf/wan-t2v-tiny-q5_K.dequant.safetensors");
  if (!test_require_fixture (src) || !test_require_fixture (gp) || !test_require_fixture (dp))
    return;
  struct ke_tensor_set *s = open_fixture ("gguf/wan-t2v-tiny.weights.safetensors");
  g_autofree char *cfg = test_tmp_path ("tiny-gguf-config.json");
  g_assert_true (g_file_set_contents (cfg, ke_tset_meta (s, "config"), -1, NULL));
  ke_tset_free (s);
  float x[16 * F * H * W], t[1] = { 421.0f }, ctx[N_TOK * 16];
  test_fill_random (x, G_N_ELEMENTS (x), 21);
  test_fill_random (ctx, G_N_ELEMENTS (ctx), 22);
  struct ke_tensor tx, tt, tc;
  ke_tensor_init (&tx, KE_DTYPE_F32, 4, (int64_t[]) { 16, F, H, W }, x);
  ke_tensor_init (&tt, KE_DTYPE_F32, 1, (int64_t[]) { 1 }, t);
  ke_tensor_init (&tc, KE_DTYPE_F32, 2, (int64_t[]) { N_TOK, 16 }, ctx);
  tx.name = "x";
  tt.name = "t";
  tc.name = "context";
  const struct ke_tensor *list[3] = { &tx, &tt, &tc };
  const char *meta[2] = { "outputs", "[\"out\"]" };
  g_autofree char *io = test_tmp_path ("tiny-gguf.io.safetensors");
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_safetensors_write (io, list, 3, meta, 1, &err), ==, KE_STATUS_OK);
  struct ke_tensor_set *res[2] = { NULL, NULL };
  const char *weights[2] = { gp, dp };
  for (int i = 0; i < 2; i++)
    {
      g_autofree char *out = test_tmp_path (i ? "dq.out.safetensors" : "gguf.out.safetensors");
      struct ke_eval_args a = { .weights = weights[i], .config = cfg, .in = io, .out = out };
      g_assert_cmpint (ke_eval ("dit", &a, &err), ==, KE_STATUS_OK);
      g_assert_cmpstr (err.msg, ==, "");
      g_assert_cmpint (ke_safetensors_open (&res[i], out, &err), ==, KE_STATUS_OK);
    }
  const struct ke_tensor *o0 = ke_tset_get (res[0], "out"), *o1 = ke_tset_get (res[1], "out");
  g_assert_nonnull (o0);
  g_assert_nonnull (o1);
  g_assert_true (ke_tensor_shape_is (o0, 4, (int64_t[]) { 16, F, H, W }));
  g_assert_cmpint (memcmp (o0->data, o1->data, ke_tensor_nbytes (o0)), ==, 0);
  g_assert_cmpfloat (max_abs (o0->data, (size_t) ke_tensor_nelements (o0)), >, 0);
  ke_tset_free (res[0]);
  ke_tset_free (res[1]);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dit-gguf/exact", test_exact);
  g_test_add_func ("/dit-gguf/fast", test_fast);
  g_test_add_func ("/dit-gguf/refused", test_refused);
  g_test_add_func ("/dit-gguf/linear-tiles", test_linear_tiles);
  g_test_add_func ("/dit-gguf/eval-dit", test_eval_dit);
  return g_test_run ();
}
