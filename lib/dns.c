/*
 * dns.c - DNS lookups for mail over ldns (see dns.h).
 *
 * ldns does the wire work; this file decides what an answer means for
 * mail: which failures are permanent, how CNAMEs chain, how MX records
 * order, what a Null MX is.  Delivery and the authentication code (SPF,
 * DKIM, DMARC) share it, so both see the same servers, limits and
 * answers.  Nothing here is global: the random order among equal MX
 * preferences comes from getrandom(2) on every call.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "alloc.h"
#include "die.h"
#include "dns.h"

struct dns {
	ldns_resolver **res; /* asked in order */
	size_t n;
};

static void tune(ldns_resolver *r, unsigned long long timeout, unsigned long long retries)
{
	struct timeval tv = { (time_t)timeout, 0 };
	ldns_resolver_set_timeout(r, tv);
	/* ldns counts tries, not retries */
	ldns_resolver_set_retry(r, (uint8_t)(retries + 1));
	ldns_resolver_set_retrans(r, 1);
	ldns_resolver_set_random(r, false);
	ldns_resolver_set_recursive(r, true);
	ldns_resolver_set_defnames(r, false);
	ldns_resolver_set_dnsrch(r, false);
	ldns_resolver_set_fallback(r, true);
}

/* "IP" or "IP PORT" */
static ldns_resolver *server_line(const char *line, struct str *err)
{
	char ip[64];
	size_t i = 0;
	while (line[i] && !isspace((unsigned char)line[i]) && i < sizeof ip - 1) {
		ip[i] = line[i];
		i++;
	}
	ip[i] = '\0';
	const char *p = line + i;
	size_t plen = strlen(p);
	conf_trim(&p, &plen);
	unsigned long long port = 53;
	struct dns_ip addr;
	if (dns_ip_parse(ip, &addr) < 0 || (plen && (!scan_ull(p, plen, &port) || port == 0 || port > 65535))) {
		str_catf(err, "nameservers: bad line: %s", line);
		return NULL;
	}
	ldns_rdf *ns = addr.family == AF_INET ? ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4, addr.addr)
					     : ldns_rdf_new_frm_data(LDNS_RDF_TYPE_AAAA, 16, addr.addr);
	ldns_resolver *r = ldns_resolver_new();
	if (!ns || !r || ldns_resolver_push_nameserver(r, ns) != LDNS_STATUS_OK) {
		str_cats(err, "unable to set up resolver: out of memory");
		if (ns)
			ldns_rdf_deep_free(ns);
		if (r)
			ldns_resolver_deep_free(r);
		return NULL;
	}
	ldns_rdf_deep_free(ns); /* push_nameserver copies */
	ldns_resolver_set_port(r, (uint16_t)port);
	return r;
}

struct dns *dns_open(const struct conf_list *limits, struct str *err)
{
	static const struct conf_list none = CONF_LIST_INIT;
	unsigned long long timeout, retries;
	if (!limits)
		limits = &none;
	conf_limit(limits, "dns-timeout", 5, &timeout);
	conf_limit(limits, "dns-retries", 2, &retries);
	if (timeout == 0)
		timeout = 1;
	if (retries > 10)
		retries = 10;

	struct conf_list ns = CONF_LIST_INIT;
	if (conf_list_read("nameservers", &ns) < 0) {
		str_catf(err, "unable to read nameservers: %s", strerror(errno));
		return NULL;
	}
	struct dns *d = xcalloc(1, sizeof *d);
	if (ns.n) {
		d->res = xcalloc(ns.n, sizeof *d->res);
		for (size_t i = 0; i < ns.n; i++) {
			ldns_resolver *r = server_line(ns.item[i], err);
			if (!r) {
				conf_list_free(&ns);
				dns_close(d);
				return NULL;
			}
			d->res[d->n++] = r;
		}
	} else {
		ldns_resolver *r = NULL;
		ldns_status s = ldns_resolver_new_frm_file(&r, NULL);
		if (s != LDNS_STATUS_OK) {
			str_catf(err, "unable to read resolv.conf: %s", ldns_get_errorstr_by_id(s));
			conf_list_free(&ns);
			free(d);
			return NULL;
		}
		d->res = xcalloc(1, sizeof *d->res);
		d->res[d->n++] = r;
	}
	conf_list_free(&ns);
	for (size_t i = 0; i < d->n; i++)
		tune(d->res[i], timeout, retries);
	return d;
}

