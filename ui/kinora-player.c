/* kinora-player.c: plays a result through GStreamer (GtkMediaFile), with loop and frame step
 *
 * GTK 4.8's own loop seeks to 0 but never resumes, so looping is done here on
 * notify::ended. Before the widget goes away the stream is paused and dropped, which
 * avoids a crash of GStreamer's GL thread at exit.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include <glib/gi18n.h>

#include "kinora-player.h"

struct _KinoraPlayer
{
  GtkWidget parent_instance;

  /* Template widgets */
  GtkWidget       *box;
  GtkPicture      *picture;
  GtkButton       *play_button;
  GtkToggleButton *loop_button;
  GtkLabel        *time_label;

  /* Owned references */
  GtkMediaStream *stream;

  double   fps;
  gboolean want_playing;   /* play or pause was last asked for; a loop restarts only when playing */
};

G_DEFINE_FINAL_TYPE (KinoraPlayer, kinora_player, GTK_TYPE_WIDGET)

static void
update_controls (KinoraPlayer *self)
{
  gboolean playing = self->stream != NULL && gtk_media_stream_get_playing (self->stream);
  gint64 ts = self->stream ? gtk_media_stream_get_timestamp (self->stream) : 0;
  gint64 dur = self->stream ? gtk_media_stream_get_duration (self->stream) : 0;
  g_autofree char *text = NULL;

  gtk_button_set_icon_name (self->play_button,
                            playing ? "media-playback-pause-symbolic" : "media-playback-start-symbolic");
  text = g_strdup_printf ("%.2f / %.2f s", ts / (double) G_USEC_PER_SEC, dur / (double) G_USEC_PER_SEC);
  gtk_label_set_label (self->time_label, text);
}

static void
stream_notify_cb (GtkMediaStream *stream,
                  GParamSpec     *pspec,
                  KinoraPlayer   *self)
{
  if (g_strcmp0 (pspec->name, "ended") == 0 && gtk_media_stream_get_ended (stream)
      && self->want_playing && gtk_toggle_button_get_active (self->loop_button))
    {
      gtk_media_stream_seek (stream, 0);
      gtk_media_stream_play (stream);
    }
  update_controls (self);
}

void
kinora_player_stop (KinoraPlayer *self)
{
  g_return_if_fail (KINORA_IS_PLAYER (self));

  if (self->stream != NULL)
    {
      g_signal_handlers_disconnect_by_func (self->stream, stream_notify_cb, self);
      gtk_media_stream_pause (self->stream);
      gtk_picture_set_paintable (self->picture, NULL);
      g_clear_object (&self->stream);
    }
  update_controls (self);
}

static void
kinora_player_dispose (GObject *object)
{
  KinoraPlayer *self = KINORA_PLAYER (object);

  if (self->picture != NULL)
    kinora_player_stop (self);
  gtk_widget_dispose_template (GTK_WIDGET (self), KINORA_TYPE_PLAYER);

  G_OBJECT_CLASS (kinora_player_parent_class)->dispose (object);
}

static void
play_pause_cb (GtkWidget  *widget,
               const char *action_name,
               GVariant   *param)
{
  KinoraPlayer *self = KINORA_PLAYER (widget);

  if (self->stream == NULL)
    return;
  if (gtk_media_stream_get_playing (self->stream))
    kinora_player_pause (self);
  else
    kinora_player_play (self);
}

static void
step_cb (GtkWidget  *widget,
         const char *action_name,
         GVariant   *param)
{
  kinora_player_step (KINORA_PLAYER (widget),
                      g_str_equal (action_name, "player.step-back") ? -1 : 1);
}

static void
kinora_player_class_init (KinoraPlayerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = kinora_player_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/kinora/Kinora/kinora-player.ui");
  gtk_widget_class_bind_template_child (widget_class, KinoraPlayer, box);
  gtk_widget_class_bind_template_child (widget_class, KinoraPlayer, picture);
  gtk_widget_class_bind_template_child (widget_class, KinoraPlayer, play_button);
  gtk_widget_class_bind_template_child (widget_class, KinoraPlayer, loop_button);
  gtk_widget_class_bind_template_child (widget_class, KinoraPlayer, time_label);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);

  gtk_widget_class_install_action (widget_class, "player.play-pause", NULL, play_pause_cb);
  gtk_widget_class_install_action (widget_class, "player.step-back", NULL, step_cb);
  gtk_widget_class_install_action (widget_class, "player.step-forward", NULL, step_cb);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_space, 0, "player.play-pause", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_comma, 0, "player.step-back", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_period, 0, "player.step-forward", NULL);
}

static void
kinora_player_init (KinoraPlayer *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->fps = 16;
  update_controls (self);
}

GtkWidget *
kinora_player_new (void)
{
  return g_object_new (KINORA_TYPE_PLAYER, NULL);
}

void
kinora_player_set_file (KinoraPlayer *self,
                        GFile        *file,
                        double        fps)
{
  g_return_if_fail (KINORA_IS_PLAYER (self));

  kinora_player_stop (self);
  if (file == NULL)
    return;

  self->fps = fps > 0 ? fps : 16;
  self->stream = gtk_media_file_new_for_file (file);
  gtk_media_stream_set_loop (self->stream, FALSE);
  g_signal_connect (self->stream, "notify", G_CALLBACK (stream_notify_cb), self);
  gtk_picture_set_paintable (self->picture, GDK_PAINTABLE (self->stream));
  self->want_playing = TRUE;
  gtk_media_stream_play (self->stream);
  update_controls (self);
}

GtkMediaStream *
kinora_player_get_stream (KinoraPlayer *self)
{
  g_return_val_if_fail (KINORA_IS_PLAYER (self), NULL);
  return self->stream;
}

void
kinora_player_play (KinoraPlayer *self)
{
  g_return_if_fail (KINORA_IS_PLAYER (self));
  if (self->stream == NULL)
    return;
  if (gtk_media_stream_get_ended (self->stream))
    gtk_media_stream_seek (self->stream, 0);
  self->want_playing = TRUE;
  gtk_media_stream_play (self->stream);
}

void
kinora_player_pause (KinoraPlayer *self)
{
  g_return_if_fail (KINORA_IS_PLAYER (self));
  self->want_playing = FALSE;
  if (self->stream != NULL)
    gtk_media_stream_pause (self->stream);
}

/* Pause and move by whole frames. */
void
kinora_player_step (KinoraPlayer *self,
                    int           n_frames)
{
  gint64 frame_us, ts, dur;

  g_return_if_fail (KINORA_IS_PLAYER (self));
  if (self->stream == NULL || !gtk_media_stream_is_seekable (self->stream))
    return;

  self->want_playing = FALSE;
  gtk_media_stream_pause (self->stream);
  frame_us = (gint64) (G_USEC_PER_SEC / self->fps);
  ts = gtk_media_stream_get_timestamp (self->stream);
  dur = gtk_media_stream_get_duration (self->stream);
  /* land in the middle of the target frame so rounding never picks its neighbour */
  ts = (ts / frame_us + n_frames) * frame_us + frame_us / 2;
  ts = CLAMP (ts, 0, MAX (dur - frame_us / 2, 0));
  gtk_media_stream_seek (self->stream, ts);
}
