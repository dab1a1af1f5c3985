// Kinora engine: parity evaluator for the Wan DiT (in progress).
#include "core/error.h"
#include "eval/eval.h"

enum ke_status ke_eval_dit(const struct ke_eval_args * a, struct ke_error * err)
{
    (void) a;
    return ke_err(err, KE_STATUS_UNSUPPORTED, "eval dit: not implemented yet");
}
