/* kinora-export.c: MP4/WebM through GStreamer appsrc, PNG frames through libpng, GIF through giflib,
 * and the sidecar JSON; every file is written under a temporary name and renamed when complete.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
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
#include <sys/stat.h>
#include <unistd.h>

#include "kinora-export.h"
#include "kinora-metadata.h"

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

static const char *
tags_lookup (const char * const *tags,
             const char         *key)
{
  for (int i = 0; tags != NULL && tags[i] != NULL && tags[i + 1] != NULL; i += 2)
    if (strcmp (tags[i], key) == 0)
      return tags[i + 1];
  return NULL;
}

/* The tags as one line of JSON, for a container's comment. */
static char *
tags_to_compact_json (const char * const *tags)
{
  g_autofree char *pretty = kinora_metadata_tags_to_json (tags);
  json_object *o = json_tokener_parse (pretty);
  char *ret = g_strdup (json_object_to_json_string_ext (o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));

  json_object_put (o);
  return ret;
}

/* --- files written under a temporary name ---------------------------------------------------------- */

/* Temporary files beside their final names, renamed together on success, removed on failure. */
typedef struct
{
  GPtrArray *tmp;
  GPtrArray *final;
  char      *made_dir;   /* a folder made for PNG frames, removed again on failure */
} Pending;

static void
pending_init (Pending *pd)
{
  pd->tmp = g_ptr_array_new_with_free_func (g_free);
  pd->final = g_ptr_array_new_with_free_func (g_free);
  pd->made_dir = NULL;
}

static void
pending_clear (Pending *pd)
{
  g_ptr_array_unref (pd->tmp);
  g_ptr_array_unref (pd->final);
  g_free (pd->made_dir);
}

/* A new empty file ".NAME.XXXXXX" in the folder of @final_path (mode 0666 less the umask); returns its fd
 * and adds it to @pd, or -1 with @error set. */
static int
pending_new_file (Pending     *pd,
                  const char  *final_path,
                  const char **tmp_path,
                  GError     **error)
{
  g_autofree char *dir = g_path_get_dirname (final_path);
  g_autofree char *base = g_path_get_basename (final_path);
  g_autofree char *name = g_strdup_printf (".%s.XXXXXX", base);
  char *tmpl = g_build_filename (dir, name, NULL);
  int fd = g_mkstemp_full (tmpl, O_WRONLY | O_CLOEXEC, 0666);

  if (fd < 0)
    {
      int e = errno;
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO, "%s: cannot create a file in %s: %s",
                   final_path, dir, g_strerror (e));
      g_free (tmpl);
      return -1;
    }
  g_ptr_array_add (pd->tmp, tmpl);
  g_ptr_array_add (pd->final, g_strdup (final_path));
  *tmp_path = tmpl;
  return fd;
}

static void
pending_abort (Pending *pd)
{
  for (guint i = 0; i < pd->tmp->len; i++)
    g_unlink (g_ptr_array_index (pd->tmp, i));
  if (pd->made_dir != NULL)
    g_rmdir (pd->made_dir);
}

/* Flush every file to the disk (a full disk can show only here), then rename them all. */
static gboolean
pending_commit (Pending  *pd,
                GError  **error)
{
  for (guint i = 0; i < pd->tmp->len; i++)
    {
      const char *tmp = g_ptr_array_index (pd->tmp, i);
      int fd = g_open (tmp, O_RDONLY | O_CLOEXEC, 0);
      if (fd < 0 || fsync (fd) != 0)
        {
          int e = errno;
          g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO, "%s: %s",
                       (const char *) g_ptr_array_index (pd->final, i), g_strerror (e));
          if (fd >= 0)
            close (fd);
          pending_abort (pd);
          return FALSE;
        }
      close (fd);
    }
  for (guint i = 0; i < pd->tmp->len; i++)
    {
      const char *final = g_ptr_array_index (pd->final, i);
      if (g_rename (g_ptr_array_index (pd->tmp, i), final) != 0)
        {
          int e = errno;
          g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO, "%s: %s", final, g_strerror (e));
          /* the ones already renamed are complete files; the rest go */
          for (guint j = i; j < pd->tmp->len; j++)
            g_unlink (g_ptr_array_index (pd->tmp, j));
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
write_all (int          fd,
           const char  *data,
           gsize        len,
           const char  *path,
           GError     **error)
{
  while (len > 0)
    {
      gssize n = write (fd, data, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          int e = n < 0 ? errno : ENOSPC;
          g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO, "%s: %s", path, g_strerror (e));
          return FALSE;
        }
      data += n;
      len -= (gsize) n;
    }
  return TRUE;
}

