/* kinora-window-actions.c: the window's actions: generate, cancel, export, history
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include <glib/gi18n.h>

#include "kinora-preferences.h"
#include "kinora-window-private.h"
#include "kinora-window-queue.h"

static void
set_last_error (KinoraWindow *self,
                const GError *error)
{
  g_clear_error (&self->last_error);
  if (error != NULL)
    self->last_error = g_error_copy (error);
}

/* A callback that outlived its window (closed meanwhile) must not touch the widgets. */
static gboolean
is_disposed (KinoraWindow *self)
{
  return self->settings == NULL;
}

static void
show_error (KinoraWindow *self,
            const GError *error)
{
  if (is_disposed (self))
    return;
  set_last_error (self, error);
  _kinora_window_toast (self, error->message);
}

void
_kinora_window_update_actions (KinoraWindow *self)
{
  gboolean busy = self->job != NULL;
  g_autofree char *prompt = NULL;
  gboolean have_model;
  gboolean need_image;
  gboolean have_result = self->result != NULL || self->result_item != NULL;

  {
    GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->prompt_view);
    GtkTextIter s, e;
    gtk_text_buffer_get_bounds (buffer, &s, &e);
    prompt = gtk_text_buffer_get_text (buffer, &s, &e, FALSE);
  }
  have_model = adw_combo_row_get_selected (self->model_row) != GTK_INVALID_LIST_POSITION
               && self->load_cancellable == NULL;
  need_image = self->task == KE_TASK_I2V_A14B && kinora_image_picker_get_texture (self->image_picker) == NULL;

  /* while busy, Generate queues the settings (kinora-window-queue.c) */
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.generate", have_model && !need_image);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.cancel", busy);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.stop-and-keep", busy);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.export", have_result && !busy);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.reuse-settings", !busy);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.reset-settings", !busy);
  gtk_widget_set_visible (self->cancel_button, busy);
  gtk_widget_set_visible (self->keep_button, busy);
}

/* --- generate ------------------------------------------------------------------------------------ */

static void
job_progress_cb (KinoraWindow *self,
                 int           stage,
                 int           step,
                 int           n_steps,
                 double        elapsed,
                 double        eta,
                 int           skipped,
                 KinoraJob    *job)
{
  if (job != self->job)
    return;
  kinora_preview_view_set_progress (self->preview_view, (enum ke_stage) stage, step, n_steps, elapsed, eta);
  kinora_preview_view_set_skipped (self->preview_view, skipped);
}

static void
job_preview_cb (KinoraWindow *self,
                KinoraVideo  *frames,
                int           step,
                int           n_steps,
                KinoraJob    *job)
{
  if (job != self->job)
    return;
  self->n_previews++;
  kinora_preview_view_set_frames (self->preview_view, frames, step, n_steps);
}

static void
finish_job (KinoraWindow *self)
{
  g_signal_handlers_disconnect_by_data (self->job, self);
  g_clear_object (&self->job);
  g_clear_object (&self->job_cancellable);
  _kinora_window_update_actions (self);
}

static void
back_to_idle_page (KinoraWindow *self)
{
  gtk_stack_set_visible_child_name (self->output_stack,
                                    self->result != NULL || self->result_item != NULL ? "result" : "ready");
}

