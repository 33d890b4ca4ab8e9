/*
 * smtp-filter - the rules of rules(5) at every SMTP stage.
 *
 *   smtp-filter -n              check the rules file, print file:line errors
 *   smtp-filter -p              policy server: Postfix policy delegation
 *                               protocol on fd 0/fd 1 (connect..data)
 *   smtp-filter -- prog args... queue-protocol filter for the eom stage:
 *                               message on fd 0, envelope on fd 1; refuse,
 *                               or exec prog with the (edited) message
 *
 * The engine is lib/rules.c; the message work is lib/content.c; DNS and
 * authentication facts (SPF, DKIM, DMARC, Null MX) and the auth headers
 * and signatures are lib/ruleauth.c; the wire codec is lib/policy.c.  This
 * file only joins them to fds and exit codes.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bio.h"
#include "conf.h"
#include "content.h"
#include "die.h"
#include "durable.h"
#include "envelope.h"
#include "log.h"
#include "policy.h"
#include "qid.h"
#include "queue.h"
#include "ruleauth.h"
#include "rules.h"

/* queue protocol exit codes (DESIGN.md contract 1) */
enum { QX_WRITE = 53, QX_READ = 54, QX_CONF = 55, QX_CUSTOM = 82, QX_BUG = 81, QX_ENVELOPE = 91 };

#define MAX_ADDR 4096
#define MAX_RCPT 100000

/* the authserv-id and SPF receiver: this host's name (conf "me") */
static void me(struct str *out)
{
	if (conf_line("me", out) != 0 || !out->len)
		str_copys(out, "localhost");
}

static void usage(void)
{
	die(EXIT_USAGE, "usage: smtp-filter [-f rules] -n | -p | -- program [arg...]");
}

/* 0 read, 1 no rules file; the name for messages goes to name */
static int read_rules(const char *file, struct str *text, struct str *name)
{
	if (file)
		str_copys(name, file);
	else
		conf_path("rules", name);
	int fd = openat(AT_FDCWD, name->s, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT && !file)
			return 1;
		return -1;
	}
	char buf[65536];
	ssize_t r;
	while ((r = read(fd, buf, sizeof buf)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			errno = e;
			return -1;
		}
		str_catb(text, buf, (size_t)r);
	}
	close(fd);
	return 0;
}

/* ---------- policy mode ---------- */

static int policy_stage(const char *s)
{
	static const struct {
		const char *name;
		int stage;
	} map[] = { { "CONNECT", STAGE_CONNECT }, { "EHLO", STAGE_HELO }, { "HELO", STAGE_HELO },
		    { "MAIL", STAGE_MAIL }, { "RCPT", STAGE_RCPT }, { "DATA", STAGE_DATA } };
	for (size_t i = 0; s && i < sizeof map / sizeof map[0]; i++)
		if (strcasecmp(s, map[i].name) == 0)
			return map[i].stage;
	return -1; /* END-OF-MESSAGE (chain mode's business), VRFY, ETRN */
}

/* one access(5) action: the decision, else the first wire effect (the protocol carries one) */
static void verdict_action(const struct rules_verdict *v, struct str *act)
{
	const struct rules_reply *d = &v->decision;
	size_t used = 0;
	str_copyb(act, "", 0);
	switch (d->kind) {
	case RK_ACCEPT: str_cats(act, "OK"); break;
	case RK_REJECT:
	case RK_DEFER:
	case RK_DISCONNECT: rules_reply_format(d, act); break;
	case RK_QUARANTINE: str_catf(act, "HOLD %s", v->arg); break;
	case RK_DISCARD: str_catf(act, "DISCARD %s", v->arg ? v->arg : "discarded by rule"); break;
	case RK_REDIRECT: str_catf(act, "REDIRECT %s", v->arg); break;
	default:
		for (; used < v->neff && !act->len; used++) {
			const struct rules_effect *e = &v->eff[used];
			if (e->kind == RK_ADD_HEADER)
				str_catf(act, "PREPEND %s", e->arg);
			else if (e->kind == RK_BCC)
				str_catf(act, "BCC %s", e->arg);
			else if (e->kind == RK_WARN)
				str_catf(act, "WARN %s", e->arg);
		}
		if (!act->len)
			str_cats(act, "DUNNO");
	}
	/* a refusal makes the effects moot; otherwise say what could not be sent */
	for (; (d->kind == RK_NONE || d->kind == RK_ACCEPT) && used < v->neff; used++)
		log_line("event=policy-dropped effect=\"%s\" reason=\"one action per policy reply\"", v->eff[used].arg);
}

