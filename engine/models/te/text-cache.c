// Kinora engine: the text encoder behind ke.h (UMT5 over any supported weight file) with a prompt-embedding
// cache: in memory, and on disk as <dir>/<key>.safetensors, keyed by (model digest, precision, token ids),
// so a run that changes only seed, steps or guidance skips the encoder. A job on a device backend encodes
// there (ke_text_encode_on): the encoder is made on the device on the first cache miss and freed after.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/backend.h"
#include "core/clock.h"
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
    struct ke_umt5 * dev;   // the encoder made on a job's device backend (ke_text_encode_on), or NULL
    size_t dev_budget;      // the budget it was planned within (bytes; 0: the backend's default)
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

static bool on_cpu(const struct ke_backend * be)
{
    return be == ke_backend_cpu() || be == ke_backend_cpu_fast();
}

// The key of an embedding computed by the model on `be`: a device's result has its own (its GEMMs round
// otherwise), so a CPU run never reads one and stays the same whatever ran before.
static void entry_key(const ke_text_encoder_t * e, const struct ke_backend * be, const int32_t * ids, int n,
                      char out[33])
{
    struct h128 h;
    h_init(&h);
    h_bytes(&h, e->digest, strlen(e->digest));
    h_bytes(&h, e->fast ? "bf16" : "fp32", 4);
    if (!on_cpu(be)) {
        h_bytes(&h, "@", 1);
        h_bytes(&h, be->ops->name, strlen(be->ops->name));
    }
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
    ke_text_encoder_release(e);
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

// The caches (memory, then the folder) for one key: a copy of the rows, or NULL on a miss.
static float * cache_get(ke_text_encoder_t * e, const char * key, const int32_t * ids, int n, const char * cache_dir,
                         size_t nb, struct ke_error * err, enum ke_status * st)
{
    *st = KE_STATUS_OK;
    struct mem_entry * me = mem_find(e, key, n);
    if (me) {
        float * out = malloc(nb);
        if (!out) {
            *st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
            return NULL;
        }
        memcpy(out, me->hidden, nb);
        e->stats.mem_hits++;
        return out;
    }
    if (cache_dir && cache_dir[0]) {
        char file[4200];
        snprintf(file, sizeof(file), "%s/%s.safetensors", cache_dir, key);
        float * out = disk_load(e, file, key, ids, n);
        if (out) {
            e->stats.disk_hits++;
            mem_store(e, key, n, out);
            return out;
        }
    }
    return NULL;
}

#define GIB 1073741824.0
// Tokens the device encoder plans its activations for: the longest prompt a pipeline encodes (Wan's
// text_len 512; LTX-Video's 256), so the negative prompt reuses the prompt's workspace.
#define DEVICE_PLAN_TOKENS 512

// The encoder on a device backend, made on first use within what the budget leaves; NULL (logged, the
// backend's failure record cleared) when it cannot run there.
static struct ke_umt5 * device_model(ke_text_encoder_t * e, struct ke_backend * be, size_t budget, int n, int n_seq)
{
    if (e->dev && e->dev->be == be && e->dev_budget == budget) {
        return e->dev;
    }
    ke_text_encoder_release(e);
    struct ke_umt5_mem_plan plan = { .weight_cap = SIZE_MAX, .fits = true };
    size_t b = 0, in_use = 0, peak = 0;
    if (be->ops->set_memory && be->ops->memory) {
        ke_be_set_memory(be, budget, SIZE_MAX);
        be->ops->memory(be, &b, &in_use, &peak);
        const size_t avail = b > in_use ? b - in_use : 0;
        ke_umt5_plan_memory(&e->m->cfg, e->w, n > DEVICE_PLAN_TOKENS ? n : DEVICE_PLAN_TOKENS, n_seq, avail, &plan);
        if (!plan.fits) {
            ke_log(1, "text encoder: T5 on the %s backend needs %.2f GiB even with its layers streamed (activations "
                   "%.2f GiB, two layers %.2f GiB); %.2f GiB of the %.2f GiB device budget are free: it runs on the CPU",
                   be->ops->name, (double) (plan.activations + 2 * plan.layer) / GIB, (double) plan.activations / GIB,
                   (double) (2 * plan.layer) / GIB, (double) avail / GIB, (double) b / GIB);
            return NULL;
        }
        if (plan.streams) {
            ke_log(1, "text encoder: the T5 weights (%.2f GiB) do not fit the %.2f GiB free of the device budget: "
                   "%.2f GiB stay resident, the rest streams from host memory layer by layer",
                   (double) plan.weights / GIB, (double) avail / GIB, (double) plan.weight_cap / GIB);
            ke_be_set_memory(be, budget, plan.weight_cap);
        }
    }
    struct ke_umt5 * m = NULL;
    struct ke_error ierr = { 0 };
    // resident: the layers are made on a second thread while the first prompt encodes (umt5.c);
    // KINORA_T5_MADE_AHEAD=0 makes them all first (for comparison)
    const char * ahead_env = getenv("KINORA_T5_MADE_AHEAD");
    const bool ahead = !plan.streams && !(ahead_env && strcmp(ahead_env, "0") == 0);
    enum ke_status st = ahead ? ke_umt5_init_ahead(&m, e->w, be, &ierr) : ke_umt5_init(&m, e->w, be, &ierr);
    if (st == KE_STATUS_OK) {
        st = ke_be_status(be, &ierr);
    } else {
        ke_be_status(be, NULL);   // a prepare's recorded failure: the message is in ierr already
    }
    if (st != KE_STATUS_OK) {
        ke_umt5_free(m);
        ke_be_set_memory(be, budget, SIZE_MAX);
        ke_log(1, "text encoder: T5 cannot run on the %s backend (%s): it runs on the CPU", be->ops->name, ierr.msg);
        return NULL;
    }
    ke_log(2, "text encoder: T5 on the %s backend, %.2f GiB of weights %s", be->ops->name,
           (double) plan.weights / GIB, plan.streams ? "partly streamed" : "resident");
    e->dev = m;
    e->dev_budget = budget;
    return m;
}

void ke_text_encoder_release(ke_text_encoder_t * e)
{
    if (!e || !e->dev) {
        return;
    }
    struct ke_backend * be = e->dev->be;
    ke_umt5_free(e->dev);
    e->dev = NULL;
    // the weight cap of a streamed encoder must not bind what is prepared next
    ke_be_set_memory(be, e->dev_budget, SIZE_MAX);
}

struct ke_backend * ke_text_encoder_device(const ke_text_encoder_t * e)
{
    return e && e->dev ? e->dev->be : NULL;
}

// Encode count sequences together on m (the ids widened), into out[i] (n[i] rows).
static enum ke_status run_model(struct ke_umt5 * m, int count, float * const * out, const int32_t * const * ids,
                                const int * n, struct ke_error * err)
{
    int64_t * ids64[KE_UMT5_MAX_SEQ] = { 0 };
    int64_t L[KE_UMT5_MAX_SEQ];
    enum ke_status st = KE_STATUS_OK;
    for (int s = 0; s < count && st == KE_STATUS_OK; s++) {
        L[s] = n[s];
        if (!(ids64[s] = malloc((size_t) n[s] * sizeof(int64_t)))) {
            st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
            break;
        }
        for (int i = 0; i < n[s]; i++) {
            ids64[s][i] = ids[s][i];
        }
    }
    // only the real tokens: the rows equal the padded run's first n rows (keys past n are masked there)
    if (st == KE_STATUS_OK) {
        st = ke_umt5_encode_many(m, count, out, (const int64_t * const *) ids64, L, err);
    }
    for (int s = 0; s < count; s++) {
        free(ids64[s]);
    }
    return st;
}

// The misses of one call on m: together (ke_umt5_encode_many), or one after the other with
// KINORA_T5_TOGETHER=0 (for comparison).
static enum ke_status run_misses(struct ke_umt5 * m, int count, float * const * out, const int32_t * const * ids,
                                 const int * n, struct ke_error * err)
{
    const char * env = getenv("KINORA_T5_TOGETHER");
    if (count == 1 || !(env && strcmp(env, "0") == 0)) {
        return run_model(m, count, out, ids, n, err);
    }
    enum ke_status st = KE_STATUS_OK;
    for (int s = 0; s < count && st == KE_STATUS_OK; s++) {
        st = run_model(m, 1, &out[s], &ids[s], &n[s], err);
    }
    return st;
}

enum ke_status ke_text_encode_on(ke_text_encoder_t * e, struct ke_backend * be, size_t budget, const int32_t * ids,
                                 int n, const char * cache_dir, float ** hidden, struct ke_error * err)
{
    return ke_text_encode_many_on(e, be, budget, 1, &ids, &n, cache_dir, hidden, err);
}

enum ke_status ke_text_encode_many_on(ke_text_encoder_t * e, struct ke_backend * be, size_t budget, int count,
                                      const int32_t * const * ids, const int * n, const char * cache_dir,
                                      float ** hidden, struct ke_error * err)
{
    if (count < 1 || count > KE_UMT5_MAX_SEQ) {
        return ke_err(err, KE_STATUS_INVALID, "text encoder: %d prompts at once (expected 1..%d)", count,
                      KE_UMT5_MAX_SEQ);
    }
    for (int i = 0; i < count; i++) {
        hidden[i] = NULL;
    }
    for (int i = 0; i < count; i++) {
        if (n[i] <= 0) {
            return ke_err(err, KE_STATUS_INVALID, "text encoder: %d tokens (need at least one)", n[i]);
        }
    }
    // a device other than the one the encoder was opened on (a CPU job uses that one as it is)
    struct ke_backend * dev = be && !on_cpu(be) && be != e->m->be ? be : NULL;
    const size_t row = (size_t) e->m->cfg.dim * sizeof(float);
    char key[KE_UMT5_MAX_SEQ][33], key_dev[KE_UMT5_MAX_SEQ][33];
    int miss[KE_UMT5_MAX_SEQ], same[KE_UMT5_MAX_SEQ], n_miss = 0;
    enum ke_status st = KE_STATUS_OK;
    for (int i = 0; i < count && st == KE_STATUS_OK; i++) {
        same[i] = -1;
        entry_key(e, e->m->be, ids[i], n[i], key[i]);
        if (dev) {
            // the device's own result first, then the CPU's (as good, and no device work at all)
            entry_key(e, dev, ids[i], n[i], key_dev[i]);
            hidden[i] = cache_get(e, key_dev[i], ids[i], n[i], cache_dir, (size_t) n[i] * row, err, &st);
        }
        if (!hidden[i] && st == KE_STATUS_OK) {
            hidden[i] = cache_get(e, key[i], ids[i], n[i], cache_dir, (size_t) n[i] * row, err, &st);
        }
        if (hidden[i] || st != KE_STATUS_OK) {
            continue;
        }
        // the same tokens as a prompt encoded in this call: its rows, once
        for (int j = 0; j < n_miss && same[i] < 0; j++) {
            const int o = miss[j];
            if (n[o] == n[i] && memcmp(ids[o], ids[i], (size_t) n[i] * sizeof(int32_t)) == 0) {
                same[i] = o;
            }
        }
        if (same[i] < 0) {
            miss[n_miss++] = i;
        }
        if (!(hidden[i] = malloc((size_t) n[i] * row))) {
            st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
        }
    }
    float * out[KE_UMT5_MAX_SEQ];
    const int32_t * mids[KE_UMT5_MAX_SEQ];
    int mn[KE_UMT5_MAX_SEQ], n_max = 0;
    for (int j = 0; j < n_miss; j++) {
        out[j] = hidden[miss[j]];
        mids[j] = ids[miss[j]];
        mn[j] = n[miss[j]];
        n_max = mn[j] > n_max ? mn[j] : n_max;
    }
    struct ke_umt5 * m = NULL;
    if (st == KE_STATUS_OK && n_miss > 0) {
        const double t0 = ke_now();
        m = dev ? device_model(e, dev, budget, n_max, n_miss) : NULL;
        const double t1 = ke_now();
        if (m) {
            struct ke_error derr = { 0 };
            st = run_misses(m, n_miss, out, mids, mn, &derr);
            // (made ahead, the first encode includes the wait for its layers: umt5.c logs how long)
            if (n_miss == 2) {
                ke_log(2, "text encoder: %d and %d tokens together on the %s backend: encoder ready in %.3f s, "
                       "encoded in %.3f s", mn[0], mn[1], dev->ops->name, t1 - t0, ke_now() - t1);
            } else {
                ke_log(2, "text encoder: %d tokens on the %s backend: encoder ready in %.3f s, encoded in %.3f s",
                       mn[0], dev->ops->name, t1 - t0, ke_now() - t1);
            }
            if (st == KE_STATUS_NOMEM || (st != KE_STATUS_OK && m->make_failed)) {
                ke_log(1, "text encoder: T5 on the %s backend: %s: it runs on the CPU", dev->ops->name, derr.msg);
                ke_text_encoder_release(e);
                m = NULL;
                st = KE_STATUS_OK;
            } else if (st != KE_STATUS_OK) {
                ke_err(err, st, "%s", derr.msg);
            } else {
                e->stats.device_misses += n_miss;
            }
        }
        if (!m && st == KE_STATUS_OK) {
            st = run_misses(e->m, n_miss, out, mids, mn, err);
        }
    }
    if (st != KE_STATUS_OK) {
        for (int i = 0; i < count; i++) {
            free(hidden[i]);
            hidden[i] = NULL;
        }
        return st;
    }
    for (int j = 0; j < n_miss; j++) {
        const int i = miss[j];
        const char * k = m ? key_dev[i] : key[i];
        e->stats.misses++;
        mem_store(e, k, n[i], hidden[i]);
        if (cache_dir && cache_dir[0]) {
            char file[4200];
            snprintf(file, sizeof(file), "%s/%s.safetensors", cache_dir, k);
            disk_store(e, cache_dir, file, k, ids[i], n[i], hidden[i]);
        }
    }
    for (int i = 0; i < count; i++) {
        if (same[i] >= 0) {
            memcpy(hidden[i], hidden[same[i]], (size_t) n[i] * row);
            e->stats.mem_hits++;   // as a second call would have found it
        }
    }
    return KE_STATUS_OK;
}

enum ke_status ke_text_encode(ke_text_encoder_t * e, const int32_t * ids, int n, const char * cache_dir,
                              float ** hidden, struct ke_error * err)
{
    return ke_text_encode_on(e, NULL, 0, ids, n, cache_dir, hidden, err);
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
