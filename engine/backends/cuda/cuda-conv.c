// Kinora engine: conv3d through cuDNN, in one of three layouts (KINORA_CUDA_CONV for every conv; unset: bf16
// for a conv the model prepared narrow, ncdhw for the others):
//  - ncdhw: f32 NCDHW tensors as the table stores them (no transposes), TF32 math;
//  - f32: f32 channels-last (NDHWC), TF32 math (measured 2 % faster on the 720p VAE decode, but it
//    keeps a second weight copy);
//  - bf16: bf16 channels-last with fp32 accumulation: fastest, but bf16 rounding at every layer puts
//    the tiny VAE fixtures at ~2e-2, so not the default.
// The channels-last layouts transpose the f32 [C, T, H, W] activations on the way in (with the
// temporal zero padding, which cuDNN only does symmetrically) and back on the way out (with the
// bias). Weights are uploaded once; descriptors and algorithms are cached per shape; a layer cuDNN has
// no channels-last engine for falls back to NCDHW.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/cuda-backend.h"
#include "backends/cuda/cuda-ltx.h"
#include "core/error.h"

#define CONV_PLANS 16

// layouts: 0 f32 NCDHW; 1 bf16 NDHWC; 2 f32 NDHWC (channels last, TF32 math)
struct conv_plan {
    int mode;
    int T, H, W, pt, ph, pw, st, sh, sw;   // pt: symmetric temporal pad given to cuDNN
    cudnnTensorDescriptor_t xd, yd;
    cudnnConvolutionDescriptor_t cd;
    cudnnConvolutionFwdAlgo_t algo;
    size_t ws;
    int To, Ho, Wo;
    int timed;       // the algorithm was picked by timing them (kc_ltx_conv3d), not by the heuristic
};

struct kc_conv {
    int mode;        // the layout (above) this layer runs in
    float * w;
    float * b;
    void * wb;       // channels-last copy [Cout, kt, kh, kw, Cin] in the mode's type (NULL: NCDHW only)
    int no_bf16;     // channels-last failed for this layer: NCDHW from now on
    size_t bytes;
    cudnnFilterDescriptor_t wd, wdb;
    struct conv_plan plans[CONV_PLANS];
    int n_plans;
};

