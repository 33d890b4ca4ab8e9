/* durable.c - fsync ordering helpers (see durable.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bio.h"
#include "durable.h"
#include "fsjournal.h"
#include "str.h"

int fsync_dir(const char *dir)
{
	int fd = openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	int e = errno;
	close(fd);
	errno = e;
	return r;
}

int fsync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return fsync_dir(".");
	struct str d = STR_INIT;
	str_copyb(&d, path, slash == path ? 1 : (size_t)(slash - path));
	int r = fsync_dir(d.s);
	int e = errno;
	str_free(&d);
	errno = e;
	return r;
}

int sync_renamed(int fd, const char *dir, int dir_is_new)
{
	if (fsync(fd) < 0)
		return -1;
	if (fs_journal_orders(fd, fd))
		return 0;
	if (fsync_dir(dir) < 0)
		return -1;
	return dir_is_new ? fsync_parent(dir) : 0;
}

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1 /* <linux/fs.h>; not every C library exports it */
#endif

int rename_noreplace_at(int fromdir, const char *from, int todir, const char *to)
{
	/* the system call itself: musl, which links queue-inject, has no wrapper */
	return (int)syscall(SYS_renameat2, fromdir, from, todir, to, RENAME_NOREPLACE);
}

int rename_noreplace(const char *from, const char *to)
{
	return rename_noreplace_at(AT_FDCWD, from, AT_FDCWD, to);
}

int tmpfile_in(const char *dir)
{
	int fd = openat(AT_FDCWD, dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	/* a file system without O_TMPFILE */
	struct str path = STR_INIT;
	str_catf(&path, "%s/.scratch.XXXXXX", dir);
	fd = mkostemp(path.s, O_CLOEXEC);
	if (fd >= 0)
		unlink(path.s);
	int e = errno;
	str_free(&path);
	errno = e;
	return fd;
}

int atomic_write(const char *dir, const char *name, const void *data, size_t len)
{
	struct str tmp = STR_INIT, dst = STR_INIT;
	str_catf(&tmp, "%s/.%s.tmp", dir, name);
	str_catf(&dst, "%s/%s", dir, name);
	int r = -1, e = 0;
	int fd = openat(AT_FDCWD, tmp.s, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto out;
	if (fd_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		e = errno;
		close(fd);
		unlink(tmp.s);
		errno = e;
		goto out;
	}
	if (close(fd) < 0 || rename(tmp.s, dst.s) < 0) {
		e = errno;
		unlink(tmp.s);
		errno = e;
		goto out;
	}
	r = fsync_dir(dir);
out:
	e = errno;
	str_free(&tmp);
	str_free(&dst);
	errno = e;
	return r;
}
