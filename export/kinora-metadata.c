/* kinora-metadata.c: the parameters stored with a generated video, as tags and JSON, and back.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "kinora-export.h"
#include "kinora-metadata.h"

#ifndef KINORA_VERSION
#define KINORA_VERSION "0.1.0"
#endif

/* The task names of the files (the GUI's; the engine's "ti2v-5B" spelling is read too). */
/* by enum ke_task; "ltxv" is the LTX-Video task that follows I2V-A14B (KE_TASK_LTXV) */
static const char *task_names[] = { "ti2v-5b", "t2v-a14b", "i2v-a14b", "ltxv" };

/* Keys whose values are numbers in the JSON: 'i' integers, 'd' reals. The old CLI's "guide" and
 * "guide_high" are here so that rewriting an old file keeps their type. */
static const struct
{
  const char *key;
  char        type;
} numeric_keys[] = {
  { "width", 'i' }, { "height", 'i' }, { "frames", 'i' }, { "steps", 'i' }, { "seed", 'i' },
  { "fps", 'd' }, { "guidance", 'd' }, { "guidance_high", 'd' }, { "shift", 'd' },
  { "guide", 'd' }, { "guide_high", 'd' },
  /* step caching */
  { "cache_threshold", 'd' }, { "cache_skipped", 'i' },
};

#define DIGEST_PREFIX "digest."
#define LORA_PREFIX "lora."

/* The backends a record may name; the parsed params point at these literals. */
static const char *const backend_names[] = { "auto", "cpu", "cuda" };

static const char *
backend_name (const char *backend)
{
  for (guint i = 0; backend != NULL && i < G_N_ELEMENTS (backend_names); i++)
    if (strcmp (backend, backend_names[i]) == 0)
      return backend_names[i];
  return "cpu";
}

static char
numeric_type (const char *key)
{
  for (guint i = 0; i < G_N_ELEMENTS (numeric_keys); i++)
    if (strcmp (key, numeric_keys[i].key) == 0)
      return numeric_keys[i].type;
  return 0;
}

/* The shortest decimal text that reads back as the same float (params hold floats). */
static void
format_float (char   *buf,
              gsize   size,
              float   v)
{
  for (int digits = 6; digits <= 9; digits++)
    {
      char fmt[8];
      g_snprintf (fmt, sizeof fmt, "%%.%dg", digits);
      g_ascii_formatd (buf, (int) size, fmt, v);
      if ((float) g_ascii_strtod (buf, NULL) == v)
        return;
    }
}

/* The same for a double (fps). */
static void
format_double (char   *buf,
               gsize   size,
               double  v)
{
  for (int digits = 6; digits <= 17; digits++)
    {
      char fmt[8];
      g_snprintf (fmt, sizeof fmt, "%%.%dg", digits);
      g_ascii_formatd (buf, (int) size, fmt, v);
      if (g_ascii_strtod (buf, NULL) == v)
        return;
    }
}

static void
add_pair (GStrvBuilder *b,
          const char   *key,
          const char   *value)
{
  g_autofree char *k = g_utf8_make_valid (key, -1);
  g_autofree char *v = g_utf8_make_valid (value ? value : "", -1);

  g_strv_builder_add (b, k);
  g_strv_builder_add (b, v);
}

/* What to read for the model a file records: "tiny" for the CLI's "tiny ti2v-5B test model (random
 * weights)", the folder of "Wan2.2 TI2V-5B (FOLDER)", else the text (a path or "tiny", as the app records
 * it); NULL when it names nothing on disk. */
static char *
recorded_spec (const char *model)
{
  const char *open = strrchr (model, '(');
  size_t n = strlen (model);

  if (g_str_has_prefix (model, "tiny"))
    return g_strdup ("tiny");
  if (open != NULL && n > 0 && model[n - 1] == ')')
    {
      g_autofree char *inner = g_strndup (open + 1, (gsize) (model + n - 1 - open - 1));
      if (g_file_test (inner, G_FILE_TEST_EXISTS))
        return g_steal_pointer (&inner);
    }
  if (g_file_test (model, G_FILE_TEST_EXISTS))
    return g_strdup (model);
  {
    /* FILE,FILE (LTX-Video's checkpoint and upsampler) */
    g_autofree char *first = g_strndup (model, strcspn (model, ","));
    if (g_file_test (first, G_FILE_TEST_EXISTS))
      return g_strdup (model);
  }
  return NULL;
}

