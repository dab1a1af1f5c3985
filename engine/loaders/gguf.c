// Kinora engine: GGUF reader (mmap, zero-copy), for weight files such as ComfyUI-GGUF's Wan2.2 DiTs.
//
// Format (ggml's docs/gguf.md, versions 2 and 3, little-endian): "GGUF", uint32 version, uint64
// tensor count, uint64 key/value count; the key/value pairs (string key, uint32 value type, value); the
// tensor infos (string name, uint32 n_dims, uint64 dims[n_dims] innermost first, uint32 ggml type,
// uint64 offset); padding to general.alignment (default 32); the tensor data, each offset relative to
// the data start. Strings are uint64 length + bytes (no terminator).
// Conventions of the files users have (ComfyUI-GGUF): original checkpoint names, the 5-D Conv3d
// patch_embedding.weight stored natively with n_dims 5 (ggml's own reader refuses more than 4), and
// `comfy.gguf.orig_shape.<name>` (INT32 array, PyTorch order) overriding reversed(dims).
// Every length, count and offset is checked against the file size before use: a hostile or truncated
// file gets an error naming the file and the tensor, never a read past the end.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/file.h"
#include "loaders/loaders.h"

#define GGUF_MAX_NAME 4096          // ggml's own limit is 64 bytes; far above any real name
#define GGUF_MAX_TENSORS (1 << 22)
#define GGUF_MAX_KV (1 << 22)
#define GGUF_MAX_DEPTH 4            // nested arrays
#define GGUF_DEFAULT_ALIGN 32

enum gguf_vtype {
    GV_U8 = 0, GV_I8, GV_U16, GV_I16, GV_U32, GV_I32, GV_F32, GV_BOOL, GV_STRING, GV_ARRAY, GV_U64, GV_I64, GV_F64,
    GV_COUNT
};

static const size_t g_vsize[GV_COUNT] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };

// ggml's type ids (ggml.h enum ggml_type) that Kinora reads, and the names of the others for messages.
static int ggml_to_ke(uint32_t id, enum ke_dtype * t)
{
    static const struct {
        uint32_t id;
        enum ke_dtype t;
    } map[] = {
        { 0, KE_DTYPE_F32 }, { 1, KE_DTYPE_F16 }, { 2, KE_DTYPE_Q4_0 }, { 3, KE_DTYPE_Q4_1 },
        { 6, KE_DTYPE_Q5_0 }, { 7, KE_DTYPE_Q5_1 }, { 8, KE_DTYPE_Q8_0 }, { 10, KE_DTYPE_Q2_K },
        { 11, KE_DTYPE_Q3_K }, { 12, KE_DTYPE_Q4_K }, { 13, KE_DTYPE_Q5_K }, { 14, KE_DTYPE_Q6_K },
        { 26, KE_DTYPE_I32 }, { 27, KE_DTYPE_I64 }, { 28, KE_DTYPE_F64 }, { 30, KE_DTYPE_BF16 },
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (map[i].id == id) {
            *t = map[i].t;
            return 0;
        }
    }
    return -1;
}

static const char * ggml_type_name(uint32_t id)
{
    static const char * const names[] = {
        "F32", "F16", "Q4_0", "Q4_1", "Q4_2 (removed)", "Q4_3 (removed)", "Q5_0", "Q5_1", "Q8_0", "Q8_1",
        "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL",
        "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M", "BF16", "Q4_0_4_4 (removed)",
        "Q4_0_4_8 (removed)", "Q4_0_8_8 (removed)", "TQ1_0", "TQ2_0", "IQ4_NL_4_4 (removed)",
        "IQ4_NL_4_8 (removed)", "IQ4_NL_8_8 (removed)", "MXFP4",
    };
    return id < sizeof(names) / sizeof(names[0]) ? names[id] : NULL;
}

struct cur {
    const unsigned char * p;
    size_t size, off;
    const char * path;
    struct ke_error * err;
};

static enum ke_status truncated(struct cur * c, const char * what)
{
    return ke_err(c->err, KE_STATUS_FORMAT, "%s: truncated GGUF header: %s at byte %zu runs past the end of the file "
                  "(%zu bytes)", c->path, what, c->off, c->size);
}

