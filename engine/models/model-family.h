// Kinora engine: the model-family seam: which family (Wan2.2, LTX-Video) a model path holds.
#pragma once

#include "ke.h"

// The family of a model path as ke_model_open takes it (a folder, a file, a comma-separated list, "tiny"),
// from metadata and tensor names, cheaply (headers only). Anything not recognisably LTX-Video counts as
// Wan2.2, whose loader then gives its own errors.
enum ke_model_family ke_model_family_detect(const char * path);
// What an LTX-Video model path names (model-caps.c): `first` a checkpoint file, a Diffusers folder, or a
// folder of the official files side by side (ltxv-*.safetensors or .gguf, ltxv-spatial-upscaler-*.safetensors,
// text_encoder/); `second` the upsampler file or NULL. The T5 v1.1 XXL encoder is text_encoder/ beside the
// checkpoint, else PixArt-XL-2-1024-MS/text_encoder there, else the model catalog's download of it
// (../../PixArt-alpha/PixArt-XL-2-1024-MS/text_encoder from the checkpoint's folder), else a ComfyUI
// t5xxl_fp16.safetensors there or in ../text_encoders; its tokenizer (tokenizer/, tokenizer.json or
// spiece.model) in the encoder's folder, or tokenizer/ beside it. Each is malloc'd or NULL (checkpoint: NULL only on
// error). A folder with two checkpoints or two upsamplers is an error naming both.
struct ke_ltx_files {
    char * checkpoint;
    char * upsampler;
    char * text_encoder;
    char * tokenizer;
};
// `third`, when not NULL, is the T5 encoder (its folder, a folder holding text_encoder/, or a weights file).
enum ke_status ke_ltx_files_find(struct ke_ltx_files * out, const char * first, const char * second,
                                 const char * third, struct ke_error * err);
void ke_ltx_files_clear(struct ke_ltx_files * f);
// Whether folder dir holds an LTX-Video checkpoint file (the official-files folder).
bool ke_ltx_folder_has_checkpoint(const char * dir);
