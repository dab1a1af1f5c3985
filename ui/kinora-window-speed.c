/* kinora-window-speed.c: the speed-ups of the main window
 *
 * LoRAs: an expander row of the model group lists the files, each an expander row of its own with
 * the enable switch, a remove button and its strength (on A14B one per expert). Only the enabled
 * ones go into the settings of a run (ke_gen_params.loras).
 *
 * Fast (4 steps): the Lightning few-step recipe of the engine (ke_gen_params_preset "lightning")
 * written into the sampling controls; switching it off brings back the values from before. The
 * switch shows whether the solver is the Lightning one, so restored settings show it too.
 *
 * The step cache (Off, EasyCache, TeaCache) and its threshold sit under Advanced. The TAEHV preview
 * source, draft decode and weights files are preferences (GSettings), recorded with each run and
 * restored with its settings.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include "kinora-config.h"

#include <glib/gi18n.h>

#include "kinora-window-private.h"

const char *
_kinora_window_taehv_key (enum ke_task task)
{
  /* 48-channel latents (TI2V-5B, and the test model) take taew2_2; A14B's 16 channels taew2_1 */
  return task == KE_TASK_TI2V_5B ? "taehv-wan22" : "taehv-wan21";
}

static gboolean
is_a14b (KinoraWindow *self)
{
  return self->task != KE_TASK_TI2V_5B;
}

/* --- LoRAs --------------------------------------------------------------------------------------- */

static void
lora_entry_free (KinoraLoraEntry *e)
{
  g_free (e->path);
  g_free (e);
}

/* The list's subtitle: the enabled files, "Off" when none is, "None" without files */
static void
update_lora_subtitle (KinoraWindow *self)
{
  g_autoptr(GString) names = g_string_new (NULL);

  for (guint i = 0; i < self->loras->len; i++)
    {
      KinoraLoraEntry *e = g_ptr_array_index (self->loras, i);
      g_autofree char *base = NULL;

      if (!adw_expander_row_get_enable_expansion (e->row))
        continue;
      base = g_path_get_basename (e->path);
      if (names->len > 0)
        g_string_append (names, ", ");
      g_string_append (names, base);
    }
  if (self->loras->len == 0)
    adw_expander_row_set_subtitle (self->lora_row, _("None"));
  else if (names->len == 0)
    adw_expander_row_set_subtitle (self->lora_row, _("Off"));
  else
    {
      g_autofree char *escaped = g_markup_escape_text (names->str, -1);
      adw_expander_row_set_subtitle (self->lora_row, escaped);
    }
  _kinora_window_update_estimate (self);   /* LoRAs take memory: the pre-flight figures follow the list */
}

static void
update_entry (KinoraLoraEntry *e)
{
  KinoraWindow *self = e->window;
  gboolean a14b = is_a14b (self);
  g_autofree char *text = NULL;

  gtk_widget_set_visible (GTK_WIDGET (e->high_row), a14b);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (e->strength_row),
                                 a14b ? _("Strength, low noise") : _("Strength"));
  if (!g_file_test (e->path, G_FILE_TEST_IS_REGULAR))
    text = g_strdup (_("The file is missing"));
  else if (a14b)
    /* Translators: a LoRA's strengths on the low-noise and the high-noise expert */
    text = g_strdup_printf (_("Strength %.2f, high noise %.2f"), gtk_spin_button_get_value (e->strength),
                            gtk_spin_button_get_value (e->strength_high));
  else
    text = g_strdup_printf (_("Strength %.2f"), gtk_spin_button_get_value (e->strength));
  adw_expander_row_set_subtitle (e->row, text);
  _kinora_window_update_estimate (self);   /* a strength of 0 leaves that expert without it */
}

static void
lora_remove_clicked_cb (GtkButton       *button,
                        KinoraLoraEntry *e)
{
  _kinora_window_remove_lora (e->window, e);
}

