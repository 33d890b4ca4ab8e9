/*
 * smtp-recv - receive mail by SMTP (RFC 5321) on fd 0/1 and hand each
 * message to the queue program (DESIGN.md contract 1).
 *
 * One process per connection, started by tcpserver, systemd (Accept=yes)
 * or inetd; it never listens itself.  The client may pipeline (RFC 2920):
 * all input goes through one buffer, and replies are flushed only when no
 * further command is buffered, or before blocking.  The message is decoded
 * (lib/smtp_data.c) and streamed to the queue program as it arrives; the
 * envelope follows only after the whole message was accepted, so a message
 * refused or cut off midway is never queued.
 *
 * TLS (RFC 3207 STARTTLS, RFC 8314 implicit TLS with -t) slides libtls
 * under the same buffers (lib/tlsio.c); what was buffered before the
 * handshake is thrown away.  This file is linked twice: smtp-recv, built
 * without a TLS library (lib/tlsio_absent.c, statically against musl,
 * lib/build.mk) so the plain connection costs little, and smtp-recv-tls
 * with libtls.  Where TLS is wanted, smtp-recv execs smtp-recv-tls in the
 * same process: at once for -t, at STARTTLS with the session's state
 * handed over (tls_handover, handover_take).
 *
 * AUTH (RFC 4954) asks a checkpassword program (lib/checkpw.c);
 * submission mode (-s, RFC 6409) requires it before MAIL.
 *
 * A policy server (Postfix's delegation protocol, lib/policy_client.c) is
 * asked at the stages marked "policy:"; its refusals go out as they are,
 * its other actions (HOLD, DISCARD, PREPEND, REDIRECT, BCC) gather in
 * struct policy_effects and are applied when the message is handed on.
 * Recipient checks all live in rcpt_check().
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "alloc.h"
#include "base64.h"
#include "bio.h"
#include "chain.h"
#include "checkpw.h"
#include "child.h"
#include "conf.h"
#include "date.h"
#include "die.h"
#include "envelope.h"
#include "envset.h"
#include "local.h"
#include "log.h"
#include "policy_client.h"
#include "qid.h"
#include "smtp_cmd.h"
#include "smtp_data.h"
#include "str.h"
#include "table.h"
#include "tlsio.h"

/* chunk of decoded message collected before a write to the queue program */
#define CHAIN_BLOCK 65536
/* RFC 4954 §4: AUTH lines may be this long, whatever the command-line limit */
#define AUTH_LINE_MAX 12288
/* longest SMTP AUTH user name taken (it reaches logs and the environment) */
#define AUTH_USER_MAX 255

struct limits {
	unsigned long long size, rcpts, cmdline, textline, errors, received, timeout, queue_timeout;
	unsigned long long auth_failures, auth_delay, auth_timeout, policy_timeout;
};

/* how this instance was started (command-line options) */
struct mode {
	int submission;     /* -s: AUTH required before MAIL (RFC 6409) */
	int implicit_tls;   /* -t: TLS from the first octet (RFC 8314, port 465) */
	int insecure_auth;  /* -U: AUTH offered without TLS (unsafe; loopback and tests) */
	int handover;       /* -S: smtp-recv-tls taking over at STARTTLS (handover_take) */
};

struct conn {
	struct bio in, out;
	struct envset vars; /* what the programs started here are told (export) */
	struct limits lim;
	struct mode mode;
	struct str me;
	struct str tls_cert, tls_key;   /* resolved paths; empty: no TLS */
	struct str tls_protocols, tls_ciphers; /* empty: the defaults */
	char **checkpw;                 /* conf checkpassword, or NULL */
	int own_sender;                 /* conf auth-sender "own" */
	struct tlsio_server *tls_server;
	struct tlsio *tls;              /* the session is under TLS */
	struct str auth_user;           /* empty until AUTH succeeded */
	const char *auth_mech;
	unsigned long auth_failures;
	struct conf_list locals, rcpthosts, limits; /* kept for the recipient lookups */
	char remote_ip[INET6_ADDRSTRLEN], remote_port[8];
	char local_ip[INET6_ADDRSTRLEN], local_port[8];
	struct str remote_host; /* TCPREMOTEHOST, when a valid name */
	struct str helo;
	int esmtp;              /* 0: no greeting yet, 1: HELO, 2: EHLO */
	int relay;              /* RELAYCLIENT is set */
	unsigned long errors, messages, rcpts;
	struct policy_client policy;
	char instance[QID_SIZE];        /* the policy protocol's "instance": this connection */
	struct policy_effects conn_fx, helo_fx, msg_fx;
	struct str policy_reply;        /* a refusal built from the policy's action */
	struct str policy_action;       /* the action policy_check applied last; empty: none */
	struct str conn_action, helo_action; /* CONNECT's and HELO's, for the TLS hand-over */
	int refused;                    /* refused at CONNECT: only QUIT is answered */

	/* the mail transaction */
	int in_mail;
	int smtputf8;
	char id[QID_SIZE], last_id[QID_SIZE];
	struct envelope env;
	int chunking;           /* BDAT has started this message */
	int chain_running;      /* the queue program runs for this message */
	struct chain chain;
	struct smtp_data data;
	struct str pending;     /* decoded message not yet written to the chain */
	struct str rcpt_reply;  /* a refusal built for this RCPT */
	int chain_hung;         /* a write to the queue program timed out */
	unsigned long long mail_size; /* SIZE= of MAIL, then the message's size */

	/*
	 * The record being read (a command line, or text-line octets of DATA
	 * or BDAT) must arrive whole within the timeout: the per-read timeout
	 * alone restarts with every octet, so a client sending one octet a
	 * second would hold the session for ever.  0: no record under way.
	 */
	long long rec_deadline;  /* CLOCK_MONOTONIC milliseconds */
	unsigned long long rec_bytes;
};

static void transaction_reset(struct conn *c);

