/*
 * floor.h - what the floor's programs share: a benchmark instrument, not
 * part of sluice (bench/README.md, "The floor").  Each program defines
 * PROG, its name, before it includes this.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

/* "PROG: fatal: unable to WHAT: reason", exit 111 */
static inline void fail(const char *what)
{
	fprintf(stderr, PROG ": fatal: unable to %s: %s\n", what, strerror(errno));
	exit(111);
}

/* writes all of the N pieces V to FD (V is consumed); -1 on failure */
static inline int writeall(int fd, struct iovec *v, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, v, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		while (n > 0 && (size_t)w >= v->iov_len) {
			w -= (ssize_t)v->iov_len;
			v++;
			n--;
		}
		if (n > 0) {
			v->iov_base = (char *)v->iov_base + w;
			v->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* writes all N bytes of S to FD; -1 on failure */
static inline int put(int fd, const char *s, size_t n)
{
	struct iovec v = { (void *)s, n };
	return writeall(fd, &v, 1);
}
