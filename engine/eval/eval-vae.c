// Kinora engine: parity evaluator for vae (placeholder until the module lands).
#include "core/error.h"
#include "eval/eval.h"

enum ke_status ke_eval_vae(const struct ke_eval_args * a, int version, struct ke_error * err)
{
    (void) a;
    (void) version;
    return ke_err(err, KE_STATUS_UNSUPPORTED, "eval vae: not implemented yet");
}
