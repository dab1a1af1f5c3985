/* Tests for export/kinora-metadata.c and the file handling of export/kinora-export.c: the one
 * vocabulary (round trip, the older CLI and GUI layouts, bad values, invalid UTF-8), reading the
 * parameters back from MP4, WebM, PNG frames, GIF and sidecars, frame counts by an independent
 * decoder (ffprobe), non-ASCII file names, the target check and atomic writes on a full disk.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <gst/gst.h>
#include <gst/pbutils/pbutils.h>
#include <math.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "kinora-export.h"
#include "kinora-metadata.h"
#include "tiny-ltx-model.h"
#include "export-test-util.h"

/* Settings unlike every default, with a seed past a double's precision. */
static struct ke_gen_params
sample_params (void)
{
  struct ke_gen_params p = ke_gen_params_default (KE_TASK_T2V_A14B);

  p.prompt = "a \"quoted\" fox — in snow\nsecond line, 42";
  p.negative_prompt = "blurry";
  p.width = 832;
  p.height = 480;
  p.n_frames = 17;
  p.steps = 7;
  p.guide = 3.7f;
  p.guide_high = 4.25f;
  p.shift = 8.1f;
  p.seed = G_GINT64_CONSTANT (9007199254740993);
  p.solver = KE_SOLVER_DPMPP;
  p.fps = 23.976;
  p.backend = "cuda";
  p.precision = KE_PRECISION_FP32;
  /* LoRAs: a path with ':' and non-ASCII, strengths per expert, a negative one */
  static const struct ke_lora_spec loras[] = {
    { "/loras/lightning:v1/high_noïse.safetensors", 1.0f, 0.0f },
    { "/loras/style.safetensors", -0.35f, 0.8125f },
  };
  p.loras = loras;
  p.n_loras = 2;
  return p;
}

static const char *const sample_digests[] = { "image", "sha256:00ff", NULL };

static void
assert_params_equal (const KinoraMetadata       *m,
                     const struct ke_gen_params *p)
{
  g_assert_cmpint (m->params.task, ==, p->task);
  g_assert_cmpstr (m->params.prompt, ==, p->prompt);
  g_assert_cmpstr (m->params.negative_prompt, ==, p->negative_prompt);
  g_assert_cmpint (m->params.width, ==, p->width);
  g_assert_cmpint (m->params.height, ==, p->height);
  g_assert_cmpint (m->params.n_frames, ==, p->n_frames);
  g_assert_cmpint (m->params.steps, ==, p->steps);
  /* floats and doubles are written in their shortest exact form: equal, not close */
  g_assert_cmpfloat (m->params.guide, ==, p->guide);
  g_assert_cmpfloat (m->params.guide_high, ==, p->guide_high);
  g_assert_cmpfloat (m->params.shift, ==, p->shift);
  g_assert_cmpfloat (m->params.fps, ==, p->fps);
  g_assert_cmpint (m->params.seed, ==, p->seed);
  g_assert_cmpint (m->params.solver, ==, p->solver);
  g_assert_cmpstr (m->params.backend, ==, p->backend);
  g_assert_cmpint (m->params.precision, ==, p->precision);
  g_assert_cmpint (m->params.n_loras, ==, p->n_loras);
  for (int i = 0; i < p->n_loras; i++)
    {
      g_assert_cmpstr (m->params.loras[i].path, ==, p->loras[i].path);
      g_assert_cmpfloat (m->params.loras[i].strength, ==, p->loras[i].strength);
      g_assert_cmpfloat (m->params.loras[i].strength_high, ==, p->loras[i].strength_high);
    }
}

