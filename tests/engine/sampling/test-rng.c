/* Tests for engine/sampling/rng.c: seed -> noise as PyTorch's CPU generator. */
#include <math.h>

#include "test-util.h"
#include "sampling/sampling.h"

/* torch.manual_seed(42); torch.randn(5): fewer than 16 values, the double Box-Muller path.
 * These equal PyTorch 1.13 bit for bit on every machine. */
static void
test_small (void)
{
  static const float ref[5] = { 0.33669036626815796f, 0.12880940735340118f, 0.23446236550807953f,
                                0.23033303022384644f, -1.1228563785552979f };
  struct ke_rng r;
  float got[5];
  ke_rng_seed (&r, 42);
  ke_randn (&r, got, 5);
  for (int i = 0; i < 5; i++)
    g_assert_cmpfloat (got[i], ==, ref[i]);
}

/* torch.manual_seed(42); torch.randn(40); seed 123456789012 (only its low 32 bits seed mt19937),
 * torch.randn(3, 5, 7); seed 2^40 + 5, torch.randn(33) (a tail block redrawn). The float Box-Muller of
 * 16 values at a time as PyTorch 1.13's AVX2 kernel: bit-exact (measured over 100,003 values). The
 * portable libm flavour differs from it by a few ulps (4e-6 here). */
static void
test_vectorised (void)
{
  static const float head[4] = { 1.9269152879714966f, 1.4872840642929077f, 0.9007171988487244f,
                                 -2.1055209636688232f };
  static const float tail[4] = { 1.1789509057998657f, -0.43445441126823425f, -1.386365532875061f,
                                 -1.2862155437469482f };
  struct ke_rng r;
  float got[105];
  ke_rng_seed (&r, 42);
  ke_randn (&r, got, 40);
  g_assert_true (test_allclose ("seed 42 head", got, head, 4, 0, 0));
  g_assert_true (test_allclose ("seed 42 tail", got + 36, tail, 4, 0, 0));
  ke_rng_seed (&r, 42);
  ke_randn_kernel (&r, got, 40, KE_RANDN_LIBM);
  g_assert_true (test_allclose ("seed 42 head, libm", got, head, 4, 4e-6, 0));
  static const float h2[3] = { -0.3533598780632019f, -0.26349639892578125f, -1.3733619451522827f };
  static const float t2[3] = { -0.9551592469215393f, -0.15985673666000366f, -0.17577511072158813f };
  ke_rng_seed (&r, 123456789012ull);
  ke_randn (&r, got, 105);
  g_assert_true (test_allclose ("seed 123456789012 head", got, h2, 3, 0, 0));
  g_assert_true (test_allclose ("seed 123456789012 tail", got + 102, t2, 3, 0, 0));
  static const float t3[3] = { 1.8423298597335815f, 2.779863119125366f, -1.0364670753479004f };
  ke_rng_seed (&r, (1ull << 40) + 5);
  ke_randn (&r, got, 33);
  const float g3[3] = { got[0], got[16], got[32] };
  g_assert_true (test_allclose ("seed 2^40+5", g3, t3, 3, 0, 0));
}

/* Same seed, same noise; statistics of a large draw are those of N(0, 1). */
static void
test_repeat_and_moments (void)
{
  enum { N = 200000 };
  float *a = g_new (float, N), *b = g_new (float, N);
  struct ke_rng r;
  ke_rng_seed (&r, 7);
  ke_randn (&r, a, N);
  ke_rng_seed (&r, 7);
  ke_randn (&r, b, N);
  g_assert_cmpmem (a, N * 4, b, N * 4);
  double s = 0, s2 = 0;
  for (int i = 0; i < N; i++)
    {
      g_assert_true (isfinite (a[i]));
      s += a[i];
      s2 += (double) a[i] * a[i];
    }
  /* 5 sigma bounds for the mean (1/sqrt(N) = 2.2e-3) and the variance (sqrt(2/N) = 3.2e-3) */
  g_assert_cmpfloat (fabs (s / N), <, 0.012);
  g_assert_cmpfloat (fabs (s2 / N - 1.0), <, 0.016);
  ke_rng_seed (&r, 8);
  ke_randn (&r, b, N);
  g_assert_true (memcmp (a, b, N * 4) != 0);
  g_free (a);
  g_free (b);
  g_assert_cmpint (ke_random_seed (), >=, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/rng/small", test_small);
  g_test_add_func ("/rng/vectorised", test_vectorised);
  g_test_add_func ("/rng/repeat-and-moments", test_repeat_and_moments);
  return g_test_run ();
}