static GtkSpinButton *
strength_spin (double value)
{
  GtkAdjustment *adj = gtk_adjustment_new (value, -KE_MAX_LORA_STRENGTH, KE_MAX_LORA_STRENGTH, 0.05, 0.25, 0);
  GtkWidget *spin = gtk_spin_button_new (adj, 0.05, 2);

  gtk_spin_button_set_numeric (GTK_SPIN_BUTTON (spin), TRUE);
  gtk_widget_set_valign (spin, GTK_ALIGN_CENTER);
  gtk_editable_set_width_chars (GTK_EDITABLE (spin), 5);
  return GTK_SPIN_BUTTON (spin);
}

static AdwActionRow *
strength_row (GtkSpinButton *spin,
              const char    *title)
{
  AdwActionRow *row = ADW_ACTION_ROW (adw_action_row_new ());

  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_action_row_add_suffix (row, GTK_WIDGET (spin));
  adw_action_row_set_activatable_widget (row, GTK_WIDGET (spin));
  gtk_accessible_update_property (GTK_ACCESSIBLE (spin), GTK_ACCESSIBLE_PROPERTY_LABEL, title, -1);
  return row;
}

KinoraLoraEntry *
_kinora_window_add_lora (KinoraWindow *self,
                         const char   *path,
                         double        strength,
                         double        strength_high)
{
  KinoraLoraEntry *e;
  g_autofree char *base = NULL;
  g_autofree char *title = NULL;
  GtkWidget *remove;

  g_return_val_if_fail (path != NULL, NULL);
  if (self->loras->len >= KE_MAX_LORAS)
    return NULL;

  e = g_new0 (KinoraLoraEntry, 1);
  e->window = self;
  e->path = g_strdup (path);
  e->row = ADW_EXPANDER_ROW (adw_expander_row_new ());
  base = g_path_get_basename (path);
  title = g_markup_escape_text (base, -1);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (e->row), title);
  gtk_widget_set_tooltip_text (GTK_WIDGET (e->row), path);
  adw_expander_row_set_show_enable_switch (e->row, TRUE);
  adw_expander_row_set_enable_expansion (e->row, TRUE);
  adw_expander_row_set_expanded (e->row, FALSE);

  remove = e->remove = gtk_button_new_from_icon_name ("user-trash-symbolic");
  gtk_widget_add_css_class (remove, "flat");
  gtk_widget_set_valign (remove, GTK_ALIGN_CENTER);
  gtk_widget_set_tooltip_text (remove, _("Remove"));
  adw_expander_row_add_action (e->row, remove);
  g_signal_connect (remove, "clicked", G_CALLBACK (lora_remove_clicked_cb), e);

  e->strength = strength_spin (strength);
  e->strength_high = strength_spin (strength_high);
  e->strength_row = strength_row (e->strength, _("Strength"));
  e->high_row = strength_row (e->strength_high, _("Strength, high noise"));
  adw_action_row_set_subtitle (e->high_row, _("For the expert of the first steps"));
  adw_expander_row_add_row (e->row, GTK_WIDGET (e->strength_row));
  adw_expander_row_add_row (e->row, GTK_WIDGET (e->high_row));
  g_signal_connect_swapped (e->strength, "value-changed", G_CALLBACK (update_entry), e);
  g_signal_connect_swapped (e->strength_high, "value-changed", G_CALLBACK (update_entry), e);
  g_signal_connect_swapped (e->row, "notify::enable-expansion", G_CALLBACK (update_lora_subtitle), self);

  adw_expander_row_add_row (self->lora_row, GTK_WIDGET (e->row));
  _kinora_window_add_scroll_guards (self, GTK_WIDGET (e->row));
  g_ptr_array_add (self->loras, e);
  update_entry (e);
  update_lora_subtitle (self);
  return e;
}

void
_kinora_window_remove_lora (KinoraWindow    *self,
                            KinoraLoraEntry *e)
{
  g_signal_handlers_disconnect_by_data (e->row, self);
  adw_expander_row_remove (self->lora_row, GTK_WIDGET (e->row));
  g_ptr_array_remove (self->loras, e);
  update_lora_subtitle (self);
}

static void
remove_all_loras (KinoraWindow *self)
{
  while (self->loras->len > 0)
    _kinora_window_remove_lora (self, g_ptr_array_index (self->loras, self->loras->len - 1));
}

