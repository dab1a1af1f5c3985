// Kinora engine: bump arena for activations.
#include <stdlib.h>

#include "arena.h"

int ke_arena_init(struct ke_arena * a, size_t size)
{
    a->used = a->peak = 0;
    a->size = size;
    a->base = NULL;
    if (size == 0) {
        return 0;
    }
    if (posix_memalign((void **) &a->base, 64, size) != 0) {
        a->base = NULL;
        a->size = 0;
        return -1;
    }
    return 0;
}

void ke_arena_free(struct ke_arena * a)
{
    free(a->base);
    a->base = NULL;
    a->size = a->used = 0;
}

void * ke_arena_alloc(struct ke_arena * a, size_t n)
{
    size_t off = (a->used + 63) & ~(size_t) 63;
    if (off > a->size || n > a->size - off) {
        return NULL;
    }
    a->used = off + n;
    if (a->used > a->peak) {
        a->peak = a->used;
    }
    return a->base + off;
}