char **
kinora_metadata_to_tags (const struct ke_gen_params *p,
                         const char                 *model,
                         const char                 *image,
                         const char * const         *digests)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  char num[G_ASCII_DTOSTR_BUF_SIZE];
  enum ke_solver known;
  const char *solver = ke_solver_name (p->solver);

  g_return_val_if_fail (p != NULL, NULL);

  add_pair (b, "prompt", p->prompt ? p->prompt : "");
  if (p->negative_prompt != NULL && p->negative_prompt[0] != '\0')
    add_pair (b, "negative_prompt", p->negative_prompt);
  if (model != NULL)
    {
      g_autofree char *spec = recorded_spec (model);
      struct ke_model_caps caps;

      add_pair (b, "model", model);
      /* model capabilities: the family and version read from the model's files */
      if (spec != NULL && ke_model_caps (spec, &caps, NULL) == KE_STATUS_OK)
        {
          add_pair (b, "model_family", ke_model_family_name (caps.family));
          add_pair (b, "model_version", caps.version);
        }
    }
  add_pair (b, "task", (guint) p->task < G_N_ELEMENTS (task_names) ? task_names[p->task] : task_names[0]);
#define ADD_INT(k, v) G_STMT_START { g_snprintf (num, sizeof num, "%" G_GINT64_FORMAT, (gint64) (v)); \
                                     add_pair (b, k, num); } G_STMT_END
  ADD_INT ("width", p->width);
  ADD_INT ("height", p->height);
  ADD_INT ("frames", p->n_frames);
  format_double (num, sizeof num, p->fps);
  add_pair (b, "fps", num);
  ADD_INT ("steps", p->steps);
  format_float (num, sizeof num, p->guide);
  add_pair (b, "guidance", num);
  format_float (num, sizeof num, p->guide_high);
  add_pair (b, "guidance_high", num);
  format_float (num, sizeof num, p->shift);
  add_pair (b, "shift", num);
  ADD_INT ("seed", p->seed);
#undef ADD_INT
  add_pair (b, "solver", ke_solver_from_name (solver, &known) == 0 ? solver : "unipc");
  /* step caching: the mode, the threshold used and the forwards it skipped (absent: no cache) */
  if (p->cache == KE_CACHE_EASY || p->cache == KE_CACHE_TEA || p->cache == KE_CACHE_MAG)
    {
      add_pair (b, "cache", ke_cache_mode_name (p->cache));
      format_float (num, sizeof num, p->cache_threshold < 0 ? ke_cache_default_threshold (p->cache, p->task)
                                                            : p->cache_threshold);
      add_pair (b, "cache_threshold", num);
      g_snprintf (num, sizeof num, "%d", p->cache_skipped);
      add_pair (b, "cache_skipped", num);
    }
  /* where it ran and how precisely: what was asked ("auto" stays "auto"); no backend means the CPU */
  add_pair (b, "backend", backend_name (p->backend));
  add_pair (b, "precision", ke_precision_name (p->precision));
  /* TAEHV draft decode and previews: written when used */
  if (p->decoder == KE_DECODER_TAEHV)
    add_pair (b, "decode", "taehv");
  if (p->preview_source == KE_PREVIEW_TAEHV)
    add_pair (b, "preview", "taehv");
  if ((p->decoder == KE_DECODER_TAEHV || p->preview_source == KE_PREVIEW_TAEHV) && p->taehv_path != NULL &&
      p->taehv_path[0] != '\0')
    add_pair (b, "taehv", p->taehv_path);
  if (image != NULL && image[0] != '\0')
    add_pair (b, "image", image);
  /* LoRAs (issue 14): lora.N = file, lora.N.strength, lora.N.strength_high, N from 1 */
  for (int i = 0; p->loras != NULL && i < p->n_loras; i++)
    {
      char key[64];
      g_snprintf (key, sizeof key, LORA_PREFIX "%d", i + 1);
      add_pair (b, key, p->loras[i].path);
      g_snprintf (key, sizeof key, LORA_PREFIX "%d.strength", i + 1);
      format_float (num, sizeof num, p->loras[i].strength);
      add_pair (b, key, num);
      g_snprintf (key, sizeof key, LORA_PREFIX "%d.strength_high", i + 1);
      format_float (num, sizeof num, p->loras[i].strength_high);
      add_pair (b, key, num);
    }
  for (int i = 0; digests != NULL && digests[i] != NULL && digests[i + 1] != NULL; i += 2)
    {
      g_autofree char *key = g_strconcat (DIGEST_PREFIX, digests[i], NULL);
      add_pair (b, key, digests[i + 1]);
    }
  add_pair (b, "generator", "Kinora " KINORA_VERSION);

  return g_strv_builder_end (b);
}

