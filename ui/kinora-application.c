/* kinora-application.c: the application: actions, accelerators, windows
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include <glib/gi18n.h>

#include "kinora-application.h"
#include "kinora-job.h"
#include "kinora-window.h"

struct _KinoraApplication
{
  AdwApplication parent_instance;
};

G_DEFINE_FINAL_TYPE (KinoraApplication, kinora_application, ADW_TYPE_APPLICATION)

static void
kinora_application_activate (GApplication *app)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (app));

  if (window == NULL)
    window = GTK_WINDOW (kinora_window_new (GTK_APPLICATION (app)));
  gtk_window_present (window);
}

static void
about_action (GSimpleAction *action,
              GVariant      *param,
              gpointer       user_data)
{
  GtkApplication *app = user_data;
  static const char *developers[] = { "The Kinora developers", NULL };

  adw_show_about_window (gtk_application_get_active_window (app),
                         "application-name", _("Kinora"),
                         "application-icon", APP_ID,
                         "version", PACKAGE_VERSION,
                         "developer-name", _("The Kinora developers"),
                         "developers", developers,
                         "license-type", GTK_LICENSE_GPL_3_0,
                         "comments", _("Generate videos from text and images with the Wan2.2 models"),
                         "website", "https://github.com/kinora/kinora",
                         /* Translators: put your names here, one per line */
                         "translator-credits", _("translator-credits"),
                         NULL);
}

static void
quit_action (GSimpleAction *action,
             GVariant      *param,
             gpointer       user_data)
{
  GtkApplication *app = user_data;
  GList *windows = g_list_copy (gtk_application_get_windows (app));

  /* close the windows so that each stops its work and its player; the app ends with the last */
  for (GList *l = windows; l != NULL; l = l->next)
    gtk_window_close (l->data);
  g_list_free (windows);
}

static const GActionEntry app_actions[] = {
  { "about", about_action, NULL, NULL, NULL, { 0 } },
  { "quit", quit_action, NULL, NULL, NULL, { 0 } },
};

static void
kinora_application_startup (GApplication *app)
{
  static const char *generate_accels[] = { "<Control>Return", "<Control>KP_Enter", NULL };
  static const char *cancel_accels[] = { "Escape", NULL };
  static const char *quit_accels[] = { "<Control>q", NULL };
  static const char *close_accels[] = { "<Control>w", NULL };

  G_APPLICATION_CLASS (kinora_application_parent_class)->startup (app);

  g_action_map_add_action_entries (G_ACTION_MAP (app), app_actions, G_N_ELEMENTS (app_actions), app);
  gtk_application_set_accels_for_action (GTK_APPLICATION (app), "win.generate", generate_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (app), "win.cancel", cancel_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (app), "app.quit", quit_accels);
  gtk_application_set_accels_for_action (GTK_APPLICATION (app), "window.close", close_accels);
}

static void
kinora_application_shutdown (GApplication *app)
{
  G_APPLICATION_CLASS (kinora_application_parent_class)->shutdown (app);
  kinora_job_release_model ();
}

static void
kinora_application_class_init (KinoraApplicationClass *klass)
{
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  app_class->activate = kinora_application_activate;
  app_class->startup = kinora_application_startup;
  app_class->shutdown = kinora_application_shutdown;
}

static void
kinora_application_init (KinoraApplication *self)
{
}

KinoraApplication *
kinora_application_new (void)
{
  return g_object_new (KINORA_TYPE_APPLICATION,
                       "application-id", APP_ID,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       "resource-base-path", "/io/github/kinora/Kinora",
                       NULL);
}
