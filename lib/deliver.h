/*
 * deliver.h - what the mailbox writers (maildir.c, mbox.c) share: the
 * message to store and the way a failure is reported.
 *
 * The message is read with pread from a seekable fd (the queue file), so
 * any number of deliveries can read it without moving a shared offset.
 * The prefix (Return-Path:, Delivered-To:) goes before it.
 *
 * Results follow deliver-local's contract: DELIVER_OK, DELIVER_PERM
 * (exit 100), DELIVER_TEMP (exit 111), with a one-line reason starting with
 * an RFC 3463 status code.  Every system error is temporary: a full disk,
 * a quota or a wrong permission is fixed by an administrator, and the mail
 * must wait for that rather than bounce.
 */
#ifndef SLUICE_DELIVER_H
#define SLUICE_DELIVER_H
#include <stddef.h>
#include <sys/types.h>

#include "str.h"

enum { DELIVER_OK = 0, DELIVER_PERM = 100, DELIVER_TEMP = 111 };

struct dmsg {
	int fd;            /* the message, seekable */
	off_t start;       /* its first byte */
	const char *prefix;
	size_t prefixlen;
};

/* pread the message (without prefix) from offset off: bytes read, 0 at the end, -1 */
ssize_t dmsg_read(const struct dmsg *m, off_t off, void *buf, size_t n);
/*
 * A system call failed with errno: set why to "4.2.2 mailbox full: <what>:
 * reason" for ENOSPC/EDQUOT, "4.3.0 <what>: reason" otherwise, and return
 * DELIVER_TEMP.
 */
__attribute__((format(printf, 2, 3)))
int deliver_syserr(struct str *why, const char *fmt, ...);

#endif