static void
test_round_trip (void)
{
  struct ke_gen_params p = sample_params ();
  g_autofree char *json = kinora_metadata_to_json (&p, "/models/Wan2.2-T2V-A14B", "/pics/fox.png", sample_digests);
  g_auto (GStrv) tags = kinora_metadata_to_tags (&p, "/models/Wan2.2-T2V-A14B", "/pics/fox.png", sample_digests);
  g_autoptr (GError) error = NULL;
  g_autoptr (KinoraMetadata) a = kinora_metadata_new_from_json (json, &error);
  g_autoptr (KinoraMetadata) b = NULL;

  g_test_message ("%s", json);
  g_assert_no_error (error);
  assert_params_equal (a, &p);
  g_assert_cmpstr (a->model, ==, "/models/Wan2.2-T2V-A14B");
  g_assert_cmpstr (a->image, ==, "/pics/fox.png");
  g_assert_nonnull (a->digests);
  g_assert_cmpstr (a->digests[0], ==, "image");
  g_assert_cmpstr (a->digests[1], ==, "sha256:00ff");
  g_assert_true (g_str_has_prefix (a->generator, "Kinora "));
  /* the vocabulary: one name per setting, the solver by name, numbers as numbers */
  g_assert_nonnull (strstr (json, "\"guidance\":3.7"));
  g_assert_nonnull (strstr (json, "\"guidance_high\":4.25"));
  g_assert_nonnull (strstr (json, "\"solver\":\"dpm++\""));
  g_assert_nonnull (strstr (json, "\"backend\":\"cuda\""));
  g_assert_nonnull (strstr (json, "\"precision\":\"fp32\""));
  g_assert_nonnull (strstr (json, "\"seed\":9007199254740993"));
  g_assert_nonnull (strstr (json, "\"width\":832"));
  g_assert_nonnull (strstr (json, "\"loras\":["));
  g_assert_nonnull (strstr (json, "\"path\":\"/loras/lightning:v1/high_noïse.safetensors\""));
  g_assert_nonnull (strstr (json, "\"strength\":-0.35"));
  g_assert_nonnull (strstr (json, "\"strength_high\":0.8125"));
  g_assert_null (strstr (json, "\"guide\""));
  g_assert_null (strstr (json, "\"size\""));
  /* a prompt made of digits stays a string */
  g_assert_nonnull (strstr (json, "\"prompt\":\""));

  b = kinora_metadata_new_from_tags ((const char * const *) tags, &error);
  g_assert_no_error (error);
  assert_params_equal (b, &p);

  /* no negative prompt: the official default, not written */
  p.negative_prompt = NULL;
  g_free (json);
  json = kinora_metadata_to_json (&p, NULL, NULL, NULL);
  g_assert_null (strstr (json, "negative_prompt"));
  g_clear_pointer (&a, kinora_metadata_free);
  a = kinora_metadata_new_from_json (json, &error);
  g_assert_no_error (error);
  g_assert_null (a->params.negative_prompt);
  g_assert_null (a->model);
  g_assert_null (a->image);

  /* each precision by its name, in the JSON and in the tags */
  static const struct
  {
    enum ke_precision p;
    const char *json;
  } precisions[] = {
    { KE_PRECISION_FP8, "\"precision\":\"fp8\"" },
    { KE_PRECISION_BF16, "\"precision\":\"bf16\"" },
    { KE_PRECISION_FP32, "\"precision\":\"fp32\"" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (precisions); i++)
    {
      p.precision = precisions[i].p;
      g_free (json);
      json = kinora_metadata_to_json (&p, NULL, NULL, NULL);
      g_assert_nonnull (strstr (json, precisions[i].json));
      g_clear_pointer (&a, kinora_metadata_free);
      a = kinora_metadata_new_from_json (json, &error);
      g_assert_no_error (error);
      g_assert_cmpint (a->params.precision, ==, precisions[i].p);
      g_strfreev (tags);
      tags = kinora_metadata_to_tags (&p, NULL, NULL, NULL);
      g_clear_pointer (&b, kinora_metadata_free);
      b = kinora_metadata_new_from_tags ((const char * const *) tags, &error);
      g_assert_no_error (error);
      g_assert_cmpint (b->params.precision, ==, precisions[i].p);
    }
}

/* The sidecar and the comment kinora-cli wrote before the vocabulary was shared. */
static void
test_old_cli (void)
{
  const char *json = "{ \"prompt\":\"a fox\", \"negative_prompt\":\"(official default)\", \"model\":\"tiny\", "
                     "\"random_weights\":\"true\", \"seed\":42, \"steps\":3, \"guide\":5.5, \"guide_high\":4.5, "
                     "\"shift\":5, \"solver\":\"euler\", \"size\":\"96x64\", \"frames\":9, \"fps\":24, "
                     "\"image\":\"\", \"generator\":\"Kinora\" }";
  const char *comment = "prompt=a fox\nnegative_prompt=(official default)\nmodel=tiny\nseed=42\nsteps=3\n"
                        "guide=5.5\nguide_high=4.5\nshift=5\nsolver=dpm++\nsize=96x64\nframes=9\nfps=24\nimage=";
  g_autoptr (GError) error = NULL;
  g_autoptr (KinoraMetadata) a = kinora_metadata_new_from_json (json, &error);
  g_autoptr (KinoraMetadata) b = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (a->params.prompt, ==, "a fox");
  g_assert_null (a->params.negative_prompt);
  g_assert_cmpstr (a->model, ==, "tiny");
  g_assert_null (a->image);
  g_assert_cmpint (a->params.seed, ==, 42);
  g_assert_cmpint (a->params.steps, ==, 3);
  g_assert_cmpfloat (a->params.guide, ==, 5.5f);
  g_assert_cmpfloat (a->params.guide_high, ==, 4.5f);
  g_assert_cmpint (a->params.solver, ==, KE_SOLVER_EULER);
  g_assert_cmpint (a->params.width, ==, 96);
  g_assert_cmpint (a->params.height, ==, 64);
  g_assert_cmpint (a->params.n_frames, ==, 9);
  g_assert_cmpfloat (a->params.fps, ==, 24);

  b = kinora_metadata_new_from_text (comment, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (b->params.prompt, ==, "a fox");
  g_assert_cmpint (b->params.seed, ==, 42);
  g_assert_cmpint (b->params.solver, ==, KE_SOLVER_DPMPP);
  g_assert_cmpint (b->params.width, ==, 96);
  g_assert_cmpfloat (b->params.guide, ==, 5.5f);
}

/* The GUI's tags and history params.json before: guidance, width/height, the solver as a number. */
static void
test_old_gui (void)
{
  const char *json = "{ \"generator\":\"Kinora 0.1.0\", \"model\":\"/m/A14B\", \"task\":\"t2v-a14b\", "
                     "\"prompt\":\"a cat\", \"negative_prompt\":\"\", \"width\":480, \"height\":832, "
                     "\"frames\":33, \"fps\":16.0, \"steps\":20, \"guidance\":3.0, \"guidance_high\":4.0, "
                     "\"shift\":12.0, \"seed\":7, \"solver\":2 }";
  /* tags hold every value as text */
  const char *const tags[] = { "prompt", "a cat", "task", "i2v-a14b", "width", "480", "height", "832", "solver", "1",
                               "guidance", "2.5", "seed", "9223372036854775807", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (KinoraMetadata) a = kinora_metadata_new_from_json (json, &error);
  g_autoptr (KinoraMetadata) b = NULL;

  g_assert_no_error (error);
  g_assert_cmpint (a->params.task, ==, KE_TASK_T2V_A14B);
  g_assert_cmpstr (a->model, ==, "/m/A14B");
  g_assert_null (a->params.negative_prompt);
  g_assert_cmpint (a->params.width, ==, 480);
  g_assert_cmpint (a->params.height, ==, 832);
  g_assert_cmpint (a->params.n_frames, ==, 33);
  g_assert_cmpint (a->params.steps, ==, 20);
  g_assert_cmpfloat (a->params.guide, ==, 3.0f);
  g_assert_cmpfloat (a->params.guide_high, ==, 4.0f);
  g_assert_cmpfloat (a->params.shift, ==, 12.0f);
  g_assert_cmpint (a->params.seed, ==, 7);
  g_assert_cmpint (a->params.solver, ==, KE_SOLVER_EULER);

  b = kinora_metadata_new_from_tags (tags, &error);
  g_assert_no_error (error);
  g_assert_cmpint (b->params.task, ==, KE_TASK_I2V_A14B);
  g_assert_cmpint (b->params.solver, ==, KE_SOLVER_DPMPP);
  g_assert_cmpfloat (b->params.guide, ==, 2.5f);
  g_assert_cmpint (b->params.seed, ==, G_MAXINT64);
}

static void
expect_bad (const char *json,
            const char *key)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (KinoraMetadata) m = kinora_metadata_new_from_json (json, &error);

  g_assert_null (m);
  g_assert_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA);
  g_test_message ("%s -> %s", json, error->message);
  g_assert_nonnull (strstr (error->message, key));
}

/* Values no int or float holds, or of the wrong kind: an error naming the key, never a cast. */
static void
test_bad_values (void)
{
  expect_bad ("{\"width\": 1e300}", "width");
  expect_bad ("{\"height\": -5}", "height");
  expect_bad ("{\"frames\": 2.5}", "frames");
  expect_bad ("{\"fps\": \"fast\"}", "fps");
  expect_bad ("{\"seed\": \"12abc\"}", "seed");
  expect_bad ("{\"seed\": 1e23}", "seed");
  expect_bad ("{\"solver\": 7}", "solver");
  expect_bad ("{\"solver\": \"heun\"}", "solver");
  expect_bad ("{\"backend\": \"tpu\"}", "backend");
  expect_bad ("{\"precision\": 16}", "precision");
  expect_bad ("{\"precision\": \"fp4\"}", "is not bf16, fp8 or fp32");
  expect_bad ("{\"size\": \"256x256x3\"}", "size");
  expect_bad ("{\"loras\": 5}", "loras");
  expect_bad ("{\"loras\": [{\"strength\": 1}]}", "loras");
  expect_bad ("{\"loras\": [{\"path\": \"a\", \"strength\": 1e9}]}", "strength");
  expect_bad ("{\"loras\": [{\"path\": \"a\", \"strength_high\": \"max\"}]}", "strength_high");
  expect_bad ("{ not json", "JSON");
  expect_bad ("[1, 2]", "JSON");
}

/* --- files ---------------------------------------------------------------------------------------- */

static char *
make_dir (void)
{
  char *dir = g_dir_make_tmp ("kinora-meta-XXXXXX", NULL);
  g_assert_nonnull (dir);
  return dir;
}

/* Save a 17-frame clip with the sample settings; read the parameters back from the file and from its
 * sidecar; count its frames with ffprobe. */
static void
check_read_back (const char *name,
                 int         n_frames)
{
  g_autofree char *dir = make_dir ();
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;
  struct ke_gen_params p = sample_params ();
  const int w = 64, h = 48;
  g_autofree guint8 *rgb = export_test_noise (w, h, n_frames, 1);
  KinoraExportFormat format;
  g_autofree char *sidecar = NULL;
  g_autoptr (KinoraMetadata) from_file = NULL;
  g_autoptr (KinoraMetadata) from_sidecar = NULL;

  p.n_frames = n_frames;
  g_assert_true (kinora_export_check_target (path, &error));
  g_assert_true (kinora_export_format_from_path (path, &format, &error));
  g_assert_true (kinora_export_save (path, format, rgb, w, h, n_frames, 16.0, &p, "tiny", NULL, sample_digests, TRUE,
                                     &error));
  g_assert_no_error (error);
  from_file = kinora_metadata_read (path, &error);
  g_assert_no_error (error);
  assert_params_equal (from_file, &p);
  g_assert_cmpstr (from_file->model, ==, "tiny");
  g_assert_cmpstr (from_file->digests[1], ==, "sha256:00ff");
  sidecar = kinora_export_sidecar_path (path, format);
  from_sidecar = kinora_metadata_read (sidecar, &error);
  g_assert_no_error (error);
  assert_params_equal (from_sidecar, &p);
  /* every frame is in the file, counted by another decoder */
  g_assert_cmpint (export_test_count_frames (path), ==, n_frames);
  export_test_rm_rf (dir);
}

static void
test_read_back_mp4 (void)
{
  check_read_back ("clip.mp4", 17);
}

/* 17 and 33 frames: libvpx with look-ahead kept 9 and 21 of them */
static void
test_read_back_webm (void)
{
  check_read_back ("clip.webm", 17);
  check_read_back ("clip.webm", 33);
}

static void
test_read_back_png (void)
{
  check_read_back ("frames/", 17);
}

static void
test_read_back_gif (void)
{
  check_read_back ("clip.gif", 17);
}

/* A prompt cut in the middle of a character (and a stray 0xff): the tags and the JSON keep every
 * setting, with U+FFFD where the bad bytes were. */
static void
test_invalid_utf8 (void)
{
  g_autofree char *dir = make_dir ();
  g_autofree char *mp4 = g_build_filename (dir, "clip.mp4", NULL);
  g_autofree char *gif = g_build_filename (dir, "clip.gif", NULL);
  g_autofree char *sidecar = g_strconcat (mp4, ".json", NULL);
  g_autoptr (GError) error = NULL;
  struct ke_gen_params p = sample_params ();
  g_autofree guint8 *rgb = export_test_noise (32, 32, 5, 2);
  const char *bad = "renard \xe7\x8b caf\xff end";
  /* g_utf8_make_valid: one U+FFFD for each byte that is not part of a valid character */
  const char *repaired = "renard \xef\xbf\xbd\xef\xbf\xbd caf\xef\xbf\xbd end";
  g_autofree char *text = NULL;
  g_auto (GStrv) tags = NULL;

  p.prompt = bad;
  p.n_frames = 5;
  tags = kinora_metadata_to_tags (&p, "tiny", NULL, NULL);
  for (int i = 0; tags[i] != NULL; i++)
    g_assert_true (g_utf8_validate (tags[i], -1, NULL));
  g_assert_cmpstr (tags[1], ==, repaired);

  g_assert_true (kinora_export_save (mp4, KINORA_EXPORT_MP4, rgb, 32, 32, 5, 16, &p, "tiny", NULL, NULL, TRUE,
                                     &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (sidecar, &text, NULL, NULL));
  g_assert_true (g_utf8_validate (text, -1, NULL));
  /* the MP4 keeps its title and comment tags */
  {
    g_autofree char *uri = gst_filename_to_uri (mp4, NULL);
    g_autoptr (GstDiscoverer) d = gst_discoverer_new (20 * GST_SECOND, NULL);
    g_autoptr (GstDiscovererInfo) info = gst_discoverer_discover_uri (d, uri, &error);
    g_autofree char *title = NULL;
    g_assert_no_error (error);
    g_assert_true (gst_tag_list_get_string (gst_discoverer_info_get_tags (info), GST_TAG_TITLE, &title));
    g_assert_cmpstr (title, ==, repaired);
  }
  {
    g_autoptr (KinoraMetadata) m = kinora_metadata_read (mp4, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (m->params.prompt, ==, repaired);
    g_assert_cmpint (m->params.seed, ==, p.seed);
  }
  /* the raw writer repairs any tags it is given, the MP4 title too */
  {
    const char *const raw[] = { "prompt", bad, "seed", "5", NULL };
    g_autofree char *raw_mp4 = g_build_filename (dir, "raw.mp4", NULL);
    g_autoptr (KinoraMetadata) m = NULL;
    g_assert_true (kinora_export_write (raw_mp4, KINORA_EXPORT_MP4, rgb, 32, 32, 5, 16, raw, &error));
    g_assert_no_error (error);
    m = kinora_metadata_read (raw_mp4, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (m->params.prompt, ==, repaired);
  }
  {
    const char *const raw[] = { "prompt", bad, "seed", "5", NULL };
    g_autoptr (KinoraMetadata) m = NULL;
    g_assert_true (kinora_export_write (gif, KINORA_EXPORT_GIF, rgb, 32, 32, 5, 16, raw, &error));
    m = kinora_metadata_read (gif, &error);
    g_assert_no_error (error);
    g_assert_cmpstr (m->params.prompt, ==, repaired);
    g_assert_cmpint (m->params.seed, ==, 5);
  }
  export_test_rm_rf (dir);
}

/* Files that hold no Kinora parameters, or are not files: an error naming the file, never a hang. */
static void
test_read_errors (void)
{
  g_autofree char *dir = make_dir ();
  g_autofree char *fifo = g_build_filename (dir, "fifo.gif", NULL);
  g_autofree char *plain = g_build_filename (dir, "plain.gif", NULL);
  g_autofree char *text = g_build_filename (dir, "text.mp4", NULL);
  g_autofree guint8 *rgb = export_test_noise (8, 8, 2, 6);
  const char *const no_tags[] = { NULL };
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  g_assert_null (kinora_metadata_read (fifo, &error));
  g_assert_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA);
  g_assert_nonnull (strstr (error->message, fifo));
  g_clear_error (&error);
  g_assert_null (kinora_metadata_file_digest (fifo, &error));
  g_assert_nonnull (error);
  g_clear_error (&error);

  g_assert_true (kinora_export_write (plain, KINORA_EXPORT_GIF, rgb, 8, 8, 2, 10, no_tags, &error));
  g_assert_null (kinora_metadata_read (plain, &error));
  g_assert_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA);
  g_assert_nonnull (strstr (error->message, "no Kinora parameters"));
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (text, "not a video", -1, NULL));
  g_assert_null (kinora_metadata_read (text, &error));
  g_assert_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA);
  g_assert_nonnull (strstr (error->message, text));
  export_test_rm_rf (dir);
}

