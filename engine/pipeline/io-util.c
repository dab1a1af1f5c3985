// Kinora engine: small helpers for sets of result tensors (evaluators, saved latents).
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/tensor.h"
#include "loaders/loaders.h"
#include "pipeline/io-impl.h"

void * ke_out_add(struct ke_tensor_set * s, const char * name, int type, int n_dims, const int64_t * shape,
                  struct ke_error * err)
{
    int64_t n = 1;
    for (int d = 0; d < n_dims; d++) {
        if (shape[d] < 0 || (shape[d] > 0 && n > INT64_MAX / 8 / shape[d])) {
            ke_err(err, KE_STATUS_NOMEM, "%s: impossible tensor size", name);
            return NULL;
        }
        n *= shape[d];
    }
    size_t bytes = (size_t) n * ke_dtype_size((enum ke_dtype) type);
    void * p = calloc(1, bytes ? bytes : 1);
    if (!p) {
        ke_err(err, KE_STATUS_NOMEM, "%s: out of memory (%zu bytes)", name, bytes);
        return NULL;
    }
    if (ke_tset_own_malloc(s, p) != 0) {
        free(p);
        ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", name);
        return NULL;
    }
    if (!ke_tset_add(s, name, (enum ke_dtype) type, n_dims, shape, p, err)) {
        return NULL;
    }
    return p;
}

enum ke_status ke_out_write(const struct ke_tensor_set * s, const char * path, const char * const * meta_kv,
                            int n_meta, struct ke_error * err)
{
    int n = ke_tset_count(s);
    const struct ke_tensor ** ts = malloc(sizeof(*ts) * (size_t) (n > 0 ? n : 1));
    if (!ts) {
        return ke_err(err, KE_STATUS_NOMEM, "%s: out of memory", path);
    }
    for (int i = 0; i < n; i++) {
        ts[i] = ke_tset_at(s, i);
    }
    enum ke_status st = ke_safetensors_write(path, ts, n, meta_kv, n_meta, err);
    free(ts);
    return st;
}

float * ke_io_f32(const struct ke_tensor_set * s, const char * name, int64_t n, int64_t * n_out,
                  struct ke_error * err)
{
    const struct ke_tensor * t = ke_tset_get(s, name);
    if (!t) {
        ke_err(err, KE_STATUS_MISSING, "%s: tensor '%s' is missing", ke_tset_path(s), name);
        return NULL;
    }
    int64_t ne = ke_tensor_nelements(t);
    if (n >= 0 && ne != n) {
        char buf[96];
        ke_err(err, KE_STATUS_SHAPE, "%s: tensor '%s' has %lld elements %s, expected %lld", ke_tset_path(s), name,
               (long long) ne, ke_tensor_shape_str(t, buf, sizeof(buf)), (long long) n);
        return NULL;
    }
    if (!ke_tensor_is_contiguous(t)) {
        ke_err(err, KE_STATUS_FORMAT, "%s: tensor '%s' is not contiguous", ke_tset_path(s), name);
        return NULL;
    }
    float * f = ke_tensor_to_f32_alloc(t);
    if (!f) {
        ke_err(err, KE_STATUS_NOMEM, "%s: out of memory reading '%s'", ke_tset_path(s), name);
        return NULL;
    }
    if (n_out) {
        *n_out = ne;
    }
    return f;
}
