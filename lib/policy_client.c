/*
 * policy_client.c - asking a Postfix policy server (see policy_client.h).
 *
 * One request at a time, in lock step, as Postfix does: the reply to a
 * request is read before the next one is sent, so a server never needs
 * to buffer.  Both descriptors carry the timeout of every read and write.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addr.h"
#include "child.h"
#include "conf.h"
#include "header.h"
#include "policy_client.h"
#include "queue.h"

static const struct {
	const char *name;
	unsigned bit;
} stage_names[] = {
	{ "CONNECT", POLICY_STAGE_CONNECT }, { "EHLO", POLICY_STAGE_EHLO }, { "HELO", POLICY_STAGE_EHLO },
	{ "MAIL", POLICY_STAGE_MAIL }, { "RCPT", POLICY_STAGE_RCPT }, { "DATA", POLICY_STAGE_DATA },
	{ "END-OF-MESSAGE", POLICY_STAGE_EOM }, { "VRFY", POLICY_STAGE_VRFY },
};

unsigned policy_client_stage(const char *s)
{
	for (size_t i = 0; s && i < sizeof stage_names / sizeof stage_names[0]; i++)
		if (strcasecmp(s, stage_names[i].name) == 0)
			return stage_names[i].bit;
	return 0;
}

int policy_client_wants(const struct policy_client *pc, const char *protocol_state)
{
	return (pc->argv || pc->socket.len) && (pc->stages & policy_client_stage(protocol_state));
}

int policy_client_init(struct policy_client *pc, int timeout_ms, struct str *why)
{
	struct str line = STR_INIT;
	struct conf_list stages = CONF_LIST_INIT;
	memset(pc, 0, sizeof *pc);
	pc->rfd = pc->wfd = -1;
	pc->timeout_ms = timeout_ms;
	int r = conf_line("policy", &line), ret = 1;
	if (r < 0) {
		str_copys(why, "unable to read conf policy");
		ret = -1;
		goto out;
	}
	if (r == 0 && strncmp(line.s, "unix:", 5) == 0) {
		struct sockaddr_un sun;
		/* the length that counts is the resolved one: a relative name gains the conf dir */
		if (line.s[5] != '\0')
			conf_resolve(line.s + 5, &pc->socket);
		if (line.s[5] == '\0' || pc->socket.len >= sizeof sun.sun_path) {
			str_copys(why, "conf policy: socket path empty or too long");
			str_free(&pc->socket);
			ret = -1;
			goto out;
		}
	} else if (r == 0) {
		pc->argv = child_argv_split(line.s);
	} else {
		conf_path("rules", &line);
		if (access(line.s, F_OK) != 0) {
			ret = 0; /* no policy server: its stages do not matter */
			goto out;
		}
		pc->argv = child_argv_split("smtp-filter -p");
	}
	if (conf_list_read("policy-stages", &stages) < 0) {
		str_copys(why, "unable to read conf policy-stages");
		ret = -1;
	}
	pc->stages = stages.n ? 0 : ~0u;
	for (size_t i = 0; i < stages.n; i++) {
		unsigned bit = policy_client_stage(stages.item[i]);
		if (!bit) {
			str_copys(why, "conf policy-stages: unknown stage ");
			str_cats(why, stages.item[i]);
			ret = -1;
		}
		pc->stages |= bit;
	}
	if (ret < 0) {
		child_argv_free(pc->argv);
		pc->argv = NULL;
		pc->socket.len = 0;
	}
out:
	str_free(&line);
	conf_list_free(&stages);
	return ret;
}