void
_kinora_window_show_result (KinoraWindow      *self,
                            KinoraHistoryItem *item,
                            KinoraVideo       *frames)
{
  const KinoraParams *p = item ? kinora_history_item_get_params (item) : self->result_params;
  g_autofree char *text = NULL;

  if (frames != NULL && frames != self->result)
    {
      g_clear_pointer (&self->result, kinora_video_unref);
      self->result = kinora_video_ref (frames);
    }
  else if (frames == NULL)
    {
      g_clear_pointer (&self->result, kinora_video_unref);
    }
  if (item != NULL)
    {
      g_set_object (&self->result_item, item);
      g_clear_pointer (&self->result_params, kinora_params_free);
      self->result_params = kinora_params_copy (kinora_history_item_get_params (item));
      {
        g_autoptr(GFile) video = kinora_history_item_dup_video (item);
        kinora_player_set_file (self->player, video, p->fps);
      }
    }
  if (p != NULL)
    {
      /* Translators: a result's size, frame count, rate and seed */
      g_autofree char *seed = g_strdup_printf ("%" G_GINT64_FORMAT, p->seed);
      text = g_strdup_printf (_("%d × %d, %d frames at %g fps, seed %s"),
                              self->result ? self->result->width : p->width,
                              self->result ? self->result->height : p->height,
                              self->result ? self->result->n_frames : p->n_frames, p->fps, seed);
      if (p->cache != KE_CACHE_OFF)
        {
          /* Translators: appended to a result's description when the step cache ran: the model passes
           * (DiT forwards) it answered from earlier steps instead of running them */
          char *with_cache = g_strdup_printf (_("%s, %d passes skipped by the step cache"), text, p->cache_skipped);
          g_free (text);
          text = with_cache;
        }
      gtk_label_set_label (self->result_label, text);
    }
  gtk_stack_set_visible_child_name (self->output_stack, "result");
  adw_view_stack_set_visible_child_name (self->view_stack, "studio");
  _kinora_window_update_actions (self);
}

static void
history_add_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(KinoraWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(KinoraHistoryItem) item = kinora_history_add_finish (KINORA_HISTORY (source), result, &error);

  if (is_disposed (self))
    return;
  if (item == NULL)
    {
      /* the frames stay in memory: the result can still be exported */
      show_error (self, error);
      g_clear_object (&self->result_item);
      gtk_stack_set_visible_child_name (self->output_stack, "result");
      _kinora_window_update_actions (self);
      return;
    }
  _kinora_window_show_result (self, item, self->result);
}

static void
generate_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  KinoraJob *job = KINORA_JOB (source);
  g_autoptr(KinoraWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(KinoraVideo) video = NULL;
  gint64 seed = 0;

  video = kinora_job_generate_finish (job, result, &seed, &error);
  if (job != self->job)
    return;   /* the window moved on (closed, or another run) */

  finish_job (self);
  _kinora_window_queue_job_done (self, video == NULL ? error : NULL);

  if (video == NULL)
    {
      /* cancellation is never shown */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        show_error (self, error);
      back_to_idle_page (self);
      return;
    }

  g_clear_pointer (&self->result_params, kinora_params_free);
  self->result_params = kinora_params_copy (kinora_job_get_params (job));
  g_clear_object (&self->result_item);
  g_clear_pointer (&self->result, kinora_video_unref);
  self->result = kinora_video_ref (video);
  kinora_player_stop (self->player);

  /* without a lock, the next run gets a new seed */
  if (!gtk_toggle_button_get_active (self->seed_lock))
    gtk_spin_button_set_value (self->seed_spin, g_random_int ());

  kinora_history_add_async (self->history, self->result_params, video, NULL, history_add_cb, g_object_ref (self));
}

static void
generate_action (GtkWidget  *widget,
                 const char *action_name,
                 GVariant   *param)
{
  KinoraWindow *self = KINORA_WINDOW (widget);
  g_autoptr(KinoraParams) params = NULL;
  struct ke_gen_params kp;
  struct ke_image image;
  struct ke_error err = { 0 };

  if (self->job != NULL)
    {
      _kinora_window_queue_add_current (self);
      return;
    }

  params = kinora_window_dup_params (self);
  if ((params->decoder == KE_DECODER_TAEHV || params->preview_source == KE_PREVIEW_TAEHV)
      && (params->taehv_path == NULL || params->taehv_path[0] == '\0'))
    {
      g_autoptr(GError) error = g_error_new_literal (KINORA_ENGINE_ERROR, KE_STATUS_INVALID,
                                                     _("TAEHV previews and draft decode need the TAEHV weights file "
                                                       "for this model: choose it in Preferences"));
      show_error (self, error);
      return;
    }
  kinora_params_to_ke (params, &kp, &image);
  if (ke_gen_params_validate (&kp, &err) != KE_STATUS_OK)
    {
      g_autoptr(GError) error = g_error_new (KINORA_ENGINE_ERROR, err.code, "%s", err.msg);
      show_error (self, error);
      return;
    }
  set_last_error (self, NULL);
  _kinora_window_start_generate (self, g_steal_pointer (&params));
}

