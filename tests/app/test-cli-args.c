/* Tests for app/args.c and the argument parsing of kinora-cli (generate, eval, tokenize) and
 * kinora-bench: every bad number, unknown option, missing value and stray argument is refused with exit
 * status 2 and one line naming the option and its valid range, before any model is opened.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <glib.h>
#include <string.h>
#include <sys/wait.h>

struct bad_arg
{
  const char *tool;         /* env variable with the executable: KINORA_CLI or KINORA_BENCH */
  const char *argv[12];     /* after the executable, NULL-terminated */
  const char *expect[3];    /* substrings the message must hold (option name, range), NULL-terminated */
};

/* generate's other arguments are valid (and the output name is never written): the bad one decides */
#define GEN "generate", "--model", "tiny", "--prompt", "x", "-o", "/nonexistent-dir/never.mp4"

static const struct bad_arg cases[] = {
  /* issue 11 item 11: each coerced silently before */
  { "KINORA_CLI", { GEN, "--steps", "abc" }, { "--steps abc", "1..1000" } },
  { "KINORA_CLI", { GEN, "--steps", "0" }, { "--steps 0", "1..1000" } },
  { "KINORA_CLI", { GEN, "--steps", "3.5" }, { "--steps 3.5", "1..1000" } },
  { "KINORA_CLI", { GEN, "--frames", "0" }, { "--frames 0", "1..1001" } },
  { "KINORA_CLI", { GEN, "--frames", "abc" }, { "--frames abc", "1..1001" } },
  { "KINORA_CLI", { GEN, "--frames", "1e9" }, { "--frames 1e9", "1..1001" } },
  { "KINORA_CLI", { GEN, "--frames", "" }, { "--frames ", "1..1001" } },
  { "KINORA_CLI", { GEN, "--guide", "NaN" }, { "--guide NaN", "[0, 100]" } },
  { "KINORA_CLI", { GEN, "--guide", "-1" }, { "--guide -1", "[0, 100]" } },
  { "KINORA_CLI", { GEN, "--guide", "inf" }, { "--guide inf", "[0, 100]" } },
  { "KINORA_CLI", { GEN, "--guide-high", "5x" }, { "--guide-high 5x", "[0, 100]" } },
  { "KINORA_CLI", { GEN, "--shift", "NaN" }, { "--shift NaN", "(0, 1000]" } },
  { "KINORA_CLI", { GEN, "--shift", "0" }, { "--shift 0", "(0, 1000]" } },
  { "KINORA_CLI", { GEN, "--fps", "0" }, { "--fps 0", "(0, 240]" } },
  { "KINORA_CLI", { GEN, "--fps", "NaN" }, { "--fps NaN", "(0, 240]" } },
  { "KINORA_CLI", { GEN, "--fps", "1e400" }, { "--fps 1e400", "(0, 240]" } },
  { "KINORA_CLI", { GEN, "--threads", "-3" }, { "--threads -3", "0..4096" } },
  { "KINORA_CLI", { GEN, "--seed", "1e23" }, { "--seed 1e23", "-1..9223372036854775807" } },
  { "KINORA_CLI", { GEN, "--seed", "18446744073709551616" }, { "--seed 18446744073709551616", "-1..9223372036854775807" } },
  { "KINORA_CLI", { GEN, "--seed", "abc" }, { "--seed abc", "-1..9223372036854775807" } },
  { "KINORA_CLI", { GEN, "--seed", "-5" }, { "--seed -5", "-1..9223372036854775807" } },
  { "KINORA_CLI", { GEN, "--seed", " 7" }, { "--seed  7", "-1..9223372036854775807" } },
  { "KINORA_CLI", { GEN, "--size", "256x256x3" }, { "--size 256x256x3", "1..4096" } },
  { "KINORA_CLI", { GEN, "--size", "256" }, { "--size 256", "WIDTHxHEIGHT" } },
  { "KINORA_CLI", { GEN, "--size", "x256" }, { "--size x256", "WIDTHxHEIGHT" } },
  { "KINORA_CLI", { GEN, "--size", "99999x256" }, { "--size 99999x256", "1..4096" } },
  { "KINORA_CLI", { GEN, "--solver", "heun" }, { "--solver heun", "unipc, dpm++, euler or euler-lightning" } },
  /* precision: bf16, fp8 or fp32 exactly (fp32 is the CPU's exact path; the benchmarks of device work
   * take bf16 or fp8) */
  { "KINORA_CLI", { GEN, "--precision", "fp16" }, { "--precision fp16", "use bf16, fp8 or fp32" } },
  { "KINORA_CLI", { GEN, "--precision", "FP8" }, { "--precision FP8", "use bf16, fp8 or fp32" } },
  { "KINORA_CLI", { GEN, "--precision", "" }, { "--precision ", "use bf16, fp8 or fp32" } },
  { "KINORA_CLI", { GEN, "--precision" }, { "--precision needs a value" } },
  { "KINORA_CLI", { "eval", "dit", "--precision", "e4m3" }, { "--precision e4m3", "use bf16, fp8 or fp32" } },
  { "KINORA_CLI", { "eval", "vae22", "--precision", "fp8" }, { "--precision fp8", "dit, pipeline and ltx-transformer only" } },
  { "KINORA_BENCH", { "dit", "--precision", "fp32" }, { "--precision fp32", "use bf16 or fp8" } },
  { "KINORA_BENCH", { "dit", "--exact", "--precision", "fp8" }, { "--exact and --precision fp8" } },
  { "KINORA_BENCH", { "ltx-transformer", "--random", "--precision", "int8" }, { "--precision int8", "use bf16 or fp8" } },
  { "KINORA_BENCH", { "ltx-generate", "--random", "--precision", "fp32" }, { "--precision fp32", "use bf16 or fp8" } },
  /* few-step presets and step caching */
  { "KINORA_CLI", { GEN, "--cache", "lazy:0.1" }, { "--cache lazy:0.1", "easy, tea, mag or off" } },
  { "KINORA_CLI", { GEN, "--cache", "tea:1e9" }, { "--cache threshold 1e9", "[0, 1e+06]" } },
  { "KINORA_CLI", { GEN, "--preset", "slow" }, { "--preset slow", "lightning" } },
  /* usage errors: unknown options, missing values, stray arguments, values given to flags */
  { "KINORA_CLI", { GEN, "--bogus", "1" }, { "unknown option --bogus" } },
  { "KINORA_CLI", { GEN, "--steps" }, { "--steps needs a value" } },
  { "KINORA_CLI", { GEN, "stray" }, { "unexpected argument 'stray'" } },
  { "KINORA_CLI", { GEN, "--quiet=yes" }, { "--quiet takes no value" } },
  { "KINORA_CLI", { "generate", "--prompt", "x" }, { "--model", "required" } },
  { "KINORA_CLI", { "eval", "dit", "--threads", "-3" }, { "--threads -3", "0..4096" } },
  { "KINORA_CLI", { "eval", "dit", "--threads", "two" }, { "--threads two", "0..4096" } },
  { "KINORA_CLI", { "eval", "dit", "--in" }, { "--in needs a value" } },
  { "KINORA_CLI", { "eval", "dit", "--nope" }, { "unknown option --nope" } },
  { "KINORA_CLI", { "eval" }, { "name a module" } },
  { "KINORA_CLI", { "tokenize", "--tokenizer", "t.json", "--max", "0", "x" }, { "--max 0", "1..1048576" } },
  { "KINORA_CLI", { "tokenize", "--tokenizer", "t.json", "--max", "1e3", "x" }, { "--max 1e3", "1..1048576" } },
  { "KINORA_CLI", { "tokenize", "--tokenizer" }, { "--tokenizer needs a value" } },
  { "KINORA_CLI", { "tokenize", "--tokenizer", "t.json", "a", "b" }, { "one argument" } },
  { "KINORA_CLI", { "frobnicate" }, { "unknown command 'frobnicate'" } },
  { "KINORA_CLI", { NULL }, { "name a command" } },
  /* kinora-bench subcommands parse the same way */
  { "KINORA_BENCH", { "dit", "--frames", "1e9" }, { "--frames 1e9", "1..1001" } },
  { "KINORA_BENCH", { "dit", "--size", "256x256x3" }, { "--size 256x256x3", "1..4096" } },
  { "KINORA_BENCH", { "dit", "--repeat", "0" }, { "--repeat 0", "1..1000" } },
  { "KINORA_BENCH", { "gemm", "--threads", "-3" }, { "--threads -3", "0..4096" } },
  { "KINORA_BENCH", { "gemm", "stray" }, { "unexpected argument 'stray'" } },
  { "KINORA_BENCH", { "t5", "--random", "--tokens", "abc" }, { "--tokens abc", "1..4096" } },
  { "KINORA_BENCH", { "t5", "--random", "--layers", "25" }, { "--layers 25", "1..24" } },
  { "KINORA_BENCH", { "vae22-decode", "--budget", "NaN" }, { "--budget NaN", "[0, 4096]" } },
  { "KINORA_BENCH", { "vae21-decode", "--frames", "abc" }, { "--frames abc", "1..1001" } },
  { "KINORA_BENCH", { "generate", "--random", "--steps", "0" }, { "--steps 0", "1..1000" } },
  { "KINORA_BENCH", { "generate", "--random", "--precision", "fp4" }, { "--precision fp4", "use bf16, fp8 or fp32" } },
  { "KINORA_BENCH", { "dit", "--bogus" }, { "unknown option --bogus" } },
  /* device memory budget: 0 or 1..1024 GiB, a finite number */
  { "KINORA_CLI", { GEN, "--vram", "abc" }, { "--vram abc", "[1, 1024]" } },
  { "KINORA_CLI", { GEN, "--vram", "-1" }, { "--vram -1", "[1, 1024]" } },
  { "KINORA_CLI", { GEN, "--vram", "0.5" }, { "--vram 0.5", "[1, 1024]" } },
  { "KINORA_CLI", { GEN, "--vram", "NaN" }, { "--vram NaN", "[1, 1024]" } },
  { "KINORA_CLI", { GEN, "--vram", "2000" }, { "--vram 2000", "[1, 1024]" } },
  { "KINORA_CLI", { GEN, "--vram", "8GB" }, { "--vram 8GB", "[1, 1024]" } },
  { "KINORA_CLI", { GEN, "--vram" }, { "--vram needs a value" } },
  { "KINORA_BENCH", { "dit", "--vram", "inf" }, { "--vram inf", "[1, 1024]" } },
  { "KINORA_BENCH", { "dit", "--vram", "" }, { "--vram ", "[1, 1024]" } },
  { "KINORA_BENCH", { "vae22-decode", "--vram", "0.25" }, { "--vram 0.25", "[1, 1024]" } },
  { "KINORA_BENCH", { "generate", "--random", "--vram", "1e9" }, { "--vram 1e9", "[1, 1024]" } },
  { "KINORA_BENCH", { "nothing" }, { "unknown benchmark 'nothing'" } },
  /* where T5 runs: auto or cpu, exactly */
  { "KINORA_CLI", { GEN, "--text-encoder", "gpu" }, { "--text-encoder gpu", "auto or cpu" } },
  { "KINORA_CLI", { GEN, "--text-encoder", "CPU" }, { "--text-encoder CPU", "auto or cpu" } },
  { "KINORA_CLI", { GEN, "--text-encoder", "" }, { "--text-encoder ", "auto or cpu" } },
  { "KINORA_CLI", { GEN, "--text-encoder", "cpu " }, { "--text-encoder cpu ", "auto or cpu" } },
  { "KINORA_CLI", { GEN, "--text-encoder" }, { "--text-encoder needs a value" } },
  { "KINORA_BENCH", { "generate", "--random", "--text-encoder", "cuda" }, { "--text-encoder cuda", "auto or cpu" } },
};

