/* kinora-metadata.h: the one vocabulary of the parameters stored with a generated video: the tags
 * of MP4, WebM, PNG and GIF files and the sidecar JSON, written from struct ke_gen_params and read
 * back into it. Files written by earlier versions (the CLI's "guide", "guide_high", "size" and
 * solver names; the GUI's "guidance", "guidance_high", "width"/"height" and solver numbers) are read
 * too.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include "ke.h"

G_BEGIN_DECLS

/* What a file says about the run that made it. params.prompt and params.negative_prompt point into
 * strings the struct owns, params.backend at a static name; params.image and the callbacks are NULL. */
typedef struct
{
  struct ke_gen_params params;
  char                *model;      /* model name or folder, NULL when not recorded */
  char                *image;      /* the conditioning image's path, NULL without one */
  char               **digests;    /* NULL-terminated name, digest pairs ("image", "sha256:..."), or NULL */
  char                *generator;  /* "Kinora 0.1.0", NULL when not recorded */
  char                *model_family;  /* "Wan2.2", "LTX-Video"; NULL when not recorded */
  char                *model_version; /* "LTX-Video 13B 0.9.8 distilled", NULL when not recorded */
  /*< private >*/
  char                *prompt_storage;
  char                *negative_storage;
  struct ke_lora_spec *lora_storage;   /* params.loras; paths in lora_paths */
  char               **lora_paths;
  char                *taehv_storage;    /* TAEHV weights path */
} KinoraMetadata;

/* NULL-terminated key, value pairs: prompt, negative_prompt (when not the default), model, model_family and
 * model_version (the model's capabilities, when the model is a path or "tiny" that can be read), task,
 * width, height, frames, fps, steps, guidance, guidance_high, shift, seed, solver (by name), backend
 * (auto, cpu or cuda), precision (bf16 or fp32), decode, preview and taehv (only when TAEHV is used), image,
 * lora.N, lora.N.strength, lora.N.strength_high (N from 1: the LoRA files in order; in the JSON a "loras"
 * array of {path, strength, strength_high}),
 * digest.NAME, generator. Text that is not UTF-8 is repaired (U+FFFD for each bad byte). */
char          **kinora_metadata_to_tags      (const struct ke_gen_params *params,
                                              const char                 *model,
                                              const char                 *image,
                                              const char * const         *digests);
/* The same as a JSON object (numbers as numbers, digests as an object), always valid UTF-8. */
char           *kinora_metadata_to_json      (const struct ke_gen_params *params,
                                              const char                 *model,
                                              const char                 *image,
                                              const char * const         *digests);
/* Any tag pairs as such a JSON object: keys of the vocabulary that hold numbers become numbers,
 * everything else a string, "digest.NAME" pairs the "digests" object; repaired to UTF-8. */
char           *kinora_metadata_tags_to_json (const char * const         *tags);

/* Parse the JSON object, or the tag pairs, or a text that is either the JSON or "key=value" lines
 * (the comment of older files). Keys that are absent keep the task's defaults. */
KinoraMetadata *kinora_metadata_new_from_json (const char                *json,
                                               GError                   **error);
KinoraMetadata *kinora_metadata_new_from_tags (const char * const        *tags,
                                               GError                   **error);
KinoraMetadata *kinora_metadata_new_from_text (const char                *text,
                                               GError                   **error);
void            kinora_metadata_free          (KinoraMetadata            *self);

/* "sha256:" and the hex digest of a file's bytes. */
char           *kinora_metadata_file_digest   (const char                *path,
                                               GError                   **error);

/* Read the parameters back from a Kinora MP4 or WebM (the container's comment tag, through
 * GstDiscoverer), a PNG frame or a folder of them (the text chunks), a GIF (its comment extension)
 * or a sidecar .json. */
KinoraMetadata *kinora_metadata_read          (const char                *path,
                                               GError                   **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (KinoraMetadata, kinora_metadata_free)

G_END_DECLS
