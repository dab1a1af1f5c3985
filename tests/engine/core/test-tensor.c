/* Tensor core: dtype conversions and named tensor sets. */
#include <math.h>
#include <string.h>

#include "core/tensor.h"
#include "test-util.h"

static void
test_conversions (void)
{
  /* bf16: exact for values with 8 significant bits; round to nearest even otherwise */
  g_assert_cmpfloat (ke_bf16_to_f32 (ke_f32_to_bf16 (1.5f)), ==, 1.5f);
  g_assert_cmpfloat (ke_bf16_to_f32 (ke_f32_to_bf16 (-3.25f)), ==, -3.25f);
  g_assert_cmphex (ke_f32_to_bf16 (1.00390625f), ==, 0x3f80);   /* tie -> even */
  g_assert_cmphex (ke_f32_to_bf16 (1.01171875f), ==, 0x3f82);   /* tie -> even (up) */
  g_assert_true (isnan (ke_bf16_to_f32 (ke_f32_to_bf16 (NAN))));
  /* f16: every half value round-trips through f32 */
  for (guint32 h = 0; h < 0x10000; h++)
    {
      float f = ke_f16_to_f32 ((uint16_t) h);
      if (isnan (f))
        continue;
      g_assert_cmphex (ke_f32_to_f16 (f), ==, h);
    }
  g_assert_cmpfloat (ke_f16_to_f32 (0x3c00), ==, 1.0f);
  g_assert_cmpfloat (ke_f16_to_f32 (0x0001), ==, ldexpf (1.0f, -24));
  g_assert_cmphex (ke_f32_to_f16 (65520.0f), ==, 0x7c00);   /* overflow -> inf */
  /* fp8 e4m3fn: 1.0 = 0x38, max 448 = 0x7e, NaN 0x7f, smallest subnormal 2^-9 */
  g_assert_cmpfloat (ke_f8e4m3_to_f32 (0x38), ==, 1.0f);
  g_assert_cmpfloat (ke_f8e4m3_to_f32 (0x7e), ==, 448.0f);
  g_assert_cmpfloat (ke_f8e4m3_to_f32 (0xb8), ==, -1.0f);
  g_assert_true (isnan (ke_f8e4m3_to_f32 (0x7f)));
  g_assert_cmpfloat (ke_f8e4m3_to_f32 (0x01), ==, ldexpf (1.0f, -9));
  uint8_t f8[2] = { 0x38, 0x40 };
  float out[2];
  ke_convert_to_f32 (out, f8, KE_DTYPE_F8_E4M3, 0.5f, 2);
  g_assert_cmpfloat (out[0], ==, 0.5f);
  g_assert_cmpfloat (out[1], ==, 1.0f);
  /* f32 -> e4m3: every finite code but -0 comes back from its own value; between two neighbours the
   * nearer one wins, a tie the smaller magnitude */
  for (int c = 0; c < 256; c++)
    if (c != 0x80 && (c & 0x7f) != 0x7f)
      g_assert_cmpint (ke_f32_to_f8e4m3 (ke_f8e4m3_to_f32 ((uint8_t) c)), ==, c);
  g_assert_cmpint (ke_f32_to_f8e4m3 (1.0625f), ==, 0x38);   /* halfway between 1 and 1.125 */
  g_assert_cmpint (ke_f32_to_f8e4m3 (1.07f), ==, 0x39);
  g_assert_cmpint (ke_f32_to_f8e4m3 (-1.07f), ==, 0xb9);
}

static void
test_tensor_set (void)
{
  struct ke_tensor_set *s = ke_tset_new ("mem");
  struct ke_error err = { 0 };
  float data[24];
  int64_t shape[3] = { 2, 3, 4 };
  char name[32];
  for (int i = 0; i < 300; i++)
    {
      g_snprintf (name, sizeof name, "model.diffusion_model.t%d", i);
      g_assert_nonnull (ke_tset_add (s, name, KE_DTYPE_F32, 3, shape, data, &err));
    }
  g_assert_null (ke_tset_add (s, "model.diffusion_model.t7", KE_DTYPE_F32, 3, shape, data, &err));
  g_assert_cmpint (err.code, ==, KE_STATUS_FORMAT);
  ke_tset_strip_prefix (s, "model.diffusion_model.");
  struct ke_tensor *t = ke_tset_get (s, "t299");
  g_assert_nonnull (t);
  g_assert_cmpstr (t->name, ==, "t299");
  g_assert_cmpint (t->ne[0], ==, 4);
  g_assert_cmpint (t->nb[2], ==, 48);
  g_assert_true (ke_tensor_is_contiguous (t));
  g_assert_cmpint (ke_tensor_nbytes (t), ==, 96);
  char buf[64];
  g_assert_cmpstr (ke_tensor_shape_str (t, buf, sizeof buf), ==, "[2, 3, 4]");
  g_assert_cmpint (ke_tset_set_meta (s, "k", "v1"), ==, 0);
  g_assert_cmpint (ke_tset_set_meta (s, "k", "v2"), ==, 0);
  g_assert_cmpstr (ke_tset_meta (s, "k"), ==, "v2");
  ke_tset_free (s);
  ke_tset_free (NULL);
}

/* The fixture comparison checks shapes, not only element counts (issue 10 item 7). */
static void
test_allclose_shape (void)
{
  float a[6] = { 1, 2, 3, 4, 5, 6 };
  struct ke_tensor x, y, z;
  const int64_t s23[2] = { 2, 3 }, s32[2] = { 3, 2 }, s6[1] = { 6 };
  ke_tensor_init (&x, KE_DTYPE_F32, 2, s23, a);
  ke_tensor_init (&y, KE_DTYPE_F32, 2, s32, a);
  ke_tensor_init (&z, KE_DTYPE_F32, 1, s6, a);
  g_assert_true (test_tensor_allclose ("same", &x, &x, 0, 0));
  g_assert_false (test_tensor_allclose ("transposed", &x, &y, 0, 0));
  g_assert_false (test_tensor_allclose ("flattened", &x, &z, 0, 0));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tensor/conversions", test_conversions);
  g_test_add_func ("/tensor/set", test_tensor_set);
  g_test_add_func ("/tensor/allclose-shape", test_allclose_shape);
  return g_test_run ();
}
