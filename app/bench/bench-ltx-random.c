/* bench-ltx-random.c: random weights at the LTX-Video 13B shapes under the official key names, shared by
 * kinora-bench ltx-transformer, ltx-vae and ltx-generate: the transformer (its block linears in any stored
 * type), the VAE decoder, the spatial upsampler (ltxv-spatial-upscaler-0.9.7/0.9.8) and T5 v1.1 XXL (Hugging
 * Face T5EncoderModel names). The values are uniform, made row by row on every thread (a row's values come
 * from its own seed, so the result does not depend on the thread count).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/threadpool.h"
#include "models/ltx/ltx-transformer.h"
#include "models/ltx/ltx-vae.h"
#include "bench.h"

/* The 13B distilled checkpoint's transformer section (ltxv-13b-0.9.8-distilled); %d: num_layers (48). */
static const char config_13b_fmt[] =
  "{\"transformer\": {\"num_layers\": %d, \"num_attention_heads\": 32, \"attention_head_dim\": 128,"
  " \"in_channels\": 128, \"out_channels\": 128, \"caption_channels\": 4096, \"cross_attention_dim\": 4096,"
  " \"activation_fn\": \"gelu-approximate\", \"adaptive_norm\": \"single_scale_shift\","
  " \"standardization_norm\": \"rms_norm\", \"qk_norm\": \"rms_norm\", \"norm_elementwise_affine\": false,"
  " \"attention_bias\": true, \"norm_eps\": 1e-06, \"positional_embedding_type\": \"rope\","
  " \"positional_embedding_theta\": 10000.0, \"positional_embedding_max_pos\": [20, 2048, 2048],"
  " \"timestep_scale_multiplier\": 1000, \"causal_temporal_positioning\": true}}";

/* ltxv-spatial-upscaler-0.9.7 / 0.9.8 (latent_upsampler.py LatentUpsampler, their config metadata) */
static const char upsampler_config[] =
  "{\"_class_name\": \"LatentUpsampler\", \"in_channels\": 128, \"mid_channels\": 512, \"num_blocks_per_stage\": 4,"
  " \"dims\": 3, \"spatial_upsample\": true, \"temporal_upsample\": false}";

void
bench_ltx_transformer_config (char *out, size_t n, int layers)
{
  snprintf (out, n, config_13b_fmt, layers);
}

static uint64_t seed_next = 0x243f6a8885a308d3ull;

struct fill
{
  void *dst;
  enum ke_dtype type;
  int64_t K;            /* values per row (the innermost dimension) */
  float mean, amp;      /* uniform in [mean - amp, mean + amp) */
  float inv_scale;      /* f8: values are stored divided by the tensor's scale */
  uint64_t seed;
};

static void
fill_rows (void *p, int64_t r0, int64_t r1, int tid)
{
  (void) tid;
  const struct fill *f = p;
  float *row = malloc ((size_t) f->K * sizeof (float));
  if (!row)
    return;   /* the caller checks nothing here: a bench run with garbage values is still a timing */
  const size_t rb = ke_dtype_row_bytes (f->type, f->K);
  for (int64_t r = r0; r < r1; r++)
    {
      uint64_t s = f->seed ^ ((uint64_t) (r + 1) * 0x9e3779b97f4a7c15ull);
      s = s ? s : 1;
      for (int64_t k = 0; k < f->K; k++)
        {
          s ^= s << 13;
          s ^= s >> 7;
          s ^= s << 17;
          row[k] = f->mean + (float) ((int32_t) (s >> 32)) * (f->amp / 2147483648.0f);
        }
      char *d = (char *) f->dst + (size_t) r * rb;
      if (f->type == KE_DTYPE_F32)
        memcpy (d, row, (size_t) f->K * sizeof (float));
      else if (f->type == KE_DTYPE_BF16)
        for (int64_t k = 0; k < f->K; k++)
          ((uint16_t *) d)[k] = ke_f32_to_bf16 (row[k]);
      else if (f->type == KE_DTYPE_F8_E4M3)
        for (int64_t k = 0; k < f->K; k++)
          ((uint8_t *) d)[k] = ke_f32_to_f8e4m3 (row[k] * f->inv_scale);
      else
        ke_quantize_row (f->type, row, d, f->K);
    }
  free (row);
}

