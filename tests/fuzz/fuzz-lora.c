/* Fuzz target for the LoRA reader (engine/models/common/lora.c): a safetensors image parsed as a LoRA,
 * then matched to the tiny DiT (built in memory once) both as run-time terms and merged into its
 * weights, so that the shape checks between the file and the model are fuzzed too.
 *
 * Seeds: tests/fuzz/seeds/lora-*.safetensors, small LoRAs of each format written by
 * tests/lora/make_lora.py (see tests/fuzz/meson.build).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "loaders/loaders.h"
#include "models/common/lora.h"
#include "models/dit/wan.h"
#include "pipeline/tiny-impl.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static struct ke_tensor_set *weights;

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct ke_error err = { 0 };
  if (!weights && ke_tiny_dit_weights (&weights, &err) != KE_STATUS_OK)
    abort (); /* the built-in model must build */
  /* the parser keeps pointers into the image: give it a private, writable copy */
  unsigned char *copy = malloc (size ? size : 1);
  if (!copy)
    return 0;
  memcpy (copy, data, size);
  struct ke_tensor_set *s = ke_tset_new ("fuzz-lora.safetensors");
  struct ke_lora_file *f = NULL;
  if (s && ke_safetensors_parse (s, copy, size, &err) != KE_STATUS_OK)
    ke_tset_free (s);
  else if (s && ke_lora_from_set (&f, s, &err) == KE_STATUS_OK) /* takes s, also on failure */
    {
      struct ke_lora_use use = { f, 0.7f };
      for (int merge = 0; merge < 2; merge++)
        {
          struct ke_dit *d = NULL;
          memset (&err, 0, sizeof err);
          if (ke_dit_init_lora (&d, weights, NULL, ke_backend_cpu (), &use, 1, merge, &err) == KE_STATUS_OK)
            ke_dit_free (d);
        }
      ke_lora_free (f);
    }
  free (copy);
  return 0;
}
