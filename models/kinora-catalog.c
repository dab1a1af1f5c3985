/* kinora-catalog.c: the model catalog parsed with json-c and checked.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>
#include <json-c/json.h>

#include "kinora-catalog.h"
#include "kinora-hub.h"

#ifndef KINORA_DATADIR
#define KINORA_DATADIR "/usr/share"
#endif

static const char *roles[] = { "dit", "dit-high", "dit-low", "text-encoder", "tokenizer", "vae", "lora", "lora-high",
                               "lora-low", "config", "image-encoder", "other",
                               /* LTX-Video: the single file (transformer + VAE) and the spatial upsampler */
                               "checkpoint", "upsampler" };

char *
kinora_catalog_dup_default_path (void)
{
  const char *env = g_getenv ("KINORA_CATALOG");
  if (env && *env)
    return g_strdup (env);
  g_autofree char *installed = g_build_filename (KINORA_DATADIR, "kinora", "models.json", NULL);
#ifdef KINORA_SOURCE_CATALOG
  /* run from the build folder before `ninja install` */
  if (!g_file_test (installed, G_FILE_TEST_IS_REGULAR) && g_file_test (KINORA_SOURCE_CATALOG, G_FILE_TEST_IS_REGULAR))
    return g_strdup (KINORA_SOURCE_CATALOG);
#endif
  return g_steal_pointer (&installed);
}

char *
kinora_models_dup_dir (void)
{
  const char *env = g_getenv ("KINORA_MODELS_DIR");
  if (env && *env)
    return g_strdup (env);
  return g_build_filename (g_get_user_data_dir (), "kinora", "models", NULL);
}

static void
file_free (gpointer p)
{
  KinoraCatalogFile *f = p;
  g_free (f->role);
  g_free (f->repo);
  g_free (f->path);
  g_free (f->revision);
  g_free (f->sha256);
  g_free (f);
}

static void
entry_free (gpointer p)
{
  KinoraCatalogEntry *e = p;
  g_free (e->name);
  g_free (e->title);
  g_free (e->kind);
  g_free (e->note);
  g_ptr_array_unref (e->files);
  g_strfreev (e->pairs);
  g_free (e);
}

void
kinora_catalog_free (KinoraCatalog *self)
{
  if (self == NULL)
    return;
  g_ptr_array_unref (self->entries);
  g_free (self);
}

/* A string member: *out NULL when absent or null; FALSE when of another type (or absent and required). */
static gboolean
get_string (json_object *o,
            const char  *key,
            gboolean     required,
            char       **out)
{
  json_object *v = NULL;
  *out = NULL;
  if (!json_object_object_get_ex (o, key, &v) || v == NULL)
    return !required;
  if (!json_object_is_type (v, json_type_string) || json_object_get_string_len (v) == 0)
    return FALSE;
  *out = g_strdup (json_object_get_string (v));
  return TRUE;
}

static gboolean
is_sha256 (const char *s)
{
  if (strlen (s) != 64)
    return FALSE;
  for (int i = 0; i < 64; i++)
    if (!g_ascii_isxdigit (s[i]))
      return FALSE;
  return TRUE;
}

static gboolean
known_role (const char *role)
{
  for (guint i = 0; i < G_N_ELEMENTS (roles); i++)
    if (strcmp (roles[i], role) == 0)
      return TRUE;
  return FALSE;
}

#define FAIL(...) do { g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, __VA_ARGS__); return NULL; } while (0)

