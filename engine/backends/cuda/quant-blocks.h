// Kinora engine: element decoders of narrow weight formats, one value at a time, shared by the CUDA
// dequantization kernels (cuda-dequant.cu) and a CPU test of the same indexing
// (tests/engine/backends/test-quant-blocks.c). Plain C99 + the nvcc qualifiers; no CUDA headers.
//
// Formats:
//  - fp8 e4m3fn (ComfyUI "fp8_e4m3fn" / "fp8_scaled" checkpoints): 1 sign, 4 exponent (bias 7) and
//    3 mantissa bits; exponent 0 is subnormal (m / 8 * 2^-6); 0x7f / 0xff are NaN; no infinities.
//  - ggml's block_q8_0 (32 values, 34 bytes): f16 d, then 32 int8 q; value j = d * q[j].
//  - ggml's block_q4_K (256 values, 144 bytes): f16 d, f16 dmin, 12 bytes of 6-bit scales and mins
//    (8 sub-blocks of 32), 128 bytes of 4-bit quants. Value v: 64-value chunk c = v / 64 reads bytes
//    qs[32c .. 32c+31], the low nibbles for the first 32 values of the chunk, the high nibbles for the
//    next 32; sub-block is = 2c (low) or 2c + 1 (high) has scale sc and min m, unpacked as in ggml's
//    get_scale_min_k4: for is < 4, sc = s[is] & 63, m = s[is + 4] & 63; else
//    sc = (s[is + 4] & 15) | (s[is - 4] >> 6) << 4, m = (s[is + 4] >> 4) | (s[is] >> 6) << 4.
//    value = d * sc * nibble - dmin * m.
//  - the other GGUF block types (Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q5_K, Q6_K), each next to its
//    decoder below; layouts and formulas as ggml's block_* structs and dequantize_row_* (restated in the
//    fixtures README), so that every value equals core/quant.c's ke_dequant_row_f32 bit for bit.
// The float arithmetic goes through KQ_MUL / KQ_ADD / KQ_SUB: plain operators on the host (the engine
// is built without contraction) and the round-to-nearest intrinsics on the device, which nvcc never
// fuses into an FMA, so the kernels compute the same floats as the CPU.
#pragma once

#include <stdint.h>

#ifdef __CUDACC__
#define KQ_FN static __host__ __device__ __forceinline__
#else
#define KQ_FN static inline
#endif

#if defined(__CUDA_ARCH__)
#define KQ_MUL(a, b) __fmul_rn((a), (b))
#define KQ_ADD(a, b) __fadd_rn((a), (b))
#define KQ_SUB(a, b) __fsub_rn((a), (b))
#else
#define KQ_MUL(a, b) ((a) * (b))
#define KQ_ADD(a, b) ((a) + (b))
#define KQ_SUB(a, b) ((a) - (b))
#endif

#define KQ_Q8_0_VALUES 32
#define KQ_Q8_0_BYTES 34
#define KQ_Q4_K_VALUES 256
#define KQ_Q4_K_BYTES 144

