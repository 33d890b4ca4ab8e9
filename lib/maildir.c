/* maildir.c - safe maildir delivery (see maildir.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "alloc.h"
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

/*
 * One delivery's state through the three passes of maildir_deliver_batch.
 * An item whose maildir is the same as an earlier one's borrows that
 * one's directory fds and journal answer (owner), opened and asked once.
 */
struct item {
	const char *dir;
	const struct dmsg *m;
	int *code;
	struct str *why;
	size_t owner;        /* index of the item holding tmpfd/newfd */
	int tmpfd, newfd, fd, ordered, moved;
	unsigned long long size;
	struct str name;
};

/* the unique name "<sec>.M<usec>P<pid>[Q<seq>].<host>"; seq 0: none */
static void unique_name(struct str *name, size_t seq)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	str_copys(name, "");
	str_catf(name, "%lld.M%ldP%ld", (long long)tv.tv_sec, (long)tv.tv_usec, (long)getpid());
	if (seq)
		str_catf(name, "Q%zu", seq);
	str_catc(name, '.');
	host_part(name);
}

/* a failed delivery's file in tmp/ removed, its fd closed first if still open */
static void discard(struct item *it)
{
	if (it->fd >= 0) {
		close(it->fd);
		it->fd = -1;
	}
	unlinkat(it->tmpfd, it->name.s, 0);
}

/* pass 1: the maildir, a file in tmp/ with the message; write-back started when batched */
static void write_item(struct item *all, size_t i, size_t n)
{
	struct item *it = &all[i];
	it->owner = i;
	for (size_t k = 0; k < i; k++)
		if (all[k].owner == k && all[k].tmpfd >= 0 && strcmp(all[k].dir, it->dir) == 0) {
			it->owner = k;
			it->tmpfd = all[k].tmpfd;
			it->newfd = all[k].newfd;
			break;
		}
	if (it->owner == i) {
		int r = make_maildir(it->dir, &it->tmpfd, &it->newfd, it->why);
		if (r != DELIVER_OK) {
			if (it->tmpfd >= 0)
				close(it->tmpfd);
			if (it->newfd >= 0)
				close(it->newfd);
			it->tmpfd = it->newfd = -1;
			*it->code = r;
			return;
		}
	}
	for (int tries = 0;; tries++) {
		unique_name(&it->name, n > 1 ? i + 1 : 0);
		it->fd = safeopen_file(it->tmpfd, it->name.s, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (it->fd >= 0 || errno != EEXIST || tries >= 10)
			break;
		usleep(1000); /* the same microsecond twice: the next one differs */
	}
	if (it->fd < 0) {
		*it->code = deliver_syserr(it->why, "unable to create %stmp/%s", it->dir, it->name.s);
		return;
	}
	if (copy_message(it->fd, it->m, &it->size) < 0) {
		*it->code = deliver_syserr(it->why, "unable to write %stmp/%s", it->dir, it->name.s);
		discard(it);
		return;
	}
	/*
	 * Batched, the write-back of every file is under way before the first
	 * fsync: then the fsyncs find their data written or in flight and one
	 * journal commit covers several of them (bench/README.md, "Round 8").
	 * Only a hint; its failure leaves the fsync to do all the work.
	 */
	if (n > 1)
		(void)sync_file_range(it->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

/* pass 2: the file on disk, then its name in new/ */
static void commit_item(struct item *all, size_t i)
{
	struct item *it = &all[i];
	if (it->fd < 0)
		return;
	if (fsync(it->fd) < 0) {
		*it->code = deliver_syserr(it->why, "unable to write %stmp/%s", it->dir, it->name.s);
		discard(it);
		return;
	}
	/*
	 * new/ is not flushed when the queue file shares our journal: queue-run
	 * only removes it after we exit, and that removal cannot outlive the
	 * link below in a crash (doc/durability.md, "Local delivery").
	 */
	it->ordered = it->owner == i ? fs_journal_orders(it->fd, it->m->fd) : all[it->owner].ordered;
	int fd = it->fd;
	it->fd = -1;
	if (close(fd) < 0) {
		*it->code = deliver_syserr(it->why, "unable to write %stmp/%s", it->dir, it->name.s);
		discard(it);
		return;
	}
	struct str newname = STR_INIT;
	str_catf(&newname, "%s,S=%llu", it->name.s, it->size);
	/*
	 * One rename that never replaces (a name taken in new/ is an error,
	 * as the classic link would make it), rather than a link and an
	 * unlink: one directory change less in the journal per delivery.
	 * Without RENAME_NOREPLACE (EINVAL from the file system, ENOSYS from
	 * an old kernel), the link; without hard links either (some FUSE and
	 * network file systems), a plain rename.
	 */
	int moved = rename_noreplace_at(it->tmpfd, it->name.s, it->newfd, newname.s) == 0;
	if (!moved && (errno == EINVAL || errno == ENOSYS)) {
		moved = linkat(it->tmpfd, it->name.s, it->newfd, newname.s, 0) == 0;
		if (moved)
			unlinkat(it->tmpfd, it->name.s, 0);
		else if (errno == EPERM || errno == ENOSYS || errno == EOPNOTSUPP)
			moved = renameat(it->tmpfd, it->name.s, it->newfd, newname.s) == 0;
	}
	str_free(&newname);
	if (!moved) {
		*it->code = deliver_syserr(it->why, "unable to move %stmp/%s into new/", it->dir,
					   it->name.s);
		discard(it);
		return;
	}
	it->moved = 1;
}

/* pass 3: new/ flushed once per maildir, where the journal does not order it */
static void sync_items(struct item *all, size_t n)
{
	struct str dst = STR_INIT;
	for (size_t i = 0; i < n; i++) {
		if (!all[i].moved || all[i].ordered)
			continue;
		size_t k = 0;
		while (k < i && !(all[k].moved && !all[k].ordered && strcmp(all[k].dir, all[i].dir) == 0))
			k++;
		if (k < i) {
			*all[i].code = *all[k].code; /* that one's flush was this one's too */
			if (*all[i].code != DELIVER_OK)
				str_copyb(all[i].why, all[k].why->s, all[k].why->len);
			continue;
		}
		str_copys(&dst, "");
		str_catf(&dst, "%snew", all[i].dir);
		if (fsync_dir(dst.s) < 0)
			*all[i].code = deliver_syserr(all[i].why, "unable to sync %s", dst.s);
	}
	str_free(&dst);
}

void maildir_deliver_batch(const char *const *dir, const struct dmsg *const *m, size_t n,
			   int *code, struct str *why)
{
	struct item *it = xcalloc(n ? n : 1, sizeof *it);
	for (size_t i = 0; i < n; i++) {
		it[i].dir = dir[i];
		it[i].m = m[i];
		it[i].code = &code[i];
		it[i].why = &why[i];
		it[i].tmpfd = it[i].newfd = it[i].fd = -1;
		code[i] = DELIVER_OK;
		write_item(it, i, n);
	}
	for (size_t i = 0; i < n; i++)
		commit_item(it, i);
	sync_items(it, n);
	for (size_t i = 0; i < n; i++) {
		if (code[i] == DELIVER_OK) {
			str_copys(&why[i], "");
			str_catf(&why[i], "delivered to maildir %s", dir[i]);
		}
		if (it[i].owner == i && it[i].tmpfd >= 0) {
			close(it[i].tmpfd);
			close(it[i].newfd);
		}
		str_free(&it[i].name);
	}
	free(it);
}

int maildir_deliver(const char *dir, const struct dmsg *m, struct str *why)
{
	int code;
	maildir_deliver_batch(&dir, &m, 1, &code, why);
	return code;
}
