/*
 * maildir.h - delivery into a maildir (https://cr.yp.to/proto/maildir.html).
 *
 * The file is written in tmp/ under a unique name, fsync'd, hard-linked
 * into new/ (renamed where the file system has no hard links) and new/ is
 * fsync'd before success is reported, so a delivered message survives a
 * crash.  new/ is not fsync'd when the message's fd (the queue file) is on
 * the same file system and its journal commits in order (fsjournal.h):
 * the queue file's later removal then cannot outlive the link.  The name
 * is "<seconds>.M<usec>P<pid>.<host>,S=<size>", with "Q<n>" after the pid
 * for the n-th message of a batch.  Missing
 * tmp/, new/ and cur/ (and the maildir itself) are created, mode 0700.
 * The maildir is opened through safeopen.h (no symbolic link on its path
 * as root) and every step after works relative to tmp/ and new/.
 */
#ifndef SLUICE_MAILDIR_H
#define SLUICE_MAILDIR_H

#include "deliver.h"
#include "str.h"

/* dir ends in '/'; DELIVER_OK (why: "delivered to maildir DIR") or DELIVER_TEMP */
int maildir_deliver(const char *dir, const struct dmsg *m, struct str *why);

/*
 * Message m[i] into maildir dir[i], for i < n, each with its own result in
 * code[i] and why[i] (as maildir_deliver's), with the same guarantee for
 * each.  All are written first, then all flushed and moved into new/:
 * the flushes share journal commits (one fsync of new/ per maildir).
 */
void maildir_deliver_batch(const char *const *dir, const struct dmsg *const *m, size_t n,
			   int *code, struct str *why);

#endif
