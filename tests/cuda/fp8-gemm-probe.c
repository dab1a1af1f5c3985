// Diagnostic for the fp8 GEMMs (device-run.sh fp8 builds and runs it with nvcc): which cuBLASLt e4m3
// matmul configurations this GPU, driver and cuBLAS accept. For each output type (f32, bf16), C the same
// buffer as D or not, the A/B scale pointers set or not, and no bias / a bf16 bias: how many algorithms
// the heuristic offers, and how many of them cublasLtMatmul then runs (status of the first refusal).
// The backend's layout throughout: A = the weight [N, K] row-major seen transposed, B = the activation
// [M, K], D [M, N] row-major; compute 32F, scale type 32F.
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <stdio.h>

static int probe(cublasLtHandle_t lt, int M, int N, int K, cudaDataType_t out_type, int sep_c, int scales,
                 int bias, void * a, void * b, void * c, void * d, void * bb, float * sc, void * ws, size_t wsz)
{
    cublasLtMatmulDesc_t op = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t res[16];
    int n = 0, ran = 0, first_bad = 0;
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    const cublasLtEpilogue_t epi = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    const cudaDataType_t bt = CUDA_R_16BF;
    cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta));
    cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb));
    cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi));
    if (bias) {
        cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof(bt));
        cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bb, sizeof(bb));
    }
    if (scales) {
        float * s0 = sc;
        float * s1 = sc + 1;
        cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &s0, sizeof(s0));
        cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &s1, sizeof(s1));
    }
    cublasLtMatrixLayoutCreate(&la, CUDA_R_8F_E4M3, K, N, K);
    cublasLtMatrixLayoutCreate(&lb, CUDA_R_8F_E4M3, K, M, K);
    cublasLtMatrixLayoutCreate(&lc, out_type, N, M, N);
    cublasLtMatmulPreferenceCreate(&pref);
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsz, sizeof(wsz));
    cublasStatus_t hs = cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 16, res, &n);
    const float one = 1.0f, zero = 0.0f;
    for (int i = 0; hs == CUBLAS_STATUS_SUCCESS && i < n; i++) {
        cublasStatus_t st = cublasLtMatmul(lt, op, &one, a, la, b, lb, &zero, sep_c ? c : d, lc, d, lc, &res[i].algo,
                                           ws, wsz, 0);
        if (st == CUBLAS_STATUS_SUCCESS) {
            ran++;
        } else if (!first_bad) {
            first_bad = (int) st;
        }
    }
    cudaError_t ce = cudaDeviceSynchronize();
    printf("M=%d N=%d K=%d out %s, C %s, scales %s, bias %s: heuristic status %d, %d offered, %d ran (first "
           "refusal %d)%s\n",
           M, N, K, out_type == CUDA_R_32F ? "f32 " : "bf16", sep_c ? "apart" : "= D ", scales ? "set" : "off",
           bias ? "bf16" : "none", (int) hs, n, ran, first_bad, ce == cudaSuccess ? "" : " (CUDA error)");
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(op);
    return ran;
}

int main(void)
{
    cublasLtHandle_t lt;
    if (cublasLtCreate(&lt) != CUBLAS_STATUS_SUCCESS) {
        printf("cublasLtCreate failed\n");
        return 1;
    }
    printf("cuBLASLt version %zu\n", cublasLtGetVersion());
    const size_t big = (size_t) 1 << 24, wsz = (size_t) 32 << 20;
    void *a, *b, *c, *d, *bb, *ws;
    float * sc;
    if (cudaMalloc(&a, big) || cudaMalloc(&b, big) || cudaMalloc(&c, big * 4) || cudaMalloc(&d, big * 4) ||
        cudaMalloc(&bb, 65536) || cudaMalloc(&ws, wsz) || cudaMalloc((void **) &sc, 64)) {
        printf("cudaMalloc failed\n");
        return 1;
    }
    cudaMemset(a, 0x38, big);   // e4m3 1.0
    cudaMemset(b, 0x38, big);
    cudaMemset(bb, 0, 65536);
    const float s[2] = { 1.0f, 1.0f };
    cudaMemcpy(sc, s, sizeof(s), cudaMemcpyHostToDevice);
    const int shapes[3][3] = { { 256, 256, 256 }, { 512, 3072, 4096 }, { 77, 304, 5120 } };
    int total = 0;
    for (int i = 0; i < 3; i++) {
        for (int o = 0; o < 2; o++) {
            for (int sep = 0; sep < 2; sep++) {
                for (int scl = 0; scl < 2; scl++) {
                    for (int bias = 0; bias < 2; bias++) {
                        total += probe(lt, shapes[i][0], shapes[i][1], shapes[i][2], o ? CUDA_R_16BF : CUDA_R_32F, sep,
                                       scl, bias, a, b, c, d, bb, sc, ws, wsz);
                    }
                }
            }
        }
    }
    printf("%d matmuls ran\n", total);
    cublasLtDestroy(lt);
    return 0;
}
