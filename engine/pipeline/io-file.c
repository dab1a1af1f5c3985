// Kinora engine: a small safetensors reader/writer that keeps shapes of any rank (up to 8), for the
// evaluators' IO files (the golden fixtures stack per-step batched latents into 6-D tensors).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/error.h"
#include "core/file.h"
#include "core/tensor.h"
#include "pipeline/io-impl.h"

struct ke_io * ke_io_new(const char * path)
{
    struct ke_io * io = calloc(1, sizeof(*io));
    if (io && !(io->path = strdup(path ? path : ""))) {
        free(io);
        return NULL;
    }
    return io;
}

void ke_io_free(struct ke_io * io)
{
    if (!io) {
        return;
    }
    for (int i = 0; i < io->n; i++) {
        free(io->t[i].name);
        if (!io->file) {
            free(io->t[i].data);
        }
    }
    for (int i = 0; i < 2 * io->n_meta; i++) {
        free(io->meta[i]);
    }
    free(io->meta);
    free(io->t);
    free(io->file);
    free(io->path);
    free(io);
}

static struct ke_io_tensor * io_push(struct ke_io * io)
{
    if (io->n == io->cap) {
        int cap = io->cap ? io->cap * 2 : 32;
        struct ke_io_tensor * t = realloc(io->t, sizeof(*t) * (size_t) cap);
        if (!t) {
            return NULL;
        }
        io->t = t;
        io->cap = cap;
    }
    struct ke_io_tensor * t = &io->t[io->n];
    memset(t, 0, sizeof(*t));
    return t;
}

enum ke_status ke_io_set_meta(struct ke_io * io, const char * key, const char * value)
{
    char ** m = realloc(io->meta, sizeof(char *) * (size_t) (2 * io->n_meta + 2));
    if (!m) {
        return KE_STATUS_NOMEM;
    }
    io->meta = m;
    m[2 * io->n_meta] = strdup(key);
    m[2 * io->n_meta + 1] = strdup(value);
    if (!m[2 * io->n_meta] || !m[2 * io->n_meta + 1]) {
        free(m[2 * io->n_meta]);
        free(m[2 * io->n_meta + 1]);
        return KE_STATUS_NOMEM;
    }
    io->n_meta++;
    return KE_STATUS_OK;
}

