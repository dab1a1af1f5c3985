/* Tests for engine/loaders/name-map.c: T5 (HF, GGUF), DiT and VAE (Diffusers) names to official
 * names, prefix stripping, fp8 scale folding and the set-level Wan2.1/Wan2.2 VAE layout choice. */
#include <glib.h>
#include <string.h>

#include "core/error.h"
#include "loaders/name-map.h"

static void
check (enum ke_name_role role, const char *from, const char *to)
{
  char out[256];
  int hit = ke_name_map_one (role, from, out, sizeof out);
  if (!to)
    {
      g_assert_false (hit);
      return;
    }
  g_assert_true (hit);
  g_assert_cmpstr (out, ==, to);
}

static void
check_vae (const char *from, gboolean v22, const char *to)
{
  char out[256];
  g_assert_true (ke_name_map_vae (from, v22, out, sizeof out));
  g_assert_cmpstr (out, ==, to);
}

static void
test_t5 (void)
{
  check (KE_NAME_ROLE_T5, "shared.weight", "token_embedding.weight");
  check (KE_NAME_ROLE_T5, "encoder.final_layer_norm.weight", "norm.weight");
  check (KE_NAME_ROLE_T5, "encoder.block.7.layer.0.SelfAttention.o.weight", "blocks.7.attn.o.weight");
  check (KE_NAME_ROLE_T5, "encoder.block.23.layer.0.SelfAttention.relative_attention_bias.weight",
         "blocks.23.pos_embedding.embedding.weight");
  check (KE_NAME_ROLE_T5, "encoder.block.0.layer.1.DenseReluDense.wi_0.weight", "blocks.0.ffn.gate.0.weight");
  check (KE_NAME_ROLE_T5, "encoder.block.0.layer.1.DenseReluDense.wi_1.weight", "blocks.0.ffn.fc1.weight");
  check (KE_NAME_ROLE_T5, "encoder.block.0.layer.1.DenseReluDense.wo.scale_weight", "blocks.0.ffn.fc2.scale_weight");
  check (KE_NAME_ROLE_T5, "enc.blk.23.ffn_up.weight", "blocks.23.ffn.fc1.weight");
  check (KE_NAME_ROLE_T5, "enc.blk.2.attn_rel_b.weight", "blocks.2.pos_embedding.embedding.weight");
  /* official names and near misses stay */
  check (KE_NAME_ROLE_T5, "blocks.7.attn.o.weight", NULL);
  check (KE_NAME_ROLE_T5, "encoder.block.x.layer.0.layer_norm.weight", NULL);
  check (KE_NAME_ROLE_T5, "encoder.block.1.layer.0.layer_norm.weight.extra", NULL);
}

static void
test_dit (void)
{
  check (KE_NAME_ROLE_DIT, "blocks.3.attn1.to_out.0.bias", "blocks.3.self_attn.o.bias");
  check (KE_NAME_ROLE_DIT, "blocks.3.attn2.to_k.weight", "blocks.3.cross_attn.k.weight");
  check (KE_NAME_ROLE_DIT, "blocks.0.norm2.weight", "blocks.0.norm3.weight");
  check (KE_NAME_ROLE_DIT, "blocks.12.scale_shift_table", "blocks.12.modulation");
  check (KE_NAME_ROLE_DIT, "scale_shift_table", "head.modulation");
  check (KE_NAME_ROLE_DIT, "proj_out.bias", "head.head.bias");
  check (KE_NAME_ROLE_DIT, "condition_embedder.time_proj.weight", "time_projection.1.weight");
  check (KE_NAME_ROLE_DIT, "condition_embedder.text_embedder.linear_2.bias", "text_embedding.2.bias");
  check (KE_NAME_ROLE_DIT, "blocks.1.ffn.net.0.proj.weight", "blocks.1.ffn.0.weight");
  check (KE_NAME_ROLE_DIT, "blocks.1.attn2.add_k_proj.weight", "blocks.1.cross_attn.k_img.weight");
  check (KE_NAME_ROLE_DIT, "blocks.1.self_attn.q.weight", NULL);
}

/* wan22-spec §2.6 */
static void
test_vae (void)
{
  check_vae ("quant_conv.weight", FALSE, "conv1.weight");
  check_vae ("post_quant_conv.bias", FALSE, "conv2.bias");
  check_vae ("encoder.conv_in.weight", FALSE, "encoder.conv1.weight");
  check_vae ("decoder.norm_out.gamma", FALSE, "decoder.head.0.gamma");
  check_vae ("decoder.conv_out.weight", TRUE, "decoder.head.2.weight");
  check_vae ("encoder.mid_block.resnets.1.norm2.gamma", FALSE, "encoder.middle.2.residual.3.gamma");
  check_vae ("decoder.mid_block.attentions.0.to_qkv.weight", TRUE, "decoder.middle.1.to_qkv.weight");
  /* Wan2.1: flat encoder list, decoder stages of 3 resnets + 1 upsampler -> 4b + r */
  check_vae ("encoder.down_blocks.3.conv_shortcut.weight", FALSE, "encoder.downsamples.3.shortcut.weight");
  check_vae ("encoder.down_blocks.5.time_conv.weight", FALSE, "encoder.downsamples.5.time_conv.weight");
  check_vae ("decoder.up_blocks.1.resnets.0.conv1.weight", FALSE, "decoder.upsamples.4.residual.2.weight");
  check_vae ("decoder.up_blocks.2.upsamplers.0.resample.1.weight", FALSE, "decoder.upsamples.11.resample.1.weight");
  check_vae ("decoder.up_blocks.3.resnets.2.conv2.bias", FALSE, "decoder.upsamples.14.residual.6.bias");
  /* Wan2.2: nested stages */
  check_vae ("encoder.down_blocks.1.resnets.0.conv_shortcut.weight", TRUE,
             "encoder.downsamples.1.downsamples.0.shortcut.weight");
  check_vae ("encoder.down_blocks.2.downsampler.time_conv.weight", TRUE,
             "encoder.downsamples.2.downsamples.2.time_conv.weight");
  check_vae ("decoder.up_blocks.0.upsampler.resample.1.weight", TRUE,
             "decoder.upsamples.0.upsamples.3.resample.1.weight");
  check_vae ("decoder.up_blocks.3.resnets.2.norm1.gamma", TRUE, "decoder.upsamples.3.upsamples.2.residual.0.gamma");
}

