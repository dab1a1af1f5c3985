/* kinora-drop.c: settings from a Kinora file dropped on the window.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include <glib/gi18n.h>

#include "kinora-catalog.h"
#include "kinora-drop.h"
#include "kinora-metadata.h"
#include "kinora-window-private.h"

gboolean
kinora_window_restore_from_file (KinoraWindow  *self,
                                 GFile         *file,
                                 GError       **error)
{
  g_autofree char *path = g_file_get_path (file);
  g_autoptr(GError) local = NULL;
  g_autoptr(KinoraMetadata) meta = NULL;
  g_autoptr(KinoraParams) params = NULL;
  g_autofree char *json = NULL;
  g_autofree char *model = NULL;

  g_return_val_if_fail (KINORA_IS_WINDOW (self), FALSE);

  if (path == NULL)
    {
      g_autofree char *uri = g_file_get_uri (file);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, _("%s: only local files can be read"), uri);
      return FALSE;
    }
  if (self->job != NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY, _("%s: settings can be restored once the current video is done"),
                   path);
      return FALSE;
    }
  meta = kinora_metadata_read (path, &local);
  if (meta == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("No Kinora settings to restore: %s"), local->message);
      return FALSE;
    }
  /* the app's own reading of the vocabulary, with the model as the app opens it */
  model = kinora_models_spec_from_recorded (meta->model);
  json = kinora_metadata_to_json (&meta->params, model, meta->image, NULL);
  params = kinora_params_new_from_json (json, error);
  if (params == NULL)
    return FALSE;
  kinora_window_apply_params (self, params);
  adw_view_stack_set_visible_child_name (self->view_stack, "studio");
  _kinora_window_toast (self, _("Settings restored"));
  return TRUE;
}

gboolean
kinora_window_drop_value (KinoraWindow *self,
                          const GValue *value)
{
  GFile *file = NULL;
  g_autoptr(GError) error = NULL;

  if (G_VALUE_HOLDS (value, G_TYPE_FILE))
    file = g_value_get_object (value);
  else if (G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST))
    {
      GSList *files = gdk_file_list_get_files (g_value_get_boxed (value));
      file = files ? files->data : NULL;
      g_slist_free (files);
    }
  if (file == NULL)
    return FALSE;
  if (!kinora_window_restore_from_file (self, file, &error))
    {
      g_clear_error (&self->last_error);
      self->last_error = g_error_copy (error);
      _kinora_window_toast (self, error->message);
      return FALSE;
    }
  g_clear_error (&self->last_error);
  return TRUE;
}

static gboolean
drop_cb (GtkDropTarget *target,
         const GValue  *value,
         double         x,
         double         y,
         gpointer       user_data)
{
  return kinora_window_drop_value (KINORA_WINDOW (user_data), value);
}

void
_kinora_window_drop_init (KinoraWindow *self)
{
  GtkDropTarget *target = gtk_drop_target_new (G_TYPE_INVALID, GDK_ACTION_COPY);
  GType types[] = { GDK_TYPE_FILE_LIST, G_TYPE_FILE };

  gtk_drop_target_set_gtypes (target, types, G_N_ELEMENTS (types));
  g_signal_connect_object (target, "drop", G_CALLBACK (drop_cb), self, 0);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (target));
}