int kc_conv3d_prepare(struct ke_backend * be, struct ke_conv3d * c)
{
    struct kc_state * s = kc_st(be);
    const int64_t n = (int64_t) c->c_out * c->c_in * c->kt * c->kh * c->kw;
    if (!c->w || ke_tensor_nelements(c->w) != n) {
        ke_log(0, "cuda backend: conv weight %s does not hold %lld values", c->w && c->w->name ? c->w->name : "?",
               (long long) n);
        return -1;
    }
    struct kc_conv * p = calloc(1, sizeof(*p));
    float * hw = ke_tensor_to_f32_alloc(c->w);
    float * hb = c->b ? ke_tensor_to_f32_alloc(c->b) : NULL;
    int rc = (p && hw && (!c->b || hb)) ? 0 : -1;
    const int mode = s->conv_mode >= 0 ? s->conv_mode : c->narrow ? 1 : 0;
    if (rc == 0) {
        p->mode = mode;
        p->bytes = (size_t) n * 4 + (c->b ? (size_t) c->c_out * 4 : 0);
        if (kc_budget_fit(s, p->bytes + (mode ? (size_t) n * 4 : 0)) != 0) {
            kc_fail_nomem(s, c->w->name ? c->w->name : "a conv3d weight", p->bytes);
            rc = -1;
        } else if (cudaMalloc((void **) &p->w, (size_t) n * 4) != cudaSuccess ||
            kc_h2d(s, p->w, hw, (size_t) n * 4) != cudaSuccess ||
            (hb && (cudaMalloc((void **) &p->b, (size_t) c->c_out * 4) != cudaSuccess ||
                    kc_h2d(s, p->b, hb, (size_t) c->c_out * 4) != cudaSuccess))) {
            rc = -1;
        }
    }
    const int fd[5] = { c->c_out, c->c_in, c->kt, c->kh, c->kw };
    if (rc == 0 && (cudnnCreateFilterDescriptor(&p->wd) != CUDNN_STATUS_SUCCESS ||
                    cudnnSetFilterNdDescriptor(p->wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, 5, fd) !=
                        CUDNN_STATUS_SUCCESS)) {
        rc = -1;
    }
    if (rc == 0 && mode != 0) {
        // channels-last copy [Cout, kt, kh, kw, Cin] (bf16 or f32)
        const int bf = mode == 1;
        const size_t es = bf ? 2 : 4;
        const int64_t ks = (int64_t) c->kt * c->kh * c->kw;
        void * hwb = malloc((size_t) n * es);
        const int fdb[5] = { c->c_out, c->c_in, c->kt, c->kh, c->kw };
        if (hwb) {
            for (int64_t o = 0; o < c->c_out; o++) {
                for (int64_t i = 0; i < c->c_in; i++) {
                    for (int64_t k = 0; k < ks; k++) {
                        const float v = hw[(o * c->c_in + i) * ks + k];
                        if (bf) {
                            ((uint16_t *) hwb)[(o * ks + k) * c->c_in + i] = ke_f32_to_bf16(v);
                        } else {
                            ((float *) hwb)[(o * ks + k) * c->c_in + i] = v;
                        }
                    }
                }
            }
            if (cudaMalloc(&p->wb, (size_t) n * es) != cudaSuccess ||
                kc_h2d(s, p->wb, hwb, (size_t) n * es) != cudaSuccess ||
                cudnnCreateFilterDescriptor(&p->wdb) != CUDNN_STATUS_SUCCESS ||
                cudnnSetFilterNdDescriptor(p->wdb, bf ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, 5,
                                           fdb) != CUDNN_STATUS_SUCCESS) {
                cudaGetLastError();
                cudaFree(p->wb);
                p->wb = NULL;
            } else {
                p->bytes += (size_t) n * es;
            }
        }
        free(hwb);
    }
    free(hw);
    free(hb);
    if (rc != 0) {
        cudaGetLastError();
        if (p) {
            cudaFree(p->w);
            cudaFree(p->b);
            free(p);
        }
        ke_log(0, "cuda backend: preparing conv %s failed", c->w->name ? c->w->name : "?");
        return -1;
    }
    c->prepared = p;
    c->owner = be;
    s->weights += p->bytes;
    s->in_use += p->bytes;
    if (s->in_use > s->peak) {
        s->peak = s->in_use;
    }
    return 0;
}

void kc_conv3d_release(struct ke_backend * be, struct ke_conv3d * c)
{
    struct kc_state * s = kc_st(be);
    struct kc_conv * p = c->prepared;
    if (!p || c->owner != be) {
        return;
    }
    cudaStreamSynchronize(s->stream);
    for (int i = 0; i < p->n_plans; i++) {
        cudnnDestroyTensorDescriptor(p->plans[i].xd);
        cudnnDestroyTensorDescriptor(p->plans[i].yd);
        cudnnDestroyConvolutionDescriptor(p->plans[i].cd);
    }
    cudnnDestroyFilterDescriptor(p->wd);
    if (p->wdb) {
        cudnnDestroyFilterDescriptor(p->wdb);
    }
    cudaFree(p->wb);
    cudaFree(p->w);
    cudaFree(p->b);
    s->weights -= p->bytes;
    s->in_use -= p->bytes;
    free(p);
    c->prepared = NULL;
}

static cudnnStatus_t set_5d(cudnnTensorDescriptor_t d, int mode, int C, int T, int H, int W)
{
    const int dims[5] = { 1, C, T, H, W };
    if (mode) {
        return cudnnSetTensorNdDescriptorEx(d, CUDNN_TENSOR_NHWC, mode == 1 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_FLOAT, 5,
                                            dims);
    }
    const int str[5] = { C * T * H * W, T * H * W, H * W, W, 1 };
    return cudnnSetTensorNdDescriptor(d, CUDNN_DATA_FLOAT, 5, dims, str);
}

