/* alloc.c - allocation wrappers that die on failure (see alloc.h). */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "die.h"

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die_nomem();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		die_nomem();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		die_nomem();
	return q;
}

void *xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > (size_t)-1 / size)
		die_nomem();
	return xrealloc(p, n * size);
}

void *xgrow(void *p, size_t *cap, size_t n, size_t size, size_t first)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : first;
	return xreallocarray(p, *cap, size);
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		die_nomem();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		die_nomem();
	return p;
}
