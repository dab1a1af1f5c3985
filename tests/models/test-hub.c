/* Tests for models/kinora-hub.c against the loopback hub (hub-test-server.c, 127.0.0.1 only):
 * redirects with X-Linked-*, Range and 206 after a restart, a dropped connection resumed, a wrong
 * digest refused and removed, 401 without a token and success with one, 404, a stalled server
 * cancelled in bounded time, a size no disk holds, and a full disk (RLIMIT_FSIZE in a subprocess).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <glib/gstdio.h>

#include "hub-test-server.h"
#include "kinora-hub.h"

#define SIZE (700 * 1024 + 17)  /* a few chunks, not a multiple of one */

typedef struct
{
  HubServer *hub;
  char      *dir;
  GBytes    *content;
} Fixture;

static void
fixture_setup (Fixture      *fx,
               gconstpointer data)
{
  fx->hub = hub_server_new ("secret-token");
  fx->dir = g_dir_make_tmp ("kinora-hub-XXXXXX", NULL);
  fx->content = hub_test_bytes (SIZE, 7);
  g_assert_true (g_str_has_prefix (hub_server_endpoint (fx->hub), "http://127.0.0.1:"));
}

static void
rm_rf (const char *path)
{
  GDir *d = g_dir_open (path, 0, NULL);
  if (d)
    {
      const char *n;
      while ((n = g_dir_read_name (d)))
        {
          g_autofree char *p = g_build_filename (path, n, NULL);
          rm_rf (p);
        }
      g_dir_close (d);
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

static void
fixture_teardown (Fixture      *fx,
                  gconstpointer data)
{
  hub_server_free (fx->hub);
  rm_rf (fx->dir);
  g_free (fx->dir);
  g_bytes_unref (fx->content);
}

static KinoraHubFile
hub_file (Fixture    *fx,
          const char *repo,
          const char *path,
          char      **dest_out)
{
  g_autofree char *base = g_path_get_basename (path);
  *dest_out = g_build_filename (fx->dir, "out", base, NULL);
  KinoraHubFile f = { hub_server_endpoint (fx->hub), NULL, repo, NULL, path, *dest_out, NULL, 0 };
  return f;
}

static void
assert_file_is (const char *path,
                GBytes     *want)
{
  g_autofree char *got = NULL;
  gsize len = 0;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_file_get_contents (path, &got, &len, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (got, len, g_bytes_get_data (want, NULL), g_bytes_get_size (want));
}

static void
test_names (void)
{
  g_autofree char *u = kinora_hub_url ("http://h/", "Org/Repo", NULL, "split files/a b.safetensors");
  g_assert_cmpstr (u, ==, "http://h/Org/Repo/resolve/main/split%20files/a%20b.safetensors");
  g_autofree char *u2 = kinora_hub_url ("http://h", "Org/Repo", "v1.0", "x.gguf");
  g_assert_cmpstr (u2, ==, "http://h/Org/Repo/resolve/v1.0/x.gguf");
  g_assert_null (kinora_hub_url ("http://h", "Org", NULL, "x"));
  g_assert_null (kinora_hub_url ("http://h", "Org/Repo", NULL, "../etc/passwd"));
  g_assert_null (kinora_hub_url ("http://h", "Org/Repo", NULL, "/abs"));
  g_assert_null (kinora_hub_url ("http://h", "Org/Repo/extra", NULL, "x"));

  g_setenv ("HF_ENDPOINT", "http://127.0.0.1:9/", TRUE);
  g_autofree char *e = kinora_hub_dup_endpoint ();
  g_assert_cmpstr (e, ==, "http://127.0.0.1:9");
  g_unsetenv ("HF_ENDPOINT");
  g_autofree char *d = kinora_hub_dup_endpoint ();
  g_assert_cmpstr (d, ==, KINORA_HUB_DEFAULT_ENDPOINT);

  /* HF_TOKEN first, then $HF_HOME/token */
  g_autofree char *home = g_dir_make_tmp ("kinora-hfhome-XXXXXX", NULL);
  g_autofree char *tf = g_build_filename (home, "token", NULL);
  g_assert_true (g_file_set_contents (tf, "hf_file_token\n", -1, NULL));
  g_setenv ("HF_HOME", home, TRUE);
  g_unsetenv ("HF_TOKEN_PATH");
  g_setenv ("HF_TOKEN", "hf_env_token", TRUE);
  g_autofree char *t1 = kinora_hub_dup_token ();
  g_assert_cmpstr (t1, ==, "hf_env_token");
  g_unsetenv ("HF_TOKEN");
  g_autofree char *t2 = kinora_hub_dup_token ();
  g_assert_cmpstr (t2, ==, "hf_file_token");
  g_unlink (tf);
  g_autofree char *t3 = kinora_hub_dup_token ();
  g_assert_null (t3);
  g_rmdir (home);
  g_unsetenv ("HF_HOME");
}

typedef struct
{
  int     n;
  guint64 last_done, last_total;
  double  last_rate;
} Progress;

static void
progress_cb (const KinoraHubProgress *p,
             gpointer                 user_data)
{
  Progress *pr = user_data;
  g_assert_cmpuint (p->done, >=, pr->last_done);
  pr->n++;
  pr->last_done = p->done;
  pr->last_total = p->total;
  pr->last_rate = p->rate;
}

static void
test_redirect (Fixture      *fx,
               gconstpointer data)
{
  g_autofree char *dest = NULL;
  hub_server_add (fx->hub, "Org/Model", "sub/weights.safetensors", fx->content, HUB_FILE_NORMAL);
  KinoraHubFile f = hub_file (fx, "Org/Model", "sub/weights.safetensors", &dest);
  Progress pr = { 0 };
  g_autoptr (GError) error = NULL;
  g_assert_true (kinora_hub_download (&f, progress_cb, &pr, NULL, &error));
  g_assert_no_error (error);
  assert_file_is (dest, fx->content);
  g_autofree char *partial = g_strconcat (dest, ".partial", NULL);
  g_assert_false (g_file_test (partial, G_FILE_TEST_EXISTS));
  /* the total came from X-Linked-Size, progress ended at it */
  g_assert_cmpuint (pr.last_total, ==, SIZE);
  g_assert_cmpuint (pr.last_done, ==, SIZE);
  g_assert_cmpint (pr.n, >=, 2);
  g_assert_cmpint (hub_server_n_blob_requests (fx->hub), ==, 1);
  g_assert_cmpint (hub_server_last_range (fx->hub), ==, -1);
  g_autofree char *want = hub_test_sha256 (fx->content);
  g_autofree char *rec = kinora_hub_dup_recorded_sha256 (dest);
  g_assert_cmpstr (rec, ==, want);
  g_autofree char *sum = kinora_hub_file_sha256 (dest, NULL, &error);
  g_assert_cmpstr (sum, ==, want);

  /* a file at the resolve URL itself (no redirect, no X-Linked-*) */
  g_autoptr (GBytes) small = hub_test_bytes (1000, 3);
  hub_server_add (fx->hub, "Org/Model", "config.json", small, HUB_FILE_DIRECT);
  g_autofree char *dest2 = NULL;
  KinoraHubFile f2 = hub_file (fx, "Org/Model", "config.json", &dest2);
  g_assert_true (kinora_hub_download (&f2, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  assert_file_is (dest2, small);
}

static void
test_resume_after_restart (Fixture      *fx,
                           gconstpointer data)
{
  g_autofree char *dest = NULL;
  hub_server_add (fx->hub, "Org/Model", "w.bin", fx->content, HUB_FILE_NORMAL);
  KinoraHubFile f = hub_file (fx, "Org/Model", "w.bin", &dest);
  g_autofree char *dir = g_path_get_dirname (dest);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  g_autofree char *partial = g_strconcat (dest, ".partial", NULL);
  /* what an earlier run left: the first 300000 bytes */
  g_assert_true (g_file_set_contents (partial, g_bytes_get_data (fx->content, NULL), 300000, NULL));
  Progress pr = { 0 };
  g_autoptr (GError) error = NULL;
  g_assert_true (kinora_hub_download (&f, progress_cb, &pr, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (hub_server_last_range (fx->hub), ==, 300000);
  g_assert_cmpint (hub_server_n_blob_requests (fx->hub), ==, 1);
  assert_file_is (dest, fx->content);
  g_assert_false (g_file_test (partial, G_FILE_TEST_EXISTS));

  /* a stale partial longer than the file: 416, then a fresh start */
  g_autofree char *dest2 = NULL;
  hub_server_add (fx->hub, "Org/Model", "w2.bin", fx->content, HUB_FILE_NORMAL);
  KinoraHubFile f2 = hub_file (fx, "Org/Model", "w2.bin", &dest2);
  g_autofree char *partial2 = g_strconcat (dest2, ".partial", NULL);
  g_autoptr (GBytes) longer = hub_test_bytes (SIZE + 10, 99);
  g_assert_true (g_file_set_contents (partial2, g_bytes_get_data (longer, NULL), SIZE + 10, NULL));
  g_assert_true (kinora_hub_download (&f2, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  assert_file_is (dest2, fx->content);

  /* a stale partial of other bytes: the digest fails, one fresh start verifies */
  g_autofree char *dest3 = NULL;
  hub_server_add (fx->hub, "Org/Model", "w3.bin", fx->content, HUB_FILE_NORMAL);
  KinoraHubFile f3 = hub_file (fx, "Org/Model", "w3.bin", &dest3);
  g_autofree char *partial3 = g_strconcat (dest3, ".partial", NULL);
  g_assert_true (g_file_set_contents (partial3, g_bytes_get_data (longer, NULL), 5000, NULL));
  g_assert_true (kinora_hub_download (&f3, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  assert_file_is (dest3, fx->content);
  g_assert_cmpint (hub_server_last_range (fx->hub), ==, -1);
}

static void
test_drop_resumed (Fixture      *fx,
                   gconstpointer data)
{
  g_autofree char *dest = NULL;
  hub_server_add (fx->hub, "Org/Model", "drop.bin", fx->content, HUB_FILE_DROP_ONCE);
  KinoraHubFile f = hub_file (fx, "Org/Model", "drop.bin", &dest);
  g_autoptr (GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  g_assert_true (kinora_hub_download (&f, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 20 * G_TIME_SPAN_SECOND);
  assert_file_is (dest, fx->content);
  /* two transfers: the dropped one, then a Range from where it stopped */
  g_assert_cmpint (hub_server_n_blob_requests (fx->hub), ==, 2);
  g_assert_cmpint (hub_server_last_range (fx->hub), ==, SIZE / 2);
}

static void
test_wrong_hash (Fixture      *fx,
                 gconstpointer data)
{
  g_autofree char *dest = NULL;
  hub_server_add (fx->hub, "Org/Model", "bad.bin", fx->content, HUB_FILE_BAD_HASH);
  KinoraHubFile f = hub_file (fx, "Org/Model", "bad.bin", &dest);
  g_autoptr (GError) error = NULL;
  g_assert_false (kinora_hub_download (&f, NULL, NULL, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "bad.bin"));
  g_assert_nonnull (strstr (error->message, "SHA-256"));
  g_assert_false (g_file_test (dest, G_FILE_TEST_EXISTS));
  g_autofree char *partial = g_strconcat (dest, ".partial", NULL);
  g_assert_false (g_file_test (partial, G_FILE_TEST_EXISTS));
  g_clear_error (&error);

  /* the catalog's digest wins over a correct server: a wrong catalog digest is refused too */
  g_autofree char *dest2 = NULL;
  hub_server_add (fx->hub, "Org/Model", "good.bin", fx->content, HUB_FILE_NORMAL);
  KinoraHubFile f2 = hub_file (fx, "Org/Model", "good.bin", &dest2);
  f2.sha256 = "1111111111111111111111111111111111111111111111111111111111111111";
  g_assert_false (kinora_hub_download (&f2, NULL, NULL, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_false (g_file_test (dest2, G_FILE_TEST_EXISTS));
  g_clear_error (&error);

  /* a catalog size that is not the server's: refused before any byte is written */
  f2.sha256 = NULL;
  f2.size = SIZE + 1;
  g_assert_false (kinora_hub_download (&f2, NULL, NULL, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_false (g_file_test (dest2, G_FILE_TEST_EXISTS));
}

static void
test_auth (Fixture      *fx,
           gconstpointer data)
{
  g_autofree char *dest = NULL;
  hub_server_add (fx->hub, "Gated/Model", "g.bin", fx->content, HUB_FILE_GATED);
  KinoraHubFile f = hub_file (fx, "Gated/Model", "g.bin", &dest);
  g_autoptr (GError) error = NULL;
  g_assert_false (kinora_hub_download (&f, NULL, NULL, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_assert_nonnull (strstr (error->message, "HF_TOKEN"));
  g_assert_false (g_file_test (dest, G_FILE_TEST_EXISTS));
  g_clear_error (&error);

  f.token = "wrong";
  g_assert_false (kinora_hub_download (&f, NULL, NULL, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_assert_nonnull (strstr (error->message, "refused the token"));
  g_clear_error (&error);

  g_setenv ("HF_TOKEN", "secret-token", TRUE);
  g_autofree char *token = kinora_hub_dup_token ();
  g_unsetenv ("HF_TOKEN");
  f.token = token;
  g_assert_true (kinora_hub_download (&f, NULL, NULL, NULL, &error));
  g_assert_no_error (error);
  assert_file_is (dest, fx->content);
}

static void
test_not_found (Fixture      *fx,
                gconstpointer data)
{
  g_autofree char *dest = NULL;
  KinoraHubFile f = hub_file (fx, "Org/Model", "missing.gguf", &dest);
  f.revision = "v2";
  g_autoptr (GError) error = NULL;
  g_assert_false (kinora_hub_download (&f, NULL, NULL, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "missing.gguf"));
  g_assert_nonnull (strstr (error->message, "v2"));
  g_assert_false (g_file_test (dest, G_FILE_TEST_EXISTS));
  g_clear_error (&error);

  /* nothing listening: bounded retries, then an error naming the file */
  KinoraHubFile g = f;
  g.endpoint = "http://127.0.0.1:1";
  gint64 t0 = g_get_monotonic_time ();
  g_assert_false (kinora_hub_download (&g, NULL, NULL, NULL, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "missing.gguf"));
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 20 * G_TIME_SPAN_SECOND);
}

static gpointer
cancel_later (gpointer data)
{
  g_usleep (300000);
  g_cancellable_cancel (data);
  return NULL;
}

static void
test_cancel_stalled (Fixture      *fx,
                     gconstpointer data)
{
  g_autofree char *dest = NULL;
  hub_server_add (fx->hub, "Org/Model", "slow.bin", fx->content, HUB_FILE_STALL);
  KinoraHubFile f = hub_file (fx, "Org/Model", "slow.bin", &dest);
  g_autoptr (GCancellable) cancel = g_cancellable_new ();
  GThread *t = g_thread_new ("cancel", cancel_later, cancel);
  g_autoptr (GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  g_assert_false (kinora_hub_download (&f, NULL, NULL, cancel, &error));
  gint64 dt = g_get_monotonic_time () - t0;
  g_thread_join (t);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  /* the cancel came after 0.3 s; the download stopped within 5 s of the start */
  g_assert_cmpint (dt, >=, 250000);
  g_assert_cmpint (dt, <, 5 * G_TIME_SPAN_SECOND);
  g_assert_false (g_file_test (dest, G_FILE_TEST_EXISTS));
  /* the bytes that came are kept for a resume */
  g_autofree char *partial = g_strconcat (dest, ".partial", NULL);
  GStatBuf st;
  g_assert_cmpint (g_stat (partial, &st), ==, 0);
  g_assert_cmpint (st.st_size, ==, 4096);
}

static void
test_no_room (Fixture      *fx,
              gconstpointer data)
{
  g_autofree char *dest = NULL;
  hub_server_add (fx->hub, "Org/Model", "huge.bin", fx->content, HUB_FILE_HUGE);
  KinoraHubFile f = hub_file (fx, "Org/Model", "huge.bin", &dest);
  g_autoptr (GError) error = NULL;
  g_assert_false (kinora_hub_download (&f, NULL, NULL, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_assert_nonnull (strstr (error->message, "free"));
  g_assert_false (g_file_test (dest, G_FILE_TEST_EXISTS));
  g_autofree char *partial = g_strconcat (dest, ".partial", NULL);
  g_assert_false (g_file_test (partial, G_FILE_TEST_EXISTS));
  g_assert_cmpint (hub_server_n_blob_requests (fx->hub), ==, 0);
}

/* In a subprocess: files may not grow past 100 KiB (writes then fail with EFBIG, SIGXFSZ ignored). */
static void
test_disk_full (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr (HubServer) hub = hub_server_new (NULL);
      g_autoptr (GBytes) content = hub_test_bytes (SIZE, 11);
      hub_server_add (hub, "Org/Model", "full.bin", content, HUB_FILE_NORMAL);
      g_autofree char *dir = g_dir_make_tmp ("kinora-full-XXXXXX", NULL);
      g_autofree char *dest = g_build_filename (dir, "full.bin", NULL);
      g_autofree char *partial = g_strconcat (dest, ".partial", NULL);
      KinoraHubFile f = { hub_server_endpoint (hub), NULL, "Org/Model", NULL, "full.bin", dest, NULL, 0 };
      signal (SIGXFSZ, SIG_IGN);
      struct rlimit rl = { 100 * 1024, 100 * 1024 };
      g_assert_cmpint (setrlimit (RLIMIT_FSIZE, &rl), ==, 0);
      g_autoptr (GError) error = NULL;
      gboolean ok = kinora_hub_download (&f, NULL, NULL, NULL, &error);
      g_assert_false (ok);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
      g_assert_nonnull (strstr (error->message, "full.bin.partial"));
      g_assert_false (g_file_test (dest, G_FILE_TEST_EXISTS));
      GStatBuf st;
      g_assert_cmpint (g_stat (partial, &st), ==, 0);
      g_assert_cmpint (st.st_size, <=, 100 * 1024);
      g_print ("refused: %s\n", error->message);
      g_unlink (partial);
      g_rmdir (dir);
      return;
    }
  g_test_trap_subprocess (NULL, 60 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout ("*refused:*writing failed*");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  /* the loopback server only: no proxy, no token from the environment */
  const char *unset[] = { "HF_TOKEN", "HF_ENDPOINT", "http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY",
                          "HTTPS_PROXY", "ALL_PROXY" };
  for (guint i = 0; i < G_N_ELEMENTS (unset); i++)
    g_unsetenv (unset[i]);
  g_test_add_func ("/hub/names", test_names);
  g_test_add ("/hub/redirect", Fixture, NULL, fixture_setup, test_redirect, fixture_teardown);
  g_test_add ("/hub/resume-after-restart", Fixture, NULL, fixture_setup, test_resume_after_restart, fixture_teardown);
  g_test_add ("/hub/drop-resumed", Fixture, NULL, fixture_setup, test_drop_resumed, fixture_teardown);
  g_test_add ("/hub/wrong-hash", Fixture, NULL, fixture_setup, test_wrong_hash, fixture_teardown);
  g_test_add ("/hub/auth", Fixture, NULL, fixture_setup, test_auth, fixture_teardown);
  g_test_add ("/hub/not-found", Fixture, NULL, fixture_setup, test_not_found, fixture_teardown);
  g_test_add ("/hub/cancel-stalled", Fixture, NULL, fixture_setup, test_cancel_stalled, fixture_teardown);
  g_test_add ("/hub/no-room", Fixture, NULL, fixture_setup, test_no_room, fixture_teardown);
  g_test_add_func ("/hub/disk-full", test_disk_full);
  return g_test_run ();
}
