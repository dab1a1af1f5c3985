/* kinora-application.h: the application: actions, accelerators, windows
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define KINORA_TYPE_APPLICATION (kinora_application_get_type ())
G_DECLARE_FINAL_TYPE (KinoraApplication, kinora_application, KINORA, APPLICATION, AdwApplication)

KinoraApplication *kinora_application_new (void);

G_END_DECLS