/* Pool of tensors shared by every block (same size, amplitude and type): a forward's speed does not
 * depend on the values, and the host holds one block instead of all of them. */
struct pool
{
  int n;
  struct
  {
    int64_t n;
    float amp;
    enum ke_dtype type;
    void *d;
  } e[32];
};

/* Add `name` [shape] (outermost first) of `type`, uniform around mean with amplitude amp; 0 or -1. */
static int
add (struct ke_tensor_set *s, struct pool *pool, const char *name, enum ke_dtype type, int nd, const int64_t *shape,
     float mean, float amp)
{
  struct ke_error err = { 0 };
  int64_t n = 1;
  for (int i = 0; i < nd; i++)
    n *= shape[i];
  const int64_t K = shape[nd - 1];
  void *d = NULL;
  for (int i = 0; pool && i < pool->n && !d; i++)
    if (pool->e[i].n == n && pool->e[i].amp == amp && pool->e[i].type == type)
      d = pool->e[i].d;
  const bool fresh = !d;
  if (fresh)
    {
      if (!(d = malloc (ke_dtype_row_bytes (type, K) * (size_t) (n / K))) || ke_tset_own_malloc (s, d) < 0)
        {
          free (d);
          fprintf (stderr, "kinora-bench: out of memory for the random weight %s\n", name);
          return -1;
        }
      /* fp8 (ComfyUI fp8_scaled): one scale per tensor, the amplitude mapped to the format's 448 */
      struct fill f = { d, type, K, mean, amp, amp > 0 ? 448.0f / (fabsf (mean) + amp) : 1.0f, seed_next };
      seed_next = seed_next * 6364136223846793005ull + 1442695040888963407ull;
      ke_parallel_for (n / K, 8, fill_rows, &f);
      if (pool && pool->n < 32)
        {
          pool->e[pool->n].n = n;
          pool->e[pool->n].amp = amp;
          pool->e[pool->n].type = type;
          pool->e[pool->n++].d = d;
        }
    }
  struct ke_tensor *t = ke_tset_add (s, name, type, nd, shape, d, &err);
  if (!t)
    {
      fprintf (stderr, "kinora-bench: cannot add the random weight %s: %s\n", name, err.msg);
      return -1;
    }
  if (type == KE_DTYPE_F8_E4M3)
    t->scale = amp > 0 ? (fabsf (mean) + amp) / 448.0f : 1.0f;
  return 0;
}

