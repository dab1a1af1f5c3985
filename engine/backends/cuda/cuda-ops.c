// Kinora engine: the CUDA backend table: element-wise, layout and volume ops, stats, and creation.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/cuda-backend.h"
#include "backends/cuda/cuda-ltx-dit.h"   // LTX-Video transformer
#include "backends/cuda/cuda-ltx.h"
#include "backends/cuda/cuda-module.h"
#include "core/error.h"

// --- element-wise ------------------------------------------------------------------------------

static void cu_gelu_tanh(struct ke_backend * be, float * x, int64_t n)
{
    EW_OP(kc_gelu_tanh(x, n, s->stream));
}

static void cu_silu(struct ke_backend * be, float * x, int64_t n)
{
    EW_OP(kc_silu(x, n, s->stream));
}

static void cu_mul(struct ke_backend * be, float * y, const float * a, const float * b, int64_t n)
{
    EW_OP(kc_mul(y, a, b, n, s->stream));
}

static void cu_add(struct ke_backend * be, float * y, const float * a, const float * b, int64_t n)
{
    EW_OP(kc_add(y, a, b, n, s->stream));
}

static void cu_scale(struct ke_backend * be, float * y, const float * x, float a, int64_t n)
{
    EW_OP(kc_scale(y, x, a, n, s->stream));
}

static void cu_lincomb(struct ke_backend * be, float * y, int n_terms, const float * const * x, const double * c,
                       int64_t n)
{
    EW_OP(kc_lincomb(y, n_terms, x, c, n, s->stream));
}

static void cu_rel_bias(struct ke_backend * be, float * bias, const float * tv, int64_t L, int H)
{
    EW_OP(kc_rel_bias(bias, tv, L, H, s->stream));
}

static int64_t cu_find_nonfinite(struct ke_backend * be, const float * x, int64_t n, int * is_nan)
{
    struct kc_state * s = kc_st(be);
    *is_nan = 0;
    unsigned long long * first = cu_alloc(be, sizeof(*first));
    if (!first) {
        ke_be_fail(be, KE_STATUS_NOMEM, "out of memory for the sampler's finiteness check (8 bytes)");
        return -1;
    }
    unsigned long long at = ~0ULL;
    KC(s, kc_first_nonfinite(x, n, first, s->stream));
    cu_download(be, &at, first, sizeof(at));
    cu_free(be, first);
    if (ke_be_failed(be) || at == ~0ULL) {
        return -1;
    }
    float v = 0.0f;
    cu_download(be, &v, x + at, sizeof(v));
    *is_nan = v != v;
    return (int64_t) at;
}

static void cu_relu(struct ke_backend * be, float * y, const float * x, int64_t n)
{
    EW_OP(kc_relu(y, x, n, s->stream));
}

static void cu_soft_clamp(struct ke_backend * be, float * y, const float * x, float sc, int64_t n)
{
    EW_OP(kc_soft_clamp(y, x, sc, n, s->stream));
}

static void cu_clamp(struct ke_backend * be, float * y, const float * x, float lo, float hi, int64_t n)
{
    EW_OP(kc_clamp(y, x, lo, hi, n, s->stream));
}

// --- DiT layout --------------------------------------------------------------------------------

static void cu_patchify(struct ke_backend * be, float * out, const float * x, int C, int F, int H, int W, int ph,
                        int pw)
{
    EW_OP(kc_patchify(out, x, C, F, H, W, ph, pw, s->stream));
}

static void cu_unpatchify(struct ke_backend * be, float * out, const float * tok, int C, int F, int H, int W, int ph,
                          int pw)
{
    EW_OP(kc_unpatchify(out, tok, C, F, H, W, ph, pw, s->stream));
}

// --- VAE ops -----------------------------------------------------------------------------------

static void cu_channel_l2norm(struct ke_backend * be, float * y, const float * x, int C, int64_t N, const float * gamma)
{
    EW_OP(kc_channel_l2norm(y, x, C, N, gamma, 0, s->stream));
}

