/* UMT5 encoder from a GGUF file in llama.cpp's T5 naming (token_embd, enc.blk.N.attn_q, ...), its
 * Linears and token table stored as Q8_0: the encoding equals the one from the same weights dequantized
 * to F32 under the official names. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backends/backend.h"
#include "loaders/loaders.h"
#include "loaders/name-map.h"
#include "models/te/umt5.h"
#include "pipeline/tiny-impl.h"
#include "test-util.h"

/* official name -> llama.cpp GGUF name (the inverse of name-map.c's "gguf" rules) */
static void
gguf_name (const char *n, char *out, size_t sz)
{
  int b = 0, off = 0;
  if (strcmp (n, "token_embedding.weight") == 0)
    snprintf (out, sz, "token_embd.weight");
  else if (strcmp (n, "norm.weight") == 0)
    snprintf (out, sz, "enc.output_norm.weight");
  else if (sscanf (n, "blocks.%d.%n", &b, &off) == 1 && off > 0)
    {
      const char *r = n + off;
      static const char *const map[][2] = {
        { "norm1.weight", "attn_norm.weight" }, { "attn.q.weight", "attn_q.weight" },
        { "attn.k.weight", "attn_k.weight" }, { "attn.v.weight", "attn_v.weight" },
        { "attn.o.weight", "attn_o.weight" }, { "pos_embedding.embedding.weight", "attn_rel_b.weight" },
        { "norm2.weight", "ffn_norm.weight" }, { "ffn.gate.0.weight", "ffn_gate.weight" },
        { "ffn.fc1.weight", "ffn_up.weight" }, { "ffn.fc2.weight", "ffn_down.weight" },
      };
      snprintf (out, sz, "%s", n);
      for (size_t i = 0; i < G_N_ELEMENTS (map); i++)
        if (strcmp (r, map[i][0]) == 0)
          snprintf (out, sz, "enc.blk.%d.%s", b, map[i][1]);
    }
  else
    snprintf (out, sz, "%s", n);
}

static void
test_umt5_gguf (void)
{
  struct ke_error err = { 0 };
  struct ke_tensor_set *src = NULL;
  g_assert_cmpint (ke_random_t5_weights (&src, 300, 64, 96, 4, 2, NULL, &err), ==, KE_STATUS_OK);
  const int n = ke_tset_count (src);
  struct ke_gguf_tensor_info *infos = g_new0 (struct ke_gguf_tensor_info, n);
  char (*names)[96] = g_malloc ((size_t) n * 96);
  void **data = g_new0 (void *, n);
  size_t *bytes = g_new0 (size_t, n);
  struct ke_tensor_set *ref = ke_tset_new ("dequantized");
  int n_quant = 0;
  for (int i = 0; i < n; i++)
    {
      const struct ke_tensor *t = ke_tset_at (src, i);
      gguf_name (t->name, names[i], 96);
      infos[i].name = names[i];
      infos[i].n_dims = t->n_dims;
      for (int d = 0; d < t->n_dims; d++)
        infos[i].shape[d] = t->ne[t->n_dims - 1 - d];
      const int64_t ne = ke_tensor_nelements (t);
      float *f = ke_tensor_to_f32_alloc (t);
      /* 2-D tables with rows of whole blocks (not the relative-position table) as Q8_0 */
      const bool q = t->n_dims == 2 && t->ne[0] % 32 == 0 && !strstr (t->name, "pos_embedding");
      infos[i].type = q ? KE_DTYPE_Q8_0 : KE_DTYPE_F32;
      bytes[i] = ke_dtype_row_bytes (infos[i].type, ne);
      if (q)
        {
          data[i] = g_malloc (bytes[i]);
          g_assert_cmpint (ke_quantize_row (KE_DTYPE_Q8_0, f, data[i], ne), ==, 0);
          ke_dequant_row_f32 (KE_DTYPE_Q8_0, data[i], f, ne);
          n_quant++;
        }
      else
        data[i] = g_memdup2 (f, bytes[i]);
      g_assert_nonnull (ke_tset_add (ref, t->name, KE_DTYPE_F32, infos[i].n_dims, infos[i].shape, f, &err));
      ke_tset_own_malloc (ref, f);
    }
  g_assert_cmpint (n_quant, ==, 1 + 2 * 7);   /* the token table and 7 Linears per layer */
  g_autofree char *path = test_tmp_path ("umt5-q8_0.gguf");
  struct ke_gguf_writer *w = NULL;
  g_assert_cmpint (ke_gguf_writer_open (&w, path, "t5encoder", n, infos, &err), ==, KE_STATUS_OK);
  for (int i = 0; i < n; i++)
    g_assert_cmpint (ke_gguf_writer_data (w, data[i], bytes[i], &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_gguf_writer_close (w, &err), ==, KE_STATUS_OK);

  struct ke_tensor_set *g = NULL;
  g_assert_cmpint (ke_weights_open (&g, path, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_name_map_apply (g, KE_NAME_ROLE_T5, &err), ==, KE_STATUS_OK);
  g_assert_cmpstr (ke_tset_meta (g, "name_style"), ==, "gguf");
  g_assert_cmpint (ke_tset_get (g, "blocks.1.attn.q.weight")->type, ==, KE_DTYPE_Q8_0);

  const int64_t ids[7] = { 5, 17, 299, 0, 42, 42, 1 };
  float out[2][7 * 64];
  struct ke_tensor_set *sets[2] = { g, ref };
  for (int k = 0; k < 2; k++)
    {
      struct ke_umt5 *m = NULL;
      g_assert_cmpint (ke_umt5_init (&m, sets[k], ke_backend_cpu (), &err), ==, KE_STATUS_OK);
      g_assert_cmpint (ke_umt5_encode (m, out[k], ids, NULL, 7, NULL, &err), ==, KE_STATUS_OK);
      ke_umt5_free (m);
    }
  /* exact backend, the same f32 weights (the GGUF's dequantized per block): fp32 rounding only */
  double amax = 0, dmax = 0;
  for (int i = 0; i < 7 * 64; i++)
    {
      amax = fmax (amax, fabs (out[1][i]));
      dmax = fmax (dmax, fabs ((double) out[0][i] - out[1][i]));
    }
  g_test_message ("UMT5 from Q8_0 GGUF vs dequantized F32: max |diff| %.3g of max |out| %.3g", dmax, amax);
  g_assert_cmpfloat (amax, >, 0);
  g_assert_cmpfloat (dmax, <=, 1e-5 * amax);

  ke_tset_free (g);
  ke_tset_free (ref);
  ke_tset_free (src);
  for (int i = 0; i < n; i++)
    g_free (data[i]);
  g_free (data);
  g_free (bytes);
  g_free (names);
  g_free (infos);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/umt5-gguf/q8_0", test_umt5_gguf);
  return g_test_run ();
}
