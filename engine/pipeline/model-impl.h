// Kinora engine: the model object behind ke_model_t (engine/pipeline/model.c, generate.c).
#pragma once

#include "models/dit/wan.h"
#include "pipeline/task-impl.h"
#include "pipeline/tiny-impl.h"

struct ke_umt5;
struct ke_ltx_model;
struct ke_vae;

struct ke_model {
    enum ke_task task;
    char name[512];
    bool random;                        // random weights (the tiny model, benchmarks)
    bool tiny;                          // the tiny built-in model: always exact fp32, so runs repeat anywhere
    double boundary;                    // expert switch (fraction of 1000); 0: one dense DiT
    // text
    ke_text_encoder_t * te;             // real models: UMT5 with a prompt-embedding cache (memory)
    struct ke_tensor_set * t5_w;        // random-weight models: the encoder over a set made in memory
    struct ke_umt5 * t5;
    ke_tokenizer_t * tok;               // NULL: the tiny model's byte tokenizer
    // DiT: [0] dense or low-noise expert, [1] high-noise expert; built on first use
    struct ke_tensor_set * dit_w[2];
    struct ke_dit * dit[2];
    struct ke_backend * dit_be[2];
    enum ke_precision dit_form[2];      // the form dit[i]'s linears took (ke_be_linear_precision)
    char * dit_lora_key[2];             // the LoRAs built into dit[i] (paths and strengths), NULL: none
    struct ke_dit_config cfg;
    int n_experts;
    // VAE: on the CPU; a second instance over the same weights on a device backend, made on first use
    struct ke_vae * vae;
    struct ke_vae * vae_dev;
    // LTX-Video (task KE_TASK_LTXV; pipeline/ltx-model.c): everything above stays empty
    struct ke_ltx_model * ltx;
};
// Copy the settings that made a video into it (generate.c; strings duplicated, the caller's pointers cleared).
enum ke_status ke_video_set_made_with(struct ke_video * v, const struct ke_gen_params * p, struct ke_error * err);

// A model over weight sets made in memory (benchmarks with random weights); takes ownership of the sets.
// dit_high may be NULL (one dense DiT). The tokenizer is the byte-level one of the tiny model.
enum ke_status ke_model_from_sets(ke_model_t ** out, struct ke_tensor_set * dit, struct ke_tensor_set * dit_high,
                                  struct ke_tensor_set * t5, struct ke_tensor_set * vae, const char * name,
                                  struct ke_error * err);
