/* kinora-window-queue.c: the window's side of the job queue.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include <glib/gi18n.h>

#include "kinora-queue-view.h"
#include "kinora-window-private.h"
#include "kinora-window-queue.h"

#define QUEUE_KEY   "kinora-queue"
#define RUNNING_KEY "kinora-queue-running"
#define VIEW_KEY    "kinora-queue-view"

KinoraQueue *
kinora_window_get_queue (KinoraWindow *self)
{
  return g_object_get_data (G_OBJECT (self), QUEUE_KEY);
}

GtkWindow *
kinora_window_get_queue_view (KinoraWindow *self)
{
  return g_object_get_data (G_OBJECT (self), VIEW_KEY);
}

/* A toast with a button that opens the queue window. */
static void
toast_with_queue_button (KinoraWindow *self,
                         const char   *text)
{
  AdwToast *toast = adw_toast_new (text);

  adw_toast_set_button_label (toast, _("Show Queue"));
  adw_toast_set_action_name (toast, "queue.show");
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

static void
show_error (KinoraWindow *self,
            const GError *error)
{
  g_clear_error (&self->last_error);
  self->last_error = g_error_copy (error);
  _kinora_window_toast (self, error->message);
}

/* Start waiting jobs until one runs (a job whose settings are invalid fails at once). */
static void
start_next (KinoraWindow *self)
{
  KinoraQueue *queue = kinora_window_get_queue (self);

  while (queue != NULL && self->job == NULL && self->settings != NULL)
    {
      g_autoptr(KinoraQueueItem) item = kinora_queue_take_next (queue);
      const KinoraParams *p;
      struct ke_gen_params kp;
      struct ke_image image;
      struct ke_error err = { 0 };

      if (item == NULL)
        return;
      p = kinora_queue_item_get_params (item);
      if (p == NULL)
        {
          g_autoptr(GError) error = g_error_new (G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("The job's settings do not read back"));
          kinora_queue_finish (queue, item, error);
          continue;
        }
      kinora_params_to_ke (p, &kp, &image);
      if (ke_gen_params_validate (&kp, &err) != KE_STATUS_OK)
        {
          g_autoptr(GError) error = g_error_new (KINORA_ENGINE_ERROR, err.code, "%s", err.msg);
          kinora_queue_finish (queue, item, error);
          continue;
        }
      g_object_set_data_full (G_OBJECT (self), RUNNING_KEY, g_object_ref (item), g_object_unref);
      _kinora_window_start_generate (self, kinora_params_copy (p));
    }
}

static gboolean
start_next_idle_cb (gpointer data)
{
  GWeakRef *ref = data;
  g_autoptr(KinoraWindow) self = g_weak_ref_get (ref);

  if (self != NULL)
    start_next (self);
  return G_SOURCE_REMOVE;
}

static void
weak_ref_free (gpointer data)
{
  g_weak_ref_clear (data);
  g_free (data);
}

static void
schedule_next (KinoraWindow *self)
{
  GWeakRef *ref = g_new0 (GWeakRef, 1);

  g_weak_ref_init (ref, self);
  g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, start_next_idle_cb, ref, weak_ref_free);
}

void
_kinora_window_queue_add_current (KinoraWindow *self)
{
  g_autoptr(KinoraParams) params = kinora_window_dup_params (self);
  struct ke_gen_params kp;
  struct ke_image image;
  struct ke_error err = { 0 };
  KinoraQueue *queue = kinora_window_get_queue (self);
  g_autofree char *text = NULL;
  guint n;

  kinora_params_to_ke (params, &kp, &image);
  if (ke_gen_params_validate (&kp, &err) != KE_STATUS_OK)
    {
      g_autoptr(GError) error = g_error_new (KINORA_ENGINE_ERROR, err.code, "%s", err.msg);
      show_error (self, error);
      return;
    }
  kinora_queue_add (queue, params);
  if (kinora_queue_get_save_error (queue) != NULL)
    show_error (self, kinora_queue_get_save_error (queue));
  n = kinora_queue_get_n_waiting (queue);
  /* Translators: a toast after Generate while a video is being made */
  text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "Queued: %u video waiting", "Queued: %u videos waiting", n), n);
  toast_with_queue_button (self, text);
}

/* After a video, the next job waits until the result is shown (it is saved to the history first),
 * so that the result page does not cover the next job's preview; at most 10 s. */
#define WAITER_KEY "kinora-queue-waiter"

typedef struct
{
  KinoraWindow *self;      /* borrowed: the waiter lives in its data */
  gulong        handler;
  guint         timeout;
} Waiter;

static void
waiter_free (gpointer data)
{
  Waiter *w = data;

  if (w->handler != 0 && w->self->output_stack != NULL)
    g_signal_handler_disconnect (w->self->output_stack, w->handler);
  g_clear_handle_id (&w->timeout, g_source_remove);
  g_free (w);
}

static void
waiter_done (KinoraWindow *self)
{
  g_object_set_data (G_OBJECT (self), WAITER_KEY, NULL);
  schedule_next (self);
}

