/* kinora-queue.c: the app's job queue, a GListModel saved after every change.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "kinora-queue.h"

struct _KinoraQueueItem
{
  GObject           parent_instance;
  KinoraQueueEntry *entry;
  KinoraParams     *params;
};

G_DEFINE_FINAL_TYPE (KinoraQueueItem, kinora_queue_item, G_TYPE_OBJECT)

enum { ITEM_PROP_0, ITEM_PROP_STATE, ITEM_N_PROPS };
static GParamSpec *item_props[ITEM_N_PROPS];

static void
kinora_queue_item_finalize (GObject *object)
{
  KinoraQueueItem *self = KINORA_QUEUE_ITEM (object);
  kinora_queue_entry_free (self->entry);
  kinora_params_free (self->params);
  G_OBJECT_CLASS (kinora_queue_item_parent_class)->finalize (object);
}

static void
kinora_queue_item_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  KinoraQueueItem *self = KINORA_QUEUE_ITEM (object);
  if (prop_id == ITEM_PROP_STATE)
    g_value_set_int (value, self->entry->state);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
}

static void
kinora_queue_item_class_init (KinoraQueueItemClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->finalize = kinora_queue_item_finalize;
  object_class->get_property = kinora_queue_item_get_property;
  item_props[ITEM_PROP_STATE] = g_param_spec_int ("state", NULL, NULL, KINORA_QUEUE_PENDING, KINORA_QUEUE_FAILED,
                                                  KINORA_QUEUE_PENDING, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, ITEM_N_PROPS, item_props);
}

static void
kinora_queue_item_init (KinoraQueueItem *self)
{
}

static KinoraQueueItem *
item_new (KinoraQueueEntry *entry)
{
  KinoraQueueItem *self = g_object_new (KINORA_TYPE_QUEUE_ITEM, NULL);
  self->entry = entry;
  self->params = kinora_params_new_from_json (entry->settings, NULL);
  return self;
}

const char *
kinora_queue_item_get_id (KinoraQueueItem *self)
{
  return self->entry->id;
}

KinoraQueueState
kinora_queue_item_get_state (KinoraQueueItem *self)
{
  return self->entry->state;
}

const char *
kinora_queue_item_get_error (KinoraQueueItem *self)
{
  return self->entry->error;
}

const KinoraParams *
kinora_queue_item_get_params (KinoraQueueItem *self)
{
  return self->params;
}

static void
item_set_state (KinoraQueueItem  *self,
                KinoraQueueState  state,
                const char       *error)
{
  kinora_queue_entry_set_state (self->entry, state, error);
  g_object_notify_by_pspec (G_OBJECT (self), item_props[ITEM_PROP_STATE]);
}

/* --- the queue --------------------------------------------------------------------------------- */

struct _KinoraQueue
{
  GObject    parent_instance;
  char      *path;
  GPtrArray *items;   /* KinoraQueueItem */
  gboolean   paused;
  GError    *save_error;
};

static void kinora_queue_list_model_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (KinoraQueue, kinora_queue, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, kinora_queue_list_model_init))

enum { PROP_0, PROP_PAUSED, PROP_N_WAITING, N_PROPS };
static GParamSpec *props[N_PROPS];

static GType
list_get_item_type (GListModel *model)
{
  return KINORA_TYPE_QUEUE_ITEM;
}

static guint
list_get_n_items (GListModel *model)
{
  return KINORA_QUEUE (model)->items->len;
}

static gpointer
list_get_item (GListModel *model,
               guint       position)
{
  KinoraQueue *self = KINORA_QUEUE (model);
  return position < self->items->len ? g_object_ref (g_ptr_array_index (self->items, position)) : NULL;
}

static void
kinora_queue_list_model_init (GListModelInterface *iface)
{
  iface->get_item_type = list_get_item_type;
  iface->get_n_items = list_get_n_items;
  iface->get_item = list_get_item;
}