/* Takes PARAMS. */
void
_kinora_window_start_generate (KinoraWindow *self,
                               KinoraParams *params)
{
  _kinora_window_add_recent_prompt (self, params->prompt);
  g_settings_set_int64 (self->settings, "seed", params->seed);

  self->job_cancellable = g_cancellable_new ();
  self->job = kinora_job_new_generate (params);
  kinora_params_free (params);
  self->n_previews = 0;
  g_signal_connect_swapped (self->job, "progress", G_CALLBACK (job_progress_cb), self);
  g_signal_connect_swapped (self->job, "preview", G_CALLBACK (job_preview_cb), self);

  kinora_player_stop (self->player);
  kinora_preview_view_reset (self->preview_view);
  /* on a narrow window the settings slide away so the preview shows */
  if (adw_flap_get_folded (self->flap))
    adw_flap_set_reveal_flap (self->flap, FALSE);
  gtk_stack_set_visible_child_name (self->output_stack, "preview");
  adw_view_stack_set_visible_child_name (self->view_stack, "studio");
  kinora_job_run_async (self->job, self->job_cancellable, generate_cb, g_object_ref (self));
  _kinora_window_update_actions (self);
}

static void
cancel_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *param)
{
  KinoraWindow *self = KINORA_WINDOW (widget);

  /* the engine stops at its next check; the app stays usable meanwhile */
  g_cancellable_cancel (self->job_cancellable);
}

static void
stop_and_keep_action (GtkWidget  *widget,
                      const char *action_name,
                      GVariant   *param)
{
  KinoraWindow *self = KINORA_WINDOW (widget);

  if (self->job != NULL)
    kinora_job_stop_and_keep (self->job);
}

/* --- small controls ------------------------------------------------------------------------------ */

static void
seed_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *param)
{
  KinoraWindow *self = KINORA_WINDOW (widget);
  double seed = gtk_spin_button_get_value (self->seed_spin);

  if (g_str_equal (action_name, "win.seed-next"))
    gtk_spin_button_set_value (self->seed_spin, seed + 1);
  else if (g_str_equal (action_name, "win.seed-previous"))
    gtk_spin_button_set_value (self->seed_spin, seed - 1);
  else
    gtk_spin_button_set_value (self->seed_spin, g_random_int ());
}

static void
reset_negative_action (GtkWidget  *widget,
                       const char *action_name,
                       GVariant   *param)
{
  KinoraWindow *self = KINORA_WINDOW (widget);

  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->negative_view), kinora_default_negative_prompt (), -1);
}

static void
reset_settings_action (GtkWidget  *widget,
                       const char *action_name,
                       GVariant   *param)
{
  _kinora_window_reset_defaults (KINORA_WINDOW (widget));
}

static void
preferences_action (GtkWidget  *widget,
                    const char *action_name,
                    GVariant   *param)
{
  KinoraWindow *self = KINORA_WINDOW (widget);

  if (self->preferences == NULL)
    {
      self->preferences = GTK_WINDOW (kinora_preferences_new (GTK_WINDOW (self)));
      g_object_add_weak_pointer (G_OBJECT (self->preferences), (gpointer *) &self->preferences);
    }
  gtk_window_present (self->preferences);
}

static void
use_test_model_action (GtkWidget  *widget,
                       const char *action_name,
                       GVariant   *param)
{
  _kinora_window_select_model (KINORA_WINDOW (widget), "tiny");
}

