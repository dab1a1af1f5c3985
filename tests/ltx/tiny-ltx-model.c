/* The tiny random LTX-Video model for tests (tiny-ltx-model.h): the official single-file layout, the
 * spatial upsampler file and a text_encoder/ folder, written from the committed fixtures of tests/ltx.
 *
 * The fixtures were made one component at a time and do not agree with each other on the latent width
 * (transformer_a takes 128 channels, vae_b makes 4) or the text width (transformer_a's caption_channels 24,
 * t5xxl_a's d_model 32). The model keeps every fixture tensor and config as written and makes them agree
 * where they meet: the transformer's in/out channels become the VAE's latent_channels and its
 * caption_channels the encoder's d_model; the four tensors whose shapes carry those widths
 * (patchify_proj.weight, proj_out.weight, proj_out.bias, caption_projection.linear_1.weight) get
 * deterministic random values of the new shapes, uniform in +-1/sqrt(fan_in) as torch.nn.Linear's
 * default init draws them.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>
#include <json-c/json.h>

#include "loaders/loaders.h"
#include "tiny-ltx-model.h"

#define MAX_TENSORS 512

typedef struct
{
  int n;
  struct ke_tensor t[MAX_TENSORS];
  char *names[MAX_TENSORS];
  float *owned[MAX_TENSORS];
} TensorList;

static void
list_clear (TensorList *l)
{
  for (int i = 0; i < l->n; i++)
    {
      g_free (l->names[i]);
      g_free (l->owned[i]);
    }
  l->n = 0;
}

static gboolean
list_add (TensorList *l, const char *prefix, const struct ke_tensor *src, GError **error)
{
  int64_t shape[KE_MAX_DIMS];

  if (l->n >= MAX_TENSORS)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "tiny LTX-Video model: more than %d tensors", MAX_TENSORS);
      return FALSE;
    }
  for (int d = 0; d < src->n_dims; d++)
    shape[d] = src->ne[src->n_dims - 1 - d];
  ke_tensor_init (&l->t[l->n], src->type, src->n_dims, shape, src->data);
  /* a fixture may hold some names with the prefix already (vae_b's per_channel_statistics) */
  l->names[l->n] = g_str_has_prefix (src->name, prefix) ? g_strdup (src->name) : g_strconcat (prefix, src->name, NULL);
  l->owned[l->n] = NULL;
  l->t[l->n].name = l->names[l->n];
  l->n++;
  return TRUE;
}

/* A fresh f32 [rows, cols] (cols 0: a vector of rows) tensor, uniform in +-1/sqrt(fan_in). */
static void
list_add_random (TensorList *l, const char *name, int rows, int cols, int fan_in, guint32 seed)
{
  int64_t shape[2] = { rows, cols };
  int nd = cols > 0 ? 2 : 1;
  size_t n = (size_t) rows * (size_t) (cols > 0 ? cols : 1);
  float *x = g_new (float, n);
  float bound = 1.0f / sqrtf ((float) fan_in);
  guint32 s = seed * 2654435761u + 12345u;

  for (size_t i = 0; i < n; i++)
    {
      /* xorshift32: the same numbers on every machine */
      s ^= s << 13;
      s ^= s >> 17;
      s ^= s << 5;
      x[i] = bound * (2.0f * (float) (s >> 8) / (float) (1u << 24) - 1.0f);
    }
  ke_tensor_init (&l->t[l->n], KE_DTYPE_F32, nd, shape, x);
  l->names[l->n] = g_strdup (name);
  l->owned[l->n] = x;
  l->t[l->n].name = l->names[l->n];
  l->n++;
}

static gboolean
list_write (TensorList *l, const char *path, const char *const *kv, int n_kv, GError **error)
{
  const struct ke_tensor *tp[MAX_TENSORS];
  struct ke_error err = { 0 };

  for (int i = 0; i < l->n; i++)
    tp[i] = &l->t[i];
  if (ke_safetensors_write (path, tp, l->n, kv, n_kv, &err) != KE_STATUS_OK)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s", err.msg);
      return FALSE;
    }
  return TRUE;
}

