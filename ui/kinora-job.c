/* kinora-job.c: runs the engine on a worker thread and reports back on the main thread
 *
 * The worker's callbacks store what they get under a mutex and queue at most one
 * main-loop source; that source emits the signals. A cancelled job emits nothing.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <glib/gi18n.h>

#include "kinora-job.h"

G_DEFINE_QUARK (kinora-engine-error-quark, kinora_engine_error)

/* --- KinoraVideo ------------------------------------------------------------------------------- */

struct _KinoraVideoPriv
{
  KinoraVideo    pub;
  gatomicrefcount ref;
};

G_DEFINE_BOXED_TYPE (KinoraVideo, kinora_video, kinora_video_ref, kinora_video_unref)

KinoraVideo *
kinora_video_new (GBytes *rgb,
                  int     width,
                  int     height,
                  int     n_frames,
                  double  fps)
{
  struct _KinoraVideoPriv *p;

  g_return_val_if_fail (rgb != NULL, NULL);
  g_return_val_if_fail (g_bytes_get_size (rgb) >= (gsize) width * height * 3 * n_frames, NULL);

  p = g_new0 (struct _KinoraVideoPriv, 1);
  g_atomic_ref_count_init (&p->ref);
  p->pub.rgb = g_bytes_ref (rgb);
  p->pub.width = width;
  p->pub.height = height;
  p->pub.n_frames = n_frames;
  p->pub.fps = fps > 0 ? fps : 16;
  return &p->pub;
}

KinoraVideo *
kinora_video_ref (KinoraVideo *self)
{
  g_atomic_ref_count_inc (&((struct _KinoraVideoPriv *) self)->ref);
  return self;
}

void
kinora_video_unref (KinoraVideo *self)
{
  if (self == NULL)
    return;
  if (g_atomic_ref_count_dec (&((struct _KinoraVideoPriv *) self)->ref))
    {
      g_bytes_unref (self->rgb);
      g_free (self);
    }
}

const guint8 *
kinora_video_get_frame (const KinoraVideo *self,
                        int                index)
{
  const guint8 *data = g_bytes_get_data (self->rgb, NULL);

  index = CLAMP (index, 0, self->n_frames - 1);
  return data + (gsize) index * self->width * self->height * 3;
}

void
kinora_model_info_free (KinoraModelInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->name);
  g_free (info->open_error);
  g_free (info);
}

/* --- the model kept between jobs ---------------------------------------------------------------- */

/* One engine model, driven by one worker at a time: the lock is held for a whole job. */
static GMutex      model_lock;
static ke_model_t *model;
static char       *model_path;

static gboolean
ensure_model (const char  *path,
              GError     **error)
{
  struct ke_error err = { 0 };
  enum ke_status st;

  if (model != NULL && g_strcmp0 (path, model_path) == 0)
    return TRUE;

  g_clear_pointer (&model, ke_model_free);
  g_clear_pointer (&model_path, g_free);

  if (path == NULL || path[0] == '\0')
    {
      g_set_error (error, KINORA_ENGINE_ERROR, KE_STATUS_MISSING, _("No model is chosen"));
      return FALSE;
    }

  /* an LTX-Video folder of the official files opens as CHECKPOINT,UPSAMPLER,T5 */
  {
    char spec[8192];
    st = ke_model_resolve_path (path, spec, sizeof spec, &err);
    if (st == KE_STATUS_OK)
      st = ke_model_open (&model, spec, &err);
  }
  if (st != KE_STATUS_OK)
    {
      g_set_error (error, KINORA_ENGINE_ERROR, st, _("Could not open the model: %s"),
                   err.msg[0] ? err.msg : ke_status_str (st));
      model = NULL;
      return FALSE;
    }
  model_path = g_strdup (path);
  return TRUE;
}

void
kinora_job_release_model (void)
{
  g_mutex_lock (&model_lock);
  g_clear_pointer (&model, ke_model_free);
  g_clear_pointer (&model_path, g_free);
  g_mutex_unlock (&model_lock);
}

/* --- KinoraJob ---------------------------------------------------------------------------------- */

#define MAX_PENDING_PREVIEWS 256
/* full-resolution (TAEHV) previews are large: older ones waiting for the main loop are dropped beyond this */
#define MAX_PENDING_PREVIEW_BYTES ((gsize) 512 << 20)

typedef struct
{
  KinoraVideo *frames;
  int          step;
  int          n_steps;
} PendingPreview;

struct _KinoraJob
{
  GObject parent_instance;

  /* Owned references (set on the main thread before the run, then read-only) */
  KinoraParams *params;
  char         *load_path;
  GCancellable *cancellable;

