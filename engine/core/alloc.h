// Kinora engine: the allocation wrappers. engine/meson.build force-includes this header into every
// engine source (before any system header), so each malloc/calloc/realloc/posix_memalign/strdup of the
// engine's own code goes through core/alloc.c, where a test can make one of them fail. Allocations made
// inside other libraries (OpenBLAS, oneDNN, json-c, GLib in the apps) are not counted.
//
// Fault injection (tests only; both read once, at the first allocation):
//   KINORA_FAIL_ALLOC=k      the k-th engine allocation of the process (1-based) returns NULL; later
//                            ones succeed, so the test sees whether the failure was handled and recovered
//   KINORA_ALLOC_LOG=path    append "index bytes caller" for every engine allocation to path (to pick k;
//                            the caller's address for addr2line)
#pragma once

#include <stddef.h>

void * ke_malloc(size_t n);
void * ke_calloc(size_t n, size_t size);
void * ke_realloc(void * p, size_t n);
int ke_posix_memalign(void ** p, size_t align, size_t n);
char * ke_strdup(const char * s);
char * ke_strndup(const char * s, size_t n);

// In-process control for tests: fail(n, user) is asked before every engine allocation of n bytes and
// returns nonzero to make it fail (NULL: none; the environment settings above then apply again).
typedef int (*ke_alloc_fail_fn)(size_t n, void * user);
void ke_set_alloc_hook(ke_alloc_fail_fn fail, void * user);

#ifndef KE_ALLOC_NO_MACROS
#define malloc(n) ke_malloc(n)
#define calloc(n, size) ke_calloc(n, size)
#define realloc(p, n) ke_realloc(p, n)
#define posix_memalign(p, align, n) ke_posix_memalign(p, align, n)
#define strdup(s) ke_strdup(s)
#define strndup(s, n) ke_strndup(s, n)
#endif
