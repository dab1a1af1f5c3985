/* kinora-params.c: the settings of one generation, owned by the GUI, with JSON round trip
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include <math.h>
#include <string.h>
#include <glib/gi18n.h>

#include <json-c/json.h>

#include "kinora-metadata.h"
#include "kinora-params.h"

G_DEFINE_BOXED_TYPE (KinoraParams, kinora_params, kinora_params_copy, kinora_params_free)

/* The official default negative prompt (sample_neg_prompt), byte for byte. */
static const char default_negative[] =
  "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
  "JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，"
  "手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走";

const char *
kinora_default_negative_prompt (void)
{
  return default_negative;
}

KinoraParams *
kinora_params_new (void)
{
  return kinora_params_new_for_task (KE_TASK_TI2V_5B);
}

KinoraParams *
kinora_params_new_for_task (enum ke_task task)
{
  struct ke_gen_params d = ke_gen_params_default (task);
  KinoraParams *self = g_new0 (KinoraParams, 1);

  self->task = task;
  self->prompt = g_strdup ("");
  self->negative_prompt = g_strdup (default_negative);
  self->width = d.width;
  self->height = d.height;
  self->n_frames = d.n_frames;
  self->steps = d.steps;
  self->guide = d.guide;
  self->guide_high = d.guide_high;
  self->shift = d.shift;
  self->seed = d.seed < 0 ? 42 : d.seed;
  self->fps = d.fps;
  self->solver = d.solver;
  self->precision = d.precision;
  self->cache = d.cache;
  self->cache_threshold = -1;
  self->decoder = d.decoder;
  self->preview_source = d.preview_source;

  return self;
}

KinoraParams *
kinora_params_copy (const KinoraParams *self)
{
  KinoraParams *copy;

  g_return_val_if_fail (self != NULL, NULL);

  copy = g_memdup2 (self, sizeof *self);
  copy->model = g_strdup (self->model);
  copy->prompt = g_strdup (self->prompt);
  copy->negative_prompt = g_strdup (self->negative_prompt);
  copy->image_path = g_strdup (self->image_path);
  copy->backend = g_strdup (self->backend);
  copy->image_rgb = self->image_rgb ? g_bytes_ref (self->image_rgb) : NULL;
  copy->taehv_path = g_strdup (self->taehv_path);
  copy->loras = NULL;
  copy->n_loras = 0;
  for (int i = 0; i < self->n_loras; i++)
    kinora_params_add_lora (copy, self->loras[i].path, self->loras[i].strength, self->loras[i].strength_high);

  return copy;
}

void
kinora_params_free (KinoraParams *self)
{
  if (self == NULL)
    return;

  g_free (self->model);
  g_free (self->prompt);
  g_free (self->negative_prompt);
  g_free (self->image_path);
  g_free (self->backend);
  g_clear_pointer (&self->image_rgb, g_bytes_unref);
  g_free (self->taehv_path);
  kinora_params_clear_loras (self);
  g_free (self);
}

gboolean
kinora_params_add_lora (KinoraParams *self,
                        const char   *path,
                        double        strength,
                        double        strength_high)
{
  g_return_val_if_fail (self != NULL && path != NULL, FALSE);

  if (self->n_loras >= KE_MAX_LORAS)
    return FALSE;
  self->loras = g_renew (struct ke_lora_spec, self->loras, self->n_loras + 1);
  self->loras[self->n_loras].path = g_strdup (path);
  self->loras[self->n_loras].strength = (float) strength;
  self->loras[self->n_loras].strength_high = (float) strength_high;
  self->n_loras++;
  return TRUE;
}

void
kinora_params_clear_loras (KinoraParams *self)
{
  for (int i = 0; i < self->n_loras; i++)
    g_free ((char *) self->loras[i].path);
  g_clear_pointer (&self->loras, g_free);
  self->n_loras = 0;
}

/* Fill engine params that borrow from @self; @image_storage must live as long as @out. */
void
kinora_params_to_ke (const KinoraParams   *self,
                     struct ke_gen_params *out,
                     struct ke_image      *image_storage)
{
  *out = ke_gen_params_default (self->task);
  out->task = self->task;
  out->prompt = self->prompt ? self->prompt : "";
  out->negative_prompt = self->negative_prompt;
  out->width = self->width;
  out->height = self->height;
  out->n_frames = self->n_frames;
  out->steps = self->steps;
  out->guide = (float) self->guide;
  out->guide_high = (float) self->guide_high;
  out->shift = (float) self->shift;
  out->seed = self->seed;
  out->fps = self->fps;
  out->solver = self->solver;
  out->precision = self->precision;
  /* device memory budget: values below 1 GiB (but not 0) mean 1, the smallest ke_gen_params_validate takes */
  out->vram_gib = self->vram_gib > 0 && self->vram_gib < KE_MIN_VRAM_GIB ? KE_MIN_VRAM_GIB : (float) self->vram_gib;
  if (self->backend != NULL)
    out->backend = self->backend;
  out->image = NULL;
  out->loras = self->loras;
  out->n_loras = self->n_loras;
  out->cache = self->cache;
  out->cache_threshold = (float) self->cache_threshold;
  out->cache_skipped = self->cache_skipped;
  out->decoder = self->decoder;
  out->preview_source = self->preview_source;
  out->taehv_path = self->taehv_path;

