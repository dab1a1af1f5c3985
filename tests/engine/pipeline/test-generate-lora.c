/* ke_generate with LoRAs (engine/pipeline/generate.c) on a tiny two-expert T2V-A14B model with random
 * weights: a strength of 0 on both experts changes nothing, a strength on the low-noise or on the
 * high-noise expert alone changes the video, the two differently; changing the LoRAs between runs of one
 * model rebuilds its DiTs (the same settings give the same bytes again); a missing file is an error naming
 * it; the video's made_with records the LoRAs, also through a saved latent. */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "loaders/loaders.h"
#include "pipeline/model-impl.h"
#include "pipeline/tiny-impl.h"
#include "test-util.h"

/* A rank-2 LoRA on blocks.0.self_attn.q and ffn.2 (ComfyUI keys) of a DiT of width dim and FFN ffn,
 * written to a temp file. */
static char *
write_lora (const char *name, int64_t dim, int64_t ffn)
{
  static const char *names[] = { "diffusion_model.blocks.0.self_attn.q.lora_down.weight",
                                 "diffusion_model.blocks.0.self_attn.q.lora_up.weight",
                                 "diffusion_model.blocks.0.ffn.2.lora_down.weight",
                                 "diffusion_model.blocks.0.ffn.2.lora_up.weight" };
  const int64_t shapes[][2] = { { 2, dim }, { dim, 2 }, { 2, ffn }, { dim, 2 } };
  struct ke_tensor t[4];
  const struct ke_tensor *tp[4];
  float *data[4];
  for (int i = 0; i < 4; i++)
    {
      const size_t n = (size_t) (shapes[i][0] * shapes[i][1]);
      data[i] = g_malloc (n * sizeof (float));
      test_fill_random (data[i], n, 40 + (guint32) i);
      ke_tensor_init (&t[i], KE_DTYPE_F32, 2, shapes[i], data[i]);
      t[i].name = names[i];
      tp[i] = &t[i];
    }
  char *path = test_tmp_path (name);
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_safetensors_write (path, tp, 4, NULL, 0, &err), ==, KE_STATUS_OK);
  for (int i = 0; i < 4; i++)
    g_free (data[i]);
  return path;
}

