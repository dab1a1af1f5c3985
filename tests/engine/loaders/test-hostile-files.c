/* Hostile files for every reader (issue 11 items 6, 9 and 12): FIFOs given as weights, an index,
 * config.json, a tokenizer, an image, an eval IO or an eval --config must fail at once naming the file
 * (they blocked forever before); a config.json that exists but cannot be read fails instead of being
 * ignored; every config value is checked against its range, and the message names the config.json
 * (not the index or weights file), the key and the valid range. */
#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "eval/eval-io.h"
#include "loaders/loaders.h"
#include "loaders/name-map.h"
#include "models/dit/wan.h"
#include "pipeline/io-impl.h"
#include "test-util.h"

static char *
make_fifo (const char *name)
{
  char *p = test_tmp_path (name);
  g_assert_cmpint (mkfifo (p, 0600), ==, 0);
  return p;
}

static void
on_alarm (int sig)
{
  (void) sig;
  static const char msg[] = "Bail out! a reader blocked on a FIFO for 20 s\n";
  if (write (STDOUT_FILENO, msg, sizeof msg - 1) < 0)
    _exit (3);
  _exit (1);
}

/* The error must name the file and say what it is. */
static void
assert_fifo_error (const struct ke_error *err, const char *path)
{
  g_test_message ("%s", err->msg);
  g_assert_cmpint (err->code, !=, KE_STATUS_OK);
  g_assert_nonnull (strstr (err->msg, path));
  g_assert_nonnull (strstr (err->msg, "not a regular file"));
}

static char *dit_with_config (const char *name, const char *config);

static void
test_fifos (void)
{
  struct ke_error err = { 0 };
  struct ke_tensor_set *s = NULL;
  alarm (20);

  /* weights: a .safetensors, an index, a .pth, and through the any-format opener */
  const char *names[] = { "w.safetensors", "w.safetensors.index.json", "w.pth" };
  for (size_t i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *p = make_fifo (names[i]);
      memset (&err, 0, sizeof err);
      g_assert_cmpint (ke_weights_open (&s, p, &err), !=, KE_STATUS_OK);
      g_assert_null (s);
      g_test_message ("%s", err.msg);
      g_assert_nonnull (strstr (err.msg, p));
      g_assert_nonnull (strstr (err.msg, "FIFO"));
      memset (&err, 0, sizeof err);
      g_assert_cmpint (ke_safetensors_open (&s, p, &err), !=, KE_STATUS_OK);
      assert_fifo_error (&err, p);
      memset (&err, 0, sizeof err);
      g_assert_cmpint (ke_pth_open (&s, p, &err), !=, KE_STATUS_OK);
      assert_fifo_error (&err, p);
    }

  /* config.json beside real weights */
  g_autofree char *w = dit_with_config ("fifo-config", NULL);
  g_autofree char *dir = g_path_get_dirname (w);
  g_autofree char *cfg = g_build_filename (dir, "config.json", NULL);
  g_assert_cmpint (mkfifo (cfg, 0600), ==, 0);
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_weights_open (&s, w, &err), !=, KE_STATUS_OK);
  assert_fifo_error (&err, cfg);

  /* tokenizer, image, eval IO (--in) and eval --config */
  g_autofree char *tok = make_fifo ("tokenizer.json");
  ke_tokenizer_t *t = NULL;
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_tokenizer_open (&t, tok, &err), !=, KE_STATUS_OK);
  assert_fifo_error (&err, tok);
  g_autofree char *img = make_fifo ("image.png");
  struct ke_image *im = NULL;
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_image_read (&im, img, &err), !=, KE_STATUS_OK);
  assert_fifo_error (&err, img);
  g_autofree char *io = make_fifo ("in.io.safetensors");
  struct ke_io *x = NULL;
  memset (&err, 0, sizeof err);
  g_assert_cmpint (ke_io_read (&x, io, &err), !=, KE_STATUS_OK);
  assert_fifo_error (&err, io);
  g_autofree char *ec = make_fifo ("eval-config.json");
  memset (&err, 0, sizeof err);
  g_assert_null (ke_eval_read_text (ec, &err));
  assert_fifo_error (&err, ec);

  /* the command line: --image and eval --in */
  const char *cli = g_getenv ("KINORA_CLI");
  g_assert_nonnull (cli);
  g_autofree char *out = test_tmp_path ("fifo.gif");
  const char *argv1[] = { cli, "generate", "--model", "tiny", "--prompt", "x", "--image", img, "-o", out,
                          "--quiet", NULL };
  const char *argv2[] = { cli, "eval", "scheduler", "--in", io, "--out", out, NULL };
  const char **argvs[] = { argv1, argv2 };
  for (int i = 0; i < 2; i++)
    {
      g_autofree char *stderr_text = NULL;
      int status = 0;
      GError *error = NULL;
      g_assert_true (g_spawn_sync (NULL, (char **) argvs[i], NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                                   &stderr_text, &status, &error));
      g_assert_no_error (error);
      g_test_message ("%s", stderr_text);
      g_assert_false (g_spawn_check_wait_status (status, NULL));
      g_assert_nonnull (strstr (stderr_text, i == 0 ? img : io));
      g_assert_nonnull (strstr (stderr_text, "not a regular file (a FIFO)"));
    }
  alarm (0);
}

