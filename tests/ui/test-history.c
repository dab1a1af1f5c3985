/* test-history.c: tests for ui/kinora-history.c: an entry holds its settings, thumbnail and video;
 * unfinished entries vanish on reload; a failed write leaves nothing and says why
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <gtk/gtk.h>
#include <glib/gstdio.h>
#include <time.h>
#include <utime.h>

#include "kinora-history.h"

static GMainLoop *loop;

static KinoraVideo *
make_video (void)
{
  const int w = 64, h = 32, n = 5;
  guint8 *rgb = g_malloc ((gsize) w * h * 3 * n);
  g_autoptr(GBytes) bytes = NULL;

  /* a moving gradient, so the encoder has something to do */
  for (int f = 0; f < n; f++)
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        {
          guint8 *p = rgb + (((gsize) f * h + y) * w + x) * 3;
          p[0] = (guint8) (x * 4 + f * 20);
          p[1] = (guint8) (y * 8);
          p[2] = (guint8) (255 - x * 4);
        }
  bytes = g_bytes_new_take (rgb, (gsize) w * h * 3 * n);
  return kinora_video_new (bytes, w, h, n, 8);
}

static void
added_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  GError **error = ((gpointer *) user_data)[1];
  KinoraHistoryItem **item = ((gpointer *) user_data)[0];

  *item = kinora_history_add_finish (KINORA_HISTORY (source), result, error);
  g_main_loop_quit (loop);
}

static KinoraHistoryItem *
add_sync (KinoraHistory      *history,
          const KinoraParams *params,
          KinoraVideo        *video,
          GError            **error)
{
  KinoraHistoryItem *item = NULL;
  gpointer data[2] = { &item, error };

  kinora_history_add_async (history, params, video, NULL, added_cb, data);
  g_main_loop_run (loop);
  return item;
}

static void
test_add_and_reload (void)
{
  g_autofree char *tmp = g_dir_make_tmp ("kinora-history-XXXXXX", NULL);
  g_autoptr(GFile) dir = g_file_new_for_path (tmp);
  g_autoptr(KinoraHistory) history = kinora_history_new (dir);
  g_autoptr(KinoraHistory) again = NULL;
  g_autoptr(KinoraVideo) video = make_video ();
  g_autoptr(KinoraParams) params = kinora_params_new ();
  g_autoptr(KinoraHistoryItem) item = NULL;
  g_autoptr(KinoraHistoryItem) loaded = NULL;
  g_autoptr(GFile) video_file = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *partial = g_build_filename (tmp, "20260101-000000-000001.partial", NULL);
  const KinoraParams *p;

  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (history)), ==, 0);
  params->model = g_strdup ("tiny");
  g_free (params->prompt);
  params->prompt = g_strdup ("a lighthouse in fog");
  params->width = 64;
  params->height = 32;
  params->n_frames = 5;
  params->seed = 31337;
  params->fps = 8;

  item = add_sync (history, params, video, &error);
  g_assert_no_error (error);
  g_assert_nonnull (item);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (history)), ==, 1);
  g_assert_nonnull (kinora_history_item_get_thumbnail (item));
  video_file = kinora_history_item_dup_video (item);
  g_assert_true (g_file_query_exists (video_file, NULL));
  p = kinora_history_item_get_params (item);
  g_assert_cmpstr (p->prompt, ==, "a lighthouse in fog");
  g_assert_cmpint (p->seed, ==, 31337);

  /* an entry a crash left half written is not listed, and removed once it is an hour old */
  g_assert_cmpint (g_mkdir (partial, 0755), ==, 0);
  again = kinora_history_new (dir);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (again)), ==, 1);
  g_assert_true (g_file_test (partial, G_FILE_TEST_IS_DIR));
  g_clear_object (&again);
  {
    struct utimbuf old = { time (NULL) - 7200, time (NULL) - 7200 };
    g_assert_cmpint (g_utime (partial, &old), ==, 0);
  }
  again = kinora_history_new (dir);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (again)), ==, 1);
  g_assert_false (g_file_test (partial, G_FILE_TEST_EXISTS));
  loaded = g_list_model_get_item (G_LIST_MODEL (again), 0);
  g_assert_cmpstr (kinora_history_item_get_id (loaded), ==, kinora_history_item_get_id (item));
  g_assert_cmpint (kinora_history_item_get_params (loaded)->steps, ==, params->steps);

  g_assert_true (kinora_history_remove (again, loaded, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (again)), ==, 0);
  g_assert_false (g_file_query_exists (kinora_history_item_get_dir (loaded), NULL));
}

/* A history folder that cannot be made (a file is in the way, as a full or broken disk would
 * fail a write) gives an error that says what failed, and no entry. */
static void
test_write_failure (void)
{
  g_autofree char *tmp = g_dir_make_tmp ("kinora-history-XXXXXX", NULL);
  g_autofree char *blocker = g_build_filename (tmp, "history", NULL);
  g_autoptr(GFile) dir = g_file_new_for_path (blocker);
  g_autoptr(KinoraHistory) history = NULL;
  g_autoptr(KinoraVideo) video = make_video ();
  g_autoptr(KinoraParams) params = kinora_params_new ();
  g_autoptr(KinoraHistoryItem) item = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_set_contents (blocker, "not a folder", -1, NULL));
  history = kinora_history_new (dir);
  item = add_sync (history, params, video, &error);
  g_assert_null (item);
  g_assert_nonnull (error);
  g_assert_true (g_str_has_prefix (error->message, "Could not save the result to the history"));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (history)), ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_setenv ("LANGUAGE", "C", TRUE);
  g_test_init (&argc, &argv, NULL);
  loop = g_main_loop_new (NULL, FALSE);

  g_test_add_func ("/history/add-and-reload", test_add_and_reload);
  g_test_add_func ("/history/write-failure", test_write_failure);

  return g_test_run ();
}
