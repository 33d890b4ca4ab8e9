/*
 * dmarc.c - DMARC policy discovery, alignment and disposition (dmarc.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "conf.h"
#include "dmarc.h"
#include "msgfeed.h"

const char *dmarc_result_name(enum dmarc_res r)
{
	static const char *const n[] = { "none", "pass", "fail", "temperror", "permerror" };
	return (unsigned)r < 5 ? n[r] : "permerror";
}

const char *dmarc_policy_name(enum dmarc_policy p)
{
	static const char *const n[] = { "none", "quarantine", "reject" };
	return (unsigned)p < 3 ? n[p] : "none";
}

static int policy_value(const char *v, size_t n, enum dmarc_policy *p)
{
	if (n == 4 && strncasecmp(v, "none", 4) == 0)
		*p = DMARC_P_NONE;
	else if (n == 10 && strncasecmp(v, "quarantine", 10) == 0)
		*p = DMARC_P_QUARANTINE;
	else if (n == 6 && strncasecmp(v, "reject", 6) == 0)
		*p = DMARC_P_REJECT;
	else
		return -1;
	return 0;
}

static int tag_is(const char *k, size_t kl, const char *name)
{
	return kl == strlen(name) && strncasecmp(k, name, kl) == 0;
}

/* RFC 7489 6.3 and 6.6.3: tag=value pairs split by ';', v=DMARC1 first */
int dmarc_parse(const char *txt, struct dmarc_record *r)
{
	int have_p = 0, have_sp = 0, have_rua = 0, first = 1;
	r->p = r->sp = DMARC_P_NONE;
	r->pct = 100;
	r->adkim_strict = r->aspf_strict = 0;
	for (const char *s = txt;;) {
		const char *end = strchr(s, ';');
		size_t tl = end ? (size_t)(end - s) : strlen(s);
		const char *t = s;
		conf_trim(&t, &tl);
		const char *eq = tl ? memchr(t, '=', tl) : NULL;
		if (eq) {
			const char *k = t, *v = eq + 1;
			size_t kl = (size_t)(eq - t), vl = tl - kl - 1;
			conf_trim(&k, &kl);
			conf_trim(&v, &vl);
			if (first) {
				/* the version tag comes first and is exactly DMARC1 */
				if (!(kl == 1 && *k == 'v' && vl == 6 && strncmp(v, "DMARC1", 6) == 0))
					return -1;
				first = 0;
			} else if (tag_is(k, kl, "p")) {
				have_p = policy_value(v, vl, &r->p) == 0;
			} else if (tag_is(k, kl, "sp")) {
				have_sp = policy_value(v, vl, &r->sp) == 0;
			} else if (tag_is(k, kl, "pct")) {
				unsigned long long n;
				if (scan_ull(v, vl, &n) && n <= 100)
					r->pct = (unsigned)n;
			} else if (tag_is(k, kl, "adkim") && vl == 1) {
				r->adkim_strict = (*v == 's' || *v == 'S');
			} else if (tag_is(k, kl, "aspf") && vl == 1) {
				r->aspf_strict = (*v == 's' || *v == 'S');
			} else if (tag_is(k, kl, "rua") && vl) {
				have_rua = 1;
			}
		} else if (tl || first) {
			return -1;
		}
		if (!end)
			break;
		s = end + 1;
	}
	if (!have_p) {
		/* 6.6.3 step 6: no valid p= but a rua= reads as p=none */
		if (!have_rua)
			return -1;
		r->p = DMARC_P_NONE;
	}
	if (!have_sp)
		r->sp = r->p;
	return 0;
}

/*
 * The DMARC record at _dmarc.<domain>: 0 one found, 1 none there, 2 more
 * than one (policy discovery ends, 6.6.3 step 5), 3 one without a usable
 * policy (no DMARC processing, 6.6.3 step 6), -1 temporary failure.
 */
