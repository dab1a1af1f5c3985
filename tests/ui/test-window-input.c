/* test-window-input.c: the main window driven as a person drives it, through the X server's XTEST
 * extension (xdotool): the shortcuts (Ctrl+Enter, Escape, Ctrl+?), dragging a slider, the mouse
 * wheel over the sidebar, the image chooser. The window belongs to the real KinoraApplication, so
 * its accelerators and the shortcuts window are the ones users get. Each screenshot is checked for
 * its state: the values shown and the widgets inside the sidebar's visible area.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <adwaita.h>
#include <gdk/x11/gdkx.h>
#include <glib/gstdio.h>
#include <math.h>

#include "kinora-application.h"
#include "window-test-util.h"

static GtkApplication *app;

/* --- helpers ------------------------------------------------------------------------------------- */

/* Run xdotool with @args (a printf format); the events go through XTEST like a real keyboard and mouse. */
G_GNUC_PRINTF (1, 2)
static void
xdotool (const char *format,
         ...)
{
  g_autofree char *args = NULL;
  g_autofree char *cmd = NULL;
  g_auto(GStrv) argv = NULL;
  g_autoptr(GError) error = NULL;
  int status = 0;
  va_list ap;

  va_start (ap, format);
  args = g_strdup_vprintf (format, ap);
  va_end (ap);
  cmd = g_strconcat ("xdotool ", args, NULL);
  g_test_message ("%s", cmd);
  g_assert_true (g_shell_parse_argv (cmd, NULL, &argv, &error));
  /* No fork: with descriptors left open and no pipes GLib starts the child with posix_spawn. A fork
   * runs OpenBLAS's fork handler, which stops its threads under a matrix product running on the
   * generation worker, and that product then waits for them for ever. */
  g_assert_true (g_spawn_sync (NULL, argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_LEAVE_DESCRIPTORS_OPEN,
                               NULL, NULL, NULL, NULL, &status, &error));
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, &error))
    g_error ("%s failed: %s", cmd, error->message);
  /* a round trip to the server brings the events xdotool made into our queue; then GTK handles them */
  XSync (gdk_x11_display_get_xdisplay (gdk_display_get_default ()), False);
  window_test_spin (0.15);
}

static gulong
window_xid (GtkWidget *window)
{
  return (gulong) gdk_x11_surface_get_xid (gtk_native_get_surface (GTK_NATIVE (window)));
}

/* Where a point of @widget lies in its X window: the widget's place in its toplevel plus the
 * toplevel's offset in its surface. */
static void
widget_point (GtkWidget *widget,
              double     fx,
              double     fy,
              int       *x,
              int       *y)
{
  GtkNative *native = gtk_widget_get_native (widget);
  graphene_point_t p = GRAPHENE_POINT_INIT (fx * gtk_widget_get_width (widget), fy * gtk_widget_get_height (widget));
  graphene_point_t out;
  double sx, sy;

  g_assert_true (gtk_widget_compute_point (widget, GTK_WIDGET (native), &p, &out));
  gtk_native_get_surface_transform (native, &sx, &sy);
  *x = (int) round (out.x + sx);
  *y = (int) round (out.y + sy);
}

/* Move the pointer over the point (fx, fy) of @widget, as fractions of its size. */
static void
pointer_to (GtkWidget *widget,
            double     fx,
            double     fy)
{
  int x, y;

  widget_point (widget, fx, fy, &x, &y);
  xdotool ("mousemove --window %lu %d %d", window_xid (GTK_WIDGET (gtk_widget_get_native (widget))), x, y);
}

static void
focus_window (GtkWidget *window)
{
  xdotool ("windowfocus --sync %lu", window_xid (window));
}

static double
sidebar_scroll_value (KinoraWindow *self)
{
  return gtk_adjustment_get_value (gtk_scrolled_window_get_vadjustment (self->sidebar_scroll));
}