/* "vidéo 狐.mp4": written under exactly that name (a pipeline made from a string mangled it). */
static void
test_non_ascii_path (void)
{
  g_autofree char *dir = make_dir ();
  g_autofree char *path = g_build_filename (dir, "vidéo 狐.mp4", NULL);
  g_autoptr (GError) error = NULL;
  struct ke_gen_params p = sample_params ();
  g_autofree guint8 *rgb = export_test_noise (32, 32, 9, 3);
  g_autofree char *listing = NULL;

  p.n_frames = 9;
  g_assert_true (kinora_export_check_target (path, &error));
  g_assert_true (kinora_export_save (path, KINORA_EXPORT_MP4, rgb, 32, 32, 9, 16, &p, "tiny", NULL, NULL, TRUE,
                                     &error));
  g_assert_no_error (error);
  listing = export_test_list_dir (dir);
  g_assert_cmpstr (listing, ==, "vidéo 狐.mp4 vidéo 狐.mp4.json");
  g_assert_cmpint (export_test_count_frames (path), ==, 9);
  export_test_rm_rf (dir);
}

static void
test_check_target (void)
{
  g_autofree char *dir = make_dir ();
  g_autofree char *ok = g_build_filename (dir, "clip.webm", NULL);
  g_autofree char *missing = g_build_filename (dir, "missing", "clip.mp4", NULL);
  g_autofree char *new_frames = g_build_filename (dir, "frames/", NULL);
  g_autofree char *missing_frames = g_build_filename (dir, "missing", "frames/", NULL);
  g_autofree char *is_dir = g_build_filename (dir, "folder.mp4", NULL);
  g_autofree char *file_dir = g_build_filename (dir, "file", NULL);
  g_autofree char *under_file = g_build_filename (dir, "file", "clip.gif", NULL);
  g_autoptr (GError) error = NULL;

  g_assert_true (kinora_export_check_target (ok, &error));
  g_assert_no_error (error);
  g_assert_true (kinora_export_check_target (new_frames, &error));
  g_assert_no_error (error);

  g_assert_false (kinora_export_check_target (missing, &error));
  g_assert_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_TARGET);
  g_assert_nonnull (strstr (error->message, "does not exist"));
  g_assert_nonnull (strstr (error->message, missing));
  g_clear_error (&error);
  g_assert_false (kinora_export_check_target (missing_frames, &error));
  g_assert_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_TARGET);
  g_clear_error (&error);

  g_assert_cmpint (g_mkdir (is_dir, 0755), ==, 0);
  g_assert_false (kinora_export_check_target (is_dir, &error));
  g_assert_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_TARGET);
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (file_dir, "x", 1, NULL));
  g_assert_false (kinora_export_check_target (under_file, &error));
  g_assert_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_TARGET);
  g_clear_error (&error);

  g_assert_false (kinora_export_check_target ("clip.avi", &error));
  g_assert_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_FORMAT);
  /* nothing was left behind by the checks */
  {
    g_autofree char *listing = export_test_list_dir (dir);
    g_assert_cmpstr (listing, ==, "file folder.mp4");
  }
  export_test_rm_rf (dir);
}

