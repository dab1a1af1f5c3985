/* kinora-history.c: every result under the user data dir, with its settings and thumbnail
 *
 * Each result is a folder <id>/ holding params.json, thumbnail.png, video.mp4 and, for
 * image-to-video, input.png. It is written as <id>.partial/ and renamed when complete,
 * so a crash or a full disk leaves no half entry; leftovers are removed on reload.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <json-c/json.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <gdk-pixbuf/gdk-pixbuf.h>

#include "kinora-exporter.h"
#include "kinora-history.h"

/* --- KinoraHistoryItem --------------------------------------------------------------------------- */

struct _KinoraHistoryItem
{
  GObject parent_instance;

  char         *id;
  GFile        *dir;
  KinoraParams *params;
  GdkTexture   *thumbnail;
  GDateTime    *created;
  gboolean      thumbnail_pending;
};

G_DEFINE_FINAL_TYPE (KinoraHistoryItem, kinora_history_item, G_TYPE_OBJECT)

enum { PROP_0, PROP_THUMBNAIL, N_PROPS };
static GParamSpec *item_props[N_PROPS];

/* Thumbnails are written at most 256 pixels wide; one declaring more than this is refused unread
 * (three 16384² thumbnails took 1.9 GB and froze the window for 15 s when decoded whole). */
#define THUMBNAIL_SIZE 256
#define THUMBNAIL_MAX_SIDE 4096
#define THUMBNAIL_MAX_BYTES (8 << 20)
#define PARAMS_MAX_BYTES (1 << 20)

static void
kinora_history_item_finalize (GObject *object)
{
  KinoraHistoryItem *self = KINORA_HISTORY_ITEM (object);

  g_free (self->id);
  g_clear_object (&self->dir);
  g_clear_pointer (&self->params, kinora_params_free);
  g_clear_object (&self->thumbnail);
  g_clear_pointer (&self->created, g_date_time_unref);
  G_OBJECT_CLASS (kinora_history_item_parent_class)->finalize (object);
}

static void
kinora_history_item_get_property (GObject    *object,
                                  guint       prop_id,
                                  GValue     *value,
                                  GParamSpec *pspec)
{
  KinoraHistoryItem *self = KINORA_HISTORY_ITEM (object);

  switch (prop_id)
    {
    case PROP_THUMBNAIL:
      g_value_set_object (value, self->thumbnail);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
kinora_history_item_class_init (KinoraHistoryItemClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = kinora_history_item_finalize;
  object_class->get_property = kinora_history_item_get_property;
  /* NULL until decoded off the main thread (and when the thumbnail is missing or refused) */
  item_props[PROP_THUMBNAIL] = g_param_spec_object ("thumbnail", NULL, NULL, GDK_TYPE_TEXTURE,
                                                    G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY |
                                                    G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, item_props);
}

static void
kinora_history_item_init (KinoraHistoryItem *self)
{
}

/* Refuse a file that is not a regular file (a FIFO blocked the window forever) or is over max_bytes;
 * links are not followed: the history writes plain files only. */
static gboolean
check_plain_file (GFile    *file,
                  goffset   max_bytes,
                  GError  **error)
{
  g_autoptr(GFileInfo) info = g_file_query_info (file, G_FILE_ATTRIBUTE_STANDARD_TYPE "," G_FILE_ATTRIBUTE_STANDARD_SIZE,
                                                 G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, error);
  g_autofree char *path = g_file_get_path (file);

  if (info == NULL)
    return FALSE;
  if (g_file_info_get_file_type (info) != G_FILE_TYPE_REGULAR)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE, _("%s is not a regular file"), path);
      return FALSE;
    }
  if (g_file_info_get_size (info) > max_bytes)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("%s is too large (%lld bytes)"),
                   path, (long long) g_file_info_get_size (info));
      return FALSE;
    }
  return TRUE;
}

/* Before kinora_params_new_from_json casts numbers to int: every number of the settings must be finite
 * and fit an int (width 1e300 was undefined behaviour and showed as a negative size). */
