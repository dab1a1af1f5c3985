// Kinora engine: PyTorch .pth reader: the zip container (stored entries, ZIP64) read by hand for zero-copy
// data offsets, and a restricted unpickler that only rebuilds tensor state dicts and never runs code.
// Formats: PKWARE APPNOTE 6.3 (zip, ZIP64) and CPython Lib/pickletools.py (opcodes, protocol 2-4).
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/file.h"
#include "loaders/loaders.h"

#define PTH_MAX_ENTRIES (1 << 20)   // zip entries
#define PTH_MAX_MEMO    (1 << 22)   // memo slots (a 100k-tensor dict needs ~5 per tensor)
#define PTH_MAX_STACK   (1 << 20)   // values on the pickle stack
#define PTH_MAX_MARKS   4096        // nested MARKs
#define PTH_MAX_NODES   (1 << 22)   // pickled values (~20 per tensor; caps memory at ~256 MiB)

// --- little-endian readers (callers check bounds first) ----------------------------------------

static uint16_t rd16(const unsigned char * p) { return (uint16_t) (p[0] | p[1] << 8); }
static uint32_t rd32(const unsigned char * p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}
static uint64_t rd64(const unsigned char * p) { return (uint64_t) rd32(p) | (uint64_t) rd32(p + 4) << 32; }

// --- zip container ------------------------------------------------------------------------------

struct zip_entry {
    const char * name;      // points into the central directory (not NUL-terminated)
    size_t name_len;
    uint64_t hdr;           // local header offset
    uint64_t data;          // data offset
    uint64_t size;          // stored size
};

struct zip {
    struct zip_entry * e;
    size_t n;
    uint64_t cd_start;      // data must end before the central directory
};

static int cmp_entry_name(const void * a, const void * b)
{
    const struct zip_entry * x = a, * y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c) {
        return c;
    }
    return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

static int cmp_entry_hdr(const void * a, const void * b)
{
    const struct zip_entry * x = a, * y = b;
    return x->hdr < y->hdr ? -1 : x->hdr > y->hdr;
}

static const struct zip_entry * zip_find(const struct zip * z, const char * name, size_t len)
{
    struct zip_entry key = { .name = name, .name_len = len };
    return bsearch(&key, z->e, z->n, sizeof(*z->e), cmp_entry_name);
}

// Read the ZIP64 extra field of a central directory record: fields appear only for the values set to
// 0xFFFFFFFF, in the order uncompressed size, compressed size, local header offset.
static int zip64_extra(const unsigned char * x, size_t xlen, uint64_t * usize, uint64_t * csize, uint64_t * off,
                       bool need_u, bool need_c, bool need_o)
{
    size_t i = 0;
    while (i + 4 <= xlen) {
        uint16_t id = rd16(x + i), len = rd16(x + i + 2);
        if (i + 4 + len > xlen) {
            return -1;
        }
        if (id == 0x0001) {
            const unsigned char * p = x + i + 4;
            size_t k = 0;
            if (need_u) {
                if (k + 8 > len) return -1;
                *usize = rd64(p + k);
                k += 8;
            }
            if (need_c) {
                if (k + 8 > len) return -1;
                *csize = rd64(p + k);
                k += 8;
            }
            if (need_o) {
                if (k + 8 > len) return -1;
                *off = rd64(p + k);
            }
            return 0;
        }
        i += 4 + (size_t) len;
    }
    return (need_u || need_c || need_o) ? -1 : 0;
}

