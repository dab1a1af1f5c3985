// Kinora engine: CUDA kernels of the LTX-Video VAE and latent upsampler ops (pixel norm with the
// decoder's modulation, GroupNorm, reflect / replicate padding, the passes around the VAE's bf16
// channels-last convolution). Checked against the CPU backend in tests/cuda/test-cuda-ops.c.
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "backends/cuda/cuda-ltx.h"

#define GRID_STRIDE(i, n) \
    for (int64_t i = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t) gridDim.x * blockDim.x)

static inline unsigned blocks_for(int64_t n)
{
    int64_t b = (n + 255) / 256;
    if (b > 65535LL * 32) {
        b = 65535LL * 32;
    }
    return (unsigned) (b < 1 ? 1 : b);
}

__device__ __forceinline__ float silu_f(float v)
{
    return v / (1.0f + expf(-v));
}

// One thread per position: the channel loop reads x[c, n] for consecutive n across a warp (coalesced).
// Every channel of a position is read before any is written, so y may be x.
__global__ void k_pixel_norm_mod(float * y, const float * x, int C, int64_t N, float eps, const float * shift,
                                 const float * scale, int silu)
{
    GRID_STRIDE(n, N) {
        float ss = 0.0f;
        for (int c = 0; c < C; c++) {
            const float v = x[(int64_t) c * N + n];
            ss += v * v;
        }
        const float inv = rsqrtf(ss / (float) C + eps);
        for (int c = 0; c < C; c++) {
            float v = x[(int64_t) c * N + n] * inv;
            if (scale) {
                v = v * (1.0f + scale[c]) + shift[c];
            }
            y[(int64_t) c * N + n] = silu ? silu_f(v) : v;
        }
    }
}

extern "C" int kc_pixel_norm_mod(float * y, const float * x, int C, int64_t N, float eps, const float * shift,
                                 const float * scale, int silu, cudaStream_t s)
{
    if (N <= 0 || C <= 0) {
        return 0;
    }
    k_pixel_norm_mod<<<blocks_for(N), 256, 0, s>>>(y, x, C, N, eps, shift, scale, silu);
    return cudaGetLastError() == cudaSuccess ? 0 : -1;
}

#define GN_THREADS 512

// Sum over the block (all threads get the result); `red` holds GN_THREADS/32 doubles.
__device__ double block_sum(double v, double * red)
{
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) {
        red[warp] = v;
    }
    __syncthreads();
    double t = 0.0;
    for (int i = 0; i < (int) (blockDim.x >> 5); i++) {
        t += red[i];
    }
    return t;
}

// One block per (group, slice of the normalisation pass): the block computes its group's mean and
// variance (two passes, float per thread, double across threads), then normalises its slice.
__global__ void k_group_norm(float * y, const float * x, int C, int64_t N, int G, float eps, const float * w,
                             const float * b, int silu)
{
    __shared__ double red[GN_THREADS / 32];
    const int g = blockIdx.y, cg = C / G;
    const int64_t n = (int64_t) cg * N;
    const float * xg = x + (int64_t) g * n;
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        s += xg[i];
    }
    const double mean = block_sum(s, red) / (double) n;
    const float mf = (float) mean;
    float v = 0.0f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        const float d = xg[i] - mf;
        v += d * d;
    }
    const double var = block_sum(v, red) / (double) n;
    const float rstd = (float) (1.0 / sqrt(var + (double) eps));
    // every block of this group has read x before any writes: y may be x only when one block per group
    // runs the normalisation (gridDim.x == 1), which kc_group_norm arranges for y == x
    const int64_t chunk = (n + gridDim.x - 1) / gridDim.x, i0 = blockIdx.x * chunk;
    const int64_t i1 = i0 + chunk < n ? i0 + chunk : n;
    float * yg = y + (int64_t) g * n;
    for (int64_t i = i0 + threadIdx.x; i < i1; i += blockDim.x) {
        const int c = g * cg + (int) (i / N);
        float t = (xg[i] - mf) * rstd * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f);
        yg[i] = silu ? silu_f(t) : t;
    }
}

