/*
 * mail-auth - email authentication from the command line: SPF, DKIM
 * verification and signing, DMARC and Authentication-Results, the same
 * library code smtp-recv and smtp-filter run, for administrators and tests.
 *
 *   mail-auth spf IP HELO SENDER
 *   mail-auth verify [-r] [-m ID] [-i IP -h HELO -f SENDER | -e] < message
 *   mail-auth sign [-d DOMAIN -s SELECTOR -k KEYFILE [-a rsa|ed25519]] < message
 *   mail-auth nullmx DOMAIN
 *   mail-auth orgdomain DOMAIN...
 *
 * Exit 0 done (whatever the verdict; nullmx: 0 Null MX, 1 none), 100
 * usage, 111 system or temporary DNS failure where a verdict needs it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "authres.h"
#include "bio.h"
#include "conf.h"
#include "die.h"
#include "dkim.h"
#include "dkimsign.h"
#include "dmarc.h"
#include "dns.h"
#include "msgfeed.h"
#include "publicsuffix.h"
#include "spf.h"
#include "str.h"

#define MAX_FIELD 65536
#define MAX_SIGN_KEYS 8

static void usage(void)
{
	die(EXIT_USAGE, "usage: mail-auth spf IP HELO SENDER | verify [-r] [-m ID] [-i IP -h HELO -f SENDER | -e] | "
			"sign [-d DOMAIN -s SELECTOR -k KEYFILE [-a rsa|ed25519]] | nullmx DOMAIN | orgdomain DOMAIN...");
}

/* the resolver of nameservers, with the dns-timeout and dns-retries limits */
static struct dns *open_dns(void)
{
	struct conf_list limits = CONF_LIST_INIT;
	struct str err = STR_INIT;
	if (conf_list_read("limits", &limits) < 0)
		die_sys(EXIT_SYS, "unable to read limits");
	struct dns *d = dns_open(&limits, &err);
	conf_list_free(&limits);
	if (!d)
		die(EXIT_SYS, "unable to set up the DNS resolver: %s", str_c(&err));
	str_free(&err);
	return d;
}

/* the authserv-id and SPF receiver: this host's name */
static void me(struct str *out)
{
	if (conf_line("me", out) != 0)
		str_copys(out, "localhost");
}

static void put(const char *s, size_t n)
{
	if (fd_write_all(1, s, n) < 0)
		die_sys(EXIT_SYS, "unable to write output");
}

static void puts_out(const char *s)
{
	put(s, strlen(s));
}

static int cmd_spf(int argc, char **argv)
{
	if (argc != 4)
		usage();
	struct dns *dns = open_dns();
	struct str host = STR_INIT, hdr = STR_INIT, line = STR_INIT;
	me(&host);
	struct spf_check c = SPF_CHECK_INIT;
	if (spf_check(dns, argv[1], argv[2], argv[3], host.s, &c) < 0)
		die(EXIT_USAGE, "not an IP address: %s", argv[1]);
	str_catf(&line, "spf=%s identity=%s domain=%s", spf_result_name(c.result), c.identity, str_c(&c.domain));
	if (c.problem.len)
		str_catf(&line, " problem=\"%s\"", c.problem.s);
	if (c.explanation.len)
		str_catf(&line, " explanation=\"%s\"", c.explanation.s);
	str_catc(&line, '\n');
	puts_out(line.s);
	spf_received_header(&c, argv[1], argv[2], argv[3], host.s, &hdr);
	puts_out(hdr.s);
	spf_check_free(&c);
	str_free(&host);
	str_free(&hdr);
	str_free(&line);
	dns_close(dns);
	return 0;
}

/* message reading for verify: DKIM, the From domains, our old A-R fields */
struct verify {
	struct sdkim *dkim;
	int dkim_broken;
	const char *authserv_id;
	char **from;
	size_t n_from, from_fields;
	size_t ours;
	int rewrite;
	struct str head, body;   /* the rewritten message (-r) */
};

