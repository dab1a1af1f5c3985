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
#pragma once

#include <stdint.h>

#ifdef __CUDACC__
#define KQ_FN static __host__ __device__ __forceinline__
#else
#define KQ_FN static inline
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
    return kq_f16(kq_rd16(blk)) * (float) (int8_t) blk[2 + j];
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
    return d * (float) sc * (float) nib - dmin * (float) m;
}
