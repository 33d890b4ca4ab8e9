/*
 * dmarc.h - DMARC (RFC 7489) evaluation: policy discovery over dns.h
 * with the organizational-domain fallback from the Public Suffix List,
 * SPF and DKIM identifier alignment (relaxed and strict), the result and
 * the disposition a receiver applies (after pct sampling).
 *
 * The caller brings the RFC5322.From domains (dmarc_from_domains takes
 * them from From header fields), the SPF result with the domain it was for
 * and the d= of every DKIM signature that passed.
 */
#ifndef SLUICE_DMARC_H
#define SLUICE_DMARC_H
#include <stddef.h>

#include "dns.h"
#include "publicsuffix.h"
#include "spf.h"
#include "str.h"

enum dmarc_policy { DMARC_P_NONE = 0, DMARC_P_QUARANTINE, DMARC_P_REJECT };
enum dmarc_res { DMARCR_NONE = 0, DMARCR_PASS, DMARCR_FAIL, DMARCR_TEMPERROR, DMARCR_PERMERROR };

struct dmarc_record {
	enum dmarc_policy p, sp;
	unsigned pct;           /* 0..100 */
	int adkim_strict, aspf_strict;
};

/* 0 parsed; -1 not a DMARC record (no leading v=DMARC1) or no usable p= */
int dmarc_parse(const char *txt, struct dmarc_record *r);

struct dmarc_input {
	const char *const *from_domains; /* one per address in the From fields */
	size_t n_from;
	enum spf_res spf;
	const char *spf_domain;          /* MAIL FROM domain, or HELO when null */
	const char *const *dkim_pass;    /* d= of the signatures that verified */
	size_t n_dkim;
};

struct dmarc_eval {
	enum dmarc_res result;
	struct str from_domain;      /* the author domain the result is about */
	struct str policy_domain;    /* where the record was found ("" none) */
	enum dmarc_policy policy;    /* requested: p, or sp below the org domain */
	enum dmarc_policy disposition; /* to apply: none on pass, after pct */
	int spf_aligned, dkim_aligned;
	const char *problem;         /* why none/permerror, for comments */
};
#define DMARC_EVAL_INIT { DMARCR_NONE, STR_INIT, STR_INIT, DMARC_P_NONE, DMARC_P_NONE, 0, 0, "" }

/*
 * Evaluate.  With several distinct From domains (RFC 7489 6.6.1) each is
 * evaluated and the strictest failing one is reported: fail if any fails,
 * and among those the one with the strictest policy.  No From domain at
 * all is permerror.
 */
void dmarc_evaluate(struct dns *dns, const struct publicsuffix *psl, const struct dmarc_input *in,
		    struct dmarc_eval *out);
void dmarc_eval_free(struct dmarc_eval *e);

/*
 * Domains of the addresses in one From field value (folding included):
 * appended, lowercased, to list/n (malloc'd strings).  Returns how many
 * addresses it found; 0 means the field holds no parseable address.
 */
size_t dmarc_from_domains(const char *value, size_t len, char ***list, size_t *n);
void dmarc_domains_free(char **list, size_t n);

const char *dmarc_result_name(enum dmarc_res r);
const char *dmarc_policy_name(enum dmarc_policy p);

#endif
