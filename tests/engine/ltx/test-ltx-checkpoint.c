/* LTX-Video checkpoints (engine/models/ltx/ltx-checkpoint.c, ltx-config.c) and the model-family seam
 * (engine/models/model-family.c): small synthetic checkpoints written at test time with the official key
 * names of ltx_video @ 5260738 (Transformer3DModel, CausalVideoAutoencoder, LatentUpsampler) at tiny size,
 * in every layout (single file, upsampler file, fp8 scaled file, GGUF, Diffusers folder), then hostile
 * files whose errors must name the file and the tensor (or metadata key). No numerics: exact name,
 * shape, dtype and scale checks. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <glib/gstdio.h>

#include "loaders/loaders.h"
#include "models/ltx/ltx-checkpoint.h"
#include "models/model-family.h"
#include "test-util.h"

/* tiny sizes: 2 layers, 2 heads x 4 = inner 8, 4 latent channels, caption 6 */
enum { LAYERS = 2, LAT = 4, CAP = 6, MID = 32 };
/* the transformer width: 8 (2 heads x 4) for the files with a config; 32 for GGUF, whose config is rebuilt
 * from the shapes with the 32 heads of both released sizes */
static int INNER = 8;

static const char k_tcfg[] =
  "{\"_class_name\":\"Transformer3DModel\",\"num_layers\":2,\"num_attention_heads\":2,\"attention_head_dim\":4,"
  "\"in_channels\":4,\"out_channels\":4,\"caption_channels\":6,\"cross_attention_dim\":8}";
static const char k_vcfg[] = "{\"_class_name\":\"CausalVideoAutoencoder\",\"dims\":3,\"latent_channels\":4}";
static const char k_ucfg[] =
  "{\"_class_name\":\"LatentUpsampler\",\"in_channels\":4,\"mid_channels\":32,\"num_blocks_per_stage\":1,"
  "\"dims\":3,\"spatial_upsample\":true,\"temporal_upsample\":false}";

/* ---- a builder of tensor lists ------------------------------------------------------------------ */

typedef struct
{
  int n;
  struct ke_tensor t[160];
  char *names[160];
  void *data[160];
} Builder;

static void
b_add (Builder *b, const char *name, enum ke_dtype type, int nd, ...)
{
  g_assert_cmpint (b->n, <, 160);
  int64_t shape[KE_MAX_DIMS];
  va_list ap;
  va_start (ap, nd);
  for (int i = 0; i < nd; i++)
    shape[i] = va_arg (ap, int);
  va_end (ap);
  int i = b->n++;
  b->names[i] = g_strdup (name);
  ke_tensor_init (&b->t[i], type, nd, shape, NULL);
  b->data[i] = g_malloc0 (ke_tensor_nbytes (&b->t[i]) + 1);
  b->t[i].data = b->data[i];
  b->t[i].name = b->names[i];
}

static void
b_remove (Builder *b, const char *name)
{
  for (int i = 0; i < b->n; i++)
    if (strcmp (b->names[i], name) == 0)
      {
        g_free (b->names[i]);
        g_free (b->data[i]);
        memmove (&b->t[i], &b->t[i + 1], (size_t) (b->n - i - 1) * sizeof (b->t[0]));
        memmove (&b->names[i], &b->names[i + 1], (size_t) (b->n - i - 1) * sizeof (char *));
        memmove (&b->data[i], &b->data[i + 1], (size_t) (b->n - i - 1) * sizeof (void *));
        b->n--;
        return;
      }
  g_error ("no tensor %s to remove", name);
}

static void
b_free (Builder *b)
{
  for (int i = 0; i < b->n; i++)
    {
      g_free (b->names[i]);
      g_free (b->data[i]);
    }
  b->n = 0;
}

/* write b to path with metadata pairs (NULL-terminated) */
static void
b_write (Builder *b, const char *path, ...)
{
  const char *kv[16];
  int n = 0;
  va_list ap;
  va_start (ap, path);
  const char *k;
  while ((k = va_arg (ap, const char *)) && n < 14)
    {
      kv[n++] = k;
      kv[n++] = va_arg (ap, const char *);
    }
  va_end (ap);
  const struct ke_tensor *tp[160];
  for (int i = 0; i < b->n; i++)
    tp[i] = &b->t[i];
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_safetensors_write (path, tp, b->n, kv, n / 2, &err), ==, KE_STATUS_OK);
}