gboolean
kinora_export_check_target (const char  *path,
                            GError     **error)
{
  KinoraExportFormat format;
  g_autofree char *dir = NULL;
  g_autofree char *probe = NULL;
  GStatBuf st;
  int fd;

  if (!kinora_export_format_from_path (path, &format, error))
    return FALSE;
  if (format == KINORA_EXPORT_PNG)
    {
      g_autofree char *folder = g_strdup (path);
      gsize len = strlen (folder);
      while (len > 1 && folder[len - 1] == G_DIR_SEPARATOR)
        folder[--len] = '\0';
      if (g_file_test (folder, G_FILE_TEST_EXISTS))
        dir = g_steal_pointer (&folder);
      else
        dir = g_path_get_dirname (folder);   /* the frames' folder is made there */
    }
  else
    {
      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        {
          g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_TARGET, "%s: is a folder, not a file", path);
          return FALSE;
        }
      dir = g_path_get_dirname (path);
    }
  if (g_stat (dir, &st) != 0)
    {
      int e = errno;
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_TARGET, "%s: the output folder %s %s", path, dir,
                   e == ENOENT ? "does not exist" : g_strerror (e));
      return FALSE;
    }
  if (!S_ISDIR (st.st_mode))
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_TARGET, "%s: %s is not a folder", path, dir);
      return FALSE;
    }
  /* access() says yes to root on a read-only mount; a real file says what will happen */
  probe = g_build_filename (dir, ".kinora-check-XXXXXX", NULL);
  fd = g_mkstemp_full (probe, O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      int e = errno;
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_TARGET, "%s: cannot write into the folder %s: %s",
                   path, dir, g_strerror (e));
      return FALSE;
    }
  close (fd);
  g_unlink (probe);
  return TRUE;
}

/* --- GStreamer ------------------------------------------------------------------------------------ */

static GstElement *
make_element (const char  *factory,
              const char  *path,
              GError     **error)
{
  GstElement *e = gst_element_factory_make (factory, NULL);

  if (e == NULL)
    g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_ENCODER,
                 "%s: the GStreamer element %s is not installed", path, factory);
  return e;
}

/* appsrc ! videoconvert ! I420 ! encoder [! caps] ! muxer ! filesink, made element by element so that
 * the file name reaches filesink as it is (any bytes, any script). */
static GstElement *
build_pipeline (KinoraExportFormat   format,
                const char          *path,
                const char          *location,
                gsize                max_bytes,
                GstElement         **src,
                GstElement         **mux,
                GError             **error)
{
  const gboolean mp4 = format == KINORA_EXPORT_MP4;
  const char *names[] = { "appsrc", "videoconvert", "capsfilter", mp4 ? "x264enc" : "vp9enc",
                          mp4 ? "capsfilter" : NULL, mp4 ? "mp4mux" : "webmmux", "filesink" };
  GstElement *e[G_N_ELEMENTS (names)] = { NULL };
  GstElement *pipe = gst_pipeline_new (NULL);
  GstElement *prev = NULL;
  GstCaps *caps;

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      if (names[i] == NULL)
        continue;
      if ((e[i] = make_element (names[i], path, error)) == NULL)
        {
          gst_object_unref (pipe);
          return NULL;
        }
      gst_bin_add (GST_BIN (pipe), e[i]);
      if (prev != NULL && !gst_element_link (prev, e[i]))
        {
          g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_ENCODER, "%s: cannot link %s to %s", path,
                       GST_OBJECT_NAME (prev), names[i]);
          gst_object_unref (pipe);
          return NULL;
        }
      prev = e[i];
    }
  g_object_set (e[0], "format", GST_FORMAT_TIME, "block", TRUE, "max-bytes", (guint64) max_bytes, NULL);
  caps = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING, "I420", NULL);
  g_object_set (e[2], "caps", caps, NULL);
  gst_caps_unref (caps);
  if (mp4)
    {
      gst_util_set_object_arg (G_OBJECT (e[3]), "speed-preset", "medium");
      caps = gst_caps_new_simple ("video/x-h264", "profile", G_TYPE_STRING, "high", NULL);
      g_object_set (e[4], "caps", caps, NULL);
      gst_caps_unref (caps);
      g_object_set (e[5], "faststart", TRUE, NULL);
    }
  else
    {
      /* lag-in-frames 0: with look-ahead, libvpx drops frames of noisy content when draining at the end
       * of stream (17 frames became 9); realtime deadline and cpu-used 4 keep it fast */
      g_object_set (e[3], "deadline", (gint64) 1, "cpu-used", 4, "target-bitrate", 2000000, "lag-in-frames", 0,
                    NULL);
    }
  g_object_set (e[6], "location", location, NULL);
  *src = gst_object_ref (e[0]);
  *mux = gst_object_ref (e[5]);
  return pipe;
}

