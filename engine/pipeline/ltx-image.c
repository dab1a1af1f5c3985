// Kinora engine: LTX-Video's conditioning image (inference.py load_image_to_tensor_with_resize_and_crop and
// the F.pad of load_media_file, Lightricks/LTX-Video 5260738): centre crop to the target aspect, PIL's
// bicubic resize, torchvision's gaussian_blur(kernel 3, sigma 1), then the CRF compression (ltx-crf.c).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "pipeline/image-impl.h"
#include "pipeline/ltx-impl.h"

enum ke_status ke_ltx_image_blur(uint8_t * out, int width, int height, const uint8_t * rgb, int w, int h,
                                 struct ke_error * err)
{
    if (width < 1 || height < 1 || w < 1 || h < 1) {
        return ke_err(err, KE_STATUS_INVALID, "conditioning image: size %dx%d to %dx%d is not usable", w, h, width,
                      height);
    }
    // the crop: the largest centred box with the target's aspect (float64 ratios, int() truncation)
    const double at = (double) width / height, af = (double) w / h;
    int cw, ch, x0, y0;
    if (af > at) {
        cw = (int) (h * at);
        ch = h;
        x0 = (w - cw) / 2;
        y0 = 0;
    } else {
        cw = w;
        ch = (int) (w / at);
        x0 = 0;
        y0 = (h - ch) / 2;
    }
    cw = cw < 1 ? 1 : cw;
    ch = ch < 1 ? 1 : ch;
    uint8_t * crop = malloc((size_t) cw * ch * 3);
    uint8_t * res = malloc((size_t) width * height * 3);
    if (!crop || !res) {
        free(crop);
        free(res);
        return ke_err(err, KE_STATUS_NOMEM, "out of memory for the conditioning image");
    }
    for (int y = 0; y < ch; y++) {
        memcpy(crop + (size_t) y * cw * 3, rgb + ((size_t) (y + y0) * w + x0) * 3, (size_t) cw * 3);
    }
    enum ke_status st = ke_image_resize_pil(res, width, height, crop, cw, ch, true, err);
    free(crop);
    if (st != KE_STATUS_OK) {
        free(res);
        return st;
    }
    // gaussian kernel: exp(-x^2 / 2) at x = -1, 0, 1, normalised, in float32; the 2D kernel its outer product
    const float e = expf(-0.5f), sum = e + 1.0f + e;
    const float k1[3] = { e / sum, 1.0f / sum, e / sum };
    float k2[3][3];
    for (int i = 0; i < 3; i++) {
        for (int jj = 0; jj < 3; jj++) {
            k2[i][jj] = k1[i] * k1[jj];
        }
    }
    for (int y = 0; y < height; y++) {
        for (int x = 0; x < width; x++) {
            for (int c = 0; c < 3; c++) {
                float acc = 0.0f;
                for (int dy = -1; dy <= 1; dy++) {
                    // reflect padding (no edge repeat): -1 -> 1, n -> n - 2
                    int yy = y + dy;
                    yy = yy < 0 ? -yy : (yy >= height ? 2 * height - 2 - yy : yy);
                    yy = yy < 0 ? 0 : (yy >= height ? height - 1 : yy);
                    for (int dx = -1; dx <= 1; dx++) {
                        int xx = x + dx;
                        xx = xx < 0 ? -xx : (xx >= width ? 2 * width - 2 - xx : xx);
                        xx = xx < 0 ? 0 : (xx >= width ? width - 1 : xx);
                        acc += (float) res[((size_t) yy * width + xx) * 3 + c] / 255.0f * k2[dy + 1][dx + 1];
                    }
                }
                // crf_compressor: (image * 255).byte() truncates
                float v = acc * 255.0f;
                v = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
                out[((size_t) y * width + x) * 3 + c] = (uint8_t) v;
            }
        }
    }
    free(res);
    return KE_STATUS_OK;
}

void ke_ltx_image_to_tensor(float * out, const uint8_t * rgb, const struct ke_ltx_sizes * s)
{
    const int64_t plane = (int64_t) s->pad_w * s->pad_h;
    memset(out, 0, sizeof(float) * (size_t) (3 * plane));
    for (int y = 0; y < s->height; y++) {
        for (int x = 0; x < s->width; x++) {
            for (int c = 0; c < 3; c++) {
                // image_array / 255.0, * 255.0, / 127.5 - 1 (float32 steps)
                float v = (float) rgb[((size_t) y * s->width + x) * 3 + c] / 255.0f;
                v = v * 255.0f / 127.5f - 1.0f;
                out[c * plane + (int64_t) (y + s->pad_top) * s->pad_w + x + s->pad_left] = v;
            }
        }
    }
}
