/* Tests for engine/models/common/lora.c: the key conventions of each LoRA format become the official
 * module names with the right parts (down, up, alpha, diff, diff_b), malformed files are errors naming
 * the file and the key, and a DiT built with a LoRA on the CPU matches the same DiT built with the
 * weights merged by hand. (The formats end to end, through kinora-cli eval dit, are in tests/lora.) */
#include <glib.h>
#include <math.h>
#include <string.h>

#include "backends/backend.h"
#include "core/error.h"
#include "models/common/lora.h"
#include "models/dit/wan.h"
#include "pipeline/tiny-impl.h"
#include "test-util.h"

/* A set of the named tensors: 2-D [a, b] (b = 0: one element) f32, values from the seed. */
static struct ke_tensor_set *
make_set (const char *const *names, const int64_t (*shapes)[2], int n, guint32 seed)
{
  struct ke_tensor_set *s = ke_tset_new ("test.safetensors");
  for (int i = 0; i < n; i++)
    {
      const int64_t count = shapes[i][1] ? shapes[i][0] * shapes[i][1] : 1;
      float *d = g_malloc (sizeof (float) * (size_t) count);
      test_fill_random (d, (size_t) count, seed + (guint32) i);
      g_assert_cmpint (ke_tset_own_malloc (s, d), ==, 0);
      g_assert_nonnull (ke_tset_add (s, names[i], KE_DTYPE_F32, shapes[i][1] ? 2 : 0, shapes[i], d, NULL));
    }
  return s;
}

static const struct ke_lora_entry *
entry (const struct ke_lora_file *f, const char *module)
{
  for (int i = 0; i < f->n_entries; i++)
    if (strcmp (f->entries[i].module, module) == 0)
      return &f->entries[i];
  return NULL;
}

static void
test_key_conventions (void)
{
  static const char *const names[] = {
    "diffusion_model.blocks.0.self_attn.q.lora_down.weight", "diffusion_model.blocks.0.self_attn.q.lora_up.weight",
    "diffusion_model.blocks.0.self_attn.q.alpha",
    "transformer.blocks.1.attn2.to_out.0.lora_A.weight", "transformer.blocks.1.attn2.to_out.0.lora_B.weight",
    "transformer.blocks.1.attn2.to_out.0.lora_B.bias",
    "lora_unet_blocks_2_ffn_0.lora_down.weight", "lora_unet_blocks_2_ffn_0.lora_up.weight",
    "base_model.model.condition_embedder.time_proj.lora.down.weight",
    "base_model.model.condition_embedder.time_proj.lora.up.weight",
    "model.diffusion_model.head.head.diff", "diffusion_model.blocks.0.norm3.diff_b",
    "blocks.0.modulation.diff", "lycoris_blocks_3_cross_attn_k.lora_down.weight",
    "lycoris_blocks_3_cross_attn_k.lora_up.weight", "lora_te_text_model_encoder_layers_0_mlp_fc1.hada_w1_a",
  };
  static const int64_t shapes[][2] = {
    { 4, 8 }, { 8, 4 }, { 1, 0 }, { 2, 8 }, { 8, 2 }, { 8, 1 }, { 4, 8 }, { 16, 4 }, { 4, 8 }, { 48, 4 },
    { 12, 8 }, { 8, 1 }, { 6, 8 }, { 4, 8 }, { 8, 4 }, { 2, 2 },
  };
  const int n = G_N_ELEMENTS (names);
  struct ke_lora_file *f = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_lora_from_set (&f, make_set (names, shapes, n, 1), &err), ==, KE_STATUS_OK);
  const struct ke_lora_entry *e;

  /* ComfyUI: prefix stripped, the parts of one layer together */
  g_assert_nonnull ((e = entry (f, "blocks.0.self_attn.q")));
  g_assert_true (e->down && e->up && e->alpha && !e->diff && !e->diff_b && !e->underscored);
  /* Diffusers/PEFT: module renamed to the official one, lora_B.bias as the bias delta */
  g_assert_nonnull ((e = entry (f, "blocks.1.cross_attn.o")));
  g_assert_true (e->down && e->up && e->diff_b && !e->alpha);
  g_assert_nonnull ((e = entry (f, "time_projection.1")));
  g_assert_true (e->down && e->up);
  /* kohya and LyCORIS: underscored names kept for matching */
  g_assert_nonnull ((e = entry (f, "blocks_2_ffn_0")));
  g_assert_true (e->underscored && e->down && e->up);
  g_assert_nonnull ((e = entry (f, "blocks_3_cross_attn_k")));
  g_assert_true (e->underscored);
  /* LightX2V: full and bias deltas, on Linears and vectors */
  g_assert_nonnull ((e = entry (f, "head.head")));
  g_assert_true (e->diff && !e->down);
  g_assert_nonnull ((e = entry (f, "blocks.0.norm3")));
  g_assert_true (e->diff_b && !e->diff);
  g_assert_nonnull ((e = entry (f, "blocks.0.modulation")));
  g_assert_true (e->diff);
  /* a key of no known kind: an entry with nothing to apply (reported as unmatched later) */
  g_assert_nonnull ((e = entry (f, "lora_te_text_model_encoder_layers_0_mlp_fc1.hada_w1_a")));
  g_assert_true (!e->down && !e->up && !e->diff && !e->diff_b);
  g_assert_cmpint (f->n_entries, ==, 9);
  ke_lora_free (f);
}

