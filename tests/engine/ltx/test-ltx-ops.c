/* The CPU backend's LTX-Video VAE and upsampler ops (engine/backends/cpu/cpu-ltx.c) against naive loops
 * written from their definitions in backend.h: pixel_norm_mod, group_norm, pad2d_edge, ltx_conv3d (and
 * ltx_resnet against its two ltx_conv3d calls, exactly). Tolerance: the float32 default atol = rtol =
 * 1e-5 (the ops sum in double; the loops here too, so the two differ only in the last rounding). In-place
 * calls (y == x) are checked too. */
#include <math.h>
#include <string.h>

#include "backends/backend.h"
#include "core/tensor.h"
#include "test-util.h"

static float
silu (float v)
{
  return v / (1.0f + expf (-v));
}

static void
ref_pixel_norm_mod (float *y, const float *x, int C, int64_t N, float eps, const float *shift, const float *scale,
                    int act)
{
  for (int64_t n = 0; n < N; n++)
    {
      double ss = 0;
      for (int c = 0; c < C; c++)
        ss += (double) x[c * N + n] * x[c * N + n];
      const double inv = 1.0 / sqrt (ss / C + eps);
      for (int c = 0; c < C; c++)
        {
          float v = (float) (x[c * N + n] * inv);
          if (scale)
            v = v * (1.0f + scale[c]) + shift[c];
          y[c * N + n] = act ? silu (v) : v;
        }
    }
}

static void
ref_group_norm (float *y, const float *x, int C, int64_t N, int G, float eps, const float *w, const float *b, int act)
{
  const int cg = C / G;
  for (int g = 0; g < G; g++)
    {
      double s = 0, v = 0;
      const int64_t n = cg * N;
      for (int64_t i = 0; i < n; i++)
        s += x[g * n + i];
      const double mean = s / n;
      for (int64_t i = 0; i < n; i++)
        v += (x[g * n + i] - mean) * (x[g * n + i] - mean);
      const double rstd = 1.0 / sqrt (v / n + eps);
      for (int64_t i = 0; i < n; i++)
        {
          const int c = g * cg + (int) (i / N);
          float t = (float) ((x[g * n + i] - mean) * rstd * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f));
          y[g * n + i] = act ? silu (t) : t;
        }
    }
}

static void
ref_pad_edge (float *y, const float *x, int64_t P, int H, int W, int p, int mode)
{
  const int Ho = H + 2 * p, Wo = W + 2 * p;
  for (int64_t q = 0; q < P; q++)
    for (int i = 0; i < Ho; i++)
      for (int j = 0; j < Wo; j++)
        {
          int si = i - p, sj = j - p;
          if (mode == 1)
            {
              si = si < 0 ? -si : si >= H ? 2 * (H - 1) - si : si;
              sj = sj < 0 ? -sj : sj >= W ? 2 * (W - 1) - sj : sj;
            }
          else
            {
              si = si < 0 ? 0 : si >= H ? H - 1 : si;
              sj = sj < 0 ? 0 : sj >= W ? W - 1 : sj;
            }
          y[(q * Ho + i) * Wo + j] = x[(q * H + si) * W + sj];
        }
}

