/* Tests for engine/pipeline/model.c: official Hugging Face folders (TI2V-5B, I2V-A14B with
 * high_noise_model/ and low_noise_model/), a Diffusers folder, and the errors for a wrong VAE, a text
 * encoder of the wrong width and missing parts. The folders are made of the tiny fixture weights
 * (symlinked under the official file names), a random UMT5 of the fixtures' text width and the
 * fixtures' tokenizer.json. */
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "test-util.h"
#include "core/tensor.h"
#include "pipeline/io-impl.h"
#include "pipeline/model-impl.h"
#include "pipeline/tiny-impl.h"

static char *tmp_root;

static void
link_fixture (const char *fixture, const char *dir, const char *name)
{
  g_autofree char *src = test_fixture_path (fixture);
  g_autofree char *dst = g_build_filename (dir, name, NULL);
  g_autofree char *parent = g_path_get_dirname (dst);
  g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
  g_assert_cmpint (symlink (src, dst), ==, 0);
}

/* A random UMT5 (text width 32, as the tiny DiTs; vocabulary covering the fixture tokenizer). */
static void
write_t5 (const char *dir, const char *name)
{
  struct ke_tensor_set *s = NULL;
  g_autofree char *dst = g_build_filename (dir, name, NULL);
  g_autofree char *parent = g_path_get_dirname (dst);
  g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
  g_assert_cmpint (ke_random_t5_weights (&s, 96200, 32, 64, 4, 2, NULL, NULL), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_out_write (s, dst, NULL, 0, NULL), ==, KE_STATUS_OK);
  ke_tset_free (s);
}

static gboolean
have_fixtures (void)
{
  g_autofree char *p = test_fixture_path ("tokenizers/pegasus.tokenizer.json");
  g_autofree char *q = test_fixture_path ("dit_i2v_low_tiny.weights.safetensors");
  return test_require_fixture (p) && test_require_fixture (q);
}

static char *
make_dir (const char *name)
{
  char *d = g_build_filename (tmp_root, name, NULL);
  g_assert_cmpint (g_mkdir_with_parents (d, 0755), ==, 0);
  return d;
}

static void
generate_small (ke_model_t *m, const struct ke_image *im)
{
  struct ke_gen_params p = ke_model_params_default (m);
  struct ke_video *v = NULL;
  struct ke_error err = { 0 };
  p.prompt = "a boat on a lake";
  p.width = 64;
  p.height = 64;
  p.n_frames = 5;
  p.steps = 2;
  p.seed = 3;
  p.image = im;
  p.precision = KE_PRECISION_FP32;
  enum ke_status st = ke_generate (m, &p, &v, &err);
  if (st != KE_STATUS_OK)
    g_test_message ("%s", err.msg);
  g_assert_cmpint (st, ==, KE_STATUS_OK);
  g_assert_cmpint (v->n_frames, ==, 5);
  ke_video_free (v);
}

static void
test_official_ti2v (void)
{
  if (!have_fixtures ())
    return;
  g_autofree char *d = make_dir ("Wan2.2-TI2V-5B");
  link_fixture ("dit_ti2v_tiny.weights.safetensors", d, "diffusion_pytorch_model.safetensors");
  link_fixture ("vae22_tiny.weights.safetensors", d, "Wan2.2_VAE.pth");
  link_fixture ("tokenizers/pegasus.tokenizer.json", d, "google/umt5-xxl/tokenizer.json");
  write_t5 (d, "models_t5_umt5-xxl-enc-bf16.pth");
  ke_model_t *m = NULL;
  struct ke_error err = { 0 };
  enum ke_status st = ke_model_open (&m, d, &err);
  if (st != KE_STATUS_OK)
    g_test_message ("%s", err.msg);
  g_assert_cmpint (st, ==, KE_STATUS_OK);
  g_assert_cmpint (ke_model_task (m), ==, KE_TASK_TI2V_5B);
  g_assert_nonnull (strstr (ke_model_name (m), "TI2V-5B"));
  g_assert_false (ke_model_is_random (m));
  generate_small (m, NULL);
  ke_model_free (m);
}