static KinoraCatalogFile *
parse_file (const char  *path,
            const char  *entry,
            int          index,
            json_object *o,
            GError     **error)
{
  g_autoptr (GError) local = NULL;
  if (!json_object_is_type (o, json_type_object))
    FAIL ("%s: entry %s: file %d is not an object", path, entry, index);
  KinoraCatalogFile *f = g_new0 (KinoraCatalogFile, 1);
  g_autoptr (GPtrArray) keep = g_ptr_array_new_with_free_func (file_free);
  g_ptr_array_add (keep, f);
  if (!get_string (o, "role", TRUE, &f->role) || !known_role (f->role))
    FAIL ("%s: entry %s: file %d needs a role (dit, text-encoder, tokenizer, vae, lora, ...)", path, entry, index);
  if (!get_string (o, "repo", TRUE, &f->repo) || !get_string (o, "path", TRUE, &f->path))
    FAIL ("%s: entry %s: file %d needs \"repo\" and \"path\" strings", path, entry, index);
  if (!kinora_hub_check_names (f->repo, f->path, &local))
    FAIL ("%s: entry %s: %s", path, entry, local->message);
  if (!get_string (o, "revision", FALSE, &f->revision))
    FAIL ("%s: entry %s: file %s: \"revision\" must be a string", path, entry, f->path);
  if (!get_string (o, "sha256", FALSE, &f->sha256) || (f->sha256 && !is_sha256 (f->sha256)))
    FAIL ("%s: entry %s: file %s: \"sha256\" must be 64 hex digits or null", path, entry, f->path);
  json_object *v = NULL;
  if (json_object_object_get_ex (o, "size", &v) && v != NULL)
    {
      if (!json_object_is_type (v, json_type_int) || json_object_get_int64 (v) <= 0)
        FAIL ("%s: entry %s: file %s: \"size\" must be a positive whole number or null", path, entry, f->path);
      f->size = (guint64) json_object_get_int64 (v);
    }
  g_ptr_array_steal_index (keep, 0);
  return f;
}

static KinoraCatalogEntry *
parse_entry (const char  *path,
             int          index,
             json_object *o,
             GError     **error)
{
  if (!json_object_is_type (o, json_type_object))
    FAIL ("%s: entry %d is not an object", path, index);
  KinoraCatalogEntry *e = g_new0 (KinoraCatalogEntry, 1);
  e->files = g_ptr_array_new_with_free_func (file_free);
  g_autoptr (GPtrArray) keep = g_ptr_array_new_with_free_func (entry_free);
  g_ptr_array_add (keep, e);
  if (!get_string (o, "name", TRUE, &e->name))
    FAIL ("%s: entry %d needs a \"name\"", path, index);
  if (!get_string (o, "title", TRUE, &e->title) || !get_string (o, "kind", TRUE, &e->kind))
    FAIL ("%s: entry %s needs a \"title\" and a \"kind\"", path, e->name);
  if (!get_string (o, "note", FALSE, &e->note))
    FAIL ("%s: entry %s: \"note\" must be a string", path, e->name);
  json_object *files = NULL, *pairs = NULL;
  if (!json_object_object_get_ex (o, "files", &files) || !json_object_is_type (files, json_type_array) ||
      json_object_array_length (files) == 0)
    FAIL ("%s: entry %s needs a non-empty \"files\" list", path, e->name);
  for (size_t i = 0; i < json_object_array_length (files); i++)
    {
      KinoraCatalogFile *f = parse_file (path, e->name, (int) i, json_object_array_get_idx (files, i), error);
      if (f == NULL)
        return NULL;
      g_ptr_array_add (e->files, f);
    }
  GStrvBuilder *b = g_strv_builder_new ();
  if (json_object_object_get_ex (o, "pairs", &pairs) && pairs != NULL)
    {
      if (!json_object_is_type (pairs, json_type_array))
        {
          g_strv_builder_unref (b);
          FAIL ("%s: entry %s: \"pairs\" must be a list of entry names", path, e->name);
        }
      for (size_t i = 0; i < json_object_array_length (pairs); i++)
        {
          json_object *p = json_object_array_get_idx (pairs, i);
          if (!json_object_is_type (p, json_type_string))
            {
              g_strv_builder_unref (b);
              FAIL ("%s: entry %s: \"pairs\" must be a list of entry names", path, e->name);
            }
          g_strv_builder_add (b, json_object_get_string (p));
        }
    }
  e->pairs = g_strv_builder_end (b);
  g_strv_builder_unref (b);
  g_ptr_array_steal_index (keep, 0);
  return e;
}