static struct conv_plan * conv_plan(struct kc_state * s, struct kc_conv * p, const struct ke_conv3d * c, int mode,
                                    int T, int H, int W, int pt, int ph, int pw, int st, int sh, int sw)
{
    for (int i = 0; i < p->n_plans; i++) {
        struct conv_plan * q = &p->plans[i];
        if (q->mode == mode && q->T == T && q->H == H && q->W == W && q->pt == pt && q->ph == ph && q->pw == pw && q->st == st &&
            q->sh == sh && q->sw == sw) {
            return q;
        }
    }
    struct conv_plan * q;
    if (p->n_plans < CONV_PLANS) {
        q = &p->plans[p->n_plans++];
    } else {
        q = &p->plans[CONV_PLANS - 1];   // reuse the last slot
        cudnnDestroyTensorDescriptor(q->xd);
        cudnnDestroyTensorDescriptor(q->yd);
        cudnnDestroyConvolutionDescriptor(q->cd);
    }
    memset(q, 0, sizeof(*q));
    q->mode = mode;
    q->T = T, q->H = H, q->W = W, q->pt = pt, q->ph = ph, q->pw = pw, q->st = st, q->sh = sh, q->sw = sw;
    const int pad[3] = { pt, ph, pw }, str[3] = { st, sh, sw }, dil[3] = { 1, 1, 1 };
    int od[5] = { 0 };
    if (cudnnCreateTensorDescriptor(&q->xd) || cudnnCreateTensorDescriptor(&q->yd) ||
        cudnnCreateConvolutionDescriptor(&q->cd) ||
        cudnnSetConvolutionNdDescriptor(q->cd, 3, pad, str, dil, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT) ||
        cudnnSetConvolutionMathType(q->cd, mode == 1 ? CUDNN_TENSOR_OP_MATH : CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)) {
        p->n_plans--;
        return NULL;
    }
    cudnnFilterDescriptor_t wd = mode ? p->wdb : p->wd;
    if (set_5d(q->xd, mode, c->c_in, T, H, W) != CUDNN_STATUS_SUCCESS ||
        cudnnGetConvolutionNdForwardOutputDim(q->cd, q->xd, wd, 5, od) != CUDNN_STATUS_SUCCESS) {
        p->n_plans--;
        return NULL;
    }
    q->To = od[2], q->Ho = od[3], q->Wo = od[4];
    cudnnConvolutionFwdAlgoPerf_t perf[8];
    int n = 0, found = 0;
    // workspace: at most 2 GiB, and at most half of what the device budget leaves now
    size_t ws_max = (size_t) 2 << 30;
    if (s->budget) {
        const size_t room = s->budget > s->in_use ? (s->budget - s->in_use) / 2 : 0;
        ws_max = room < ws_max ? room : ws_max;
    }
    if (set_5d(q->yd, mode, c->c_out, q->To, q->Ho, q->Wo) == CUDNN_STATUS_SUCCESS &&
        cudnnGetConvolutionForwardAlgorithm_v7(s->dnn, q->xd, wd, q->cd, q->yd, 8, &n, perf) == CUDNN_STATUS_SUCCESS) {
        for (int i = 0; i < n; i++) {
            if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= ws_max) {
                q->algo = perf[i].algo;
                found = 1;
                break;
            }
        }
    }
    if (!found || cudnnGetConvolutionForwardWorkspaceSize(s->dnn, q->xd, wd, q->cd, q->yd, q->algo, &q->ws) !=
                      CUDNN_STATUS_SUCCESS) {
        if (!mode && !found) {
            q->algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
            q->ws = 0;
            return q;
        }
        cudnnDestroyTensorDescriptor(q->xd);
        cudnnDestroyTensorDescriptor(q->yd);
        cudnnDestroyConvolutionDescriptor(q->cd);
        p->n_plans--;
        return NULL;
    }
    return q;
}

