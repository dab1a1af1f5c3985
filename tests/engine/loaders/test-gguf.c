/* GGUF reader and block dequantizers: every tensor of every fixture GGUF (ggml's writer and quantizers)
 * against its *.dequant.safetensors (ggml's own to_float), the truncated fixture, hand-made hostile
 * files (error naming file and tensor, never a crash), and the quantizers' round trip. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "loaders/loaders.h"
#include "test-util.h"

static const char *const g_types[] = { "f16", "bf16", "q8_0", "q4_0", "q5_1", "q4_K", "q5_K", "q6_K", "q3_K" };

/* Compare one GGUF fixture with its companion: the same tensor set, the same PyTorch shapes, values
 * bit-identical for F32/F16/BF16 and within the README's bound for quantized tensors
 * (max |got - ref| <= 1e-6 * max |ref|: a one-ulp difference from contraction; we expect 0). Returns the
 * number of quantized tensors seen. */
static int
check_pair (const char *model, const char *type)
{
  g_autofree char *gn = g_strdup_printf ("gguf/wan-%s-tiny-%s.gguf", model, type);
  g_autofree char *rn = g_strdup_printf ("gguf/wan-%s-tiny-%s.dequant.safetensors", model, type);
  g_autofree char *gp = test_fixture_path (gn);
  g_autofree char *rp = test_fixture_path (rn);
  if (!test_require_fixture (gp) || !test_require_fixture (rp))
    return 0;
  struct ke_error err = { 0 };
  struct ke_tensor_set *g = NULL, *r = NULL;
  g_assert_cmpint (ke_weights_open (&g, gp, &err), ==, KE_STATUS_OK);
  g_assert_cmpstr (err.msg, ==, "");
  g_assert_cmpint (ke_safetensors_open_file (&r, rp, &err), ==, KE_STATUS_OK);
  g_assert_cmpstr (ke_tset_meta (g, "gguf.architecture"), ==, "wan");
  g_assert_cmpint (ke_tset_count (g), ==, ke_tset_count (r));
  g_assert_cmpint (ke_tset_count (g), ==, 42);
  int n_quant = 0;
  for (int i = 0; i < ke_tset_count (r); i++)
    {
      const struct ke_tensor *rt = ke_tset_at (r, i);
      const struct ke_tensor *gt = ke_tset_get (g, rt->name);
      g_assert_nonnull (gt);
      char a[96], b[96];
      g_assert_cmpstr (ke_tensor_shape_str (gt, a, sizeof a), ==, ke_tensor_shape_str (rt, b, sizeof b));
      g_assert_cmpint (rt->type, ==, KE_DTYPE_F32);
      size_t n = (size_t) ke_tensor_nelements (rt);
      float *got = ke_tensor_to_f32_alloc (gt);
      g_assert_nonnull (got);
      const float *ref = rt->data;
      if (ke_dtype_is_quantized (gt->type))
        {
          n_quant++;
          double amax = 0, dmax = 0;
          for (size_t j = 0; j < n; j++)
            {
              amax = fmax (amax, fabs (ref[j]));
              dmax = fmax (dmax, fabs ((double) got[j] - ref[j]));
            }
          if (dmax > 1e-6 * amax)
            g_error ("%s %s: max |diff| %g > 1e-6 * max |ref| (%g)", gn, rt->name, dmax, amax);
        }
      else if (memcmp (got, ref, n * sizeof (float)) != 0)
        g_error ("%s %s (%s): not bit-identical to the reference", gn, rt->name, ke_dtype_name (gt->type));
      g_free (got);
    }
  ke_tset_free (g);
  ke_tset_free (r);
  return n_quant;
}

static void
test_fixtures (void)
{
  for (size_t i = 0; i < G_N_ELEMENTS (g_types); i++)
    {
      int nt = check_pair ("t2v", g_types[i]);
      int ni = check_pair ("ti2v", g_types[i]);
      /* README: legacy types quantize all 10 block linears, K types only ffn.2 */
      int want = g_types[i][0] != 'q' ? 0 : g_types[i][3] == 'K' ? 1 : 10;
      g_assert_cmpint (nt, ==, want);
      g_assert_cmpint (ni, ==, want);
    }
}

