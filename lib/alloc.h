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
/*
 * Room for element n of the array p of *cap elements of size octets,
 * filled up to n: when n == *cap it grows (first elements at first, then
 * doubling) and *cap says so.  p = xgrow(p, &cap, n, sizeof *p, 16);
 * then p[n++] = ....
 */
void *xgrow(void *p, size_t *cap, size_t n, size_t size, size_t first);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
