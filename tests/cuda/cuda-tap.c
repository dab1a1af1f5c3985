// Kinora tests: TAP output, the relative L2 comparison and random values shared by the CUDA tests
// (cuda-tap.h).
#include "cuda-tap.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

int tap_n, tap_fail;

void tap_report(int ok, const char * fmt, ...)
{
    va_list ap;
    tap_n++;
    if (!ok) {
        tap_fail++;
    }
    printf("%s %d - ", ok ? "ok" : "not ok", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

double tap_rel_l2(const float * a, const float * ref, size_t n, int * nonfinite)
{
    double num = 0, den = 0;
    *nonfinite = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(a[i])) {
            *nonfinite = 1;
        }
        const double d = (double) a[i] - ref[i];
        num += d * d;
        den += (double) ref[i] * ref[i];
    }
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

float tap_nrand(uint64_t * rng)
{
    float s = 0.0f;
    for (int i = 0; i < 4; i++) {
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        s += (float) (*rng >> 40) / (float) (1ull << 24);
    }
    return (s - 2.0f) * 1.7320508f;
}
