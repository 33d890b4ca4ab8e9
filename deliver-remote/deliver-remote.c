/*
 * deliver-remote - send one message to the mail servers of one domain
 * (qmail-remote(8) contract, DESIGN.md section 3).
 *
 *   deliver-remote DOMAIN SENDER RECIPIENT... < message
 *   deliver-remote -b DOMAIN FD ID SENDER COUNT RECIPIENT... [FD ID ...]...
 *
 * The message is on fd 0 (seekable, LF line endings).  On stdout, for each
 * recipient in argv order, r (accepted), h (permanent failure) or s
 * (temporary failure) with text and a NUL; then one message report, K
 * (delivered to at least one recipient), D (every recipient failed
 * permanently) or Z (otherwise), with text and a NUL.  Exit 0 unless
 * misused (100) or unable to start at all (111).
 *
 * Where to: a "routes" entry may name a smarthost (no MX lookup) and a TLS
 * policy; otherwise the domain's MX hosts in preference order (random among
 * equals), or the domain itself when it has no MX.  Each host's IPv6 then
 * IPv4 addresses are tried in turn until every recipient has a definite
 * answer: a connection failure, a 4xx or 5xx greeting, a TLS failure the
 * policy forbids or a dropped session moves on to the next address.
 * Replies to RCPT and to the end of data are definite: 2xx, 4xx and 5xx
 * become r, s and h, with the server's text kept verbatim.  When no server
 * could be reached the recipients get h only if every address refused us
 * permanently (5xx greetings, hosts that do not exist), otherwise s.
 *
 * -b (sluice's own, for queue-run): several messages to DOMAIN in one
 * call, message k on its own fd, each reported as the one-message form
 * would, in argv order.  A connection that delivered one message is kept
 * for the next (RSET, then the next transaction), as Postfix caches its
 * connections; when the server turns it down, that message goes the
 * usual way, from the MX lookup on.  Why: a process start costs as much
 * as the SMTP conversation here, and a TLS handshake more (bench/README.md,
 * "Round 10").
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "alloc.h"
#include "base64.h"
#include "bio.h"
#include "conf.h"
#include "die.h"
#include "dns.h"
#include "log.h"
#include "qid.h"
#include "smtp_reply.h"
#include "str.h"
#include "tlsio.h"

#define ADDR_MAX 256
#define BATCH_MAX 32 /* messages in one -b call */

enum policy { TLS_NONE, TLS_MAY, TLS_ENCRYPT, TLS_VERIFY };
static const char *const policy_name[] = { "none", "may", "encrypt", "verify" };

struct route {
	struct str host;      /* smarthost; empty: MX lookup */
	unsigned port;
	int policy;
	struct str auth_user; /* empty: no AUTH */
};

struct rcpt {
	const char *addr;
	char status;          /* 0 pending, 'r', 'h', 's' */
	int accepted;         /* 2xx to RCPT in the current session */
	struct str text;
};

/* limits, in milliseconds */
struct timeouts {
	int connect, greeting, command, data_init, data_block, data_end;
};

struct job {
	const char *domain, *sender, *id;
	int fd;               /* the message */
	struct rcpt *rcpt;
	size_t nrcpt;
	struct route route;
	struct str me, ca_file, password;
	struct conf_list limits;
	struct timeouts to;
	unsigned long long max_addresses;
	off_t msg_start;
	unsigned long long wire_size; /* RFC 1870: CRLF counted, stuffing not */
	int eightbit, need_utf8, header_utf8;
	/* outcome of the attempts so far, for recipients still pending */
	struct str last_err;
	int temp_seen;        /* some failure could go away by itself */
};

struct session {
	struct job *j;
	const char *host;
	char *host_own;       /* host, when the session outlives its job (kept for the next) */
	char ip[46];
	unsigned port;
	int fd;
	struct bio in, out;
	struct tlsio *tls;
	int code;             /* last reply code */
	struct str reply;     /* its lines joined by a space */
	struct str lines;     /* its lines, LF-separated, for EHLO */
	struct str why;       /* session failure text */
	char tls_version[32], tls_cipher[64]; /* kept for the log line */
	int tls_failed;
	struct smtp_ehlo ext; /* EHLO extensions */
};

/* what became of one connection attempt */
enum { S_DONE, S_NEXT, S_NEXT_PERM, S_RETRY_PLAIN, S_LOCAL };

static int ms(const struct conf_list *limits, const char *key, unsigned long long def)
{
	unsigned long long v;
	conf_limit(limits, key, def, &v);
	if (v == 0 || v > 3600)
		v = def;
	return (int)(v * 1000);
}

/* ---- reports ---- */

static void set_status(struct rcpt *r, char status, const char *text)
{
	r->status = status;
	str_copys(&r->text, text);
}

static void fail_pending(struct job *j, char status, const char *text)
{
	for (size_t i = 0; i < j->nrcpt; i++)
		if (!j->rcpt[i].status)
			set_status(&j->rcpt[i], status, text);
}

static void write_reports(struct job *j)
{
	struct str out = STR_INIT;
	size_t nr = 0, nh = 0;
	const char *first_r = NULL, *first_h = NULL, *first_s = NULL;
	for (size_t i = 0; i < j->nrcpt; i++) {
		struct rcpt *r = &j->rcpt[i];
		if (!r->status)
			set_status(r, 's', "4.3.0 internal error: recipient left without a result");
		str_catc(&out, r->status);
		smtp_text_clean(&out, r->text.s, r->text.len);
		str_catc(&out, '\0');
		if (r->status == 'r' && !nr++)
			first_r = r->text.s;
		if (r->status == 'h' && !nh++)
			first_h = r->text.s;
		if (r->status == 's' && !first_s)
			first_s = r->text.s;
	}
	const char *t;
	if (nr) {
		str_catc(&out, 'K');
		t = first_r;
	} else if (nh == j->nrcpt) {
		str_catc(&out, 'D');
		t = first_h;
	} else {
		str_catc(&out, 'Z');
		t = first_s;
	}
	smtp_text_clean(&out, t, strlen(t));
	str_catc(&out, '\0');
	if (fd_write_all(1, out.s, out.len) < 0)
		die_sys(EXIT_SYS, "unable to write reports");
	str_free(&out);
}

