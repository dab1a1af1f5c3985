// Kinora engine: CPU conv3d. Three algorithms behind one op:
//  - im2col: implicit GEMM (im2col of a block of output positions, then OpenBLAS sgemm with the f32
//    weight [Cout, Cin*kt*kh*kw]); 1x1x1 convs are one GEMM. Always available, exact fp32.
//  - oneDNN f32 direct convolution (blocked layouts, weights reordered once): exact fp32 too.
//  - oneDNN bf16 (be->precision == KE_PRECISION_BF16): bf16 inputs/weights, f32 accumulation and output.
// Measured on the VAE's layer shapes (kinora-bench vae22-decode --conv); the fastest is the default.
#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cpu/cpu-impl.h"
#include "core/error.h"
#include "core/pages.h"
#include "core/threadpool.h"

struct ke_conv_prep {
    const float * w;    // [Cout, K] f32 (the stored weight, or w_own)
    float * w_own;      // converted copy when the stored weight is not f32
    float * bias;       // [Cout] f32 or NULL
    void * dnnl;        // oneDNN primitive state or NULL
    bool dnnl_small;    // use oneDNN for small convs too (else those stay on im2col: no JIT per shape)
};

// Both backends default to oneDNN (f32 direct convolution on the exact one, bf16 on the fast one).
// kinora-bench vae22-decode --conv, 2 threads (GFLOP/s, im2col+sgemm / oneDNN f32 / oneDNN bf16):
// 1024ch 3x3x3 at 44x80: 130 / 289 / 700; 512ch at 176x320: 133 / 236 / 430; 256ch at 352x640:
// 133 / 198 / 351; time conv 1024->2048: 191 / 195 / 671. On the exact backend, convs under CONV_DNNL_MIN_FLOP stay on im2col unless oneDNN is forced:
// building a oneDNN primitive per input shape costs more than such a conv.
#define KE_CONV_EXACT_DEFAULT KE_CONV_DNNL
#define CONV_DNNL_MIN_FLOP 2e9

static int g_algo = KE_CONV_AUTO;

void ke_cpu_conv3d_set_algo(int algo)
{
    g_algo = algo;
}

#ifdef KE_HAVE_DNNL
static int dnnl_prepare(struct ke_conv3d * c, struct ke_conv_prep * p, bool bf16);
static void dnnl_release(struct ke_conv_prep * p);
static int dnnl_conv(float * y, const float * x, const struct ke_conv3d * c, int T, int H, int W, int pt0, int pt1,
                     int ph, int pw, int st, int sh, int sw);
#endif

// Largest im2col block, in floats (16 MiB): big enough for full-speed GEMMs, small enough for L3/RAM.
#define COL_BUDGET (4 << 20)

int ke_cpu_conv3d_prepare(struct ke_backend * be, struct ke_conv3d * c)
{
    c->owner = be;
    c->prepared = NULL;
    struct ke_conv_prep * p = calloc(1, sizeof(*p));
    if (!p) {
        return -1;
    }
    const int64_t K = (int64_t) c->c_in * c->kt * c->kh * c->kw;
#ifdef KE_HAVE_DNNL
    // the fast backend runs every conv through oneDNN, which reorders the stored weights itself: no f32 copy
    const bool lazy_f32 = be->precision == KE_PRECISION_BF16 && g_algo != KE_CONV_IM2COL;
#else
    const bool lazy_f32 = false;
#endif
    if (c->w->type == KE_DTYPE_F32) {
        p->w = c->w->data;
    } else if (!lazy_f32) {
        p->w_own = malloc((size_t) (c->c_out * K) * sizeof(float));
        if (!p->w_own) {
            free(p);
            return -1;
        }
        ke_convert_to_f32(p->w_own, c->w->data, c->w->type, c->w->scale, (size_t) (c->c_out * K));
        p->w = p->w_own;
        // only the f32 copy is read from now on: the stored weight's mapped pages leave the resident set
        ke_pages_release(c->w->data, (size_t) (c->c_out * K) * ke_dtype_size(c->w->type));
    }
    if (c->b) {
        p->bias = malloc((size_t) c->c_out * sizeof(float));
        if (!p->bias) {
            free(p->w_own);
            free(p);
            return -1;
        }
        ke_convert_to_f32(p->bias, c->b->data, c->b->type, c->b->scale, (size_t) c->c_out);
    }
    c->prepared = p;
#ifdef KE_HAVE_DNNL
    const bool fast = be->precision == KE_PRECISION_BF16;
    const int algo = g_algo != KE_CONV_AUTO ? g_algo : fast ? KE_CONV_DNNL : KE_CONV_EXACT_DEFAULT;
    if (algo == KE_CONV_DNNL || algo == KE_CONV_DNNL_F32) {
        dnnl_prepare(c, p, fast && algo == KE_CONV_DNNL);   // failure leaves im2col in use
        p->dnnl_small = g_algo != KE_CONV_AUTO || fast;
    }
#endif
    return 0;
}

