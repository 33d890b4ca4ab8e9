/*
 * chain.h - running the queue program (DESIGN.md contract 1) from a
 * program that receives or makes mail (smtp-recv; sendmail and
 * deliver-local's forwards, which use the plain queue program).
 *
 * Which program: $QMAILQUEUE (one path) if set; else the conf file "chain"
 * (one line, split on white space); else "smtp-filter -- queue-inject"
 * when the conf file "rules" exists; else "queue-inject".
 *
 * How: message on the child's fd 0, envelope on its fd 1, and a pipe on
 * its fd 6 for a custom reply (exit 82).  The message is written while it
 * arrives; the envelope only after the whole message, so closing the
 * message pipe without an envelope (chain_abort) never queues anything.
 * Every write and the final wait are bounded by timeout_ms (negative: no
 * bound, for local programs that may block).
 */
#ifndef SLUICE_CHAIN_H
#define SLUICE_CHAIN_H
#include <stddef.h>
#include <sys/types.h>

#include "envelope.h"
#include "str.h"

#define CHAIN_REPLY_MAX 512

struct chain {
	pid_t pid;
	int msg;     /* our end of the child's fd 0; -1 once closed */
	int env;     /* our end of the child's fd 1 */
	int reply;   /* our end of the child's fd 6 */
	int broken;  /* the child stopped reading: further message bytes are dropped */
	int timeout_ms;
};

/* the queue program's argv (free with child_argv_free); NULL if unreadable config */
char **chain_argv(void);
/*
 * The plain queue program, for mail made on this host (sendmail, forwards),
 * which passes no SMTP filter: $QMAILQUEUE, else queue-inject.
 */
char **chain_argv_queue(void);
/* start argv; 0, or -1 with errno (nothing started) */
int chain_start(struct chain *c, char *const argv[], int timeout_ms);
/* the same with an environment of the caller's (NULL: ours) */
int chain_start_env(struct chain *c, char *const argv[], char *const envp[], int timeout_ms);
/*
 * Message octets.  A child that stopped reading is not an error here: its
 * exit code will say why, so the rest is dropped and 0 returned.  -1 only
 * on a timeout (the child hangs).
 */
int chain_write(struct chain *c, const void *buf, size_t n);
/*
 * Close the message, write env, collect the fd 6 text (at most
 * CHAIN_REPLY_MAX octets, into custom) and wait.  Returns the exit code
 * (128+signal when killed; 81 when the child had to be killed after the
 * timeout).
 */
int chain_finish(struct chain *c, const struct envelope *env, struct str *custom);
/*
 * For callers that report rather than reply: a one-line text for an exit
 * code (and its fd 6 text) into why; returns 1 when retrying cannot help
 * (11-40, or a 'D' custom reply), else 0.
 */
int chain_explain(int code, const struct str *custom, struct str *why);
/* give up on this message: close everything unwritten, stop and reap the child */
void chain_abort(struct chain *c);

#endif
