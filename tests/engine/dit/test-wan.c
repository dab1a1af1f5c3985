/* Wan DiT parity against the official reference (golden fixtures), through ke_eval("dit") — the same
 * code path as `kinora-cli eval dit`. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ke-debug.h"
#include "loaders/loaders.h"
#include "backends/backend.h"
#include "test-util.h"

/* Run eval dit on fixture `name` and return the output set (NULL + skip when the fixture is absent);
 * fp8: --precision fp8 (on the CPU the fast path). */
static struct ke_tensor_set *
run_eval_at (const char *name, gboolean fast, gboolean fp8, struct ke_tensor_set **io_out)
{
  g_autofree char *wf = g_strdup_printf ("%s.weights.safetensors", name);
  g_autofree char *iof = g_strdup_printf ("%s.io.safetensors", name);
  g_autofree char *w = test_fixture_path (wf);
  g_autofree char *io = test_fixture_path (iof);
  g_autofree char *outname = g_strdup_printf ("%s%s.out.safetensors", name, fp8 ? ".fp8" : fast ? ".fast" : "");
  g_autofree char *out = test_tmp_path (outname);
  if (!test_require_fixture (w) || !test_require_fixture (io))
    return NULL;
  struct ke_eval_args a = { .weights = w, .in = io, .out = out, .fast = fast, .fp8 = fp8 };
  struct ke_error err = { 0 };
  enum ke_status st = ke_eval ("dit", &a, &err);
  g_assert_cmpstr (err.msg, ==, "");
  g_assert_cmpint (st, ==, KE_STATUS_OK);
  struct ke_tensor_set *res = NULL;
  g_assert_cmpint (ke_safetensors_open (&res, out, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_safetensors_open (io_out, io, &err), ==, KE_STATUS_OK);
  return res;
}

static struct ke_tensor_set *
run_eval (const char *name, gboolean fast, struct ke_tensor_set **io_out)
{
  return run_eval_at (name, fast, FALSE, io_out);
}

/* Every output the IO file lists must be produced and match at atol = rtol = 1e-4: the reference ran
 * in float32 and differs from its own float64 run by <= 3.6e-6 (fixtures README), so 1e-4 leaves room
 * for a different summation order but catches any real mistake (those move outputs by >= 1e-2). */
static void
check_fixture (const char *name)
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
test_ti2v (void)
{
  check_fixture ("dit_ti2v_tiny");
}

static void
test_i2v (void)
{
  check_fixture ("dit_i2v_tiny");
}

static void
test_t2v (void)
{
  check_fixture ("dit_t2v_tiny");
}

/* The fast path (bf16 operands, fp32 accumulation) against the exact path. bf16 keeps 8 significant
 * bits (relative rounding 2^-9 = 0.2 %) on every matmul input; through the embeddings, two blocks and
 * the head this compounds to about 0.5 % of the output range here. Bound: max |diff| <= 2 % of the
 * output's max magnitude and normalised MSE <= 1e-4 (an error in the fast path, e.g. a wrong layout,
 * gives NMSE near 1). */
static void
test_fast_vs_exact (void)
{
  struct ke_tensor_set *io = NULL, *io2 = NULL;
  struct ke_tensor_set *exact = run_eval ("dit_ti2v_tiny", FALSE, &io);
  if (!exact)
    return;
  struct ke_tensor_set *fast = run_eval ("dit_ti2v_tiny", TRUE, &io2);
  const char *outs[] = { "a.out", "b.out" };
  for (int k = 0; k < 2; k++)
    {
      const struct ke_tensor *e = ke_tset_get (exact, outs[k]);
      const struct ke_tensor *f = ke_tset_get (fast, outs[k]);
      g_assert_nonnull (e);
      g_assert_nonnull (f);
      size_t n = (size_t) ke_tensor_nelements (e);
      const float *ev = e->data, *fv = f->data;
      double maxd = 0, maxr = 0, se = 0, sr = 0;
      for (size_t i = 0; i < n; i++)
        {
          double d = fabs ((double) fv[i] - ev[i]);
          maxd = fmax (maxd, d);
          maxr = fmax (maxr, fabs (ev[i]));
          se += d * d;
          sr += (double) ev[i] * ev[i];
        }
      g_test_message ("%s: fast vs exact max |diff| %.3g (max |exact| %.3g), NMSE %.3g", outs[k], maxd, maxr, se / sr);
      g_assert_cmpfloat (maxd, <=, 0.02 * maxr);
      g_assert_cmpfloat (se / sr, <=, 1e-4);
      /* the fast path really ran in bf16 where the CPU has bf16 matmuls; else it is the exact path */
      if (ke_cpu_bf16_matmul ())
        g_assert_cmpfloat (maxd, >, 0.0);
      else
        g_assert_cmpfloat (maxd, ==, 0.0);
    }
  ke_tset_free (exact);
  ke_tset_free (fast);
  ke_tset_free (io);
  ke_tset_free (io2);
}

/* Bad input: a weights file without one tensor, and one with a wrong shape, give an error that names
 * the file, the tensor and the shapes. */
/* --precision fp8 on the CPU is the fast path: the same outputs, bit for bit */
static void
test_fp8_on_cpu (void)
{
  struct ke_tensor_set *io = NULL, *io2 = NULL;
  struct ke_tensor_set *fast = run_eval_at ("dit_ti2v_tiny", TRUE, FALSE, &io);
  if (!fast)
    return;
  struct ke_tensor_set *fp8 = run_eval_at ("dit_ti2v_tiny", FALSE, TRUE, &io2);
  const char *outs[] = { "a.out", "b.out" };
  for (int k = 0; k < 2; k++)
    {
      const struct ke_tensor *f = ke_tset_get (fast, outs[k]);
      const struct ke_tensor *e = ke_tset_get (fp8, outs[k]);
      g_assert_nonnull (f);
      g_assert_nonnull (e);
      g_assert_cmpint (ke_tensor_nelements (f), ==, ke_tensor_nelements (e));
      g_assert_cmpmem (f->data, ke_tensor_nelements (f) * sizeof (float), e->data,
                       ke_tensor_nelements (e) * sizeof (float));
    }
  ke_tset_free (fast);
  ke_tset_free (fp8);
  ke_tset_free (io);
  ke_tset_free (io2);
}

static void
test_bad_weights (void)
{
  g_autofree char *w = test_fixture_path ("dit_t2v_tiny.weights.safetensors");
  g_autofree char *io = test_fixture_path ("dit_t2v_tiny.io.safetensors");
  if (!test_require_fixture (w))
    return;
  struct ke_error err = { 0 };
  struct ke_tensor_set *set = NULL;
  g_assert_cmpint (ke_safetensors_open (&set, w, &err), ==, KE_STATUS_OK);

  /* copy all but one tensor */
  int n = ke_tset_count (set);
  const struct ke_tensor **list = g_new (const struct ke_tensor *, n);
  int m = 0;
  for (int i = 0; i < n; i++)
    if (strcmp (ke_tset_at (set, i)->name, "blocks.1.cross_attn.k.weight") != 0)
      list[m++] = ke_tset_at (set, i);
  const char *meta[2] = { "config", ke_tset_meta (set, "config") };
  g_autofree char *missing = test_tmp_path ("missing.safetensors");
  g_assert_cmpint (ke_safetensors_write (missing, list, m, meta, 1, &err), ==, KE_STATUS_OK);
  g_autofree char *out = test_tmp_path ("bad.out.safetensors");
  struct ke_eval_args a = { .weights = missing, .in = io, .out = out };
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_eval ("dit", &a, &err), ==, KE_STATUS_MISSING);
  g_test_message ("%s", err.msg);
  g_assert_nonnull (strstr (err.msg, "missing.safetensors"));
  g_assert_nonnull (strstr (err.msg, "blocks.1.cross_attn.k.weight"));
  g_assert_false (g_file_test (out, G_FILE_TEST_EXISTS));

  /* wrong shape: swap in a [128, 64] tensor where [64, 64] belongs */
  struct ke_tensor wrong = *ke_tset_get (set, "blocks.0.ffn.0.weight");
  wrong.name = "blocks.0.self_attn.v.weight";
  m = 0;
  for (int i = 0; i < n; i++)
    list[m++] = strcmp (ke_tset_at (set, i)->name, "blocks.0.self_attn.v.weight") == 0 ? &wrong : ke_tset_at (set, i);
  g_autofree char *shaped = test_tmp_path ("shape.safetensors");
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_safetensors_write (shaped, list, m, meta, 1, &err), ==, KE_STATUS_OK);
  a.weights = shaped;
  g_assert_cmpint (ke_eval ("dit", &a, &err), ==, KE_STATUS_SHAPE);
  g_test_message ("%s", err.msg);
  g_assert_nonnull (strstr (err.msg, "blocks.0.self_attn.v.weight"));
  g_assert_nonnull (strstr (err.msg, "[128, 64]"));
  g_assert_nonnull (strstr (err.msg, "[64, 64]"));
  g_free (list);
  ke_tset_free (set);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dit/ti2v", test_ti2v);
  g_test_add_func ("/dit/i2v", test_i2v);
  g_test_add_func ("/dit/t2v", test_t2v);
  g_test_add_func ("/dit/fast-vs-exact", test_fast_vs_exact);
  g_test_add_func ("/dit/fp8-on-cpu", test_fp8_on_cpu);
  g_test_add_func ("/dit/bad-weights", test_bad_weights);
  return g_test_run ();
}