static void
model_folder_response_cb (GtkNativeDialog *dialog,
                          int              response,
                          KinoraWindow    *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = g_file_get_path (file);

      if (path != NULL)
        _kinora_window_add_model_folder (self, path);
    }
  g_clear_object (&self->chooser);
}

static void
choose_model_folder_action (GtkWidget  *widget,
                            const char *action_name,
                            GVariant   *param)
{
  KinoraWindow *self = KINORA_WINDOW (widget);

  g_clear_object (&self->chooser);
  self->chooser = GTK_NATIVE_DIALOG (gtk_file_chooser_native_new (_("Choose a Model Folder"), GTK_WINDOW (self),
                                                                  GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                                                  _("_Select"), _("_Cancel")));
  gtk_native_dialog_set_modal (self->chooser, TRUE);
  g_signal_connect (self->chooser, "response", G_CALLBACK (model_folder_response_cb), self);
  gtk_native_dialog_show (self->chooser);
}

/* --- export -------------------------------------------------------------------------------------- */

typedef struct
{
  KinoraWindow      *self;
  KinoraExportFormat format;
  char              *path;
} ExportData;

static void
export_data_free (ExportData *d)
{
  g_object_unref (d->self);
  g_free (d->path);
  g_free (d);
}

static void
export_done_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  ExportData *d = user_data;
  KinoraWindow *self = d->self;
  g_autoptr(GError) error = NULL;

  self->n_exports_done++;
  if (!kinora_exporter_write_finish (result, &error) && is_disposed (self))
    {
      export_data_free (d);
      return;
    }
  if (error != NULL)
    {
      g_autoptr(GError) shown = g_error_new (error->domain, error->code, _("Export failed: %s"), error->message);
      show_error (self, shown);
    }
  else
    {
      g_autofree char *name = g_path_get_basename (d->path);
      /* Translators: %s is a file name */
      g_autofree char *text = g_strdup_printf (_("Exported “%s”"), name);
      if (!is_disposed (self))
        {
          set_last_error (self, NULL);
          _kinora_window_toast (self, text);
        }
    }
  export_data_free (d);
}

static void
decode_thread (GTask        *task,
               gpointer      source,
               gpointer      task_data,
               GCancellable *cancellable)
{
  GError *error = NULL;
  KinoraVideo *video = kinora_exporter_decode (task_data, &error);

  if (video != NULL)
    g_task_return_pointer (task, video, (GDestroyNotify) kinora_video_unref);
  else
    g_task_return_error (task, error);
}

static void
decoded_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  ExportData *d = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(KinoraVideo) video = g_task_propagate_pointer (G_TASK (result), &error);

  if (video == NULL || is_disposed (d->self))
    {
      d->self->n_exports_done++;
      show_error (d->self, error);
      export_data_free (d);
      return;
    }
  kinora_exporter_write_async (video, d->self->result_params, d->format, d->path, NULL, export_done_cb, d);
}

void
_kinora_window_export (KinoraWindow      *self,
                       KinoraExportFormat format,
                       GFile             *dest)
{
  ExportData *d;

  g_return_if_fail (self->result_params != NULL);

  d = g_new0 (ExportData, 1);
  d->self = g_object_ref (self);
  d->format = format;
  d->path = g_file_get_path (dest);
  if (format == KINORA_EXPORT_PNG && !g_str_has_suffix (d->path, "/"))
    {
      char *dir = g_strconcat (d->path, "/", NULL);
      g_free (d->path);
      d->path = dir;
    }

  if (self->result != NULL)
    {
      kinora_exporter_write_async (self->result, self->result_params, format, d->path, NULL, export_done_cb, d);
    }
  else
    {
      /* a result from the history: its frames come back from the stored video */
      g_autoptr(GTask) task = g_task_new (NULL, NULL, decoded_cb, d);
      g_autoptr(GFile) video = kinora_history_item_dup_video (self->result_item);
      g_task_set_task_data (task, g_file_get_path (video), g_free);
      g_task_run_in_thread (task, decode_thread);
    }
}