/* ---- configuration ---- */

static int parse_policy(const char *v, int *p)
{
	for (int i = 0; i < 4; i++)
		if (!strcmp(v, policy_name[i])) {
			*p = i;
			return 0;
		}
	return -1;
}

/* "host", "host:port", "[literal]", "[literal]:port"; "-" for MX lookup */
static int parse_host(const char *s, struct route *rt)
{
	const char *colon;
	if (!strcmp(s, "-"))
		return 0;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end)
			return -1;
		str_copyb(&rt->host, s + 1, (size_t)(end - s - 1));
		colon = end[1] == ':' ? end + 1 : (end[1] ? "" : NULL);
		if (colon && !*colon)
			return -1;
	} else {
		colon = strchr(s, ':');
		str_copyb(&rt->host, s, colon ? (size_t)(colon - s) : strlen(s));
		str_lower(&rt->host);
	}
	if (rt->host.len == 0)
		return -1;
	if (colon) {
		unsigned long long port;
		if (!scan_ull(colon + 1, strlen(colon + 1), &port) || port == 0 || port > 65535)
			return -1;
		rt->port = (unsigned)port;
	}
	return 0;
}

/* one routes line into rt; -1 when malformed */
static int parse_route(const char *line, struct route *rt)
{
	char *copy = xstrdup(line), *save = NULL;
	int bad = 0, field = 0;
	str_truncate(&rt->host, 0);
	str_truncate(&rt->auth_user, 0);
	rt->port = 25;
	rt->policy = TLS_MAY;
	for (char *w = strtok_r(copy, " \t", &save); w && !bad; w = strtok_r(NULL, " \t", &save), field++) {
		if (field == 0)
			continue; /* the domain pattern */
		if (!strncmp(w, "tls=", 4))
			bad = parse_policy(w + 4, &rt->policy);
		else if (!strncmp(w, "auth=", 5) && w[5])
			str_copys(&rt->auth_user, w + 5);
		else if (field == 1 && !strchr(w, '='))
			bad = parse_host(w, rt);
		else
			bad = -1;
	}
	free(copy);
	return bad ? -1 : 0;
}

/*
 * How well a routes pattern matches domain: 0 not at all, 1 for "*",
 * 2 + length for ".parent", and above any of those for the domain itself.
 */
static size_t route_score(const char *line, const char *domain)
{
	size_t n = strcspn(line, " \t");
	size_t dl = strlen(domain);
	if (n == 1 && line[0] == '*')
		return 1;
	if (n == dl && !strncasecmp(line, domain, n))
		return 100000;
	if (n > 1 && line[0] == '.' && dl > n - 1 && !strncasecmp(domain + dl - n, line, n))
		return 2 + n;
	if (n > 1 && line[0] == '.' && dl == n - 1 && !strncasecmp(domain, line + 1, dl))
		return 2 + n;
	return 0;
}

/* 0 found or defaulted; -1 with the reason in err */
static int load_route(struct job *j, struct str *err)
{
	struct conf_list l = CONF_LIST_INIT;
	if (conf_list_read("routes", &l) < 0) {
		str_catf(err, "unable to read routes: %s", strerror(errno));
		return -1;
	}
	size_t best = 0, at = 0;
	for (size_t i = 0; i < l.n; i++) {
		size_t s = route_score(l.item[i], j->domain);
		if (s > best) {
			best = s;
			at = i;
		}
	}
	j->route.port = 25;
	j->route.policy = TLS_MAY;
	int r = 0;
	if (best && parse_route(l.item[at], &j->route) < 0) {
		str_catf(err, "routes: bad line: %s", l.item[at]);
		r = -1;
	}
	conf_list_free(&l);
	return r;
}

/*
 * The password for user from "secrets" ("user password" lines; the
 * password is the rest of the line).  The file must not be readable by
 * others: a leaked relay password sends spam under our name.
 */
static int load_password(struct job *j, struct str *err)
{
	struct str path = STR_INIT, text = STR_INIT;
	conf_path("secrets", &path);
	int fd = open(path.s, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int r = -1;
	if (fd < 0 || fstat(fd, &st) < 0) {
		str_catf(err, "unable to read %s: %s", path.s, strerror(errno));
		goto out;
	}
	if (st.st_mode & 0007) {
		str_catf(err, "refusing %s: readable by others", path.s);
		goto out;
	}
	char buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0 && text.len < 1 << 20)
		str_catb(&text, buf, (size_t)n);
	if (n < 0) {
		str_catf(err, "unable to read %s: %s", path.s, strerror(errno));
		goto out;
	}
	const char *user = j->route.auth_user.s;
	size_t ul = j->route.auth_user.len;
	for (size_t i = 0; i < text.len && r < 0;) {
		size_t end = i;
		while (end < text.len && text.s[end] != '\n')
			end++;
		const char *p = text.s + i;
		size_t len = end - i;
		while (len && (p[len - 1] == '\r' || p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len > ul + 1 && p[0] != '#' && !memcmp(p, user, ul) && (p[ul] == ' ' || p[ul] == '\t')) {
			size_t k = ul;
			while (k < len && (p[k] == ' ' || p[k] == '\t'))
				k++;
			str_copyb(&j->password, p + k, len - k);
			r = 0;
		}
		i = end + 1;
	}
	if (r < 0)
		str_catf(err, "no password for %s in %s", user, path.s);
out:
	if (fd >= 0)
		close(fd);
	str_free(&path);
	str_free(&text);
	return r;
}

/* ---- the message ---- */

static void scan_message(struct job *j)
{
	char buf[65536];
	int in_header = 1, bol = 1;
	unsigned long long bytes = 0, lfs = 0;
	char last = '\n';
	j->msg_start = lseek(j->fd, 0, SEEK_CUR);
	if (j->msg_start < 0)
		die_sys(EXIT_SYS, "unable to seek in the message");
	for (;;) {
		ssize_t n = read(j->fd, buf, sizeof buf);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die_sys(EXIT_SYS, "unable to read the message");
		}
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)buf[i];
			if (c == '\n') {
				lfs++;
				if (bol)
					in_header = 0;
				bol = 1;
				continue;
			}
			bol = 0;
			if (c >= 0x80) {
				j->eightbit = 1;
				if (in_header)
					j->header_utf8 = 1;
			}
		}
		bytes += (unsigned long long)n;
		last = buf[n - 1];
	}
	j->wire_size = bytes + lfs + (last != '\n' ? 2 : 0);
}

