// Kinora engine: CUDA kernels of the channels-first volume ops (channel L2 norm, frame copies, pad and
// nearest resampling, pixel (un)shuffle, average pool, nearest upsample through channels, transpose). One thread per output element, grid-stride loops.
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "backends/cuda/cuda-impl.h"

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

#define LAUNCH(kernel, n, ...)                                     \
    do {                                                           \
        if ((n) <= 0) {                                            \
            return 0;                                              \
        }                                                          \
        kernel<<<blocks_for(n), 256, 0, s>>>(__VA_ARGS__);         \
        return cudaGetLastError() == cudaSuccess ? 0 : -1;         \
    } while (0)

// y[c, n] = x[c, n] / max(||x[:, n]||, 1e-12) * sqrt(C) * gamma[c]; one thread per position (y may be x);
// then SiLU when `silu`.
__global__ void k_channel_l2norm(float * y, const float * x, int C, int64_t N, const float * gamma, int silu)
{
    const float sc = sqrtf((float) C);
    GRID_STRIDE(n, N) {
        float ss = 0.0f;
        for (int c = 0; c < C; c++) {
            const float v = x[(int64_t) c * N + n];
            ss += v * v;
        }
        const float nrm = sqrtf(ss);
        const float inv = 1.0f / (nrm > 1e-12f ? nrm : 1e-12f);
        for (int c = 0; c < C; c++) {
            float v = x[(int64_t) c * N + n] * inv * sc * gamma[c];
            if (silu) {
                v = v / (1.0f + expf(-v));
            }
            y[(int64_t) c * N + n] = v;
        }
    }
}

extern "C" int kc_channel_l2norm(float * y, const float * x, int C, int64_t N, const float * gamma, int silu,
                             cudaStream_t s)
{
    LAUNCH(k_channel_l2norm, N, y, x, C, N, gamma, silu);
}

__global__ void k_frame_copy(void * dst, int dst_bf16, int dst_T, int dst_t0, const void * src, int src_bf16,
                             int src_T, int src_t0, int nf, int C, int64_t hw)
{
    const int64_t n = (int64_t) C * nf * hw;
    GRID_STRIDE(i, n) {
        const int64_t p = i % hw, r = i / hw;
        const int64_t ch = r / nf, f = r % nf;
        const int64_t di = (ch * dst_T + dst_t0 + f) * hw + p;
        const int64_t si = (ch * src_T + src_t0 + f) * hw + p;
        float v = src_bf16 ? __bfloat162float(((const __nv_bfloat16 *) src)[si]) : ((const float *) src)[si];
        if (dst_bf16) {
            ((__nv_bfloat16 *) dst)[di] = __float2bfloat16_rn(v);
        } else {
            ((float *) dst)[di] = v;
        }
    }
}

// One (channel, frame) row per blockIdx.y: no 64-bit divisions per element.
template <typename D, typename S>
__global__ void k_frame_copy2(D * dst, int dst_T, int dst_t0, const S * src, int src_T, int src_t0, int nf, int64_t hw)
{
    const int r = blockIdx.y, ch = r / nf, f = r % nf;
    D * d = dst + ((int64_t) ch * dst_T + dst_t0 + f) * hw;
    const S * sp = src + ((int64_t) ch * src_T + src_t0 + f) * hw;
    for (int64_t p = (int64_t) blockIdx.x * blockDim.x + threadIdx.x; p < hw; p += (int64_t) gridDim.x * blockDim.x) {
        if constexpr (sizeof(D) == sizeof(S)) {
            d[p] = sp[p];
        } else if constexpr (sizeof(D) == 2) {
            d[p] = __float2bfloat16_rn(sp[p]);
        } else {
            d[p] = __bfloat162float(sp[p]);
        }
    }
}

