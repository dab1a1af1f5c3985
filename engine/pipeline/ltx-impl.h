// Kinora engine: the LTX-Video distilled multi-scale pipeline (Lightricks/LTX-Video 5260738:
// ltx_video/pipelines/pipeline_ltx_video.py, ltx_video/schedulers/rf.py, ltx_video/inference.py).
// ltx-sched.c: the model-free math (tokens, coordinates, the rectified-flow step, AdaIN, tone mapping);
// ltx-pipeline.c: the two passes, the upsampler and the decode; ltx-image.c: the conditioning image.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "ke.h"

struct ke_rng;
struct ke_ltx_dit;
struct ke_ltx_dit_context;
struct ke_ltx_vae;
struct ke_ltx_upsampler;
struct ke_tensor_set;

// --- the distilled configs (configs/ltxv-13b-0.9.{7,8}-distilled.yaml) --------------------------------
#define KE_LTX_MAX_STEPS 32

struct ke_ltx_pass {
    int n_steps;
    float timesteps[KE_LTX_MAX_STEPS];  // descending, in (0, 1]
    double tone_map;                    // tone_map_compression_ratio (0: none; a Python float)
};

struct ke_ltx_pipe_config {
    double downscale_factor;            // first pass size factor (0.6666666)
    struct ke_ltx_pass first, second;
    float decode_timestep;              // 0.05
    float decode_noise_scale;           // 0.025
};

// release: "0.9.8" (second pass tone mapping 0.6) or anything else (0.9.7: none).
void ke_ltx_pipe_config_distilled(struct ke_ltx_pipe_config * c, const char * release);

// --- sizes (inference.py infer, LTXMultiScalePipeline.__call__) --------------------------------------
struct ke_ltx_sizes {
    int width, height, n_frames;            // asked for
    int pad_w, pad_h, pad_frames;           // padded: multiples of 32, 8n+1 frames
    int pad_left, pad_top;                  // where the asked-for picture sits in the padded one
    int w1, h1;                             // first pass pixels (downscaled, multiples of the VAE's 32)
    int w2, h2;                             // second pass pixels (2 x first)
    int lat_t;                              // latent frames (pad_frames - 1) / 8 + 1
};
// KE_STATUS_INVALID (naming the sizes) when a pass would have no latent pixel.
enum ke_status ke_ltx_sizes(struct ke_ltx_sizes * s, int width, int height, int n_frames, double downscale,
                            int s_scale, int t_scale, struct ke_error * err);

// --- tokens and coordinates (SymmetricPatchifier with patch 1, latent_to_pixel_coords) --------------
// latent [C, F, H, W] <-> tokens [F*H*W, C] (token order f, h, w).
void ke_ltx_patchify(float * tok, const float * lat, int C, int F, int H, int W);
void ke_ltx_unpatchify(float * lat, const float * tok, int C, int F, int H, int W);
// The transformer's fractional coordinates grid[3, F*H*W]: (frame pixel coordinate / frame_rate, pixel y,
// pixel x) with the latent index times (t_scale, s_scale, s_scale); causal_fix: frame coordinate
// max(f * t_scale + 1 - t_scale, 0).
void ke_ltx_coords(float * grid, int F, int H, int W, int t_scale, int s_scale, bool causal_fix, double frame_rate);

// --- the rectified-flow scheduler with explicit timesteps (RectifiedFlowScheduler.step) -------------
// One Euler step of each token: tok_t[i] its timestep (min(t, 1 - conditioning mask)), lowered to the
// next smaller entry of timesteps[] (0 past the last; entries within 1e-6 count as equal):
// x[i] -= (tok_t[i] - lower) * v[i]; tokens with t - 1e-6 >= 1 - mask[i] stay (denoising_step).
// x, v [n_tok, C]; mask [n_tok] or NULL (none).
void ke_ltx_step(float * x, const float * v, int64_t n_tok, int C, float t, const float * mask,
                 const float * timesteps, int n_steps);
// The transformer's per-token timestep: min(t, 1 - mask[i]) (all t without a mask).
void ke_ltx_token_timesteps(float * tok_t, int64_t n_tok, float t, const float * mask);

// --- statistics (adain_filter_latent, tone_map_latents) ----------------------------------------------
// Per channel of x [C, n]: (x - mean) / std * ref_std + ref_mean with ref [C, n_ref]; std unbiased.
void ke_ltx_adain(float * x, int C, int64_t n, const float * ref, int64_t n_ref);
// x *= 1 - 0.8 s sigmoid(4 s (|x| - 1)), s = 0.75 compression (0: unchanged).
void ke_ltx_tone_map(float * x, int64_t n, double compression);
// torch F.interpolate(mode="bilinear", align_corners=False) of planar float [planes, sh, sw] -> [planes, dh, dw]
// (float32 weights and sums in PyTorch's CPU order); a copy when the sizes agree.
void ke_ltx_resize_bilinear(float * dst, int dw, int dh, const float * src, int sw, int sh, int64_t planes);

