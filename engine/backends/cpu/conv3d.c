// Kinora engine: CPU conv3d (direct reference loops; the VAE work replaces this with a fast path).
#include <string.h>

#include "backends/cpu/cpu-impl.h"

int ke_cpu_conv3d_prepare(struct ke_backend * be, struct ke_conv3d * c)
{
    (void) be;
    c->prepared = NULL;
    return 0;
}

void ke_cpu_conv3d_release(struct ke_backend * be, struct ke_conv3d * c)
{
    (void) be;
    c->prepared = NULL;
}

void ke_cpu_conv3d(struct ke_backend * be, float * y, const float * x, const struct ke_conv3d * c,
                   int T, int H, int W, int pt0, int pt1, int ph, int pw, int st, int sh, int sw)
{
    (void) be;
    const int To = (T + pt0 + pt1 - c->kt) / st + 1;
    const int Ho = (H + 2 * ph - c->kh) / sh + 1;
    const int Wo = (W + 2 * pw - c->kw) / sw + 1;
    const float * w = c->w->data;   // f32 only in this reference version
    const float * b = c->b ? c->b->data : NULL;
    for (int co = 0; co < c->c_out; co++) {
        for (int t = 0; t < To; t++) {
            for (int yy = 0; yy < Ho; yy++) {
                for (int xx = 0; xx < Wo; xx++) {
                    double acc = b ? b[co] : 0.0;
                    for (int ci = 0; ci < c->c_in; ci++) {
                        for (int a = 0; a < c->kt; a++) {
                            int ti = t * st + a - pt0;
                            if (ti < 0 || ti >= T) {
                                continue;
                            }
                            for (int i = 0; i < c->kh; i++) {
                                int yi = yy * sh + i - ph;
                                if (yi < 0 || yi >= H) {
                                    continue;
                                }
                                for (int j = 0; j < c->kw; j++) {
                                    int xi = xx * sw + j - pw;
                                    if (xi < 0 || xi >= W) {
                                        continue;
                                    }
                                    acc += (double) w[(((int64_t) co * c->c_in + ci) * c->kt + a) * c->kh * c->kw + i * c->kw + j] *
                                           x[(((int64_t) ci * T + ti) * H + yi) * W + xi];
                                }
                            }
                        }
                    }
                    y[(((int64_t) co * To + t) * Ho + yy) * Wo + xx] = (float) acc;
                }
            }
        }
    }
}
