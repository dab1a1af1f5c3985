/* Live previews (engine/pipeline/preview.c): the published Wan projections, and the false-colour preview of
 * latents without one (LTX-Video's 128 channels): three known spatial patterns carried by three orthogonal
 * channel directions of different strength must come out as R, G and B in that order, the same on every
 * call. */
#include <math.h>
#include <string.h>

#include "pipeline/preview-impl.h"
#include "test-util.h"

enum { Z = 128, F = 2, H = 8, W = 12 };

static double
corr (const double *a, const double *b, int n)
{
  double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
  for (int i = 0; i < n; i++)
    {
      ma += a[i] / n;
      mb += b[i] / n;
    }
  for (int i = 0; i < n; i++)
    {
      sab += (a[i] - ma) * (b[i] - mb);
      saa += (a[i] - ma) * (a[i] - ma);
      sbb += (b[i] - mb) * (b[i] - mb);
    }
  return sab / sqrt (saa * sbb);
}

static void
test_false_colour (void)
{
  const int n = F * H * W;
  static float latent[Z * F * H * W], noise[Z * F * H * W], dirs[3][Z];
  static double pat[3][F * H * W], got[3][F * H * W];
  static uint8_t rgb[F * H * W * 3], again[F * H * W * 3];
  const double strength[3] = { 3.0, 2.0, 1.0 };

  /* three orthonormal directions (Gram-Schmidt on random vectors) */
  for (int k = 0; k < 3; k++)
    {
      test_fill_random (dirs[k], Z, 100 + k);
      for (int j = 0; j < k; j++)
        {
          double d = 0;
          for (int c = 0; c < Z; c++)
            d += dirs[k][c] * dirs[j][c];
          for (int c = 0; c < Z; c++)
            dirs[k][c] -= (float) d * dirs[j][c];
        }
      double s = 0;
      for (int c = 0; c < Z; c++)
        s += dirs[k][c] * dirs[k][c];
      for (int c = 0; c < Z; c++)
        dirs[k][c] /= (float) sqrt (s);
    }
  /* left/right, top/bottom, a checkerboard; a channel offset and a little noise */
  test_fill_random (noise, (size_t) Z * n, 7);
  for (int f = 0; f < F; f++)
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++)
        {
          int i = (f * H + y) * W + x;
          pat[0][i] = x < W / 2 ? -1 : 1;
          pat[1][i] = y < H / 2 ? -1 : 1;
          pat[2][i] = ((x + y + f) % 2) ? -1 : 1;
        }
  for (int c = 0; c < Z; c++)
    for (int i = 0; i < n; i++)
      {
        double v = 0.3 * (c % 5) + 0.02 * noise[(size_t) c * n + i];
        for (int k = 0; k < 3; k++)
          v += strength[k] * pat[k][i] * dirs[k][c];
        latent[(size_t) c * n + i] = (float) v;
      }

  ke_latent_to_rgb (rgb, latent, Z, F, H, W);
  for (int k = 0; k < 3; k++)
    for (int i = 0; i < n; i++)
      got[k][i] = rgb[i * 3 + k];
  for (int k = 0; k < 3; k++)
    {
      double r = corr (got[k], pat[k], n);
      g_test_message ("channel %d against pattern %d: correlation %.4f", k, k, r);
      /* the sign of a direction is arbitrary up to the fixed rule: |r| */
      g_assert_cmpfloat (fabs (r), >, 0.98);
    }
  /* the image uses the range, not a flat grey: a two-valued pattern sits at +-1 standard deviation, a
   * quarter of the range either side of mid grey */
  int lo = 255, hi = 0;
  for (int i = 0; i < n * 3; i++)
    {
      lo = MIN (lo, rgb[i]);
      hi = MAX (hi, rgb[i]);
    }
  g_assert_cmpint (hi - lo, >, 120);
  /* the same estimate gives the same colours */
  ke_latent_to_rgb (again, latent, Z, F, H, W);
  g_assert_cmpmem (rgb, sizeof rgb, again, sizeof again);
}

/* A flat latent (every pixel alike) is mid grey, not NaN or noise */
static void
test_flat (void)
{
  static float latent[Z * 1 * 4 * 4];
  static uint8_t rgb[4 * 4 * 3];
  for (int i = 0; i < Z * 16; i++)
    latent[i] = (float) (i / 16) * 0.1f;
  ke_latent_to_rgb (rgb, latent, Z, 1, 4, 4);
  for (int i = 0; i < 16 * 3; i++)
    g_assert_cmpint (rgb[i], ==, 128);
}

/* Wan2.1's 16 channels keep the published projection: one channel at 1 gives (row + bias + 1) / 2 */
static void
test_wan21 (void)
{
  static float latent[16 * 1 * 1 * 1];
  uint8_t rgb[3];
  latent[0] = 1.0f;
  ke_latent_to_rgb (rgb, latent, 16, 1, 1, 1);
  /* row 0 (-0.1299, -0.1692, 0.2932), bias (-0.1835, -0.0868, -0.3360) */
  const double want[3] = { -0.1299 - 0.1835, -0.1692 - 0.0868, 0.2932 - 0.3360 };
  for (int j = 0; j < 3; j++)
    g_assert_cmpint (rgb[j], ==, (int) (((want[j] + 1) * 0.5) * 255.0 + 0.5));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/preview/false-colour-128", test_false_colour);
  g_test_add_func ("/preview/flat", test_flat);
  g_test_add_func ("/preview/wan21", test_wan21);
  return g_test_run ();
}
