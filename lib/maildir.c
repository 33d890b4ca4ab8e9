/* maildir.c - safe maildir delivery (see maildir.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "bio.h"
#include "durable.h"
#include "fsjournal.h"
#include "maildir.h"

/* mkdir unless it exists (as a directory) */
static int ensure_dir(const char *path)
{
	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/* the maildir and its three subdirectories */
static int make_maildir(const char *dir, struct str *why)
{
	struct str p = STR_INIT;
	str_copys(&p, dir);
	/* the maildir's own parent must exist already: we do not invent trees */
	while (p.len > 1 && p.s[p.len - 1] == '/')
		str_truncate(&p, p.len - 1);
	int r = DELIVER_OK;
	if (ensure_dir(p.s) < 0)
		r = deliver_syserr(why, "unable to create maildir %s", dir);
	static const char *const sub[] = { "tmp", "new", "cur" };
	size_t base = p.len;
	for (size_t i = 0; r == DELIVER_OK && i < 3; i++) {
		str_truncate(&p, base);
		str_catf(&p, "/%s", sub[i]);
		if (ensure_dir(p.s) < 0)
			r = deliver_syserr(why, "unable to create %s", p.s);
	}
	str_free(&p);
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

static int copy_message(int fd, const struct dmsg *m, unsigned long long *size)
{
	char buf[65536];
	if (fd_write_all(fd, m->prefix, m->prefixlen) < 0)
		return -1;
	*size = m->prefixlen;
	for (off_t off = 0;;) {
		ssize_t r = dmsg_read(m, off, buf, sizeof buf);
		if (r < 0)
			return -1;
		if (r == 0)
			return 0;
		if (fd_write_all(fd, buf, (size_t)r) < 0)
			return -1;
		off += r;
		*size += (unsigned long long)r;
	}
}

int maildir_deliver(const char *dir, const struct dmsg *m, struct str *why)
{
	int r = make_maildir(dir, why);
	if (r != DELIVER_OK)
		return r;
	struct str name = STR_INIT, tmp = STR_INIT, dst = STR_INIT;
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
		fd = open(tmp.s, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
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
		unlink(tmp.s);
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
		unlink(tmp.s);
		goto out;
	}
	str_catf(&dst, "%snew/%s,S=%llu", dir, name.s, size);
	if (link(tmp.s, dst.s) == 0) {
		unlink(tmp.s);
	} else if ((errno == EPERM || errno == ENOSYS || errno == EOPNOTSUPP) &&
		   rename(tmp.s, dst.s) == 0) {
		/* no hard links here (some FUSE and network file systems) */
	} else {
		r = deliver_syserr(why, "unable to move %s into new/", tmp.s);
		unlink(tmp.s);
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
	str_free(&name);
	str_free(&tmp);
	str_free(&dst);
	return r;
}
