/* kinora-queue-view.h: the queue window: the jobs waiting, running or failed, each with buttons to
 * move it up or down or remove it, and a toggle that pauses the queue after the current video.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>
#include "kinora-queue.h"

G_BEGIN_DECLS

#define KINORA_TYPE_QUEUE_VIEW (kinora_queue_view_get_type ())
G_DECLARE_FINAL_TYPE (KinoraQueueView, kinora_queue_view, KINORA, QUEUE_VIEW, AdwWindow)

KinoraQueueView *kinora_queue_view_new        (KinoraQueue     *queue);
GtkListBox      *kinora_queue_view_get_list   (KinoraQueueView *self);
GtkToggleButton *kinora_queue_view_get_pause  (KinoraQueueView *self);

G_END_DECLS
