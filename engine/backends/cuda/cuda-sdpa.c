// Kinora engine: attention through cuDNN's fused SDPA (flash) engines, described with the backend
// graph API: one SDPA_FWD operation (cuDNN >= 9.13), else the matmul / scale / softmax / matmul graph
// that cuDNN fuses. Plans are built once per shape and cached; q/k/v/o are bf16 [L, ld] with head h
// at column h*hd, described to cuDNN as [1, H, L, hd] with strides (L*ld, hd, ld, 1): no transposes.
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

#define MAX_DESC 40

struct kc_sdpa_plan {
    int64_t Lq, Lk, ld;
    int H, hd;
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

static cudnnBackendDescriptor_t matmul(struct builder * b, cudnnBackendDescriptor_t a, cudnnBackendDescriptor_t bb,
                                       cudnnBackendDescriptor_t c)
{
    const cudnnDataType_t f32 = CUDNN_DATA_FLOAT;
    cudnnBackendDescriptor_t m = mk(b, CUDNN_BACKEND_MATMUL_DESCRIPTOR);
    set(b, m, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &f32);
    fin(b, m, "matmul");
    cudnnBackendDescriptor_t op = mk(b, CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR);
    set(b, op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &a);
    set(b, op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &bb);
    set(b, op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &c);
    set(b, op, CUDNN_ATTR_OPERATION_MATMUL_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &m);
    fin(b, op, "matmul op");
    return op;
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

static struct kc_sdpa_plan * get_plan(struct kc_state * s, int64_t Lq, int64_t Lk, int H, int hd, int64_t ld)
{
    for (struct kc_sdpa_plan * p = s->sdpa_plans; p; p = p->next) {
        if (p->Lq == Lq && p->Lk == Lk && p->H == H && p->hd == hd && p->ld == ld) {
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
    const char * env = getenv("KINORA_CUDNN_SDPA_GRAPH");   // unified | composite (default: both, in order)
    for (int unified = 1; unified >= 0 && !p->ok; unified--) {
        if (env && strcmp(env, unified ? "unified" : "composite") != 0) {
            continue;
        }
        struct builder b;
        memset(&b, 0, sizeof(b));
        cudnnBackendDescriptor_t g = build_graph(&b, s->dnn, unified, H, Lq, Lk, hd, ld);
        cudnnBackendDescriptor_t plan = b.bad ? NULL : make_plan(&b, s->dnn, g);
        if (plan) {
            int64_t ws = 0, n = 0;
            cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n, &ws);
            p->plan = plan;
            p->workspace = ws;
            p->ok = 1;
            memcpy(p->keep, b.d, sizeof(b.d[0]) * (size_t) b.n);
            p->n_keep = b.n;
            ke_log(2, "cuda backend: cuDNN SDPA (%s graph) for H=%d Lq=%lld Lk=%lld hd=%d, workspace %lld bytes",
                   unified ? "unified" : "composite", H, (long long) Lq, (long long) Lk, hd, (long long) ws);
        } else {
            ke_log(2, "cuda backend: cuDNN SDPA %s graph unavailable (H=%d Lq=%lld Lk=%lld hd=%d): %s",
                   unified ? "unified" : "composite", H, (long long) Lq, (long long) Lk, hd, b.err);
            for (int i = 0; i < b.n; i++) {
                cudnnBackendDestroyDescriptor(b.d[i]);
            }
        }
    }
    p->next = s->sdpa_plans;
    s->sdpa_plans = p;
    return p;
}

int kc_sdpa_run(struct kc_state * s, uint16_t * o, const uint16_t * q, const uint16_t * k, const uint16_t * v,
                int64_t Lq, int64_t Lk, int H, int hd, int64_t ld, float scale)
{
    struct kc_sdpa_plan * p = get_plan(s, Lq, Lk, H, hd, ld);
    if (!p || !p->ok) {
        return -1;
    }
    void * ws = p->workspace > 0 ? kc_alloc(s, (size_t) p->workspace) : NULL;
    if (p->workspace > 0 && !ws) {
        return -1;
    }
    float scale_v = scale;
    const int64_t uids[5] = { UID_Q, UID_K, UID_V, UID_O, UID_SCALE };
    void * ptrs[5] = { (void *) q, (void *) k, (void *) v, (void *) o, &scale_v };
    cudnnBackendDescriptor_t pack = NULL;
    int rc = -1;
    if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack) == CUDNN_STATUS_SUCCESS &&
        cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 5, uids) ==
            CUDNN_STATUS_SUCCESS &&
        cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 5, ptrs) ==
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
            ke_log(1, "cuda backend: cuDNN SDPA execute: %s %s", cudnnGetErrorString(st), last);
        }
    }
    if (pack) {
        cudnnBackendDestroyDescriptor(pack);
    }
    kc_free(s, ws);
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
        for (int i = 0; i < p->n_keep; i++) {
            cudnnBackendDestroyDescriptor(p->keep[i]);
        }
        free(p);
        p = n;
    }
    s->sdpa_plans = NULL;
}