/* Run tool with args; returns the exit status (-1: killed), stdout and stderr in *out, *err. */
static int
run (const char *tool, const char *const *args, char **out, char **err)
{
  const char *exe = g_getenv (tool);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GError) error = NULL;
  int status = -1;

  if (exe == NULL)
    g_error ("%s is not set: run through meson test", tool);
  g_ptr_array_add (argv, (char *) exe);
  for (int i = 0; args[i]; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);
  g_assert_true (g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, out, err, &status,
                               &error));
  g_assert_no_error (error);
  return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static void
test_bad_argument (gconstpointer data)
{
  const struct bad_arg *c = data;
  g_autofree char *out = NULL, *err = NULL;
  int rc = run (c->tool, c->argv, &out, &err);
  const char *nl;

  g_test_message ("stderr: %s", err);
  g_assert_cmpint (rc, ==, 2);
  for (int i = 0; c->expect[i]; i++)
    if (strstr (err, c->expect[i]) == NULL)
      g_error ("stderr lacks \"%s\": %s", c->expect[i], err);
  /* one line, ending the output: no usage dump, no progress, nothing on stdout */
  nl = strchr (err, '\n');
  g_assert_nonnull (nl);
  g_assert_cmpstr (nl + 1, ==, "");
  g_assert_cmpstr (out, ==, "");
}

