/* Tests for export/kinora-export.c: MP4 / WebM read back through GstDiscoverer (size, duration =
 * frames / fps, tags), PNG frames read back through libpng, GIF signature, sidecar JSON; the frames
 * of every format counted by ffprobe.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/pbutils/pbutils.h>
#include <gst/video/video.h>
#include <json-c/json.h>
#include <png.h>
#include <math.h>
#include <string.h>
#include <sys/wait.h>

#include "kinora-export.h"
#include "export-test-util.h"

/* w x h x n RGB frames: a moving gradient (so the encoders see real content) */
static guint8 *
make_frames (int w, int h, int n)
{
  guint8 *rgb = g_malloc ((gsize) w * h * n * 3);
  for (int f = 0; f < n; f++)
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        {
          guint8 *p = rgb + (((gsize) f * h + y) * w + x) * 3;
          p[0] = (guint8) (x * 255 / w);
          p[1] = (guint8) (y * 255 / h);
          p[2] = (guint8) ((f * 16) & 255);
        }
  return rgb;
}

struct probe
{
  int width, height;
  double duration_s;
  double fps;
  char *title;
  char *comment;
};

static gboolean
discover (const char *path, struct probe *pr)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *uri = gst_filename_to_uri (path, NULL);
  GstDiscoverer *d = gst_discoverer_new (20 * GST_SECOND, &error);
  GstDiscovererInfo *info = d ? gst_discoverer_discover_uri (d, uri, &error) : NULL;
  gboolean ok = FALSE;

  memset (pr, 0, sizeof *pr);
  if (info && gst_discoverer_info_get_result (info) == GST_DISCOVERER_OK)
    {
      GList *vs = gst_discoverer_info_get_video_streams (info);
      const GstTagList *tags = gst_discoverer_info_get_tags (info);
      pr->duration_s = (double) gst_discoverer_info_get_duration (info) / GST_SECOND;
      if (vs)
        {
          GstDiscovererVideoInfo *v = vs->data;
          pr->width = (int) gst_discoverer_video_info_get_width (v);
          pr->height = (int) gst_discoverer_video_info_get_height (v);
          pr->fps = (double) gst_discoverer_video_info_get_framerate_num (v) /
                    MAX (1, gst_discoverer_video_info_get_framerate_denom (v));
          ok = TRUE;
        }
      if (tags)
        {
          gst_tag_list_get_string (tags, GST_TAG_TITLE, &pr->title);
          gst_tag_list_get_string (tags, GST_TAG_COMMENT, &pr->comment);
        }
      gst_discoverer_stream_info_list_free (vs);
    }
  else if (error)
    g_test_message ("discoverer: %s", error->message);
  if (info)
    g_object_unref (info);
  if (d)
    g_object_unref (d);
  return ok;
}

/* Decode the first frame back to RGB and return the mean of each channel (over the frame). */
static gboolean
first_frame_mean (const char *path, double mean[3])
{
  g_autofree char *loc = g_strescape (path, NULL);
  g_autofree char *desc = g_strdup_printf ("filesrc location=\"%s\" ! decodebin ! videoconvert ! "
                                           "video/x-raw,format=RGB ! appsink name=sink sync=false", loc);
  GstElement *pipe = gst_parse_launch (desc, NULL);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipe), "sink");
  gboolean ok = FALSE;
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  GstSample *sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 20 * GST_SECOND);
  if (sample)
    {
      GstVideoInfo vi;
      GstMapInfo map;
      GstBuffer *buf = gst_sample_get_buffer (sample);
      if (gst_video_info_from_caps (&vi, gst_sample_get_caps (sample)) && gst_buffer_map (buf, &map, GST_MAP_READ))
        {
          double acc[3] = { 0, 0, 0 };
          const int w = GST_VIDEO_INFO_WIDTH (&vi), h = GST_VIDEO_INFO_HEIGHT (&vi);
          const int stride = GST_VIDEO_INFO_PLANE_STRIDE (&vi, 0);
          for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
              for (int c = 0; c < 3; c++)
                acc[c] += map.data[(gsize) y * stride + (gsize) x * 3 + c];
          for (int c = 0; c < 3; c++)
            mean[c] = acc[c] / ((double) w * h);
          gst_buffer_unmap (buf, &map);
          ok = TRUE;
        }
      gst_sample_unref (sample);
    }
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (pipe);
  return ok;
}

