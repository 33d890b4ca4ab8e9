/*
 * envelope.h - the queue protocol's envelope (DESIGN.md contract 1):
 *   F<sender>\0 T<rcpt>\0 ... \0
 * The null sender is "F\0".  Addresses are kept exactly as sent.
 */
#ifndef SLUICE_ENVELOPE_H
#define SLUICE_ENVELOPE_H
#include <stddef.h>

#include "bio.h"
#include "str.h"

struct envelope {
	char *sender;   /* "" for the null sender */
	char **rcpt;
	size_t nrcpt;
	size_t cap;
};
#define ENVELOPE_INIT { NULL, NULL, 0, 0 }

enum {
	ENV_OK = 0,
	ENV_FORMAT = 1, /* malformed: exit 91 */
	ENV_READ = 2,   /* read error, or early EOF (errno EPROTO): exit 54 */
	ENV_LIMIT = 3,  /* an address or the recipient list is too big */
};

/*
 * Read one envelope.  Each address at most max_addr bytes, at most max_rcpt
 * recipients; an address holding CR or LF is malformed (it could not be
 * written to a queue file or a header safely).  At least one recipient is
 * required.
 */
int envelope_read(struct bio *in, struct envelope *env, size_t max_addr, size_t max_rcpt);
void envelope_set_sender(struct envelope *env, const char *sender);
void envelope_add_rcpt(struct envelope *env, const char *rcpt);
/* append the wire form to out */
void envelope_encode(const struct envelope *env, struct str *out);
/* the same items ended by sep instead of NUL (the queue file header uses LF) */
void envelope_encode_sep(const struct envelope *env, char sep, struct str *out);
void envelope_free(struct envelope *env);

#endif
