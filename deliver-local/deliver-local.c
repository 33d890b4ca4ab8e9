/*
 * deliver-local - deliver one message to one local recipient
 * (DESIGN.md contract 3):  deliver-local SENDER RECIPIENT < message
 *
 * The recipient is resolved through lib/local.c (users, aliases,
 * extensions, system accounts: the same rules smtp-recv applies at RCPT
 * time) into destinations: maildirs, mbox files, |commands and forwards.
 * Each mailbox or command is delivered by a process that has first taken
 * on the destination's account (setgroups, setgid, setuid), so no mailbox
 * is ever touched with more privilege than its owner's: a child process,
 * or this one when it has no root to shed or nothing left to do as root
 * (in_process).  Forwards leave last, as one new message through the
 * queue program.
 *
 * Exit 0 delivered, 100 permanent failure, 111 temporary failure; the
 * first line on stdout says why, starting with an RFC 3463 code on
 * failure.  Destinations are delivered in order and the first failure
 * stops the run, so a retry may deliver the ones before it again (never
 * lose them).
 *
 * deliver-local -n RECIPIENT prints the destinations without delivering.
 *
 * Installed set-uid root, executable by the queue group only (4750
 * root:sluiceq): root is needed only to become a system account.  Set-id,
 * the caller's environment is dropped whole (so SLUICE_CONF, QMAILQUEUE and
 * PATH are the compiled-in defaults), and a destination with no account of
 * its own (a virtual mailbox without an owner column, an alias path or
 * command when the aliases table belongs to root, the forward) is handled as
 * the "mail owner": the caller (the queue user) when set-uid, else the
 * queue directory's owner.  Only when that is root too (an installation
 * without privilege separation) does such a delivery run as root.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "bio.h"
#include "conf.h"
#include "deliver.h"
#include "envelope.h"
#include "header.h"
#include "chain.h"
#include "child.h"
#include "local.h"
#include "log.h"
#include "maildir.h"
#include "mbox.h"
#include "privsep.h"
#include "queue.h"
#include "str.h"

#define HEADER_MAX (1u << 20) /* scanned for Delivered-To; more is not a header */
#define OUTPUT_MAX 1000       /* kept of a command's output */

struct owner {
	uid_t uid;
	gid_t gid;
};

struct job {
	const char *sender, *rcpt;
	struct str lrcpt;         /* lowercased recipient */
	struct local_result res;
	struct str prefix;        /* Return-Path: and Delivered-To: */
	struct dmsg msg;
	unsigned long long lock_timeout, command_timeout;
	struct str report;        /* the success line, built up */
	uid_t owner_uid;          /* the mail owner: see the top comment */
	gid_t owner_gid;
};

__attribute__((noreturn))
static void finish(int code, const char *why)
{
	/* one write, not stdio's: its first use on stdout costs a tty check */
	fflush(stdout);
	struct str line = STR_INIT;
	str_cats(&line, why);
	str_catc(&line, '\n');
	(void)fd_write_all(1, line.s, line.len);
	str_free(&line);
	exit(code);
}

/* "\n\n" in s[0..n): line by line, as musl's memmem goes byte by byte */
static int has_blank_line(const char *s, size_t n)
{
	const char *end = s + n;
	for (const char *p = s; (p = memchr(p, '\n', (size_t)(end - p))) && p + 1 < end; p++)
		if (p[1] == '\n')
			return 1;
	return 0;
}

/* does the header already carry "Delivered-To: <this recipient>": 1, 0, or -1 unreadable */
static int looping(const struct job *j)
{
	/* 8 KiB first, then 64 KiB pieces: most headers fit the first (a
	 * 64 KiB read would copy, and fault in, 64 KiB of every larger
	 * message), and HEADER_MAX at once would be a mapping of its own,
	 * made and unmade per delivery */
	struct str head = STR_INIT;
	while (head.len < HEADER_MAX) {
		size_t piece = head.len ? 65536 : 8192;
		size_t want = HEADER_MAX - head.len < piece ? HEADER_MAX - head.len : piece;
		str_ready(&head, want);
		ssize_t n = dmsg_read(&j->msg, (off_t)head.len, head.s + head.len, want);
		if (n < 0) {
			str_free(&head);
			return -1;
		}
		if (n == 0)
			break;
		size_t from = head.len ? head.len - 1 : 0; /* "\n\n" may span two pieces */
		head.len += (size_t)n;
		if (has_blank_line(head.s + from, head.len - from))
			break;
	}
	const char *buf = head.s ? head.s : "";
	size_t hlen = header_len(buf, head.len);
	size_t pos = 0;
	struct header_field f;
	struct str v = STR_INIT;
	int loop = 0;
	while (!loop && header_next(buf, hlen, &pos, &f)) {
		if (!header_name_is(&f, "Delivered-To"))
			continue;
		header_unfold(f.value, f.valuelen, &v);
		const char *s = v.s;
		size_t n = v.len;
		if (n >= 2 && s[0] == '<' && s[n - 1] == '>')
			s++, n -= 2;
		loop = n == j->lrcpt.len && strncasecmp(s, j->lrcpt.s, n) == 0;
	}
	str_free(&v);
	str_free(&head);
	return loop;
}

