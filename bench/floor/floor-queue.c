/*
 * floor-queue - the queue program of the benchmark's "floor".
 *
 * A benchmark instrument, not part of sluice (bench/README.md, "The
 * floor"): the least work the queue contract allows (DESIGN.md contract 1
 * and "The queue").  Message on fd 0, envelope F<sender>\0 T<rcpt>\0 ... \0
 * on fd 1.  It writes queue/tmp/NAME (relative to the working directory:
 * the envelope as lines, an empty line, the message), renames it to
 * queue/new/NAME, the commit point, and then fsyncs the file: on ext4 and
 * XFS with their journals that one flush makes the data and the rename
 * durable together (doc/durability.md, "Accept").  Then it writes a byte
 * to the FIFO queue/trigger for the runner and exits 0.  Any failure exits
 * 111 with nothing committed.
 *
 * Less than queue-inject does: no check line (so a crash between the
 * rename and the flush could leave a cut file that a runner would
 * deliver), no id scheme beyond a unique name, no logging.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PROG "floor-queue"
#include "floor.h"

#define ENV_MAX 65536

static char tmp[96], dst[96];    /* queue/tmp/NAME, queue/new/NAME */

/* All of FD up to its end, in memory; at most MAX bytes. */
static char *slurp(int fd, size_t max, size_t *n)
{
	size_t cap = 0;
	char *b = NULL;
	*n = 0;
	for (;;) {
		if (*n == cap) {
			cap = cap ? 2 * cap : 131072;
			if (!(b = realloc(b, cap)))
				fail("allocate memory");
		}
		ssize_t r = read(fd, b + *n, cap - *n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail("read the input");
		if (r == 0)
			return b;
		*n += (size_t)r;
		if (*n > max) {
			errno = EFBIG;
			fail("read the envelope");
		}
	}
}

int main(void)
{
	size_t mlen, elen;
	char *msg = slurp(0, (size_t)-1, &mlen);
	char *env = slurp(1, ENV_MAX, &elen);

	/* F<sender>\0 T<rcpt>\0 ... \0 becomes the lines F..., T..., "" */
	if (elen < 5 || env[0] != 'F' || env[elen - 1] != '\0' || env[elen - 2] != '\0' ||
	    env[strlen(env) + 1] != 'T' || memchr(env, '\n', elen)) {
		errno = EINVAL;
		fail("read the envelope");
	}
	for (size_t i = 0; i < elen; i++)
		if (env[i] == '\0')
			env[i] = '\n';

	/* unique: no two live processes share a pid */
	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		fail("read the clock");
	snprintf(tmp, sizeof tmp, "queue/tmp/%lld.%09ld.%ld", (long long)ts.tv_sec, ts.tv_nsec, (long)getpid());
	snprintf(dst, sizeof dst, "queue/new/%s", tmp + 10);

	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		fail("create the queue file");
	struct iovec v[2] = { { env, elen }, { msg, mlen } };
	if (writeall(fd, v, 2) < 0) {
		unlink(tmp);
		fail("write the queue file");
	}
	if (rename(tmp, dst) < 0) {
		unlink(tmp);
		fail("commit the queue file");
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		/* the rename may not survive a power cut: take it back */
		int e = errno;
		unlink(dst);
		errno = e;
		fail("sync the queue file");
	}

	/* committed: whatever happens now, the answer is yes.  No reader
	 * (ENXIO) means no runner; a full FIFO means it is already woken. */
	int t = open("queue/trigger", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (t < 0 ? errno != ENXIO : write(t, "", 1) < 0 && errno != EAGAIN)
		fprintf(stderr, "floor-queue: warning: unable to trigger the runner: %s\n", strerror(errno));
	if (t >= 0 && close(t) < 0)
		fprintf(stderr, "floor-queue: warning: unable to close the trigger: %s\n", strerror(errno));
	return 0;
}
