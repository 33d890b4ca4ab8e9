/*
 * dns.h - DNS lookups for mail (ldns): MX with implicit MX and Null MX,
 * A/AAAA, TXT and PTR.
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
 * server does not follow them itself.  Names are taken as absolute.
 */
#ifndef SLUICE_DNS_H
#define SLUICE_DNS_H
#include <stddef.h>

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
 * itself (implicit=1), when the domain exists.  A Null MX (RFC 7505) is
 * DNS_PERM with "556 5.1.10" in err.
 */
int dns_mx(struct dns *d, const char *domain, struct dns_mxs *out, struct str *err);
/* addresses of name; family AF_INET, AF_INET6, or AF_UNSPEC for both (AAAA first) */
int dns_addrs(struct dns *d, const char *name, int family, struct dns_ips *out, struct str *err);
/* TXT records of name, the character-strings of each record concatenated */
int dns_txt(struct dns *d, const char *name, struct dns_strs *out, struct str *err);
/* PTR names (lowercased, no trailing dot) of an address */
int dns_ptr(struct dns *d, const struct dns_ip *ip, struct dns_strs *out, struct str *err);

void dns_mxs_free(struct dns_mxs *m);
void dns_ips_free(struct dns_ips *l);
void dns_strs_free(struct dns_strs *l);
/* an address as text ("192.0.2.1", "2001:db8::1") into buf of 46 bytes */
void dns_ip_format(const struct dns_ip *ip, char buf[46]);
/* parse a literal IPv4 or IPv6 address: 0 ok, -1 not one */
int dns_ip_parse(const char *s, struct dns_ip *ip);

#endif
