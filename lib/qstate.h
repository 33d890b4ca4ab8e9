/*
 * qstate.h - queue-run's per-message record, QUEUE/state/ID.
 *
 * Plain text that `cat` shows, one record per line, only ever appended
 * (and flushed before anything depends on it: queue-run(8), doc/queue.md):
 *
 *   ok N TIME TEXT        recipient N delivered (N counts the queue file's
 *                         T lines from 0); TEXT is the delivery program's
 *   defer N TIME TEXT     recipient N failed temporarily; TEXT: last error
 *   fail N TIME TEXT      recipient N failed permanently; a bounce is owed
 *   bounced N TIME [WHY]  the bounce naming recipient N is in the queue
 *                         (or it was dropped: a failed double bounce)
 *   try TIME ATTEMPTS NEXT   a delivery round ended at TIME; ATTEMPTS
 *                         rounds so far; the next round is due at NEXT
 *   warned TIME           the delay warning (RFC 3464 "delayed") was sent
 *
 * TIME and NEXT are seconds since the epoch.  The last line of a given
 * recipient wins; "ok" and "bounced" are final and never undone, so a
 * recipient marked done is never delivered again.  The first "try" line's
 * TIME is the first attempt.  A line without its LF (a write torn by a
 * crash) is ignored and cut off before the next append; unknown or
 * malformed lines are ignored, so the format can grow.  TEXT holds no
 * control characters and at most QSTATE_TEXT_MAX bytes.
 */
#ifndef SLUICE_QSTATE_H
#define SLUICE_QSTATE_H
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "str.h"

#define QSTATE_TEXT_MAX 1000
#define QSTATE_FILE_MAX (64u << 20)
#define QSTATE_COMPACT_AT (64u << 10)

enum qrcpt_state {
	QR_PENDING = 0, /* not delivered yet (text: the last error, if any) */
	QR_DONE,        /* delivered */
	QR_FAILED,      /* failed permanently, bounce owed */
	QR_BOUNCED,     /* failed permanently, bounce queued (final) */
};

struct qstate_rcpt {
	int state;
	time_t when;
	char *text;
};

struct qstate {
	size_t n;
	struct qstate_rcpt *r;
	time_t first;            /* first attempt (0: none yet) */
	time_t last;             /* last round's end */
	time_t next;             /* next round due (0: at once) */
	unsigned long attempts;  /* rounds so far */
	time_t warned;           /* delay warning sent (0: not) */
	off_t valid;             /* bytes of whole lines in the file */
};

void qstate_init(struct qstate *st, size_t nrcpt);
void qstate_free(struct qstate *st);
/* apply the whole lines of buf (a torn tail is not counted in valid) */
void qstate_parse(struct qstate *st, const char *buf, size_t len);
/* read and parse an open state file from its start; 0, or -1 (errno) */
int qstate_read(int fd, struct qstate *st);
/*
 * Write lines (already applied to the state) at offset at, the state's
 * valid length before them, cutting a torn tail off first; not flushed.
 * 0, or -1 (errno).
 */
int qstate_store(int fd, off_t at, const struct str *lines);
/*
 * Append lines (whole lines, each ending in LF) to the state file fd
 * durably: a torn tail is truncated away first, then write + fdatasync;
 * once written the lines are applied to st.  0, or -1 (errno).
 */
int qstate_append(int fd, struct qstate *st, const struct str *lines);
/*
 * The same without the fdatasync: the caller flushes later (queue-run
 * flushes the records of one turn of its loop together, doc/queue.md).
 * Until then a crash may lose the lines.  0, or -1 (errno).
 */
int qstate_write(int fd, struct qstate *st, const struct str *lines);
/* format one recipient record ("ok", "defer", "fail", "bounced") into out */
void qstate_rcpt_line(struct str *out, const char *kw, size_t idx, time_t t, const char *text);
/* copy text into out without control characters, at most max bytes */
void qstate_clean_text(struct str *out, const char *text, size_t len, size_t max);
/*
 * The same state in as few lines as the format allows (one per recipient
 * with a result, the first and the last "try", "warned"), for rewriting a
 * file that has grown long (QSTATE_COMPACT_AT) with atomic_write.
 */
void qstate_summary(const struct qstate *st, struct str *out);
/* recipients still to be delivered */
size_t qstate_pending(const struct qstate *st);
/* recipients whose bounce is owed */
size_t qstate_owed(const struct qstate *st);

#endif
