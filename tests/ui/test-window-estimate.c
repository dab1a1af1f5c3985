/* test-window-estimate.c: tests for ui/kinora-window-estimate.c under Xvfb: the pre-flight estimate
 * under the Generate button appears once the test model is loaded and follows the frame count, the size
 * and the steps.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <adwaita.h>

#include "window-test-util.h"

static void
test_follows_settings (void)
{
  KinoraWindow *self = window_test_new_window (WINDOW_TEST_RESET_SETTINGS, 1180, 760);
  g_autofree char *at_9 = NULL, *at_33 = NULL, *bigger = NULL;

  /* no model chosen yet: nothing to estimate */
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (self->estimate_label)));
  window_test_use_test_model (self);
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

  window_test_destroy_window (self);
}

int
main (int   argc,
      char *argv[])
{
  window_test_init (&argc, &argv);

  g_test_add_func ("/window-estimate/follows-settings", test_follows_settings);

  return g_test_run ();
}
