/* Fault injection over the CLI (issue 11 item 4): make the k-th allocation of the engine fail, for the
 * allocations of a tiny generation and of `eval dit` on a shared fixture (also with LoRAs), and check that every run ends
 * either with exit 0 and every requested output written and correct, or with a clean non-zero exit and
 * an error message; never a signal, an abort or a hang, never exit 0 with an output missing.
 *
 * How: the engine's own allocations go through core/alloc.c (core/alloc.h is force-included into every
 * engine source), which fails the k-th one when KINORA_FAIL_ALLOC=k and lists them all (index, bytes)
 * when KINORA_ALLOC_LOG is set. Only the engine's allocations count: GLib's g_malloc and GStreamer in the
 * CLI abort by design when memory runs out, and OpenBLAS, oneDNN, json-c and libpng allocate on their own.
 * An LD_PRELOAD shim could not tell those apart, and would not work in the ASan build.
 *
 * Bounded time: a generation makes ~1,800 engine allocations (most are small strings of the tokenizer),
 * an eval ~400. Every large one (>= 64 KiB) is tried, plus an evenly spaced sample of the rest
 * (KINORA_FAULT_SAMPLE small ones per scenario, default 40; KINORA_FAULT_SAMPLE=all tries every one).
 * Two runs go at a time. The counts are printed (g_test_message). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-util.h"
#include "loaders/loaders.h"

#define LARGE_BYTES (64 << 10)
#define RUN_TIMEOUT "120"

struct scenario
{
  const char *name;
  /* argv of the CLI writing into dir (NULL-terminated; g_strfreev) */
  char **(*argv) (const char *cli, const char *dir);
  /* outputs the run must leave on success, relative to dir */
  const char *const *outputs;
  /* compare a successful run's outputs with the reference run's; FALSE (and a message) on a difference */
  gboolean (*same) (const char *dir, const char *ref_dir);
};

/* --- scenarios ----------------------------------------------------------------------------------- */

static char **
gen_argv (const char *cli, const char *dir)
{
  GStrvBuilder *b = g_strv_builder_new ();
  g_strv_builder_add_many (b, cli, "generate", "--model", "tiny", "--prompt", "a fox", "--size", "32x32", "--frames",
                           "5", "--steps", "2", "--seed", "1", "--quiet", NULL);
  g_autofree char *out = g_build_filename (dir, "o.gif", NULL);
  g_autofree char *lat = g_build_filename (dir, "o.latent.safetensors", NULL);
  g_strv_builder_add_many (b, "-o", out, "--save-latent", lat, NULL);
  return g_strv_builder_end (b);
}

static char **
eval_argv (const char *cli, const char *dir)
{
  g_autofree char *w = test_fixture_path ("dit_ti2v_tiny.weights.safetensors");
  g_autofree char *io = test_fixture_path ("dit_ti2v_tiny.io.safetensors");
  g_autofree char *out = g_build_filename (dir, "e.safetensors", NULL);
  GStrvBuilder *b = g_strv_builder_new ();
  g_strv_builder_add_many (b, cli, "eval", "dit", "--weights", w, "--in", io, "--out", out, NULL);
  return g_strv_builder_end (b);
}

/* eval dit with two LoRAs as run-time terms (the fuzz seeds: LightX2V and ComfyUI keys for this DiT) */
static char **
eval_lora_argv (const char *cli, const char *dir)
{
  char **argv = eval_argv (cli, dir);
  GStrvBuilder *b = g_strv_builder_new ();
  const char *src = g_getenv ("KINORA_SOURCE_ROOT");
  g_assert_nonnull (src);
  g_autofree char *l1 = g_build_filename (src, "tests", "fuzz", "seeds", "lora-lightx2v.safetensors", NULL);
  g_autofree char *l2 = g_build_filename (src, "tests", "fuzz", "seeds", "lora-comfy.safetensors", NULL);
  g_autofree char *a1 = g_strconcat (l1, ":0.8", NULL);
  g_autofree char *a2 = g_strconcat (l2, ":-0.5", NULL);
  g_strv_builder_addv (b, (const char **) argv);
  g_strv_builder_add_many (b, "--lora", a1, "--lora", a2, NULL);
  g_strfreev (argv);
  return g_strv_builder_end (b);
}