/* as root, become the mail owner for good (a no-op when that is root) */
static int become_owner(const struct job *j, struct str *why)
{
	if (geteuid() != 0 || j->owner_uid == 0)
		return 0;
	if (privsep_become(j->owner_uid, j->owner_gid) < 0) {
		deliver_syserr(why, "unable to switch to the mail owner uid %ld gid %ld",
			       (long)j->owner_uid, (long)j->owner_gid);
		return -1;
	}
	return 0;
}

/* who the mail owner is (see the top comment), while still root: once a run, for every job */
static void find_owner(struct owner *o)
{
	o->uid = getuid();
	o->gid = getgid();
	if (geteuid() != 0 || o->uid != 0)
		return;
	struct str q = STR_INIT;
	struct stat st;
	if (queue_dir(&q) == 0 && stat(q.s, &st) == 0) {
		o->uid = st.st_uid;
		o->gid = st.st_gid;
	}
	str_free(&q);
}

/* become the destination's account; 0, or -1 with why set */
static int become(const struct job *j, const struct local_dest *d, struct str *why)
{
	if (!d->as_user)
		return become_owner(j, why);
	if (geteuid() != 0) {
		if (geteuid() == d->uid)
			return 0;
		str_catf(why, "4.3.0 cannot deliver as uid %ld: deliver-local is not running as root",
			 (long)d->uid);
		return -1;
	}
	if (d->uid == 0) {
		str_cats(why, "4.3.0 refusing to deliver as root");
		return -1;
	}
	if (setgroups(1, &d->gid) < 0 || setgid(d->gid) < 0 || setuid(d->uid) < 0 ||
	    getuid() != d->uid || geteuid() != d->uid || getegid() != d->gid) {
		deliver_syserr(why, "unable to switch to uid %ld gid %ld", (long)d->uid, (long)d->gid);
		return -1;
	}
	return 0;
}

static void env_add(char ***env, size_t *n, const char *name, const char *value)
{
	struct str s = STR_INIT;
	str_catf(&s, "%s=%s", name, value);
	*env = xreallocarray(*env, *n + 2, sizeof **env);
	(*env)[(*n)++] = s.s;
	(*env)[*n] = NULL;
}

