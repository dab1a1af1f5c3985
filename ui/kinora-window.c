/* kinora-window.c: the main window: controls, live preview, result and history
 *
 * This file keeps the controls and their state; kinora-window-actions.c runs the jobs.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include <glib/gi18n.h>

#include "kinora-window-private.h"
#include "kinora-drop.h"
#include "kinora-window-queue.h"
#include "kinora-models-dialog.h"

G_DEFINE_FINAL_TYPE (KinoraWindow, kinora_window, ADW_TYPE_APPLICATION_WINDOW)

#define MAX_RECENT_PROMPTS 12
#define TEST_MODEL "tiny"

/* --- helpers ------------------------------------------------------------------------------------- */

/* file:// URI of models.md (how to get the weights): the installed docs, else the source tree's copy
 * when running uninstalled */
char *
_kinora_window_dup_models_doc_uri (void)
{
  g_autofree char *installed = g_build_filename (DOCSDIR, "models.md", NULL);
  g_autofree char *source = g_build_filename (SOURCE_DOCSDIR, "models.md", NULL);

  return g_filename_to_uri (g_file_test (installed, G_FILE_TEST_IS_REGULAR) ? installed : source, NULL, NULL);
}

static char *
text_view_dup_text (GtkTextView *view)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (view);
  GtkTextIter start, end;

  gtk_text_buffer_get_bounds (buffer, &start, &end);
  return gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
}

static void
text_view_set_text (GtkTextView *view,
                    const char  *text)
{
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (view), text ? text : "", -1);
}

void
_kinora_window_toast (KinoraWindow *self,
                      const char   *message)
{
  AdwToast *toast = adw_toast_new (message);

  adw_toast_set_timeout (toast, 6);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

/* --- recent prompts ------------------------------------------------------------------------------ */

static void
rebuild_recent_list (KinoraWindow *self)
{
  g_auto(GStrv) prompts = g_settings_get_strv (self->settings, "recent-prompts");
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->recent_list))) != NULL)
    gtk_list_box_remove (self->recent_list, child);

  for (guint i = 0; prompts[i] != NULL; i++)
    {
      GtkWidget *label = gtk_label_new (prompts[i]);

      gtk_label_set_xalign (GTK_LABEL (label), 0);
      gtk_label_set_wrap (GTK_LABEL (label), TRUE);
      gtk_label_set_lines (GTK_LABEL (label), 3);
      gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
      gtk_label_set_max_width_chars (GTK_LABEL (label), 40);
      gtk_list_box_append (self->recent_list, label);
    }
  if (prompts[0] == NULL)
    {
      GtkWidget *label = gtk_label_new (_("No recent prompts"));
      gtk_widget_add_css_class (label, "dim-label");
      gtk_list_box_append (self->recent_list, label);
      gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (gtk_widget_get_parent (label)), FALSE);
    }
}

void
_kinora_window_add_recent_prompt (KinoraWindow *self,
                                  const char   *prompt)
{
  g_auto(GStrv) prompts = NULL;
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) result = NULL;
  guint n = 1;

  if (prompt == NULL || prompt[0] == '\0')
    return;
  prompts = g_settings_get_strv (self->settings, "recent-prompts");
  g_strv_builder_add (builder, prompt);
  for (guint i = 0; prompts[i] != NULL && n < MAX_RECENT_PROMPTS; i++)
    {
      if (g_strcmp0 (prompts[i], prompt) == 0)
        continue;
      g_strv_builder_add (builder, prompts[i]);
      n++;
    }
  result = g_strv_builder_end (builder);
  g_settings_set_strv (self->settings, "recent-prompts", (const char * const *) result);
  rebuild_recent_list (self);
}

static void
recent_row_activated_cb (KinoraWindow  *self,
                         GtkListBoxRow *row)
{
  GtkWidget *label = gtk_list_box_row_get_child (row);

  text_view_set_text (self->prompt_view, gtk_label_get_label (GTK_LABEL (label)));
  gtk_popover_popdown (self->recent_popover);
  gtk_widget_grab_focus (GTK_WIDGET (self->prompt_view));
}

/* --- models -------------------------------------------------------------------------------------- */

