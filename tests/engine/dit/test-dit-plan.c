/* Tests for the DiT's device memory plan (ke_dit_plan_memory) and the FFN in token chunks
 * (ke_dit_set_ffn_chunk), on the CPU: no GPU needed. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "test-util.h"
#include "backends/backend.h"
#include "models/dit/wan.h"
#include "pipeline/tiny-impl.h"

static struct ke_dit_config
cfg (int dim, int ffn, int heads, int layers)
{
  return test_t2v_config (dim, ffn, 64, 32, heads, layers);
}

static struct ke_tensor_set *
weights (const struct ke_dit_config *c, int type)
{
  struct ke_random_opts o = { .type = type };
  struct ke_tensor_set *s = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_random_dit_weights (&s, c, &o, &err), ==, KE_STATUS_OK);
  return s;
}

/* everything resident when it fits; streaming with a cap when it does not; FFN chunks when even the
 * activations are too large; "does not fit" below that */
static void
test_plan (void)
{
  struct ke_dit_config c = cfg (256, 1024, 2, 4);
  struct ke_tensor_set *ws = weights (&c, KE_DTYPE_BF16);
  struct ke_dit_mem_plan p;
  struct ke_error err = { 0 };
  const size_t MiB = 1 << 20;
  const int F = 5, H = 64, W = 64;   /* 5120 tokens */

  g_assert_cmpint (ke_dit_plan_memory (ws, F, H, W, 2, (size_t) 64 << 30, &p, &err), ==, KE_STATUS_OK);
  g_assert_false (p.streams);
  g_assert_true (p.fits);
  g_assert_true (p.weight_cap == SIZE_MAX);
  g_assert_cmpint (p.ffn_chunk, ==, 0);
  /* 4 blocks of 8 D^2 + 2 D FF bf16 weights, plus the embeddings and the head */
  const size_t blocks = (size_t) 4 * (8 * 256 * 256 + 2 * 256 * 1024) * 2;
  g_assert_cmpuint (p.weights, >, blocks);
  g_assert_cmpuint (p.block, ==, (size_t) (6 * 256 * 256 + 2 * 256 * 1024) * 2);
  const size_t act = p.activations;

  /* between: streams, the cap leaves the activations and two blocks */
  const size_t mid = act + 2 * p.block + p.weights / 2;
  g_assert_cmpint (ke_dit_plan_memory (ws, F, H, W, 2, mid, &p, &err), ==, KE_STATUS_OK);
  g_assert_true (p.streams);
  g_assert_true (p.fits);
  g_assert_cmpuint (p.weight_cap, ==, mid - p.activations - 2 * p.block);
  g_assert_cmpint (p.ffn_chunk, ==, 0);

  /* too little for the whole FFN hidden state: token chunks, smaller activations */
  const size_t tight = act + 2 * p.block - (size_t) 4 * MiB;
  g_assert_cmpint (ke_dit_plan_memory (ws, F, H, W, 2, tight, &p, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (p.ffn_chunk, >, 0);
  g_assert_cmpint (p.ffn_chunk, <, (int64_t) F * (H / 2) * (W / 2));
  g_assert_cmpuint (p.activations, <, act);

  /* far too little: does not fit */
  g_assert_cmpint (ke_dit_plan_memory (ws, F, H, W, 2, 16 * MiB, &p, &err), ==, KE_STATUS_OK);
  g_assert_false (p.fits);
  g_assert_true (p.streams);
  ke_tset_free (ws);
}

/* The FFN in token chunks gives the forward of the whole FFN: its rows are independent. On the exact
 * CPU backend only the GEMM's blocking over rows changes, so 1e-6 relative L2 (fp32 rounding). */
static void
test_ffn_chunks (void)
{
  struct ke_dit_config c = cfg (64, 160, 2, 2);
  struct ke_tensor_set *ws = weights (&c, KE_DTYPE_F32);
  struct ke_dit *d = NULL;
  struct ke_dit_context *ctx = NULL;
  struct ke_error err = { 0 };
  const int F = 3, H = 12, W = 10;   /* 90 tokens */
  const size_t nx = (size_t) 16 * F * H * W;
  float *x = g_new (float, nx), *a = g_new (float, nx), *b = g_new (float, nx);
  float *text = g_new0 (float, (size_t) c.text_len * c.text_dim);
  for (size_t i = 0; i < nx; i++)
    x[i] = sinf ((float) i * 0.37f);
  for (size_t i = 0; i < (size_t) c.text_len * c.text_dim; i++)
    text[i] = 0.1f * cosf ((float) i * 0.11f);
  float t = 500.0f;
  g_assert_cmpint (ke_dit_init (&d, ws, NULL, ke_backend_cpu (), &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_dit_context_new (d, text, 10, &ctx, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_dit_forward (d, ctx, x, 16, NULL, 0, F, H, W, &t, 1, a, NULL, NULL, &err), ==, KE_STATUS_OK);
  ke_dit_set_ffn_chunk (d, 7);   /* 13 chunks, the last one of 6 tokens */
  g_assert_cmpint (ke_dit_forward (d, ctx, x, 16, NULL, 0, F, H, W, &t, 1, b, NULL, NULL, &err), ==, KE_STATUS_OK);
  double num = 0, den = 0;
  for (size_t i = 0; i < nx; i++)
    {
      num += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
      den += (double) a[i] * a[i];
    }
  g_test_message ("FFN in chunks of 7 tokens: rel %.3e", sqrt (num / den));
  g_assert_cmpfloat (den, >, 0);
  g_assert_cmpfloat (sqrt (num / den), <=, 1e-6);
  ke_dit_context_free (ctx);
  ke_dit_free (d);
  ke_tset_free (ws);
  g_free (x);
  g_free (a);
  g_free (b);
  g_free (text);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dit-plan/plan", test_plan);
  g_test_add_func ("/dit-plan/ffn-chunks", test_ffn_chunks);
  return g_test_run ();
}
