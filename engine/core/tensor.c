// Kinora engine tensor core: dtype helpers, conversions and named tensor sets.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "error.h"
#include "pages.h"
#include "tensor.h"

static const struct {
    const char * name;
    size_t size;
    int64_t block;
} g_dtypes[KE_DTYPE_COUNT] = {
    [KE_DTYPE_F32]     = { "F32", 4, 1 },
    [KE_DTYPE_F16]     = { "F16", 2, 1 },
    [KE_DTYPE_BF16]    = { "BF16", 2, 1 },
    [KE_DTYPE_F8_E4M3] = { "F8_E4M3", 1, 1 },
    [KE_DTYPE_F64]     = { "F64", 8, 1 },
    [KE_DTYPE_I64]     = { "I64", 8, 1 },
    [KE_DTYPE_I32]     = { "I32", 4, 1 },
    [KE_DTYPE_U8]      = { "U8", 1, 1 },
    [KE_DTYPE_BOOL]    = { "BOOL", 1, 1 },
    // ggml's block sizes (ggml-common.h): 32 values per legacy block, 256 per K super-block
    [KE_DTYPE_Q8_0]    = { "Q8_0", 34, 32 },
    [KE_DTYPE_Q4_0]    = { "Q4_0", 18, 32 },
    [KE_DTYPE_Q4_1]    = { "Q4_1", 20, 32 },
    [KE_DTYPE_Q5_0]    = { "Q5_0", 22, 32 },
    [KE_DTYPE_Q5_1]    = { "Q5_1", 24, 32 },
    [KE_DTYPE_Q2_K]    = { "Q2_K", 84, 256 },
    [KE_DTYPE_Q3_K]    = { "Q3_K", 110, 256 },
    [KE_DTYPE_Q4_K]    = { "Q4_K", 144, 256 },
    [KE_DTYPE_Q5_K]    = { "Q5_K", 176, 256 },
    [KE_DTYPE_Q6_K]    = { "Q6_K", 210, 256 },
};

size_t ke_dtype_size(enum ke_dtype t)
{
    return (unsigned) t < KE_DTYPE_COUNT ? g_dtypes[t].size : 0;
}

int64_t ke_dtype_block(enum ke_dtype t)
{
    return (unsigned) t < KE_DTYPE_COUNT ? g_dtypes[t].block : 1;
}

size_t ke_dtype_row_bytes(enum ke_dtype t, int64_t n)
{
    return (size_t) (n / ke_dtype_block(t)) * ke_dtype_size(t);
}

const char * ke_dtype_name(enum ke_dtype t)
{
    return (unsigned) t < KE_DTYPE_COUNT ? g_dtypes[t].name : "?";
}

int ke_dtype_from_name(const char * s, enum ke_dtype * out)
{
    for (int i = 0; i < KE_DTYPE_COUNT; i++) {
        if (strcmp(s, g_dtypes[i].name) == 0) {
            *out = (enum ke_dtype) i;
            return 0;
        }
    }
    return -1;
}

void ke_tensor_init(struct ke_tensor * t, enum ke_dtype type, int n_dims, const int64_t * shape, void * data)
{
    memset(t, 0, sizeof(*t));
    t->type = type;
    t->n_dims = n_dims;
    t->scale = 1.0f;
    t->data = data;
    for (int i = 0; i < KE_MAX_DIMS; i++) {
        t->ne[i] = i < n_dims ? shape[n_dims - 1 - i] : 1;
    }
    t->nb[0] = ke_dtype_size(type);
    t->nb[1] = ke_dtype_row_bytes(type, t->ne[0]);   // a block-quantized row is ne[0]/block blocks
    for (int i = 2; i < KE_MAX_DIMS; i++) {
        t->nb[i] = t->nb[i - 1] * (size_t) t->ne[i - 1];
    }
}

int64_t ke_tensor_nelements(const struct ke_tensor * t)
{
    int64_t n = 1;
    for (int i = 0; i < KE_MAX_DIMS; i++) {
        n *= t->ne[i];
    }
    return n;
}

