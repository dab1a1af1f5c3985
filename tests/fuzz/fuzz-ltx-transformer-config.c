/* Fuzz target for the LTX-Video transformer config reader (engine/models/ltx/ltx-transformer-config.c):
 * JSON syntax, the "transformer" section, every key's type, range and supported value. Built as a
 * libFuzzer binary with clang and with the standalone driver (fuzz-driver.c) everywhere.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/ltx/ltx-transformer.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct ke_error err = { 0 };
  struct ke_ltx_dit_config c;
  /* the config is a C string (safetensors metadata): the reader gets a NUL-terminated copy */
  char *text = malloc (size + 1);
  if (text == NULL)
    return 0;
  memcpy (text, data, size);
  text[size] = 0;
  if (ke_ltx_dit_config_parse (&c, text, "fuzz.safetensors", &err) == KE_STATUS_OK)
    {
      /* what the forward pass relies on */
      if (c.num_layers <= 0 || c.num_heads <= 0 || c.head_dim <= 0 || c.inner_dim != c.num_heads * c.head_dim ||
          c.inner_dim % 2 != 0 || c.cross_attention_dim != c.inner_dim || c.in_channels <= 0 || c.out_channels <= 0 ||
          c.caption_channels <= 0 || !(c.theta > 1.0) || !(c.max_pos[0] > 0) || !(c.max_pos[1] > 0) ||
          !(c.max_pos[2] > 0) || !(c.norm_eps >= 0) || !(c.timestep_scale > 0))
        {
          fprintf (stderr, "accepted an invalid config: layers %d heads %d x %d inner %d\n%s\n", c.num_layers,
                   c.num_heads, c.head_dim, c.inner_dim, text);
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