static int v_header(void *arg, const char *f, size_t n)
{
	struct verify *v = arg;
	if (!v->dkim_broken && sdkim_header(v->dkim, f, n) < 0)
		v->dkim_broken = 1;
	if (msgfeed_is(f, n, "From")) {
		size_t at = msgfeed_name_len(f, n) + 1;
		dmarc_from_domains(f + at, n - at, &v->from, &v->n_from);
		v->from_fields++;
	}
	if (msgfeed_is(f, n, "Authentication-Results") && authres_is_ours(f, n, v->authserv_id)) {
		v->ours++;
		return 0;
	}
	if (v->rewrite) {
		str_catb(&v->head, f, n);
		str_catc(&v->head, '\n');
	}
	return 0;
}

static int v_eoh(void *arg)
{
	struct verify *v = arg;
	if (!v->dkim_broken && sdkim_eoh(v->dkim) < 0)
		v->dkim_broken = 1;
	if (v->rewrite)
		str_catc(&v->head, '\n');
	return 0;
}

static int v_body(void *arg, const char *b, size_t n)
{
	struct verify *v = arg;
	if (!v->dkim_broken && sdkim_body(v->dkim, b, n) < 0)
		v->dkim_broken = 1;
	if (v->rewrite)
		str_catb(&v->body, b, n);
	return 0;
}

static const struct msgfeed_ops verify_ops = { v_header, v_eoh, v_body };

/* feed fd 0 to a msgfeed */
static void feed_stdin(struct msgfeed *f, struct str *keep)
{
	char buf[65536];
	for (;;) {
		ssize_t r = read(0, buf, sizeof buf);
		if (r < 0)
			die_sys(EXIT_SYS, "unable to read the message");
		if (r == 0)
			break;
		if (keep)
			str_catb(keep, buf, (size_t)r);
		if (f && msgfeed_push(f, buf, (size_t)r) < 0)
			die(EXIT_SYS, "unable to read the message: a header field is over %d bytes", MAX_FIELD);
	}
	if (f && msgfeed_end(f) < 0)
		die(EXIT_SYS, "unable to read the message header");
}

