/* export-test-util.h: helpers of the export tests: test frames, an independent frame count (ffprobe),
 * dropping root so that a read-only folder is read-only.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* w x h x n RGB frames of seeded noise: what the tiny model makes, and the content that made libvpx
 * drop frames; it does not compress, so files are large for their size. */
static inline guint8 *
export_test_noise (int w,
                   int h,
                   int n,
                   guint32 seed)
{
  gsize size = (gsize) w * h * n * 3;
  guint8 *rgb = g_malloc (size);
  GRand *r = g_rand_new_with_seed (seed);

  for (gsize i = 0; i < size; i++)
    rgb[i] = (guint8) g_rand_int_range (r, 0, 256);
  g_rand_free (r);
  return rgb;
}

/* Frames decoded by ffprobe (FFmpeg's decoders, not GStreamer's): a file, or a folder of
 * frame_NNNNN.png. Fails the test when ffprobe is missing or cannot read it. */
static inline int
export_test_count_frames (const char *path)
{
  g_autofree char *out = NULL, *err = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *pattern = NULL;
  int status = -1;
  gboolean dir = g_file_test (path, G_FILE_TEST_IS_DIR);
  const char *argv_file[] = { "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                              "stream=nb_read_frames", "-of", "csv=p=0", path, NULL };
  const char *argv_dir[] = { "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                             "stream=nb_read_frames", "-of", "csv=p=0", "-f", "image2", "-pattern_type", "sequence",
                             "-i", NULL, NULL };

  if (dir)
    {
      pattern = g_build_filename (path, "frame_%05d.png", NULL);
      argv_dir[15] = pattern;
    }
  if (!g_spawn_sync (NULL, (char **) (dir ? argv_dir : argv_file), NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err,
                     &status, &error))
    g_error ("ffprobe is needed to count frames (tools/install-deps.sh --test installs ffmpeg): %s", error->message);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("ffprobe %s failed: %s", path, err);
  return atoi (out);
}

/* A child that must not write into a 0555 folder: root writes anywhere, so become nobody. */
static inline void
export_test_drop_root (void)
{
  if (geteuid () == 0)
    {
      g_assert_cmpint (setgid (65534), ==, 0);
      g_assert_cmpint (setuid (65534), ==, 0);
    }
}

static inline int
export_test_cmp_names (gconstpointer a,
                       gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

/* The names in a folder, sorted, joined by spaces. */
static inline char *
export_test_list_dir (const char *path)
{
  g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;

  g_assert_nonnull (d);
  while ((name = g_dir_read_name (d)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, export_test_cmp_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

/* Remove a folder tree made by a test (plain files and folders only). */
static inline void
export_test_rm_rf (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      g_autoptr (GDir) d = g_dir_open (path, 0, NULL);
      const char *name;
      g_chmod (path, 0755);
      while (d != NULL && (name = g_dir_read_name (d)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          export_test_rm_rf (child);
        }
      g_rmdir (path);
    }
  else
    g_unlink (path);
}
