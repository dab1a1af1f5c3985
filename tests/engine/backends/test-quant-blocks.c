/* Tests for engine/backends/cuda/quant-blocks.h, the element decoders the CUDA dequantization kernels
 * run (fp8 e4m3fn, ggml block_q8_0 and block_q4_K), on the CPU: known values, and every value of
 * random blocks against a reference written the other way round, as a whole-block loop in ggml's order
 * (dequantize_row_q8_0 / dequantize_row_q4_K: per 64-value chunk, two sub-blocks, low nibbles first).
 * Both compute the same float expressions, so they must agree exactly. */
#include <math.h>
#include <string.h>

#include "test-util.h"
#include "backends/cuda/quant-blocks.h"
#include "core/tensor.h"

static uint64_t rng = 0x853c49e6748fea9bull;

static uint8_t
rbyte (void)
{
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (uint8_t) (rng >> 56);
}

static void
test_f16_fp8 (void)
{
  g_assert_cmpfloat (kq_f16 (0x3c00), ==, 1.0f);
  g_assert_cmpfloat (kq_f16 (0xc000), ==, -2.0f);
  g_assert_cmpfloat (kq_f16 (0x7bff), ==, 65504.0f);
  g_assert_cmpfloat (kq_f16 (0x0001), ==, ldexpf (1.0f, -24));
  g_assert_cmpfloat (kq_f16 (0x3555), ==, 0x1.554p-2f);
  g_assert_true (isinf (kq_f16 (0x7c00)));
  g_assert_cmpfloat (kq_fp8_e4m3 (0x38), ==, 1.0f);     /* e 7, m 0 */
  g_assert_cmpfloat (kq_fp8_e4m3 (0x3c), ==, 1.5f);     /* e 7, m 4 */
  g_assert_cmpfloat (kq_fp8_e4m3 (0xb8), ==, -1.0f);
  g_assert_cmpfloat (kq_fp8_e4m3 (0x7e), ==, 448.0f);   /* the largest finite e4m3fn */
  g_assert_cmpfloat (kq_fp8_e4m3 (0x01), ==, ldexpf (1.0f, -9));   /* the smallest subnormal */
  g_assert_cmpfloat (kq_fp8_e4m3 (0x07), ==, 7.0f * ldexpf (1.0f, -9));
  g_assert_cmpfloat (kq_fp8_e4m3 (0x08), ==, ldexpf (1.0f, -6));   /* the smallest normal */
  g_assert_true (isnan (kq_fp8_e4m3 (0x7f)));
  g_assert_true (isnan (kq_fp8_e4m3 (0xff)));
  g_assert_cmpfloat (kq_fp8_e4m3 (0x80), ==, 0.0f);
  /* every finite code: value = (-1)^s * 2^(e-7) * (1 + m/8), subnormal 2^-6 * m/8 */
  for (int b = 0; b < 256; b++)
    {
      const int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
      if (e == 15 && m == 7)
        continue;
      const double v = e ? ldexp (1.0 + m / 8.0, e - 7) : ldexp (m / 8.0, -6);
      g_assert_cmpfloat (kq_fp8_e4m3 ((uint8_t) b), ==, (float) (s ? -v : v));
      /* the engine's own decoder (the CPU path, ke_convert_to_f32) agrees */
      g_assert_cmpfloat (kq_fp8_e4m3 ((uint8_t) b), ==, ke_f8e4m3_to_f32 ((uint8_t) b));
    }
}

