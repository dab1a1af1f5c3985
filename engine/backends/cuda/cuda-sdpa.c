// Kinora engine: attention through cuDNN's fused SDPA (flash) engines, described with the backend
// graph API: one SDPA_FWD operation (cuDNN >= 9.13), else the matmul / scale / softmax / matmul graph
// that cuDNN fuses. Plans are built once per shape and cached; q/k/v/o are bf16 [L, ld] with head h
// at column h*hd, described to cuDNN as [1, H, L, hd] with strides (L*ld, hd, ld, 1): no transposes.
//
// fp8 attention (kc_sdpa_fp8_run, Hopper): q, k and v are quantized to e4m3 with one scale each
// (448 / amax, computed on the device), and cuDNN runs the fp8 flash graph: S = Q K^T in fp32 times the
// softmax scale and both descales, an fp32 softmax, P = softmax * 448 rounded to e4m3 (P <= 1), O = P V
// times the descales of P and V, written as bf16 or, where cuDNN wants an fp8 O, as e4m3 scaled by V's
// scale (|O| <= max |V|: a convex combination of V's rows) and widened to bf16 after.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/cuda-backend.h"
#include "core/error.h"

#define UID_Q 1
#define UID_K 2
#define UID_V 3
#define UID_O 4
#define UID_SCALE 5
// fp8 graph: the descales of q, k, v and P, the scales of P and O, and the two amax outputs
#define UID_DQ 6
#define UID_DK 7
#define UID_DV 8
#define UID_DS 9
#define UID_SS 10
#define UID_SO 11
#define UID_AMAX_S 12
#define UID_AMAX_O 13

#define MAX_DESC 96

struct kc_sdpa_plan {
    int64_t Lq, Lk, ld;
    int H, hd;
    int fp8;                 // 0: the bf16 graph; 1: the fp8 graph
    int o_bf16;              // fp8 graph: O is written as bf16 (else e4m3, widened after)
    float * consts;          // fp8 graph: device { 1 / 448, 448, 1 } (P's descale and scale, a unit scale)
    int ok;                  // 0: cuDNN has no engine for this shape
    cudnnBackendDescriptor_t plan;
    cudnnBackendDescriptor_t keep[MAX_DESC];
    int n_keep;
    int64_t workspace;
    struct kc_sdpa_plan * next;
};

struct builder {
    cudnnBackendDescriptor_t d[MAX_DESC];
    int n;
    int bad;
    char err[256];
};

static cudnnBackendDescriptor_t mk(struct builder * b, cudnnBackendDescriptorType_t t)
{
    cudnnBackendDescriptor_t d = NULL;
    if (b->bad || b->n >= MAX_DESC) {
        b->bad = 1;
        return NULL;
    }
    if (cudnnBackendCreateDescriptor(t, &d) != CUDNN_STATUS_SUCCESS) {
        b->bad = 1;
        snprintf(b->err, sizeof(b->err), "create descriptor %d", (int) t);
        return NULL;
    }
    b->d[b->n++] = d;
    return d;
}

static void set(struct builder * b, cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name,
                cudnnBackendAttributeType_t type, int64_t n, const void * v)
{
    if (b->bad) {
        return;
    }
    cudnnStatus_t st = cudnnBackendSetAttribute(d, name, type, n, v);
    if (st != CUDNN_STATUS_SUCCESS) {
        b->bad = 1;
        char last[160] = "";
        cudnnGetLastErrorString(last, sizeof(last));
        snprintf(b->err, sizeof(b->err), "set attribute %d: %s %s", (int) name, cudnnGetErrorString(st), last);
    }
}

static void fin(struct builder * b, cudnnBackendDescriptor_t d, const char * what)
{
    if (b->bad) {
        return;
    }
    cudnnStatus_t st = cudnnBackendFinalize(d);
    if (st != CUDNN_STATUS_SUCCESS) {
        b->bad = 1;
        char last[160] = "";
        cudnnGetLastErrorString(last, sizeof(last));
        snprintf(b->err, sizeof(b->err), "finalize %s: %s %s", what, cudnnGetErrorString(st), last);
    }
}

