/* envset.c - the environment handed to child programs (see envset.h). */
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "envset.h"

extern char **environ;

static void grow(struct envset *e, size_t need)
{
	if (need <= e->cap)
		return;
	size_t cap = e->cap ? e->cap * 2 : 32;
	if (cap < need)
		cap = need;
	e->v = xreallocarray(e->v, cap, sizeof *e->v);
	e->own = xrealloc(e->own, cap);
	e->cap = cap;
}

void envset_init(struct envset *e)
{
	size_t n = 0;
	while (environ && environ[n])
		n++;
	e->v = NULL;
	e->own = NULL;
	e->n = e->cap = 0;
	grow(e, n + 1);
	for (size_t i = 0; i < n; i++) {
		e->v[i] = environ[i];
		e->own[i] = 0;
	}
	e->v[n] = NULL;
	e->n = n;
	environ = e->v;
}

void envset_put(struct envset *e, const char *name, const char *value)
{
	size_t len = strlen(name), k = 0;
	for (size_t i = 0; i < e->n; i++) {
		/* the first byte first: most names differ there, without a call */
		if (e->v[i][0] == name[0] && strncmp(e->v[i], name, len) == 0 && e->v[i][len] == '=') {
			if (e->own[i])
				free(e->v[i]);
			continue;
		}
		e->v[k] = e->v[i];
		e->own[k++] = e->own[i];
	}
	e->n = k;
	if (value && *value) {
		size_t vlen = strlen(value);
		grow(e, e->n + 2);
		char *s = xmalloc(len + 1 + vlen + 1);
		memcpy(s, name, len);
		s[len] = '=';
		memcpy(s + len + 1, value, vlen + 1);
		e->v[e->n] = s;
		e->own[e->n++] = 1;
	}
	e->v[e->n] = NULL;
	environ = e->v; /* grow may have moved it */
}
