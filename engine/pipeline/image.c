// Kinora engine: conditioning images: PNG (libpng) and JPEG (libjpeg) reading, PIL's 8-bit Lanczos
// resampler (Pillow src/libImaging/Resample.c, as Image.resize(LANCZOS) runs it), torch's bicubic
// F.interpolate (align_corners=False, A = -0.75), and the official size rules (wan/utils/utils.py
// best_output_size, image2video.py lat_h/lat_w), commit 42bf4cf.
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef KE_HAVE_PNG
#include <png.h>
#endif
#ifdef KE_HAVE_JPEG
#include <jpeglib.h>
#endif

#include "core/error.h"
#include "core/file.h"
#include "pipeline/image-impl.h"

// --- reading ---------------------------------------------------------------------------------------

// Conditioning images are resized to at most 1280x720 or so: bound what a file may declare before any
// pixel memory is allocated (a side of 16384, 64 Mpixel = 192 MB of RGB).
#define KE_IMAGE_MAX_SIDE 16384
#define KE_IMAGE_MAX_PIXELS (64 << 20)

#ifdef KE_HAVE_PNG
static void png_fail(png_structp png, png_const_charp msg)
{
    char * buf = png_get_error_ptr(png);
    snprintf(buf, 200, "%s", msg);
    png_longjmp(png, 1);
}

static void png_quiet(png_structp png, png_const_charp msg)
{
    (void) png;
    (void) msg;
}

static enum ke_status read_png(FILE * f, const char * path, struct ke_rgb_image * out, struct ke_error * err)
{
    char msg[200] = "";
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, msg, png_fail, png_quiet);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t * volatile pix = NULL;
    png_bytep * volatile rows = NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(pix);
        free(rows);
        return ke_err(err, KE_STATUS_FORMAT, "%s: damaged or truncated PNG file (%s)", path, msg);
    }
    png_init_io(png, f);
    png_set_user_limits(png, KE_IMAGE_MAX_SIDE, KE_IMAGE_MAX_SIDE);
    // libpng believes a chunk's declared length and allocates it before reading: a 150-byte file
    // declaring a 2 GB tEXt chunk made it allocate and clear 2 GB. The ancillary chunks that hold
    // variable-length data are of no use here (no text, profile or palette histogram is read), so they
    // are skipped unread, which streams past them through a small buffer; the cap covers the rest.
    static const png_byte skip[] = "tEXt\0zTXt\0iTXt\0iCCP\0sPLT\0eXIf\0hIST\0pCAL\0sCAL\0";
    png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, skip, (int) (sizeof skip / 5));
    png_set_chunk_malloc_max(png, 8u << 20);
    png_read_info(png, info);
    if ((uint64_t) png_get_image_width(png, info) * png_get_image_height(png, info) > KE_IMAGE_MAX_PIXELS) {
        png_uint_32 dw = png_get_image_width(png, info), dh = png_get_image_height(png, info);
        png_destroy_read_struct(&png, &info, NULL);
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: the PNG declares %ux%u pixels (at most %dx%d and %d Mpixel "
                      "supported)", path, dw, dh, KE_IMAGE_MAX_SIDE, KE_IMAGE_MAX_SIDE, KE_IMAGE_MAX_PIXELS >> 20);
    }
    png_set_expand(png);            // palette / low-bit grey / tRNS -> 8-bit channels
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    png_set_gray_to_rgb(png);
    png_read_update_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (png_get_channels(png, info) != 3 || w < 1 || h < 1) {
        png_destroy_read_struct(&png, &info, NULL);
        return ke_err(err, KE_STATUS_FORMAT, "%s: unsupported PNG layout", path);
    }
    pix = malloc((size_t) w * h * 3);
    rows = malloc(sizeof(png_bytep) * h);
    if (!pix || !rows) {
        png_destroy_read_struct(&png, &info, NULL);
        free(pix);
        free(rows);
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory for %ux%u pixels", path, w, h);
    }
    for (png_uint_32 y = 0; y < h; y++) {
        rows[y] = pix + (size_t) y * w * 3;
    }
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    out->width = (int) w;
    out->height = (int) h;
    out->rgb = pix;
    return KE_STATUS_OK;
}
#endif