/* A read-only folder fails the check (as another user than root: root writes anywhere). */
static void
test_read_only_target (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *path = g_build_filename (g_getenv ("KINORA_TEST_DIR"), "ro", "clip.mp4", NULL);
      g_autofree char *frames = g_build_filename (g_getenv ("KINORA_TEST_DIR"), "ro", "frames/", NULL);
      export_test_drop_root ();
      g_assert_false (kinora_export_check_target (path, &error));
      g_assert_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_TARGET);
      g_assert_nonnull (strstr (error->message, "cannot write"));
      g_clear_error (&error);
      g_assert_false (kinora_export_check_target (frames, &error));
      g_assert_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_TARGET);
      return;
    }
  g_autofree char *dir = make_dir ();
  g_autofree char *ro = g_build_filename (dir, "ro", NULL);
  g_assert_cmpint (g_chmod (dir, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (ro, 0555), ==, 0);
  g_assert_cmpint (g_chmod (ro, 0555), ==, 0);
  g_setenv ("KINORA_TEST_DIR", dir, TRUE);
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
  export_test_rm_rf (dir);
}

/* --- a full disk ---------------------------------------------------------------------------------- */

/* In a child limited to 16 KiB a file (RLIMIT_FSIZE; SIGXFSZ ignored so writes fail with EFBIG): the
 * save fails, and the folder holds exactly what it held before, byte for byte. */
