// Kinora engine: safetensors IO files of any rank (io-file.c) and output sets (io-util.c), as the
// evaluators, saved latents and golden fixtures use them.
#pragma once

#include <stdint.h>

#include "ke.h"

// --- output sets (evaluators, saved latents) ----------------------------------------------------
struct ke_tensor_set;
// Write every tensor of the set to a safetensors file with metadata pairs.
enum ke_status ke_out_write(const struct ke_tensor_set * s, const char * path, const char * const * meta_kv,
                            int n_meta, struct ke_error * err);

// --- IO files of any rank -------------------------------------------------------------------------
// The golden IO files hold tensors of up to 6 dimensions (per-step stacks of batched latents), more than
// struct ke_tensor carries; this small reader/writer keeps the full shape.
#define KE_IO_MAX_DIMS 8
struct ke_io_tensor {
    char * name;
    int type;                       // enum ke_dtype
    int n_dims;
    int64_t shape[KE_IO_MAX_DIMS];  // outermost first
    int64_t n;                      // elements
    void * data;                    // into the file image (read) or owned (write)
};
struct ke_io {
    char * path;
    unsigned char * file;
    struct ke_io_tensor * t;
    int n, cap;
    char ** meta;                   // key, value pairs
    int n_meta;
};
enum ke_status ke_io_read(struct ke_io ** out, const char * path, struct ke_error * err);
struct ke_io * ke_io_new(const char * path);
void ke_io_free(struct ke_io * io);
const char * ke_io_meta(const struct ke_io * io, const char * key);
const struct ke_io_tensor * ke_io_get(const struct ke_io * io, const char * name);
// f32 copy of a tensor (malloc'd) that must have n elements (n < 0: any).
float * ke_io_get_f32(const struct ke_io * io, const char * name, int64_t n, struct ke_error * err);
// New zeroed tensor owned by io; returns its data.
void * ke_io_add(struct ke_io * io, const char * name, int type, int n_dims, const int64_t * shape,
                 struct ke_error * err);
enum ke_status ke_io_set_meta(struct ke_io * io, const char * key, const char * value);
enum ke_status ke_io_write(const struct ke_io * io, const char * path, struct ke_error * err);