extern "C" int kc_group_norm(float * y, const float * x, int C, int64_t N, int G, float eps, const float * w,
                             const float * b, int silu, cudaStream_t s)
{
    if (N <= 0 || C <= 0 || G <= 0 || C % G || G > 65535) {
        return N <= 0 || C <= 0 ? 0 : -1;
    }
    // more blocks per group for the normalisation when it is large and out of place
    int64_t per = ((int64_t) (C / G) * N) / (1 << 20);
    per = y == x ? 1 : per < 1 ? 1 : per > 64 ? 64 : per;
    k_group_norm<<<dim3((unsigned) per, (unsigned) G), GN_THREADS, 0, s>>>(y, x, C, N, G, eps, w, b, silu);
    return cudaGetLastError() == cudaSuccess ? 0 : -1;
}

__device__ __forceinline__ int edge_index(int i, int n, int mode)
{
    if (i < 0) {
        return mode == 1 ? -i : 0;
    }
    if (i >= n) {
        return mode == 1 ? 2 * (n - 1) - i : n - 1;
    }
    return i;
}

__global__ void k_pad2d_edge(float * y, const float * x, int64_t P, int H, int W, int p, int mode)
{
    const int Ho = H + 2 * p, Wo = W + 2 * p;
    const int64_t n = P * Ho * Wo;
    GRID_STRIDE(i, n) {
        const int j = (int) (i % Wo), r = (int) ((i / Wo) % Ho);
        const int64_t q = i / ((int64_t) Ho * Wo);
        y[i] = x[(q * H + edge_index(r - p, H, mode)) * W + edge_index(j - p, W, mode)];
    }
}

extern "C" int kc_pad2d_edge(float * y, const float * x, int64_t P, int H, int W, int p, int mode, cudaStream_t s)
{
    const int64_t n = P * (H + 2 * p) * (W + 2 * p);
    if (n <= 0) {
        return 0;
    }
    k_pad2d_edge<<<blocks_for(n), 256, 0, s>>>(y, x, P, H, W, p, mode);
    return cudaGetLastError() == cudaSuccess ? 0 : -1;
}

// --- the VAE convolution's input and output passes (cuda-conv.c kc_ltx_conv3d) ----------------------

// The inverse norm of a position's C values: pixel norm (l2 == 0, LTX-Video) inv[n] = 1 / sqrt(mean_c
// x[c, n]^2 + eps); channel L2 norm (l2 != 0, the Wan VAE's RMS_norm) inv[n] = sqrt(C) / max(||x[:, n]||,
// 1e-12). Shared by both kernels below (one formula, so the passes agree with the composed ops).
static __device__ __forceinline__ float norm_inv(float ss, int C, float eps, int l2)
{
    return l2 ? sqrtf((float) C) / fmaxf(sqrtf(ss), 1e-12f) : rsqrtf(ss / (float) C + eps);
}

// inv[n] for x[C, N] (norm_inv): 32 positions per block, the channels split over 8 rows of threads (a
// whole block per 32 positions even where C is 1024 and N only 13,376).
__global__ void k_pixel_inv(float * inv, const float * x, int C, int64_t N, float eps, int l2)
{
    __shared__ float part[8][33];
    const int64_t n = (int64_t) blockIdx.x * 32 + threadIdx.x;
    float s = 0.0f;
    if (n < N) {
        for (int c = threadIdx.y; c < C; c += 8) {
            const float v = x[(int64_t) c * N + n];
            s += v * v;
        }
    }
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && n < N) {
        float t = 0.0f;
        for (int k = 0; k < 8; k++) {
            t += part[k][threadIdx.x];
        }
        inv[n] = norm_inv(t, C, eps, l2);
    }
}

extern "C" int kc_ltx_pixel_inv(float * inv, const float * x, int C, int64_t N, float eps, int l2, cudaStream_t s)
{
    if (N <= 0 || C <= 0) {
        return 0;
    }
    if ((N + 31) / 32 > 0x7fffffffLL) {
        return -1;
    }
    k_pixel_inv<<<(unsigned) ((N + 31) / 32), dim3(32, 8), 0, s>>>(inv, x, C, N, eps, l2);
    return cudaGetLastError() == cudaSuccess ? 0 : -1;
}