extern "C" int kc_frame_copy(void * dst, int dst_bf16, int dst_T, int dst_t0, const void * src, int src_bf16,
                                 int src_T, int src_t0, int n, int C, int64_t hw, cudaStream_t s)
{
    const int64_t rows = (int64_t) C * n;
    if (rows <= 0 || hw <= 0) {
        return 0;
    }
    if (rows > 65535) {
        LAUNCH(k_frame_copy, rows * hw, dst, dst_bf16, dst_T, dst_t0, src, src_bf16, src_T, src_t0, n, C, hw);
    }
    int64_t bx = (hw + 255) / 256;
    bx = bx > 1024 ? 1024 : bx;
    dim3 grid((unsigned) bx, (unsigned) rows);
    typedef __nv_bfloat16 B;
    if (!dst_bf16 && !src_bf16) {
        k_frame_copy2<float, float><<<grid, 256, 0, s>>>((float *) dst, dst_T, dst_t0, (const float *) src, src_T, src_t0, n, hw);
    } else if (dst_bf16 && src_bf16) {
        k_frame_copy2<B, B><<<grid, 256, 0, s>>>((B *) dst, dst_T, dst_t0, (const B *) src, src_T, src_t0, n, hw);
    } else if (dst_bf16) {
        k_frame_copy2<B, float><<<grid, 256, 0, s>>>((B *) dst, dst_T, dst_t0, (const float *) src, src_T, src_t0, n, hw);
    } else {
        k_frame_copy2<float, B><<<grid, 256, 0, s>>>((float *) dst, dst_T, dst_t0, (const B *) src, src_T, src_t0, n, hw);
    }
    return cudaGetLastError() == cudaSuccess ? 0 : -1;
}

__global__ void k_up2(float * y, const float * x, int64_t P, int H, int W)
{
    const int64_t n = P * 4 * H * W;
    GRID_STRIDE(i, n) {
        const int X = (int) (i % (2 * W)), Y = (int) ((i / (2 * W)) % (2 * H));
        const int64_t pl = i / (4LL * H * W);
        y[i] = x[(pl * H + Y / 2) * W + X / 2];
    }
}

// One plane per blockIdx.y, 32-bit index math inside it.
__global__ void k_up2p(float * y, const float * x, int H, int W)
{
    const int64_t pl = blockIdx.y;
    const int n = 4 * H * W, W2 = 2 * W;
    const float * xp = x + pl * H * W;
    float * yp = y + pl * n;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        const int X = i % W2, Y = i / W2;
        yp[i] = xp[(Y >> 1) * W + (X >> 1)];
    }
}

extern "C" int kc_upsample_nearest2x(float * y, const float * x, int64_t P, int H, int W, cudaStream_t s)
{
    if (P <= 65535 && 4LL * H * W < (1LL << 31)) {
        if (P <= 0 || H <= 0 || W <= 0) {
            return 0;
        }
        int64_t bx = (4LL * H * W + 255) / 256;
        bx = bx > 1024 ? 1024 : bx;
        k_up2p<<<dim3((unsigned) bx, (unsigned) P), 256, 0, s>>>(y, x, H, W);
        return cudaGetLastError() == cudaSuccess ? 0 : -1;
    }
    LAUNCH(k_up2, P * 4 * H * W, y, x, P, H, W);
}

__global__ void k_pad2d(float * y, const float * x, int64_t P, int H, int W, int pt, int pb, int pl, int pr)
{
    const int Ho = H + pt + pb, Wo = W + pl + pr;
    const int64_t n = P * Ho * Wo;
    GRID_STRIDE(i, n) {
        const int X = (int) (i % Wo) - pl, Y = (int) ((i / Wo) % Ho) - pt;
        const int64_t p = i / ((int64_t) Ho * Wo);
        y[i] = (X >= 0 && X < W && Y >= 0 && Y < H) ? x[(p * H + Y) * W + X] : 0.0f;
    }
}

__global__ void k_pad2dp(float * y, const float * x, int H, int W, int pt, int pb, int pl, int pr)
{
    const int64_t p = blockIdx.y;
    const int Ho = H + pt + pb, Wo = W + pl + pr, n = Ho * Wo;
    const float * xp = x + p * H * W;
    float * yp = y + p * n;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        const int X = i % Wo - pl, Y = i / Wo - pt;
        yp[i] = (X >= 0 && X < W && Y >= 0 && Y < H) ? xp[Y * W + X] : 0.0f;
    }
}

