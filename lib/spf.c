/*
 * spf.c - SPF evaluation with libspf2 over sluice's DNS layer (spf.h).
 *
 * libspf2 asks its DNS layer for records; the layer here answers from
 * dns_query (dns.h), so SPF sees exactly the nameservers, limits and CNAME
 * handling the rest of sluice uses.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <spf2/spf.h>
#include <spf2/spf_dns.h>

#include "spf.h"

static const char *const names[] = {
	[SPFR_NONE] = "none",           [SPFR_NEUTRAL] = "neutral",
	[SPFR_PASS] = "pass",           [SPFR_FAIL] = "fail",
	[SPFR_SOFTFAIL] = "softfail",   [SPFR_TEMPERROR] = "temperror",
	[SPFR_PERMERROR] = "permerror",
};

const char *spf_result_name(enum spf_res r)
{
	return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "permerror";
}

int spf_result_parse(const char *name)
{
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcasecmp(name, names[i]) == 0)
			return (int)i;
	return -1;
}

/* a domain name as text without the final dot */
static void dname_text(const ldns_rdf *rdf, struct str *out)
{
	char *s = ldns_rdf2str(rdf);
	str_copys(out, s ? s : "");
	free(s);
	if (out->len > 1 && out->s[out->len - 1] == '.')
		str_truncate(out, out->len - 1);
}

static SPF_dns_rr_t *layer_lookup(SPF_dns_server_t *server, const char *domain, ns_type type,
				  int should_cache)
{
	(void)should_cache;
	struct dns *dns = server->hook;
	ldns_rr_list *rrs;
	/* RFC 7208 3.1 retired the SPF RR type: policies live in TXT only */
	if (type == ns_t_spf)
		return SPF_dns_rr_new_init(server, domain, type, 0, NO_DATA);
	struct str err = STR_INIT; /* libspf2 has its own words for failures */
	int st = dns_query(dns, domain, (ldns_rr_type)type, &rrs, &err);
	str_free(&err);
	if (st == DNS_PERM)
		return SPF_dns_rr_new_init(server, domain, type, 0, HOST_NOT_FOUND);
	if (st == DNS_TEMP)
		return SPF_dns_rr_new_init(server, domain, type, 0, TRY_AGAIN);
	if (ldns_rr_list_rr_count(rrs) == 0) {
		ldns_rr_list_deep_free(rrs);
		return SPF_dns_rr_new_init(server, domain, type, 0, NO_DATA);
	}
	SPF_dns_rr_t *rr = SPF_dns_rr_new_init(server, domain, type, 0, NETDB_SUCCESS);
	if (!rr) {
		ldns_rr_list_deep_free(rrs);
		return NULL;
	}
	struct str text = STR_INIT;
	int cnt = 0;
	for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
		const ldns_rr *r = ldns_rr_list_rr(rrs, i);
		const void *data;
		size_t len;
		switch (type) {
		case ns_t_a:
		case ns_t_aaaa:
			if (ldns_rr_rd_count(r) < 1)
				continue;
			data = ldns_rdf_data(ldns_rr_rdf(r, 0));
			len = ldns_rdf_size(ldns_rr_rdf(r, 0));
			if (len != (type == ns_t_a ? sizeof(struct in_addr) : sizeof(struct in6_addr)))
				continue;
			break;
		case ns_t_mx:
		case ns_t_ptr: {
			const ldns_rdf *f = ldns_rr_rdf(r, type == ns_t_mx ? 1 : 0);
			if (!f)
				continue;
			dname_text(f, &text);
			data = text.s;
			len = text.len + 1;
			break;
		}
		case ns_t_txt:
		case ns_t_spf:
			/* a NUL ends the record for libspf2, as it always did */
			dns_txt_join(r, &text);
			data = str_c(&text);
			len = text.len + 1;
			break;
		default:
			continue;
		}
		if (SPF_dns_rr_buf_realloc(rr, cnt, len) != SPF_E_SUCCESS)
			break;
		memcpy(rr->rr[cnt], data, len);
		cnt++;
	}
	str_free(&text);
	ldns_rr_list_deep_free(rrs);
	rr->num_rr = cnt;
	if (cnt == 0)
		rr->herrno = NO_DATA;
	return rr;
}

static void layer_destroy(SPF_dns_server_t *server)
{
	free(server);
}

static SPF_dns_server_t *layer_new(struct dns *dns)
{
	SPF_dns_server_t *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->destroy = layer_destroy;
	s->lookup = layer_lookup;
	s->name = "sluice-dns";
	s->hook = dns;
	return s;
}

