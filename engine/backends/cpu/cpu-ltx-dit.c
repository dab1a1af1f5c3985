// Kinora engine: the CPU backend's LTX-Video transformer op (backend.h, "LTX-Video transformer ops"):
// the composition of plain ops its declaration names, through the backend's own table, so it equals
// rms_norm followed by modulate bit for bit (a struct ke_xbuf on the CPU holds f32).
#include "backends/cpu/cpu-impl.h"

void ke_cpu_rms_norm_mod_x(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t M, int64_t D,
                           float eps, const float * shift, const float * scale, int64_t mod_stride,
                           const int32_t * sel)
{
    float * yf = (float *) y;
    be->ops->rms_norm(be, yf, x, M, D, NULL, eps);
    if (shift || scale) {
        be->ops->modulate(be, yf, yf, M, D, shift, scale, mod_stride, sel);
    }
}