/* the qmail-command(8) environment, and nothing of ours */
static char **program_env(const struct job *j, const struct local_dest *d)
{
	char **env = NULL;
	size_t n = 0;
	const char *at = strrchr(j->lrcpt.s, '@');
	struct str local = STR_INIT, line = STR_INIT;
	str_catb(&local, j->lrcpt.s, at ? (size_t)(at - j->lrcpt.s) : j->lrcpt.len);
	env_add(&env, &n, "SENDER", j->sender);
	env_add(&env, &n, "RECIPIENT", j->lrcpt.s);
	env_add(&env, &n, "LOCAL", local.s);
	env_add(&env, &n, "HOST", at ? at + 1 : "");
	env_add(&env, &n, "EXT", j->res.ext);
	str_catf(&line, "Return-Path: <%s>\n", j->sender);
	env_add(&env, &n, "RPLINE", line.s);
	str_copys(&line, "");
	str_catf(&line, "Delivered-To: %s\n", j->lrcpt.s);
	env_add(&env, &n, "DTLINE", line.s);
	const char *path = getenv("PATH");
	env_add(&env, &n, "PATH", path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
	env_add(&env, &n, "SHELL", "/bin/sh");
	if (d->user[0]) {
		env_add(&env, &n, "USER", d->user);
		env_add(&env, &n, "LOGNAME", d->user);
	}
	env_add(&env, &n, "HOME", d->home[0] ? d->home : "/");
	const char *conf = getenv("SLUICE_CONF");
	if (conf)
		env_add(&env, &n, "SLUICE_CONF", conf);
	const char *qq = getenv("QMAILQUEUE");
	if (qq)
		env_add(&env, &n, "QMAILQUEUE", qq);
	str_free(&local);
	str_free(&line);
	return env;
}

/* qmail's codes and sysexits: 0/99 done, 100 and 64-78 but 75 permanent */
static int program_code(int status)
{
	if (!WIFEXITED(status))
		return DELIVER_TEMP;
	int c = WEXITSTATUS(status);
	if (c == 0 || c == 99)
		return DELIVER_OK;
	if (c == 100 || (c >= 64 && c <= 78 && c != 75))
		return DELIVER_PERM;
	return DELIVER_TEMP;
}

/*
 * Run "sh -c command" with prefix+message on stdin, keep the start of its
 * output, wait at most command_timeout seconds (then kill its process
 * group: a temporary failure).  Runs in the delivery child.
 */
static int run_program(const struct job *j, const struct local_dest *d, struct str *why)
{
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
	    fcntl(in[1], F_SETFL, O_NONBLOCK) < 0)
		return deliver_syserr(why, "unable to create a pipe");
	char **env = program_env(j, d);
	pid_t pid = fork();
	if (pid < 0)
		return deliver_syserr(why, "unable to fork");
	if (pid == 0) {
		setsid();
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(out[1], 2) < 0)
			_exit(111);
		if (chdir(d->home[0] ? d->home : "/") < 0 && chdir("/") < 0)
			_exit(111);
		char *argv[] = { "sh", "-c", d->target, NULL };
		execve("/bin/sh", argv, env);
		_exit(111);
	}
	close(in[0]);
	close(out[1]);
	int wfd = in[1];
	char obuf[OUTPUT_MAX + 1];
	size_t olen = 0;
	char buf[65536];
	size_t blen = 0, bpos = 0;
	off_t off = 0;
	size_t pre_off = 0;
	int eof_in = 0, timed_out = 0, reaped = 0, status = 0;
	time_t deadline = time(NULL) + (time_t)j->command_timeout;
	while (out[0] >= 0) {
		if (wfd >= 0 && bpos == blen) {
			ssize_t n;
			if (pre_off < j->prefix.len) {
				/* the prefix holds the sender: any length, so in pieces */
				size_t take = j->prefix.len - pre_off;
				if (take > sizeof buf)
					take = sizeof buf;
				memcpy(buf, j->prefix.s + pre_off, take);
				pre_off += take;
				n = (ssize_t)take;
			} else {
				n = dmsg_read(&j->msg, off, buf, sizeof buf);
				if (n > 0)
					off += n;
			}
			bpos = 0;
			blen = n > 0 ? (size_t)n : 0;
			if (n <= 0) {
				eof_in = 1;
				close(wfd);
				wfd = -1;
			}
		}
		struct pollfd p[2] = { { out[0], POLLIN, 0 }, { wfd, POLLOUT, 0 } };
		time_t left = deadline - time(NULL);
		if (left <= 0) {
			timed_out = 1;
			break;
		}
		int r = poll(p, wfd >= 0 ? 2 : 1, 1000);
		if (r < 0 && errno != EINTR)
			break;
		if (r == 0 && waitpid(pid, &status, WNOHANG) == pid) {
			reaped = 1; /* it exited; whatever still holds its output is not waited for */
			break;
		}
		if (r <= 0)
			continue;
		if (wfd >= 0 && p[1].revents) {
			ssize_t w = write(wfd, buf + bpos, blen - bpos);
			if (w > 0)
				bpos += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				close(wfd); /* it stopped reading: its exit code decides */
				wfd = -1;
			}
		}
		if (p[0].revents) {
			char tmp[4096];
			ssize_t n = read(out[0], tmp, sizeof tmp);
			if (n > 0 && olen < OUTPUT_MAX) {
				size_t k = (size_t)n < OUTPUT_MAX - olen ? (size_t)n : OUTPUT_MAX - olen;
				memcpy(obuf + olen, tmp, k);
				olen += k;
			} else if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
				close(out[0]);
				out[0] = -1;
			}
		}
	}
	(void)eof_in;
	if (wfd >= 0)
		close(wfd);
	if (out[0] >= 0)
		close(out[0]);
	if (timed_out)
		kill(-pid, SIGKILL);
	while (!reaped && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	for (char **e = env; *e; e++)
		free(*e);
	free(env);
	obuf[olen] = '\0';
	size_t first = strcspn(obuf, "\n");
	obuf[first] = '\0';
	if (timed_out) {
		str_catf(why, "4.3.0 command timed out after %llu seconds: %s", j->command_timeout,
			 d->target);
		return DELIVER_TEMP;
	}
	int code = program_code(status);
	if (code == DELIVER_OK)
		str_catf(why, "delivered to command %s", d->target);
	else if (WIFEXITED(status))
		str_catf(why, "%s command exited %d: %s", code == DELIVER_PERM ? "5.3.0" : "4.3.0",
			 WEXITSTATUS(status), olen ? obuf : d->target);
	else
		str_catf(why, "4.3.0 command killed by signal %d: %s", WTERMSIG(status), d->target);
	return code;
}

