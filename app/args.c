/* args.c: strict command-line numbers for kinora-cli and kinora-bench (see args.h).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ke.h"
#include "args.h"
#include "ke.h"

/* strtoll accepts leading blanks and "+"; a number on the command line is digits with an optional '-'. */
static bool
whole_number (const char *value, long long *out)
{
  const char *s = value;
  char *end = NULL;

  if (*s == '-')
    s++;
  if (!isdigit ((unsigned char) *s))
    return false;
  errno = 0;
  long long v = strtoll (value, &end, 10);
  if (errno != 0 || end == value || *end != '\0')
    return false;
  *out = v;
  return true;
}

bool
kinora_arg_int64 (const char *cmd, const char *opt, const char *value, int64_t min, int64_t max, int64_t *out)
{
  long long v = 0;

  if (!whole_number (value, &v) || v < min || v > max)
    {
      fprintf (stderr, "%s: %s %s: use a whole number in %" PRId64 "..%" PRId64 "\n", cmd, opt, value, min, max);
      return false;
    }
  *out = (int64_t) v;
  return true;
}

bool
kinora_arg_int (const char *cmd, const char *opt, const char *value, int min, int max, int *out)
{
  int64_t v = 0;

  if (!kinora_arg_int64 (cmd, opt, value, min, max, &v))
    return false;
  *out = (int) v;
  return true;
}

bool
kinora_arg_double (const char *cmd, const char *opt, const char *value, double min, bool min_open, double max,
                   double *out)
{
  char *end = NULL;
  const char *s = value;
  double v;

  while (*s == ' ')
    s++;
  errno = 0;
  v = strtod (value, &end);
  if (s != value || end == value || *end != '\0' || errno == ERANGE || !isfinite (v) || v > max ||
      (min_open ? v <= min : v < min))
    {
      fprintf (stderr, "%s: %s %s: use a number in %s%g, %g]\n", cmd, opt, value, min_open ? "(" : "[", min, max);
      return false;
    }
  *out = v;
  return true;
}

bool
kinora_arg_vram (const char *cmd, const char *opt, const char *value, double *gib)
{
  char *end = NULL;
  double v;

  errno = 0;
  v = strtod (value, &end);
  if (value[0] == ' ' || end == value || *end != '\0' || errno == ERANGE || !isfinite (v) || v < 0 ||
      (v > 0 && v < KE_MIN_VRAM_GIB) || v > KE_MAX_VRAM_GIB)
    {
      fprintf (stderr, "%s: %s %s: use 0 (the free device memory) or a number of GiB in [%d, %d]\n", cmd, opt,
               value, KE_MIN_VRAM_GIB, KE_MAX_VRAM_GIB);
      return false;
    }
  *gib = v;
  return true;
}

bool
kinora_arg_size (const char *cmd, const char *opt, const char *value, int min, int max, int *width, int *height)
{
  const char *sep = strpbrk (value, "xX*");
  long long w = 0, h = 0;
  bool ok = false;

  if (sep && sep != value)
    {
      char *first = strndup (value, (size_t) (sep - value));
      ok = first && whole_number (first, &w) && whole_number (sep + 1, &h) && w >= min && w <= max && h >= min &&
           h <= max;
      free (first);
    }
  if (!ok)
    {
      fprintf (stderr, "%s: %s %s: use WIDTHxHEIGHT, each side a whole number in %d..%d\n", cmd, opt, value, min,
               max);
      return false;
    }
  *width = (int) w;
  *height = (int) h;
  return true;
}

/* A LoRA strength: a finite number in range, the whole text. */
static bool
lora_strength (const char *s, double *out)
{
  char *end = NULL;

  if (*s == '\0' || isspace ((unsigned char) *s))
    return false;
  errno = 0;
  *out = strtod (s, &end);
  return errno == 0 && end != s && *end == '\0' && isfinite (*out) && fabs (*out) <= KE_MAX_LORA_STRENGTH;
}