void ke_cpu_conv3d_release(struct ke_backend * be, struct ke_conv3d * c)
{
    (void) be;
    struct ke_conv_prep * p = c->prepared;
    if (!p) {
        return;
    }
#ifdef KE_HAVE_DNNL
    dnnl_release(p);
#endif
    free(p->w_own);
    free(p->bias);
    free(p);
    c->prepared = NULL;
}

// --- im2col --------------------------------------------------------------------------------------

struct col_ctx {
    float * col;                 // [K, nb]
    const float * x;             // [Cin, T, H, W]
    const struct ke_conv3d * c;
    int T, H, W, To, Ho, Wo, pt0, ph, pw, st, sh, sw;
    int64_t n0, nb;
};

static void col_rows(void * p, int64_t k0, int64_t k1, int tid)
{
    (void) tid;
    const struct col_ctx * c = p;
    const int kt = c->c->kt, kh = c->c->kh, kw = c->c->kw;
    const int64_t HoWo = (int64_t) c->Ho * c->Wo;
    for (int64_t k = k0; k < k1; k++) {
        const int j = (int) (k % kw), i = (int) ((k / kw) % kh), a = (int) ((k / ((int64_t) kw * kh)) % kt);
        const int64_t ci = k / ((int64_t) kw * kh * kt);
        float * dst = c->col + k * c->nb;
        int64_t n = c->n0;
        const int64_t n_end = c->n0 + c->nb;
        while (n < n_end) {
            // one output row segment: (to, yy, xx .. Wo)
            const int to = (int) (n / HoWo);
            const int yy = (int) ((n / c->Wo) % c->Ho);
            const int x0 = (int) (n % c->Wo);
            int cnt = c->Wo - x0;
            if (cnt > n_end - n) {
                cnt = (int) (n_end - n);
            }
            const int ti = to * c->st + a - c->pt0;
            const int yi = yy * c->sh + i - c->ph;
            if (ti < 0 || ti >= c->T || yi < 0 || yi >= c->H) {
                memset(dst, 0, (size_t) cnt * sizeof(float));
            } else {
                const float * row = c->x + (((int64_t) ci * c->T + ti) * c->H + yi) * c->W;
                for (int q = 0; q < cnt; q++) {
                    const int xi = (x0 + q) * c->sw + j - c->pw;
                    dst[q] = (xi >= 0 && xi < c->W) ? row[xi] : 0.0f;
                }
            }
            dst += cnt;
            n += cnt;
        }
    }
}

struct bias_ctx {
    float * y;
    const float * b;
    int64_t N;
};

static void bias_rows(void * p, int64_t r0, int64_t r1, int tid)
{
    (void) tid;
    const struct bias_ctx * c = p;
    for (int64_t r = r0; r < r1; r++) {
        float * y = c->y + r * c->N;
        const float b = c->b[r];
        for (int64_t i = 0; i < c->N; i++) {
            y[i] += b;
        }
    }
}

