/* kinora-queue-view.c: the queue window.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include <glib/gi18n.h>

#include "kinora-queue-view.h"

struct _KinoraQueueView
{
  AdwWindow        parent_instance;

  /* Template widgets */
  GtkToggleButton *pause_button;
  GtkStack        *stack;
  GtkListBox      *list_box;

  /* Owned references */
  KinoraQueue     *queue;
};

G_DEFINE_FINAL_TYPE (KinoraQueueView, kinora_queue_view, ADW_TYPE_WINDOW)

static char *
state_text (KinoraQueueItem *item)
{
  switch (kinora_queue_item_get_state (item))
    {
    case KINORA_QUEUE_RUNNING: return g_strdup (_("Running"));
    case KINORA_QUEUE_FAILED:
      /* Translators: a queued video that failed, with the reason */
      return g_strdup_printf (_("Failed: %s"), kinora_queue_item_get_error (item));
    case KINORA_QUEUE_DONE: return g_strdup (_("Done"));
    case KINORA_QUEUE_PENDING:
    default: return g_strdup (_("Waiting"));
    }
}

static void
move_clicked_cb (GtkButton *button,
                 KinoraQueueView *self)
{
  const char *id = g_object_get_data (G_OBJECT (button), "item-id");
  int delta = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (button), "delta"));
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->queue));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(KinoraQueueItem) item = g_list_model_get_item (G_LIST_MODEL (self->queue), i);
      if (g_strcmp0 (kinora_queue_item_get_id (item), id) != 0)
        continue;
      if ((int) i + delta >= 0)
        kinora_queue_move (self->queue, id, (guint) ((int) i + delta));
      return;
    }
}

static void
remove_clicked_cb (GtkButton       *button,
                   KinoraQueueView *self)
{
  kinora_queue_remove (self->queue, g_object_get_data (G_OBJECT (button), "item-id"));
}

static GtkWidget *
make_button (KinoraQueueView *self,
             KinoraQueueItem *item,
             const char      *icon,
             const char      *tooltip,
             int              delta,
             GCallback        cb)
{
  GtkWidget *button = gtk_button_new_from_icon_name (icon);

  gtk_widget_set_tooltip_text (button, tooltip);
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (button, "flat");
  g_object_set_data_full (G_OBJECT (button), "item-id", g_strdup (kinora_queue_item_get_id (item)), g_free);
  g_object_set_data (G_OBJECT (button), "delta", GINT_TO_POINTER (delta));
  g_signal_connect (button, "clicked", cb, self);
  /* the running job stays where it is */
  gtk_widget_set_sensitive (button, kinora_queue_item_get_state (item) != KINORA_QUEUE_RUNNING);
  return button;
}

static GtkWidget *
create_row_cb (gpointer object,
               gpointer user_data)
{
  KinoraQueueView *self = user_data;
  KinoraQueueItem *item = object;
  const KinoraParams *p = kinora_queue_item_get_params (item);
  GtkWidget *row = adw_action_row_new ();
  g_autofree char *subtitle = state_text (item);

  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), p && p->prompt && *p->prompt ? p->prompt : _("(no prompt)"));
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  adw_action_row_set_title_lines (ADW_ACTION_ROW (row), 2);
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), make_button (self, item, "go-up-symbolic", _("Move Up"), -1,
                                                                G_CALLBACK (move_clicked_cb)));
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), make_button (self, item, "go-down-symbolic", _("Move Down"), 1,
                                                                G_CALLBACK (move_clicked_cb)));
  adw_action_row_add_suffix (ADW_ACTION_ROW (row), make_button (self, item, "user-trash-symbolic", _("Remove"), 0,
                                                                G_CALLBACK (remove_clicked_cb)));
  return row;
}

static void
update_page (KinoraQueueView *self)
{
  gtk_stack_set_visible_child_name (self->stack,
                                    g_list_model_get_n_items (G_LIST_MODEL (self->queue)) ? "list" : "empty");
}

static void
kinora_queue_view_dispose (GObject *object)
{
  KinoraQueueView *self = KINORA_QUEUE_VIEW (object);

  if (self->queue)
    g_signal_handlers_disconnect_by_data (self->queue, self);
  gtk_widget_dispose_template (GTK_WIDGET (self), KINORA_TYPE_QUEUE_VIEW);
  g_clear_object (&self->queue);
  G_OBJECT_CLASS (kinora_queue_view_parent_class)->dispose (object);
}

static void
kinora_queue_view_class_init (KinoraQueueViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = kinora_queue_view_dispose;
  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/kinora/Kinora/kinora-queue-view.ui");
  gtk_widget_class_bind_template_child (widget_class, KinoraQueueView, pause_button);
  gtk_widget_class_bind_template_child (widget_class, KinoraQueueView, stack);
  gtk_widget_class_bind_template_child (widget_class, KinoraQueueView, list_box);
}

static void
kinora_queue_view_init (KinoraQueueView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

KinoraQueueView *
kinora_queue_view_new (KinoraQueue *queue)
{
  KinoraQueueView *self = g_object_new (KINORA_TYPE_QUEUE_VIEW, NULL);

  self->queue = g_object_ref (queue);
  gtk_list_box_bind_model (self->list_box, G_LIST_MODEL (queue), create_row_cb, self, NULL);
  g_object_bind_property (queue, "paused", self->pause_button, "active",
                          G_BINDING_BIDIRECTIONAL | G_BINDING_SYNC_CREATE);
  g_signal_connect_swapped (queue, "items-changed", G_CALLBACK (update_page), self);
  update_page (self);
  return self;
}

GtkListBox *
kinora_queue_view_get_list (KinoraQueueView *self)
{
  return self->list_box;
}

GtkToggleButton *
kinora_queue_view_get_pause (KinoraQueueView *self)
{
  return self->pause_button;
}
