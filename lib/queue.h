/*
 * queue.h - the queue's layout on disk and its file format.
 *
 *   QUEUE/tmp/ID        being written by queue-inject; never a message yet
 *   QUEUE/new/ID        committed: the rename tmp/ID -> new/ID is the one
 *                       commit point, made durable by the fsync of the
 *                       file that follows it
 *   QUEUE/msg/ID        taken in by queue-run (renamed from new/)
 *   QUEUE/state/ID      queue-run's record: attempts, next try, recipients done
 *   QUEUE/hold/ID       held by the administrator, not delivered
 *   QUEUE/quarantine/NAME/ID   quarantined by a rule, never delivered
 *   QUEUE/corrupt/ID    set aside by queue-run: cut short or changed (its
 *                       check line does not match), never delivered
 *   QUEUE/trigger       FIFO; a byte written there wakes queue-run: NUL
 *                       "look at new/", 'F' also "everything is due now"
 *   QUEUE/lock          flock'd by the one running queue-run
 * The state/ID format is in qstate.h; queue-run(8) and queue-ctl(8) tell
 * how messages move between msg/, hold/ and new/.
 *
 * A queue file is plain text that `cat` shows: the envelope, the check
 * line, a blank line, then the message exactly as delivered (LF line
 * endings):
 *   F<sender>\n  T<recipient>\n ...  C<length> <crc32c>\n  \n  <message>
 * The check line states the message's length in bytes and its CRC-32C
 * (8 lowercase hex digits).  queue-inject commits with one flush, made
 * after the rename (doc/durability.md), so after a crash a file may sit in
 * new/ or msg/ cut short or with a hole; it was never acknowledged, and
 * the check line tells it apart: queue-run moves such a file to
 * QUEUE/corrupt/ID and never delivers it.  A file without the line (written
 * by an older queue-inject, with two flushes) is taken as whole.
 * Files in new/ and msg/ are immutable once committed.
 */
#ifndef SLUICE_QUEUE_H
#define SLUICE_QUEUE_H
#include <stdint.h>
#include <sys/types.h>

#include "envelope.h"
#include "str.h"

#define QUEUE_DEFAULT "/var/spool/sluice"
#define QUEUE_MAX_HEADER (16u << 20)

/* the queue directory from conf "queuedir"; 0 ok, -1 unreadable config */
int queue_dir(struct str *out);
/* out = qdir/sub/id (id may be NULL for the directory itself) */
void queue_path(struct str *out, const char *qdir, const char *sub, const char *id);
/*
 * Is message id queued for delivery, in msg/ or held in hold/: 1 yes, 0
 * no (neither exists), -1 neither was found but a lookup failed (errno).
 */
int queue_has(const char *qdir, const char *id);
/* append the file header for env to out */
void queue_header_encode(const struct envelope *env, struct str *out);
/*
 * Read the header of an open queue file from its current offset.
 * 0: env filled, *body = offset of the message's first byte.
 * 1: malformed.  -1: read error (errno).
 */
int queue_header_read(int fd, struct envelope *env, off_t *body);
/* a queue file's check line: what its message must be */
struct queue_check {
	int present;               /* 0: no check line (an older file) */
	unsigned long long len;    /* the message's length in bytes */
	uint32_t crc;              /* its CRC-32C */
};
/* append the file header for env with the check line for chk */
void queue_header_encode_check(const struct envelope *env, const struct queue_check *chk,
			       struct str *out);
/*
 * queue_header_read that also returns the check line in *chk (chk->present
 * is 0 for a file without one); chk may be NULL.
 */
int queue_header_read_check(int fd, struct envelope *env, off_t *body, struct queue_check *chk);
/*
 * Does the message from offset body to the end of fd match chk: 1 yes (or
 * the file has no check line), 0 no (cut short, longer, or its bytes
 * differ), -1 read error (errno).  Reads the whole message (pread; the
 * offset is not moved).  *crc_hw is the caller's memo of whether the CPU
 * computes the CRC itself (struct crc32c's hw, -1 not asked yet): a
 * process that checks many messages asks once (crc32c.c: the question is
 * a few system calls).
 */
int queue_body_check(int fd, off_t body, const struct queue_check *chk, int *crc_hw);
/*
 * Write one byte to the trigger FIFO without blocking.  0 written (or the
 * FIFO is full, which is a wake-up already), -1 with errno (ENXIO: no
 * queue-run is reading).
 */
int queue_trigger(const char *qdir, char byte);
/* a quarantine NAME fit for QUEUE/quarantine/NAME: [A-Za-z0-9._-], 1-64, no leading dot */
int queue_quarantine_name_ok(const char *name);

#endif
