// Kinora engine: safetensors reader (mmap, zero-copy), sharded folders, and writer.
// Format: https://github.com/huggingface/safetensors (8-byte LE header length, JSON header, data).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "core/error.h"
#include "core/file.h"
#include "loaders/loaders.h"

#define KE_ST_MAX_HEADER (100u << 20)   // 100 MiB: far above any real header
#define KE_ST_MAX_META 4096             // __metadata__ entries
#define KE_ST_MAX_INDEX (64u << 20)     // an index of a million tensors is ~60 MiB
#define KE_ST_MAX_CONFIG (1u << 20)     // config.json: a few hundred bytes in practice

// Plain element types only: the block-quantized names ("Q8_0"...) are GGUF's, not safetensors dtypes.
static bool is_float_like(enum ke_dtype t)
{
    return t != KE_DTYPE_COUNT && ke_dtype_block(t) == 1;
}

// Parse one header; tensors point into `file` (which the caller keeps alive).
enum ke_status ke_safetensors_parse(struct ke_tensor_set * s, unsigned char * file, size_t size,
                                    struct ke_error * err)
{
    const char * path = ke_tset_path(s);
    if (size < 8) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: not a safetensors file (%zu bytes, shorter than the 8-byte header length)",
                      path, size);
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) {
        hlen = (hlen << 8) | file[i];
    }
    if (hlen > size - 8 || hlen > KE_ST_MAX_HEADER) {
        return ke_err(err, KE_STATUS_FORMAT, "%s: header length %llu exceeds the file size %zu (truncated or not safetensors)",
                      path, (unsigned long long) hlen, size);
    }
    if (hlen < 2 || file[8] != '{') {
        return ke_err(err, KE_STATUS_FORMAT, "%s: header is not a JSON object (not a safetensors file)", path);
    }
    struct json_tokener * tok = json_tokener_new_ex(64);
    if (!tok) {
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
    }
    json_object * root = json_tokener_parse_ex(tok, (const char *) file + 8, (int) hlen);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    json_tokener_free(tok);
    if (!root || jerr != json_tokener_success || !json_object_is_type(root, json_type_object)) {
        if (root) {
            json_object_put(root);
        }
        return ke_err(err, KE_STATUS_FORMAT, "%s: header is not valid JSON (%s)", path,
                      jerr != json_tokener_success ? json_tokener_error_desc(jerr) : "not an object");
    }
    unsigned char * data = file + 8 + hlen;
    uint64_t data_size = size - 8 - hlen;
    enum ke_status st = KE_STATUS_OK;

    json_object_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_object_is_type(val, json_type_object)) {
                st = ke_err(err, KE_STATUS_FORMAT, "%s: __metadata__ is not an object", path);
                break;
            }
            // metadata is looked up by a linear scan: bound it (real files carry a few dozen entries)
            if (json_object_object_length(val) > KE_ST_MAX_META) {
                st = ke_err(err, KE_STATUS_UNSUPPORTED, "%s: __metadata__ has %d entries (at most %d supported)", path,
                            json_object_object_length(val), KE_ST_MAX_META);
                break;
            }
            json_object_object_foreach(val, mk, mv) {
                if (!json_object_is_type(mv, json_type_string)) {
                    st = ke_err(err, KE_STATUS_FORMAT, "%s: metadata entry '%s' is not a string", path, mk);
                    break;
                }
                if (ke_tset_set_meta(s, mk, json_object_get_string(mv)) < 0) {
                    st = ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
                    break;
                }
            }
            if (st != KE_STATUS_OK) {
                break;
            }
            continue;
        }
        json_object * jd, * js, * jo;
        if (!json_object_is_type(val, json_type_object) ||
            !json_object_object_get_ex(val, "dtype", &jd) || !json_object_is_type(jd, json_type_string) ||
            !json_object_object_get_ex(val, "shape", &js) || !json_object_is_type(js, json_type_array) ||
            !json_object_object_get_ex(val, "data_offsets", &jo) || !json_object_is_type(jo, json_type_array) ||
            json_object_array_length(jo) != 2) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: tensor '%s': header entry needs dtype, shape and data_offsets", path, key);
            break;
        }
        enum ke_dtype type;
        if (ke_dtype_from_name(json_object_get_string(jd), &type) < 0 || !is_float_like(type)) {
            st = ke_err(err, KE_STATUS_UNSUPPORTED, "%s: tensor '%s': unsupported dtype '%s'", path, key,
                        json_object_get_string(jd));
            break;
        }
        size_t nd = json_object_array_length(js);
        if (nd > KE_MAX_DIMS) {
            st = ke_err(err, KE_STATUS_UNSUPPORTED, "%s: tensor '%s': %zu dimensions (at most %d supported)", path, key,
                        nd, KE_MAX_DIMS);
            break;
        }
        int64_t shape[KE_MAX_DIMS];
        uint64_t nelem = 1;
        bool bad = false;
        for (size_t i = 0; i < nd; i++) {
            json_object * e = json_object_array_get_idx(js, i);
            if (!json_object_is_type(e, json_type_int)) {
                bad = true;
                break;
            }
            int64_t v = json_object_get_int64(e);
            if (v < 0 || (v > 0 && nelem > UINT64_MAX / (uint64_t) v / 16)) {
                bad = true;
                break;
            }
            shape[i] = v;
            nelem *= (uint64_t) v;
        }
        if (bad) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: tensor '%s': invalid shape", path, key);
            break;
        }
        json_object * jb = json_object_array_get_idx(jo, 0);
        json_object * je = json_object_array_get_idx(jo, 1);
        if (!json_object_is_type(jb, json_type_int) || !json_object_is_type(je, json_type_int)) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: tensor '%s': data_offsets are not integers", path, key);
            break;
        }
        int64_t b = json_object_get_int64(jb);
        int64_t e = json_object_get_int64(je);
        uint64_t want = nelem * ke_dtype_size(type);
        if (b < 0 || e < b || (uint64_t) e > data_size) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: tensor '%s': data_offsets [%lld, %lld] outside the %llu data bytes (truncated file?)",
                        path, key, (long long) b, (long long) e, (unsigned long long) data_size);
            break;
        }
        if ((uint64_t) (e - b) != want) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: tensor '%s': %lld data bytes for a %s tensor of %llu elements (%llu expected)",
                        path, key, (long long) (e - b), ke_dtype_name(type), (unsigned long long) nelem,
                        (unsigned long long) want);
            break;
        }
        void * p = data + b;
        size_t align = ke_dtype_size(type);
        if (((uintptr_t) p % align) != 0) {
            // Unaligned storage (legal in the format): keep an aligned private copy.
            void * q = malloc(want ? want : 1);
            if (!q || ke_tset_own_malloc(s, q) < 0) {
                free(q);
                st = ke_err(err, KE_STATUS_NOMEM, "%s: out of memory copying tensor '%s'", path, key);
                break;
            }
            memcpy(q, p, want);
            p = q;
        }
        if (!ke_tset_add(s, key, type, (int) nd, shape, p, err)) {
            st = err ? err->code : KE_STATUS_ERROR;
            break;
        }
    }
    json_object_put(root);
    return st;
}

