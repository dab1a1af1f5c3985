/* Tests for kinora-cli generate's few-step preset and step caching options (app/cli-generate.c): what
 * --preset lightning sets and what wins over it, --cache validation, the cache settings and the skipped
 * count in the exported metadata, and --from restoring them.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>

#include "kinora-metadata.h"

/* Run kinora-cli generate with extra arguments; returns the exit status, stderr in *err_out. */
static int
run_cli (char **err_out, const char *const *args)
{
  GPtrArray *argv = g_ptr_array_new ();
  int status = -1;
  g_autoptr (GError) error = NULL;
  g_ptr_array_add (argv, (char *) g_getenv ("KINORA_CLI"));
  g_ptr_array_add (argv, (char *) "generate");
  g_ptr_array_add (argv, (char *) "--quiet");
  for (int i = 0; args[i]; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);
  g_assert_nonnull (g_ptr_array_index (argv, 0));
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                               err_out, &status, &error));
  g_ptr_array_free (argv, TRUE);
  g_test_message ("stderr: %s", *err_out);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static KinoraMetadata *
read_back (const char *dir)
{
  g_autofree char *json = g_build_filename (dir, "parameters.json", NULL);
  g_autoptr (GError) error = NULL;
  KinoraMetadata *m = kinora_metadata_read (json, &error);
  g_assert_no_error (error);
  g_assert_nonnull (m);
  return m;
}

static void
remove_dir (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *p = g_build_filename (dir, name, NULL);
      g_remove (p);
    }
  g_rmdir (dir);
}

/* --preset lightning: 4 steps, shift 5, euler-lightning, guidance 1; an explicit --steps wins whether it
 * comes before or after the preset; --cache tea with a threshold is recorded with the count, and --from
 * gives all of it back (here with --cache off overriding the file's cache). */
