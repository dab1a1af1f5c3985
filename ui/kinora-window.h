/* kinora-window.h: the main window: controls, live preview, result and history
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>
#include "kinora-params.h"

G_BEGIN_DECLS

#define KINORA_TYPE_WINDOW (kinora_window_get_type ())
G_DECLARE_FINAL_TYPE (KinoraWindow, kinora_window, KINORA, WINDOW, AdwApplicationWindow)

KinoraWindow *kinora_window_new          (GtkApplication     *application);
/* A copy of what the controls say now */
KinoraParams *kinora_window_dup_params   (KinoraWindow       *self);
/* Set every control from @params */
void          kinora_window_apply_params (KinoraWindow       *self,
                                          const KinoraParams *params);
gboolean      kinora_window_is_busy      (KinoraWindow       *self);

G_END_DECLS
