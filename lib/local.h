/*
 * local.h - who a local recipient is: the one resolution that both
 * deliver-local (at delivery) and smtp-recv (at RCPT time) use, so that
 * nothing is accepted only to bounce.
 *
 * An address resolves, in this order, through
 *   1. the `users` table: "address mailbox [owner]" (virtual users);
 *   2. the `aliases` table: "address: target, target", then, for a domain
 *      in `locals`, "localpart: target, ..." (one alias for every local
 *      domain);
 *   3. the same two with the extension removed: "user+ext@dom" falls back
 *      to "user@dom" (EXT=ext);
 *   4. system accounts, for domains in `locals`: getpwnam(localpart), uid
 *      within [local-min-uid, local-max-uid] from `limits`, mailbox
 *      ~/Maildir/, delivered as that account;
 *   5. a catch-all alias "@domain".
 * Alias targets are addresses (resolved again, recursively, up to
 * local-alias-depth levels; an address already being expanded resolves to
 * its own mailbox and no further, so "alice: alice, archive" works and
 * loops end; at most local-alias-lookups addresses are looked at in all), paths (contain '/': ending in '/' a maildir, else an mbox;
 * relative ones from the conf dir) and "|command".  An address target that
 * resolves to nothing and is not in a local domain is forwarded.  Keys are
 * looked up lowercased.  Identical destinations are delivered once.
 */
#ifndef SLUICE_LOCAL_H
#define SLUICE_LOCAL_H
#include <stddef.h>
#include <sys/types.h>

#include "conf.h"
#include "str.h"

enum local_kind { LOCAL_MAILDIR = 1, LOCAL_MBOX, LOCAL_PROGRAM, LOCAL_FORWARD };

struct local_dest {
	int kind;
	char *target;    /* maildir (ends in '/'), mbox path, command, or address */
	int as_user;     /* switch to uid/gid before delivering */
	uid_t uid;
	gid_t gid;
	char *user;      /* account name and home when as_user ("" if unknown) */
	char *home;
};

struct local_result {
	struct local_dest *dest;
	size_t n;
	char *ext;       /* the recipient's address extension, "" for none */
	struct str why;  /* on failure: "5.1.1 no such user ..." (RFC 3463 code first) */
};
#define LOCAL_RESULT_INIT { NULL, 0, NULL, STR_INIT }

enum {
	LOCAL_FOUND = 0,   /* at least one destination */
	LOCAL_UNKNOWN = 1, /* no such recipient: 5.1.1 */
	LOCAL_PERM = 2,    /* broken alias (unknown local target, too deep, too many) */
	LOCAL_TEMP = 3,    /* a table or the account database could not be read */
};

/* resolve addr ("local@domain"); returns one of the codes above */
int local_resolve(const char *addr, struct local_result *r);
/* the same with the conf files locals and limits already read by the caller */
int local_resolve_conf(const char *addr, const struct conf_list *locals, const struct conf_list *limits,
		       struct local_result *r);
void local_result_free(struct local_result *r);
/* for RCPT: the same resolution, the destinations thrown away; why as above */
int local_rcpt_check(const char *addr, struct str *why);
int local_rcpt_check_conf(const char *addr, const struct conf_list *locals, const struct conf_list *limits,
			  struct str *why);
/* 1 exists, 0 unknown (or a broken alias: reject with 5.x), -1 temporary error */
int local_rcpt_exists(const char *addr);

#endif
