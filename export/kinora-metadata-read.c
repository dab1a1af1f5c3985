/* kinora-metadata-read.c: the parameters read back from a Kinora file: the comment tag of an MP4 or
 * WebM (GstDiscoverer), the text chunks of a PNG frame (libpng), the comment extension of a GIF
 * (giflib), or a sidecar JSON.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <errno.h>
#include <gif_lib.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gst/pbutils/pbutils.h>
#include <png.h>
#include <stdio.h>
#include <string.h>

#include "kinora-export.h"
#include "kinora-metadata.h"

static KinoraMetadata *
read_gst (const char  *path,
          GError     **error)
{
  g_autoptr (GError) local = NULL;
  g_autofree char *uri = NULL;
  g_autofree char *comment = NULL;
  GstDiscoverer *d = NULL;
  GstDiscovererInfo *info = NULL;
  const GstTagList *tags;
  KinoraMetadata *ret = NULL;

  if (!gst_init_check (NULL, NULL, &local) || (uri = gst_filename_to_uri (path, &local)) == NULL ||
      (d = gst_discoverer_new (20 * GST_SECOND, &local)) == NULL)
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA, "%s: %s", path,
                   local ? local->message : "GStreamer failed");
      return NULL;
    }
  info = gst_discoverer_discover_uri (d, uri, &local);
  if (info == NULL || gst_discoverer_info_get_result (info) != GST_DISCOVERER_OK)
    g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA, "%s: not a readable video: %s", path,
                 local ? local->message : "unknown error");
  else if ((tags = gst_discoverer_info_get_tags (info)) == NULL ||
           (!gst_tag_list_get_string (tags, GST_TAG_COMMENT, &comment) &&
            !gst_tag_list_get_string (tags, GST_TAG_DESCRIPTION, &comment)))
    g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA, "%s: no Kinora parameters in its tags",
                 path);
  else
    ret = kinora_metadata_new_from_text (comment, error);
  if (info)
    g_object_unref (info);
  g_object_unref (d);
  return ret;
}

static KinoraMetadata *
read_png (const char  *path,
          GError     **error)
{
  FILE *f = g_fopen (path, "rb");
  png_structp png = NULL;
  png_infop info = NULL;
  png_textp text = NULL;
  int n_text = 0;
  g_autoptr (GPtrArray) tags = g_ptr_array_new_with_free_func (g_free);

  if (f == NULL)
    {
      int e = errno;
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA, "%s: %s", path, g_strerror (e));
      return NULL;
    }
  png = png_create_read_struct (PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  info = png ? png_create_info_struct (png) : NULL;
  if (info == NULL || setjmp (png_jmpbuf (png)))
    {
      png_destroy_read_struct (&png, info ? &info : NULL, NULL);
      fclose (f);
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA, "%s: not a readable PNG", path);
      return NULL;
    }
  png_init_io (png, f);
  png_read_info (png, info);
  png_get_text (png, info, &text, &n_text);
  for (int i = 0; i < n_text; i++)
    {
      g_ptr_array_add (tags, g_strdup (text[i].key));
      g_ptr_array_add (tags, g_strndup (text[i].text, text[i].compression >= PNG_ITXT_COMPRESSION_NONE
                                                      ? text[i].itxt_length : text[i].text_length));
    }
  png_destroy_read_struct (&png, &info, NULL);
  fclose (f);
  if (tags->len == 0)
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA, "%s: no Kinora parameters in its text",
                   path);
      return NULL;
    }
  g_ptr_array_add (tags, NULL);
  return kinora_metadata_new_from_tags ((const char * const *) tags->pdata, error);
}

/* The first comment extension: its first block and the continuation blocks after it. */
static char *
gif_comment (const ExtensionBlock *blocks,
             int                   n)
{
  for (int i = 0; i < n; i++)
    if (blocks[i].Function == COMMENT_EXT_FUNC_CODE)
      {
        GString *s = g_string_new_len ((const char *) blocks[i].Bytes, blocks[i].ByteCount);
        for (int j = i + 1; j < n && blocks[j].Function == CONTINUE_EXT_FUNC_CODE; j++)
          g_string_append_len (s, (const char *) blocks[j].Bytes, blocks[j].ByteCount);
        return g_string_free (s, FALSE);
      }
  return NULL;
}

static KinoraMetadata *
read_gif (const char  *path,
          GError     **error)
{
  int gerr = 0;
  GifFileType *gif = DGifOpenFileName (path, &gerr);
  g_autofree char *comment = NULL;

  if (gif == NULL || DGifSlurp (gif) == GIF_ERROR)
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA, "%s: not a readable GIF: %s", path,
                   GifErrorString (gif ? gif->Error : gerr));
      if (gif)
        DGifCloseFile (gif, &gerr);
      return NULL;
    }
  for (int i = 0; i < gif->ImageCount && comment == NULL; i++)
    comment = gif_comment (gif->SavedImages[i].ExtensionBlocks, gif->SavedImages[i].ExtensionBlockCount);
  if (comment == NULL)
    comment = gif_comment (gif->ExtensionBlocks, gif->ExtensionBlockCount);
  DGifCloseFile (gif, &gerr);
  if (comment == NULL)
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA, "%s: no Kinora parameters in a comment",
                   path);
      return NULL;
    }
  return kinora_metadata_new_from_text (comment, error);
}

KinoraMetadata *
kinora_metadata_read (const char  *path,
                      GError     **error)
{
  g_autofree char *lower = NULL;
  KinoraExportFormat format;

  g_return_val_if_fail (path != NULL, NULL);

  lower = g_ascii_strdown (path, -1);
  /* a FIFO would block the reader: only regular files, or a folder of PNG frames */
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR) && !g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA, "%s: not a regular file", path);
      return NULL;
    }
  if (g_str_has_suffix (lower, ".json"))
    {
      g_autofree char *text = NULL;
      g_autoptr (GError) local = NULL;
      if (!g_file_get_contents (path, &text, NULL, &local))
        {
          g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA, "%s: %s", path,
                       local ? local->message : "not a regular file");
          return NULL;
        }
      return kinora_metadata_new_from_json (text, error);
    }
  if (g_str_has_suffix (lower, ".png"))
    return read_png (path, error);
  if (!kinora_export_format_from_path (path, &format, error))
    return NULL;
  switch (format)
    {
    case KINORA_EXPORT_MP4:
    case KINORA_EXPORT_WEBM:
      return read_gst (path, error);
    case KINORA_EXPORT_GIF:
      return read_gif (path, error);
    case KINORA_EXPORT_PNG:
    default:
      {
        g_autofree char *first = g_build_filename (path, "frame_00000.png", NULL);
        if (!g_file_test (first, G_FILE_TEST_IS_REGULAR))
          {
            g_set_error (error, KINORA_EXPORT_ERROR, KINORA_EXPORT_ERROR_METADATA, "%s: not a regular file", first);
            return NULL;
          }
        return read_png (first, error);
      }
    }
}
