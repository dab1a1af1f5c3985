/* Tests for engine/backends/cuda/quant-blocks.h, the element decoders the CUDA dequantization kernels
 * run (fp8 e4m3fn and every GGUF block type), on the CPU: known values, every value of random blocks
 * against a reference written the other way round, as a whole-block loop in ggml's order
 * (dequantize_row_q8_0 / dequantize_row_q4_K: per 64-value chunk, two sub-blocks, low nibbles first),
 * and every value of every block type against the engine's own row dequantizer (core/quant.c,
 * ke_dequant_row_f32), on random blocks and on every quantized tensor of the GGUF fixtures.
 * All compute the same float expressions in the same order, so they must agree bit for bit (tolerance
 * 0: the decoders exist to give the CUDA kernels the CPU's values). */
#include <math.h>
#include <string.h>

#include "test-util.h"
#include "backends/cuda/quant-blocks.h"
#include "core/tensor.h"
#include "loaders/loaders.h"

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

/* One decoder per block type, with its block size and the offsets of its f16 fields (made finite in
 * random blocks: an infinite or NaN scale is not what the comparison is about). */
struct qcase
{
  enum ke_dtype type;
  float (*dec) (const uint8_t *, int);
  int values, bytes;
  int f16_at[2];   /* -1: none */
};

static const struct qcase g_cases[] = {
  { KE_DTYPE_Q8_0, kq_q8_0, KQ_Q8_0_VALUES, KQ_Q8_0_BYTES, { 0, -1 } },
  { KE_DTYPE_Q4_0, kq_q4_0, KQ_Q4_0_VALUES, KQ_Q4_0_BYTES, { 0, -1 } },
  { KE_DTYPE_Q4_1, kq_q4_1, KQ_Q4_1_VALUES, KQ_Q4_1_BYTES, { 0, 2 } },
  { KE_DTYPE_Q5_0, kq_q5_0, KQ_Q5_0_VALUES, KQ_Q5_0_BYTES, { 0, -1 } },
  { KE_DTYPE_Q5_1, kq_q5_1, KQ_Q5_1_VALUES, KQ_Q5_1_BYTES, { 0, 2 } },
  { KE_DTYPE_Q2_K, kq_q2_k, KQ_Q2_K_VALUES, KQ_Q2_K_BYTES, { 80, 82 } },
  { KE_DTYPE_Q3_K, kq_q3_k, KQ_Q3_K_VALUES, KQ_Q3_K_BYTES, { 108, -1 } },
  { KE_DTYPE_Q4_K, kq_q4_k, KQ_Q4_K_VALUES, KQ_Q4_K_BYTES, { 0, 2 } },
  { KE_DTYPE_Q5_K, kq_q5_k, KQ_Q5_K_VALUES, KQ_Q5_K_BYTES, { 0, 2 } },
  { KE_DTYPE_Q6_K, kq_q6_k, KQ_Q6_K_VALUES, KQ_Q6_K_BYTES, { 208, -1 } },
};

static const struct qcase *
qcase_of (enum ke_dtype t)
{
  for (size_t i = 0; i < G_N_ELEMENTS (g_cases); i++)
    if (g_cases[i].type == t)
      return &g_cases[i];
  return NULL;
}

/* Every value of n_blocks blocks of type c->type at src: the decoder equals ke_dequant_row_f32 bit for
 * bit. `what` names the data in a failure. */
static void
check_blocks (const struct qcase *c, const uint8_t *src, int64_t n_blocks, const char *what)
{
  const int64_t n = n_blocks * c->values;
  float *ref = g_new (float, n);
  ke_dequant_row_f32 (c->type, src, ref, n);
  for (int64_t i = 0; i < n; i++)
    {
      const float got = c->dec (src + (i / c->values) * c->bytes, (int) (i % c->values));
      if (memcmp (&got, &ref[i], sizeof got) != 0)
        g_error ("%s (%s): value %lld is %.9g, ke_dequant_row_f32 gives %.9g", what, ke_dtype_name (c->type),
                 (long long) i, got, ref[i]);
    }
  g_free (ref);
}

static void
test_random_vs_engine (void)
{
  g_assert_cmpint (G_N_ELEMENTS (g_cases), ==, KE_DTYPE_COUNT - KE_DTYPE_Q8_0);   /* every block type */
  for (size_t k = 0; k < G_N_ELEMENTS (g_cases); k++)
    {
      const struct qcase *c = &g_cases[k];
      g_assert_cmpint ((int64_t) ke_dtype_size (c->type), ==, c->bytes);
      g_assert_cmpint (ke_dtype_block (c->type), ==, c->values);
      enum { NB = 300 };
      uint8_t *buf = g_malloc ((size_t) NB * c->bytes);
      for (size_t i = 0; i < (size_t) NB * c->bytes; i++)
        buf[i] = rbyte ();
      for (int b = 0; b < NB; b++)
        for (int f = 0; f < 2; f++)
          if (c->f16_at[f] >= 0)
            buf[(size_t) b * c->bytes + c->f16_at[f] + 1] &= 0xbb;   /* exponent < 31: finite (subnormals too) */
      check_blocks (c, buf, NB, "random blocks");
      g_free (buf);
    }
}

/* Every block-quantized tensor of every GGUF fixture (ggml's quantizers): the decoders give the
 * engine's values. Each fixture type must be met. */
static void
test_fixtures_vs_engine (void)
{
  static const char *const files[] = { "q8_0", "q4_0", "q5_1", "q3_K", "q4_K", "q5_K", "q6_K" };
  static const enum ke_dtype want[] = { KE_DTYPE_Q8_0, KE_DTYPE_Q4_0, KE_DTYPE_Q5_1, KE_DTYPE_Q3_K,
                                        KE_DTYPE_Q4_K, KE_DTYPE_Q5_K, KE_DTYPE_Q6_K };
  const char *const models[] = { "t2v", "ti2v" };
  for (size_t m = 0; m < G_N_ELEMENTS (models); m++)
    for (size_t f = 0; f < G_N_ELEMENTS (files); f++)
      {
        g_autofree char *name = g_strdup_printf ("gguf/wan-%s-tiny-%s.gguf", models[m], files[f]);
        g_autofree char *path = test_fixture_path (name);
        if (!test_require_fixture (path))
          return;
        struct ke_error err = { 0 };
        struct ke_tensor_set *ts = NULL;
        g_assert_cmpint (ke_weights_open (&ts, path, &err), ==, KE_STATUS_OK);
        int seen = 0;
        for (int i = 0; i < ke_tset_count (ts); i++)
          {
            const struct ke_tensor *t = ke_tset_at (ts, i);
            if (!ke_dtype_is_quantized (t->type))
              continue;
            const struct qcase *c = qcase_of (t->type);
            g_assert_nonnull (c);
            const int64_t n = ke_tensor_nelements (t);
            g_assert_cmpint (n % c->values, ==, 0);
            g_autofree char *what = g_strdup_printf ("%s %s", name, t->name);
            check_blocks (c, t->data, n / c->values, what);
            seen += t->type == want[f];
          }
        if (seen == 0)
          g_error ("%s: no %s tensor", name, ke_dtype_name (want[f]));
        ke_tset_free (ts);
      }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/quant-blocks/f16-fp8", test_f16_fp8);
  g_test_add_func ("/quant-blocks/q8_0", test_q8_0);
  g_test_add_func ("/quant-blocks/q4_k", test_q4_k);
  g_test_add_func ("/quant-blocks/random-vs-engine", test_random_vs_engine);
  g_test_add_func ("/quant-blocks/fixtures-vs-engine", test_fixtures_vs_engine);
  return g_test_run ();
}
