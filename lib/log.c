/* log.c - key=value event lines on stderr (see log.h). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "bio.h"
#include "log.h"
#include "str.h"

/* a byte that would let a bare value end its field or start another */
static int special(unsigned char c)
{
	return c <= ' ' || c == 0x7f || c == '"' || c == '=' || c == '\\';
}

/* s as it goes between double quotes: \" \\ and \xHH for control bytes */
static void escape(struct str *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			str_catf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			str_catf(out, "\\x%02x", c);
		else
			str_catc(out, (char)c);
	}
}

/* the field ended: quote its value (from value on) if an argument made it need that */
static void finish_field(struct str *line, size_t value, int needs)
{
	if (!needs)
		return;
	struct str raw = STR_INIT;
	str_copyb(&raw, line->s + value, line->len - value);
	str_truncate(line, value);
	str_catc(line, '"');
	escape(line, raw.s, raw.len);
	str_catc(line, '"');
	str_free(&raw);
}

/* v in decimal after a '-' if negative: a plain %d, %ld, %zu... without printf */
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

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral" /* spec is one checked conversion of the caller's format */
/*
 * The conversion at *pp ('%'): its text into out, *string set for %s, *pp
 * moved past it.  -1 for one log_line does not know (then no argument is
 * taken, since its type is unknown).
 */
static int convert(const char **pp, va_list *ap, struct str *out, int *string)
{
	const char *p = *pp + 1;
	char spec[24];
	size_t n = 0;
	spec[n++] = '%';
	while (*p && strchr("-+ #0123456789.", *p) && n < 16)
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
	if (!conv || !strchr("diuxXocsp", conv))
		return -1;
	spec[n++] = *p++;
	spec[n] = '\0';
	*pp = p;
	*string = conv == 's' || conv == 'c';
	if (conv == 's') {
		const char *s = va_arg(*ap, const char *);
		if (n == 2)
			str_cats(out, s ? s : "(null)"); /* plain %s, the usual one: no printf */
		else
			str_catf(out, spec, s ? s : "(null)");
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
		str_catf(out, spec, va_arg(*ap, void *));
	} else if (conv == 'c') {
		str_catf(out, spec, va_arg(*ap, int));
	} else if (conv == 'd' || conv == 'i') {
		switch (len) {
		case 0: str_catf(out, spec, va_arg(*ap, int)); break;
		case 1: str_catf(out, spec, va_arg(*ap, long)); break;
		case 2: str_catf(out, spec, va_arg(*ap, long long)); break;
		case 3: str_catf(out, spec, va_arg(*ap, ssize_t)); break;
		case 4: str_catf(out, spec, va_arg(*ap, intmax_t)); break;
		default: str_catf(out, spec, va_arg(*ap, ptrdiff_t)); break;
		}
	} else {
		switch (len) {
		case 0: str_catf(out, spec, va_arg(*ap, unsigned)); break;
		case 1: str_catf(out, spec, va_arg(*ap, unsigned long)); break;
		case 2: str_catf(out, spec, va_arg(*ap, unsigned long long)); break;
		case 3: str_catf(out, spec, va_arg(*ap, size_t)); break;
		case 4: str_catf(out, spec, va_arg(*ap, uintmax_t)); break;
		default: str_catf(out, spec, va_arg(*ap, ptrdiff_t)); break;
		}
	}
	return 0;
}
#pragma GCC diagnostic pop

void log_vformat(struct str *line, const char *fmt, va_list ap)
{
	struct str arg = STR_INIT;
	size_t value = line->len; /* where this field's value starts: after its first '=' */
	int keyed = 0, quoted = 0, needs = 0;
	va_list aq;
	va_copy(aq, ap);
	for (const char *p = fmt; *p;) {
		if (*p == '%' && p[1] != '%') {
			int string = 0;
			str_copys(&arg, "");
			if (convert(&p, &aq, &arg, &string) < 0) {
				str_cats(line, "(bad log format)");
				break;
			}
			if (quoted) {
				escape(line, arg.s, arg.len);
				continue;
			}
			for (size_t i = 0; string && i < arg.len; i++)
				needs |= special((unsigned char)arg.s[i]);
			str_catb(line, arg.s, arg.len);
			continue;
		}
		char c = *p;
		p += c == '%' ? 2 : 1;
		if (c == ' ' && !quoted) {
			finish_field(line, value, needs);
			value = line->len + 1;
			keyed = needs = 0;
		} else if (c == '=' && !keyed && !quoted) {
			value = line->len + 1;
			keyed = 1;
		} else if (c == '"') {
			quoted = !quoted;
		}
		str_catc(line, c);
	}
	va_end(aq);
	finish_field(line, value, needs);
	str_free(&arg);
}

void log_line(const char *fmt, ...)
{
	struct str line = STR_INIT;
	str_cats(&line, "prog=");
	str_cats(&line, program_invocation_short_name);
	str_cats(&line, " pid=");
	cat_dec(&line, (unsigned long long)getpid(), 0);
	str_catc(&line, ' ');
	va_list ap;
	va_start(ap, fmt);
	log_vformat(&line, fmt, ap);
	va_end(ap);
	str_catc(&line, '\n');
	(void)fd_write_all(2, line.s, line.len); /* a dead log must not stop mail */
	str_free(&line);
}
