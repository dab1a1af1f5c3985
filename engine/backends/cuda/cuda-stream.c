// Kinora engine: CUDA backend weight streaming and narrow device weights.
//
// A linear prepared while the resident weights would pass the budget's weight cap keeps its weight in
// pinned host memory (kc_linear.host). Before a GEMM reads it, it is copied into one of two device
// slots on a copy stream: the model names the linears it uses next (ops.prefetch, one transformer
// block at a time), they are copied together into the slot not in use, and the copy overlaps the
// current block's compute. Events order the two streams:
//   - slot.drained is recorded on the compute stream when a slot is refilled; the copy stream waits
//     for it, so the new upload starts only after every queued GEMM that read the slot's old contents;
//   - slot.ready is recorded on the copy stream after the upload; the compute stream waits for it
//     before the first GEMM that reads the slot.
// A slot's generation is bumped on every refill, so a linear whose slot was taken by another group is
// uploaded again on use (slower, never wrong). fp8 (e4m3) and block-quantized (GGUF) weights stay in
// their stored form on the device (and in pinned host memory) and are dequantized into a bf16 scratch
// right before their GEMM (cuda-quant.c).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/cuda-backend.h"
#include "backends/cuda/cuda-dequant.h"
#include "core/error.h"

static size_t align256(size_t n)
{
    return (n + 255) & ~(size_t) 255;
}

// Copy the weights of ps[0..n) into the next slot (copy stream). 0 ok, -1 failure (recorded).
static int stream_fill(struct kc_state * s, struct kc_linear * const * ps, int n)
{
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        total += align256(ps[i]->wbytes);
    }
    if (!total) {
        return 0;
    }
    if (!s->copy && cudaStreamCreateWithFlags(&s->copy, cudaStreamNonBlocking) != cudaSuccess) {
        cudaGetLastError();
        s->copy = NULL;
        return kc_fail(s, "cudaStreamCreate", "no copy stream for weight streaming");
    }
    const int k = s->next_slot;
    s->next_slot ^= 1;
    struct kc_slot * sl = &s->slot[k];
    if (!sl->has_events) {
        if (cudaEventCreateWithFlags(&sl->ready, cudaEventDisableTiming) != cudaSuccess ||
            cudaEventCreateWithFlags(&sl->drained, cudaEventDisableTiming) != cudaSuccess) {
            cudaGetLastError();
            return kc_fail(s, "cudaEventCreate", "no events for weight streaming");
        }
        sl->has_events = 1;
    }
    if (sl->size < total) {
        // grow the slot: nothing may still read or fill the old one
        cudaStreamSynchronize(s->stream);
        cudaStreamSynchronize(s->copy);
        kc_free(s, sl->p);
        sl->p = kc_alloc(s, total);
        sl->size = sl->p ? total : 0;
        sl->gen++;
        if (!sl->p) {
            return kc_fail_nomem(s, "a streamed weight buffer", total);
        }
    }
    // the slot's old contents may still be read by GEMMs queued on the compute stream
    CU(s, cudaEventRecord(sl->drained, s->stream));
    CU(s, cudaStreamWaitEvent(s->copy, sl->drained, 0));
    sl->gen++;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        struct kc_linear * p = ps[i];
        CU(s, cudaMemcpyAsync((char *) sl->p + off, p->host, p->wbytes, cudaMemcpyHostToDevice, s->copy));
        p->slot = k;
        p->gen = sl->gen;
        p->slot_off = off;
        off += align256(p->wbytes);
    }
    CU(s, cudaEventRecord(sl->ready, s->copy));
    return ke_be_failed(s->be) ? -1 : 0;
}

static int loaded(const struct kc_state * s, const struct kc_linear * p)
{
    return p->slot >= 0 && s->slot[p->slot].gen == p->gen && s->slot[p->slot].p;
}

void cu_prefetch(struct ke_backend * be, struct ke_linear * const * ls, int n)
{
    struct kc_state * s = kc_st(be);
    struct kc_linear * ps[64];
    int m = 0;
    for (int i = 0; i < n && m < 64; i++) {
        struct kc_linear * p = ls[i] && ls[i]->owner == be ? ls[i]->prepared : NULL;
        if (p && p->host) {
            ps[m++] = p;
        }
    }
    if (m > 0 && !ke_be_failed(be)) {
        stream_fill(s, ps, m);
    }
}

const void * kc_linear_stored(struct kc_state * s, struct kc_linear * p)
{
    if (!p->host) {
        return p->w;
    }
    if (!loaded(s, p) && stream_fill(s, &p, 1) != 0) {
        return NULL;
    }
    const struct kc_slot * sl = &s->slot[p->slot];
    CU(s, cudaStreamWaitEvent(s->stream, sl->ready, 0));
    return (const char *) sl->p + p->slot_off;
}