// The fused op: the channel L2 norm and the SiLU after it in one pass.
static void cu_channel_l2norm_silu(struct ke_backend * be, float * y, const float * x, int C, int64_t N,
                                   const float * gamma)
{
    EW_OP(kc_channel_l2norm(y, x, C, N, gamma, 1, s->stream));
}

static void cu_frame_copy(struct ke_backend * be, void * dst, int dst_bf16, int dst_T, int dst_t0, const void * src,
                              int src_bf16, int src_T, int src_t0, int n, int C, int64_t hw)
{
    EW_OP(kc_frame_copy(dst, dst_bf16, dst_T, dst_t0, src, src_bf16, src_T, src_t0, n, C, hw, s->stream));
}

static void cu_upsample_nearest2x(struct ke_backend * be, float * y, const float * x, int64_t P, int H, int W)
{
    EW_OP(kc_upsample_nearest2x(y, x, P, H, W, s->stream));
}

static void cu_pad2d(struct ke_backend * be, float * y, const float * x, int64_t P, int H, int W, int pt, int pb,
                         int pl, int pr)
{
    EW_OP(kc_pad2d(y, x, P, H, W, pt, pb, pl, pr, s->stream));
}

static void cu_pixel_unshuffle(struct ke_backend * be, float * dst, const float * src, int C, int T, int H, int W, int p,
                            int inverse)
{
    EW_OP(kc_pixel_unshuffle(dst, src, C, T, H, W, p, inverse, s->stream));
}

static void cu_avg_pool3d(struct ke_backend * be, float * y, const float * x, int c_in, int c_out, int T, int H,
                            int W, int ft, int fs, int pad_front)
{
    EW_OP(kc_avg_pool3d(y, x, c_in, c_out, T, H, W, ft, fs, pad_front, s->stream));
}

static void cu_nearest_up3d(struct ke_backend * be, float * y, const float * x, int c_in, int c_out, int T, int H, int W,
                          int ft, int fs, int drop)
{
    EW_OP(kc_nearest_up3d(y, x, c_in, c_out, T, H, W, ft, fs, drop, s->stream));
}

static void cu_transpose2d(struct ke_backend * be, float * y, const float * x, int64_t R, int64_t C2)
{
    EW_OP(kc_transpose2d(y, x, R, C2, s->stream));
}

// --- conv3d wrappers (cuda-conv.c) -------------------------------------------------------------

static void cu_conv3d(struct ke_backend * be, float * y, const float * x, const struct ke_conv3d * c, int T, int H,
                      int W, int pt0, int pt1, int ph, int pw, int st, int sh, int sw)
{
    struct kc_state * s = kc_st(be);
    PROF_BEGIN(s, KC_CLASS_GEMM);
    kc_conv3d(be, y, x, c, T, H, W, pt0, pt1, ph, pw, st, sh, sw);
    PROF_END(s);
}

// --- stats -------------------------------------------------------------------------------------

static void cu_stats(struct ke_backend * be, struct ke_backend_stats * st)
{
    struct kc_state * s = kc_st(be);
    cudaStreamSynchronize(s->stream);
    kc_prof_collect(s);
    memset(st, 0, sizeof(*st));
    st->bytes_in_use = s->in_use;
    st->bytes_peak = s->peak;
    st->bytes_weights = s->weights;
    st->bytes_budget = s->budget;
    st->bytes_streamed = s->streamed;
    st->ms_gemm = s->ms[KC_CLASS_GEMM];
    st->ms_attention = s->ms[KC_CLASS_ATTN];
    st->ms_other = s->ms[KC_CLASS_OTHER];
    memset(s->ms, 0, sizeof(s->ms));
    // per-op times (profiling only) to the log, by the function that ran them
    for (int j = 0; j < KC_PROF_OPS && s->op_name[j]; j++) {
        ke_log(2, "cuda backend: profile %-20s %9.3f ms", s->op_name[j], s->op_ms[j]);
        s->op_name[j] = NULL;
        s->op_ms[j] = 0.0;
    }
    s->peak = s->in_use;
}