static gboolean
looks_like_model (GFile *dir)
{
  static const char *markers[] = {
    "config.json", "Wan2.2_VAE.pth", "Wan2.1_VAE.pth", "high_noise_model", "model_index.json",
  };

  for (guint i = 0; i < G_N_ELEMENTS (markers); i++)
    {
      g_autoptr(GFile) child = g_file_get_child (dir, markers[i]);
      if (g_file_query_exists (child, NULL))
        return TRUE;
    }
  /* LTX-Video: the official files side by side (ltxv-13b-0.9.8-distilled.safetensors, ...) */
  {
    g_autoptr(GFileEnumerator) e = g_file_enumerate_children (dir, G_FILE_ATTRIBUTE_STANDARD_NAME,
                                                              G_FILE_QUERY_INFO_NONE, NULL, NULL);
    GFileInfo *info;

    while (e != NULL && g_file_enumerator_iterate (e, &info, NULL, NULL, NULL) && info != NULL)
      {
        const char *name = g_file_info_get_name (info);
        if (g_str_has_prefix (name, "ltxv-") && g_str_has_suffix (name, ".safetensors")
            && strstr (name, "upscaler") == NULL)
          return TRUE;
      }
  }
  return FALSE;
}

static void
add_model_entry (KinoraWindow *self,
                 const char   *path,
                 const char   *name)
{
  for (guint i = 0; i < self->model_paths->len; i++)
    if (g_strcmp0 (g_ptr_array_index (self->model_paths, i), path) == 0)
      return;
  g_ptr_array_add (self->model_paths, g_strdup (path));
  gtk_string_list_append (self->model_names, name);
}

/* The test model first, then every folder under <data>/kinora/models and the folders the user chose. */
static void
rebuild_model_list (KinoraWindow *self)
{
  g_autoptr(GFile) models_dir = g_file_new_build_filename (g_get_user_data_dir (), "kinora", "models", NULL);
  g_autoptr(GFileEnumerator) e = NULL;
  g_auto(GStrv) folders = g_settings_get_strv (self->settings, "model-folders");
  guint old = self->model_paths->len;

  g_ptr_array_set_size (self->model_paths, 0);
  gtk_string_list_splice (self->model_names, 0, old, NULL);

  add_model_entry (self, TEST_MODEL, _("Test model"));

  e = g_file_enumerate_children (models_dir, G_FILE_ATTRIBUTE_STANDARD_NAME, G_FILE_QUERY_INFO_NONE, NULL, NULL);
  while (e != NULL)
    {
      GFileInfo *info;
      GFile *child;

      if (!g_file_enumerator_iterate (e, &info, &child, NULL, NULL) || info == NULL)
        break;
      if (looks_like_model (child))
        {
          g_autofree char *path = g_file_get_path (child);
          add_model_entry (self, path, g_file_info_get_name (info));
        }
    }
  for (guint i = 0; folders[i] != NULL; i++)
    {
      g_autofree char *name = g_path_get_basename (folders[i]);
      add_model_entry (self, folders[i], name);
    }
}

static gboolean
have_real_model (KinoraWindow *self)
{
  return self->model_paths->len > 1;
}

static const char *
selected_model_path (KinoraWindow *self)
{
  guint i = adw_combo_row_get_selected (self->model_row);

  if (i == GTK_INVALID_LIST_POSITION || i >= self->model_paths->len)
    return NULL;
  return g_ptr_array_index (self->model_paths, i);
}

void
_kinora_window_add_model_folder (KinoraWindow *self,
                                 const char   *path)
{
  g_auto(GStrv) folders = g_settings_get_strv (self->settings, "model-folders");

  if (!g_strv_contains ((const char * const *) folders, path))
    {
      g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
      g_auto(GStrv) result = NULL;

      g_strv_builder_addv (builder, (const char **) folders);
      g_strv_builder_add (builder, path);
      result = g_strv_builder_end (builder);
      g_settings_set_strv (self->settings, "model-folders", (const char * const *) result);
    }
  self->updating = TRUE;
  rebuild_model_list (self);
  self->updating = FALSE;
  _kinora_window_select_model (self, path);
}

static void
update_output_page (KinoraWindow *self)
{
  const char *page = gtk_stack_get_visible_child_name (self->output_stack);

  if (self->job != NULL || g_strcmp0 (page, "result") == 0 || g_strcmp0 (page, "preview") == 0)
    return;
  gtk_stack_set_visible_child_name (self->output_stack, selected_model_path (self) != NULL ? "ready" : "no-model");
}

static void update_task_controls (KinoraWindow *self);