  if (self->image_rgb != NULL && self->task != KE_TASK_T2V_A14B)
    {
      image_storage->width = self->image_width;
      image_storage->height = self->image_height;
      image_storage->rgb = g_bytes_get_data (self->image_rgb, NULL);
      out->image = image_storage;
    }
}

gboolean
kinora_params_set_image_from_texture (KinoraParams *self,
                                      GdkTexture   *texture,
                                      const char   *path)
{
  int w, h;
  g_autofree guchar *rgba = NULL;
  guchar *rgb;

  g_clear_pointer (&self->image_rgb, g_bytes_unref);
  g_clear_pointer (&self->image_path, g_free);
  self->image_width = self->image_height = 0;
  if (texture == NULL)
    return TRUE;

  w = gdk_texture_get_width (texture);
  h = gdk_texture_get_height (texture);
  if (w <= 0 || h <= 0)
    return FALSE;

  /* GdkTexture downloads as premultiplied B8G8R8A8 (cairo ARGB32 order on little endian) */
  rgba = g_malloc ((gsize) w * h * 4);
  gdk_texture_download (texture, rgba, (gsize) w * 4);
  rgb = g_malloc ((gsize) w * h * 3);
  for (gsize i = 0; i < (gsize) w * h; i++)
    {
      guint32 px, a;
      memcpy (&px, rgba + i * 4, 4);
      a = px >> 24;
      /* undo the premultiplication: a transparent area keeps its colour */
      for (int c = 0; c < 3; c++)
        {
          guint32 v = (px >> (16 - 8 * c)) & 0xff;
          rgb[i * 3 + c] = (a == 0 || a == 255) ? v : MIN (255, (v * 255 + a / 2) / a);
        }
    }
  self->image_rgb = g_bytes_new_take (rgb, (gsize) w * h * 3);
  self->image_width = w;
  self->image_height = h;
  self->image_path = g_strdup (path);

  return TRUE;
}

/* by enum ke_task; "ltxv" is the LTX-Video task that follows I2V-A14B (KE_TASK_LTXV) */
static const char *task_names[] = { "ti2v-5b", "t2v-a14b", "i2v-a14b", "ltxv" };

const char *
kinora_task_to_string (enum ke_task task)
{
  if ((guint) task < G_N_ELEMENTS (task_names))
    return task_names[task];
  return "ti2v-5b";
}

gboolean
kinora_task_from_string (const char   *str,
                         enum ke_task *task)
{
  for (guint i = 0; str != NULL && i < G_N_ELEMENTS (task_names); i++)
    {
      if (g_strcmp0 (str, task_names[i]) == 0)
        {
          *task = (enum ke_task) i;
          return TRUE;
        }
    }
  return FALSE;
}

const char *
kinora_task_get_title (enum ke_task task)
{
  switch (task)
    {
    case KE_TASK_T2V_A14B:
      return _("Text (A14B)");
    case KE_TASK_I2V_A14B:
      return _("Image (A14B)");
    case KE_TASK_TI2V_5B:
    default:
      return _("Text or Image (5B)");
    }
}

const char *
kinora_stage_get_title (enum ke_stage stage)
{
  switch (stage)
    {
    case KE_STAGE_LOAD:
      return _("Loading the model");
    case KE_STAGE_TEXT:
      return _("Encoding the prompt");
    case KE_STAGE_IMAGE:
      return _("Encoding the image");
    case KE_STAGE_SAMPLE:
      return _("Sampling");
    case KE_STAGE_DECODE:
      return _("Decoding frames");
    case KE_STAGE_DONE:
    default:
      return _("Done");
    }
}

const char * const *
kinora_task_get_sizes (enum ke_task task,
                       gboolean     tiny)
{
  static const char * const ti2v[] = { "1280*704", "704*1280", NULL };
  static const char * const a14b[] = { "1280*720", "720*1280", "832*480", "480*832", NULL };
  static const char * const small[] = { "128*64", "64*64", "256*128", NULL };

  if (tiny)
    return small;
  if (task == KE_TASK_TI2V_5B)
    return ti2v;
  return a14b;
}

gboolean
kinora_parse_size (const char *str,
                   int        *width,
                   int        *height)
{
  char *end = NULL;
  gint64 w, h;

  if (str == NULL)
    return FALSE;
  w = g_ascii_strtoll (str, &end, 10);
  if (end == str)
    return FALSE;
  /* "W*H", "WxH" or "W × H" */
  while (*end == ' ')
    end++;
  if (*end == '*' || *end == 'x')
    end++;
  else if (g_str_has_prefix (end, "×"))
    end += strlen ("×");
  else
    return FALSE;
  while (*end == ' ')
    end++;
  str = end;
  h = g_ascii_strtoll (str, &end, 10);
  if (end == str || *end != '\0' || w <= 0 || h <= 0 || w > 16384 || h > 16384)
    return FALSE;
  *width = (int) w;
  *height = (int) h;
  return TRUE;
}

