/*
 * queue-inject - commit one message to the queue (qmail-queue(8) contract).
 *
 * Message on fd 0, envelope on fd 1 (F<sender>\0 T<rcpt>\0 ... \0).  Exit 0
 * only once the message is durably committed; otherwise an exit code from
 * the queue protocol tells the caller whether to retry.
 *
 * The id is $QUEUE_ID when that is a valid id not yet in use, else new.
 * With $QUEUE_QUARANTINE=NAME the commit goes to quarantine/NAME/ID instead
 * of new/ID (the same sequence; queue-run never delivers it), so a filter
 * quarantines through queue-inject and needs no write access to the queue.
 *
 * Installed set-uid to the queue owner (qmail-queue style) it is the only
 * way into the queue for smtp-recv and local users.  Set-id, it keeps only
 * QUEUE_ID of its environment (and validates it), ignores SLUICE_CONF (the
 * compiled-in configuration names the queue), makes sure fds 0-2 are open
 * before it opens anything, and refuses to run set-uid root.  The real uid
 * stays the caller's, so the caller may still kill a hung queue-inject.
 * Run by root without a set-id bit it becomes the queue directory's owner
 * before it writes, so root's mail makes queue files the runner can read.
 *
 * Commit: the queue file (envelope header, check line, message) is written
 * to tmp/ID, renamed to new/ID, and then fsync'd: one flush.  The rename
 * is the single commit point; before it nothing is visible, and the fsync
 * of the renamed file makes the data and the new name durable together on
 * ext4 and XFS (sync_renamed in lib/durable.h; doc/durability.md).  In
 * between, a crash may leave new/ID cut short: it was never acknowledged,
 * and its check line (length and CRC-32C of the message) lets queue-run
 * set it aside.  The envelope arrives after the message, so the message is
 * held in memory, spilling to an anonymous file at SPILL_AT bytes; that
 * keeps the common case to one write and one sync.  In memory it is a list
 * of CHUNK-sized blocks written out with one writev, not one block grown
 * by doubling: each doubling copied what was read so far into pages that
 * had to be faulted in for it (55 of the 413 us queue-inject took per
 * 100 KB message in the benchmark, bench/README.md "Round 6").
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bio.h"
#include "conf.h"
#include "crc32c.h"
#include "durable.h"
#include "envelope.h"
#include "log.h"
#include "privsep.h"
#include "qid.h"
#include "queue.h"
#include "str.h"

/* queue protocol exit codes (DESIGN.md contract 1) */
enum {
	QX_OK = 0,
	QX_NOMEM = 51,
	QX_WRITE = 53,
	QX_READ = 54,
	QX_CONF = 55,
	QX_BUG = 81,
	QX_ENVELOPE = 91,
};

#define SPILL_AT (1u << 20)
#define CHUNK (65536 - 64)   /* with lib/heap.c's header, a 64 KiB block */
#define MAX_CHUNKS (SPILL_AT / CHUNK + 1)
#define MAX_ADDR 4096
#define MAX_RCPT 100000

struct job {
	struct str qdir, tmp, dst;
	char id[QID_SIZE];
	int fd;        /* tmp/ID */
	struct iovec mem[MAX_CHUNKS]; /* message while it is small: full blocks, then the last */
	size_t nmem, memlen;
	int spill;     /* anonymous file once it is not */
	unsigned long long size;
	struct crc32c crc; /* of the message, for the check line */
};

static void fail(struct job *j, int code, const char *what)
{
	if (code == QX_WRITE || code == QX_READ || code == QX_CONF)
		log_line("event=fail id=%s reason=\"unable to %s: %s\"", j->id[0] ? j->id : "-", what,
			 strerror(errno));
	else
		log_line("event=fail id=%s reason=\"%s\"", j->id[0] ? j->id : "-", what);
	if (j->fd >= 0)
		unlink(j->tmp.s);
	_exit(code);
}

/* errno of a failed write: full disk and quota are the writer's 53 too */
static int write_code(void)
{
	return errno == ENOMEM ? QX_NOMEM : QX_WRITE;
}

static void open_spill(struct job *j)
{
	struct str dir = STR_INIT;
	queue_path(&dir, j->qdir.s, "tmp", NULL);
	j->spill = tmpfile_in(dir.s);
	str_free(&dir);
	if (j->spill < 0)
		fail(j, write_code(), "create spill file");
	for (size_t i = 0; i < j->nmem; i++) {
		if (fd_write_all(j->spill, j->mem[i].iov_base, j->mem[i].iov_len) < 0)
			fail(j, write_code(), "write spill file");
		free(j->mem[i].iov_base);
	}
	j->nmem = j->memlen = 0;
}

