/* Tests for engine/models/te/umt5.c (and eval-t5.c, name-map.c): the t5_tiny golden fixture through
 * ke_eval (the CLI path), the unpadded run over real tokens, bucket table, foreign names, bf16 and
 * scaled fp8 weights, and refused inputs. */
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backends/backend.h"
#include "core/error.h"
#include "loaders/loaders.h"
#include "loaders/name-map.h"
#include "models/te/umt5.h"
#include "ke-debug.h"
#include "test-util.h"

/* Module fixture tolerance (fixtures/README.md): float32 vs the float64 reference stays below 2.3e-6,
 * so 1e-4 absolute + 1e-4 relative leaves room for another summation order, no more. */
#define ATOL 1e-4
#define RTOL 1e-4

static struct ke_tensor_set *
open_set (const char *name)
{
  g_autofree char *path = test_fixture_path (name);
  struct ke_tensor_set *s = NULL;
  struct ke_error err = { 0 };
  if (ke_safetensors_open_file (&s, path, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  return s;
}

static gboolean
have_fixtures (void)
{
  g_autofree char *w = test_fixture_path ("t5_tiny.weights.safetensors");
  g_autofree char *io = test_fixture_path ("t5_tiny.io.safetensors");
  return test_require_fixture (w) && test_require_fixture (io);
}

static void
test_fixture_eval (void)
{
  if (!have_fixtures ())
    return;
  g_autofree char *w = test_fixture_path ("t5_tiny.weights.safetensors");
  g_autofree char *in = test_fixture_path ("t5_tiny.io.safetensors");
  g_autofree char *outp = test_tmp_path ("t5-out.safetensors");
  struct ke_eval_args a = { .weights = w, .in = in, .out = outp };
  struct ke_error err = { 0 };
  if (ke_eval ("t5", &a, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  struct ke_tensor_set *io = open_set ("t5_tiny.io.safetensors");
  struct ke_tensor_set *out = NULL;
  g_assert_cmpint (ke_safetensors_open_file (&out, outp, &err), ==, KE_STATUS_OK);
  const char *names[] = { "hidden", "inter.token_embedding", "inter.pos_bias0", "inter.pos_bias1",
                          "inter.block0", "inter.block1" };
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      const struct ke_tensor *got = ke_tset_get (out, names[i]);
      const struct ke_tensor *ref = ke_tset_get (io, names[i]);
      g_assert_nonnull (got);
      g_assert_nonnull (ref);
      g_assert_true (test_tensor_allclose (names[i], got, ref, ATOL, RTOL));
    }
  /* buckets are integers: exact */
  const struct ke_tensor *gb = ke_tset_get (out, "rel_bucket");
  const struct ke_tensor *rb = ke_tset_get (io, "rel_bucket");
  g_assert_nonnull (gb);
  g_assert_cmpint (gb->type, ==, KE_DTYPE_I64);
  g_assert_cmpint (ke_tensor_nelements (gb), ==, ke_tensor_nelements (rb));
  g_assert_cmpmem (gb->data, ke_tensor_nbytes (gb), rb->data, ke_tensor_nbytes (rb));
  ke_tset_free (out);
  ke_tset_free (io);
}

/* Encode each sequence over its real tokens only (no padding, no mask) and compare with the padded
 * reference run's first `length` rows. Masked keys contribute exactly zero there, so only summation
 * order differs: the module tolerance applies. */
static void
check_unpadded (struct ke_tensor_set *w, struct ke_backend *be, double atol, double rtol)
{
  struct ke_tensor_set *io = open_set ("t5_tiny.io.safetensors");
  struct ke_umt5 *m = NULL;
  struct ke_error err = { 0 };
  if (ke_umt5_init (&m, w, be, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  const struct ke_tensor *ids = ke_tset_get (io, "ids");
  const struct ke_tensor *mask = ke_tset_get (io, "mask");
  const struct ke_tensor *ref = ke_tset_get (io, "hidden");
  const int64_t L = ids->ne[0], B = ids->ne[1], D = m->cfg.dim;
  float *ref_f = ke_tensor_to_f32_alloc (ref);
  for (int64_t b = 0; b < B; b++)
    {
      const int64_t *mk = (const int64_t *) mask->data + b * L;
      int64_t n = 0;
      while (n < L && mk[n])
        n++;
      g_assert_cmpint (n, >, 0);
      float *h = g_new (float, n * D);
      g_assert_cmpint (ke_umt5_encode (m, h, (const int64_t *) ids->data + b * L, NULL, n, NULL, &err), ==,
                       KE_STATUS_OK);
      g_autofree char *what = g_strdup_printf ("sequence %d (%d real tokens)", (int) b, (int) n);
      g_assert_true (test_allclose (what, h, ref_f + b * L * D, (size_t) (n * D), atol, rtol));
      g_free (h);
    }
  g_free (ref_f);
  ke_umt5_free (m);
  ke_tset_free (io);
}

static void
test_unpadded (void)
{
  if (!have_fixtures ())
    return;
  struct ke_tensor_set *w = open_set ("t5_tiny.weights.safetensors");
  check_unpadded (w, ke_backend_cpu (), ATOL, RTOL);
  ke_tset_free (w);
}

static void
test_config (void)
{
  if (!have_fixtures ())
    return;
  struct ke_tensor_set *w = open_set ("t5_tiny.weights.safetensors");
  struct ke_umt5 *m = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_umt5_init (&m, w, ke_backend_cpu (), &err), ==, KE_STATUS_OK);
  g_assert_cmpint (m->cfg.vocab, ==, 300);
  g_assert_cmpint (m->cfg.dim, ==, 64);
  g_assert_cmpint (m->cfg.dim_attn, ==, 64);
  g_assert_cmpint (m->cfg.dim_ffn, ==, 128);
  g_assert_cmpint (m->cfg.n_heads, ==, 4);
  g_assert_cmpint (m->cfg.n_layers, ==, 2);
  g_assert_cmpint (m->cfg.n_buckets, ==, 32);
  /* bad ids are refused, not read out of bounds */
  int64_t ids[2] = { 5, 300 };
  float h[2 * 64];
  g_assert_cmpint (ke_umt5_encode (m, h, ids, NULL, 2, NULL, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "300"));
  ke_umt5_free (m);
  ke_tset_free (w);
}

/* wan22-spec §4: the per-sign bucket table for 32 buckets, max distance 128. */
static void
test_buckets (void)
{
  static const struct { int lo, hi, b; } table[] = {
    { 8, 11, 8 }, { 12, 15, 9 }, { 16, 22, 10 }, { 23, 31, 11 }, { 32, 45, 12 }, { 46, 63, 13 },
    { 64, 90, 14 }, { 91, 2000, 15 },
  };
  for (int a = 0; a < 8; a++)
    {
      g_assert_cmpint (ke_umt5_bucket (-a, 32, 128), ==, a);
      g_assert_cmpint (ke_umt5_bucket (a, 32, 128), ==, a == 0 ? 0 : 16 + a);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (table); i++)
    for (int a = table[i].lo; a <= table[i].hi; a++)
      {
        g_assert_cmpint (ke_umt5_bucket (-a, 32, 128), ==, table[i].b);
        g_assert_cmpint (ke_umt5_bucket (a, 32, 128), ==, 16 + table[i].b);
      }
}

/* A copy of the tiny weights under HF/ComfyUI names (data shared), optionally with `dtype` weights. */
static const char *
hf_name (const char *official, char *buf, gsize n)
{
  int i;
  char what[64];
  if (strcmp (official, "token_embedding.weight") == 0)
    return "shared.weight";
  if (strcmp (official, "norm.weight") == 0)
    return "encoder.final_layer_norm.weight";
  if (sscanf (official, "blocks.%d.%63s", &i, what) != 2)
    g_error ("unexpected name %s", official);
  const char *tail = NULL;
  if (strcmp (what, "norm1.weight") == 0)
    tail = "layer.0.layer_norm.weight";
  else if (strcmp (what, "norm2.weight") == 0)
    tail = "layer.1.layer_norm.weight";
  else if (strcmp (what, "pos_embedding.embedding.weight") == 0)
    tail = "layer.0.SelfAttention.relative_attention_bias.weight";
  else if (strcmp (what, "ffn.gate.0.weight") == 0)
    tail = "layer.1.DenseReluDense.wi_0.weight";
  else if (strcmp (what, "ffn.fc1.weight") == 0)
    tail = "layer.1.DenseReluDense.wi_1.weight";
  else if (strcmp (what, "ffn.fc2.weight") == 0)
    tail = "layer.1.DenseReluDense.wo.weight";
  else if (g_str_has_prefix (what, "attn."))
    {
      g_snprintf (buf, n, "encoder.block.%d.layer.0.SelfAttention.%c.weight", i, what[5]);
      return buf;
    }
  g_assert_nonnull (tail);
  g_snprintf (buf, n, "encoder.block.%d.%s", i, tail);
  return buf;
}

/* Nearest fp8 e4m3 code of v (brute force over the 256 codes; tests only). */
static uint8_t
to_f8 (float v)
{
  uint8_t best = 0;
  float bd = INFINITY;
  for (int c = 0; c < 256; c++)
    {
      float f = ke_f8e4m3_to_f32 ((uint8_t) c);
      if (isfinite (f) && fabsf (f - v) < bd)
        {
          bd = fabsf (f - v);
          best = (uint8_t) c;
        }
    }
  return best;
}

static struct ke_tensor_set *
foreign_copy_raw (struct ke_tensor_set *w, enum ke_dtype dtype)
{
  struct ke_tensor_set *s = ke_tset_new ("foreign");
  struct ke_error err = { 0 };
  for (int i = 0; i < ke_tset_count (w); i++)
    {
      const struct ke_tensor *t = ke_tset_at (w, i);
      char buf[160];
      const char *nm = hf_name (t->name, buf, sizeof buf);
      int64_t shape[KE_MAX_DIMS];
      for (int d = 0; d < t->n_dims; d++)
        shape[d] = t->ne[t->n_dims - 1 - d];
      const int64_t n = ke_tensor_nelements (t);
      const float *src = t->data;
      const gboolean linear = t->n_dims == 2 && strstr (nm, "block") && !strstr (nm, "relative");
      enum ke_dtype ty = linear ? dtype : KE_DTYPE_F32;
      void *data = g_malloc (n * ke_dtype_size (ty));
      float scale = 1.0f;
      if (ty == KE_DTYPE_BF16)
        for (int64_t j = 0; j < n; j++)
          ((uint16_t *) data)[j] = ke_f32_to_bf16 (src[j]);
      else if (ty == KE_DTYPE_F16)
        for (int64_t j = 0; j < n; j++)
          ((uint16_t *) data)[j] = ke_f32_to_f16 (src[j]);
      else if (ty == KE_DTYPE_F8_E4M3)
        {
          float amax = 0;
          for (int64_t j = 0; j < n; j++)
            amax = fmaxf (amax, fabsf (src[j]));
          scale = amax / 448.0f;
          for (int64_t j = 0; j < n; j++)
            ((uint8_t *) data)[j] = to_f8 (src[j] / scale);
        }
      else
        memcpy (data, src, n * sizeof (float));
      ke_tset_own_malloc (s, data);
      g_assert_nonnull (ke_tset_add (s, nm, ty, t->n_dims, shape, data, &err));
      if (ty == KE_DTYPE_F8_E4M3)
        {
          /* ComfyUI layout: <layer>.scale_weight beside <layer>.weight */
          char sn[200];
          g_snprintf (sn, sizeof sn, "%.*sscale_weight", (int) (strlen (nm) - strlen ("weight")), nm);
          float *sv = g_new (float, 1);
          *sv = scale;
          ke_tset_own_malloc (s, sv);
          g_assert_nonnull (ke_tset_add (s, sn, KE_DTYPE_F32, 0, NULL, sv, &err));
        }
    }
  if (dtype == KE_DTYPE_F8_E4M3)
    {
      uint8_t *marker = g_new0 (uint8_t, 1);
      ke_tset_own_malloc (s, marker);
      ke_tset_add (s, "scaled_fp8", KE_DTYPE_F8_E4M3, 0, NULL, marker, &err);
    }
  return s;
}

static struct ke_tensor_set *
foreign_copy (struct ke_tensor_set *w, enum ke_dtype dtype)
{
  struct ke_tensor_set *s = foreign_copy_raw (w, dtype);
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_name_map_apply (s, KE_NAME_ROLE_T5, &err), ==, KE_STATUS_OK);
  g_assert_cmpstr (ke_tset_meta (s, "name_style"), ==, "hf");
  return s;
}

static void
test_hf_names (void)
{
  if (!have_fixtures ())
    return;
  struct ke_tensor_set *w = open_set ("t5_tiny.weights.safetensors");
  struct ke_tensor_set *f = foreign_copy (w, KE_DTYPE_F32);
  g_assert_nonnull (ke_tset_get (f, "blocks.1.pos_embedding.embedding.weight"));
  g_assert_nonnull (ke_tset_get (f, "blocks.0.ffn.gate.0.weight"));
  /* same weights, same numbers: the exact tolerance */
  check_unpadded (f, ke_backend_cpu (), ATOL, RTOL);
  ke_tset_free (f);
  ke_tset_free (w);
}

static void
test_bf16_weights (void)
{
  if (!have_fixtures ())
    return;
  struct ke_tensor_set *w = open_set ("t5_tiny.weights.safetensors");
  struct ke_tensor_set *f = foreign_copy (w, KE_DTYPE_BF16);
  g_assert_cmpint (ke_tset_get (f, "blocks.0.attn.q.weight")->type, ==, KE_DTYPE_BF16);
  /* bf16 weights: the README's bf16 bound, about 1e-2 of the output range (max |hidden| ~4 here), so
   * atol 4e-2 plus rtol 1e-2; observed 1.9e-2. A missing conversion or scale would be off by O(1). */
  check_unpadded (f, ke_backend_cpu (), 4e-2, 1e-2);
  /* the fast path also rounds activations to bf16 before each matmul: the same bound (observed 2.2e-2) */
  check_unpadded (f, ke_backend_cpu_fast (), 4e-2, 1e-2);
  ke_tset_free (f);
  ke_tset_free (w);
}

static void
test_f16_weights (void)
{
  if (!have_fixtures ())
    return;
  struct ke_tensor_set *w = open_set ("t5_tiny.weights.safetensors");
  struct ke_tensor_set *f = foreign_copy (w, KE_DTYPE_F16);
  g_assert_cmpint (ke_tset_get (f, "blocks.1.ffn.fc2.weight")->type, ==, KE_DTYPE_F16);
  /* f16 keeps 11 significant bits (2^-12 relative rounding, 8x finer than bf16): the bf16 bound
   * divided by 8, 5e-3 absolute + 1.25e-3 relative; observed 1.9e-3 */
  check_unpadded (f, ke_backend_cpu (), 5e-3, 1.25e-3);
  ke_tset_free (f);
  ke_tset_free (w);
}

static void
test_fp8_scaled (void)
{
  if (!have_fixtures ())
    return;
  struct ke_tensor_set *w = open_set ("t5_tiny.weights.safetensors");
  struct ke_tensor_set *f = foreign_copy (w, KE_DTYPE_F8_E4M3);
  const struct ke_tensor *q = ke_tset_get (f, "blocks.0.attn.q.weight");
  g_assert_cmpint (q->type, ==, KE_DTYPE_F8_E4M3);
  g_assert_cmpfloat (q->scale, !=, 1.0f);   /* folded from blocks.0.attn.q.scale_weight */
  /* e4m3 keeps 3 mantissa bits (up to 6% per weight): compare with the fp32 run by NMSE, which
   * stays near the per-weight noise (~1e-3) when scales are applied and is ~1 when they are not */
  struct ke_umt5 *m8 = NULL, *m32 = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_umt5_init (&m8, f, ke_backend_cpu (), &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_umt5_init (&m32, w, ke_backend_cpu (), &err), ==, KE_STATUS_OK);
  int64_t ids[9] = { 17, 250, 3, 99, 42, 7, 128, 64, 1 };
  float a[9 * 64], b[9 * 64];
  g_assert_cmpint (ke_umt5_encode (m8, a, ids, NULL, 9, NULL, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_umt5_encode (m32, b, ids, NULL, 9, NULL, &err), ==, KE_STATUS_OK);
  double num = 0, den = 0;
  for (int i = 0; i < 9 * 64; i++)
    {
      num += (a[i] - b[i]) * (double) (a[i] - b[i]);
      den += b[i] * (double) b[i];
    }
  g_test_message ("fp8 scaled vs fp32: NMSE %.3g", num / den);
  g_assert_cmpfloat (num / den, <, 1e-2);
  ke_umt5_free (m8);
  ke_umt5_free (m32);
  ke_tset_free (f);
  ke_tset_free (w);
}

/* A copy of the set (data shared) with the names from[j] renamed to[j], and tensor data_dst (if not
 * NULL) pointing at data_src's data. */
static struct ke_tensor_set *
copy_set (struct ke_tensor_set *w, const char *const *from, const char *const *to, int n_map,
          const char *data_dst, const char *data_src)
{
  struct ke_tensor_set *s = ke_tset_new ("copy");
  struct ke_error err = { 0 };
  for (int i = 0; i < ke_tset_count (w); i++)
    {
      const struct ke_tensor *t = ke_tset_at (w, i);
      const char *nm = t->name;
      for (int j = 0; j < n_map; j++)
        if (strcmp (nm, from[j]) == 0)
          nm = to[j];
      void *data = t->data;
      if (data_dst && strcmp (t->name, data_dst) == 0)
        data = ke_tset_get (w, data_src)->data;
      int64_t shape[KE_MAX_DIMS];
      for (int d = 0; d < t->n_dims; d++)
        shape[d] = t->ne[t->n_dims - 1 - d];
      g_assert_nonnull (ke_tset_add (s, nm, t->type, t->n_dims, shape, data, &err));
    }
  return s;
}

/* Classic T5 (shared_pos): one table at the top, used by every layer. The same as giving every
 * layer that table; the arithmetic is identical, so the outputs must match exactly. */
static void
test_shared_pos (void)
{
  if (!have_fixtures ())
    return;
  struct ke_tensor_set *w = open_set ("t5_tiny.weights.safetensors");
  const char *from[2] = { "blocks.0.pos_embedding.embedding.weight", "blocks.1.pos_embedding.embedding.weight" };
  const char *to[2] = { "pos_embedding.embedding.weight", "unused.pos_embedding" };
  struct ke_tensor_set *shared = copy_set (w, from, to, 2, NULL, NULL);
  struct ke_tensor_set *same = copy_set (w, NULL, NULL, 0, from[1], from[0]);
  struct ke_umt5 *a = NULL, *b = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_umt5_init (&a, shared, ke_backend_cpu (), &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_umt5_init (&b, same, ke_backend_cpu (), &err), ==, KE_STATUS_OK);
  int64_t ids[5] = { 9, 8, 7, 6, 1 };
  float ha[5 * 64], hb[5 * 64];
  g_assert_cmpint (ke_umt5_encode (a, ha, ids, NULL, 5, NULL, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_umt5_encode (b, hb, ids, NULL, 5, NULL, &err), ==, KE_STATUS_OK);
  g_assert_cmpmem (ha, sizeof ha, hb, sizeof hb);
  ke_umt5_free (a);
  ke_umt5_free (b);
  ke_tset_free (shared);
  ke_tset_free (same);
  ke_tset_free (w);
}

/* A ComfyUI-style fp8 scaled file on disk (F8_E4M3 weights, scale_weight beside them, the scaled_fp8
 * marker, HF names) through the public text encoder: the same NMSE bound as fp8-scaled. */
static void
test_fp8_file (void)
{
  if (!have_fixtures ())
    return;
  struct ke_tensor_set *w = open_set ("t5_tiny.weights.safetensors");
  struct ke_tensor_set *f = foreign_copy_raw (w, KE_DTYPE_F8_E4M3);
  g_autofree char *path = test_tmp_path ("umt5_tiny_fp8_e4m3fn_scaled.safetensors");
  const struct ke_tensor **ts = g_new (const struct ke_tensor *, ke_tset_count (f));
  for (int i = 0; i < ke_tset_count (f); i++)
    ts[i] = ke_tset_at (f, i);
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_safetensors_write (path, ts, ke_tset_count (f), NULL, 0, &err), ==, KE_STATUS_OK);
  g_free (ts);
  ke_text_encoder_t *e = NULL;
  if (ke_text_encoder_open (&e, path, NULL, false, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  struct ke_umt5 *m32 = NULL;
  g_assert_cmpint (ke_umt5_init (&m32, w, ke_backend_cpu (), &err), ==, KE_STATUS_OK);
  const int32_t ids[6] = { 17, 250, 3, 99, 42, 1 };
  const int64_t ids64[6] = { 17, 250, 3, 99, 42, 1 };
  float *a = NULL, b[6 * 64];
  g_assert_cmpint (ke_text_encode (e, ids, 6, NULL, &a, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_umt5_encode (m32, b, ids64, NULL, 6, NULL, &err), ==, KE_STATUS_OK);
  double num = 0, den = 0;
  for (int i = 0; i < 6 * 64; i++)
    {
      num += (a[i] - b[i]) * (double) (a[i] - b[i]);
      den += b[i] * (double) b[i];
    }
  g_test_message ("fp8 scaled file vs fp32: NMSE %.3g", num / den);
  g_assert_cmpfloat (num / den, <, 1e-2);
  ke_text_hidden_free (a);
  ke_text_encoder_free (e);
  ke_umt5_free (m32);
  ke_tset_free (f);
  ke_tset_free (w);
}

/* Buffers kept between encodes: a short prompt after a long one (smaller L inside larger buffers)
 * gives bit-identical rows to a fresh model, and so does the long one again after a trim. */
static void
test_workspace (void)
{
  if (!have_fixtures ())
    return;
  struct ke_tensor_set *w = open_set ("t5_tiny.weights.safetensors");
  struct ke_umt5 *m = NULL, *fresh = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_umt5_init (&m, w, ke_backend_cpu (), &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_umt5_init (&fresh, w, ke_backend_cpu (), &err), ==, KE_STATUS_OK);
  int64_t ids[20];
  for (int i = 0; i < 20; i++)
    ids[i] = 2 + (i * 37) % 290;
  float a[20 * 64], b[20 * 64], c[5 * 64], d[5 * 64];
  g_assert_cmpint (ke_umt5_encode (m, a, ids, NULL, 20, NULL, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_umt5_encode (m, c, ids, NULL, 5, NULL, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_umt5_encode (fresh, d, ids, NULL, 5, NULL, &err), ==, KE_STATUS_OK);
  g_assert_cmpmem (c, sizeof c, d, sizeof d);
  ke_umt5_trim (m);
  g_assert_cmpint (m->ws.cap, ==, 0);
  g_assert_cmpint (ke_umt5_encode (m, b, ids, NULL, 20, NULL, &err), ==, KE_STATUS_OK);
  g_assert_cmpmem (a, sizeof a, b, sizeof b);
  ke_umt5_free (m);
  ke_umt5_free (fresh);
  ke_tset_free (w);
}

/* Two sequences encoded together, layer by layer (ke_umt5_encode_many), equal each encoded alone on a
 * fresh model bit for bit, in either order, per-layer (UMT5) and shared (T5 v1.1) position biases alike:
 * each keeps its own residual stream and bias between layers. A single encode after them reuses the
 * larger buffers and still matches. Refused: 0 or 3 sequences, a bad id in the second one. */
static void
check_many (struct ke_tensor_set *w)
{
  struct ke_umt5 *m = NULL, *ref = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_umt5_init (&m, w, ke_backend_cpu (), &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_umt5_init (&ref, w, ke_backend_cpu (), &err), ==, KE_STATUS_OK);
  int64_t ids[20], neg[7] = { 7, 77, 177, 277, 3, 4, 1 };
  for (int i = 0; i < 20; i++)
    ids[i] = 2 + (i * 41) % 290;
  float ra[20 * 64], rb[7 * 64], a[20 * 64], b[7 * 64], c[20 * 64];
  g_assert_cmpint (ke_umt5_encode (ref, ra, ids, NULL, 20, NULL, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_umt5_encode (ref, rb, neg, NULL, 7, NULL, &err), ==, KE_STATUS_OK);

  float *h[2] = { a, b };
  const int64_t *pi[2] = { ids, neg };
  const int64_t L[2] = { 20, 7 };
  g_assert_cmpint (ke_umt5_encode_many (m, 2, h, pi, L, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (m->ws.n_seq, ==, 2);
  g_assert_cmpmem (a, sizeof a, ra, sizeof ra);
  g_assert_cmpmem (b, sizeof b, rb, sizeof rb);
  /* the other order, into cleared rows */
  memset (a, 0, sizeof a);
  memset (b, 0, sizeof b);
  float *h2[2] = { b, a };
  const int64_t *pi2[2] = { neg, ids };
  const int64_t L2[2] = { 7, 20 };
  g_assert_cmpint (ke_umt5_encode_many (m, 2, h2, pi2, L2, &err), ==, KE_STATUS_OK);
  g_assert_cmpmem (a, sizeof a, ra, sizeof ra);
  g_assert_cmpmem (b, sizeof b, rb, sizeof rb);
  /* one sequence of them in the two-sequence buffers */
  g_assert_cmpint (ke_umt5_encode (m, c, ids, NULL, 20, NULL, &err), ==, KE_STATUS_OK);
  g_assert_cmpmem (c, sizeof c, ra, sizeof ra);

  g_assert_cmpint (ke_umt5_encode_many (m, 0, h, pi, L, &err), ==, KE_STATUS_INVALID);
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_umt5_encode_many (m, 3, h, pi, L, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "3 sequences"));
  neg[4] = 1 << 20;
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_umt5_encode_many (m, 2, h, pi, L, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "position 4"));
  ke_umt5_free (m);
  ke_umt5_free (ref);
}

static void
test_encode_many (void)
{
  if (!have_fixtures ())
    return;
  struct ke_tensor_set *w = open_set ("t5_tiny.weights.safetensors");
  check_many (w);
  const char *from[2] = { "blocks.0.pos_embedding.embedding.weight", "blocks.1.pos_embedding.embedding.weight" };
  const char *to[2] = { "pos_embedding.embedding.weight", "unused.pos_embedding" };
  struct ke_tensor_set *shared = copy_set (w, from, to, 2, NULL, NULL);
  check_many (shared);
  ke_tset_free (shared);
  ke_tset_free (w);
}

static int
abort_after (void *user_data)
{
  int *calls = user_data;
  return ++*calls > 1;
}

/* The cancel hook is polled between layers: cancelling after the first layer stops the encode. */
static void
test_abort (void)
{
  if (!have_fixtures ())
    return;
  struct ke_tensor_set *w = open_set ("t5_tiny.weights.safetensors");
  struct ke_umt5 *m = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_umt5_init (&m, w, ke_backend_cpu (), &err), ==, KE_STATUS_OK);
  int calls = 0;
  struct ke_umt5_trace tr = { .abort = abort_after, .user_data = &calls };
  int64_t ids[3] = { 4, 5, 1 };
  float h[3 * 64];
  g_assert_cmpint (ke_umt5_encode (m, h, ids, NULL, 3, &tr, &err), ==, KE_STATUS_ABORTED);
  g_assert_cmpint (calls, ==, 2);
  ke_umt5_free (m);
  ke_tset_free (w);
}

static void
test_missing_tensor (void)
{
  if (!have_fixtures ())
    return;
  struct ke_tensor_set *w = open_set ("t5_tiny.weights.safetensors");
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_tset_rename (w, "blocks.1.ffn.fc2.weight", "blocks.1.ffn.fc9.weight", &err), ==, KE_STATUS_OK);
  struct ke_umt5 *m = NULL;
  g_assert_cmpint (ke_umt5_init (&m, w, ke_backend_cpu (), &err), ==, KE_STATUS_MISSING);
  g_assert_null (m);
  g_assert_nonnull (strstr (err.msg, "blocks.1.ffn.fc2.weight"));
  g_assert_nonnull (strstr (err.msg, "t5_tiny.weights.safetensors"));
  ke_tset_free (w);
}

/* --- the layers made on a second thread (ke_umt5_init_ahead) --------------------------------------
 * A CPU backend with a slow linear_prepare (so encodes really wait for layers), one that fails the
 * n-th prepare, and one that offers no preparing thread. */
static struct ke_backend_ops g_ahead_ops;
static int g_prepare_calls, g_prepare_fail_at, g_prepare_sleep_us, g_thread_refused;

static int
ahead_prepare (struct ke_backend *be, struct ke_linear *l)
{
  if (g_prepare_sleep_us)
    g_usleep (g_prepare_sleep_us);
  if (++g_prepare_calls == g_prepare_fail_at)
    return ke_be_fail (be, KE_STATUS_NOMEM, "out of memory for a test weight"), -1;
  return ke_backend_cpu ()->ops->linear_prepare (be, l);
}

static int
ahead_thread (struct ke_backend *be, int begin)
{
  (void) be;
  return begin && g_thread_refused ? -1 : 0;
}

static struct ke_backend
ahead_backend (int sleep_us, int fail_at, int refuse_thread)
{
  g_ahead_ops = *ke_backend_cpu ()->ops;
  g_ahead_ops.linear_prepare = ahead_prepare;
  g_ahead_ops.prepare_thread = ahead_thread;
  g_prepare_calls = 0;
  g_prepare_sleep_us = sleep_us;
  g_prepare_fail_at = fail_at;
  g_thread_refused = refuse_thread;
  return (struct ke_backend) { .ops = &g_ahead_ops, .precision = ke_backend_cpu ()->precision };
}

/* Two prompts (20, then 5 tokens) encoded while the layers are still being made equal, bit for bit, the
 * same prompts on an encoder made whole first: the order of the work changes, not the work. */
static void
check_ahead_equal (struct ke_tensor_set *w, struct ke_backend *be, gboolean expect_thread)
{
  struct ke_umt5 *ref = NULL, *m = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_umt5_init (&ref, w, ke_backend_cpu (), &err), ==, KE_STATUS_OK);
  int64_t ids[20];
  for (int i = 0; i < 20; i++)
    ids[i] = 2 + (i * 53) % 290;
  float a[20 * 64], b[5 * 64], ra[20 * 64], rb[5 * 64];
  g_assert_cmpint (ke_umt5_encode (ref, ra, ids, NULL, 20, NULL, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_umt5_encode (ref, rb, ids + 7, NULL, 5, NULL, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_umt5_init_ahead (&m, w, be, &err), ==, KE_STATUS_OK);
  /* 14 prepares of 20 ms each: the thread is still at work when init returns */
  if (expect_thread)
    g_assert_nonnull (m->maker);
  else
    g_assert_null (m->maker);
  g_assert_cmpint (ke_umt5_encode (m, a, ids, NULL, 20, NULL, &err), ==, KE_STATUS_OK);
  g_assert_null (m->maker); /* joined once every layer was there */
  g_assert_cmpint (g_prepare_calls, ==, 14);
  g_assert_cmpint (ke_umt5_encode (m, b, ids + 7, NULL, 5, NULL, &err), ==, KE_STATUS_OK);
  g_assert_cmpmem (a, sizeof a, ra, sizeof ra);
  g_assert_cmpmem (b, sizeof b, rb, sizeof rb);
  g_assert_false (m->make_failed);
  ke_umt5_free (m);

  /* both prompts together while the layers are being made (the pipeline's prompt and negative prompt):
   * each layer waited for once, the same rows */
  g_prepare_calls = 0;
  memset (a, 0, sizeof a);
  memset (b, 0, sizeof b);
  g_assert_cmpint (ke_umt5_init_ahead (&m, w, be, &err), ==, KE_STATUS_OK);
  if (expect_thread)
    g_assert_nonnull (m->maker);
  float *h[2] = { a, b };
  const int64_t *pi[2] = { ids, ids + 7 };
  const int64_t L[2] = { 20, 5 };
  g_assert_cmpint (ke_umt5_encode_many (m, 2, h, pi, L, &err), ==, KE_STATUS_OK);
  g_assert_null (m->maker);
  g_assert_cmpint (g_prepare_calls, ==, 14);
  g_assert_cmpmem (a, sizeof a, ra, sizeof ra);
  g_assert_cmpmem (b, sizeof b, rb, sizeof rb);
  ke_umt5_free (m);
  ke_umt5_free (ref);
}

static void
test_made_ahead (void)
{
  if (!have_fixtures ())
    return;
  struct ke_tensor_set *w = open_set ("t5_tiny.weights.safetensors");
  struct ke_backend be = ahead_backend (20000, 0, 0);
  check_ahead_equal (w, &be, TRUE);
  /* the backend gives the thread no stream: the encode makes the layers itself, same result */
  be = ahead_backend (20000, 0, 1);
  check_ahead_equal (w, &be, TRUE);
  /* a backend without prepare_thread: ke_umt5_init, nothing left to make */
  be = ahead_backend (0, 0, 0);
  g_ahead_ops.prepare_thread = NULL;
  check_ahead_equal (w, &be, FALSE);
  ke_tset_free (w);
}

/* A layer that cannot be made (out of device memory on the making thread): the encode waiting for it
 * fails with that message and make_failed set (text-cache.c then encodes on the CPU); so does the next
 * encode; nothing hangs. Refused names and dtypes are refused by init itself, before any thread runs. */
static void
test_made_ahead_fails (void)
{
  if (!have_fixtures ())
    return;
  struct ke_tensor_set *w = open_set ("t5_tiny.weights.safetensors");
  struct ke_backend be = ahead_backend (1000, 10, 0); /* the 10th prepare: layer 1's third linear */
  struct ke_umt5 *m = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_umt5_init_ahead (&m, w, &be, &err), ==, KE_STATUS_OK);
  int64_t ids[4] = { 7, 8, 9, 1 };
  float h[4 * 64];
  g_assert_cmpint (ke_umt5_encode (m, h, ids, NULL, 4, NULL, &err), ==, KE_STATUS_NOMEM);
  g_assert_true (m->make_failed);
  g_assert_nonnull (strstr (err.msg, "blocks.1.attn.v.weight"));
  g_assert_false (ke_be_failed (&be)); /* the encode read and cleared the backend's record */
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_umt5_encode (m, h, ids, NULL, 4, NULL, &err), ==, KE_STATUS_NOMEM);
  g_assert_cmpstr (err.msg, !=, "");
  ke_umt5_free (m);

  /* a missing tensor of the last layer: init refuses it at once, no thread left behind */
  g_assert_cmpint (ke_tset_rename (w, "blocks.1.ffn.fc2.weight", "blocks.1.ffn.fc9.weight", &err), ==, KE_STATUS_OK);
  be = ahead_backend (0, 0, 0);
  m = NULL;
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_umt5_init_ahead (&m, w, &be, &err), ==, KE_STATUS_MISSING);
  g_assert_null (m);
  g_assert_cmpint (g_prepare_calls, ==, 0);
  ke_tset_free (w);
}

/* Freed while the thread is still making layers (a job cancelled during its text stage): the thread
 * stops after the layer at hand and is joined; the prepares it did are released (the ASan suite checks
 * for leaks). */
static void
test_made_ahead_freed (void)
{
  if (!have_fixtures ())
    return;
  struct ke_tensor_set *w = open_set ("t5_tiny.weights.safetensors");
  struct ke_backend be = ahead_backend (50000, 0, 0); /* 0.7 s for all 14 prepares */
  struct ke_umt5 *m = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_umt5_init_ahead (&m, w, &be, &err), ==, KE_STATUS_OK);
  g_usleep (20000);
  ke_umt5_free (m);
  g_assert_cmpint (g_prepare_calls, <, 14);
  ke_tset_free (w);
}

/* The device memory plan of UMT5-XXL (text-cache.c plans an encode on a GPU with it): all resident when
 * the weights and the activations fit; else the resident linears capped at what is left after the
 * activations, the norms and two streaming slots; else it does not fit (the encode runs on the CPU). Exact
 * arithmetic on the sizes (bf16 on the device: no block-0 tensors in the set, so the default 2 bytes). */
static void
test_plan_memory (void)
{
  struct ke_umt5_config c = { .vocab = 256384, .dim = 4096, .dim_attn = 4096, .dim_ffn = 10240, .n_heads = 64,
                              .n_layers = 24, .n_buckets = 32, .max_dist = 128, .eps = 1e-6f };
  struct ke_tensor_set *w = ke_tset_new ("plan");
  struct ke_umt5_mem_plan p;
  const size_t layer = (4 * 4096 * 4096 + 3 * 4096 * 10240) * (size_t) 2;
  const size_t norms = (2 * 24 + 1) * 4096 * sizeof (float);

  ke_umt5_plan_memory (&c, w, 512, 1, SIZE_MAX, &p);
  g_assert_cmpuint (p.layer, ==, layer);
  g_assert_cmpuint (p.weights, ==, 24 * layer + norms);
  g_assert_true (p.fits && !p.streams);
  g_assert_cmpuint (p.weight_cap, ==, SIZE_MAX);
  /* the 512-token workspace: between its raw size (0.17 GiB) and 0.5 GiB with the margins */
  g_assert_cmpuint (p.activations, >, (3 * 512 * 4096 + 4 * 512 * 4096 + 2 * 512 * 10240 + 64 * 512 * 512) * 4);
  g_assert_cmpuint (p.activations, <, (size_t) 1 << 29);

  const size_t act = p.activations;
  ke_umt5_plan_memory (&c, w, 512, 1, act + p.weights, &p);
  g_assert_true (p.fits && !p.streams);
  ke_umt5_plan_memory (&c, w, 512, 1, act + p.weights - 1, &p);
  g_assert_true (p.fits && p.streams);
  g_assert_cmpuint (p.weight_cap, ==, act + p.weights - 1 - act - norms - 2 * layer);
  ke_umt5_plan_memory (&c, w, 512, 1, act + norms + 2 * layer + 1, &p);
  g_assert_true (p.fits && p.streams);
  g_assert_cmpuint (p.weight_cap, ==, 1);
  ke_umt5_plan_memory (&c, w, 512, 1, act + norms + 2 * layer, &p);
  g_assert_false (p.fits);
  ke_umt5_plan_memory (&c, w, 512, 1, 0, &p);
  g_assert_false (p.fits);
  /* two prompts encoded together (ke_umt5_encode_many): the second one's residual stream and bias on top,
   * with the quarter's margin */
  const size_t second = (512 * 4096 + 64 * 512 * 512) * sizeof (float);
  ke_umt5_plan_memory (&c, w, 512, 2, SIZE_MAX, &p);
  g_assert_cmpuint (p.activations, >=, act + second);
  g_assert_cmpuint (p.activations, <=, act + second + second / 4 + 1);
  ke_tset_free (w);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/umt5/plan-memory", test_plan_memory);
  g_test_add_func ("/umt5/fixture-eval", test_fixture_eval);
  g_test_add_func ("/umt5/unpadded", test_unpadded);
  g_test_add_func ("/umt5/config", test_config);
  g_test_add_func ("/umt5/buckets", test_buckets);
  g_test_add_func ("/umt5/hf-names", test_hf_names);
  g_test_add_func ("/umt5/bf16-weights", test_bf16_weights);
  g_test_add_func ("/umt5/f16-weights", test_f16_weights);
  g_test_add_func ("/umt5/fp8-scaled", test_fp8_scaled);
  g_test_add_func ("/umt5/fp8-file", test_fp8_file);
  g_test_add_func ("/umt5/shared-pos", test_shared_pos);
  g_test_add_func ("/umt5/workspace", test_workspace);
  g_test_add_func ("/umt5/encode-many", test_encode_many);
  g_test_add_func ("/umt5/abort", test_abort);
  g_test_add_func ("/umt5/missing-tensor", test_missing_tensor);
  g_test_add_func ("/umt5/made-ahead", test_made_ahead);
  g_test_add_func ("/umt5/made-ahead-fails", test_made_ahead_fails);
  g_test_add_func ("/umt5/made-ahead-freed", test_made_ahead_freed);
  return g_test_run ();
}
