/*
 * heap.h - the allocator the musl-linked programs use in place of musl's
 * (heap.c says why).  The same rules as malloc(3): heap_alloc and
 * heap_calloc return NULL with errno ENOMEM on failure, heap_realloc keeps
 * the old block then, heap_free(NULL) does nothing.  A bad or double free
 * aborts.  Not thread-safe.
 */
#ifndef HEAP_H
#define HEAP_H

#include <stddef.h>

void *heap_alloc(size_t n);
void *heap_calloc(size_t k, size_t n);
void *heap_realloc(void *p, size_t n);
void heap_free(void *p);
/* how many bytes the block p can hold */
size_t heap_usable(void *p);

#endif
