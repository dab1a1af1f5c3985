// Kinora engine: CUDA linears for the fp8 GEMMs (cuda-gemm.c runs them): the weight kept as e4m3 with
// a per-tensor scale, resident on the device or staged in pinned host memory for streaming (half the
// bytes of bf16 either way). A weight stored as F8_E4M3 (ComfyUI fp8_scaled: value = fp8 * scale) is
// taken as stored; any other float weight is brought to bf16 exactly as the bf16 path does
// (cuda-gemm.c upload_weight), then quantized on the device with scale = 448 / amax (cuda-fp8.cu).
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/cuda-backend.h"
#include "core/error.h"

// Values per pass through the device while quantizing a weight: a bf16 weight of up to FP8_WHOLE values
// (256 MiB in bf16: every linear of the Wan DiTs, T5 and LTX-Video 13B; an A14B FFN linear is 70.8M
// values) goes up once, whole, and serves both passes (amax, then quantization); otherwise, or when the
// device has no room for that, chunks of FP8_CHUNK (bf16, f32 staging and e4m3: 28 MiB at 4M values),
// each uploaded once per pass. (At 2^26 values the A14B FFN linears took the chunks: 10.5 GiB of an
// expert's 26.6 GiB in bf16 went up twice.)
#define FP8_CHUNK ((int64_t) 1 << 22)
#define FP8_WHOLE ((int64_t) 1 << 27)

int kc_fp8_form(struct kc_state * s, struct kc_linear * p, const struct ke_tensor * w, int64_t N, int64_t K)
{
    const bool floats = w->type == KE_DTYPE_F32 || w->type == KE_DTYPE_F16 || w->type == KE_DTYPE_BF16;
    // cuBLASLt's e4m3 GEMMs read rows of K bytes 16-byte aligned (both operands have leading dimension K)
    if (!s->fp8_gemm || (!floats && w->type != KE_DTYPE_F8_E4M3) || K % 16 != 0) {
        return 0;
    }
    if (w->type == KE_DTYPE_F8_E4M3 && !(w->scale > 0.0f && w->scale < 3.0e38f)) {
        return 0;   // a scale the descale pointer cannot carry: the dequantizing path copes with anything
    }
    p->wtype = KC_W_FP8;
    p->wbytes = (size_t) (N * K);
    return 1;
}

// Rows [r0, r0 + n) of w (a float type) as bf16 at dst on the device, rounded as upload_weight does
// (f32 on the device, then bf16 there). dtmp: device f32 of n * K (not used for bf16), htmp: host f32 of
// n * K (used for f16 only). Queued on kc_prep_stream; the caller synchronizes.
static int rows_to_bf16(struct kc_state * s, uint16_t * dst, const struct ke_tensor * w, int64_t K, int64_t r0,
                        int64_t n, float * dtmp, float * htmp)
{
    const size_t m = (size_t) (n * K), off = (size_t) (r0 * K);
    if (w->type == KE_DTYPE_BF16) {
        // the threaded staged copy (cuda-upload.c) runs on its own streams: dst (an allocator block) may
        // still be read by work queued on the compute stream before it is overwritten
        return cudaStreamSynchronize(kc_prep_stream(s)) == cudaSuccess &&
                       kc_upload(s, dst, (const uint16_t *) w->data + off, m * 2) == 0
                   ? 0
                   : -1;
    }
    const float * src = (const float *) w->data + off;
    if (w->type != KE_DTYPE_F32) {
        ke_convert_to_f32(htmp, (const char *) w->data + off * ke_dtype_size(w->type), w->type, w->scale, m);
        src = htmp;
    }
    if (cudaMemcpyAsync(dtmp, src, m * 4, cudaMemcpyHostToDevice, kc_prep_stream(s)) != cudaSuccess) {
        return -1;
    }
    return kc_f32_to_bf16(dst, dtmp, (int64_t) m, kc_prep_stream(s));
}

