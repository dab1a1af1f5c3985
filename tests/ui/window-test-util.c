/* window-test-util.c: the harness shared by the UI tests that drive a KinoraWindow under Xvfb.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <math.h>

#include "window-test-util.h"

/* A private data dir for the history, config and cache; the system's data dirs stay (mime types,
 * icons). Then GTest, GTK and libadwaita; a test that needs GStreamer calls gst_init itself. */
void
window_test_init (int    *argc,
                  char ***argv)
{
  g_autofree char *home = g_dir_make_tmp ("kinora-test-XXXXXX", NULL);
  g_autofree char *data = g_build_filename (home, "data", NULL);
  g_autofree char *config = g_build_filename (home, "config", NULL);
  g_autofree char *cache = g_build_filename (home, "cache", NULL);

  g_setenv ("XDG_DATA_HOME", data, TRUE);
  g_setenv ("XDG_CONFIG_HOME", config, TRUE);
  g_setenv ("XDG_CACHE_HOME", cache, TRUE);
  g_test_init (argc, argv, NULL);
  gtk_init ();
  adw_init ();
}

/* --- waiting on the main loop -------------------------------------------------------------------- */

static gboolean
timeout_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Run the main loop until @cond holds; FALSE after @seconds. */
gboolean
window_test_wait_until (KinoraWindow        *self,
                        WindowTestCondition  cond,
                        double               seconds)
{
  gboolean timed_out = FALSE;
  guint id = g_timeout_add ((guint) (seconds * 1000), timeout_cb, &timed_out);

  while (!cond (self) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (id);
  return cond (self);
}

static gboolean
never (KinoraWindow *unused)
{
  return FALSE;
}

/* Run the main loop for @seconds. */
void
window_test_spin (double seconds)
{
  window_test_wait_until (NULL, never, seconds);
}

/* --- conditions ---------------------------------------------------------------------------------- */

gboolean
window_test_model_loaded (KinoraWindow *self)
{
  return self->load_cancellable == NULL;
}

gboolean
window_test_job_running (KinoraWindow *self)
{
  return self->job != NULL;
}

gboolean
window_test_job_done (KinoraWindow *self)
{
  return self->job == NULL;
}

gboolean
window_test_first_preview (KinoraWindow *self)
{
  return self->job == NULL || self->n_previews > 0;
}

gboolean
window_test_result_ready (KinoraWindow *self)
{
  return self->result_item != NULL || self->last_error != NULL;
}

gboolean
window_test_image_loaded (KinoraWindow *self)
{
  return kinora_image_picker_get_texture (self->image_picker) != NULL;
}

/* --- windows ------------------------------------------------------------------------------------- */

static void
delete_tree (GFile *file)
{
  g_autoptr(GFileEnumerator) e = g_file_enumerate_children (file, G_FILE_ATTRIBUTE_STANDARD_NAME,
                                                            G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
  GFileInfo *info;
  GFile *child;

  while (e != NULL && g_file_enumerator_iterate (e, &info, &child, NULL, NULL) && info != NULL)
    delete_tree (child);
  g_file_delete (file, NULL, NULL);
}

/* Fresh state for the next window: an empty history and/or every setting at its default. */
void
window_test_reset (WindowTestReset reset)
{
  if (reset & WINDOW_TEST_CLEAR_HISTORY)
    {
      g_autoptr(GFile) history = g_file_new_build_filename (g_get_user_data_dir (), "kinora", "history", NULL);

      delete_tree (history);
    }
  if (reset & WINDOW_TEST_RESET_SETTINGS)
    {
      g_autoptr(GSettings) settings = g_settings_new ("io.github.kinora.Kinora");
      g_autoptr(GSettingsSchema) schema = NULL;
      g_auto(GStrv) keys = NULL;

      g_object_get (settings, "settings-schema", &schema, NULL);
      keys = g_settings_schema_list_keys (schema);
      for (guint i = 0; keys[i] != NULL; i++)
        g_settings_reset (settings, keys[i]);
    }
}

/* Show @self at @width x @height and let it settle for @settle_s seconds. */
void
window_test_present (KinoraWindow *self,
                     int           width,
                     int           height,
                     double        settle_s)
{
  gtk_window_set_default_size (GTK_WINDOW (self), width, height);
  gtk_window_present (GTK_WINDOW (self));
  window_test_spin (settle_s);
}

/* A window without an application, after @reset, shown at @width x @height; the test owns a reference. */
KinoraWindow *
window_test_new_window (WindowTestReset reset,
                        int             width,
                        int             height)
{
  KinoraWindow *self;

  window_test_reset (reset);
  self = g_object_ref_sink (g_object_new (KINORA_TYPE_WINDOW, NULL));
  window_test_present (self, width, height, 0.5);
  return self;
}

/* The built-in random test model, loaded without error */
void
window_test_use_test_model (KinoraWindow *self)
{
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "win.use-test-model", NULL));
  g_assert_true (window_test_wait_until (self, window_test_model_loaded, WINDOW_TEST_TIMEOUT_S));
  g_assert_null (self->last_error);
}