static void reply(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(struct conn *c, const char *fmt, ...)
{
	struct str line = STR_INIT;
	va_list ap;
	va_start(ap, fmt);
	str_vcatf(&line, fmt, ap);
	va_end(ap);
	str_catb(&line, "\r\n", 2);
	/* a failed put is a dead client; the next flush notices */
	(void)bio_put(&c->out, line.s, line.len);
	str_free(&line);
	c->rec_deadline = 0; /* the client's next record starts once it has this */
}

/* a refused command: counts toward the "errors" limit */
static void reply_error(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply_error(struct conn *c, const char *fmt, ...)
{
	struct str line = STR_INIT;
	va_list ap;
	va_start(ap, fmt);
	str_vcatf(&line, fmt, ap);
	va_end(ap);
	reply(c, "%s", line.s);
	str_free(&line);
	c->errors++;
}

static void __attribute__((noreturn)) finish(struct conn *c, const char *reason)
{
	if (c->in_mail)
		transaction_reset(c);
	(void)bio_flush(&c->out);
	policy_client_close(&c->policy);
	if (c->tls)
		tlsio_close(c->tls, 1000); /* close_notify, briefly: the client may be gone */
	log_line("event=disconnect remote=%s reason=%s messages=%lu rcpts=%lu errors=%lu",
		 c->remote_ip[0] ? c->remote_ip : "unknown", reason, c->messages, c->rcpts, c->errors);
	_exit(0);
}

static void flush(struct conn *c)
{
	if (bio_flush(&c->out) < 0)
		finish(c, errno == ETIMEDOUT ? "write-timeout" : "write-error");
}

/* a read failed: say why (when the client can still hear) and leave */
static void __attribute__((noreturn)) read_failed(struct conn *c, ssize_t r)
{
	if (r < 0 && errno == ETIMEDOUT) {
		reply(c, "421 4.4.2 %s Timeout, closing connection", c->me.s);
		finish(c, "timeout");
	}
	finish(c, r == 0 ? "eof" : "read-error");
}

/*
 * refill the input buffer, flushing replies first: we are about to block;
 * at most until the record's deadline (see rec_deadline)
 */
static void fill(struct conn *c)
{
	flush(c);
	long long now = clock_ms();
	if (!c->rec_deadline || c->rec_bytes >= c->lim.textline) {
		c->rec_deadline = now + (long long)c->lim.timeout * 1000;
		c->rec_bytes = 0;
	}
	long long left = c->rec_deadline - now;
	if (left <= 0) {
		errno = ETIMEDOUT;
		read_failed(c, -1);
	}
	c->in.timeout_ms = (int)left;
	ssize_t r = bio_fill(&c->in);
	if (r <= 0)
		read_failed(c, r);
	c->rec_bytes += (unsigned long long)r;
}

/* ---- configuration and the connection's addresses ---- */

static unsigned long long limit(const struct conf_list *l, const char *name, unsigned long long def)
{
	unsigned long long v;
	conf_limit(l, name, def, &v);
	return v;
}

/* a one-line setting, or "" when the file is missing or empty */
static void setting(const char *name, struct str *out)
{
	int r = conf_line(name, out);
	if (r < 0) {
		warn_sys("unable to read %s/%s", conf_dir(), name);
		static const char msg[] = "421 4.3.0 Configuration unreadable, try again later\r\n";
		(void)fd_write_all(1, msg, sizeof msg - 1);
		_exit(EXIT_SYS);
	}
	if (r > 0)
		str_copys(out, "");
}

/*
 * TLS and AUTH settings.  Only the names are read here: certificate and
 * key are loaded when a client asks for TLS, so a renewed certificate
 * takes effect with the next connection.
 */
static void read_tls_auth_config(struct conn *c)
{
	struct str v = STR_INIT;
	/* the settings that only matter with the one before them are read only then */
	setting("tls-cert", &v);
	if (v.len) {
		conf_resolve(v.s, &c->tls_cert);
		setting("tls-key", &v);
		if (v.len)
			conf_resolve(v.s, &c->tls_key);
	}
	if (!c->tls_cert.len || !c->tls_key.len)
		c->tls_cert.len = c->tls_key.len = 0; /* both or no TLS */
	if (c->mode.submission && !c->tls_cert.len && !c->mode.insecure_auth)
		log_line("event=config problem=\"submission without tls-cert and tls-key: AUTH is never offered\"");
	if (c->tls_cert.len) {
		setting("tls-protocols", &c->tls_protocols);
		setting("tls-ciphers", &c->tls_ciphers);
	}
	setting("checkpassword", &v);
	if (v.len) {
		c->checkpw = child_argv_split(v.s);
		if (!c->checkpw[0] || !c->checkpw[1])
			log_line("event=config problem=\"checkpassword needs a checker and the program it runs, e.g. auth-check true\"");
		setting("auth-sender", &v);
		if (v.len && strcmp(v.s, "own") != 0 && strcmp(v.s, "any") != 0)
			log_line("event=config problem=\"auth-sender is neither own nor any: taken as own\"");
		c->own_sender = v.len && strcmp(v.s, "any") != 0;
	}
	str_free(&v);
}

static void read_config(struct conn *c)
{
	struct conf_list *l = &c->limits;
	if (conf_list_read("limits", l) < 0 || conf_list_read("locals", &c->locals) < 0 ||
	    conf_list_read("rcpthosts", &c->rcpthosts) < 0) {
		warn_sys("unable to read configuration in %s", conf_dir());
		static const char msg[] = "421 4.3.0 Configuration unreadable, try again later\r\n";
		(void)fd_write_all(1, msg, sizeof msg - 1);
		_exit(EXIT_SYS);
	}
	c->lim.size = limit(l, "message-size", 26214400);
	c->lim.rcpts = limit(l, "recipients", 100);
	c->lim.cmdline = limit(l, "command-line", 512);
	c->lim.textline = limit(l, "text-line", 1000);
	c->lim.errors = limit(l, "errors", 10);
	c->lim.received = limit(l, "received-headers", 100);
	c->lim.timeout = limit(l, "timeout", 300);
	c->lim.queue_timeout = limit(l, "queue-timeout", 600);
	c->lim.auth_failures = limit(l, "auth-failures", 3);
	c->lim.auth_delay = limit(l, "auth-delay", 1000);
	c->lim.auth_timeout = limit(l, "auth-timeout", 30);
	c->lim.policy_timeout = limit(l, "policy-timeout", 100);
	/*
	 * 0 is taken as the default, never as "no limit"; the RFC minimums
	 * hold; a timeout must fit poll(2)'s milliseconds.
	 */
	if (c->lim.size == 0)
		c->lim.size = 26214400;
	if (c->lim.rcpts == 0)
		c->lim.rcpts = 100;
	if (c->lim.cmdline < 512)
		c->lim.cmdline = 512;
	if (c->lim.cmdline > 65536)
		c->lim.cmdline = 65536;
	if (c->lim.textline < 1000)
		c->lim.textline = 1000;
	if (c->lim.errors == 0)
		c->lim.errors = 10;
	if (c->lim.received == 0)
		c->lim.received = 100;
	if (c->lim.timeout == 0 || c->lim.timeout > 86400)
		c->lim.timeout = 300;
	if (c->lim.queue_timeout == 0 || c->lim.queue_timeout > 86400)
		c->lim.queue_timeout = 600;
	if (c->lim.auth_failures == 0)
		c->lim.auth_failures = 3;
	if (c->lim.auth_delay == 0 || c->lim.auth_delay > 60000)
		c->lim.auth_delay = 1000;
	if (c->lim.auth_timeout == 0 || c->lim.auth_timeout > 3600)
		c->lim.auth_timeout = 30;
	if (c->lim.policy_timeout == 0 || c->lim.policy_timeout > 3600)
		c->lim.policy_timeout = 100;
	read_tls_auth_config(c);

	if (conf_line("me", &c->me) != 0) {
		char host[256];
		if (gethostname(host, sizeof host - 1) < 0)
			die_sys(EXIT_SYS, "unable to find this host's name");
		host[sizeof host - 1] = '\0';
		str_copys(&c->me, host);
	}
	for (size_t i = 0; i < c->me.len; i++)
		if ((unsigned char)c->me.s[i] <= ' ' || (unsigned char)c->me.s[i] >= 0x7f)
			die(EXIT_SYS, "unable to use conf me: not a host name");
}

/* copy a textual address into out if valid; IPv4-mapped IPv6 becomes IPv4 */
static int set_ip(char out[INET6_ADDRSTRLEN], const char *s)
{
	unsigned char bin[16];
	if (!s || !*s)
		return 0;
	if (strncasecmp(s, "::ffff:", 7) == 0 && inet_pton(AF_INET, s + 7, bin) == 1)
		s += 7;
	if (inet_pton(AF_INET, s, bin) == 1) {
		inet_ntop(AF_INET, bin, out, INET6_ADDRSTRLEN);
		return 1;
	}
	if (inet_pton(AF_INET6, s, bin) == 1) {
		inet_ntop(AF_INET6, bin, out, INET6_ADDRSTRLEN);
		return 1;
	}
	return 0;
}

static void set_port(char out[8], const char *s)
{
	unsigned long long v;
	if (s && scan_ull(s, strlen(s), &v) && v <= 65535)
		snprintf(out, 8, "%llu", v);
}

static void sock_addr(int local, char ip[INET6_ADDRSTRLEN], char port[8])
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	char text[INET6_ADDRSTRLEN];
	int r = local ? getsockname(0, (struct sockaddr *)&ss, &len) : getpeername(0, (struct sockaddr *)&ss, &len);
	if (r < 0)
		return; /* not a socket (a test, a pipe): simply unknown */
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
		snprintf(port, 8, "%u", (unsigned)ntohs(in->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
		snprintf(port, 8, "%u", (unsigned)ntohs(in6->sin6_port));
	} else
		return;
	if (!ip[0])
		set_ip(ip, text);
}

/*
 * tcpserver: TCPREMOTEIP (or ${PROTO}REMOTEIP); systemd Accept=yes:
 * REMOTE_ADDR; inetd and the rest: the socket itself.
 */
static void find_addresses(struct conn *c)
{
	char name[64];
	const char *proto = env_get("PROTO");
	if (set_ip(c->remote_ip, env_get("TCPREMOTEIP")))
		set_port(c->remote_port, env_get("TCPREMOTEPORT"));
	else if (proto && strlen(proto) < 16 && snprintf(name, sizeof name, "%sREMOTEIP", proto) > 0 &&
		 set_ip(c->remote_ip, env_get(name))) {
		snprintf(name, sizeof name, "%sREMOTEPORT", proto);
		set_port(c->remote_port, env_get(name));
	} else if (set_ip(c->remote_ip, env_get("REMOTE_ADDR")))
		set_port(c->remote_port, env_get("REMOTE_PORT"));
	if (set_ip(c->local_ip, env_get("TCPLOCALIP")))
		set_port(c->local_port, env_get("TCPLOCALPORT"));
	else if (proto && strlen(proto) < 16 && snprintf(name, sizeof name, "%sLOCALIP", proto) > 0 &&
		 set_ip(c->local_ip, env_get(name))) {
		snprintf(name, sizeof name, "%sLOCALPORT", proto);
		set_port(c->local_port, env_get(name));
	}
	if (!c->remote_ip[0] || !c->remote_port[0])
		sock_addr(0, c->remote_ip, c->remote_port);
	if (!c->local_ip[0] || !c->local_port[0])
		sock_addr(1, c->local_ip, c->local_port);
	const char *host = env_get("TCPREMOTEHOST");
	if (host && addr_valid_domain(host, strlen(host), 0))
		str_copys(&c->remote_host, host);
}

/* The queue program's view of the connection: doc/environment.md. */
static void export(struct conn *c, const char *name, const char *value)
{
	envset_put(&c->vars, name, value);
}

/*
 * The RFC 3848 / RFC 6531 §3.7.3 protocol type, for Received: and
 * PROTOCOL: S under TLS, A once authenticated (AUTH needs EHLO).
 */
static void protocol(const struct conn *c, struct str *out)
{
	str_copys(out, c->esmtp != 2 ? "SMTP" : c->smtputf8 ? "UTF8SMTP" : "ESMTP");
	if (c->esmtp == 2 && c->tls)
		str_catc(out, 'S');
	if (c->esmtp == 2 && c->auth_user.len)
		str_catc(out, 'A');
}

static void export_protocol(struct conn *c)
{
	struct str p = STR_INIT;
	protocol(c, &p);
	export(c, "PROTOCOL", p.s);
	str_free(&p);
}

static int tls_offered(const struct conn *c)
{
	return !c->tls && c->tls_cert.len;
}

/* RFC 4954 §4 and RFC 3207: no passwords in the clear, unless -U says so */
static int auth_offered(const struct conn *c)
{
	return (c->mode.submission || c->checkpw) && (c->tls || c->mode.insecure_auth);
}

/* ---- the policy server (smtp-recv(8) POLICY) ---- */

/* the request, with Postfix's attribute names (SMTPD_POLICY_README) */
static void policy_request(struct conn *c, const char *state, const char *rcpt, struct policy_req *req)
{
	char count[24], size[24];
	snprintf(count, sizeof count, "%zu", c->env.nrcpt);
	snprintf(size, sizeof size, "%llu", c->mail_size);
	const char *host = c->remote_host.len ? c->remote_host.s : "unknown";
	const char *const attrs[][2] = {
		{ "request", "smtpd_access_policy" }, { "protocol_state", state },
		{ "protocol_name", c->esmtp == 2 ? "ESMTP" : "SMTP" }, { "client_address", c->remote_ip },
		{ "client_port", c->remote_port }, { "client_name", host }, { "reverse_client_name", host },
		{ "server_address", c->local_ip }, { "server_port", c->local_port }, { "helo_name", str_c(&c->helo) },
		{ "sender", c->in_mail && c->env.sender ? c->env.sender : "" }, { "recipient", rcpt ? rcpt : "" },
		{ "recipient_count", count }, { "queue_id", c->id }, { "instance", c->instance }, { "size", size },
		{ "sasl_method", c->auth_user.len ? c->auth_mech : "" }, { "sasl_username", str_c(&c->auth_user) },
		{ "sasl_sender", "" }, { "encryption_protocol", c->tls ? tlsio_version(c->tls) : "" },
		{ "encryption_cipher", c->tls ? tlsio_cipher(c->tls) : "" }, { "etrn_domain", "" }, { "stress", "" },
	};
	for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
		(void)policy_add(req, attrs[i][0], attrs[i][1]); /* no value here can hold a newline */
}

/*
 * Ask the policy server at this stage (when it is asked there).  own is
 * smtp-recv's own refusal, NULL to accept; returns the reply to send
 * instead of accepting (own, or the policy's), or NULL to go on.  A
 * failed server is a temporary refusal, never an accept.
 */
static const char *policy_check(struct conn *c, const char *state, const char *rcpt, const char *own,
				struct policy_effects *fx)
{
	str_copyb(&c->policy_action, "", 0);
	if (!policy_client_wants(&c->policy, state))
		return own;
	struct policy_req req = POLICY_REQ_INIT;
	struct str action = STR_INIT, why = STR_INIT;
	const char *out = own;
	policy_request(c, state, rcpt, &req);
	int r = policy_client_ask(&c->policy, &req, &action, &why);
	if (r == 0)
		r = policy_decide(action.s, own, fx, &c->policy_reply, &out, &why);
	if (r == 0 && !out)
		str_copyb(&c->policy_action, action.s, action.len);
	if (r < 0) {
		log_line("event=policy stage=%s id=%s result=failed reason=\"%s\"", state, c->id[0] ? c->id : "-",
			 str_c(&why));
		out = "451 4.3.0 Temporary policy failure, try again later";
	} else if (strncasecmp(action.s, "OK", 2) != 0 && strncasecmp(action.s, "DUNNO", 5) != 0) {
		for (size_t i = 0; i < action.len; i++) /* it goes between quotes */
			if (action.s[i] == '"' || (unsigned char)action.s[i] < 0x20)
				action.s[i] = '\'';
		log_line("event=policy stage=%s id=%s rcpt=<%s> action=\"%s\" result=%s", state,
			 c->id[0] ? c->id : "-", rcpt ? rcpt : "", action.s, out ? "refused" : "passed");
	}
	policy_req_free(&req);
	str_free(&action);
	str_free(&why);
	if (out && strncmp(out, "421", 3) == 0) {
		reply(c, "%s", out);
		finish(c, "policy-421");
	}
	return out;
}

/* RFC 5321 §3.1: refused at connect, 554 and only QUIT after; a deferral closes */
static void connect_refused(struct conn *c, const char *no)
{
	if (no[0] == '4') {
		reply(c, "421 %s", no + 4);
		finish(c, "policy");
	}
	reply(c, "554 %s", no + 4);
	c->refused = 1;
}

/* ---- commands ---- */

/* The EHLO keywords; STARTTLS and AUTH only when they can work. */
static void ehlo_keywords(struct conn *c)
{
	if (tls_offered(c))
		reply(c, "250-STARTTLS");
	if (auth_offered(c))
		reply(c, "250-AUTH PLAIN LOGIN");
	reply(c, "250-PIPELINING");
	reply(c, "250-SIZE %llu", c->lim.size);
	reply(c, "250-8BITMIME");
	reply(c, "250-ENHANCEDSTATUSCODES");
	reply(c, "250-SMTPUTF8");
	reply(c, "250 CHUNKING");
}

static void greet(struct conn *c, const char *arg, int esmtp)
{
	if (!*arg) {
		reply_error(c, "501 5.5.4 Syntax: %s hostname", esmtp == 2 ? "EHLO" : "HELO");
		return;
	}
	if (!smtp_helo_ok(arg)) {
		reply_error(c, "501 5.5.2 Invalid host name");
		return;
	}
	transaction_reset(c); /* RFC 5321 §4.1.4: EHLO also resets */
	str_copys(&c->helo, arg);
	c->esmtp = esmtp;
	/* policy: HELO stage */
	policy_effects_clear(&c->helo_fx);
	const char *no = policy_check(c, esmtp == 2 ? "EHLO" : "HELO", NULL, NULL, &c->helo_fx);
	if (no) {
		c->helo.len = 0;
		c->esmtp = 0;
		export(c, "HELO", NULL);
		reply_error(c, "%s", no);
		return;
	}
	str_copyb(&c->helo_action, str_c(&c->policy_action), c->policy_action.len);
	export(c, "HELO", c->helo.s);
	export_protocol(c);
	log_line("event=helo remote=%s helo=%s protocol=%s", c->remote_ip, c->helo.s, env_get("PROTOCOL"));
	if (esmtp == 2) {
		reply(c, "250-%s", c->me.s);
		ehlo_keywords(c);
	} else
		reply(c, "250 %s", c->me.s);
}

static void cmd_ehlo(struct conn *c, const char *arg) { greet(c, arg, 2); }
static void cmd_helo(struct conn *c, const char *arg) { greet(c, arg, 1); }

/*
 * auth-sender "own": the sender is the user name itself, or listed for the
 * user in the table "senders" (addresses, or @domain for a whole domain).
 */
static int sender_owned(struct conn *c, const struct addr *a, const char *sender)
{
	if (strcasecmp(sender, c->auth_user.s) == 0)
		return 1;
	struct str key = STR_INIT, list = STR_INIT;
	str_copyb(&key, c->auth_user.s, c->auth_user.len);
	str_lower(&key);
	int r = table_lookup("senders", key.s, &list), owned = 0;
	if (r < 0)
		log_line("event=config problem=\"unable to read table senders: %s\"", strerror(errno));
	char *save = NULL;
	for (char *tok = r > 0 ? strtok_r(list.s, " ,\t", &save) : NULL; tok && !owned;
	     tok = strtok_r(NULL, " ,\t", &save))
		owned = tok[0] == '@' ? a->domain.len && strcasecmp(tok + 1, a->domain.s) == 0
				      : strcasecmp(tok, sender) == 0;
	str_free(&key);
	str_free(&list);
	return owned;
}

static void cmd_mail(struct conn *c, const char *arg)
{
	if (!c->esmtp) {
		reply_error(c, "503 5.5.1 Send EHLO or HELO first");
		return;
	}
	if (c->mode.submission && !c->auth_user.len) {
		/* RFC 6409 §4.3, RFC 3207 §4, RFC 4954 §6 */
		if (!auth_offered(c) && tls_offered(c))
			reply_error(c, "530 5.7.0 Must issue a STARTTLS command first");
		else
			reply_error(c, "530 5.7.0 Authentication required");
		return;
	}
	if (c->in_mail) {
		reply_error(c, "503 5.5.1 Nested MAIL command");
		return;
	}
	const char *p = smtp_path_start(arg, "FROM:");
	if (!p) {
		reply_error(c, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	struct addr a;
	addr_init(&a);
	size_t used = addr_parse_path(p, strlen(p), ADDR_EMPTY_OK | ADDR_UTF8_OK, &a);
	if (!used) {
		reply_error(c, "501 5.1.7 Bad sender address syntax");
		addr_free(&a);
		return;
	}
	/* parameters (RFC 5321 §4.1.1.11): SIZE, BODY, SMTPUTF8 */
	int utf8;
	unsigned long long declared;
	const char *bad = smtp_mail_params(p + used, c->esmtp == 2, c->lim.size, &utf8, &declared);
	if (!bad && a.utf8 && !utf8)
		bad = "553 5.6.7 Non-ASCII address requires SMTPUTF8";
	if (bad) {
		reply_error(c, "%s", bad);
		addr_free(&a);
		return;
	}
	struct str from = STR_INIT;
	addr_format(&a, &from);
	if (c->auth_user.len && c->own_sender && !sender_owned(c, &a, str_c(&from))) {
		log_line("event=mail from=<%s> user=%s result=rejected reason=sender-not-owned", str_c(&from),
			 c->auth_user.s);
		reply_error(c, "553 5.7.1 Sender address not owned by the authenticated user");
		str_free(&from);
		addr_free(&a);
		return;
	}
	addr_free(&a);
	do /* two transactions in one microsecond must not share an id */
		qid_make(c->id);
	while (strcmp(c->id, c->last_id) == 0);
	memcpy(c->last_id, c->id, QID_SIZE);
	c->in_mail = 1;
	c->smtputf8 = utf8;
	c->mail_size = declared;
	envelope_set_sender(&c->env, str_c(&from));
	/* policy: MAIL stage */
	policy_effects_add(&c->msg_fx, &c->conn_fx);
	policy_effects_add(&c->msg_fx, &c->helo_fx);
	const char *no = policy_check(c, "MAIL", NULL, NULL, &c->msg_fx);
	if (no) {
		transaction_reset(c);
		reply_error(c, "%s", no);
		str_free(&from);
		return;
	}
	log_line("event=mail id=%s from=<%s>", c->id, str_c(&from));
	str_free(&from);
	reply(c, "250 2.1.0 Ok");
}

static int has_any(const struct str *s, const char *set)
{
	for (size_t i = 0; i < s->len; i++)
		if (strchr(set, s->s[i]))
			return 1;
	return 0;
}

/* where postmaster without a domain goes: the first plain locals entry, else me */
static const char *postmaster_domain(const struct conn *c)
{
	for (size_t i = 0; i < c->locals.n; i++)
		if (c->locals.item[i][0] != '.')
			return c->locals.item[i];
	return c->me.s;
}

/*
 * The recipient decision, all of it in one place.  Returns NULL to accept
 * or the reply; *why is the reason for the log.  Relay control is safe
 * with no configuration: only RELAYCLIENT and authenticated clients
 * may send anywhere; everyone else only to locals and rcpthosts, and not
 * by the routing tricks that could make one of those forward elsewhere.
 *
 * Recipients in locals are looked up with deliver-local's own resolution
 * (lib/local.c), for every client, so nothing is accepted only to bounce.
 *
 * The policy server is asked after it (cmd_rcpt) and may defer or refuse
 * more, never accept what is refused here.
 */
static const char *relay_check(struct conn *c, const struct addr *a, const char **why);

static const char *rcpt_check(struct conn *c, const struct addr *a, const char **why)
{
	if (a->domain.len == 0 && strcasecmp(a->local.s, "postmaster") == 0)
		return NULL; /* RFC 5321 §4.5.1 */
	if (a->domain.len == 0) {
		*why = "unqualified";
		return "550 5.1.3 Recipient address must include a domain";
	}
	if (!c->relay && !c->auth_user.len) {
		const char *refused = relay_check(c, a, why);
		if (refused)
			return refused;
	}
	if (!conf_domain_match(&c->locals, a->domain.s) || strcasecmp(a->local.s, "postmaster") == 0)
		return NULL; /* postmaster@ a local domain: always (RFC 5321 §4.5.1) */
	struct str addr = STR_INIT, text = STR_INIT;
	addr_format(a, &addr);
	int found = local_rcpt_check_conf(addr.s, &c->locals, &c->limits, &text);
	str_free(&addr);
	const char *refused = NULL;
	str_copys(&c->rcpt_reply, "");
	switch (found) {
	case LOCAL_FOUND:
		break;
	case LOCAL_UNKNOWN:
		*why = "unknown-user";
		refused = "550 5.1.1 No such user here";
		break;
	case LOCAL_PERM:
		*why = "bad-local-destination";
		str_catf(&c->rcpt_reply, "550 %s", text.len ? text.s : "5.1.1 Recipient unavailable");
		refused = c->rcpt_reply.s;
		break;
	default:
		*why = "lookup-failed";
		refused = "451 4.3.0 Temporary failure looking up the recipient, try again later";
	}
	str_free(&text);
	return refused;
}

/* the recipient limits for a client that may not relay */
static const char *relay_check(struct conn *c, const struct addr *a, const char **why)
{
	if (a->routed) {
		*why = "source-route";
		return "554 5.7.1 Source routes are not accepted";
	}
	if (a->literal) {
		*why = "address-literal";
		return "554 5.7.1 Address literals are not accepted";
	}
	if (has_any(&a->local, "%!@")) {
		/* percent hack, bang path, quoted "user@elsewhere" */
		*why = "routing-in-local-part";
		return "554 5.7.1 Relaying by %, ! or @ in the local part is not accepted";
	}
	if (!conf_domain_match(&c->locals, a->domain.s) && !conf_domain_match(&c->rcpthosts, a->domain.s)) {
		*why = "relay-denied";
		return "554 5.7.1 Relay access denied";
	}
	return NULL;
}

static void cmd_rcpt(struct conn *c, const char *arg)
{
	if (!c->in_mail) {
		reply_error(c, "503 5.5.1 Need MAIL command");
		return;
	}
	const char *p = smtp_path_start(arg, "TO:");
	if (!p) {
		reply_error(c, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	struct addr a;
	addr_init(&a);
	unsigned flags = ADDR_UNQUALIFIED_OK | (c->smtputf8 ? ADDR_UTF8_OK : 0);
	size_t used = addr_parse_path(p, strlen(p), flags, &a);
	if (!used) {
		reply_error(c, "501 5.1.3 Bad recipient address syntax");
		addr_free(&a);
		return;
	}
	if (p[used]) {
		reply_error(c, "555 5.5.4 Unsupported RCPT parameter");
		addr_free(&a);
		return;
	}
	struct str to = STR_INIT;
	addr_format(&a, &to);
	if (c->env.nrcpt >= c->lim.rcpts) {
		log_line("event=rcpt id=%s rcpt=<%s> result=rejected reason=too-many", c->id, to.s);
		reply(c, "452 4.5.3 Too many recipients");
		goto out;
	}
	const char *why = "";
	const char *own = rcpt_check(c, &a, &why);
	/* policy: RCPT stage; what it asks for the message counts only with the recipient */
	struct policy_effects fx = POLICY_EFFECTS_INIT;
	const char *refused = policy_check(c, "RCPT", to.s, own, &fx);
	if (!refused)
		policy_effects_add(&c->msg_fx, &fx);
	policy_effects_free(&fx);
	if (refused != own)
		why = "policy";
	if (refused) {
		log_line("event=rcpt id=%s rcpt=<%s> result=rejected reason=%s", c->id, to.s, why);
		reply_error(c, "%s", refused);
		goto out;
	}
	if (a.domain.len == 0)
		str_catf(&to, "@%s", postmaster_domain(c));
	envelope_add_rcpt(&c->env, to.s);
	c->rcpts++;
	log_line("event=rcpt id=%s rcpt=<%s> result=accepted", c->id, to.s);
	reply(c, "250 2.1.5 Ok");
out:
	str_free(&to);
	addr_free(&a);
}

/* ---- the message ---- */

/* RFC 5321 §4.4 trace header, the first thing the queue program reads */
static void received_header(struct conn *c, struct str *out)
{
	struct str with = STR_INIT;
	protocol(c, &with);
	str_catf(out, "Received: from %s", c->helo.s);
	if (c->remote_ip[0]) {
		str_cats(out, " (");
		if (c->remote_host.len)
			str_catf(out, "%s ", c->remote_host.s);
		str_catf(out, "[%s%s])", strchr(c->remote_ip, ':') ? "IPv6:" : "", c->remote_ip);
	}
	if (c->tls)
		str_catf(out, "\n\t(using %s with cipher %s)", tlsio_version(c->tls), tlsio_cipher(c->tls));
	str_catf(out, "\n\tby %s (sluice) with %s id %s", c->me.s, with.s, c->id);
	str_free(&with);
	if (c->env.nrcpt == 1)
		str_catf(out, "\n\tfor <%s>; ", c->env.rcpt[0]);
	else
		str_cats(out, ";\n\t");
	date_rfc5322(time(NULL), out);
	str_catc(out, '\n');
}

/* RFC 6409 §8.2, §8.3: a submitted message without Date: or Message-ID: gets them */
static void submission_fixes(void *arg, unsigned seen, struct str *out)
{
	struct conn *c = arg;
	if (!(seen & SD_SEEN_DATE)) {
		str_cats(out, "Date: ");
		date_rfc5322(time(NULL), out);
		str_catc(out, '\n');
	}
	if (!(seen & SD_SEEN_MESSAGE_ID))
		str_catf(out, "Message-ID: <%s@%s>\n", c->id, c->me.s);
}

/* start the queue program for this message; 0, or -1 after replying 451 */
static int message_start(struct conn *c, int bdat)
{
	char **argv = chain_argv();
	if (!argv) {
		log_line("event=reject id=%s reason=\"unable to read conf chain: %s\"", c->id, strerror(errno));
		reply(c, "451 4.3.0 Configuration unreadable, try again later");
		return -1;
	}
	export(c, "QUEUE_ID", c->id);
	export_protocol(c); /* SMTPUTF8 is per message */
	/* a held message: queue-inject commits it to quarantine/NAME, never to new/ */
	export(c, "QUEUE_QUARANTINE", c->msg_fx.hold.len ? c->msg_fx.hold.s : NULL);
	int r = chain_start(&c->chain, argv, (int)c->lim.queue_timeout * 1000);
	if (r < 0)
		log_line("event=reject id=%s reason=\"unable to run %s: %s\"", c->id, argv[0], strerror(errno));
	child_argv_free(argv);
	if (r < 0) {
		reply(c, "451 4.3.0 Unable to start the queue program, try again later");
		return -1;
	}
	c->chain_running = 1;
	smtp_data_init(&c->data, bdat, c->lim.textline, c->lim.size, c->lim.received);
	if (c->mode.submission) {
		c->data.header_end = submission_fixes;
		c->data.header_end_arg = c;
	}
	c->pending.len = 0;
	c->chain_hung = 0;
	received_header(c, &c->pending);
	/* Postfix's PREPEND: after our Received:, as if the client had sent it */
	str_catb(&c->pending, c->msg_fx.prepend.len ? c->msg_fx.prepend.s : "", c->msg_fx.prepend.len);
	return 0;
}

static void pending_write(struct conn *c)
{
	if (c->pending.len && !c->chain_hung && !c->data.flags &&
	    chain_write(&c->chain, c->pending.s, c->pending.len) < 0)
		c->chain_hung = 1;
	c->pending.len = 0;
}

/*
 * The reply for an exit 82: fd 6 text "D..." (permanent) or "Z..."
 * (temporary), as notqmail's custom error.  The text may start with a
 * reply code of the right class ("D550 5.7.1 ...", as smtp-filter writes)
 * and with an enhanced code of that class; missing ones are filled in.
 */
static void custom_reply(struct conn *c, struct str *text)
{
	char kind = text->len ? text->s[0] : 0;
	if (kind != 'D' && kind != 'Z') {
		reply(c, "451 4.3.0 Temporary queue failure, try again later");
		return;
	}
	struct str t = STR_INIT;
	for (size_t i = 1; i < text->len && text->s[i] != '\n' && text->s[i] != '\r' && text->s[i] != '\0'; i++) {
		unsigned char ch = (unsigned char)text->s[i];
		str_catc(&t, ch >= 0x20 && ch < 0x7f ? (char)ch : '?');
	}
	char cls = kind == 'D' ? '5' : '4';
	char code[4];
	memcpy(code, kind == 'D' ? "554" : "451", sizeof code);
	const char *rest = str_c(&t);
	/* 421 would claim the connection closes, which it does not */
	if (t.len >= 4 && rest[0] == cls && isdigit((unsigned char)rest[1]) && isdigit((unsigned char)rest[2]) &&
	    rest[3] == ' ' && strncmp(rest, "421", 3) != 0) {
		memcpy(code, rest, 3);
		rest += 4;
	}
	/* keep the filter's enhanced code when it is one of the right class */
	int has_enh = rest[0] == cls && rest[1] == '.' && strchr(rest, ' ');
	if (!*rest)
		rest = kind == 'D' ? "Message refused" : "Message deferred, try again later";
	if (has_enh)
		reply(c, "%s %s", code, rest);
	else
		reply(c, "%s %c.3.0 %s", code, cls, rest);
	str_free(&t);
}

/* give up on the message being written: nothing is queued */
static void message_drop(struct conn *c)
{
	chain_abort(&c->chain);
	c->chain_running = 0;
	transaction_reset(c);
}

/*
 * The policy at the end of the message, and the envelope changes asked so
 * far (DISCARD, REDIRECT, BCC).  0 to queue; -1 when the message was
 * refused or discarded, replied to, and dropped.  HOLD and PREPEND come too
 * late here (the message is on its way): such a message is deferred, as
 * letting it out unheld could be worse.
 */
static int message_policy(struct conn *c)
{
	struct policy_effects eom = POLICY_EFFECTS_INIT;
	c->mail_size = c->data.size;
	/* policy: END-OF-MESSAGE stage */
	const char *no = policy_check(c, "END-OF-MESSAGE", NULL, NULL, &eom);
	if (!no && (eom.hold.len || eom.prepend.len)) {
		log_line("event=policy stage=END-OF-MESSAGE id=%s result=failed reason=\"HOLD and PREPEND work only up to DATA\"", c->id);
		no = "451 4.3.0 Temporary policy failure, try again later";
	}
	policy_effects_add(&c->msg_fx, &eom);
	policy_effects_free(&eom);
	struct policy_effects *fx = &c->msg_fx;
	if (no || fx->discard) {
		if (no)
			log_line("event=reject id=%s stage=end-of-message reason=policy", c->id);
		else
			log_line("event=discarded id=%s from=<%s> rcpts=%zu size=%llu", c->id, c->env.sender,
				 c->env.nrcpt, c->data.size);
		if (no)
			reply(c, "%s", no);
		else /* DISCARD: the client must not learn of it */
			reply(c, "250 2.0.0 Ok: queued as %s", c->id);
		message_drop(c);
		return -1;
	}
	if (fx->redirect.len) {
		for (size_t i = 0; i < c->env.nrcpt; i++)
			free(c->env.rcpt[i]);
		c->env.nrcpt = 0;
		envelope_add_rcpt(&c->env, fx->redirect.s);
		log_line("event=redirected id=%s to=<%s>", c->id, fx->redirect.s);
	}
	for (char *p = fx->bcc.len ? fx->bcc.s : NULL, *nl; p && (nl = strchr(p, '\n')); p = nl + 1) {
		*nl = '\0';
		size_t i = 0;
		while (i < c->env.nrcpt && strcasecmp(c->env.rcpt[i], p) != 0)
			i++;
		if (i < c->env.nrcpt)
			continue; /* a recipient already: one copy is enough */
		envelope_add_rcpt(&c->env, p);
		log_line("event=bcc id=%s to=<%s>", c->id, p);
	}
	fx->bcc.len = 0;
	if (fx->hold.len)
		log_line("event=held id=%s quarantine=%s", c->id, fx->hold.s);
	return 0;
}

/* the message is all here: queue it, or refuse it; then a fresh transaction */
static void message_end(struct conn *c)
{
	unsigned f = c->data.flags;
	const char *refused = NULL, *why = NULL;
	if (f & SD_ERR_BARE)
		refused = "550 5.6.11 Bare CR or LF in message; lines must end with CRLF", why = "bare-cr-lf";
	else if (f & SD_ERR_NUL)
		refused = "550 5.6.0 NUL octet in message", why = "nul";
	else if (f & SD_ERR_SIZE)
		refused = "552 5.3.4 Message size exceeds the fixed limit", why = "size";
	else if (f & SD_ERR_LINE)
		refused = "550 5.6.0 Line too long", why = "line-length";
	else if (f & SD_ERR_RECEIVED)
		refused = "554 5.4.6 Too many Received headers: mail loop", why = "loop";
	if (refused || c->chain_hung) {
		chain_abort(&c->chain);
		c->chain_running = 0;
		if (refused) {
			log_line("event=reject id=%s stage=data reason=%s size=%llu", c->id, why, c->data.size);
			reply(c, "%s", refused);
		} else {
			log_line("event=reject id=%s stage=data reason=queue-timeout", c->id);
			reply(c, "451 4.3.0 Temporary queue failure, try again later");
		}
		transaction_reset(c);
		return;
	}
	pending_write(c);
	if (message_policy(c) < 0)
		return;
	struct str custom = STR_INIT;
	int code = chain_finish(&c->chain, &c->env, &custom);
	c->chain_running = 0;
	if (code == 0) {
		c->messages++;
		log_line("event=queued id=%s size=%llu rcpts=%zu", c->id, c->data.size, c->env.nrcpt);
		reply(c, "250 2.0.0 Ok: queued as %s", c->id);
	} else {
		if (code == CHAIN_UNSTARTED && c->chain.start_errno)
			log_line("event=reject id=%s stage=queue reason=\"unable to run the queue program: %s\"", c->id,
				 strerror(c->chain.start_errno));
		else
			log_line("event=reject id=%s stage=queue exit=%d", c->id, code);
		if (code == 82)
			custom_reply(c, &custom);
		else if (code == 31)
			reply(c, "554 5.7.1 Message refused by a filter");
		else if (code >= 11 && code <= 40)
			reply(c, "554 5.3.0 Message refused by the queue (#%d)", code);
		else if (code == 53) /* write error or disk full: RFC 3463 4.3.1 */
			reply(c, "452 4.3.1 Insufficient system storage, try again later (#53)");
		else
			reply(c, "451 4.3.0 Temporary queue failure, try again later (#%d)", code);
	}
	str_free(&custom);
	transaction_reset(c);
}

static void transaction_reset(struct conn *c)
{
	if (c->chain_running)
		chain_abort(&c->chain);
	c->chain_running = 0;
	c->chunking = 0;
	c->in_mail = 0;
	c->smtputf8 = 0;
	c->id[0] = '\0';
	envelope_free(&c->env);
	c->pending.len = 0;
	c->mail_size = 0;
	policy_effects_clear(&c->msg_fx);
}

/* why DATA or BDAT cannot start now, or NULL */
static const char *data_refusal(const struct conn *c)
{
	if (!c->in_mail)
		return "503 5.5.1 Need MAIL command";
	if (c->env.nrcpt == 0)
		return "554 5.5.1 No valid recipients";
	return NULL;
}

static void cmd_data(struct conn *c, const char *arg)
{
	const char *no = *arg ? "501 5.5.4 Syntax: DATA" : data_refusal(c);
	if (!no && c->chunking)
		no = "503 5.5.1 DATA after BDAT";
	if (no) {
		reply_error(c, "%s", no);
		return;
	}
	/* policy: DATA stage */
	const char *refused = policy_check(c, "DATA", NULL, NULL, &c->msg_fx);
	if (refused) {
		reply_error(c, "%s", refused);
		return;
	}
	if (message_start(c, 0) < 0) {
		transaction_reset(c);
		return;
	}
	reply(c, "354 End data with <CR><LF>.<CR><LF>");
	for (;;) {
		if (bio_buffered(&c->in) == 0) {
			pending_write(c);
			fill(c); /* a client gone midway: finish() aborts, nothing is queued */
		}
		int done;
		size_t used = smtp_data_feed(&c->data, bio_peek(&c->in), bio_buffered(&c->in), &c->pending, &done);
		bio_skip(&c->in, used);
		if (c->pending.len >= CHAIN_BLOCK)
			pending_write(c);
		if (done)
			break;
	}
	message_end(c);
}

/* read and drop n octets of a refused chunk, so they are never taken as commands */
static void discard(struct conn *c, unsigned long long n)
{
	while (n) {
		if (bio_buffered(&c->in) == 0)
			fill(c);
		size_t take = bio_buffered(&c->in);
		if (take > n)
			take = (size_t)n;
		bio_skip(&c->in, take);
		n -= take;
	}
}

static void cmd_bdat(struct conn *c, const char *arg)
{
	unsigned long long n;
	int last;
	if (smtp_bdat_args(arg, &n, &last) < 0) {
		/* without a size the chunk's end is unknown: its octets would be read as commands */
		reply(c, "421 4.5.4 %s Syntax: BDAT size [LAST], closing connection", c->me.s);
		finish(c, "bad-bdat");
	}
	const char *no = data_refusal(c);
	if (no) {
		discard(c, n);
		reply_error(c, "%s", no);
		return;
	}
	if (!c->chunking) {
		/* policy: DATA stage (BDAT's first chunk) */
		const char *refused = policy_check(c, "DATA", NULL, NULL, &c->msg_fx);
		if (refused) {
			discard(c, n);
			reply_error(c, "%s", refused);
			transaction_reset(c);
			return;
		}
		if (message_start(c, 1) < 0) {
			discard(c, n);
			transaction_reset(c);
			return;
		}
		c->chunking = 1;
	}
	unsigned long long left = n;
	while (left) {
		if (bio_buffered(&c->in) == 0) {
			pending_write(c);
			fill(c);
		}
		size_t take = bio_buffered(&c->in);
		if (take > left)
			take = (size_t)left;
		int done;
		smtp_data_feed(&c->data, bio_peek(&c->in), take, &c->pending, &done);
		bio_skip(&c->in, take);
		left -= take;
		if (c->pending.len >= CHAIN_BLOCK)
			pending_write(c);
	}
	if (last)
		smtp_data_finish(&c->data, &c->pending);
	if (last || c->data.flags || c->chain_hung) {
		message_end(c); /* RFC 3030: a failed chunk fails the transaction */
		return;
	}
	reply(c, "250 2.0.0 %llu octets received", n);
}

static void cmd_rset(struct conn *c, const char *arg)
{
	(void)arg;
	transaction_reset(c);
	reply(c, "250 2.0.0 Ok");
}

static void cmd_noop(struct conn *c, const char *arg)
{
	(void)arg;
	reply(c, "250 2.0.0 Ok");
}

static void cmd_vrfy(struct conn *c, const char *arg)
{
	struct policy_effects none = POLICY_EFFECTS_INIT; /* no message to apply them to */
	const char *no;
	if (!*arg)
		reply_error(c, "501 5.5.4 Syntax: VRFY address");
	else if ((no = policy_check(c, "VRFY", arg, NULL, &none))) /* policy: VRFY stage */
		reply_error(c, "%s", no);
	else
		reply(c, "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery");
	policy_effects_free(&none);
}

static void cmd_help(struct conn *c, const char *arg)
{
	(void)arg;
	reply(c, "214 2.0.0 Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP");
}

/* ---- TLS ---- */

/*
 * Load the certificate and key: afresh for every connection, so a renewed
 * certificate needs no restart.  0, or -1 with the reason logged.
 */
static int tls_load(struct conn *c)
{
	if (!c->tls_cert.len) {
		log_line("event=tls result=unavailable reason=\"no tls-cert and tls-key configured\"");
		return -1;
	}
	struct str err = STR_INIT;
	c->tls_server = tlsio_server_new(c->tls_cert.s, c->tls_key.s,
					 c->tls_protocols.len ? c->tls_protocols.s : NULL,
					 c->tls_ciphers.len ? c->tls_ciphers.s : NULL, &err);
	if (!c->tls_server)
		log_line("event=tls result=unavailable reason=\"%s\"", str_c(&err));
	str_free(&err);
	return c->tls_server ? 0 : -1;
}

/* shake hands on fd 0/1; 0, or -1 (logged) and the connection is unusable */
static int tls_handshake(struct conn *c)
{
	struct str err = STR_INIT;
	/* CVE-2011-0411: nothing sent in the clear may count as sent under TLS */
	size_t dropped = bio_buffered(&c->in);
	bio_drop(&c->in);
	c->tls = tlsio_accept(c->tls_server, 0, 1, (int)c->lim.timeout * 1000, &err);
	if (!c->tls) {
		log_line("event=tls result=failed reason=\"%s\"", str_c(&err));
		str_free(&err);
		return -1;
	}
	tlsio_attach(c->tls, &c->in, &c->out);
	export(c, "TLS_VERSION", tlsio_version(c->tls));
	export(c, "TLS_CIPHER", tlsio_cipher(c->tls));
	log_line("event=tls result=ok version=%s cipher=%s dropped=%zu", tlsio_version(c->tls),
		 tlsio_cipher(c->tls), dropped);
	str_free(&err);
	return 0;
}

/* RFC 3207 §4.2: after the handshake the client starts afresh with EHLO */
static void session_reset(struct conn *c)
{
	transaction_reset(c);
	c->esmtp = 0;
	c->helo.len = 0;
	c->auth_user.len = 0;
	export(c, "HELO", NULL);
	export(c, "PROTOCOL", NULL);
	export(c, "AUTH_USER", NULL);
}

/*
 * STARTTLS where TLS is linked in: 454 and the session goes on in plain
 * text, or 220 and the handshake, after which the client starts afresh
 */
static void starttls(struct conn *c)
{
	if (tls_load(c) < 0) {
		reply_error(c, "454 4.7.0 TLS not available due to temporary reason");
		return;
	}
	/* the reply goes out in the clear, before libtls owns the fds */
	reply(c, "220 2.0.0 Ready to start TLS");
	flush(c);
	if (tls_handshake(c) < 0)
		finish(c, "tls-failed"); /* mid-handshake: no SMTP can follow */
	session_reset(c);
}

/* ---- the TLS image, smtp-recv-tls (smtp-recv(8) FILES) ---- */

#define TLS_IMAGE "smtp-recv-tls"

/*
 * What crosses the exec at STARTTLS, all in the environment (the client's
 * octets never show in ps), read and checked by handover_take.  The
 * CONNECT stage, the greeting and the connect log are done; what is left
 * is what a 454 must not lose: the greeting (HELO and its kind), the error
 * counters, the policy session and what its CONNECT and HELO answers asked
 * for, and the input pipelined after STARTTLS (dropped under TLS, as ever;
 * read after a 454).  The environment is the one smtp-recv was given,
 * plus these; smtp-recv-tls trusts them no more than that.
 */
static const char *const handover_vars[] = { "SMTP_RECV_STARTTLS", "SMTP_RECV_PENDING",
					     "SMTP_RECV_CONNECT_ACTION", "SMTP_RECV_HELO_ACTION" };

/* the hand-over variables gone: never passed on to the queue program or a retry */
static void handover_forget(struct conn *c)
{
	for (size_t i = 0; i < sizeof handover_vars / sizeof handover_vars[0]; i++)
		export(c, handover_vars[i], NULL);
}

/* smtp-recv-tls is installed beside smtp-recv: the directory of /proc/self/exe */
static int tls_image(struct str *path)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self);
	if (n < 0)
		return -1;
	const char *slash = memrchr(self, '/', (size_t)n);
	if ((size_t)n >= sizeof self || !slash) {
		errno = ENAMETOOLONG;
		return -1;
	}
	str_copyb(path, self, (size_t)(slash + 1 - self));
	str_cats(path, TLS_IMAGE);
	return 0;
}

/*
 * exec smtp-recv-tls with this instance's options and -t (implicit TLS)
 * or -S (the STARTTLS hand-over); returns only on failure, with why set
 */
static void exec_tls_image(const struct conn *c, const char *how, struct str *why)
{
	struct str path = STR_INIT;
	if (tls_image(&path) < 0) {
		str_catf(why, "unable to find %s: %s", TLS_IMAGE, strerror(errno));
		return;
	}
	char *argv[5];
	size_t n = 0;
	argv[n++] = TLS_IMAGE;
	argv[n++] = (char *)how;
	if (c->mode.submission)
		argv[n++] = "-s";
	if (c->mode.insecure_auth)
		argv[n++] = "-U";
	argv[n] = NULL;
	execv(path.s, argv);
	str_catf(why, "unable to run %s: %s", path.s, strerror(errno));
	str_free(&path);
}

/* STARTTLS without TLS linked in: on to smtp-recv-tls; back only if that failed (logged) */
static void tls_handover(struct conn *c)
{
	struct str v = STR_INIT, why = STR_INIT;
	if (policy_client_inherit(&c->policy, 1, &v) < 0) {
		(void)policy_client_inherit(&c->policy, 0, NULL);
		log_line("event=tls result=unavailable reason=\"unable to pass on the policy connection: %s\"",
			 strerror(errno));
		str_free(&v);
		return;
	}
	struct str state = STR_INIT;
	str_catf(&state, "%s %d %lu %lu %lu %lu %s", c->instance, c->esmtp, c->errors, c->auth_failures,
		 c->messages, c->rcpts, v.s);
	export(c, "SMTP_RECV_STARTTLS", state.s);
	str_copyb(&v, "", 0);
	base64_encode(bio_peek(&c->in), bio_buffered(&c->in), &v);
	export(c, "SMTP_RECV_PENDING", str_c(&v));
	export(c, "SMTP_RECV_CONNECT_ACTION", str_c(&c->conn_action));
	export(c, "SMTP_RECV_HELO_ACTION", str_c(&c->helo_action));
	flush(c); /* replies to what came before STARTTLS */
	exec_tls_image(c, "-S", &why);
	(void)policy_client_inherit(&c->policy, 0, NULL);
	handover_forget(c);
	log_line("event=tls result=unavailable reason=\"%s\"", why.s);
	str_free(&state);
	str_free(&v);
	str_free(&why);
}

static void cmd_starttls(struct conn *c, const char *arg)
{
	if (*arg) {
		reply_error(c, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	if (c->tls) {
		reply_error(c, "503 5.5.1 TLS already active");
		return;
	}
	if (!c->tls_cert.len) {
		reply_error(c, "502 5.5.1 STARTTLS not available");
		return;
	}
	/*
	 * A transaction under way ends here, and an authentication (only
	 * possible in the clear with -U) is forgotten, whatever the answer:
	 * after the handshake RFC 3207 4.2 discards them, and smtp-recv-tls,
	 * which may answer 454, is handed neither.
	 */
	transaction_reset(c);
	c->auth_user.len = 0;
	export(c, "AUTH_USER", NULL);
	if (!tlsio_available()) {
		tls_handover(c);
		reply_error(c, "454 4.7.0 TLS not available due to temporary reason");
		return;
	}
	starttls(c);
}

/* a policy action handed over: applied again, as it was the first time */
static int handover_action(struct conn *c, const char *name, struct policy_effects *fx, struct str *keep)
{
	const char *a = env_get(name), *out = NULL;
	struct str why = STR_INIT;
	if (!a || !*a)
		return 0;
	int ok = strlen(a) < POLICY_LINE_MAX && policy_decide(a, NULL, fx, &c->policy_reply, &out, &why) == 0 && !out;
	str_free(&why);
	str_copys(keep, a);
	return ok ? 0 : -1;
}

/* the session state smtp-recv handed over (tls_handover); NULL, or what is wrong with it */
static const char *handover_parse(struct conn *c, struct str *policy_spec)
{
	const char *st = env_get("SMTP_RECV_STARTTLS");
	char buf[160], *f[8], *save = NULL;
	size_t n = 0;
	if (!st || strlen(st) >= sizeof buf)
		return "SMTP_RECV_STARTTLS missing or too long";
	memcpy(buf, st, strlen(st) + 1);
	for (char *t = strtok_r(buf, " ", &save); t && n < 8; t = strtok_r(NULL, " ", &save))
		f[n++] = t;
	unsigned long long v[5];
	if (n != 7 || !qid_valid(f[0]) || strlen(f[0]) != QID_LEN || strlen(f[6]) > 40)
		return "SMTP_RECV_STARTTLS malformed";
	for (size_t i = 0; i < 5; i++)
		if (!scan_ull(f[1 + i], strlen(f[1 + i]), &v[i]) || v[i] > ULONG_MAX)
			return "SMTP_RECV_STARTTLS malformed";
	if (v[0] > 2 || v[1] >= c->lim.errors || v[2] >= c->lim.auth_failures)
		return "SMTP_RECV_STARTTLS out of range";
	memcpy(c->instance, f[0], QID_SIZE);
	c->esmtp = (int)v[0];
	c->errors = (unsigned long)v[1];
	c->auth_failures = (unsigned long)v[2];
	c->messages = (unsigned long)v[3];
	c->rcpts = (unsigned long)v[4];
	str_copys(policy_spec, f[6]);
	const char *helo = env_get("HELO");
	if (c->esmtp) {
		if (!helo || strlen(helo) + 7 > c->lim.cmdline || !smtp_helo_ok(helo))
			return "HELO missing or invalid";
		str_copys(&c->helo, helo);
	}
	const char *pending = env_get("SMTP_RECV_PENDING");
	if (pending && *pending) {
		struct str raw = STR_INIT;
		size_t len = strlen(pending);
		int ok = len <= (c->in.cap + 2) / 3 * 4 && base64_decode(pending, len, &raw) &&
			 bio_preload(&c->in, raw.s, raw.len) == 0;
		str_free(&raw);
		if (!ok)
			return "SMTP_RECV_PENDING invalid or too long";
	}
	if (handover_action(c, "SMTP_RECV_CONNECT_ACTION", &c->conn_fx, &c->conn_action) < 0 ||
	    handover_action(c, "SMTP_RECV_HELO_ACTION", &c->helo_fx, &c->helo_action) < 0)
		return "policy action invalid";
	return NULL;
}

/* a hand-over smtp-recv-tls will not take: the client hears 421 */
static void __attribute__((noreturn)) handover_refused(const char *why)
{
	log_line("event=tls result=failed reason=\"STARTTLS hand-over refused: %s\"", why);
	static const char msg[] = "421 4.3.0 Temporary failure, try again later\r\n";
	(void)fd_write_all(1, msg, sizeof msg - 1);
	_exit(EXIT_USAGE);
}

/* smtp-recv-tls -S: take the session over (or refuse to); main forgets the variables */
static void handover_take(struct conn *c, struct str *policy_spec)
{
	const char *bad = handover_parse(c, policy_spec);
	if (bad)
		handover_refused(bad);
}

/* ---- AUTH (RFC 4954) ---- */

static const char *read_line(struct conn *c, struct str *line, size_t max);

/*
 * One client response in an AUTH exchange, decoded.  1 ok; 0 after the
 * refusal was sent (cancelled, too long, not base64).
 */
static int auth_response(struct conn *c, const char *challenge, struct str *line, struct str *out)
{
	reply(c, "334 %s", challenge);
	const char *bad = read_line(c, line, AUTH_LINE_MAX);
	if (bad) {
		reply_error(c, "500 5.5.6 Authentication exchange line is too long or malformed");
		return 0;
	}
	if (line->len == 1 && line->s[0] == '*') {
		reply_error(c, "501 5.7.0 Authentication cancelled");
		return 0;
	}
	if (!base64_decode(line->s, line->len, out)) {
		reply_error(c, "501 5.5.2 Cannot decode response");
		return 0;
	}
	return 1;
}

/* a user name fit for logs, the environment and a checkpassword program */
static int auth_user_ok(const char *s, size_t n)
{
	if (n == 0 || n > AUTH_USER_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] == 0x7f)
			return 0;
	return 1;
}

/* sleep ms milliseconds, whatever signals come */
static void pause_ms(unsigned long long ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * A failed attempt: the answer comes later each time (so guessing is slow
 * even for a client that pipelines), then the client is shown the door.
 */
static void auth_failed(struct conn *c, const char *answer, const char *mech, const char *user, const char *why)
{
	c->auth_failures++;
	log_line("event=auth mechanism=%s user=%s result=failed reason=%s failures=%lu", mech,
		 user && *user ? user : "-", why, c->auth_failures);
	flush(c);
	pause_ms(c->lim.auth_delay * c->auth_failures);
	reply(c, "%s", answer);
	if (c->auth_failures >= c->lim.auth_failures) {
		reply(c, "421 4.7.0 %s Too many authentication failures, closing connection", c->me.s);
		finish(c, "auth-failures");
	}
}

/*
 * PLAIN (RFC 4616): authzid NUL authcid NUL passwd.  We act for no one
 * else, so an authzid must be empty or the user itself.
 */
static int plain_split(const struct str *r, struct str *user, struct str *pass)
{
	const char *n1 = r->len ? memchr(r->s, '\0', r->len) : NULL;
	if (!n1)
		return 0;
	const char *u = n1 + 1;
	size_t left = r->len - (size_t)(u - r->s);
	const char *n2 = memchr(u, '\0', left);
	if (!n2)
		return 0;
	const char *p = n2 + 1;
	size_t pl = left - (size_t)(p - u);
	size_t ul = (size_t)(n2 - u), zl = (size_t)(n1 - r->s);
	if (memchr(p, '\0', pl) || (zl && (zl != ul || memcmp(r->s, u, ul) != 0)))
		return 0;
	str_copyb(user, u, ul);
	str_copyb(pass, p, pl);
	return 1;
}

static void cmd_auth(struct conn *c, const char *arg)
{
	if (c->esmtp != 2) {
		reply_error(c, "503 5.5.1 Send EHLO first");
		return;
	}
	if (c->auth_user.len) {
		reply_error(c, "503 5.5.1 Already authenticated");
		return;
	}
	if (c->in_mail) {
		reply_error(c, "503 5.5.1 AUTH not allowed during a mail transaction");
		return;
	}
	if (!auth_offered(c)) {
		if (c->mode.submission || c->checkpw)
			reply_error(c, "538 5.7.11 Encryption required for requested authentication mechanism");
		else
			reply_error(c, "502 5.5.1 AUTH not available");
		return;
	}
	size_t ml = strcspn(arg, " ");
	const char *init = arg[ml] == ' ' ? arg + ml + 1 : NULL;
	const char *mech;
	if (ml == 5 && strncasecmp(arg, "PLAIN", 5) == 0)
		mech = "PLAIN";
	else if (ml == 5 && strncasecmp(arg, "LOGIN", 5) == 0)
		mech = "LOGIN";
	else {
		reply_error(c, "504 5.5.4 Unrecognized authentication type");
		return;
	}
	struct str line = STR_INIT, resp = STR_INIT, user = STR_INIT, pass = STR_INIT;
	int ok;
	if (init && strcmp(init, "=") == 0) /* RFC 4954 §4: an empty initial response */
		ok = 1;
	else if (init && !base64_decode(init, strlen(init), &resp)) {
		reply_error(c, "501 5.5.2 Cannot decode response");
		ok = 0;
	} else
		ok = 1;
	if (ok && mech[0] == 'P') {
		if (!init)
			ok = auth_response(c, "", &line, &resp);
		if (ok && !plain_split(&resp, &user, &pass)) {
			auth_failed(c, "501 5.5.2 Malformed PLAIN response", mech, NULL, "malformed");
			ok = 0;
		}
	} else if (ok) {
		/* LOGIN: the user name may come as the initial response */
		if (init)
			str_copyb(&user, resp.s, resp.len);
		else if ((ok = auth_response(c, "VXNlcm5hbWU6", &line, &resp))) /* "Username:" */
			str_copyb(&user, resp.s, resp.len);
		if (ok && (ok = auth_response(c, "UGFzc3dvcmQ6", &line, &resp))) /* "Password:" */
			str_copyb(&pass, resp.s, resp.len);
		if (ok && (memchr(str_c(&user), '\0', user.len) || memchr(str_c(&pass), '\0', pass.len))) {
			auth_failed(c, "501 5.5.2 Malformed LOGIN response", mech, NULL, "malformed");
			ok = 0;
		}
	}
	if (ok) {
		const char *u = str_c(&user);
		if (!auth_user_ok(u, user.len) || pass.len == 0) {
			auth_failed(c, "535 5.7.8 Authentication credentials invalid", mech, NULL,
				    auth_user_ok(u, user.len) ? "empty-password" : "bad-user-name");
		} else {
			int r = checkpw_run(c->checkpw, u, str_c(&pass), (int)c->lim.auth_timeout * 1000);
			if (r == CHECKPW_OK) {
				str_copyb(&c->auth_user, user.s, user.len);
				c->auth_mech = mech;
				export(c, "AUTH_USER", c->auth_user.s);
				log_line("event=auth mechanism=%s user=%s result=ok", mech, u);
				reply(c, "235 2.7.0 Authentication successful");
			} else if (r == CHECKPW_BAD) {
				auth_failed(c, "535 5.7.8 Authentication credentials invalid", mech, u,
					    "wrong-credentials");
			} else {
				log_line("event=auth mechanism=%s user=%s result=temporary reason=checker-failed", mech, u);
				reply_error(c, "454 4.7.0 Temporary authentication failure");
			}
		}
	}
	/* the password passed through all of these */
	str_ready(&line, 0);
	str_ready(&resp, 0);
	str_ready(&pass, 0);
	explicit_bzero(line.s, line.cap);
	explicit_bzero(resp.s, resp.cap);
	explicit_bzero(pass.s, pass.cap);
	str_free(&line);
	str_free(&resp);
	str_free(&user);
	str_free(&pass);
}

static void cmd_quit(struct conn *c, const char *arg)
{
	(void)arg;
	reply(c, "221 2.0.0 %s Bye", c->me.s);
	finish(c, "quit");
}

static const struct command {
	const char *verb;
	void (*run)(struct conn *, const char *);
} commands[] = {
	{ "EHLO", cmd_ehlo }, { "HELO", cmd_helo }, { "MAIL", cmd_mail }, { "RCPT", cmd_rcpt },
	{ "DATA", cmd_data }, { "BDAT", cmd_bdat }, { "RSET", cmd_rset }, { "NOOP", cmd_noop },
	{ "QUIT", cmd_quit }, { "VRFY", cmd_vrfy }, { "HELP", cmd_help }, { "STARTTLS", cmd_starttls },
	{ "AUTH", cmd_auth },
};

/*
 * Read one line: everything up to the next CRLF, which is the only line
 * ending.  A bare LF does not end the line (so "RSET\nMAIL ..." is one
 * bad line, not two commands); the line is kept up to max octets (CRLF
 * included) and the rest dropped.  Returns 0, or the refusal.
 */
static const char *read_line(struct conn *c, struct str *line, size_t max)
{
	int bare = 0, toolong = 0;
	char prev = 0;
	line->len = 0;
	for (;;) {
		if (bio_buffered(&c->in) == 0)
			fill(c);
		const char *p = bio_peek(&c->in);
		size_t n = bio_buffered(&c->in);
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) + 1 : n;
		if (line->len + take > max)
			toolong = 1;
		else
			str_catb(line, p, take);
		char before_lf = take >= 2 ? p[take - 2] : prev;
		prev = p[take - 1];
		bio_skip(&c->in, take);
		if (nl && before_lf == '\r')
			break;
		if (nl)
			bare = 1;
	}
	if (toolong)
		return "500 5.5.2 Line too long";
	str_truncate(line, line->len - 2);
	if (bare || memchr(line->s, '\r', line->len) || memchr(line->s, '\0', line->len))
		return "500 5.5.2 Bare CR or LF, or NUL, in command; lines must end with CRLF";
	return NULL;
}

static void command(struct conn *c, struct str *line)
{
	size_t max = c->lim.cmdline > AUTH_LINE_MAX ? c->lim.cmdline : AUTH_LINE_MAX;
	const char *bad = read_line(c, line, max);
	if (bad) {
		reply_error(c, "%s", bad);
		return;
	}
	char *arg = line->s + strcspn(line->s, " ");
	size_t vl = (size_t)(arg - line->s);
	int auth = vl == 4 && strncasecmp(line->s, "AUTH", 4) == 0;
	if (line->len + 2 > c->lim.cmdline && !auth) {
		reply_error(c, "500 5.5.2 Line too long"); /* only AUTH may use the longer lines */
		return;
	}
	if (*arg)
		arg++;
	if (c->refused && !(vl == 4 && strncasecmp(line->s, "QUIT", 4) == 0)) {
		reply_error(c, "503 5.5.1 Bad sequence of commands: the connection was refused, send QUIT");
		return;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (vl == strlen(commands[i].verb) && strncasecmp(line->s, commands[i].verb, vl) == 0) {
			commands[i].run(c, arg);
			if (auth) /* an initial response holds the password */
				explicit_bzero(line->s, line->len);
			return;
		}
	reply_error(c, "500 5.5.2 Unknown command");
}

/* the commands, until the session ends; handover: smtp-recv-tls -S, at STARTTLS */
static void __attribute__((noreturn)) session_loop(struct conn *c, int handover)
{
	struct str line = STR_INIT;
	if (handover)
		starttls(c);
	for (;;) {
		if (c->errors >= c->lim.errors) {
			reply(c, "421 4.7.0 %s Too many errors, closing connection", c->me.s);
			finish(c, "errors");
		}
		/* RFC 2920: flush only when no further command is already here */
		if (!memchr(bio_peek(&c->in), '\n', bio_buffered(&c->in)))
			flush(c);
		command(c, &line);
	}
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: smtp-recv [-s] [-t] [-U] (fd 0/1: an SMTP connection)\n");
	exit(EXIT_USAGE);
}

int main(int argc, char **argv)
{
	static struct conn conn;
	struct conn *c = &conn;
	int opt;
	while ((opt = getopt(argc, argv, "SstU")) != -1) {
		if (opt == 'S')
			c->mode.handover = 1;
		else if (opt == 's')
			c->mode.submission = 1;
		else if (opt == 't')
			c->mode.implicit_tls = 1;
		else if (opt == 'U')
			c->mode.insecure_auth = 1;
		else
			usage();
	}
	/* -S is for smtp-recv-tls only: where TLS is missing it would exec itself again */
	if (optind != argc || (c->mode.handover && (c->mode.implicit_tls || !tlsio_available())))
		usage();
	if (c->mode.implicit_tls && !tlsio_available()) {
		/* RFC 8314: TLS from the first octet, so the TLS image from the start */
		struct str why = STR_INIT;
		exec_tls_image(c, "-t", &why);
		die(EXIT_SYS, "%s", why.s);
	}
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		die_sys(EXIT_SYS, "unable to ignore SIGPIPE");
	envset_init(&c->vars);
	read_config(c);
	bio_init(&c->in, 0, 65536, (int)c->lim.timeout * 1000);
	bio_init(&c->out, 1, 16384, (int)c->lim.timeout * 1000);
	struct str policy_spec = STR_INIT;
	if (c->mode.handover)
		handover_take(c, &policy_spec);
	handover_forget(c);
	find_addresses(c);
	c->relay = env_get("RELAYCLIENT") != NULL;
	export(c, "REMOTE_IP", c->remote_ip);
	export(c, "REMOTE_PORT", c->remote_port);
	export(c, "REMOTE_HOST", c->remote_host.len ? c->remote_host.s : NULL);
	export(c, "LOCAL_IP", c->local_ip);
	export(c, "LOCAL_PORT", c->local_port);
	export(c, "HELO", NULL);
	export(c, "PROTOCOL", NULL);
	export(c, "QUEUE_ID", NULL);
	/* reserved in doc/environment.md for TLS, AUTH and SPF: never inherited */
	export(c, "TLS_VERSION", NULL);
	export(c, "TLS_CIPHER", NULL);
	export(c, "AUTH_USER", NULL);
	export(c, "SPF_RESULT", NULL);
	export(c, "QUEUE_QUARANTINE", NULL);
	if (c->esmtp) { /* handed over with the greeting done */
		export(c, "HELO", c->helo.s);
		export_protocol(c);
	}
	struct str why = STR_INIT;
	if (policy_client_init(&c->policy, (int)c->lim.policy_timeout * 1000, &why) < 0) {
		warn_msg("%s", why.s);
		static const char msg[] = "421 4.3.0 Configuration unreadable, try again later\r\n";
		(void)fd_write_all(1, msg, sizeof msg - 1);
		_exit(EXIT_SYS);
	}
	if (c->mode.handover && policy_client_adopt(&c->policy, policy_spec.s, &why) < 0)
		handover_refused(why.s);
	str_free(&why);
	str_free(&policy_spec);
	if (c->mode.handover)
		session_loop(c, 1);
	qid_make(c->instance);
	log_line("event=connect remote=%s port=%s local=%s:%s host=%s relay=%s mode=%s%s",
		 c->remote_ip[0] ? c->remote_ip : "unknown", c->remote_port[0] ? c->remote_port : "-",
		 c->local_ip[0] ? c->local_ip : "unknown", c->local_port[0] ? c->local_port : "-",
		 c->remote_host.len ? c->remote_host.s : "-", c->relay ? "yes" : "no",
		 c->mode.submission ? "submission" : "smtp", c->mode.implicit_tls ? "+tls" : "");
	if (c->mode.implicit_tls) {
		/* RFC 8314 §3.3: the handshake comes first; the client hears nothing in the clear */
		if (tls_load(c) < 0)
			finish(c, "tls-unavailable");
		if (tls_handshake(c) < 0)
			finish(c, "tls-failed");
	}
	/* policy: CONNECT stage */
	const char *no = policy_check(c, "CONNECT", NULL, NULL, &c->conn_fx);
	if (no)
		connect_refused(c, no);
	else {
		str_copyb(&c->conn_action, str_c(&c->policy_action), c->policy_action.len);
		reply(c, "220 %s ESMTP sluice", c->me.s);
	}
	session_loop(c, 0);
}
