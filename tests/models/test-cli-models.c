/* Tests for app/cli-models.c: kinora-cli models list|download|verify|remove against the loopback hub
 * (hub-test-server.c on 127.0.0.1, HF_ENDPOINT pointing at it), and the shipped catalog.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <glib/gstdio.h>

#include "hub-test-server.h"
#include "kinora-catalog.h"

typedef struct
{
  HubServer *hub;
  char      *dir;
  char      *models;
  char      *catalog;
  GBytes    *dit, *vae, *gated;
} Fixture;

static const char *catalog_text =
  "{ \"format\": 1, \"entries\": [\n"
  "  { \"name\": \"test-dit\", \"title\": \"Test DiT\", \"kind\": \"dit\", \"pairs\": [\"test-vae\"],\n"
  "    \"files\": [ { \"role\": \"dit\", \"repo\": \"Org/Test\", \"path\": \"split/dit.safetensors\", \"size\": null,\n"
  "                 \"sha256\": null },\n"
  "               { \"role\": \"config\", \"repo\": \"Org/Test\", \"path\": \"config.json\" } ] },\n"
  "  { \"name\": \"test-vae\", \"title\": \"Test VAE\", \"kind\": \"vae\",\n"
  "    \"files\": [ { \"role\": \"vae\", \"repo\": \"Org/Vae\", \"path\": \"vae.safetensors\", \"size\": 40000 } ] },\n"
  "  { \"name\": \"test-gated\", \"title\": \"Gated\", \"kind\": \"lora\",\n"
  "    \"files\": [ { \"role\": \"lora\", \"repo\": \"Gated/Repo\", \"path\": \"lora.safetensors\" } ] },\n"
  "  { \"name\": \"test-missing\", \"title\": \"Not on the server\", \"kind\": \"vae\",\n"
  "    \"files\": [ { \"role\": \"vae\", \"repo\": \"Org/Gone\", \"path\": \"gone.safetensors\" } ] }\n"
  "] }\n";

static void
fixture_setup (Fixture      *fx,
               gconstpointer data)
{
  fx->hub = hub_server_new ("tok-123");
  fx->dir = g_dir_make_tmp ("kinora-cli-models-XXXXXX", NULL);
  fx->models = g_build_filename (fx->dir, "models", NULL);
  fx->catalog = g_build_filename (fx->dir, "catalog.json", NULL);
  g_assert_true (g_file_set_contents (fx->catalog, catalog_text, -1, NULL));
  fx->dit = hub_test_bytes (300000, 1);
  fx->vae = hub_test_bytes (40000, 2);
  fx->gated = hub_test_bytes (5000, 3);
  g_autoptr (GBytes) config = g_bytes_new_static ("{\"dim\": 8}", 10);
  hub_server_add (fx->hub, "Org/Test", "split/dit.safetensors", fx->dit, HUB_FILE_DROP_ONCE);
  hub_server_add (fx->hub, "Org/Test", "config.json", config, HUB_FILE_DIRECT);
  hub_server_add (fx->hub, "Org/Vae", "vae.safetensors", fx->vae, HUB_FILE_NORMAL);
  hub_server_add (fx->hub, "Gated/Repo", "lora.safetensors", fx->gated, HUB_FILE_GATED);
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
  g_free (fx->models);
  g_free (fx->catalog);
  g_bytes_unref (fx->dit);
  g_bytes_unref (fx->vae);
  g_bytes_unref (fx->gated);
}

/* kinora-cli models ARGS with the hub at the loopback server; exit status, stdout and stderr. */
static int
run_models (Fixture           *fx,
            const char        *token,
            char             **out,
            char             **err,
            const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_ptr_array_add (argv, (char *) g_getenv ("KINORA_CLI"));
  g_ptr_array_add (argv, (char *) "models");
  for (int i = 0; args[i]; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);
  g_assert_nonnull (g_ptr_array_index (argv, 0));
  g_auto (GStrv) env = g_get_environ ();
  const char *unset[] = { "HF_TOKEN", "HF_TOKEN_PATH", "http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY" };
  for (guint i = 0; i < G_N_ELEMENTS (unset); i++)
    env = g_environ_unsetenv (env, unset[i]);
  env = g_environ_setenv (env, "HF_ENDPOINT", fx->hub ? hub_server_endpoint (fx->hub) : "http://127.0.0.1:1", TRUE);
  g_autofree char *hf_home = g_build_filename (fx->dir, "hf-home", NULL);
  env = g_environ_setenv (env, "HF_HOME", hf_home, TRUE);
  if (fx->catalog)
    env = g_environ_setenv (env, "KINORA_CATALOG", fx->catalog, TRUE);
  env = g_environ_setenv (env, "KINORA_MODELS_DIR", fx->models, TRUE);
  if (token)
    env = g_environ_setenv (env, "HF_TOKEN", token, TRUE);
  int status = -1;
  g_autoptr (GError) error = NULL;
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, env, G_SPAWN_DEFAULT, NULL, NULL, out, err, &status, &error));
  g_assert_no_error (error);
  g_test_message ("models %s: stdout: %s\nstderr: %s", args[0], *out, *err);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static gboolean