/* Scroll the sidebar so @widget's top is at the top of the visible area. */
static void
scroll_sidebar_to (KinoraWindow *self,
                   GtkWidget    *widget)
{
  graphene_point_t p;

  /* the point is in the visible area's coordinates, which move with the scrolling */
  g_assert_true (gtk_widget_compute_point (widget, GTK_WIDGET (self->sidebar_scroll), &GRAPHENE_POINT_INIT (0, 0), &p));
  gtk_adjustment_set_value (gtk_scrolled_window_get_vadjustment (self->sidebar_scroll),
                            sidebar_scroll_value (self) + p.y);
  window_test_spin (0.3);
}

static const char *
spin_text (GtkSpinButton *spin)
{
  return gtk_editable_get_text (GTK_EDITABLE (spin));
}

/* A window of the application at @width x @height, fresh settings and history, the test model loaded. */
static KinoraWindow *
new_window (int width,
            int height)
{
  KinoraWindow *self;

  window_test_reset (WINDOW_TEST_FRESH);
  self = g_object_ref_sink (kinora_window_new (app));
  window_test_present (self, width, height, 0.5);
  window_test_use_test_model (self);
  window_test_spin (0.3);
  focus_window (GTK_WIDGET (self));
  return self;
}

/* --- tests --------------------------------------------------------------------------------------- */

/* At the default size and at 1280x800 the prompt, the image and the model are in view as the window
 * opens, the sampling group follows the model group, and all its sliders fit in view together. */
static void
check_sidebar_fits (int         width,
                    int         height,
                    const char *name)
{
  KinoraWindow *self = new_window (width, height);
  GtkWidget *video_group = gtk_widget_get_next_sibling (GTK_WIDGET (self->sampling_group));
  g_autofree char *first = g_strdup_printf ("%s-top", name);
  g_autofree char *second = g_strdup_printf ("%s-sampling", name);
  graphene_rect_t s, v;

  /* the window's X surface has the asked size (its widget may be smaller by the frame GTK draws) */
  g_test_message ("surface %dx%d, window widget %dx%d", gdk_surface_get_width (gtk_native_get_surface (GTK_NATIVE (self))),
                  gdk_surface_get_height (gtk_native_get_surface (GTK_NATIVE (self))),
                  gtk_widget_get_width (GTK_WIDGET (self)), gtk_widget_get_height (GTK_WIDGET (self)));
  g_assert_cmpint (gdk_surface_get_width (gtk_native_get_surface (GTK_NATIVE (self))), ==, width);
  g_assert_cmpint (gdk_surface_get_height (gtk_native_get_surface (GTK_NATIVE (self))), ==, height);
  g_assert_false (adw_flap_get_folded (self->flap));
  g_assert_cmpfloat (sidebar_scroll_value (self), ==, 0);
  window_test_screenshot (GTK_WIDGET (self), first);
  g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->prompt_view)));
  g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->image_picker)));
  g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->model_row)));
  g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->task_row)));

  /* the sampling group comes right after the model group, before the video settings */
  g_assert_true (gtk_widget_get_next_sibling (GTK_WIDGET (self->model_group)) == GTK_WIDGET (self->sampling_group));
  g_assert_true (gtk_widget_compute_bounds (GTK_WIDGET (self->sampling_group), GTK_WIDGET (self), &s));
  g_assert_true (gtk_widget_compute_bounds (video_group, GTK_WIDGET (self), &v));
  g_assert_cmpfloat (s.origin.y + s.size.height, <=, v.origin.y);

  scroll_sidebar_to (self, GTK_WIDGET (self->sampling_group));
  window_test_screenshot (GTK_WIDGET (self), second);
  g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->seed_scale)));
  g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->seed_spin)));
  g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->steps_scale)));
  g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->guide_scale)));
  g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->solver_row)));
  /* the test model's values are the ones shown */
  g_assert_cmpstr (spin_text (self->steps_spin), ==, "8");
  g_assert_cmpstr (spin_text (self->guide_spin), ==, "5.0");
  g_assert_cmpstr (spin_text (self->seed_spin), ==, "42");

  window_test_destroy_window (self);
}

