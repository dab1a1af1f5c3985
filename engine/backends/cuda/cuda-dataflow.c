// Kinora engine: CUDA backend dataflow: bf16 shadows of f32 activations, deferred ops and
// recomputable linear outputs (how fused producers and consumers meet).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/cuda-backend.h"
#include "core/error.h"

// --- shadows -----------------------------------------------------------------------------------
// A shadow is a bf16 copy of an f32 activation [src, src + n), made for the linears and attention
// that read it (several may read one copy). Fused producers may write only the bf16 copy: the entry
// is then "stale" (the f32 memory is out of date) and is expanded to f32 before anything else reads
// that memory. Nothing observable changes except that such values are rounded to bf16, which the
// consumers did anyway.

bool kc_overlaps(const void * a, size_t na, const void * b, size_t nb)
{
    const char * x = a, * y = b;
    return x < y + nb && y < x + na;
}

static void sh_expand(struct kc_state * s, struct kc_shadow * e)
{
    if (e->stale) {
        e->stale = 0;
        KC(s, kc_bf16_to_f32((float *) e->src, e->bf, (int64_t) e->n, s->stream));
    }
}

void kc_recipe_check_read(struct kc_state * s, const void * p, size_t n);

void kc_read(struct kc_state * s, const void * p, size_t n)
{
    if (!p) {
        return;
    }
    kc_recipe_check_read(s, p, n);
    for (int i = 0; i < KC_SHADOWS; i++) {
        struct kc_shadow * e = &s->sh[i];
        if (e->stale && kc_overlaps(e->src, e->n * 4, p, n ? n : 1)) {
            sh_expand(s, e);
        }
    }
}

void kc_wrote(struct kc_state * s, const void * p, size_t n)
{
    kc_recipe_check_write(s, p, n);
    for (int i = 0; i < KC_SHADOWS; i++) {
        struct kc_shadow * e = &s->sh[i];
        if (e->src && kc_overlaps(e->src, e->n * 4, p, n ? n : 1)) {
            const bool covered = (const char *) p <= (const char *) e->src &&
                                 (const char *) e->src + e->n * 4 <= (const char *) p + n;
            if (!covered) {
                sh_expand(s, e);   // the part not overwritten must keep its value
            }
            e->src = NULL;
            e->stale = 0;
        }
    }
}

struct kc_shadow * kc_sh_find(struct kc_state * s, const float * x, size_t n)
{
    for (int i = 0; i < KC_SHADOWS; i++) {
        if (s->sh[i].src == x && s->sh[i].n == n) {
            s->sh[i].use = ++s->tick;
            return &s->sh[i];
        }
    }
    return NULL;
}

// Whether a queued linear still reads this entry's buffer.
static bool sh_busy(const struct kc_state * s, const struct kc_shadow * e)
{
    for (int i = 0; i < s->n_pend; i++) {
        if (s->pend[i].kind == KC_PEND_LINEAR && e->bf && s->pend[i].xb == e->bf) {
            return true;
        }
    }
    return false;
}

// An entry for x[n] (contents to be written by the caller); NULL when out of memory.
struct kc_shadow * kc_sh_claim(struct kc_state * s, const float * x, size_t n)
{
    struct kc_shadow * e = NULL;
    for (int i = 0; i < KC_SHADOWS && !e; i++) {
        if (s->sh[i].src == x && !sh_busy(s, &s->sh[i])) {
            e = &s->sh[i];
        }
    }
    for (int i = 0; i < KC_SHADOWS && !e; i++) {
        if (!s->sh[i].src && s->sh[i].cap >= n && !sh_busy(s, &s->sh[i])) {
            e = &s->sh[i];
        }
    }
    for (int i = 0; i < KC_SHADOWS && !e; i++) {
        if (!s->sh[i].src && !sh_busy(s, &s->sh[i])) {
            e = &s->sh[i];
        }
    }
    if (!e) {
        // the least recently used entry no queued linear reads
        for (int i = 0; i < KC_SHADOWS; i++) {
            if (!sh_busy(s, &s->sh[i]) && (!e || s->sh[i].use < e->use)) {
                e = &s->sh[i];
            }
        }
        if (!e) {
            return NULL;
        }
    }
    sh_expand(s, e);
    e->src = NULL;
    if (e->cap < n) {
        kc_free(s, e->bf);
        e->bf = kc_alloc(s, n * 2);
        e->cap = e->bf ? n : 0;
        if (!e->bf) {
            return NULL;
        }
    }
    e->src = x;
    e->n = n;
    e->stale = 0;
    e->use = ++s->tick;
    return e;
}

// bf16 copy of the f32 activation x[n] (made when there is none).
const uint16_t * kc_bf16_of(struct kc_state * s, const float * x, size_t n)
{
    struct kc_shadow * e = kc_sh_find(s, x, n);
    if (e) {
        return e->bf;
    }
    kc_read(s, x, n * 4);
    e = kc_sh_claim(s, x, n);
    if (!e) {
        return NULL;
    }
    KC(s, kc_f32_to_bf16(e->bf, x, (int64_t) n, s->stream));
    return e->bf;
}