static void
kinora_queue_finalize (GObject *object)
{
  KinoraQueue *self = KINORA_QUEUE (object);
  g_ptr_array_unref (self->items);
  g_free (self->path);
  g_clear_error (&self->save_error);
  G_OBJECT_CLASS (kinora_queue_parent_class)->finalize (object);
}

static void
kinora_queue_get_property (GObject    *object,
                           guint       prop_id,
                           GValue     *value,
                           GParamSpec *pspec)
{
  KinoraQueue *self = KINORA_QUEUE (object);
  switch (prop_id)
    {
    case PROP_PAUSED: g_value_set_boolean (value, self->paused); break;
    case PROP_N_WAITING: g_value_set_uint (value, kinora_queue_get_n_waiting (self)); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
kinora_queue_set_property (GObject      *object,
                           guint         prop_id,
                           const GValue *value,
                           GParamSpec   *pspec)
{
  if (prop_id == PROP_PAUSED)
    kinora_queue_set_paused (KINORA_QUEUE (object), g_value_get_boolean (value));
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
}

static void
kinora_queue_class_init (KinoraQueueClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  object_class->finalize = kinora_queue_finalize;
  object_class->get_property = kinora_queue_get_property;
  object_class->set_property = kinora_queue_set_property;
  props[PROP_PAUSED] = g_param_spec_boolean ("paused", NULL, NULL, FALSE,
                                             G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  props[PROP_N_WAITING] = g_param_spec_uint ("n-waiting", NULL, NULL, 0, G_MAXUINT, 0,
                                             G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, props);
}

static void
kinora_queue_init (KinoraQueue *self)
{
  self->items = g_ptr_array_new_with_free_func (g_object_unref);
}

static void
save (KinoraQueue *self)
{
  g_autoptr(KinoraQueueFile) file = kinora_queue_file_new ();

  file->paused = self->paused;
  for (guint i = 0; i < self->items->len; i++)
    {
      KinoraQueueItem *item = g_ptr_array_index (self->items, i);
      g_ptr_array_add (file->entries, kinora_queue_entry_copy (item->entry));
    }
  g_clear_error (&self->save_error);
  if (!kinora_queue_file_save (file, self->path, &self->save_error))
    g_debug ("%s", self->save_error->message);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_N_WAITING]);
}

char *
kinora_queue_dup_default_path (void)
{
  return g_build_filename (g_get_user_data_dir (), "kinora", "queue.json", NULL);
}

KinoraQueue *
kinora_queue_new (const char  *path,
                  GError     **error)
{
  KinoraQueue *self = g_object_new (KINORA_TYPE_QUEUE, NULL);
  g_autoptr(GError) local = NULL;
  g_autoptr(KinoraQueueFile) file = NULL;

  self->path = g_strdup (path);
  file = kinora_queue_file_load (path, &local);
  if (file == NULL)
    {
      if (!g_error_matches (local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        {
          /* keep what could not be read; start empty */
          g_autofree char *aside = g_strconcat (path, ".bad", NULL);
          g_rename (path, aside);
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("The saved queue could not be read (kept as %s): %s"),
                       aside, local->message);
        }
      return self;
    }
  for (guint i = 0; i < file->entries->len; i++)
    {
      KinoraQueueEntry *e = g_ptr_array_index (file->entries, i);
      if (e->state == KINORA_QUEUE_DONE)
        continue;
      if (e->state == KINORA_QUEUE_RUNNING)
        kinora_queue_entry_set_state (e, KINORA_QUEUE_PENDING, NULL);
      g_ptr_array_add (self->items, item_new (kinora_queue_entry_copy (e)));
    }
  self->paused = file->paused || kinora_queue_get_n_waiting (self) > 0;
  return self;
}

static int
find (KinoraQueue *self,
      const char  *id)
{
  for (guint i = 0; i < self->items->len; i++)
    if (g_strcmp0 (kinora_queue_item_get_id (g_ptr_array_index (self->items, i)), id) == 0)
      return (int) i;
  return -1;
}

KinoraQueueItem *
kinora_queue_add (KinoraQueue        *self,
                  const KinoraParams *params)
{
  g_autofree char *json = kinora_params_to_json (params);
  KinoraQueueEntry *entry = kinora_queue_entry_new (json, NULL);
  KinoraQueueItem *item;

  g_return_val_if_fail (entry != NULL, NULL);
  item = item_new (entry);
  g_ptr_array_add (self->items, item);
  save (self);
  g_list_model_items_changed (G_LIST_MODEL (self), self->items->len - 1, 0, 1);
  return item;
}

gboolean
kinora_queue_remove (KinoraQueue *self,
                     const char  *id)
{
  int i = find (self, id);

  if (i < 0 || kinora_queue_item_get_state (g_ptr_array_index (self->items, i)) == KINORA_QUEUE_RUNNING)
    return FALSE;
  g_ptr_array_remove_index (self->items, i);
  save (self);
  g_list_model_items_changed (G_LIST_MODEL (self), i, 1, 0);
  return TRUE;
}

gboolean
kinora_queue_move (KinoraQueue *self,
                   const char  *id,
                   guint        position)
{
  int i = find (self, id);
  KinoraQueueItem *item;

  if (i < 0)
    return FALSE;
  position = MIN (position, self->items->len - 1);
  if ((guint) i == position)
    return TRUE;
  item = g_ptr_array_steal_index (self->items, i);
  g_ptr_array_insert (self->items, position, item);
  save (self);
  g_list_model_items_changed (G_LIST_MODEL (self), MIN ((guint) i, position), ABS ((int) position - i) + 1,
                              ABS ((int) position - i) + 1);
  return TRUE;
}

gboolean
kinora_queue_get_paused (KinoraQueue *self)
{
  return self->paused;
}

void
kinora_queue_set_paused (KinoraQueue *self,
                         gboolean     paused)
{
  paused = !!paused;
  if (self->paused == paused)
    return;
  self->paused = paused;
  save (self);
  g_object_notify_by_pspec (G_OBJECT (self), props[PROP_PAUSED]);
}

guint
kinora_queue_get_n_waiting (KinoraQueue *self)
{
  guint n = 0;
  for (guint i = 0; i < self->items->len; i++)
    n += kinora_queue_item_get_state (g_ptr_array_index (self->items, i)) == KINORA_QUEUE_PENDING;
  return n;
}

KinoraQueueItem *
kinora_queue_take_next (KinoraQueue *self)
{
  if (self->paused)
    return NULL;
  for (guint i = 0; i < self->items->len; i++)
    {
      KinoraQueueItem *item = g_ptr_array_index (self->items, i);
      if (kinora_queue_item_get_state (item) != KINORA_QUEUE_PENDING)
        continue;
      item_set_state (item, KINORA_QUEUE_RUNNING, NULL);
      save (self);
      g_list_model_items_changed (G_LIST_MODEL (self), i, 1, 1);
      return g_object_ref (item);
    }
  return NULL;
}

void
kinora_queue_finish (KinoraQueue     *self,
                     KinoraQueueItem *item,
                     const GError    *error)
{
  int i = find (self, kinora_queue_item_get_id (item));

  if (i < 0)
    return;
  if (error == NULL)
    {
      g_ptr_array_remove_index (self->items, i);
      save (self);
      g_list_model_items_changed (G_LIST_MODEL (self), i, 1, 0);
      return;
    }
  item_set_state (item, KINORA_QUEUE_FAILED, error->message);
  save (self);
  g_list_model_items_changed (G_LIST_MODEL (self), i, 1, 1);
}

const GError *
kinora_queue_get_save_error (KinoraQueue *self)
{
  return self->save_error;
}