static enum ke_status rd(struct cur * c, void * dst, size_t n, const char * what)
{
    if (n > c->size - c->off) {
        return truncated(c, what);
    }
    memcpy(dst, c->p + c->off, n);
    c->off += n;
    return KE_STATUS_OK;
}

static enum ke_status rd_u32(struct cur * c, uint32_t * v, const char * what)
{
    unsigned char b[4] = { 0 };
    enum ke_status st = rd(c, b, 4, what);
    *v = (uint32_t) b[0] | ((uint32_t) b[1] << 8) | ((uint32_t) b[2] << 16) | ((uint32_t) b[3] << 24);
    return st;
}

static enum ke_status rd_u64(struct cur * c, uint64_t * v, const char * what)
{
    unsigned char b[8] = { 0 };
    enum ke_status st = rd(c, b, 8, what);
    *v = 0;
    for (int i = 7; i >= 0; i--) {
        *v = (*v << 8) | b[i];
    }
    return st;
}

// A string in place: *s points into the file (not terminated), *n its length.
static enum ke_status rd_str(struct cur * c, const char ** s, uint64_t * n, uint64_t max, const char * what)
{
    enum ke_status st = rd_u64(c, n, what);
    if (st != KE_STATUS_OK) {
        return st;
    }
    if (*n > c->size - c->off) {
        return ke_err(c->err, KE_STATUS_FORMAT, "%s: %s at byte %zu claims %llu bytes, past the end of the file "
                      "(%zu bytes; truncated?)", c->path, what, c->off, (unsigned long long) *n, c->size);
    }
    if (*n > max) {
        return ke_err(c->err, KE_STATUS_FORMAT, "%s: %s at byte %zu is %llu bytes long (at most %llu)", c->path, what,
                      c->off, (unsigned long long) *n, (unsigned long long) max);
    }
    *s = (const char *) c->p + c->off;
    c->off += (size_t) *n;
    return KE_STATUS_OK;
}

// Skip one value of type vt (arrays recursively), checking every length against the file.
static enum ke_status skip_value(struct cur * c, uint32_t vt, int depth, const char * key)
{
    if (vt == GV_STRING) {
        const char * s;
        uint64_t n;
        return rd_str(c, &s, &n, UINT64_MAX, "a string value");
    }
    if (vt == GV_ARRAY) {
        uint32_t et;
        uint64_t n;
        enum ke_status st;
        if ((st = rd_u32(c, &et, "an array type")) != KE_STATUS_OK || (st = rd_u64(c, &n, "an array length")) != KE_STATUS_OK) {
            return st;
        }
        if (et >= GV_COUNT || depth >= GGUF_MAX_DEPTH) {
            return ke_err(c->err, KE_STATUS_FORMAT, "%s: key '%s': %s", c->path, key,
                          et >= GV_COUNT ? "unknown array element type" : "arrays nested too deeply");
        }
        if (et != GV_STRING && et != GV_ARRAY) {
            if (n > (c->size - c->off) / g_vsize[et]) {
                return ke_err(c->err, KE_STATUS_FORMAT, "%s: key '%s': array of %llu elements runs past the end of the "
                              "file (truncated?)", c->path, key, (unsigned long long) n);
            }
            c->off += (size_t) n * g_vsize[et];
            return KE_STATUS_OK;
        }
        // each string or array takes at least 8 bytes: bounds the loop by the file size
        if (n > (c->size - c->off) / 8) {
            return ke_err(c->err, KE_STATUS_FORMAT, "%s: key '%s': array of %llu elements runs past the end of the "
                          "file (truncated?)", c->path, key, (unsigned long long) n);
        }
        for (uint64_t i = 0; i < n; i++) {
            if ((st = skip_value(c, et, depth + 1, key)) != KE_STATUS_OK) {
                return st;
            }
        }
        return KE_STATUS_OK;
    }
    if (vt >= GV_COUNT) {
        return ke_err(c->err, KE_STATUS_FORMAT, "%s: key '%s' has unknown value type %u", c->path, key, vt);
    }
    if (g_vsize[vt] > c->size - c->off) {
        return truncated(c, "a value");
    }
    c->off += g_vsize[vt];
    return KE_STATUS_OK;
}