/* ---- the SMTP conversation ---- */

static int sock_connect(const struct dns_ip *ip, unsigned port, int timeout_ms)
{
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof ss);
	if (ip->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		memcpy(&s4->sin_addr, ip->addr, 4);
		len = sizeof *s4;
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		memcpy(&s6->sin6_addr, ip->addr, 16);
		len = sizeof *s6;
	}
	int fd = socket(ip->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) == 0)
		return fd;
	if (errno != EINPROGRESS)
		goto fail;
	if (fd_wait(fd, POLLOUT, timeout_ms) < 0)
		goto fail;
	int soerr = 0;
	socklen_t sl = sizeof soerr;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		goto fail;
	if (soerr) {
		errno = soerr;
		goto fail;
	}
	return fd;
fail:;
	int e = errno;
	close(fd);
	errno = e;
	return -1;
}

__attribute__((format(printf, 2, 3)))
static void why(struct session *s, const char *fmt, ...)
{
	va_list ap;
	str_truncate(&s->why, 0);
	str_catf(&s->why, "%s[%s]: ", s->host, s->ip);
	va_start(ap, fmt);
	str_vcatf(&s->why, fmt, ap);
	va_end(ap);
}

/* "host[ip] said: 550 ..." */
static void said(struct session *s, struct str *out)
{
	str_truncate(out, 0);
	str_catf(out, "%s[%s] said: %s", s->host, s->ip, s->reply.s);
}

/*
 * Read one reply.  Returns its code (100..599), or -1 when the connection
 * failed or the reply is malformed (s->why says which).
 */
static int get_reply(struct session *s, int timeout_ms, const char *after)
{
	s->in.timeout_ms = timeout_ms;
	int code = smtp_reply_read(&s->in, &s->reply, &s->lines);
	if (code == SMTP_REPLY_EOF || code == SMTP_REPLY_ERR) {
		const char *e = code == SMTP_REPLY_EOF ? "connection closed"
			      : s->tls && errno == EPROTO ? tlsio_error(s->tls)
							   : strerror(errno);
		str_truncate(&s->why, 0);
		str_catf(&s->why, "%s[%s]: %s after %s", s->host, s->ip, e, after);
	} else if (code == SMTP_REPLY_BAD) {
		str_truncate(&s->why, 0);
		str_catf(&s->why, "%s[%s]: malformed reply after %s", s->host, s->ip, after);
	}
	if (code < 0)
		code = -1;
	s->code = code;
	return code;
}

static int send_flush(struct session *s, int timeout_ms)
{
	s->out.timeout_ms = timeout_ms;
	if (bio_flush(&s->out) < 0) {
		why(s, "unable to send: %s", s->tls && errno == EPROTO ? tlsio_error(s->tls) : strerror(errno));
		return -1;
	}
	return 0;
}

/* one command, one reply */
static int command(struct session *s, const char *verb, const char *line)
{
	bio_puts(&s->out, line);
	bio_puts(&s->out, "\r\n");
	if (send_flush(s, s->j->to.command) < 0)
		return -1;
	return get_reply(s, s->j->to.command, verb);
}

/* EHLO, or HELO when EHLO is refused.  S_DONE when the session may go on */
static int hello(struct session *s)
{
	struct str line = STR_INIT;
	str_catf(&line, "EHLO %s", s->j->me.s);
	int c = command(s, "EHLO", line.s);
	if (c >= 200 && c < 300) {
		smtp_ehlo_parse(s->lines.s, &s->ext);
		str_free(&line);
		return S_DONE;
	}
	if (c >= 500) {
		str_copys(&line, "HELO ");
		str_cats(&line, s->j->me.s);
		c = command(s, "HELO", line.s);
		/* HELO offers no extensions */
		s->ext.pipelining = s->ext.starttls = s->ext.eightbitmime = s->ext.smtputf8 = 0;
		s->ext.has_size = s->ext.auth_plain = s->ext.auth_login = 0;
	}
	str_free(&line);
	if (c >= 200 && c < 300)
		return S_DONE;
	if (c > 0)
		why(s, "refused our greeting: %s", s->reply.s);
	return c >= 500 ? S_NEXT_PERM : S_NEXT;
}

