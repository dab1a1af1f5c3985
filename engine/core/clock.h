// Kinora engine: a monotonic clock in seconds, for timings and logs (the CUDA module, which links none
// of the engine, has its twin kc_now).
#pragma once

#include <time.h>

static inline double ke_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}
