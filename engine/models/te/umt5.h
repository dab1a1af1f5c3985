// Kinora engine: UMT5-XXL text encoder (official wan/modules/t5.py `T5Encoder`, Wan2.2 commit 42bf4cf).
// Weights use the official names (loaders/name-map.c converts others); sizes come from tensor shapes.
// One relative-position table serves every layer (shared_pos, classic T5 and T5 v1.1) when it sits at the
// top (Wan's T5Encoder) or in block 0 only (HF T5EncoderModel); UMT5 has one per layer.
#pragma once

#include "backends/backend.h"
#include "core/tensor.h"

struct ke_umt5_config {
    int64_t vocab;          // token_embedding rows (256384)
    int64_t dim;            // model width (4096)
    int64_t dim_attn;       // q/k/v width = n_heads * head_dim (4096)
    int64_t dim_ffn;        // gated FFN width (10240)
    int n_heads;            // pos_embedding table width (64)
    int n_layers;           // blocks.N count (24)
    int n_buckets;          // pos_embedding table rows (32)
    int max_dist;           // relative distance where buckets saturate (128)
    float eps;              // RMS norm epsilon (1e-6)
    bool shared_pos;        // one position bias for all layers (T5 v1.1) instead of one per layer (UMT5)
};

struct ke_umt5_layer {
    float * norm1;              // (dim) f32, backend memory
    float * norm2;              // (dim) f32, backend memory
    float * pos_table;          // (n_buckets, n_heads) f32, host (the bias is built on the host); NULL if shared_pos
    struct ke_linear q, k, v;   // (dim_attn, dim)
    struct ke_linear o;         // (dim, dim_attn)
    struct ke_linear gate;      // (dim_ffn, dim) GELU branch
    struct ke_linear fc1;       // (dim_ffn, dim) linear branch
    struct ke_linear fc2;       // (dim, dim_ffn)
};

// Sequences one encode runs together (ke_umt5_encode_many): a pipeline's prompt and negative prompt.
#define KE_UMT5_MAX_SEQ 2

// What one sequence keeps from layer to layer while others run beside it.
struct ke_umt5_seq_buffers {
    float * x;                      // (cap, dim) backend: the residual stream
    float * bias;                   // (n_heads, cap, cap) backend (shared_pos: layer 0's serves every layer)
    float * tv;                     // (n_heads, 2 cap - 1) backend: the bias's diagonals (ops.rel_bias)
    int * bucket_of;                // (2 cap - 1) host
};

// Activation buffers for up to `cap` tokens in each of n_seq sequences, kept between encodes.
struct ke_umt5_workspace {
    int64_t cap;
    int n_seq;
    struct ke_umt5_seq_buffers seq[KE_UMT5_MAX_SEQ];
    float * h, * t;                 // (cap, dim) backend, used within one layer of one sequence
    float * q, * k, * v, * a;       // (cap, dim_attn) backend
    float * g, * u;                 // (cap, dim_ffn) backend
    float * host;                   // (cap, dim) host
    float * hbias;                  // (n_heads, cap, cap) host
    float * htv;                    // (n_heads, 2 cap - 1) host
};

struct ke_umt5_maker;   // umt5.c

struct ke_umt5 {
    struct ke_umt5_config cfg;
    struct ke_backend * be;
    const struct ke_tensor * emb;       // (vocab, dim), stored dtype
    struct ke_umt5_layer * layers;      // (n_layers)
    float * norm;                       // (dim) final norm, backend memory
    float * pos_table;                  // (n_buckets, n_heads) f32, host, when cfg.shared_pos
    struct ke_umt5_workspace ws;
    struct ke_umt5_maker * maker;       // the thread making the layers (ke_umt5_init_ahead), or NULL
    bool make_failed;                   // an encode failed because a layer could not be made
};

// Optional intermediate outputs of one sequence (host memory, any may be NULL), and a cancel hook.
struct ke_umt5_trace {
    float * token_embedding;    // (L, dim)
    float ** pos_bias;          // per layer (n_heads, L, L), or NULL (shared_pos: the same bias in each)
    float ** block;             // per layer (L, dim), block outputs before the final norm
    ke_abort_fn abort;          // polled before each layer: nonzero -> KE_STATUS_ABORTED (may be NULL)
    void * user_data;           // for abort
};

// Build the encoder over a weight set (official names) on a backend. The set must outlive the model.
enum ke_status ke_umt5_init(struct ke_umt5 ** out, const struct ke_tensor_set * w, struct ke_backend * be,
                            struct ke_error * err);
// As ke_umt5_init, but on a backend that offers ops.prepare_thread the layers' linears are prepared by a
// second thread, layer after layer, while this one encodes: an encode waits for each layer as it comes
// to it, so the first prompt runs beside the weights' upload instead of after it. Everything that can be
// refused (names, shapes, dtypes the backend does not take) is checked before this returns; what fails
// later (out of device memory) fails the encode that waits for the layer, with make_failed set. Without
// ops.prepare_thread it is ke_umt5_init.
enum ke_status ke_umt5_init_ahead(struct ke_umt5 ** out, const struct ke_tensor_set * w, struct ke_backend * be,
                                  struct ke_error * err);
// Stops and joins the making thread, if any, before freeing.
void ke_umt5_free(struct ke_umt5 * m);
// Release the activation buffers kept between encodes (the next encode allocates them again).
void ke_umt5_trim(struct ke_umt5 * m);