static void
test_broken_fixture (void)
{
  g_autofree char *p = test_fixture_path ("gguf/wan-t2v-tiny-q8_0.broken-truncated.gguf");
  if (!test_require_fixture (p))
    return;
  struct ke_error err = { 0 };
  struct ke_tensor_set *s = NULL;
  g_assert_cmpint (ke_weights_open (&s, p, &err), ==, KE_STATUS_FORMAT);
  g_assert_null (s);
  g_assert_nonnull (strstr (err.msg, p));
  g_assert_nonnull (strstr (err.msg, "blocks.0.ffn.0.weight"));
  g_assert_nonnull (strstr (err.msg, "past the end"));
}

/* Every prefix of a valid file is refused (FORMAT), without reading past it (ASan build). */
static void
test_every_truncation (void)
{
  g_autofree char *p = test_fixture_path ("gguf/wan-t2v-tiny-q4_K.gguf");
  if (!test_require_fixture (p))
    return;
  gchar *data = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (p, &data, &len, NULL));
  for (gsize cut = 0; cut < len; cut += cut < 8192 ? 1 : 61)
    {
      unsigned char *copy = g_memdup2 (data, cut ? cut : 1);
      struct ke_tensor_set *s = ke_tset_new ("cut.gguf");
      struct ke_error err = { 0 };
      enum ke_status st = ke_gguf_parse (s, copy, cut, &err);
      if (st != KE_STATUS_FORMAT)
        g_error ("cut at %zu: status %d (%s)", (size_t) cut, st, err.msg);
      g_assert_nonnull (strstr (err.msg, "cut.gguf"));
      ke_tset_free (s);
      g_free (copy);
    }
  g_free (data);
}

/* --- a tiny GGUF writer for hand-made files ------------------------------------------------------ */

static void
put (GByteArray *b, const void *p, size_t n)
{
  g_byte_array_append (b, p, (guint) n);
}
static void
put_u32 (GByteArray *b, guint32 v)
{
  guint8 x[4] = { v, v >> 8, v >> 16, v >> 24 };
  put (b, x, 4);
}
static void
put_u64 (GByteArray *b, guint64 v)
{
  guint8 x[8];
  for (int i = 0; i < 8; i++)
    x[i] = (guint8) (v >> (8 * i));
  put (b, x, 8);
}
static void
put_str (GByteArray *b, const char *s)
{
  put_u64 (b, strlen (s));
  put (b, s, strlen (s));
}
static void
pad_to (GByteArray *b, guint a)
{
  while (b->len % a)
    put (b, "", 1);
}

struct kv_opts
{
  guint32 align;          /* 0: no general.alignment key */
  const char *orig_name;  /* comfy.gguf.orig_shape for this name (shape {2, 16}) */
};

/* One F32 tensor `name` with dims (innermost first) and type id, data = 0, 1, 2, ... */
static GByteArray *
make_file (const char *name, guint32 nd, const guint64 *dims, guint32 type, guint64 offset, struct kv_opts o)
{
  GByteArray *b = g_byte_array_new ();
  put (b, "GGUF", 4);
  put_u32 (b, 3);
  put_u64 (b, 1);
  put_u64 (b, 2 + (o.align ? 1 : 0) + (o.orig_name ? 1 : 0));
  put_str (b, "general.architecture");
  put_u32 (b, 8);
  put_str (b, "wan");
  put_str (b, "some.unknown.key");   /* ignored: an array of strings */
  put_u32 (b, 9);
  put_u32 (b, 8);
  put_u64 (b, 2);
  put_str (b, "a");
  put_str (b, "bc");
  if (o.align)
    {
      put_str (b, "general.alignment");
      put_u32 (b, 4);
      put_u32 (b, o.align);
    }
  if (o.orig_name)
    {
      g_autofree char *k = g_strdup_printf ("comfy.gguf.orig_shape.%s", o.orig_name);
      put_str (b, k);
      put_u32 (b, 9);
      put_u32 (b, 5);
      put_u64 (b, 2);
      put_u32 (b, 2);
      put_u32 (b, 16);
    }
  put_str (b, name);
  put_u32 (b, nd);
  guint64 n = 1;
  for (guint32 i = 0; i < nd; i++)
    {
      put_u64 (b, dims[i]);
      n *= dims[i];
    }
  put_u32 (b, type);
  put_u64 (b, offset);
  pad_to (b, o.align ? o.align : 32);
  for (guint64 i = 0; i < offset && offset <= 4096; i++)
    put (b, "", 1);
  for (guint64 i = 0; i < n && i < 4096; i++)
    {
      float f = (float) i;
      put (b, &f, 4);
    }
  return b;
}

