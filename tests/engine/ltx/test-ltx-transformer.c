/* LTX-Video transformer parity against the official Transformer3DModel (tests/ltx/gen_transformer.py
 * fixtures), through ke_eval("ltx-transformer") — the code path of `kinora-cli eval ltx-transformer` —
 * plus its RoPE table, its backend op, bad weights and the config parser. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "ke-debug.h"
#include "loaders/loaders.h"
#include "models/ltx/ltx-transformer.h"
#include "test-util.h"

static char *
fixture (const char *name)
{
  return g_build_filename (LTX_FIXTURES, name, NULL);
}

/* Run eval ltx-transformer on case `name` ("transformer_a"); returns the outputs and the IO set. */
static struct ke_tensor_set *
run_eval (const char *name, gboolean fast, struct ke_tensor_set **io_out)
{
  g_autofree char *wn = g_strdup_printf ("%s.weights.safetensors", name);
  g_autofree char *ion = g_strdup_printf ("%s.io.safetensors", name);
  g_autofree char *w = fixture (wn);
  g_autofree char *io = fixture (ion);
  g_autofree char *outname = g_strdup_printf ("%s%s.out.safetensors", name, fast ? ".fast" : "");
  g_autofree char *out = test_tmp_path (outname);
  if (!test_require_fixture (w) || !test_require_fixture (io))
    return NULL;
  struct ke_eval_args a = { .weights = w, .in = io, .out = out, .fast = fast };
  struct ke_error err = { 0 };
  enum ke_status st = ke_eval ("ltx-transformer", &a, &err);
  g_assert_cmpstr (err.msg, ==, "");
  g_assert_cmpint (st, ==, KE_STATUS_OK);
  struct ke_tensor_set *res = NULL;
  g_assert_cmpint (ke_safetensors_open (&res, out, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_safetensors_open (io_out, io, &err), ==, KE_STATUS_OK);
  return res;
}

/* Every listed output (out, the timestep embedding and AdaLN input, the caption projection, the RoPE
 * cos/sin, block 0) at atol = rtol = 1e-4. The reference ran in float32 and moves by <= 2.5e-6 in its
 * own float64 run (tests/ltx/README.md); measured here <= 7.7e-6 (out), 2.4e-6 (timestep embedding),
 * 6e-8 (RoPE table, whose angles eval forms in float32 as the reference does: see test_rope), so 1e-4
 * leaves room for another summation order and still catches a real mistake (those move outputs >= 1e-2). */
static void
check_case (const char *name)
{
  struct ke_tensor_set *io = NULL;
  struct ke_tensor_set *res = run_eval (name, FALSE, &io);
  if (!res)
    return;
  test_check_listed_outputs (name, res, io, 1e-4, 1e-4);
  ke_tset_free (res);
  ke_tset_free (io);
}

static void
test_case_a (void)
{
  check_case ("transformer_a");
}

/* b: weights under the single-file checkpoint's model.diffusion_model. prefix, one timestep for all
 * tokens, no padded text */
static void
test_case_b (void)
{
  check_case ("transformer_b");
}

/* The fast path (bf16 matmul operands, fp32 accumulation) against the reference. bf16 keeps 8
 * significant bits (2^-9 = 0.2 % per rounding); through the embeddings, two blocks and proj_out that
 * compounds to 0.45 % of the output range here (measured: max |diff| 0.020 of 4.4, NMSE 1.5e-5 and
 * 2.0e-5). Bound: max |diff| <= 2 % of max |ref| and NMSE <= 1e-4 (a layout or selector mistake gives
 * NMSE near 1). */
static void
test_fast (void)
{
  const char *cases[] = { "transformer_a", "transformer_b" };
  for (int c = 0; c < 2; c++)
    {
      struct ke_tensor_set *io = NULL;
      struct ke_tensor_set *res = run_eval (cases[c], TRUE, &io);
      if (!res)
        return;
      const struct ke_tensor *g = ke_tset_get (res, "out"), *r = ke_tset_get (io, "out");
      g_assert_nonnull (g);
      g_assert_nonnull (r);
      g_assert_cmpint (ke_tensor_nelements (g), ==, ke_tensor_nelements (r));
      const float *gv = g->data, *rv = r->data;
      double maxd = 0, maxr = 0, se = 0, sr = 0;
      for (int64_t i = 0; i < ke_tensor_nelements (r); i++)
        {
          double d = fabs ((double) gv[i] - rv[i]);
          maxd = fmax (maxd, d);
          maxr = fmax (maxr, fabs (rv[i]));
          se += d * d;
          sr += (double) rv[i] * rv[i];
        }
      g_test_message ("%s fast: max |diff| %.3g (max |ref| %.3g, %.3g), NMSE %.3g", cases[c], maxd, maxr, maxd / maxr,
                      se / sr);
      g_assert_cmpfloat (maxd, <=, 0.02 * maxr);
      g_assert_cmpfloat (se / sr, <=, 1e-4);
      /* The fast path computes in bf16 where oneDNN has bf16 matmuls for this CPU (AVX-512 and newer): then
       * it differs from the reference by more than fp32 rounding; on an AVX2-only CPU it is the exact path */
      if (ke_cpu_bf16_matmul ())
        g_assert_cmpfloat (maxd, >, 1e-5);
      else
        g_assert_cmpfloat (maxd, <=, 1e-4);
      ke_tset_free (res);
      ke_tset_free (io);
    }
}

static double
max_diff (const float *a, const float *b, size_t n)
{
  double m = 0;
  for (size_t i = 0; i < n; i++)
    m = fmax (m, fabs ((double) a[i] - b[i]));
  return m;
}

/* Our own RoPE table. The reference forms the angles in float32; at the highest frequency
 * (theta * pi/2 = 15708 rad) one float32 rounding of an angle is up to 4.9e-4 rad, so the exact
 * (float64) table differs from the reference's by up to ~1e-3 in cos/sin (measured 9.6e-4, case b),
 * and moves the transformer's output by up to 1.8e-4 at these sizes (more than the 1e-4 of the exact
 * check: eval forms the angles as the reference does, KE_LTX_ROPE_F32, measured 6e-8 from it).
 * Bounds: float64 table within 2e-3 of the reference's, and within 1e-6 of a float64 recomputation
 * here; the float32 mode within 1e-6 of the reference's; the forward with the float64 table within
 * 1e-3 of the reference output (an axis or pair-order mistake moves cos/sin by O(1)). */
static void
test_rope (void)
{
  const char *cases[] = { "transformer_a", "transformer_b" };
  for (int c = 0; c < 2; c++)
    {
      g_autofree char *wn = g_strdup_printf ("%s.weights.safetensors", cases[c]);
      g_autofree char *ion = g_strdup_printf ("%s.io.safetensors", cases[c]);
      g_autofree char *wp = fixture (wn);
      g_autofree char *iop = fixture (ion);
      if (!test_require_fixture (wp) || !test_require_fixture (iop))
        return;
      struct ke_error err = { 0 };
      struct ke_tensor_set *w = NULL, *io = NULL;
      g_assert_cmpint (ke_safetensors_open (&w, wp, &err), ==, KE_STATUS_OK);
      g_assert_cmpint (ke_safetensors_open (&io, iop, &err), ==, KE_STATUS_OK);
      struct ke_ltx_dit *d = NULL;
      g_assert_cmpint (ke_ltx_dit_init (&d, w, NULL, ke_backend_cpu (), &err), ==, KE_STATUS_OK);
      const struct ke_ltx_dit_config *cfg = ke_ltx_dit_get_config (d);
      const struct ke_tensor *tg = ke_tset_get (io, "indices_grid");
      const struct ke_tensor *tcos = ke_tset_get (io, "inter.rope_cos"), *tsin = ke_tset_get (io, "inter.rope_sin");
      g_assert_nonnull (tg);
      g_assert_nonnull (tcos);
      g_assert_nonnull (tsin);
      const int64_t N = tg->ne[0], D = cfg->inner_dim;
      const float *grid = tg->data;
      float *cs = g_new (float, N * D), *ref = g_new (float, N * D);
      for (int m = 0; m < 2; m++)
        {
          ke_ltx_dit_rope_table (cfg, m ? KE_LTX_ROPE_F32 : KE_LTX_ROPE_F64, grid, N, cs);
          double dmax = 0;
          for (int part = 0; part < 2; part++)
            {
              const float *r = (part ? tsin : tcos)->data;
              for (int64_t i = 0; i < N * D; i++)
                ref[i] = cs[(i / 2) * 2 + part];
              dmax = fmax (dmax, max_diff (ref, r, (size_t) (N * D)));
            }
          g_test_message ("%s: RoPE table (%s angles) vs reference: max |diff| %.3g", cases[c],
                          m ? "float32" : "float64", dmax);
          g_assert_cmpfloat (dmax, <=, m ? 1e-6 : 2e-3);
        }
      /* the float64 table against a direct float64 evaluation of the formula at a few entries */
      ke_ltx_dit_rope_table (cfg, KE_LTX_ROPE_F64, grid, N, cs);
      const int nf = (int) D / 6, pad = (int) (D % 6) / 2;
      for (int64_t t = 0; t < N; t += 7)
        for (int p = pad; p < D / 2; p++)
          {
            const int q = p - pad, j = q / 3, ax = q % 3;
            const double f = pow (cfg->theta, (double) j / (nf - 1)) * G_PI / 2;
            const double ang = f * (2.0 * grid[ax * N + t] / cfg->max_pos[ax] - 1.0);
            g_assert_cmpfloat (fabs (cs[(t * (D / 2) + p) * 2] - cos (ang)), <=, 1e-6);
            g_assert_cmpfloat (fabs (cs[(t * (D / 2) + p) * 2 + 1] - sin (ang)), <=, 1e-6);
          }
      for (int p = 0; p < pad; p++)
        {
          g_assert_cmpfloat (cs[2 * p], ==, 1.0f);
          g_assert_cmpfloat (cs[2 * p + 1], ==, 0.0f);
        }

      /* the forward with the float64 table (the model's default) */
      const struct ke_tensor *tx = ke_tset_get (io, "hidden_states"), *tt = ke_tset_get (io, "timestep");
      const struct ke_tensor *tc = ke_tset_get (io, "encoder_hidden_states");
      const struct ke_tensor *tm = ke_tset_get (io, "encoder_attention_mask");
      const struct ke_tensor *tout = ke_tset_get (io, "out");
      const int64_t T = tc->ne[1];
      guint8 *keep = g_new (guint8, T);
      for (int64_t i = 0; i < T; i++)
        keep[i] = ((const int64_t *) tm->data)[i] != 0;
      struct ke_ltx_dit_context *ctx = NULL;
      g_assert_cmpint (ke_ltx_dit_context_new (d, tc->data, keep, (int) T, &ctx, &err), ==, KE_STATUS_OK);
      float *out = g_new (float, ke_tensor_nelements (tout));
      g_assert_cmpint (ke_ltx_dit_forward (d, ctx, tx->data, N, grid, tt->data, ke_tensor_nelements (tt), out, NULL,
                                           NULL, &err),
                       ==, KE_STATUS_OK);
      const double dout = max_diff (out, tout->data, (size_t) ke_tensor_nelements (tout));
      g_test_message ("%s: output with the float64 RoPE table: max |diff| %.3g", cases[c], dout);
      g_assert_cmpfloat (dout, <=, 1e-3);
      g_assert_cmpfloat (dout, >, 0.0);

      /* the model keeps the last grid's table: the same grid again gives the same floats; another grid
       * (row coords doubled: RoPE attention sees relative positions only, so a shift would not do) makes
       * a new table and moves the output; the first grid after it gives the first output again (a stale
       * table would not) */
      const size_t nob = sizeof (float) * ke_tensor_nelements (tout);
      float *out2 = g_new (float, ke_tensor_nelements (tout));
      float *grid2 = g_memdup2 (grid, sizeof (float) * 3 * N);
      for (int64_t t = 0; t < N; t++)
        grid2[N + t] *= 2.0f;
      g_assert_cmpint (ke_ltx_dit_forward (d, ctx, tx->data, N, grid, tt->data, ke_tensor_nelements (tt), out2,
                                           NULL, NULL, &err),
                       ==, KE_STATUS_OK);
      g_assert_cmpmem (out2, nob, out, nob);
      g_assert_cmpint (ke_ltx_dit_forward (d, ctx, tx->data, N, grid2, tt->data, ke_tensor_nelements (tt), out2,
                                           NULL, NULL, &err),
                       ==, KE_STATUS_OK);
      g_assert_cmpfloat (max_diff (out2, out, (size_t) ke_tensor_nelements (tout)), >, 1e-4);
      g_assert_cmpint (ke_ltx_dit_forward (d, ctx, tx->data, N, grid, tt->data, ke_tensor_nelements (tt), out2,
                                           NULL, NULL, &err),
                       ==, KE_STATUS_OK);
      g_assert_cmpmem (out2, nob, out, nob);

      /* a grid of distinct values on every axis (no two tokens share a table row): every entry against
       * the direct float64 formula */
      for (int64_t i = 0; i < 3 * N; i++)
        grid2[i] = (float) ((i * 7919) % 1031) * 0.37f - 20.0f;
      ke_ltx_dit_rope_table (cfg, KE_LTX_ROPE_F64, grid2, N, cs);
      for (int64_t t = 0; t < N; t++)
        for (int p = pad; p < D / 2; p++)
          {
            const int q = p - pad, j = q / 3, ax = q % 3;
            const double f = pow (cfg->theta, (double) j / (nf - 1)) * G_PI / 2;
            const double ang = f * (2.0 * grid2[ax * N + t] / cfg->max_pos[ax] - 1.0);
            g_assert_cmpfloat (fabs (cs[(t * (D / 2) + p) * 2] - cos (ang)), <=, 1e-6);
            g_assert_cmpfloat (fabs (cs[(t * (D / 2) + p) * 2 + 1] - sin (ang)), <=, 1e-6);
          }
      g_free (grid2);
      g_free (out2);
      g_free (out);
      g_free (keep);
      ke_ltx_dit_context_free (ctx);
      g_free (cs);
      g_free (ref);
      ke_ltx_dit_free (d);
      ke_tset_free (io);
      ke_tset_free (w);
    }
}

/* The backend op against a naive loop: RMS norm without weight, then x * (1 + scale[s]) + shift[s]
 * with a per-row selector. The CPU op is exactly rms_norm then modulate, so only the float summation
 * order differs: tier-1 f32 tolerance 1e-5/1e-5. */
static void
test_op_rms_norm_mod (void)
{
  struct ke_backend *be = ke_backend_cpu ();
  const int64_t M = 37, D = 44, U = 3;
  const float eps = 1e-6f;
  float *x = g_new (float, M * D), *mod = g_new (float, U * 2 * D), *y = g_new (float, M * D);
  float *ref = g_new (float, M * D);
  int32_t *sel = g_new (int32_t, M);
  test_fill_random (x, (size_t) (M * D), 5);
  test_fill_random (mod, (size_t) (U * 2 * D), 6);
  for (int64_t i = 0; i < M; i++)
    sel[i] = (int32_t) ((i * 7) % U);
  for (int with = 0; with < 2; with++)
    {
      for (int64_t r = 0; r < M; r++)
        {
          double ss = 0;
          for (int64_t i = 0; i < D; i++)
            ss += (double) x[r * D + i] * x[r * D + i];
          const double inv = 1.0 / sqrt (ss / D + eps);
          const float *sh = mod + sel[r] * 2 * D, *sc = sh + D;
          for (int64_t i = 0; i < D; i++)
            {
              double v = x[r * D + i] * inv;
              ref[r * D + i] = (float) (with ? v * (1.0 + sc[i]) + sh[i] : v);
            }
        }
      float *dx = ke_be_alloc (be, (size_t) (M * D) * 4), *dmod = ke_be_alloc (be, (size_t) (U * 2 * D) * 4);
      int32_t *dsel = ke_be_alloc (be, (size_t) M * 4);
      struct ke_xbuf *dy = ke_be_alloc_xbuf (be, M * D);
      be->ops->upload (be, dx, x, (size_t) (M * D) * 4);
      be->ops->upload (be, dmod, mod, (size_t) (U * 2 * D) * 4);
      be->ops->upload (be, dsel, sel, (size_t) M * 4);
      be->ops->rms_norm_mod_x (be, dy, dx, M, D, eps, with ? dmod : NULL, with ? dmod + D : NULL, 2 * D,
                               with ? dsel : NULL);
      be->ops->download (be, y, dy, (size_t) (M * D) * 4);
      g_assert_true (test_allclose (with ? "rms_norm_mod_x" : "rms_norm_mod_x (no modulate)", y, ref, (size_t) (M * D),
                                    1e-5, 1e-5));
      ke_be_free (be, dx);
      ke_be_free (be, dmod);
      ke_be_free (be, dsel);
      ke_be_free (be, dy);
    }
  g_free (x);
  g_free (mod);
  g_free (y);
  g_free (ref);
  g_free (sel);
}

/* Wrong weights: a file without one tensor, a config whose sizes disagree with the shapes, and a
 * weights file of another model: each refused with a message naming the file and the tensor. */
static void
test_bad_weights (void)
{
  g_autofree char *w = fixture ("transformer_a.weights.safetensors");
  g_autofree char *io = fixture ("transformer_a.io.safetensors");
  if (!test_require_fixture (w) || !test_require_fixture (io))
    return;
  struct ke_error err = { 0 };
  struct ke_tensor_set *set = NULL;
  g_assert_cmpint (ke_safetensors_open (&set, w, &err), ==, KE_STATUS_OK);
  int n = ke_tset_count (set), m = 0;
  const struct ke_tensor **list = g_new (const struct ke_tensor *, n);
  for (int i = 0; i < n; i++)
    if (strcmp (ke_tset_at (set, i)->name, "transformer_blocks.1.attn2.to_k.weight") != 0)
      list[m++] = ke_tset_at (set, i);
  const char *meta[2] = { "config", ke_tset_meta (set, "config") };
  g_autofree char *missing = test_tmp_path ("ltx-missing.safetensors");
  g_assert_cmpint (ke_safetensors_write (missing, list, m, meta, 1, &err), ==, KE_STATUS_OK);
  g_autofree char *out = test_tmp_path ("ltx-bad.out.safetensors");
  struct ke_eval_args a = { .weights = missing, .in = io, .out = out };
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_eval ("ltx-transformer", &a, &err), ==, KE_STATUS_MISSING);
  g_test_message ("%s", err.msg);
  g_assert_nonnull (strstr (err.msg, "ltx-missing.safetensors"));
  g_assert_nonnull (strstr (err.msg, "transformer_blocks.1.attn2.to_k.weight"));
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));

  /* a config with 4 heads of 16 against weights of 2 heads of 16 */
  g_autofree char *cfgp = test_tmp_path ("ltx-4heads.json");
  g_autofree char *txt = g_strdup (ke_tset_meta (set, "config"));
  char *h = strstr (txt, "\"num_attention_heads\": 2");
  g_assert_nonnull (h);
  h[strlen ("\"num_attention_heads\": ")] = '4';
  g_assert_true (g_file_set_contents (cfgp, txt, -1, NULL));
  /* cross_attention_dim must follow the inner dim, so that key is refused first ... */
  memset (&err, 0, sizeof err);
  a = (struct ke_eval_args) { .weights = w, .config = cfgp, .in = io, .out = out };
  g_assert_cmpint (ke_eval ("ltx-transformer", &a, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "cross_attention_dim"));
  /* ... and with it fixed, the first weight's shape */
  char *cad = strstr (txt, "\"cross_attention_dim\": 32");
  g_assert_nonnull (cad);
  memcpy (cad + strlen ("\"cross_attention_dim\": "), "64", 2);
  g_assert_true (g_file_set_contents (cfgp, txt, -1, NULL));
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_eval ("ltx-transformer", &a, &err), ==, KE_STATUS_SHAPE);
  g_test_message ("%s", err.msg);
  g_assert_nonnull (strstr (err.msg, "transformer_a.weights.safetensors"));
  g_assert_nonnull (strstr (err.msg, "patchify_proj.weight"));
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));

  /* weights of another model (the TAEHV decoder of tests/taehv) under this config */
  g_autofree char *other = g_build_filename (LTX_FIXTURES, "..", "..", "taehv", "fixtures",
                                             "taehv_w21_tiny.weights.safetensors", NULL);
  if (!test_require_fixture (other))
    return;
  g_autofree char *cfg_ok = test_tmp_path ("ltx-ok.json");
  g_assert_true (g_file_set_contents (cfg_ok, ke_tset_meta (set, "config"), -1, NULL));
  a = (struct ke_eval_args) { .weights = other, .config = cfg_ok, .in = io, .out = out };
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_eval ("ltx-transformer", &a, &err), ==, KE_STATUS_MISSING);
  g_test_message ("%s", err.msg);
  g_assert_nonnull (strstr (err.msg, "taehv_w21_tiny.weights.safetensors"));
  g_assert_nonnull (strstr (err.msg, "patchify_proj.weight"));
  g_free (list);
  ke_tset_free (set);
}