void dns_close(struct dns *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		ldns_resolver_deep_free(d->res[i]);
	free(d->res);
	free(d);
}

static const char *type_name(ldns_rr_type t)
{
	const ldns_rr_descriptor *desc = ldns_rr_descript((uint16_t)t);
	return desc && desc->_name ? desc->_name : "?";
}

/* a dname as lowercased text without the trailing dot ("" for the root) */
static char *dname_text(const ldns_rdf *rdf)
{
	char *s = ldns_rdf2str(rdf);
	if (!s)
		die_nomem();
	size_t n = strlen(s);
	if (n && s[n - 1] == '.')
		s[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		s[i] = (char)tolower((unsigned char)s[i]);
	char *r = xstrdup(s);
	free(s);
	return r;
}

/*
 * name as an absolute dname; NULL when it cannot be one.  A label may hold
 * any octet (SPF macros can expand to spaces), so everything ldns would
 * read as syntax is written as \DDD.  Empty labels and names over 253
 * octets are no names at all.
 */
static ldns_rdf *dname_of(const char *name)
{
	size_t n = strlen(name);
	if (n && name[n - 1] == '.')
		n--;
	if (n == 0 || n > 253 || name[0] == '.' || strstr(name, ".."))
		return NULL;
	struct str abs = STR_INIT;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= ' ' || c >= 127 || strchr("\"();\\@$", c))
			str_catf(&abs, "\\%03u", c);
		else
			str_catc(&abs, (char)c);
	}
	str_catc(&abs, '.');
	ldns_rdf *r = ldns_dname_new_frm_str(abs.s);
	str_free(&abs);
	return r;
}

/*
 * One question to the servers in order.  DNS_OK: *pkt holds a NOERROR
 * answer; DNS_PERM: NXDOMAIN; DNS_TEMP: nobody answered usefully.
 */
static int ask(struct dns *d, const ldns_rdf *name, ldns_rr_type t, ldns_pkt **pkt, struct str *err)
{
	const char *why = "no nameserver";
	char rcode[32];
	*pkt = NULL;
	for (size_t i = 0; i < d->n; i++) {
		ldns_pkt *p = NULL;
		ldns_status s = ldns_resolver_query_status(&p, d->res[i], name, t, LDNS_RR_CLASS_IN, LDNS_RD);
		if (s != LDNS_STATUS_OK || !p) {
			why = s == LDNS_STATUS_OK ? "no answer" : ldns_get_errorstr_by_id(s);
			if (p)
				ldns_pkt_free(p);
			continue;
		}
		ldns_pkt_rcode rc = ldns_pkt_get_rcode(p);
		if (rc == LDNS_RCODE_NOERROR) {
			*pkt = p;
			return DNS_OK;
		}
		if (rc == LDNS_RCODE_NXDOMAIN) {
			ldns_pkt_free(p);
			return DNS_PERM;
		}
		ldns_lookup_table *lt = ldns_lookup_by_id(ldns_rcodes, (int)rc);
		snprintf(rcode, sizeof rcode, "%s", lt ? lt->name : "bad rcode");
		why = rcode;
		ldns_pkt_free(p);
	}
	char *q = dname_text(name);
	str_catf(err, "DNS lookup of %s %s failed: %s", q, type_name(t), why);
	free(q);
	return DNS_TEMP;
}

/*
 * Records of type t for name, following CNAMEs inside an answer and, when
 * a chain ends without data, by asking again for its target.  *out holds
 * clones the caller frees (possibly empty: no data).
 */