// fp8 where the device has the units for it (cuda-backend.h: fp8_gemm, fp8_attn); bf16 otherwise.
static enum ke_precision cu_set_precision(struct ke_backend * be, enum ke_precision p)
{
    struct kc_state * s = kc_st(be);
    const bool want = p == KE_PRECISION_FP8;
    s->fp8_gemm = want && s->cc >= 89 && (s->fp8_parts & 1);
    s->fp8_attn = want && s->cc >= 90 && (s->fp8_parts & 2);
    be->precision = s->fp8_gemm || s->fp8_attn ? KE_PRECISION_FP8 : KE_PRECISION_BF16;
    if (want && be->precision != KE_PRECISION_FP8) {
        ke_log(1, "cuda backend: fp8 needs compute capability 8.9 or newer (this device: %d.%d); running bf16",
               s->cc / 10, s->cc % 10);
    }
    return be->precision;
}

#define KC_MARGIN ((size_t) 1 << 30)   // device memory left to the driver, cuDNN and other programs

// budget 0: the free device memory now plus what this backend holds, minus the margin.
static void cu_set_memory(struct ke_backend * be, size_t budget, size_t weight_cap)
{
    struct kc_state * s = kc_st(be);
    if (!budget) {
        size_t fr = 0, total = 0;
        if (cudaMemGetInfo(&fr, &total) != cudaSuccess) {
            cudaGetLastError();
            fr = 0;
        }
        fr += s->in_use + s->cached;
        budget = fr > KC_MARGIN ? fr - KC_MARGIN : fr / 2;
    }
    pthread_mutex_lock(&s->mu);
    s->budget = budget;
    s->weight_cap = weight_cap;
    s->cap_used = 0;
    pthread_mutex_unlock(&s->mu);
    ke_log(2, "cuda backend: device budget %.2f GiB%s", (double) budget / 1073741824.0,
           weight_cap == SIZE_MAX ? "" : ", resident weights capped");
}

// ops.prepare_thread: the calling thread's own non-blocking stream (kc_tl_stream, cuda-backend.h).
static int cu_prepare_thread(struct ke_backend * be, int begin)
{
    struct kc_state * s = kc_st(be);
    if (!begin) {
        if (kc_tl_stream) {
            kc_prepare_thread_end(s);   // synchronizes the stream, gives its blocks to the shared cache
            cudaStreamDestroy(kc_tl_stream);
            kc_tl_stream = NULL;
        }
        return 0;
    }
    if (kc_tl_stream) {
        return 0;
    }
    // the highest priority: its few small kernels (bf16 conversion, amax, e4m3 quantization) take SMs as
    // soon as blocks of the compute's large kernels retire, instead of queueing behind a forward
    int least = 0, greatest = 0;
    if (cudaSetDevice(s->device) != cudaSuccess || cudaDeviceGetStreamPriorityRange(&least, &greatest) != cudaSuccess ||
        cudaStreamCreateWithPriority(&kc_tl_stream, cudaStreamNonBlocking, greatest) != cudaSuccess) {
        cudaGetLastError();
        kc_tl_stream = NULL;
        return -1;
    }
    return 0;
}

static void cu_trim(struct ke_backend * be)
{
    kc_trim(kc_st(be));
}

static void cu_memory(struct ke_backend * be, size_t * budget, size_t * in_use, size_t * peak)
{
    struct kc_state * s = kc_st(be);
    pthread_mutex_lock(&s->mu);
    *budget = s->budget;
    *in_use = s->in_use;
    *peak = s->peak;
    pthread_mutex_unlock(&s->mu);
}

static void cu_profile(struct ke_backend * be, int on)
{
    struct kc_state * s = kc_st(be);
    cudaStreamSynchronize(s->stream);
    kc_prof_collect(s);
    s->profiling = on;
    memset(s->ms, 0, sizeof(s->ms));
}

