/* child.c - spawning chain programs (see child.h). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "child.h"
#include "envset.h"

extern char **environ;

static pid_t spawn(char *const argv[], const struct child_fd *map, size_t nmap, char *const envp[],
		   int group)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int tmp[CHILD_MAP_MAX];
	pid_t pid = -1;
	int e = 0;
	if (nmap > CHILD_MAP_MAX) {
		errno = EINVAL;
		return -1;
	}
	if ((e = posix_spawn_file_actions_init(&fa)) != 0) {
		errno = e;
		return -1;
	}
	size_t made = 0;
	for (; made < nmap; made++) {
		/*
		 * A source that an earlier dup2 would overwrite, or that is its own
		 * target (a dup2 onto itself keeps close-on-exec in older libcs),
		 * is first copied above every target.
		 */
		int clobbered = map[made].from == map[made].to;
		for (size_t k = 0; k < made; k++)
			clobbered |= map[k].to == map[made].from;
		tmp[made] = clobbered ? fcntl(map[made].from, F_DUPFD_CLOEXEC, 64) : -1;
		if (clobbered && tmp[made] < 0) {
			e = errno;
			goto out;
		}
	}
	for (size_t i = 0; i < nmap; i++)
		if ((e = posix_spawn_file_actions_adddup2(&fa, tmp[i] >= 0 ? tmp[i] : map[i].from, map[i].to)) != 0)
			goto out;
	if ((e = posix_spawnattr_init(&attr)) != 0)
		goto out;
	if (group && ((e = posix_spawnattr_setpgroup(&attr, 0)) != 0 ||
		      (e = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP)) != 0)) {
		posix_spawnattr_destroy(&attr);
		goto out;
	}
	e = posix_spawnp(&pid, argv[0], &fa, &attr, argv, envp ? envp : environ);
	posix_spawnattr_destroy(&attr);
	if (e != 0)
		pid = -1;
out:
	for (size_t i = 0; i < made; i++)
		if (tmp[i] >= 0)
			close(tmp[i]);
	posix_spawn_file_actions_destroy(&fa);
	errno = e;
	return pid;
}

pid_t child_spawn(char *const argv[], const struct child_fd *map, size_t nmap, char *const envp[])
{
	return spawn(argv, map, nmap, envp, 0);
}

pid_t child_spawn_group(char *const argv[], const struct child_fd *map, size_t nmap,
			char *const envp[])
{
	return spawn(argv, map, nmap, envp, 1);
}

int child_wait(pid_t pid)
{
	int status;
	for (;;) {
		pid_t r = waitpid(pid, &status, 0);
		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

int child_wait_timeout(pid_t pid, int timeout_ms, int *status)
{
	if (timeout_ms < 0) {
		int st = child_wait(pid);
		if (st == -1)
			return -1;
		*status = st;
		return 0;
	}
	/* a pidfd becomes readable when the child ends: no polling loop */
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pfd < 0)
		return -1;
	struct pollfd p = { .fd = pfd, .events = POLLIN };
	int r;
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	close(pfd);
	if (r == 0) {
		kill(pid, SIGKILL);
		(void)child_wait(pid);
		errno = ETIMEDOUT;
		return -1;
	}
	int st = child_wait(pid);
	if (st == -1)
		return -1;
	*status = st;
	return 0;
}

int child_exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 255;
}

int child_find(const char *prog, struct str *found)
{
	str_copys(found, prog);
	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0;
	const char *path = env_get("PATH");
	int denied = 0;
	for (const char *d = path ? path : "/usr/bin:/bin";;) {
		const char *colon = strchr(d, ':');
		size_t n = colon ? (size_t)(colon - d) : strlen(d);
		str_copyb(found, n ? d : ".", n ? n : 1);
		str_catc(found, '/');
		str_cats(found, prog);
		if (access(found->s, X_OK) == 0)
			return 1;
		denied |= errno == EACCES;
		if (!colon) {
			errno = denied ? EACCES : ENOENT; /* as execvp reports it */
			return 0;
		}
		d = colon + 1;
	}
}

char **child_argv_split(const char *line)
{
	char **argv = xmalloc(sizeof *argv);
	size_t n = 0;
	const char *p = line;
	for (;;) {
		while (*p && isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		const char *w = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		argv = xreallocarray(argv, n + 2, sizeof *argv);
		argv[n++] = xstrndup(w, (size_t)(p - w));
	}
	argv[n] = NULL;
	return argv;
}

char **child_argv_copy(char *const argv[])
{
	size_t n = 0;
	while (argv[n])
		n++;
	char **copy = xcalloc(n + 1, sizeof *copy);
	for (size_t i = 0; i < n; i++)
		copy[i] = xstrdup(argv[i]);
	return copy;
}

int child_argv_resolve(char **argv)
{
	struct str found = STR_INIT;
	int ok = child_find(argv[0], &found);
	int e = errno;
	if (ok) {
		free(argv[0]);
		argv[0] = xstrdup(found.s);
	}
	str_free(&found);
	errno = e;
	return ok;
}

void child_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}