static int start_tls(struct session *s, int policy)
{
	struct job *j = s->j;
	int c = command(s, "STARTTLS", "STARTTLS");
	if (c < 0)
		return S_NEXT;
	if (c != 220) {
		if (policy == TLS_MAY)
			return S_DONE; /* RFC 3207 4.1: carry on in the clear */
		why(s, "STARTTLS refused: %s", s->reply.s);
		return S_NEXT;
	}
	if (bio_buffered(&s->in)) {
		/* a reply pipelined past the 220 could only be an injection */
		why(s, "%s", "sent data after the STARTTLS reply");
		return S_NEXT;
	}
	struct tlsio_client_opts o = { 0 };
	o.verify = policy == TLS_VERIFY;
	o.ca_file = j->ca_file.len ? j->ca_file.s : NULL;
	o.servername = s->host;
	struct str err = STR_INIT;
	s->tls = tlsio_client(s->fd, &o, j->to.command, &err);
	if (!s->tls) {
		s->tls_failed = 1; /* the connection is in no state for a QUIT */
		why(s, "%s", err.s);
		str_free(&err);
		return policy == TLS_MAY ? S_RETRY_PLAIN : S_NEXT;
	}
	str_free(&err);
	snprintf(s->tls_version, sizeof s->tls_version, "%s", tlsio_version(s->tls));
	snprintf(s->tls_cipher, sizeof s->tls_cipher, "%s", tlsio_cipher(s->tls));
	tlsio_attach(s->tls, &s->in, &s->out);
	return hello(s); /* RFC 3207 4.2: forget what was learned in the clear */
}

static int authenticate(struct session *s)
{
	struct job *j = s->j;
	struct str msg = STR_INIT, line = STR_INIT;
	int c;
	if (!s->tls) {
		why(s, "%s", "refusing to send a password without TLS");
		return S_NEXT;
	}
	if (s->ext.auth_plain) {
		str_catc(&msg, '\0');
		str_catb(&msg, j->route.auth_user.s, j->route.auth_user.len);
		str_catc(&msg, '\0');
		str_catb(&msg, j->password.s, j->password.len);
		str_cats(&line, "AUTH PLAIN ");
		base64_encode(msg.s, msg.len, &line);
		c = command(s, "AUTH", line.s);
	} else if (s->ext.auth_login) {
		c = command(s, "AUTH", "AUTH LOGIN");
		if (c == 334) {
			base64_encode(j->route.auth_user.s, j->route.auth_user.len, &line);
			c = command(s, "AUTH", line.s);
		}
		if (c == 334) {
			str_truncate(&line, 0);
			base64_encode(j->password.s, j->password.len, &line);
			c = command(s, "AUTH", line.s);
		}
	} else {
		why(s, "%s", "offers no AUTH PLAIN or LOGIN");
		return S_NEXT;
	}
	/* wipe the credentials from memory we are done with */
	if (msg.s)
		memset(msg.s, 0, msg.cap);
	if (line.s)
		memset(line.s, 0, line.cap);
	str_free(&msg);
	str_free(&line);
	if (c >= 200 && c < 300)
		return S_DONE;
	if (c > 0) /* a wrong password is our fault, not the sender's: retry later */
		why(s, "authentication failed: %s", s->reply.s);
	return S_NEXT;
}

static int put_body(struct session *s)
{
	struct job *j = s->j;
	char buf[65536];
	int bol = 1, cr = 0;
	if (lseek(j->fd, j->msg_start, SEEK_SET) < 0) {
		str_copys(&s->why, "4.3.0 unable to rewind the message");
		return S_LOCAL;
	}
	s->out.timeout_ms = j->to.data_block;
	for (;;) {
		ssize_t n = read(j->fd, buf, sizeof buf);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			str_copys(&s->why, "4.3.0 unable to read the message");
			return S_LOCAL;
		}
		if (n == 0)
			break;
		size_t i = 0, len = (size_t)n;
		while (i < len) {
			/*
			 * RFC 5321 §2.3.8: no CR on the wire but in CRLF.  A CR
			 * before LF is part of the line ending; any other CR
			 * (only local mail can hold one) goes as a space, so no
			 * "<CR>.<CR>" reaches a server that might end the data
			 * there (SMTP smuggling), and no line is split.
			 */
			if (cr) {
				cr = 0;
				if (buf[i] != '\n' && bio_put(&s->out, " ", 1) < 0)
					goto lost;
			}
			if (bol && buf[i] == '.' && bio_put(&s->out, ".", 1) < 0)
				goto lost;
			size_t end = i;
			while (end < len && buf[end] != '\n' && buf[end] != '\r')
				end++;
			if (bio_put(&s->out, buf + i, end - i) < 0)
				goto lost;
			bol = 0;
			if (end < len && buf[end] == '\n') {
				if (bio_put(&s->out, "\r\n", 2) < 0)
					goto lost;
				bol = 1;
			} else if (end < len)
				cr = 1;
			i = end < len ? end + 1 : end;
		}
	}
	if (!bol && bio_put(&s->out, "\r\n", 2) < 0)
		goto lost;
	if (bio_put(&s->out, ".\r\n", 3) < 0)
		goto lost;
	return send_flush(s, j->to.data_block) < 0 ? S_NEXT : S_DONE;
lost:
	why(s, "unable to send the message: %s", s->tls && errno == EPROTO ? tlsio_error(s->tls) : strerror(errno));
	return S_NEXT;
}

