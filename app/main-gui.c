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

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  app = kinora_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