// An unsigned integer value of any integer type (for general.alignment).
static enum ke_status rd_uint_value(struct cur * c, uint32_t vt, uint64_t * v, const char * key)
{
    if (vt != GV_U8 && vt != GV_U16 && vt != GV_U32 && vt != GV_U64 && vt != GV_I32 && vt != GV_I64) {
        return ke_err(c->err, KE_STATUS_FORMAT, "%s: key '%s' is not an integer", c->path, key);
    }
    unsigned char b[8] = { 0 };
    enum ke_status st = rd(c, b, g_vsize[vt], key);
    *v = 0;
    for (int i = (int) g_vsize[vt] - 1; i >= 0; i--) {
        *v = (*v << 8) | b[i];
    }
    if ((vt == GV_I32 && (b[3] & 0x80)) || (vt == GV_I64 && (b[7] & 0x80))) {
        return ke_err(c->err, KE_STATUS_FORMAT, "%s: key '%s' is negative", c->path, key);
    }
    return st;
}

struct orig_shape {
    const char * name;   // in the file, not terminated
    size_t name_len;
    int n_dims;
    int64_t shape[KE_MAX_DIMS];
};

#define ORIG_PREFIX "comfy.gguf.orig_shape."

static enum ke_status rd_orig_shape(struct cur * c, uint32_t vt, const char * key, size_t key_len, struct orig_shape * o)
{
    uint32_t et;
    uint64_t n;
    enum ke_status st;
    if (vt != GV_ARRAY) {
        return ke_err(c->err, KE_STATUS_FORMAT, "%s: key '%s' is not an array of integers", c->path, key);
    }
    if ((st = rd_u32(c, &et, "an array type")) != KE_STATUS_OK || (st = rd_u64(c, &n, "an array length")) != KE_STATUS_OK) {
        return st;
    }
    if ((et != GV_I32 && et != GV_I64 && et != GV_U32 && et != GV_U64) || n < 1 || n > KE_MAX_DIMS) {
        return ke_err(c->err, KE_STATUS_FORMAT, "%s: key '%s' must be 1 to %d integers (PyTorch shape)", c->path, key,
                      KE_MAX_DIMS);
    }
    o->name = key + strlen(ORIG_PREFIX);
    o->name_len = key_len - strlen(ORIG_PREFIX);
    o->n_dims = (int) n;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t v;
        if ((st = rd_uint_value(c, et, &v, key)) != KE_STATUS_OK) {
            return st;
        }
        if (v > ((uint64_t) 1 << 40)) {
            return ke_err(c->err, KE_STATUS_FORMAT, "%s: key '%s': dimension %llu out of range", c->path, key,
                          (unsigned long long) v);
        }
        o->shape[i] = (int64_t) v;
    }
    return KE_STATUS_OK;
}