size_t ke_tensor_nbytes(const struct ke_tensor * t)
{
    return ke_dtype_row_bytes(t->type, ke_tensor_nelements(t));
}

bool ke_tensor_is_contiguous(const struct ke_tensor * t)
{
    size_t want = ke_dtype_size(t->type);
    for (int i = 0; i < KE_MAX_DIMS; i++) {
        if (t->ne[i] != 1 && t->nb[i] != want) {
            return false;
        }
        want = i == 0 ? ke_dtype_row_bytes(t->type, t->ne[0]) : want * (size_t) t->ne[i];
    }
    return true;
}

const char * ke_tensor_shape_str(const struct ke_tensor * t, char * buf, size_t n)
{
    size_t off = 0;
    off += (size_t) snprintf(buf + off, n - off, "[");
    for (int i = t->n_dims - 1; i >= 0 && off < n; i--) {
        off += (size_t) snprintf(buf + off, n - off, "%s%lld", i == t->n_dims - 1 ? "" : ", ", (long long) t->ne[i]);
    }
    if (off < n) {
        snprintf(buf + off, n - off, "]");
    }
    return buf;
}

bool ke_tensor_shape_is(const struct ke_tensor * t, int n_dims, const int64_t * shape)
{
    if (t->n_dims != n_dims) {
        return false;
    }
    for (int i = 0; i < n_dims; i++) {
        if (t->ne[n_dims - 1 - i] != shape[i]) {
            return false;
        }
    }
    return true;
}

// --- scalar conversions ------------------------------------------------------------------------

float ke_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t) h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t ke_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        return (uint16_t) ((u >> 16) | 0x40);   // quiet NaN
    }
    u += 0x7fffu + ((u >> 16) & 1u);             // round to nearest even
    return (uint16_t) (u >> 16);
}

float ke_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t) (h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else {
            // subnormal: renormalise
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while ((man & 0x400u) == 0);
            u = sign | ((uint32_t) (127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 112u) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t ke_f32_to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u;
    int32_t exp = (int32_t) ((u >> 23) & 0xff) - 127 + 15;
    uint32_t man = u & 0x7fffffu;
    if (((u >> 23) & 0xff) == 0xff) {
        return (uint16_t) (sign | 0x7c00u | (man ? 0x200u : 0));
    }
    if (exp >= 31) {
        return (uint16_t) (sign | 0x7c00u);
    }
    if (exp <= 0) {
        if (exp < -10) {
            return (uint16_t) sign;
        }
        man |= 0x800000u;
        uint32_t shift = (uint32_t) (14 - exp);
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) {
            half++;
        }
        return (uint16_t) (sign | half);
    }
    uint32_t h = sign | ((uint32_t) exp << 10) | (man >> 13);
    uint32_t rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) {
        h++;
    }
    return (uint16_t) h;
}

float ke_f8e4m3_to_f32(uint8_t v)
{
    // float8_e4m3fn: 1 sign, 4 exponent (bias 7), 3 mantissa; no infinities, 0x7f/0xff are NaN.
    uint32_t sign = v >> 7;
    uint32_t exp = (v >> 3) & 0xf;
    uint32_t man = v & 0x7;
    float r;
    if (exp == 0xf && man == 0x7) {
        r = NAN;
    } else if (exp == 0) {
        r = ldexpf((float) man, -9);  // subnormal: man/8 * 2^-6
    } else {
        r = ldexpf(1.0f + (float) man / 8.0f, (int) exp - 7);
    }
    return sign ? -r : r;
}

uint8_t ke_f32_to_f8e4m3(float v)
{
    // bisection over the positive codes (their values rise with the code); ties go to the smaller one
    const float a = fabsf(v);
    int lo = 0, hi = 0x7e;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (ke_f8e4m3_to_f32((uint8_t) mid) <= a) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    if (lo < 0x7e && a - ke_f8e4m3_to_f32((uint8_t) lo) > ke_f8e4m3_to_f32((uint8_t) (lo + 1)) - a) {
        lo++;
    }
    return (uint8_t) (lo | (v < 0 ? 0x80 : 0));
}

