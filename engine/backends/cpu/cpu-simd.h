// Kinora engine: small SIMD helpers for the CPU backend, written with GCC/clang vector extensions so
// one source serves AVX-512, AVX2 and SSE builds (target_clones picks at run time).
#pragma once

#include <stdint.h>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define KE_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define KE_MULTIVERSION
#endif

typedef float ke_v16 __attribute__((vector_size(64)));
typedef int32_t ke_v16i __attribute__((vector_size(64)));

typedef float ke_v16u __attribute__((vector_size(64), aligned(4)));   // unaligned access

// p[0..15] = exp(p[0..15]) for inputs already clamped to [-87, 88]: Cephes' single-precision
// polynomial after range reduction by ln 2 (about 1 ulp). (In memory rather than returning a vector,
// so no vector type crosses a function boundary: the ABI differs between the clone targets.)
static inline __attribute__((always_inline)) void ke_exp16(float * p)
{
    const ke_v16 x = *(const ke_v16u *) p;
    const ke_v16 t = x * 1.44269504088896341f + 12582912.0f;   // round(x / ln 2) in the low bits
    const ke_v16 fx = t - 12582912.0f;
    const ke_v16 r = x - fx * 0.693359375f - fx * -2.12194440e-4f;
    const ke_v16 z = r * r;
    ke_v16 y = 1.9875691500e-4f * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * z + r + 1.0f;
    const ke_v16i e = ((ke_v16i) t - 0x4B400000 + 127) << 23;
    *(ke_v16u *) p = y * (ke_v16) e;
}

static inline float ke_clampf(float x, float lo, float hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}
