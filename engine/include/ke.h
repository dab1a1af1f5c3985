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

// Compute precision. FP32: exact fp32 matmuls on the CPU (parity). BF16: bf16 operands with fp32
// accumulation (the default; on the GPU the parity path). FP8: the fast path on GPUs with fp8 tensor
// cores: the DiT's attention in e4m3 with per-tensor scales (compute capability 9.0 and newer), fp32
// accumulation and softmax statistics, and its linears as e4m3 GEMMs (8.9 and newer;
// KINORA_CUDA_FP8=attn|gemm keeps one of the two); other GPUs and the CPU run it as BF16.
enum ke_precision {
    KE_PRECISION_FP32 = 0,
    KE_PRECISION_BF16 = 1,
    KE_PRECISION_FP8 = 2,
};
// The precision's name: "fp32", "bf16" or "fp8" ("unknown" outside the enum), and back (0 and *out set, or
// -1 when unknown).
const char * ke_precision_name(enum ke_precision p);
int ke_precision_from_name(const char * name, enum ke_precision * out);

// @@ section: text (tokenizer, T5)
// --- tokenizer ------------------------------------------------------------------------------------
// The SentencePiece unigram tokenizer of google/umt5-xxl (any unigram model works), read from a
// spiece.model (SentencePiece ModelProto) or a Hugging Face tokenizer.json. Ids equal what
// SentencePiece assigns. A tokenizer is immutable once open: encode from any number of threads.
typedef struct ke_tokenizer ke_tokenizer_t;

enum ke_tokenize_flags {
    KE_TOKENIZE_PROMPT = 0,       // as the pipeline does: clean the prompt, take special tokens
                                  // written in it (</s>, <extra_id_0>) whole, append EOS (id 1)
    KE_TOKENIZE_RAW    = 1 << 0,  // the pieces of the text as given: no cleaning, no EOS
    KE_TOKENIZE_STRIP  = 1 << 1,  // with PROMPT: only strip surrounding whitespace instead of the Wan
                                  // cleaning (LTX-Video's T5 prompts, ke_t5xxl_tokenize)
};

// path: a spiece.model, a tokenizer.json, or a folder holding either (tokenizer.json preferred, as
// the official pipeline reads it; each form is followed as written, e.g. its byte_fallback flag).
enum ke_status ke_tokenizer_open(ke_tokenizer_t ** tok, const char * path, struct ke_error * err);
void ke_tokenizer_free(ke_tokenizer_t * tok);
// Encode UTF-8 text (NUL-terminated). Prompt mode keeps at most max_ids - 1 pieces, then EOS
// (max_ids = 512 gives the pipeline's text_len); *n_ids is the number stored. Raw mode stores at
// most max_ids ids and sets *n_ids to the full count, which may be larger (call again).
enum ke_status ke_tokenizer_encode(const ke_tokenizer_t * tok, const char * text, int32_t * ids,
                                   int max_ids, int * n_ids, unsigned flags, struct ke_error * err);
// The piece text of an id (U+2581 for spaces), NULL when out of range; borrowed from tok.
const char * ke_tokenizer_piece(const ke_tokenizer_t * tok, int32_t id);
int ke_tokenizer_n_pieces(const ke_tokenizer_t * tok);
int ke_tokenizer_eos_id(const ke_tokenizer_t * tok);   // -1 when the model has none
int ke_tokenizer_unk_id(const ke_tokenizer_t * tok);

// --- T5 text encoder (UMT5-XXL) with a prompt-embedding cache -------------------------------------
// Weights: the official models_t5_umt5-xxl-enc-bf16.pth, or safetensors with HF/ComfyUI names
// (fp16, bf16 or fp8 scaled). One encoder is driven by one thread at a time.
typedef struct ke_text_encoder ke_text_encoder_t;

struct ke_text_cache_stats {
    int64_t mem_hits;       // answered from memory
    int64_t disk_hits;      // answered from the cache folder
    int64_t misses;         // the encoder ran
    int64_t device_misses;  // of the misses: those encoded on a device backend (the rest ran on the CPU)
};

// backend: "cpu" (default when NULL) or "cuda"; fast: bf16 matmuls instead of exact fp32.
enum ke_status ke_text_encoder_open(ke_text_encoder_t ** enc, const char * weights, const char * backend, bool fast,
                                    struct ke_error * err);
