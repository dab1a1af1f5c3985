// Kinora engine: the text encoder behind ke.h (UMT5 over any supported weight file) with a prompt-embedding
// cache: in memory, and on disk as <dir>/<key>.safetensors, keyed by (model digest, precision, token ids),
// so a run that changes only seed, steps or guidance skips the encoder.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/backend.h"
#include "core/error.h"
#include "loaders/loaders.h"
#include "loaders/name-map.h"
#include "models/te/umt5.h"

#define MEM_ENTRIES 8
#define HASH_MIB ((size_t) 1 << 20)

struct mem_entry {
    char key[40];           // hex key, "" when free
    int n;                  // tokens
    float * hidden;         // (n, dim)
    uint64_t used;          // LRU tick
};

struct ke_text_encoder {
    struct ke_tensor_set * w;
    struct ke_umt5 * m;
    char digest[40];        // hex model digest
    bool fast;
    struct mem_entry mem[MEM_ENTRIES];
    uint64_t tick;
    struct ke_text_cache_stats stats;
};

// --- hashing (FNV-1a, two lanes -> 128 bits) ----------------------------------------------------

struct h128 {
    uint64_t a, b;
};

static void h_init(struct h128 * h)
{
    h->a = 1469598103934665603ull;
    h->b = 0x6c62272e07bb0142ull;
}

static void h_bytes(struct h128 * h, const void * p, size_t n)
{
    const unsigned char * s = p;
    for (size_t i = 0; i < n; i++) {
        h->a = (h->a ^ s[i]) * 1099511628211ull;
        h->b = (h->b ^ s[i]) * 0x100000001b3ull + (h->b >> 29);
    }
}

static void h_hex(const struct h128 * h, char out[33])
{
    snprintf(out, 33, "%016llx%016llx", (unsigned long long) h->a, (unsigned long long) h->b);
}

// Digest: file size + mtime (regular files), every name/dtype/shape, and the first and last MiB of the
// token embedding and of the last block's FFN output weight (cheap on an 11 GB mapped file).
static void model_digest(const char * path, const struct ke_tensor_set * w, char out[33])
{
    struct h128 h;
    h_init(&h);
    h_bytes(&h, "kinora-umt5-1", 13);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
        int64_t v[2] = { (int64_t) sb.st_size, (int64_t) sb.st_mtime };
        h_bytes(&h, v, sizeof(v));
    }
    for (int i = 0; i < ke_tset_count(w); i++) {
        const struct ke_tensor * t = ke_tset_at(w, i);
        h_bytes(&h, t->name, strlen(t->name) + 1);
        h_bytes(&h, &t->type, sizeof(t->type));
        h_bytes(&h, t->ne, sizeof(t->ne));
        h_bytes(&h, &t->scale, sizeof(t->scale));
    }
    const char * probe[2] = { "token_embedding.weight", "norm.weight" };
    for (int i = 0; i < 2; i++) {
        const struct ke_tensor * t = ke_tset_get(w, probe[i]);
        if (!t) {
            continue;
        }
        size_t nb = ke_tensor_nbytes(t);
        size_t k = nb < HASH_MIB ? nb : HASH_MIB;
        h_bytes(&h, t->data, k);
        h_bytes(&h, (const char *) t->data + nb - k, k);
    }
    h_hex(&h, out);
}

static void entry_key(const ke_text_encoder_t * e, const int32_t * ids, int n, char out[33])
{
    struct h128 h;
    h_init(&h);
    h_bytes(&h, e->digest, strlen(e->digest));
    h_bytes(&h, e->fast ? "bf16" : "fp32", 4);
    h_bytes(&h, &n, sizeof(n));
    h_bytes(&h, ids, (size_t) n * sizeof(int32_t));
    h_hex(&h, out);
}

// --- open / free ----------------------------------------------------------------------------------

