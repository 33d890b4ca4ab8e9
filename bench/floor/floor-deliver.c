/*
 * floor-deliver - the delivery program of the benchmark's "floor".
 *
 * A benchmark instrument, not part of sluice (bench/README.md, "The
 * floor"): the least work a local delivery to a maildir can do and keep
 * the contract.  floor-run starts it with a queue file of floor-queue's
 * on fd 0.  It skips the envelope lines (up to the first empty line),
 * writes the message to MAILDIR/tmp/NAME, fsyncs it and renames it into
 * MAILDIR/new/: the file is whole before its name appears there, and the
 * rename needs no flush of its own on ext4 and XFS, because the runner's
 * later unlink of the queue file cannot outlive a crash that the rename
 * did not (doc/durability.md, "Local delivery").  Exit 0 delivered, 111
 * on any failure.  No user lookup, no privilege change, no aliases, no
 * Delivered-To:, no logging.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROG "floor-deliver"
#include "floor.h"

static char buf[65536];
static char tmp[PATH_MAX], dst[PATH_MAX];

static void undo(const char *what)
{
	int e = errno;
	unlink(tmp);
	errno = e;
	fail(what);
}

static size_t get(void)
{
	for (;;) {
		ssize_t r = read(0, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail("read the queue file");
		return (size_t)r;
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fputs("usage: floor-deliver maildir\n", stderr);
		return 100;
	}

	/* the envelope: lines of at least one byte, then an empty one */
	size_t n = 0, r;
	char *end;
	while (!(end = memmem(buf, n, "\n\n", 2))) {
		if (n == sizeof buf) {
			errno = EINVAL;
			fail("find the end of the envelope");
		}
		ssize_t got = read(0, buf + n, sizeof buf - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got == 0)
				errno = EINVAL;
			fail("read the envelope");
		}
		n += (size_t)got;
	}
	size_t skip = (size_t)(end - buf) + 2;

	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		fail("read the clock");
	int l1 = snprintf(tmp, sizeof tmp, "%s/tmp/%lld.%09ld_%ld.floor", argv[1],
	                  (long long)ts.tv_sec, ts.tv_nsec, (long)getpid());
	int l2 = snprintf(dst, sizeof dst, "%s/new/%s", argv[1], tmp + strlen(argv[1]) + 5);
	if (l1 < 0 || l2 < 0 || (size_t)l1 >= sizeof tmp || (size_t)l2 >= sizeof dst) {
		errno = ENAMETOOLONG;
		fail("name the maildir file");
	}

	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		fail("create the maildir file");
	if (put(fd, buf + skip, n - skip) < 0)
		undo("write the maildir file");
	while ((r = get()) > 0)
		if (put(fd, buf, r) < 0)
			undo("write the maildir file");
	if (fsync(fd) < 0 || close(fd) < 0)
		undo("sync the maildir file");
	if (rename(tmp, dst) < 0)
		undo("move the maildir file into new/");
	return 0;
}