static void
test_official_i2v_a14b (void)
{
  if (!have_fixtures ())
    return;
  g_autofree char *d = make_dir ("Wan2.2-I2V-A14B");
  link_fixture ("dit_i2v_tiny.weights.safetensors", d, "high_noise_model/diffusion_pytorch_model.safetensors");
  link_fixture ("dit_i2v_low_tiny.weights.safetensors", d, "low_noise_model/diffusion_pytorch_model.safetensors");
  link_fixture ("vae21_tiny.weights.safetensors", d, "Wan2.1_VAE.pth");
  link_fixture ("tokenizers/pegasus.tokenizer.json", d, "google/umt5-xxl/tokenizer.json");
  write_t5 (d, "models_t5_umt5-xxl-enc-bf16.pth");
  ke_model_t *m = NULL;
  struct ke_error err = { 0 };
  enum ke_status st = ke_model_open (&m, d, &err);
  if (st != KE_STATUS_OK)
    g_test_message ("%s", err.msg);
  g_assert_cmpint (st, ==, KE_STATUS_OK);
  g_assert_cmpint (ke_model_task (m), ==, KE_TASK_I2V_A14B);
  guint8 px[40 * 30 * 3];
  for (size_t i = 0; i < sizeof px; i++)
    px[i] = (guint8) (i * 13);
  struct ke_image im = { 40, 30, px };
  generate_small (m, &im);
  ke_model_free (m);
}

static void
test_diffusers_i2v (void)
{
  if (!have_fixtures ())
    return;
  g_autofree char *d = make_dir ("Wan2.2-I2V-A14B-Diffusers");
  g_autofree char *mi = g_build_filename (d, "model_index.json", NULL);
  g_assert_true (g_file_set_contents (mi, "{\"_class_name\": \"WanImageToVideoPipeline\", \"boundary_ratio\": 0.9}",
                                      -1, NULL));
  link_fixture ("dit_i2v_tiny.weights.safetensors", d, "transformer/diffusion_pytorch_model.safetensors");
  link_fixture ("dit_i2v_low_tiny.weights.safetensors", d, "transformer_2/diffusion_pytorch_model.safetensors");
  link_fixture ("vae21_tiny.weights.safetensors", d, "vae/diffusion_pytorch_model.safetensors");
  link_fixture ("tokenizers/pegasus.tokenizer.json", d, "tokenizer/tokenizer.json");
  write_t5 (d, "text_encoder/model.safetensors");
  ke_model_t *m = NULL;
  struct ke_error err = { 0 };
  enum ke_status st = ke_model_open (&m, d, &err);
  if (st != KE_STATUS_OK)
    g_test_message ("%s", err.msg);
  g_assert_cmpint (st, ==, KE_STATUS_OK);
  g_assert_cmpint (ke_model_task (m), ==, KE_TASK_I2V_A14B);
  ke_model_free (m);
}

/* TI2V folder holding only the Wan2.1 VAE: refused, naming the file and the VAE it needs. */
static void
test_wrong_vae (void)
{
  if (!have_fixtures ())
    return;
  g_autofree char *d = make_dir ("ti2v-with-wan21-vae");
  link_fixture ("dit_ti2v_tiny.weights.safetensors", d, "diffusion_pytorch_model.safetensors");
  link_fixture ("vae21_tiny.weights.safetensors", d, "Wan2.1_VAE.pth");
  ke_model_t *m = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_model_open (&m, d, &err), ==, KE_STATUS_SHAPE);
  g_assert_null (m);
  g_assert_nonnull (strstr (err.msg, "Wan2.1_VAE.pth"));
  g_assert_nonnull (strstr (err.msg, "48-channel Wan2.2 VAE"));
  /* and the A14B experts with the 48-channel VAE */
  g_autofree char *d2 = make_dir ("a14b-with-wan22-vae");
  link_fixture ("dit_i2v_tiny.weights.safetensors", d2, "high_noise_model/diffusion_pytorch_model.safetensors");
  link_fixture ("dit_i2v_low_tiny.weights.safetensors", d2, "low_noise_model/diffusion_pytorch_model.safetensors");
  link_fixture ("vae22_tiny.weights.safetensors", d2, "Wan2.2_VAE.pth");
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_model_open (&m, d2, &err), ==, KE_STATUS_SHAPE);
  g_assert_nonnull (strstr (err.msg, "Wan2.2_VAE.pth"));
  g_assert_nonnull (strstr (err.msg, "16-channel Wan2.1 VAE"));
}