static enum ke_status zip_read(struct zip * z, const char * path, const unsigned char * f, size_t size,
                               struct ke_error * err)
{
    memset(z, 0, sizeof(*z));
    if (size < 22) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: not a .pth file (%zu bytes, too short for a zip archive)", path, size);
    }
    // End of central directory: the last "PK\5\6" within the final 64 KiB + 22 bytes.
    size_t lo = size > 65557 ? size - 65557 : 0;
    size_t eocd = SIZE_MAX;
    for (size_t i = size - 22 + 1; i-- > lo;) {
        if (rd32(f + i) == 0x06054b50u) {
            eocd = i;
            break;
        }
    }
    if (eocd == SIZE_MAX) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: no zip end-of-central-directory record (truncated or not a .pth file)", path);
    }
    uint64_t n = rd16(f + eocd + 10);
    uint64_t cd_size = rd32(f + eocd + 12);
    uint64_t cd_off = rd32(f + eocd + 16);
    if (rd16(f + eocd + 4) != 0 || rd16(f + eocd + 6) != 0) {
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: multi-part zip archives are not supported", path);
    }
    if (n == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu ||
        (eocd >= 20 && rd32(f + eocd - 20) == 0x07064b50u)) {
        // ZIP64: locator just before the EOCD, pointing at the ZIP64 end record.
        if (eocd < 20 || rd32(f + eocd - 20) != 0x07064b50u) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: ZIP64 sizes without a ZIP64 locator", path);
        }
        uint64_t e64 = rd64(f + eocd - 20 + 8);
        if (e64 > eocd - 20 || eocd - 20 - e64 < 56) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: ZIP64 end record offset %llu outside the file", path,
                          (unsigned long long) e64);
        }
        if (rd32(f + e64) != 0x06064b50u) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: bad ZIP64 end record signature at %llu", path,
                          (unsigned long long) e64);
        }
        n = rd64(f + e64 + 32);
        cd_size = rd64(f + e64 + 40);
        cd_off = rd64(f + e64 + 48);
        if (cd_off > e64 || cd_size > e64 - cd_off) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: central directory [%llu, +%llu) outside the file", path,
                          (unsigned long long) cd_off, (unsigned long long) cd_size);
        }
    } else if (cd_off > eocd || cd_size > eocd - cd_off) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: central directory [%llu, +%llu) outside the file", path,
                      (unsigned long long) cd_off, (unsigned long long) cd_size);
    }
    if (n == 0 || n > PTH_MAX_ENTRIES || n > cd_size / 46) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: %llu zip entries do not fit a %llu-byte central directory", path,
                      (unsigned long long) n, (unsigned long long) cd_size);
    }
    z->e = calloc((size_t) n, sizeof(*z->e));
    if (!z->e) {
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
    }
    z->cd_start = cd_off;
    uint64_t p = cd_off, end = cd_off + cd_size;
    for (uint64_t i = 0; i < n; i++) {
        if (end - p < 46 || rd32(f + p) != 0x02014b50u) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: zip central directory record %llu is damaged", path,
                          (unsigned long long) i);
        }
        const unsigned char * r = f + p;
        uint16_t flags = rd16(r + 8), method = rd16(r + 10);
        uint64_t csize = rd32(r + 20), usize = rd32(r + 24), off = rd32(r + 42);
        size_t nl = rd16(r + 28), xl = rd16(r + 30), cl = rd16(r + 32);
        if (46 + nl + xl + cl > end - p) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: zip central directory record %llu overruns the directory", path,
                          (unsigned long long) i);
        }
        struct zip_entry * e = &z->e[i];
        e->name = (const char *) r + 46;
        e->name_len = nl;
        if (zip64_extra(r + 46 + nl, xl, &usize, &csize, &off, usize == 0xFFFFFFFFu, csize == 0xFFFFFFFFu,
                        off == 0xFFFFFFFFu) < 0) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: entry '%.*s': bad ZIP64 extra field", path, (int) nl, e->name);
        }
        if (method != 0 || (flags & 1) || csize != usize) {
            return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: entry '%.*s' is compressed or encrypted (method %u); "
                          ".pth entries must be stored", path, (int) nl, e->name, method);
        }
        if (off > cd_off || cd_off - off < 30 || rd32(f + off) != 0x04034b50u) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: entry '%.*s': local header offset %llu is invalid", path,
                          (int) nl, e->name, (unsigned long long) off);
        }
        const unsigned char * l = f + off;
        size_t lnl = rd16(l + 26), lxl = rd16(l + 28);
        if (30 + lnl + lxl > cd_off - off) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: entry '%.*s': local header overruns the central directory", path,
                          (int) nl, e->name);
        }
        if (lnl != nl || memcmp(l + 30, e->name, nl) != 0) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: entry '%.*s': local header names a different file", path,
                          (int) nl, e->name);
        }
        e->hdr = off;
        e->data = off + 30 + lnl + lxl;
        e->size = usize;
        if (e->data > cd_off || usize > cd_off - e->data) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: entry '%.*s': data [%llu, +%llu) runs past the end of the "
                          "archive data (truncated file?)", path, (int) nl, e->name,
                          (unsigned long long) e->data, (unsigned long long) usize);
        }
        p += 46 + nl + xl + cl;
        z->n++;
    }
    // Entries must not overlap: sorted by header offset, each ends before the next header.
    qsort(z->e, z->n, sizeof(*z->e), cmp_entry_hdr);
    for (size_t i = 0; i + 1 < z->n; i++) {
        if (z->e[i].data + z->e[i].size > z->e[i + 1].hdr) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: zip entries '%.*s' and '%.*s' overlap", path,
                          (int) z->e[i].name_len, z->e[i].name, (int) z->e[i + 1].name_len, z->e[i + 1].name);
        }
    }
    qsort(z->e, z->n, sizeof(*z->e), cmp_entry_name);
    for (size_t i = 0; i + 1 < z->n; i++) {
        if (cmp_entry_name(&z->e[i], &z->e[i + 1]) == 0) {
            return ke_err(err, KE_STATUS_FORMAT, "%s: zip entry '%.*s' appears twice", path,
                          (int) z->e[i].name_len, z->e[i].name);
        }
    }
    return KE_STATUS_OK;
}

// --- restricted unpickler -----------------------------------------------------------------------

enum pk_kind {
    PK_NONE, PK_BOOL, PK_INT, PK_FLOAT, PK_STR, PK_TUPLE, PK_LIST, PK_DICT,
    PK_GLOBAL, PK_STORAGE, PK_TENSOR,
};

enum pk_global {
    PG_ORDERED_DICT, PG_REBUILD_TENSOR_V2, PG_REBUILD_PARAMETER, PG_STORAGE_CLASS,
};