void ke_text_encoder_free(ke_text_encoder_t * enc);
int ke_text_encoder_dim(const ke_text_encoder_t * enc);                 // 4096 for UMT5-XXL
const char * ke_text_encoder_digest(const ke_text_encoder_t * enc);     // hex model digest (cache key part)
// Encode the n real tokens of a prompt (ids as ke_tokenizer_encode gives them, EOS included, no padding)
// into *hidden = float32 [n, dim], the rows the pipeline keeps; free it with ke_text_hidden_free.
// Results are cached in memory and, when cache_dir is not NULL or "", in cache_dir/<key>.safetensors
// (written atomically), keyed by the model digest, the precision and the ids.
enum ke_status ke_text_encode(ke_text_encoder_t * enc, const int32_t * ids, int n, const char * cache_dir,
                              float ** hidden, struct ke_error * err);
// The same from prompt text: tokenized as the pipeline does (cleaned, at most 511 pieces + EOS), then
// encoded; *n_rows = the number of tokens (rows of *hidden).
enum ke_status ke_text_encode_prompt(ke_text_encoder_t * enc, const ke_tokenizer_t * tok, const char * prompt,
                                     const char * cache_dir, float ** hidden, int * n_rows, struct ke_error * err);
void ke_text_hidden_free(float * hidden);
void ke_text_encoder_stats(const ke_text_encoder_t * enc, struct ke_text_cache_stats * st);
// $XDG_CACHE_HOME/kinora/text (or ~/.cache/kinora/text); malloc'd (free()), NULL without a home.
char * ke_text_cache_default_dir(void);

// --- T5 v1.1 XXL (LTX-Video's text encoder) ------------------------------------------------------
// The tokenizer LTX-Video's pipeline runs (transformers' T5Tokenizer over PixArt-alpha's spiece.model:
// 32,000 pieces, plus the 100 sentinels <extra_id_N> = id 32099 - N), and its prompt handling: the
// text only stripped, special tokens written in it (</s>, <pad>, <unk>, <extra_id_N>) taken whole,
// EOS (id 1) appended, at most max_len - 1 pieces kept, padded with <pad> (id 0) to max_len.
// The weights (HF T5EncoderModel, ComfyUI t5xxl_*.safetensors, GGUF) open with ke_text_encoder_open.
#define KE_T5XXL_MAX_TOKENS 256   // LTX-Video's text_encoder_max_tokens

// path: a spiece.model, a tokenizer.json, or a folder holding either; the sentinels are appended
// when the file has none. Free with ke_tokenizer_free.
enum ke_status ke_t5xxl_tokenizer_open(ke_tokenizer_t ** tok, const char * path, struct ke_error * err);
// ids[max_len] and mask[max_len] (1 for the real tokens, EOS included, 0 for padding); *n_real = the
// number of real tokens (at least 1: EOS).
enum ke_status ke_t5xxl_tokenize(const ke_tokenizer_t * tok, const char * prompt, int32_t * ids, int32_t * mask,
                                 int max_len, int * n_real, struct ke_error * err);

// @@ section: vae
// --- Wan VAEs (2.1: z 16, x8 space; 2.2: z 48, x16 space; both x4 time) -----------------------------
// Videos are float32 [3, F, H, W] in [-1, 1] with F = 4n+1; latents float32 [z, 1+(F-1)/4, H/s, W/s],
// normalised with the model's mean and 1/std. Both directions stream (encode frame 0, then groups of
// 4; decode one latent frame at a time): working memory does not grow with the frame count.
typedef struct ke_vae ke_vae_t;

struct ke_vae_params {
    const char * backend;       // "cpu" (default) or "cuda"
    bool fast;                  // bf16 convolutions and bf16 caches instead of exact fp32 (Wan2.2 at
                                // 1280x704 needs it to stay near 6 GiB: the fp32 caches alone are 6.4 GB)
    double mem_budget_gib;      // decode caches + activations budget picking spatial tiles (0: untiled)
    int tile;                   // force square tiles of this many latent pixels (0: from the budget)
    int tile_overlap;           // latent pixels shared by neighbouring tiles (0: default 4)
};
struct ke_vae_params ke_vae_params_default(void);

// Called for every decoded frame, in order: rgb [3, height, width] in [-1, 1] (borrowed for the call).
// Return false to stop (the decode returns KE_STATUS_ABORTED).
typedef bool (*ke_vae_frame_fn)(const float * rgb, int index, int n_frames, int width, int height,
                                void * user_data);