static int fetch(struct dns *dns, const char *domain, struct dmarc_record *r)
{
	struct str name = STR_INIT, err = STR_INIT;
	struct dns_strs txt = DNS_STRS_INIT;
	str_copys(&name, "_dmarc.");
	str_cats(&name, domain);
	/* no such name holds no record; only a temporary failure stops discovery */
	int st = dns_txt(dns, name.s, &txt, &err);
	str_free(&name);
	str_free(&err);
	if (st == DNS_TEMP)
		return -1;
	int found = 0, usable = 0;
	for (size_t i = 0; i < txt.n; i++) {
		struct dmarc_record one;
		const char *t = txt.s[i];
		if (strncmp(t, "v=DMARC1", 8) != 0)
			continue;
		found++;
		if (dmarc_parse(t, &one) == 0) {
			*r = one;
			usable++;
		}
	}
	dns_strs_free(&txt);
	if (found == 0)
		return 1;
	if (found > 1)
		return 2;
	return usable ? 0 : 3;
}

static int aligned(const struct publicsuffix *psl, const char *from, const char *other, int strict)
{
	if (!other || !*other)
		return 0;
	if (strcasecmp(from, other) == 0)
		return 1;
	if (strict)
		return 0;
	struct str a = STR_INIT, b = STR_INIT;
	publicsuffix_org_domain(psl, from, &a);
	publicsuffix_org_domain(psl, other, &b);
	int same = strcmp(a.s, b.s) == 0;
	str_free(&a);
	str_free(&b);
	return same;
}

/* below a policy, for pct sampling (6.6.4) */
static enum dmarc_policy lower(enum dmarc_policy p)
{
	return p == DMARC_P_REJECT ? DMARC_P_QUARANTINE : DMARC_P_NONE;
}

static void evaluate_one(struct dns *dns, const struct publicsuffix *psl, const struct dmarc_input *in,
			 const char *from, struct dmarc_eval *out)
{
	struct dmarc_record rec;
	struct str org = STR_INIT;
	str_copys(&out->from_domain, from);
	str_copys(&out->policy_domain, "");
	out->spf_aligned = out->dkim_aligned = 0;
	out->policy = out->disposition = DMARC_P_NONE;
	out->problem = "";

	int below_org = 0;
	int r = fetch(dns, from, &rec);
	if (r == 0) {
		str_copys(&out->policy_domain, from);
	} else if (r == 1) {
		publicsuffix_org_domain(psl, from, &org);
		if (strcmp(org.s, from) != 0) {
			r = fetch(dns, org.s, &rec);
			if (r == 0) {
				str_copys(&out->policy_domain, org.s);
				below_org = 1;
			}
		}
	}
	str_free(&org);
	if (r < 0) {
		out->result = DMARCR_TEMPERROR;
		out->problem = "DNS failure looking up the policy";
		return;
	}
	if (r == 2 || r == 3) {
		out->result = DMARCR_NONE;
		out->problem = r == 2 ? "several DMARC records" : "DMARC record without a usable policy";
		return;
	}
	if (r == 1) {
		out->result = DMARCR_NONE;
		out->problem = "no DMARC record";
		return;
	}
	out->policy = below_org ? rec.sp : rec.p;
	if (in->spf == SPFR_PASS)
		out->spf_aligned = aligned(psl, from, in->spf_domain, rec.aspf_strict);
	for (size_t i = 0; i < in->n_dkim && !out->dkim_aligned; i++)
		out->dkim_aligned = aligned(psl, from, in->dkim_pass[i], rec.adkim_strict);
	if (out->spf_aligned || out->dkim_aligned) {
		out->result = DMARCR_PASS;
		out->disposition = DMARC_P_NONE;
		return;
	}
	out->result = DMARCR_FAIL;
	out->disposition = out->policy;
	if (rec.pct < 100 && arc4random_uniform(100) >= rec.pct)
		out->disposition = lower(out->policy);
}