extern "C" int kc_pad2d(float * y, const float * x, int64_t P, int H, int W, int pt, int pb, int pl, int pr,
                            cudaStream_t s)
{
    const int64_t n = (int64_t) (H + pt + pb) * (W + pl + pr);
    if (P > 0 && P <= 65535 && n > 0 && n < (1LL << 31)) {
        int64_t bx = (n + 255) / 256;
        bx = bx > 1024 ? 1024 : bx;
        k_pad2dp<<<dim3((unsigned) bx, (unsigned) P), 256, 0, s>>>(y, x, H, W, pt, pb, pl, pr);
        return cudaGetLastError() == cudaSuccess ? 0 : -1;
    }
    LAUNCH(k_pad2d, P * (H + pt + pb) * (W + pl + pr), y, x, P, H, W, pt, pb, pl, pr);
}

// Indexed by the full-resolution element: y[c*p*p + dx*p + dy, t, i, j] <-> x[c, t, p*i + dy, p*j + dx].
__global__ void k_pixel_unshuffle(float * dst, const float * src, int C, int T, int H, int W, int p, int inverse)
{
    const int Hp = H / p, Wp = W / p;
    const int64_t n = (int64_t) C * T * Hp * p * Wp * p;
    const int Hc = Hp * p, Wc = Wp * p;
    GRID_STRIDE(i, n) {
        const int X = (int) (i % Wc), Y = (int) ((i / Wc) % Hc);
        const int t = (int) ((i / ((int64_t) Wc * Hc)) % T), c = (int) (i / ((int64_t) Wc * Hc * T));
        const int ii = Y / p, dy = Y % p, j = X / p, dx = X % p;
        const int64_t full = (((int64_t) c * T + t) * H + Y) * W + X;
        const int64_t pc = (int64_t) c * p * p + dx * p + dy;
        const int64_t part = ((pc * T + t) * Hp + ii) * Wp + j;
        if (inverse) {
            dst[full] = src[part];
        } else {
            dst[part] = src[full];
        }
    }
}

// One (c, t) plane of the full-resolution side per blockIdx.y: 32-bit index math inside it (the LTX-Video
// decoder's unpatchify writes 311M values at 1216x704x121; 64-bit divisions per value cost more than
// the memory traffic).
__global__ void k_pixel_unshuffle_p(float * dst, const float * src, int T, int H, int W, int p, int inverse)
{
    const int pl = blockIdx.y, c = pl / T, t = pl - c * T;
    const int Hp = H / p, Wp = W / p, Wc = Wp * p, n = Hp * p * Wc;
    const int64_t fbase = (int64_t) pl * H * W;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        const int Y = i / Wc, X = i - Y * Wc;
        const int ii = Y / p, dy = Y - ii * p, j = X / p, dx = X - j * p;
        const int64_t full = fbase + (int64_t) Y * W + X;
        const int64_t pc = (int64_t) c * p * p + dx * p + dy;
        const int64_t part = ((pc * T + t) * Hp + ii) * Wp + j;
        if (inverse) {
            dst[full] = src[part];
        } else {
            dst[part] = src[full];
        }
    }
}

extern "C" int kc_pixel_unshuffle(float * dst, const float * src, int C, int T, int H, int W, int p, int inverse,
                               cudaStream_t s)
{
    const int64_t n_plane = (int64_t) (H / p) * p * (W / p) * p;
    if ((int64_t) C * T <= 65535 && (int64_t) H * W < (1LL << 31) && p > 0) {
        if (C <= 0 || T <= 0 || n_plane <= 0) {
            return 0;
        }
        int64_t bx = (n_plane + 255) / 256;
        bx = bx > 1024 ? 1024 : bx;
        k_pixel_unshuffle_p<<<dim3((unsigned) bx, (unsigned) (C * T)), 256, 0, s>>>(dst, src, T, H, W, p, inverse);
        return cudaGetLastError() == cudaSuccess ? 0 : -1;
    }
    LAUNCH(k_pixel_unshuffle, (int64_t) C * T * (H / p) * p * (W / p) * p, dst, src, C, T, H, W, p, inverse);
}