enum ke_status ke_gguf_parse(struct ke_tensor_set * s, unsigned char * file, size_t size, struct ke_error * err)
{
    struct cur c = { file, size, 0, ke_tset_path(s), err };
    const char * path = c.path;
    if (size < 4 || memcmp(file, "GGUF", 4) != 0) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: not a GGUF file (no \"GGUF\" magic)", path);
    }
    c.off = 4;
    uint32_t version;
    uint64_t n_tensors, n_kv;
    enum ke_status st;
    if ((st = rd_u32(&c, &version, "the version")) != KE_STATUS_OK) {
        return st;
    }
    if (version != 2 && version != 3) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: GGUF version %u%s (versions 2 and 3 are supported)", path, version,
                      (version & 0xffff) == 0 ? ", big-endian" : "");
    }
    if ((st = rd_u64(&c, &n_tensors, "the tensor count")) != KE_STATUS_OK ||
        (st = rd_u64(&c, &n_kv, "the key count")) != KE_STATUS_OK) {
        return st;
    }
    // a tensor info takes at least 24 bytes, a key/value pair at least 13: counts beyond that are lies
    if (n_tensors > GGUF_MAX_TENSORS || n_tensors > size / 24) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: header claims %llu tensors (the file has room for at most %zu)", path,
                      (unsigned long long) n_tensors, size / 24 < GGUF_MAX_TENSORS ? size / 24 : (size_t) GGUF_MAX_TENSORS);
    }
    if (n_kv > GGUF_MAX_KV || n_kv > size / 13) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: header claims %llu metadata keys (the file has room for at most %zu)",
                      path, (unsigned long long) n_kv, size / 13 < GGUF_MAX_KV ? size / 13 : (size_t) GGUF_MAX_KV);
    }
    uint64_t align = GGUF_DEFAULT_ALIGN;
    struct orig_shape * origs = NULL;
    int n_origs = 0, cap_origs = 0;
    char key[GGUF_MAX_NAME + 1];
    for (uint64_t i = 0; i < n_kv && st == KE_STATUS_OK; i++) {
        const char * k;
        uint64_t kl;
        uint32_t vt;
        if ((st = rd_str(&c, &k, &kl, GGUF_MAX_NAME, "a metadata key")) != KE_STATUS_OK ||
            (st = rd_u32(&c, &vt, "a value type")) != KE_STATUS_OK) {
            break;
        }
        memcpy(key, k, (size_t) kl);
        key[kl] = 0;
        if (strcmp(key, "general.alignment") == 0) {
            if ((st = rd_uint_value(&c, vt, &align, key)) == KE_STATUS_OK && (align == 0 || (align & (align - 1)) ||
                                                                              align > (1u << 16))) {
                st = ke_err(err, KE_STATUS_FORMAT, "%s: general.alignment %llu is not a power of two up to 65536", path,
                            (unsigned long long) align);
            }
        } else if (strcmp(key, "general.architecture") == 0 && vt == GV_STRING) {
            const char * v;
            uint64_t vl;
            char arch[64];
            if ((st = rd_str(&c, &v, &vl, UINT64_MAX, "general.architecture")) == KE_STATUS_OK) {
                snprintf(arch, sizeof(arch), "%.*s", (int) (vl < 63 ? vl : 63), v);
                if (ke_tset_set_meta(s, "gguf.architecture", arch) < 0) {
                    st = ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
                }
            }
        } else if (strncmp(key, ORIG_PREFIX, strlen(ORIG_PREFIX)) == 0) {
            if (n_origs == cap_origs) {
                int nc = cap_origs ? cap_origs * 2 : 16;
                struct orig_shape * no = realloc(origs, (size_t) nc * sizeof(*no));
                if (!no) {
                    st = ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
                    break;
                }
                origs = no;
                cap_origs = nc;
            }
            // the name points into the file image (k), not into the reused key buffer
            if ((st = rd_orig_shape(&c, vt, key, (size_t) kl, &origs[n_origs])) == KE_STATUS_OK) {
                origs[n_origs].name = k + strlen(ORIG_PREFIX);
                n_origs++;
            }
        } else {
            st = skip_value(&c, vt, 0, key);   // unknown keys are allowed and ignored
        }
    }
    // tensor infos: parsed first, data placed once the table's end (and so the data start) is known
    struct info {
        const char * name;
        uint64_t name_len;
        int n_dims;
        int64_t shape[KE_MAX_DIMS];   // PyTorch order
        enum ke_dtype type;
        uint64_t offset, nbytes;
    } * infos = NULL;
    if (st == KE_STATUS_OK && n_tensors > 0 && !(infos = calloc((size_t) n_tensors, sizeof(*infos)))) {
        st = ke_err(err, KE_STATUS_NOMEM, "%s: out of memory for %llu tensor infos", path, (unsigned long long) n_tensors);
    }
    char name[GGUF_MAX_NAME + 1];
    for (uint64_t i = 0; i < n_tensors && st == KE_STATUS_OK; i++) {
        struct info * t = &infos[i];
        uint32_t nd, type;
        if ((st = rd_str(&c, &t->name, &t->name_len, GGUF_MAX_NAME, "a tensor name")) != KE_STATUS_OK) {
            break;
        }
        snprintf(name, sizeof(name), "%.*s", (int) t->name_len, t->name);
        if (memchr(t->name, 0, (size_t) t->name_len)) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: tensor name '%s' holds a NUL byte", path, name);
            break;
        }
        if ((st = rd_u32(&c, &nd, "a tensor's n_dims")) != KE_STATUS_OK) {
            break;
        }
        if (nd < 1 || nd > KE_MAX_DIMS) {
            st = ke_err(err, nd > KE_MAX_DIMS ? KE_STATUS_UNSUPPORTED : KE_STATUS_FORMAT,
                        "%s: tensor '%s' has %u dimensions (1 to %d supported)", path, name, nd, KE_MAX_DIMS);
            break;
        }
        t->n_dims = (int) nd;
        uint64_t ne[KE_MAX_DIMS], nel = 1;
        for (uint32_t d = 0; d < nd && st == KE_STATUS_OK; d++) {
            if ((st = rd_u64(&c, &ne[d], "a tensor's dimensions")) != KE_STATUS_OK) {
                break;
            }
            if (ne[d] > ((uint64_t) 1 << 40) || (ne[d] > 0 && nel > ((uint64_t) 1 << 50) / ne[d])) {
                st = ke_err(err, KE_STATUS_FORMAT, "%s: tensor '%s': dimension %u is %llu (too many elements)", path, name,
                            d, (unsigned long long) ne[d]);
                break;
            }
            nel *= ne[d];
            t->shape[nd - 1 - d] = (int64_t) ne[d];
        }
        if (st != KE_STATUS_OK || (st = rd_u32(&c, &type, "a tensor's type")) != KE_STATUS_OK ||
            (st = rd_u64(&c, &t->offset, "a tensor's offset")) != KE_STATUS_OK) {
            break;
        }
        if (ggml_to_ke(type, &t->type) < 0) {
            const char * tn = ggml_type_name(type);
            if (tn) {
                st = ke_err(err, KE_STATUS_UNSUPPORTED, "%s: tensor '%s' has type %s, which Kinora does not read "
                            "(F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K to Q6_K are supported)", path, name, tn);
            } else {
                st = ke_err(err, KE_STATUS_FORMAT, "%s: tensor '%s' has unknown GGUF type %u", path, name, type);
            }
            break;
        }
        const int64_t bk = ke_dtype_block(t->type);
        if (ne[0] % (uint64_t) bk != 0) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: tensor '%s' (%s): row of %llu values is not a whole number of "
                        "%lld-value blocks", path, name, ke_dtype_name(t->type), (unsigned long long) ne[0], (long long) bk);
            break;
        }
        t->nbytes = (uint64_t) ke_dtype_row_bytes(t->type, (int64_t) nel);
        if (t->offset % align != 0) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: tensor '%s': data offset %llu is not a multiple of the alignment %llu",
                        path, name, (unsigned long long) t->offset, (unsigned long long) align);
            break;
        }
    }
    size_t data_start = 0;
    if (st == KE_STATUS_OK) {
        data_start = (c.off + (size_t) align - 1) / (size_t) align * (size_t) align;
        if (data_start > size && n_tensors > 0) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: the file ends inside the tensor table (truncated?)", path);
        }
    }
    for (uint64_t i = 0; i < n_tensors && st == KE_STATUS_OK; i++) {
        struct info * t = &infos[i];
        snprintf(name, sizeof(name), "%.*s", (int) t->name_len, t->name);
        const uint64_t room = size - data_start;
        if (t->offset > room || t->nbytes > room - t->offset) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: tensor '%s': data bytes [%llu, %llu) lie past the end of the file "
                        "(%zu bytes; truncated?)", path, name, (unsigned long long) (data_start + t->offset),
                        (unsigned long long) (data_start + t->offset + t->nbytes), size);
            break;
        }
        void * p = file + data_start + t->offset;
        const size_t es = ke_dtype_block(t->type) == 1 ? ke_dtype_size(t->type) : 1;
        if ((uintptr_t) p % es != 0) {
            // general.alignment below the element size: keep an aligned private copy
            void * q = malloc(t->nbytes ? (size_t) t->nbytes : 1);
            if (!q || ke_tset_own_malloc(s, q) < 0) {
                free(q);
                st = ke_err(err, KE_STATUS_NOMEM, "%s: out of memory copying tensor '%s'", path, name);
                break;
            }
            memcpy(q, p, (size_t) t->nbytes);
            p = q;
        }
        if (!ke_tset_add(s, name, t->type, t->n_dims, t->shape, p, err)) {
            st = err ? err->code : KE_STATUS_ERROR;
        }
    }
    free(infos);
    // comfy.gguf.orig_shape.<name>: the PyTorch shape (same element count), found by hash: linear in
    // the number of keys however many tensors there are
    for (int o = 0; o < n_origs && st == KE_STATUS_OK; o++) {
        snprintf(name, sizeof(name), "%.*s", (int) origs[o].name_len, origs[o].name);
        struct ke_tensor * t = ke_tset_get(s, name);
        if (!t) {
            continue;   // a key for a tensor the file does not hold: ignored, as any unknown key
        }
        int64_t on = 1;
        for (int d = 0; d < origs[o].n_dims; d++) {
            on *= origs[o].shape[d];
        }
        if (on != ke_tensor_nelements(t)) {
            st = ke_err(err, KE_STATUS_SHAPE, "%s: tensor '%s': comfy.gguf.orig_shape has %lld elements, the tensor %lld",
                        path, name, (long long) on, (long long) ke_tensor_nelements(t));
        } else if (origs[o].shape[origs[o].n_dims - 1] % ke_dtype_block(t->type) != 0) {
            st = ke_err(err, KE_STATUS_UNSUPPORTED, "%s: tensor '%s' (%s): comfy.gguf.orig_shape rows are not whole "
                        "blocks", path, name, ke_dtype_name(t->type));
        } else {
            const char * nm = t->name;
            ke_tensor_init(t, t->type, origs[o].n_dims, origs[o].shape, t->data);
            t->name = nm;
        }
    }
    free(origs);
    if (st != KE_STATUS_OK) {
        return st;
    }
    // ComfyUI's loader strips this prefix when a file carries it
    static const char prefix[] = "model.diffusion_model.";
    const size_t pl = strlen(prefix);
    int with = 0;
    for (int i = 0; i < ke_tset_count(s); i++) {
        const char * n = ke_tset_at(s, i)->name;
        if (strncmp(n, prefix, pl) == 0) {
            with++;
            if (ke_tset_get(s, n + pl)) {
                return ke_err(err, KE_STATUS_FORMAT, "%s: tensor '%s' appears both with and without the '%s' prefix",
                              path, n + pl, prefix);
            }
        }
    }
    if (with > 0) {
        ke_tset_strip_prefix(s, prefix);
    }
    if (ke_tset_set_meta(s, "format", "gguf") < 0) {
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
    }
    return KE_STATUS_OK;
}