// --- the pipeline (ltx-pipeline.c) -----------------------------------------------------------------
// Records for parity checks: name ("pass1.latent", "pass1.step0.noise_pred", "upsampled", "pass2.latent",
// "decode.latent", "video", ...) and data [n] borrowed for the call.
typedef void (*ke_ltx_record_fn)(void * user, const char * name, const float * data, int64_t n);

struct ke_ltx_job {
    // components (borrowed)
    struct ke_ltx_dit * dit;
    const struct ke_ltx_dit_context * ctx;    // the prompt (guidance 1: no negative prompt pass)
    struct ke_ltx_vae * vae;
    struct ke_ltx_upsampler * ups;
    const struct ke_ltx_pipe_config * cfg;
    struct ke_ltx_sizes sz;
    double frame_rate;
    // the conditioning image (a first-frame item of strength 1): [3, image_h, image_w] in [-1, 1], the
    // padded media (ke_ltx_image_media), or NULL; each pass resizes it to its own size
    const float * image;
    int image_w, image_h;
    float image_cond_noise_scale;           // inference.py's default 0.15
    // random draws as infer() makes them: rng is the seeded torch.Generator (each pass's noise [tokens, C],
    // then with an image one [tokens, C] draw per step), rng_global torch's global generator seeded with
    // the same seed (with an image the posterior sample of each pass's encode [C, 1, h, w], then the decode
    // noise [tokens, C])
    struct ke_rng * rng;
    struct ke_rng * rng_global;
    // the transformer's mapped weights, released from the resident set before the decode (NULL: kept)
    const struct ke_tensor_set * dit_weights;
    // where the caller keeps the transformer and the prompt's context (NULL: never freed here): on a backend
    // with a device memory budget, when the decode in one piece needs more than is left, both are freed and
    // cleared before it (the caller makes them again for its next job)
    struct ke_ltx_dit ** dit_owner;
    struct ke_ltx_dit_context ** ctx_owner;
    // callbacks (may be NULL)
    ke_progress_fn progress;
    ke_abort_fn abort;
    ke_preview_fn preview;      // after each step: the x0 estimate of the pass's latent (TAEHV: not for LTX)
    void * user_data;
    double t_start;
    ke_ltx_record_fn record;
    void * record_user;
    // out
    int steps_done;
    bool stopped_early;
};
// Whether the untiled decode of a [C, T, lh, lw] latent to n_frames fits a device budget with in_use bytes
// held (budget 0: no budget, always): *need = ke_ltx_decode_bytes; KE_STATUS_NOMEM naming the need, the
// size and the budget when it does not.
enum ke_status ke_ltx_decode_fits(const struct ke_ltx_vae * vae, int T, int lh, int lw, int n_frames, size_t budget,
                                  size_t in_use, double * need, struct ke_error * err);
// Run both passes, the upsampler, AdaIN and the decode: video [3, sz.n_frames, sz.height, sz.width] in [0, 1]
// (the official output before its uint8 conversion). KE_STATUS_ABORTED on cancel.
enum ke_status ke_ltx_run(struct ke_ltx_job * j, float * video, struct ke_error * err);

// --- the model behind ke_model_t for LTX-Video (ltx-model.c) -----------------------------------------
struct ke_ltx_checkpoint;
struct ke_model;
struct ke_error;

// Makes the transformer's weights (a set whose "config" metadata holds the transformer config) for a
// model that holds none yet; the model takes the set. NULL with err filled on failure.
typedef struct ke_tensor_set * (*ke_ltx_weights_fn)(void * user, struct ke_error * err);

