// Kinora engine: block-quantized weight rows (the GGUF / ggml block layouts) to f32 or bf16, and a simple
// quantizer for a few of them (random weights for benchmarks and tests).
//
// Layouts and formulas follow ggml's (ggml-common.h block_* structs, ggml-quants.c dequantize_row_*),
// as the fixtures README (tests' ../shared/fixtures/gguf) restates them. All arithmetic is float32 in the
// order written there; this file must be compiled without floating-point contraction (C11 mode, no
// -ffast-math: the engine's default), which makes the result bit-identical to ggml's to_float.
// Multi-byte fields are little-endian in the file and read byte by byte (no alignment assumed).
#include <math.h>
#include <string.h>

#include "tensor.h"

// The block decoders are inlined into row loops compiled for several instruction sets (GCC picks one at
// run time): the just-in-time dequantization of the CPU's Linear runs at memory speed. No contraction
// happens in any clone (C11 mode: -ffp-contract=off), so every clone gives the same bits.
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define QMV __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define QMV
#endif
#define DQ static inline __attribute__((always_inline)) void

// The block scales are normal f16 numbers in practice: those convert by moving bits; zero, subnormals,
// infinities and NaNs take the general (exact) conversion.
static inline float f16_at(const uint8_t * p)
{
    const uint16_t h = (uint16_t) (p[0] | (p[1] << 8));
    const uint32_t e = (h >> 10) & 31u;
    if (e == 0 || e == 31) {
        return ke_f16_to_f32(h);
    }
    const uint32_t u = ((uint32_t) (h & 0x8000u) << 16) | ((e + 112u) << 23) | ((uint32_t) (h & 0x3ffu) << 13);
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

static inline uint32_t u32_at(const uint8_t * p)
{
    return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

// --- legacy 32-element blocks ------------------------------------------------------------------

DQ dq_q8_0(const uint8_t * b, float * y)   // d, int8 qs[32]
{
    const float d = f16_at(b);
    for (int j = 0; j < 32; j++) {
        y[j] = (float) (int8_t) b[2 + j] * d;
    }
}

DQ dq_q4_0(const uint8_t * b, float * y)   // d, qs[16]
{
    const float d = f16_at(b);
    const uint8_t * qs = b + 2;
    // nibbles unpacked first: the conversion is then one 32-long loop, as for q8_0
    uint8_t u[32];
    for (int j = 0; j < 16; j++) {
        u[j] = qs[j] & 15;
        u[j + 16] = qs[j] >> 4;
    }
    for (int j = 0; j < 32; j++) {
        y[j] = (float) ((int) u[j] - 8) * d;
    }
}

DQ dq_q4_1(const uint8_t * b, float * y)   // d, m, qs[16]
{
    const float d = f16_at(b), m = f16_at(b + 2);
    const uint8_t * qs = b + 4;
    uint8_t u[32];
    for (int j = 0; j < 16; j++) {
        u[j] = qs[j] & 15;
        u[j + 16] = qs[j] >> 4;
    }
    for (int j = 0; j < 32; j++) {
        y[j] = (float) u[j] * d + m;
    }
}

// q5: the 5th bit of value j is bit j of qh (j < 16 low nibbles, 16 + j the high ones)
DQ dq_q5(const uint8_t * qs, uint32_t qh, float d, float m, int has_min, float * y)
{
    for (int j = 0; j < 16; j++) {
        const int x0 = (qs[j] & 15) | (int) (((qh >> j) << 4) & 16);
        const int x1 = (qs[j] >> 4) | (int) ((qh >> (j + 12)) & 16);
        if (has_min) {
            y[j] = (float) x0 * d + m;
            y[j + 16] = (float) x1 * d + m;
        } else {
            y[j] = (float) (x0 - 16) * d;
            y[j + 16] = (float) (x1 - 16) * d;
        }
    }
}

DQ dq_q5_0(const uint8_t * b, float * y)   // d, qh, qs[16]
{
    dq_q5(b + 6, u32_at(b + 2), f16_at(b), 0.0f, 0, y);
}

DQ dq_q5_1(const uint8_t * b, float * y)   // d, m, qh, qs[16]
{
    dq_q5(b + 8, u32_at(b + 4), f16_at(b), f16_at(b + 2), 1, y);
}

// --- K super-blocks of 256 -----------------------------------------------------------------------

DQ dq_q2_k(const uint8_t * b, float * y)   // scales[16], qs[64], d, dmin
{
    const uint8_t * sc = b, * qs = b + 16;
    const float d = f16_at(b + 80), dmin = f16_at(b + 82);
    for (int n = 0; n < 2; n++) {
        for (int j = 0; j < 4; j++) {
            for (int h = 0; h < 2; h++) {
                const uint8_t s = sc[8 * n + 2 * j + h];
                const float dl = d * (float) (s & 15), ml = dmin * (float) (s >> 4);
                float * o = y + 128 * n + 32 * j + 16 * h;
                const uint8_t * q = qs + 32 * n + 16 * h;
                for (int l = 0; l < 16; l++) {
                    o[l] = dl * (float) ((q[l] >> (2 * j)) & 3) - ml;
                }
            }
        }
    }
}

DQ dq_q3_k(const uint8_t * b, float * y)   // hmask[32], qs[64], scales[12], d
{
    const uint8_t * hm = b, * qs = b + 32, * scb = b + 96;
    const float d = f16_at(b + 108);
    const uint32_t K1 = 0x03030303u, K2 = 0x0f0f0f0fu;
    const uint32_t a0 = u32_at(scb), a1 = u32_at(scb + 4), t = u32_at(scb + 8);
    const uint32_t w[4] = {
        (a0 & K2) | (((t >> 0) & K1) << 4),
        (a1 & K2) | (((t >> 2) & K1) << 4),
        ((a0 >> 4) & K2) | (((t >> 4) & K1) << 4),
        ((a1 >> 4) & K2) | (((t >> 6) & K1) << 4),
    };
    int s[16];
    for (int i = 0; i < 16; i++) {
        s[i] = (int) (int8_t) (uint8_t) (w[i / 4] >> (8 * (i % 4)));
    }
    for (int n = 0; n < 2; n++) {
        for (int j = 0; j < 4; j++) {
            const uint8_t bit = (uint8_t) (1u << (4 * n + j));
            for (int h = 0; h < 2; h++) {
                const float dl = d * (float) (s[8 * n + 2 * j + h] - 32);
                float * o = y + 128 * n + 32 * j + 16 * h;
                const uint8_t * q = qs + 32 * n + 16 * h;
                const uint8_t * m = hm + 16 * h;
                for (int l = 0; l < 16; l++) {
                    const int v = ((q[l] >> (2 * j)) & 3) - ((m[l] & bit) ? 0 : 4);
                    o[l] = dl * (float) v;
                }
            }
        }
    }
}

// The 8 (scale, min) pairs of 6 bits packed in 12 bytes (ggml's get_scale_min_k4).
DQ k4_scales(const uint8_t * s, int sc[8], int mn[8])
{
    for (int k = 0; k < 8; k++) {
        if (k < 4) {
            sc[k] = s[k] & 63;
            mn[k] = s[k + 4] & 63;
        } else {
            sc[k] = (s[k + 4] & 15) | ((s[k - 4] >> 6) << 4);
            mn[k] = (s[k + 4] >> 4) | ((s[k] >> 6) << 4);
        }
    }
}

DQ dq_q4_k(const uint8_t * b, float * y)   // d, dmin, scales[12], qs[128]
{
    const float d = f16_at(b), dmin = f16_at(b + 2);
    int sc[8], mn[8];
    k4_scales(b + 4, sc, mn);
    const uint8_t * qs = b + 16;
    for (int j = 0; j < 4; j++) {
        const float d1 = d * (float) sc[2 * j], m1 = dmin * (float) mn[2 * j];
        const float d2 = d * (float) sc[2 * j + 1], m2 = dmin * (float) mn[2 * j + 1];
        const uint8_t * q = qs + 32 * j;
        for (int l = 0; l < 32; l++) {
            y[64 * j + l] = d1 * (float) (q[l] & 15) - m1;
            y[64 * j + 32 + l] = d2 * (float) (q[l] >> 4) - m2;
        }
    }
}

DQ dq_q5_k(const uint8_t * b, float * y)   // d, dmin, scales[12], qh[32], qs[128]
{
    const float d = f16_at(b), dmin = f16_at(b + 2);
    int sc[8], mn[8];
    k4_scales(b + 4, sc, mn);
    const uint8_t * qh = b + 16, * qs = b + 48;
    for (int j = 0; j < 4; j++) {
        const float d1 = d * (float) sc[2 * j], m1 = dmin * (float) mn[2 * j];
        const float d2 = d * (float) sc[2 * j + 1], m2 = dmin * (float) mn[2 * j + 1];
        const uint8_t u1 = (uint8_t) (1u << (2 * j)), u2 = (uint8_t) (2u << (2 * j));
        const uint8_t * q = qs + 32 * j;
        for (int l = 0; l < 32; l++) {
            y[64 * j + l] = d1 * (float) ((q[l] & 15) + ((qh[l] & u1) ? 16 : 0)) - m1;
            y[64 * j + 32 + l] = d2 * (float) ((q[l] >> 4) + ((qh[l] & u2) ? 16 : 0)) - m2;
        }
    }
}

DQ dq_q6_k(const uint8_t * b, float * y)   // ql[128], qh[64], int8 scales[16], d
{
    const float d = f16_at(b + 208);
    for (int n = 0; n < 2; n++) {
        const uint8_t * L = b + 64 * n, * H = b + 128 + 32 * n;
        const int8_t * S = (const int8_t *) (b + 192 + 8 * n);
        float * o = y + 128 * n;
        // 16 values share a scale: loops over l in [16 i, 16 i + 16) with the scales hoisted
        for (int i = 0; i < 2; i++) {
            const float s1 = d * (float) S[i], s2 = d * (float) S[i + 2];
            const float s3 = d * (float) S[i + 4], s4 = d * (float) S[i + 6];
            for (int l = 16 * i; l < 16 * i + 16; l++) {
                o[l] = s1 * (float) ((int) ((L[l] & 15) | (((H[l] >> 0) & 3) << 4)) - 32);
            }
            for (int l = 16 * i; l < 16 * i + 16; l++) {
                o[l + 32] = s2 * (float) ((int) ((L[l + 32] & 15) | (((H[l] >> 2) & 3) << 4)) - 32);
            }
            for (int l = 16 * i; l < 16 * i + 16; l++) {
                o[l + 64] = s3 * (float) ((int) ((L[l] >> 4) | (((H[l] >> 4) & 3) << 4)) - 32);
            }
            for (int l = 16 * i; l < 16 * i + 16; l++) {
                o[l + 96] = s4 * (float) ((int) ((L[l + 32] >> 4) | (((H[l] >> 6) & 3) << 4)) - 32);
            }
        }
    }
}

// One row loop per type, each with its decoder inlined; OUT(i, tmp, bk) stores a decoded block.
#define DQ_ROWS(OUT)                                                                    \
    switch (t) {                                                                        \
    case KE_DTYPE_Q8_0: DQ_LOOP(dq_q8_0, 32, 34, OUT); break;                           \
    case KE_DTYPE_Q4_0: DQ_LOOP(dq_q4_0, 32, 18, OUT); break;                           \
    case KE_DTYPE_Q4_1: DQ_LOOP(dq_q4_1, 32, 20, OUT); break;                           \
    case KE_DTYPE_Q5_0: DQ_LOOP(dq_q5_0, 32, 22, OUT); break;                           \
    case KE_DTYPE_Q5_1: DQ_LOOP(dq_q5_1, 32, 24, OUT); break;                           \
    case KE_DTYPE_Q2_K: DQ_LOOP(dq_q2_k, 256, 84, OUT); break;                          \
    case KE_DTYPE_Q3_K: DQ_LOOP(dq_q3_k, 256, 110, OUT); break;                         \
    case KE_DTYPE_Q4_K: DQ_LOOP(dq_q4_k, 256, 144, OUT); break;                         \
    case KE_DTYPE_Q5_K: DQ_LOOP(dq_q5_k, 256, 176, OUT); break;                         \
    case KE_DTYPE_Q6_K: DQ_LOOP(dq_q6_k, 256, 210, OUT); break;                         \
    default: break;                                                                     \
    }
#define DQ_LOOP(fn, bk, bb, OUT)                                                        \
    for (int64_t i = 0; i + (bk) <= n; i += (bk)) {                                     \
        fn((const uint8_t *) src + (size_t) (i / (bk)) * (bb), tmp);                    \
        OUT(i, tmp, bk);                                                                \
    }

#define OUT_F32(i, tmp, bk) memcpy(dst + (i), tmp, (size_t) (bk) * sizeof(float))
// round to nearest even (dequantized values are finite)
#define OUT_BF16(i, tmp, bk)                                                            \
    for (int j = 0; j < (bk); j++) {                                                    \
        uint32_t x;                                                                     \
        memcpy(&x, &tmp[j], sizeof(x));                                                 \
        dst[(i) + j] = (uint16_t) ((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);             \
    }

QMV void ke_dequant_row_f32(enum ke_dtype t, const void * src, float * dst, int64_t n)
{
    float tmp[256];
    DQ_ROWS(OUT_F32)
}

QMV void ke_dequant_row_bf16(enum ke_dtype t, const void * src, uint16_t * dst, int64_t n)
{
    float tmp[256];
    DQ_ROWS(OUT_BF16)
}

// --- quantizers (round to nearest; no error-minimising search) ---------------------------------

static void put_f16(uint8_t * p, float v)
{
    uint16_t h = ke_f32_to_f16(v);
    p[0] = (uint8_t) h;
    p[1] = (uint8_t) (h >> 8);
}

static void q_q8_0(const float * x, uint8_t * b)
{
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) {
        amax = fmaxf(amax, fabsf(x[j]));
    }
    const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(b, d);
    for (int j = 0; j < 32; j++) {
        b[2 + j] = (uint8_t) (int8_t) lrintf(x[j] * id);
    }
}

static void q_q4_0(const float * x, uint8_t * b)
{
    float amax = 0.0f, max = 0.0f;   // max: the value of largest magnitude, with its sign
    for (int j = 0; j < 32; j++) {
        if (fabsf(x[j]) > amax) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    const float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_f16(b, d);
    for (int j = 0; j < 16; j++) {
        int a = (int) floorf(x[j] * id + 8.5f), c = (int) floorf(x[j + 16] * id + 8.5f);
        a = a < 0 ? 0 : a > 15 ? 15 : a;
        c = c < 0 ? 0 : c > 15 ? 15 : c;
        b[2 + j] = (uint8_t) (a | (c << 4));
    }
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

// Q4_K: per 32-value sub-block an affine map x ~ d*sc*q - dmin*mn with q in 0..15, the 8 scales and
// mins quantized to 6 bits against the block's d and dmin.
static void q_q4_k(const float * x, uint8_t * b)
{
    float scale[8], minv[8], smax = 0.0f, mmax = 0.0f;
    for (int s = 0; s < 8; s++) {
        float lo = x[32 * s], hi = x[32 * s];
        for (int l = 1; l < 32; l++) {
            lo = fminf(lo, x[32 * s + l]);
            hi = fmaxf(hi, x[32 * s + l]);
        }
        lo = fminf(lo, 0.0f);
        scale[s] = (hi - lo) / 15.0f;
        minv[s] = -lo;
        smax = fmaxf(smax, scale[s]);
        mmax = fmaxf(mmax, minv[s]);
    }
    const float d = ke_f16_to_f32(ke_f32_to_f16(smax / 63.0f));
    const float dmin = ke_f16_to_f32(ke_f32_to_f16(mmax / 63.0f));
    put_f16(b, d);
    put_f16(b + 2, dmin);
    int sc[8], mn[8];
    for (int s = 0; s < 8; s++) {
        sc[s] = d > 0.0f ? clampi((int) lrintf(scale[s] / d), 0, 63) : 0;
        mn[s] = dmin > 0.0f ? clampi((int) lrintf(minv[s] / dmin), 0, 63) : 0;
    }
    uint8_t * S = b + 4;
    memset(S, 0, 12);
    for (int k = 0; k < 8; k++) {
        if (k < 4) {
            S[k] |= (uint8_t) (sc[k] & 63);
            S[k + 4] |= (uint8_t) (mn[k] & 63);
        } else {
            S[k + 4] = (uint8_t) ((sc[k] & 15) | ((mn[k] & 15) << 4));
            S[k - 4] |= (uint8_t) ((sc[k] >> 4) << 6);
            S[k] |= (uint8_t) ((mn[k] >> 4) << 6);
        }
    }
    uint8_t q[256];
    for (int s = 0; s < 8; s++) {
        const float ds = d * (float) sc[s], ms = dmin * (float) mn[s];
        for (int l = 0; l < 32; l++) {
            q[32 * s + l] = (uint8_t) (ds > 0.0f ? clampi((int) lrintf((x[32 * s + l] + ms) / ds), 0, 15) : 0);
        }
    }
    for (int j = 0; j < 4; j++) {
        for (int l = 0; l < 32; l++) {
            b[16 + 32 * j + l] = (uint8_t) (q[64 * j + l] | (q[64 * j + 32 + l] << 4));
        }
    }
}

// Q6_K: per 16-value sub-block a symmetric scale (int8 against the block's d), q in -32..31.
static void q_q6_k(const float * x, uint8_t * b)
{
    float scale[16], amax = 0.0f, smax = 0.0f;
    for (int s = 0; s < 16; s++) {
        float m = 0.0f, v = 0.0f;
        for (int l = 0; l < 16; l++) {
            if (fabsf(x[16 * s + l]) > m) {
                m = fabsf(x[16 * s + l]);
                v = x[16 * s + l];
            }
        }
        scale[s] = v / -32.0f;
        if (fabsf(scale[s]) > amax) {
            amax = fabsf(scale[s]);
            smax = scale[s];
        }
    }
    const float iscale = smax != 0.0f ? -128.0f / smax : 0.0f;
    const float d = ke_f16_to_f32(ke_f32_to_f16(iscale != 0.0f ? 1.0f / iscale : 0.0f));
    put_f16(b + 208, d);
    int8_t * S = (int8_t *) (b + 192);
    uint8_t q[256];
    for (int s = 0; s < 16; s++) {
        S[s] = (int8_t) clampi((int) lrintf(iscale * scale[s]), -128, 127);
        const float ds = d * (float) S[s];
        for (int l = 0; l < 16; l++) {
            q[16 * s + l] = (uint8_t) (ds != 0.0f ? clampi((int) lrintf(x[16 * s + l] / ds), -32, 31) + 32 : 32);
        }
    }
    for (int n = 0; n < 2; n++) {
        uint8_t * L = b + 64 * n, * H = b + 128 + 32 * n;
        const uint8_t * Q = q + 128 * n;
        for (int l = 0; l < 32; l++) {
            L[l] = (uint8_t) ((Q[l] & 15) | ((Q[l + 64] & 15) << 4));
            L[l + 32] = (uint8_t) ((Q[l + 32] & 15) | ((Q[l + 96] & 15) << 4));
            H[l] = (uint8_t) ((Q[l] >> 4) | ((Q[l + 32] >> 4) << 2) | ((Q[l + 64] >> 4) << 4) | ((Q[l + 96] >> 4) << 6));
        }
    }
}

int ke_quantize_row(enum ke_dtype t, const float * src, void * dst, int64_t n)
{
    void (*f)(const float *, uint8_t *) = t == KE_DTYPE_Q8_0 ? q_q8_0 : t == KE_DTYPE_Q4_0 ? q_q4_0
                                        : t == KE_DTYPE_Q4_K ? q_q4_k : t == KE_DTYPE_Q6_K ? q_q6_k : NULL;
    if (!f) {
        return -1;
    }
    const int64_t bk = ke_dtype_block(t);
    const size_t bb = ke_dtype_size(t);
    uint8_t * p = dst;
    for (int64_t i = 0; i + bk <= n; i += bk, p += bb) {
        f(src + i, p);
    }
    return 0;
}
