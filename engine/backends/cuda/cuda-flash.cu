// Kinora engine: flash attention on bf16 tensor cores (mma.sync m16n8k16, fp32 accumulation).
// A block of 4 warps takes 64 queries of one head; each warp owns 16 query rows and keeps its
// scores, running max/sum and output in registers while 64-key tiles of K and V stream through
// double-buffered, XOR-swizzled shared memory (cp.async). The [Lq, Lk] matrix never exists.
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "backends/cuda/cuda-impl.h"

#define FA_BR 64
#define FA_BC 64
#define FA_WARPS 4

__device__ __forceinline__ uint32_t smem_u32(const void * p)
{
    return (uint32_t) __cvta_generic_to_shared(p);
}

__device__ __forceinline__ void cp_async16(uint32_t dst, const void * src, bool valid)
{
    const int n = valid ? 16 : 0;   // 0: zero-fill
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(n));
}

__device__ __forceinline__ void cp_async_commit()
{
    asm volatile("cp.async.commit_group;\n" ::);
}

__device__ __forceinline__ void cp_async_wait_all()
{
    asm volatile("cp.async.wait_group 0;\n" ::);
}

__device__ __forceinline__ void ldsm_x4(uint32_t addr, uint32_t & r0, uint32_t & r1, uint32_t & r2, uint32_t & r3)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(addr));
}

__device__ __forceinline__ void ldsm_x4_t(uint32_t addr, uint32_t & r0, uint32_t & r1, uint32_t & r2, uint32_t & r3)
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(addr));
}

__device__ __forceinline__ void mma_bf16(float * c, const uint32_t * a, uint32_t b0, uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi)
{
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}

// Byte offset of 16-byte chunk `c` of row `r` in a swizzled tile with D bf16 per row.
template <int D>
__device__ __forceinline__ uint32_t swz(int r, int c)
{
    return (uint32_t) (r * D * 2 + ((c ^ (r & 7)) << 4));
}

// Load a [64, D] bf16 tile (rows r0.., row stride ld elements) into swizzled shared memory.
template <int D>
__device__ __forceinline__ void load_tile(uint32_t sbase, const __nv_bfloat16 * g, int64_t r0, int64_t rows, int64_t ld)
{
    constexpr int CH = D / 8;   // 16-byte chunks per row
    for (int i = threadIdx.x; i < FA_BR * CH; i += FA_WARPS * 32) {
        const int r = i / CH, c = i % CH;
        const bool valid = r0 + r < rows;
        const __nv_bfloat16 * src = g + (valid ? (r0 + r) * ld : 0) + c * 8;
        cp_async16(sbase + swz<D>(r, c), src, valid);
    }
}

