/* Fuzz target for the conditioning-image readers (PNG through libpng, JPEG through libjpeg, with the
 * declared-size bound, warnings-as-errors and the CMYK conversion of engine/pipeline/image.c). Built as a
 * libFuzzer binary with clang and with the standalone driver (fuzz-driver.c) everywhere.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/image-impl.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct ke_rgb_image im;
  struct ke_error err = { 0 };

  if (ke_image_load_memory (&im, "fuzz.image", data, size, &err) == KE_STATUS_OK)
    {
      /* touch every pixel the reader claims to have written */
      volatile unsigned sum = 0;
      for (size_t i = 0; i < (size_t) im.width * (size_t) im.height * 3; i += 7)
        sum += im.rgb[i];
      (void) sum;
      ke_rgb_image_free (&im);
    }
  return 0;
}
