/* kinora-exporter.c: the GUI's side of export/: settings as tags, worker threads, decoding back
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include <string.h>
#include <glib/gi18n.h>
#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/video/video.h>

#include "kinora-exporter.h"
#include "kinora-metadata.h"

static const char *nicks[] = { "mp4", "webm", "png", "gif" };

const char *
kinora_export_format_get_nick (KinoraExportFormat format)
{
  if ((guint) format < G_N_ELEMENTS (nicks))
    return nicks[format];
  return "mp4";
}

const char *
kinora_export_format_get_extension (KinoraExportFormat format)
{
  return format == KINORA_EXPORT_PNG ? "" : kinora_export_format_get_nick (format);
}

gboolean
kinora_export_format_from_nick (const char         *nick,
                                KinoraExportFormat *format)
{
  for (guint i = 0; nick != NULL && i < G_N_ELEMENTS (nicks); i++)
    if (g_str_equal (nick, nicks[i]))
      {
        *format = (KinoraExportFormat) i;
        return TRUE;
      }
  return FALSE;
}

/* The image's digest, when its file is still there to read. */
static char *
image_digest (const KinoraParams *p)
{
  if (p->image_path == NULL || p->image_rgb == NULL || !g_file_test (p->image_path, G_FILE_TEST_IS_REGULAR))
    return NULL;
  return kinora_metadata_file_digest (p->image_path, NULL);
}

char **
kinora_params_to_tags (const KinoraParams *p)
{
  struct ke_gen_params kp;
  struct ke_image image;
  g_autofree char *digest = image_digest (p);
  const char *digests[] = { "image", digest, NULL };

  kinora_params_to_ke (p, &kp, &image);
  return kinora_metadata_to_tags (&kp, p->model, p->image_path, digest ? digests : NULL);
}

gboolean
kinora_exporter_write (KinoraVideo        *video,
                       const KinoraParams *params,
                       KinoraExportFormat  format,
                       const char         *path,
                       gboolean            sidecar,
                       GError            **error)
{
  struct ke_gen_params kp;
  struct ke_image image;
  g_autofree char *digest = image_digest (params);
  const char *digests[] = { "image", digest, NULL };

  g_autofree char *target = format == KINORA_EXPORT_PNG && !g_str_has_suffix (path, "/")
                            ? g_strconcat (path, "/", NULL) : g_strdup (path);

  /* a missing or read-only folder is named before any encoding starts */
  if (!kinora_export_check_target (target, error))
    return FALSE;
  kinora_params_to_ke (params, &kp, &image);
  return kinora_export_save (path, format, g_bytes_get_data (video->rgb, NULL), video->width, video->height,
                             video->n_frames, video->fps, &kp, params->model, params->image_path,
                             digest ? digests : NULL, sidecar, error);
}

typedef struct
{
  KinoraVideo       *video;
  KinoraParams      *params;
  KinoraExportFormat format;
  char              *path;
} WriteData;

static void
write_data_free (WriteData *d)
{
  kinora_video_unref (d->video);
  kinora_params_free (d->params);
  g_free (d->path);
  g_free (d);
}

static void
write_thread (GTask        *task,
              gpointer      source,
              gpointer      task_data,
              GCancellable *cancellable)
{
  WriteData *d = task_data;
  GError *error = NULL;

  if (kinora_exporter_write (d->video, d->params, d->format, d->path, TRUE, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

void
kinora_exporter_write_async (KinoraVideo        *video,
                             const KinoraParams *params,
                             KinoraExportFormat  format,
                             const char         *path,
                             GCancellable       *cancellable,
                             GAsyncReadyCallback callback,
                             gpointer            user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  WriteData *d = g_new0 (WriteData, 1);

  d->video = kinora_video_ref (video);
  d->params = kinora_params_copy (params);
  d->format = format;
  d->path = g_strdup (path);
  g_task_set_source_tag (task, kinora_exporter_write_async);
  g_task_set_task_data (task, d, (GDestroyNotify) write_data_free);
  g_task_run_in_thread (task, write_thread);
}

gboolean
kinora_exporter_write_finish (GAsyncResult  *result,
                              GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* uridecodebin ! videoconvert ! RGB appsink, pulled to the end */
KinoraVideo *
kinora_exporter_decode (const char  *path,
                        GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *uri = gst_filename_to_uri (path, &local_error);
  g_autofree char *desc = NULL;
  g_autoptr(GByteArray) frames = g_byte_array_new ();
  GstElement *pipeline;
  GstElement *sink;
  int width = 0, height = 0, n = 0;
  double fps = 16;

  if (uri == NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  gst_init (NULL, NULL);
  desc = g_strdup_printf ("uridecodebin uri=\"%s\" ! videoconvert ! video/x-raw,format=RGB ! "
                          "appsink name=sink sync=false", uri);
  pipeline = gst_parse_launch (desc, &local_error);
  if (pipeline == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("Could not read the video: %s"), local_error->message);
      return NULL;
    }
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  gst_element_set_state (pipeline, GST_STATE_PLAYING);

  for (;;)
    {
      GstSample *sample = gst_app_sink_pull_sample (GST_APP_SINK (sink));
      GstVideoInfo info;
      GstVideoFrame frame;

      if (sample == NULL)
        break;
      if (gst_video_info_from_caps (&info, gst_sample_get_caps (sample))
          && gst_video_frame_map (&frame, &info, gst_sample_get_buffer (sample), GST_MAP_READ))
        {
          /* GStreamer pads RGB rows to 4 bytes: copy row by row */
          const guint8 *src = GST_VIDEO_FRAME_PLANE_DATA (&frame, 0);
          int stride = GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);

          width = GST_VIDEO_INFO_WIDTH (&info);
          height = GST_VIDEO_INFO_HEIGHT (&info);
          if (GST_VIDEO_INFO_FPS_D (&info) > 0 && GST_VIDEO_INFO_FPS_N (&info) > 0)
            fps = (double) GST_VIDEO_INFO_FPS_N (&info) / GST_VIDEO_INFO_FPS_D (&info);
          for (int y = 0; y < height; y++)
            g_byte_array_append (frames, src + (gsize) y * stride, width * 3);
          gst_video_frame_unmap (&frame);
          n++;
        }
      gst_sample_unref (sample);
    }

  {
    /* an error on the bus means the file was not a video we can read */
    GstBus *bus = gst_element_get_bus (pipeline);
    GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    if (msg != NULL && n == 0)
      {
        GError *gst_error = NULL;
        gst_message_parse_error (msg, &gst_error, NULL);
        g_set_error (&local_error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s", gst_error->message);
        g_error_free (gst_error);
      }
    if (msg != NULL)
      gst_message_unref (msg);
    gst_object_unref (bus);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (pipeline);

  if (n == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("Could not read the video: %s"),
                   local_error ? local_error->message : _("no frames"));
      return NULL;
    }
  {
    gsize len = frames->len;
    g_autoptr(GBytes) bytes = g_bytes_new_take (g_byte_array_steal (frames, NULL), len);
    return kinora_video_new (bytes, width, height, n, fps);
  }
}
