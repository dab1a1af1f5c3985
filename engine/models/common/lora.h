// Kinora engine: LoRA files for the Wan DiT: read in the formats found in the wild, matched to the
// model's Linear layers and vectors, applied at run time as a low-rank term beside the weight
// (y += scale * B (A x)) or merged into a copy of the weight.
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "backends/backend.h"
#include "core/tensor.h"
#include "ke.h"

// --- a parsed LoRA file ---------------------------------------------------------------------------

// One adapted module: a Linear (down/up low-rank pair, or a full weight delta `diff`, and/or a bias
// delta `diff_b`), or a vector parameter (norm weights, modulation: `diff` / `diff_b`).
struct ke_lora_entry {
    char * module;                     // official Wan name ("blocks.0.self_attn.q"), or the underscored
                                       // form ("blocks_0_self_attn_q") when the file used one
    bool underscored;
    const struct ke_tensor * down;     // (rank, in) or (rank, in, kt, kh, kw): lora_down / lora_A
    const struct ke_tensor * up;       // (out, rank) or (out, rank, 1, 1, 1): lora_up / lora_B
    const struct ke_tensor * alpha;    // one element, or NULL (scale = strength)
    const struct ke_tensor * diff;     // same shape as the weight: full delta, or NULL
    const struct ke_tensor * diff_b;   // (out): bias delta, or NULL
    const char * key;                  // one of the file's keys for this module (for messages)
    bool used;                         // set when a model parameter took it
};

struct ke_lora_file {
    struct ke_tensor_set * set;        // the file (tensors mmapped)
    struct ke_lora_entry * entries;
    int n_entries;
};

// Open and parse a LoRA safetensors file. Errors (KE_STATUS_FORMAT, KE_STATUS_SHAPE) name the file and
// the key: a down without its up (or the reverse), a rank that differs between down and up, a
// non-scalar alpha, a part given twice, a non-float tensor. Keys of no known kind are kept as entries
// with nothing to apply (reported as unmatched).
enum ke_status ke_lora_open(struct ke_lora_file ** out, const char * path, struct ke_error * err);
// Parse a tensor set already loaded (takes ownership of s, also on failure). Fuzz entry point.
enum ke_status ke_lora_from_set(struct ke_lora_file ** out, struct ke_tensor_set * s, struct ke_error * err);
void ke_lora_free(struct ke_lora_file * f);

// The files of n specs (ke.h) in files[n] (NULL where no expert uses it); free with ke_lora_files_free.
enum ke_status ke_lora_open_specs(struct ke_lora_file ** files, const struct ke_lora_spec * specs, int n,
                                  struct ke_error * err);
void ke_lora_files_free(struct ke_lora_file ** files, int n);

// --- applying LoRAs to a model while it is built ------------------------------------------------------

struct ke_lora_use {
    const struct ke_lora_file * file;
    float strength;
};

// Run-time terms of one Linear (hung on struct ke_linear.lora): y += down/up chain of each term. The
// host keeps f32 copies (rank padded to a multiple of 8): rank 64 on every block Linear of an A14B
// expert is ~1.2 GB (the CPU backend reads them in place; a device backend has its own upload).
// Measured cost on the CPU (bf16 path): +12 % user time per TI2V-5B forward at 256x256x17 with rank 64
// on every block Linear (kinora-bench dit --lora-rank 64); merged weights cost nothing per step.
struct ke_lora_term {
    struct ke_linear a;                // low rank: A (rank, in); full: the scaled delta (out, in)
    struct ke_linear b;                // low rank: scale * B (out, rank); full: unused (b.w NULL)
    struct ke_tensor ta, tb;           // f32 host copies behind a and b
};
struct ke_lora_linear {
    int n_terms;
    struct ke_lora_term * terms;
};

// uses[] (room for n) for one expert (high: the A14B high-noise one): the specs with a non-zero
// strength there. Returns the count.
int ke_lora_uses_for(struct ke_lora_use * uses, struct ke_lora_file * const * files,
                     const struct ke_lora_spec * specs, int n, bool high);

// The bytes on disk of the LoRA files of n specs with a non-zero strength on one expert (high: the A14B
// high-noise one); a file that cannot be read counts 0. The device keeps a LoRA's terms in bf16 (or
// e4m3 under fp8), so for the usual bf16 or f32 files this bounds their device memory; the pre-flight
// estimate and the expert prepared ahead (generate.c) both count it, so they decide alike.
size_t ke_lora_specs_bytes(const struct ke_lora_spec * specs, int n, bool high);

struct ke_lora_ctx;

// A context applying `uses` (borrowed: they must outlive the context's building calls) to one model.
// merge: fold the deltas into f32/bf16/f16 copies of the weights instead of run-time terms (other
// dtypes keep run-time terms).
struct ke_lora_ctx * ke_lora_ctx_new(const struct ke_lora_use * uses, int n_uses, bool merge, struct ke_backend * be);
// Before linear_prepare: take every entry naming `module` (the weight's name without ".weight"); sets
// l->w / l->b to merged copies and l->lora to run-time terms as needed. Shapes that disagree with the
// model's are an error naming the LoRA file, the key, the expected and the actual shape.
enum ke_status ke_lora_ctx_linear(struct ke_lora_ctx * c, struct ke_linear * l, const char * module,
                                  struct ke_error * err);
// A vector parameter in host f32 (n elements), by its full name ("blocks.0.norm3.weight",
// "blocks.0.modulation"): adds strength * diff (or diff_b for a ".bias").
enum ke_status ke_lora_ctx_vector(struct ke_lora_ctx * c, float * host, int64_t n, const char * param,
                                  struct ke_error * err);
// After the model is built: a LoRA that matched nothing is an error (KE_STATUS_MISSING: it is for
// another model); keys that matched nothing while others did are a warning listing them.
enum ke_status ke_lora_ctx_finish(struct ke_lora_ctx * c, struct ke_error * err);
// Free the copies and terms (after the model's linears are released).
void ke_lora_ctx_free(struct ke_lora_ctx * c);

// --- run time ---------------------------------------------------------------------------------------

// Backend scratch for the terms, grown on demand (row chunks bound it).
struct ke_lora_scratch {
    void * mem;
    size_t size;
};
void ke_lora_scratch_free(struct ke_backend * be, struct ke_lora_scratch * s);

// The backend's linear ops followed by the LoRA terms of l (plain ops when l->lora is NULL). A failure
// (out of memory for the scratch) is recorded on the backend (ke_be_fail).
void ke_lora_linear(struct ke_backend * be, struct ke_lora_scratch * s, float * y, const float * x, int64_t M,
                    const struct ke_linear * l);
void ke_lora_linear_x(struct ke_backend * be, struct ke_lora_scratch * s, float * y, const struct ke_xbuf * x,
                      int64_t M, const struct ke_linear * l);
void ke_lora_linear_gelu_x(struct ke_backend * be, struct ke_lora_scratch * s, struct ke_xbuf * y,
                           const struct ke_xbuf * x, int64_t M, const struct ke_linear * l);
void ke_lora_linear_gated_add_x(struct ke_backend * be, struct ke_lora_scratch * s, float * r,
                                const struct ke_xbuf * x, int64_t M, const struct ke_linear * l, const float * gate,
                                int64_t gate_stride, const int32_t * sel, float * tmp);
