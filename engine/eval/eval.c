// Kinora engine: ke_eval() dispatch.
#include <string.h>

#include "core/error.h"
#include "eval/eval.h"

enum ke_status ke_eval(const char * what, const struct ke_eval_args * a, struct ke_error * err)
{
    if (!what || !a || !a->in || !a->out) {
        return ke_err(err, KE_STATUS_INVALID, "eval needs a module name, --in and --out");
    }
    if (strcmp(what, "dit") == 0) {
        return ke_eval_dit(a, err);
    }
    if (strcmp(what, "t5") == 0) {
        return ke_eval_t5(a, err);
    }
    if (strcmp(what, "vae21") == 0) {
        return ke_eval_vae(a, 21, err);
    }
    if (strcmp(what, "vae22") == 0) {
        return ke_eval_vae(a, 22, err);
    }
    if (strcmp(what, "taehv") == 0) {
        return ke_eval_taehv(a, err);
    }
    if (strcmp(what, "scheduler") == 0) {
        return ke_eval_scheduler(a, err);
    }
    if (strcmp(what, "pipeline") == 0) {
        return ke_eval_pipeline(a, err);
    }

    // LTX-Video transformer
    if (strcmp(what, "ltx-transformer") == 0) {
        return ke_eval_ltx_transformer(a, err);
    }

    // LTX-Video VAE and latent upsampler
    if (strcmp(what, "ltx-vae") == 0) {
        return ke_eval_ltx_vae(a, err);
    }
    if (strcmp(what, "ltx-upsampler") == 0) {
        return ke_eval_ltx_upsampler(a, err);
    }

    // T5 v1.1 XXL (LTX-Video's text encoder)
    if (strcmp(what, "ltx-pipeline") == 0) {
        return ke_eval_ltx_pipeline(a, err);
    }
    if (strcmp(what, "t5xxl") == 0) {
        return ke_eval_t5xxl(a, err);
    }

    return ke_err(err, KE_STATUS_INVALID, "unknown eval module '%s' (dit, t5, vae21, vae22, taehv, scheduler, pipeline, "
                  "ltx-transformer, ltx-vae, ltx-upsampler, ltx-pipeline, t5xxl)", what);
}