static int cmd_verify(int argc, char **argv)
{
	const char *ip = NULL, *helo = "", *sender = NULL;
	int env = 0, rewrite = 0, c;
	struct str id = STR_INIT;
	me(&id);
	while ((c = getopt(argc, argv, "ei:h:f:m:r")) != -1) {
		switch (c) {
		case 'e': env = 1; break;
		case 'i': ip = optarg; break;
		case 'h': helo = optarg; break;
		case 'f': sender = optarg; break;
		case 'm': str_copys(&id, optarg); break;
		case 'r': rewrite = 1; break;
		default: usage();
		}
	}
	if (optind != argc || (ip && env) || (!ip && sender))
		usage();
	struct dns *dns = open_dns();
	struct publicsuffix *psl = publicsuffix_load(NULL);
	if (!psl)
		die_sys(EXIT_SYS, "unable to read the Public Suffix List");

	struct spf_check spf = SPF_CHECK_INIT;
	int have_spf = 0;
	if (ip) {
		if (spf_check(dns, ip, helo, sender ? sender : "", id.s, &spf) < 0)
			die(EXIT_USAGE, "not an IP address: %s", ip);
		have_spf = 1;
	} else if (env) {
		have_spf = spf_from_env(&spf) == 0;
	}

	struct verify v = { 0 };
	v.authserv_id = id.s;
	v.rewrite = rewrite;
	v.dkim = sdkim_verify_new(dns);
	if (!v.dkim)
		die(EXIT_SYS, "unable to start DKIM verification");
	struct msgfeed f;
	msgfeed_init(&f, &verify_ops, &v, MAX_FIELD);
	feed_stdin(&f, NULL);
	msgfeed_free(&f);

	struct sdkim_sig *sigs = NULL;
	size_t nsigs = 0;
	if (!v.dkim_broken && sdkim_verify_eom(v.dkim, &sigs, &nsigs) < 0)
		v.dkim_broken = 1;

	const char **pass = calloc(nsigs + 1, sizeof *pass);
	if (!pass)
		die_nomem();
	size_t npass = 0;
	struct str out = STR_INIT;
	for (size_t i = 0; i < nsigs; i++) {
		struct sdkim_sig *s = &sigs[i];
		str_catf(&out, "dkim=%s d=%s s=%s a=%s bits=%u", sdkim_result_name(s->result), s->domain, s->selector,
			 s->alg, s->keybits);
		if (*s->reason)
			str_catf(&out, " reason=\"%s\"", s->reason);
		str_catc(&out, '\n');
		if (s->result == SDKIM_PASS)
			pass[npass++] = s->domain;
	}
	if (nsigs == 0)
		str_cats(&out, v.dkim_broken ? "dkim=none reason=\"message not processable\"\n" : "dkim=none\n");

	struct dmarc_input in = { (const char *const *)v.from, v.n_from, have_spf ? spf.result : SPFR_NONE,
				  have_spf ? spf.domain.s : NULL, pass, npass };
	struct dmarc_eval dm = DMARC_EVAL_INIT;
	dmarc_evaluate(dns, psl, &in, &dm);
	str_catf(&out, "dmarc=%s from=%s policy=%s disposition=%s spf-aligned=%s dkim-aligned=%s from-fields=%zu\n",
		 dmarc_result_name(dm.result), str_c(&dm.from_domain), dmarc_policy_name(dm.policy),
		 dmarc_policy_name(dm.disposition), dm.spf_aligned ? "yes" : "no", dm.dkim_aligned ? "yes" : "no",
		 v.from_fields);
	if (have_spf)
		str_catf(&out, "spf=%s identity=%s domain=%s\n", spf_result_name(spf.result), spf.identity,
			 str_c(&spf.domain));
	str_catf(&out, "removed=%zu\n", v.ours);

	struct authres_in ar = { have_spf ? &spf : NULL, sigs, nsigs, 1, &dm };
	struct str hdr = STR_INIT;
	authres_header(id.s, &ar, &hdr);
	if (rewrite) {
		/* the filter's view: our header, then the message less forged ones */
		if (fd_write_all(2, out.s, out.len) < 0)
			die_sys(EXIT_SYS, "unable to write report");
		puts_out(hdr.s);
		put(str_c(&v.head), v.head.len);
		put(str_c(&v.body), v.body.len);
	} else {
		str_cats(&out, hdr.s);
		puts_out(out.s);
	}
	free(pass);
	free(sigs);
	dmarc_eval_free(&dm);
	dmarc_domains_free(v.from, v.n_from);
	sdkim_free(v.dkim);
	spf_check_free(&spf);
	publicsuffix_free(psl);
	dns_close(dns);
	str_free(&out);
	str_free(&hdr);
	str_free(&id);
	str_free(&v.head);
	str_free(&v.body);
	return 0;
}

/* the From domain of a message held in memory, for choosing keys */
struct fromscan {
	char **from;
	size_t n;
};

static int fs_header(void *arg, const char *f, size_t n)
{
	struct fromscan *s = arg;
	if (msgfeed_is(f, n, "From") && s->n == 0) {
		size_t at = msgfeed_name_len(f, n) + 1;
		dmarc_from_domains(f + at, n - at, &s->from, &s->n);
	}
	return 0;
}

static int fs_eoh(void *arg)
{
	(void)arg;
	return 0;
}

static int fs_body(void *arg, const char *b, size_t n)
{
	(void)arg, (void)b, (void)n;
	return 0;
}

static const struct msgfeed_ops fromscan_ops = { fs_header, fs_eoh, fs_body };

static void sign_one(const struct str *msg, const char *domain, const char *selector, const char *keyfile,
		     const char *alg, struct str *sigs)
{
	struct str why = STR_INIT;
	if (dkimsign_file(domain, selector, keyfile, alg, msg->s, msg->len, "", 0, sigs, &why) < 0)
		die(EXIT_SYS, "%s", why.s);
	str_free(&why);
}