int dns_query(struct dns *d, const char *name, ldns_rr_type t, ldns_rr_list **out, struct str *err)
{
	*out = NULL;
	ldns_rdf *cur = dname_of(name);
	if (!cur) {
		str_catf(err, "invalid domain name %s", name);
		return DNS_PERM;
	}
	int links = 0;
	for (;;) {
		ldns_pkt *pkt;
		int r = ask(d, cur, t, &pkt, err);
		if (r == DNS_PERM) {
			char *q = dname_text(cur);
			str_catf(err, "%s does not exist (NXDOMAIN)", q);
			free(q);
		}
		if (r != DNS_OK) {
			ldns_rdf_deep_free(cur);
			return r;
		}
		ldns_rr_list *ans = ldns_pkt_answer(pkt);
		size_t n = ans ? ldns_rr_list_rr_count(ans) : 0;
		/*
		 * Walk the chain as far as this answer goes.  A loop inside one
		 * answer is the server's settled word, permanent; a chain that
		 * outgrows DNS_CNAME_MAX over several questions is temporary,
		 * since separate answers may catch a zone in mid-change.
		 */
		const ldns_rdf *seen[DNS_CNAME_MAX + 1]; /* owners passed in this answer */
		size_t nseen = 0;
		int moved;
		do {
			moved = 0;
			for (size_t i = 0; i < n; i++) {
				ldns_rr *rr = ldns_rr_list_rr(ans, i);
				if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_CNAME || ldns_rr_rd_count(rr) < 1 ||
				    ldns_dname_compare(ldns_rr_owner(rr), cur) != 0)
					continue;
				int loop = 0;
				if (++links <= DNS_CNAME_MAX) {
					seen[nseen++] = ldns_rr_owner(rr);
					for (size_t k = 0; k < nseen; k++)
						if (ldns_dname_compare(ldns_rr_rdf(rr, 0), seen[k]) == 0)
							loop = 1;
				}
				if (loop || links > DNS_CNAME_MAX) {
					char *q = dname_text(cur);
					str_catf(err, loop ? "CNAME loop at %s" : "CNAME chain too long at %s", q);
					free(q);
					ldns_rdf_deep_free(cur);
					ldns_pkt_free(pkt);
					return loop ? DNS_PERM : DNS_TEMP;
				}
				ldns_rdf_deep_free(cur);
				cur = ldns_rdf_clone(ldns_rr_rdf(rr, 0));
				moved = 1;
				break;
			}
		} while (moved);
		ldns_rr_list *got = ldns_rr_list_new();
		for (size_t i = 0; i < n; i++) {
			ldns_rr *rr = ldns_rr_list_rr(ans, i);
			if (ldns_rr_get_type(rr) == t && ldns_dname_compare(ldns_rr_owner(rr), cur) == 0)
				ldns_rr_list_push_rr(got, ldns_rr_clone(rr));
		}
		int followed = links > 0;
		int cname_here = 0;
		for (size_t i = 0; i < n; i++)
			if (ldns_rr_get_type(ldns_rr_list_rr(ans, i)) == LDNS_RR_TYPE_CNAME)
				cname_here = 1;
		ldns_pkt_free(pkt);
		if (ldns_rr_list_rr_count(got) || !(followed && cname_here)) {
			ldns_rdf_deep_free(cur);
			*out = got;
			return DNS_OK;
		}
		/* the chain ended at a name this answer says nothing about */
		ldns_rr_list_deep_free(got);
	}
}

/* RFC 7505 3: an exchange that is the root names no host */
static int mx_root(const ldns_rr *rr)
{
	return ldns_rr_rd_count(rr) >= 2 && ldns_dname_label_count(ldns_rr_rdf(rr, 1)) == 0;
}

/* a Null MX: MX records, every one with the root as exchange */
static int mx_null(const ldns_rr_list *rrs)
{
	size_t n = ldns_rr_list_rr_count(rrs);
	for (size_t i = 0; i < n; i++)
		if (!mx_root(ldns_rr_list_rr(rrs, i)))
			return 0;
	return n > 0;
}

int dns_null_mx(struct dns *d, const char *domain, struct str *err)
{
	ldns_rr_list *rrs;
	struct str why = STR_INIT;
	int r = dns_query(d, domain, LDNS_RR_TYPE_MX, &rrs, &why);
	if (r == DNS_TEMP)
		str_cats(err, str_c(&why));
	str_free(&why);
	if (r != DNS_OK)
		return r == DNS_TEMP ? -1 : 0;
	int null = mx_null(rrs);
	ldns_rr_list_deep_free(rrs);
	return null;
}

static int cmp_mx(const void *a, const void *b)
{
	const struct dns_mx *x = a, *y = b;
	return x->pref < y->pref ? -1 : x->pref > y->pref;
}