static const char *const tags[] = { "prompt", "a red fox", "seed", "42", "guide", "5.5", NULL };

static void
check_video (const char *name, KinoraExportFormat fmt, int w)
{
  g_autofree char *dir = g_dir_make_tmp ("kinora-export-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr (GError) error = NULL;
  const int h = 48, n = 17;
  g_autofree guint8 *rgb = make_frames (w, h, n);
  KinoraExportFormat got;

  g_assert_true (kinora_export_format_from_path (path, &got, NULL));
  g_assert_cmpint (got, ==, fmt);
  g_assert_true (kinora_export_write (path, fmt, rgb, w, h, n, 24.0, tags, &error));
  g_assert_no_error (error);
  struct probe pr;
  g_assert_true (discover (path, &pr));
  g_assert_cmpint (pr.width, ==, w);
  g_assert_cmpint (pr.height, ==, h);
  g_assert_cmpfloat (pr.fps, ==, 24.0);
  /* duration = frames / fps within one frame */
  g_assert_cmpfloat (fabs (pr.duration_s * 24.0 - n), <, 1.0);
  g_assert_cmpstr (pr.title, ==, "a red fox");
  /* every frame, counted by FFmpeg's decoder (GStreamer wrote it) */
  g_assert_cmpint (export_test_count_frames (path), ==, n);
  g_assert_nonnull (pr.comment);
  /* the comment holds the parameters as JSON */
  g_assert_nonnull (strstr (pr.comment, "\"seed\":42"));
  /* frame 0 decodes to the source's colours: red ramps 0..255 across, green 0..255 down, blue 0
   * (mean about 127, 127, 0; lossy coding moves it by a few levels; a row-stride mistake gives a
   * solid green or sheared picture) */
  double mean[3];
  g_assert_true (first_frame_mean (path, mean));
  g_test_message ("frame 0 mean RGB %.1f %.1f %.1f", mean[0], mean[1], mean[2]);
  double want_r = 0, want_g = 0;
  for (int x = 0; x < w; x++)
    want_r += x * 255 / w;
  for (int y = 0; y < h; y++)
    want_g += y * 255 / h;
  g_assert_cmpfloat (fabs (mean[0] - want_r / w), <, 12.0);
  g_assert_cmpfloat (fabs (mean[1] - want_g / h), <, 12.0);
  g_assert_cmpfloat (mean[2], <, 12.0);
  g_free (pr.title);
  g_free (pr.comment);
  g_remove (path);
  g_rmdir (dir);
}

static void
test_mp4 (void)
{
  check_video ("clip.mp4", KINORA_EXPORT_MP4, 64);
}

/* 66 px: rows of 198 bytes, not a multiple of 4 (GStreamer's RGB stride trap) */
static void
test_mp4_odd_stride (void)
{
  check_video ("clip.mp4", KINORA_EXPORT_MP4, 66);
}

static void
test_webm (void)
{
  check_video ("clip.webm", KINORA_EXPORT_WEBM, 64);
}

static void
test_png (void)
{
  g_autofree char *dir = g_dir_make_tmp ("kinora-export-XXXXXX", NULL);
  g_autofree char *out = g_build_filename (dir, "frames/", NULL);
  g_autoptr (GError) error = NULL;
  const int w = 10, h = 6, n = 5;
  g_autofree guint8 *rgb = make_frames (w, h, n);
  KinoraExportFormat fmt;

  g_assert_true (kinora_export_format_from_path (out, &fmt, NULL));
  g_assert_cmpint (fmt, ==, KINORA_EXPORT_PNG);
  g_assert_true (kinora_export_write (out, fmt, rgb, w, h, n, 16.0, tags, &error));
  g_assert_cmpint (export_test_count_frames (out), ==, n);
  for (int f = 0; f < n; f++)
    {
      g_autofree char *name = g_strdup_printf ("frame_%05d.png", f);
      g_autofree char *p = g_build_filename (out, name, NULL);
      png_image im = { 0 };
      im.version = PNG_IMAGE_VERSION;
      g_assert_true (png_image_begin_read_from_file (&im, p));
      im.format = PNG_FORMAT_RGB;
      g_assert_cmpint (im.width, ==, w);
      g_assert_cmpint (im.height, ==, h);
      g_autofree guint8 *back = g_malloc (PNG_IMAGE_SIZE (im));
      g_assert_true (png_image_finish_read (&im, NULL, back, 0, NULL));
      /* lossless: every byte comes back */
      g_assert_cmpmem (back, w * h * 3, rgb + (gsize) f * w * h * 3, w * h * 3);
      g_remove (p);
    }
  g_autofree char *fr = g_build_filename (out, NULL);
  g_rmdir (fr);
  g_rmdir (dir);
}

static void
test_gif_and_sidecar (void)
{
  g_autofree char *dir = g_dir_make_tmp ("kinora-export-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "clip.gif", NULL);
  g_autoptr (GError) error = NULL;
  g_autofree guint8 *rgb = make_frames (20, 12, 3);
  g_autofree char *data = NULL;
  gsize len = 0;

  g_assert_true (kinora_export_write (path, KINORA_EXPORT_GIF, rgb, 20, 12, 3, 10.0, tags, &error));
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  g_assert_cmpint (len, >, 13);
  g_assert_cmpmem (data, 6, "GIF89a", 6);
  g_assert_cmpint (export_test_count_frames (path), ==, 3);
  g_autofree char *side = kinora_export_sidecar_path (path, KINORA_EXPORT_GIF);
  g_assert_true (g_str_has_suffix (side, "clip.gif.json"));
  g_assert_true (kinora_export_write_sidecar (side, tags, &error));
  json_object *o = json_object_from_file (side);
  g_assert_nonnull (o);
  json_object *v = NULL;
  g_assert_true (json_object_object_get_ex (o, "seed", &v));
  g_assert_true (json_object_is_type (v, json_type_int));
  g_assert_cmpint (json_object_get_int64 (v), ==, 42);
  g_assert_true (json_object_object_get_ex (o, "guide", &v));
  g_assert_true (json_object_is_type (v, json_type_double));
  g_assert_true (json_object_object_get_ex (o, "prompt", &v));
  g_assert_cmpstr (json_object_get_string (v), ==, "a red fox");
  json_object_put (o);
  g_remove (side);
  g_remove (path);
  g_rmdir (dir);
}

static void
test_bad_inputs (void)
{
  g_autoptr (GError) error = NULL;
  KinoraExportFormat fmt;
  guint8 px[3 * 9 * 8] = { 0 };
  g_assert_false (kinora_export_format_from_path ("clip.avi", &fmt, &error));
  g_assert_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_FORMAT);
  g_clear_error (&error);
  /* odd sizes cannot go to 4:2:0 */
  g_assert_false (kinora_export_write ("/tmp/never.mp4", KINORA_EXPORT_MP4, px, 9, 8, 1, 24, NULL, &error));
  g_assert_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_FORMAT);
  g_clear_error (&error);
  g_assert_false (kinora_export_write ("/nonexistent-dir/x.gif", KINORA_EXPORT_GIF, px, 8, 9, 1, 24, NULL, &error));
  g_assert_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/export/mp4", test_mp4);
  g_test_add_func ("/export/mp4-odd-stride", test_mp4_odd_stride);
  g_test_add_func ("/export/webm", test_webm);
  g_test_add_func ("/export/png", test_png);
  g_test_add_func ("/export/gif-and-sidecar", test_gif_and_sidecar);
  g_test_add_func ("/export/bad-inputs", test_bad_inputs);
  return g_test_run ();
}