static void policy_mode(const struct rules *rs)
{
	struct bio in, out;
	struct policy_req req = POLICY_REQ_INIT;
	struct rules_state st = RULES_STATE_INIT;
	struct str why = STR_INIT, act = STR_INIT, wire = STR_INIT, instance = STR_INIT, host = STR_INIT;
	me(&host);
	struct ruleauth *auth = ruleauth_new(host.s);
	bio_init(&in, 0, 65536, 3600 * 1000);
	bio_init(&out, 1, 4096, 60 * 1000);
	for (;;) {
		int r = policy_read(&in, &req, &why);
		if (r == POLICY_EOF)
			break;
		if (r == POLICY_ERR)
			die_sys(EXIT_SYS, "unable to read policy request");
		if (r == POLICY_BAD)
			die(EXIT_SYS, "malformed policy request: %s", why.s);
		const char *rq = policy_get(&req, "request");
		if (!rq || strcmp(rq, "smtpd_access_policy") != 0)
			die(EXIT_SYS, "malformed policy request: request=smtpd_access_policy missing");
		const char *inst = policy_get(&req, "instance");
		if (inst && *inst && (!instance.s || strcmp(inst, instance.s) != 0)) {
			rules_state_free(&st); /* a new transaction: forget the old one's tags and answers */
			ruleauth_free(auth); /* and its DNS answers and SPF result */
			auth = ruleauth_new(host.s);
			str_copys(&instance, inst);
		}
		int stage = policy_stage(policy_get(&req, "protocol_state"));
		str_copys(&act, "DUNNO");
		if (stage >= 0 && rs) {
			const char *rcpt = policy_get(&req, "recipient");
			const char *size = policy_get(&req, "size"), *count = policy_get(&req, "recipient_count");
			struct rules_facts f = { 0 };
			f.client = policy_get(&req, "client_address");
			f.client_name = policy_get(&req, "client_name");
			f.reverse_name = policy_get(&req, "reverse_client_name");
			f.helo = policy_get(&req, "helo_name");
			f.sender = policy_get(&req, "sender");
			f.rcpt = &rcpt;
			f.nrcpt = rcpt && *rcpt ? 1 : 0;
			f.auth_user = policy_get(&req, "sasl_username");
			f.tls_version = policy_get(&req, "encryption_protocol");
			/* Postfix sends size=0 when the client gave no SIZE */
			f.have_size = size && scan_ull(size, strlen(size), &f.size) && f.size > 0;
			f.have_rcpt_count = count && stage >= STAGE_DATA && scan_ull(count, strlen(count), &f.rcpt_count);
			ruleauth_envelope(auth, f.client, f.helo, f.sender, NULL);
			f.resolve = ruleauth_resolve;
			f.resolve_arg = auth;
			f.auth = ruleauth_fact;
			f.auth_arg = auth;
			struct rules_verdict v;
			str_copyb(&why, "", 0);
			if (rules_eval(rs, (enum rules_stage)stage, &f, &st, &v, &why) < 0) {
				log_line("event=rule-fail stage=%s reason=\"%s\"", rules_stage_name((enum rules_stage)stage), why.s);
				str_copys(&act, "451 4.3.0 temporary failure in the rules");
			} else
				verdict_action(&v, &act);
			if (strcmp(act.s, "DUNNO") != 0)
				log_line("event=policy stage=%s client=%s from=<%s> rcpt=<%s> line=%zu action=\"%s\"",
					 rules_stage_name((enum rules_stage)stage), f.client ? f.client : "",
					 f.sender ? f.sender : "", rcpt ? rcpt : "", v.line, act.s);
			rules_verdict_free(&v);
		}
		str_copyb(&wire, "", 0);
		policy_reply_encode(act.s, &wire);
		if (bio_put(&out, wire.s, wire.len) < 0 || bio_flush(&out) < 0)
			die_sys(EXIT_SYS, "unable to write policy reply");
	}
	exit(0);
}