static void
load_model_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  KinoraJob *job = KINORA_JOB (source);
  g_autoptr(KinoraWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(KinoraModelInfo) info = kinora_job_load_finish (job, result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) || self->load_cancellable == NULL
      || g_cancellable_is_cancelled (self->load_cancellable))
    return;
  g_clear_object (&self->load_cancellable);

  if (info == NULL)
    {
      g_clear_error (&self->last_error);
      self->last_error = g_error_copy (error);
      _kinora_window_toast (self, error->message);
      _kinora_window_update_actions (self);
      return;
    }

  /* model capabilities: the settings follow the model's rules, also when the engine cannot run it */
  {
    gboolean family_changed = !self->have_caps || !info->have_caps || self->caps.family != info->caps.family
                              || self->caps.tiny != info->caps.tiny;

    self->have_caps = info->have_caps;
    if (info->have_caps)
      self->caps = info->caps;
    if (info->open_error != NULL)
      {
        g_clear_error (&self->last_error);
        self->last_error = g_error_new_literal (KINORA_ENGINE_ERROR, KE_STATUS_UNSUPPORTED, info->open_error);
        _kinora_window_toast (self, info->open_error);
        self->model_is_random = info->is_random;
        if (family_changed && !self->restoring)
          _kinora_window_reset_defaults (self);
        self->restoring = FALSE;
        self->have_model_desc = FALSE;
        update_task_controls (self);
        _kinora_window_update_actions (self);
        _kinora_window_update_estimate (self);
        return;
      }
    if (family_changed && !self->restoring && info->task == self->task && info->is_random == self->loaded_random)
      {
        self->model_is_random = info->is_random;
        _kinora_window_reset_defaults (self);
      }
  }

  if (self->restoring)
    {
      /* the restored settings win over the model's defaults */
      self->restoring = FALSE;
      self->model_is_random = info->is_random;
    }
  else if (info->task != self->task || info->is_random != self->loaded_random)
    {
      self->task = info->task;
      self->model_is_random = info->is_random;
      self->updating = TRUE;
      /* a task the list does not have (another family's) leaves the row as it is */
      GListModel *tasks = adw_combo_row_get_model (self->task_row);
      if (tasks != NULL && (guint) info->task < g_list_model_get_n_items (tasks))
        adw_combo_row_set_selected (self->task_row, info->task);
      self->updating = FALSE;
      _kinora_window_reset_defaults (self);
    }
  self->loaded_random = info->is_random;
  self->model_is_random = info->is_random;
  self->model_desc = info->desc;
  self->have_model_desc = TRUE;
  update_task_controls (self);
  _kinora_window_update_actions (self);
  _kinora_window_update_estimate (self);
}

void
_kinora_window_select_model (KinoraWindow *self,
                             const char   *path)
{
  g_autoptr(KinoraJob) job = NULL;

  for (guint i = 0; path != NULL && i < self->model_paths->len; i++)
    {
      if (g_strcmp0 (g_ptr_array_index (self->model_paths, i), path) == 0)
        {
          if (adw_combo_row_get_selected (self->model_row) != i)
            {
              /* notify::selected comes back here */
              adw_combo_row_set_selected (self->model_row, i);
              return;
            }
          break;
        }
    }

  path = selected_model_path (self);
  if (path == NULL)
    return;

  g_settings_set_string (self->settings, "model", path);
  self->model_is_random = g_str_equal (path, TEST_MODEL);

  /* model loading is a job too */
  g_cancellable_cancel (self->load_cancellable);
  g_clear_object (&self->load_cancellable);
  self->load_cancellable = g_cancellable_new ();
  job = kinora_job_new_load (path);
  kinora_job_run_async (job, self->load_cancellable, load_model_cb, g_object_ref (self));
  self->have_model_desc = FALSE;

  update_task_controls (self);
  update_output_page (self);
  _kinora_window_update_actions (self);
  _kinora_window_update_estimate (self);
}

static void
model_selected_cb (KinoraWindow *self)
{
  if (self->updating)
    return;
  _kinora_window_select_model (self, NULL);
}

/* --- task, size and the other controls ------------------------------------------------------------ */

/* model capabilities */
const struct ke_model_caps *
_kinora_window_get_caps (KinoraWindow *self)
{
  return self->have_caps ? &self->caps : NULL;
}

enum ke_precision
_kinora_window_get_precision (KinoraWindow *self)
{
  g_autofree char *nick = g_settings_get_string (self->settings, "precision");
  enum ke_precision p = KE_PRECISION_BF16;

  /* the schema's nicks are the engine's names */
  ke_precision_from_name (nick, &p);
  return p;
}

int
_kinora_window_snap_frames (KinoraWindow *self,
                            int           n_frames)
{
  const struct ke_model_caps *caps = _kinora_window_get_caps (self);

  return caps != NULL ? ke_model_caps_snap_frames (caps, n_frames) : kinora_snap_frames (n_frames);
}