/* become the account, then write the mailbox or run the command */
static int deliver_as(const struct job *j, const struct local_dest *d, struct str *why)
{
	if (become(j, d, why) < 0)
		return DELIVER_TEMP;
	switch (d->kind) {
	case LOCAL_MAILDIR:
		return maildir_deliver(d->target, &j->msg, why);
	case LOCAL_MBOX:
		return mbox_deliver(d->target, j->sender, &j->msg, (unsigned)j->lock_timeout, why);
	default:
		return run_program(j, d, why);
	}
}

/*
 * fork with a pipe back from the child: the parent gets its read end,
 * the child (*pid 0) its write end; -1 with why set when either fails.
 */
static int fork_piped(pid_t *pid, struct str *why)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return deliver_syserr(why, "unable to create a pipe"), -1;
	fflush(stdout);
	*pid = fork();
	if (*pid < 0) {
		close(p[0]);
		close(p[1]);
		return deliver_syserr(why, "unable to fork"), -1;
	}
	close(*pid == 0 ? p[0] : p[1]);
	return *pid == 0 ? p[1] : p[0];
}

/* what the child writes on fd until it closes it (the first max octets kept), then its wait status */
static int child_output(int fd, pid_t pid, size_t max, struct str *out)
{
	char buf[4096];
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (out->len < max)
			str_catb(out, buf, (size_t)r < max - out->len ? (size_t)r : max - out->len);
	}
	close(fd);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return status;
}

static int deliver_one(const struct job *j, const struct local_dest *d, struct str *why)
{
	pid_t pid;
	int fd = fork_piped(&pid, why);
	if (fd < 0)
		return DELIVER_TEMP;
	if (pid == 0) {
		struct str w = STR_INIT;
		int code = deliver_as(j, d, &w);
		(void)fd_write_all(fd, w.s ? w.s : "", w.len);
		_exit(code);
	}
	struct str out = STR_INIT;
	int status = child_output(fd, pid, 2047, &out);
	str_copys(why, "");
	int code = DELIVER_TEMP;
	if (WIFEXITED(status) && (WEXITSTATUS(status) == DELIVER_OK ||
				  WEXITSTATUS(status) == DELIVER_PERM ||
				  WEXITSTATUS(status) == DELIVER_TEMP) && out.len) {
		str_cats(why, str_c(&out));
		code = WEXITSTATUS(status);
	} else
		str_catf(why, "4.3.0 delivery process for %s failed (status %d)", d->target, status);
	str_free(&out);
	return code;
}

/*
 * Whether d can be delivered by this process itself, without a child.
 * Without root there is no privilege to shed: a child would run with the
 * same ids.  As root only for the last mailbox or command when nothing
 * needs root after it: no forward follows, or one does and d is written as
 * the mail owner, who queues the forward anyway.  Then deliver_as drops
 * root for good (setuid as root sets every uid) and the rest of the run,
 * the result line and the log line, needs no privilege.
 */
static int in_process(const struct job *j, size_t i)
{
	if (geteuid() != 0)
		return 1;
	int forwards = 0;
	for (size_t k = i + 1; k < j->res.n; k++) {
		if (j->res.dest[k].kind != LOCAL_FORWARD)
			return 0;
		forwards = 1;
	}
	for (size_t k = 0; k < i && !forwards; k++)
		forwards = j->res.dest[k].kind == LOCAL_FORWARD;
	return !forwards || !j->res.dest[i].as_user;
}

/* one new message to every forward address, with our Delivered-To on it */
static int forward(const struct job *j, struct str *why)
{
	struct envelope env = ENVELOPE_INIT;
	str_copys(why, "");
	envelope_set_sender(&env, j->sender);
	for (size_t i = 0; i < j->res.n; i++)
		if (j->res.dest[i].kind == LOCAL_FORWARD)
			envelope_add_rcpt(&env, j->res.dest[i].target);
	if (env.nrcpt == 0) {
		envelope_free(&env);
		return DELIVER_OK;
	}
	struct chain q;
	char **qargv = chain_argv_queue();
	int started = chain_start(&q, qargv, -1);
	child_argv_free(qargv);
	if (started < 0) {
		envelope_free(&env);
		return deliver_syserr(why, "unable to start the queue program");
	}
	struct str dt = STR_INIT;
	str_catf(&dt, "Delivered-To: %s\n", j->lrcpt.s);
	int ok = chain_write(&q, dt.s, dt.len) == 0;
	str_free(&dt);
	char buf[65536];
	for (off_t off = 0; ok;) {
		ssize_t n = dmsg_read(&j->msg, off, buf, sizeof buf);
		if (n < 0) {
			chain_abort(&q);
			envelope_free(&env);
			return deliver_syserr(why, "unable to read the message");
		}
		if (n == 0)
			break;
		ok = chain_write(&q, buf, (size_t)n) == 0;
		off += n;
	}
	/* a write failure means the queue program quit: its exit code says why */
	struct str qwhy = STR_INIT, custom = STR_INIT;
	int code = chain_finish(&q, &env, &custom);
	int permanent = chain_explain(code, &custom, &qwhy);
	str_free(&custom);
	str_copys(why, "");
	int r = DELIVER_OK;
	if (code == 0) {
		str_cats(why, "forwarded to");
		for (size_t i = 0; i < env.nrcpt; i++)
			str_catf(why, " %s", env.rcpt[i]);
	} else {
		r = permanent ? DELIVER_PERM : DELIVER_TEMP;
		str_catf(why, "%s forward failed: %s", permanent ? "5.3.0" : "4.3.0", qwhy.s);
	}
	str_free(&qwhy);
	envelope_free(&env);
	return r;
}