static gboolean
write_gst (const char          *path,
           const char          *location,
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
  pipe = build_pipeline (format, path, location, stride * (size_t) height * 4, &src, &mux, error);
  if (pipe == NULL)
    return FALSE;
  gst_util_double_to_fraction (fps, &fps_n, &fps_d);
  caps = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING, "RGB", "width", G_TYPE_INT, width,
                              "height", G_TYPE_INT, height, "framerate", GST_TYPE_FRACTION, fps_n, fps_d, NULL);
  gst_app_src_set_caps (GST_APP_SRC (src), caps);

  /* the parameters: prompt as the title, all of them as JSON in the comment */
  comment = tags_to_compact_json (tags);
  tl = gst_tag_list_new_empty ();
  if (tags_lookup (tags, "prompt"))
    {
      g_autofree char *title = g_utf8_make_valid (tags_lookup (tags, "prompt"), -1);
      gst_tag_list_add (tl, GST_TAG_MERGE_REPLACE, GST_TAG_TITLE, title, NULL);
    }
  if (tags != NULL && tags[0] != NULL)
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
      GstClockTime t0 = gst_util_uint64_scale (f, GST_SECOND * (guint64) fps_d, (guint64) fps_n);
      GstClockTime t1 = gst_util_uint64_scale (f + 1, GST_SECOND * (guint64) fps_d, (guint64) fps_n);

      gst_buffer_map (buf, &map, GST_MAP_WRITE);
      for (int y = 0; y < height; y++)
        {
          memcpy (map.data + (size_t) y * stride, frame + (size_t) y * (size_t) width * 3, (size_t) width * 3);
          memset (map.data + (size_t) y * stride + (size_t) width * 3, 0, stride - (size_t) width * 3);
        }
      gst_buffer_unmap (buf, &map);
      /* durations from the frame boundaries, so that they add up to exactly n_frames / fps */
      GST_BUFFER_PTS (buf) = t0;
      GST_BUFFER_DURATION (buf) = t1 - t0;
      if (gst_app_src_push_buffer (GST_APP_SRC (src), buf) != GST_FLOW_OK)
        break;
    }
  /* end of stream, then wait until it reaches the file: the encoder drains its queue on the way */
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  bus = gst_element_get_bus (pipe);
  msg = gst_bus_timed_pop_filtered (bus, GST_CLOCK_TIME_NONE, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  if (msg != NULL && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
    {
      g_autoptr (GError) gerr = NULL;
      gst_message_parse_error (msg, &gerr, NULL);
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO, "%s: %s", path,
                   gerr ? gerr->message : "encoder error");
    }
  else
    ok = TRUE;

out:
  if (msg)
    gst_message_unref (msg);
  if (bus)
    gst_object_unref (bus);
  gst_element_set_state (pipe, GST_STATE_NULL);
  if (tl)
    gst_tag_list_unref (tl);
  if (caps)
    gst_caps_unref (caps);
  gst_object_unref (src);
  gst_object_unref (mux);
  gst_object_unref (pipe);
  return ok;
}

/* --- PNG frames ----------------------------------------------------------------------------------- */

/* A PNG keyword: 1..79 printable Latin-1 characters, here ASCII only. */
static gboolean
png_keyword_ok (const char *key)
{
  gsize n = strlen (key);

  if (n < 1 || n > 79 || key[0] == ' ' || key[n - 1] == ' ')
    return FALSE;
  for (gsize i = 0; i < n; i++)
    if (key[i] < 0x20 || key[i] > 0x7e)
      return FALSE;
  return TRUE;
}

