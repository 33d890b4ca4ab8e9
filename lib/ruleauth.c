/*
 * ruleauth.c - DNS and authentication facts for the rules (see ruleauth.h).
 * Everything is lazy: a rules file without DNS or authentication
 * conditions never opens a resolver, never reads the Public Suffix List.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "alloc.h"
#include "authres.h"
#include "dkim.h"
#include "dkimsign.h"
#include "dmarc.h"
#include "dns.h"
#include "header.h"
#include "log.h"
#include "msgfeed.h"
#include "publicsuffix.h"
#include "rules.h"
#include "ruleauth.h"
#include "spf.h"

#define MAX_FIELD 65536
#define MAX_SIGN_KEYS 8

struct answer {
	char *name;
	int type;
	int result;
	struct conf_list list;
};

struct ruleauth {
	char *me;
	struct dns *dns;
	int dns_broken;
	struct answer *cache;
	size_t ncache;
	/* SPF: its inputs, and the result once computed */
	char *ip, *helo, *sender;
	int spf_given, spf_done;
	int spf_absent; /* no client to check (local mail): "none", left out of the headers */
	struct spf_check spf;
	/* Null MX of one domain */
	char *nullmx_domain;
	int nullmx;
	/* the message, and what verifying it found */
	const char *msg;
	size_t msglen;
	int verified;
	struct sdkim_sig *sigs;
	size_t nsigs;
	struct dmarc_eval dmarc;
};

struct ruleauth *ruleauth_new(const char *me)
{
	struct ruleauth *a = xcalloc(1, sizeof *a);
	a->me = xstrdup(me && *me ? me : "localhost");
	a->spf = (struct spf_check)SPF_CHECK_INIT;
	a->dmarc = (struct dmarc_eval)DMARC_EVAL_INIT;
	return a;
}

static void forget_spf(struct ruleauth *a)
{
	free(a->ip);
	free(a->helo);
	free(a->sender);
	a->ip = a->helo = a->sender = NULL;
	a->spf_done = a->spf_given = a->spf_absent = 0;
}

void ruleauth_free(struct ruleauth *a)
{
	if (!a)
		return;
	if (a->dns)
		dns_close(a->dns);
	for (size_t i = 0; i < a->ncache; i++) {
		free(a->cache[i].name);
		conf_list_free(&a->cache[i].list);
	}
	free(a->cache);
	forget_spf(a);
	spf_check_free(&a->spf);
	free(a->nullmx_domain);
	free(a->sigs);
	dmarc_eval_free(&a->dmarc);
	free(a->me);
	free(a);
}

/* the resolver, opened at the first question; -1 (why) when it cannot be */
static int need_dns(struct ruleauth *a, struct str *why)
{
	if (a->dns)
		return 0;
	struct str err = STR_INIT;
	struct conf_list limits = CONF_LIST_INIT;
	if (!a->dns_broken) {
		if (conf_list_read("limits", &limits) < 0)
			str_copys(&err, "unable to read limits");
		else
			a->dns = dns_open(&limits, &err);
		conf_list_free(&limits);
		if (!a->dns) {
			log_line("event=dns-fail reason=\"resolver setup: %s\"", str_c(&err));
			a->dns_broken = 1;
		}
	}
	str_free(&err);
	if (!a->dns && why)
		str_copys(why, "no DNS resolver");
	return a->dns ? 0 : -1;
}