static void
check_full_disk (const char *name)
{
  KinoraExportFormat format;

  g_assert_true (kinora_export_format_from_path (name, &format, NULL));
  if (g_test_subprocess ())
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *path = g_build_filename (g_getenv ("KINORA_TEST_DIR"), name, NULL);
      struct rlimit lim = { 16384, 16384 };
      struct ke_gen_params p = sample_params ();
      g_autofree guint8 *rgb = export_test_noise (128, 128, 9, 4);
      g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &lim), ==, 0);
      signal (SIGXFSZ, SIG_IGN);
      p.n_frames = 9;
      g_assert_false (kinora_export_save (path, format, rgb, 128, 128, 9, 16, &p, "tiny", NULL, NULL, TRUE, &error));
      g_assert_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO);
      g_test_message ("%s", error->message);
      return;
    }
  g_autofree char *dir = make_dir ();
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *sidecar = kinora_export_sidecar_path (path, format);
  g_autofree char *old_video = format == KINORA_EXPORT_PNG ? g_build_filename (path, "frame_00000.png", NULL)
                                                            : g_strdup (path);
  g_autofree char *before = NULL, *after = NULL, *inner_before = NULL, *inner_after = NULL;
  g_autofree char *video_text = NULL, *sidecar_text = NULL;

  if (format == KINORA_EXPORT_PNG)
    g_assert_cmpint (g_mkdir (path, 0755), ==, 0);
  g_assert_true (g_file_set_contents (old_video, "the old video", -1, NULL));
  g_assert_true (g_file_set_contents (sidecar, "{\"old\": 1}", -1, NULL));
  before = export_test_list_dir (dir);
  if (format == KINORA_EXPORT_PNG)
    inner_before = export_test_list_dir (path);
  g_setenv ("KINORA_TEST_DIR", dir, TRUE);
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();

  after = export_test_list_dir (dir);
  g_assert_cmpstr (after, ==, before);
  if (format == KINORA_EXPORT_PNG)
    {
      inner_after = export_test_list_dir (path);
      g_assert_cmpstr (inner_after, ==, inner_before);
    }
  g_assert_true (g_file_get_contents (old_video, &video_text, NULL, NULL));
  g_assert_cmpstr (video_text, ==, "the old video");
  g_assert_true (g_file_get_contents (sidecar, &sidecar_text, NULL, NULL));
  g_assert_cmpstr (sidecar_text, ==, "{\"old\": 1}");
  export_test_rm_rf (dir);
}