static const struct ke_backend_ops g_cuda_ops = {
    .name = "cuda",
    .alloc = cu_alloc,
    .free = cu_free,
    .upload = cu_upload,
    .download = cu_download,
    .copy = cu_copy,
    .memset0 = cu_memset0,
    .sync = cu_sync,
    .linear_prepare = cu_linear_prepare,
    .linear_release = cu_linear_release,
    .linear = cu_linear,
    .layer_norm = cu_layer_norm,
    .rms_norm = cu_rms_norm,
    .modulate = cu_modulate,
    .gated_add = cu_gated_add,
    .gelu_tanh = cu_gelu_tanh,
    .silu = cu_silu,
    .mul = cu_mul,
    .add = cu_add,
    .scale = cu_scale,
    .rope = cu_rope,
    .attention = cu_attention,
    .xbuf_elem = 2,   // bf16
    .to_xbuf = cu_to_xbuf,
    .layer_norm_mod_x = cu_layer_norm_mod_x,
    .linear_input_hold = cu_linear_input_hold,
    .xbuf_scope = cu_xbuf_scope,
    .rms_norm_rope_x = cu_rms_norm_rope_x,
    .linear_x = cu_linear_x,
    .linear_gelu_x = cu_linear_gelu_x,
    .linear_gated_add_x = cu_linear_gated_add_x,
    .attention_x = cu_attention_x,
    .channel_l2norm_silu = cu_channel_l2norm_silu,
    .patchify = cu_patchify,
    .unpatchify = cu_unpatchify,
    .conv3d_prepare = kc_conv3d_prepare,
    .conv3d_release = kc_conv3d_release,
    .conv3d = cu_conv3d,
    .channel_l2norm = cu_channel_l2norm,
    .frame_copy = cu_frame_copy,
    .upsample_nearest2x = cu_upsample_nearest2x,
    .pad2d = cu_pad2d,
    .pixel_unshuffle = cu_pixel_unshuffle,
    .avg_pool3d = cu_avg_pool3d,
    .nearest_up3d = cu_nearest_up3d,
    .transpose2d = cu_transpose2d,
    .relu = cu_relu,
    .soft_clamp = cu_soft_clamp,
    .clamp = cu_clamp,
    // LTX-Video transformer
    .rms_norm_mod_x = cu_rms_norm_mod_x,
    .rel_bias = cu_rel_bias,
    .lincomb = cu_lincomb,
    .find_nonfinite = cu_find_nonfinite,
    .stats = cu_stats,
    .profile = cu_profile,
    .status = kc_status,
    .linear_takes = cu_linear_takes,
    .set_memory = cu_set_memory,
    .prefetch = cu_prefetch,
    .memory = cu_memory,
    .prepare_thread = cu_prepare_thread,
    .trim = cu_trim,
    .set_precision = cu_set_precision,
    // LTX-Video VAE and latent upsampler
    .pixel_norm_mod = kc_ltx_pixel_norm_mod,
    .group_norm = kc_ltx_group_norm,
    .pad2d_edge = kc_ltx_pad2d_edge,
    .ltx_conv3d = kc_ltx_conv3d_op,
    .ltx_resnet = kc_ltx_resnet_op,
    // Wan VAE
    .wan_resnet = kc_wan_resnet,
};

// --- creation ----------------------------------------------------------------------------------

static struct ke_backend g_cuda_be;
static struct kc_state g_cuda_state;
static pthread_mutex_t g_cuda_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_cuda_ready;

#define KC_EXPORT __attribute__((visibility("default")))

KC_EXPORT struct ke_backend * ke_cuda_module_create(const struct ke_cuda_host * host, struct ke_error * err);
KC_EXPORT void ke_cuda_module_set_attention(struct ke_backend * be, int impl);