/* which of two evaluations is the one to report (6.6.1: the strictest failing) */
static int worse(const struct dmarc_eval *a, const struct dmarc_eval *b)
{
	static const int rank[] = { [DMARCR_NONE] = 1, [DMARCR_PASS] = 2, [DMARCR_PERMERROR] = 3,
				    [DMARCR_TEMPERROR] = 4, [DMARCR_FAIL] = 5 };
	if (rank[a->result] != rank[b->result])
		return rank[a->result] > rank[b->result];
	return a->policy > b->policy;
}

static void eval_copy(struct dmarc_eval *dst, const struct dmarc_eval *src)
{
	dst->result = src->result;
	str_copys(&dst->from_domain, str_c((struct str *)&src->from_domain));
	str_copys(&dst->policy_domain, str_c((struct str *)&src->policy_domain));
	dst->policy = src->policy;
	dst->disposition = src->disposition;
	dst->spf_aligned = src->spf_aligned;
	dst->dkim_aligned = src->dkim_aligned;
	dst->problem = src->problem;
}

void dmarc_evaluate(struct dns *dns, const struct publicsuffix *psl, const struct dmarc_input *in,
		    struct dmarc_eval *out)
{
	out->result = DMARCR_PERMERROR;
	out->policy = out->disposition = DMARC_P_NONE;
	out->spf_aligned = out->dkim_aligned = 0;
	str_copys(&out->from_domain, "");
	str_copys(&out->policy_domain, "");
	out->problem = "no author domain in From";
	int have = 0;
	for (size_t i = 0; i < in->n_from; i++) {
		int seen = 0;
		for (size_t j = 0; j < i; j++)
			seen |= strcasecmp(in->from_domains[i], in->from_domains[j]) == 0;
		if (seen || !*in->from_domains[i])
			continue;
		struct dmarc_eval one = DMARC_EVAL_INIT;
		evaluate_one(dns, psl, in, in->from_domains[i], &one);
		if (!have || worse(&one, out))
			eval_copy(out, &one);
		have = 1;
		dmarc_eval_free(&one);
	}
}

void dmarc_eval_free(struct dmarc_eval *e)
{
	str_free(&e->from_domain);
	str_free(&e->policy_domain);
}

/*
 * A small RFC 5322 address-list reader: comments, quoted strings, display
 * names, angle addresses and groups; it keeps the domain after the last
 * '@' of each address.  Domain literals and obsolete routes are left as
 * they come: they never match a DMARC record anyway.
 */
size_t dmarc_from_domains(const char *v, size_t len, char ***list, size_t *n)
{
	size_t found = 0;
	struct str cur = STR_INIT; /* the current address's domain candidate */
	int have_at = 0, in_angle = 0;
	size_t i = 0;
	for (;;) {
		char c = i < len ? v[i] : ',';
		if (c == '(') {
			i = msgfeed_skip_comment(v, len, i);
			continue;
		}
		if (c == '"') {
			for (i++; i < len && v[i] != '"'; i++)
				if (v[i] == '\\')
					i++;
			i++;
			continue;
		}
		if (c == '<') {
			in_angle = 1;
			have_at = 0;
			str_copys(&cur, "");
		} else if (c == '@') {
			have_at = 1;
			str_copys(&cur, "");
		} else if (c == '>' || ((c == ',' || c == ';' || c == ':') && !in_angle)) {
			if (c == ':' && !have_at) {
				/* a group name ends here */
				str_copys(&cur, "");
			} else if (have_at && cur.len) {
				str_lower(&cur);
				*list = xreallocarray(*list, *n + 1, sizeof **list);
				(*list)[(*n)++] = xstrdup(cur.s);
				found++;
			}
			have_at = 0;
			in_angle = 0;
			str_copys(&cur, "");
			if (i >= len)
				break;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			/* folding: a domain has no spaces, so they end nothing */
		} else if (have_at) {
			str_catc(&cur, c);
		}
		i++;
	}
	str_free(&cur);
	return found;
}

void dmarc_domains_free(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}