#ifdef KE_HAVE_JPEG
struct jpeg_fail {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
    bool warning;
};

static void jpeg_fail_exit(j_common_ptr c)
{
    struct jpeg_fail * jf = (struct jpeg_fail *) c->err;
    c->err->format_message(c, jf->msg);
    longjmp(jf->jb, 1);
}

// libjpeg reports a truncated or corrupt stream as a warning and fills the rest with grey: treat every
// warning (level -1) as an error, so that a damaged image is refused instead of conditioning on grey.
static void jpeg_warning_is_error(j_common_ptr c, int level)
{
    if (level < 0) {
        struct jpeg_fail * jf = (struct jpeg_fail *) c->err;
        jf->warning = true;
        c->err->format_message(c, jf->msg);
        longjmp(jf->jb, 1);
    }
}

// Adobe CMYK (or YCCK, which libjpeg turns into CMYK) to RGB as Pillow converts it: Adobe files store
// the inks inverted; r = (255 - c) * (255 - k) / 255 with Pillow's rounding (Convert.c cmyk2rgb).
static void cmyk_to_rgb(uint8_t * rgb, const uint8_t * cmyk, size_t n, bool inverted)
{
    for (size_t i = 0; i < n; i++) {
        int k = inverted ? cmyk[4 * i + 3] : 255 - cmyk[4 * i + 3];
        for (int ch = 0; ch < 3; ch++) {
            int v = inverted ? cmyk[4 * i + ch] : 255 - cmyk[4 * i + ch];
            int t = v * k + 128;
            rgb[3 * i + ch] = (uint8_t) (((t >> 8) + t) >> 8);
        }
    }
}

static enum ke_status read_jpeg(FILE * f, const char * path, struct ke_rgb_image * out, struct ke_error * err)
{
    struct jpeg_decompress_struct cinfo;
    struct jpeg_fail jf;
    uint8_t * volatile pix = NULL;
    uint8_t * volatile row4 = NULL;
    memset(&jf, 0, sizeof(jf));
    cinfo.err = jpeg_std_error(&jf.mgr);
    jf.mgr.error_exit = jpeg_fail_exit;
    jf.mgr.emit_message = jpeg_warning_is_error;
    if (setjmp(jf.jb)) {
        jpeg_destroy_decompress(&cinfo);
        free(pix);
        free(row4);
        return ke_err(err, KE_STATUS_FORMAT, "%s: damaged or truncated JPEG file (%s)", path, jf.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    jpeg_read_header(&cinfo, TRUE);
    // bound the declared size before decoding: a 4 KB file may declare 16000x16000 (768 MB of pixels)
    if (cinfo.image_width > KE_IMAGE_MAX_SIDE || cinfo.image_height > KE_IMAGE_MAX_SIDE ||
        (uint64_t) cinfo.image_width * cinfo.image_height > KE_IMAGE_MAX_PIXELS) {
        enum ke_status st = ke_err(err, KE_STATUS_UNSUPPORTED, "%s: the JPEG declares %ux%u pixels (at most %dx%d and "
                                   "%d Mpixel supported)", path, cinfo.image_width, cinfo.image_height,
                                   KE_IMAGE_MAX_SIDE, KE_IMAGE_MAX_SIDE, KE_IMAGE_MAX_PIXELS >> 20);
        jpeg_destroy_decompress(&cinfo);
        return st;
    }
    const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    if (!cmyk && cinfo.jpeg_color_space != JCS_GRAYSCALE && cinfo.jpeg_color_space != JCS_YCbCr &&
        cinfo.jpeg_color_space != JCS_RGB) {
        int cs = (int) cinfo.jpeg_color_space;
        jpeg_destroy_decompress(&cinfo);
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: unsupported JPEG colour space (libjpeg code %d; grey, RGB, "
                      "YCbCr and CMYK are supported)", path, cs);
    }
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != (cmyk ? 4 : 3)) {
        jpeg_destroy_decompress(&cinfo);
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: unsupported JPEG layout (%d components)", path,
                      cinfo.output_components);
    }
    size_t w = cinfo.output_width, h = cinfo.output_height;
    pix = malloc(w * h * 3);
    row4 = cmyk ? malloc(w * 4) : NULL;
    if (!pix || (cmyk && !row4)) {
        jpeg_destroy_decompress(&cinfo);
        free(pix);
        free(row4);
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory for %zux%zu pixels", path, w, h);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t * dst = pix + (size_t) cinfo.output_scanline * w * 3;
        JSAMPROW row = cmyk ? row4 : dst;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
            break;   // suspended input cannot happen with a stdio source; the warning hook ends the read
        }
        if (cmyk) {
            cmyk_to_rgb(dst, row4, w, cinfo.saw_Adobe_marker);
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row4);
    out->width = (int) w;
    out->height = (int) h;
    out->rgb = pix;
    return KE_STATUS_OK;
}
#endif

