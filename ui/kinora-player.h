/* kinora-player.h: plays a result through GStreamer (GtkMediaFile), with loop and frame step
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define KINORA_TYPE_PLAYER (kinora_player_get_type ())
G_DECLARE_FINAL_TYPE (KinoraPlayer, kinora_player, KINORA, PLAYER, GtkWidget)

GtkWidget      *kinora_player_new        (void);
void            kinora_player_set_file   (KinoraPlayer *self,
                                          GFile        *file,
                                          double        fps);
GtkMediaStream *kinora_player_get_stream (KinoraPlayer *self);
void            kinora_player_play       (KinoraPlayer *self);
void            kinora_player_pause      (KinoraPlayer *self);
void            kinora_player_step       (KinoraPlayer *self,
                                          int           n_frames);
void            kinora_player_stop       (KinoraPlayer *self);

G_END_DECLS
