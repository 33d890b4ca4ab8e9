/* chain.c - running the queue program (see chain.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "bio.h"
#include "chain.h"
#include "child.h"
#include "conf.h"
#include "envset.h"

enum { QX_BUG = 81 };

char **chain_argv(void)
{
	const char *q = env_get("QMAILQUEUE");
	if (q && *q) {
		char **argv = xcalloc(2, sizeof *argv);
		argv[0] = xstrdup(q);
		return argv;
	}
	struct str line = STR_INIT;
	int r = conf_line("chain", &line);
	if (r < 0) {
		str_free(&line);
		return NULL;
	}
	if (r == 0) {
		char **argv = child_argv_split(line.s);
		str_free(&line);
		if (argv[0])
			return argv;
		child_argv_free(argv);
	}
	conf_path("rules", &line);
	int rules = access(line.s, F_OK) == 0;
	str_free(&line);
	return child_argv_split(rules ? "smtp-filter -- queue-inject" : "queue-inject");
}

char **chain_argv_queue(void)
{
	const char *q = env_get("QMAILQUEUE");
	return child_argv_split(q && *q ? q : "queue-inject");
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int chain_start(struct chain *c, char *const argv[], int timeout_ms)
{
	return chain_start_env(c, argv, NULL, timeout_ms);
}

int chain_start_env(struct chain *c, char *const argv[], char *const envp[], int timeout_ms)
{
	int m[2], e[2], r[2];
	c->pid = -1;
	c->msg = c->env = c->reply = -1;
	c->ends[0] = c->ends[1] = c->ends[2] = -1;
	c->argv = NULL;
	c->envp = envp;
	c->broken = 0;
	c->start_errno = 0;
	c->timeout_ms = timeout_ms;
	c->argv = child_argv_copy(argv);
	if (!child_argv_resolve(c->argv))
		goto fail;
	if (pipe2(m, O_CLOEXEC) < 0)
		goto fail;
	if (pipe2(e, O_CLOEXEC) < 0)
		goto fail_m;
	if (pipe2(r, O_CLOEXEC) < 0)
		goto fail_e;
	/*
	 * Our ends non-blocking: a full pipe says when to start the program,
	 * and a program that stops reading cannot hold us past the timeout.
	 */
	if (fcntl(m[1], F_SETFL, O_NONBLOCK) < 0 || fcntl(e[1], F_SETFL, O_NONBLOCK) < 0 ||
	    fcntl(r[0], F_SETFL, O_NONBLOCK) < 0) {
		int saved = errno;
		close(r[0]);
		close(r[1]);
		errno = saved;
		goto fail_e;
	}
	c->msg = m[1];
	c->env = e[1];
	c->reply = r[0];
	c->ends[0] = m[0];
	c->ends[1] = e[0];
	c->ends[2] = r[1];
	return 0;
fail_e:
	close(e[0]);
	close(e[1]);
fail_m:
	close(m[0]);
	close(m[1]);
fail: {
	int saved = errno;
	child_argv_free(c->argv);
	c->argv = NULL;
	errno = saved;
	return -1;
}
}

/* run the program on the pipes; 0, or -1 with start_errno set (and broken) */
static int launch(struct chain *c)
{
	if (c->pid > 0)
		return 0;
	if (c->start_errno || !c->argv)
		return -1;
	struct child_fd map[] = { { c->ends[0], 0 }, { c->ends[1], 1 }, { c->ends[2], 6 } };
	c->pid = child_spawn(c->argv, map, 3, c->envp);
	if (c->pid < 0) {
		c->start_errno = errno ? errno : EINVAL;
		c->broken = 1;
	}
	for (int i = 0; i < 3; i++)
		close_fd(&c->ends[i]);
	child_argv_free(c->argv);
	c->argv = NULL;
	return c->pid > 0 ? 0 : -1;
}

/*
 * 0 written, -1 EPIPE or other error (errno), -2 timeout.  What the pipe
 * takes goes in at once; when it is full, the program is started to read.
 */
