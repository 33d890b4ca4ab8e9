/*
 * mbox.h - appending to an mbox file (RFC 4155, the mboxrd variant).
 *
 * Each message starts with "From <sender> <asctime date, UTC>" (the null
 * sender is MAILER-DAEMON), every line matching ">*From " gets one more
 * '>' so a reader can undo it exactly, the message ends in LF and one
 * empty line follows.  The file is locked with fcntl and with a dot-lock
 * (FILE.lock; skipped when the directory does not let us create it, as in
 * a root-owned /var/mail) and each lock is waited for at most
 * lock_timeout seconds, after which the delivery fails temporarily.  A
 * dot-lock older than 5 minutes is stale and removed.  On any failure the
 * file is truncated back to its old size, so a failed delivery never
 * leaves a partial message behind.  The file and its dot-lock are reached
 * through safeopen.h: no symbolic link on the path as root, and then the
 * file must have a single link.
 */
#ifndef SLUICE_MBOX_H
#define SLUICE_MBOX_H

#include "deliver.h"
#include "str.h"

/* DELIVER_OK (why: "delivered to mbox PATH") or DELIVER_TEMP */
int mbox_deliver(const char *path, const char *sender, const struct dmsg *m, unsigned lock_timeout,
		 struct str *why);

#endif
