/* kinora-window-estimate.c: the pre-flight estimate under the Generate button: peak memory and time of
 * the run the controls describe, and whether it fits, updated as the model, size, frames, steps, image or
 * backend change. The engine's estimate is arithmetic on a description of the loaded model (kept from the
 * load job), so it runs on the main thread without a stall.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include <glib/gi18n.h>

#include "kinora-window-private.h"

static char *
format_mem (double gib)
{
  if (gib < 1.0)
    return g_strdup_printf (_("%.0f MiB"), gib * 1024.0);
  return g_strdup_printf (_("%.1f GiB"), gib);
}

static char *
format_time (double s)
{
  if (s < 90)
    return g_strdup_printf (_("%.0f s"), MAX (s, 1.0));
  if (s < 5400)
    return g_strdup_printf (_("%.0f min"), s / 60.0);
  return g_strdup_printf (_("%.1f h"), s / 3600.0);
}

static const char *
verdict_title (enum ke_verdict v)
{
  switch (v)
    {
    case KE_VERDICT_STREAMS: return _("Weights will stream");
    case KE_VERDICT_CANNOT_RUN: return _("Too large");
    case KE_VERDICT_FITS:
    default: return _("Fits");
    }
}

void
_kinora_window_update_estimate (KinoraWindow *self)
{
  struct ke_gen_params p;
  struct ke_mem_budget budget = { 0, 0 };
  struct ke_estimate e;
  struct ke_error err = { 0 };
  struct ke_image image = { 0, 0, NULL };
  struct ke_lora_spec loras[KE_MAX_LORAS];
  GtkStringObject *size;
  GdkTexture *texture;
  g_autofree char *backend = NULL;
  g_autofree char *host = NULL, *device = NULL, *time = NULL, *text = NULL;
  const char *advice = NULL;

  if (self->estimate_label == NULL)
    return;
  /* model capabilities: a model of another family is estimated from its files (no loaded model needed) */
  const struct ke_model_caps *caps = _kinora_window_get_caps (self);
  const gboolean from_caps = caps != NULL && caps->family != KE_MODEL_FAMILY_WAN22;
  if (!from_caps && (!self->have_model_desc || self->model_desc.task != self->task))
    {
      gtk_widget_set_visible (GTK_WIDGET (self->estimate_label), FALSE);
      return;
    }

  /* the controls as kinora_window_dup_params reads them, without copying the prompt or the image */
  p = ke_gen_params_default (self->task);
  size = adw_combo_row_get_selected_item (self->size_row);
  if (size != NULL)
    kinora_parse_size (gtk_string_object_get_string (size), &p.width, &p.height);
  p.n_frames = _kinora_window_snap_frames (self, gtk_spin_button_get_value_as_int (self->frames_spin));
  p.steps = gtk_spin_button_get_value_as_int (self->steps_spin);
  /* the test model always runs on the CPU in fp32 (kinora-job.c) */
  backend = self->model_is_random ? g_strdup ("cpu") : g_settings_get_string (self->settings, "backend");
  p.backend = backend;
  p.precision = self->model_is_random ? KE_PRECISION_FP32 : _kinora_window_get_precision (self);
  /* the enabled LoRAs (their files' size counts on the device and, as f32 copies, on the host) */
  if (caps == NULL || caps->takes_loras)
    {
      p.n_loras = _kinora_window_lora_specs (self, loras);
      p.loras = p.n_loras > 0 ? loras : NULL;
    }
  texture = kinora_image_picker_get_texture (self->image_picker);
  if (texture != NULL && self->task != KE_TASK_T2V_A14B)
    {
      image.width = gdk_texture_get_width (texture);
      image.height = gdk_texture_get_height (texture);
      p.image = &image;
    }

  /* the device budget: the graphics memory preference (0: no limit set, the device's own size counts) */
  budget.device_gib = g_settings_get_double (self->settings, "vram-gib");
  if ((from_caps ? ke_gen_estimate_caps (caps, &p, &budget, &e, &err)
                 : ke_gen_estimate_desc (&self->model_desc, &p, &budget, &e, &err)) != KE_STATUS_OK)
    {
      gtk_widget_set_visible (GTK_WIDGET (self->estimate_label), FALSE);
      return;
    }

  host = format_mem (e.host_gib);
  time = format_time (e.total_s);
  if (g_strcmp0 (e.backend, "cpu") != 0)
    {
      device = format_mem (e.device_gib);
      /* Translators: the verdict ("Fits"), GPU memory, RAM, time, e.g. "Fits: 12.6 GiB GPU, 14.2 GiB RAM, about 2 min" */
      text = g_strdup_printf (_("%s: %s GPU, %s RAM, about %s"), verdict_title (e.verdict), device, host, time);
    }
  else
    {
      /* Translators: the verdict ("Fits"), RAM, time, e.g. "Fits: 10.7 GiB RAM, about 9 min" */
      text = g_strdup_printf (_("%s: %s RAM, about %s"), verdict_title (e.verdict), host, time);
    }
  if (e.verdict == KE_VERDICT_STREAMS)
    advice = _("The weights do not fit the GPU and stream from RAM, which is slower. A quantized model keeps them on the GPU.");
  else if (e.verdict == KE_VERDICT_CANNOT_RUN)
    advice = _("Choose a smaller size or fewer frames, or a quantized model.");

  if (advice != NULL)
    {
      g_autofree char *both = g_strdup_printf ("%s\n%s", text, advice);
      gtk_label_set_text (self->estimate_label, both);
    }
  else
    gtk_label_set_text (self->estimate_label, text);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->estimate_label),
                               _("Estimated peak memory and time of this run, before it starts"));
  gtk_widget_set_visible (GTK_WIDGET (self->estimate_label), TRUE);
}

void
_kinora_window_estimate_init (KinoraWindow *self)
{
  g_signal_connect_swapped (self->size_row, "notify::selected", G_CALLBACK (_kinora_window_update_estimate), self);
  g_signal_connect_swapped (self->frames_spin, "value-changed", G_CALLBACK (_kinora_window_update_estimate), self);
  g_signal_connect_swapped (self->steps_spin, "value-changed", G_CALLBACK (_kinora_window_update_estimate), self);
  g_signal_connect_swapped (self->image_picker, "notify::texture", G_CALLBACK (_kinora_window_update_estimate),
                            self);
  g_signal_connect_object (self->settings, "changed::backend", G_CALLBACK (_kinora_window_update_estimate), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->settings, "changed::precision", G_CALLBACK (_kinora_window_update_estimate), self,
                           G_CONNECT_SWAPPED);
  _kinora_window_update_estimate (self);
}
