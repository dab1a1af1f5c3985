/* CPU conv3d (exact im2col+GEMM path and the bf16 path) and the VAE layout ops against naive loops. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/cpu/cpu-impl.h"
#include "test-util.h"

struct conv_case
{
  int cin, cout, kt, kh, kw, T, H, W, pt0, pt1, ph, pw, st, sh, sw;
};

static void
naive_conv (float *y, const float *x, const float *w, const float *b, const struct conv_case *c)
{
  const int To = (c->T + c->pt0 + c->pt1 - c->kt) / c->st + 1;
  const int Ho = (c->H + 2 * c->ph - c->kh) / c->sh + 1;
  const int Wo = (c->W + 2 * c->pw - c->kw) / c->sw + 1;
  for (int co = 0; co < c->cout; co++)
    for (int t = 0; t < To; t++)
      for (int i = 0; i < Ho; i++)
        for (int j = 0; j < Wo; j++)
          {
            double acc = b[co];
            for (int ci = 0; ci < c->cin; ci++)
              for (int a = 0; a < c->kt; a++)
                for (int p = 0; p < c->kh; p++)
                  for (int q = 0; q < c->kw; q++)
                    {
                      int ti = t * c->st + a - c->pt0, yi = i * c->sh + p - c->ph, xi = j * c->sw + q - c->pw;
                      if (ti < 0 || ti >= c->T || yi < 0 || yi >= c->H || xi < 0 || xi >= c->W)
                        continue;
                      acc += (double) w[(((co * c->cin + ci) * c->kt + a) * c->kh + p) * c->kw + q]
                             * x[((ci * c->T + ti) * c->H + yi) * c->W + xi];
                    }
            y[((co * To + t) * Ho + i) * Wo + j] = (float) acc;
          }
}

static void
run_case (struct ke_backend *be, const struct conv_case *c, enum ke_dtype wtype, double atol, double rtol)
{
  const int To = (c->T + c->pt0 + c->pt1 - c->kt) / c->st + 1;
  const int Ho = (c->H + 2 * c->ph - c->kh) / c->sh + 1;
  const int Wo = (c->W + 2 * c->pw - c->kw) / c->sw + 1;
  const size_t nw = (size_t) c->cout * c->cin * c->kt * c->kh * c->kw;
  const size_t nx = (size_t) c->cin * c->T * c->H * c->W, ny = (size_t) c->cout * To * Ho * Wo;
  float *w = g_new (float, nw), *b = g_new (float, c->cout), *x = g_new (float, nx);
  float *y = g_new (float, ny), *ref = g_new (float, ny);
  uint16_t *wh = g_new (uint16_t, nw);
  test_fill_random (w, nw, 1 + c->cin);
  test_fill_random (b, c->cout, 2);
  test_fill_random (x, nx, 3 + c->T);
  if (wtype == KE_DTYPE_BF16)
    for (size_t i = 0; i < nw; i++)
      {
        wh[i] = ke_f32_to_bf16 (w[i]);
        w[i] = ke_bf16_to_f32 (wh[i]); /* the reference uses the rounded weights */
      }
  naive_conv (ref, x, w, b, c);
  double m = 0;
  for (size_t i = 0; i < ny; i++)
    m = fmax (m, fabs (ref[i]));
  if (atol < 0) /* relative to the output's range */
    atol = -atol * m;
  else /* f32 sums: K products accumulated in f32 in an order the backend picks (oneDNN's differs by
        * CPU), against a double reference; the rounding errors add like a random walk of sqrt(K)
        * steps of 2^-24 of the output's magnitude, so that much is allowed on top of atol */
    atol += sqrt ((double) c->cin * c->kt * c->kh * c->kw) * 0x1p-24 * m;
  struct ke_tensor wt, bt;
  int64_t ws[5] = { c->cout, c->cin, c->kt, c->kh, c->kw }, bs[1] = { c->cout };
  ke_tensor_init (&wt, wtype, 5, ws, wtype == KE_DTYPE_BF16 ? (void *) wh : (void *) w);
  ke_tensor_init (&bt, KE_DTYPE_F32, 1, bs, b);
  struct ke_conv3d cv = { .w = &wt, .b = &bt, .c_out = c->cout, .c_in = c->cin, .kt = c->kt, .kh = c->kh,
                          .kw = c->kw };
  g_assert_cmpint (be->ops->conv3d_prepare (be, &cv), ==, 0);
  be->ops->conv3d (be, y, x, &cv, c->T, c->H, c->W, c->pt0, c->pt1, c->ph, c->pw, c->st, c->sh, c->sw);
  be->ops->conv3d_release (be, &cv);
  g_autofree char *what = g_strdup_printf ("conv %d->%d k%dx%dx%d s%d/%d/%d pad %d,%d,%d,%d on %dx%dx%d (%s)",
                                           c->cin, c->cout, c->kt, c->kh, c->kw, c->st, c->sh, c->sw, c->pt0,
                                           c->pt1, c->ph, c->pw, c->T, c->H, c->W, be->ops->name);
  g_assert_true (test_allclose (what, y, ref, ny, atol, rtol));
  g_free (w);
  g_free (b);
  g_free (x);
  g_free (y);
  g_free (ref);
  g_free (wh);
}