static gboolean
check_json_numbers (const char  *json,
                    const char  *path,
                    GError     **error)
{
  json_object *o = json_tokener_parse (json);
  gboolean ok = TRUE;

  if (o == NULL || !json_object_is_type (o, json_type_object))
    {
      if (o != NULL)
        json_object_put (o);
      return TRUE;   /* the settings parser reports it */
    }
  json_object_object_foreach (o, key, v)
    {
      double d = json_object_get_double (v);

      if (!json_object_is_type (v, json_type_double))
        continue;
      if (!isfinite (d) || d > G_MAXINT || d < G_MININT)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("%s: “%s” is %g, out of range"), path, key, d);
          ok = FALSE;
          break;
        }
    }
  json_object_put (o);
  return ok;
}

/* The ranges a history entry's settings must lie in to be listed (the GUI never writes others). */
gboolean
kinora_history_params_validate (const KinoraParams  *p,
                                GError             **error)
{
  const char *what = NULL;
  char range[64] = "";

  if (p->width < 1 || p->width > KINORA_HISTORY_MAX_SIDE)
    what = "width", g_snprintf (range, sizeof range, "1 to %d", KINORA_HISTORY_MAX_SIDE);
  else if (p->height < 1 || p->height > KINORA_HISTORY_MAX_SIDE)
    what = "height", g_snprintf (range, sizeof range, "1 to %d", KINORA_HISTORY_MAX_SIDE);
  else if (p->n_frames < 1 || p->n_frames > KINORA_HISTORY_MAX_FRAMES)
    what = "frames", g_snprintf (range, sizeof range, "1 to %d", KINORA_HISTORY_MAX_FRAMES);
  else if (p->steps < 1 || p->steps > 1000)
    what = "steps", g_snprintf (range, sizeof range, "1 to 1000");
  else if (!(p->fps > 0 && p->fps <= 1000))
    what = "fps", g_snprintf (range, sizeof range, "above 0, at most 1000");
  else if (!(p->guide >= 0 && p->guide <= 1000) || !(p->guide_high >= 0 && p->guide_high <= 1000))
    what = "guidance", g_snprintf (range, sizeof range, "0 to 1000");
  else if (!(p->shift >= 0 && p->shift <= 1000))
    what = "shift", g_snprintf (range, sizeof range, "0 to 1000");
  if (what == NULL)
    return TRUE;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("The setting “%s” is out of range (valid: %s)"), what,
               range);
  return FALSE;
}

/* Reads one finished entry; NULL if it is not one. The thumbnail is decoded later, off the main thread. */
static KinoraHistoryItem *
kinora_history_item_load (GFile      *dir,
                          GError    **error)
{
  g_autoptr(KinoraHistoryItem) self = NULL;
  g_autoptr(GFile) json_file = g_file_get_child (dir, "params.json");
  g_autoptr(GFileInfo) info = NULL;
  g_autofree char *json = NULL;
  g_autofree char *json_path = g_file_get_path (json_file);

  if (!check_plain_file (json_file, PARAMS_MAX_BYTES, error) ||
      !g_file_load_contents (json_file, NULL, &json, NULL, NULL, error) ||
      !check_json_numbers (json, json_path, error))
    return NULL;

  self = g_object_new (KINORA_TYPE_HISTORY_ITEM, NULL);
  self->params = kinora_params_new_from_json (json, error);
  if (self->params == NULL || !kinora_history_params_validate (self->params, error))
    {
      g_prefix_error (error, "%s: ", json_path);
      return NULL;
    }
  self->dir = g_object_ref (dir);
  self->id = g_file_get_basename (dir);
  info = g_file_query_info (json_file, G_FILE_ATTRIBUTE_TIME_MODIFIED, G_FILE_QUERY_INFO_NONE, NULL, NULL);
  if (info != NULL)
    self->created = g_file_info_get_modification_date_time (info);
  if (self->created == NULL)
    self->created = g_date_time_new_now_local ();

  return g_steal_pointer (&self);
}