enum ke_status ke_text_encoder_open(ke_text_encoder_t ** out, const char * weights, const char * backend, bool fast,
                                    struct ke_error * err)
{
    *out = NULL;
    struct ke_backend * be = ke_backend_by_name(backend ? backend : "cpu", err);
    if (!be) {
        return err ? err->code : KE_STATUS_UNSUPPORTED;
    }
    if (fast && be == ke_backend_cpu()) {
        be = ke_backend_cpu_fast();
    }
    ke_text_encoder_t * e = calloc(1, sizeof(*e));
    if (!e) {
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    e->fast = fast;
    enum ke_status st;
    if ((st = ke_weights_open(&e->w, weights, err)) != KE_STATUS_OK ||
        (st = ke_name_map_apply(e->w, KE_NAME_ROLE_T5, err)) != KE_STATUS_OK ||
        (st = ke_umt5_init(&e->m, e->w, be, err)) != KE_STATUS_OK) {
        ke_text_encoder_free(e);
        return st;
    }
    model_digest(weights, e->w, e->digest);
    *out = e;
    return KE_STATUS_OK;
}

enum ke_status ke_text_encoder_from_set(ke_text_encoder_t ** out, struct ke_tensor_set * w, struct ke_backend * be,
                                        bool fast, struct ke_error * err)
{
    *out = NULL;
    ke_text_encoder_t * e = calloc(1, sizeof(*e));
    if (!e) {
        ke_tset_free(w);
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    e->fast = fast;
    e->w = w;
    enum ke_status st = ke_umt5_init(&e->m, e->w, be, err);
    if (st != KE_STATUS_OK) {
        ke_text_encoder_free(e);
        return st;
    }
    model_digest("", e->w, e->digest);
    *out = e;
    return KE_STATUS_OK;
}

void ke_text_encoder_free(ke_text_encoder_t * e)
{
    if (!e) {
        return;
    }
    for (int i = 0; i < MEM_ENTRIES; i++) {
        free(e->mem[i].hidden);
    }
    ke_umt5_free(e->m);
    ke_tset_free(e->w);
    free(e);
}

int ke_text_encoder_dim(const ke_text_encoder_t * e)
{
    return (int) e->m->cfg.dim;
}

const char * ke_text_encoder_digest(const ke_text_encoder_t * e)
{
    return e->digest;
}

void ke_text_encoder_stats(const ke_text_encoder_t * e, struct ke_text_cache_stats * st)
{
    *st = e->stats;
}

void ke_text_hidden_free(float * hidden)
{
    free(hidden);
}

char * ke_text_cache_default_dir(void)
{
    const char * xdg = getenv("XDG_CACHE_HOME");
    const char * home = getenv("HOME");
    char buf[4096];
    if (xdg && xdg[0] == '/') {
        snprintf(buf, sizeof(buf), "%s/kinora/text", xdg);
    } else if (home && home[0]) {
        snprintf(buf, sizeof(buf), "%s/.cache/kinora/text", home);
    } else {
        return NULL;
    }
    return strdup(buf);
}

// --- caches ---------------------------------------------------------------------------------------

static struct mem_entry * mem_find(ke_text_encoder_t * e, const char * key, int n)
{
    for (int i = 0; i < MEM_ENTRIES; i++) {
        if (e->mem[i].hidden && e->mem[i].n == n && strcmp(e->mem[i].key, key) == 0) {
            e->mem[i].used = ++e->tick;
            return &e->mem[i];
        }
    }
    return NULL;
}

static void mem_store(ke_text_encoder_t * e, const char * key, int n, const float * hidden)
{
    struct mem_entry * slot = &e->mem[0];
    for (int i = 0; i < MEM_ENTRIES; i++) {
        if (!e->mem[i].hidden) {
            slot = &e->mem[i];
            break;
        }
        if (e->mem[i].used < slot->used) {
            slot = &e->mem[i];
        }
    }
    size_t nb = (size_t) n * (size_t) e->m->cfg.dim * sizeof(float);
    float * copy = malloc(nb);
    if (!copy) {
        return;   // caching is best effort
    }
    memcpy(copy, hidden, nb);
    free(slot->hidden);
    slot->hidden = copy;
    slot->n = n;
    snprintf(slot->key, sizeof(slot->key), "%s", key);
    slot->used = ++e->tick;
}

static int mkdir_p(const char * dir)
{
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", dir) >= (int) sizeof(buf)) {
        return -1;
    }
    for (char * p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
                return -1;
            }
            *p = '/';
        }
    }
    return (mkdir(buf, 0755) < 0 && errno != EEXIST) ? -1 : 0;
}

// A cached file counts only when its key, ids and shape all match (a damaged or foreign file is a miss).
static float * disk_load(ke_text_encoder_t * e, const char * file, const char * key, const int32_t * ids, int n)
{
    if (access(file, R_OK) != 0) {
        return NULL;
    }
    struct ke_tensor_set * s = NULL;
    struct ke_error err = { 0 };
    if (ke_safetensors_open_file(&s, file, &err) != KE_STATUS_OK) {
        ke_log(1, "text cache: ignoring %s: %s", file, err.msg);
        return NULL;
    }
    float * out = NULL;
    const struct ke_tensor * h = ke_tset_get(s, "hidden");
    const struct ke_tensor * ti = ke_tset_get(s, "ids");
    const char * k = ke_tset_meta(s, "key");
    if (h && ti && k && strcmp(k, key) == 0 && h->type == KE_DTYPE_F32 && ti->type == KE_DTYPE_I32 &&
        ke_tensor_shape_is(h, 2, (int64_t[]) { n, e->m->cfg.dim }) && ke_tensor_shape_is(ti, 1, (int64_t[]) { n }) &&
        memcmp(ti->data, ids, (size_t) n * sizeof(int32_t)) == 0) {
        out = malloc(ke_tensor_nbytes(h));
        if (out) {
            memcpy(out, h->data, ke_tensor_nbytes(h));
        }
    }
    ke_tset_free(s);
    return out;
}