// Quantize the float weight w [N, K] to e4m3 (resident: into p->w; else into p->host through a device
// chunk) with the per-tensor scale from the amax of all its bf16 values. Two passes over the rows when
// the weight takes more than one chunk (the amax must be known before any row is quantized).
static int quantize_weight(struct kc_state * s, struct kc_linear * p, const struct ke_tensor * w, int64_t N,
                           int64_t K, bool resident)
{
    const cudaStream_t st = kc_prep_stream(s);
    const bool whole = w->type == KE_DTYPE_BF16 && N * K <= FP8_WHOLE;
    uint16_t * xb = whole ? kc_alloc(s, (size_t) (N * K) * 2) : NULL;
    const int64_t rows = xb ? N : FP8_CHUNK / K > 0 ? FP8_CHUNK / K : 1;
    const int64_t chunk_rows = rows < N ? rows : N;
    const size_t m = (size_t) (chunk_rows * K);
    const bool one = chunk_rows == N;   // a single chunk: its bf16 copy serves both passes
    if (!xb) {
        xb = kc_alloc(s, m * 2);
    }
    float * dtmp = w->type == KE_DTYPE_BF16 ? NULL : kc_alloc(s, m * 4);
    float * htmp = w->type == KE_DTYPE_F16 ? malloc(m * 4) : NULL;
    uint8_t * q8 = resident ? NULL : kc_alloc(s, m);
    int rc = !xb || (w->type != KE_DTYPE_BF16 && !dtmp) || (w->type == KE_DTYPE_F16 && !htmp) || (!resident && !q8)
                 ? -1
                 : 0;
    // pass 1: amax over the chunks (each chunk's maximum read back, the largest kept)
    float amax = 0.0f;
    for (int64_t r0 = 0; rc == 0 && r0 < N; r0 += chunk_rows) {
        const int64_t n = N - r0 < chunk_rows ? N - r0 : chunk_rows;
        float a = 0.0f;
        if (rows_to_bf16(s, xb, w, K, r0, n, dtmp, htmp) != 0 || kc_amax_bf16(p->sc, xb, n, K, K, st) != 0 ||
            cudaMemcpyAsync(&a, p->sc, sizeof(a), cudaMemcpyDeviceToHost, st) != cudaSuccess ||
            cudaStreamSynchronize(st) != cudaSuccess) {
            rc = -1;
        }
        amax = a > amax ? a : amax;   // amaxes are never NaN (the kernel skips NaN values)
    }
    // pass 2: quantize each chunk with that amax; sc[1..2] = { scale, descale } from the kernel
    if (rc == 0 && cudaMemcpyAsync(p->sc, &amax, sizeof(amax), cudaMemcpyHostToDevice, st) != cudaSuccess) {
        rc = -1;
    }
    for (int64_t r0 = 0; rc == 0 && r0 < N; r0 += chunk_rows) {
        const int64_t n = N - r0 < chunk_rows ? N - r0 : chunk_rows;
        uint8_t * dst = resident ? (uint8_t *) p->w + r0 * K : q8;
        if ((!one && rows_to_bf16(s, xb, w, K, r0, n, dtmp, htmp) != 0) ||
            kc_quant_e4m3(dst, K, xb, K, n, K, p->sc, p->sc + 1, st) != 0 ||
            (!resident && cudaMemcpyAsync((uint8_t *) p->host + r0 * K, q8, (size_t) (n * K),
                                          cudaMemcpyDeviceToHost, st) != cudaSuccess) ||
            cudaStreamSynchronize(st) != cudaSuccess) {
            rc = -1;
        }
    }
    float sc[2] = { 0.0f, 0.0f };
    if (rc == 0 && cudaMemcpy(sc, p->sc + 1, sizeof(sc), cudaMemcpyDeviceToHost) != cudaSuccess) {
        rc = -1;
    }
    p->wscale = sc[1];   // the descale, for the dequantizing fallback (kc_linear_dequant)
    kc_free(s, xb);
    kc_free(s, dtmp);
    kc_free(s, q8);
    free(htmp);
    return rc;
}

int kc_fp8_weight_make(struct kc_state * s, struct kc_linear * p, const struct ke_tensor * w, int64_t N, int64_t K,
                       bool resident)
{
    if (cudaMalloc((void **) &p->sc, 4 * sizeof(float)) != cudaSuccess) {
        cudaGetLastError();
        p->sc = NULL;
        return -1;
    }
    if (!resident) {
        // staged as kc_linear_stage does (kc_linear_unstage gives it back)
        if (cudaHostAlloc(&p->host, p->wbytes, cudaHostAllocDefault) != cudaSuccess) {
            cudaGetLastError();
            p->host = NULL;
            return -1;
        }
        p->slot = -1;
        s->streamed += p->wbytes;
    }
    if (w->type != KE_DTYPE_F8_E4M3) {
        return quantize_weight(s, p, w, N, K, resident);
    }
    const float sc[3] = { 0.0f, 1.0f / w->scale, w->scale };   // amax unknown (unused), scale, descale
    if (kc_h2d(s, p->sc, sc, sizeof(sc)) != cudaSuccess) {
        return -1;
    }
    if (!resident) {
        memcpy(p->host, w->data, p->wbytes);
        return 0;
    }
    return kc_upload(s, p->w, w->data, p->wbytes);
}
