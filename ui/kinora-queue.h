/* kinora-queue.h: the app's queue of generation jobs: a GListModel of KinoraQueueItem, saved
 * atomically after every change (models/kinora-queue-file.h) so that it survives a restart.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include "kinora-params.h"
#include "kinora-queue-file.h"

G_BEGIN_DECLS

#define KINORA_TYPE_QUEUE_ITEM (kinora_queue_item_get_type ())
G_DECLARE_FINAL_TYPE (KinoraQueueItem, kinora_queue_item, KINORA, QUEUE_ITEM, GObject)

#define KINORA_TYPE_QUEUE (kinora_queue_get_type ())
G_DECLARE_FINAL_TYPE (KinoraQueue, kinora_queue, KINORA, QUEUE, GObject)

const char         *kinora_queue_item_get_id     (KinoraQueueItem *self);
KinoraQueueState    kinora_queue_item_get_state  (KinoraQueueItem *self);
const char         *kinora_queue_item_get_error  (KinoraQueueItem *self);
/* The job's settings (NULL when they do not read back; the item then fails when its turn comes). */
const KinoraParams *kinora_queue_item_get_params (KinoraQueueItem *self);

/* $XDG_DATA_HOME/kinora/queue.json */
char               *kinora_queue_dup_default_path (void);
/* The queue saved at PATH (empty when there is none). Jobs done are gone, a job that was running
 * waits again, and a restored queue with jobs waiting starts paused. A file that does not read is
 * kept aside as PATH.bad and the queue starts empty (the error says so). */
KinoraQueue        *kinora_queue_new             (const char         *path,
                                                  GError            **error);
KinoraQueueItem    *kinora_queue_add             (KinoraQueue        *self,
                                                  const KinoraParams *params);
gboolean            kinora_queue_remove          (KinoraQueue        *self,
                                                  const char         *id);
/* Move a waiting job to POSITION (clamped). */
gboolean            kinora_queue_move            (KinoraQueue        *self,
                                                  const char         *id,
                                                  guint               position);
gboolean            kinora_queue_get_paused      (KinoraQueue        *self);
void                kinora_queue_set_paused      (KinoraQueue        *self,
                                                  gboolean            paused);
guint               kinora_queue_get_n_waiting   (KinoraQueue        *self);
/* The first waiting job, marked running; NULL when paused or none waits. */
KinoraQueueItem    *kinora_queue_take_next       (KinoraQueue        *self);
/* The running job ended: done jobs leave the queue (they are in the history), failed ones stay
 * with their error. */
void                kinora_queue_finish          (KinoraQueue        *self,
                                                  KinoraQueueItem    *item,
                                                  const GError       *error);
/* The last save error, NULL when saved. */
const GError       *kinora_queue_get_save_error  (KinoraQueue        *self);

G_END_DECLS