struct ke_tensor_set *
bench_ltx_random_transformer (int layers, enum ke_dtype block_type, int shared_blocks)
{
  struct ke_ltx_dit_config c;
  struct ke_error err = { 0 };
  char cfg[sizeof config_13b_fmt + 16];
  bench_ltx_transformer_config (cfg, sizeof cfg, layers);
  if (ke_ltx_dit_config_parse (&c, cfg, "13B config", &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "kinora-bench: %s\n", err.msg);
      return NULL;
    }
  struct ke_tensor_set *s = ke_tset_new ("random-ltx-13b");
  struct pool pool = { 0 };
  struct pool *pl = shared_blocks ? &pool : NULL;
  const int64_t D = c.inner_dim, FF = c.ffn_dim;
  struct
  {
    const char *name;
    int64_t o, i;
  } top[] = {
    { "patchify_proj", D, c.in_channels },
    { "adaln_single.emb.timestep_embedder.linear_1", D, c.freq_dim },
    { "adaln_single.emb.timestep_embedder.linear_2", D, D },
    { "adaln_single.linear", 6 * D, D },
    { "caption_projection.linear_1", D, c.caption_channels },
    { "caption_projection.linear_2", D, D },
    { "proj_out", c.out_channels, D },
  }, blk[] = {
    { "attn1.to_q", D, D }, { "attn1.to_k", D, D }, { "attn1.to_v", D, D }, { "attn1.to_out.0", D, D },
    { "attn2.to_q", D, D }, { "attn2.to_k", D, D }, { "attn2.to_v", D, D }, { "attn2.to_out.0", D, D },
    { "ff.net.0.proj", FF, D }, { "ff.net.2", D, FF },
  };
  char name[160];
  int rc = ke_tset_set_meta (s, "config", cfg);
  for (int l = -1; l < layers && rc == 0; l++)
    {
      const size_t n_lin = l < 0 ? sizeof top / sizeof top[0] : sizeof blk / sizeof blk[0];
      for (size_t k = 0; k < n_lin; k++)
        {
          const char *base = l < 0 ? top[k].name : blk[k].name;
          const int64_t o = l < 0 ? top[k].o : blk[k].o, in = l < 0 ? top[k].i : blk[k].i;
          const int64_t ws[2] = { o, in }, bs[1] = { o };
          char pre[48] = "";
          if (l >= 0)
            snprintf (pre, sizeof pre, "transformer_blocks.%d.", l);
          snprintf (name, sizeof name, "%s%s.weight", pre, base);
          rc |= add (s, pl, name, l >= 0 ? block_type : KE_DTYPE_BF16, 2, ws, 0, 1.0f / 64.0f);
          snprintf (name, sizeof name, "%s%s.bias", pre, base);
          rc |= add (s, pl, name, KE_DTYPE_BF16, 1, bs, 0, 0.01f);
        }
      if (l >= 0)
        {
          const int64_t s6[2] = { 6, D }, s1[1] = { D };
          snprintf (name, sizeof name, "transformer_blocks.%d.scale_shift_table", l);
          rc |= add (s, pl, name, KE_DTYPE_BF16, 2, s6, 0, 0.1f);
          const char *norms[] = { "attn1.q_norm", "attn1.k_norm", "attn2.q_norm", "attn2.k_norm" };
          for (int k = 0; k < 4; k++)
            {
              snprintf (name, sizeof name, "transformer_blocks.%d.%s.weight", l, norms[k]);
              rc |= add (s, pl, name, KE_DTYPE_BF16, 1, s1, 1.0f, 0.05f);
            }
        }
    }
  const int64_t s2[2] = { 2, D };
  rc |= add (s, pl, "scale_shift_table", KE_DTYPE_BF16, 2, s2, 0, 0.1f);
  if (rc != 0)
    {
      ke_tset_free (s);
      return NULL;
    }
  return s;
}

/* --- VAE decoder --------------------------------------------------------------------------------- */

/* uniform with standard deviation std */
static int
add_std (struct ke_tensor_set *s, const char *name, int nd, const int64_t *shape, float mean, float std)
{
  return add (s, NULL, name, KE_DTYPE_BF16, nd, shape, mean, 1.7320508f * std);
}

static int
add_conv (struct ke_tensor_set *s, const char *pfx, int o, int i, int k3d)
{
  char name[224];
  const int64_t w3[5] = { o, i, 3, 3, 3 }, w2[4] = { o, i, 3, 3 }, bs[1] = { o };
  snprintf (name, sizeof name, "%s.weight", pfx);
  int rc = add_std (s, name, k3d ? 5 : 4, k3d ? w3 : w2, 0, 1.0f / sqrtf ((float) i * (k3d ? 27 : 9)));
  snprintf (name, sizeof name, "%s.bias", pfx);
  return rc | add_std (s, name, 1, bs, 0, 0.02f);
}

static int
add_temb (struct ke_tensor_set *s, const char *pfx, int dim)
{
  char name[192];
  const int64_t w1[2] = { dim, 256 }, w2[2] = { dim, dim }, b[1] = { dim };
  int rc = 0;
  snprintf (name, sizeof name, "%s.timestep_embedder.linear_1.weight", pfx);
  rc |= add_std (s, name, 2, w1, 0, 1.0f / 16.0f);
  snprintf (name, sizeof name, "%s.timestep_embedder.linear_1.bias", pfx);
  rc |= add_std (s, name, 1, b, 0, 0.02f);
  snprintf (name, sizeof name, "%s.timestep_embedder.linear_2.weight", pfx);
  rc |= add_std (s, name, 2, w2, 0, 1.0f / sqrtf ((float) dim));
  snprintf (name, sizeof name, "%s.timestep_embedder.linear_2.bias", pfx);
  return rc | add_std (s, name, 1, b, 0, 0.02f);
}

