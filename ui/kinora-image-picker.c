/* kinora-image-picker.c: chooses the conditioning image and shows the crop that will be used
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include <glib/gi18n.h>

#include "kinora-image-picker.h"
#include "kinora-params.h"

struct _KinoraImagePicker
{
  GtkWidget parent_instance;

  /* Template widgets */
  GtkWidget  *box;
  GtkStack   *stack;
  GtkPicture *picture;
  GtkLabel   *crop_label;

  /* Owned references */
  GdkTexture   *texture;
  char         *path;
  GCancellable *cancellable;
  GtkNativeDialog *chooser;

  enum ke_task task;
  int          width;
  int          height;
};

G_DEFINE_FINAL_TYPE (KinoraImagePicker, kinora_image_picker, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_TEXTURE,
  N_PROPS
};
static GParamSpec *properties[N_PROPS];

enum {
  SIGNAL_ERROR,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

/* Show only the region of the image the engine will use. */
static void
update_crop (KinoraImagePicker *self)
{
  graphene_rect_t crop;
  int w, h, out_w, out_h, x0, y0, cw, ch;
  g_autofree guchar *pixels = NULL;
  g_autofree char *text = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GdkTexture) cropped = NULL;
  gsize stride;

  if (self->texture == NULL)
    {
      gtk_stack_set_visible_child_name (self->stack, "empty");
      gtk_picture_set_paintable (self->picture, NULL);
      gtk_label_set_label (self->crop_label,
                           self->task == KE_TASK_I2V_A14B
                             ? _("This task needs an image.")
                             : self->task == KE_TASK_T2V_A14B
                                 ? _("This task does not use an image.")
                                 : _("Optional: with an image the video starts from it."));
      return;
    }

  w = gdk_texture_get_width (self->texture);
  h = gdk_texture_get_height (self->texture);
  kinora_image_crop (self->task, w, h, self->width, self->height, &crop, &out_w, &out_h);
  x0 = CLAMP ((int) crop.origin.x, 0, w - 1);
  y0 = CLAMP ((int) crop.origin.y, 0, h - 1);
  cw = CLAMP ((int) (crop.size.width + 0.5), 1, w - x0);
  ch = CLAMP ((int) (crop.size.height + 0.5), 1, h - y0);

  stride = (gsize) w * 4;
  pixels = g_malloc (stride * h);
  gdk_texture_download (self->texture, pixels, stride);
  bytes = g_bytes_new (pixels + (gsize) y0 * stride + (gsize) x0 * 4, (gsize) (ch - 1) * stride + (gsize) cw * 4);
  cropped = gdk_memory_texture_new (cw, ch, GDK_MEMORY_DEFAULT, bytes, stride);
  gtk_picture_set_paintable (self->picture, GDK_PAINTABLE (cropped));
  gtk_stack_set_visible_child_name (self->stack, "image");

  if (self->task == KE_TASK_T2V_A14B)
    text = g_strdup (_("This task does not use an image; it will be ignored."));
  else if (cw == w && ch == h)
    /* Translators: the image is scaled to this size, e.g. "Scaled to 1280 × 704" */
    text = g_strdup_printf (_("The whole image is scaled to %d × %d."), out_w, out_h);
  else
    text = g_strdup_printf (_("The middle %d × %d of the image is used, scaled to %d × %d."),
                            cw, ch, out_w, out_h);
  gtk_label_set_label (self->crop_label, text);
}

static void
set_texture (KinoraImagePicker *self,
             GdkTexture        *texture,
             const char        *path)
{
  g_set_object (&self->texture, texture);
  g_free (self->path);
  self->path = texture ? g_strdup (path) : NULL;
  update_crop (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TEXTURE]);
}

static void
load_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(KinoraImagePicker) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = g_file_load_bytes_finish (G_FILE (source), result, NULL, &error);
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree char *path = g_file_get_path (G_FILE (source));

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (bytes != NULL)
    texture = gdk_texture_new_from_bytes (bytes, &error);
  if (texture == NULL)
    {
      g_signal_emit (self, signals[SIGNAL_ERROR], 0, error->message);
      return;
    }
  set_texture (self, texture, path);
}

void
kinora_image_picker_set_file (KinoraImagePicker *self,
                              GFile             *file)
{
  g_return_if_fail (KINORA_IS_IMAGE_PICKER (self));

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  if (file == NULL)
    {
      set_texture (self, NULL, NULL);
      return;
    }
  self->cancellable = g_cancellable_new ();
  g_file_load_bytes_async (file, self->cancellable, load_cb, g_object_ref (self));
}

void
kinora_image_picker_clear (KinoraImagePicker *self)
{
  kinora_image_picker_set_file (self, NULL);
}

static void
chooser_response_cb (GtkNativeDialog   *dialog,
                     int                response,
                     KinoraImagePicker *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      kinora_image_picker_set_file (self, file);
    }
  g_clear_object (&self->chooser);
}