static enum ke_status
parse_bytes (GByteArray *b, struct ke_tensor_set **out, struct ke_error *err)
{
  *out = ke_tset_new ("hand.gguf");
  return ke_gguf_parse (*out, b->data, b->len, err);
}

static void
expect_error (GByteArray *b, enum ke_status want, const char *needle)
{
  struct ke_tensor_set *s = NULL;
  struct ke_error err = { 0 };
  enum ke_status st = parse_bytes (b, &s, &err);
  if (st != want || !strstr (err.msg, "hand.gguf") || !strstr (err.msg, needle))
    g_error ("status %d, message '%s' (wanted %d naming '%s')", st, err.msg, want, needle);
  ke_tset_free (s);
  g_byte_array_unref (b);
}

static void
test_hand_made (void)
{
  const guint64 d2[2] = { 16, 2 }, d5[5] = { 2, 2, 1, 3, 4 }, d6[6] = { 1, 1, 1, 1, 1, 2 };
  struct kv_opts none = { 0 };
  struct ke_error err = { 0 };
  struct ke_tensor_set *s = NULL;

  /* valid: 2-D F32, prefix stripped, values and PyTorch shape */
  GByteArray *b = make_file ("model.diffusion_model.a.weight", 2, d2, 0, 0, none);
  g_assert_cmpint (parse_bytes (b, &s, &err), ==, KE_STATUS_OK);
  const struct ke_tensor *t = ke_tset_get (s, "a.weight");
  g_assert_nonnull (t);
  g_assert_true (ke_tensor_shape_is (t, 2, (int64_t[]) { 2, 16 }));
  g_assert_cmpfloat (((const float *) t->data)[31], ==, 31.0f);
  ke_tset_free (s);
  g_byte_array_unref (b);

  /* 5-D tensor stored natively */
  b = make_file ("patch_embedding.weight", 5, d5, 0, 0, none);
  g_assert_cmpint (parse_bytes (b, &s, &err), ==, KE_STATUS_OK);
  g_assert_true (ke_tensor_shape_is (ke_tset_get (s, "patch_embedding.weight"), 5, (int64_t[]) { 4, 3, 1, 2, 2 }));
  ke_tset_free (s);
  g_byte_array_unref (b);

  /* general.alignment 64 honoured (data at a 64-aligned start and offset) */
  b = make_file ("x", 2, d2, 0, 64, (struct kv_opts) { .align = 64 });
  g_assert_cmpint (parse_bytes (b, &s, &err), ==, KE_STATUS_OK);
  t = ke_tset_get (s, "x");
  g_assert_cmpint ((guintptr) ((const unsigned char *) t->data - b->data) % 64, ==, 0);
  g_assert_cmpfloat (((const float *) t->data)[5], ==, 5.0f);
  ke_tset_free (s);
  g_byte_array_unref (b);

  /* comfy.gguf.orig_shape overrides reversed(dims) */
  const guint64 flat[1] = { 32 };
  b = make_file ("y", 1, flat, 0, 0, (struct kv_opts) { .orig_name = "y" });
  g_assert_cmpint (parse_bytes (b, &s, &err), ==, KE_STATUS_OK);
  g_assert_true (ke_tensor_shape_is (ke_tset_get (s, "y"), 2, (int64_t[]) { 2, 16 }));
  ke_tset_free (s);
  g_byte_array_unref (b);

  /* hostile: each names the tensor */
  expect_error (make_file ("w.unk", 2, d2, 99, 0, none), KE_STATUS_FORMAT, "'w.unk' has unknown GGUF type 99");
  expect_error (make_file ("w.iq", 2, d2, 16, 0, none), KE_STATUS_UNSUPPORTED, "'w.iq' has type IQ2_XXS");
  expect_error (make_file ("w.6d", 6, d6, 0, 0, none), KE_STATUS_UNSUPPORTED, "'w.6d' has 6 dimensions");
  expect_error (make_file ("w.off", 2, d2, 0, 1 << 20, none), KE_STATUS_FORMAT, "'w.off': data bytes");
  expect_error (make_file ("w.mis", 2, d2, 0, 4, none), KE_STATUS_FORMAT, "'w.mis': data offset 4");
  const guint64 odd[2] = { 16, 2 };
  expect_error (make_file ("w.blk", 2, odd, 8, 0, none), KE_STATUS_FORMAT, "'w.blk' (Q8_0): row of 16");
  const guint64 huge[2] = { (guint64) 1 << 40, (guint64) 1 << 40 };
  expect_error (make_file ("w.big", 2, huge, 0, 0, none), KE_STATUS_FORMAT, "'w.big'");
  expect_error (make_file ("w.bad", 1, flat, 0, 0, (struct kv_opts) { .orig_name = "w.bad", .align = 3 }),
                KE_STATUS_FORMAT, "general.alignment 3");

  /* absurd counts and lengths */
  b = make_file ("z", 2, d2, 0, 0, none);
  for (int i = 0; i < 8; i++)
    b->data[8 + i] = 0xff;   /* n_tensors */
  expect_error (b, KE_STATUS_FORMAT, "tensors");
  b = make_file ("z", 2, d2, 0, 0, none);
  for (int i = 0; i < 8; i++)
    b->data[24 + i] = 0x7f;  /* length of the first key */
  expect_error (b, KE_STATUS_FORMAT, "past the end");
  b = make_file ("z", 2, d2, 0, 0, none);
  b->data[4] = 1;            /* version 1 */
  expect_error (b, KE_STATUS_UNSUPPORTED, "version 1");
}

