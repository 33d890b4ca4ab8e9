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
 *
 * With FLOOR_CONF set (the "duties" server, duty.h) it does what
 * queue-inject does for every message: reads conf/queuedir for the queue,
 * names the file by the id in FLOOR_ID, puts a check line first
 * (C<length> <crc32c>, the CRC-32C of the message, as queue-inject's ends
 * its header), learns whether the file system's journal makes the
 * directory's flush needless (ext4 with its journal, XFS) and flushes the
 * directory where not, and logs the message queued.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PROG "floor-queue"
#include "floor.h"
#include "duty.h"

#define ENV_MAX 65536

static char tmp[4200], dst[4200];    /* QUEUE/tmp/NAME, QUEUE/new/NAME */

/* Whether a flush of FD's file commits its directory's rename too: ext4
 * with its journal (/proc/fs/jbd2/DEV-8 exists) or XFS, as queue-inject
 * decides (doc/durability.md, "Accept"). */
static int journalled(int fd)
{
	struct statfs sf;
	struct stat st;
	char link[4096], path[4200];
	if (fstatfs(fd, &sf) < 0 || fstat(fd, &st) < 0)
		fail("learn the queue's file system");
	if (sf.f_type == 0x58465342)
		return 1;
	if (sf.f_type != 0xEF53)
		return 0;
	snprintf(path, sizeof path, "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
	ssize_t n = readlink(path, link, sizeof link - 1);
	if (n < 0)
		return 0;
	link[n] = '\0';
	const char *dev = strrchr(link, '/');
	snprintf(path, sizeof path, "/proc/fs/jbd2/%s-8", dev ? dev + 1 : link);
	return access(path, F_OK) == 0;
}

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

/* flushes QUEUE/new, for a file system whose journal does not */
static int dirsync(const char *queue)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/new", queue);
	int d = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d < 0)
		return -1;
	if (fsync(d) < 0) {
		int e = errno;
		close(d);
		errno = e;
		return -1;
	}
	return close(d);
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
	const char *conf = getenv("FLOOR_CONF"), *id = getenv("FLOOR_ID");
	char queue[4096] = "queue", name[96], check[64];
	if (conf && duty_read(conf, "queuedir", queue, sizeof queue) > 0)
		queue[strcspn(queue, "\r\n")] = '\0';
	if (conf && id)
		snprintf(name, sizeof name, "%s", id);
	else {
		struct timespec ts;
		if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
			fail("read the clock");
		snprintf(name, sizeof name, "%lld.%09ld.%ld", (long long)ts.tv_sec, ts.tv_nsec, (long)getpid());
	}
	if ((size_t)snprintf(tmp, sizeof tmp, "%s/tmp/%s", queue, name) >= sizeof tmp ||
	    (size_t)snprintf(dst, sizeof dst, "%s/new/%s", queue, name) >= sizeof dst) {
		errno = ENAMETOOLONG;
		fail("name the queue file");
	}
	int clen = conf ? snprintf(check, sizeof check, "C%zu %08x\n", mlen, (unsigned)duty_crc(0, msg, mlen)) : 0;

	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		fail("create the queue file");
	struct iovec v[3] = { { check, (size_t)clen }, { env, elen }, { msg, mlen } };
	if (writeall(fd, v, 3) < 0) {
		unlink(tmp);
		fail("write the queue file");
	}
	if (rename(tmp, dst) < 0) {
		unlink(tmp);
		fail("commit the queue file");
	}
	if (fsync(fd) < 0 || (conf && !journalled(fd) && dirsync(queue) < 0) || close(fd) < 0) {
		/* the rename may not survive a power cut: take it back */
		int e = errno;
		unlink(dst);
		errno = e;
		fail("sync the queue file");
	}
	if (conf) {
		const char *from = env + 1;
		size_t nr = 0;
		for (size_t i = 0; i + 1 < elen; i++)
			nr += env[i] == '\n' && env[i + 1] == 'T';
		duty_log("event=queued id=%s size=%zu from=<%.*s> rcpts=%zu", name, mlen,
		         (int)strcspn(from, "\n"), from, nr);
	}

	/* committed: whatever happens now, the answer is yes.  No reader
	 * (ENXIO) means no runner; a full FIFO means it is already woken. */
	char trigger[4200];
	snprintf(trigger, sizeof trigger, "%s/trigger", queue);
	int t = open(trigger, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	if (t < 0 ? errno != ENXIO : write(t, "", 1) < 0 && errno != EAGAIN)
		fprintf(stderr, "floor-queue: warning: unable to trigger the runner: %s\n", strerror(errno));
	if (t >= 0 && close(t) < 0)
		fprintf(stderr, "floor-queue: warning: unable to close the trigger: %s\n", strerror(errno));
	return 0;
}
