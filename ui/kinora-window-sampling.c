/* kinora-window-sampling.c: the sampling sliders of the main window
 *
 * Each slider (GtkScale) sits under a spin button that shows its exact value and takes a typed one.
 * The slider covers the sensible range (steps 1-100, guidance 1-15, shift 1-20); the spin button
 * takes anything the engine accepts (up to KE_MAX_STEPS, KE_MAX_GUIDE, KE_MAX_SHIFT), and the slider
 * then rests at its end. A mark on each slider shows the model's official default.
 *
 * The seed slider moves through the neighbouring seeds: it spans SEED_SPAN seeds either side of the
 * current seed and is centred again whenever the seed changes by other means, or the pointer lets go.
 *
 * Scrolling never edits: a wheel or touchpad scroll over a slider or spin button that does not have
 * the keyboard focus scrolls the sidebar instead.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include <glib/gi18n.h>
#include <math.h>

#include "kinora-window-private.h"

#define SEED_SPAN 50
#define SEED_MAX 4294967295.0

/* --- spin button <-> slider ---------------------------------------------------------------------- */

static void
spin_changed_cb (GtkSpinButton *spin,
                 KinoraWindow  *self)
{
  GtkRange *scale = g_object_get_data (G_OBJECT (spin), "kinora-scale");

  if (self->syncing)
    return;
  self->syncing = TRUE;
  gtk_range_set_value (scale, gtk_spin_button_get_value (spin));   /* clamped to the slider's range */
  self->syncing = FALSE;
}

static void
scale_changed_cb (GtkRange     *scale,
                  KinoraWindow *self)
{
  GtkSpinButton *spin = g_object_get_data (G_OBJECT (scale), "kinora-spin");

  if (self->syncing)
    return;
  self->syncing = TRUE;
  gtk_spin_button_set_value (spin, gtk_range_get_value (scale));
  self->syncing = FALSE;
}

static void
link_slider (KinoraWindow  *self,
             GtkSpinButton *spin,
             GtkScale      *scale)
{
  g_object_set_data (G_OBJECT (spin), "kinora-scale", scale);
  g_object_set_data (G_OBJECT (scale), "kinora-spin", spin);
  g_signal_connect (spin, "value-changed", G_CALLBACK (spin_changed_cb), self);
  g_signal_connect (scale, "value-changed", G_CALLBACK (scale_changed_cb), self);
  spin_changed_cb (spin, self);
}

/* --- the seed ------------------------------------------------------------------------------------ */

void
_kinora_window_recentre_seed (KinoraWindow *self)
{
  GtkAdjustment *adj = gtk_range_get_adjustment (GTK_RANGE (self->seed_scale));
  double seed = gtk_spin_button_get_value (self->seed_spin);
  double lower = MAX (0, seed - SEED_SPAN);
  double upper = MIN (SEED_MAX, lower + 2 * SEED_SPAN);

  lower = MAX (0, upper - 2 * SEED_SPAN);
  g_clear_handle_id (&self->seed_recentre_id, g_source_remove);
  self->syncing = TRUE;
  gtk_adjustment_configure (adj, seed, lower, upper, 1, 10, 0);
  gtk_scale_clear_marks (self->seed_scale);
  gtk_scale_add_mark (self->seed_scale, seed, GTK_POS_BOTTOM, NULL);
  self->syncing = FALSE;
}

static gboolean
recentre_seed_cb (gpointer data)
{
  KinoraWindow *self = data;

  self->seed_recentre_id = 0;
  if (!self->seed_pressed)
    _kinora_window_recentre_seed (self);
  return G_SOURCE_REMOVE;
}

static void
queue_recentre_seed (KinoraWindow *self)
{
  if (self->seed_recentre_id == 0)
    self->seed_recentre_id = g_idle_add (recentre_seed_cb, self);
}

static void
seed_spin_changed_cb (KinoraWindow *self)
{
  if (!self->syncing)
    _kinora_window_recentre_seed (self);
}