/* A whole-string number: integer (into *i) or real (into *d). */
static gboolean
parse_number (const char *s,
              gboolean    want_int,
              gint64     *i,
              double     *d)
{
  char *end = NULL;

  if (s == NULL || *s == '\0' || g_ascii_isspace (*s))
    return FALSE;
  errno = 0;
  if (want_int)
    {
      *i = g_ascii_strtoll (s, &end, 10);
      return errno == 0 && end != NULL && *end == '\0';
    }
  *d = g_ascii_strtod (s, &end);
  return errno == 0 && end != NULL && *end == '\0' && isfinite (*d);
}

/* A "lora.N[.strength|.strength_high]" tag into the "loras" array (element N - 1, made as needed);
 * FALSE for any other key. */
static gboolean
lora_tag (const char   *key,
          const char   *value,
          json_object **loras)
{
  const char *s = key + strlen (LORA_PREFIX);
  char *end = NULL;
  gint64 iv;
  double dv;
  guint64 n;

  if (!g_str_has_prefix (key, LORA_PREFIX) || !g_ascii_isdigit (*s))
    return FALSE;
  n = g_ascii_strtoull (s, &end, 10);
  if (n < 1 || n > KE_MAX_LORAS || (*end != '\0' && strcmp (end, ".strength") != 0 && strcmp (end, ".strength_high") != 0))
    return FALSE;
  if (*loras == NULL)
    *loras = json_object_new_array ();
  while (json_object_array_length (*loras) < n)
    json_object_array_add (*loras, json_object_new_object ());
  json_object *o = json_object_array_get_idx (*loras, n - 1);
  if (*end == '\0')
    json_object_object_add (o, "path", json_object_new_string (value));
  else if (parse_number (value, FALSE, &iv, &dv))
    json_object_object_add (o, end + 1, json_object_new_double_s (dv, value));
  else
    json_object_object_add (o, end + 1, json_object_new_string (value));
  return TRUE;
}

