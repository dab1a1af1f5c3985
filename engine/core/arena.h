// Kinora engine: bump arena for activations. Allocate everything a forward pass needs up front;
// reset between passes; nothing is freed per tensor.
#pragma once

#include <stddef.h>

struct ke_arena {
    unsigned char * base;
    size_t size;
    size_t used;
    size_t peak;
};

int ke_arena_init(struct ke_arena * a, size_t size);   // 0 ok, -1 out of memory
void ke_arena_free(struct ke_arena * a);
void * ke_arena_alloc(struct ke_arena * a, size_t n);   // 64-byte aligned; NULL when full
static inline size_t ke_arena_mark(const struct ke_arena * a) { return a->used; }
static inline void ke_arena_reset(struct ke_arena * a, size_t mark) { a->used = mark; }
