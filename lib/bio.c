/* bio.c - buffered fd I/O with timeouts (see bio.h). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "bio.h"

/* how a plain fd's reads wait (raw_read) */
enum { BIO_RCV_UNKNOWN, BIO_RCV_SOCKOPT, BIO_RCV_POLL };

int fd_wait(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	for (;;) {
		int r = poll(&p, 1, timeout_ms);
		if (r > 0)
			return 0;
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

/*
 * With a deadline, poll first: a blocking fd would otherwise block past
 * it.  Without one, poll only when a non-blocking fd says EAGAIN.
 */
long long clock_ms(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return 0; /* not for CLOCK_MONOTONIC on Linux; 0 makes deadlines expire early, never late */
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ssize_t fd_read_timeout(int fd, void *buf, size_t n, int timeout_ms)
{
	for (;;) {
		if (timeout_ms >= 0 && fd_wait(fd, POLLIN, timeout_ms) < 0)
			return -1;
		ssize_t r = read(fd, buf, n);
		if (r >= 0 || (errno != EINTR && errno != EAGAIN))
			return r;
		if (errno == EAGAIN && timeout_ms < 0 && fd_wait(fd, POLLIN, -1) < 0)
			return -1;
	}
}

ssize_t fd_write_timeout(int fd, const void *buf, size_t n, int timeout_ms)
{
	for (;;) {
		if (timeout_ms >= 0 && fd_wait(fd, POLLOUT, timeout_ms) < 0)
			return -1;
		ssize_t r = write(fd, buf, n);
		if (r >= 0 || (errno != EINTR && errno != EAGAIN))
			return r;
		if (errno == EAGAIN && timeout_ms < 0 && fd_wait(fd, POLLOUT, -1) < 0)
			return -1;
	}
}

static int write_all_at(int fd, const void *buf, size_t n, off_t off, int at)
{
	const char *p = buf;
	while (n) {
		ssize_t w = at ? pwrite(fd, p, n, off) : write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

int fd_write_all(int fd, const void *buf, size_t n)
{
	return write_all_at(fd, buf, n, 0, 0);
}

int fd_pwrite_all(int fd, const void *buf, size_t n, off_t off)
{
	return write_all_at(fd, buf, n, off, 1);
}

int fd_copy(int in, off_t *off, int out, unsigned long long len, unsigned long long *done)
{
	int kernel = 1;
	while (len) {
		size_t want = len > (1u << 30) ? (size_t)1 << 30 : (size_t)len;
		ssize_t n;
		if (kernel) {
			n = copy_file_range(in, off, out, NULL, want, 0);
			/* not between these two (other file systems, a pipe, an old kernel) */
			if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL)) {
				kernel = 0;
				continue;
			}
		} else {
			char buf[65536];
			if (want > sizeof buf)
				want = sizeof buf;
			n = off ? pread(in, buf, want, *off) : read(in, buf, want);
			if (n > 0 && fd_write_all(out, buf, (size_t)n) < 0)
				return -1;
			if (n > 0 && off)
				*off += n;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return 0;
		len -= (unsigned long long)n;
		*done += (unsigned long long)n;
	}
	return 0;
}

void bio_init(struct bio *b, int fd, size_t bufsize, int timeout_ms)
{
	b->fd = fd;
	b->not_socket = 0;
	b->rcv_mode = BIO_RCV_UNKNOWN;
	b->rcv_set = -1;
	b->timeout_ms = timeout_ms;
	b->ops = NULL;
	b->ctx = NULL;
	b->cap = bufsize ? bufsize : 8192;
	b->buf = xmalloc(b->cap);
	b->pos = b->len = 0;
}

void bio_set_ops(struct bio *b, const struct bio_ops *ops, void *ctx)
{
	b->ops = ops;
	b->ctx = ctx;
}

void bio_free(struct bio *b)
{
	free(b->buf);
	b->buf = NULL;
	b->cap = b->pos = b->len = 0;
}

/*
 * A blocking socket can wait in read itself, bounded by SO_RCVTIMEO: one
 * system call per read where poll and read were two, and the timeout is
 * set again only when it changes (smtp-recv's is the same for every
 * command).  Anything else polls first: a pipe or a file (setsockopt
 * says ENOTSOCK), a non-blocking socket (its EAGAIN would not mean a
 * timeout), a timeout of 0 (which SO_RCVTIMEO reads as "for ever").
 */
static int rcv_timed(struct bio *b)
{
	if (b->timeout_ms <= 0 || b->rcv_mode == BIO_RCV_POLL)
		return 0;
	if (b->rcv_set != b->timeout_ms) {
		struct timeval tv = { .tv_sec = b->timeout_ms / 1000, .tv_usec = b->timeout_ms % 1000 * 1000 };
		if (setsockopt(b->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
			b->rcv_mode = BIO_RCV_POLL;
			return 0;
		}
		b->rcv_set = b->timeout_ms;
	}
	if (b->rcv_mode == BIO_RCV_UNKNOWN) {
		int fl = fcntl(b->fd, F_GETFL);
		b->rcv_mode = fl >= 0 && !(fl & O_NONBLOCK) ? BIO_RCV_SOCKOPT : BIO_RCV_POLL;
	}
	return b->rcv_mode == BIO_RCV_SOCKOPT;
}

static ssize_t raw_read(struct bio *b, void *buf, size_t n)
{
	if (b->ops)
		return b->ops->read(b->ctx, buf, n, b->timeout_ms);
	if (!rcv_timed(b))
		return fd_read_timeout(b->fd, buf, n, b->timeout_ms);
	for (;;) {
		ssize_t r = read(b->fd, buf, n);
		if (r >= 0)
			return r;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			errno = ETIMEDOUT;
		if (errno != EINTR)
			return -1;
	}
}

/*
 * A socket's send buffer nearly always has room for a reply: try without
 * waiting first (MSG_DONTWAIT, whatever the fd's flags), and poll only
 * when it is full.  That saves a poll per reply; on anything but a socket
 * (a pipe, a file) the first ENOTSOCK sends the bio to poll and write.
 */
static ssize_t raw_write(struct bio *b, const void *buf, size_t n)
{
	if (b->ops)
		return b->ops->write(b->ctx, buf, n, b->timeout_ms);
	if (!b->not_socket) {
		ssize_t r = send(b->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r >= 0)
			return r;
		if (errno == ENOTSOCK)
			b->not_socket = 1;
		else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
	}
	return fd_write_timeout(b->fd, buf, n, b->timeout_ms);
}

ssize_t bio_fill(struct bio *b)
{
	if (b->pos == b->len)
		b->pos = b->len = 0;
	else if (b->len == b->cap) {
		memmove(b->buf, b->buf + b->pos, b->len - b->pos);
		b->len -= b->pos;
		b->pos = 0;
	}
	if (b->len == b->cap) {
		errno = ENOBUFS;
		return -1;
	}
	ssize_t r = raw_read(b, b->buf + b->len, b->cap - b->len);
	if (r > 0)
		b->len += (size_t)r;
	return r;
}

size_t bio_buffered(const struct bio *b)
{
	return b->len - b->pos;
}

const char *bio_peek(const struct bio *b)
{
	return b->buf + b->pos;
}

void bio_skip(struct bio *b, size_t n)
{
	size_t have = b->len - b->pos;
	b->pos += n < have ? n : have;
}

void bio_drop(struct bio *b)
{
	b->pos = b->len = 0;
}

int bio_preload(struct bio *b, const void *data, size_t n)
{
	if (b->pos != b->len || n > b->cap) {
		errno = EINVAL;
		return -1;
	}
	if (n)
		memcpy(b->buf, data, n);
	b->pos = 0;
	b->len = n;
	return 0;
}

ssize_t bio_read(struct bio *b, void *buf, size_t n)
{
	if (b->pos == b->len) {
		if (n >= b->cap)
			return raw_read(b, buf, n);
		ssize_t r = bio_fill(b);
		if (r <= 0)
			return r;
	}
	size_t have = b->len - b->pos;
	if (n > have)
		n = have;
	memcpy(buf, b->buf + b->pos, n);
	b->pos += n;
	return (ssize_t)n;
}

int bio_getline(struct bio *b, struct str *line, size_t max)
{
	int toolong = 0;
	line->len = 0;
	str_ready(line, 0);
	line->s[0] = '\0';
	for (;;) {
		const char *p = b->buf + b->pos;
		size_t have = b->len - b->pos;
		const char *nl = memchr(p, '\n', have);
		size_t take = nl ? (size_t)(nl - p) + 1 : have;
		if (!toolong) {
			size_t room = max - line->len;
			if (take > room) {
				str_catb(line, p, room);
				toolong = 1;
			} else
				str_catb(line, p, take);
		}
		b->pos += take;
		if (nl)
			return toolong ? BIO_LONG : BIO_OK;
		ssize_t r = bio_fill(b);
		if (r < 0)
			return BIO_ERR;
		if (r == 0)
			return BIO_EOF;
	}
}

int bio_flush(struct bio *b)
{
	size_t off = 0;
	while (off < b->len) {
		ssize_t w = raw_write(b, b->buf + off, b->len - off);
		if (w < 0) {
			memmove(b->buf, b->buf + off, b->len - off);
			b->len -= off;
			return -1;
		}
		off += (size_t)w;
	}
	b->len = 0;
	return 0;
}

int bio_put(struct bio *b, const void *data, size_t n)
{
	const char *p = data;
	while (n) {
		if (b->len == b->cap && bio_flush(b) < 0)
			return -1;
		if (b->len == 0 && n >= b->cap) {
			/* large block: skip the copy */
			ssize_t w = raw_write(b, p, n);
			if (w < 0)
				return -1;
			p += w;
			n -= (size_t)w;
			continue;
		}
		size_t room = b->cap - b->len;
		size_t take = n < room ? n : room;
		memcpy(b->buf + b->len, p, take);
		b->len += take;
		p += take;
		n -= take;
	}
	return 0;
}

int bio_puts(struct bio *b, const char *s)
{
	return bio_put(b, s, strlen(s));
}

int bio_printf(struct bio *b, const char *fmt, ...)
{
	struct str tmp = STR_INIT;
	va_list ap;
	va_start(ap, fmt);
	str_vcatf(&tmp, fmt, ap);
	va_end(ap);
	int r = bio_put(b, tmp.s, tmp.len);
	str_free(&tmp);
	return r;
}