static const struct conv_case g_cases[] = {
  { 5, 7, 3, 3, 3, 4, 9, 11, 2, 0, 1, 1, 1, 1, 1 },    /* causal 3x3x3 (residual conv) */
  { 6, 4, 1, 3, 3, 3, 10, 8, 0, 0, 0, 0, 1, 2, 2 },    /* 3x3 stride 2 (down2d after its pad) */
  { 8, 8, 3, 1, 1, 5, 4, 6, 0, 0, 0, 0, 2, 1, 1 },     /* time conv stride 2 (down3d) */
  { 4, 8, 3, 1, 1, 4, 5, 5, 2, 0, 0, 0, 1, 1, 1 },     /* time conv C -> 2C (up3d) */
  { 9, 3, 1, 1, 1, 2, 7, 13, 0, 0, 0, 0, 1, 1, 1 },    /* 1x1x1 (shortcut, conv1/conv2) */
  { 3, 5, 3, 3, 3, 3, 6, 7, 1, 1, 1, 1, 1, 1, 1 },     /* symmetric padding in time */
  { 40, 24, 3, 3, 3, 3, 12, 20, 0, 0, 1, 1, 1, 1, 1 }, /* K = 1080: several im2col rows per block */
};

/* Exact path: f32 sums in a different order than the double reference: 1e-5 (STYLE.md tier 1) plus
 * the f32 summation bound of run_case. */
static void
test_exact (void)
{
  for (size_t i = 0; i < G_N_ELEMENTS (g_cases); i++)
    run_case (ke_backend_cpu (), &g_cases[i], KE_DTYPE_F32, 1e-5, 1e-5);
}

/* Both f32 algorithms, whichever is the default: im2col + sgemm and oneDNN's f32 convolution (when
 * built with oneDNN; otherwise this runs im2col again). Same 1e-5 bound. */
static void
test_exact_algos (void)
{
  const int algos[2] = { KE_CONV_IM2COL, KE_CONV_DNNL };
  for (int a = 0; a < 2; a++)
    {
      ke_cpu_conv3d_set_algo (algos[a]);
      for (size_t i = 0; i < G_N_ELEMENTS (g_cases); i++)
        run_case (ke_backend_cpu (), &g_cases[i], KE_DTYPE_F32, 1e-5, 1e-5);
    }
  ke_cpu_conv3d_set_algo (KE_CONV_AUTO);
}

/* Narrow stored weights take the exact path after conversion (the reference uses the same rounded
 * weights), so the bound stays 1e-5. */
static void
test_exact_bf16_weights (void)
{
  run_case (ke_backend_cpu (), &g_cases[0], KE_DTYPE_BF16, 1e-5, 1e-5);
}

/* Fast path: inputs and weights are rounded to bf16 (relative error <= 2^-9 each) and the products
 * summed in f32. Over K <= 1080 terms of random sign the rounding errors add up like a random walk, so
 * the error of an output is ~ 2^-9 * sqrt(K) * rms(term): bound it by 1% of the output's largest
 * magnitude (measured: 0.25%) plus 1e-2 relative. */
static void
test_fast (void)
{
  for (size_t i = 0; i < G_N_ELEMENTS (g_cases); i++)
    run_case (ke_backend_cpu_fast (), &g_cases[i], KE_DTYPE_F32, -1e-2, 1e-2);
  /* bf16 stored weights are reordered without an f32 copy */
  run_case (ke_backend_cpu_fast (), &g_cases[6], KE_DTYPE_BF16, -1e-2, 1e-2);
  ke_cpu_conv3d_set_algo (KE_CONV_DNNL);
  run_case (ke_backend_cpu (), &g_cases[6], KE_DTYPE_BF16, 1e-5, 1e-5);
  ke_cpu_conv3d_set_algo (KE_CONV_AUTO);
}