// Open a VAE checkpoint (Wan2.1_VAE.pth / Wan2.2_VAE.pth, ComfyUI safetensors); the version comes from
// the tensor shapes. p may be NULL (defaults).
enum ke_status ke_vae_open(ke_vae_t ** out, const char * path, const struct ke_vae_params * p,
                           struct ke_error * err);
void ke_vae_free(ke_vae_t * v);
int ke_vae_version(const ke_vae_t * v);     // 21 or 22
int ke_vae_z_dim(const ke_vae_t * v);       // 16 or 48
int ke_vae_scale(const ke_vae_t * v);       // pixels per latent pixel: 8 or 16
// video [3, n_frames, height, width] -> latent (frames past 1+4*floor((n_frames-1)/4) are ignored;
// height and width must be multiples of ke_vae_scale()).
enum ke_status ke_vae_encode(ke_vae_t * v, float * latent, const float * video, int n_frames, int height,
                             int width, struct ke_error * err);
// latent [z, n_lat, lat_h, lat_w] -> video [3, 1+4*(n_lat-1), lat_h*s, lat_w*s], clamped to [-1, 1].
// video may be NULL when frame_cb takes the frames; frame_cb may be NULL.
enum ke_status ke_vae_decode(ke_vae_t * v, float * video, const float * latent, int n_lat, int lat_h, int lat_w,
                             ke_vae_frame_fn frame_cb, void * user_data, struct ke_error * err);

// @@ section: generation
// --- models and generation ----------------------------------------------------------------------

typedef struct ke_model ke_model_t;

enum ke_task {
    KE_TASK_TI2V_5B = 0,    // Wan2.2 TI2V-5B: text-to-video, or image-to-video with an image
    KE_TASK_T2V_A14B,       // Wan2.2 T2V-A14B (two experts)
    KE_TASK_I2V_A14B,       // Wan2.2 I2V-A14B (two experts, image required)
    KE_TASK_LTXV,           // LTX-Video distilled multi-scale: text-to-video, or image-to-video with an image
                            // (any size and frame count: padded to multiples of 32 and 8n+1, cropped back)
};

enum ke_solver {
    KE_SOLVER_UNIPC = 0,
    KE_SOLVER_DPMPP,
    KE_SOLVER_EULER,
    KE_SOLVER_EULER_LIGHTNING,  // Euler over the Lightning step-distilled schedule (float timesteps)
};

// Step caching: reuse DiT results between sampling steps (ke_gen_params.cache).
enum ke_cache_mode {
    KE_CACHE_OFF = 0,
    KE_CACHE_EASY,          // EasyCache: runtime output-vs-input change rate, any model, no calibration
    KE_CACHE_TEA,           // TeaCache: rescaled change of the time embedding, published Wan coefficients
    KE_CACHE_MAG,           // MagCache: accumulated residual magnitude ratios, published Wan2.2 ratios
};

enum ke_stage {
    KE_STAGE_LOAD = 0,
    KE_STAGE_TEXT,          // T5 encoding
    KE_STAGE_IMAGE,         // encoding the conditioning image
    KE_STAGE_SAMPLE,        // denoising steps
    KE_STAGE_DECODE,        // VAE decode
    KE_STAGE_DONE,
};

struct ke_image {
    int width, height;
    const uint8_t * rgb;    // RGB8, rows of width*3 bytes
};

struct ke_gen_params;

struct ke_video {
    int width, height, n_frames;
    double fps;
    uint8_t * rgb;          // n_frames * height * width * 3
    // What made it: for ke_generate the parameters of the run with the seed it used (a random one
    // resolved) and the steps it actually ran (fewer than asked after stop-and-keep); for
    // ke_model_decode_latent the settings saved with the latent. prompt and negative_prompt are
    // owned by the video; image, backend, save_latent_path and the callbacks are NULL.
    struct ke_gen_params * made_with;
};

struct ke_progress {
    enum ke_stage stage;
    int step, n_steps;      // sampling: steps done / total
    double elapsed_s;       // since ke_generate started
    double eta_s;           // estimated seconds left (< 0: unknown)
    int forwards_skipped;   // sampling: DiT forwards answered from the step cache so far
};

struct ke_preview {
    int step, n_steps;
    int n_frames, width, height;   // latent resolution
    const uint8_t * rgb;            // x0 estimate of every frame through the latent->RGB projection,
                                    // n_frames * height * width * 3
    int latent_channels;
    const float * latent;           // x0 estimate [C, F, H, W], normalised latent space
    // the x0 estimate decoded at the output resolution (preview_source KE_PREVIEW_TAEHV), else NULL:
    // full_frames * full_height * full_width * 3 bytes, RGB
    const uint8_t * full_rgb;
    int full_frames, full_width, full_height;
};

