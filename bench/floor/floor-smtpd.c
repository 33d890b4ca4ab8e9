/*
 * floor-smtpd - the SMTP half of the benchmark's "floor".
 *
 * A benchmark instrument, not part of sluice (bench/README.md, "The
 * floor"): the least work sluice's contracts allow between a connection
 * and the queue program, so that the benchmark can show what the design
 * costs at best.  Started per connection by tcpserver, it speaks just
 * enough SMTP on fd 0/1 for smtp-source.  At DATA it starts argv[1...]
 * with posix_spawn as a queue program (DESIGN.md contract 1: message on
 * its fd 0, envelope F<sender>\0 T<rcpt>\0 ... \0 on its fd 1) and streams
 * the message into it as it arrives, read in large blocks, CRLF turned
 * into LF and dot-stuffing undone; 250 only if the program exits 0.
 *
 * No policy, no logging, no configuration.  What any receiver must bound
 * is bounded: command lines, recipients, message size, session time.
 *
 * With FLOOR_CONF naming a configuration directory (the "duties" server,
 * duty.h) it also does what smtp-recv does for every session because
 * DESIGN.md or RFC 5321 asks it: reads limits, locals, rcpthosts and me at
 * connection start and looks for the optional tls-cert, checkpassword,
 * policy and rules (a configuration read afresh per connection); logs
 * connect, helo, mail, rcpt, queued and disconnect; refuses to relay
 * (a recipient's domain in locals, then found in users, or in rcpthosts,
 * or RELAYCLIENT set); looks for conf/chain at DATA; gives the queue
 * program the queue id and the HELO name in its environment; and puts a
 * Received: field with the local time first in the message.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROG "floor-smtpd"
#include "floor.h"
#include "duty.h"

#define CMD_MAX 1000                 /* a command line, without CRLF */
#define ENV_MAX 8192                 /* the envelope, in bytes */
#define MSG_MAX (64UL * 1024 * 1024) /* the message, after decoding */
#define SESSION_SECONDS 600

extern char **environ;

static char buf[65536];              /* input; bytes [pos, len) not used yet */
static size_t pos, len;
static char env[ENV_MAX + 1];        /* F<sender>\0 T<rcpt>\0 ...; + the final \0 */
static size_t envlen;
static int nrcpt;

/* the duties (FLOOR_CONF): NULL for the bare floor */
static const char *conf;
static char me[256] = "floor", locals[4096], rcpthosts[4096], limits[4096];
static char helo[256], id[64], rcpt[256];
static const char *remote = "-";
static unsigned long messages;

static void reply(const char *s)
{
	if (put(1, s, strlen(s)) < 0)
		fail("write to the client");
}

/* The end of the session: its log line with the duties. */
static _Noreturn void bye(const char *why)
{
	if (conf)
		duty_log("event=disconnect remote=%s reason=%s messages=%lu", remote, why, messages);
	exit(0);
}

