// Kinora engine: per-module parity evaluators behind ke_eval().
#pragma once

#include "ke-debug.h"

enum ke_status ke_eval_dit(const struct ke_eval_args * a, struct ke_error * err);
enum ke_status ke_eval_t5(const struct ke_eval_args * a, struct ke_error * err);
enum ke_status ke_eval_vae(const struct ke_eval_args * a, int version, struct ke_error * err);
enum ke_status ke_eval_scheduler(const struct ke_eval_args * a, struct ke_error * err);
enum ke_status ke_eval_taehv(const struct ke_eval_args * a, struct ke_error * err);
enum ke_status ke_eval_pipeline(const struct ke_eval_args * a, struct ke_error * err);

// LTX-Video transformer
enum ke_status ke_eval_ltx_transformer(const struct ke_eval_args * a, struct ke_error * err);

// LTX-Video VAE and latent upsampler
enum ke_status ke_eval_ltx_vae(const struct ke_eval_args * a, struct ke_error * err);
enum ke_status ke_eval_ltx_upsampler(const struct ke_eval_args * a, struct ke_error * err);
// LTX-Video distilled multi-scale pipeline
enum ke_status ke_eval_ltx_pipeline(const struct ke_eval_args * a, struct ke_error * err);

// T5 v1.1 XXL
enum ke_status ke_eval_t5xxl(const struct ke_eval_args * a, struct ke_error * err);
// The IO part of `eval t5` and `eval t5xxl` (eval-t5.c): encode the file's ids/mask with m, write outputs.
struct ke_umt5;
struct ke_tensor_set;
enum ke_status ke_eval_t5_encoder(const struct ke_eval_args * a, struct ke_umt5 * m, const struct ke_tensor_set * io,
                                  struct ke_error * err);

