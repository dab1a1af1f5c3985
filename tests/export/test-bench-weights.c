/* Tests for app/bench/bench-weights.c: kinora-bench write-weights at one layer writes the real shapes as
 * a ComfyUI-style folder, streamed (the writer's peak RSS stays far below the files' size), in bf16 or
 * fp8_e4m3fn_scaled (F8_E4M3 matrices with their scale_weight tensors and the scaled_fp8 marker), and
 * kinora-cli generate --model opens what it wrote and makes a video.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <sys/wait.h>

#include "core/tensor.h"
#include "loaders/loaders.h"

/* Run a program; returns the exit status, stdout and stderr in *out / *err. */
static int
run (const char *const *argv, char **out, char **err)
{
  g_autoptr (GError) error = NULL;
  int status = -1;
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, out, err, &status, &error));
  g_test_message ("%s: stdout: %s\nstderr: %s", argv[1], *out, *err);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static void
check_model (const char *model, const char *dtype, int n_experts)
{
  g_autofree char *bench = g_build_filename (g_getenv ("KINORA_BUILD_ROOT"), "app", "kinora-bench", NULL);
  g_autofree char *dir = g_dir_make_tmp ("kinora-weights-XXXXXX", NULL);
  g_autofree char *so = NULL, *se = NULL, *so2 = NULL, *se2 = NULL;
  g_autofree char *video = g_build_filename (dir, "out.gif", NULL);
  const char *write[] = { bench, "write-weights", "--model", model, "--dtype", dtype, "-o", dir, "--layers", "1",
                          "--t5-vocab", "512", "--vae-dim", "16", NULL };

  g_assert_cmpint (run (write, &so, &se), ==, 0);
  /* the last line is the --model argument */
  g_auto (GStrv) lines = g_strsplit (g_strstrip (so), "\n", -1);
  guint n = g_strv_length (lines);
  g_assert_cmpuint (n, >, 2);
  g_assert_true (g_str_has_prefix (lines[n - 1], "--model "));
  const char *spec = lines[n - 1] + 8;
  g_auto (GStrv) files = g_strsplit (spec, ",", -1);
  g_assert_cmpuint (g_strv_length (files), ==, (guint) n_experts + 1);

  /* streamed: the writer's peak RSS (printed) is far below one DiT file (~0.5 GiB at one layer) */
  const char *rss = strstr (so, "peak RSS ");
  g_assert_nonnull (rss);
  g_assert_cmpfloat (g_ascii_strtod (rss + 9, NULL), <, 0.1);

  for (int i = 0; i < n_experts; i++)
    {
      struct ke_tensor_set *s = NULL;
      struct ke_error err = { 0 };
      g_assert_cmpint (ke_safetensors_open_file (&s, files[i], &err), ==, KE_STATUS_OK);
      const struct ke_tensor *q = ke_tset_get (s, "blocks.0.self_attn.q.weight");
      const struct ke_tensor *ffn = ke_tset_get (s, "blocks.0.ffn.0.weight");
      g_assert_nonnull (q);
      g_assert_nonnull (ffn);
      /* real shapes: dim x dim and ffn_dim x dim */
      const int64_t dim = g_str_equal (model, "ti2v-5B") ? 3072 : 5120, ffn_dim = dim == 3072 ? 14336 : 13824;
      g_assert_cmpint (q->ne[0], ==, dim);
      g_assert_cmpint (q->ne[1], ==, dim);
      g_assert_cmpint (ffn->ne[1], ==, ffn_dim);
      if (g_str_equal (dtype, "fp8"))
        {
          const struct ke_tensor *sw = ke_tset_get (s, "blocks.0.self_attn.q.scale_weight");
          g_assert_cmpint (q->type, ==, KE_DTYPE_F8_E4M3);
          g_assert_nonnull (sw);
          g_assert_cmpint (sw->type, ==, KE_DTYPE_F32);
          /* sqrt(3) / sqrt(dim) / 448: uniform values of variance 1/dim fill fp8's range */
          g_assert_cmpfloat (fabs (((const float *) sw->data)[0] - sqrt (3.0 / dim) / 448.0), <, 1e-9);
          g_assert_nonnull (ke_tset_get (s, "scaled_fp8"));
          /* no NaN codes (0x7f, 0xff) */
          const uint8_t *b = q->data;
          for (size_t j = 0; j < ke_tensor_nbytes (q); j += 4099)
            g_assert_cmpuint (b[j] & 0x7f, !=, 0x7f);
          g_assert_cmpint (ke_tset_get (s, "blocks.0.self_attn.q.bias")->type, ==, KE_DTYPE_BF16);
        }
      else
        {
          g_assert_cmpint (q->type, ==, KE_DTYPE_BF16);
          g_assert_null (ke_tset_get (s, "scaled_fp8"));
        }
      ke_tset_free (s);
    }

  /* what kinora-cli generate opens (A14B: both experts, four steps at shift 1 switch between them) */
  const char *gen[] = { g_getenv ("KINORA_CLI"), "generate", "--quiet", "--model", spec, "--prompt", "a fox",
                        "--size", "64x64", "--frames", "5", "--steps", "4", "--shift", "1", "--seed", "3",
                        "-o", video, NULL };
  g_assert_nonnull (gen[0]);
  g_assert_cmpint (run (gen, &so2, &se2), ==, 0);
  g_assert_true (g_file_test (video, G_FILE_TEST_IS_REGULAR));

  const char *argv_rm[] = { "rm", "-rf", dir, NULL };
  g_clear_pointer (&so, g_free);
  g_clear_pointer (&se, g_free);
  g_assert_cmpint (run (argv_rm, &so, &se), ==, 0);
}

static void
test_ti2v_bf16 (void)
{
  check_model ("ti2v-5B", "bf16", 1);
}

static void
test_a14b_fp8 (void)
{
  check_model ("t2v-A14B", "fp8", 2);
}

static void
test_bad_arguments (void)
{
  g_autofree char *bench = g_build_filename (g_getenv ("KINORA_BUILD_ROOT"), "app", "kinora-bench", NULL);
  g_autofree char *so = NULL, *se = NULL;
  const char *bad_dtype[] = { bench, "write-weights", "--model", "ti2v-5B", "--dtype", "q4", "-o", "/tmp/x", NULL };
  g_assert_cmpint (run (bad_dtype, &so, &se), ==, 2);
  g_assert_nonnull (strstr (se, "--dtype q4"));
  g_clear_pointer (&so, g_free);
  g_clear_pointer (&se, g_free);
  const char *bad_model[] = { bench, "write-weights", "--model", "i2v-XL", "-o", "/tmp/x", NULL };
  g_assert_cmpint (run (bad_model, &so, &se), ==, 2);
  g_assert_nonnull (strstr (se, "unknown model i2v-XL"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/bench-weights/ti2v-bf16", test_ti2v_bf16);
  g_test_add_func ("/bench-weights/a14b-fp8", test_a14b_fp8);
  g_test_add_func ("/bench-weights/bad-arguments", test_bad_arguments);
  return g_test_run ();
}