static GBytes *
run (ke_model_t *m, const struct ke_lora_spec *loras, int n_loras)
{
  struct ke_gen_params p = ke_model_params_default (m);
  struct ke_video *v = NULL;
  struct ke_error err = { 0 };
  p.prompt = "a fox";
  p.width = p.height = ke_model_task (m) == KE_TASK_TI2V_5B ? 64 : 32;
  p.n_frames = 5;
  p.steps = 3;
  p.seed = 4;
  p.precision = KE_PRECISION_FP32;
  p.loras = loras;
  p.n_loras = n_loras;
  g_assert_cmpint (ke_generate (m, &p, &v, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (v->made_with->n_loras, ==, n_loras);
  for (int i = 0; i < n_loras; i++)
    {
      g_assert_cmpstr (v->made_with->loras[i].path, ==, loras[i].path);
      g_assert_cmpfloat (v->made_with->loras[i].strength, ==, loras[i].strength);
      g_assert_cmpfloat (v->made_with->loras[i].strength_high, ==, loras[i].strength_high);
    }
  GBytes *b = g_bytes_new (v->rgb, (size_t) v->n_frames * v->width * v->height * 3);
  ke_video_free (v);
  return b;
}

static void
test_per_expert (void)
{
  ke_model_t *m = test_small_a14b ("tiny a14b");
  g_autofree char *path = write_lora ("a14b-lora.safetensors", 32, 64);
  struct ke_lora_spec zero = { path, 0.0f, 0.0f }, low = { path, 1.0f, 0.0f }, high = { path, 0.0f, 1.0f };
  g_autoptr (GBytes) none = run (m, NULL, 0);
  g_autoptr (GBytes) b_zero = run (m, &zero, 1);
  g_autoptr (GBytes) b_low = run (m, &low, 1);
  g_autoptr (GBytes) b_high = run (m, &high, 1);
  g_autoptr (GBytes) b_none_again = run (m, NULL, 0);
  g_autoptr (GBytes) b_low_again = run (m, &low, 1);
  g_assert_true (g_bytes_equal (none, b_zero));
  g_assert_false (g_bytes_equal (none, b_low));
  g_assert_false (g_bytes_equal (none, b_high));
  g_assert_false (g_bytes_equal (b_low, b_high));
  /* the cached DiTs follow the LoRAs asked for */
  g_assert_true (g_bytes_equal (none, b_none_again));
  g_assert_true (g_bytes_equal (b_low, b_low_again));
  ke_model_free (m);
}

/* TI2V-5B keeps its one DiT between runs: a LoRA, then none, then another strength, each as a fresh
 * model gives it. */
static void
test_cached_dit (void)
{
  ke_model_t *m = NULL, *fresh = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_model_open (&m, "tiny", &err), ==, KE_STATUS_OK);
  g_autofree char *path = write_lora ("ti2v-lora.safetensors", 64, 128);
  struct ke_lora_spec one = { path, 1.0f, 1.0f }, half = { path, 0.5f, 0.5f };
  g_autoptr (GBytes) a = run (m, &one, 1);
  g_autoptr (GBytes) b = run (m, NULL, 0);
  g_autoptr (GBytes) c = run (m, &half, 1);
  g_assert_cmpint (ke_model_open (&fresh, "tiny", &err), ==, KE_STATUS_OK);
  g_autoptr (GBytes) b_fresh = run (fresh, NULL, 0);
  g_autoptr (GBytes) c_fresh = run (fresh, &half, 1);
  g_assert_false (g_bytes_equal (a, b));
  g_assert_false (g_bytes_equal (a, c));
  g_assert_true (g_bytes_equal (b, b_fresh));
  g_assert_true (g_bytes_equal (c, c_fresh));
  ke_model_free (m);
  ke_model_free (fresh);
}

/* A latent saved by a run with LoRAs carries them: its decode's made_with lists them. */
static void
test_latent_records (void)
{
  ke_model_t *m = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_model_open (&m, "tiny", &err), ==, KE_STATUS_OK);
  g_autofree char *path = write_lora ("latent-lora.safetensors", 64, 128);
  g_autofree char *latent = test_tmp_path ("lora.latent.safetensors");
  struct ke_lora_spec l[2] = { { path, 0.25f, -1.5f }, { path, 2.0f, 2.0f } };
  struct ke_gen_params p = ke_model_params_default (m);
  struct ke_video *v = NULL, *d = NULL;
  p.prompt = "a fox";
  p.width = p.height = 64;
  p.n_frames = 5;
  p.steps = 1;
  p.seed = 2;
  p.loras = l;
  p.n_loras = 2;
  p.save_latent_path = latent;
  g_assert_cmpint (ke_generate (m, &p, &v, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_model_decode_latent (m, latent, 0, &d, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (d->made_with->n_loras, ==, 2);
  for (int i = 0; i < 2; i++)
    {
      g_assert_cmpstr (d->made_with->loras[i].path, ==, path);
      g_assert_cmpfloat (d->made_with->loras[i].strength, ==, l[i].strength);
      g_assert_cmpfloat (d->made_with->loras[i].strength_high, ==, l[i].strength_high);
    }
  ke_video_free (v);
  ke_video_free (d);
  ke_model_free (m);
}

static void
test_missing_file (void)
{
  ke_model_t *m = test_small_a14b ("tiny a14b");
  struct ke_lora_spec gone = { "/nonexistent/kinora-lora.safetensors", 1.0f, 1.0f };
  struct ke_gen_params p = ke_model_params_default (m);
  struct ke_video *v = NULL;
  struct ke_error err = { 0 };
  p.prompt = "a fox";
  p.loras = &gone;
  p.n_loras = 1;
  g_assert_cmpint (ke_generate (m, &p, &v, &err), ==, KE_STATUS_IO);
  g_assert_null (v);
  g_assert_nonnull (strstr (err.msg, "/nonexistent/kinora-lora.safetensors"));
  /* out of range: refused by the validation, naming the file */
  struct ke_lora_spec strong = { "x.safetensors", 1e6f, 1.0f };
  memset (&err, 0, sizeof err);
  p.loras = &strong;
  g_assert_cmpint (ke_gen_params_validate (&p, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "x.safetensors"));
  p.n_loras = KE_MAX_LORAS + 1;
  g_assert_cmpint (ke_gen_params_validate (&p, &err), ==, KE_STATUS_INVALID);
  ke_model_free (m);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/generate-lora/per-expert", test_per_expert);
  g_test_add_func ("/generate-lora/cached-dit", test_cached_dit);
  g_test_add_func ("/generate-lora/latent-records", test_latent_records);
  g_test_add_func ("/generate-lora/missing-file", test_missing_file);
  return g_test_run ();
}
