/* Tests for LTX-Video's T5 v1.1 XXL text encoder: the UMT5 code with one shared relative bias
 * (engine/models/te/umt5.c), its config check (t5-config.c), `eval t5xxl` (engine/eval/eval-t5xxl.c),
 * the GGUF/ComfyUI names (loaders/name-map.c) and the tokenizer as LTX-Video runs it (t5-tokenizer.c),
 * against the fixtures of tests/ltx/gen_t5xxl.py and Debian's spm_train/spm_encode. */
#include <glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "backends/backend.h"
#include "core/error.h"
#include "ke-debug.h"
#include "ke.h"
#include "loaders/loaders.h"
#include "loaders/name-map.h"
#include "models/te/umt5.h"
#include "test-util.h"

/* Exact path: the float32 fixtures differ from a float64 run of the reference by at most 1.5e-6
 * (tests/ltx/README.md); 1e-4 absolute + 1e-4 relative leaves room for another summation order only. */
#define ATOL 1e-4
#define RTOL 1e-4

static char *
ltx_fixture (const char *name)
{
  const char *root = g_getenv ("KINORA_SOURCE_ROOT");
  return g_build_filename (root ? root : ".", "tests", "ltx", "fixtures", name, NULL);
}

static struct ke_tensor_set *
open_fixture (const char *name)
{
  g_autofree char *path = ltx_fixture (name);
  struct ke_tensor_set *s = NULL;
  struct ke_error err = { 0 };
  if (ke_safetensors_open_file (&s, path, &err) != KE_STATUS_OK)
    g_error ("%s (make it with tests/ltx/make-fixtures.py --only t5xxl)", err.msg);
  return s;
}