static gboolean
write_png (const char          *path,
           int                  fd,
           const guint8        *rgb,
           int                  width,
           int                  height,
           const char * const  *tags,
           GError             **error)
{
  FILE *f = fdopen (fd, "wb");
  png_structp png = NULL;
  png_infop info = NULL;
  png_text text[64];
  volatile int n_text = 0;   /* read after setjmp */
  g_autoptr (GPtrArray) valid = g_ptr_array_new_with_free_func (g_free);

  for (int i = 0; tags != NULL && tags[i] != NULL && tags[i + 1] != NULL && n_text < 64; i += 2)
    {
      char *value;
      if (!png_keyword_ok (tags[i]))
        continue;
      value = g_utf8_make_valid (tags[i + 1], -1);
      g_ptr_array_add (valid, value);
      text[n_text].compression = PNG_ITXT_COMPRESSION_NONE;   /* UTF-8 text */
      text[n_text].key = (char *) tags[i];
      text[n_text].text = value;
      text[n_text].text_length = 0;
      text[n_text].itxt_length = strlen (value);
      text[n_text].lang = NULL;
      text[n_text].lang_key = NULL;
      n_text++;
    }
  if (f == NULL)
    {
      int e = errno;
      close (fd);
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO, "%s: %s", path, g_strerror (e));
      return FALSE;
    }
  png = png_create_write_struct (PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  info = png ? png_create_info_struct (png) : NULL;
  if (info == NULL || setjmp (png_jmpbuf (png)))
    {
      int e = errno;
      png_destroy_write_struct (&png, info ? &info : NULL);
      fclose (f);
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO, "%s: PNG write failed: %s", path,
                   e ? g_strerror (e) : "libpng error");
      return FALSE;
    }
  png_init_io (png, f);
  png_set_IHDR (png, info, (png_uint_32) width, (png_uint_32) height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (n_text > 0)
    png_set_text (png, info, text, n_text);
  errno = 0;
  png_write_info (png, info);
  for (int y = 0; y < height; y++)
    png_write_row (png, (png_const_bytep) (rgb + (size_t) y * (size_t) width * 3));
  png_write_end (png, info);
  png_destroy_write_struct (&png, &info);
  if (fflush (f) != 0 || ferror (f))
    {
      int e = errno;
      fclose (f);
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO, "%s: %s", path, g_strerror (e));
      return FALSE;
    }
  if (fclose (f) != 0)
    {
      int e = errno;
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO, "%s: %s", path, g_strerror (e));
      return FALSE;
    }
  return TRUE;
}

static gboolean
write_png_frames (Pending             *pd,
                  const char          *dir,
                  const guint8        *rgb,
                  int                  width,
                  int                  height,
                  int                  n_frames,
                  const char * const  *tags,
                  GError             **error)
{
  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      if (g_mkdir (dir, 0777) != 0)
        {
          int e = errno;
          g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO, "%s: cannot create the folder: %s", dir,
                       g_strerror (e));
          return FALSE;
        }
      pd->made_dir = g_strdup (dir);
    }
  for (int f = 0; f < n_frames; f++)
    {
      g_autofree char *name = g_strdup_printf ("frame_%05d.png", f);
      g_autofree char *p = g_build_filename (dir, name, NULL);
      const char *tmp;
      int fd = pending_new_file (pd, p, &tmp, error);
      if (fd < 0 ||
          !write_png (p, fd, rgb + (size_t) f * (size_t) width * (size_t) height * 3, width, height, tags, error))
        return FALSE;
    }
  return TRUE;
}

/* --- GIF ------------------------------------------------------------------------------------------ */

static gboolean
write_gif (const char          *path,
           int                  fd,
           const guint8        *rgb,
           int                  width,
           int                  height,
           int                  n_frames,
           double               fps,
           const char * const  *tags,
           GError             **error)
{
  int gerr = 0;
  GifFileType *gif = EGifOpenFileHandle (fd, &gerr);
  size_t npx = (size_t) width * (size_t) height;
  g_autofree GifByteType *r = g_malloc (npx), *g = g_malloc (npx), *b = g_malloc (npx), *idx = g_malloc (npx);
  g_autofree char *comment = tags != NULL && tags[0] != NULL ? tags_to_compact_json (tags) : NULL;
  gboolean ok = FALSE;
  /* NETSCAPE2.0 application extension: loop forever */
  static const GifByteType app[11] = { 'N', 'E', 'T', 'S', 'C', 'A', 'P', 'E', '2', '.', '0' };
  static const GifByteType loop[3] = { 1, 0, 0 };
  int delay = (int) (100.0 / fps + 0.5);

  if (gif == NULL)
    {
      close (fd);
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
  /* the parameters, as JSON, in a comment extension */
  if (comment != NULL && EGifPutComment (gif, comment) == GIF_ERROR)
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
  {
    int close_err = 0;
    if (!ok)
      gerr = gif->Error;
    /* closing flushes the last bytes: a full disk may show only here */
    if (EGifCloseFile (gif, &close_err) == GIF_ERROR && ok)
      {
        ok = FALSE;
        gerr = close_err;
      }
  }
  if (!ok)
    g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO, "%s: GIF write failed: %s", path,
                 GifErrorString (gerr ? gerr : E_GIF_ERR_WRITE_FAILED));
  return ok;
}

