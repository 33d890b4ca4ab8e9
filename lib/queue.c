/* queue.c - queue layout and queue file header (see queue.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "bio.h"
#include "conf.h"
#include "queue.h"

int queue_dir(struct str *out)
{
	struct str v = STR_INIT;
	int r = conf_line("queuedir", &v);
	if (r < 0) {
		str_free(&v);
		return -1;
	}
	if (r == 1)
		str_copys(out, QUEUE_DEFAULT);
	else
		conf_resolve(v.s, out);
	str_free(&v);
	return 0;
}

void queue_path(struct str *out, const char *qdir, const char *sub, const char *id)
{
	str_copys(out, qdir);
	str_catc(out, '/');
	str_cats(out, sub);
	if (id) {
		str_catc(out, '/');
		str_cats(out, id);
	}
}

void queue_header_encode(const struct envelope *env, struct str *out)
{
	envelope_encode_sep(env, '\n', out);
}

int queue_header_read(int fd, struct envelope *env, off_t *body)
{
	off_t start = lseek(fd, 0, SEEK_CUR);
	if (start < 0)
		return -1;
	struct bio in;
	struct str line = STR_INIT;
	bio_init(&in, fd, 65536, -1);
	off_t used = 0;
	int r = 1, first = 1;
	for (;;) {
		int g = bio_getline(&in, &line, QUEUE_MAX_HEADER);
		if (g == BIO_ERR) {
			r = -1;
			break;
		}
		if (g != BIO_OK)
			break;
		used += (off_t)line.len;
		if (line.len == 1) {
			r = (first || env->nrcpt == 0) ? 1 : 0;
			break;
		}
		line.s[--line.len] = '\0';
		/*
		 * queue_header_encode never writes a NUL or CR (envelope_read
		 * refuses them); one here would silently cut or change an address.
		 */
		if (memchr(line.s, '\0', line.len) || memchr(line.s, '\r', line.len))
			break;
		if (first) {
			if (line.s[0] != 'F')
				break;
			envelope_set_sender(env, line.s + 1);
			first = 0;
		} else if (line.s[0] == 'T' && line.len > 1)
			envelope_add_rcpt(env, line.s + 1);
		else
			break;
	}
	int e = errno;
	bio_free(&in);
	str_free(&line);
	if (r == 0) {
		*body = start + used;
		if (lseek(fd, *body, SEEK_SET) < 0)
			return -1;
	}
	errno = e;
	return r;
}

int queue_trigger(const char *qdir, char byte)
{
	struct str path = STR_INIT;
	queue_path(&path, qdir, "trigger", NULL);
	int fd = open(path.s, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	str_free(&path);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, &byte, 1);
	int e = errno;
	close(fd);
	if (w < 0 && e != EAGAIN) {
		errno = e;
		return -1;
	}
	return 0;
}

int queue_quarantine_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 64 || name[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return 0;
	return 1;
}
