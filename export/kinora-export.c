/* kinora-export.c: MP4/WebM through GStreamer appsrc, PNG frames through libpng, GIF through giflib,
 * and the sidecar JSON.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <errno.h>
#include <gif_lib.h>
#include <glib/gstdio.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <json-c/json.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinora-export.h"

G_DEFINE_QUARK (kinora-export-error-quark, kinora_export_error)

gboolean
kinora_export_format_from_path (const char          *path,
                                KinoraExportFormat  *out,
                                GError             **error)
{
  g_autofree char *lower = NULL;

  if (path == NULL || *path == '\0')
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_FORMAT, "no output path given");
      return FALSE;
    }
  lower = g_ascii_strdown (path, -1);
  if (g_str_has_suffix (lower, ".mp4"))
    *out = KINORA_EXPORT_MP4;
  else if (g_str_has_suffix (lower, ".webm"))
    *out = KINORA_EXPORT_WEBM;
  else if (g_str_has_suffix (lower, ".gif"))
    *out = KINORA_EXPORT_GIF;
  else if (g_str_has_suffix (path, "/") || g_file_test (path, G_FILE_TEST_IS_DIR))
    *out = KINORA_EXPORT_PNG;
  else
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_FORMAT,
                   "%s: unknown output format (use .mp4, .webm, .gif or a folder ending in / for PNG frames)",
                   path);
      return FALSE;
    }
  return TRUE;
}

/* "key=value" lines of every tag pair. */
static char *
tags_to_text (const char * const *tags)
{
  GString *s = g_string_new (NULL);

  for (int i = 0; tags != NULL && tags[i] != NULL && tags[i + 1] != NULL; i += 2)
    g_string_append_printf (s, "%s%s=%s", s->len ? "\n" : "", tags[i], tags[i + 1]);
  return g_string_free (s, FALSE);
}

static const char *
tags_lookup (const char * const *tags,
             const char         *key)
{
  for (int i = 0; tags != NULL && tags[i] != NULL && tags[i + 1] != NULL; i += 2)
    if (strcmp (tags[i], key) == 0)
      return tags[i + 1];
  return NULL;
}

/* --- GStreamer ------------------------------------------------------------------------------------ */