/* The official transformer's tensors (Transformer3DModel); diffusers: the Diffusers names. */
static void
add_transformer (Builder *b, const char *pfx, int layers, enum ke_dtype lin, gboolean diffusers)
{
  char n[200];
  const char *pp = diffusers ? "proj_in" : "patchify_proj", *ad = diffusers ? "time_embed" : "adaln_single";
#define NAME(...) (snprintf (n, sizeof n, __VA_ARGS__), n)
  b_add (b, NAME ("%s%s.weight", pfx, pp), KE_DTYPE_BF16, 2, INNER, 4);
  b_add (b, NAME ("%s%s.bias", pfx, pp), KE_DTYPE_BF16, 1, INNER);
  b_add (b, NAME ("%s%s.emb.timestep_embedder.linear_1.weight", pfx, ad), KE_DTYPE_BF16, 2, INNER, 256);
  b_add (b, NAME ("%s%s.emb.timestep_embedder.linear_2.weight", pfx, ad), KE_DTYPE_BF16, 2, INNER, INNER);
  b_add (b, NAME ("%s%s.linear.weight", pfx, ad), KE_DTYPE_BF16, 2, 6 * INNER, INNER);
  b_add (b, NAME ("%scaption_projection.linear_1.weight", pfx), KE_DTYPE_BF16, 2, INNER, CAP);
  b_add (b, NAME ("%scaption_projection.linear_2.weight", pfx), KE_DTYPE_BF16, 2, INNER, INNER);
  b_add (b, NAME ("%sscale_shift_table", pfx), KE_DTYPE_F32, 2, 2, INNER);
  b_add (b, NAME ("%sproj_out.weight", pfx), KE_DTYPE_BF16, 2, 4, INNER);
  b_add (b, NAME ("%sproj_out.bias", pfx), KE_DTYPE_BF16, 1, 4);
  static const char *const lins[] = { "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
                                      "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0" };
  for (int l = 0; l < layers; l++)
    {
      for (size_t k = 0; k < G_N_ELEMENTS (lins); k++)
        {
          b_add (b, NAME ("%stransformer_blocks.%d.%s.weight", pfx, l, lins[k]), lin, 2, INNER, INNER);
          b_add (b, NAME ("%stransformer_blocks.%d.%s.bias", pfx, l, lins[k]), KE_DTYPE_BF16, 1, INNER);
        }
      for (int a = 1; a <= 2; a++)
        {
          b_add (b, NAME ("%stransformer_blocks.%d.attn%d.%s.weight", pfx, l, a, diffusers ? "norm_q" : "q_norm"),
                 KE_DTYPE_BF16, 1, INNER);
          b_add (b, NAME ("%stransformer_blocks.%d.attn%d.%s.weight", pfx, l, a, diffusers ? "norm_k" : "k_norm"),
                 KE_DTYPE_BF16, 1, INNER);
        }
      b_add (b, NAME ("%stransformer_blocks.%d.ff.net.0.proj.weight", pfx, l), lin, 2, 4 * INNER, INNER);
      b_add (b, NAME ("%stransformer_blocks.%d.ff.net.2.weight", pfx, l), lin, 2, INNER, 4 * INNER);
      b_add (b, NAME ("%stransformer_blocks.%d.scale_shift_table", pfx, l), KE_DTYPE_F32, 2, 6, INNER);
    }
}

/* Official VAE names and their Diffusers counterparts (Diffusers' VAE_KEYS_RENAME_DICT updated with
 * VAE_095_RENAME_DICT, the 0.9.5+ layout of the 13B VAE, applied to the official names). */
static const char *const g_vae_names[][2] = {
  { "per_channel_statistics.mean-of-means", "latents_mean" },
  { "per_channel_statistics.std-of-means", "latents_std" },
  { "encoder.conv_in.conv.weight", "encoder.conv_in.conv.weight" },
  { "encoder.down_blocks.0.res_blocks.0.conv1.conv.weight", "encoder.down_blocks.0.resnets.0.conv1.conv.weight" },
  { "encoder.down_blocks.1.conv.conv.weight", "encoder.down_blocks.0.downsamplers.0.conv.conv.weight" },
  { "encoder.down_blocks.6.res_blocks.1.conv2.conv.weight", "encoder.down_blocks.3.resnets.1.conv2.conv.weight" },
  { "encoder.down_blocks.7.conv.conv.bias", "encoder.down_blocks.3.downsamplers.0.conv.conv.bias" },
  { "encoder.down_blocks.8.res_blocks.0.conv1.conv.weight", "encoder.mid_block.resnets.0.conv1.conv.weight" },
  { "decoder.conv_in.conv.weight", "decoder.conv_in.conv.weight" },
  { "decoder.up_blocks.0.res_blocks.0.conv1.conv.weight", "decoder.mid_block.resnets.0.conv1.conv.weight" },
  { "decoder.up_blocks.0.time_embedder.timestep_embedder.linear_1.weight",
    "decoder.mid_block.time_embedder.timestep_embedder.linear_1.weight" },
  { "decoder.up_blocks.1.conv.conv.weight", "decoder.up_blocks.0.upsamplers.0.conv.conv.weight" },
  { "decoder.up_blocks.2.res_blocks.0.scale_shift_table", "decoder.up_blocks.0.resnets.0.scale_shift_table" },
  { "decoder.up_blocks.6.res_blocks.4.conv2.conv.bias", "decoder.up_blocks.2.resnets.4.conv2.conv.bias" },
  { "decoder.up_blocks.5.conv.conv.weight", "decoder.up_blocks.2.upsamplers.0.conv.conv.weight" },
  { "decoder.last_time_embedder.timestep_embedder.linear_1.weight",
    "decoder.time_embedder.timestep_embedder.linear_1.weight" },
  { "decoder.last_scale_shift_table", "decoder.scale_shift_table" },
  { "decoder.timestep_scale_multiplier", "decoder.timestep_scale_multiplier" },
  { "decoder.conv_out.conv.weight", "decoder.conv_out.conv.weight" },
};