void kc_conv3d(struct ke_backend * be, float * y, const float * x, const struct ke_conv3d * c, int T, int H, int W,
               int pt0, int pt1, int ph, int pw, int st, int sh, int sw)
{
    struct kc_state * s = kc_st(be);
    struct kc_conv * p = c->prepared;
    if (!p || c->owner != be) {
        kc_fail(s, "conv3d", "weight not prepared by this backend");
        return;
    }
    if (p->wb && !p->no_bf16) {
        const int mode = p->mode, bf = mode == 1;
        const size_t es = bf ? 2 : 4;
        const int Tin = T + pt0 + pt1;
        const int64_t hw = (int64_t) H * W;
        struct conv_plan * q = conv_plan(s, p, c, mode, Tin, H, W, 0, ph, pw, st, sh, sw);
        void * xb = q ? kc_alloc(s, (size_t) ((int64_t) c->c_in * Tin * hw) * es) : NULL;
        void * yb = xb ? kc_alloc(s, (size_t) ((int64_t) c->c_out * q->To * q->Ho * q->Wo) * es) : NULL;
        void * ws = yb && q->ws ? kc_alloc(s, q->ws) : NULL;
        int ok = yb && (!q->ws || ws);
        if (ok && kc_to_ndhwc(xb, bf, x, c->c_in, T, hw, pt0, pt1, s->stream) != 0) {
            ok = 0;
        }
        if (ok) {
            const float one = 1.0f, zero = 0.0f;
            cudnnStatus_t r = cudnnConvolutionForward(s->dnn, &one, q->xd, xb, p->wdb, p->wb, q->cd, q->algo, ws, q->ws,
                                                      &zero, q->yd, yb);
            ok = r == CUDNN_STATUS_SUCCESS &&
                 kc_from_ndhwc(y, yb, bf, p->b, c->c_out, q->To, (int64_t) q->Ho * q->Wo, s->stream) == 0;
        }
        kc_free(s, ws);
        kc_free(s, yb);
        kc_free(s, xb);
        if (ok) {
            return;
        }
        p->no_bf16 = 1;   // this layer takes the f32 path from now on
        ke_log(2, "cuda backend: no channels-last cuDNN convolution for %d->%d k%dx%dx%d; using NCDHW", c->c_in,
               c->c_out, c->kt, c->kh, c->kw);
    }
    float * padded = NULL;
    int Tin = T, pt = pt0;
    if (pt0 != pt1) {
        const int64_t hw = (int64_t) H * W;
        Tin = T + pt0 + pt1;
        pt = 0;
        padded = kc_alloc(s, (size_t) ((int64_t) c->c_in * Tin * hw) * 4);
        if (!padded) {
            kc_fail_nomem(s, "the padded conv3d input", (size_t) ((int64_t) c->c_in * Tin * hw) * 4);
            return;
        }
        if (kc_pad_time(padded, x, c->c_in, T, hw, pt0, pt1, s->stream) != 0) {
            kc_fail(s, "conv3d", "pad kernel launch");
        }
        x = padded;
    }
    struct conv_plan * q = conv_plan(s, p, c, 0, Tin, H, W, pt, ph, pw, st, sh, sw);
    void * ws = q && q->ws ? kc_alloc(s, q->ws) : NULL;
    if (q && q->ws && !ws) {
        // the device budget has no room for this algorithm's workspace: from now on this shape runs the
        // implicit GEMM, which needs none
        ke_log(1, "cuda backend: conv3d workspace of %zu bytes does not fit the device budget; using the implicit "
               "GEMM algorithm", q->ws);
        q->algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
        q->ws = 0;
    }
    if (!q) {
        kc_fail(s, "conv3d", "no cuDNN plan for this shape");
    } else {
        const float one = 1.0f, zero = 0.0f;
        cudnnStatus_t r = cudnnConvolutionForward(s->dnn, &one, q->xd, x, p->wd, p->w, q->cd, q->algo, ws, q->ws,
                                                  &zero, q->yd, y);
        if (r != CUDNN_STATUS_SUCCESS) {
            kc_fail(s, "cudnnConvolutionForward", cudnnGetErrorString(r));
        } else if (p->b && kc_add_channel_bias(y, p->b, c->c_out, (int64_t) q->To * q->Ho * q->Wo, s->stream) != 0) {
            kc_fail(s, "conv3d", "bias kernel launch");
        }
    }
    kc_free(s, ws);
    kc_free(s, padded);
}

// Timed picks, shared by the layers of one shape (a VAE level has ten convs of the same shape).
#define N_TIMED 64
static struct timed_pick {
    int c_in, c_out, T, H, W;
    cudnnConvolutionFwdAlgo_t algo;
    cudnnMathType_t math;
    size_t ws;
} g_timed[N_TIMED];
static int g_n_timed;