line_has (const char *text,
          const char *name,
          const char *state)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (int i = 0; lines[i]; i++)
    if (g_str_has_prefix (lines[i], name) && lines[i][strlen (name)] == ' ' && strstr (lines[i], state))
      return TRUE;
  return FALSE;
}

static void
assert_file_is (const char *path,
                GBytes     *want)
{
  g_autofree char *got = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (path, &got, &len, NULL));
  g_assert_cmpmem (got, len, g_bytes_get_data (want, NULL), g_bytes_get_size (want));
}

static void
test_catalog_cycle (Fixture      *fx,
                    gconstpointer data)
{
  g_autofree char *out = NULL, *err = NULL;
  const char *list[] = { "list", NULL };
  g_assert_cmpint (run_models (fx, NULL, &out, &err, list), ==, 0);
  g_assert_true (line_has (out, "test-dit", "not installed"));
  g_assert_true (line_has (out, "test-vae", "not installed"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* the DiT's transfer drops halfway and resumes; --with-pairs brings the VAE */
  const char *dl[] = { "download", "test-dit", "--with-pairs", "--quiet", NULL };
  g_assert_cmpint (run_models (fx, NULL, &out, &err, dl), ==, 0);
  g_autofree char *dit = g_build_filename (fx->models, "Org", "Test", "split", "dit.safetensors", NULL);
  g_autofree char *vae = g_build_filename (fx->models, "Org", "Vae", "vae.safetensors", NULL);
  assert_file_is (dit, fx->dit);
  assert_file_is (vae, fx->vae);
  g_assert_cmpint (hub_server_last_range (fx->hub), ==, -1); /* the VAE came last, whole */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (run_models (fx, NULL, &out, &err, list), ==, 0);
  g_assert_true (line_has (out, "test-dit", "installed"));
  g_assert_false (line_has (out, "test-dit", "not installed"));
  g_assert_true (line_has (out, "test-vae", "installed"));
  g_assert_true (line_has (out, "test-gated", "not installed"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  const char *verify[] = { "verify", NULL };
  g_assert_cmpint (run_models (fx, NULL, &out, &err, verify), ==, 0);
  g_assert_nonnull (strstr (out, "3 file(s) checked, 0 problem(s)"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* one flipped byte: verify names the file */
  g_autofree char *bytes = NULL;
  gsize len = 0;
  g_assert_true (g_file_get_contents (vae, &bytes, &len, NULL));
  bytes[len / 2] ^= 0x40;
  g_assert_true (g_file_set_contents (vae, bytes, len, NULL));
  g_assert_cmpint (run_models (fx, NULL, &out, &err, verify), ==, 1);
  g_assert_nonnull (strstr (out, "MISMATCH"));
  g_assert_nonnull (strstr (out, "vae.safetensors"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* removing the VAE keeps nothing of it; removing the DiT empties its folders */
  const char *rm[] = { "remove", "test-vae", "test-dit", NULL };
  g_assert_cmpint (run_models (fx, NULL, &out, &err, rm), ==, 0);
  g_assert_false (g_file_test (vae, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (dit, G_FILE_TEST_EXISTS));
  g_autofree char *org = g_build_filename (fx->models, "Org", NULL);
  g_assert_false (g_file_test (org, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (fx->models, G_FILE_TEST_IS_DIR));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_models (fx, NULL, &out, &err, list), ==, 0);
  g_assert_true (line_has (out, "test-dit", "not installed"));
}

static void
test_errors (Fixture      *fx,
             gconstpointer data)
{
  g_autofree char *out = NULL, *err = NULL;
  /* a gated repository: 401 without a token, then HF_TOKEN, then the token file */
  const char *dl[] = { "download", "test-gated", "--quiet", NULL };
  g_assert_cmpint (run_models (fx, NULL, &out, &err, dl), ==, 1);
  g_assert_nonnull (strstr (err, "HF_TOKEN"));
  g_assert_nonnull (strstr (err, "lora.safetensors"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_models (fx, "tok-123", &out, &err, dl), ==, 0);
  g_autofree char *lora = g_build_filename (fx->models, "Gated", "Repo", "lora.safetensors", NULL);
  assert_file_is (lora, fx->gated);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (g_unlink (lora), ==, 0);
  g_autofree char *hf_home = g_build_filename (fx->dir, "hf-home", NULL);
  g_autofree char *token_file = g_build_filename (hf_home, "token", NULL);
  g_assert_cmpint (g_mkdir_with_parents (hf_home, 0700), ==, 0);
  g_assert_true (g_file_set_contents (token_file, "tok-123\n", -1, NULL));
  g_assert_cmpint (run_models (fx, NULL, &out, &err, dl), ==, 0);
  assert_file_is (lora, fx->gated);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* 404, an unknown entry, bad arguments */
  const char *missing[] = { "download", "test-missing", "--quiet", NULL };
  g_assert_cmpint (run_models (fx, NULL, &out, &err, missing), ==, 1);
  g_assert_nonnull (strstr (err, "gone.safetensors: not found in Org/Gone"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  const char *unknown[] = { "download", "no-such-model", NULL };
  g_assert_cmpint (run_models (fx, NULL, &out, &err, unknown), ==, 1);
  g_assert_nonnull (strstr (err, "no entry 'no-such-model'"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  const char *half[] = { "download", "--repo", "Org/Vae", "--dest", fx->dir, NULL };
  g_assert_cmpint (run_models (fx, NULL, &out, &err, half), ==, 2);
  g_assert_nonnull (strstr (err, "--repo, --file and --dest"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  const char *dots[] = { "download", "--repo", "Org/Vae", "--file", "../x", "--dest", fx->dir, NULL };
  g_assert_cmpint (run_models (fx, NULL, &out, &err, dots), ==, 2);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  const char *sha[] = { "download", "--repo", "Org/Vae", "--file", "vae.safetensors", "--sha256", "abc", "--dest", fx->dir, NULL };
  g_assert_cmpint (run_models (fx, NULL, &out, &err, sha), ==, 2);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  const char *none[] = { "remove", NULL };
  g_assert_cmpint (run_models (fx, NULL, &out, &err, none), ==, 2);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  const char *flag[] = { "list", "--repo", "Org/Vae", NULL };
  g_assert_cmpint (run_models (fx, NULL, &out, &err, flag), ==, 2);
}

static void
test_hub_file (Fixture      *fx,
               gconstpointer data)
{
  g_autofree char *out = NULL, *err = NULL;
  g_autofree char *dest = g_build_filename (fx->dir, "anywhere", NULL);
  g_autofree char *want = hub_test_sha256 (fx->vae);
  const char *dl[] = { "download", "--repo", "Org/Vae", "--file", "vae.safetensors", "--revision", "abc123",
                       "--sha256", want, "--dest", dest, "--quiet", NULL };
  g_assert_cmpint (run_models (fx, NULL, &out, &err, dl), ==, 0);
  g_autofree char *file = g_build_filename (dest, "vae.safetensors", NULL);
  assert_file_is (file, fx->vae);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* a wrong --sha256: refused, nothing left */
  g_autofree char *dest2 = g_build_filename (fx->dir, "other", NULL);
  const char *bad[] = { "download", "--repo", "Org/Vae", "--file", "vae.safetensors", "--sha256",
                        "2222222222222222222222222222222222222222222222222222222222222222", "--dest", dest2, "--quiet", NULL };
  g_assert_cmpint (run_models (fx, NULL, &out, &err, bad), ==, 1);
  g_assert_nonnull (strstr (err, "does not match"));
  g_autofree char *file2 = g_build_filename (dest2, "vae.safetensors", NULL);
  g_autofree char *partial2 = g_strconcat (file2, ".partial", NULL);
  g_assert_false (g_file_test (file2, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (partial2, G_FILE_TEST_EXISTS));
}


/* Ctrl+C during a download: exit status 130 within seconds, the .partial kept; the same command then
 * resumes it with a Range request. */
static void
test_interrupt_resume (Fixture      *fx,
                       gconstpointer data)
{
  g_autoptr (GBytes) big = hub_test_bytes (200000, 9);
  hub_server_add (fx->hub, "Org/Slow", "slow.bin", big, HUB_FILE_STALL);
  g_autofree char *dest = g_build_filename (fx->dir, "got", NULL);
  g_autofree char *file = g_build_filename (dest, "slow.bin", NULL);
  g_autofree char *partial = g_strconcat (file, ".partial", NULL);
  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_unsetenv (l, "HF_TOKEN");
  g_subprocess_launcher_unsetenv (l, "http_proxy");
  g_subprocess_launcher_unsetenv (l, "HTTP_PROXY");
  g_subprocess_launcher_setenv (l, "HF_ENDPOINT", hub_server_endpoint (fx->hub), TRUE);
  g_subprocess_launcher_setenv (l, "HF_HOME", fx->dir, TRUE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) p = g_subprocess_launcher_spawn (l, &error, g_getenv ("KINORA_CLI"), "models", "download",
                                                           "--repo", "Org/Slow", "--file", "slow.bin", "--dest", dest,
                                                           "--quiet", NULL);
  g_assert_no_error (error);
  /* wait (bounded) for the first bytes on disk */
  GStatBuf st = { 0 };
  for (int i = 0; i < 200 && (g_stat (partial, &st) != 0 || st.st_size < 4096); i++)
    g_usleep (50000);
  g_assert_cmpint (st.st_size, ==, 4096);
  gint64 t0 = g_get_monotonic_time ();
  g_subprocess_send_signal (p, SIGINT);
  g_assert_true (g_subprocess_wait (p, NULL, &error));
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 10 * G_TIME_SPAN_SECOND);
  g_assert_true (g_subprocess_get_if_exited (p));
  g_assert_cmpint (g_subprocess_get_exit_status (p), ==, 130);
  g_assert_true (g_file_test (partial, G_FILE_TEST_IS_REGULAR));
  g_assert_false (g_file_test (file, G_FILE_TEST_EXISTS));

  /* the server answers normally now: the same command resumes from byte 4096 */
  hub_server_add (fx->hub, "Org/Slow", "slow.bin", big, HUB_FILE_NORMAL);
  g_autofree char *out = NULL, *err = NULL;
  const char *again[] = { "download", "--repo", "Org/Slow", "--file", "slow.bin", "--dest", dest, "--quiet", NULL };
  g_assert_cmpint (run_models (fx, NULL, &out, &err, again), ==, 0);
  g_assert_cmpint (hub_server_last_range (fx->hub), ==, 4096);
  assert_file_is (file, big);
  g_assert_false (g_file_test (partial, G_FILE_TEST_EXISTS));
}

/* The shipped catalog parses and checks (every file a repo and a path, every pair an entry), and
 * `models list` prints every entry. */
static void
test_shipped_catalog (void)
{
  const char *path = g_getenv ("KINORA_CATALOG");
  g_assert_nonnull (path);
  g_autoptr (GError) error = NULL;
  g_autoptr (KinoraCatalog) cat = kinora_catalog_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (cat->entries->len, >=, 10);
  gboolean roles[4] = { FALSE };
  for (guint i = 0; i < cat->entries->len; i++)
    {
      const KinoraCatalogEntry *e = g_ptr_array_index (cat->entries, i);
      g_assert_cmpuint (e->files->len, >, 0);
      for (guint j = 0; j < e->files->len; j++)
        {
          const KinoraCatalogFile *f = g_ptr_array_index (e->files, j);
          g_assert_nonnull (strchr (f->repo, '/'));
          g_assert_cmpstr (f->path, !=, "");
          roles[0] |= g_str_has_prefix (f->role, "dit");
          roles[1] |= strcmp (f->role, "text-encoder") == 0;
          roles[2] |= strcmp (f->role, "vae") == 0;
          roles[3] |= g_str_has_prefix (f->role, "lora");
        }
      for (int k = 0; e->pairs[k]; k++)
        g_assert_nonnull (kinora_catalog_lookup (cat, e->pairs[k]));
    }
  for (int r = 0; r < 4; r++)
    g_assert_true (roles[r]);

  Fixture fx = { 0 };
  fx.dir = g_dir_make_tmp ("kinora-cli-models-XXXXXX", NULL);
  fx.models = g_build_filename (fx.dir, "models", NULL);
  g_autofree char *out = NULL, *err = NULL;
  const char *list[] = { "list", NULL };
  g_assert_cmpint (run_models (&fx, NULL, &out, &err, list), ==, 0);
  for (guint i = 0; i < cat->entries->len; i++)
    {
      const KinoraCatalogEntry *e = g_ptr_array_index (cat->entries, i);
      g_assert_true (line_has (out, e->name, "not installed"));
    }
  rm_rf (fx.dir);
  g_free (fx.dir);
  g_free (fx.models);

  /* a broken catalog is refused with the file and the problem */
  g_autofree char *dir = g_dir_make_tmp ("kinora-cat-XXXXXX", NULL);
  g_autofree char *bad = g_build_filename (dir, "bad.json", NULL);
  g_assert_true (g_file_set_contents (bad, "{\"entries\": [{\"name\": \"a\", \"title\": \"A\", \"kind\": \"vae\", "
                                           "\"pairs\": [\"b\"], \"files\": [{\"role\": \"vae\", \"repo\": \"O/R\", \"path\": \"v\"}]}]}",
                                      -1, NULL));
  g_assert_null (kinora_catalog_load (bad, &error));
  g_assert_nonnull (strstr (error->message, "pairs with \"b\""));
  g_clear_error (&error);
  g_assert_true (g_file_set_contents (bad, "{\"entries\": [{\"name\": \"a\", \"title\": \"A\", \"kind\": \"vae\", "
                                           "\"files\": [{\"role\": \"vae\", \"path\": \"v\"}]}]}", -1, NULL));
  g_assert_null (kinora_catalog_load (bad, &error));
  g_assert_nonnull (strstr (error->message, "\"repo\""));
  g_clear_error (&error);
  g_unlink (bad);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/cli-models/catalog-cycle", Fixture, NULL, fixture_setup, test_catalog_cycle, fixture_teardown);
  g_test_add ("/cli-models/errors", Fixture, NULL, fixture_setup, test_errors, fixture_teardown);
  g_test_add ("/cli-models/hub-file", Fixture, NULL, fixture_setup, test_hub_file, fixture_teardown);
  g_test_add ("/cli-models/interrupt-resume", Fixture, NULL, fixture_setup, test_interrupt_resume, fixture_teardown);
  g_test_add_func ("/cli-models/shipped-catalog", test_shipped_catalog);
  return g_test_run ();
}
