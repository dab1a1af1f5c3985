/* test-window-estimate.c: tests for ui/kinora-window-estimate.c under Xvfb: the pre-flight estimate
 * under the Generate button appears once the test model is loaded and follows the frame count, the size
 * and the steps.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <adwaita.h>

#include "kinora-window-private.h"

#define TIMEOUT_S 120

typedef gboolean (*Condition) (KinoraWindow *self);

static gboolean
timeout_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Run the main loop until @cond holds; FALSE after @seconds. */
static gboolean
wait_until (KinoraWindow *self,
            Condition     cond,
            double        seconds)
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
always_false (KinoraWindow *self)
{
  return FALSE;
}

static gboolean
model_loaded (KinoraWindow *self)
{
  return self->load_cancellable == NULL;
}

static KinoraWindow *
new_window (void)
{
  g_autoptr(GSettings) settings = g_settings_new ("io.github.kinora.Kinora");
  g_autoptr(GSettingsSchema) schema = NULL;
  g_auto(GStrv) keys = NULL;
  KinoraWindow *self;

  g_object_get (settings, "settings-schema", &schema, NULL);
  keys = g_settings_schema_list_keys (schema);
  for (guint i = 0; keys[i] != NULL; i++)
    g_settings_reset (settings, keys[i]);
  self = g_object_ref_sink (g_object_new (KINORA_TYPE_WINDOW, NULL));
  gtk_window_set_default_size (GTK_WINDOW (self), 1180, 760);
  gtk_window_present (GTK_WINDOW (self));
  wait_until (NULL, always_false, 0.5);
  return self;
}

static void
test_follows_settings (void)
{
  KinoraWindow *self = new_window ();
  g_autofree char *at_9 = NULL, *at_33 = NULL, *bigger = NULL;

  /* no model chosen yet: nothing to estimate */
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (self->estimate_label)));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "win.use-test-model", NULL));
  g_assert_true (wait_until (self, model_loaded, TIMEOUT_S));
  g_assert_null (self->last_error);
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (self->estimate_label)));

  gtk_spin_button_set_value (self->frames_spin, 9);
  at_9 = g_strdup (gtk_label_get_text (self->estimate_label));
  g_test_message ("9 frames: %s", at_9);
  g_assert_true (g_str_has_prefix (at_9, "Fits: "));
  g_assert_nonnull (strstr (at_9, "RAM"));

  /* more frames: a larger output video and a longer decode, so the line changes */
  gtk_spin_button_set_value (self->frames_spin, 81);
  at_33 = g_strdup (gtk_label_get_text (self->estimate_label));
  g_test_message ("81 frames: %s", at_33);
  g_assert_cmpstr (at_33, !=, at_9);

  /* back to 9 frames: the same line as before */
  gtk_spin_button_set_value (self->frames_spin, 9);
  g_assert_cmpstr (gtk_label_get_text (self->estimate_label), ==, at_9);

  /* a larger size changes it too */
  adw_combo_row_set_selected (self->size_row, g_list_model_get_n_items (adw_combo_row_get_model (self->size_row)) - 1);
  bigger = g_strdup (gtk_label_get_text (self->estimate_label));
  g_test_message ("largest size: %s", bigger);
  g_assert_cmpstr (bigger, !=, at_9);

  gtk_window_destroy (GTK_WINDOW (self));
  wait_until (NULL, always_false, 0.2);
  g_assert_finalize_object (self);
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *home = g_dir_make_tmp ("kinora-test-XXXXXX", NULL);
  g_autofree char *data = g_build_filename (home, "data", NULL);
  g_autofree char *config = g_build_filename (home, "config", NULL);
  g_autofree char *cache = g_build_filename (home, "cache", NULL);

  g_setenv ("XDG_DATA_HOME", data, TRUE);
  g_setenv ("XDG_CONFIG_HOME", config, TRUE);
  g_setenv ("XDG_CACHE_HOME", cache, TRUE);
  g_test_init (&argc, &argv, NULL);
  gtk_init ();
  adw_init ();

  g_test_add_func ("/window-estimate/follows-settings", test_follows_settings);

  return g_test_run ();
}
