/*
 * authdns.h - the DNS resolver the email-authentication code (SPF, DKIM
 * keys, DMARC policies, Null MX) asks, built on ldns.
 *
 * The nameservers come from the configuration file `nameservers` (lines
 * "IP" or "IP PORT"; ldns keeps one port per resolver, so the first line's
 * port applies to all), else from /etc/resolv.conf.  The `limits` file may
 * set dns_timeout (seconds per try, default 5) and dns_retries (default 2).
 *
 * Answers come back as a status that keeps apart what the protocols need
 * apart: a name that does not exist, a name with no records of the type,
 * and a failure to get any answer (temporary).
 */
#ifndef SLUICE_AUTHDNS_H
#define SLUICE_AUTHDNS_H
#include <stddef.h>

#include <ldns/ldns.h>

#include "str.h"

enum authdns_status {
	AUTHDNS_OK = 0,       /* records found */
	AUTHDNS_NODATA,       /* the name exists, no records of that type */
	AUTHDNS_NXDOMAIN,     /* the name does not exist (or cannot be a name) */
	AUTHDNS_TEMP,         /* timeout, SERVFAIL, refused, unparseable reply */
};

struct authdns;

/* a resolver from the configuration; NULL with errno when none can be made */
struct authdns *authdns_open(void);
void authdns_close(struct authdns *d);

/*
 * Query name/type.  On AUTHDNS_OK *rrs holds the answer records of that
 * type owned by the caller (ldns_rr_list_deep_free); CNAMEs are followed
 * by the recursive server and left out.  Otherwise *rrs is NULL.
 */
enum authdns_status authdns_query(struct authdns *d, const char *name, ldns_rr_type type,
				  ldns_rr_list **rrs);

/* TXT strings of one record joined, as RFC 7208 3.3 and RFC 6376 3.6.2.2 say */
void authdns_txt_join(const ldns_rr *rr, struct str *out);

/* TXT records of name, each joined; list holds n strings (free with authdns_txt_free) */
struct authdns_txt {
	struct str *rec;
	size_t n;
};
enum authdns_status authdns_txt(struct authdns *d, const char *name, struct authdns_txt *out);
void authdns_txt_free(struct authdns_txt *t);

/*
 * RFC 7505 4.2: does domain publish a Null MX (a single MX of preference 0
 * with the root as exchange)?  1 yes, 0 no (or no MX at all), -1 unknown
 * (temporary DNS failure).
 */
int authdns_null_mx(struct authdns *d, const char *domain);

#endif
