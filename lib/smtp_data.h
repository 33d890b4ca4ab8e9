/*
 * smtp_data.h - decoding a message body as it arrives by DATA or BDAT.
 *
 * The decoder is fed the bytes from the connection's input buffer in
 * whatever blocks they came in, and appends the message as it goes to the
 * queue: CRLF turned into LF, dot-stuffing undone (DATA only).  It finds
 * the end of DATA (CRLF "." CRLF, nothing else) and refuses what SMTP
 * smuggling relies on: a bare CR or bare LF anywhere is flagged and never
 * ends the data; it only ends at a real CRLF.CRLF.  It also counts size,
 * text-line length and Received: headers while streaming, so nothing needs
 * the whole message in memory.
 *
 * Once any SD_ERR_* flag is set the decoder stops producing output but
 * keeps looking for the end, so the caller can read the rest of the data
 * and refuse it with one reply.
 */
#ifndef SLUICE_SMTP_DATA_H
#define SLUICE_SMTP_DATA_H
#include <stddef.h>

#include "str.h"

enum {
	SD_ERR_BARE = 1,      /* a CR not followed by LF, or an LF not after CR */
	SD_ERR_NUL = 2,       /* a NUL octet (not allowed without BINARYMIME) */
	SD_ERR_LINE = 4,      /* a text line over the limit */
	SD_ERR_SIZE = 8,      /* message over the size limit */
	SD_ERR_RECEIVED = 16, /* too many Received: headers: a mail loop */
};

struct smtp_data {
	int bdat;                  /* 1: BDAT chunks (no dots, no terminator) */
	int state;                 /* internal */
	int in_header;             /* still in the header section */
	int hmatch;                 /* internal: octets of hname; -1: not a name looked for */
	unsigned flags;            /* SD_ERR_* */
	size_t line;               /* octets of the current line so far */
	size_t max_line;           /* text line limit in octets, CRLF included */
	unsigned long long size;   /* message octets produced (LF endings) */
	unsigned long long max_size;
	unsigned long received;    /* Received: headers seen */
	unsigned long max_received;
	char hname[12];            /* internal: the start of the current header name */
	unsigned seen;             /* SD_SEEN_*: header fields present */
	/*
	 * Called once, where the header section ends (before its empty line,
	 * or at the end of a message without one), to append fields of its
	 * own to out; seen tells which fields the message has.  NULL: none.
	 * The added octets count toward no limit.
	 */
	void (*header_end)(void *arg, unsigned seen, struct str *out);
	void *header_end_arg;
};

enum { SD_SEEN_DATE = 1, SD_SEEN_MESSAGE_ID = 2 };

/* Set up for one message (header_end NULL); bdat selects BDAT (RFC 3030) decoding. */
void smtp_data_init(struct smtp_data *d, int bdat, size_t max_line, unsigned long long max_size,
		    unsigned long max_received);
/*
 * Decode in[0..n), appending message octets to out.  Returns the octets
 * consumed: all n, or fewer when the end of DATA was reached, in which case
 * *done is set to 1 and the input after the terminator is left unread.
 */
size_t smtp_data_feed(struct smtp_data *d, const char *in, size_t n, struct str *out, int *done);
/*
 * BDAT LAST: the message ends here.  A CR left pending is a bare CR; a
 * last line without a line ending gets its LF, so the queue file stays
 * made of whole lines.
 */
void smtp_data_finish(struct smtp_data *d, struct str *out);

#endif
