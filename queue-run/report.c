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
#include <unistd.h>

#include "alloc.h"
#include "chain.h"
#include "child.h"
#include "die.h"
#include "dsn.h"
#include "log.h"
#include "sched.h"

extern char **environ;

/* a queue program that takes longer than this to commit a report is killed */
#define REPORT_INJECT_MS (300 * 1000)

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
	struct envelope env = ENVELOPE_INIT;
	envelope_set_sender(&env, "");
	envelope_add_rcpt(&env, rcpt);
	char **argv = chain_argv_queue();
	fresh_id(s, id);
	char **envp = env_with_id(id);
	struct chain c;
	struct str custom = STR_INIT, why = STR_INIT;
	int ok = -1;
	if (chain_start_env(&c, argv, envp, REPORT_INJECT_MS) < 0)
		warn_sys("unable to run %s", argv[0]);
	else if (chain_write(&c, msg->s, msg->len) < 0) {
		chain_abort(&c);
		warn_msg("%s: timed out reading a report", argv[0]);
	} else {
		int code = chain_finish(&c, &env, &custom);
		if (code == 0)
			ok = 0;
		else {
			chain_explain(code, &custom, &why);
			warn_msg("%s: %s", argv[0], why.s);
		}
	}
	env_free(envp);
	child_argv_free(argv);
	envelope_free(&env);
	str_free(&custom);
	str_free(&why);
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
		/* the "fail" marks durable first: a bounced recipient is never retried */
		sync_msg(s, m);
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
		record(s, m, &lines);
	str_free(&lines);
	free(r);
	return ok;
}