static void
test_pixel_norm_mod (void)
{
  struct ke_backend *be = ke_backend_cpu ();
  const int C = 37;
  const int64_t N = 300;   /* more than one block of 256 positions */
  float *x = g_new (float, C * N), *y = g_new (float, C * N), *r = g_new (float, C * N);
  float *shift = g_new (float, C), *scale = g_new (float, C);
  test_fill_random (x, C * N, 1);
  test_fill_random (shift, C, 2);
  test_fill_random (scale, C, 3);
  for (int mod = 0; mod < 2; mod++)
    for (int act = 0; act < 2; act++)
      {
        ref_pixel_norm_mod (r, x, C, N, 1e-8f, mod ? shift : NULL, mod ? scale : NULL, act);
        be->ops->pixel_norm_mod (be, y, x, C, N, 1e-8f, mod ? shift : NULL, mod ? scale : NULL, act);
        g_assert_true (test_allclose ("pixel_norm_mod", y, r, C * N, 1e-5, 1e-5));
      }
  memcpy (y, x, sizeof (float) * C * N);
  be->ops->pixel_norm_mod (be, y, y, C, N, 1e-8f, shift, scale, 1);   /* in place */
  ref_pixel_norm_mod (r, x, C, N, 1e-8f, shift, scale, 1);
  g_assert_true (test_allclose ("pixel_norm_mod in place", y, r, C * N, 1e-5, 1e-5));
  g_free (x);
  g_free (y);
  g_free (r);
  g_free (shift);
  g_free (scale);
}

static void
test_group_norm (void)
{
  struct ke_backend *be = ke_backend_cpu ();
  const int C = 64, G = 32;
  const int64_t N = 45;
  float *x = g_new (float, C * N), *y = g_new (float, C * N), *r = g_new (float, C * N);
  float *w = g_new (float, C), *b = g_new (float, C);
  test_fill_random (x, C * N, 4);
  for (int64_t i = 0; i < C * N; i++)
    x[i] = 3.0f * x[i] + 1.5f;   /* an offset the mean must remove */
  test_fill_random (w, C, 5);
  test_fill_random (b, C, 6);
  for (int aff = 0; aff < 2; aff++)
    for (int act = 0; act < 2; act++)
      {
        ref_group_norm (r, x, C, N, G, 1e-5f, aff ? w : NULL, aff ? b : NULL, act);
        be->ops->group_norm (be, y, x, C, N, G, 1e-5f, aff ? w : NULL, aff ? b : NULL, act);
        g_assert_true (test_allclose ("group_norm", y, r, C * N, 1e-5, 1e-5));
      }
  memcpy (y, x, sizeof (float) * C * N);
  be->ops->group_norm (be, y, y, C, N, G, 1e-5f, w, b, 0);
  ref_group_norm (r, x, C, N, G, 1e-5f, w, b, 0);
  g_assert_true (test_allclose ("group_norm in place", y, r, C * N, 1e-5, 1e-5));
  g_free (x);
  g_free (y);
  g_free (r);
  g_free (w);
  g_free (b);
}

static void
test_pad_edge (void)
{
  struct ke_backend *be = ke_backend_cpu ();
  static const int sizes[][3] = { { 5, 7, 1 }, { 2, 3, 1 }, { 6, 4, 2 } };
  for (size_t k = 0; k < G_N_ELEMENTS (sizes); k++)
    for (int mode = 1; mode <= 2; mode++)
      {
        const int H = sizes[k][0], W = sizes[k][1], p = sizes[k][2];
        const int64_t P = 3, no = P * (H + 2 * p) * (W + 2 * p);
        float *x = g_new (float, P * H * W), *y = g_new (float, no), *r = g_new (float, no);
        test_fill_random (x, P * H * W, 7 + (guint32) k);
        be->ops->pad2d_edge (be, y, x, P, H, W, p, mode);
        ref_pad_edge (r, x, P, H, W, p, mode);
        g_assert_true (test_allclose (mode == 1 ? "pad reflect" : "pad replicate", y, r, no, 0, 0));
        g_free (x);
        g_free (y);
        g_free (r);
      }
}

/* ltx_conv3d against a direct loop: pixel norm + modulation + SiLU (or none), the time padding repeating
 * the edge frames (front / back), zero spatial padding, a 3x3x3 convolution summed in double, the bias,
 * the add into y. Causal (2, 0) and non-causal (1, 1) padding, with and without the norm and the add.
 * Tolerance 1e-5 (the op's convolution sums in float). */
