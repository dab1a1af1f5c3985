// ke-debug.h - Kinora engine debugging entry points: parity evaluation against golden fixtures.
//
// Not part of the application API (ke.h): these calls exist for `kinora-cli eval`, the parity tests and
// the CUDA device runs. They read IO safetensors files that name their own weights and settings, and may
// change with the fixtures. Same error rule as ke.h.
#pragma once

#include <stdbool.h>

#include "ke.h"

#ifdef __cplusplus
extern "C" {
#endif

// --- parity evaluation --------------------------------------------------------------------------
// Run one module over the inputs of an IO safetensors file (as the golden fixtures store them) and
// write every output the IO file's `outputs` metadata names. Used by `kinora-cli eval` and the tests.
struct ke_eval_args {
    const char * weights;       // weight file or folder (dit, t5, vae21, vae22, taehv)
    const char * weights_dir;   // folder of weight files named in the IO metadata (pipeline)
    const char * config;        // optional config.json overriding the weights' own config
    const char * in;            // IO file with the inputs
    const char * out;           // output safetensors file
    const char * backend;       // "cpu" (default) or "cuda"
    bool fast;                  // bf16 compute path instead of exact fp32
    bool fp8;                   // dit, ltx-transformer: fp8 on a device backend with fp8 units (bf16 on
                                // others and on the CPU, which runs it as fast); implies fast
    const struct ke_lora_spec * loras;  // dit, pipeline: LoRAs on the DiT (pipeline: strength_high for
    int n_loras;                        // the high-noise expert)
    bool lora_merge;            // merge them into copies of the weights instead of run-time terms
};
// what: "dit", "t5", "vae21", "vae22", "taehv", "scheduler", "pipeline"
enum ke_status ke_eval(const char * what, const struct ke_eval_args * args, struct ke_error * err);

#ifdef __cplusplus
}
#endif
