// Kinora engine: status strings, error messages and the log callback.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static ke_log_fn g_log_fn;
static void * g_log_user;

const char * ke_status_str(enum ke_status s)
{
    switch (s) {
    case KE_STATUS_OK:          return "ok";
    case KE_STATUS_ABORTED:     return "aborted";
    case KE_STATUS_ERROR:       return "error";
    case KE_STATUS_IO:          return "i/o error";
    case KE_STATUS_FORMAT:      return "bad file format";
    case KE_STATUS_SHAPE:       return "wrong shape";
    case KE_STATUS_MISSING:     return "missing";
    case KE_STATUS_NOMEM:       return "out of memory";
    case KE_STATUS_INVALID:     return "invalid argument";
    case KE_STATUS_UNSUPPORTED: return "unsupported";
    }
    return "unknown status";
}

const char * ke_version(void)
{
    return "0.1.0";
}

enum ke_status ke_err(struct ke_error * err, enum ke_status code, const char * fmt, ...)
{
    if (err && err->code == KE_STATUS_OK) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

void ke_err_prefix(struct ke_error * err, const char * fmt, ...)
{
    if (!err || err->code == KE_STATUS_OK) {
        return;
    }
    char pre[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof(pre), fmt, ap);
    va_end(ap);
    size_t pl = strlen(pre);
    size_t ml = strnlen(err->msg, sizeof(err->msg) - 1);
    if (pl + ml >= sizeof(err->msg)) {
        ml = sizeof(err->msg) - 1 - pl;   // pl < 512 < sizeof(msg)
    }
    memmove(err->msg + pl, err->msg, ml);
    memcpy(err->msg, pre, pl);
    err->msg[pl + ml] = 0;
}

void ke_log_set(ke_log_fn fn, void * user_data)
{
    g_log_fn = fn;
    g_log_user = user_data;
}

void ke_log(int level, const char * fmt, ...)
{
    if (!g_log_fn) {
        return;
    }
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    g_log_fn(level, buf, g_log_user);
}

void ke_assert_fail(const char * file, int line, const char * expr)
{
    fprintf(stderr, "kinora engine: internal error at %s:%d: %s\n", file, line, expr);
    abort();
}
