/*
 * child.h - starting the next program in a chain.
 *
 * child_spawn runs argv (PATH searched) with some of our descriptors moved
 * to fixed numbers in the child: {pipe_read, 0}, {pipe_write, 1}, ...
 * Overlapping maps are safe: a source that an earlier move would overwrite
 * is first copied out of the way.
 * posix_spawn (vfork-style in glibc) keeps the cost of a spawn low on the
 * per-message and per-delivery paths.
 */
#ifndef SLUICE_CHILD_H
#define SLUICE_CHILD_H
#include <stddef.h>
#include <sys/types.h>

#include "str.h"

/* at most this many in a map, each to below 64 (copies go above it) */
#define CHILD_MAP_MAX 40

struct child_fd {
	int from;
	int to;
};

/* pid, or -1 with errno set (exec failure included) */
pid_t child_spawn(char *const argv[], const struct child_fd *map, size_t nmap, char *const envp[]);
/*
 * As child_spawn, in a process group of its own (whose id is the pid), so
 * kill(-pid, sig) reaches everything it started: for a stuck delivery.
 */
pid_t child_spawn_group(char *const argv[], const struct child_fd *map, size_t nmap,
			char *const envp[]);
/* wait for pid; returns the wait status, or -1 with errno */
int child_wait(pid_t pid);
/*
 * Wait for pid at most timeout_ms (negative: forever).  0 with *status set
 * when it ended; -1 with errno ETIMEDOUT after killing it (SIGKILL, reaped),
 * or another errno on failure.
 */
int child_wait_timeout(pid_t pid, int timeout_ms, int *status);
/*
 * Exit code of a wait status: the code itself, or 128+signal for a
 * killed child (so callers treat it as an unexpected, temporary failure).
 */
int child_exit_code(int status);
/*
 * Where posix_spawnp would find prog: 1 with the path in found (prog itself
 * when it names a directory), 0 with errno set when it is not there
 * (ENOENT) or not executable (EACCES).
 */
int child_find(const char *prog, struct str *found);
/* split a command line on white space into a NULL-terminated argv (no quoting) */
char **child_argv_split(const char *line);
/* a copy of a NULL-terminated argv (free with child_argv_free) */
char **child_argv_copy(char *const argv[]);
/*
 * argv[0] (allocated, as child_argv_split and child_argv_copy make it)
 * replaced by where child_find finds it; 1, or 0 with errno as child_find
 * sets it and argv unchanged.
 */
int child_argv_resolve(char **argv);
void child_argv_free(char **argv);

#endif
