// Kinora engine: the model object behind ke_model_t (engine/pipeline/model.c, generate.c).
#pragma once

#include "models/dit/wan.h"
#include "pipeline/pipeline-impl.h"

struct ke_umt5;
struct ke_vae;

struct ke_model {
    enum ke_task task;
    char name[512];
    bool random;                        // the tiny built-in model
    double boundary;                    // expert switch (fraction of 1000); 0: one dense DiT
    // text
    struct ke_tensor_set * t5_w;
    struct ke_umt5 * t5;
    ke_tokenizer_t * tok;               // NULL: the tiny model's byte tokenizer
    // DiT: [0] dense or low-noise expert, [1] high-noise expert; built on first use
    struct ke_tensor_set * dit_w[2];
    struct ke_dit * dit[2];
    struct ke_backend * dit_be[2];
    struct ke_dit_config cfg;
    int n_experts;
    // VAE
    struct ke_vae * vae;
};
