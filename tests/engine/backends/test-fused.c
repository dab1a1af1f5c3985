/* The CPU backend's fused ops (backends/cpu/cpu-fused.c) against the plain ops they stand for
   (backend.h, "fused ops"), on the exact and the bf16 ("fast") CPU backends and through the profiling
   wrapper. Tolerance: none. A struct ke_xbuf holds f32 on the CPU and each fused op must run exactly
   the composition its declaration names, so the outputs must be bit-identical (a different order of
   float operations would show up as a mismatch here). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "backends/profile.h"
#include "test-util.h"

enum { M = 19, H = 4, HD = 16, D = H * HD, N = 48, FF = 96 };

static float *
rnd (size_t n, guint32 seed)
{
  float *x = g_new (float, n);
  test_fill_random (x, n, seed);
  return x;
}

static void
assert_same (const char *what, const void *got, const float *ref, size_t n)
{
  const float *g = got;
  for (size_t i = 0; i < n; i++)
    if (memcmp (&g[i], &ref[i], sizeof (float)) != 0)
      g_error ("%s: element %zu is %.9g, the separate ops give %.9g", what, i, g[i], ref[i]);
}

struct lin
{
  struct ke_tensor tw, tb;
  float *w, *b;
  struct ke_linear l;
};

static void
lin_init (struct ke_backend *be, struct lin *p, int n_out, int n_in, guint32 seed)
{
  int64_t ws[2] = { n_out, n_in }, bs[1] = { n_out };
  p->w = rnd ((size_t) n_out * n_in, seed);
  p->b = rnd ((size_t) n_out, seed + 1);
  ke_tensor_init (&p->tw, KE_DTYPE_F32, 2, ws, p->w);
  ke_tensor_init (&p->tb, KE_DTYPE_F32, 1, bs, p->b);
  p->l = (struct ke_linear) { .w = &p->tw, .b = &p->tb, .n_in = n_in, .n_out = n_out };
  g_assert_cmpint (be->ops->linear_prepare (be, &p->l), ==, 0);
}

static void
lin_clear (struct ke_backend *be, struct lin *p)
{
  be->ops->linear_release (be, &p->l);
  g_free (p->w);
  g_free (p->b);
}

static void
check_backend (struct ke_backend *be)
{
  const struct ke_backend_ops *op = be->ops;
  g_assert_cmpuint (op->xbuf_elem, ==, sizeof (float));
  float *x = rnd (M * D, 1), *w = rnd (D, 2), *b = rnd (D, 3), *mod = rnd (3 * 2 * D, 4);
  float *cs = rnd (M * HD, 5), *r0 = rnd (M * N, 6), *kv = rnd (2 * 7 * D, 7);
  int32_t sel[M];
  for (int i = 0; i < M; i++)
    sel[i] = i % 3;
  float *ref = g_new (float, M * FF), *ref2 = g_new (float, M * FF), *tmp = g_new (float, M * FF);
  struct ke_xbuf *xb = ke_be_alloc_xbuf (be, M * FF), *xb2 = ke_be_alloc_xbuf (be, M * FF);

  op->to_xbuf (be, xb, x, M * D);
  assert_same ("to_xbuf", xb, x, M * D);

  /* LayerNorm + modulate with a per-row selector over 3 modulation rows (stride 2 D), and alone */
  op->layer_norm_mod_x (be, xb, x, M, D, w, b, 1e-6f, mod, mod + D, 2 * D, sel);
  op->layer_norm (be, ref, x, M, D, w, b, 1e-6f);
  op->modulate (be, ref, ref, M, D, mod, mod + D, 2 * D, sel);
  assert_same ("layer_norm_mod_x", xb, ref, M * D);
  op->layer_norm_mod_x (be, xb, x, M, D, NULL, NULL, 1e-6f, NULL, NULL, 0, NULL);
  op->layer_norm (be, ref, x, M, D, NULL, NULL, 1e-6f);
  assert_same ("layer_norm_mod_x without modulation", xb, ref, M * D);

  /* RMS norm + RoPE, and the RMS norm alone (cs NULL) */
  op->rms_norm_rope_x (be, xb, x, M, H, HD, w, 1e-6f, cs);
  op->rms_norm (be, ref, x, M, D, w, 1e-6f);
  op->rope (be, ref, M, H, HD, cs);
  assert_same ("rms_norm_rope_x", xb, ref, M * D);
  op->rms_norm_rope_x (be, xb, x, M, H, HD, w, 1e-6f, NULL);
  op->rms_norm (be, ref, x, M, D, w, 1e-6f);
  assert_same ("rms_norm_rope_x without rotation", xb, ref, M * D);

  /* the linears: plain, + GELU, + gated residual (one gate row, per-row gates, no gate) */
  struct lin l1, l2;
  lin_init (be, &l1, N, D, 10);
  lin_init (be, &l2, FF, D, 20);
  op->to_xbuf (be, xb, x, M * D);
  op->linear_x (be, ref2, xb, M, &l1.l);
  op->linear (be, ref, x, M, &l1.l);
  assert_same ("linear_x", ref2, ref, M * N);
  op->linear_gelu_x (be, xb2, xb, M, &l2.l);
  op->linear (be, ref, x, M, &l2.l);
  op->gelu_tanh (be, ref, M * FF);
  assert_same ("linear_gelu_x", xb2, ref, M * FF);
  const float *gates[3] = { mod, mod, NULL };
  const int32_t *sels[3] = { NULL, sel, NULL };
  for (int c = 0; c < 3; c++)
    {
      memcpy (ref2, r0, sizeof (float) * M * N);
      op->linear_gated_add_x (be, ref2, xb, M, &l1.l, gates[c], 2 * D, sels[c], tmp);
      memcpy (ref, r0, sizeof (float) * M * N);
      float *y = g_new (float, M * N);
      op->linear (be, y, x, M, &l1.l);
      op->gated_add (be, ref, y, M, N, gates[c], 2 * D, sels[c]);
      assert_same ("linear_gated_add_x", ref2, ref, M * N);
      g_free (y);
    }

  /* attention over 7 keys, xbuf q/k/v/o */
  struct ke_xbuf *kx = ke_be_alloc_xbuf (be, 7 * D), *vx = ke_be_alloc_xbuf (be, 7 * D);
  op->to_xbuf (be, xb, x, M * D);
  op->to_xbuf (be, kx, kv, 7 * D);
  op->to_xbuf (be, vx, kv + 7 * D, 7 * D);
  op->attention_x (be, xb2, xb, kx, vx, M, 7, H, HD, 0.25f);
  op->attention (be, ref, x, kv, kv + 7 * D, M, 7, H, HD, 0.25f, NULL);
  assert_same ("attention_x", xb2, ref, M * D);

  /* channel L2 norm + SiLU over x as [C = 8, N = M * D / 8], out of place and in place */
  op->channel_l2norm_silu (be, ref2, x, 8, M * D / 8, w);
  op->channel_l2norm (be, ref, x, 8, M * D / 8, w);
  op->silu (be, ref, M * D);
  assert_same ("channel_l2norm_silu", ref2, ref, M * D);
  memcpy (ref2, x, sizeof (float) * M * D);
  op->channel_l2norm_silu (be, ref2, ref2, 8, M * D / 8, w);
  assert_same ("channel_l2norm_silu in place", ref2, ref, M * D);

  lin_clear (be, &l1);
  lin_clear (be, &l2);
  ke_be_free (be, kx);
  ke_be_free (be, vx);
  ke_be_free (be, xb);
  ke_be_free (be, xb2);
  g_free (x), g_free (w), g_free (b), g_free (mod), g_free (cs), g_free (r0), g_free (kv);
  g_free (ref), g_free (ref2), g_free (tmp);
}

static void
test_cpu_exact (void)
{
  check_backend (ke_backend_cpu ());
}

static void
test_cpu_fast (void)
{
  check_backend (ke_backend_cpu_fast ());
}

/* kinora-bench's profiling wrapper forwards every fused op to the backend it wraps */
static void
test_profile_wrapper (void)
{
  struct ke_backend *p = ke_backend_profile_wrap (ke_backend_cpu ());
  g_assert_nonnull (p);
  check_backend (p);
  ke_backend_profile_free (p);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/fused/cpu-exact", test_cpu_exact);
  g_test_add_func ("/fused/cpu-fast", test_cpu_fast);
  g_test_add_func ("/fused/profile-wrapper", test_profile_wrapper);
  return g_test_run ();
}
