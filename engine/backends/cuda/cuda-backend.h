// Kinora engine: the CUDA backend's host-side state and internals, shared by its C files (cuda-mem.c,
// cuda-gemm.c, cuda-attn.c, cuda-ops.c, cuda-sdpa.c, cuda-conv.c, cuda-host.c).
#pragma once

#include <pthread.h>
#include <stdbool.h>

#include <cublasLt.h>
#include <cudnn.h>

#include "backends/backend.h"
#include "backends/cuda/cuda-impl.h"

// Which attention implementation runs (KINORA_CUDA_ATTN=auto|cudnn|flash|f32).
enum kc_attn_impl {
    KC_ATTN_AUTO = 0,    // cuDNN fused SDPA when it has an engine for the shape, else the own flash kernel
    KC_ATTN_CUDNN,
    KC_ATTN_FLASH,
    KC_ATTN_F32,
};

enum kc_op_class { KC_CLASS_GEMM = 0, KC_CLASS_ATTN, KC_CLASS_OTHER, KC_CLASS_COUNT };

struct kc_block {
    void * p;
    size_t size;
    struct kc_block * next;
};

struct kc_gemm_plan;
struct kc_sdpa_plan;
struct kc_conv_plan;

struct kc_state {
    int device;
    cudaStream_t stream;
    cublasLtHandle_t lt;
    cudnnHandle_t dnn;
    void * lt_ws;
    size_t lt_ws_size;

    // caching allocator (single stream: a freed block is reusable by the next queued op)
    pthread_mutex_t mu;
    struct kc_block * free_list;
    struct kc_block * live;
    size_t in_use, peak, weights;
    size_t cached;       // bytes of the blocks on free_list (device memory held, not in use)
    // the device memory budget (cuda-mem.c): in_use + cached never exceeds `budget`; linears prepared
    // while resident weights would pass `weight_cap` stream from pinned host memory (cuda-stream.c)
    size_t budget, weight_cap, streamed;
    size_t cap_used;     // resident weight bytes prepared since the last set_memory

    // weight streaming (cuda-stream.c): a copy stream and a double buffer of two slots
    cudaStream_t copy;
    struct kc_slot {
        void * p;
        size_t size;
        unsigned gen;           // bumped whenever the slot is refilled
        cudaEvent_t ready;      // recorded on the copy stream after the fill
        cudaEvent_t drained;    // recorded on the compute stream before the next fill may start
        int has_events;
    } slot[2];
    int next_slot;
    struct kc_uploader * up;   // pinned staging and threads for large uploads (cuda-upload.c)
    pthread_mutex_t up_mu;     // one large upload at a time (a preparing thread and the compute thread)
    // linear_prepare's time, logged (level 2) every 4 GiB of weights: in all, in kc_upload, and the bytes
    double prep_s, prep_upload_s;
    size_t prep_bytes, prep_upload_bytes, prep_logged;
    int prep_n;
    // bf16 scratch for weights stored narrower on the device (fp8, block types), two of them: the last two
    // weights dequantized stay until another one needs the room, so an FFN run in token chunks (ffn.0 and
    // ffn.2 in turn, once per chunk) dequantizes each of its weights once, not once per chunk. A weight's
    // stored bytes never change while it is prepared, and releasing it forgets its entry (kc_deq_forget).
    struct kc_deq {
        uint16_t * p;
        size_t size;
        const struct kc_linear * of;   // the weight it holds (NULL: none)
        unsigned long used;            // when it was last asked for (the older one is refilled)
    } deq[2];
    unsigned long deq_tick;

    int no_resid;      // KINORA_CUDA_NO_RESID_FUSION=1: linear_gated_add_x adds in a separate pass
    int conv_mode;     // conv3d layout for every conv (cuda-conv.c): KINORA_CUDA_CONV=ncdhw (0), bf16 (1), f32 (2);
                       // -1 (unset): bf16 for convs prepared narrow, ncdhw for the others

