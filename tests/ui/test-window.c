/* test-window.c: tests for ui/kinora-window.c under Xvfb: launch, generate with the test
 * model (a preview per step), playback, MP4 export checked with GstDiscoverer, cancel,
 * reuse of settings from the history. Screenshots of each state go to $KINORA_SCREENSHOT_DIR.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <adwaita.h>
#include <gst/gst.h>
#include <gst/pbutils/pbutils.h>

#include "window-test-util.h"

/* --- helpers ------------------------------------------------------------------------------------- */

static gboolean
playing (KinoraWindow *self)
{
  GtkMediaStream *s = kinora_player_get_stream (self->player);

  if (s == NULL)
    return FALSE;
  if (gtk_media_stream_get_error (s) != NULL)
    return TRUE;
  return gtk_media_stream_is_prepared (s) && gtk_media_stream_get_timestamp (s) > 0;
}

static guint exports_wanted;

static gboolean
exported (KinoraWindow *self)
{
  return self->n_exports_done >= exports_wanted;
}

/* Each test starts with an empty history and fresh settings. */
static KinoraWindow *
new_window (void)
{
  return window_test_new_window (WINDOW_TEST_FRESH, 1180, 760);
}

static void
set_text (GtkTextView *view,
          const char  *text)
{
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (view), text, -1);
}

/* The main loop's longest stall while a job runs: a 10 ms timer notes the largest gap. */
typedef struct
{
  gint64 last;
  gint64 max_gap;
} Probe;

static gboolean
probe_cb (gpointer data)
{
  Probe *probe = data;
  gint64 now = g_get_monotonic_time ();

  if (probe->last != 0)
    probe->max_gap = MAX (probe->max_gap, now - probe->last);
  probe->last = now;
  return G_SOURCE_CONTINUE;
}

/* Seen preview steps, to check there is one per step */
typedef struct
{
  GArray *steps;
} PreviewLog;

static void
log_preview_cb (KinoraJob   *job,
                KinoraVideo *frames,
                int          step,
                int          n_steps,
                PreviewLog  *log)
{
  g_assert_cmpint (frames->n_frames, >, 0);
  g_array_append_val (log->steps, step);
}

/* --- tests --------------------------------------------------------------------------------------- */

static void
test_launch (void)
{
  KinoraWindow *self = new_window ();

  /* with no real model installed the window says so and offers the test model */
  g_assert_cmpstr (gtk_stack_get_visible_child_name (self->output_stack), ==, "no-model");
  g_assert_false (gtk_widget_is_sensitive (self->generate_button));
  /* "Read how to get them" opens the installed models.md (or the source tree's, uninstalled) */
  {
    g_autofree char *uri = _kinora_window_dup_models_doc_uri ();
    g_autofree char *path = g_filename_from_uri (uri, NULL, NULL);
    g_autofree char *href = g_strdup_printf ("href=\"%s\"", uri);

    g_assert_true (g_str_has_prefix (uri, "file:///"));
    g_assert_true (g_str_has_suffix (path, "/models.md"));
    g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
    g_assert_nonnull (strstr (gtk_label_get_label (self->no_model_label), href));
  }
  window_test_screenshot (GTK_WIDGET (self), "01-launch-no-model");

  window_test_use_test_model (self);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (self->output_stack), ==, "ready");
  g_assert_true (gtk_widget_is_sensitive (self->generate_button));
  window_test_screenshot (GTK_WIDGET (self), "02-ready-test-model");

  /* the lower controls: video and sampling settings */
  {
    GtkWidget *scrolled = gtk_widget_get_ancestor (GTK_WIDGET (self->steps_spin), GTK_TYPE_SCROLLED_WINDOW);
    GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (GTK_SCROLLED_WINDOW (scrolled));
    gtk_adjustment_set_value (adj, gtk_adjustment_get_upper (adj));
    window_test_screenshot (GTK_WIDGET (self), "02b-sampling-controls");
  }

  window_test_destroy_window (self);
}

