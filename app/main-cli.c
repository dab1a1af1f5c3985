/* main-cli.c: kinora-cli, the command line of the Kinora engine.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ke-debug.h"
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
           "  eval       run one module on a golden IO file:\n"
           "             eval dit|t5|vae21|vae22 --weights W [--config C.json] --in IO --out OUT [--fast] [--backend cpu|cuda]\n"
           "             eval scheduler --in IO --out OUT\n"
           "             eval pipeline --in IO --weights-dir DIR --out OUT\n"
           "  version    print the engine version\n");
}

static int
cmd_eval (int argc, char **argv)
{
  if (argc < 2)
    {
      usage (stderr);
      return 2;
    }
  struct ke_eval_args a = { 0 };
  const char *what = argv[1];
  int threads = 0;
  for (int i = 2; i < argc; i++)
    {
      const char *o = argv[i];
      const char *v = i + 1 < argc ? argv[i + 1] : NULL;
      if (strcmp (o, "--fast") == 0)
        {
          a.fast = true;
          continue;
        }
      if (!v)
        {
          fprintf (stderr, "kinora-cli eval: option %s needs a value\n", o);
          return 2;
        }
      if (strcmp (o, "--weights") == 0)
        a.weights = v;
      else if (strcmp (o, "--weights-dir") == 0)
        a.weights_dir = v;
      else if (strcmp (o, "--config") == 0)
        a.config = v;
      else if (strcmp (o, "--in") == 0)
        a.in = v;
      else if (strcmp (o, "--out") == 0)
        a.out = v;
      else if (strcmp (o, "--backend") == 0)
        a.backend = v;
      else if (strcmp (o, "--threads") == 0)
        threads = atoi (v);
      else
        {
          fprintf (stderr, "kinora-cli eval: unknown option %s\n", o);
          return 2;
        }
      i++;
    }
  if (threads > 0)
    ke_set_threads (threads);
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
  if (argc < 2 || strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0)
    {
      usage (argc < 2 ? stderr : stdout);
      return argc < 2 ? 2 : 0;
    }
  const char *cmd = argv[1];
  if (strcmp (cmd, "eval") == 0)
    return cmd_eval (argc - 1, argv + 1);
  if (strcmp (cmd, "tokenize") == 0)
    return kinora_cli_tokenize (argc - 1, argv + 1);
  if (strcmp (cmd, "generate") == 0)
    return kinora_cli_generate (argc - 1, argv + 1);
  if (strcmp (cmd, "version") == 0)
    {
      printf ("kinora-cli %s\n", ke_version ());
      return 0;
    }
  fprintf (stderr, "kinora-cli: unknown command '%s'\n", cmd);
  usage (stderr);
  return 2;
}
