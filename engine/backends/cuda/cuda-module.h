// Kinora engine: the interface between the engine and the CUDA backend module (libkinora-cuda.so),
// which the engine loads with dlopen when a CUDA backend is asked for, so that a CPU-only run never
// maps cudart, cuBLASLt or cuDNN. The module calls back into the engine only through this table.
#pragma once

#include "backends/backend.h"

// Bumped whenever this table, struct ke_backend, struct ke_backend_ops or the structs the ops take
// (ke_linear, ke_conv3d) change.
#define KE_CUDA_MODULE_ABI 5

// Engine services the module uses (messages come preformatted).
struct ke_cuda_host {
    int abi;
    void (*log)(int level, const char * msg);
    enum ke_status (*err)(struct ke_error * err, enum ke_status code, const char * msg);
    enum ke_status (*be_fail)(struct ke_backend * be, enum ke_status code, const char * msg);
    void (*convert_to_f32)(float * dst, const void * src, enum ke_dtype type, float scale, size_t n);
    float * (*tensor_to_f32_alloc)(const struct ke_tensor * t);
    int64_t (*tensor_nelements)(const struct ke_tensor * t);
    size_t (*dtype_size)(enum ke_dtype t);
    uint16_t (*f32_to_bf16)(float f);
};

// Exported by the module: the CUDA backend (a process-wide singleton), or NULL + err without a
// usable GPU or when host->abi differs from the module's.
#define KE_CUDA_MODULE_CREATE "ke_cuda_module_create"
typedef struct ke_backend * (*ke_cuda_module_create_fn)(const struct ke_cuda_host * host, struct ke_error * err);
// Exported by the module: attention implementation (see ke_backend_cuda_set_attention).
#define KE_CUDA_MODULE_SET_ATTENTION "ke_cuda_module_set_attention"
typedef void (*ke_cuda_module_set_attention_fn)(struct ke_backend * be, int impl);