/* Valid values at the ends of each range are accepted: the parse passes and the run fails later on the
 * missing conditioning image (exit 1, not 2), after the tiny model opened. (A missing output folder is
 * refused before that, with exit 2: the last -o points at the temporary folder.) */
static void
test_valid_edges (void)
{
  g_autofree char *tmp_out = g_build_filename (g_get_tmp_dir (), "kinora-valid-edges.mp4", NULL);
  const char *args[] = { GEN, "--quiet", "--steps", "1000", "--frames", "1001", "--guide", "0", "--guide-high",
                         "100", "--shift", "1000", "--fps", "240", "--threads", "0", "--seed",
                         "9223372036854775807", "--size", "4096X32", "--solver", "dpmpp", "--precision", "fp32",
                         "--precision", "bf16", "--precision", "fp8",
                         "--steps=1", "--frames=1", "--vram", "1024", "--vram", "0", "--vram", "1", "--text-encoder", "cpu", "--text-encoder", "auto", "--image", "/nonexistent/edge.png", "-o", tmp_out, NULL };
  g_autofree char *out = NULL, *err = NULL;
  int rc = run ("KINORA_CLI", args, &out, &err);

  g_test_message ("stderr: %s", err);
  g_assert_cmpint (rc, !=, 2);
  g_assert_nonnull (strstr (err, "/nonexistent/edge.png"));
  g_assert_null (strstr (err, "use a"));
  g_assert_null (strstr (err, "unknown option"));
}