template <int D>
__global__ void __launch_bounds__(FA_WARPS * 32)
k_flash_fwd(__nv_bfloat16 * __restrict__ o, const __nv_bfloat16 * __restrict__ q, const __nv_bfloat16 * __restrict__ k,
            const __nv_bfloat16 * __restrict__ v, int64_t Lq, int64_t Lk, int64_t ld, float scale_log2)
{
    constexpr int KS = D / 16;   // k-steps over the head dim
    constexpr int ND = D / 8;    // n-tiles over the head dim
    constexpr int NS = FA_BC / 8;   // n-tiles over keys
    extern __shared__ __align__(128) unsigned char smem[];
    const uint32_t sq = smem_u32(smem);
    const uint32_t sk0 = sq + FA_BR * D * 2;
    const uint32_t tile_bytes = FA_BC * D * 2;
    // K buffers at sk0, sk0 + tile; V buffers after them.
    const uint32_t sv0 = sk0 + 2 * tile_bytes;

    const int h = blockIdx.y;
    const int64_t q0 = (int64_t) blockIdx.x * FA_BR;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int g = lane >> 2, t = lane & 3;

    const __nv_bfloat16 * qh = q + (int64_t) h * D;
    const __nv_bfloat16 * kh = k + (int64_t) h * D;
    const __nv_bfloat16 * vh = v + (int64_t) h * D;

    load_tile<D>(sq, qh, q0, Lq, ld);
    load_tile<D>(sk0, kh, 0, Lk, ld);
    load_tile<D>(sv0, vh, 0, Lk, ld);
    cp_async_commit();
    cp_async_wait_all();
    __syncthreads();

    // Q fragments of this warp's 16 rows.
    uint32_t qf[KS][4];
    {
        const int r = warp * 16 + (lane & 7) + 8 * ((lane >> 3) & 1);
#pragma unroll
        for (int ks = 0; ks < KS; ks++) {
            const int c = ks * 2 + (lane >> 4);
            ldsm_x4(sq + swz<D>(r, c), qf[ks][0], qf[ks][1], qf[ks][2], qf[ks][3]);
        }
    }

    float acc[ND][4];
#pragma unroll
    for (int i = 0; i < ND; i++) {
        acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.0f;
    }
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;   // rows g and g + 8

    const int n_tiles = (int) ((Lk + FA_BC - 1) / FA_BC);
    for (int j = 0; j < n_tiles; j++) {
        const int buf = j & 1;
        if (j + 1 < n_tiles) {
            load_tile<D>(sk0 + (buf ^ 1) * tile_bytes, kh, (int64_t) (j + 1) * FA_BC, Lk, ld);
            load_tile<D>(sv0 + (buf ^ 1) * tile_bytes, vh, (int64_t) (j + 1) * FA_BC, Lk, ld);
            cp_async_commit();
        }
        const uint32_t skb = sk0 + buf * tile_bytes, svb = sv0 + buf * tile_bytes;

        // S = Q K^T for 16 rows x 64 keys.
        float s[NS][4];
#pragma unroll
        for (int i = 0; i < NS; i++) {
            s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
        }
#pragma unroll
        for (int ks = 0; ks < KS; ks++) {
#pragma unroll
            for (int np = 0; np < NS / 2; np++) {
                const int mi = lane >> 3;
                const int key = np * 16 + (lane & 7) + 8 * (mi >> 1);
                const int c = ks * 2 + (mi & 1);
                uint32_t b0, b1, b2, b3;
                ldsm_x4(skb + swz<D>(key, c), b0, b1, b2, b3);
                mma_bf16(s[2 * np], qf[ks], b0, b1);
                mma_bf16(s[2 * np + 1], qf[ks], b2, b3);
            }
        }
        // Mask keys past Lk.
        const int64_t kbase = (int64_t) j * FA_BC;
        if (kbase + FA_BC > Lk) {
#pragma unroll
            for (int i = 0; i < NS; i++) {
                const int64_t c0 = kbase + i * 8 + 2 * t;
                if (c0 >= Lk) {
                    s[i][0] = s[i][2] = -INFINITY;
                }
                if (c0 + 1 >= Lk) {
                    s[i][1] = s[i][3] = -INFINITY;
                }
            }
        }
        // Online softmax (scores in raw units; exp2 with the scale folded in).
        float mx0 = m0, mx1 = m1;
#pragma unroll
        for (int i = 0; i < NS; i++) {
            mx0 = fmaxf(mx0, fmaxf(s[i][0], s[i][1]));
            mx1 = fmaxf(mx1, fmaxf(s[i][2], s[i][3]));
        }
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        const float c0 = m0 == -INFINITY ? 0.0f : exp2f((m0 - mx0) * scale_log2);
        const float c1 = m1 == -INFINITY ? 0.0f : exp2f((m1 - mx1) * scale_log2);
        const float ms0 = mx0 * scale_log2, ms1 = mx1 * scale_log2;
        float rs0 = 0.0f, rs1 = 0.0f;
        uint32_t pf[NS / 2][4];
#pragma unroll
        for (int i = 0; i < NS; i++) {
            const float p0 = exp2f(s[i][0] * scale_log2 - ms0);
            const float p1 = exp2f(s[i][1] * scale_log2 - ms0);
            const float p2 = exp2f(s[i][2] * scale_log2 - ms1);
            const float p3 = exp2f(s[i][3] * scale_log2 - ms1);
            rs0 += p0 + p1;
            rs1 += p2 + p3;
            pf[i / 2][(i & 1) * 2 + 0] = pack_bf16(p0, p1);
            pf[i / 2][(i & 1) * 2 + 1] = pack_bf16(p2, p3);
        }
        l0 = l0 * c0 + rs0;
        l1 = l1 * c1 + rs1;
        m0 = mx0;
        m1 = mx1;
#pragma unroll
        for (int i = 0; i < ND; i++) {
            acc[i][0] *= c0;
            acc[i][1] *= c0;
            acc[i][2] *= c1;
            acc[i][3] *= c1;
        }
        // O += P V.
#pragma unroll
        for (int kk = 0; kk < NS / 2; kk++) {
#pragma unroll
            for (int dp = 0; dp < ND / 2; dp++) {
                const int mi = lane >> 3;
                const int key = kk * 16 + (lane & 7) + 8 * (mi & 1);
                const int c = dp * 2 + (mi >> 1);
                uint32_t b0, b1, b2, b3;
                ldsm_x4_t(svb + swz<D>(key, c), b0, b1, b2, b3);
                mma_bf16(acc[2 * dp], pf[kk], b0, b1);
                mma_bf16(acc[2 * dp + 1], pf[kk], b2, b3);
            }
        }
        cp_async_wait_all();
        __syncthreads();
    }

    // Row sums live spread over the 4 threads of a row.
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    const float i0 = l0 > 0.0f ? 1.0f / l0 : 0.0f, i1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
    const int64_t r0 = q0 + warp * 16 + g, r1 = r0 + 8;
    __nv_bfloat16 * oh = o + (int64_t) h * D;
#pragma unroll
    for (int i = 0; i < ND; i++) {
        const int col = i * 8 + 2 * t;
        if (r0 < Lq) {
            *reinterpret_cast<uint32_t *>(oh + r0 * ld + col) = pack_bf16(acc[i][0] * i0, acc[i][1] * i0);
        }
        if (r1 < Lq) {
            *reinterpret_cast<uint32_t *>(oh + r1 * ld + col) = pack_bf16(acc[i][2] * i1, acc[i][3] * i1);
        }
    }
}

