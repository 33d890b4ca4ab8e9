/*
 * policy.h - the Postfix SMTPD access policy delegation protocol
 * (SMTPD_POLICY_README; DESIGN.md contract 2), both directions.
 *
 * A request is "name=value" lines ended by an empty line; the reply is
 * "action=<access(5) action>" lines ended by an empty line.  The server
 * side (smtp-filter -p) reads requests and encodes replies; the client side
 * (smtp-recv) encodes requests and reads replies.  Everything read is
 * bounded: POLICY_LINE_MAX bytes per line, POLICY_ATTR_MAX attributes.
 */
#ifndef SLUICE_POLICY_H
#define SLUICE_POLICY_H
#include <stddef.h>

#include "bio.h"
#include "str.h"

#define POLICY_LINE_MAX 4096
#define POLICY_ATTR_MAX 128

struct policy_attr {
	char *name;
	char *value;
};

struct policy_req {
	struct policy_attr *a;
	size_t n, cap;
};
#define POLICY_REQ_INIT { NULL, 0, 0 }

enum {
	POLICY_OK = 0,
	POLICY_EOF = 1, /* clean end of input before a request began */
	POLICY_BAD = 2, /* malformed or over a limit: why says what */
	POLICY_ERR = -1 /* read error or timeout (errno) */
};

/* read one request (or reply: the same framing), replacing req's contents */
int policy_read(struct bio *in, struct policy_req *req, struct str *why);
/* the value of the last attribute called name, or NULL */
const char *policy_get(const struct policy_req *req, const char *name);
/* add an attribute; -1 (nothing added) when name or value could break the framing */
int policy_add(struct policy_req *req, const char *name, const char *value);
void policy_req_clear(struct policy_req *req);
void policy_req_free(struct policy_req *req);
/* append the wire form (attributes, then the empty line) */
void policy_encode(const struct policy_req *req, struct str *out);
/* append "action=ACTION\n\n"; a newline in action is cut there */
void policy_reply_encode(const char *action, struct str *out);
/* client side: read a reply; action gets its action= value */
int policy_reply_read(struct bio *in, struct str *action, struct str *why);

/* an access(5) action, classified for the client that must apply it */
enum policy_kind {
	PA_UNKNOWN, PA_OK, PA_DUNNO, PA_REJECT, PA_DEFER, PA_DEFER_IF_PERMIT,
	PA_DEFER_IF_REJECT, PA_CODE, PA_HOLD, PA_DISCARD, PA_PREPEND, PA_REDIRECT,
	PA_BCC, PA_WARN, PA_INFO, PA_FILTER
};
struct policy_action {
	enum policy_kind kind;
	unsigned code;    /* PA_CODE: the 4NN or 5NN given */
	const char *text; /* what follows the keyword or code, blanks skipped; "" if none */
};
/* classify action (keywords are case-insensitive, as in Postfix) */
void policy_action_parse(const char *action, struct policy_action *pa);

#endif