// The first run of a narrow shape times cuDNN's algorithms on it (inputs as they are: only the time
// counts) and keeps the fastest whose workspace fits 1 GiB and half of what the budget leaves; the
// heuristic's pick stays when timing is not possible.
static void time_algos(struct kc_state * s, struct kc_conv * p, const struct ke_conv3d * c, struct conv_plan * q,
                       const void * xb, void * yb)
{
    q->timed = 1;
    for (int i = 0; i < g_n_timed; i++) {
        const struct timed_pick * t = &g_timed[i];
        if (t->c_in == c->c_in && t->c_out == c->c_out && t->T == q->T && t->H == q->H && t->W == q->W) {
            cudnnSetConvolutionMathType(q->cd, t->math);
            q->algo = t->algo;
            q->ws = t->ws;
            return;
        }
    }
    size_t cap = (size_t) 1 << 30;
    if (s->budget) {
        const size_t room = s->budget > s->in_use ? (s->budget - s->in_use) / 2 : 0;
        cap = room < cap ? room : cap;
    }
    void * ws = cap ? kc_alloc(s, cap) : NULL;
    if (!ws) {
        return;
    }
    cudnnConvolutionFwdAlgoPerf_t perf[8];
    int n = 0;
    if (cudaStreamSynchronize(s->stream) == cudaSuccess &&
        cudnnFindConvolutionForwardAlgorithmEx(s->dnn, q->xd, xb, p->wdb, p->wb, q->cd, q->yd, yb, 8, &n, perf, ws,
                                               cap) == CUDNN_STATUS_SUCCESS) {
        for (int i = 0; i < n; i++) {
            if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= cap) {
                ke_log(2, "cuda backend: conv %d->%d at %dx%dx%d: cuDNN algorithm %d by timing (%.3f ms), was %d",
                       c->c_in, c->c_out, q->T, q->H, q->W, (int) perf[i].algo, perf[i].time, (int) q->algo);
                cudnnSetConvolutionMathType(q->cd, perf[i].mathType);
                q->algo = perf[i].algo;
                q->ws = perf[i].memory;
                if (g_n_timed < N_TIMED) {
                    g_timed[g_n_timed++] = (struct timed_pick) { c->c_in, c->c_out, q->T, q->H, q->W, q->algo,
                                                                 perf[i].mathType, q->ws };
                }
                break;
            }
        }
    }
    cudaGetLastError();
    kc_free(s, ws);
}

// The bf16 channels-last plan of a conv prepared narrow over Tin x H x W input frames ("same" size, T
// output frames), or NULL: not narrow, or cuDNN has no engine for it (then the layer is marked to take
// the composed ops from now on).
static struct conv_plan * narrow_plan(struct ke_backend * be, const struct ke_conv3d * c, int Tin, int H, int W,
                                      int T)
{
    struct kc_state * s = kc_st(be);
    struct kc_conv * p = c->prepared;
    if (!p || c->owner != be || p->mode != 1 || !p->wb || p->no_bf16) {
        return NULL;
    }
    struct conv_plan * q = conv_plan(s, p, c, 1, Tin, H, W, 0, c->kh / 2, c->kw / 2, 1, 1, 1);
    if (!q || q->To != T || q->Ho != H || q->Wo != W) {
        p->no_bf16 = 1;
        ke_log(2, "cuda backend: no channels-last cuDNN convolution for %d->%d k%dx%dx%d; using NCDHW", c->c_in,
               c->c_out, c->kt, c->kh, c->kw);
        return NULL;
    }
    return q;
}