int dns_mx(struct dns *d, const char *domain, struct dns_mxs *out, struct str *err)
{
	ldns_rr_list *rrs;
	out->mx = NULL;
	out->n = 0;
	out->implicit = 0;
	int r = dns_query(d, domain, LDNS_RR_TYPE_MX, &rrs, err);
	if (r != DNS_OK)
		return r;
	if (mx_null(rrs)) {
		ldns_rr_list_deep_free(rrs);
		str_catf(err, "556 5.1.10 domain %s does not accept mail (Null MX, RFC 7505)", domain);
		return DNS_PERM;
	}
	size_t n = ldns_rr_list_rr_count(rrs);
	if (n > DNS_MX_MAX)
		n = DNS_MX_MAX;
	out->mx = xcalloc(n ? n : 1, sizeof *out->mx);
	for (size_t i = 0; i < n; i++) {
		ldns_rr *rr = ldns_rr_list_rr(rrs, i);
		if (ldns_rr_rd_count(rr) < 2 || mx_root(rr))
			continue;
		out->mx[out->n].host = dname_text(ldns_rr_rdf(rr, 1));
		out->mx[out->n].pref = ldns_rdf2native_int16(ldns_rr_rdf(rr, 0));
		out->n++;
	}
	ldns_rr_list_deep_free(rrs);
	if (out->n == 0) {
		/* RFC 5321 5.1: no MX records, the domain is its own exchanger */
		out->mx[0].host = xstrdup(domain);
		size_t l = strlen(out->mx[0].host);
		if (l && out->mx[0].host[l - 1] == '.')
			out->mx[0].host[l - 1] = '\0';
		out->mx[0].pref = 0;
		out->n = 1;
		out->implicit = 1;
		return DNS_OK;
	}
	/* shuffle (Fisher-Yates), then a stable sort keeps the shuffle among equals */
	for (size_t i = out->n; i > 1; i--) {
		uint32_t rnd;
		if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
			rnd = (uint32_t)i * 2654435761u; /* no entropy: order still valid */
		size_t j = rnd % i;
		struct dns_mx t = out->mx[i - 1];
		out->mx[i - 1] = out->mx[j];
		out->mx[j] = t;
	}
	/* insertion sort: stable, and the list is short */
	for (size_t i = 1; i < out->n; i++) {
		struct dns_mx t = out->mx[i];
		size_t j = i;
		while (j > 0 && cmp_mx(&out->mx[j - 1], &t) > 0) {
			out->mx[j] = out->mx[j - 1];
			j--;
		}
		out->mx[j] = t;
	}
	return DNS_OK;
}

static int addrs_of(struct dns *d, const char *name, ldns_rr_type t, struct dns_ips *out, struct str *err)
{
	ldns_rr_list *rrs;
	int r = dns_query(d, name, t, &rrs, err);
	if (r != DNS_OK)
		return r;
	size_t n = ldns_rr_list_rr_count(rrs), want = t == LDNS_RR_TYPE_A ? 4 : 16, kept = 0;
	out->ip = xreallocarray(out->ip, out->n + (n ? n : 1), sizeof *out->ip);
	for (size_t i = 0; i < n && kept < DNS_ADDR_MAX; i++) {
		ldns_rr *rr = ldns_rr_list_rr(rrs, i);
		if (ldns_rr_rd_count(rr) < 1 || ldns_rdf_size(ldns_rr_rdf(rr, 0)) != want)
			continue;
		struct dns_ip *ip = &out->ip[out->n++];
		memset(ip, 0, sizeof *ip);
		ip->family = t == LDNS_RR_TYPE_A ? AF_INET : AF_INET6;
		memcpy(ip->addr, ldns_rdf_data(ldns_rr_rdf(rr, 0)), want);
		kept++;
	}
	ldns_rr_list_deep_free(rrs);
	return DNS_OK;
}

int dns_addrs(struct dns *d, const char *name, int family, struct dns_ips *out, struct str *err)
{
	out->ip = NULL;
	out->n = 0;
	if (family == AF_INET)
		return addrs_of(d, name, LDNS_RR_TYPE_A, out, err);
	if (family == AF_INET6)
		return addrs_of(d, name, LDNS_RR_TYPE_AAAA, out, err);
	struct str e6 = STR_INIT, e4 = STR_INIT;
	int r6 = addrs_of(d, name, LDNS_RR_TYPE_AAAA, out, &e6);
	int r4 = r6 == DNS_PERM ? DNS_PERM : addrs_of(d, name, LDNS_RR_TYPE_A, out, &e4);
	int r;
	if (out->n)
		r = DNS_OK; /* one family failing still leaves the other usable */
	else if (r6 == DNS_TEMP || r4 == DNS_TEMP)
		r = DNS_TEMP;
	else if (r6 == DNS_PERM)
		r = DNS_PERM;
	else
		r = DNS_OK;
	if (r != DNS_OK)
		str_cats(err, str_c(r6 != DNS_OK ? &e6 : &e4));
	str_free(&e6);
	str_free(&e4);
	return r;
}

