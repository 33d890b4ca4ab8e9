/*
 * rules.h - smtp-filter's rules language (rules(5)): parser and evaluator.
 *
 * A rules file is parsed afresh by every process that uses it (once per
 * connection or message), so parsing is one pass over the text with no
 * lookups: tables are consulted, and programs run, only while evaluating.
 * The evaluator sees the SMTP transaction only through struct rules_facts,
 * so smtp-filter -p (facts from policy requests), smtp-filter -- (facts from
 * the environment and the message) and fuzzers share one engine.
 */
#ifndef SLUICE_RULES_H
#define SLUICE_RULES_H
#include <stddef.h>

#include "conf.h"
#include "str.h"

enum rules_stage { STAGE_CONNECT, STAGE_HELO, STAGE_MAIL, STAGE_RCPT, STAGE_DATA, STAGE_EOM, STAGE_N };

/* what a rule does; the first group decides, the second accumulates */
enum rules_kind {
	RK_NONE, RK_ACCEPT, RK_REJECT, RK_DEFER, RK_DISCONNECT, RK_QUARANTINE, RK_DISCARD, RK_REDIRECT,
	RK_ADD_HEADER, RK_REMOVE_HEADER, RK_REPLACE_HEADER, RK_REWRITE_SENDER, RK_BCC, RK_EXPORT,
	RK_WARN, RK_TAG, RK_UNTAG, RK_DKIM_SIGN, RK_AUTH_RESULTS
};

/* what rules_facts.auth is asked for */
enum rules_auth { RULES_AUTH_SPF, RULES_AUTH_DKIM, RULES_AUTH_DMARC, RULES_AUTH_DMARC_POLICY, RULES_AUTH_NULL_MX };

struct rules_facts {
	const char *client;       /* client IP address */
	const char *client_name;  /* forward-confirmed name, or "unknown" */
	const char *reverse_name; /* PTR name, unconfirmed */
	const char *helo;
	const char *sender;       /* "" is the null sender; NULL before MAIL */
	const char *const *rcpt;  /* rcpt stage: the one recipient; eom: all */
	size_t nrcpt;
	const char *auth_user;
	const char *tls_version;  /* NULL or "" without TLS */
	const char *spf;          /* an SPF result already known (SPF_RESULT), else NULL */
	unsigned long long size;  /* with have_size */
	int have_size;
	unsigned long long rcpt_count;
	int have_rcpt_count;
	const char *header;       /* eom: the header section */
	size_t header_len;
	/*
	 * The bound on regular expression matching (rules(5), "=~"): a value
	 * is matched on its first regex_bytes bytes, and one rules_eval call
	 * matches at most regex_budget bytes in all, else it fails (-1).  0
	 * means RULES_REGEX_BYTES, RULES_REGEX_BUDGET.
	 */
	unsigned long long regex_bytes, regex_budget;
	/*
	 * eom: run cmd on the message.  Returns its exit code and appends
	 * whatever it printed to out (only the first time a command runs);
	 * -1 when it could not be run to the end (a temporary failure).
	 */
	int (*run)(void *arg, const char *cmd, struct str *out);
	void *run_arg;
	/*
	 * DNS for dnsbl, dnswl, rdns, fcrdns: records of a type (RULES_DNS_*)
	 * appended to out, one per item (addresses as text, PTR names without
	 * the final dot); for RULES_DNS_PTR, name is the IP address itself.
	 * 1 found, 0 none, -1 failure (see ruleauth.h).
	 */
	int (*resolve)(void *arg, const char *name, int type, struct conf_list *out);
	void *resolve_arg;
	/*
	 * The authentication facts, computed only when a rule asks (see
	 * ruleauth.h): the result names of what (RULES_AUTH_*) appended to
	 * values: spf, dmarc, dmarc-policy one each; dkim one per signature
	 * (only those with d=domain when domain is not NULL), "none" when
	 * there are none; null-mx "yes" or "no" for the sender domain given.
	 * 0, or -1 when it cannot be known now (why says why).
	 */
	int (*auth)(void *arg, int what, const char *domain, struct conf_list *values, struct str *why);
	void *auth_arg;
};

/*
 * glibc's matcher takes time quadratic in the length of the value for
 * expressions like /a.*b/ (80 KB: 10 s): 4096 bytes cost ~30 ms at worst,
 * 64 of them (the budget) ~2 s.
 */
enum { RULES_REGEX_BYTES = 4096, RULES_REGEX_BUDGET = 262144 };

enum { RULES_DNS_A = 1, RULES_DNS_PTR = 12, RULES_DNS_AAAA = 28 };

/* reply of a deciding action */
struct rules_reply {
	enum rules_kind kind;
	unsigned code;
	char ecode[16];    /* enhanced status code, "" if none */
	char *text;
};

/* what survives from one stage to the next within a connection */
struct rules_state {
	char **tag;
	size_t ntag;
	int pending_stage; /* -1: no decision waiting */
	struct rules_reply pending;
	size_t pending_line;
};
#define RULES_STATE_INIT { NULL, 0, -1, { RK_NONE, 0, "", NULL }, 0 }

struct rules_effect {
	enum rules_kind kind;
	char *arg;
};

struct rules_verdict {
	struct rules_reply decision; /* kind RK_NONE: nothing decided */
	char *arg;                   /* quarantine NAME, redirect ADDRESS */
	size_t line;                 /* the deciding rule's line */
	struct rules_effect *eff;
	size_t neff;
};

struct rules;

/*
 * Parse text (name is used in messages).  Errors are appended to errors as
 * "name:line: message\n" lines.  Returns the rules, or NULL when there
 * were errors.
 */
struct rules *rules_parse(const char *name, const char *text, size_t len, struct str *errors);
void rules_free(struct rules *r);
/* does any rule belong to stage */
int rules_has_stage(const struct rules *r, enum rules_stage stage);
/*
 * Evaluate stage's rules in order.  0: v filled (decision and effects);
 * -1: a condition could not be evaluated (unreadable table, failed
 * program): why says which, and the caller must fail temporarily.
 */
int rules_eval(const struct rules *r, enum rules_stage stage, const struct rules_facts *f,
	       struct rules_state *st, struct rules_verdict *v, struct str *why);
void rules_verdict_free(struct rules_verdict *v);
void rules_state_free(struct rules_state *st);
const char *rules_stage_name(enum rules_stage s);
/* "550 5.7.1 text" for a deciding reply */
void rules_reply_format(const struct rules_reply *r, struct str *out);
/* is the address text a usable single-line mailbox for bcc/redirect */
int rules_valid_mailbox(const char *s);

#endif
