// ke.h - the Kinora engine: Wan2.2 text/image-to-video inference in C11.
//
// Usage sketch:
//
//     struct ke_error err = {0};
//     ke_model_t * m = NULL;
//     if (ke_model_open(&m, "/path/to/Wan2.2-TI2V-5B", NULL, &err) != KE_STATUS_OK) { puts(err.msg); ... }
//     struct ke_gen_params p = ke_gen_params_default(ke_model_task(m));
//     p.prompt = "a red fox running through snow";
//     p.progress = my_progress_cb; p.user_data = me;
//     struct ke_video * v = NULL;
//     ke_generate(m, &p, &v, &err);           // blocks; run it on a worker thread
//     ... v->frames[] RGB8 ...
//     ke_video_free(v); ke_model_free(m);
//
// Layout: videos are RGB8, frame-major, rows top to bottom, 3 bytes a pixel, no row padding.
// Latents are float32 [C, F, H, W] (channels outermost).
// Thread-safety: one model is driven by one thread at a time; different models may run in parallel.
// Callbacks run on the calling (worker) thread; copy what you keep.
// Errors: fallible calls return enum ke_status; the optional struct ke_error gets a one-line message
// naming the file, the tensor and the expected vs actual shape where that applies.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

enum ke_status {
    KE_STATUS_OK          = 0,
    KE_STATUS_ABORTED     = 1,   // cancelled through the abort callback
    KE_STATUS_ERROR       = -1,  // generic failure
    KE_STATUS_IO          = -2,  // file missing / unreadable / write failed
    KE_STATUS_FORMAT      = -3,  // malformed or hostile file contents
    KE_STATUS_SHAPE       = -4,  // a tensor has the wrong shape or dtype
    KE_STATUS_MISSING     = -5,  // a required tensor or key is absent
    KE_STATUS_NOMEM       = -6,  // allocation failed or a size is impossible
    KE_STATUS_INVALID     = -7,  // bad argument (size, frame count, ...)
    KE_STATUS_UNSUPPORTED = -8,  // valid but not supported (dtype, backend ...)
};

struct ke_error {
    enum ke_status code;
    char msg[1024];
};

const char * ke_status_str(enum ke_status s);
const char * ke_version(void);

// Logging goes to a settable callback (default: silent). level: 0 error, 1 warn, 2 info, 3 debug.
typedef void (*ke_log_fn)(int level, const char * msg, void * user_data);
void ke_log_set(ke_log_fn fn, void * user_data);

// Threads used by the CPU backend (0 = number of online CPUs). Call before heavy work.
void ke_set_threads(int n_threads);
int ke_get_threads(void);

// Matmul precision of the CPU backend: exact fp32 (parity) or bf16 compute with fp32 accumulation.
enum ke_precision {
    KE_PRECISION_FP32 = 0,
    KE_PRECISION_BF16 = 1,
};

// --- parity evaluation --------------------------------------------------------------------------
// Run one module over the inputs of an IO safetensors file (as the golden fixtures store them) and
// write every output the IO file's `outputs` metadata names. Used by `kinora-cli eval` and the tests.
struct ke_eval_args {
    const char * weights;       // weight file or folder (dit, t5, vae21, vae22)
    const char * weights_dir;   // folder of weight files named in the IO metadata (pipeline)
    const char * config;        // optional config.json overriding the weights' own config
    const char * in;            // IO file with the inputs
    const char * out;           // output safetensors file
    const char * backend;       // "cpu" (default) or "cuda"
    bool fast;                  // bf16 compute path instead of exact fp32
};
// what: "dit", "t5", "vae21", "vae22", "scheduler", "pipeline"
enum ke_status ke_eval(const char * what, const struct ke_eval_args * args, struct ke_error * err);

// @@ section: text (tokenizer, T5)

// @@ section: vae

// @@ section: generation

#ifdef __cplusplus
}
#endif