static void
add_vae (Builder *b, const char *pfx, gboolean diffusers)
{
  char n[200];
  for (size_t i = 0; i < G_N_ELEMENTS (g_vae_names); i++)
    {
      const char *name = g_vae_names[i][diffusers ? 1 : 0];
      snprintf (n, sizeof n, "%s%s", pfx, name);
      if (strstr (name, "conv_in.conv.weight") && strstr (name, "decoder"))
        b_add (b, n, KE_DTYPE_BF16, 5, 8, LAT, 3, 3, 3);
      else if (strstr (name, "latents_") || strstr (name, "per_channel"))
        b_add (b, n, KE_DTYPE_F32, 1, LAT);
      else
        b_add (b, n, KE_DTYPE_BF16, 1, 8);
    }
}

static void
add_upsampler (Builder *b)
{
  b_add (b, "initial_conv.weight", KE_DTYPE_F32, 5, MID, LAT, 3, 3, 3);
  b_add (b, "initial_conv.bias", KE_DTYPE_F32, 1, MID);
  b_add (b, "initial_norm.weight", KE_DTYPE_F32, 1, MID);
  b_add (b, "res_blocks.0.conv1.weight", KE_DTYPE_F32, 5, MID, MID, 3, 3, 3);
  b_add (b, "res_blocks.0.conv2.weight", KE_DTYPE_F32, 5, MID, MID, 3, 3, 3);
  b_add (b, "upsampler.0.weight", KE_DTYPE_F32, 4, 4 * MID, MID, 3, 3);
  b_add (b, "post_upsample_res_blocks.0.conv1.weight", KE_DTYPE_F32, 5, MID, MID, 3, 3, 3);
  b_add (b, "final_conv.weight", KE_DTYPE_F32, 5, LAT, MID, 3, 3, 3);
}

static char *
model_config (const char *t, const char *v)
{
  return g_strdup_printf ("{%s%s%s%s%s%s,\"scheduler\":{\"_class_name\":\"RectifiedFlowScheduler\"},"
                          "\"allowed_inference_steps\":[1000,993,987]}",
                          t ? "\"transformer\":" : "", t ? t : "", t && v ? "," : "", v ? "\"vae\":" : "", v ? v : "",
                          "");
}

/* the official single file: transformer + VAE, config in the metadata */
static char *
write_single (const char *file, enum ke_dtype lin)
{
  char *path = test_tmp_path (file);
  Builder b = { 0 };
  add_transformer (&b, "model.diffusion_model.", LAYERS, lin, FALSE);
  add_vae (&b, "vae.", FALSE);
  g_autofree char *cfg = model_config (k_tcfg, k_vcfg);
  b_write (&b, path, "config", cfg, NULL);
  b_free (&b);
  return path;
}

static char *
write_upsampler (void)
{
  char *path = test_tmp_path ("ltxv-spatial-upscaler-0.9.7.safetensors");
  Builder b = { 0 };
  add_upsampler (&b);
  b_write (&b, path, "config", k_ucfg, NULL);
  b_free (&b);
  return path;
}

/* open must fail with `code`, the message naming the file `named` and each of the needles */
static void
expect_fail_in (const char *named, const char *path, const char *ups, unsigned flags, enum ke_status code,
                const char *n1, const char *n2)
{
  struct ke_error err = { 0 };
  struct ke_ltx_checkpoint *c = NULL;
  enum ke_status st = ke_ltx_checkpoint_open (&c, path, ups, flags, &err);
  g_test_message ("%s", err.msg);
  g_assert_cmpint (st, ==, code);
  g_assert_null (c);
  g_assert_nonnull (strstr (err.msg, named));
  if (n1)
    g_assert_nonnull (strstr (err.msg, n1));
  if (n2)
    g_assert_nonnull (strstr (err.msg, n2));
}

static void
expect_fail (const char *path, const char *ups, unsigned flags, enum ke_status code, const char *n1, const char *n2)
{
  expect_fail_in (path, path, ups, flags, code, n1, n2);
}

/* ---- layouts ------------------------------------------------------------------------------------- */