static void
test_q8_0 (void)
{
  uint8_t blk[KQ_Q8_0_BYTES];
  /* d = 0.5 (f16 0x3800), q[j] = j - 16 */
  blk[0] = 0x00;
  blk[1] = 0x38;
  for (int j = 0; j < 32; j++)
    blk[2 + j] = (uint8_t) (int8_t) (j - 16);
  for (int j = 0; j < 32; j++)
    g_assert_cmpfloat (kq_q8_0 (blk, j), ==, 0.5f * (float) (j - 16));
  /* random blocks: the reference loop */
  for (int r = 0; r < 200; r++)
    {
      for (int i = 0; i < KQ_Q8_0_BYTES; i++)
        blk[i] = rbyte ();
      blk[1] &= 0x7b;   /* a finite d */
      const float d = kq_f16 ((uint16_t) (blk[0] | blk[1] << 8));
      const int8_t *qs = (const int8_t *) (blk + 2);
      for (int j = 0; j < 32; j++)
        g_assert_cmpfloat (kq_q8_0 (blk, j), ==, d * (float) qs[j]);
    }
}

/* ggml's packing of the 6-bit scales and mins, read back the way dequantize_row_q4_K does */
static void
ref_scale_min (int j, const uint8_t *q, int *d, int *m)
{
  if (j < 4)
    {
      *d = q[j] & 63;
      *m = q[j + 4] & 63;
    }
  else
    {
      *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
      *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
    }
}

static void
ref_q4_k_row (const uint8_t *blk, float *y)
{
  const float d = kq_f16 ((uint16_t) (blk[0] | blk[1] << 8)), min = kq_f16 ((uint16_t) (blk[2] | blk[3] << 8));
  const uint8_t *scales = blk + 4, *q = blk + 16;
  int is = 0;
  for (int j = 0; j < 256; j += 64)
    {
      int sc, m;
      ref_scale_min (is + 0, scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      ref_scale_min (is + 1, scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l)
        *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l)
        *y++ = d2 * (q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
}

static void
test_q4_k (void)
{
  uint8_t blk[KQ_Q4_K_BYTES];
  float ref[256];
  /* a hand-made block: d = 1, dmin = 0.5; sub-block 0 scale 3 min 2; sub-block 5 (the packed half) scale
   * 0x15 = 21 (low 4 bits 5 in s[9], high 2 bits 1 in the top of s[1]) and min 0x2a = 42 (low 4 bits 10 in the
   * top of s[9], high 2 bits 2 in the top of s[5]) */
  memset (blk, 0, sizeof blk);
  blk[1] = 0x3c;   /* d = 1.0 */
  blk[3] = 0x38;   /* dmin = 0.5 */
  uint8_t *s = blk + 4, *qs = blk + 16;
  s[0] = 3;
  s[4] = 2;
  s[9] = 5 | (10 << 4);
  s[1] = 1 << 6;
  s[5] = 2 << 6;
  qs[0] = 0x7 | (0xb << 4);   /* value 0: low nibble 7; value 32: high nibble 11 */
  qs[64 + 3] = 0xd0;          /* chunk 2, l = 3: value 128 + 32 + 3 = 163 is sub-block 5 (high nibble 13) */
  g_assert_cmpfloat (kq_q4_k (blk, 0), ==, 1.0f * 3 * 7 - 0.5f * 2);
  g_assert_cmpfloat (kq_q4_k (blk, 163), ==, 1.0f * 21 * 13 - 0.5f * 42);
  ref_q4_k_row (blk, ref);
  for (int v = 0; v < 256; v++)
    g_assert_cmpfloat (kq_q4_k (blk, v), ==, ref[v]);
  /* random blocks */
  for (int r = 0; r < 200; r++)
    {
      for (int i = 0; i < KQ_Q4_K_BYTES; i++)
        blk[i] = rbyte ();
      blk[1] &= 0x3b;   /* finite, moderate d and dmin */
      blk[3] &= 0x3b;
      ref_q4_k_row (blk, ref);
      for (int v = 0; v < 256; v++)
        g_assert_cmpfloat (kq_q4_k (blk, v), ==, ref[v]);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/quant-blocks/f16-fp8", test_f16_fp8);
  g_test_add_func ("/quant-blocks/q8_0", test_q8_0);
  g_test_add_func ("/quant-blocks/q4_k", test_q4_k);
  return g_test_run ();
}
