// Kinora engine: opening models (official, Diffusers and ComfyUI layouts, the built-in tiny model) and
// the generation entry point.
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "pipeline/pipeline-impl.h"

struct ke_model {
    enum ke_task task;
    char name[256];
    bool random;
};

enum ke_status ke_model_open(ke_model_t ** out, const char * path, struct ke_error * err)
{
    if (out) {
        *out = NULL;
    }
    if (!out || !path) {
        return ke_err(err, KE_STATUS_INVALID, "model open: no path given");
    }
    return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: opening models is not available in this build yet", path);
}

void ke_model_free(ke_model_t * m)
{
    free(m);
}

enum ke_task ke_model_task(const ke_model_t * m)
{
    return m ? m->task : KE_TASK_TI2V_5B;
}

const char * ke_model_name(const ke_model_t * m)
{
    return m ? m->name : "";
}

bool ke_model_is_random(const ke_model_t * m)
{
    return m ? m->random : false;
}

enum ke_status ke_generate(ke_model_t * m, const struct ke_gen_params * p, struct ke_video ** out,
                           struct ke_error * err)
{
    if (out) {
        *out = NULL;
    }
    if (!m || !p || !out) {
        return ke_err(err, KE_STATUS_INVALID, "generate: model, parameters and output are required");
    }
    enum ke_status st = ke_gen_params_validate(p, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    return ke_err(err, KE_STATUS_UNSUPPORTED, "generate: not available in this build yet");
}

void ke_video_free(struct ke_video * v)
{
    if (!v) {
        return;
    }
    free(v->rgb);
    free(v);
}
