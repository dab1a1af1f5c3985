/* kinora-drop.h: a Kinora file dropped on the window restores the settings that made it.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "kinora-window.h"

G_BEGIN_DECLS

/* Read the settings of a Kinora MP4/WebM/GIF/PNG (or a folder of PNG frames, or a sidecar JSON) and
 * apply them as "Reuse Settings" does. FALSE with an error naming the file when it has none. */
gboolean kinora_window_restore_from_file (KinoraWindow  *self,
                                          GFile         *file,
                                          GError       **error);
/* The drop handler: @value holds a GFile or a GdkFileList (its first file is used). Errors are shown
 * as a toast (and kept in last_error); TRUE when settings were restored. */
gboolean kinora_window_drop_value        (KinoraWindow  *self,
                                          const GValue  *value);
/* Install the drop target on the window (called from its init). */
void     _kinora_window_drop_init        (KinoraWindow  *self);

G_END_DECLS
