/* bench-dit.c: kinora-bench dit (placeholder until the feature lands).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <stdio.h>

#include "bench.h"

int
kinora_bench_dit (int argc, char **argv)
{
  (void) argc;
  (void) argv;
  fprintf (stderr, "kinora-bench dit: not implemented yet\n");
  return 1;
}
