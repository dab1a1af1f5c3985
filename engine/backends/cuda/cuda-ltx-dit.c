// Kinora engine: the CUDA backend's LTX-Video transformer op (backend.h "LTX-Video transformer ops"),
// host side of cuda-ltx-dit.cu.
#include "backends/cuda/cuda-backend.h"
#include "backends/cuda/cuda-ltx-dit.h"

void cu_rms_norm_mod_x(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t M, int64_t D, float eps,
                       const float * shift, const float * scale, int64_t stride, const int32_t * sel)
{
    struct kc_state * s = kc_st(be);
    PROF_BEGIN(s, KC_CLASS_OTHER);
    KC(s, kc_ltx_rms_norm_mod((uint16_t *) y, x, M, D, eps, shift, scale, stride, sel, s->stream));
    PROF_END(s);
}
