/* Fuzz target for the T5 config.json check (engine/models/te/t5-config.c), against the sizes of T5 v1.1
 * XXL as the tensor shapes give them. Built as a libFuzzer binary with clang and with the standalone
 * driver (fuzz-driver.c) everywhere.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/te/umt5.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct ke_umt5_config c = {
    .vocab = 32128, .dim = 4096, .dim_attn = 4096, .dim_ffn = 10240, .n_heads = 64, .n_layers = 24,
    .n_buckets = 32, .max_dist = 128, .eps = 1e-6f, .shared_pos = true,
  };
  struct ke_error err = { 0 };
  /* config text is a C string: the reader gets a NUL-terminated copy */
  char *text = malloc (size + 1);
  if (text == NULL)
    return 0;
  memcpy (text, data, size);
  text[size] = 0;
  if (ke_t5_config_apply (&c, text, "fuzz.json", &err) == KE_STATUS_OK)
    {
      /* what the bucket function and the norms rely on */
      if (c.max_dist < c.n_buckets / 4 || !(c.eps > 0) || !(c.eps < 1))
        {
          fprintf (stderr, "accepted an invalid config: max_dist %d eps %g\n%s\n", c.max_dist, (double) c.eps, text);
          abort ();
        }
    }
  else if (err.msg[0] == 0)
    {
      fprintf (stderr, "refused without a message\n%s\n", text);
      abort ();
    }
  free (text);
  return 0;
}