enum ke_status ke_io_read(struct ke_io ** out, const char * path, struct ke_error * err)
{
    *out = NULL;
    FILE * f = ke_file_fopen_read(path, err);   // refuses FIFOs and devices without blocking
    if (!f) {
        return err ? err->code : KE_STATUS_IO;
    }
    struct ke_io * io = ke_io_new(path);
    json_object * root = NULL;
    enum ke_status st = KE_STATUS_OK;
    long size = -1;
    if (!io) {
        fclose(f);
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 8 || fseek(f, 0, SEEK_SET) != 0) {
        st = ke_err(err, KE_STATUS_FORMAT, "%s: not a safetensors file (too short)", path);
        goto fail;
    }
    if (!(io->file = malloc((size_t) size))) {
        st = ke_err(err, KE_STATUS_NOMEM, "%s: out of memory (%ld bytes)", path, size);
        goto fail;
    }
    if (fread(io->file, 1, (size_t) size, f) != (size_t) size) {
        st = ke_err(err, KE_STATUS_IO, "%s: read failed", path);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) {
        hlen = (hlen << 8) | io->file[i];
    }
    if (hlen > (uint64_t) size - 8 || hlen < 2) {
        st = ke_err(err, KE_STATUS_FORMAT, "%s: header length %llu does not fit the file (%ld bytes)", path,
                    (unsigned long long) hlen, size);
        goto fail;
    }
    struct json_tokener * tok = json_tokener_new();
    root = tok ? json_tokener_parse_ex(tok, (const char *) io->file + 8, (int) hlen) : NULL;
    if (tok) {
        json_tokener_free(tok);
    }
    if (!root || !json_object_is_type(root, json_type_object)) {
        st = ke_err(err, KE_STATUS_FORMAT, "%s: header is not a JSON object", path);
        goto fail;
    }
    unsigned char * data = io->file + 8 + hlen;
    uint64_t data_len = (uint64_t) size - 8 - hlen;
    json_object_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if (json_object_is_type(val, json_type_object)) {
                json_object_object_foreach(val, mk, mv) {
                    if (json_object_is_type(mv, json_type_string) &&
                        ke_io_set_meta(io, mk, json_object_get_string(mv)) != KE_STATUS_OK) {
                        st = ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
                        goto fail;
                    }
                }
            }
            continue;
        }
        json_object * jd = NULL, * js = NULL, * jo = NULL;
        enum ke_dtype type;
        if (!json_object_object_get_ex(val, "dtype", &jd) || !json_object_object_get_ex(val, "shape", &js) ||
            !json_object_object_get_ex(val, "data_offsets", &jo) || !json_object_is_type(js, json_type_array) ||
            !json_object_is_type(jo, json_type_array) || json_object_array_length(jo) != 2 ||
            ke_dtype_from_name(json_object_get_string(jd), &type) != 0) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: tensor '%s': bad header entry", path, key);
            goto fail;
        }
        int nd = (int) json_object_array_length(js);
        if (nd > KE_IO_MAX_DIMS) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: tensor '%s': %d dimensions (at most %d)", path, key, nd,
                        KE_IO_MAX_DIMS);
            goto fail;
        }
        struct ke_io_tensor * t = io_push(io);
        if (!t || !(t->name = strdup(key))) {
            st = ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
            goto fail;
        }
        io->n++;
        t->type = type;
        t->n_dims = nd;
        t->n = 1;
        for (int d = 0; d < nd; d++) {
            int64_t v = json_object_get_int64(json_object_array_get_idx(js, (size_t) d));
            if (v < 0 || (v > 0 && t->n > (INT64_MAX / 16) / v)) {
                st = ke_err(err, KE_STATUS_FORMAT, "%s: tensor '%s': bad shape", path, key);
                goto fail;
            }
            t->shape[d] = v;
            t->n *= v;
        }
        int64_t b = json_object_get_int64(json_object_array_get_idx(jo, 0));
        int64_t e = json_object_get_int64(json_object_array_get_idx(jo, 1));
        if (b < 0 || e < b || (uint64_t) e > data_len ||
            (uint64_t) (e - b) != (uint64_t) t->n * ke_dtype_size(type)) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: tensor '%s': data offsets [%lld, %lld] do not match its shape "
                        "or the file", path, key, (long long) b, (long long) e);
            goto fail;
        }
        t->data = data + b;
    }
    json_object_put(root);
    fclose(f);
    *out = io;
    return KE_STATUS_OK;
fail:
    if (root) {
        json_object_put(root);
    }
    fclose(f);
    ke_io_free(io);
    return st;
}

const char * ke_io_meta(const struct ke_io * io, const char * key)
{
    for (int i = 0; i < io->n_meta; i++) {
        if (strcmp(io->meta[2 * i], key) == 0) {
            return io->meta[2 * i + 1];
        }
    }
    return NULL;
}

const struct ke_io_tensor * ke_io_get(const struct ke_io * io, const char * name)
{
    for (int i = 0; i < io->n; i++) {
        if (strcmp(io->t[i].name, name) == 0) {
            return &io->t[i];
        }
    }
    return NULL;
}

float * ke_io_get_f32(const struct ke_io * io, const char * name, int64_t n, struct ke_error * err)
{
    const struct ke_io_tensor * t = ke_io_get(io, name);
    if (!t) {
        ke_err(err, KE_STATUS_MISSING, "%s: tensor '%s' is missing", io->path, name);
        return NULL;
    }
    if (n >= 0 && t->n != n) {
        ke_err(err, KE_STATUS_SHAPE, "%s: tensor '%s' has %lld elements, expected %lld", io->path, name,
               (long long) t->n, (long long) n);
        return NULL;
    }
    if (t->type == KE_DTYPE_BOOL) {
        ke_err(err, KE_STATUS_SHAPE, "%s: tensor '%s' is boolean, expected numbers", io->path, name);
        return NULL;
    }
    float * f = malloc(sizeof(float) * (size_t) (t->n ? t->n : 1));
    if (!f) {
        ke_err(err, KE_STATUS_NOMEM, "%s: out of memory reading '%s'", io->path, name);
        return NULL;
    }
    ke_convert_to_f32(f, t->data, (enum ke_dtype) t->type, 1.0f, (size_t) t->n);
    return f;
}

