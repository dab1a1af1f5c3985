// Kinora engine: entry points of the CUDA backend (built when KE_HAVE_CUDA is defined).
#pragma once

#include "backends/backend.h"

// The CUDA backend on device $KINORA_CUDA_DEVICE (default 0); NULL + err without a usable GPU.
struct ke_backend * ke_backend_cuda(struct ke_error * err);
// Attention implementation: 0 auto (cuDNN SDPA, else own flash kernel), 1 cuDNN, 2 own flash, 3 f32.
void ke_backend_cuda_set_attention(struct ke_backend * be, int impl);