static void
add_lora_response_cb (GtkNativeDialog *dialog,
                      int              response,
                      KinoraWindow    *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GListModel) files = gtk_file_chooser_get_files (GTK_FILE_CHOOSER (dialog));

      for (guint i = 0; i < g_list_model_get_n_items (files); i++)
        {
          g_autoptr(GFile) file = g_list_model_get_item (files, i);
          g_autofree char *path = g_file_get_path (file);

          if (path == NULL)
            continue;
          if (_kinora_window_add_lora (self, path, 1.0, 1.0) == NULL)
            {
              /* Translators: %d is the most LoRAs a run takes */
              g_autofree char *text = g_strdup_printf (_("At most %d LoRAs can be used at once"), KE_MAX_LORAS);
              _kinora_window_toast (self, text);
              break;
            }
        }
      adw_expander_row_set_expanded (self->lora_row, TRUE);
    }
  g_clear_object (&self->chooser);
}

static void
add_lora_action (GtkWidget  *widget,
                 const char *action_name,
                 GVariant   *param)
{
  KinoraWindow *self = KINORA_WINDOW (widget);
  g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();

  g_clear_object (&self->chooser);
  self->chooser = GTK_NATIVE_DIALOG (gtk_file_chooser_native_new (_("Add LoRA Files"), GTK_WINDOW (self),
                                                                  GTK_FILE_CHOOSER_ACTION_OPEN, _("_Add"),
                                                                  _("_Cancel")));
  gtk_file_chooser_set_select_multiple (GTK_FILE_CHOOSER (self->chooser), TRUE);
  gtk_file_filter_set_name (filter, _("LoRA files (safetensors)"));
  gtk_file_filter_add_pattern (filter, "*.safetensors");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (self->chooser), filter);
  gtk_native_dialog_set_modal (self->chooser, TRUE);
  g_signal_connect (self->chooser, "response", G_CALLBACK (add_lora_response_cb), self);
  gtk_native_dialog_show (self->chooser);
}

/* --- Fast (the Lightning preset) ----------------------------------------------------------------- */

static void
set_sampling (KinoraWindow       *self,
              const KinoraParams *p)
{
  self->fast_syncing = TRUE;
  gtk_spin_button_set_value (self->steps_spin, p->steps);
  gtk_spin_button_set_value (self->guide_spin, p->guide);
  gtk_spin_button_set_value (self->guide_high_spin, p->guide_high);
  gtk_spin_button_set_value (self->shift_spin, p->shift);
  adw_combo_row_set_selected (self->solver_row, p->solver);
  self->fast_syncing = FALSE;
}

static void
fast_on (KinoraWindow *self)
{
  struct ke_gen_params p = ke_gen_params_default (self->task);
  struct ke_error err = { 0 };
  g_autoptr(KinoraParams) fast = kinora_params_new_for_task (self->task);

  /* the engine's recipe: the same numbers as kinora-cli generate --preset lightning */
  if (ke_gen_params_preset (&p, "lightning", &err) != KE_STATUS_OK)
    {
      _kinora_window_toast (self, err.msg);
      self->fast_syncing = TRUE;
      gtk_switch_set_active (self->fast_switch, FALSE);
      self->fast_syncing = FALSE;
      return;
    }
  g_clear_pointer (&self->before_fast, kinora_params_free);
  self->before_fast = kinora_params_new_for_task (self->task);
  self->before_fast->steps = gtk_spin_button_get_value_as_int (self->steps_spin);
  self->before_fast->guide = gtk_spin_button_get_value (self->guide_spin);
  self->before_fast->guide_high = gtk_spin_button_get_value (self->guide_high_spin);
  self->before_fast->shift = gtk_spin_button_get_value (self->shift_spin);
  self->before_fast->solver = (enum ke_solver) adw_combo_row_get_selected (self->solver_row);

  fast->steps = p.steps;
  fast->guide = p.guide;
  fast->guide_high = p.guide_high;
  fast->shift = p.shift;
  fast->solver = p.solver;
  set_sampling (self, fast);
}