static cudnnBackendDescriptor_t tensor(struct builder * b, int64_t uid, cudnnDataType_t dt, const int64_t dims[4],
                                       const int64_t strides[4], bool virt, bool by_value)
{
    cudnnBackendDescriptor_t t = mk(b, CUDNN_BACKEND_TENSOR_DESCRIPTOR);
    const int64_t align = 16;
    set(b, t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt);
    set(b, t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims);
    set(b, t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides);
    set(b, t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
    set(b, t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align);
    set(b, t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &virt);
    if (by_value) {
        set(b, t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &by_value);
    }
    fin(b, t, "tensor");
    return t;
}

static cudnnBackendDescriptor_t pointwise(struct builder * b, cudnnPointwiseMode_t mode, cudnnBackendDescriptor_t x,
                                          cudnnBackendDescriptor_t bb, cudnnBackendDescriptor_t y)
{
    const cudnnDataType_t f32 = CUDNN_DATA_FLOAT;
    cudnnBackendDescriptor_t pw = mk(b, CUDNN_BACKEND_POINTWISE_DESCRIPTOR);
    set(b, pw, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
    set(b, pw, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &f32);
    fin(b, pw, "pointwise");
    cudnnBackendDescriptor_t op = mk(b, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR);
    set(b, op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &pw);
    set(b, op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
    if (bb) {
        set(b, op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &bb);
    }
    set(b, op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
    fin(b, op, "pointwise op");
    return op;
}

static cudnnBackendDescriptor_t reduction(struct builder * b, cudnnReduceTensorOp_t rop, cudnnBackendDescriptor_t x,
                                          cudnnBackendDescriptor_t y)
{
    const cudnnDataType_t f32 = CUDNN_DATA_FLOAT;
    cudnnBackendDescriptor_t r = mk(b, CUDNN_BACKEND_REDUCTION_DESCRIPTOR);
    set(b, r, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &rop);
    set(b, r, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f32);
    fin(b, r, "reduction");
    cudnnBackendDescriptor_t op = mk(b, CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR);
    set(b, op, CUDNN_ATTR_OPERATION_REDUCTION_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &r);
    set(b, op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &x);
    set(b, op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &y);
    fin(b, op, "reduction op");
    return op;
}

static cudnnBackendDescriptor_t matmul_pad(struct builder * b, cudnnBackendDescriptor_t a,
                                           cudnnBackendDescriptor_t bb, cudnnBackendDescriptor_t c, bool pad)
{
    const cudnnDataType_t f32 = CUDNN_DATA_FLOAT;
    const double zero = 0.0;
    cudnnBackendDescriptor_t m = mk(b, CUDNN_BACKEND_MATMUL_DESCRIPTOR);
    set(b, m, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f32);
    if (pad) {
        set(b, m, CUDNN_ATTR_MATMUL_PADDING_VALUE, CUDNN_TYPE_DOUBLE, 1, &zero);
    }
    fin(b, m, "matmul");
    cudnnBackendDescriptor_t op = mk(b, CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR);
    set(b, op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &a);
    set(b, op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &bb);
    set(b, op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &c);
    set(b, op, CUDNN_ATTR_OPERATION_MATMUL_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &m);
    fin(b, op, "matmul op");
    return op;
}

static cudnnBackendDescriptor_t matmul(struct builder * b, cudnnBackendDescriptor_t a, cudnnBackendDescriptor_t bb,
                                       cudnnBackendDescriptor_t c)
{
    return matmul_pad(b, a, bb, c, false);
}

// The fp8 flash graph (see the top of the file). o_bf16: O is bf16 (else e4m3); stats: the softmax
// statistics (log-sum-exp) are formed as an unused virtual tensor, as in the training-shaped pattern
// cuDNN's fp8 engines were first written for.
static cudnnBackendDescriptor_t build_graph_fp8(struct builder * b, cudnnHandle_t h, int H, int64_t Lq, int64_t Lk,
                                                int hd, int64_t ld, int o_bf16, int stats)
{
    const cudnnDataType_t f8 = CUDNN_DATA_FP8_E4M3, bf16 = CUDNN_DATA_BFLOAT16, f32 = CUDNN_DATA_FLOAT;
    const int64_t qd[4] = { 1, H, Lq, hd }, qs[4] = { Lq * ld, hd, ld, 1 };
    const int64_t kd[4] = { 1, H, Lk, hd }, ks[4] = { Lk * ld, hd, ld, 1 };
    const int64_t ktd[4] = { 1, H, hd, Lk }, kts[4] = { Lk * ld, hd, 1, ld };
    const int64_t sd[4] = { 1, H, Lq, Lk }, ss[4] = { H * Lq * Lk, Lq * Lk, Lk, 1 };
    const int64_t rd[4] = { 1, H, Lq, 1 }, rs[4] = { H * Lq, Lq, 1, 1 };
    const int64_t od[4] = { 1, H, Lq, hd }, os[4] = { H * Lq * hd, Lq * hd, hd, 1 };
    const int64_t one[4] = { 1, 1, 1, 1 };
    cudnnBackendDescriptor_t q = tensor(b, UID_Q, f8, qd, qs, false, false);
    cudnnBackendDescriptor_t kt = tensor(b, UID_K, f8, ktd, kts, false, false);
    cudnnBackendDescriptor_t v = tensor(b, UID_V, f8, kd, ks, false, false);
    cudnnBackendDescriptor_t o = tensor(b, UID_O, o_bf16 ? bf16 : f8, qd, qs, false, false);
    cudnnBackendDescriptor_t sc = tensor(b, UID_SCALE, f32, one, one, false, true);
    cudnnBackendDescriptor_t dq = tensor(b, UID_DQ, f32, one, one, false, false);
    cudnnBackendDescriptor_t dk = tensor(b, UID_DK, f32, one, one, false, false);
    cudnnBackendDescriptor_t dv = tensor(b, UID_DV, f32, one, one, false, false);
    cudnnBackendDescriptor_t ds = tensor(b, UID_DS, f32, one, one, false, false);
    cudnnBackendDescriptor_t sp = tensor(b, UID_SS, f32, one, one, false, false);
    cudnnBackendDescriptor_t so = tensor(b, UID_SO, f32, one, one, false, false);
    cudnnBackendDescriptor_t amax_s = tensor(b, UID_AMAX_S, f32, one, one, false, false);
    cudnnBackendDescriptor_t amax_o = tensor(b, UID_AMAX_O, f32, one, one, false, false);
    int64_t vid = 100;
    cudnnBackendDescriptor_t s0 = tensor(b, vid++, f32, sd, ss, true, false);
    cudnnBackendDescriptor_t s1 = tensor(b, vid++, f32, sd, ss, true, false);
    cudnnBackendDescriptor_t s2 = tensor(b, vid++, f32, sd, ss, true, false);
    cudnnBackendDescriptor_t s3 = tensor(b, vid++, f32, sd, ss, true, false);
    cudnnBackendDescriptor_t mx = tensor(b, vid++, f32, rd, rs, true, false);
    cudnnBackendDescriptor_t sub = tensor(b, vid++, f32, sd, ss, true, false);
    cudnnBackendDescriptor_t ex = tensor(b, vid++, f32, sd, ss, true, false);
    cudnnBackendDescriptor_t sum = tensor(b, vid++, f32, rd, rs, true, false);
    cudnnBackendDescriptor_t p = tensor(b, vid++, f32, sd, ss, true, false);
    cudnnBackendDescriptor_t p8 = tensor(b, vid++, f8, sd, ss, true, false);
    cudnnBackendDescriptor_t o0 = tensor(b, vid++, f32, od, os, true, false);
    cudnnBackendDescriptor_t o1 = tensor(b, vid++, f32, od, os, true, false);
    cudnnBackendDescriptor_t o2 = tensor(b, vid++, f32, od, os, true, false);
    cudnnBackendDescriptor_t ops[20];
    int n = 0;
    ops[n++] = matmul_pad(b, q, kt, s0, true);
    ops[n++] = pointwise(b, CUDNN_POINTWISE_MUL, s0, sc, s1);
    ops[n++] = pointwise(b, CUDNN_POINTWISE_MUL, s1, dq, s2);
    ops[n++] = pointwise(b, CUDNN_POINTWISE_MUL, s2, dk, s3);
    ops[n++] = reduction(b, CUDNN_REDUCE_TENSOR_MAX, s3, mx);
    ops[n++] = pointwise(b, CUDNN_POINTWISE_SUB, s3, mx, sub);
    ops[n++] = pointwise(b, CUDNN_POINTWISE_EXP, sub, NULL, ex);
    ops[n++] = reduction(b, CUDNN_REDUCE_TENSOR_ADD, ex, sum);
    if (stats) {
        cudnnBackendDescriptor_t lg = tensor(b, vid++, f32, rd, rs, true, false);
        cudnnBackendDescriptor_t st = tensor(b, vid++, f32, rd, rs, true, false);
        ops[n++] = pointwise(b, CUDNN_POINTWISE_LOG, sum, NULL, lg);
        ops[n++] = pointwise(b, CUDNN_POINTWISE_ADD, mx, lg, st);
    }
    ops[n++] = pointwise(b, CUDNN_POINTWISE_DIV, ex, sum, p);
    ops[n++] = reduction(b, CUDNN_REDUCE_TENSOR_AMAX, p, amax_s);
    ops[n++] = pointwise(b, CUDNN_POINTWISE_MUL, p, sp, p8);
    ops[n++] = matmul(b, p8, v, o0);
    ops[n++] = pointwise(b, CUDNN_POINTWISE_MUL, o0, ds, o1);
    ops[n++] = pointwise(b, CUDNN_POINTWISE_MUL, o1, dv, o2);
    ops[n++] = pointwise(b, CUDNN_POINTWISE_MUL, o2, so, o);
    ops[n++] = reduction(b, CUDNN_REDUCE_TENSOR_AMAX, o2, amax_o);
    cudnnBackendDescriptor_t g = mk(b, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    set(b, g, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, n, ops);
    set(b, g, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &h);
    fin(b, g, "fp8 operation graph");
    return g;
}

// Build the operation graph (unified: one SDPA node; else the composite softmax graph).
static cudnnBackendDescriptor_t build_graph(struct builder * b, cudnnHandle_t h, int unified, int H, int64_t Lq,
                                            int64_t Lk, int hd, int64_t ld)
{
    const cudnnDataType_t bf16 = CUDNN_DATA_BFLOAT16, f32 = CUDNN_DATA_FLOAT;
    const int64_t qd[4] = { 1, H, Lq, hd }, qs[4] = { Lq * ld, hd, ld, 1 };
    const int64_t kd[4] = { 1, H, Lk, hd }, ks[4] = { Lk * ld, hd, ld, 1 };
    const int64_t one[4] = { 1, 1, 1, 1 };
    cudnnBackendDescriptor_t q = tensor(b, UID_Q, bf16, qd, qs, false, false);
    cudnnBackendDescriptor_t v = tensor(b, UID_V, bf16, kd, ks, false, false);
    cudnnBackendDescriptor_t o = tensor(b, UID_O, bf16, qd, qs, false, false);
    cudnnBackendDescriptor_t sc = tensor(b, UID_SCALE, f32, one, one, false, true);
    cudnnBackendDescriptor_t ops[8];
    int n_ops = 0;
    if (unified) {
        cudnnBackendDescriptor_t k = tensor(b, UID_K, bf16, kd, ks, false, false);
        cudnnBackendDescriptor_t op = mk(b, CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR);
        set(b, op, CUDNN_ATTR_OPERATION_SDPA_FWD_QDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &q);
        set(b, op, CUDNN_ATTR_OPERATION_SDPA_FWD_KDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &k);
        set(b, op, CUDNN_ATTR_OPERATION_SDPA_FWD_VDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &v);
        set(b, op, CUDNN_ATTR_OPERATION_SDPA_FWD_ODESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &o);
        set(b, op, CUDNN_ATTR_OPERATION_SDPA_FWD_SCALEDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &sc);
        fin(b, op, "sdpa_fwd op");
        ops[n_ops++] = op;
    } else {
        const int64_t ktd[4] = { 1, H, hd, Lk }, kts[4] = { Lk * ld, hd, 1, ld };
        const int64_t sd[4] = { 1, H, Lq, Lk }, ss[4] = { H * Lq * Lk, Lq * Lk, Lk, 1 };
        const int64_t rd[4] = { 1, H, Lq, 1 }, rs[4] = { H * Lq, Lq, 1, 1 };
        cudnnBackendDescriptor_t kt = tensor(b, UID_K, bf16, ktd, kts, false, false);
        cudnnBackendDescriptor_t s = tensor(b, 100, f32, sd, ss, true, false);
        cudnnBackendDescriptor_t s2 = tensor(b, 101, f32, sd, ss, true, false);
        cudnnBackendDescriptor_t mx = tensor(b, 102, f32, rd, rs, true, false);
        cudnnBackendDescriptor_t sub = tensor(b, 103, f32, sd, ss, true, false);
        cudnnBackendDescriptor_t ex = tensor(b, 104, f32, sd, ss, true, false);
        cudnnBackendDescriptor_t sum = tensor(b, 105, f32, rd, rs, true, false);
        cudnnBackendDescriptor_t p = tensor(b, 106, bf16, sd, ss, true, false);
        ops[n_ops++] = matmul(b, q, kt, s);
        ops[n_ops++] = pointwise(b, CUDNN_POINTWISE_MUL, s, sc, s2);
        ops[n_ops++] = reduction(b, CUDNN_REDUCE_TENSOR_MAX, s2, mx);
        ops[n_ops++] = pointwise(b, CUDNN_POINTWISE_SUB, s2, mx, sub);
        ops[n_ops++] = pointwise(b, CUDNN_POINTWISE_EXP, sub, NULL, ex);
        ops[n_ops++] = reduction(b, CUDNN_REDUCE_TENSOR_ADD, ex, sum);
        ops[n_ops++] = pointwise(b, CUDNN_POINTWISE_DIV, ex, sum, p);
        ops[n_ops++] = matmul(b, p, v, o);
    }
    cudnnBackendDescriptor_t g = mk(b, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
    set(b, g, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, n_ops, ops);
    set(b, g, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &h);
    fin(b, g, "operation graph");
    return g;
}

// Heuristics (mode A, then fallback) -> the first engine config that finalizes into a plan.
static cudnnBackendDescriptor_t make_plan(struct builder * b, cudnnHandle_t h, cudnnBackendDescriptor_t g)
{
    const cudnnBackendHeurMode_t modes[2] = { CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK };
    for (int mi = 0; mi < 2 && !b->bad; mi++) {
        cudnnBackendDescriptor_t heur = mk(b, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
        set(b, heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &g);
        set(b, heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &modes[mi]);
        fin(b, heur, "engine heuristics");
        if (b->bad) {
            return NULL;
        }
        enum { N_CFG = 8 };
        cudnnBackendDescriptor_t cfg[N_CFG];
        int n_made = 0;
        for (int i = 0; i < N_CFG; i++) {
            if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfg[i]) != CUDNN_STATUS_SUCCESS) {
                break;
            }
            n_made++;
        }
        int64_t count = 0;
        cudnnStatus_t st = cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                                    n_made, &count, cfg);
        cudnnBackendDescriptor_t plan = NULL;
        for (int64_t i = 0; st == CUDNN_STATUS_SUCCESS && i < count && i < n_made && !plan; i++) {
            cudnnBackendDescriptor_t p = NULL;
            if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &p) != CUDNN_STATUS_SUCCESS) {
                break;
            }
            if (cudnnBackendSetAttribute(p, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &h) ==
                    CUDNN_STATUS_SUCCESS &&
                cudnnBackendSetAttribute(p, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                                         &cfg[i]) == CUDNN_STATUS_SUCCESS &&
                cudnnBackendFinalize(p) == CUDNN_STATUS_SUCCESS) {
                plan = p;
            } else {
                char last[160] = "";
                cudnnGetLastErrorString(last, sizeof(last));
                snprintf(b->err, sizeof(b->err), "plan from engine config %lld: %s", (long long) i, last);
                cudnnBackendDestroyDescriptor(p);
            }
        }
        for (int i = 0; i < n_made; i++) {
            cudnnBackendDestroyDescriptor(cfg[i]);
        }
        if (plan) {
            return plan;
        }
        if (st != CUDNN_STATUS_SUCCESS) {
            char last[160] = "";
            cudnnGetLastErrorString(last, sizeof(last));
            snprintf(b->err, sizeof(b->err), "heuristic results: %s %s", cudnnGetErrorString(st), last);
        } else if (count == 0) {
            snprintf(b->err, sizeof(b->err), "no engine configs (heuristic mode %d)", (int) modes[mi]);
        }
    }
    return NULL;
}

// Keep a built plan (its descriptors live as long as it does).
static void plan_keep(struct kc_sdpa_plan * p, struct builder * b, cudnnBackendDescriptor_t plan)
{
    int64_t ws = 0, n = 0;
    cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n, &ws);
    p->plan = plan;
    p->workspace = ws;
    p->ok = 1;
    memcpy(p->keep, b->d, sizeof(b->d[0]) * (size_t) b->n);
    p->n_keep = b->n;
}

static void builder_drop(struct builder * b)
{
    for (int i = 0; i < b->n; i++) {
        cudnnBackendDestroyDescriptor(b->d[i]);
    }
    b->n = 0;
}

static void plan_build_bf16(struct kc_state * s, struct kc_sdpa_plan * p)
{
    const char * env = getenv("KINORA_CUDNN_SDPA_GRAPH");   // unified | composite (default: both, in order)
    for (int unified = 1; unified >= 0 && !p->ok; unified--) {
        if (env && strcmp(env, unified ? "unified" : "composite") != 0) {
            continue;
        }
        struct builder b;
        memset(&b, 0, sizeof(b));
        cudnnBackendDescriptor_t g = build_graph(&b, s->dnn, unified, p->H, p->Lq, p->Lk, p->hd, p->ld);
        cudnnBackendDescriptor_t plan = b.bad ? NULL : make_plan(&b, s->dnn, g);
        if (plan) {
            plan_keep(p, &b, plan);
            ke_log(2, "cuda backend: cuDNN SDPA (%s graph) for H=%d Lq=%lld Lk=%lld hd=%d, workspace %lld bytes",
                   unified ? "unified" : "composite", p->H, (long long) p->Lq, (long long) p->Lk, p->hd,
                   (long long) p->workspace);
        } else {
            ke_log(2, "cuda backend: cuDNN SDPA %s graph unavailable (H=%d Lq=%lld Lk=%lld hd=%d): %s",
                   unified ? "unified" : "composite", p->H, (long long) p->Lq, (long long) p->Lk, p->hd, b.err);
            builder_drop(&b);
        }
    }
}

// The fp8 graph: O as bf16 first (no widening pass), then as e4m3; with the statistics pattern, then
// without.
static void plan_build_fp8(struct kc_state * s, struct kc_sdpa_plan * p)
{
    static const float host_consts[4] = { 1.0f / 448.0f, 448.0f, 1.0f, 0.0f };
    if (cudaMalloc((void **) &p->consts, sizeof(host_consts)) != cudaSuccess ||
        // queued on the compute stream, which runs the plan: no wait (the source is static)
        cudaMemcpyAsync(p->consts, host_consts, sizeof(host_consts), cudaMemcpyHostToDevice, s->stream) !=
            cudaSuccess) {
        cudaGetLastError();
        cudaFree(p->consts);
        p->consts = NULL;
        return;
    }
    for (int v = 0; v < 4 && !p->ok; v++) {
        const int o_bf16 = !(v & 1), stats = !(v & 2);
        struct builder b;
        memset(&b, 0, sizeof(b));
        cudnnBackendDescriptor_t g = build_graph_fp8(&b, s->dnn, p->H, p->Lq, p->Lk, p->hd, p->ld, o_bf16, stats);
        cudnnBackendDescriptor_t plan = b.bad ? NULL : make_plan(&b, s->dnn, g);
        if (plan) {
            plan_keep(p, &b, plan);
            p->o_bf16 = o_bf16;
            ke_log(2, "cuda backend: cuDNN fp8 SDPA (O %s%s) for H=%d Lq=%lld Lk=%lld hd=%d, workspace %lld bytes",
                   o_bf16 ? "bf16" : "e4m3", stats ? ", statistics" : "", p->H, (long long) p->Lq,
                   (long long) p->Lk, p->hd, (long long) p->workspace);
        } else {
            ke_log(2, "cuda backend: cuDNN fp8 SDPA (O %s%s) unavailable (H=%d Lq=%lld Lk=%lld hd=%d): %s",
                   o_bf16 ? "bf16" : "e4m3", stats ? ", statistics" : "", p->H, (long long) p->Lq,
                   (long long) p->Lk, p->hd, b.err);
            builder_drop(&b);
        }
    }
}

static struct kc_sdpa_plan * get_plan(struct kc_state * s, int64_t Lq, int64_t Lk, int H, int hd, int64_t ld, int fp8)
{
    for (struct kc_sdpa_plan * p = s->sdpa_plans; p; p = p->next) {
        if (p->Lq == Lq && p->Lk == Lk && p->H == H && p->hd == hd && p->ld == ld && p->fp8 == fp8) {
            return p;
        }
    }
    struct kc_sdpa_plan * p = calloc(1, sizeof(*p));
    if (!p) {
        return NULL;
    }
    p->Lq = Lq;
    p->Lk = Lk;
    p->H = H;
    p->hd = hd;
    p->ld = ld;
    p->fp8 = fp8;
    if (fp8) {
        plan_build_fp8(s, p);
    } else {
        plan_build_bf16(s, p);
    }
    p->next = s->sdpa_plans;
    s->sdpa_plans = p;
    return p;
}

// Execute a plan with these tensors (uid -> pointer) and its workspace. 0 ok.
static int plan_exec(struct kc_state * s, const struct kc_sdpa_plan * p, int n, const int64_t * uids, void ** ptrs)
{
    void * ws = p->workspace > 0 ? kc_alloc(s, (size_t) p->workspace) : NULL;
    if (p->workspace > 0 && !ws) {
        return -1;
    }
    cudnnBackendDescriptor_t pack = NULL;
    int rc = -1;
    if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack) == CUDNN_STATUS_SUCCESS &&
        cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n, uids) ==
            CUDNN_STATUS_SUCCESS &&
        cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, n, ptrs) ==
            CUDNN_STATUS_SUCCESS &&
        cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws) ==
            CUDNN_STATUS_SUCCESS &&
        cudnnBackendFinalize(pack) == CUDNN_STATUS_SUCCESS) {
        cudnnStatus_t st = cudnnBackendExecute(s->dnn, p->plan, pack);
        if (st == CUDNN_STATUS_SUCCESS) {
            rc = 0;
        } else {
            char last[160] = "";
            cudnnGetLastErrorString(last, sizeof(last));
            ke_log(1, "cuda backend: cuDNN SDPA%s execute: %s %s", p->fp8 ? " (fp8)" : "", cudnnGetErrorString(st),
                   last);
        }
    }
    if (pack) {
        cudnnBackendDestroyDescriptor(pack);
    }
    kc_free(s, ws);
    return rc;
}