char *
kinora_metadata_tags_to_json (const char * const *tags)
{
  json_object *root = json_object_new_object ();
  json_object *digests = NULL;
  json_object *loras = NULL;
  char *ret;

  for (int i = 0; tags != NULL && tags[i] != NULL && tags[i + 1] != NULL; i += 2)
    {
      g_autofree char *key = g_utf8_make_valid (tags[i], -1);
      g_autofree char *value = g_utf8_make_valid (tags[i + 1], -1);
      char type = numeric_type (key);
      gint64 iv;
      double dv;

      if (lora_tag (key, value, &loras))
        continue;
      if (g_str_has_prefix (key, DIGEST_PREFIX) && key[strlen (DIGEST_PREFIX)] != '\0')
        {
          if (digests == NULL)
            digests = json_object_new_object ();
          json_object_object_add (digests, key + strlen (DIGEST_PREFIX), json_object_new_string (value));
        }
      else if (type == 'i' && parse_number (value, TRUE, &iv, &dv))
        json_object_object_add (root, key, json_object_new_int64 (iv));
      else if (type == 'd' && parse_number (value, FALSE, &iv, &dv))
        json_object_object_add (root, key, json_object_new_double_s (dv, value));
      else
        json_object_object_add (root, key, json_object_new_string (value));
    }
  if (digests != NULL)
    json_object_object_add (root, "digests", digests);
  if (loras != NULL)
    json_object_object_add (root, "loras", loras);
  ret = g_strdup (json_object_to_json_string_ext (root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put (root);
  return ret;
}

char *
kinora_metadata_to_json (const struct ke_gen_params *params,
                         const char                 *model,
                         const char                 *image,
                         const char * const         *digests)
{
  g_auto (GStrv) tags = kinora_metadata_to_tags (params, model, image, digests);

  return kinora_metadata_tags_to_json ((const char * const *) tags);
}

/* --- parsing ------------------------------------------------------------------------------------- */

static const char *
get_str (json_object *o,
         const char  *key)
{
  json_object *v;

  if (json_object_object_get_ex (o, key, &v) && json_object_is_type (v, json_type_string))
    return json_object_get_string (v);
  return NULL;
}

/* A number stored as a JSON number or as text. Returns FALSE when absent; an error when it is there but
 * not a number in [lo, hi]. */
static gboolean
get_real (json_object  *o,
          const char   *key,
          double        lo,
          double        hi,
          double       *out,
          gboolean     *bad,
          GError      **error)
{
  json_object *v;
  double d = NAN;
  gint64 unused;

  if (*bad || !json_object_object_get_ex (o, key, &v))
    return FALSE;
  if (json_object_is_type (v, json_type_int) || json_object_is_type (v, json_type_double))
    d = json_object_get_double (v);
  else if (!json_object_is_type (v, json_type_string)
           || !parse_number (json_object_get_string (v), FALSE, &unused, &d))
    d = NAN;
  if (!(d >= lo && d <= hi))
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA,
                   "parameter \"%s\": %s is not a number in %g..%g", key, json_object_to_json_string (v), lo, hi);
      *bad = TRUE;
      return FALSE;
    }
  *out = d;
  return TRUE;
}

static gboolean
get_int (json_object  *o,
         const char   *key,
         int           lo,
         int           hi,
         int          *out,
         gboolean     *bad,
         GError      **error)
{
  double d;

  if (!get_real (o, key, lo, hi, &d, bad, error))
    return FALSE;
  if (d != floor (d))
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA,
                   "parameter \"%s\": %g is not a whole number", key, d);
      *bad = TRUE;
      return FALSE;
    }
  *out = (int) d;
  return TRUE;
}

/* Seeds go up to 2^63 - 1: beyond a double's precision, so never through get_real. */
static gboolean
get_seed (json_object  *o,
          gint64       *out,
          gboolean     *bad,
          GError      **error)
{
  json_object *v;
  int64_t seed;

  if (*bad || !json_object_object_get_ex (o, "seed", &v))
    return FALSE;
  if (json_object_is_type (v, json_type_int))
    {
      errno = 0;
      seed = json_object_get_int64 (v);
      if (seed >= 0 && errno == 0)
        {
          *out = seed;
          return TRUE;
        }
    }
  else if (json_object_is_type (v, json_type_string) && ke_seed_parse (json_object_get_string (v), &seed))
    {
      *out = seed;
      return TRUE;
    }
  else if (json_object_is_type (v, json_type_string) && g_strcmp0 (json_object_get_string (v), "-1") == 0)
    {
      *out = -1;
      return TRUE;
    }
  g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA,
               "parameter \"seed\": %s is not a seed (0..9223372036854775807)", json_object_to_json_string (v));
  *bad = TRUE;
  return FALSE;
}

static char *
dup_nonempty (const char *s)
{
  return s != NULL && s[0] != '\0' ? g_utf8_make_valid (s, -1) : NULL;
}

/* "loras": [{"path": FILE, "strength": S, "strength_high": S_HIGH}, ...]; strengths default to 1 and to
 * the strength. Anything else is an error naming the entry. */
