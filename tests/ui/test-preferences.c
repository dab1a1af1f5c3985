/* test-preferences.c: tests for ui/kinora-preferences.c: the backend and precision rows and the
 * graphics memory spin button follow GSettings and write to it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <adwaita.h>

#include "kinora-preferences.h"

static void
collect_combo_rows (GtkWidget *widget,
                    GPtrArray *rows)
{
  if (ADW_IS_COMBO_ROW (widget))
    g_ptr_array_add (rows, widget);
  for (GtkWidget *c = gtk_widget_get_first_child (widget); c != NULL; c = gtk_widget_get_next_sibling (c))
    collect_combo_rows (c, rows);
}

static void
test_rows_follow_settings (void)
{
  g_autoptr(GSettings) settings = g_settings_new ("io.github.kinora.Kinora");
  KinoraPreferences *prefs;
  g_autoptr(GPtrArray) rows = g_ptr_array_new ();
  AdwComboRow *backend, *precision;
  g_autofree char *value = NULL;

  g_settings_reset (settings, "backend");
  g_settings_reset (settings, "precision");
  prefs = kinora_preferences_new (NULL);
  collect_combo_rows (GTK_WIDGET (prefs), rows);
  g_assert_cmpuint (rows->len, ==, 2);
  backend = rows->pdata[0];
  precision = rows->pdata[1];

  /* the defaults: automatic, bf16 */
  g_assert_cmpuint (adw_combo_row_get_selected (backend), ==, 0);
  g_assert_cmpuint (adw_combo_row_get_selected (precision), ==, 0);

  g_settings_set_string (settings, "backend", "cuda");
  g_settings_set_string (settings, "precision", "fp32");
  g_assert_cmpuint (adw_combo_row_get_selected (backend), ==, 2);
  g_assert_cmpuint (adw_combo_row_get_selected (precision), ==, 1);

  adw_combo_row_set_selected (backend, 1);
  adw_combo_row_set_selected (precision, 0);
  value = g_settings_get_string (settings, "backend");
  g_assert_cmpstr (value, ==, "cpu");
  g_clear_pointer (&value, g_free);
  value = g_settings_get_string (settings, "precision");
  g_assert_cmpstr (value, ==, "bf16");

  gtk_window_destroy (GTK_WINDOW (prefs));
}

static GtkSpinButton *
find_spin (GtkWidget *widget)
{
  if (GTK_IS_SPIN_BUTTON (widget))
    return GTK_SPIN_BUTTON (widget);
  for (GtkWidget *c = gtk_widget_get_first_child (widget); c != NULL; c = gtk_widget_get_next_sibling (c))
    {
      GtkSpinButton *s = find_spin (c);
      if (s != NULL)
        return s;
    }
  return NULL;
}

/* the device memory budget: 0 (all that is free) by default, 0..1024 GiB */
static void
test_vram_follows_settings (void)
{
  g_autoptr(GSettings) settings = g_settings_new ("io.github.kinora.Kinora");
  KinoraPreferences *prefs;
  GtkSpinButton *spin;

  g_settings_reset (settings, "vram-gib");
  prefs = kinora_preferences_new (NULL);
  spin = find_spin (GTK_WIDGET (prefs));
  g_assert_nonnull (spin);
  g_assert_cmpfloat (gtk_spin_button_get_value (spin), ==, 0.0);
  g_settings_set_double (settings, "vram-gib", 8.0);
  g_assert_cmpfloat (gtk_spin_button_get_value (spin), ==, 8.0);
  gtk_spin_button_set_value (spin, 12.0);
  g_assert_cmpfloat (g_settings_get_double (settings, "vram-gib"), ==, 12.0);
  gtk_spin_button_set_value (spin, 5000.0);   /* clamped to the schema's and the spin's range */
  g_assert_cmpfloat (g_settings_get_double (settings, "vram-gib"), ==, 1024.0);
  g_settings_reset (settings, "vram-gib");
  gtk_window_destroy (GTK_WINDOW (prefs));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  gtk_init ();
  adw_init ();

  g_test_add_func ("/preferences/rows-follow-settings", test_rows_follow_settings);
  g_test_add_func ("/preferences/vram-follows-settings", test_vram_follows_settings);

  return g_test_run ();
}
