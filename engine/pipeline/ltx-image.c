// Kinora engine: LTX-Video's conditioning image (inference.py load_image_to_tensor_with_resize_and_crop
// with just_crop, as prepare_conditioning loads an image, and load_media_file's F.pad; Lightricks/LTX-Video
// 5260738): centre crop to the requested aspect, torchvision's gaussian_blur(kernel 3, sigma 1), the uint8
// conversion of crf_compressor, then (after the compression, ltx-crf.c) [-1, 1] and zero padding.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "pipeline/ltx-impl.h"

void ke_ltx_cond_image_free(struct ke_ltx_cond_image * ci)
{
    if (!ci) {
        return;
    }
    free(ci->cropped);
    free(ci->blurred);
    free(ci->u8);
    memset(ci, 0, sizeof(*ci));
}

enum ke_status ke_ltx_image_stage(struct ke_ltx_cond_image * ci, const uint8_t * rgb, int w, int h, int width,
                                  int height, struct ke_error * err)
{
    memset(ci, 0, sizeof(*ci));
    if (width < 1 || height < 1 || w < 1 || h < 1) {
        return ke_err(err, KE_STATUS_INVALID, "conditioning image: size %dx%d for %dx%d is not usable", w, h, width,
                      height);
    }
    // the largest centred box with the target's aspect (float64 ratios, int() truncation)
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
    if (cw < 2 || ch < 2) {
        return ke_err(err, KE_STATUS_INVALID, "conditioning image: %dx%d leaves a %dx%d crop for the aspect of "
                      "%dx%d", w, h, cw, ch, width, height);
    }
    ci->crop_w = cw;
    ci->crop_h = ch;
    ci->even_w = cw / 2 * 2;
    ci->even_h = ch / 2 * 2;
    const int64_t plane = (int64_t) cw * ch;
    ci->cropped = malloc(sizeof(float) * (size_t) (3 * plane));
    ci->blurred = malloc(sizeof(float) * (size_t) (3 * plane));
    ci->u8 = malloc((size_t) ci->even_w * ci->even_h * 3);
    if (!ci->cropped || !ci->blurred || !ci->u8) {
        ke_ltx_cond_image_free(ci);
        return ke_err(err, KE_STATUS_NOMEM, "out of memory for the conditioning image");
    }
    for (int c = 0; c < 3; c++) {
        for (int y = 0; y < ch; y++) {
            for (int x = 0; x < cw; x++) {
                // TVF.to_tensor: / 255 in float32
                ci->cropped[c * plane + (int64_t) y * cw + x] = (float) rgb[((size_t) (y + y0) * w + x + x0) * 3 + c] /
                                                               255.0f;
            }
        }
    }
    // gaussian kernel: exp(-x^2 / 2) at x = -1, 0, 1, normalised, in float32; 2D: the outer product
    const float e = expf(-0.5f), sum = e + 1.0f + e;
    const float k1[3] = { e / sum, 1.0f / sum, e / sum };
    for (int c = 0; c < 3; c++) {
        const float * src = ci->cropped + c * plane;
        for (int y = 0; y < ch; y++) {
            for (int x = 0; x < cw; x++) {
                float acc = 0.0f;
                for (int dy = -1; dy <= 1; dy++) {
                    // reflect padding: -1 -> 1, n -> n - 2
                    int yy = y + dy;
                    yy = yy < 0 ? -yy : (yy >= ch ? 2 * ch - 2 - yy : yy);
                    for (int dx = -1; dx <= 1; dx++) {
                        int xx = x + dx;
                        xx = xx < 0 ? -xx : (xx >= cw ? 2 * cw - 2 - xx : xx);
                        acc += src[(int64_t) yy * cw + xx] * (k1[dy + 1] * k1[dx + 1]);
                    }
                }
                ci->blurred[c * plane + (int64_t) y * cw + x] = acc;
            }
        }
    }
    // crf_compressor: (image[:even, :even] * 255).byte() truncates
    for (int y = 0; y < ci->even_h; y++) {
        for (int x = 0; x < ci->even_w; x++) {
            for (int c = 0; c < 3; c++) {
                float v = ci->blurred[c * plane + (int64_t) y * cw + x] * 255.0f;
                v = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
                ci->u8[((size_t) y * ci->even_w + x) * 3 + c] = (uint8_t) v;
            }
        }
    }
    return KE_STATUS_OK;
}

void ke_ltx_image_media(float * out, const float * compressed, int ew, int eh, const struct ke_ltx_sizes * s,
                        int * media_w, int * media_h)
{
    const int mw = ew + s->pad_w - s->width, mh = eh + s->pad_h - s->height;
    const int64_t plane = (int64_t) mw * mh;
    memset(out, 0, sizeof(float) * (size_t) (3 * plane));
    for (int y = 0; y < eh; y++) {
        for (int x = 0; x < ew; x++) {
            for (int c = 0; c < 3; c++) {
                // (decoded / 255) * 255 / 127.5 - 1 (float32 steps)
                float v = compressed[((size_t) y * ew + x) * 3 + c] * 255.0f;
                v = v / 127.5f - 1.0f;
                out[c * plane + (int64_t) (y + s->pad_top) * mw + x + s->pad_left] = v;
            }
        }
    }
    *media_w = mw;
    *media_h = mh;
}