    enum kc_attn_impl attn;
    // precision (ops.set_precision): cc is the compute capability (major * 10 + minor); fp8_gemm /
    // fp8_attn are on while KE_PRECISION_FP8 is in effect and the device has the units for each (8.9+
    // for cuBLASLt e4m3 GEMMs, 9.0+ for cuDNN's fp8 attention); KINORA_CUDA_FP8=gemm|attn limits fp8 to
    // one of the two (to measure each alone)
    int cc;
    int fp8_gemm, fp8_attn;
    int fp8_parts;     // bit 0: GEMMs, bit 1: attention (ke_fp8_parts: both by default)
    // ops.linear_input_hold: the held GEMM input and, once an fp8 GEMM quantized it, its e4m3 copy
    // (run_gemm_fp8's scratch: { amax, scale, descale, alpha, beta } then the values from byte 256)
    const void * hold_x;
    uint8_t * hold_xs;
    int64_t hold_M, hold_K;
    // ops.xbuf_scope (cuda-fuse.c): facts carried from the op that wrote an xbuf to the ops that read it
    bool scope;        // inside a scope, with something to carry (fuse > 0)
    int fuse;          // KINORA_CUDA_FUSE: 0 nothing, 1 the maxima, 2 (default) also the attention's e4m3 output,
                       // 3 (all) also the gated linears' outputs in bf16 (cu_linear_gated_add_x)
#define KC_AMAX_SLOTS 8
    float * amax_slots;   // device floats, one per record
    struct kc_amax_rec {
        const void * p;   // NULL: free
        size_t bytes;
    } amax_rec[KC_AMAX_SLOTS];
    int amax_next;
    struct kc_twin {
        const void * p;   // the bf16 attention output [Lq, ld] it stands for (NULL: none)
        size_t bytes;
        uint8_t * q8;     // its e4m3 form and the scratch holding the descale (both owned)
        float * sc;
        const float * descale;
    } twin;
    long n_amax_taken, n_twin_taken, n_narrow;   // since the scope began (logged at its end, level 3)
    int sdpa_broken;   // cuDNN offered no engine once: stop asking
    struct kc_sdpa_plan * sdpa_plans;
    struct kc_gemm_plan * gemm_plans;

    // profiling: event pairs per op class
    int profiling;
    cudaEvent_t * ev;
    int * ev_class;
    const char ** ev_name;
#define KC_PROF_OPS 48
    const char * op_name[KC_PROF_OPS];
    double op_ms[KC_PROF_OPS];
    int n_ev, cap_ev;
    double ms[KC_CLASS_COUNT];

    struct ke_backend * be;   // the table entry this state belongs to (failures go to be->failure)
};

static inline struct kc_state * kc_st(struct ke_backend * be)
{
    return (struct kc_state *) be->impl;
}

// A thread that prepares beside the compute thread (ops.prepare_thread) queues its work on a stream of
// its own, kc_tl_stream (NULL on every other thread): kc_prep_stream is the stream prepare work takes.
// On such a thread kc_alloc hands out fresh device memory or blocks that thread freed itself (a block of
// the shared cache may still be read by compute queued before it was freed), kc_free first waits for
// that thread's stream and keeps the block for the thread, and kc_prepare_thread_end (when it is done)
// hands those blocks to the shared cache.
extern _Thread_local cudaStream_t kc_tl_stream;
void kc_prepare_thread_end(struct kc_state * s);
static inline cudaStream_t kc_prep_stream(const struct kc_state * s)
{
    return kc_tl_stream ? kc_tl_stream : s->stream;
}

struct ke_cuda_host;
// cuda-host.c: keep the engine's service table (0 ok, -1 wrong ABI).
int kc_host_set(const struct ke_cuda_host * host);
// Record a failed call in the backend's failure record (ke_be_fail; the first one wins); returns -1.
int kc_fail(struct kc_state * s, const char * what, const char * detail);
// Record an allocation that failed for good (KE_STATUS_NOMEM, naming what and how many bytes); returns -1.
int kc_fail_nomem(struct kc_state * s, const char * what, size_t bytes);
// ops.status: wait for the stream and record any asynchronous failure (cudaGetLastError).
void kc_status(struct ke_backend * be);
// Device memory from the caching allocator (NULL when out of memory).
void * kc_alloc(struct kc_state * s, size_t n);
void kc_free(struct kc_state * s, void * p);

// cuDNN fused attention on bf16 [L, ld] tensors; 0 ok, < 0 no engine / failure (nothing queued).
int kc_sdpa_run(struct kc_state * s, uint16_t * o, const uint16_t * q, const uint16_t * k, const uint16_t * v,
                int64_t Lq, int64_t Lk, int H, int hd, int64_t ld, float scale);
// The same with q/k/v quantized to e4m3 per tensor and cuDNN's fp8 flash graph (Hopper); o bf16.
// 0 ok, < 0 no fp8 engine / out of scratch (the caller runs the bf16 path).
int kc_sdpa_fp8_run(struct kc_state * s, uint16_t * o, const uint16_t * q, const uint16_t * k, const uint16_t * v,
                    int64_t Lq, int64_t Lk, int H, int hd, int64_t ld, float scale);