/* keep what goes into replies and headers printable and short */
static void printable(const char *s, struct str *out)
{
	str_copys(out, "");
	for (; s && *s && out->len < 512; s++)
		str_catc(out, (unsigned char)*s >= ' ' && (unsigned char)*s < 127 ? *s : '?');
}

static void fail_result(struct spf_check *out, enum spf_res r, const char *why)
{
	out->result = r;
	str_copys(&out->problem, why);
}

int spf_check(struct dns *dns, const char *ip, const char *helo, const char *sender,
	      const char *receiver, struct spf_check *out)
{
	out->result = SPFR_NONE;
	str_copys(&out->explanation, "");
	str_copys(&out->problem, "");
	helo = helo ? helo : "";
	sender = sender ? sender : "";
	out->identity = *sender ? "mailfrom" : "helo";
	const char *at = strrchr(sender, '@');
	str_copys(&out->domain, *sender ? (at ? at + 1 : sender) : helo);
	str_lower(&out->domain);

	struct in_addr a4;
	struct in6_addr a6;
	int v6 = 0;
	if (inet_pton(AF_INET, ip, &a4) != 1) {
		if (inet_pton(AF_INET6, ip, &a6) != 1) {
			fail_result(out, SPFR_PERMERROR, "bad client address");
			return -1;
		}
		v6 = 1;
	}
	if (!*sender && !*helo) {
		fail_result(out, SPFR_NONE, "no identity to check");
		return 0;
	}

	SPF_dns_server_t *layer = layer_new(dns);
	SPF_server_t *server = layer ? SPF_server_new_dns(layer, 0) : NULL;
	SPF_request_t *req = server ? SPF_request_new(server) : NULL;
	if (!req) {
		if (server)
			SPF_server_free(server);
		free(layer);
		fail_result(out, SPFR_TEMPERROR, "out of memory");
		return 0;
	}
	if (receiver && *receiver)
		SPF_server_set_rec_dom(server, receiver);
	/* libspf2's default explanation points at a web site; say it plainly instead */
	SPF_response_t *exp_err = NULL;
	SPF_server_set_explanation(server, "%{i}%_is%_not%_allowed%_to%_send%_mail%_for%_%{d}", &exp_err);
	if (exp_err)
		SPF_response_free(exp_err);
	if (v6)
		SPF_request_set_ipv6(req, a6);
	else
		SPF_request_set_ipv4(req, a4);
	if (*helo)
		SPF_request_set_helo_dom(req, helo);

	struct str from = STR_INIT;
	if (*sender)
		str_copys(&from, sender);
	else
		str_catf(&from, "postmaster@%s", helo);
	SPF_response_t *resp = NULL;
	if (SPF_request_set_env_from(req, from.s) != 0) {
		fail_result(out, SPFR_NONE, "no domain in sender");
	} else {
		SPF_errcode_t e = SPF_request_query_mailfrom(req, &resp);
		SPF_result_t r = resp ? SPF_response_result(resp) : SPF_RESULT_INVALID;
		SPF_errcode_t code = resp ? SPF_response_errcode(resp) : e;
		/* the first error in the response says what went wrong; a DNS one is temporary */
		const char *msg = NULL;
		for (int i = 0; resp && i < SPF_response_messages(resp); i++) {
			SPF_error_t *err = SPF_response_message(resp, i);
			if (!SPF_error_errorp(err))
				continue;
			if (!msg) {
				msg = SPF_error_message(err);
				if (code == SPF_E_SUCCESS)
					code = SPF_error_code(err);
			}
			if (SPF_error_code(err) == SPF_E_DNS_ERROR)
				code = SPF_E_DNS_ERROR;
		}
		if ((r == SPF_RESULT_PERMERROR || r == SPF_RESULT_INVALID) && code == SPF_E_DNS_ERROR)
			r = SPF_RESULT_TEMPERROR;
		switch (r) {
		case SPF_RESULT_PASS: out->result = SPFR_PASS; break;
		case SPF_RESULT_FAIL: out->result = SPFR_FAIL; break;
		case SPF_RESULT_SOFTFAIL: out->result = SPFR_SOFTFAIL; break;
		case SPF_RESULT_NEUTRAL: out->result = SPFR_NEUTRAL; break;
		case SPF_RESULT_NONE: out->result = SPFR_NONE; break;
		case SPF_RESULT_TEMPERROR: out->result = SPFR_TEMPERROR; break;
		case SPF_RESULT_PERMERROR: out->result = SPFR_PERMERROR; break;
		default:
			out->result = code == SPF_E_DNS_ERROR ? SPFR_TEMPERROR : SPFR_PERMERROR;
			break;
		}
		if (out->result == SPFR_TEMPERROR || out->result == SPFR_PERMERROR)
			printable(msg ? msg : SPF_strerror(code), &out->problem);
		if (out->result == SPFR_FAIL && resp)
			printable(SPF_response_get_explanation(resp), &out->explanation);
	}
	str_free(&from);
	if (resp)
		SPF_response_free(resp);
	SPF_request_free(req);
	SPF_server_free(server);
	free(layer); /* a resolver given to SPF_server_new_dns is not the server's to free */
	return 0;
}