typedef void (*ke_progress_fn)(const struct ke_progress * p, void * user_data);
typedef void (*ke_preview_fn)(const struct ke_preview * p, void * user_data);
// Polled between steps and between layers: 0 continue, 1 cancel (KE_STATUS_ABORTED),
// 2 stop sampling and decode the current x0 estimate ("stop and keep").
typedef int (*ke_abort_fn)(void * user_data);

// The ranges ke_gen_params_validate allows (command lines and forms check against the same numbers).
#define KE_MAX_SIDE 4096        // output pixels per side (sizes also follow the task's multiples)
#define KE_MAX_FRAMES 1001      // frames, 4n+1
#define KE_MAX_STEPS 1000       // sampling steps, from 1
#define KE_MAX_GUIDE 100        // guidance, from 0
#define KE_MAX_SHIFT 1000       // flow shift, above 0
#define KE_MAX_FPS 240          // frame rate, above 0
#define KE_MIN_VRAM_GIB 1       // device memory budget in GiB (0: default), from 1
#define KE_MAX_VRAM_GIB 1024
#define KE_MAX_LORAS 16         // LoRAs at once
#define KE_MAX_LORA_STRENGTH 100   // |strength| of a LoRA

// A LoRA file (safetensors: ComfyUI/kohya, Diffusers/PEFT or LightX2V keys) and its strength, per expert
// on A14B: strength for the low-noise expert (and TI2V-5B's one DiT), strength_high for the high-noise
// one. 0 leaves that expert without it. The deltas are scaled by strength * alpha / rank.
struct ke_lora_spec {
    const char * path;
    float strength;
    float strength_high;
};

// What decodes the final latent, and what makes the per-step previews.
enum ke_decoder {
    KE_DECODER_VAE = 0,             // the model's Wan VAE
    KE_DECODER_TAEHV,               // TAEHV, the tiny autoencoder ("draft decode": seconds, lower quality)
};
enum ke_preview_source {
    KE_PREVIEW_LATENT = 0,          // a linear latent->RGB projection at latent resolution
    KE_PREVIEW_TAEHV,               // TAEHV at the output resolution (struct ke_preview full_rgb)
};
// Where the text encoder (T5) runs.
enum ke_text_device {
    KE_TEXT_DEVICE_AUTO = 0,        // the job's backend: a GPU job encodes on the GPU within vram_gib (its
                                    // layers streamed when they do not fit; the CPU, logged, when even
                                    // that does not), then frees that memory before sampling
    KE_TEXT_DEVICE_CPU,             // always the CPU
};
#define KE_MAX_CACHE_THRESHOLD 1000000  // step cache threshold, from 0 (below 0: the mode's default)

struct ke_gen_params {
    enum ke_task task;
    const char * prompt;
    const char * negative_prompt;    // NULL or "": the official default negative prompt
    const struct ke_image * image;   // optional for TI2V-5B, required for I2V-A14B
    int width, height;               // output size; with an image: the area width*height (aspect from the image)
    int n_frames;                    // 4n+1
    int steps;
    float guide;                     // guidance (A14B: low-noise expert)
    float guide_high;                // A14B high-noise expert guidance
    float shift;
    int64_t seed;                    // < 0: random
    enum ke_solver solver;
    double fps;
    const char * backend;            // "cpu" (default), "cuda", or "auto" (the GPU when usable)
    enum ke_precision precision;     // compute precision (default bf16): fp32 exact on the CPU only; fp8 the
                                     // DiT's fast path on GPUs with fp8 units (bf16 elsewhere: the CPU
                                     // runs it exactly as bf16); the text encoder and the VAE stay bf16
    int n_threads;                   // 0: all cores
    const char * save_latent_path;   // optional: write the final latent (safetensors)
    const char * text_cache_dir;     // prompt-embedding disk cache folder (NULL or "": memory only);
                                     // ke_text_cache_default_dir() gives $XDG_CACHE_HOME/kinora/text
    // device memory budget
    float vram_gib;                  // GiB of device memory a GPU run may use (0: the free memory minus
                                     // 1 GiB); weights past it stream from host memory. 0 or
                                     // KE_MIN_VRAM_GIB..KE_MAX_VRAM_GIB
    enum ke_text_device text_device; // where the prompt is encoded (default KE_TEXT_DEVICE_AUTO)
    // LoRAs: added to the DiT's layers at run time (a low-rank term beside each weight)
    const struct ke_lora_spec * loras;   // n_loras entries (borrowed for the call); a key matching no
                                     // layer is a warning (logged), a file matching none an error
    int n_loras;                     // 0..KE_MAX_LORAS
    // TAEHV (tiny video autoencoder): draft decode and full-resolution previews
    enum ke_decoder decoder;         // KE_DECODER_VAE (default) or KE_DECODER_TAEHV
    enum ke_preview_source preview_source;   // KE_PREVIEW_LATENT (default) or KE_PREVIEW_TAEHV
    const char * taehv_path;         // TAEHV weights (taew2_1 for 16-channel, taew2_2 for 48-channel latents),
                                     // required when either of the two above names TAEHV
    // step caching (off by default; see enum ke_cache_mode)
    enum ke_cache_mode cache;
    float cache_threshold;           // < 0: the mode's default (ke_cache_default_threshold); 0: never skip
    int cache_skipped;               // out (ke_video.made_with): DiT forwards skipped, cond and uncond apart
    enum ke_precision precision_used; // out (ke_video.made_with): the DiT's precision in effect on its
                                     // backend (bf16 where fp8 was asked and the GPU has no fp8 units)
    ke_progress_fn progress;
    ke_preview_fn preview;
    ke_abort_fn abort;
    void * user_data;
};