static void
expect_error (const char *const *names, const int64_t (*shapes)[2], int n, enum ke_status code, const char *key)
{
  struct ke_lora_file *f = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_lora_from_set (&f, make_set (names, shapes, n, 2), &err), ==, code);
  g_assert_null (f);
  g_test_message ("%s", err.msg);
  g_assert_nonnull (strstr (err.msg, "test.safetensors"));
  g_assert_nonnull (strstr (err.msg, key));
}

static void
test_malformed (void)
{
  {
    /* a down without its up */
    static const char *const names[] = { "diffusion_model.blocks.0.ffn.0.lora_down.weight" };
    static const int64_t shapes[][2] = { { 4, 8 } };
    expect_error (names, shapes, 1, KE_STATUS_FORMAT, "blocks.0.ffn.0.lora_down.weight");
  }
  {
    /* ranks that disagree */
    static const char *const names[] = { "diffusion_model.blocks.0.ffn.0.lora_down.weight",
                                         "diffusion_model.blocks.0.ffn.0.lora_up.weight" };
    static const int64_t shapes[][2] = { { 4, 8 }, { 8, 5 } };
    expect_error (names, shapes, 2, KE_STATUS_SHAPE, "rank");
  }
  {
    /* the same part twice (lora_down and lora_A of one layer) */
    static const char *const names[] = { "diffusion_model.blocks.0.ffn.0.lora_down.weight",
                                         "diffusion_model.blocks.0.ffn.0.lora_A.weight" };
    static const int64_t shapes[][2] = { { 4, 8 }, { 4, 8 } };
    expect_error (names, shapes, 2, KE_STATUS_FORMAT, "lora_A.weight");
  }
  {
    /* an alpha of several numbers */
    static const char *const names[] = { "diffusion_model.blocks.0.ffn.0.lora_down.weight",
                                         "diffusion_model.blocks.0.ffn.0.lora_up.weight",
                                         "diffusion_model.blocks.0.ffn.0.alpha" };
    static const int64_t shapes[][2] = { { 4, 8 }, { 8, 4 }, { 2, 2 } };
    expect_error (names, shapes, 3, KE_STATUS_FORMAT, "alpha");
  }
}

/* The tiny DiT with a LoRA on one layer at run time (and merged) against the DiT over weights merged
 * here: one forward, fp32 on the CPU, 1e-5 + 1e-5 relative (the order of the sums differs). */
