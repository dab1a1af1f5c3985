// Kinora engine: a small persistent pthread pool for data-parallel loops.
#pragma once

#include <stdint.h>

// fn is called with disjoint [begin, end) ranges covering [0, n); tid in [0, n_threads).
typedef void (*ke_range_fn)(void * ctx, int64_t begin, int64_t end, int tid);

// Run fn over [0, n) on the engine's pool (the caller takes part). grain: the smallest useful range.
// Not re-entrant: a ke_parallel_for inside fn runs serially on the calling thread.
void ke_parallel_for(int64_t n, int64_t grain, ke_range_fn fn, void * ctx);
