/* kinora-exporter.h: the GUI's side of export/: settings as tags, worker threads, decoding back
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include "kinora-export.h"
#include "kinora-job.h"
#include "kinora-params.h"

G_BEGIN_DECLS

const char  *kinora_export_format_get_extension (KinoraExportFormat format);
gboolean     kinora_export_format_from_nick     (const char         *nick,
                                                 KinoraExportFormat *format);
const char  *kinora_export_format_get_nick      (KinoraExportFormat format);

/* NULL-terminated key, value pairs of every setting */
char       **kinora_params_to_tags              (const KinoraParams *params);

/* Blocking, for workers: the file (or PNG folder) plus, if @sidecar, the JSON beside it */
gboolean     kinora_exporter_write              (KinoraVideo        *video,
                                                 const KinoraParams *params,
                                                 KinoraExportFormat  format,
                                                 const char         *path,
                                                 gboolean            sidecar,
                                                 GError            **error);
void         kinora_exporter_write_async        (KinoraVideo        *video,
                                                 const KinoraParams *params,
                                                 KinoraExportFormat  format,
                                                 const char         *path,
                                                 GCancellable       *cancellable,
                                                 GAsyncReadyCallback callback,
                                                 gpointer            user_data);
gboolean     kinora_exporter_write_finish       (GAsyncResult       *result,
                                                 GError            **error);

/* Decode a stored video back to RGB frames (blocking) */
KinoraVideo *kinora_exporter_decode             (const char         *path,
                                                 GError            **error);

G_END_DECLS