// Read a PNG or JPEG from an open stream; `path` names it in messages.
static enum ke_status load_stream(FILE * f, const char * path, struct ke_rgb_image * out, struct ke_error * err)
{
    unsigned char magic[8] = { 0 };
    size_t n = fread(magic, 1, sizeof(magic), f);
    rewind(f);
    enum ke_status st;
    if (n >= 8 && memcmp(magic, "\x89PNG\r\n\x1a\n", 8) == 0) {
#ifdef KE_HAVE_PNG
        st = read_png(f, path, out, err);
#else
        st = ke_err(err, KE_STATUS_UNSUPPORTED, "%s: PNG support is not built in", path);
#endif
    } else if (n >= 3 && magic[0] == 0xff && magic[1] == 0xd8 && magic[2] == 0xff) {
#ifdef KE_HAVE_JPEG
        st = read_jpeg(f, path, out, err);
#else
        st = ke_err(err, KE_STATUS_UNSUPPORTED, "%s: JPEG support is not built in", path);
#endif
    } else {
        st = ke_err(err, KE_STATUS_FORMAT, "%s: not a PNG or JPEG image", path);
    }
    return st;
}

enum ke_status ke_image_load(struct ke_rgb_image * out, const char * path, struct ke_error * err)
{
    memset(out, 0, sizeof(*out));
    FILE * f = ke_file_fopen_read(path, err);   // refuses FIFOs and devices without blocking
    if (!f) {
        ke_err_prefix(err, "image: ");
        return err ? err->code : KE_STATUS_IO;
    }
    enum ke_status st = load_stream(f, path, out, err);
    fclose(f);
    return st;
}

enum ke_status ke_image_load_memory(struct ke_rgb_image * out, const char * name, const void * data, size_t n,
                                    struct ke_error * err)
{
    memset(out, 0, sizeof(*out));
    FILE * f = n ? fmemopen((void *) data, n, "rb") : NULL;
    if (!f) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: not a PNG or JPEG image (%zu bytes)", name, n);
    }
    enum ke_status st = load_stream(f, name, out, err);
    fclose(f);
    return st;
}

void ke_rgb_image_free(struct ke_rgb_image * im)
{
    if (im) {
        free(im->rgb);
        memset(im, 0, sizeof(*im));
    }
}