void * ke_io_add(struct ke_io * io, const char * name, int type, int n_dims, const int64_t * shape,
                 struct ke_error * err)
{
    if (io->file || n_dims > KE_IO_MAX_DIMS) {
        ke_err(err, KE_STATUS_INVALID, "%s: cannot add '%s'", io->path, name);
        return NULL;
    }
    struct ke_io_tensor * t = io_push(io);
    int64_t n = 1;
    for (int d = 0; d < n_dims; d++) {
        n *= shape[d];
    }
    size_t bytes = (size_t) n * ke_dtype_size((enum ke_dtype) type);
    void * p = t ? calloc(1, bytes ? bytes : 1) : NULL;
    char * nm = p ? strdup(name) : NULL;
    if (!nm) {
        free(p);
        ke_err(err, KE_STATUS_NOMEM, "%s: out of memory for '%s'", io->path, name);
        return NULL;
    }
    t->name = nm;
    t->type = type;
    t->n_dims = n_dims;
    memcpy(t->shape, shape, sizeof(int64_t) * (size_t) n_dims);
    t->n = n;
    t->data = p;
    io->n++;
    return p;
}

enum ke_status ke_io_write(const struct ke_io * io, const char * path, struct ke_error * err)
{
    json_object * root = json_object_new_object();
    if (!root) {
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    if (io->n_meta > 0) {
        json_object * m = json_object_new_object();
        for (int i = 0; i < io->n_meta; i++) {
            json_object_object_add(m, io->meta[2 * i], json_object_new_string(io->meta[2 * i + 1]));
        }
        json_object_object_add(root, "__metadata__", m);
    }
    uint64_t off = 0;
    for (int i = 0; i < io->n; i++) {
        const struct ke_io_tensor * t = &io->t[i];
        json_object * e = json_object_new_object();
        json_object_object_add(e, "dtype", json_object_new_string(ke_dtype_name((enum ke_dtype) t->type)));
        json_object * sh = json_object_new_array();
        for (int d = 0; d < t->n_dims; d++) {
            json_object_array_add(sh, json_object_new_int64(t->shape[d]));
        }
        json_object_object_add(e, "shape", sh);
        json_object * of = json_object_new_array();
        json_object_array_add(of, json_object_new_int64((int64_t) off));
        off += (uint64_t) t->n * ke_dtype_size((enum ke_dtype) t->type);
        json_object_array_add(of, json_object_new_int64((int64_t) off));
        json_object_object_add(e, "data_offsets", of);
        json_object_object_add(root, t->name, e);
    }
    const char * hdr = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
    size_t hlen = strlen(hdr);
    size_t pad = (8 - hlen % 8) % 8;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE * f = fopen(tmp, "wb");
    enum ke_status st = KE_STATUS_OK;
    if (!f) {
        json_object_put(root);
        return ke_err(err, KE_STATUS_IO, "%s: cannot create", tmp);
    }
    unsigned char len8[8];
    uint64_t hl = hlen + pad;
    for (int i = 0; i < 8; i++) {
        len8[i] = (unsigned char) (hl >> (8 * i));
    }
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(hdr, 1, hlen, f) == hlen && fwrite("        ", 1, pad, f) == pad;
    for (int i = 0; ok && i < io->n; i++) {
        size_t nb = (size_t) io->t[i].n * ke_dtype_size((enum ke_dtype) io->t[i].type);
        ok = fwrite(io->t[i].data, 1, nb, f) == nb;
    }
    json_object_put(root);
    if (fclose(f) != 0 || !ok) {
        remove(tmp);
        return ke_err(err, KE_STATUS_IO, "%s: write failed", path);
    }
    if (rename(tmp, path) != 0) {
        remove(tmp);
        st = ke_err(err, KE_STATUS_IO, "%s: cannot rename the temporary file into place", path);
    }
    return st;
}
