/* test-drop.c: tests for ui/kinora-drop.c under Xvfb: a Kinora file made by kinora-cli, dropped on
 * the window (the drop handler called with a GFile or a GdkFileList), restores its settings through
 * the path of "Reuse Settings"; a file without Kinora settings leaves them and says why.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <adwaita.h>
#include <gst/gst.h>
#include <sys/wait.h>

#include "kinora-drop.h"
#include "window-test-util.h"

/* A tiny-model GIF with its sidecar, made by kinora-cli (64x64: one of the test model's sizes, not the
 * first). */
static char *
make_kinora_file (const char *dir)
{
  char *out = g_build_filename (dir, "heron.gif", NULL);
  const char *argv[] = { g_getenv ("KINORA_CLI"), "generate", "--quiet", "--model", "tiny", "--prompt",
                         "a heron in the reeds", "--negative", "blurry", "--size", "64x64", "--frames", "9",
                         "--steps", "3", "--guide", "4.5", "--shift", "6", "--seed", "4321", "--fps", "12",
                         "-o", out, NULL };
  int status = -1;
  g_autoptr(GError) error = NULL;

  g_assert_nonnull (argv[0]);
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                               NULL, NULL, NULL, NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  return out;
}

static void
assert_restored (KinoraWindow *self)
{
  g_autoptr(KinoraParams) now = kinora_window_dup_params (self);

  g_assert_cmpstr (now->model, ==, "tiny");
  g_assert_cmpstr (now->prompt, ==, "a heron in the reeds");
  g_assert_cmpstr (now->negative_prompt, ==, "blurry");
  g_assert_cmpint (now->seed, ==, 4321);
  g_assert_cmpint (now->steps, ==, 3);
  g_assert_cmpint (now->n_frames, ==, 9);
  g_assert_cmpint (now->width, ==, 64);
  g_assert_cmpint (now->height, ==, 64);
  g_assert_cmpfloat (now->guide, ==, 4.5);
  g_assert_cmpfloat (now->shift, ==, 6);
  g_assert_cmpfloat (now->fps, ==, 12);
  g_assert_cmpstr (adw_view_stack_get_visible_child_name (self->view_stack), ==, "studio");
}

static void
test_drop_restores (void)
{
  g_autofree char *dir = g_dir_make_tmp ("kinora-drop-XXXXXX", NULL);
  g_autofree char *gif = make_kinora_file (dir);
  g_autofree char *sidecar = g_strconcat (gif, ".json", NULL);
  KinoraWindow *self = window_test_new_window (WINDOW_TEST_KEEP_STATE, 1180, 760);
  gboolean have_target = FALSE;

  /* the window carries a drop target for files */
  {
    g_autoptr(GListModel) controllers = gtk_widget_observe_controllers (GTK_WIDGET (self));
    for (guint i = 0; i < g_list_model_get_n_items (controllers); i++)
      {
        g_autoptr(GObject) c = g_list_model_get_item (controllers, i);
        gsize n = 0;
        const GType *types = GTK_IS_DROP_TARGET (c) ? gtk_drop_target_get_gtypes (GTK_DROP_TARGET (c), &n) : NULL;
        for (gsize k = 0; k < n; k++)
          have_target |= types[k] == GDK_TYPE_FILE_LIST;
      }
  }
  g_assert_true (have_target);

  /* a GFile */
  {
    g_auto(GValue) value = G_VALUE_INIT;
    g_autoptr(GFile) file = g_file_new_for_path (gif);
    g_value_init (&value, G_TYPE_FILE);
    g_value_set_object (&value, file);
    adw_view_stack_set_visible_child_name (self->view_stack, "history");
    g_assert_true (kinora_window_drop_value (self, &value));
    g_assert_null (self->last_error);
    g_assert_true (window_test_wait_until (self, window_test_model_loaded, WINDOW_TEST_TIMEOUT_S));
    assert_restored (self);
  }

  /* change things, then a file list holding the sidecar JSON */
  gtk_spin_button_set_value (self->seed_spin, 5);
  gtk_spin_button_set_value (self->steps_spin, 9);
  adw_combo_row_set_selected (self->size_row, 0);  /* 128x64 */
  {
    g_auto(GValue) value = G_VALUE_INIT;
    g_autoptr(GFile) file = g_file_new_for_path (sidecar);
    GSList *list = g_slist_append (NULL, file);
    g_value_init (&value, GDK_TYPE_FILE_LIST);
    g_value_take_boxed (&value, gdk_file_list_new_from_list (list));
    g_slist_free (list);
    g_assert_true (kinora_window_drop_value (self, &value));
    g_assert_true (window_test_wait_until (self, window_test_model_loaded, WINDOW_TEST_TIMEOUT_S));
    assert_restored (self);
  }

  /* a file without Kinora settings: refused with its name, the settings stay */
  {
    g_autofree char *plain = g_build_filename (dir, "notes.txt", NULL);
    g_auto(GValue) value = G_VALUE_INIT;
    g_autoptr(GFile) file = g_file_new_for_path (plain);
    g_assert_true (g_file_set_contents (plain, "shopping list", -1, NULL));
    gtk_spin_button_set_value (self->seed_spin, 77);
    g_value_init (&value, G_TYPE_FILE);
    g_value_set_object (&value, file);
    g_assert_false (kinora_window_drop_value (self, &value));
    g_assert_nonnull (self->last_error);
    g_assert_nonnull (strstr (self->last_error->message, "notes.txt"));
    g_assert_cmpint (gtk_spin_button_get_value_as_int (self->seed_spin), ==, 77);
  }

  window_test_destroy_window (self);
}

int
main (int   argc,
      char *argv[])
{
  window_test_init (&argc, &argv);
  gst_init (NULL, NULL);

  g_test_add_func ("/drop/restores", test_drop_restores);
  return g_test_run ();
}
