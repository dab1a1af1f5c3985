/* The LTX-Video VAE decode in spatial tiles (engine/models/ltx/ltx-vae-tiles.c) against the decode in one
 * piece, with the weights of the tests/ltx fixtures vae_a (zero padding, non-causal) and vae_b (replicate
 * padding, causal) on random latents of 12 x 12 latent pixels (two latent frames: 9 frames of 384 x 384).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "models/ltx/ltx-vae.h"
#include "test-util.h"

#define LT 2    /* latent frames */
#define LH 12   /* latent rows and columns */
#define LW 12

struct clip
{
  struct ke_ltx_vae *v;
  float *latent, *noise;
  size_t n_video;
};

static gboolean
clip_open (struct clip *c, const char *name)
{
  g_autofree char *wf = g_strdup_printf ("%s.weights.safetensors", name);
  g_autofree char *w = g_build_filename (LTX_FIXTURES, wf, NULL);
  if (!test_require_fixture (w))
    return FALSE;
  struct ke_error err = { 0 };
  memset (c, 0, sizeof *c);
  g_assert_cmpint (ke_ltx_vae_open (&c->v, w, ke_backend_cpu (), &err), ==, KE_STATUS_OK);
  const size_t n = (size_t) c->v->cfg.latent_channels * LT * LH * LW;
  c->latent = g_new (float, n);
  c->noise = g_new (float, n);
  /* about the spread of a denoised latent: uniform in [-1.7, 1.7] (standard deviation 1) */
  test_fill_random (c->latent, n, 7);
  test_fill_random (c->noise, n, 8);
  for (size_t i = 0; i < n; i++)
    c->latent[i] *= 1.7f;
  c->n_video = (size_t) c->v->cfg.out_channels * (1 + c->v->t_scale * (LT - 1)) * LH * c->v->s_scale * LW *
               c->v->s_scale;
  return TRUE;
}

static void
clip_close (struct clip *c)
{
  ke_ltx_vae_free (c->v);
  g_free (c->latent);
  g_free (c->noise);
}

/* The decode in one piece with the pipeline's decode noise (scale 0.025, timestep 0.05). */
static float *
decode_whole (struct clip *c)
{
  struct ke_error err = { 0 };
  float *ref = g_new (float, c->n_video);
  g_assert_cmpint (ke_ltx_vae_decode (c->v, ref, c->latent, c->noise, LT, LH, LW, 0.05f, 0.025f, NULL, &err), ==,
                   KE_STATUS_OK);
  return ref;
}

/* (a) One tile covering the latent (exactly, or larger than it) is the decode in one piece, bit for bit. */
static void
check_one_tile (gconstpointer data)
{
  struct clip c;
  if (!clip_open (&c, data))
    return;
  g_autofree float *ref = decode_whole (&c);
  g_autofree float *got = g_new (float, c.n_video);
  struct ke_error err = { 0 };
  static const int sizes[][2] = { { LH, LW }, { LH + 5, LW + 20 } };
  for (size_t k = 0; k < G_N_ELEMENTS (sizes); k++)
    {
      memset (got, 0xff, c.n_video * sizeof (float));
      g_assert_cmpint (ke_ltx_vae_decode_tiled (c.v, got, c.latent, c.noise, LT, LH, LW, 0.05f, 0.025f, sizes[k][0],
                                                sizes[k][1], 4, &err), ==, KE_STATUS_OK);
      g_assert_cmpmem (got, c.n_video * sizeof (float), ref, c.n_video * sizeof (float));
    }
  clip_close (&c);
}

/* The decode in one piece of the latent's [th, tw] window at (y0, x0) (as a tile's decode). */
static float *
decode_window (struct clip *c, int y0, int x0, int th, int tw)
{
  const size_t n_lat = (size_t) c->v->cfg.latent_channels * LT * th * tw;
  const int s = c->v->s_scale, F = 1 + c->v->t_scale * (LT - 1);
  g_autofree float *lt = g_new (float, n_lat);
  g_autofree float *nt = g_new (float, n_lat);
  float *tile = g_new (float, (size_t) c->v->cfg.out_channels * F * th * s * tw * s);
  for (int ct = 0; ct < c->v->cfg.latent_channels * LT; ct++)
    for (int y = 0; y < th; y++)
      {
        memcpy (lt + ((size_t) ct * th + y) * tw, c->latent + ((size_t) ct * LH + y0 + y) * LW + x0,
                tw * sizeof (float));
        memcpy (nt + ((size_t) ct * th + y) * tw, c->noise + ((size_t) ct * LH + y0 + y) * LW + x0,
                tw * sizeof (float));
      }
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_ltx_vae_decode (c->v, tile, lt, nt, LT, th, tw, 0.05f, 0.025f, NULL, &err), ==, KE_STATUS_OK);
  return tile;
}

