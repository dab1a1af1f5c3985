/* Fuzz target for reading TAEHV weights (engine/models/vae/taehv.c): a safetensors image is parsed,
 * handed to ke_taehv_init on the CPU backend, and when accepted, a one-frame 1x1 latent is decoded
 * (and a one-frame image encoded) so the widths the loader accepted are used. Only small models are
 * run, to keep the iterations fast.
 *
 * Built with the standalone mutation driver (fuzz-driver.c) and, with clang, as a libFuzzer binary.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "loaders/loaders.h"
#include "models/vae/taehv.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  unsigned char *copy = malloc (size ? size : 1);
  if (!copy)
    return 0;
  memcpy (copy, data, size);
  struct ke_error err = { 0 };
  struct ke_tensor_set *s = ke_tset_new ("fuzz-taehv.safetensors");
  if (!s || ke_safetensors_parse (s, copy, size, &err) != KE_STATUS_OK)
    {
      ke_tset_free (s);
      free (copy);
      return 0;
    }
  size_t params = 0;
  for (int i = 0; i < ke_tset_count (s); i++)
    params += (size_t) ke_tensor_nelements (ke_tset_at (s, i));
  struct ke_taehv *t = NULL;
  memset (&err, 0, sizeof err);
  if (ke_taehv_init (&t, s, true, ke_backend_cpu (), &err) == KE_STATUS_OK)
    {
      if (params < 400000 && t->has_dec)
        {
          const int F = ke_taehv_decoded_frames (t, 1), S = ke_taehv_scale (t);
          float *lat = calloc ((size_t) t->z, sizeof (float));
          float *vid = malloc ((size_t) 3 * F * S * S * sizeof (float));
          if (lat && vid)
            {
              lat[0] = 1.0f;
              ke_taehv_decode (t, vid, lat, 1, 1, 1, NULL, NULL, NULL, &err);
            }
          free (lat);
          free (vid);
        }
      if (params < 400000 && t->has_enc)
        {
          const int S = ke_taehv_scale (t);
          float *vid = calloc ((size_t) 3 * S * S, sizeof (float));
          float *lat = malloc ((size_t) t->z * sizeof (float));
          if (lat && vid)
            ke_taehv_encode (t, lat, vid, 1, S, S, NULL, &err);
          free (lat);
          free (vid);
        }
      ke_taehv_free (t);
    }
  free (copy);
  return 0;
}