static int needs_utf8(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/*
 * A reply to DATA or to the end of data decides every accepted recipient:
 * 5xx h, 2xx ok_status, anything else s.  421 (the server is closing) is
 * no verdict on the message: move on to the next address.
 */
static int settle(struct session *s, int c, char ok_status, struct str *text)
{
	said(s, text);
	if (c == 421) {
		str_copys(&s->why, text->s);
		return S_NEXT;
	}
	for (size_t i = 0; i < s->j->nrcpt; i++)
		if (s->j->rcpt[i].accepted)
			set_status(&s->j->rcpt[i], c >= 500 ? 'h' : c >= 200 && c < 300 ? ok_status : 's', text->s);
	return S_DONE;
}

/* every pending recipient, in one transaction */
static int transaction(struct session *s)
{
	struct job *j = s->j;
	struct str line = STR_INIT, text = STR_INIT;
	int result = S_DONE;

	if (s->ext.has_size && s->ext.size && j->wire_size > s->ext.size) {
		str_catf(&text, "552 5.3.4 message size %llu exceeds the limit %llu of %s[%s]", j->wire_size, s->ext.size,
			 s->host, s->ip);
		fail_pending(j, 'h', text.s);
		goto out;
	}
	if (j->need_utf8 && !s->ext.smtputf8) {
		/* RFC 6531 3.2: without SMTPUTF8 such a message cannot go through */
		str_catf(&text, "553 5.6.7 %s[%s] does not support SMTPUTF8, needed for the addresses", s->host,
			 s->ip);
		fail_pending(j, 'h', text.s);
		goto out;
	}

	str_catf(&line, "MAIL FROM:<%s>", j->sender);
	if (s->ext.has_size)
		str_catf(&line, " SIZE=%llu", j->wire_size);
	if (j->eightbit && s->ext.eightbitmime)
		str_cats(&line, " BODY=8BITMIME");
	if (s->ext.smtputf8 && (j->need_utf8 || j->header_utf8))
		str_cats(&line, " SMTPUTF8");
	str_cats(&line, "\r\n");
	bio_put(&s->out, line.s, line.len);
	size_t sent = 0;
	for (size_t i = 0; i < j->nrcpt; i++)
		j->rcpt[i].accepted = 0;
	if (s->ext.pipelining) { /* RFC 2920: MAIL and every RCPT in one write */
		for (size_t i = 0; i < j->nrcpt; i++)
			if (!j->rcpt[i].status) {
				bio_printf(&s->out, "RCPT TO:<%s>\r\n", j->rcpt[i].addr);
				sent++;
			}
	}
	if (send_flush(s, j->to.command) < 0) {
		result = S_NEXT;
		goto out;
	}
	int c = get_reply(s, j->to.command, "MAIL");
	if (c < 0) {
		result = S_NEXT;
		goto out;
	}
	int mail_ok = c >= 200 && c < 300;
	if (!mail_ok) {
		said(s, &text);
		if (c >= 500) {
			fail_pending(j, 'h', text.s);
		} else {
			str_copys(&s->why, text.s);
			result = S_NEXT;
		}
		/* drain the pipelined RCPT replies so QUIT is understood */
		for (size_t k = 0; k < sent; k++)
			if (get_reply(s, j->to.command, "RCPT") < 0)
				break;
		goto out;
	}
	size_t accepted = 0;
	for (size_t i = 0; i < j->nrcpt; i++) {
		struct rcpt *r = &j->rcpt[i];
		if (r->status)
			continue;
		if (!s->ext.pipelining) {
			bio_printf(&s->out, "RCPT TO:<%s>\r\n", r->addr);
			if (send_flush(s, j->to.command) < 0) {
				result = S_NEXT;
				goto out;
			}
		}
		c = get_reply(s, j->to.command, "RCPT");
		if (c < 0) {
			result = S_NEXT;
			goto out;
		}
		said(s, &text);
		if (c == 421) { /* the server is going away: not this recipient's fault */
			str_copys(&s->why, text.s);
			result = S_NEXT;
			goto out;
		}
		if (c >= 200 && c < 300) {
			r->accepted = 1;
			accepted++;
		} else {
			set_status(r, c >= 500 ? 'h' : 's', text.s);
		}
	}
	if (!accepted)
		goto out;

	bio_puts(&s->out, "DATA\r\n");
	if (send_flush(s, j->to.data_init) < 0 || (c = get_reply(s, j->to.data_init, "DATA")) < 0) {
		result = S_NEXT;
		goto out;
	}
	if (c != 354) {
		result = settle(s, c, 's', &text);
		goto out;
	}
	result = put_body(s);
	if (result != S_DONE)
		goto out;
	c = get_reply(s, j->to.data_end, "end of data");
	if (c < 0) {
		result = S_NEXT; /* not known to be delivered: try again elsewhere */
		goto out;
	}
	result = settle(s, c, 'r', &text);
out:
	for (size_t i = 0; i < j->nrcpt; i++)
		j->rcpt[i].accepted = 0;
	str_free(&line);
	str_free(&text);
	return result;
}

/* the end of a session: a polite QUIT where the connection allows one */
static void session_end(struct session *s)
{
	if (s->fd >= 0) {
		if (s->code > 0 && !s->tls_failed) {
			/* the answer does not matter, the reason stays */
			struct str keep = s->why;
			memset(&s->why, 0, sizeof s->why);
			bio_drop(&s->in);
			bio_puts(&s->out, "QUIT\r\n");
			if (send_flush(s, 5000) == 0)
				get_reply(s, 5000, "QUIT");
			str_free(&s->why);
			s->why = keep;
		}
		if (s->tls)
			tlsio_close(s->tls, 2000);
		close(s->fd);
		s->fd = -1;
		bio_free(&s->in);
		bio_free(&s->out);
	}
}

static void session_free(struct session *s)
{
	str_free(&s->reply);
	str_free(&s->lines);
	str_free(&s->why);
	free(s->host_own);
}

/* the log line of one attempt; a failure's reason becomes the job's last error */
static void log_attempt(struct job *j, struct session *s, int result, int reused)
{
	const char *res = result == S_DONE ? "done" : result == S_LOCAL ? "local-error" : "next";
	for (size_t i = 0; i < s->why.len; i++)
		if (s->why.s[i] == '"')
			s->why.s[i] = '\'';
	log_line("event=attempt id=%s domain=%s mx=%s ip=%s port=%u tls=%s cipher=%s result=%s connection=%s "
		 "reason=\"%s\"",
		 j->id, j->domain, s->host, s->ip, s->port, s->tls_version[0] ? s->tls_version : "none",
		 s->tls_cipher[0] ? s->tls_cipher : "-", res, reused ? "reused" : "new", s->why.len ? s->why.s : "");
	if (result != S_DONE)
		str_copyb(&j->last_err, s->why.s ? s->why.s : "", s->why.len);
}

/*
 * One connection to one address.  With keep (and *keep NULL), a session
 * that ended its transaction in good order is left open in *keep for the
 * next message rather than closed.
 */
static int session(struct job *j, const char *host, const struct dns_ip *ip, int no_tls, struct session **keep)
{
	struct session s;
	memset(&s, 0, sizeof s);
	s.j = j;
	s.host = host;
	s.port = j->route.port;
	dns_ip_format(ip, s.ip);
	int result;
	int policy = no_tls ? TLS_NONE : j->route.policy;

	s.fd = sock_connect(ip, s.port, j->to.connect);
	if (s.fd < 0) {
		why(&s, "unable to connect: %s", strerror(errno));
		result = S_NEXT;
		goto log;
	}
	bio_init(&s.in, s.fd, 16384, j->to.greeting);
	bio_init(&s.out, s.fd, 65536, j->to.command);
	int c = get_reply(&s, j->to.greeting, "connect");
	if (c < 0) {
		result = S_NEXT;
		goto quit;
	}
	if (c != 220) {
		why(&s, "greeted us with: %s", s.reply.s);
		result = c >= 500 ? S_NEXT_PERM : S_NEXT;
		goto quit;
	}
	if ((result = hello(&s)) != S_DONE)
		goto quit;
	if (policy != TLS_NONE) {
		if (s.ext.starttls) {
			if ((result = start_tls(&s, policy)) != S_DONE)
				goto quit;
		} else if (policy >= TLS_ENCRYPT) {
			why(&s, "TLS required (tls=%s) but STARTTLS not offered", policy_name[policy]);
			result = S_NEXT;
			goto quit;
		}
	}
	if (policy >= TLS_ENCRYPT && !s.tls) {
		why(&s, "TLS required (tls=%s) but not established", policy_name[policy]);
		result = S_NEXT;
		goto quit;
	}
	if (j->route.auth_user.len && (result = authenticate(&s)) != S_DONE)
		goto quit;
	result = transaction(&s);
	if (keep && !*keep && result == S_DONE && s.code > 0 && s.code != 421 && !s.tls_failed) {
		log_attempt(j, &s, result, 0);
		s.host = s.host_own = xstrdup(host);
		*keep = xmalloc(sizeof s);
		**keep = s;
		return result;
	}
quit:
	session_end(&s);
log:
	log_attempt(j, &s, result, 0);
	session_free(&s);
	return result;
}

/*
 * The next message on the connection an earlier one left open (*cache):
 * RSET, then its transaction.  The connection stays for the one after
 * when the transaction ended in good order; otherwise it is closed, and
 * recipients the server left undecided go the usual way (deliver).
 */
static void reuse(struct job *j, struct session **cache)
{
	struct session *s = *cache;
	s->j = j;
	str_truncate(&s->why, 0);
	int result = S_NEXT;
	int c = command(s, "RSET", "RSET");
	if (c >= 200 && c < 300)
		result = transaction(s);
	else if (c > 0)
		why(s, "refused RSET: %s", s->reply.s);
	if (result == S_LOCAL)
		fail_pending(j, 's', s->why.s);
	/* a refused RSET is no attempt at this message: only the log says why */
	log_attempt(j, s, result, 1);
	if (result == S_DONE && s->code > 0 && s->code != 421)
		return;
	session_end(s);
	session_free(s);
	free(s);
	*cache = NULL;
}

/* ---- where to ---- */

static int pending(const struct job *j)
{
	for (size_t i = 0; i < j->nrcpt; i++)
		if (!j->rcpt[i].status)
			return 1;
	return 0;
}

/* try each address of host; 1 once nothing is pending any more */
static int try_host(struct job *j, struct dns **d, const char *host, size_t *tried, struct session **keep)
{
	struct dns_ips ips = DNS_IPS_INIT;
	struct dns_ip lit;
	struct str err = STR_INIT;
	int r = DNS_OK;
	if (dns_ip_parse(host, &lit) == 0) {
		ips.ip = xmalloc(sizeof lit);
		ips.ip[0] = lit;
		ips.n = 1;
	} else {
		if (!*d && !(*d = dns_open(&j->limits, &err)))
			r = DNS_TEMP;
		else
			r = dns_addrs(*d, host, AF_UNSPEC, &ips, &err);
	}
	if (r == DNS_TEMP) {
		j->temp_seen = 1;
		str_copyb(&j->last_err, err.s, err.len);
	} else if (r == DNS_PERM || ips.n == 0) {
		str_truncate(&j->last_err, 0);
		str_catf(&j->last_err, "5.4.4 mail server %s has no address%s%s", host, err.len ? ": " : "",
			 str_c(&err));
		log_line("event=attempt id=%s domain=%s mx=%s result=next reason=\"no address\"", j->id, j->domain,
			 host);
	}
	str_free(&err);
	for (size_t i = 0; i < ips.n && pending(j); i++) {
		if (*tried >= j->max_addresses)
			break;
		(*tried)++;
		int s = session(j, host, &ips.ip[i], 0, keep);
		if (s == S_RETRY_PLAIN) /* RFC 7435: a broken TLS is no reason to stop */
			s = session(j, host, &ips.ip[i], 1, keep);
		if (s == S_NEXT || s == S_RETRY_PLAIN)
			j->temp_seen = 1;
		if (s == S_LOCAL)
			fail_pending(j, 's', j->last_err.s);
	}
	dns_ips_free(&ips);
	return !pending(j);
}

/* every pending recipient of j, from the route or the MX lookup on; keep as for session() */
static void deliver(struct job *j, struct session **keep)
{
	struct dns *d = NULL;
	struct str err = STR_INIT;
	size_t tried = 0;
	if (j->route.host.len) {
		try_host(j, &d, j->route.host.s, &tried, keep);
	} else if (j->domain[0] == '[') {
		/* an address literal: that host, no DNS (RFC 5321 5.1) */
		size_t n = strlen(j->domain);
		char *ip = xstrndup(j->domain + 1, n - 2);
		if (!strncasecmp(ip, "IPv6:", 5))
			memmove(ip, ip + 5, strlen(ip + 5) + 1);
		try_host(j, &d, ip, &tried, keep);
		free(ip);
	} else if (!(d = dns_open(&j->limits, &err))) {
		str_copyb(&j->last_err, err.s, err.len);
		j->temp_seen = 1;
	} else {
		struct dns_mxs mx = DNS_MXS_INIT;
		int r = dns_mx(d, j->domain, &mx, &err);
		if (r != DNS_OK) {
			log_line("event=dns id=%s domain=%s result=%s reason=\"%s\"", j->id, j->domain,
				 r == DNS_PERM ? "permanent" : "temporary", err.s);
			str_truncate(&j->last_err, 0);
			if (r == DNS_PERM && strncmp(err.s, "556 ", 4))
				str_cats(&j->last_err, "5.1.2 ");
			else if (r == DNS_TEMP)
				str_cats(&j->last_err, "4.4.3 ");
			str_catb(&j->last_err, err.s, err.len);
			j->temp_seen = r == DNS_TEMP;
		}
		for (size_t i = 0; r == DNS_OK && i < mx.n; i++)
			if (try_host(j, &d, mx.mx[i].host, &tried, keep))
				break;
		dns_mxs_free(&mx);
	}
	if (pending(j))
		fail_pending(j, j->temp_seen ? 's' : 'h', j->last_err.len ? j->last_err.s : "4.4.0 no mail server tried");
	dns_close(d);
	str_free(&err);
}

/* ---- setup ---- */

static int valid_addr(const char *s)
{
	size_t n = strlen(s);
	if (n > ADDR_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '<' || c == '>')
			return 0;
	}
	return 1;
}

