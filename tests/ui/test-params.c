/* test-params.c: tests for ui/kinora-params.c: frames snapping, sizes, crops, JSON round trip
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <gtk/gtk.h>

#include "kinora-params.h"

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

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/params/snap-frames", test_snap_frames);
  g_test_add_func ("/params/parse-size", test_parse_size);
  g_test_add_func ("/params/crop", test_crop);
  g_test_add_func ("/params/json-round-trip", test_json_round_trip);

  return g_test_run ();
}