/* ---------- chain mode ---------- */

static const char *const env_facts[] = { "REMOTE_IP", "REMOTE_HOST", "HELO", "PROTOCOL", "TLS_VERSION",
					  "TLS_CIPHER", "AUTH_USER", "QUEUE_ID", "SPF_RESULT" };

/* exit 82 with a custom reply on fd 6; without fd 6, the plain exit code */
__attribute__((noreturn))
static void refuse(const struct rules_reply *d, const char *id)
{
	struct str msg = STR_INIT;
	int perm = d->code >= 500;
	str_catc(&msg, perm ? 'D' : 'Z');
	rules_reply_format(d, &msg);
	log_line("event=refused id=%s reply=\"%s\"", id, msg.s + 1);
	if (fd_write_all(6, msg.s, msg.len) < 0)
		exit(perm ? 31 : 71);
	exit(QX_CUSTOM);
}

static void add_rcpt_once(struct envelope *env, const char *rcpt)
{
	for (size_t i = 0; i < env->nrcpt; i++)
		if (strcasecmp(env->rcpt[i], rcpt) == 0)
			return;
	envelope_add_rcpt(env, rcpt);
}

/* fd 0 = message, fd 1 = a pipe holding the envelope, then exec argv */
__attribute__((noreturn))
static void exec_next(char **argv, int msgfd, const struct envelope *env)
{
	struct str enc = STR_INIT;
	int p[2];
	envelope_encode(env, &enc);
	if (pipe2(p, O_CLOEXEC) < 0)
		die_sys(QX_WRITE, "unable to create envelope pipe");
	if (enc.len > 65536)
		(void)fcntl(p[1], F_SETPIPE_SZ, (int)(enc.len < (1u << 20) ? enc.len : (1u << 20)));
	int size = fcntl(p[1], F_GETPIPE_SZ);
	if (size > 0 && enc.len <= (size_t)size) {
		if (fd_write_all(p[1], enc.s, enc.len) < 0)
			die_sys(QX_WRITE, "unable to write envelope");
	} else {
		/* too big for the pipe: a child feeds it while the next program reads */
		pid_t pid = fork();
		if (pid < 0)
			die_sys(QX_WRITE, "unable to fork");
		if (pid == 0)
			_exit(fd_write_all(p[1], enc.s, enc.len) < 0 ? 1 : 0);
	}
	close(p[1]);
	if (lseek(msgfd, 0, SEEK_SET) < 0 || dup2(msgfd, 0) < 0 || dup2(p[0], 1) < 0)
		die_sys(QX_WRITE, "unable to set up descriptors");
	execvp(argv[0], argv);
	die_sys(QX_BUG, "unable to run %s", argv[0]);
}

static int has_effect(const struct rules_verdict *v, enum rules_kind kind)
{
	for (size_t i = 0; i < v->neff; i++)
		if (v->eff[i].kind == kind)
			return 1;
	return 0;
}

/* dkim-sign: prepend a signature per key of the From (else sender) domain */
static void dkim_sign(struct ruleauth *auth, struct str *hdr, const struct content *c, const char *id)
{
	struct str sigs = STR_INIT, domain = STR_INIT, why = STR_INIT;
	const char *body = c->map ? c->map + c->hdr_len : "";
	int r = ruleauth_sign(auth, hdr, body, c->len - c->hdr_len, &sigs, &domain, &why);
	if (r < 0) {
		log_line("event=dkim-sign-fail id=%s domain=%s reason=\"%s\"", id, domain.s, why.s);
		struct rules_reply tf = { RK_DEFER, 451, "4.7.0", "temporary failure in DKIM signing" };
		refuse(&tf, id);
	}
	if (r == 0) {
		log_line("event=dkim-unsigned id=%s domain=%s reason=\"no key in dkim\"", id, domain.s);
	} else {
		log_line("event=dkim-signed id=%s domain=%s", id, domain.s);
		str_catb(&sigs, hdr->s ? hdr->s : "", hdr->len);
		str_copyb(hdr, sigs.s, sigs.len);
	}
	str_free(&sigs);
	str_free(&domain);
	str_free(&why);
}