static void
test_full_disk_mp4 (void)
{
  check_full_disk ("clip.mp4");
}

static void
test_full_disk_webm (void)
{
  check_full_disk ("clip.webm");
}

static void
test_full_disk_gif (void)
{
  check_full_disk ("clip.gif");
}

static void
test_full_disk_png (void)
{
  check_full_disk ("frames/");
}

/* A new folder of PNG frames that fails is removed again. */
static void
test_full_disk_new_png_folder (void)
{
  if (g_test_subprocess ())
    {
      g_autofree char *path = g_build_filename (g_getenv ("KINORA_TEST_DIR"), "frames/", NULL);
      struct rlimit lim = { 16384, 16384 };
      struct ke_gen_params p = sample_params ();
      g_autofree guint8 *rgb = export_test_noise (128, 128, 5, 5);
      g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &lim), ==, 0);
      signal (SIGXFSZ, SIG_IGN);
      g_assert_false (kinora_export_save (path, KINORA_EXPORT_PNG, rgb, 128, 128, 5, 16, &p, NULL, NULL, NULL, TRUE,
                                          NULL));
      return;
    }
  g_autofree char *dir = make_dir ();
  g_autofree char *listing = NULL;
  g_setenv ("KINORA_TEST_DIR", dir, TRUE);
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
  listing = export_test_list_dir (dir);
  g_assert_cmpstr (listing, ==, "");
  export_test_rm_rf (dir);
}

