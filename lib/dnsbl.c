/* dnsbl.c - ldns lookups for the rules' DNS conditions (see dnsbl.h). */
#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "dnsbl.h"
#include "log.h"
#include "str.h"

struct answer {
	char *name;
	int type;
	int result;
	struct conf_list list;
};

struct dnsbl {
	ldns_resolver *res; /* NULL until the first query; failed setup is remembered */
	int broken;
	struct answer *cache;
	size_t ncache;
};

struct dnsbl *dnsbl_new(void)
{
	return xcalloc(1, sizeof(struct dnsbl));
}

void dnsbl_free(struct dnsbl *d)
{
	if (!d)
		return;
	if (d->res)
		ldns_resolver_deep_free(d->res);
	for (size_t i = 0; i < d->ncache; i++) {
		free(d->cache[i].name);
		conf_list_free(&d->cache[i].list);
	}
	free(d->cache);
	free(d);
}

static int setup(struct dnsbl *d)
{
	if (d->res || d->broken)
		return d->res ? 0 : -1;
	struct str path = STR_INIT;
	conf_path("resolv.conf", &path);
	FILE *f = fopen(path.s, "r");
	ldns_status s;
	if (f) {
		fclose(f);
		s = ldns_resolver_new_frm_file(&d->res, path.s);
	} else
		s = ldns_resolver_new_frm_file(&d->res, NULL);
	if (s != LDNS_STATUS_OK) {
		log_line("event=dns-fail reason=\"resolver setup: %s\"", ldns_get_errorstr_by_id(s));
		d->res = NULL;
		d->broken = 1;
	} else {
		ldns_resolver_set_timeout(d->res, (struct timeval){ DNSBL_TIMEOUT, 0 });
		ldns_resolver_set_retry(d->res, 2);
		ldns_resolver_set_defnames(d->res, false); /* names are absolute: no search list */
		ldns_resolver_set_dnsrch(d->res, false);
	}
	str_free(&path);
	return d->res ? 0 : -1;
}

static int query(struct dnsbl *d, const char *name, int type, struct conf_list *out)
{
	if (setup(d) < 0)
		return -1;
	ldns_rdf *dn = ldns_dname_new_frm_str(name);
	if (!dn)
		return 0; /* not a domain name: nothing can be listed under it */
	ldns_pkt *p = NULL;
	ldns_status s = ldns_resolver_query_status(&p, d->res, dn, (ldns_rr_type)type, LDNS_RR_CLASS_IN, LDNS_RD);
	ldns_rdf_deep_free(dn);
	if (s != LDNS_STATUS_OK || !p) {
		log_line("event=dns-fail name=%s reason=\"%s\"", name, ldns_get_errorstr_by_id(s));
		if (p)
			ldns_pkt_free(p);
		return -1;
	}
	int r = -1;
	ldns_pkt_rcode rc = ldns_pkt_get_rcode(p);
	if (rc == LDNS_RCODE_NXDOMAIN)
		r = 0;
	else if (rc == LDNS_RCODE_NOERROR) {
		ldns_rr_list *rrs = ldns_pkt_rr_list_by_type(p, (ldns_rr_type)type, LDNS_SECTION_ANSWER);
		size_t n = rrs ? ldns_rr_list_rr_count(rrs) : 0;
		for (size_t i = 0; i < n && out->n < DNSBL_ANSWERS_MAX; i++) {
			ldns_rdf *rd = ldns_rr_rdf(ldns_rr_list_rr(rrs, i), 0);
			char *txt = rd ? ldns_rdf2str(rd) : NULL;
			if (!txt)
				continue;
			size_t l = strlen(txt);
			if (l > 1 && txt[l - 1] == '.')
				txt[l - 1] = '\0';
			out->item = xreallocarray(out->item, out->n + 1, sizeof *out->item);
			out->item[out->n++] = xstrdup(txt);
			free(txt);
		}
		if (rrs)
			ldns_rr_list_deep_free(rrs);
		r = out->n > 0;
	} else
		log_line("event=dns-fail name=%s reason=\"rcode %d\"", name, (int)rc);
	ldns_pkt_free(p);
	return r;
}

int dnsbl_resolve(void *arg, const char *name, int type, struct conf_list *out)
{
	struct dnsbl *d = arg;
	for (size_t i = 0; i < d->ncache; i++)
		if (d->cache[i].type == type && strcasecmp(d->cache[i].name, name) == 0) {
			for (size_t k = 0; k < d->cache[i].list.n; k++) {
				out->item = xreallocarray(out->item, out->n + 1, sizeof *out->item);
				out->item[out->n++] = xstrdup(d->cache[i].list.item[k]);
			}
			return d->cache[i].result;
		}
	struct answer a = { xstrdup(name), type, 0, CONF_LIST_INIT };
	a.result = query(d, name, type, &a.list);
	for (size_t k = 0; k < a.list.n; k++) {
		out->item = xreallocarray(out->item, out->n + 1, sizeof *out->item);
		out->item[out->n++] = xstrdup(a.list.item[k]);
	}
	if (a.result < 0) { /* failures are not remembered: a later stage may ask again */
		free(a.name);
		conf_list_free(&a.list);
		return -1;
	}
	d->cache = xreallocarray(d->cache, d->ncache + 1, sizeof *d->cache);
	d->cache[d->ncache++] = a;
	return a.result;
}