__global__ void k_avg_down(float * y, const float * x, int c_in, int c_out, int T, int H, int W, int ft, int fs,
                           int pad)
{
    const int To = (T + pad) / ft, Ho = H / fs, Wo = W / fs;
    const int F = ft * fs * fs;
    const int g = c_in * F / c_out;
    const float inv = 1.0f / (float) g;
    const int64_t n = (int64_t) c_out * To * Ho * Wo;
    GRID_STRIDE(idx, n) {
        const int j = (int) (idx % Wo), i = (int) ((idx / Wo) % Ho);
        const int to = (int) ((idx / ((int64_t) Wo * Ho)) % To), o = (int) (idx / ((int64_t) Wo * Ho * To));
        float acc = 0.0f;
        for (int k = 0; k < g; k++) {
            const int q = o * g + k;
            const int ci = q / F, rem = q % F;
            const int ti = rem / (fs * fs), hi = (rem / fs) % fs, wi = rem % fs;
            const int t = to * ft + ti - pad;
            if (t < 0) {
                continue;
            }
            acc += x[(((int64_t) ci * T + t) * H + i * fs + hi) * W + j * fs + wi];
        }
        y[idx] = acc * inv;
    }
}

extern "C" int kc_avg_pool3d(float * y, const float * x, int c_in, int c_out, int T, int H, int W, int ft, int fs,
                               int pad_front, cudaStream_t s)
{
    LAUNCH(k_avg_down, (int64_t) c_out * ((T + pad_front) / ft) * (H / fs) * (W / fs), y, x, c_in, c_out, T, H, W, ft,
           fs, pad_front);
}

__global__ void k_dup_up(float * y, const float * x, int c_in, int c_out, int T, int H, int W, int ft, int fs, int drop)
{
    const int To = T * ft - drop, Ho = H * fs, Wo = W * fs;
    const int F = ft * fs * fs;
    const int rep = c_out * F / c_in;
    const int64_t n = (int64_t) c_out * To * Ho * Wo;
    GRID_STRIDE(idx, n) {
        const int j = (int) (idx % Wo), i = (int) ((idx / Wo) % Ho);
        const int tr = (int) ((idx / ((int64_t) Wo * Ho)) % To), o = (int) (idx / ((int64_t) Wo * Ho * To));
        const int tf = tr + drop, t = tf / ft, ti = tf % ft;
        const int yi = i / fs, hi = i % fs, xi = j / fs, wi = j % fs;
        const int ci = (((o * ft + ti) * fs + hi) * fs + wi) / rep;
        y[idx] = x[(((int64_t) ci * T + t) * H + yi) * W + xi];
    }
}

// One output (channel, frame) plane per blockIdx.y: 32-bit index math inside it (828M values at the LTX-Video
// decoder's last upsampling, where 64-bit divisions per value cost more than the memory traffic).
__global__ void k_dup_up_p(float * y, const float * x, int c_in, int c_out, int T, int H, int W, int ft, int fs,
                           int drop, int To)
{
    const int pl = blockIdx.y, o = pl / To, tr = pl - o * To;
    const int Wo = W * fs, n = H * fs * Wo;
    const int rep = c_out * ft * fs * fs / c_in;
    const int tf = tr + drop, t = tf / ft, ti = tf - t * ft;
    const int cb = (o * ft + ti) * fs * fs;
    float * yp = y + (int64_t) pl * n;
    for (int idx = blockIdx.x * blockDim.x + threadIdx.x; idx < n; idx += gridDim.x * blockDim.x) {
        const int i = idx / Wo, j = idx - i * Wo;
        const int yi = i / fs, hi = i - yi * fs, xi = j / fs, wi = j - xi * fs;
        const int ci = (cb + hi * fs + wi) / rep;
        yp[idx] = x[(((int64_t) ci * T + t) * H + yi) * W + xi];
    }
}