/* The model's family and version (model capabilities) go with its name: the tiny Wan2.2 model as the CLI
 * records it, and the tiny LTX-Video model's folder as the app records it; read back from the JSON. */
static const char *
tag_value (char **tags, const char *key)
{
  for (int i = 0; tags[i] != NULL && tags[i + 1] != NULL; i += 2)
    if (strcmp (tags[i], key) == 0)
      return tags[i + 1];
  return NULL;
}

static void
test_model_family (void)
{
  struct ke_gen_params p = ke_gen_params_default (KE_TASK_TI2V_5B);
  g_autofree char *tmp = g_dir_make_tmp ("kinora-meta-XXXXXX", NULL);
  g_autofree char *ltx = g_build_filename (tmp, "tiny-ltx", NULL);
  g_autoptr (GError) error = NULL;

  p.prompt = "a kite";
  p.seed = 3;
  {
    g_auto (GStrv) tags = kinora_metadata_to_tags (&p, "tiny ti2v-5B test model (random weights)", NULL, NULL);
    g_assert_cmpstr (tag_value (tags, "model_family"), ==, "Wan2.2");
    g_assert_true (g_str_has_prefix (tag_value (tags, "model_version"), "Wan2.2 TI2V-5B"));
  }
  g_assert_true (tiny_ltx_model_write (LTX_FIXTURES, ltx, &error));
  {
    g_auto (GStrv) tags = kinora_metadata_to_tags (&p, ltx, NULL, NULL);
    g_autofree char *json = kinora_metadata_to_json (&p, ltx, NULL, NULL);
    g_autoptr (KinoraMetadata) m = kinora_metadata_new_from_json (json, &error);

    g_assert_cmpstr (tag_value (tags, "model"), ==, ltx);
    g_assert_cmpstr (tag_value (tags, "model_family"), ==, "LTX-Video");
    g_assert_cmpstr (tag_value (tags, "model_version"), ==, "LTX-Video 0.9.8 distilled");
    g_assert_no_error (error);
    g_assert_cmpstr (m->model_family, ==, "LTX-Video");
    g_assert_cmpstr (m->model_version, ==, "LTX-Video 0.9.8 distilled");
  }
  /* a name that is not on disk records no family */
  {
    g_auto (GStrv) tags = kinora_metadata_to_tags (&p, "some model", NULL, NULL);
    g_assert_null (tag_value (tags, "model_family"));
  }
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/metadata/round-trip", test_round_trip);
  g_test_add_func ("/metadata/model-family", test_model_family);
  g_test_add_func ("/metadata/old-cli", test_old_cli);
  g_test_add_func ("/metadata/old-gui", test_old_gui);
  g_test_add_func ("/metadata/bad-values", test_bad_values);
  g_test_add_func ("/metadata/read-back/mp4", test_read_back_mp4);
  g_test_add_func ("/metadata/read-back/webm", test_read_back_webm);
  g_test_add_func ("/metadata/read-back/png", test_read_back_png);
  g_test_add_func ("/metadata/read-back/gif", test_read_back_gif);
  g_test_add_func ("/metadata/invalid-utf8", test_invalid_utf8);
  g_test_add_func ("/metadata/read-errors", test_read_errors);
  g_test_add_func ("/export/non-ascii-path", test_non_ascii_path);
  g_test_add_func ("/export/check-target", test_check_target);
  g_test_add_func ("/export/read-only-target", test_read_only_target);
  g_test_add_func ("/export/full-disk/mp4", test_full_disk_mp4);
  g_test_add_func ("/export/full-disk/webm", test_full_disk_webm);
  g_test_add_func ("/export/full-disk/gif", test_full_disk_gif);
  g_test_add_func ("/export/full-disk/png", test_full_disk_png);
  g_test_add_func ("/export/full-disk/new-png-folder", test_full_disk_new_png_folder);
  return g_test_run ();
}
