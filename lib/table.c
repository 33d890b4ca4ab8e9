/*
 * table.c - lookup tables: NAME.cdb when it exists, else the text file NAME
 * (see table.h).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cdb.h"
#include "conf.h"
#include "table.h"

static int lookup_cdb(const char *path, const char *key, struct str *value)
{
	int fd = openat(AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 2 : -1;
	int r = cdb_find(fd, key, strlen(key), value);
	if (r > 0) {
		const char *v = value->s;
		size_t n = value->len;
		conf_trim(&v, &n);
		memmove(value->s, v, n);
		str_truncate(value, n);
	}
	int saved = errno;
	close(fd);
	errno = saved;
	return r;
}

struct text_lookup {
	const char *key;
	size_t klen;
	struct str *value;
	int found;
};

static void match_line(void *arg, const char *s, size_t n)
{
	struct text_lookup *t = arg;
	if (t->found)
		return;
	size_t k = 0;
	while (k < n && !isspace((unsigned char)s[k]))
		k++;
	size_t kl = k;
	if (kl && s[kl - 1] == ':')
		kl--;
	if (kl != t->klen || memcmp(s, t->key, kl) != 0)
		return;
	const char *v = s + k;
	size_t vn = n - k;
	conf_trim(&v, &vn);
	str_copyb(t->value, v, vn);
	t->found = 1;
}

int table_lookup(const char *table, const char *key, struct str *value)
{
	struct str path = STR_INIT;
	conf_path(table, &path);
	str_cats(&path, ".cdb");
	int r = lookup_cdb(path.s, key, value);
	str_free(&path);
	if (r != 2)
		return r;
	struct str text = STR_INIT;
	r = conf_read_file(table, &text);
	if (r != 0) {
		str_free(&text);
		return r == 1 ? 0 : -1;
	}
	struct text_lookup t = { key, strlen(key), value, 0 };
	conf_each_item(&text, match_line, &t);
	str_free(&text);
	return t.found;
}

