/* Tests for engine/pipeline/recipe.c: the output-size rule (ke_gen_output_size, public) and the latent
 * size with the patch from a model's config. Sizes are exact integers: no tolerance. */
#include <math.h>

#include "test-util.h"
#include "pipeline/recipe-impl.h"

static void
expect (enum ke_task task, int w, int h, int frames, int iw, int ih, int ew, int eh, int ef)
{
  int ow = -1, oh = -1, of = -1;
  g_assert_cmpint (ke_gen_output_size (task, w, h, frames, iw, ih, &ow, &oh, &of), ==, KE_STATUS_OK);
  g_test_message ("task %d %dx%dx%d image %dx%d -> %dx%dx%d", task, w, h, frames, iw, ih, ow, oh, of);
  g_assert_cmpint (ow, ==, ew);
  g_assert_cmpint (oh, ==, eh);
  g_assert_cmpint (of, ==, ef);
}

/* Without an image: whole DiT patches of VAE pixels (32 for TI2V-5B, 16 for A14B), at least one, and
 * 4n+1 frames rounded down. */
static void
test_no_image (void)
{
  expect (KE_TASK_TI2V_5B, 1280, 704, 121, 0, 0, 1280, 704, 121);
  expect (KE_TASK_TI2V_5B, 1290, 719, 124, 0, 0, 1280, 704, 121);
  expect (KE_TASK_TI2V_5B, 10, 31, 1, 0, 0, 32, 32, 1);
  expect (KE_TASK_TI2V_5B, 256, 256, 17, 0, 0, 256, 256, 17);
  expect (KE_TASK_T2V_A14B, 832, 480, 81, 0, 0, 832, 480, 81);
  expect (KE_TASK_T2V_A14B, 850, 490, 83, 0, 0, 848, 480, 81);
  expect (KE_TASK_I2V_A14B, 1280, 720, 81, 0, 0, 1280, 720, 81);
  /* T2V ignores a conditioning image */
  expect (KE_TASK_T2V_A14B, 832, 480, 81, 100, 1000, 832, 480, 81);
}

/* TI2V-5B with an image: best_output_size of the reference, in steps of 32 within the area. */
static void
test_ti2v_image (void)
{
  /* 16:9 at 1280*704: candidate 1, ow1 = 32*floor(1266.9/32) = 1248, oh1 = 32*floor(722.05/32) = 704 */
  expect (KE_TASK_TI2V_5B, 1280, 704, 121, 1920, 1080, 1248, 704, 121);
  /* 2:1 in 96*64: candidate 1, 96x64 (1.5:1), is nearer 2:1 than candidate 2, 192x32 (6:1) */
  expect (KE_TASK_TI2V_5B, 96, 64, 17, 120, 60, 96, 64, 17);
  /* the area, not the shape, of --size counts: 64x96 is the same area as 96x64 */
  expect (KE_TASK_TI2V_5B, 64, 96, 17, 120, 60, 96, 64, 17);
  /* 1:2 in 128*128: ow = 90.5 -> 64, oh1 = 256; oh = 181 -> 160, ow2 = 96: 64x256 (1:4) vs 96x160 (1:1.67) */
  expect (KE_TASK_TI2V_5B, 128, 128, 17, 60, 120, 96, 160, 17);
  /* a 1:1000 sliver in 64*64: the width is clamped up to one step (32), the height stays a multiple */
  int ow, oh, of;
  g_assert_cmpint (ke_gen_output_size (KE_TASK_TI2V_5B, 64, 64, 1, 1, 1000, &ow, &oh, &of), ==, KE_STATUS_OK);
  g_assert_cmpint (ow, ==, 32);
  g_assert_cmpint (oh % 32, ==, 0);
  g_assert_cmpint (oh, >, ow);
  /* a range of aspects: multiples of 32, within the area, the aspect within one step of the image's */
  for (int iw = 100; iw <= 3000; iw += 290)
    {
      const int ih = 1000;
      g_assert_cmpint (ke_gen_output_size (KE_TASK_TI2V_5B, 1280, 704, 121, iw, ih, &ow, &oh, &of), ==,
                       KE_STATUS_OK);
      g_assert_cmpint (ow % 32, ==, 0);
      g_assert_cmpint (oh % 32, ==, 0);
      g_assert_cmpint (ow * oh, <=, 1280 * 704);
      g_assert_cmpfloat (fabs ((double) ow / oh - (double) iw / ih), <=,
                         (double) (ow + 32) / oh - (double) ow / oh + (double) ow / (oh - 32) - (double) ow / oh);
    }
}

/* I2V-A14B with an image: the whole image stretched to its aspect within the area; latent sides
 * multiples of the patch (so pixels multiples of 16), at least one patch. */