static void chain_mode(const struct rules *rs, char **next)
{
	int eom = rs && rules_has_stage(rs, STAGE_EOM);
	if (!eom) {
		execvp(next[0], next); /* nothing to do: pass the very same fds on */
		die_sys(QX_BUG, "unable to run %s", next[0]);
	}
	struct str qdir = STR_INIT, tmpdir = STR_INIT, why = STR_INIT, hdr = STR_INIT;
	struct conf_list limits;
	unsigned long long timeout = 120;
	if (queue_dir(&qdir) < 0 || conf_list_read("limits", &limits) < 0)
		die_sys(QX_CONF, "unable to read configuration");
	conf_limit(&limits, "filter-timeout", 120, &timeout);
	unsigned long long regex_bytes, regex_budget;
	conf_limit(&limits, "rules-regex-bytes", RULES_REGEX_BYTES, &regex_bytes);
	conf_limit(&limits, "rules-regex-budget", RULES_REGEX_BUDGET, &regex_budget);
	queue_path(&tmpdir, qdir.s, "tmp", NULL);

	char id[QID_SIZE];
	const char *given = getenv("QUEUE_ID");
	if (given && qid_valid(given))
		memcpy(id, given, QID_SIZE);
	else
		qid_make(id);

	struct content c;
	if (content_spool(&c, 0, tmpdir.s, (int)(timeout > 3600 ? 3600000 : timeout * 1000)) < 0) {
		if (errno == EIO)
			die_sys(QX_READ, "unable to read message");
		die_sys(QX_WRITE, "unable to spool message in %s", tmpdir.s);
	}
	struct envelope env = ENVELOPE_INIT;
	struct bio in;
	bio_init(&in, 1, 65536, 3600 * 1000);
	int er = envelope_read(&in, &env, MAX_ADDR, MAX_RCPT);
	if (er == ENV_READ)
		die_sys(QX_READ, "unable to read envelope");
	if (er != ENV_OK)
		die(QX_ENVELOPE, "envelope format error");
	bio_free(&in);

	struct rules_facts f = { 0 };
	f.client = getenv("REMOTE_IP");
	f.client_name = getenv("REMOTE_HOST");
	f.helo = getenv("HELO");
	f.sender = env.sender;
	f.rcpt = (const char *const *)env.rcpt;
	f.nrcpt = env.nrcpt;
	f.auth_user = getenv("AUTH_USER");
	f.tls_version = getenv("TLS_VERSION");
	f.spf = getenv("SPF_RESULT");
	f.size = c.len;
	f.have_size = 1;
	f.rcpt_count = env.nrcpt;
	f.have_rcpt_count = 1;
	f.header = c.map;
	f.header_len = c.hdr_len;
	f.regex_bytes = regex_bytes;
	f.regex_budget = regex_budget;
	f.run = content_run;
	f.run_arg = &c;
	struct str host = STR_INIT;
	me(&host);
	struct ruleauth *auth = ruleauth_new(host.s);
	ruleauth_envelope(auth, f.client, f.helo, env.sender, f.spf);
	ruleauth_message(auth, c.map, c.len);
	f.resolve = ruleauth_resolve;
	f.resolve_arg = auth;
	f.auth = ruleauth_fact;
	f.auth_arg = auth;
	struct rules_state st = RULES_STATE_INIT;
	struct rules_verdict v = { 0 };
	if (eom && rules_eval(rs, STAGE_EOM, &f, &st, &v, &why) < 0) {
		log_line("event=rule-fail id=%s reason=\"%s\"", id, why.s);
		struct rules_reply tf = { RK_DEFER, 451, "4.3.0", "temporary failure in the content rules" };
		refuse(&tf, id);
	}

	/* effects first: a later refusal does not undo an export */
	content_headers(&c, &v, &hdr);
	if (has_effect(&v, RK_AUTH_RESULTS) && ruleauth_headers(auth, &hdr, &why) < 0) {
		log_line("event=auth-fail id=%s reason=\"%s\"", id, why.s);
		struct rules_reply tf = { RK_DEFER, 451, "4.7.0", "temporary failure in message authentication" };
		refuse(&tf, id);
	}
	const char *facts[2 * sizeof env_facts / sizeof env_facts[0] + 1];
	size_t nf = 0;
	for (size_t i = 0; i < sizeof env_facts / sizeof env_facts[0]; i++) {
		const char *val = getenv(env_facts[i]);
		if (val) {
			facts[nf++] = env_facts[i];
			facts[nf++] = val;
		}
	}
	facts[nf] = NULL;
	for (size_t i = 0; i < v.neff; i++) {
		const struct rules_effect *e = &v.eff[i];
		struct str dir = STR_INIT;
		switch (e->kind) {
		case RK_REWRITE_SENDER:
			envelope_set_sender(&env, strcmp(e->arg, "<>") == 0 ? "" : e->arg);
			break;
		case RK_BCC:
			add_rcpt_once(&env, e->arg);
			break;
		case RK_WARN:
			log_line("event=warn id=%s text=\"%s\"", id, e->arg);
			break;
		case RK_EXPORT:
			conf_resolve(e->arg, &dir);
			if (content_export(dir.s, id, &env, facts, &hdr, &c) < 0)
				die_sys(QX_WRITE, "unable to export message %s to %s", id, dir.s);
			log_line("event=exported id=%s dir=%s", id, dir.s);
			break;
		default:
			break;
		}
		str_free(&dir);
	}

	switch (v.decision.kind) {
	case RK_REJECT:
	case RK_DEFER:
	case RK_DISCONNECT:
		refuse(&v.decision, id);
	case RK_DISCARD:
		log_line("event=discarded id=%s line=%zu from=<%s> rcpts=%zu", id, v.line, env.sender, env.nrcpt);
		exit(0);
	case RK_QUARANTINE:
		/*
		 * queue-inject commits it to quarantine/NAME/ instead of new/:
		 * this filter needs no write access to the queue (INSTALL).
		 */
		if (setenv("QUEUE_QUARANTINE", v.arg, 1) < 0)
			die_sys(QX_WRITE, "unable to set QUEUE_QUARANTINE");
		log_line("event=quarantined id=%s quarantine=%s line=%zu from=<%s> rcpts=%zu", id, v.arg, v.line,
			 env.sender, env.nrcpt);
		break;
	case RK_REDIRECT:
		for (size_t i = 0; i < env.nrcpt; i++)
			free(env.rcpt[i]);
		env.nrcpt = 0;
		envelope_add_rcpt(&env, v.arg);
		log_line("event=redirected id=%s to=<%s> line=%zu", id, v.arg, v.line);
		break;
	default:
		break;
	}
	if (has_effect(&v, RK_DKIM_SIGN))
		dkim_sign(auth, &hdr, &c, id);
	int out = c.fd;
	if (hdr.len != c.hdr_len || memcmp(hdr.s ? hdr.s : "", c.map ? c.map : "", hdr.len) != 0) {
		out = tmpfile_in(tmpdir.s);
		if (out < 0 || content_write(out, &hdr, &c) < 0)
			die_sys(QX_WRITE, "unable to write edited message");
	}
	exec_next(next, out, &env);
}

