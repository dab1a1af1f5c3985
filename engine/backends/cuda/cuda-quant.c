// Kinora engine: CUDA linears whose weights stay narrower than bf16 on the device (and in pinned host
// memory when streamed): fp8 e4m3 (times the tensor's scale) and the GGUF block types (ggml block
// layouts, quant-blocks.h). The stored bytes are uploaded unchanged; right before each GEMM the weight
// is dequantized into the backend's bf16 scratch (kc_linear_weight in cuda-stream.c), so a model takes
// its stored size on the device plus one bf16 copy of its largest linear.
#include "backends/cuda/cuda-backend.h"
#include "backends/cuda/cuda-dequant.h"
#include "backends/cuda/quant-blocks.h"
#include "core/error.h"

// A block type the backend keeps as stored: its block geometry and its dequantization kernel.
struct kc_qform {
    enum ke_dtype type;
    const char * name;   // as ke_dtype_name spells it (the module links none of the engine)
    int values, bytes;
    int (*to_bf16)(uint16_t * dst, const void * blocks, int64_t n, cudaStream_t s);
};

static const struct kc_qform g_qforms[] = {
    { KE_DTYPE_Q8_0, "Q8_0", KQ_Q8_0_VALUES, KQ_Q8_0_BYTES, kc_q8_0_to_bf16 },
    { KE_DTYPE_Q4_0, "Q4_0", KQ_Q4_0_VALUES, KQ_Q4_0_BYTES, kc_q4_0_to_bf16 },
    { KE_DTYPE_Q4_1, "Q4_1", KQ_Q4_1_VALUES, KQ_Q4_1_BYTES, kc_q4_1_to_bf16 },
    { KE_DTYPE_Q5_0, "Q5_0", KQ_Q5_0_VALUES, KQ_Q5_0_BYTES, kc_q5_0_to_bf16 },
    { KE_DTYPE_Q5_1, "Q5_1", KQ_Q5_1_VALUES, KQ_Q5_1_BYTES, kc_q5_1_to_bf16 },
    { KE_DTYPE_Q2_K, "Q2_K", KQ_Q2_K_VALUES, KQ_Q2_K_BYTES, kc_q2_k_to_bf16 },
    { KE_DTYPE_Q3_K, "Q3_K", KQ_Q3_K_VALUES, KQ_Q3_K_BYTES, kc_q3_k_to_bf16 },
    { KE_DTYPE_Q4_K, "Q4_K", KQ_Q4_K_VALUES, KQ_Q4_K_BYTES, kc_q4_k_to_bf16 },
    { KE_DTYPE_Q5_K, "Q5_K", KQ_Q5_K_VALUES, KQ_Q5_K_BYTES, kc_q5_k_to_bf16 },
    { KE_DTYPE_Q6_K, "Q6_K", KQ_Q6_K_VALUES, KQ_Q6_K_BYTES, kc_q6_k_to_bf16 },
};

static const struct kc_qform * qform_of(int type)
{
    for (size_t i = 0; i < sizeof(g_qforms) / sizeof(g_qforms[0]); i++) {
        if ((int) g_qforms[i].type == type) {
            return &g_qforms[i];
        }
    }
    return NULL;
}

int cu_linear_takes(struct ke_backend * be, enum ke_dtype type)
{
    (void) be;
    // f32 / f16 are converted to a resident bf16 copy; bf16, fp8 and the block types stay as stored
    return type == KE_DTYPE_F32 || type == KE_DTYPE_F16 || type == KE_DTYPE_BF16 || type == KE_DTYPE_F8_E4M3 ||
           qform_of((int) type) != NULL;
}

int kc_linear_form(struct kc_state * s, struct kc_linear * p, const struct ke_tensor * w, int64_t N, int64_t K)
{
    const char * name = w->name ? w->name : "?";
    p->wscale = w->scale;
    p->qtype = (int) w->type;
    if (w->type == KE_DTYPE_F8_E4M3) {
        p->wtype = KC_W_FP8;
        p->wbytes = (size_t) (N * K);
        return 0;
    }
    const struct kc_qform * f = qform_of((int) w->type);
    if (!f) {
        p->wtype = KC_W_BF16;
        p->wbytes = (size_t) (N * K) * 2;
        return 0;
    }
    // ggml quantizes each row on its own (rows never share a block), so [N, K] with K a multiple of the
    // block is one run of N * K / values blocks; the engine's block size must be the kernels'
    if (K % f->values != 0 || ke_dtype_size(w->type) != (size_t) f->bytes) {
        ke_be_fail(s->be, KE_STATUS_UNSUPPORTED,
                   "linear weight %s (%s): rows of %lld values are not whole blocks of %d", name, f->name,
                   (long long) K, f->values);
        return -1;
    }
    p->wtype = KC_W_BLOCK;
    p->wbytes = (size_t) (N * K / f->values) * (size_t) f->bytes;
    return 0;
}

int kc_linear_dequant(struct kc_state * s, const struct kc_linear * p, uint16_t * dst, const void * src)
{
    if (p->wtype == KC_W_FP8) {
        return kc_fp8e4m3_to_bf16(dst, src, p->n_el, p->wscale, s->stream);
    }
    const struct kc_qform * f = qform_of(p->qtype);
    return f ? f->to_bf16(dst, src, p->n_el, s->stream) : -1;
}
