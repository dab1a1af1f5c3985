/* Fuzz target for the LTX-Video VAE and latent upsampler config readers
 * (engine/models/ltx/ltx-vae-config.c): the input is given to both parsers; an accepted config must hold
 * what the loaders rely on (positive widths, block counts in bounds, known block kinds). Built as a
 * libFuzzer binary with clang and with the standalone driver (fuzz-driver.c) everywhere.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/ltx/ltx-upsampler.h"
#include "models/ltx/ltx-vae.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct ke_error err = { 0 };
  struct ke_ltx_vae_config c;
  struct ke_ltx_upsampler_config u;
  /* config text is a C string: the readers get a NUL-terminated copy */
  char *text = malloc (size + 1);
  if (text == NULL)
    return 0;
  memcpy (text, data, size);
  text[size] = 0;
  if (ke_ltx_vae_config_parse (&c, text, "fuzz", &err) == KE_STATUS_OK)
    {
      bool bad = c.latent_channels < 1 || c.in_channels < 1 || c.out_channels < 1 || c.patch_size < 1
                 || c.encoder_base_channels < 1 || c.decoder_base_channels < 1 || c.n_enc < 1
                 || c.n_enc > KE_LTX_VAE_MAX_BLOCKS || c.n_dec < 1 || c.n_dec > KE_LTX_VAE_MAX_BLOCKS;
      for (int i = 0; i < c.n_enc && !bad; i++)
        bad = c.enc[i].kind > KE_LTX_COMPRESS_ALL || c.enc[i].num_layers < 1
              || c.enc[i].num_layers > KE_LTX_VAE_MAX_LAYERS
              || (c.enc[i].kind != KE_LTX_RES_X && c.enc[i].multiplier < 1);
      for (int i = 0; i < c.n_dec && !bad; i++)
        bad = c.dec[i].kind > KE_LTX_COMPRESS_ALL || c.dec[i].num_layers < 1
              || c.dec[i].num_layers > KE_LTX_VAE_MAX_LAYERS
              || (c.dec[i].kind != KE_LTX_RES_X && c.dec[i].multiplier < 1);
      if (bad)
        {
          fprintf (stderr, "accepted an invalid VAE config:\n%s\n", text);
          abort ();
        }
    }
  memset (&err, 0, sizeof (err));
  if (ke_ltx_upsampler_config_parse (&u, text, "fuzz", &err) == KE_STATUS_OK)
    {
      if (u.in_channels < 1 || u.mid_channels < 32 || u.mid_channels % 32 || u.num_blocks_per_stage < 0
          || u.num_blocks_per_stage > KE_LTX_UPS_MAX_BLOCKS || (u.dims != 2 && u.dims != 3) || !u.spatial_upsample
          || u.temporal_upsample)
        {
          fprintf (stderr, "accepted an invalid upsampler config:\n%s\n", text);
          abort ();
        }
    }
  free (text);
  return 0;
}
