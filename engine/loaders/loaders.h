// Kinora engine: weight-file loaders. Each fills a struct ke_tensor_set keyed by checkpoint names.
#pragma once

#include "core/tensor.h"

// safetensors: a .safetensors file, a *.safetensors.index.json, or a folder holding either.
// A config.json beside the weights becomes the set's "config" metadata when the file has none.
enum ke_status ke_safetensors_open(struct ke_tensor_set ** out, const char * path, struct ke_error * err);
enum ke_status ke_safetensors_open_file(struct ke_tensor_set ** out, const char * path, struct ke_error * err);
// Parse a whole file image already in memory; tensors point into `file`. (Fuzz entry point.)
enum ke_status ke_safetensors_parse(struct ke_tensor_set * s, unsigned char * file, size_t size,
                                    struct ke_error * err);
// Write tensors (each needs ->name) atomically (temp file + rename). meta_kv: n_meta key/value pairs.
enum ke_status ke_safetensors_write(const char * path, const struct ke_tensor * const * tensors, int n,
                                    const char * const * meta_kv, int n_meta, struct ke_error * err);

// PyTorch .pth (zip + pickle) through a restricted unpickler that only rebuilds tensor state dicts.
enum ke_status ke_pth_open(struct ke_tensor_set ** out, const char * path, struct ke_error * err);
// Parse a whole .pth image in memory (fuzz entry point); tensors point into `file`.
enum ke_status ke_pth_parse(struct ke_tensor_set * s, unsigned char * file, size_t size, struct ke_error * err);

// GGUF (v2/v3), mmapped and zero-copy: F32/F16/BF16 and the block-quantized types stay in their stored
// form (core/quant.c dequantizes them). Names as stored, a `model.diffusion_model.` prefix stripped;
// `comfy.gguf.orig_shape.<name>` honoured; the set's "gguf.architecture" metadata holds the architecture.
enum ke_status ke_gguf_open(struct ke_tensor_set ** out, const char * path, struct ke_error * err);
// Parse a whole GGUF image in memory (fuzz entry point); tensors point into `file`.
enum ke_status ke_gguf_parse(struct ke_tensor_set * s, unsigned char * file, size_t size, struct ke_error * err);

// Streaming GGUF v3 writer: the table first (open), then every tensor's bytes in table order, in pieces
// of any size (data), then close (fsync, rename into place). abort drops the partial file.
struct ke_gguf_tensor_info {
    const char * name;
    enum ke_dtype type;
    int n_dims;
    int64_t shape[KE_MAX_DIMS];   // PyTorch order (outermost first)
};
struct ke_gguf_writer;
enum ke_status ke_gguf_writer_open(struct ke_gguf_writer ** out, const char * path, const char * arch, int n,
                                   const struct ke_gguf_tensor_info * infos, struct ke_error * err);
enum ke_status ke_gguf_writer_data(struct ke_gguf_writer * w, const void * data, size_t n, struct ke_error * err);
enum ke_status ke_gguf_writer_close(struct ke_gguf_writer * w, struct ke_error * err);
void ke_gguf_writer_abort(struct ke_gguf_writer * w);

// Any supported weight file or folder, chosen by content/extension (.safetensors, .json index, .pth, .gguf, folder).
enum ke_status ke_weights_open(struct ke_tensor_set ** out, const char * path, struct ke_error * err);
