/*
 * inject.h - handing a new message to the queue program by the queue
 * protocol (DESIGN.md contract 1), for programs that create mail:
 * sendmail, and deliver-local's forwards.
 *
 * The program is $QMAILQUEUE when set, else queue-inject (PATH searched).
 * inject_start gives a pipe to write the message into; inject_finish
 * closes it, sends the envelope, collects a custom reply from fd 6 (exit
 * 82, as notqmail does) and waits.
 */
#ifndef SLUICE_INJECT_H
#define SLUICE_INJECT_H
#include <sys/types.h>

#include "envelope.h"
#include "str.h"

struct inject {
	pid_t pid;
	int msg;   /* write the message here */
	int env;   /* the envelope goes here */
	int reply; /* fd 6 of the queue program */
};

/* 0, or -1 with errno (the program could not be started) */
int inject_start(struct inject *q);
/*
 * Send env, wait.  Returns the queue program's exit code (0 committed),
 * with why set to a one-line description of a failure.  *permanent tells
 * whether retrying cannot help (11-40, or a 'D' reply).
 */
int inject_finish(struct inject *q, const struct envelope *env, struct str *why, int *permanent);
/* abandon: close everything, kill nothing (the program sees EOF), reap */
void inject_abort(struct inject *q);

#endif
