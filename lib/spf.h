/*
 * spf.h - Sender Policy Framework (RFC 7208) for the MAIL stage, on
 * libspf2 with its DNS queries sent through dns.h (the configured
 * nameservers, not libspf2's own resolver).
 *
 * The MAIL FROM identity is checked; when the sender is null the HELO
 * identity is, as postmaster@HELO (RFC 7208 2.4).  The seven results are
 * kept apart: libspf2 folds both error results into one "invalid" on some
 * paths, so its error code decides between temperror (DNS) and permerror.
 *
 * Down the chain the result travels in the environment as SPF_RESULT
 * (a result name), SPF_DOMAIN (the domain checked) and SPF_IDENTITY
 * ("mailfrom" or "helo"); spf_from_env reads them back.
 */
#ifndef SLUICE_SPF_H
#define SLUICE_SPF_H

#include "dns.h"
#include "str.h"

enum spf_res {
	SPFR_NONE = 0,
	SPFR_NEUTRAL,
	SPFR_PASS,
	SPFR_FAIL,
	SPFR_SOFTFAIL,
	SPFR_TEMPERROR,
	SPFR_PERMERROR,
};

struct spf_check {
	enum spf_res result;
	const char *identity;    /* "mailfrom" or "helo" */
	struct str domain;       /* the domain whose policy was checked */
	struct str explanation;  /* for fail: text for the 550 reply (printable) */
	struct str problem;      /* for the errors: what went wrong */
};
#define SPF_CHECK_INIT { SPFR_NONE, "mailfrom", STR_INIT, STR_INIT, STR_INIT }

/*
 * Check ip (IPv4 or IPv6 text) sending as sender (the MAIL FROM address
 * without angle brackets, "" for the null sender) after HELO helo.
 * receiver is this host's name (for the explanation macros).
 * Returns 0, or -1 when ip is not an address (out->result is permerror).
 */
int spf_check(struct dns *dns, const char *ip, const char *helo, const char *sender,
	      const char *receiver, struct spf_check *out);
void spf_check_free(struct spf_check *c);

const char *spf_result_name(enum spf_res r);
/* a result name back; -1 when unknown */
int spf_result_parse(const char *name);

/*
 * The Received-SPF header (RFC 7208 9.1), "Received-SPF: ..." and a final
 * LF, folded; values that are not dot-atoms are quoted.
 */
void spf_received_header(const struct spf_check *c, const char *ip, const char *helo,
			 const char *sender, const char *receiver, struct str *out);

/* SPF_RESULT, SPF_DOMAIN, SPF_IDENTITY from the environment; -1 when absent */
int spf_from_env(struct spf_check *out);

#endif