struct pk_node {
    uint8_t kind;
    uint8_t sub;              // PK_GLOBAL: enum pk_global; PK_STORAGE / storage class: dtype
    int64_t i;                // int value; PK_TENSOR: storage offset (elements)
    const char * s;           // PK_STR (not NUL-terminated)
    size_t len;
    int32_t * kids;           // tuple/list items, dict key/value pairs; PK_TENSOR: [storage, size, stride]
    int32_t n, cap;
    const unsigned char * data;  // PK_STORAGE: the blob
    uint64_t numel;              // PK_STORAGE: elements
};

struct pk {
    const char * path;
    struct ke_error * err;
    struct pk_node * nodes;
    int32_t n_nodes, cap_nodes;
    int32_t * stack;
    int32_t sp, cap_stack;
    int32_t marks[PTH_MAX_MARKS];
    int n_marks;
    int32_t * memo;            // node index + 1 (0 = empty)
    int64_t cap_memo;
    int64_t n_memo;            // filled slots
    // storages
    const unsigned char * file;
    const struct zip * z;
    const char * prefix;
    size_t prefix_len;
};

static int grow_i32(int32_t ** p, int32_t * cap, int64_t need)
{
    if (need <= *cap) {
        return 0;
    }
    int64_t nc = *cap ? (int64_t) *cap * 2 : 8;
    while (nc < need) {
        nc *= 2;
    }
    if (nc > INT32_MAX) {
        return -1;
    }
    int32_t * q = realloc(*p, (size_t) nc * sizeof(int32_t));
    if (!q) {
        return -1;
    }
    *p = q;
    *cap = (int32_t) nc;
    return 0;
}

static int32_t pk_new(struct pk * k, enum pk_kind kind)
{
    if (k->n_nodes >= PTH_MAX_NODES) {
        return -1;
    }
    if (k->n_nodes == k->cap_nodes) {
        int32_t nc = k->cap_nodes ? k->cap_nodes * 2 : 256;
        struct pk_node * q = realloc(k->nodes, (size_t) nc * sizeof(*q));
        if (!q) {
            return -1;
        }
        k->nodes = q;
        k->cap_nodes = nc;
    }
    struct pk_node * n = &k->nodes[k->n_nodes];
    memset(n, 0, sizeof(*n));
    n->kind = (uint8_t) kind;
    return k->n_nodes++;
}

static int pk_add_kid(struct pk * k, int32_t parent, int32_t kid)
{
    struct pk_node * p = &k->nodes[parent];
    if (grow_i32(&p->kids, &p->cap, (int64_t) p->n + 1) < 0) {
        return -1;
    }
    p->kids[p->n++] = kid;
    return 0;
}

static int pk_push(struct pk * k, int32_t v)
{
    if (v < 0 || k->sp >= PTH_MAX_STACK || grow_i32(&k->stack, &k->cap_stack, (int64_t) k->sp + 1) < 0) {
        return -1;
    }
    k->stack[k->sp++] = v;
    return 0;
}

static void pk_free(struct pk * k)
{
    for (int32_t i = 0; i < k->n_nodes; i++) {
        free(k->nodes[i].kids);
    }
    free(k->nodes);
    free(k->stack);
    free(k->memo);
}

static bool str_is(const struct pk_node * n, const char * s)
{
    return n->kind == PK_STR && n->len == strlen(s) && memcmp(n->s, s, n->len) == 0;
}

// A pickle name for a message: printable ASCII as is, other bytes (a NUL cut names short) as \xNN.
static const char * printable(char * out, size_t cap, const char * s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];
        if (o + 8 >= cap) {   // room for "\xNN" or "..." and the NUL
            return memcpy(out + o, "...", 4), out;
        }
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[o++] = (char) c;
        } else {
            o += (size_t) snprintf(out + o, cap - o, "\\x%02x", c);
        }
    }
    out[o] = 0;
    return out;
}

// The only callables a tensor state dict needs. Anything else (os.system, builtins.eval, ...) is refused.
// Returns 0 for a callable (sub = enum pk_global), 1 for a storage class (sub = dtype), -1 when refused.
static int resolve_global(const char * mod, size_t ml, const char * name, size_t nl, uint8_t * sub)
{
    static const struct { const char * name; enum ke_dtype t; } storages[] = {
        { "FloatStorage", KE_DTYPE_F32 }, { "HalfStorage", KE_DTYPE_F16 }, { "BFloat16Storage", KE_DTYPE_BF16 },
        { "DoubleStorage", KE_DTYPE_F64 }, { "LongStorage", KE_DTYPE_I64 }, { "IntStorage", KE_DTYPE_I32 },
        { "ByteStorage", KE_DTYPE_U8 }, { "BoolStorage", KE_DTYPE_BOOL }, { "Float8_e4m3fnStorage", KE_DTYPE_F8_E4M3 },
    };
#define IS(a, al, b) ((al) == strlen(b) && memcmp((a), (b), (al)) == 0)
    if (IS(mod, ml, "collections") && IS(name, nl, "OrderedDict")) {
        *sub = PG_ORDERED_DICT;
        return 0;
    }
    if (IS(mod, ml, "torch._utils") && IS(name, nl, "_rebuild_tensor_v2")) {
        *sub = PG_REBUILD_TENSOR_V2;
        return 0;
    }
    if (IS(mod, ml, "torch._utils") &&
        (IS(name, nl, "_rebuild_parameter") || IS(name, nl, "_rebuild_parameter_with_state"))) {
        *sub = PG_REBUILD_PARAMETER;
        return 0;
    }
    if (IS(mod, ml, "torch")) {
        for (size_t i = 0; i < sizeof(storages) / sizeof(storages[0]); i++) {
            if (IS(name, nl, storages[i].name)) {
                *sub = (uint8_t) storages[i].t;
                return 1;
            }
        }
    }
#undef IS
    return -1;
}

