/* cli-tokenize.c: kinora-cli tokenize, the token ids of a prompt.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ke.h"
#include "args.h"
#include "cli.h"

static void
usage (FILE *f)
{
  fprintf (f,
           "usage: kinora-cli tokenize --tokenizer PATH [--max N] \"text\"\n"
           "       kinora-cli tokenize --tokenizer PATH --raw [--file LINES.txt | \"text\"]\n"
           "\n"
           "PATH is a spiece.model, a tokenizer.json or a folder holding either.\n"
           "Without --raw the prompt is cleaned as the pipeline does and EOS is appended;\n"
           "at most N ids are kept (default 512, the text length of the models).\n"
           "With --raw, each line of LINES.txt (or the text) gives one line of ids, as\n"
           "spm_encode --output_format=id prints them.\n");
}

static int
print_raw (ke_tokenizer_t *tok, const char *text, int32_t **buf, int *cap)
{
  struct ke_error err = { 0 };
  int n = 0;
  if (ke_tokenizer_encode (tok, text, *buf, *cap, &n, KE_TOKENIZE_RAW, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "kinora-cli tokenize: %s\n", err.msg);
      return 1;
    }
  if (n > *cap)
    {
      int32_t *nb = realloc (*buf, (size_t) n * sizeof (int32_t));
      if (!nb)
        {
          fprintf (stderr, "kinora-cli tokenize: out of memory\n");
          return 1;
        }
      *buf = nb;
      *cap = n;
      if (ke_tokenizer_encode (tok, text, *buf, *cap, &n, KE_TOKENIZE_RAW, &err) != KE_STATUS_OK)
        {
          fprintf (stderr, "kinora-cli tokenize: %s\n", err.msg);
          return 1;
        }
    }
  for (int i = 0; i < n; i++)
    printf (i ? " %d" : "%d", (*buf)[i]);
  putchar ('\n');
  return 0;
}

static int
raw_file (ke_tokenizer_t *tok, const char *path)
{
  FILE *f = strcmp (path, "-") == 0 ? stdin : fopen (path, "rb");
  if (!f)
    {
      fprintf (stderr, "kinora-cli tokenize: cannot open %s\n", path);
      return 1;
    }
  char *line = NULL;
  size_t line_cap = 0;
  ssize_t len;
  int cap = 1024;
  int32_t *buf = malloc ((size_t) cap * sizeof (int32_t));
  int rc = buf ? 0 : 1;
  /* Lines end at '\n' only, as spm_encode reads them. */
  while (rc == 0 && (len = getline (&line, &line_cap, f)) >= 0)
    {
      if (len > 0 && line[len - 1] == '\n')
        line[--len] = '\0';
      if (strlen (line) != (size_t) len)
        {
          fprintf (stderr, "kinora-cli tokenize: %s: a line holds a NUL byte\n", path);
          rc = 1;
          break;
        }
      rc = print_raw (tok, line, &buf, &cap);
    }
  free (line);
  free (buf);
  if (f != stdin)
    fclose (f);
  return rc;
}

int
kinora_cli_tokenize (int argc, char **argv)
{
  const char *path = NULL;
  const char *file = NULL;
  const char *text = NULL;
  bool raw = false;
  int max = 512;

  static const char cmd[] = "kinora-cli tokenize";
  static const struct option options[] = {
    { "help", no_argument, NULL, 'h' },
    { "raw", no_argument, NULL, 'r' },
    { "tokenizer", required_argument, NULL, 't' },
    { "file", required_argument, NULL, 'f' },
    { "max", required_argument, NULL, 'm' },
    { NULL, 0, NULL, 0 },
  };
  int c, n_args = 0, status = 2;
  char **args = calloc ((size_t) argc + 1, sizeof (char *));

  if (!args)
    return 1;
  /* A text starting with one '-' ("-5 degrees") is the text, as it always was: options here are long
   * (and -h). Take it out before getopt, unless it is the value of the option before it. */
  for (int i = 0; i < argc; i++)
    {
      const char *a = argv[i], *prev = i > 1 ? argv[i - 1] : "";
      bool value = (strcmp (prev, "--tokenizer") == 0 || strcmp (prev, "--file") == 0 || strcmp (prev, "--max") == 0);
      if (i > 0 && !value && a[0] == '-' && a[1] != '-' && a[1] != '\0' && strcmp (a, "-h") != 0 && !text)
        text = a;
      else
        args[n_args++] = argv[i];
    }
  optind = 0;
  opterr = 0;
  while ((c = getopt_long (n_args, args, ":h", options, NULL)) != -1)
    {
      switch (c)
        {
        case 'h':
          usage (stdout);
          status = 0;
          goto out;
        case 'r': raw = true; break;
        case 't': path = optarg; break;
        case 'f': file = optarg; break;
        case 'm':
          if (!kinora_arg_int (cmd, "--max", optarg, 1, 1 << 20, &max))
            goto out;
          break;
        default:
          status = kinora_arg_usage_error (cmd, c, n_args, args, options);
          goto out;
        }
    }
  if (optind < n_args && !text)
    text = args[optind++];
  if (optind < n_args)
    {
      fprintf (stderr, "%s: give the text as one argument (quote it)\n", cmd);
      goto out;
    }
  status = -1;
out:
  free (args);
  if (status >= 0)
    return status;
  if (!path || (!text && !file) || (text && file) || (file && !raw))
    {
      fprintf (stderr, "%s: give --tokenizer and either the text or --raw --file (see --help)\n", cmd);
      return 2;
    }

  struct ke_error err = { 0 };
  ke_tokenizer_t *tok = NULL;
  struct timespec t0, t1;
  clock_gettime (CLOCK_MONOTONIC, &t0);
  if (ke_tokenizer_open (&tok, path, &err) != KE_STATUS_OK)
    {
      fprintf (stderr, "kinora-cli tokenize: %s\n", err.msg);
      return 1;
    }
  clock_gettime (CLOCK_MONOTONIC, &t1);
  double load_ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;

  int rc = 0;
  if (file)
    rc = raw_file (tok, file);
  else if (raw)
    {
      int cap = 1024;
      int32_t *buf = malloc ((size_t) cap * sizeof (int32_t));
      rc = buf ? print_raw (tok, text, &buf, &cap) : 1;
      free (buf);
    }
  else
    {
      int32_t *ids = malloc ((size_t) max * sizeof (int32_t));
      int n = 0;
      if (!ids || ke_tokenizer_encode (tok, text, ids, max, &n, KE_TOKENIZE_PROMPT, &err) != KE_STATUS_OK)
        {
          fprintf (stderr, "kinora-cli tokenize: %s\n", ids ? err.msg : "out of memory");
          rc = 1;
        }
      else
        {
          fprintf (stderr, "loaded %s (%d pieces) in %.1f ms\n", path, ke_tokenizer_n_pieces (tok), load_ms);
          printf ("length: %d\nids:", n);
          for (int i = 0; i < n; i++)
            printf (" %d", ids[i]);
          printf ("\npieces:");
          for (int i = 0; i < n; i++)
            printf (" %s", ke_tokenizer_piece (tok, ids[i]));
          putchar ('\n');
        }
      free (ids);
    }
  ke_tokenizer_free (tok);
  return rc;
}