bool
kinora_arg_lora (const char *cmd, const char *opt, char *value, bool allow_high, struct ke_lora_spec *specs, int *n)
{
  double s = 1.0, s_high = 0.0;
  bool have_high = false;
  char *last = strrchr (value, ':');

  if (*n >= KE_MAX_LORAS)
    {
      fprintf (stderr, "%s: %s %s: at most %d LoRAs\n", cmd, opt, value, KE_MAX_LORAS);
      return false;
    }
  /* FILE:a:b, FILE:a or FILE (a ':' inside FILE followed by no number stays part of the path) */
  if (last != NULL && lora_strength (last + 1, &s))
    {
      *last = '\0';
      char *prev = strrchr (value, ':');
      double a = 0.0;
      if (prev != NULL && lora_strength (prev + 1, &a))
        {
          *prev = '\0';
          s_high = s;
          s = a;
          have_high = true;
        }
    }
  else if (last != NULL && last[1] != '\0' && (isdigit ((unsigned char) last[1]) || last[1] == '-' || last[1] == '.'))
    {
      fprintf (stderr, "%s: %s %s: the strength must be a number in %d..%d\n", cmd, opt, last + 1,
               -KE_MAX_LORA_STRENGTH, KE_MAX_LORA_STRENGTH);
      return false;
    }
  if (have_high && !allow_high)
    {
      fprintf (stderr, "%s: %s takes FILE[:STRENGTH] (one strength)\n", cmd, opt);
      return false;
    }
  if (value[0] == '\0')
    {
      fprintf (stderr, "%s: %s: use FILE[:STRENGTH%s]\n", cmd, opt, allow_high ? "[:STRENGTH_HIGH]" : "");
      return false;
    }
  if (access (value, R_OK) != 0)
    {
      fprintf (stderr, "%s: %s %s: %s (use FILE[:STRENGTH%s])\n", cmd, opt, value, strerror (errno),
               allow_high ? "[:STRENGTH_HIGH]" : "");
      return false;
    }
  specs[*n].path = value;
  specs[*n].strength = (float) s;
  specs[*n].strength_high = (float) (have_high ? s_high : s);
  (*n)++;
  return true;
}

bool
kinora_arg_name_number (const char *cmd, const char *opt, const char *value, const char *const *names,
                        int n_names, int *index, double min, double max, double *number)
{
  const char *colon = strchr (value, ':');
  const size_t len = colon ? (size_t) (colon - value) : strlen (value);

  for (int i = 0; i < n_names; i++)
    if (strlen (names[i]) == len && strncmp (value, names[i], len) == 0)
      {
        *index = i;
        if (colon == NULL)
          return true;
        char what[64];
        snprintf (what, sizeof what, "%s threshold", opt);
        return kinora_arg_double (cmd, what, colon + 1, min, false, max, number);
      }
  fprintf (stderr, "%s: %s %s: use ", cmd, opt, value);
  for (int i = 0; i < n_names; i++)
    fprintf (stderr, "%s%s", names[i], i + 2 < n_names ? ", " : i + 1 < n_names ? " or " : "");
  fprintf (stderr, ", optionally with :NUMBER\n");
  return false;
}

bool
kinora_arg_choice (const char *cmd, const char *opt, const char *value, const char *const *names, int n_names,
                   int *index)
{
  for (int i = 0; i < n_names; i++)
    if (strcmp (value, names[i]) == 0)
      {
        *index = i;
        return true;
      }
  fprintf (stderr, "%s: %s %s: use ", cmd, opt, value);
  for (int i = 0; i < n_names; i++)
    fprintf (stderr, "%s%s", names[i], i + 2 < n_names ? ", " : i + 1 < n_names ? " or " : "");
  fprintf (stderr, "\n");
  return false;
}

bool
kinora_arg_text_device (const char *cmd, const char *opt, const char *value, int *device)
{
  /* in enum ke_text_device order */
  static const char *const names[] = { "auto", "cpu" };

  return kinora_arg_choice (cmd, opt, value, names, 2, device);
}

bool
kinora_arg_precision (const char *cmd, const char *opt, const char *value, bool allow_fp32, int *precision)
{
  static const char *const names[] = { "bf16", "fp8", "fp32" };
  static const int values[] = { KE_PRECISION_BF16, KE_PRECISION_FP8, KE_PRECISION_FP32 };
  int i = 0;

  if (!kinora_arg_choice (cmd, opt, value, names, allow_fp32 ? 3 : 2, &i))
    return false;
  *precision = values[i];
  return true;
}

int
kinora_arg_usage_error (const char *cmd, int c, int argc, char **argv, const struct option *options)
{
  const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
  const char *eq = strchr (arg, '=');

  /* --flag=value for an option that takes none */
  if (c == '?' && strncmp (arg, "--", 2) == 0 && eq)
    for (const struct option *o = options; o && o->name; o++)
      if (o->has_arg == no_argument && strlen (o->name) == (size_t) (eq - arg - 2) &&
          strncmp (o->name, arg + 2, (size_t) (eq - arg - 2)) == 0)
        {
          fprintf (stderr, "%s: option --%s takes no value (see --help)\n", cmd, o->name);
          return 2;
        }
  if (c == ':')
    fprintf (stderr, "%s: option %s needs a value (see --help)\n", cmd, arg);
  else if (c == '?')
    {
      if (optopt > ' ' && optopt < 127 && strncmp (arg, "--", 2) != 0)
        fprintf (stderr, "%s: unknown option -%c (see --help)\n", cmd, optopt);
      else
        fprintf (stderr, "%s: unknown option %s (see --help)\n", cmd, arg);
    }
  else
    fprintf (stderr, "%s: unexpected argument '%s' (see --help)\n", cmd, optind < argc ? argv[optind] : "");
  return 2;
}