static void
fast_off (KinoraWindow *self)
{
  g_autoptr(KinoraParams) back = g_steal_pointer (&self->before_fast);

  if (back == NULL || back->solver == KE_SOLVER_EULER_LIGHTNING)
    {
      /* nothing to go back to (the settings came with Fast on): the task's defaults */
      g_clear_pointer (&back, kinora_params_free);
      back = kinora_params_new_for_task (self->task);
      if (self->model_is_random)
        back->steps = 8;
    }
  set_sampling (self, back);
}

static void
fast_switch_cb (KinoraWindow *self)
{
  if (self->fast_syncing)
    return;
  if (gtk_switch_get_active (self->fast_switch))
    fast_on (self);
  else
    fast_off (self);
}

/* The switch follows the solver: another solver chosen by hand leaves Fast (keeping the values) */
static void
solver_selected_cb (KinoraWindow *self)
{
  gboolean lightning = adw_combo_row_get_selected (self->solver_row) == KE_SOLVER_EULER_LIGHTNING;

  if (self->fast_syncing || gtk_switch_get_active (self->fast_switch) == lightning)
    return;
  self->fast_syncing = TRUE;
  gtk_switch_set_active (self->fast_switch, lightning);
  self->fast_syncing = FALSE;
  if (!lightning)
    g_clear_pointer (&self->before_fast, kinora_params_free);
}

/* --- the step cache ------------------------------------------------------------------------------ */

static void
cache_selected_cb (KinoraWindow *self)
{
  guint mode = adw_combo_row_get_selected (self->cache_row);

  gtk_widget_set_visible (GTK_WIDGET (self->cache_threshold_row), mode != KE_CACHE_OFF);
  if (mode != KE_CACHE_OFF && mode != GTK_INVALID_LIST_POSITION)
    gtk_spin_button_set_value (self->cache_threshold_spin,
                               ke_cache_default_threshold ((enum ke_cache_mode) mode, self->task));
  _kinora_window_update_advanced_subtitle (self);
}

/* --- the window's side --------------------------------------------------------------------------- */

void
_kinora_window_speed_update_task (KinoraWindow *self)
{
  for (guint i = 0; i < self->loras->len; i++)
    update_entry (g_ptr_array_index (self->loras, i));
}

/* The task's defaults (a new task or model, Reset Settings): the cache off; the LoRAs stay */
void
_kinora_window_speed_reset (KinoraWindow *self)
{
  g_clear_pointer (&self->before_fast, kinora_params_free);
  adw_combo_row_set_selected (self->cache_row, KE_CACHE_OFF);
  cache_selected_cb (self);
}

/* Whether a listed LoRA is enabled, with its strengths (TI2V-5B: the one strength for both) */
static gboolean
entry_strengths (KinoraWindow    *self,
                 KinoraLoraEntry *e,
                 double          *strength,
                 double          *strength_high)
{
  *strength = gtk_spin_button_get_value (e->strength);
  *strength_high = is_a14b (self) ? gtk_spin_button_get_value (e->strength_high) : *strength;
  return adw_expander_row_get_enable_expansion (e->row);
}

/* For the pre-flight estimate (the params keep the strengths as doubles: _kinora_window_speed_to_params) */
int
_kinora_window_lora_specs (KinoraWindow        *self,
                           struct ke_lora_spec *specs)
{
  int n = 0;

  for (guint i = 0; self->loras != NULL && i < self->loras->len && n < KE_MAX_LORAS; i++)
    {
      KinoraLoraEntry *e = g_ptr_array_index (self->loras, i);
      double s, sh;

      if (!entry_strengths (self, e, &s, &sh))
        continue;
      specs[n].path = e->path;
      specs[n].strength = (float) s;
      specs[n].strength_high = (float) sh;
      n++;
    }
  return n;
}