static void
test_sidebar_fits_default (void)
{
  g_autoptr(GSettings) settings = g_settings_new ("io.github.kinora.Kinora");
  g_autoptr(GVariant) w = g_settings_get_default_value (settings, "window-width");
  g_autoptr(GVariant) h = g_settings_get_default_value (settings, "window-height");

  check_sidebar_fits (g_variant_get_int32 (w), g_variant_get_int32 (h), "input-01-default-size");
}

static void
test_sidebar_fits_1280x800 (void)
{
  check_sidebar_fits (1280, 800, "input-02-1280x800");
}

/* Ctrl+Enter generates, Escape cancels (nothing kept, no error), Ctrl+? shows the shortcuts. */
static void
test_shortcuts (void)
{
  KinoraWindow *self = new_window (1180, 760);
  GtkWindow *overlay;

  gtk_spin_button_set_value (self->steps_spin, 1000);   /* long enough to cancel */
  gtk_widget_grab_focus (GTK_WIDGET (self->prompt_view));
  xdotool ("type --delay 10 'a lighthouse in fog'");
  {
    g_autofree char *prompt = NULL;
    GtkTextIter s, e;

    gtk_text_buffer_get_bounds (gtk_text_view_get_buffer (self->prompt_view), &s, &e);
    prompt = gtk_text_buffer_get_text (gtk_text_view_get_buffer (self->prompt_view), &s, &e, FALSE);
    g_assert_cmpstr (prompt, ==, "a lighthouse in fog");
  }

  xdotool ("key ctrl+Return");
  g_assert_true (window_test_wait_until (self, window_test_job_running, 5));
  g_assert_true (window_test_wait_until (self, window_test_first_preview, WINDOW_TEST_TIMEOUT_S));
  g_assert_nonnull (self->job);
  window_test_screenshot (GTK_WIDGET (self), "input-03-generating");
  g_assert_cmpstr (gtk_stack_get_visible_child_name (self->output_stack), ==, "preview");
  g_assert_true (gtk_widget_get_visible (self->cancel_button));
  /* Generate stays usable while a job runs: it adds the settings to the queue */
  g_assert_true (gtk_widget_is_sensitive (self->generate_button));

  xdotool ("key Escape");
  /* Escape cancels at once; the worker (at the lowest priority, on a busy machine) stops at its next step */
  g_assert_true (self->job == NULL || g_cancellable_is_cancelled (self->job_cancellable));
  {
    gint64 t0 = g_get_monotonic_time ();
    guint n0 = self->n_previews;
    gboolean done = window_test_wait_until (self, window_test_job_done, WINDOW_TEST_TIMEOUT_S);
    g_test_message ("cancel took %.1f s, previews %u -> %u", (g_get_monotonic_time () - t0) / 1e6, n0, self->n_previews);
    g_assert_true (done);
  }
  g_assert_null (self->last_error);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (self->history)), ==, 0);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (self->output_stack), ==, "ready");
  g_assert_false (gtk_widget_get_visible (self->cancel_button));
  g_assert_true (gtk_widget_is_sensitive (self->generate_button));

  xdotool ("key ctrl+question");
  overlay = GTK_WINDOW (gtk_application_window_get_help_overlay (GTK_APPLICATION_WINDOW (self)));
  g_assert_nonnull (overlay);
  for (int i = 0; i < 20 && !gtk_widget_get_mapped (GTK_WIDGET (overlay)); i++)
    window_test_spin (0.1);
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (overlay)));
  window_test_spin (0.3);
  window_test_screenshot (GTK_WIDGET (overlay), "input-04-shortcuts");
  gtk_window_close (overlay);
  window_test_spin (0.2);

  /* Ctrl+, opens the preferences */
  focus_window (GTK_WIDGET (self));
  xdotool ("key ctrl+comma");
  g_assert_nonnull (self->preferences);
  for (int i = 0; i < 20 && !gtk_widget_get_mapped (GTK_WIDGET (self->preferences)); i++)
    window_test_spin (0.1);
  g_assert_true (gtk_widget_get_mapped (GTK_WIDGET (self->preferences)));
  window_test_spin (0.3);
  window_test_screenshot (GTK_WIDGET (self->preferences), "input-05-preferences");
  gtk_window_close (self->preferences);
  window_test_spin (0.2);

  window_test_destroy_window (self);
}

