/* kinora-models-dialog.h: the model page: the catalog's entries with their install state, and a
 * Download button per entry (resumable hub downloads with SHA-256 checks, models/kinora-hub.h) that
 * turns into a progress bar (bytes, rate, time left) with a cancel button while it runs.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>
#include "kinora-window.h"

G_BEGIN_DECLS

typedef enum
{
  KINORA_MODEL_NOT_INSTALLED,
  KINORA_MODEL_PARTLY_INSTALLED,
  KINORA_MODEL_DOWNLOADING,
  KINORA_MODEL_INSTALLED,
  KINORA_MODEL_FAILED,
} KinoraModelState;

#define KINORA_TYPE_MODELS_DIALOG (kinora_models_dialog_get_type ())
G_DECLARE_FINAL_TYPE (KinoraModelsDialog, kinora_models_dialog, KINORA, MODELS_DIALOG, AdwWindow)

/* NULL paths: the default catalog and models folder (kinora-catalog.h). NULL with an error when the
 * catalog does not read. */
KinoraModelsDialog *kinora_models_dialog_new          (const char         *catalog_path,
                                                       const char         *models_dir,
                                                       GError            **error);
guint               kinora_models_dialog_get_n_rows   (KinoraModelsDialog *self);
KinoraModelState    kinora_models_dialog_get_state    (KinoraModelsDialog *self,
                                                       const char         *name);
/* The last failure of an entry, NULL without one. */
const char         *kinora_models_dialog_get_error    (KinoraModelsDialog *self,
                                                       const char         *name);
/* Bytes done of the current or last download of an entry. */
guint64             kinora_models_dialog_get_done     (KinoraModelsDialog *self,
                                                       const char         *name);
/* The entry's Download and Cancel buttons. */
GtkWidget          *kinora_models_dialog_get_download_button (KinoraModelsDialog *self,
                                                              const char         *name);
GtkWidget          *kinora_models_dialog_get_cancel_button   (KinoraModelsDialog *self,
                                                              const char         *name);

/* Install the "models.show" action on a window (opens the dialog). */
void                kinora_models_dialog_install_action (KinoraWindow     *window);

G_END_DECLS
