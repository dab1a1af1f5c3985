/* Tests of what kinora-cli generate records: the parameters read back from every format it writes
 * (and frame counts by ffprobe), the output folder checked before the model is opened, a decoded
 * latent carrying the prompt and seed saved with it, and stop-and-keep recording the steps it ran
 * (through the engine API, as the CLI's Ctrl+C does).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <sys/wait.h>

#include "kinora-export.h"
#include "kinora-metadata.h"
#include "export-test-util.h"
#include <gst/gst.h>

static void
drop_root_cb (gpointer user_data)
{
  /* runs in the child between fork and exec: no GLib assertions here */
  if (geteuid () == 0 && (setgid (65534) != 0 || setuid (65534) != 0))
    _exit (99);
}

/* kinora-cli generate --quiet ARGS; the exit status, stderr in *err_out */
static int
run_cli (char              **err_out,
         gboolean            as_nobody,
         const char *const  *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  int status = -1;

  g_ptr_array_add (argv, (char *) g_getenv ("KINORA_CLI"));
  g_ptr_array_add (argv, (char *) "generate");
  g_ptr_array_add (argv, (char *) "--quiet");
  for (int i = 0; args[i]; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);
  g_assert_nonnull (g_ptr_array_index (argv, 0));
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL,
                               as_nobody ? drop_root_cb : NULL, NULL, NULL, err_out, &status, &error));
  g_test_message ("stderr: %s", *err_out);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static void