static void
generate (KinoraWindow *self,
          const char   *prompt,
          int           seed,
          int           steps,
          PreviewLog   *log)
{
  set_text (self->prompt_view, prompt);
  gtk_spin_button_set_value (self->seed_spin, seed);
  gtk_toggle_button_set_active (self->seed_lock, TRUE);
  gtk_spin_button_set_value (self->steps_spin, steps);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "win.generate", NULL));
  g_assert_nonnull (self->job);
  if (log != NULL)
    g_signal_connect (self->job, "preview", G_CALLBACK (log_preview_cb), log);
}

static void
test_generate_play_export (void)
{
  KinoraWindow *self = new_window ();
  PreviewLog log = { g_array_new (FALSE, FALSE, sizeof (int)) };
  const int steps = 4;
  g_autofree char *tmp = g_dir_make_tmp ("kinora-export-XXXXXX", NULL);
  g_autofree char *mp4 = g_build_filename (tmp, "clip.mp4", NULL);
  g_autofree char *sidecar = g_strconcat (mp4, ".json", NULL);
  g_autoptr(GFile) mp4_file = g_file_new_for_path (mp4);
  g_autoptr(GstDiscoverer) discoverer = NULL;
  g_autoptr(GstDiscovererInfo) info = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = NULL;
  GList *streams;
  const GstTagList *tags;
  g_autofree char *title = NULL;
  KinoraParams *p;
  double duration;
  Probe probe = { 0, 0 };
  guint probe_id;

  window_test_use_test_model (self);
  probe_id = g_timeout_add (10, probe_cb, &probe);
  generate (self, "a red fox running through snow", 1234, steps, &log);

  /* the window stays responsive: the preview arrives while the job runs */
  g_assert_true (window_test_wait_until (self, window_test_first_preview, WINDOW_TEST_TIMEOUT_S));
  if (self->job != NULL)
    window_test_screenshot (GTK_WIDGET (self), "03b-preview-last-step");
  probe.last = 0;
  g_assert_true (window_test_wait_until (self, window_test_job_done, WINDOW_TEST_TIMEOUT_S));
  g_source_remove (probe_id);
  g_assert_null (self->last_error);
  /* the engine never runs on the main thread: no stall beyond what a frame of a smooth drag allows
   * on a loaded 2-core machine (100 ms; the workers run at nice 10, 10-20 ms are usual at load 8) */
  g_test_message ("longest main-loop stall while generating: %.1f ms", probe.max_gap / 1000.0);
  g_assert_cmpint (probe.max_gap, <, 100 * 1000);

  /* one preview per step, every step seen, all frames of the x0 estimate */
  g_assert_cmpuint (log.steps->len, >=, steps);
  for (int s = 1; s <= steps; s++)
    {
      gboolean seen = FALSE;
      for (guint i = 0; i < log.steps->len; i++)
        seen |= g_array_index (log.steps, int, i) == s;
      g_assert_true (seen);
    }
  g_assert_cmpuint (kinora_preview_view_get_n_updates (self->preview_view), >=, steps);

  /* the prompt leads the recent prompts */
  {
    g_auto(GStrv) recent = g_settings_get_strv (self->settings, "recent-prompts");
    g_assert_cmpstr (recent[0], ==, "a red fox running through snow");
  }
  g_assert_cmpint (kinora_preview_view_get_n_frames (self->preview_view), >=, 1);

  /* the result is stored in the history and plays */
  g_assert_true (window_test_wait_until (self, window_test_result_ready, WINDOW_TEST_TIMEOUT_S));
  g_assert_null (self->last_error);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (self->history)), ==, 1);
  g_assert_true (window_test_wait_until (self, playing, WINDOW_TEST_TIMEOUT_S));
  g_assert_no_error (gtk_media_stream_get_error (kinora_player_get_stream (self->player)));
  g_assert_true (gtk_media_stream_get_playing (kinora_player_get_stream (self->player)));
  g_assert_cmpstr (gtk_stack_get_visible_child_name (self->output_stack), ==, "result");
  window_test_screenshot (GTK_WIDGET (self), "04-result-playing");

  /* frame step pauses */
  kinora_player_step (self->player, 1);
  window_test_spin (0.3);
  g_assert_false (gtk_media_stream_get_playing (kinora_player_get_stream (self->player)));

  /* export MP4 and read it back */
  exports_wanted = self->n_exports_done + 1;
  _kinora_window_export (self, KINORA_EXPORT_MP4, mp4_file);
  g_assert_true (window_test_wait_until (self, exported, WINDOW_TEST_TIMEOUT_S));
  g_assert_null (self->last_error);
  g_assert_true (g_file_test (sidecar, G_FILE_TEST_IS_REGULAR));

  p = self->result_params;
  discoverer = gst_discoverer_new (20 * GST_SECOND, &error);
  g_assert_no_error (error);
  uri = gst_filename_to_uri (mp4, NULL);
  info = gst_discoverer_discover_uri (discoverer, uri, &error);
  g_assert_no_error (error);
  g_assert_cmpint (gst_discoverer_info_get_result (info), ==, GST_DISCOVERER_OK);
  /* duration is n_frames / fps, within one frame (muxers round the last frame's duration) */
  duration = gst_discoverer_info_get_duration (info) / (double) GST_SECOND;
  g_assert_cmpfloat (fabs (duration - self->result->n_frames / p->fps), <=, 1.0 / p->fps + 1e-3);
  streams = gst_discoverer_info_get_video_streams (info);
  g_assert_nonnull (streams);
  g_assert_cmpint (gst_discoverer_video_info_get_width (streams->data), ==, self->result->width);
  g_assert_cmpint (gst_discoverer_video_info_get_height (streams->data), ==, self->result->height);
  gst_discoverer_stream_info_list_free (streams);
  tags = gst_discoverer_info_get_tags (info);
  g_assert_nonnull (tags);
  g_assert_true (gst_tag_list_get_string (tags, GST_TAG_TITLE, &title));
  g_assert_cmpstr (title, ==, "a red fox running through snow");

  /* the other formats: WebM, a folder of PNG frames, GIF, each with its sidecar */
  {
    g_autofree char *webm = g_build_filename (tmp, "clip.webm", NULL);
    g_autofree char *gif = g_build_filename (tmp, "clip.gif", NULL);
    g_autofree char *png_dir = g_build_filename (tmp, "frames", NULL);
    g_autofree char *first_png = g_build_filename (png_dir, "frame_00000.png", NULL);
    g_autoptr(GFile) webm_file = g_file_new_for_path (webm);
    g_autoptr(GFile) gif_file = g_file_new_for_path (gif);
    g_autoptr(GFile) png_file = g_file_new_for_path (png_dir);
    g_autofree char *gif_data = NULL;
    gsize gif_len = 0;

    exports_wanted = self->n_exports_done + 3;
    _kinora_window_export (self, KINORA_EXPORT_WEBM, webm_file);
    _kinora_window_export (self, KINORA_EXPORT_GIF, gif_file);
    _kinora_window_export (self, KINORA_EXPORT_PNG, png_file);
    g_assert_true (window_test_wait_until (self, exported, WINDOW_TEST_TIMEOUT_S));
    g_assert_null (self->last_error);
    g_assert_true (g_file_test (webm, G_FILE_TEST_IS_REGULAR));
    g_assert_true (g_file_test (first_png, G_FILE_TEST_IS_REGULAR));
    g_assert_true (g_file_get_contents (gif, &gif_data, &gif_len, NULL));
    g_assert_cmpuint (gif_len, >, 6);
    g_assert_true (memcmp (gif_data, "GIF89a", 6) == 0);
  }

  g_array_unref (log.steps);
  window_test_destroy_window (self);
}