// BINPERSID: ('storage', <storage class>, key, location, numel) -> a storage node over the zip blob.
static int32_t pk_persistent(struct pk * k, int32_t pid)
{
    const struct pk_node * t = &k->nodes[pid];
    if (t->kind != PK_TUPLE || t->n < 5 || !str_is(&k->nodes[t->kids[0]], "storage")) {
        ke_err(k->err, KE_STATUS_FORMAT, "%s: persistent id is not a ('storage', ...) tuple", k->path);
        return -1;
    }
    const struct pk_node * cls = &k->nodes[t->kids[1]];
    const struct pk_node * key = &k->nodes[t->kids[2]];
    const struct pk_node * numel = &k->nodes[t->kids[4]];
    if (cls->kind != PK_GLOBAL || cls->sub < 100 || key->kind != PK_STR || numel->kind != PK_INT || numel->i < 0) {
        ke_err(k->err, KE_STATUS_FORMAT, "%s: persistent id has no storage class, key or element count", k->path);
        return -1;
    }
    enum ke_dtype dt = (enum ke_dtype) (cls->sub - 100);
    char name[512];
    if (k->prefix_len + 5 + key->len >= sizeof(name)) {
        ke_err(k->err, KE_STATUS_FORMAT, "%s: storage key too long", k->path);
        return -1;
    }
    memcpy(name, k->prefix, k->prefix_len);
    memcpy(name + k->prefix_len, "data/", 5);
    memcpy(name + k->prefix_len + 5, key->s, key->len);
    size_t nl = k->prefix_len + 5 + key->len;
    const struct zip_entry * e = zip_find(k->z, name, nl);
    if (!e) {
        ke_err(k->err, KE_STATUS_FORMAT, "%s: storage '%.*s' has no zip entry '%.*s'", k->path, (int) key->len, key->s,
               (int) nl, name);
        return -1;
    }
    uint64_t es = ke_dtype_size(dt);
    if ((uint64_t) numel->i > UINT64_MAX / es || e->size != (uint64_t) numel->i * es) {
        ke_err(k->err, KE_STATUS_FORMAT, "%s: storage '%.*s' holds %llu bytes, but %lld %s elements need %llu", k->path,
               (int) key->len, key->s, (unsigned long long) e->size, (long long) numel->i, ke_dtype_name(dt),
               (unsigned long long) ((uint64_t) numel->i * es));
        return -1;
    }
    const char * key_s = key->s;
    size_t key_len = key->len;
    uint64_t n_el = (uint64_t) numel->i;
    int32_t s = pk_new(k, PK_STORAGE);   // may move the node array: no node pointers below
    if (s < 0) {
        return -1;
    }
    k->nodes[s].sub = (uint8_t) dt;
    k->nodes[s].data = k->file + e->data;
    k->nodes[s].numel = n_el;
    k->nodes[s].s = key_s;
    k->nodes[s].len = key_len;
    return s;
}

static int32_t pk_reduce(struct pk * k, int32_t fn, int32_t args)
{
    const struct pk_node * f = &k->nodes[fn];
    const struct pk_node * a = &k->nodes[args];
    if (f->kind != PK_GLOBAL || f->sub >= 100 || a->kind != PK_TUPLE) {
        ke_err(k->err, KE_STATUS_FORMAT, "%s: REDUCE of something that is not an allowed callable", k->path);
        return -1;
    }
    switch (f->sub) {
    case PG_ORDERED_DICT:
        if (a->n != 0) {
            ke_err(k->err, KE_STATUS_FORMAT, "%s: OrderedDict called with arguments", k->path);
            return -1;
        }
        return pk_new(k, PK_DICT);
    case PG_REBUILD_PARAMETER:
        if (a->n < 1 || k->nodes[a->kids[0]].kind != PK_TENSOR) {
            ke_err(k->err, KE_STATUS_FORMAT, "%s: _rebuild_parameter without a tensor", k->path);
            return -1;
        }
        return a->kids[0];
    case PG_REBUILD_TENSOR_V2: {
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (a->n < 4 || k->nodes[a->kids[0]].kind != PK_STORAGE || k->nodes[a->kids[1]].kind != PK_INT ||
            k->nodes[a->kids[2]].kind != PK_TUPLE || k->nodes[a->kids[3]].kind != PK_TUPLE) {
            ke_err(k->err, KE_STATUS_FORMAT, "%s: _rebuild_tensor_v2 arguments are not (storage, offset, size, stride)",
                   k->path);
            return -1;
        }
        int32_t t = pk_new(k, PK_TENSOR);
        if (t < 0 || pk_add_kid(k, t, k->nodes[args].kids[0]) < 0 || pk_add_kid(k, t, k->nodes[args].kids[2]) < 0 ||
            pk_add_kid(k, t, k->nodes[args].kids[3]) < 0) {
            return -1;
        }
        k->nodes[t].i = k->nodes[k->nodes[args].kids[1]].i;
        return t;
    }
    }
    return -1;
}