KinoraCatalog *
kinora_catalog_load (const char *path,
                     GError    **error)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, error))
    return NULL;
  json_tokener *tok = json_tokener_new ();
  json_object *root = json_tokener_parse_ex (tok, text, -1);
  enum json_tokener_error jerr = json_tokener_get_error (tok);
  json_tokener_free (tok);
  if (root == NULL || jerr != json_tokener_success)
    {
      json_object_put (root);
      FAIL ("%s: not valid JSON: %s", path, json_tokener_error_desc (jerr));
    }
  json_object *entries = NULL;
  if (!json_object_object_get_ex (root, "entries", &entries) || !json_object_is_type (entries, json_type_array))
    {
      json_object_put (root);
      FAIL ("%s: no \"entries\" list", path);
    }
  g_autoptr (KinoraCatalog) cat = g_new0 (KinoraCatalog, 1);
  cat->entries = g_ptr_array_new_with_free_func (entry_free);
  for (size_t i = 0; i < json_object_array_length (entries); i++)
    {
      KinoraCatalogEntry *e = parse_entry (path, (int) i, json_object_array_get_idx (entries, i), error);
      if (e == NULL)
        {
          json_object_put (root);
          return NULL;
        }
      if (kinora_catalog_lookup (cat, e->name))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: entry %s appears twice", path, e->name);
          entry_free (e);
          json_object_put (root);
          return NULL;
        }
      g_ptr_array_add (cat->entries, e);
    }
  json_object_put (root);
  for (guint i = 0; i < cat->entries->len; i++)
    {
      KinoraCatalogEntry *e = g_ptr_array_index (cat->entries, i);
      for (int j = 0; e->pairs[j]; j++)
        if (kinora_catalog_lookup (cat, e->pairs[j]) == NULL || strcmp (e->pairs[j], e->name) == 0)
          FAIL ("%s: entry %s pairs with \"%s\", which is not another entry of the catalog", path, e->name, e->pairs[j]);
    }
  return g_steal_pointer (&cat);
}

const KinoraCatalogEntry *
kinora_catalog_lookup (const KinoraCatalog *self,
                       const char          *name)
{
  for (guint i = 0; i < self->entries->len; i++)
    {
      const KinoraCatalogEntry *e = g_ptr_array_index (self->entries, i);
      if (strcmp (e->name, name) == 0)
        return e;
    }
  return NULL;
}

char *
kinora_catalog_file_dest (const char              *models_dir,
                          const KinoraCatalogFile *file)
{
  return g_build_filename (models_dir, file->repo, file->path, NULL);
}

guint64
kinora_catalog_entry_size (const KinoraCatalogEntry *entry,
                           gboolean                 *complete)
{
  guint64 sum = 0;
  gboolean all = TRUE;
  for (guint i = 0; i < entry->files->len; i++)
    {
      const KinoraCatalogFile *f = g_ptr_array_index (entry->files, i);
      sum += f->size;
      all = all && f->size > 0;
    }
  if (complete)
    *complete = all;
  return sum;
}

guint
kinora_catalog_entry_n_present (const KinoraCatalogEntry *entry,
                                const char               *models_dir)
{
  guint n = 0;
  for (guint i = 0; i < entry->files->len; i++)
    {
      g_autofree char *dest = kinora_catalog_file_dest (models_dir, g_ptr_array_index (entry->files, i));
      n += g_file_test (dest, G_FILE_TEST_IS_REGULAR);
    }
  return n;
}

char *
kinora_models_spec_from_recorded (const char *recorded)
{
  if (recorded == NULL || *recorded == '\0')
    return NULL;
  if (g_str_has_prefix (recorded, "tiny ") && g_str_has_suffix (recorded, "(random weights)"))
    return g_strdup ("tiny");
  const char *open = strchr (recorded, '(');
  gsize n = strlen (recorded);
  if (g_str_has_prefix (recorded, "Wan2.2 ") && open && recorded[n - 1] == ')' && (gsize) (open - recorded) + 2 < n)
    return g_strndup (open + 1, n - (gsize) (open - recorded) - 2);
  return g_strdup (recorded);
}
