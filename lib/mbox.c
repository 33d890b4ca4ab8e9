/* mbox.c - locked, all-or-nothing mbox delivery (see mbox.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bio.h"
#include "durable.h"
#include "fsjournal.h"
#include "mbox.h"
#include "safeopen.h"

#define STALE_LOCK 300

static void nap(void)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	nanosleep(&ts, NULL);
}

/*
 * Dot-lock by O_EXCL create.  1 locked, 0 no permission to lock here (the
 * fcntl lock still protects us), -1 timed out or failed (errno).
 */
static int dotlock(int dirfd, const char *lock, unsigned timeout)
{
	time_t deadline = time(NULL) + timeout;
	for (;;) {
		int fd = openat(dirfd, lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd >= 0) {
			close(fd);
			return 1;
		}
		if (errno == EACCES || errno == EPERM || errno == EROFS)
			return 0;
		if (errno != EEXIST)
			return -1;
		struct stat st;
		if (fstatat(dirfd, lock, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_mtime + STALE_LOCK < time(NULL)) {
			unlinkat(dirfd, lock, 0);
			continue;
		}
		if (time(NULL) >= deadline) {
			errno = EAGAIN;
			return -1;
		}
		nap();
	}
}

static int fcntl_lock(int fd, unsigned timeout)
{
	time_t deadline = time(NULL) + timeout;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	for (;;) {
		if (fcntl(fd, F_SETLK, &fl) == 0)
			return 0;
		if (errno != EAGAIN && errno != EACCES && errno != EINTR)
			return -1;
		if (time(NULL) >= deadline) {
			errno = EAGAIN;
			return -1;
		}
		nap();
	}
}

/* the mboxrd writer: quotes ">*From " at line starts as it goes */
struct quoter {
	struct bio out;
	int bol;     /* at the start of a line */
	size_t gt;   /* '>'s seen at this line's start, not yet written */
	size_t from; /* bytes of "From " matched after them */
	char last;
};

static int q_put(struct quoter *q, const char *s, size_t n)
{
	static const char from[] = "From ";
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (q->bol || q->gt || q->from) {
			if (q->from == 0 && c == '>') {
				q->bol = 0;
				q->gt++;
				continue;
			}
			if (c == from[q->from]) {
				q->bol = 0;
				if (++q->from < 5)
					continue;
				/* a ">*From " line: one more '>' */
				if (bio_put(&q->out, ">", 1) < 0)
					return -1;
			}
			for (; q->gt; q->gt--)
				if (bio_put(&q->out, ">", 1) < 0)
					return -1;
			if (bio_put(&q->out, from, q->from) < 0)
				return -1;
			int matched = q->from == 5;
			q->from = 0;
			q->bol = 0;
			if (matched)
				continue;
		}
		if (bio_put(&q->out, &c, 1) < 0)
			return -1;
		q->last = c;
		q->bol = c == '\n';
	}
	return 0;
}

/* flush a partly matched line start (the message ended inside it) */
static int q_end(struct quoter *q)
{
	if (q->gt || q->from) {
		for (; q->gt; q->gt--)
			if (bio_put(&q->out, ">", 1) < 0)
				return -1;
		if (bio_put(&q->out, "From ", q->from) < 0)
			return -1;
		q->last = q->from ? ' ' : '>';
		q->from = 0;
	}
	if (q->last != '\n' && bio_put(&q->out, "\n", 1) < 0)
		return -1;
	return bio_put(&q->out, "\n", 1);
}

static int write_message(int fd, const char *sender, const struct dmsg *m)
{
	struct quoter q;
	memset(&q, 0, sizeof q);
	q.bol = 1;
	q.last = '\n';
	bio_init(&q.out, fd, 65536, -1);
	char date[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a %b %e %H:%M:%S %Y", &tm);
	struct str from = STR_INIT;
	str_cats(&from, "From ");
	if (!*sender)
		sender = "MAILER-DAEMON";
	for (const char *p = sender; *p; p++) /* the From line's sender is one word */
		str_catc(&from, *p == ' ' || *p == '\t' ? '_' : *p);
	str_catf(&from, " %s\n", date);
	int r = bio_put(&q.out, from.s, from.len);
	str_free(&from);
	if (r == 0)
		r = q_put(&q, m->prefix, m->prefixlen);
	char buf[65536];
	for (off_t off = 0; r == 0;) {
		ssize_t n = dmsg_read(m, off, buf, sizeof buf);
		if (n <= 0) {
			r = n < 0 ? -1 : 0;
			break;
		}
		r = q_put(&q, buf, (size_t)n);
		off += n;
	}
	if (r == 0)
		r = q_end(&q);
	if (r == 0)
		r = bio_flush(&q.out);
	int e = errno;
	bio_free(&q.out);
	errno = e;
	return r;
}

int mbox_deliver(const char *path, const char *sender, const struct dmsg *m, unsigned lock_timeout,
		 struct str *why)
{
	/* every name below is looked up in dirfd: no link on the way is followed as root */
	struct str name = STR_INIT, lock = STR_INIT;
	int dirfd = safeopen_parent(path, &name);
	if (dirfd < 0) {
		int r = safeopen_syserr(why, "unable to open", path);
		str_free(&name);
		return r;
	}
	str_catf(&lock, "%s.lock", name.s);
	int dot = dotlock(dirfd, lock.s, lock_timeout);
	if (dot < 0) {
		int r = deliver_syserr(why, "unable to lock %s", path);
		close(dirfd);
		str_free(&name);
		str_free(&lock);
		return r;
	}
	int r = DELIVER_OK;
	int fd = safeopen_file(dirfd, name.s, O_RDWR | O_APPEND | O_CREAT, 0600);
	if (fd < 0) {
		r = safeopen_syserr(why, "unable to open", path);
		goto out;
	}
	struct stat st;
	if (fcntl_lock(fd, lock_timeout) < 0) {
		r = deliver_syserr(why, "unable to lock %s", path);
		close(fd);
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (errno == 0 || !S_ISREG(st.st_mode))
			errno = EINVAL;
		r = deliver_syserr(why, "%s is not a regular file", path);
		close(fd);
		goto out;
	}
	if (write_message(fd, sender, m) < 0 || fsync(fd) < 0) {
		r = deliver_syserr(why, "unable to write %s", path);
		/* take the partial message back out; the old contents stay as they were */
		if (ftruncate(fd, st.st_size) == 0)
			fsync(fd);
		close(fd);
		goto out;
	}
	/*
	 * A new mbox file's name: ext4 and XFS commit it with the file's
	 * fsync; elsewhere its directory is flushed too (fsync only reads the
	 * path: following a link there writes nothing).
	 */
	int name_durable = st.st_size > 0 || fs_journal_orders(fd, fd) || fsync_parent(path) == 0;
	if (close(fd) < 0 || !name_durable) {
		r = deliver_syserr(why, "unable to write %s", path);
		goto out;
	}
	str_copys(why, "");
	str_catf(why, "delivered to mbox %s", path);
out:
	if (dot > 0)
		unlinkat(dirfd, lock.s, 0);
	close(dirfd);
	str_free(&name);
	str_free(&lock);
	return r;
}