static void
thumbnail_thread (GTask        *task,
                  gpointer      source_object,
                  gpointer      task_data,
                  GCancellable *cancellable)
{
  GFile *file = task_data;
  g_autofree char *path = g_file_get_path (file);
  g_autoptr(GError) error = NULL;
  GdkPixbuf *pixbuf;
  int w = 0, h = 0;

  if (!check_plain_file (file, THUMBNAIL_MAX_BYTES, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  /* the header only: refuse a declared size past the bound before any pixel is decoded */
  if (gdk_pixbuf_get_file_info (path, &w, &h) == NULL || w < 1 || h < 1 ||
      w > THUMBNAIL_MAX_SIDE || h > THUMBNAIL_MAX_SIDE)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: %dx%d is not a thumbnail", path, w, h);
      return;
    }
  pixbuf = gdk_pixbuf_new_from_file_at_scale (path, THUMBNAIL_SIZE, THUMBNAIL_SIZE, TRUE, &error);
  if (pixbuf == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, pixbuf, g_object_unref);
}

static void
thumbnail_done_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  KinoraHistoryItem *self = KINORA_HISTORY_ITEM (source);
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkPixbuf) pixbuf = g_task_propagate_pointer (G_TASK (result), &error);

  self->thumbnail_pending = FALSE;
  if (pixbuf == NULL)
    {
      g_debug ("history thumbnail not shown: %s", error->message);
      return;
    }
  g_set_object (&self->thumbnail, NULL);
  self->thumbnail = gdk_texture_new_for_pixbuf (pixbuf);
  g_object_notify_by_pspec (G_OBJECT (self), item_props[PROP_THUMBNAIL]);
}

/* Decode the thumbnail in a worker thread, at thumbnail size; "thumbnail" is notified when it is set. */
static void
kinora_history_item_load_thumbnail (KinoraHistoryItem *self)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, thumbnail_done_cb, NULL);

  self->thumbnail_pending = TRUE;
  g_task_set_source_tag (task, kinora_history_item_load_thumbnail);
  g_task_set_task_data (task, g_file_get_child (self->dir, "thumbnail.png"), g_object_unref);
  g_task_run_in_thread (task, thumbnail_thread);
}

gboolean
kinora_history_item_is_thumbnail_pending (KinoraHistoryItem *self)
{
  return self->thumbnail_pending;
}

const char *
kinora_history_item_get_id (KinoraHistoryItem *self)
{
  return self->id;
}

GFile *
kinora_history_item_get_dir (KinoraHistoryItem *self)
{
  return self->dir;
}

GFile *
kinora_history_item_dup_video (KinoraHistoryItem *self)
{
  return g_file_get_child (self->dir, "video.mp4");
}

GFile *
kinora_history_item_dup_image (KinoraHistoryItem *self)
{
  g_autoptr(GFile) file = g_file_get_child (self->dir, "input.png");

  if (g_file_query_exists (file, NULL))
    return g_steal_pointer (&file);
  return NULL;
}

const KinoraParams *
kinora_history_item_get_params (KinoraHistoryItem *self)
{
  return self->params;
}

GdkTexture *
kinora_history_item_get_thumbnail (KinoraHistoryItem *self)
{
  return self->thumbnail;
}

GDateTime *
kinora_history_item_get_created (KinoraHistoryItem *self)
{
  return self->created;
}

/* --- KinoraHistory ------------------------------------------------------------------------------- */

struct _KinoraHistory
{
  GObject parent_instance;

  GFile     *dir;
  GPtrArray *items;   /* newest first */
};

static void list_model_iface_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (KinoraHistory, kinora_history, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, list_model_iface_init))

static GType
get_item_type (GListModel *model)
{
  return KINORA_TYPE_HISTORY_ITEM;
}

static guint
get_n_items (GListModel *model)
{
  return KINORA_HISTORY (model)->items->len;
}

