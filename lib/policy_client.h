/*
 * policy_client.h - the client side of the Postfix policy delegation
 * protocol (DESIGN.md contract 2), for smtp-recv.
 *
 * Which server, from the configuration directory:
 *   "policy" holds "unix:/path/to/socket" (any Postfix policy server, one
 *   connection kept for the whole SMTP session) or a command line (a
 *   coprocess started once per SMTP session, requests on its stdin,
 *   replies on its stdout); else "smtp-filter -p" when "rules" exists;
 *   else none, and nothing is ever asked.
 *   "policy-stages" lists the protocol states asked (default all):
 *   CONNECT EHLO MAIL RCPT DATA END-OF-MESSAGE VRFY (EHLO covers HELO).
 * Every exchange is bounded by one timeout.  A server that cannot be
 * reached, dies, is slow or answers garbage is a failure the caller turns
 * into a temporary refusal: never an accept.
 */
#ifndef SLUICE_POLICY_CLIENT_H
#define SLUICE_POLICY_CLIENT_H
#include <sys/types.h>

#include "bio.h"
#include "policy.h"
#include "str.h"

struct policy_client {
	char **argv;         /* coprocess command, or NULL */
	struct str socket;   /* unix socket path, or empty */
	unsigned stages;     /* bit per stage asked (POLICY_STAGE_*) */
	int timeout_ms;
	pid_t pid;           /* the coprocess, or 0 */
	int rfd, wfd;        /* -1 when not connected */
	struct bio in;
	int broken;          /* a coprocess failed: never asked again */
};

enum {
	POLICY_STAGE_CONNECT = 1, POLICY_STAGE_EHLO = 2, POLICY_STAGE_MAIL = 4, POLICY_STAGE_RCPT = 8,
	POLICY_STAGE_DATA = 16, POLICY_STAGE_EOM = 32, POLICY_STAGE_VRFY = 64
};

/*
 * Read the configuration.  1: a server is configured; 0: none (pc is
 * inert); -1: the configuration is unreadable or wrong (why says how).
 */
int policy_client_init(struct policy_client *pc, int timeout_ms, struct str *why);
/* the stage bit for a protocol_state name (HELO counts as EHLO), 0 if unknown */
unsigned policy_client_stage(const char *protocol_state);
/* whether this stage is asked at all */
int policy_client_wants(const struct policy_client *pc, const char *protocol_state);
/*
 * Send req, read the reply's action.  0 with action set; -1 with why set
 * (unreachable, died, timed out, malformed).  The server is started or
 * connected on first use; a socket server that closed an idle connection
 * is reconnected once.
 */
int policy_client_ask(struct policy_client *pc, const struct policy_req *req, struct str *action, struct str *why);
/*
 * What the policy server asked to be done with a message, beyond
 * accepting it: HOLD (quarantine name), DISCARD, REDIRECT, BCC, PREPEND.
 */
struct policy_effects {
	struct str hold;     /* quarantine name; empty: none */
	int discard;
	struct str redirect; /* the one recipient instead of all; empty: none */
	struct str bcc;      /* added recipients, each ended by LF */
	struct str prepend;  /* header fields, each ended by LF */
};
#define POLICY_EFFECTS_INIT { STR_INIT, 0, STR_INIT, STR_INIT, STR_INIT }
void policy_effects_clear(struct policy_effects *fx);
/* add from's effects to to (a later HOLD or REDIRECT wins) */
void policy_effects_add(struct policy_effects *to, const struct policy_effects *from);
void policy_effects_free(struct policy_effects *fx);
/*
 * Apply an access(5) action at a stage where smtp-recv's own answer is own
 * (a refusal, or NULL to accept), Postfix's way: REJECT, DEFER and NNN text
 * refuse; DEFER_IF_PERMIT defers what would be accepted; DEFER_IF_REJECT
 * defers what would be rejected; OK and DUNNO leave own as it is (smtp-recv's
 * own checks, relay control among them, are never overridden).  *out gets
 * the reply to send (own, or the policy's refusal built in reply) or NULL;
 * effects are added to fx.  0, or -1 for an action that cannot be applied
 * (unknown, or a bad address, header or name: why says which).
 */
int policy_decide(const char *action, const char *own, struct policy_effects *fx, struct str *reply,
		  const char **out, struct str *why);

/*
 * The same session continued by another program image (smtp-recv's exec
 * of smtp-recv-tls at STARTTLS, in the same process): the coprocess or
 * socket connection goes on, with whatever the server remembers of the
 * session.  policy_client_inherit(pc, 1, spec) lets the descriptors
 * survive exec and describes them in spec: "-" (nothing started yet), "x"
 * (broken) or "PID:RFD:WFD" (PID 0 for a socket); (pc, 0, NULL) undoes it
 * when the exec failed.  0, or -1 with errno.  In the new image, after
 * policy_client_init, policy_client_adopt takes spec, checking that it
 * names what the configuration says (a running child of ours on two
 * pipes, or a connected socket) and nothing else; 0, or -1 with why.
 */
int policy_client_inherit(struct policy_client *pc, int on, struct str *spec);
int policy_client_adopt(struct policy_client *pc, const char *spec, struct str *why);

/* end the session: close, and reap the coprocess (killed if it lingers) */
void policy_client_close(struct policy_client *pc);

#endif