template <int D>
static int launch_flash(uint16_t * o, const uint16_t * q, const uint16_t * k, const uint16_t * v, int64_t Lq,
                        int64_t Lk, int H, int64_t ld, float scale, cudaStream_t s)
{
    const size_t smem = (size_t) (FA_BR + 4 * FA_BC) * D * 2;
    static bool attr_set = false;
    if (!attr_set) {
        if (cudaFuncSetAttribute(k_flash_fwd<D>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int) smem) != cudaSuccess) {
            return -1;
        }
        attr_set = true;
    }
    dim3 grid((unsigned) ((Lq + FA_BR - 1) / FA_BR), (unsigned) H);
    k_flash_fwd<D><<<grid, FA_WARPS * 32, smem, s>>>((__nv_bfloat16 *) o, (const __nv_bfloat16 *) q,
                                                     (const __nv_bfloat16 *) k, (const __nv_bfloat16 *) v, Lq, Lk, ld,
                                                     scale * 1.4426950408889634f);
    return cudaGetLastError() == cudaSuccess ? 0 : -1;
}

extern "C" int kc_flash_attention_bf16(uint16_t * o, const uint16_t * q, const uint16_t * k, const uint16_t * v,
                                       int64_t Lq, int64_t Lk, int n_heads, int head_dim, int64_t ld, float scale,
                                       cudaStream_t s)
{
    if (Lq <= 0 || n_heads <= 0) {
        return 0;
    }
    if (Lk <= 0 || ld % 8 != 0) {
        return -1;
    }
    switch (head_dim) {
    case 64:
        return launch_flash<64>(o, q, k, v, Lq, Lk, n_heads, ld, scale, s);
    case 128:
        return launch_flash<128>(o, q, k, v, Lq, Lk, n_heads, ld, scale, s);
    default:
        return -1;
    }
}
