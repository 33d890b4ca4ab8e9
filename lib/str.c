/* str.c - growable byte strings (see str.h). */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

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

/*
 * printf's way, for what str_catconv does not do itself: format once into
 * the room there is (at least 64 bytes, which most pieces fit), and again
 * only when it did not fit.
 */
static void vcatf_libc(struct str *sa, const char *fmt, va_list ap)
{
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

static void catf_libc(struct str *sa, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vcatf_libc(sa, fmt, ap);
	va_end(ap);
}

/* v in decimal after a '-' if negative */
static void cat_dec(struct str *out, unsigned long long v, int negative)
{
	char buf[24];
	size_t i = sizeof buf;
	do
		buf[--i] = (char)('0' + v % 10);
	while (v /= 10);
	if (negative)
		buf[--i] = '-';
	str_catb(out, buf + i, sizeof buf - i);
}

void str_catu(struct str *sa, unsigned long long v)
{
	cat_dec(sa, v, 0);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral" /* spec is one checked conversion of the caller's format */
int str_catconv(struct str *out, const char **pp, va_list *ap, int *string)
{
	const char *p = *pp + 1;
	char spec[24];
	size_t n = 0;
	spec[n++] = '%';
	while (n < 16 && (*p == '-' || *p == '+' || *p == ' ' || *p == '#' || *p == '.' || (*p >= '0' && *p <= '9')))
		spec[n++] = *p++;
	int plain = n == 1; /* no flag, width or precision */
	int len = 0; /* 0 int, 1 long, 2 long long, 3 size_t, 4 intmax_t, 5 ptrdiff_t */
	if (*p == 'h') {
		plain = 0;
		spec[n++] = *p++;
		if (*p == 'h')
			spec[n++] = *p++;
	} else if (*p == 'l') {
		spec[n++] = *p++;
		len = 1;
		if (*p == 'l') {
			spec[n++] = *p++;
			len = 2;
		}
	} else if (*p == 'z' || *p == 'j' || *p == 't') {
		len = *p == 'z' ? 3 : *p == 'j' ? 4 : 5;
		spec[n++] = *p++;
	}
	char conv = *p;
	switch (conv) {
	case 'd': case 'i': case 'u': case 'x': case 'X': case 'o': case 'c': case 's': case 'p':
		break;
	default:
		return -1;
	}
	spec[n++] = *p++;
	spec[n] = '\0';
	*pp = p;
	*string = conv == 's' || conv == 'c';
	if (conv == 's') {
		const char *s = va_arg(*ap, const char *);
		if (n == 2)
			str_cats(out, s ? s : "(null)"); /* plain %s, the usual one: no printf */
		else
			catf_libc(out, spec, s ? s : "(null)");
	} else if (plain && (conv == 'd' || conv == 'i') && len <= 3) {
		/* the usual numbers go without printf, as plain %s does */
		long long v = len == 0 ? va_arg(*ap, int)
			      : len == 1 ? va_arg(*ap, long)
			      : len == 2 ? va_arg(*ap, long long)
					 : va_arg(*ap, ssize_t);
		cat_dec(out, v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v, v < 0);
	} else if (plain && conv == 'u' && len <= 3) {
		unsigned long long v = len == 0 ? va_arg(*ap, unsigned)
				       : len == 1 ? va_arg(*ap, unsigned long)
				       : len == 2 ? va_arg(*ap, unsigned long long)
						  : va_arg(*ap, size_t);
		cat_dec(out, v, 0);
	} else if (conv == 'p') {
		catf_libc(out, spec, va_arg(*ap, void *));
	} else if (conv == 'c') {
		int ch = va_arg(*ap, int);
		if (n == 2)
			str_catc(out, (char)ch);
		else
			catf_libc(out, spec, ch);
	} else if (conv == 'd' || conv == 'i') {
		switch (len) {
		case 0: catf_libc(out, spec, va_arg(*ap, int)); break;
		case 1: catf_libc(out, spec, va_arg(*ap, long)); break;
		case 2: catf_libc(out, spec, va_arg(*ap, long long)); break;
		case 3: catf_libc(out, spec, va_arg(*ap, ssize_t)); break;
		case 4: catf_libc(out, spec, va_arg(*ap, intmax_t)); break;
		default: catf_libc(out, spec, va_arg(*ap, ptrdiff_t)); break;
		}
	} else {
		switch (len) {
		case 0: catf_libc(out, spec, va_arg(*ap, unsigned)); break;
		case 1: catf_libc(out, spec, va_arg(*ap, unsigned long)); break;
		case 2: catf_libc(out, spec, va_arg(*ap, unsigned long long)); break;
		case 3: catf_libc(out, spec, va_arg(*ap, size_t)); break;
		case 4: catf_libc(out, spec, va_arg(*ap, uintmax_t)); break;
		default: catf_libc(out, spec, va_arg(*ap, ptrdiff_t)); break;
		}
	}
	return 0;
}
#pragma GCC diagnostic pop

/*
 * Plain %s and integers without printf (musl's costs a thousand
 * instructions a call, and the per-message programs make dozens); the
 * rest of the format goes to vsnprintf from the first conversion
 * str_catconv does not know (a '*' width, a float), with the arguments
 * still to come.
 */
void str_vcatf(struct str *sa, const char *fmt, va_list ap)
{
	va_list aq;
	va_copy(aq, ap);
	const char *p = fmt;
	for (;;) {
		const char *pct = p;
		while (*pct && *pct != '%') /* formats are short: no strchr call */
			pct++;
		if (pct > p)
			str_catb(sa, p, (size_t)(pct - p));
		if (!*pct)
			break;
		if (pct[1] == '%') {
			str_catc(sa, '%');
			p = pct + 2;
			continue;
		}
		p = pct;
		int string;
		if (str_catconv(sa, &p, &aq, &string) < 0) {
			vcatf_libc(sa, p, aq);
			break;
		}
	}
	va_end(aq);
	str_ready(sa, 0); /* the NUL after an empty result */
	sa->s[sa->len] = '\0';
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
