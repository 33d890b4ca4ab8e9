/*
 * msgfeed.h - split a message into header fields and body as it streams
 * by, for code that consumes a message field by field (DKIM, DMARC's From,
 * Authentication-Results removal) whatever the message arrives through.
 *
 * Push bytes in any pieces; the callbacks get each header field whole
 * (continuation lines included, the final line end dropped), the end of
 * the header, and the body in pieces.  A line that is neither a field nor
 * a continuation ends the header and starts the body (as RFC 5322 readers
 * commonly do).  A field longer than max_field fails the push.
 */
#ifndef SLUICE_MSGFEED_H
#define SLUICE_MSGFEED_H
#include <stddef.h>

#include "str.h"

struct msgfeed_ops {
	int (*header)(void *arg, const char *field, size_t len);
	int (*eoh)(void *arg);
	int (*body)(void *arg, const char *buf, size_t len);
};

struct msgfeed {
	const struct msgfeed_ops *ops;
	void *arg;
	size_t max_field;
	int in_body;
	struct str line;   /* the header line being collected */
	struct str field;  /* the header field being collected */
};

void msgfeed_init(struct msgfeed *f, const struct msgfeed_ops *ops, void *arg, size_t max_field);
/* 0, or -1 when a callback failed or a field grew past max_field */
int msgfeed_push(struct msgfeed *f, const char *buf, size_t len);
int msgfeed_end(struct msgfeed *f);
void msgfeed_free(struct msgfeed *f);

/* the field name of a header field: its length before the colon, 0 if none */
size_t msgfeed_name_len(const char *field, size_t len);
/* s[i] is '(': the index just past that RFC 5322 comment (nested, quoted-pairs) */
size_t msgfeed_skip_comment(const char *s, size_t len, size_t i);
/* field is named name (case-insensitive)? */
int msgfeed_is(const char *field, size_t len, const char *name);

#endif