// The solver's name: "unipc", "dpm++", "euler" or "euler-lightning" ("unknown" outside the enum).
const char * ke_solver_name(enum ke_solver s);
// A solver by name ("unipc", "dpm++", "dpmpp", "dpm", "euler", "euler-lightning"): 0 and *out set, or -1
// when unknown.
int ke_solver_from_name(const char * name, enum ke_solver * out);
// Step caching by name: "off", "easy", "tea", "mag" (0, or -1 when unknown), and back ("unknown" outside the enum).
int ke_cache_mode_from_name(const char * name, enum ke_cache_mode * out);
const char * ke_cache_mode_name(enum ke_cache_mode m);
// The default threshold of a mode for a task (EasyCache 0.2 as ComfyUI's node; TeaCache the published
// value for the coefficients used; MagCache 0.04 as its Wan2.2 script).
float ke_cache_default_threshold(enum ke_cache_mode m, enum ke_task task);
// Few-step presets over p (its task set): "lightning" = the Wan2.2-Lightning 4-step recipe of the task
// (4 steps, shift 5, euler-lightning, guidance 1 on both experts; the A14B boundary splits it 2 + 2).
// Returns KE_STATUS_INVALID naming the preset when unknown.
enum ke_status ke_gen_params_preset(struct ke_gen_params * p, const char * name, struct ke_error * err);
// A decimal seed in [0, 2^63 - 1], nothing else around it (no sign, spaces or exponent); false otherwise.
bool ke_seed_parse(const char * text, int64_t * out);
// A fresh random seed in [0, 2^63 - 1] (from /dev/urandom), for a caller that reports it.
int64_t ke_random_seed(void);

// Official defaults per task (steps, guidance, shift, size, frames, fps, solver).
struct ke_gen_params ke_gen_params_default(enum ke_task task);
// Check sizes and frame counts; the error lists what is allowed.
enum ke_status ke_gen_params_validate(const struct ke_gen_params * p, struct ke_error * err);
// The size of the video ke_generate makes (the engine's own rule, e.g. to show it before a run):
// width, height and n_frames as in ke_gen_params; image_width x image_height of the conditioning image,
// 0 x 0 without one. Without an image the size is taken in whole DiT patches of VAE pixels (32 for TI2V-5B,
// 16 for A14B), at least one patch a side. With an image on TI2V-5B the output keeps the image's aspect
// within the area width*height in steps of 32 (the image is scaled to cover it and centre-cropped); on
// I2V-A14B the whole image is stretched to its aspect within the area, each side a multiple of 16;
// T2V-A14B ignores the image. Frames: 4n+1, rounded down. KE_STATUS_INVALID for an unknown task, a size or
// frame count below 1, or a negative image size.
enum ke_status ke_gen_output_size(enum ke_task task, int width, int height, int n_frames, int image_width,
                                  int image_height, int * out_width, int * out_height, int * out_frames);

