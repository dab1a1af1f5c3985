// Kinora engine: CPU attention as a tiled online-softmax kernel (flash-attention style): each task
// takes one head and a block of queries, walks the keys in tiles, and keeps only a running max,
// running sum and output accumulator, so the full [Lq, Lk] score matrix never exists.
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu-impl.h"
#include "backends/cpu/cpu-simd.h"
#include "core/threadpool.h"
#include "ke.h"

#define QB 64     // queries per task (multiple of RB)
#define KB 128    // keys per tile (multiple of 32)
#define RB 8      // register block: rows per micro-kernel step

struct attn_ctx {
    float * o;
    const float * q, * k, * v;
    int64_t Lq, Lk;
    int n_heads, hd, hdp;   // hdp: head dim padded to a multiple of 32 in the private tiles
    float scale;
    const float * bias;
    int64_t n_qblocks;
};

typedef ke_v16 v16;

// acc[i][:] = acc[i][:] * corr[i] + sum_{j < nk} p[i][j] * vt[j][:]   (vt: [KB][hdp])
KE_MULTIVERSION
static void tile_pv(float * restrict acc, const float * restrict p, const float * restrict vt,
                    const float * restrict corr, int nk, int hdp)
{
    for (int i0 = 0; i0 < QB; i0 += RB) {
        for (int d0 = 0; d0 < hdp; d0 += 32) {
            v16 a0[RB], a1[RB];
            for (int r = 0; r < RB; r++) {
                a0[r] = *(const v16 *) (acc + (i0 + r) * hdp + d0) * corr[i0 + r];
                a1[r] = *(const v16 *) (acc + (i0 + r) * hdp + d0 + 16) * corr[i0 + r];
            }
            for (int j = 0; j < nk; j++) {
                const v16 v0 = *(const v16 *) (vt + j * hdp + d0);
                const v16 v1 = *(const v16 *) (vt + j * hdp + d0 + 16);
                for (int r = 0; r < RB; r++) {
                    const float pv = p[(i0 + r) * KB + j];
                    a0[r] += pv * v0;
                    a1[r] += pv * v1;
                }
            }
            for (int r = 0; r < RB; r++) {
                *(v16 *) (acc + (i0 + r) * hdp + d0) = a0[r];
                *(v16 *) (acc + (i0 + r) * hdp + d0 + 16) = a1[r];
            }
        }
    }
}


// Keys and values re-laid per head once per call: kt [H][hdp][Lkp] (transposed), vt [H][Lkp][hdp].
struct pack_ctx {
    const struct attn_ctx * c;
    float * kt, * vt;
    int64_t Lkp;
};

static void pack_rows(void * p, int64_t j0, int64_t j1, int tid)
{
    (void) tid;
    const struct pack_ctx * pc = p;
    const struct attn_ctx * c = pc->c;
    const int64_t row = (int64_t) c->n_heads * c->hd;
    for (int64_t j = j0; j < j1; j++) {
        for (int h = 0; h < c->n_heads; h++) {
            const float * ks = c->k + j * row + (int64_t) h * c->hd;
            const float * vs = c->v + j * row + (int64_t) h * c->hd;
            float * kd = pc->kt + (int64_t) h * c->hdp * pc->Lkp + j;
            for (int d = 0; d < c->hd; d++) {
                kd[d * pc->Lkp] = ks[d];
            }
            memcpy(pc->vt + ((int64_t) h * pc->Lkp + j) * c->hdp, vs, sizeof(float) * (size_t) c->hd);
        }
    }
}

struct task_ctx {
    const struct attn_ctx * c;
    const float * kt, * vt;
    int64_t Lkp;
    float * tiles;          // per thread: qt [QB][hdp], s [QB][KB], acc [QB][hdp]
    size_t tile_floats;     // floats per thread
};

