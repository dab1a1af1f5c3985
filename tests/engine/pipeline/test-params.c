/* Tests for engine/pipeline/params.c: per-task defaults and validation messages. */
#include <math.h>
#include <string.h>

#include "test-util.h"
#include "pipeline/task-impl.h"

static void
test_defaults (void)
{
  struct ke_gen_params p = ke_gen_params_default (KE_TASK_TI2V_5B);
  g_assert_cmpint (p.width, ==, 1280);
  g_assert_cmpint (p.height, ==, 704);
  g_assert_cmpint (p.n_frames, ==, 121);
  g_assert_cmpint (p.steps, ==, 50);
  g_assert_cmpfloat (p.guide, ==, 5.0f);
  g_assert_cmpfloat (p.shift, ==, 5.0f);
  g_assert_cmpfloat (p.fps, ==, 24.0);
  g_assert_cmpint (ke_gen_params_validate (&p, NULL), ==, KE_STATUS_OK);
  p = ke_gen_params_default (KE_TASK_T2V_A14B);
  g_assert_cmpint (p.steps, ==, 40);
  g_assert_cmpfloat (p.guide, ==, 3.0f);
  g_assert_cmpfloat (p.guide_high, ==, 4.0f);
  g_assert_cmpfloat (p.shift, ==, 12.0f);
  g_assert_cmpint (p.n_frames, ==, 81);
  g_assert_cmpint (ke_gen_params_validate (&p, NULL), ==, KE_STATUS_OK);
  p = ke_gen_params_default (KE_TASK_I2V_A14B);
  g_assert_cmpfloat (p.guide, ==, 3.5f);
  g_assert_cmpfloat (p.guide_high, ==, 3.5f);
  g_assert_cmpfloat (p.shift, ==, 5.0f);
  g_assert_cmpfloat (p.fps, ==, 16.0);
  /* I2V needs an image */
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_gen_params_validate (&p, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "image"));
}

static void
test_negative_prompt (void)
{
  /* the official sample_neg_prompt: 403 UTF-8 bytes, starts with 色调艳丽 and ends with 倒着走 */
  g_assert_cmpint (strlen (ke_default_negative_prompt), ==, 403);
  g_assert_true (g_str_has_prefix (ke_default_negative_prompt, "色调艳丽，过曝"));
  g_assert_true (g_str_has_suffix (ke_default_negative_prompt, "背景人很多，倒着走"));
  g_assert_true (g_utf8_validate (ke_default_negative_prompt, -1, NULL));
}

static void
test_bad_frames (void)
{
  struct ke_gen_params p = ke_gen_params_default (KE_TASK_TI2V_5B);
  struct ke_error err = { 0 };
  p.n_frames = 20;
  g_assert_cmpint (ke_gen_params_validate (&p, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "20"));
  g_assert_nonnull (strstr (err.msg, "4n+1"));
}

static void
test_bad_size (void)
{
  struct ke_gen_params p = ke_gen_params_default (KE_TASK_TI2V_5B);
  struct ke_error err = { 0 };
  p.width = 1000;
  g_assert_cmpint (ke_gen_params_validate (&p, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "multiples of 32"));
  g_assert_nonnull (strstr (err.msg, "1280x704"));
  p = ke_gen_params_default (KE_TASK_T2V_A14B);
  memset (&err, 0, sizeof err);
  p.height = 730;
  g_assert_cmpint (ke_gen_params_validate (&p, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "multiples of 16"));
  g_assert_nonnull (strstr (err.msg, "832x480"));
  p = ke_gen_params_default (KE_TASK_T2V_A14B);
  p.steps = 0;
  g_assert_cmpint (ke_gen_params_validate (&p, NULL), ==, KE_STATUS_INVALID);
}

/* the device memory budget: 0 (default) or KE_MIN_VRAM_GIB..KE_MAX_VRAM_GIB, finite */
static void
test_vram (void)
{
  struct ke_gen_params p = ke_gen_params_default (KE_TASK_TI2V_5B);
  g_assert_cmpfloat (p.vram_gib, ==, 0.0f);
  const float good[] = { 0.0f, 1.0f, 8.0f, 12.5f, 1024.0f };
  for (size_t i = 0; i < G_N_ELEMENTS (good); i++)
    {
      p.vram_gib = good[i];
      g_assert_cmpint (ke_gen_params_validate (&p, NULL), ==, KE_STATUS_OK);
    }
  const float bad[] = { -1.0f, 0.5f, 1025.0f, NAN, INFINITY };
  for (size_t i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      struct ke_error err = { 0 };
      p.vram_gib = bad[i];
      g_assert_cmpint (ke_gen_params_validate (&p, &err), ==, KE_STATUS_INVALID);
      g_assert_nonnull (strstr (err.msg, "device memory budget"));
      g_assert_nonnull (strstr (err.msg, "1..1024 GiB"));
    }
}

/* where T5 runs: AUTO (default, the job's backend) or CPU; anything else is refused, naming the choices */
static void
test_text_device (void)
{
  struct ke_gen_params p = ke_gen_params_default (KE_TASK_TI2V_5B);
  struct ke_error err = { 0 };
  g_assert_cmpint (p.text_device, ==, KE_TEXT_DEVICE_AUTO);
  p.text_device = KE_TEXT_DEVICE_CPU;
  g_assert_cmpint (ke_gen_params_validate (&p, NULL), ==, KE_STATUS_OK);
  p.text_device = (enum ke_text_device) 7;
  g_assert_cmpint (ke_gen_params_validate (&p, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "auto, cpu"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/params/defaults", test_defaults);
  g_test_add_func ("/params/negative-prompt", test_negative_prompt);
  g_test_add_func ("/params/bad-frames", test_bad_frames);
  g_test_add_func ("/params/bad-size", test_bad_size);
  g_test_add_func ("/params/vram", test_vram);
  g_test_add_func ("/params/text-device", test_text_device);
  return g_test_run ();
}
