/* test-params.c: tests for ui/kinora-params.c: frames snapping, sizes, crops, JSON round trip and
 * the older JSON layouts; and what the GUI saves: files written through kinora-exporter read back to
 * the settings that made them, a KinoraJob stopped early recording the steps it ran.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <gtk/gtk.h>
#include <gst/gst.h>

#include "kinora-exporter.h"
#include "kinora-job.h"
#include "kinora-metadata.h"
#include "kinora-params.h"
#include "../export/export-test-util.h"

static void
test_snap_frames (void)
{
  g_assert_cmpint (kinora_snap_frames (-3), ==, 1);
  g_assert_cmpint (kinora_snap_frames (1), ==, 1);
  g_assert_cmpint (kinora_snap_frames (2), ==, 1);
  g_assert_cmpint (kinora_snap_frames (4), ==, 5);
  g_assert_cmpint (kinora_snap_frames (81), ==, 81);
  g_assert_cmpint (kinora_snap_frames (82), ==, 81);
  g_assert_cmpint (kinora_snap_frames (84), ==, 85);
  for (int n = 1; n < 300; n++)
    g_assert_cmpint ((kinora_snap_frames (n) - 1) % 4, ==, 0);
}

static void
test_parse_size (void)
{
  int w = 0, h = 0;

  g_assert_true (kinora_parse_size ("1280*704", &w, &h));
  g_assert_cmpint (w, ==, 1280);
  g_assert_cmpint (h, ==, 704);
  g_assert_true (kinora_parse_size ("64x32", &w, &h));
  g_assert_cmpint (w, ==, 64);
  g_assert_true (kinora_parse_size ("832 × 480", &w, &h));
  g_assert_cmpint (w, ==, 832);
  g_assert_cmpint (h, ==, 480);
  {
    g_autofree char *label = kinora_size_to_label (704, 1280);
    g_assert_true (kinora_parse_size (label, &w, &h));
    g_assert_cmpint (w, ==, 704);
    g_assert_cmpint (h, ==, 1280);
  }
  g_assert_false (kinora_parse_size ("1280", &w, &h));
  g_assert_false (kinora_parse_size ("-5*10", &w, &h));
  g_assert_false (kinora_parse_size ("5*10px", &w, &h));
  g_assert_false (kinora_parse_size (NULL, &w, &h));
}

/* TI2V-5B: best_output_size of the reference: a 1920x1080 image at area 1280*704 gives 1248x704
 * (candidate 1: ow1 = 32*floor(1266.9/32) = 1248, oh1 = 32*floor(722.05/32) = 704) and a crop
 * that keeps the aspect of the output. I2V-A14B stretches the whole image. */
static void
test_crop (void)
{
  graphene_rect_t crop;
  int ow, oh;

  kinora_image_crop (KE_TASK_TI2V_5B, 1920, 1080, 1280, 704, &crop, &ow, &oh);
  g_assert_cmpint (ow, ==, 1248);
  g_assert_cmpint (oh, ==, 704);
  g_assert_cmpint (ow % 32, ==, 0);
  g_assert_cmpfloat_with_epsilon (crop.size.width / crop.size.height, (double) ow / oh, 1e-6);
  g_assert_cmpfloat (crop.origin.x + crop.size.width, <=, 1920 + 1e-6);
  g_assert_cmpfloat (crop.origin.y + crop.size.height, <=, 1080 + 1e-6);

  kinora_image_crop (KE_TASK_I2V_A14B, 1000, 1000, 832, 480, &crop, &ow, &oh);
  g_assert_cmpfloat (crop.size.width, ==, 1000);
  g_assert_cmpint (ow % 16, ==, 0);
  g_assert_cmpint (oh % 16, ==, 0);
  g_assert_cmpint (ow * oh, <=, 832 * 480);
}