/* Moves the unused input to the front and reads more; 0 at end of input. */
static size_t fill(void)
{
	memmove(buf, buf + pos, len - pos);
	len -= pos;
	pos = 0;
	for (;;) {
		ssize_t r = read(0, buf + len, sizeof buf - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail("read from the client");
		len += (size_t)r;
		return (size_t)r;
	}
}

/* The next command line without its line end, NUL-terminated; NULL for one
 * longer than CMD_MAX (read and dropped to its end). */
static char *command(void)
{
	int toolong = 0;
	for (;;) {
		char *s = buf + pos, *nl = memchr(s, '\n', len - pos);
		if (nl) {
			size_t l = (size_t)(nl - s);
			pos += l + 1;
			if (l > 0 && s[l - 1] == '\r')
				l--;
			if (toolong || l > CMD_MAX)
				return NULL;
			s[l] = '\0';
			return s;
		}
		if (len - pos > CMD_MAX) {
			toolong = 1;
			pos = len;
		}
		if (fill() == 0)
			bye("eof");
	}
}

#define NO_ADDRESS "501 5.5.4 syntax: <address> expected\r\n"

/* The address between < and > in LINE and its length in *N; NULL if none. */
static const char *address(const char *line, size_t *n)
{
	const char *a = strchr(line, '<'), *b = a ? strchr(a, '>') : NULL;
	if (!b)
		return NULL;
	*n = (size_t)(b - a - 1);
	return a + 1;
}

/* Appends KIND and the address in LINE to the envelope; the reply to send. */
static const char *add(char kind, const char *line)
{
	size_t n;
	const char *a = address(line, &n);
	if (!a)
		return NO_ADDRESS;
	if (envlen + n + 2 > ENV_MAX)
		return "452 4.5.3 too many recipients\r\n";
	env[envlen++] = kind;
	memcpy(env + envlen, a, n);
	envlen += n;
	env[envlen++] = '\0';
	return "250 ok\r\n";
}

/*
 * Reads the message up to the line ".", decoding it in place (the output
 * never outgrows the input) and writing it to FD while *OK.  Returns 0 at
 * the end of the message, -1 at the end of input.
 */
static int body(int fd, int *ok, size_t *total)
{
	int bol = 1;                 /* the next unread byte starts a line */
	for (;;) {
		size_t r = pos, w = 0;
		int end = 0;
		char *nl;
		while ((nl = memchr(buf + r, '\n', len - r)) != NULL) {
			size_t s = r, e = (size_t)(nl - buf);
			r = e + 1;
			if (bol && buf[s] == '.') {
				if (e - s == 1 || (e - s == 2 && buf[s + 1] == '\r')) {
					end = 1;
					break;
				}
				s++;
			}
			if (e > s && buf[e - 1] == '\r')
				e--;
			memmove(buf + w, buf + s, e - s);
			w += e - s;
			buf[w++] = '\n';
			bol = 1;
		}
		if (!end && r == 0 && len == sizeof buf) {
			/* a line longer than the buffer: pass on all of it but
			 * a last CR, which may be half of the line's CRLF */
			size_t s = bol && buf[0] == '.', e = len - (buf[len - 1] == '\r');
			memmove(buf, buf + s, e - s);
			w = e - s;
			r = e;
			bol = 0;
		}
		*total += w;
		if (*total > MSG_MAX)
			*ok = 0;
		if (*ok && w > 0 && put(fd, buf, w) < 0)
			*ok = 0;
		pos = r;
		if (end)
			return 0;
		if (fill() == 0)
			return -1;
	}
}

/* DATA: the queue program gets the message as it comes, then the envelope. */
static void data(char **queue)
{
	int mp[2], ep[2], ok = 1, st, e;
	size_t total = 0;
	pid_t pid;
	posix_spawn_file_actions_t fa;

	/* the duties: the queue program named by conf/chain if there is
	 * one (looked for only: the floor's is on its command line), and the
	 * connection's context in its environment */
	char **envp = environ, *ctx[130], idv[80], helov[300];
	if (conf) {
		size_t k = 0;
		(void)duty_has(conf, "chain");
		snprintf(idv, sizeof idv, "FLOOR_ID=%s", id);
		snprintf(helov, sizeof helov, "FLOOR_HELO=%s", helo);
		for (char **v = environ; *v && k < 128; v++)
			if (strncmp(*v, "FLOOR_ID=", 9) != 0 && strncmp(*v, "FLOOR_HELO=", 11) != 0)
				ctx[k++] = *v;
		ctx[k] = NULL;
		if (k < 128) {
			ctx[k++] = idv;
			ctx[k++] = helov;
			ctx[k] = NULL;
		}
		envp = ctx;
	}
	if (pipe2(mp, O_CLOEXEC) < 0)
		fail("make a pipe");
	if (pipe2(ep, O_CLOEXEC) < 0)
		fail("make a pipe");
	if ((e = posix_spawn_file_actions_init(&fa)) != 0) {
		errno = e;
		fail("set up the queue program's fds");
	}
	e = posix_spawn_file_actions_adddup2(&fa, mp[0], 0);
	if (e == 0)
		e = posix_spawn_file_actions_adddup2(&fa, ep[0], 1);
	if (e == 0)
		e = posix_spawn(&pid, queue[0], &fa, NULL, queue, envp);
	posix_spawn_file_actions_destroy(&fa);
	if (e != 0) {
		fprintf(stderr, "floor-smtpd: unable to start the queue program: %s\n", strerror(e));
		ok = 0;
	}
	if (close(mp[0]) < 0 || close(ep[0]) < 0)
		fail("close a pipe");
	if (!ok) {
		if (close(mp[1]) < 0 || close(ep[1]) < 0)
			fail("close a pipe");
		reply("451 4.3.0 unable to start the queue program\r\n");
		return;
	}
	reply("354 go ahead\r\n");
	if (conf) {
		/* RFC 5321 4.4: the trace field comes first */
		char rcv[1024], date[64];
		struct tm tm;
		time_t now = time(NULL);
		if (!localtime_r(&now, &tm) || !strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", &tm))
			fail("format the date");
		int n = snprintf(rcv, sizeof rcv, "Received: from %s ([%s])\n\tby %s with ESMTP id %s\n\tfor <%s>; %s\n",
		                 helo, remote, me, id, rcpt, date);
		if (n < 0 || (size_t)n >= sizeof rcv)
			n = 0;
		total += (size_t)n;
		if (put(mp[1], rcv, (size_t)n) < 0)
			ok = 0;
	}
	if (body(mp[1], &ok, &total) < 0)
		exit(0);        /* the queue program sees a cut envelope: no commit */
	if (close(mp[1]) < 0)
		ok = 0;
	/* no envelope unless the whole message went in: then it fails */
	env[envlen] = '\0';
	if (ok && put(ep[1], env, envlen + 1) < 0)
		ok = 0;
	if (close(ep[1]) < 0)
		ok = 0;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			fail("wait for the queue program");
	if (total > MSG_MAX)
		reply("552 5.3.4 message too big\r\n");
	else if (ok && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
		if (conf) {
			messages++;
			duty_log("event=queued id=%s size=%zu rcpts=%d", id, total, nrcpt);
		}
		reply("250 ok queued\r\n");
	} else
		reply("451 4.3.0 queue program failed\r\n");
	envlen = 0;
	nrcpt = 0;
}

static const char *envor(const char *name)
{
	const char *v = getenv(name);
	return v ? v : "-";
}

/* The duties at connection start: the configuration, read afresh, and the
 * connection's log line. */
static void connect_duties(void)
{
	duty_read(conf, "limits", limits, sizeof limits);
	duty_read(conf, "locals", locals, sizeof locals);
	duty_read(conf, "rcpthosts", rcpthosts, sizeof rcpthosts);
	(void)duty_has(conf, "tls-cert");
	(void)duty_has(conf, "checkpassword");
	if (duty_read(conf, "me", me, sizeof me) > 0)
		me[strcspn(me, " \t\r\n")] = '\0';
	(void)duty_has(conf, "policy");
	(void)duty_has(conf, "rules");
	remote = envor("TCPREMOTEIP");
	duty_log("event=connect remote=%s port=%s local=%s:%s", remote, envor("TCPREMOTEPORT"),
	         envor("TCPLOCALIP"), envor("TCPLOCALPORT"));
}

static void hello(const char *arg)
{
	if (!conf) {
		reply("250 floor\r\n");
		return;
	}
	arg += strspn(arg, " ");
	snprintf(helo, sizeof helo, "%.*s", (int)strcspn(arg, " "), arg);
	duty_log("event=helo remote=%s helo=%s", remote, helo);
	char r[300];
	snprintf(r, sizeof r, "250 %s\r\n", me);
	reply(r);
}

/* MAIL: with the duties, a queue id (unique: no two live processes share
 * a pid) and a log line. */
static const char *mail(const char *arg)
{
	const char *r = add('F', arg);
	if (conf && r[0] == '2') {
		struct timespec ts;
		if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
			fail("read the clock");
		snprintf(id, sizeof id, "%lld.%06ld.%ld", (long long)ts.tv_sec, ts.tv_nsec / 1000, (long)getpid());
		duty_log("event=mail id=%s from=<%s>", id, env + 1);
	}
	return r;
}

/* RCPT: with the duties, the relay check and a log line.  A domain in
 * locals takes only the addresses in users (read per recipient, as
 * smtp-recv resolves each; users.cdb looked for first). */
static const char *to(const char *arg)
{
	if (!conf)
		return add('T', arg);
	size_t n;
	const char *a = address(arg, &n), *at, *why = NULL;
	if (!a)
		return NO_ADDRESS;
	snprintf(rcpt, sizeof rcpt, "%.*s", (int)n, a);
	at = strrchr(rcpt, '@');
	if (at && duty_find(locals, at + 1, strlen(at + 1), &n)) {
		static char users[65536];
		(void)duty_has(conf, "users.cdb");      /* looked for, as smtp-recv does; the text is read */
		if (duty_read(conf, "users", users, sizeof users) < 0 || !duty_find(users, rcpt, strlen(rcpt), &n))
			why = "no-such-user";
	} else if (!(at && duty_find(rcpthosts, at + 1, strlen(at + 1), &n)) && !getenv("RELAYCLIENT"))
		why = "relaying-denied";
	if (why) {
		duty_log("event=rcpt id=%s rcpt=<%s> result=rejected reason=%s", id, rcpt, why);
		return why[0] == 'n' ? "550 5.1.1 no such user\r\n" : "550 5.7.1 relaying denied\r\n";
	}
	const char *r = add('T', arg);
	if (r[0] == '2')
		duty_log("event=rcpt id=%s rcpt=<%s> result=accepted", id, rcpt);
	return r;
}

static int is(const char *line, const char *verb)
{
	size_t n = strlen(verb);
	return strncasecmp(line, verb, n) == 0 && (line[n] == '\0' || line[n] == ' ' || verb[n - 1] == ':');
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs("usage: floor-smtpd queue-program [arg...]\n", stderr);
		return 100;
	}
	/* a queue program that dies shows as a failed write, not a signal */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		fail("ignore SIGPIPE");
	alarm(SESSION_SECONDS);
	if ((conf = getenv("FLOOR_CONF")) != NULL)
		connect_duties();
	char greeting[300];
	snprintf(greeting, sizeof greeting, "220 %s ESMTP\r\n", me);
	reply(greeting);
	for (;;) {
		const char *l = command();
		if (!l)
			reply("500 5.5.2 line too long\r\n");
		else if (is(l, "EHLO") || is(l, "HELO"))
			hello(l + 4);
		else if (is(l, "MAIL FROM:"))
			reply(envlen ? "503 5.5.1 MAIL already given\r\n" : mail(l + 10));
		else if (is(l, "RCPT TO:")) {
			const char *r = envlen ? to(l + 8) : "503 5.5.1 MAIL first\r\n";
			nrcpt += r[0] == '2';
			reply(r);
		} else if (is(l, "DATA")) {
			if (nrcpt == 0)
				reply("503 5.5.1 RCPT first\r\n");
			else
				data(argv + 1);
		} else if (is(l, "RSET")) {
			envlen = 0;
			nrcpt = 0;
			reply("250 ok\r\n");
		} else if (is(l, "NOOP"))
			reply("250 ok\r\n");
		else if (is(l, "QUIT")) {
			reply("221 bye\r\n");
			bye("quit");
		} else
			reply("502 5.5.1 unrecognized command\r\n");
	}
}
