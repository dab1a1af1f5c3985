/* Tests for the LTX-Video device memory plan (engine/models/ltx/ltx-plan.c): the transformer's plan at a
 * pass's token count, the untiled decode's need and its check (ke_ltx_decode_fits, tile-aware),
 * the decode's tiles (ltx-vae-tiles.c), and the pre-flight estimate (estimate-ltx.c) judging a budget as the run plans it. Pure arithmetic on the 13B shapes: no weights, no device.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <glib.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ke.h"
#include "models/ltx/ltx-transformer.h"
#include "models/ltx/ltx-vae.h"
#include "pipeline/estimate-impl.h"
#include "pipeline/ltx-impl.h"

#define GiB ((size_t) 1 << 30)

static const char config_13b[] =
  "{\"transformer\": {\"num_layers\": 48, \"num_attention_heads\": 32, \"attention_head_dim\": 128,"
  " \"in_channels\": 128, \"out_channels\": 128, \"caption_channels\": 4096, \"cross_attention_dim\": 4096,"
  " \"activation_fn\": \"gelu-approximate\", \"adaptive_norm\": \"single_scale_shift\","
  " \"standardization_norm\": \"rms_norm\", \"qk_norm\": \"rms_norm\", \"norm_elementwise_affine\": false,"
  " \"attention_bias\": true, \"norm_eps\": 1e-06, \"positional_embedding_type\": \"rope\","
  " \"positional_embedding_theta\": 10000.0, \"positional_embedding_max_pos\": [20, 2048, 2048],"
  " \"timestep_scale_multiplier\": 1000, \"causal_temporal_positioning\": true}}";

/* second pass tokens of 1216x704x121 (50 x 28 latent pixels, 16 latent frames) and of 256x256x33 */
#define TOK_FULL ((int64_t) 16 * 28 * 50)
#define TOK_SMALL ((int64_t) 5 * 10 * 10)

static void
cfg_13b (struct ke_ltx_dit_config *c)
{
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_ltx_dit_config_parse (c, config_13b, "13B config", &err), ==, KE_STATUS_OK);
}

/* stored types: bf16 (and f32/f16, which a device keeps in bf16) 2 bytes a value, fp8 1, q8_0 34/32 */
static void
test_permille (void)
{
  g_assert_cmpuint (ke_ltx_weight_permille (KE_DTYPE_BF16), ==, 2000);
  g_assert_cmpuint (ke_ltx_weight_permille (KE_DTYPE_F32), ==, 2000);
  g_assert_cmpuint (ke_ltx_weight_permille (KE_DTYPE_F8_E4M3), ==, 1000);
  g_assert_cmpuint (ke_ltx_weight_permille (KE_DTYPE_Q8_0), ==, 1063);
  /* from a set: the widest of block 0's linears, under either key spelling */
  static uint8_t data[34 * 4];
  struct ke_error err = { 0 };
  const int64_t shape[2] = { 2, 64 };
  struct ke_tensor_set *s = ke_tset_new ("plan-test");
  g_assert_cmpuint (ke_ltx_dit_weight_permille (s), ==, 2000);   /* none found */
  g_assert_nonnull (ke_tset_add (s, "model.diffusion_model.transformer_blocks.0.attn1.to_q.weight", KE_DTYPE_Q8_0, 2,
                                 shape, data, &err));
  g_assert_cmpuint (ke_ltx_dit_weight_permille (s), ==, 1063);
  g_assert_nonnull (ke_tset_add (s, "transformer_blocks.0.ff.net.2.weight", KE_DTYPE_F8_E4M3, 2, shape, data, &err));
  g_assert_cmpuint (ke_ltx_dit_weight_permille (s), ==, 1063);
  ke_tset_free (s);
}