static void conv3d_exact(struct ke_backend * be, float * y, const float * x, const struct ke_conv3d * c, int T,
                         int H, int W, int pt0, int pt1, int ph, int pw, int st, int sh, int sw)
{
    const struct ke_conv_prep * p = c->prepared;
    const int To = (T + pt0 + pt1 - c->kt) / st + 1;
    const int Ho = (H + 2 * ph - c->kh) / sh + 1;
    const int Wo = (W + 2 * pw - c->kw) / sw + 1;
    const int64_t N = (int64_t) To * Ho * Wo;
    const int64_t K = (int64_t) c->c_in * c->kt * c->kh * c->kw;
    float * wtmp = NULL;
    const float * w = p ? p->w : NULL;
    if (!w) {
        // not prepared (tests, one-off calls) or a bf16-only preparation: convert on the fly
        if (c->w->type == KE_DTYPE_F32) {
            w = c->w->data;
        } else {
            wtmp = ke_cpu_alloc_or_fail(be, (size_t) (c->c_out * K) * sizeof(float), "conv3d weights in f32");
            if (!wtmp) {
                return;
            }
            ke_convert_to_f32(wtmp, c->w->data, c->w->type, c->w->scale, (size_t) (c->c_out * K));
            w = wtmp;
        }
    }
    if (ke_cpu_blas_enter(be) != 0) {
        free(wtmp);
        return;
    }
    if (K == c->c_in && pt0 == 0 && pt1 == 0 && st == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0) {
        // 1x1x1: y[Cout, N] = W[Cout, Cin] x[Cin, N]
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->c_out, (blasint) N, (blasint) K, 1.0f, w,
                    (blasint) K, x, (blasint) N, 0.0f, y, (blasint) N);
    } else {
        int64_t nb = COL_BUDGET / K;
        if (nb < 16) {
            nb = 16;
        }
        if (nb > N) {
            nb = N;
        }
        float * col = ke_cpu_scratch(be, (size_t) (K * nb) * sizeof(float), "conv3d im2col block");
        if (!col) {
            ke_cpu_blas_leave();
            free(wtmp);
            return;
        }
        for (int64_t n0 = 0; n0 < N; n0 += nb) {
            const int64_t cnt = N - n0 < nb ? N - n0 : nb;
            struct col_ctx cc = { col, x, c, T, H, W, To, Ho, Wo, pt0, ph, pw, st, sh, sw, n0, cnt };
            ke_parallel_for(K, 1 + 65536 / (cnt + 1), col_rows, &cc);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->c_out, (blasint) cnt, (blasint) K, 1.0f, w,
                        (blasint) K, col, (blasint) cnt, 0.0f, y + n0, (blasint) N);
        }
        ke_cpu_scratch_done(be);
    }
    ke_cpu_blas_leave();
    free(wtmp);
    float * btmp = NULL;
    const float * b = p ? p->bias : NULL;
    if (!p && c->b) {
        btmp = ke_cpu_alloc_or_fail(be, (size_t) c->c_out * sizeof(float), "conv3d bias in f32");
        if (!btmp) {
            return;
        }
        ke_convert_to_f32(btmp, c->b->data, c->b->type, c->b->scale, (size_t) c->c_out);
        b = btmp;
    }
    if (b) {
        struct bias_ctx bc = { y, b, N };
        ke_parallel_for(c->c_out, 1 + 65536 / (N + 1), bias_rows, &bc);
    }
    free(btmp);
}

void ke_cpu_conv3d(struct ke_backend * be, float * y, const float * x, const struct ke_conv3d * c,
                   int T, int H, int W, int pt0, int pt1, int ph, int pw, int st, int sh, int sw)
{
#ifdef KE_HAVE_DNNL
    // (a oneDNN run that cannot get its memory falls back to im2col, which needs less)
    const struct ke_conv_prep * p = c->prepared;
    const double flop = 2.0 * c->c_out * c->c_in * c->kt * c->kh * c->kw * (double) ((T + pt0 + pt1 - c->kt) / st + 1) *
                        ((H + 2 * ph - c->kh) / sh + 1) * ((W + 2 * pw - c->kw) / sw + 1);
    if (p && p->dnnl && (p->dnnl_small || flop >= CONV_DNNL_MIN_FLOP) &&
        dnnl_conv(y, x, c, T, H, W, pt0, pt1, ph, pw, st, sh, sw) == 0) {
        return;
    }
#endif
    conv3d_exact(be, y, x, c, T, H, W, pt0, pt1, ph, pw, st, sh, sw);
}