/* Dragging the steps slider changes the steps, and the spin button beside it shows the new value. */
static void
test_drag_slider (void)
{
  KinoraWindow *self = new_window (1280, 800);
  GtkAdjustment *adj = gtk_range_get_adjustment (GTK_RANGE (self->steps_scale));
  double lower = gtk_adjustment_get_lower (adj), upper = gtk_adjustment_get_upper (adj);
  int x0, y0, x1, y1;
  double expected;

  scroll_sidebar_to (self, GTK_WIDGET (self->sampling_group));
  g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->steps_scale)));
  g_assert_cmpfloat (gtk_range_get_value (GTK_RANGE (self->steps_scale)), ==, 8);

  /* from the knob (8 of 1-100) to three quarters along the slider */
  widget_point (GTK_WIDGET (self->steps_scale), 0, 0.5, &x0, &y0);
  widget_point (GTK_WIDGET (self->steps_scale), 1, 0.5, &x1, &y1);
  {
    gulong xid = window_xid (GTK_WIDGET (self));
    double knob = x0 + (x1 - x0) * (8 - lower) / (upper - lower);
    double target = x0 + 0.75 * (x1 - x0);

    /* the slider runs a few pixels inside the widget at each end: allow 3 steps of slack */
    expected = lower + 0.75 * (upper - lower);
    xdotool ("mousemove --window %lu %d %d mousedown 1", xid, (int) round (knob), y0);
    xdotool ("mousemove --window %lu %d %d", xid, (int) round ((knob + target) / 2), y0);
    xdotool ("mousemove --window %lu %d %d mouseup 1", xid, (int) round (target), y0);
  }
  g_test_message ("steps after the drag: %g (about %g)", gtk_spin_button_get_value (self->steps_spin), expected);
  g_assert_cmpfloat (fabs (gtk_spin_button_get_value (self->steps_spin) - expected), <=, 3);
  g_assert_cmpfloat (gtk_range_get_value (GTK_RANGE (self->steps_scale)), ==,
                     gtk_spin_button_get_value (self->steps_spin));
  {
    g_autofree char *shown = g_strdup_printf ("%d", gtk_spin_button_get_value_as_int (self->steps_spin));
    g_assert_cmpstr (spin_text (self->steps_spin), ==, shown);
  }
  window_test_screenshot (GTK_WIDGET (self), "input-06-dragged-steps");
  g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->steps_spin)));

  /* the seed slider moves through neighbouring seeds and centres on the new one when let go */
  {
    GtkAdjustment *sadj = gtk_range_get_adjustment (GTK_RANGE (self->seed_scale));
    double seed_x;

    g_assert_cmpfloat (gtk_adjustment_get_lower (sadj), ==, 0);
    g_assert_cmpfloat (gtk_adjustment_get_upper (sadj), ==, 100);
    gtk_spin_button_set_value (self->seed_spin, 1000);
    g_assert_cmpfloat (gtk_adjustment_get_lower (sadj), ==, 950);
    g_assert_cmpfloat (gtk_adjustment_get_upper (sadj), ==, 1050);
    widget_point (GTK_WIDGET (self->seed_scale), 0, 0.5, &x0, &y0);
    widget_point (GTK_WIDGET (self->seed_scale), 1, 0.5, &x1, &y1);
    seed_x = (x0 + x1) / 2.0;
    xdotool ("mousemove --window %lu %d %d mousedown 1", window_xid (GTK_WIDGET (self)), (int) round (seed_x), y0);
    xdotool ("mousemove --window %lu %d %d mouseup 1", window_xid (GTK_WIDGET (self)),
             (int) round (seed_x + 0.2 * (x1 - x0)), y0);
    window_test_spin (0.2);
    g_test_message ("seed after the drag: %g", gtk_spin_button_get_value (self->seed_spin));
    g_assert_cmpfloat (fabs (gtk_spin_button_get_value (self->seed_spin) - 1020), <=, 4);
    g_assert_cmpfloat (gtk_adjustment_get_lower (sadj), ==, gtk_spin_button_get_value (self->seed_spin) - 50);
    g_assert_cmpfloat (gtk_range_get_value (GTK_RANGE (self->seed_scale)), ==,
                       gtk_spin_button_get_value (self->seed_spin));

    /* with the keyboard: one seed a key press */
    {
      double before = gtk_spin_button_get_value (self->seed_spin);

      gtk_widget_grab_focus (GTK_WIDGET (self->seed_scale));
      xdotool ("key Right Right Right");
      g_assert_cmpfloat (gtk_spin_button_get_value (self->seed_spin), ==, before + 3);
      g_assert_cmpfloat (gtk_range_get_value (GTK_RANGE (self->seed_scale)), ==, before + 3);
      g_assert_cmpfloat (gtk_adjustment_get_lower (sadj), ==, before + 3 - 50);
    }
  }

  window_test_destroy_window (self);
}