static int start(struct policy_client *pc, struct str *why)
{
	if (pc->socket.len) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		memcpy(sun.sun_path, pc->socket.s, pc->socket.len + 1);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		/* a full listen queue makes connect block: the send timeout bounds it */
		struct timeval tv = { pc->timeout_ms / 1000, (pc->timeout_ms % 1000) * 1000 };
		if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0 ||
		    connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
			str_catf(why, "unable to connect to %s: %s", pc->socket.s, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		pc->rfd = pc->wfd = fd;
	} else {
		int to[2], from[2];
		if (pipe2(to, O_CLOEXEC) < 0) {
			str_catf(why, "unable to make a pipe: %s", strerror(errno));
			return -1;
		}
		if (pipe2(from, O_CLOEXEC) < 0) {
			str_catf(why, "unable to make a pipe: %s", strerror(errno));
			close(to[0]);
			close(to[1]);
			return -1;
		}
		struct child_fd map[] = { { to[0], 0 }, { from[1], 1 } };
		pc->pid = child_spawn(pc->argv, map, 2, NULL);
		int e = errno;
		close(to[0]);
		close(from[1]);
		if (pc->pid < 0) {
			pc->pid = 0;
			close(to[1]);
			close(from[0]);
			str_catf(why, "unable to run %s: %s", pc->argv[0], strerror(e));
			pc->broken = 1;
			return -1;
		}
		pc->wfd = to[1];
		pc->rfd = from[0];
	}
	bio_init(&pc->in, pc->rfd, 4096, pc->timeout_ms);
	return 0;
}

static void disconnect(struct policy_client *pc)
{
	if (pc->rfd >= 0)
		close(pc->rfd);
	if (pc->wfd >= 0 && pc->wfd != pc->rfd)
		close(pc->wfd);
	pc->rfd = pc->wfd = -1;
	bio_free(&pc->in);
	if (pc->pid > 0) {
		int status;
		/* with its stdin closed a policy server ends; one that lingers is killed */
		(void)child_wait_timeout(pc->pid, 1000, &status);
		pc->pid = 0;
	}
}

/* one exchange; 1 when a socket server seems to have closed an idle connection */
static int exchange(struct policy_client *pc, const struct str *wire, struct str *action, struct str *why)
{
	size_t off = 0;
	while (off < wire->len) {
		ssize_t w = fd_write_timeout(pc->wfd, wire->s + off, wire->len - off, pc->timeout_ms);
		if (w < 0) {
			if (errno == EPIPE || errno == ECONNRESET)
				return 1;
			str_catf(why, "unable to write to the policy server: %s", strerror(errno));
			return -1;
		}
		off += (size_t)w;
	}
	int r = policy_reply_read(&pc->in, action, why);
	if (r == POLICY_OK)
		return 0;
	if (r == POLICY_EOF)
		return 1;
	if (r == POLICY_ERR)
		str_catf(why, "unable to read the policy reply: %s",
			 errno == ETIMEDOUT ? "timed out" : strerror(errno));
	else
		str_cats(why, " (malformed policy reply)");
	return -1;
}

int policy_client_ask(struct policy_client *pc, const struct policy_req *req, struct str *action, struct str *why)
{
	struct str wire = STR_INIT;
	str_copyb(why, "", 0);
	policy_encode(req, &wire);
	int r = -1;
	for (int tries = 0; tries < 2 && !pc->broken; tries++) {
		int fresh = pc->rfd < 0;
		if (fresh && start(pc, why) < 0)
			break;
		r = exchange(pc, &wire, action, why);
		if (r == 0)
			break;
		disconnect(pc);
		if (r == 1 && (fresh || !pc->socket.len)) {
			str_cats(why, pc->socket.len ? "policy server closed the connection" : "policy server died");
			r = -1;
		}
		if (r < 0)
			break;
	}
	if (r != 0 && !pc->socket.len)
		pc->broken = 1; /* a coprocess is the session's: its state is gone */
	str_free(&wire);
	return r == 0 ? 0 : -1;
}

void policy_client_close(struct policy_client *pc)
{
	disconnect(pc);
	child_argv_free(pc->argv);
	pc->argv = NULL;
	str_free(&pc->socket);
}

/* ---- the session continued by another program image ---- */

static int set_cloexec(int fd, int on)
{
	int fl = fcntl(fd, F_GETFD);
	if (fl < 0)
		return -1;
	return fcntl(fd, F_SETFD, on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC);
}