// tile_scores reads a [hdp][KB] key tile with row stride KB: give it a strided view instead.
KE_MULTIVERSION
static void tile_scores_strided(float * restrict s, const float * restrict qt, const float * restrict kt,
                                int64_t ld, int hdp)
{
    for (int i0 = 0; i0 < QB; i0 += RB) {
        for (int j0 = 0; j0 < KB; j0 += 32) {
            v16 a0[RB], a1[RB];
            for (int r = 0; r < RB; r++) {
                a0[r] = (v16) { 0 };
                a1[r] = (v16) { 0 };
            }
            for (int d = 0; d < hdp; d++) {
                const v16 k0 = *(const v16 *) (kt + d * ld + j0);
                const v16 k1 = *(const v16 *) (kt + d * ld + j0 + 16);
                for (int r = 0; r < RB; r++) {
                    const float qv = qt[(i0 + r) * hdp + d];
                    a0[r] += qv * k0;
                    a1[r] += qv * k1;
                }
            }
            for (int r = 0; r < RB; r++) {
                *(v16 *) (s + (i0 + r) * KB + j0) = a0[r];
                *(v16 *) (s + (i0 + r) * KB + j0 + 16) = a1[r];
            }
        }
    }
}

// Online-softmax update of one score tile (rows < nq, columns < nk; bias rows of stride ldb or NULL):
// new running max m, rescale factor corr = exp(m_old - m_new), running sum l, and s = exp(s - m).
// Whole vectors of 16 with compare masks (GCC/clang vector extensions: no per-lane branches).
KE_MULTIVERSION
static void softmax_tile(float * restrict s, const float * restrict bias, int64_t ldb, int nq, int nk,
                         float * restrict m, float * restrict l, float * restrict corr)
{
    const v16 lo = (v16) { 0 } - 87.0f;
    for (int i = 0; i < QB; i++) {
        float * si = s + i * KB;
        if (i >= nq) {
            corr[i] = 0.0f;
            memset(si, 0, sizeof(float) * KB);
            continue;
        }
        if (bias) {
            const float * b = bias + i * ldb;
            for (int j = 0; j < nk; j++) {
                si[j] += b[j];
            }
        }
        for (int j = nk; j < KB; j++) {
            si[j] = -INFINITY;   // columns past the keys contribute exp(-inf) ~ 0
        }
        v16 vmax = *(const v16 *) si;
        for (int j = 16; j < KB; j += 16) {
            const v16 x = *(const v16 *) (si + j);
            const ke_v16i gt = x > vmax;
            vmax = (v16) (((ke_v16i) x & gt) | ((ke_v16i) vmax & ~gt));
        }
        float mx = m[i];
        for (int j = 0; j < 16; j++) {
            mx = vmax[j] > mx ? vmax[j] : mx;
        }
        v16 vsum = { 0 };
        for (int j = 0; j < KB; j += 16) {
            v16 x = *(const v16 *) (si + j) - mx;
            const ke_v16i small = x < lo;
            x = (v16) (((ke_v16i) lo & small) | ((ke_v16i) x & ~small));
            *(v16 *) (si + j) = x;
            ke_exp16(si + j);
            vsum += *(const v16 *) (si + j);
        }
        float sum = 0.0f;
        for (int j = 0; j < 16; j++) {
            sum += vsum[j];
        }
        // rescale the running sums to the new max (for numerical stability)
        corr[i] = expf(m[i] - mx);
        l[i] = l[i] * corr[i] + sum;
        m[i] = mx;
    }
}

