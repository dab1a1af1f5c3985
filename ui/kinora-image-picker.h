/* kinora-image-picker.h: chooses the conditioning image and shows the crop that will be used
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>
#include "ke.h"

G_BEGIN_DECLS

#define KINORA_TYPE_IMAGE_PICKER (kinora_image_picker_get_type ())
G_DECLARE_FINAL_TYPE (KinoraImagePicker, kinora_image_picker, KINORA, IMAGE_PICKER, GtkWidget)

GtkWidget  *kinora_image_picker_new         (void);
GdkTexture *kinora_image_picker_get_texture (KinoraImagePicker *self);
const char *kinora_image_picker_get_path    (KinoraImagePicker *self);
void        kinora_image_picker_set_file    (KinoraImagePicker *self,
                                             GFile             *file);
void        kinora_image_picker_clear       (KinoraImagePicker *self);
void        kinora_image_picker_set_target  (KinoraImagePicker *self,
                                             enum ke_task       task,
                                             int                width,
                                             int                height);

G_END_DECLS