static const char *kind_name(int kind)
{
	switch (kind) {
	case LOCAL_MAILDIR: return "maildir";
	case LOCAL_MBOX: return "mbox";
	case LOCAL_PROGRAM: return "command";
	default: return "forward";
	}
}

/* -n: show what RECIPIENT resolves to, deliver nothing */
static int show(const char *rcpt)
{
	struct local_result r = LOCAL_RESULT_INIT;
	int code = local_resolve(rcpt, &r);
	if (code != LOCAL_FOUND) {
		printf("%s\n", r.why.s);
		local_result_free(&r);
		return code == LOCAL_TEMP ? DELIVER_TEMP : DELIVER_PERM;
	}
	for (size_t i = 0; i < r.n; i++) {
		printf("%s %s", kind_name(r.dest[i].kind), r.dest[i].target);
		if (r.dest[i].as_user)
			printf(" uid=%ld gid=%ld", (long)r.dest[i].uid, (long)r.dest[i].gid);
		printf("\n");
	}
	if (r.ext[0])
		printf("ext %s\n", r.ext);
	local_result_free(&r);
	return 0;
}

/* one destination's outcome in the log */
static void log_dest(const struct job *j, const struct local_dest *d, int r, const char *why)
{
	log_line("event=deliver rcpt=<%s> dest=%s:%s result=%s reason=\"%s\"", j->rcpt,
		 d ? kind_name(d->kind) : "forward", d ? d->target : "-",
		 r == DELIVER_OK ? "ok" : r == DELIVER_PERM ? "permanent" : "temporary", why);
}

/*
 * Everything before the first mailbox is touched: the message, the loop
 * check, the recipient's destinations, the mail owner (the caller's
 * find_owner).  DELIVER_OK when the job is ready, else its final result
 * with why set.
 */
static int prepare(struct job *j, int fd, const char *sender, const char *rcpt,
		   const struct conf_list *limits, const struct conf_list *locals, const struct owner *owner,
		   struct str *why)
{
	j->sender = sender;
	j->rcpt = rcpt;
	str_copys(&j->lrcpt, rcpt);
	str_lower(&j->lrcpt);
	conf_limit(limits, "local-lock-timeout", 30, &j->lock_timeout);
	conf_limit(limits, "local-command-timeout", 600, &j->command_timeout);
	if (strpbrk(sender, "\r\n") || strpbrk(rcpt, "\r\n") || !*rcpt) {
		str_copys(why, "5.1.3 bad address syntax");
		return DELIVER_PERM;
	}
	j->msg.fd = fd;
	j->msg.start = lseek(fd, 0, SEEK_CUR);
	if (j->msg.start < 0) {
		str_catf(why, "4.3.0 the message on fd %d is not seekable", fd);
		return DELIVER_TEMP;
	}
	int loop = looping(j);
	if (loop < 0) {
		str_copys(why, "4.3.0 unable to read the message");
		return DELIVER_TEMP;
	}
	if (loop) {
		log_line("event=deliver rcpt=<%s> result=permanent reason=loop", j->rcpt);
		str_copys(why, "5.4.6 mail loop: already delivered to this address");
		return DELIVER_PERM;
	}
	int code = local_resolve_conf(j->rcpt, locals, limits, &j->res);
	if (code != LOCAL_FOUND) {
		log_line("event=deliver rcpt=<%s> result=%s reason=\"%s\"", j->rcpt,
			 code == LOCAL_TEMP ? "temporary" : "permanent", j->res.why.s);
		str_copys(why, j->res.why.s);
		return code == LOCAL_TEMP ? DELIVER_TEMP : DELIVER_PERM;
	}
	j->owner_uid = owner->uid;
	j->owner_gid = owner->gid;
	str_catf(&j->prefix, "Return-Path: <%s>\nDelivered-To: %s\n", j->sender, j->lrcpt.s);
	j->msg.prefix = j->prefix.s;
	j->msg.prefixlen = j->prefix.len;
	return DELIVER_OK;
}