static void attn_tasks(void * p, int64_t t0, int64_t t1, int tid)
{
    const struct task_ctx * tc = p;
    const struct attn_ctx * c = tc->c;
    const int hd = c->hd, hdp = c->hdp;
    const int64_t row = (int64_t) c->n_heads * hd;
    float * qt = tc->tiles + (size_t) tid * tc->tile_floats;
    float * s = qt + QB * hdp;
    float * acc = s + QB * KB;
    float m[QB], l[QB], corr[QB];
    memset(qt, 0, sizeof(float) * (size_t) (QB * hdp));   // the padding columns [hd, hdp) stay zero
    for (int64_t t = t0; t < t1; t++) {
        const int h = (int) (t / c->n_qblocks);
        const int64_t q0 = (t % c->n_qblocks) * QB;
        const int nq = (int) (c->Lq - q0 < QB ? c->Lq - q0 : QB);
        const float * kh = tc->kt + (int64_t) h * hdp * tc->Lkp;
        const float * vh = tc->vt + (int64_t) h * tc->Lkp * hdp;
        for (int i = 0; i < QB; i++) {
            float * dst = qt + i * hdp;
            if (i < nq) {
                const float * src = c->q + (q0 + i) * row + (int64_t) h * hd;
                for (int d = 0; d < hd; d++) {
                    dst[d] = src[d] * c->scale;
                }
            } else {
                memset(dst, 0, sizeof(float) * (size_t) hdp);   // results of padding rows are dropped
            }
            m[i] = -INFINITY;
            l[i] = 0.0f;
        }
        memset(acc, 0, sizeof(float) * (size_t) (QB * hdp));
        for (int64_t k0 = 0; k0 < c->Lk; k0 += KB) {
            const int nk = (int) (c->Lk - k0 < KB ? c->Lk - k0 : KB);
            tile_scores_strided(s, qt, kh + k0, tc->Lkp, hdp);
            const float * brow = c->bias ? c->bias + ((int64_t) h * c->Lq + q0) * c->Lk + k0 : NULL;
            softmax_tile(s, brow, c->Lk, nq, nk, m, l, corr);
            tile_pv(acc, s, vh + k0 * hdp, corr, nk, hdp);
        }
        for (int i = 0; i < nq; i++) {
            float * dst = c->o + (q0 + i) * row + (int64_t) h * hd;
            const float inv = 1.0f / l[i];
            for (int d = 0; d < hd; d++) {
                dst[d] = acc[i * hdp + d] * inv;
            }
        }
    }
}

void ke_cpu_attention(struct ke_backend * be, float * o, const float * q, const float * k, const float * v,
                      int64_t Lq, int64_t Lk, int n_heads, int head_dim, float scale, const float * bias)
{
    struct attn_ctx c = {
        .o = o, .q = q, .k = k, .v = v, .Lq = Lq, .Lk = Lk, .n_heads = n_heads, .hd = head_dim,
        .hdp = (head_dim + 31) & ~31, .scale = scale, .bias = bias, .n_qblocks = (Lq + QB - 1) / QB,
    };
    // keys and values laid out per head once (padded to whole tiles), shared by every query block
    const int64_t Lkp = (Lk + KB - 1) / KB * KB;
    // (the size of k and v themselves: allocated per call, not kept as scratch)
    struct pack_ctx pc = { .c = &c, .Lkp = Lkp };
    const size_t kv_bytes = (size_t) ((int64_t) n_heads * c.hdp * Lkp) * sizeof(float);
    pc.kt = ke_cpu_alloc_or_fail(be, kv_bytes, "attention keys re-laid per head");
    pc.vt = pc.kt ? ke_cpu_alloc_or_fail(be, kv_bytes, "attention values re-laid per head") : NULL;
    // per-thread tiles (a few hundred KiB in all) from the backend's scratch
    const size_t tile_floats = (size_t) (2 * QB * c.hdp + QB * KB);
    const int n_threads = ke_get_threads();
    float * tiles = pc.vt ? ke_cpu_scratch(be, (size_t) n_threads * tile_floats * sizeof(float), "attention tiles")
                          : NULL;
    if (tiles) {
        memset(pc.kt, 0, kv_bytes);   // padding rows and columns contribute zeros
        memset(pc.vt, 0, kv_bytes);
        ke_parallel_for(Lk, 64, pack_rows, &pc);
        struct task_ctx tc = { .c = &c, .kt = pc.kt, .vt = pc.vt, .Lkp = Lkp, .tiles = tiles,
                               .tile_floats = tile_floats };
        ke_parallel_for((int64_t) n_heads * c.n_qblocks, 1, attn_tasks, &tc);
        ke_cpu_scratch_done(be);
    }
    free(pc.kt);
    free(pc.vt);
}
