/*
 * queue.h - the queue's layout on disk and its file format.
 *
 *   QUEUE/tmp/ID        being written by queue-inject; never a message yet
 *   QUEUE/new/ID        committed: the rename tmp/ID -> new/ID is the one
 *                       commit point, made durable by fsync of new/
 *   QUEUE/msg/ID        taken in by queue-run (renamed from new/)
 *   QUEUE/state/ID      queue-run's record: attempts, next try, recipients done
 *   QUEUE/hold/ID       held by the administrator, not delivered
 *   QUEUE/quarantine/NAME/ID   quarantined by a rule, never delivered
 *   QUEUE/trigger       FIFO; a byte written there wakes queue-run: NUL
 *                       "look at new/", 'F' also "everything is due now"
 *   QUEUE/lock          flock'd by the one running queue-run
 * The state/ID format is in qstate.h; queue-run(8) and queue-ctl(8) tell
 * how messages move between msg/, hold/ and new/.
 *
 * A queue file is plain text that `cat` shows: the envelope, a blank line,
 * then the message exactly as delivered (LF line endings):
 *   F<sender>\n  T<recipient>\n ...  \n  <message>
 * Files in new/ and msg/ are immutable once committed.
 */
#ifndef SLUICE_QUEUE_H
#define SLUICE_QUEUE_H
#include <sys/types.h>

#include "envelope.h"
#include "str.h"

#define QUEUE_DEFAULT "/var/spool/sluice"
#define QUEUE_MAX_HEADER (16u << 20)

/* the queue directory from conf "queuedir"; 0 ok, -1 unreadable config */
int queue_dir(struct str *out);
/* out = qdir/sub/id (id may be NULL for the directory itself) */
void queue_path(struct str *out, const char *qdir, const char *sub, const char *id);
/* append the file header for env to out */
void queue_header_encode(const struct envelope *env, struct str *out);
/*
 * Read the header of an open queue file from its current offset.
 * 0: env filled, *body = offset of the message's first byte.
 * 1: malformed.  -1: read error (errno).
 */
int queue_header_read(int fd, struct envelope *env, off_t *body);
/*
 * Write one byte to the trigger FIFO without blocking.  0 written (or the
 * FIFO is full, which is a wake-up already), -1 with errno (ENXIO: no
 * queue-run is reading).
 */
int queue_trigger(const char *qdir, char byte);
/* a quarantine NAME fit for QUEUE/quarantine/NAME: [A-Za-z0-9._-], 1-64, no leading dot */
int queue_quarantine_name_ok(const char *name);

#endif