static void
test_cancel (void)
{
  KinoraWindow *self = new_window ();
  gint64 cancel_start;

  window_test_use_test_model (self);
  generate (self, "a slow pan over a city at night", 7, 1000, NULL);
  g_assert_true (window_test_wait_until (self, window_test_first_preview, WINDOW_TEST_TIMEOUT_S));
  g_assert_nonnull (self->job);
  window_test_spin (0.3);
  window_test_screenshot (GTK_WIDGET (self), "03-preview-sampling");
  g_assert_nonnull (self->job);
  cancel_start = g_get_monotonic_time ();
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "win.cancel", NULL));
  g_assert_true (window_test_wait_until (self, window_test_job_done, 30));
  g_test_message ("cancel took %.1f ms", (g_get_monotonic_time () - cancel_start) / 1000.0);

  /* cancelling shows no error, keeps nothing and leaves the app usable */
  g_assert_null (self->last_error);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (self->history)), ==, 0);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (self->output_stack), ==, "ready");
  g_assert_true (gtk_widget_is_sensitive (self->generate_button));
  window_test_screenshot (GTK_WIDGET (self), "05-after-cancel");

  window_test_destroy_window (self);
}

/* Closing a window while it generates cancels the job; nothing is left running or leaked. */
static void
test_close_while_running (void)
{
  KinoraWindow *self = new_window ();

  window_test_use_test_model (self);
  generate (self, "rain on a window", 11, 1000, NULL);
  g_assert_true (window_test_wait_until (self, window_test_first_preview, WINDOW_TEST_TIMEOUT_S));
  g_assert_nonnull (self->job);

  /* the job's callback holds the last reference until the worker stops */
  window_test_close_window (self);
}