enum ke_status ke_gguf_open(struct ke_tensor_set ** out, const char * path, struct ke_error * err)
{
    *out = NULL;
    int fd = ke_file_open_read(path, err);   // refuses FIFOs and devices without blocking
    if (fd < 0) {
        return err ? err->code : KE_STATUS_IO;
    }
    struct stat stt;
    if (fstat(fd, &stt) < 0) {
        close(fd);
        return ke_err(err, KE_STATUS_IO, "%s: cannot read its size: %s", path, strerror(errno));
    }
    const size_t size = (size_t) stt.st_size;
    if (size == 0) {
        close(fd);
        return ke_err(err, KE_STATUS_FORMAT, "%s: empty file", path);
    }
    void * addr = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (addr == MAP_FAILED) {
        return ke_err(err, KE_STATUS_IO, "%s: cannot map: %s", path, strerror(errno));
    }
    struct ke_tensor_set * s = ke_tset_new(path);
    if (!s || ke_tset_own_mmap(s, addr, size) < 0) {
        munmap(addr, size);
        ke_tset_free(s);
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
    }
    enum ke_status st = ke_gguf_parse(s, addr, size, err);
    if (st != KE_STATUS_OK) {
        ke_tset_free(s);
        return st;
    }
    *out = s;
    return KE_STATUS_OK;
}