/* The mouse wheel over sliders and spin buttons scrolls the sidebar and changes nothing, unless
 * the control has the keyboard focus. */
static void
test_wheel_never_edits (void)
{
  KinoraWindow *self = new_window (1180, 760);
  GtkWidget *controls[] = {
    GTK_WIDGET (self->seed_spin), GTK_WIDGET (self->seed_scale), GTK_WIDGET (self->steps_scale),
    GTK_WIDGET (self->steps_spin), GTK_WIDGET (self->guide_scale), GTK_WIDGET (self->frames_spin),
  };
  GtkSpinButton *spins[] = { self->seed_spin, self->steps_spin, self->guide_spin, self->frames_spin,
                             self->fps_spin, self->shift_spin };
  double values[G_N_ELEMENTS (spins)];

  for (guint i = 0; i < G_N_ELEMENTS (spins); i++)
    values[i] = gtk_spin_button_get_value (spins[i]);
  gtk_widget_grab_focus (GTK_WIDGET (self->prompt_view));

  for (guint c = 0; c < G_N_ELEMENTS (controls); c++)
    {
      double before;

      /* bring the control into the middle of the view, where the wheel can scroll both ways */
      {
        GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (self->sidebar_scroll);
        double page = gtk_adjustment_get_page_size (adj);
        double max = gtk_adjustment_get_upper (adj) - page;

        graphene_point_t p;

        g_assert_true (gtk_widget_compute_point (controls[c], GTK_WIDGET (self->sidebar_scroll),
                                                 &GRAPHENE_POINT_INIT (0, 0), &p));
        gtk_adjustment_set_value (adj, CLAMP (sidebar_scroll_value (self) + p.y - page / 2, 30, max - 30));
        window_test_spin (0.2);
      }
      g_assert_true (window_test_in_sidebar_view (self, controls[c]));
      before = sidebar_scroll_value (self);
      pointer_to (controls[c], 0.5, 0.5);
      xdotool ("click 5");   /* wheel down */
      g_test_message ("control %u: sidebar %g -> %g", c, before, sidebar_scroll_value (self));
      g_assert_cmpfloat (sidebar_scroll_value (self), >, before);
      before = sidebar_scroll_value (self);
      xdotool ("click 4");   /* wheel up */
      g_assert_cmpfloat (sidebar_scroll_value (self), <, before);
      for (guint i = 0; i < G_N_ELEMENTS (spins); i++)
        g_assert_cmpfloat (gtk_spin_button_get_value (spins[i]), ==, values[i]);
    }

  /* the sidebar scrolls down to the end with the wheel over the sliders; the values stay */
  scroll_sidebar_to (self, GTK_WIDGET (self->sampling_group));
  pointer_to (GTK_WIDGET (self->steps_scale), 0.5, 0.5);
  xdotool ("click --repeat 10 --delay 30 5");
  window_test_spin (0.3);
  window_test_screenshot (GTK_WIDGET (self), "input-07-wheel-scrolled");
  for (guint i = 0; i < G_N_ELEMENTS (spins); i++)
    g_assert_cmpfloat (gtk_spin_button_get_value (spins[i]), ==, values[i]);
  g_assert_cmpstr (spin_text (self->steps_spin), ==, "8");
  g_assert_cmpstr (spin_text (self->seed_spin), ==, "42");
  g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->fps_spin)));

  /* with the focus the wheel edits, as GTK does */
  scroll_sidebar_to (self, GTK_WIDGET (self->sampling_group));
  gtk_widget_grab_focus (GTK_WIDGET (self->steps_scale));
  window_test_spin (0.1);
  {
    double scroll = sidebar_scroll_value (self);

    pointer_to (GTK_WIDGET (self->steps_scale), 0.5, 0.5);
    xdotool ("click 4");
    g_assert_cmpfloat (gtk_spin_button_get_value (self->steps_spin), !=, values[1]);
    g_assert_cmpfloat (sidebar_scroll_value (self), ==, scroll);
  }

  window_test_destroy_window (self);
}