static void
add (struct ke_tensor_set *s, const char *name, float *v)
{
  struct ke_error err = { 0 };
  g_assert_nonnull (ke_tset_add (s, name, KE_DTYPE_F32, 1, (int64_t[]) { 1 }, v, &err));
}

static void
test_apply (void)
{
  static float v[8] = { 1, 2, 3, 4, 0.5f, 6, 7, 8 };
  struct ke_error err = { 0 };
  /* T5 with a ComfyUI wrapper prefix and an fp8 scale */
  struct ke_tensor_set *s = ke_tset_new ("t5.safetensors");
  add (s, "text_encoders.umt5xxl.transformer.shared.weight", &v[0]);
  add (s, "text_encoders.umt5xxl.transformer.encoder.block.0.layer.0.SelfAttention.q.weight", &v[1]);
  add (s, "text_encoders.umt5xxl.transformer.encoder.block.0.layer.0.SelfAttention.q.scale_weight", &v[4]);
  g_assert_cmpint (ke_name_map_apply (s, KE_NAME_ROLE_T5, &err), ==, KE_STATUS_OK);
  g_assert_cmpstr (ke_tset_meta (s, "name_style"), ==, "hf");
  g_assert_nonnull (ke_tset_get (s, "token_embedding.weight"));
  const struct ke_tensor *q = ke_tset_get (s, "blocks.0.attn.q.weight");
  g_assert_nonnull (q);
  g_assert_cmpfloat (q->scale, ==, 0.5f);
  g_assert_true (q->data == &v[1]);   /* renamed in place, data untouched */
  ke_tset_free (s);

  /* official names stay official */
  s = ke_tset_new ("official");
  add (s, "token_embedding.weight", &v[0]);
  add (s, "blocks.0.attn.q.weight", &v[1]);
  g_assert_cmpint (ke_name_map_apply (s, KE_NAME_ROLE_T5, &err), ==, KE_STATUS_OK);
  g_assert_cmpstr (ke_tset_meta (s, "name_style"), ==, "official");
  g_assert_nonnull (ke_tset_get (s, "blocks.0.attn.q.weight"));
  ke_tset_free (s);

  /* a Diffusers VAE: the nested stage names choose the Wan2.2 layout for the whole set */
  s = ke_tset_new ("vae");
  add (s, "decoder.up_blocks.0.upsampler.resample.1.weight", &v[0]);
  add (s, "decoder.up_blocks.1.resnets.2.conv1.weight", &v[1]);
  g_assert_cmpint (ke_name_map_apply (s, KE_NAME_ROLE_VAE, &err), ==, KE_STATUS_OK);
  g_assert_nonnull (ke_tset_get (s, "decoder.upsamples.1.upsamples.2.residual.2.weight"));
  g_assert_nonnull (ke_tset_get (s, "decoder.upsamples.0.upsamples.3.resample.1.weight"));
  ke_tset_free (s);

  /* ... and without them, the Wan2.1 arithmetic */
  s = ke_tset_new ("vae21");
  add (s, "decoder.up_blocks.1.resnets.2.conv1.weight", &v[1]);
  g_assert_cmpint (ke_name_map_apply (s, KE_NAME_ROLE_VAE, &err), ==, KE_STATUS_OK);
  g_assert_nonnull (ke_tset_get (s, "decoder.upsamples.6.residual.2.weight"));
  g_assert_cmpstr (ke_tset_meta (s, "name_style"), ==, "diffusers");
  ke_tset_free (s);

  /* a scale that is not one float is refused with the file and tensor named */
  s = ke_tset_new ("bad.safetensors");
  add (s, "blocks.0.attn.q.weight", &v[1]);
  g_assert_nonnull (ke_tset_add (s, "blocks.0.attn.q.scale_weight", KE_DTYPE_F32, 1, (int64_t[]) { 2 }, &v[2], &err));
  g_assert_cmpint (ke_name_map_apply (s, KE_NAME_ROLE_T5, &err), ==, KE_STATUS_SHAPE);
  g_assert_nonnull (strstr (err.msg, "bad.safetensors"));
  g_assert_nonnull (strstr (err.msg, "blocks.0.attn.q.scale_weight"));
  ke_tset_free (s);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/name-map/t5", test_t5);
  g_test_add_func ("/name-map/dit", test_dit);
  g_test_add_func ("/name-map/vae", test_vae);
  g_test_add_func ("/name-map/apply", test_apply);
  return g_test_run ();
}
