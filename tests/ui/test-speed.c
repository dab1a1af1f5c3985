/* test-speed.c: tests for ui/kinora-window-speed.c under Xvfb: the LoRA list (rows, enable switch,
 * strengths per expert, removal) filling ke_gen_params.loras; Fast (4 steps) writing the engine's
 * Lightning preset into the controls and back; a run of the test model with a LoRA, Fast, TeaCache and
 * TAEHV previews (full-resolution frames in the preview, the skipped forwards in the result), and its
 * settings restored from the history and from a dropped settings file.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <adwaita.h>
#include <gst/gst.h>

#include "kinora-drop.h"
#include "kinora-metadata.h"
#include "window-test-util.h"

/* --- helpers ------------------------------------------------------------------------------------- */

/* A window with an empty history and fresh settings, the test model loaded */
static KinoraWindow *
new_window (void)
{
  KinoraWindow *self;

  window_test_reset (WINDOW_TEST_FRESH);
  self = g_object_ref_sink (g_object_new (KINORA_TYPE_WINDOW, NULL));
  window_test_present (self, 1280, 800, 0.3);
  window_test_use_test_model (self);
  return self;
}

/* Save the window as PNG under $KINORA_SCREENSHOT_DIR (for looking at; nothing is checked) */
static void
screenshot (KinoraWindow *self,
            const char   *name)
{
  const char *dir = g_getenv ("KINORA_SCREENSHOT_DIR");
  g_autoptr(GdkPaintable) paintable = gtk_widget_paintable_new (GTK_WIDGET (self));
  int w = gtk_widget_get_width (GTK_WIDGET (self)), h = gtk_widget_get_height (GTK_WIDGET (self));
  g_autoptr(GtkSnapshot) snapshot = gtk_snapshot_new ();
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree char *path = NULL;

  if (dir == NULL)
    return;
  window_test_spin (0.3);
  gdk_paintable_snapshot (paintable, GDK_SNAPSHOT (snapshot), w, h);
  node = gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
  if (node == NULL)
    return;
  texture = gsk_renderer_render_texture (gtk_native_get_renderer (GTK_NATIVE (self)), node,
                                         &GRAPHENE_RECT_INIT (0, 0, w, h));
  g_mkdir_with_parents (dir, 0755);
  path = g_strdup_printf ("%s/%s.png", dir, name);
  g_assert_true (gdk_texture_save_to_png (texture, path));
}

/* Scroll the sidebar so @widget is at its top */
static void
scroll_to (KinoraWindow *self,
           GtkWidget    *widget)
{
  GtkAdjustment *adj = gtk_scrolled_window_get_vadjustment (self->sidebar_scroll);
  graphene_point_t p;

  window_test_spin (0.2);
  if (gtk_widget_compute_point (widget, GTK_WIDGET (self->sidebar_scroll), &GRAPHENE_POINT_INIT (0, 0), &p))
    gtk_adjustment_set_value (adj, gtk_adjustment_get_value (adj) + p.y);
}

/* A LoRA for the test model's DiT (dim 64), ComfyUI layout: a rank-4 term on blocks.0.self_attn.q, written
 * as safetensors by hand (8-byte header length, the JSON header, the data) */
static char *
write_lora (const char *dir,
            const char *name)
{
  enum { RANK = 4, DIM = 64 };
  const char *base = "diffusion_model.blocks.0.self_attn.q";
  g_autofree char *header = g_strdup_printf ("{\"%s.alpha\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                                             "\"%s.lora_down.weight\":{\"dtype\":\"F32\",\"shape\":[%d,%d],"
                                             "\"data_offsets\":[4,%d]},"
                                             "\"%s.lora_up.weight\":{\"dtype\":\"F32\",\"shape\":[%d,%d],"
                                             "\"data_offsets\":[%d,%d]}}",
                                             base, base, RANK, DIM, 4 + RANK * DIM * 4, base, DIM, RANK,
                                             4 + RANK * DIM * 4, 4 + 2 * RANK * DIM * 4);
  g_autoptr(GByteArray) bytes = g_byte_array_new ();
  guint64 n = strlen (header);
  float alpha = RANK;
  char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;

  g_byte_array_append (bytes, (const guint8 *) &n, 8);   /* little endian on every host the tests run on */
  g_byte_array_append (bytes, (const guint8 *) header, n);
  g_byte_array_append (bytes, (const guint8 *) &alpha, 4);
  for (int i = 0; i < 2 * RANK * DIM; i++)
    {
      float v = (float) ((i * 37 % 17) - 8) * 0.01f;
      g_byte_array_append (bytes, (const guint8 *) &v, 4);
    }
  g_file_set_contents (path, (const char *) bytes->data, bytes->len, &error);
  g_assert_no_error (error);
  return path;
}

