/* Fuzz target for the weight-file parsers (safetensors header, PyTorch .pth zip + pickle, GGUF).
 *
 * Built two ways (tests/fuzz/meson.build): as a libFuzzer binary with clang, and always with the
 * standalone mutation driver (fuzz-driver.c). The suite runs both for a bounded time.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loaders/loaders.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* the parsers keep pointers into the image: give them a private, writable copy */
  unsigned char *copy = malloc (size ? size : 1);
  if (!copy)
    return 0;
  memcpy (copy, data, size);
  struct ke_error err = { 0 };
  struct ke_tensor_set *s = ke_tset_new ("fuzz.safetensors");
  if (s)
    {
      if (ke_safetensors_parse (s, copy, size, &err) == KE_STATUS_OK)
        for (int i = 0; i < ke_tset_count (s); i++)
          {
            /* touch every byte the parser accepted */
            const struct ke_tensor *t = ke_tset_at (s, i);
            volatile unsigned char sink = 0;
            size_t nb = ke_tensor_nbytes (t);
            for (size_t j = 0; j < nb; j += 64)
              sink ^= ((const unsigned char *) t->data)[j];
            (void) sink;
          }
      ke_tset_free (s);
    }
  memset (&err, 0, sizeof err);
  s = ke_tset_new ("fuzz.gguf");
  if (s)
    {
      if (ke_gguf_parse (s, copy, size, &err) == KE_STATUS_OK)
        for (int i = 0; i < ke_tset_count (s); i++)
          {
            /* touch every byte the parser accepted, and dequantize the first rows */
            const struct ke_tensor *t = ke_tset_at (s, i);
            volatile unsigned char sink = 0;
            size_t nb = ke_tensor_nbytes (t);
            for (size_t j = 0; j < nb; j += 64)
              sink ^= ((const unsigned char *) t->data)[j];
            if (nb > 0)
              sink ^= ((const unsigned char *) t->data)[nb - 1];
            (void) sink;
            float row[1024];
            if (t->ne[0] <= 1024 && t->n_dims > 0 && ke_dtype_block (t->type) > 1)
              ke_convert_to_f32 (row, t->data, t->type, 1.0f, (size_t) t->ne[0]);
          }
      ke_tset_free (s);
    }
  memset (&err, 0, sizeof err);
  s = ke_tset_new ("fuzz.pth");
  if (s)
    {
      ke_pth_parse (s, copy, size, &err);
      ke_tset_free (s);
    }
  free (copy);
  return 0;
}
