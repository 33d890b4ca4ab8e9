/* str.c - growable byte strings (see str.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "die.h"
#include "str.h"

void str_ready(struct str *sa, size_t more)
{
	if (more > (size_t)-1 - sa->len - 1)
		die_nomem();
	size_t need = sa->len + more + 1;
	if (need <= sa->cap)
		return;
	size_t cap = sa->cap ? sa->cap : 64;
	while (cap < need)
		cap = cap > (size_t)-1 / 2 ? need : cap * 2;
	sa->s = xrealloc(sa->s, cap);
	sa->cap = cap;
}

void str_catb(struct str *sa, const void *b, size_t n)
{
	str_ready(sa, n);
	if (n)
		memcpy(sa->s + sa->len, b, n);
	sa->len += n;
	sa->s[sa->len] = '\0';
}

void str_cats(struct str *sa, const char *s)
{
	str_catb(sa, s, strlen(s));
}

void str_catc(struct str *sa, char c)
{
	str_ready(sa, 1);
	sa->s[sa->len++] = c;
	sa->s[sa->len] = '\0';
}

void str_vcatf(struct str *sa, const char *fmt, va_list ap)
{
	/*
	 * Format once into the room there is (at least 64 bytes, which most
	 * pieces fit), and again only when it did not fit: formatting is a
	 * good part of what the per-message programs do.
	 */
	str_ready(sa, 64);
	va_list cp;
	va_copy(cp, ap);
	size_t room = sa->cap - sa->len;
	int n = vsnprintf(sa->s + sa->len, room, fmt, cp);
	va_end(cp);
	if (n < 0)
		die(EXIT_SYS, "unable to format string");
	if ((size_t)n >= room) {
		str_ready(sa, (size_t)n);
		vsnprintf(sa->s + sa->len, (size_t)n + 1, fmt, ap);
	}
	sa->len += (size_t)n;
}

void str_catf(struct str *sa, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	str_vcatf(sa, fmt, ap);
	va_end(ap);
}

void str_copyb(struct str *sa, const void *b, size_t n)
{
	sa->len = 0;
	str_catb(sa, b, n);
}

void str_copys(struct str *sa, const char *s)
{
	str_copyb(sa, s, strlen(s));
}

void str_truncate(struct str *sa, size_t len)
{
	if (len < sa->len) {
		sa->len = len;
		sa->s[len] = '\0';
	}
}

const char *str_c(struct str *sa)
{
	if (!sa->s)
		str_ready(sa, 0), sa->s[0] = '\0';
	return sa->s;
}

void str_lower(struct str *sa)
{
	for (size_t i = 0; i < sa->len; i++)
		sa->s[i] = (char)tolower((unsigned char)sa->s[i]);
}

void str_free(struct str *sa)
{
	free(sa->s);
	sa->s = NULL;
	sa->len = sa->cap = 0;
}