/* Every tensor and the listed metadata entries of a safetensors file equal to the reference's. Tolerance:
 * a run may take another algorithm after a failed allocation (oneDNN convolution -> im2col GEMM), which
 * sums in another order: 1e-5 absolute + 1e-5 relative in f32. */
static gboolean
same_safetensors (const char *path, const char *ref_path, const char *const *keys)
{
  struct ke_tensor_set *got = NULL, *ref = NULL;
  struct ke_error err = { 0 };
  gboolean ok = TRUE;
  if (ke_safetensors_open_file (&got, path, &err) != KE_STATUS_OK)
    {
      g_test_message ("%s: %s", path, err.msg);
      return FALSE;
    }
  g_assert_cmpint (ke_safetensors_open_file (&ref, ref_path, &err), ==, KE_STATUS_OK);
  if (ke_tset_count (got) != ke_tset_count (ref))
    {
      g_test_message ("%s: %d tensors; the reference has %d", path, ke_tset_count (got), ke_tset_count (ref));
      ok = FALSE;
    }
  for (int i = 0; ok && i < ke_tset_count (ref); i++)
    {
      const struct ke_tensor *r = ke_tset_at (ref, i);
      const struct ke_tensor *g = ke_tset_get (got, r->name);
      if (!g)
        {
          g_test_message ("%s: tensor '%s' is missing", path, r->name);
          ok = FALSE;
          break;
        }
      ok = test_tensor_allclose (r->name, g, r, 1e-5, 1e-5);
    }
  for (const char *const *kp = keys; ok && *kp; kp++)
    {
      const char *key = *kp;
      g_assert_nonnull (ke_tset_meta (ref, key));
      const char *v = ke_tset_meta (got, key);
      if (!v || strcmp (v, ke_tset_meta (ref, key)) != 0)
        {
          g_test_message ("%s: metadata '%s' is '%s', the reference has '%s'", path, key, v ? v : "(missing)",
                          ke_tset_meta (ref, key));
          ok = FALSE;
        }
    }
  ke_tset_free (got);
  ke_tset_free (ref);
  return ok;
}

static gboolean
gen_same (const char *dir, const char *ref_dir)
{
  g_autofree char *a = g_build_filename (dir, "o.latent.safetensors", NULL);
  g_autofree char *b = g_build_filename (ref_dir, "o.latent.safetensors", NULL);
  static const char *const keys[] = { "task", "model", "prompt", "seed", "fps", NULL };
  return same_safetensors (a, b, keys);
}

static gboolean
eval_same (const char *dir, const char *ref_dir)
{
  g_autofree char *a = g_build_filename (dir, "e.safetensors", NULL);
  g_autofree char *b = g_build_filename (ref_dir, "e.safetensors", NULL);
  static const char *const keys[] = { "generator", NULL };
  return same_safetensors (a, b, keys);
}

static const char *const gen_outputs[] = { "o.gif", "o.gif.json", "o.latent.safetensors", NULL };
static const char *const eval_outputs[] = { "e.safetensors", NULL };

static const struct scenario scenarios[] = {
  { "generate", gen_argv, gen_outputs, gen_same },
  { "eval dit", eval_argv, eval_outputs, eval_same },
  { "eval dit with LoRAs", eval_lora_argv, eval_outputs, eval_same },
};

/* --- running -------------------------------------------------------------------------------------- */

/* Start the scenario's CLI run in dir (stdout to /dev/null, stderr to dir/stderr), failing allocation k
 * (0: none) or logging every allocation to log (NULL: no log), under a timeout. */
