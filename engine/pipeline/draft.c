// Kinora engine: TAEHV draft decode and previews (madebyollin/taehv; TAEHV takes the sampler's
// normalised latents directly, as the reference's Wan demos pass the pipeline's latents).
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/error.h"
#include "models/vae/taehv.h"
#include "pipeline/draft-impl.h"
#include "pipeline/sample-impl.h"

enum ke_status ke_draft_open(struct ke_draft * d, const struct ke_gen_params * p, struct ke_backend * be, int z,
                             int scale, struct ke_error * err)
{
    memset(d, 0, sizeof(*d));
    // previews need a preview callback to go to
    if (p->decoder != KE_DECODER_TAEHV && (p->preview_source != KE_PREVIEW_TAEHV || !p->preview)) {
        return KE_STATUS_OK;
    }
    enum ke_status st = ke_taehv_open(&d->taehv, p->taehv_path, be, err);
    if (st != KE_STATUS_OK) {
        ke_err_prefix(err, "TAEHV: ");
        return st;
    }
    if (!d->taehv->has_dec || d->taehv->z != z || ke_taehv_scale(d->taehv) != scale) {
        st = ke_err(err, KE_STATUS_SHAPE,
                    "TAEHV: %s decodes %d-channel latents at %dx, but this model's are %d-channel at %dx (use %s)",
                    p->taehv_path, d->taehv->z, ke_taehv_scale(d->taehv), z, scale,
                    z == 48 ? "taew2_2" : "taew2_1");
        ke_draft_close(d);
    }
    return st;
}

void ke_draft_close(struct ke_draft * d)
{
    if (d->n > 0) {
        ke_log(2, "TAEHV previews: %d, %.3f s each", d->n, d->seconds / d->n);
    }
    ke_taehv_free(d->taehv);
    free(d->rgb);
    free(d->video);
    memset(d, 0, sizeof(*d));
}

void ke_draft_preview(void * user, struct ke_preview * pv)
{
    struct ke_draft * d = user;
    if (!d || !d->taehv || d->failed) {
        return;
    }
    const double t0 = ke_now();
    const int s = ke_taehv_scale(d->taehv), F = ke_taehv_decoded_frames(d->taehv, pv->n_frames);
    const int H = pv->height * s, W = pv->width * s;
    const size_t n = (size_t) F * H * W;
    if (!d->rgb || F != d->F || H != d->H || W != d->W) {
        free(d->rgb);
        free(d->video);
        d->rgb = malloc(n * 3);
        d->video = malloc(n * 3 * sizeof(float));
        d->F = F;
        d->H = H;
        d->W = W;
        if (!d->rgb || !d->video) {
            ke_log(1, "TAEHV preview: out of memory for %dx%dx%d frames; previews fall back to latent", W, H, F);
            d->failed = true;
            return;
        }
    }
    struct ke_error err = { 0 };
    if (ke_taehv_decode(d->taehv, d->video, pv->latent, pv->n_frames, pv->height, pv->width, NULL, NULL, NULL,
                        &err) != KE_STATUS_OK) {
        ke_log(1, "TAEHV preview: %s; previews fall back to latent", err.msg);
        d->failed = true;
        return;
    }
    const size_t plane = (size_t) H * W;
    for (int f = 0; f < F; f++) {
        uint8_t * dst = d->rgb + (size_t) f * plane * 3;
        for (size_t i = 0; i < plane; i++) {
            for (int c = 0; c < 3; c++) {
                dst[i * 3 + c] = (uint8_t) (d->video[((size_t) c * F + f) * plane + i] * 255.0f + 0.5f);
            }
        }
    }
    pv->full_rgb = d->rgb;
    pv->full_frames = F;
    pv->full_width = W;
    pv->full_height = H;
    d->seconds += ke_now() - t0;
    d->n++;
}