enum ke_status ke_image_read(struct ke_image ** out, const char * path, struct ke_error * err)
{
    struct ke_rgb_image im;
    *out = NULL;
    enum ke_status st = ke_image_load(&im, path, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    struct ke_image * r = malloc(sizeof(*r));
    if (!r) {
        ke_rgb_image_free(&im);
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
    }
    r->width = im.width;
    r->height = im.height;
    r->rgb = im.rgb;
    *out = r;
    return KE_STATUS_OK;
}

void ke_image_free(struct ke_image * im)
{
    if (im) {
        free((void *) im->rgb);
        free(im);
    }
}

// --- PIL Lanczos -------------------------------------------------------------------------------------

#define PIL_PRECISION_BITS (32 - 8 - 2)

static double sinc(double x)
{
    if (x == 0.0) {
        return 1.0;
    }
    x = x * M_PI;
    return sin(x) / x;
}

static double lanczos3(double x)
{
    if (-3.0 <= x && x < 3.0) {
        return sinc(x) * sinc(x / 3.0);
    }
    return 0.0;
}

// Pillow's bicubic_filter (a = -0.5, support 2)
static double bicubic2(double x)
{
    const double a = -0.5;
    x = fabs(x);
    if (x < 1.0) {
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    }
    if (x < 2.0) {
        return (((x - 5) * x + 8) * x - 4) * a;
    }
    return 0.0;
}

// Fixed-point coefficients as Pillow's precompute_coeffs + normalize_coeffs_8bpc. Returns ksize;
// bounds[2*out] = (first input, count), kk[out*ksize].
static int lanczos_coeffs(int in_size, int out_size, int ** bounds_out, int32_t ** kk_out, bool bicubic)
{
    double scale = (double) in_size / out_size, filterscale = scale;
    if (filterscale < 1.0) {
        filterscale = 1.0;
    }
    const double support = (bicubic ? 2.0 : 3.0) * filterscale;
    const int ksize = (int) ceil(support) * 2 + 1;
    double * k = malloc(sizeof(double) * (size_t) ksize);
    int * bounds = malloc(sizeof(int) * 2 * (size_t) out_size);
    int32_t * kk = calloc((size_t) out_size * (size_t) ksize, sizeof(int32_t));
    if (!k || !bounds || !kk) {
        free(k);
        free(bounds);
        free(kk);
        return -1;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale;
        double ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int) (center - support + 0.5);
        if (xmin < 0) {
            xmin = 0;
        }
        int xmax = (int) (center + support + 0.5);
        if (xmax > in_size) {
            xmax = in_size;
        }
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            double w = bicubic ? bicubic2((x + xmin - center + 0.5) * ss) : lanczos3((x + xmin - center + 0.5) * ss);
            k[x] = w;
            ww += w;
        }
        for (int x = 0; x < xmax; x++) {
            double v = ww != 0.0 ? k[x] / ww : k[x];
            kk[xx * ksize + x] = (int32_t) (v < 0 ? -0.5 + v * (1 << PIL_PRECISION_BITS)
                                                  : 0.5 + v * (1 << PIL_PRECISION_BITS));
        }
        bounds[2 * xx] = xmin;
        bounds[2 * xx + 1] = xmax;
    }
    free(k);
    *bounds_out = bounds;
    *kk_out = kk;
    return ksize;
}

static uint8_t clip8(int64_t in)
{
    if (in >= ((int64_t) 1 << PIL_PRECISION_BITS) * 256) {
        return 255;
    }
    if (in <= 0) {
        return 0;
    }
    return (uint8_t) (in >> PIL_PRECISION_BITS);
}

enum ke_status ke_image_resize_lanczos(uint8_t * dst, int dw, int dh, const uint8_t * src, int sw, int sh,
                                       struct ke_error * err)
{
    return ke_image_resize_pil(dst, dw, dh, src, sw, sh, false, err);
}