static int write_bounded(struct chain *c, int fd, const char *p, size_t n)
{
	while (n && c->pid < 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno != EAGAIN)
			return -1;
		if (w < 0 && launch(c) < 0)
			return -1;
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		}
	}
	while (n) {
		ssize_t w = fd_write_timeout(fd, p, n, c->timeout_ms);
		if (w < 0)
			return errno == ETIMEDOUT ? -2 : -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int chain_write(struct chain *c, const void *buf, size_t n)
{
	if (c->broken || c->msg < 0)
		return 0;
	int r = write_bounded(c, c->msg, buf, n);
	if (r == -2)
		return -1;
	if (r < 0) {
		c->broken = 1;
		close_fd(&c->msg);
	}
	return 0;
}

/*
 * Read fd 6 until EOF (the child exited or closed it), then reap.  Past
 * the deadline the child is killed: a hung queue program must not hold
 * the connection forever.
 */
static int collect(struct chain *c, struct str *custom)
{
	long long deadline = clock_ms() + c->timeout_ms;
	int killed = 0;
	while (c->reply >= 0) {
		long long left = deadline - clock_ms();
		int wait = c->timeout_ms < 0 ? -1 : left > 0 ? (int)left : 0;
		char buf[1024];
		ssize_t r = fd_read_timeout(c->reply, buf, sizeof buf, wait);
		if (r > 0) {
			if (custom && custom->len < CHAIN_REPLY_MAX) {
				size_t take = (size_t)r;
				if (take > CHAIN_REPLY_MAX - custom->len)
					take = CHAIN_REPLY_MAX - custom->len;
				str_catb(custom, buf, take);
			}
			continue;
		}
		if (r < 0 && errno == ETIMEDOUT) {
			kill(c->pid, SIGKILL);
			killed = 1;
		}
		close_fd(&c->reply);
	}
	int status = child_wait(c->pid);
	c->pid = -1;
	if (killed)
		return QX_BUG;
	return status < 0 ? QX_BUG : child_exit_code(status);
}

int chain_finish(struct chain *c, const struct envelope *env, struct str *custom)
{
	close_fd(&c->msg);
	if (custom)
		str_copyb(custom, "", 0);
	struct str e = STR_INIT;
	envelope_encode(env, &e);
	/* a child that is gone or stopped reading tells its reason by its exit code */
	if (!c->start_errno && write_bounded(c, c->env, e.s, e.len) == -2)
		kill(c->pid, SIGKILL);
	str_free(&e);
	close_fd(&c->env);
	if (launch(c) < 0) {
		close_fd(&c->reply);
		return CHAIN_UNSTARTED;
	}
	return collect(c, custom);
}

static const char *describe(int code)
{
	switch (code) {
	case 31: return "refused by a filter";
	case 51: return "out of memory";
	case 52: return "timeout";
	case 53: return "write error or disk full";
	case 54: return "unable to read the message or envelope";
	case 55: return "unable to read configuration";
	case 71: return "refused temporarily";
	case 81: return "internal bug";
	case 91: return "envelope format error";
	case CHAIN_UNSTARTED: return "unable to start";
	}
	if (code >= 11 && code <= 40)
		return "refused permanently";
	if (code > 128)
		return "killed by a signal";
	return "temporary failure";
}

int chain_explain(int code, const struct str *custom, struct str *why)
{
	str_copys(why, "");
	if (code == 82 && custom && custom->len && (custom->s[0] == 'D' || custom->s[0] == 'Z')) {
		size_t n = strcspn(custom->s + 1, "\r\n");
		str_catb(why, custom->s + 1, n);
		return custom->s[0] == 'D';
	}
	if (code != 0)
		str_catf(why, "queue program exited %d: %s", code, describe(code));
	return code >= 11 && code <= 40;
}

void chain_abort(struct chain *c)
{
	close_fd(&c->msg);
	close_fd(&c->env);
	for (int i = 0; i < 3; i++)
		close_fd(&c->ends[i]);
	child_argv_free(c->argv);
	c->argv = NULL;
	if (c->pid > 0) {
		/*
		 * With no envelope nothing can be committed, and queue-inject
		 * removes its temporary file when it sees the envelope end early;
		 * a signal would leave that file behind, so none is sent.
		 */
		collect(c, NULL);
	}
	close_fd(&c->reply);
	c->pid = -1;
}