int policy_client_inherit(struct policy_client *pc, int on, struct str *spec)
{
	if (pc->rfd >= 0 && (set_cloexec(pc->rfd, !on) < 0 || set_cloexec(pc->wfd, !on) < 0))
		return -1;
	if (!on)
		return 0;
	if (pc->broken)
		str_copys(spec, "x");
	else if (pc->rfd < 0)
		str_copys(spec, "-");
	else {
		str_copyb(spec, "", 0);
		str_catf(spec, "%ld:%d:%d", (long)pc->pid, pc->rfd, pc->wfd);
	}
	return 0;
}

/* a descriptor number from spec: 3 up to 65535 */
static int spec_fd(const char *s, size_t n, int *fd)
{
	unsigned long long v;
	if (!scan_ull(s, n, &v) || v < 3 || v > 65535)
		return -1;
	*fd = (int)v;
	return 0;
}

/* is fd open for mode (O_RDONLY, O_WRONLY, O_RDWR) and of file type type */
static int fd_is(int fd, int mode, mode_t type)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && (fl & O_ACCMODE) == mode && fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == type;
}

int policy_client_adopt(struct policy_client *pc, const char *spec, struct str *why)
{
	if (strcmp(spec, "-") == 0)
		return 0;
	if (strcmp(spec, "x") == 0) {
		pc->broken = 1;
		return 0;
	}
	const char *c1 = strchr(spec, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	unsigned long long pid;
	int rfd, wfd;
	if (!c2 || !scan_ull(spec, (size_t)(c1 - spec), &pid) || pid > 4194304 ||
	    spec_fd(c1 + 1, (size_t)(c2 - c1 - 1), &rfd) < 0 || spec_fd(c2 + 1, strlen(c2 + 1), &wfd) < 0) {
		str_copys(why, "malformed policy hand-over");
		return -1;
	}
	int status;
	if (pc->socket.len) {
		if (pid != 0 || rfd != wfd || !fd_is(rfd, O_RDWR, S_IFSOCK)) {
			str_copys(why, "policy hand-over is not a socket connection");
			return -1;
		}
	} else if (!pc->argv || pid < 2 || rfd == wfd || !fd_is(rfd, O_RDONLY, S_IFIFO) ||
		   !fd_is(wfd, O_WRONLY, S_IFIFO) || waitpid((pid_t)pid, &status, WNOHANG) != 0) {
		/* waitpid 0: a child of ours, still running */
		str_copys(why, "policy hand-over is not a running coprocess on two pipes");
		return -1;
	}
	if (set_cloexec(rfd, 1) < 0 || set_cloexec(wfd, 1) < 0) {
		str_catf(why, "unable to set close-on-exec: %s", strerror(errno));
		return -1;
	}
	pc->pid = (pid_t)pid;
	pc->rfd = rfd;
	pc->wfd = wfd;
	bio_init(&pc->in, pc->rfd, 4096, pc->timeout_ms);
	return 0;
}

/* ---- applying the action ---- */

static void copy_str(struct str *to, const struct str *from)
{
	str_copyb(to, from->len ? from->s : "", from->len);
}

void policy_effects_clear(struct policy_effects *fx)
{
	str_copyb(&fx->hold, "", 0);
	str_copyb(&fx->redirect, "", 0);
	str_copyb(&fx->bcc, "", 0);
	str_copyb(&fx->prepend, "", 0);
	fx->discard = 0;
}

void policy_effects_add(struct policy_effects *to, const struct policy_effects *from)
{
	if (from->hold.len)
		copy_str(&to->hold, &from->hold);
	if (from->redirect.len)
		copy_str(&to->redirect, &from->redirect);
	to->discard |= from->discard;
	str_catb(&to->bcc, from->bcc.len ? from->bcc.s : "", from->bcc.len);
	str_catb(&to->prepend, from->prepend.len ? from->prepend.s : "", from->prepend.len);
}

void policy_effects_free(struct policy_effects *fx)
{
	str_free(&fx->hold);
	str_free(&fx->redirect);
	str_free(&fx->bcc);
	str_free(&fx->prepend);
}

/* the longest text of the server's taken into a reply (RFC 5321 §4.5.3.1.5: 512 a line) */
#define REPLY_TEXT_MAX 400

/* "CODE X.Y.Z text": an enhanced code of the reply's class is added when missing */
static void format_reply(struct str *out, unsigned code, const char *text, const char *deftext)
{
	char cls = (char)('0' + code / 100);
	if (!*text)
		text = deftext;
	int enh = text[0] == cls && text[1] == '.' && isdigit((unsigned char)text[2]);
	str_copyb(out, "", 0);
	str_catf(out, "%u %s", code, enh ? "" : cls == '5' ? "5.7.1 " : "4.7.1 ");
	for (size_t i = 0; text[i] && i < REPLY_TEXT_MAX; i++) {
		unsigned char ch = (unsigned char)text[i];
		str_catc(out, ch >= 0x20 && ch < 0x7f ? (char)ch : '?');
	}
}

/* an address for REDIRECT or BCC: a mailbox with a domain; appended to out */
static int take_address(const char *text, struct str *out, struct str *why)
{
	struct addr a;
	addr_init(&a);
	int ok = addr_parse_mailbox(text, strlen(text), ADDR_UTF8_OK, &a) && a.domain.len > 0;
	if (ok)
		addr_format(&a, out);
	else
		str_catf(why, "not an address: %s", text);
	addr_free(&a);
	return ok ? 0 : -1;
}

/* a PREPEND header field: name, colon, printable text */
static int header_ok(const char *h)
{
	const char *colon = strchr(h, ':');
	if (!colon || !header_valid_name(h, (size_t)(colon - h)) || strlen(h) > 998)
		return 0;
	for (; *h; h++)
		if (((unsigned char)*h < 0x20 && *h != '\t') || *h == 0x7f)
			return 0;
	return 1;
}

int policy_decide(const char *action, const char *own, struct policy_effects *fx, struct str *reply,
		  const char **out, struct str *why)
{
	struct policy_action pa;
	policy_action_parse(action, &pa);
	*out = own;
	switch (pa.kind) {
	case PA_OK:
	case PA_DUNNO:
	case PA_WARN:
	case PA_INFO:
		break;
	case PA_REJECT:
		format_reply(reply, 550, pa.text, "Access denied");
		*out = reply->s;
		break;
	case PA_DEFER:
		format_reply(reply, 450, pa.text, "Try again later");
		*out = reply->s;
		break;
	case PA_DEFER_IF_PERMIT:
		if (!own) {
			format_reply(reply, 450, pa.text, "Try again later");
			*out = reply->s;
		}
		break;
	case PA_DEFER_IF_REJECT:
		if (own && own[0] == '5') {
			format_reply(reply, 450, pa.text, "Try again later");
			*out = reply->s;
		}
		break;
	case PA_CODE:
		format_reply(reply, pa.code, pa.text, pa.code >= 500 ? "Access denied" : "Try again later");
		*out = reply->s;
		break;
	case PA_HOLD: {
		/* smtp-filter sends "HOLD name"; Postfix servers may send a reason instead */
		str_copys(&fx->hold, pa.text);
		if (!queue_quarantine_name_ok(fx->hold.s))
			str_copys(&fx->hold, "hold");
		break;
	}
	case PA_DISCARD:
		fx->discard = 1;
		break;
	case PA_PREPEND:
		if (!header_ok(pa.text)) {
			str_catf(why, "PREPEND needs a header field: %.80s", pa.text);
			return -1;
		}
		str_catf(&fx->prepend, "%s\n", pa.text);
		break;
	case PA_REDIRECT:
		str_copyb(&fx->redirect, "", 0);
		return take_address(pa.text, &fx->redirect, why);
	case PA_BCC:
		if (take_address(pa.text, &fx->bcc, why) < 0)
			return -1;
		str_catc(&fx->bcc, '\n');
		break;
	default:
		str_catf(why, "unknown or unsupported action: %.80s", action);
		return -1;
	}
	return 0;
}