/* --- the LoRA list ------------------------------------------------------------------------------- */

static void
test_lora_rows (void)
{
  KinoraWindow *self = new_window ();
  g_autofree char *tmp = g_dir_make_tmp ("kinora-lora-XXXXXX", NULL);
  g_autofree char *style = write_lora (tmp, "style.safetensors");
  g_autofree char *fast = write_lora (tmp, "lightning.safetensors");
  g_autofree char *missing = g_build_filename (tmp, "missing.safetensors", NULL);
  KinoraLoraEntry *a, *b;

  g_assert_cmpstr (adw_expander_row_get_subtitle (self->lora_row), ==, "None");
  a = _kinora_window_add_lora (self, style, 1.0, 1.0);
  b = _kinora_window_add_lora (self, fast, 1.0, 1.0);
  g_assert_nonnull (a);
  g_assert_nonnull (b);
  g_assert_cmpuint (self->loras->len, ==, 2);
  g_assert_cmpstr (adw_expander_row_get_subtitle (self->lora_row), ==, "style.safetensors, lightning.safetensors");
  g_assert_cmpstr (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (a->row)), ==, "style.safetensors");
  /* TI2V-5B has one DiT: one strength */
  g_assert_false (gtk_widget_get_visible (GTK_WIDGET (a->high_row)));

  /* the strength through its spin button, the second LoRA switched off */
  gtk_spin_button_set_value (a->strength, 0.6);
  adw_expander_row_set_enable_expansion (b->row, FALSE);
  g_assert_cmpstr (adw_expander_row_get_subtitle (self->lora_row), ==, "style.safetensors");
  g_assert_cmpstr (adw_expander_row_get_subtitle (a->row), ==, "Strength 0.60");
  adw_expander_row_set_expanded (self->lora_row, TRUE);
  adw_expander_row_set_expanded (a->row, TRUE);
  scroll_to (self, GTK_WIDGET (self->lora_row));
  screenshot (self, "speed-01-loras");
  {
    g_autoptr(KinoraParams) p = kinora_window_dup_params (self);
    struct ke_gen_params kp;
    struct ke_image image;
    struct ke_error err = { 0 };

    g_assert_cmpint (p->n_loras, ==, 1);
    kinora_params_to_ke (p, &kp, &image);
    g_assert_cmpint (kp.n_loras, ==, 1);
    g_assert_cmpstr (kp.loras[0].path, ==, style);
    g_assert_cmpfloat_with_epsilon (kp.loras[0].strength, 0.6, 1e-6);
    g_assert_cmpfloat_with_epsilon (kp.loras[0].strength_high, 0.6, 1e-6);
    g_assert_cmpint (ke_gen_params_validate (&kp, &err), ==, KE_STATUS_OK);
  }

  /* the remove button; then the other one switched back on */
  g_signal_emit_by_name (a->remove, "clicked");
  g_assert_cmpuint (self->loras->len, ==, 1);
  g_assert_cmpstr (adw_expander_row_get_subtitle (self->lora_row), ==, "Off");
  {
    g_autoptr(KinoraParams) p = kinora_window_dup_params (self);
    g_assert_cmpint (p->n_loras, ==, 0);
  }
  adw_expander_row_set_enable_expansion (b->row, TRUE);
  {
    g_autoptr(KinoraParams) p = kinora_window_dup_params (self);
    g_assert_cmpint (p->n_loras, ==, 1);
    g_assert_cmpstr (p->loras[0].path, ==, fast);
    g_assert_cmpfloat (p->loras[0].strength, ==, 1.0f);
  }

  /* A14B: a strength per expert, restored from settings */
  {
    g_autoptr(KinoraParams) a14b = kinora_params_new_for_task (KE_TASK_T2V_A14B);
    g_autoptr(KinoraParams) p = NULL;
    KinoraLoraEntry *e;

    a14b->model = g_strdup ("tiny");
    kinora_params_add_lora (a14b, style, 0.5, 0.9);
    kinora_window_apply_params (self, a14b);
    g_assert_true (window_test_wait_until (self, window_test_model_loaded, WINDOW_TEST_TIMEOUT_S));
    g_assert_cmpuint (self->loras->len, ==, 1);
    e = g_ptr_array_index (self->loras, 0);
    g_assert_true (gtk_widget_get_visible (GTK_WIDGET (e->high_row)));
    g_assert_cmpfloat_with_epsilon (gtk_spin_button_get_value (e->strength), 0.5, 1e-6);
    g_assert_cmpfloat_with_epsilon (gtk_spin_button_get_value (e->strength_high), 0.9, 1e-6);
    g_assert_cmpstr (adw_expander_row_get_subtitle (e->row), ==, "Strength 0.50, high noise 0.90");
    gtk_spin_button_set_value (e->strength_high, 0.7);
    p = kinora_window_dup_params (self);
    g_assert_cmpint (p->n_loras, ==, 1);
    g_assert_cmpfloat_with_epsilon (p->loras[0].strength, 0.5, 1e-6);
    g_assert_cmpfloat_with_epsilon (p->loras[0].strength_high, 0.7, 1e-6);
    adw_expander_row_set_expanded (self->lora_row, TRUE);
    adw_expander_row_set_expanded (e->row, TRUE);
    scroll_to (self, GTK_WIDGET (self->lora_row));
    screenshot (self, "speed-02-loras-a14b");
  }

  /* a LoRA file that is not there: the row says so, and a run fails naming the file */
  {
    g_autoptr(KinoraParams) ti2v = kinora_params_new_for_task (KE_TASK_TI2V_5B);
    KinoraLoraEntry *e;

    ti2v->model = g_strdup ("tiny");
    ti2v->n_frames = 5;
    ti2v->steps = 2;
    ti2v->width = 64;
    ti2v->height = 64;
    g_free (ti2v->prompt);
    ti2v->prompt = g_strdup ("a lighthouse at dusk");
    kinora_params_add_lora (ti2v, missing, 1.0, 1.0);
    kinora_window_apply_params (self, ti2v);
    g_assert_true (window_test_wait_until (self, window_test_model_loaded, WINDOW_TEST_TIMEOUT_S));
    e = g_ptr_array_index (self->loras, 0);
    g_assert_cmpstr (adw_expander_row_get_subtitle (e->row), ==, "The file is missing");
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "win.generate", NULL));
    g_assert_true (window_test_wait_until (self, window_test_job_done, WINDOW_TEST_TIMEOUT_S));
    g_assert_nonnull (self->last_error);
    g_test_message ("missing LoRA: %s", self->last_error->message);
    g_assert_nonnull (strstr (self->last_error->message, "missing.safetensors"));
  }

  window_test_destroy_window (self);
}