extern "C" int kc_nearest_up3d(float * y, const float * x, int c_in, int c_out, int T, int H, int W, int ft, int fs,
                             int drop, cudaStream_t s)
{
    const int64_t To = (int64_t) T * ft - drop, n_plane = (int64_t) H * fs * W * fs;
    if (c_out * To <= 65535 && n_plane < (1LL << 31) && c_in > 0) {
        if (c_out <= 0 || To <= 0 || n_plane <= 0) {
            return 0;
        }
        int64_t bx = (n_plane + 255) / 256;
        bx = bx > 1024 ? 1024 : bx;
        k_dup_up_p<<<dim3((unsigned) bx, (unsigned) (c_out * To)), 256, 0, s>>>(y, x, c_in, c_out, T, H, W, ft, fs,
                                                                              drop, (int) To);
        return cudaGetLastError() == cudaSuccess ? 0 : -1;
    }
    LAUNCH(k_dup_up, (int64_t) c_out * (T * ft - drop) * H * fs * W * fs, y, x, c_in, c_out, T, H, W, ft, fs, drop);
}

// 32x32 tiles through shared memory.
__global__ void k_transpose(float * y, const float * x, int64_t R, int64_t C2)
{
    __shared__ float tile[32][33];
    const int64_t r0 = (int64_t) blockIdx.y * 32, c0 = (int64_t) blockIdx.x * 32;
    for (int k = threadIdx.y; k < 32; k += blockDim.y) {
        const int64_t r = r0 + k, c = c0 + threadIdx.x;
        if (r < R && c < C2) {
            tile[k][threadIdx.x] = x[r * C2 + c];
        }
    }
    __syncthreads();
    for (int k = threadIdx.y; k < 32; k += blockDim.y) {
        const int64_t c = c0 + k, r = r0 + threadIdx.x;
        if (r < R && c < C2) {
            y[c * R + r] = tile[threadIdx.x][k];
        }
    }
}

extern "C" int kc_transpose2d(float * y, const float * x, int64_t R, int64_t C2, cudaStream_t s)
{
    if (R <= 0 || C2 <= 0) {
        return 0;
    }
    if ((C2 + 31) / 32 > 0x7fffffff || (R + 31) / 32 > 65535) {
        return -1;
    }
    dim3 grid((unsigned) ((C2 + 31) / 32), (unsigned) ((R + 31) / 32));
    k_transpose<<<grid, dim3(32, 8), 0, s>>>(y, x, R, C2);
    return cudaGetLastError() == cudaSuccess ? 0 : -1;
}

__global__ void k_channel_bias(float * y, const float * b, int C, int64_t N)
{
    GRID_STRIDE(i, (int64_t) C * N) {
        y[i] += b[i / N];
    }
}

extern "C" int kc_add_channel_bias(float * y, const float * b, int C, int64_t N, cudaStream_t s)
{
    LAUNCH(k_channel_bias, (int64_t) C * N, y, b, C, N);
}

// x[C, T, HW] f32 -> y[T + pt0 + pt1, HW, C] bf16 (channels last, zero frames pt0 in front and pt1
// behind): 32x32 tiles of (channel, position) through shared memory, one frame per blockIdx.z.
__device__ __forceinline__ void store_as(float * p, float v)
{
    *p = v;
}

__device__ __forceinline__ void store_as(__nv_bfloat16 * p, float v)
{
    *p = __float2bfloat16_rn(v);
}

__device__ __forceinline__ float load_as(const float * p)
{
    return *p;
}

__device__ __forceinline__ float load_as(const __nv_bfloat16 * p)
{
    return __bfloat162float(*p);
}

template <typename E>
__global__ void k_to_ndhwc(E * y, const float * x, int C, int T, int64_t HW, int pt0)
{
    __shared__ float tile[32][33];
    const int to = blockIdx.z, t = to - pt0;
    const int64_t p0 = (int64_t) blockIdx.x * 32;
    const int c0 = blockIdx.y * 32;
    for (int k = threadIdx.y; k < 32; k += blockDim.y) {
        const int c = c0 + k;
        const int64_t p = p0 + threadIdx.x;
        float v = 0.0f;
        if (c < C && p < HW && t >= 0 && t < T) {
            v = x[((int64_t) c * T + t) * HW + p];
        }
        tile[k][threadIdx.x] = v;
    }
    __syncthreads();
    for (int k = threadIdx.y; k < 32; k += blockDim.y) {
        const int64_t p = p0 + k;
        const int c = c0 + threadIdx.x;
        if (c < C && p < HW) {
            store_as(&y[((int64_t) to * HW + p) * C + c], tile[threadIdx.x][k]);
        }
    }
}