static void
export_response_cb (GtkNativeDialog *dialog,
                    int              response,
                    KinoraWindow    *self)
{
  KinoraExportFormat format = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (dialog), "format"));

  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      _kinora_window_export (self, format, file);
    }
  g_clear_object (&self->chooser);
}

static void
export_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *param)
{
  KinoraWindow *self = KINORA_WINDOW (widget);
  const char *nick = g_variant_get_string (param, NULL);
  KinoraExportFormat format;
  g_autofree char *name = NULL;
  const char *stem;

  if (!kinora_export_format_from_nick (nick, &format) || self->result_params == NULL)
    return;
  g_settings_set_enum (self->settings, "export-format", format);
  stem = self->result_item ? kinora_history_item_get_id (self->result_item) : "result";
  if (format == KINORA_EXPORT_PNG)
    name = g_strdup_printf ("kinora-%s-frames", stem);
  else
    name = g_strdup_printf ("kinora-%s.%s", stem, kinora_export_format_get_extension (format));

  g_clear_object (&self->chooser);
  self->chooser = GTK_NATIVE_DIALOG (gtk_file_chooser_native_new (
      format == KINORA_EXPORT_PNG ? _("Export Frames to a Folder") : _("Export Video"), GTK_WINDOW (self),
      format == KINORA_EXPORT_PNG ? GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER : GTK_FILE_CHOOSER_ACTION_SAVE,
      _("_Export"), _("_Cancel")));
  if (format != KINORA_EXPORT_PNG)
    gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (self->chooser), name);
  g_object_set_data (G_OBJECT (self->chooser), "format", GINT_TO_POINTER (format));
  gtk_native_dialog_set_modal (self->chooser, TRUE);
  g_signal_connect (self->chooser, "response", G_CALLBACK (export_response_cb), self);
  gtk_native_dialog_show (self->chooser);
}

/* --- history ------------------------------------------------------------------------------------- */

static KinoraHistoryItem *
find_item (KinoraWindow *self,
           GVariant     *param)
{
  const char *id = g_variant_get_string (param, NULL);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->history));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(KinoraHistoryItem) item = g_list_model_get_item (G_LIST_MODEL (self->history), i);
      if (g_strcmp0 (kinora_history_item_get_id (item), id) == 0)
        return g_steal_pointer (&item);
    }
  return NULL;
}

static void
open_history_action (GtkWidget  *widget,
                     const char *action_name,
                     GVariant   *param)
{
  KinoraWindow *self = KINORA_WINDOW (widget);
  g_autoptr(KinoraHistoryItem) item = find_item (self, param);

  if (item == NULL || self->job != NULL)
    return;
  _kinora_window_show_result (self, item, NULL);
}

static void
reuse_settings_action (GtkWidget  *widget,
                       const char *action_name,
                       GVariant   *param)
{
  KinoraWindow *self = KINORA_WINDOW (widget);
  g_autoptr(KinoraHistoryItem) item = find_item (self, param);

  if (item == NULL)
    return;
  kinora_window_apply_params (self, kinora_history_item_get_params (item));
  adw_view_stack_set_visible_child_name (self->view_stack, "studio");
  _kinora_window_toast (self, _("Settings restored"));
}

typedef struct
{
  GWeakRef           window;
  KinoraHistory     *history;
  KinoraHistoryItem *item;
  gboolean           undone;
} PendingDelete;

static void
pending_delete_free (PendingDelete *pd)
{
  g_weak_ref_clear (&pd->window);
  g_object_unref (pd->history);
  g_object_unref (pd->item);
  g_free (pd);
}

static void
delete_undo_cb (AdwToast      *toast,
                PendingDelete *pd)
{
  g_autoptr(KinoraWindow) self = g_weak_ref_get (&pd->window);

  pd->undone = TRUE;
  kinora_history_unhide (pd->history, pd->item);
  if (self != NULL)
    _kinora_window_update_actions (self);
}