/* The image chooser: open it with the button, type a path, confirm; the image is loaded and shown. */
static GtkWindow *
find_file_chooser (void)
{
  GListModel *toplevels = gtk_window_get_toplevels ();   /* borrowed */

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWindow) w = g_list_model_get_item (toplevels, i);
      if (GTK_IS_FILE_CHOOSER_DIALOG (w) && gtk_widget_get_mapped (GTK_WIDGET (w)))
        return w;
    }
  return NULL;
}

static GtkWidget *
find_button (GtkWidget  *widget,
             const char *action)
{
  if (GTK_IS_BUTTON (widget) && g_strcmp0 (gtk_actionable_get_action_name (GTK_ACTIONABLE (widget)), action) == 0)
    return widget;
  for (GtkWidget *c = gtk_widget_get_first_child (widget); c != NULL; c = gtk_widget_get_next_sibling (c))
    {
      GtkWidget *found = find_button (c, action);
      if (found != NULL)
        return found;
    }
  return NULL;
}

static void
test_file_chooser (void)
{
  KinoraWindow *self = new_window (1280, 800);
  g_autofree char *tmp = g_dir_make_tmp ("kinora-chooser-XXXXXX", NULL);
  g_autofree char *png = g_build_filename (tmp, "lighthouse.png", NULL);
  g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, 160, 120);
  GtkWidget *choose = find_button (GTK_WIDGET (self->image_picker), "picker.choose");
  GtkWindow *chooser = NULL;

  gdk_pixbuf_fill (pixbuf, 0x3070c0ff);
  g_assert_true (gdk_pixbuf_save (pixbuf, png, "png", NULL, NULL));
  g_assert_nonnull (choose);
  g_assert_true (window_test_in_sidebar_view (self, choose));

  pointer_to (choose, 0.5, 0.5);
  xdotool ("click 1");
  for (int i = 0; i < 50 && (chooser = find_file_chooser ()) == NULL; i++)
    window_test_spin (0.1);
  g_assert_nonnull (chooser);
  window_test_spin (0.5);
  focus_window (GTK_WIDGET (chooser));
  xdotool ("key ctrl+l");
  xdotool ("type --delay 10 '%s'", png);
  window_test_spin (0.3);
  window_test_screenshot (GTK_WIDGET (chooser), "input-08-file-chooser");
  xdotool ("key Return");
  g_assert_true (window_test_wait_until (self, window_test_image_loaded, 10));
  g_assert_null (find_file_chooser ());
  g_assert_cmpstr (kinora_image_picker_get_path (self->image_picker), ==, png);
  {
    GdkTexture *t = kinora_image_picker_get_texture (self->image_picker);
    g_assert_cmpint (gdk_texture_get_width (t), ==, 160);
    g_assert_cmpint (gdk_texture_get_height (t), ==, 120);
  }
  window_test_spin (0.3);
  window_test_screenshot (GTK_WIDGET (self), "input-09-image-chosen");
  g_assert_true (window_test_in_sidebar_view (self, choose));
  g_unlink (png);
  g_rmdir (tmp);

  window_test_destroy_window (self);
}

