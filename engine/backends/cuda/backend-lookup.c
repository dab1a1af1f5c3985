// Kinora engine: backend lookup when the CUDA backend is not built.
#include "backends/backend.h"
#include "core/error.h"

#include <string.h>

struct ke_backend * ke_backend_by_name(const char * name, struct ke_error * err)
{
    if (!name || strcmp(name, "cpu") == 0) {
        return ke_backend_cpu();
    }
    ke_err(err, KE_STATUS_UNSUPPORTED, "backend '%s' is not available in this build (have: cpu)", name);
    return NULL;
}