/* A DiT weight whose shape disagrees with the model is refused naming file and tensor (the loader
 * reads it; the model's shape check names it). */
static void
test_shape_disagrees (void)
{
  g_autofree char *p = test_fixture_path ("gguf/wan-t2v-tiny-q8_0.gguf");
  if (!test_require_fixture (p))
    return;
  struct ke_error err = { 0 };
  struct ke_tensor_set *s = NULL;
  g_assert_cmpint (ke_gguf_open (&s, p, &err), ==, KE_STATUS_OK);
  const struct ke_tensor *t = ke_tset_require (s, "blocks.0.ffn.0.weight", 2, (int64_t[]) { 256, 64 }, &err);
  g_assert_null (t);
  g_assert_cmpint (err.code, ==, KE_STATUS_SHAPE);
  g_assert_nonnull (strstr (err.msg, p));
  g_assert_nonnull (strstr (err.msg, "blocks.0.ffn.0.weight"));
  ke_tset_free (s);
}

/* Quantizers: round trip of random rows within each type's step (Q8_0: half a step of amax/127 per
 * 32-block, plus the f16 rounding of d; Q4_0: amax/8 per block; Q4_K / Q6_K: the sub-block range over
 * 15 (resp. 63) steps with 6-bit (8-bit) scale rounding and the clamp of the opposite extreme: bounded
 * here by 12 % (5 %) of the row's amax). */
static void
test_quantize_round_trip (void)
{
  const struct
  {
    enum ke_dtype t;
    double rel;
  } cases[] = {
    { KE_DTYPE_Q8_0, 0.0045 }, { KE_DTYPE_Q4_0, 0.13 }, { KE_DTYPE_Q4_K, 0.12 }, { KE_DTYPE_Q6_K, 0.05 },
  };
  const int64_t n = 1024;
  float x[1024], y[1024];
  test_fill_random (x, (size_t) n, 7);
  for (size_t c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      guint8 *q = g_malloc (ke_dtype_row_bytes (cases[c].t, n));
      g_assert_cmpint (ke_quantize_row (cases[c].t, x, q, n), ==, 0);
      ke_dequant_row_f32 (cases[c].t, q, y, n);
      double dmax = 0, e2 = 0;
      for (int64_t i = 0; i < n; i++)
        {
          dmax = fmax (dmax, fabs ((double) y[i] - x[i]));
          e2 += ((double) y[i] - x[i]) * ((double) y[i] - x[i]);
        }
      g_test_message ("%s: max err %.4g, rms %.4g (|x| < 1)", ke_dtype_name (cases[c].t), dmax, sqrt (e2 / n));
      g_assert_cmpfloat (dmax, <=, cases[c].rel);
      g_assert_cmpfloat (dmax, >, 0.0);
      /* bf16 dequant = f32 dequant rounded */
      uint16_t hb[1024];
      ke_dequant_row_bf16 (cases[c].t, q, hb, n);
      for (int64_t i = 0; i < n; i++)
        g_assert_cmpuint (hb[i], ==, ke_f32_to_bf16 (y[i]));
      g_free (q);
    }
  g_assert_cmpint (ke_quantize_row (KE_DTYPE_Q2_K, x, y, 256), ==, -1);
}