static enum ke_status map_file(const char * path, unsigned char ** addr, size_t * size, struct ke_error * err)
{
    int fd = ke_file_open_read(path, err);   // refuses FIFOs and devices without blocking
    if (fd < 0) {
        return err ? err->code : KE_STATUS_IO;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return ke_err(err, KE_STATUS_IO, "%s: cannot read its size: %s", path, strerror(errno));
    }
    *size = (size_t) st.st_size;
    if (*size == 0) {
        close(fd);
        return ke_err(err, KE_STATUS_FORMAT, "%s: empty file", path);
    }
    void * p = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        return ke_err(err, KE_STATUS_IO, "%s: cannot map: %s", path, strerror(errno));
    }
    *addr = p;
    return KE_STATUS_OK;
}

enum ke_status ke_safetensors_open_file(struct ke_tensor_set ** out, const char * path, struct ke_error * err)
{
    *out = NULL;
    unsigned char * addr = NULL;
    size_t size = 0;
    enum ke_status st = map_file(path, &addr, &size, err);
    if (st != KE_STATUS_OK) {
        return st;
    }
    struct ke_tensor_set * s = ke_tset_new(path);
    if (!s || ke_tset_own_mmap(s, addr, size) < 0) {
        munmap(addr, size);
        ke_tset_free(s);
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
    }
    st = ke_safetensors_parse(s, addr, size, err);
    if (st != KE_STATUS_OK) {
        ke_tset_free(s);
        return st;
    }
    *out = s;
    return KE_STATUS_OK;
}

static char * path_join(const char * dir, const char * name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char * p = malloc(n);
    if (p) {
        snprintf(p, n, "%s/%s", dir, name);
    }
    return p;
}

static char * dir_of(const char * path)
{
    char * d = strdup(path);
    if (!d) {
        return NULL;
    }
    char * slash = strrchr(d, '/');
    if (slash) {
        *slash = 0;
    } else {
        strcpy(d, ".");
    }
    return d;
}