static gboolean
get_loras (KinoraMetadata  *self,
           json_object     *v,
           GError         **error)
{
  size_t n = json_object_is_type (v, json_type_array) ? json_object_array_length (v) : 0;
  gboolean bad = FALSE;

  if (!json_object_is_type (v, json_type_array) || n > KE_MAX_LORAS)
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA,
                   "parameter \"loras\": not a list of at most %d LoRAs", KE_MAX_LORAS);
      return FALSE;
    }
  if (n == 0)
    return TRUE;
  self->lora_storage = g_new0 (struct ke_lora_spec, n);
  self->lora_paths = g_new0 (char *, n + 1);
  for (size_t i = 0; i < n; i++)
    {
      json_object *e = json_object_array_get_idx (v, i);
      const char *path = json_object_is_type (e, json_type_object) ? get_str (e, "path") : NULL;
      double s = 1.0, sh;

      if (path == NULL || path[0] == '\0')
        {
          g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA,
                       "parameter \"loras\": LoRA %zu has no file", i + 1);
          return FALSE;
        }
      self->lora_paths[i] = g_utf8_make_valid (path, -1);
      get_real (e, "strength", -KE_MAX_LORA_STRENGTH, KE_MAX_LORA_STRENGTH, &s, &bad, error);
      sh = s;
      get_real (e, "strength_high", -KE_MAX_LORA_STRENGTH, KE_MAX_LORA_STRENGTH, &sh, &bad, error);
      if (bad)
        return FALSE;
      self->lora_storage[i].path = self->lora_paths[i];
      self->lora_storage[i].strength = (float) s;
      self->lora_storage[i].strength_high = (float) sh;
    }
  self->params.loras = self->lora_storage;
  self->params.n_loras = (int) n;
  return TRUE;
}