// Turn one dict entry into a tensor of the set, checking shape, strides and storage bounds.
static enum ke_status add_tensor(struct pk * k, struct ke_tensor_set * s, const struct pk_node * key,
                                 const struct pk_node * t)
{
    char name[1024];
    if (key->len >= sizeof(name)) {
        return ke_err(k->err, KE_STATUS_FORMAT, "%s: tensor name of %zu bytes is too long", k->path, key->len);
    }
    memcpy(name, key->s, key->len);
    name[key->len] = '\0';
    if (memchr(name, '\0', key->len)) {
        return ke_err(k->err, KE_STATUS_FORMAT, "%s: tensor name contains a NUL byte", k->path);
    }
    const struct pk_node * st = &k->nodes[t->kids[0]];
    const struct pk_node * sz = &k->nodes[t->kids[1]];
    const struct pk_node * sd = &k->nodes[t->kids[2]];
    if (sz->n > KE_MAX_DIMS || sz->n != sd->n) {
        return ke_err(k->err, KE_STATUS_UNSUPPORTED, "%s: tensor '%s': %d dimensions with %d strides (at most %d dims)",
                      k->path, name, sz->n, sd->n, KE_MAX_DIMS);
    }
    int64_t shape[KE_MAX_DIMS];
    uint64_t numel = 1, expect = 1;
    for (int d = sz->n - 1; d >= 0; d--) {
        const struct pk_node * a = &k->nodes[sz->kids[d]];
        const struct pk_node * b = &k->nodes[sd->kids[d]];
        if (a->kind != PK_INT || b->kind != PK_INT || a->i < 0 || a->i > (int64_t) 1 << 40) {
            return ke_err(k->err, KE_STATUS_FORMAT, "%s: tensor '%s': invalid size or stride in dimension %d", k->path,
                          name, d);
        }
        if (a->i != 1 && (uint64_t) b->i != expect) {
            return ke_err(k->err, KE_STATUS_UNSUPPORTED, "%s: tensor '%s': non-contiguous strides are not supported",
                          k->path, name);
        }
        shape[d] = a->i;
        if (a->i && numel > UINT64_MAX / (uint64_t) a->i / 16) {
            return ke_err(k->err, KE_STATUS_FORMAT, "%s: tensor '%s': impossible element count", k->path, name);
        }
        numel *= (uint64_t) a->i;
        expect *= (uint64_t) (a->i ? a->i : 1);
    }
    if (t->i < 0 || (uint64_t) t->i > st->numel || numel > st->numel - (uint64_t) t->i) {
        return ke_err(k->err, KE_STATUS_FORMAT, "%s: tensor '%s': %llu elements at offset %lld run past its storage "
                      "'%.*s' of %llu elements", k->path, name, (unsigned long long) numel, (long long) t->i,
                      (int) st->len, st->s, (unsigned long long) st->numel);
    }
    enum ke_dtype dt = (enum ke_dtype) st->sub;
    size_t es = ke_dtype_size(dt);
    void * p = (void *) (st->data + (size_t) t->i * es);
    if (((uintptr_t) p % es) != 0) {
        // Unaligned blob (torch aligns to 64 bytes; other writers may not): keep an aligned copy.
        void * q = malloc(numel > 0 ? numel * es : 1);
        if (!q || ke_tset_own_malloc(s, q) < 0) {
            free(q);
            return ke_err(k->err, KE_STATUS_NOMEM, "%s: out of memory copying tensor '%s'", k->path, name);
        }
        memcpy(q, p, numel * es);
        p = q;
    }
    if (!ke_tset_add(s, name, dt, sz->n, shape, p, k->err)) {
        return k->err ? k->err->code : KE_STATUS_ERROR;
    }
    return KE_STATUS_OK;
}

static enum ke_status pk_finish(struct pk * k, struct ke_tensor_set * s, int32_t root)
{
    const struct pk_node * d = &k->nodes[root];
    if (d->kind != PK_DICT) {
        return ke_err(k->err, KE_STATUS_FORMAT, "%s: data.pkl does not hold a dict of tensors", k->path);
    }
    int n_tensors = 0;
    for (int32_t i = 0; i + 1 < d->n; i += 2) {
        const struct pk_node * key = &k->nodes[d->kids[i]];
        const struct pk_node * v = &k->nodes[d->kids[i + 1]];
        if (v->kind != PK_TENSOR) {
            continue;   // e.g. a version number beside the tensors
        }
        if (key->kind != PK_STR) {
            return ke_err(k->err, KE_STATUS_FORMAT, "%s: a tensor's key is not a string", k->path);
        }
        enum ke_status st = add_tensor(k, s, key, v);
        if (st != KE_STATUS_OK) {
            return st;
        }
        n_tensors++;
    }
    if (n_tensors == 0 && d->n > 0) {
        return ke_err(k->err, KE_STATUS_FORMAT, "%s: the pickled dict holds no tensors", k->path);
    }
    return KE_STATUS_OK;
}

