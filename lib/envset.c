/* envset.c - the environment handed to child programs (see envset.h). */
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "alloc.h"
#include "envset.h"

extern char **environ;

/*
 * The value of entry if it is NAME=value, else NULL: a byte loop, not
 * strncmp, since names that share a first byte (TCP..., SMTP_...) are
 * many here and a call per entry costs more than the compare.
 */
static const char *entry_value(const char *entry, const char *name)
{
	while (*name && *entry == *name)
		entry++, name++;
	return *name == '\0' && *entry == '=' ? entry + 1 : NULL;
}

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
		if (entry_value(e->v[i], name)) {
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

const char *env_get(const char *name)
{
	if (!environ || !*name)
		return NULL;
	for (char **e = environ; *e; e++) {
		const char *v = entry_value(*e, name);
		if (v)
			return v;
	}
	return NULL;
}

const char *env_get_secure(const char *name)
{
	/* AT_SECURE: the kernel's word that this program gained privilege by exec */
	return getauxval(AT_SECURE) ? NULL : env_get(name);
}