/* The tiny t2v DiT without its "config" metadata (so that config.json beside it is read). */
static const char *
bare_dit (void)
{
  static char *path;
  if (path)
    return path;
  g_autofree char *src = test_fixture_path ("dit_t2v_tiny.weights.safetensors");
  g_assert_true (test_require_fixture (src));
  struct ke_tensor_set *s = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_safetensors_open_file (&s, src, &err), ==, KE_STATUS_OK);
  int n = ke_tset_count (s);
  const struct ke_tensor **list = g_new (const struct ke_tensor *, n);
  for (int i = 0; i < n; i++)
    list[i] = ke_tset_at (s, i);
  path = test_tmp_path ("bare-dit.safetensors");
  g_assert_cmpint (ke_safetensors_write (path, list, n, NULL, 0, &err), ==, KE_STATUS_OK);
  g_free (list);
  ke_tset_free (s);
  return path;
}

/* A folder holding the tiny DiT (symlinked) and config.json with `config`; returns the weights path. */
static char *
dit_with_config (const char *name, const char *config)
{
  g_autofree char *dir = test_tmp_path (name);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0755), ==, 0);
  char *w = g_build_filename (dir, "dit.safetensors", NULL);
  g_assert_cmpint (symlink (bare_dit (), w), ==, 0);
  if (config)
    {
      g_autofree char *cfg = g_build_filename (dir, "config.json", NULL);
      g_assert_true (g_file_set_contents (cfg, config, -1, NULL));
    }
  return w;
}

/* Open the weights and read the DiT config; returns the status, err holds the message. */
static enum ke_status
config_status (const char *weights, struct ke_error *err)
{
  struct ke_tensor_set *s = NULL;
  memset (err, 0, sizeof *err);
  enum ke_status st = ke_weights_open (&s, weights, err);
  if (st == KE_STATUS_OK && (st = ke_name_map_apply (s, KE_NAME_ROLE_DIT, err)) == KE_STATUS_OK)
    {
      struct ke_dit_config c;
      st = ke_dit_config_from (&c, s, NULL, err);
    }
  ke_tset_free (s);
  g_test_message ("%s", err->msg);
  return st;
}

static void
test_unreadable_config (void)
{
  struct ke_error err = { 0 };
  /* config.json is a folder: it used to be ignored (defaults, exit 0) */
  g_autofree char *w = dit_with_config ("cfg-folder", NULL);
  g_autofree char *dir = g_path_get_dirname (w);
  g_autofree char *cfg = g_build_filename (dir, "config.json", NULL);
  g_assert_cmpint (g_mkdir (cfg, 0755), ==, 0);
  g_assert_cmpint (config_status (w, &err), !=, KE_STATUS_OK);
  g_assert_nonnull (strstr (err.msg, cfg));
  g_assert_nonnull (strstr (err.msg, "not a regular file (a folder)"));
  /* a dangling symlink: exists, cannot be opened */
  g_autofree char *w2 = dit_with_config ("cfg-dangling", NULL);
  g_autofree char *dir2 = g_path_get_dirname (w2);
  g_autofree char *cfg2 = g_build_filename (dir2, "config.json", NULL);
  g_assert_cmpint (symlink ("/nonexistent/config.json", cfg2), ==, 0);
  g_assert_cmpint (config_status (w2, &err), ==, KE_STATUS_IO);
  g_assert_nonnull (strstr (err.msg, cfg2));
  /* too big to be a config (it was cut at 1 MiB and parsed) */
  GString *big = g_string_new ("{\"dim\": 64");
  while (big->len < (2u << 20))
    g_string_append (big, ", \"pad\": \"........................................\"");
  g_string_append (big, "}");
  g_autofree char *w3 = dit_with_config ("cfg-big", big->str);
  g_string_free (big, TRUE);
  g_assert_cmpint (config_status (w3, &err), ==, KE_STATUS_FORMAT);
  g_assert_nonnull (strstr (err.msg, "config.json: the config is"));
  g_assert_nonnull (strstr (err.msg, "at most 1048576"));
  /* no config.json at all is fine: the shapes tell the hyper-parameters */
  g_autofree char *w4 = dit_with_config ("cfg-none", NULL);
  g_assert_cmpint (config_status (w4, &err), ==, KE_STATUS_OK);
}