// backend.h ltx_conv3d for a conv prepared in bf16 channels-last: the input pass writes the normalised,
// edge-padded bf16 NDHWC input (no f32 copies), cuDNN convolves, the output pass adds the bias (and y).
int kc_ltx_conv3d(struct ke_backend * be, float * y, int accumulate, const float * x, const struct ke_conv3d * c,
                  int T, int H, int W, int front, int back, int norm, float eps, const float * shift,
                  const float * scale)
{
    struct kc_state * s = kc_st(be);
    struct kc_conv * p = c->prepared;
    if (front + back != c->kt - 1) {
        return -1;
    }
    const int Tin = T + front + back;
    const int64_t hw = (int64_t) H * W;
    struct conv_plan * q = narrow_plan(be, c, Tin, H, W, T);
    if (!q) {
        return -1;
    }
    float * inv = norm ? kc_alloc(s, (size_t) (T * hw) * 4) : NULL;
    uint16_t * xb = kc_alloc(s, (size_t) ((int64_t) c->c_in * Tin * hw) * 2);
    uint16_t * yb = kc_alloc(s, (size_t) ((int64_t) c->c_out * T * hw) * 2);
    if (!q->timed && xb && yb) {
        time_algos(s, p, c, q, xb, yb);
    }
    void * ws = q->ws ? kc_alloc(s, q->ws) : NULL;
    int rc = -1;
    if ((norm && !inv) || !xb || !yb || (q->ws && !ws)) {
        kc_fail_nomem(s, "an LTX-Video VAE convolution's bf16 input, output and workspace",
                      (size_t) ((int64_t) (c->c_in * Tin + c->c_out * T) * hw) * 2 + q->ws);
        rc = 0;   // recorded: nothing more to run
    } else {
        kc_prof_mark(s, KC_CLASS_OTHER, "ltx_conv3d input pass");
        if ((!norm || kc_ltx_pixel_inv(inv, x, c->c_in, T * hw, eps, 0, s->stream) == 0) &&
            kc_ltx_to_ndhwc(xb, x, c->c_in, T, hw, front, Tin, inv, shift, scale, 1.0f, s->stream) == 0) {
            kc_prof_mark(s, KC_CLASS_GEMM, "ltx_conv3d cuDNN bf16");
            const float one = 1.0f, zero = 0.0f;
            const cudnnStatus_t r = cudnnConvolutionForward(s->dnn, &one, q->xd, xb, p->wdb, p->wb, q->cd, q->algo,
                                                            ws, q->ws, &zero, q->yd, yb);
            if (r == CUDNN_STATUS_SUCCESS) {
                kc_prof_mark(s, KC_CLASS_OTHER, "ltx_conv3d output pass");
                if (kc_ltx_from_ndhwc(y, yb, p->b, c->c_out, T, hw, accumulate, s->stream) != 0) {
                    kc_fail(s, "ltx_conv3d", "output kernel launch");
                }
                rc = 0;   // y written (or the failure recorded)
            }
        }
        kc_prof_mark(s, -1, NULL);
    }
    kc_free(s, ws);
    kc_free(s, yb);
    kc_free(s, xb);
    kc_free(s, inv);
    if (rc != 0) {
        cudaGetLastError();
        p->no_bf16 = 1;   // the composed op from now on (same result, f32 NCDHW convolution)
        ke_log(2, "cuda backend: the fused bf16 convolution %d->%d failed; composing the op", c->c_in, c->c_out);
    }
    return rc;
}

// The two convolutions of a fused resnet: each plan's algorithm timed on its first use (on the block's
// own buffers, when both were allocated), then one workspace for the larger of the two (*wsn: its size,
// 0 when neither needs one; NULL with *wsn > 0: no room, for the caller to report).
static void * pair_workspace(struct kc_state * s, const struct ke_conv3d * c1, struct conv_plan * q1,
                             const struct ke_conv3d * c2, struct conv_plan * q2, const void * xb, void * yb,
                             size_t * wsn)
{
    if (xb && yb) {
        if (!q1->timed) {
            time_algos(s, c1->prepared, c1, q1, xb, yb);
        }
        if (!q2->timed) {
            time_algos(s, c2->prepared, c2, q2, xb, yb);
        }
    }
    *wsn = q1->ws > q2->ws ? q1->ws : q2->ws;
    return *wsn ? kc_alloc(s, *wsn) : NULL;
}

