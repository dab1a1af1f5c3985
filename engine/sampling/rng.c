// Kinora engine: seed -> noise. mt19937 and the normal sampling of PyTorch's CPU generator
// (aten/src/ATen/core/MT19937RNGEngine.h, native/cpu/DistributionTemplates.h normal_fill, PyTorch 1.13),
// so that a seed gives the same noise as torch.manual_seed(seed); torch.randn(...) on the CPU.
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sampling/sampling.h"

#define MT_N 624
#define MT_M 397

void ke_rng_seed(struct ke_rng * r, uint64_t seed)
{
    memset(r, 0, sizeof(*r));
    r->mt[0] = (uint32_t) (seed & 0xffffffffu);
    for (int j = 1; j < MT_N; j++) {
        r->mt[j] = 1812433253u * (r->mt[j - 1] ^ (r->mt[j - 1] >> 30)) + (uint32_t) j;
    }
    r->idx = MT_N;
}

static void mt_twist(struct ke_rng * r)
{
    for (int i = 0; i < MT_N; i++) {
        uint32_t y = (r->mt[i] & 0x80000000u) | (r->mt[(i + 1) % MT_N] & 0x7fffffffu);
        uint32_t v = r->mt[(i + MT_M) % MT_N] ^ (y >> 1);
        if (y & 1u) {
            v ^= 0x9908b0dfu;
        }
        r->mt[i] = v;
    }
    r->idx = 0;
}

uint32_t ke_rng_u32(struct ke_rng * r)
{
    if (r->idx >= MT_N) {
        mt_twist(r);
    }
    uint32_t y = r->mt[r->idx++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

// uniform float in [0, 1): 24 random bits (torch uniform_real_distribution<float>).
static float uniform_f(struct ke_rng * r)
{
    return (float) (ke_rng_u32(r) & 0xffffffu) * (1.0f / 16777216.0f);
}

// uniform double in [0, 1): 53 random bits of random64() = (first << 32) | second.
static double uniform_d(struct ke_rng * r)
{
    uint64_t hi = ke_rng_u32(r);
    uint64_t lo = ke_rng_u32(r);
    uint64_t v = (hi << 32) | lo;
    return (double) (v & ((UINT64_C(1) << 53) - 1)) * (1.0 / 9007199254740992.0);
}

// Box-Muller over 16 uniforms in place: pairs (j, j + 8), as normal_fill_16.
static void normal_fill_16(float * d)
{
    for (int j = 0; j < 8; j++) {
        const float u1 = 1.0f - d[j];   // (0, 1] for the log
        const float u2 = d[j + 8];
        const float radius = sqrtf(-2.0f * logf(u1));
        const float theta = (float) (2.0 * 3.14159265358979323846 * (double) u2);
        d[j] = radius * cosf(theta);
        d[j + 8] = radius * sinf(theta);
    }
}

// One normal in double (normal_distribution<double>), caching the second Box-Muller value.
static double normal_d(struct ke_rng * r)
{
    if (r->has_next_double) {
        r->has_next_double = 0;
        return r->next_double;
    }
    const double u1 = uniform_d(r);
    const double u2 = uniform_d(r);
    const double radius = sqrt(-2.0 * log(1.0 - u2));
    const double theta = 2.0 * 3.14159265358979323846 * u1;
    r->next_double = radius * sin(theta);
    r->has_next_double = 1;
    return radius * cos(theta);
}

void ke_randn(struct ke_rng * r, float * out, int64_t n)
{
    if (n <= 0) {
        return;
    }
    if (n < 16) {
        for (int64_t i = 0; i < n; i++) {
            out[i] = (float) normal_d(r);
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        out[i] = uniform_f(r);
    }
    for (int64_t i = 0; i + 16 <= n; i += 16) {
        normal_fill_16(out + i);
    }
    if (n % 16 != 0) {
        // the tail: redraw the last 16 values and transform them again
        float * d = out + n - 16;
        for (int j = 0; j < 16; j++) {
            d[j] = uniform_f(r);
        }
        normal_fill_16(d);
    }
}

int64_t ke_random_seed(void)
{
    uint64_t v = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (read(fd, &v, sizeof(v)) != (ssize_t) sizeof(v)) {
            v = 0;
        }
        close(fd);
    }
    if (v == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = (uint64_t) ts.tv_nsec * 6364136223846793005ull + (uint64_t) ts.tv_sec;
    }
    return (int64_t) (v >> 1);
}