static void
test_plan (void)
{
  struct ke_ltx_dit_config c;
  struct ke_ltx_dit_mem_plan small, full, q8;
  cfg_13b (&c);
  /* a generous budget: everything resident */
  ke_ltx_dit_plan_memory (&c, 2000, TOK_SMALL, 64, 2, 80 * GiB, &small);
  g_assert_true (small.fits);
  g_assert_false (small.streams);
  g_assert_cmpuint (small.weight_cap, ==, SIZE_MAX);
  /* the 13B transformer in bf16: 24 to 25 GiB of weights, one block 0.4 to 0.5 GiB */
  g_assert_cmpfloat ((double) small.weights / GiB, >, 24.0);
  g_assert_cmpfloat ((double) small.weights / GiB, <, 25.0);
  g_assert_cmpfloat ((double) small.block / GiB, >, 0.4);
  g_assert_cmpfloat ((double) small.block / GiB, <, 0.5);
  /* the activations grow with the tokens (the second pass of the full size has 45 times more) */
  ke_ltx_dit_plan_memory (&c, 2000, TOK_FULL, 64, 2, 80 * GiB, &full);
  g_assert_cmpuint (full.weights, ==, small.weights);
  g_assert_cmpuint (full.activations, >, small.activations + 3 * GiB);
  /* more text tokens: a larger context */
  ke_ltx_dit_plan_memory (&c, 2000, TOK_FULL, 256, 2, 80 * GiB, &q8);
  g_assert_cmpuint (q8.activations, >, full.activations);
  /* q8_0 weights: 34/32 bytes a value */
  ke_ltx_dit_plan_memory (&c, 1063, TOK_FULL, 64, 2, 80 * GiB, &q8);
  g_assert_cmpfloat (fabs ((double) q8.weights / (double) full.weights - 1063.0 / 2000.0), <, 1e-6);
  g_assert_cmpuint (q8.activations, ==, full.activations);

  /* 16 GiB: the bf16 weights do not fit beside the activations; the blocks stream and the resident cap
   * leaves the activations and the two streamed blocks their room exactly */
  ke_ltx_dit_plan_memory (&c, 2000, TOK_FULL, 64, 2, 16 * GiB, &full);
  g_assert_true (full.streams);
  g_assert_true (full.fits);
  g_assert_cmpuint (full.weight_cap + full.activations + 2 * full.block, ==, 16 * GiB);
  /* ... while q8_0 (13 GiB) still streams at 16 GiB and fits whole at 24 */
  ke_ltx_dit_plan_memory (&c, 1063, TOK_FULL, 64, 2, 16 * GiB, &q8);
  g_assert_true (q8.streams);
  ke_ltx_dit_plan_memory (&c, 1063, TOK_FULL, 64, 2, 24 * GiB, &q8);
  g_assert_false (q8.streams);
  g_assert_true (q8.fits);
  /* 2 GiB: not even two streamed blocks beside the activations */
  ke_ltx_dit_plan_memory (&c, 2000, TOK_FULL, 64, 2, 2 * GiB, &full);
  g_assert_true (full.streams);
  g_assert_false (full.fits);
  g_assert_cmpuint (full.weight_cap, ==, 0);
}

