/* kinora-params.h: the settings of one generation, owned by the GUI, with JSON round trip
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib-object.h>
#include <gdk/gdk.h>
#include <graphene.h>
#include "ke.h"

G_BEGIN_DECLS

#define KINORA_TYPE_PARAMS (kinora_params_get_type ())

/* A self-contained copy of everything ke_generate needs, plus what the GUI shows.
 * Strings and the image are owned; copy with kinora_params_copy. */
typedef struct
{
  char          *model;            /* model folder, or "tiny" */
  enum ke_task   task;
  char          *prompt;
  char          *negative_prompt;  /* NULL or "": the official default */
  char          *image_path;       /* the chosen image, for display and reuse */
  GBytes        *image_rgb;        /* RGB8, image_width * image_height * 3 */
  int            image_width;
  int            image_height;
  int            width;
  int            height;
  int            n_frames;
  int            steps;
  double         guide;
  double         guide_high;
  double         shift;
  gint64         seed;
  double         fps;
  enum ke_solver solver;
  char          *backend;          /* "auto", "cpu" or "cuda"; NULL: the job's choice */
  enum ke_precision precision;
  double         vram_gib;         /* device memory budget (GiB, 0: the default); a preference, not recorded */
  /* LoRAs, step cache and TAEHV (the speed-ups of issue 14) */
  struct ke_lora_spec *loras;      /* n_loras LoRAs that run (paths owned); see kinora_params_add_lora */
  int            n_loras;
  enum ke_cache_mode cache;
  double         cache_threshold;  /* < 0: the mode's default */
  int            cache_skipped;    /* of a result: DiT forwards the step cache skipped */
  enum ke_decoder decoder;         /* KE_DECODER_TAEHV: draft decode */
  enum ke_preview_source preview_source;
  char          *taehv_path;       /* the TAEHV weights; NULL when not chosen */
} KinoraParams;

GType         kinora_params_get_type        (void) G_GNUC_CONST;
KinoraParams *kinora_params_new             (void);
KinoraParams *kinora_params_new_for_task    (enum ke_task        task);
KinoraParams *kinora_params_copy            (const KinoraParams *self);
void          kinora_params_free            (KinoraParams       *self);
void          kinora_params_to_ke           (const KinoraParams *self,
                                             struct ke_gen_params *out,
                                             struct ke_image    *image_storage);
char         *kinora_params_to_json         (const KinoraParams *self);
KinoraParams *kinora_params_new_from_json   (const char         *json,
                                             GError            **error);
/* Appends a LoRA (at most KE_MAX_LORAS; FALSE beyond) / removes them all */
gboolean      kinora_params_add_lora        (KinoraParams       *self,
                                             const char         *path,
                                             double              strength,
                                             double              strength_high);
void          kinora_params_clear_loras     (KinoraParams       *self);
gboolean      kinora_params_set_image_from_texture (KinoraParams *self,
                                                    GdkTexture   *texture,
                                                    const char   *path);

const char   *kinora_task_to_string         (enum ke_task        task);
gboolean      kinora_task_from_string       (const char         *str,
                                             enum ke_task       *task);
const char   *kinora_task_get_title         (enum ke_task        task);
const char   *kinora_stage_get_title        (enum ke_stage       stage);

/* The size presets of a task (NULL-terminated "W*H" strings, static) */
const char * const *kinora_task_get_sizes   (enum ke_task        task,
                                             gboolean            tiny);
gboolean      kinora_parse_size             (const char         *str,
                                             int                *width,
                                             int                *height);
char         *kinora_size_to_label          (int                 width,
                                             int                 height);
int           kinora_snap_frames            (int                 n_frames);

/* The crop the engine uses for an image: the region of the image (x, y, w, h) and
 * the output size it is scaled to. */
void          kinora_image_crop             (enum ke_task        task,
                                             int                 image_width,
                                             int                 image_height,
                                             int                 width,
                                             int                 height,
                                             graphene_rect_t    *crop,
                                             int                *out_width,
                                             int                *out_height);

const char   *kinora_default_negative_prompt (void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (KinoraParams, kinora_params_free)

G_END_DECLS