void
_kinora_window_speed_to_params (KinoraWindow *self,
                                KinoraParams *p)
{
  guint cache = adw_combo_row_get_selected (self->cache_row);
  g_autofree char *taehv = g_settings_get_string (self->settings, _kinora_window_taehv_key (self->task));

  kinora_params_clear_loras (p);
  for (guint i = 0; i < self->loras->len; i++)
    {
      KinoraLoraEntry *e = g_ptr_array_index (self->loras, i);
      double s, sh;

      if (entry_strengths (self, e, &s, &sh))
        kinora_params_add_lora (p, e->path, s, sh);
    }
  p->cache = cache <= KE_CACHE_TEA ? (enum ke_cache_mode) cache : KE_CACHE_OFF;
  p->cache_threshold = p->cache == KE_CACHE_OFF ? -1 : gtk_spin_button_get_value (self->cache_threshold_spin);
  p->decoder = g_settings_get_boolean (self->settings, "draft-decode") ? KE_DECODER_TAEHV : KE_DECODER_VAE;
  p->preview_source = g_settings_get_enum (self->settings, "preview-source") == 1 ? KE_PREVIEW_TAEHV
                                                                                  : KE_PREVIEW_LATENT;
  g_free (p->taehv_path);
  p->taehv_path = taehv[0] != '\0' ? g_steal_pointer (&taehv) : NULL;
}

/* After the sampling controls are set: the solver has set the Fast switch */
void
_kinora_window_speed_apply (KinoraWindow       *self,
                            const KinoraParams *params)
{
  g_clear_pointer (&self->before_fast, kinora_params_free);
  remove_all_loras (self);
  for (int i = 0; i < params->n_loras; i++)
    _kinora_window_add_lora (self, params->loras[i].path, params->loras[i].strength,
                             params->loras[i].strength_high);
  adw_expander_row_set_expanded (self->lora_row, params->n_loras > 0);

  adw_combo_row_set_selected (self->cache_row, params->cache);
  cache_selected_cb (self);
  if (params->cache != KE_CACHE_OFF && params->cache_threshold >= 0)
    gtk_spin_button_set_value (self->cache_threshold_spin, params->cache_threshold);

  /* TAEHV: preferences, which the run recorded */
  g_settings_set_boolean (self->settings, "draft-decode", params->decoder == KE_DECODER_TAEHV);
  g_settings_set_enum (self->settings, "preview-source", params->preview_source == KE_PREVIEW_TAEHV ? 1 : 0);
  if (params->taehv_path != NULL && params->taehv_path[0] != '\0')
    g_settings_set_string (self->settings, _kinora_window_taehv_key (params->task), params->taehv_path);
}

void
_kinora_window_speed_init (KinoraWindow *self)
{
  self->loras = g_ptr_array_new_with_free_func ((GDestroyNotify) lora_entry_free);
  gtk_adjustment_set_upper (gtk_spin_button_get_adjustment (self->cache_threshold_spin), KE_MAX_CACHE_THRESHOLD);
  g_signal_connect_swapped (self->fast_switch, "notify::active", G_CALLBACK (fast_switch_cb), self);
  g_signal_connect_swapped (self->solver_row, "notify::selected", G_CALLBACK (solver_selected_cb), self);
  g_signal_connect_swapped (self->cache_row, "notify::selected", G_CALLBACK (cache_selected_cb), self);
  update_lora_subtitle (self);
}

void
_kinora_window_speed_dispose (KinoraWindow *self)
{
  for (guint i = 0; self->loras != NULL && i < self->loras->len; i++)
    {
      KinoraLoraEntry *e = g_ptr_array_index (self->loras, i);

      g_signal_handlers_disconnect_by_data (e->row, self);
      g_signal_handlers_disconnect_by_data (e->strength, e);
      g_signal_handlers_disconnect_by_data (e->strength_high, e);
    }
  g_clear_pointer (&self->before_fast, kinora_params_free);
  g_clear_pointer (&self->loras, g_ptr_array_unref);
}

void
_kinora_window_speed_class_init (GtkWidgetClass *widget_class)
{
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, lora_row);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, fast_row);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, fast_switch);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, cache_row);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, cache_threshold_row);
  gtk_widget_class_bind_template_child (widget_class, KinoraWindow, cache_threshold_spin);
  gtk_widget_class_install_action (widget_class, "win.add-lora", NULL, add_lora_action);
}
