/* Tests for the few-step preset (euler-lightning in schedule.c / solver.c, ke_gen_params_preset), the
 * TeaCache rescale polynomial and the MagCache ratios (pipeline/step-cache*.c) against fast.io.safetensors,
 * which make_fast_fixture.py computes by running the official Wan2.2-Lightning, LightX2V, TeaCache and
 * MagCache code. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test-util.h"
#include "pipeline/io-impl.h"
#include "pipeline/sample-impl.h"
#include "pipeline/step-cache-impl.h"
#include "sampling/sampling.h"

static struct ke_io *
open_fixture (void)
{
  const char *root = g_getenv ("KINORA_SOURCE_ROOT");
  g_assert_nonnull (root);
  g_autofree char *path = g_build_filename (root, "tests", "engine", "sampling", "fast.io.safetensors", NULL);
  struct ke_io *io = NULL;
  struct ke_error err = { 0 };
  if (ke_io_read (&io, path, &err) != KE_STATUS_OK)
    g_error ("%s", err.msg);
  return io;
}

static const float *
f32 (const struct ke_io *io, const char *name, int64_t n)
{
  const struct ke_io_tensor *t = ke_io_get (io, name);
  if (t == NULL)
    g_error ("fast.io.safetensors: tensor %s missing", name);
  g_assert_cmpint (t->type, ==, KE_DTYPE_F32);
  g_assert_cmpint (t->n, ==, n);
  return t->data;
}

static const double *
f64 (const struct ke_io *io, const char *name, int64_t *n)
{
  const struct ke_io_tensor *t = ke_io_get (io, name);
  if (t == NULL)
    g_error ("fast.io.safetensors: tensor %s missing", name);
  g_assert_cmpint (t->type, ==, KE_DTYPE_F64);
  *n = t->n;
  return t->data;
}

/* The schedule is the reference's float32 arithmetic step for step: sigmas and the model's (untruncated)
 * timesteps must be bit-identical. */
static void
test_lightning_schedules (void)
{
  struct ke_io *io = open_fixture ();
  static const struct { int n; double shift; const char *key; } cases[] = {
    { 4, 5.0, "lightning.n4_s5" }, { 8, 5.0, "lightning.n8_s5" }, { 4, 3.0, "lightning.n4_s3" },
    { 6, 12.0, "lightning.n6_s12" }, { 3, 8.0, "lightning.n3_s8" },
  };
  for (size_t c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      struct ke_schedule s;
      struct ke_error err = { 0 };
      g_autofree char *ks = g_strconcat (cases[c].key, ".sigmas", NULL);
      g_autofree char *kt = g_strconcat (cases[c].key, ".timesteps", NULL);
      g_assert_cmpint (ke_schedule_init (&s, KE_SOLVER_EULER_LIGHTNING, cases[c].n, cases[c].shift, 1000, &err), ==,
                       KE_STATUS_OK);
      g_assert_cmpmem (s.sigmas, 4 * (cases[c].n + 1), f32 (io, ks, cases[c].n + 1), 4 * (cases[c].n + 1));
      g_assert_cmpmem (s.t_model, 4 * cases[c].n, f32 (io, kt, cases[c].n), 4 * cases[c].n);
      ke_schedule_free (&s);
    }
  /* LightX2V's step-distill scheduler picks the same sigmas and timesteps (float32, here bit-identical) */
  struct ke_schedule s;
  g_assert_cmpint (ke_schedule_init (&s, KE_SOLVER_EULER_LIGHTNING, 4, 5.0, 1000, NULL), ==, KE_STATUS_OK);
  g_assert_cmpmem (s.sigmas, 16, f32 (io, "lightx2v.sigmas", 4), 16);
  g_assert_cmpmem (s.t_model, 16, f32 (io, "lightx2v.timesteps", 4), 16);
  /* its boundary_step_index 2 is where the A14B boundaries (0.875, 0.900) split the 4 steps */
  const int split = (int) f32 (io, "lightx2v.boundary_step_index", 1)[0];
  g_assert_cmpint (split, ==, 2);
  for (int i = 0; i < 4; i++)
    {
      g_assert_cmpint (ke_expert_is_high (0.875, 1000, s.t_model[i]), ==, i < split);
      g_assert_cmpint (ke_expert_is_high (0.900, 1000, s.t_model[i]), ==, i < split);
    }
  ke_schedule_free (&s);
  ke_io_free (io);
}