/* every destination of a prepared job, in order; why: the report or the failure */
static int run_job(struct job *j, struct str *why)
{
	int r = DELIVER_OK;
	for (size_t i = 0; r == DELIVER_OK && i <= j->res.n; i++) {
		const struct local_dest *d = i < j->res.n ? &j->res.dest[i] : NULL;
		if (d && d->kind == LOCAL_FORWARD)
			continue;
		if (!d && become_owner(j, why) < 0) /* forwards are queued as the mail owner */
			r = DELIVER_TEMP;
		else if (d && in_process(j, i)) {
			str_copys(why, "");
			r = deliver_as(j, d, why);
		} else
			r = d ? deliver_one(j, d, why) : forward(j, why);
		if (!d && r == DELIVER_OK && !why->len)
			continue; /* no forwards */
		log_dest(j, d, r, why->s);
		if (r == DELIVER_OK) {
			if (j->report.len)
				str_cats(&j->report, "; ");
			str_cats(&j->report, why->s);
		}
	}
	if (r == DELIVER_OK)
		str_copyb(why, j->report.s, j->report.len);
	return r;
}

/* a result as a report of deliver-remote's kind: r, h or s, the text, NUL */
static void report_cat(struct str *out, int code, const char *why)
{
	str_catc(out, code == DELIVER_OK ? 'r' : code == DELIVER_PERM ? 'h' : 's');
	str_cats(out, why);
	str_catc(out, '\0');
}

/* a job -b hands to maildir_deliver_batch: one maildir and nothing else */
static int batchable(const struct job *j)
{
	return j->res.n == 1 && j->res.dest[0].kind == LOCAL_MAILDIR;
}

/* the account a batchable job writes as */
static int same_account(const struct job *a, const struct job *b)
{
	const struct local_dest *x = &a->res.dest[0], *y = &b->res.dest[0];
	uid_t ux = x->as_user ? x->uid : a->owner_uid, uy = y->as_user ? y->uid : b->owner_uid;
	gid_t gx = x->as_user ? x->gid : a->owner_gid, gy = y->as_user ? y->gid : b->owner_gid;
	return ux == uy && gx == gy;
}

/* the jobs of one account (sel[0..n)), together; results into code[sel[k]] and why[sel[k]] */
static void deliver_group(struct job *jobs, const size_t *sel, size_t n, int *code,
			  struct str *why)
{
	/* maildir_deliver_batch's arrays are the group's own, in its order */
	struct str fail = STR_INIT;
	const char **dir = xcalloc(n, sizeof *dir);
	const struct dmsg **msg = xcalloc(n, sizeof *msg);
	int *gcode = xcalloc(n, sizeof *gcode);
	struct str *gwhy = xcalloc(n, sizeof *gwhy);
	int r = become(&jobs[sel[0]], &jobs[sel[0]].res.dest[0], &fail);
	for (size_t k = 0; k < n; k++) {
		dir[k] = jobs[sel[k]].res.dest[0].target;
		msg[k] = &jobs[sel[k]].msg;
		gcode[k] = DELIVER_TEMP;
		if (r < 0)
			str_copyb(&gwhy[k], fail.s, fail.len);
	}
	if (r == 0)
		maildir_deliver_batch(dir, msg, n, gcode, gwhy);
	for (size_t k = 0; k < n; k++) {
		const struct job *j = &jobs[sel[k]];
		log_dest(j, &j->res.dest[0], gcode[k], str_c(&gwhy[k]));
		code[sel[k]] = gcode[k];
		str_free(&why[sel[k]]);
		why[sel[k]] = gwhy[k];
	}
	free(dir);
	free(msg);
	free(gcode);
	free(gwhy);
	str_free(&fail);
}

/* reports in[0..len) for the jobs sel[0..n), into code[] and why[]; a missing one is a failure */
static void take_reports(const char *in, size_t len, const size_t *sel, size_t n, int status,
			 int *code, struct str *why)
{
	const char *p = in, *end = in + len;
	for (size_t k = 0; k < n; k++) {
		const char *z = p < end ? memchr(p, '\0', (size_t)(end - p)) : NULL;
		str_copys(&why[sel[k]], "");
		if (!z || z == p || !strchr("rhs", *p)) {
			code[sel[k]] = DELIVER_TEMP;
			str_catf(&why[sel[k]], "4.3.0 delivery process failed (status %d)", status);
			p = end;
			continue;
		}
		code[sel[k]] = *p == 'r' ? DELIVER_OK : *p == 'h' ? DELIVER_PERM : DELIVER_TEMP;
		str_catb(&why[sel[k]], p + 1, (size_t)(z - p - 1));
		p = z + 1;
	}
}