static void
test_json_round_trip (void)
{
  g_autoptr(KinoraParams) p = kinora_params_new_for_task (KE_TASK_T2V_A14B);
  g_autoptr(KinoraParams) q = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *json = NULL;

  p->model = g_strdup ("/models/Wan2.2-T2V-A14B");
  g_free (p->prompt);
  p->prompt = g_strdup ("a \"quoted\" fox — in snow\nsecond line");
  p->width = 832;
  p->height = 480;
  p->n_frames = 17;
  p->steps = 7;
  p->guide = 2.5;
  p->guide_high = 4.5;
  p->shift = 8;
  p->seed = G_GINT64_CONSTANT (9007199254740993);   /* beyond double precision */
  p->fps = 12;
  p->solver = KE_SOLVER_EULER;

  json = kinora_params_to_json (p);
  q = kinora_params_new_from_json (json, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (q->model, ==, p->model);
  g_assert_cmpint (q->task, ==, KE_TASK_T2V_A14B);
  g_assert_cmpstr (q->prompt, ==, p->prompt);
  g_assert_cmpstr (q->negative_prompt, ==, p->negative_prompt);
  g_assert_cmpint (q->width, ==, 832);
  g_assert_cmpint (q->height, ==, 480);
  g_assert_cmpint (q->n_frames, ==, 17);
  g_assert_cmpint (q->steps, ==, 7);
  g_assert_cmpfloat (q->guide, ==, 2.5);
  g_assert_cmpfloat (q->guide_high, ==, 4.5);
  g_assert_cmpfloat (q->shift, ==, 8);
  g_assert_cmpint (q->seed, ==, p->seed);
  g_assert_cmpfloat (q->fps, ==, 12);
  g_assert_cmpint (q->solver, ==, KE_SOLVER_EULER);

  g_assert_null (kinora_params_new_from_json ("{ not json", &error));
  g_assert_nonnull (error);
}

/* LoRAs, the step cache and TAEHV survive a copy and the JSON round trip; kinora_params_to_ke hands them
 * to the engine; a record without them keeps the defaults (no LoRA, no cache, VAE, latent previews). */
static void
test_json_speedups (void)
{
  g_autoptr(KinoraParams) p = kinora_params_new_for_task (KE_TASK_I2V_A14B);
  g_autoptr(KinoraParams) c = NULL;
  g_autoptr(KinoraParams) q = NULL;
  g_autoptr(KinoraParams) plain = kinora_params_new_from_json ("{\"task\": \"ti2v-5B\", \"prompt\": \"x\"}", NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *json = NULL;
  struct ke_gen_params kp;
  struct ke_image image;

  g_assert_true (kinora_params_add_lora (p, "/loras/high.safetensors", 1.0, 0.0));
  g_assert_true (kinora_params_add_lora (p, "/loras/low & detail.safetensors", 0.75, 1.25));
  p->cache = KE_CACHE_EASY;
  p->cache_threshold = 0.15;
  p->cache_skipped = 6;
  p->decoder = KE_DECODER_TAEHV;
  p->preview_source = KE_PREVIEW_TAEHV;
  p->taehv_path = g_strdup ("/weights/taew2_1.safetensors");
  for (int i = 2; i < KE_MAX_LORAS; i++)
    g_assert_true (kinora_params_add_lora (p, "/loras/more.safetensors", 0.1, 0.1));
  g_assert_false (kinora_params_add_lora (p, "/loras/one-too-many.safetensors", 1, 1));
  g_assert_cmpint (p->n_loras, ==, KE_MAX_LORAS);

  c = kinora_params_copy (p);
  g_clear_pointer (&p, kinora_params_free);   /* the copy owns its strings */
  kinora_params_to_ke (c, &kp, &image);
  g_assert_cmpint (kp.n_loras, ==, KE_MAX_LORAS);
  g_assert_cmpstr (kp.loras[1].path, ==, "/loras/low & detail.safetensors");
  g_assert_cmpfloat (kp.loras[1].strength, ==, 0.75f);
  g_assert_cmpfloat (kp.loras[1].strength_high, ==, 1.25f);
  g_assert_cmpint (kp.cache, ==, KE_CACHE_EASY);
  g_assert_cmpfloat (kp.cache_threshold, ==, 0.15f);
  g_assert_cmpint (kp.decoder, ==, KE_DECODER_TAEHV);
  g_assert_cmpint (kp.preview_source, ==, KE_PREVIEW_TAEHV);
  g_assert_cmpstr (kp.taehv_path, ==, "/weights/taew2_1.safetensors");

  json = kinora_params_to_json (c);
  q = kinora_params_new_from_json (json, &error);
  g_assert_no_error (error);
  g_assert_cmpint (q->n_loras, ==, KE_MAX_LORAS);
  g_assert_cmpstr (q->loras[0].path, ==, "/loras/high.safetensors");
  g_assert_cmpfloat (q->loras[0].strength_high, ==, 0.0f);
  g_assert_cmpstr (q->loras[1].path, ==, "/loras/low & detail.safetensors");
  g_assert_cmpfloat (q->loras[1].strength, ==, 0.75f);
  g_assert_cmpfloat (q->loras[1].strength_high, ==, 1.25f);
  g_assert_cmpint (q->cache, ==, KE_CACHE_EASY);
  g_assert_cmpfloat_with_epsilon (q->cache_threshold, 0.15, 1e-6);
  g_assert_cmpint (q->cache_skipped, ==, 6);
  g_assert_cmpint (q->decoder, ==, KE_DECODER_TAEHV);
  g_assert_cmpint (q->preview_source, ==, KE_PREVIEW_TAEHV);
  g_assert_cmpstr (q->taehv_path, ==, "/weights/taew2_1.safetensors");

  g_assert_nonnull (plain);
  g_assert_cmpint (plain->n_loras, ==, 0);
  g_assert_cmpint (plain->cache, ==, KE_CACHE_OFF);
  g_assert_cmpint (plain->decoder, ==, KE_DECODER_VAE);
  g_assert_cmpint (plain->preview_source, ==, KE_PREVIEW_LATENT);
  g_assert_null (plain->taehv_path);
}

/* params.json of the history and the sidecars of both older layouts still load */
/* The backend and precision come back only where a record names them; a name the engine does not
 * know makes the record invalid (as an unknown solver does), with the key in the message. */
static void
test_json_backend_precision (void)
{
  g_autoptr(KinoraParams) named = kinora_params_new_from_json (
      "{\"task\": \"ti2v-5B\", \"prompt\": \"x\", \"backend\": \"cuda\", \"precision\": \"fp32\"}", NULL);
  g_autoptr(KinoraParams) plain = kinora_params_new_from_json ("{\"task\": \"ti2v-5B\", \"prompt\": \"x\"}", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(KinoraParams) bogus = kinora_params_new_from_json (
      "{\"task\": \"ti2v-5B\", \"backend\": \"/bin/sh\", \"precision\": \"fp8\"}", &error);
  struct ke_gen_params p;
  struct ke_image image;

  g_assert_nonnull (named);
  g_assert_cmpstr (named->backend, ==, "cuda");
  g_assert_cmpint (named->precision, ==, KE_PRECISION_FP32);
  kinora_params_to_ke (named, &p, &image);
  g_assert_cmpstr (p.backend, ==, "cuda");
  g_assert_cmpint (p.precision, ==, KE_PRECISION_FP32);

  g_assert_nonnull (plain);
  g_assert_null (plain->backend);
  g_assert_cmpint (plain->precision, ==, KE_PRECISION_BF16);

  g_assert_null (bogus);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "backend"));

  /* fp8 (the GPU's fast path) comes back as fp8; an unknown precision is refused naming the key */
  {
    g_autoptr(KinoraParams) fp8 = kinora_params_new_from_json (
        "{\"task\": \"ti2v-5B\", \"prompt\": \"x\", \"backend\": \"cuda\", \"precision\": \"fp8\"}", NULL);
    g_autoptr(GError) perror = NULL;
    g_autoptr(KinoraParams) fp4 = kinora_params_new_from_json (
        "{\"task\": \"ti2v-5B\", \"prompt\": \"x\", \"precision\": \"fp4\"}", &perror);
    g_autofree char *json = NULL;

    g_assert_nonnull (fp8);
    g_assert_cmpint (fp8->precision, ==, KE_PRECISION_FP8);
    kinora_params_to_ke (fp8, &p, &image);
    g_assert_cmpint (p.precision, ==, KE_PRECISION_FP8);
    /* and is written as fp8 again */
    json = kinora_params_to_json (fp8);
    g_assert_nonnull (strstr (json, "\"precision\":\"fp8\""));
    g_assert_null (fp4);
    g_assert_nonnull (perror);
    g_assert_nonnull (strstr (perror->message, "precision"));
  }
}

static void
test_json_old_layouts (void)
{
  const char *gui = "{ \"generator\":\"Kinora 0.1.0\", \"model\":\"tiny\", \"task\":\"ti2v-5b\", "
                    "\"prompt\":\"a fox\", \"negative_prompt\":\"\", \"width\":128, \"height\":64, "
                    "\"frames\":9, \"fps\":16.0, \"steps\":4, \"guidance\":5.5, \"guidance_high\":5.5, "
                    "\"shift\":5.0, \"seed\":42, \"solver\":1 }";
  const char *cli = "{ \"prompt\":\"a fox\", \"negative_prompt\":\"(official default)\", \"model\":\"tiny\", "
                    "\"seed\":43, \"steps\":3, \"guide\":4.5, \"guide_high\":4.5, \"shift\":5, "
                    "\"solver\":\"euler\", \"size\":\"96x64\", \"frames\":9, \"fps\":24, \"image\":\"\" }";
  g_autoptr(GError) error = NULL;
  g_autoptr(KinoraParams) a = kinora_params_new_from_json (gui, &error);
  g_autoptr(KinoraParams) b = NULL;

  g_assert_no_error (error);
  g_assert_cmpint (a->width, ==, 128);
  g_assert_cmpint (a->height, ==, 64);
  g_assert_cmpfloat (a->guide, ==, 5.5);
  g_assert_cmpint (a->solver, ==, KE_SOLVER_DPMPP);
  g_assert_cmpint (a->seed, ==, 42);
  b = kinora_params_new_from_json (cli, &error);
  g_assert_no_error (error);
  g_assert_cmpint (b->width, ==, 96);
  g_assert_cmpint (b->height, ==, 64);
  g_assert_cmpfloat (b->guide, ==, 4.5);
  g_assert_cmpint (b->solver, ==, KE_SOLVER_EULER);
  g_assert_cmpint (b->seed, ==, 43);
  g_assert_cmpint (b->steps, ==, 3);
  g_assert_null (b->image_path);
  /* a value no int holds is refused, not cast */
  g_clear_pointer (&b, kinora_params_free);
  b = kinora_params_new_from_json ("{\"width\": 1e300}", &error);
  g_assert_null (b);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "width"));
}

