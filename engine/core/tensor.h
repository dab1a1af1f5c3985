// Kinora engine tensor core: dtypes, the tensor descriptor, named tensor sets.
// Dims follow GGML: ne[0] is the innermost (fastest) dimension; nb[] are byte strides.
// Checkpoint shapes (PyTorch order, outermost first) are converted at the loader boundary.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "ke.h"

#define KE_MAX_DIMS 5

enum ke_dtype {
    KE_DTYPE_F32 = 0,
    KE_DTYPE_F16,
    KE_DTYPE_BF16,
    KE_DTYPE_F8_E4M3,   // storage only; value = fp8 * tensor scale
    KE_DTYPE_F64,
    KE_DTYPE_I64,
    KE_DTYPE_I32,
    KE_DTYPE_U8,
    KE_DTYPE_BOOL,
    // block-quantized (GGUF / ggml layouts, engine/core/quant.c): ne[0] is a whole number of blocks,
    // ke_dtype_size is the bytes of one block of ke_dtype_block elements; rows never share a block
    KE_DTYPE_Q8_0,
    KE_DTYPE_Q4_0,
    KE_DTYPE_Q4_1,
    KE_DTYPE_Q5_0,
    KE_DTYPE_Q5_1,
    KE_DTYPE_Q2_K,
    KE_DTYPE_Q3_K,
    KE_DTYPE_Q4_K,
    KE_DTYPE_Q5_K,
    KE_DTYPE_Q6_K,
    KE_DTYPE_COUNT,
};

// Bytes per element, or per block for the block-quantized types.
size_t ke_dtype_size(enum ke_dtype t);
// Elements per block: 1 for plain types, 32 (Q*_0/1) or 256 (K types) for block-quantized ones.
int64_t ke_dtype_block(enum ke_dtype t);
static inline bool ke_dtype_is_quantized(enum ke_dtype t) { return t >= KE_DTYPE_Q8_0 && t < KE_DTYPE_COUNT; }
// Bytes of n consecutive elements (n a multiple of the block size for block-quantized types).
size_t ke_dtype_row_bytes(enum ke_dtype t, int64_t n);
const char * ke_dtype_name(enum ke_dtype t);             // safetensors spelling: "F32", "BF16", ...
int ke_dtype_from_name(const char * s, enum ke_dtype * out); // 0 ok, -1 unknown

struct ke_tensor {
    enum ke_dtype type;
    int n_dims;                 // 0..KE_MAX_DIMS (0 = scalar with one element)
    int64_t ne[KE_MAX_DIMS];    // elements per dim, ne[0] innermost; unused dims are 1
    size_t nb[KE_MAX_DIMS];     // byte strides
    float scale;                // per-tensor dequant scale (fp8); 1.0 otherwise
    void * data;
    const char * name;          // borrowed from the owning set (may be NULL)
};

// Fill ne/nb for a contiguous tensor from a shape given outermost first (PyTorch order).
void ke_tensor_init(struct ke_tensor * t, enum ke_dtype type, int n_dims, const int64_t * shape_outer_first, void * data);
int64_t ke_tensor_nelements(const struct ke_tensor * t);
size_t ke_tensor_nbytes(const struct ke_tensor * t);
bool ke_tensor_is_contiguous(const struct ke_tensor * t);
// Shape outermost-first into buf as "[a, b, c]".
const char * ke_tensor_shape_str(const struct ke_tensor * t, char * buf, size_t n);
// Compare to an expected outermost-first shape.
bool ke_tensor_shape_is(const struct ke_tensor * t, int n_dims, const int64_t * shape_outer_first);

// Scalar conversions.
float ke_bf16_to_f32(uint16_t h);
uint16_t ke_f32_to_bf16(float f);       // round to nearest even
float ke_f16_to_f32(uint16_t h);
uint16_t ke_f32_to_f16(float f);
float ke_f8e4m3_to_f32(uint8_t v);
uint8_t ke_f32_to_f8e4m3(float v);   // nearest code for |v| <= 448 (ties to the smaller magnitude)