static KinoraMetadata *
from_object (json_object  *o,
             GError      **error)
{
  g_autoptr (KinoraMetadata) self = g_new0 (KinoraMetadata, 1);
  enum ke_task task = KE_TASK_TI2V_5B;
  const char *s;
  json_object *v;
  gboolean bad = FALSE;
  double d;
  int n;

  if ((s = get_str (o, "task")) != NULL)
    for (guint i = 0; i < G_N_ELEMENTS (task_names); i++)
      if (g_ascii_strcasecmp (s, task_names[i]) == 0)
        task = (enum ke_task) i;
  self->params = ke_gen_params_default (task);
  self->params.seed = -1;

  self->prompt_storage = g_utf8_make_valid (get_str (o, "prompt") ? get_str (o, "prompt") : "", -1);
  self->params.prompt = self->prompt_storage;
  /* the old CLI wrote "(official default)" for no negative prompt */
  s = get_str (o, "negative_prompt");
  if (g_strcmp0 (s, "(official default)") != 0)
    self->negative_storage = dup_nonempty (s);
  self->params.negative_prompt = self->negative_storage;
  self->model = dup_nonempty (get_str (o, "model"));
  self->image = dup_nonempty (get_str (o, "image"));
  self->generator = dup_nonempty (get_str (o, "generator"));
  self->model_family = dup_nonempty (get_str (o, "model_family"));
  self->model_version = dup_nonempty (get_str (o, "model_version"));

  get_int (o, "width", 1, 65536, &self->params.width, &bad, error);
  get_int (o, "height", 1, 65536, &self->params.height, &bad, error);
  if ((s = get_str (o, "size")) != NULL && !json_object_object_get_ex (o, "width", NULL))
    {
      int w = 0, h = 0;
      char x = 0, tail = 0;
      if (sscanf (s, "%d%c%d%c", &w, &x, &h, &tail) == 3 && (x == 'x' || x == '*') && w > 0 && h > 0 &&
          w <= 65536 && h <= 65536)
        {
          self->params.width = w;
          self->params.height = h;
        }
      else if (!bad)
        {
          g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA,
                       "parameter \"size\": \"%s\" is not WIDTHxHEIGHT", s);
          bad = TRUE;
        }
    }
  get_int (o, "frames", 1, 100000, &self->params.n_frames, &bad, error);
  get_int (o, "steps", 0, 100000, &self->params.steps, &bad, error);
  if (get_real (o, "fps", 1e-3, 1e4, &d, &bad, error))
    self->params.fps = d;
  if (get_real (o, "guidance", 0, 1e6, &d, &bad, error) || get_real (o, "guide", 0, 1e6, &d, &bad, error))
    self->params.guide = (float) d;
  if (get_real (o, "guidance_high", 0, 1e6, &d, &bad, error) || get_real (o, "guide_high", 0, 1e6, &d, &bad, error))
    self->params.guide_high = (float) d;
  if (get_real (o, "shift", 0, 1e6, &d, &bad, error))
    self->params.shift = (float) d;
  get_seed (o, &self->params.seed, &bad, error);
  /* by name (the CLI, now everyone) or by number (the GUI before) */
  if (!bad && json_object_object_get_ex (o, "solver", &v))
    {
      s = json_object_is_type (v, json_type_string) ? json_object_get_string (v) : NULL;
      gboolean named = s != NULL && ke_solver_from_name (s, &self->params.solver) == 0;

      if (!named && get_int (o, "solver", KE_SOLVER_UNIPC, KE_SOLVER_EULER, &n, &bad, NULL))
        self->params.solver = (enum ke_solver) n;
      else if (!named)
        {
          g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA,
                       "parameter \"solver\": %s is not unipc, dpm++, euler or euler-lightning",
                       json_object_to_json_string (v));
          bad = TRUE;
        }
    }
  /* step caching: files without it ran uncached */
  if (!bad && json_object_object_get_ex (o, "cache", &v))
    {
      s = json_object_is_type (v, json_type_string) ? json_object_get_string (v) : NULL;
      if (s == NULL || ke_cache_mode_from_name (s, &self->params.cache) != 0)
        {
          g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA,
                       "parameter \"cache\": %s is not off, easy, tea or mag", json_object_to_json_string (v));
          bad = TRUE;
        }
    }
  if (get_real (o, "cache_threshold", 0, KE_MAX_CACHE_THRESHOLD, &d, &bad, error))
    self->params.cache_threshold = (float) d;
  get_int (o, "cache_skipped", 0, INT_MAX, &self->params.cache_skipped, &bad, error);
  /* backend and precision: files before them say nothing, and keep the defaults */
  if (!bad && json_object_object_get_ex (o, "backend", &v))
    {
      s = json_object_is_type (v, json_type_string) ? json_object_get_string (v) : NULL;
      self->params.backend = NULL;
      for (guint i = 0; s != NULL && i < G_N_ELEMENTS (backend_names); i++)
        if (strcmp (s, backend_names[i]) == 0)
          self->params.backend = backend_names[i];
      if (self->params.backend == NULL)
        {
          g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA,
                       "parameter \"backend\": %s is not auto, cpu or cuda", json_object_to_json_string (v));
          bad = TRUE;
        }
    }
  if (!bad && json_object_object_get_ex (o, "precision", &v))
    {
      s = json_object_is_type (v, json_type_string) ? json_object_get_string (v) : NULL;
      if (s == NULL || ke_precision_from_name (s, &self->params.precision) != 0)
        {
          g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA,
                       "parameter \"precision\": %s is not bf16, fp8 or fp32", json_object_to_json_string (v));
          bad = TRUE;
        }
    }
  if (!bad && json_object_object_get_ex (o, "loras", &v))
    bad = !get_loras (self, v, error);
  /* TAEHV draft decode and previews: files without them keep the VAE and latent previews */
  if (!bad && json_object_object_get_ex (o, "decode", &v))
    {
      s = json_object_is_type (v, json_type_string) ? json_object_get_string (v) : NULL;
      if (g_strcmp0 (s, "taehv") == 0)
        self->params.decoder = KE_DECODER_TAEHV;
      else if (g_strcmp0 (s, "vae") == 0)
        self->params.decoder = KE_DECODER_VAE;
      else
        {
          g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA,
                       "parameter \"decode\": %s is not vae or taehv", json_object_to_json_string (v));
          bad = TRUE;
        }
    }
  if (!bad && json_object_object_get_ex (o, "preview", &v))
    {
      s = json_object_is_type (v, json_type_string) ? json_object_get_string (v) : NULL;
      if (g_strcmp0 (s, "taehv") == 0)
        self->params.preview_source = KE_PREVIEW_TAEHV;
      else if (g_strcmp0 (s, "latent") == 0)
        self->params.preview_source = KE_PREVIEW_LATENT;
      else
        {
          g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA,
                       "parameter \"preview\": %s is not latent or taehv", json_object_to_json_string (v));
          bad = TRUE;
        }
    }
  if (!bad)
    {
      self->taehv_storage = dup_nonempty (get_str (o, "taehv"));
      self->params.taehv_path = self->taehv_storage;
    }
  if (!bad && json_object_object_get_ex (o, "digests", &v) && json_object_is_type (v, json_type_object))
    {
      g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
      json_object_object_foreach (v, name, digest)
        if (json_object_is_type (digest, json_type_string))
          {
            add_pair (b, name, json_object_get_string (digest));
          }
      self->digests = g_strv_builder_end (b);
    }
  if (bad)
    return NULL;
  return g_steal_pointer (&self);
}

