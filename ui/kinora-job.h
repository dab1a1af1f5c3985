/* kinora-job.h: runs the engine on a worker thread and reports back on the main thread
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include "kinora-params.h"

G_BEGIN_DECLS

#define KINORA_ENGINE_ERROR (kinora_engine_error_quark ())
GQuark kinora_engine_error_quark (void);

/* Frames in RGB8 without row padding; immutable once made. */
#define KINORA_TYPE_VIDEO (kinora_video_get_type ())
typedef struct
{
  GBytes *rgb;       /* n_frames * height * width * 3 */
  int     width;
  int     height;
  int     n_frames;
  double  fps;
} KinoraVideo;

GType        kinora_video_get_type   (void) G_GNUC_CONST;
KinoraVideo *kinora_video_new        (GBytes            *rgb,
                                      int                width,
                                      int                height,
                                      int                n_frames,
                                      double             fps);
KinoraVideo *kinora_video_ref        (KinoraVideo       *self);
void         kinora_video_unref      (KinoraVideo       *self);
const guint8 *kinora_video_get_frame (const KinoraVideo *self,
                                      int                index);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (KinoraVideo, kinora_video_unref)

/* What the loaded model is, filled by a load job */
typedef struct
{
  enum ke_task task;
  gboolean     is_random;
  char        *name;
  struct ke_model_desc desc;   /* for the pre-flight estimate */
  /* model capabilities: the rules the settings follow, from the model's files (read even when the
   * engine cannot run the model yet: then open_error says why and the other fields are unset) */
  struct ke_model_caps caps;
  gboolean     have_caps;
  char        *open_error;
} KinoraModelInfo;

void kinora_model_info_free (KinoraModelInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (KinoraModelInfo, kinora_model_info_free)

#define KINORA_TYPE_JOB (kinora_job_get_type ())
G_DECLARE_FINAL_TYPE (KinoraJob, kinora_job, KINORA, JOB, GObject)

KinoraJob       *kinora_job_new_load        (const char          *model_path);
KinoraJob       *kinora_job_new_generate    (const KinoraParams  *params);
const KinoraParams *kinora_job_get_params   (KinoraJob           *self);
void             kinora_job_stop_and_keep   (KinoraJob           *self);
void             kinora_job_run_async       (KinoraJob           *self,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
/* For a generate job: the video (and the seed actually used in *seed) */
KinoraVideo     *kinora_job_generate_finish (KinoraJob           *self,
                                             GAsyncResult        *result,
                                             gint64              *seed,
                                             GError             **error);
KinoraModelInfo *kinora_job_load_finish     (KinoraJob           *self,
                                             GAsyncResult        *result,
                                             GError             **error);

/* Frees the model kept between jobs (at shutdown, when no job runs) */
void             kinora_job_release_model   (void);

G_END_DECLS