static gpointer
get_item (GListModel *model,
          guint       position)
{
  KinoraHistory *self = KINORA_HISTORY (model);

  if (position >= self->items->len)
    return NULL;
  return g_object_ref (g_ptr_array_index (self->items, position));
}

static void
list_model_iface_init (GListModelInterface *iface)
{
  iface->get_item_type = get_item_type;
  iface->get_n_items = get_n_items;
  iface->get_item = get_item;
}

static void
kinora_history_finalize (GObject *object)
{
  KinoraHistory *self = KINORA_HISTORY (object);

  g_clear_object (&self->dir);
  g_clear_pointer (&self->items, g_ptr_array_unref);
  G_OBJECT_CLASS (kinora_history_parent_class)->finalize (object);
}

static void
kinora_history_class_init (KinoraHistoryClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = kinora_history_finalize;
}

static void
kinora_history_init (KinoraHistory *self)
{
  self->items = g_ptr_array_new_with_free_func (g_object_unref);
}

KinoraHistory *
kinora_history_new (GFile *dir)
{
  KinoraHistory *self = g_object_new (KINORA_TYPE_HISTORY, NULL);

  if (dir != NULL)
    self->dir = g_object_ref (dir);
  else
    self->dir = g_file_new_build_filename (g_get_user_data_dir (), "kinora", "history", NULL);
  kinora_history_reload (self);
  return self;
}

GFile *
kinora_history_get_dir (KinoraHistory *self)
{
  return self->dir;
}

/* Delete a file or a folder tree without ever following a symbolic link: a link inside an entry (or
 * a stale .partial one) is removed itself, never the folder it points to. */
static gboolean
delete_tree (GFile   *file,
             GError **error)
{
  g_autoptr(GFileInfo) info = g_file_query_info (file, G_FILE_ATTRIBUTE_STANDARD_TYPE,
                                                 G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, error);

  if (info == NULL)
    return FALSE;
  if (g_file_info_get_file_type (info) == G_FILE_TYPE_DIRECTORY)
    {
      g_autoptr(GFileEnumerator) e = g_file_enumerate_children (file, G_FILE_ATTRIBUTE_STANDARD_NAME,
                                                                G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, error);
      GFileInfo *child_info;
      GFile *child;

      if (e == NULL)
        return FALSE;
      while (g_file_enumerator_iterate (e, &child_info, &child, NULL, error) && child_info != NULL)
        if (!delete_tree (child, error))
          return FALSE;
    }
  return g_file_delete (file, NULL, error);
}

static int
compare_items (gconstpointer a,
               gconstpointer b)
{
  KinoraHistoryItem *ia = *(KinoraHistoryItem **) a;
  KinoraHistoryItem *ib = *(KinoraHistoryItem **) b;

  /* ids start with the time, so a reverse string order is newest first */
  return -g_strcmp0 (ia->id, ib->id);
}

