// Kinora engine: latent previews (preview.c).
#pragma once

#include <stdint.h>

// latent [z, F, H, W] (16 or 48 channels) -> rgb [F, H, W, 3] through the linear projection.
void ke_latent_to_rgb(uint8_t * rgb, const float * latent, int z, int F, int H, int W);
