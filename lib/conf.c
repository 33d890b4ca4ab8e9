/* conf.c - reading the configuration directory (see conf.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "alloc.h"
#include "conf.h"
#include "die.h"
#include "envset.h"

const char *conf_dir(void)
{
	/*
	 * As secure_getenv: a set-id program (queue-inject, deliver-local)
	 * must not let its caller choose the configuration, or the caller
	 * could point queuedir at any directory the program's owner can write.
	 */
	const char *d = env_get_secure("SLUICE_CONF");
	return d && *d ? d : SLUICE_CONF_DEFAULT;
}

void conf_path(const char *name, struct str *out)
{
	str_copys(out, conf_dir());
	str_catc(out, '/');
	str_cats(out, name);
}

void conf_resolve(const char *value, struct str *out)
{
	if (value[0] == '/')
		str_copys(out, value);
	else
		conf_path(value, out);
}

int conf_read_file(const char *name, struct str *out)
{
	struct str path = STR_INIT;
	conf_path(name, &path);
	int r = conf_read_path(path.s, out);
	str_free(&path);
	return r;
}

int conf_read_path(const char *path, struct str *out)
{
	out->len = 0;
	str_c(out);
	/* openat, not open: musl's open follows O_CLOEXEC with an fcntl of its own */
	int fd = openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 1 : -1;
	/*
	 * Through a buffer on the stack, so out grows only to the file's size:
	 * most files here are a line or two, and a process reads a dozen of
	 * them per connection or delivery (a 4 KB heap buffer each time makes
	 * musl's allocator map and unmap memory for every file).
	 */
	char buf[4096];
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		if (r == 0)
			break;
		str_catb(out, buf, (size_t)r);
	}
	close(fd);
	return 0;
}

/* walk the items of a file's text; calls fn for each trimmed, uncommented line */
void conf_each_item(const struct str *text, void (*fn)(void *, const char *, size_t), void *arg)
{
	size_t i = 0;
	while (i < text->len) {
		size_t end = i;
		while (end < text->len && text->s[end] != '\n')
			end++;
		size_t a = i, b = end;
		const char *hash = memchr(text->s + a, '#', b - a);
		if (hash)
			b = (size_t)(hash - text->s);
		/*
		 * A NUL ends the line's content too: items become C strings, and
		 * one cut short after trimming would keep trailing blanks.
		 */
		const char *nul = memchr(text->s + a, '\0', b - a);
		if (nul)
			b = (size_t)(nul - text->s);
		while (a < b && isspace((unsigned char)text->s[a]))
			a++;
		while (b > a && isspace((unsigned char)text->s[b - 1]))
			b--;
		if (b > a)
			fn(arg, text->s + a, b - a);
		i = end + 1;
	}
}

static void add_item(void *arg, const char *s, size_t n)
{
	struct conf_list *l = arg;
	l->item = xreallocarray(l->item, l->n + 1, sizeof *l->item);
	l->item[l->n++] = xstrndup(s, n);
}

int conf_list_read(const char *name, struct conf_list *l)
{
	struct str text = STR_INIT;
	l->item = NULL;
	l->n = 0;
	int r = conf_read_file(name, &text);
	if (r == 0)
		conf_each_item(&text, add_item, l);
	str_free(&text);
	return r < 0 ? -1 : 0;
}

void conf_list_free(struct conf_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->item[i]);
	free(l->item);
	l->item = NULL;
	l->n = 0;
}

int conf_line(const char *name, struct str *out)
{
	struct conf_list l;
	if (conf_list_read(name, &l) < 0)
		return -1;
	int r = 1;
	if (l.n) {
		str_copys(out, l.item[0]);
		r = 0;
	}
	conf_list_free(&l);
	return r;
}

int conf_domain_match(const struct conf_list *l, const char *domain)
{
	size_t dl = strlen(domain);
	for (size_t i = 0; i < l->n; i++) {
		const char *e = l->item[i];
		size_t el = strlen(e);
		if (e[0] == '.') {
			if (dl > el && strcasecmp(domain + dl - el, e) == 0)
				return 1;
		} else if (strcasecmp(domain, e) == 0)
			return 1;
	}
	return 0;
}

void conf_trim(const char **s, size_t *n)
{
	while (*n && isspace((unsigned char)**s))
		(*s)++, (*n)--;
	while (*n && isspace((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

int scan_ull(const char *s, size_t len, unsigned long long *out)
{
	unsigned long long v = 0;
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (~0ULL - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	*out = v;
	return 1;
}

int conf_limit(const struct conf_list *limits, const char *key, unsigned long long def,
	       unsigned long long *out)
{
	size_t kl = strlen(key);
	*out = def;
	for (size_t i = 0; i < limits->n; i++) {
		const char *e = limits->item[i];
		if (strncmp(e, key, kl) != 0 || !isspace((unsigned char)e[kl]))
			continue;
		const char *v = e + kl;
		size_t n = strlen(v);
		conf_trim(&v, &n);
		if (!scan_ull(v, n, out)) {
			warn_msg("limits: %s: not a number: %s", key, v);
			*out = def;
			return -1;
		}
		return 0;
	}
	return 0;
}
