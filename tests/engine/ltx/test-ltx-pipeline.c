/* The LTX-Video distilled multi-scale pipeline (engine/pipeline/ltx-*.c) against the official
 * LTXMultiScalePipeline as inference.py runs the 0.9.8 distilled config (tests/ltx/gen_pipeline.py
 * fixtures pipeline_t2v / pipeline_i2v), through ke_eval("ltx-pipeline") — the code path of
 * `kinora-cli eval ltx-pipeline` and of ke_generate — on the exact CPU path; plus the model-free pieces
 * (sizes, scheduler step, AdaIN, tone mapping, tokens) against values worked out from the official code.
 *
 * Tolerances (tests/ltx/README.md "Pipeline"): the float64 run of the reference differs from its float32
 * files by at most 7.9e-6 (upsampled.adain, values to 9.3) on any F32 output, so atol = rtol = 1e-4 (we
 * measure at most 2.1e-5, upsampled.adain of i2v; 1e-5 on the transformer outputs); 5e-4 on the F16
 * `decoded` and `video` (storage rounding 2.44e-4, measured 2.45e-4); exact on the draws the engine makes
 * from the seed (both generators), the coordinates, timesteps, masks, the cropped image and the uint8
 * encoder input; 1e-6 on the blurred image (measured 1.8e-7). The engine's own x264 round trip (GStreamer)
 * is checked loosely against libx264's `image.compressed` (PyAV; the compression moves this image by 7.0
 * levels on average, 34 at most): it must be closer to it than the uncompressed input is (measured 5.6
 * against 7.0 levels on average), change the input by more than 2 levels (8.3 measured) and stay within 41
 * levels everywhere (24 measured; the encoders' colour conversions and settings differ); the pipeline
 * itself runs from the stored one. */
#include <math.h>
#include <string.h>

#include "ke-debug.h"
#include "pipeline/io-impl.h"
#include "pipeline/ltx-impl.h"
#include "test-util.h"

static char *
fixture (const char *name)
{
  return g_build_filename (LTX_FIXTURES, name, NULL);
}

static gboolean
is_exact (const char *name)
{
  static const char *const exact[] = { "noise", "cond_noise", "cond_encode_noise", "decode_noise", "pixel_coords",
                                       "timesteps", "timestep", "conditioning_mask", "indices_grid",
                                       "image.cropped", "image.encoder_u8", "image.media", NULL };
  const char *dot = strrchr (name, '.');
  for (int i = 0; exact[i]; i++)
    if (strcmp (name, exact[i]) == 0 || (dot && strcmp (dot + 1, exact[i]) == 0))
      return TRUE;
  return FALSE;
}

