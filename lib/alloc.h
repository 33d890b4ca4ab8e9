/*
 * alloc.h - allocation that fails loudly: on exhaustion the program dies
 * with exit 111 ("out of memory") instead of limping on with NULL.
 * Programs whose exit code is a protocol (queue-inject: 51) use plain
 * malloc and map the failure themselves.
 */
#ifndef SLUICE_ALLOC_H
#define SLUICE_ALLOC_H
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
void *xreallocarray(void *p, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