static int cmd_sign(int argc, char **argv)
{
	const char *domain = NULL, *selector = NULL, *keyfile = NULL, *alg = "rsa";
	int c;
	while ((c = getopt(argc, argv, "d:s:k:a:")) != -1) {
		switch (c) {
		case 'd': domain = optarg; break;
		case 's': selector = optarg; break;
		case 'k': keyfile = optarg; break;
		case 'a': alg = optarg; break;
		default: usage();
		}
	}
	if (optind != argc || (domain && (!selector || !keyfile)) || (!domain && (selector || keyfile)))
		usage();
	if (strcmp(alg, "rsa") != 0 && strcmp(alg, "ed25519") != 0)
		usage();
	struct str msg = STR_INIT, sigs = STR_INIT;
	feed_stdin(NULL, &msg);
	if (domain) {
		sign_one(&msg, domain, selector, keyfile, alg, &sigs);
	} else {
		struct fromscan fs = { NULL, 0 };
		struct msgfeed f;
		msgfeed_init(&f, &fromscan_ops, &fs, MAX_FIELD);
		if (msgfeed_push(&f, str_c(&msg), msg.len) < 0 || msgfeed_end(&f) < 0)
			die(EXIT_SYS, "unable to read the message header");
		msgfeed_free(&f);
		struct sdkim_key keys[MAX_SIGN_KEYS];
		size_t n = fs.n ? sdkim_keys_for(fs.from[0], keys, MAX_SIGN_KEYS) : 0;
		if (n == 0)
			warn_msg("no key in dkim for the From domain %s: message left unsigned",
				 fs.n ? fs.from[0] : "(none)");
		for (size_t i = 0; i < n; i++)
			sign_one(&msg, fs.from[0], keys[i].selector, keys[i].keyfile.s, keys[i].alg, &sigs);
		sdkim_keys_free(keys, n);
		dmarc_domains_free(fs.from, fs.n);
	}
	put(str_c(&sigs), sigs.len);
	put(str_c(&msg), msg.len);
	str_free(&msg);
	str_free(&sigs);
	return 0;
}

static int cmd_nullmx(int argc, char **argv)
{
	if (argc != 2)
		usage();
	struct dns *dns = open_dns();
	struct str err = STR_INIT;
	int r = dns_null_mx(dns, argv[1], &err);
	dns_close(dns);
	if (r < 0)
		die(EXIT_SYS, "unable to look up MX for %s: %s", argv[1], str_c(&err));
	str_free(&err);
	puts_out(r ? "null-mx\n" : "no-null-mx\n");
	return r ? 0 : 1;
}

static int cmd_orgdomain(int argc, char **argv)
{
	if (argc < 2)
		usage();
	struct publicsuffix *psl = publicsuffix_load(NULL);
	if (!psl)
		die_sys(EXIT_SYS, "unable to read the Public Suffix List");
	struct str org = STR_INIT, line = STR_INIT;
	for (int i = 1; i < argc; i++) {
		publicsuffix_org_domain(psl, argv[i], &org);
		str_copys(&line, "");
		str_catf(&line, "%s %s\n", argv[i], org.s);
		puts_out(line.s);
	}
	str_free(&org);
	str_free(&line);
	publicsuffix_free(psl);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	argc--, argv++;
	if (strcmp(argv[0], "spf") == 0)
		return cmd_spf(argc, argv);
	if (strcmp(argv[0], "verify") == 0)
		return cmd_verify(argc, argv);
	if (strcmp(argv[0], "sign") == 0)
		return cmd_sign(argc, argv);
	if (strcmp(argv[0], "nullmx") == 0)
		return cmd_nullmx(argc, argv);
	if (strcmp(argv[0], "orgdomain") == 0)
		return cmd_orgdomain(argc, argv);
	usage();
}
