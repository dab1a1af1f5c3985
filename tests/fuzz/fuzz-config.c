/* Fuzz target for the DiT config.json reader (engine/models/common/dit-config.c): every key's type and
 * range check, against the tiny DiT's tensor shapes. Built as a libFuzzer binary with clang and with the
 * standalone driver (fuzz-driver.c) everywhere.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/dit/wan.h"
#include "pipeline/tiny-impl.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static struct ke_tensor_set *weights;
  struct ke_error err = { 0 };
  struct ke_dit_config c;
  char *text;

  if (weights == NULL && ke_tiny_dit_weights (&weights, &err) != KE_STATUS_OK)
    abort ();
  /* config text is a C string: the reader gets a NUL-terminated copy */
  text = malloc (size + 1);
  if (text == NULL)
    return 0;
  memcpy (text, data, size);
  text[size] = 0;
  if (ke_dit_config_from (&c, weights, text, &err) == KE_STATUS_OK)
    {
      /* what the forward pass relies on */
      if (c.dim <= 0 || c.num_heads <= 0 || c.dim % c.num_heads != 0 || c.text_len <= 0 || !(c.eps > 0))
        {
          fprintf (stderr, "accepted an invalid config: dim %d heads %d text_len %d eps %g\n%s\n", c.dim,
                   c.num_heads, c.text_len, (double) c.eps, text);
          abort ();
        }
    }
  free (text);
  return 0;
}
