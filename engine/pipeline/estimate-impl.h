// Kinora engine: the pre-flight estimate's shared pieces (estimate.c), for estimate-ltx.c.
#pragma once

#include <stdbool.h>

#include "ke.h"

// FLOP/s of the DiT throughput model (its reference forwards and measured times, estimate.c).
double ke_estimate_flop_rate(bool cuda, bool fast, int threads);
// Seconds of a VAE decode of px_frames output pixel-frames by a VAE of vae_params parameters (the Wan2.2
// VAE's measured rate scaled by the parameter count).
double ke_estimate_decode_seconds(bool cuda, double px_frames, double vae_params, int threads);
// The fixed overheads: host bytes of the process and scratch, device bytes of the CUDA context.
void ke_estimate_bases(bool cuda, double * host_bytes, double * device_bytes);
// MemAvailable of /proc/meminfo in bytes (0 when unknown).
double ke_estimate_mem_available(void);
// e->summary from e's verdict, memory and time.
void ke_estimate_summary(struct ke_estimate * e, bool cuda, int threads);
