/* main-cli.c: kinora-cli, the command line of the Kinora engine.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke-debug.h"
#include "args.h"
#include "cli.h"

static void
usage (FILE *f)
{
  fprintf (f,
           "usage: kinora-cli <command> [options]\n"
           "\n"
           "commands:\n"
           "  generate   make a video (kinora-cli generate --help)\n"
           "  tokenize   show the token ids of a prompt\n"
           "  models     list, download, verify, remove or inspect models (kinora-cli models --help)\n"
           "  queue      run the jobs of a queue file headless (kinora-cli queue --help)\n"
           "  eval       run one module on a golden IO file:\n"
           "             eval dit|t5|vae21|vae22|taehv --weights W [--config C.json] --in IO --out OUT [--fast] [--backend cpu|cuda]\n"
           "             eval dit ... [--lora FILE[:STRENGTH]]... [--lora-merge]   (LoRAs on the DiT; merged into its weights)\n"
           "             eval dit|pipeline|ltx-transformer ... [--precision bf16|fp8|fp32]   (bf16: as --fast; fp8: the GPU's fp8\n"
           "                        path where it has fp8 units, bf16 elsewhere; the other modules take bf16 or fp32)\n"
           "             eval ltx-transformer|ltx-vae|ltx-upsampler|t5xxl --weights W --in IO --out OUT [--fast] [--backend cpu|cuda]\n"
           "                        (LTX-Video's components over the IO files of tests/ltx/make-fixtures.py)\n"
           "             eval scheduler --in IO --out OUT\n"
           "             eval pipeline --in IO --weights-dir DIR --out OUT [--lora FILE[:STRENGTH[:STRENGTH_HIGH]]]...\n"
           "             eval ltx-pipeline --in IO --weights-dir DIR --out OUT   (LTX-Video's distilled multi-scale pipeline)\n"
           "  version    print the engine version\n");
}

/* Engine warnings (a LoRA key that matches no layer, ...) and errors go to stderr. */
static void
log_to_stderr (int level, const char *msg, void *user_data)
{
  (void) user_data;
  if (level <= 1)
    fprintf (stderr, "%s: %s\n", level == 0 ? "error" : "warning", msg);
}

static int
cmd_eval (int argc, char **argv)
{
  if (argc < 2)
    {
      fprintf (stderr, "kinora-cli eval: name a module: dit, t5, vae21, vae22, taehv, scheduler, pipeline, "
               "ltx-transformer, ltx-vae, ltx-upsampler, ltx-pipeline or t5xxl (see --help)\n");
      return 2;
    }
  static const char cmd[] = "kinora-cli eval";
  static const struct option options[] = {
    { "help", no_argument, NULL, 'h' },
    { "fast", no_argument, NULL, 'F' },
    { "weights", required_argument, NULL, 'w' },
    { "weights-dir", required_argument, NULL, 'd' },
    { "config", required_argument, NULL, 'c' },
    { "in", required_argument, NULL, 'i' },
    { "out", required_argument, NULL, 'o' },
    { "backend", required_argument, NULL, 'b' },
    { "threads", required_argument, NULL, 't' },
    { "lora", required_argument, NULL, 'L' },
    { "lora-merge", no_argument, NULL, 'M' },
    { "precision", required_argument, NULL, 'P' },
    { NULL, 0, NULL, 0 },
  };
  struct ke_eval_args a = { 0 };
  int precision = KE_PRECISION_FP32;
  struct ke_lora_spec loras[KE_MAX_LORAS];
  int n_loras = 0;
  const char *what = argv[1];
  int threads = 0;
  int c;

  if (strcmp (what, "--help") == 0 || strcmp (what, "-h") == 0)
    {
      usage (stdout);
      return 0;
    }
  /* options follow the module name */
  optind = 0;
  opterr = 0;
  while ((c = getopt_long (argc - 1, argv + 1, ":h", options, NULL)) != -1)
    {
      switch (c)
        {
        case 'h':
          usage (stdout);
          return 0;
        case 'F': a.fast = true; break;
        case 'w': a.weights = optarg; break;
        case 'd': a.weights_dir = optarg; break;
        case 'c': a.config = optarg; break;
        case 'i': a.in = optarg; break;
        case 'o': a.out = optarg; break;
        case 'b': a.backend = optarg; break;
        case 't':
          if (!kinora_arg_int (cmd, "--threads", optarg, 0, 4096, &threads))
            return 2;
          break;
        case 'L':
          /* per-expert strengths only where there are experts (the pipeline) */
          if (!kinora_arg_lora (cmd, "--lora", optarg, strcmp (what, "pipeline") == 0, loras, &n_loras))
            return 2;
          break;
        case 'M': a.lora_merge = true; break;
        case 'P':
          /* bf16: as --fast; fp8: the transformer's fp8 path on a GPU with fp8 units (bf16 elsewhere) */
          if (!kinora_arg_precision (cmd, "--precision", optarg, true, &precision))
            return 2;
          a.fast = a.fast || precision != KE_PRECISION_FP32;
          a.fp8 = precision == KE_PRECISION_FP8;
          break;
        default:
          return kinora_arg_usage_error (cmd, c, argc - 1, argv + 1, options);
        }
    }
  if (optind < argc - 1)
    return kinora_arg_usage_error (cmd, 0, argc - 1, argv + 1, options);
  if (threads > 0)
    ke_set_threads (threads);
  if (n_loras > 0 && strcmp (what, "dit") != 0 && strcmp (what, "pipeline") != 0)
    {
      fprintf (stderr, "%s %s: --lora applies to dit and pipeline only\n", cmd, what);
      return 2;
    }
  if (a.fp8 && strcmp (what, "dit") != 0 && strcmp (what, "ltx-transformer") != 0 && strcmp (what, "pipeline") != 0)
    {
      fprintf (stderr, "%s %s: --precision fp8 applies to dit, pipeline and ltx-transformer only (use bf16 or fp32)\n",
               cmd, what);
      return 2;
    }
  a.loras = loras;
  a.n_loras = n_loras;
  ke_log_set (log_to_stderr, NULL);
  struct ke_error err = { 0 };
  enum ke_status st = ke_eval (what, &a, &err);
  if (st != KE_STATUS_OK)
    {
      fprintf (stderr, "kinora-cli eval %s: %s\n", what, err.msg[0] ? err.msg : ke_status_str (st));
      return 1;
    }
  return 0;
}

int
main (int argc, char **argv)
{
  if (argc < 2)
    {
      fprintf (stderr, "kinora-cli: name a command: generate, models, tokenize, eval or version (see --help)\n");
      return 2;
    }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)
    {
      usage (stdout);
      return 0;
    }
  const char *cmd = argv[1];
  if (strcmp (cmd, "eval") == 0)
    return cmd_eval (argc - 1, argv + 1);
  if (strcmp (cmd, "tokenize") == 0)
    return kinora_cli_tokenize (argc - 1, argv + 1);
  if (strcmp (cmd, "generate") == 0)
    return kinora_cli_generate (argc - 1, argv + 1);
#ifdef KINORA_HAVE_MODELS
  if (strcmp (cmd, "models") == 0)
    return kinora_cli_models (argc - 1, argv + 1);
  if (strcmp (cmd, "queue") == 0)
    return kinora_cli_queue (argc - 1, argv + 1);
#endif
  if (strcmp (cmd, "version") == 0)
    {
      printf ("kinora-cli %s\n", ke_version ());
      return 0;
    }
  fprintf (stderr, "kinora-cli: unknown command '%s' (see --help)\n", cmd);
  return 2;
}