// --- oneDNN --------------------------------------------------------------------------------------

#ifdef KE_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#include <sys/mman.h>
#include <unistd.h>

// After the reorder only oneDNN's copy is read: let the kernel reclaim the stored weight's pages. For
// a mapped checkpoint they drop out of the resident set and fault back in from the file if read again;
// anonymous memory is kept (no swap) or swapped. Contents never change.
static void pageout(const void * p, size_t n)
{
#ifdef MADV_PAGEOUT
    const uintptr_t pg = (uintptr_t) sysconf(_SC_PAGESIZE);
    const uintptr_t a = ((uintptr_t) p + pg - 1) & ~(pg - 1), e = ((uintptr_t) p + n) & ~(pg - 1);
    if (e > a) {
        madvise((void *) a, e - a, MADV_PAGEOUT);
    }
#else
    (void) p;
    (void) n;
#endif
}

#define CONV_PRIMS 6

struct conv_prim {
    int key[10];                       // T, H, W, pt0, pt1, ph, pw, st, sh, sw
    dnnl_primitive_t conv, src_re, dst_re;   // src_re / dst_re NULL when the user layout is used as is
    dnnl_memory_desc_t user_src, user_dst, src, dst, wei;
    void * wei_buf;                    // reordered weights (owned when wei_own)
    bool wei_own;
};

struct conv_dnnl {
    bool bf16;
    struct conv_prim prims[CONV_PRIMS];
    int n_prims;
    pthread_mutex_t mu;
};

static dnnl_engine_t g_eng;
static dnnl_stream_t g_stream;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_ok;

static void dnnl_once(void)
{
    if (dnnl_engine_create(&g_eng, dnnl_cpu, 0) == dnnl_success &&
        dnnl_stream_create(&g_stream, g_eng, dnnl_stream_default_flags) == dnnl_success) {
        g_ok = 1;
    }
}

static int dnnl_prepare(struct ke_conv3d * c, struct ke_conv_prep * p, bool bf16)
{
    pthread_once(&g_once, dnnl_once);
    if (!g_ok) {
        return -1;
    }
    struct conv_dnnl * d = calloc(1, sizeof(*d));
    if (!d) {
        return -1;
    }
    d->bf16 = bf16;
    pthread_mutex_init(&d->mu, NULL);
    p->dnnl = d;
    (void) c;
    return 0;
}

static void prim_clear(struct conv_prim * q)
{
    dnnl_primitive_destroy(q->conv);
    dnnl_primitive_destroy(q->src_re);
    dnnl_primitive_destroy(q->dst_re);
    if (q->wei_own) {
        free(q->wei_buf);
    }
    memset(q, 0, sizeof(*q));
}

static void dnnl_release(struct ke_conv_prep * p)
{
    struct conv_dnnl * d = p->dnnl;
    if (!d) {
        return;
    }
    for (int i = 0; i < d->n_prims; i++) {
        prim_clear(&d->prims[i]);
    }
    pthread_mutex_destroy(&d->mu);
    free(d);
    p->dnnl = NULL;
}

static int run_reorder(dnnl_primitive_t re, const dnnl_memory_desc_t * smd, const void * src,
                       const dnnl_memory_desc_t * dmd, void * dst)
{
    dnnl_memory_t ms = NULL, md = NULL;
    int rc = -1;
    if (dnnl_memory_create(&ms, smd, g_eng, (void *) src) == dnnl_success &&
        dnnl_memory_create(&md, dmd, g_eng, dst) == dnnl_success) {
        dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, ms }, { DNNL_ARG_TO, md } };
        if (dnnl_primitive_execute(re, g_stream, 2, args) == dnnl_success &&
            dnnl_stream_wait(g_stream) == dnnl_success) {
            rc = 0;
        }
    }
    dnnl_memory_destroy(ms);
    dnnl_memory_destroy(md);
    return rc;
}