static void
update_task_controls (KinoraWindow *self)
{
  g_autofree char *size = g_settings_get_string (self->settings, "size");
  const char * const *sizes = kinora_task_get_sizes (self->task, self->model_is_random);
  guint selected = 0;
  gboolean a14b = self->task != KE_TASK_TI2V_5B;
  /* model capabilities: a model of another family brings its own sizes and rules */
  const struct ke_model_caps *caps = _kinora_window_get_caps (self);
  g_autoptr(GStrvBuilder) caps_sizes = g_strv_builder_new ();
  g_auto(GStrv) caps_size_list = NULL;

  if (caps != NULL && caps->family != KE_MODEL_FAMILY_WAN22 && caps->n_presets > 0)
    {
      for (int i = 0; i < caps->n_presets; i++)
        {
          g_autofree char *item = g_strdup_printf ("%d*%d", caps->presets[i].width, caps->presets[i].height);
          g_strv_builder_add (caps_sizes, item);
        }
      caps_size_list = g_strv_builder_end (caps_sizes);
      sizes = (const char * const *) caps_size_list;
    }
  /* Wan2.2: the task decides (a restored A14B setting shows both guidance values with any Wan model) */
  if (caps != NULL && caps->family != KE_MODEL_FAMILY_WAN22)
    a14b = caps->two_experts;

  int sw = 0, sh = 0;

  kinora_parse_size (size, &sw, &sh);
  self->updating = TRUE;
  gtk_string_list_splice (self->size_names, 0, g_list_model_get_n_items (G_LIST_MODEL (self->size_names)),
                          NULL);
  for (guint i = 0; sizes[i] != NULL; i++)
    {
      int w = 0, h = 0;
      g_autofree char *label = NULL;

      kinora_parse_size (sizes[i], &w, &h);
      label = kinora_size_to_label (w, h);
      gtk_string_list_append (self->size_names, label);
      if (w == sw && h == sh)
        selected = i;
    }
  adw_combo_row_set_selected (self->size_row, selected);
  self->updating = FALSE;

  adw_status_page_set_description (self->ready_page,
                                   self->model_is_random
                                     ? _("Describe a scene and press Generate. The test model makes random "
                                         "patterns: it shows how every control, the preview and the export work. "
                                         "Real videos need the Wan2.2 weights.")
                                     : _("Describe a scene and press Generate. The frames appear here while they "
                                         "take shape."));

  /* the task follows the model (the test model has the TI2V-5B layout) */
  gtk_widget_set_sensitive (GTK_WIDGET (self->task_row), FALSE);
  gtk_widget_set_visible (GTK_WIDGET (self->guide_high_row), a14b && !(caps != NULL && caps->guidance_fixed));
  /* model capabilities: no guidance control where the model's config fixes it, nor steps, shift, solver or
   * a negative prompt where the model has none; frames in the model's steps */
  gtk_widget_set_visible (GTK_WIDGET (self->guide_row), !(caps != NULL && caps->guidance_fixed));
  gtk_widget_set_sensitive (GTK_WIDGET (self->steps_row), !(caps != NULL && caps->steps_fixed));
  gtk_widget_set_visible (GTK_WIDGET (self->shift_row), caps == NULL || caps->has_shift);
  gtk_widget_set_visible (GTK_WIDGET (self->solver_row), caps == NULL || caps->has_solver);
  gtk_widget_set_visible (GTK_WIDGET (self->negative_expander), caps == NULL || caps->uses_negative_prompt);
  gtk_widget_set_visible (GTK_WIDGET (self->fast_row), caps == NULL || caps->family == KE_MODEL_FAMILY_WAN22);
  gtk_widget_set_visible (GTK_WIDGET (self->lora_row), caps == NULL || caps->takes_loras);
  gtk_widget_set_visible (GTK_WIDGET (self->cache_row), caps == NULL || caps->takes_step_cache);
  if (caps != NULL && !caps->takes_step_cache)
    gtk_widget_set_visible (GTK_WIDGET (self->cache_threshold_row), FALSE);
  {
    int step = caps != NULL ? caps->frame_step : 4;
    GtkAdjustment *adj = gtk_spin_button_get_adjustment (self->frames_spin);
    int n = gtk_spin_button_get_value_as_int (self->frames_spin);

    /* the upper bound, 257, is a count of both steps (4 x 64 + 1, 8 x 32 + 1) */
    gtk_adjustment_set_step_increment (adj, step);
    gtk_adjustment_set_page_increment (adj, 4 * step);
    if (caps != NULL && caps->steps_fixed)
      gtk_spin_button_set_value (self->steps_spin, caps->steps);
    if (caps != NULL && caps->guidance_fixed)
      gtk_spin_button_set_value (self->guide_spin, caps->guidance);
    if (_kinora_window_snap_frames (self, n) != n)
      gtk_spin_button_set_value (self->frames_spin, _kinora_window_snap_frames (self, n));
  }
  gtk_label_set_text_with_mnemonic (self->guide_label, a14b ? _("_Guidance, Low Noise") : _("_Guidance"));
  adw_preferences_row_set_title (self->guide_row, a14b ? _("Guidance, low noise") : _("Guidance"));
  _kinora_window_mark_defaults (self);
  _kinora_window_speed_update_task (self);
  gtk_widget_set_sensitive (GTK_WIDGET (self->image_group), self->task != KE_TASK_T2V_A14B);
  adw_preferences_group_set_description (self->image_group,
                                         self->task == KE_TASK_I2V_A14B ? _("Required for this task")
                                         : self->task == KE_TASK_T2V_A14B ? _("Not used by this task")
                                         : _("Optional"));
  {
    int w = 0, h = 0;
    kinora_parse_size (sizes[selected], &w, &h);
    kinora_image_picker_set_target (self->image_picker, self->task, w, h);
  }
}

