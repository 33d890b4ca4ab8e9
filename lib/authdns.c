/*
 * authdns.c - ldns resolver for SPF, DKIM, DMARC and Null MX (authdns.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "authdns.h"
#include "conf.h"
#include "log.h"

struct authdns {
	ldns_resolver *res;
};

/* "IP" or "IP PORT" from the nameservers file */
static int add_server(ldns_resolver *res, const char *line, unsigned *port)
{
	char ip[64];
	size_t n = strcspn(line, " \t");
	if (n == 0 || n >= sizeof ip)
		return -1;
	memcpy(ip, line, n);
	ip[n] = 0;
	const char *p = line + n;
	p += strspn(p, " \t");
	if (*p) {
		unsigned long long v;
		if (!scan_ull(p, strlen(p), &v) || v == 0 || v > 65535)
			return -1;
		if (*port == 0)
			*port = (unsigned)v;
	}
	ldns_rdf *a = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_A, ip);
	if (!a)
		a = ldns_rdf_new_frm_str(LDNS_RDF_TYPE_AAAA, ip);
	if (!a)
		return -1;
	ldns_status st = ldns_resolver_push_nameserver(res, a);
	ldns_rdf_deep_free(a);
	return st == LDNS_STATUS_OK ? 0 : -1;
}

struct authdns *authdns_open(void)
{
	struct conf_list ns = CONF_LIST_INIT, limits = CONF_LIST_INIT;
	ldns_resolver *res = NULL;
	unsigned port = 0;

	if (conf_list_read("nameservers", &ns) < 0)
		return NULL;
	if (ns.n) {
		res = ldns_resolver_new();
		if (!res) {
			conf_list_free(&ns);
			errno = ENOMEM;
			return NULL;
		}
		for (size_t i = 0; i < ns.n; i++)
			if (add_server(res, ns.item[i], &port) < 0)
				log_line("event=conf-error file=nameservers line=\"%s\"", ns.item[i]);
		if (ldns_resolver_nameserver_count(res) == 0) {
			ldns_resolver_deep_free(res);
			conf_list_free(&ns);
			errno = EINVAL;
			return NULL;
		}
		ldns_resolver_set_port(res, (uint16_t)(port ? port : 53));
	} else if (ldns_resolver_new_frm_file(&res, NULL) != LDNS_STATUS_OK) {
		conf_list_free(&ns);
		errno = ENOENT;
		return NULL;
	}
	conf_list_free(&ns);

	unsigned long long timeout = 5, retries = 2;
	if (conf_list_read("limits", &limits) == 0) {
		conf_limit(&limits, "dns_timeout", 5, &timeout);
		conf_limit(&limits, "dns_retries", 2, &retries);
	}
	conf_list_free(&limits);
	if (timeout == 0)
		timeout = 1;
	struct timeval tv = { (time_t)timeout, 0 };
	ldns_resolver_set_timeout(res, tv);
	ldns_resolver_set_retry(res, (uint8_t)(retries > 10 ? 10 : retries));
	ldns_resolver_set_recursive(res, true);
	ldns_resolver_set_defnames(res, false);
	ldns_resolver_set_dnsrch(res, false);
	ldns_resolver_set_fallback(res, true); /* truncated UDP: retry over TCP */
	ldns_resolver_set_random(res, false);

	struct authdns *d = xmalloc(sizeof *d);
	d->res = res;
	return d;
}

void authdns_close(struct authdns *d)
{
	if (!d)
		return;
	ldns_resolver_deep_free(d->res);
	free(d);
}

/*
 * The name as ldns reads it: a DNS label may hold any octet (SPF macros
 * can expand to spaces), so everything ldns would take as syntax is
 * written as \DDD.  Empty labels and overlong names are no names at all.
 */
static ldns_rdf *query_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > 254 || name[0] == '.' || strstr(name, ".."))
		return NULL;
	struct str esc = STR_INIT;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= ' ' || c >= 127 || strchr("\"();\\@$", c))
			str_catf(&esc, "\\%03u", c);
		else
			str_catc(&esc, (char)c);
	}
	ldns_rdf *r = ldns_dname_new_frm_str(esc.s);
	str_free(&esc);
	return r;
}

