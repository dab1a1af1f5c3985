// Kinora engine: backend lookup by name ("cpu", "auto", and "cuda" when the CUDA backend is built).
#include "backends/backend.h"
#include "core/error.h"

#include <string.h>

#ifdef KE_HAVE_CUDA
#include "backends/cuda/cuda.h"
#endif

struct ke_backend * ke_backend_by_name(const char * name, struct ke_error * err)
{
    if (!name || strcmp(name, "cpu") == 0) {
        return ke_backend_cpu();
    }
    if (strcmp(name, "auto") == 0) {
        // the GPU when one is usable, else the CPU (no error either way)
#ifdef KE_HAVE_CUDA
        struct ke_error probe = { 0 };
        struct ke_backend * gpu = ke_backend_cuda(&probe);
        if (gpu) {
            return gpu;
        }
        ke_log(2, "no usable GPU (%s): using the CPU", probe.msg);
#endif
        return ke_backend_cpu();
    }
#ifdef KE_HAVE_CUDA
    if (strcmp(name, "cuda") == 0) {
        return ke_backend_cuda(err);
    }
    ke_err(err, KE_STATUS_UNSUPPORTED, "backend '%s' is not available (have: cpu, cuda)", name);
#else
    ke_err(err, KE_STATUS_UNSUPPORTED, "backend '%s' is not available in this build (have: cpu)", name);
#endif
    return NULL;
}