static void disk_store(ke_text_encoder_t * e, const char * dir, const char * file, const char * key,
                       const int32_t * ids, int n, const float * hidden)
{
    if (mkdir_p(dir) < 0) {
        ke_log(1, "text cache: cannot create %s: %s", dir, strerror(errno));
        return;
    }
    struct ke_tensor th, ti;
    ke_tensor_init(&th, KE_DTYPE_F32, 2, (int64_t[]) { n, e->m->cfg.dim }, (void *) hidden);
    ke_tensor_init(&ti, KE_DTYPE_I32, 1, (int64_t[]) { n }, (void *) ids);
    th.name = "hidden";
    ti.name = "ids";
    const struct ke_tensor * ts[2] = { &th, &ti };
    const char * meta[4] = { "key", key, "model_digest", e->digest };
    struct ke_error err = { 0 };
    if (ke_safetensors_write(file, ts, 2, meta, 2, &err) != KE_STATUS_OK) {
        ke_log(1, "text cache: %s", err.msg);
    }
}

enum ke_status ke_text_encode(ke_text_encoder_t * e, const int32_t * ids, int n, const char * cache_dir,
                              float ** hidden, struct ke_error * err)
{
    *hidden = NULL;
    if (n <= 0) {
        return ke_err(err, KE_STATUS_INVALID, "text encoder: %d tokens (need at least one)", n);
    }
    const size_t nb = (size_t) n * (size_t) e->m->cfg.dim * sizeof(float);
    char key[33];
    entry_key(e, ids, n, key);
    struct mem_entry * me = mem_find(e, key, n);
    if (me) {
        float * out = malloc(nb);
        if (!out) {
            return ke_err(err, KE_STATUS_NOMEM, "out of memory");
        }
        memcpy(out, me->hidden, nb);
        e->stats.mem_hits++;
        *hidden = out;
        return KE_STATUS_OK;
    }
    char file[4200] = "";
    if (cache_dir && cache_dir[0]) {
        snprintf(file, sizeof(file), "%s/%s.safetensors", cache_dir, key);
        float * out = disk_load(e, file, key, ids, n);
        if (out) {
            e->stats.disk_hits++;
            mem_store(e, key, n, out);
            *hidden = out;
            return KE_STATUS_OK;
        }
    }
    int64_t * ids64 = malloc((size_t) n * sizeof(int64_t));
    float * out = malloc(nb);
    if (!ids64 || !out) {
        free(ids64);
        free(out);
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        ids64[i] = ids[i];
    }
    // only the real tokens: the rows equal the padded run's first n rows (keys past n are masked there)
    enum ke_status st = ke_umt5_encode(e->m, out, ids64, NULL, n, NULL, err);
    free(ids64);
    if (st != KE_STATUS_OK) {
        free(out);
        return st;
    }
    e->stats.misses++;
    mem_store(e, key, n, out);
    if (file[0]) {
        disk_store(e, cache_dir, file, key, ids, n, out);
    }
    *hidden = out;
    return KE_STATUS_OK;
}

enum ke_status ke_text_encode_prompt(ke_text_encoder_t * e, const ke_tokenizer_t * tok, const char * prompt,
                                     const char * cache_dir, float ** hidden, int * n_rows, struct ke_error * err)
{
    *hidden = NULL;
    *n_rows = 0;
    int32_t ids[512];
    int n = 0;
    enum ke_status st = ke_tokenizer_encode(tok, prompt ? prompt : "", ids, 512, &n, KE_TOKENIZE_PROMPT, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    st = ke_text_encode(e, ids, n, cache_dir, hidden, err);
    if (st == KE_STATUS_OK) {
        *n_rows = n;
    }
    return st;
}

const struct ke_tensor_set * ke_text_encoder_weights(const ke_text_encoder_t * enc)
{
    return enc ? enc->w : NULL;
}

const struct ke_umt5 * ke_text_encoder_model(const ke_text_encoder_t * enc)
{
    return enc ? enc->m : NULL;
}