static int same(const char *x, const char *y)
{
	return (!x && !y) || (x && y && strcmp(x, y) == 0);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void ruleauth_envelope(struct ruleauth *a, const char *ip, const char *helo, const char *sender,
		       const char *spf_result)
{
	int given = spf_result && spf_result_parse(spf_result) >= 0;
	if (same(ip, a->ip) && same(helo, a->helo) && same(sender, a->sender) && given == a->spf_given)
		return;
	forget_spf(a);
	a->ip = dup_or_null(ip);
	a->helo = dup_or_null(helo);
	a->sender = dup_or_null(sender);
	a->spf_given = given;
}

void ruleauth_message(struct ruleauth *a, const char *msg, size_t len)
{
	a->msg = msg;
	a->msglen = len;
	a->verified = 0;
}

/* ---------- DNS for dnsbl, dnswl, rdns, fcrdns ---------- */

static void add_item(struct conf_list *l, const char *s)
{
	l->item = xreallocarray(l->item, l->n + 1, sizeof *l->item);
	l->item[l->n++] = xstrdup(s);
}

/* 1 records, 0 none, -1 failure */
static int lookup(struct ruleauth *a, const char *name, int type, struct conf_list *out)
{
	if (need_dns(a, NULL) < 0)
		return -1;
	struct str err = STR_INIT;
	int st;
	if (type == RULES_DNS_PTR) {
		struct dns_ip ip;
		struct dns_strs names = DNS_STRS_INIT;
		if (dns_ip_parse(name, &ip) < 0)
			return 0;
		st = dns_ptr(a->dns, &ip, &names, &err);
		for (size_t i = 0; st == DNS_OK && i < names.n && out->n < RULEAUTH_ANSWERS_MAX; i++)
			add_item(out, names.s[i]);
		dns_strs_free(&names);
	} else {
		struct dns_ips ips = DNS_IPS_INIT;
		st = dns_addrs(a->dns, name, type == RULES_DNS_AAAA ? AF_INET6 : AF_INET, &ips, &err);
		for (size_t i = 0; st == DNS_OK && i < ips.n && out->n < RULEAUTH_ANSWERS_MAX; i++) {
			char buf[46];
			dns_ip_format(&ips.ip[i], buf);
			add_item(out, buf);
		}
		dns_ips_free(&ips);
	}
	if (st == DNS_TEMP)
		log_line("event=dns-fail name=%s reason=\"%s\"", name, str_c(&err));
	str_free(&err);
	return st == DNS_TEMP ? -1 : out->n > 0;
}

int ruleauth_resolve(void *arg, const char *name, int type, struct conf_list *out)
{
	struct ruleauth *a = arg;
	struct answer *hit = NULL;
	for (size_t i = 0; i < a->ncache && !hit; i++)
		if (a->cache[i].type == type && strcasecmp(a->cache[i].name, name) == 0)
			hit = &a->cache[i];
	if (!hit) {
		struct answer n = { xstrdup(name), type, 0, CONF_LIST_INIT };
		n.result = lookup(a, name, type, &n.list);
		if (n.result < 0) { /* failures are not remembered: a later stage may ask again */
			free(n.name);
			conf_list_free(&n.list);
			return -1;
		}
		a->cache = xreallocarray(a->cache, a->ncache + 1, sizeof *a->cache);
		a->cache[a->ncache] = n;
		hit = &a->cache[a->ncache++];
	}
	for (size_t k = 0; k < hit->list.n; k++)
		add_item(out, hit->list.item[k]);
	return hit->result;
}

/* ---------- SPF, DKIM, DMARC ---------- */

/*
 * The SPF result: given upstream, or computed once.  Mail without a client
 * address (local submission) has none to check: "none".  -1 (why) only
 * when the resolver cannot be set up.
 */
static int need_spf(struct ruleauth *a, struct str *why)
{
	if (a->spf_done)
		return 0;
	if (a->spf_given && spf_from_env(&a->spf) == 0) {
		a->spf_done = 1;
		return 0;
	}
	/* libspf2 mishandles IPv4-mapped IPv6: give it the IPv4 form */
	const char *ip = a->ip ? a->ip : "";
	if (strncasecmp(ip, "::ffff:", 7) == 0 && strchr(ip + 7, '.'))
		ip += 7;
	struct dns_ip parsed;
	if (dns_ip_parse(ip, &parsed) < 0) {
		a->spf.result = SPFR_NONE;
		a->spf_absent = a->spf_done = 1;
		return 0;
	}
	if (need_dns(a, why) < 0)
		return -1;
	if (spf_check(a->dns, ip, a->helo ? a->helo : "", a->sender ? a->sender : "", a->me, &a->spf) < 0) {
		a->spf.result = SPFR_NONE;
		a->spf_absent = a->spf_done = 1;
		return 0;
	}
	log_line("event=spf result=%s identity=%s domain=%s client=%s", spf_result_name(a->spf.result),
		 a->spf.identity, str_c(&a->spf.domain), a->ip);
	a->spf_done = 1;
	return 0;
}

struct verify {
	struct sdkim *dkim;
	int broken;
	char **from;
	size_t nfrom;
};

static int v_header(void *arg, const char *f, size_t n)
{
	struct verify *v = arg;
	if (!v->broken && sdkim_header(v->dkim, f, n) < 0)
		v->broken = 1;
	if (msgfeed_is(f, n, "From")) {
		size_t at = msgfeed_name_len(f, n) + 1;
		dmarc_from_domains(f + at, n - at, &v->from, &v->nfrom);
	}
	return 0;
}

static int v_eoh(void *arg)
{
	struct verify *v = arg;
	if (!v->broken && sdkim_eoh(v->dkim) < 0)
		v->broken = 1;
	return 0;
}

static int v_body(void *arg, const char *b, size_t n)
{
	struct verify *v = arg;
	if (!v->broken && sdkim_body(v->dkim, b, n) < 0)
		v->broken = 1;
	return 0;
}

static const struct msgfeed_ops verify_ops = { v_header, v_eoh, v_body };

/* DKIM and DMARC of the message, once; -1 (why) when they cannot be had */
static int need_verify(struct ruleauth *a, struct str *why)
{
	if (a->verified)
		return 0;
	if (!a->msg && a->msglen) {
		str_copys(why, "no message to verify");
		return -1;
	}
	if (need_dns(a, why) < 0)
		return -1;
	struct publicsuffix *psl = publicsuffix_load(NULL);
	if (!psl) {
		str_copys(why, "unable to read the Public Suffix List");
		return -1;
	}
	struct spf_check none = SPF_CHECK_INIT;
	const struct spf_check *spf = &none;
	if (need_spf(a, why) < 0)
		return -1;
	if (!a->spf_absent)
		spf = &a->spf;
	struct verify v = { sdkim_verify_new(a->dns), 0, NULL, 0 };
	if (!v.dkim) {
		publicsuffix_free(psl);
		str_copys(why, "unable to start DKIM verification");
		return -1;
	}
	struct msgfeed f;
	msgfeed_init(&f, &verify_ops, &v, MAX_FIELD);
	if (msgfeed_push(&f, a->msg ? a->msg : "", a->msglen) < 0 || msgfeed_end(&f) < 0)
		v.broken = 1;
	msgfeed_free(&f);
	free(a->sigs);
	a->sigs = NULL;
	a->nsigs = 0;
	if (!v.broken && sdkim_verify_eom(v.dkim, &a->sigs, &a->nsigs) < 0)
		a->nsigs = 0;
	const char **pass = xcalloc(a->nsigs + 1, sizeof *pass);
	size_t npass = 0;
	for (size_t i = 0; i < a->nsigs; i++) {
		log_line("event=dkim result=%s d=%s s=%s a=%s", sdkim_result_name(a->sigs[i].result), a->sigs[i].domain,
			 a->sigs[i].selector, a->sigs[i].alg);
		if (a->sigs[i].result == SDKIM_PASS)
			pass[npass++] = a->sigs[i].domain;
	}
	struct dmarc_input in = { (const char *const *)v.from, v.nfrom, spf->result,
				  spf == &a->spf ? spf->domain.s : NULL, pass, npass };
	dmarc_eval_free(&a->dmarc);
	a->dmarc = (struct dmarc_eval)DMARC_EVAL_INIT;
	dmarc_evaluate(a->dns, psl, &in, &a->dmarc);
	log_line("event=dmarc result=%s from=%s policy=%s disposition=%s", dmarc_result_name(a->dmarc.result),
		 str_c(&a->dmarc.from_domain), dmarc_policy_name(a->dmarc.policy),
		 dmarc_policy_name(a->dmarc.disposition));
	free(pass);
	dmarc_domains_free(v.from, v.nfrom);
	sdkim_free(v.dkim);
	publicsuffix_free(psl);
	a->verified = 1;
	return 0;
}

static int null_mx(struct ruleauth *a, const char *domain, struct conf_list *values, struct str *why)
{
	if (!a->nullmx_domain || strcasecmp(a->nullmx_domain, domain) != 0) {
		if (need_dns(a, why) < 0)
			return -1;
		struct str err = STR_INIT;
		int r = dns_null_mx(a->dns, domain, &err);
		if (r < 0) {
			str_copyb(why, "", 0);
			str_catf(why, "MX lookup of %s failed: %s", domain, str_c(&err));
			str_free(&err);
			return -1;
		}
		str_free(&err);
		free(a->nullmx_domain);
		a->nullmx_domain = xstrdup(domain);
		a->nullmx = r;
	}
	add_item(values, a->nullmx ? "yes" : "no");
	return 0;
}

int ruleauth_fact(void *arg, int what, const char *domain, struct conf_list *values, struct str *why)
{
	struct ruleauth *a = arg;
	switch (what) {
	case RULES_AUTH_SPF:
		if (need_spf(a, why) < 0)
			return -1;
		add_item(values, spf_result_name(a->spf.result));
		return 0;
	case RULES_AUTH_NULL_MX:
		return null_mx(a, domain, values, why);
	}
	if (need_verify(a, why) < 0)
		return -1;
	if (what == RULES_AUTH_DMARC)
		add_item(values, dmarc_result_name(a->dmarc.result));
	else if (what == RULES_AUTH_DMARC_POLICY)
		add_item(values, dmarc_policy_name(a->dmarc.disposition));
	else {
		size_t before = values->n;
		for (size_t i = 0; i < a->nsigs; i++)
			if (!domain || strcasecmp(domain, a->sigs[i].domain) == 0)
				add_item(values, sdkim_result_name(a->sigs[i].result));
		if (values->n == before)
			add_item(values, "none");
	}
	return 0;
}

/* ---------- the eom actions ---------- */

int ruleauth_headers(struct ruleauth *a, struct str *hdr, struct str *why)
{
	if (need_verify(a, why) < 0)
		return -1;
	if (need_spf(a, why) < 0)
		return -1;
	int have_spf = !a->spf_absent;
	struct str out = STR_INIT, field = STR_INIT;
	struct authres_in in = { have_spf ? &a->spf : NULL, a->sigs, a->nsigs, 1, &a->dmarc };
	authres_header(a->me, &in, &out);
	if (have_spf) {
		spf_received_header(&a->spf, a->ip ? a->ip : "", a->helo ? a->helo : "", a->sender ? a->sender : "",
				    a->me, &field);
		str_catb(&out, field.s, field.len);
	}
	str_free(&field);
	size_t pos = 0, removed = 0;
	struct header_field f;
	const char *h = str_c(hdr);
	while (header_next(h, hdr->len, &pos, &f)) {
		size_t n = f.rawlen;
		while (n && (f.raw[n - 1] == '\n' || f.raw[n - 1] == '\r'))
			n--;
		if (header_name_is(&f, "Authentication-Results") && authres_is_ours(f.raw, n, a->me)) {
			removed++;
			continue;
		}
		str_catb(&out, f.raw, f.rawlen);
	}
	if (removed)
		log_line("event=authres-removed count=%zu", removed);
	str_copyb(hdr, str_c(&out), out.len);
	str_free(&out);
	return 0;
}

int ruleauth_sign(struct ruleauth *a, const struct str *hdr, const char *body, size_t blen, struct str *sigs,
		  struct str *domain, struct str *why)
{
	char **from = NULL;
	size_t nfrom = 0;
	struct header_field f;
	const char *h = hdr->s ? hdr->s : "";
	if (header_find(h, hdr->len, "From", &f))
		dmarc_from_domains(f.value, f.valuelen, &from, &nfrom);
	struct sdkim_key keys[MAX_SIGN_KEYS];
	size_t n = 0;
	str_copys(domain, "");
	if (nfrom) {
		str_copys(domain, from[0]);
		n = sdkim_keys_for(from[0], keys, MAX_SIGN_KEYS);
	}
	const char *at = a->sender ? strrchr(a->sender, '@') : NULL;
	if (n == 0 && at && at[1]) {
		if (!nfrom)
			str_copys(domain, at + 1);
		if ((n = sdkim_keys_for(at + 1, keys, MAX_SIGN_KEYS)) > 0)
			str_copys(domain, at + 1);
	}
	dmarc_domains_free(from, nfrom);
	int r = n > 0;
	for (size_t i = 0; i < n && r > 0; i++)
		if (dkimsign_file(domain->s, keys[i].selector, keys[i].keyfile.s, keys[i].alg, hdr->s, hdr->len, body,
				  blen, sigs, why) < 0)
			r = -1;
	sdkim_keys_free(keys, n);
	return r;
}