/* --- entry points --------------------------------------------------------------------------------- */

/* Write the video into temporary files of @pd (renamed by the caller). */
static gboolean
write_pending (Pending             *pd,
               const char          *path,
               KinoraExportFormat   format,
               const guint8        *rgb,
               int                  width,
               int                  height,
               int                  n_frames,
               double               fps,
               const char * const  *tags,
               GError             **error)
{
  const char *tmp;
  int fd;

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
      if (width % 2 != 0 || height % 2 != 0)
        {
          g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_FORMAT,
                       "%s: %dx%d: the video encoders need an even width and height", path, width, height);
          return FALSE;
        }
      if ((fd = pending_new_file (pd, path, &tmp, error)) < 0)
        return FALSE;
      close (fd);   /* filesink opens it again by name */
      return write_gst (path, tmp, format, rgb, width, height, n_frames, fps, tags, error);
    case KINORA_EXPORT_PNG:
      return write_png_frames (pd, path, rgb, width, height, n_frames, tags, error);
    case KINORA_EXPORT_GIF:
      if ((fd = pending_new_file (pd, path, &tmp, error)) < 0)
        return FALSE;
      return write_gif (path, fd, rgb, width, height, n_frames, fps, tags, error);
    default:
      break;
    }
  g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_FORMAT, "%s: unknown format", path);
  return FALSE;
}

static gboolean
write_sidecar_pending (Pending             *pd,
                       const char          *path,
                       const char * const  *tags,
                       GError             **error)
{
  g_autofree char *json = kinora_metadata_tags_to_json (tags);
  const char *tmp;
  int fd = pending_new_file (pd, path, &tmp, error);
  gboolean ok;

  if (fd < 0)
    return FALSE;
  ok = write_all (fd, json, strlen (json), path, error) && write_all (fd, "\n", 1, path, error);
  if (close (fd) != 0 && ok)
    {
      int e = errno;
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_IO, "%s: %s", path, g_strerror (e));
      ok = FALSE;
    }
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
  Pending pd;
  gboolean ok;

  pending_init (&pd);
  ok = write_pending (&pd, path, format, rgb, width, height, n_frames, fps, tags, error);
  if (ok)
    ok = pending_commit (&pd, error);
  else
    pending_abort (&pd);
  pending_clear (&pd);
  return ok;
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
  Pending pd;
  gboolean ok;

  pending_init (&pd);
  ok = write_sidecar_pending (&pd, path, tags, error);
  if (ok)
    ok = pending_commit (&pd, error);
  else
    pending_abort (&pd);
  pending_clear (&pd);
  return ok;
}

gboolean
kinora_export_save (const char                 *path,
                    KinoraExportFormat          format,
                    const guint8               *rgb,
                    int                         width,
                    int                         height,
                    int                         n_frames,
                    double                      fps,
                    const struct ke_gen_params *params,
                    const char                 *model,
                    const char                 *image,
                    const char * const         *digests,
                    gboolean                    sidecar,
                    GError                    **error)
{
  g_auto (GStrv) tags = kinora_metadata_to_tags (params, model, image, digests);
  g_autofree char *sidecar_path = kinora_export_sidecar_path (path, format);
  Pending pd;
  gboolean ok;

  pending_init (&pd);
  ok = write_pending (&pd, path, format, rgb, width, height, n_frames, fps, (const char * const *) tags, error) &&
       (!sidecar || write_sidecar_pending (&pd, sidecar_path, (const char * const *) tags, error));
  if (ok)
    ok = pending_commit (&pd, error);
  else
    pending_abort (&pd);
  pending_clear (&pd);
  return ok;
}
