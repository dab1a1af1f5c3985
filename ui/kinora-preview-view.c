/* kinora-preview-view.c: the live latent preview, all frames as a loop, with progress
 *
 * The x0 estimate arrives at latent resolution (a few dozen pixels), or decoded by TAEHV at the
 * output resolution; GtkPicture hands the texture to the GSK renderer, which scales it on the GPU
 * with linear filtering.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include <glib/gi18n.h>

#include "kinora-preview-view.h"

/* the latent frames loop at this rate whatever the video's fps: each one stands for 4 frames */
#define PREVIEW_FPS 6

struct _KinoraPreviewView
{
  GtkWidget parent_instance;

  /* Template widgets */
  GtkWidget      *box;
  GtkPicture     *picture;
  GtkProgressBar *progress_bar;
  GtkLabel       *stage_label;
  GtkLabel       *step_label;
  GtkLabel       *rate_label;
  GtkLabel       *eta_label;
  GtkLabel       *skip_label;

  /* Owned references */
  GPtrArray *textures;   /* GdkTexture, one per latent frame */

  guint   tick_id;
  gint64  start_us;
  guint   n_updates;
  int     step;
  int     current;
  double  fps;          /* of the frames shown: PREVIEW_FPS for latent frames, else the video's */
  int     frame_width;
  int     frame_height;
};

G_DEFINE_FINAL_TYPE (KinoraPreviewView, kinora_preview_view, GTK_TYPE_WIDGET)

static char *
format_seconds (double s)
{
  int t = (int) (s + 0.5);

  if (t >= 3600)
    return g_strdup_printf ("%d:%02d:%02d", t / 3600, (t / 60) % 60, t % 60);
  return g_strdup_printf ("%d:%02d", t / 60, t % 60);
}

static gboolean
tick_cb (GtkWidget     *widget,
         GdkFrameClock *clock,
         gpointer       user_data)
{
  KinoraPreviewView *self = KINORA_PREVIEW_VIEW (widget);
  gint64 now = gdk_frame_clock_get_frame_time (clock);
  int index;

  if (self->textures == NULL || self->textures->len == 0)
    return G_SOURCE_CONTINUE;

  index = (int) ((gint64) ((now - self->start_us) * self->fps / G_USEC_PER_SEC) % self->textures->len);
  if (index != self->current)
    {
      self->current = index;
      gtk_picture_set_paintable (self->picture, g_ptr_array_index (self->textures, index));
    }
  return G_SOURCE_CONTINUE;
}

static void
kinora_preview_view_dispose (GObject *object)
{
  KinoraPreviewView *self = KINORA_PREVIEW_VIEW (object);

  if (self->tick_id != 0)
    {
      gtk_widget_remove_tick_callback (GTK_WIDGET (self), self->tick_id);
      self->tick_id = 0;
    }
  g_clear_pointer (&self->textures, g_ptr_array_unref);
  gtk_widget_dispose_template (GTK_WIDGET (self), KINORA_TYPE_PREVIEW_VIEW);

  G_OBJECT_CLASS (kinora_preview_view_parent_class)->dispose (object);
}

static void
kinora_preview_view_class_init (KinoraPreviewViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = kinora_preview_view_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/kinora/Kinora/kinora-preview-view.ui");
  gtk_widget_class_bind_template_child (widget_class, KinoraPreviewView, box);
  gtk_widget_class_bind_template_child (widget_class, KinoraPreviewView, picture);
  gtk_widget_class_bind_template_child (widget_class, KinoraPreviewView, progress_bar);
  gtk_widget_class_bind_template_child (widget_class, KinoraPreviewView, stage_label);
  gtk_widget_class_bind_template_child (widget_class, KinoraPreviewView, step_label);
  gtk_widget_class_bind_template_child (widget_class, KinoraPreviewView, rate_label);
  gtk_widget_class_bind_template_child (widget_class, KinoraPreviewView, eta_label);
  gtk_widget_class_bind_template_child (widget_class, KinoraPreviewView, skip_label);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "kinora-preview-view");
}

static void
kinora_preview_view_init (KinoraPreviewView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->current = -1;
  self->fps = PREVIEW_FPS;
}

GtkWidget *
kinora_preview_view_new (void)
{
  return g_object_new (KINORA_TYPE_PREVIEW_VIEW, NULL);
}

void
kinora_preview_view_reset (KinoraPreviewView *self)
{
  g_return_if_fail (KINORA_IS_PREVIEW_VIEW (self));

  if (self->tick_id != 0)
    {
      gtk_widget_remove_tick_callback (GTK_WIDGET (self), self->tick_id);
      self->tick_id = 0;
    }
  g_clear_pointer (&self->textures, g_ptr_array_unref);
  gtk_picture_set_paintable (self->picture, NULL);
  gtk_progress_bar_set_fraction (self->progress_bar, 0);
  gtk_label_set_label (self->stage_label, _("Starting"));
  gtk_label_set_label (self->step_label, "");
  gtk_label_set_label (self->rate_label, "");
  gtk_label_set_label (self->eta_label, "");
  gtk_label_set_label (self->skip_label, "");
  self->n_updates = 0;
  self->step = 0;
  self->current = -1;
  self->fps = PREVIEW_FPS;
  self->frame_width = self->frame_height = 0;
}

