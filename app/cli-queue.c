/* cli-queue.c: kinora-cli queue FILE: run the pending jobs of a queue file (models/kinora-queue-file.h)
 * one after the other, headless. Each job runs as `kinora-cli generate --from SETTINGS -o OUTPUT` in
 * a child process, so a job that fails (or crashes) is marked failed with its error and the queue
 * goes on; the file is rewritten atomically after each job, so an interrupted run resumes.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "args.h"
#include "cli.h"
#include "kinora-queue-file.h"

static void
usage (FILE *f)
{
  fprintf (f,
           "usage: kinora-cli queue FILE [--quiet]\n"
           "Runs the pending jobs of a Kinora queue file in order, each one like\n"
           "`kinora-cli generate --from SETTINGS -o OUTPUT` (OUTPUT relative to the file's folder).\n"
           "A failed job is marked with its error and the queue goes on; the file records every state.\n"
           "Exit status: 0 when every job is done, 1 when one failed.\n");
}

static const struct option queue_options[] = {
  { "help", no_argument, NULL, 'h' },
  { "quiet", no_argument, NULL, 'q' },
  { NULL, 0, NULL, 0 },
};

/* The last non-empty line of a child's stderr, without the command's prefix. */
static char *
last_line (const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text ? text : "", "\n", -1);
  for (int i = (int) g_strv_length (lines) - 1; i >= 0; i--)
    {
      char *l = g_strstrip (lines[i]);
      if (*l == '\0')
        continue;
      if (g_str_has_prefix (l, "kinora-cli generate: "))
        l += strlen ("kinora-cli generate: ");
      return g_strdup (l);
    }
  return g_strdup ("the job failed without a message");
}

static gboolean
run_job (const char       *self_exe,
         const char       *dir,
         KinoraQueueEntry *e,
         gboolean          quiet)
{
  if (e->output == NULL || *e->output == '\0')
    {
      kinora_queue_entry_set_state (e, KINORA_QUEUE_FAILED, "the job names no output file (\"output\")");
      return FALSE;
    }
  g_autofree char *out = g_path_is_absolute (e->output) ? g_strdup (e->output) : g_build_filename (dir, e->output, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *tmp = NULL;
  int fd = g_file_open_tmp ("kinora-job-XXXXXX.json", &tmp, &error);
  if (fd < 0)
    {
      kinora_queue_entry_set_state (e, KINORA_QUEUE_FAILED, error->message);
      return FALSE;
    }
  close (fd);
  if (!g_file_set_contents (tmp, e->settings, -1, &error))
    {
      g_unlink (tmp);
      kinora_queue_entry_set_state (e, KINORA_QUEUE_FAILED, error->message);
      return FALSE;
    }
  const char *argv[] = { self_exe, "generate", "--quiet", "--from", tmp, "-o", out, NULL };
  g_autofree char *err_text = NULL;
  int status = -1;
  gboolean spawned = g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err_text,
                                   &status, &error);
  g_unlink (tmp);
  if (!spawned)
    {
      kinora_queue_entry_set_state (e, KINORA_QUEUE_FAILED, error->message);
      return FALSE;
    }
  if (!g_spawn_check_wait_status (status, NULL))
    {
      g_autofree char *why = last_line (err_text);
      kinora_queue_entry_set_state (e, KINORA_QUEUE_FAILED, why);
      return FALSE;
    }
  kinora_queue_entry_set_state (e, KINORA_QUEUE_DONE, NULL);
  if (!quiet)
    fprintf (stderr, "%s", err_text ? err_text : "");
  return TRUE;
}

int
kinora_cli_queue (int argc, char **argv)
{
  static const char cmd[] = "kinora-cli queue";
  gboolean quiet = FALSE;
  int c;

  optind = 0;
  opterr = 0;
  while ((c = getopt_long (argc, argv, ":hq", queue_options, NULL)) != -1)
    {
      switch (c)
        {
        case 'h':
          usage (stdout);
          return 0;
        case 'q': quiet = TRUE; break;
        default:
          return kinora_arg_usage_error (cmd, c, argc, argv, queue_options);
        }
    }
  if (optind != argc - 1)
    {
      fprintf (stderr, "%s: name one queue file (see --help)\n", cmd);
      return 2;
    }
  const char *path = argv[optind];
  g_autoptr (GError) error = NULL;
  g_autoptr (KinoraQueueFile) q = kinora_queue_file_load (path, &error);
  if (q == NULL)
    {
      fprintf (stderr, "%s: %s\n", cmd, error->message);
      return 1;
    }
  g_autofree char *self_exe = g_file_read_link ("/proc/self/exe", &error);
  if (self_exe == NULL)
    {
      fprintf (stderr, "%s: cannot find kinora-cli itself: %s\n", cmd, error->message);
      return 1;
    }
  g_autofree char *dir = g_path_get_dirname (path);
  guint n = q->entries->len, n_failed = 0, n_done = 0;
  for (guint i = 0; i < n; i++)
    {
      KinoraQueueEntry *e = g_ptr_array_index (q->entries, i);
      if (e->state == KINORA_QUEUE_DONE)
        {
          n_done++;
          continue;
        }
      if (e->state == KINORA_QUEUE_FAILED)
        {
          n_failed++;
          continue;
        }
      /* pending, or running when an earlier run was interrupted */
      kinora_queue_entry_set_state (e, KINORA_QUEUE_RUNNING, NULL);
      if (!kinora_queue_file_save (q, path, &error))
        {
          fprintf (stderr, "%s: %s\n", cmd, error->message);
          return 1;
        }
      gboolean ok = run_job (self_exe, dir, e, quiet);
      if (ok)
        n_done++;
      else
        n_failed++;
      fprintf (stderr, "job %u/%u %s: %s%s\n", i + 1, n, e->id, ok ? "done, " : "failed: ", ok ? e->output : e->error);
      if (!kinora_queue_file_save (q, path, &error))
        {
          fprintf (stderr, "%s: %s\n", cmd, error->message);
          return 1;
        }
    }
  fprintf (stderr, "%u done, %u failed\n", n_done, n_failed);
  return n_failed ? 1 : 0;
}
