/* Fuzz target for the NAME[:NUMBER] option values of kinora-cli (app/args.c kinora_arg_name_number, as
 * --cache tea:0.2 uses it): any text is either refused with a message or gives a listed name and a number
 * inside the range. Built as a libFuzzer binary with clang and with the standalone driver everywhere.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const char *const names[] = { "easy", "tea", "mag", "off" };
  static FILE *devnull;
  char *text = malloc (size + 1);
  int index = -1;
  double number = -1;

  if (text == NULL)
    return 0;
  if (devnull == NULL)
    devnull = fopen ("/dev/null", "w");
  memcpy (text, data, size);
  text[size] = 0;
  /* the refusals go to stderr: keep the run quiet */
  FILE *saved = stderr;
  if (devnull != NULL)
    stderr = devnull;
  const bool ok = kinora_arg_name_number ("fuzz", "--cache", text, names, 4, &index, 0, 1e6, &number);
  stderr = saved;
  if (ok && (index < 0 || index > 3 || !(number == -1 || (number >= 0 && number <= 1e6))))
    {
      fprintf (stderr, "accepted \"%s\": index %d number %g\n", text, index, number);
      abort ();
    }
  free (text);
  return 0;
}