static struct ke_tensor_set *
open_fixture (const char *fixtures, const char *name, GError **error)
{
  g_autofree char *path = g_build_filename (fixtures, name, NULL);
  struct ke_tensor_set *s = NULL;
  struct ke_error err = { 0 };

  if (ke_safetensors_open_file (&s, path, &err) != KE_STATUS_OK)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "tiny LTX-Video model: %s", err.msg);
      return NULL;
    }
  return s;
}

/* The section `key` of a fixture's config metadata (the whole config when key is NULL), a new reference. */
static json_object *
fixture_config (const struct ke_tensor_set *s, const char *key, GError **error)
{
  const char *text = ke_tset_meta (s, "config");
  json_object *root = text ? json_tokener_parse (text) : NULL;
  json_object *sec = NULL;

  if (root == NULL || (key != NULL && !json_object_object_get_ex (root, key, &sec)))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "tiny LTX-Video model: %s: no config%s%s",
                   ke_tset_path (s), key ? " section " : "", key ? key : "");
      json_object_put (root);
      return NULL;
    }
  if (key == NULL)
    return root;
  json_object_get (sec);
  json_object_put (root);
  return sec;
}

static int
obj_int (json_object *o, const char *key)
{
  json_object *v = NULL;
  return json_object_object_get_ex (o, key, &v) ? json_object_get_int (v) : 0;
}