static void
task_selected_cb (KinoraWindow *self)
{
  guint i = adw_combo_row_get_selected (self->task_row);

  if (self->updating || i == GTK_INVALID_LIST_POSITION || (enum ke_task) i == self->task)
    return;
  self->task = (enum ke_task) i;
  _kinora_window_reset_defaults (self);
  update_task_controls (self);
  _kinora_window_update_actions (self);
}

static void
size_selected_cb (KinoraWindow *self)
{
  GtkStringObject *item = adw_combo_row_get_selected_item (self->size_row);
  int w, h;

  if (self->updating || item == NULL)
    return;
  if (kinora_parse_size (gtk_string_object_get_string (item), &w, &h))
    {
      g_autofree char *size = g_strdup_printf ("%d*%d", w, h);
      g_settings_set_string (self->settings, "size", size);
      kinora_image_picker_set_target (self->image_picker, self->task, w, h);
    }
}

static void
frames_changed_cb (KinoraWindow *self)
{
  int n = gtk_spin_button_get_value_as_int (self->frames_spin);
  int snapped = _kinora_window_snap_frames (self, n);

  if (n != snapped)
    gtk_spin_button_set_value (self->frames_spin, snapped);
}

/* Official defaults of the task; the test model gets a small size and few frames and steps. */
void
_kinora_window_reset_defaults (KinoraWindow *self)
{
  g_autoptr(KinoraParams) d = kinora_params_new_for_task (self->task);

  const struct ke_model_caps *caps = _kinora_window_get_caps (self);

  if (self->model_is_random)
    {
      d->n_frames = 9;
      d->steps = 8;
    }
  /* model capabilities: a model of another family has its own defaults */
  if (caps != NULL && caps->family != KE_MODEL_FAMILY_WAN22)
    {
      d->n_frames = caps->n_frames;
      d->fps = caps->fps;
      d->steps = caps->steps;
      d->guide = d->guide_high = caps->guidance;
    }
  gtk_spin_button_set_value (self->frames_spin, d->n_frames);
  gtk_spin_button_set_value (self->fps_spin, d->fps);
  gtk_spin_button_set_value (self->steps_spin, d->steps);
  gtk_spin_button_set_value (self->guide_spin, d->guide);
  gtk_spin_button_set_value (self->guide_high_spin, d->guide_high);
  gtk_spin_button_set_value (self->shift_spin, d->shift);
  adw_combo_row_set_selected (self->solver_row, d->solver);
  _kinora_window_speed_reset (self);
  g_settings_reset (self->settings, "size");
  update_task_controls (self);
}

static void
image_changed_cb (KinoraWindow *self)
{
  _kinora_window_update_actions (self);
}

static void
image_error_cb (KinoraWindow *self,
                const char   *message)
{
  g_autofree char *text = g_strdup_printf (_("Could not open the image: %s"), message);
  _kinora_window_toast (self, text);
}

static void
prompt_changed_cb (KinoraWindow *self)
{
  _kinora_window_update_actions (self);
}

/* --- params <-> controls -------------------------------------------------------------------------- */