/* The fixture UMT5 is 64 wide, the tiny DiT's text_dim is 32; a missing text encoder is named. */
static void
test_text_encoder_errors (void)
{
  if (!have_fixtures ())
    return;
  g_autofree char *d = make_dir ("ti2v-t5-mismatch");
  link_fixture ("dit_ti2v_tiny.weights.safetensors", d, "diffusion_pytorch_model.safetensors");
  link_fixture ("vae22_tiny.weights.safetensors", d, "Wan2.2_VAE.pth");
  ke_model_t *m = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_model_open (&m, d, &err), ==, KE_STATUS_MISSING);
  g_assert_nonnull (strstr (err.msg, "models_t5_umt5-xxl-enc-bf16.pth"));
  link_fixture ("t5_tiny.weights.safetensors", d, "models_t5_umt5-xxl-enc-bf16.pth");
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_model_open (&m, d, &err), ==, KE_STATUS_SHAPE);
  g_assert_nonnull (strstr (err.msg, "text_dim 32"));
}

/* ComfyUI-style file list with a GGUF DiT (ComfyUI-GGUF's layout, Q8_0 block linears kept quantized):
 * the roles are told by the contents, the config is inferred from the shapes (num_heads from head_dim
 * 128: one head for the tiny dim 32), and a small video is generated through the quantized Linear path. */
static void
test_comfy_gguf (void)
{
  if (!have_fixtures ())
    return;
  g_autofree char *gg = test_fixture_path ("gguf/wan-ti2v-tiny-q8_0.gguf");
  g_autofree char *vae = test_fixture_path ("vae22_tiny.weights.safetensors");
  g_autofree char *tok = test_fixture_path ("tokenizers/pegasus.tokenizer.json");
  if (!test_require_fixture (gg))
    return;
  g_autofree char *d = make_dir ("comfy-gguf");
  g_autofree char *t5 = g_build_filename (d, "umt5-16.safetensors", NULL);
  struct ke_tensor_set *s = NULL;
  g_assert_cmpint (ke_random_t5_weights (&s, 96200, 16, 64, 4, 2, NULL, NULL), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_out_write (s, t5, NULL, 0, NULL), ==, KE_STATUS_OK);
  ke_tset_free (s);
  g_autofree char *list = g_strdup_printf ("%s,%s,%s,%s", gg, vae, t5, tok);
  ke_model_t *m = NULL;
  struct ke_error err = { 0 };
  enum ke_status st = ke_model_open (&m, list, &err);
  if (st != KE_STATUS_OK)
    g_test_message ("%s", err.msg);
  g_assert_cmpint (st, ==, KE_STATUS_OK);
  g_assert_cmpint (ke_model_task (m), ==, KE_TASK_TI2V_5B);
  generate_small (m, NULL);
  ke_model_free (m);
}

/* Issue 10 item 8: prompt embeddings go to the disk cache folder the caller passes (the CLI and the app
 * pass $XDG_CACHE_HOME/kinora/text): a second model opened from the same folder encodes nothing and
 * reads both prompts from disk; the CLI writes its cache files under XDG_CACHE_HOME. */