static void
result_shown_cb (GtkStack     *stack,
                 GParamSpec   *pspec,
                 KinoraWindow *self)
{
  if (g_strcmp0 (gtk_stack_get_visible_child_name (stack), "result") == 0)
    waiter_done (self);
}

static gboolean
waiter_timeout_cb (gpointer data)
{
  Waiter *w = data;

  w->timeout = 0;
  waiter_done (w->self);
  return G_SOURCE_REMOVE;
}

static void
schedule_after_result (KinoraWindow *self)
{
  Waiter *w = g_new0 (Waiter, 1);

  w->self = self;
  w->handler = g_signal_connect (self->output_stack, "notify::visible-child-name", G_CALLBACK (result_shown_cb), self);
  w->timeout = g_timeout_add_seconds (10, waiter_timeout_cb, w);
  g_object_set_data_full (G_OBJECT (self), WAITER_KEY, w, waiter_free);
}

void
_kinora_window_queue_job_done (KinoraWindow *self,
                               const GError *error)
{
  KinoraQueue *queue = kinora_window_get_queue (self);
  KinoraQueueItem *item = g_object_get_data (G_OBJECT (self), RUNNING_KEY);

  if (queue == NULL)
    return;
  if (item != NULL)
    {
      /* a job the user cancelled leaves the queue (cancellation is never shown as an error) */
      kinora_queue_finish (queue, item, g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ? NULL : error);
      g_object_set_data (G_OBJECT (self), RUNNING_KEY, NULL);
    }
  if (error == NULL && kinora_queue_get_n_waiting (queue) > 0)
    schedule_after_result (self);
  else
    schedule_next (self);
}

static void
paused_changed_cb (KinoraQueue  *queue,
                   GParamSpec   *pspec,
                   KinoraWindow *self)
{
  if (!kinora_queue_get_paused (queue))
    schedule_next (self);
}

static void
show_action_cb (GSimpleAction *action,
                GVariant      *param,
                gpointer       user_data)
{
  KinoraWindow *self = user_data;
  GtkWindow *view = kinora_window_get_queue_view (self);

  if (view == NULL)
    {
      view = GTK_WINDOW (kinora_queue_view_new (kinora_window_get_queue (self)));
      gtk_window_set_transient_for (view, GTK_WINDOW (self));
      gtk_window_set_hide_on_close (view, TRUE);
      g_object_set_data_full (G_OBJECT (self), VIEW_KEY, view, (GDestroyNotify) gtk_window_destroy);
    }
  gtk_window_present (view);
}

static void
pause_action_cb (GSimpleAction *action,
                 GVariant      *param,
                 gpointer       user_data)
{
  kinora_queue_set_paused (kinora_window_get_queue (user_data), TRUE);
}

static void
resume_action_cb (GSimpleAction *action,
                  GVariant      *param,
                  gpointer       user_data)
{
  kinora_queue_set_paused (kinora_window_get_queue (user_data), FALSE);
}

static void
window_destroy_cb (KinoraWindow *self)
{
  /* the queue window goes with the main one */
  g_object_set_data (G_OBJECT (self), VIEW_KEY, NULL);
  g_object_set_data (G_OBJECT (self), WAITER_KEY, NULL);
}

void
_kinora_window_queue_init (KinoraWindow *self)
{
  static const GActionEntry entries[] = {
    { "show", show_action_cb, NULL, NULL, NULL, { 0 } },
    { "pause", pause_action_cb, NULL, NULL, NULL, { 0 } },
    { "resume", resume_action_cb, NULL, NULL, NULL, { 0 } },
  };
  g_autoptr(GSimpleActionGroup) group = g_simple_action_group_new ();
  g_autofree char *path = kinora_queue_dup_default_path ();
  g_autoptr(GError) error = NULL;
  KinoraQueue *queue = kinora_queue_new (path, &error);

  g_object_set_data_full (G_OBJECT (self), QUEUE_KEY, queue, g_object_unref);
  g_signal_connect_object (queue, "notify::paused", G_CALLBACK (paused_changed_cb), self, 0);
  /* a transient window keeps its parent alive: it goes when the parent is unrealized (destroyed) */
  g_signal_connect (self, "unrealize", G_CALLBACK (window_destroy_cb), NULL);
  g_action_map_add_action_entries (G_ACTION_MAP (group), entries, G_N_ELEMENTS (entries), self);
  gtk_widget_insert_action_group (GTK_WIDGET (self), "queue", G_ACTION_GROUP (group));
  if (error != NULL)
    g_message ("%s", error->message);
  if (kinora_queue_get_n_waiting (queue) > 0)
    toast_with_queue_button (self, _("Videos are waiting in the queue: resume it from the queue window"));
  /* Ctrl+Shift+Q opens the queue window */
  {
    GtkEventController *shortcuts = gtk_shortcut_controller_new ();
    gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (shortcuts),
                                          gtk_shortcut_new (gtk_shortcut_trigger_parse_string ("<Control><Shift>q"),
                                                            gtk_named_action_new ("queue.show")));
    gtk_shortcut_controller_set_scope (GTK_SHORTCUT_CONTROLLER (shortcuts), GTK_SHORTCUT_SCOPE_MANAGED);
    gtk_widget_add_controller (GTK_WIDGET (self), shortcuts);
  }
}