enum authdns_status authdns_query(struct authdns *d, const char *name, ldns_rr_type type,
				  ldns_rr_list **rrs)
{
	*rrs = NULL;
	ldns_rdf *qname = query_name(name);
	if (!qname)
		return AUTHDNS_NXDOMAIN;
	ldns_pkt *pkt = NULL;
	ldns_status st = ldns_resolver_query_status(&pkt, d->res, qname, type, LDNS_RR_CLASS_IN, LDNS_RD);
	ldns_rdf_deep_free(qname);
	if (st != LDNS_STATUS_OK || !pkt) {
		ldns_pkt_free(pkt);
		return AUTHDNS_TEMP;
	}
	enum authdns_status r;
	switch (ldns_pkt_get_rcode(pkt)) {
	case LDNS_RCODE_NOERROR:
		*rrs = ldns_pkt_rr_list_by_type(pkt, type, LDNS_SECTION_ANSWER);
		if (*rrs && ldns_rr_list_rr_count(*rrs) == 0) {
			ldns_rr_list_deep_free(*rrs);
			*rrs = NULL;
		}
		r = *rrs ? AUTHDNS_OK : AUTHDNS_NODATA;
		break;
	case LDNS_RCODE_NXDOMAIN:
		r = AUTHDNS_NXDOMAIN;
		break;
	default:
		r = AUTHDNS_TEMP;
		break;
	}
	ldns_pkt_free(pkt);
	return r;
}

void authdns_txt_join(const ldns_rr *rr, struct str *out)
{
	str_copys(out, "");
	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
		const ldns_rdf *f = ldns_rr_rdf(rr, i);
		const uint8_t *p = ldns_rdf_data(f);
		size_t n = ldns_rdf_size(f);
		if (n == 0)
			continue;
		size_t len = p[0];
		if (len > n - 1)
			len = n - 1;
		str_catb(out, p + 1, len);
	}
}

enum authdns_status authdns_txt(struct authdns *d, const char *name, struct authdns_txt *out)
{
	ldns_rr_list *rrs;
	out->rec = NULL;
	out->n = 0;
	enum authdns_status st = authdns_query(d, name, LDNS_RR_TYPE_TXT, &rrs);
	if (st != AUTHDNS_OK)
		return st;
	size_t n = ldns_rr_list_rr_count(rrs);
	out->rec = xcalloc(n, sizeof *out->rec);
	for (size_t i = 0; i < n; i++)
		authdns_txt_join(ldns_rr_list_rr(rrs, i), &out->rec[out->n++]);
	ldns_rr_list_deep_free(rrs);
	return AUTHDNS_OK;
}

void authdns_txt_free(struct authdns_txt *t)
{
	for (size_t i = 0; i < t->n; i++)
		str_free(&t->rec[i]);
	free(t->rec);
	t->rec = NULL;
	t->n = 0;
}

int authdns_null_mx(struct authdns *d, const char *domain)
{
	ldns_rr_list *rrs;
	enum authdns_status st = authdns_query(d, domain, LDNS_RR_TYPE_MX, &rrs);
	if (st == AUTHDNS_TEMP)
		return -1;
	if (st != AUTHDNS_OK)
		return 0;
	int null = 0;
	/* RFC 7505 3: a Null MX is the only MX of the domain */
	if (ldns_rr_list_rr_count(rrs) == 1) {
		const ldns_rr *rr = ldns_rr_list_rr(rrs, 0);
		const ldns_rdf *ex = ldns_rr_rdf(rr, 1);
		if (ldns_rr_rd_count(rr) == 2 && ldns_rdf2native_int16(ldns_rr_rdf(rr, 0)) == 0 && ex &&
		    ldns_dname_label_count(ex) == 0)
			null = 1;
	}
	ldns_rr_list_deep_free(rrs);
	return null;
}