/* The weights as the engine sees them (names mapped) and the model over them. */
static struct ke_umt5 *
open_model (struct ke_tensor_set *w, struct ke_backend *be)
{
  struct ke_umt5 *m = NULL;
  struct ke_error err = { 0 };
  if (ke_name_map_apply (w, KE_NAME_ROLE_T5, &err) != KE_STATUS_OK || ke_umt5_init (&m, w, be, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  return m;
}

/* `eval t5xxl` (the CLI path) on both cases: every listed output (hidden, token embedding, the one
 * position bias, each block) within the exact tolerance; the sizes the shapes give match the config. */
static void
test_fixture (gconstpointer data)
{
  const char *tag = data;
  g_autofree char *wn = g_strdup_printf ("t5xxl_%s.weights.safetensors", tag);
  g_autofree char *ion = g_strdup_printf ("t5xxl_%s.io.safetensors", tag);
  g_autofree char *w = ltx_fixture (wn);
  g_autofree char *in = ltx_fixture (ion);
  g_autofree char *outp = test_tmp_path ("t5xxl-out.safetensors");
  struct ke_eval_args a = { .weights = w, .in = in, .out = outp };
  struct ke_error err = { 0 };
  if (ke_eval ("t5xxl", &a, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  struct ke_tensor_set *io = open_fixture (ion);
  struct ke_tensor_set *out = NULL;
  g_assert_cmpint (ke_safetensors_open_file (&out, outp, &err), ==, KE_STATUS_OK);
  test_check_listed_outputs (ion, out, io, ATOL, RTOL);
  g_assert_nonnull (ke_tset_get (out, "inter.pos_bias"));
  ke_tset_free (out);
  ke_tset_free (io);

  struct ke_tensor_set *ws = open_fixture (wn);
  struct ke_umt5 *m = open_model (ws, ke_backend_cpu ());
  g_assert_true (m->cfg.shared_pos);
  g_assert_nonnull (m->pos_table);
  g_assert_null (m->layers[0].pos_table);
  struct ke_umt5_config c = m->cfg;
  g_assert_cmpint (ke_t5_config_apply (&c, ke_tset_meta (ws, "config"), wn, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (c.max_dist, ==, 128);
  g_assert_cmpfloat (c.eps, ==, 1e-6f);
  ke_umt5_free (m);
  ke_tset_free (ws);
}

/* Run a model over case b's sequences, each over its real tokens only (no padding, no mask), and
 * compare with the padded reference's first rows: masked keys add exactly zero there. Returns the
 * largest difference and the NMSE over all compared rows. */
static void
run_unpadded (struct ke_umt5 *m, double *max_diff, double *nmse, double *max_ref)
{
  struct ke_tensor_set *io = open_fixture ("t5xxl_b.io.safetensors");
  struct ke_error err = { 0 };
  const struct ke_tensor *ids = ke_tset_get (io, "ids");
  const struct ke_tensor *mask = ke_tset_get (io, "mask");
  float *ref = ke_tensor_to_f32_alloc (ke_tset_get (io, "hidden"));
  const int64_t L = ids->ne[0], B = ids->ne[1], D = m->cfg.dim;
  double num = 0, den = 0;
  *max_diff = *max_ref = 0;
  for (int64_t b = 0; b < B; b++)
    {
      const int64_t *mk = (const int64_t *) mask->data + b * L;
      int64_t n = 0;
      while (n < L && mk[n])
        n++;
      float *h = g_new (float, n * D);
      g_assert_cmpint (ke_umt5_encode (m, h, (const int64_t *) ids->data + b * L, NULL, n, NULL, &err), ==,
                       KE_STATUS_OK);
      for (int64_t i = 0; i < n * D; i++)
        {
          double r = ref[b * L * D + i], d = fabs (h[i] - r);
          *max_diff = fmax (*max_diff, d);
          *max_ref = fmax (*max_ref, fabs (r));
          num += d * d;
          den += r * r;
        }
      g_free (h);
    }
  *nmse = num / den;
  g_free (ref);
  ke_tset_free (io);
}

static void
test_unpadded (void)
{
  struct ke_tensor_set *w = open_fixture ("t5xxl_b.weights.safetensors");
  struct ke_umt5 *m = open_model (w, ke_backend_cpu ());
  double md, nmse, mr;
  run_unpadded (m, &md, &nmse, &mr);
  g_test_message ("unpadded vs padded reference: max diff %.3g", md);
  g_assert_cmpfloat (md, <=, ATOL + RTOL * mr);
  ke_umt5_free (m);
  ke_tset_free (w);
}

/* The public text encoder (ke_text_encoder_open / ke_text_encode) takes the T5 v1.1 weights as they are:
 * each sequence's real tokens give the reference's rows (the rows LTX-Video's transformer attends to;
 * its encoder attention mask drops the padded ones). */
static void
test_text_encoder (void)
{
  g_autofree char *wp = ltx_fixture ("t5xxl_b.weights.safetensors");
  struct ke_tensor_set *io = open_fixture ("t5xxl_b.io.safetensors");
  ke_text_encoder_t *enc = NULL;
  struct ke_error err = { 0 };
  if (ke_text_encoder_open (&enc, wp, "cpu", false, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  g_assert_cmpint (ke_text_encoder_dim (enc), ==, 40);
  const struct ke_tensor *ids = ke_tset_get (io, "ids");
  const struct ke_tensor *mask = ke_tset_get (io, "mask");
  float *ref = ke_tensor_to_f32_alloc (ke_tset_get (io, "hidden"));
  const int64_t L = ids->ne[0], B = ids->ne[1], D = 40;
  for (int64_t b = 0; b < B; b++)
    {
      int32_t id32[64];
      int n = 0;
      while (n < L && ((const int64_t *) mask->data)[b * L + n])
        {
          id32[n] = (int32_t) ((const int64_t *) ids->data)[b * L + n];
          n++;
        }
      float *h = NULL;
      g_assert_cmpint (ke_text_encode (enc, id32, n, NULL, &h, &err), ==, KE_STATUS_OK);
      g_assert_true (test_allclose ("ke_text_encode", h, ref + b * L * D, (size_t) n * D, ATOL, RTOL));
      ke_text_hidden_free (h);
    }
  g_free (ref);
  ke_text_encoder_free (enc);
  ke_tset_free (io);
}

/* The fast CPU path (bf16 matmuls, fp32 accumulation) against the reference: max |diff| within 3 %
 * of max |ref| and NMSE below 1e-4 (bf16 keeps 8 bits: ~4e-3 relative per product; a missing
 * scale or a wrong shared bias is off by O(1)). */
static void
test_fast (void)
{
  struct ke_tensor_set *w = open_fixture ("t5xxl_b.weights.safetensors");
  struct ke_umt5 *m = open_model (w, ke_backend_cpu_fast ());
  double md, nmse, mr;
  run_unpadded (m, &md, &nmse, &mr);
  g_test_message ("fast path: max diff %.3g (%.3g of max |ref| %.3g), NMSE %.3g", md, md / mr, mr, nmse);
  g_assert_cmpfloat (md, <=, 0.03 * mr);
  g_assert_cmpfloat (nmse, <=, 1e-4);
  ke_umt5_free (m);
  ke_tset_free (w);
}

/* A copy of the set (data shared) with each name passed through rename(). */
static struct ke_tensor_set *
renamed (struct ke_tensor_set *w, char *(*rename) (const char *))
{
  struct ke_tensor_set *s = ke_tset_new ("renamed");
  struct ke_error err = { 0 };
  for (int i = 0; i < ke_tset_count (w); i++)
    {
      const struct ke_tensor *t = ke_tset_at (w, i);
      g_autofree char *nm = rename (t->name);
      if (!nm)
        continue;
      int64_t shape[KE_MAX_DIMS];
      for (int d = 0; d < t->n_dims; d++)
        shape[d] = t->ne[t->n_dims - 1 - d];
      g_assert_nonnull (ke_tset_add (s, nm, t->type, t->n_dims, shape, t->data, &err));
    }
  return s;
}

/* HF T5EncoderModel name -> llama.cpp's T5 GGUF name (city96's t5-v1_1-xxl-encoder-gguf). */
static char *
gguf_name (const char *n)
{
  static const char *const map[][2] = {
    { "layer.0.layer_norm.weight", "attn_norm.weight" },
    { "layer.0.SelfAttention.q.weight", "attn_q.weight" },
    { "layer.0.SelfAttention.k.weight", "attn_k.weight" },
    { "layer.0.SelfAttention.v.weight", "attn_v.weight" },
    { "layer.0.SelfAttention.o.weight", "attn_o.weight" },
    { "layer.0.SelfAttention.relative_attention_bias.weight", "attn_rel_b.weight" },
    { "layer.1.layer_norm.weight", "ffn_norm.weight" },
    { "layer.1.DenseReluDense.wi_0.weight", "ffn_gate.weight" },
    { "layer.1.DenseReluDense.wi_1.weight", "ffn_up.weight" },
    { "layer.1.DenseReluDense.wo.weight", "ffn_down.weight" },
  };
  if (strcmp (n, "shared.weight") == 0)
    return g_strdup ("token_embd.weight");
  if (strcmp (n, "encoder.final_layer_norm.weight") == 0)
    return g_strdup ("enc.output_norm.weight");
  int i, off = 0;
  g_assert_cmpint (sscanf (n, "encoder.block.%d.%n", &i, &off), ==, 1);
  for (gsize k = 0; k < G_N_ELEMENTS (map); k++)
    if (strcmp (n + off, map[k][0]) == 0)
      return g_strdup_printf ("enc.blk.%d.%s", i, map[k][1]);
  g_error ("unexpected name %s", n);
  return NULL;
}

static char *
comfy_name (const char *n)
{
  return g_strdup_printf ("text_encoders.t5xxl.transformer.%s", n);
}

/* The same weights under GGUF names and under a ComfyUI checkpoint prefix give the same numbers. */
static void
test_names (void)
{
  struct ke_tensor_set *w = open_fixture ("t5xxl_b.weights.safetensors");
  char *(*renames[]) (const char *) = { gguf_name, comfy_name };
  for (gsize k = 0; k < G_N_ELEMENTS (renames); k++)
    {
      struct ke_tensor_set *f = renamed (w, renames[k]);
      struct ke_umt5 *m = open_model (f, ke_backend_cpu ());
      g_assert_true (m->cfg.shared_pos);
      g_assert_cmpint (m->cfg.n_layers, ==, 3);
      double md, nmse, mr;
      run_unpadded (m, &md, &nmse, &mr);
      g_assert_cmpfloat (md, <=, ATOL + RTOL * mr);
      ke_umt5_free (m);
      ke_tset_free (f);
    }
  ke_tset_free (w);
}

/* Drop one tensor. */
static const char *dropped;
static char *
drop_name (const char *n)
{
  return strcmp (n, dropped) == 0 ? NULL : g_strdup (n);
}

/* Wrong files are refused with the file and the tensor or key named; no crash. */
static void
test_refused (void)
{
  struct ke_error err = { 0 };
  g_autofree char *in = ltx_fixture ("t5xxl_a.io.safetensors");
  g_autofree char *outp = test_tmp_path ("t5xxl-refused.safetensors");

  /* a UMT5 encoder (a relative bias in every block) is not T5 v1.1 */
  g_autofree char *umt5 = test_fixture_path ("t5_tiny.weights.safetensors");
  g_assert_true (test_require_fixture (umt5));
  struct ke_eval_args a = { .weights = umt5, .in = in, .out = outp };
  g_assert_cmpint (ke_eval ("t5xxl", &a, &err), ==, KE_STATUS_SHAPE);
  g_test_message ("%s", err.msg);
  g_assert_nonnull (strstr (err.msg, umt5));
  g_assert_nonnull (strstr (err.msg, "blocks.1.pos_embedding.embedding.weight"));

  /* a file without one of its tensors, written to disk and read back by eval */
  struct ke_tensor_set *w = open_fixture ("t5xxl_a.weights.safetensors");
  dropped = "encoder.block.1.layer.1.DenseReluDense.wo.weight";
  struct ke_tensor_set *f = renamed (w, drop_name);
  const struct ke_tensor *ts[64];
  int n = ke_tset_count (f);
  g_assert_cmpint (n, <=, 64);
  for (int i = 0; i < n; i++)
    ts[i] = ke_tset_at (f, i);
  g_autofree char *bad = test_tmp_path ("t5xxl-missing.safetensors");
  const char *meta[] = { "config", ke_tset_meta (w, "config") };
  g_assert_cmpint (ke_safetensors_write (bad, ts, n, meta, 1, &err), ==, KE_STATUS_OK);
  ke_tset_free (f);
  a.weights = bad;
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_eval ("t5xxl", &a, &err), !=, KE_STATUS_OK);
  g_test_message ("%s", err.msg);
  g_assert_nonnull (strstr (err.msg, bad));
  g_assert_nonnull (strstr (err.msg, "blocks.1.ffn.fc2.weight"));

  /* a config that contradicts the shapes, or asks for what is not implemented */
  struct ke_umt5 *m = open_model (w, ke_backend_cpu ());
  static const struct { const char *json, *needle; enum ke_status st; } cfgs[] = {
    { "{\"d_model\": 64, \"feed_forward_proj\": \"gated-gelu\"}", "d_model", KE_STATUS_SHAPE },
    { "{\"d_kv\": 16, \"num_heads\": 4, \"feed_forward_proj\": \"gated-gelu\"}", "d_kv", KE_STATUS_SHAPE },
    { "{\"num_layers\": 24, \"feed_forward_proj\": \"gated-gelu\"}", "num_layers", KE_STATUS_SHAPE },
    { "{\"feed_forward_proj\": \"relu\"}", "feed_forward_proj", KE_STATUS_UNSUPPORTED },
    { "{\"d_model\": 32}", "feed_forward_proj", KE_STATUS_UNSUPPORTED },
    { "{\"model_type\": \"umt5\", \"feed_forward_proj\": \"gated-gelu\"}", "model_type", KE_STATUS_SHAPE },
    { "{\"feed_forward_proj\": \"gated-gelu\", \"layer_norm_epsilon\": -1}", "layer_norm_epsilon", KE_STATUS_INVALID },
    { "{\"feed_forward_proj\": \"gated-gelu\", \"layer_norm_epsilon\": 1e-46}", "layer_norm_epsilon", KE_STATUS_INVALID },
    { "{\"feed_forward_proj\": \"gated-gelu\", \"relative_attention_max_distance\": 2}", "max_distance",
      KE_STATUS_INVALID },
    { "{\"feed_forward_proj\": \"gated-gelu\", \"d_model\": 1e400}", "d_model", KE_STATUS_INVALID },
    { "[1, 2]", "JSON object", KE_STATUS_FORMAT },
  };
  for (gsize i = 0; i < G_N_ELEMENTS (cfgs); i++)
    {
      struct ke_umt5_config c = m->cfg;
      memset (&err, 0, sizeof err);
      g_assert_cmpint (ke_t5_config_apply (&c, cfgs[i].json, "cfg.json", &err), ==, cfgs[i].st);
      g_assert_nonnull (strstr (err.msg, "cfg.json"));
      g_assert_nonnull (strstr (err.msg, cfgs[i].needle));
      g_assert_cmpint (c.max_dist, ==, m->cfg.max_dist);
    }
  ke_umt5_free (m);
  ke_tset_free (w);
}

/* --- tokenizer ----------------------------------------------------------------------------------- */

static char *tok_dir;

static gboolean
run (const char *cmd, char **out)
{
  g_autofree char *err = NULL;
  int status = 0;
  GError *e = NULL;
  gboolean ok = g_spawn_command_line_sync (cmd, out, &err, &status, &e) && g_spawn_check_wait_status (status, &e);
  if (!ok)
    g_test_message ("%s failed: %s\n%s", cmd, e ? e->message : "", err ? err : "");
  g_clear_error (&e);
  return ok;
}

/* A small model laid out as T5's spiece.model (<pad> 0, </s> 1, <unk> 2, no <s>), trained now. */
static char *
t5_spiece (void)
{
  if (tok_dir)
    return g_build_filename (tok_dir, "t5.model", NULL);
  tok_dir = test_tmp_path ("t5spm");
  g_assert_cmpint (g_mkdir_with_parents (tok_dir, 0755), ==, 0);
  const char *root = g_getenv ("KINORA_SOURCE_ROOT");
  g_autofree char *seed = g_build_filename (root ? root : ".", "tests", "engine", "te", "data", "seed.txt", NULL);
  g_autofree char *cmd = g_strdup_printf ("spm_train --input=%s --model_prefix=%s/t5 --vocab_size=700 "
                                          "--character_coverage=0.98 --hard_vocab_limit=false --model_type=unigram "
                                          "--pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1",
                                          seed, tok_dir);
  if (!run (cmd, NULL))
    g_error ("spm_train failed: the tokenizer oracle needs Debian's sentencepiece");
  return g_build_filename (tok_dir, "t5.model", NULL);
}

/* spm_encode's ids of one line, as a GArray of int32. */
static GArray *
spm_ids (const char *model, const char *text)
{
  g_autofree char *file = g_build_filename (tok_dir, "line.txt", NULL);
  g_assert_true (g_file_set_contents (file, text, -1, NULL));
  g_autofree char *cmd = g_strdup_printf ("spm_encode --model=%s --output_format=id --input=%s", model, file);
  g_autofree char *out = NULL;
  if (!run (cmd, &out))
    g_error ("spm_encode failed");
  GArray *a = g_array_new (FALSE, FALSE, sizeof (int32_t));
  char **parts = g_strsplit_set (g_strstrip (out), " ", -1);
  for (char **p = parts; *p; p++)
    if (**p)
      {
        int32_t v = (int32_t) g_ascii_strtoll (*p, NULL, 10);
        g_array_append_val (a, v);
      }
  g_strfreev (parts);
  return a;
}

static void
check_prompt (const ke_tokenizer_t *tok, const char *prompt, GArray *expect, int max_len)
{
  int32_t ids[64], mask[64];
  int n = 0;
  struct ke_error err = { 0 };
  g_assert_cmpint (max_len, <=, 64);
  g_assert_cmpint (ke_t5xxl_tokenize (tok, prompt, ids, mask, max_len, &n, &err), ==, KE_STATUS_OK);
  int want = (int) expect->len + 1 < max_len ? (int) expect->len + 1 : max_len;
  g_assert_cmpint (n, ==, want);
  for (int i = 0; i < n - 1; i++)
    g_assert_cmpint (ids[i], ==, g_array_index (expect, int32_t, i));
  g_assert_cmpint (ids[n - 1], ==, 1);   /* EOS, also after truncation */
  for (int i = 0; i < max_len; i++)
    {
      g_assert_cmpint (mask[i], ==, i < n);
      if (i >= n)
        g_assert_cmpint (ids[i], ==, 0);   /* <pad> */
    }
}

static void
test_tokenizer (void)
{
  g_autofree char *model = t5_spiece ();
  ke_tokenizer_t *tok = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_t5xxl_tokenizer_open (&tok, model, &err), ==, KE_STATUS_OK);
  /* the 100 sentinels follow the SentencePiece vocabulary, <extra_id_0> last (T5Tokenizer) */
  const int np = ke_tokenizer_n_pieces (tok);
  g_assert_cmpint (np, ==, 700 + 100);
  g_assert_cmpstr (ke_tokenizer_piece (tok, 700), ==, "<extra_id_99>");
  g_assert_cmpstr (ke_tokenizer_piece (tok, np - 1), ==, "<extra_id_0>");
  g_assert_cmpint (ke_tokenizer_eos_id (tok), ==, 1);

  /* plain prompts: spm_encode's ids, then EOS, then padding */
  static const char *lines[] = {
    "A red fox jumps over the lazy dog.",
    "Slow motion, a drone shot over snowy mountains at sunrise, cinematic lighting",
    "a &amp; b",   /* no HTML unescaping: LTX-Video does not clean prompts as Wan does */
    "tabs\tand  double  spaces",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (lines); i++)
    {
      GArray *e = spm_ids (model, lines[i]);
      check_prompt (tok, lines[i], e, 48);
      g_array_free (e, TRUE);
    }
  /* surrounding whitespace (Python's str.strip(), U+3000 included) is dropped */
  GArray *e = spm_ids (model, "hello world");
  check_prompt (tok, " \t\xe3\x80\x80hello world \n", e, 48);
  /* truncation keeps max_len - 1 pieces and EOS, no padding */
  GArray *l = spm_ids (model, lines[1]);
  g_assert_cmpint (l->len, >, 8);
  check_prompt (tok, lines[1], l, 8);
  g_array_free (l, TRUE);
  /* a sentinel written in the prompt is one token, the text around it segmented apart */
  GArray *left = spm_ids (model, "hello");
  g_array_append_vals (left, (int32_t[]) { np - 1 }, 1);
  g_array_append_vals (left, e->data, e->len);
  int32_t five = np - 1 - 5;
  g_array_append_val (left, five);
  check_prompt (tok, "hello <extra_id_0> hello world<extra_id_5>", left, 48);
  g_array_free (left, TRUE);
  g_array_free (e, TRUE);
  /* the empty prompt is EOS alone */
  GArray *none = g_array_new (FALSE, FALSE, sizeof (int32_t));
  check_prompt (tok, "   ", none, 4);
  g_array_free (none, TRUE);
  int32_t ids[2], mask[2];
  int n;
  g_assert_cmpint (ke_t5xxl_tokenize (tok, "x", ids, mask, 0, &n, &err), ==, KE_STATUS_INVALID);
  ke_tokenizer_free (tok);

  /* a SentencePiece model that is not laid out as T5's is refused, naming the file */
  const char *root = g_getenv ("KINORA_SOURCE_ROOT");
  g_autofree char *other = g_build_filename (root ? root : ".", "tests", "engine", "te", "data", "spm-b.model", NULL);
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_t5xxl_tokenizer_open (&tok, other, &err), ==, KE_STATUS_FORMAT);
  g_assert_nonnull (strstr (err.msg, "spm-b.model"));
  g_assert_null (tok);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/t5xxl/fixture/a", "a", test_fixture);
  g_test_add_data_func ("/t5xxl/fixture/b", "b", test_fixture);
  g_test_add_func ("/t5xxl/unpadded", test_unpadded);
  g_test_add_func ("/t5xxl/fast", test_fast);
  g_test_add_func ("/t5xxl/text-encoder", test_text_encoder);
  g_test_add_func ("/t5xxl/names", test_names);
  g_test_add_func ("/t5xxl/refused", test_refused);
  g_test_add_func ("/t5xxl/tokenizer", test_tokenizer);
  int rc = g_test_run ();
  g_free (tok_dir);
  return rc;
}
