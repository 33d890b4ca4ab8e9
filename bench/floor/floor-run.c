/*
 * floor-run - the queue runner of the benchmark's "floor".
 *
 * A benchmark instrument, not part of sluice (bench/README.md, "The
 * floor"): the least work a runner can do and keep the queue contract.
 * Run in the directory holding queue/, it waits on the FIFO queue/trigger
 * and, at start and on each trigger byte, starts argv[1...] (a delivery
 * program) with posix_spawn for each file of queue/new/ not already being
 * delivered, the file on its fd 0, at most CONCURRENCY at once (sluice's
 * default concurrency-local).  When one exits 0 its queue file is
 * unlinked; nothing is flushed here, since a crash before the unlink only
 * repeats a delivery, which the contract allows.  A failed delivery stays
 * in queue/new/ for the next scan.  No retry schedule, no bounces, no
 * per-recipient state, no logging beyond failures.
 *
 * floor-run -b N program args: the same, but a delivery takes up to N
 * queue files at once, named after args (queue/new/NAME), rather than one
 * on fd 0.  Not a mode sluice's contracts allow (DESIGN.md contract 3 is
 * one delivery program per recipient): it measures what batching
 * deliveries would gain (bench/README.md, "Round 7").
 *
 * With FLOOR_CONF set (the "duties" server, duty.h) it logs, as queue-run
 * does, each delivery's result and each message done.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROG "floor-run"
#include "floor.h"
#include "duty.h"

#define CONCURRENCY 10
#define BATCH_MAX 64
#define ARGV_MAX 8            /* the delivery program and its arguments */

extern char **environ;

static int chld_w;               /* SIGCHLD's self-pipe, write end */
static int batch = 1;            /* -b: queue files per delivery */
static int duties;               /* FLOOR_CONF set: log as queue-run does */
static struct {
	pid_t pid;                   /* 0: free, -1: being filled */
	int n;                       /* queue files it delivers */
	char name[BATCH_MAX][NAME_MAX + 1];
} slot[CONCURRENCY];

static void on_chld(int sig)
{
	int e = errno;
	ssize_t r = write(chld_w, "", 1);   /* full pipe: a wake-up is pending anyway */
	(void)sig;
	(void)r;
	errno = e;
}

/* Reads what is in FD (non-blocking) so that poll waits again. */
static void drain(int fd)
{
	char b[256];
	for (;;) {
		ssize_t r = read(fd, b, sizeof b);
		if (r == (ssize_t)sizeof b || (r < 0 && errno == EINTR))
			continue;
		if (r > 0 || (r < 0 && errno == EAGAIN))
			return;
		if (r == 0)
			errno = EPIPE;
		fail("read a wake-up pipe");
	}
}

/* Starts slot I's delivery: its one queue file on fd 0, or with -b its
 * files' paths after the program's arguments. */
static void start(int i, char **deliver)
{
	char path[BATCH_MAX][sizeof "queue/new/" + NAME_MAX];
	char *av[ARGV_MAX + BATCH_MAX + 1];
	posix_spawn_file_actions_t fa;
	int k = 0, fd = -1;
	while (deliver[k]) {
		av[k] = deliver[k];
		k++;
	}
	for (int j = 0; j < slot[i].n; j++) {
		snprintf(path[j], sizeof path[j], "queue/new/%s", slot[i].name[j]);
		if (batch > 1)
			av[k++] = path[j];
	}
	av[k] = NULL;
	if ((errno = posix_spawn_file_actions_init(&fa)) != 0)
		fail("set up a delivery's fds");
	if (batch == 1) {
		if ((fd = open(path[0], O_RDONLY | O_CLOEXEC)) < 0)
			fail("open a queue file");
		if ((errno = posix_spawn_file_actions_adddup2(&fa, fd, 0)) != 0)
			fail("set up a delivery's fds");
	}
	if ((errno = posix_spawn(&slot[i].pid, deliver[0], &fa, NULL, av, environ)) != 0)
		fail("start the delivery program");
	posix_spawn_file_actions_destroy(&fa);
	if (fd >= 0 && close(fd) < 0)
		fail("close a queue file");
}