static void
seed_scale_changed_cb (KinoraWindow *self)
{
  if (self->syncing)
    return;
  self->syncing = TRUE;
  gtk_spin_button_set_value (self->seed_spin, round (gtk_range_get_value (GTK_RANGE (self->seed_scale))));
  self->syncing = FALSE;
  /* a key press moves one seed and the slider centres on it; a drag centres when it ends */
  if (!self->seed_pressed)
    queue_recentre_seed (self);
}

static gboolean
seed_scale_event_cb (GtkEventControllerLegacy *controller,
                     GdkEvent                 *event,
                     KinoraWindow             *self)
{
  GdkEventType type = gdk_event_get_event_type (event);

  if (type == GDK_BUTTON_PRESS || type == GDK_TOUCH_BEGIN)
    {
      self->seed_pressed = TRUE;
    }
  else if (type == GDK_BUTTON_RELEASE || type == GDK_TOUCH_END || type == GDK_TOUCH_CANCEL)
    {
      self->seed_pressed = FALSE;
      queue_recentre_seed (self);
    }
  return FALSE;   /* the slider still gets the event */
}

/* --- scrolling never edits ----------------------------------------------------------------------- */

static gboolean
has_focus_within (GtkWidget *widget)
{
  GtkRoot *root = gtk_widget_get_root (widget);
  GtkWidget *focus = root != NULL ? gtk_root_get_focus (root) : NULL;

  return focus != NULL && (focus == widget || gtk_widget_is_ancestor (focus, widget));
}

/* Returns TRUE when the scroll was taken from @widget and given to the sidebar. */
gboolean
_kinora_window_guard_scroll (KinoraWindow *self,
                             GtkWidget    *widget,
                             double        dy,
                             GdkScrollUnit unit)
{
  GtkAdjustment *adj;
  double step;

  if (has_focus_within (widget))
    return FALSE;
  adj = gtk_scrolled_window_get_vadjustment (self->sidebar_scroll);
  /* a wheel click moves as far as GtkScrolledWindow moves it; a touchpad gives pixels */
  step = unit == GDK_SCROLL_UNIT_WHEEL ? pow (gtk_adjustment_get_page_size (adj), 2.0 / 3.0) : 1.0;
  gtk_adjustment_set_value (adj, gtk_adjustment_get_value (adj) + dy * step);
  return TRUE;
}

static gboolean
guard_scroll_cb (GtkEventControllerScroll *controller,
                 double                    dx,
                 double                    dy,
                 KinoraWindow             *self)
{
  GtkWidget *widget = gtk_event_controller_get_widget (GTK_EVENT_CONTROLLER (controller));

  return _kinora_window_guard_scroll (self, widget, dy, gtk_event_controller_scroll_get_unit (controller));
}

/* Every spin button and slider under @widget gets a scroll controller that runs before its own. */
void
_kinora_window_add_scroll_guards (KinoraWindow *self,
                                  GtkWidget    *widget)
{
  if (GTK_IS_SCROLLBAR (widget))
    return;   /* the range inside a scrollbar scrolls its own view */
  if (GTK_IS_SPIN_BUTTON (widget) || GTK_IS_RANGE (widget))
    {
      GtkEventController *c = gtk_event_controller_scroll_new (GTK_EVENT_CONTROLLER_SCROLL_BOTH_AXES);

      gtk_event_controller_set_propagation_phase (c, GTK_PHASE_CAPTURE);
      gtk_event_controller_set_name (c, "kinora-scroll-guard");
      g_signal_connect (c, "scroll", G_CALLBACK (guard_scroll_cb), self);
      gtk_widget_add_controller (widget, c);
      return;
    }
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    _kinora_window_add_scroll_guards (self, child);
}

/* --- defaults ------------------------------------------------------------------------------------ */

static void
mark_default (GtkScale *scale,
              double    value,
              int       digits)
{
  g_autofree char *text = g_strdup_printf ("%.*f", digits, value);
  /* Translators: %s is a number, e.g. 50 or 5.0 */
  g_autofree char *tooltip = g_strdup_printf (_("The mark is the model’s official default, %s"), text);

  gtk_scale_clear_marks (scale);
  gtk_scale_add_mark (scale, value, GTK_POS_BOTTOM, NULL);
  gtk_widget_set_tooltip_text (GTK_WIDGET (scale), tooltip);
}

