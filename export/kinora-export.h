/* kinora-export.h: writing generated videos: MP4 (H.264) and WebM (VP9) through GStreamer, PNG
 * frames through libpng, animated GIF through giflib; parameters go into the file's tags and a
 * sidecar JSON.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define KINORA_EXPORT_ERROR (kinora_export_error_quark ())
GQuark kinora_export_error_quark (void);

typedef enum
{
  KINORA_EXPORT_ERROR_FORMAT,   /* unknown extension, odd size for the encoder */
  KINORA_EXPORT_ERROR_ENCODER,  /* a GStreamer element is missing or failed */
  KINORA_EXPORT_ERROR_IO,       /* could not write the file */
} KinoraExportError;

typedef enum
{
  KINORA_EXPORT_MP4,
  KINORA_EXPORT_WEBM,
  KINORA_EXPORT_PNG,            /* a folder of frame_00000.png ... */
  KINORA_EXPORT_GIF,
} KinoraExportFormat;

/* Pick the format from the path: *.mp4, *.webm, *.gif, or a folder (existing, or ending in '/') for PNG
 * frames. */
gboolean kinora_export_format_from_path (const char          *path,
                                         KinoraExportFormat  *out,
                                         GError             **error);

/* Write n_frames RGB8 frames (rows of width*3 bytes, no padding) at fps. tags: NULL-terminated
 * key, value pairs (e.g. "prompt", "a fox", "seed", "42"); "prompt" becomes the title and every pair
 * goes into the comment (and PNG text chunks). */
gboolean kinora_export_write (const char          *path,
                              KinoraExportFormat   format,
                              const guint8        *rgb,
                              int                  width,
                              int                  height,
                              int                  n_frames,
                              double               fps,
                              const char * const  *tags,
                              GError             **error);

/* The sidecar beside the output (clip.mp4 -> clip.mp4.json; folder -> folder/parameters.json). */
char *kinora_export_sidecar_path (const char         *path,
                                  KinoraExportFormat  format);
/* Write the tags as a JSON object; values that are plain numbers are written as numbers. */
gboolean kinora_export_write_sidecar (const char          *path,
                                      const char * const  *tags,
                                      GError             **error);

G_END_DECLS