int kc_sdpa_run(struct kc_state * s, uint16_t * o, const uint16_t * q, const uint16_t * k, const uint16_t * v,
                int64_t Lq, int64_t Lk, int H, int hd, int64_t ld, float scale)
{
    struct kc_sdpa_plan * p = get_plan(s, Lq, Lk, H, hd, ld, 0);
    if (!p || !p->ok) {
        return -1;
    }
    float scale_v = scale;
    const int64_t uids[5] = { UID_Q, UID_K, UID_V, UID_O, UID_SCALE };
    void * ptrs[5] = { (void *) q, (void *) k, (void *) v, (void *) o, &scale_v };
    return plan_exec(s, p, 5, uids, ptrs);
}

int kc_sdpa_fp8_run(struct kc_state * s, uint16_t * o, const uint16_t * q, const uint16_t * k, const uint16_t * v,
                    int64_t Lq, int64_t Lk, int H, int hd, int64_t ld, float scale)
{
    struct kc_sdpa_plan * p = get_plan(s, Lq, Lk, H, hd, ld, 1);
    if (!p || !p->ok) {
        return -1;
    }
    // e4m3 copies of q, k, v (and O when cuDNN writes it narrow), packed with the same row stride, and
    // the per-call scalars: { scale, descale } of q, k, v, their amax, the two amax outputs
    const size_t nq = (size_t) (Lq * ld), nk = (size_t) (Lk * ld);
    uint8_t * q8 = kc_alloc(s, nq), * k8 = kc_alloc(s, nk), * v8 = kc_alloc(s, nk);
    uint8_t * o8 = p->o_bf16 ? NULL : kc_alloc(s, nq);
    float * sc = kc_alloc(s, 16 * sizeof(float));
    int rc = -1;
    if (q8 && k8 && v8 && sc && (p->o_bf16 || o8)) {
        float *sq = sc, *sk = sc + 2, *sv = sc + 4, *amax = sc + 6;
        // each maximum from the op that wrote the tensor where it took one (cuda-fuse.c), else a pass
        const float * known[3] = { kc_amax_known(s, q, nq * 2), kc_amax_known(s, k, nk * 2),
                                   kc_amax_known(s, v, nk * 2) };
        rc = (!known[0] && kc_amax_bf16(amax, q, Lq, ld, ld, s->stream)) ||
                     kc_quant_e4m3(q8, ld, q, ld, Lq, ld, known[0] ? known[0] : amax, sq, s->stream) ||
                     (!known[1] && kc_amax_bf16(amax + 1, k, Lk, ld, ld, s->stream)) ||
                     kc_quant_e4m3(k8, ld, k, ld, Lk, ld, known[1] ? known[1] : amax + 1, sk, s->stream) ||
                     (!known[2] && kc_amax_bf16(amax + 2, v, Lk, ld, ld, s->stream)) ||
                     kc_quant_e4m3(v8, ld, v, ld, Lk, ld, known[2] ? known[2] : amax + 2, sv, s->stream)
                 ? -1
                 : 0;
        if (rc == 0) {
            float scale_v = scale;
            const int64_t uids[13] = { UID_Q,  UID_K,  UID_V,  UID_O,  UID_SCALE,  UID_DQ,    UID_DK,
                                       UID_DV, UID_DS, UID_SS, UID_SO, UID_AMAX_S, UID_AMAX_O };
            // O = true O * scale_o: 1 for a bf16 O; V's scale for an e4m3 O (|O| <= max |V|)
            void * ptrs[13] = { q8,      k8,           v8,           p->o_bf16 ? (void *) o : (void *) o8,
                                &scale_v, sq + 1,      sk + 1,       sv + 1,
                                p->consts, p->consts + 1, p->o_bf16 ? (void *) (p->consts + 2) : (void *) sv,
                                amax + 3, amax + 4 };
            rc = plan_exec(s, p, 13, uids, ptrs);
            if (rc == 0 && !p->o_bf16) {
                rc = kc_e4m3_to_bf16(o, ld, o8, ld, Lq, ld, sv + 1, s->stream);
                // the e4m3 O (V's scale) stays for the projection's fp8 GEMM (cuda-fuse.c)
                if (rc == 0 && kc_twin_keep(s, o, nq * 2, o8, sc, sv + 1)) {
                    o8 = NULL;
                    sc = NULL;
                }
            }
        }
    }
    kc_free(s, q8);
    kc_free(s, k8);
    kc_free(s, v8);
    kc_free(s, o8);
    kc_free(s, sc);
    return rc;
}

void kc_sdpa_free_all(struct kc_state * s)
{
    struct kc_sdpa_plan * p = s->sdpa_plans;
    while (p) {
        struct kc_sdpa_plan * n = p->next;
        if (p->plan) {
            cudnnBackendDestroyDescriptor(p->plan);
        }
        cudaFree(p->consts);
        for (int i = 0; i < p->n_keep; i++) {
            cudnnBackendDestroyDescriptor(p->keep[i]);
        }
        free(p);
        p = n;
    }
    s->sdpa_plans = NULL;
}