static void
run_case (const char *name, int min_outputs)
{
  g_autofree char *ion = g_strdup_printf ("pipeline_%s.io.safetensors", name);
  g_autofree char *in = fixture (ion);
  g_autofree char *dir = g_path_get_dirname (in);
  g_autofree char *outn = g_strdup_printf ("ltx-pipeline-%s.out.safetensors", name);
  g_autofree char *out = test_tmp_path (outn);
  if (!test_require_fixture (in))
    return;
  struct ke_eval_args a = { .in = in, .out = out, .weights_dir = dir };
  struct ke_error err = { 0 };
  enum ke_status st = ke_eval ("ltx-pipeline", &a, &err);
  if (st != KE_STATUS_OK)
    g_test_message ("%s", err.msg);
  g_assert_cmpint (st, ==, KE_STATUS_OK);

  struct ke_io *ref = NULL, *got = NULL;
  g_assert_cmpint (ke_io_read (&ref, in, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_io_read (&got, out, &err), ==, KE_STATUS_OK);
  const char *outputs = ke_io_meta (ref, "outputs");
  g_assert_nonnull (outputs);
  int n = 0, n_draws = 0;
  for (int i = 0; i < ref->n; i++)
    {
      const struct ke_io_tensor *r = &ref->t[i];
      g_autofree char *quoted = g_strdup_printf ("\"%s\"", r->name);
      const gboolean listed = strstr (outputs, quoted) != NULL;
      const struct ke_io_tensor *g = ke_io_get (got, r->name);
      if (!listed && !g)
        continue;                   /* an input */
      g_assert_nonnull (g);
      g_assert_cmpint (g->n_dims, ==, r->n_dims);
      for (int d = 0; d < r->n_dims; d++)
        g_assert_cmpint (g->shape[d], ==, r->shape[d]);
      float *rf = ke_io_get_f32 (ref, r->name, -1, &err);
      float *gf = ke_io_get_f32 (got, r->name, -1, &err);
      g_assert_nonnull (rf);
      g_assert_nonnull (gf);
      if (strcmp (r->name, "image.compressed") == 0)
        {
          /* the engine's x264 round trip against libx264's: closer to it than the uncompressed input is,
           * and a real change of the input (the compression moves this image by 7 levels on average) */
          const struct ke_io_tensor *u = ke_io_get (ref, "image.encoder_u8");
          g_assert_nonnull (u);
          float *uf = ke_io_get_f32 (ref, "image.encoder_u8", r->n, &err);
          g_assert_nonnull (uf);
          double sum = 0, mx = 0, in_ref = 0, in_got = 0;
          for (int64_t k = 0; k < r->n; k++)
            {
              const double d = fabs ((double) gf[k] - rf[k]);
              sum += d;
              mx = d > mx ? d : mx;
              in_ref += fabs (uf[k] / 255.0 - rf[k]);
              in_got += fabs (uf[k] / 255.0 - gf[k]);
            }
          g_test_message ("image.compressed: mean |diff| %.4f, max %.4f; the input's mean |diff| %.4f; the engine "
                          "moved the input by %.4f", sum / r->n, mx, in_ref / r->n, in_got / r->n);
          g_assert_cmpfloat (sum, <, in_ref);
          g_assert_cmpfloat (in_got / r->n, >, 2.0 / 255.0);
          g_assert_cmpfloat (mx, <=, 41.0 / 255.0);
          g_free (uf);
        }
      else if (is_exact (r->name))
        g_assert_true (test_allclose (r->name, gf, rf, r->n, 0, 0));
      else if (strcmp (r->name, "image.blurred") == 0)
        g_assert_true (test_allclose (r->name, gf, rf, r->n, 1e-6, 0));
      else if (strcmp (r->name, "decoded") == 0 || strcmp (r->name, "video") == 0)
        g_assert_true (test_allclose (r->name, gf, rf, r->n, 5e-4, 0));
      else
        g_assert_true (test_allclose (r->name, gf, rf, r->n, 1e-4, 1e-4));
      g_free (rf);
      g_free (gf);
      n++;
      n_draws += !listed;
    }
  g_assert_cmpint (n, >=, min_outputs);
  g_assert_cmpint (n_draws, >=, 3);   /* the random draws were compared too */
  ke_io_free (ref);
  ke_io_free (got);
}

static void
test_t2v (void)
{
  run_case ("t2v", 31);
}

static void
test_i2v (void)
{
  run_case ("i2v", 45);
}

/* infer()'s size rules and LTXMultiScalePipeline's pass sizes, worked out by hand. */
static void
test_sizes (void)
{
  struct ke_ltx_sizes s;
  struct ke_error err = { 0 };
  /* 1216 x 704, 121 frames: already padded; int(1216 * 0.6666666) = 810 -> 800, int(704 * f) = 469 -> 448 */
  g_assert_cmpint (ke_ltx_sizes (&s, 1216, 704, 121, 0.6666666, 32, 8, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (s.pad_w, ==, 1216);
  g_assert_cmpint (s.pad_h, ==, 704);
  g_assert_cmpint (s.pad_frames, ==, 121);
  g_assert_cmpint (s.w1, ==, 800);
  g_assert_cmpint (s.h1, ==, 448);
  g_assert_cmpint (s.w2, ==, 1600);
  g_assert_cmpint (s.h2, ==, 896);
  g_assert_cmpint (s.lat_t, ==, 16);
  /* 90 x 40, 7 frames: padded 96 x 64, 9 frames, padding (3, 3, 12, 12); first pass 32 x 32 */
  g_assert_cmpint (ke_ltx_sizes (&s, 90, 40, 7, 0.6666666, 32, 8, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (s.pad_w, ==, 96);
  g_assert_cmpint (s.pad_h, ==, 64);
  g_assert_cmpint (s.pad_frames, ==, 9);
  g_assert_cmpint (s.pad_left, ==, 3);
  g_assert_cmpint (s.pad_top, ==, 12);
  g_assert_cmpint (s.w1, ==, 32);
  g_assert_cmpint (s.h1, ==, 32);
  g_assert_cmpint (s.lat_t, ==, 2);
  /* one frame stays one frame: ((1 - 2) // 8 + 1) * 8 + 1 = 1 */
  g_assert_cmpint (ke_ltx_sizes (&s, 512, 512, 1, 0.6666666, 32, 8, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (s.pad_frames, ==, 1);
  g_assert_cmpint (s.lat_t, ==, 1);
  /* too small for the first pass: an error naming the size */
  g_assert_cmpint (ke_ltx_sizes (&s, 30, 30, 9, 0.6666666, 32, 8, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "30x30"));
}

/* RectifiedFlowScheduler.step with explicit timesteps: each token moves to the next lower entry. */
static void
test_step (void)
{
  const float ts[3] = { 1.0f, 0.9094f, 0.725f };
  float x[4] = { 1, 2, 3, 4 }, v[4] = { 1, 1, 1, 1 };
  /* t = 0.9094: dt = 0.9094 - 0.725 for every token */
  ke_ltx_step (x, v, 2, 2, 0.9094f, NULL, ts, 3);
  g_assert_cmpfloat (x[0], ==, 1.0f - (0.9094f - 0.725f));
  g_assert_cmpfloat (x[3], ==, 4.0f - (0.9094f - 0.725f));
  /* the last timestep goes to 0; a conditioned token (mask 1) stays */
  float y[4] = { 1, 2, 3, 4 };
  const float mask[2] = { 1.0f, 0.0f };
  ke_ltx_step (y, v, 2, 2, 0.725f, mask, ts, 3);
  g_assert_cmpfloat (y[0], ==, 1.0f);
  g_assert_cmpfloat (y[1], ==, 2.0f);
  g_assert_cmpfloat (y[2], ==, 3.0f - 0.725f);
  float tt[2];
  ke_ltx_token_timesteps (tt, 2, 0.725f, mask);
  g_assert_cmpfloat (tt[0], ==, 0.0f);
  g_assert_cmpfloat (tt[1], ==, 0.725f);
}

/* AdaIN: per channel, the input's mean and unbiased std become the reference's. */
static void
test_adain_tone_map (void)
{
  float x[4] = { 0, 2, 10, 14 };          /* channel 0: mean 1, std sqrt(2); channel 1: mean 12, std sqrt(8) */
  const float ref[4] = { 5, 7, 0, 0 };    /* channel 0: mean 6, std sqrt(2); channel 1: constant */
  ke_ltx_adain (x, 2, 2, ref, 2);
  g_assert_cmpfloat (fabsf (x[0] - 5.0f), <, 1e-6f);
  g_assert_cmpfloat (fabsf (x[1] - 7.0f), <, 1e-6f);
  g_assert_cmpfloat (x[2], ==, 0.0f);
  /* tone mapping 0.6: s = 0.45, x * (1 - 0.36 sigmoid(1.8 (|x| - 1))); at |x| = 1 the sigmoid is 1/2 */
  float t[3] = { 1.0f, -1.0f, 0.0f };
  ke_ltx_tone_map (t, 3, 0.6);
  g_assert_cmpfloat (fabsf (t[0] - 0.82f), <, 1e-6f);
  g_assert_cmpfloat (fabsf (t[1] + 0.82f), <, 1e-6f);
  g_assert_cmpfloat (t[2], ==, 0.0f);
  float u[1] = { 3.0f };
  ke_ltx_tone_map (u, 1, 0.0);
  g_assert_cmpfloat (u[0], ==, 3.0f);
}

/* Tokens are (f, h, w)-major with the channels innermost; coordinates with the causal fix. */
static void
test_tokens_coords (void)
{
  float lat[2 * 2 * 1 * 3], tok[12], back[12], grid[3 * 6];
  for (int i = 0; i < 12; i++)
    lat[i] = (float) i;
  ke_ltx_patchify (tok, lat, 2, 2, 1, 3);
  g_assert_cmpfloat (tok[0], ==, 0.0f);
  g_assert_cmpfloat (tok[1], ==, 6.0f);
  g_assert_cmpfloat (tok[2], ==, 1.0f);
  ke_ltx_unpatchify (back, tok, 2, 2, 1, 3);
  g_assert_cmpmem (back, sizeof back, lat, sizeof lat);
  ke_ltx_coords (grid, 2, 1, 3, 8, 32, true, 24.0);
  /* frame 0 -> max(0 + 1 - 8, 0) = 0, frame 1 -> 8 + 1 - 8 = 1, then / 24 as float32 */
  g_assert_cmpfloat (grid[0], ==, 0.0f);
  g_assert_cmpfloat (grid[3], ==, 1.0f * (float) (1.0 / 24.0));
  g_assert_cmpfloat (grid[6 + 2], ==, 0.0f);
  g_assert_cmpfloat (grid[12 + 2], ==, 64.0f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ltx-pipeline/t2v", test_t2v);
  g_test_add_func ("/ltx-pipeline/i2v", test_i2v);
  g_test_add_func ("/ltx-pipeline/sizes", test_sizes);
  g_test_add_func ("/ltx-pipeline/step", test_step);
  g_test_add_func ("/ltx-pipeline/adain-tone-map", test_adain_tone_map);
  g_test_add_func ("/ltx-pipeline/tokens-coords", test_tokens_coords);
  return g_test_run ();
}