/* tokenize: a text that starts with one '-' is still the text (not an option), as before getopt */
static void
test_tokenize_dash_text (void)
{
  const char *args[] = { "tokenize", "--tokenizer", "/nonexistent/tokenizer.json", "-5 degrees", NULL };
  g_autofree char *out = NULL, *err = NULL;
  int rc = run ("KINORA_CLI", args, &out, &err);

  g_test_message ("stderr: %s", err);
  g_assert_cmpint (rc, ==, 1);
  g_assert_nonnull (strstr (err, "/nonexistent/tokenizer.json"));
}

static void
test_help (void)
{
  static const struct
  {
    const char *tool;
    const char *argv[3];
    const char *expect;
  } helps[] = {
    { "KINORA_CLI", { "--help" }, "usage: kinora-cli" },
    { "KINORA_CLI", { "generate", "--help" }, "--steps N" },
    { "KINORA_CLI", { "generate", "-h" }, "--steps N" },
    { "KINORA_CLI", { "generate", "--help" }, "fp8 (the DiT's attention and linears in fp8" },
    { "KINORA_CLI", { "eval", "--help" }, "[--precision bf16|fp8|fp32]" },
    { "KINORA_CLI", { "tokenize", "--help" }, "--tokenizer" },
    { "KINORA_CLI", { "eval", "--help" }, "eval pipeline" },
    { "KINORA_BENCH", { "--help" }, "internal benchmark" },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (helps); i++)
    {
      g_autofree char *out = NULL, *err = NULL;
      g_assert_cmpint (run (helps[i].tool, helps[i].argv, &out, &err), ==, 0);
      g_assert_nonnull (strstr (out, helps[i].expect));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("/cli-args/bad/%02zu", i);
      g_test_add_data_func (name, &cases[i], test_bad_argument);
    }
  g_test_add_func ("/cli-args/valid-edges", test_valid_edges);
  g_test_add_func ("/cli-args/tokenize-dash-text", test_tokenize_dash_text);
  g_test_add_func ("/cli-args/help", test_help);
  return g_test_run ();
}
