/* kinora-preferences.c: the preferences window: backend and precision, the graphics memory budget, the
 * preview source, draft decode and the TAEHV weights files, kept in GSettings
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include <glib/gi18n.h>

#include "kinora-preferences.h"

struct _KinoraPreferences
{
  AdwPreferencesWindow parent_instance;

  /* Template widgets */
  AdwComboRow *backend_row;
  AdwComboRow *precision_row;
  GtkSpinButton *vram_spin;
  AdwComboRow *preview_row;
  GtkSwitch   *draft_switch;
  AdwActionRow *taehv22_row;
  AdwActionRow *taehv21_row;
  GtkWidget   *taehv22_choose;
  GtkWidget   *taehv22_clear;
  GtkWidget   *taehv21_choose;
  GtkWidget   *taehv21_clear;

  /* Owned references */
  GSettings *settings;
  GtkNativeDialog *chooser;
};

G_DEFINE_FINAL_TYPE (KinoraPreferences, kinora_preferences, ADW_TYPE_PREFERENCES_WINDOW)

static const char *backend_nicks[] = { "auto", "cpu", "cuda", NULL };
/* in the order of the row's items (the schema's values differ from ke_precision's: use the nicks) */
static const char *precision_nicks[] = { "bf16", "fp32", "fp8", NULL };
static const char *preview_nicks[] = { "latent", "taehv", NULL };

/* --- TAEHV weights files ------------------------------------------------------------------------- */

/* A row shows its file, or which file it wants */
static void
update_taehv_row (KinoraPreferences *self,
                  const char        *key)
{
  gboolean wan22 = g_str_equal (key, "taehv-wan22");
  AdwActionRow *row = wan22 ? self->taehv22_row : self->taehv21_row;
  GtkWidget *clear = wan22 ? self->taehv22_clear : self->taehv21_clear;
  g_autofree char *path = g_settings_get_string (self->settings, key);
  g_autofree char *text = NULL;

  if (path[0] == '\0')
    /* Translators: %s is the TAEHV file the row wants, e.g. taew2_2.safetensors */
    text = g_strdup_printf (_("Not chosen (%s)"), wan22 ? "taew2_2.safetensors" : "taew2_1.safetensors");
  else if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    /* Translators: %s is a file path */
    text = g_strdup_printf (_("Missing: %s"), path);
  else
    text = g_strdup (path);
  {
    g_autofree char *escaped = g_markup_escape_text (text, -1);
    adw_action_row_set_subtitle (row, escaped);
  }
  gtk_widget_set_tooltip_text (GTK_WIDGET (row), path[0] != '\0' ? path : NULL);
  gtk_widget_set_sensitive (clear, path[0] != '\0');
}

static void
settings_changed_cb (GSettings         *settings,
                     const char        *key,
                     KinoraPreferences *self)
{
  if (g_str_equal (key, "taehv-wan22") || g_str_equal (key, "taehv-wan21"))
    update_taehv_row (self, key);
}

static void
chooser_response_cb (GtkNativeDialog   *dialog,
                     int                response,
                     KinoraPreferences *self)
{
  const char *key = g_object_get_data (G_OBJECT (dialog), "kinora-key");

  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

      if (path != NULL)
        g_settings_set_string (self->settings, key, path);
    }
  g_clear_object (&self->chooser);
}

static void
choose_taehv (KinoraPreferences *self,
              const char        *key)
{
  g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();

  g_clear_object (&self->chooser);
  self->chooser = GTK_NATIVE_DIALOG (gtk_file_chooser_native_new (_("Choose the TAEHV Weights"), GTK_WINDOW (self),
                                                                  GTK_FILE_CHOOSER_ACTION_OPEN, _("_Select"),
                                                                  _("_Cancel")));
  gtk_file_filter_set_name (filter, _("TAEHV weights (safetensors)"));
  gtk_file_filter_add_pattern (filter, "*.safetensors");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (self->chooser), filter);
  g_object_set_data_full (G_OBJECT (self->chooser), "kinora-key", g_strdup (key), g_free);
  gtk_native_dialog_set_modal (self->chooser, TRUE);
  g_signal_connect (self->chooser, "response", G_CALLBACK (chooser_response_cb), self);
  gtk_native_dialog_show (self->chooser);
}

static void
choose_clicked_cb (GtkButton         *button,
                   KinoraPreferences *self)
{
  choose_taehv (self, GTK_WIDGET (button) == self->taehv22_choose ? "taehv-wan22" : "taehv-wan21");
}

