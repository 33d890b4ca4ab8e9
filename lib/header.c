/* header.c - header fields of a message in memory (see header.h). */
#include <string.h>
#include <strings.h>

#include "header.h"

void header_iter_init(struct header_iter *it, const char *buf, size_t len)
{
	it->buf = buf;
	it->len = len;
	it->pos = 0;
}

int header_valid_name(const char *s, size_t len)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126 || s[i] == ':')
			return 0;
	return 1;
}

/* end of the line starting at i: the index after its LF, or len */
static size_t line_end(const char *b, size_t len, size_t i)
{
	const char *nl = memchr(b + i, '\n', len - i);
	return nl ? (size_t)(nl - b) + 1 : len;
}

int header_next(struct header_iter *it, struct header_field *f)
{
	const char *b = it->buf;
	size_t i = it->pos, len = it->len;
	if (i >= len)
		return 0;
	const char *colon = NULL;
	size_t end = line_end(b, len, i);
	colon = memchr(b + i, ':', end - i);
	if (!colon || !header_valid_name(b + i, (size_t)(colon - (b + i))))
		return 0; /* empty line, or a line that is no field: the body starts here */
	while (end < len && (b[end] == ' ' || b[end] == '\t'))
		end = line_end(b, len, end);
	f->name = b + i;
	f->namelen = (size_t)(colon - (b + i));
	f->value = colon + 1;
	f->valuelen = (size_t)(b + end - f->value);
	f->raw = b + i;
	f->rawlen = end - i;
	it->pos = end;
	return 1;
}

size_t header_section_len(const char *buf, size_t len)
{
	struct header_iter it;
	struct header_field f;
	header_iter_init(&it, buf, len);
	while (header_next(&it, &f))
		;
	return it.pos;
}

int header_name_is(const struct header_field *f, const char *name)
{
	return strlen(name) == f->namelen && strncasecmp(f->name, name, f->namelen) == 0;
}

void header_value(const struct header_field *f, struct str *out)
{
	str_copyb(out, "", 0);
	for (size_t i = 0; i < f->valuelen; i++)
		if (f->value[i] != '\r' && f->value[i] != '\n')
			str_catc(out, f->value[i]);
	size_t a = 0, n = out->len;
	while (a < n && (out->s[a] == ' ' || out->s[a] == '\t'))
		a++;
	while (n > a && (out->s[n - 1] == ' ' || out->s[n - 1] == '\t'))
		n--;
	memmove(out->s, out->s + a, n - a);
	str_truncate(out, n - a);
}