/* A finished run at 1280x800 with the sidebar showing the model and the sampling sliders (the
 * picture for data/screenshots/main.png): the sliders show the values the run used. */
static void
test_result_with_sliders (void)
{
  KinoraWindow *self = new_window (1280, 800);
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (self->sidebar_scroll);
  graphene_point_t p;

  gtk_widget_grab_focus (GTK_WIDGET (self->prompt_view));
  xdotool ("type --delay 5 'a slow pan over a city at night'");
  gtk_spin_button_set_value (self->steps_spin, 30);
  gtk_spin_button_set_value (self->guide_spin, 6);
  gtk_spin_button_set_value (self->seed_spin, 1234);
  gtk_toggle_button_set_active (self->seed_lock, TRUE);
  xdotool ("key ctrl+Return");
  g_assert_true (window_test_wait_until (self, window_test_job_running, 5));
  g_assert_true (window_test_wait_until (self, window_test_job_done, WINDOW_TEST_TIMEOUT_S));
  g_assert_true (window_test_wait_until (self, window_test_result_ready, WINDOW_TEST_TIMEOUT_S));
  g_assert_null (self->last_error);
  g_assert_cmpint (self->result_params->steps, ==, 30);
  g_assert_cmpint (self->result_params->seed, ==, 1234);

  /* the sampling group's bottom at the bottom of the visible area */
  g_assert_true (gtk_widget_compute_point (GTK_WIDGET (self->sampling_group), GTK_WIDGET (self->sidebar_scroll),
                                           &GRAPHENE_POINT_INIT (0, gtk_widget_get_height (GTK_WIDGET (self->sampling_group))),
                                           &p));
  gtk_adjustment_set_value (adj, gtk_adjustment_get_value (adj) + p.y + 12
                                 - gtk_widget_get_height (GTK_WIDGET (self->sidebar_scroll)));
  pointer_to (GTK_WIDGET (self->player), 0.5, 0.5);
  window_test_spin (1.0);
  window_test_screenshot (GTK_WIDGET (self), "input-10-result-with-sliders");
  g_assert_cmpstr (gtk_stack_get_visible_child_name (self->output_stack), ==, "result");
  g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->model_row)));
  g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->seed_scale)));
  g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->steps_scale)));
  g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->guide_scale)));
  g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->solver_row)));
  g_assert_cmpstr (spin_text (self->steps_spin), ==, "30");
  g_assert_cmpstr (spin_text (self->guide_spin), ==, "6.0");
  g_assert_cmpstr (spin_text (self->seed_spin), ==, "1234");
  g_assert_cmpfloat (gtk_range_get_value (GTK_RANGE (self->steps_scale)), ==, 30);

  window_test_destroy_window (self);
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *xdotool_path = g_find_program_in_path ("xdotool");
  g_autoptr(GError) error = NULL;
  int ret;

  window_test_init (&argc, &argv);
  /* these tests exist to press real keys and buttons: without xdotool they fail */
  if (xdotool_path == NULL)
    g_error ("xdotool is not installed (tools/install-deps.sh --test installs it)");

  app = GTK_APPLICATION (kinora_application_new ());
  g_application_set_flags (G_APPLICATION (app), G_APPLICATION_NON_UNIQUE);
  g_assert_true (g_application_register (G_APPLICATION (app), NULL, &error));
  g_assert_no_error (error);

  g_test_add_func ("/window-input/sidebar-fits-default", test_sidebar_fits_default);
  g_test_add_func ("/window-input/sidebar-fits-1280x800", test_sidebar_fits_1280x800);
  g_test_add_func ("/window-input/shortcuts", test_shortcuts);
  g_test_add_func ("/window-input/drag-slider", test_drag_slider);
  g_test_add_func ("/window-input/wheel-never-edits", test_wheel_never_edits);
  g_test_add_func ("/window-input/file-chooser", test_file_chooser);
  g_test_add_func ("/window-input/result-with-sliders", test_result_with_sliders);

  ret = g_test_run ();
  g_object_unref (app);
  return ret;
}