static void
test_stop_and_keep (void)
{
  KinoraWindow *self = new_window ();

  window_test_use_test_model (self);
  generate (self, "clouds over a mountain ridge", 5, 1000, NULL);
  g_assert_true (window_test_wait_until (self, window_test_first_preview, WINDOW_TEST_TIMEOUT_S));
  g_assert_nonnull (self->job);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "win.stop-and-keep", NULL));
  g_assert_true (window_test_wait_until (self, window_test_job_done, 60));

  /* what exists is decoded and kept */
  g_assert_null (self->last_error);
  g_assert_nonnull (self->result);
  g_assert_true (window_test_wait_until (self, window_test_result_ready, WINDOW_TEST_TIMEOUT_S));
  g_assert_null (self->last_error);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (self->history)), ==, 1);

  window_test_destroy_window (self);
}

static gboolean
flap_hidden (KinoraWindow *self)
{
  return !adw_flap_get_reveal_flap (self->flap);
}

/* A narrow window folds the settings into a sidebar that slides over; generating hides it so
 * the preview shows. */
static void
test_narrow (void)
{
  KinoraWindow *self = window_test_new_window (WINDOW_TEST_FRESH, 560, 760);

  g_assert_true (adw_flap_get_folded (self->flap));
  window_test_use_test_model (self);
  adw_flap_set_reveal_flap (self->flap, TRUE);
  window_test_spin (0.5);
  window_test_screenshot (GTK_WIDGET (self), "09-narrow-settings");
  g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->prompt_view)));
  /* the sliders fit the narrow sidebar too: the sampling group shows whole once scrolled to */
  {
    graphene_point_t p;
    GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (self->sidebar_scroll);

    g_assert_true (gtk_widget_compute_point (GTK_WIDGET (self->sampling_group), GTK_WIDGET (self->sidebar_scroll),
                                             &GRAPHENE_POINT_INIT (0, 0), &p));
    gtk_adjustment_set_value (adj, gtk_adjustment_get_value (adj) + p.y);
    window_test_spin (0.3);
    window_test_screenshot (GTK_WIDGET (self), "09b-narrow-sampling");
    g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->seed_scale)));
    g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->steps_scale)));
    g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->guide_scale)));
    g_assert_true (window_test_in_sidebar_view (self, GTK_WIDGET (self->steps_spin)));
    g_assert_cmpint (gtk_widget_get_width (GTK_WIDGET (self->steps_scale)), >=, 200);
  }
  generate (self, "a paper boat on a stream", 8, 1000, NULL);
  g_assert_true (window_test_wait_until (self, flap_hidden, 5));
  g_assert_true (window_test_wait_until (self, window_test_first_preview, WINDOW_TEST_TIMEOUT_S));
  window_test_spin (0.5);
  window_test_screenshot (GTK_WIDGET (self), "10-narrow-preview");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "win.cancel", NULL));
  g_assert_true (window_test_wait_until (self, window_test_job_done, 30));

  window_test_destroy_window (self);
}