static void strs_push(struct dns_strs *l, char *s)
{
	l->s = xreallocarray(l->s, l->n + 1, sizeof *l->s);
	l->s[l->n++] = s;
}

int dns_txt(struct dns *d, const char *name, struct dns_strs *out, struct str *err)
{
	ldns_rr_list *rrs;
	out->s = NULL;
	out->n = 0;
	int r = dns_query(d, name, LDNS_RR_TYPE_TXT, &rrs, err);
	if (r != DNS_OK)
		return r;
	struct str txt = STR_INIT;
	for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++)
		if (dns_txt_join(ldns_rr_list_rr(rrs, i), &txt) == 0) /* a NUL cannot go on as a C string */
			strs_push(out, xstrndup(str_c(&txt), txt.len));
	str_free(&txt);
	ldns_rr_list_deep_free(rrs);
	return DNS_OK;
}

int dns_txt_join(const ldns_rr *rr, struct str *out)
{
	int nul = 0;
	str_copys(out, "");
	for (size_t k = 0; k < ldns_rr_rd_count(rr); k++) {
		const ldns_rdf *f = ldns_rr_rdf(rr, k);
		const uint8_t *p = ldns_rdf_data(f);
		size_t sz = ldns_rdf_size(f);
		if (sz < 1)
			continue;
		size_t len = p[0] < sz - 1 ? p[0] : sz - 1; /* never past the rdata */
		if (memchr(p + 1, '\0', len))
			nul = 1;
		str_catb(out, p + 1, len);
	}
	return nul ? -1 : 0;
}

int dns_ptr(struct dns *d, const struct dns_ip *ip, struct dns_strs *out, struct str *err)
{
	static const char hex[] = "0123456789abcdef";
	struct str q = STR_INIT;
	out->s = NULL;
	out->n = 0;
	if (ip->family == AF_INET) {
		str_catf(&q, "%u.%u.%u.%u.in-addr.arpa", ip->addr[3], ip->addr[2], ip->addr[1], ip->addr[0]);
	} else {
		for (int i = 15; i >= 0; i--)
			str_catf(&q, "%c.%c.", hex[ip->addr[i] & 15], hex[ip->addr[i] >> 4]);
		str_cats(&q, "ip6.arpa");
	}
	ldns_rr_list *rrs;
	int r = dns_query(d, q.s, LDNS_RR_TYPE_PTR, &rrs, err);
	str_free(&q);
	if (r != DNS_OK)
		return r;
	for (size_t i = 0; i < ldns_rr_list_rr_count(rrs); i++) {
		ldns_rr *rr = ldns_rr_list_rr(rrs, i);
		if (ldns_rr_rd_count(rr) >= 1)
			strs_push(out, dname_text(ldns_rr_rdf(rr, 0)));
	}
	ldns_rr_list_deep_free(rrs);
	return DNS_OK;
}

void dns_mxs_free(struct dns_mxs *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->mx[i].host);
	free(m->mx);
	m->mx = NULL;
	m->n = 0;
}

void dns_ips_free(struct dns_ips *l)
{
	free(l->ip);
	l->ip = NULL;
	l->n = 0;
}

void dns_strs_free(struct dns_strs *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->s[i]);
	free(l->s);
	l->s = NULL;
	l->n = 0;
}

void dns_ip_format(const struct dns_ip *ip, char buf[46])
{
	if (!inet_ntop(ip->family, ip->addr, buf, 46))
		strcpy(buf, "?");
}

int dns_ip_parse(const char *s, struct dns_ip *ip)
{
	memset(ip, 0, sizeof *ip);
	if (inet_pton(AF_INET, s, ip->addr) == 1) {
		ip->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, ip->addr) == 1) {
		ip->family = AF_INET6;
		return 0;
	}
	return -1;
}
