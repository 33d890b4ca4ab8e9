/*
 * privsep.c - sanitizing a set-id program's inheritance (see privsep.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "alloc.h"
#include "privsep.h"

int privsep_setid(void)
{
	return getauxval(AT_SECURE) != 0;
}

int privsep_std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		if (errno != EBADF)
			return -1;
		int n = open("/dev/null", O_RDWR);
		if (n < 0)
			return -1;
		if (n != fd) { /* a lower fd was closed too and is now taken: cannot happen in order */
			close(n);
			errno = EBADF;
			return -1;
		}
	}
	return 0;
}

int privsep_env_keep(const char *const *keep)
{
	size_t n = 0;
	while (keep[n])
		n++;
	char **saved = xreallocarray(NULL, n + 1, sizeof *saved);
	for (size_t i = 0; i < n; i++) {
		const char *v = getenv(keep[i]);
		saved[i] = v ? xstrdup(v) : NULL;
	}
	int r = clearenv();
	for (size_t i = 0; i < n; i++) {
		if (r == 0 && saved[i] && setenv(keep[i], saved[i], 1) < 0)
			r = -1;
		free(saved[i]);
	}
	free(saved);
	if (r != 0 && errno == 0)
		errno = ENOMEM;
	return r != 0 ? -1 : 0;
}

int privsep_become(uid_t uid, gid_t gid)
{
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return -1;
	if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid) {
		errno = EPERM;
		return -1;
	}
	return 0;
}