void
kinora_preview_view_set_frames (KinoraPreviewView *self,
                                KinoraVideo       *frames,
                                int                step,
                                int                n_steps)
{
  gsize stride, frame_size;

  g_return_if_fail (KINORA_IS_PREVIEW_VIEW (self));
  g_return_if_fail (frames != NULL);

  /* the textures are made here, on the main thread, from the worker's copy */
  stride = (gsize) frames->width * 3;
  frame_size = stride * frames->height;
  g_clear_pointer (&self->textures, g_ptr_array_unref);
  self->textures = g_ptr_array_new_full (frames->n_frames, g_object_unref);
  for (int i = 0; i < frames->n_frames; i++)
    {
      g_autoptr(GBytes) bytes = g_bytes_new_from_bytes (frames->rgb, i * frame_size, frame_size);
      g_ptr_array_add (self->textures,
                       gdk_memory_texture_new (frames->width, frames->height, GDK_MEMORY_R8G8B8,
                                               bytes, stride));
    }

  self->n_updates++;
  self->step = step;
  self->current = -1;
  /* latent frames (fps 0) each stand for 4 video frames; full-resolution frames play at the video's rate */
  self->fps = frames->fps > 0 ? frames->fps : PREVIEW_FPS;
  self->frame_width = frames->width;
  self->frame_height = frames->height;
  if (self->tick_id == 0)
    {
      self->start_us = g_get_monotonic_time ();
      self->tick_id = gtk_widget_add_tick_callback (GTK_WIDGET (self), tick_cb, NULL, NULL);
    }
  /* show the new estimate at once, even when the widget is not mapped */
  {
    int index = (int) ((gint64) ((g_get_monotonic_time () - self->start_us) * self->fps / G_USEC_PER_SEC)
                       % frames->n_frames);
    self->current = index;
    gtk_picture_set_paintable (self->picture, g_ptr_array_index (self->textures, index));
  }
}

void
kinora_preview_view_set_progress (KinoraPreviewView *self,
                                  enum ke_stage      stage,
                                  int                step,
                                  int                n_steps,
                                  double             elapsed,
                                  double             eta)
{
  g_autofree char *step_text = NULL;

  g_return_if_fail (KINORA_IS_PREVIEW_VIEW (self));

  gtk_label_set_label (self->stage_label, kinora_stage_get_title (stage));
  if (stage == KE_STAGE_SAMPLE && n_steps > 0)
    {
      /* Translators: sampling progress, "step 3 of 20" */
      step_text = g_strdup_printf (_("Step %d of %d"), step, n_steps);
      gtk_label_set_label (self->step_label, step_text);
      gtk_progress_bar_set_fraction (self->progress_bar, CLAMP ((double) step / n_steps, 0, 1));
      if (step > 0)
        {
          double per_step = elapsed / step;
          g_autofree char *rate = per_step < 0.1 ? g_strdup_printf (_("%.1f ms/step"), per_step * 1000)
                                                 : g_strdup_printf (_("%.2f s/step"), per_step);
          gtk_label_set_label (self->rate_label, rate);
        }
    }
  else if (stage == KE_STAGE_DECODE || stage == KE_STAGE_DONE)
    {
      /* while decoding, step and n_steps count frames */
      if (stage == KE_STAGE_DECODE && n_steps > 0)
        {
          /* Translators: decoding progress, "frame 3 of 121" */
          step_text = g_strdup_printf (_("Frame %d of %d"), step, n_steps);
          gtk_label_set_label (self->step_label, step_text);
          gtk_progress_bar_set_fraction (self->progress_bar, CLAMP ((double) step / n_steps, 0, 1));
        }
      else
        {
          gtk_progress_bar_set_fraction (self->progress_bar, 1.0);
        }
      gtk_label_set_label (self->rate_label, "");
    }
  else
    {
      gtk_progress_bar_pulse (self->progress_bar);
    }

  if (eta >= 0)
    {
      g_autofree char *t = format_seconds (eta);
      /* Translators: estimated time left, e.g. "1:05 left" */
      g_autofree char *text = g_strdup_printf (_("%s left"), t);
      gtk_label_set_label (self->eta_label, text);
    }
  else
    {
      gtk_label_set_label (self->eta_label, "");
    }
}

guint
kinora_preview_view_get_n_updates (KinoraPreviewView *self)
{
  g_return_val_if_fail (KINORA_IS_PREVIEW_VIEW (self), 0);
  return self->n_updates;
}

int
kinora_preview_view_get_step (KinoraPreviewView *self)
{
  g_return_val_if_fail (KINORA_IS_PREVIEW_VIEW (self), 0);
  return self->step;
}

int
kinora_preview_view_get_n_frames (KinoraPreviewView *self)
{
  g_return_val_if_fail (KINORA_IS_PREVIEW_VIEW (self), 0);
  return self->textures ? (int) self->textures->len : 0;
}

void
kinora_preview_view_get_frame_size (KinoraPreviewView *self,
                                    int               *width,
                                    int               *height)
{
  g_return_if_fail (KINORA_IS_PREVIEW_VIEW (self));
  *width = self->frame_width;
  *height = self->frame_height;
}

/* The forwards the step cache skipped so far (shown when above 0) */
void
kinora_preview_view_set_skipped (KinoraPreviewView *self,
                                 int                skipped)
{
  g_autofree char *text = NULL;

  g_return_if_fail (KINORA_IS_PREVIEW_VIEW (self));
  if (skipped > 0)
    /* Translators: the step cache answered this many model passes instead of running them */
    text = g_strdup_printf (_("%d passes skipped"), skipped);
  gtk_label_set_label (self->skip_label, text ? text : "");
}

const char *
kinora_preview_view_get_skipped_text (KinoraPreviewView *self)
{
  g_return_val_if_fail (KINORA_IS_PREVIEW_VIEW (self), NULL);
  return gtk_label_get_label (self->skip_label);
}