/* The GUI's save path (kinora_exporter_write, what the window's export and the history call) for
 * every format: the file and its sidecar give back the settings; ffprobe counts every frame. */
static void
test_gui_files_read_back (void)
{
  static const struct { KinoraExportFormat format; const char *name; } formats[] = {
    { KINORA_EXPORT_MP4, "clip.mp4" }, { KINORA_EXPORT_WEBM, "clip.webm" },
    { KINORA_EXPORT_GIF, "clip.gif" }, { KINORA_EXPORT_PNG, "frames" },
  };
  g_autofree char *dir = g_dir_make_tmp ("kinora-gui vidéo 狐-XXXXXX", NULL);   /* a non-ASCII home folder */
  g_autofree char *image = g_build_filename (dir, "fox.png", NULL);
  g_autoptr(KinoraParams) p = kinora_params_new_for_task (KE_TASK_TI2V_5B);
  const int w = 64, h = 32, n = 17;
  g_autofree guint8 *rgb = export_test_noise (w, h, n, 7);
  g_autoptr(GBytes) bytes = g_bytes_new (rgb, (gsize) w * h * n * 3);
  g_autoptr(KinoraVideo) video = kinora_video_new (bytes, w, h, n, 16);

  g_assert_true (g_file_set_contents (image, "not really a picture", -1, NULL));
  p->model = g_strdup ("tiny");
  g_free (p->prompt);
  p->prompt = g_strdup ("a fox — 狐 — in snow");
  p->image_path = g_strdup (image);
  p->image_rgb = g_bytes_new (rgb, 3);
  p->image_width = 1;
  p->image_height = 1;
  p->width = 128;
  p->height = 64;
  p->n_frames = n;
  p->steps = 3;
  p->guide = 4.25;
  p->guide_high = 4.25;
  p->shift = 6;
  p->seed = G_GINT64_CONSTANT (9007199254740993);
  p->fps = 16;
  p->solver = KE_SOLVER_EULER;

  for (guint i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      g_autofree char *path = g_build_filename (dir, formats[i].name, NULL);
      g_autofree char *sidecar = kinora_export_sidecar_path (path, formats[i].format);
      g_autoptr(GError) error = NULL;
      g_autoptr(KinoraMetadata) m = NULL;
      g_autoptr(KinoraMetadata) side = NULL;
      g_autofree char *digest = kinora_metadata_file_digest (image, NULL);

      g_assert_true (kinora_exporter_write (video, p, formats[i].format, path, TRUE, &error));
      g_assert_no_error (error);
      m = kinora_metadata_read (path, &error);
      g_assert_no_error (error);
      side = kinora_metadata_read (sidecar, &error);
      g_assert_no_error (error);
      for (int k = 0; k < 2; k++)
        {
          const KinoraMetadata *x = k == 0 ? m : side;
          g_assert_cmpstr (x->params.prompt, ==, p->prompt);
          g_assert_cmpstr (x->params.negative_prompt, ==, p->negative_prompt);
          g_assert_cmpstr (x->model, ==, "tiny");
          g_assert_cmpstr (x->image, ==, image);
          g_assert_cmpint (x->params.width, ==, 128);
          g_assert_cmpint (x->params.height, ==, 64);
          g_assert_cmpint (x->params.n_frames, ==, n);
          g_assert_cmpint (x->params.steps, ==, 3);
          g_assert_cmpfloat (x->params.guide, ==, 4.25f);
          g_assert_cmpfloat (x->params.shift, ==, 6.0f);
          g_assert_cmpint (x->params.seed, ==, p->seed);
          g_assert_cmpint (x->params.solver, ==, KE_SOLVER_EULER);
          g_assert_cmpfloat (x->params.fps, ==, 16);
          g_assert_nonnull (x->digests);
          g_assert_cmpstr (x->digests[1], ==, digest);
        }
      g_assert_cmpint (export_test_count_frames (path), ==, n);
    }
  /* a folder that is not there: refused before anything is encoded */
  {
    g_autofree char *missing = g_build_filename (dir, "gone", "clip.mp4", NULL);
    g_autoptr(GError) error = NULL;
    g_assert_false (kinora_exporter_write (video, p, KINORA_EXPORT_MP4, missing, TRUE, &error));
    g_assert_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_TARGET);
  }
  export_test_rm_rf (dir);
}

