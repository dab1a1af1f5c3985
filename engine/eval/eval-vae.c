// Kinora engine: parity evaluator for the Wan VAEs: from `video` compute mu, latent, decoded_raw,
// decoded and the inter.* tensors the golden fixtures hold (fixtures README §4-5).
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "eval/eval-io.h"
#include "eval/eval.h"
#include "loaders/loaders.h"
#include "models/vae/wan-vae.h"

enum ke_status ke_eval_vae(const struct ke_eval_args * a, int version, struct ke_error * err)
{
    if (!a->weights) {
        return ke_err(err, KE_STATUS_INVALID, "eval vae%d needs --weights", version);
    }
    struct ke_backend * be = ke_eval_backend(a, err);
    if (!be) {
        return err ? err->code : KE_STATUS_UNSUPPORTED;
    }
    struct ke_tensor_set * io = NULL, * ws = NULL;
    struct ke_vae * v = NULL;
    float * video = NULL, * buf = NULL;
    enum ke_status st = ke_safetensors_open_file(&io, a->in, err);
    if (st != KE_STATUS_OK) {
        goto done;
    }
    if ((st = ke_weights_open(&ws, a->weights, err)) != KE_STATUS_OK) {
        goto done;
    }
    if ((st = ke_wan_vae_init(&v, ws, true, be, err)) != KE_STATUS_OK) {
        ws = NULL;
        goto done;
    }
    ws = NULL;
    if (v->version != version) {
        st = ke_err(err, KE_STATUS_SHAPE, "%s: a Wan%d.%d VAE, but eval vae%d was asked for", a->weights,
                    v->version / 10, v->version % 10, version);
        goto done;
    }
    const struct ke_tensor * vt = ke_tset_get(io, "video");
    if (!vt || vt->n_dims != 4 || vt->ne[3] != 3) {
        st = ke_err(err, KE_STATUS_MISSING, "%s: needs a tensor 'video' [3, F, H, W]", a->in);
        goto done;
    }
    const int F = (int) vt->ne[2], H = (int) vt->ne[1], W = (int) vt->ne[0];
    if (!(video = ke_tensor_to_f32_alloc(vt))) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
        goto done;
    }
    const int s = v->scale, z = v->z_dim, Tl = 1 + (F - 1) / 4, Fd = 1 + 4 * (Tl - 1);
    const int h = H / s, w = W / s;
    const size_t n_lat = (size_t) z * Tl * h * w, n_vid = (size_t) 3 * Fd * H * W;
    buf = malloc((3 * n_lat + 2 * z * (size_t) Tl * h * w + 2 * n_vid) * sizeof(float));
    if (!buf) {
        st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
        goto done;
    }
    float * mu = buf, * latent = mu + n_lat, * dec_in = latent + n_lat, * enc_out = dec_in + n_lat;
    float * raw = enc_out + 2 * n_lat, * clamped = raw + n_vid;
    struct ke_vae_run_opts o = { .mu = mu, .enc_out = enc_out };
    if ((st = ke_vae_encode_opts(v, latent, video, F, H, W, &o, err)) != KE_STATUS_OK) {
        goto done;
    }
    struct ke_vae_run_opts od = { .clamp = false, .dec_in = dec_in };
    if ((st = ke_vae_decode_opts(v, raw, latent, Tl, h, w, NULL, NULL, &od, err)) != KE_STATUS_OK) {
        goto done;
    }
    for (size_t i = 0; i < n_vid; i++) {
        clamped[i] = raw[i] < -1.0f ? -1.0f : raw[i] > 1.0f ? 1.0f : raw[i];
    }
    const int64_t sl[4] = { z, Tl, h, w }, se[4] = { 2 * z, Tl, h, w }, sv[4] = { 3, Fd, H, W };
    struct ke_tensor t[6];
    ke_tensor_init(&t[0], KE_DTYPE_F32, 4, sl, mu);
    t[0].name = "mu";
    ke_tensor_init(&t[1], KE_DTYPE_F32, 4, sl, latent);
    t[1].name = "latent";
    ke_tensor_init(&t[2], KE_DTYPE_F32, 4, sv, raw);
    t[2].name = "decoded_raw";
    ke_tensor_init(&t[3], KE_DTYPE_F32, 4, sv, clamped);
    t[3].name = "decoded";
    ke_tensor_init(&t[4], KE_DTYPE_F32, 4, se, enc_out);
    t[4].name = "inter.encoder_out";
    ke_tensor_init(&t[5], KE_DTYPE_F32, 4, sl, dec_in);
    t[5].name = "inter.decoder_conv2";
    const struct ke_tensor * tp[6] = { &t[0], &t[1], &t[2], &t[3], &t[4], &t[5] };
    const char * meta[2] = { "generator", "kinora eval vae" };
    st = ke_safetensors_write(a->out, tp, 6, meta, 1, err);
done:
    free(video);
    free(buf);
    ke_wan_vae_free(v);
    ke_tset_free(ws);
    ke_tset_free(io);
    return st;
}