static void
test_forward_matches_merged (void)
{
  struct ke_error err = { 0 };
  struct ke_tensor_set *w = NULL, *wm = NULL;
  g_assert_cmpint (ke_tiny_dit_weights (&w, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_tiny_dit_weights (&wm, &err), ==, KE_STATUS_OK);
  const struct ke_tensor *q = ke_tset_get (w, "blocks.1.self_attn.q.weight");
  g_assert_nonnull (q);
  g_assert_true (q->type == KE_DTYPE_F32);
  const int64_t D = q->ne[0], r = 3;
  static const char *const names[] = { "lora_unet_blocks_1_self_attn_q.lora_down.weight",
                                       "lora_unet_blocks_1_self_attn_q.lora_up.weight",
                                       "lora_unet_blocks_1_self_attn_q.alpha" };
  const int64_t shapes[][2] = { { r, D }, { D, r }, { 1, 0 } };
  struct ke_tensor_set *ls = make_set (names, shapes, 3, 7);
  float *alpha = ke_tset_get (ls, names[2])->data;
  *alpha = 1.5f;
  const float strength = 0.75f, scale = strength * 1.5f / (float) r;
  /* merged by hand in double */
  const float *A = ke_tset_get (ls, names[0])->data, *B = ke_tset_get (ls, names[1])->data;
  float *Wm = ke_tset_get (wm, "blocks.1.self_attn.q.weight")->data;
  for (int64_t o = 0; o < D; o++)
    for (int64_t i = 0; i < D; i++)
      {
        double acc = 0;
        for (int64_t k = 0; k < r; k++)
          acc += (double) B[o * r + k] * A[k * D + i];
        Wm[o * D + i] = (float) (Wm[o * D + i] + scale * acc);
      }
  struct ke_lora_file *f = NULL;
  g_assert_cmpint (ke_lora_from_set (&f, ls, &err), ==, KE_STATUS_OK);
  struct ke_lora_use use = { f, strength };

  struct ke_backend *be = ke_backend_cpu ();
  struct ke_dit *d[3] = { NULL, NULL, NULL };
  g_assert_cmpint (ke_dit_init (&d[0], wm, NULL, be, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_dit_init_lora (&d[1], w, NULL, be, &use, 1, false, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_dit_init_lora (&d[2], w, NULL, be, &use, 1, true, &err), ==, KE_STATUS_OK);
  ke_lora_free (f);   /* the models keep their own copies */
  const struct ke_dit_config *c = ke_dit_get_config (d[0]);
  const int F = 2, H = 4, W = 4;
  const size_t nx = (size_t) c->in_dim * F * H * W, no = (size_t) c->out_dim * F * H * W;
  float *x = g_malloc (nx * sizeof (float)), *text = g_malloc (sizeof (float) * 5 * (size_t) c->text_dim);
  float *out[3];
  test_fill_random (x, nx, 11);
  test_fill_random (text, 5 * (size_t) c->text_dim, 12);
  float t = 500.0f;
  for (int i = 0; i < 3; i++)
    {
      struct ke_dit_context *ctx = NULL;
      out[i] = g_malloc (no * sizeof (float));
      g_assert_cmpint (ke_dit_context_new (d[i], text, 5, &ctx, &err), ==, KE_STATUS_OK);
      g_assert_cmpint (ke_dit_forward (d[i], ctx, x, c->in_dim, NULL, 0, F, H, W, &t, 1, out[i], NULL, NULL, &err), ==,
                       KE_STATUS_OK);
      ke_dit_context_free (ctx);
    }
  g_assert_true (test_allclose ("run-time LoRA", out[1], out[0], no, 1e-5, 1e-5));
  g_assert_true (test_allclose ("merged LoRA", out[2], out[0], no, 1e-5, 1e-5));
  for (int i = 0; i < 3; i++)
    {
      ke_dit_free (d[i]);
      g_free (out[i]);
    }
  g_free (x);
  g_free (text);
  ke_tset_free (w);
  ke_tset_free (wm);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/lora/key-conventions", test_key_conventions);
  g_test_add_func ("/lora/malformed", test_malformed);
  g_test_add_func ("/lora/forward-matches-merged", test_forward_matches_merged);
  return g_test_run ();
}