#define NEED(n) do { if ((size_t) (n) > len - pos) goto truncated; } while (0)
#define POP(v) do { if (k->sp <= (k->n_marks ? k->marks[k->n_marks - 1] : 0)) goto underflow; (v) = k->stack[--k->sp]; } while (0)
#define PUSH(v) do { if (pk_push(k, (v)) < 0) goto nomem; } while (0)

static enum ke_status pk_run(struct pk * k, struct ke_tensor_set * s, const unsigned char * p, size_t len)
{
    size_t pos = 0;
    int32_t v, a, b;
    while (pos < len) {
        unsigned char op = p[pos++];
        switch (op) {
        case 0x80: // PROTO
            NEED(1);
            if (p[pos] > 5) {
                return ke_err(k->err, KE_STATUS_UNSUPPORTED, "%s: pickle protocol %u is not supported", k->path, p[pos]);
            }
            pos++;
            break;
        case 0x95: // FRAME (length hint only)
            NEED(8);
            pos += 8;
            break;
        case '.': // STOP
            if (k->sp != 1 || k->n_marks) {
                return ke_err(k->err, KE_STATUS_FORMAT, "%s: data.pkl ends with %d values on the stack", k->path, k->sp);
            }
            return pk_finish(k, s, k->stack[0]);
        case 'N': // NONE
            PUSH(pk_new(k, PK_NONE));
            break;
        case 0x88: // NEWTRUE
        case 0x89: // NEWFALSE
            v = pk_new(k, PK_BOOL);
            PUSH(v);
            k->nodes[v].i = op == 0x88;
            break;
        case 'J': // BININT
            NEED(4);
            v = pk_new(k, PK_INT);
            PUSH(v);
            k->nodes[v].i = (int32_t) rd32(p + pos);
            pos += 4;
            break;
        case 'K': // BININT1
            NEED(1);
            v = pk_new(k, PK_INT);
            PUSH(v);
            k->nodes[v].i = p[pos++];
            break;
        case 'M': // BININT2
            NEED(2);
            v = pk_new(k, PK_INT);
            PUSH(v);
            k->nodes[v].i = rd16(p + pos);
            pos += 2;
            break;
        case 0x8a: { // LONG1: n-byte little-endian two's complement
            NEED(1);
            size_t n = p[pos++];
            NEED(n);
            if (n > 8) {
                return ke_err(k->err, KE_STATUS_FORMAT, "%s: integer of %zu bytes is too large", k->path, n);
            }
            uint64_t u = 0;
            for (size_t i = 0; i < n; i++) {
                u |= (uint64_t) p[pos + i] << (8 * i);
            }
            if (n > 0 && n < 8 && (p[pos + n - 1] & 0x80)) {
                u |= ~(uint64_t) 0 << (8 * n);
            }
            pos += n;
            v = pk_new(k, PK_INT);
            PUSH(v);
            k->nodes[v].i = (int64_t) u;
            break;
        }
        case 'G': { // BINFLOAT (big-endian double)
            NEED(8);
            uint64_t u = 0;
            for (int i = 0; i < 8; i++) {
                u = (u << 8) | p[pos + i];
            }
            pos += 8;
            v = pk_new(k, PK_FLOAT);
            PUSH(v);
            memcpy(&k->nodes[v].i, &u, 8);
            break;
        }
        case 'X':    // BINUNICODE
        case 0x8c: { // SHORT_BINUNICODE
            size_t n;
            if (op == 'X') {
                NEED(4);
                n = rd32(p + pos);
                pos += 4;
            } else {
                NEED(1);
                n = p[pos++];
            }
            NEED(n);
            v = pk_new(k, PK_STR);
            PUSH(v);
            k->nodes[v].s = (const char *) p + pos;
            k->nodes[v].len = n;
            pos += n;
            break;
        }
        case 'c': { // GLOBAL "module\nname\n"
            const unsigned char * m = p + pos;
            const unsigned char * e1 = memchr(m, '\n', len - pos);
            if (!e1) goto truncated;
            const unsigned char * nm = e1 + 1;
            const unsigned char * e2 = memchr(nm, '\n', (size_t) (p + len - nm));
            if (!e2) goto truncated;
            pos = (size_t) (e2 + 1 - p);
            uint8_t sub = 0;
            int kind = resolve_global((const char *) m, (size_t) (e1 - m), (const char *) nm, (size_t) (e2 - nm), &sub);
            if (kind < 0) {
                char a[160], b[160];
                return ke_err(k->err, KE_STATUS_FORMAT, "%s: refusing pickle global '%s.%s' (only tensor state "
                              "dicts are loaded; nothing is executed)", k->path,
                              printable(a, sizeof(a), (const char *) m, (size_t) (e1 - m)),
                              printable(b, sizeof(b), (const char *) nm, (size_t) (e2 - nm)));
            }
            v = pk_new(k, PK_GLOBAL);
            PUSH(v);
            k->nodes[v].sub = kind == 0 ? sub : (uint8_t) (sub + 100);
            break;
        }
        case 0x93: // STACK_GLOBAL
            POP(b);
            POP(a);
            if (k->nodes[a].kind != PK_STR || k->nodes[b].kind != PK_STR) {
                return ke_err(k->err, KE_STATUS_FORMAT, "%s: STACK_GLOBAL needs two strings", k->path);
            } else {
                uint8_t sub = 0;
                const struct pk_node * A = &k->nodes[a], * B = &k->nodes[b];
                int kind = resolve_global(A->s, A->len, B->s, B->len, &sub);
                if (kind < 0) {
                    char ma[160], mb[160];
                    return ke_err(k->err, KE_STATUS_FORMAT, "%s: refusing pickle global '%s.%s' (only tensor "
                                  "state dicts are loaded; nothing is executed)", k->path,
                                  printable(ma, sizeof(ma), A->s, A->len), printable(mb, sizeof(mb), B->s, B->len));
                }
                v = pk_new(k, PK_GLOBAL);
                PUSH(v);
                k->nodes[v].sub = kind == 0 ? sub : (uint8_t) (sub + 100);
            }
            break;
        case '(': // MARK
            if (k->n_marks >= PTH_MAX_MARKS) {
                return ke_err(k->err, KE_STATUS_FORMAT, "%s: pickle nests more than %d MARKs", k->path, PTH_MAX_MARKS);
            }
            k->marks[k->n_marks++] = k->sp;
            break;
        case 'u': // SETITEMS
        case 'e': // APPENDS
        case 't': // TUPLE
        case 'l': // LIST
        case 'd': { // DICT
            if (!k->n_marks) {
                return ke_err(k->err, KE_STATUS_FORMAT, "%s: pickle opcode '%c' without a MARK", k->path, op);
            }
            int32_t m = k->marks[--k->n_marks];
            int32_t target;
            if (op == 't' || op == 'l' || op == 'd') {
                target = pk_new(k, op == 't' ? PK_TUPLE : op == 'l' ? PK_LIST : PK_DICT);
                if (target < 0) goto nomem;
            } else {
                if (m < 1) goto underflow;
                target = k->stack[m - 1];
            }
            enum pk_kind want = (op == 'u' || op == 'd') ? PK_DICT : op == 'e' ? PK_LIST : k->nodes[target].kind;
            if (k->nodes[target].kind != want || ((op == 'u' || op == 'd') && (k->sp - m) % 2)) {
                return ke_err(k->err, KE_STATUS_FORMAT, "%s: pickle opcode '%c' applied to the wrong kind of value",
                              k->path, op);
            }
            for (int32_t i = m; i < k->sp; i++) {
                if (pk_add_kid(k, target, k->stack[i]) < 0) goto nomem;
            }
            k->sp = m;
            if (op == 't' || op == 'l' || op == 'd') {
                PUSH(target);
            }
            break;
        }
        case '1': // POP_MARK
            if (!k->n_marks) {
                return ke_err(k->err, KE_STATUS_FORMAT, "%s: POP_MARK without a MARK", k->path);
            }
            k->sp = k->marks[--k->n_marks];
            break;
        case '0': // POP
            POP(v);
            break;
        case ')': // EMPTY_TUPLE
            PUSH(pk_new(k, PK_TUPLE));
            break;
        case ']': // EMPTY_LIST
            PUSH(pk_new(k, PK_LIST));
            break;
        case '}': // EMPTY_DICT
            PUSH(pk_new(k, PK_DICT));
            break;
        case 0x85: // TUPLE1
        case 0x86: // TUPLE2
        case 0x87: { // TUPLE3
            int n = op - 0x84;
            int32_t items[3];
            for (int i = n - 1; i >= 0; i--) {
                POP(items[i]);
            }
            v = pk_new(k, PK_TUPLE);
            if (v < 0) goto nomem;
            for (int i = 0; i < n; i++) {
                if (pk_add_kid(k, v, items[i]) < 0) goto nomem;
            }
            PUSH(v);
            break;
        }
        case 'a': // APPEND
            POP(v);
            POP(a);
            if (k->nodes[a].kind != PK_LIST) {
                return ke_err(k->err, KE_STATUS_FORMAT, "%s: APPEND to a value that is not a list", k->path);
            }
            if (pk_add_kid(k, a, v) < 0) goto nomem;
            PUSH(a);
            break;
        case 's': // SETITEM
            POP(v);
            POP(b);
            POP(a);
            if (k->nodes[a].kind != PK_DICT) {
                return ke_err(k->err, KE_STATUS_FORMAT, "%s: SETITEM on a value that is not a dict", k->path);
            }
            if (pk_add_kid(k, a, b) < 0 || pk_add_kid(k, a, v) < 0) goto nomem;
            PUSH(a);
            break;
        case 'q':    // BINPUT
        case 'r':    // LONG_BINPUT
        case 0x94: { // MEMOIZE
            int64_t idx;
            if (op == 'q') {
                NEED(1);
                idx = p[pos++];
            } else if (op == 'r') {
                NEED(4);
                idx = rd32(p + pos);
                pos += 4;
            } else {
                idx = k->n_memo;   // MEMOIZE stores at the memo's current length
            }
            if (k->sp <= 0) goto underflow;
            if (idx >= PTH_MAX_MEMO) {
                return ke_err(k->err, KE_STATUS_FORMAT, "%s: pickle memo index %lld is too large (limit %d)", k->path,
                              (long long) idx, PTH_MAX_MEMO);
            }
            if (idx >= k->cap_memo) {
                int64_t nc = k->cap_memo ? k->cap_memo : 64;
                while (nc <= idx) {
                    nc *= 2;
                }
                int32_t * q = realloc(k->memo, (size_t) nc * sizeof(int32_t));
                if (!q) goto nomem;
                memset(q + k->cap_memo, 0, (size_t) (nc - k->cap_memo) * sizeof(int32_t));
                k->memo = q;
                k->cap_memo = nc;
            }
            if (!k->memo[idx]) {
                k->n_memo++;
            }
            k->memo[idx] = k->stack[k->sp - 1] + 1;
            break;
        }
        case 'h':   // BINGET
        case 'j': { // LONG_BINGET
            int64_t idx;
            if (op == 'h') {
                NEED(1);
                idx = p[pos++];
            } else {
                NEED(4);
                idx = rd32(p + pos);
                pos += 4;
            }
            if (idx >= k->cap_memo || !k->memo[idx]) {
                return ke_err(k->err, KE_STATUS_FORMAT, "%s: pickle memo slot %lld is empty", k->path, (long long) idx);
            }
            PUSH(k->memo[idx] - 1);
            break;
        }
        case 'Q': // BINPERSID
            POP(v);
            v = pk_persistent(k, v);
            if (v < 0) {
                return k->err ? k->err->code : KE_STATUS_FORMAT;
            }
            PUSH(v);
            break;
        case 'R': // REDUCE
            POP(b);
            POP(a);
            v = pk_reduce(k, a, b);
            if (v < 0) {
                return k->err && k->err->code ? k->err->code : KE_STATUS_NOMEM;
            }
            PUSH(v);
            break;
        case 'b': // BUILD: sets attributes (the state dict's _metadata); the state is dropped
            POP(v);
            if (k->sp <= 0) goto underflow;
            break;
        default:
            return ke_err(k->err, KE_STATUS_FORMAT, "%s: unsupported pickle opcode 0x%02x at byte %zu of data.pkl",
                          k->path, op, pos - 1);
        }
    }
truncated:
    return ke_err(k->err, KE_STATUS_FORMAT, "%s: data.pkl is truncated (no STOP)", k->path);
underflow:
    return ke_err(k->err, KE_STATUS_FORMAT, "%s: data.pkl pops more values than it pushed (at byte %zu)", k->path, pos);
nomem:
    return ke_err(k->err, KE_STATUS_NOMEM, "%s: out of memory (or over the limits) unpickling data.pkl", k->path);
}