static gboolean
write_gst (const char          *path,
           KinoraExportFormat   format,
           const guint8        *rgb,
           int                  width,
           int                  height,
           int                  n_frames,
           double               fps,
           const char * const  *tags,
           GError             **error)
{
  g_autoptr (GError) local = NULL;
  g_autofree char *desc = NULL;
  g_autofree char *loc = NULL;
  g_autofree char *comment = NULL;
  GstElement *pipe = NULL, *src = NULL, *mux = NULL;
  GstBus *bus = NULL;
  GstMessage *msg = NULL;
  GstCaps *caps = NULL;
  GstTagList *tl = NULL;
  gboolean ok = FALSE;
  int fps_n, fps_d;
  const size_t stride = GST_ROUND_UP_4 ((size_t) width * 3);   /* GStreamer pads RGB rows to 4 bytes */

  if (!gst_init_check (NULL, NULL, &local))
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_ENCODER, "GStreamer: %s", local->message);
      return FALSE;
    }
  if (width % 2 != 0 || height % 2 != 0)
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_FORMAT,
                   "%s: %dx%d: the video encoders need an even width and height", path, width, height);
      return FALSE;
    }
  loc = g_strescape (path, NULL);
  if (format == KINORA_EXPORT_MP4)
    desc = g_strdup_printf ("appsrc name=src format=time block=true max-bytes=%zu ! videoconvert ! "
                            "video/x-raw,format=I420 ! x264enc speed-preset=medium ! "
                            "video/x-h264,profile=high ! mp4mux name=mux faststart=true ! "
                            "filesink location=\"%s\"", stride * (size_t) height * 4, loc);
  else
    desc = g_strdup_printf ("appsrc name=src format=time block=true max-bytes=%zu ! videoconvert ! "
                            "video/x-raw,format=I420 ! vp9enc deadline=1 cpu-used=4 target-bitrate=2000000 ! "
                            "webmmux name=mux ! filesink location=\"%s\"", stride * (size_t) height * 4, loc);
  pipe = gst_parse_launch (desc, &local);
  if (pipe == NULL || local != NULL)
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_ENCODER,
                   "%s: cannot build the %s encoder pipeline: %s", path,
                   format == KINORA_EXPORT_MP4 ? "H.264/MP4" : "VP9/WebM", local ? local->message : "unknown");
      goto out;
    }
  src = gst_bin_get_by_name (GST_BIN (pipe), "src");
  mux = gst_bin_get_by_name (GST_BIN (pipe), "mux");
  gst_util_double_to_fraction (fps, &fps_n, &fps_d);
  caps = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING, "RGB", "width", G_TYPE_INT, width,
                              "height", G_TYPE_INT, height, "framerate", GST_TYPE_FRACTION, fps_n, fps_d, NULL);
  gst_app_src_set_caps (GST_APP_SRC (src), caps);

  /* the parameters: prompt as the title, every pair in the comment */
  comment = tags_to_text (tags);
  tl = gst_tag_list_new_empty ();
  if (tags_lookup (tags, "prompt"))
    gst_tag_list_add (tl, GST_TAG_MERGE_REPLACE, GST_TAG_TITLE, tags_lookup (tags, "prompt"), NULL);
  if (*comment)
    gst_tag_list_add (tl, GST_TAG_MERGE_REPLACE, GST_TAG_COMMENT, comment, GST_TAG_DESCRIPTION, comment, NULL);
  gst_tag_list_add (tl, GST_TAG_MERGE_REPLACE, GST_TAG_ENCODER, "Kinora", NULL);
  if (GST_IS_TAG_SETTER (mux))
    gst_tag_setter_merge_tags (GST_TAG_SETTER (mux), tl, GST_TAG_MERGE_REPLACE);

  if (gst_element_set_state (pipe, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_ENCODER, "%s: the encoder did not start", path);
      goto out;
    }
  for (int f = 0; f < n_frames; f++)
    {
      GstBuffer *buf = gst_buffer_new_allocate (NULL, stride * (size_t) height, NULL);
      GstMapInfo map;
      const guint8 *frame = rgb + (size_t) f * (size_t) width * (size_t) height * 3;

      gst_buffer_map (buf, &map, GST_MAP_WRITE);
      for (int y = 0; y < height; y++)
        {
          memcpy (map.data + (size_t) y * stride, frame + (size_t) y * (size_t) width * 3, (size_t) width * 3);
          memset (map.data + (size_t) y * stride + (size_t) width * 3, 0, stride - (size_t) width * 3);
        }
      gst_buffer_unmap (buf, &map);
      GST_BUFFER_PTS (buf) = gst_util_uint64_scale (f, GST_SECOND * (guint64) fps_d, (guint64) fps_n);
      GST_BUFFER_DURATION (buf) = gst_util_uint64_scale (1, GST_SECOND * (guint64) fps_d, (guint64) fps_n);
      if (gst_app_src_push_buffer (GST_APP_SRC (src), buf) != GST_FLOW_OK)
        break;
    }
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  bus = gst_element_get_bus (pipe);
  msg = gst_bus_timed_pop_filtered (bus, GST_CLOCK_TIME_NONE, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  if (msg != NULL && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
    {
      g_autoptr (GError) gerr = NULL;
      gst_message_parse_error (msg, &gerr, NULL);
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_ENCODER, "%s: %s", path,
                   gerr ? gerr->message : "encoder error");
    }
  else
    ok = TRUE;

out:
  if (msg)
    gst_message_unref (msg);
  if (bus)
    gst_object_unref (bus);
  if (pipe)
    gst_element_set_state (pipe, GST_STATE_NULL);
  if (tl)
    gst_tag_list_unref (tl);
  if (caps)
    gst_caps_unref (caps);
  if (src)
    gst_object_unref (src);
  if (mux)
    gst_object_unref (mux);
  if (pipe)
    gst_object_unref (pipe);
  return ok;
}

/* --- PNG frames ----------------------------------------------------------------------------------- */