static int setup(struct job *j, struct str *err)
{
	struct conf_list *limits = &j->limits;
	if (conf_list_read("limits", limits) < 0) {
		str_catf(err, "4.3.5 unable to read limits: %s", strerror(errno));
		return -1;
	}
	/* RFC 5321 4.5.3.2 */
	j->to.connect = ms(limits, "remote-connect-timeout", 60);
	j->to.greeting = ms(limits, "remote-greeting-timeout", 300);
	j->to.command = ms(limits, "remote-command-timeout", 300);
	j->to.data_init = ms(limits, "remote-data-timeout", 120);
	j->to.data_block = ms(limits, "remote-block-timeout", 180);
	j->to.data_end = ms(limits, "remote-dot-timeout", 600);
	conf_limit(limits, "remote-max-addresses", 10, &j->max_addresses);

	int r = conf_line("me", &j->me);
	if (r < 0) {
		str_catf(err, "4.3.5 unable to read me: %s", strerror(errno));
		return -1;
	}
	if (r > 0) {
		char host[256];
		if (gethostname(host, sizeof host) < 0)
			die_sys(EXIT_SYS, "unable to get the host name");
		host[sizeof host - 1] = '\0';
		str_copys(&j->me, host);
	}
	struct str ca = STR_INIT;
	r = conf_line("tls-ca-file", &ca);
	if (r < 0) {
		str_catf(err, "4.3.5 unable to read tls-ca-file: %s", strerror(errno));
		return -1;
	}
	if (r == 0)
		conf_resolve(ca.s, &j->ca_file);
	str_free(&ca);
	if (load_route(j, err) < 0)
		return -1;
	if (j->route.auth_user.len && load_password(j, err) < 0)
		return -1;
	return 0;
}

