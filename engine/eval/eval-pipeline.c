// Kinora engine: parity evaluator for pipeline (placeholder until the module lands).
#include "core/error.h"
#include "eval/eval.h"

enum ke_status ke_eval_pipeline(const struct ke_eval_args * a, struct ke_error * err)
{
    (void) a;
    return ke_err(err, KE_STATUS_UNSUPPORTED, "eval pipeline: not implemented yet");
}
