/* Tests for app/cli-generate.c: kinora-cli generate with the tiny model end to end (MP4 read back by
 * GstDiscoverer: frame count, size, tags; the sidecar JSON) and its errors for bad input.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gst/pbutils/pbutils.h>
#include <math.h>
#include <string.h>
#include <sys/wait.h>

#include "core/tensor.h"
#include "pipeline/io-impl.h"

static char *
fixture (const char *name)
{
  const char *dir = g_getenv ("KINORA_FIXTURES");
  return g_build_filename (dir ? dir : "../shared/fixtures", name, NULL);
}

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

/* --dry-run prints the pre-flight report and exits 0 without sampling or writing; a normal run prints the
 * estimate's one line first. */
static void
test_dry_run (void)
{
  g_autofree char *dir = g_dir_make_tmp ("kinora-cli-XXXXXX", NULL);
  g_autofree char *out = g_build_filename (dir, "fox.mp4", NULL);
  g_autofree char *so = NULL, *se = NULL;
  g_autoptr (GError) error = NULL;
  int status = -1;
  const char *argv[] = { g_getenv ("KINORA_CLI"), "generate", "--model", "tiny", "--dry-run", "--size", "96x64",
                         "--frames", "9", "--steps", "3", "-o", out, NULL };
  g_assert_nonnull (argv[0]);
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &so, &se, &status, &error));
  g_test_message ("stdout: %s\nstderr: %s", so, se);
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  g_assert_nonnull (strstr (so, "pre-flight estimate: "));
  g_assert_nonnull (strstr (so, "96x64, 9 frames, 3 steps (6 DiT forwards)"));
  g_assert_nonnull (strstr (so, "verdict        fits"));
  g_assert_nonnull (strstr (so, "RAM peak"));
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));

  /* frames the model refuses: its rule (model capabilities) says why and what is near, exit 2 */
  g_clear_pointer (&so, g_free);
  g_clear_pointer (&se, g_free);
  argv[8] = "6";
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &so, &se, &status, &error));
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 2);
  g_assert_nonnull (strstr (se, "Wan2.2 needs a frame count of 4n+1: 5 or 9 (not 6)"));

  /* a normal run: one pre-flight line before it starts */
  g_clear_pointer (&so, g_free);
  g_clear_pointer (&se, g_free);
  const char *run[] = { argv[0], "generate", "--model", "tiny", "--prompt", "a fox", "--size", "96x64", "--frames",
                        "5", "--steps", "1", "-o", out, NULL };
  g_assert_true (g_spawn_sync (NULL, (char **) run, NULL, G_SPAWN_DEFAULT, NULL, NULL, &so, &se, &status, &error));
  g_test_message ("stderr: %s", se);
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  g_assert_nonnull (strstr (se, "pre-flight: fits: "));
  g_autofree char *side = g_strdup_printf ("%s.json", out);
  g_remove (side);
  g_remove (out);
  g_rmdir (dir);
}

static void
test_tiny_mp4 (void)
{
  g_autofree char *dir = g_dir_make_tmp ("kinora-cli-XXXXXX", NULL);
  g_autofree char *out = g_build_filename (dir, "fox.mp4", NULL);
  g_autofree char *side = g_strdup_printf ("%s.json", out);
  g_autofree char *err = NULL;
  const char *args[] = { "--model", "tiny", "--prompt", "a red fox in the snow", "--size", "96x64", "--frames", "9",
                         "--steps", "3", "--seed", "42", "-o", out, NULL };
  g_assert_cmpint (run_cli (&err, args), ==, 0);
  g_assert_nonnull (strstr (err, "random weights"));

  g_autofree char *uri = gst_filename_to_uri (out, NULL);
  g_autoptr (GError) error = NULL;
  GstDiscoverer *d = gst_discoverer_new (20 * GST_SECOND, &error);
  GstDiscovererInfo *info = gst_discoverer_discover_uri (d, uri, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gst_discoverer_info_get_result (info), ==, GST_DISCOVERER_OK);
  GList *vs = gst_discoverer_info_get_video_streams (info);
  g_assert_nonnull (vs);
  GstDiscovererVideoInfo *v = vs->data;
  g_assert_cmpint (gst_discoverer_video_info_get_width (v), ==, 96);
  g_assert_cmpint (gst_discoverer_video_info_get_height (v), ==, 64);
  g_assert_cmpint (gst_discoverer_video_info_get_framerate_num (v), ==, 24);
  /* 9 frames at 24 fps */
  double frames = (double) gst_discoverer_info_get_duration (info) / GST_SECOND * 24.0;
  g_assert_cmpfloat (fabs (frames - 9.0), <, 0.5);
  const GstTagList *tags = gst_discoverer_info_get_tags (info);
  g_autofree char *title = NULL, *comment = NULL;
  g_assert_true (gst_tag_list_get_string (tags, GST_TAG_TITLE, &title));
  g_assert_cmpstr (title, ==, "a red fox in the snow");
  g_assert_true (gst_tag_list_get_string (tags, GST_TAG_COMMENT, &comment));
  g_assert_nonnull (strstr (comment, "\"seed\":42"));
  g_assert_nonnull (strstr (comment, "\"steps\":3"));
  g_assert_nonnull (strstr (comment, "random weights"));
  gst_discoverer_stream_info_list_free (vs);
  g_object_unref (info);
  g_object_unref (d);

  g_autofree char *json = NULL;
  g_assert_true (g_file_get_contents (side, &json, NULL, NULL));
  g_assert_nonnull (strstr (json, "\"seed\":42"));
  g_remove (side);
  g_remove (out);
  g_rmdir (dir);
}