void ke_convert_to_f32(float * dst, const void * src, enum ke_dtype type, float scale, size_t n)
{
    switch (type) {
    case KE_DTYPE_F32:
        memcpy(dst, src, n * 4);
        break;
    case KE_DTYPE_F16: {
        const uint16_t * s = src;
        for (size_t i = 0; i < n; i++) {
            dst[i] = ke_f16_to_f32(s[i]);
        }
        break;
    }
    case KE_DTYPE_BF16: {
        const uint16_t * s = src;
        uint32_t * d = (uint32_t *) dst;
        for (size_t i = 0; i < n; i++) {
            d[i] = (uint32_t) s[i] << 16;
        }
        break;
    }
    case KE_DTYPE_F8_E4M3: {
        const uint8_t * s = src;
        float lut[256];
        for (int i = 0; i < 256; i++) {
            lut[i] = ke_f8e4m3_to_f32((uint8_t) i) * scale;
        }
        for (size_t i = 0; i < n; i++) {
            dst[i] = lut[s[i]];
        }
        return;
    }
    case KE_DTYPE_F64: {
        const unsigned char * s = src;   // any byte alignment, as I64
        for (size_t i = 0; i < n; i++) {
            double v;
            memcpy(&v, s + i * sizeof(v), sizeof(v));
            dst[i] = (float) v;
        }
        break;
    }
    case KE_DTYPE_I64: {
        // file data need not be 8-byte aligned (safetensors offsets are any byte): load through memcpy
        const unsigned char * s = src;
        for (size_t i = 0; i < n; i++) {
            int64_t v;
            memcpy(&v, s + i * sizeof(v), sizeof(v));
            dst[i] = (float) v;
        }
        break;
    }
    case KE_DTYPE_I32: {
        const unsigned char * s = src;   // any byte alignment, as I64
        for (size_t i = 0; i < n; i++) {
            int32_t v;
            memcpy(&v, s + i * sizeof(v), sizeof(v));
            dst[i] = (float) v;
        }
        break;
    }
    case KE_DTYPE_U8:
    case KE_DTYPE_BOOL: {
        const uint8_t * s = src;
        for (size_t i = 0; i < n; i++) {
            dst[i] = (float) s[i];
        }
        break;
    }
    case KE_DTYPE_Q8_0:
    case KE_DTYPE_Q4_0:
    case KE_DTYPE_Q4_1:
    case KE_DTYPE_Q5_0:
    case KE_DTYPE_Q5_1:
    case KE_DTYPE_Q2_K:
    case KE_DTYPE_Q3_K:
    case KE_DTYPE_Q4_K:
    case KE_DTYPE_Q5_K:
    case KE_DTYPE_Q6_K:
        ke_dequant_row_f32(type, src, dst, (int64_t) n);
        break;
    case KE_DTYPE_COUNT:
        break;
    }
    if (scale != 1.0f) {
        for (size_t i = 0; i < n; i++) {
            dst[i] *= scale;
        }
    }
}

float * ke_tensor_to_f32_alloc(const struct ke_tensor * t)
{
    size_t n = (size_t) ke_tensor_nelements(t);
    float * p = malloc((n ? n : 1) * sizeof(float));
    if (p) {
        ke_convert_to_f32(p, t->data, t->type, t->scale, n);
    }
    return p;
}

// --- tensor sets -------------------------------------------------------------------------------

struct ke_owned {
    void * addr;
    size_t len;     // 0: malloc'd
};

struct ke_meta {
    char * key;
    char * value;
};

struct ke_tensor_set {
    char * path;
    struct ke_tensor * tensors;
    char ** names;
    int n, cap;
    int names_cap;      // allocated entries of names (kept equal to cap)
    // open-addressing hash of names -> index + 1
    int * hash;
    int hash_cap;
    struct ke_owned * owned;
    int n_owned, cap_owned;
    struct ke_meta * meta;
    int n_meta, cap_meta;
};

static uint64_t hash_str(const char * s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h = (h ^ (uint8_t) *s) * 1099511628211ull;
    }
    return h;
}

