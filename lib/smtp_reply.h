/*
 * smtp_reply.h - SMTP replies as a client reads them (deliver-remote):
 * one reply of one or more lines (RFC 5321 §4.2.1), and the EHLO keywords
 * a server announces in its reply to EHLO.
 *
 * Every byte comes from a remote server and is hostile: lines are bounded
 * (SMTP_REPLY_LINE_MAX), so are the lines of one reply and the text kept;
 * the text kept holds no control character, so it can go into logs and
 * bounce reports as it is.
 */
#ifndef SLUICE_SMTP_REPLY_H
#define SLUICE_SMTP_REPLY_H
#include <stddef.h>

#include "bio.h"
#include "str.h"

#define SMTP_REPLY_LINE_MAX 1000   /* RFC 5321 §4.5.3.1.5 says 512; be lenient */
#define SMTP_REPLY_LINES_MAX 100
#define SMTP_REPLY_TEXT_MAX 4096   /* kept per reply for reports */
#define SMTP_REPLY_LINES_KEEP 65536

enum {
	SMTP_REPLY_EOF = -1, /* connection closed */
	SMTP_REPLY_ERR = -2, /* read error or timeout (errno) */
	SMTP_REPLY_BAD = -3, /* malformed: no code, codes differ, too many lines */
};

/*
 * Read one reply.  Returns its code (100..599) or SMTP_REPLY_*.  text gets
 * its lines joined by a space (up to about SMTP_REPLY_TEXT_MAX), lines
 * every line followed by LF (up to about SMTP_REPLY_LINES_KEEP); both are
 * cleaned with smtp_text_clean and replaced, not appended to.
 */
int smtp_reply_read(struct bio *in, struct str *text, struct str *lines);

/* append s[0..n) with every control character but tab (and DEL) as '?' */
void smtp_text_clean(struct str *out, const char *s, size_t n);

/* the service extensions of an EHLO reply that a client acts on */
struct smtp_ehlo {
	int pipelining, eightbitmime, smtputf8, starttls, auth_plain, auth_login, has_size;
	unsigned long long size; /* SIZE's limit; 0: none announced */
};

/* parse the lines (as smtp_reply_read keeps them) of a 2xx reply to EHLO */
void smtp_ehlo_parse(const char *lines, struct smtp_ehlo *e);

#endif