static void
test_preset_cache_round_trip (void)
{
  g_autofree char *tmp = g_dir_make_tmp ("kinora-fast-XXXXXX", NULL);
  g_autofree char *a = g_build_filename (tmp, "a", NULL);
  g_autofree char *b = g_build_filename (tmp, "b", NULL);
  g_autofree char *c = g_build_filename (tmp, "c", NULL);
  g_autofree char *a_out = g_strconcat (a, "/", NULL);
  g_autofree char *b_out = g_strconcat (b, "/", NULL);
  g_autofree char *c_out = g_strconcat (c, "/", NULL);
  g_autofree char *err = NULL;

  const char *args_a[] = { "--model", "tiny", "--prompt", "a kite", "--size", "64x64", "--frames", "5", "--seed",
                           "5", "--preset", "lightning", "--cache", "tea:1e6", "-o", a_out, NULL };
  g_assert_cmpint (run_cli (&err, args_a), ==, 0);
  /* 4 steps, one pass each (guidance 1); TeaCache computes the first and the last step */
  g_assert_nonnull (strstr (err, "skipped 2 DiT forwards"));
  g_autoptr (KinoraMetadata) ma = read_back (a);
  g_assert_cmpint (ma->params.steps, ==, 4);
  g_assert_cmpfloat (ma->params.shift, ==, 5.0f);
  g_assert_cmpfloat (ma->params.guide, ==, 1.0f);
  g_assert_cmpfloat (ma->params.guide_high, ==, 1.0f);
  g_assert_cmpint (ma->params.solver, ==, KE_SOLVER_EULER_LIGHTNING);
  g_assert_cmpint (ma->params.cache, ==, KE_CACHE_TEA);
  g_assert_cmpfloat (ma->params.cache_threshold, ==, 1e6f);
  g_assert_cmpint (ma->params.cache_skipped, ==, 2);

  /* explicit options win over the preset, before or after it */
  g_clear_pointer (&err, g_free);
  const char *args_b[] = { "--model", "tiny", "--prompt", "a kite", "--size", "64x64", "--frames", "5", "--seed",
                           "5", "--steps", "3", "--preset", "lightning", "--guide", "2", "--cache", "easy", "-o",
                           b_out, NULL };
  g_assert_cmpint (run_cli (&err, args_b), ==, 0);
  g_autoptr (KinoraMetadata) mb = read_back (b);
  g_assert_cmpint (mb->params.steps, ==, 3);
  g_assert_cmpfloat (mb->params.guide, ==, 2.0f);
  g_assert_cmpfloat (mb->params.shift, ==, 5.0f);
  g_assert_cmpint (mb->params.solver, ==, KE_SOLVER_EULER_LIGHTNING);
  g_assert_cmpint (mb->params.cache, ==, KE_CACHE_EASY);
  /* the default threshold is recorded as the number used */
  g_assert_cmpfloat (mb->params.cache_threshold, ==, 0.2f);

  /* --from restores preset values and cache; a later --cache off overrides the file */
  g_autofree char *from = g_build_filename (a, "parameters.json", NULL);
  g_clear_pointer (&err, g_free);
  const char *args_c[] = { "--from", from, "--cache", "off", "-o", c_out, NULL };
  g_assert_cmpint (run_cli (&err, args_c), ==, 0);
  g_assert_null (strstr (err, "step cache"));
  g_autoptr (KinoraMetadata) mc = read_back (c);
  g_assert_cmpint (mc->params.steps, ==, 4);
  g_assert_cmpint (mc->params.solver, ==, KE_SOLVER_EULER_LIGHTNING);
  g_assert_cmpint (mc->params.seed, ==, 5);
  g_assert_cmpint (mc->params.cache, ==, KE_CACHE_OFF);
  g_clear_pointer (&err, g_free);
  remove_dir (c);
  const char *args_d[] = { "--from", from, "-o", c_out, NULL };
  g_assert_cmpint (run_cli (&err, args_d), ==, 0);
  g_autoptr (KinoraMetadata) md = read_back (c);
  g_assert_cmpint (md->params.cache, ==, KE_CACHE_TEA);
  g_assert_cmpfloat (md->params.cache_threshold, ==, 1e6f);
  g_assert_cmpint (md->params.cache_skipped, ==, 2);

  remove_dir (a);
  remove_dir (b);
  remove_dir (c);
  g_rmdir (tmp);
}

static void
test_bad_options (void)
{
  static const struct { const char *opt, *value, *says; } cases[] = {
    { "--cache", "lazy", "use easy, tea, mag or off" },
    { "--cache", "mag:", "--cache threshold" },
    { "--cache", "easy:-0.5", "[0, 1e+06]" },
    { "--cache", "tea:x", "--cache threshold x" },
    { "--preset", "thunder", "are: small, lightning" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *err = NULL;
      const char *args[] = { "--model", "tiny", "--prompt", "x", cases[i].opt, cases[i].value, "-o",
                             "/tmp/never-written/", NULL };
      g_assert_cmpint (run_cli (&err, args), ==, 2);
      g_assert_nonnull (strstr (err, cases[i].says));
    }
}

/* A sidecar with a cache name the engine does not know is refused with the key named. */
static void
test_bad_metadata (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (KinoraMetadata) m = kinora_metadata_new_from_json ("{\"prompt\":\"x\",\"cache\":\"lazy\"}", &error);
  g_assert_null (m);
  g_assert_nonnull (strstr (error->message, "\"cache\""));
  g_clear_error (&error);
  g_autoptr (KinoraMetadata) n = kinora_metadata_new_from_json ("{\"prompt\":\"x\",\"cache_threshold\":-3}", &error);
  g_assert_null (n);
  g_assert_nonnull (strstr (error->message, "cache_threshold"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli-fast/preset-cache-round-trip", test_preset_cache_round_trip);
  g_test_add_func ("/cli-fast/bad-options", test_bad_options);
  g_test_add_func ("/cli-fast/bad-metadata", test_bad_metadata);
  return g_test_run ();
}
