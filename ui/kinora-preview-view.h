/* kinora-preview-view.h: the live latent preview, all frames as a loop, with progress
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>
#include "kinora-job.h"

G_BEGIN_DECLS

#define KINORA_TYPE_PREVIEW_VIEW (kinora_preview_view_get_type ())
G_DECLARE_FINAL_TYPE (KinoraPreviewView, kinora_preview_view, KINORA, PREVIEW_VIEW, GtkWidget)

GtkWidget *kinora_preview_view_new          (void);
void       kinora_preview_view_reset        (KinoraPreviewView *self);
void       kinora_preview_view_set_frames   (KinoraPreviewView *self,
                                             KinoraVideo       *frames,
                                             int                step,
                                             int                n_steps);
void       kinora_preview_view_set_progress (KinoraPreviewView *self,
                                             enum ke_stage      stage,
                                             int                step,
                                             int                n_steps,
                                             double             elapsed,
                                             double             eta);
guint      kinora_preview_view_get_n_updates (KinoraPreviewView *self);
int        kinora_preview_view_get_step     (KinoraPreviewView *self);
int        kinora_preview_view_get_n_frames (KinoraPreviewView *self);
/* The size of the frames shown: latent resolution, or the output's for TAEHV previews */
void       kinora_preview_view_get_frame_size (KinoraPreviewView *self,
                                               int               *width,
                                               int               *height);
void       kinora_preview_view_set_skipped  (KinoraPreviewView *self,
                                             int                skipped);
const char *kinora_preview_view_get_skipped_text (KinoraPreviewView *self);

G_END_DECLS
