/* safeopen.c - mailbox paths opened without following links as root (see safeopen.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "deliver.h"
#include "safeopen.h"

/* O_PATH: a directory on the way needs search permission only, as for open(2) */
#define DIR_FLAGS (O_PATH | O_DIRECTORY | O_CLOEXEC)

int safeopen_strict(void)
{
	return geteuid() == 0;
}

/* one step down; a link is ELOOP (openat says ENOTDIR for it with O_DIRECTORY) */
static int step(int dirfd, const char *name, int strict)
{
	int fd = openat(dirfd, name, DIR_FLAGS | (strict ? O_NOFOLLOW : 0));
	if (fd < 0 && strict && errno == ENOTDIR) {
		struct stat st;
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
			errno = ELOOP;
		else
			errno = ENOTDIR;
	}
	return fd;
}

/* openat2(2)'s struct open_how and RESOLVE_NO_SYMLINKS, as Linux 5.6 has them */
struct resolve_how {
	uint64_t flags, mode, resolve;
};
#ifndef RESOLVE_NO_SYMLINKS
#define RESOLVE_NO_SYMLINKS 0x04
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/*
 * The directory dir (len bytes of it), no link followed on the way:
 * openat2 with RESOLVE_NO_SYMLINKS does it in one call; where the kernel
 * lacks it (before 5.6) or a filter refuses it, one component at a time.
 */
static int walk(const char *dir, size_t len)
{
	struct str d = STR_INIT;
	str_copyb(&d, len ? dir : ".", len ? len : 1);
	struct resolve_how how = { .flags = DIR_FLAGS, .resolve = RESOLVE_NO_SYMLINKS };
	long r = syscall(SYS_openat2, AT_FDCWD, d.s, &how, sizeof how);
	str_free(&d);
	if (r >= 0 || (errno != ENOSYS && errno != EPERM && errno != E2BIG && errno != EINVAL))
		return (int)r;
	int fd = openat(AT_FDCWD, len && dir[0] == '/' ? "/" : ".", DIR_FLAGS);
	struct str comp = STR_INIT;
	for (size_t i = 0; fd >= 0 && i < len;) {
		size_t n = 0;
		while (i + n < len && dir[i + n] != '/')
			n++;
		if (n && !(n == 1 && dir[i] == '.')) {
			str_copyb(&comp, dir + i, n);
			int next = step(fd, comp.s, 1);
			int e = errno;
			close(fd);
			errno = e;
			fd = next;
		}
		i += n ? n : 1;
	}
	str_free(&comp);
	return fd;
}

int safeopen_parent(const char *path, struct str *name)
{
	size_t len = strlen(path);
	while (len > 1 && path[len - 1] == '/')
		len--;
	size_t slash = len;
	while (slash > 0 && path[slash - 1] != '/')
		slash--;
	if (slash == len) { /* "", or "/" itself */
		errno = EINVAL;
		return -1;
	}
	str_copyb(name, path + slash, len - slash);
	if (safeopen_strict())
		return walk(path, slash);
	struct str dir = STR_INIT;
	if (slash == 0)
		str_copys(&dir, ".");
	else
		str_copyb(&dir, path, slash);
	int fd = openat(AT_FDCWD, dir.s, DIR_FLAGS);
	str_free(&dir);
	return fd;
}

int safeopen_subdir(int dirfd, const char *name, int create)
{
	/* made only when missing: it nearly always exists (a maildir's tmp/, new/) */
	int fd = step(dirfd, name, safeopen_strict());
	if (fd >= 0 || !create || errno != ENOENT)
		return fd;
	if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
		return -1;
	return step(dirfd, name, safeopen_strict());
}

int safeopen_file(int dirfd, const char *name, int flags, int mode)
{
	int fd = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return -1;
	struct stat st;
	int e = 0;
	if (fstat(fd, &st) < 0)
		e = errno;
	else if (!S_ISREG(st.st_mode))
		e = EINVAL;
	else if (safeopen_strict() && st.st_nlink != 1)
		e = EMLINK;
	if (e) {
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int safeopen_syserr(struct str *why, const char *what, const char *path)
{
	if (errno == EINVAL)
		return deliver_syserr(why, "%s is not a regular file", path);
	if (errno != ELOOP || !safeopen_strict())
		return deliver_syserr(why, "%s %s", what, path);
	str_copys(why, "");
	str_catf(why, "4.3.0 refusing a symbolic link on the path to %s: delivering as root, "
		      "no link is followed", path);
	return DELIVER_TEMP;
}