KinoraParams *
kinora_window_dup_params (KinoraWindow *self)
{
  KinoraParams *p = kinora_params_new_for_task (self->task);
  GtkStringObject *size = adw_combo_row_get_selected_item (self->size_row);
  g_autofree char *negative = text_view_dup_text (self->negative_view);

  g_free (p->model);
  p->model = g_strdup (selected_model_path (self));
  g_free (p->prompt);
  p->prompt = text_view_dup_text (self->prompt_view);
  g_free (p->negative_prompt);
  p->negative_prompt = g_strdup (g_strstrip (negative));
  if (size != NULL)
    kinora_parse_size (gtk_string_object_get_string (size), &p->width, &p->height);
  p->n_frames = _kinora_window_snap_frames (self, gtk_spin_button_get_value_as_int (self->frames_spin));
  p->fps = gtk_spin_button_get_value (self->fps_spin);
  p->seed = (gint64) gtk_spin_button_get_value (self->seed_spin);
  p->steps = gtk_spin_button_get_value_as_int (self->steps_spin);
  p->guide = gtk_spin_button_get_value (self->guide_spin);
  p->guide_high = self->task == KE_TASK_TI2V_5B ? p->guide : gtk_spin_button_get_value (self->guide_high_spin);
  p->shift = gtk_spin_button_get_value (self->shift_spin);
  p->solver = (enum ke_solver) MIN (adw_combo_row_get_selected (self->solver_row), KE_SOLVER_EULER_LIGHTNING);
  /* model capabilities: what the model's config fixes is recorded as it runs */
  {
    const struct ke_model_caps *caps = _kinora_window_get_caps (self);
    if (caps != NULL && caps->guidance_fixed)
      p->guide = p->guide_high = caps->guidance;
    if (caps != NULL && caps->steps_fixed)
      p->steps = caps->steps;
    if (caps != NULL && !caps->uses_negative_prompt)
      g_clear_pointer (&p->negative_prompt, g_free);
  }
  /* the test model always runs on the CPU in fp32 (kinora-job.c); the record says so */
  g_free (p->backend);
  p->backend = self->model_is_random ? g_strdup ("cpu") : g_settings_get_string (self->settings, "backend");
  p->precision = self->model_is_random ? KE_PRECISION_FP32 : _kinora_window_get_precision (self);
  p->vram_gib = g_settings_get_double (self->settings, "vram-gib");   /* device memory budget */
  _kinora_window_speed_to_params (self, p);  /* LoRAs, cache, TAEHV */
  /* model capabilities: what the model does not take is not recorded as if it ran */
  {
    const struct ke_model_caps *caps = _kinora_window_get_caps (self);
    if (caps != NULL && !caps->takes_loras)
      kinora_params_clear_loras (p);
    if (caps != NULL && !caps->takes_step_cache)
      p->cache = KE_CACHE_OFF;
    if (caps != NULL && !caps->takes_taehv)
      {
        p->decoder = KE_DECODER_VAE;
        p->preview_source = KE_PREVIEW_LATENT;
        g_clear_pointer (&p->taehv_path, g_free);
      }
  }
  if (self->task != KE_TASK_T2V_A14B)
    kinora_params_set_image_from_texture (p, kinora_image_picker_get_texture (self->image_picker),
                                          kinora_image_picker_get_path (self->image_picker));
  return p;
}

void
kinora_window_apply_params (KinoraWindow       *self,
                            const KinoraParams *params)
{
  g_autofree char *size = g_strdup_printf ("%d*%d", params->width, params->height);
  g_autofree char *label = kinora_size_to_label (params->width, params->height);
  guint n_sizes, i;

  g_return_if_fail (KINORA_IS_WINDOW (self));

  if (params->model != NULL && params->model[0] != '\0')
    {
      self->restoring = TRUE;
      if (g_strcmp0 (params->model, TEST_MODEL) != 0)
        _kinora_window_add_model_folder (self, params->model);
      else
        _kinora_window_select_model (self, params->model);
    }

  self->updating = TRUE;
  self->task = params->task;
  adw_combo_row_set_selected (self->task_row, params->task);
  self->updating = FALSE;
  g_settings_set_string (self->settings, "size", size);
  update_task_controls (self);

  /* a size outside the presets is added to the list */
  n_sizes = g_list_model_get_n_items (G_LIST_MODEL (self->size_names));
  for (i = 0; i < n_sizes; i++)
    if (g_strcmp0 (gtk_string_list_get_string (self->size_names, i), label) == 0)
      break;
  if (i == n_sizes)
    gtk_string_list_append (self->size_names, label);
  self->updating = TRUE;
  adw_combo_row_set_selected (self->size_row, i);
  self->updating = FALSE;

  text_view_set_text (self->prompt_view, params->prompt);
  text_view_set_text (self->negative_view,
                      params->negative_prompt && params->negative_prompt[0]
                        ? params->negative_prompt : kinora_default_negative_prompt ());
  gtk_spin_button_set_value (self->frames_spin, params->n_frames);
  gtk_spin_button_set_value (self->fps_spin, params->fps);
  gtk_spin_button_set_value (self->seed_spin, (double) params->seed);
  gtk_toggle_button_set_active (self->seed_lock, TRUE);
  gtk_spin_button_set_value (self->steps_spin, params->steps);
  gtk_spin_button_set_value (self->guide_spin, params->guide);
  gtk_spin_button_set_value (self->guide_high_spin, params->guide_high);
  gtk_spin_button_set_value (self->shift_spin, params->shift);
  adw_combo_row_set_selected (self->solver_row, MIN ((guint) params->solver, KE_SOLVER_EULER_LIGHTNING));
  _kinora_window_speed_apply (self, params);  /* LoRAs, cache, TAEHV; Fast follows the solver */
  /* backend and precision are preferences; a run of the test model says nothing about them */
  if (params->backend != NULL && g_strcmp0 (params->model, TEST_MODEL) != 0)
    {
      g_settings_set_string (self->settings, "backend", params->backend);
      /* the schema's nicks are the engine's names */
      g_settings_set_string (self->settings, "precision", ke_precision_name (params->precision));
    }

  if (params->image_path != NULL)
    {
      g_autoptr(GFile) file = g_file_new_for_path (params->image_path);
      kinora_image_picker_set_file (self->image_picker, file);
    }
  else
    {
      kinora_image_picker_clear (self->image_picker);
    }
  kinora_image_picker_set_target (self->image_picker, params->task, params->width, params->height);
  _kinora_window_update_actions (self);
}