static void
clear_clicked_cb (GtkButton         *button,
                  KinoraPreferences *self)
{
  g_settings_reset (self->settings, GTK_WIDGET (button) == self->taehv22_clear ? "taehv-wan22" : "taehv-wan21");
}

/* enum key (its nick) <-> the position in the combo row; user_data: the nicks in row order */
static gboolean
nick_to_selected (GValue   *value,
                  GVariant *variant,
                  gpointer  user_data)
{
  const char * const *nicks = user_data;
  const char *nick = g_variant_get_string (variant, NULL);

  for (guint i = 0; nicks[i] != NULL; i++)
    if (g_str_equal (nicks[i], nick))
      {
        g_value_set_uint (value, i);
        return TRUE;
      }
  return FALSE;
}

static GVariant *
selected_to_nick (const GValue       *value,
                  const GVariantType *type,
                  gpointer            user_data)
{
  const char * const *nicks = user_data;
  guint i = g_value_get_uint (value);

  if (i >= g_strv_length ((char **) nicks))
    return NULL;
  return g_variant_new_string (nicks[i]);
}

static void
kinora_preferences_dispose (GObject *object)
{
  KinoraPreferences *self = KINORA_PREFERENCES (object);

  if (self->chooser != NULL)
    gtk_native_dialog_destroy (self->chooser);
  g_clear_object (&self->chooser);
  if (self->settings != NULL)
    g_signal_handlers_disconnect_by_data (self->settings, self);
  gtk_widget_dispose_template (GTK_WIDGET (self), KINORA_TYPE_PREFERENCES);
  g_clear_object (&self->settings);
  G_OBJECT_CLASS (kinora_preferences_parent_class)->dispose (object);
}

static void
kinora_preferences_class_init (KinoraPreferencesClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = kinora_preferences_dispose;
  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/kinora/Kinora/kinora-preferences.ui");
  gtk_widget_class_bind_template_child (widget_class, KinoraPreferences, backend_row);
  gtk_widget_class_bind_template_child (widget_class, KinoraPreferences, precision_row);
  gtk_widget_class_bind_template_child (widget_class, KinoraPreferences, vram_spin);
  gtk_widget_class_bind_template_child (widget_class, KinoraPreferences, preview_row);
  gtk_widget_class_bind_template_child (widget_class, KinoraPreferences, draft_switch);
  gtk_widget_class_bind_template_child (widget_class, KinoraPreferences, taehv22_row);
  gtk_widget_class_bind_template_child (widget_class, KinoraPreferences, taehv21_row);
  gtk_widget_class_bind_template_child (widget_class, KinoraPreferences, taehv22_choose);
  gtk_widget_class_bind_template_child (widget_class, KinoraPreferences, taehv22_clear);
  gtk_widget_class_bind_template_child (widget_class, KinoraPreferences, taehv21_choose);
  gtk_widget_class_bind_template_child (widget_class, KinoraPreferences, taehv21_clear);
  gtk_widget_class_bind_template_callback (widget_class, choose_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, clear_clicked_cb);
}

static void
kinora_preferences_init (KinoraPreferences *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->settings = g_settings_new (APP_ID);
  g_settings_bind_with_mapping (self->settings, "backend", self->backend_row, "selected", G_SETTINGS_BIND_DEFAULT,
                                nick_to_selected, selected_to_nick, (gpointer) backend_nicks, NULL);
  g_settings_bind_with_mapping (self->settings, "precision", self->precision_row, "selected",
                                G_SETTINGS_BIND_DEFAULT, nick_to_selected, selected_to_nick,
                                (gpointer) precision_nicks, NULL);
  g_settings_bind (self->settings, "vram-gib", self->vram_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind_with_mapping (self->settings, "preview-source", self->preview_row, "selected",
                                G_SETTINGS_BIND_DEFAULT, nick_to_selected, selected_to_nick,
                                (gpointer) preview_nicks, NULL);
  g_settings_bind (self->settings, "draft-decode", self->draft_switch, "active", G_SETTINGS_BIND_DEFAULT);
  g_signal_connect (self->settings, "changed", G_CALLBACK (settings_changed_cb), self);
  update_taehv_row (self, "taehv-wan22");
  update_taehv_row (self, "taehv-wan21");
}

KinoraPreferences *
kinora_preferences_new (GtkWindow *parent)
{
  return g_object_new (KINORA_TYPE_PREFERENCES, "transient-for", parent, NULL);
}
