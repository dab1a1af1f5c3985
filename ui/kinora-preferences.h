/* kinora-preferences.h: the preferences window: where and how precisely the models compute, previews
 * and draft decode
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define KINORA_TYPE_PREFERENCES (kinora_preferences_get_type ())

G_DECLARE_FINAL_TYPE (KinoraPreferences, kinora_preferences, KINORA, PREFERENCES, AdwPreferencesWindow)

KinoraPreferences *kinora_preferences_new (GtkWindow *parent);

G_END_DECLS