/* Starts deliveries for queue/new/ while slots are free, each slot with up
 * to BATCH files; 1 if some file had to wait for one. */
static int scan(char **deliver)
{
	DIR *d = opendir("queue/new");
	int waiting = 0, fill = -1;
	if (!d)
		fail("open queue/new");
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno)
				fail("read queue/new");
			break;
		}
		if (de->d_name[0] == '.')
			continue;
		int i, j = 0, idle = -1;
		for (i = 0; i < CONCURRENCY; i++) {
			if (slot[i].pid == 0) {
				if (idle < 0)
					idle = i;
				continue;
			}
			for (j = 0; j < slot[i].n; j++)
				if (strcmp(slot[i].name[j], de->d_name) == 0)
					break;
			if (j < slot[i].n)
				break;
		}
		if (i < CONCURRENCY)
			continue;           /* being delivered */
		if (fill < 0) {
			if (idle < 0) {
				waiting = 1;
				break;
			}
			fill = idle;
			slot[fill].pid = -1;
			slot[fill].n = 0;
		}
		strcpy(slot[fill].name[slot[fill].n++], de->d_name);
		if (slot[fill].n == batch) {
			start(fill, deliver);
			fill = -1;
		}
	}
	if (fill >= 0)
		start(fill, deliver);
	if (closedir(d) < 0)
		fail("close queue/new");
	return waiting;
}

/* Collects finished deliveries; how many slots came free. */
static int reap(void)
{
	int freed = 0, st;
	char path[sizeof "queue/new/" + NAME_MAX];
	for (;;) {
		pid_t p = waitpid(-1, &st, WNOHANG);
		if (p == 0 || (p < 0 && errno == ECHILD))
			return freed;
		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0)
			fail("wait for a delivery");
		for (int i = 0; i < CONCURRENCY; i++) {
			if (slot[i].pid != p)
				continue;
			for (int j = 0; j < slot[i].n; j++) {
				snprintf(path, sizeof path, "queue/new/%s", slot[i].name[j]);
				if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
					fprintf(stderr, "floor-run: warning: delivery of %s failed, left queued\n", path);
				else if (unlink(path) < 0)
					fail("remove a delivered queue file");
				else if (duties) {
					duty_log("event=delivery id=%s result=delivered", slot[i].name[j]);
					duty_log("event=done id=%s", slot[i].name[j]);
				}
			}
			slot[i].pid = 0;
			freed++;
		}
	}
}

int main(int argc, char **argv)
{
	int cp[2];
	struct sigaction sa;

	if (argc > 2 && strcmp(argv[1], "-b") == 0) {
		batch = atoi(argv[2]);
		argv += 2;
		argc -= 2;
	}
	if (argc < 2 || argc - 1 > ARGV_MAX || batch < 1 || batch > BATCH_MAX) {
		fputs("usage: floor-run [-b 1-64] deliver-program [arg...]\n", stderr);
		return 100;
	}
	duties = getenv("FLOOR_CONF") != NULL;
	if (pipe2(cp, O_NONBLOCK | O_CLOEXEC) < 0)
		fail("make a pipe");
	chld_w = cp[1];
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_chld;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	if (sigemptyset(&sa.sa_mask) < 0 || sigaction(SIGCHLD, &sa, NULL) < 0)
		fail("catch SIGCHLD");
	/* read and write: the FIFO never reports an end when writers go */
	int trig = open("queue/trigger", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (trig < 0)
		fail("open queue/trigger");
	struct pollfd pf[2] = { { trig, POLLIN, 0 }, { cp[0], POLLIN, 0 } };
	int waiting = scan(argv + 1);
	for (;;) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fail("wait for work");
		}
		int again = 0;
		if (pf[0].revents) {
			drain(trig);
			again = 1;
		}
		if (pf[1].revents) {
			drain(cp[0]);
			if (reap() > 0 && waiting)
				again = 1;
		}
		if (again)
			waiting = scan(argv + 1);
	}
}
