// Kinora engine: the backend failure record shared by every backend (backend.h).
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"
#include "core/error.h"
#include "core/pages.h"
#include "core/tensor.h"

enum ke_status ke_be_fail(struct ke_backend * be, enum ke_status code, const char * fmt, ...)
{
    if (be->failure.code != KE_STATUS_OK) {
        return code;   // the first failure is the one that explains the rest
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(be->failure.msg, sizeof be->failure.msg, fmt, ap);
    va_end(ap);
    be->failure.code = code;
    ke_log(0, "%s backend: %s", be->ops->name, be->failure.msg);
    return code;
}

enum ke_status ke_be_status(struct ke_backend * be, struct ke_error * err)
{
    if (be->ops->status) {
        be->ops->status(be);
    }
    enum ke_status code = be->failure.code;
    if (code != KE_STATUS_OK) {
        ke_err(err, code, "%s backend: %s", be->ops->name, be->failure.msg);
        memset(&be->failure, 0, sizeof be->failure);
    }
    return code;
}

void ke_be_linear_drop_source(struct ke_backend * be, const struct ke_linear * l)
{
    if (be->ops->set_memory && l->w && l->w->data) {
        ke_pages_release(l->w->data, ke_tensor_nbytes(l->w));
    }
}

enum ke_status ke_be_linear_check(struct ke_backend * be, const struct ke_tensor * w, const char * path,
                                  struct ke_error * err)
{
    const enum ke_dtype t = w->type;
    const bool plain = t == KE_DTYPE_F32 || t == KE_DTYPE_F16 || t == KE_DTYPE_BF16 || t == KE_DTYPE_F8_E4M3;
    if (be->ops->linear_takes ? be->ops->linear_takes(be, t) : plain) {
        return KE_STATUS_OK;
    }
    return ke_err(err, KE_STATUS_UNSUPPORTED, "%s: tensor '%s' is stored as %s, which the %s backend cannot run yet "
                  "(use the CPU backend, or an F16/BF16/fp8 file)", path, w->name ? w->name : "?", ke_dtype_name(t),
                  be->ops->name);
}

const char * ke_be_mem_note(struct ke_backend * be, char * buf, size_t n)
{
    if (n) {
        buf[0] = 0;
    }
    if (!be->ops->memory || n == 0) {
        return buf;
    }
    size_t budget = 0, in_use = 0, peak = 0;
    be->ops->memory(be, &budget, &in_use, &peak);
    if (budget) {
        snprintf(buf, n, " (device budget %.2f GiB, %.2f GiB in use)", (double) budget / 1073741824.0,
                 (double) in_use / 1073741824.0);
    }
    return buf;
}

float * ke_be_upload_tensor_f32(struct ke_backend * be, const struct ke_tensor * t)
{
    float * host = ke_tensor_to_f32_alloc(t);
    const size_t n = (size_t) ke_tensor_nelements(t) * sizeof(float);
    float * dev = host ? ke_be_alloc(be, n) : NULL;
    if (dev) {
        be->ops->upload(be, dev, host, n);
    }
    free(host);
    return dev;
}