static pid_t
start_run (const struct scenario *s, const char *dir, long k, const char *log)
{
  const char *cli = g_getenv ("KINORA_CLI");
  g_assert_nonnull (cli);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_auto (GStrv) args = s->argv (cli, dir);
  g_autofree char *err_path = g_build_filename (dir, "stderr", NULL);
  GStrvBuilder *b = g_strv_builder_new ();
  /* timeout(1) turns a hang into exit status 137 (killed); a signal in the CLI shows as 128 + signal */
  g_strv_builder_add_many (b, "timeout", "-s", "KILL", RUN_TIMEOUT, NULL);
  g_strv_builder_addv (b, (const char **) args);
  g_auto (GStrv) argv = g_strv_builder_end (b);
  char fail_at[32];
  g_snprintf (fail_at, sizeof fail_at, "%ld", k);
  pid_t pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      int fe = open (err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int fn = open ("/dev/null", O_WRONLY);
      if (fe < 0 || fn < 0 || dup2 (fe, 2) < 0 || dup2 (fn, 1) < 0)
        _exit (120);
      unsetenv ("KINORA_FAIL_ALLOC");
      unsetenv ("KINORA_ALLOC_LOG");
      if (k > 0)
        setenv ("KINORA_FAIL_ALLOC", fail_at, 1);
      if (log)
        setenv ("KINORA_ALLOC_LOG", log, 1);
      execvp (argv[0], argv);
      _exit (121);
    }
  return pid;
}

enum outcome
{
  OUTCOME_COMPLETE,      /* exit 0, every output there and equal to the reference */
  OUTCOME_CLEAN_ERROR,   /* exit 1..119 with an error message */
  OUTCOME_BAD,           /* anything else */
  N_OUTCOMES
};

static enum outcome
judge (const struct scenario *s, const char *dir, const char *ref_dir, long k, int status)
{
  g_autofree char *err_path = g_build_filename (dir, "stderr", NULL);
  g_autofree char *msg = NULL;
  g_file_get_contents (err_path, &msg, NULL, NULL);
  g_assert_true (WIFEXITED (status));   /* timeout(1) itself always exits */
  int rc = WEXITSTATUS (status);
  if (rc == 0)
    {
      for (const char *const *o = s->outputs; *o; o++)
        {
          g_autofree char *p = g_build_filename (dir, *o, NULL);
          struct stat st;
          if (stat (p, &st) != 0 || st.st_size == 0)
            {
              g_test_message ("%s, allocation %ld failed: exit 0 without %s", s->name, k, *o);
              return OUTCOME_BAD;
            }
        }
      if (!s->same (dir, ref_dir))
        {
          g_test_message ("%s, allocation %ld failed: exit 0 with an output unlike the reference", s->name, k);
          return OUTCOME_BAD;
        }
      return OUTCOME_COMPLETE;
    }
  if (rc >= 120)
    {
      g_test_message ("%s, allocation %ld failed: exit status %d (%s): %s", s->name, k, rc,
                      rc == 137 ? "killed after " RUN_TIMEOUT " s, or SIGKILL" : rc > 128 ? g_strsignal (rc - 128) : "?",
                      msg ? msg : "");
      return OUTCOME_BAD;
    }
  if (!msg || !strstr (msg, "kinora-cli "))
    {
      g_test_message ("%s, allocation %ld failed: exit %d without an error message", s->name, k, rc);
      return OUTCOME_BAD;
    }
  return OUTCOME_CLEAN_ERROR;
}

/* The allocation numbers to fail: every large one plus n_small evenly spaced small ones (n_small < 0:
 * all). sizes[i] is the size of allocation i + 1. */