/* A whole 4-step run of EulerScheduler.step with the reference's velocities: bit-identical (the same three
 * float32 roundings per element). */
static void
test_lightning_steps (void)
{
  struct ke_io *io = open_fixture ();
  const int64_t n = 2 * 3 * 5 * 7;
  const float *xs = f32 (io, "lightning.step.x", 5 * n);
  const float *vs = f32 (io, "lightning.step.v", 4 * n);
  struct ke_schedule s;
  struct ke_sampler *smp = NULL;
  g_assert_cmpint (ke_schedule_init (&s, KE_SOLVER_EULER_LIGHTNING, 4, 5.0, 1000, NULL), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_sampler_new (&smp, KE_SOLVER_EULER_LIGHTNING, &s, n, NULL), ==, KE_STATUS_OK);
  float *x = g_new (float, n);
  memcpy (x, xs, sizeof (float) * n);
  for (int i = 0; i < 4; i++)
    {
      ke_sampler_step (smp, i, x, vs + i * n, NULL, NULL);
      g_assert_cmpmem (x, 4 * n, xs + (i + 1) * n, 4 * n);
    }
  g_free (x);
  ke_sampler_free (smp);
  ke_schedule_free (&s);
  ke_io_free (io);
}

/* np.poly1d of the published coefficients (read from the official files) vs ke_teacache_rescale, and the
 * coefficients themselves. Tolerance 1e-12 x the largest coefficient: both are Horner in double (NumPy's
 * polyval too), so they differ by a few roundings of terms no larger than that coefficient. */
static void
test_teacache_polynomial (void)
{
  struct ke_io *io = open_fixture ();
  static const struct { const char *k; enum ke_task task; } cases[] = {
    { "ti2v", KE_TASK_TI2V_5B }, { "t2v", KE_TASK_T2V_A14B }, { "i2v", KE_TASK_I2V_A14B },
  };
  for (size_t c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      int64_t nx, ny, nc;
      g_autofree char *kx = g_strconcat ("tea.", cases[c].k, ".x", NULL);
      g_autofree char *ky = g_strconcat ("tea.", cases[c].k, ".y", NULL);
      g_autofree char *kc = g_strconcat ("tea.", cases[c].k, ".coefficients", NULL);
      const double *x = f64 (io, kx, &nx), *y = f64 (io, ky, &ny), *co = f64 (io, kc, &nc);
      g_assert_cmpint (nx, ==, ny);
      double scale = 0;
      for (int64_t j = 0; j < nc; j++)
        scale = fmax (scale, fabs (co[j]));
      for (int64_t i = 0; i < nx; i++)
        {
          const double got = ke_teacache_rescale (cases[c].task, x[i]);
          if (fabs (got - y[i]) > 1e-12 * scale)
            g_error ("tea %s at %g: %.17g, reference %.17g", cases[c].k, x[i], got, y[i]);
        }
    }
  ke_io_free (io);
}

/* MagCache's per-step ratios as the official init_magcache sets them ([1, 1] + the published list, nearest
 * interpolation for other step counts): exact (the same doubles, the same indices). */
static void
test_magcache_ratios (void)
{
  struct ke_io *io = open_fixture ();
  static const struct { const char *k; enum ke_task task; bool image; } sets[] = {
    { "t2v", KE_TASK_T2V_A14B, false }, { "i2v", KE_TASK_I2V_A14B, false },
    { "ti2v_t2v", KE_TASK_TI2V_5B, false }, { "ti2v_i2v", KE_TASK_TI2V_5B, true },
  };
  const int steps[] = { 1, 4, 8, 20, 40, 50 };
  for (size_t c = 0; c < G_N_ELEMENTS (sets); c++)
    for (size_t j = 0; j < G_N_ELEMENTS (steps); j++)
      {
        g_autofree char *key = g_strdup_printf ("mag.%s.s%d", sets[c].k, steps[j]);
        int64_t n;
        const double *ref = f64 (io, key, &n);
        g_assert_cmpint (n, ==, 2 * steps[j]);
        for (int i = 0; i < steps[j]; i++)
          for (int p = 0; p < 2; p++)
            if (ke_magcache_ratio (sets[c].task, sets[c].image, steps[j], i, p) != ref[2 * i + p])
              g_error ("%s step %d pass %d: %.17g, reference %.17g", key, i, p,
                       ke_magcache_ratio (sets[c].task, sets[c].image, steps[j], i, p), ref[2 * i + p]);
      }
  ke_io_free (io);
}