// Bidirectional relative-position bucket of distance rel = key_pos - query_pos, computed in float32
// as the reference does: buckets [0, n/2) for rel <= 0, [n/2, n) for rel > 0.
int ke_umt5_bucket(int64_t rel, int n_buckets, int max_dist);

// Encode one sequence of L tokens: hidden (L, dim) on the host. mask (L) or NULL (all real): keys
// with mask 0 get the most negative float32 logit, exactly as the reference's padded run.
// Ids outside [0, vocab) are refused.
enum ke_status ke_umt5_encode(struct ke_umt5 * m, float * hidden, const int64_t * ids, const int64_t * mask,
                              int64_t L, const struct ke_umt5_trace * trace, struct ke_error * err);

// Encode n sequences (1..KE_UMT5_MAX_SEQ) together, layer by layer: each layer runs for every sequence
// before the next one is waited for, so with the layers made ahead (ke_umt5_init_ahead) the second
// sequence's work also runs while the weights go up instead of after them. hidden[i] (L[i], dim) on the
// host; no masks. The results equal n separate ke_umt5_encode calls bit for bit (the same ops on each
// sequence, in the same order).
enum ke_status ke_umt5_encode_many(struct ke_umt5 * m, int n, float * const * hidden, const int64_t * const * ids,
                                   const int64_t * L, struct ke_error * err);

// Check a Hugging Face T5/UMT5 config.json (T5Config fields) against the sizes read from the shapes and
// take from it what shapes cannot tell: relative_attention_max_distance, layer_norm_epsilon. Refuses
// other FFNs than gated-gelu (T5 v1.0's relu) and a model_type that contradicts shared_pos (t5-config.c).
enum ke_status ke_t5_config_apply(struct ke_umt5_config * c, const char * json, const char * path,
                                  struct ke_error * err);

// Device memory of an encode of L tokens on a backend with a budget (ops.set_memory), from the sizes and
// the stored dtypes of block 0's linears (bf16 on the device; fp8 and block-quantized types as stored).
// The token embedding stays on the host (rows are looked up there).
struct ke_umt5_mem_plan {
    size_t weights;         // every layer's linears and norms as the device keeps them
    size_t layer;           // one layer's linears (a streaming slot holds one; two slots alternate)
    size_t activations;     // the workspace for n_seq sequences of L tokens, per-op scratch and a margin
    size_t weight_cap;      // linear bytes kept resident (SIZE_MAX: all); the rest streams
    bool streams;           // some layers stream from host memory, the next one prefetched
    bool fits;              // runs within `avail` (resident or streaming)
};
// avail: device bytes the encode may use (budget minus what is in use); n_seq sequences of up to L tokens
// encoded together (ke_umt5_encode_many).
void ke_umt5_plan_memory(const struct ke_umt5_config * c, const struct ke_tensor_set * w, int64_t L, int n_seq,
                         size_t avail, struct ke_umt5_mem_plan * plan);

// FLOPs of one encode of L tokens (2 per multiply-add; for benchmarks).
double ke_umt5_flops(const struct ke_umt5_config * c, int64_t L);

// The weights and the model behind a text encoder (text-cache.c), for the pre-flight estimate; borrowed.
const struct ke_tensor_set * ke_text_encoder_weights(const ke_text_encoder_t * enc);
const struct ke_umt5 * ke_text_encoder_model(const ke_text_encoder_t * enc);
// A text encoder (with its prompt caches) over weights already in memory, e.g. random weights at the real
// shapes; it takes ownership of `w` (freed on failure too). The digest comes from the tensors alone.
// A text encoder's prompt encoded on a job's backend: on a device backend (be not the CPU) a cache miss
// builds the encoder there from the same mapped weights (planned within what the budget leaves: resident,
// or streaming layer by layer), encodes, and keeps it for the next call until ke_text_encoder_release;
// when it cannot run there (budget, an unsupported weight type, out of device memory) the CPU encoder
// runs instead, with a log line saying why. be NULL or a CPU backend: exactly ke_text_encode. Device
// results are cached under their own key (a CPU job never reads them); a device job reads CPU entries.
// A cache hit touches no device. budget: the job's device budget in bytes (0: the backend's default).
enum ke_status ke_text_encode_on(ke_text_encoder_t * enc, struct ke_backend * be, size_t budget, const int32_t * ids,
                                 int n, const char * cache_dir, float ** hidden, struct ke_error * err);
// As ke_text_encode_on for count prompts (1..KE_UMT5_MAX_SEQ: a prompt and its negative prompt), each
// cached on its own: those not cached are encoded together (ke_umt5_encode_many), so on a device made
// ahead the second one's work runs while the weights go up; the same tokens twice are encoded once.
// hidden[i] is set for each (all NULL on failure).
enum ke_status ke_text_encode_many_on(ke_text_encoder_t * enc, struct ke_backend * be, size_t budget, int count,
                                      const int32_t * const * ids, const int * n, const char * cache_dir,
                                      float ** hidden, struct ke_error * err);
// Free the encoder made on a device by ke_text_encode_on (its weights, norms and activations), restoring
// the backend's weight cap to "all resident"; nothing when there is none.
void ke_text_encoder_release(ke_text_encoder_t * enc);
// The backend of the encoder made on a device (NULL: none now).
struct ke_backend * ke_text_encoder_device(const ke_text_encoder_t * enc);
enum ke_status ke_text_encoder_from_set(ke_text_encoder_t ** out, struct ke_tensor_set * w, struct ke_backend * be,
                                        bool fast, struct ke_error * err);
