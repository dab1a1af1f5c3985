/* Tests for engine/sampling/schedule.c and solver.c: schedules and the solvers against scheduler.io. */
#include <math.h>
#include <string.h>

#include "ke-debug.h"
#include "test-util.h"
#include "pipeline/io-impl.h"
#include "backends/backend.h"
#include "sampling/sampling.h"

/* The README's table of 10-step timesteps (exact integers). */
static void
test_timesteps_table (void)
{
  static const struct { enum ke_solver s; double shift; int64_t t[10]; } cases[] = {
    { KE_SOLVER_UNIPC, 5, { 999, 978, 952, 920, 882, 833, 768, 681, 555, 356 } },
    { KE_SOLVER_UNIPC, 12, { 999, 990, 979, 965, 947, 922, 888, 837, 749, 571 } },
    { KE_SOLVER_DPMPP, 5, { 1000, 978, 952, 921, 882, 833, 769, 681, 555, 357 } },
    { KE_SOLVER_DPMPP, 12, { 1000, 990, 979, 965, 947, 923, 888, 837, 750, 571 } },
  };
  for (size_t c = 0; c < G_N_ELEMENTS (cases); c++)
    {
      struct ke_schedule s;
      struct ke_error err = { 0 };
      g_assert_cmpint (ke_schedule_init (&s, cases[c].s, 10, cases[c].shift, 1000, &err), ==, KE_STATUS_OK);
      for (int i = 0; i < 10; i++)
        g_assert_cmpint (s.timesteps[i], ==, cases[c].t[i]);
      g_assert_cmpfloat (s.sigmas[10], ==, 0.0f);
      ke_schedule_free (&s);
    }
}

/* Spec 7.2: the A14B expert split at 40 steps (26 + 14 for T2V, 15 + 25 for I2V). */
static void
test_expert_split (void)
{
  struct ke_schedule s;
  g_assert_cmpint (ke_schedule_init (&s, KE_SOLVER_UNIPC, 40, 12.0, 1000, NULL), ==, KE_STATUS_OK);
  int high = 0;
  for (int i = 0; i < 40; i++)
    high += s.timesteps[i] >= 875;
  g_assert_cmpint (high, ==, 26);
  ke_schedule_free (&s);
  g_assert_cmpint (ke_schedule_init (&s, KE_SOLVER_UNIPC, 40, 5.0, 1000, NULL), ==, KE_STATUS_OK);
  high = 0;
  for (int i = 0; i < 40; i++)
    high += s.timesteps[i] >= 900;
  g_assert_cmpint (high, ==, 15);
  g_assert_cmpint (s.timesteps[39], ==, 113);
  ke_schedule_free (&s);
}

static void
test_bad_schedule (void)
{
  struct ke_schedule s;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_schedule_init (&s, KE_SOLVER_UNIPC, 0, 5.0, 1000, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "steps"));
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_schedule_init (&s, KE_SOLVER_UNIPC, 4, -1.0, 1000, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "shift"));
}

