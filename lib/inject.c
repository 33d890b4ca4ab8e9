/* inject.c - starting the queue program (see inject.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bio.h"
#include "child.h"
#include "inject.h"

int inject_start(struct inject *q)
{
	int m[2], e[2], r[2];
	q->pid = -1;
	q->msg = q->env = q->reply = -1;
	if (pipe2(m, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(e, O_CLOEXEC) < 0)
		goto fail_m;
	if (pipe2(r, O_CLOEXEC) < 0)
		goto fail_e;
	const char *prog = getenv("QMAILQUEUE");
	char *argv[] = { (char *)(prog && *prog ? prog : "queue-inject"), NULL };
	struct child_fd map[] = { { m[0], 0 }, { e[0], 1 }, { r[1], 6 } };
	q->pid = child_spawn(argv, map, 3, NULL);
	int err = errno;
	close(m[0]);
	close(e[0]);
	close(r[1]);
	if (q->pid < 0) {
		close(m[1]);
		close(e[1]);
		close(r[0]);
		errno = err;
		return -1;
	}
	q->msg = m[1];
	q->env = e[1];
	q->reply = r[0];
	return 0;
fail_e:
	close(e[0]);
	close(e[1]);
fail_m:
	close(m[0]);
	close(m[1]);
	return -1;
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
	}
	if (code >= 11 && code <= 40)
		return "refused permanently";
	if (code > 128)
		return "killed by a signal";
	return "temporary failure";
}

int inject_finish(struct inject *q, const struct envelope *env, struct str *why, int *permanent)
{
	struct str e = STR_INIT;
	envelope_encode(env, &e);
	close(q->msg);
	q->msg = -1;
	/* a failed envelope write shows up as the program's own exit code */
	(void)fd_write_all(q->env, e.s, e.len);
	str_free(&e);
	close(q->env);
	q->env = -1;
	char buf[1024];
	size_t got = 0;
	for (;;) {
		ssize_t n = read(q->reply, buf + got, sizeof buf - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof buf - 1) {
			char sink[512];
			while (read(q->reply, sink, sizeof sink) > 0)
				;
			break;
		}
	}
	buf[got] = '\0';
	close(q->reply);
	q->reply = -1;
	int st = child_wait(q->pid);
	int code = st < 0 ? 81 : child_exit_code(st);
	*permanent = code >= 11 && code <= 40;
	str_copys(why, "");
	if (code == 82 && (buf[0] == 'D' || buf[0] == 'Z')) {
		*permanent = buf[0] == 'D';
		size_t n = strcspn(buf + 1, "\r\n");
		str_catb(why, buf + 1, n);
	} else if (code != 0) {
		str_catf(why, "queue program exited %d: %s", code, describe(code));
	}
	return code;
}

void inject_abort(struct inject *q)
{
	if (q->msg >= 0)
		close(q->msg);
	if (q->env >= 0)
		close(q->env);
	if (q->reply >= 0)
		close(q->reply);
	q->msg = q->env = q->reply = -1;
	if (q->pid > 0)
		child_wait(q->pid);
	q->pid = -1;
}
