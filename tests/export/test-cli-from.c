/* Tests for kinora-cli generate --from (app/cli-generate.c): the settings of a Kinora file made with
 * the tiny model are restored whole (the same sidecar, byte-identical GIF frames since the tiny model
 * is deterministic), options after --from override them, and files without Kinora settings get a
 * clear error naming the file.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>

#include "kinora-metadata.h"

static int
run_cli (char **err_out, const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  int status = -1;
  g_autoptr (GError) error = NULL;
  g_ptr_array_add (argv, (char *) g_getenv ("KINORA_CLI"));
  g_ptr_array_add (argv, (char *) "generate");
  g_ptr_array_add (argv, (char *) "--quiet");
  for (int i = 0; args[i]; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);
  g_assert_nonnull (g_ptr_array_index (argv, 0));
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, err_out,
                               &status, &error));
  g_test_message ("stderr: %s", *err_out);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static char *
slurp (const char *path,
       gsize      *len)
{
  char *text = NULL;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_file_get_contents (path, &text, len, &error));
  g_assert_no_error (error);
  return text;
}

static void
assert_same_file (const char *a,
                  const char *b)
{
  gsize la = 0, lb = 0;
  g_autofree char *ta = slurp (a, &la), *tb = slurp (b, &lb);
  g_assert_cmpmem (ta, la, tb, lb);
}

static void
test_round_trip (void)
{
  g_autofree char *dir = g_dir_make_tmp ("kinora-from-XXXXXX", NULL);
  g_autofree char *mp4 = g_build_filename (dir, "made.mp4", NULL);
  g_autofree char *gif = g_build_filename (dir, "made.gif", NULL);
  g_autofree char *again_mp4 = g_build_filename (dir, "again.mp4", NULL);
  g_autofree char *again_gif = g_build_filename (dir, "again.gif", NULL);
  g_autofree char *from_json = g_build_filename (dir, "json.gif", NULL);
  g_autofree char *err = NULL;
  const char *make[] = { "--model", "tiny", "--prompt", "a heron at dawn", "--negative", "blur", "--size", "96x64",
                         "--frames", "9", "--steps", "3", "--guide", "4.5", "--shift", "3", "--seed", "1234",
                         "--solver", "euler", "-o", mp4, NULL };
  g_assert_cmpint (run_cli (&err, make), ==, 0);
  g_clear_pointer (&err, g_free);
  const char *make_gif[] = { "--model", "tiny", "--prompt", "a heron at dawn", "--negative", "blur", "--size", "96x64",
                             "--frames", "9", "--steps", "3", "--guide", "4.5", "--shift", "3", "--seed", "1234",
                             "--solver", "euler", "-o", gif, NULL };
  g_assert_cmpint (run_cli (&err, make_gif), ==, 0);
  g_clear_pointer (&err, g_free);

  /* every setting back from the MP4's tags: the same sidecar, and the same frames (GIF bytes) */
  const char *again[] = { "--from", mp4, "-o", again_mp4, NULL };
  g_assert_cmpint (run_cli (&err, again), ==, 0);
  g_clear_pointer (&err, g_free);
  g_autofree char *side_a = g_strconcat (mp4, ".json", NULL), *side_b = g_strconcat (again_mp4, ".json", NULL);
  assert_same_file (side_a, side_b);
  const char *again_g[] = { "--from", mp4, "-o", again_gif, NULL };
  g_assert_cmpint (run_cli (&err, again_g), ==, 0);
  g_clear_pointer (&err, g_free);
  assert_same_file (gif, again_gif);

  /* from the sidecar JSON and from the GIF itself too */
  const char *via_json[] = { "--from", side_a, "-o", from_json, NULL };
  g_assert_cmpint (run_cli (&err, via_json), ==, 0);
  g_clear_pointer (&err, g_free);
  assert_same_file (gif, from_json);
  g_autofree char *from_gif = g_build_filename (dir, "gif.gif", NULL);
  const char *via_gif[] = { "--from", gif, "-o", from_gif, NULL };
  g_assert_cmpint (run_cli (&err, via_gif), ==, 0);
  g_clear_pointer (&err, g_free);
  assert_same_file (gif, from_gif);

  /* options after --from win; before it, the file wins */
  g_autofree char *over = g_build_filename (dir, "over.gif", NULL);
  const char *override[] = { "--steps", "7", "--from", mp4, "--seed", "99", "--prompt", "a crane", "-o", over, NULL };
  g_assert_cmpint (run_cli (&err, override), ==, 0);
  g_clear_pointer (&err, g_free);
  g_autofree char *over_side = g_strconcat (over, ".json", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (KinoraMetadata) m = kinora_metadata_read (over_side, &error);
  g_assert_no_error (error);
  g_assert_cmpint (m->params.seed, ==, 99);
  g_assert_cmpint (m->params.steps, ==, 3);
  g_assert_cmpstr (m->params.prompt, ==, "a crane");
  g_assert_cmpstr (m->params.negative_prompt, ==, "blur");
  g_assert_cmpint (m->params.width, ==, 96);
  g_assert_cmpint (m->params.height, ==, 64);
  g_assert_cmpint (m->params.n_frames, ==, 9);
  g_assert_cmpfloat (m->params.guide, ==, 4.5f);
  g_assert_cmpfloat (m->params.shift, ==, 3.0f);
  g_assert_cmpint (m->params.solver, ==, KE_SOLVER_EULER);
}