  /* Shared with the worker, under mutex */
  GMutex             mutex;
  guint              idle_id;
  gboolean           have_progress;
  struct ke_progress progress;
  GQueue             previews;
  gint               stop_keep;   /* atomic */

  /* Set by the worker before it returns, read in the finish function */
  int                steps_run;   /* fewer than asked after stop-and-keep */
  gint64             seed_used;
  int                cache_skipped;
};

G_DEFINE_FINAL_TYPE (KinoraJob, kinora_job, G_TYPE_OBJECT)

enum {
  SIGNAL_PROGRESS,
  SIGNAL_PREVIEW,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

static void
pending_preview_free (PendingPreview *p)
{
  kinora_video_unref (p->frames);
  g_free (p);
}

static void
kinora_job_finalize (GObject *object)
{
  KinoraJob *self = KINORA_JOB (object);

  g_assert (self->idle_id == 0);
  g_clear_pointer (&self->params, kinora_params_free);
  g_clear_pointer (&self->load_path, g_free);
  g_clear_object (&self->cancellable);
  g_queue_clear_full (&self->previews, (GDestroyNotify) pending_preview_free);
  g_mutex_clear (&self->mutex);

  G_OBJECT_CLASS (kinora_job_parent_class)->finalize (object);
}

static void
kinora_job_class_init (KinoraJobClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = kinora_job_finalize;

  /**
   * KinoraJob::progress:
   * @stage: a `enum ke_stage`
   * @step: sampling steps done
   * @n_steps: sampling steps in all
   * @elapsed: seconds since the start
   * @eta: estimated seconds left, < 0 when unknown
   * @skipped: DiT forwards the step cache answered so far
   */
  signals[SIGNAL_PROGRESS] =
    g_signal_new ("progress", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 6, G_TYPE_INT, G_TYPE_INT, G_TYPE_INT, G_TYPE_DOUBLE, G_TYPE_DOUBLE, G_TYPE_INT);
  /**
   * KinoraJob::preview:
   * @frames: the x0 estimate of every frame: at latent resolution through the latent projection, or
   *   decoded at the output resolution by TAEHV (preview source KE_PREVIEW_TAEHV; then with the video's fps)
   * @step: the step it belongs to
   * @n_steps: sampling steps in all
   */
  signals[SIGNAL_PREVIEW] =
    g_signal_new ("preview", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 3, KINORA_TYPE_VIDEO, G_TYPE_INT, G_TYPE_INT);
}

static void
kinora_job_init (KinoraJob *self)
{
  g_mutex_init (&self->mutex);
  g_queue_init (&self->previews);
}

KinoraJob *
kinora_job_new_load (const char *model_path)
{
  KinoraJob *self = g_object_new (KINORA_TYPE_JOB, NULL);

  self->load_path = g_strdup (model_path);
  return self;
}

KinoraJob *
kinora_job_new_generate (const KinoraParams *params)
{
  KinoraJob *self = g_object_new (KINORA_TYPE_JOB, NULL);

  /* copied here, on the main thread: the worker never sees the widgets' state */
  self->params = kinora_params_copy (params);
  return self;
}

const KinoraParams *
kinora_job_get_params (KinoraJob *self)
{
  g_return_val_if_fail (KINORA_IS_JOB (self), NULL);
  return self->params;
}

void
kinora_job_stop_and_keep (KinoraJob *self)
{
  g_return_if_fail (KINORA_IS_JOB (self));
  g_atomic_int_set (&self->stop_keep, 1);
}

/* Main thread: emit what the worker stored since the last dispatch. */
static void
kinora_job_flush (KinoraJob *self)
{
  GQueue previews = G_QUEUE_INIT;
  struct ke_progress progress;
  gboolean have_progress;

  g_mutex_lock (&self->mutex);
  g_clear_handle_id (&self->idle_id, g_source_remove);
  previews = self->previews;
  g_queue_init (&self->previews);
  have_progress = self->have_progress;
  progress = self->progress;
  self->have_progress = FALSE;
  g_mutex_unlock (&self->mutex);

  if (self->cancellable == NULL || !g_cancellable_is_cancelled (self->cancellable))
    {
      for (GList *l = previews.head; l != NULL; l = l->next)
        {
          PendingPreview *p = l->data;
          g_signal_emit (self, signals[SIGNAL_PREVIEW], 0, p->frames, p->step, p->n_steps);
        }
      if (have_progress)
        g_signal_emit (self, signals[SIGNAL_PROGRESS], 0, (int) progress.stage, progress.step,
                       progress.n_steps, progress.elapsed_s, progress.eta_s, progress.forwards_skipped);
    }
  g_queue_clear_full (&previews, (GDestroyNotify) pending_preview_free);
}

static gboolean
kinora_job_idle_cb (gpointer user_data)
{
  KinoraJob *self = user_data;

  g_mutex_lock (&self->mutex);
  self->idle_id = 0;
  g_mutex_unlock (&self->mutex);
  kinora_job_flush (self);
  return G_SOURCE_REMOVE;
}

/* Worker thread, mutex held */
static void
queue_idle_locked (KinoraJob *self)
{
  if (self->idle_id == 0)
    self->idle_id = g_idle_add_full (G_PRIORITY_DEFAULT, kinora_job_idle_cb,
                                     g_object_ref (self), g_object_unref);
}

static void
progress_cb (const struct ke_progress *p,
             void                     *user_data)
{
  KinoraJob *self = user_data;

  g_mutex_lock (&self->mutex);
  self->progress = *p;
  self->have_progress = TRUE;
  queue_idle_locked (self);
  g_mutex_unlock (&self->mutex);
}

static void
preview_cb (const struct ke_preview *p,
            void                    *user_data)
{
  KinoraJob *self = user_data;
  PendingPreview *pending;
  gsize size, queued = 0;
  gboolean full = p->full_rgb != NULL && p->full_frames > 0 && p->full_width > 0 && p->full_height > 0;

  if (!full && (p->rgb == NULL || p->n_frames <= 0 || p->width <= 0 || p->height <= 0))
    return;

  /* copy: the engine's buffer is borrowed for this call only. TAEHV's full-resolution frames win over
   * the latent projection and play at the video's rate; latent frames loop at the preview's own. */
  pending = g_new0 (PendingPreview, 1);
  if (full)
    {
      g_autoptr(GBytes) bytes = NULL;

      size = (gsize) p->full_frames * p->full_width * p->full_height * 3;
      bytes = g_bytes_new (p->full_rgb, size);
      pending->frames = kinora_video_new (bytes, p->full_width, p->full_height, p->full_frames, self->params->fps);
    }
  else
    {
      g_autoptr(GBytes) bytes = NULL;

      size = (gsize) p->n_frames * p->width * p->height * 3;
      bytes = g_bytes_new (p->rgb, size);
      pending->frames = kinora_video_new (bytes, p->width, p->height, p->n_frames, 0);
    }
  pending->step = p->step;
  pending->n_steps = p->n_steps;

  g_mutex_lock (&self->mutex);
  g_queue_push_tail (&self->previews, pending);
  for (GList *l = self->previews.head; l != NULL; l = l->next)
    queued += g_bytes_get_size (((PendingPreview *) l->data)->frames->rgb);
  /* one entry per step is kept, so a slow main loop still sees every step (but for large previews,
   * where the newest is kept) */
  while (g_queue_get_length (&self->previews) > MAX_PENDING_PREVIEWS
         || (queued > MAX_PENDING_PREVIEW_BYTES && g_queue_get_length (&self->previews) > 1))
    {
      PendingPreview *old = g_queue_pop_head (&self->previews);

      queued -= g_bytes_get_size (old->frames->rgb);
      pending_preview_free (old);
    }
  queue_idle_locked (self);
  g_mutex_unlock (&self->mutex);
}

static int
abort_cb (void *user_data)
{
  KinoraJob *self = user_data;

  if (g_cancellable_is_cancelled (self->cancellable))
    return 1;
  if (g_atomic_int_get (&self->stop_keep))
    return 2;
  return 0;
}

/* The engine's threads start from the worker and inherit its nice value: the main loop (the
 * window, a drag, the preview) then wins every contested core. Linux nice is per thread. */
static void
lower_worker_priority (void)
{
#ifdef SYS_gettid
  setpriority (PRIO_PROCESS, (id_t) syscall (SYS_gettid), 10);
#endif
}

static void
load_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  KinoraJob *self = source_object;
  g_autoptr(GError) error = NULL;
  KinoraModelInfo *info;
  struct ke_model_caps caps = { 0 };
  gboolean have_caps;