/* The untiled decode: grows with frames and size; the 13B decoder at 1216x704x121 needs about 17 GiB */
static void
test_decode (void)
{
  struct ke_ltx_vae_config vc;
  struct ke_error err = { 0 };
  int top = 0, levels = 0;
  g_assert_cmpint (ke_ltx_vae_config_parse (&vc, ke_ltx_vae_13b_config, "13b", &err), ==, KE_STATUS_OK);
  ke_ltx_vae_levels (&vc, &top, &levels);
  g_assert_cmpint (levels, ==, 3);
  g_assert_cmpint (top, ==, 1024);
  const double full = ke_ltx_decode_bytes (top, levels, 16, 28, 50, 121, 32);
  const double fewer = ke_ltx_decode_bytes (top, levels, 5, 28, 50, 33, 32);
  const double smaller = ke_ltx_decode_bytes (top, levels, 16, 10, 10, 121, 32);
  g_test_message ("decode of 1216x704x121: %.1f GiB", full / GiB);
  g_assert_cmpfloat (full / GiB, >, 15.0);
  g_assert_cmpfloat (full / GiB, <, 20.0);
  g_assert_cmpfloat (fewer, <, full / 3);
  g_assert_cmpfloat (smaller, <, full / 10);

  /* the run's check (ke_ltx_decode_fits): no budget always fits; 24 GiB with 2 GiB held fits; 12 GiB is
   * tiled, and a budget short of the smallest tile refused with a message naming the need and the budget */
  struct ke_ltx_vae v;
  double need = 0;
  memset (&v, 0, sizeof v);
  v.cfg = vc;
  v.s_scale = 32;
  g_assert_cmpint (ke_ltx_decode_fits (&v, 16, 28, 50, 121, 0, 2 * GiB, &need, &err), ==, KE_STATUS_OK);
  g_assert_cmpfloat (fabs (need - full), <, 1.0);
  g_assert_cmpint (ke_ltx_decode_fits (&v, 16, 28, 50, 121, 24 * GiB, 2 * GiB, &need, &err), ==, KE_STATUS_OK);
  /* 12 GiB with 2 in use: short of the decode in one piece, so it runs in tiles (fits); 2.1 GiB with 2 in
   * use leaves too little for even the smallest tile: refused, naming the budget */
  g_assert_cmpint (ke_ltx_decode_fits (&v, 16, 28, 50, 121, 12 * GiB, 2 * GiB, &need, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (ke_ltx_decode_fits (&v, 16, 28, 50, 121, 2 * GiB + GiB / 10, 2 * GiB, &need, &err), ==,
                   KE_STATUS_NOMEM);
  g_test_message ("%s", err.msg);
  g_assert_nonnull (strstr (err.msg, "even in tiles"));
  g_assert_nonnull (strstr (err.msg, "device budget 2.10 GiB with 2.00 GiB in use"));
}

/* The decode's tiles (ke_ltx_vae_tile_plan) for the 13B decoder at 1216x704x121 (28 x 50 latent pixels,
 * 16 latent frames): in one piece when it fits; under smaller budgets smaller tiles, never more need than
 * the budget's share for tiles, and (as the budget shrinks) never fewer tiles nor larger ones; refused below 4 x 4. */
static void
test_tiles (void)
{
  struct ke_ltx_vae_config vc;
  struct ke_error err = { 0 };
  int top = 0, levels = 0;
  g_assert_cmpint (ke_ltx_vae_config_parse (&vc, ke_ltx_vae_13b_config, "13b", &err), ==, KE_STATUS_OK);
  ke_ltx_vae_levels (&vc, &top, &levels);
  const double whole = ke_ltx_decode_bytes (top, levels, 16, 28, 50, 121, 32);
  struct ke_ltx_tile_plan t;
  g_assert_cmpint (ke_ltx_vae_tile_plan (&t, top, levels, 16, 28, 50, 121, 32, 80.0 * GiB, &err), ==, KE_STATUS_OK);
  g_assert_false (t.tiled);
  g_assert_cmpint (t.n_tiles, ==, 1);
  g_assert_cmpint (t.tile_h, ==, 28);
  g_assert_cmpint (t.tile_w, ==, 50);
  g_assert_cmpfloat (t.need, ==, whole);
  g_assert_cmpint (ke_ltx_vae_tile_plan (&t, top, levels, 16, 28, 50, 121, 32, whole, &err), ==, KE_STATUS_OK);
  g_assert_false (t.tiled);
  int last_n = 1, last_area = 28 * 50;
  for (double gib = 17.0; gib >= 0.25; gib -= 0.25)
    {
      const double avail = gib * GiB;
      g_assert_cmpint (ke_ltx_vae_tile_plan (&t, top, levels, 16, 28, 50, 121, 32, avail, &err), ==, KE_STATUS_OK);
      if (fmod (gib, 2.0) == 0.0 || gib < 1.0)
        g_test_message ("%.2f GiB left: %d tiles of %dx%d latent pixels, overlap %d, %.2f GiB each", gib, t.n_tiles,
                        t.tile_w, t.tile_h, t.overlap, t.need / GiB);
      g_assert_true (t.tiled);
      g_assert_cmpfloat (t.need, <=, KE_LTX_TILE_SHARE * avail);
      g_assert_cmpfloat (t.need, ==, ke_ltx_decode_bytes (top, levels, 16, t.tile_h, t.tile_w, 121, 32));
      g_assert_cmpint (t.tile_h, >=, KE_LTX_TILE_MIN);
      g_assert_cmpint (t.tile_w, >=, KE_LTX_TILE_MIN);
      g_assert_true (t.tile_h <= 28 && t.tile_w <= 50 && (t.tile_h < 28 || t.tile_w < 50));
      g_assert_cmpint (t.overlap, >=, 2);
      g_assert_cmpint (t.overlap, <=, 4);
      g_assert_true ((t.tile_h == 28 || t.overlap < t.tile_h) && (t.tile_w == 50 || t.overlap < t.tile_w));
      g_assert_cmpint (t.n_tiles, ==,
                       ke_ltx_tile_starts (NULL, 28, t.tile_h, t.overlap) * ke_ltx_tile_starts (NULL, 50, t.tile_w,
                                                                                                t.overlap));
      g_assert_cmpint (t.n_tiles, >=, last_n);
      g_assert_cmpint (t.tile_h * t.tile_w, <=, last_area);
      last_n = t.n_tiles;
      last_area = t.tile_h * t.tile_w;
    }
  g_assert_cmpint (last_n, >, 4);
  /* below a 4 x 4 tile's need: refused, naming the need and what is left */
  const double min_need = ke_ltx_decode_bytes (top, levels, 16, 4, 4, 121, 32);
  g_assert_cmpint (ke_ltx_vae_tile_plan (&t, top, levels, 16, 28, 50, 121, 32, 0.99 * min_need / KE_LTX_TILE_SHARE,
                                         &err), ==, KE_STATUS_NOMEM);
  g_test_message ("refused: %s", err.msg);
  g_assert_nonnull (strstr (err.msg, "tiles of 4 x 4 latent pixels"));
  g_assert_nonnull (strstr (err.msg, "GiB are left"));
  g_assert_cmpint (ke_ltx_vae_tile_plan (&t, top, levels, 16, 28, 50, 121, 32, min_need / KE_LTX_TILE_SHARE, &err), ==,
                   KE_STATUS_OK);
  g_assert_cmpint (t.tile_h * t.tile_w, ==, 16);
  /* a side shorter than the minimal tile stays whole */
  const double thin = ke_ltx_decode_bytes (top, levels, 16, 2, 50, 121, 32);
  g_assert_cmpint (ke_ltx_vae_tile_plan (&t, top, levels, 16, 2, 50, 121, 32, thin / 3, &err), ==, KE_STATUS_OK);
  g_assert_true (t.tiled);
  g_assert_cmpint (t.tile_h, ==, 2);
  g_assert_cmpint (t.tile_w, <, 50);
}

/* The estimate's verdict on CUDA agrees with the plan the run makes for the same budget */
static void
test_estimate (void)
{
  struct ke_model_caps c;
  memset (&c, 0, sizeof c);
  c.family = KE_MODEL_FAMILY_LTXV;
  c.frame_step = c.vae_time_scale = 8;
  c.size_multiple = c.vae_scale = 32;
  c.max_frames = 257;
  c.max_side = 2048;
  c.latent_channels = 128;
  c.guidance_fixed = true;
  c.est.num_layers = 48;
  c.est.inner_dim = 4096;
  c.est.ffn_dim = 16384;
  c.est.text_dim = 4096;
  c.est.text_tokens = 256;
  c.est.transformer_params = 13.1e9;
  c.est.vae_params = 0.4e9;
  c.est.upsampler_params = 0.03e9;
  c.est.vae_top_channels = 1024;
  c.est.vae_levels = 3;
  c.est.upsampler_mid_channels = 512;
  c.est.first_pass_scale = 0.6666666;
  c.est.first_steps = 7;
  c.est.second_steps = 3;
  c.est.text_params = 4.7e9;
  c.est.text_bytes = 9.5e9;
  struct ke_gen_params p = ke_gen_params_default (KE_TASK_LTXV);
  p.width = 1216;
  p.height = 704;
  p.n_frames = 121;
  p.backend = "cuda";
  struct ke_mem_budget budget = { 0, 256 };
  struct ke_estimate e;
  struct ke_error err = { 0 };
  struct ke_ltx_dit_config dc;
  cfg_13b (&dc);
  double host_base, dev_base;
  ke_estimate_bases (true, &host_base, &dev_base);
  const double fixed = dev_base + 4.0 * (c.est.vae_params + c.est.upsampler_params);
  static const struct
  {
    double bytes_per_param;
    size_t permille;
    double gib;
    enum ke_verdict verdict;
  } cases[] = {
    { 2.0, 2000, 40, KE_VERDICT_FITS },        /* bf16 resident */
    { 2.0, 2000, 24, KE_VERDICT_STREAMS },     /* bf16 streams */
    { 1.0, 1000, 24, KE_VERDICT_FITS },        /* fp8 resident; the transformer leaves before the decode */
    { 34.0 / 32, 1063, 24, KE_VERDICT_FITS },  /* q8_0 resident */
    { 34.0 / 32, 1063, 12, KE_VERDICT_STREAMS },   /* the decode (17 GiB in one piece) in tiles */
    { 2.0, 2000, 3, KE_VERDICT_CANNOT_RUN },   /* not even the activations */
  };
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      c.est.transformer_bytes = cases[i].bytes_per_param * c.est.transformer_params;
      budget.device_gib = cases[i].gib;
      g_assert_cmpint (ke_gen_estimate_caps (&c, &p, &budget, &e, &err), ==, KE_STATUS_OK);
      g_test_message ("%.3f bytes a weight, %g GiB: %s", cases[i].bytes_per_param, cases[i].gib, e.summary);
      g_assert_cmpint (e.verdict, ==, cases[i].verdict);
      /* the run's plan for the transformer with what the VAE and the upsampler leave */
      struct ke_ltx_dit_mem_plan plan;
      const double left = cases[i].gib * GiB - fixed;
      ke_ltx_dit_plan_memory (&dc, cases[i].permille, TOK_FULL, 256, 2, left > 0 ? (size_t) left : 0, &plan);
      if (cases[i].verdict == KE_VERDICT_STREAMS)
        g_assert_true (plan.streams && plan.fits);
      else if (cases[i].verdict == KE_VERDICT_FITS)
        g_assert_true (!plan.streams && plan.fits);
      else if (cases[i].gib < 4)
        g_assert_false (plan.fits);
    }
  /* at 12 GiB the decode runs in tiles: it takes longer than in one piece (the overlaps twice) */
  c.est.transformer_bytes = 34.0 / 32 * c.est.transformer_params;
  budget.device_gib = 24;
  g_assert_cmpint (ke_gen_estimate_caps (&c, &p, &budget, &e, &err), ==, KE_STATUS_OK);
  const double whole_s = e.decode_s;
  budget.device_gib = 12;
  g_assert_cmpint (ke_gen_estimate_caps (&c, &p, &budget, &e, &err), ==, KE_STATUS_OK);
  g_assert_cmpfloat (e.decode_s, >, whole_s);
  g_assert_cmpfloat (e.device_gib, <=, 12.0);
  /* a smaller clip fits 12 GiB with q8_0 weights, resident or streaming */
  p.width = p.height = 512;
  p.n_frames = 33;
  g_assert_cmpint (ke_gen_estimate_caps (&c, &p, &budget, &e, &err), ==, KE_STATUS_OK);
  g_test_message ("q8_0 at 512x512x33 in 12 GiB: %s", e.summary);
  g_assert_cmpint (e.verdict, ==, KE_VERDICT_STREAMS);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ltx-plan/permille", test_permille);
  g_test_add_func ("/ltx-plan/transformer", test_plan);
  g_test_add_func ("/ltx-plan/decode", test_decode);
  g_test_add_func ("/ltx-plan/tiles", test_tiles);
  g_test_add_func ("/ltx-plan/estimate", test_estimate);
  return g_test_run ();
}