/* TI2V-5B with an image: the picker shows the crop, and the video has the size the crop says
 * (a 3:2 image at the area of 128*64 gives 96x64: best_output_size with 32-pixel steps). */
static void
test_image_to_video (void)
{
  KinoraWindow *self = new_window ();
  g_autofree char *tmp = g_dir_make_tmp ("kinora-image-XXXXXX", NULL);
  g_autofree char *png = g_build_filename (tmp, "input.png", NULL);
  g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, 300, 200);
  g_autoptr(GFile) file = g_file_new_for_path (png);
  g_autoptr(KinoraParams) params = NULL;
  graphene_rect_t crop;
  int ow, oh;

  /* left half red, right half blue */
  {
    guchar *px = gdk_pixbuf_get_pixels (pixbuf);
    int stride = gdk_pixbuf_get_rowstride (pixbuf);
    for (int y = 0; y < 200; y++)
      for (int x = 0; x < 300; x++)
        {
          guchar *p = px + y * stride + x * 3;
          p[0] = x < 150 ? 220 : 20;
          p[1] = (guchar) y;
          p[2] = x < 150 ? 20 : 220;
        }
  }
  g_assert_true (gdk_pixbuf_save (pixbuf, png, "png", NULL, NULL));

  window_test_use_test_model (self);

  /* drop the file onto the picker, as a drag from a file manager does */
  {
    GListModel *controllers = gtk_widget_observe_controllers (GTK_WIDGET (self->image_picker));
    GtkDropTarget *target = NULL;
    GValue value = G_VALUE_INIT;
    gboolean accepted = FALSE;

    for (guint i = 0; i < g_list_model_get_n_items (controllers); i++)
      {
        g_autoptr(GObject) c = g_list_model_get_item (controllers, i);
        if (GTK_IS_DROP_TARGET (c))
          target = GTK_DROP_TARGET (c);
      }
    g_object_unref (controllers);
    g_assert_nonnull (target);
    g_value_init (&value, G_TYPE_FILE);
    g_value_set_object (&value, file);
    g_signal_emit_by_name (target, "drop", &value, 10.0, 10.0, &accepted);
    g_value_unset (&value);
    g_assert_true (accepted);
  }
  g_assert_true (window_test_wait_until (self, window_test_image_loaded, 10));
  params = kinora_window_dup_params (self);
  g_assert_nonnull (params->image_rgb);
  g_assert_cmpint (params->image_width, ==, 300);
  g_assert_cmpint (params->image_height, ==, 200);
  {
    /* RGB8 as the engine takes it: top-left red, bottom-right blue-green */
    const guint8 *rgb = g_bytes_get_data (params->image_rgb, NULL);
    const guint8 *last = rgb + ((gsize) 199 * 300 + 299) * 3;
    g_assert_cmpint (rgb[0], ==, 220);
    g_assert_cmpint (rgb[1], ==, 0);
    g_assert_cmpint (rgb[2], ==, 20);
    g_assert_cmpint (last[0], ==, 20);
    g_assert_cmpint (last[1], ==, 199);
    g_assert_cmpint (last[2], ==, 220);
  }
  kinora_image_crop (params->task, 300, 200, params->width, params->height, &crop, &ow, &oh);
  g_assert_cmpint (ow, ==, 96);
  g_assert_cmpint (oh, ==, 64);
  window_test_screenshot (GTK_WIDGET (self), "08-image-chosen");

  generate (self, "the two colours swirl together", 3, 2, NULL);
  g_assert_true (window_test_wait_until (self, window_test_job_done, WINDOW_TEST_TIMEOUT_S));
  g_assert_null (self->last_error);
  g_assert_nonnull (self->result);
  g_assert_cmpint (self->result->width, ==, ow);
  g_assert_cmpint (self->result->height, ==, oh);
  g_assert_true (window_test_wait_until (self, window_test_result_ready, WINDOW_TEST_TIMEOUT_S));
  g_assert_null (self->last_error);

  window_test_destroy_window (self);
}