static void
test_bad_frames (void)
{
  g_autofree char *err = NULL;
  const char *args[] = { "--model", "tiny", "--prompt", "x", "--frames", "20", "-o", "/tmp/never.mp4", NULL };
  g_assert_cmpint (run_cli (&err, args), !=, 0);
  g_assert_nonnull (strstr (err, "Wan2.2 needs a frame count of 4n+1: 17 or 21 (not 20)"));
}

static void
test_bad_size (void)
{
  g_autofree char *err = NULL;
  const char *args[] = { "--model", "tiny", "--prompt", "x", "--size", "100x64", "-o", "/tmp/never.mp4", NULL };
  g_assert_cmpint (run_cli (&err, args), !=, 0);
  g_assert_nonnull (strstr (err, "multiples of 32"));
}

static void
test_unreadable_image (void)
{
  g_autofree char *err = NULL;
  const char *args[] = { "--model", "tiny", "--prompt", "x", "--image", "/nonexistent/picture.png", "-o",
                         "/tmp/never.mp4", NULL };
  g_assert_cmpint (run_cli (&err, args), !=, 0);
  g_assert_nonnull (strstr (err, "/nonexistent/picture.png"));
}

/* The TI2V DiT with the 16-channel Wan2.1 VAE: refused, naming the VAE file and what is needed. */
static void
test_wrong_vae (void)
{
  g_autofree char *dit = fixture ("dit_ti2v_tiny.weights.safetensors");
  g_autofree char *vae = fixture ("vae21_tiny.weights.safetensors");
  g_autofree char *model = g_strdup_printf ("%s,%s", dit, vae);
  g_autofree char *err = NULL;
  if (!g_file_test (dit, G_FILE_TEST_EXISTS) || !g_file_test (vae, G_FILE_TEST_EXISTS))
    {
      g_test_fail_printf ("fixtures not found: %s", dit);
      return;
    }
  const char *args[] = { "--model", model, "--prompt", "x", "-o", "/tmp/never.mp4", NULL };
  g_assert_cmpint (run_cli (&err, args), !=, 0);
  g_assert_nonnull (strstr (err, "vae21_tiny.weights.safetensors"));
  g_assert_nonnull (strstr (err, "16-channel"));
  g_assert_nonnull (strstr (err, "48-channel"));
}

/* A DiT file without one tensor: refused, naming the file and the tensor. */
static void
test_missing_tensor (void)
{
  g_autofree char *src = fixture ("dit_ti2v_tiny.weights.safetensors");
  g_autofree char *vae = fixture ("vae22_tiny.weights.safetensors");
  g_autofree char *dir = g_dir_make_tmp ("kinora-cli-XXXXXX", NULL);
  g_autofree char *dst = g_build_filename (dir, "dit-incomplete.safetensors", NULL);
  g_autofree char *err = NULL;
  struct ke_io *in = NULL;
  if (!g_file_test (src, G_FILE_TEST_EXISTS))
    {
      g_test_fail_printf ("fixtures not found: %s", src);
      return;
    }
  g_assert_cmpint (ke_io_read (&in, src, NULL), ==, KE_STATUS_OK);
  struct ke_io *out = ke_io_new (dst);
  for (int i = 0; i < in->n; i++)
    {
      const struct ke_io_tensor *t = &in->t[i];
      if (strcmp (t->name, "blocks.1.ffn.2.weight") == 0)
        continue;
      void *d = ke_io_add (out, t->name, t->type, t->n_dims, t->shape, NULL);
      memcpy (d, t->data, (size_t) t->n * ke_dtype_size ((enum ke_dtype) t->type));
    }
  ke_io_set_meta (out, "config", ke_io_meta (in, "config"));
  g_assert_cmpint (ke_io_write (out, dst, NULL), ==, KE_STATUS_OK);
  ke_io_free (out);
  ke_io_free (in);
  g_autofree char *model = g_strdup_printf ("%s,%s", dst, vae);
  const char *args[] = { "--model", model, "--prompt", "x", "-o", "/tmp/never.mp4", NULL };
  g_assert_cmpint (run_cli (&err, args), !=, 0);
  g_assert_nonnull (strstr (err, "blocks.1.ffn.2.weight"));
  g_assert_nonnull (strstr (err, "dit-incomplete.safetensors"));
  g_remove (dst);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli-generate/tiny-mp4", test_tiny_mp4);
  g_test_add_func ("/cli-generate/dry-run", test_dry_run);
  g_test_add_func ("/cli-generate/bad-frames", test_bad_frames);
  g_test_add_func ("/cli-generate/bad-size", test_bad_size);
  g_test_add_func ("/cli-generate/unreadable-image", test_unreadable_image);
  g_test_add_func ("/cli-generate/wrong-vae", test_wrong_vae);
  g_test_add_func ("/cli-generate/missing-tensor", test_missing_tensor);
  return g_test_run ();
}
