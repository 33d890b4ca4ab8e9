/*
 * report.c - delivery status notifications leave through the queue (see
 * sched.h): a bounce to the sender, a double bounce to bounce-to, a delay
 * warning; built by lib/dsn.c and injected with the queue protocol.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "alloc.h"
#include "bio.h"
#include "child.h"
#include "die.h"
#include "dsn.h"
#include "log.h"
#include "sched.h"

extern char **environ;

char **env_with_id(const char *id)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **envp = xreallocarray(NULL, n + 2, sizeof *envp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "QUEUE_ID=", 9) != 0)
			envp[k++] = environ[i];
	size_t len = strlen("QUEUE_ID=") + strlen(id) + 1;
	envp[k] = xmalloc(len);
	snprintf(envp[k], len, "QUEUE_ID=%s", id);
	envp[k + 1] = NULL;
	return envp;
}

void env_free(char **envp)
{
	size_t k = 0;
	while (envp[k + 1])
		k++;
	free(envp[k]); /* only the QUEUE_ID string is ours */
	free(envp);
}

static int memfd_with(const char *name, const void *data, size_t len)
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fd_write_all(fd, data, len) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* a fresh id for a report, distinct from the previous one */
static void fresh_id(struct sched *s, char id[QID_SIZE])
{
	do
		qid_make(id);
	while (strcmp(id, s->lastid) == 0);
	memcpy(s->lastid, id, QID_SIZE);
}

/* inject msg from the null sender to rcpt through the queue program; 0 ok */
static int inject(struct sched *s, const struct str *msg, const char *rcpt, char id[QID_SIZE])
{
	struct str env = STR_INIT;
	str_catb(&env, "F\0T", 3);
	str_cats(&env, rcpt);
	str_catb(&env, "\0\0", 2);
	int mfd = memfd_with("report", msg->s, msg->len);
	int efd = memfd_with("envelope", env.s, env.len);
	str_free(&env);
	int ok = -1;
	if (mfd < 0 || efd < 0) {
		warn_sys("unable to create a report");
		goto out;
	}
	const char *qp = getenv("QMAILQUEUE");
	char *argv[] = { (char *)(qp && *qp ? qp : "queue-inject"), NULL };
	fresh_id(s, id);
	char **envp = env_with_id(id);
	struct child_fd map[] = { { mfd, 0 }, { efd, 1 } };
	pid_t pid = child_spawn(argv, map, 2, envp);
	env_free(envp);
	if (pid < 0) {
		warn_sys("unable to run %s", argv[0]);
		goto out;
	}
	int st = child_wait(pid);
	if (st < 0)
		warn_sys("unable to wait for %s", argv[0]);
	else if (child_exit_code(st) != 0)
		warn_msg("%s exited %d", argv[0], child_exit_code(st));
	else
		ok = 0;
out:
	if (mfd >= 0)
		close(mfd);
	if (efd >= 0)
		close(efd);
	return ok;
}

/* the original header section, for the report's third part */
static void read_headers(struct sched *s, struct msg *m, struct str *out)
{
	int fd = open_msg(s, m->e->id);
	if (fd < 0)
		return;
	off_t off = m->body;
	while (out->len <= DSN_HEADERS_MAX) {
		str_ready(out, 65536);
		ssize_t r = pread(fd, out->s + out->len, 65536, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		out->len += (size_t)r;
		off += r;
		if (dsn_header_len(out->s, out->len) < out->len)
			break; /* the blank line has come */
	}
	out->len = dsn_header_len(out->s ? out->s : "", out->len);
	close(fd);
}

/*
 * Send what is owed: a bounce for the recipients marked "fail" (to the
 * sender; for the null sender a double bounce to bounce-to; a failed double
 * bounce is dropped), or with delayed set, a warning for those pending.
 * The report is in the queue before its recipients are marked.  0 ok.
 */
int report(struct sched *s, struct msg *m, int delayed)
{
	time_t t = now();
	const char *to = m->env.sender;
	int dbl = !delayed && !*to;
	struct str lines = STR_INIT;
	struct dsn_rcpt *r = xcalloc(m->env.nrcpt ? m->env.nrcpt : 1, sizeof *r);
	size_t n = 0;
	if (dbl)
		to = s->c.bounce_to.s;
	for (size_t i = 0; i < m->env.nrcpt; i++) {
		const struct qstate_rcpt *x = &m->st.r[i];
		if (x->state != (delayed ? QR_PENDING : QR_FAILED))
			continue;
		if (dbl && strcasecmp(m->env.rcpt[i], s->c.bounce_to.s) == 0) {
			/* a bounce to bounce-to itself failed: nobody is left to tell */
			qstate_rcpt_line(&lines, "bounced", i, t, "dropped");
			log_line("event=drop id=%s rcpt=<%s> reason=\"double bounce failed\"", m->e->id,
				 m->env.rcpt[i]);
			continue;
		}
		r[n].addr = m->env.rcpt[i];
		r[n].diag = x->text ? x->text : "";
		r[n].last = x->when;
		n++;
	}
	int ok = 0;
	if (n) {
		struct str hdr = STR_INIT, msg = STR_INIT;
		read_headers(s, m, &hdr);
		struct dsn_report rep = {
			.delayed = delayed, .me = s->c.me.s, .id = m->e->id, .to = to,
			.arrival = m->arrival, .now = t, .rcpt = r, .nrcpt = n,
			.headers = hdr.s, .hlen = hdr.len,
		};
		dsn_build(&rep, &msg);
		char rid[QID_SIZE];
		ok = inject(s, &msg, to, rid);
		if (ok == 0) {
			log_line("event=%s id=%s to=<%s> rcpts=%zu report_id=%s",
				 delayed ? "delay-warning" : dbl ? "double-bounce" : "bounce", m->e->id, to,
				 n, rid);
			if (delayed)
				str_catf(&lines, "warned %lld\n", (long long)t);
			else
				for (size_t i = 0; i < m->env.nrcpt; i++)
					if (m->st.r[i].state == QR_FAILED &&
					    !(dbl && strcasecmp(m->env.rcpt[i], s->c.bounce_to.s) == 0))
						qstate_rcpt_line(&lines, "bounced", i, t, rid);
		} else
			log_line("event=error id=%s reason=\"unable to queue the %s\"", m->e->id,
				 delayed ? "delay warning" : "bounce");
		str_free(&hdr);
		str_free(&msg);
	}
	if (lines.len)
		record(m, &lines);
	str_free(&lines);
	free(r);
	return ok;
}
