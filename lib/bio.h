/*
 * bio.h - buffered I/O over a file descriptor, with timeouts.
 *
 * One struct bio serves one direction.  Reads fill a buffer in large
 * blocks (SMTP pipelining and DATA parsing work from the buffer, never a
 * byte per syscall); writes collect until bio_flush.  Every wait is bounded
 * by timeout_ms (negative: wait forever); a timeout fails with ETIMEDOUT.
 *
 * The transport is pluggable (bio_ops) so TLS can slide under an existing
 * connection after STARTTLS without the protocol code noticing.
 */
#ifndef SLUICE_BIO_H
#define SLUICE_BIO_H
#include <stddef.h>
#include <sys/types.h>

#include "str.h"

struct bio_ops {
	/* like read(2)/write(2), but wait at most timeout_ms; -1 + errno on error */
	ssize_t (*read)(void *ctx, void *buf, size_t n, int timeout_ms);
	ssize_t (*write)(void *ctx, const void *buf, size_t n, int timeout_ms);
};

struct bio {
	int fd;
	int timeout_ms;
	const struct bio_ops *ops; /* NULL: plain fd */
	void *ctx;
	char *buf;
	size_t cap;
	size_t pos; /* read: next unread byte */
	size_t len; /* read: end of data; write: bytes pending */
	int not_socket; /* plain fd: send() said ENOTSOCK, so poll and write */
	int rcv_mode;   /* plain fd, reading: wait in read or in poll (bio.c, raw_read) */
	int rcv_set;    /* the SO_RCVTIMEO set on fd, in ms; -1 none yet */
};

enum { BIO_OK = 0, BIO_EOF = 1, BIO_LONG = 2, BIO_ERR = -1 };

void bio_init(struct bio *b, int fd, size_t bufsize, int timeout_ms);
void bio_set_ops(struct bio *b, const struct bio_ops *ops, void *ctx);
void bio_free(struct bio *b);

/* read side */
ssize_t bio_fill(struct bio *b);            /* >0 read, 0 EOF, -1 error */
size_t bio_buffered(const struct bio *b);   /* bytes waiting in the buffer */
const char *bio_peek(const struct bio *b);  /* pointer to those bytes */
void bio_skip(struct bio *b, size_t n);     /* consume n buffered bytes */
void bio_drop(struct bio *b);               /* forget everything buffered */
/*
 * put n bytes read earlier (by another process image of the same session)
 * in front of an empty buffer; 0, or -1 (EINVAL) when they do not fit or
 * something is buffered already
 */
int bio_preload(struct bio *b, const void *data, size_t n);
ssize_t bio_read(struct bio *b, void *buf, size_t n);
/*
 * Read through the next LF into line (LF included, nothing stripped).
 * BIO_OK: a whole line.  BIO_LONG: more than max bytes before the LF; the
 * rest of that line was consumed and thrown away, line holds the first max.
 * BIO_EOF: end of input before an LF (line holds what came).  BIO_ERR: errno.
 */
int bio_getline(struct bio *b, struct str *line, size_t max);

/* write side */
int bio_put(struct bio *b, const void *data, size_t n);  /* 0 or -1 */
int bio_puts(struct bio *b, const char *s);
__attribute__((format(printf, 2, 3)))
int bio_printf(struct bio *b, const char *fmt, ...);
int bio_flush(struct bio *b);

/* CLOCK_MONOTONIC in milliseconds, for deadlines that span several waits */
long long clock_ms(void);

/* plain-fd helpers with a deadline, used by the default ops */
ssize_t fd_read_timeout(int fd, void *buf, size_t n, int timeout_ms);
ssize_t fd_write_timeout(int fd, const void *buf, size_t n, int timeout_ms);
/* poll fd for events (POLLIN/POLLOUT) up to timeout_ms (<0 forever); 0, or -1 with errno (ETIMEDOUT) */
int fd_wait(int fd, short events, int timeout_ms);
/* write everything or fail; 0 or -1 */
int fd_write_all(int fd, const void *buf, size_t n);
/* as fd_write_all, at file offset off (pwrite); 0 or -1 */
int fd_pwrite_all(int fd, const void *buf, size_t n, off_t off);
/*
 * Copy from in to out (at out's offset) until len octets have gone or in
 * ends; in is read at *off (advanced) or, with off NULL, at its own
 * offset.  In the kernel where the two files allow it (copy_file_range:
 * nothing goes through user memory), else through a buffer.  *done grows
 * by what was copied.  0, or -1 with errno.
 */
int fd_copy(int in, off_t *off, int out, unsigned long long len, unsigned long long *done);

#endif