// y[To, HW, C] bf16 (channels last) from x[C, T, HW] f32: output frame `to` reads frame
// clamp(to - front, 0, T - 1) (the edge frames repeated), normalised when inv is given:
// silu(x * inv[t, p] * (one + scale[c]) + shift[c]) (scale NULL: no modulation, shift NULL: none added;
// one is 1 for LTX-Video's modulation, 0 for the Wan VAE's gain). 32x32 tiles.
__global__ void k_ltx_to_ndhwc(__nv_bfloat16 * __restrict__ y, const float * __restrict__ x, int C, int T, int64_t HW,
                               int front, const float * __restrict__ inv, const float * __restrict__ shift,
                               const float * __restrict__ scale, float one)
{
    __shared__ float tile[32][33];
    const int to = blockIdx.z;
    const int t = to - front < 0 ? 0 : to - front >= T ? T - 1 : to - front;
    const int64_t p0 = (int64_t) blockIdx.x * 32;
    const int c0 = blockIdx.y * 32;
    for (int k = threadIdx.y; k < 32; k += blockDim.y) {
        const int c = c0 + k;
        const int64_t p = p0 + threadIdx.x;
        float v = 0.0f;
        if (c < C && p < HW) {
            v = x[((int64_t) c * T + t) * HW + p];
            if (inv) {
                v *= inv[(int64_t) t * HW + p];
                if (scale) {
                    v = v * (one + scale[c]) + (shift ? shift[c] : 0.0f);
                }
                v = silu_f(v);
            }
        }
        tile[k][threadIdx.x] = v;
    }
    __syncthreads();
    for (int k = threadIdx.y; k < 32; k += blockDim.y) {
        const int64_t p = p0 + k;
        const int c = c0 + threadIdx.x;
        if (c < C && p < HW) {
            y[((int64_t) to * HW + p) * C + c] = __float2bfloat16_rn(tile[threadIdx.x][k]);
        }
    }
}

extern "C" int kc_ltx_to_ndhwc(uint16_t * y, const float * x, int C, int T, int64_t HW, int front, int To,
                               const float * inv, const float * shift, const float * scale, float one,
                               cudaStream_t s)
{
    if (C <= 0 || T <= 0 || To <= 0 || HW <= 0) {
        return 0;
    }
    if ((HW + 31) / 32 > 0x7fffffffLL || (C + 31) / 32 > 65535 || To > 65535) {
        return -1;
    }
    dim3 grid((unsigned) ((HW + 31) / 32), (unsigned) ((C + 31) / 32), (unsigned) To);
    k_ltx_to_ndhwc<<<grid, dim3(32, 8), 0, s>>>((__nv_bfloat16 *) y, x, C, T, HW, front, inv, shift, scale, one);
    return cudaGetLastError() == cudaSuccess ? 0 : -1;
}

// x[C, T, HW] f32 (+)= y[T, HW, C] bf16 + bias[c]. 32x32 tiles.
__global__ void k_ltx_from_ndhwc(float * __restrict__ x, const __nv_bfloat16 * __restrict__ y,
                                 const float * __restrict__ bias, int C, int T, int64_t HW, int accumulate)
{
    __shared__ float tile[32][33];
    const int t = blockIdx.z;
    const int64_t p0 = (int64_t) blockIdx.x * 32;
    const int c0 = blockIdx.y * 32;
    for (int k = threadIdx.y; k < 32; k += blockDim.y) {
        const int64_t p = p0 + k;
        const int c = c0 + threadIdx.x;
        float v = 0.0f;
        if (c < C && p < HW) {
            v = __bfloat162float(y[((int64_t) t * HW + p) * C + c]);
        }
        tile[k][threadIdx.x] = v;
    }
    __syncthreads();
    for (int k = threadIdx.y; k < 32; k += blockDim.y) {
        const int c = c0 + k;
        const int64_t p = p0 + threadIdx.x;
        if (c < C && p < HW) {
            float * o = &x[((int64_t) c * T + t) * HW + p];
            const float v = tile[threadIdx.x][k] + (bias ? bias[c] : 0.0f);
            *o = accumulate ? *o + v : v;
        }
    }
}