static int make_reorder(dnnl_primitive_t * out, const dnnl_memory_desc_t * a, const dnnl_memory_desc_t * b)
{
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_reorder_primitive_desc_create(&pd, a, g_eng, b, g_eng, NULL) != dnnl_success) {
        return -1;
    }
    int rc = dnnl_primitive_create(out, pd) == dnnl_success ? 0 : -1;
    dnnl_primitive_desc_destroy(pd);
    return rc;
}

// Build (or find) the primitive for one input shape. Called under d->mu.
static struct conv_prim * get_prim(struct conv_dnnl * d, const struct ke_conv3d * c, const struct ke_conv_prep * p,
                                   const int key[10])
{
    for (int i = 0; i < d->n_prims; i++) {
        if (memcmp(d->prims[i].key, key, sizeof(d->prims[i].key)) == 0) {
            return &d->prims[i];
        }
    }
    if (d->n_prims == CONV_PRIMS) {
        prim_clear(&d->prims[--d->n_prims]);
    }
    struct conv_prim * q = &d->prims[d->n_prims];
    memset(q, 0, sizeof(*q));
    memcpy(q->key, key, sizeof(q->key));
    const int T = key[0], H = key[1], W = key[2], pt0 = key[3], pt1 = key[4], ph = key[5], pw = key[6];
    const int st = key[7], sh = key[8], sw = key[9];
    const int To = (T + pt0 + pt1 - c->kt) / st + 1, Ho = (H + 2 * ph - c->kh) / sh + 1;
    const int Wo = (W + 2 * pw - c->kw) / sw + 1;
    const dnnl_data_type_t dt = d->bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_dims_t sd = { 1, c->c_in, T, H, W }, wd = { c->c_out, c->c_in, c->kt, c->kh, c->kw }, bd = { c->c_out };
    dnnl_dims_t dd = { 1, c->c_out, To, Ho, Wo };
    dnnl_dims_t strides = { st, sh, sw }, pl = { pt0, ph, pw };
    dnnl_dims_t pr = { (To - 1) * st + c->kt - T - pt0, (Ho - 1) * sh + c->kh - H - ph,
                       (Wo - 1) * sw + c->kw - W - pw };
    dnnl_memory_desc_t s_any, w_any, b_md, d_any, user_w;
    dnnl_memory_desc_init_by_tag(&q->user_src, 5, sd, dnnl_f32, dnnl_ncdhw);
    dnnl_memory_desc_init_by_tag(&q->user_dst, 5, dd, dnnl_f32, dnnl_ncdhw);
    const bool w_direct = c->w->type == KE_DTYPE_F32 || c->w->type == KE_DTYPE_BF16;
    dnnl_memory_desc_init_by_tag(&user_w, 5, wd, c->w->type == KE_DTYPE_BF16 ? dnnl_bf16 : dnnl_f32, dnnl_oidhw);
    dnnl_memory_desc_init_by_tag(&s_any, 5, sd, dt, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&w_any, 5, wd, dt, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_a);
    dnnl_memory_desc_init_by_tag(&d_any, 5, dd, dnnl_f32, dnnl_format_tag_any);
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &s_any, &w_any,
                                           p->bias ? &b_md : NULL, &d_any, strides, pl, pr) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &cd, NULL, g_eng, NULL) != dnnl_success) {
        return NULL;
    }
    q->src = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    q->dst = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    q->wei = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    int rc = dnnl_primitive_create(&q->conv, pd) == dnnl_success ? 0 : -1;
    dnnl_primitive_desc_destroy(pd);
    if (rc == 0 && !dnnl_memory_desc_equal(&q->src, &q->user_src)) {
        rc = make_reorder(&q->src_re, &q->user_src, &q->src);
    }
    if (rc == 0 && !dnnl_memory_desc_equal(&q->dst, &q->user_dst)) {
        rc = make_reorder(&q->dst_re, &q->dst, &q->user_dst);
    }
    // weights: share an earlier primitive's reordered copy when the layouts agree
    for (int i = 0; rc == 0 && i < d->n_prims && !q->wei_buf; i++) {
        if (dnnl_memory_desc_equal(&d->prims[i].wei, &q->wei)) {
            q->wei_buf = d->prims[i].wei_buf;
        }
    }
    if (rc == 0 && !q->wei_buf) {
        dnnl_primitive_t re = NULL;
        q->wei_buf = malloc(dnnl_memory_desc_get_size(&q->wei));
        q->wei_own = true;
        // stored f32 / bf16 weights are read in place; other dtypes go through a temporary f32 copy
        float * tmp = NULL;
        const size_t nw = (size_t) c->c_out * c->c_in * c->kt * c->kh * c->kw;
        if (!w_direct && (tmp = malloc(nw * sizeof(float)))) {
            ke_convert_to_f32(tmp, c->w->data, c->w->type, c->w->scale, nw);
        }
        const void * wsrc = w_direct ? c->w->data : tmp;
        rc = q->wei_buf && wsrc && make_reorder(&re, &user_w, &q->wei) == 0 &&
             run_reorder(re, &user_w, wsrc, &q->wei, q->wei_buf) == 0 ? 0 : -1;
        dnnl_primitive_destroy(re);
        free(tmp);
        if (rc == 0) {
            pageout(c->w->data, ke_tensor_nbytes(c->w));
        }
    }
    if (rc != 0) {
        prim_clear(q);
        return NULL;
    }
    d->n_prims++;
    return q;
}