/* --- Fast (4 steps) ------------------------------------------------------------------------------ */

static void
test_fast (void)
{
  KinoraWindow *self = new_window ();
  struct ke_gen_params ref = ke_gen_params_default (KE_TASK_TI2V_5B);
  struct ke_error err = { 0 };

  g_assert_cmpint (ke_gen_params_preset (&ref, "lightning", &err), ==, KE_STATUS_OK);
  gtk_spin_button_set_value (self->steps_spin, 12);
  gtk_spin_button_set_value (self->shift_spin, 7);
  gtk_spin_button_set_value (self->guide_spin, 4.5);
  g_assert_false (gtk_switch_get_active (self->fast_switch));

  gtk_switch_set_active (self->fast_switch, TRUE);
  {
    g_autoptr(KinoraParams) p = kinora_window_dup_params (self);
    struct ke_gen_params kp;
    struct ke_image image;

    kinora_params_to_ke (p, &kp, &image);
    /* the recipe of Wan2.2-Lightning: 4 steps, guidance 1 (no unconditional pass), shift 5, its Euler */
    g_assert_cmpint (kp.steps, ==, 4);
    g_assert_cmpfloat (kp.guide, ==, 1.0f);
    g_assert_cmpfloat (kp.guide_high, ==, 1.0f);
    g_assert_cmpfloat (kp.shift, ==, 5.0f);
    g_assert_cmpint (kp.solver, ==, KE_SOLVER_EULER_LIGHTNING);
    /* the same numbers as the engine's preset */
    g_assert_cmpint (kp.steps, ==, ref.steps);
    g_assert_cmpfloat (kp.guide, ==, ref.guide);
    g_assert_cmpfloat (kp.shift, ==, ref.shift);
    g_assert_cmpint (kp.solver, ==, ref.solver);
  }
  g_assert_cmpfloat (gtk_range_get_value (GTK_RANGE (self->steps_scale)), ==, 4);
  g_assert_cmpuint (adw_combo_row_get_selected (self->solver_row), ==, KE_SOLVER_EULER_LIGHTNING);

  /* off: the values from before */
  gtk_switch_set_active (self->fast_switch, FALSE);
  g_assert_cmpint (gtk_spin_button_get_value_as_int (self->steps_spin), ==, 12);
  g_assert_cmpfloat (gtk_spin_button_get_value (self->shift_spin), ==, 7);
  g_assert_cmpfloat (gtk_spin_button_get_value (self->guide_spin), ==, 4.5);
  g_assert_cmpuint (adw_combo_row_get_selected (self->solver_row), ==, KE_SOLVER_UNIPC);

  /* another solver chosen by hand leaves Fast and keeps the values; the Lightning solver shows Fast on */
  gtk_switch_set_active (self->fast_switch, TRUE);
  adw_combo_row_set_selected (self->solver_row, KE_SOLVER_EULER);
  g_assert_false (gtk_switch_get_active (self->fast_switch));
  g_assert_cmpint (gtk_spin_button_get_value_as_int (self->steps_spin), ==, 4);
  adw_combo_row_set_selected (self->solver_row, KE_SOLVER_EULER_LIGHTNING);
  g_assert_true (gtk_switch_get_active (self->fast_switch));
  g_assert_cmpint (gtk_spin_button_get_value_as_int (self->steps_spin), ==, 4);

  /* Reset Settings: the test model's defaults, Fast off */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "win.reset-settings", NULL));
  g_assert_false (gtk_switch_get_active (self->fast_switch));
  g_assert_cmpint (gtk_spin_button_get_value_as_int (self->steps_spin), ==, 8);

  window_test_destroy_window (self);
}

