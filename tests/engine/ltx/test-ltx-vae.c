/* LTX-Video causal VAE and spatial latent upsampler: parity with the official code (tests/ltx fixtures
 * vae_a, vae_b, upsampler_a, upsampler_b) through ke_eval, the bf16 fast path within a stated bound,
 * and clear errors for files that do not fit (naming the file and the tensor or key). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "eval/eval-io.h"
#include "ke-debug.h"
#include "loaders/loaders.h"
#include "models/ltx/ltx-upsampler.h"
#include "models/ltx/ltx-vae.h"
#include "test-util.h"

static char *
fixture (const char *name)
{
  return g_build_filename (LTX_FIXTURES, name, NULL);
}

static const char *
module_of (const char *name)
{
  return g_str_has_prefix (name, "vae") ? "ltx-vae" : "ltx-upsampler";
}

/* Runs the case through ke_eval; returns the result set (NULL when the fixtures are missing). */
static struct ke_tensor_set *
run_case (const char *name, bool fast, struct ke_tensor_set **ref)
{
  g_autofree char *wf = g_strdup_printf ("%s.weights.safetensors", name);
  g_autofree char *iof = g_strdup_printf ("%s.io.safetensors", name);
  g_autofree char *w = fixture (wf);
  g_autofree char *io = fixture (iof);
  g_autofree char *outname = g_strdup_printf ("%s%s.out.safetensors", name, fast ? ".fast" : "");
  g_autofree char *out = test_tmp_path (outname);
  if (!test_require_fixture (w) || !test_require_fixture (io))
    return NULL;
  struct ke_eval_args a = { .weights = w, .in = io, .out = out, .fast = fast };
  struct ke_error err = { 0 };
  enum ke_status st = ke_eval (module_of (name), &a, &err);
  g_assert_cmpstr (err.msg, ==, "");
  g_assert_cmpint (st, ==, KE_STATUS_OK);
  struct ke_tensor_set *res = NULL;
  g_assert_cmpint (ke_safetensors_open (&res, out, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_safetensors_open (ref, io, &err), ==, KE_STATUS_OK);
  return res;
}

/* Every listed output (decoded, encoded, latents, every inter.*) within atol = rtol = 1e-4: the
 * official float32 run differs from its own float64 run by at most 3.8e-6 on these outputs (values up
 * to 6.5), and this port measured at most 6.8e-6 (decoded of vae_b); a wrong padding mode, channel order,
 * dropped frame or modulation row moves outputs by 1e-2 or more. */
static void
check_exact (gconstpointer data)
{
  const char *name = data;
  struct ke_tensor_set *ref = NULL, *res = run_case (name, false, &ref);
  if (!res)
    return;
  char **names = NULL;
  int n = 0;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_eval_outputs (ref, &names, &n, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (n, >=, 4);
  for (int i = 0; i < n; i++)
    g_assert_nonnull (ke_tset_get (res, names[i]));
  test_check_listed_outputs (name, res, ref, 1e-4, 1e-4);
  ke_eval_names_free (names, n);
  ke_tset_free (res);
  ke_tset_free (ref);
}

/* The fast path (bf16 convolutions and linears) against the float32 reference, on the final outputs:
 * max|diff| <= 5 % of max|ref| and NMSE <= 1e-3 (bf16 keeps 8 bits of mantissa, about 0.4 % per
 * rounding; measured at most 1.13 % and NMSE 3.6e-5). */
static void
check_fast (gconstpointer data)
{
  const char *name = data;
  struct ke_tensor_set *ref = NULL, *res = run_case (name, true, &ref);
  if (!res)
    return;
  static const char *const finals[] = { "decoded", "encoded", "latent_encoded", "upsampled", "upsampled_raw" };
  int seen = 0;
  for (size_t k = 0; k < G_N_ELEMENTS (finals); k++)
    {
      const struct ke_tensor *want = ke_tset_get (ref, finals[k]), *got = ke_tset_get (res, finals[k]);
      if (!want)
        continue;
      g_assert_nonnull (got);
      g_assert_cmpint (ke_tensor_nelements (got), ==, ke_tensor_nelements (want));
      const float *r = want->data, *g = got->data;
      double md = 0, mr = 0, se = 0, sr = 0;
      for (int64_t i = 0; i < ke_tensor_nelements (want); i++)
        {
          const double d = fabs ((double) g[i] - r[i]);
          md = d > md ? d : md;
          mr = fabs (r[i]) > mr ? fabs (r[i]) : mr;
          se += d * d;
          sr += (double) r[i] * r[i];
        }
      g_test_message ("%s fast %s: max|diff| %.3g (%.2f %% of max|ref| %.3g), NMSE %.2e", name, finals[k], md,
                      100 * md / mr, mr, se / sr);
      g_assert_cmpfloat (md, <=, 0.05 * mr);
      g_assert_cmpfloat (se / sr, <=, 1e-3);
      seen++;
    }
  g_assert_cmpint (seen, >=, 2);
  ke_tset_free (res);
  ke_tset_free (ref);
}

/* A copy of a weights file as a tensor set (data borrowed from `src`), leaving out `drop` and giving
 * `reshape` the shape of `like` (NULL: none), with the config metadata set to `config` (NULL: as is). */
static struct ke_tensor_set *
edited (const struct ke_tensor_set *src, const char *path, const char *drop, const char *reshape, const char *like,
        const char *config)
{
  struct ke_tensor_set *s = ke_tset_new (path);
  struct ke_error err = { 0 };
  for (int i = 0; i < ke_tset_count (src); i++)
    {
      const struct ke_tensor *t = ke_tset_at (src, i);
      if (drop && strcmp (t->name, drop) == 0)
        continue;
      const struct ke_tensor *shape_of = reshape && strcmp (t->name, reshape) == 0 ? ke_tset_get (src, like) : t;
      g_assert_nonnull (shape_of);
      int64_t shape[KE_MAX_DIMS];
      for (int d = 0; d < shape_of->n_dims; d++)
        shape[d] = shape_of->ne[shape_of->n_dims - 1 - d];
      /* the reshaped tensor borrows `like`'s data, which has the bytes of that shape */
      g_assert_nonnull (ke_tset_add (s, t->name, shape_of->type, shape_of->n_dims, shape, shape_of->data, &err));
    }
  g_assert_cmpint (ke_tset_set_meta (s, "config", config ? config : ke_tset_meta (src, "config")), ==, 0);
  return s;
}

static void
expect_init_error (struct ke_tensor_set *ws, enum ke_status code, const char *const *parts)
{
  struct ke_error err = { 0 };
  struct ke_ltx_vae *v = NULL;
  enum ke_status st = ke_ltx_vae_init (&v, ws, true, ke_backend_cpu (), &err);
  g_test_message ("refused: %s", err.msg);
  g_assert_cmpint (st, ==, code);
  g_assert_null (v);
  for (int i = 0; parts[i]; i++)
    g_assert_nonnull (strstr (err.msg, parts[i]));
}

/* Wrong or mismatched files are refused with an error naming the file and the tensor (or key). */
static void
test_refuse (void)
{
  g_autofree char *w = fixture ("vae_a.weights.safetensors");
  g_autofree char *wb = fixture ("vae_b.weights.safetensors");
  g_autofree char *io = fixture ("vae_a.io.safetensors");
  g_autofree char *uw = fixture ("upsampler_a.weights.safetensors");
  g_autofree char *uio = fixture ("upsampler_a.io.safetensors");
  if (!test_require_fixture (w) || !test_require_fixture (wb) || !test_require_fixture (io) ||
      !test_require_fixture (uw) || !test_require_fixture (uio))
    return;
  struct ke_error err = { 0 };
  struct ke_tensor_set *src = NULL;
  g_assert_cmpint (ke_safetensors_open (&src, w, &err), ==, KE_STATUS_OK);

  /* a missing tensor */
  const char *const miss[] = { "edited-missing.safetensors", "decoder.up_blocks.1.conv.conv.weight", NULL };
  expect_init_error (edited (src, "edited-missing.safetensors", "decoder.up_blocks.1.conv.conv.weight", NULL, NULL,
                             NULL),
                     KE_STATUS_MISSING, miss);
  /* a tensor of the wrong shape (another conv's weight in its place) */
  const char *const shape[] = { "edited-shape.safetensors", "decoder.conv_out.conv.weight", NULL };
  expect_init_error (edited (src, "edited-shape.safetensors", NULL, "decoder.conv_out.conv.weight",
                             "decoder.conv_in.conv.weight", NULL),
                     KE_STATUS_SHAPE, shape);
  /* a config the weights do not fit (twice the decoder width) */
  const char *cfg = ke_tset_meta (src, "config");
  g_autofree char *wide = g_strdup (cfg);
  char *p = strstr (wide, "\"decoder_base_channels\": 4");
  g_assert_nonnull (p);
  p[strlen ("\"decoder_base_channels\": ")] = '8';
  const char *const wider[] = { "edited-config.safetensors", "decoder.", NULL };
  expect_init_error (edited (src, "edited-config.safetensors", NULL, NULL, NULL, wide), KE_STATUS_SHAPE, wider);
  /* an unsupported block option */
  g_autofree char *noise = g_strdup (cfg);
  p = strstr (noise, "\"inject_noise\": false");
  g_assert_nonnull (p);
  memcpy (p + strlen ("\"inject_noise\": "), "true ", 5);
  const char *const inj[] = { "edited-noise.safetensors", "inject_noise", NULL };
  expect_init_error (edited (src, "edited-noise.safetensors", NULL, NULL, NULL, noise), KE_STATUS_UNSUPPORTED, inj);
  /* no config at all */
  struct ke_tensor_set *bare = ke_tset_new ("bare.safetensors");
  const char *const none[] = { "bare.safetensors", "config", NULL };
  expect_init_error (bare, KE_STATUS_MISSING, none);
  ke_tset_free (src);

  /* the upsampler's file as a VAE and the VAE's as an upsampler */
  g_autofree char *out = test_tmp_path ("refuse.safetensors");
  struct ke_eval_args a = { .weights = uw, .in = io, .out = out };
  memset (&err, 0, sizeof (err));
  g_assert_cmpint (ke_eval ("ltx-vae", &a, &err), !=, KE_STATUS_OK);
  g_test_message ("refused: %s", err.msg);
  g_assert_nonnull (strstr (err.msg, uw));
  g_assert_nonnull (strstr (err.msg, "LatentUpsampler"));
  struct ke_eval_args b = { .weights = w, .in = uio, .out = out };
  memset (&err, 0, sizeof (err));
  g_assert_cmpint (ke_eval ("ltx-upsampler", &b, &err), !=, KE_STATUS_OK);
  g_test_message ("refused: %s", err.msg);
  g_assert_nonnull (strstr (err.msg, w));
  g_assert_nonnull (strstr (err.msg, "not a LatentUpsampler"));

  /* vae_b's weights (4 latent channels) on vae_a's IO (8): the IO file and its tensor are named */
  struct ke_eval_args c = { .weights = wb, .in = io, .out = out };
  memset (&err, 0, sizeof (err));
  g_assert_cmpint (ke_eval ("ltx-vae", &c, &err), ==, KE_STATUS_SHAPE);
  g_test_message ("refused: %s", err.msg);
  g_assert_nonnull (strstr (err.msg, io));
  g_assert_nonnull (strstr (err.msg, "latent"));
}

/* The config parser: the 13B VAE's config (as its checkpoint carries it) and the 0.9.8 upsampler's parse
 * to the reference's values; hostile values are refused naming the key. */
static void
test_config (void)
{
  struct ke_ltx_vae_config c;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_ltx_vae_config_parse (&c, ke_ltx_vae_13b_config, "13b", &err), ==, KE_STATUS_OK);
  g_assert_cmpint (c.latent_channels, ==, 128);
  g_assert_cmpint (c.patch_size, ==, 4);
  g_assert_cmpint (c.n_enc, ==, 9);
  g_assert_cmpint (c.n_dec, ==, 7);
  g_assert_cmpint (c.enc[1].kind, ==, KE_LTX_COMPRESS_SPACE);
  g_assert_true (c.enc[1].res);
  g_assert_cmpint (c.dec[1].kind, ==, KE_LTX_COMPRESS_ALL);
  g_assert_true (c.dec[1].residual);
  g_assert_cmpint (c.dec[1].multiplier, ==, 2);
  g_assert_cmpint (c.dec[0].num_layers, ==, 5);
  g_assert_true (c.timestep_conditioning);
  g_assert_false (c.causal_decoder);
  g_assert_cmpint (c.pad, ==, KE_LTX_PAD_ZEROS);
  g_assert_cmpint (c.logvar, ==, KE_LTX_LOGVAR_UNIFORM);
  g_assert_cmpint (c.encoder_base_channels, ==, 128);

  static const struct
  {
    const char *json, *part;
    enum ke_status code;
  } bad[] = {
    { "not json", "not a JSON object", KE_STATUS_FORMAT },
    { "{\"vae\": 3}", "'vae'", KE_STATUS_FORMAT },
    { "{\"latent_channels\": 1e9}", "latent_channels", KE_STATUS_INVALID },
    { "{\"latent_channels\": 8, \"dims\": 2}", "dims", KE_STATUS_UNSUPPORTED },
    { "{\"latent_channels\": 8, \"use_quant_conv\": false}", "norm_layer", KE_STATUS_UNSUPPORTED },
    { "{\"latent_channels\": 8, \"use_quant_conv\": false, \"norm_layer\": \"pixel_norm\"}", "encoder_blocks",
      KE_STATUS_INVALID },
    { "{\"latent_channels\": 8, \"use_quant_conv\": false, \"norm_layer\": \"pixel_norm\", \"blocks\": "
      "[[\"res_x\", {\"num_layers\": 99999}]]}", "num_layers", KE_STATUS_INVALID },
    { "{\"latent_channels\": 8, \"use_quant_conv\": false, \"norm_layer\": \"pixel_norm\", \"blocks\": "
      "[[\"attn_res_x\", 1]]}", "attn_res_x", KE_STATUS_UNSUPPORTED },
    { "{\"latent_channels\": 8, \"use_quant_conv\": false, \"norm_layer\": \"pixel_norm\", \"blocks\": "
      "[[\"res_x\", 1]], \"spatial_padding_mode\": \"circular\"}", "circular", KE_STATUS_UNSUPPORTED },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      memset (&err, 0, sizeof (err));
      g_assert_cmpint (ke_ltx_vae_config_parse (&c, bad[i].json, "cfg.json", &err), ==, bad[i].code);
      g_assert_nonnull (strstr (err.msg, "cfg.json"));
      g_assert_nonnull (strstr (err.msg, bad[i].part));
    }

  struct ke_ltx_upsampler_config u;
  memset (&err, 0, sizeof (err));
  g_assert_cmpint (ke_ltx_upsampler_config_parse (&u, "{\"_class_name\": \"LatentUpsampler\", \"in_channels\": 128, "
                                                  "\"mid_channels\": 512, \"num_blocks_per_stage\": 4, \"dims\": 3, "
                                                  "\"spatial_upsample\": true, \"temporal_upsample\": false}",
                                                  "ups", &err),
                   ==, KE_STATUS_OK);
  g_assert_cmpint (u.mid_channels, ==, 512);
  g_assert_cmpint (u.dims, ==, 3);
  memset (&err, 0, sizeof (err));
  g_assert_cmpint (ke_ltx_upsampler_config_parse (&u, "{\"temporal_upsample\": true}", "ups.json", &err), ==,
                   KE_STATUS_UNSUPPORTED);
  memset (&err, 0, sizeof (err));
  g_assert_cmpint (ke_ltx_upsampler_config_parse (&u, "{\"mid_channels\": 48}", "ups.json", &err), ==,
                   KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "mid_channels"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  static const char *const cases[] = { "vae_a", "vae_b", "upsampler_a", "upsampler_b" };
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *e = g_strdup_printf ("/ltx-vae/exact/%s", cases[i]);
      g_autofree char *f = g_strdup_printf ("/ltx-vae/fast/%s", cases[i]);
      g_test_add_data_func (e, cases[i], check_exact);
      g_test_add_data_func (f, cases[i], check_fast);
    }
  g_test_add_func ("/ltx-vae/refuse", test_refuse);
  g_test_add_func ("/ltx-vae/config", test_config);
  return g_test_run ();
}
