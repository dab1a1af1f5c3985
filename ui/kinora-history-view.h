/* kinora-history-view.h: the gallery of past results
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>
#include "kinora-history.h"

G_BEGIN_DECLS

#define KINORA_TYPE_HISTORY_VIEW (kinora_history_view_get_type ())
G_DECLARE_FINAL_TYPE (KinoraHistoryView, kinora_history_view, KINORA, HISTORY_VIEW, GtkWidget)

GtkWidget *kinora_history_view_new         (void);
void       kinora_history_view_set_history (KinoraHistoryView *self,
                                            KinoraHistory     *history);

G_END_DECLS
