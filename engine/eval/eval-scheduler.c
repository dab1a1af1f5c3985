// Kinora engine: parity evaluator for scheduler (placeholder until the module lands).
#include "core/error.h"
#include "eval/eval.h"

enum ke_status ke_eval_scheduler(const struct ke_eval_args * a, struct ke_error * err)
{
    (void) a;
    return ke_err(err, KE_STATUS_UNSUPPORTED, "eval scheduler: not implemented yet");
}
