// Kinora engine: error and log helpers shared by every engine file.
#pragma once

#include <stdarg.h>
#include "ke.h"

#if defined(__GNUC__)
#define KE_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define KE_PRINTF(a, b)
#endif

// Set err (if not NULL) to code + formatted message; returns code so callers can `return ke_err(...)`.
// An already-set error is kept (the first, most specific message wins) unless err->code is OK.
enum ke_status ke_err(struct ke_error * err, enum ke_status code, const char * fmt, ...) KE_PRINTF(3, 4);
// Prefix an existing message with context ("loading X: ").
void ke_err_prefix(struct ke_error * err, const char * fmt, ...) KE_PRINTF(2, 3);

void ke_log(int level, const char * fmt, ...) KE_PRINTF(2, 3);

// Internal invariant check (never for input validation).
#define KE_ASSERT(x) do { if (!(x)) ke_assert_fail(__FILE__, __LINE__, #x); } while (0)
_Noreturn void ke_assert_fail(const char * file, int line, const char * expr);