// Open a model: an official Hugging Face folder, a Diffusers folder, ComfyUI files, or "tiny"
// (the built-in random-weight test model, made deterministically by the engine).
enum ke_status ke_model_open(ke_model_t ** out, const char * path, struct ke_error * err);
void ke_model_free(ke_model_t * m);
enum ke_task ke_model_task(const ke_model_t * m);
const char * ke_model_name(const ke_model_t * m);
bool ke_model_is_random(const ke_model_t * m);    // true for the tiny test model

// Run the whole pipeline (blocking; call from a worker thread). *out is released with ke_video_free.
enum ke_status ke_generate(ke_model_t * m, const struct ke_gen_params * p, struct ke_video ** out,
                           struct ke_error * err);
void ke_video_free(struct ke_video * v);
// Read a PNG or JPEG file as RGB8 for ke_gen_params.image; release with ke_image_free.
enum ke_status ke_image_read(struct ke_image ** out, const char * path, struct ke_error * err);
void ke_image_free(struct ke_image * im);
// Defaults for this model: the task's official values, or small sizes for the tiny test model.
struct ke_gen_params ke_model_params_default(const ke_model_t * m);
// Decode a latent saved through save_latent_path (tensor "latent" [C, F, H, W]); fps <= 0: the saved one.
enum ke_status ke_model_decode_latent(ke_model_t * m, const char * path, double fps, struct ke_video ** out,
                                      struct ke_error * err);

// --- model families: Wan2.2 and LTX-Video (checkpoint loading and the model-family seam) -----------
// ke_model_open tells the family from the files (metadata, tensor names). An LTX-Video model opens as
// "CHECKPOINT[,UPSAMPLER[,T5]]" (engine/pipeline/ltx-model.c) with task KE_TASK_LTXV.
enum ke_model_family {
    KE_MODEL_FAMILY_WAN22 = 0,      // Wan2.2 (TI2V-5B, T2V-A14B, I2V-A14B)
    KE_MODEL_FAMILY_LTXV,           // Lightricks LTX-Video (2B, 13B)
    KE_MODEL_FAMILY_UNKNOWN,
};

#define KE_MODEL_INFO_MAX_PARTS 8

// One component of a model's files, for `models inspect`.
struct ke_model_part_info {
    char role[24];                  // "transformer", "vae", "upsampler", "text_encoder", "tokenizer", "dit", ...
    char path[1024];                // the file or folder it came from
    int n_tensors;
    int64_t n_params;               // elements (block-quantized tensors count their values)
    int64_t n_bytes;                // as stored
    char dtypes[128];               // tensors per dtype, most first: "BF16 1234, F32 56"
};

struct ke_model_info {
    enum ke_model_family family;
    char version[96];               // "LTX-Video 13B 0.9.7 distilled", "Wan2.2 TI2V-5B"
    char layout[32];                // "single file", "gguf", "diffusers", "upsampler", "official folder", "files"
    int n_parts;
    struct ke_model_part_info parts[KE_MODEL_INFO_MAX_PARTS];
};

// "Wan2.2", "LTX-Video" or "unknown".
const char * ke_model_family_name(enum ke_model_family f);
// What a model path holds (as ke_model_open takes it) without building the model: the family, the version
// and every component found with its tensor count, parameter count and dtypes. Files stay mapped only
// for the call. An LTX-Video upsampler file alone is described too.
enum ke_status ke_model_probe(const char * path, struct ke_model_info * out, struct ke_error * err);

// --- model capabilities ---------------------------------------------------------------------------
// What the settings of a model may be, read from the model's own files (checkpoint metadata, configs,
// tensor shapes: headers only, no weights read), so that a command line or a form follows the model
// without rules of its own per family. Works on a model that is only probed: an LTX-Video model answers
// before ke_model_open runs it.
#define KE_MODEL_MAX_PRESETS 4

struct ke_model_preset {
    char name[24];                  // "official", "portrait", ... (also the CLI's --preset name)
    int width, height, n_frames;
    double fps;
};

