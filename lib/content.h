/*
 * content.h - what the eom stage does to a message (smtp-filter's chain
 * mode): hold it in a seekable file, run checkers over it, rebuild its
 * header with the rules' edits, and write it to an export directory
 * (quarantine is queue-inject's: QUEUE_QUARANTINE).  The message is mapped read-only; only the header is ever
 * rebuilt in memory, the body is copied file to file.
 */
#ifndef SLUICE_CONTENT_H
#define SLUICE_CONTENT_H
#include <stddef.h>

#include "envelope.h"
#include "qid.h"
#include "rules.h"
#include "str.h"

struct content_run {
	char *cmd;
	int code;
};

struct content {
	int fd;               /* the message, unlinked, seekable */
	const char *map;      /* all of it, NULL when empty */
	size_t len;
	size_t hdr_len;       /* its header section */
	const char *tmpdir;   /* where temporary files go */
	int run_timeout_ms;   /* per checker program */
	struct content_run *runs; /* each command runs once per message */
	size_t nruns;
};

/* copy fd `in` to a temporary file in tmpdir and map it; 0, or -1 with errno (EIO: read side) */
int content_spool(struct content *c, int in, const char *tmpdir, int run_timeout_ms);
void content_free(struct content *c);
/*
 * rules_facts.run: run cmd (split on blanks) with the message on fd 0;
 * returns its exit code, appending at most 64 KiB of its output; -1 when
 * it could not be started, was killed, or overran the timeout.
 */
int content_run(void *arg, const char *cmd, struct str *out);
/* the header section after v's header edits (added fields first, in rule order) */
void content_headers(const struct content *c, const struct rules_verdict *v, struct str *hdr);
/* write hdr then the body of c to fd; 0 or -1 */
int content_write(int fd, const struct str *hdr, const struct content *c);
/*
 * Write DIR/ID.eml (the message) and DIR/ID.json (envelope, connection
 * facts as name/value pairs ending with NULL, header fields), each
 * atomically and durably.  0 or -1.
 */
int content_export(const char *dir, const char *id, const struct envelope *env, const char *const *facts,
		   const struct str *hdr, const struct content *c);

#endif
