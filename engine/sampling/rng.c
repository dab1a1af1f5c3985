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

// Box-Muller over 16 uniforms in place: pairs (j, j + 8), as the portable normal_fill_16 (libm).
static void normal_fill_16_libm(float * d)
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

// --- PyTorch's AVX2 kernel (normal_fill_16_AVX2) ------------------------------------------------------
// It evaluates log and sin/cos with the Cephes polynomials of avx_mathfun.h, in float, with the
// multiply-adds its compiler fuses; one lane at a time here, fmaf() where the kernel has an FMA.
// Checked bit for bit against PyTorch 1.13 (x86-64, AVX2) over 100,003 values.

static float bits_f(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t f_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float cephes_logf(float x)
{
    int32_t e_i = (int32_t) (f_bits(x) >> 23) - 0x7f;
    x = bits_f((f_bits(x) & ~0x7f800000u) | f_bits(0.5f));     // mantissa in [0.5, 1)
    float e = (float) e_i + 1.0f;
    const int below = x < 0.707106781186547524f;
    const float tmp = below ? x : 0.0f;
    x = x - 1.0f;
    e = e - (below ? 1.0f : 0.0f);
    x = x + tmp;
    const float z = x * x;
    float y = 7.0376836292E-2f;
    y = fmaf(y, x, -1.1514610310E-1f);
    y = fmaf(y, x, 1.1676998740E-1f);
    y = fmaf(y, x, -1.2420140846E-1f);
    y = fmaf(y, x, 1.4249322787E-1f);
    y = fmaf(y, x, -1.6668057665E-1f);
    y = fmaf(y, x, 2.0000714765E-1f);
    y = fmaf(y, x, -2.4999993993E-1f);
    y = fmaf(y, x, 3.3333331174E-1f);
    y = y * x;
    const float eq1 = e * -2.12194440e-4f;
    y = fmaf(y, z, eq1);
    const float hz = z * 0.5f;
    y = y - hz;
    x = x + y;
    return fmaf(e, 0.693359375f, x);
}

static void cephes_sincosf(float x, float * s_out, float * c_out)
{
    uint32_t sign_sin = f_bits(x) & 0x80000000u;
    x = fabsf(x);
    float y = x * 1.27323954473516f;                // 4 / pi
    int32_t j = (int32_t) y;
    j = (j + 1) & ~1;
    y = (float) j;
    const uint32_t swap_sin = ((uint32_t) (j & 4)) << 29;
    const int poly_sin = (j & 2) == 0 ? 0 : 1;     // 1: the sine polynomial gives the sine
    x = fmaf(y, -0.78515625f, x);                   // extended-precision reduction by pi/4
    x = fmaf(y, -2.4187564849853515625e-4f, x);
    x = fmaf(y, -3.77489497744594108e-8f, x);
    const uint32_t sign_cos = ((uint32_t) (~(j - 2) & 4)) << 29;
    sign_sin ^= swap_sin;
    const float z = x * x;
    float yc = 2.443315711809948E-005f;
    yc = fmaf(yc, z, -1.388731625493765E-003f);
    yc = fmaf(yc, z, 4.166664568298827E-002f);
    yc = yc * z;
    const float hz = z * 0.5f;
    yc = fmaf(yc, z, -hz);
    yc = yc + 1.0f;
    float ys = -1.9515295891E-4f;
    ys = fmaf(ys, z, 8.3321608736E-3f);
    ys = fmaf(ys, z, -1.6666654611E-1f);
    ys = ys * z;
    ys = fmaf(ys, x, x);
    const float s = poly_sin ? yc : ys;
    const float c = poly_sin ? ys : yc;
    *s_out = bits_f(f_bits(s) ^ sign_sin);
    *c_out = bits_f(f_bits(c) ^ sign_cos);
}

static void normal_fill_16_avx2(float * d)
{
    const float two_pi = (float) (2.0 * 3.14159265358979323846);
    for (int j = 0; j < 8; j++) {
        const float u1 = 1.0f - d[j];
        const float u2 = d[j + 8];
        const float radius = sqrtf(-2.0f * cephes_logf(u1));
        const float theta = two_pi * u2;
        float s, c;
        cephes_sincosf(theta, &s, &c);
        d[j] = radius * c;
        d[j + 8] = radius * s;
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

void ke_randn_serial(struct ke_rng * r, float * out, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        out[i] = (float) normal_d(r);
    }
}

void ke_randn(struct ke_rng * r, float * out, int64_t n)
{
    ke_randn_kernel(r, out, n, KE_RANDN_AVX2);
}

void ke_randn_kernel(struct ke_rng * r, float * out, int64_t n, enum ke_randn_flavour flavour)
{
    void (*fill16)(float *) = flavour == KE_RANDN_LIBM ? normal_fill_16_libm : normal_fill_16_avx2;
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
        fill16(out + i);
    }
    if (n % 16 != 0) {
        // the tail: redraw the last 16 values and transform them again
        float * d = out + n - 16;
        for (int j = 0; j < 16; j++) {
            d[j] = uniform_f(r);
        }
        fill16(d);
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
