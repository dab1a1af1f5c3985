/* Tests for kinora-cli queue (app/cli-queue.c): a headless queue of two tiny-model jobs, one with a
 * bad setting that fails with its error recorded while the other completes; the file keeps every
 * state, a second run skips finished jobs, an interrupted ("running") job runs again, and a file that
 * is not a queue is refused by name.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <glib/gstdio.h>
#include <string.h>
#include <sys/wait.h>

#include "kinora-metadata.h"
#include "kinora-queue-file.h"

static int
run_queue (const char *file,
           char      **err_out)
{
  const char *argv[] = { g_getenv ("KINORA_CLI"), "queue", "--quiet", file, NULL };
  int status = -1;
  g_autoptr (GError) error = NULL;
  g_assert_nonnull (argv[0]);
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, err_out,
                               &status, &error));
  g_test_message ("stderr: %s", *err_out);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static const char *queue_text =
  "{\"jobs\": [\n"
  " {\"output\": \"bad.gif\", \"settings\": {\"prompt\": \"bad\", \"model\": \"tiny\", \"width\": 64, \"height\": 64,"
  " \"frames\": 5, \"steps\": 100000, \"seed\": 1}},\n"
  " {\"output\": \"good.gif\", \"settings\": {\"prompt\": \"a fox\", \"model\": \"tiny\", \"width\": 64, \"height\": 64,"
  " \"frames\": 5, \"steps\": 2, \"seed\": 3}}\n"
  "]}\n";

static void
test_two_jobs (void)
{
  g_autofree char *dir = g_dir_make_tmp ("kinora-queue-XXXXXX", NULL);
  g_autofree char *file = g_build_filename (dir, "jobs.json", NULL);
  g_autofree char *good = g_build_filename (dir, "good.gif", NULL);
  g_autofree char *bad = g_build_filename (dir, "bad.gif", NULL);
  g_autofree char *err = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (g_file_set_contents (file, queue_text, -1, NULL));
  g_assert_cmpint (run_queue (file, &err), ==, 1);
  g_assert_nonnull (strstr (err, "1 done, 1 failed"));
  g_clear_pointer (&err, g_free);

  g_autoptr (KinoraQueueFile) q = kinora_queue_file_load (file, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (q->entries->len, ==, 2);
  KinoraQueueEntry *e0 = g_ptr_array_index (q->entries, 0), *e1 = g_ptr_array_index (q->entries, 1);
  g_assert_cmpint (e0->state, ==, KINORA_QUEUE_FAILED);
  g_assert_nonnull (e0->error);
  g_assert_nonnull (strstr (e0->error, "steps 100000"));
  g_assert_cmpint (e1->state, ==, KINORA_QUEUE_DONE);
  g_assert_null (e1->error);
  g_assert_false (g_file_test (bad, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (good, G_FILE_TEST_IS_REGULAR));
  g_autoptr (KinoraMetadata) m = kinora_metadata_read (good, &error);
  g_assert_no_error (error);
  g_assert_cmpint (m->params.seed, ==, 3);
  g_assert_cmpint (m->params.steps, ==, 2);
  g_assert_cmpstr (m->params.prompt, ==, "a fox");

  /* a second run has nothing left to do */
  GStatBuf before, after;
  g_assert_cmpint (g_stat (good, &before), ==, 0);
  g_assert_cmpint (run_queue (file, &err), ==, 1);
  g_assert_nonnull (strstr (err, "1 done, 1 failed"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (g_stat (good, &after), ==, 0);
  g_assert_cmpint (before.st_mtime, ==, after.st_mtime);
  g_assert_cmpint (before.st_ino, ==, after.st_ino);

  /* a job left "running" by an interrupted run runs again */
  g_unlink (good);
  kinora_queue_entry_set_state (e1, KINORA_QUEUE_RUNNING, NULL);
  g_ptr_array_remove_index (q->entries, 0);
  g_assert_true (kinora_queue_file_save (q, file, &error));
  g_assert_no_error (error);
  g_assert_cmpint (run_queue (file, &err), ==, 0);
  g_assert_nonnull (strstr (err, "1 done, 0 failed"));
  g_assert_true (g_file_test (good, G_FILE_TEST_IS_REGULAR));
}

static void
test_not_a_queue (void)
{
  g_autofree char *dir = g_dir_make_tmp ("kinora-queue-XXXXXX", NULL);
  g_autofree char *file = g_build_filename (dir, "list.json", NULL);
  g_autofree char *err = NULL;
  g_assert_true (g_file_set_contents (file, "[1, 2]", -1, NULL));
  g_assert_cmpint (run_queue (file, &err), ==, 1);
  g_assert_nonnull (strstr (err, "list.json"));
  g_assert_nonnull (strstr (err, "not a Kinora queue"));
  g_clear_pointer (&err, g_free);
  g_autofree char *missing = g_build_filename (dir, "none.json", NULL);
  g_assert_cmpint (run_queue (missing, &err), ==, 1);
  g_assert_nonnull (strstr (err, "none.json"));
}

/* The file itself: a save replaces the old file whole and reads back the same. */
static void
test_file_round_trip (void)
{
  g_autofree char *dir = g_dir_make_tmp ("kinora-queue-XXXXXX", NULL);
  g_autofree char *file = g_build_filename (dir, "sub", "queue.json", NULL);
  g_autoptr (KinoraQueueFile) q = kinora_queue_file_new ();
  g_autoptr (GError) error = NULL;
  g_assert_null (kinora_queue_entry_new ("[1]", NULL));
  g_ptr_array_add (q->entries, kinora_queue_entry_new ("{\"prompt\": \"a \\\"quoted\\\" fox\", \"seed\": 5}", NULL));
  g_ptr_array_add (q->entries, kinora_queue_entry_new ("{\"prompt\": \"b\"}", "b.mp4"));
  kinora_queue_entry_set_state (g_ptr_array_index (q->entries, 1), KINORA_QUEUE_FAILED, "out of memory");
  q->paused = TRUE;
  g_assert_true (kinora_queue_file_save (q, file, &error));
  g_assert_no_error (error);
  g_autoptr (KinoraQueueFile) r = kinora_queue_file_load (file, &error);
  g_assert_no_error (error);
  g_assert_true (r->paused);
  g_assert_cmpuint (r->entries->len, ==, 2);
  for (guint i = 0; i < 2; i++)
    {
      KinoraQueueEntry *a = g_ptr_array_index (q->entries, i), *b = g_ptr_array_index (r->entries, i);
      g_assert_cmpstr (a->id, ==, b->id);
      g_assert_cmpint (a->state, ==, b->state);
      g_assert_cmpstr (a->error, ==, b->error);
      g_assert_cmpstr (a->output, ==, b->output);
      g_autoptr (KinoraMetadata) ma = kinora_metadata_new_from_json (a->settings, NULL);
      g_autoptr (KinoraMetadata) mb = kinora_metadata_new_from_json (b->settings, NULL);
      g_assert_cmpstr (ma->params.prompt, ==, mb->params.prompt);
    }
  /* no temporary file is left beside it */
  g_autofree char *sub = g_path_get_dirname (file);
  GDir *d = g_dir_open (sub, 0, NULL);
  int n = 0;
  while (g_dir_read_name (d))
    n++;
  g_dir_close (d);
  g_assert_cmpint (n, ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli-queue/two-jobs", test_two_jobs);
  g_test_add_func ("/cli-queue/not-a-queue", test_not_a_queue);
  g_test_add_func ("/cli-queue/file-round-trip", test_file_round_trip);
  return g_test_run ();
}
