// Kinora engine: CPU attention as a tiled online-softmax kernel (flash-attention style): each task
// takes one head and a block of queries, walks the keys in tiles, and keeps only a running max,
// running sum and output accumulator, so the full [Lq, Lk] score matrix never exists.
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu-impl.h"
#include "core/threadpool.h"

#define QB 32     // queries per task
#define KB 128    // keys per tile

struct attn_ctx {
    float * o;
    const float * q, * k, * v;
    int64_t Lq, Lk;
    int n_heads, hd;
    float scale;
    const float * bias;
    int64_t n_qblocks;
};

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define KE_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define KE_MULTIVERSION
#endif

// s[i][j] = sum_d q[i][d] * kt[d][j] for a tile (kt: keys transposed, [hd][KB])
KE_MULTIVERSION
static void tile_scores(float * restrict s, const float * restrict qt, const float * restrict kt,
                        int nq, int nk, int hd)
{
    for (int i = 0; i < nq; i++) {
        float * restrict si = s + i * KB;
        for (int j = 0; j < KB; j++) {
            si[j] = 0.0f;
        }
        const float * restrict qi = qt + i * hd;
        for (int d = 0; d < hd; d++) {
            const float qd = qi[d];
            const float * restrict kd = kt + d * KB;
            for (int j = 0; j < KB; j++) {
                si[j] += qd * kd[j];
            }
        }
    }
    (void) nk;
}

// acc[i][:] = acc[i][:] * corr[i] + sum_j p[i][j] * v[j][:]
KE_MULTIVERSION
static void tile_pv(float * restrict acc, const float * restrict p, const float * restrict vt,
                    const float * restrict corr, int nq, int nk, int hd)
{
    for (int i = 0; i < nq; i++) {
        float * restrict ai = acc + i * hd;
        const float c = corr[i];
        for (int d = 0; d < hd; d++) {
            ai[d] *= c;
        }
        const float * restrict pi = p + i * KB;
        for (int j = 0; j < nk; j++) {
            const float pj = pi[j];
            const float * restrict vj = vt + j * hd;
            for (int d = 0; d < hd; d++) {
                ai[d] += pj * vj[d];
            }
        }
    }
}

static void attn_tasks(void * p, int64_t t0, int64_t t1, int tid)
{
    (void) tid;
    const struct attn_ctx * c = p;
    const int hd = c->hd;
    const int64_t row = (int64_t) c->n_heads * hd;
    float * qt = malloc(sizeof(float) * (size_t) (QB * hd));
    float * kt = malloc(sizeof(float) * (size_t) (hd * KB));
    float * vt = malloc(sizeof(float) * (size_t) (KB * hd));
    float * s = malloc(sizeof(float) * (size_t) (QB * KB));
    float * acc = malloc(sizeof(float) * (size_t) (QB * hd));
    float m[QB], l[QB], corr[QB];
    if (!qt || !kt || !vt || !s || !acc) {
        abort();   // a few KiB per thread; nothing sensible to do without them
    }
    for (int64_t t = t0; t < t1; t++) {
        const int h = (int) (t / c->n_qblocks);
        const int64_t q0 = (t % c->n_qblocks) * QB;
        const int nq = (int) (c->Lq - q0 < QB ? c->Lq - q0 : QB);
        for (int i = 0; i < nq; i++) {
            const float * src = c->q + (q0 + i) * row + (int64_t) h * hd;
            for (int d = 0; d < hd; d++) {
                qt[i * hd + d] = src[d] * c->scale;
            }
            m[i] = -INFINITY;
            l[i] = 0.0f;
        }
        memset(acc, 0, sizeof(float) * (size_t) (nq * hd));
        for (int64_t k0 = 0; k0 < c->Lk; k0 += KB) {
            const int nk = (int) (c->Lk - k0 < KB ? c->Lk - k0 : KB);
            for (int j = 0; j < KB; j++) {
                if (j < nk) {
                    const float * ks = c->k + (k0 + j) * row + (int64_t) h * hd;
                    const float * vs = c->v + (k0 + j) * row + (int64_t) h * hd;
                    for (int d = 0; d < hd; d++) {
                        kt[d * KB + j] = ks[d];
                    }
                    memcpy(vt + j * hd, vs, sizeof(float) * (size_t) hd);
                } else {
                    for (int d = 0; d < hd; d++) {
                        kt[d * KB + j] = 0.0f;
                    }
                }
            }
            tile_scores(s, qt, kt, nq, nk, hd);
            for (int i = 0; i < nq; i++) {
                float * si = s + i * KB;
                if (c->bias) {
                    const float * b = c->bias + ((int64_t) h * c->Lq + q0 + i) * c->Lk + k0;
                    for (int j = 0; j < nk; j++) {
                        si[j] += b[j];
                    }
                }
                float mx = m[i];
                for (int j = 0; j < nk; j++) {
                    mx = si[j] > mx ? si[j] : mx;
                }
                // rescale the running sums to the new max (for numerical stability)
                corr[i] = expf(m[i] - mx);
                float sum = 0.0f;
                for (int j = 0; j < nk; j++) {
                    si[j] = expf(si[j] - mx);
                    sum += si[j];
                }
                l[i] = l[i] * corr[i] + sum;
                m[i] = mx;
            }
            tile_pv(acc, s, vt, corr, nq, nk, hd);
        }
        for (int i = 0; i < nq; i++) {
            float * dst = c->o + (q0 + i) * row + (int64_t) h * hd;
            const float inv = 1.0f / l[i];
            for (int d = 0; d < hd; d++) {
                dst[d] = acc[i * hd + d] * inv;
            }
        }
    }
    free(qt);
    free(kt);
    free(vt);
    free(s);
    free(acc);
}

void ke_cpu_attention(struct ke_backend * be, float * o, const float * q, const float * k, const float * v,
                      int64_t Lq, int64_t Lk, int n_heads, int head_dim, float scale, const float * bias)
{
    (void) be;
    struct attn_ctx c = {
        .o = o, .q = q, .k = k, .v = v, .Lq = Lq, .Lk = Lk, .n_heads = n_heads, .hd = head_dim,
        .scale = scale, .bias = bias, .n_qblocks = (Lq + QB - 1) / QB,
    };
    ke_parallel_for((int64_t) n_heads * c.n_qblocks, 1, attn_tasks, &c);
}
