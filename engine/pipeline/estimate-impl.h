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
// The text encoder's stage on the GPU (a CUDA run with text_device AUTO), planned as the pipeline plans it
// (models/te/umt5.c ke_umt5_plan_memory): T5 of `params` linear parameters (`bytes` as stored, the token
// embedding excluded: it stays on the host), width dim, n_layers layers; weights in bf16 or as stored when
// narrower, resident when they fit dev_budget (0: no budget) with the activations of the longest prompt,
// else two layers on the device and the rest streamed from pinned host memory. Sets the stage's device
// bytes (the CUDA context included), the host bytes it adds (pinned copies of streamed layers) and its
// seconds (uploading the weights, then the encode); false when even streaming does not fit: T5 then runs
// on the CPU.
bool ke_estimate_t5_gpu(double params, double bytes, double dim, int n_layers, double dev_budget, double * dev_bytes,
                        double * host_bytes, double * seconds);
// e->summary from e's verdict, memory and time.
void ke_estimate_summary(struct ke_estimate * e, bool cuda, int threads);