/* what setup() and the delivery allocated in a job */
static void job_free(struct job *j)
{
	for (size_t i = 0; i < j->nrcpt; i++)
		str_free(&j->rcpt[i].text);
	free(j->rcpt);
	conf_list_free(&j->limits);
	if (j->password.s)
		memset(j->password.s, 0, j->password.cap);
	str_free(&j->password);
	str_free(&j->me);
	str_free(&j->ca_file);
	str_free(&j->last_err);
	str_free(&j->route.host);
	str_free(&j->route.auth_user);
}

/*
 * -n: check the configuration this program reads (every routes line, the
 * secrets of every auth= user, the nameservers, the CA file, the limits);
 * each problem on stderr, exit 111 when there was one.
 */
static int check_config(void)
{
	struct job j;
	struct conf_list routes = CONF_LIST_INIT;
	struct str err = STR_INIT;
	int bad = 0;
	memset(&j, 0, sizeof j);
	j.domain = "example.invalid";
	if (setup(&j, &err) < 0) {
		warn_msg("%s", err.s);
		bad = 1;
	}
	if (conf_list_read("routes", &routes) < 0)
		die_sys(EXIT_SYS, "unable to read routes");
	for (size_t i = 0; i < routes.n; i++) {
		str_truncate(&err, 0);
		if (parse_route(routes.item[i], &j.route) < 0) {
			warn_msg("routes: bad line: %s", routes.item[i]);
			bad = 1;
		} else if (j.route.auth_user.len && load_password(&j, &err) < 0) {
			warn_msg("%s", err.s);
			bad = 1;
		}
	}
	str_truncate(&err, 0);
	struct dns *d = dns_open(&j.limits, &err);
	if (!d) {
		warn_msg("%s", err.s);
		bad = 1;
	}
	dns_close(d);
	if (j.ca_file.len && access(j.ca_file.s, R_OK) < 0) {
		warn_sys("unable to read the CA file %s", j.ca_file.s);
		bad = 1;
	}
	job_free(&j);
	conf_list_free(&routes);
	str_free(&err);
	return bad ? EXIT_SYS : 0;
}