static gboolean
write_png (const char          *path,
           const guint8        *rgb,
           int                  width,
           int                  height,
           const char * const  *tags,
           GError             **error)
{
  FILE *f = fopen (path, "wb");
  png_structp png = NULL;
  png_infop info = NULL;
  png_text text[32];
  int n_text = 0;

  if (f == NULL)
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO, "%s: %s", path, g_strerror (errno));
      return FALSE;
    }
  png = png_create_write_struct (PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  info = png ? png_create_info_struct (png) : NULL;
  if (info == NULL || setjmp (png_jmpbuf (png)))
    {
      png_destroy_write_struct (&png, info ? &info : NULL);
      fclose (f);
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO, "%s: PNG write failed", path);
      return FALSE;
    }
  png_init_io (png, f);
  png_set_IHDR (png, info, (png_uint_32) width, (png_uint_32) height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  for (int i = 0; tags != NULL && tags[i] != NULL && tags[i + 1] != NULL && n_text < 32; i += 2)
    {
      text[n_text].compression = PNG_ITXT_COMPRESSION_NONE;   /* UTF-8 text */
      text[n_text].key = (char *) tags[i];
      text[n_text].text = (char *) tags[i + 1];
      text[n_text].text_length = 0;
      text[n_text].itxt_length = strlen (tags[i + 1]);
      text[n_text].lang = NULL;
      text[n_text].lang_key = NULL;
      n_text++;
    }
  if (n_text > 0)
    png_set_text (png, info, text, n_text);
  png_write_info (png, info);
  for (int y = 0; y < height; y++)
    png_write_row (png, (png_const_bytep) (rgb + (size_t) y * (size_t) width * 3));
  png_write_end (png, info);
  png_destroy_write_struct (&png, &info);
  if (fclose (f) != 0)
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO, "%s: %s", path, g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

static gboolean
write_png_frames (const char          *dir,
                  const guint8        *rgb,
                  int                  width,
                  int                  height,
                  int                  n_frames,
                  const char * const  *tags,
                  GError             **error)
{
  if (g_mkdir_with_parents (dir, 0755) != 0)
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO, "%s: cannot create the folder: %s", dir,
                   g_strerror (errno));
      return FALSE;
    }
  for (int f = 0; f < n_frames; f++)
    {
      g_autofree char *name = g_strdup_printf ("frame_%05d.png", f);
      g_autofree char *p = g_build_filename (dir, name, NULL);
      if (!write_png (p, rgb + (size_t) f * (size_t) width * (size_t) height * 3, width, height, tags, error))
        return FALSE;
    }
  return TRUE;
}

/* --- GIF ------------------------------------------------------------------------------------------ */

static gboolean
write_gif (const char          *path,
           const guint8        *rgb,
           int                  width,
           int                  height,
           int                  n_frames,
           double               fps,
           GError             **error)
{
  int gerr = 0;
  GifFileType *gif = EGifOpenFileName (path, false, &gerr);
  size_t npx = (size_t) width * (size_t) height;
  g_autofree GifByteType *r = g_malloc (npx), *g = g_malloc (npx), *b = g_malloc (npx), *idx = g_malloc (npx);
  gboolean ok = FALSE;
  /* NETSCAPE2.0 application extension: loop forever */
  static const GifByteType app[11] = { 'N', 'E', 'T', 'S', 'C', 'A', 'P', 'E', '2', '.', '0' };
  static const GifByteType loop[3] = { 1, 0, 0 };
  int delay = (int) (100.0 / fps + 0.5);

  if (gif == NULL)
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO, "%s: %s", path, GifErrorString (gerr));
      return FALSE;
    }
  EGifSetGifVersion (gif, true);
  if (EGifPutScreenDesc (gif, width, height, 8, 0, NULL) == GIF_ERROR)
    goto out;
  if (EGifPutExtensionLeader (gif, APPLICATION_EXT_FUNC_CODE) == GIF_ERROR ||
      EGifPutExtensionBlock (gif, 11, app) == GIF_ERROR || EGifPutExtensionBlock (gif, 3, loop) == GIF_ERROR ||
      EGifPutExtensionTrailer (gif) == GIF_ERROR)
    goto out;
  for (int f = 0; f < n_frames; f++)
    {
      const guint8 *fr = rgb + (size_t) f * npx * 3;
      int colors = 256;
      ColorMapObject *map = GifMakeMapObject (256, NULL);
      GraphicsControlBlock gcb = { DISPOSE_DO_NOT, false, delay < 1 ? 1 : delay, NO_TRANSPARENT_COLOR };
      GifByteType ext[4];
      size_t len;

      if (map == NULL)
        goto out;
      for (size_t i = 0; i < npx; i++)
        {
          r[i] = fr[3 * i];
          g[i] = fr[3 * i + 1];
          b[i] = fr[3 * i + 2];
        }
      if (GifQuantizeBuffer ((unsigned) width, (unsigned) height, &colors, r, g, b, idx, map->Colors) == GIF_ERROR)
        {
          GifFreeMapObject (map);
          goto out;
        }
      len = EGifGCBToExtension (&gcb, ext);
      if (EGifPutExtension (gif, GRAPHICS_EXT_FUNC_CODE, (int) len, ext) == GIF_ERROR ||
          EGifPutImageDesc (gif, 0, 0, width, height, false, map) == GIF_ERROR)
        {
          GifFreeMapObject (map);
          goto out;
        }
      GifFreeMapObject (map);
      for (int y = 0; y < height; y++)
        if (EGifPutLine (gif, idx + (size_t) y * (size_t) width, width) == GIF_ERROR)
          goto out;
    }
  ok = TRUE;
