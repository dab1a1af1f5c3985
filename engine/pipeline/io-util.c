// Kinora engine: small helpers for sets of result tensors (evaluators, saved latents).
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/tensor.h"
#include "loaders/loaders.h"
#include "pipeline/io-impl.h"

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