/*
 * One message: its checks, the delivery (on the connection the one before
 * left in *cache, when there is one; keep says whether one may be left
 * for the next), the reports.
 */
static void run_job(struct job *j, struct session **cache, int keep)
{
	struct str domain = STR_INIT, err = STR_INIT;
	str_copys(&domain, j->domain);
	str_lower(&domain);
	j->domain = domain.s;
	int utf8_domain = needs_utf8(j->domain);
	int ok_domain = j->domain[0] == '[' ? addr_valid_literal(j->domain, domain.len)
					    : addr_valid_domain(j->domain, domain.len, 0);
	for (size_t i = 0; i < j->nrcpt; i++) {
		if (!valid_addr(j->rcpt[i].addr))
			set_status(&j->rcpt[i], 'h', "5.1.3 invalid recipient address");
		else if (needs_utf8(j->rcpt[i].addr))
			j->need_utf8 = 1;
	}
	j->need_utf8 |= needs_utf8(j->sender);
	scan_message(j);

	if (!valid_addr(j->sender))
		fail_pending(j, 'h', "5.1.7 invalid sender address");
	else if (utf8_domain)
		fail_pending(j, 'h', "5.1.2 non-ASCII domain names (IDNA) are not supported");
	else if (!ok_domain)
		fail_pending(j, 'h', "5.1.2 invalid domain name");
	else if (setup(j, &err) < 0) {
		log_line("event=fail id=%s domain=%s reason=\"%s\"", j->id, j->domain, err.s);
		fail_pending(j, 's', err.s);
	}
	if (pending(j) && *cache)
		reuse(j, cache);
	if (pending(j))
		deliver(j, keep ? cache : NULL);
	write_reports(j);
	job_free(j);
	str_free(&domain);
	str_free(&err);
}

/* a number in argv: 0, or -1 when it is not one within [min, max] */
static int arg_num(const char *s, unsigned long long min, unsigned long long max, unsigned long long *v)
{
	return scan_ull(s, strlen(s), v) && *v >= min && *v <= max ? 0 : -1;
}

/*
 * -b DOMAIN FD ID SENDER COUNT RECIPIENT... [FD ID SENDER COUNT RECIPIENT...]...
 * Every message's arguments are checked before any is delivered: a
 * malformed call delivers nothing (exit 100).
 */
static int batch(int argc, char **argv)
{
	struct job jobs[BATCH_MAX];
	size_t n = 0;
	int a = 3;
	if (argc < 8)
		die(EXIT_USAGE, "usage: deliver-remote -b DOMAIN FD ID SENDER COUNT RECIPIENT... [FD ID ...]...");
	while (a < argc) {
		unsigned long long fd, count;
		if (n == BATCH_MAX || argc - a < 5 || arg_num(argv[a], 0, 1023, &fd) < 0 || fd == 1 || fd == 2 ||
		    (strcmp(argv[a + 1], "-") && !qid_valid(argv[a + 1])) ||
		    arg_num(argv[a + 3], 1, (unsigned long long)(argc - a - 4), &count) < 0)
			die(EXIT_USAGE, "usage: deliver-remote -b DOMAIN FD ID SENDER COUNT RECIPIENT... [FD ID ...]...");
		struct job *j = &jobs[n++];
		memset(j, 0, sizeof *j);
		j->domain = argv[2];
		j->fd = (int)fd;
		j->id = argv[a + 1];
		j->sender = argv[a + 2];
		j->nrcpt = count;
		j->rcpt = xcalloc(count, sizeof *j->rcpt);
		for (size_t i = 0; i < count; i++)
			j->rcpt[i].addr = argv[a + 4 + (int)i];
		a += 4 + (int)count;
	}
	struct session *cache = NULL;
	for (size_t k = 0; k < n; k++)
		run_job(&jobs[k], &cache, k + 1 < n);
	if (cache) {
		session_end(cache);
		session_free(cache);
		free(cache);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "-n"))
		return check_config();
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && !strcmp(argv[1], "-b"))
		return batch(argc, argv);
	if (argc < 4) {
		fprintf(stderr, "usage: deliver-remote DOMAIN SENDER RECIPIENT... < message\n");
		fprintf(stderr, "       deliver-remote -b DOMAIN FD ID SENDER COUNT RECIPIENT... [FD ID ...]...\n");
		fprintf(stderr, "       deliver-remote -n\n");
		return EXIT_USAGE;
	}
	struct job j;
	memset(&j, 0, sizeof j);
	j.domain = argv[1];
	j.sender = argv[2];
	j.nrcpt = (size_t)(argc - 3);
	j.rcpt = xcalloc(j.nrcpt, sizeof *j.rcpt);
	for (size_t i = 0; i < j.nrcpt; i++)
		j.rcpt[i].addr = argv[3 + i];
	const char *id = getenv("QUEUE_ID");
	j.id = id && qid_valid(id) ? id : "-";
	struct session *cache = NULL;
	run_job(&j, &cache, 0);
	return 0;
}