int main(int argc, char **argv)
{
	const char *file = NULL;
	int check = 0, policy = 0, opt;
	while ((opt = getopt(argc, argv, "+f:np")) != -1) {
		switch (opt) {
		case 'f': file = optarg; break;
		case 'n': check = 1; break;
		case 'p': policy = 1; break;
		default: usage();
		}
	}
	char **next = argv + optind;
	if (check + policy + (*next != NULL) != 1 || (*next && strcmp(argv[optind - 1], "--") != 0))
		usage();
	signal(SIGPIPE, SIG_IGN);

	struct str text = STR_INIT, name = STR_INIT, errors = STR_INIT;
	int r = read_rules(file, &text, &name);
	if (r < 0)
		die_sys(policy || check ? EXIT_SYS : QX_CONF, "unable to read %s", name.s);
	struct rules *rs = NULL;
	if (r == 0) {
		rs = rules_parse(name.s, text.s ? text.s : "", text.len, &errors);
		if (!rs) {
			(void)fd_write_all(2, errors.s, errors.len);
			if (check)
				exit(1);
			die(policy ? EXIT_SYS : QX_CONF, "%s has errors; see smtp-filter -n", name.s);
		}
	}
	if (check) {
		if (r == 1)
			printf("%s: no rules file: smtp-filter does nothing\n", name.s);
		exit(0);
	}
	if (policy)
		policy_mode(rs);
	chain_mode(rs, next);
	return QX_BUG;
}
