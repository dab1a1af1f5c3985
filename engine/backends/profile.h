// Kinora engine: profiling wrapper for a backend (time per op class, synchronised after every op).
#pragma once

#include "backends/backend.h"

enum ke_prof_bucket {
    KE_PROF_GEMM = 0,       // linear and conv3d
    KE_PROF_ATTENTION,
    KE_PROF_OTHER,          // norms, element-wise, layout, transfers
    KE_PROF_COUNT,
};

struct ke_backend * ke_backend_profile_wrap(struct ke_backend * inner);
void ke_backend_profile_get(struct ke_backend * be, double t[KE_PROF_COUNT]);
void ke_backend_profile_reset(struct ke_backend * be);
void ke_backend_profile_free(struct ke_backend * be);