void kc_sdpa_free_all(struct kc_state * s);

int kc_conv3d_prepare(struct ke_backend * be, struct ke_conv3d * c);
void kc_conv3d_release(struct ke_backend * be, struct ke_conv3d * c);
void kc_conv3d(struct ke_backend * be, float * y, const float * x, const struct ke_conv3d * c, int T, int H, int W,
               int pt0, int pt1, int ph, int pw, int st, int sh, int sw);

// --- shared by the backend's source files ----------------------------------------------------------

#define LT_WORKSPACE (64u << 20)

// Record a failed CUDA runtime call / kernel launch (kc_fail) without stopping.
#define CU(s, call)                                                             \
    do {                                                                        \
        cudaError_t e_ = (call);                                                \
        if (e_ != cudaSuccess) {                                                \
            kc_fail((s), #call, cudaGetErrorString(e_));                        \
        }                                                                       \
    } while (0)

#define KC(s, call)                                                             \
    do {                                                                        \
        if ((call) != 0) {                                                      \
            kc_fail((s), #call, cudaGetErrorString(cudaGetLastError()));        \
        }                                                                       \
    } while (0)

// Each op marks its start with its class and its end as an idle gap (-1: host time between ops).
#define PROF_BEGIN(s, cls) kc_prof_mark((s), (cls), __func__)
#define PROF_END(s) kc_prof_mark((s), -1, NULL)

// A plain op of the table: one launcher on the stream, profiled as "other" (`s` is in scope for `call`).
#define EW_OP(call)                                                             \
    do {                                                                        \
        struct kc_state * s = kc_st(be);                                        \
        PROF_BEGIN(s, KC_CLASS_OTHER);                                          \
        KC(s, call);                                                            \
        PROF_END(s);                                                            \
    } while (0)

// How a linear's weight is stored on the device (and in pinned host memory when streamed).
enum { KC_W_BF16 = 0, KC_W_FP8 = 1, KC_W_BLOCK = 2 };

// A linear's prepared weight (ke_linear.prepared).
struct kc_linear {
    void * w;        // [N, K] resident weight in `wtype` (NULL when streamed)
    float * b;       // [N] or NULL (always resident)
    uint16_t * bb;   // bf16 copy of b (for bf16 outputs)
    size_t bytes;    // device bytes held for good (weight when resident, biases)
    int wtype;       // KC_W_BF16, or KC_W_FP8 (e4m3, value = fp8 * wscale; dequantized per use)
    float wscale;
    // fp8 GEMM linear (prepared while the fp8 precision was in effect, cuda-fp8-gemm.c): the weight is
    // e4m3 (stored so, or quantized at prepare with a per-tensor scale); sc[3] on the device holds
    // { amax, scale, descale } (the descale, = wscale, goes into the GEMM's alpha). NULL: never an fp8 GEMM.
    float * sc;
    int qtype;       // the stored ke_dtype (KC_W_BLOCK: a GGUF block type, cuda-quant.c)
    size_t wbytes;   // bytes of the stored weight
    int64_t n_el;    // N * K
    // streamed: the weight lives in pinned host memory and is copied into a slot per use
    void * host;
    int slot;        // slot holding it (-1: none)
    unsigned gen;    // the slot's generation when it was filled with this weight
    size_t slot_off;
    const char * name;
};

// cuda-stream.c: the dequantization scratch no longer holds p (p is being released).
void kc_deq_forget(struct kc_state * s, const struct kc_linear * p);

// cuda-mem.c: the budget. 0 when n more bytes fit (cached blocks are released first when needed);
// the caller then adds n to in_use itself. -1 when they do not fit (nothing changed).
int kc_budget_fit(struct kc_state * s, size_t n);
// Give the cached free blocks back to the device (waits for the queued compute): ops.trim.
void kc_trim(struct kc_state * s);
void kc_budget_note_peak(struct kc_state * s);
// cuda-stream.c: the bf16 device weight of a prepared linear for a GEMM queued next on the compute
// stream: the resident bf16 weight, or (streamed / fp8) a slot or the dequantization scratch after the
// compute stream waited for its upload. NULL on a failure (recorded).
const uint16_t * kc_linear_weight(struct kc_state * s, struct kc_linear * p);
// The same without the dequantization: the weight's stored bytes (resident, or a slot after the compute
// stream waited for its upload). NULL on a failure (recorded).
const void * kc_linear_stored(struct kc_state * s, struct kc_linear * p);
int kc_linear_stage(struct kc_state * s, struct kc_linear * p, const struct ke_tensor * w);
void kc_linear_unstage(struct kc_state * s, struct kc_linear * p);
void cu_prefetch(struct ke_backend * be, struct ke_linear * const * ls, int n);
void kc_stream_free_all(struct kc_state * s);
// cuda-upload.c: copy bytes from host src to device dst (synchronous: done on return), large copies
// through pinned staging buffers filled by several threads; 0 ok, -1 failure (nothing recorded).
// kc_upload_free gives the staging back (made again by the next large copy).
int kc_upload(struct kc_state * s, void * dst, const void * src, size_t bytes);
// cuda-mem.c: n bytes from the host to the device on kc_prep_stream, landed when it returns (the first
// error, cleared; cudaSuccess). Not cudaMemcpy: from pageable memory it may return before the DMA to the device is done,
// and the legacy stream it runs on is not ordered with this backend's non-blocking streams, so a kernel
// queued next (the fp8 quantization of a weight just uploaded) could read the bytes that were there.
cudaError_t kc_h2d(struct kc_state * s, void * dst, const void * src, size_t n);
void kc_upload_free(struct kc_state * s);
double kc_now(void);   // seconds, monotonic (ke_now's twin: the module links none of the engine)
// cuda-quant.c: weights kept as stored (fp8, the GGUF block types). ops.linear_takes; the stored form of
// a linear's weight (wtype, qtype, wscale, wbytes; -1 with a failure recorded when K does not hold whole
// blocks); queue the dequantization of a stored weight at src into the bf16 [N, K] dst (0 queued).
int cu_linear_takes(struct ke_backend * be, enum ke_dtype type);
int kc_linear_form(struct kc_state * s, struct kc_linear * p, const struct ke_tensor * w, int64_t N, int64_t K);
int kc_linear_dequant(struct kc_state * s, const struct kc_linear * p, uint16_t * dst, const void * src);

// cuda-fp8-gemm.c: weights for the fp8 GEMMs. kc_fp8_form decides at prepare (s->fp8_gemm on, a float
// or F8_E4M3 weight, K a multiple of 16): 1 with the form set to e4m3 (wtype KC_W_FP8, wbytes N * K), 0
// for today's form. kc_fp8_weight_make fills the prepared e4m3 weight: resident (p->w allocated, N * K
// bytes) or staged in pinned host memory for streaming (p->w NULL); an F8_E4M3 weight is taken as
// stored with its scale, any other is quantized on the device with the scale 448 / amax of its bf16
// values. 0 ok, -1 failure (nothing recorded; p->sc / p->host may be set and are freed by the caller).
int kc_fp8_form(struct kc_state * s, struct kc_linear * p, const struct ke_tensor * w, int64_t N, int64_t K);
int kc_fp8_weight_make(struct kc_state * s, struct kc_linear * p, const struct ke_tensor * w, int64_t N, int64_t K,
                       bool resident);
// The linear runs as an fp8 GEMM now (prepared so, and the fp8 precision still in effect).
static inline bool kc_fp8_on(const struct kc_state * s, const struct kc_linear * p)
{
    return p->sc != NULL && s->fp8_gemm;
}

enum {
    GEMM_F32 = 0,        // y = x W^T + b
    GEMM_BF16_GELU,      // y = GELU(x W^T + b) as bf16
    GEMM_RESID,          // r += x W^T + b (C = D = r)
    GEMM_RESID_VEC,      // r += g * (x W^T) + g * b, g a per-feature device vector (alpha vector)
    GEMM_BF16,           // y = x W^T + b as bf16 (fp8 linears only: -1 where cuBLASLt has no e4m3 algorithm)
};

// cuda-mem.c: profiling and the memory ops
void kc_prof_mark(struct kc_state * s, int cls, const char * name);
void kc_prof_collect(struct kc_state * s);
void * cu_alloc(struct ke_backend * be, size_t n);
void cu_free(struct ke_backend * be, void * p);
void cu_upload(struct ke_backend * be, void * dst, const void * src, size_t n);
void cu_download(struct ke_backend * be, void * dst, const void * src, size_t n);
void cu_copy(struct ke_backend * be, void * dst, const void * src, size_t n);
void cu_memset0(struct ke_backend * be, void * dst, size_t n);
void cu_sync(struct ke_backend * be);

// cuda-gemm.c: linears, row-wise ops, the residual add
struct kc_gemm_plan * kc_gemm_plan_find(struct kc_state * s, int64_t M, int64_t N, int64_t K, int bias, int kind);
int cu_linear_prepare(struct ke_backend * be, struct ke_linear * l);
void cu_linear_release(struct ke_backend * be, struct ke_linear * l);
// out = xb W^T + b as f32 (GEMM_F32) or GELU(.) as bf16 (GEMM_BF16_GELU); for the residual kinds
// out += (gate *) (xb W^T + b), with `bias` (b, or gate * b) and `w` (NULL: the prepared weight).
// 0 ok; -1 no algorithm for a non-f32 kind (nothing recorded) or a failure (recorded).
int kc_run_gemm_ex(struct kc_state * s, void * out, const uint16_t * xb, int64_t M, const struct ke_linear * l,
                   int kind, const float * gate, const float * bias, const uint16_t * w);
int kc_run_gemm(struct kc_state * s, void * out, const uint16_t * xb, int64_t M, const struct ke_linear * l,
                int kind);
void cu_linear(struct ke_backend * be, float * y, const float * x, int64_t M, const struct ke_linear * l);
void cu_layer_norm(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D, const float * w,
                   const float * b, float eps);
void cu_rms_norm(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D, const float * w, float eps);
void cu_modulate(struct ke_backend * be, float * y, const float * x, int64_t M, int64_t D, const float * shift,
                 const float * scale, int64_t stride, const int32_t * sel);
void cu_gated_add(struct ke_backend * be, float * x, const float * y, int64_t M, int64_t D, const float * gate,
                  int64_t stride, const int32_t * sel);
// the fused ops of backend.h (a struct ke_xbuf is bf16)
void cu_to_xbuf(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t n);
void cu_linear_input_hold(struct ke_backend * be, const struct ke_xbuf * x);
void cu_layer_norm_mod_x(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t M, int64_t D,
                         const float * w, const float * b, float eps, const float * shift, const float * scale,
                         int64_t stride, const int32_t * sel);
void cu_rms_norm_rope_x(struct ke_backend * be, struct ke_xbuf * y, const float * x, int64_t L, int n_heads,
                        int head_dim, const float * w, float eps, const float * cs);
void cu_linear_x(struct ke_backend * be, float * y, const struct ke_xbuf * x, int64_t M, const struct ke_linear * l);
void cu_linear_gelu_x(struct ke_backend * be, struct ke_xbuf * y, const struct ke_xbuf * x, int64_t M,
                      const struct ke_linear * l);
void cu_linear_gated_add_x(struct ke_backend * be, float * r, const struct ke_xbuf * x, int64_t M,
                           const struct ke_linear * l, const float * gate, int64_t stride, const int32_t * sel,
                           float * tmp);

// cuda-fuse.c: ops.xbuf_scope and its records. kc_xbuf_written: an op is about to overwrite [p, p +
// bytes) (drops what described those bytes). kc_amax_begin: the same, then (in a scope, under fp8) a
// zeroed device float the writer raises to the largest |value| it writes, recorded for those bytes
// (NULL: write without one; a writer that ends up not filling it calls kc_xbuf_written again).
// kc_amax_known: the recorded maximum of exactly [p, p + bytes), or NULL. kc_twin_keep: the e4m3 form q8
// (descale at *descale, inside sc) of the attention output at p; takes q8 and sc (false: not kept, the
// caller frees them). kc_twin_take: that form for exactly [p, p + bytes), or NULL; kc_twin_drop frees it
// (stream-ordered) once its reader is queued.
void cu_xbuf_scope(struct ke_backend * be, bool on);
void kc_xbuf_written(struct kc_state * s, const void * p, size_t bytes);
float * kc_amax_begin(struct kc_state * s, const void * p, size_t bytes);
const float * kc_amax_known(struct kc_state * s, const void * p, size_t bytes);
bool kc_twin_keep(struct kc_state * s, const void * p, size_t bytes, uint8_t * q8, float * sc, const float * descale);
const uint8_t * kc_twin_take(struct kc_state * s, const void * p, size_t bytes, const float ** descale);
void kc_twin_drop(struct kc_state * s);

// cuda-attn.c
void cu_rope(struct ke_backend * be, float * x, int64_t L, int n_heads, int head_dim, const float * cs);
void cu_attention(struct ke_backend * be, float * o, const float * q, const float * k, const float * v, int64_t Lq,
                  int64_t Lk, int n_heads, int head_dim, float scale, const float * bias);
void cu_attention_x(struct ke_backend * be, struct ke_xbuf * o, const struct ke_xbuf * q, const struct ke_xbuf * k,
                    const struct ke_xbuf * v, int64_t Lq, int64_t Lk, int n_heads, int head_dim, float scale);