static int
add_f32 (struct ke_tensor_set *s, const char *name, int64_t n, float v)
{
  struct ke_error err = { 0 };
  float *d = malloc ((size_t) n * sizeof (float));
  if (!d || ke_tset_own_malloc (s, d) < 0)
    {
      free (d);
      return -1;
    }
  for (int64_t i = 0; i < n; i++)
    d[i] = v;
  return ke_tset_add (s, name, KE_DTYPE_F32, 1, &n, d, &err) ? 0 : -1;
}

struct ke_tensor_set *
bench_ltx_random_vae_decoder (void)
{
  struct ke_ltx_vae_config c;
  struct ke_error err = { 0 };
  if (ke_ltx_vae_config_parse (&c, ke_ltx_vae_13b_config, "13b", &err) != KE_STATUS_OK)
    return NULL;
  struct ke_tensor_set *s = ke_tset_new ("random-ltxv-13b-vae");
  char cfg[4096];
  snprintf (cfg, sizeof cfg, "{\"vae\": %s}", ke_ltx_vae_13b_config);
  int rc = ke_tset_set_meta (s, "config", cfg);
  int C = 0, levels = 0;
  ke_ltx_vae_levels (&c, &C, &levels);
  char p[128], name[192];
  rc |= add_conv (s, "decoder.conv_in.conv", C, c.latent_channels, 1);
  for (int k = 0; k < c.n_dec; k++)
    {
      const struct ke_ltx_block_desc *d = &c.dec[c.n_dec - 1 - k];
      snprintf (p, sizeof p, "decoder.up_blocks.%d", k);
      if (d->kind == KE_LTX_RES_X)
        {
          snprintf (name, sizeof name, "%s.time_embedder", p);
          rc |= add_temb (s, name, 4 * C);
          for (int j = 0; j < d->num_layers; j++)
            {
              const int64_t sst[2] = { 4, C };
              snprintf (name, sizeof name, "%s.res_blocks.%d.conv1.conv", p, j);
              rc |= add_conv (s, name, C, C, 1);
              snprintf (name, sizeof name, "%s.res_blocks.%d.conv2.conv", p, j);
              rc |= add_conv (s, name, C, C, 1);
              snprintf (name, sizeof name, "%s.res_blocks.%d.scale_shift_table", p, j);
              rc |= add_std (s, name, 2, sst, 0, 1.0f / sqrtf ((float) C));
            }
          continue;
        }
      snprintf (name, sizeof name, "%s.conv.conv", p);
      rc |= add_conv (s, name, 8 * C / d->multiplier, C, 1);
      C /= d->multiplier;
    }
  const int64_t sst[2] = { 2, C };
  rc |= add_temb (s, "decoder.last_time_embedder", 2 * C);
  rc |= add_std (s, "decoder.last_scale_shift_table", 2, sst, 0, 1.0f / sqrtf ((float) C));
  rc |= add_conv (s, "decoder.conv_out.conv", 3 * c.patch_size * c.patch_size, C, 1);
  rc |= add_f32 (s, "decoder.timestep_scale_multiplier", 1, 1000.0f);
  rc |= add_f32 (s, "per_channel_statistics.std-of-means", c.latent_channels, 1.0f);
  rc |= add_f32 (s, "per_channel_statistics.mean-of-means", c.latent_channels, 0.0f);
  if (rc != 0)
    {
      ke_tset_free (s);
      return NULL;
    }
  return s;
}

/* --- spatial upsampler ----------------------------------------------------------------------------- */

