/* Model capabilities (engine/models/model-caps.c): the rules a model's settings follow, read from its
 * files, on the built-in tiny Wan2.2 model and on the tiny random LTX-Video model that
 * tests/ltx/tiny-ltx-model.c writes from the fixtures (official single file + upsampler + text_encoder/),
 * in its folder form and as the file list CHECKPOINT,UPSAMPLER; then the checks and their messages. */
#include <math.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "ke.h"
#include "tiny-ltx-model.h"
#include "test-util.h"

static char *
tiny_ltx_dir (void)
{
  g_autoptr (GError) error = NULL;
  char *dir = test_tmp_path ("tiny-ltx");

  if (!tiny_ltx_model_write (LTX_FIXTURES, dir, &error))
    g_error ("%s", error->message);
  return dir;
}

static void
test_wan_tiny (void)
{
  struct ke_model_caps c;
  struct ke_error err = { 0 };

  g_assert_cmpint (ke_model_caps ("tiny", &c, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (c.family, ==, KE_MODEL_FAMILY_WAN22);
  g_assert_true (c.tiny);
  g_assert_cmpint (c.frame_step, ==, 4);
  g_assert_cmpint (c.size_multiple, ==, 32);   /* TI2V-5B: a 2x2 patch of 16-pixel latents */
  g_assert_cmpint (c.latent_channels, ==, 48);
  g_assert_false (c.guidance_fixed);
  g_assert_false (c.steps_fixed);
  g_assert_true (c.has_shift && c.has_solver && c.uses_negative_prompt);
  g_assert_true (c.takes_loras && c.takes_step_cache && c.takes_taehv);
  g_assert_true (c.takes_image && !c.needs_image && c.image_sets_aspect);
  g_assert_cmpint (c.max_frames, ==, KE_MAX_FRAMES);
  g_assert_cmpint (c.width, ==, 256);
  g_assert_cmpint (c.n_frames, ==, 17);
  g_assert_cmpint (c.steps, ==, 8);
  g_assert_cmpint (c.n_presets, >=, 1);
}

static void
check_ltx_caps (const struct ke_model_caps *c)
{
  g_assert_cmpint (c->family, ==, KE_MODEL_FAMILY_LTXV);
  g_assert_true (c->tiny);
  g_assert_nonnull (strstr (c->version, "LTX-Video"));
  g_assert_nonnull (strstr (c->version, "0.9.8"));
  g_assert_nonnull (strstr (c->version, "distilled"));
  /* vae_b: patch 4, compress space, time, all, all: x32 in space, x8 in time */
  g_assert_cmpint (c->vae_scale, ==, 32);
  g_assert_cmpint (c->vae_time_scale, ==, 8);
  g_assert_cmpint (c->frame_step, ==, 8);
  g_assert_cmpint (c->size_multiple, ==, 32);
  g_assert_cmpint (c->latent_channels, ==, 4);   /* vae_b's latent_channels */
  g_assert_true (c->guidance_fixed);
  g_assert_cmpfloat (c->guidance, ==, 1.0f);
  g_assert_true (c->steps_fixed);
  g_assert_cmpint (c->steps, ==, 10);            /* 7 + 3 timesteps of the distilled config */
  g_assert_false (c->has_shift || c->has_solver || c->uses_negative_prompt || c->two_experts);
  g_assert_true (c->takes_image && !c->needs_image && !c->image_sets_aspect);
  g_assert_false (c->takes_loras || c->takes_step_cache || c->takes_taehv);
  g_assert_cmpint (c->max_frames, ==, 1001);     /* 8 * 125 + 1 */
  g_assert_cmpint (c->max_side, ==, KE_MAX_SIDE);
  g_assert_cmpint (c->width % 32, ==, 0);
  g_assert_cmpint (c->height % 32, ==, 0);
  g_assert_cmpint ((c->n_frames - 1) % 8, ==, 0);
  g_assert_cmpfloat (c->fps, ==, 30);
  for (int i = 0; i < c->n_presets; i++)
    {
      g_assert_cmpint (c->presets[i].width % 32, ==, 0);
      g_assert_cmpint ((c->presets[i].n_frames - 1) % 8, ==, 0);
      g_assert_cmpint (ke_model_caps_check (c, c->presets[i].width, c->presets[i].height, c->presets[i].n_frames,
                                            false, NULL), ==, KE_STATUS_OK);
    }
  g_assert_true (ke_model_caps_preset (c, "small") == &c->presets[0]);
  g_assert_null (ke_model_caps_preset (c, "lightning"));
}

static void
test_ltx_folder (void)
{
  g_autofree char *dir = tiny_ltx_dir ();
  struct ke_model_caps c;
  struct ke_model_info info;
  struct ke_error err = { 0 };

  if (ke_model_caps (dir, &c, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  check_ltx_caps (&c);
  /* the probe sees the folder's three parts */
  g_assert_cmpint (ke_model_probe (dir, &info, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (info.family, ==, KE_MODEL_FAMILY_LTXV);
  gboolean roles[4] = { FALSE };
  for (int i = 0; i < info.n_parts; i++)
    {
      roles[0] |= strcmp (info.parts[i].role, "transformer") == 0;
      roles[1] |= strcmp (info.parts[i].role, "vae") == 0;
      roles[2] |= strcmp (info.parts[i].role, "upsampler") == 0;
      roles[3] |= strcmp (info.parts[i].role, "text_encoder") == 0;
    }
  g_assert_true (roles[0] && roles[1] && roles[2] && roles[3]);
}

static void
test_ltx_files (void)
{
  g_autofree char *dir = tiny_ltx_dir ();
  g_autofree char *spec = g_strdup_printf ("%s/ltxv-tiny-0.9.8-distilled.safetensors,%s/"
                                           "ltxv-spatial-upscaler-tiny-0.9.8.safetensors", dir, dir);
  g_autofree char *single = g_strdup_printf ("%s/ltxv-tiny-0.9.8-distilled.safetensors", dir);
  struct ke_model_caps c;
  struct ke_error err = { 0 };

  g_assert_cmpint (ke_model_caps (spec, &c, &err), ==, KE_STATUS_OK);
  check_ltx_caps (&c);
  g_assert_cmpint (ke_model_caps (single, &c, &err), ==, KE_STATUS_OK);
  check_ltx_caps (&c);
}

/* The model catalog's layout: MODELS_DIR/Lightricks/LTX-Video/ holds the checkpoint and upsampler files,
 * MODELS_DIR/PixArt-alpha/PixArt-XL-2-1024-MS/text_encoder the T5 encoder: the files find it. */
static void
test_ltx_catalog_layout (void)
{
  g_autofree char *dir = tiny_ltx_dir ();
  g_autofree char *models = test_tmp_path ("catalog-models");
  g_autofree char *ltx = g_build_filename (models, "Lightricks", "LTX-Video", NULL);
  g_autofree char *pixart = g_build_filename (models, "PixArt-alpha", "PixArt-XL-2-1024-MS", NULL);
  g_autofree char *te_src = g_build_filename (dir, "text_encoder", NULL);
  g_autofree char *te_dst = g_build_filename (pixart, "text_encoder", NULL);
  g_autofree char *ck = g_build_filename (ltx, "ltxv-tiny-0.9.8-distilled.safetensors", NULL);
  g_autofree char *up = g_build_filename (ltx, "ltxv-spatial-upscaler-tiny-0.9.8.safetensors", NULL);
  g_autofree char *spec = g_strdup_printf ("%s,%s", ck, up);
  const char *names[][2] = { { "ltxv-tiny-0.9.8-distilled.safetensors", NULL },
                             { "ltxv-spatial-upscaler-tiny-0.9.8.safetensors", NULL } };
  struct ke_model_info info;
  struct ke_error err = { 0 };
  gboolean te = FALSE;

  g_assert_cmpint (g_mkdir_with_parents (ltx, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (pixart, 0755), ==, 0);
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *src = g_build_filename (dir, names[i][0], NULL);
      g_autofree char *dst = g_build_filename (ltx, names[i][0], NULL);
      g_assert_cmpint (symlink (src, dst), ==, 0);
    }
  g_assert_cmpint (symlink (te_src, te_dst), ==, 0);
  g_assert_cmpint (ke_model_probe (spec, &info, &err), ==, KE_STATUS_OK);
  for (int i = 0; i < info.n_parts; i++)
    if (strcmp (info.parts[i].role, "text_encoder") == 0)
      {
        te = TRUE;
        g_assert_nonnull (strstr (info.parts[i].path, "PixArt-alpha/PixArt-XL-2-1024-MS/text_encoder"));
        g_assert_cmpint (info.parts[i].n_tensors, >, 0);
      }
  g_assert_true (te);
}

/* The path ke_model_open takes: the folder becomes CHECKPOINT,UPSAMPLER,T5; a checkpoint file gets the
 * upsampler of its release beside it and the encoder; other paths are copied */
static void
test_resolve (void)
{
  g_autofree char *dir = tiny_ltx_dir ();
  g_autofree char *ck = g_build_filename (dir, "ltxv-tiny-0.9.8-distilled.safetensors", NULL);
  g_autofree char *want = g_strdup_printf ("%s,%s/ltxv-spatial-upscaler-tiny-0.9.8.safetensors,%s/text_encoder", ck,
                                           dir, dir);
  char out[8192], small[16];
  struct ke_error err = { 0 };
  struct ke_model_caps c;

  g_assert_cmpint (ke_model_resolve_path (dir, out, sizeof out, &err), ==, KE_STATUS_OK);
  g_assert_cmpstr (out, ==, want);
  g_assert_cmpint (ke_model_resolve_path (ck, out, sizeof out, &err), ==, KE_STATUS_OK);
  g_assert_cmpstr (out, ==, want);
  /* the three-item form is what the capabilities read too */
  g_assert_cmpint (ke_model_caps (want, &c, &err), ==, KE_STATUS_OK);
  g_assert_true (c.est.text_counted);
  g_assert_cmpint (ke_model_resolve_path ("tiny", out, sizeof out, &err), ==, KE_STATUS_OK);
  g_assert_cmpstr (out, ==, "tiny");
  g_assert_cmpint (ke_model_resolve_path (dir, small, sizeof small, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "longer than 15 bytes"));
}

static void
test_ltx_two_checkpoints (void)
{
  g_autofree char *dir = tiny_ltx_dir ();
  g_autofree char *a = g_strdup_printf ("%s/ltxv-tiny-0.9.8-distilled.safetensors", dir);
  g_autofree char *b = g_strdup_printf ("%s/ltxv-tiny-0.9.7-distilled.safetensors", dir);
  g_autofree char *bytes = NULL;
  gsize n = 0;
  struct ke_model_caps c;
  struct ke_error err = { 0 };

  g_assert_true (g_file_get_contents (a, &bytes, &n, NULL));
  g_assert_true (g_file_set_contents (b, bytes, (gssize) n, NULL));
  g_assert_cmpint (ke_model_caps (dir, &c, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "two LTX-Video checkpoint files"));
  g_assert_nonnull (strstr (err.msg, "ltxv-tiny-0.9.7-distilled.safetensors and ltxv-tiny-0.9.8-distilled.safetensors"));
  g_assert_cmpint (c.family, ==, KE_MODEL_FAMILY_UNKNOWN);
  g_unlink (b);
}

static void
test_missing (void)
{
  struct ke_model_caps c;
  struct ke_error err = { 0 };
  g_autofree char *p = test_tmp_path ("no-such-model");

  g_assert_cmpint (ke_model_caps (p, &c, &err), ==, KE_STATUS_IO);
  g_assert_nonnull (strstr (err.msg, p));
}

/* ke_model_caps_check with a fresh error (the first error of a struct ke_error is the one kept) */
static enum ke_status
check (const struct ke_model_caps *c, int w, int h, int n, bool image, struct ke_error *err)
{
  memset (err, 0, sizeof *err);
  return ke_model_caps_check (c, w, h, n, image, err);
}

static void
test_checks (void)
{
  g_autofree char *dir = tiny_ltx_dir ();
  struct ke_model_caps ltx, wan;
  struct ke_error err = { 0 };

  g_assert_cmpint (ke_model_caps (dir, &ltx, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_model_caps ("tiny", &wan, &err), ==, KE_STATUS_OK);

  g_assert_cmpint (check (&ltx, 1216, 704, 121, false, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (check (&ltx, 1216, 704, 100, false, &err), ==, KE_STATUS_INVALID);
  g_assert_cmpstr (err.msg, ==, "LTX-Video needs a frame count of 8n+1: 97 or 105 (not 100)");
  g_assert_cmpint (check (&ltx, 1216, 704, 81, false, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (check (&ltx, 1216, 704, 2000, false, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "between 1 and 1001"));
  g_assert_cmpint (check (&ltx, 1200, 704, 121, false, &err), ==, KE_STATUS_INVALID);
  g_assert_cmpstr (err.msg, ==, "LTX-Video needs width and height in multiples of 32: 1200x704 is not allowed "
                   "(width 1184 or 1216, height 704)");
  /* an image does not change LTX-Video's size rule (the image is fitted to the output) */
  g_assert_cmpint (check (&ltx, 1200, 704, 121, true, &err), ==, KE_STATUS_INVALID);
  g_assert_cmpint (check (&ltx, 16, 704, 121, false, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "width 32,"));

  g_assert_cmpint (check (&wan, 256, 256, 10, false, &err), ==, KE_STATUS_INVALID);
  g_assert_cmpstr (err.msg, ==, "Wan2.2 needs a frame count of 4n+1: 9 or 13 (not 10)");
  g_assert_cmpint (check (&wan, 256, 256, 97, false, &err), ==, KE_STATUS_OK);
  /* Wan with an image: the size is an area */
  g_assert_cmpint (check (&wan, 250, 300, 17, true, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (check (&wan, 250, 300, 17, false, &err), ==, KE_STATUS_INVALID);

  g_assert_cmpint (ke_model_caps_snap_frames (&ltx, 100), ==, 97);
  g_assert_cmpint (ke_model_caps_snap_frames (&ltx, 101), ==, 105);   /* a tie goes up */
  g_assert_cmpint (ke_model_caps_snap_frames (&ltx, 0), ==, 1);
  g_assert_cmpint (ke_model_caps_snap_frames (&ltx, 5000), ==, 1001);
  g_assert_cmpint (ke_model_caps_snap_frames (&wan, 10), ==, 9);
  g_assert_cmpint (ke_model_caps_snap_side (&ltx, 1200), ==, 1216);
  g_assert_cmpint (ke_model_caps_snap_side (&ltx, 1), ==, 32);
  g_assert_cmpint (ke_model_caps_snap_side (&ltx, 9999), ==, 4096);
}

/* The pre-flight estimate from capabilities: the tiny model's files on the CPU, and the 13B shapes on CUDA
 * (a description written here from the 13B config: 48 layers of width 4096, FF 16384, 13.1e9 parameters in
 * bf16) against 24 and 12 GiB budgets. */
static void
test_estimate (void)
{
  g_autofree char *dir = tiny_ltx_dir ();
  struct ke_model_caps c, wan;
  struct ke_gen_params p = ke_gen_params_default (KE_TASK_TI2V_5B);
  struct ke_estimate e;
  struct ke_mem_budget budget = { 0, 64 };
  struct ke_error err = { 0 };

  g_assert_cmpint (ke_model_caps (dir, &c, &err), ==, KE_STATUS_OK);
  g_assert_true (c.est.text_counted);
  g_assert_cmpfloat (c.est.transformer_params, >, 0);
  g_assert_cmpfloat (c.est.upsampler_params, >, 0);
  g_assert_cmpint (c.est.vae_levels, ==, 3);
  g_assert_cmpint (c.est.vae_top_channels, ==, 4 * 2);   /* vae_b: base 4, multipliers 2, 1, 1 */
  p.width = c.width;
  p.height = c.height;
  p.n_frames = c.n_frames;
  p.backend = "cpu";
  g_assert_cmpint (ke_gen_estimate_caps (&c, &p, &budget, &e, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (e.verdict, ==, KE_VERDICT_FITS);
  g_assert_cmpint (e.n_forwards, ==, 10);
  g_assert_cmpfloat (e.host_gib, >, 0);
  g_assert_cmpfloat (e.host_gib, <, 1);
  g_assert_cmpfloat (e.total_s, >, 0);
  g_assert_cmpstr (e.backend, ==, "cpu");
  g_assert_nonnull (strstr (e.summary, "fits: "));
  /* the model's rules come first */
  p.n_frames = 10;
  g_assert_cmpint (ke_gen_estimate_caps (&c, &p, &budget, &e, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "8n+1"));
  /* Wan2.2 takes its loaded model */
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_model_caps ("tiny", &wan, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_gen_estimate_caps (&wan, &p, &budget, &e, &err), ==, KE_STATUS_UNSUPPORTED);

  /* the 13B shapes at the official size */
  c.tiny = FALSE;
  c.latent_channels = 128;
  c.est.num_layers = 48;
  c.est.inner_dim = 4096;
  c.est.ffn_dim = 16384;
  c.est.text_dim = 4096;
  c.est.transformer_params = 13.1e9;
  c.est.transformer_bytes = 2 * 13.1e9;
  c.est.vae_params = 0.4e9;
  c.est.vae_top_channels = 1024;
  c.est.vae_levels = 3;
  c.est.upsampler_mid_channels = 512;
  p.width = 1216;
  p.height = 704;
  p.n_frames = 121;
  p.backend = "cuda";
  budget.host_gib = 256;
  g_assert_cmpint (ke_gen_estimate_caps (&c, &p, &budget, &e, &err), ==, KE_STATUS_OK);
  g_test_message ("13B at 1216x704x121 on CUDA: %s (device %.1f GiB, host %.1f GiB, %.0f s)", e.summary, e.device_gib,
                  e.host_gib, e.total_s);
  g_assert_cmpint (e.verdict, ==, KE_VERDICT_FITS);
  g_assert_cmpfloat (fabs (e.device_weights_gib - 2 * 13.1e9 / 1073741824.0), <, 1e-9);
  g_assert_cmpfloat (e.device_gib, >, e.device_weights_gib);
  /* 24 GiB: the bf16 transformer (24.4 GiB) streams */
  budget.device_gib = 24;
  g_assert_cmpint (ke_gen_estimate_caps (&c, &p, &budget, &e, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (e.verdict, ==, KE_VERDICT_STREAMS);
  /* an fp8 file (1 byte a weight) needs 12.2 GiB less on the device */
  {
    double bf16_gib;
    budget.device_gib = 0;
    g_assert_cmpint (ke_gen_estimate_caps (&c, &p, &budget, &e, &err), ==, KE_STATUS_OK);
    bf16_gib = e.device_gib;
    c.est.transformer_bytes = 13.1e9;
    g_assert_cmpint (ke_gen_estimate_caps (&c, &p, &budget, &e, &err), ==, KE_STATUS_OK);
    g_test_message ("fp8 13B: %s", e.summary);
    g_assert_cmpfloat (fabs (bf16_gib - e.device_gib - 13.1e9 / 1073741824.0), <, 1e-6);
  }
}

/* kinora-cli generate checks the model's rules before loading it, and estimates from its files */
static void
test_cli (void)
{
  g_autofree char *dir = tiny_ltx_dir ();
  static const struct { const char *opt, *value, *says; } cases[] = {
    { "--frames", "100", "LTX-Video needs a frame count of 8n+1: 97 or 105 (not 100)" },
    { "--size", "100x96", "LTX-Video needs width and height in multiples of 32: 100x96 is not allowed" },
    { "--guide", "3", "the model's config fixes the guidance at 1" },
    { "--steps", "20", "fixes the steps at 10" },
    { "--shift", "5", "has no flow shift setting" },
    { "--solver", "euler", "has no solver setting" },
    { "--negative", "blurry", "a negative prompt has no effect" },
    { "--preset", "lightning", "--preset lightning is a Wan2.2 recipe" },
    { "--preset", "thunder", "are: small, wide" },
    { "--cache", "easy", "has no step caching" },
    { "--decode", "taehv", "has no TAEHV decoder" },
  };
  const char *cli = g_getenv ("KINORA_CLI");

  g_assert_nonnull (cli);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      const char *argv[] = { cli, "generate", "--model", dir, "--prompt", "x", cases[i].opt, cases[i].value, "-o",
                             "/tmp/never-written.mp4", NULL };
      g_autofree char *out = NULL, *errs = NULL;
      int status = 0;
      g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &errs, &status, NULL));
      g_test_message ("%s %s: %s", cases[i].opt, cases[i].value, errs);
      g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 2);
      g_assert_nonnull (strstr (errs, cases[i].says));
    }
  {
    const char *argv[] = { cli, "generate", "--model", dir, "--dry-run", "--preset", "wide", NULL };
    g_autofree char *out = NULL, *errs = NULL;
    int status = 0;
    g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &errs, &status, NULL));
    g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    g_assert_nonnull (strstr (out, "LTX-Video 0.9.8 distilled, 128x64, 9 frames, 10 steps (10 forwards)"));
    g_assert_nonnull (strstr (out, "verdict        fits"));
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/model-caps/wan-tiny", test_wan_tiny);
  g_test_add_func ("/model-caps/ltx-folder", test_ltx_folder);
  g_test_add_func ("/model-caps/ltx-files", test_ltx_files);
  g_test_add_func ("/model-caps/ltx-catalog-layout", test_ltx_catalog_layout);
  g_test_add_func ("/model-caps/ltx-two-checkpoints", test_ltx_two_checkpoints);
  g_test_add_func ("/model-caps/resolve", test_resolve);
  g_test_add_func ("/model-caps/missing", test_missing);
  g_test_add_func ("/model-caps/checks", test_checks);
  g_test_add_func ("/model-caps/estimate", test_estimate);
  g_test_add_func ("/model-caps/cli", test_cli);
  return g_test_run ();
}