// *.safetensors.index.json: {"metadata": {...}, "weight_map": {name: shard}}
static enum ke_status open_index(struct ke_tensor_set ** out, const char * path, struct ke_error * err)
{
    *out = NULL;
    char * text = NULL;
    enum ke_status rs = ke_file_read_all(path, "safetensors index", KE_ST_MAX_INDEX, &text, NULL, err);
    if (rs != KE_STATUS_OK) {
        return rs;
    }
    json_object * root = json_tokener_parse(text);
    free(text);
    json_object * wm;
    if (!root || !json_object_is_type(root, json_type_object) ||
        !json_object_object_get_ex(root, "weight_map", &wm) || !json_object_is_type(wm, json_type_object)) {
        if (root) {
            json_object_put(root);
        }
        return ke_err(err, KE_STATUS_FORMAT, "%s: not a safetensors index (no weight_map object)", path);
    }
    char * dir = dir_of(path);
    struct ke_tensor_set * all = ke_tset_new(path);
    enum ke_status st = (dir && all) ? KE_STATUS_OK : ke_err(err, KE_STATUS_NOMEM, "out of memory");
    // Open each distinct shard once, then check every mapped name exists in its shard.
    char ** shards = NULL;
    int n_shards = 0;
    json_object_object_foreach(wm, name, jf) {
        (void) name;
        if (st != KE_STATUS_OK) {
            break;
        }
        if (!json_object_is_type(jf, json_type_string)) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: weight_map entry for '%s' is not a file name", path, name);
            break;
        }
        const char * f = json_object_get_string(jf);
        if (strchr(f, '/') || strcmp(f, "..") == 0) {
            st = ke_err(err, KE_STATUS_FORMAT, "%s: shard name '%s' leaves the folder", path, f);
            break;
        }
        int seen = 0;
        for (int i = 0; i < n_shards; i++) {
            seen |= strcmp(shards[i], f) == 0;
        }
        if (!seen) {
            char ** ns = realloc(shards, (size_t) (n_shards + 1) * sizeof(char *));
            if (!ns) {
                st = ke_err(err, KE_STATUS_NOMEM, "out of memory");
                break;
            }
            shards = ns;
            shards[n_shards++] = strdup(f);
        }
    }
    for (int i = 0; i < n_shards && st == KE_STATUS_OK; i++) {
        char * sp = path_join(dir, shards[i]);
        struct ke_tensor_set * part = NULL;
        st = sp ? ke_safetensors_open_file(&part, sp, err) : ke_err(err, KE_STATUS_NOMEM, "out of memory");
        free(sp);
        if (st == KE_STATUS_OK) {
            st = ke_tset_merge(all, part, err);
        }
    }
    if (st == KE_STATUS_OK) {
        json_object_object_foreach(wm, name2, jf2) {
            (void) jf2;
            if (!ke_tset_get(all, name2)) {
                st = ke_err(err, KE_STATUS_MISSING, "%s: tensor '%s' is listed in the index but missing from shard '%s'",
                            path, name2, json_object_get_string(jf2));
                break;
            }
        }
    }
    for (int i = 0; i < n_shards; i++) {
        free(shards[i]);
    }
    free(shards);
    free(dir);
    json_object_put(root);
    if (st != KE_STATUS_OK) {
        ke_tset_free(all);
        return st;
    }
    *out = all;
    return KE_STATUS_OK;
}