// Convert n elements of any float/int dtype to f32 (applies t->scale for fp8). src is contiguous; for a
// block-quantized type n is a whole number of blocks (quant.c).
void ke_convert_to_f32(float * dst, const void * src, enum ke_dtype type, float scale, size_t n);
// Copy a whole contiguous tensor to a new malloc'd f32 array (caller frees with free()). NULL on OOM.
float * ke_tensor_to_f32_alloc(const struct ke_tensor * t);

// --- block-quantized rows (quant.c) ------------------------------------------------------------
// Dequantize n elements (a whole number of blocks) of a block-quantized type. ggml's formulas in float32
// with no contraction, so the result equals ggml's to_float bit for bit.
void ke_dequant_row_f32(enum ke_dtype t, const void * src, float * dst, int64_t n);
// The same rounded to bf16 (nearest even).
void ke_dequant_row_bf16(enum ke_dtype t, const void * src, uint16_t * dst, int64_t n);
// Quantize n floats (a whole number of blocks) into dst (ke_dtype_row_bytes(t, n) bytes). A simple
// round-to-nearest quantizer (no search); supported: Q8_0, Q4_0, Q4_K, Q6_K. Returns 0 ok, -1 unsupported.
int ke_quantize_row(enum ke_dtype t, const float * src, void * dst, int64_t n);

// --- named tensor sets -------------------------------------------------------------------------
// A set owns its names, metadata and whatever memory/mappings were registered with it.
// Loaders (safetensors, .pth, gguf) fill a set; models look tensors up by checkpoint key.

struct ke_tensor_set;

struct ke_tensor_set * ke_tset_new(const char * source_path);
void ke_tset_free(struct ke_tensor_set * s);
const char * ke_tset_path(const struct ke_tensor_set * s);
// Add a tensor (data borrowed: register the owning memory with ke_tset_own_* below).
// The shape is outermost first. Returns the stored tensor, or NULL (err set) on duplicate/OOM.
struct ke_tensor * ke_tset_add(struct ke_tensor_set * s, const char * name, enum ke_dtype type,
                               int n_dims, const int64_t * shape_outer_first, void * data,
                               struct ke_error * err);
// The set takes ownership: free() on ke_tset_free / munmap on ke_tset_free.
int ke_tset_own_malloc(struct ke_tensor_set * s, void * p);
int ke_tset_own_mmap(struct ke_tensor_set * s, void * addr, size_t len);
int ke_tset_set_meta(struct ke_tensor_set * s, const char * key, const char * value);
const char * ke_tset_meta(const struct ke_tensor_set * s, const char * key);
int ke_tset_count(const struct ke_tensor_set * s);
struct ke_tensor * ke_tset_at(const struct ke_tensor_set * s, int i);
struct ke_tensor * ke_tset_get(const struct ke_tensor_set * s, const char * name);
// Rename every tensor whose name starts with `from` to start with `to` (name-map helper).
void ke_tset_strip_prefix(struct ke_tensor_set * s, const char * prefix);
// Rename one tensor (name-map helper). Fails (err set) when `from` is missing or `to` exists.
enum ke_status ke_tset_rename(struct ke_tensor_set * s, const char * from, const char * to, struct ke_error * err);
// Merge: move all tensors and owned memory of src into dst (src is freed). Duplicate -> error.
int ke_tset_merge(struct ke_tensor_set * dst, struct ke_tensor_set * src, struct ke_error * err);

// Lookup with checks: the tensor must exist and have this shape (outermost first; n_dims == 0: any).
// Errors name the file, the tensor, the expected and the actual shape.
const struct ke_tensor * ke_tset_require(const struct ke_tensor_set * s, const char * name,
                                         int n_dims, const int64_t * shape_outer_first,
                                         struct ke_error * err);
