// Kinora tests: the text encoder (T5) on the GPU through the pipelines' path (text-cache.c
// ke_text_encode_on), TAP output. Needs a GPU (suite cuda; run on the device machine, see
// flatpak-free-docs/cuda.md) and the t5_tiny fixture (KINORA_FIXTURES; a missing file fails).
//
//  - resident: the fixture's first sequence encoded on the CUDA backend against the CPU encoder of the
//    pipelines (bf16 matmuls): 1e-2 relative L2 (bf16 operands on both sides, rounded at other points;
//    the bound of the other CUDA parity checks);
//  - streamed: a budget that holds the activations and two layers but not all the weights, so the
//    layers stream from pinned host memory (checked: bytes_streamed > 0 while the encoder is up, the
//    allocator peak within the budget): equal to the resident result within 1e-6 relative L2 (the same
//    bf16 weights reach the same GEMMs; a stale or half-copied layer shows as an O(1) error). The fixture
//    has two layers, which streaming cannot hold in less than two slots, so this part (and its resident
//    run against the CPU) uses a random T5 of 6 layers made in memory (pipeline/tiny.c). Its resident run
//    is held to 5e-2 relative L2, not 1e-2: its untrained random layers amplify rounding differences
//    layer after layer (the 2-layer fixture gives 4.5e-3; the 6-layer model measured 3.3e-2 on an H100),
//    so this part checks that the GPU computes the same function, while the fixture holds the tight bound;
//  - released: after each encode the backend's bytes in use return to what they were before it, and no
//    encoder is left on the device;
//  - a cache hit touches no device: the same ids again are answered from memory with no encoder made;
//  - a budget too small for even two layers: the CPU encodes (bit-identical to the CPU encoder), the job
//    does not fail;
//  - made ahead: the random T5's layers made on a second thread while its prompt encodes
//    (ke_umt5_init_ahead) against the encoder made whole first, within 1e-6 relative L2.
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/backend.h"
#include "cuda-tap.h"
#include "core/error.h"
#include "core/tensor.h"
#include "loaders/loaders.h"
#include "models/te/umt5.h"
#include "pipeline/tiny-impl.h"

static struct ke_backend * g_gpu;
static char g_weights[4096];
static int g_random;   // open_encoder: the random 6-layer T5 instead of the fixture

static size_t in_use(void)
{
    size_t b = 0, u = 0, p = 0;
    g_gpu->ops->memory(g_gpu, &b, &u, &p);
    return u;
}

// A text encoder over the fixture (or the random T5), its CPU model as the pipelines open it (bf16
// matmuls).
static ke_text_encoder_t * open_encoder(void)
{
    ke_text_encoder_t * e = NULL;
    struct ke_error err = { 0 };
    if (g_random) {
        // vocab 300 (the fixture's ids fit), dim 256, FFN 640, 4 heads, 6 layers; bf16 as the real files
        struct ke_tensor_set * w = NULL;
        const struct ke_random_opts o = { .type = KE_DTYPE_BF16 };
        if (ke_random_t5_weights(&w, 300, 256, 640, 4, 6, &o, &err) != KE_STATUS_OK ||
            ke_text_encoder_from_set(&e, w, ke_backend_cpu_fast(), true, &err) != KE_STATUS_OK) {
            tap_report(0, "random T5: %s", err.msg);
            return NULL;
        }
        return e;
    }
    if (ke_text_encoder_open(&e, g_weights, "cpu", true, &err) != KE_STATUS_OK) {
        tap_report(0, "open %s: %s", g_weights, err.msg);
        return NULL;
    }
    return e;
}

// The CPU encoder's rows for ids (NULL on failure, reported).
static float * encode_cpu(const int32_t * ids, int n)
{
    ke_text_encoder_t * e = open_encoder();
    float * h = NULL;
    struct ke_error err = { 0 };
    if (e && ke_text_encode(e, ids, n, NULL, &h, &err) != KE_STATUS_OK) {
        tap_report(0, "CPU encode: %s", err.msg);
    }
    ke_text_encoder_free(e);
    return h;
}

struct run {
    float * hidden;          // (n, dim), NULL on failure
    int64_t device_misses;   // encodes that ran on the device
    size_t streamed;         // bytes_streamed while the device encoder was up
    size_t peak;             // the allocator's peak over the encode
    size_t budget;           // the budget the backend ran under
    int left_on_device;      // an encoder still on the device after the release
};

