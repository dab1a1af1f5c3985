/* bench-t5.c: kinora-bench t5 (placeholder until the feature lands).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <stdio.h>

#include "bench.h"

int
kinora_bench_t5 (int argc, char **argv)
{
  (void) argc;
  (void) argv;
  fprintf (stderr, "kinora-bench t5: not implemented yet\n");
  return 1;
}
