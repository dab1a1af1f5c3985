// Kinora engine: the tiny built-in model and random weights at any size (tiny.c).
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "ke.h"

struct ke_tensor_set;
struct ke_dit_config;

enum ke_status ke_tiny_dit_weights(struct ke_tensor_set ** out, struct ke_error * err);
enum ke_status ke_tiny_vae_weights(struct ke_tensor_set ** out, struct ke_error * err);
enum ke_status ke_tiny_t5_weights(struct ke_tensor_set ** out, struct ke_error * err);
int ke_tiny_tokenize(const char * text, int64_t * ids, int max_ids);
// A Wan DiT config for random weights: model_type ("t2v", "ti2v", ...), z latent channels in and out, 2x2
// patches, frequency dim 256, qk and cross-attention norms, eps 1e-6, and these sizes.
void ke_random_dit_config(struct ke_dit_config * c, const char * model_type, int z, int dim, int ffn_dim, int text_dim,
                          int text_len, int heads, int layers);
// Random weights at any size (benchmarks): dtype, blocks sharing block 0's data, zero (untouched) embeddings.
struct ke_random_opts {
    int type;               // enum ke_dtype: F32 or BF16
    bool share_blocks;
    bool zero_embedding;
    bool shapes_only;       // tensors without data (NULL): names, shapes and dtype for a streaming writer
};
enum ke_status ke_random_dit_weights(struct ke_tensor_set ** out, const struct ke_dit_config * c,
                                     const struct ke_random_opts * o, struct ke_error * err);
enum ke_status ke_random_vae22_weights(struct ke_tensor_set ** out, int dim, int dec_dim, int z,
                                       const struct ke_random_opts * o, struct ke_error * err);
enum ke_status ke_random_vae21_weights(struct ke_tensor_set ** out, int dim, int z, const struct ke_random_opts * o,
                                       struct ke_error * err);
enum ke_status ke_random_t5_weights(struct ke_tensor_set ** out, int64_t vocab, int64_t dim, int64_t ffn, int heads,
                                    int layers, const struct ke_random_opts * o, struct ke_error * err);