extern "C" int kc_ltx_from_ndhwc(float * x, const uint16_t * y, const float * bias, int C, int T, int64_t HW,
                                 int accumulate, cudaStream_t s)
{
    if (C <= 0 || T <= 0 || HW <= 0) {
        return 0;
    }
    if ((HW + 31) / 32 > 0x7fffffffLL || (C + 31) / 32 > 65535 || T > 65535) {
        return -1;
    }
    dim3 grid((unsigned) ((HW + 31) / 32), (unsigned) ((C + 31) / 32), (unsigned) T);
    k_ltx_from_ndhwc<<<grid, dim3(32, 8), 0, s>>>(x, (const __nv_bfloat16 *) y, bias, C, T, HW, accumulate);
    return cudaGetLastError() == cudaSuccess ? 0 : -1;
}

static __device__ __forceinline__ float warp_sum_f(float v)
{
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    return v;
}

// The norm between a resnet's two bf16 channels-last convolutions: v = x[t, p, c] + bias[c] (x bf16
// [T, HW, C], the first conv's output without its bias), then silu(v * inv * (one + scale[c]) + shift[c])
// with inv = norm_inv of the position's C values (pixel or channel L2 norm), as y[To, HW, C] bf16 where
// output frame `to` reads clamp(to - front, 0, T - 1). One warp per input position; at the first and last
// frame it writes the repeated edge frames too.
__global__ void k_ltx_ndhwc_norm(__nv_bfloat16 * __restrict__ y, const __nv_bfloat16 * __restrict__ x,
                                 const float * __restrict__ bias, int C, int T, int64_t HW, int front, int back,
                                 float eps, int l2, const float * __restrict__ shift, const float * __restrict__ scale,
                                 float one)
{
    const int lane = threadIdx.x & 31;
    const int64_t pos = (int64_t) blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (pos >= (int64_t) T * HW) {
        return;
    }
    const int t = (int) (pos / HW);
    const int64_t p = pos - (int64_t) t * HW;
    const __nv_bfloat16 * xr = x + pos * C;
    float ss = 0.0f;
    for (int c = lane; c < C; c += 32) {
        const float v = __bfloat162float(xr[c]) + (bias ? bias[c] : 0.0f);
        ss += v * v;
    }
    const float inv = norm_inv(warp_sum_f(ss), C, eps, l2);
    const int first = t == 0 ? 0 : t + front, last = t == T - 1 ? T - 1 + front + back : t + front;
    for (int c = lane; c < C; c += 32) {
        float v = (__bfloat162float(xr[c]) + (bias ? bias[c] : 0.0f)) * inv;
        if (scale) {
            v = v * (one + scale[c]) + (shift ? shift[c] : 0.0f);
        }
        const __nv_bfloat16 o = __float2bfloat16_rn(silu_f(v));
        for (int to = first; to <= last; to++) {
            y[((int64_t) to * HW + p) * C + c] = o;
        }
    }
}

extern "C" int kc_ltx_ndhwc_norm(uint16_t * y, const uint16_t * x, const float * bias, int C, int T, int64_t HW,
                                 int front, int back, float eps, int l2, const float * shift, const float * scale,
                                 float one, cudaStream_t s)
{
    const int64_t n = (int64_t) T * HW;
    if (n <= 0 || C <= 0) {
        return 0;
    }
    if ((n + 7) / 8 > 0x7fffffffLL) {
        return -1;
    }
    k_ltx_ndhwc_norm<<<(unsigned) ((n + 7) / 8), 256, 0, s>>>((__nv_bfloat16 *) y, (const __nv_bfloat16 *) x, bias, C,
                                                              T, HW, front, back, eps, l2, shift, scale, one);
    return cudaGetLastError() == cudaSuccess ? 0 : -1;
}