// IEEE binary16 -> float (exact), bit by bit so host and device agree.
KQ_FN float kq_f16(uint16_t h)
{
    const uint32_t sign = (uint32_t) (h >> 15) << 31;
    const int e = (h >> 10) & 31;
    const uint32_t m = h & 1023;
    union {
        uint32_t u;
        float f;
    } r;
    if (e == 0) {
        // subnormal or zero: m * 2^-24
        const float v = (float) m * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    if (e == 31) {
        r.u = sign | 0x7f800000u | (m << 13);
        return r.f;
    }
    r.u = sign | ((uint32_t) (e - 15 + 127) << 23) | (m << 13);
    return r.f;
}

KQ_FN float kq_fp8_e4m3(uint8_t b)
{
    const int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
    float v;
    if (e == 15 && m == 7) {
        union {
            uint32_t u;
            float f;
        } r;
        r.u = 0x7fc00000u;
        return r.f;
    }
    if (e == 0) {
        v = (float) m * 0.001953125f;   // m / 8 * 2^-6
    } else {
        // (1 + m / 8) * 2^(e - 7), built from the float's own fields
        union {
            uint32_t u;
            float f;
        } r;
        r.u = ((uint32_t) (e - 7 + 127) << 23) | ((uint32_t) m << 20);
        v = r.f;
    }
    return s ? -v : v;
}

KQ_FN uint16_t kq_rd16(const uint8_t * p)
{
    return (uint16_t) (p[0] | (p[1] << 8));   // little-endian, as ggml writes it
}

// Value j (0..31) of the block_q8_0 at blk.
KQ_FN float kq_q8_0(const uint8_t * blk, int j)
{
    return KQ_MUL((float) (int8_t) blk[2 + j], kq_f16(kq_rd16(blk)));
}

// Value v (0..255) of the block_q4_K at blk.
KQ_FN float kq_q4_k(const uint8_t * blk, int v)
{
    const float d = kq_f16(kq_rd16(blk)), dmin = kq_f16(kq_rd16(blk + 2));
    const uint8_t * s = blk + 4;
    const uint8_t * qs = blk + 16;
    const int c = v >> 6, hi = (v >> 5) & 1, l = v & 31;
    const int is = 2 * c + hi;
    int sc, m;
    if (is < 4) {
        sc = s[is] & 63;
        m = s[is + 4] & 63;
    } else {
        sc = (s[is + 4] & 15) | ((s[is - 4] >> 6) << 4);
        m = (s[is + 4] >> 4) | ((s[is] >> 6) << 4);
    }
    const uint8_t q = qs[32 * c + l];
    const int nib = hi ? q >> 4 : q & 15;
    return KQ_SUB(KQ_MUL(KQ_MUL(d, (float) sc), (float) nib), KQ_MUL(dmin, (float) m));
}

// --- the other GGUF block types --------------------------------------------------------------------

#define KQ_Q4_0_VALUES 32
#define KQ_Q4_0_BYTES 18
#define KQ_Q4_1_VALUES 32
#define KQ_Q4_1_BYTES 20
#define KQ_Q5_0_VALUES 32
#define KQ_Q5_0_BYTES 22
#define KQ_Q5_1_VALUES 32
#define KQ_Q5_1_BYTES 24
#define KQ_Q2_K_VALUES 256
#define KQ_Q2_K_BYTES 84
#define KQ_Q3_K_VALUES 256
#define KQ_Q3_K_BYTES 110
#define KQ_Q5_K_VALUES 256
#define KQ_Q5_K_BYTES 176
#define KQ_Q6_K_VALUES 256
#define KQ_Q6_K_BYTES 210

KQ_FN uint32_t kq_rd32(const uint8_t * p)
{
    return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

// The 4-bit quant j (0..31) of a legacy block's qs[16]: low nibbles are values 0..15, high 16..31.
KQ_FN int kq_nib32(const uint8_t * qs, int j)
{
    return j < 16 ? qs[j] & 15 : qs[j - 16] >> 4;
}

// block_q4_0 (18 bytes): f16 d, qs[16]; value = (q - 8) * d.
KQ_FN float kq_q4_0(const uint8_t * blk, int j)
{
    return KQ_MUL((float) (kq_nib32(blk + 2, j) - 8), kq_f16(kq_rd16(blk)));
}

// block_q4_1 (20 bytes): f16 d, f16 m, qs[16]; value = q * d + m.
KQ_FN float kq_q4_1(const uint8_t * blk, int j)
{
    return KQ_ADD(KQ_MUL((float) kq_nib32(blk + 4, j), kq_f16(kq_rd16(blk))), kq_f16(kq_rd16(blk + 2)));
}

// block_q5_0 (22 bytes): f16 d, u32 qh, qs[16]; the 5th bit of value j is bit j of qh;
// value = (q - 16) * d.
KQ_FN float kq_q5_0(const uint8_t * blk, int j)
{
    const int q = kq_nib32(blk + 6, j) | (int) (((kq_rd32(blk + 2) >> j) & 1u) << 4);
    return KQ_MUL((float) (q - 16), kq_f16(kq_rd16(blk)));
}

// block_q5_1 (24 bytes): f16 d, f16 m, u32 qh, qs[16]; value = q * d + m.
KQ_FN float kq_q5_1(const uint8_t * blk, int j)
{
    const int q = kq_nib32(blk + 8, j) | (int) (((kq_rd32(blk + 4) >> j) & 1u) << 4);
    return KQ_ADD(KQ_MUL((float) q, kq_f16(kq_rd16(blk))), kq_f16(kq_rd16(blk + 2)));
}

// block_q2_K (84 bytes): scales[16] (low nibble scale, high nibble min), qs[64], f16 d, f16 dmin.
// Value v = 128 n + 32 j + 16 h + l: 2-bit quant (qs[32 n + 16 h + l] >> 2 j) & 3, sub-block 8 n + 2 j + h;
// value = (d * sc) * q - dmin * m.
KQ_FN float kq_q2_k(const uint8_t * blk, int v)
{
    const int n = v >> 7, j = (v >> 5) & 3, h = (v >> 4) & 1, l = v & 15;
    const uint8_t sc = blk[8 * n + 2 * j + h];
    const float d = kq_f16(kq_rd16(blk + 80)), dmin = kq_f16(kq_rd16(blk + 82));
    const int q = (blk[16 + 32 * n + 16 * h + l] >> (2 * j)) & 3;
    return KQ_SUB(KQ_MUL(KQ_MUL(d, (float) (sc & 15)), (float) q), KQ_MUL(dmin, (float) (sc >> 4)));
}

// block_q3_K (110 bytes): hmask[32], qs[64], scales[12] (16 six-bit scales), f16 d. Value
// v = 128 n + 32 j + 16 h + l: 2-bit quant (qs[32 n + 16 h + l] >> 2 j) & 3, minus 4 when bit 4 n + j of
// hmask[16 h + l] is clear; sub-block i = 8 n + 2 j + h. Scale i (ggml's kmask unpacking): low 4 bits
// from byte 4 (k & 1) + b of the scales (b = i % 4, k = i / 4), its high nibble when k >= 2; high 2 bits
// from byte 8 + b, bits 2 k and 2 k + 1. value = (d * (scale - 32)) * q.
KQ_FN float kq_q3_k(const uint8_t * blk, int v)
{
    const int n = v >> 7, j = (v >> 5) & 3, h = (v >> 4) & 1, l = v & 15;
    const int i = 8 * n + 2 * j + h, k = i >> 2, b = i & 3;
    const uint8_t * scb = blk + 96;
    const int lo = (scb[4 * (k & 1) + b] >> (4 * (k >> 1))) & 15;
    const int hi = (scb[8 + b] >> (2 * k)) & 3;
    const int sc = (lo | (hi << 4)) - 32;
    const int hm = blk[16 * h + l] & (1 << (4 * n + j));
    const int q = ((blk[32 + 32 * n + 16 * h + l] >> (2 * j)) & 3) - (hm ? 0 : 4);
    return KQ_MUL(KQ_MUL(kq_f16(kq_rd16(blk + 108)), (float) sc), (float) q);
}

// block_q5_K (176 bytes): f16 d, f16 dmin, scales[12] (as Q4_K), qh[32], qs[128]. As Q4_K plus a 5th bit:
// value v (chunk c = v / 64, hi = (v / 32) & 1, l = v % 32) adds 16 when bit 2 c + hi of qh[l] is set.
KQ_FN float kq_q5_k(const uint8_t * blk, int v)
{
    const float d = kq_f16(kq_rd16(blk)), dmin = kq_f16(kq_rd16(blk + 2));
    const uint8_t * s = blk + 4;
    const int c = v >> 6, hi = (v >> 5) & 1, l = v & 31;
    const int is = 2 * c + hi;
    int sc, m;
    if (is < 4) {
        sc = s[is] & 63;
        m = s[is + 4] & 63;
    } else {
        sc = (s[is + 4] & 15) | ((s[is - 4] >> 6) << 4);
        m = (s[is + 4] >> 4) | ((s[is] >> 6) << 4);
    }
    const uint8_t q = blk[48 + 32 * c + l];
    const int x = (hi ? q >> 4 : q & 15) + ((blk[16 + l] >> is) & 1) * 16;
    return KQ_SUB(KQ_MUL(KQ_MUL(d, (float) sc), (float) x), KQ_MUL(dmin, (float) m));
}

// block_q6_K (210 bytes): ql[128], qh[64], int8 scales[16], f16 d. Value v = 128 n + 32 g + l (g the
// quarter, l < 32): low 4 bits from ql[64 n + l + 32 (g & 1)] (high nibble when g >= 2), high 2 bits
// (qh[32 n + l] >> 2 g) & 3, scale scales[8 n + l / 16 + 2 g]; value = (d * scale) * (q - 32).
KQ_FN float kq_q6_k(const uint8_t * blk, int v)
{
    const int n = v >> 7, g = (v >> 5) & 3, l = v & 31;
    const int lo = (blk[64 * n + l + 32 * (g & 1)] >> (4 * (g >> 1))) & 15;
    const int hb = (blk[128 + 32 * n + l] >> (2 * g)) & 3;
    const int sc = (int) (int8_t) blk[192 + 8 * n + (l >> 4) + 2 * g];
    return KQ_MUL(KQ_MUL(kq_f16(kq_rd16(blk + 208)), (float) sc), (float) ((lo | (hb << 4)) - 32));
}