static void
test_reuse_settings (void)
{
  KinoraWindow *self = new_window ();
  g_autoptr(KinoraHistoryItem) item = NULL;
  g_autoptr(KinoraParams) now = NULL;
  g_autoptr(KinoraParams) before = NULL;

  window_test_use_test_model (self);
  gtk_spin_button_set_value (self->guide_spin, 3.5);
  gtk_spin_button_set_value (self->shift_spin, 7);
  gtk_spin_button_set_value (self->fps_spin, 12);
  gtk_spin_button_set_value (self->frames_spin, 5);
  adw_combo_row_set_selected (self->solver_row, KE_SOLVER_EULER);
  generate (self, "waves on a rocky shore", 99, 2, NULL);
  before = kinora_params_copy (kinora_job_get_params (self->job));
  /* the job gets the solver; the test model runs on the CPU in fp32, and its record says so */
  g_assert_cmpint (before->solver, ==, KE_SOLVER_EULER);
  g_assert_cmpstr (before->backend, ==, "cpu");
  g_assert_cmpint (before->precision, ==, KE_PRECISION_FP32);
  g_assert_true (window_test_wait_until (self, window_test_job_done, WINDOW_TEST_TIMEOUT_S));
  g_assert_true (window_test_wait_until (self, window_test_result_ready, WINDOW_TEST_TIMEOUT_S));
  g_assert_null (self->last_error);

  /* change everything, then restore from the history */
  set_text (self->prompt_view, "something else");
  gtk_spin_button_set_value (self->seed_spin, 5);
  gtk_spin_button_set_value (self->steps_spin, 9);
  gtk_spin_button_set_value (self->guide_spin, 8);
  gtk_spin_button_set_value (self->shift_spin, 2);
  gtk_spin_button_set_value (self->fps_spin, 30);
  gtk_spin_button_set_value (self->frames_spin, 13);
  adw_combo_row_set_selected (self->solver_row, KE_SOLVER_UNIPC);

  adw_view_stack_set_visible_child_name (self->view_stack, "history");
  window_test_spin (0.5);
  window_test_screenshot (GTK_WIDGET (self), "06-history");

  item = g_list_model_get_item (G_LIST_MODEL (self->history), 0);
  g_assert_nonnull (item);
  /* the thumbnail is decoded off the main thread */
  for (int i = 0; i < 200 && kinora_history_item_is_thumbnail_pending (item); i++)
    window_test_spin (0.05);
  g_assert_nonnull (kinora_history_item_get_thumbnail (item));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "win.reuse-settings", "s",
                                             kinora_history_item_get_id (item)));
  g_assert_true (window_test_wait_until (self, window_test_model_loaded, WINDOW_TEST_TIMEOUT_S));
  now = kinora_window_dup_params (self);
  g_assert_cmpstr (now->prompt, ==, "waves on a rocky shore");
  g_assert_cmpstr (now->model, ==, before->model);
  g_assert_cmpint (now->task, ==, before->task);
  g_assert_cmpint (now->seed, ==, 99);
  g_assert_cmpint (now->steps, ==, 2);
  g_assert_cmpfloat (now->guide, ==, 3.5);
  g_assert_cmpfloat (now->shift, ==, 7);
  g_assert_cmpfloat (now->fps, ==, 12);
  g_assert_cmpint (now->n_frames, ==, 5);
  g_assert_cmpint (now->solver, ==, KE_SOLVER_EULER);
  g_assert_cmpuint (adw_combo_row_get_selected (self->solver_row), ==, KE_SOLVER_EULER);
  /* the sliders show the restored values */
  g_assert_cmpfloat (gtk_range_get_value (GTK_RANGE (self->steps_scale)), ==, 2);
  g_assert_cmpfloat (gtk_range_get_value (GTK_RANGE (self->guide_scale)), ==, 3.5);
  g_assert_cmpfloat (gtk_range_get_value (GTK_RANGE (self->shift_scale)), ==, 7);
  g_assert_cmpfloat (gtk_range_get_value (GTK_RANGE (self->seed_scale)), ==, 99);
  g_assert_cmpint (now->width, ==, before->width);
  g_assert_cmpint (now->height, ==, before->height);
  g_assert_cmpstr (now->negative_prompt, ==, before->negative_prompt);
  g_assert_true (gtk_toggle_button_get_active (self->seed_lock));
  g_assert_cmpstr (adw_view_stack_get_visible_child_name (self->view_stack), ==, "studio");
  window_test_screenshot (GTK_WIDGET (self), "07-reused-settings");

  /* a stored result plays and exports after its frames left memory (decoded back from the file) */
  g_clear_pointer (&self->result, kinora_video_unref);
  g_clear_object (&self->result_item);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "win.open-history", "s",
                                             kinora_history_item_get_id (item)));
  g_assert_true (window_test_wait_until (self, playing, WINDOW_TEST_TIMEOUT_S));
  g_assert_null (self->result);
  {
    g_autofree char *tmp = g_dir_make_tmp ("kinora-export-XXXXXX", NULL);
    g_autofree char *gif = g_build_filename (tmp, "again.gif", NULL);
    g_autoptr(GFile) gif_file = g_file_new_for_path (gif);

    exports_wanted = self->n_exports_done + 1;
    _kinora_window_export (self, KINORA_EXPORT_GIF, gif_file);
    g_assert_true (window_test_wait_until (self, exported, WINDOW_TEST_TIMEOUT_S));
    g_assert_null (self->last_error);
    g_assert_true (g_file_test (gif, G_FILE_TEST_IS_REGULAR));
  }

  /* an A14B setting shows both guidance values and no image for text-to-video */
  {
    g_autoptr(KinoraParams) a14b = kinora_params_new_for_task (KE_TASK_T2V_A14B);

    a14b->model = g_strdup ("tiny");
    kinora_window_apply_params (self, a14b);
    g_assert_true (window_test_wait_until (self, window_test_model_loaded, WINDOW_TEST_TIMEOUT_S));
    g_assert_true (gtk_widget_get_visible (GTK_WIDGET (self->guide_high_row)));
    g_assert_false (gtk_widget_get_sensitive (GTK_WIDGET (self->image_group)));
    g_assert_cmpfloat (gtk_spin_button_get_value (self->guide_spin), ==, a14b->guide);
    g_assert_cmpfloat (gtk_spin_button_get_value (self->guide_high_spin), ==, a14b->guide_high);
    g_assert_cmpint (gtk_spin_button_get_value_as_int (self->frames_spin), ==, 81);
    /* the marks move to the A14B defaults (steps 40, guidance 3.0 and 4.0, shift 12.0) */
    g_assert_nonnull (strstr (gtk_widget_get_tooltip_text (GTK_WIDGET (self->steps_scale)), "40"));
    /* and the steps slider also marks the 4-step Lightning preset */
    g_assert_nonnull (strstr (gtk_widget_get_tooltip_text (GTK_WIDGET (self->steps_scale)), "Lightning preset, 4"));
    g_assert_nonnull (strstr (gtk_widget_get_tooltip_text (GTK_WIDGET (self->guide_scale)), "3.0"));
    g_assert_nonnull (strstr (gtk_widget_get_tooltip_text (GTK_WIDGET (self->guide_high_scale)), "4.0"));
    g_assert_nonnull (strstr (gtk_widget_get_tooltip_text (GTK_WIDGET (self->shift_scale)), "12.0"));
  }

  /* settings of a real model bring back its backend and precision (preferences) */
  {
    g_autoptr(KinoraParams) real = kinora_params_new_for_task (KE_TASK_TI2V_5B);
    g_autoptr(GSettings) settings = g_settings_new ("io.github.kinora.Kinora");
    g_autofree char *backend = NULL;
    g_autofree char *precision = NULL;

    real->backend = g_strdup ("cuda");
    real->precision = KE_PRECISION_FP32;
    real->solver = KE_SOLVER_DPMPP;
    kinora_window_apply_params (self, real);
    backend = g_settings_get_string (settings, "backend");
    g_assert_cmpstr (backend, ==, "cuda");
    precision = g_settings_get_string (settings, "precision");
    g_assert_cmpstr (precision, ==, "fp32");
    g_assert_cmpuint (adw_combo_row_get_selected (self->solver_row), ==, KE_SOLVER_DPMPP);

    /* a real model's run takes them from the preferences */
    self->model_is_random = FALSE;
    {
      g_autoptr(KinoraParams) p = kinora_window_dup_params (self);
      g_assert_cmpstr (p->backend, ==, "cuda");
      g_assert_cmpint (p->precision, ==, KE_PRECISION_FP32);
      g_assert_cmpint (p->solver, ==, KE_SOLVER_DPMPP);
    }
    g_settings_set_string (settings, "backend", "auto");
    g_settings_set_string (settings, "precision", "bf16");
    {
      g_autoptr(KinoraParams) p = kinora_window_dup_params (self);
      g_assert_cmpstr (p->backend, ==, "auto");
      g_assert_cmpint (p->precision, ==, KE_PRECISION_BF16);
    }
    /* fp8: the preference reaches the run, and reused settings bring it back */
    g_settings_set_string (settings, "precision", "fp8");
    {
      g_autoptr(KinoraParams) p = kinora_window_dup_params (self);
      g_assert_cmpint (p->precision, ==, KE_PRECISION_FP8);
    }
    g_settings_set_string (settings, "precision", "bf16");
    real->precision = KE_PRECISION_FP8;
    kinora_window_apply_params (self, real);
    g_clear_pointer (&precision, g_free);
    precision = g_settings_get_string (settings, "precision");
    g_assert_cmpstr (precision, ==, "fp8");
    g_settings_set_string (settings, "precision", "bf16");
    self->model_is_random = TRUE;
  }

  /* deleting an entry hides it and offers Undo; the files go only when the toast goes without it */
  {
    g_autoptr(GFile) entry = g_object_ref (kinora_history_item_get_dir (item));
    const char *id = kinora_history_item_get_id (item);
    AdwToast *toast;

    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "win.delete-history", "s", id));
    g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (self->history)), ==, 0);
    g_assert_true (g_file_query_exists (entry, NULL));
    toast = g_object_get_data (G_OBJECT (self), "kinora-last-delete-toast");
    g_assert_nonnull (toast);
    g_assert_cmpstr (adw_toast_get_button_label (toast), ==, "_Undo");
    g_signal_emit_by_name (toast, "button-clicked");
    adw_toast_dismiss (toast);
    window_test_spin (0.2);
    g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (self->history)), ==, 1);
    g_assert_true (g_file_query_exists (entry, NULL));

    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "win.delete-history", "s", id));
    g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (self->history)), ==, 0);
    toast = g_object_get_data (G_OBJECT (self), "kinora-last-delete-toast");
    adw_toast_dismiss (toast);
    window_test_spin (0.2);
    g_assert_false (g_file_query_exists (entry, NULL));
  }

  window_test_destroy_window (self);
}

int
main (int   argc,
      char *argv[])
{
  window_test_init (&argc, &argv);
  gst_init (NULL, NULL);

  g_test_add_func ("/window/launch", test_launch);
  g_test_add_func ("/window/generate-play-export", test_generate_play_export);
  g_test_add_func ("/window/cancel", test_cancel);
  g_test_add_func ("/window/close-while-running", test_close_while_running);
  g_test_add_func ("/window/stop-and-keep", test_stop_and_keep);
  g_test_add_func ("/window/image-to-video", test_image_to_video);
  g_test_add_func ("/window/reuse-settings", test_reuse_settings);
  g_test_add_func ("/window/narrow", test_narrow);

  return g_test_run ();
}
