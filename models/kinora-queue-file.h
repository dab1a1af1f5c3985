/* kinora-queue-file.h: a queue of generation jobs as a JSON file, shared by the app (its queue
 * survives a restart) and `kinora-cli queue FILE` (runs one headless).
 *
 *   { "format": 1, "paused": false,
 *     "jobs": [ { "id": "...", "state": "pending|running|done|failed", "error": "...",
 *                 "output": "fox.mp4", "settings": { the metadata vocabulary of kinora-metadata.h } } ] }
 *
 * Saving writes a temporary file and renames it over the old one (g_file_set_contents), so a crash
 * leaves the old queue or the new one, never half of one.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  KINORA_QUEUE_PENDING,
  KINORA_QUEUE_RUNNING,
  KINORA_QUEUE_DONE,
  KINORA_QUEUE_FAILED,
} KinoraQueueState;

typedef struct
{
  char            *id;
  KinoraQueueState state;
  char            *error;     /* why it failed, NULL otherwise */
  char            *output;    /* where the video goes (relative: to the queue file's folder); may be NULL */
  char            *settings;  /* a JSON object in the metadata vocabulary */
} KinoraQueueEntry;

typedef struct
{
  gboolean   paused;
  GPtrArray *entries;  /* KinoraQueueEntry */
} KinoraQueueFile;

KinoraQueueFile  *kinora_queue_file_new          (void);
/* A missing file is G_FILE_ERROR_NOENT; a malformed one G_IO_ERROR_INVALID_DATA naming the file. */
KinoraQueueFile  *kinora_queue_file_load         (const char            *path,
                                                  GError               **error);
gboolean          kinora_queue_file_save         (const KinoraQueueFile *self,
                                                  const char            *path,
                                                  GError               **error);
void              kinora_queue_file_free         (KinoraQueueFile       *self);

/* A pending entry with a fresh id; SETTINGS must be a JSON object (else NULL). */
KinoraQueueEntry *kinora_queue_entry_new         (const char            *settings,
                                                  const char            *output);
KinoraQueueEntry *kinora_queue_entry_copy        (const KinoraQueueEntry *entry);
void              kinora_queue_entry_free        (KinoraQueueEntry      *entry);
void              kinora_queue_entry_set_state   (KinoraQueueEntry      *entry,
                                                  KinoraQueueState       state,
                                                  const char            *error);

const char       *kinora_queue_state_to_string   (KinoraQueueState       state);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (KinoraQueueFile, kinora_queue_file_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (KinoraQueueEntry, kinora_queue_entry_free)

G_END_DECLS
