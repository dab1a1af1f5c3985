// Kinora engine: the CUDA backend's host-side state, shared by cuda.c, cuda-sdpa.c and cuda-conv.c.
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

#define KC_SHADOWS 8
#define KC_PENDING 4

enum { KC_PEND_LN = 1, KC_PEND_RMS, KC_PEND_LINEAR, KC_PEND_L2 };

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

    // bf16 copies of f32 activations (see cuda.c: "shadows"); a stale one holds the only valid copy
    struct kc_shadow {
        const float * src;
        size_t n;
        uint16_t * bf;
        size_t cap;
        int stale;
        unsigned use;
    } sh[KC_SHADOWS];
    unsigned tick;

    // deferred ops waiting for a consumer they can be fused with (see cuda.c)
    struct kc_pending {
        int kind;                  // KC_PEND_*
        float * y;
        const float * x;
        int64_t M, D;
        const float * w, * b;
        float eps;
        const float * shift, * scale;   // LayerNorm followed by modulate
        int64_t stride;
        const int32_t * sel;
        const struct ke_linear * l;     // linear: its bf16 input
        const uint16_t * xb;
    } pend[KC_PENDING];
    int n_pend;

    // a linear output not written (fused into the residual add), recomputable from its input
    int rec_live;
    float * rec_y;
    const float * rec_x;
    int64_t rec_M;
    const struct ke_linear * rec_l;
    int no_resid;      // KINORA_CUDA_NO_RESID_FUSION=1: keep gated_add separate
    int conv_mode;     // conv3d layout (cuda-conv.c): KINORA_CUDA_CONV=ncdhw (0, default), bf16 (1), f32 (2)

    enum kc_attn_impl attn;
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

    int failed;        // sticky: the first CUDA failure (logged once)
};

static inline struct kc_state * kc_st(struct ke_backend * be)
{
    return (struct kc_state *) be->impl;
}

// Record a failure (first one logged); returns -1.
int kc_fail(struct kc_state * s, const char * what, const char * detail);
// Device memory from the caching allocator (NULL when out of memory).
void * kc_alloc(struct kc_state * s, size_t n);
void kc_free(struct kc_state * s, void * p);
// Every op reports the device ranges it reads and writes (bytes): stale bf16-only values are
// expanded before a read, and bf16 copies of overwritten data are dropped.
void kc_read(struct kc_state * s, const void * p, size_t n);
void kc_wrote(struct kc_state * s, const void * p, size_t n);

// cuDNN fused attention on bf16 [L, ld] tensors; 0 ok, < 0 no engine / failure (nothing queued).
int kc_sdpa_run(struct kc_state * s, uint16_t * o, const uint16_t * q, const uint16_t * k, const uint16_t * v,
                int64_t Lq, int64_t Lk, int H, int hd, int64_t ld, float scale);
void kc_sdpa_free_all(struct kc_state * s);

int kc_conv3d_prepare(struct ke_backend * be, struct ke_conv3d * c);
void kc_conv3d_release(struct ke_backend * be, struct ke_conv3d * c);
void kc_conv3d(struct ke_backend * be, float * y, const float * x, const struct ke_conv3d * c, int T, int H, int W,
               int pt0, int pt1, int ph, int pw, int st, int sh, int sw);