const uint16_t * kc_linear_weight(struct kc_state * s, struct kc_linear * p)
{
    const void * src = kc_linear_stored(s, p);
    if (!src) {
        return NULL;
    }
    if (p->wtype == KC_W_BF16) {
        return src;
    }
    // a narrow weight: its bf16 copy from an earlier GEMM when the scratch still holds it, else
    // dequantized into the entry asked for longer ago (reused in stream order: every GEMM queued on the
    // compute stream that read its old contents runs first)
    const size_t need = (size_t) p->n_el * 2;
    s->deq_tick++;
    for (int i = 0; i < 2; i++) {
        if (s->deq[i].of == p && s->deq[i].p) {
            s->deq[i].used = s->deq_tick;
            return s->deq[i].p;
        }
    }
    const int v = s->deq[0].used <= s->deq[1].used ? 0 : 1;
    struct kc_deq * d = &s->deq[v];
    d->of = NULL;
    if (d->size < need) {
        kc_free(s, d->p);
        d->p = kc_alloc(s, need);
        if (!d->p) {
            // no room for two: give the other entry's room back and hold one
            struct kc_deq * o = &s->deq[v ^ 1];
            kc_free(s, o->p);
            o->p = NULL;
            o->size = 0;
            o->of = NULL;
            d->p = kc_alloc(s, need);
        }
        d->size = d->p ? need : 0;
        if (!d->p) {
            kc_fail_nomem(s, "the bf16 scratch of a dequantized weight", need);
            return NULL;
        }
    }
    PROF_BEGIN(s, KC_CLASS_OTHER);
    const int rc = kc_linear_dequant(s, p, d->p, src);
    if (rc != 0) {
        kc_fail(s, "kc_linear_dequant", cudaGetErrorString(cudaGetLastError()));
    }
    PROF_END(s);
    if (rc == 0) {
        d->of = p;
        d->used = s->deq_tick;
    }
    return d->p;
}

void kc_deq_forget(struct kc_state * s, const struct kc_linear * p)
{
    for (int i = 0; i < 2; i++) {
        if (s->deq[i].of == p) {
            s->deq[i].of = NULL;
            s->deq[i].used = 0;
        }
    }
}

// Keep the stored weight in pinned host memory (bf16, or fp8 / a block type as stored); 0 ok, -1 no
// host memory.
int kc_linear_stage(struct kc_state * s, struct kc_linear * p, const struct ke_tensor * w)
{
    if (cudaHostAlloc(&p->host, p->wbytes, cudaHostAllocDefault) != cudaSuccess) {
        cudaGetLastError();
        p->host = NULL;
        return -1;
    }
    if (w->type == KE_DTYPE_BF16 || p->wtype != KC_W_BF16) {
        memcpy(p->host, w->data, p->wbytes);
    } else {
        // other float types: to bf16 on the host, in chunks
        const size_t chunk = (size_t) 1 << 20, es = ke_dtype_size(w->type);
        float * t = malloc(chunk * sizeof(float));
        if (!t) {
            cudaFreeHost(p->host);
            p->host = NULL;
            return -1;
        }
        uint16_t * dst = p->host;
        for (size_t off = 0; off < (size_t) p->n_el; off += chunk) {
            const size_t m = (size_t) p->n_el - off < chunk ? (size_t) p->n_el - off : chunk;
            ke_convert_to_f32(t, (const char *) w->data + off * es, w->type, w->scale, m);
            for (size_t i = 0; i < m; i++) {
                dst[off + i] = ke_f32_to_bf16(t[i]);
            }
        }
        free(t);
    }
    p->slot = -1;
    s->streamed += p->wbytes;
    return 0;
}

void kc_linear_unstage(struct kc_state * s, struct kc_linear * p)
{
    if (!p->host) {
        return;
    }
    if (s->copy) {
        cudaStreamSynchronize(s->copy);   // no copy may still read it
    }
    cudaFreeHost(p->host);
    p->host = NULL;
    s->streamed -= p->wbytes;
}

// Give the slots and the scratch back to the allocator (when no streamed weight is left).
void kc_stream_free_all(struct kc_state * s)
{
    cudaStreamSynchronize(s->stream);
    if (s->copy) {
        cudaStreamSynchronize(s->copy);
    }
    for (int k = 0; k < 2; k++) {
        kc_free(s, s->slot[k].p);
        s->slot[k].p = NULL;
        s->slot[k].size = 0;
        s->slot[k].gen++;
    }
    for (int i = 0; i < 2; i++) {
        kc_free(s, s->deq[i].p);
        memset(&s->deq[i], 0, sizeof(s->deq[i]));
    }
}
