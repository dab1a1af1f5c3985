// Kinora engine: conditioning images (image.c): PNG/JPEG reading and the reference's resizes.
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ke.h"

struct ke_rgb_image {
    int width, height;
    uint8_t * rgb;      // (height, width, 3), malloc'd
};
enum ke_status ke_image_load(struct ke_rgb_image * out, const char * path, struct ke_error * err);
// The same from memory (`name` for messages); the fuzz entry point.
enum ke_status ke_image_load_memory(struct ke_rgb_image * out, const char * name, const void * data, size_t n,
                                    struct ke_error * err);
void ke_rgb_image_free(struct ke_rgb_image * im);
// Pillow's Image.resize(LANCZOS) on RGB8 (fixed-point, horizontal pass first).
enum ke_status ke_image_resize_lanczos(uint8_t * dst, int dw, int dh, const uint8_t * src, int sw, int sh,
                                       struct ke_error * err);
// The same with Pillow's BICUBIC filter (Image.resize's default for RGB) when bicubic, else LANCZOS.
enum ke_status ke_image_resize_pil(uint8_t * dst, int dw, int dh, const uint8_t * src, int sw, int sh, bool bicubic,
                                   struct ke_error * err);
// torch F.interpolate(mode='bicubic', align_corners=False) on planar float [channels, h, w].
void ke_image_resize_bicubic(float * dst, int dw, int dh, const float * src, int sw, int sh, int channels);
// wan/utils/utils.py best_output_size: (ow, oh) multiples of (dw, dh) with area <= `area`.
void ke_best_output_size(int w, int h, int dw, int dh, double area, int * ow, int * oh);
// TI2V: Lanczos cover-resize, centre crop to ow x oh, to [-1, 1]: out [3, oh, ow].
enum ke_status ke_image_prepare_ti2v(float * out, int ow, int oh, const uint8_t * rgb, int w, int h,
                                     struct ke_error * err);
// I2V-A14B latent size for max area (image2video.py) and the bicubic stretch to [3, oh, ow] in [-1, 1].
void ke_i2v_latent_size(int w, int h, double area, int stride, int patch_h, int patch_w, int * lat_w, int * lat_h);
enum ke_status ke_image_prepare_i2v(float * out, int ow, int oh, const uint8_t * rgb, int w, int h,
                                    struct ke_error * err);
