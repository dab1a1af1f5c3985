/* kinora-history-view.c: the gallery of past results
 *
 * Each card activates win.open-history, win.reuse-settings or win.delete-history with the
 * entry's id as target, so the window does the work.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include <glib/gi18n.h>
#include <adwaita.h>

#include "kinora-history-view.h"

struct _KinoraHistoryView
{
  GtkWidget parent_instance;

  /* Template widgets */
  GtkStack   *stack;
  GtkFlowBox *flow_box;

  /* Owned references */
  KinoraHistory *history;
};

G_DEFINE_FINAL_TYPE (KinoraHistoryView, kinora_history_view, GTK_TYPE_WIDGET)

static GtkWidget *
make_button (const char *icon,
             const char *tooltip,
             const char *action,
             const char *id)
{
  GtkWidget *button = gtk_button_new_from_icon_name (icon);

  gtk_widget_set_tooltip_text (button, tooltip);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (button), action);
  gtk_actionable_set_action_target (GTK_ACTIONABLE (button), "s", id);
  gtk_widget_add_css_class (button, "flat");
  return button;
}

static GtkWidget *
create_card_cb (gpointer item,
                gpointer user_data)
{
  KinoraHistoryItem *entry = item;
  const KinoraParams *p = kinora_history_item_get_params (entry);
  const char *id = kinora_history_item_get_id (entry);
  GtkWidget *box, *picture, *label, *meta, *buttons, *open;
  g_autofree char *when = g_date_time_format (kinora_history_item_get_created (entry), "%x %X");
  g_autofree char *meta_text = NULL;
  g_autofree char *seed_text = NULL;

  box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 4);
  gtk_widget_add_css_class (box, "card");
  gtk_widget_set_size_request (box, 220, -1);

  open = gtk_button_new ();
  gtk_widget_add_css_class (open, "flat");
  gtk_actionable_set_action_name (GTK_ACTIONABLE (open), "win.open-history");
  gtk_actionable_set_action_target (GTK_ACTIONABLE (open), "s", id);
  gtk_widget_set_tooltip_text (open, _("Play"));
  picture = gtk_picture_new ();
  /* the thumbnail arrives once decoded off the main thread */
  g_object_bind_property (entry, "thumbnail", picture, "paintable", G_BINDING_SYNC_CREATE);
  gtk_picture_set_can_shrink (GTK_PICTURE (picture), TRUE);
  gtk_widget_set_size_request (picture, 200, 120);
  gtk_button_set_child (GTK_BUTTON (open), picture);
  gtk_box_append (GTK_BOX (box), open);

  label = gtk_label_new (p->prompt && p->prompt[0] ? p->prompt : _("(no prompt)"));
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
  gtk_label_set_lines (GTK_LABEL (label), 2);
  gtk_label_set_wrap (GTK_LABEL (label), TRUE);
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_widget_set_margin_start (label, 8);
  gtk_widget_set_margin_end (label, 8);
  gtk_box_append (GTK_BOX (box), label);

  /* Translators: size, frames, seed and date of a result, e.g. "128×64 · 9 frames · seed 42 · 22/11/26 23:04:05" */
  seed_text = g_strdup_printf ("%" G_GINT64_FORMAT, p->seed);
  meta_text = g_strdup_printf (_("%d×%d · %d frames · seed %s · %s"),
                               p->width, p->height, p->n_frames, seed_text, when);
  meta = gtk_label_new (meta_text);
  gtk_label_set_ellipsize (GTK_LABEL (meta), PANGO_ELLIPSIZE_END);
  gtk_label_set_xalign (GTK_LABEL (meta), 0);
  gtk_widget_add_css_class (meta, "caption");
  gtk_widget_add_css_class (meta, "dim-label");
  gtk_widget_set_margin_start (meta, 8);
  gtk_widget_set_margin_end (meta, 8);
  gtk_box_append (GTK_BOX (box), meta);

  buttons = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 2);
  gtk_widget_set_halign (buttons, GTK_ALIGN_END);
  gtk_widget_set_margin_end (buttons, 4);
  gtk_widget_set_margin_bottom (buttons, 4);
  gtk_box_append (GTK_BOX (buttons),
                  make_button ("edit-copy-symbolic", _("Reuse Settings"), "win.reuse-settings", id));
  gtk_box_append (GTK_BOX (buttons),
                  make_button ("user-trash-symbolic", _("Delete"), "win.delete-history", id));
  gtk_box_append (GTK_BOX (box), buttons);

  return box;
}

static void
items_changed_cb (GListModel        *model,
                  guint              position,
                  guint              removed,
                  guint              added,
                  KinoraHistoryView *self)
{
  gtk_stack_set_visible_child_name (self->stack, g_list_model_get_n_items (model) ? "gallery" : "empty");
}

static void
kinora_history_view_dispose (GObject *object)
{
  KinoraHistoryView *self = KINORA_HISTORY_VIEW (object);

  if (self->history != NULL)
    g_signal_handlers_disconnect_by_func (self->history, items_changed_cb, self);
  g_clear_object (&self->history);
  gtk_widget_dispose_template (GTK_WIDGET (self), KINORA_TYPE_HISTORY_VIEW);

  G_OBJECT_CLASS (kinora_history_view_parent_class)->dispose (object);
}

static void
kinora_history_view_class_init (KinoraHistoryViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = kinora_history_view_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/kinora/Kinora/kinora-history-view.ui");
  gtk_widget_class_bind_template_child (widget_class, KinoraHistoryView, stack);
  gtk_widget_class_bind_template_child (widget_class, KinoraHistoryView, flow_box);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
kinora_history_view_init (KinoraHistoryView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWidget *
kinora_history_view_new (void)
{
  return g_object_new (KINORA_TYPE_HISTORY_VIEW, NULL);
}

void
kinora_history_view_set_history (KinoraHistoryView *self,
                                 KinoraHistory     *history)
{
  g_return_if_fail (KINORA_IS_HISTORY_VIEW (self));

  if (self->history != NULL)
    g_signal_handlers_disconnect_by_func (self->history, items_changed_cb, self);
  g_set_object (&self->history, history);
  gtk_flow_box_bind_model (self->flow_box, G_LIST_MODEL (history), create_card_cb, self, NULL);
  if (history != NULL)
    {
      g_signal_connect (history, "items-changed", G_CALLBACK (items_changed_cb), self);
      items_changed_cb (G_LIST_MODEL (history), 0, 0, 0, self);
    }
}
