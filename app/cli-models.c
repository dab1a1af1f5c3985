/* cli-models.c: kinora-cli models list|download|verify|remove: the catalog's models, and any hub file,
 * downloaded with resume and SHA-256 checks (models/kinora-hub.c); models inspect PATH: what a model's
 * files hold (family, version, components), from the engine's ke_model_probe.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>
#include <glib-unix.h>

#include "args.h"
#include "cli.h"
#include "ke.h"
#include "kinora-catalog.h"
#include "kinora-hub.h"

static void
usage (FILE *f)
{
  fprintf (f,
           "usage: kinora-cli models list\n"
           "       kinora-cli models download NAME [--with-pairs]\n"
           "       kinora-cli models download --repo OWNER/NAME --file PATH [--revision R] [--sha256 HEX] --dest DIR\n"
           "       kinora-cli models verify [NAME...]\n"
           "       kinora-cli models remove NAME...\n"
           "       kinora-cli models inspect PATH\n"
           "  --catalog FILE     the catalog (default: $KINORA_CATALOG or the installed models.json)\n"
           "  --models-dir DIR   where models live (default: $KINORA_MODELS_DIR or $XDG_DATA_HOME/kinora/models)\n"
           "  --quiet            no progress line\n"
           "Catalog files go to MODELS_DIR/OWNER/NAME/PATH; --dest DIR puts a hub file at DIR/PATH.\n"
           "HF_ENDPOINT points at a mirror; HF_TOKEN (or the token file of huggingface-cli login) opens gated\n"
           "repositories. An interrupted download resumes from its .partial file.\n"
           "inspect prints a model's family (Wan2.2 or LTX-Video), version, and each component found with its\n"
           "tensor count, parameter count and dtypes; PATH is what generate --model takes.\n");
}

enum { OPT_CATALOG = 256, OPT_MODELS_DIR, OPT_QUIET, OPT_REPO, OPT_FILE, OPT_REVISION, OPT_SHA256, OPT_DEST, OPT_PAIRS };

static const struct option models_options[] = {
  { "help", no_argument, NULL, 'h' },
  { "catalog", required_argument, NULL, OPT_CATALOG },
  { "models-dir", required_argument, NULL, OPT_MODELS_DIR },
  { "quiet", no_argument, NULL, OPT_QUIET },
  { "repo", required_argument, NULL, OPT_REPO },
  { "file", required_argument, NULL, OPT_FILE },
  { "revision", required_argument, NULL, OPT_REVISION },
  { "sha256", required_argument, NULL, OPT_SHA256 },
  { "dest", required_argument, NULL, OPT_DEST },
  { "with-pairs", no_argument, NULL, OPT_PAIRS },
  { NULL, 0, NULL, 0 },
};

typedef struct
{
  const char *catalog, *models_dir, *repo, *file, *revision, *sha256, *dest;
  gboolean    quiet, with_pairs;
} Options;

/* ---- progress and Ctrl+C --------------------------------------------------------------------- */

typedef struct
{
  const KinoraHubFile *file;
  GCancellable        *cancel;
  GMainLoop           *loop;
  gboolean             quiet;
  gboolean             ok;
  GError              *error;
} Run;

static void
progress_cb (const KinoraHubProgress *p,
             gpointer                 user_data)
{
  Run *run = user_data;
  if (run->quiet)
    return;
  g_autofree char *done = g_format_size (p->done);
  g_autofree char *total = p->total ? g_format_size (p->total) : g_strdup ("?");
  g_autofree char *rate = g_format_size ((guint64) p->rate);
  char eta[32] = "";
  if (p->eta_s >= 0)
    g_snprintf (eta, sizeof eta, "  ETA %.0fs", p->eta_s);
  fprintf (stderr, "\r%s: %s / %s  %s/s%s    ", run->file->path, done, total, rate, eta);
  fflush (stderr);
}