char *
kinora_size_to_label (int width,
                      int height)
{
  return g_strdup_printf ("%d × %d", width, height);
}

/* Frames must be 4n+1: round to the nearest such count, at least 1. */
int
kinora_snap_frames (int n_frames)
{
  if (n_frames <= 1)
    return 1;
  return ((n_frames - 1 + 2) / 4) * 4 + 1;
}

void
kinora_image_crop (enum ke_task     task,
                   int              image_width,
                   int              image_height,
                   int              width,
                   int              height,
                   graphene_rect_t *crop,
                   int             *out_width,
                   int             *out_height)
{
  double s;
  int ow, oh, of;

  graphene_rect_init (crop, 0, 0, image_width, image_height);
  *out_width = width;
  *out_height = height;
  if (image_width <= 0 || image_height <= 0)
    return;
  /* the engine's own rule: the size ke_generate will make from this image */
  if (ke_gen_output_size (task, width, height, 1, image_width, image_height, &ow, &oh, &of) != KE_STATUS_OK)
    return;
  *out_width = ow;
  *out_height = oh;
  if (task != KE_TASK_TI2V_5B)
    return;     /* I2V stretches the whole image; T2V ignores it */

  /* TI2V scales the image to cover the output and centre-crops: the visible region, in image pixels */
  s = MAX ((double) ow / image_width, (double) oh / image_height);
  graphene_rect_init (crop,
                      ((image_width * s - ow) / 2) / s,
                      ((image_height * s - oh) / 2) / s,
                      ow / s, oh / s);
}

/* --- JSON ---------------------------------------------------------------------------------------- */

/* The vocabulary of export/ (kinora-metadata.h): the same keys as the files' tags and sidecars. */
char *
kinora_params_to_json (const KinoraParams *self)
{
  struct ke_gen_params p;
  struct ke_image image;

  kinora_params_to_ke (self, &p, &image);
  return kinora_metadata_to_json (&p, self->model, self->image_path, NULL);
}

/* A string the record names under @key, or NULL */
static char *
record_dup_string (const char *json,
                   const char *key)
{
  json_object *o = json_tokener_parse (json);
  json_object *v = NULL;
  char *value = NULL;

  if (o != NULL && json_object_is_type (o, json_type_object) && json_object_object_get_ex (o, key, &v)
      && json_object_is_type (v, json_type_string))
    value = g_strdup (json_object_get_string (v));
  if (o != NULL)
    json_object_put (o);
  return value;
}

/* Reads what kinora_params_to_json() writes, the sidecar of a Kinora file, and the layouts of older
 * versions (kinora-metadata.c lists them). */
KinoraParams *
kinora_params_new_from_json (const char  *json,
                             GError     **error)
{
  g_autoptr(KinoraMetadata) m = NULL;
  g_autoptr(GError) local_error = NULL;
  KinoraParams *self;

  m = kinora_metadata_new_from_json (json, &local_error);
  if (m == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s (%s)", _("The settings file is not valid JSON"),
                   local_error->message);
      return NULL;
    }
  self = kinora_params_new_for_task (m->params.task);
  self->model = g_strdup (m->model);
  g_free (self->prompt);
  self->prompt = g_strdup (m->params.prompt);
  g_free (self->negative_prompt);
  self->negative_prompt = g_strdup (m->params.negative_prompt);
  self->image_path = g_strdup (m->image);
  self->width = m->params.width;
  self->height = m->params.height;
  self->n_frames = m->params.n_frames;
  self->fps = m->params.fps;
  self->steps = m->params.steps;
  self->guide = m->params.guide;
  self->guide_high = m->params.guide_high;
  self->shift = m->params.shift;
  if (m->params.seed >= 0)
    self->seed = m->params.seed;
  self->solver = m->params.solver;
  for (int i = 0; i < m->params.n_loras; i++)
    kinora_params_add_lora (self, m->params.loras[i].path, m->params.loras[i].strength,
                            m->params.loras[i].strength_high);
  self->cache = m->params.cache;
  self->cache_threshold = m->params.cache_threshold;
  self->cache_skipped = m->params.cache_skipped;
  self->decoder = m->params.decoder;
  self->preview_source = m->params.preview_source;
  self->taehv_path = g_strdup (m->params.taehv_path);
  /* backend and precision: only where the record names them (older records do not) */
  {
    g_autofree char *backend = record_dup_string (json, "backend");
    g_autofree char *precision = record_dup_string (json, "precision");

    if (backend != NULL && g_strv_contains ((const char * const[]) { "auto", "cpu", "cuda", NULL }, backend))
      self->backend = g_steal_pointer (&backend);
    /* fp32, bf16 or fp8; another name keeps the default */
    if (precision != NULL)
      ke_precision_from_name (precision, &self->precision);
  }
  return self;
}