KinoraMetadata *
kinora_metadata_new_from_json (const char  *json,
                               GError     **error)
{
  json_object *o = json ? json_tokener_parse (json) : NULL;
  KinoraMetadata *ret;

  if (o == NULL || !json_object_is_type (o, json_type_object))
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA, "the parameters are not a JSON object");
      json_object_put (o);
      return NULL;
    }
  ret = from_object (o, error);
  json_object_put (o);
  return ret;
}

KinoraMetadata *
kinora_metadata_new_from_tags (const char * const  *tags,
                               GError             **error)
{
  g_autofree char *json = kinora_metadata_tags_to_json (tags);

  return kinora_metadata_new_from_json (json, error);
}

KinoraMetadata *
kinora_metadata_new_from_text (const char  *text,
                               GError     **error)
{
  g_auto (GStrv) lines = NULL;
  g_autoptr (GPtrArray) tags = NULL;
  const char *p = text;

  if (text == NULL)
    return kinora_metadata_new_from_json (NULL, error);
  while (g_ascii_isspace (*p))
    p++;
  if (*p == '{')
    return kinora_metadata_new_from_json (p, error);
  /* the comment of older files: "key=value" lines */
  lines = g_strsplit (text, "\n", -1);
  tags = g_ptr_array_new_with_free_func (g_free);
  for (int i = 0; lines[i] != NULL; i++)
    {
      const char *eq = strchr (lines[i], '=');
      if (eq == NULL || eq == lines[i])
        continue;
      g_ptr_array_add (tags, g_strndup (lines[i], (gsize) (eq - lines[i])));
      g_ptr_array_add (tags, g_strdup (eq + 1));
    }
  if (tags->len == 0)
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA, "no Kinora parameters in the text");
      return NULL;
    }
  g_ptr_array_add (tags, NULL);
  return kinora_metadata_new_from_tags ((const char * const *) tags->pdata, error);
}

void
kinora_metadata_free (KinoraMetadata *self)
{
  if (self == NULL)
    return;
  g_free (self->prompt_storage);
  g_free (self->negative_storage);
  g_free (self->lora_storage);
  g_strfreev (self->lora_paths);
  g_free (self->taehv_storage);
  g_free (self->model);
  g_free (self->image);
  g_strfreev (self->digests);
  g_free (self->generator);
  g_free (self->model_family);
  g_free (self->model_version);
  g_free (self);
}

char *
kinora_metadata_file_digest (const char  *path,
                             GError     **error)
{
  g_autoptr (GMappedFile) map = NULL;
  g_autofree char *hex = NULL;

  /* a FIFO or device would block or never end */
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO, "%s: not a regular file", path);
      return NULL;
    }
  map = g_mapped_file_new (path, FALSE, error);
  if (map == NULL)
    return NULL;
  hex = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) g_mapped_file_get_contents (map),
                                     g_mapped_file_get_length (map));
  return g_strconcat ("sha256:", hex, NULL);
}