static int
add_gnorm (struct ke_tensor_set *s, const char *pfx, int C)
{
  char name[192];
  const int64_t cs[1] = { C };
  snprintf (name, sizeof name, "%s.weight", pfx);
  int rc = add_std (s, name, 1, cs, 1.0f, 0.05f);
  snprintf (name, sizeof name, "%s.bias", pfx);
  return rc | add_std (s, name, 1, cs, 0, 0.02f);
}

struct ke_tensor_set *
bench_ltx_random_upsampler (void)
{
  const int Ci = 128, C = 512, n_blocks = 4;
  struct ke_tensor_set *s = ke_tset_new ("random-ltxv-spatial-upscaler");
  int rc = ke_tset_set_meta (s, "config", upsampler_config);
  char p[64], name[96];
  rc |= add_conv (s, "initial_conv", C, Ci, 1) | add_gnorm (s, "initial_norm", C);
  rc |= add_conv (s, "upsampler.0", 4 * C, C, 0) | add_conv (s, "final_conv", Ci, C, 1);
  for (int st = 0; st < 2; st++)
    for (int i = 0; i < n_blocks; i++)
      {
        snprintf (p, sizeof p, "%s.%d", st == 0 ? "res_blocks" : "post_upsample_res_blocks", i);
        const char *parts[2] = { "1", "2" };
        for (int k = 0; k < 2; k++)
          {
            snprintf (name, sizeof name, "%s.conv%s", p, parts[k]);
            rc |= add_conv (s, name, C, C, 1);
            snprintf (name, sizeof name, "%s.norm%s", p, parts[k]);
            rc |= add_gnorm (s, name, C);
          }
      }
  if (rc != 0)
    {
      ke_tset_free (s);
      return NULL;
    }
  return s;
}

/* --- T5 v1.1 XXL ------------------------------------------------------------------------------------ */

struct ke_tensor_set *
bench_ltx_random_t5xxl (void)
{
  const int64_t V = 32128, D = 4096, F = 10240, H = 64, B = 32;
  struct ke_tensor_set *s = ke_tset_new ("random-t5-v1_1-xxl");
  char n[160];
  int rc = add_std (s, "shared.weight", 2, (int64_t[]) { V, D }, 0, 1.0f)
           | add_std (s, "encoder.final_layer_norm.weight", 1, (int64_t[]) { D }, 1.0f, 0.05f)
           | add_std (s, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", 2,
                      (int64_t[]) { B, H }, 0, 0.5f);
  for (int i = 0; i < 24 && rc == 0; i++)
    {
      const char *attn[4] = { "q", "k", "v", "o" };
      for (int j = 0; j < 4; j++)
        {
          snprintf (n, sizeof n, "encoder.block.%d.layer.0.SelfAttention.%s.weight", i, attn[j]);
          rc |= add_std (s, n, 2, (int64_t[]) { D, D }, 0, 1.0f / sqrtf ((float) D));
        }
      const char *ff[2] = { "wi_0", "wi_1" };
      for (int j = 0; j < 2; j++)
        {
          snprintf (n, sizeof n, "encoder.block.%d.layer.1.DenseReluDense.%s.weight", i, ff[j]);
          rc |= add_std (s, n, 2, (int64_t[]) { F, D }, 0, 1.0f / sqrtf ((float) D));
        }
      snprintf (n, sizeof n, "encoder.block.%d.layer.1.DenseReluDense.wo.weight", i);
      rc |= add_std (s, n, 2, (int64_t[]) { D, F }, 0, 1.0f / sqrtf ((float) F));
      snprintf (n, sizeof n, "encoder.block.%d.layer.0.layer_norm.weight", i);
      rc |= add_std (s, n, 1, (int64_t[]) { D }, 1.0f, 0.05f);
      snprintf (n, sizeof n, "encoder.block.%d.layer.1.layer_norm.weight", i);
      rc |= add_std (s, n, 1, (int64_t[]) { D }, 1.0f, 0.05f);
    }
  if (rc != 0)
    {
      ke_tset_free (s);
      return NULL;
    }
  return s;
}
