/*
 * ruleauth.h - the DNS and email-authentication facts behind smtp-filter's
 * rules (rules(5): dnsbl, dnswl, rdns, fcrdns, spf, dkim, dmarc,
 * dmarc-policy, sender-null-mx) and the eom actions add-auth-results and
 * dkim-sign, over dns.h, spf.h, dkim.h, dmarc.h and authres.h.
 *
 * Nothing is computed until a rule asks: the resolver is opened at the
 * first question (conf "nameservers", limits dns-timeout/dns-retries), SPF
 * is evaluated once per client/HELO/sender, the message is verified once.
 * Answers are cached for the life of the struct (one policy instance or
 * one message), so rules at several stages never ask DNS twice.
 */
#ifndef SLUICE_RULEAUTH_H
#define SLUICE_RULEAUTH_H
#include <stddef.h>

#include "conf.h"
#include "str.h"

#define RULEAUTH_ANSWERS_MAX 16 /* records kept per DNS answer */

struct ruleauth;

/* me: the authserv-id and SPF receiver (conf "me") */
struct ruleauth *ruleauth_new(const char *me);
void ruleauth_free(struct ruleauth *a);
/*
 * The SPF inputs of this request or message; a change of any of them
 * forgets the SPF result.  spf_result: a result already computed upstream
 * (SPF_RESULT, with SPF_DOMAIN and SPF_IDENTITY read from the environment),
 * or NULL to compute it here.
 */
void ruleauth_envelope(struct ruleauth *a, const char *ip, const char *helo, const char *sender,
		       const char *spf_result);
/* eom: the whole message (header and body); it must outlive a */
void ruleauth_message(struct ruleauth *a, const char *msg, size_t len);

/* rules_facts.resolve (rules.h), arg a struct ruleauth */
int ruleauth_resolve(void *arg, const char *name, int type, struct conf_list *out);
/* rules_facts.auth (rules.h), arg a struct ruleauth */
int ruleauth_fact(void *arg, int what, const char *domain, struct conf_list *values, struct str *why);

/*
 * add-auth-results: rewrite the header section hdr (LF line ends) without
 * the Authentication-Results fields claiming our authserv-id, headed by
 * our Authentication-Results (spf, dkim per signature, dmarc) and a
 * Received-SPF field.  0, or -1 (why) when the results cannot be had.
 */
int ruleauth_headers(struct ruleauth *a, struct str *hdr, struct str *why);
/*
 * dkim-sign: DKIM-Signature fields (one per key of the conf "dkim" file
 * for the first From domain, else the envelope sender's domain) over the
 * message hdr + body, appended to sigs.  1 signed, 0 no key for the
 * domain (domain names it), -1 a key could not be used (why).
 */
int ruleauth_sign(struct ruleauth *a, const struct str *hdr, const char *body, size_t blen, struct str *sigs,
		  struct str *domain, struct str *why);

#endif
