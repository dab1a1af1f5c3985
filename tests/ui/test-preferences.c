/* test-preferences.c: tests for ui/kinora-preferences.c: the backend, precision and preview rows, the
 * graphics memory spin button and the draft decode switch follow GSettings and write to it; the TAEHV
 * file rows show their files.
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
  g_assert_cmpuint (rows->len, ==, 3);
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
  g_clear_pointer (&value, g_free);

  /* fp8, the third item */
  g_settings_set_string (settings, "precision", "fp8");
  g_assert_cmpuint (adw_combo_row_get_selected (precision), ==, 2);
  adw_combo_row_set_selected (precision, 1);
  value = g_settings_get_string (settings, "precision");
  g_assert_cmpstr (value, ==, "fp32");
  g_clear_pointer (&value, g_free);
  adw_combo_row_set_selected (precision, 2);
  value = g_settings_get_string (settings, "precision");
  g_assert_cmpstr (value, ==, "fp8");
  g_settings_reset (settings, "precision");

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

static void
collect (GtkWidget *widget,
         GType      type,
         GPtrArray *out)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (widget, type))
    g_ptr_array_add (out, widget);
  for (GtkWidget *c = gtk_widget_get_first_child (widget); c != NULL; c = gtk_widget_get_next_sibling (c))
    collect (c, type, out);
}

static AdwActionRow *
find_row (GtkWidget  *root,
          const char *title)
{
  g_autoptr(GPtrArray) rows = g_ptr_array_new ();

  collect (root, ADW_TYPE_ACTION_ROW, rows);
  for (guint i = 0; i < rows->len; i++)
    if (g_strcmp0 (adw_preferences_row_get_title (rows->pdata[i]), title) == 0)
      return rows->pdata[i];
  return NULL;
}

/* TAEHV: the preview source, draft decode and the two weights files */
static void
test_taehv (void)
{
  g_autoptr(GSettings) settings = g_settings_new ("io.github.kinora.Kinora");
  g_autoptr(GPtrArray) rows = g_ptr_array_new ();
  g_autoptr(GPtrArray) switches = g_ptr_array_new ();
  g_autofree char *value = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("kinora-prefs-XXXXXX", NULL);
  g_autofree char *file = g_build_filename (tmp, "taew2_2.safetensors", NULL);
  KinoraPreferences *prefs;
  AdwComboRow *preview;
  AdwActionRow *wan22, *wan21;

  g_settings_reset (settings, "preview-source");
  g_settings_reset (settings, "draft-decode");
  g_settings_reset (settings, "taehv-wan22");
  g_settings_reset (settings, "taehv-wan21");
  g_assert_true (g_file_set_contents (file, "x", 1, NULL));
  prefs = kinora_preferences_new (NULL);
  collect_combo_rows (GTK_WIDGET (prefs), rows);
  preview = rows->pdata[2];
  collect (GTK_WIDGET (prefs), GTK_TYPE_SWITCH, switches);
  g_assert_cmpuint (switches->len, ==, 1);
  wan22 = find_row (GTK_WIDGET (prefs), "TAEHV for TI2V-5B");
  wan21 = find_row (GTK_WIDGET (prefs), "TAEHV for A14B");
  g_assert_nonnull (wan22);
  g_assert_nonnull (wan21);

  /* latent projection, no draft decode, no files: the rows name the file they want */
  g_assert_cmpuint (adw_combo_row_get_selected (preview), ==, 0);
  g_assert_false (gtk_switch_get_active (switches->pdata[0]));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (wan22), "taew2_2.safetensors"));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (wan21), "taew2_1.safetensors"));

  adw_combo_row_set_selected (preview, 1);
  value = g_settings_get_string (settings, "preview-source");
  g_assert_cmpstr (value, ==, "taehv");
  gtk_switch_set_active (switches->pdata[0], TRUE);
  g_assert_true (g_settings_get_boolean (settings, "draft-decode"));
  g_settings_set_string (settings, "preview-source", "latent");
  g_assert_cmpuint (adw_combo_row_get_selected (preview), ==, 0);

  /* a chosen file shows its path; a file that went away says so */
  g_settings_set_string (settings, "taehv-wan22", file);
  g_assert_cmpstr (adw_action_row_get_subtitle (wan22), ==, file);
  g_settings_set_string (settings, "taehv-wan21", "/nonexistent/taew2_1.safetensors");
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (wan21), "Missing"));

  gtk_window_destroy (GTK_WINDOW (prefs));
  g_settings_reset (settings, "draft-decode");
  g_settings_reset (settings, "taehv-wan22");
  g_settings_reset (settings, "taehv-wan21");
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
  g_test_add_func ("/preferences/taehv", test_taehv);

  return g_test_run ();
}
