/* cli-generate.c: kinora-cli generate (placeholder until the feature lands).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <stdio.h>

#include "cli.h"

int
kinora_cli_generate (int argc, char **argv)
{
  (void) argc;
  (void) argv;
  fprintf (stderr, "kinora-cli generate: not implemented yet\n");
  return 1;
}
