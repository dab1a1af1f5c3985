/* kinora-window-queue.h: the window's side of the queue: Generate while a video is being made adds
 * the settings to the queue; when a video ends the next waiting job starts (unless the queue is
 * paused); the queue window opens with queue.show.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "kinora-queue.h"
#include "kinora-window.h"

G_BEGIN_DECLS

KinoraQueue *kinora_window_get_queue          (KinoraWindow       *self);
/* The queue window, created on first use (NULL before). */
GtkWindow   *kinora_window_get_queue_view     (KinoraWindow       *self);

/* Hooks for kinora-window.c and kinora-window-actions.c */
void         _kinora_window_queue_init        (KinoraWindow       *self);
void         _kinora_window_queue_add_current (KinoraWindow       *self);
void         _kinora_window_queue_job_done    (KinoraWindow       *self,
                                               const GError       *error);
/* Start a generation of PARAMS now (kinora-window-actions.c); the window must be idle. */
void         _kinora_window_start_generate    (KinoraWindow       *self,
                                               KinoraParams       *params);

G_END_DECLS
