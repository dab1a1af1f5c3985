// Kinora engine: parity evaluator for TAEHV (tests/taehv/README.md): from `latent` (and `video` when the
// file has an encoder) compute decoded, decoded_raw, encoded and the inter.decoder.N / inter.encoder.N
// tensors the IO file lists, in the reference's NTCHW layout.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/eval-io.h"
#include "eval/eval.h"
#include "loaders/loaders.h"
#include "models/vae/taehv.h"

// [C, T, H, W] <-> [T, C, H, W] (N = 1 dropped).
static void swap_ct(float * dst, const float * src, int64_t A, int64_t B, int64_t hw)
{
    for (int64_t a = 0; a < A; a++) {
        for (int64_t b = 0; b < B; b++) {
            memcpy(dst + (b * A + a) * hw, src + (a * B + b) * hw, (size_t) hw * sizeof(float));
        }
    }
}

// The IO tensor `name` as f32 [T, C, H, W] (its leading batch of 1, if any, dropped).
static float * read_ntchw(const struct ke_tensor_set * io, const char * name, int64_t d[4], struct ke_error * err)
{
    const struct ke_tensor * t = ke_tset_get(io, name);
    if (!t || t->n_dims < 4 || t->n_dims > 5 || (t->n_dims == 5 && t->ne[4] != 1)) {
        ke_err(err, KE_STATUS_MISSING, "%s: needs a tensor '%s' [1, T, C, H, W]", ke_tset_path(io), name);
        return NULL;
    }
    for (int i = 0; i < 4; i++) {
        d[i] = t->ne[3 - i];
        if (d[i] < 1 || d[i] > (1 << 16)) {
            ke_err(err, KE_STATUS_SHAPE, "%s: '%s' has a bad shape", ke_tset_path(io), name);
            return NULL;
        }
    }
    float * f = ke_tensor_to_f32_alloc(t);
    if (!f) {
        ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    return f;
}

static enum ke_status add_ntchw(struct ke_eval_out * out, const char * name, const float * cthw, int64_t C, int64_t T,
                                int64_t H, int64_t W, bool batch, struct ke_error * err)
{
    float * tc = malloc((size_t) C * T * H * W * sizeof(float));
    if (!tc) {
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    swap_ct(tc, cthw, C, T, H * W);
    const int64_t s5[5] = { 1, T, C, H, W };
    const int rc = ke_eval_out_add(out, name, tc, batch ? 5 : 4, batch ? s5 : s5 + 1);
    free(tc);
    return rc < 0 ? ke_err(err, KE_STATUS_NOMEM, "out of memory") : KE_STATUS_OK;
}

// The layer outputs the file lists as inter.<coder>.N: buffers [C, T, H, W] sized from the IO tensor.
static enum ke_status want_inter(const struct ke_tensor_set * io, char * const * names, int n_names,
                                 const char * coder, int n_layers, struct ke_taehv_run_opts * o, struct ke_error * err)
{
    for (int i = 0; i < n_layers; i++) {
        char nm[64];
        snprintf(nm, sizeof(nm), "inter.%s.%d", coder, i);
        const struct ke_tensor * t = ke_tset_get(io, nm);
        if (!ke_eval_names_has(names, n_names, nm) || !t) {
            continue;
        }
        o->inter_n[i] = ke_tensor_nelements(t);
        if (!(o->inter[i] = malloc((size_t) o->inter_n[i] * sizeof(float)))) {
            return ke_err(err, KE_STATUS_NOMEM, "out of memory");
        }
    }
    return KE_STATUS_OK;
}

static enum ke_status put_inter(const struct ke_tensor_set * io, const char * coder, struct ke_taehv_run_opts * o,
                                struct ke_eval_out * out, struct ke_error * err)
{
    for (int i = 0; i < TAEHV_MAX_LAYERS; i++) {
        if (!o->inter[i]) {
            continue;
        }
        char nm[64];
        snprintf(nm, sizeof(nm), "inter.%s.%d", coder, i);
        const struct ke_tensor * t = ke_tset_get(io, nm);   // [T, C, H, W]
        enum ke_status st = add_ntchw(out, nm, o->inter[i], t->ne[2], t->ne[3], t->ne[1], t->ne[0], false, err);
        if (st != KE_STATUS_OK) {
            return st;
        }
    }
    return KE_STATUS_OK;
}

static void free_inter(struct ke_taehv_run_opts * o)
{
    for (int i = 0; i < TAEHV_MAX_LAYERS; i++) {
        free(o->inter[i]);
        o->inter[i] = NULL;
    }
}

enum ke_status ke_eval_taehv(const struct ke_eval_args * a, struct ke_error * err)
{
    if (!a->weights) {
        return ke_err(err, KE_STATUS_INVALID, "eval taehv needs --weights");
    }
    struct ke_backend * be = ke_eval_backend(a, err);
    if (!be) {
        return err ? err->code : KE_STATUS_UNSUPPORTED;
    }
    struct ke_tensor_set * io = NULL;
    struct ke_taehv * t = NULL;
    struct ke_eval_out * out = NULL;
    char ** names = NULL;
    int n_names = 0;
    float * lat = NULL, * lat_c = NULL, * vid = NULL, * vid_c = NULL, * res = NULL;
    struct ke_taehv_run_opts od = { 0 }, oe = { 0 };
    enum ke_status st = ke_safetensors_open_file(&io, a->in, err);
    if (st != KE_STATUS_OK || (st = ke_eval_outputs(io, &names, &n_names, err)) != KE_STATUS_OK ||
        (st = ke_taehv_open(&t, a->weights, be, err)) != KE_STATUS_OK) {
        goto done;
    }
    t->mem_budget = 0;   // one pass over all frames, so the intermediates are whole
    if (!(out = ke_eval_out_new())) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
        goto done;
    }
    const int p = t->patch, s8 = 8;
    if (t->has_dec) {
        int64_t d[4];
        if (!(lat = read_ntchw(io, "latent", d, err))) {
            st = err->code;
            goto done;
        }
        const int T = (int) d[0], z = (int) d[1], h = (int) d[2], w = (int) d[3];
        if (z != t->z) {
            st = ke_err(err, KE_STATUS_SHAPE, "%s: latent has %d channels, the model %d", a->in, z, t->z);
            goto done;
        }
        const int F = ke_taehv_decoded_frames(t, T), Fr = T * t->dec.t_scale, H = h * s8 * p, W = w * s8 * p;
        const size_t n_vid = (size_t) 3 * F * H * W, n_raw = (size_t) 3 * p * p * Fr * h * s8 * w * s8;
        lat_c = malloc((size_t) T * z * h * w * sizeof(float));
        res = malloc((n_vid > n_raw ? n_vid : n_raw) * sizeof(float));
        if (!lat_c || !res) {
            st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
            goto done;
        }
        swap_ct(lat_c, lat, T, z, (int64_t) h * w);
        if ((st = want_inter(io, names, n_names, "decoder", t->dec.n, &od, err)) != KE_STATUS_OK ||
            (st = ke_taehv_decode(t, res, lat_c, T, h, w, NULL, NULL, &od, err)) != KE_STATUS_OK ||
            (st = add_ntchw(out, "decoded", res, 3, F, H, W, true, err)) != KE_STATUS_OK ||
            (st = put_inter(io, "decoder", &od, out, err)) != KE_STATUS_OK) {
            goto done;
        }
        if (ke_eval_names_has(names, n_names, "decoded_raw")) {
            struct ke_taehv_run_opts r = { .raw = true };
            if ((st = ke_taehv_decode(t, res, lat_c, T, h, w, NULL, NULL, &r, err)) != KE_STATUS_OK) {
                goto done;
            }
            // channels back from the backend's shuffle order (c, dx, dy) to torch's (c, dy, dx)
            const size_t plane = (size_t) Fr * h * s8 * w * s8;
            float * tmp = malloc(n_raw * sizeof(float));
            if (!tmp) {
                st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
                goto done;
            }
            for (int k = 0; k < 3 * p * p; k++) {
                const int c = k / (p * p), dx = (k / p) % p, dy = k % p;
                memcpy(tmp + (size_t) (c * p * p + dy * p + dx) * plane, res + (size_t) k * plane,
                       plane * sizeof(float));
            }
            st = add_ntchw(out, "decoded_raw", tmp, 3 * p * p, Fr, (int64_t) h * s8, (int64_t) w * s8, true, err);
            free(tmp);
            if (st != KE_STATUS_OK) {
                goto done;
            }
        }
    }
    if (t->has_enc && ke_eval_names_has(names, n_names, "encoded")) {
        int64_t d[4];
        if (!(vid = read_ntchw(io, "video", d, err))) {
            st = err->code;
            goto done;
        }
        const int F = (int) d[0], H = (int) d[2], W = (int) d[3], s = ke_taehv_scale(t);
        if (d[1] != 3 || H % s || W % s) {
            st = ke_err(err, KE_STATUS_SHAPE, "%s: video must be [1, F, 3, H, W] with sides multiples of %d", a->in, s);
            goto done;
        }
        const int Tl = (F + t->enc.t_scale - 1) / t->enc.t_scale;
        vid_c = malloc((size_t) 3 * F * H * W * sizeof(float));
        free(res);
        res = malloc((size_t) t->z * Tl * (H / s) * (W / s) * sizeof(float));
        if (!vid_c || !res) {
            st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
            goto done;
        }
        swap_ct(vid_c, vid, F, 3, (int64_t) H * W);
        if ((st = want_inter(io, names, n_names, "encoder", t->enc.n, &oe, err)) != KE_STATUS_OK ||
            (st = ke_taehv_encode(t, res, vid_c, F, H, W, &oe, err)) != KE_STATUS_OK ||
            (st = add_ntchw(out, "encoded", res, t->z, Tl, H / s, W / s, true, err)) != KE_STATUS_OK ||
            (st = put_inter(io, "encoder", &oe, out, err)) != KE_STATUS_OK) {
            goto done;
        }
    }
    st = ke_eval_out_write(out, a->out, err);
done:
    free_inter(&od);
    free_inter(&oe);
    free(lat);
    free(lat_c);
    free(vid);
    free(vid_c);
    free(res);
    ke_eval_out_free(out);
    ke_eval_names_free(names, n_names);
    ke_taehv_free(t);
    ke_tset_free(io);
    return st;
}