// --- deferred linear outputs -------------------------------------------------------------------
// When a linear's output is only added into the residual stream (gated_add), the GEMM adds into the
// stream directly and the output itself is not written; it is recomputed from the same input if
// anything reads it before it is overwritten (the "recipe").

void kc_recipe_run(struct kc_state * s)
{
    if (!s->rec_live) {
        return;
    }
    s->rec_live = 0;
    const uint16_t * xb = kc_bf16_of(s, s->rec_x, (size_t) (s->rec_M * s->rec_l->n_in));
    if (!xb || kc_run_gemm(s, s->rec_y, xb, s->rec_M, s->rec_l, GEMM_F32) != 0) {
        kc_fail(s, "linear", "recomputing a fused linear output");
    }
}

void kc_recipe_check_read(struct kc_state * s, const void * p, size_t n)
{
    if (s->rec_live && kc_overlaps(s->rec_y, (size_t) (s->rec_M * s->rec_l->n_out) * 4, p, n ? n : 1)) {
        kc_recipe_run(s);
    }
}

void kc_recipe_check_write(struct kc_state * s, const void * p, size_t n)
{
    if (!s->rec_live) {
        return;
    }
    const size_t ny = (size_t) (s->rec_M * s->rec_l->n_out) * 4;
    if (kc_overlaps(s->rec_x, (size_t) (s->rec_M * s->rec_l->n_in) * 4, p, n ? n : 1)) {
        kc_recipe_run(s);   // its input is about to change
    } else if (kc_overlaps(s->rec_y, ny, p, n ? n : 1)) {
        const bool covered = (const char *) p <= (const char *) s->rec_y &&
                             (const char *) s->rec_y + ny <= (const char *) p + n;
        if (covered) {
            s->rec_live = 0;
        } else {
            kc_recipe_run(s);
        }
    }
}

// --- deferred ops ------------------------------------------------------------------------------
// A LayerNorm (then a modulate of its output), an RMS norm, and a linear are queued rather than run,
// so that what follows can take them in one pass: LayerNorm(+modulate) -> linear writes only the
// bf16 input of the GEMM; RMS norm -> RoPE writes only the bf16 q/k of the attention; linear ->
// GELU runs the GELU in the GEMM epilogue with a bf16 output. Any other op runs them as queued.

static void run_pending(struct kc_state * s, struct kc_pending * q)
{
    switch (q->kind) {
    case KC_PEND_LN:
        PROF_BEGIN(s, KC_CLASS_OTHER);
        if (kc_norm_modulate(q->y, NULL, q->x, q->M, q->D, q->eps, q->w, q->b, q->shift, q->scale, q->stride, q->sel,
                             s->stream) != 0) {
            KC(s, kc_layer_norm(q->y, q->x, q->M, q->D, q->w, q->b, q->eps, s->stream));
            if (q->shift) {
                KC(s, kc_modulate(q->y, q->y, q->M, q->D, q->shift, q->scale, q->stride, q->sel, s->stream));
            }
        }
        PROF_END(s);
        break;
    case KC_PEND_RMS:
        PROF_BEGIN(s, KC_CLASS_OTHER);
        KC(s, kc_rms_norm(q->y, q->x, q->M, q->D, q->w, q->eps, s->stream));
        PROF_END(s);
        break;
    case KC_PEND_LINEAR:
        kc_run_gemm(s, q->y, q->xb, q->M, q->l, GEMM_F32);
        break;
    case KC_PEND_L2:
        PROF_BEGIN(s, KC_CLASS_OTHER);
        KC(s, kc_channel_l2norm(q->y, q->x, (int) q->D, q->M, q->w, 0, s->stream));
        PROF_END(s);
        break;
    default:
        break;
    }
    q->kind = 0;
}

void kc_flush_pending(struct kc_state * s)
{
    for (int i = 0; i < s->n_pend; i++) {
        run_pending(s, &s->pend[i]);
    }
    s->n_pend = 0;
}

void kc_drop_pending(struct kc_state * s, int i)
{
    for (int j = i; j + 1 < s->n_pend; j++) {
        s->pend[j] = s->pend[j + 1];
    }
    s->n_pend--;
}

struct kc_pending * kc_push_pending(struct kc_state * s)
{
    if (s->n_pend == KC_PENDING) {
        kc_flush_pending(s);
    }
    struct kc_pending * q = &s->pend[s->n_pend++];
    memset(q, 0, sizeof(*q));
    return q;
}

// The single queued op of `kind` writing y (NULL when the queue holds anything else).
struct kc_pending * kc_pending_only(struct kc_state * s, int kind, const float * y)
{
    return s->n_pend == 1 && s->pend[0].kind == kind && s->pend[0].y == y ? &s->pend[0] : NULL;
}