struct ke_model_caps {
    enum ke_model_family family;
    char version[96];               // as ke_model_info.version ("LTX-Video 13B 0.9.8 distilled")
    bool tiny;                      // random weights, for tests (the built-in "tiny", a tiny LTX-Video file)
    int frame_step;                 // frame counts are frame_step*n + 1: the VAE's time compression (Wan 4, LTX 8)
    int max_frames;                 // the largest such count within KE_MAX_FRAMES
    int size_multiple;              // width and height in multiples of this (LTX-Video 32; Wan: a DiT patch of
                                    // VAE pixels, 32 TI2V-5B, 16 A14B)
    int max_side;
    bool image_sets_aspect;         // with an image, width x height is an area and the image gives the aspect
    bool takes_image, needs_image;  // image conditioning: possible, required
    int latent_channels;            // 48 (Wan2.2 VAE), 16 (Wan2.1 VAE), 128 (LTX-Video)
    int vae_scale, vae_time_scale;  // pixels per latent pixel, frames per latent frame
    bool guidance_fixed;            // the model's config sets the guidance (distilled LTX-Video: 1): no control
    float guidance;                 // the default (or the fixed) guidance
    bool two_experts;               // a second guidance for the high-noise expert (A14B)
    bool steps_fixed;               // the config's timestep lists set the steps: no control
    int steps;                      // default (or fixed) sampling steps, all passes together
    bool has_shift, has_solver;     // flow shift and solver are settings
    bool uses_negative_prompt;      // false where guidance 1 runs no unconditional pass
    bool takes_loras, takes_step_cache, takes_taehv;   // LoRAs, step caching, TAEHV draft decode and previews
    int width, height, n_frames;    // the official defaults
    double fps;
    int n_presets;                  // the official sizes (presets[0] is the default)
    struct ke_model_preset presets[KE_MODEL_MAX_PRESETS];
    // What ke_gen_estimate_caps needs, from the files' headers and configs (LTX-Video; zero for Wan2.2,
    // whose estimate takes a loaded model: ke_gen_estimate)
    struct {
        int num_layers, inner_dim, ffn_dim, text_dim, text_tokens;   // transformer; T5 tokens a prompt runs
        int vae_top_channels, vae_levels;        // decoder: channels at latent size, upsampling levels
        int upsampler_mid_channels;
        double first_pass_scale;                 // multi-scale: the first pass's size factor (0: one pass)
        int first_steps, second_steps;           // forwards of each pass (guidance 1: one a step)
        double transformer_bytes, transformer_params, vae_bytes, vae_params;
        double upsampler_bytes, upsampler_params, text_bytes, text_params;
        bool text_counted;                       // false: no encoder file found, T5 v1.1 XXL's size assumed
    } est;
};

// The capabilities of a model path as ke_model_open takes it ("tiny" included). Errors as ke_model_probe.
enum ke_status ke_model_caps(const char * path, struct ke_model_caps * out, struct ke_error * err);
// Check an output size (width x height, with_image: an image conditions the run) and a frame count against
// caps; KE_STATUS_INVALID with a message naming the rule and the nearest allowed values ("LTX-Video needs a
// frame count of 8n+1: 97 or 105").
enum ke_status ke_model_caps_check(const struct ke_model_caps * caps, int width, int height, int n_frames,
                                   bool with_image, struct ke_error * err);
// The allowed frame count nearest to n_frames (ties go up), within 1..max_frames.
int ke_model_caps_snap_frames(const struct ke_model_caps * caps, int n_frames);
// The allowed side nearest to v (a multiple of size_multiple, ties go up), within size_multiple..max_side.
int ke_model_caps_snap_side(const struct ke_model_caps * caps, int v);
// A preset by name, or NULL.
const struct ke_model_preset * ke_model_caps_preset(const struct ke_model_caps * caps, const char * name);
// The path as ke_model_open takes it: an LTX-Video folder of the official files (one ltxv-*.safetensors
// checkpoint, its ltxv-spatial-upscaler-*.safetensors, text_encoder/) becomes "CHECKPOINT,UPSAMPLER,T5" with
// the T5 encoder found beside the checkpoint or where the model catalog puts it; other paths are copied.
enum ke_status ke_model_resolve_path(const char * path, char * out, size_t out_size, struct ke_error * err);
// The pre-flight estimate of a run from capabilities alone (no model built): LTX-Video's multi-scale
// distilled run (engine/pipeline/estimate-ltx.c lists what it counts). p's width, height, n_frames, backend,
// precision, n_threads are read; the size and frames are checked with ke_model_caps_check.
// KE_STATUS_UNSUPPORTED for Wan2.2 (ke_gen_estimate takes its loaded model).
struct ke_mem_budget;
struct ke_estimate;
enum ke_status ke_gen_estimate_caps(const struct ke_model_caps * caps, const struct ke_gen_params * p,
                                    const struct ke_mem_budget * budget, struct ke_estimate * out,
                                    struct ke_error * err);