// Encode ids on the GPU path of a fresh encoder (so no cache answers) with budget (0: the default).
static struct run encode_gpu(const int32_t * ids, int n, size_t budget, const char * what)
{
    struct run r = { 0 };
    ke_text_encoder_t * e = open_encoder();
    if (!e) {
        return r;
    }
    struct ke_error err = { 0 };
    struct ke_backend_stats st;
    g_gpu->ops->stats(g_gpu, &st);   // resets the peak
    const size_t before = in_use();
    if (ke_text_encode_on(e, g_gpu, budget, ids, n, NULL, &r.hidden, &err) != KE_STATUS_OK) {
        tap_report(0, "%s: encode: %s", what, err.msg);
        ke_text_encoder_free(e);
        return r;
    }
    g_gpu->ops->stats(g_gpu, &st);
    r.streamed = st.bytes_streamed;
    r.peak = st.bytes_peak;
    r.budget = st.bytes_budget;
    ke_text_encoder_release(e);
    r.left_on_device = ke_text_encoder_device(e) != NULL;
    const size_t after = in_use();
    tap_report(after == before && !r.left_on_device, "%s: device memory released (in use %zu before, %zu after)", what,
           before, after);
    struct ke_text_cache_stats cs;
    ke_text_encoder_stats(e, &cs);
    r.device_misses = cs.device_misses;
    ke_text_encoder_free(e);
    return r;
}