#undef NEED
#undef POP
#undef PUSH

enum ke_status ke_pth_parse(struct ke_tensor_set * s, unsigned char * file, size_t size, struct ke_error * err)
{
    const char * path = ke_tset_path(s);
    struct zip z;
    enum ke_status st = zip_read(&z, path, file, size, err);
    if (st != KE_STATUS_OK) {
        free(z.e);
        return st;
    }
    // The archive's one folder prefix comes from the entry ending in "data.pkl".
    const struct zip_entry * pkl = NULL;
    for (size_t i = 0; i < z.n; i++) {
        const struct zip_entry * e = &z.e[i];
        if (e->name_len >= 8 && memcmp(e->name + e->name_len - 8, "data.pkl", 8) == 0 &&
            (e->name_len == 8 || e->name[e->name_len - 9] == '/')) {
            if (pkl) {
                free(z.e);
                return ke_err(err, KE_STATUS_FORMAT, "%s: more than one data.pkl in the archive", path);
            }
            pkl = e;
        }
    }
    if (!pkl) {
        free(z.e);
        return ke_err(err, KE_STATUS_FORMAT, "%s: no data.pkl in the archive (not a PyTorch .pth file)", path);
    }
    struct pk k = {
        .path = path, .err = err, .file = file, .z = &z,
        .prefix = pkl->name, .prefix_len = pkl->name_len - 8,
    };
    const struct zip_entry * bo = NULL;
    {
        char nm[600];
        if (k.prefix_len + 9 < sizeof(nm)) {
            memcpy(nm, k.prefix, k.prefix_len);
            memcpy(nm + k.prefix_len, "byteorder", 9);
            bo = zip_find(&z, nm, k.prefix_len + 9);
        }
    }
    if (bo && !(bo->size == 6 && memcmp(file + bo->data, "little", 6) == 0)) {
        free(z.e);
        return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: only little-endian .pth files are supported", path);
    }
    st = pk_run(&k, s, file + pkl->data, (size_t) pkl->size);
    pk_free(&k);
    free(z.e);
    return st;
}

enum ke_status ke_pth_open(struct ke_tensor_set ** out, const char * path, struct ke_error * err)
{
    *out = NULL;
    int fd = ke_file_open_read(path, err);   // refuses FIFOs and devices without blocking
    if (fd < 0) {
        return err ? err->code : KE_STATUS_IO;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size <= 0) {
        close(fd);
        return ke_err(err, KE_STATUS_IO, "%s: not a regular, non-empty file", path);
    }
    size_t size = (size_t) sb.st_size;
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
    enum ke_status st = ke_pth_parse(s, addr, size, err);
    if (st != KE_STATUS_OK) {
        ke_tset_free(s);
        return st;
    }
    *out = s;
    return KE_STATUS_OK;
}