static void
test_no_metadata (void)
{
  g_autofree char *dir = g_dir_make_tmp ("kinora-from-XXXXXX", NULL);
  g_autofree char *plain = g_build_filename (dir, "notes.json", NULL);
  g_autofree char *out = g_build_filename (dir, "out.gif", NULL);
  g_assert_true (g_file_set_contents (plain, "[1, 2, 3]", -1, NULL));
  g_autofree char *err = NULL;
  const char *args[] = { "--from", plain, "-o", out, NULL };
  g_assert_cmpint (run_cli (&err, args), ==, 2);
  g_assert_nonnull (strstr (err, plain));
  g_assert_nonnull (strstr (err, "no Kinora settings"));
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));
  g_clear_pointer (&err, g_free);

  /* a real GIF without a Kinora comment is refused the same way */
  g_autofree char *gif = g_build_filename (dir, "plain.gif", NULL);
  static const guint8 tiny_gif[] = { 'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff,
                                     ',', 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 'D', 1, 0, ';' };
  g_assert_true (g_file_set_contents (gif, (const char *) tiny_gif, sizeof tiny_gif, NULL));
  const char *args2[] = { "--from", gif, "-o", out, NULL };
  g_assert_cmpint (run_cli (&err, args2), ==, 2);
  g_assert_nonnull (strstr (err, "plain.gif"));
  g_assert_nonnull (strstr (err, "no Kinora settings"));
  g_clear_pointer (&err, g_free);

  const char *missing[] = { "--from", "/nonexistent/made.mp4", "-o", out, NULL };
  g_assert_cmpint (run_cli (&err, missing), ==, 2);
  g_assert_nonnull (strstr (err, "/nonexistent/made.mp4"));
}

/* TAEHV: --decode taehv --preview taehv --taehv FILE are recorded and --from restores them (the same
 * sidecar and the same frames); the TAEHV decode is not the VAE's; TAEHV without --taehv is refused. */
static void
test_taehv (void)
{
  g_autofree char *dir = g_dir_make_tmp ("kinora-taehv-XXXXXX", NULL);
  g_autofree char *a = g_build_filename (dir, "a", NULL), *b = g_build_filename (dir, "b", NULL);
  g_autofree char *c = g_build_filename (dir, "c", NULL);
  g_autofree char *a_dir = g_strconcat (a, "/", NULL), *b_dir = g_strconcat (b, "/", NULL);
  g_autofree char *c_dir = g_strconcat (c, "/", NULL);
  g_autofree char *a_json = g_build_filename (a, "parameters.json", NULL);
  g_autofree char *b_json = g_build_filename (b, "parameters.json", NULL);
  g_autofree char *a_png = g_build_filename (a, "frame_00004.png", NULL);
  g_autofree char *b_png = g_build_filename (b, "frame_00004.png", NULL);
  g_autofree char *c_png = g_build_filename (c, "frame_00004.png", NULL);
  g_autofree char *w = g_build_filename (TAEHV_FIXTURES, "taehv_w22_tiny.weights.safetensors", NULL);
  g_autofree char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL;
  const char *made[] = { "--model", "tiny", "--prompt", "a lighthouse", "--size", "64x64", "--frames", "9",
                         "--steps", "2", "--seed", "5", "--decode", "taehv", "--preview", "taehv", "--taehv", w,
                         "-o", a_dir, NULL };
  g_assert_cmpint (run_cli (&e1, made), ==, 0);
  gsize len = 0;
  g_autofree char *json = slurp (a_json, &len);
  g_assert_nonnull (strstr (json, "\"decode\":\"taehv\""));
  g_assert_nonnull (strstr (json, "\"preview\":\"taehv\""));
  g_assert_nonnull (strstr (json, "taehv_w22_tiny.weights.safetensors"));
  const char *again[] = { "--from", a_json, "-o", b_dir, NULL };
  g_assert_cmpint (run_cli (&e2, again), ==, 0);
  assert_same_file (a_json, b_json);
  assert_same_file (a_png, b_png);
  /* the same settings through the VAE give other pixels */
  const char *vae[] = { "--from", a_json, "--decode", "vae", "-o", c_dir, NULL };
  g_assert_cmpint (run_cli (&e3, vae), ==, 0);
  gsize la = 0, lc = 0;
  g_autofree char *pa = slurp (a_png, &la), *pc = slurp (c_png, &lc);
  g_assert_false (la == lc && memcmp (pa, pc, la) == 0);
  const char *no_file[] = { "--model", "tiny", "--prompt", "x", "--decode", "taehv", "-o", c_dir, NULL };
  g_assert_cmpint (run_cli (&e4, no_file), ==, 2);
  g_assert_nonnull (strstr (e4, "--taehv"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli-from/round-trip", test_round_trip);
  g_test_add_func ("/cli-from/no-metadata", test_no_metadata);
  g_test_add_func ("/cli-from/taehv", test_taehv);
  return g_test_run ();
}
