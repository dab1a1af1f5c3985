/* kinora-catalog.h: the model catalog (data/models.json): named entries, each a set of hub files with
 * their roles (dit, text-encoder, tokenizer, vae, lora, ...) and the entries they pair with; and where
 * models live on disk.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct
{
  char    *role;
  char    *repo;
  char    *path;
  char    *revision;  /* NULL: main */
  char    *sha256;    /* NULL: unknown, learned from the server */
  guint64  size;      /* 0: unknown */
} KinoraCatalogFile;

typedef struct
{
  char       *name;
  char       *title;
  char       *kind;
  char       *note;   /* NULL without one */
  GPtrArray  *files;  /* KinoraCatalogFile */
  char      **pairs;  /* names of entries this one is used with; never NULL */
} KinoraCatalogEntry;

typedef struct
{
  GPtrArray *entries; /* KinoraCatalogEntry */
} KinoraCatalog;

/* KINORA_CATALOG, else the installed data file (the source tree's before installation). */
char                     *kinora_catalog_dup_default_path (void);
/* KINORA_MODELS_DIR, else $XDG_DATA_HOME/kinora/models. */
char                     *kinora_models_dup_dir           (void);

/* Parse and check: unique names, every file with a role, a repository OWNER/NAME and a relative path,
 * sizes whole numbers or null, digests 64 hex digits or null, every pair an entry of the catalog. */
KinoraCatalog            *kinora_catalog_load             (const char         *path,
                                                           GError            **error);
void                      kinora_catalog_free             (KinoraCatalog      *self);
const KinoraCatalogEntry *kinora_catalog_lookup           (const KinoraCatalog *self,
                                                           const char         *name);
/* MODELS_DIR/OWNER/NAME/PATH: the repository's own layout, so a folder is a model folder. */
char                     *kinora_catalog_file_dest        (const char         *models_dir,
                                                           const KinoraCatalogFile *file);
/* The sum of the known sizes; *complete FALSE when some are unknown. */
guint64                   kinora_catalog_entry_size       (const KinoraCatalogEntry *entry,
                                                           gboolean           *complete);
/* How many of the entry's files are in MODELS_DIR. */
guint                     kinora_catalog_entry_n_present  (const KinoraCatalogEntry *entry,
                                                           const char         *models_dir);

/* What to open for the model a Kinora file recorded: "tiny" for the built-in test model (the CLI
 * records "tiny ti2v-5B test model (random weights)"), the folder of "Wan2.2 TI2V-5B (FOLDER)", else
 * the text itself (a folder or "tiny", as the app records it). NULL for NULL or "". */
char                     *kinora_models_spec_from_recorded (const char    *recorded);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (KinoraCatalog, kinora_catalog_free)

G_END_DECLS