static int dnnl_conv(float * y, const float * x, const struct ke_conv3d * c, int T, int H, int W, int pt0, int pt1,
                     int ph, int pw, int st, int sh, int sw)
{
    const struct ke_conv_prep * p = c->prepared;
    struct conv_dnnl * d = p->dnnl;
    const int key[10] = { T, H, W, pt0, pt1, ph, pw, st, sh, sw };
    pthread_mutex_lock(&d->mu);
    struct conv_prim * q = get_prim(d, c, p, key);
    int rc = -1;
    void * sbuf = NULL, * dbuf = NULL;
    dnnl_memory_t ms = NULL, mw = NULL, mb = NULL, md = NULL;
    if (!q) {
        goto out;
    }
    const void * src = x;
    if (q->src_re) {
        if (!(sbuf = malloc(dnnl_memory_desc_get_size(&q->src))) ||
            run_reorder(q->src_re, &q->user_src, x, &q->src, sbuf) != 0) {
            goto out;
        }
        src = sbuf;
    }
    void * dst = y;
    if (q->dst_re && !(dst = dbuf = malloc(dnnl_memory_desc_get_size(&q->dst)))) {
        goto out;
    }
    dnnl_memory_desc_t b_md;
    dnnl_dims_t bd = { c->c_out };
    dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_a);
    if (dnnl_memory_create(&ms, &q->src, g_eng, (void *) src) != dnnl_success ||
        dnnl_memory_create(&mw, &q->wei, g_eng, q->wei_buf) != dnnl_success ||
        dnnl_memory_create(&md, &q->dst, g_eng, dst) != dnnl_success ||
        (p->bias && dnnl_memory_create(&mb, &b_md, g_eng, p->bias) != dnnl_success)) {
        goto out;
    }
    dnnl_exec_arg_t args[4] = {
        { DNNL_ARG_SRC, ms }, { DNNL_ARG_WEIGHTS, mw }, { DNNL_ARG_DST, md }, { DNNL_ARG_BIAS, mb },
    };
    if (dnnl_primitive_execute(q->conv, g_stream, p->bias ? 4 : 3, args) != dnnl_success ||
        dnnl_stream_wait(g_stream) != dnnl_success) {
        goto out;
    }
    rc = q->dst_re ? run_reorder(q->dst_re, &q->dst, dbuf, &q->user_dst, y) : 0;
out:
    pthread_mutex_unlock(&d->mu);
    dnnl_memory_destroy(ms);
    dnnl_memory_destroy(mw);
    dnnl_memory_destroy(mb);
    dnnl_memory_destroy(md);
    free(sbuf);
    free(dbuf);
    return rc;
}
#endif // KE_HAVE_DNNL