int main(void)
{
    struct ke_error err = { 0 };
    g_gpu = ke_backend_by_name("cuda", &err);
    if (!g_gpu) {
        printf("1..0 # SKIP %s\n", err.msg);
        return 77;
    }
    if (!g_gpu->ops->memory || !g_gpu->ops->set_memory || !g_gpu->ops->stats) {
        printf("not ok 1 - the CUDA backend has no memory budget ops\n1..1\n");
        return 1;
    }
    const char * dir = getenv("KINORA_FIXTURES");
    dir = dir ? dir : "../shared/fixtures";
    char io_path[4096];
    snprintf(g_weights, sizeof(g_weights), "%s/t5_tiny.weights.safetensors", dir);
    snprintf(io_path, sizeof(io_path), "%s/t5_tiny.io.safetensors", dir);
    struct ke_tensor_set * io = NULL;
    if (access(g_weights, R_OK) != 0 || ke_safetensors_open_file(&io, io_path, &err) != KE_STATUS_OK) {
        printf("not ok 1 - fixture missing: %s or %s (set KINORA_FIXTURES) %s\n1..1\n", g_weights, io_path, err.msg);
        return 1;
    }
    // the first sequence's real tokens (ids (2, 48) int64, mask the same)
    const struct ke_tensor * tid = ke_tset_get(io, "ids");
    const struct ke_tensor * tmask = ke_tset_get(io, "mask");
    if (!tid || !tmask || tid->type != KE_DTYPE_I64 || tmask->type != KE_DTYPE_I64) {
        printf("not ok 1 - %s: no int64 'ids' and 'mask'\n1..1\n", io_path);
        return 1;
    }
    const int64_t L = tid->ne[0];
    int32_t ids[512];
    int n = 0;
    while (n < L && n < 512 && ((const int64_t *) tmask->data)[n]) {
        ids[n] = (int32_t) ((const int64_t *) tid->data)[n];
        n++;
    }
    ke_tset_free(io);
    ke_be_set_memory(g_gpu, 0, SIZE_MAX);

    int bad = 0;
    // --- the fixture: resident against the CPU, a cache hit, a budget too small ---------------------
    float * ref = encode_cpu(ids, n);
    ke_text_encoder_t * probe = open_encoder();
    if (!ref || !probe) {
        printf("1..%d\n", tap_n);
        return 1;
    }
    const size_t nel = (size_t) n * (size_t) ke_text_encoder_dim(probe);
    ke_text_encoder_free(probe);
    struct run res = encode_gpu(ids, n, 0, "fixture resident");
    double e1 = res.hidden ? tap_rel_l2(res.hidden, ref, nel, &bad) : INFINITY;
    tap_report(res.hidden && res.device_misses == 1 && res.streamed == 0 && !bad && e1 <= 1e-2,
           "fixture, resident on the GPU vs the CPU encoder: rel L2 %.3g (<= 1e-2), %lld device encode(s)", e1,
           (long long) res.device_misses);
    ke_text_hidden_free(res.hidden);
    // a cache hit makes no device encoder
    {
        ke_text_encoder_t * e = open_encoder();
        float * h1 = NULL, * h2 = NULL;
        if (e && ke_text_encode_on(e, g_gpu, 0, ids, n, NULL, &h1, &err) == KE_STATUS_OK) {
            ke_text_encoder_release(e);
            const size_t before = in_use();
            enum ke_status s = ke_text_encode_on(e, g_gpu, 0, ids, n, NULL, &h2, &err);
            struct ke_text_cache_stats cs;
            ke_text_encoder_stats(e, &cs);
            tap_report(s == KE_STATUS_OK && cs.mem_hits == 1 && cs.device_misses == 1 && !ke_text_encoder_device(e) &&
                       in_use() == before && h2 && memcmp(h1, h2, nel * sizeof(float)) == 0,
                   "a cache hit: answered from memory (%lld hits), no encoder made on the device",
                   (long long) cs.mem_hits);
        } else {
            tap_report(0, "cache hit: encode: %s", err.msg);
        }
        ke_text_hidden_free(h1);
        ke_text_hidden_free(h2);
        ke_text_encoder_free(e);
    }
    // too small a budget: the CPU encodes, the same rows as the CPU encoder
    {
        struct run cpu = encode_gpu(ids, n, in_use() + ((size_t) 1 << 20), "budget too small");
        tap_report(cpu.hidden && cpu.device_misses == 0 && memcmp(cpu.hidden, ref, nel * sizeof(float)) == 0,
               "budget too small for two layers: encoded on the CPU, equal to the CPU encoder");
        ke_text_hidden_free(cpu.hidden);
        ke_be_set_memory(g_gpu, 0, SIZE_MAX);
    }
    ke_text_hidden_free(ref);

    // --- a random T5 of 6 layers: resident against the CPU, streamed against resident -----------------
    g_random = 1;
    ref = encode_cpu(ids, n);
    probe = open_encoder();
    if (!ref || !probe) {
        printf("1..%d\n", tap_n);
        return 1;
    }
    const size_t nel6 = (size_t) n * (size_t) ke_text_encoder_dim(probe);
    struct ke_umt5_mem_plan plan;
    const struct ke_umt5 * m6 = ke_text_encoder_model(probe);
    ke_umt5_plan_memory(&m6->cfg, ke_text_encoder_weights(probe), 512, 1, SIZE_MAX, &plan);
    const size_t norms = plan.weights - (size_t) m6->cfg.n_layers * plan.layer;
    ke_text_encoder_free(probe);
    res = encode_gpu(ids, n, 0, "random T5 resident");
    e1 = res.hidden ? tap_rel_l2(res.hidden, ref, nel6, &bad) : INFINITY;
    tap_report(res.hidden && res.device_misses == 1 && res.streamed == 0 && !bad && e1 <= 5e-2,
           "random T5, resident on the GPU vs the CPU encoder: rel L2 %.3g (<= 5e-2, see the top)", e1);
    // room for the activations, the norms, two layers (the streaming slots) and half a layer resident
    const size_t budget = in_use() + plan.activations + norms + 2 * plan.layer + plan.layer / 2;
    struct run str = encode_gpu(ids, n, budget, "random T5 streamed");
    const double e2 = str.hidden && res.hidden ? tap_rel_l2(str.hidden, res.hidden, nel6, &bad) : INFINITY;
    tap_report(str.hidden && str.device_misses == 1 && str.streamed > 0 && !bad && e2 <= 1e-6,
           "random T5, streamed vs resident: rel L2 %.3g (<= 1e-6), %zu bytes streamed", e2, str.streamed);
    tap_report(str.peak <= str.budget && str.budget == budget, "streamed: allocator peak %zu within the budget %zu",
           str.peak, str.budget);
    ke_be_set_memory(g_gpu, 0, SIZE_MAX);
    // layers made on a second thread while the prompt encodes (ke_umt5_init_ahead, the resident path of
    // ke_text_encode_on) against an encoder made whole first: the same weights reach the same kernels,
    // so 1e-6 relative L2 (a layer read before its upload ended shows as an O(1) error)
    {
        ke_text_encoder_t * e = open_encoder();
        struct ke_umt5 * whole = NULL, * ahead = NULL;
        float * hw = calloc(nel6, sizeof(float)), * ha = calloc(nel6, sizeof(float));
        int64_t ids64[512];
        for (int i = 0; i < n; i++) {
            ids64[i] = ids[i];
        }
        int started = 0;
        enum ke_status s = e && hw && ha ? ke_umt5_init(&whole, ke_text_encoder_weights(e), g_gpu, &err)
                                        : KE_STATUS_NOMEM;
        if (s == KE_STATUS_OK) {
            s = ke_umt5_encode(whole, hw, ids64, NULL, n, NULL, &err);
        }
        ke_umt5_free(whole);
        if (s == KE_STATUS_OK) {
            s = ke_umt5_init_ahead(&ahead, ke_text_encoder_weights(e), g_gpu, &err);
            started = s == KE_STATUS_OK && ahead->maker != NULL;
        }
        if (s == KE_STATUS_OK) {
            s = ke_umt5_encode(ahead, ha, ids64, NULL, n, NULL, &err);
        }
        const double e3 = s == KE_STATUS_OK ? tap_rel_l2(ha, hw, nel6, &bad) : INFINITY;
        tap_report(s == KE_STATUS_OK && started && !bad && e3 <= 1e-6,
                   "random T5, layers made beside the encode vs made first: rel L2 %.3g (<= 1e-6)%s%s", e3,
                   s == KE_STATUS_OK ? "" : ": ", s == KE_STATUS_OK ? "" : err.msg);
        ke_umt5_free(ahead);
        ahead = NULL;
        // the prompt and a second, shorter sequence encoded together while the layers are made
        // (ke_umt5_encode_many, as the pipeline encodes its negative prompt) against each alone on the
        // encoder made first: 1e-6 relative L2 each, as above
        const int n2 = n > 4 ? n - 3 : n;
        float * hw2 = calloc(nel6, sizeof(float));
        float * hp[2] = { calloc(nel6, sizeof(float)), calloc(nel6, sizeof(float)) };
        s = hw2 && hp[0] && hp[1] ? ke_umt5_init(&whole, ke_text_encoder_weights(e), g_gpu, &err) : KE_STATUS_NOMEM;
        if (s == KE_STATUS_OK) {
            s = ke_umt5_encode(whole, hw2, ids64 + 3, NULL, n2, NULL, &err);
        }
        ke_umt5_free(whole);
        started = 0;
        if (s == KE_STATUS_OK) {
            s = ke_umt5_init_ahead(&ahead, ke_text_encoder_weights(e), g_gpu, &err);
            started = s == KE_STATUS_OK && ahead->maker != NULL;
        }
        if (s == KE_STATUS_OK) {
            const int64_t * pids[2] = { ids64, ids64 + 3 };
            const int64_t pl[2] = { n, n2 };
            s = ke_umt5_encode_many(ahead, 2, hp, pids, pl, &err);
        }
        const double e4 = s == KE_STATUS_OK ? tap_rel_l2(hp[0], hw, nel6, &bad) : INFINITY;
        const double e5 = s == KE_STATUS_OK && !bad ? tap_rel_l2(hp[1], hw2, (size_t) n2 * (nel6 / (size_t) n), &bad)
                                                    : INFINITY;
        tap_report(s == KE_STATUS_OK && started && !bad && e4 <= 1e-6 && e5 <= 1e-6,
                   "random T5, two prompts together beside the layers' making vs each alone: rel L2 %.3g and %.3g "
                   "(<= 1e-6)%s%s", e4, e5, s == KE_STATUS_OK ? "" : ": ", s == KE_STATUS_OK ? "" : err.msg);
        ke_umt5_free(ahead);
        free(hw2);
        free(hp[0]);
        free(hp[1]);
        free(hw);
        free(ha);
        ke_text_encoder_free(e);
    }
    ke_text_hidden_free(res.hidden);
    ke_text_hidden_free(str.hidden);
    ke_text_hidden_free(ref);
    printf("1..%d\n", tap_n);
    return tap_fail ? 1 : 0;
}