/* Layout ops: exact copies, checked element by element. */
static void
test_layout_ops (void)
{
  struct ke_backend *be = ke_backend_cpu ();
  const int C = 3, T = 2, H = 4, W = 6, p = 2;
  float x[3 * 2 * 4 * 6], y[3 * 2 * 4 * 6], back[3 * 2 * 4 * 6];
  test_fill_random (x, G_N_ELEMENTS (x), 5);
  be->ops->pixel_unshuffle (be, y, x, C, T, H, W, p, 0);
  for (int c = 0; c < C; c++)
    for (int t = 0; t < T; t++)
      for (int i = 0; i < H / p; i++)
        for (int j = 0; j < W / p; j++)
          for (int dx = 0; dx < p; dx++)
            for (int dy = 0; dy < p; dy++)
              g_assert_cmpfloat (y[(((c * 4 + dx * 2 + dy) * T + t) * (H / p) + i) * (W / p) + j], ==,
                                 x[((c * T + t) * H + 2 * i + dy) * W + 2 * j + dx]);
  be->ops->pixel_unshuffle (be, back, y, C, T, H, W, p, 1);
  g_assert_cmpmem (back, sizeof (back), x, sizeof (x));

  /* AvgDown(2 -> 4, ft 2, fs 2) with one zero frame in front of a 1-frame chunk: g = 2*8/4 = 4 */
  float a[2 * 1 * 4 * 6], ad[4 * 1 * 2 * 3];
  test_fill_random (a, G_N_ELEMENTS (a), 9);
  be->ops->avg_pool3d (be, ad, a, 2, 4, 1, 4, 6, 2, 2, 1);
  for (int o = 0; o < 4; o++)
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 3; j++)
        {
          double s = 0;
          for (int k = 0; k < 4; k++)
            {
              int q = o * 4 + k, ci = q / 8, ti = (q % 8) / 4, hi = (q / 2) % 2, wi = q % 2;
              if (ti == 1) /* ti 0 is the zero frame */
                s += a[(ci * 4 + 2 * i + hi) * 6 + 2 * j + wi];
            }
          g_assert_cmpfloat (fabs (ad[(o * 2 + i) * 3 + j] - s / 4), <, 1e-6);
        }

  /* DupUp(4 -> 2, ft 2, fs 2), first chunk: 1 frame in, 2 - 1 = 1 out, r = 2*8/4 = 4 */
  float d[4 * 1 * 2 * 3], du[2 * 1 * 4 * 6];
  test_fill_random (d, G_N_ELEMENTS (d), 13);
  be->ops->nearest_up3d (be, du, d, 4, 2, 1, 2, 3, 2, 2, 1);
  for (int o = 0; o < 2; o++)
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 6; j++)
        {
          int ci = (((o * 2 + 1) * 2 + i % 2) * 2 + j % 2) / 4; /* frame ti = 1 survives the drop */
          g_assert_cmpfloat (du[(o * 4 + i) * 6 + j], ==, d[(ci * 2 + i / 2) * 3 + j / 2]);
        }

  /* channel L2 norm: x / max(|x|, 1e-12) * sqrt(C) * gamma */
  float g[3] = { 1.0f, 0.5f, 2.0f }, n[3 * 8], xn[3 * 8];
  test_fill_random (xn, G_N_ELEMENTS (xn), 17);
  be->ops->channel_l2norm (be, n, xn, 3, 8, g);
  for (int i = 0; i < 8; i++)
    {
      double s = 0;
      for (int c = 0; c < 3; c++)
        s += (double) xn[c * 8 + i] * xn[c * 8 + i];
      for (int c = 0; c < 3; c++)
        g_assert_cmpfloat (fabs (n[c * 8 + i] - xn[c * 8 + i] / sqrt (s) * sqrt (3.0) * g[c]), <, 1e-5);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/conv3d/exact", test_exact);
  g_test_add_func ("/conv3d/exact-algos", test_exact_algos);
  g_test_add_func ("/conv3d/exact-bf16-weights", test_exact_bf16_weights);
  g_test_add_func ("/conv3d/fast", test_fast);
  g_test_add_func ("/conv3d/layout-ops", test_layout_ops);
  return g_test_run ();
}