static int grow(void ** p, int * cap, int need, size_t elem)
{
    if (need <= *cap) {
        return 0;
    }
    int nc = *cap ? *cap * 2 : 16;
    while (nc < need) {
        nc *= 2;
    }
    void * q = realloc(*p, (size_t) nc * elem);
    if (!q) {
        return -1;
    }
    *p = q;
    *cap = nc;
    return 0;
}

static int rehash(struct ke_tensor_set * s)
{
    int cap = s->hash_cap ? s->hash_cap * 2 : 64;
    while (cap < s->n * 2 + 2) {
        cap *= 2;
    }
    int * h = calloc((size_t) cap, sizeof(int));
    if (!h) {
        return -1;
    }
    for (int i = 0; i < s->n; i++) {
        uint64_t k = hash_str(s->names[i]) & (uint64_t) (cap - 1);
        while (h[k]) {
            k = (k + 1) & (uint64_t) (cap - 1);
        }
        h[k] = i + 1;
    }
    free(s->hash);
    s->hash = h;
    s->hash_cap = cap;
    return 0;
}

struct ke_tensor_set * ke_tset_new(const char * source_path)
{
    struct ke_tensor_set * s = calloc(1, sizeof(*s));
    if (!s) {
        return NULL;
    }
    s->path = strdup(source_path ? source_path : "(memory)");
    if (!s->path) {
        free(s);
        return NULL;
    }
    return s;
}

void ke_tset_free(struct ke_tensor_set * s)
{
    if (!s) {
        return;
    }
    for (int i = 0; i < s->n_owned; i++) {
        if (s->owned[i].len) {
            ke_pages_unregister(s->owned[i].addr);
            munmap(s->owned[i].addr, s->owned[i].len);
        } else {
            free(s->owned[i].addr);
        }
    }
    for (int i = 0; i < s->n; i++) {
        free(s->names[i]);
    }
    for (int i = 0; i < s->n_meta; i++) {
        free(s->meta[i].key);
        free(s->meta[i].value);
    }
    free(s->meta);
    free(s->owned);
    free(s->names);
    free(s->tensors);
    free(s->hash);
    free(s->path);
    free(s);
}

const char * ke_tset_path(const struct ke_tensor_set * s)
{
    return s->path;
}

struct ke_tensor * ke_tset_get(const struct ke_tensor_set * s, const char * name)
{
    if (!s || !s->hash_cap) {
        return NULL;
    }
    uint64_t k = hash_str(name) & (uint64_t) (s->hash_cap - 1);
    while (s->hash[k]) {
        int i = s->hash[k] - 1;
        if (strcmp(s->names[i], name) == 0) {
            return &s->tensors[i];
        }
        k = (k + 1) & (uint64_t) (s->hash_cap - 1);
    }
    return NULL;
}

struct ke_tensor * ke_tset_add(struct ke_tensor_set * s, const char * name, enum ke_dtype type,
                               int n_dims, const int64_t * shape, void * data, struct ke_error * err)
{
    if (n_dims < 0 || n_dims > KE_MAX_DIMS) {
        ke_err(err, KE_STATUS_UNSUPPORTED, "%s: tensor '%s' has %d dimensions (at most %d supported)",
               s->path, name, n_dims, KE_MAX_DIMS);
        return NULL;
    }
    if (ke_tset_get(s, name)) {
        ke_err(err, KE_STATUS_FORMAT, "%s: tensor '%s' appears twice", s->path, name);
        return NULL;
    }
    if (grow((void **) &s->tensors, &s->cap, s->n + 1, sizeof(*s->tensors)) < 0) {
        ke_err(err, KE_STATUS_NOMEM, "%s: out of memory adding tensor '%s'", s->path, name);
        return NULL;
    }
    // the names array follows the tensors' capacity, reallocated only when that grew (a realloc per
    // add copied the whole array under allocators that never resize in place, ASan's: quadratic)
    char ** nn = s->names;
    if (s->names_cap != s->cap) {
        nn = realloc(s->names, (size_t) s->cap * sizeof(char *));
        if (nn) {
            s->names = nn;
            s->names_cap = s->cap;
        }
    }
    char * nm = strdup(name);
    if (!nn || !nm) {
        free(nm);
        ke_err(err, KE_STATUS_NOMEM, "%s: out of memory adding tensor '%s'", s->path, name);
        return NULL;
    }
    s->names = nn;
    struct ke_tensor * t = &s->tensors[s->n];
    ke_tensor_init(t, type, n_dims, shape, data);
    s->names[s->n] = nm;
    t->name = nm;   // the name string itself never moves when the arrays grow
    s->n++;
    if (s->n * 2 + 2 > s->hash_cap) {
        if (rehash(s) < 0) {
            ke_err(err, KE_STATUS_NOMEM, "%s: out of memory indexing tensors", s->path);
            return NULL;
        }
    } else {
        uint64_t k = hash_str(nm) & (uint64_t) (s->hash_cap - 1);
        while (s->hash[k]) {
            k = (k + 1) & (uint64_t) (s->hash_cap - 1);
        }
        s->hash[k] = s->n;
    }
    return &s->tensors[s->n - 1];
}