/* Tiled decode with the pipeline's decode noise; returns max|diff| and rel L2 against ref. */
static float *
decode_tiles (struct clip *c, const float *ref, int th, int tw, int o, double *max_abs, double *rel_l2)
{
  struct ke_error err = { 0 };
  float *got = g_new (float, c->n_video);
  g_assert_cmpint (ke_ltx_vae_decode_tiled (c->v, got, c->latent, c->noise, LT, LH, LW, 0.05f, 0.025f, th, tw, o,
                                            &err), ==, KE_STATUS_OK);
  double md = 0, mr = 0, se = 0, sr = 0;
  for (size_t i = 0; i < c->n_video; i++)
    {
      g_assert_true (isfinite (got[i]));
      const double d = fabs ((double) got[i] - ref[i]);
      md = d > md ? d : md;
      mr = fabs (ref[i]) > mr ? fabs (ref[i]) : mr;
      se += d * d;
      sr += (double) ref[i] * ref[i];
    }
  *max_abs = md;
  *rel_l2 = sqrt (se / sr);
  g_test_message ("tiles %dx%d overlap %d: max|diff| %.4g (max|ref| %.3g), rel L2 %.3e", th, tw, o, md, mr, *rel_l2);
  return got;
}

/* (b) 2 x 2 tiles of 8 x 8 sharing 4 latent pixels against the decode in one piece. The blend is not
 * exact: a tile sees padding where the latent has neighbours, and these random-weight decoders spread a
 * latent pixel's influence far: a change of 1 in one latent column moves outputs by 0.15 to 0.35 four
 * columns away (vae_a / vae_b), so at the latent's 12 columns every output pixel is within reach
 * of some tile edge. Measured (CPU f32): vae_a max|diff| 1.38 (max|ref| 2.84), rel L2 0.158; vae_b
 * max|diff| 2.15 (max|ref| 3.44), rel L2 0.220. Bounds: 1.5 times the worst of the two (max|diff| 3.2,
 * rel L2 0.33); a wrong offset, weight or scale gives rel L2 near 1 or more. What is exact is checked
 * exactly: pixels of the first tile alone equal that tile's own decode bit for bit; a larger overlap
 * (10 x 10 tiles sharing 8) is closer to the whole decode (measured rel L2 0.075 and 0.107). */
static void
check_tiles (gconstpointer data)
{
  struct clip c;
  if (!clip_open (&c, data))
    return;
  g_autofree float *ref = decode_whole (&c);
  double md, rel, md8, rel8;
  g_autofree float *got = decode_tiles (&c, ref, 8, 8, 4, &md, &rel);
  g_assert_cmpfloat (md, <=, 3.2);
  g_assert_cmpfloat (rel, <=, 0.33);
  g_free (decode_tiles (&c, ref, 10, 10, 8, &md8, &rel8));
  g_assert_cmpfloat (rel8, <, rel);

  /* rows and columns of the first tile before its neighbours' starts (4 latent pixels) */
  const int s = c.v->s_scale, H = LH * s, W = LW * s, F = 1 + c.v->t_scale * (LT - 1);
  int st[LW];
  g_assert_cmpint (ke_ltx_tile_starts (st, LW, 8, 4), ==, 2);
  g_assert_cmpint (st[1], ==, 4);
  g_autofree float *tile = decode_window (&c, 0, 0, 8, 8);
  for (int cf = 0; cf < c.v->cfg.out_channels * F; cf++)
    for (int y = 0; y < 4 * s; y++)
      g_assert_cmpmem (got + ((size_t) cf * H + y) * W, 4 * s * sizeof (float),
                       tile + ((size_t) cf * 8 * s + y) * 8 * s, 4 * s * sizeof (float));
  clip_close (&c);
}

/* The blend itself: two tiles side by side (columns 0..7 and 4..11, all rows) give tile A left of their
 * overlap, tile B right of it, and across it (pixels 128..255) the linear ramp
 * ((256 - x - 0.5) A + (x - 128 + 0.5) B) / 128 to float rounding (1e-6 relative, a few ulps). */