// backend.h ltx_resnet with both convs prepared narrow: the input pass (norm1, edge frames, bf16 channels
// last), conv1 to bf16, the middle norm (bias1, norm2, edge frames) in channels-last bf16, conv2, and the
// output pass adding bias2 into x. The intermediate never exists in f32; the two convolutions share the
// input and output buffers.
int kc_ltx_resnet(struct ke_backend * be, float * x, const struct ke_conv3d * c1, const struct ke_conv3d * c2, int T,
                  int H, int W, int front, int back, float eps, const float * ada)
{
    struct kc_state * s = kc_st(be);
    const int C = c1->c_in;
    if (front + back != c1->kt - 1 || c2->kt != c1->kt || c1->c_out != C || c2->c_in != C || c2->c_out != C) {
        return -1;
    }
    const int Tin = T + front + back;
    const int64_t hw = (int64_t) H * W;
    struct conv_plan * q1 = narrow_plan(be, c1, Tin, H, W, T), * q2 = q1 ? narrow_plan(be, c2, Tin, H, W, T) : NULL;
    if (!q1 || !q2) {
        return -1;
    }
    struct kc_conv * p1 = c1->prepared, * p2 = c2->prepared;
    float * inv = kc_alloc(s, (size_t) (T * hw) * 4);
    uint16_t * xb = kc_alloc(s, (size_t) ((int64_t) C * Tin * hw) * 2);
    uint16_t * yb = kc_alloc(s, (size_t) ((int64_t) C * T * hw) * 2);
    size_t wsn = 0;
    void * ws = pair_workspace(s, c1, q1, c2, q2, xb, yb, &wsn);
    int rc = -1;
    if (!inv || !xb || !yb || (wsn && !ws)) {
        kc_fail_nomem(s, "an LTX-Video VAE resnet's bf16 input, output and workspace",
                      (size_t) ((int64_t) C * (Tin + T) * hw) * 2 + (size_t) (T * hw) * 4 + wsn);
        rc = 0;   // recorded: nothing more to run
    } else {
        const float one = 1.0f, zero = 0.0f;
        const float * sh1 = ada, * sc1 = ada ? ada + C : NULL, * sh2 = ada ? ada + 2 * C : NULL;
        const float * sc2 = ada ? ada + 3 * C : NULL;
        kc_prof_mark(s, KC_CLASS_OTHER, "ltx_resnet input pass");
        if (kc_ltx_pixel_inv(inv, x, C, T * hw, eps, 0, s->stream) == 0 &&
            kc_ltx_to_ndhwc(xb, x, C, T, hw, front, Tin, inv, sh1, sc1, 1.0f, s->stream) == 0) {
            kc_prof_mark(s, KC_CLASS_GEMM, "ltx_resnet cuDNN bf16");
            cudnnStatus_t r = cudnnConvolutionForward(s->dnn, &one, q1->xd, xb, p1->wdb, p1->wb, q1->cd, q1->algo, ws,
                                                      q1->ws, &zero, q1->yd, yb);
            kc_prof_mark(s, KC_CLASS_OTHER, "ltx_resnet middle norm");
            if (r == CUDNN_STATUS_SUCCESS &&
                kc_ltx_ndhwc_norm(xb, yb, p1->b, C, T, hw, front, back, eps, 0, sh2, sc2, 1.0f, s->stream) == 0) {
                kc_prof_mark(s, KC_CLASS_GEMM, "ltx_resnet cuDNN bf16");
                r = cudnnConvolutionForward(s->dnn, &one, q2->xd, xb, p2->wdb, p2->wb, q2->cd, q2->algo, ws, q2->ws,
                                            &zero, q2->yd, yb);
                if (r == CUDNN_STATUS_SUCCESS) {
                    kc_prof_mark(s, KC_CLASS_OTHER, "ltx_resnet output pass");
                    if (kc_ltx_from_ndhwc(x, yb, p2->b, C, T, hw, 1, s->stream) != 0) {
                        kc_fail(s, "ltx_resnet", "output kernel launch");
                    }
                    rc = 0;   // x updated (or the failure recorded)
                }
            }
        }
        kc_prof_mark(s, -1, NULL);
    }
    kc_free(s, ws);
    kc_free(s, yb);
    kc_free(s, xb);
    kc_free(s, inv);
    if (rc != 0) {
        cudaGetLastError();
        p1->no_bf16 = p2->no_bf16 = 1;   // the two composed convolutions from now on
        ke_log(2, "cuda backend: the fused bf16 resnet %d->%d failed; composing the op", C, C);
    }
    return rc;
}