gboolean
tiny_ltx_model_write (const char *fixtures,
                      const char *dir,
                      GError    **error)
{
  struct ke_tensor_set *tr = NULL, *vae = NULL, *ups = NULL, *t5 = NULL;
  json_object *tcfg = NULL, *vcfg = NULL, *t5cfg = NULL, *root = NULL, *steps = NULL;
  TensorList l = { 0 };
  gboolean ok = FALSE;
  static const double distilled_steps[] = { 1.0000, 0.9937, 0.9875, 0.9812, 0.9750, 0.9094, 0.7250 };

  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "tiny LTX-Video model: cannot make %s", dir);
      return FALSE;
    }
  if ((tr = open_fixture (fixtures, "transformer_a.weights.safetensors", error)) == NULL
      || (vae = open_fixture (fixtures, "vae_b.weights.safetensors", error)) == NULL
      || (ups = open_fixture (fixtures, "upsampler_a.weights.safetensors", error)) == NULL
      || (t5 = open_fixture (fixtures, "t5xxl_a.weights.safetensors", error)) == NULL
      || (tcfg = fixture_config (tr, "transformer", error)) == NULL
      || (vcfg = fixture_config (vae, "vae", error)) == NULL
      || (t5cfg = fixture_config (t5, NULL, error)) == NULL)
    goto out;

  {
    const int latent = obj_int (vcfg, "latent_channels");
    const int text = obj_int (t5cfg, "d_model");
    const int inner = obj_int (tcfg, "num_attention_heads") * obj_int (tcfg, "attention_head_dim");
    g_autofree char *ckpt = g_build_filename (dir, "ltxv-tiny-0.9.8-distilled.safetensors", NULL);
    g_autofree char *up = g_build_filename (dir, "ltxv-spatial-upscaler-tiny-0.9.8.safetensors", NULL);
    g_autofree char *te_dir = g_build_filename (dir, "text_encoder", NULL);
    g_autofree char *te = g_build_filename (te_dir, "model.safetensors", NULL);
    g_autofree char *te_json = g_build_filename (te_dir, "config.json", NULL);
    static const char *const redrawn[] = { "patchify_proj.weight", "proj_out.weight", "proj_out.bias",
                                           "caption_projection.linear_1.weight", NULL };

    json_object_object_add (tcfg, "in_channels", json_object_new_int (latent));
    json_object_object_add (tcfg, "out_channels", json_object_new_int (latent));
    json_object_object_add (tcfg, "caption_channels", json_object_new_int (text));
    root = json_object_new_object ();
    json_object_object_add (root, "transformer", json_object_get (tcfg));
    json_object_object_add (root, "vae", json_object_get (vcfg));
    steps = json_object_new_array ();
    for (guint i = 0; i < G_N_ELEMENTS (distilled_steps); i++)
      json_object_array_add (steps, json_object_new_double (distilled_steps[i]));
    json_object_object_add (root, "allowed_inference_steps", steps);

    /* the single file: model.diffusion_model.* and vae.* */
    for (int i = 0; i < ke_tset_count (tr); i++)
      {
        const struct ke_tensor *t = ke_tset_at (tr, i);
        if (!g_strv_contains (redrawn, t->name) && !list_add (&l, "model.diffusion_model.", t, error))
          goto out;
      }
    list_add_random (&l, "model.diffusion_model.patchify_proj.weight", inner, latent, latent, 1);
    list_add_random (&l, "model.diffusion_model.proj_out.weight", latent, inner, inner, 2);
    list_add_random (&l, "model.diffusion_model.proj_out.bias", latent, 0, inner, 3);
    list_add_random (&l, "model.diffusion_model.caption_projection.linear_1.weight", inner, text, text, 4);
    for (int i = 0; i < ke_tset_count (vae); i++)
      if (!list_add (&l, "vae.", ke_tset_at (vae, i), error))
        goto out;
    {
      const char *kv[] = { "config", json_object_to_json_string_ext (root, JSON_C_TO_STRING_PLAIN),
                           "generator", "tests/ltx/tiny-ltx-model.c" };
      if (!list_write (&l, ckpt, kv, 2, error))
        goto out;
    }
    list_clear (&l);

    /* the spatial upsampler, as its fixture holds it */
    for (int i = 0; i < ke_tset_count (ups); i++)
      if (!list_add (&l, "", ke_tset_at (ups, i), error))
        goto out;
    {
      const char *kv[] = { "config", ke_tset_meta (ups, "config") };
      if (!list_write (&l, up, kv, 1, error))
        goto out;
    }
    list_clear (&l);

    /* the T5 v1.1 encoder: HF names, config.json beside the weights */
    if (g_mkdir_with_parents (te_dir, 0755) != 0)
      {
        g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "tiny LTX-Video model: cannot make %s", te_dir);
        goto out;
      }
    for (int i = 0; i < ke_tset_count (t5); i++)
      if (!list_add (&l, "", ke_tset_at (t5, i), error))
        goto out;
    {
      const char *kv[] = { "format", "pt" };
      if (!list_write (&l, te, kv, 1, error)
          || !g_file_set_contents (te_json, json_object_to_json_string_ext (t5cfg, JSON_C_TO_STRING_PRETTY), -1,
                                   error))
        goto out;
    }
    /* the tokenizer: a small unigram model whose ids stay below the encoder's vocab_size (t5xxl_a: 160) */
    {
      g_autofree char *tok_dir = g_build_filename (dir, "tokenizer", NULL);
      g_autofree char *tok = g_build_filename (tok_dir, "tokenizer.json", NULL);
      g_autoptr(GString) j = g_string_new ("{\"model\": {\"type\": \"Unigram\", \"unk_id\": 2, \"vocab\": "
                                           "[[\"<pad>\", 0], [\"</s>\", 0], [\"<unk>\", 0]");
      static const char *const words[] = { "a", "lighthouse", "at", "dusk", "red", "fox", "in", "the", "snow" };

      for (guint i = 0; i < G_N_ELEMENTS (words); i++)
        g_string_append_printf (j, ", [\"\u2581%s\", -2]", words[i]);
      g_string_append (j, ", [\"\u2581\", -3]");
      for (char ch = 'a'; ch <= 'z'; ch++)
        g_string_append_printf (j, ", [\"%c\", -5]", ch);
      g_string_append (j, "]}, \"added_tokens\": [{\"id\": 0, \"content\": \"<pad>\", \"special\": true}, "
                          "{\"id\": 1, \"content\": \"</s>\", \"special\": true}, "
                          "{\"id\": 2, \"content\": \"<unk>\", \"special\": true}]}");
      if (g_mkdir_with_parents (tok_dir, 0755) != 0)
        {
          g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "tiny LTX-Video model: cannot make %s", tok_dir);
          goto out;
        }
      if (!g_file_set_contents (tok, j->str, -1, error))
        goto out;
    }
  }
  ok = TRUE;
out:
  list_clear (&l);
  json_object_put (root);
  json_object_put (tcfg);
  json_object_put (vcfg);
  json_object_put (t5cfg);
  ke_tset_free (tr);
  ke_tset_free (vae);
  ke_tset_free (ups);
  ke_tset_free (t5);
  return ok;
}
