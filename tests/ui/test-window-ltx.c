/* test-window-ltx.c: choosing an LTX-Video model in the window (ui/kinora-window.c) under Xvfb, with the
 * tiny random LTX-Video model that tests/ltx/tiny-ltx-model.c writes from the fixtures (the official
 * single file, the spatial upsampler and text_encoder/ in one folder): the settings follow the model's
 * capabilities (no guidance control, fixed steps, frames in steps of 8, sizes in multiples of 32, no
 * shift, solver, negative prompt or Lightning switch), and back again for the Wan2.2 test model.
 *
 * /window-ltx/generate generates with the tiny LTX-Video model through the engine's LTX-Video pipeline:
 * a video of the requested shape and live previews during sampling.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <adwaita.h>
#include <gst/gst.h>

#include "tiny-ltx-model.h"
#include "window-test-util.h"

/* Fresh settings; the history is kept */
static KinoraWindow *
new_window (void)
{
  return window_test_new_window (WINDOW_TEST_RESET_SETTINGS, 1180, 760);
}

/* The tiny LTX-Video model, written once per run */
static const char *
tiny_ltx (void)
{
  static char *dir;

  if (dir == NULL)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *tmp = g_dir_make_tmp ("kinora-ltx-XXXXXX", NULL);

      dir = g_build_filename (tmp, "LTX-Video-tiny", NULL);
      if (!tiny_ltx_model_write (LTX_FIXTURES, dir, &error))
        g_error ("%s", error->message);
    }
  return dir;
}

static void
choose_tiny_ltx (KinoraWindow *self)
{
  _kinora_window_add_model_folder (self, tiny_ltx ());
  g_assert_true (window_test_wait_until (self, window_test_model_loaded, WINDOW_TEST_TIMEOUT_S));
  /* the model's rules arrive whether or not the engine can run the model */
  g_assert_true (self->have_caps);
  g_assert_cmpint (self->caps.family, ==, KE_MODEL_FAMILY_LTXV);
}

static int
frames_step (KinoraWindow *self)
{
  return (int) gtk_adjustment_get_step_increment (gtk_spin_button_get_adjustment (self->frames_spin));
}

/* --- tests --------------------------------------------------------------------------------------- */

