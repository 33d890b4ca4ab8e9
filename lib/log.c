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
	for (size_t i = 0; i < n;) {
		size_t run = i;
		while (run < n && s[run] != '"' && s[run] != '\\' && (unsigned char)s[run] >= 0x20 && s[run] != 0x7f)
			run++;
		str_catb(out, s + i, run - i);
		if (run == n)
			break;
		unsigned char c = (unsigned char)s[run];
		if (c == '"' || c == '\\')
			str_catf(out, "\\%c", c);
		else
			str_catf(out, "\\x%02x", c);
		i = run + 1;
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

void log_vformat(struct str *line, const char *fmt, va_list ap)
{
	struct str arg = STR_INIT;
	size_t value = line->len; /* where this field's value starts: after its first '=' */
	int keyed = 0, quoted = 0, needs = 0;
	va_list aq;
	va_copy(aq, ap);
	for (const char *p = fmt; *p;) {
		if (*p == '%' && p[1] != '%') {
			/* between the format's quotes an argument is escaped; elsewhere it goes in as it is */
			int string = 0;
			size_t at = line->len;
			arg.len = 0;
			if (str_catconv(quoted ? &arg : line, &p, &aq, &string) < 0) {
				str_truncate(line, at);
				str_cats(line, "(bad log format)");
				break;
			}
			if (quoted)
				escape(line, arg.s, arg.len);
			for (size_t i = at; string && !quoted && i < line->len; i++)
				needs |= special((unsigned char)line->s[i]);
			continue;
		}
		/* the format's own text up to the next byte that matters, at once */
		const char *run = p;
		while (*run && *run != '%' && *run != ' ' && *run != '=' && *run != '"')
			run++;
		if (run > p) {
			str_catb(line, p, (size_t)(run - p));
			p = run;
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
	str_ready(&line, 255); /* most lines fit: no growing on the way */
	str_cats(&line, "prog=");
	str_cats(&line, program_invocation_short_name);
	str_cats(&line, " pid=");
	str_catu(&line, (unsigned long long)getpid());
	str_catc(&line, ' ');
	va_list ap;
	va_start(ap, fmt);
	log_vformat(&line, fmt, ap);
	va_end(ap);
	str_catc(&line, '\n');
	(void)fd_write_all(2, line.s, line.len); /* a dead log must not stop mail */
	str_free(&line);
}