gboolean
kinora_window_is_busy (KinoraWindow *self)
{
  g_return_val_if_fail (KINORA_IS_WINDOW (self), FALSE);
  return self->job != NULL;
}

/* --- lifecycle ----------------------------------------------------------------------------------- */

static gboolean
kinora_window_close_request (GtkWindow *window)
{
  KinoraWindow *self = KINORA_WINDOW (window);
  int w, h;

  gtk_window_get_default_size (window, &w, &h);
  g_settings_set_int (self->settings, "window-width", w);
  g_settings_set_int (self->settings, "window-height", h);
  g_settings_set_boolean (self->settings, "window-maximized", gtk_window_is_maximized (window));

  /* closing a window cancels its work; the player lets go of its pipeline first */
  g_cancellable_cancel (self->job_cancellable);
  g_cancellable_cancel (self->load_cancellable);
  kinora_player_stop (self->player);

  return GTK_WINDOW_CLASS (kinora_window_parent_class)->close_request (window);
}

static void
kinora_window_dispose (GObject *object)
{
  KinoraWindow *self = KINORA_WINDOW (object);

  g_cancellable_cancel (self->job_cancellable);
  g_cancellable_cancel (self->load_cancellable);
  if (self->chooser != NULL)
    gtk_native_dialog_destroy (self->chooser);
  g_clear_object (&self->chooser);
  g_clear_object (&self->job);
  g_clear_object (&self->job_cancellable);
  g_clear_object (&self->load_cancellable);
  g_clear_pointer (&self->result, kinora_video_unref);
  g_clear_pointer (&self->result_params, kinora_params_free);
  g_clear_object (&self->result_item);
  g_clear_error (&self->last_error);
  _kinora_window_sampling_dispose (self);
  _kinora_window_speed_dispose (self);
  if (self->preferences != NULL)
    gtk_window_destroy (self->preferences);
  gtk_widget_dispose_template (GTK_WIDGET (self), KINORA_TYPE_WINDOW);
  g_clear_object (&self->history);
  g_clear_object (&self->settings);
  g_clear_object (&self->model_names);
  g_clear_object (&self->size_names);

  G_OBJECT_CLASS (kinora_window_parent_class)->dispose (object);
}

static void
kinora_window_finalize (GObject *object)
{
  KinoraWindow *self = KINORA_WINDOW (object);

  g_clear_pointer (&self->model_paths, g_ptr_array_unref);
  G_OBJECT_CLASS (kinora_window_parent_class)->finalize (object);
}

static void
kinora_window_class_init (KinoraWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = kinora_window_dispose;
  object_class->finalize = kinora_window_finalize;
  window_class->close_request = kinora_window_close_request;

  g_type_ensure (KINORA_TYPE_IMAGE_PICKER);
  g_type_ensure (KINORA_TYPE_PREVIEW_VIEW);
  g_type_ensure (KINORA_TYPE_PLAYER);
  g_type_ensure (KINORA_TYPE_HISTORY_VIEW);

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/kinora/Kinora/kinora-window.ui");
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, view_stack);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, flap);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, prompt_view);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, negative_view);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, negative_expander);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, recent_list);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, recent_popover);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, image_picker);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, image_group);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, model_row);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, task_row);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, size_row);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, frames_spin);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, fps_spin);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, seed_spin);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, seed_lock);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, steps_spin);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, estimate_label);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, guide_spin);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, guide_high_spin);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, shift_spin);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, guide_row);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, steps_row);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, shift_row);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, guide_high_row);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, guide_label);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, seed_scale);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, steps_scale);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, guide_scale);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, guide_high_scale);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, shift_scale);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, solver_row);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, advanced_row);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, model_group);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, sampling_group);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, sidebar_scroll);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, output_stack);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, no_model_label);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, preview_view);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, player);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, result_label);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, generate_button);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, cancel_button);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, keep_button);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, ready_page);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, history_view);
  gtk_widget_class_bind_template_callback (widget_class, recent_row_activated_cb);
  _kinora_window_speed_class_init (widget_class);  /* kinora-window-speed.c */

  _kinora_window_class_actions_init (klass);
}

