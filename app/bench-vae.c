/* bench-vae.c: kinora-bench vae21-decode / vae22-decode (placeholder until the VAE lands).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <stdio.h>

#include "bench.h"

int
kinora_bench_vae (int argc, char **argv, int version)
{
  (void) argc;
  (void) argv;
  fprintf (stderr, "kinora-bench vae%d-decode: not implemented yet\n", version);
  return 1;
}