check_cli_format (const char *name)
{
  g_autofree char *dir = g_dir_make_tmp ("kinora-cli-meta-XXXXXX", NULL);
  g_autofree char *out = g_build_filename (dir, name, NULL);
  g_autofree char *err = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (KinoraMetadata) m = NULL;
  g_autoptr (KinoraMetadata) side = NULL;
  g_autofree char *sidecar = NULL;
  KinoraExportFormat format;
  const char *args[] = { "--model", "tiny", "--prompt", "a red fox, 狐, in the snow", "--size", "64x64", "--frames", "9",
                         "--steps", "2", "--seed", "4242", "--solver", "euler", "--guide", "4.5", "--shift", "3",
                         "-o", out, NULL };

  g_assert_cmpint (run_cli (&err, FALSE, args), ==, 0);
  m = kinora_metadata_read (out, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (m->params.prompt, ==, "a red fox, 狐, in the snow");
  g_assert_null (m->params.negative_prompt);
  g_assert_cmpint (m->params.task, ==, KE_TASK_TI2V_5B);
  g_assert_cmpint (m->params.seed, ==, 4242);
  g_assert_cmpint (m->params.steps, ==, 2);
  g_assert_cmpint (m->params.solver, ==, KE_SOLVER_EULER);
  g_assert_cmpfloat (m->params.guide, ==, 4.5f);
  g_assert_cmpfloat (m->params.shift, ==, 3.0f);
  g_assert_cmpint (m->params.width, ==, 64);
  g_assert_cmpint (m->params.height, ==, 64);
  g_assert_cmpint (m->params.n_frames, ==, 9);
  g_assert_cmpfloat (m->params.fps, ==, 24);
  g_assert_nonnull (strstr (m->model, "tiny"));
  /* the sidecar says the same */
  g_assert_true (kinora_export_format_from_path (out, &format, NULL));
  sidecar = kinora_export_sidecar_path (out, format);
  side = kinora_metadata_read (sidecar, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (side->params.prompt, ==, m->params.prompt);
  g_assert_cmpint (side->params.seed, ==, 4242);
  /* and every frame is there, counted by another decoder */
  g_assert_cmpint (export_test_count_frames (out), ==, 9);
  export_test_rm_rf (dir);
}

static void
test_mp4 (void)
{
  check_cli_format ("fox.mp4");
}

static void
test_webm (void)
{
  check_cli_format ("fox.webm");
}

static void
test_gif (void)
{
  check_cli_format ("fox.gif");
}

static void
test_png (void)
{
  check_cli_format ("frames/");
}

/* A missing or read-only folder ends the run before the model is opened (the model's note is never
 * printed), with the folder's name and exit status 2. */
static void
test_target_up_front (void)
{
  g_autofree char *dir = g_dir_make_tmp ("kinora-cli-meta-XXXXXX", NULL);
  g_autofree char *missing = g_build_filename (dir, "no-such-folder", "fox.mp4", NULL);
  g_autofree char *ro = g_build_filename (dir, "ro", NULL);
  g_autofree char *ro_out = g_build_filename (ro, "fox.webm", NULL);
  g_autofree char *err = NULL, *err2 = NULL;
  const char *args[] = { "--model", "tiny", "--prompt", "x", "--size", "64x64", "--frames", "9", "-o", missing, NULL };
  const char *args2[] = { "--model", "tiny", "--prompt", "x", "--size", "64x64", "--frames", "9", "-o", ro_out, NULL };

  g_assert_cmpint (run_cli (&err, FALSE, args), ==, 2);
  g_assert_nonnull (strstr (err, "does not exist"));
  g_assert_nonnull (strstr (err, "no-such-folder"));
  g_assert_null (strstr (err, "noise by design"));

  g_assert_cmpint (g_chmod (dir, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (ro, 0555), ==, 0);
  g_assert_cmpint (g_chmod (ro, 0555), ==, 0);
  g_assert_cmpint (run_cli (&err2, TRUE, args2), ==, 2);
  g_assert_nonnull (strstr (err2, "cannot write"));
  g_assert_nonnull (strstr (err2, ro));
  g_assert_null (strstr (err2, "noise by design"));
  export_test_rm_rf (dir);
}

/* --decode-latent: the output records the prompt, seed and steps saved with the latent, not the
 * defaults (or a --prompt given for the decode). */
static void
test_decode_latent (void)
{
  g_autofree char *dir = g_dir_make_tmp ("kinora-cli-meta-XXXXXX", NULL);
  g_autofree char *latent = g_build_filename (dir, "fox.safetensors", NULL);
  g_autofree char *first = g_build_filename (dir, "first.mp4", NULL);
  g_autofree char *decoded = g_build_filename (dir, "decoded.gif", NULL);
  g_autofree char *err = NULL, *err2 = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (KinoraMetadata) a = NULL;
  g_autoptr (KinoraMetadata) b = NULL;
  const char *args[] = { "--model", "tiny", "--prompt", "a cat on a roof", "--negative", "rain", "--size", "64x64",
                         "--frames", "9", "--steps", "3", "--seed", "1234", "--solver", "dpm++", "--fps", "12",
                         "--save-latent", latent, "-o", first, NULL };
  const char *args2[] = { "--model", "tiny", "--prompt", "not this one", "--decode-latent", latent, "-o", decoded,
                          NULL };

  g_assert_cmpint (run_cli (&err, FALSE, args), ==, 0);
  g_assert_cmpint (run_cli (&err2, FALSE, args2), ==, 0);
  a = kinora_metadata_read (first, &error);
  g_assert_no_error (error);
  b = kinora_metadata_read (decoded, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (b->params.prompt, ==, "a cat on a roof");
  g_assert_cmpstr (b->params.negative_prompt, ==, "rain");
  g_assert_cmpint (b->params.seed, ==, 1234);
  g_assert_cmpint (b->params.steps, ==, 3);
  g_assert_cmpint (b->params.solver, ==, KE_SOLVER_DPMPP);
  g_assert_cmpfloat (b->params.fps, ==, 12);
  g_assert_cmpint (b->params.width, ==, a->params.width);
  g_assert_cmpint (b->params.height, ==, a->params.height);
  g_assert_cmpint (b->params.n_frames, ==, 9);
  g_assert_nonnull (strstr (err2, "seed 1234"));
  export_test_rm_rf (dir);
}

typedef struct
{
  int previews;
  int stop_after;
} StopState;

static void
count_preview_cb (const struct ke_preview *p,
                  void                    *user_data)
{
  StopState *s = user_data;
  s->previews = p->step;
}

/* what the CLI's first Ctrl+C answers: 2, stop sampling and keep the estimate */
static int
stop_abort_cb (void *user_data)
{
  StopState *s = user_data;
  return s->previews >= s->stop_after ? 2 : 0;
}

/* Stop-and-keep after step 2 of 6: the video and its file say 2 steps, and the random seed chosen
 * by the engine is the one recorded. */
static void
test_stop_and_keep (void)
{
  g_autofree char *dir = g_dir_make_tmp ("kinora-cli-meta-XXXXXX", NULL);
  g_autofree char *out = g_build_filename (dir, "kept.webm", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (KinoraMetadata) m = NULL;
  struct ke_error err = { 0 };
  ke_model_t *model = NULL;
  struct ke_video *v = NULL;
  StopState s = { 0, 2 };

  g_assert_cmpint (ke_model_open (&model, "tiny", &err), ==, KE_STATUS_OK);
  struct ke_gen_params p = ke_model_params_default (model);
  p.prompt = "stopped early";
  p.width = 64;
  p.height = 64;
  p.n_frames = 5;
  p.steps = 6;
  p.seed = -1;
  p.preview = count_preview_cb;
  p.abort = stop_abort_cb;
  p.user_data = &s;
  g_assert_cmpint (ke_generate (model, &p, &v, &err), ==, KE_STATUS_OK);
  g_assert_nonnull (v->made_with);
  g_assert_cmpint (v->made_with->steps, ==, 2);
  g_assert_cmpint (v->made_with->seed, >=, 0);
  g_assert_cmpstr (v->made_with->prompt, ==, "stopped early");
  g_assert_true (kinora_export_save (out, KINORA_EXPORT_WEBM, v->rgb, v->width, v->height, v->n_frames, v->fps,
                                     v->made_with, ke_model_name (model), NULL, NULL, TRUE, &error));
  g_assert_no_error (error);
  m = kinora_metadata_read (out, &error);
  g_assert_no_error (error);
  g_assert_cmpint (m->params.steps, ==, 2);
  g_assert_cmpint (m->params.seed, ==, v->made_with->seed);

  /* a run to the end records all its steps */
  ke_video_free (v);
  v = NULL;
  s.stop_after = 1000;
  p.seed = 5;
  g_assert_cmpint (ke_generate (model, &p, &v, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (v->made_with->steps, ==, 6);
  g_assert_cmpint (v->made_with->seed, ==, 5);
  ke_video_free (v);
  ke_model_free (model);
  export_test_rm_rf (dir);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli-metadata/mp4", test_mp4);
  g_test_add_func ("/cli-metadata/webm", test_webm);
  g_test_add_func ("/cli-metadata/gif", test_gif);
  g_test_add_func ("/cli-metadata/png", test_png);
  g_test_add_func ("/cli-metadata/target-up-front", test_target_up_front);
  g_test_add_func ("/cli-metadata/decode-latent", test_decode_latent);
  g_test_add_func ("/cli-metadata/stop-and-keep", test_stop_and_keep);
  return g_test_run ();
}