static void
test_single_file (void)
{
  g_autofree char *path = write_single ("ltxv-13b-0.9.7-distilled.safetensors", KE_DTYPE_BF16);
  g_autofree char *ups = write_upsampler ();
  struct ke_error err = { 0 };
  struct ke_ltx_checkpoint *c = NULL;
  g_assert_cmpint (ke_ltx_checkpoint_open (&c, path, ups, KE_LTX_OPEN_MODEL, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (c->layout, ==, KE_LTX_LAYOUT_SINGLE_FILE);
  const struct ke_tensor_set *t = c->part[KE_LTX_PART_TRANSFORMER], *v = c->part[KE_LTX_PART_VAE];
  /* 10 top-level + per layer 16 linears, 4 norms, 2 ff, 1 table */
  g_assert_cmpint (ke_tset_count (t), ==, 10 + LAYERS * 23);
  g_assert_cmpint (ke_tset_count (v), ==, (int) G_N_ELEMENTS (g_vae_names));
  const int64_t pp[2] = { INNER, 4 };
  g_assert_nonnull (ke_tset_require (t, "patchify_proj.weight", 2, pp, &err));
  g_assert_nonnull (ke_tset_get (t, "transformer_blocks.1.attn2.to_k.weight"));
  g_assert_null (ke_tset_get (t, "model.diffusion_model.patchify_proj.weight"));
  g_assert_nonnull (ke_tset_get (v, "per_channel_statistics.std-of-means"));
  g_assert_nonnull (ke_tset_get (v, "decoder.last_scale_shift_table"));
  g_assert_null (ke_tset_get (t, "decoder.conv_in.conv.weight"));   /* nothing crosses over */
  /* zero-copy: the views point into the mapped file */
  g_assert_true (ke_tset_get (t, "patchify_proj.weight")->data != NULL);
  g_assert_cmpstr (c->config[KE_LTX_PART_TRANSFORMER], ==, k_tcfg);
  g_assert_cmpstr (c->config[KE_LTX_PART_VAE], ==, k_vcfg);
  g_assert_cmpstr (c->config[KE_LTX_PART_UPSAMPLER], ==, k_ucfg);
  g_assert_cmpstr (c->scheduler_config, ==, "{\"_class_name\":\"RectifiedFlowScheduler\"}");
  g_assert_cmpstr (c->allowed_inference_steps, ==, "[1000,993,987]");
  g_assert_cmpstr (c->release, ==, "0.9.7");
  g_assert_true (c->distilled);
  g_assert_false (c->fp8);
  g_assert_cmpint (ke_tset_count (c->part[KE_LTX_PART_UPSAMPLER]), ==, 8);
  g_assert_cmpstr (c->path[KE_LTX_PART_UPSAMPLER], ==, ups);
  ke_ltx_checkpoint_free (c);

  /* the family seam: probe and model open */
  g_assert_cmpint (ke_model_family_detect (path), ==, KE_MODEL_FAMILY_LTXV);
  struct ke_model_info info;
  g_autofree char *both = g_strdup_printf ("%s,%s", path, ups);
  g_assert_cmpint (ke_model_probe (both, &info, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (info.family, ==, KE_MODEL_FAMILY_LTXV);
  g_assert_cmpstr (ke_model_family_name (info.family), ==, "LTX-Video");
  g_assert_cmpstr (info.version, ==, "LTX-Video 0.9.7 distilled");
  g_assert_cmpstr (info.layout, ==, "single file");
  g_assert_cmpint (info.n_parts, ==, 3);
  g_assert_cmpstr (info.parts[0].role, ==, "transformer");
  g_assert_cmpint (info.parts[0].n_tensors, ==, 10 + LAYERS * 23);
  /* parameters: 10 top-level tensors + per layer 8 (64 + 8) + 4 * 8 + 2 * 256 + 48 */
  const int64_t top = 32 + 8 + 2048 + 64 + 384 + 48 + 64 + 16 + 32 + 4;
  g_assert_cmpint (info.parts[0].n_params, ==, top + LAYERS * (8 * 72 + 32 + 512 + 48));
  g_assert_cmpstr (info.parts[0].dtypes, ==, "BF16 53, F32 3");
  g_assert_cmpstr (info.parts[1].role, ==, "vae");
  g_assert_cmpstr (info.parts[2].role, ==, "upsampler");
  g_assert_cmpstr (info.parts[2].dtypes, ==, "F32 8");

  ke_model_t *m = NULL;
  memset (&err, 0, sizeof err);
  /* the model opens as far as its files: the upsampler is found beside the checkpoint (or given after
   * it), then the T5 text encoder is missing (none beside it) */
  g_assert_cmpint (ke_model_open (&m, path, &err), ==, KE_STATUS_MISSING);
  g_assert_null (m);
  g_assert_nonnull (strstr (err.msg, "T5 v1.1 XXL text encoder"));
  g_assert_nonnull (strstr (err.msg, path));
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_model_open (&m, both, &err), ==, KE_STATUS_MISSING);
  g_assert_null (m);
  g_assert_nonnull (strstr (err.msg, "T5 v1.1 XXL text encoder"));
  g_assert_nonnull (strstr (err.msg, path));
}

static void
test_fp8_file (void)
{
  g_autofree char *path = test_tmp_path ("ltxv-13b-0.9.7-dev-fp8.safetensors");
  Builder b = { 0 };
  add_transformer (&b, "model.diffusion_model.", LAYERS, KE_DTYPE_F8_E4M3, FALSE);
  b_add (&b, "model.diffusion_model.transformer_blocks.0.attn1.to_q.scale_weight", KE_DTYPE_F32, 0);
  *(float *) b.data[b.n - 1] = 0.5f;
  b_add (&b, "model.diffusion_model.transformer_blocks.0.attn1.to_q.scale_input", KE_DTYPE_F32, 0);
  add_vae (&b, "vae.", FALSE);
  g_autofree char *cfg = model_config (k_tcfg, k_vcfg);
  b_write (&b, path, "config", cfg, NULL);
  struct ke_error err = { 0 };
  struct ke_ltx_checkpoint *c = NULL;
  g_assert_cmpint (ke_ltx_checkpoint_open (&c, path, NULL, KE_LTX_OPEN_MODEL, &err), ==, KE_STATUS_OK);
  const struct ke_tensor_set *t = c->part[KE_LTX_PART_TRANSFORMER];
  const struct ke_tensor *q = ke_tset_get (t, "transformer_blocks.0.attn1.to_q.weight");
  g_assert_cmpint (q->type, ==, KE_DTYPE_F8_E4M3);
  g_assert_cmpfloat (q->scale, ==, 0.5f);   /* folded from scale_weight */
  g_assert_cmpfloat (ke_tset_get (t, "transformer_blocks.0.attn1.to_k.weight")->scale, ==, 1.0f);
  g_assert_null (ke_tset_get (t, "transformer_blocks.0.attn1.to_q.scale_weight"));
  g_assert_null (ke_tset_get (t, "transformer_blocks.0.attn1.to_q.scale_input"));
  g_assert_true (c->fp8);
  ke_ltx_checkpoint_free (c);

  /* a scale for a weight the file lacks */
  b_remove (&b, "model.diffusion_model.transformer_blocks.0.attn1.to_q.weight");
  b_write (&b, path, "config", cfg, NULL);
  expect_fail (path, NULL, 0, KE_STATUS_MISSING, "transformer_blocks.0.attn1.to_q.scale_weight",
               "transformer_blocks.0.attn1.to_q.weight");
  b_free (&b);
}

static void
test_gguf_file (void)
{
  g_autofree char *path = test_tmp_path ("ltxv-13b-0.9.7-distilled-Q8_0.gguf");
  Builder b = { 0 };
  INNER = 32;
  add_transformer (&b, "", LAYERS, KE_DTYPE_F32, FALSE);
  INNER = 8;
  struct ke_gguf_tensor_info infos[160];
  for (int i = 0; i < b.n; i++)
    {
      infos[i].name = b.names[i];
      infos[i].type = b.t[i].type == KE_DTYPE_BF16 ? KE_DTYPE_F16 : b.t[i].type;
      infos[i].n_dims = b.t[i].n_dims;
      for (int d = 0; d < b.t[i].n_dims; d++)
        infos[i].shape[d] = b.t[i].ne[b.t[i].n_dims - 1 - d];
    }
  struct ke_error err = { 0 };
  for (int arch = 0; arch < 2; arch++)
    {
      struct ke_gguf_writer *w = NULL;
      g_assert_cmpint (ke_gguf_writer_open (&w, path, arch == 0 ? "ltxv" : "wan", b.n, infos, &err), ==, KE_STATUS_OK);
      for (int i = 0; i < b.n; i++)
        /* F16 and F32 zeros: the bytes of a BF16 zero tensor serve for F16 */
        g_assert_cmpint (ke_gguf_writer_data (w, b.data[i], ke_tensor_nbytes (&b.t[i]), &err), ==, KE_STATUS_OK);
      g_assert_cmpint (ke_gguf_writer_close (w, &err), ==, KE_STATUS_OK);
      if (arch == 1)
        break;
      struct ke_ltx_checkpoint *c = NULL;
      g_assert_cmpint (ke_ltx_checkpoint_open (&c, path, NULL, 0, &err), ==, KE_STATUS_OK);
      g_assert_cmpint (c->layout, ==, KE_LTX_LAYOUT_GGUF);
      g_assert_null (c->part[KE_LTX_PART_VAE]);
      g_assert_cmpint (ke_tset_get (c->part[KE_LTX_PART_TRANSFORMER], "proj_out.weight")->type, ==, KE_DTYPE_F16);
      /* the official config rebuilt from the shapes */
      g_assert_nonnull (strstr (c->config[KE_LTX_PART_TRANSFORMER], "\"num_layers\":2,"));
      g_assert_nonnull (strstr (c->config[KE_LTX_PART_TRANSFORMER], "\"caption_channels\":6,"));
      g_assert_nonnull (strstr (c->config[KE_LTX_PART_TRANSFORMER], "\"num_attention_heads\":32,"));
      g_assert_nonnull (strstr (c->config[KE_LTX_PART_TRANSFORMER], "\"attention_head_dim\":1,"));
      g_assert_cmpint (ke_model_family_detect (path), ==, KE_MODEL_FAMILY_LTXV);
      ke_ltx_checkpoint_free (c);
    }
  /* architecture "wan": refused, naming the architecture */
  expect_fail (path, NULL, 0, KE_STATUS_FORMAT, "'wan' (tensor 'patchify_proj.weight')", "ltxv");
  b_free (&b);
}

static void
write_json (const char *dir, const char *name, const char *text)
{
  g_autofree char *p = g_build_filename (dir, name, NULL);
  g_assert_true (g_file_set_contents (p, text, -1, NULL));
}

static void
test_diffusers_folder (void)
{
  g_autofree char *dir = test_tmp_path ("LTX-Video-0.9.7-diffusers");
  g_autofree char *td = g_build_filename (dir, "transformer", NULL);
  g_autofree char *vd = g_build_filename (dir, "vae", NULL);
  g_autofree char *ted = g_build_filename (dir, "text_encoder", NULL);
  g_autofree char *tkd = g_build_filename (dir, "tokenizer", NULL);
  g_assert_cmpint (g_mkdir_with_parents (td, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (vd, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (ted, 0755), ==, 0);
  g_assert_cmpint (g_mkdir_with_parents (tkd, 0755), ==, 0);
  write_json (dir, "model_index.json", "{\"_class_name\":\"LTXConditionPipeline\"}");
  write_json (td, "config.json", "{\"_class_name\":\"LTXVideoTransformer3DModel\",\"num_layers\":2,"
              "\"num_attention_heads\":2,\"attention_head_dim\":4,\"in_channels\":4,\"out_channels\":4,"
              "\"caption_channels\":6,\"cross_attention_dim\":8}");
  write_json (vd, "config.json", "{\"_class_name\":\"AutoencoderKLLTXVideo\",\"latent_channels\":4}");
  Builder b = { 0 };
  add_transformer (&b, "", LAYERS, KE_DTYPE_BF16, TRUE);
  g_autofree char *tp = g_build_filename (td, "diffusion_pytorch_model.safetensors", NULL);
  b_write (&b, tp, NULL);
  b_free (&b);
  add_vae (&b, "", TRUE);
  g_autofree char *vp = g_build_filename (vd, "diffusion_pytorch_model.safetensors", NULL);
  b_write (&b, vp, NULL);
  b_free (&b);

  struct ke_error err = { 0 };
  struct ke_ltx_checkpoint *c = NULL;
  g_assert_cmpint (ke_ltx_checkpoint_open (&c, dir, NULL, 0, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (c->layout, ==, KE_LTX_LAYOUT_DIFFUSERS);
  const struct ke_tensor_set *t = c->part[KE_LTX_PART_TRANSFORMER], *v = c->part[KE_LTX_PART_VAE];
  g_assert_nonnull (ke_tset_get (t, "patchify_proj.weight"));
  g_assert_nonnull (ke_tset_get (t, "adaln_single.emb.timestep_embedder.linear_1.weight"));
  g_assert_nonnull (ke_tset_get (t, "transformer_blocks.1.attn2.q_norm.weight"));
  g_assert_null (ke_tset_get (t, "proj_in.weight"));
  /* every Diffusers VAE name became its official one */
  for (size_t i = 0; i < G_N_ELEMENTS (g_vae_names); i++)
    if (!ke_tset_get (v, g_vae_names[i][0]))
      g_error ("Diffusers '%s' did not become '%s'", g_vae_names[i][1], g_vae_names[i][0]);
  g_assert_nonnull (strstr (c->config[KE_LTX_PART_TRANSFORMER], "\"_class_name\":\"Transformer3DModel\""));
  g_assert_nonnull (strstr (c->config[KE_LTX_PART_TRANSFORMER], "\"qk_norm\":\"rms_norm\""));
  g_assert_nonnull (strstr (c->config[KE_LTX_PART_VAE], "AutoencoderKLLTXVideo"));
  g_assert_cmpstr (c->text_encoder_path, ==, ted);
  g_assert_cmpstr (c->tokenizer_path, ==, tkd);
  ke_ltx_checkpoint_free (c);
  g_assert_cmpint (ke_model_family_detect (dir), ==, KE_MODEL_FAMILY_LTXV);
  struct ke_model_info info;
  g_assert_cmpint (ke_model_probe (dir, &info, &err), ==, KE_STATUS_OK);
  g_assert_cmpstr (info.layout, ==, "diffusers");
  g_assert_cmpint (info.n_parts, ==, 4);   /* transformer, vae, text_encoder, tokenizer */
  g_assert_cmpstr (info.version, ==, "LTX-Video 0.9.7");

  /* the 0.9.0 VAE layout (conv_out inside an encoder block) is refused, naming the tensor */
  add_vae (&b, "", TRUE);
  b_add (&b, "encoder.down_blocks.0.conv_out.conv.weight", KE_DTYPE_BF16, 1, 8);
  b_write (&b, vp, NULL);
  b_free (&b);
  expect_fail (dir, NULL, 0, KE_STATUS_UNSUPPORTED, "encoder.down_blocks.0.conv_out.conv.weight", "0.9.0");
}

static void
test_names (void)
{
  char out[256];
  for (size_t i = 0; i < G_N_ELEMENTS (g_vae_names); i++)
    {
      g_assert_cmpint (ke_ltx_name_from_diffusers (KE_LTX_PART_VAE, g_vae_names[i][1], 4, out, sizeof out), >=, 0);
      g_assert_cmpstr (out, ==, g_vae_names[i][0]);
    }
  static const char *const tr[][2] = {
    { "proj_in.weight", "patchify_proj.weight" },
    { "time_embed.emb.timestep_embedder.linear_2.bias", "adaln_single.emb.timestep_embedder.linear_2.bias" },
    { "transformer_blocks.47.attn1.norm_k.weight", "transformer_blocks.47.attn1.k_norm.weight" },
    { "transformer_blocks.0.ff.net.2.weight", "transformer_blocks.0.ff.net.2.weight" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (tr); i++)
    {
      ke_ltx_name_from_diffusers (KE_LTX_PART_TRANSFORMER, tr[i][0], 0, out, sizeof out);
      g_assert_cmpstr (out, ==, tr[i][1]);
    }
  g_assert_cmpint (ke_ltx_name_from_diffusers (KE_LTX_PART_VAE, "decoder.up_blocks.1.conv_in.conv.weight", 4, out,
                                               sizeof out), ==, -1);
  g_assert_cmpint (ke_ltx_size_class (4096), ==, 13);
  g_assert_cmpint (ke_ltx_size_class (2048), ==, 2);
  g_assert_cmpint (ke_ltx_size_class (8), ==, 0);
}

/* ---- hostile files ------------------------------------------------------------------------------- */

static void
test_config_hostile (void)
{
  g_autofree char *path = test_tmp_path ("ltxv-hostile.safetensors");
  Builder b = { 0 };
  add_transformer (&b, "model.diffusion_model.", LAYERS, KE_DTYPE_BF16, FALSE);
  add_vae (&b, "vae.", FALSE);
  /* config missing */
  b_write (&b, path, NULL);
  expect_fail (path, NULL, 0, KE_STATUS_MISSING, "'config'", "model.diffusion_model.");
  /* malformed */
  b_write (&b, path, "config", "{\"transformer\": {", NULL);
  expect_fail (path, NULL, 0, KE_STATUS_FORMAT, "'config'", "not a JSON object");
  b_write (&b, path, "config", "[1, 2]", NULL);
  expect_fail (path, NULL, 0, KE_STATUS_FORMAT, "'config'", NULL);
  b_write (&b, path, "config", "{\"transformer\":{}} trailing", NULL);
  expect_fail (path, NULL, 0, KE_STATUS_FORMAT, "'config'", "text after");
  /* a section of the wrong type or class, a size that is not a positive integer */
  b_write (&b, path, "config", "{\"transformer\": 3}", NULL);
  expect_fail (path, NULL, 0, KE_STATUS_FORMAT, "'transformer'", NULL);
  b_write (&b, path, "config", "{\"transformer\": {\"_class_name\": \"WanModel\"}}", NULL);
  expect_fail (path, NULL, 0, KE_STATUS_FORMAT, "transformer._class_name", NULL);
  g_autofree char *c1 = g_strdup_printf ("{\"transformer\":%s,\"vae\":%s}",
                                         "{\"_class_name\":\"Transformer3DModel\",\"num_layers\":\"two\"}", k_vcfg);
  b_write (&b, path, "config", c1, NULL);
  expect_fail (path, NULL, 0, KE_STATUS_FORMAT, "transformer.num_layers", "\"two\"");
  /* neither section: not LTX-Video */
  b_write (&b, path, "config", "{\"_class_name\":\"Something\"}", NULL);
  expect_fail (path, NULL, 0, KE_STATUS_FORMAT, "neither", "\"Something\"");
  /* the config says one layer, the file has two */
  g_autofree char *one = g_strdup (k_tcfg);
  *(strstr (one, "\"num_layers\":2") + 13) = '1';
  g_autofree char *c2 = model_config (one, k_vcfg);
  b_write (&b, path, "config", c2, NULL);
  expect_fail (path, NULL, 0, KE_STATUS_SHAPE, "model.diffusion_model.transformer_blocks.1.scale_shift_table",
               "num_layers 1");
  /* transformer tensors without a transformer section */
  g_autofree char *c3 = model_config (NULL, k_vcfg);
  b_write (&b, path, "config", c3, NULL);
  expect_fail (path, NULL, 0, KE_STATUS_MISSING, "'transformer'", "model.diffusion_model.");
  b_free (&b);
}

static void
test_tensors_hostile (void)
{
  g_autofree char *path = test_tmp_path ("ltxv-broken.safetensors");
  g_autofree char *cfg = model_config (k_tcfg, k_vcfg);
  Builder b = { 0 };
  /* a missing tensor */
  add_transformer (&b, "model.diffusion_model.", LAYERS, KE_DTYPE_BF16, FALSE);
  add_vae (&b, "vae.", FALSE);
  b_remove (&b, "model.diffusion_model.transformer_blocks.1.attn2.to_k.weight");
  b_write (&b, path, "config", cfg, NULL);
  expect_fail (path, NULL, 0, KE_STATUS_MISSING, "model.diffusion_model.transformer_blocks.1.attn2.to_k.weight", NULL);
  b_free (&b);
  /* a wrong shape */
  add_transformer (&b, "model.diffusion_model.", LAYERS, KE_DTYPE_BF16, FALSE);
  add_vae (&b, "vae.", FALSE);
  b_remove (&b, "model.diffusion_model.patchify_proj.weight");
  b_add (&b, "model.diffusion_model.patchify_proj.weight", KE_DTYPE_BF16, 2, INNER, 5);
  b_write (&b, path, "config", cfg, NULL);
  expect_fail (path, NULL, 0, KE_STATUS_SHAPE, "patchify_proj.weight", "[8, 5]");
  b_free (&b);
  /* a block's modulation table of neither 6 nor 4 rows */
  add_transformer (&b, "model.diffusion_model.", LAYERS, KE_DTYPE_BF16, FALSE);
  add_vae (&b, "vae.", FALSE);
  b_remove (&b, "model.diffusion_model.transformer_blocks.1.scale_shift_table");
  b_add (&b, "model.diffusion_model.transformer_blocks.1.scale_shift_table", KE_DTYPE_F32, 2, 5, INNER);
  b_write (&b, path, "config", cfg, NULL);
  expect_fail (path, NULL, 0, KE_STATUS_SHAPE, "model.diffusion_model.transformer_blocks.1.scale_shift_table", "[5, 8]");
  b_free (&b);
  /* a VAE tensor missing */
  add_transformer (&b, "model.diffusion_model.", LAYERS, KE_DTYPE_BF16, FALSE);
  add_vae (&b, "vae.", FALSE);
  b_remove (&b, "vae.per_channel_statistics.std-of-means");
  b_write (&b, path, "config", cfg, NULL);
  expect_fail (path, NULL, 0, KE_STATUS_MISSING, "vae.per_channel_statistics.std-of-means", NULL);
  b_free (&b);
  /* a VAE-only file given as the model */
  add_vae (&b, "vae.", FALSE);
  g_autofree char *cv = model_config (NULL, k_vcfg);
  b_write (&b, path, "config", cv, NULL);
  expect_fail (path, NULL, 0, KE_STATUS_MISSING, "only the LTX-Video VAE", "vae.per_channel_statistics");
  /* ... and to ke_model_open: the family is LTX-Video, the error the file's own */
  struct ke_error err = { 0 };
  ke_model_t *m = NULL;
  g_assert_cmpint (ke_model_open (&m, path, &err), ==, KE_STATUS_MISSING);
  g_assert_nonnull (strstr (err.msg, path));
  g_assert_nonnull (strstr (err.msg, "only the LTX-Video VAE"));
  b_free (&b);
}

static void
test_wrong_family (void)
{
  /* a Wan2.2 file given as LTX-Video */
  g_autofree char *wan = test_tmp_path ("wan2.2_ti2v_5B_fp16.safetensors");
  Builder b = { 0 };
  b_add (&b, "head.modulation", KE_DTYPE_F32, 3, 1, 2, 8);
  b_add (&b, "patch_embedding.weight", KE_DTYPE_BF16, 5, 8, 48, 1, 2, 2);
  b_write (&b, wan, NULL);
  b_free (&b);
  expect_fail (wan, NULL, 0, KE_STATUS_FORMAT, "a Wan2.2 file", "head.modulation");
  g_assert_cmpint (ke_model_family_detect (wan), ==, KE_MODEL_FAMILY_WAN22);
  struct ke_model_info info;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_model_probe (wan, &info, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (info.family, ==, KE_MODEL_FAMILY_WAN22);
  g_assert_cmpstr (info.version, ==, "Wan2.2 TI2V-5B");
  g_assert_cmpstr (info.parts[0].role, ==, "dit");

  /* the reverse: an LTX-Video file where a Wan model is opened gets the LTX answer, not a Wan error */
  g_autofree char *ltx = write_single ("ltxv-13b-0.9.7-dev.safetensors", KE_DTYPE_BF16);
  ke_model_t *m = NULL;
  g_assert_cmpint (ke_model_open (&m, ltx, &err), ==, KE_STATUS_MISSING);
  g_assert_true (strstr (err.msg, "LTX-Video") != NULL || strstr (err.msg, "T5 v1.1 XXL") != NULL);
  g_assert_null (strstr (err.msg, "Wan"));

  /* the upsampler given as the model, and the model given as the upsampler */
  g_autofree char *ups = write_upsampler ();
  expect_fail (ups, NULL, KE_LTX_OPEN_MODEL, KE_STATUS_INVALID, "latent upsampler", "initial_conv.weight");
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_model_open (&m, ups, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, ups));
  struct ke_ltx_checkpoint *c = NULL;
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_ltx_checkpoint_open (&c, ltx, ltx, 0, &err), ==, KE_STATUS_INVALID);
  g_assert_nonnull (strstr (err.msg, "not the latent upsampler"));
  g_assert_nonnull (strstr (err.msg, "model.diffusion_model."));
  /* the upsampler alone, as inspect opens it */
  g_assert_cmpint (ke_ltx_checkpoint_open (&c, ups, NULL, KE_LTX_OPEN_UPSAMPLER_ALONE, &err), ==, KE_STATUS_OK);
  g_assert_cmpint (c->layout, ==, KE_LTX_LAYOUT_UPSAMPLER);
  g_assert_null (c->part[KE_LTX_PART_TRANSFORMER]);
  ke_ltx_checkpoint_free (c);
  g_assert_cmpint (ke_model_probe (ups, &info, &err), ==, KE_STATUS_OK);
  g_assert_cmpstr (info.version, ==, "LTX-Video 0.9.7 spatial latent upsampler");
  /* an upsampler whose tensors disagree with its config */
  g_autofree char *ups2 = test_tmp_path ("upsampler-broken.safetensors");
  add_upsampler (&b);
  b_remove (&b, "post_upsample_res_blocks.0.conv1.weight");
  b_write (&b, ups2, "config", k_ucfg, NULL);
  b_free (&b);
  expect_fail_in (ups2, ltx, ups2, 0, KE_STATUS_MISSING, "post_upsample_res_blocks.0.conv1.weight", NULL);
  /* an upsampler without config */
  add_upsampler (&b);
  b_write (&b, ups2, NULL);
  b_free (&b);
  expect_fail_in (ups2, ltx, ups2, 0, KE_STATUS_MISSING, "'config'", "initial_conv");
}

static void
test_wan_fixture_family (void)
{
  /* the Wan fixtures stay Wan: the seam must not take them */
  g_autofree char *p = test_fixture_path ("dit_ti2v_tiny.weights.safetensors");
  if (!test_require_fixture (p))
    return;
  g_assert_cmpint (ke_model_family_detect (p), ==, KE_MODEL_FAMILY_WAN22);
  g_assert_cmpint (ke_model_family_detect ("tiny"), ==, KE_MODEL_FAMILY_WAN22);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/ltx/checkpoint/single-file", test_single_file);
  g_test_add_func ("/ltx/checkpoint/fp8", test_fp8_file);
  g_test_add_func ("/ltx/checkpoint/gguf", test_gguf_file);
  g_test_add_func ("/ltx/checkpoint/diffusers", test_diffusers_folder);
  g_test_add_func ("/ltx/checkpoint/names", test_names);
  g_test_add_func ("/ltx/checkpoint/config-hostile", test_config_hostile);
  g_test_add_func ("/ltx/checkpoint/tensors-hostile", test_tensors_hostile);
  g_test_add_func ("/ltx/checkpoint/wrong-family", test_wrong_family);
  g_test_add_func ("/ltx/checkpoint/wan-fixture", test_wan_fixture_family);
  return g_test_run ();
}