static int own(struct ke_tensor_set * s, void * addr, size_t len)
{
    if (grow((void **) &s->owned, &s->cap_owned, s->n_owned + 1, sizeof(*s->owned)) < 0) {
        return -1;
    }
    s->owned[s->n_owned].addr = addr;
    s->owned[s->n_owned].len = len;
    s->n_owned++;
    return 0;
}

int ke_tset_own_malloc(struct ke_tensor_set * s, void * p)
{
    return own(s, p, 0);
}

int ke_tset_own_mmap(struct ke_tensor_set * s, void * addr, size_t len)
{
    if (own(s, addr, len ? len : 1) < 0) {
        return -1;
    }
    ke_pages_register(addr, len ? len : 1);
    return 0;
}

size_t ke_tset_release_pages(const struct ke_tensor_set * s)
{
    size_t n = 0;
    for (int i = 0; s && i < s->n_owned; i++) {
        if (s->owned[i].len) {
            n += ke_pages_release(s->owned[i].addr, s->owned[i].len);
        }
    }
    return n;
}

int ke_tset_set_meta(struct ke_tensor_set * s, const char * key, const char * value)
{
    for (int i = 0; i < s->n_meta; i++) {
        if (strcmp(s->meta[i].key, key) == 0) {
            char * v = strdup(value);
            if (!v) {
                return -1;
            }
            free(s->meta[i].value);
            s->meta[i].value = v;
            return 0;
        }
    }
    if (grow((void **) &s->meta, &s->cap_meta, s->n_meta + 1, sizeof(*s->meta)) < 0) {
        return -1;
    }
    char * k = strdup(key);
    char * v = strdup(value);
    if (!k || !v) {
        free(k);
        free(v);
        return -1;
    }
    s->meta[s->n_meta].key = k;
    s->meta[s->n_meta].value = v;
    s->n_meta++;
    return 0;
}

const char * ke_tset_meta(const struct ke_tensor_set * s, const char * key)
{
    for (int i = 0; s && i < s->n_meta; i++) {
        if (strcmp(s->meta[i].key, key) == 0) {
            return s->meta[i].value;
        }
    }
    return NULL;
}

int ke_tset_count(const struct ke_tensor_set * s)
{
    return s ? s->n : 0;
}

struct ke_tensor * ke_tset_at(const struct ke_tensor_set * s, int i)
{
    return (i >= 0 && i < s->n) ? &s->tensors[i] : NULL;
}

void ke_tset_strip_prefix(struct ke_tensor_set * s, const char * prefix)
{
    size_t pl = strlen(prefix);
    int changed = 0;
    for (int i = 0; i < s->n; i++) {
        if (strncmp(s->names[i], prefix, pl) == 0) {
            memmove(s->names[i], s->names[i] + pl, strlen(s->names[i]) - pl + 1);
            changed = 1;
        }
    }
    if (changed) {
        rehash(s);
    }
}