struct ke_backend * ke_cuda_module_create(const struct ke_cuda_host * host, struct ke_error * err)
{
    if (kc_host_set(host) != 0) {
        // no host table to report through: the engine checks the ABI before calling
        return NULL;
    }
    pthread_mutex_lock(&g_cuda_mu);
    if (g_cuda_ready) {
        pthread_mutex_unlock(&g_cuda_mu);
        return &g_cuda_be;
    }
    struct kc_state * s = &g_cuda_state;
    memset(s, 0, sizeof(*s));
    memset(&g_cuda_be, 0, sizeof(g_cuda_be));
    g_cuda_be.ops = &g_cuda_ops;
    s->be = &g_cuda_be;
    int n_dev = 0;
    cudaError_t e = cudaGetDeviceCount(&n_dev);
    if (e != cudaSuccess || n_dev < 1) {
        pthread_mutex_unlock(&g_cuda_mu);
        ke_err(err, KE_STATUS_UNSUPPORTED, "backend 'cuda': no usable GPU (%s)",
               e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device found");
        cudaGetLastError();
        return NULL;
    }
    const char * dev_env = getenv("KINORA_CUDA_DEVICE");
    s->device = dev_env ? atoi(dev_env) : 0;
    if (s->device < 0 || s->device >= n_dev || cudaSetDevice(s->device) != cudaSuccess ||
        cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking) != cudaSuccess) {
        pthread_mutex_unlock(&g_cuda_mu);
        return ke_err(err, KE_STATUS_UNSUPPORTED, "backend 'cuda': cannot use device %d", s->device), NULL;
    }
    if (cublasLtCreate(&s->lt) != CUBLAS_STATUS_SUCCESS) {
        pthread_mutex_unlock(&g_cuda_mu);
        return ke_err(err, KE_STATUS_UNSUPPORTED, "backend 'cuda': cuBLASLt initialisation failed"), NULL;
    }
    cudnnStatus_t ds = cudnnCreate(&s->dnn);
    if (ds != CUDNN_STATUS_SUCCESS || cudnnSetStream(s->dnn, s->stream) != CUDNN_STATUS_SUCCESS) {
        pthread_mutex_unlock(&g_cuda_mu);
        return ke_err(err, KE_STATUS_UNSUPPORTED, "backend 'cuda': cuDNN initialisation failed (%s)",
                      cudnnGetErrorString(ds)), NULL;
    }
    s->lt_ws_size = LT_WORKSPACE;
    if (cudaMalloc(&s->lt_ws, s->lt_ws_size) != cudaSuccess) {
        pthread_mutex_unlock(&g_cuda_mu);
        return ke_err(err, KE_STATUS_NOMEM, "backend 'cuda': no device memory for the GEMM workspace"), NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->up_mu, NULL);
    s->in_use = s->lt_ws_size;   // the GEMM workspace counts against the budget
    s->peak = s->in_use;
    const char * a = getenv("KINORA_CUDA_ATTN");
    s->attn = !a ? KC_ATTN_AUTO
              : strcmp(a, "cudnn") == 0 ? KC_ATTN_CUDNN
              : strcmp(a, "flash") == 0 ? KC_ATTN_FLASH
              : strcmp(a, "f32") == 0   ? KC_ATTN_F32
                                        : KC_ATTN_AUTO;
    const char * nr = getenv("KINORA_CUDA_NO_RESID_FUSION");
    s->no_resid = nr && atoi(nr) != 0;
    const char * cv = getenv("KINORA_CUDA_CONV");
    s->conv_mode = !cv ? -1 : strcmp(cv, "bf16") == 0 ? 1 : strcmp(cv, "f32") == 0 ? 2 : 0;
    const char * prof = getenv("KINORA_CUDA_PROFILE");
    s->profiling = prof && atoi(prof) != 0;
    s->fp8_parts = ke_fp8_parts();
    int cc_major = 0, cc_minor = 0;
    cudaDeviceGetAttribute(&cc_major, cudaDevAttrComputeCapabilityMajor, s->device);
    cudaDeviceGetAttribute(&cc_minor, cudaDevAttrComputeCapabilityMinor, s->device);
    s->cc = cc_major * 10 + cc_minor;
    g_cuda_be.precision = KE_PRECISION_BF16;
    g_cuda_be.impl = s;
    cu_set_memory(&g_cuda_be, 0, SIZE_MAX);   // the default budget: free memory minus the margin
    g_cuda_ready = 1;
    struct cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, s->device) == cudaSuccess) {
        ke_log(2, "cuda backend: %s, %d SMs, %.1f GiB, cuDNN %zu", prop.name, prop.multiProcessorCount,
               (double) prop.totalGlobalMem / (1 << 30), cudnnGetVersion());
    }
    pthread_mutex_unlock(&g_cuda_mu);
    return &g_cuda_be;
}

void ke_cuda_module_set_attention(struct ke_backend * be, int impl)
{
    struct kc_state * s = kc_st(be);
    s->attn = (enum kc_attn_impl) impl;
    s->sdpa_broken = 0;
}