enum ke_status ke_image_resize_pil(uint8_t * dst, int dw, int dh, const uint8_t * src, int sw, int sh, bool bicubic,
                                   struct ke_error * err)
{
    int * bh = NULL, * bv = NULL;
    int32_t * kh = NULL, * kv = NULL;
    int ksh = lanczos_coeffs(sw, dw, &bh, &kh, bicubic);
    int ksv = lanczos_coeffs(sh, dh, &bv, &kv, bicubic);
    uint8_t * tmp = malloc((size_t) dw * (size_t) sh * 3);
    if (ksh < 0 || ksv < 0 || !tmp) {
        free(bh); free(bv); free(kh); free(kv); free(tmp);
        return ke_err(err, KE_STATUS_NOMEM, "image resize: out of memory");
    }
    // horizontal pass (skipped by Pillow when the width does not change)
    const uint8_t * hsrc = src;
    if (dw != sw) {
        for (int y = 0; y < sh; y++) {
            const uint8_t * row = src + (size_t) y * sw * 3;
            for (int xx = 0; xx < dw; xx++) {
                const int xmin = bh[2 * xx], xmax = bh[2 * xx + 1];
                const int32_t * k = kh + (size_t) xx * ksh;
                for (int c = 0; c < 3; c++) {
                    int64_t ss = (int64_t) 1 << (PIL_PRECISION_BITS - 1);
                    for (int x = 0; x < xmax; x++) {
                        ss += (int64_t) row[(size_t) (x + xmin) * 3 + c] * k[x];
                    }
                    tmp[((size_t) y * dw + xx) * 3 + c] = clip8(ss);
                }
            }
        }
        hsrc = tmp;
    }
    // vertical pass
    if (dh != sh) {
        for (int yy = 0; yy < dh; yy++) {
            const int ymin = bv[2 * yy], ymax = bv[2 * yy + 1];
            const int32_t * k = kv + (size_t) yy * ksv;
            for (int xx = 0; xx < dw; xx++) {
                for (int c = 0; c < 3; c++) {
                    int64_t ss = (int64_t) 1 << (PIL_PRECISION_BITS - 1);
                    for (int y = 0; y < ymax; y++) {
                        ss += (int64_t) hsrc[((size_t) (y + ymin) * dw + xx) * 3 + c] * k[y];
                    }
                    dst[((size_t) yy * dw + xx) * 3 + c] = clip8(ss);
                }
            }
        }
    } else {
        memcpy(dst, hsrc, (size_t) dw * dh * 3);
    }
    free(bh); free(bv); free(kh); free(kv); free(tmp);
    return KE_STATUS_OK;
}

// --- torch bicubic -----------------------------------------------------------------------------------

