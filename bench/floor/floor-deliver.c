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
 *
 * floor-deliver MAILDIR QUEUEFILE...: floor-run -b's batch.  Each message
 * is written to tmp/ and its write-back started (sync_file_range), then
 * every file is fsynced and only then renamed: the first fsync's journal
 * commit then covers the blocks of all of them, so the rest cost little.
 * Exit 0 only when all are delivered; on a failure the renamed ones stay
 * and are delivered again, which the contract allows.
 *
 * With FLOOR_CONF set (the "duties" server, duty.h) it does what
 * deliver-local does for every message: reads conf/users once per run (a
 * configuration read afresh per delivery) and delivers to the mailbox it
 * names for the recipient of the queue file's T line (none: exit 100),
 * checks the message against the queue file's check line as it copies
 * it (a cut file: exit 111, nothing delivered), and logs each delivery.
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
#include "duty.h"

#define BATCH_MAX 64

static char buf[65536];
static char tmp[BATCH_MAX][PATH_MAX], dst[BATCH_MAX][PATH_MAX];
static int made;                 /* files of tmp[] that exist */
static const char *conf;         /* FLOOR_CONF: the duties on */
static char users[65536];
static char box[BATCH_MAX][PATH_MAX], rcpt[BATCH_MAX][256];

static void undo(const char *what)
{
	int e = errno;
	for (int i = 0; i < made; i++)
		unlink(tmp[i]);
	errno = e;
	fail(what);
}

static size_t get(int q)
{
	for (;;) {
		ssize_t r = read(q, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			undo("read the queue file");
		return (size_t)r;
	}
}

/* Writes the message of queue file Q to tmp[I] and returns its fd. */
static int write_one(const char *maildir, int q, int i)
{
	/* the envelope: lines of at least one byte, then an empty one */
	size_t n = 0, r;
	char *end;
	while (!(end = memmem(buf, n, "\n\n", 2))) {
		if (n == sizeof buf) {
			errno = EINVAL;
			undo("find the end of the envelope");
		}
		ssize_t got = read(q, buf + n, sizeof buf - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got == 0)
				errno = EINVAL;
			undo("read the envelope");
		}
		n += (size_t)got;
	}
	size_t skip = (size_t)(end - buf) + 2;

	/* the duties: the mailbox users names for the recipient, and the
	 * check line's length and CRC to hold the message to */
	unsigned long long want = 0;
	unsigned wcrc = 0;
	if (conf) {
		const char *t = memmem(buf, skip, "\nT", 2), *v;
		size_t vn;
		if (buf[0] != 'C' || sscanf(buf, "C%llu %x", &want, &wcrc) != 2 || !t) {
			errno = EINVAL;
			undo("read the check line and the recipient");
		}
		t += 2;
		snprintf(rcpt[i], sizeof rcpt[i], "%.*s", (int)strcspn(t, "\n"), t);
		if (!(v = duty_find(users, rcpt[i], strlen(rcpt[i]), &vn))) {
			duty_log("event=deliver rcpt=<%s> result=permanent reason=\"no such user\"", rcpt[i]);
			exit(100);
		}
		while (vn > 0 && v[vn - 1] == '/')
			vn--;
		snprintf(box[i], sizeof box[i], "%.*s", (int)vn, v);
		maildir = box[i];
	}

	struct timespec ts;
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		undo("read the clock");
	int l1 = snprintf(tmp[i], sizeof tmp[i], "%s/tmp/%lld.%09ld_%ld_%d.floor", maildir,
	                  (long long)ts.tv_sec, ts.tv_nsec, (long)getpid(), i);
	int l2 = snprintf(dst[i], sizeof dst[i], "%s/new/%s", maildir, tmp[i] + strlen(maildir) + 5);
	if (l1 < 0 || l2 < 0 || (size_t)l1 >= sizeof tmp[i] || (size_t)l2 >= sizeof dst[i]) {
		errno = ENAMETOOLONG;
		undo("name the maildir file");
	}

	int fd = open(tmp[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		undo("create the maildir file");
	made = i + 1;
	if (put(fd, buf + skip, n - skip) < 0)
		undo("write the maildir file");
	unsigned long long got = n - skip;
	uint32_t crc = conf ? duty_crc(0, buf + skip, n - skip) : 0;
	while ((r = get(q)) > 0) {
		if (put(fd, buf, r) < 0)
			undo("write the maildir file");
		got += r;
		if (conf)
			crc = duty_crc(crc, buf, r);
	}
	if (conf && (got != want || crc != wcrc)) {
		errno = EIO;
		undo("check the queue file against its check line");
	}
	return fd;
}

int main(int argc, char **argv)
{
	int fd[BATCH_MAX];
	if (argc < 2 || argc - 2 > BATCH_MAX) {
		fputs("usage: floor-deliver maildir [queue-file...]\n", stderr);
		return 100;
	}
	if ((conf = getenv("FLOOR_CONF")) != NULL && duty_read(conf, "users", users, sizeof users) < 0) {
		errno = ENOENT;
		fail("read conf/users");
	}
	if (argc == 2) {
		fd[0] = write_one(argv[1], 0, 0);
		if (fsync(fd[0]) < 0 || close(fd[0]) < 0)
			undo("sync the maildir file");
		if (rename(tmp[0], dst[0]) < 0)
			undo("move the maildir file into new/");
		if (conf)
			duty_log("event=deliver rcpt=<%s> dest=maildir:%s result=delivered", rcpt[0], box[0]);
		return 0;
	}
	int n = argc - 2;
	for (int i = 0; i < n; i++) {
		int q = open(argv[2 + i], O_RDONLY | O_CLOEXEC);
		if (q < 0)
			undo("open a queue file");
		fd[i] = write_one(argv[1], q, i);
		if (close(q) < 0)
			undo("close a queue file");
		if (sync_file_range(fd[i], 0, 0, SYNC_FILE_RANGE_WRITE) < 0)
			undo("start writing the maildir file");
	}
	for (int i = 0; i < n; i++)
		if (fsync(fd[i]) < 0 || close(fd[i]) < 0)
			undo("sync the maildir file");
	for (int i = 0; i < n; i++) {
		if (rename(tmp[i], dst[i]) < 0)
			undo("move the maildir file into new/");
		if (conf)
			duty_log("event=deliver rcpt=<%s> dest=maildir:%s result=delivered", rcpt[i], box[i]);
	}
	return 0;
}