static void
test_preset_and_names (void)
{
  const enum ke_task tasks[] = { KE_TASK_TI2V_5B, KE_TASK_T2V_A14B, KE_TASK_I2V_A14B };
  for (size_t i = 0; i < G_N_ELEMENTS (tasks); i++)
    {
      struct ke_gen_params p = ke_gen_params_default (tasks[i]);
      struct ke_error err = { 0 };
      g_assert_cmpint (ke_gen_params_preset (&p, "lightning", &err), ==, KE_STATUS_OK);
      g_assert_cmpint (p.steps, ==, 4);
      g_assert_cmpfloat (p.shift, ==, 5.0f);
      g_assert_cmpfloat (p.guide, ==, 1.0f);
      g_assert_cmpfloat (p.guide_high, ==, 1.0f);
      g_assert_cmpint (p.solver, ==, KE_SOLVER_EULER_LIGHTNING);
      /* the rest stays: the official size and frames of the task */
      g_assert_cmpint (p.n_frames, ==, ke_gen_params_default (tasks[i]).n_frames);
      g_assert_cmpint (p.cache, ==, KE_CACHE_OFF);
      g_assert_cmpfloat (p.cache_threshold, <, 0);
    }
  struct ke_gen_params p = ke_gen_params_default (KE_TASK_TI2V_5B);
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_gen_params_preset (&p, "thunder", &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "thunder"));
  g_assert_nonnull (strstr (err.msg, "lightning"));

  enum ke_solver s;
  g_assert_cmpint (ke_solver_from_name ("euler-lightning", &s), ==, 0);
  g_assert_cmpint (s, ==, KE_SOLVER_EULER_LIGHTNING);
  g_assert_cmpstr (ke_solver_name (s), ==, "euler-lightning");
  enum ke_cache_mode m;
  g_assert_cmpint (ke_cache_mode_from_name ("tea", &m), ==, 0);
  g_assert_cmpint (m, ==, KE_CACHE_TEA);
  g_assert_cmpint (ke_cache_mode_from_name ("easy", &m), ==, 0);
  g_assert_cmpint (m, ==, KE_CACHE_EASY);
  g_assert_cmpint (ke_cache_mode_from_name ("mag", &m), ==, 0);
  g_assert_cmpint (m, ==, KE_CACHE_MAG);
  g_assert_cmpint (ke_cache_mode_from_name ("lazy", &m), ==, -1);
  g_assert_cmpfloat (ke_cache_default_threshold (KE_CACHE_MAG, KE_TASK_T2V_A14B), ==, 0.04f);
  g_assert_cmpstr (ke_cache_mode_name (KE_CACHE_EASY), ==, "easy");
  g_assert_cmpfloat (ke_cache_default_threshold (KE_CACHE_EASY, KE_TASK_TI2V_5B), ==, 0.2f);
  g_assert_cmpfloat (ke_cache_default_threshold (KE_CACHE_TEA, KE_TASK_TI2V_5B), ==, 0.26f);

  /* validation: the new solver passes, a bad cache or threshold is named */
  p = ke_gen_params_default (KE_TASK_TI2V_5B);
  p.solver = KE_SOLVER_EULER_LIGHTNING;
  g_assert_cmpint (ke_gen_params_validate (&p, NULL), ==, KE_STATUS_OK);
  p.cache = (enum ke_cache_mode) 7;
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_gen_params_validate (&p, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "step cache"));
  p.cache = KE_CACHE_TEA;
  p.cache_threshold = NAN;
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_gen_params_validate (&p, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "threshold"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/fast/lightning-schedules", test_lightning_schedules);
  g_test_add_func ("/fast/lightning-steps", test_lightning_steps);
  g_test_add_func ("/fast/teacache-polynomial", test_teacache_polynomial);
  g_test_add_func ("/fast/magcache-ratios", test_magcache_ratios);
  g_test_add_func ("/fast/preset-and-names", test_preset_and_names);
  return g_test_run ();
}
