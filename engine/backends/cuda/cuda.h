// Kinora engine: the CUDA backend as the engine sees it (backend-lookup.c loads the module).
#pragma once

#include "backends/backend.h"

// The CUDA backend on device $KINORA_CUDA_DEVICE (default 0), loaded from libkinora-cuda.so on first
// use; NULL + err (KE_STATUS_UNSUPPORTED, "no usable GPU (...)") without a GPU, without the module, or
// in a build without CUDA.
struct ke_backend * ke_backend_cuda(struct ke_error * err);
// Attention implementation: 0 auto (cuDNN SDPA, else own flash kernel), 1 cuDNN, 2 own flash, 3 f32.
// Does nothing for other backends.
void ke_backend_cuda_set_attention(struct ke_backend * be, int impl);