typedef struct
{
  KinoraJob    *job;
  int           previews;
  GAsyncResult *result;
} JobRun;

static void
stop_on_preview_cb (KinoraJob   *job,
                    KinoraVideo *frames,
                    int          step,
                    int          n_steps,
                    JobRun      *run)
{
  run->previews = MAX (run->previews, step);
  if (step >= 1)
    kinora_job_stop_and_keep (job);
}

static void
job_done_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  JobRun *run = user_data;
  run->result = g_object_ref (result);
}

/* Stop-and-keep in the GUI: the job's settings (which the window copies into the history and
 * exports) say how many steps ran, not how many were asked for. */
static void
test_job_stop_and_keep_steps (void)
{
  g_autoptr(KinoraParams) p = kinora_params_new_for_task (KE_TASK_TI2V_5B);
  g_autoptr(KinoraJob) job = NULL;
  g_autoptr(KinoraVideo) video = NULL;
  g_autoptr(GError) error = NULL;
  JobRun run = { 0 };
  gint64 seed = 0;
  gint64 deadline;

  p->model = g_strdup ("tiny");
  g_free (p->prompt);
  p->prompt = g_strdup ("stop me");
  p->width = 64;
  p->height = 64;
  p->n_frames = 5;
  p->steps = 200;
  p->seed = 11;
  job = kinora_job_new_generate (p);
  run.job = job;
  g_signal_connect (job, "preview", G_CALLBACK (stop_on_preview_cb), &run);
  kinora_job_run_async (job, NULL, job_done_cb, &run);
  deadline = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;
  while (run.result == NULL && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_assert_nonnull (run.result);
  video = kinora_job_generate_finish (job, run.result, &seed, &error);
  g_assert_no_error (error);
  g_assert_nonnull (video);
  g_test_message ("steps recorded: %d of %d", kinora_job_get_params (job)->steps, p->steps);
  /* the stop is asked from the main loop after the first preview arrives: some steps ran, far fewer
   * than the 200 asked for, and the preview of the last one reached the main loop */
  g_assert_cmpint (kinora_job_get_params (job)->steps, >=, 1);
  g_assert_cmpint (kinora_job_get_params (job)->steps, <, p->steps);
  g_assert_cmpint (kinora_job_get_params (job)->steps, ==, run.previews);
  g_assert_cmpint (seed, ==, 11);
  g_object_unref (run.result);
  kinora_job_release_model ();
}

int
main (int   argc,
      char *argv[])
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/params/snap-frames", test_snap_frames);
  g_test_add_func ("/params/parse-size", test_parse_size);
  g_test_add_func ("/params/crop", test_crop);
  g_test_add_func ("/params/json-round-trip", test_json_round_trip);
  g_test_add_func ("/params/json-backend-precision", test_json_backend_precision);
  g_test_add_func ("/params/json-speedups", test_json_speedups);
  g_test_add_func ("/params/json-old-layouts", test_json_old_layouts);
  g_test_add_func ("/params/gui-files-read-back", test_gui_files_read_back);
  g_test_add_func ("/params/job-stop-and-keep-steps", test_job_stop_and_keep_steps);

  return g_test_run ();
}
