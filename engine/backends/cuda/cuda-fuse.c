// Kinora engine: what the CUDA backend carries from the op that wrote a struct ke_xbuf to the ops that
// read it, inside ops.xbuf_scope (the DiT's forward), under the fp8 precision:
//  - the absolute maximum of a bf16 activation, taken by the kernel that wrote it (LayerNorm + modulate,
//    RMS norm + RoPE, f32 to bf16): the e4m3 quantization before an fp8 GEMM or the fp8 attention then
//    skips its own pass over the tensor. The maximum is that of the bf16 values written, the one the
//    separate pass reads back, so the quantized operands are the same bit for bit.
//  - the attention output's e4m3 form, as cuDNN's fp8 attention wrote it (with V's scale): the fp8 GEMM
//    of the projection after the attention takes it as its operand instead of quantizing the bf16 copy
//    again (one rounding less; the result differs from the separate pass by that rounding).
//  - (not a record; KINORA_CUDA_FUSE=all only, not yet run on a GPU) an fp8 linear gated into the
//    residual stream writes its output in bf16 for the gated add (cu_linear_gated_add_x).
// A record names the bytes it describes (address and length). Within the scope every xbuf is written
// only through the ops with an xbuf output, and each of them drops the records of the bytes it
// overwrites before it adds its own, so a record always describes the bytes now there. Outside a scope
// nothing is recorded, and the end of a scope forgets everything. The default carries the first two;
// KINORA_CUDA_FUSE=0 turns them off, KINORA_CUDA_FUSE=amax keeps the maxima alone, KINORA_CUDA_FUSE=all
// adds the third (read at the start of each scope).
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/cuda-backend.h"
#include "core/error.h"

static bool overlaps(const void * p, size_t n, const void * q, size_t m)
{
    const char * a = p, * b = q;
    return a < b + m && b < a + n;
}

void kc_twin_drop(struct kc_state * s)
{
    kc_free(s, s->twin.q8);   // stream-ordered: the ops queued before read it first
    kc_free(s, s->twin.sc);
    memset(&s->twin, 0, sizeof(s->twin));
}

void cu_xbuf_scope(struct ke_backend * be, bool on)
{
    struct kc_state * s = kc_st(be);
    memset(s->amax_rec, 0, sizeof(s->amax_rec));
    kc_twin_drop(s);
    if (s->scope && (s->n_amax_taken || s->n_twin_taken || s->n_narrow)) {
        ke_log(3, "cuda backend: xbuf scope: %ld maxima taken from their writers, %ld attention outputs as e4m3, "
               "%ld gated outputs in bf16", s->n_amax_taken, s->n_twin_taken, s->n_narrow);
    }
    s->n_amax_taken = s->n_twin_taken = s->n_narrow = 0;
    s->scope = false;
    if (!on) {
        return;
    }
    const char * e = getenv("KINORA_CUDA_FUSE");
    s->fuse = !e ? 2 : strcmp(e, "amax") == 0 ? 1 : strcmp(e, "all") == 0 ? 3 : atoi(e) != 0 ? 2 : 0;
    if (!s->fuse) {
        return;
    }
    if (!s->amax_slots) {
        s->amax_slots = kc_alloc(s, KC_AMAX_SLOTS * sizeof(float));
        if (!s->amax_slots) {
            return;   // nothing recorded then: the separate passes run as before
        }
    }
    s->scope = true;
}

void kc_xbuf_written(struct kc_state * s, const void * p, size_t bytes)
{
    if (!s->scope) {
        return;
    }
    for (int i = 0; i < KC_AMAX_SLOTS; i++) {
        if (s->amax_rec[i].p && overlaps(p, bytes, s->amax_rec[i].p, s->amax_rec[i].bytes)) {
            s->amax_rec[i].p = NULL;
        }
    }
    if (s->twin.p && overlaps(p, bytes, s->twin.p, s->twin.bytes)) {
        kc_twin_drop(s);
    }
}

float * kc_amax_begin(struct kc_state * s, const void * p, size_t bytes)
{
    kc_xbuf_written(s, p, bytes);
    if (!s->scope || !(s->fp8_gemm || s->fp8_attn)) {
        return NULL;
    }
    const int i = s->amax_next;
    s->amax_next = (i + 1) % KC_AMAX_SLOTS;
    float * slot = s->amax_slots + i;
    if (cudaMemsetAsync(slot, 0, sizeof(float), s->stream) != cudaSuccess) {
        cudaGetLastError();
        s->amax_rec[i].p = NULL;
        return NULL;
    }
    s->amax_rec[i].p = p;
    s->amax_rec[i].bytes = bytes;
    return slot;
}

const float * kc_amax_known(struct kc_state * s, const void * p, size_t bytes)
{
    if (!s->scope) {
        return NULL;
    }
    for (int i = 0; i < KC_AMAX_SLOTS; i++) {
        if (s->amax_rec[i].p == p && s->amax_rec[i].bytes == bytes) {
            s->n_amax_taken++;
            return s->amax_slots + i;
        }
    }
    return NULL;
}

bool kc_twin_keep(struct kc_state * s, const void * p, size_t bytes, uint8_t * q8, float * sc, const float * descale)
{
    if (!s->scope || s->fuse < 2) {
        return false;
    }
    kc_twin_drop(s);
    s->twin = (struct kc_twin) { .p = p, .bytes = bytes, .q8 = q8, .sc = sc, .descale = descale };
    return true;
}

const uint8_t * kc_twin_take(struct kc_state * s, const void * p, size_t bytes, const float ** descale)
{
    if (!s->scope || !s->twin.p || s->twin.p != p || s->twin.bytes != bytes) {
        return NULL;
    }
    s->n_twin_taken++;
    *descale = s->twin.descale;
    return s->twin.q8;
}