// y[T, HW, C] bf16 -> x[C, T, HW] f32 (+ bias[c]).
template <typename E>
__global__ void k_from_ndhwc(float * x, const E * y, const float * bias, int C, int T, int64_t HW)
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
            v = load_as(&y[((int64_t) t * HW + p) * C + c]);
        }
        tile[k][threadIdx.x] = v;
    }
    __syncthreads();
    for (int k = threadIdx.y; k < 32; k += blockDim.y) {
        const int c = c0 + k;
        const int64_t p = p0 + threadIdx.x;
        if (c < C && p < HW) {
            x[((int64_t) c * T + t) * HW + p] = tile[threadIdx.x][k] + (bias ? bias[c] : 0.0f);
        }
    }
}

extern "C" int kc_to_ndhwc(void * y, int bf16, const float * x, int C, int T, int64_t HW, int pt0, int pt1,
                           cudaStream_t s)
{
    const int To = T + pt0 + pt1;
    if (C <= 0 || To <= 0 || HW <= 0) {
        return 0;
    }
    if ((HW + 31) / 32 > 0x7fffffffLL || (C + 31) / 32 > 65535 || To > 65535) {
        return -1;
    }
    dim3 grid((unsigned) ((HW + 31) / 32), (unsigned) ((C + 31) / 32), (unsigned) To);
    if (bf16) {
        k_to_ndhwc<__nv_bfloat16><<<grid, dim3(32, 8), 0, s>>>((__nv_bfloat16 *) y, x, C, T, HW, pt0);
    } else {
        k_to_ndhwc<float><<<grid, dim3(32, 8), 0, s>>>((float *) y, x, C, T, HW, pt0);
    }
    return cudaGetLastError() == cudaSuccess ? 0 : -1;
}

extern "C" int kc_from_ndhwc(float * x, const void * y, int bf16, const float * bias, int C, int T, int64_t HW,
                             cudaStream_t s)
{
    if (C <= 0 || T <= 0 || HW <= 0) {
        return 0;
    }
    if ((HW + 31) / 32 > 0x7fffffffLL || (C + 31) / 32 > 65535 || T > 65535) {
        return -1;
    }
    dim3 grid((unsigned) ((HW + 31) / 32), (unsigned) ((C + 31) / 32), (unsigned) T);
    if (bf16) {
        k_from_ndhwc<__nv_bfloat16><<<grid, dim3(32, 8), 0, s>>>(x, (const __nv_bfloat16 *) y, bias, C, T, HW);
    } else {
        k_from_ndhwc<float><<<grid, dim3(32, 8), 0, s>>>(x, (const float *) y, bias, C, T, HW);
    }
    return cudaGetLastError() == cudaSuccess ? 0 : -1;
}

// --- activations of convolutional models -------------------------------------------------------

__global__ void k_relu(float * y, const float * x, int64_t n)
{
    GRID_STRIDE(i, n) {
        const float u = x[i];
        y[i] = u > 0.0f ? u : 0.0f;
    }
}

__global__ void k_soft_clamp(float * y, const float * x, float sc, int64_t n)
{
    const float inv = 1.0f / sc;
    GRID_STRIDE(i, n) {
        y[i] = tanhf(x[i] * inv) * sc;
    }
}

__global__ void k_clamp(float * y, const float * x, float lo, float hi, int64_t n)
{
    GRID_STRIDE(i, n) {
        y[i] = fminf(fmaxf(x[i], lo), hi);
    }
}

extern "C" int kc_relu(float * y, const float * x, int64_t n, cudaStream_t s)
{
    LAUNCH(k_relu, n, y, x, n);
}

extern "C" int kc_soft_clamp(float * y, const float * x, float sc, int64_t n, cudaStream_t s)
{
    LAUNCH(k_soft_clamp, n, y, x, sc, n);
}

extern "C" int kc_clamp(float * y, const float * x, float lo, float hi, int64_t n, cudaStream_t s)
{
    LAUNCH(k_clamp, n, y, x, lo, hi, n);
}
