/* kinora-history.h: every result under the user data dir, with its settings and thumbnail
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <gdk/gdk.h>
#include "kinora-job.h"
#include "kinora-params.h"

G_BEGIN_DECLS

#define KINORA_TYPE_HISTORY_ITEM (kinora_history_item_get_type ())
G_DECLARE_FINAL_TYPE (KinoraHistoryItem, kinora_history_item, KINORA, HISTORY_ITEM, GObject)

const char         *kinora_history_item_get_id        (KinoraHistoryItem *self);
GFile              *kinora_history_item_get_dir       (KinoraHistoryItem *self);
GFile              *kinora_history_item_dup_video     (KinoraHistoryItem *self);
GFile              *kinora_history_item_dup_image     (KinoraHistoryItem *self);
const KinoraParams *kinora_history_item_get_params    (KinoraHistoryItem *self);
GdkTexture         *kinora_history_item_get_thumbnail (KinoraHistoryItem *self);
GDateTime          *kinora_history_item_get_created   (KinoraHistoryItem *self);
gboolean            kinora_history_item_is_thumbnail_pending (KinoraHistoryItem *self);

/* Largest width/height and frame count an entry's settings may hold to be listed. */
#define KINORA_HISTORY_MAX_SIDE 16384
#define KINORA_HISTORY_MAX_FRAMES 100000
gboolean            kinora_history_params_validate    (const KinoraParams *params,
                                                       GError            **error);

#define KINORA_TYPE_HISTORY (kinora_history_get_type ())
G_DECLARE_FINAL_TYPE (KinoraHistory, kinora_history, KINORA, HISTORY, GObject)

KinoraHistory     *kinora_history_new         (GFile              *dir);
GFile             *kinora_history_get_dir     (KinoraHistory      *self);
void               kinora_history_reload      (KinoraHistory      *self);
void               kinora_history_add_async   (KinoraHistory      *self,
                                               const KinoraParams *params,
                                               KinoraVideo        *video,
                                               GCancellable       *cancellable,
                                               GAsyncReadyCallback callback,
                                               gpointer            user_data);
KinoraHistoryItem *kinora_history_add_finish  (KinoraHistory      *self,
                                               GAsyncResult       *result,
                                               GError            **error);
gboolean           kinora_history_remove      (KinoraHistory      *self,
                                               KinoraHistoryItem  *item,
                                               GError            **error);
/* Take an entry out of the list without deleting it (a deletion the user may still undo), and put it
 * back in its place. */
void               kinora_history_hide        (KinoraHistory      *self,
                                               KinoraHistoryItem  *item);
void               kinora_history_unhide      (KinoraHistory      *self,
                                               KinoraHistoryItem  *item);

G_END_DECLS