struct ke_ltx_model {
    struct ke_ltx_checkpoint * ckpt;        // the mapped files; the parts below borrow them
    struct ke_ltx_pipe_config cfg;          // the distilled config of the release
    ke_text_encoder_t * te;                 // T5 v1.1 XXL
    ke_tokenizer_t * tok;
    char * te_path, * tok_path;
    // built on first use for the job's backend
    struct ke_backend * be;
    struct ke_ltx_dit * dit;
    struct ke_ltx_vae * vae;
    struct ke_ltx_upsampler * ups;
    enum ke_precision dit_prec;             // the backend's precision in effect for the transformer in this run
    enum ke_precision dit_form;             // the form its linears took when prepared (ke_be_linear_precision)
    float dit_vram_gib;                     // the device budget the transformer was planned for
    int64_t dit_tokens;                     // and the second pass's tokens
    // free the text encoder once the prompt is encoded (an in-memory T5 beside a transformer that would
    // not fit with it; the next job needs a new one: ke_ltx_model_set_text_encoder)
    bool drop_text_encoder;
    // the transformer's weights made on first use (ke_ltx_model_set_transformer_maker), NULL: from the files
    ke_ltx_weights_fn make_dit;
    void * make_dit_user;
};
// path: "CHECKPOINT[,UPSAMPLER[,T5]]" (T5: a folder with text_encoder/ and tokenizer/, e.g.
// PixArt-alpha/PixArt-XL-2-1024-MS, the text_encoder folder, or a t5xxl file with its tokenizer beside it).
enum ke_status ke_ltx_model_open(struct ke_model * m, const char * path, struct ke_error * err);
void ke_ltx_model_free(struct ke_ltx_model * l);
enum ke_status ke_ltx_generate(struct ke_model * m, const struct ke_gen_params * p, struct ke_video ** out,
                               struct ke_error * err);

// --- LTX-Video over tensor sets made in memory (ltx-sets.c; benchmarks with random weights) ----------
// transformer (may be NULL: then set a maker before generating), vae, upsampler: sets with their "config"
// metadata (the official sections); t5: T5 v1.1 XXL under T5EncoderModel's names; all taken by the model
// (freed on failure too). release "0.9.8" or "0.9.7" picks the distilled config. There is no tokenizer
// file: prompts go through a fixed in-memory vocabulary (one id per character, then </s>; ltx-sets.c).
// drop_text_encoder: free the encoder once a job's prompt is encoded, before the transformer is built
// (the 13B transformer and T5 XXL need not fit in memory together); the next job then needs a new one.
enum ke_status ke_ltx_model_from_sets(struct ke_model ** out, struct ke_tensor_set * transformer,
                                      struct ke_tensor_set * vae, struct ke_tensor_set * upsampler,
                                      struct ke_tensor_set * t5, const char * release, bool drop_text_encoder,
                                      struct ke_error * err);
// A new in-memory text encoder over t5 (taken), replacing the model's (e.g. after drop_text_encoder).
enum ke_status ke_ltx_model_set_text_encoder(struct ke_model * m, struct ke_tensor_set * t5, struct ke_error * err);
// The transformer's weights made by `make` when a job needs them and the model holds none.
void ke_ltx_model_set_transformer_maker(struct ke_model * m, ke_ltx_weights_fn make, void * user);
// Free the built transformer, and its weights when a maker makes them (made again for the next job).
void ke_ltx_model_drop_transformer(struct ke_model * m);

// --- the conditioning image (ltx-image.c; inference.py load_image_to_tensor_with_resize_and_crop with
// just_crop, as prepare_conditioning calls it, and load_media_file's F.pad) -----------------------------
struct ke_ltx_cond_image {
    int crop_w, crop_h;             // the centre crop to the requested aspect (no resize)
    float * cropped;                // [3, crop_h, crop_w] in [0, 1]
    float * blurred;                // the 3x3 gaussian blur (sigma 1, reflect padding)
    int even_w, even_h;             // the even part the compressor takes
    uint8_t * u8;                   // [even_h, even_w, 3] (blurred * 255) truncated: the encoder's input
};
// Crop, blur, quantize rgb8 [h, w, 3] for a width x height request. Release with ke_ltx_cond_image_free.
enum ke_status ke_ltx_image_stage(struct ke_ltx_cond_image * ci, const uint8_t * rgb, int w, int h, int width,
                                  int height, struct ke_error * err);
void ke_ltx_cond_image_free(struct ke_ltx_cond_image * ci);
// crf_compressor.compress (CRF 29): rgb [height, width, 3] (even sides) through x264 (yuv420p, preset
// veryfast, one frame) and back, in place, in memory (GStreamer). KE_STATUS_UNSUPPORTED without GStreamer.
enum ke_status ke_ltx_image_compress(uint8_t * rgb, int width, int height, int crf, struct ke_error * err);
// The media: compressed [eh, ew, 3] in [0, 1] -> out [3, eh + pad_h - height, ew + pad_w - width] in
// [-1, 1], placed at (pad_left, pad_top), 0 around (F.pad with calculate_padding's pixel counts).
void ke_ltx_image_media(float * out, const float * compressed, int ew, int eh, const struct ke_ltx_sizes * s,
                        int * media_w, int * media_h);