static void
test_text_cache (void)
{
  if (!have_fixtures ())
    return;
  g_autofree char *d = make_dir ("cache-TI2V-5B");
  link_fixture ("dit_ti2v_tiny.weights.safetensors", d, "diffusion_pytorch_model.safetensors");
  link_fixture ("vae22_tiny.weights.safetensors", d, "Wan2.2_VAE.pth");
  link_fixture ("tokenizers/pegasus.tokenizer.json", d, "google/umt5-xxl/tokenizer.json");
  write_t5 (d, "models_t5_umt5-xxl-enc-bf16.pth");
  g_autofree char *cache = g_build_filename (tmp_root, "text-cache", NULL);
  for (int run = 0; run < 2; run++)
    {
      ke_model_t *m = NULL;
      struct ke_error err = { 0 };
      g_assert_cmpint (ke_model_open (&m, d, &err), ==, KE_STATUS_OK);
      struct ke_gen_params p = ke_model_params_default (m);
      struct ke_video *v = NULL;
      p.prompt = "a boat on a lake";
      p.width = 64;
      p.height = 64;
      p.n_frames = 5;
      p.steps = 1;
      p.seed = 3;
      p.precision = KE_PRECISION_FP32;
      p.text_cache_dir = cache;
      g_assert_cmpint (ke_generate (m, &p, &v, &err), ==, KE_STATUS_OK);
      ke_video_free (v);
      struct ke_text_cache_stats st;
      ke_text_encoder_stats (m->te, &st);
      g_test_message ("run %d: %lld disk hits", run, (long long) st.disk_hits);
      /* the prompt and the (official default) negative prompt */
      g_assert_cmpint (st.disk_hits, ==, run == 0 ? 0 : 2);
      ke_model_free (m);
    }
  g_autoptr(GDir) dir = g_dir_open (cache, 0, NULL);
  g_assert_nonnull (dir);
  int n_files = 0;
  for (const char *name; (name = g_dir_read_name (dir));)
    n_files += g_str_has_suffix (name, ".safetensors");
  g_assert_cmpint (n_files, ==, 2);

  /* the command line: a cache file appears under $XDG_CACHE_HOME/kinora/text */
  g_autofree char *xdg = g_build_filename (tmp_root, "xdg-cache", NULL);
  g_autofree char *xdg_text = g_build_filename (xdg, "kinora", "text", NULL);
  g_autofree char *out = g_build_filename (tmp_root, "cached.gif", NULL);
  const char *cli = g_getenv ("KINORA_CLI");
  g_assert_nonnull (cli);
  const char *argv[] = { cli, "generate", "--model", d, "--prompt", "a boat on a lake", "--size", "64x64",
                         "--frames", "5", "--steps", "1", "--seed", "3", "--quiet", "-o", out, NULL };
  g_auto (GStrv) env = g_environ_setenv (g_get_environ (), "XDG_CACHE_HOME", xdg, TRUE);
  g_autofree char *errs = NULL;
  int status = 0;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, env, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &errs,
                               &status, NULL));
  g_test_message ("%s", errs);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_autoptr(GDir) xd = g_dir_open (xdg_text, 0, NULL);
  g_assert_nonnull (xd);
  n_files = 0;
  for (const char *name; (name = g_dir_read_name (xd));)
    n_files += g_str_has_suffix (name, ".safetensors");
  g_assert_cmpint (n_files, ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  tmp_root = g_dir_make_tmp ("kinora-models-XXXXXX", NULL);
  g_test_add_func ("/model-open/official-ti2v", test_official_ti2v);
  g_test_add_func ("/model-open/official-i2v-a14b", test_official_i2v_a14b);
  g_test_add_func ("/model-open/diffusers-i2v", test_diffusers_i2v);
  g_test_add_func ("/model-open/wrong-vae", test_wrong_vae);
  g_test_add_func ("/model-open/text-encoder-errors", test_text_encoder_errors);
  g_test_add_func ("/model-open/text-cache", test_text_cache);
  g_test_add_func ("/model-open/comfy-gguf", test_comfy_gguf);
  int rc = g_test_run ();
  g_autofree char *cmd = g_strdup_printf ("rm -rf '%s'", tmp_root);
  if (system (cmd) != 0)
    rc = rc ? rc : 1;
  g_free (tmp_root);
  return rc;
}