static void
test_conv3d (void)
{
  struct ke_backend *be = ke_backend_cpu ();
  const int Ci = 5, Co = 7, T = 4, H = 6, W = 9;
  const int64_t hw = H * W, nx = Ci * T * hw, ny = Co * T * hw;
  float *x = g_new (float, nx), *xn = g_new (float, nx), *w = g_new (float, Co * Ci * 27), *b = g_new (float, Co);
  float *shift = g_new (float, Ci), *scale = g_new (float, Ci), *y0 = g_new (float, ny);
  float *y = g_new (float, ny), *r = g_new (float, ny);
  test_fill_random (x, nx, 11);
  test_fill_random (w, Co * Ci * 27, 12);
  test_fill_random (b, Co, 13);
  test_fill_random (shift, Ci, 14);
  test_fill_random (scale, Ci, 15);
  test_fill_random (y0, ny, 16);
  struct ke_tensor wt, bt;
  const int64_t ws[5] = { Co, Ci, 3, 3, 3 }, bs[1] = { Co };
  ke_tensor_init (&wt, KE_DTYPE_F32, 5, ws, w);
  ke_tensor_init (&bt, KE_DTYPE_F32, 1, bs, b);
  struct ke_conv3d c = { .w = &wt, .b = &bt, .c_out = Co, .c_in = Ci, .kt = 3, .kh = 3, .kw = 3 };
  g_assert_cmpint (be->ops->conv3d_prepare (be, &c), ==, 0);
  for (int causal = 0; causal < 2; causal++)
    for (int norm = 0; norm < 3; norm++)   /* none, norm, norm + modulation */
      for (int acc = 0; acc < 2; acc++)
        {
          const int front = causal ? 2 : 1, back = causal ? 0 : 1;
          if (norm)
            ref_pixel_norm_mod (xn, x, Ci, T * hw, 1e-8f, norm == 2 ? shift : NULL, norm == 2 ? scale : NULL, 1);
          else
            memcpy (xn, x, sizeof (float) * nx);
          for (int o = 0; o < Co; o++)
            for (int t = 0; t < T; t++)
              for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++)
                  {
                    double s = b[o];
                    for (int ci = 0; ci < Ci; ci++)
                      for (int dt = 0; dt < 3; dt++)
                        for (int di = 0; di < 3; di++)
                          for (int dj = 0; dj < 3; dj++)
                            {
                              int ts = t + dt - front;   /* the padded input's frame t + dt */
                              ts = ts < 0 ? 0 : ts >= T ? T - 1 : ts;
                              const int ii = i + di - 1, jj = j + dj - 1;
                              if (ii < 0 || ii >= H || jj < 0 || jj >= W)
                                continue;
                              s += (double) w[((o * Ci + ci) * 3 + dt) * 9 + di * 3 + dj]
                                   * xn[((int64_t) ci * T + ts) * hw + ii * W + jj];
                            }
                    const int64_t k = ((int64_t) o * T + t) * hw + i * W + j;
                    r[k] = (float) ((acc ? y0[k] : 0.0) + s);
                  }
          memcpy (y, y0, sizeof (float) * ny);
          float *xc = g_memdup2 (x, sizeof (float) * nx);
          be->ops->ltx_conv3d (be, y, acc, xc, &c, T, H, W, front, back, norm != 0, 1e-8f, norm == 2 ? shift : NULL,
                               norm == 2 ? scale : NULL);
          g_assert_cmpint (ke_be_status (be, NULL), ==, KE_STATUS_OK);
          g_assert_true (test_allclose ("ltx_conv3d", y, r, ny, 1e-5, 1e-5));
          g_assert_cmpmem (xc, sizeof (float) * nx, x, sizeof (float) * nx);   /* x is left as it was */
          g_free (xc);
        }
  be->ops->conv3d_release (be, &c);
  g_free (x);
  g_free (xn);
  g_free (w);
  g_free (b);
  g_free (shift);
  g_free (scale);
  g_free (y0);
  g_free (y);
  g_free (r);
}