static void
test_settings_follow_model (void)
{
  KinoraWindow *self = new_window ();
  guint n_sizes;

  choose_tiny_ltx (self);
  g_test_message ("load: %s", self->last_error ? self->last_error->message : "ok");
  g_assert_cmpstr (adw_combo_row_get_selected_item (self->model_row) != NULL
                   ? gtk_string_object_get_string (adw_combo_row_get_selected_item (self->model_row)) : NULL,
                   ==, "LTX-Video-tiny");

  /* the distilled config fixes guidance (1) and the steps (7 + 3): no guidance control, steps shown fixed */
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (self->guide_row)));
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (self->guide_high_row)));
  g_assert_false (gtk_widget_get_sensitive (GTK_WIDGET (self->steps_row)));
  g_assert_cmpint (gtk_spin_button_get_value_as_int (self->steps_spin), ==, 10);
  /* no flow shift, solver choice, negative prompt (guidance 1 runs no unconditional pass) or Lightning */
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (self->shift_row)));
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (self->solver_row)));
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (self->negative_expander)));
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (self->fast_row)));
  /* nor LoRAs or step caching (Wan2.2's) */
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (self->lora_row)));
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (self->cache_row)));

  /* frames in steps of 8 (8n+1), snapped when typed */
  g_assert_cmpint (frames_step (self), ==, 8);
  g_assert_cmpint ((gtk_spin_button_get_value_as_int (self->frames_spin) - 1) % 8, ==, 0);
  gtk_spin_button_set_value (self->frames_spin, 100);
  g_assert_cmpint (gtk_spin_button_get_value_as_int (self->frames_spin), ==, 97);
  gtk_spin_button_set_value (self->frames_spin, 101);
  g_assert_cmpint (gtk_spin_button_get_value_as_int (self->frames_spin), ==, 105);
  gtk_spin_button_spin (self->frames_spin, GTK_SPIN_STEP_FORWARD, 0);
  g_assert_cmpint (gtk_spin_button_get_value_as_int (self->frames_spin), ==, 113);
  g_assert_cmpfloat (gtk_spin_button_get_value (self->fps_spin), ==, 30);

  /* the sizes are the model's presets, each side a multiple of 32 */
  n_sizes = g_list_model_get_n_items (G_LIST_MODEL (self->size_names));
  g_assert_cmpuint (n_sizes, ==, (guint) self->caps.n_presets);
  for (guint i = 0; i < n_sizes; i++)
    {
      int w = 0, h = 0;
      g_assert_true (kinora_parse_size (gtk_string_list_get_string (self->size_names, i), &w, &h));
      g_assert_cmpint (w % 32, ==, 0);
      g_assert_cmpint (h % 32, ==, 0);
    }

  /* the settings a run gets say what the model's config fixes */
  {
    g_autoptr(KinoraParams) p = kinora_window_dup_params (self);
    g_assert_cmpfloat (p->guide, ==, 1.0);
    g_assert_cmpint (p->steps, ==, 10);
    g_assert_cmpint (p->n_frames, ==, 113);
    g_assert_cmpint (p->width % 32, ==, 0);
    g_assert_cmpint (p->height % 32, ==, 0);
    g_assert_cmpstr (p->model, ==, tiny_ltx ());
  }

  /* the pre-flight estimate comes from the model's files, before the engine runs the model */
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (self->estimate_label)));
  g_assert_nonnull (strstr (gtk_label_get_text (self->estimate_label), "RAM"));

  /* back to the Wan2.2 test model: guidance, shift, solver and 4n+1 frames return */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "win.use-test-model", NULL));
  g_assert_true (window_test_wait_until (self, window_test_model_loaded, WINDOW_TEST_TIMEOUT_S));
  g_assert_cmpint (self->caps.family, ==, KE_MODEL_FAMILY_WAN22);
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (self->guide_row)));
  g_assert_true (gtk_widget_get_sensitive (GTK_WIDGET (self->steps_row)));
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (self->shift_row)));
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (self->solver_row)));
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (self->negative_expander)));
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (self->fast_row)));
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (self->lora_row)));
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (self->cache_row)));
  g_assert_cmpint (frames_step (self), ==, 4);
  g_assert_cmpint ((gtk_spin_button_get_value_as_int (self->frames_spin) - 1) % 4, ==, 0);
  gtk_spin_button_set_value (self->frames_spin, 10);
  g_assert_cmpint (gtk_spin_button_get_value_as_int (self->frames_spin), ==, 9);

  window_test_destroy_window (self);
}

/* Needs the engine's LTX-Video pipeline: fails until ke_model_open and ke_generate run LTX-Video models. */
static void
test_generate (void)
{
  KinoraWindow *self = new_window ();

  choose_tiny_ltx (self);
  if (self->last_error != NULL)
    g_test_message ("the model did not open: %s", self->last_error->message);
  g_assert_null (self->last_error);
  g_assert_true (gtk_widget_is_sensitive (self->generate_button));

  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->prompt_view), "a lighthouse at dusk", -1);
  gtk_spin_button_set_value (self->seed_spin, 7);
  gtk_toggle_button_set_active (self->seed_lock, TRUE);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "win.generate", NULL));
  g_assert_nonnull (self->job);
  g_assert_true (window_test_wait_until (self, window_test_job_done, WINDOW_TEST_TIMEOUT_S));
  g_assert_true (window_test_wait_until (self, window_test_result_ready, WINDOW_TEST_TIMEOUT_S));
  g_assert_null (self->last_error);

  /* the video follows the model's rules; previews came for the steps */
  g_assert_nonnull (self->result);
  g_assert_cmpint ((self->result->n_frames - 1) % 8, ==, 0);
  g_assert_cmpint (self->result->width % 32, ==, 0);
  g_assert_cmpint (self->result->height % 32, ==, 0);
  g_assert_cmpuint (kinora_preview_view_get_n_updates (self->preview_view), >=, 1);
  g_assert_cmpfloat (self->result_params->guide, ==, 1.0);
  g_assert_cmpstr (self->result_params->model, ==, tiny_ltx ());

  window_test_destroy_window (self);
}

int
main (int   argc,
      char *argv[])
{
  window_test_init (&argc, &argv);
  gst_init (NULL, NULL);

  g_test_add_func ("/window-ltx/settings-follow-model", test_settings_follow_model);
  g_test_add_func ("/window-ltx/generate", test_generate);

  return g_test_run ();
}
