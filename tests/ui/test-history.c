/* test-history.c: tests for ui/kinora-history.c: an entry holds its settings, thumbnail and video;
 * unfinished entries vanish on reload; a failed write leaves nothing and says why
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <gtk/gtk.h>
#include <glib/gstdio.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
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

/* Run the main loop until the item's thumbnail is decoded (or refused), for at most 20 s. */
static void
wait_thumbnail (KinoraHistoryItem *item)
{
  gint64 end = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  while (kinora_history_item_is_thumbnail_pending (item) && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, FALSE);
  g_assert_false (kinora_history_item_is_thumbnail_pending (item));
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
  wait_thumbnail (item);
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

/* Issue 11 item 2: a symbolic link inside a stale .partial entry (cleaned at start-up) or inside an
 * entry the user deletes must be removed itself; the folder it points to keeps its files. */
static void
test_delete_keeps_link_targets (void)
{
  g_autofree char *tmp = g_dir_make_tmp ("kinora-history-XXXXXX", NULL);
  g_autofree char *hist = g_build_filename (tmp, "history", NULL);
  g_autofree char *precious = g_build_filename (tmp, "precious", NULL);
  g_autofree char *keep = g_build_filename (precious, "keep.txt", NULL);
  g_autofree char *partial = g_build_filename (hist, "20260101-000000-000001.partial", NULL);
  g_autofree char *partial_link = g_build_filename (partial, "link", NULL);
  g_autoptr(GFile) dir = g_file_new_for_path (hist);
  g_autoptr(KinoraHistory) history = NULL;
  g_autoptr(KinoraVideo) video = make_video ();
  g_autoptr(KinoraParams) params = kinora_params_new ();
  g_autoptr(KinoraHistoryItem) item = NULL;
  g_autoptr(GError) error = NULL;
  struct utimbuf old = { time (NULL) - 7200, time (NULL) - 7200 };

  g_assert_cmpint (g_mkdir_with_parents (precious, 0755), ==, 0);
  g_assert_true (g_file_set_contents (keep, "the user's file", -1, NULL));
  g_assert_cmpint (g_mkdir_with_parents (partial, 0755), ==, 0);
  g_assert_cmpint (symlink (precious, partial_link), ==, 0);
  g_assert_cmpint (g_utime (partial, &old), ==, 0);
  history = kinora_history_new (dir);
  g_assert_false (g_file_test (partial, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (keep, G_FILE_TEST_IS_REGULAR));

  params->width = 64;
  params->height = 32;
  params->n_frames = 5;
  params->fps = 8;
  item = add_sync (history, params, video, &error);
  g_assert_no_error (error);
  {
    g_autofree char *entry = g_file_get_path (kinora_history_item_get_dir (item));
    g_autofree char *link = g_build_filename (entry, "link", NULL);
    g_autofree char *sub = g_build_filename (entry, "sub", NULL);
    g_autofree char *sub_link = g_build_filename (sub, "link", NULL);

    g_assert_cmpint (symlink (precious, link), ==, 0);
    g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
    g_assert_cmpint (symlink (precious, sub_link), ==, 0);
    g_assert_true (kinora_history_remove (history, item, &error));
    g_assert_no_error (error);
    g_assert_false (g_file_test (entry, G_FILE_TEST_EXISTS));
  }
  g_assert_true (g_file_test (keep, G_FILE_TEST_IS_REGULAR));
}

static void
on_alarm (int sig)
{
  static const char msg[] = "Bail out! reading the history blocked for 20 s\n";

  (void) sig;
  if (write (STDOUT_FILENO, msg, sizeof msg - 1) < 0)
    _exit (3);
  _exit (1);
}

/* Write an entry folder <hist>/<id> with this params.json text (NULL: none). */
static char *
write_entry (const char *hist,
             const char *id,
             const char *json)
{
  char *entry = g_build_filename (hist, id, NULL);
  g_autofree char *json_path = g_build_filename (entry, "params.json", NULL);

  g_assert_cmpint (g_mkdir_with_parents (entry, 0755), ==, 0);
  if (json != NULL)
    g_assert_true (g_file_set_contents (json_path, json, -1, NULL));
  return entry;
}

/* Issue 11 items 6, 14 and 16: a FIFO as params.json, out-of-range settings, and thumbnails that are
 * huge or declare a huge size. */
static void
test_hostile_entries (void)
{
  g_autofree char *tmp = g_dir_make_tmp ("kinora-history-XXXXXX", NULL);
  g_autoptr(GFile) dir = g_file_new_for_path (tmp);
  g_autoptr(KinoraHistory) history = NULL;
  const char *good = "{\"model\": \"tiny\", \"prompt\": \"%s\", \"width\": %s, \"height\": 32, \"frames\": 5, "
                     "\"fps\": 8, \"steps\": 4}";
  g_autofree char *fifo_entry = write_entry (tmp, "20260101-000000-000001", NULL);
  g_autofree char *fifo = g_build_filename (fifo_entry, "params.json", NULL);
  g_autofree char *j1 = g_strdup_printf (good, "huge width", "1e300");
  g_autofree char *j2 = g_strdup_printf (good, "negative width", "-64");
  g_autofree char *j3 = g_strdup_printf (good, "nan width", "NaN");
  g_autofree char *j4 = g_strdup_printf (good, "big thumbnail", "64");
  g_autofree char *j5 = g_strdup_printf (good, "huge thumbnail", "64");
  g_autofree char *e1 = write_entry (tmp, "20260101-000000-000002", j1);
  g_autofree char *e2 = write_entry (tmp, "20260101-000000-000003", j2);
  g_autofree char *e3 = write_entry (tmp, "20260101-000000-000004", j3);
  g_autofree char *e4 = write_entry (tmp, "20260101-000000-000005", j4);
  g_autofree char *e5 = write_entry (tmp, "20260101-000000-000006", j5);
  g_autofree char *big = g_build_filename (e4, "thumbnail.png", NULL);
  g_autofree char *huge = g_build_filename (e5, "thumbnail.png", NULL);
  g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, 1024, 512);
  g_autoptr(KinoraHistoryItem) big_item = NULL;
  g_autoptr(KinoraHistoryItem) huge_item = NULL;
  /* a PNG signature and header declaring 16384x16384 (CRC included), then an empty IDAT */
  static const guint8 huge_png[] = {
    0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
    0, 0, 0x40, 0, 0, 0, 0x40, 0, 8, 2, 0, 0, 0, 0x26, 0xaa, 0x87, 0xd3,
    0, 0, 0, 0, 'I', 'D', 'A', 'T', 0x35, 0xaf, 0x06, 0x1e,
  };
  gint64 t0;

  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  gdk_pixbuf_fill (pixbuf, 0x336699ff);
  g_assert_true (gdk_pixbuf_save (pixbuf, big, "png", NULL, NULL));
  g_assert_true (g_file_set_contents (huge, (const char *) huge_png, sizeof huge_png, NULL));

  signal (SIGALRM, on_alarm);
  alarm (20);
  t0 = g_get_monotonic_time ();
  history = kinora_history_new (dir);
  g_test_message ("history with hostile entries loaded in %.3f s",
                  (double) (g_get_monotonic_time () - t0) / G_USEC_PER_SEC);
  /* only the two entries with valid settings are listed, newest first */
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (history)), ==, 2);
  huge_item = g_list_model_get_item (G_LIST_MODEL (history), 0);
  big_item = g_list_model_get_item (G_LIST_MODEL (history), 1);
  g_assert_cmpstr (kinora_history_item_get_params (big_item)->prompt, ==, "big thumbnail");
  g_assert_cmpstr (kinora_history_item_get_params (huge_item)->prompt, ==, "huge thumbnail");
  /* thumbnails come later, off the main thread: none is decoded during the load */
  g_assert_null (kinora_history_item_get_thumbnail (big_item));
  wait_thumbnail (big_item);
  wait_thumbnail (huge_item);
  alarm (0);
  /* decoded at thumbnail size (256 wide), not 1024x512 */
  g_assert_nonnull (kinora_history_item_get_thumbnail (big_item));
  g_assert_cmpint (gdk_texture_get_width (kinora_history_item_get_thumbnail (big_item)), ==, 256);
  g_assert_cmpint (gdk_texture_get_height (kinora_history_item_get_thumbnail (big_item)), ==, 128);
  /* a declared 16384x16384 is refused unread */
  g_assert_null (kinora_history_item_get_thumbnail (huge_item));

  /* the validator itself: each range names the setting */
  {
    g_autoptr(KinoraParams) p = kinora_params_new ();
    g_autoptr(GError) error = NULL;

    p->width = 64;
    p->height = 32;
    p->n_frames = 5;
    p->fps = 8;
    p->steps = 4;
    g_assert_true (kinora_history_params_validate (p, &error));
    p->height = -32;
    g_assert_false (kinora_history_params_validate (p, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
    g_assert_nonnull (strstr (error->message, "height"));
    g_clear_error (&error);
    p->height = 32;
    p->fps = NAN;
    g_assert_false (kinora_history_params_validate (p, &error));
    g_assert_nonnull (strstr (error->message, "fps"));
  }
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
  g_test_add_func ("/history/delete-keeps-link-targets", test_delete_keeps_link_targets);
  g_test_add_func ("/history/hostile-entries", test_hostile_entries);

  return g_test_run ();
}
