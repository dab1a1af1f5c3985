/* main-gui.c: the `kinora` desktop app: set up translations, run the application
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include <locale.h>
#include <glib/gi18n.h>

#include "kinora-application.h"

int
main (int   argc,
      char *argv[])
{
  g_autoptr(KinoraApplication) app = NULL;

  g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *exe_dir = exe ? g_path_get_dirname (exe) : NULL;
  gboolean uninstalled = g_strcmp0 (exe_dir, BUILD_APPDIR) == 0;

  /* run from the build dir: use the schema compiled there unless one is given */
  if (uninstalled && g_getenv ("GSETTINGS_SCHEMA_DIR") == NULL)
    g_setenv ("GSETTINGS_SCHEMA_DIR", BUILD_DATADIR, TRUE);

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, uninstalled ? BUILD_LOCALEDIR : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  app = kinora_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