/* ltx_resnet is its two ltx_conv3d calls (the ada rows in the order shift1, scale1, shift2, scale2): the
 * same floats, with and without the modulation. */
static void
test_resnet (void)
{
  struct ke_backend *be = ke_backend_cpu ();
  const int C = 6, T = 3, H = 5, W = 7;
  const int64_t n = (int64_t) C * T * H * W;
  float *x = g_new (float, n), *w1 = g_new (float, C * C * 27), *w2 = g_new (float, C * C * 27);
  float *b1 = g_new (float, C), *b2 = g_new (float, C), *ada = g_new (float, 4 * C);
  float *y = g_new (float, n), *r = g_new (float, n), *h = g_new (float, n);
  test_fill_random (x, n, 21);
  test_fill_random (w1, C * C * 27, 22);
  test_fill_random (w2, C * C * 27, 23);
  test_fill_random (b1, C, 24);
  test_fill_random (b2, C, 25);
  test_fill_random (ada, 4 * C, 26);
  struct ke_tensor tw1, tw2, tb1, tb2;
  const int64_t ws[5] = { C, C, 3, 3, 3 }, bs[1] = { C };
  ke_tensor_init (&tw1, KE_DTYPE_F32, 5, ws, w1);
  ke_tensor_init (&tw2, KE_DTYPE_F32, 5, ws, w2);
  ke_tensor_init (&tb1, KE_DTYPE_F32, 1, bs, b1);
  ke_tensor_init (&tb2, KE_DTYPE_F32, 1, bs, b2);
  struct ke_conv3d c1 = { .w = &tw1, .b = &tb1, .c_out = C, .c_in = C, .kt = 3, .kh = 3, .kw = 3 };
  struct ke_conv3d c2 = { .w = &tw2, .b = &tb2, .c_out = C, .c_in = C, .kt = 3, .kh = 3, .kw = 3 };
  g_assert_cmpint (be->ops->conv3d_prepare (be, &c1), ==, 0);
  g_assert_cmpint (be->ops->conv3d_prepare (be, &c2), ==, 0);
  for (int mod = 0; mod < 2; mod++)
    {
      const float *a = mod ? ada : NULL;
      memcpy (r, x, sizeof (float) * n);
      be->ops->ltx_conv3d (be, h, 0, r, &c1, T, H, W, 1, 1, 1, 1e-8f, a, a ? a + C : NULL);
      be->ops->ltx_conv3d (be, r, 1, h, &c2, T, H, W, 1, 1, 1, 1e-8f, a ? a + 2 * C : NULL, a ? a + 3 * C : NULL);
      memcpy (y, x, sizeof (float) * n);
      be->ops->ltx_resnet (be, y, &c1, &c2, T, H, W, 1, 1, 1e-8f, a);
      g_assert_cmpint (ke_be_status (be, NULL), ==, KE_STATUS_OK);
      g_assert_cmpmem (y, sizeof (float) * n, r, sizeof (float) * n);
      double moved = 0;   /* the block did add something */
      for (int64_t i = 0; i < n; i++)
        moved = fmax (moved, fabs ((double) y[i] - x[i]));
      g_assert_cmpfloat (moved, >, 1e-3);
    }
  be->ops->conv3d_release (be, &c1);
  be->ops->conv3d_release (be, &c2);
  g_free (x);
  g_free (w1);
  g_free (w2);
  g_free (b1);
  g_free (b2);
  g_free (ada);
  g_free (y);
  g_free (r);
  g_free (h);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ltx-ops/pixel-norm-mod", test_pixel_norm_mod);
  g_test_add_func ("/ltx-ops/group-norm", test_group_norm);
  g_test_add_func ("/ltx-ops/pad-edge", test_pad_edge);
  g_test_add_func ("/ltx-ops/conv3d", test_conv3d);
  g_test_add_func ("/ltx-ops/resnet", test_resnet);
  return g_test_run ();
}
