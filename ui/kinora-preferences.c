/* kinora-preferences.c: the preferences window: backend, precision and the graphics memory budget, kept in
 * GSettings
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include "kinora-preferences.h"

struct _KinoraPreferences
{
  AdwPreferencesWindow parent_instance;

  /* Template widgets */
  AdwComboRow *backend_row;
  AdwComboRow *precision_row;
  GtkSpinButton *vram_spin;

  /* Owned references */
  GSettings *settings;
};

G_DEFINE_FINAL_TYPE (KinoraPreferences, kinora_preferences, ADW_TYPE_PREFERENCES_WINDOW)

static const char *backend_nicks[] = { "auto", "cpu", "cuda", NULL };
static const char *precision_nicks[] = { "bf16", "fp32", NULL };

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
}

KinoraPreferences *
kinora_preferences_new (GtkWindow *parent)
{
  return g_object_new (KINORA_TYPE_PREFERENCES, "transient-for", parent, NULL);
}
