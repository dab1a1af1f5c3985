/* test-queue.c: tests for ui/kinora-queue.c, kinora-queue-view.c and kinora-window-queue.c under Xvfb:
 * Generate while a video is being made queues the settings; the queue (paused) survives closing the
 * window and comes back in a new one with the same data folder; jobs move and run in order when
 * resumed, a job that fails is marked with its error and the queue goes on.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <adwaita.h>
#include <gst/gst.h>

#include "kinora-queue-view.h"
#include "kinora-window-queue.h"
#include "window-test-util.h"

/* Windows here share one data folder and settings: the queue is kept across them */
static KinoraWindow *
new_window (void)
{
  return window_test_new_window (WINDOW_TEST_KEEP_STATE, 1180, 760);
}

static gboolean
queue_drained (KinoraWindow *self)
{
  return self->job == NULL && kinora_queue_get_n_waiting (kinora_window_get_queue (self)) == 0;
}

static void
set_prompt (KinoraWindow *self,
            const char   *text)
{
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->prompt_view), text, -1);
}

static const char *
prompt_at (KinoraQueue *queue,
           guint        i)
{
  g_autoptr(KinoraQueueItem) item = g_list_model_get_item (G_LIST_MODEL (queue), i);
  g_assert_nonnull (item);
  g_assert_nonnull (kinora_queue_item_get_params (item));
  /* the params live as long as the item, which the queue holds */
  return kinora_queue_item_get_params (item)->prompt;
}

static guint
n_rows (GtkListBox *list)
{
  guint n = 0;
  for (GtkWidget *c = gtk_widget_get_first_child (GTK_WIDGET (list)); c; c = gtk_widget_get_next_sibling (c))
    n += GTK_IS_LIST_BOX_ROW (c);
  return n;
}

static void
test_queue_restart (void)
{
  KinoraWindow *self = new_window ();
  KinoraQueue *queue = kinora_window_get_queue (self);

  g_assert_nonnull (queue);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (queue)), ==, 0);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "win.use-test-model", NULL));
  g_assert_true (window_test_wait_until (self, window_test_model_loaded, WINDOW_TEST_TIMEOUT_S));

  /* a long first job; the queue is paused so nothing follows it */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "queue.pause", NULL));
  set_prompt (self, "first, a long one");
  gtk_spin_button_set_value (self->steps_spin, 1000);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "win.generate", NULL));
  g_assert_true (window_test_job_running (self));

  gtk_spin_button_set_value (self->steps_spin, 2);
  gtk_spin_button_set_value (self->seed_spin, 21);
  set_prompt (self, "second");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "win.generate", NULL));
  gtk_spin_button_set_value (self->seed_spin, 31);
  set_prompt (self, "third");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "win.generate", NULL));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (queue)), ==, 2);
  g_assert_cmpuint (kinora_queue_get_n_waiting (queue), ==, 2);
  g_assert_cmpstr (prompt_at (queue, 0), ==, "second");
  g_assert_cmpstr (prompt_at (queue, 1), ==, "third");

  /* the queue window lists them */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "queue.show", NULL));
  window_test_spin (0.3);
  {
    KinoraQueueView *view = KINORA_QUEUE_VIEW (kinora_window_get_queue_view (self));
    g_assert_nonnull (view);
    g_assert_cmpuint (n_rows (kinora_queue_view_get_list (view)), ==, 2);
    g_assert_true (gtk_toggle_button_get_active (kinora_queue_view_get_pause (view)));
  }

  /* close while the first job runs: the queue stays on disk */
  window_test_close_window (self);

  self = new_window ();
  queue = kinora_window_get_queue (self);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (queue)), ==, 2);
  g_assert_cmpstr (prompt_at (queue, 0), ==, "second");
  g_assert_cmpstr (prompt_at (queue, 1), ==, "third");
  g_assert_true (kinora_queue_get_paused (queue));
  g_assert_null (self->job);

  /* reorder, and a job that will fail (its model is gone) between the two */
  {
    g_autoptr(KinoraQueueItem) third = g_list_model_get_item (G_LIST_MODEL (queue), 1);
    g_autoptr(KinoraParams) broken = kinora_params_copy (kinora_queue_item_get_params (third));
    KinoraQueueItem *failing;

    g_assert_true (kinora_queue_move (queue, kinora_queue_item_get_id (third), 0));
    g_assert_cmpstr (prompt_at (queue, 0), ==, "third");
    g_free (broken->model);
    broken->model = g_strdup ("/nonexistent/kinora-model");
    g_free (broken->prompt);
    broken->prompt = g_strdup ("broken");
    failing = kinora_queue_add (queue, broken);
    g_assert_true (kinora_queue_move (queue, kinora_queue_item_get_id (failing), 1));
  }
  g_assert_cmpstr (prompt_at (queue, 1), ==, "broken");
  g_assert_cmpstr (prompt_at (queue, 2), ==, "second");

  /* resume: third runs first, broken fails, second still runs */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (self), "queue.resume", NULL));
  g_assert_true (window_test_wait_until (self, window_test_job_running, WINDOW_TEST_TIMEOUT_S));
  g_assert_cmpstr (kinora_job_get_params (self->job)->prompt, ==, "third");
  g_assert_true (window_test_wait_until (self, queue_drained, WINDOW_TEST_TIMEOUT_S));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (queue)), ==, 1);
  {
    g_autoptr(KinoraQueueItem) left = g_list_model_get_item (G_LIST_MODEL (queue), 0);
    g_assert_cmpint (kinora_queue_item_get_state (left), ==, KINORA_QUEUE_FAILED);
    g_assert_cmpstr (kinora_queue_item_get_params (left)->prompt, ==, "broken");
    g_assert_nonnull (strstr (kinora_queue_item_get_error (left), "/nonexistent/kinora-model"));
  }
  /* both good jobs reached the history (second is the newest) */
  window_test_spin (1.0);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (self->history)), >=, 2);
  {
    g_autoptr(KinoraHistoryItem) newest = g_list_model_get_item (G_LIST_MODEL (self->history), 0);
    g_autoptr(KinoraHistoryItem) before = g_list_model_get_item (G_LIST_MODEL (self->history), 1);
    g_assert_cmpstr (kinora_history_item_get_params (newest)->prompt, ==, "second");
    g_assert_cmpint (kinora_history_item_get_params (newest)->seed, ==, 21);
    g_assert_cmpstr (kinora_history_item_get_params (before)->prompt, ==, "third");
  }
  window_test_close_window (self);

  /* the failed job is still listed after another restart; removing it empties the queue */
  self = new_window ();
  queue = kinora_window_get_queue (self);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (queue)), ==, 1);
  {
    g_autoptr(KinoraQueueItem) left = g_list_model_get_item (G_LIST_MODEL (queue), 0);
    g_assert_cmpint (kinora_queue_item_get_state (left), ==, KINORA_QUEUE_FAILED);
    g_assert_true (kinora_queue_remove (queue, kinora_queue_item_get_id (left)));
  }
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (queue)), ==, 0);
  window_test_close_window (self);
}

int
main (int   argc,
      char *argv[])
{
  window_test_init (&argc, &argv);
  gst_init (NULL, NULL);

  g_test_add_func ("/queue/restart", test_queue_restart);
  return g_test_run ();
}