/* The toast is gone without Undo: now the entry is deleted from disk. */
static void
delete_dismissed_cb (AdwToast      *toast,
                     PendingDelete *pd)
{
  g_autoptr(KinoraWindow) self = g_weak_ref_get (&pd->window);
  g_autoptr(GError) error = NULL;

  if (pd->undone)
    return;
  if (!kinora_history_remove (pd->history, pd->item, &error) && self != NULL)
    show_error (self, error);
}

static void
delete_history_action (GtkWidget  *widget,
                       const char *action_name,
                       GVariant   *param)
{
  KinoraWindow *self = KINORA_WINDOW (widget);
  g_autoptr(KinoraHistoryItem) item = find_item (self, param);
  PendingDelete *pd;
  AdwToast *toast;

  if (item == NULL)
    return;
  if (item == self->result_item)
    {
      kinora_player_stop (self->player);
      g_clear_object (&self->result_item);
      if (self->result == NULL)
        {
          g_clear_pointer (&self->result_params, kinora_params_free);
          gtk_stack_set_visible_child_name (self->output_stack, "ready");
        }
    }
  /* hidden at once, deleted from disk only when the toast goes without Undo (the GNOME way to
   * make a deletion recoverable) */
  kinora_history_hide (self->history, item);
  pd = g_new0 (PendingDelete, 1);
  g_weak_ref_init (&pd->window, self);
  pd->history = g_object_ref (self->history);
  pd->item = g_object_ref (item);
  toast = adw_toast_new (_("Result deleted"));
  adw_toast_set_button_label (toast, _("_Undo"));
  adw_toast_set_timeout (toast, 8);
  g_signal_connect (toast, "button-clicked", G_CALLBACK (delete_undo_cb), pd);
  g_signal_connect_data (toast, "dismissed", G_CALLBACK (delete_dismissed_cb), pd,
                         (GClosureNotify) (void (*) (void)) pending_delete_free, 0);
  /* kept for the tests, which press Undo or let the toast go */
  g_object_set_data_full (G_OBJECT (self), "kinora-last-delete-toast", g_object_ref (toast), g_object_unref);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
  _kinora_window_update_actions (self);
}

void
_kinora_window_class_actions_init (KinoraWindowClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  gtk_widget_class_install_action (widget_class, "win.generate", NULL, generate_action);
  gtk_widget_class_install_action (widget_class, "win.cancel", NULL, cancel_action);
  gtk_widget_class_install_action (widget_class, "win.stop-and-keep", NULL, stop_and_keep_action);
  gtk_widget_class_install_action (widget_class, "win.seed-next", NULL, seed_action);
  gtk_widget_class_install_action (widget_class, "win.seed-previous", NULL, seed_action);
  gtk_widget_class_install_action (widget_class, "win.seed-random", NULL, seed_action);
  gtk_widget_class_install_action (widget_class, "win.reset-negative", NULL, reset_negative_action);
  gtk_widget_class_install_action (widget_class, "win.reset-settings", NULL, reset_settings_action);
  gtk_widget_class_install_action (widget_class, "win.use-test-model", NULL, use_test_model_action);
  gtk_widget_class_install_action (widget_class, "win.preferences", NULL, preferences_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_comma, GDK_CONTROL_MASK, "win.preferences", NULL);
  gtk_widget_class_install_action (widget_class, "win.choose-model-folder", NULL, choose_model_folder_action);
  gtk_widget_class_install_action (widget_class, "win.export", "s", export_action);
  gtk_widget_class_install_action (widget_class, "win.open-history", "s", open_history_action);
  gtk_widget_class_install_action (widget_class, "win.reuse-settings", "s", reuse_settings_action);
  gtk_widget_class_install_action (widget_class, "win.delete-history", "s", delete_history_action);
}
