/*
 * msgfeed.c - streaming header/body splitter (msgfeed.h).
 */
#include <string.h>
#include <strings.h>

#include "msgfeed.h"

void msgfeed_init(struct msgfeed *f, const struct msgfeed_ops *ops, void *arg, size_t max_field)
{
	f->ops = ops;
	f->arg = arg;
	f->max_field = max_field;
	f->in_body = 0;
	f->line = (struct str)STR_INIT;
	f->field = (struct str)STR_INIT;
}

void msgfeed_free(struct msgfeed *f)
{
	str_free(&f->line);
	str_free(&f->field);
}

size_t msgfeed_name_len(const char *field, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)field[i];
		if (c == ':')
			return i;
		/* RFC 5322 ftext: printable, no space, no colon */
		if (c <= ' ' || c >= 127)
			return 0;
	}
	return 0;
}

size_t msgfeed_skip_comment(const char *s, size_t len, size_t i)
{
	int depth = 0;
	for (; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '(')
			depth++;
		else if (s[i] == ')' && --depth == 0)
			break;
	}
	return i + 1;
}

int msgfeed_is(const char *field, size_t len, const char *name)
{
	size_t n = msgfeed_name_len(field, len);
	return n && n == strlen(name) && strncasecmp(field, name, n) == 0;
}

static int flush_field(struct msgfeed *f)
{
	if (!f->field.len)
		return 0;
	size_t n = f->field.len;
	while (n && (f->field.s[n - 1] == '\n' || f->field.s[n - 1] == '\r'))
		n--;
	int r = f->ops->header(f->arg, f->field.s, n);
	str_truncate(&f->field, 0);
	return r;
}

static int start_body(struct msgfeed *f, const char *first, size_t n)
{
	if (flush_field(f) < 0 || f->ops->eoh(f->arg) < 0)
		return -1;
	f->in_body = 1;
	return n ? f->ops->body(f->arg, first, n) : 0;
}

static int header_line(struct msgfeed *f)
{
	const char *l = f->line.s;
	size_t n = f->line.len;
	if ((n == 1 && l[0] == '\n') || (n == 2 && l[0] == '\r' && l[1] == '\n'))
		return start_body(f, NULL, 0);
	if ((l[0] == ' ' || l[0] == '\t') && f->field.len) {
		if (f->field.len + n > f->max_field)
			return -1;
		str_catb(&f->field, l, n);
		return 0;
	}
	if (!msgfeed_name_len(l, n))
		return start_body(f, l, n);
	if (flush_field(f) < 0)
		return -1;
	if (n > f->max_field)
		return -1;
	str_copyb(&f->field, l, n);
	return 0;
}

int msgfeed_push(struct msgfeed *f, const char *buf, size_t len)
{
	while (len && !f->in_body) {
		const char *nl = memchr(buf, '\n', len);
		size_t take = nl ? (size_t)(nl - buf) + 1 : len;
		if (f->line.len + take > f->max_field)
			return -1;
		str_catb(&f->line, buf, take);
		buf += take;
		len -= take;
		if (!nl)
			return 0;
		int r = header_line(f);
		str_truncate(&f->line, 0);
		if (r < 0)
			return -1;
	}
	return len ? f->ops->body(f->arg, buf, len) : 0;
}

int msgfeed_end(struct msgfeed *f)
{
	if (f->in_body)
		return 0;
	if (f->line.len) {
		/* a last header line without a line end */
		str_catc(&f->line, '\n');
		int r = header_line(f);
		str_truncate(&f->line, 0);
		if (r < 0)
			return -1;
		if (f->in_body)
			return 0;
	}
	return start_body(f, NULL, 0);
}
