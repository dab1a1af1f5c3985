/* test-window-estimate.c: tests for ui/kinora-window-estimate.c under Xvfb: the pre-flight estimate
 * under the Generate button appears once the test model is loaded and follows the frame count, the size
 * and the steps, and the LoRA list (a file added, disabled, at strength 0, removed).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <adwaita.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

/* The RAM figure of the estimate's line ("Fits: 1.2 GiB RAM, about 3 s"), in GiB */
static double
ram_gib (const char *line)
{
  const char *ram = strstr (line, " RAM");
  const char *num = ram;
  double v = -1;

  g_assert_nonnull (ram);
  while (num > line && num[-1] != ' ' && num[-1] != ':')
    num--;                    /* the unit */
  num--;
  while (num > line && num[-1] != ' ')
    num--;                    /* the number */
  g_assert_cmpint (sscanf (num, "%lf", &v), ==, 1);
  if (strncmp (ram - 3, "MiB", 3) == 0)
    v /= 1024.0;
  return v;
}

static void
test_follows_loras (void)
{
  KinoraWindow *self = window_test_new_window (WINDOW_TEST_RESET_SETTINGS, 1180, 760);
  g_autofree char *dir = g_dir_make_tmp ("kinora-estimate-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "big-lora.safetensors", NULL);
  g_autofree char *none = NULL;
  FILE *f;

  window_test_use_test_model (self);
  gtk_spin_button_set_value (self->frames_spin, 9);
  none = g_strdup (gtk_label_get_text (self->estimate_label));

  /* a LoRA file of 2 GiB (sparse: the estimate reads only its size) */
  f = fopen (path, "wb");
  g_assert_nonnull (f);
  g_assert_cmpint (ftruncate (fileno (f), (off_t) 2 << 30), ==, 0);
  fclose (f);
  KinoraLoraEntry *e = _kinora_window_add_lora (self, path, 1.0, 1.0);
  g_assert_nonnull (e);
  const char *with = gtk_label_get_text (self->estimate_label);
  g_test_message ("without: %s; with a 2 GiB LoRA: %s", none, with);
  /* its f32 copies on the host: twice the file (the tiny model runs on the CPU); one decimal shown */
  g_assert_cmpfloat (fabs (ram_gib (with) - ram_gib (none) - 4.0), <=, 0.1 + 1e-9);

  /* disabled, or at strength 0: as without it */
  adw_expander_row_set_enable_expansion (e->row, FALSE);
  g_assert_cmpstr (gtk_label_get_text (self->estimate_label), ==, none);
  adw_expander_row_set_enable_expansion (e->row, TRUE);
  g_assert_cmpstr (gtk_label_get_text (self->estimate_label), !=, none);
  gtk_spin_button_set_value (e->strength, 0);
  g_assert_cmpstr (gtk_label_get_text (self->estimate_label), ==, none);
  gtk_spin_button_set_value (e->strength, 0.8);
  g_assert_cmpstr (gtk_label_get_text (self->estimate_label), !=, none);
  _kinora_window_remove_lora (self, e);
  g_assert_cmpstr (gtk_label_get_text (self->estimate_label), ==, none);

  window_test_destroy_window (self);
  g_remove (path);
  g_rmdir (dir);
}

int
main (int   argc,
      char *argv[])
{
  window_test_init (&argc, &argv);

  g_test_add_func ("/window-estimate/follows-settings", test_follows_settings);
  g_test_add_func ("/window-estimate/follows-loras", test_follows_loras);

  return g_test_run ();
}