static void
choose_cb (GtkWidget  *widget,
           const char *action_name,
           GVariant   *param)
{
  KinoraImagePicker *self = KINORA_IMAGE_PICKER (widget);
  g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();
  GtkRoot *root = gtk_widget_get_root (widget);

  gtk_file_filter_set_name (filter, _("Images"));
  gtk_file_filter_add_mime_type (filter, "image/png");
  gtk_file_filter_add_mime_type (filter, "image/jpeg");
  gtk_file_filter_add_mime_type (filter, "image/webp");
  gtk_file_filter_add_pixbuf_formats (filter);

  g_clear_object (&self->chooser);
  self->chooser = GTK_NATIVE_DIALOG (gtk_file_chooser_native_new (_("Choose an Image"),
                                                                  GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                                                  GTK_FILE_CHOOSER_ACTION_OPEN,
                                                                  _("_Open"), _("_Cancel")));
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (self->chooser), filter);
  gtk_native_dialog_set_modal (self->chooser, TRUE);
  g_signal_connect (self->chooser, "response", G_CALLBACK (chooser_response_cb), self);
  gtk_native_dialog_show (self->chooser);
}

static void
clear_cb (GtkWidget  *widget,
          const char *action_name,
          GVariant   *param)
{
  kinora_image_picker_clear (KINORA_IMAGE_PICKER (widget));
}

static gboolean
drop_cb (GtkDropTarget     *target,
         const GValue      *value,
         double             x,
         double             y,
         KinoraImagePicker *self)
{
  if (G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST))
    {
      GSList *files = g_value_get_boxed (value);
      if (files == NULL)
        return FALSE;
      kinora_image_picker_set_file (self, files->data);
      return TRUE;
    }
  if (G_VALUE_HOLDS (value, G_TYPE_FILE))
    {
      kinora_image_picker_set_file (self, g_value_get_object (value));
      return TRUE;
    }
  if (G_VALUE_HOLDS (value, GDK_TYPE_TEXTURE))
    {
      set_texture (self, g_value_get_object (value), NULL);
      return TRUE;
    }
  return FALSE;
}

static void
kinora_image_picker_get_property (GObject    *object,
                                  guint       prop_id,
                                  GValue     *value,
                                  GParamSpec *pspec)
{
  KinoraImagePicker *self = KINORA_IMAGE_PICKER (object);

  switch (prop_id)
    {
    case PROP_TEXTURE:
      g_value_set_object (value, self->texture);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
kinora_image_picker_dispose (GObject *object)
{
  KinoraImagePicker *self = KINORA_IMAGE_PICKER (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  if (self->chooser != NULL)
    gtk_native_dialog_destroy (self->chooser);
  g_clear_object (&self->chooser);
  g_clear_object (&self->texture);
  gtk_widget_dispose_template (GTK_WIDGET (self), KINORA_TYPE_IMAGE_PICKER);

  G_OBJECT_CLASS (kinora_image_picker_parent_class)->dispose (object);
}

static void
kinora_image_picker_finalize (GObject *object)
{
  KinoraImagePicker *self = KINORA_IMAGE_PICKER (object);

  g_free (self->path);
  G_OBJECT_CLASS (kinora_image_picker_parent_class)->finalize (object);
}

static void
kinora_image_picker_class_init (KinoraImagePickerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->get_property = kinora_image_picker_get_property;
  object_class->dispose = kinora_image_picker_dispose;
  object_class->finalize = kinora_image_picker_finalize;

  properties[PROP_TEXTURE] =
    g_param_spec_object ("texture", NULL, NULL, GDK_TYPE_TEXTURE,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * KinoraImagePicker::error:
   * @message: why the image could not be loaded
   */
  signals[SIGNAL_ERROR] =
    g_signal_new ("error", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING);

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/kinora/Kinora/kinora-image-picker.ui");
  gtk_widget_class_bind_template_child (widget_class, KinoraImagePicker, box);
  gtk_widget_class_bind_template_child (widget_class, KinoraImagePicker, stack);
  gtk_widget_class_bind_template_child (widget_class, KinoraImagePicker, picture);
  gtk_widget_class_bind_template_child (widget_class, KinoraImagePicker, crop_label);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);

  gtk_widget_class_install_action (widget_class, "picker.choose", NULL, choose_cb);
  gtk_widget_class_install_action (widget_class, "picker.clear", NULL, clear_cb);
}

static void
kinora_image_picker_init (KinoraImagePicker *self)
{
  GtkDropTarget *target;
  GType types[] = { GDK_TYPE_FILE_LIST, G_TYPE_FILE, GDK_TYPE_TEXTURE };

  gtk_widget_init_template (GTK_WIDGET (self));
  self->task = KE_TASK_TI2V_5B;
  self->width = 1280;
  self->height = 704;

  target = gtk_drop_target_new (G_TYPE_INVALID, GDK_ACTION_COPY);
  gtk_drop_target_set_gtypes (target, types, G_N_ELEMENTS (types));
  g_signal_connect (target, "drop", G_CALLBACK (drop_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self), GTK_EVENT_CONTROLLER (target));
  update_crop (self);
}

GtkWidget *
kinora_image_picker_new (void)
{
  return g_object_new (KINORA_TYPE_IMAGE_PICKER, NULL);
}

GdkTexture *
kinora_image_picker_get_texture (KinoraImagePicker *self)
{
  g_return_val_if_fail (KINORA_IS_IMAGE_PICKER (self), NULL);
  return self->texture;
}

const char *
kinora_image_picker_get_path (KinoraImagePicker *self)
{
  g_return_val_if_fail (KINORA_IS_IMAGE_PICKER (self), NULL);
  return self->path;
}

void
kinora_image_picker_set_target (KinoraImagePicker *self,
                                enum ke_task       task,
                                int                width,
                                int                height)
{
  g_return_if_fail (KINORA_IS_IMAGE_PICKER (self));
  self->task = task;
  self->width = width;
  self->height = height;
  update_crop (self);
}