/* --- a run with all of them, and its settings restored ------------------------------------------- */

typedef struct
{
  int max_width;
  int max_height;
  int n_frames;
} PreviewLog;

static void
log_preview_cb (KinoraJob   *job,
                KinoraVideo *frames,
                int          step,
                int          n_steps,
                PreviewLog  *log)
{
  log->max_width = MAX (log->max_width, frames->width);
  log->max_height = MAX (log->max_height, frames->height);
  log->n_frames = frames->n_frames;
}

static void
scramble (KinoraWindow *self)
{
  g_autoptr(GSettings) settings = g_settings_new ("io.github.kinora.Kinora");

  while (self->loras->len > 0)
    _kinora_window_remove_lora (self, g_ptr_array_index (self->loras, 0));
  gtk_switch_set_active (self->fast_switch, FALSE);
  adw_combo_row_set_selected (self->cache_row, KE_CACHE_OFF);
  g_settings_set_string (settings, "preview-source", "latent");
  g_settings_reset (settings, "taehv-wan22");
}

static void
check_restored (KinoraWindow *self,
                const char   *lora,
                const char   *taehv)
{
  g_autoptr(GSettings) settings = g_settings_new ("io.github.kinora.Kinora");
  g_autofree char *source = g_settings_get_string (settings, "preview-source");
  g_autofree char *file = g_settings_get_string (settings, "taehv-wan22");
  g_autoptr(KinoraParams) p = kinora_window_dup_params (self);
  KinoraLoraEntry *e;

  g_assert_cmpuint (self->loras->len, ==, 1);
  e = g_ptr_array_index (self->loras, 0);
  g_assert_cmpstr (e->path, ==, lora);
  g_assert_cmpfloat_with_epsilon (gtk_spin_button_get_value (e->strength), 0.5, 1e-6);
  g_assert_true (adw_expander_row_get_enable_expansion (e->row));
  g_assert_true (gtk_switch_get_active (self->fast_switch));
  g_assert_cmpint (gtk_spin_button_get_value_as_int (self->steps_spin), ==, 4);
  g_assert_cmpfloat (gtk_spin_button_get_value (self->guide_spin), ==, 1);
  g_assert_cmpuint (adw_combo_row_get_selected (self->cache_row), ==, KE_CACHE_TEA);
  g_assert_true (gtk_widget_get_visible (GTK_WIDGET (self->cache_threshold_row)));
  g_assert_cmpfloat (gtk_spin_button_get_value (self->cache_threshold_spin), ==, 1e6);
  g_assert_cmpstr (source, ==, "taehv");
  g_assert_cmpstr (file, ==, taehv);
  g_assert_cmpint (p->n_loras, ==, 1);
  g_assert_cmpint (p->cache, ==, KE_CACHE_TEA);
  g_assert_cmpint (p->preview_source, ==, KE_PREVIEW_TAEHV);
  g_assert_cmpint (p->decoder, ==, KE_DECODER_VAE);
  g_assert_cmpstr (p->taehv_path, ==, taehv);
}