/* Marks at the official defaults of the current task (ke_gen_params_default). */
void
_kinora_window_mark_defaults (KinoraWindow *self)
{
  struct ke_gen_params d = ke_gen_params_default (self->task);

  mark_default (self->steps_scale, d.steps, 0);
  /* the few-step preset's step count gets a mark of its own (Fast sets it; the slider may go there too) */
  struct ke_gen_params fast = d;
  struct ke_error err = { 0 };
  if (ke_gen_params_preset (&fast, "lightning", &err) == KE_STATUS_OK && fast.steps != d.steps)
    {
      /* Translators: the two marks of the steps slider, e.g. 50 and 4 */
      g_autofree char *tip = g_strdup_printf (_("The marks are the model’s official default, %d, and the "
                                                "few-step Lightning preset, %d"), d.steps, fast.steps);
      gtk_scale_add_mark (self->steps_scale, fast.steps, GTK_POS_BOTTOM, NULL);
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->steps_scale), tip);
    }
  mark_default (self->guide_scale, d.guide, 1);
  mark_default (self->guide_high_scale, d.guide_high, 1);
  mark_default (self->shift_scale, d.shift, 1);
}

void
_kinora_window_update_advanced_subtitle (KinoraWindow *self)
{
  /* Translators: the collapsed advanced settings show the shift, e.g. "Shift 5.0" */
  g_autofree char *text = g_strdup_printf (_("Shift %.1f"), gtk_spin_button_get_value (self->shift_spin));
  GtkStringObject *cache = adw_combo_row_get_selected_item (self->cache_row);

  if (adw_combo_row_get_selected (self->cache_row) != KE_CACHE_OFF && cache != NULL)
    {
      /* Translators: the shift and the step cache in use, e.g. "Shift 5.0, EasyCache" */
      char *with_cache = g_strdup_printf (_("%s, %s"), text, gtk_string_object_get_string (cache));
      g_free (text);
      text = with_cache;
    }
  adw_expander_row_set_subtitle (self->advanced_row, text);
}

/* --- lifecycle ----------------------------------------------------------------------------------- */

void
_kinora_window_sampling_init (KinoraWindow *self)
{
  GtkEventController *legacy;

  link_slider (self, self->steps_spin, self->steps_scale);
  link_slider (self, self->guide_spin, self->guide_scale);
  link_slider (self, self->guide_high_spin, self->guide_high_scale);
  link_slider (self, self->shift_spin, self->shift_scale);

  gtk_adjustment_set_upper (gtk_spin_button_get_adjustment (self->steps_spin), KE_MAX_STEPS);
  gtk_adjustment_set_upper (gtk_spin_button_get_adjustment (self->guide_spin), KE_MAX_GUIDE);
  gtk_adjustment_set_upper (gtk_spin_button_get_adjustment (self->guide_high_spin), KE_MAX_GUIDE);
  gtk_adjustment_set_upper (gtk_spin_button_get_adjustment (self->shift_spin), KE_MAX_SHIFT);

  g_signal_connect_swapped (self->seed_spin, "value-changed", G_CALLBACK (seed_spin_changed_cb), self);
  g_signal_connect_swapped (self->seed_scale, "value-changed", G_CALLBACK (seed_scale_changed_cb), self);
  legacy = gtk_event_controller_legacy_new ();
  gtk_event_controller_set_propagation_phase (legacy, GTK_PHASE_CAPTURE);
  g_signal_connect (legacy, "event", G_CALLBACK (seed_scale_event_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self->seed_scale), legacy);
  _kinora_window_recentre_seed (self);

  g_signal_connect_swapped (self->shift_spin, "value-changed", G_CALLBACK (_kinora_window_update_advanced_subtitle),
                            self);
  _kinora_window_update_advanced_subtitle (self);

  _kinora_window_add_scroll_guards (self, gtk_scrolled_window_get_child (self->sidebar_scroll));
  _kinora_window_mark_defaults (self);
}

void
_kinora_window_sampling_dispose (KinoraWindow *self)
{
  g_clear_handle_id (&self->seed_recentre_id, g_source_remove);
}