static void
kinora_window_init (KinoraWindow *self)
{
  GtkStringList *tasks;
  g_autofree char *model = NULL;
  g_autofree char *docs = NULL;
  g_autofree char *docs_uri = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));
  _kinora_window_drop_init (self);  /* kinora-drop.c */

  self->settings = g_settings_new (APP_ID);
  self->model_paths = g_ptr_array_new_with_free_func (g_free);
  self->model_names = gtk_string_list_new (NULL);
  self->size_names = gtk_string_list_new (NULL);
  self->task = KE_TASK_TI2V_5B;

  gtk_window_set_default_size (GTK_WINDOW (self),
                               g_settings_get_int (self->settings, "window-width"),
                               g_settings_get_int (self->settings, "window-height"));
  if (g_settings_get_boolean (self->settings, "window-maximized"))
    gtk_window_maximize (GTK_WINDOW (self));

  g_settings_bind (self->settings, "seed-locked", self->seed_lock, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "negative-expanded", self->negative_expander, "expanded",
                   G_SETTINGS_BIND_DEFAULT);
  _kinora_window_sampling_init (self);
  _kinora_window_speed_init (self);
  gtk_spin_button_set_value (self->seed_spin, (double) g_settings_get_int64 (self->settings, "seed"));
  text_view_set_text (self->negative_view, kinora_default_negative_prompt ());

  tasks = gtk_string_list_new (NULL);
  for (int t = KE_TASK_TI2V_5B; t <= KE_TASK_I2V_A14B; t++)
    gtk_string_list_append (tasks, kinora_task_get_title ((enum ke_task) t));
  adw_combo_row_set_model (self->task_row, G_LIST_MODEL (tasks));
  g_object_unref (tasks);
  adw_combo_row_set_model (self->size_row, G_LIST_MODEL (self->size_names));
  adw_combo_row_set_model (self->model_row, G_LIST_MODEL (self->model_names));

  /* Translators: the link goes to the page on getting the weights */
  docs_uri = _kinora_window_dup_models_doc_uri ();
  docs = g_strdup_printf (_("Kinora needs the Wan2.2 weights to make real videos. "
                            "<a href=\"%s\">Read how to get them</a>, then choose their folder. "
                            "Meanwhile the test model lets you try every control; it makes random patterns."),
                          docs_uri);
  gtk_label_set_markup (self->no_model_label, docs);

  self->history = kinora_history_new (NULL);
  kinora_history_view_set_history (self->history_view, self->history);
  _kinora_window_queue_init (self);  /* kinora-window-queue.c */
  kinora_models_dialog_install_action (self);  /* kinora-models-dialog.c */

  rebuild_recent_list (self);
  self->updating = TRUE;
  rebuild_model_list (self);
  adw_combo_row_set_selected (self->model_row, GTK_INVALID_LIST_POSITION);
  self->updating = FALSE;

  g_signal_connect_swapped (self->model_row, "notify::selected", G_CALLBACK (model_selected_cb), self);
  g_signal_connect_swapped (self->task_row, "notify::selected", G_CALLBACK (task_selected_cb), self);
  g_signal_connect_swapped (self->size_row, "notify::selected", G_CALLBACK (size_selected_cb), self);
  g_signal_connect_swapped (self->frames_spin, "value-changed", G_CALLBACK (frames_changed_cb), self);
  g_signal_connect_swapped (self->image_picker, "notify::texture", G_CALLBACK (image_changed_cb), self);
  g_signal_connect_swapped (self->image_picker, "error", G_CALLBACK (image_error_cb), self);
  g_signal_connect_swapped (gtk_text_view_get_buffer (self->prompt_view), "changed",
                            G_CALLBACK (prompt_changed_cb), self);

  _kinora_window_reset_defaults (self);
  _kinora_window_estimate_init (self);  /* kinora-window-estimate.c */

  /* the last model, if it is still there; with no real model installed nothing is chosen,
   * and the window explains how to get one */
  model = g_settings_get_string (self->settings, "model");
  if (model[0] != '\0')
    _kinora_window_select_model (self, model);
  else if (have_real_model (self))
    adw_combo_row_set_selected (self->model_row, 1);
  update_output_page (self);
  _kinora_window_update_actions (self);
}

KinoraWindow *
kinora_window_new (GtkApplication *application)
{
  return g_object_new (KINORA_TYPE_WINDOW, "application", application, NULL);
}