/* The config parser refuses what this port does not implement, naming the key. */
static void
test_config (void)
{
  static const char base[] =
    "{\"transformer\": {\"num_layers\": 48, \"num_attention_heads\": 32, \"attention_head_dim\": 128,"
    " \"in_channels\": 128, \"out_channels\": 128, \"caption_channels\": 4096, \"cross_attention_dim\": 4096,"
    " \"activation_fn\": \"gelu-approximate\", \"adaptive_norm\": \"single_scale_shift\","
    " \"standardization_norm\": \"rms_norm\", \"qk_norm\": \"rms_norm\", \"norm_elementwise_affine\": false,"
    " \"attention_bias\": true, \"norm_eps\": 1e-06, \"positional_embedding_type\": \"rope\","
    " \"positional_embedding_theta\": 10000.0, \"positional_embedding_max_pos\": [20, 2048, 2048],"
    " \"timestep_scale_multiplier\": 1000, \"causal_temporal_positioning\": true%s}}";
  struct ke_ltx_dit_config c;
  struct ke_error err = { 0 };
  g_autofree char *ok = g_strdup_printf (base, "");
  g_assert_cmpint (ke_ltx_dit_config_parse (&c, ok, "x.safetensors", &err), ==, KE_STATUS_OK);
  g_assert_cmpint (c.inner_dim, ==, 4096);
  g_assert_cmpint (c.ffn_dim, ==, 16384);
  g_assert_cmpint (c.num_layers, ==, 48);
  g_assert_cmpfloat (c.timestep_scale, ==, 1000.0);
  g_assert_cmpfloat (c.max_pos[0], ==, 20.0);
  g_assert_true (c.causal_temporal_positioning);
  const char *bad[][2] = {
    { ", \"standardization_norm\": \"layer_norm\"", "standardization_norm" },
    { ", \"qk_norm\": null", "qk_norm" },
    { ", \"norm_elementwise_affine\": true", "norm_elementwise_affine" },
    { ", \"adaptive_norm\": \"single_scale\"", "adaptive_norm" },
    { ", \"num_layers\": 1e12", "num_layers" },
    { ", \"positional_embedding_max_pos\": [20, 2048]", "positional_embedding_max_pos" },
    { ", \"attention_head_dim\": \"128\"", "attention_head_dim" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      /* a repeated key: json-c keeps the last one */
      g_autofree char *txt = g_strdup_printf (base, bad[i][0]);
      memset (&err, 0, sizeof err);
      g_assert_cmpint (ke_ltx_dit_config_parse (&c, txt, "x.safetensors", &err), !=, KE_STATUS_OK);
      g_test_message ("%s", err.msg);
      g_assert_nonnull (strstr (err.msg, "x.safetensors"));
      g_assert_nonnull (strstr (err.msg, bad[i][1]));
    }
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_ltx_dit_config_parse (&c, "[1, 2]", "x.safetensors", &err), ==, KE_STATUS_INVALID);
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_ltx_dit_config_parse (&c, NULL, "x.safetensors", &err), ==, KE_STATUS_MISSING);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ltx/transformer/case-a", test_case_a);
  g_test_add_func ("/ltx/transformer/case-b", test_case_b);
  g_test_add_func ("/ltx/transformer/fast", test_fast);
  g_test_add_func ("/ltx/transformer/rope", test_rope);
  g_test_add_func ("/ltx/transformer/op-rms-norm-mod", test_op_rms_norm_mod);
  g_test_add_func ("/ltx/transformer/bad-weights", test_bad_weights);
  g_test_add_func ("/ltx/transformer/config", test_config);
  return g_test_run ();
}
