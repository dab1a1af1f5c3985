/* kinora-export.h: writing generated videos: MP4 (H.264) and WebM (VP9) through GStreamer, PNG
 * frames through libpng, animated GIF through giflib; parameters go into the file's tags and a
 * sidecar JSON.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include "ke.h"

G_BEGIN_DECLS

#define KINORA_EXPORT_ERROR (kinora_export_error_quark ())
GQuark kinora_export_error_quark (void);

typedef enum
{
  KINORA_EXPORT_ERROR_FORMAT,   /* unknown extension, odd size for the encoder */
  KINORA_EXPORT_ERROR_ENCODER,  /* a GStreamer element is missing or failed */
  KINORA_EXPORT_ERROR_IO,       /* could not write the file */
  KINORA_EXPORT_ERROR_TARGET,   /* the output folder is missing, not a folder, or not writable */
  KINORA_EXPORT_ERROR_METADATA, /* no Kinora parameters in a file, or unreadable ones */
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

/* Check, before anything is generated, that @path can be written: its format is known, its folder
 * exists and takes new files (for PNG frames: the folder, or its parent when it is still to be made),
 * and it is not an existing folder where a file is wanted. */
gboolean kinora_export_check_target (const char  *path,
                                     GError     **error);

/* Write n_frames RGB8 frames (rows of width*3 bytes, no padding) at fps. tags: NULL-terminated
 * key, value pairs (e.g. "prompt", "a fox", "seed", "42"); "prompt" becomes the title and the tags, as
 * the JSON object kinora_metadata_tags_to_json() makes, the comment (MP4, WebM, GIF) or the text
 * chunks (PNG). Text that is not UTF-8 is repaired. The file is written under a temporary name in its
 * folder and renamed at the end: a failed write leaves no partial file and keeps an older file of
 * the same name. */
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
/* Write the tags as the JSON of kinora_metadata_tags_to_json(), atomically. */
gboolean kinora_export_write_sidecar (const char          *path,
                                      const char * const  *tags,
                                      GError             **error);

/* What the CLI and the GUI call: the video with the parameters that made it (ke_gen_params, the
 * model's name or folder, the conditioning image's path and NULL-terminated name, digest pairs, each
 * may be NULL) in its tags and, if @sidecar, the JSON beside it. Both are renamed into place only
 * once both are written. */
gboolean kinora_export_save (const char                 *path,
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
                             GError                    **error);

G_END_DECLS