/*
 * The message goes straight into memory (no copy through a buffer of
 * its own: a 100 KB message is two or three reads), or once it has
 * reached SPILL_AT through buf into the spill file.
 */
static void read_message(struct job *j)
{
	char buf[65536];
	for (;;) {
		char *dst = buf;
		size_t room = sizeof buf;
		struct iovec *last = j->nmem ? &j->mem[j->nmem - 1] : NULL;
		if (j->spill < 0) {
			/* a block more only when the last is full: a small
			 * message never touches more than the pages it is
			 * written to */
			if (!last || last->iov_len == CHUNK) {
				if (j->nmem == MAX_CHUNKS) {
					errno = EOVERFLOW;
					fail(j, QX_BUG, "more message blocks than SPILL_AT needs");
				}
				last = &j->mem[j->nmem];
				if (!(last->iov_base = malloc(CHUNK)))
					fail(j, QX_NOMEM, "out of memory");
				last->iov_len = 0;
				j->nmem++;
			}
			dst = (char *)last->iov_base + last->iov_len;
			room = CHUNK - last->iov_len;
		}
		ssize_t r = read(0, dst, room);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fail(j, QX_READ, "read message");
		}
		if (r == 0)
			return;
		j->size += (unsigned long long)r;
		crc32c_add(&j->crc, dst, (size_t)r);
		if (j->spill >= 0) {
			if (fd_write_all(j->spill, buf, (size_t)r) < 0)
				fail(j, write_code(), "write spill file");
			continue;
		}
		last->iov_len += (size_t)r;
		j->memlen += (size_t)r;
		if (j->memlen >= SPILL_AT)
			open_spill(j); /* all of it so far, before the blocks pass SPILL_AT */
	}
}

static void copy_spill(struct job *j)
{
	if (lseek(j->spill, 0, SEEK_SET) < 0)
		fail(j, QX_WRITE, "rewind spill file");
	unsigned long long copied = 0;
	if (fd_copy(j->spill, NULL, j->fd, j->size, &copied) < 0)
		fail(j, write_code(), "copy spill file");
	if (copied != j->size) {
		errno = EIO;
		fail(j, QX_WRITE, "copy spill file (short)");
	}
}

/* iov is used up (its entries advanced) */
static void write_all_or_fail(struct job *j, struct iovec *v, int n)
{
	int i = 0;
	while (i < n) {
		ssize_t w = writev(j->fd, v + i, n - i);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			fail(j, write_code(), "write queue file");
		}
		while (i < n && (size_t)w >= v[i].iov_len)
			w -= (ssize_t)v[i++].iov_len;
		if (i < n) {
			v[i].iov_base = (char *)v[i].iov_base + w;
			v[i].iov_len -= (size_t)w;
		}
	}
}