void
kinora_history_reload (KinoraHistory *self)
{
  g_autoptr(GFileEnumerator) e = NULL;
  guint old_len = self->items->len;

  g_ptr_array_set_size (self->items, 0);
  e = g_file_enumerate_children (self->dir, G_FILE_ATTRIBUTE_STANDARD_NAME "," G_FILE_ATTRIBUTE_STANDARD_TYPE ","
                                 G_FILE_ATTRIBUTE_TIME_MODIFIED,
                                 G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
  while (e != NULL)
    {
      GFileInfo *info;
      GFile *child;

      if (!g_file_enumerator_iterate (e, &info, &child, NULL, NULL) || info == NULL)
        break;
      if (g_file_info_get_file_type (info) != G_FILE_TYPE_DIRECTORY)
        continue;
      if (g_str_has_suffix (g_file_info_get_name (info), ".partial"))
        {
          /* an entry whose writing never finished (crash, full disk); one younger than an hour
           * may still be written by another running instance */
          g_autoptr(GDateTime) mtime = g_file_info_get_modification_date_time (info);
          g_autoptr(GDateTime) now = g_date_time_new_now_utc ();

          if (mtime == NULL || g_date_time_difference (now, mtime) > G_TIME_SPAN_HOUR)
            delete_tree (child, NULL);
          continue;
        }
      {
        g_autoptr(GError) error = NULL;
        KinoraHistoryItem *item = kinora_history_item_load (child, &error);

        if (item == NULL)
          {
            g_debug ("history entry not listed: %s", error ? error->message : "unknown error");
            continue;
          }
        g_ptr_array_add (self->items, item);
        kinora_history_item_load_thumbnail (item);
      }
    }
  g_ptr_array_sort (self->items, compare_items);
  g_list_model_items_changed (G_LIST_MODEL (self), 0, old_len, self->items->len);
}

typedef struct
{
  KinoraParams *params;
  KinoraVideo  *video;
  GFile        *dir;
} AddData;

static void
add_data_free (AddData *data)
{
  kinora_params_free (data->params);
  kinora_video_unref (data->video);
  g_clear_object (&data->dir);
  g_free (data);
}

static gboolean
write_png (GFile        *file,
           const guint8 *rgb,
           int           width,
           int           height,
           int           max_size,
           GError      **error)
{
  g_autoptr(GBytes) bytes = g_bytes_new (rgb, (gsize) width * height * 3);
  g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new_from_bytes (bytes, GDK_COLORSPACE_RGB, FALSE, 8,
                                                           width, height, width * 3);
  g_autoptr(GdkPixbuf) scaled = NULL;
  g_autofree char *buffer = NULL;
  gsize size;

  if (max_size > 0 && (width > max_size || height > max_size))
    {
      double s = (double) max_size / MAX (width, height);
      scaled = gdk_pixbuf_scale_simple (pixbuf, MAX (1, (int) (width * s)), MAX (1, (int) (height * s)),
                                        GDK_INTERP_BILINEAR);
    }
  if (!gdk_pixbuf_save_to_buffer (scaled ? scaled : pixbuf, &buffer, &size, "png", error, NULL))
    return FALSE;
  /* replace_contents writes a temporary file and renames it: never a torn file */
  return g_file_replace_contents (file, buffer, size, NULL, FALSE, G_FILE_CREATE_NONE, NULL, NULL, error);
}

static void
add_thread (GTask        *task,
            gpointer      source_object,
            gpointer      task_data,
            GCancellable *cancellable)
{
  AddData *data = task_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autofree char *stamp = g_date_time_format (now, "%Y%m%d-%H%M%S");
  g_autofree char *id = g_strdup_printf ("%s-%06u", stamp, g_random_int_range (0, 1000000));
  g_autofree char *partial_name = g_strconcat (id, ".partial", NULL);
  g_autoptr(GFile) partial = g_file_get_child (data->dir, partial_name);
  g_autoptr(GFile) final = g_file_get_child (data->dir, id);
  g_autoptr(GFile) json_file = g_file_get_child (partial, "params.json");
  g_autoptr(GFile) thumb_file = g_file_get_child (partial, "thumbnail.png");
  g_autoptr(GFile) video_file = g_file_get_child (partial, "video.mp4");
  g_autofree char *video_path = g_file_get_path (video_file);
  g_autofree char *json = NULL;
  g_autofree char *partial_path = NULL;
  g_autofree char *final_path = NULL;
  KinoraVideo *v = data->video;

  if (!g_file_make_directory_with_parents (partial, cancellable, &error))
    goto fail;

  if (data->params->image_rgb != NULL)
    {
      g_autoptr(GFile) image_file = g_file_get_child (partial, "input.png");
      g_autofree char *image_path = g_file_get_path (final);
      g_autofree char *saved_image = g_build_filename (image_path, "input.png", NULL);

      if (!write_png (image_file, g_bytes_get_data (data->params->image_rgb, NULL),
                      data->params->image_width, data->params->image_height, 0, &error))
        goto fail;
      /* reuse finds the copy even when the original moves */
      g_free (data->params->image_path);
      data->params->image_path = g_steal_pointer (&saved_image);
    }

  json = kinora_params_to_json (data->params);
  if (!g_file_replace_contents (json_file, json, strlen (json), NULL, FALSE, G_FILE_CREATE_NONE, NULL,
                                cancellable, &error))
    goto fail;
  if (!write_png (thumb_file, kinora_video_get_frame (v, v->n_frames / 2), v->width, v->height, 256, &error))
    goto fail;
  if (!kinora_exporter_write (v, data->params, KINORA_EXPORT_MP4, video_path, FALSE, &error))
    goto fail;

  partial_path = g_file_get_path (partial);
  final_path = g_file_get_path (final);
  if (g_rename (partial_path, final_path) != 0)
    {
      int errsv = errno;
      g_set_error (&error, G_IO_ERROR, g_io_error_from_errno (errsv), "%s", g_strerror (errsv));
      goto fail;
    }

  {
    KinoraHistoryItem *item = kinora_history_item_load (final, &error);
    if (item == NULL)
      goto fail;
    g_task_return_pointer (task, item, g_object_unref);
  }
  return;

fail:
  delete_tree (partial, NULL);
  g_task_return_new_error (task, G_IO_ERROR, error ? error->code : G_IO_ERROR_FAILED,
                           _("Could not save the result to the history: %s"),
                           error ? error->message : _("unknown error"));
}

void
kinora_history_add_async (KinoraHistory      *self,
                          const KinoraParams *params,
                          KinoraVideo        *video,
                          GCancellable       *cancellable,
                          GAsyncReadyCallback callback,
                          gpointer            user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  AddData *data = g_new0 (AddData, 1);

  data->params = kinora_params_copy (params);
  data->video = kinora_video_ref (video);
  data->dir = g_object_ref (self->dir);
  g_task_set_source_tag (task, kinora_history_add_async);
  g_task_set_task_data (task, data, (GDestroyNotify) add_data_free);
  g_task_run_in_thread (task, add_thread);
}

KinoraHistoryItem *
kinora_history_add_finish (KinoraHistory  *self,
                           GAsyncResult   *result,
                           GError        **error)
{
  KinoraHistoryItem *item;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  item = g_task_propagate_pointer (G_TASK (result), error);
  if (item != NULL)
    {
      kinora_history_item_load_thumbnail (item);
      g_ptr_array_insert (self->items, 0, g_object_ref (item));
      g_list_model_items_changed (G_LIST_MODEL (self), 0, 0, 1);
    }
  return item;
}

gboolean
kinora_history_remove (KinoraHistory      *self,
                       KinoraHistoryItem  *item,
                       GError            **error)
{
  guint pos;

  /* a hidden entry (deletion waiting for its undo toast) is no longer listed but still on disk */
  if (g_ptr_array_find (self->items, item, &pos))
    {
      g_ptr_array_remove_index (self->items, pos);
      g_list_model_items_changed (G_LIST_MODEL (self), pos, 1, 0);
    }
  if (!g_file_query_exists (item->dir, NULL))
    return TRUE;
  return delete_tree (item->dir, error);
}

void
kinora_history_hide (KinoraHistory     *self,
                     KinoraHistoryItem *item)
{
  guint pos;

  if (!g_ptr_array_find (self->items, item, &pos))
    return;
  g_ptr_array_remove_index (self->items, pos);
  g_list_model_items_changed (G_LIST_MODEL (self), pos, 1, 0);
}

void
kinora_history_unhide (KinoraHistory     *self,
                       KinoraHistoryItem *item)
{
  guint pos = 0;

  if (g_ptr_array_find (self->items, item, NULL))
    return;
  /* back in its place: the list is newest first */
  while (pos < self->items->len && compare_items (&g_ptr_array_index (self->items, pos), &item) < 0)
    pos++;
  g_ptr_array_insert (self->items, (gint) pos, g_object_ref (item));
  g_list_model_items_changed (G_LIST_MODEL (self), pos, 0, 1);
}
