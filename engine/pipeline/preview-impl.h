// Kinora engine: latent previews (preview.c).
#pragma once

#include <stdint.h>

// latent [z, F, H, W] -> rgb [F, H, W, 3]: 16 or 48 channels through the published linear projection,
// any other width (LTX-Video's 128) in false colour from the estimate's three principal channel directions.
void ke_latent_to_rgb(uint8_t * rgb, const float * latent, int z, int F, int H, int W);