static bool ends_with(const char * s, const char * suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

// Put config.json (beside the weights) into the set's "config" metadata unless the file carries one, and
// its path into "config_path" so that config errors name it. A config.json that exists but cannot be read
// is an error: running on defaults would give wrong results without a word.
static enum ke_status attach_config(struct ke_tensor_set * s, const char * dir, struct ke_error * err)
{
    if (ke_tset_meta(s, "config")) {
        return KE_STATUS_OK;
    }
    char * cp = path_join(dir, "config.json");
    if (!cp) {
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    struct stat stt;
    if (lstat(cp, &stt) < 0 && errno == ENOENT) {
        free(cp);
        return KE_STATUS_OK;   // no config.json: the shapes tell the hyper-parameters
    }
    char * buf = NULL;
    enum ke_status st = ke_file_read_all(cp, "config", KE_ST_MAX_CONFIG, &buf, NULL, err);
    if (st == KE_STATUS_OK && (ke_tset_set_meta(s, "config", buf) < 0 || ke_tset_set_meta(s, "config_path", cp) < 0)) {
        st = ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", cp);
    }
    free(buf);
    free(cp);
    return st;
}

enum ke_status ke_safetensors_open(struct ke_tensor_set ** out, const char * path, struct ke_error * err)
{
    *out = NULL;
    struct stat stt;
    if (stat(path, &stt) < 0) {
        return ke_err(err, KE_STATUS_IO, "%s: %s", path, strerror(errno));
    }
    enum ke_status st;
    char * dir = NULL;
    if (S_ISDIR(stt.st_mode)) {
        // a folder: an index if there is one, else its only .safetensors file
        DIR * d = opendir(path);
        if (!d) {
            return ke_err(err, KE_STATUS_IO, "%s: cannot list folder: %s", path, strerror(errno));
        }
        char * index = NULL, * single = NULL;
        int n_single = 0;
        struct dirent * de;
        while ((de = readdir(d))) {
            if (ends_with(de->d_name, ".safetensors.index.json") && !index) {
                index = path_join(path, de->d_name);
            } else if (ends_with(de->d_name, ".safetensors")) {
                n_single++;
                if (!single) {
                    single = path_join(path, de->d_name);
                }
            }
        }
        closedir(d);
        if (index) {
            st = open_index(out, index, err);
        } else if (n_single == 1) {
            st = ke_safetensors_open_file(out, single, err);
        } else {
            st = ke_err(err, KE_STATUS_MISSING, "%s: no *.safetensors.index.json and %d .safetensors files (need one)",
                        path, n_single);
        }
        free(index);
        free(single);
        dir = strdup(path);
    } else {
        st = ends_with(path, ".json") ? open_index(out, path, err) : ke_safetensors_open_file(out, path, err);
        dir = dir_of(path);
    }
    if (st == KE_STATUS_OK && dir && (st = attach_config(*out, dir, err)) != KE_STATUS_OK) {
        ke_tset_free(*out);
        *out = NULL;
    }
    free(dir);
    return st;
}

// --- writer ------------------------------------------------------------------------------------

enum ke_status ke_safetensors_write(const char * path, const struct ke_tensor * const * tensors, int n,
                                    const char * const * meta_kv, int n_meta, struct ke_error * err)
{
    json_object * root = json_object_new_object();
    if (!root) {
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    if (n_meta > 0) {
        json_object * m = json_object_new_object();
        for (int i = 0; i < n_meta; i++) {
            json_object_object_add(m, meta_kv[2 * i], json_object_new_string(meta_kv[2 * i + 1]));
        }
        json_object_object_add(root, "__metadata__", m);
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const struct ke_tensor * t = tensors[i];
        json_object * e = json_object_new_object();
        json_object_object_add(e, "dtype", json_object_new_string(ke_dtype_name(t->type)));
        json_object * sh = json_object_new_array();
        for (int d = t->n_dims - 1; d >= 0; d--) {
            json_object_array_add(sh, json_object_new_int64(t->ne[d]));
        }
        json_object_object_add(e, "shape", sh);
        json_object * of = json_object_new_array();
        json_object_array_add(of, json_object_new_int64((int64_t) off));
        off += ke_tensor_nbytes(t);
        json_object_array_add(of, json_object_new_int64((int64_t) off));
        json_object_object_add(e, "data_offsets", of);
        json_object_object_add(root, t->name, e);
    }
    const char * js = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
    size_t jl = strlen(js);
    size_t padded = (jl + 7) & ~(size_t) 7;   // keep the data 8-byte aligned

    size_t tl = strlen(path) + 16;
    char * tmp = malloc(tl);
    if (!tmp) {
        json_object_put(root);
        return ke_err(err, KE_STATUS_NOMEM, "out of memory");
    }
    snprintf(tmp, tl, "%s.tmp", path);
    FILE * f = fopen(tmp, "wb");
    enum ke_status st = KE_STATUS_OK;
    if (!f) {
        st = ke_err(err, KE_STATUS_IO, "%s: cannot write: %s", tmp, strerror(errno));
    } else {
        unsigned char hl[8];
        for (int i = 0; i < 8; i++) {
            hl[i] = (unsigned char) ((uint64_t) padded >> (8 * i));
        }
        bool ok = fwrite(hl, 1, 8, f) == 8 && fwrite(js, 1, jl, f) == jl;
        for (size_t i = jl; ok && i < padded; i++) {
            ok = fputc(' ', f) != EOF;
        }
        for (int i = 0; ok && i < n; i++) {
            size_t nb = ke_tensor_nbytes(tensors[i]);
            ok = fwrite(tensors[i]->data, 1, nb, f) == nb;
        }
        ok = (fflush(f) == 0) && ok;
        ok = (fsync(fileno(f)) == 0) && ok;
        ok = (fclose(f) == 0) && ok;
        if (!ok) {
            st = ke_err(err, KE_STATUS_IO, "%s: write failed: %s", tmp, strerror(errno));
            unlink(tmp);
        } else if (rename(tmp, path) < 0) {
            st = ke_err(err, KE_STATUS_IO, "%s: cannot rename into place: %s", path, strerror(errno));
            unlink(tmp);
        }
    }
    free(tmp);
    json_object_put(root);
    return st;
}
