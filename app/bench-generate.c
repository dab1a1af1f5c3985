/* bench-generate.c: kinora-bench generate (placeholder until the feature lands).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <stdio.h>

#include "bench.h"

int
kinora_bench_generate (int argc, char **argv)
{
  (void) argc;
  (void) argv;
  fprintf (stderr, "kinora-bench generate: not implemented yet\n");
  return 1;
}
