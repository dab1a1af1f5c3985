// Kinora engine: the CUDA module's copies of the engine helpers it calls (ke_log, ke_err, ke_be_fail,
// tensor conversions), forwarding to the loading engine through struct ke_cuda_host (cuda-module.h).
// The module is built with hidden visibility, so these never interpose on the engine's own.
#include <stdarg.h>
#include <stdio.h>

#include "backends/cuda/cuda-backend.h"
#include "backends/cuda/cuda-module.h"
#include "core/error.h"

static const struct ke_cuda_host * g_host;

int kc_host_set(const struct ke_cuda_host * host)
{
    if (!host || host->abi != KE_CUDA_MODULE_ABI) {
        return -1;
    }
    g_host = host;
    return 0;
}

void ke_log(int level, const char * fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    g_host->log(level, msg);
}

enum ke_status ke_err(struct ke_error * err, enum ke_status code, const char * fmt, ...)
{
    char msg[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return g_host->err(err, code, msg);
}

enum ke_status ke_be_fail(struct ke_backend * be, enum ke_status code, const char * fmt, ...)
{
    char msg[sizeof be->failure.msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return g_host->be_fail(be, code, msg);
}

void ke_convert_to_f32(float * dst, const void * src, enum ke_dtype type, float scale, size_t n)
{
    g_host->convert_to_f32(dst, src, type, scale, n);
}

float * ke_tensor_to_f32_alloc(const struct ke_tensor * t)
{
    return g_host->tensor_to_f32_alloc(t);
}

int64_t ke_tensor_nelements(const struct ke_tensor * t)
{
    return g_host->tensor_nelements(t);
}

size_t ke_dtype_size(enum ke_dtype t)
{
    return g_host->dtype_size(t);
}

uint16_t ke_f32_to_bf16(float f)
{
    return g_host->f32_to_bf16(f);
}