enum ke_status ke_tset_rename(struct ke_tensor_set * s, const char * from, const char * to, struct ke_error * err)
{
    struct ke_tensor * t = ke_tset_get(s, from);
    if (!t) {
        return ke_err(err, KE_STATUS_MISSING, "%s: cannot rename missing tensor '%s'", s->path, from);
    }
    if (ke_tset_get(s, to)) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: renaming '%s' to '%s', which already exists", s->path, from, to);
    }
    int i = (int) (t - s->tensors);
    char * nm = strdup(to);
    if (!nm) {
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory renaming '%s'", s->path, from);
    }
    // Take the old name out of the open-addressing table and put the new one in: O(1), so that a
    // loader renaming every tensor stays linear (a full re-index per call made 200k tensors quadratic).
    const uint64_t mask = (uint64_t) (s->hash_cap - 1);
    uint64_t k = hash_str(s->names[i]) & mask;
    while (s->hash[k] != i + 1) {
        k = (k + 1) & mask;
    }
    s->hash[k] = 0;
    // backward-shift deletion: move later entries of the probe run into the hole when they may live there
    for (uint64_t j = (k + 1) & mask; s->hash[j]; j = (j + 1) & mask) {
        uint64_t home = hash_str(s->names[s->hash[j] - 1]) & mask;
        if (((j - home) & mask) >= ((j - k) & mask)) {
            s->hash[k] = s->hash[j];
            s->hash[j] = 0;
            k = j;
        }
    }
    free(s->names[i]);
    s->names[i] = nm;
    t->name = nm;
    k = hash_str(nm) & mask;
    while (s->hash[k]) {
        k = (k + 1) & mask;
    }
    s->hash[k] = i + 1;
    return KE_STATUS_OK;
}

int ke_tset_merge(struct ke_tensor_set * dst, struct ke_tensor_set * src, struct ke_error * err)
{
    for (int i = 0; i < src->n; i++) {
        struct ke_tensor * t = &src->tensors[i];
        int64_t shape[KE_MAX_DIMS];
        for (int d = 0; d < t->n_dims; d++) {
            shape[d] = t->ne[t->n_dims - 1 - d];
        }
        struct ke_tensor * nt = ke_tset_add(dst, src->names[i], t->type, t->n_dims, shape, t->data, err);
        if (!nt) {
            ke_tset_free(src);
            return err ? err->code : KE_STATUS_ERROR;
        }
        nt->scale = t->scale;
    }
    for (int i = 0; i < src->n_owned; i++) {
        if (own(dst, src->owned[i].addr, src->owned[i].len) < 0) {
            ke_tset_free(src);
            return ke_err(err, KE_STATUS_NOMEM, "out of memory merging tensor sets");
        }
    }
    src->n_owned = 0;
    for (int i = 0; i < src->n_meta; i++) {
        if (!ke_tset_meta(dst, src->meta[i].key) && ke_tset_set_meta(dst, src->meta[i].key, src->meta[i].value) < 0) {
            ke_tset_free(src);
            return ke_err(err, KE_STATUS_NOMEM, "out of memory merging tensor sets (metadata)");
        }
    }
    ke_tset_free(src);
    return KE_STATUS_OK;
}

const struct ke_tensor * ke_tset_require(const struct ke_tensor_set * s, const char * name,
                                         int n_dims, const int64_t * shape, struct ke_error * err)
{
    const struct ke_tensor * t = ke_tset_get(s, name);
    if (!t) {
        ke_err(err, KE_STATUS_MISSING, "%s: missing tensor '%s'", s ? s->path : "(none)", name);
        return NULL;
    }
    if (n_dims > 0 && !ke_tensor_shape_is(t, n_dims, shape)) {
        char want[128], got[128];
        size_t off = 0;
        off += (size_t) snprintf(want + off, sizeof(want) - off, "[");
        for (int i = 0; i < n_dims && off < sizeof(want); i++) {
            off += (size_t) snprintf(want + off, sizeof(want) - off, "%s%lld", i ? ", " : "", (long long) shape[i]);
        }
        if (off < sizeof(want)) {
            snprintf(want + off, sizeof(want) - off, "]");
        }
        ke_err(err, KE_STATUS_SHAPE, "%s: tensor '%s' has shape %s, expected %s", s->path, name,
               ke_tensor_shape_str(t, got, sizeof(got)), want);
        return NULL;
    }
    return t;
}