  lower_worker_priority ();
  /* model capabilities first: they come from the files alone, so the settings can follow a model the
   * engine does not run (yet) */
  have_caps = self->load_path != NULL && ke_model_caps (self->load_path, &caps, NULL) == KE_STATUS_OK;
  g_mutex_lock (&model_lock);
  if (!ensure_model (self->load_path, &error))
    {
      g_mutex_unlock (&model_lock);
      if (have_caps && caps.family != KE_MODEL_FAMILY_WAN22)
        {
          info = g_new0 (KinoraModelInfo, 1);
          info->caps = caps;
          info->have_caps = TRUE;
          info->is_random = caps.tiny;
          info->name = g_strdup (caps.version);
          info->open_error = g_strdup (error->message);
          g_task_return_pointer (task, info, (GDestroyNotify) kinora_model_info_free);
          return;
        }
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  info = g_new0 (KinoraModelInfo, 1);
  info->caps = caps;
  info->have_caps = have_caps;
  info->task = ke_model_task (model);
  info->is_random = ke_model_is_random (model);
  info->name = g_strdup (ke_model_name (model));
  ke_model_describe (model, &info->desc);
  g_mutex_unlock (&model_lock);
  /* probe the GPU here, off the main thread, so that the window's estimate never waits for it */
  ke_backend_resolve ("auto");

  g_task_return_pointer (task, info, (GDestroyNotify) kinora_model_info_free);
}

static void
generate_thread (GTask        *task,
                 gpointer      source_object,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  KinoraJob *self = source_object;
  g_autoptr(GError) error = NULL;
  struct ke_gen_params p;
  struct ke_image image;
  struct ke_error err = { 0 };
  struct ke_video *v = NULL;
  enum ke_status st;
  KinoraVideo *video;

  lower_worker_priority ();
  g_mutex_lock (&model_lock);
  if (!ensure_model (self->params->model, &error))
    {
      g_mutex_unlock (&model_lock);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  kinora_params_to_ke (self->params, &p, &image);
  /* Real models run on the GPU when one is usable (KINORA_BACKEND=cpu|cuda overrides); the test
   * model stays on the CPU, where it computes in exact fp32 and a seed repeats its video exactly. */
  p.backend = ke_model_is_random (model) ? "cpu" : g_getenv ("KINORA_BACKEND") ? g_getenv ("KINORA_BACKEND")
              : self->params->backend ? self->params->backend : "auto";
  p.progress = progress_cb;
  p.preview = preview_cb;
  p.abort = abort_cb;
  p.user_data = self;
  /* prompt embeddings are cached on disk, keyed by model digest and token ids */
  g_autofree char *text_cache_dir = g_build_filename (g_get_user_cache_dir (), "kinora", "text", NULL);
  p.text_cache_dir = text_cache_dir;

  st = ke_generate (model, &p, &v, &err);
  g_mutex_unlock (&model_lock);

  if (st == KE_STATUS_ABORTED || (st == KE_STATUS_OK && g_cancellable_is_cancelled (cancellable)))
    {
      ke_video_free (v);
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, _("Cancelled"));
      return;
    }
  if (st != KE_STATUS_OK || v == NULL)
    {
      ke_video_free (v);
      g_task_return_new_error (task, KINORA_ENGINE_ERROR, st, "%s",
                               err.msg[0] ? err.msg : ke_status_str (st));
      return;
    }

  {
    g_autoptr(GBytes) bytes = g_bytes_new (v->rgb, (gsize) v->n_frames * v->width * v->height * 3);
    video = kinora_video_new (bytes, v->width, v->height, v->n_frames, v->fps);
  }
  /* what the engine did, which the saved settings record */
  self->steps_run = v->made_with != NULL ? v->made_with->steps : p.steps;
  self->seed_used = v->made_with != NULL ? v->made_with->seed : p.seed;
  self->cache_skipped = v->made_with != NULL ? v->made_with->cache_skipped : 0;
  ke_video_free (v);
  g_task_return_pointer (task, video, (GDestroyNotify) kinora_video_unref);
}

void
kinora_job_run_async (KinoraJob           *self,
                      GCancellable        *cancellable,
                      GAsyncReadyCallback  callback,
                      gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (KINORA_IS_JOB (self));
  g_return_if_fail (self->cancellable == NULL);

  self->cancellable = cancellable ? g_object_ref (cancellable) : g_cancellable_new ();
  task = g_task_new (self, self->cancellable, callback, user_data);
  g_task_set_source_tag (task, kinora_job_run_async);
  g_task_set_return_on_cancel (task, FALSE);
  g_task_run_in_thread (task, self->params != NULL ? generate_thread : load_thread);
}

KinoraVideo *
kinora_job_generate_finish (KinoraJob     *self,
                            GAsyncResult  *result,
                            gint64        *seed,
                            GError       **error)
{
  KinoraVideo *video;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  /* deliver the last previews and progress before the result */
  kinora_job_flush (self);
  video = g_task_propagate_pointer (G_TASK (result), error);
  /* the job's settings become those of the result: the steps actually run (stop-and-keep ends
   * early), the seed used and the forwards the step cache skipped */
  if (video != NULL && self->params != NULL)
    {
      self->params->steps = self->steps_run;
      self->params->cache_skipped = self->cache_skipped;
      if (self->seed_used >= 0)
        self->params->seed = self->seed_used;
    }
  if (seed != NULL && self->params != NULL)
    *seed = self->params->seed;
  return video;
}

KinoraModelInfo *
kinora_job_load_finish (KinoraJob     *self,
                        GAsyncResult  *result,
                        GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}
