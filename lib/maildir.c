/* maildir.c - safe maildir delivery (see maildir.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "bio.h"
#include "durable.h"
#include "fsjournal.h"
#include "maildir.h"
#include "safeopen.h"

/*
 * The maildir and its three subdirectories, opened through safeopen.h (no
 * links followed as root); fds get tmp/ and new/.  The maildir's own
 * parent must exist already: we do not invent trees.
 */
static int make_maildir(const char *dir, int *tmpfd, int *newfd, struct str *why)
{
	struct str name = STR_INIT;
	int parent = safeopen_parent(dir, &name);
	int md = parent < 0 ? -1 : safeopen_subdir(parent, name.s, 1);
	int r = DELIVER_OK;
	if (md < 0)
		r = safeopen_syserr(why, "unable to create maildir", dir);
	if (parent >= 0)
		close(parent);
	static const char *const sub[] = { "tmp", "new", "cur" };
	int fd[3] = { -1, -1, -1 };
	struct str p = STR_INIT;
	for (size_t i = 0; r == DELIVER_OK && i < 3; i++) {
		fd[i] = safeopen_subdir(md, sub[i], 1);
		str_copys(&p, "");
		str_catf(&p, "%s%s", dir, sub[i]);
		if (fd[i] < 0)
			r = safeopen_syserr(why, "unable to create", p.s);
	}
	str_free(&p);
	if (md >= 0)
		close(md);
	if (fd[2] >= 0)
		close(fd[2]);
	*tmpfd = fd[0];
	*newfd = fd[1];
	str_free(&name);
	return r;
}

/* the host part of a unique name: '/' and ':' are encoded as the spec says */
static void host_part(struct str *out)
{
	char host[256];
	if (gethostname(host, sizeof host) < 0)
		strcpy(host, "localhost");
	host[sizeof host - 1] = '\0';
	for (const char *h = host; *h; h++) {
		if (*h == '/')
			str_cats(out, "\\057");
		else if (*h == ':')
			str_cats(out, "\\072");
		else
			str_catc(out, *h);
	}
}

/* the message as queued: maildir keeps its LF line ends, so no pass over it */
static int copy_message(int fd, const struct dmsg *m, unsigned long long *size)
{
	if (fd_write_all(fd, m->prefix, m->prefixlen) < 0)
		return -1;
	*size = m->prefixlen;
	off_t off = m->start;
	return fd_copy(m->fd, &off, fd, ULLONG_MAX, size);
}

int maildir_deliver(const char *dir, const struct dmsg *m, struct str *why)
{
	int tmpfd, newfd;
	int r = make_maildir(dir, &tmpfd, &newfd, why);
	if (r != DELIVER_OK) {
		if (tmpfd >= 0)
			close(tmpfd);
		if (newfd >= 0)
			close(newfd);
		return r;
	}
	struct str name = STR_INIT, tmp = STR_INIT, dst = STR_INIT, newname = STR_INIT;
	int fd = -1;
	for (int tries = 0;; tries++) {
		struct timeval tv;
		gettimeofday(&tv, NULL);
		str_copys(&name, "");
		str_catf(&name, "%lld.M%ldP%ld.", (long long)tv.tv_sec, (long)tv.tv_usec,
			 (long)getpid());
		host_part(&name);
		str_copys(&tmp, "");
		str_catf(&tmp, "%stmp/%s", dir, name.s);
		fd = safeopen_file(tmpfd, name.s, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd >= 0 || errno != EEXIST || tries >= 10)
			break;
		usleep(1000); /* the same microsecond twice: the next one differs */
	}
	unsigned long long size = 0;
	if (fd < 0) {
		r = deliver_syserr(why, "unable to create %s", tmp.s);
		goto out;
	}
	if (copy_message(fd, m, &size) < 0 || fsync(fd) < 0) {
		r = deliver_syserr(why, "unable to write %s", tmp.s);
		close(fd);
		unlinkat(tmpfd, name.s, 0);
		goto out;
	}
	/*
	 * new/ is not flushed when the queue file shares our journal: queue-run
	 * only removes it after we exit, and that removal cannot outlive the
	 * link below in a crash (doc/durability.md, "Local delivery").
	 */
	int ordered = fs_journal_orders(fd, m->fd);
	if (close(fd) < 0) {
		r = deliver_syserr(why, "unable to write %s", tmp.s);
		unlinkat(tmpfd, name.s, 0);
		goto out;
	}
	str_catf(&dst, "%snew/%s,S=%llu", dir, name.s, size);
	str_catf(&newname, "%s,S=%llu", name.s, size);
	/*
	 * One rename that never replaces (a name taken in new/ is an error,
	 * as the classic link would make it), rather than a link and an
	 * unlink: one directory change less in the journal per delivery.
	 * Without RENAME_NOREPLACE (EINVAL from the file system, ENOSYS from
	 * an old kernel), the link; without hard links either (some FUSE and
	 * network file systems), a plain rename.
	 */
	int moved = rename_noreplace_at(tmpfd, name.s, newfd, newname.s) == 0;
	if (!moved && (errno == EINVAL || errno == ENOSYS)) {
		moved = linkat(tmpfd, name.s, newfd, newname.s, 0) == 0;
		if (moved)
			unlinkat(tmpfd, name.s, 0);
		else if (errno == EPERM || errno == ENOSYS || errno == EOPNOTSUPP)
			moved = renameat(tmpfd, name.s, newfd, newname.s) == 0;
	}
	if (!moved) {
		r = deliver_syserr(why, "unable to move %s into new/", tmp.s);
		unlinkat(tmpfd, name.s, 0);
		goto out;
	}
	str_truncate(&dst, strlen(dir) + 3); /* "DIR" + "new" */
	if (!ordered && fsync_dir(dst.s) < 0) {
		r = deliver_syserr(why, "unable to sync %s", dst.s);
		goto out;
	}
	str_copys(why, "");
	str_catf(why, "delivered to maildir %s", dir);
out:
	close(tmpfd);
	close(newfd);
	str_free(&newname);
	str_free(&name);
	str_free(&tmp);
	str_free(&dst);
	return r;
}