static void
check_blend (gconstpointer data)
{
  struct clip c;
  if (!clip_open (&c, data))
    return;
  g_autofree float *ref = decode_whole (&c);
  double md, rel;
  g_autofree float *got = decode_tiles (&c, ref, LH, 8, 4, &md, &rel);
  g_autofree float *a = decode_window (&c, 0, 0, LH, 8);
  g_autofree float *b = decode_window (&c, 0, 4, LH, 8);
  const int s = c.v->s_scale, H = LH * s, W = LW * s, Wt = 8 * s, F = 1 + c.v->t_scale * (LT - 1);
  const int o0 = 4 * s, o1 = 8 * s;
  double worst = 0;
  for (int cf = 0; cf < c.v->cfg.out_channels * F; cf++)
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++)
        {
          const float g = got[((size_t) cf * H + y) * W + x];
          const float va = x < o1 ? a[((size_t) cf * H + y) * Wt + x] : 0.0f;
          const float vb = x >= o0 ? b[((size_t) cf * H + y) * Wt + x - o0] : 0.0f;
          if (x < o0)
            g_assert_cmpfloat (g, ==, va);
          else if (x >= o1)
            g_assert_cmpfloat (g, ==, vb);
          else
            {
              const double wa = (o1 - x - 0.5) / (o1 - o0), wb = (x - o0 + 0.5) / (o1 - o0);
              const double want = wa * va + wb * vb, d = fabs (g - want) / (1.0 + fabs (want));
              worst = d > worst ? d : worst;
            }
        }
  g_test_message ("%s: the overlap's blend within %.2e of the linear ramp", (const char *) data, worst);
  g_assert_cmpfloat (worst, <=, 1e-6);
  clip_close (&c);
}

/* Tiles that cannot tile the latent are refused with the sizes named. */
static void
test_refuse (void)
{
  struct clip c;
  if (!clip_open (&c, "vae_a"))
    return;
  g_autofree float *got = g_new (float, c.n_video);
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_ltx_vae_decode_tiled (c.v, got, c.latent, NULL, LT, LH, LW, 0.05f, 0.0f, 4, 4, 4, &err), ==,
                   KE_STATUS_INVALID);
  g_test_message ("refused: %s", err.msg);
  g_assert_nonnull (strstr (err.msg, "4 x 4 with an overlap of 4"));
  clip_close (&c);
}

/* Tile starts: the tiles cover the side, stay inside it and share at least the overlap with their
 * neighbour, with the fewest tiles of that stride. */
static void
test_starts (void)
{
  int st[64];
  g_assert_cmpint (ke_ltx_tile_starts (st, 28, 28, 4), ==, 1);
  g_assert_cmpint (ke_ltx_tile_starts (st, 28, 40, 4), ==, 1);
  g_assert_cmpint (st[0], ==, 0);
  for (int n = 5; n <= 64; n++)
    for (int t = 4; t < n; t++)
      for (int o = 0; o < t && o <= 8; o++)
        {
          const int k = ke_ltx_tile_starts (st, n, t, o);
          g_assert_cmpint (k, ==, ke_ltx_tile_starts (NULL, n, t, o));
          g_assert_cmpint (k, ==, (n - o + (t - o) - 1) / (t - o));   /* ceil((n - o) / (t - o)) */
          g_assert_cmpint (st[0], ==, 0);
          g_assert_cmpint (st[k - 1] + t, ==, n);
          for (int i = 1; i < k; i++)
            {
              g_assert_cmpint (st[i], >, st[i - 1]);
              g_assert_cmpint (st[i - 1] + t - st[i], >=, o);
            }
        }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  static const char *const cases[] = { "vae_a", "vae_b" };
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *a = g_strdup_printf ("/ltx-vae-tiles/one-tile/%s", cases[i]);
      g_autofree char *b = g_strdup_printf ("/ltx-vae-tiles/tiles/%s", cases[i]);
      g_autofree char *d = g_strdup_printf ("/ltx-vae-tiles/blend/%s", cases[i]);
      g_test_add_data_func (a, cases[i], check_one_tile);
      g_test_add_data_func (b, cases[i], check_tiles);
      g_test_add_data_func (d, cases[i], check_blend);
    }
  g_test_add_func ("/ltx-vae-tiles/refuse", test_refuse);
  g_test_add_func ("/ltx-vae-tiles/starts", test_starts);
  return g_test_run ();
}
