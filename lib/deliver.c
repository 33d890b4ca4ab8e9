/* deliver.c - shared pieces of the mailbox writers (see deliver.h). */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "deliver.h"

ssize_t dmsg_read(const struct dmsg *m, off_t off, void *buf, size_t n)
{
	for (;;) {
		ssize_t r = pread(m->fd, buf, n, m->start + off);
		if (r >= 0 || errno != EINTR)
			return r;
	}
}

int deliver_syserr(struct str *why, const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	str_copys(why, e == ENOSPC || e == EDQUOT ? "4.2.2 mailbox full: " : "4.3.0 ");
	va_start(ap, fmt);
	str_vcatf(why, fmt, ap);
	va_end(ap);
	str_catf(why, ": %s", strerror(e));
	errno = e;
	return DELIVER_TEMP;
}