/*
 * A child for the jobs sel[0..n): a group of one account (group) or one
 * job of any kind.  Its results come back as reports on the returned
 * pipe; -1 when it could not be started, with failure set.
 */
static int start_child(struct job *jobs, const size_t *sel, size_t n, int group, int *code,
		       struct str *why, pid_t *pid, struct str *failure)
{
	int fd = fork_piped(pid, failure);
	if (fd < 0 || *pid > 0)
		return fd;
	if (group)
		deliver_group(jobs, sel, n, code, why);
	else
		code[sel[0]] = run_job(&jobs[sel[0]], &why[sel[0]]);
	struct str rep = STR_INIT;
	for (size_t k = 0; k < n; k++)
		report_cat(&rep, code[sel[k]], str_c(&why[sel[k]]));
	_exit(fd_write_all(fd, rep.s, rep.len) < 0);
}

/* a child's reports for the jobs sel[0..n), read to its end, then the child reaped */
static void collect(int fd, pid_t pid, const size_t *sel, size_t n, int *code, struct str *why)
{
	struct str in = STR_INIT;
	int status = child_output(fd, pid, ((size_t)64 << 10) * n, &in); /* a report is a line: far less */
	take_reports(str_c(&in), in.len, sel, n, status, code, why);
	str_free(&in);
}

#define BATCH_MAX 64 /* jobs per -b run */

/*
 * deliver-local -b FD SENDER RECIPIENT ...: each job's message on its own
 * fd, one report per job on stdout in argv order, exit 0.  Jobs that each
 * write one maildir, and nothing else, as one account are delivered
 * together (maildir_deliver_batch: their flushes share journal commits);
 * any other job alone, in a child, as a run without -b would deliver it.
 * All children start first; then the first account's group is written by
 * this process itself, which as root becomes that account for good.
 */
