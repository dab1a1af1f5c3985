/* kinora-queue-file.c: the job queue as JSON (json-c), saved atomically.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <string.h>
#include <gio/gio.h>
#include <json-c/json.h>

#include "kinora-queue-file.h"

static const char *state_names[] = { "pending", "running", "done", "failed" };

const char *
kinora_queue_state_to_string (KinoraQueueState state)
{
  return (guint) state < G_N_ELEMENTS (state_names) ? state_names[state] : "pending";
}

void
kinora_queue_entry_free (KinoraQueueEntry *entry)
{
  if (entry == NULL)
    return;
  g_free (entry->id);
  g_free (entry->error);
  g_free (entry->output);
  g_free (entry->settings);
  g_free (entry);
}

static gboolean
is_object_text (const char *text)
{
  json_object *o = text ? json_tokener_parse (text) : NULL;
  gboolean ok = o != NULL && json_object_is_type (o, json_type_object);
  json_object_put (o);
  return ok;
}

KinoraQueueEntry *
kinora_queue_entry_new (const char *settings,
                        const char *output)
{
  if (!is_object_text (settings))
    return NULL;
  KinoraQueueEntry *e = g_new0 (KinoraQueueEntry, 1);
  e->id = g_uuid_string_random ();
  e->state = KINORA_QUEUE_PENDING;
  e->settings = g_strdup (settings);
  e->output = g_strdup (output);
  return e;
}

KinoraQueueEntry *
kinora_queue_entry_copy (const KinoraQueueEntry *entry)
{
  KinoraQueueEntry *e = g_new0 (KinoraQueueEntry, 1);
  e->id = g_strdup (entry->id);
  e->state = entry->state;
  e->error = g_strdup (entry->error);
  e->output = g_strdup (entry->output);
  e->settings = g_strdup (entry->settings);
  return e;
}

void
kinora_queue_entry_set_state (KinoraQueueEntry *entry,
                              KinoraQueueState  state,
                              const char       *error)
{
  entry->state = state;
  g_free (entry->error);
  entry->error = g_strdup (error);
}

KinoraQueueFile *
kinora_queue_file_new (void)
{
  KinoraQueueFile *self = g_new0 (KinoraQueueFile, 1);
  self->entries = g_ptr_array_new_with_free_func ((GDestroyNotify) kinora_queue_entry_free);
  return self;
}

void
kinora_queue_file_free (KinoraQueueFile *self)
{
  if (self == NULL)
    return;
  g_ptr_array_unref (self->entries);
  g_free (self);
}

static const char *
get_str (json_object *o,
         const char  *key)
{
  json_object *v = NULL;
  if (json_object_object_get_ex (o, key, &v) && json_object_is_type (v, json_type_string))
    return json_object_get_string (v);
  return NULL;
}

KinoraQueueFile *
kinora_queue_file_load (const char *path,
                        GError    **error)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, error))
    return NULL;
  json_object *root = json_tokener_parse (text);
  json_object *jobs = NULL, *v = NULL;
  if (root == NULL || !json_object_is_type (root, json_type_object) ||
      !json_object_object_get_ex (root, "jobs", &jobs) || !json_object_is_type (jobs, json_type_array))
    {
      json_object_put (root);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: not a Kinora queue (a JSON object with a \"jobs\" list)",
                   path);
      return NULL;
    }
  g_autoptr (KinoraQueueFile) self = kinora_queue_file_new ();
  if (json_object_object_get_ex (root, "paused", &v))
    self->paused = json_object_get_boolean (v);
  for (size_t i = 0; i < json_object_array_length (jobs); i++)
    {
      json_object *j = json_object_array_get_idx (jobs, i), *settings = NULL;
      if (!json_object_is_type (j, json_type_object) || !json_object_object_get_ex (j, "settings", &settings) ||
          !json_object_is_type (settings, json_type_object))
        {
          json_object_put (root);
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: job %zu has no \"settings\" object", path, i + 1);
          return NULL;
        }
      KinoraQueueEntry *e = g_new0 (KinoraQueueEntry, 1);
      const char *id = get_str (j, "id"), *state = get_str (j, "state");
      e->id = id && *id ? g_strdup (id) : g_uuid_string_random ();
      e->state = KINORA_QUEUE_PENDING;
      for (guint k = 0; state && k < G_N_ELEMENTS (state_names); k++)
        if (strcmp (state, state_names[k]) == 0)
          e->state = (KinoraQueueState) k;
      e->error = g_strdup (get_str (j, "error"));
      e->output = g_strdup (get_str (j, "output"));
      e->settings = g_strdup (json_object_to_json_string_ext (settings, JSON_C_TO_STRING_PLAIN));
      g_ptr_array_add (self->entries, e);
    }
  json_object_put (root);
  return g_steal_pointer (&self);
}

gboolean
kinora_queue_file_save (const KinoraQueueFile *self,
                        const char            *path,
                        GError               **error)
{
  json_object *root = json_object_new_object ();
  json_object *jobs = json_object_new_array ();
  json_object_object_add (root, "format", json_object_new_int (1));
  json_object_object_add (root, "paused", json_object_new_boolean (self->paused));
  for (guint i = 0; i < self->entries->len; i++)
    {
      const KinoraQueueEntry *e = g_ptr_array_index (self->entries, i);
      json_object *j = json_object_new_object ();
      json_object_object_add (j, "id", json_object_new_string (e->id));
      json_object_object_add (j, "state", json_object_new_string (kinora_queue_state_to_string (e->state)));
      if (e->error)
        json_object_object_add (j, "error", json_object_new_string (e->error));
      if (e->output)
        json_object_object_add (j, "output", json_object_new_string (e->output));
      json_object *s = json_tokener_parse (e->settings);
      json_object_object_add (j, "settings", s ? s : json_object_new_object ());
      json_object_array_add (jobs, j);
    }
  json_object_object_add (root, "jobs", jobs);
  const char *text = json_object_to_json_string_ext (root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
  g_autofree char *dir = g_path_get_dirname (path);
  gboolean ok = g_mkdir_with_parents (dir, 0755) == 0 && g_file_set_contents (path, text, -1, error);
  if (!ok && error && *error == NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: cannot create the folder", dir);
  else if (!ok)
    g_prefix_error (error, "%s: ", path);
  json_object_put (root);
  return ok;
}
