/* kinora-window-private.h: fields and helpers shared by kinora-window.c and kinora-window-actions.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "kinora-history.h"
#include "kinora-history-view.h"
#include "kinora-image-picker.h"
#include "kinora-job.h"
#include "kinora-player.h"
#include "kinora-preview-view.h"
#include "kinora-window.h"

G_BEGIN_DECLS

struct _KinoraWindow
{
  AdwApplicationWindow parent_instance;

  /* Template widgets */
  AdwToastOverlay     *toast_overlay;
  AdwViewStack        *view_stack;
  AdwFlap             *flap;
  GtkTextView         *prompt_view;
  GtkTextView         *negative_view;
  GtkExpander         *negative_expander;
  GtkListBox          *recent_list;
  GtkPopover          *recent_popover;
  KinoraImagePicker   *image_picker;
  AdwPreferencesGroup *image_group;
  AdwComboRow         *model_row;
  AdwComboRow         *task_row;
  AdwComboRow         *size_row;
  GtkSpinButton       *frames_spin;
  GtkSpinButton       *fps_spin;
  GtkSpinButton       *seed_spin;
  GtkToggleButton     *seed_lock;
  GtkSpinButton       *steps_spin;
  GtkSpinButton       *guide_spin;
  GtkSpinButton       *shift_spin;
  GtkSpinButton       *guide_high_spin;
  AdwPreferencesRow   *guide_row;
  AdwPreferencesRow   *guide_high_row;
  AdwPreferencesRow   *steps_row;
  AdwPreferencesRow   *shift_row;
  GtkLabel            *guide_label;
  GtkScale            *seed_scale;
  GtkScale            *steps_scale;
  GtkScale            *guide_scale;
  GtkScale            *guide_high_scale;
  GtkScale            *shift_scale;
  AdwComboRow         *solver_row;
  AdwExpanderRow      *advanced_row;
  AdwPreferencesGroup *model_group;
  AdwPreferencesGroup *sampling_group;
  GtkScrolledWindow   *sidebar_scroll;
  GtkStack            *output_stack;
  GtkLabel            *no_model_label;
  KinoraPreviewView   *preview_view;
  KinoraPlayer        *player;
  GtkLabel            *result_label;
  GtkWidget           *generate_button;
  GtkWidget           *cancel_button;
  GtkWidget           *keep_button;
  GtkLabel            *estimate_label;
  AdwStatusPage       *ready_page;
  KinoraHistoryView   *history_view;
  /* the speed-ups: LoRAs, the few-step preset, the step cache (kinora-window-speed.c) */
  AdwExpanderRow      *lora_row;
  AdwActionRow        *fast_row;
  GtkSwitch           *fast_switch;
  AdwComboRow         *cache_row;
  AdwActionRow        *cache_threshold_row;
  GtkSpinButton       *cache_threshold_spin;

  /* Owned references */
  GSettings     *settings;
  KinoraHistory *history;
  GtkStringList *model_names;   /* shown in model_row */
  GPtrArray     *model_paths;   /* char*, parallel to model_names */
  GtkStringList *size_names;
  KinoraJob     *job;           /* the running generate job, or NULL */
  GCancellable  *job_cancellable;
  GCancellable  *load_cancellable;
  KinoraVideo   *result;        /* the current result's frames */
  KinoraParams  *result_params;
  GtkNativeDialog *chooser;

  enum ke_task task;
  gboolean     model_is_random;
  gboolean     loaded_random;   /* what the last loaded model was */
  gboolean     updating;        /* controls are being set from code */
  gboolean     restoring;       /* settings were restored: a model load keeps them */
  gboolean     syncing;         /* a slider and its spin button are being matched */
  gboolean     seed_pressed;    /* a pointer button is down on the seed slider */
  guint        seed_recentre_id;
  GtkWindow   *preferences;     /* borrowed: the open preferences window, or NULL */
  guint        n_previews;      /* preview signals of the current job */
  guint        n_exports_done;  /* exports finished, ok or not */
  GError      *last_error;      /* the last error shown, for tests */
  KinoraHistoryItem *result_item; /* the history entry shown as result */
  GPtrArray    *loras;          /* KinoraLoraEntry, in the order of lora_row */
  KinoraParams *before_fast;    /* the sampling values from before Fast was switched on, or NULL */
  gboolean      fast_syncing;   /* the Fast switch follows the solver */
  struct ke_model_desc model_desc; /* the loaded model, for the pre-flight estimate */
  gboolean     have_model_desc;
  /* model capabilities: the rules of the chosen model (frame step, size multiple, fixed guidance
   * and steps, presets), read from its files by the load job */
  struct ke_model_caps caps;
  gboolean     have_caps;
};