static void cubic_coeffs(float w[4], float t)
{
    const float A = -0.75f;
    float x;
    x = t + 1.0f;
    w[0] = ((A * x - 5.0f * A) * x + 8.0f * A) * x - 4.0f * A;
    x = t;
    w[1] = ((A + 2.0f) * x - (A + 3.0f)) * x * x + 1.0f;
    x = 1.0f - t;
    w[2] = ((A + 2.0f) * x - (A + 3.0f)) * x * x + 1.0f;
    x = 2.0f - t;
    w[3] = ((A * x - 5.0f * A) * x + 8.0f * A) * x - 4.0f * A;
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

void ke_image_resize_bicubic(float * dst, int dw, int dh, const float * src, int sw, int sh, int channels)
{
    const float sx = (float) sw / (float) dw, sy = (float) sh / (float) dh;
    for (int c = 0; c < channels; c++) {
        const float * in = src + (size_t) c * sw * sh;
        float * out = dst + (size_t) c * dw * dh;
        for (int y = 0; y < dh; y++) {
            float ry = sy * ((float) y + 0.5f) - 0.5f;
            int iy = (int) floorf(ry);
            float wy[4];
            cubic_coeffs(wy, ry - (float) iy);
            for (int x = 0; x < dw; x++) {
                float rx = sx * ((float) x + 0.5f) - 0.5f;
                int ix = (int) floorf(rx);
                float wx[4];
                cubic_coeffs(wx, rx - (float) ix);
                float acc = 0.0f;
                for (int j = 0; j < 4; j++) {
                    const float * row = in + (size_t) clampi(iy - 1 + j, 0, sh - 1) * sw;
                    float r = 0.0f;
                    for (int i = 0; i < 4; i++) {
                        r += wx[i] * row[clampi(ix - 1 + i, 0, sw - 1)];
                    }
                    acc += wy[j] * r;
                }
                out[(size_t) y * dw + x] = acc;
            }
        }
    }
}

// --- size rules --------------------------------------------------------------------------------------

void ke_best_output_size(int w, int h, int dw, int dh, double area, int * ow_out, int * oh_out)
{
    const double ratio = (double) w / (double) h;
    const double ow = sqrt(area * ratio);
    const double oh = area / ow;
    int ow1 = (int) (floor(ow / dw) * dw);
    if (ow1 < dw) {
        ow1 = dw;
    }
    int oh1 = (int) (floor(area / ow1 / dh) * dh);
    if (oh1 < dh) {
        oh1 = dh;
    }
    int oh2 = (int) (floor(oh / dh) * dh);
    if (oh2 < dh) {
        oh2 = dh;
    }
    int ow2 = (int) (floor(area / oh2 / dw) * dw);
    if (ow2 < dw) {
        ow2 = dw;
    }
    const double r1 = (double) ow1 / oh1, r2 = (double) ow2 / oh2;
    if (fmax(ratio / r1, r1 / ratio) < fmax(ratio / r2, r2 / ratio)) {
        *ow_out = ow1;
        *oh_out = oh1;
    } else {
        *ow_out = ow2;
        *oh_out = oh2;
    }
}

enum ke_status ke_image_prepare_ti2v(float * out, int ow, int oh, const uint8_t * rgb, int w, int h,
                                     struct ke_error * err)
{
    const double scale = fmax((double) ow / w, (double) oh / h);
    const int rw = (int) nearbyint(w * scale), rh = (int) nearbyint(h * scale);   // Python round(): half to even
    if (rw < ow || rh < oh) {
        return ke_err(err, KE_STATUS_INVALID, "image %dx%d cannot cover %dx%d", w, h, ow, oh);
    }
    uint8_t * tmp = malloc((size_t) rw * rh * 3);
    if (!tmp) {
        return ke_err(err, KE_STATUS_NOMEM, "image: out of memory");
    }
    enum ke_status st = ke_image_resize_lanczos(tmp, rw, rh, rgb, w, h, err);
    if (st == KE_STATUS_OK) {
        const int x1 = (rw - ow) / 2, y1 = (rh - oh) / 2;
        for (int c = 0; c < 3; c++) {
            for (int y = 0; y < oh; y++) {
                for (int x = 0; x < ow; x++) {
                    float v = (float) tmp[((size_t) (y + y1) * rw + (x + x1)) * 3 + c] / 255.0f;
                    out[((size_t) c * oh + y) * ow + x] = (v - 0.5f) / 0.5f;
                }
            }
        }
    }
    free(tmp);
    return st;
}

void ke_i2v_latent_size(int w, int h, double area, int stride, int patch_h, int patch_w, int * lat_w, int * lat_h)
{
    const double a = (double) h / (double) w;
    *lat_h = (int) (floor(floor(sqrt(area * a) / stride) / patch_h) * patch_h);
    *lat_w = (int) (floor(floor(sqrt(area / a) / stride) / patch_w) * patch_w);
    if (*lat_h < patch_h) {
        *lat_h = patch_h;
    }
    if (*lat_w < patch_w) {
        *lat_w = patch_w;
    }
}

enum ke_status ke_image_prepare_i2v(float * out, int ow, int oh, const uint8_t * rgb, int w, int h,
                                    struct ke_error * err)
{
    float * f = malloc(sizeof(float) * (size_t) w * h * 3);
    if (!f) {
        return ke_err(err, KE_STATUS_NOMEM, "image: out of memory");
    }
    for (int c = 0; c < 3; c++) {
        for (size_t i = 0; i < (size_t) w * h; i++) {
            float v = (float) rgb[i * 3 + c] / 255.0f;
            f[(size_t) c * w * h + i] = (v - 0.5f) / 0.5f;
        }
    }
    ke_image_resize_bicubic(out, ow, oh, f, w, h, 3);
    free(f);
    return KE_STATUS_OK;
}