int main(int argc, char **argv)
{
	(void)argv;
	struct job j = { .qdir = STR_INIT, .tmp = STR_INIT, .dst = STR_INIT, .fd = -1, .spill = -1, .crc = CRC32C_INIT };
	struct envelope env = ENVELOPE_INIT;
	if (argc > 1) {
		fprintf(stderr, "usage: queue-inject < message 1< envelope\n");
		return 100;
	}
	/* before anything is opened: a closed fd 2 must not become the queue file */
	if (privsep_std_fds() < 0)
		fail(&j, QX_BUG, "open the standard descriptors");
	if (privsep_setid()) {
		static const char *const keep[] = { "QUEUE_ID", "QUEUE_QUARANTINE", NULL };
		if (privsep_env_keep(keep) < 0)
			fail(&j, QX_NOMEM, "clear the environment");
		if (geteuid() == 0) {
			errno = EPERM;
			fail(&j, QX_CONF, "run set-uid root (install it set-uid to the queue owner)");
		}
	}
	signal(SIGPIPE, SIG_IGN);
	umask(027);
	if (queue_dir(&j.qdir) < 0)
		fail(&j, QX_CONF, "read queuedir");
	struct stat qst;
	if (geteuid() == 0 && stat(j.qdir.s, &qst) == 0 && qst.st_uid != 0 &&
	    privsep_become(qst.st_uid, qst.st_gid) < 0)
		fail(&j, QX_CONF, "become the queue owner");

	/* a quarantine name is one path component of a safe alphabet */
	const char *quarantine = getenv("QUEUE_QUARANTINE");
	if (quarantine && !queue_quarantine_name_ok(quarantine))
		fail(&j, QX_BUG, "QUEUE_QUARANTINE is not a quarantine name");

	/*
	 * smtp-recv chooses the id (QUEUE_ID) so its "250 ok <id>" names the
	 * queue file; anything else gets a fresh one.
	 */
	const char *given = getenv("QUEUE_ID");
	for (int tries = 0;; tries++) {
		if (tries == 0 && given && qid_valid(given))
			memcpy(j.id, given, QID_SIZE);
		else
			qid_make(j.id);
		queue_path(&j.tmp, j.qdir.s, "tmp", j.id);
		j.fd = openat(AT_FDCWD, j.tmp.s, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
		if (j.fd >= 0)
			break;
		if (errno != EEXIST || tries > 100)
			fail(&j, write_code(), "create queue file");
	}

	read_message(&j);

	struct bio in;
	bio_init(&in, 1, 65536, -1);
	switch (envelope_read(&in, &env, MAX_ADDR, MAX_RCPT)) {
	case ENV_OK:
		break;
	case ENV_READ:
		fail(&j, QX_READ, "read envelope");
		break;
	default:
		fail(&j, QX_ENVELOPE, "envelope format error");
	}
	bio_free(&in);

	struct str head = STR_INIT;
	struct queue_check chk = { 1, j.size, j.crc.crc };
	queue_header_encode_check(&env, &chk, &head);
	struct iovec iov[1 + MAX_CHUNKS] = { { head.s, head.len } };
	memcpy(iov + 1, j.mem, j.nmem * sizeof iov[0]);
	write_all_or_fail(&j, iov, 1 + (int)j.nmem);
	if (j.spill >= 0)
		copy_spill(&j);

	struct str newdir = STR_INIT;
	queue_path(&newdir, j.qdir.s, quarantine ? "quarantine" : "new", NULL);
	int created = 0; /* a new quarantine directory: its name must be durable too */
	if (quarantine) {
		str_catf(&newdir, "/%s", quarantine);
		/* no flush of its own on ext4 and XFS: the queue file's (below) comes later */
		if (mkdir(newdir.s, 0750) == 0)
			created = 1;
		else if (errno != EEXIST)
			fail(&j, write_code(), "create the quarantine directory");
	}
	/*
	 * Never replace a queued message: a QUEUE_ID already used (in new/, or
	 * by a message queue-run took in or one on hold) gets a fresh id.
	 */
	for (int tries = 0;; tries++) {
		str_copyb(&j.dst, newdir.s, newdir.len);
		str_catf(&j.dst, "/%s", j.id);
		if (quarantine || queue_has(j.qdir.s, j.id) != 1) { /* taken in or held: another id */
			if (rename_noreplace(j.tmp.s, j.dst.s) == 0)
				break;
			if (errno != EEXIST)
				fail(&j, write_code(), "commit queue file");
		}
		if (tries > 100)
			fail(&j, write_code(), "find an unused queue id");
		char old[QID_SIZE];
		memcpy(old, j.id, QID_SIZE);
		while (strcmp(old, j.id) == 0)
			qid_make(j.id);
		log_line("event=renamed id=%s was=%s reason=\"id in use\"", j.id, old);
	}
	int fd = j.fd;
	j.fd = -1; /* committed: the tmp name is gone, nothing to clean */
	if (sync_renamed(fd, newdir.s, created) < 0 || close(fd) < 0) {
		/*
		 * The rename happened but may not survive a power cut.  Withdraw
		 * it, so the caller's retry cannot make a duplicate (unless
		 * queue-run took it in meanwhile: then it is delivered, and maybe
		 * again after the retry, a duplicate but no loss).
		 */
		int e = errno;
		unlink(j.dst.s);
		errno = e;
		fail(&j, write_code(), "sync queue file");
	}
	if (quarantine)
		log_line("event=quarantined id=%s size=%llu from=<%s> rcpts=%zu quarantine=%s", j.id, j.size,
			 env.sender, env.nrcpt, quarantine);
	else
		log_line("event=queued id=%s size=%llu from=<%s> rcpts=%zu", j.id, j.size, env.sender, env.nrcpt);
	if (!quarantine) /* no listener is fine: queue-run scans on its timer */
		(void)queue_trigger(j.qdir.s, '\0');
	/* nothing here is needed any more; freed so leak checkers stay quiet */
	str_free(&newdir);
	str_free(&head);
	envelope_free(&env);
	for (size_t i = 0; i < j.nmem; i++)
		free(j.mem[i].iov_base);
	if (j.spill >= 0)
		close(j.spill);
	str_free(&j.qdir);
	str_free(&j.tmp);
	str_free(&j.dst);
	return QX_OK;
}