// backend.h wan_resnet with both convs prepared narrow: the body of a Wan VAE residual block in bf16
// channels last. Each conv's input buffer is [2 + T frames, HW, C]: its first two frames are the causal
// cache (kept in this same layout, so it is one contiguous copy in and one out), the rest is written by
// the norm pass (the input pass from x in f32 [C, T, HW]; the middle pass from the first conv's bf16
// output), and the output pass adds the second conv's output and bias into acc. Nothing f32 is made in
// between, and no frame is copied per channel.
int kc_wan_resnet(struct ke_backend * be, float * acc, const float * x, const struct ke_conv3d * c1,
                  const struct ke_conv3d * c2, const float * g0, const float * g1, void * cache1, void * cache2,
                  int T, int H, int W)
{
    struct kc_state * s = kc_st(be);
    const int Ci = c1->c_in, Co = c1->c_out;
    if (c1->kt != 3 || c2->kt != 3 || c2->c_in != Co || c2->c_out != Co || T <= 0) {
        return -1;
    }
    const int Tin = T + 2;
    const int64_t hw = (int64_t) H * W;
    struct conv_plan * q1 = narrow_plan(be, c1, Tin, H, W, T), * q2 = q1 ? narrow_plan(be, c2, Tin, H, W, T) : NULL;
    if (!q1 || !q2) {
        return -1;
    }
    struct kc_conv * p1 = c1->prepared, * p2 = c2->prepared;
    const int Cm = Ci > Co ? Ci : Co;
    const size_t f1 = (size_t) (hw * Ci) * 2, f2 = (size_t) (hw * Co) * 2;   // bytes of one bf16 frame
    float * inv = kc_alloc(s, (size_t) (T * hw) * 4);
    uint8_t * xb = kc_alloc(s, (size_t) (Tin * hw) * (size_t) Cm * 2);
    uint16_t * yb = kc_alloc(s, (size_t) T * f2);
    size_t wsn = 0;
    void * ws = pair_workspace(s, c1, q1, c2, q2, xb, yb, &wsn);
    if (!inv || !xb || !yb || (wsn && !ws)) {
        kc_fail_nomem(s, "a Wan VAE residual block's bf16 input, output and workspace",
                      (size_t) (Tin * hw) * (size_t) Cm * 2 + (size_t) T * f2 + (size_t) (T * hw) * 4 + wsn);
    } else {
        const float one = 1.0f, zero = 0.0f;
        const enum cudaMemcpyKind d2d = cudaMemcpyDeviceToDevice;
        kc_prof_mark(s, KC_CLASS_OTHER, "wan_resnet input pass");
        // frames 0, 1: the cache; 2 ..: silu(norm(x) * g0); the cache then keeps frames T, T + 1
        if (cudaMemcpyAsync(xb, cache1, 2 * f1, d2d, s->stream) != cudaSuccess ||
            kc_ltx_pixel_inv(inv, x, Ci, T * hw, 0.0f, 1, s->stream) != 0 ||
            kc_ltx_to_ndhwc((uint16_t *) (xb + 2 * f1), x, Ci, T, hw, 0, T, inv, NULL, g0, 0.0f, s->stream) != 0 ||
            cudaMemcpyAsync(cache1, xb + (size_t) T * f1, 2 * f1, d2d, s->stream) != cudaSuccess) {
            kc_fail(s, "wan_resnet", "input pass launch");
        } else {
            kc_prof_mark(s, KC_CLASS_GEMM, "wan_resnet cuDNN bf16");
            cudnnStatus_t r = cudnnConvolutionForward(s->dnn, &one, q1->xd, xb, p1->wdb, p1->wb, q1->cd, q1->algo, ws,
                                                      q1->ws, &zero, q1->yd, yb);
            kc_prof_mark(s, KC_CLASS_OTHER, "wan_resnet middle norm");
            if (r != CUDNN_STATUS_SUCCESS) {
                kc_fail(s, "wan_resnet", cudnnGetErrorString(r));
            } else if (cudaMemcpyAsync(xb, cache2, 2 * f2, d2d, s->stream) != cudaSuccess ||
                       kc_ltx_ndhwc_norm((uint16_t *) (xb + 2 * f2), yb, p1->b, Co, T, hw, 0, 0, 0.0f, 1, NULL, g1,
                                         0.0f, s->stream) != 0 ||
                       cudaMemcpyAsync(cache2, xb + (size_t) T * f2, 2 * f2, d2d, s->stream) != cudaSuccess) {
                kc_fail(s, "wan_resnet", "middle pass launch");
            } else {
                kc_prof_mark(s, KC_CLASS_GEMM, "wan_resnet cuDNN bf16");
                r = cudnnConvolutionForward(s->dnn, &one, q2->xd, xb, p2->wdb, p2->wb, q2->cd, q2->algo, ws, q2->ws,
                                            &zero, q2->yd, yb);
                kc_prof_mark(s, KC_CLASS_OTHER, "wan_resnet output pass");
                if (r != CUDNN_STATUS_SUCCESS) {
                    kc_fail(s, "wan_resnet", cudnnGetErrorString(r));
                } else if (kc_ltx_from_ndhwc(acc, yb, p2->b, Co, T, hw, 1, s->stream) != 0) {
                    kc_fail(s, "wan_resnet", "output pass launch");
                }
            }
        }
        kc_prof_mark(s, -1, NULL);
    }
    kc_free(s, ws);
    kc_free(s, yb);
    kc_free(s, xb);
    kc_free(s, inv);
    return 0;   // run, or its failure recorded: the caches may have changed, so no composed retry
}
