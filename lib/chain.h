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
 * its fd 6 for a custom reply (exit 82).  The envelope goes only after the
 * whole message, so closing the message pipe without an envelope
 * (chain_abort) never queues anything.  Every write and the final wait are
 * bounded by timeout_ms (negative: no bound, for local programs that may
 * block).
 *
 * When: chain_start only finds the program and makes the pipes.  The
 * message goes into its pipe as it arrives, and the program starts when
 * that pipe is full (the message is larger than the pipe holds) or at
 * chain_finish.  A message that fits (64 KiB by default) is thus all there,
 * envelope included, when the program starts: it reads it without ever
 * waiting, where a program started at once would be woken for every piece
 * and once more for the envelope.  A message given up before then
 * (chain_abort) starts nothing at all.
 */
#ifndef SLUICE_CHAIN_H
#define SLUICE_CHAIN_H
#include <stddef.h>
#include <sys/types.h>

#include "envelope.h"
#include "str.h"

#define CHAIN_REPLY_MAX 512

/* chain_finish's code when the program could not be started (as sh's 127) */
#define CHAIN_UNSTARTED 127

struct chain {
	pid_t pid;   /* -1 until the program runs */
	int msg;     /* our end of the child's fd 0; -1 once closed */
	int env;     /* our end of the child's fd 1 */
	int reply;   /* our end of the child's fd 6 */
	int ends[3]; /* the child's ends of the three pipes, held until it starts */
	char **argv; /* what to start: argv[0] found in PATH */
	char *const *envp;
	int broken;  /* the child stopped reading (or never started): the rest is dropped */
	int start_errno; /* why the program could not be started */
	int timeout_ms;
};

/* the queue program's argv (free with child_argv_free); NULL if unreadable config */
char **chain_argv(void);
/*
 * The plain queue program, for mail made on this host (sendmail, forwards),
 * which passes no SMTP filter: $QMAILQUEUE, else queue-inject.
 */
char **chain_argv_queue(void);
/*
 * Ready argv (copied; argv[0] looked up in PATH) for a message; 0, or -1
 * with errno (ENOENT or EACCES: no such program, or not executable;
 * nothing to finish or abort).
 */
int chain_start(struct chain *c, char *const argv[], int timeout_ms);
/*
 * The same with an environment of the caller's (NULL: ours when the
 * program starts), which must stay valid until chain_finish or chain_abort.
 */
int chain_start_env(struct chain *c, char *const argv[], char *const envp[], int timeout_ms);
/*
 * Message octets.  A child that stopped reading is not an error here: its
 * exit code will say why, so the rest is dropped and 0 returned.  -1 only
 * on a timeout (the child hangs).
 */
int chain_write(struct chain *c, const void *buf, size_t n);
/*
 * Close the message, write env, start the program if it has not started,
 * collect the fd 6 text (at most CHAIN_REPLY_MAX octets, into custom) and
 * wait.  Returns the exit code (128+signal when killed; 81 when the child
 * had to be killed after the timeout; CHAIN_UNSTARTED with start_errno set
 * when it could not be started).
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