static gboolean
quit_cb (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

static gpointer
download_thread (gpointer data)
{
  Run *run = data;
  run->ok = kinora_hub_download (run->file, progress_cb, run, run->cancel, &run->error);
  g_main_context_invoke (NULL, quit_cb, run->loop);
  return NULL;
}

static gboolean
sigint_cb (gpointer data)
{
  g_cancellable_cancel (data);
  return G_SOURCE_CONTINUE;
}

/* Download one file in a thread while the main loop waits for Ctrl+C; 0, 1 (failed) or 130. */
static int
download_one (const KinoraHubFile *file,
              gboolean             quiet)
{
  g_autoptr (GCancellable) cancel = g_cancellable_new ();
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  Run run = { file, cancel, loop, quiet || !isatty (STDERR_FILENO), FALSE, NULL };
  guint sig = g_unix_signal_add (SIGINT, sigint_cb, cancel);
  if (g_file_test (file->dest, G_FILE_TEST_EXISTS))
    {
      g_source_remove (sig);
      fprintf (stderr, "%s: already there\n", file->dest);
      return 0;
    }
  GThread *t = g_thread_new ("download", download_thread, &run);
  g_main_loop_run (loop);
  g_thread_join (t);
  g_source_remove (sig);
  if (!run.quiet)
    fputc ('\n', stderr);
  if (!run.ok)
    {
      gboolean cancelled = g_error_matches (run.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
      if (cancelled)
        fprintf (stderr, "kinora-cli models: %s: cancelled; run the same command again to resume\n", file->path);
      else
        fprintf (stderr, "kinora-cli models: %s\n", run.error->message);
      g_clear_error (&run.error);
      return cancelled ? 130 : 1;
    }
  fprintf (stderr, "%s: done\n", file->dest);
  return 0;
}

/* ---- subcommands ------------------------------------------------------------------------------ */

static KinoraCatalog *
load_catalog (const Options *o)
{
  g_autofree char *path = o->catalog ? g_strdup (o->catalog) : kinora_catalog_dup_default_path ();
  g_autoptr (GError) error = NULL;
  KinoraCatalog *cat = kinora_catalog_load (path, &error);
  if (cat == NULL)
    fprintf (stderr, "kinora-cli models: the catalog: %s\n", error->message);
  return cat;
}

static char *
models_dir (const Options *o)
{
  return o->models_dir ? g_strdup (o->models_dir) : kinora_models_dup_dir ();
}

static int
cmd_list (const Options *o)
{
  g_autoptr (KinoraCatalog) cat = load_catalog (o);
  if (cat == NULL)
    return 1;
  g_autofree char *dir = models_dir (o);
  printf ("models in %s\n", dir);
  for (guint i = 0; i < cat->entries->len; i++)
    {
      const KinoraCatalogEntry *e = g_ptr_array_index (cat->entries, i);
      guint n = e->files->len, have = kinora_catalog_entry_n_present (e, dir);
      gboolean complete = FALSE;
      guint64 size = kinora_catalog_entry_size (e, &complete);
      g_autofree char *fs = g_format_size (size);
      g_autofree char *s = size == 0 ? g_strdup ("size unknown") : complete ? g_strdup (fs) : g_strdup_printf (">= %s", fs);
      g_autofree char *state = have == n ? g_strdup ("installed")
                               : have == 0 ? g_strdup ("not installed")
                                           : g_strdup_printf ("partly installed (%u/%u files)", have, n);
      printf ("%-36s %-13s %-30s %-13s %s\n", e->name, e->kind, state, s, e->title);
    }
  return 0;
}

static int
download_entry (const Options            *o,
                const KinoraCatalogEntry *e,
                const char               *dir)
{
  g_autofree char *endpoint = kinora_hub_dup_endpoint ();
  g_autofree char *token = kinora_hub_dup_token ();
  for (guint i = 0; i < e->files->len; i++)
    {
      const KinoraCatalogFile *cf = g_ptr_array_index (e->files, i);
      g_autofree char *dest = kinora_catalog_file_dest (dir, cf);
      KinoraHubFile f = { endpoint, token, cf->repo, cf->revision, cf->path, dest, cf->sha256, cf->size };
      int rc = download_one (&f, o->quiet);
      if (rc != 0)
        return rc;
    }
  return 0;
}

static int
cmd_download (const Options *o,
              char         **names)
{
  if (o->repo || o->file || o->dest || o->revision || o->sha256)
    {
      if (!o->repo || !o->file || !o->dest || names[0])
        {
          fprintf (stderr, "kinora-cli models download: a hub file takes --repo, --file and --dest, and no NAME\n");
          return 2;
        }
      if (o->sha256 && (strlen (o->sha256) != 64 || strspn (o->sha256, "0123456789abcdefABCDEF") != 64))
        {
          fprintf (stderr, "kinora-cli models download: --sha256 %s: use 64 hex digits\n", o->sha256);
          return 2;
        }
      g_autoptr (GError) error = NULL;
      if (!kinora_hub_check_names (o->repo, o->file, &error))
        {
          fprintf (stderr, "kinora-cli models download: %s\n", error->message);
          return 2;
        }
      g_autofree char *endpoint = kinora_hub_dup_endpoint ();
      g_autofree char *token = kinora_hub_dup_token ();
      g_autofree char *dest = g_build_filename (o->dest, o->file, NULL);
      KinoraHubFile f = { endpoint, token, o->repo, o->revision, o->file, dest, o->sha256, 0 };
      return download_one (&f, o->quiet);
    }
  if (names[0] == NULL || names[1] != NULL)
    {
      fprintf (stderr, "kinora-cli models download: name one catalog entry (see models list), or use --repo/--file/--dest\n");
      return 2;
    }
  g_autoptr (KinoraCatalog) cat = load_catalog (o);
  if (cat == NULL)
    return 1;
  const KinoraCatalogEntry *e = kinora_catalog_lookup (cat, names[0]);
  if (e == NULL)
    {
      fprintf (stderr, "kinora-cli models download: no entry '%s' in the catalog (see models list)\n", names[0]);
      return 1;
    }
  g_autofree char *dir = models_dir (o);
  int rc = download_entry (o, e, dir);
  for (int j = 0; rc == 0 && o->with_pairs && e->pairs[j]; j++)
    rc = download_entry (o, kinora_catalog_lookup (cat, e->pairs[j]), dir);
  return rc;
}

/* 0 verified, 1 mismatch or unreadable, -1 no digest to check against (present, unverified) */
static int
verify_file (const char *dest,
             const char *want_catalog)
{
  g_autofree char *recorded = kinora_hub_dup_recorded_sha256 (dest);
  const char *want = want_catalog ? want_catalog : recorded;
  g_autoptr (GError) error = NULL;
  g_autofree char *got = kinora_hub_file_sha256 (dest, NULL, &error);
  if (got == NULL)
    {
      printf ("unreadable  %s: %s\n", dest, error->message);
      return 1;
    }
  if (want == NULL)
    {
      printf ("no digest   %s (sha256 %s)\n", dest, got);
      return -1;
    }
  if (g_ascii_strcasecmp (want, got) != 0)
    {
      printf ("MISMATCH    %s: sha256 %s, expected %s\n", dest, got, want);
      return 1;
    }
  printf ("ok          %s\n", dest);
  return 0;
}

static int
cmd_verify (const Options *o,
            char         **names)
{
  g_autoptr (KinoraCatalog) cat = load_catalog (o);
  if (cat == NULL)
    return 1;
  g_autofree char *dir = models_dir (o);
  int bad = 0, checked = 0;
  for (int k = 0; names[k]; k++)
    if (kinora_catalog_lookup (cat, names[k]) == NULL)
      {
        fprintf (stderr, "kinora-cli models verify: no entry '%s' in the catalog\n", names[k]);
        return 1;
      }
  for (guint i = 0; i < cat->entries->len; i++)
    {
      const KinoraCatalogEntry *e = g_ptr_array_index (cat->entries, i);
      gboolean named = names[0] == NULL || g_strv_contains ((const char * const *) names, e->name);
      if (!named || (names[0] == NULL && kinora_catalog_entry_n_present (e, dir) == 0))
        continue;
      for (guint j = 0; j < e->files->len; j++)
        {
          const KinoraCatalogFile *cf = g_ptr_array_index (e->files, j);
          g_autofree char *dest = kinora_catalog_file_dest (dir, cf);
          if (!g_file_test (dest, G_FILE_TEST_IS_REGULAR))
            {
              printf ("missing     %s (%s)\n", dest, e->name);
              bad++;
              continue;
            }
          checked++;
          if (verify_file (dest, cf->sha256) == 1)
            bad++;
        }
    }
  printf ("%d file(s) checked, %d problem(s)\n", checked, bad);
  return bad ? 1 : 0;
}

static gboolean
used_by_other (const KinoraCatalog      *cat,
               const KinoraCatalogEntry *self,
               char                    **removing,
               const KinoraCatalogFile  *f,
               const char               *dir)
{
  for (guint i = 0; i < cat->entries->len; i++)
    {
      const KinoraCatalogEntry *e = g_ptr_array_index (cat->entries, i);
      if (e == self || g_strv_contains ((const char * const *) removing, e->name) ||
          kinora_catalog_entry_n_present (e, dir) != e->files->len)
        continue;
      for (guint j = 0; j < e->files->len; j++)
        {
          const KinoraCatalogFile *g = g_ptr_array_index (e->files, j);
          if (strcmp (g->repo, f->repo) == 0 && strcmp (g->path, f->path) == 0)
            return TRUE;
        }
    }
  return FALSE;
}

static int
cmd_remove (const Options *o,
            char         **names)
{
  if (names[0] == NULL)
    {
      fprintf (stderr, "kinora-cli models remove: name the entries to remove (see models list)\n");
      return 2;
    }
  g_autoptr (KinoraCatalog) cat = load_catalog (o);
  if (cat == NULL)
    return 1;
  g_autofree char *dir = models_dir (o);
  for (int k = 0; names[k]; k++)
    if (kinora_catalog_lookup (cat, names[k]) == NULL)
      {
        fprintf (stderr, "kinora-cli models remove: no entry '%s' in the catalog\n", names[k]);
        return 1;
      }
  int rc = 0;
  for (int k = 0; names[k]; k++)
    {
      const KinoraCatalogEntry *e = kinora_catalog_lookup (cat, names[k]);
      for (guint j = 0; j < e->files->len; j++)
        {
          const KinoraCatalogFile *cf = g_ptr_array_index (e->files, j);
          g_autofree char *dest = kinora_catalog_file_dest (dir, cf);
          g_autofree char *partial = g_strconcat (dest, ".partial", NULL);
          g_autofree char *base = g_path_get_basename (dest);
          g_autofree char *fdir = g_path_get_dirname (dest);
          g_autofree char *rec_name = g_strdup_printf (".%s.sha256", base);
          g_autofree char *rec = g_build_filename (fdir, rec_name, NULL);
          if (used_by_other (cat, e, names, cf, dir))
            {
              printf ("kept        %s (used by another installed entry)\n", dest);
              continue;
            }
          g_unlink (partial);
          g_unlink (rec);
          if (g_file_test (dest, G_FILE_TEST_EXISTS))
            {
              if (g_unlink (dest) != 0)
                {
                  fprintf (stderr, "kinora-cli models remove: %s: %s\n", dest, g_strerror (errno));
                  rc = 1;
                  continue;
                }
              printf ("removed     %s\n", dest);
            }
          /* empty folders up to the models folder go too */
          g_autofree char *d = g_strdup (fdir);
          while (g_str_has_prefix (d, dir) && strcmp (d, dir) != 0 && g_rmdir (d) == 0)
            {
              char *up = g_path_get_dirname (d);
              g_free (d);
              d = up;
            }
        }
    }
  return rc;
}

/* models inspect PATH: one line per fact, then one per component */
static int
cmd_inspect (char **paths)
{
  if (!paths[0] || paths[1])
    {
      fprintf (stderr, "kinora-cli models inspect: give one model path (a folder, a file, or files separated by commas)\n");
      return 2;
    }
  struct ke_error err = { 0 };
  struct ke_model_info info;
  if (ke_model_probe (paths[0], &info, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "kinora-cli models inspect: %s\n", err.msg);
      return 1;
    }
  printf ("family:     %s\n", ke_model_family_name (info.family));
  printf ("version:    %s\n", info.version);
  printf ("layout:     %s\n", info.layout);
  printf ("components: %d\n", info.n_parts);
  for (int i = 0; i < info.n_parts; i++)
    {
      const struct ke_model_part_info *p = &info.parts[i];
      printf ("  %-13s %6d tensors %14" G_GINT64_FORMAT " parameters (%.2f G)  %s  %s\n", p->role, p->n_tensors,
              (gint64) p->n_params, (double) p->n_params / 1e9, p->dtypes[0] ? p->dtypes : "-", p->path);
    }
  /* model capabilities: the rules kinora-cli generate and the app follow (an upsampler alone has none) */
  struct ke_model_caps caps;
  if (ke_model_caps (paths[0], &caps, NULL) == KE_STATUS_OK && strcmp (info.layout, "upsampler") != 0)
    {
      printf ("frames:     %dn+1, 1..%d (default %d at %g fps)\n", caps.frame_step, caps.max_frames, caps.n_frames,
              caps.fps);
      printf ("size:       multiples of %d%s, up to %d (default %dx%d)\n", caps.size_multiple,
              caps.image_sets_aspect ? " (with an image: the area)" : "", caps.max_side, caps.width, caps.height);
      if (caps.guidance_fixed)
        printf ("guidance:   %g, fixed by the model's config\n", (double) caps.guidance);
      else
        printf ("guidance:   default %g%s\n", (double) caps.guidance, caps.two_experts ? " (two experts)" : "");
      printf ("steps:      %d%s\n", caps.steps, caps.steps_fixed ? ", fixed by the model's config" : " by default");
      printf ("latent:     %d channels, x%d space, x%d time\n", caps.latent_channels, caps.vae_scale,
              caps.vae_time_scale);
      printf ("presets:   ");
      for (int i = 0; i < caps.n_presets; i++)
        printf (" %s (%dx%d, %d frames)%s", caps.presets[i].name, caps.presets[i].width, caps.presets[i].height,
                caps.presets[i].n_frames, i + 1 < caps.n_presets ? "," : "");
      printf ("\n");
    }
  return 0;
}

int
kinora_cli_models (int argc, char **argv)
{
  static const char cmd[] = "kinora-cli models";
  Options o = { 0 };
  int c;
  if (argc < 2)
    {
      fprintf (stderr, "%s: name a command: list, download, verify, remove or inspect (see --help)\n", cmd);
      return 2;
    }
  const char *what = argv[1];
  if (strcmp (what, "--help") == 0 || strcmp (what, "-h") == 0)
    {
      usage (stdout);
      return 0;
    }
  optind = 0;
  opterr = 0;
  while ((c = getopt_long (argc - 1, argv + 1, ":h", models_options, NULL)) != -1)
    {
      switch (c)
        {
        case 'h':
          usage (stdout);
          return 0;
        case OPT_CATALOG: o.catalog = optarg; break;
        case OPT_MODELS_DIR: o.models_dir = optarg; break;
        case OPT_QUIET: o.quiet = TRUE; break;
        case OPT_REPO: o.repo = optarg; break;
        case OPT_FILE: o.file = optarg; break;
        case OPT_REVISION: o.revision = optarg; break;
        case OPT_SHA256: o.sha256 = optarg; break;
        case OPT_DEST: o.dest = optarg; break;
        case OPT_PAIRS: o.with_pairs = TRUE; break;
        default:
          return kinora_arg_usage_error (cmd, c, argc - 1, argv + 1, models_options);
        }
    }
  char **names = argv + 1 + optind;
  g_autofree char **copy = g_new0 (char *, argc);
  for (int i = 0; i < argc - 1 - optind; i++)
    copy[i] = names[i];
  if (strcmp (what, "list") == 0 || strcmp (what, "verify") == 0 || strcmp (what, "remove") == 0)
    if (o.repo || o.file || o.dest || o.revision || o.sha256 || o.with_pairs)
      {
        fprintf (stderr, "%s %s: --repo, --file, --revision, --sha256, --dest and --with-pairs belong to download\n", cmd,
                 what);
        return 2;
      }
  if (strcmp (what, "list") == 0)
    {
      if (copy[0])
        return kinora_arg_usage_error (cmd, 0, argc - 1, argv + 1, models_options);
      return cmd_list (&o);
    }
  if (strcmp (what, "download") == 0)
    return cmd_download (&o, copy);
  if (strcmp (what, "verify") == 0)
    return cmd_verify (&o, copy);
  if (strcmp (what, "remove") == 0)
    return cmd_remove (&o, copy);
  if (strcmp (what, "inspect") == 0)
    return cmd_inspect (copy);
  fprintf (stderr, "%s: unknown command '%s': use list, download, verify, remove or inspect\n", cmd, what);
  return 2;
}
