/*
 * dns.h - the one DNS layer of sluice, over ldns: MX with implicit MX and
 * Null MX, A/AAAA, TXT and PTR for delivery, and for the authentication
 * code (SPF, DKIM keys, DMARC policies) a raw query handing back ldns
 * records, TXT string joining and the Null MX check.
 *
 * Every lookup answers with one of three outcomes, so callers never guess:
 *   DNS_OK    the answer is known (it may hold zero records: "no data"),
 *   DNS_PERM  the name does not exist (NXDOMAIN) or, for MX, mail to the
 *             domain can never be delivered (Null MX, no host at all),
 *   DNS_TEMP  the servers failed (SERVFAIL, REFUSED, timeout, garbage).
 * A text for logs and reports goes to err on DNS_PERM and DNS_TEMP.
 *
 * The resolver is the system's (/etc/resolv.conf), unless the configuration
 * file "nameservers" lists servers, one per line: "IP" or "IP PORT" (port
 * 53 when absent).  They are asked in order, each with the limits
 * "dns-timeout" (seconds per query, default 5) and "dns-retries" (default 2).
 * CNAME chains are followed (at most DNS_CNAME_MAX links), also when the
 * server does not follow them itself; a loop one answer shows is DNS_PERM.
 * Names are taken as absolute; a label may hold any octet (SPF macros can
 * expand to spaces), and a name that cannot be a DNS name (empty label,
 * over 253 octets) is DNS_PERM.
 */
#ifndef SLUICE_DNS_H
#define SLUICE_DNS_H
#include <stddef.h>

#include <ldns/ldns.h>

#include "conf.h"
#include "str.h"

enum dns_status { DNS_OK = 0, DNS_PERM = 1, DNS_TEMP = 2 };

#define DNS_CNAME_MAX 8
#define DNS_MX_MAX 64      /* MX records kept per domain */
#define DNS_ADDR_MAX 32    /* addresses kept per name and family */

struct dns; /* a resolver; opaque */

struct dns_ip {
	int family;              /* AF_INET or AF_INET6 */
	unsigned char addr[16];  /* network order; 4 bytes used for AF_INET */
};

struct dns_ips {
	struct dns_ip *ip;
	size_t n;
};
#define DNS_IPS_INIT { NULL, 0 }

struct dns_mx {
	char *host;         /* lowercased, no trailing dot */
	unsigned pref;
};

struct dns_mxs {
	struct dns_mx *mx;  /* by preference; equal preferences in random order */
	size_t n;
	int implicit;       /* no MX records: the domain itself (RFC 5321 5.1) */
};
#define DNS_MXS_INIT { NULL, 0, 0 }

/* a list of strings (TXT: one per record, its strings joined; PTR: names) */
struct dns_strs {
	char **s;
	size_t n;
};
#define DNS_STRS_INIT { NULL, 0 }

/*
 * The resolver of the configuration (see above).  limits may be NULL for
 * the defaults.  NULL with err set when neither nameservers nor the
 * system's resolver can be set up.
 */
struct dns *dns_open(const struct conf_list *limits, struct str *err);
void dns_close(struct dns *d);

/*
 * Mail exchangers of domain.  No MX records: one implicit entry, the domain
 * itself (implicit=1), when the domain exists.  A Null MX (RFC 7505: every
 * MX record has the root as exchange) is DNS_PERM with "556 5.1.10" in
 * err; root exchanges next to real ones are skipped.
 */
int dns_mx(struct dns *d, const char *domain, struct dns_mxs *out, struct str *err);
/* addresses of name; family AF_INET, AF_INET6, or AF_UNSPEC for both (AAAA first) */
int dns_addrs(struct dns *d, const char *name, int family, struct dns_ips *out, struct str *err);
/*
 * TXT records of name, the character-strings of each record concatenated
 * (dns_txt_join); a record holding a NUL is left out (no C string).
 */
int dns_txt(struct dns *d, const char *name, struct dns_strs *out, struct str *err);
/* PTR names (lowercased, no trailing dot) of an address */
int dns_ptr(struct dns *d, const struct dns_ip *ip, struct dns_strs *out, struct str *err);

/*
 * The records of type for name, for code that reads them itself (SPF).
 * The three outcomes keep apart what the protocols need apart:
 *   DNS_OK    *rrs holds the records, owned by the caller
 *             (ldns_rr_list_deep_free); empty when the name exists
 *             without records of the type (NODATA).  CNAMEs on the way
 *             are followed and left out.
 *   DNS_PERM  the name does not exist (NXDOMAIN), cannot be a name, or
 *             its CNAMEs loop within one answer,
 *   DNS_TEMP  no usable answer (timeout, SERVFAIL, REFUSED, a chain
 *             longer than DNS_CNAME_MAX over several questions).
 * *rrs is NULL unless DNS_OK.
 */
int dns_query(struct dns *d, const char *name, ldns_rr_type type, ldns_rr_list **rrs, struct str *err);
/*
 * The character-strings of one TXT record joined without separator, as
 * RFC 7208 3.3 and RFC 6376 3.6.2.2 say, into out (replacing it).
 * 0, or -1 when they hold a NUL (out then holds it too).
 */
int dns_txt_join(const ldns_rr *rr, struct str *out);
/*
 * Does domain publish a Null MX (RFC 7505)?  1 yes, 0 no (ordinary MX
 * records, none, or no such domain), -1 unknown: a temporary DNS failure,
 * described in err.  The same test dns_mx makes: MX records all with the
 * root as exchange.
 */
int dns_null_mx(struct dns *d, const char *domain, struct str *err);

void dns_mxs_free(struct dns_mxs *m);
void dns_ips_free(struct dns_ips *l);
void dns_strs_free(struct dns_strs *l);
/* an address as text ("192.0.2.1", "2001:db8::1") into buf of 46 bytes */
void dns_ip_format(const struct dns_ip *ip, char buf[46]);
/* parse a literal IPv4 or IPv6 address: 0 ok, -1 not one */
int dns_ip_parse(const char *s, struct dns_ip *ip);

#endif