/* The streaming writer's files read back: a 5-D F32, a Q4_K and a BF16 tensor, data in odd pieces. */
static void
test_writer_round_trip (void)
{
  float pe[4 * 3 * 1 * 2 * 2];
  float wq[4 * 512];
  uint16_t bf[6];
  test_fill_random (pe, G_N_ELEMENTS (pe), 1);
  test_fill_random (wq, G_N_ELEMENTS (wq), 2);
  for (int i = 0; i < 6; i++)
    bf[i] = ke_f32_to_bf16 ((float) i - 2.5f);
  guint8 q[4 * 2 * 144];
  g_assert_cmpint (ke_quantize_row (KE_DTYPE_Q4_K, wq, q, 4 * 512), ==, 0);
  const struct ke_gguf_tensor_info infos[3] = {
    { "patch_embedding.weight", KE_DTYPE_F32, 5, { 4, 3, 1, 2, 2 } },
    { "blocks.0.ffn.0.weight", KE_DTYPE_Q4_K, 2, { 4, 512 } },
    { "b", KE_DTYPE_BF16, 2, { 2, 3 } },
  };
  g_autofree char *p = test_tmp_path ("written.gguf");
  struct ke_error err = { 0 };
  struct ke_gguf_writer *w = NULL;
  g_assert_cmpint (ke_gguf_writer_open (&w, p, "wan", 3, infos, &err), ==, KE_STATUS_OK);
  const guint8 *parts[3] = { (const guint8 *) pe, q, (const guint8 *) bf };
  const size_t sizes[3] = { sizeof pe, sizeof q, sizeof bf };
  for (int t = 0; t < 3; t++)
    for (size_t off = 0; off < sizes[t]; off += 37)
      g_assert_cmpint (ke_gguf_writer_data (w, parts[t] + off, MIN (37, sizes[t] - off), &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_gguf_writer_close (w, &err), ==, KE_STATUS_OK);
  struct ke_tensor_set *s = NULL;
  g_assert_cmpint (ke_weights_open (&s, p, &err), ==, KE_STATUS_OK);
  g_assert_cmpstr (ke_tset_meta (s, "gguf.architecture"), ==, "wan");
  for (int t = 0; t < 3; t++)
    {
      const struct ke_tensor *x = ke_tset_get (s, infos[t].name);
      g_assert_nonnull (x);
      g_assert_cmpint (x->type, ==, infos[t].type);
      g_assert_true (ke_tensor_shape_is (x, infos[t].n_dims, infos[t].shape));
      g_assert_cmpuint (ke_tensor_nbytes (x), ==, sizes[t]);
      g_assert_cmpint (memcmp (x->data, parts[t], sizes[t]), ==, 0);
    }
  ke_tset_free (s);
  /* a row that is not whole blocks is refused at open, and nothing is left behind */
  const struct ke_gguf_tensor_info bad = { "x", KE_DTYPE_Q8_0, 2, { 2, 16 } };
  g_autofree char *p2 = test_tmp_path ("bad.gguf");
  g_assert_cmpint (ke_gguf_writer_open (&w, p2, "wan", 1, &bad, &err), ==, KE_STATUS_INVALID);
  g_assert_false (g_file_test (p2, G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/gguf/fixtures", test_fixtures);
  g_test_add_func ("/gguf/broken-fixture", test_broken_fixture);
  g_test_add_func ("/gguf/every-truncation", test_every_truncation);
  g_test_add_func ("/gguf/hand-made", test_hand_made);
  g_test_add_func ("/gguf/shape-disagrees", test_shape_disagrees);
  g_test_add_func ("/gguf/quantize", test_quantize_round_trip);
  g_test_add_func ("/gguf/writer", test_writer_round_trip);
  return g_test_run ();
}
