/* queue.c - queue layout and queue file header (see queue.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bio.h"
#include "conf.h"
#include "crc32c.h"
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

int queue_has(const char *qdir, const char *id)
{
	static const char *const where[] = { "msg", "hold" };
	struct str p = STR_INIT;
	int r = 0;
	for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
		queue_path(&p, qdir, where[i], id);
		if (access(p.s, F_OK) == 0) {
			r = 1;
			break;
		}
		if (errno != ENOENT)
			r = -1;
	}
	int e = errno;
	str_free(&p);
	errno = e;
	return r;
}

void queue_header_encode(const struct envelope *env, struct str *out)
{
	envelope_encode_sep(env, '\n', out);
}

void queue_header_encode_check(const struct envelope *env, const struct queue_check *chk,
			       struct str *out)
{
	envelope_encode_sep(env, '\n', out);
	/* the blank line that ends the envelope stays last */
	out->len--;
	str_catf(out, "C%llu %08x\n\n", chk->len, (unsigned)chk->crc);
}

/* "C<len> <8 hex>" exactly (the line without its LF); 0 ok, -1 not */
static int check_parse(const char *s, size_t n, struct queue_check *chk)
{
	size_t i = 1;
	unsigned long long v = 0;
	if (n < 1 + 1 + 1 + 8 || s[0] != 'C')
		return -1;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > (~0ull - 9) / 10 || (i > 1 && s[1] == '0'))
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (i == 1 || i + 9 != n || s[i] != ' ')
		return -1;
	uint32_t c = 0;
	for (i++; i < n; i++) {
		int d = s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10 : -1;
		if (d < 0)
			return -1;
		c = c << 4 | (uint32_t)d;
	}
	chk->present = 1;
	chk->len = v;
	chk->crc = c;
	return 0;
}

int queue_header_read(int fd, struct envelope *env, off_t *body)
{
	return queue_header_read_check(fd, env, body, NULL);
}

int queue_header_read_check(int fd, struct envelope *env, off_t *body, struct queue_check *chk)
{
	struct queue_check dummy;
	if (!chk)
		chk = &dummy;
	memset(chk, 0, sizeof *chk);
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
		if (chk->present)
			break; /* the check line is the last before the blank one */
		if (first) {
			if (line.s[0] != 'F')
				break;
			envelope_set_sender(env, line.s + 1);
			first = 0;
		} else if (line.s[0] == 'T' && line.len > 1)
			envelope_add_rcpt(env, line.s + 1);
		else if (line.s[0] != 'C' || env->nrcpt == 0 || check_parse(line.s, line.len, chk) < 0)
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

int queue_body_check(int fd, off_t body, const struct queue_check *chk, int *crc_hw)
{
	if (!chk->present)
		return 1;
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return -1;
	if (sb.st_size < body || (unsigned long long)(sb.st_size - body) != chk->len)
		return 0;
	char buf[65536];
	struct crc32c crc = CRC32C_INIT;
	crc.hw = *crc_hw;
	unsigned long long left = chk->len;
	off_t off = body;
	while (left) {
		ssize_t r = pread(fd, buf, left < sizeof buf ? (size_t)left : sizeof buf, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			return 0; /* shorter than it said a moment ago */
		crc32c_add(&crc, buf, (size_t)r);
		off += r;
		left -= (unsigned long long)r;
	}
	*crc_hw = crc.hw;
	return crc.crc == chk->crc;
}

int queue_trigger(const char *qdir, char byte)
{
	struct str path = STR_INIT;
	queue_path(&path, qdir, "trigger", NULL);
	int fd = openat(AT_FDCWD, path.s, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
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