out:
  if (EGifCloseFile (gif, &gerr) == GIF_ERROR)
    ok = FALSE;
  if (!ok)
    g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO, "%s: GIF write failed: %s", path,
                 GifErrorString (gerr ? gerr : E_GIF_ERR_WRITE_FAILED));
  return ok;
}

gboolean
kinora_export_write (const char          *path,
                     KinoraExportFormat   format,
                     const guint8        *rgb,
                     int                  width,
                     int                  height,
                     int                  n_frames,
                     double               fps,
                     const char * const  *tags,
                     GError             **error)
{
  if (rgb == NULL || width < 1 || height < 1 || n_frames < 1 || !(fps > 0))
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_FORMAT,
                   "%s: nothing to write (%dx%d, %d frames, %g fps)", path, width, height, n_frames, fps);
      return FALSE;
    }
  switch (format)
    {
    case KINORA_EXPORT_MP4:
    case KINORA_EXPORT_WEBM:
      return write_gst (path, format, rgb, width, height, n_frames, fps, tags, error);
    case KINORA_EXPORT_PNG:
      return write_png_frames (path, rgb, width, height, n_frames, tags, error);
    case KINORA_EXPORT_GIF:
      return write_gif (path, rgb, width, height, n_frames, fps, error);
    default:
      break;
    }
  g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_FORMAT, "%s: unknown format", path);
  return FALSE;
}

char *
kinora_export_sidecar_path (const char         *path,
                            KinoraExportFormat  format)
{
  if (format == KINORA_EXPORT_PNG)
    return g_build_filename (path, "parameters.json", NULL);
  return g_strdup_printf ("%s.json", path);
}

gboolean
kinora_export_write_sidecar (const char          *path,
                             const char * const  *tags,
                             GError             **error)
{
  json_object *root = json_object_new_object ();
  g_autoptr (GError) local = NULL;
  gboolean ok;

  for (int i = 0; tags != NULL && tags[i] != NULL && tags[i + 1] != NULL; i += 2)
    {
      const char *v = tags[i + 1];
      char *end = NULL;
      double d = g_ascii_strtod (v, &end);
      if (*v != '\0' && end != NULL && *end == '\0' && !g_ascii_isspace (*v))
        {
          gint64 iv = g_ascii_strtoll (v, &end, 10);
          if (*end == '\0')
            json_object_object_add (root, tags[i], json_object_new_int64 (iv));
          else
            json_object_object_add (root, tags[i], json_object_new_double (d));
        }
      else
        json_object_object_add (root, tags[i], json_object_new_string (v));
    }
  const char *text = json_object_to_json_string_ext (root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
  ok = g_file_set_contents (path, text, -1, &local);
  json_object_put (root);
  if (!ok)
    g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO, "%s", local->message);
  return ok;
}