static void
test_config_values (void)
{
  const struct
  {
    const char *json, *expect;
  } cases[] = {
    { "{\"text_len\": 1000000000}", "config key 'text_len' is 1000000000, out of range (valid: 1 to 4096)" },
    { "{\"text_len\": 1e9}", "config key 'text_len' is 1e+09, out of range (valid: 1 to 4096)" },
    { "{\"dim\": 1099511627776}", "config key 'dim' is 1099511627776, out of range (valid: 2 to 65536)" },
    { "{\"dim\": 18446744073709551615}", "config key 'dim' is 18446744073709551615, out of range" },
    { "{\"num_heads\": -2}", "config key 'num_heads' is -2, out of range (valid: 1 to 4096)" },
    { "{\"num_heads\": 2.5}", "config key 'num_heads' is 2.5, not an integer" },
    { "{\"num_layers\": \"2\"}", "config key 'num_layers' is \"2\", not an integer (valid: 1 to 1024)" },
    { "{\"eps\": NaN}", "config key 'eps' is NaN (valid: 1e-12 to 0.1)" },
    { "{\"eps\": 1e-86}", "config key 'eps' is 1e-86 (valid: 1e-12 to 0.1)" },
    { "{\"eps\": -1e-6}", "config key 'eps' is -1e-6" },
    { "{\"eps\": Infinity}", "config key 'eps' is Infinity" },
    { "{\"qk_norm\": 1}", "config key 'qk_norm' is 1, not true or false" },
    { "{\"patch_size\": [1, 2]}", "config key 'patch_size' is [1,2], not a list of 3 integers" },
    { "{\"patch_size\": [1, 0, 2]}", "config key 'patch_size[1]' is 0, out of range (valid: 1 to 16)" },
    { "{\"freq_dim\": 255}", "freq_dim must be even" },
    { "[1, 2]", "the DiT config is not a JSON object" },
  };
  /* the tiny model's real config (dim 64, 2 heads, 2 layers, text_len 16) with one bad value each */
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("cfg-value-%zu", i);
      g_autofree char *w = dit_with_config (name, cases[i].json);
      g_autofree char *dir = g_path_get_dirname (w);
      g_autofree char *cfg = g_build_filename (dir, "config.json", NULL);
      struct ke_error err;
      g_assert_cmpint (config_status (w, &err), !=, KE_STATUS_OK);
      if (!strstr (err.msg, cases[i].expect) || !strstr (err.msg, cfg))
        g_error ("case %s: got \"%s\", expected the config's path and \"%s\"", cases[i].json, err.msg,
                 cases[i].expect);
    }
  /* a valid config with the tiny model's own values loads */
  g_autofree char *ok = dit_with_config ("cfg-valid", "{\"eps\": 1e-6, \"qk_norm\": true, \"text_len\": 16, "
                                         "\"dim\": 64, \"num_heads\": 2, \"patch_size\": [1, 2, 2]}");
  struct ke_error err;
  g_assert_cmpint (config_status (ok, &err), ==, KE_STATUS_OK);
}

/* Through an index: config errors name config.json, not the index file. */
static void
test_config_via_index (void)
{
  g_autofree char *w = dit_with_config ("cfg-index", "{\"text_len\": 0}");
  g_autofree char *dir = g_path_get_dirname (w);
  struct ke_tensor_set *s = NULL;
  struct ke_error err = { 0 };
  g_assert_cmpint (ke_weights_open (&s, w, &err), ==, KE_STATUS_OK);
  GString *js = g_string_new ("{\"metadata\": {}, \"weight_map\": {");
  for (int i = 0; i < ke_tset_count (s); i++)
    g_string_append_printf (js, "%s\"%s\": \"dit.safetensors\"", i ? ", " : "", ke_tset_at (s, i)->name);
  g_string_append (js, "}}");
  ke_tset_free (s);
  g_autofree char *index = g_build_filename (dir, "diffusion_pytorch_model.safetensors.index.json", NULL);
  g_assert_true (g_file_set_contents (index, js->str, -1, NULL));
  g_string_free (js, TRUE);
  g_assert_cmpint (config_status (dir, &err), !=, KE_STATUS_OK);
  g_autofree char *cfg = g_build_filename (dir, "config.json", NULL);
  g_assert_nonnull (strstr (err.msg, cfg));
  g_assert_nonnull (strstr (err.msg, "'text_len' is 0, out of range (valid: 1 to 4096)"));
  g_assert_null (strstr (err.msg, "index.json"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  signal (SIGALRM, on_alarm);
  g_test_add_func ("/hostile-files/fifos", test_fifos);
  g_test_add_func ("/hostile-files/unreadable-config", test_unreadable_config);
  g_test_add_func ("/hostile-files/config-values", test_config_values);
  g_test_add_func ("/hostile-files/config-via-index", test_config_via_index);
  return g_test_run ();
}