static int batch(int argc, char **argv)
{
	if (argc < 3 || argc % 3 != 0 || argc / 3 > BATCH_MAX) {
		fprintf(stderr, "usage: deliver-local -b FD SENDER RECIPIENT [FD SENDER RECIPIENT]...\n");
		return 100;
	}
	size_t n = (size_t)argc / 3;
	int *fdof = xcalloc(n, sizeof *fdof);
	for (size_t k = 0; k < n; k++) {
		/* digits only, as deliver-remote -b takes its numbers: no sign, no blanks */
		unsigned long long fd;
		if (!scan_ull(argv[3 * k], strlen(argv[3 * k]), &fd) || fd == 1 || fd == 2 || fd > INT_MAX) {
			fprintf(stderr, "deliver-local: fatal: bad message fd: %s\n", argv[3 * k]);
			free(fdof);
			return 100;
		}
		fdof[k] = (int)fd;
	}
	struct job *jobs = xcalloc(n, sizeof *jobs);
	int *code = xcalloc(n, sizeof *code);
	struct str *why = xcalloc(n, sizeof *why);
	/*
	 * Each fd is checked before this process opens anything: one the
	 * caller left closed could otherwise come to hold a file opened here
	 * (a table, a ~/.qmail), which would then be delivered as a message.
	 * A file checked open now keeps its number until exit.
	 */
	struct stat st;
	for (size_t k = 0; k < n; k++)
		if (fstat(fdof[k], &st) < 0 || !S_ISREG(st.st_mode)) {
			code[k] = DELIVER_TEMP;
			str_catf(&why[k], "4.3.0 the message on fd %d is not seekable", fdof[k]);
		} else if (fcntl(fdof[k], F_SETFD, FD_CLOEXEC) < 0) {
			/* a |command must not inherit the other jobs' messages */
			code[k] = deliver_syserr(&why[k], "unable to set close-on-exec on fd %d", fdof[k]);
		}
	struct conf_list limits = CONF_LIST_INIT, locals = CONF_LIST_INIT;
	const char *bad = conf_list_read("limits", &limits) < 0 ? "4.3.0 unable to read limits"
			  : conf_list_read("locals", &locals) < 0 ? "4.3.0 unable to read locals" : NULL;
	struct owner owner;
	find_owner(&owner);
	for (size_t k = 0; k < n; k++) {
		if (code[k] != DELIVER_OK)
			continue;
		if (bad) {
			code[k] = DELIVER_TEMP;
			str_copys(&why[k], bad);
		} else
			code[k] = prepare(&jobs[k], fdof[k], argv[3 * k + 1], argv[3 * k + 2], &limits,
					  &locals, &owner, &why[k]);
	}
	conf_list_free(&limits);
	conf_list_free(&locals);

	/*
	 * sel lists the ready jobs grouped: [from[c], from[c] + cnt[c]) is
	 * child c's share; [own, own + nown) is the group written here.
	 */
	size_t *sel = xcalloc(n, sizeof *sel), *from = xcalloc(n, sizeof *from),
	       *cnt = xcalloc(n, sizeof *cnt);
	int *pipes = xcalloc(n, sizeof *pipes);
	pid_t *pids = xcalloc(n, sizeof *pids);
	unsigned char *taken = xcalloc(n, 1);
	size_t nsel = 0, nch = 0, own = 0, nown = 0;
	for (size_t k = 0; k < n; k++) {
		if (code[k] != DELIVER_OK || taken[k])
			continue;
		int group = batchable(&jobs[k]);
		size_t m = 0;
		for (size_t i = k; i < n && (group || i == k); i++)
			if (i == k || (!taken[i] && code[i] == DELIVER_OK && batchable(&jobs[i]) &&
				       same_account(&jobs[k], &jobs[i]))) {
				sel[nsel + m++] = i;
				taken[i] = 1;
			}
		if (group && !nown) {
			own = nsel;
			nown = m;
		} else {
			struct str w = STR_INIT;
			int fd = start_child(jobs, sel + nsel, m, group, code, why, &pids[nch], &w);
			if (fd >= 0) {
				pipes[nch] = fd;
				from[nch] = nsel;
				cnt[nch++] = m;
			}
			for (size_t i = 0; fd < 0 && i < m; i++) {
				code[sel[nsel + i]] = DELIVER_TEMP;
				str_copyb(&why[sel[nsel + i]], w.s, w.len);
			}
			str_free(&w);
		}
		nsel += m;
	}
	if (nown)
		deliver_group(jobs, sel + own, nown, code, why);
	for (size_t c = 0; c < nch; c++)
		collect(pipes[c], pids[c], sel + from[c], cnt[c], code, why);
	struct str out = STR_INIT;
	for (size_t k = 0; k < n; k++)
		report_cat(&out, code[k], str_c(&why[k]));
	int r = fd_write_all(1, out.s, out.len) < 0 ? 111 : 0;
	/* freed, so a leak checker at exit sees only what was lost */
	for (size_t k = 0; k < n; k++) {
		str_free(&jobs[k].lrcpt);
		str_free(&jobs[k].prefix);
		str_free(&jobs[k].report);
		local_result_free(&jobs[k].res);
		str_free(&why[k]);
	}
	str_free(&out);
	free(jobs);
	free(code);
	free(why);
	free(fdof);
	free(sel);
	free(from);
	free(cnt);
	free(pipes);
	free(pids);
	free(taken);
	return r;
}

int main(int argc, char **argv)
{
	/* before anything is opened: a closed fd 1 or 2 must not become a mailbox */
	if (privsep_std_fds() < 0)
		finish(DELIVER_TEMP, "4.3.0 unable to open the standard descriptors");
	if (privsep_setid()) {
		static const char *const keep[] = { NULL };
		if (privsep_env_keep(keep) < 0)
			finish(DELIVER_TEMP, "4.3.0 unable to clear the environment");
	}
	if (argc == 3 && strcmp(argv[1], "-n") == 0)
		return show(argv[2]);
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	if (argc >= 2 && strcmp(argv[1], "-b") == 0)
		return batch(argc - 2, argv + 2);
	if (argc != 3) {
		fprintf(stderr, "usage: deliver-local SENDER RECIPIENT < message\n"
				"       deliver-local -b FD SENDER RECIPIENT [FD SENDER RECIPIENT]...\n"
				"       deliver-local -n RECIPIENT\n");
		return 100;
	}
	struct conf_list limits = CONF_LIST_INIT, locals = CONF_LIST_INIT;
	if (conf_list_read("limits", &limits) < 0)
		finish(DELIVER_TEMP, "4.3.0 unable to read limits");
	if (conf_list_read("locals", &locals) < 0)
		finish(DELIVER_TEMP, "4.3.0 unable to read locals");
	struct owner owner;
	find_owner(&owner);
	struct job j;
	memset(&j, 0, sizeof j);
	struct str why = STR_INIT;
	int r = prepare(&j, 0, argv[1], argv[2], &limits, &locals, &owner, &why);
	conf_list_free(&limits);
	conf_list_free(&locals);
	if (r == DELIVER_OK)
		r = run_job(&j, &why);
	finish(r, why.s ? why.s : "");
}