static void
test_i2v_image (void)
{
  /* 1:1 in 832*480: sqrt(399360)/8 = 78.99 -> 78 latent pixels, even -> 78: 624x624 */
  expect (KE_TASK_I2V_A14B, 832, 480, 81, 1000, 1000, 624, 624, 81);
  /* 16:9 at 1280*720 gives the official size */
  expect (KE_TASK_I2V_A14B, 1280, 720, 81, 1920, 1080, 1280, 720, 81);
  /* a 1:16384 sliver: the width clamps up to one patch (16 pixels) */
  int ow, oh, of;
  g_assert_cmpint (ke_gen_output_size (KE_TASK_I2V_A14B, 832, 480, 81, 1, 16384, &ow, &oh, &of), ==,
                   KE_STATUS_OK);
  g_assert_cmpint (ow, ==, 16);
  g_assert_cmpint (oh % 16, ==, 0);
}

static void
test_invalid (void)
{
  int ow = 0, oh = 0, of = 0;
  g_assert_cmpint (ke_gen_output_size ((enum ke_task) 9, 256, 256, 17, 0, 0, &ow, &oh, &of), ==, KE_STATUS_INVALID);
  g_assert_cmpint (ke_gen_output_size (KE_TASK_TI2V_5B, 0, 256, 17, 0, 0, &ow, &oh, &of), ==, KE_STATUS_INVALID);
  g_assert_cmpint (ke_gen_output_size (KE_TASK_TI2V_5B, 256, -1, 17, 0, 0, &ow, &oh, &of), ==, KE_STATUS_INVALID);
  g_assert_cmpint (ke_gen_output_size (KE_TASK_TI2V_5B, 256, 256, 0, 0, 0, &ow, &oh, &of), ==, KE_STATUS_INVALID);
  g_assert_cmpint (ke_gen_output_size (KE_TASK_TI2V_5B, 256, 256, 17, -1, 10, &ow, &oh, &of), ==,
                   KE_STATUS_INVALID);
  g_assert_cmpint (ke_gen_output_size (KE_TASK_TI2V_5B, 256, 256, 17, 0, 0, NULL, &oh, &of), ==, KE_STATUS_INVALID);
}

/* The patch comes from the model's config: with patch 1 a 16x VAE gives 16-pixel steps, not 32. */
static void
test_latent_patch (void)
{
  int lw, lh, lt;
  ke_recipe_latent_size (KE_TASK_TI2V_5B, 16, 1, 1, 100, 70, 100.0 * 70, 9, 0, 0, &lw, &lh, &lt);
  g_assert_cmpint (lw, ==, 6);
  g_assert_cmpint (lh, ==, 4);
  g_assert_cmpint (lt, ==, 3);
  ke_recipe_latent_size (KE_TASK_TI2V_5B, 16, 2, 2, 100, 70, 100.0 * 70, 9, 0, 0, &lw, &lh, &lt);
  g_assert_cmpint (lw, ==, 6);
  g_assert_cmpint (lh, ==, 4);
  ke_recipe_latent_size (KE_TASK_TI2V_5B, 16, 2, 2, 112, 70, 112.0 * 70, 9, 0, 0, &lw, &lh, &lt);
  g_assert_cmpint (lw, ==, 6);
  g_assert_cmpint (lh, ==, 4);
  ke_recipe_latent_size (KE_TASK_TI2V_5B, 16, 1, 1, 112, 70, 112.0 * 70, 9, 0, 0, &lw, &lh, &lt);
  g_assert_cmpint (lw, ==, 7);
  /* the expert slot: two experts use `which`, one dense model always slot 0 */
  struct ke_recipe r = { .n_experts = 2 };
  g_assert_cmpint (ke_recipe_expert_slot (&r, 1), ==, 1);
  g_assert_cmpint (ke_recipe_expert_slot (&r, 0), ==, 0);
  r.n_experts = 1;
  g_assert_cmpint (ke_recipe_expert_slot (&r, 1), ==, 0);
  /* the switch: t >= boundary * n_train is the high-noise expert; boundary 0 is dense */
  g_assert_true (ke_expert_is_high (0.875, 1000, 875));
  g_assert_false (ke_expert_is_high (0.875, 1000, 874));
  g_assert_false (ke_expert_is_high (0.0, 1000, 999));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/recipe/output-size/no-image", test_no_image);
  g_test_add_func ("/recipe/output-size/ti2v-image", test_ti2v_image);
  g_test_add_func ("/recipe/output-size/i2v-image", test_i2v_image);
  g_test_add_func ("/recipe/output-size/invalid", test_invalid);
  g_test_add_func ("/recipe/latent-patch", test_latent_patch);
  return g_test_run ();
}
