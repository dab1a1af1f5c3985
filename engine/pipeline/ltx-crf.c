// Kinora engine: LTX-Video's conditioning-image compression (ltx_video/pipelines/crf_compressor.py,
// Lightricks/LTX-Video 5260738: one frame through libx264 at CRF 29, preset veryfast, yuv420p, and
// decoded back), in memory with GStreamer: appsrc ! videoconvert ! x264enc ! avdec_h264 (or the first
// H.264 decoder found) ! videoconvert ! appsink. The only engine file that uses GStreamer (-Dgstreamer).
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "pipeline/ltx-impl.h"

#ifdef KE_HAVE_GST
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/video/video.h>

static GstElement * make(GstElement * bin, const char * factory)
{
    GstElement * e = gst_element_factory_make(factory, NULL);
    if (e) {
        gst_bin_add(GST_BIN(bin), e);
    }
    return e;
}

enum ke_status ke_ltx_image_compress(uint8_t * rgb, int width, int height, int crf, struct ke_error * err)
{
    const int w = width / 2 * 2, h = height / 2 * 2;
    if (crf == 0 || w < 2 || h < 2) {
        return KE_STATUS_OK;
    }
    if (!gst_init_check(NULL, NULL, NULL)) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "GStreamer could not be initialised");
    }
    enum ke_status st = KE_STATUS_OK;
    GstElement * pipe = gst_pipeline_new("ltx-crf");
    GstElement * src = make(pipe, "appsrc"), * cv1 = make(pipe, "videoconvert"), * enc = make(pipe, "x264enc");
    GstElement * dec = make(pipe, "avdec_h264");
    if (!dec) {
        dec = make(pipe, "openh264dec");
    }
    GstElement * cv2 = make(pipe, "videoconvert"), * sink = make(pipe, "appsink");
    if (!src || !cv1 || !enc || !dec || !cv2 || !sink) {
        gst_object_unref(pipe);
        return ke_err(err, KE_STATUS_UNSUPPORTED, "GStreamer lacks %s (the conditioning image's CRF compression "
                      "needs x264enc from gst-plugins-ugly and avdec_h264 from gst-libav)",
                      !enc ? "x264enc" : !dec ? "an H.264 decoder" : "a base element");
    }
    // x264: constant quality (pass=quant is QP; CRF is pass=qual with quantizer as the CRF), veryfast
    gst_util_set_object_arg(G_OBJECT(enc), "pass", "qual");
    g_object_set(enc, "quantizer", (guint) crf, "speed-preset", 3 /* veryfast */, "key-int-max", 1, NULL);
    GstCaps * in_caps = gst_caps_new_simple("video/x-raw", "format", G_TYPE_STRING, "RGB", "width", G_TYPE_INT, w,
                                            "height", G_TYPE_INT, h, "framerate", GST_TYPE_FRACTION, 1, 1, NULL);
    GstCaps * mid = gst_caps_new_simple("video/x-raw", "format", G_TYPE_STRING, "I420", NULL);
    GstCaps * out_caps = gst_caps_new_simple("video/x-raw", "format", G_TYPE_STRING, "RGB", NULL);
    g_object_set(src, "caps", in_caps, "format", GST_FORMAT_TIME, NULL);
    g_object_set(sink, "caps", out_caps, "sync", FALSE, NULL);
    const gboolean linked = gst_element_link(src, cv1) && gst_element_link_filtered(cv1, enc, mid) &&
                            gst_element_link_many(enc, dec, cv2, sink, NULL);
    gst_caps_unref(in_caps);
    gst_caps_unref(mid);
    gst_caps_unref(out_caps);
    if (!linked || gst_element_set_state(pipe, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
        gst_element_set_state(pipe, GST_STATE_NULL);
        gst_object_unref(pipe);
        return ke_err(err, KE_STATUS_ERROR, "GStreamer: the x264 round trip could not start");
    }
    // the frame, rows of w * 3 bytes (GStreamer's RGB rows are 4-byte aligned: copy row by row)
    GstVideoInfo vi;
    gst_video_info_set_format(&vi, GST_VIDEO_FORMAT_RGB, (guint) w, (guint) h);
    GstBuffer * buf = gst_buffer_new_allocate(NULL, GST_VIDEO_INFO_SIZE(&vi), NULL);
    GstMapInfo map;
    if (buf && gst_buffer_map(buf, &map, GST_MAP_WRITE)) {
        for (int y = 0; y < h; y++) {
            memcpy(map.data + (size_t) y * GST_VIDEO_INFO_PLANE_STRIDE(&vi, 0), rgb + (size_t) y * width * 3,
                   (size_t) w * 3);
        }
        gst_buffer_unmap(buf, &map);
        GST_BUFFER_PTS(buf) = 0;
        GST_BUFFER_DURATION(buf) = GST_SECOND;
        gst_app_src_push_buffer(GST_APP_SRC(src), buf);
    } else if (buf) {
        gst_buffer_unref(buf);
    }
    gst_app_src_end_of_stream(GST_APP_SRC(src));
    GstSample * smp = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 30 * GST_SECOND);
    if (!smp) {
        st = ke_err(err, KE_STATUS_ERROR, "GStreamer: the x264 round trip of the %dx%d conditioning image gave no "
                    "frame", w, h);
    } else {
        GstVideoInfo oi;
        GstCaps * caps = gst_sample_get_caps(smp);
        GstBuffer * ob = gst_sample_get_buffer(smp);
        if (!caps || !gst_video_info_from_caps(&oi, caps) || (int) GST_VIDEO_INFO_WIDTH(&oi) != w ||
            (int) GST_VIDEO_INFO_HEIGHT(&oi) != h || !gst_buffer_map(ob, &map, GST_MAP_READ)) {
            st = ke_err(err, KE_STATUS_ERROR, "GStreamer: the decoded conditioning image has an unexpected format");
        } else {
            for (int y = 0; y < h; y++) {
                memcpy(rgb + (size_t) y * width * 3, map.data + (size_t) y * GST_VIDEO_INFO_PLANE_STRIDE(&oi, 0),
                       (size_t) w * 3);
            }
            gst_buffer_unmap(ob, &map);
        }
        gst_sample_unref(smp);
    }
    gst_element_set_state(pipe, GST_STATE_NULL);
    gst_object_unref(pipe);
    return st;
}
#else
enum ke_status ke_ltx_image_compress(uint8_t * rgb, int width, int height, int crf, struct ke_error * err)
{
    (void) rgb;
    (void) width;
    (void) height;
    if (crf == 0) {
        return KE_STATUS_OK;
    }
    return ke_err(err, KE_STATUS_UNSUPPORTED, "this build has no GStreamer (-Dgstreamer): the conditioning image's "
                  "CRF-%d x264 compression is not available", crf);
}
#endif
