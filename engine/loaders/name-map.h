// Kinora engine: the one place where foreign checkpoint names (HF/Diffusers, ComfyUI, llama.cpp GGUF)
// become the official Wan names the models look up (wan22-spec §2.4, §2.6, §2.7).
#pragma once

#include "core/tensor.h"

enum ke_name_role {
    KE_NAME_ROLE_T5 = 0,    // UMT5-XXL encoder
    KE_NAME_ROLE_DIT,       // WanModel
    KE_NAME_ROLE_VAE,       // WanVAE_ (Wan2.1 and Wan2.2)
};

// Rename every tensor of `s` to its official name in place, strip known wrapper prefixes, and fold
// ComfyUI fp8 scales (`<layer>.scale_weight`) into the matching `<layer>.weight`'s ke_tensor.scale.
// Tensors already named officially are left alone; names nothing maps are kept as they are.
// Sets the set's "name_style" metadata to what was found ("official", "hf", "gguf", "diffusers").
enum ke_status ke_name_map_apply(struct ke_tensor_set * s, enum ke_name_role role, struct ke_error * err);

// Map one name (exposed for tests). Returns 1 and fills `out` when a rule renamed it, 0 otherwise.
int ke_name_map_one(enum ke_name_role role, const char * name, char * out, size_t out_size);
// The same for a Diffusers VAE name; v22: the nested Wan2.2 layout (ke_name_map_apply detects it).
int ke_name_map_vae(const char * name, bool v22, char * out, size_t out_size);