/* Euler on a constant velocity lands exactly on x - v (sigma goes 1 -> 0). */
static void
test_euler_constant (void)
{
  struct ke_schedule s;
  struct ke_sampler *smp = NULL;
  float x[3] = { 1, 2, 3 }, v[3] = { 0.5f, -1, 2 };
  g_assert_cmpint (ke_schedule_init (&s, KE_SOLVER_EULER, 7, 3.0, 1000, NULL), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_sampler_new (&smp, KE_SOLVER_EULER, &s, 3, NULL), ==, KE_STATUS_OK);
  for (int i = 0; i < 7; i++)
    ke_sampler_step (smp, i, x, v, NULL, NULL);
  g_assert_cmpfloat_with_epsilon (x[0], 0.5, 1e-6);
  g_assert_cmpfloat_with_epsilon (x[1], 3.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (x[2], 1.0, 1e-6);
  ke_sampler_free (smp);
  ke_schedule_free (&s);
}

/* Every output of scheduler.io through `ke_eval("scheduler")`. Tolerance 1e-5 abs: the README measures
 * 1.1e-6 between the float32 and float64 reference runs; our coefficients are float64, so the spread
 * is of that size (measured 1.2e-6), and 1e-5 still catches any formula error (they move values by >1e-3).
 * Integer timesteps and float32 sigmas must be exact. */
static void
test_fixture (void)
{
  g_autofree char *in = test_fixture_path ("scheduler.io.safetensors");
  g_autofree char *out = test_tmp_path ("scheduler.out.safetensors");
  if (!test_require_fixture (in))
    return;
  struct ke_eval_args a = { .in = in, .out = out };
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_eval ("scheduler", &a, &err), ==, KE_STATUS_OK);
  struct ke_io *ref = NULL, *got = NULL;
  g_assert_cmpint (ke_io_read (&ref, in, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_io_read (&got, out, &err), ==, KE_STATUS_OK);
  int compared = 0;
  for (int i = 0; i < got->n; i++)
    {
      const struct ke_io_tensor *g = &got->t[i];
      const struct ke_io_tensor *r = ke_io_get (ref, g->name);
      g_assert_nonnull (r);
      g_assert_cmpint (g->n_dims, ==, r->n_dims);
      for (int d = 0; d < g->n_dims; d++)
        g_assert_cmpint (g->shape[d], ==, r->shape[d]);
      if (g->type == KE_DTYPE_I64)
        g_assert_cmpmem (g->data, g->n * 8, r->data, r->n * 8);
      else if (strstr (g->name, "sigmas"))
        g_assert_cmpmem (g->data, g->n * 4, r->data, r->n * 4);
      else
        g_assert_true (test_allclose (g->name, g->data, r->data, g->n, 1e-5, 0));
      compared++;
    }
  /* every output the IO lists was produced */
  const char *outputs = ke_io_meta (ref, "outputs");
  g_assert_nonnull (outputs);
  for (int i = 0; i < ref->n; i++)
    {
      g_autofree char *quoted = g_strdup_printf ("\"%s\"", ref->t[i].name);
      if (strstr (outputs, quoted))
        g_assert_nonnull (ke_io_get (got, ref->t[i].name));
    }
  g_assert_cmpint (compared, >=, 40);
  ke_io_free (ref);
  ke_io_free (got);
}

/* The solvers with their vectors in backend memory (ke_sampler_to_backend, ops.lincomb on the CPU
 * backend) against the host loops, 12 steps of every solver on pseudo-random velocities: the same
 * coefficients summed in another order in double, so the float results may differ by about an ulp
 * (bound 1e-6 absolute on values of order 1; a wrong coefficient moves them by > 1e-3). */
static void
test_on_backend (void)
{
  const enum ke_solver solvers[] = { KE_SOLVER_UNIPC, KE_SOLVER_DPMPP, KE_SOLVER_EULER, KE_SOLVER_EULER_LIGHTNING };
  const int n = 4099, steps = 12;
  struct ke_backend *be = ke_backend_cpu ();
  for (size_t si = 0; si < G_N_ELEMENTS (solvers); si++)
    {
      struct ke_schedule s;
      struct ke_sampler *host = NULL, *dev = NULL;
      struct ke_error err = { 0 };
      g_assert_cmpint (ke_schedule_init (&s, solvers[si], steps, 5.0, 1000, &err), ==, KE_STATUS_OK);
      g_assert_cmpint (ke_sampler_new (&host, solvers[si], &s, n, &err), ==, KE_STATUS_OK);
      g_assert_cmpint (ke_sampler_new (&dev, solvers[si], &s, n, &err), ==, KE_STATUS_OK);
      g_assert_cmpint (ke_sampler_to_backend (dev, be, &err), ==, KE_STATUS_OK);
      float *xh = g_new (float, n), *vh = g_new (float, n), *x0h = g_new (float, n);
      float *xd = ke_be_alloc (be, sizeof (float) * n), *vd = ke_be_alloc (be, sizeof (float) * n);
      float *x0d = ke_be_alloc (be, sizeof (float) * n), *x0b = g_new (float, n), *xb = g_new (float, n);
      guint32 r = 12345u + (guint32) si;
      for (int k = 0; k < n; k++)
        {
          r = r * 1664525u + 1013904223u;
          xh[k] = (float) ((double) (r >> 8) / 16777216.0 * 2.0 - 1.0);
        }
      be->ops->upload (be, xd, xh, sizeof (float) * n);
      double worst = 0.0;
      for (int i = 0; i < steps; i++)
        {
          for (int k = 0; k < n; k++)
            {
              r = r * 1664525u + 1013904223u;
              vh[k] = xh[k] * 0.7f + (float) ((double) (r >> 8) / 16777216.0 - 0.5);
            }
          be->ops->upload (be, vd, vh, sizeof (float) * n);
          ke_sampler_step (host, i, xh, vh, NULL, x0h);
          ke_sampler_step (dev, i, xd, vd, NULL, x0d);
          be->ops->download (be, xb, xd, sizeof (float) * n);
          be->ops->download (be, x0b, x0d, sizeof (float) * n);
          for (int k = 0; k < n; k++)
            {
              worst = fmax (worst, fabs ((double) xb[k] - xh[k]));
              worst = fmax (worst, fabs ((double) x0b[k] - x0h[k]));
            }
          /* go on from the host's sample, so both see the same inputs at every step */
          be->ops->upload (be, xd, xh, sizeof (float) * n);
        }
      g_test_message ("%s: largest difference %.3g", ke_solver_name (solvers[si]), worst);
      g_assert_cmpfloat (worst, <=, 1e-6);
      /* a moved sampler cannot move again */
      g_assert_cmpint (ke_sampler_to_backend (dev, be, &err), ==, KE_STATUS_INVALID);
      g_free (xh);
      g_free (vh);
      g_free (x0h);
      g_free (x0b);
      g_free (xb);
      be->ops->free (be, xd);
      be->ops->free (be, vd);
      be->ops->free (be, x0d);
      ke_sampler_free (host);
      ke_sampler_free (dev);
      ke_schedule_free (&s);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sampling/timesteps-table", test_timesteps_table);
  g_test_add_func ("/sampling/expert-split", test_expert_split);
  g_test_add_func ("/sampling/bad-schedule", test_bad_schedule);
  g_test_add_func ("/sampling/euler-constant", test_euler_constant);
  g_test_add_func ("/sampling/scheduler-fixture", test_fixture);
  g_test_add_func ("/sampling/on-backend", test_on_backend);
  return g_test_run ();
}
