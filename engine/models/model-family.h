// Kinora engine: the model-family seam: which family (Wan2.2, LTX-Video) a model path holds.
#pragma once

#include "ke.h"

// The family of a model path as ke_model_open takes it (a folder, a file, a comma-separated list, "tiny"),
// from metadata and tensor names, cheaply (headers only). Anything not recognisably LTX-Video counts as
// Wan2.2, whose loader then gives its own errors.
enum ke_model_family ke_model_family_detect(const char * path);
// ke_model_open's answer for an LTX-Video path: the files' own error when they are broken, else
// KE_STATUS_UNSUPPORTED "LTX-Video generation is not available yet".
enum ke_status ke_model_family_open_ltx(const char * path, struct ke_error * err);
// The official-files folder of LTX-Video (model-caps.c): the checkpoint (ltxv-*.safetensors or .gguf), the
// spatial upsampler (ltxv-spatial-upscaler-*.safetensors) and text_encoder/ (T5 v1.1 XXL) side by side.
// Each found one is malloc'd, the others NULL; *checkpoint NULL when the folder is not one. Two
// checkpoints or two upsamplers are an error naming both.
enum ke_status ke_ltx_folder_find(const char * dir, char ** checkpoint, char ** upsampler, char ** text_encoder,
                                  struct ke_error * err);
