// Kinora engine: LTX-Video checkpoints: the official single file (transformer + VAE, config in the
// safetensors metadata), the spatial upsampler file, fp8 files, GGUF transformers and Diffusers folders,
// all handed to the components under the official Lightricks/LTX-Video names (ltx_video @ 5260738).
#pragma once

#include <stdbool.h>

#include "core/tensor.h"

enum ke_ltx_part {
    KE_LTX_PART_TRANSFORMER = 0,    // Transformer3DModel (`model.diffusion_model.*` in the single file)
    KE_LTX_PART_VAE,                // CausalVideoAutoencoder (`vae.*`, per_channel_statistics included)
    KE_LTX_PART_UPSAMPLER,          // LatentUpsampler (its own file)
    KE_LTX_N_PARTS,
};

// How the files were laid out (what `models inspect` reports).
enum ke_ltx_layout {
    KE_LTX_LAYOUT_SINGLE_FILE = 0,  // official single safetensors file (bf16 or fp8)
    KE_LTX_LAYOUT_GGUF,             // a GGUF transformer (ComfyUI-GGUF, architecture "ltxv")
    KE_LTX_LAYOUT_DIFFUSERS,        // a Diffusers folder (transformer/, vae/, text_encoder/, tokenizer/)
    KE_LTX_LAYOUT_UPSAMPLER,        // only the spatial upsampler file
};

struct ke_ltx_checkpoint {
    enum ke_ltx_layout layout;
    // Tensors of each part under the official names (no `model.diffusion_model.` / `vae.` prefix), NULL
    // when the files hold no such part. The sets borrow the data of the opened files, which the
    // checkpoint keeps mapped: they live as long as the checkpoint.
    struct ke_tensor_set * part[KE_LTX_N_PARTS];
    // Each part's config as JSON text in the official form (what `from_config` takes): the single
    // file's metadata `config` sections `transformer` and `vae`, the upsampler file's `config`. A GGUF or
    // Diffusers transformer gets the official config rebuilt from its shapes / config.json. A Diffusers VAE
    // keeps its own config.json (`_class_name` "AutoencoderKLLTXVideo"), its keys translated to the official
    // names. NULL when the part is absent.
    char * config[KE_LTX_N_PARTS];
    char * path[KE_LTX_N_PARTS];            // the file (or folder) each part came from
    char * scheduler_config;                // the `scheduler` section (NULL when absent)
    char * allowed_inference_steps;         // JSON array of the distilled timesteps (NULL when absent)
    char * text_encoder_path;               // Diffusers folders: text_encoder/ and tokenizer/ (NULL elsewhere:
    char * tokenizer_path;                  // the single file holds neither)
    // What the files are
    int size_b;                             // 2 or 13 (billions of parameters, from the transformer width)
    char release[16];                       // "0.9.7" when the file name tells it, else ""
    bool distilled;                         // distilled (from the name or allowed_inference_steps)
    bool fp8;                               // F8_E4M3 weights in the transformer
    // Internal: the opened files (owners of the mappings the parts borrow)
    struct ke_tensor_set * files[4];
    int n_files;
};

enum ke_ltx_open_flags {
    KE_LTX_OPEN_MODEL = 0,                  // path must hold a transformer
    KE_LTX_OPEN_UPSAMPLER_ALONE = 1 << 0,   // an upsampler file alone opens too (layout UPSAMPLER)
};
// Open `path` (a single file, a GGUF file or a Diffusers folder) and optionally the spatial upsampler
// file `upsampler_path` (NULL: none). Errors name the file, the tensor or metadata key, and what was
// expected (an upsampler given as the model, a VAE-only file, a Wan file, a config that disagrees with
// the tensors ...).
enum ke_status ke_ltx_checkpoint_open(struct ke_ltx_checkpoint ** out, const char * path, const char * upsampler_path,
                                      unsigned flags, struct ke_error * err);
void ke_ltx_checkpoint_free(struct ke_ltx_checkpoint * c);
const char * ke_ltx_part_name(enum ke_ltx_part p);      // "transformer", "vae", "upsampler"
const char * ke_ltx_layout_name(enum ke_ltx_layout l);  // "single file", "gguf", "diffusers", "upsampler"

// --- the pieces, exposed for tests and the fuzz target (ltx-config.c) -----------------------------
// What a file's metadata `config` says it is.
enum ke_ltx_config_kind {
    KE_LTX_CONFIG_MODEL = 0,        // has a `transformer` and/or `vae` section
    KE_LTX_CONFIG_UPSAMPLER,        // `_class_name` "LatentUpsampler"
};
struct ke_ltx_config {
    enum ke_ltx_config_kind kind;
    char * transformer;             // section JSON text, NULL when absent
    char * vae;
    char * scheduler;
    char * upsampler;               // the whole config (upsampler files)
    char * allowed_inference_steps;
};
// Parse the metadata `config` text of `path` (for messages). Checks what the family and version need:
// the sections are objects, their `_class_name`s are LTX-Video's (Transformer3DModel,
// CausalVideoAutoencoder, LatentUpsampler), and the transformer's sizes are positive integers.
enum ke_status ke_ltx_config_parse(struct ke_ltx_config * out, const char * text, const char * path,
                                   struct ke_error * err);
void ke_ltx_config_clear(struct ke_ltx_config * c);
// The official transformer config for a transformer of this shape (GGUF and Diffusers files carry none):
// the fields of ltx_video's OURS_TRANSFORMER_CONFIG with the sizes replaced. malloc'd; NULL on OOM.
char * ke_ltx_transformer_config_make(int num_layers, int num_heads, int head_dim, int in_channels,
                                      int out_channels, int caption_channels);
// Diffusers name -> official name (ltx_video's TRANSFORMER_KEYS_RENAME_DICT reversed for the transformer;
// the inverse of Diffusers' VAE_KEYS_RENAME_DICT + VAE_095_RENAME_DICT, the 0.9.5+ layout of the 13B VAE, for
// the VAE). Returns 1 renamed, 0 unchanged, -1 when the name has a layout not supported (message in out).
int ke_ltx_name_from_diffusers(enum ke_ltx_part part, const char * name, int n_down_blocks, char * out,
                               size_t out_size);
// The transformer size class (2 or 13) of a width, 0 when none.
int ke_ltx_size_class(int inner_dim);