/* Destroy @self with nothing running; the test's reference is the last one. */
void
window_test_destroy_window (KinoraWindow *self)
{
  gtk_window_destroy (GTK_WINDOW (self));
  window_test_spin (0.2);
  g_assert_finalize_object (self);
}

/* Close @self as the user does, which cancels a running job (a bare gtk_window_destroy leaves it to
 * run on). The job's callback holds the window until the worker stops: wait for that (30 s at most). */
void
window_test_close_window (KinoraWindow *self)
{
  gpointer weak = self;

  g_object_add_weak_pointer (G_OBJECT (self), &weak);
  gtk_window_close (GTK_WINDOW (self));
  g_object_unref (self);
  for (int i = 0; i < 300 && weak != NULL; i++)
    window_test_spin (0.1);
  g_assert_null (weak);
}

/* --- what the window shows ----------------------------------------------------------------------- */

/* @widget lies wholly inside the visible area of the sidebar (its scrolled window). */
gboolean
window_test_in_sidebar_view (KinoraWindow *self,
                             GtkWidget    *widget)
{
  graphene_rect_t b;
  GtkWidget *view = GTK_WIDGET (self->sidebar_scroll);

  if (!gtk_widget_get_mapped (widget) || !gtk_widget_compute_bounds (widget, view, &b))
    return FALSE;
  return b.origin.y >= -0.5 && b.origin.y + b.size.height <= gtk_widget_get_height (view) + 0.5
         && b.origin.x >= -0.5 && b.origin.x + b.size.width <= gtk_widget_get_width (view) + 0.5;
}

typedef struct
{
  GtkWidget     *widget;
  GdkPaintable  *paintable;
  GskRenderNode *node;
  int            width;
  int            height;
} AfterPaint;

static void
after_paint_cb (GdkFrameClock *clock,
                AfterPaint    *ap)
{
  GtkSnapshot *snapshot;

  if (ap->node != NULL)
    return;
  snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (ap->paintable, GDK_SNAPSHOT (snapshot), ap->width, ap->height);
  ap->node = gtk_snapshot_free_to_node (snapshot);
}

/* Render @widget's window through its own renderer as it is drawn, save it under
 * $KINORA_SCREENSHOT_DIR, and check it is not blank: the standard deviation of the luma must
 * exceed 8 levels (a flat or nearly flat image fails). The caller checks the state it shows. */
void
window_test_screenshot (GtkWidget  *widget,
                        const char *name)
{
  int w = gtk_widget_get_width (widget), h = gtk_widget_get_height (widget);
  g_autoptr(GdkPaintable) paintable = gtk_widget_paintable_new (widget);
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  const char *dir = g_getenv ("KINORA_SCREENSHOT_DIR");
  g_autofree guchar *pixels = NULL;
  double sum = 0, sum2 = 0, sd;
  gsize n = (gsize) w * h;

  g_assert_cmpint (w, >, 0);
  g_assert_cmpint (h, >, 0);
  /* snapshot right after a paint, when layout is complete (not in the middle of a relayout) */
  {
    GdkFrameClock *clock = gtk_widget_get_frame_clock (widget);
    AfterPaint ap = { widget, paintable, NULL, w, h };
    gulong id = g_signal_connect (clock, "after-paint", G_CALLBACK (after_paint_cb), &ap);

    for (int tries = 0; tries < 50 && ap.node == NULL; tries++)
      {
        gtk_widget_queue_draw (widget);
        window_test_spin (0.1);
      }
    g_signal_handler_disconnect (clock, id);
    node = ap.node;
  }
  g_assert_nonnull (node);
  texture = gsk_renderer_render_texture (gtk_native_get_renderer (GTK_NATIVE (widget)), node,
                                         &GRAPHENE_RECT_INIT (0, 0, w, h));
  if (dir != NULL)
    {
      g_autofree char *path = g_strdup_printf ("%s/%s.png", dir, name);

      g_mkdir_with_parents (dir, 0755);
      g_assert_true (gdk_texture_save_to_png (texture, path));
      g_test_message ("screenshot %s", path);
    }

  pixels = g_malloc (n * 4);
  gdk_texture_download (texture, pixels, (gsize) w * 4);
  for (gsize i = 0; i < n; i++)
    {
      double y = 0.299 * pixels[i * 4 + 2] + 0.587 * pixels[i * 4 + 1] + 0.114 * pixels[i * 4 + 0];
      sum += y;
      sum2 += y * y;
    }
  sd = sqrt (MAX (sum2 / n - (sum / n) * (sum / n), 0));
  g_test_message ("%s: %dx%d, luma sd %.1f", name, w, h, sd);
  g_assert_cmpfloat (sd, >, 8.0);
}