// @@ section: pre-flight estimate
// --- what a run will need, before it starts ---------------------------------------------------------
// Peak device memory, peak resident host memory (RSS) and time of a ke_generate run, from the sizes the
// engine really allocates (weights as stored in the model's files, the DiT's activation buffers and text
// contexts, the VAE decoder's caches and tile plan, the output video) and a throughput model per backend
// whose constants, and where they were measured, are listed in engine/pipeline/estimate.c. Arithmetic
// only (no allocation, no device call): cheap enough for a GUI to call on every change of a setting.

// What the estimate needs to know about a model (ke_model_describe); plain data, copy it freely.
struct ke_model_desc {
    enum ke_task task;
    bool tiny;                      // the tiny test model (always exact fp32 on the CPU)
    int n_experts;                  // 1, or 2 for A14B (both on the GPU where the budget holds them)
    // DiT shape (config.json names)
    int dim, ffn_dim, freq_dim, num_heads, num_layers, in_dim, out_dim, text_len, text_dim;
    int patch_t, patch_h, patch_w;
    double dit_bytes;               // one expert's weights as stored (the larger expert)
    double dit_params;              // its elements
    double dit_narrow_params;       // elements of its matrices not stored in bf16 (a bf16 copy on the fast CPU path)
    double dit_narrow_bytes;        // their bytes as stored
    double dit_block_bytes;         // one transformer block's weights as stored (streaming unit)
    double t5_bytes;                // text encoder weights read in full (the token embedding excluded: rows only)
    double t5_params;               // their elements
    double t5_narrow_params;        // matrices not stored in bf16 and converted by a fast encoder
    int vae_scale, vae_z;           // pixels per latent pixel (8 or 16), latent channels
    double vae_bytes;               // VAE weights as stored
    double vae_params;
    double vae_cache_px, vae_act_px; // decoder bytes per latent pixel: f32 caches, largest activation
};

enum ke_verdict {
    KE_VERDICT_FITS = 0,            // runs within both budgets
    KE_VERDICT_STREAMS,             // the DiT weights exceed the device budget: blocks stream from host memory
    KE_VERDICT_CANNOT_RUN,          // too large even so (the suggestion says what to change)
};

struct ke_mem_budget {
    double device_gib;              // device memory the run may use (0: not limited; a CPU run ignores it)
    double host_gib;                // host memory (0: MemAvailable of /proc/meminfo)
};

struct ke_estimate {
    enum ke_verdict verdict;
    const char * backend;           // "cpu" or "cuda" (static)
    double device_gib;              // peak device memory (0 on the CPU)
    double device_weights_gib;      // DiT weights on the device (one expert)
    double host_gib;                // peak resident host memory
    double device_budget_gib;       // the budgets judged against (device: 0 when not limited)
    double host_budget_gib;
    int n_forwards;                 // DiT forwards (2 a step: guidance runs both passes)
    double text_s, step_s, decode_s, total_s;   // seconds: T5, one step, VAE decode, the whole run
    char summary[192];              // one line, e.g. "fits: 12.6 GiB GPU, 14.2 GiB RAM, about 2 min 10 s"
    char suggestion[192];           // one line: what to change ("" when it fits)
};

const char * ke_verdict_name(enum ke_verdict v);    // "fits", "will stream", "cannot run"
// The backend a name runs on: "cpu" or "cuda" (static strings; "auto" probes the GPU once, which may take
// a moment: call it on a worker thread first). NULL counts as "cpu".
const char * ke_backend_resolve(const char * name);
// Describe a loaded model for ke_gen_estimate_desc (e.g. kept by a GUI beside its model path).
void ke_model_describe(const ke_model_t * m, struct ke_model_desc * out);
// Estimate a run of p on a described model. budget may be NULL (no device limit, MemAvailable).
// The backend is p->backend ("auto" counts as "cuda" when the CUDA module loads). KE_STATUS_INVALID for
// parameters ke_gen_params_validate refuses.
enum ke_status ke_gen_estimate_desc(const struct ke_model_desc * d, const struct ke_gen_params * p,
                                    const struct ke_mem_budget * budget, struct ke_estimate * out,
                                    struct ke_error * err);
// The same for a loaded model.
enum ke_status ke_gen_estimate(const ke_model_t * m, const struct ke_gen_params * p,
                               const struct ke_mem_budget * budget, struct ke_estimate * out, struct ke_error * err);

#ifdef __cplusplus
}
#endif
