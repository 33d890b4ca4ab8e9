/* header.c - RFC 5322 header sections in memory (see header.h). */
#include <string.h>
#include <strings.h>

#include "header.h"

/* RFC 5322 §3.6.8: ftext is printable US-ASCII except ':' */
static int ftext(unsigned char c)
{
	return c > 32 && c < 127 && c != ':';
}

int header_valid_name(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!ftext((unsigned char)s[i]))
			return 0;
	return len > 0;
}

int header_is_field(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len && ftext((unsigned char)s[i]))
		i++;
	return i > 0 && i < len && s[i] == ':';
}

/* end of the line at s[i] (index of its LF + 1), or len when it has none */
static size_t line_end(const char *s, size_t len, size_t i)
{
	const char *lf = memchr(s + i, '\n', len - i);
	return lf ? (size_t)(lf - s) + 1 : len;
}

size_t header_len(const char *msg, size_t len)
{
	size_t i = 0, done = 0;
	int in_field = 0;
	while (i < len) {
		size_t e = line_end(msg, len, i);
		if (e == len && msg[e - 1] != '\n')
			break; /* a partial line: maybe cut off, so not counted */
		if (msg[i] == ' ' || msg[i] == '\t') {
			if (!in_field)
				break;
		} else if (header_is_field(msg + i, e - i)) {
			in_field = 1;
		} else {
			break;
		}
		i = e;
		done = i;
	}
	return done;
}

int header_next(const char *hdr, size_t len, size_t *pos, struct header_field *f)
{
	size_t i = *pos;
	if (i >= len || !header_is_field(hdr + i, len - i))
		return 0;
	const char *colon = memchr(hdr + i, ':', len - i);
	f->raw = hdr + i;
	f->name = hdr + i;
	f->namelen = (size_t)(colon - f->name);
	size_t e = line_end(hdr, len, i);
	while (e < len && (hdr[e] == ' ' || hdr[e] == '\t'))
		e = line_end(hdr, len, e);
	f->rawlen = e - i;
	f->value = colon + 1;
	f->valuelen = (size_t)(hdr + e - f->value);
	if (f->valuelen && f->value[f->valuelen - 1] == '\n')
		f->valuelen--;
	*pos = e;
	return 1;
}

int header_name_is(const struct header_field *f, const char *name)
{
	return strlen(name) == f->namelen && strncasecmp(f->name, name, f->namelen) == 0;
}

int header_find(const char *hdr, size_t len, const char *name, struct header_field *f)
{
	size_t pos = 0;
	while (header_next(hdr, len, &pos, f))
		if (header_name_is(f, name))
			return 1;
	return 0;
}

void header_unfold(const char *v, size_t n, struct str *out)
{
	str_copyb(out, "", 0);
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '\r' || v[i] == '\n')
			continue;
		str_catc(out, v[i] == '\t' ? ' ' : v[i]);
	}
	size_t a = 0, b = out->len;
	while (a < b && out->s[a] == ' ')
		a++;
	while (b > a && out->s[b - 1] == ' ')
		b--;
	memmove(out->s, out->s + a, b - a);
	str_truncate(out, b - a);
}

/* emit one collected address: the angle part when there was one */
static void emit(struct str *plain, struct str *angle, int have_angle,
		 void (*fn)(void *, const char *, size_t), void *arg)
{
	struct str *a = have_angle ? angle : plain;
	size_t skip = 0;
	/* an obsolete source route "<@a,@b:x@y>" is dropped (RFC 5322 §4.4) */
	if (have_angle && a->len && a->s[0] == '@') {
		const char *c = memchr(a->s, ':', a->len);
		skip = c ? (size_t)(c - a->s) + 1 : a->len;
	}
	if (a->len > skip)
		fn(arg, a->s + skip, a->len - skip);
	str_copyb(plain, "", 0);
	str_copyb(angle, "", 0);
}

int header_addr_list(const char *v, size_t n, void (*fn)(void *, const char *, size_t), void *arg)
{
	struct str plain = STR_INIT, angle = STR_INIT;
	int comment = 0, quote = 0, in_angle = 0, have_angle = 0, bad = 0;
	str_copyb(&plain, "", 0);
	str_copyb(&angle, "", 0);
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		struct str *cur = in_angle ? &angle : &plain;
		if (c == '\r' || c == '\n')
			continue; /* folding */
		if (comment) {
			if (c == '\\')
				i++;
			else if (c == '(')
				comment++;
			else if (c == ')')
				comment--;
			continue;
		}
		if (quote) {
			str_catc(cur, c);
			/* a backslash before a fold escapes nothing: the fold is still dropped */
			if (c == '\\' && i + 1 < n && v[i + 1] != '\r' && v[i + 1] != '\n')
				str_catc(cur, v[++i]);
			else if (c == '"')
				quote = 0;
			continue;
		}
		switch (c) {
		case '(':
			comment = 1;
			break;
		case '"':
			quote = 1;
			str_catc(cur, c);
			break;
		case '<':
			if (in_angle)
				bad = 1;
			in_angle = have_angle = 1;
			str_copyb(&angle, "", 0);
			break;
		case '>':
			if (!in_angle)
				bad = 1;
			in_angle = 0;
			break;
		case ' ':
		case '\t':
			break;
		case ':':
			if (in_angle)
				str_catc(cur, c);
			else { /* "group:" - the group's name is not an address */
				str_copyb(&plain, "", 0);
				have_angle = 0;
			}
			break;
		case ',':
		case ';':
			if (in_angle) {
				str_catc(cur, c);
				break;
			}
			emit(&plain, &angle, have_angle, fn, arg);
			have_angle = 0;
			break;
		default:
			str_catc(cur, c);
		}
	}
	if (comment || quote || in_angle)
		bad = 1;
	else
		emit(&plain, &angle, have_angle, fn, arg);
	str_free(&plain);
	str_free(&angle);
	return bad ? -1 : 0;
}
