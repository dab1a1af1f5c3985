/* Shared helpers for the engine tests. */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test-util.h"
#include "loaders/loaders.h"
#include "pipeline/model-impl.h"
#include "pipeline/tiny-impl.h"

char *
test_fixture_path (const char *name)
{
  const char *dir = g_getenv ("KINORA_FIXTURES");
  return g_build_filename (dir ? dir : "../shared/fixtures", name, NULL);
}

gboolean
test_require_fixture (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_EXISTS))
    return TRUE;
  /* a missing fixtures folder must not make subtests vanish as skips: fail, saying what is missing */
  g_test_fail_printf ("fixture %s not found (set KINORA_FIXTURES or -Dfixtures_dir to the golden fixtures "
                      "folder)", path);
  return FALSE;
}

gboolean
test_allclose (const char *what, const float *got, const float *ref, size_t n, double atol, double rtol)
{
  double max_abs = 0, max_ref = 0;
  size_t bad = 0, worst = 0;
  for (size_t i = 0; i < n; i++)
    {
      double d = fabs ((double) got[i] - (double) ref[i]);
      if (isnan (got[i]) != isnan (ref[i]))
        d = INFINITY;
      if (d > max_abs)
        {
          max_abs = d;
          worst = i;
        }
      if (fabs (ref[i]) > max_ref)
        max_ref = fabs (ref[i]);
      if (!(d <= atol + rtol * fabs ((double) ref[i])))
        {
          if (bad < 5)
            g_test_message ("%s: mismatch at %zu: got %.8g ref %.8g (diff %.3g)", what, i, got[i], ref[i], d);
          bad++;
        }
    }
  g_test_message ("%s: %zu values, max |diff| %.3g at %zu (max |ref| %.3g), %zu outside atol %.1g rtol %.1g",
                  what, n, max_abs, worst, max_ref, bad, atol, rtol);
  return bad == 0;
}

gboolean
test_tensor_allclose (const char *what, const struct ke_tensor *got, const struct ke_tensor *ref,
                      double atol, double rtol)
{
  char a[128], b[128];
  /* the same shape, not only the same element count: [2, 3] against [3, 2] is a layout bug */
  gboolean same = got->n_dims == ref->n_dims;
  for (int d = 0; same && d < ref->n_dims; d++)
    same = got->ne[d] == ref->ne[d];
  if (!same)
    {
      g_test_message ("%s: shape %s vs reference %s", what, ke_tensor_shape_str (got, a, sizeof a),
                      ke_tensor_shape_str (ref, b, sizeof b));
      return FALSE;
    }
  float *g = ke_tensor_to_f32_alloc (got);
  float *r = ke_tensor_to_f32_alloc (ref);
  gboolean ok = g && r && test_allclose (what, g, r, (size_t) ke_tensor_nelements (ref), atol, rtol);
  free (g);
  free (r);
  return ok;
}

void
test_check_listed_outputs (const char *what, const struct ke_tensor_set *res, const struct ke_tensor_set *ref,
                           double atol, double rtol)
{
  json_object *outs = json_tokener_parse (ke_tset_meta (ref, "outputs"));
  g_assert_nonnull (outs);
  int n = (int) json_object_array_length (outs);
  g_assert_cmpint (n, >, 0);
  for (int i = 0; i < n; i++)
    {
      const char *o = json_object_get_string (json_object_array_get_idx (outs, i));
      const struct ke_tensor *got = ke_tset_get (res, o);
      const struct ke_tensor *want = ke_tset_get (ref, o);
      g_assert_nonnull (want);
      if (!got)
        g_error ("%s: output '%s' not produced", what, o);
      g_assert_true (test_tensor_allclose (o, got, want, atol, rtol));
    }
  json_object_put (outs);
}

void
test_fill_random (float *x, size_t n, guint32 seed)
{
  guint32 s = seed * 2654435761u + 12345u;
  for (size_t i = 0; i < n; i++)
    {
      s ^= s << 13;
      s ^= s >> 17;
      s ^= s << 5;
      x[i] = (float) (s >> 8) / (float) (1u << 24) * 2.0f - 1.0f;
    }
}

char *
test_tmp_path (const char *name)
{
  static char *dir;
  if (!dir)
    {
      GError *error = NULL;
      dir = g_dir_make_tmp ("kinora-test-XXXXXX", &error);
      g_assert_no_error (error);
    }
  return g_build_filename (dir, name, NULL);
}

/* A T2V DiT config (16 latent channels, 2x2 patches, qk and cross-attention norms) of the given sizes. */
struct ke_dit_config
test_t2v_config (int dim, int ffn_dim, int text_dim, int text_len, int heads, int layers)
{
  struct ke_dit_config c;
  ke_random_dit_config (&c, "t2v", 16, dim, ffn_dim, text_dim, text_len, heads, layers);
  return c;
}

/* A two-expert T2V-A14B model of random fp32 weights at tiny sizes (one layer, dim 32). Unlike the
 * built-in tiny model (always exact fp32), it takes the CPU's fast path when bf16 is asked. */
ke_model_t *
test_small_a14b (const char *name)
{
  const struct ke_dit_config c = test_t2v_config (32, 64, 32, 32, 2, 1);
  struct ke_random_opts o = { KE_DTYPE_F32, false, false, false };
  struct ke_tensor_set *dit = NULL, *dit_high = NULL, *t5 = NULL, *vae = NULL;
  struct ke_error err = { 0 };
  ke_model_t *m = NULL;
  g_assert_cmpint (ke_random_dit_weights (&dit, &c, &o, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_random_dit_weights (&dit_high, &c, &o, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_random_t5_weights (&t5, 258, 32, 64, 4, 1, &o, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_random_vae21_weights (&vae, 8, 16, &o, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_model_from_sets (&m, dit, dit_high, t5, vae, name, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_model_task (m), ==, KE_TASK_T2V_A14B);
  g_assert_false (m->tiny);
  return m;
}