static void
test_run_and_reuse (void)
{
  KinoraWindow *self = new_window ();
  g_autofree char *tmp = g_dir_make_tmp ("kinora-speed-XXXXXX", NULL);
  g_autofree char *lora = write_lora (tmp, "detail.safetensors");
  g_autofree char *taehv = g_build_filename (TAEHV_FIXTURES, "taehv_w22_tiny.weights.safetensors", NULL);
  g_autofree char *sidecar = g_build_filename (tmp, "clip.mp4.json", NULL);
  g_autoptr(GSettings) settings = g_settings_new ("io.github.kinora.Kinora");
  g_autoptr(KinoraHistoryItem) item = NULL;
  g_autoptr(GError) error = NULL;
  PreviewLog log = { 0 };
  int fw = 0, fh = 0;

  /* TAEHV previews without the weights file: a clear message, no run */
  g_settings_set_string (settings, "preview-source", "taehv");
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->prompt_view), "a kite over the dunes", -1);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "win.generate", NULL));
  g_assert_null (self->job);
  g_assert_nonnull (self->last_error);
  g_assert_nonnull (strstr (self->last_error->message, "Preferences"));

  g_settings_set_string (settings, "taehv-wan22", taehv);
  g_assert_nonnull (_kinora_window_add_lora (self, lora, 0.5, 0.5));
  gtk_switch_set_active (self->fast_switch, TRUE);
  adw_combo_row_set_selected (self->cache_row, KE_CACHE_TEA);
  /* the default threshold for the task comes with the mode */
  g_assert_cmpfloat_with_epsilon (gtk_spin_button_get_value (self->cache_threshold_spin),
                                  ke_cache_default_threshold (KE_CACHE_TEA, KE_TASK_TI2V_5B), 1e-6);
  gtk_spin_button_set_value (self->cache_threshold_spin, 1e6);   /* skips every step it may */
  g_assert_nonnull (strstr (adw_expander_row_get_subtitle (self->advanced_row), "TeaCache"));
  gtk_spin_button_set_value (self->seed_spin, 3);
  gtk_toggle_button_set_active (self->seed_lock, TRUE);

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "win.generate", NULL));
  g_assert_nonnull (self->job);
  g_signal_connect (self->job, "preview", G_CALLBACK (log_preview_cb), &log);
  g_assert_true (window_test_wait_until (self, window_test_job_done, WINDOW_TEST_TIMEOUT_S));
  g_assert_null (self->last_error);
  g_assert_nonnull (self->result);

  /* the preview showed TAEHV's frames at the video's size, not the latent's (16 times smaller) */
  g_assert_cmpint (log.max_width, ==, self->result->width);
  g_assert_cmpint (log.max_height, ==, self->result->height);
  g_assert_cmpint (log.n_frames, ==, self->result->n_frames);
  kinora_preview_view_get_frame_size (self->preview_view, &fw, &fh);
  g_assert_cmpint (fw, ==, self->result->width);
  g_assert_cmpint (fh, ==, self->result->height);
  g_assert_cmpint (kinora_preview_view_get_n_frames (self->preview_view), ==, self->result->n_frames);
  g_assert_nonnull (strstr (kinora_preview_view_get_skipped_text (self->preview_view), "skipped"));

  /* the result records what ran; TeaCache skipped forwards, and the result line says how many */
  g_assert_true (window_test_wait_until (self, window_test_result_ready, WINDOW_TEST_TIMEOUT_S));
  g_assert_null (self->last_error);
  {
    const KinoraParams *r = self->result_params;
    g_autofree char *count = g_strdup_printf ("%d passes skipped", r->cache_skipped);
    g_autofree char *json = kinora_params_to_json (r);

    g_test_message ("result: %s", gtk_label_get_label (self->result_label));
    g_assert_cmpint (r->steps, ==, 4);
    g_assert_cmpint (r->solver, ==, KE_SOLVER_EULER_LIGHTNING);
    g_assert_cmpint (r->n_loras, ==, 1);
    g_assert_cmpint (r->cache, ==, KE_CACHE_TEA);
    g_assert_cmpint (r->cache_skipped, >, 0);
    g_assert_nonnull (strstr (gtk_label_get_label (self->result_label), count));
    /* the exported vocabulary (kinora-metadata.c) has all of it */
    {
      g_autoptr(KinoraMetadata) m = kinora_metadata_new_from_json (json, &error);

      g_assert_no_error (error);
      g_assert_cmpint (m->params.n_loras, ==, 1);
      g_assert_cmpstr (m->params.loras[0].path, ==, lora);
      g_assert_cmpfloat (m->params.loras[0].strength, ==, 0.5f);
      g_assert_cmpint (m->params.cache, ==, KE_CACHE_TEA);
      g_assert_cmpfloat (m->params.cache_threshold, ==, 1e6f);
      g_assert_cmpint (m->params.cache_skipped, ==, r->cache_skipped);
      g_assert_cmpint (m->params.preview_source, ==, KE_PREVIEW_TAEHV);
      g_assert_cmpint (m->params.decoder, ==, KE_DECODER_VAE);
      g_assert_cmpstr (m->params.taehv_path, ==, taehv);
      g_assert_cmpint (m->params.solver, ==, KE_SOLVER_EULER_LIGHTNING);
      g_assert_cmpint (m->params.steps, ==, 4);
      g_assert_cmpfloat (m->params.guide, ==, 1.0f);
    }
    g_assert_true (g_file_set_contents (sidecar, json, -1, NULL));
  }
  screenshot (self, "speed-03-result");

  /* reuse settings from the history */
  scramble (self);
  item = g_list_model_get_item (G_LIST_MODEL (self->history), 0);
  g_assert_nonnull (item);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "win.reuse-settings", "s",
                                             kinora_history_item_get_id (item)));
  g_assert_true (window_test_wait_until (self, window_test_model_loaded, WINDOW_TEST_TIMEOUT_S));
  check_restored (self, lora, taehv);

  /* a dropped settings file */
  scramble (self);
  {
    g_autoptr(GFile) file = g_file_new_for_path (sidecar);
    g_assert_true (kinora_window_restore_from_file (self, file, &error));
    g_assert_no_error (error);
  }
  g_assert_true (window_test_wait_until (self, window_test_model_loaded, WINDOW_TEST_TIMEOUT_S));
  check_restored (self, lora, taehv);

  window_test_destroy_window (self);
}

int
main (int   argc,
      char *argv[])
{
  window_test_init (&argc, &argv);
  gst_init (NULL, NULL);

  g_test_add_func ("/speed/lora-rows", test_lora_rows);
  g_test_add_func ("/speed/fast", test_fast);
  g_test_add_func ("/speed/run-and-reuse", test_run_and_reuse);

  return g_test_run ();
}