/* One LoRA of the list (kinora-window-speed.c): an expander row with its switch, file and strengths */
typedef struct
{
  KinoraWindow   *window;
  AdwExpanderRow *row;
  char           *path;
  GtkSpinButton  *strength;       /* TI2V-5B's one DiT, or A14B's low-noise expert */
  GtkSpinButton  *strength_high;  /* A14B's high-noise expert */
  AdwActionRow   *strength_row;
  AdwActionRow   *high_row;
  GtkWidget      *remove;         /* the remove button */
} KinoraLoraEntry;

void _kinora_window_class_actions_init (KinoraWindowClass *klass);
void _kinora_window_update_actions     (KinoraWindow      *self);
char *_kinora_window_dup_models_doc_uri (void);
void _kinora_window_toast              (KinoraWindow      *self,
                                        const char        *message);
void _kinora_window_select_model       (KinoraWindow      *self,
                                        const char        *path);
void _kinora_window_add_model_folder   (KinoraWindow      *self,
                                        const char        *path);
void _kinora_window_show_result        (KinoraWindow      *self,
                                        KinoraHistoryItem *item,
                                        KinoraVideo       *frames);
void _kinora_window_add_recent_prompt  (KinoraWindow      *self,
                                        const char        *prompt);
void _kinora_window_reset_defaults     (KinoraWindow      *self);
/* model capabilities: the chosen model's rules, NULL before its files were read */
const struct ke_model_caps *_kinora_window_get_caps (KinoraWindow *self);
/* The precision preference (bf16, fp32 or fp8) as the engine's enum */
enum ke_precision _kinora_window_get_precision (KinoraWindow *self);
/* A frame count snapped to the chosen model's step (4n+1 before a model is read) */
int _kinora_window_snap_frames         (KinoraWindow      *self,
                                        int                n_frames);

/* kinora-window-speed.c: LoRAs, Fast (the Lightning preset), the step cache and the TAEHV preferences */
void _kinora_window_speed_class_init   (GtkWidgetClass    *widget_class);
void _kinora_window_speed_init         (KinoraWindow      *self);
void _kinora_window_speed_dispose      (KinoraWindow      *self);
void _kinora_window_speed_update_task  (KinoraWindow      *self);
void _kinora_window_speed_reset        (KinoraWindow      *self);
/* The enabled LoRAs as engine specs (paths borrowed from the list; room for KE_MAX_LORAS); the count */
int  _kinora_window_lora_specs         (KinoraWindow      *self,
                                        struct ke_lora_spec *specs);
void _kinora_window_speed_to_params    (KinoraWindow      *self,
                                        KinoraParams      *params);
void _kinora_window_speed_apply        (KinoraWindow      *self,
                                        const KinoraParams *params);
/* Adds a row for a LoRA file (enabled, the strengths given); NULL when KE_MAX_LORAS are listed */
KinoraLoraEntry *_kinora_window_add_lora (KinoraWindow    *self,
                                          const char      *path,
                                          double           strength,
                                          double           strength_high);
void _kinora_window_remove_lora        (KinoraWindow      *self,
                                        KinoraLoraEntry   *entry);
/* The GSettings key of the TAEHV weights for a task's latents (taew2_2 for TI2V-5B, taew2_1 for A14B) */
const char *_kinora_window_taehv_key   (enum ke_task       task);
/* kinora-window-estimate.c: the pre-flight estimate under the Generate button */
void _kinora_window_estimate_init      (KinoraWindow      *self);
void _kinora_window_update_estimate    (KinoraWindow      *self);

/* kinora-window-sampling.c: the sliders, their spin buttons and the scroll guard */
void _kinora_window_sampling_init      (KinoraWindow      *self);
void _kinora_window_sampling_dispose   (KinoraWindow      *self);
void _kinora_window_mark_defaults      (KinoraWindow      *self);
void _kinora_window_recentre_seed      (KinoraWindow      *self);
void _kinora_window_update_advanced_subtitle (KinoraWindow *self);
/* A scroll over a spin button or slider under @widget scrolls the sidebar unless it has the focus */
void _kinora_window_add_scroll_guards  (KinoraWindow      *self,
                                        GtkWidget         *widget);
gboolean _kinora_window_guard_scroll   (KinoraWindow      *self,
                                        GtkWidget         *widget,
                                        double             dy,
                                        GdkScrollUnit      unit);

G_END_DECLS

G_BEGIN_DECLS
/* Export the current result to @dest (no dialog); the window shows the outcome as a toast.
 * n_exports_done counts finished exports, for tests. */
#include "kinora-exporter.h"
void _kinora_window_export             (KinoraWindow      *self,
                                        KinoraExportFormat format,
                                        GFile             *dest);
G_END_DECLS