void spf_check_free(struct spf_check *c)
{
	str_free(&c->domain);
	str_free(&c->explanation);
	str_free(&c->problem);
}

/* key=value for a header: dot-atom text as it is, anything else quoted */
static void kv(struct str *out, const char *key, const char *val)
{
	int atom = *val != 0;
	for (const char *p = val; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~.:@", *p))
			atom = 0;
	str_catf(out, "\n\t%s=", key);
	if (atom) {
		str_cats(out, val);
		return;
	}
	str_catc(out, '"');
	for (const char *p = val; *p && p - val < 512; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\')
			str_catc(out, '\\');
		str_catc(out, c >= ' ' && c < 127 ? (char)c : '?');
	}
	str_catc(out, '"');
}

void spf_received_header(const struct spf_check *c, const char *ip, const char *helo,
			 const char *sender, const char *receiver, struct str *out)
{
	struct str d = STR_INIT;
	printable(c->domain.s ? c->domain.s : "", &d);
	struct str why = STR_INIT;
	switch (c->result) {
	case SPFR_PASS: str_catf(&why, "domain of %s designates %s as permitted sender", d.s, ip); break;
	case SPFR_FAIL: str_catf(&why, "domain of %s does not designate %s as permitted sender", d.s, ip); break;
	case SPFR_SOFTFAIL: str_catf(&why, "domain of %s discourages use of %s as sender", d.s, ip); break;
	case SPFR_NEUTRAL: str_catf(&why, "%s is neither permitted nor denied by domain of %s", ip, d.s); break;
	case SPFR_NONE: str_catf(&why, "domain of %s does not publish an SPF policy", d.s); break;
	case SPFR_TEMPERROR: str_catf(&why, "temporary error checking %s", d.s); break;
	case SPFR_PERMERROR: str_catf(&why, "permanent error in the policy of %s", d.s); break;
	}
	/* a parenthesis or backslash inside the comment would end or break it */
	for (size_t i = 0; i < why.len; i++)
		if (why.s[i] == '(' || why.s[i] == ')' || why.s[i] == '\\')
			why.s[i] = '_';
	str_copys(out, "Received-SPF: ");
	str_catf(out, "%s (%s: %s", spf_result_name(c->result), receiver && *receiver ? receiver : "localhost",
		 str_c(&why));
	str_free(&why);
	str_cats(out, ")");
	kv(out, "client-ip", ip);
	str_catc(out, ';');
	if (*sender) {
		kv(out, "envelope-from", sender);
		str_catc(out, ';');
	}
	if (helo && *helo) {
		kv(out, "helo", helo);
		str_catc(out, ';');
	}
	if (c->problem.len && (c->result == SPFR_TEMPERROR || c->result == SPFR_PERMERROR)) {
		kv(out, "problem", c->problem.s);
		str_catc(out, ';');
	}
	kv(out, "receiver", receiver && *receiver ? receiver : "localhost");
	str_catc(out, ';');
	kv(out, "identity", c->identity);
	str_cats(out, "\n");
	str_free(&d);
}

int spf_from_env(struct spf_check *out)
{
	const char *r = getenv("SPF_RESULT");
	if (!r || spf_result_parse(r) < 0)
		return -1;
	out->result = (enum spf_res)spf_result_parse(r);
	const char *d = getenv("SPF_DOMAIN");
	str_copys(&out->domain, d ? d : "");
	str_lower(&out->domain);
	const char *id = getenv("SPF_IDENTITY");
	out->identity = id && strcmp(id, "helo") == 0 ? "helo" : "mailfrom";
	return 0;
}