static GArray *
pick (const GArray *sizes, int n_small, int *n_large_out)
{
  GArray *ks = g_array_new (FALSE, FALSE, sizeof (long));
  int n_small_total = 0, n_large = 0;
  for (guint i = 0; i < sizes->len; i++)
    n_small_total += g_array_index (sizes, gsize, i) < LARGE_BYTES;
  const int stride = n_small < 0 || n_small >= n_small_total ? 1 : (n_small_total + n_small - 1) / n_small;
  int small_index = 0;
  for (guint i = 0; i < sizes->len; i++)
    {
      long k = (long) i + 1;
      if (g_array_index (sizes, gsize, i) >= LARGE_BYTES)
        {
          g_array_append_val (ks, k);
          n_large++;
        }
      else if (small_index++ % stride == 0)
        g_array_append_val (ks, k);
    }
  *n_large_out = n_large;
  return ks;
}

static void
run_scenario (gconstpointer data)
{
  const struct scenario *s = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *root = g_dir_make_tmp ("kinora-fault-XXXXXX", &error);
  g_assert_no_error (error);

  /* reference run, listing the engine's allocations */
  g_autofree char *ref_dir = g_build_filename (root, "ref", NULL);
  g_autofree char *log = g_build_filename (root, "alloc.log", NULL);
  int status = 0;
  pid_t pid = start_run (s, ref_dir, 0, log);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_assert_cmpint (judge (s, ref_dir, ref_dir, 0, status), ==, OUTCOME_COMPLETE);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (log, &text, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  g_autoptr (GArray) sizes = g_array_new (FALSE, FALSE, sizeof (gsize));
  for (char **l = lines; *l; l++)
    {
      long idx;
      gsize n;
      if (sscanf (*l, "%ld %zu", &idx, &n) == 2)
        {
          g_assert_cmpint (idx, ==, (long) sizes->len + 1);
          g_array_append_val (sizes, n);
        }
    }
  g_assert_cmpuint (sizes->len, >, 0);

  const char *want = g_getenv ("KINORA_FAULT_SAMPLE");
  const int n_small = want && strcmp (want, "all") == 0 ? -1 : want ? atoi (want) : 40;
  int n_large = 0;
  g_autoptr (GArray) ks = pick (sizes, n_small, &n_large);

  /* two runs at a time */
  int count[N_OUTCOMES] = { 0 };
  guint next = 0, done = 0;
  pid_t running[2] = { 0, 0 };
  long running_k[2] = { 0, 0 };
  while (done < ks->len)
    {
      for (int slot = 0; slot < 2 && next < ks->len; slot++)
        {
          if (running[slot] == 0)
            {
              long k = g_array_index (ks, long, next++);
              g_autofree char *dir = g_strdup_printf ("%s/run-%ld", root, k);
              running[slot] = start_run (s, dir, k, NULL);
              running_k[slot] = k;
            }
        }
      pid_t w = waitpid (-1, &status, 0);
      g_assert_cmpint (w, >, 0);
      for (int slot = 0; slot < 2; slot++)
        {
          if (running[slot] == w)
            {
              g_autofree char *dir = g_strdup_printf ("%s/run-%ld", root, running_k[slot]);
              count[judge (s, dir, ref_dir, running_k[slot], status)]++;
              running[slot] = 0;
              done++;
            }
        }
    }
  g_test_message ("%s: %u engine allocations (%d of them >= %d KiB); injected %u failures: %d complete runs "
                  "(exit 0, outputs as the reference), %d clean errors, %d bad", s->name, sizes->len, n_large,
                  LARGE_BYTES >> 10, ks->len, count[OUTCOME_COMPLETE], count[OUTCOME_CLEAN_ERROR],
                  count[OUTCOME_BAD]);
  g_assert_cmpint (count[OUTCOME_BAD], ==, 0);
  /* the runs must have met failures at all: most injected failures end in an error */
  g_assert_cmpint (count[OUTCOME_CLEAN_ERROR], >, 0);

  g_autofree char *rm = g_strdup_printf ("rm -rf '%s'", root);
  g_assert_cmpint (system (rm), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/fault-injection/generate", &scenarios[0], run_scenario);
  g_test_add_data_func ("/fault-injection/eval-dit", &scenarios[1], run_scenario);
  g_test_add_data_func ("/fault-injection/eval-dit-lora", &scenarios[2], run_scenario);
  return g_test_run ();
}
